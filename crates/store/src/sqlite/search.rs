//! Search on SQLite: the FTS5 index kept in step with the messages, message and channel
//! searches, and the index rebuild.

use async_trait::async_trait;
use enclave_core::{Channel, Message, MessageId, UserId};
use rusqlite::{Connection, params};

use super::messages::attach_reactions;
use super::rows::{self, MESSAGE_COLS, prefixed};
use super::{SqliteStore, Tx};
use crate::common::{like_pattern, starts_pattern};
use crate::{MessageSearch, ReindexStep, Result, SEARCH_RANK_WINDOW, SearchStore};

/// Adds a message's text to the search index (see `schema_3.sql`).
pub(crate) fn index_message(c: &Connection, id: MessageId, text: &str) -> Result<()> {
    let body = enclave_core::search::index_text(text);
    if body.is_empty() {
        return Ok(());
    }
    c.prepare_cached("INSERT INTO messages_fts (rowid, body) VALUES (?1, ?2)")?
        .execute(params![id.0, body])?;
    Ok(())
}

pub(crate) fn unindex_message(c: &Connection, id: MessageId) -> Result<()> {
    c.prepare_cached("DELETE FROM messages_fts WHERE rowid = ?1")?
        .execute([id.0])?;
    Ok(())
}

/// Quotes one token for an FTS5 expression.
fn fts_string(tokens: &[String]) -> String {
    let mut s = String::from("\"");
    for (i, t) in tokens.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&t.replace('"', "\"\""));
    }
    s.push('"');
    s
}

