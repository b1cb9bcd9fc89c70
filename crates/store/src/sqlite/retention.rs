//! Retention and legal hold on SQLite (schema version 22): policies, holds, the purge and its
//! runs. What is purgeable is `enclave_core::retention`'s decision, asked here on the rows the
//! purge reads inside its transaction.

use async_trait::async_trait;
use enclave_core::retention::{
    self, ChannelPolicy, GlobalPolicy, HoldTarget, LegalHold, MAX_HOLDS,
};
use enclave_core::{
    ChannelId, ChannelKind, Entity, Error as DomainError, FileId, MessageId, Millis, UserId,
};
use rusqlite::{Connection, OptionalExtension, params};

use super::files::stored_at;
use super::search::unindex_message;
use super::{SqliteStore, Tx};
use crate::{
    ChannelPurge, ChannelRetention, Error, PurgeBatch, PurgeCursor, PurgePhase, Result,
    RetentionRun, RetentionStore, StoredFile,
};

/// Runs kept in `retention_runs`.
const KEEP_RUNS: i64 = 100;

const HOLD_COLS: &str = "id, user_id, channel_id, starts_at, ends_at, reason, created_by, created_at, released_at, released_by";

fn hold_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LegalHold> {
    let user: Option<i64> = r.get(1)?;
    let channel: Option<i64> = r.get(2)?;
    let target = match (user, channel) {
        (Some(u), _) => HoldTarget::User(UserId(u)),
        (None, c) => HoldTarget::Channel(ChannelId(c.unwrap_or_default())),
    };
    Ok(LegalHold {
        id: r.get(0)?,
        target,
        starts_at: Millis(r.get(3)?),
        ends_at: r.get::<_, Option<i64>>(4)?.map(Millis),
        reason: r.get(5)?,
        created_by: UserId(r.get(6)?),
        created_at: Millis(r.get(7)?),
        released_at: r.get::<_, Option<i64>>(8)?.map(Millis),
        released_by: r.get::<_, Option<i64>>(9)?.map(UserId),
    })
}

/// The holds in force.
pub(super) fn active_holds(c: &Connection) -> Result<Vec<LegalHold>> {
    Ok(c.prepare_cached(&format!(
        "SELECT {HOLD_COLS} FROM legal_holds WHERE released_at IS NULL ORDER BY id"
    ))?
    .query_map([], hold_row)?
    .collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Keeps the text and files of a message its author is deleting when a hold covers it
/// (`enclave_core::retention::held`); called by the delete before it clears the message.
pub(super) fn keep_if_held(tx: &Tx<'_>, m: &enclave_core::Message, actor: UserId) -> Result<()> {
    let holds = active_holds(tx.conn)?;
    if !retention::held(&holds, m.channel_id, m.user_id, m.created_at) {
        return Ok(());
    }
    tx.conn
        .prepare_cached(
            "INSERT OR REPLACE INTO held_messages (message_id, text, deleted_at, deleted_by) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![m.id.0, m.text, tx.now.0, actor.0])?;
    tx.conn
        .prepare_cached(
            "INSERT OR IGNORE INTO held_files (message_id, file_id)
             SELECT message_id, file_id FROM message_files WHERE message_id = ?1",
        )?
        .execute([m.id.0])?;
    Ok(())
}

fn kind_of(s: &str) -> rusqlite::Result<ChannelKind> {
    ChannelKind::parse(s).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            "unknown channel kind".into(),
        )
    })
}

fn days_col(v: Option<i64>) -> Option<u32> {
    v.and_then(|d| u32::try_from(d).ok())
}

struct Candidate {
    id: MessageId,
    user: UserId,
    created_at: Millis,
    root: Option<MessageId>,
    live: bool,
}

