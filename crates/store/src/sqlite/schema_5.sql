-- Version 5: a text file's preview is kept sealed under the file's data key (`preview_sealed`,
-- see `enclave_files::crypto::seal_preview`), never in plain text. The plain previews of
-- earlier versions are overwritten with zeros (secure_delete also zeroes the freed pages) and
-- dropped; the server seals new ones from the encrypted objects
-- (`enclave_app::Files::seal_missing_previews`). After the upgrade the runner checkpoints and
-- truncates the WAL, so no older page image is left there either.
PRAGMA secure_delete = ON;
UPDATE files SET preview = NULL WHERE preview IS NOT NULL;
ALTER TABLE files DROP COLUMN preview;
ALTER TABLE files ADD COLUMN preview_sealed BLOB;
CREATE INDEX files_preview_missing_idx ON files(content_type, id) WHERE preview_sealed IS NULL;
PRAGMA secure_delete = OFF;
