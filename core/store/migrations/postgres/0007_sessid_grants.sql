-- 0007_sessid_grants: which plugin each block of session ids was granted
-- to (the PostgreSQL twin of ../0007_sessid_grants.sql).

CREATE TABLE sessid_grants (
    plugin TEXT   NOT NULL,
    start  BIGINT NOT NULL CHECK (start > 0),
    count  BIGINT NOT NULL CHECK (count > 0),
    PRIMARY KEY (plugin, start)
);

INSERT INTO sessid_grants (plugin, start, count)
    SELECT '', 1, value FROM counters WHERE name = 'sessid' AND value > 0;
