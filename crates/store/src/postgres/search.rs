//! Search on PostgreSQL: the tsvector column kept in step with the messages (a literal built
//! in Rust from `enclave_core::search`), message and channel searches, and the index rebuild.

use async_trait::async_trait;
use enclave_core::{Channel, Message, MessageId, UserId};
use sqlx_core::query::query;
use sqlx_core::row::Row;
use sqlx_postgres::{PgConnection, PgPool, Postgres};

use super::messages::attach_reactions;
use super::rows::{self, N_CHANNEL_COLS, all, channel_cols, message_cols};
use super::{PgStore, Tx, limit, q};
use crate::common::{like_pattern, starts_pattern};
use crate::{MessageSearch, ReindexStep, Result, SEARCH_RANK_WINDOW, SearchStore};

/// Largest position a tsvector holds.
const MAX_TS_POSITION: usize = 16_383;

fn ts_quote(out: &mut String, token: &str) {
    out.push('\'');
    for ch in token.chars() {
        match ch {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
}

/// The tsvector literal of a message text: each index token with its position (1-based).
pub(crate) fn tsvector_literal(text: &str) -> String {
    let mut out = String::new();
    for (i, t) in enclave_core::search::index_tokens(text).iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        ts_quote(&mut out, t);
        out.push(':');
        out.push_str(&(i + 1).min(MAX_TS_POSITION).to_string());
    }
    out
}

/// The tsquery literal for `terms`: each term a `<->` phrase (`:*` on its last token for a
/// prefix), all of them required.
pub(crate) fn tsquery_literal(terms: &[enclave_core::search::Term]) -> String {
    let mut out = String::new();
    for (i, term) in terms.iter().enumerate() {
        if i > 0 {
            out.push_str(" & ");
        }
        out.push('(');
        for (j, t) in term.tokens.iter().enumerate() {
            if j > 0 {
                out.push_str(" <-> ");
            }
            ts_quote(&mut out, t);
            if term.prefix && j + 1 == term.tokens.len() {
                out.push_str(":*");
            }
        }
        out.push(')');
    }
    out
}

/// A bound value of a search statement.
enum Arg {
    I(i64),
    T(String),
}

pub async fn search_messages(c: &mut PgConnection, q_: &MessageSearch) -> Result<Vec<Message>> {
    use sqlx_core::sql_str::AssertSqlSafe;
    let mut args: Vec<Arg> = Vec::new();
    let mut n = 0;
    let mut arg = |args: &mut Vec<Arg>, a: Arg| {
        args.push(a);
        n += 1;
        format!("${n}")
    };
    // The permission filter: members only, in the same query as the match.
    let mut sql = format!(
        "FROM messages m JOIN members mb ON mb.channel_id = m.channel_id AND mb.user_id = {} ",
        arg(&mut args, Arg::I(q_.user_id.0))
    );
    if let Some(key) = &q_.in_channel {
        let p = arg(&mut args, Arg::T(key.clone()));
        sql.push_str(&format!(
            "JOIN channels c ON c.id = m.channel_id AND c.name_key = {p} "
        ));
    }
    sql.push_str("WHERE m.deleted_at IS NULL AND m.notice IS NULL ");
    let tsq = if q_.terms.is_empty() {
        None
    } else {
        let p = arg(&mut args, Arg::T(tsquery_literal(&q_.terms)));
        sql.push_str(&format!("AND m.search_tsv @@ {p}::tsquery "));
        Some(p)
    };
    if let Some(author) = &q_.from {
        // `from:@alice` names the username alone; `from:name` a username or a display name.
        let mut either = Vec::new();
        if let Some(name) = &author.username {
            let p = arg(&mut args, Arg::T(name.clone()));
            either.push(format!("username = {p}"));
        }
        if let Some(name) = &author.display_name {
            let p = arg(&mut args, Arg::T(name.clone()));
            either.push(format!("display_name = {p}"));
        }
        if either.is_empty() {
            either.push("FALSE".to_owned());
        }
        sql.push_str(&format!(
            "AND m.user_id IN (SELECT id FROM users WHERE {}) ",
            either.join(" OR ")
        ));
    }
    if let Some(t) = q_.before {
        let p = arg(&mut args, Arg::I(t.0));
        sql.push_str(&format!("AND m.created_at < {p} "));
    }
    if let Some(t) = q_.after {
        let p = arg(&mut args, Arg::I(t.0));
        sql.push_str(&format!("AND m.created_at >= {p} "));
    }
    if q_.has_file {
        sql.push_str("AND EXISTS (SELECT 1 FROM message_files mf WHERE mf.message_id = m.id) ");
    }
    let lim = arg(&mut args, Arg::I(i64::from(q_.limit)));
    let off = arg(&mut args, Arg::I(i64::from(q_.offset)));
    let sql = match &tsq {
        // Rank the newest matches only (the window is the same on SQLite).
        Some(p) => format!(
            "SELECT {cols} FROM (SELECT m.id {sql} ORDER BY m.id DESC LIMIT {SEARCH_RANK_WINDOW}) AS w
               JOIN messages m ON m.id = w.id
              ORDER BY ts_rank_cd(m.search_tsv, {p}::tsquery) DESC, m.id DESC
              LIMIT {lim} OFFSET {off}",
            cols = message_cols!("m")
        ),
        None => format!(
            "SELECT {cols} {sql} ORDER BY m.created_at DESC, m.id DESC LIMIT {lim} OFFSET {off}",
            cols = message_cols!("m")
        ),
    };
    // Not prepared once and reused: a generic plan cannot tell a rare word from a common one
    // (or a large channel from a small one), so each search is planned with its values.
    let mut query_ = query::<Postgres>(AssertSqlSafe(sql)).persistent(false);
    for a in args {
        query_ = match a {
            Arg::I(v) => query_.bind(v),
            Arg::T(v) => query_.bind(v),
        };
    }
    let rows = query_.fetch_all(&mut *c).await?;
    let mut msgs = all(rows, rows::message)?;
    attach_reactions(c, &mut msgs).await?;
    Ok(msgs)
}

pub async fn search_channels(
    c: &mut PgConnection,
    user_id: UserId,
    text: &str,
    n: u32,
) -> Result<Vec<(Channel, bool)>> {
    let key = enclave_core::validate::channel_name_key(text);
    let contains = like_pattern(&key);
    let starts = starts_pattern(&contains);
    let rows = q(concat!(
        "SELECT ",
        channel_cols!("c"),
        ", mb.user_id IS NOT NULL FROM channels c
           LEFT JOIN members mb ON mb.channel_id = c.id AND mb.user_id = $1
          WHERE c.name_key IS NOT NULL AND c.name_key LIKE $2
            AND (mb.user_id IS NOT NULL OR (c.kind = 'public' AND c.archived_at IS NULL))
          ORDER BY mb.user_id IS NULL, c.name_key NOT LIKE $3, c.name_key, c.id
          LIMIT $4"
    ))
    .bind(user_id.0)
    .bind(contains)
    .bind(starts)
    .bind(limit(n))
    .fetch_all(&mut *c)
    .await?;
    all(rows, |r| {
        Ok((rows::channel(r)?, r.try_get::<bool, _>(N_CHANNEL_COLS)?))
    })
}

/// Writes `search_tsv` for up to `n` messages with ids above `after` (deleted ones get NULL);
/// `lock` takes their rows first, for a rebuild beside live writers.
async fn index_batch(
    c: &mut PgConnection,
    after: MessageId,
    n: u32,
    lock: bool,
) -> Result<ReindexStep> {
    let rows = q(if lock {
        "SELECT id, text, deleted_at IS NOT NULL FROM messages WHERE id > $1 ORDER BY id LIMIT $2
         FOR NO KEY UPDATE"
    } else {
        "SELECT id, text, deleted_at IS NOT NULL FROM messages WHERE id > $1 ORDER BY id LIMIT $2"
    })
    .bind(after.0)
    .bind(limit(n))
    .fetch_all(&mut *c)
    .await?;
    let mut ids = Vec::with_capacity(rows.len());
    let mut tsvs: Vec<Option<String>> = Vec::with_capacity(rows.len());
    let mut indexed = 0;
    for r in &rows {
        ids.push(r.try_get::<i64, _>(0)?);
        if r.try_get::<bool, _>(2)? {
            tsvs.push(None);
        } else {
            tsvs.push(Some(tsvector_literal(&r.try_get::<String, _>(1)?)));
            indexed += 1;
        }
    }
    let Some(&last) = ids.last() else {
        return Ok(ReindexStep {
            last: None,
            indexed: 0,
        });
    };
    q("UPDATE messages m SET search_tsv = v.t::tsvector
         FROM unnest($1::int8[], $2::text[]) AS v(id, t) WHERE m.id = v.id")
    .bind(ids)
    .bind(tsvs)
    .execute(&mut *c)
    .await?;
    Ok(ReindexStep {
        last: Some(MessageId(last)),
        indexed,
    })
}

pub async fn reindex_batch(tx: &mut Tx, after: MessageId, n: u32) -> Result<ReindexStep> {
    index_batch(tx.c(), after, n, true).await
}

/// Indexes every message, in batches, on `c` (inside the caller's transaction, if any), and
/// records that the index is built.
pub async fn index_all(c: &mut PgConnection) -> Result<u64> {
    let mut after = MessageId(0);
    let mut total = 0;
    loop {
        let step = index_batch(&mut *c, after, 2000, false).await?;
        total += step.indexed;
        match step.last {
            Some(last) => after = last,
            None => break,
        }
    }
    q("UPDATE search_state SET built = true WHERE id = 1")
        .execute(&mut *c)
        .await?;
    Ok(total)
}

pub async fn message_stats(c: &mut PgConnection) -> Result<(u64, MessageId)> {
    let row = q("SELECT count(*), coalesce(max(id), 0) FROM messages")
        .fetch_one(&mut *c)
        .await?;
    Ok((
        row.try_get::<i64, _>(0)?.max(0).unsigned_abs(),
        MessageId(row.try_get(1)?),
    ))
}

/// Fills the search index of a database that held messages before it had one (see
/// `migrations/postgres/0002_search.sql`). Several nodes may do it at once; the result is the
/// same.
pub(super) async fn build_search_index(pool: &PgPool) -> Result<()> {
    let built: bool = query::<Postgres>("SELECT built FROM search_state WHERE id = 1")
        .fetch_one(pool)
        .await?
        .try_get(0)?;
    if !built {
        let mut conn = pool.acquire().await?;
        let n = index_all(&mut conn).await?;
        tracing::info!(messages = n, "search index built");
    }
    Ok(())
}

#[async_trait]
impl SearchStore for PgStore {
    async fn search_messages(&self, query: MessageSearch) -> Result<Vec<Message>> {
        let mut s = self.snapshot().await?;
        let result = search_messages(s.c(), &query).await;
        s.end(result).await
    }
    async fn search_channels(
        &self,
        user_id: UserId,
        text: &str,
        limit: u32,
    ) -> Result<Vec<(Channel, bool)>> {
        let mut c = self.conn().await?;
        search_channels(&mut c, user_id, text, limit).await
    }
    async fn reindex_batch(&self, after: MessageId, limit: u32) -> Result<ReindexStep> {
        let mut tx = self.begin().await?;
        let result = reindex_batch(&mut tx, after, limit).await;
        self.finish(tx, result).await
    }
    async fn message_stats(&self) -> Result<(u64, MessageId)> {
        let mut c = self.conn().await?;
        message_stats(&mut c).await
    }
}
