-- Enclave schema, version 1 (SQLite).
-- Times are milliseconds since the Unix epoch (UTC). Ids are rowids.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    email         TEXT,
    password_hash TEXT,
    is_admin      INTEGER NOT NULL DEFAULT 0,
    is_bot        INTEGER NOT NULL DEFAULT 0,
    active        INTEGER NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE UNIQUE INDEX users_email_idx ON users(email) WHERE email IS NOT NULL;

CREATE TABLE tokens (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id),
    kind         TEXT NOT NULL,
    token_hash   BLOB NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    expires_at   INTEGER
);
CREATE INDEX tokens_user_idx ON tokens(user_id);

CREATE TABLE channels (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    name        TEXT,
    name_key    TEXT UNIQUE,
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

CREATE TABLE members (
    channel_id    INTEGER NOT NULL REFERENCES channels(id),
    user_id       INTEGER NOT NULL REFERENCES users(id),
    role          TEXT NOT NULL,
    last_read_seq INTEGER NOT NULL DEFAULT 0,
    joined_at     INTEGER NOT NULL,
    PRIMARY KEY (channel_id, user_id)
) WITHOUT ROWID;
CREATE INDEX members_user_idx ON members(user_id, channel_id);

CREATE TABLE messages (
    id               INTEGER PRIMARY KEY,
    channel_id       INTEGER NOT NULL REFERENCES channels(id),
    seq              INTEGER NOT NULL,
    user_id          INTEGER NOT NULL REFERENCES users(id),
    text             TEXT NOT NULL,
    thread_root_id   INTEGER REFERENCES messages(id),
    client_msg_id    TEXT,
    -- 1: @channel, 2: @here
    mention_flags    INTEGER NOT NULL DEFAULT 0,
    -- space-separated user ids
    mention_user_ids TEXT NOT NULL DEFAULT '',
    reply_count      INTEGER NOT NULL DEFAULT 0,
    last_reply_at    INTEGER,
    pinned_at        INTEGER,
    pinned_by        INTEGER,
    created_at       INTEGER NOT NULL,
    edited_at        INTEGER,
    deleted_at       INTEGER
);
CREATE UNIQUE INDEX messages_channel_seq_idx ON messages(channel_id, seq);
CREATE UNIQUE INDEX messages_client_idx ON messages(channel_id, user_id, client_msg_id) WHERE client_msg_id IS NOT NULL;
CREATE INDEX messages_thread_idx ON messages(thread_root_id, seq) WHERE thread_root_id IS NOT NULL;
CREATE INDEX messages_pinned_idx ON messages(channel_id, pinned_at) WHERE pinned_at IS NOT NULL;

CREATE TABLE reactions (
    message_id INTEGER NOT NULL REFERENCES messages(id),
    emoji      TEXT NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (message_id, emoji, user_id)
) WITHOUT ROWID;

CREATE TABLE mentions (
    user_id    INTEGER NOT NULL,
    channel_id INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    PRIMARY KEY (user_id, channel_id, seq)
) WITHOUT ROWID;

CREATE TABLE events (
    position   INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL,
    channel_id INTEGER,
    user_id    INTEGER,
    actor_id   INTEGER,
    message_id INTEGER,
    extra      TEXT,
    created_at INTEGER NOT NULL
);
