//! The embedded backend: one SQLite database file in WAL mode with `synchronous=FULL`.
//!
//! Durability and throughput come from one design:
//! 1. All writes go to a single writer thread through a bounded queue; callers await a reply.
//! 2. The writer takes every job waiting in the queue (up to [`MAX_BATCH`]), opens one
//!    `BEGIN IMMEDIATE` transaction and runs each job inside its own savepoint, so a job that
//!    fails (a guard refusal, a taken name) is rolled back alone.
//! 3. One `COMMIT` makes the whole batch durable with one fsync (group commit).
//! 4. Only then are the batch's events announced (in position order) and the callers answered.
//!    If the commit fails, every caller in the batch gets the error and nothing is announced.
//!
//! Reads run on a small pool of read-only connections on the blocking thread pool; WAL lets
//! them proceed while the writer commits. Each read runs in one read transaction (a snapshot).
//!
//! The SQL of each aggregate is in its own module (`accounts`, `channels`, `messages`, `files`,
//! `search`, `events`), beside that aggregate's trait implementation: reads take a
//! `&Connection`, writes the writer's [`Tx`] and append their events there.

mod accounts;
mod audit;
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
mod sso;
mod throttles;
mod webhooks;

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use enclave_core::{Event, Millis, NewEvent};
use parking_lot::Mutex;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::{Error, Lifecycle, Result};

/// Most jobs in one group commit.
pub const MAX_BATCH: usize = 1024;
/// Jobs that may wait for the writer before senders are made to wait.
const QUEUE_DEPTH: usize = 8192;
/// How long a connection waits for another process (the admin CLI) holding the write lock.
const BUSY_TIMEOUT_MS: u64 = 10_000;

/// Schema migrations by explicit version number (`PRAGMA user_version` after each), in
/// ascending order. Numbers may skip (branches reserve theirs); each is applied once.
pub(crate) const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("schema.sql")),
    (2, include_str!("schema_2.sql")),
    (3, include_str!("schema_3.sql")),
    (4, include_str!("schema_4.sql")),
    (5, include_str!("schema_5.sql")),
    (6, include_str!("schema_6.sql")),
    (7, include_str!("schema_7.sql")),
    (8, include_str!("schema_8.sql")),
    (9, include_str!("schema_9.sql")),
    (10, include_str!("schema_10.sql")),
    (11, include_str!("schema_11.sql")),
    (12, include_str!("schema_12.sql")),
    (13, include_str!("schema_13.sql")),
    (14, include_str!("schema_14.sql")),
    (17, include_str!("schema_17.sql")),
    (18, include_str!("schema_18.sql")),
    (20, include_str!("schema_20.sql")),
    (21, include_str!("schema_21.sql")),
    (22, include_str!("schema_22.sql")),
    (23, include_str!("schema_23.sql")),
    (24, include_str!("schema_24.sql")),
    (25, include_str!("schema_25.sql")),
];
/// The schema version that creates the directory's search keys, which are then filled from the
/// users.
const SEARCH_KEYS_VERSION: i64 = 10;
/// The schema version that creates the search index, which is then filled from the messages.
const SEARCH_INDEX_VERSION: i64 = 3;

/// The newest schema version (`PRAGMA user_version`) this build creates and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// Whether a statement failed on a unique constraint (or a primary key).
fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.code == rusqlite::ErrorCode::ConstraintViolation && (f.extended_code == 2067 || f.extended_code == 1555))
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Backend(Arc::new(e))
    }
}

/// Options for opening the database.
#[derive(Debug, Clone)]
pub struct Options {
    /// Read connections (each with its own page cache).
    pub readers: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options { readers: 4 }
    }
}

type Reply = Box<dyn FnOnce(Option<&Error>) + Send>;
type Job = Box<dyn FnOnce(&mut Tx<'_>) -> Reply + Send>;

/// A write in progress: the writer's connection inside the batch transaction, and the events
/// the current job has appended.
pub(crate) struct Tx<'c> {
    pub conn: &'c Connection,
    pub now: Millis,
    events: Vec<Event>,
}

