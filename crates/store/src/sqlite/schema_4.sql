-- Version 4: uploaded files and their attachment to messages. (Version 3 is full-text search,
-- from another branch; the runner applies versions in order and allows the gap.)
CREATE TABLE files (
    id           INTEGER PRIMARY KEY,
    uploader_id  INTEGER NOT NULL REFERENCES users(id),
    name         TEXT NOT NULL,
    size         INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    width        INTEGER,
    height       INTEGER,
    thumb_width  INTEGER,
    thumb_height INTEGER,
    thumb_type   TEXT,
    preview      TEXT,
    object       TEXT NOT NULL,
    thumb_object TEXT,
    key_id       TEXT NOT NULL,
    wrapped_key  BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    attached_at  INTEGER
);
CREATE INDEX files_uploader_idx ON files(uploader_id);
CREATE INDEX files_key_idx ON files(key_id, id);
CREATE INDEX files_unattached_idx ON files(created_at) WHERE attached_at IS NULL;

CREATE TABLE message_files (
    message_id INTEGER NOT NULL REFERENCES messages(id),
    file_id    INTEGER NOT NULL REFERENCES files(id),
    PRIMARY KEY (message_id, file_id)
);
CREATE INDEX message_files_file_idx ON message_files(file_id);
