//! Retention and legal hold on PostgreSQL (migration 0021): the same operations as
//! `sqlite/retention.rs`. The purge locks the messages it reads (`FOR UPDATE`), so a reply
//! posted to a root at the same moment either waits and then finds the root gone, or is seen.

use async_trait::async_trait;
use enclave_core::retention::{
    self, ChannelPolicy, GlobalPolicy, HoldTarget, LegalHold, MAX_HOLDS,
};
use enclave_core::{
    ChannelId, ChannelKind, Entity, Error as DomainError, MessageId, Millis, UserId,
};
use sqlx_core::row::Row;
use sqlx_postgres::{PgConnection, PgRow};

use super::{PgStore, Tx, q};
use crate::{
    ChannelPurge, ChannelRetention, Error, PurgeBatch, PurgeCursor, PurgePhase, Result,
    RetentionRun, RetentionStore,
};

/// Runs kept in `retention_runs`.
const KEEP_RUNS: i64 = 100;

fn hold_row(r: &PgRow) -> Result<LegalHold> {
    let user: Option<i64> = r.try_get(1)?;
    let channel: Option<i64> = r.try_get(2)?;
    let target = match (user, channel) {
        (Some(u), _) => HoldTarget::User(UserId(u)),
        (None, c) => HoldTarget::Channel(ChannelId(c.unwrap_or_default())),
    };
    Ok(LegalHold {
        id: r.try_get(0)?,
        target,
        starts_at: Millis(r.try_get(3)?),
        ends_at: r.try_get::<Option<i64>, _>(4)?.map(Millis),
        reason: r.try_get(5)?,
        created_by: UserId(r.try_get(6)?),
        created_at: Millis(r.try_get(7)?),
        released_at: r.try_get::<Option<i64>, _>(8)?.map(Millis),
        released_by: r.try_get::<Option<i64>, _>(9)?.map(UserId),
    })
}

/// The holds in force.
pub(super) async fn active_holds(c: &mut PgConnection) -> Result<Vec<LegalHold>> {
    let rs = q(
        "SELECT id, user_id, channel_id, starts_at, ends_at, reason, created_by, created_at,
                       released_at, released_by
                  FROM legal_holds WHERE released_at IS NULL ORDER BY id",
    )
    .fetch_all(&mut *c)
    .await?;
    rs.iter().map(hold_row).collect()
}

