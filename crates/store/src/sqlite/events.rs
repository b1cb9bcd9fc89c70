//! The event log on SQLite: events get their positions (`AUTOINCREMENT`) in the transaction
//! that appends them (see [`super::Tx::event`]), so committed positions are gap-free and in
//! commit order.

use std::sync::Arc;

use async_trait::async_trait;
use enclave_core::{Event, Millis};
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::broadcast;

use super::rows::{self, EVENT_COLS};
use super::{SqliteStore, Tx};
use crate::{EventLog, Result};

pub fn events_after(c: &Connection, position: i64, limit: u32) -> Result<Vec<Event>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {EVENT_COLS} FROM events WHERE position > ?1 ORDER BY position LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![position, limit], rows::event)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn last_position(c: &Connection) -> Result<i64> {
    // After pruning the log can be empty; positions still never go back.
    Ok(c.query_row(
        "SELECT max(coalesce((SELECT max(position) FROM events), 0),
                    coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0))",
        [],
        |r| r.get(0),
    )?)
}

pub fn first_position(c: &Connection) -> Result<i64> {
    let (min, max): (Option<i64>, Option<i64>) =
        c.query_row("SELECT min(position), max(position) FROM events", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    match (min, max) {
        (Some(min), _) => Ok(min),
        _ => {
            // An empty log: positions continue after the highest ever assigned.
            let seq: Option<i64> = c
                .query_row(
                    "SELECT seq FROM sqlite_sequence WHERE name = 'events'",
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(seq.unwrap_or(0) + 1)
        }
    }
}

pub fn prune_events(tx: &mut Tx<'_>, before: Millis, keep_last: u32) -> Result<u64> {
    let n = tx.conn.execute(
        "DELETE FROM events WHERE created_at < ?1
           AND position <= (SELECT coalesce(max(position), 0) FROM events) - ?2",
        params![before.0, keep_last],
    )?;
    Ok(n as u64)
}

#[async_trait]
impl EventLog for SqliteStore {
    fn subscribe(&self) -> broadcast::Receiver<Arc<[Event]>> {
        self.inner.events.subscribe()
    }
    async fn settle(&self) -> Result<()> {
        // Events get their positions in the transaction that appends them.
        Ok(())
    }
    async fn events_after(&self, position: i64, limit: u32) -> Result<Vec<Event>> {
        self.read(move |c| events_after(c, position, limit)).await
    }
    async fn last_position(&self) -> Result<i64> {
        self.read(last_position).await
    }
    async fn first_position(&self) -> Result<i64> {
        self.read(first_position).await
    }
    async fn prune_events(&self, before: Millis, keep_last: u32) -> Result<u64> {
        self.write(move |tx| prune_events(tx, before, keep_last))
            .await
    }
}
