//! The cluster backend: PostgreSQL, shared by any number of Enclave nodes.
//!
//! Every write is one READ COMMITTED transaction on a pooled connection. Where the SQLite backend
//! relies on its single writer, this one locks the rows a write decides on (the channel row
//! first, then the membership or message; see "Row locks" below), so guards run against the
//! rows as the write finds them, a `client_msg_id` retry sees the first attempt, and per-channel
//! `seq` stays gap-free. Reads of more than one statement run in a read-only snapshot.
//!
//! The SQL of each aggregate is in its own module (`accounts`, `channels`, `messages`, `files`,
//! `search`, `events`) beside that aggregate's trait implementation; the sequencer is in
//! `sequencer`. Reads take a `&mut PgConnection` (a pooled connection from [`PgStore`]'s `conn`,
//! or a [`Snapshot`] when they run several statements); writes take a [`Tx`] from `begin`,
//! append their events there, and end with `finish`, which commits or rolls back.
//!
//! # Row locks
//!
//! Writes lock the rows they decide on, always in the same order (channel, then membership or
//! message, then user), so that concurrent transactions queue instead of deadlocking:
//! - channel rows: `FOR NO KEY UPDATE` for writes that change the channel, its members or its
//!   pins (posts, channel updates, member changes, pins); `FOR SHARE` for the others (read
//!   positions, edits, deletes, reactions), which then exclude the former but not each other;
//! - the message (edits, deletes, reactions, pins) or the membership (read positions) the
//!   write decides on: `FOR NO KEY UPDATE`.
//!
//! In READ COMMITTED every statement takes a new snapshot, so whatever a statement reads after a
//! lock was granted includes every transaction that committed before the grant. That is why the
//! channel row is locked by a statement of its own and the membership read by the next one:
//! a join would re-check only the locked row and could pass a stale membership to the guard.
//!
//! # Event positions
//!
//! Several nodes write at once and their transactions commit in any order, so a position cannot
//! be taken while writing (a reader could see position 8 commit before 7, skip 7, and never
//! come back for it). Positions are instead assigned after commit, by one sequencer:
//!
//! 1. A write inserts its events with `position` NULL, in the same transaction as the change,
//!    as its last statement before `COMMIT` (so an event's `id` is taken after every lock the
//!    write waited for: of two writes that touch the same row, the later one's events have the
//!    larger ids). After `COMMIT` it wakes the sequencer: directly when this store is the
//!    sequencer, else through this store's *notifier*, which sends
//!    `pg_notify('enclave_commit', '')` in a transaction of its own, coalescing the commits
//!    that happen while one notification is on its way. (Not inside the write: PostgreSQL
//!    serialises the commits of every transaction that notifies under one database-wide lock
//!    held across the WAL flush, which would defeat group commit: measured, it capped a node
//!    at about 1,200 sends/s with most backends waiting on `Lock:object` at `COMMIT`.)
//! 2. Exactly one node at a time is the sequencer: the one whose store holds the session-level
//!    advisory lock [`SEQUENCER_LOCK`] on a dedicated connection. Every store tries to take it
//!    when it opens and then every [`LOCK_RETRY`]; when the holder's session ends (the node
//!    stopped, crashed or lost its connection) the lock is free and another node takes over.
//! 3. The sequencer runs a pass when notified (`LISTEN enclave_commit`), when [`EventLog::settle`]
//!    asks, and every [`POLL`] as a safety net (a notification can be lost while its listening
//!    connection reconnects).
//! 4. A pass is one transaction: lock the one-row `event_counter`, take the committed events
//!    without a position in `id` order (at most [`PASS_LIMIT`]), add their number to the counter
//!    (`UPDATE ... SET last = last + n RETURNING last`, never a sequence: a sequence keeps values
//!    taken by transactions that roll back), number the events `last - n + 1 ..= last` in that
//!    order, and commit. Only committed rows are visible to the pass, and the range is allocated
//!    in the transaction that assigns it, so every assigned position is committed and positions
//!    are gap-free and totally ordered. The counter row lock orders passes even if two
//!    sequencers ever overlap (a new one taking over while the old one's last pass commits): a
//!    pass reads the events only after it holds the counter, so it sees the previous pass's
//!    numbering and never numbers an event twice.
//! 5. After its commit, the pass announces its events (in position order) on this store's
//!    [`EventLog::subscribe`]. Other nodes' stores do not see that announcement; their event
//!    feeds read the log, which is the truth.
//! 6. Readers see only numbered events: [`EventLog::events_after`] filters and orders by
//!    `position`. A pass commits only after the previous one committed (the counter lock), so
//!    once a reader has seen position `p`, every position below `p` is already visible: a
//!    position never appears below one already seen, on any node.
//! 7. [`EventLog::settle`] returns once every event committed before the call has a position: it
//!    notes the newest unnumbered event, then (on the sequencer node) asks for passes or
//!    (elsewhere) polls until none up to it is left unnumbered. A closed store, whose sequencer
//!    has stopped, runs the passes itself (safe beside a sequencer, as step 4 says). `close`
//!    on the sequencer node numbers what is left before it lets the lock go.
//!
//! `last_position` is the counter, so positions never go back, pruning included.
//! `first_position` is the oldest retained position, or `last_position() + 1` when none is left.
//!
//! Migrations (`migrations/postgres/NNNN_*.sql`, embedded at build time by `build.rs`) are
//! applied at open by sqlx's migrator, which holds an advisory lock while it works, so nodes may
//! start together. (The `sqlx` facade crate and its `migrate!` macro cannot be used: the facade
//! names `sqlx-sqlite` as an optional dependency, and Cargo's `links` check covers optional
//! dependencies, so it cannot resolve beside rusqlite. The driver crates `sqlx-core` and
//! `sqlx-postgres` are used directly, with the same `Migrator`.)
//!
//! Requires PostgreSQL 12 or newer. Text that is ordered or searched is `COLLATE "C"`, so sorting
//! and case-insensitive matching behave as in SQLite whatever the database's locale.

