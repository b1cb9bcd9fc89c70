//! `enclave serve`: wiring and the server's lifetime.
//!
//! Start: open the store (creating and migrating the schema), build the services and the
//! router, bind, and log `listening on ...`. Stop (SIGTERM or Ctrl-C): stop accepting, let
//! in-flight requests finish (up to `http.shutdown_grace_secs`), close the sockets, stop the
//! background jobs (a running one finishes its current step), drain the store's write queue,
//! and exit 0.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use enclave_app::jobs::{
    AuditHeadJob, ExpireGuests, Job, LdapSync, Leases, PruneEvents, Scheduler, SealPreviews,
    SweepFiles, SweepThrottles,
};
use enclave_app::{
    Accounts, Audit, Channels, Departments, EventFeed, Files, Health, Hub, Ldap, Messages, Roles,
    Search, Store, UserLimits,
};
use enclave_store::sqlite::{Options, SqliteStore};

use crate::config::Config;
use crate::listener::{self, IdleAcceptor, Timeouts};

pub fn init_logging(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if config.log_format == "json" {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.with_target(false).try_init()
    };
    if let Err(e) = result {
        eprintln!("enclave: could not set up logging: {e}");
    }
}

/// Opens the configured store, creating the data folder.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    if config.is_postgres() {
        let store = enclave_store::postgres::PgStore::open(
            &config.database.url,
            enclave_store::postgres::Options {
                max_connections: config.database.max_connections,
                ..enclave_store::postgres::Options::default()
            },
        )
        .await
        .with_context(|| {
            format!(
                "connecting to {}",
                crate::config::mask_url(&config.database.url)
            )
        })?;
        return Ok(Arc::new(store));
    }
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating the data folder {}", config.data_dir.display()))?;
    let path = config.database_path();
    restrict_database_files(&path)?;
    let store = SqliteStore::open(&path, Options::default())
        .with_context(|| format!("opening {}", path.display()))?;
    Ok(Arc::new(store))
}

/// Makes an existing SQLite database and its WAL and shared-memory files readable by this
/// user only (installations made before the process set its umask have them 0644). SQLite
/// gives the WAL and shared-memory files it creates the database file's mode.
fn restrict_database_files(path: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut paths = vec![path.to_path_buf()];
    for suffix in ["-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        paths.push(p.into());
    }
    for p in paths {
        match std::fs::metadata(&p) {
            Ok(m) if m.permissions().mode() & 0o077 != 0 => {
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))
                    .with_context(|| format!("making {} private (mode 0600)", p.display()))?;
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("reading {}", p.display())),
        }
    }
    Ok(())
}

/// The files service on the configured blob store and keys.
pub fn open_files(
    config: &Config,
    store: Arc<dyn Store>,
    limits: Arc<UserLimits>,
) -> anyhow::Result<Arc<Files>> {
    let keys = config.key_ring()?;
    let blob_config = config.blob_config();
    let blobs = enclave_files::Blobs::open(&blob_config)
        .with_context(|| format!("opening the file store {blob_config:?}"))?;
    Ok(Arc::new(Files::new(
        store.clone(),
        store,
        blobs,
        keys,
        config.files_config(),
        limits,
    )))
}

/// The background jobs the server runs on their intervals (and `enclave admin run-job` runs once).
pub fn background_jobs(
    config: &Config,
    store: &Arc<dyn Store>,
    files: &Arc<Files>,
    retention: &Arc<enclave_app::Retention>,
) -> Vec<Arc<dyn Job>> {
    let realtime = config.realtime_config();
    let mut jobs: Vec<Arc<dyn Job>> = vec![
        Arc::new(PruneEvents::new(
            store.clone(),
            realtime.retention,
            realtime.retention_min_events,
        )),
        Arc::new(SweepFiles::new(files.clone())),
        Arc::new(SealPreviews::new(files.clone())),
        Arc::new(SweepThrottles::new(store.clone())),
        Arc::new(ExpireGuests::new(store.clone())),
        Arc::new(retention.job()),
    ];
    if !config.backup.to.is_empty() {
        jobs.push(Arc::new(crate::backup::ScheduledBackup::new(config)));
    }
    let a = &config.audit;
    if !a.head_file.is_empty() || a.head_syslog {
        jobs.push(Arc::new(AuditHeadJob::new(
            Audit::new(store.clone()),
            (!a.head_file.is_empty()).then(|| std::path::PathBuf::from(&a.head_file)),
            a.head_syslog,
            Duration::from_secs(a.head_interval_secs),
        )));
    }
    jobs
}

/// The retention service (policies, legal holds, the purge) with the `[retention]` settings
/// `retention`.
pub fn open_retention(
    store: &Arc<dyn Store>,
    files: &Arc<Files>,
    retention: enclave_app::RetentionConfig,
) -> Arc<enclave_app::Retention> {
    enclave_app::Retention::new(
        store.clone(),
        files.clone(),
        Audit::new(store.clone()),
        retention,
    )
}

