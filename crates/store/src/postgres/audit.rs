//! The audit log on PostgreSQL. An append takes the transaction-scoped advisory lock
//! [`AUDIT_LOCK`], then reads the head and inserts the sealed entry in the same transaction: the
//! lock is held until commit, so appends from every node queue one behind the other and each
//! sees the previous one's entry (READ COMMITTED: a fresh snapshot per statement, taken after
//! the lock was granted). The chain never forks, and the server's role needs only INSERT and
//! SELECT on the table.

use async_trait::async_trait;
use enclave_core::audit::{AuditEntry, AuditHead, NewAuditEntry};
use enclave_core::{Millis, UserId};
use sqlx_core::row::Row;
use sqlx_postgres::{PgConnection, PgRow};

use super::rows::{all, one};
use super::{PgStore, Tx, limit, q};
use crate::{AuditHook, AuditQuery, AuditStore, Result};

/// The advisory lock (two-key form, beside [`super::SEQUENCER_LOCK`]) that serialises appends.
pub const AUDIT_LOCK: (i32, i32) = (0x456e_636c, 2); // "Encl", 2

macro_rules! audit_cols {
    () => {
        "seq, at, actor_id, ip, user_agent, action, target_kind, target_id, summary, prev_hash, hash"
    };
}

type R<T> = std::result::Result<T, sqlx_core::Error>;

fn hash32(v: Vec<u8>, col: usize) -> R<[u8; 32]> {
    <[u8; 32]>::try_from(v.as_slice()).map_err(|_| sqlx_core::Error::ColumnDecode {
        index: col.to_string(),
        source: "a hash is 32 bytes".into(),
    })
}

fn entry(r: &PgRow) -> R<AuditEntry> {
    Ok(AuditEntry {
        seq: r.try_get(0)?,
        at: Millis(r.try_get(1)?),
        actor: r.try_get::<Option<i64>, _>(2)?.map(UserId),
        ip: r.try_get(3)?,
        user_agent: r.try_get(4)?,
        action: r.try_get(5)?,
        target_kind: r.try_get(6)?,
        target_id: r.try_get(7)?,
        summary: r.try_get(8)?,
        prev_hash: hash32(r.try_get(9)?, 9)?,
        hash: hash32(r.try_get(10)?, 10)?,
    })
}

fn head_row(r: &PgRow) -> R<AuditHead> {
    Ok(AuditHead {
        seq: r.try_get(0)?,
        hash: hash32(r.try_get(1)?, 1)?,
    })
}

pub async fn head(c: &mut PgConnection) -> Result<Option<AuditHead>> {
    let row = q("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut *c)
        .await?;
    one(row, head_row)
}

async fn append(c: &mut PgConnection, new: NewAuditEntry) -> Result<AuditEntry> {
    q("SELECT pg_advisory_xact_lock($1, $2)")
        .bind(AUDIT_LOCK.0)
        .bind(AUDIT_LOCK.1)
        .execute(&mut *c)
        .await?;
    let e = AuditEntry::seal(new, head(&mut *c).await?, Millis::now());
    q(concat!(
        "INSERT INTO audit_log (",
        audit_cols!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    ))
    .bind(e.seq)
    .bind(e.at.0)
    .bind(e.actor.map(|u| u.0))
    .bind(e.ip.clone())
    .bind(e.user_agent.clone())
    .bind(e.action.clone())
    .bind(e.target_kind.clone())
    .bind(e.target_id.clone())
    .bind(e.summary.clone())
    .bind(e.prev_hash.to_vec())
    .bind(e.hash.to_vec())
    .execute(&mut *c)
    .await?;
    Ok(e)
}

/// Appends the entries `hook` makes of `value` (what a write did) inside the write's own
/// transaction, and passes `value` on. The audit lock is then held until the write commits.
pub async fn audited<T: Send>(tx: &mut Tx, value: T, hook: AuditHook<T>) -> Result<T> {
    for e in hook(&value) {
        append(tx.c(), e).await?;
    }
    Ok(value)
}

#[async_trait]
impl AuditStore for PgStore {
    async fn append_audit(&self, new: NewAuditEntry) -> Result<AuditEntry> {
        let mut tx = self.begin().await?;
        let result = append(tx.c(), new).await;
        self.finish(tx, result).await
    }

    async fn audit_entries(&self, query: AuditQuery) -> Result<Vec<AuditEntry>> {
        let mut c = self.conn().await?;
        let rows = q(concat!(
            "SELECT ",
            audit_cols!(),
            " FROM audit_log
              WHERE ($1::bigint IS NULL OR actor_id = $1)
                AND ($2::text IS NULL OR action = $2)
                AND ($3::text IS NULL OR target_kind = $3)
                AND ($4::text IS NULL OR target_id = $4)
                AND ($5::bigint IS NULL OR at >= $5)
                AND ($6::bigint IS NULL OR at < $6)
                AND ($7::bigint IS NULL OR seq < $7)
              ORDER BY seq DESC LIMIT $8"
        ))
        .bind(query.actor.map(|u| u.0))
        .bind(query.action)
        .bind(query.target_kind)
        .bind(query.target_id)
        .bind(query.since.map(|m| m.0))
        .bind(query.until.map(|m| m.0))
        .bind(query.before_seq)
        .bind(limit(query.limit))
        .fetch_all(&mut *c)
        .await?;
        all(rows, entry)
    }

    async fn audit_chain(&self, after: i64, n: u32) -> Result<Vec<AuditEntry>> {
        let mut c = self.conn().await?;
        let rows = q(concat!(
            "SELECT ",
            audit_cols!(),
            " FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2"
        ))
        .bind(after)
        .bind(limit(n))
        .fetch_all(&mut *c)
        .await?;
        all(rows, entry)
    }

    async fn audit_head(&self) -> Result<Option<AuditHead>> {
        let mut c = self.conn().await?;
        head(&mut c).await
    }
}
