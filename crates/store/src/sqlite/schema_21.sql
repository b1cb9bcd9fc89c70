-- Version 21: Slack-compatible incoming webhooks (`/hooks/<secret>`), each bound to a channel
-- and posting as the account that made it. Only the secret's SHA-256 (hex) is kept. (Versions
-- 19 and 20 belong to other features of the same release.)
CREATE TABLE incoming_webhooks (
    id          INTEGER PRIMARY KEY,
    channel_id  INTEGER NOT NULL REFERENCES channels(id),
    creator_id  INTEGER NOT NULL REFERENCES users(id),
    name        TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    rotated_at  INTEGER
);
CREATE INDEX incoming_webhooks_channel_idx ON incoming_webhooks(channel_id, id);
