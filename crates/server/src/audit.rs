//! `enclave audit ...`: operator commands on the audit log, on the configured database (SQLite
//! or PostgreSQL, the same configuration as `serve`), beside a running server or not.
//!
//! - `verify [--head-file PATH]` walks the hash chain from the first entry and names the first
//!   edited, removed, inserted or reordered entry (exit status 1), or prints the number of
//!   entries and the head hash (exit status 0). With the head file the server writes
//!   (`[audit] head_file`), entries cut off the end show too.
//! - `head` prints the current head as a head-file line.
//! - `seed-bench N` (hidden) appends N entries, for the verification benchmark
//!   (`scripts/bench-audit`).

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Subcommand;
use enclave_app::audit::{Audit, AuditRecord, head_line, last_recorded_head};
use enclave_core::Millis;
use enclave_core::audit::{AuditAction, AuditSummary, AuditTarget, hex};
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Config;
use crate::serve::open_store;

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Walk the hash chain and name the first tampered entry (non-zero exit status if any).
    Verify {
        /// The head file the server writes (`[audit] head_file`): also detect entries removed
        /// from the end of the log.
        #[arg(long, value_name = "PATH")]
        head_file: Option<std::path::PathBuf>,
        /// Entries read per query.
        #[arg(long, default_value_t = 5000)]
        batch: u32,
    },
    /// Print the chain's head (`SEQ HASH MILLIS`, the head file's format).
    Head,
    /// Append N synthetic entries (for `scripts/bench-audit`).
    #[command(hide = true)]
    SeedBench {
        n: u64,
        #[arg(long, default_value_t = 512)]
        concurrency: u64,
    },
}

pub fn run(config: Config, cmd: AuditCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let store = open_store(&config).await?;
        let audit = Audit::new(store.clone());
        let result = match cmd {
            AuditCommand::Verify { head_file, batch } => {
                verify(&audit, head_file.as_deref(), batch).await
            }
            AuditCommand::Head => match audit.head().await? {
                Some(h) => {
                    println!("{}", head_line(&h, Millis::now()));
                    Ok(())
                }
                None => {
                    println!("the audit log is empty");
                    Ok(())
                }
            },
            AuditCommand::SeedBench { n, concurrency } => seed(&audit, n, concurrency).await,
        };
        store.close().await;
        result
    })
}

async fn verify(
    audit: &Audit,
    head_file: Option<&std::path::Path>,
    batch: u32,
) -> anyhow::Result<()> {
    let recorded = match head_file {
        None => None,
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            match last_recorded_head(&text) {
                Some(h) => Some(h),
                None => bail!("{} holds no audit head line", p.display()),
            }
        }
    };
    let total = audit.head().await?.map_or(0, |h| h.seq);
    let bar = ProgressBar::new(u64::try_from(total).unwrap_or(0));
    bar.set_style(
        ProgressStyle::with_template("verify [{bar:30}] entry {pos}/{len} ({per_sec}, {eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let verdict = audit
        .verify(recorded, batch.clamp(1, 100_000), |n| bar.set_position(n))
        .await?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    match verdict {
        Ok(head) => {
            let (n, hash) = head.map_or((0, "-".to_owned()), |h| (h.seq, hex(&h.hash)));
            let rate = if secs > 0.0 { n as f64 / secs } else { 0.0 };
            println!("audit log verified: {n} entries, head {hash}");
            if let Some(r) = recorded {
                println!("the recorded head (entry {}) is in the chain", r.seq);
            }
            eprintln!("took {secs:.2} s ({rate:.0} entries/s)");
            Ok(())
        }
        Err(t) => {
            println!("audit log TAMPERED: {t}");
            bail!(
                "audit log verification failed at entry {}: {} ({})",
                t.seq(),
                t,
                t.kind()
            )
        }
    }
}

async fn seed(audit: &Audit, n: u64, concurrency: u64) -> anyhow::Result<()> {
    let started = Instant::now();
    let bar = ProgressBar::new(n);
    let concurrency = concurrency.clamp(1, 4096);
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let audit = audit.clone();
        let next = next.clone();
        let bar = bar.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    break;
                }
                audit
                    .record(
                        AuditRecord::new(AuditAction::SignIn)
                            .by(enclave_core::UserId(
                                i64::try_from(i % 1000).unwrap_or(0) + 1,
                            ))
                            .ip(std::net::IpAddr::from([10, 0, (i % 250) as u8, 1]))
                            .target(AuditTarget::user(enclave_core::UserId(
                                i64::try_from(i % 1000).unwrap_or(0) + 1,
                            )))
                            .summary(
                                AuditSummary::new()
                                    .fact("credential", "password")
                                    .fact("session", i),
                            ),
                    )
                    .await;
                bar.inc(1);
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    bar.finish_and_clear();
    println!(
        "appended {n} audit entries in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