/// Keeps the text and files of a message its author is deleting when a hold covers it
/// (`enclave_core::retention::held`); called by the delete before it clears the message.
pub(super) async fn keep_if_held(
    tx: &mut Tx,
    m: &enclave_core::Message,
    actor: UserId,
) -> Result<()> {
    let holds = active_holds(tx.c()).await?;
    if !retention::held(&holds, m.channel_id, m.user_id, m.created_at) {
        return Ok(());
    }
    let now = tx.now;
    q("INSERT INTO held_messages (message_id, text, deleted_at, deleted_by) VALUES ($1, $2, $3, $4)
       ON CONFLICT (message_id) DO UPDATE SET text = excluded.text, deleted_at = excluded.deleted_at,
          deleted_by = excluded.deleted_by")
    .bind(m.id.0)
    .bind(m.text.clone())
    .bind(now.0)
    .bind(actor.0)
    .execute(tx.c())
    .await?;
    q("INSERT INTO held_files (message_id, file_id)
       SELECT message_id, file_id FROM message_files WHERE message_id = $1
       ON CONFLICT DO NOTHING")
    .bind(m.id.0)
    .execute(tx.c())
    .await?;
    Ok(())
}

fn kind_of(s: &str) -> Result<ChannelKind> {
    ChannelKind::parse(s).ok_or_else(|| {
        Error::Backend(std::sync::Arc::new(std::io::Error::other(
            "unknown channel kind",
        )))
    })
}

fn days_col(v: Option<i64>) -> Option<u32> {
    v.and_then(|d| u32::try_from(d).ok())
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn uncount(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

async fn purge(
    tx: &mut Tx,
    channel_id: ChannelId,
    before: Millis,
    phase: PurgePhase,
    after: Option<PurgeCursor>,
    limit: u32,
) -> Result<PurgeBatch> {
    let holds = active_holds(tx.c()).await?;
    let (after_at, after_id) = after.map_or((i64::MIN, i64::MIN), |(t, id)| (t.0, id.0));
    let replies = phase == PurgePhase::Replies;
    let rs = q(
        "SELECT id, user_id, created_at, thread_root_id, deleted_at IS NULL FROM messages
                 WHERE channel_id = $1 AND created_at < $2 AND (created_at, id) > ($3, $4)
                   AND (thread_root_id IS NOT NULL) = $5
                 ORDER BY created_at, id LIMIT $6 FOR UPDATE",
    )
    .bind(channel_id.0)
    .bind(before.0)
    .bind(after_at)
    .bind(after_id)
    .bind(replies)
    .bind(i64::from(limit))
    .fetch_all(tx.c())
    .await?;
    let mut out = PurgeBatch {
        examined: u32::try_from(rs.len()).unwrap_or(u32::MAX),
        ..PurgeBatch::default()
    };
    let mut removed: Vec<i64> = Vec::new();
    let mut file_ids: Vec<i64> = Vec::new();
    for r in &rs {
        let id: i64 = r.try_get(0)?;
        let user = UserId(r.try_get(1)?);
        let created_at = Millis(r.try_get(2)?);
        let root: Option<i64> = r.try_get(3)?;
        let live: bool = r.try_get(4)?;
        out.last = Some((created_at, MessageId(id)));
        if !retention::purgeable(before, &holds, channel_id, user, created_at) {
            out.held += 1;
            continue;
        }
        if root.is_none() {
            let replies: i64 = q("SELECT count(*) FROM messages WHERE thread_root_id = $1")
                .bind(id)
                .fetch_one(tx.c())
                .await?
                .try_get(0)?;
            if !retention::root_removable(uncount(replies)) {
                continue;
            }
        }
        let files = q("SELECT file_id FROM message_files WHERE message_id = $1
                       UNION SELECT file_id FROM held_files WHERE message_id = $1")
        .bind(id)
        .fetch_all(tx.c())
        .await?;
        for f in &files {
            file_ids.push(f.try_get(0)?);
        }
        for sql in [
            "DELETE FROM message_files WHERE message_id = $1",
            "DELETE FROM held_files WHERE message_id = $1",
            "DELETE FROM held_messages WHERE message_id = $1",
            "DELETE FROM reactions WHERE message_id = $1",
            "DELETE FROM mentions WHERE message_id = $1",
            "DELETE FROM messages WHERE id = $1",
        ] {
            q(sql).bind(id).execute(tx.c()).await?;
        }
        if let Some(root) = root {
            q(
                "UPDATE messages SET reply_count = greatest(reply_count - $2, 0),
                      last_reply_at = (SELECT max(created_at) FROM messages
                                        WHERE thread_root_id = $1 AND deleted_at IS NULL)
                WHERE id = $1",
            )
            .bind(root)
            .bind(i64::from(live))
            .execute(tx.c())
            .await?;
        }
        removed.push(id);
        out.messages += 1;
    }
    file_ids.sort_unstable();
    file_ids.dedup();
    if !file_ids.is_empty() {
        let rs = q("DELETE FROM files f WHERE f.id = ANY($1)
                      AND NOT EXISTS (SELECT 1 FROM message_files mf WHERE mf.file_id = f.id)
                      AND NOT EXISTS (SELECT 1 FROM held_files hf WHERE hf.file_id = f.id)
                    RETURNING f.id, f.uploader_id, f.name, f.size, f.content_type, f.width, f.height,
                      f.thumb_width, f.thumb_height, f.thumb_type, f.preview_sealed, f.object,
                      f.thumb_object, f.key_id, f.wrapped_key, f.created_at, f.attached_at")
        .bind(file_ids)
        .fetch_all(tx.c())
        .await?;
        for r in &rs {
            out.files.push(super::files::stored(r)?);
        }
        out.files.sort_by_key(|f| f.meta.id);
    }
    if !removed.is_empty() {
        let last: Option<i64> = q("SELECT max(position) FROM events WHERE message_id = ANY($1)")
            .bind(removed)
            .fetch_one(tx.c())
            .await?
            .try_get(0)?;
        if let Some(p) = last {
            q("DELETE FROM events WHERE position <= $1")
                .bind(p)
                .execute(tx.c())
                .await?;
        }
    }
    Ok(out)
}

async fn run_channels(c: &mut PgConnection, run_id: i64) -> Result<Vec<ChannelPurge>> {
    let rs = q(
        "SELECT r.channel_id, c.name, c.kind, r.messages, r.files, r.held
                  FROM retention_run_channels r LEFT JOIN channels c ON c.id = r.channel_id
                 WHERE r.run_id = $1 ORDER BY r.messages DESC, r.channel_id",
    )
    .bind(run_id)
    .fetch_all(&mut *c)
    .await?;
    rs.iter()
        .map(|r| {
            let kind: Option<String> = r.try_get(2)?;
            Ok(ChannelPurge {
                channel_id: ChannelId(r.try_get(0)?),
                name: r.try_get(1)?,
                kind: kind.as_deref().and_then(ChannelKind::parse),
                messages: uncount(r.try_get(3)?),
                files: uncount(r.try_get(4)?),
                held: uncount(r.try_get(5)?),
            })
        })
        .collect()
}

#[async_trait]
impl RetentionStore for PgStore {
    async fn retention_policy(&self) -> Result<Option<GlobalPolicy>> {
        let mut c = self.conn().await?;
        let r = q("SELECT message_days, dm_days FROM retention_policy WHERE id = 1")
            .fetch_optional(&mut *c)
            .await?;
        r.map(|r| {
            Ok(GlobalPolicy {
                message_days: days_col(r.try_get(0)?),
                dm_days: days_col(r.try_get(1)?),
            })
        })
        .transpose()
    }

    async fn set_retention_policy(&self, policy: GlobalPolicy, by: UserId) -> Result<()> {
        let mut tx = self.begin().await?;
        let now = tx.now;
        let result = q(
            "INSERT INTO retention_policy (id, message_days, dm_days, updated_at, updated_by)
                        VALUES (1, $1, $2, $3, $4)
                        ON CONFLICT (id) DO UPDATE SET message_days = excluded.message_days,
                           dm_days = excluded.dm_days, updated_at = excluded.updated_at,
                           updated_by = excluded.updated_by",
        )
        .bind(policy.message_days.map(i64::from))
        .bind(policy.dm_days.map(i64::from))
        .bind(now.0)
        .bind(by.0)
        .execute(tx.c())
        .await
        .map(|_| ())
        .map_err(Error::from);
        self.finish(tx, result).await
    }

    async fn channel_retentions(&self) -> Result<Vec<ChannelRetention>> {
        let mut c = self.conn().await?;
        let rs = q(
            "SELECT r.channel_id, c.name, c.kind, r.days, r.updated_at, r.updated_by
                      FROM channel_retention r JOIN channels c ON c.id = r.channel_id
                     ORDER BY r.channel_id",
        )
        .fetch_all(&mut *c)
        .await?;
        rs.iter()
            .map(|r| {
                let kind: String = r.try_get(2)?;
                Ok(ChannelRetention {
                    channel_id: ChannelId(r.try_get(0)?),
                    name: r.try_get(1)?,
                    kind: kind_of(&kind)?,
                    policy: ChannelPolicy::from_days(days_col(r.try_get(3)?)),
                    updated_at: Millis(r.try_get(4)?),
                    updated_by: r.try_get::<Option<i64>, _>(5)?.map(UserId),
                })
            })
            .collect()
    }

    async fn set_channel_retention(
        &self,
        channel_id: ChannelId,
        policy: Option<ChannelPolicy>,
        by: UserId,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let result =
            async {
                let ch = super::channels::channel(tx.c(), channel_id)
                    .await?
                    .ok_or(Error::Domain(DomainError::NotFound(Entity::Channel)))?;
                retention::check_override_target(ch.kind)?;
                let now = tx.now;
                match policy {
                    None => {
                        q("DELETE FROM channel_retention WHERE channel_id = $1")
                            .bind(channel_id.0)
                            .execute(tx.c())
                            .await?;
                    }
                    Some(p) => {
                        q("INSERT INTO channel_retention (channel_id, days, updated_at, updated_by)
                       VALUES ($1, $2, $3, $4)
                       ON CONFLICT (channel_id) DO UPDATE SET days = excluded.days,
                          updated_at = excluded.updated_at, updated_by = excluded.updated_by")
                    .bind(channel_id.0)
                    .bind(p.days().map(i64::from))
                    .bind(now.0)
                    .bind(by.0)
                    .execute(tx.c())
                    .await?;
                    }
                }
                Ok(())
            }
            .await;
        self.finish(tx, result).await
    }

    async fn retention_channels(&self) -> Result<Vec<(ChannelId, ChannelKind)>> {
        let mut c = self.conn().await?;
        let rs = q("SELECT id, kind FROM channels ORDER BY id")
            .fetch_all(&mut *c)
            .await?;
        rs.iter()
            .map(|r| {
                let kind: String = r.try_get(1)?;
                Ok((ChannelId(r.try_get(0)?), kind_of(&kind)?))
            })
            .collect()
    }

    async fn purge_messages(
        &self,
        channel_id: ChannelId,
        before: Millis,
        phase: PurgePhase,
        after: Option<PurgeCursor>,
        limit: u32,
    ) -> Result<PurgeBatch> {
        let mut tx = self.begin().await?;
        let result = purge(&mut tx, channel_id, before, phase, after, limit).await;
        self.finish(tx, result).await
    }

    async fn legal_holds(&self) -> Result<Vec<LegalHold>> {
        let mut c = self.conn().await?;
        let rs = q(
            "SELECT id, user_id, channel_id, starts_at, ends_at, reason, created_by, created_at,
                           released_at, released_by
                      FROM legal_holds ORDER BY id DESC LIMIT $1",
        )
        .bind(MAX_HOLDS as i64)
        .fetch_all(&mut *c)
        .await?;
        rs.iter().map(hold_row).collect()
    }

    async fn create_legal_hold(
        &self,
        target: HoldTarget,
        starts_at: Millis,
        ends_at: Option<Millis>,
        reason: String,
        by: UserId,
    ) -> Result<LegalHold> {
        let mut tx = self.begin().await?;
        let result = async {
            let (user, channel) = match target {
                HoldTarget::User(u) => {
                    if super::accounts::user(tx.c(), u).await?.is_none() {
                        return Err(Error::Domain(DomainError::NotFound(Entity::User)));
                    }
                    (Some(u.0), None)
                }
                HoldTarget::Channel(c) => {
                    if super::channels::channel(tx.c(), c).await?.is_none() {
                        return Err(Error::Domain(DomainError::NotFound(Entity::Channel)));
                    }
                    (None, Some(c.0))
                }
            };
            // One hold is created at a time, so the count below holds.
            q("LOCK TABLE legal_holds IN SHARE ROW EXCLUSIVE MODE")
                .execute(tx.c())
                .await?;
            let n: i64 = q("SELECT count(*) FROM legal_holds")
                .fetch_one(tx.c())
                .await?
                .try_get(0)?;
            if n >= MAX_HOLDS as i64 {
                return Err(Error::Domain(DomainError::LimitExceeded(
                    "at most 1000 legal holds",
                )));
            }
            let now = tx.now;
            let id: i64 = q("INSERT INTO legal_holds (user_id, channel_id, starts_at, ends_at, reason, created_by, created_at)
                             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id")
            .bind(user)
            .bind(channel)
            .bind(starts_at.0)
            .bind(ends_at.map(|m| m.0))
            .bind(reason.clone())
            .bind(by.0)
            .bind(now.0)
            .fetch_one(tx.c())
            .await?
            .try_get(0)?;
            Ok(LegalHold {
                id,
                target,
                starts_at,
                ends_at,
                reason,
                created_by: by,
                created_at: now,
                released_at: None,
                released_by: None,
            })
        }
        .await;
        self.finish(tx, result).await
    }

    async fn release_legal_hold(&self, id: i64, by: UserId) -> Result<LegalHold> {
        let mut tx = self.begin().await?;
        let result = async {
            let r = q("SELECT id, user_id, channel_id, starts_at, ends_at, reason, created_by, created_at,
                              released_at, released_by
                         FROM legal_holds WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(tx.c())
            .await?
            .ok_or(Error::Domain(DomainError::NotFound(Entity::LegalHold)))?;
            let hold = hold_row(&r)?;
            if !hold.active() {
                return Err(Error::Domain(DomainError::Conflict(
                    "the hold is released already",
                )));
            }
            let now = tx.now;
            q("UPDATE legal_holds SET released_at = $2, released_by = $3 WHERE id = $1")
                .bind(id)
                .bind(now.0)
                .bind(by.0)
                .execute(tx.c())
                .await?;
            Ok(LegalHold {
                released_at: Some(now),
                released_by: Some(by),
                ..hold
            })
        }
        .await;
        self.finish(tx, result).await
    }

    async fn record_retention_run(&self, run: RetentionRun) -> Result<i64> {
        let mut tx = self.begin().await?;
        let result = async {
            let id: i64 = q("INSERT INTO retention_runs (started_at, finished_at, started_by, messages, files, held)
                             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id")
            .bind(run.started_at.0)
            .bind(run.finished_at.0)
            .bind(run.started_by.map(|u| u.0))
            .bind(count(run.messages))
            .bind(count(run.files))
            .bind(count(run.held))
            .fetch_one(tx.c())
            .await?
            .try_get(0)?;
            for c in &run.channels {
                q("INSERT INTO retention_run_channels (run_id, channel_id, messages, files, held)
                   VALUES ($1, $2, $3, $4, $5)")
                .bind(id)
                .bind(c.channel_id.0)
                .bind(count(c.messages))
                .bind(count(c.files))
                .bind(count(c.held))
                .execute(tx.c())
                .await?;
            }
            q("DELETE FROM retention_run_channels WHERE run_id <= $1")
                .bind(id - KEEP_RUNS)
                .execute(tx.c())
                .await?;
            q("DELETE FROM retention_runs WHERE id <= $1")
                .bind(id - KEEP_RUNS)
                .execute(tx.c())
                .await?;
            Ok(id)
        }
        .await;
        self.finish(tx, result).await
    }

    async fn last_retention_run(&self) -> Result<Option<RetentionRun>> {
        let mut c = self.conn().await?;
        let r = q(
            "SELECT id, started_at, finished_at, started_by, messages, files, held
                     FROM retention_runs ORDER BY id DESC LIMIT 1",
        )
        .fetch_optional(&mut *c)
        .await?;
        let Some(r) = r else { return Ok(None) };
        let id: i64 = r.try_get(0)?;
        Ok(Some(RetentionRun {
            id,
            started_at: Millis(r.try_get(1)?),
            finished_at: Millis(r.try_get(2)?),
            started_by: r.try_get::<Option<i64>, _>(3)?.map(UserId),
            messages: uncount(r.try_get(4)?),
            files: uncount(r.try_get(5)?),
            held: uncount(r.try_get(6)?),
            channels: run_channels(&mut c, id).await?,
        }))
    }

    async fn held_message_text(&self, id: MessageId) -> Result<Option<String>> {
        let mut c = self.conn().await?;
        let r = q("SELECT text FROM held_messages WHERE message_id = $1")
            .bind(id.0)
            .fetch_optional(&mut *c)
            .await?;
        r.map(|r| Ok(r.try_get(0)?)).transpose()
    }
}
