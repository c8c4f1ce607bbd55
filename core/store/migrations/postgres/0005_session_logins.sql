-- 0005_session_logins: who the host logged each live session in as (the
-- PostgreSQL twin of ../0005_session_logins.sql, which says why there are
-- no foreign keys).

CREATE TABLE session_logins (
    sessid     BIGINT PRIMARY KEY CHECK (sessid > 0),
    plugin     TEXT   NOT NULL,
    uid        BIGINT NOT NULL CHECK (uid > 0),
    puid       BIGINT NOT NULL DEFAULT 0 CHECK (puid >= 0),
    updated_at BIGINT NOT NULL
);

CREATE INDEX session_logins_plugin ON session_logins (plugin);
