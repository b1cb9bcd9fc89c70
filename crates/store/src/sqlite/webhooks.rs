//! Incoming webhooks on SQLite (`incoming_webhooks`, schema version 21).

use async_trait::async_trait;
use enclave_core::webhooks::IncomingWebhook;
use enclave_core::{ChannelId, Error as DomainError, Millis, UserId};
use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::{Error, Result, WebhookStore};

const COLUMNS: &str = "id, channel_id, creator_id, name, created_at, rotated_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<IncomingWebhook> {
    Ok(IncomingWebhook {
        id: r.get(0)?,
        channel_id: ChannelId(r.get(1)?),
        creator_id: UserId(r.get(2)?),
        name: r.get(3)?,
        created_at: Millis(r.get(4)?),
        rotated_at: r.get::<_, Option<i64>>(5)?.map(Millis),
    })
}

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn create_webhook(
        &self,
        channel_id: ChannelId,
        creator_id: UserId,
        name: String,
        secret_hash: String,
    ) -> Result<IncomingWebhook> {
        self.write(move |tx| {
            let n = tx
                .conn
                .prepare_cached(
                    "INSERT INTO incoming_webhooks (channel_id, creator_id, name, secret_hash, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (secret_hash) DO NOTHING",
                )?
                .execute(params![channel_id.0, creator_id.0, name, secret_hash, tx.now.0])?;
            if n != 1 {
                return Err(Error::Domain(DomainError::Conflict("the secret is in use")));
            }
            Ok(IncomingWebhook {
                id: tx.conn.last_insert_rowid(),
                channel_id,
                creator_id,
                name,
                created_at: tx.now,
                rotated_at: None,
            })
        })
        .await
    }

    async fn webhook_by_secret(&self, secret_hash: &str) -> Result<Option<IncomingWebhook>> {
        let secret_hash = secret_hash.to_owned();
        self.read(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM incoming_webhooks WHERE secret_hash = ?1"
            ))?
            .query_row([secret_hash], row)
            .optional()?)
        })
        .await
    }

    async fn webhook(&self, id: i64) -> Result<Option<IncomingWebhook>> {
        self.read(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM incoming_webhooks WHERE id = ?1"
            ))?
            .query_row([id], row)
            .optional()?)
        })
        .await
    }

    async fn list_webhooks(
        &self,
        channel_id: Option<ChannelId>,
        limit: u32,
    ) -> Result<Vec<IncomingWebhook>> {
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM incoming_webhooks
                 WHERE ?1 IS NULL OR channel_id = ?1 ORDER BY id LIMIT ?2"
            ))?;
            let rows = st.query_map(params![channel_id.map(|c| c.0), limit], row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn rotate_webhook_secret(&self, id: i64, secret_hash: String) -> Result<bool> {
        self.write(move |tx| {
            let n = tx
                .conn
                .prepare_cached(
                    "UPDATE incoming_webhooks SET secret_hash = ?2, rotated_at = ?3 WHERE id = ?1",
                )?
                .execute(params![id, secret_hash, tx.now.0])?;
            Ok(n == 1)
        })
        .await
    }

    async fn delete_webhook(&self, id: i64) -> Result<bool> {
        self.write(move |tx| {
            let n = tx
                .conn
                .prepare_cached("DELETE FROM incoming_webhooks WHERE id = ?1")?
                .execute([id])?;
            Ok(n == 1)
        })
        .await
    }
}
