//! The cluster backend: PostgreSQL, shared by any number of Enclave nodes.
//!
//! Every write is one READ COMMITTED transaction on a pooled connection. Where the SQLite backend
//! relies on its single writer, this one locks the rows a write decides on (the channel row
//! first, then the membership or message; the rules are in `ops.rs`), so guards run against the
//! rows as the write finds them, a `client_msg_id` retry sees the first attempt, and per-channel
//! `seq` stays gap-free. Reads of more than one statement run in a read-only snapshot.
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
//! 3. The sequencer runs a pass when notified (`LISTEN enclave_commit`), when [`Store::settle`]
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
//!    [`Store::subscribe`]. Other nodes' stores do not see that announcement; their event
//!    feeds read the log, which is the truth.
//! 6. Readers see only numbered events: [`Store::events_after`] filters and orders by
//!    `position`. A pass commits only after the previous one committed (the counter lock), so
//!    once a reader has seen position `p`, every position below `p` is already visible: a
//!    position never appears below one already seen, on any node.
//! 7. [`Store::settle`] returns once every event committed before the call has a position: it
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

mod files;
pub(crate) mod ops;
mod rows;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use enclave_core::{
    Anchor, Channel, ChannelId, ChannelRole, ChannelSummary, Event, FileId, FileMeta, Membership,
    Mentions, Message, MessageId, Millis, NewEvent, TokenId, TokenInfo, User, UserId,
};
use parking_lot::Mutex;
use sqlx_core::connection::{ConnectOptions, Connection};
use sqlx_core::query::query;
use sqlx_core::row::Row;
use sqlx_core::transaction::Transaction;
use sqlx_postgres::{
    PgConnectOptions, PgConnection, PgListener, PgPool, PgPoolOptions, PgRow, Postgres,
};
use tokio::sync::{Notify, broadcast, watch};

use crate::{
    BrowseQuery, ChannelPatch, Error, Guard, MessageSearch, NewChannel, NewFile, NewMessage,
    NewToken, NewUser, Posted, ReindexStep, Result, Store, StoredFile, UserPatch, UserQuery,
};

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
        migrator().run(&pool).await.map_err(backend)?;
        let feed_pool = PgPoolOptions::new()
            .max_connections(FEED_CONNECTIONS)
            .acquire_timeout(options.acquire_timeout)
            .connect_lazy_with(connect.clone().application_name("enclave-feed"));
        build_search_index(&pool).await?;
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
        tokio::spawn(notifier(
            shared.clone(),
            connect.clone().application_name("enclave-notifier"),
            shutdown_rx.clone(),
        ));
        let task = tokio::spawn(sequencer(
            shared.clone(),
            sequencer_options(connect),
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
        // The row locking in `ops` relies on READ COMMITTED (a fresh snapshot per statement),
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
            append_events(&mut tx).await?;
        }
        tx.tx.commit().await?;
        if appended {
            self.inner.shared.committed();
        }
        Ok(value)
    }
}

/// A read-only snapshot on `pool`, for reads of several statements.
async fn snapshot(pool: &PgPool) -> Result<Transaction<'static, Postgres>> {
    Ok(pool
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await?)
}

/// Fills the search index of a database that held messages before it had one (see
/// `migrations/postgres/0002_search.sql`). Several nodes may do it at once; the result is the
/// same.
async fn build_search_index(pool: &PgPool) -> Result<()> {
    let built: bool = query::<Postgres>("SELECT built FROM search_state WHERE id = 1")
        .fetch_one(pool)
        .await?
        .try_get(0)?;
    if !built {
        let mut conn = pool.acquire().await?;
        let n = ops::index_all(&mut conn).await?;
        tracing::info!(messages = n, "search index built");
    }
    Ok(())
}

