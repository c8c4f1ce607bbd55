-- 0004_bans: bans by account name or by address (an IP or a CIDR range).

CREATE TABLE bans (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT    NOT NULL CHECK (kind IN ('account', 'address')),
    value      TEXT    NOT NULL COLLATE NOCASE,
    reason     TEXT    NOT NULL DEFAULT '',
    created_by TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    UNIQUE (kind, value)
) STRICT;