/// The LDAP service on the configured providers, checking directory passwords for `accounts`.
pub fn open_ldap(
    config: &Config,
    store: &Arc<dyn Store>,
    accounts: &Arc<Accounts>,
    limits: Arc<UserLimits>,
) -> anyhow::Result<Arc<Ldap>> {
    // Audited like the API's: the departments a sync creates and the placements it makes are
    // recorded in their own transactions.
    let departments = Arc::new(
        Departments::new(store.clone(), store.clone(), store.clone(), limits)
            .with_audit(accounts.audit().clone()),
    );
    let ldap = Ldap::new(
        config.ldap_providers()?,
        store.clone(),
        accounts.clone(),
        departments,
    );
    ldap.install();
    Ok(ldap)
}

/// The bus to the other nodes: NATS when `cluster.nats_url` is set, else in-process.
async fn open_bus(config: &Config) -> anyhow::Result<Arc<dyn enclave_bus::Bus>> {
    if config.cluster.nats_url.is_empty() {
        return Ok(enclave_bus::LocalBus::new());
    }
    let bus = enclave_bus::NatsBus::connect(&config.cluster.nats_url, &config.cluster.name)
        .await
        .with_context(|| {
            format!(
                "connecting to NATS at {}",
                crate::config::mask_url(&config.cluster.nats_url)
            )
        })?;
    tracing::info!(
        node = format!("{:x}", enclave_bus::Bus::node_id(bus.as_ref()).0),
        "joined the cluster over NATS"
    );
    Ok(bus)
}

