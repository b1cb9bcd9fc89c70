//! Incoming webhooks on PostgreSQL (`incoming_webhooks`, migration 0020).

use async_trait::async_trait;
use enclave_core::webhooks::IncomingWebhook;
use enclave_core::{ChannelId, Error as DomainError, Millis, UserId};
use sqlx_core::row::Row;
use sqlx_postgres::PgRow;

use super::{PgStore, q};
use crate::{Error, Result, WebhookStore};

fn row(r: &PgRow) -> Result<IncomingWebhook> {
    Ok(IncomingWebhook {
        id: r.try_get(0)?,
        channel_id: ChannelId(r.try_get(1)?),
        creator_id: UserId(r.try_get(2)?),
        name: r.try_get(3)?,
        created_at: Millis(r.try_get(4)?),
        rotated_at: r.try_get::<Option<i64>, _>(5)?.map(Millis),
    })
}

#[async_trait]
impl WebhookStore for PgStore {
    async fn create_webhook(
        &self,
        channel_id: ChannelId,
        creator_id: UserId,
        name: String,
        secret_hash: String,
    ) -> Result<IncomingWebhook> {
        let mut c = self.conn().await?;
        let r = q(
            "INSERT INTO incoming_webhooks (channel_id, creator_id, name, secret_hash, created_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (secret_hash) DO NOTHING
             RETURNING id, channel_id, creator_id, name, created_at, rotated_at",
        )
        .bind(channel_id.0)
        .bind(creator_id.0)
        .bind(name)
        .bind(secret_hash)
        .bind(Millis::now().0)
        .fetch_optional(&mut *c)
        .await?;
        match r {
            Some(r) => row(&r),
            None => Err(Error::Domain(DomainError::Conflict("the secret is in use"))),
        }
    }

    async fn webhook_by_secret(&self, secret_hash: &str) -> Result<Option<IncomingWebhook>> {
        let mut c = self.conn().await?;
        q(
            "SELECT id, channel_id, creator_id, name, created_at, rotated_at
           FROM incoming_webhooks WHERE secret_hash = $1",
        )
        .bind(secret_hash.to_owned())
        .fetch_optional(&mut *c)
        .await?
        .as_ref()
        .map(row)
        .transpose()
    }

    async fn webhook(&self, id: i64) -> Result<Option<IncomingWebhook>> {
        let mut c = self.conn().await?;
        q(
            "SELECT id, channel_id, creator_id, name, created_at, rotated_at
           FROM incoming_webhooks WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *c)
        .await?
        .as_ref()
        .map(row)
        .transpose()
    }

    async fn list_webhooks(
        &self,
        channel_id: Option<ChannelId>,
        limit: u32,
    ) -> Result<Vec<IncomingWebhook>> {
        let mut c = self.conn().await?;
        let rows = q(
            "SELECT id, channel_id, creator_id, name, created_at, rotated_at
                      FROM incoming_webhooks
                      WHERE $1::bigint IS NULL OR channel_id = $1 ORDER BY id LIMIT $2",
        )
        .bind(channel_id.map(|c| c.0))
        .bind(i64::from(limit))
        .fetch_all(&mut *c)
        .await?;
        rows.iter().map(row).collect()
    }

    async fn rotate_webhook_secret(&self, id: i64, secret_hash: String) -> Result<bool> {
        let mut c = self.conn().await?;
        let done =
            q("UPDATE incoming_webhooks SET secret_hash = $2, rotated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(secret_hash)
                .bind(Millis::now().0)
                .execute(&mut *c)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_webhook(&self, id: i64) -> Result<bool> {
        let mut c = self.conn().await?;
        let done = q("DELETE FROM incoming_webhooks WHERE id = $1")
            .bind(id)
            .execute(&mut *c)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
