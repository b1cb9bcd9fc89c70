-- Version 2: user status for presence, and event pruning support.
ALTER TABLE users ADD COLUMN status_text TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN dnd INTEGER NOT NULL DEFAULT 0;
CREATE INDEX events_created_idx ON events(created_at);
