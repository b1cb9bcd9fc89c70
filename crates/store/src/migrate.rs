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
// The tables

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Int,
    /// An integer 0 or 1 in SQLite, a `boolean` in PostgreSQL.
    Bool,
    Text,
    Blob,
}

impl Ty {
    fn pg_array(self) -> &'static str {
        match self {
            Ty::Int => "int8[]",
            Ty::Bool => "bool[]",
            Ty::Text => "text[]",
            Ty::Blob => "bytea[]",
        }
    }
}

struct Column {
    name: &'static str,
    ty: Ty,
    /// The schema version that added the column, and the SQL value it has before that.
    since: (i64, &'static str),
}

const fn col(name: &'static str, ty: Ty) -> Column {
    Column {
        name,
        ty,
        since: (1, ""),
    }
}

/// One copied table.
pub struct Table {
    pub name: &'static str,
    columns: &'static [Column],
    /// The primary key, in SQLite's `ORDER BY` form.
    sqlite_order: &'static str,
    /// The primary key, in PostgreSQL's `ORDER BY` form.
    pg_order: &'static str,
    /// The table has an identity column `id` whose sequence must be moved past the copied ids.
    identity: bool,
    /// The SQLite schema version that added the table (older databases have no rows for it).
    since: i64,
}

use Ty::{Blob, Bool, Int, Text};

/// Every table, in copy (dependency) order, with its columns in rendering order.
pub static TABLES: &[Table] = &[
    Table {
        name: "users",
        columns: &[
            col("id", Int),
            col("username", Text),
            col("display_name", Text),
            col("email", Text),
            col("password_hash", Text),
            col("is_admin", Bool),
            col("is_bot", Bool),
            col("active", Bool),
            col("created_at", Int),
            col("updated_at", Int),
            Column {
                name: "status_text",
                ty: Text,
                since: (2, "''"),
            },
            Column {
                name: "dnd",
                ty: Bool,
                since: (2, "0"),
            },
        ],
        sqlite_order: "id",
        pg_order: "id",
        identity: true,
        since: 1,
    },
    Table {
        name: "tokens",
        columns: &[
            col("id", Int),
            col("user_id", Int),
            col("kind", Text),
            col("token_hash", Blob),
            col("name", Text),
            col("created_at", Int),
            col("last_used_at", Int),
            col("expires_at", Int),
        ],
        sqlite_order: "id",
        pg_order: "id",
        identity: true,
        since: 1,
    },
    Table {
        name: "channels",
        columns: &[
            col("id", Int),
            col("kind", Text),
            col("name", Text),
            col("name_key", Text),
            col("dm_key", Text),
            col("topic", Text),
            col("purpose", Text),
            col("creator_id", Int),
            col("last_seq", Int),
            col("n_members", Int),
            col("archived_at", Int),
            col("created_at", Int),
            col("updated_at", Int),
        ],
        sqlite_order: "id",
        pg_order: "id",
        identity: true,
        since: 1,
    },
    Table {
        name: "members",
        columns: &[
            col("channel_id", Int),
            col("user_id", Int),
            col("role", Text),
            col("last_read_seq", Int),
            col("joined_at", Int),
        ],
        sqlite_order: "channel_id, user_id",
        pg_order: "channel_id, user_id",
        identity: false,
        since: 1,
    },
    Table {
        name: "messages",
        columns: &[
            col("id", Int),
            col("channel_id", Int),
            col("seq", Int),
            col("user_id", Int),
            col("text", Text),
            col("thread_root_id", Int),
            col("client_msg_id", Text),
            col("mention_flags", Int),
            col("mention_user_ids", Text),
            col("reply_count", Int),
            col("last_reply_at", Int),
            col("pinned_at", Int),
            col("pinned_by", Int),
            col("created_at", Int),
            col("edited_at", Int),
            col("deleted_at", Int),
        ],
        sqlite_order: "id",
        pg_order: "id",
        identity: true,
        since: 1,
    },
    Table {
        name: "reactions",
        columns: &[
            col("message_id", Int),
            col("emoji", Text),
            col("user_id", Int),
            col("created_at", Int),
        ],
        sqlite_order: "message_id, emoji COLLATE BINARY, user_id",
        pg_order: "message_id, emoji COLLATE \"C\", user_id",
        identity: false,
        since: 1,
    },
    Table {
        name: "mentions",
        columns: &[
            col("user_id", Int),
            col("channel_id", Int),
            col("seq", Int),
            col("message_id", Int),
        ],
        sqlite_order: "user_id, channel_id, seq",
        pg_order: "user_id, channel_id, seq",
        identity: false,
        since: 1,
    },
    Table {
        name: "files",
        columns: &[
            col("id", Int),
            col("uploader_id", Int),
            col("name", Text),
            col("size", Int),
            col("content_type", Text),
            col("width", Int),
            col("height", Int),
            col("thumb_width", Int),
            col("thumb_height", Int),
            col("thumb_type", Text),
            col("object", Text),
            col("thumb_object", Text),
            col("key_id", Text),
            col("wrapped_key", Blob),
            col("created_at", Int),
            col("attached_at", Int),
            Column {
                name: "preview_sealed",
                ty: Blob,
                // Older versions kept plain previews, which are not copied.
                since: (5, "NULL"),
            },
        ],
        sqlite_order: "id",
        pg_order: "id",
        identity: true,
        since: 4,
    },
    Table {
        name: "message_files",
        columns: &[col("message_id", Int), col("file_id", Int)],
        sqlite_order: "message_id, file_id",
        pg_order: "message_id, file_id",
        identity: false,
        since: 4,
    },
    Table {
        name: "events",
        columns: &[
            col("position", Int),
            col("kind", Text),
            col("channel_id", Int),
            col("user_id", Int),
            col("actor_id", Int),
            col("message_id", Int),
            col("extra", Text),
            col("created_at", Int),
        ],
        sqlite_order: "position",
        // Unnumbered rows (there should be none) last, so they show as a difference.
        pg_order: "position NULLS LAST, id",
        identity: true,
        since: 1,
    },
];

impl Table {
    fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|c| c.name)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The SELECT that renders the table from a SQLite database of schema `version`.
    fn sqlite_select(&self, version: i64) -> String {
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

    fn pg_select(&self) -> String {
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
enum Value {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    fn size(&self) -> usize {
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

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A table's rows and checksum, accumulated row by row.
struct TableDigest {
    rows: u64,
    hash: Sha256,
}

impl TableDigest {
    fn new() -> Self {
        TableDigest {
            rows: 0,
            hash: Sha256::new(),
        }
    }

    fn row(&mut self, values: &[Value]) {
        self.rows += 1;
        for v in values {
            render(&mut self.hash, v);
        }
    }

    fn finish(self) -> (u64, String) {
        (self.rows, hex(&self.hash.finalize()))
    }
}

// ---------------------------------------------------------------------------------------------
// The SQLite side: one thread, one read transaction

/// What the SQLite thread learned before copying.
struct Meta {
    version: i64,
    /// Rows per table, in [`TABLES`] order.
    totals: Vec<u64>,
    /// The last position ever assigned (the newest event, or what `sqlite_sequence` keeps).
    last_position: i64,
    /// `sqlite_sequence`: the largest id an AUTOINCREMENT table ever handed out.
    sequences: HashMap<String, i64>,
}

enum FromSqlite {
    Meta(Meta),
    /// Rows of table `.0`, in primary-key order.
    Rows(usize, Vec<Vec<Value>>),
    /// Table `.0`'s row count and checksum, read again from the snapshot.
    Checksum(usize, u64, String),
}

type Sender = mpsc::Sender<Result<FromSqlite>>;

fn not_enclave(path: &Path, reason: impl Into<String>) -> Error {
    Error::NotEnclave {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// Opens the database read-only and checks it is an Enclave database.
fn open_sqlite(path: &Path) -> Result<Connection> {
    if !path.is_file() {
        return Err(not_enclave(path, "no such file"));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| not_enclave(path, e.to_string()))?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.execute_batch("PRAGMA query_only = ON")?;
    Ok(conn)
}

/// Checks the schema inside the snapshot; returns its version.
fn check_schema(conn: &Connection, path: &Path) -> Result<i64> {
    let version: i64 = match conn.query_row("PRAGMA user_version", [], |r| r.get(0)) {
        Ok(v) => v,
        Err(e) => return Err(not_enclave(path, e.to_string())),
    };
    let mut tables = Vec::new();
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .map_err(|e| not_enclave(path, e.to_string()))?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        tables.push(row.get::<_, String>(0)?);
    }
    // Tables of the first schema identify an Enclave database whatever its version says.
    let missing: Vec<&str> = TABLES
        .iter()
        .filter(|t| t.since <= version.max(1))
        .map(|t| t.name)
        .filter(|name| !tables.iter().any(|t| t == name))
        .collect();
    if !missing.is_empty() {
        return Err(not_enclave(
            path,
            format!("missing tables: {}", missing.join(", ")),
        ));
    }
    if !(1..=SCHEMA_VERSION).contains(&version) {
        return Err(Error::UnknownSchema {
            path: path.to_owned(),
            version,
            known: SCHEMA_VERSION,
        });
    }
    for table in TABLES.iter().filter(|t| t.since <= version) {
        let mut stmt = conn.prepare("SELECT name FROM pragma_table_info(?1)")?;
        let present: Vec<String> = stmt
            .query_map([table.name], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for c in table.columns.iter().filter(|c| c.since.0 <= version) {
            if !present.iter().any(|p| p == c.name) {
                return Err(not_enclave(
                    path,
                    format!(
                        "table {} has no column {} (schema version {version})",
                        table.name, c.name
                    ),
                ));
            }
        }
    }
    Ok(version)
}

fn read_value(table: &Table, col: &Column, v: ValueRef<'_>) -> Result<Value> {
    let bad = |what: &str| Error::BadData {
        table: table.name,
        reason: format!("column {} holds {what}", col.name),
    };
    Ok(match (col.ty, v) {
        (_, ValueRef::Null) => Value::Null,
        (Ty::Int, ValueRef::Integer(i)) => Value::Int(i),
        (Ty::Bool, ValueRef::Integer(i @ (0 | 1))) => Value::Int(i),
        (Ty::Bool, ValueRef::Integer(i)) => return Err(bad(&format!("{i}, not 0 or 1"))),
        (Ty::Text, ValueRef::Text(t)) => match std::str::from_utf8(t) {
            Ok(s) if !s.contains('\0') => Value::Text(s.to_owned()),
            Ok(_) => return Err(bad("text with a NUL character")),
            Err(_) => return Err(bad("text that is not UTF-8")),
        },
        (Ty::Blob, ValueRef::Blob(b)) => Value::Blob(b.to_vec()),
        (_, other) => return Err(bad(&format!("a value of type {}", other.data_type()))),
    })
}

/// Runs `each` on every row of `table` in primary-key order.
fn scan(
    conn: &Connection,
    table: &Table,
    version: i64,
    mut each: impl FnMut(Vec<Value>) -> Result<bool>,
) -> Result<()> {
    if table.since > version {
        return Ok(());
    }
    let mut stmt = conn.prepare(&table.sqlite_select(version))?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let mut values = Vec::with_capacity(table.columns.len());
        for (i, c) in table.columns.iter().enumerate() {
            values.push(read_value(table, c, row.get_ref(i)?)?);
        }
        if !each(values)? {
            break;
        }
    }
    Ok(())
}

/// The SQLite thread: everything it sends comes from one read transaction.
fn sqlite_reader(path: &Path, copy: bool, tx: &Sender) -> Result<()> {
    let conn = open_sqlite(path)?;
    conn.execute_batch("BEGIN")?;
    let result = read_snapshot(&conn, path, copy, tx);
    let _ = conn.execute_batch("COMMIT");
    result
}

fn read_snapshot(conn: &Connection, path: &Path, copy: bool, tx: &Sender) -> Result<()> {
    let version = check_schema(conn, path)?;
    let mut totals = Vec::with_capacity(TABLES.len());
    for t in TABLES {
        if t.since > version {
            totals.push(0);
            continue;
        }
        let n: i64 = conn.query_row(&format!("SELECT count(*) FROM {}", t.name), [], |r| {
            r.get(0)
        })?;
        totals.push(u64::try_from(n).unwrap_or(0));
    }
    let mut sequences = HashMap::new();
    {
        let mut stmt = conn.prepare("SELECT name, seq FROM sqlite_sequence")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            sequences.insert(row.get::<_, String>(0)?, row.get::<_, i64>(1)?);
        }
    }
    let newest: i64 = conn.query_row("SELECT coalesce(max(position), 0) FROM events", [], |r| {
        r.get(0)
    })?;
    let last_position = newest.max(sequences.get("events").copied().unwrap_or(0));
    let send = |m: FromSqlite| tx.blocking_send(Ok(m)).is_ok();
    if !send(FromSqlite::Meta(Meta {
        version,
        totals,
        last_position,
        sequences,
    })) {
        return Ok(());
    }
    // The copy.
    for (i, table) in TABLES.iter().enumerate().filter(|_| copy) {
        let mut batch = Vec::new();
        let mut bytes = 0;
        let mut open = true;
        scan(conn, table, version, |row| {
            bytes += row.iter().map(Value::size).sum::<usize>();
            batch.push(row);
            if batch.len() >= BATCH_ROWS || bytes >= BATCH_BYTES {
                bytes = 0;
                open = send(FromSqlite::Rows(i, std::mem::take(&mut batch)));
            }
            Ok(open)
        })?;
        if !open || (!batch.is_empty() && !send(FromSqlite::Rows(i, batch))) {
            return Ok(());
        }
    }
    // The verification: read everything again from the same snapshot.
    for (i, table) in TABLES.iter().enumerate() {
        let mut digest = TableDigest::new();
        scan(conn, table, version, |row| {
            digest.row(&row);
            Ok(true)
        })?;
        let (rows, sum) = digest.finish();
        if !send(FromSqlite::Checksum(i, rows, sum)) {
            return Ok(());
        }
    }
    Ok(())
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

async fn next(rx: &mut mpsc::Receiver<Result<FromSqlite>>) -> Result<FromSqlite> {
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

/// Steps 2 to 5 of the module docs, in one transaction.
async fn copy(
    conn: &mut PgConnection,
    rx: &mut mpsc::Receiver<Result<FromSqlite>>,
    meta: &Meta,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<(usize, u64, String)> {
    let mut tx = conn
        .begin_with("BEGIN ISOLATION LEVEL READ COMMITTED")
        .await?;
    query::<Postgres>(AssertSqlSafe(format!(
        "SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"
    )))
    .execute(&mut *tx)
    .await?;
    let names = TABLES.iter().map(|t| t.name).collect::<Vec<_>>().join(", ");
    query::<Postgres>(AssertSqlSafe(format!(
        "LOCK TABLE {names}, event_counter IN ACCESS EXCLUSIVE MODE"
    )))
    .execute(&mut *tx)
    .await?;

    // Refuse a target with data.
    let mut found = Vec::new();
    for t in TABLES {
        let row = query::<Postgres>(AssertSqlSafe(format!(
            "SELECT count(*) FROM (SELECT 1 FROM {} LIMIT 1000) AS t",
            t.name
        )))
        .fetch_one(&mut *tx)
        .await?;
        let n: i64 = row.try_get(0)?;
        if n > 0 {
            found.push(format!(
                "{}: {}{n} rows",
                t.name,
                if n >= 1000 { "at least " } else { "" }
            ));
        }
    }
    let counter: i64 = query::<Postgres>("SELECT last FROM event_counter WHERE id = 1")
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
    if counter != 0 {
        found.push(format!("event positions assigned up to {counter}"));
    }
    if !found.is_empty() {
        let _ = tx.rollback().await;
        return Err(Error::TargetNotEmpty(found.join(", ")));
    }

    // The rows, table after table (as the reader sends them).
    let mut steps = Steps::new(meta, progress);
    let inserts: Vec<String> = TABLES.iter().map(Table::pg_insert).collect();
    let first_checksum = loop {
        match next(rx).await? {
            FromSqlite::Rows(i, rows) => {
                steps.reach(i);
                let n = rows.len() as u64;
                insert(&mut tx, &TABLES[i], &inserts[i], rows).await?;
                steps.add(i, n);
            }
            FromSqlite::Checksum(i, rows, sum) => break (i, rows, sum),
            FromSqlite::Meta(_) => return Err(Error::Reader("a second summary".into())),
        }
    };
    steps.reach(TABLES.len());

    // Id sequences past the copied ids (and past what SQLite's AUTOINCREMENT remembers).
    for t in TABLES.iter().filter(|t| t.identity) {
        let max_id: i64 = query::<Postgres>(AssertSqlSafe(format!(
            "SELECT coalesce(max(id), 0) FROM {}",
            t.name
        )))
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        let remembered = meta.sequences.get(t.name).copied().unwrap_or(0);
        let upto = max_id.max(remembered);
        // `setval(seq, 1, false)` makes the next id 1.
        query::<Postgres>("SELECT setval(pg_get_serial_sequence($1, 'id'), $2, $3)")
            .bind(t.name)
            .bind(upto.max(1))
            .bind(upto >= 1)
            .execute(&mut *tx)
            .await?;
    }
    // The search index is derived data: built from the copied messages, not copied.
    crate::postgres::ops::index_all(&mut tx)
        .await
        .map_err(|e| Error::SearchIndex(e.to_string()))?;
    // Positions continue after the last one SQLite assigned.
    query::<Postgres>("UPDATE event_counter SET last = $1 WHERE id = 1")
        .bind(meta.last_position)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(first_checksum)
}

/// Copy progress: each table starts (0 rows) when its turn comes, advances with each batch,
/// and ends (all rows) before the next one starts, in table order.
struct Steps<'a> {
    totals: &'a [u64],
    progress: &'a (dyn Fn(Progress) + Sync),
    /// The table being copied; those before it are done.
    current: usize,
    started: bool,
    done: u64,
}

impl<'a> Steps<'a> {
    fn new(meta: &'a Meta, progress: &'a (dyn Fn(Progress) + Sync)) -> Self {
        Steps {
            totals: &meta.totals,
            progress,
            current: 0,
            started: false,
            done: 0,
        }
    }

    fn emit(&self) {
        (self.progress)(Progress {
            phase: Phase::Copy,
            table: TABLES[self.current].name,
            done: self.done,
            total: self.totals[self.current],
        });
    }

    /// Ends every table before `i` and starts table `i` (if there is one). A table with rows
    /// ended with its last batch; an empty one ends as it starts.
    fn reach(&mut self, i: usize) {
        while self.current < i.min(TABLES.len()) {
            if !self.started {
                self.emit();
            }
            self.current += 1;
            self.started = false;
            self.done = 0;
        }
        if self.current < TABLES.len() && !self.started {
            self.started = true;
            self.emit();
        }
    }

    fn add(&mut self, i: usize, n: u64) {
        debug_assert_eq!(i, self.current);
        self.done += n;
        self.emit();
    }
}

/// Inserts one batch of `table`'s rows.
async fn insert(
    tx: &mut PgConnection,
    table: &Table,
    sql: &str,
    rows: Vec<Vec<Value>>,
) -> Result<()> {
    let bad = |reason: String| Error::BadData {
        table: table.name,
        reason,
    };
    let mut q = query::<Postgres>(AssertSqlSafe(sql.to_owned()));
    for (c, column) in table.columns.iter().enumerate() {
        let cell = |row: &Vec<Value>| row.get(c).cloned().unwrap_or(Value::Null);
        match column.ty {
            Ty::Int => {
                let v = rows
                    .iter()
                    .map(|r| match cell(r) {
                        Value::Null => Ok(None),
                        Value::Int(i) => Ok(Some(i)),
                        other => Err(bad(format!("{}: {other:?}", column.name))),
                    })
                    .collect::<Result<Vec<Option<i64>>>>()?;
                q = q.bind(v);
            }
            Ty::Bool => {
                let v = rows
                    .iter()
                    .map(|r| match cell(r) {
                        Value::Null => Ok(None),
                        Value::Int(i) => Ok(Some(i != 0)),
                        other => Err(bad(format!("{}: {other:?}", column.name))),
                    })
                    .collect::<Result<Vec<Option<bool>>>>()?;
                q = q.bind(v);
            }
            Ty::Text => {
                let v = rows
                    .iter()
                    .map(|r| match cell(r) {
                        Value::Null => Ok(None),
                        Value::Text(s) => Ok(Some(s)),
                        other => Err(bad(format!("{}: {other:?}", column.name))),
                    })
                    .collect::<Result<Vec<Option<String>>>>()?;
                q = q.bind(v);
            }
            Ty::Blob => {
                let v = rows
                    .iter()
                    .map(|r| match cell(r) {
                        Value::Null => Ok(None),
                        Value::Blob(b) => Ok(Some(b)),
                        other => Err(bad(format!("{}: {other:?}", column.name))),
                    })
                    .collect::<Result<Vec<Option<Vec<u8>>>>>()?;
                q = q.bind(v);
            }
        }
    }
    let n = q.execute(&mut *tx).await?.rows_affected();
    if n != rows.len() as u64 {
        return Err(bad(format!("{} rows sent, {n} inserted", rows.len())));
    }
    Ok(())
}

/// Reads a PostgreSQL row in the canonical form.
fn pg_values(table: &Table, row: &PgRow) -> Result<Vec<Value>> {
    let mut out = Vec::with_capacity(table.columns.len());
    for (i, c) in table.columns.iter().enumerate() {
        out.push(match c.ty {
            Ty::Int => row
                .try_get::<Option<i64>, _>(i)?
                .map_or(Value::Null, Value::Int),
            Ty::Bool => row
                .try_get::<Option<bool>, _>(i)?
                .map_or(Value::Null, |b| Value::Int(i64::from(b))),
            Ty::Text => row
                .try_get::<Option<String>, _>(i)?
                .map_or(Value::Null, Value::Text),
            Ty::Blob => row
                .try_get::<Option<Vec<u8>>, _>(i)?
                .map_or(Value::Null, Value::Blob),
        });
    }
    Ok(out)
}

/// Step 6 of the module docs: read the target back and compare with the SQLite checksums.
async fn verify(
    conn: &mut PgConnection,
    rx: &mut mpsc::Receiver<Result<FromSqlite>>,
    meta: &Meta,
    first_checksum: (usize, u64, String),
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Report> {
    let mut tx = conn
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await?;
    let mut postgres = Vec::with_capacity(TABLES.len());
    for (i, table) in TABLES.iter().enumerate() {
        let total = meta.totals[i];
        progress(Progress {
            phase: Phase::Verify,
            table: table.name,
            done: 0,
            total,
        });
        let mut digest = TableDigest::new();
        {
            let mut rows = query::<Postgres>(AssertSqlSafe(table.pg_select())).fetch(&mut *tx);
            while let Some(row) = rows.next().await {
                digest.row(&pg_values(table, &row?)?);
                if digest.rows.is_multiple_of(1000) {
                    progress(Progress {
                        phase: Phase::Verify,
                        table: table.name,
                        done: digest.rows,
                        total,
                    });
                }
            }
        }
        let (rows, sum) = digest.finish();
        progress(Progress {
            phase: Phase::Verify,
            table: table.name,
            done: rows,
            total,
        });
        postgres.push((rows, sum));
    }
    let counter: i64 = query::<Postgres>("SELECT last FROM event_counter WHERE id = 1")
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
    let mut sequence_problems = Vec::new();
    for t in TABLES.iter().filter(|t| t.identity) {
        let seq: String = query::<Postgres>("SELECT pg_get_serial_sequence($1, 'id')")
            .bind(t.name)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        let row = query::<Postgres>(AssertSqlSafe(format!(
            "SELECT s.last_value, s.is_called, (SELECT coalesce(max(id), 0) FROM {}) FROM {seq} AS s",
            t.name
        )))
        .fetch_one(&mut *tx)
        .await?;
        let (last, called, max_id): (i64, bool, i64) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        let next_id = if called { last + 1 } else { last };
        if next_id <= max_id {
            sequence_problems.push(format!(
                "{}: the next id would be {next_id}, but ids go up to {max_id}",
                t.name
            ));
        }
    }
    tx.commit().await?;

    // The SQLite side's checksums (computed by the reader thread meanwhile).
    let mut sqlite: Vec<Option<(u64, String)>> = vec![None; TABLES.len()];
    let (i, rows, sum) = first_checksum;
    sqlite[i] = Some((rows, sum));
    while sqlite.iter().any(Option::is_none) {
        match next(rx).await? {
            FromSqlite::Checksum(i, rows, sum) => sqlite[i] = Some((rows, sum)),
            _ => return Err(Error::Reader("rows after the checksums".into())),
        }
    }
    let tables = TABLES
        .iter()
        .zip(sqlite)
        .zip(postgres)
        .map(|((t, s), (postgres_rows, postgres_checksum))| {
            let (sqlite_rows, sqlite_checksum) = s.unwrap_or_default();
            TableReport {
                table: t.name,
                matches: sqlite_rows == postgres_rows && sqlite_checksum == postgres_checksum,
                sqlite_rows,
                postgres_rows,
                sqlite_checksum,
                postgres_checksum,
            }
        })
        .collect();
    Ok(Report {
        schema_version: meta.version,
        tables,
        sqlite_last_position: meta.last_position,
        postgres_event_counter: counter,
        sequence_problems,
        elapsed: Duration::ZERO,
    })
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
                .contains(", status_text, dnd FROM users")
        );
        // Every table of the SQLite schema is copied.
        let schema = concat!(
            include_str!("sqlite/schema.sql"),
            include_str!("sqlite/schema_2.sql"),
            include_str!("sqlite/schema_3.sql"),
            include_str!("sqlite/schema_4.sql")
        );
        let created = schema.matches("CREATE TABLE ").count();
        assert_eq!(created, TABLES.len());
    }

    /// Every column of every table of the newest SQLite schema is copied, in schema order.
    #[test]
    fn every_column_is_copied() {
        let conn = Connection::open_in_memory().expect("open");
        conn.execute_batch(include_str!("sqlite/schema.sql"))
            .expect("schema 1");
        conn.execute_batch(include_str!("sqlite/schema_2.sql"))
            .expect("schema 2");
        conn.execute_batch(include_str!("sqlite/schema_3.sql"))
            .expect("schema 3");
        conn.execute_batch(include_str!("sqlite/schema_4.sql"))
            .expect("schema 4");
        conn.execute_batch(include_str!("sqlite/schema_5.sql"))
            .expect("schema 5");
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
