-- 0008_attributes: a game's own persistent data, key -> value on an owner
-- (the PostgreSQL twin of ../0008_attributes.sql).

CREATE TABLE attributes (
    owner_kind TEXT   NOT NULL,
    owner_id   BIGINT NOT NULL,
    key        TEXT   NOT NULL,
    value      TEXT   NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (owner_kind, owner_id, key)
);
