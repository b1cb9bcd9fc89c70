//! The SQLite side of a migration: one thread reads the source in one read transaction (a
//! snapshot), checks its schema, and sends its rows and checksums to the copy.

use super::*;

/// What the SQLite thread learned before copying.
pub(crate) struct Meta {
    pub(crate) version: i64,
    /// Rows per table, in [`TABLES`] order.
    pub(crate) totals: Vec<u64>,
    /// The last position ever assigned (the newest event, or what `sqlite_sequence` keeps).
    pub(crate) last_position: i64,
    /// `sqlite_sequence`: the largest id an AUTOINCREMENT table ever handed out.
    pub(crate) sequences: HashMap<String, i64>,
}

pub(crate) enum FromSqlite {
    Meta(Meta),
    /// Rows of table `.0`, in primary-key order.
    Rows(usize, Vec<Vec<Value>>),
    /// Table `.0`'s row count and checksum, read again from the snapshot.
    Checksum(usize, u64, String),
}

pub(crate) type Sender = mpsc::Sender<Result<FromSqlite>>;

fn not_enclave(path: &Path, reason: impl Into<String>) -> Error {
    Error::NotEnclave {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// Opens the database read-only and checks it is an Enclave database.
pub(crate) fn open_sqlite(path: &Path) -> Result<Connection> {
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
pub(crate) fn check_schema(conn: &Connection, path: &Path) -> Result<i64> {
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
pub(crate) fn scan(
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
pub(crate) fn sqlite_reader(path: &Path, copy: bool, tx: &Sender) -> Result<()> {
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