impl Tx<'_> {
    /// Appends an event to the log in this transaction.
    pub fn event(&mut self, e: NewEvent) -> Result<()> {
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO events (kind, channel_id, user_id, actor_id, message_id, extra, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        stmt.execute(rusqlite::params![
            e.kind.as_str(),
            e.channel_id.map(|c| c.0),
            e.user_id.map(|u| u.0),
            e.actor_id.map(|u| u.0),
            e.message_id.map(|m| m.0),
            e.extra,
            self.now.0
        ])?;
        let position = self.conn.last_insert_rowid();
        self.events.push(Event {
            position,
            kind: e.kind,
            channel_id: e.channel_id,
            user_id: e.user_id,
            actor_id: e.actor_id,
            message_id: e.message_id,
            extra: e.extra,
            created_at: self.now,
        });
        Ok(())
    }

    fn in_savepoint<T>(&mut self, f: impl FnOnce(&mut Tx<'_>) -> Result<T>) -> Result<T> {
        let mark = self.events.len();
        self.now = Millis::now();
        self.conn.prepare_cached("SAVEPOINT job")?.execute([])?;
        let result = match std::panic::catch_unwind(AssertUnwindSafe(|| f(self))) {
            Ok(r) => r,
            Err(_) => Err(Error::Backend(Arc::new(std::io::Error::other(
                "write job panicked",
            )))),
        };
        if result.is_ok() {
            self.conn.prepare_cached("RELEASE job")?.execute([])?;
        } else {
            self.events.truncate(mark);
            self.conn.prepare_cached("ROLLBACK TO job")?.execute([])?;
            self.conn.prepare_cached("RELEASE job")?.execute([])?;
        }
        result
    }
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Option<mpsc::Sender<Job>>>,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    readers: Mutex<Vec<Connection>>,
    read_slots: tokio::sync::Semaphore,
    events: broadcast::Sender<Arc<[Event]>>,
}

/// The SQLite store.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

pub(crate) fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -16000;",
    )?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

fn open_reader(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )?;
    conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))?;
    conn.execute_batch("PRAGMA query_only = ON; PRAGMA cache_size = -8000;")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Rebuilds what is derived from the rows and not copied by backups: the search index of the
/// messages and the directory's search keys of the users (a restore calls it after filling an
/// empty database).
pub(crate) fn rebuild_derived(conn: &Connection) -> Result<(u64, u64)> {
    let messages = search::index_all(conn)?;
    let users = departments::fill_search_keys(conn)?;
    Ok((messages, users))
}

/// Brings the schema up to date. Safe to run from several processes at once: the check and
/// the upgrade happen under the write lock.
///
/// Foreign keys are off while migrations run, so that a migration may rebuild a table others
/// refer to (SQLite's documented way to change a constraint); every reference is checked before
/// the commit, and a dangling one rolls the whole upgrade back.
pub(crate) fn migrate(conn: &Connection) -> Result<()> {
    conn.execute_batch("PRAGMA foreign_keys = OFF")?;
    let r = migrate_unchecked(conn);
    conn.execute_batch("PRAGMA foreign_keys = ON")?;
    r
}

