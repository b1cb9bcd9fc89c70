//! Backups of the database that any backend can restore: [`dump`] writes one consistent snapshot
//! of every table of the [catalogue](crate::catalog) as compressed parts, [`verify_parts`] checks
//! them, and [`restore`] fills an empty SQLite or PostgreSQL database from them.
//!
//! # The parts
//!
//! One part per table, `tables/NAME.jsonl.gz`: gzip of JSON lines, one line per row in
//! primary-key order, each a JSON array of the row's columns in catalogue order: `null`, an
//! integer (booleans as 0 or 1), a string for text, a string of hexadecimal digits for a blob.
//! The [`Dump`] describes the parts: per table its columns, its row count, the SHA-256 of its
//! rows in the canonical rendering of `enclave migrate` (so that the same rows give the same sum
//! on either backend) and the size and SHA-256 of the part file itself.
//!
//! # Consistency
//!
//! - **SQLite**: the database is opened read-only and every table is read inside one read
//!   transaction: in WAL mode that is a snapshot of one moment, and the server goes on writing
//!   meanwhile.
//! - **PostgreSQL**: every table is read inside one `REPEATABLE READ READ ONLY` transaction.
//!   Events committed but not yet numbered by the sequencer get the next positions after the
//!   event counter, in commit order, as the sequencer would give them.
//!
//! # Restore
//!
//! [`verify_parts`] reads every part whole before anything is written: its size and SHA-256, then
//! every row decoded by the column types and summed canonically against the row checksum. Only
//! then does [`restore`] write: into SQLite, a new database file is built under a temporary name
//! in one transaction and renamed into place once it is complete and read back; into PostgreSQL,
//! through the copy of `enclave migrate` (one transaction, every table locked, an empty target
//! required) and its verification, which reads every table back.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use futures_util::StreamExt;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use sqlx_core::connection::{ConnectOptions, Connection as _};
use sqlx_core::query::query;
use sqlx_core::row::Row;
use sqlx_core::sql_str::AssertSqlSafe;
use sqlx_postgres::{PgConnectOptions, Postgres};
use tokio::sync::mpsc;

use crate::catalog::{TABLES, Table, Ty};
use crate::migrate::source::{self, FromSqlite, Meta};
use crate::migrate::{self, BATCH_ROWS, TableDigest, Value, hex, target};
use crate::sqlite::SCHEMA_VERSION;

/// The folder of the table parts inside a backup.
pub const TABLES_DIR: &str = "tables";
/// The longest row (one line of a part) a restore accepts.
pub const MAX_ROW_BYTES: usize = 64 << 20;

/// One table's part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TablePart {
    pub table: String,
    /// The columns of every row, in order.
    pub columns: Vec<String>,
    pub rows: u64,
    /// SHA-256 of the rows in the canonical rendering (see `crate::migrate`), hexadecimal.
    pub rows_sha256: String,
    /// The part's file, relative to the backup folder.
    pub file: String,
    /// The part file's size in bytes.
    pub bytes: u64,
    /// SHA-256 of the part file, hexadecimal.
    pub sha256: String,
}

/// What [`dump`] wrote: the database half of a backup's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dump {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// The SQLite schema version the rows are rendered in (every column of the catalogue).
    pub schema_version: i64,
    /// The last event position assigned: new events continue after it.
    pub last_position: i64,
    /// The largest id each table with an id sequence ever handed out.
    pub sequences: BTreeMap<String, i64>,
    pub tables: Vec<TablePart>,
    /// The object names (files and thumbnails) the snapshot's `files` rows refer to.
    #[serde(skip)]
    pub objects: Vec<String>,
}

impl Dump {
    pub fn total_rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

/// Where a backup is read from or restored into.
#[derive(Debug, Clone)]
pub enum Database {
    /// The SQLite database file.
    Sqlite(PathBuf),
    Postgres(Box<PgConnectOptions>),
}

/// Progress of one table: rows written to the backup, checked, or restored so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub table: &'static str,
    pub done: u64,
    pub total: u64,
}

