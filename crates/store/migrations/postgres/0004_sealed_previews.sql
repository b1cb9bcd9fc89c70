-- A text file's preview is kept sealed under the file's data key, never in plain text (the
-- same change as SQLite schema version 5). Changing the column's type rewrites the table, so
-- no live row version keeps a plain preview; the server seals new ones from the encrypted
-- objects (`enclave_app::Files::seal_missing_previews`).
ALTER TABLE files ALTER COLUMN preview TYPE BYTEA USING NULL;
ALTER TABLE files RENAME COLUMN preview TO preview_sealed;
CREATE INDEX files_preview_missing_idx ON files (content_type, id) WHERE preview_sealed IS NULL;
