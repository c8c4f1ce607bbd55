-- 0001_initial: accounts, their characters, and persisted counters.
--
-- Times are INTEGER Unix milliseconds (UTC). Names are ASCII (the store
-- validates them), so COLLATE NOCASE makes uniqueness and lookup
-- case-insensitive while the original case is kept. AUTOINCREMENT keeps an id
-- from ever being handed out again after its row is deleted, so that nothing
-- that still names an old id can come to mean a new account.

CREATE TABLE accounts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    password     TEXT    NOT NULL,
    is_admin     INTEGER NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1)),
    character_id INTEGER REFERENCES characters (id) ON DELETE SET NULL,
    created_at   INTEGER NOT NULL,
    last_login   INTEGER
) STRICT;

CREATE TABLE characters (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL
) STRICT;

CREATE INDEX accounts_character_id ON accounts (character_id);
CREATE INDEX characters_account_id ON characters (account_id);

-- counters holds high-water marks that must never go backwards while the
-- database lives. 'sessid' is the last session id handed out.
CREATE TABLE counters (
    name  TEXT    PRIMARY KEY,
    value INTEGER NOT NULL CHECK (value >= 0)
) STRICT;

INSERT INTO counters (name, value) VALUES ('sessid', 0);
