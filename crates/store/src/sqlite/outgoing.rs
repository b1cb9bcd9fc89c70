//! Outgoing webhooks on SQLite (`outgoing_webhooks`, `outgoing_deliveries`, `outgoing_cursor`,
//! schema version 23).

use async_trait::async_trait;
use enclave_core::outgoing::{ContentType, Delivery, DeliveryStatus, OutgoingWebhook};
use enclave_core::{ChannelId, MessageId, Millis, UserId};
use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::{AttemptRecord, NewOutgoingWebhook, OutgoingSecret, OutgoingWebhookStore, Result};

const COLUMNS: &str =
    "id, channel_id, creator_id, name, url, trigger_words, content_type, created_at, rotated_at";
const DELIVERY_COLUMNS: &str = "id, webhook_id, message_id, status, attempts, http_status, error, created_at, updated_at, next_attempt_at";

fn words(stored: &str) -> Vec<String> {
    stored
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutgoingWebhook> {
    let ct: String = r.get(6)?;
    Ok(OutgoingWebhook {
        id: r.get(0)?,
        channel_id: ChannelId(r.get(1)?),
        creator_id: UserId(r.get(2)?),
        name: r.get(3)?,
        url: r.get(4)?,
        trigger_words: words(&r.get::<_, String>(5)?),
        content_type: ContentType::parse(&ct).unwrap_or(ContentType::Form),
        created_at: Millis(r.get(7)?),
        rotated_at: r.get::<_, Option<i64>>(8)?.map(Millis),
    })
}

fn delivery(r: &rusqlite::Row<'_>) -> rusqlite::Result<Delivery> {
    let status: String = r.get(3)?;
    Ok(Delivery {
        id: r.get(0)?,
        webhook_id: r.get(1)?,
        message_id: MessageId(r.get(2)?),
        status: DeliveryStatus::parse(&status).unwrap_or(DeliveryStatus::Failed),
        attempts: u32::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
        http_status: r
            .get::<_, Option<i64>>(5)?
            .and_then(|s| u16::try_from(s).ok()),
        error: r.get(6)?,
        created_at: Millis(r.get(7)?),
        updated_at: Millis(r.get(8)?),
        next_attempt_at: r.get::<_, Option<i64>>(9)?.map(Millis),
    })
}

#[async_trait]
impl OutgoingWebhookStore for SqliteStore {
    async fn create_outgoing(&self, new: NewOutgoingWebhook) -> Result<OutgoingWebhook> {
        self.write(move |tx| {
            tx.conn
                .prepare_cached(
                    "INSERT INTO outgoing_webhooks (channel_id, creator_id, name, url, trigger_words,
                       content_type, token, secret_key_id, secret_sealed, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )?
                .execute(params![
                    new.channel_id.0,
                    new.creator_id.0,
                    new.name,
                    new.url,
                    new.trigger_words.join(" "),
                    new.content_type.as_str(),
                    new.secret.token,
                    new.secret.key_id,
                    new.secret.sealed,
                    tx.now.0
                ])?;
            Ok(OutgoingWebhook {
                id: tx.conn.last_insert_rowid(),
                channel_id: new.channel_id,
                creator_id: new.creator_id,
                name: new.name,
                url: new.url,
                trigger_words: new.trigger_words,
                content_type: new.content_type,
                created_at: tx.now,
                rotated_at: None,
            })
        })
        .await
    }

    async fn outgoing(&self, id: i64) -> Result<Option<OutgoingWebhook>> {
        self.read(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM outgoing_webhooks WHERE id = ?1"
            ))?
            .query_row([id], row)
            .optional()?)
        })
        .await
    }

    async fn outgoing_secret(&self, id: i64) -> Result<Option<OutgoingSecret>> {
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT token, secret_key_id, secret_sealed FROM outgoing_webhooks WHERE id = ?1",
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

    async fn list_outgoing(
        &self,
        creator_id: Option<UserId>,
        channel_id: Option<ChannelId>,
        limit: u32,
    ) -> Result<Vec<OutgoingWebhook>> {
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM outgoing_webhooks
                 WHERE (?1 IS NULL OR creator_id = ?1) AND (?2 IS NULL OR channel_id = ?2)
                 ORDER BY id LIMIT ?3"
            ))?;
            let rows = st.query_map(
                params![creator_id.map(|u| u.0), channel_id.map(|c| c.0), limit],
                row,
            )?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn rotate_outgoing(&self, id: i64, secret: OutgoingSecret) -> Result<bool> {
        self.write(move |tx| {
            let n = tx
                .conn
                .prepare_cached(
                    "UPDATE outgoing_webhooks SET token = ?2, secret_key_id = ?3, secret_sealed = ?4,
                       rotated_at = ?5 WHERE id = ?1",
                )?
                .execute(params![id, secret.token, secret.key_id, secret.sealed, tx.now.0])?;
            Ok(n == 1)
        })
        .await
    }

    async fn delete_outgoing(&self, id: i64) -> Result<bool> {
        self.write(move |tx| {
            tx.conn
                .prepare_cached("DELETE FROM outgoing_deliveries WHERE webhook_id = ?1")?
                .execute([id])?;
            let n = tx
                .conn
                .prepare_cached("DELETE FROM outgoing_webhooks WHERE id = ?1")?
                .execute([id])?;
            Ok(n == 1)
        })
        .await
    }

    async fn outgoing_cursor(&self) -> Result<Option<i64>> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT position FROM outgoing_cursor WHERE id = 1")?
                    .query_row([], |r| r.get(0))
                    .optional()?,
            )
        })
        .await
    }

    async fn enqueue_deliveries(&self, position: i64, items: Vec<(i64, MessageId)>) -> Result<u64> {
        self.write(move |tx| {
            let mut added = 0u64;
            for (hook, message) in &items {
                added += tx
                    .conn
                    .prepare_cached(
                        "INSERT INTO outgoing_deliveries (webhook_id, message_id, status, attempts,
                           created_at, updated_at, next_attempt_at)
                         SELECT ?1, ?2, 'pending', 0, ?3, ?3, ?3
                         WHERE EXISTS (SELECT 1 FROM outgoing_webhooks WHERE id = ?1)
                         ON CONFLICT (webhook_id, message_id) DO NOTHING",
                    )?
                    .execute(params![hook, message.0, tx.now.0])? as u64;
            }
            tx.conn
                .prepare_cached(
                    "INSERT INTO outgoing_cursor (id, position) VALUES (1, ?1)
                     ON CONFLICT (id) DO UPDATE SET position = max(position, excluded.position)",
                )?
                .execute([position])?;
            Ok(added)
        })
        .await
    }

    async fn claim_deliveries(
        &self,
        now: Millis,
        lease_until: Millis,
        limit: u32,
    ) -> Result<Vec<Delivery>> {
        self.write(move |tx| {
            let mut st = tx.conn.prepare_cached(&format!(
                "UPDATE outgoing_deliveries SET next_attempt_at = ?2
                 WHERE id IN (SELECT id FROM outgoing_deliveries
                              WHERE status = 'pending' AND next_attempt_at <= ?1
                              ORDER BY next_attempt_at, id LIMIT ?3)
                 RETURNING {DELIVERY_COLUMNS}"
            ))?;
            let rows = st.query_map(params![now.0, lease_until.0, limit], delivery)?;
            let mut out = rows.collect::<rusqlite::Result<Vec<_>>>()?;
            out.sort_by_key(|d| d.id);
            Ok(out)
        })
        .await
    }

    async fn record_attempt(&self, id: i64, record: AttemptRecord, keep: u32) -> Result<()> {
        self.write(move |tx| {
            let webhook: Option<i64> = tx
                .conn
                .prepare_cached(
                    "UPDATE outgoing_deliveries SET status = ?2, attempts = ?3, http_status = ?4,
                       error = ?5, next_attempt_at = ?6, updated_at = ?7
                     WHERE id = ?1 RETURNING webhook_id",
                )?
                .query_row(
                    params![
                        id,
                        record.status.as_str(),
                        i64::from(record.attempts),
                        record.http_status.map(i64::from),
                        record.error,
                        record.next_attempt_at.map(|m| m.0),
                        tx.now.0
                    ],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(webhook) = webhook
                && record.status != DeliveryStatus::Pending
            {
                tx.conn
                    .prepare_cached(
                        "DELETE FROM outgoing_deliveries
                         WHERE webhook_id = ?1 AND status <> 'pending' AND id <
                           (SELECT id FROM outgoing_deliveries
                            WHERE webhook_id = ?1 AND status <> 'pending'
                            ORDER BY id DESC LIMIT 1 OFFSET ?2)",
                    )?
                    .execute(params![webhook, i64::from(keep) - 1])?;
            }
            Ok(())
        })
        .await
    }

    async fn list_deliveries(&self, webhook_id: i64, limit: u32) -> Result<Vec<Delivery>> {
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {DELIVERY_COLUMNS} FROM outgoing_deliveries
                 WHERE webhook_id = ?1 ORDER BY id DESC LIMIT ?2"
            ))?;
            let rows = st.query_map(params![webhook_id, limit], delivery)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }
}
