-- Version 24: custom slash commands (Slack-compatible) and their response URLs. The signing
-- secret is sealed by the application as an outgoing webhook's; the token is sent in every
-- request. A response URL is kept as its token's SHA-256 (hex), open for 30 minutes and five
-- follow-ups.
CREATE TABLE slash_commands (
    id             INTEGER PRIMARY KEY,
    trigger        TEXT NOT NULL UNIQUE,
    description    TEXT NOT NULL,
    usage_hint     TEXT NOT NULL,
    url            TEXT NOT NULL,
    creator_id     INTEGER NOT NULL REFERENCES users(id),
    token          TEXT NOT NULL,
    secret_key_id  TEXT NOT NULL,
    secret_sealed  BLOB NOT NULL,
    created_at     INTEGER NOT NULL,
    rotated_at     INTEGER
);
CREATE TABLE command_responses (
    token_hash     TEXT PRIMARY KEY,
    command_id     INTEGER NOT NULL REFERENCES slash_commands(id),
    channel_id     INTEGER NOT NULL REFERENCES channels(id),
    user_id        INTEGER NOT NULL REFERENCES users(id),
    thread_root_id INTEGER,
    expires_at     INTEGER NOT NULL,
    uses           INTEGER NOT NULL
);
CREATE INDEX command_responses_expiry_idx ON command_responses(expires_at);
