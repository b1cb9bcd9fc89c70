//! `enclave migrate`: moves an embedded installation (SQLite) to PostgreSQL, so that it can
//! grow to several nodes without losing a message.
//!
//! ```text
//! enclave migrate --from sqlite:/var/lib/enclave/enclave.db --to postgres://enclave:PASSWORD@db/enclave
//! ```
//!
//! `--from` defaults to this installation's database (the data folder's `enclave.db`, or
//! `database.url` when that is `sqlite:PATH`); `--to` defaults to `database.url` when that is
//! PostgreSQL, which keeps the password out of the process list
//! (`ENCLAVE_DATABASE__URL=postgres://... enclave migrate`).
//!
//! The copy is `enclave_store::migrate::sqlite_to_postgres` (its docs say exactly what is
//! copied and how it is verified): the target must be empty, the copy is one transaction, and
//! every table is then read back from PostgreSQL and compared with the SQLite snapshot by row
//! count and checksum. The command shows a progress bar per table (plain lines when standard
//! error is not a terminal), prints the verification report as a table, and exits non-zero
//! when anything differs. `--verify-only` repeats the verification of an earlier copy.
//!
//! The server may keep running during a trial copy (the copy reads one consistent snapshot),
//! but messages sent after that snapshot are not in it: stop every `enclave` process for the
//! final copy, then start them with `database.url` set to the PostgreSQL database.

use std::collections::{HashMap, HashSet};
use std::io::{IsTerminal, Write as _};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use enclave_store::migrate::{self, Phase, Progress, Report};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::config::{Config, mask_url};

