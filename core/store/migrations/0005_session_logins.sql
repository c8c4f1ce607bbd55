-- 0005_session_logins: who the host logged each live session in as.
--
-- The host is the only authority on who is logged in. It writes a row at
-- every login and puppet change, before the plugin is told, and deletes it
-- when the session ends; after a reload or a restart it accepts a session a
-- plugin reports as logged in only if uid and puid match the row of that
-- session id and plugin. Session ids are never reused, so the session id
-- alone is the key. puid 0 means no character. No foreign keys: a row
-- naming an account or character that is gone simply proves nothing (the
-- account is looked up again at restore), and one bad row must never fail a
-- batch of other sessions' logins.

CREATE TABLE session_logins (
    sessid     INTEGER PRIMARY KEY CHECK (sessid > 0),
    plugin     TEXT    NOT NULL,
    uid        INTEGER NOT NULL CHECK (uid > 0),
    puid       INTEGER NOT NULL DEFAULT 0 CHECK (puid >= 0),
    updated_at INTEGER NOT NULL
) STRICT;

CREATE INDEX session_logins_plugin ON session_logins (plugin);