/// The FTS5 expression for `terms`: each term a quoted phrase (`*` after it for a prefix),
/// all of them required.
pub(crate) fn fts_expression(terms: &[enclave_core::search::Term]) -> String {
    terms
        .iter()
        .map(|t| {
            let mut p = fts_string(&t.tokens);
            if t.prefix {
                p.push_str(" *");
            }
            p
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

pub fn search_messages(c: &Connection, q: &MessageSearch) -> Result<Vec<Message>> {
    use rusqlite::types::Value;
    let mut args: Vec<Value> = Vec::new();
    let text = !q.terms.is_empty();
    // CROSS JOIN fixes the loop order: the index first, in descending rowid order, so that the
    // window below stops after the newest matches.
    let mut sql = String::from(if text {
        "FROM messages_fts CROSS JOIN messages m ON m.id = messages_fts.rowid "
    } else {
        "FROM messages m "
    });
    // The permission filter: members only, in the same query as the match.
    sql.push_str("CROSS JOIN members mb ON mb.channel_id = m.channel_id AND mb.user_id = ? ");
    args.push(Value::Integer(q.user_id.0));
    if let Some(key) = &q.in_channel {
        sql.push_str("CROSS JOIN channels c ON c.id = m.channel_id AND c.name_key = ? ");
        args.push(Value::Text(key.clone()));
    }
    sql.push_str("WHERE m.deleted_at IS NULL AND m.notice IS NULL ");
    if text {
        sql.push_str("AND messages_fts MATCH ? ");
        args.push(Value::Text(fts_expression(&q.terms)));
    }
    if let Some(author) = &q.from {
        // A NULL side matches nothing: `from:@alice` names the username alone.
        sql.push_str(
            "AND m.user_id IN (SELECT id FROM users WHERE username = ? OR display_name = ?) ",
        );
        let text = |v: &Option<String>| v.clone().map_or(Value::Null, Value::Text);
        args.push(text(&author.username));
        args.push(text(&author.display_name));
    }
    if let Some(t) = q.before {
        sql.push_str("AND m.created_at < ? ");
        args.push(Value::Integer(t.0));
    }
    if let Some(t) = q.after {
        sql.push_str("AND m.created_at >= ? ");
        args.push(Value::Integer(t.0));
    }
    if q.has_file {
        sql.push_str("AND EXISTS (SELECT 1 FROM message_files mf WHERE mf.message_id = m.id) ");
    }
    let sql = if text {
        format!(
            "SELECT {} FROM (SELECT messages_fts.rowid AS id, bm25(messages_fts) AS score {sql}
                              ORDER BY messages_fts.rowid DESC LIMIT {SEARCH_RANK_WINDOW}) AS w
               JOIN messages m ON m.id = w.id
              ORDER BY w.score, w.id DESC LIMIT ? OFFSET ?",
            prefixed(MESSAGE_COLS, "m")
        )
    } else {
        format!(
            "SELECT {} {sql} ORDER BY m.created_at DESC, m.id DESC LIMIT ? OFFSET ?",
            prefixed(MESSAGE_COLS, "m")
        )
    };
    args.push(Value::Integer(i64::from(q.limit)));
    args.push(Value::Integer(i64::from(q.offset)));
    let mut stmt = c.prepare_cached(&sql)?;
    let mut msgs = stmt
        .query_map(rusqlite::params_from_iter(args), rows::message)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    attach_reactions(c, &mut msgs)?;
    Ok(msgs)
}

pub fn search_channels(
    c: &Connection,
    user_id: UserId,
    text: &str,
    limit: u32,
) -> Result<Vec<(Channel, bool)>> {
    let key = enclave_core::validate::channel_name_key(text);
    let contains = like_pattern(&key);
    let starts = starts_pattern(&contains);
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {}, mb.user_id IS NOT NULL FROM channels c
           LEFT JOIN members mb ON mb.channel_id = c.id AND mb.user_id = ?1
          WHERE c.name_key IS NOT NULL AND c.name_key LIKE ?2 ESCAPE '\\'
            AND (mb.user_id IS NOT NULL OR (c.kind = 'public' AND c.archived_at IS NULL))
          ORDER BY mb.user_id IS NULL, c.name_key NOT LIKE ?3 ESCAPE '\\', c.name_key, c.id
          LIMIT ?4",
        prefixed(rows::CHANNEL_COLS, "c")
    ))?;
    let out = stmt
        .query_map(params![user_id.0, contains, starts, limit], |r| {
            Ok((rows::channel(r)?, r.get::<_, bool>(rows::N_CHANNEL_COLS)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(out)
}

pub fn reindex_batch(tx: &mut Tx<'_>, after: MessageId, limit: u32) -> Result<ReindexStep> {
    let c = tx.conn;
    let mut stmt = c.prepare_cached(
        "SELECT id, text, deleted_at IS NOT NULL FROM messages WHERE id > ?1 ORDER BY id LIMIT ?2",
    )?;
    let batch = stmt
        .query_map(params![after.0, limit], |r| {
            Ok((
                MessageId(r.get(0)?),
                r.get::<_, String>(1)?,
                r.get::<_, bool>(2)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let Some(last) = batch.last().map(|b| b.0) else {
        c.prepare_cached("DELETE FROM messages_fts WHERE rowid > ?1")?
            .execute([after.0])?;
        return Ok(ReindexStep {
            last: None,
            indexed: 0,
        });
    };
    c.prepare_cached("DELETE FROM messages_fts WHERE rowid > ?1 AND rowid <= ?2")?
        .execute([after.0, last.0])?;
    let mut indexed = 0;
    for (id, text, deleted) in &batch {
        if !deleted {
            index_message(c, *id, text)?;
            indexed += 1;
        }
    }
    Ok(ReindexStep {
        last: Some(last),
        indexed,
    })
}

/// Indexes every live message; used by the migration that creates the index.
pub(crate) fn index_all(c: &Connection) -> Result<u64> {
    let mut stmt = c.prepare("SELECT id, text FROM messages WHERE deleted_at IS NULL")?;
    let mut rows = stmt.query([])?;
    let mut n = 0;
    while let Some(r) = rows.next()? {
        index_message(c, MessageId(r.get(0)?), &r.get::<_, String>(1)?)?;
        n += 1;
    }
    Ok(n)
}

pub fn message_stats(c: &Connection) -> Result<(u64, MessageId)> {
    Ok(c.query_row(
        "SELECT count(*), coalesce(max(id), 0) FROM messages",
        [],
        |r| {
            Ok((
                r.get::<_, i64>(0)?.max(0).unsigned_abs(),
                MessageId(r.get(1)?),
            ))
        },
    )?)
}

#[async_trait]
impl SearchStore for SqliteStore {
    async fn search_messages(&self, query: MessageSearch) -> Result<Vec<Message>> {
        self.read(move |c| search_messages(c, &query)).await
    }
    async fn search_channels(
        &self,
        user_id: UserId,
        text: &str,
        limit: u32,
    ) -> Result<Vec<(Channel, bool)>> {
        let text = text.to_owned();
        self.read(move |c| search_channels(c, user_id, &text, limit))
            .await
    }
    async fn reindex_batch(&self, after: MessageId, limit: u32) -> Result<ReindexStep> {
        self.write(move |tx| reindex_batch(tx, after, limit)).await
    }
    async fn message_stats(&self) -> Result<(u64, MessageId)> {
        self.read(message_stats).await
    }
}
