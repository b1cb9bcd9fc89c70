//! The `ws-idle` scenario: many idle WebSocket connections held open for a while, to measure
//! how many the server holds and how much memory each costs it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::bail;
use tokio::sync::watch;

use crate::setup::Admin;
use crate::ws::{self, Common, Ctx, Phase, Report, Role, Stats, Target, Traffic};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    common: Common,
    /// Idle connections to open and hold.
    #[arg(long, default_value_t = 10_000)]
    connections: usize,
    /// Users the connections are spread over, round-robin (several devices per user);
    /// default: min(connections, 1000).
    #[arg(long)]
    users: Option<usize>,
    /// How long to hold the connections once all are open.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    hold: u64,
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    let n = a.connections;
    let n_users = a.users.unwrap_or(n.min(1000)).min(n);
    if n == 0 || n_users == 0 {
        bail!("--connections and --users must be at least 1");
    }
    let common = &a.common;
    // Idle sockets receive almost nothing: a small read buffer keeps this tool's memory down.
    let target = Target::new(common, n, 1024).await?;
    let admin = Admin::connect(&common.url, &common.admin_user, &common.admin_password).await?;
    eprintln!("setting up {n_users} users...");
    let users = admin
        .users(
            &format!("{}u", common.prefix),
            n_users,
            ws::PASSWORD,
            common.setup_concurrency,
        )
        .await?;

    let rss_before = ws::stable_server_rss(common).await;
    let own_before = ws::own_rss();
    let ctx = Arc::new(Ctx {
        target,
        stats: Stats::default(),
        traffic: Traffic::new(0, 0)?,
    });
    let roles: Vec<Role> = (0..n)
        .map(|i| Role {
            index: i,
            token: users[i % n_users].token.clone(),
            channel: None,
        })
        .collect();
    let (phase, _keep) = watch::channel(Phase::Connect);
    let connect_started = Instant::now();
    let handles = ws::connect_all(&ctx, roles, &phase).await;
    let connect_secs = connect_started.elapsed().as_secs_f64();
    let hello = ctx.stats.hello.load(Ordering::Relaxed);

    eprintln!("holding for {} s...", a.hold);
    let hold_end = Instant::now() + Duration::from_secs(a.hold);
    while Instant::now() < hold_end {
        tokio::time::sleep(Duration::from_secs(1).min(hold_end - Instant::now())).await;
        eprintln!(
            "  open {}, server RSS {}",
            ctx.stats.open.load(Ordering::Relaxed),
            ws::server_rss(common).map_or("?".to_owned(), |k| format!("{} KiB", k))
        );
    }
    let held = ctx.stats.open.load(Ordering::Relaxed).max(0);
    let rss_after = ws::server_rss(common);
    let own_after = ws::own_rss();
    let _results = ws::stop_all(&phase, handles).await;

    let mut rep = Report::new("ws-idle");
    rep.line(
        "connections",
        format!(
            "{n} requested over {n_users} users, {hello} hello frames received, {held} held at the end"
        ),
    );
    rep.json("connections_requested", n);
    rep.json("users", n_users);
    rep.json("hello_received", hello);
    rep.json("connections_held", held);
    rep.line(
        "connect time",
        format!(
            "{connect_secs:.1} s ({:.0} connections/s)",
            if connect_secs > 0.0 {
                hello as f64 / connect_secs
            } else {
                0.0
            }
        ),
    );
    rep.json("connect_s", connect_secs);
    rep.line("held for", format!("{} s", a.hold));
    rep.json("hold_s", a.hold);
    ctx.stats.report(&mut rep);
    rep.rss("server RSS before", "server_rss_before_kib", rss_before);
    rep.rss("server RSS after", "server_rss_after_kib", rss_after);
    let per_conn = |before: Option<u64>, after: Option<u64>| match (before, after) {
        (Some(b), Some(a)) if hello > 0 => Some((a as f64 - b as f64) * 1024.0 / hello as f64),
        _ => None,
    };
    match per_conn(rss_before, rss_after) {
        Some(b) => {
            rep.line(
                "server per conn",
                format!("{b:.0} bytes (RSS after - before, / hello frames)"),
            );
            rep.json("server_bytes_per_connection", b);
        }
        None => rep.json("server_bytes_per_connection", serde_json::Value::Null),
    }
    rep.rss("load tool RSS before", "load_rss_before_kib", own_before);
    rep.rss("load tool RSS after", "load_rss_after_kib", own_after);
    if let Some(b) = per_conn(own_before, own_after) {
        rep.line("load tool per conn", format!("{b:.0} bytes"));
        rep.json("load_bytes_per_connection", b);
    }
    rep.print();
    Ok(())
}
