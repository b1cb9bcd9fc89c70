//! Outgoing webhooks on PostgreSQL (`outgoing_webhooks`, `outgoing_deliveries`,
//! `outgoing_cursor`, migration 0022).

use async_trait::async_trait;
use enclave_core::outgoing::{ContentType, Delivery, DeliveryStatus, OutgoingWebhook};
use enclave_core::{ChannelId, MessageId, Millis, UserId};
use sqlx_core::row::Row;
use sqlx_postgres::PgRow;

use super::{PgStore, q};
use crate::{AttemptRecord, NewOutgoingWebhook, OutgoingSecret, OutgoingWebhookStore, Result};

fn words(stored: &str) -> Vec<String> {
    stored
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

fn row(r: &PgRow) -> Result<OutgoingWebhook> {
    let ct: String = r.try_get(6)?;
    Ok(OutgoingWebhook {
        id: r.try_get(0)?,
        channel_id: ChannelId(r.try_get(1)?),
        creator_id: UserId(r.try_get(2)?),
        name: r.try_get(3)?,
        url: r.try_get(4)?,
        trigger_words: words(&r.try_get::<String, _>(5)?),
        content_type: ContentType::parse(&ct).unwrap_or(ContentType::Form),
        created_at: Millis(r.try_get(7)?),
        rotated_at: r.try_get::<Option<i64>, _>(8)?.map(Millis),
    })
}

fn delivery(r: &PgRow) -> Result<Delivery> {
    let status: String = r.try_get(3)?;
    Ok(Delivery {
        id: r.try_get(0)?,
        webhook_id: r.try_get(1)?,
        message_id: MessageId(r.try_get(2)?),
        status: DeliveryStatus::parse(&status).unwrap_or(DeliveryStatus::Failed),
        attempts: u32::try_from(r.try_get::<i64, _>(4)?).unwrap_or(0),
        http_status: r
            .try_get::<Option<i64>, _>(5)?
            .and_then(|s| u16::try_from(s).ok()),
        error: r.try_get(6)?,
        created_at: Millis(r.try_get(7)?),
        updated_at: Millis(r.try_get(8)?),
        next_attempt_at: r.try_get::<Option<i64>, _>(9)?.map(Millis),
    })
}

#[async_trait]
impl OutgoingWebhookStore for PgStore {
    async fn create_outgoing(&self, new: NewOutgoingWebhook) -> Result<OutgoingWebhook> {
        let mut c = self.conn().await?;
        let r = q(
            "INSERT INTO outgoing_webhooks (channel_id, creator_id, name, url, trigger_words,
               content_type, token, secret_key_id, secret_sealed, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             RETURNING id, channel_id, creator_id, name, url, trigger_words, content_type,
               created_at, rotated_at",
        )
        .bind(new.channel_id.0)
        .bind(new.creator_id.0)
        .bind(new.name)
        .bind(new.url)
        .bind(new.trigger_words.join(" "))
        .bind(new.content_type.as_str())
        .bind(new.secret.token)
        .bind(new.secret.key_id)
        .bind(new.secret.sealed)
        .bind(Millis::now().0)
        .fetch_one(&mut *c)
        .await?;
        row(&r)
    }

    async fn outgoing(&self, id: i64) -> Result<Option<OutgoingWebhook>> {
        let mut c = self.conn().await?;
        q(
            "SELECT id, channel_id, creator_id, name, url, trigger_words, content_type, created_at,
             rotated_at FROM outgoing_webhooks WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *c)
        .await?
        .as_ref()
        .map(row)
        .transpose()
    }

    async fn outgoing_secret(&self, id: i64) -> Result<Option<OutgoingSecret>> {
        let mut c = self.conn().await?;
        let r =
            q("SELECT token, secret_key_id, secret_sealed FROM outgoing_webhooks WHERE id = $1")
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

    async fn list_outgoing(
        &self,
        creator_id: Option<UserId>,
        channel_id: Option<ChannelId>,
        limit: u32,
    ) -> Result<Vec<OutgoingWebhook>> {
        let mut c = self.conn().await?;
        let rows = q(
            "SELECT id, channel_id, creator_id, name, url, trigger_words, content_type, created_at,
               rotated_at FROM outgoing_webhooks
             WHERE ($1::bigint IS NULL OR creator_id = $1) AND ($2::bigint IS NULL OR channel_id = $2)
             ORDER BY id LIMIT $3",
        )
        .bind(creator_id.map(|u| u.0))
        .bind(channel_id.map(|c| c.0))
        .bind(i64::from(limit))
        .fetch_all(&mut *c)
        .await?;
        rows.iter().map(row).collect()
    }

    async fn rotate_outgoing(&self, id: i64, secret: OutgoingSecret) -> Result<bool> {
        let mut c = self.conn().await?;
        let done = q(
            "UPDATE outgoing_webhooks SET token = $2, secret_key_id = $3, secret_sealed = $4,
               rotated_at = $5 WHERE id = $1",
        )
        .bind(id)
        .bind(secret.token)
        .bind(secret.key_id)
        .bind(secret.sealed)
        .bind(Millis::now().0)
        .execute(&mut *c)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_outgoing(&self, id: i64) -> Result<bool> {
        let mut tx = self.begin().await?;
        let result = async {
            q("DELETE FROM outgoing_deliveries WHERE webhook_id = $1")
                .bind(id)
                .execute(tx.c())
                .await?;
            let done = q("DELETE FROM outgoing_webhooks WHERE id = $1")
                .bind(id)
                .execute(tx.c())
                .await?;
            Ok(done.rows_affected() == 1)
        }
        .await;
        self.finish(tx, result).await
    }

    async fn outgoing_cursor(&self) -> Result<Option<i64>> {
        let mut c = self.conn().await?;
        let r = q("SELECT position FROM outgoing_cursor WHERE id = 1")
            .fetch_optional(&mut *c)
            .await?;
        match r {
            Some(r) => Ok(Some(r.try_get(0)?)),
            None => Ok(None),
        }
    }

    async fn enqueue_deliveries(&self, position: i64, items: Vec<(i64, MessageId)>) -> Result<u64> {
        let mut tx = self.begin().await?;
        let now = tx.now;
        let result = async {
            let mut added = 0u64;
            for (hook, message) in &items {
                added += q(
                    "INSERT INTO outgoing_deliveries (webhook_id, message_id, status, attempts,
                       created_at, updated_at, next_attempt_at)
                     SELECT $1, $2, 'pending', 0, $3, $3, $3
                     WHERE EXISTS (SELECT 1 FROM outgoing_webhooks WHERE id = $1)
                     ON CONFLICT (webhook_id, message_id) DO NOTHING",
                )
                .bind(*hook)
                .bind(message.0)
                .bind(now.0)
                .execute(tx.c())
                .await?
                .rows_affected();
            }
            q("INSERT INTO outgoing_cursor (id, position) VALUES (1, $1)
                 ON CONFLICT (id) DO UPDATE
                 SET position = GREATEST(outgoing_cursor.position, excluded.position)")
            .bind(position)
            .execute(tx.c())
            .await?;
            Ok(added)
        }
        .await;
        self.finish(tx, result).await
    }

    async fn claim_deliveries(
        &self,
        now: Millis,
        lease_until: Millis,
        limit: u32,
    ) -> Result<Vec<Delivery>> {
        let mut tx = self.begin().await?;
        let result = async {
            let rows = q("UPDATE outgoing_deliveries SET next_attempt_at = $2
                 WHERE id IN (SELECT id FROM outgoing_deliveries
                              WHERE status = 'pending' AND next_attempt_at <= $1
                              ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
                 RETURNING id, webhook_id, message_id, status, attempts, http_status, error,
                   created_at, updated_at, next_attempt_at")
            .bind(now.0)
            .bind(lease_until.0)
            .bind(i64::from(limit))
            .fetch_all(tx.c())
            .await?;
            let mut out = rows.iter().map(delivery).collect::<Result<Vec<_>>>()?;
            out.sort_by_key(|d| d.id);
            Ok(out)
        }
        .await;
        self.finish(tx, result).await
    }

    async fn record_attempt(&self, id: i64, record: AttemptRecord, keep: u32) -> Result<()> {
        let mut tx = self.begin().await?;
        let now = tx.now;
        let result = async {
            let r = q(
                "UPDATE outgoing_deliveries SET status = $2, attempts = $3, http_status = $4,
                   error = $5, next_attempt_at = $6, updated_at = $7
                 WHERE id = $1 RETURNING webhook_id",
            )
            .bind(id)
            .bind(record.status.as_str())
            .bind(i64::from(record.attempts))
            .bind(record.http_status.map(i64::from))
            .bind(record.error)
            .bind(record.next_attempt_at.map(|m| m.0))
            .bind(now.0)
            .fetch_optional(tx.c())
            .await?;
            if let Some(r) = r
                && record.status != DeliveryStatus::Pending
            {
                let webhook: i64 = r.try_get(0)?;
                q("DELETE FROM outgoing_deliveries
                   WHERE webhook_id = $1 AND status <> 'pending' AND id <
                     (SELECT id FROM outgoing_deliveries
                      WHERE webhook_id = $1 AND status <> 'pending'
                      ORDER BY id DESC LIMIT 1 OFFSET $2)")
                .bind(webhook)
                .bind(i64::from(keep) - 1)
                .execute(tx.c())
                .await?;
            }
            Ok(())
        }
        .await;
        self.finish(tx, result).await
    }

    async fn list_deliveries(&self, webhook_id: i64, limit: u32) -> Result<Vec<Delivery>> {
        let mut c = self.conn().await?;
        let rows = q(
            "SELECT id, webhook_id, message_id, status, attempts, http_status, error, created_at,
               updated_at, next_attempt_at FROM outgoing_deliveries
             WHERE webhook_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(webhook_id)
        .bind(i64::from(limit))
        .fetch_all(&mut *c)
        .await?;
        rows.iter().map(delivery).collect()
    }
}
