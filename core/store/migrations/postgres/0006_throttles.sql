-- 0006_throttles: the login and account-creation throttles, kept across a
-- host reload or restart (the PostgreSQL twin of ../0006_throttles.sql).

CREATE TABLE throttles (
    key        TEXT   PRIMARY KEY,
    hits       TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX throttles_expires_at ON throttles (expires_at);
