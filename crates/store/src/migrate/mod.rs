//! Moving an embedded installation to PostgreSQL: [`sqlite_to_postgres`] copies every row of a
//! SQLite database into a PostgreSQL database, then verifies the copy by reading both back.
//!
//! # What it does, in order
//!
//! 1. **Opens the SQLite file read-only** and starts one read transaction: every row copied and
//!    every row checksummed comes from that one snapshot, so a server still writing to the file
//!    cannot tear the copy (WAL lets it go on while the snapshot is held). It refuses a file that
//!    is not an Enclave database (not SQLite, or the tables are missing) and a schema version it
//!    does not know (`PRAGMA user_version` 1 to [`crate::sqlite::SCHEMA_VERSION`]; an older
//!    database is rendered with the defaults its missing columns get when it is upgraded).
//! 2. **Opens the target** and applies the PostgreSQL store's migrations (as `PgStore::open`
//!    would), then, in **one transaction**, locks every table (`ACCESS EXCLUSIVE`, so no node
//!    can write while it is filled) and refuses a target that already holds data: any row in
//!    any table, or an event counter past 0. An empty target, freshly migrated or not, is fine.
//! 3. **Copies** the tables in dependency order (users, tokens, channels, members, messages,
//!    reactions, mentions, files, message_files, events), every column, ids as they are, in batches of at most
//!    [`BATCH_ROWS`] rows (or about [`BATCH_BYTES`]), each one `INSERT ... SELECT FROM unnest(...)`,
//!    all inside that one transaction: an error or an interruption rolls back everything and
//!    leaves the target empty, so the command can simply be run again.
//! 4. **Event positions are kept exactly**: an event's PostgreSQL `position` (and its internal
//!    `id`) is its SQLite position, so no event is left for the sequencer to number. The event
//!    counter (`event_counter.last`, where PostgreSQL's positions continue from) is set to the
//!    last position SQLite ever assigned: the larger of the newest position and what
//!    `sqlite_sequence` remembers (pruned events included), so positions never go back and the
//!    next event gets the next position, without a gap.
//! 5. **Id sequences**: the identity sequence of every table with one (users, tokens, channels,
//!    messages, events) is set past the largest copied id, or past what `sqlite_sequence`
//!    remembers for that table if that is larger, so new rows never reuse an id.
//!    The search index (`messages.search_tsv`) is not copied: it is derived data, rebuilt from
//!    the copied messages in the same transaction.
//! 6. `COMMIT`, then **verifies**: for each table, the number of rows and a SHA-256 over the
//!    canonical rendering of every row in primary-key order, computed on each side on its own:
//!    the SQLite side from the snapshot of step 1, the PostgreSQL side by reading the committed
//!    rows back in a new read-only transaction (never from what was written). The [`Report`]
//!    lists both per table; it also compares the event counter with SQLite's last position and
//!    checks that no id sequence would hand out a taken id.
//!
//! # Canonical rendering
//!
//! A row is its columns in the order of [`TABLES`], each rendered as a tag byte and a value:
//! `0` for NULL; `1` and the integer as 8 bytes big-endian (booleans, which SQLite stores as
//! integers, as 0 or 1); `2`, the length as 8 bytes big-endian and the UTF-8 bytes for text; `3`,
//! the length and the bytes for a blob. A table's checksum is the SHA-256 of its rows' renderings
//! in primary-key order (text keys in byte order, as both schemas sort them). PostgreSQL's own
//! bookkeeping (the events' internal `id`, the `event_counter` row) is not part of a row; it is
//! checked separately.
//!
//! # Running it on a live installation
//!
//! The copy is consistent while the server keeps running, but it is a copy of one moment:
//! messages sent after the snapshot are not in it. Stop the server (all of its processes) for
//! the final copy, run the migration, then start it on PostgreSQL.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use sha2::{Digest as _, Sha256};
use sqlx_core::connection::{ConnectOptions, Connection as _};
use sqlx_core::query::query;
use sqlx_core::row::Row;
use sqlx_core::sql_str::AssertSqlSafe;
use sqlx_postgres::{PgConnectOptions, PgConnection, PgRow, Postgres};
use tokio::sync::mpsc;

pub(crate) mod source;
pub(crate) mod target;

use source::{FromSqlite, Meta, sqlite_reader};
use target::{copy, verify};

use crate::catalog::{Column, TABLES, Table, Ty};
use crate::sqlite::SCHEMA_VERSION;

