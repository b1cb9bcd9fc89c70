-- Full-text search. `search_tsv` holds the tokens of enclave_core::search::index_tokens with
-- their positions, written as a tsvector literal by the store (no text search configuration or
-- parser is involved, so both backends index the same tokens whatever the database's locale),
-- in the transaction that posts, edits or deletes the message (deleted: NULL).
ALTER TABLE messages ADD COLUMN search_tsv tsvector;
CREATE INDEX messages_search_idx ON messages USING GIN (search_tsv);

-- Whether every message's search_tsv has been written. A database that already held messages
-- when this migration ran is indexed by the first store that opens it (postgres/mod.rs).
CREATE TABLE search_state (
    id    INT PRIMARY KEY CHECK (id = 1),
    built BOOLEAN NOT NULL
);
INSERT INTO search_state (id, built) SELECT 1, NOT EXISTS (SELECT 1 FROM messages);