fn purge(
    tx: &mut Tx<'_>,
    channel_id: ChannelId,
    before: Millis,
    phase: PurgePhase,
    after: Option<PurgeCursor>,
    limit: u32,
) -> Result<PurgeBatch> {
    let holds = active_holds(tx.conn)?;
    let (after_at, after_id) = after.map_or((i64::MIN, i64::MIN), |(t, id)| (t.0, id.0));
    let replies = phase == PurgePhase::Replies;
    let candidates = tx
        .conn
        .prepare_cached(
            "SELECT id, user_id, created_at, thread_root_id, deleted_at IS NULL FROM messages
              WHERE channel_id = ?1 AND created_at < ?2 AND (created_at, id) > (?3, ?4)
                AND (thread_root_id IS NOT NULL) = ?5
              ORDER BY created_at, id LIMIT ?6",
        )?
        .query_map(
            params![channel_id.0, before.0, after_at, after_id, replies, limit],
            |r| {
                Ok(Candidate {
                    id: MessageId(r.get(0)?),
                    user: UserId(r.get(1)?),
                    created_at: Millis(r.get(2)?),
                    root: r.get::<_, Option<i64>>(3)?.map(MessageId),
                    live: r.get(4)?,
                })
            },
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut out = PurgeBatch {
        examined: u32::try_from(candidates.len()).unwrap_or(u32::MAX),
        last: candidates.last().map(|m| (m.created_at, m.id)),
        ..PurgeBatch::default()
    };
    let mut removed: Vec<i64> = Vec::new();
    let mut file_ids: Vec<FileId> = Vec::new();
    for m in &candidates {
        if !retention::purgeable(before, &holds, channel_id, m.user, m.created_at) {
            out.held += 1;
            continue;
        }
        if m.root.is_none() {
            let replies: i64 = tx
                .conn
                .prepare_cached("SELECT count(*) FROM messages WHERE thread_root_id = ?1")?
                .query_row([m.id.0], |r| r.get(0))?;
            if !retention::root_removable(u64::try_from(replies).unwrap_or(u64::MAX)) {
                continue;
            }
        }
        {
            let mut files = tx.conn.prepare_cached(
                "SELECT file_id FROM message_files WHERE message_id = ?1
                 UNION SELECT file_id FROM held_files WHERE message_id = ?1",
            )?;
            let ids = files
                .query_map([m.id.0], |r| Ok(FileId(r.get(0)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            file_ids.extend(ids);
        }
        for sql in [
            "DELETE FROM message_files WHERE message_id = ?1",
            "DELETE FROM held_files WHERE message_id = ?1",
            "DELETE FROM held_messages WHERE message_id = ?1",
            "DELETE FROM reactions WHERE message_id = ?1",
            "DELETE FROM mentions WHERE message_id = ?1",
        ] {
            tx.conn.prepare_cached(sql)?.execute([m.id.0])?;
        }
        unindex_message(tx.conn, m.id)?;
        tx.conn
            .prepare_cached("DELETE FROM messages WHERE id = ?1")?
            .execute([m.id.0])?;
        if let Some(root) = m.root {
            tx.conn
                .prepare_cached(
                    "UPDATE messages SET reply_count = max(reply_count - ?2, 0),
                            last_reply_at = (SELECT max(created_at) FROM messages WHERE thread_root_id = ?1 AND deleted_at IS NULL)
                      WHERE id = ?1",
                )?
                .execute(params![root.0, i64::from(m.live)])?;
        }
        removed.push(m.id.0);
        out.messages += 1;
    }
    file_ids.sort();
    file_ids.dedup();
    for id in file_ids {
        let referenced: bool = tx
            .conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM message_files WHERE file_id = ?1)
                     OR EXISTS (SELECT 1 FROM held_files WHERE file_id = ?1)",
            )?
            .query_row([id.0], |r| r.get(0))?;
        if referenced {
            continue;
        }
        let file: Option<StoredFile> = tx
            .conn
            .prepare_cached(&format!(
                "SELECT {} FROM files WHERE id = ?1",
                super::files::FILE_COLS
            ))?
            .query_row([id.0], |r| stored_at(r, 0))
            .optional()?;
        if let Some(f) = file {
            tx.conn
                .prepare_cached("DELETE FROM files WHERE id = ?1")?
                .execute([id.0])?;
            out.files.push(f);
        }
    }
    if !removed.is_empty() {
        // Ids are integers: the list is safe to inline.
        let list = removed
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let last: Option<i64> = tx.conn.query_row(
            &format!("SELECT max(position) FROM events WHERE message_id IN ({list})"),
            [],
            |r| r.get(0),
        )?;
        if let Some(p) = last {
            tx.conn
                .prepare_cached("DELETE FROM events WHERE position <= ?1")?
                .execute([p])?;
        }
    }
    Ok(out)
}

fn run_channels(c: &Connection, run_id: i64) -> Result<Vec<ChannelPurge>> {
    Ok(c.prepare_cached(
        "SELECT r.channel_id, c.name, c.kind, r.messages, r.files, r.held
               FROM retention_run_channels r LEFT JOIN channels c ON c.id = r.channel_id
              WHERE r.run_id = ?1 ORDER BY r.messages DESC, r.channel_id",
    )?
    .query_map([run_id], |r| {
        let kind: Option<String> = r.get(2)?;
        Ok(ChannelPurge {
            channel_id: ChannelId(r.get(0)?),
            name: r.get(1)?,
            kind: kind.as_deref().and_then(ChannelKind::parse),
            messages: r.get::<_, i64>(3)?.try_into().unwrap_or(0),
            files: r.get::<_, i64>(4)?.try_into().unwrap_or(0),
            held: r.get::<_, i64>(5)?.try_into().unwrap_or(0),
        })
    })?
    .collect::<rusqlite::Result<Vec<_>>>()?)
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[async_trait]
impl RetentionStore for SqliteStore {
    async fn retention_policy(&self) -> Result<Option<GlobalPolicy>> {
        self.read(|c| {
            Ok(
                c.prepare_cached(
                    "SELECT message_days, dm_days FROM retention_policy WHERE id = 1",
                )?
                .query_row([], |r| {
                    Ok(GlobalPolicy {
                        message_days: days_col(r.get(0)?),
                        dm_days: days_col(r.get(1)?),
                    })
                })
                .optional()?,
            )
        })
        .await
    }

    async fn set_retention_policy(&self, policy: GlobalPolicy, by: UserId) -> Result<()> {
        self.write(move |tx| {
            tx.conn
                .prepare_cached(
                    "INSERT INTO retention_policy (id, message_days, dm_days, updated_at, updated_by)
                     VALUES (1, ?1, ?2, ?3, ?4)
                     ON CONFLICT (id) DO UPDATE SET message_days = excluded.message_days,
                        dm_days = excluded.dm_days, updated_at = excluded.updated_at,
                        updated_by = excluded.updated_by",
                )?
                .execute(params![policy.message_days, policy.dm_days, tx.now.0, by.0])?;
            Ok(())
        })
        .await
    }

    async fn channel_retentions(&self) -> Result<Vec<ChannelRetention>> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT r.channel_id, c.name, c.kind, r.days, r.updated_at, r.updated_by
                   FROM channel_retention r JOIN channels c ON c.id = r.channel_id
                  ORDER BY r.channel_id",
            )?
            .query_map([], |r| {
                let kind: String = r.get(2)?;
                Ok(ChannelRetention {
                    channel_id: ChannelId(r.get(0)?),
                    name: r.get(1)?,
                    kind: kind_of(&kind)?,
                    policy: ChannelPolicy::from_days(days_col(r.get(3)?)),
                    updated_at: Millis(r.get(4)?),
                    updated_by: r.get::<_, Option<i64>>(5)?.map(UserId),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn set_channel_retention(
        &self,
        channel_id: ChannelId,
        policy: Option<ChannelPolicy>,
        by: UserId,
    ) -> Result<()> {
        self.write(move |tx| {
            let ch = super::channels::channel(tx.conn, channel_id)?
                .ok_or(Error::Domain(DomainError::NotFound(Entity::Channel)))?;
            retention::check_override_target(ch.kind)?;
            match policy {
                None => {
                    tx.conn
                        .prepare_cached("DELETE FROM channel_retention WHERE channel_id = ?1")?
                        .execute([channel_id.0])?;
                }
                Some(p) => {
                    tx.conn
                        .prepare_cached(
                            "INSERT INTO channel_retention (channel_id, days, updated_at, updated_by)
                             VALUES (?1, ?2, ?3, ?4)
                             ON CONFLICT (channel_id) DO UPDATE SET days = excluded.days,
                                updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                        )?
                        .execute(params![channel_id.0, p.days(), tx.now.0, by.0])?;
                }
            }
            Ok(())
        })
        .await
    }

    async fn retention_channels(&self) -> Result<Vec<(ChannelId, ChannelKind)>> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT id, kind FROM channels ORDER BY id")?
                    .query_map([], |r| {
                        let kind: String = r.get(1)?;
                        Ok((ChannelId(r.get(0)?), kind_of(&kind)?))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?,
            )
        })
        .await
    }

    async fn purge_messages(
        &self,
        channel_id: ChannelId,
        before: Millis,
        phase: PurgePhase,
        after: Option<PurgeCursor>,
        limit: u32,
    ) -> Result<PurgeBatch> {
        self.write(move |tx| purge(tx, channel_id, before, phase, after, limit))
            .await
    }

    async fn legal_holds(&self) -> Result<Vec<LegalHold>> {
        self.read(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {HOLD_COLS} FROM legal_holds ORDER BY id DESC LIMIT ?1"
            ))?
            .query_map([MAX_HOLDS as i64], hold_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn create_legal_hold(
        &self,
        target: HoldTarget,
        starts_at: Millis,
        ends_at: Option<Millis>,
        reason: String,
        by: UserId,
    ) -> Result<LegalHold> {
        self.write(move |tx| {
            let (user, channel) = match target {
                HoldTarget::User(u) => {
                    if super::accounts::user(tx.conn, u)?.is_none() {
                        return Err(Error::Domain(DomainError::NotFound(Entity::User)));
                    }
                    (Some(u.0), None)
                }
                HoldTarget::Channel(c) => {
                    if super::channels::channel(tx.conn, c)?.is_none() {
                        return Err(Error::Domain(DomainError::NotFound(Entity::Channel)));
                    }
                    (None, Some(c.0))
                }
            };
            let n: i64 = tx
                .conn
                .query_row("SELECT count(*) FROM legal_holds", [], |r| r.get(0))?;
            if n >= MAX_HOLDS as i64 {
                return Err(Error::Domain(DomainError::LimitExceeded(
                    "at most 1000 legal holds",
                )));
            }
            tx.conn
                .prepare_cached(
                    "INSERT INTO legal_holds (user_id, channel_id, starts_at, ends_at, reason, created_by, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?
                .execute(params![
                    user,
                    channel,
                    starts_at.0,
                    ends_at.map(|m| m.0),
                    reason,
                    by.0,
                    tx.now.0
                ])?;
            Ok(LegalHold {
                id: tx.conn.last_insert_rowid(),
                target,
                starts_at,
                ends_at,
                reason,
                created_by: by,
                created_at: tx.now,
                released_at: None,
                released_by: None,
            })
        })
        .await
    }

    async fn release_legal_hold(&self, id: i64, by: UserId) -> Result<LegalHold> {
        self.write(move |tx| {
            let hold = tx
                .conn
                .prepare_cached(&format!(
                    "SELECT {HOLD_COLS} FROM legal_holds WHERE id = ?1"
                ))?
                .query_row([id], hold_row)
                .optional()?
                .ok_or(Error::Domain(DomainError::NotFound(Entity::LegalHold)))?;
            if !hold.active() {
                return Err(Error::Domain(DomainError::Conflict(
                    "the hold is released already",
                )));
            }
            tx.conn
                .prepare_cached(
                    "UPDATE legal_holds SET released_at = ?2, released_by = ?3 WHERE id = ?1",
                )?
                .execute(params![id, tx.now.0, by.0])?;
            Ok(LegalHold {
                released_at: Some(tx.now),
                released_by: Some(by),
                ..hold
            })
        })
        .await
    }

    async fn record_retention_run(&self, run: RetentionRun) -> Result<i64> {
        self.write(move |tx| {
            tx.conn
                .prepare_cached(
                    "INSERT INTO retention_runs (started_at, finished_at, started_by, messages, files, held)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![
                    run.started_at.0,
                    run.finished_at.0,
                    run.started_by.map(|u| u.0),
                    count(run.messages),
                    count(run.files),
                    count(run.held)
                ])?;
            let id = tx.conn.last_insert_rowid();
            let mut ins = tx.conn.prepare_cached(
                "INSERT INTO retention_run_channels (run_id, channel_id, messages, files, held)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for c in &run.channels {
                ins.execute(params![
                    id,
                    c.channel_id.0,
                    count(c.messages),
                    count(c.files),
                    count(c.held)
                ])?;
            }
            tx.conn.execute(
                "DELETE FROM retention_run_channels WHERE run_id <= ?1",
                [id - KEEP_RUNS],
            )?;
            tx.conn
                .execute("DELETE FROM retention_runs WHERE id <= ?1", [id - KEEP_RUNS])?;
            Ok(id)
        })
        .await
    }

    async fn last_retention_run(&self) -> Result<Option<RetentionRun>> {
        self.read(|c| {
            let run = c
                .prepare_cached(
                    "SELECT id, started_at, finished_at, started_by, messages, files, held
                       FROM retention_runs ORDER BY id DESC LIMIT 1",
                )?
                .query_row([], |r| {
                    Ok(RetentionRun {
                        id: r.get(0)?,
                        started_at: Millis(r.get(1)?),
                        finished_at: Millis(r.get(2)?),
                        started_by: r.get::<_, Option<i64>>(3)?.map(UserId),
                        messages: r.get::<_, i64>(4)?.try_into().unwrap_or(0),
                        files: r.get::<_, i64>(5)?.try_into().unwrap_or(0),
                        held: r.get::<_, i64>(6)?.try_into().unwrap_or(0),
                        channels: Vec::new(),
                    })
                })
                .optional()?;
            match run {
                None => Ok(None),
                Some(mut run) => {
                    run.channels = run_channels(c, run.id)?;
                    Ok(Some(run))
                }
            }
        })
        .await
    }

    async fn held_message_text(&self, id: MessageId) -> Result<Option<String>> {
        self.read(move |c| {
            Ok(
                c.prepare_cached("SELECT text FROM held_messages WHERE message_id = ?1")?
                    .query_row([id.0], |r| r.get(0))
                    .optional()?,
            )
        })
        .await
    }
}