/// Inserts the transaction's events without positions, in order.
async fn append_events(tx: &mut Tx) -> Result<()> {
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

// ---------------------------------------------------------------------------------------------
// The sequencer

impl Shared {
    /// A write with events committed on this store: make sure the sequencer hears of it.
    fn committed(&self) {
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
async fn notifier(
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
fn sequencer_options(connect: PgConnectOptions) -> PgConnectOptions {
    connect.application_name("enclave-sequencer").options([
        ("tcp_keepalives_idle", "5"),
        ("tcp_keepalives_interval", "2"),
        ("tcp_keepalives_count", "3"),
        ("tcp_user_timeout", "10000"),
    ])
}

/// Runs until shutdown: competes for [`SEQUENCER_LOCK`] and, while holding it, numbers events.
async fn sequencer(
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
async fn drain(shared: &Shared, conn: &mut PgConnection) -> Result<()> {
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

// ---------------------------------------------------------------------------------------------
// The Store implementation

/// Runs `$body` (which uses `$tx`) in a write transaction and commits it.
macro_rules! write {
    ($self:ident, |$tx:ident| $body:expr) => {{
        let mut $tx = $self.begin().await?;
        let result = $body.await;
        $self.finish($tx, result).await
    }};
}

/// Runs `$body` (which uses `$c`) on a pooled connection.
/// `read!(on POOL, ...)` uses another pool (the one reserved for delivering events).
macro_rules! read {
    ($self:ident, |$c:ident| $body:expr) => {
        read!(on $self.inner.pool, |$c| $body)
    };
    (on $pool:expr, |$c:ident| $body:expr) => {{
        let mut conn = $pool.acquire().await?;
        let $c: &mut PgConnection = &mut conn;
        $body.await
    }};
}

/// Runs `$body` (which uses `$c`) in a read-only snapshot; `snapshot!(on POOL, ...)` as `read!`.
macro_rules! snapshot {
    ($self:ident, |$c:ident| $body:expr) => {
        snapshot!(on $self.inner.pool, |$c| $body)
    };
    (on $pool:expr, |$c:ident| $body:expr) => {{
        let mut tx = snapshot(&$pool).await?;
        let $c: &mut PgConnection = &mut tx;
        let result = $body.await;
        let _ = tx.commit().await;
        result
    }};
}

#[async_trait]
impl Store for PgStore {
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

    async fn create_user(&self, new: NewUser) -> Result<User> {
        write!(self, |tx| ops::create_user(&mut tx, new))
    }
    async fn user(&self, id: UserId) -> Result<Option<User>> {
        read!(self, |c| ops::user(c, id))
    }
    async fn user_credentials(&self, login: &str) -> Result<Option<(User, Option<String>)>> {
        let login = login.to_lowercase();
        read!(self, |c| ops::user_credentials(c, &login))
    }
    async fn users_by_usernames(&self, usernames: &[String]) -> Result<Vec<User>> {
        read!(self, |c| ops::users_by_usernames(c, usernames))
    }
    async fn users_by_ids(&self, ids: &[UserId]) -> Result<Vec<User>> {
        read!(on self.inner.feed_pool, |c| ops::users_by_ids(c, ids))
    }
    async fn list_users(&self, query: UserQuery) -> Result<Vec<User>> {
        read!(self, |c| ops::list_users(c, &query))
    }
    async fn update_user(
        &self,
        id: UserId,
        patch: UserPatch,
        actor_id: Option<UserId>,
    ) -> Result<User> {
        write!(self, |tx| ops::update_user(&mut tx, id, patch, actor_id))
    }
    async fn count_admins(&self) -> Result<i64> {
        read!(self, |c| ops::count_admins(c))
    }

    async fn create_token(&self, new: NewToken) -> Result<TokenInfo> {
        write!(self, |tx| ops::create_token(&mut tx, new))
    }
    async fn token_by_hash(
        &self,
        hash: [u8; 32],
        now: Millis,
    ) -> Result<Option<(TokenInfo, User)>> {
        read!(self, |c| ops::token_by_hash(c, &hash, now))
    }
    async fn touch_token(&self, id: TokenId, now: Millis) -> Result<()> {
        write!(self, |tx| ops::touch_token(&mut tx, id, now))
    }
    async fn list_tokens(&self, user_id: UserId) -> Result<Vec<TokenInfo>> {
        read!(self, |c| ops::list_tokens(c, user_id))
    }
    async fn revoke_token(&self, user_id: UserId, id: TokenId) -> Result<bool> {
        write!(self, |tx| ops::revoke_token(&mut tx, user_id, id))
    }
    async fn revoke_sessions(&self, user_id: UserId, except: Option<TokenId>) -> Result<u64> {
        write!(self, |tx| ops::revoke_sessions(&mut tx, user_id, except))
    }

    async fn create_channel(&self, new: NewChannel) -> Result<Channel> {
        write!(self, |tx| ops::create_channel(&mut tx, new))
    }
    async fn open_direct(&self, creator: UserId, user_ids: Vec<UserId>) -> Result<(Channel, bool)> {
        write!(self, |tx| ops::open_direct(&mut tx, creator, user_ids))
    }
    async fn channel(&self, id: ChannelId) -> Result<Option<Channel>> {
        read!(self, |c| ops::channel(c, id))
    }
    async fn channel_for(
        &self,
        id: ChannelId,
        user_id: UserId,
    ) -> Result<Option<(Channel, Option<Membership>)>> {
        read!(self, |c| ops::channel_for(c, id, user_id))
    }
    async fn my_channels(&self, user_id: UserId) -> Result<Vec<ChannelSummary>> {
        read!(self, |c| ops::my_channels(c, user_id, None))
    }
    async fn my_channel(&self, id: ChannelId, user_id: UserId) -> Result<Option<ChannelSummary>> {
        let mut v = read!(self, |c| ops::my_channels(c, user_id, Some(id)))?;
        Ok(v.pop())
    }
    async fn browse_channels(&self, query: BrowseQuery) -> Result<Vec<Channel>> {
        read!(self, |c| ops::browse_channels(c, &query))
    }
    async fn update_channel(
        &self,
        id: ChannelId,
        actor_id: UserId,
        patch: ChannelPatch,
        guard: Guard,
    ) -> Result<Channel> {
        write!(self, |tx| ops::update_channel(
            &mut tx, id, actor_id, patch, guard
        ))
    }
    async fn add_member(
        &self,
        id: ChannelId,
        actor_id: UserId,
        user_id: UserId,
        role: ChannelRole,
        guard: Guard,
    ) -> Result<(Membership, bool)> {
        write!(self, |tx| ops::add_member(
            &mut tx, id, actor_id, user_id, role, guard
        ))
    }
    async fn remove_member(
        &self,
        id: ChannelId,
        actor_id: UserId,
        user_id: UserId,
        guard: Guard,
    ) -> Result<()> {
        write!(self, |tx| ops::remove_member(
            &mut tx, id, actor_id, user_id, guard
        ))
    }
    async fn set_member_role(
        &self,
        id: ChannelId,
        actor_id: UserId,
        user_id: UserId,
        role: ChannelRole,
        guard: Guard,
    ) -> Result<Membership> {
        write!(self, |tx| ops::set_member_role(
            &mut tx, id, actor_id, user_id, role, guard
        ))
    }
    async fn members(
        &self,
        id: ChannelId,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<(Membership, User)>> {
        read!(self, |c| ops::members(c, id, after, limit))
    }
    async fn mark_read(
        &self,
        id: ChannelId,
        user_id: UserId,
        seq: i64,
        guard: Guard,
    ) -> Result<Membership> {
        write!(self, |tx| ops::mark_read(&mut tx, id, user_id, seq, guard))
    }

    async fn post_message(&self, new: NewMessage, guard: Guard) -> Result<Posted> {
        write!(self, |tx| ops::post_message(&mut tx, new, guard))
    }
    async fn message(&self, id: MessageId) -> Result<Option<Message>> {
        snapshot!(self, |c| ops::message(c, id))
    }
    async fn history(
        &self,
        id: ChannelId,
        anchor: Anchor,
        limit: u32,
        include_replies: bool,
    ) -> Result<Vec<Message>> {
        snapshot!(self, |c| ops::history(
            c,
            id,
            anchor,
            limit,
            include_replies
        ))
    }
    async fn thread(&self, root: MessageId, after_seq: i64, limit: u32) -> Result<Vec<Message>> {
        snapshot!(self, |c| ops::thread(c, root, after_seq, limit))
    }
    async fn edit_message(
        &self,
        id: MessageId,
        actor_id: UserId,
        text: String,
        mentions: Mentions,
        guard: Guard,
    ) -> Result<Message> {
        write!(self, |tx| ops::edit_message(
            &mut tx, id, actor_id, text, mentions, guard
        ))
    }
    async fn delete_message(
        &self,
        id: MessageId,
        actor_id: UserId,
        guard: Guard,
    ) -> Result<Message> {
        write!(self, |tx| ops::delete_message(&mut tx, id, actor_id, guard))
    }
    async fn set_reaction(
        &self,
        id: MessageId,
        user_id: UserId,
        emoji: String,
        present: bool,
        guard: Guard,
    ) -> Result<(Message, bool)> {
        write!(self, |tx| ops::set_reaction(
            &mut tx, id, user_id, emoji, present, guard
        ))
    }
    async fn set_pinned(
        &self,
        id: MessageId,
        user_id: UserId,
        pinned: bool,
        guard: Guard,
    ) -> Result<(Message, bool)> {
        write!(self, |tx| ops::set_pinned(
            &mut tx, id, user_id, pinned, guard
        ))
    }
    async fn pins(&self, id: ChannelId) -> Result<Vec<Message>> {
        snapshot!(self, |c| ops::pins(c, id))
    }

    async fn messages_by_ids(&self, ids: &[MessageId]) -> Result<Vec<Message>> {
        snapshot!(on self.inner.feed_pool, |c| ops::messages_by_ids(c, ids))
    }
    async fn channels_by_ids(&self, ids: &[ChannelId]) -> Result<Vec<Channel>> {
        read!(on self.inner.feed_pool, |c| ops::channels_by_ids(c, ids))
    }
    async fn channel_ids_of(&self, user_id: UserId) -> Result<Vec<ChannelId>> {
        read!(self, |c| ops::channel_ids_of(c, user_id))
    }
    async fn search_messages(&self, query: MessageSearch) -> Result<Vec<Message>> {
        snapshot!(self, |c| ops::search_messages(c, &query))
    }
    async fn search_channels(
        &self,
        user_id: UserId,
        text: &str,
        limit: u32,
    ) -> Result<Vec<(Channel, bool)>> {
        read!(self, |c| ops::search_channels(c, user_id, text, limit))
    }
    async fn reindex_batch(&self, after: MessageId, limit: u32) -> Result<ReindexStep> {
        write!(self, |tx| ops::reindex_batch(&mut tx, after, limit))
    }
    async fn message_stats(&self) -> Result<(u64, MessageId)> {
        read!(self, |c| ops::message_stats(c))
    }
    async fn token_valid(&self, id: TokenId, now: Millis) -> Result<bool> {
        read!(self, |c| ops::token_valid(c, id, now))
    }

    async fn create_file(&self, new: NewFile, quota: Option<u64>) -> Result<FileMeta> {
        write!(self, |tx| files::create(&mut tx, new, quota))
    }
    async fn file(&self, id: FileId) -> Result<Option<StoredFile>> {
        read!(self, |c| files::get(c, id))
    }
    async fn file_channels(&self, id: FileId) -> Result<Vec<ChannelId>> {
        read!(self, |c| files::channels(c, id))
    }
    async fn user_file_bytes(&self, user_id: UserId) -> Result<u64> {
        read!(self, |c| files::user_bytes(c, user_id))
    }
    async fn sweep_files(&self, unattached_before: Millis, limit: u32) -> Result<Vec<StoredFile>> {
        write!(self, |tx| files::sweep(&mut tx, unattached_before, limit))
    }
    async fn files_not_under_key(
        &self,
        key_id: &str,
        after: FileId,
        limit: u32,
    ) -> Result<Vec<StoredFile>> {
        read!(self, |c| files::not_under_key(c, key_id, after, limit))
    }
    async fn rewrap_file_key(
        &self,
        id: FileId,
        old_key_id: &str,
        new_key_id: &str,
        wrapped_key: Vec<u8>,
    ) -> Result<bool> {
        write!(self, |tx| files::rewrap(
            &mut tx,
            id,
            old_key_id,
            new_key_id,
            wrapped_key
        ))
    }
    async fn files_without_preview(
        &self,
        content_type: &str,
        after: FileId,
        limit: u32,
    ) -> Result<Vec<StoredFile>> {
        read!(self, |c| files::without_preview(
            c,
            content_type,
            after,
            limit
        ))
    }
    async fn set_file_preview(&self, id: FileId, sealed: Vec<u8>) -> Result<bool> {
        write!(self, |tx| files::set_preview(&mut tx, id, sealed))
    }

    async fn events_after(&self, position: i64, limit: u32) -> Result<Vec<Event>> {
        read!(on self.inner.feed_pool, |c| ops::events_after(c, position, limit))
    }
    async fn last_position(&self) -> Result<i64> {
        read!(self, |c| ops::last_position(c))
    }
    async fn first_position(&self) -> Result<i64> {
        read!(self, |c| ops::first_position(c))
    }
    async fn prune_events(&self, before: Millis, keep_last: u32) -> Result<u64> {
        write!(self, |tx| ops::prune_events(&mut tx, before, keep_last))
    }
}
