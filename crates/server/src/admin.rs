//! `enclave admin ...`: operator commands on the data folder. They open the same database as
//! the server (SQLite lets both write safely) and go through the same application services, so
//! the same rules apply.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, bail};
use clap::Subcommand;
use std::sync::Arc;
use std::time::Instant;

use enclave_app::{Accounts, Channels, CreateUser, Messages, Search, Store, UpdateUser, UserQuery};
use enclave_core::MessageId;
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Config;
use crate::serve::open_store;

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Create a user (the first one with --admin).
    CreateUser {
        username: String,
        /// Make the user a site administrator.
        #[arg(long)]
        admin: bool,
        /// The password; prompted for when omitted (or read from standard input when it is not a terminal).
        #[arg(long)]
        password: Option<String>,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        email: Option<String>,
    },
    /// Set a new password for a user and end their sessions.
    ResetPassword {
        username: String,
        #[arg(long)]
        password: Option<String>,
    },
    /// Deactivate a user: they can no longer log in and their sessions end at once.
    DeactivateUser { username: String },
    /// Reactivate a deactivated user.
    ReactivateUser { username: String },
    /// List users.
    ListUsers {
        /// Include deactivated users.
        #[arg(long)]
        all: bool,
    },
    /// Re-wrap every file's data key under the current master key (`[files] master_key_id`),
    /// after a new key was configured with the old one under `[files] previous_keys`, and seal
    /// authenticator app secrets under it. File contents are not re-encrypted. Safe to run
    /// while the server runs, and to run again.
    RotateFileKey,
    /// Remove files no message references now (the server also does this periodically: it is
    /// the `sweep-files` job).
    SweepFiles,
    /// Run one of the server's background jobs now: prune-events (the event log past its
    /// retention), sweep-files (the same as `sweep-files`), seal-previews, or sweep-throttles
    /// (expired sign-in throttle rows).
    RunJob {
        /// The job's name.
        name: String,
    },
    /// Rebuild the full-text search index from the messages (safe while the server runs).
    Reindex {
        /// Messages per transaction.
        #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        batch: u32,
    },
    /// Import departments and placements from a CSV file (columns department,username,title,
    /// is_head; department is a path such as 总部/技术部/后端组): creates missing departments,
    /// puts people in them, and brings department channels up to date. Every row is checked
    /// first; a bad row changes nothing. See docs/admin/departments.md.
    ImportDepartments {
        /// The CSV file (UTF-8).
        file: std::path::PathBuf,
        /// Check the file and report what would change, changing nothing.
        #[arg(long)]
        dry_run: bool,
        /// Act as this administrator (default: the first active administrator by username).
        #[arg(long = "as")]
        as_user: Option<String>,
    },
    /// Run the directory sync of the LDAP providers (`[[ldap.providers]]`) now: create, update,
    /// deactivate and reactivate accounts, map groups to roles and departments. Prints progress
    /// and the report. See docs/admin/ldap.md.
    LdapSync {
        /// Only this provider (default: every provider).
        #[arg(long)]
        provider: Option<String>,
        /// Report what would change and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Create an incoming webhook (Slack-compatible) for a channel and print its URL,
    /// `<address>/hooks/<secret>` (docs/api/integrations.md). Messages are posted as the acting
    /// administrator, who must be able to post in the channel (a member of it).
    CreateWebhook {
        /// The channel's name (one the acting account belongs to).
        #[arg(long)]
        channel: String,
        /// What the webhook is for.
        #[arg(long, default_value = "webhook")]
        name: String,
        /// Act as this account (default: the first active administrator by username).
        #[arg(long = "as")]
        as_user: Option<String>,
    },
    /// Fill an empty data folder with a reproducible benchmark corpus (see docs/benchmarks.md).
    #[command(hide = true)]
    SeedBench {
        #[arg(long, default_value_t = 1_000_000)]
        messages: u64,
        #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=100_000))]
        channels: u64,
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(2..=100_000))]
        users: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Time the benchmark's searches as bench0 (after seed-bench).
    #[command(hide = true)]
    BenchSearch {
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=100_000))]
        runs: u64,
    },
}

