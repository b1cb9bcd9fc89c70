//! The sequencer: the one node that numbers committed events (steps 1 to 5 of the module docs
//! of `postgres`), its competition for the lock, and the notifier that wakes it from other
//! nodes.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use sqlx_core::connection::{ConnectOptions, Connection};
use sqlx_core::query::query;
use sqlx_core::row::Row;
use sqlx_postgres::{PgConnectOptions, PgConnection, PgListener, PgPoolOptions, PgRow, Postgres};
use tokio::sync::watch;

use super::rows;
use super::{COMMIT_CHANNEL, LOCK_RETRY, PASS_LIMIT, POLL, SEQUENCER_LOCK, Shared, backend};
use crate::Result;

impl Shared {
    /// A write with events committed on this store: make sure the sequencer hears of it.
    pub(super) fn committed(&self) {
        if self.leader.load(Ordering::SeqCst) {
            self.wake.notify_one();
        } else {
            self.notify.notify_one();
        }
    }
}

/// Tells the sequencer on another node that this node committed events (step 1 of the module
/// docs). One notification at a time: commits that happen meanwhile share the next one. A
/// notification lost on the way (a broken connection) costs at most the sequencer's [`POLL`].
pub(super) async fn notifier(
    shared: Arc<Shared>,
    connect: PgConnectOptions,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conn: Option<PgConnection> = None;
    loop {
        tokio::select! {
            () = shared.notify.notified() => {}
            r = shutdown.changed() => {
                if r.is_err() || *shutdown.borrow() {
                    break;
                }
                continue;
            }
        }
        if shared.leader.load(Ordering::SeqCst) {
            // This node took the sequencer role meanwhile; its own passes cover the commit.
            shared.wake.notify_one();
            continue;
        }
        if let Err(e) = notify_once(&mut conn, &connect).await {
            tracing::debug!(error = %e, "could not notify the sequencer of a commit");
            conn = None;
            if stopped(&mut shutdown, Duration::from_millis(100)).await {
                break;
            }
        }
    }
    if let Some(c) = conn {
        let _ = c.close().await;
    }
}

async fn notify_once(conn: &mut Option<PgConnection>, connect: &PgConnectOptions) -> Result<()> {
    if conn.is_none() {
        let mut c = connect.connect().await?;
        // The notification is a hint (the sequencer also polls): its commit need not wait
        // for a WAL flush.
        query::<Postgres>("SET synchronous_commit = off")
            .execute(&mut c)
            .await?;
        *conn = Some(c);
    }
    let Some(c) = conn.as_mut() else {
        return Ok(());
    };
    query::<Postgres>("SELECT pg_notify($1, '')")
        .bind(COMMIT_CHANNEL)
        .execute(c)
        .await?;
    Ok(())
}

/// The sequencer's sessions: named, and with server-side keepalives short enough that the
/// server ends the session of a node that vanished (a network partition) within seconds,
/// releasing the lock for another node. (They do nothing on Unix-socket connections, where
/// the server notices a dead peer at once.)
pub(super) fn sequencer_options(connect: PgConnectOptions) -> PgConnectOptions {
    connect.application_name("enclave-sequencer").options([
        ("tcp_keepalives_idle", "5"),
        ("tcp_keepalives_interval", "2"),
        ("tcp_keepalives_count", "3"),
        ("tcp_user_timeout", "10000"),
    ])
}

/// Runs until shutdown: competes for [`SEQUENCER_LOCK`] and, while holding it, numbers events.
pub(super) async fn sequencer(
    shared: Arc<Shared>,
    connect: PgConnectOptions,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conn: Option<PgConnection> = None;
    loop {
        if *shutdown.borrow() {
            break;
        }
        let pause = match try_lock(&mut conn, &connect).await {
            Ok(true) => {
                let Some(mut c) = conn.take() else { break };
                shared.leader.store(true, Ordering::SeqCst);
                tracing::info!("this node now assigns event positions");
                let outcome = lead(&shared, &mut c, &connect, &mut shutdown).await;
                shared.leader.store(false, Ordering::SeqCst);
                // Ending the session releases the lock.
                let _ = c.close().await;
                match outcome {
                    Ok(()) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "event sequencer stopped; will try to take over again");
                        Duration::from_millis(100)
                    }
                }
            }
            Ok(false) => LOCK_RETRY,
            Err(e) => {
                tracing::debug!(error = %e, "could not try the sequencer lock");
                conn = None;
                LOCK_RETRY
            }
        };
        if stopped(&mut shutdown, pause).await {
            break;
        }
    }
    if let Some(c) = conn {
        let _ = c.close().await;
    }
}

/// Waits `pause`; true when shutdown was signalled (or the store is gone) meanwhile.
async fn stopped(shutdown: &mut watch::Receiver<bool>, pause: Duration) -> bool {
    tokio::select! {
        r = shutdown.changed() => r.is_err() || *shutdown.borrow(),
        () = tokio::time::sleep(pause) => *shutdown.borrow(),
    }
}

