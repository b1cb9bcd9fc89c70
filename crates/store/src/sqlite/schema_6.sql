-- Version 6: channel names are unique among public channels only. A private channel's name is
-- seen by its members alone, so refusing a name because a private channel holds it would tell a
-- stranger that the channel exists. SQLite cannot drop the column's UNIQUE constraint, so the
-- table is rebuilt (the runner turns foreign keys off around migrations and checks them before
-- committing); columns, their order and the dm_key constraint stay as they were.
CREATE TABLE channels_v6 (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    name        TEXT,
    name_key    TEXT,
    dm_key      TEXT UNIQUE,
    topic       TEXT NOT NULL DEFAULT '',
    purpose     TEXT NOT NULL DEFAULT '',
    creator_id  INTEGER REFERENCES users(id),
    last_seq    INTEGER NOT NULL DEFAULT 0,
    n_members   INTEGER NOT NULL DEFAULT 0,
    archived_at INTEGER,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
INSERT INTO channels_v6 (id, kind, name, name_key, dm_key, topic, purpose, creator_id, last_seq,
                         n_members, archived_at, created_at, updated_at)
    SELECT id, kind, name, name_key, dm_key, topic, purpose, creator_id, last_seq,
           n_members, archived_at, created_at, updated_at
      FROM channels;
DROP TABLE channels;
ALTER TABLE channels_v6 RENAME TO channels;
CREATE UNIQUE INDEX channels_public_name_idx ON channels(name_key) WHERE kind = 'public';
CREATE INDEX channels_name_key_idx ON channels(name_key) WHERE name_key IS NOT NULL;
