-- 0003_channels_bots: channels, their members, and bridge bots.
--
-- Every account is a member of the default channel 'public' (new accounts
-- join it when created). A bot is an account of its own (its sessions are
-- logged in as it) with the protocol that runs it, the channel it bridges
-- and its config dict (JSON), so that it is started again with the host.

CREATE TABLE channels (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    description TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE channel_members (
    channel_id INTEGER NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    PRIMARY KEY (channel_id, account_id)
) STRICT;

CREATE INDEX channel_members_account_id ON channel_members (account_id);

INSERT INTO channels (name, description, created_at)
VALUES ('public', 'Public discussion', CAST(strftime('%s', 'now') AS INTEGER) * 1000);

INSERT INTO channel_members (channel_id, account_id)
SELECT c.id, a.id FROM channels c, accounts a WHERE c.name = 'public';

CREATE TABLE bots (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    protocol    TEXT    NOT NULL,
    channel_id  INTEGER NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    account_id  INTEGER NOT NULL UNIQUE REFERENCES accounts (id) ON DELETE CASCADE,
    config_json TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;
