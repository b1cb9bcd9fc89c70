//! `enclave import slack|mattermost EXPORT`: reads an export with `enclave-import`, writes it
//! through `app::Importer` (into a running server's database or a stopped one), shows progress
//! per phase on standard error and prints the report on standard output.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use enclave_app::import::ImportReport;
use enclave_app::{ImportOptions, ImportProgress, Importer};
use enclave_import::{Archive, Dataset, Limits};
use indicatif::{ProgressBar, ProgressStyle};
use parking_lot::Mutex;

use crate::config::Config;
use crate::serve::open_store;

#[derive(Subcommand, Debug)]
pub enum ImportCommand {
    /// Import a Slack workspace export: the zip file Slack made, or its unpacked folder.
    Slack {
        export: PathBuf,
        #[command(flatten)]
        args: ImportArgs,
    },
    /// Import a Mattermost bulk export: the .jsonl file, or a zip holding it.
    Mattermost {
        export: PathBuf,
        #[command(flatten)]
        args: ImportArgs,
    },
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Read everything and print the report, writing nothing.
    #[arg(long)]
    dry_run: bool,
    /// A CSV file of `source e-mail or source user id,enclave username` lines: these people
    /// become these existing accounts.
    #[arg(long, value_name = "FILE")]
    map_users: Option<PathBuf>,
    /// Do not merge people into existing accounts that have the same e-mail address (new
    /// accounts are made for them, without the address).
    #[arg(long)]
    no_email_match: bool,
    /// Messages per transaction.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=50_000))]
    batch: u32,
}

/// Largest Mattermost JSONL file.
const MAX_JSONL_BYTES: u64 = 4 * 1024 * 1024 * 1024;
/// Largest `--map-users` file.
const MAX_MAP_BYTES: u64 = 16 * 1024 * 1024;

fn read_map(path: &Path) -> anyhow::Result<HashMap<String, String>> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    if size > MAX_MAP_BYTES {
        bail!("{} is larger than 16 MiB", path.display());
    }
    let text = String::from_utf8(std::fs::read(path)?).context("the user map is not UTF-8")?;
    let mut out = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((from, to)) = line.split_once(',') else {
            bail!(
                "{} line {}: expected `e-mail or id,username`",
                path.display(),
                i + 1
            );
        };
        let from = from.trim();
        let from = if from.contains('@') {
            from.to_lowercase()
        } else {
            from.to_owned()
        };
        out.insert(from, to.trim().to_ascii_lowercase());
    }
    Ok(out)
}

fn read_mattermost(path: &Path) -> anyhow::Result<Dataset> {
    let is_zip = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"))
        || path.is_dir();
    let bytes = if is_zip {
        let mut archive = Archive::open(path, Limits::default())?;
        let name = archive
            .names()
            .find(|n| n.ends_with(".jsonl"))
            .map(str::to_owned)
            .context("the archive holds no .jsonl file")?;
        archive.read(&name)?.unwrap_or_default()
    } else {
        let size = std::fs::metadata(path)
            .with_context(|| format!("reading {}", path.display()))?
            .len();
        if size > MAX_JSONL_BYTES {
            bail!("{} is larger than 4 GiB", path.display());
        }
        std::fs::read(path).with_context(|| format!("reading {}", path.display()))?
    };
    Ok(enclave_import::mattermost::read(&bytes)?)
}

/// Progress bars on standard error, one per phase (a line per phase when it is not a terminal).
struct Bars {
    bar: Mutex<Option<ProgressBar>>,
}

impl ImportProgress for Bars {
    fn phase(&self, name: &str, total: u64) {
        let mut slot = self.bar.lock();
        if let Some(b) = slot.take() {
            b.finish();
        }
        eprintln!("{name}: {total}");
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("{msg:>14} [{bar:30}] {pos}/{len} {per_sec}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(name.to_owned());
        *slot = Some(bar);
    }
    fn advance(&self, n: u64) {
        if let Some(b) = &*self.bar.lock() {
            b.inc(n);
        }
    }
}

impl Bars {
    fn finish(&self) {
        if let Some(b) = self.bar.lock().take() {
            b.finish();
        }
    }
}

pub fn print_report(r: &ImportReport, seconds: f64) {
    let mode = if r.dry_run {
        " (dry run: nothing was written)"
    } else {
        ""
    };
    println!("import from {}{mode}", r.source);
    println!(
        "users: {} created, {} merged into existing accounts, {} imported before",
        r.users_created, r.users_linked, r.users_already
    );
    for (who, note) in &r.user_notes {
        println!("  user {who}: {note}");
    }
    println!(
        "messages: {} imported, {} imported before, {} skipped",
        r.imported(),
        r.already(),
        r.skipped()
    );
    for c in &r.conversations {
        let state = if c.created { "created" } else { "existing" };
        println!(
            "  {} ({}, {state}): {} imported, {} imported before",
            c.label, c.kind, c.imported, c.already
        );
        for (why, n) in &c.skipped {
            println!("    skipped {n}: {why}");
        }
        for note in &c.notes {
            println!("    note: {note}");
        }
    }
    for p in &r.problems {
        println!("problem: {p}");
    }
    if !r.files_not_imported.is_empty() {
        println!(
            "files not imported ({}; the export does not carry their contents):",
            r.files_not_imported.len()
        );
        for f in &r.files_not_imported {
            println!("  {f}");
        }
    }
    if seconds > 0.0 && !r.dry_run {
        println!(
            "took {seconds:.1} s ({:.0} messages/s)",
            r.imported() as f64 / seconds
        );
    }
}

pub fn run(config: Config, cmd: ImportCommand) -> anyhow::Result<()> {
    let (kind, export, args) = match cmd {
        ImportCommand::Slack { export, args } => ("slack", export, args),
        ImportCommand::Mattermost { export, args } => ("mattermost", export, args),
    };
    let options = ImportOptions {
        dry_run: args.dry_run,
        match_email: !args.no_email_match,
        user_map: match &args.map_users {
            Some(p) => read_map(p)?,
            None => HashMap::new(),
        },
        batch: args.batch as usize,
    };
    eprintln!("reading {}", export.display());
    let data = match kind {
        "slack" => {
            let mut archive = Archive::open(&export, Limits::default())?;
            enclave_import::slack::read(&mut archive)?
        }
        _ => read_mattermost(&export)?,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let store = open_store(&config).await?;
        let importer = Importer::new(store.clone());
        let bars = Bars {
            bar: Mutex::new(None),
        };
        let started = std::time::Instant::now();
        let result = importer.run(data, &options, &bars).await;
        bars.finish();
        store.close().await;
        let report = result.context("the import stopped; run it again to finish it")?;
        print_report(&report, started.elapsed().as_secs_f64());
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(())
}
