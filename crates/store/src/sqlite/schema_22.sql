-- Version 22: retention and legal hold (`enclave_core::retention`, `docs/admin/retention.md`).
-- The global policy (one row; absent: the `[retention]` configuration's default), per-channel
-- overrides, legal holds, what a hold keeps of a message its author deleted, and the purge
-- job's runs with their per-channel counts.
CREATE TABLE retention_policy (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    -- NULL: keep forever.
    message_days INTEGER,
    dm_days      INTEGER,
    updated_at   INTEGER NOT NULL,
    updated_by   INTEGER REFERENCES users(id)
);

CREATE TABLE channel_retention (
    channel_id INTEGER PRIMARY KEY REFERENCES channels(id),
    -- NULL: keep forever.
    days       INTEGER,
    updated_at INTEGER NOT NULL,
    updated_by INTEGER REFERENCES users(id)
);

CREATE TABLE legal_holds (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER REFERENCES users(id),
    channel_id  INTEGER REFERENCES channels(id),
    starts_at   INTEGER NOT NULL,
    ends_at     INTEGER,
    reason      TEXT NOT NULL,
    created_by  INTEGER NOT NULL REFERENCES users(id),
    created_at  INTEGER NOT NULL,
    released_at INTEGER,
    released_by INTEGER REFERENCES users(id),
    CHECK ((user_id IS NULL) <> (channel_id IS NULL))
);

-- A held message its author deleted: the row in `messages` is a tombstone like any deleted
-- message; its text and files are kept here until retention removes the message.
CREATE TABLE held_messages (
    message_id INTEGER PRIMARY KEY REFERENCES messages(id),
    text       TEXT NOT NULL,
    deleted_at INTEGER NOT NULL,
    deleted_by INTEGER NOT NULL REFERENCES users(id)
);

CREATE TABLE held_files (
    message_id INTEGER NOT NULL REFERENCES messages(id),
    file_id    INTEGER NOT NULL REFERENCES files(id),
    PRIMARY KEY (message_id, file_id)
);
CREATE INDEX held_files_file_idx ON held_files(file_id);

CREATE TABLE retention_runs (
    id          INTEGER PRIMARY KEY,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    started_by  INTEGER REFERENCES users(id),
    messages    INTEGER NOT NULL,
    files       INTEGER NOT NULL,
    held        INTEGER NOT NULL
);

CREATE TABLE retention_run_channels (
    run_id     INTEGER NOT NULL REFERENCES retention_runs(id),
    channel_id INTEGER NOT NULL REFERENCES channels(id),
    messages   INTEGER NOT NULL,
    files      INTEGER NOT NULL,
    held       INTEGER NOT NULL,
    PRIMARY KEY (run_id, channel_id)
);

-- The purge reads a channel's messages by creation time, and removes their mentions.
CREATE INDEX messages_created_idx ON messages(channel_id, created_at);
CREATE INDEX mentions_message_idx ON mentions(message_id);
