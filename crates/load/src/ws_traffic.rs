//! The `ws-channels` and `ws-fanout` scenarios: connections in channels, some of them sending
//! `send` frames at a fixed total rate, every member recording the delay from send to its
//! `message.created` and checking it gets every message once, in `seq` order.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::bail;
use tokio::sync::watch;

use crate::setup::{Admin, concurrently};
use crate::ws::{
    self, ChannelRole, Common, ConnResult, Ctx, Phase, Report, Role, SendPlan, Stats, Target,
    Traffic,
};

#[derive(clap::Args, Debug)]
pub struct ChannelsArgs {
    #[command(flatten)]
    common: Common,
    /// Clients, each its own user and WebSocket, and each a sender.
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// Members per channel (the clients are split into channels of this size).
    #[arg(long, default_value_t = 5)]
    members: usize,
    /// Total sends per second over all clients.
    #[arg(long, default_value_t = 2000.0)]
    rate: f64,
    /// How long to send.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    duration: u64,
    /// After sending, wait at most this long for outstanding acks and deliveries.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    drain: u64,
    /// Before connecting, wait (at most this long) until a probe socket has received the
    /// setup's member.added events; after connecting, until no frame has arrived for a second.
    /// Keeps events left over from the setup out of the measurement.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    settle: u64,
    /// Message text length (after the `t=NANOS ` time stamp).
    #[arg(long, default_value_t = 100)]
    size: usize,
}

#[derive(clap::Args, Debug)]
pub struct FanoutArgs {
    #[command(flatten)]
    common: Common,
    /// Members of the one channel, each its own user and WebSocket.
    #[arg(long, default_value_t = 10_000)]
    members: usize,
    /// Members that send (the others only receive).
    #[arg(long, default_value_t = 1)]
    senders: usize,
    /// Total sends per second over all senders.
    #[arg(long, default_value_t = 25.0)]
    rate: f64,
    /// How long to send.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    duration: u64,
    /// After sending, wait at most this long for outstanding acks and deliveries.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    drain: u64,
    /// Before connecting, wait (at most this long) until a probe socket has received the
    /// setup's member.added events; after connecting, until no frame has arrived for a second.
    /// Keeps events left over from the setup out of the measurement.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    settle: u64,
    /// Message text length (after the `t=NANOS ` time stamp).
    #[arg(long, default_value_t = 100)]
    size: usize,
}

/// Connection `i` is user `i`, a member of channel `channel_of[i]`, and a sender when
/// `senders[i]` is set.
struct Plan {
    scenario: &'static str,
    common: Common,
    channels: usize,
    channel_of: Vec<usize>,
    senders: Vec<Option<SendPlan>>,
    rate: f64,
    duration: u64,
    drain: u64,
    settle: u64,
    size: usize,
}

pub async fn run_channels(a: ChannelsArgs) -> anyhow::Result<()> {
    if a.clients == 0 || a.members == 0 {
        bail!("--clients and --members must be at least 1");
    }
    if !a.rate.is_finite() || a.rate <= 0.0 {
        bail!("--rate must be above 0");
    }
    let interval = Duration::from_secs_f64(a.clients as f64 / a.rate);
    let n = a.clients;
    run(Plan {
        scenario: "ws-channels",
        common: a.common,
        channels: n.div_ceil(a.members),
        channel_of: (0..n).map(|i| i / a.members).collect(),
        senders: (0..n)
            .map(|i| {
                Some(SendPlan {
                    interval,
                    offset: interval.mul_f64(i as f64 / n as f64),
                })
            })
            .collect(),
        rate: a.rate,
        duration: a.duration,
        drain: a.drain,
        settle: a.settle,
        size: a.size,
    })
    .await
}