/// Most rows in one `INSERT`.
pub const BATCH_ROWS: usize = 2000;
/// A batch is sent once its values take about this many bytes, even if it has fewer rows.
pub const BATCH_BYTES: usize = 4 << 20;
/// How long the copy waits for the target's tables (a node still running on them).
const LOCK_TIMEOUT: &str = "60s";

/// A failed migration. Nothing was committed to the target unless the error says so.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The source is not an Enclave SQLite database.
    #[error("{}: not an Enclave database: {reason}", path.display())]
    NotEnclave { path: PathBuf, reason: String },
    /// The source's schema version is not one this build knows.
    #[error(
        "{}: unknown schema version {version} (this enclave knows 1 to {known}); use the enclave release that wrote it",
        path.display()
    )]
    UnknownSchema {
        path: PathBuf,
        version: i64,
        known: i64,
    },
    /// The target already holds data.
    #[error("the target database is not empty ({0}); migrate into a new, empty database")]
    TargetNotEmpty(String),
    /// A value in the source that the target cannot hold as it is.
    #[error("{table}: {reason}")]
    BadData { table: &'static str, reason: String },
    // The causes below are in the message, not chained as sources: the drivers' own messages
    // already repeat their sources, and a report of the chain would say everything twice.
    #[error("reading the SQLite database: {0}")]
    Sqlite(rusqlite::Error),
    #[error("PostgreSQL: {0}")]
    Postgres(sqlx_core::Error),
    #[error("applying the PostgreSQL migrations: {0}")]
    Migrate(sqlx_core::migrate::MigrateError),
    /// Building the search index of the copied messages failed.
    #[error("building the search index: {0}")]
    SearchIndex(String),
    /// The SQLite reading thread stopped unexpectedly.
    #[error("the SQLite reader stopped: {0}")]
    Reader(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Sqlite(e)
    }
}

impl From<sqlx_core::Error> for Error {
    fn from(e: sqlx_core::Error) -> Self {
        Error::Postgres(e)
    }
}

impl From<sqlx_core::migrate::MigrateError> for Error {
    fn from(e: sqlx_core::migrate::MigrateError) -> Self {
        Error::Migrate(e)
    }
}

/// What the migration is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Copying rows into PostgreSQL.
    Copy,
    /// Reading the copied rows back from PostgreSQL and checksumming them.
    Verify,
}

/// Progress of one table, reported when the table starts, after every batch, and when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub phase: Phase,
    pub table: &'static str,
    /// Rows copied (or verified) so far.
    pub done: u64,
    /// Rows in the SQLite snapshot.
    pub total: u64,
}

/// The verification of one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableReport {
    pub table: &'static str,
    pub sqlite_rows: u64,
    pub postgres_rows: u64,
    /// SHA-256 of the canonical rendering (see the module docs), hexadecimal.
    pub sqlite_checksum: String,
    pub postgres_checksum: String,
    /// Rows and checksums are equal.
    pub matches: bool,
}

/// What a migration did and what its verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The source's schema version.
    pub schema_version: i64,
    /// One entry per table, in copy order.
    pub tables: Vec<TableReport>,
    /// The last event position SQLite assigned (pruned events included).
    pub sqlite_last_position: i64,
    /// PostgreSQL's event counter after the copy: new events continue after it.
    pub postgres_event_counter: i64,
    /// Id sequences that would hand out an id already taken (empty when all is well).
    pub sequence_problems: Vec<String>,
    pub elapsed: Duration,
}

impl Report {
    /// Every table matches, the event counter continues from SQLite's last position, and every
    /// id sequence is past its table's ids.
    pub fn ok(&self) -> bool {
        self.tables.iter().all(|t| t.matches)
            && self.sqlite_last_position == self.postgres_event_counter
            && self.sequence_problems.is_empty()
    }

    /// Rows copied, all tables together.
    pub fn total_rows(&self) -> u64 {
        self.tables.iter().map(|t| t.postgres_rows).sum()
    }
}

// ---------------------------------------------------------------------------------------------
// The statements, from the catalogue

