//! The PostgreSQL side of a migration: the copy in one transaction (steps 2 to 5 of the
//! module docs of `migrate`) and the verification that reads the committed rows back (step 6).

use super::*;

/// Steps 2 to 5 of the module docs, in one transaction.
pub(crate) async fn copy(
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
    crate::postgres::index_all(&mut tx)
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
pub(crate) fn pg_values(table: &Table, row: &PgRow) -> Result<Vec<Value>> {
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
pub(crate) async fn verify(
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