fn read_password(given: Option<String>) -> anyhow::Result<String> {
    if let Some(p) = given {
        return Ok(p);
    }
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").context("reading the password")?;
        let second =
            rpassword::prompt_password("Repeat password: ").context("reading the password")?;
        if first != second {
            bail!("the passwords differ");
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Operator commands act for no user through a door: they are not rate-limited.
fn unlimited() -> Arc<enclave_app::UserLimits> {
    Arc::new(enclave_app::UserLimits::off())
}

pub fn run(config: Config, cmd: AdminCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let store = open_store(&config).await?;
        if matches!(
            cmd,
            AdminCommand::RotateFileKey | AdminCommand::SweepFiles | AdminCommand::RunJob { .. }
        ) {
            let files = crate::serve::open_files(&config, store.clone(), unlimited())?;
            let result = match cmd {
                AdminCommand::RotateFileKey => {
                    match files.rotate_keys().await.map_err(anyhow::Error::from) {
                        Ok(n) => {
                            println!(
                                "re-wrapped {n} file key(s) under master key {:?}",
                                config.files.master_key_id
                            );
                            // Authenticator app secrets are sealed under a key derived from
                            // the same master key (the server also does this at start).
                            let accounts =
                                Accounts::new(store.clone(), config.auth_config(), unlimited())?
                                    .with_secret_keys(&config.key_ring()?);
                            accounts
                                .seal_totp_secrets()
                                .await
                                .map(|n| {
                                    println!(
                                        "sealed {n} authenticator app secret(s) under master key {:?}",
                                        config.files.master_key_id
                                    );
                                })
                                .map_err(anyhow::Error::from)
                        }
                        Err(e) => Err(e),
                    }
                }
                AdminCommand::RunJob { name } => {
                    // Run from the command line, the purge runs even when its schedule is off.
                    let mut r = config.retention_config();
                    r.enabled = true;
                    let retention = crate::serve::open_retention(&store, &files, r);
                    run_job(
                        &crate::serve::background_jobs(&config, &store, &files, &retention),
                        &name,
                    )
                    .await
                }
                _ => {
                    let retention =
                        crate::serve::open_retention(&store, &files, config.retention_config());
                    run_job(
                        &crate::serve::background_jobs(&config, &store, &files, &retention),
                        "sweep-files",
                    )
                    .await
                }
            };
            store.close().await;
            return result;
        }
        let accounts = Accounts::new(store.clone(), config.auth_config(), unlimited())?
            .with_audit(enclave_app::Audit::new(store.clone()));
        if let AdminCommand::LdapSync { provider, dry_run } = &cmd {
            let accounts = Arc::new(accounts);
            let result = ldap_sync(&config, &store, &accounts, provider.as_deref(), *dry_run).await;
            store.close().await;
            return result;
        }
        if let AdminCommand::CreateWebhook {
            channel,
            name,
            as_user,
        } = &cmd
        {
            let accounts = Arc::new(accounts);
            let result =
                create_webhook(&config, &store, accounts, channel, name, as_user.clone()).await;
            store.close().await;
            return result;
        }
        let result = run_command(&config, &accounts, &store, cmd).await;
        store.close().await;
        result
    })
}

/// `admin create-webhook`: makes the webhook as an administrator and prints its URL.
async fn create_webhook(
    config: &Config,
    store: &Arc<dyn Store>,
    accounts: Arc<Accounts>,
    channel: &str,
    name: &str,
    as_user: Option<String>,
) -> anyhow::Result<()> {
    let user = match as_user {
        Some(n) => store
            .users_by_usernames(&[n.to_lowercase()])
            .await?
            .into_iter()
            .find(|u| u.active)
            .with_context(|| format!("no active user {n:?}"))?,
        None => store
            .list_users(UserQuery {
                limit: 10_000,
                ..Default::default()
            })
            .await?
            .into_iter()
            .find(|u| u.is_admin && u.active)
            .context("no active administrator to act as; create one or pass --as")?,
    };
    let wanted = channel.trim().trim_start_matches('#').to_lowercase();
    let found = store
        .my_channels(user.id)
        .await?
        .into_iter()
        .find(|c| {
            c.channel.name.as_deref().map(str::to_lowercase).as_deref() == Some(wanted.as_str())
        })
        .with_context(|| {
            format!(
                "{} is not a member of a channel named {channel:?}: add them to it, or pass --as",
                user.username
            )
        })?;
    let actor = enclave_core::Actor::for_user(&user);
    let previews = config.key_ring().map(enclave_app::Previews::new)?;
    let audit = enclave_app::Audit::new(store.clone());
    let webhooks = enclave_app::Webhooks::new(
        store.clone(),
        accounts,
        Messages::new(
            store.clone(),
            store.clone(),
            store.clone(),
            store.clone(),
            previews,
            unlimited(),
        ),
        audit,
    );
    let made = webhooks.create(&actor, found.channel.id, name).await?;
    let base = config.public_base_url()?;
    println!("{base}/hooks/{}", made.secret);
    Ok(())
}