mod accounts;
mod audit;
pub use audit::AUDIT_LOCK;
mod channels;
mod commands;
mod departments;
mod events;
mod files;
mod import;
mod ldap;
mod leases;
mod messages;
mod outgoing;
mod retention;
mod roles;
mod rows;
mod search;
mod second_factors;
mod webhooks;
pub(crate) use search::index_all;
mod sequencer;
mod sso;
mod throttles;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use enclave_core::{Event, Millis, NewEvent};
use parking_lot::Mutex;
use sqlx_core::pool::PoolConnection;
use sqlx_core::query::{Query, query};
use sqlx_core::transaction::Transaction;
use sqlx_postgres::{PgArguments, PgConnectOptions, PgConnection, PgPool, PgPoolOptions, Postgres};
use tokio::sync::{Notify, broadcast, watch};

use crate::{Error, EventLog, Lifecycle, Result};

/// The advisory lock (two-key form, so it cannot meet sqlx's one-key migration lock) held by the
/// node that assigns positions. Advisory locks are per database.
pub const SEQUENCER_LOCK: (i32, i32) = (0x456e_636c, 1); // "Encl", 1
/// How often a store that is not the sequencer tries to become it.
pub const LOCK_RETRY: Duration = Duration::from_secs(1);
/// How often the sequencer looks for unnumbered events without being notified.
pub const POLL: Duration = Duration::from_millis(50);
/// Most events numbered by one pass.
pub const PASS_LIMIT: i64 = 4096;
/// Connections in the pool reserved for delivering events (beside `Options::max_connections`).
pub const FEED_CONNECTIONS: u32 = 4;
/// The notification channel the notifiers signal commits on.
const COMMIT_CHANNEL: &str = "enclave_commit";

impl From<sqlx_core::Error> for Error {
    fn from(e: sqlx_core::Error) -> Self {
        Error::Backend(Arc::new(e))
    }
}

fn backend(e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Backend(Arc::new(e))
}

/// Options for connecting.
#[derive(Debug, Clone)]
pub struct Options {
    /// Pooled connections for reads and writes (the sequencer and its listener use two more).
    pub max_connections: u32,
    /// How long an operation waits for a pooled connection.
    pub acquire_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(30),
        }
    }
}