async fn try_lock(conn: &mut Option<PgConnection>, connect: &PgConnectOptions) -> Result<bool> {
    if conn.is_none() {
        *conn = Some(connect.connect().await?);
    }
    let Some(c) = conn.as_mut() else {
        return Ok(false);
    };
    let row = query::<Postgres>("SELECT pg_try_advisory_lock($1, $2)")
        .bind(SEQUENCER_LOCK.0)
        .bind(SEQUENCER_LOCK.1)
        .fetch_one(c)
        .await?;
    Ok(row.try_get(0)?)
}

/// The sequencer's loop while it holds the lock. Returns `Ok` on shutdown, `Err` when the
/// connection failed (the lock may be lost).
async fn lead(
    shared: &Arc<Shared>,
    conn: &mut PgConnection,
    connect: &PgConnectOptions,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<()> {
    let listener = AbortOnDrop(tokio::spawn(listen(shared.clone(), connect.clone())));
    loop {
        drain(shared, conn).await?;
        shared.rounds.send_modify(|n| *n += 1);
        tokio::select! {
            () = shared.wake.notified() => {}
            () = tokio::time::sleep(POLL) => {}
            _ = shutdown.changed() => {
                drain(shared, conn).await?;
                shared.rounds.send_modify(|n| *n += 1);
                drop(listener);
                return Ok(());
            }
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Forwards commit notifications to the sequencer, reconnecting as needed.
async fn listen(shared: Arc<Shared>, connect: PgConnectOptions) {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .connect_lazy_with(connect);
    loop {
        match PgListener::connect_with(&pool).await {
            Ok(mut listener) => {
                listener.ignore_pool_close_event(true);
                if let Err(e) = listener.listen(COMMIT_CHANNEL).await {
                    tracing::debug!(error = %e, "LISTEN failed");
                } else {
                    // Anything committed while (re)connecting is picked up by this pass.
                    shared.wake.notify_one();
                    loop {
                        match listener.recv().await {
                            Ok(_) => shared.wake.notify_one(),
                            Err(e) => {
                                tracing::debug!(error = %e, "commit listener failed");
                                break;
                            }
                        }
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "could not connect the commit listener"),
        }
        tokio::time::sleep(LOCK_RETRY).await;
    }
}

/// Passes until no committed event is left without a position.
pub(super) async fn drain(shared: &Shared, conn: &mut PgConnection) -> Result<()> {
    while pass(shared, conn).await? == PASS_LIMIT {}
    Ok(())
}

/// One pass (step 4 of the module docs); returns how many events it numbered.
async fn pass(shared: &Shared, conn: &mut PgConnection) -> Result<i64> {
    // Idle passes read an index and write nothing.
    let pending: bool =
        query::<Postgres>("SELECT EXISTS (SELECT 1 FROM events WHERE position IS NULL)")
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
    if !pending {
        return Ok(0);
    }
    let mut tx = conn
        .begin_with("BEGIN ISOLATION LEVEL READ COMMITTED")
        .await?;
    query::<Postgres>("SELECT last FROM event_counter WHERE id = 1 FOR UPDATE")
        .execute(&mut *tx)
        .await?;
    // A new snapshot, taken with the counter held: every earlier pass's numbering is visible.
    let ids: Vec<i64> =
        query::<Postgres>("SELECT id FROM events WHERE position IS NULL ORDER BY id LIMIT $1")
            .bind(PASS_LIMIT)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<std::result::Result<_, _>>()?;
    let count = ids.len();
    let n = i64::try_from(count).map_err(backend)?;
    if n == 0 {
        tx.commit().await?;
        return Ok(0);
    }
    let last: i64 =
        query::<Postgres>("UPDATE event_counter SET last = last + $1 WHERE id = 1 RETURNING last")
            .bind(n)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
    let rows: Vec<PgRow> = query::<Postgres>(concat!(
        "UPDATE events e SET position = $1 + u.ord - 1
           FROM unnest($2::int8[]) WITH ORDINALITY AS u(id, ord)
          WHERE e.id = u.id AND e.position IS NULL
         RETURNING ",
        rows::event_cols!("e")
    ))
    .bind(last - n + 1)
    .bind(ids)
    .fetch_all(&mut *tx)
    .await?;
    if rows.len() != count {
        // Cannot happen (nothing else numbers or deletes unnumbered events); never leave a gap.
        tx.rollback().await?;
        return Err(backend(std::io::Error::other(
            "events changed under the sequencer",
        )));
    }
    let mut batch = rows
        .iter()
        .map(rows::event)
        .collect::<std::result::Result<Vec<_>, _>>()?;
    tx.commit().await?;
    batch.sort_by_key(|e| e.position);
    // No receivers is fine: nobody is listening yet.
    let _ = shared.events.send(batch.into());
    Ok(n)
}