#[derive(clap::Args, Debug)]
pub struct MigrateArgs {
    /// The SQLite database to copy, as `sqlite:PATH` (or a plain path). Default: this
    /// installation's database.
    #[arg(long, value_name = "sqlite:PATH")]
    pub from: Option<String>,
    /// The PostgreSQL database to copy into, `postgres://USER:PASSWORD@HOST:PORT/DB`; it must
    /// be empty. Default: `database.url`, when it names a PostgreSQL database.
    #[arg(long, value_name = "postgres://...")]
    pub to: Option<String>,
    /// Only verify an earlier copy against the SQLite database; change nothing.
    #[arg(long)]
    pub verify_only: bool,
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// A URL fit for printing: the password hidden, in the user part and in the query string.
pub fn masked(url: &str) -> String {
    let url = mask_url(url);
    let Some((base, query)) = url.split_once('?') else {
        return url;
    };
    let query = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=****"),
            _ => kv.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&");
    format!("{base}?{query}")
}

/// The SQLite file named by `--from`, or this installation's.
fn source(from: Option<&str>, config: &Config) -> anyhow::Result<PathBuf> {
    let Some(from) = from else {
        return Ok(config.database_path());
    };
    if is_postgres(from) {
        bail!("--from must be a SQLite database (sqlite:PATH), not PostgreSQL");
    }
    let path = from.strip_prefix("sqlite:").unwrap_or(from);
    if path.is_empty() {
        bail!("--from sqlite: needs a path (sqlite:PATH)");
    }
    Ok(PathBuf::from(path))
}

/// The PostgreSQL URL named by `--to`, or `database.url`.
fn target(to: Option<&str>, config: &Config) -> anyhow::Result<String> {
    match to {
        Some(url) if is_postgres(url) => Ok(url.to_owned()),
        Some(url) => bail!(
            "--to must be a PostgreSQL URL (postgres://USER:PASSWORD@HOST:PORT/DB), not {:?}",
            masked(url)
        ),
        None if config.is_postgres() => Ok(config.database.url.clone()),
        None => bail!(
            "say where to copy to: --to postgres://USER:PASSWORD@HOST:PORT/DB (or set database.url to it)"
        ),
    }
}

pub fn run(config: &Config, args: &MigrateArgs) -> anyhow::Result<()> {
    let from = source(args.from.as_deref(), config)?;
    let to = target(args.to.as_deref(), config)?;
    let shown = masked(&to);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let display = Display::new(std::io::stderr().is_terminal());
    eprintln!(
        "{} {} -> {shown}",
        if args.verify_only {
            "verifying"
        } else {
            "migrating"
        },
        from.display()
    );
    let progress = |p: Progress| display.update(p);
    let report = runtime.block_on(async {
        let connect = to
            .parse()
            .map_err(|e| anyhow::anyhow!("--to {shown}: {e}"))?;
        let result = if args.verify_only {
            migrate::verify_only(&from, connect, &progress).await
        } else {
            migrate::sqlite_to_postgres_with(&from, connect, &progress).await
        };
        result.map_err(anyhow::Error::new)
    });
    display.finish();
    let report = report?;
    print_report(&report);
    let rows = report.total_rows();
    let tables = report.tables.len();
    if report.ok() {
        let seconds = report.elapsed.as_secs_f64();
        if args.verify_only {
            println!(
                "OK: {shown} matches {} ({rows} rows in {tables} tables, verified in {seconds:.1} s); nothing was changed",
                from.display()
            );
        } else {
            println!(
                "OK: {rows} rows in {tables} tables copied to {shown} and verified in {seconds:.1} s; set database.url to it and start enclave"
            );
        }
        return Ok(());
    }
    let differ: Vec<&str> = report
        .tables
        .iter()
        .filter(|t| !t.matches)
        .map(|t| t.table)
        .collect();
    let mut problems = Vec::new();
    if !differ.is_empty() {
        problems.push(format!("tables differ: {}", differ.join(", ")));
    }
    if report.sqlite_last_position != report.postgres_event_counter {
        problems.push("event positions differ".to_owned());
    }
    problems.extend(report.sequence_problems.iter().cloned());
    bail!(
        "verification FAILED ({}): {shown} does not match {}; do not switch to it",
        problems.join("; "),
        from.display()
    )
}

fn print_report(report: &Report) {
    let mut out = String::new();
    let w = report
        .tables
        .iter()
        .map(|t| t.table.len())
        .max()
        .unwrap_or(5)
        .max("table".len());
    out.push_str(&format!(
        "\n{:<w$}  {:>12}  {:>13}  {:<8}  {}\n",
        "table", "rows sqlite", "rows postgres", "checksum", "sha-256 (sqlite / postgres)"
    ));
    for t in &report.tables {
        let sums = if t.sqlite_checksum == t.postgres_checksum {
            short(&t.sqlite_checksum).to_owned()
        } else {
            format!(
                "{} / {}",
                short(&t.sqlite_checksum),
                short(&t.postgres_checksum)
            )
        };
        out.push_str(&format!(
            "{:<w$}  {:>12}  {:>13}  {:<8}  {sums}\n",
            t.table,
            t.sqlite_rows,
            t.postgres_rows,
            if t.matches { "match" } else { "MISMATCH" },
        ));
    }
    out.push_str(&format!(
        "\nevent positions: last in SQLite {}, PostgreSQL continues after {} ({})\n",
        report.sqlite_last_position,
        report.postgres_event_counter,
        if report.sqlite_last_position == report.postgres_event_counter {
            "match"
        } else {
            "MISMATCH"
        }
    ));
    for p in &report.sequence_problems {
        out.push_str(&format!("id sequence: {p}\n"));
    }
    print!("{out}");
    let _ = std::io::stdout().flush();
}

fn short(sum: &str) -> &str {
    sum.get(..16).unwrap_or(sum)
}

/// A table in one phase (`true`: copying).
type Step = (bool, &'static str);

/// Plain mode's memory: when each step last printed, and which steps are finished.
#[derive(Default)]
struct Lines {
    last: HashMap<Step, Instant>,
    done: HashSet<Step>,
}

/// Progress on standard error: a bar per table on a terminal, plain lines elsewhere.
struct Display {
    multi: MultiProgress,
    tty: bool,
    bars: Mutex<HashMap<&'static str, ProgressBar>>,
    lines: Mutex<Lines>,
}

/// Plain mode prints a table's progress at most this often.
const LINE_EVERY: Duration = Duration::from_secs(2);

impl Display {
    fn new(tty: bool) -> Self {
        let target = if tty {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Display {
            multi: MultiProgress::with_draw_target(target),
            tty,
            bars: Mutex::new(HashMap::new()),
            lines: Mutex::new(Lines::default()),
        }
    }

    fn update(&self, p: Progress) {
        if self.tty {
            self.bar(p);
        } else {
            self.line(p);
        }
    }

    fn bar(&self, p: Progress) {
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        let bar = bars.entry(p.table).or_insert_with(|| {
            let style =
                ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos:>9}/{len:<9} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> ");
            let bar = self.multi.add(ProgressBar::new(p.total));
            bar.set_style(style);
            bar.set_prefix(p.table);
            bar
        });
        bar.set_length(p.total.max(p.done));
        bar.set_position(p.done);
        let finished = p.done >= p.total;
        bar.set_message(match (p.phase, finished) {
            (Phase::Copy, false) => "copying",
            (Phase::Copy, true) => "copied",
            (Phase::Verify, false) => "verifying",
            (Phase::Verify, true) => "read back",
        });
    }

    fn line(&self, p: Progress) {
        let key: Step = (p.phase == Phase::Copy, p.table);
        let mut guard = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        let Lines { last, done } = &mut *guard;
        if done.contains(&key) {
            return;
        }
        let finished = p.done >= p.total;
        let now = Instant::now();
        let due = last
            .get(&key)
            .is_none_or(|t| now.duration_since(*t) >= LINE_EVERY);
        if !(finished || due && p.done > 0) {
            last.entry(key).or_insert(now);
            return;
        }
        last.insert(key, now);
        if finished {
            done.insert(key);
        }
        let verb = match (p.phase, finished) {
            (Phase::Copy, false) => "copying",
            (Phase::Copy, true) => "copied",
            (Phase::Verify, false) => "verifying",
            (Phase::Verify, true) => "read back",
        };
        eprintln!("{verb} {}: {}/{} rows", p.table, p.done, p.total);
    }

    fn finish(&self) {
        let bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        for bar in bars.values() {
            bar.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            masked("postgres://enclave:s3cret@db:5432/enclave"),
            "postgres://enclave:****@db:5432/enclave"
        );
        assert_eq!(
            masked("postgres://db/enclave?user=e&password=s3cret&sslmode=require"),
            "postgres://db/enclave?user=e&password=****&sslmode=require"
        );
        assert_eq!(masked("postgres://db/enclave"), "postgres://db/enclave");
    }

    #[test]
    fn source_and_target() {
        let config = Config::default();
        assert_eq!(
            source(None, &config).expect("default"),
            config.data_dir.join("enclave.db")
        );
        assert_eq!(
            source(Some("sqlite:/srv/e.db"), &config).expect("sqlite:"),
            PathBuf::from("/srv/e.db")
        );
        assert_eq!(
            source(Some("/srv/e.db"), &config).expect("path"),
            PathBuf::from("/srv/e.db")
        );
        assert!(source(Some("postgres://db/x"), &config).is_err());
        assert!(source(Some("sqlite:"), &config).is_err());
        assert!(target(None, &config).is_err());
        assert!(target(Some("mysql://db/x"), &config).is_err());
        assert_eq!(
            target(Some("postgresql://db/x"), &config).expect("to"),
            "postgresql://db/x"
        );
        let mut pg = Config::default();
        pg.database.url = "postgres://u:p@db/x".into();
        assert_eq!(target(None, &pg).expect("config"), "postgres://u:p@db/x");
        // The installation's SQLite file stays the source when database.url is PostgreSQL.
        assert_eq!(
            source(None, &pg).expect("default"),
            pg.data_dir.join("enclave.db")
        );
    }
}
