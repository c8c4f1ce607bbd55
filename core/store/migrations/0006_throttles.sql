-- 0006_throttles: the login and account-creation throttles, kept across a
-- host reload or restart so that neither clears them. One row per counter
-- key; hits are the event times (unix ms) as a JSON array; a row whose
-- expires_at (unix ms) has passed counts for nothing and is pruned.

CREATE TABLE throttles (
    key        TEXT    PRIMARY KEY,
    hits       TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX throttles_expires_at ON throttles (expires_at);
