-- Version 23: outgoing webhooks (Slack-compatible), their delivery log and the event position
-- up to which messages were looked at. The signing secret is sealed by the application (the
-- file master key's derived key, whose id is beside it); the token is sent in every request.
-- Trigger words are separated by single spaces (a word holds none); empty: every message.
CREATE TABLE outgoing_webhooks (
    id             INTEGER PRIMARY KEY,
    channel_id     INTEGER NOT NULL REFERENCES channels(id),
    creator_id     INTEGER NOT NULL REFERENCES users(id),
    name           TEXT NOT NULL,
    url            TEXT NOT NULL,
    trigger_words  TEXT NOT NULL,
    content_type   TEXT NOT NULL,
    token          TEXT NOT NULL,
    secret_key_id  TEXT NOT NULL,
    secret_sealed  BLOB NOT NULL,
    created_at     INTEGER NOT NULL,
    rotated_at     INTEGER
);
CREATE INDEX outgoing_webhooks_channel_idx ON outgoing_webhooks(channel_id, id);
CREATE INDEX outgoing_webhooks_creator_idx ON outgoing_webhooks(creator_id, id);
-- One row per (webhook, message): pending ones are the queue, finished ones the log (the newest
-- 100 per webhook are kept). No foreign key on the message: retention may delete it.
CREATE TABLE outgoing_deliveries (
    id              INTEGER PRIMARY KEY,
    webhook_id      INTEGER NOT NULL REFERENCES outgoing_webhooks(id),
    message_id      INTEGER NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    http_status     INTEGER,
    error           TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    next_attempt_at INTEGER,
    UNIQUE (webhook_id, message_id)
);
CREATE INDEX outgoing_deliveries_due_idx ON outgoing_deliveries(status, next_attempt_at);
CREATE TABLE outgoing_cursor (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    position INTEGER NOT NULL
);