type OnProgress<'a> = &'a (dyn Fn(Progress) + Sync);

/// A failed backup or restore. A restore writes nothing before its checks pass.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Database(#[from] migrate::Error),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A part is damaged or does not match the manifest.
    #[error("{file}: {reason}")]
    BadPart { file: String, reason: String },
    /// The backup needs a newer enclave.
    #[error(
        "the backup was written by a newer enclave ({0}); restore it with that release or a later one"
    )]
    Newer(String),
    #[error("the target is not empty ({0}); restore into an empty data folder or database")]
    TargetNotEmpty(String),
    /// The restored database does not read back as the backup.
    #[error("the restored database differs from the backup: {0}")]
    Mismatch(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Database(migrate::Error::Sqlite(e))
    }
}

impl From<sqlx_core::Error> for Error {
    fn from(e: sqlx_core::Error) -> Self {
        Error::Database(migrate::Error::Postgres(e))
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

// ---------------------------------------------------------------------------------------------
// Writing parts

/// Counts and hashes the bytes written through it.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

struct PartWriter {
    table: &'static Table,
    path: PathBuf,
    out: GzEncoder<Hashing<BufWriter<File>>>,
    digest: TableDigest,
    line: Vec<u8>,
}

impl PartWriter {
    fn create(dir: &Path, table: &'static Table) -> Result<Self> {
        let rel = part_file(table);
        let path = dir.join(&rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let file = File::create(&path).map_err(io(&path))?;
        Ok(PartWriter {
            table,
            out: GzEncoder::new(
                Hashing {
                    inner: BufWriter::new(file),
                    hash: Sha256::new(),
                    bytes: 0,
                },
                Compression::default(),
            ),
            path,
            digest: TableDigest::new(),
            line: Vec::new(),
        })
    }

    fn row(&mut self, row: &[Value]) -> Result<()> {
        self.digest.row(row);
        self.line.clear();
        encode_row(row, &mut self.line);
        self.out.write_all(&self.line).map_err(io(&self.path))
    }

    fn finish(self) -> Result<TablePart> {
        let hashing = self.out.finish().map_err(io(&self.path))?;
        let file = hashing
            .inner
            .into_inner()
            .map_err(|e| io(&self.path)(e.into_error()))?;
        file.sync_all().map_err(io(&self.path))?;
        let (rows, rows_sha256) = self.digest.finish();
        Ok(TablePart {
            table: self.table.name.to_owned(),
            columns: self
                .table
                .columns
                .iter()
                .map(|c| c.name.to_owned())
                .collect(),
            rows,
            rows_sha256,
            file: part_file(self.table),
            bytes: hashing.bytes,
            sha256: hex(&hashing.hash.finalize()),
        })
    }
}

fn part_file(table: &Table) -> String {
    format!("{TABLES_DIR}/{}.jsonl.gz", table.name)
}

fn encode_row(row: &[Value], out: &mut Vec<u8>) {
    out.push(b'[');
    for (i, v) in row.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match v {
            Value::Null => out.extend_from_slice(b"null"),
            Value::Int(n) => out.extend_from_slice(n.to_string().as_bytes()),
            Value::Text(s) => {
                // Serialising a string into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut *out, s);
            }
            Value::Blob(b) => {
                out.push(b'"');
                out.extend_from_slice(hex(b).as_bytes());
                out.push(b'"');
            }
        }
    }
    out.extend_from_slice(b"]\n");
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

fn decode_row(table: &Table, line: &[u8]) -> std::result::Result<Vec<Value>, String> {
    let cells: Vec<serde_json::Value> =
        serde_json::from_slice(line).map_err(|e| format!("not a JSON array: {e}"))?;
    if cells.len() != table.columns.len() {
        return Err(format!(
            "{} values, {} columns",
            cells.len(),
            table.columns.len()
        ));
    }
    cells
        .into_iter()
        .zip(table.columns)
        .map(|(cell, c)| {
            let bad = || format!("column {} holds {cell}", c.name);
            Ok(match (c.ty, &cell) {
                (_, serde_json::Value::Null) => Value::Null,
                (Ty::Int, serde_json::Value::Number(n)) => Value::Int(n.as_i64().ok_or_else(bad)?),
                (Ty::Bool, serde_json::Value::Number(n)) => match n.as_i64() {
                    Some(b @ (0 | 1)) => Value::Int(b),
                    _ => return Err(bad()),
                },
                (Ty::Text, serde_json::Value::String(s)) if !s.contains('\0') => {
                    Value::Text(s.clone())
                }
                (Ty::Blob, serde_json::Value::String(s)) => {
                    Value::Blob(decode_hex(s).ok_or_else(bad)?)
                }
                _ => return Err(bad()),
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Dump

/// Writes one consistent snapshot of the database into `dir` (the parts under [`TABLES_DIR`]);
/// see the module docs.
pub async fn dump(source: &Database, dir: &Path, progress: OnProgress<'_>) -> Result<Dump> {
    match source {
        Database::Sqlite(path) => dump_sqlite(path, dir, progress),
        Database::Postgres(connect) => dump_postgres((**connect).clone(), dir, progress).await,
    }
}

/// The column indexes of the object names in `files`.
fn object_columns(table: &Table) -> Vec<usize> {
    if table.name != "files" {
        return Vec::new();
    }
    table
        .columns
        .iter()
        .enumerate()
        .filter(|(_, c)| c.name == "object" || c.name == "thumb_object")
        .map(|(i, _)| i)
        .collect()
}

fn collect_objects(cols: &[usize], row: &[Value], objects: &mut Vec<String>) {
    for &i in cols {
        if let Some(Value::Text(name)) = row.get(i)
            && !name.is_empty()
        {
            objects.push(name.clone());
        }
    }
}

fn dump_sqlite(path: &Path, dir: &Path, progress: OnProgress<'_>) -> Result<Dump> {
    let conn = source::open_sqlite(path)?;
    conn.execute_batch("BEGIN")?;
    let result = dump_sqlite_snapshot(&conn, path, dir, progress);
    let _ = conn.execute_batch("COMMIT");
    result
}

fn dump_sqlite_snapshot(
    conn: &Connection,
    path: &Path,
    dir: &Path,
    progress: OnProgress<'_>,
) -> Result<Dump> {
    let version = source::check_schema(conn, path)?;
    let mut sequences = BTreeMap::new();
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
    let mut tables = Vec::with_capacity(TABLES.len());
    let mut objects = Vec::new();
    for table in TABLES {
        let total: i64 = if table.since > version {
            0
        } else {
            conn.query_row(&format!("SELECT count(*) FROM {}", table.name), [], |r| {
                r.get(0)
            })?
        };
        let total = u64::try_from(total).unwrap_or(0);
        progress(Progress {
            table: table.name,
            done: 0,
            total,
        });
        let mut part = PartWriter::create(dir, table)?;
        let cols = object_columns(table);
        let mut failed = None;
        source::scan(conn, table, version, |row| {
            collect_objects(&cols, &row, &mut objects);
            if let Err(e) = part.row(&row) {
                failed = Some(e);
                return Ok(false);
            }
            if part.digest.rows.is_multiple_of(1000) {
                progress(Progress {
                    table: table.name,
                    done: part.digest.rows,
                    total,
                });
            }
            Ok(true)
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        let part = part.finish()?;
        progress(Progress {
            table: table.name,
            done: part.rows,
            total,
        });
        tables.push(part);
    }
    Ok(Dump {
        backend: "sqlite".into(),
        schema_version: SCHEMA_VERSION,
        last_position,
        sequences,
        tables,
        objects,
    })
}

async fn dump_postgres(
    connect: PgConnectOptions,
    dir: &Path,
    progress: OnProgress<'_>,
) -> Result<Dump> {
    let mut conn = connect.application_name("enclave-backup").connect().await?;
    let known = crate::postgres::migrator()
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(0);
    let applied: Option<i64> = match query::<Postgres>("SELECT max(version) FROM _sqlx_migrations")
        .fetch_one(&mut conn)
        .await
    {
        Ok(row) => row.try_get(0)?,
        Err(e) => {
            return Err(Error::Database(migrate::Error::NotEnclave {
                path: PathBuf::from("the PostgreSQL database"),
                reason: e.to_string(),
            }));
        }
    };
    if applied.unwrap_or(0) > known {
        return Err(Error::Newer(format!(
            "PostgreSQL migration {} is newer than this enclave's {known}",
            applied.unwrap_or(0)
        )));
    }
    let mut tx = conn
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await?;
    let mut last_position: i64 = query::<Postgres>("SELECT last FROM event_counter WHERE id = 1")
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
    let mut tables = Vec::with_capacity(TABLES.len());
    let mut objects = Vec::new();
    for table in TABLES {
        let total: i64 = query::<Postgres>(AssertSqlSafe(format!(
            "SELECT count(*) FROM {}",
            table.name
        )))
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        let total = u64::try_from(total).unwrap_or(0);
        progress(Progress {
            table: table.name,
            done: 0,
            total,
        });
        let mut part = PartWriter::create(dir, table)?;
        let cols = object_columns(table);
        {
            let mut rows = query::<Postgres>(AssertSqlSafe(table.pg_select())).fetch(&mut *tx);
            while let Some(row) = rows.next().await {
                let mut values = target::pg_values(table, &row?)?;
                // Committed events the sequencer has not numbered yet: the next positions.
                if table.name == "events" && values.first() == Some(&Value::Null) {
                    last_position += 1;
                    values[0] = Value::Int(last_position);
                }
                collect_objects(&cols, &values, &mut objects);
                part.row(&values)?;
                if part.digest.rows.is_multiple_of(1000) {
                    progress(Progress {
                        table: table.name,
                        done: part.digest.rows,
                        total,
                    });
                }
            }
        }
        let part = part.finish()?;
        progress(Progress {
            table: table.name,
            done: part.rows,
            total,
        });
        tables.push(part);
    }
    let mut sequences = BTreeMap::new();
    for t in TABLES.iter().filter(|t| t.identity) {
        let seq: String = query::<Postgres>("SELECT pg_get_serial_sequence($1, 'id')")
            .bind(t.name)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        let row = query::<Postgres>(AssertSqlSafe(format!(
            "SELECT last_value, is_called FROM {seq}"
        )))
        .fetch_one(&mut *tx)
        .await?;
        let (last, called): (i64, bool) = (row.try_get(0)?, row.try_get(1)?);
        let upto = if called { last } else { last - 1 };
        // Events: positions, not internal ids, are what a restore continues from.
        if t.name != "events" {
            sequences.insert(t.name.to_owned(), upto.max(0));
        }
    }
    sequences.insert("events".to_owned(), last_position);
    tx.commit().await?;
    let _ = conn.close().await;
    Ok(Dump {
        backend: "postgres".into(),
        schema_version: SCHEMA_VERSION,
        last_position,
        sequences,
        tables,
        objects,
    })
}

// ---------------------------------------------------------------------------------------------
// Verify

/// Reads the rows of a part (already checked by [`verify_parts`]), in batches.
fn read_part(
    dir: &Path,
    part: &TablePart,
    table: &Table,
    mut each: impl FnMut(Vec<Value>) -> Result<()>,
) -> Result<(u64, String)> {
    let path = dir.join(&part.file);
    let file = File::open(&path).map_err(io(&path))?;
    let mut reader = BufReader::new(GzDecoder::new(BufReader::new(file)));
    let mut digest = TableDigest::new();
    let mut line = Vec::new();
    let bad = |reason: String| Error::BadPart {
        file: part.file.clone(),
        reason,
    };
    loop {
        line.clear();
        let n = (&mut reader)
            .take(MAX_ROW_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| bad(format!("cannot be read: {e}")))?;
        if n == 0 {
            break;
        }
        if line.last() != Some(&b'\n') {
            return Err(bad(if n > MAX_ROW_BYTES {
                format!("a row longer than {MAX_ROW_BYTES} bytes")
            } else {
                "the last row is cut short".into()
            }));
        }
        let row = decode_row(table, &line[..line.len() - 1])
            .map_err(|e| bad(format!("row {}: {e}", digest.rows + 1)))?;
        digest.row(&row);
        each(row)?;
    }
    Ok(digest.finish())
}

fn file_sha256(path: &Path) -> Result<(u64, String)> {
    let mut file = File::open(path).map_err(io(path))?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        bytes += n as u64;
    }
    Ok((bytes, hex(&hash.finalize())))
}

/// The SHA-256 (hexadecimal) and size of a file, for the parts a backup adds beside the tables.
pub fn sha256_file(path: &Path) -> Result<(u64, String)> {
    file_sha256(path)
}

/// Checks the database half of a backup without writing anything: every table is one this
/// build knows with the same columns, and every part has its size and SHA-256 and decodes to
/// its row count and row checksum. `progress` reports the rows checked.
pub fn verify_parts(dir: &Path, dump: &Dump, progress: OnProgress<'_>) -> Result<()> {
    if dump.schema_version > SCHEMA_VERSION {
        return Err(Error::Newer(format!(
            "schema version {}, this enclave knows up to {SCHEMA_VERSION}",
            dump.schema_version
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for part in &dump.tables {
        if !seen.insert(part.table.as_str()) {
            return Err(Error::BadPart {
                file: part.file.clone(),
                reason: format!("table {} is listed twice", part.table),
            });
        }
        let table = Table::named(&part.table)
            .ok_or_else(|| Error::Newer(format!("table {} is unknown here", part.table)))?;
        let ours: Vec<&str> = table.columns.iter().map(|c| c.name).collect();
        if part.columns != ours {
            return Err(Error::BadPart {
                file: part.file.clone(),
                reason: format!(
                    "columns {} differ from this enclave's {}",
                    part.columns.join(", "),
                    ours.join(", ")
                ),
            });
        }
        if part.file != part_file(table) {
            return Err(Error::BadPart {
                file: part.file.clone(),
                reason: format!("expected the name {}", part_file(table)),
            });
        }
    }
    for part in &dump.tables {
        let Some(table) = Table::named(&part.table) else {
            continue;
        };
        let path = dir.join(&part.file);
        let (bytes, sha) = file_sha256(&path)?;
        if bytes != part.bytes || sha != part.sha256 {
            return Err(Error::BadPart {
                file: part.file.clone(),
                reason: format!(
                    "{bytes} bytes with SHA-256 {sha}; the manifest says {} bytes with {}",
                    part.bytes, part.sha256
                ),
            });
        }
        let mut done = 0;
        progress(Progress {
            table: table.name,
            done,
            total: part.rows,
        });
        let (rows, sum) = read_part(dir, part, table, |_| {
            done += 1;
            if done % 10_000 == 0 {
                progress(Progress {
                    table: table.name,
                    done,
                    total: part.rows,
                });
            }
            Ok(())
        })?;
        if rows != part.rows || sum != part.rows_sha256 {
            return Err(Error::BadPart {
                file: part.file.clone(),
                reason: format!(
                    "{rows} rows with checksum {sum}; the manifest says {} rows with {}",
                    part.rows, part.rows_sha256
                ),
            });
        }
        progress(Progress {
            table: table.name,
            done,
            total: part.rows,
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Restore

/// Whether the target holds no Enclave data (the check a restore makes before writing).
pub async fn check_empty(target: &Database) -> Result<()> {
    match target {
        Database::Sqlite(path) => {
            for p in sqlite_files(path) {
                if p.exists() {
                    return Err(Error::TargetNotEmpty(format!("{} exists", p.display())));
                }
            }
            Ok(())
        }
        Database::Postgres(connect) => {
            let mut conn = (**connect)
                .clone()
                .application_name("enclave-restore")
                .connect()
                .await?;
            let mut found = Vec::new();
            for t in TABLES {
                let exists: bool = query::<Postgres>("SELECT to_regclass($1) IS NOT NULL")
                    .bind(t.name)
                    .fetch_one(&mut conn)
                    .await?
                    .try_get(0)?;
                if !exists {
                    continue;
                }
                let any: bool = query::<Postgres>(AssertSqlSafe(format!(
                    "SELECT EXISTS (SELECT 1 FROM {})",
                    t.name
                )))
                .fetch_one(&mut conn)
                .await?
                .try_get(0)?;
                if any {
                    found.push(t.name);
                }
            }
            let _ = conn.close().await;
            if found.is_empty() {
                Ok(())
            } else {
                Err(Error::TargetNotEmpty(format!(
                    "rows in {}",
                    found.join(", ")
                )))
            }
        }
    }
}

fn sqlite_files(path: &Path) -> Vec<PathBuf> {
    let name = path.as_os_str().to_owned();
    let mut out = vec![path.to_owned()];
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut n = name.clone();
        n.push(suffix);
        out.push(PathBuf::from(n));
    }
    out
}

/// Fills the empty `target` from the parts in `dir` (checked by [`verify_parts`] first), then
/// reads every table back and compares it with the backup. Returns the rows restored per table.
pub async fn restore(
    dir: &Path,
    dump: &Dump,
    target: &Database,
    progress: OnProgress<'_>,
) -> Result<Vec<(&'static str, u64)>> {
    check_empty(target).await?;
    match target {
        Database::Sqlite(path) => restore_sqlite(dir, dump, path, progress),
        Database::Postgres(connect) => {
            restore_postgres(dir, dump, (**connect).clone(), progress).await
        }
    }
}

/// The part of each table, in catalogue order (`None` for a table the backup does not have).
fn parts_in_order(dump: &Dump) -> Vec<Option<&TablePart>> {
    TABLES
        .iter()
        .map(|t| dump.tables.iter().find(|p| p.table == t.name))
        .collect()
}

fn restore_sqlite(
    dir: &Path,
    dump: &Dump,
    path: &Path,
    progress: OnProgress<'_>,
) -> Result<Vec<(&'static str, u64)>> {
    let mut building = path.as_os_str().to_owned();
    building.push(".restoring");
    let building = PathBuf::from(building);
    for p in sqlite_files(&building) {
        if p.exists() {
            std::fs::remove_file(&p).map_err(io(&p))?;
        }
    }
    let result = build_sqlite(dir, dump, &building, progress);
    if result.is_err() {
        for p in sqlite_files(&building) {
            let _ = std::fs::remove_file(p);
        }
        return result;
    }
    std::fs::rename(&building, path).map_err(io(path))?;
    result
}

fn build_sqlite(
    dir: &Path,
    dump: &Dump,
    path: &Path,
    progress: OnProgress<'_>,
) -> Result<Vec<(&'static str, u64)>> {
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let conn = Connection::open(path)?;
    crate::sqlite::configure(&conn)?;
    crate::sqlite::migrate(&conn).map_err(|e| Error::Mismatch(e.to_string()))?;
    conn.execute_batch("PRAGMA foreign_keys = OFF; BEGIN IMMEDIATE")?;
    let filled = (|| -> Result<Vec<(&'static str, u64)>> {
        let mut counts = Vec::new();
        for (table, part) in TABLES.iter().zip(parts_in_order(dump)) {
            let Some(part) = part else {
                counts.push((table.name, 0));
                continue;
            };
            let marks = vec!["?"; table.columns.len()].join(", ");
            let mut stmt = conn.prepare(&format!(
                "INSERT INTO {} ({}) VALUES ({marks})",
                table.name,
                table.column_list()
            ))?;
            let mut done = 0u64;
            progress(Progress {
                table: table.name,
                done,
                total: part.rows,
            });
            read_part(dir, part, table, |row| {
                let params = row.iter().map(|v| match v {
                    Value::Null => rusqlite::types::Value::Null,
                    Value::Int(i) => rusqlite::types::Value::Integer(*i),
                    Value::Text(s) => rusqlite::types::Value::Text(s.clone()),
                    Value::Blob(b) => rusqlite::types::Value::Blob(b.clone()),
                });
                stmt.execute(rusqlite::params_from_iter(params))?;
                done += 1;
                if done.is_multiple_of(1000) {
                    progress(Progress {
                        table: table.name,
                        done,
                        total: part.rows,
                    });
                }
                Ok(())
            })?;
            progress(Progress {
                table: table.name,
                done,
                total: part.rows,
            });
            counts.push((table.name, done));
        }
        // Positions continue after the last one the source assigned.
        conn.execute(
            "INSERT INTO sqlite_sequence (name, seq) SELECT 'events', 0
              WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'events')",
            [],
        )?;
        conn.execute(
            "UPDATE sqlite_sequence SET seq = max(seq, ?1) WHERE name = 'events'",
            [dump.last_position],
        )?;
        crate::sqlite::rebuild_derived(&conn).map_err(|e| Error::Mismatch(e.to_string()))?;
        let dangling: Option<String> = conn
            .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
            .ok();
        if let Some(table) = dangling {
            return Err(Error::Mismatch(format!("a dangling reference in {table}")));
        }
        Ok(counts)
    })();
    match filled {
        Ok(counts) => {
            conn.execute_batch("COMMIT; PRAGMA foreign_keys = ON")?;
            // Read back from the committed file, in one read transaction.
            conn.execute_batch("BEGIN")?;
            let checked = check_sqlite(&conn, dump);
            let _ = conn.execute_batch("COMMIT");
            checked?;
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            drop(conn);
            Ok(counts)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

fn check_sqlite(conn: &Connection, dump: &Dump) -> Result<()> {
    for (table, part) in TABLES.iter().zip(parts_in_order(dump)) {
        let mut digest = TableDigest::new();
        source::scan(conn, table, SCHEMA_VERSION, |row| {
            digest.row(&row);
            Ok(true)
        })?;
        let (rows, sum) = digest.finish();
        let (want_rows, want_sum) = match part {
            Some(p) => (p.rows, p.rows_sha256.clone()),
            None => TableDigest::new().finish(),
        };
        if rows != want_rows || sum != want_sum {
            return Err(Error::Mismatch(format!(
                "{}: {rows} rows read back, {want_rows} in the backup",
                table.name
            )));
        }
    }
    Ok(())
}

async fn restore_postgres(
    dir: &Path,
    dump: &Dump,
    connect: PgConnectOptions,
    progress: OnProgress<'_>,
) -> Result<Vec<(&'static str, u64)>> {
    let parts = parts_in_order(dump);
    let meta = Meta {
        version: SCHEMA_VERSION,
        totals: parts.iter().map(|p| p.map_or(0, |p| p.rows)).collect(),
        last_position: dump.last_position,
        sequences: dump
            .sequences
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect::<HashMap<_, _>>(),
    };
    let (tx, mut rx) = mpsc::channel::<migrate::Result<FromSqlite>>(4);
    let owned: Vec<Option<TablePart>> = parts.iter().map(|p| p.cloned()).collect();
    let dir_owned = dir.to_owned();
    let reader = std::thread::Builder::new()
        .name("enclave-restore-reader".into())
        .spawn(move || {
            if let Err(e) = feed(&dir_owned, &owned, &tx) {
                let _ = tx.blocking_send(Err(migrate::Error::Reader(e.to_string())));
            }
        })
        .map_err(|e| Error::Mismatch(e.to_string()))?;
    let report = async {
        let mut conn = connect
            .application_name("enclave-restore")
            .connect()
            .await?;
        crate::postgres::migrator()
            .run(&mut conn)
            .await
            .map_err(migrate::Error::from)?;
        let each = |p: migrate::Progress| {
            if p.phase == migrate::Phase::Copy {
                progress(Progress {
                    table: p.table,
                    done: p.done,
                    total: p.total,
                });
            }
        };
        let first = target::copy(&mut conn, &mut rx, &meta, &each).await?;
        let report = target::verify(&mut conn, &mut rx, &meta, first, &|_| {}).await?;
        let _ = conn.close().await;
        Ok::<_, Error>(report)
    }
    .await;
    drop(rx);
    let _ = tokio::task::spawn_blocking(move || reader.join()).await;
    let report = report?;
    if !report.ok() {
        let mut problems: Vec<String> = report
            .tables
            .iter()
            .filter(|t| !t.matches)
            .map(|t| {
                format!(
                    "{}: {} rows in the backup, {} read back",
                    t.table, t.sqlite_rows, t.postgres_rows
                )
            })
            .collect();
        problems.extend(report.sequence_problems.iter().cloned());
        if report.sqlite_last_position != report.postgres_event_counter {
            problems.push(format!(
                "event counter {} instead of {}",
                report.postgres_event_counter, report.sqlite_last_position
            ));
        }
        return Err(Error::Mismatch(problems.join("; ")));
    }
    Ok(report
        .tables
        .iter()
        .map(|t| (t.table, t.postgres_rows))
        .collect())
}

/// The reading thread of a restore into PostgreSQL: every part's rows in batches, then every
/// table's checksum from the manifest (which the verification compares with what it reads back).
fn feed(
    dir: &Path,
    parts: &[Option<TablePart>],
    tx: &mpsc::Sender<migrate::Result<FromSqlite>>,
) -> Result<()> {
    for (i, (table, part)) in TABLES.iter().zip(parts).enumerate() {
        let Some(part) = part else { continue };
        let mut batch = Vec::new();
        let sent = read_part(dir, part, table, |row| {
            batch.push(row);
            if batch.len() >= BATCH_ROWS
                && tx
                    .blocking_send(Ok(FromSqlite::Rows(i, std::mem::take(&mut batch))))
                    .is_err()
            {
                return Err(Error::Mismatch("stopped".into()));
            }
            Ok(())
        });
        if sent.is_err() && tx.is_closed() {
            return Ok(());
        }
        sent?;
        if !batch.is_empty() && tx.blocking_send(Ok(FromSqlite::Rows(i, batch))).is_err() {
            return Ok(());
        }
    }
    for (i, part) in parts.iter().enumerate() {
        let (rows, sum) = match part {
            Some(p) => (p.rows, p.rows_sha256.clone()),
            None => TableDigest::new().finish(),
        };
        if tx
            .blocking_send(Ok(FromSqlite::Checksum(i, rows, sum)))
            .is_err()
        {
            return Ok(());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip() {
        let files = Table::named("files").expect("files");
        let row: Vec<Value> = files
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| match c.ty {
                Ty::Int | Ty::Bool if i % 3 == 0 => Value::Null,
                Ty::Int => Value::Int(i64::MIN + i as i64),
                Ty::Bool => Value::Int(1),
                Ty::Text => Value::Text(format!("名前 \"{i}\"\n\u{1F600}")),
                Ty::Blob => Value::Blob(vec![0, 255, i as u8]),
            })
            .collect();
        let mut line = Vec::new();
        encode_row(&row, &mut line);
        assert_eq!(line.last(), Some(&b'\n'));
        let back = decode_row(files, &line[..line.len() - 1]).expect("decodes");
        assert_eq!(back, row);
        assert!(decode_row(files, b"[1]").is_err());
        assert!(decode_row(files, b"not json").is_err());
        assert_eq!(decode_hex("0aff"), Some(vec![10, 255]));
        assert_eq!(decode_hex("0g"), None);
        assert_eq!(decode_hex("abc"), None);
    }
}
