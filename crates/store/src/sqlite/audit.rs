//! The audit log on SQLite. Appends run on the single writer, which reads the head and inserts
//! the sealed entry in one job, so the chain never forks.

use async_trait::async_trait;
use enclave_core::audit::{AuditEntry, AuditHead, NewAuditEntry};
use enclave_core::{Millis, UserId};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{SqliteStore, Tx};
use crate::{AuditHook, AuditQuery, AuditStore, Error, Result};

const AUDIT_COLS: &str =
    "seq, at, actor_id, ip, user_agent, action, target_kind, target_id, summary, prev_hash, hash";

fn hash32(v: Vec<u8>, col: usize) -> rusqlite::Result<[u8; 32]> {
    <[u8; 32]>::try_from(v.as_slice()).map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            col,
            rusqlite::types::Type::Blob,
            "a hash is 32 bytes".into(),
        )
    })
}

fn entry(r: &Row<'_>) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        seq: r.get(0)?,
        at: Millis(r.get(1)?),
        actor: r.get::<_, Option<i64>>(2)?.map(UserId),
        ip: r.get(3)?,
        user_agent: r.get(4)?,
        action: r.get(5)?,
        target_kind: r.get(6)?,
        target_id: r.get(7)?,
        summary: r.get(8)?,
        prev_hash: hash32(r.get(9)?, 9)?,
        hash: hash32(r.get(10)?, 10)?,
    })
}

pub fn head(c: &Connection) -> Result<Option<AuditHead>> {
    let row: Option<(i64, Vec<u8>)> = c
        .prepare_cached("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match row {
        None => Ok(None),
        Some((seq, hash)) => Ok(Some(AuditHead {
            seq,
            hash: hash32(hash, 1)?,
        })),
    }
}

pub fn append(tx: &mut Tx<'_>, new: NewAuditEntry) -> Result<AuditEntry> {
    let e = AuditEntry::seal(new, head(tx.conn)?, tx.now);
    tx.conn
        .prepare_cached(&format!(
            "INSERT INTO audit_log ({AUDIT_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        ))?
        .execute(params![
            e.seq,
            e.at.0,
            e.actor.map(|u| u.0),
            e.ip,
            e.user_agent,
            e.action,
            e.target_kind,
            e.target_id,
            e.summary,
            e.prev_hash.as_slice(),
            e.hash.as_slice(),
        ])?;
    Ok(e)
}

/// Appends the entries `hook` makes of `value` (what a write did) inside the write's own
/// transaction, and passes `value` on.
pub fn audited<T>(tx: &mut Tx<'_>, value: T, hook: AuditHook<T>) -> Result<T> {
    for e in hook(&value) {
        append(tx, e)?;
    }
    Ok(value)
}

pub fn entries(c: &Connection, q: &AuditQuery) -> Result<Vec<AuditEntry>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {AUDIT_COLS} FROM audit_log
          WHERE (?1 IS NULL OR actor_id = ?1)
            AND (?2 IS NULL OR action = ?2)
            AND (?3 IS NULL OR target_kind = ?3)
            AND (?4 IS NULL OR target_id = ?4)
            AND (?5 IS NULL OR at >= ?5)
            AND (?6 IS NULL OR at < ?6)
            AND (?7 IS NULL OR seq < ?7)
          ORDER BY seq DESC LIMIT ?8"
    ))?;
    let rows = stmt.query_map(
        params![
            q.actor.map(|u| u.0),
            q.action,
            q.target_kind,
            q.target_id,
            q.since.map(|m| m.0),
            q.until.map(|m| m.0),
            q.before_seq,
            q.limit
        ],
        entry,
    )?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn chain(c: &Connection, after: i64, limit: u32) -> Result<Vec<AuditEntry>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {AUDIT_COLS} FROM audit_log WHERE seq > ?1 ORDER BY seq LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![after, limit], entry)?;
    rows.collect::<rusqlite::Result<_>>().map_err(Error::from)
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit(&self, new: NewAuditEntry) -> Result<AuditEntry> {
        self.write(move |tx| append(tx, new)).await
    }
    async fn audit_entries(&self, query: AuditQuery) -> Result<Vec<AuditEntry>> {
        self.read(move |c| entries(c, &query)).await
    }
    async fn audit_chain(&self, after: i64, limit: u32) -> Result<Vec<AuditEntry>> {
        self.read(move |c| chain(c, after, limit)).await
    }
    async fn audit_head(&self) -> Result<Option<AuditHead>> {
        self.read(head).await
    }
}