fn migrate_unchecked(conn: &Connection) -> Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let mut applied = false;
    let mut run = || -> Result<()> {
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let latest = SCHEMA_VERSION;
        if version > latest {
            return Err(Error::Backend(Arc::new(std::io::Error::other(format!(
                "database schema version {version} is newer than this binary understands ({latest}); upgrade enclave"
            )))));
        }
        for (v, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > version) {
            tracing::info!(version = v, "applying schema migration");
            applied = true;
            conn.execute_batch(sql)?;
            if *v == SEARCH_INDEX_VERSION {
                let n = search::index_all(conn)?;
                tracing::info!(messages = n, "search index built");
            }
            if *v == SEARCH_KEYS_VERSION {
                let n = departments::fill_search_keys(conn)?;
                tracing::info!(users = n, "directory search keys written");
            }
            conn.execute_batch(&format!("PRAGMA user_version = {v}"))?;
        }
        if version == latest {
            return Ok(());
        }
        let dangling: Option<String> = conn
            .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
            .optional()?;
        if let Some(table) = dangling {
            return Err(Error::Backend(Arc::new(std::io::Error::other(format!(
                "schema migration left a dangling reference in table {table}"
            )))));
        }
        Ok(())
    };
    match run() {
        Ok(()) => {
            conn.execute_batch("COMMIT")?;
            if applied {
                // Copy the upgraded pages over the old ones in the database file and empty the
                // WAL, so that nothing an upgrade removed (plain previews) stays on disk.
                conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            }
            Ok(())
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

fn writer_loop(
    conn: Connection,
    mut rx: mpsc::Receiver<Job>,
    events: broadcast::Sender<Arc<[Event]>>,
) {
    let mut jobs: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        jobs.push(first);
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        if let Err(e) = conn
            .prepare_cached("BEGIN IMMEDIATE")
            .and_then(|mut s| s.execute([]))
        {
            tracing::error!(error = %e, "could not begin a write transaction");
            // Dropping the jobs answers their callers with an error.
            jobs.clear();
            continue;
        }
        let mut tx = Tx {
            conn: &conn,
            now: Millis::now(),
            events: Vec::new(),
        };
        let replies: Vec<Reply> = jobs.drain(..).map(|job| job(&mut tx)).collect();
        let committed = std::mem::take(&mut tx.events);
        match conn
            .prepare_cached("COMMIT")
            .and_then(|mut s| s.execute([]))
        {
            Ok(_) => {
                if !committed.is_empty() {
                    // No receivers is fine: nobody is listening yet.
                    let _ = events.send(committed.into());
                }
                for reply in replies {
                    reply(None);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, n_jobs = replies.len(), "group commit failed");
                let _ = conn.execute_batch("ROLLBACK");
                let err = Error::from(e);
                for reply in replies {
                    reply(Some(&err));
                }
            }
        }
    }
    tracing::debug!("store writer stopped");
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path, options: Options) -> Result<Self> {
        let conn = Connection::open(path)?;
        configure(&conn)?;
        migrate(&conn)?;
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let (events, _) = broadcast::channel(1024);
        let events_for_writer = events.clone();
        let thread = std::thread::Builder::new()
            .name("enclave-store-writer".into())
            .spawn(move || writer_loop(conn, rx, events_for_writer))
            .map_err(|e| Error::Backend(Arc::new(e)))?;
        let readers = options.readers.max(1);
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                writer: Mutex::new(Some(tx)),
                writer_thread: Mutex::new(Some(thread)),
                readers: Mutex::new(Vec::new()),
                read_slots: tokio::sync::Semaphore::new(readers),
                events,
            }),
        })
    }

    /// Runs `f` on the writer inside the next group commit; returns once it is durable.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (reply_tx, reply_rx) = oneshot::channel();
        let job: Job = Box::new(move |tx: &mut Tx<'_>| {
            let result = tx.in_savepoint(f);
            Box::new(move |commit_error: Option<&Error>| {
                let outcome = match commit_error {
                    None => result,
                    Some(e) => Err(e.clone()),
                };
                let _ = reply_tx.send(outcome);
            })
        });
        let sender = self.inner.writer.lock().clone().ok_or(Error::Closed)?;
        sender.send(job).await.map_err(|_| Error::Closed)?;
        match reply_rx.await {
            Ok(r) => r,
            Err(_) => Err(Error::Backend(Arc::new(std::io::Error::other(
                "write was not performed",
            )))),
        }
    }

    /// Runs `f` on a read connection inside one read transaction.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let _slot = self
            .inner
            .read_slots
            .acquire()
            .await
            .map_err(|_| Error::Closed)?;
        let inner = self.inner.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let pooled = inner.readers.lock().pop();
            let mut conn = match pooled {
                Some(c) => c,
                None => open_reader(&inner.path)?,
            };
            let result = (|| {
                let tx = conn.transaction()?;
                let r = f(&tx);
                tx.finish()?;
                r
            })();
            inner.readers.lock().push(conn);
            result
        })
        .await;
        match joined {
            Ok(r) => r,
            Err(e) => Err(Error::Backend(Arc::new(std::io::Error::other(format!(
                "read task failed: {e}"
            ))))),
        }
    }
}

#[async_trait]
impl Lifecycle for SqliteStore {
    async fn ping(&self) -> Result<()> {
        self.read(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }
    async fn close(&self) {
        // Dropping the sender lets the writer finish the queue and stop.
        self.inner.writer.lock().take();
        let handle = self.inner.writer_thread.lock().take();
        if let Some(handle) = handle {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
    }
}
