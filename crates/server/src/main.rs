//! `enclave`: the chat server and its administration commands, in one binary.
//!
//! `enclave serve` runs the server; `enclave admin ...` works on the same data folder (while
//! the server runs or not); `enclave config` prints the effective configuration; `enclave
//! migrate` copies an embedded (SQLite) installation into PostgreSQL; `enclave backup` and
//! `enclave restore` take and restore online backups.

mod admin;
mod audit;
mod backup;
mod bench;
mod config;
mod import;
mod listener;
mod migrate;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, Overrides};

/// mimalloc returns freed memory to the system; glibc's allocator kept hundreds of megabytes
/// of per-thread arenas after bursts of password hashing (19 MiB per argon2 run), and
/// mimalloc is faster here. `.cargo/config.toml` builds it to commit arena memory lazily, so
/// an idle server stays small.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(name = "enclave", version, about = "Team chat on your own servers")]
struct Cli {
    /// TOML configuration file.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data folder (database and files).
    #[arg(long = "data", global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long, global = true, value_name = "FORMAT")]
    log_format: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server.
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free port).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Print the effective configuration (secrets masked).
    Config,
    /// Administration commands on the data folder.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Copy this installation's SQLite database into an empty PostgreSQL database and verify
    /// the copy (stop the server for the final copy).
    Migrate(migrate::MigrateArgs),
    /// Import another chat system's history: `enclave import slack EXPORT.zip` (or its
    /// unpacked folder), `enclave import mattermost EXPORT.jsonl`. Idempotent and resumable:
    /// run it again to finish an interrupted import; nothing is imported twice. See
    /// docs/admin/import.md.
    #[command(subcommand)]
    Import(import::ImportCommand),
    /// Back up the database and the file objects into a new folder inside DIR, beside the
    /// running server (one consistent snapshot; restorable into either backend).
    Backup(backup::BackupArgs),
    /// Restore a backup into an empty data folder (--data DIR) or an empty PostgreSQL database
    /// (database.url), after verifying every checksum.
    Restore(backup::RestoreArgs),
    /// The tamper-evident audit log: verify its hash chain, print its head.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
}

/// Files and folders this process creates are for its own user only (0600 and 0700): the
/// database and its WAL and shared-memory files, stored file objects, keys, backups. SQLite
/// and the file store create them with the usual 0644/0755 less the umask.
const UMASK: u32 = 0o077;

fn main() -> ExitCode {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(UMASK));
    let cli = Cli::parse();
    let listen = match &cli.command {
        Command::Serve { listen } => listen.clone(),
        _ => None,
    };
    let overrides = Overrides {
        listen,
        data_dir: cli.data_dir.clone(),
        log_format: cli.log_format.clone(),
    };
    let config = match Config::load(cli.config.as_deref(), std::env::vars(), &overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("enclave: configuration error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Config => config.to_masked_toml().map(|t| print!("{t}")),
        Command::Serve { .. } => serve::run(config),
        Command::Admin(cmd) => admin::run(config, cmd),
        Command::Migrate(args) => migrate::run(&config, &args),
        Command::Audit(cmd) => audit::run(config, cmd),
        Command::Import(cmd) => import::run(config, cmd),
        Command::Backup(args) => backup::run_backup(&config, &args),
        Command::Restore(args) => backup::run_restore(&config, cli.data_dir.is_some(), &args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("enclave: {e:#}");
            ExitCode::FAILURE
        }
    }
}
