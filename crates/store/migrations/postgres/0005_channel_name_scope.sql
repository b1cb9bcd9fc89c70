-- Channel names are unique among public channels only (the same rule as SQLite schema version
-- 6). A private channel's name is seen by its members alone, so refusing a name because a
-- private channel holds it would tell a stranger that the channel exists.
ALTER TABLE channels DROP CONSTRAINT channels_name_key_key;
CREATE UNIQUE INDEX channels_public_name_idx ON channels (name_key) WHERE kind = 'public';
CREATE INDEX channels_name_key_idx ON channels (name_key) WHERE name_key IS NOT NULL;
