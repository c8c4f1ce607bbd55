-- 0007_sessid_grants: which plugin each block of session ids was granted
-- to. The host accepts a session (on Connect, or listed by a reattached
-- plugin) only with an id from its own plugin's blocks, so that no plugin
-- can take ids ahead of another or claim another's sessions. A plugin's
-- rows are replaced when it is launched afresh (its old sessions died with
-- it). Ids handed out before this table existed are recorded as one block
-- of plugin '' that any plugin may use: plugins still running across the
-- upgrade keep their sessions and may still hand out ids from blocks they
-- hold; no new id is ever granted to ''.

CREATE TABLE sessid_grants (
    plugin TEXT    NOT NULL,
    start  INTEGER NOT NULL CHECK (start > 0),
    count  INTEGER NOT NULL CHECK (count > 0),
    PRIMARY KEY (plugin, start)
) STRICT;

INSERT INTO sessid_grants (plugin, start, count)
    SELECT '', 1, value FROM counters WHERE name = 'sessid' AND value > 0;