pub async fn run_fanout(a: FanoutArgs) -> anyhow::Result<()> {
    if a.members == 0 || a.senders == 0 || a.senders > a.members {
        bail!("need 1 <= --senders <= --members");
    }
    if !a.rate.is_finite() || a.rate <= 0.0 {
        bail!("--rate must be above 0");
    }
    let s = a.senders;
    let interval = Duration::from_secs_f64(s as f64 / a.rate);
    run(Plan {
        scenario: "ws-fanout",
        common: a.common,
        channels: 1,
        channel_of: vec![0; a.members],
        senders: (0..a.members)
            .map(|i| {
                (i < s).then(|| SendPlan {
                    interval,
                    offset: interval.mul_f64(i as f64 / s as f64),
                })
            })
            .collect(),
        rate: a.rate,
        duration: a.duration,
        drain: a.drain,
        settle: a.settle,
        size: a.size,
    })
    .await
}

async fn run(plan: Plan) -> anyhow::Result<()> {
    let common = &plan.common;
    let n = plan.channel_of.len();
    let target = Target::new(common, n, 4096).await?;
    let admin = Admin::connect(&common.url, &common.admin_user, &common.admin_password).await?;
    let conc = common.setup_concurrency;

    eprintln!(
        "setting up {n} users in {} fresh channel(s)...",
        plan.channels
    );
    let users = admin
        .users(&format!("{}u", common.prefix), n, ws::PASSWORD, conc)
        .await?;
    let run = ws::run_id();
    let admin_ref = &admin;
    let prefix = &common.prefix;
    let run_ref = &run;
    let channels: Vec<Arc<str>> =
        concurrently("channels created", plan.channels, conc, |c| async move {
            let id = admin_ref
                .channel(&format!("{prefix}-{run_ref}-{c}"))
                .await?;
            Ok(Arc::<str>::from(id))
        })
        .await?;
    let probe = ws::Probe::start(&target, &admin.token, &channels, &users).await?;
    let channels_ref = &channels;
    let users_ref = &users;
    let channel_of = &plan.channel_of;
    concurrently("members added", n, conc, |i| async move {
        admin_ref
            .add_member(&channels_ref[channel_of[i]], &users_ref[i].user_id)
            .await
    })
    .await?;
    eprintln!("waiting until the server has delivered the setup's member.added events...");
    let (probe_seen, probe_time) = probe.wait(n as u64, Duration::from_secs(plan.settle)).await;

    let rss_before = ws::stable_server_rss(common).await;
    let own_before = ws::own_rss();
    let ctx = Arc::new(Ctx {
        target,
        stats: Stats::default(),
        traffic: Traffic::new(plan.channels, plan.size)?,
    });
    let roles: Vec<Role> = users
        .into_iter()
        .enumerate()
        .map(|(i, u)| Role {
            index: i,
            token: u.token,
            channel: Some(ChannelRole {
                idx: plan.channel_of[i],
                id: channels[plan.channel_of[i]].clone(),
                sender: plan.senders[i],
            }),
        })
        .collect();
    let n_senders = plan.senders.iter().filter(|s| s.is_some()).count();
    let (phase, _keep) = watch::channel(Phase::Connect);
    let handles = ws::connect_all(&ctx, roles, &phase).await;
    let connected = ctx.stats.hello.load(Ordering::Relaxed);
    let rss_connected = ws::server_rss(common);
    let (settle_frames, settle_time) = if connected > 0 {
        eprintln!("waiting for the connections to go quiet...");
        ws::settle(&ctx, Duration::from_secs(plan.settle)).await
    } else {
        (0, Duration::ZERO)
    };

    let tr = &ctx.traffic;
    let start = Instant::now() + Duration::from_millis(200);
    let end = start + Duration::from_secs(plan.duration);
    let start_ns = ws::now_ns() + 200_000_000;
    let mut cpu_before = (None, None);
    let mut cpu_started = Instant::now();
    if connected > 0 {
        eprintln!(
            "sending {:.0}/s from {n_senders} sender(s) for {} s...",
            plan.rate, plan.duration
        );
        phase.send_replace(Phase::Run { start, end });
        cpu_before = ws::cpu_now(common);
        cpu_started = Instant::now();
        while Instant::now() < end {
            tokio::time::sleep(Duration::from_secs(1).min(end - Instant::now())).await;
            progress(&ctx, start);
        }
        // Drain: until every send is answered and deliveries have stopped for a second.
        let drain_end = Instant::now() + Duration::from_secs(plan.drain);
        let mut last = (u64::MAX, Instant::now());
        while Instant::now() < drain_end {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let d = tr.deliveries.load(Ordering::Relaxed);
            if d != last.0 {
                last = (d, Instant::now());
            }
            let sent = tr.sent.load(Ordering::Relaxed);
            let answered = tr.acked.load(Ordering::Relaxed) + tr.refused.load(Ordering::Relaxed);
            if answered >= sent && last.1.elapsed() >= Duration::from_secs(1) {
                break;
            }
        }
        progress(&ctx, start);
    } else {
        eprintln!("no connection was established; not sending");
    }
    let cpu_after = ws::cpu_now(common);
    let cpu_secs = cpu_started.elapsed().as_secs_f64();
    let held = ctx.stats.open.load(Ordering::Relaxed).max(0);
    let rss_after = ws::server_rss(common);
    let own_after = ws::own_rss();
    let results = ws::stop_all(&phase, handles).await;

    // Figures.
    let sent = tr.sent.load(Ordering::Relaxed);
    let acked = tr.acked.load(Ordering::Relaxed);
    let refused = tr.refused.load(Ordering::Relaxed);
    let deliveries = tr.deliveries.load(Ordering::Relaxed);
    let secs_since_start = |ns: u64| ns.saturating_sub(start_ns) as f64 / 1e9;
    let ack_secs = secs_since_start(tr.last_ack_ns.load(Ordering::Relaxed));
    let delivery_secs = secs_since_start(tr.last_delivery_ns.load(Ordering::Relaxed));
    let per_sec = |count: u64, secs: f64| if secs > 0.0 { count as f64 / secs } else { 0.0 };
    let v = verify(&ctx, &results, &plan);

    let mut rep = Report::new(plan.scenario);
    rep.line(
        "connections",
        format!(
            "{n} requested, {connected} connected, {held} held at the end; {} channel(s) of {} member(s)",
            plan.channels,
            n.div_ceil(plan.channels)
        ),
    );
    rep.line(
        "settle",
        format!(
            "{settle_frames} frames arrived between connecting and sending ({:.1} s)",
            settle_time.as_secs_f64()
        ),
    );
    rep.line(
        "setup events",
        format!(
            "{probe_seen}/{n} member.added events reached the probe socket {:.1} s after the last add",
            probe_time.as_secs_f64()
        ),
    );
    rep.json("setup_events_seen", probe_seen);
    rep.json("setup_events_wait_s", probe_time.as_secs_f64());
    rep.json("settle_frames", settle_frames);
    rep.json("settle_s", settle_time.as_secs_f64());
    rep.json("connections_requested", n);
    rep.json("connections_connected", connected);
    rep.json("connections_held", held);
    rep.json("channels", plan.channels);
    rep.json("members_per_channel", n.div_ceil(plan.channels));
    rep.json("senders", n_senders);
    rep.line(
        "sending",
        format!(
            "{n_senders} sender(s), target {:.0}/s for {} s",
            plan.rate, plan.duration
        ),
    );
    rep.json("target_rate", plan.rate);
    rep.json("duration_s", plan.duration);
    rep.line(
        "sends",
        format!(
            "{sent} sent, {acked} acknowledged, {refused} refused, {} unanswered",
            sent.saturating_sub(acked + refused)
        ),
    );
    rep.json("sent", sent);
    rep.json("acked", acked);
    rep.json("refused", refused);
    rep.json("unanswered", sent.saturating_sub(acked + refused));
    rep.json(
        "acks_not_created",
        tr.ack_not_created.load(Ordering::Relaxed),
    );
    rep.line("acks/s", format!("{:.0}", per_sec(acked, ack_secs)));
    rep.json("acks_per_s", per_sec(acked, ack_secs));
    rep.latency(
        "ack latency ms",
        "ack_latency_ms",
        &tr.ack_latency.merged()?,
    );
    rep.line(
        "deliveries",
        format!(
            "{deliveries} (the acknowledged sends alone make {})",
            v.expected_deliveries
        ),
    );
    rep.json("deliveries", deliveries);
    rep.json("expected_deliveries", v.expected_deliveries);
    rep.line(
        "deliveries/s",
        format!("{:.0}", per_sec(deliveries, delivery_secs)),
    );
    rep.json("deliveries_per_s", per_sec(deliveries, delivery_secs));
    rep.latency("delivery ms", "delivery_latency_ms", &tr.latency.merged()?);
    rep.line(
        "verification",
        format!(
            "{}/{} receivers got every acknowledged message exactly once, in seq order",
            v.complete, v.receivers
        ),
    );
    rep.line(
        "violations",
        format!(
            "{} receivers missing acknowledged messages, {} with gaps, {} with duplicates or out-of-order frames, {} frames of other channels",
            v.missing, v.with_gaps, v.out_of_order, v.foreign
        ),
    );
    rep.json("receivers", v.receivers);
    rep.json("receivers_complete", v.complete);
    rep.json("receivers_missing", v.missing);
    rep.json("receivers_with_gaps", v.with_gaps);
    rep.json("receivers_out_of_order", v.out_of_order);
    rep.json("foreign_frames", v.foreign);
    ctx.stats.report(&mut rep);
    rep.cpu(cpu_before, cpu_after, cpu_secs);
    rep.rss("server RSS before", "server_rss_before_kib", rss_before);
    rep.rss(
        "server RSS connected",
        "server_rss_connected_kib",
        rss_connected,
    );
    rep.rss("server RSS after", "server_rss_after_kib", rss_after);
    rep.rss("load tool RSS before", "load_rss_before_kib", own_before);
    rep.rss("load tool RSS after", "load_rss_after_kib", own_after);
    rep.print();
    Ok(())
}