/// The embedded migrations, from `migrations/postgres` (listed by `build.rs`).
pub(crate) fn migrator() -> sqlx_core::migrate::Migrator {
    use sqlx_core::migrate::{Migration, MigrationType, Migrator};
    use sqlx_core::sql_str::SqlSafeStr;
    let migrations: &[(i64, &'static str, &'static str)] =
        include!(concat!(env!("OUT_DIR"), "/pg_migrations.rs"));
    Migrator::with_migrations(
        migrations
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    description.into(),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

/// Whether every embedded migration has been applied, successfully and with the same checksum.
/// A node then leaves the migrator alone: it needs no right to change the schema, so it may run
/// as a role that may only insert into and read the audit log (docs/admin/audit.md). Anything
/// else (a new database, a pending or failed migration, a changed one) is the migrator's to
/// apply or report.
pub(crate) async fn schema_is_current(
    pool: &PgPool,
    migrator: &sqlx_core::migrate::Migrator,
) -> bool {
    use sqlx_core::row::Row;
    let rows = match sqlx_core::query::query::<Postgres>(
        "SELECT version, checksum, success FROM _sqlx_migrations",
    )
    .fetch_all(pool)
    .await
    {
        Ok(rows) => rows,
        Err(_) => return false,
    };
    let mut applied = std::collections::HashMap::new();
    for r in &rows {
        let (Ok(version), Ok(checksum), Ok(success)) = (
            r.try_get::<i64, _>(0),
            r.try_get::<Vec<u8>, _>(1),
            r.try_get::<bool, _>(2),
        ) else {
            return false;
        };
        applied.insert(version, (checksum, success));
    }
    applied.len() == migrator.iter().count()
        && migrator.iter().all(|m| {
            applied
                .get(&m.version)
                .is_some_and(|(c, ok)| *ok && c.as_slice() == &*m.checksum)
        })
}

/// A write in progress: one transaction, and the events it will append when it commits.
pub(crate) struct Tx {
    tx: Transaction<'static, Postgres>,
    pub now: Millis,
    events: Vec<NewEvent>,
    /// Held while the write is open, so that `close` can wait for it.
    _open: tokio::sync::OwnedRwLockReadGuard<()>,
}

impl Tx {
    pub fn c(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    /// Appends an event to the log when this transaction commits.
    pub fn event(&mut self, e: NewEvent) {
        self.events.push(e);
    }
}

/// State shared by a store and its sequencer task.
struct Shared {
    events: broadcast::Sender<Arc<[Event]>>,
    /// Whether this store's task holds [`SEQUENCER_LOCK`].
    leader: AtomicBool,
    /// Wakes the sequencer (a commit notification, or `settle`).
    wake: Notify,
    /// Wakes the notifier (a commit on this store while another node is the sequencer).
    notify: Notify,
    /// Counts the sequencer's completed rounds of passes.
    rounds: watch::Sender<u64>,
}

struct Inner {
    pool: PgPool,
    /// A few connections of their own for the reads that deliver committed events (the log,
    /// and the messages, channels and users its events name), so that delivery never queues
    /// behind a pool full of writes waiting for row locks: measured, with one shared pool and
    /// 1,000 concurrent senders, deliveries fell to a few dozen per second.
    feed_pool: PgPool,
    shared: Arc<Shared>,
    closed: AtomicBool,
    writes: Arc<tokio::sync::RwLock<()>>,
    /// Dropping or signalling it stops the sequencer task.
    shutdown: watch::Sender<bool>,
    sequencer: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// The PostgreSQL store. Cheap to clone; every clone is the same store.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`),
    /// brings its schema up to date, and starts competing for the sequencer role.
    pub async fn open(url: &str, options: Options) -> Result<Self> {
        let connect: PgConnectOptions = url.parse()?;
        Self::open_with(connect, options).await
    }

    /// As [`PgStore::open`], with connection options already parsed.
    pub async fn open_with(connect: PgConnectOptions, options: Options) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.clone())
            .await?;
        let migrator = migrator();
        if schema_is_current(&pool, &migrator).await {
            tracing::debug!("the schema is current: no migration to apply");
        } else {
            migrator.run(&pool).await.map_err(backend)?;
        }
        let feed_pool = PgPoolOptions::new()
            .max_connections(FEED_CONNECTIONS)
            .acquire_timeout(options.acquire_timeout)
            .connect_lazy_with(connect.clone().application_name("enclave-feed"));
        search::build_search_index(&pool).await?;
        let filled = departments::fill_search_keys(&pool).await?;
        if filled > 0 {
            tracing::info!(users = filled, "directory search keys written");
        }
        let (events, _) = broadcast::channel(1024);
        let (rounds, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            events,
            leader: AtomicBool::new(false),
            wake: Notify::new(),
            notify: Notify::new(),
            rounds,
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        tokio::spawn(sequencer::notifier(
            shared.clone(),
            connect.clone().application_name("enclave-notifier"),
            shutdown_rx.clone(),
        ));
        let task = tokio::spawn(sequencer::sequencer(
            shared.clone(),
            sequencer::sequencer_options(connect),
            shutdown_rx,
        ));
        Ok(PgStore {
            inner: Arc::new(Inner {
                pool,
                feed_pool,
                shared,
                closed: AtomicBool::new(false),
                writes: Arc::new(tokio::sync::RwLock::new(())),
                shutdown,
                sequencer: Mutex::new(Some(task)),
            }),
        })
    }

    /// Whether this store is currently the sequencer (for tests and metrics).
    pub fn is_sequencer(&self) -> bool {
        self.inner.shared.leader.load(Ordering::SeqCst)
    }

    /// The pool, for the test harness and administrative tools.
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    async fn begin(&self) -> Result<Tx> {
        let open = self.inner.writes.clone().read_owned().await;
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(Error::Closed);
        }
        // The row locking of the writes relies on READ COMMITTED (a fresh snapshot per statement),
        // whatever the server's default is.
        let tx = self
            .inner
            .pool
            .begin_with("BEGIN ISOLATION LEVEL READ COMMITTED")
            .await?;
        Ok(Tx {
            tx,
            now: Millis::now(),
            events: Vec::new(),
            _open: open,
        })
    }

    /// Commits a write that succeeded (appending its events), rolls back one that failed.
    async fn finish<T>(&self, mut tx: Tx, result: Result<T>) -> Result<T> {
        let value = match result {
            Ok(v) => v,
            Err(e) => {
                let _ = tx.tx.rollback().await;
                return Err(e);
            }
        };
        let appended = !tx.events.is_empty();
        if appended {
            events::append_events(&mut tx).await?;
        }
        tx.tx.commit().await?;
        if appended {
            self.inner.shared.committed();
        }
        Ok(value)
    }
}

impl PgStore {
    /// A pooled connection, for reads of one statement.
    async fn conn(&self) -> Result<PoolConnection<Postgres>> {
        Ok(self.inner.pool.acquire().await?)
    }

    /// A connection of the pool reserved for delivering events.
    async fn feed_conn(&self) -> Result<PoolConnection<Postgres>> {
        Ok(self.inner.feed_pool.acquire().await?)
    }

    /// A read-only snapshot, for reads of several statements.
    async fn snapshot(&self) -> Result<Snapshot> {
        Snapshot::begin(&self.inner.pool).await
    }

    /// A read-only snapshot on the pool reserved for delivering events.
    async fn feed_snapshot(&self) -> Result<Snapshot> {
        Snapshot::begin(&self.inner.feed_pool).await
    }
}

/// A read-only transaction (REPEATABLE READ): every statement sees the same moment.
struct Snapshot(Transaction<'static, Postgres>);

impl Snapshot {
    async fn begin(pool: &PgPool) -> Result<Self> {
        Ok(Snapshot(
            pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .await?,
        ))
    }

    fn c(&mut self) -> &mut PgConnection {
        &mut self.0
    }

    /// Ends the snapshot (it wrote nothing, so its own outcome does not matter) and passes on
    /// the result of the reads.
    async fn end<T>(self, result: Result<T>) -> Result<T> {
        let _ = self.0.commit().await;
        result
    }
}

type Q = Query<'static, Postgres, PgArguments>;

/// A statement (every statement of this backend is a `&'static str`).
fn q(sql: &'static str) -> Q {
    query(sql)
}

/// The constraint a statement violated, if it failed on a unique constraint.
fn unique_violation(e: &sqlx_core::Error) -> Option<String> {
    match e {
        sqlx_core::Error::Database(db) if db.code().as_deref() == Some("23505") => {
            Some(db.constraint().unwrap_or_default().to_owned())
        }
        _ => None,
    }
}

/// A page size as PostgreSQL takes it.
fn limit(n: u32) -> i64 {
    i64::from(n)
}

#[async_trait]
impl Lifecycle for PgStore {
    async fn ping(&self) -> Result<()> {
        query::<Postgres>("SELECT 1")
            .execute(&self.inner.pool)
            .await?;
        Ok(())
    }
    async fn close(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        // Waits for the writes in progress; later ones see `closed`.
        drop(self.inner.writes.write().await);
        if self.is_sequencer()
            && let Err(e) = self.settle().await
        {
            tracing::warn!(error = %e, "could not number the last events before closing");
        }
        let _ = self.inner.shutdown.send(true);
        let task = self.inner.sequencer.lock().take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}
