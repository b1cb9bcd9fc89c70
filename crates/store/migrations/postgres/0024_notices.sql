-- Notices (`enclave_core::notices`): a message about the conversation itself (joined, left,
-- added, removed, topic, purpose, renamed); NULL for what people wrote (SQLite schema 25).
ALTER TABLE messages ADD COLUMN notice TEXT;