fn progress(ctx: &Ctx, start: Instant) {
    let tr = &ctx.traffic;
    eprintln!(
        "  {:5.1} s: sent {}, acked {}, deliveries {}, open {}",
        start.elapsed().as_secs_f64(),
        tr.sent.load(Ordering::Relaxed),
        tr.acked.load(Ordering::Relaxed),
        tr.deliveries.load(Ordering::Relaxed),
        ctx.stats.open.load(Ordering::Relaxed)
    );
}

#[derive(Default)]
struct Verdict {
    receivers: u64,
    complete: u64,
    missing: u64,
    with_gaps: u64,
    out_of_order: u64,
    foreign: u64,
    expected_deliveries: u64,
}

/// Every channel is fresh and only this run posts into it, so its messages have seqs 1, 2, 3...
/// A receiver got every acknowledged message exactly once, in order, when it saw seqs 1 up to
/// at least the highest acknowledged seq of its channel, each once, ascending.
fn verify(ctx: &Ctx, results: &[ConnResult], plan: &Plan) -> Verdict {
    let max_acked: Vec<i64> = ctx
        .traffic
        .acked_max_seq
        .iter()
        .map(|a| a.load(Ordering::Relaxed))
        .collect();
    let mut members = vec![0u64; plan.channels];
    for c in &plan.channel_of {
        members[*c] += 1;
    }
    let mut v = Verdict {
        receivers: plan.channel_of.len() as u64,
        expected_deliveries: max_acked
            .iter()
            .zip(&members)
            .map(|(s, m)| u64::try_from(*s).unwrap_or(0) * m)
            .sum(),
        ..Verdict::default()
    };
    for r in results {
        let Some(c) = r.channel else { continue };
        v.foreign += r.foreign;
        let missing = !r.connected || r.last_seq < max_acked[c];
        if missing {
            v.missing += 1;
        }
        if r.gaps > 0 {
            v.with_gaps += 1;
        }
        if r.out_of_order > 0 {
            v.out_of_order += 1;
        }
        if !missing && r.gaps == 0 && r.out_of_order == 0 {
            v.complete += 1;
        }
    }
    // Tasks that were aborted count as missing.
    v.missing += v.receivers.saturating_sub(results.len() as u64);
    v
}
