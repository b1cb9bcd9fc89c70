-- Version 3: full-text search.
-- One row per live message, rowid = messages.id, holding enclave_core::search::index_text of its
-- text (tokens already folded and cut into CJK bigrams, separated by spaces; the `ascii`
-- tokenizer splits on them and keeps every non-ASCII character). Contentless: snippets come from
-- messages.text. Written in the transaction that posts, edits or deletes the message; the
-- migration that creates it fills it from the existing messages (sqlite/mod.rs), and
-- `enclave admin reindex` rebuilds it.
CREATE VIRTUAL TABLE messages_fts USING fts5(
    body,
    content = '',
    contentless_delete = 1,
    tokenize = 'ascii',
    detail = full
);