pub fn run(config: Config) -> anyhow::Result<()> {
    init_logging(&config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(serve(config))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: no new connections; finishing in-flight requests");
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let addr = config.listen_addr()?;
    let store = open_store(&config).await?;
    // One set of buckets for every door, so REST and WebSocket share a user's budget.
    let limits = Arc::new(UserLimits::new(config.rate_limit_config()));
    let audit = Audit::new(store.clone());
    let accounts = Arc::new(
        Accounts::new(store.clone(), config.auth_config(), limits.clone())
            .context("setting up accounts")?
            .with_audit(audit.clone())
            .with_secret_keys(&config.key_ring()?),
    );
    // Authenticator app secrets stored in the clear by an older version, or under a master key
    // that has since been rotated, are sealed under the current key.
    match accounts.seal_totp_secrets().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            count = n,
            "sealed authenticator app secrets under the current master key"
        ),
        Err(e) => tracing::warn!(error = %e, "cannot seal the stored authenticator app secrets"),
    }
    let bus = open_bus(&config).await?;
    let feed = EventFeed::start(store.clone(), bus.clone())
        .await
        .context("starting the event feed")?;
    accounts.follow(&feed);
    if accounts.needs_setup().await? {
        tracing::warn!(
            "no administrator yet: create one with `enclave admin create-user NAME --admin`"
        );
    }
    let tls = !config.tls.cert.is_empty();
    let files = open_files(&config, store.clone(), limits.clone())?;
    let previews = files.previews();
    let hub = Hub::start(
        store.clone(),
        previews.clone(),
        &feed,
        bus.clone(),
        config.realtime_config(),
    )
    .await
    .context("starting the real-time hub")?;
    let ldap = open_ldap(&config, &store, &accounts, limits.clone())?;
    let retention = open_retention(&store, &files, config.retention_config());
    let mut job_list = background_jobs(&config, &store, &files, &retention);
    for job in LdapSync::for_providers(&ldap) {
        job_list.push(Arc::new(job));
    }
    // One node of a cluster at a time runs the cluster's jobs (directory sync, guest expiry,
    // pruning): the node's bus id names it in the job leases.
    let node = format!("{:x}", enclave_bus::Bus::node_id(bus.as_ref()).0);
    let jobs = Arc::new(Scheduler::start_with_leases(
        job_list,
        Leases::new(store.clone(), node),
    ));
    let backups = enclave_app::Backups::new(
        Arc::new(crate::backup::BackupFolderView::new(&config)),
        jobs.clone(),
    );
    retention.attach(jobs.clone());
    let http_config = enclave_http::HttpConfig {
        secure_cookies: tls || config.http.secure_cookies,
        session_ttl: config.auth_config().session_ttl,
        trusted_proxies: config.trusted_proxies()?,
        heartbeat: Duration::from_secs(config.realtime.heartbeat_secs),
        hsts: tls,
    };
    let roles = Arc::new(
        Roles::new(
            store.clone(),
            store.clone(),
            store.clone(),
            accounts.clone(),
            config.guest_policy(),
            limits.clone(),
        )
        .with_audit(audit.clone()),
    );
    // The one outbound client (allow-listed); single sign-on goes through it.
    let outbound = enclave_app::Outbound::new(config.outbound_config()?)
        .context("setting up the outbound client")?;
    let sso = Arc::new(enclave_app::Sso::new(
        store.clone(),
        accounts.clone(),
        roles.clone(),
        // Audited like the API's: group mapping's departments and placements are recorded.
        Departments::new(store.clone(), store.clone(), store.clone(), limits.clone())
            .with_audit(audit.clone()),
        audit.clone(),
        outbound.clone(),
        config.sso_config()?,
    ));
    let webhooks = Arc::new(enclave_app::Webhooks::new(
        store.clone(),
        accounts.clone(),
        Messages::new(
            store.clone(),
            store.clone(),
            store.clone(),
            store.clone(),
            previews.clone(),
            limits.clone(),
        )
        .with_audit(audit.clone()),
        audit.clone(),
    ));
    // Outgoing webhooks: the worker follows the event log (and its own cursor) on every node.
    let outgoing = Arc::new(enclave_app::Outgoing::new(
        store.clone(),
        accounts.clone(),
        Messages::new(
            store.clone(),
            store.clone(),
            store.clone(),
            store.clone(),
            previews.clone(),
            limits.clone(),
        )
        .with_audit(audit.clone()),
        audit.clone(),
        outbound.clone(),
        &config.key_ring()?,
    ));
    outgoing.start(&feed);
    // The listener is bound here: the `response_url`s of slash commands name the address it
    // got (a port chosen by the system when `listen` asks for port 0).
    let std_listener =
        std::net::TcpListener::bind(addr).with_context(|| format!("binding {addr}"))?;
    std_listener.set_nonblocking(true)?;
    let local = std_listener.local_addr()?;
    // Slash commands: built-ins through the same services as the API; custom ones through the
    // outbound client; `response_url`s are made from the public address.
    let commands = Arc::new(enclave_app::Commands::new(
        store.clone(),
        accounts.clone(),
        Channels::new(store.clone(), store.clone(), limits.clone()).with_audit(audit.clone()),
        Messages::new(
            store.clone(),
            store.clone(),
            store.clone(),
            store.clone(),
            previews.clone(),
            limits.clone(),
        )
        .with_audit(audit.clone()),
        audit.clone(),
        outbound,
        &config.key_ring()?,
        config.public_base_url_at(local)?,
    ));
    let app = enclave_http::router(
        enclave_http::Deps {
            roles,
            sso,
            accounts,
            channels: Channels::new(store.clone(), store.clone(), limits.clone())
                .with_audit(audit.clone()),
            messages: Messages::new(
                store.clone(),
                store.clone(),
                store.clone(),
                store.clone(),
                previews.clone(),
                limits.clone(),
            )
            .with_audit(audit.clone()),
            files,
            search: Search::new(store.clone(), store.clone(), previews, limits.clone()),
            health: Health::new(store.clone()),
            hub: hub.clone(),
            departments: Departments::new(store.clone(), store.clone(), store.clone(), limits)
                .with_audit(audit.clone()),
            audit,
            ldap,
            webhooks,
            outgoing,
            commands,
            backups,
            retention,
        },
        http_config,
    );
    let make_service = app.into_make_service_with_connect_info::<SocketAddr>();
    let scheme = if tls { "https" } else { "http" };
    let grace = Duration::from_secs(config.http.shutdown_grace_secs);
    let timeouts = Timeouts {
        header_read: Duration::from_secs(config.http.header_read_timeout_secs),
        idle: Duration::from_secs(config.http.idle_timeout_secs),
    };
    let idle = IdleAcceptor {
        idle: timeouts.idle,
    };

    let handle = axum_server::Handle::new();
    let shutdown_handle = handle.clone();
    let hub_for_signal = hub.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        hub_for_signal.shutdown();
        shutdown_handle.graceful_shutdown(Some(grace));
    });
    let server = axum_server::from_tcp(std_listener)?.handle(handle);
    if tls {
        let rustls =
            axum_server::tls_rustls::RustlsConfig::from_pem_file(&config.tls.cert, &config.tls.key)
                .await
                .with_context(|| {
                    format!(
                        "loading TLS certificate {} and key {}",
                        config.tls.cert, config.tls.key
                    )
                })?;
        let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(rustls)
            .handshake_timeout(timeouts.header_read)
            .acceptor(idle);
        tracing::info!(addr = %local, startup_ms = started.elapsed().as_millis() as u64, "listening on {scheme}://{local}");
        listener::configure(server.acceptor(acceptor), timeouts)
            .serve(make_service)
            .await
            .context("serving HTTPS")?;
    } else {
        tracing::info!(addr = %local, startup_ms = started.elapsed().as_millis() as u64, "listening on {scheme}://{local}");
        listener::configure(server.acceptor(idle), timeouts)
            .serve(make_service)
            .await
            .context("serving HTTP")?;
    }
    // Upgraded sockets are not tracked by the HTTP server: let them send their close frames.
    hub.shutdown_and_wait(Duration::from_secs(5)).await;
    jobs.shutdown().await;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}