impl Table {
    /// The SELECT that renders the table from a SQLite database of schema `version`.
    pub(crate) fn sqlite_select(&self, version: i64) -> String {
        let cols = self
            .columns
            .iter()
            .map(|c| {
                if version < c.since.0 {
                    format!("{} AS {}", c.since.1, c.name)
                } else {
                    c.name.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "SELECT {cols} FROM {} ORDER BY {}",
            self.name, self.sqlite_order
        )
    }

    pub(crate) fn pg_select(&self) -> String {
        format!(
            "SELECT {} FROM {} ORDER BY {}",
            self.column_list(),
            self.name,
            self.pg_order
        )
    }

    /// One batch: the columns as arrays, unnested into rows. Events also get their internal
    /// `id` (an identity column PostgreSQL normally generates) equal to their position.
    fn pg_insert(&self) -> String {
        let cols = self.column_list();
        let arrays = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| format!("${}::{}", i + 1, c.ty.pg_array()))
            .collect::<Vec<_>>()
            .join(", ");
        if self.name == "events" {
            format!(
                "INSERT INTO events (id, {cols}) OVERRIDING SYSTEM VALUE
                 SELECT u.position, u.* FROM unnest({arrays}) AS u({cols})"
            )
        } else {
            format!(
                "INSERT INTO {} ({cols}) SELECT * FROM unnest({arrays}) AS u({cols})",
                self.name
            )
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Values and their canonical rendering

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    pub(crate) fn size(&self) -> usize {
        match self {
            Value::Null | Value::Int(_) => 9,
            Value::Text(s) => s.len() + 9,
            Value::Blob(b) => b.len() + 9,
        }
    }
}

fn render(h: &mut Sha256, v: &Value) {
    match v {
        Value::Null => h.update([0u8]),
        Value::Int(i) => {
            h.update([1u8]);
            h.update(i.to_be_bytes());
        }
        Value::Text(s) => {
            h.update([2u8]);
            h.update((s.len() as u64).to_be_bytes());
            h.update(s.as_bytes());
        }
        Value::Blob(b) => {
            h.update([3u8]);
            h.update((b.len() as u64).to_be_bytes());
            h.update(b);
        }
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A table's rows and checksum, accumulated row by row.
pub(crate) struct TableDigest {
    pub(crate) rows: u64,
    hash: Sha256,
}

impl TableDigest {
    pub(crate) fn new() -> Self {
        TableDigest {
            rows: 0,
            hash: Sha256::new(),
        }
    }

    pub(crate) fn row(&mut self, values: &[Value]) {
        self.rows += 1;
        for v in values {
            render(&mut self.hash, v);
        }
    }

    pub(crate) fn finish(self) -> (u64, String) {
        (self.rows, hex(&self.hash.finalize()))
    }
}

// ---------------------------------------------------------------------------------------------
// The PostgreSQL side

/// Copies the Enclave SQLite database at `sqlite_path` into the PostgreSQL database at
/// `pg_url` (`postgres://user:password@host:port/database`), then verifies the copy; see the
/// module docs. The target must be empty (its schema is created if missing). `progress` is
/// called per table as rows are copied and verified.
///
/// A verification that finds a difference is not an error: it is in the [`Report`]
/// ([`Report::ok`] is false).
pub async fn sqlite_to_postgres(
    sqlite_path: &Path,
    pg_url: &str,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Report> {
    let connect: PgConnectOptions = pg_url.parse()?;
    sqlite_to_postgres_with(sqlite_path, connect, progress).await
}

/// As [`sqlite_to_postgres`], with the connection options already parsed.
pub async fn sqlite_to_postgres_with(
    sqlite_path: &Path,
    connect: PgConnectOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Report> {
    start(sqlite_path, connect, true, progress).await
}

/// Only the verification (step 6 of the module docs) of an earlier copy: compares the SQLite
/// database at `sqlite_path` with the PostgreSQL database, table by table, and changes neither.
/// Only [`Phase::Verify`] progress is reported.
pub async fn verify_only(
    sqlite_path: &Path,
    connect: PgConnectOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Report> {
    start(sqlite_path, connect, false, progress).await
}

async fn start(
    sqlite_path: &Path,
    connect: PgConnectOptions,
    copy: bool,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Report> {
    let started = Instant::now();
    let (tx, mut rx) = mpsc::channel::<Result<FromSqlite>>(4);
    let path = sqlite_path.to_owned();
    let reader = std::thread::Builder::new()
        .name("enclave-migrate-sqlite".into())
        .spawn(move || {
            if let Err(e) = sqlite_reader(&path, copy, &tx) {
                let _ = tx.blocking_send(Err(e));
            }
        })
        .map_err(|e| Error::Reader(e.to_string()))?;
    let result = run(&mut rx, connect, copy, progress, started).await;
    // Stops the reader if it is still going (its next send fails), then waits for it.
    drop(rx);
    let _ = tokio::task::spawn_blocking(move || reader.join()).await;
    result
}

pub(crate) async fn next(rx: &mut mpsc::Receiver<Result<FromSqlite>>) -> Result<FromSqlite> {
    match rx.recv().await {
        Some(m) => m,
        None => Err(Error::Reader("it ended early".into())),
    }
}

async fn run(
    rx: &mut mpsc::Receiver<Result<FromSqlite>>,
    connect: PgConnectOptions,
    copy_rows: bool,
    progress: &(dyn Fn(Progress) + Sync),
    started: Instant,
) -> Result<Report> {
    // The source is checked before the target is touched.
    let FromSqlite::Meta(meta) = next(rx).await? else {
        return Err(Error::Reader(
            "expected the snapshot's summary first".into(),
        ));
    };
    let mut conn = connect
        .application_name("enclave-migrate")
        .connect()
        .await?;
    let first_checksum = if copy_rows {
        crate::postgres::migrator().run(&mut conn).await?;
        copy(&mut conn, rx, &meta, progress).await?
    } else {
        match next(rx).await? {
            FromSqlite::Checksum(i, rows, sum) => (i, rows, sum),
            _ => return Err(Error::Reader("expected checksums".into())),
        }
    };
    let mut report = verify(&mut conn, rx, &meta, first_checksum, progress).await?;
    let _ = conn.close().await;
    report.elapsed = started.elapsed();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(rows: &[&[Value]]) -> String {
        let mut d = TableDigest::new();
        for r in rows {
            d.row(r);
        }
        d.finish().1
    }

    #[test]
    fn rendering_is_unambiguous() {
        let t = |s: &str| Value::Text(s.to_owned());
        // Column boundaries, types and NULL all count.
        assert_ne!(digest(&[&[t("ab"), t("c")]]), digest(&[&[t("a"), t("bc")]]));
        assert_ne!(digest(&[&[Value::Int(1)]]), digest(&[&[t("1")]]));
        assert_ne!(digest(&[&[Value::Null]]), digest(&[&[t("")]]));
        assert_ne!(
            digest(&[&[Value::Blob(b"x".to_vec())]]),
            digest(&[&[t("x")]])
        );
        // Order counts.
        assert_ne!(
            digest(&[&[Value::Int(1)], &[Value::Int(2)]]),
            digest(&[&[Value::Int(2)], &[Value::Int(1)]])
        );
        assert_eq!(digest(&[]).len(), 64);
    }

    #[test]
    fn statements() {
        let events = TABLES.iter().find(|t| t.name == "events").expect("events");
        assert!(events.pg_insert().contains("OVERRIDING SYSTEM VALUE"));
        let users = &TABLES[0];
        assert!(users.sqlite_select(1).contains("'' AS status_text"));
        assert!(
            users
                .sqlite_select(2)
                .contains(", status_text, dnd, 0 AS is_guest, NULL AS guest_expires_at, 1 AS member_role FROM users")
        );
        // Every table of the SQLite schema is copied.
        // (Version 6 rebuilds `channels` under a temporary name; it adds no table.)
        let schema: String = crate::sqlite::MIGRATIONS
            .iter()
            .filter(|(version, _)| *version != 6)
            .map(|(_, sql)| *sql)
            .collect();
        // `user_search_keys` (schema 10) is derived from display names and rebuilt when a
        // store opens, so it is not copied.
        let created = schema.matches("CREATE TABLE ").count() - 1;
        assert!(schema.contains("CREATE TABLE user_search_keys"));
        assert_eq!(created, TABLES.len());
    }

    /// Every column of every table of the newest SQLite schema is copied, in schema order.
    #[test]
    fn every_column_is_copied() {
        let conn = Connection::open_in_memory().expect("open");
        for (version, sql) in crate::sqlite::MIGRATIONS {
            conn.execute_batch(sql)
                .unwrap_or_else(|e| panic!("schema {version}: {e}"));
        }
        for t in TABLES {
            let mut stmt = conn
                .prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")
                .expect("prepare");
            let names: Vec<String> = stmt
                .query_map([t.name], |r| r.get(0))
                .expect("query")
                .collect::<rusqlite::Result<_>>()
                .expect("rows");
            let ours: Vec<&str> = t.columns.iter().map(|c| c.name).collect();
            assert_eq!(names, ours, "{}", t.name);
        }
    }
}
