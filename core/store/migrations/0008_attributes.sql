-- 0008_attributes: a game's own persistent data, key -> value on an owner:
-- an account, a character, or anything else the game names with a kind and
-- an id (a room, the world). Values are JSON, written by the attribute
-- store of core/attrs (the host's only writer of this table). Owners are
-- not foreign keys: a kind is the game's to choose.

CREATE TABLE attributes (
    owner_kind TEXT    NOT NULL,
    owner_id   INTEGER NOT NULL,
    key        TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (owner_kind, owner_id, key)
) STRICT, WITHOUT ROWID;
