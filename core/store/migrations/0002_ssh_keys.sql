-- 0002_ssh_keys: public keys that log an account in over SSH.
--
-- public_key is the key in authorized_keys form ("ssh-ed25519 AAAA...");
-- fingerprint is its SHA256 fingerprint ("SHA256:..."), unique: one key
-- logs in to one account only.

CREATE TABLE ssh_keys (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    fingerprint TEXT    NOT NULL UNIQUE,
    public_key  TEXT    NOT NULL,
    comment     TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
) STRICT;

CREATE INDEX ssh_keys_account_id ON ssh_keys (account_id);
