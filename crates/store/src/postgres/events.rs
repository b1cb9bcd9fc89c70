//! The event log on PostgreSQL: appending a write's events without positions, reading the
//! numbered ones, and waiting for the sequencer (`sequencer.rs`) to number them.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
use enclave_core::{Event, Millis};
use sqlx_core::query::query;
use sqlx_core::row::Row;
use sqlx_postgres::{PgConnection, Postgres};
use tokio::sync::broadcast;

use super::rows::{self, all, event_cols};
use super::sequencer::drain;
use super::{POLL, PgStore, Tx, limit, q};
use crate::{EventLog, Result};

pub async fn events_after(c: &mut PgConnection, position: i64, n: u32) -> Result<Vec<Event>> {
    // Only positioned events: a row still waiting for the sequencer has a NULL position.
    let rows = q(concat!(
        "SELECT ",
        event_cols!(),
        " FROM events WHERE position > $1 ORDER BY position LIMIT $2"
    ))
    .bind(position)
    .bind(limit(n))
    .fetch_all(&mut *c)
    .await?;
    all(rows, rows::event)
}

pub async fn last_position(c: &mut PgConnection) -> Result<i64> {
    // The counter, not max(position): positions never go back, pruning included.
    let row = q("SELECT last FROM event_counter WHERE id = 1")
        .fetch_one(&mut *c)
        .await?;
    Ok(row.try_get(0)?)
}

pub async fn first_position(c: &mut PgConnection) -> Result<i64> {
    let row = q("SELECT (SELECT min(position) FROM events),
                        (SELECT last FROM event_counter WHERE id = 1)")
    .fetch_one(&mut *c)
    .await?;
    let (min, last): (Option<i64>, i64) = (row.try_get(0)?, row.try_get(1)?);
    // An empty log: positions continue after the highest ever assigned.
    Ok(min.unwrap_or(last + 1))
}

pub async fn prune_events(tx: &mut Tx, before: Millis, keep_last: u32) -> Result<u64> {
    // Positioned events only (`position <= ...` is never true for NULL).
    let n = q("DELETE FROM events WHERE created_at < $1
                 AND position <= (SELECT coalesce(max(position), 0) FROM events) - $2")
    .bind(before.0)
    .bind(i64::from(keep_last))
    .execute(tx.c())
    .await?
    .rows_affected();
    Ok(n)
}

/// Inserts the transaction's events without positions, in order.
pub(super) async fn append_events(tx: &mut Tx) -> Result<()> {
    let n = tx.events.len();
    let mut kinds = Vec::with_capacity(n);
    let mut channels = Vec::with_capacity(n);
    let mut users = Vec::with_capacity(n);
    let mut actors = Vec::with_capacity(n);
    let mut messages = Vec::with_capacity(n);
    let mut extras = Vec::with_capacity(n);
    for e in tx.events.drain(..) {
        kinds.push(e.kind.as_str().to_owned());
        channels.push(e.channel_id.map(|c| c.0));
        users.push(e.user_id.map(|u| u.0));
        actors.push(e.actor_id.map(|u| u.0));
        messages.push(e.message_id.map(|m| m.0));
        extras.push(e.extra);
    }
    let now = tx.now;
    query::<Postgres>(
        "INSERT INTO events (kind, channel_id, user_id, actor_id, message_id, extra, created_at)
         SELECT e.kind, e.channel_id, e.user_id, e.actor_id, e.message_id, e.extra, $7
           FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[], $5::int8[], $6::text[])
                WITH ORDINALITY AS e(kind, channel_id, user_id, actor_id, message_id, extra, ord)
          ORDER BY e.ord",
    )
    .bind(kinds)
    .bind(channels)
    .bind(users)
    .bind(actors)
    .bind(messages)
    .bind(extras)
    .bind(now.0)
    .execute(tx.c())
    .await?;
    Ok(())
}

#[async_trait]
impl EventLog for PgStore {
    fn subscribe(&self) -> broadcast::Receiver<Arc<[Event]>> {
        self.inner.shared.events.subscribe()
    }
    async fn settle(&self) -> Result<()> {
        let pool = &self.inner.pool;
        let horizon: Option<i64> =
            query::<Postgres>("SELECT max(id) FROM events WHERE position IS NULL")
                .fetch_one(pool)
                .await?
                .try_get(0)?;
        let Some(horizon) = horizon else {
            return Ok(());
        };
        let shared = &self.inner.shared;
        loop {
            let pending: bool = query::<Postgres>(
                "SELECT EXISTS (SELECT 1 FROM events WHERE position IS NULL AND id <= $1)",
            )
            .bind(horizon)
            .fetch_one(pool)
            .await?
            .try_get(0)?;
            if !pending {
                return Ok(());
            }
            if shared.leader.load(Ordering::SeqCst) {
                let mut rounds = shared.rounds.subscribe();
                shared.wake.notify_one();
                let _ = tokio::time::timeout(POLL * 4, rounds.changed()).await;
            } else if self.inner.closed.load(Ordering::SeqCst) {
                // This store's sequencer has stopped and there may be no other node: number
                // them here (safe beside a sequencer, see step 4 of the module docs).
                let mut conn = pool.acquire().await?;
                drain(shared, &mut conn).await?;
            } else {
                // Another node numbers them (or this one will, once it takes the lock over).
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
    async fn events_after(&self, position: i64, limit: u32) -> Result<Vec<Event>> {
        let mut c = self.feed_conn().await?;
        events_after(&mut c, position, limit).await
    }
    async fn last_position(&self) -> Result<i64> {
        let mut c = self.conn().await?;
        last_position(&mut c).await
    }
    async fn first_position(&self) -> Result<i64> {
        let mut c = self.conn().await?;
        first_position(&mut c).await
    }
    async fn prune_events(&self, before: Millis, keep_last: u32) -> Result<u64> {
        let mut tx = self.begin().await?;
        let result = prune_events(&mut tx, before, keep_last).await;
        self.finish(tx, result).await
    }
}
