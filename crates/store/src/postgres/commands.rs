//! Custom slash commands, their response URLs and ephemeral texts on PostgreSQL
//! (`slash_commands`, `command_responses`, migration 0023).

use async_trait::async_trait;
use enclave_core::commands::CustomCommand;
use enclave_core::{
    ChannelId, Error as DomainError, EventKind, MessageId, Millis, NewEvent, UserId,
};
use sqlx_core::row::Row;
use sqlx_postgres::PgRow;

use super::{PgStore, limit, q};
use crate::{CommandStore, Error, NewCommand, OutgoingSecret, ResponseTarget, Result};

fn row(r: &PgRow) -> Result<CustomCommand> {
    Ok(CustomCommand {
        id: r.try_get(0)?,
        trigger: r.try_get(1)?,
        description: r.try_get(2)?,
        usage_hint: r.try_get(3)?,
        url: r.try_get(4)?,
        creator_id: UserId(r.try_get(5)?),
        created_at: Millis(r.try_get(6)?),
        rotated_at: r.try_get::<Option<i64>, _>(7)?.map(Millis),
    })
}

#[async_trait]
impl CommandStore for PgStore {
    async fn create_command(&self, new: NewCommand) -> Result<CustomCommand> {
        let mut c = self.conn().await?;
        let r = q(
            "INSERT INTO slash_commands (trigger, description, usage_hint, url, creator_id, token,
               secret_key_id, secret_sealed, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (trigger) DO NOTHING
             RETURNING id, trigger, description, usage_hint, url, creator_id, created_at, rotated_at",
        )
        .bind(new.trigger)
        .bind(new.description)
        .bind(new.usage_hint)
        .bind(new.url)
        .bind(new.creator_id.0)
        .bind(new.secret.token)
        .bind(new.secret.key_id)
        .bind(new.secret.sealed)
        .bind(Millis::now().0)
        .fetch_optional(&mut *c)
        .await?;
        match r {
            Some(r) => row(&r),
            None => Err(Error::Domain(DomainError::Conflict(
                "a command with this trigger exists",
            ))),
        }
    }

    async fn command(&self, id: i64) -> Result<Option<CustomCommand>> {
        let mut c = self.conn().await?;
        q(
            "SELECT id, trigger, description, usage_hint, url, creator_id, created_at, rotated_at
             FROM slash_commands WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *c)
        .await?
        .as_ref()
        .map(row)
        .transpose()
    }

    async fn command_by_trigger(&self, trigger: &str) -> Result<Option<CustomCommand>> {
        let mut c = self.conn().await?;
        q(
            "SELECT id, trigger, description, usage_hint, url, creator_id, created_at, rotated_at
             FROM slash_commands WHERE trigger = $1",
        )
        .bind(trigger.to_owned())
        .fetch_optional(&mut *c)
        .await?
        .as_ref()
        .map(row)
        .transpose()
    }

    async fn list_commands(&self, max: u32) -> Result<Vec<CustomCommand>> {
        let mut c = self.conn().await?;
        q(
            "SELECT id, trigger, description, usage_hint, url, creator_id, created_at, rotated_at
             FROM slash_commands ORDER BY trigger LIMIT $1",
        )
        .bind(limit(max))
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(row)
        .collect()
    }

    async fn command_secret(&self, id: i64) -> Result<Option<OutgoingSecret>> {
        let mut c = self.conn().await?;
        let r = q("SELECT token, secret_key_id, secret_sealed FROM slash_commands WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *c)
            .await?;
        match r {
            Some(r) => Ok(Some(OutgoingSecret {
                token: r.try_get(0)?,
                key_id: r.try_get(1)?,
                sealed: r.try_get(2)?,
            })),
            None => Ok(None),
        }
    }

    async fn rotate_command(&self, id: i64, secret: OutgoingSecret) -> Result<bool> {
        let mut c = self.conn().await?;
        let n = q(
            "UPDATE slash_commands SET token = $2, secret_key_id = $3, secret_sealed = $4,
               rotated_at = $5 WHERE id = $1",
        )
        .bind(id)
        .bind(secret.token)
        .bind(secret.key_id)
        .bind(secret.sealed)
        .bind(Millis::now().0)
        .execute(&mut *c)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    async fn delete_command(&self, id: i64) -> Result<bool> {
        let mut tx = self.begin().await?;
        let result: Result<bool> = async {
            q("DELETE FROM command_responses WHERE command_id = $1")
                .bind(id)
                .execute(tx.c())
                .await?;
            let n = q("DELETE FROM slash_commands WHERE id = $1")
                .bind(id)
                .execute(tx.c())
                .await?
                .rows_affected();
            Ok(n == 1)
        }
        .await;
        self.finish(tx, result).await
    }

    async fn create_response_url(
        &self,
        token_hash: String,
        target: ResponseTarget,
        expires_at: Millis,
        now: Millis,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let result: Result<()> = async {
            q("DELETE FROM command_responses WHERE expires_at <= $1")
                .bind(now.0)
                .execute(tx.c())
                .await?;
            q(
                "INSERT INTO command_responses (token_hash, command_id, channel_id, user_id,
                 thread_root_id, expires_at, uses) VALUES ($1, $2, $3, $4, $5, $6, 0)",
            )
            .bind(token_hash)
            .bind(target.command_id)
            .bind(target.channel_id.0)
            .bind(target.user_id.0)
            .bind(target.thread_root_id.map(|m| m.0))
            .bind(expires_at.0)
            .execute(tx.c())
            .await?;
            Ok(())
        }
        .await;
        self.finish(tx, result).await
    }

    async fn take_response_url(
        &self,
        token_hash: &str,
        now: Millis,
    ) -> Result<Option<ResponseTarget>> {
        let mut tx = self.begin().await?;
        let token_hash = token_hash.to_owned();
        let result: Result<Option<ResponseTarget>> = async {
            let r = q(
                "SELECT command_id, channel_id, user_id, thread_root_id, expires_at, uses
                         FROM command_responses WHERE token_hash = $1 FOR UPDATE",
            )
            .bind(&token_hash)
            .fetch_optional(tx.c())
            .await?;
            let Some(r) = r else {
                return Ok(None);
            };
            let target = ResponseTarget {
                command_id: r.try_get(0)?,
                channel_id: ChannelId(r.try_get(1)?),
                user_id: UserId(r.try_get(2)?),
                thread_root_id: r.try_get::<Option<i64>, _>(3)?.map(MessageId),
            };
            let expires_at = Millis(r.try_get(4)?);
            let uses = u32::try_from(r.try_get::<i64, _>(5)?).unwrap_or(u32::MAX);
            if !enclave_core::commands::response_url_open(expires_at, uses, now) {
                return Ok(None);
            }
            q("UPDATE command_responses SET uses = uses + 1 WHERE token_hash = $1")
                .bind(&token_hash)
                .execute(tx.c())
                .await?;
            Ok(Some(target))
        }
        .await;
        self.finish(tx, result).await
    }

    async fn post_ephemeral(
        &self,
        user_id: UserId,
        channel_id: ChannelId,
        thread_root_id: Option<MessageId>,
        text: String,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let mut ev = NewEvent::new(EventKind::EphemeralPosted)
            .channel(channel_id)
            .user(user_id)
            .extra(text);
        ev.message_id = thread_root_id;
        tx.event(ev);
        self.finish(tx, Ok(())).await
    }
}