/// `admin ldap-sync`: runs each provider's sync with a progress bar and prints its report.
/// Fails when a run failed or was refused by the safety checks.
async fn ldap_sync(
    config: &Config,
    store: &Arc<dyn Store>,
    accounts: &Arc<Accounts>,
    only: Option<&str>,
    dry_run: bool,
) -> anyhow::Result<()> {
    let ldap = crate::serve::open_ldap(config, store, accounts, unlimited())?;
    let ids: Vec<String> = match only {
        Some(id) => vec![
            ldap.provider(id)
                .map_err(|_| anyhow::anyhow!("no LDAP provider {id:?} in the configuration"))?
                .id
                .clone(),
        ],
        None => ldap.providers().iter().map(|p| p.id.clone()).collect(),
    };
    if ids.is_empty() {
        bail!("no [[ldap.providers]] in the configuration");
    }
    let mut failed = 0;
    for id in ids {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(format!("ldap-sync {id}"));
        let progress = {
            let bar = bar.clone();
            move |done: u64, total: Option<u64>| {
                if let Some(t) = total {
                    bar.set_length(t);
                }
                bar.set_position(done);
            }
        };
        let result = ldap
            .sync(&id, dry_run, enclave_app::ldap::Trigger::Cli, &progress)
            .await;
        bar.finish_and_clear();
        match result {
            Ok(r) => {
                print_sync_report(&id, &r);
                if r.refused.is_some() {
                    failed += 1;
                }
            }
            Err(e) => {
                eprintln!("{id}: the sync failed: {e}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        bail!("{failed} sync(s) failed or were refused");
    }
    Ok(())
}

fn print_sync_report(id: &str, r: &enclave_app::DirectorySyncReport) {
    let mode = if r.dry_run {
        " (dry run: nothing was changed)"
    } else {
        ""
    };
    println!("provider {id}{mode}");
    if let Some(why) = &r.refused {
        println!("  refused: {why}");
        return;
    }
    println!(
        "  {} found, {} created, {} linked, {} updated, {} deactivated, {} reactivated, {} unchanged",
        r.found, r.created, r.linked, r.updated, r.deactivated, r.reactivated, r.unchanged
    );
    for c in &r.changes {
        println!(
            "  {:<10} {:<20} {}",
            c.action,
            c.username,
            c.details.join("; ")
        );
    }
    for p in &r.problems {
        println!("  problem: {p}");
    }
}

/// Largest import file.
const MAX_IMPORT_BYTES: u64 = 32 * 1024 * 1024;

/// `admin import-departments`: checks the whole file, then (unless a dry run) writes it with a
/// progress bar, and prints a report.
async fn import_departments(
    store: &Arc<dyn Store>,
    file: &std::path::Path,
    dry_run: bool,
    as_user: Option<String>,
) -> anyhow::Result<()> {
    let size = std::fs::metadata(file)
        .with_context(|| format!("reading {}", file.display()))?
        .len();
    if size > MAX_IMPORT_BYTES {
        bail!("{} is larger than 32 MiB", file.display());
    }
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let text = String::from_utf8(bytes).context("the file is not UTF-8")?;
    let rows = match enclave_app::departments::parse_csv(&text) {
        Ok(rows) => rows,
        Err(problems) => {
            for (line, p) in &problems {
                eprintln!("line {line}: {p}");
            }
            bail!(
                "{} problem(s) in the file; nothing was changed",
                problems.len()
            );
        }
    };
    let admin = match as_user {
        Some(name) => store
            .users_by_usernames(&[name.to_lowercase()])
            .await?
            .into_iter()
            .find(|u| u.active)
            .with_context(|| format!("no active user {name:?}"))?,
        None => store
            .list_users(UserQuery {
                limit: 10_000,
                ..Default::default()
            })
            .await?
            .into_iter()
            .find(|u| u.is_admin && u.active)
            .context("no active administrator to act as; create one or pass --as")?,
    };
    let actor = enclave_core::Actor::for_user(&admin);
    let departments =
        enclave_app::Departments::new(store.clone(), store.clone(), store.clone(), unlimited())
            .with_audit(enclave_app::Audit::new(store.clone()));
    let bar = ProgressBar::new(rows.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("import [{bar:30}] row {pos}/{len} ({per_sec}, {eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    if dry_run {
        bar.finish_and_clear();
    }
    let report = departments
        .import(&actor, &rows, dry_run, &|done, _| {
            bar.set_position(done as u64)
        })
        .await?;
    bar.finish_and_clear();
    for (line, p) in &report.problems {
        eprintln!("line {line}: {p}");
    }
    let verb = if report.dry_run {
        "would create"
    } else {
        "created"
    };
    println!(
        "{}{} rows: {verb} {} department(s), placed {} person(s), updated {}, unchanged {}; department channels +{} -{}",
        if report.dry_run {
            "dry run, nothing changed: "
        } else {
            ""
        },
        report.rows,
        report.departments_created.len(),
        report.placed,
        report.updated,
        report.unchanged,
        report.channel_members_added,
        report.channel_members_removed,
    );
    for p in &report.departments_created {
        println!("  {verb} {p}");
    }
    if !report.problems.is_empty() {
        bail!(
            "{} problem(s) in the file; nothing was changed",
            report.problems.len()
        );
    }
    Ok(())
}

/// Runs the named background job once and prints its report.
async fn run_job(jobs: &[Arc<dyn enclave_app::jobs::Job>], name: &str) -> anyhow::Result<()> {
    let Some(job) = jobs.iter().find(|j| j.name() == name) else {
        let names: Vec<&str> = jobs.iter().map(|j| j.name()).collect();
        bail!("no job {name:?}; the jobs are: {}", names.join(", "));
    };
    let report = enclave_app::jobs::run_once(job.as_ref())
        .await
        .with_context(|| format!("running {name}"))?;
    println!("{}", report.summary);
    Ok(())
}

/// Rebuilds the search index in batches (each its own transaction, so the server can keep
/// writing), with a progress bar, and reports what it did.
async fn reindex(search: &Search, batch: u32) -> anyhow::Result<()> {
    let started = Instant::now();
    let (count, max_id) = search.message_stats().await?;
    let bar = ProgressBar::new(u64::try_from(max_id.0).unwrap_or(0));
    bar.set_style(
        ProgressStyle::with_template(
            "reindex [{bar:30}] message id {pos}/{len} {msg} ({per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut after = MessageId(0);
    let mut indexed = 0u64;
    loop {
        let step = search.reindex_batch(after, batch).await?;
        indexed += step.indexed;
        let Some(last) = step.last else { break };
        after = last;
        bar.set_position(u64::try_from(last.0).unwrap_or(0));
        bar.set_message(format!("{indexed} indexed"));
    }
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "search index rebuilt: {indexed} messages indexed, {} deleted skipped, in {secs:.1} s ({:.0} messages/s)",
        count.saturating_sub(indexed),
        indexed as f64 / secs.max(0.001)
    );
    Ok(())
}

async fn run_command(
    config: &Config,
    accounts: &Accounts,
    store: &Arc<dyn Store>,
    cmd: AdminCommand,
) -> anyhow::Result<()> {
    // The services that return messages open their files' previews with the master keys.
    let previews = || config.key_ring().map(enclave_app::Previews::new);
    match cmd {
        AdminCommand::CreateWebhook { .. } => bail!("create-webhook is handled before"),
        AdminCommand::CreateUser {
            username,
            admin,
            password,
            display_name,
            email,
        } => {
            let password = read_password(password)?;
            let user = accounts
                .create_user(
                    None,
                    CreateUser {
                        username,
                        password: Some(password),
                        display_name,
                        email,
                        is_admin: admin,
                        is_bot: false,
                        is_guest: false,
                        guest_expires_at: None,
                        origin: None,
                    },
                )
                .await?;
            println!(
                "created user {} (id {}){}",
                user.username,
                user.id,
                if user.is_admin {
                    " as administrator"
                } else {
                    ""
                }
            );
        }
        AdminCommand::ResetPassword { username, password } => {
            let user = accounts.user_by_username(&username).await?;
            let password = read_password(password)?;
            accounts
                .update_user(
                    None,
                    user.id,
                    UpdateUser {
                        password: Some(password),
                        ..UpdateUser::default()
                    },
                )
                .await?;
            println!(
                "password of {} reset; their sessions have ended",
                user.username
            );
        }
        AdminCommand::DeactivateUser { username } => {
            let user = accounts.user_by_username(&username).await?;
            accounts
                .update_user(
                    None,
                    user.id,
                    UpdateUser {
                        active: Some(false),
                        ..UpdateUser::default()
                    },
                )
                .await?;
            println!("deactivated {}", user.username);
        }
        AdminCommand::ReactivateUser { username } => {
            let user = accounts.user_by_username(&username).await?;
            accounts
                .update_user(
                    None,
                    user.id,
                    UpdateUser {
                        active: Some(true),
                        ..UpdateUser::default()
                    },
                )
                .await?;
            println!("reactivated {}", user.username);
        }
        AdminCommand::Reindex { batch } => {
            reindex(
                &Search::new(store.clone(), store.clone(), previews()?, unlimited()),
                batch,
            )
            .await?
        }
        AdminCommand::SeedBench {
            messages,
            channels,
            users,
            seed,
        } => {
            crate::bench::seed(
                accounts,
                &Channels::new(store.clone(), store.clone(), unlimited()),
                Arc::new(Messages::new(
                    store.clone(),
                    store.clone(),
                    store.clone(),
                    store.clone(),
                    previews()?,
                    unlimited(),
                )),
                messages,
                usize::try_from(channels)?,
                usize::try_from(users)?,
                seed,
            )
            .await?;
        }
        AdminCommand::BenchSearch { runs } => {
            let user = accounts.user_by_username("bench0").await?;
            crate::bench::run_queries(
                &Search::new(store.clone(), store.clone(), previews()?, unlimited()),
                user.id,
                usize::try_from(runs)?,
            )
            .await?;
        }
        AdminCommand::ListUsers { all } => {
            let system =
                enclave_app::Actor::new(enclave_core::UserId(0), enclave_core::RoleSet::ADMIN);
            let mut after = None;
            loop {
                let page = accounts
                    .list_users(
                        &system,
                        UserQuery {
                            text: None,
                            include_inactive: all,
                            after_username: after.clone(),
                            limit: 200,
                        },
                    )
                    .await?;
                for u in &page {
                    let flags = [
                        (u.is_admin, "admin"),
                        (u.is_bot, "bot"),
                        (!u.active, "deactivated"),
                    ]
                    .iter()
                    .filter(|(on, _)| *on)
                    .map(|(_, f)| *f)
                    .collect::<Vec<_>>()
                    .join(",");
                    println!("{}\t{}\t{}\t{}", u.id, u.username, u.display_name, flags);
                }
                match page.last() {
                    Some(last) if page.len() == 200 => after = Some(last.username.clone()),
                    _ => break,
                }
            }
        }
        AdminCommand::ImportDepartments {
            file,
            dry_run,
            as_user,
        } => import_departments(store, &file, dry_run, as_user).await?,
        AdminCommand::RotateFileKey | AdminCommand::SweepFiles | AdminCommand::RunJob { .. } => {
            unreachable!("file commands are handled before accounts are set up")
        }
        AdminCommand::LdapSync { .. } => unreachable!("ldap-sync is handled before"),
    }
    Ok(())
}
