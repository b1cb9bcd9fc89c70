//! The `http-send` scenario.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use serde_json::json;

use crate::setup::{Admin, Client};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Server base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Administrator login used to create the test users and channels.
    #[arg(long, default_value = "admin")]
    admin_user: String,
    #[arg(long, env = "ENCLAVE_LOAD_ADMIN_PASSWORD")]
    admin_password: String,
    /// Concurrent senders (each its own user and connection).
    #[arg(long, default_value_t = 100)]
    clients: usize,
    /// Channels the senders are spread over.
    #[arg(long, default_value_t = 10)]
    channels: usize,
    /// How long to send.
    #[arg(long, default_value = "10", value_name = "SECONDS")]
    duration: u64,
    /// Target total sends per second (0: as fast as acknowledgements come back).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Message text length in characters.
    #[arg(long, default_value_t = 100)]
    size: usize,
    /// Name prefix for created users and channels (reused across runs).
    #[arg(long, default_value = "load")]
    prefix: String,
    /// Skip checking that the channels hold exactly the acknowledged messages.
    #[arg(long)]
    no_verify: bool,
}

struct Report {
    acked: u64,
    errors: u64,
    elapsed: Duration,
    latency_us: Histogram<u64>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    if args.clients == 0 || args.channels == 0 {
        bail!("--clients and --channels must be at least 1");
    }
    let password = "load-test-password";
    let admin = Admin::connect(&args.url, &args.admin_user, &args.admin_password).await?;
    eprintln!(
        "setting up {} users and {} channels...",
        args.clients, args.channels
    );
    let run_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let clients = admin
        .users(&format!("{}u", args.prefix), args.clients, password, 32)
        .await?;
    let mut channels = Vec::new();
    for c in 0..args.channels {
        channels.push(
            admin
                .channel(&format!("{}-{run_id}-{c}", args.prefix))
                .await?,
        );
    }
    for (i, client) in clients.iter().enumerate() {
        admin
            .add_member(&channels[i % channels.len()], &client.user_id)
            .await?;
    }
    eprintln!(
        "sending for {} s from {} clients...",
        args.duration, args.clients
    );
    let text: String = "x".repeat(args.size.max(1));
    let deadline = Instant::now() + Duration::from_secs(args.duration);
    let per_client_interval =
        (args.rate > 0).then(|| Duration::from_secs_f64(args.clients as f64 / args.rate as f64));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, client) in clients.iter().cloned().enumerate() {
        let channel = channels[i % channels.len()].clone();
        let url = format!("{}/api/v1/channels/{channel}/messages", args.url);
        let text = text.clone();
        let errors = errors.clone();
        tasks.push(tokio::spawn(async move {
            sender(i, client, url, text, deadline, per_client_interval, errors).await
        }));
    }
    let mut hist = Histogram::<u64>::new(3)?;
    let mut acked = 0u64;
    let mut acked_per_channel = vec![0u64; channels.len()];
    for (i, t) in tasks.into_iter().enumerate() {
        let h = t.await.context("sender task")??;
        acked += h.len();
        acked_per_channel[i % channels.len()] += h.len();
        hist.add(&h)?;
    }
    let report = Report {
        acked,
        errors: errors.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
        latency_us: hist,
    };
    print_report(&args, &report);
    if !args.no_verify {
        verify(&admin, &channels, &acked_per_channel).await?;
    }
    Ok(())
}

async fn sender(
    index: usize,
    client: Client,
    url: String,
    text: String,
    deadline: Instant,
    interval: Option<Duration>,
    errors: Arc<AtomicU64>,
) -> anyhow::Result<Histogram<u64>> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()?;
    let mut hist = Histogram::<u64>::new(3)?;
    let mut n = 0u64;
    let mut next = Instant::now();
    while Instant::now() < deadline {
        if let Some(iv) = interval {
            tokio::time::sleep_until(next.into()).await;
            next += iv;
        }
        let t0 = Instant::now();
        let resp = http
            .post(&url)
            .bearer_auth(&client.token)
            .json(&json!({"text": text, "client_msg_id": format!("load-{index}-{n}")}))
            .send()
            .await;
        match resp {
            Ok(r) if r.status().is_success() => {
                let _ = r.bytes().await;
                hist.record(u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX))?;
                n += 1;
            }
            Ok(r) => {
                errors.fetch_add(1, Ordering::Relaxed);
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                eprintln!("send failed: {status}: {body}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => {
                errors.fetch_add(1, Ordering::Relaxed);
                eprintln!("send failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    Ok(hist)
}

fn print_report(args: &Args, r: &Report) {
    let secs = r.elapsed.as_secs_f64();
    let ms = |us: u64| us as f64 / 1000.0;
    let h = &r.latency_us;
    println!("scenario        http-send");
    println!("clients         {}", args.clients);
    println!("channels        {}", args.channels);
    println!("duration        {secs:.1} s");
    println!("acknowledged    {}", r.acked);
    println!("errors          {}", r.errors);
    println!("sends/s         {:.0}", r.acked as f64 / secs);
    println!(
        "latency ms      p50 {:.2}  p95 {:.2}  p99 {:.2}  max {:.2}",
        ms(h.value_at_quantile(0.50)),
        ms(h.value_at_quantile(0.95)),
        ms(h.value_at_quantile(0.99)),
        ms(h.max())
    );
}

/// Checks that each channel holds exactly as many messages as were acknowledged for it
/// (each channel was created by this run, so its `last_seq` is the count).
async fn verify(admin: &Admin, channels: &[String], acked: &[u64]) -> anyhow::Result<()> {
    for (ch, want) in channels.iter().zip(acked) {
        let body = admin
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/channels/{ch}"),
                None,
            )
            .await?;
        let got = body["last_seq"].as_u64().context("last_seq")?;
        if got != *want {
            bail!("channel {ch}: {want} sends acknowledged but {got} stored");
        }
    }
    println!("verified        every acknowledged send stored exactly once");
    Ok(())
}
