//! Custom slash commands, their response URLs and ephemeral texts on SQLite (`slash_commands`,
//! `command_responses`, schema version 24).

use async_trait::async_trait;
use enclave_core::commands::CustomCommand;
use enclave_core::{
    ChannelId, Error as DomainError, EventKind, MessageId, Millis, NewEvent, UserId,
};
use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::{CommandStore, Error, NewCommand, OutgoingSecret, ResponseTarget, Result};

const COLUMNS: &str =
    "id, trigger, description, usage_hint, url, creator_id, created_at, rotated_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CustomCommand> {
    Ok(CustomCommand {
        id: r.get(0)?,
        trigger: r.get(1)?,
        description: r.get(2)?,
        usage_hint: r.get(3)?,
        url: r.get(4)?,
        creator_id: UserId(r.get(5)?),
        created_at: Millis(r.get(6)?),
        rotated_at: r.get::<_, Option<i64>>(7)?.map(Millis),
    })
}

#[async_trait]
impl CommandStore for SqliteStore {
    async fn create_command(&self, new: NewCommand) -> Result<CustomCommand> {
        self.write(move |tx| {
            let n = tx
                .conn
                .prepare_cached(
                    "INSERT INTO slash_commands (trigger, description, usage_hint, url, creator_id,
                       token, secret_key_id, secret_sealed, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (trigger) DO NOTHING",
                )?
                .execute(params![
                    new.trigger,
                    new.description,
                    new.usage_hint,
                    new.url,
                    new.creator_id.0,
                    new.secret.token,
                    new.secret.key_id,
                    new.secret.sealed,
                    tx.now.0
                ])?;
            if n != 1 {
                return Err(Error::Domain(DomainError::Conflict(
                    "a command with this trigger exists",
                )));
            }
            Ok(CustomCommand {
                id: tx.conn.last_insert_rowid(),
                trigger: new.trigger,
                description: new.description,
                usage_hint: new.usage_hint,
                url: new.url,
                creator_id: new.creator_id,
                created_at: tx.now,
                rotated_at: None,
            })
        })
        .await
    }

    async fn command(&self, id: i64) -> Result<Option<CustomCommand>> {
        self.read(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM slash_commands WHERE id = ?1"
            ))?
            .query_row([id], row)
            .optional()?)
        })
        .await
    }

    async fn command_by_trigger(&self, trigger: &str) -> Result<Option<CustomCommand>> {
        let trigger = trigger.to_owned();
        self.read(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM slash_commands WHERE trigger = ?1"
            ))?
            .query_row([trigger], row)
            .optional()?)
        })
        .await
    }

    async fn list_commands(&self, limit: u32) -> Result<Vec<CustomCommand>> {
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM slash_commands ORDER BY trigger LIMIT ?1"
            ))?;
            let rows = st.query_map([limit], row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn command_secret(&self, id: i64) -> Result<Option<OutgoingSecret>> {
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT token, secret_key_id, secret_sealed FROM slash_commands WHERE id = ?1",
            )?
            .query_row([id], |r| {
                Ok(OutgoingSecret {
                    token: r.get(0)?,
                    key_id: r.get(1)?,
                    sealed: r.get(2)?,
                })
            })
            .optional()?)
        })
        .await
    }

    async fn rotate_command(&self, id: i64, secret: OutgoingSecret) -> Result<bool> {
        self.write(move |tx| {
            let n = tx
                .conn
                .prepare_cached(
                    "UPDATE slash_commands SET token = ?2, secret_key_id = ?3, secret_sealed = ?4,
                       rotated_at = ?5 WHERE id = ?1",
                )?
                .execute(params![
                    id,
                    secret.token,
                    secret.key_id,
                    secret.sealed,
                    tx.now.0
                ])?;
            Ok(n == 1)
        })
        .await
    }

    async fn delete_command(&self, id: i64) -> Result<bool> {
        self.write(move |tx| {
            tx.conn
                .prepare_cached("DELETE FROM command_responses WHERE command_id = ?1")?
                .execute([id])?;
            let n = tx
                .conn
                .prepare_cached("DELETE FROM slash_commands WHERE id = ?1")?
                .execute([id])?;
            Ok(n == 1)
        })
        .await
    }

    async fn create_response_url(
        &self,
        token_hash: String,
        target: ResponseTarget,
        expires_at: Millis,
        now: Millis,
    ) -> Result<()> {
        self.write(move |tx| {
            tx.conn
                .prepare_cached("DELETE FROM command_responses WHERE expires_at <= ?1")?
                .execute([now.0])?;
            tx.conn
                .prepare_cached(
                    "INSERT INTO command_responses (token_hash, command_id, channel_id, user_id,
                       thread_root_id, expires_at, uses) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0)",
                )?
                .execute(params![
                    token_hash,
                    target.command_id,
                    target.channel_id.0,
                    target.user_id.0,
                    target.thread_root_id.map(|m| m.0),
                    expires_at.0
                ])?;
            Ok(())
        })
        .await
    }

    async fn take_response_url(
        &self,
        token_hash: &str,
        now: Millis,
    ) -> Result<Option<ResponseTarget>> {
        let token_hash = token_hash.to_owned();
        self.write(move |tx| {
            let found = tx
                .conn
                .prepare_cached(
                    "SELECT command_id, channel_id, user_id, thread_root_id, expires_at, uses
                       FROM command_responses WHERE token_hash = ?1",
                )?
                .query_row([&token_hash], |r| {
                    Ok((
                        ResponseTarget {
                            command_id: r.get(0)?,
                            channel_id: ChannelId(r.get(1)?),
                            user_id: UserId(r.get(2)?),
                            thread_root_id: r.get::<_, Option<i64>>(3)?.map(MessageId),
                        },
                        Millis(r.get(4)?),
                        r.get::<_, i64>(5)?,
                    ))
                })
                .optional()?;
            let Some((target, expires_at, uses)) = found else {
                return Ok(None);
            };
            let uses = u32::try_from(uses).unwrap_or(u32::MAX);
            if !enclave_core::commands::response_url_open(expires_at, uses, now) {
                return Ok(None);
            }
            tx.conn
                .prepare_cached(
                    "UPDATE command_responses SET uses = uses + 1 WHERE token_hash = ?1",
                )?
                .execute([&token_hash])?;
            Ok(Some(target))
        })
        .await
    }

    async fn post_ephemeral(
        &self,
        user_id: UserId,
        channel_id: ChannelId,
        thread_root_id: Option<MessageId>,
        text: String,
    ) -> Result<()> {
        self.write(move |tx| {
            let mut ev = NewEvent::new(EventKind::EphemeralPosted)
                .channel(channel_id)
                .user(user_id)
                .extra(text);
            ev.message_id = thread_root_id;
            tx.event(ev)?;
            Ok(())
        })
        .await
    }
}
