//! What the WebSocket scenarios (`ws-channels`, `ws-fanout`, `ws-idle`) share: options,
//! connecting (with source-address spreading), one task per connection that keeps reading its
//! socket, frame parsing, counters, server memory, and the report helpers.
//!
//! Protocol: docs/api/realtime.md. The client connects to `GET /api/v1/ws` with
//! `Authorization: Bearer TOKEN`; the first server frame is `hello`; `send` frames are answered
//! with `ack` once durable, and every channel member gets `message.created`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, Uri, header};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};

/// Shown under `--help` of every WebSocket scenario.
pub const SERVER_HINT: &str = "\
Server setup: these scenarios create (or reuse) thousands of users and log each in, so start
the server with cheap password hashing:
  ENCLAVE_AUTH__ARGON2_MEMORY_KIB=64 ENCLAVE_AUTH__ARGON2_ITERATIONS=1 enclave --data DIR serve
and give the server (and this tool's shell) an open-file limit above the number of connections
(`ulimit -n`; this tool raises its own soft limit to the hard limit). Beyond about 28,000
connections pass --source-ips so the client sockets spread over several loopback addresses.
Pass --server-pid $(pidof enclave) to get the server's memory (VmRSS) and CPU time in the
report; for memory per connection use a freshly started server (memory freed by an earlier run
is reused without growing RSS, which would understate the cost).
Every run prints a human-readable report on stdout followed by one line `RESULT {json}`.";

pub type Ws = WebSocketStream<TcpStream>;

/// Options shared by every WebSocket scenario.
#[derive(clap::Args, Debug, Clone)]
pub struct Common {
    /// Server base URL (http://; the WebSocket URL ws://.../api/v1/ws is derived from it).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Administrator login used to create the test users and channels.
    #[arg(long, default_value = "admin")]
    pub admin_user: String,
    #[arg(long, env = "ENCLAVE_LOAD_ADMIN_PASSWORD")]
    pub admin_password: String,
    /// Name prefix for the test users, which are reused across runs (users are named
    /// PREFIXu0, PREFIXu1, ...); channels get fresh names on every run.
    #[arg(long, default_value = "ws")]
    pub prefix: String,
    /// The server's process id: its resident memory (VmRSS in /proc/PID/status) is reported.
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,
    /// Bind the client sockets round-robin to 127.0.0.1 .. 127.0.0.N (loopback servers only),
    /// so that more connections fit in the ephemeral port range (about 28,000 per address).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub source_ips: u32,
    /// WebSocket connections being opened at once.
    #[arg(long, default_value_t = 256)]
    pub connect_concurrency: usize,
    /// Setup requests (user creation and login, memberships) in flight at once.
    #[arg(long, default_value_t = 32)]
    pub setup_concurrency: usize,
    /// Give up on a connection whose TCP connect, upgrade and `hello` take longer than this.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub connect_timeout: u64,
}

/// The password of every test user.
pub const PASSWORD: &str = "load-test-password";

/// Nanoseconds since the process-wide epoch (the first call). The tool is one process, so a
/// send time written into a message can be compared with the receive time directly.
pub fn now_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// A name part that differs on every run (milliseconds since the Unix epoch, in base 36).
pub fn run_id() -> String {
    let mut n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    while n > 0 {
        out.push(digits[(n % 36) as usize]);
        n /= 36;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// Raises the soft open-file limit to the hard limit; fails if even that is below `needed`.
pub fn raise_nofile(needed: u64) -> anyhow::Result<u64> {
    let (soft, hard) = rlimit::Resource::NOFILE.get()?;
    let cap = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(hard);
    let target = hard.min(cap);
    if soft < target {
        rlimit::Resource::NOFILE
            .set(target, hard)
            .context("raising the open-file limit")?;
    }
    let now = rlimit::Resource::NOFILE.get()?.0;
    eprintln!("open-file limit: {now} (was {soft}, hard limit {hard})");
    if now < needed {
        bail!(
            "{needed} open files are needed but the hard limit is {hard}; raise it \
             (e.g. `ulimit -Hn` as root, LimitNOFILE=) or use fewer connections"
        );
    }
    Ok(now)
}

/// Warns when the connections will not fit in the local ephemeral port range.
fn check_ports(connections: usize, source_ips: u32) {
    let Ok(range) = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range") else {
        return;
    };
    let mut parts = range
        .split_whitespace()
        .filter_map(|p| p.parse::<u64>().ok());
    let (Some(lo), Some(hi)) = (parts.next(), parts.next()) else {
        return;
    };
    let per_ip = hi.saturating_sub(lo) + 1;
    let fits = per_ip * u64::from(source_ips.max(1));
    if connections as u64 > fits {
        eprintln!(
            "warning: {connections} connections but only {per_ip} ephemeral ports ({lo}-{hi}) \
             per source address and {} source address(es): pass --source-ips {}",
            source_ips.max(1),
            (connections as u64).div_ceil(per_ip)
        );
    }
}

/// Resident memory of a process in KiB (VmRSS), if it can be read.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// CPU time (user + system) a process has used, in seconds (from /proc/PID/stat, assuming the
/// usual USER_HZ of 100).
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// CPU seconds of the server (if its pid is known) and of this tool.
pub fn cpu_now(common: &Common) -> (Option<f64>, Option<f64>) {
    (
        common.server_pid.and_then(cpu_secs),
        cpu_secs(std::process::id()),
    )
}

pub fn server_rss(common: &Common) -> Option<u64> {
    common.server_pid.and_then(rss_kib)
}

/// The server's RSS once it has stopped moving (two readings a second apart within 1 %, at most
/// 15 s): a server that freed memory after an earlier run returns it to the system gradually,
/// which would otherwise spoil the baseline.
pub async fn stable_server_rss(common: &Common) -> Option<u64> {
    let mut prev = server_rss(common)?;
    for _ in 0..15 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = server_rss(common)?;
        if now.abs_diff(prev) <= (prev / 100).max(256) {
            return Some(now);
        }
        eprintln!("  server RSS still moving: {prev} -> {now} KiB");
        prev = now;
    }
    eprintln!("warning: server RSS did not settle; the memory figures are approximate");
    Some(prev)
}

pub fn own_rss() -> Option<u64> {
    rss_kib(std::process::id())
}

/// Where and how to connect.
pub struct Target {
    addr: SocketAddr,
    ws_url: String,
    source_ips: u32,
    config: WebSocketConfig,
    timeout: Duration,
    limiter: Semaphore,
}

impl Target {
    /// Checks limits (open files, ports) for `connections` and resolves the server address.
    pub async fn new(
        common: &Common,
        connections: usize,
        read_buffer: usize,
    ) -> anyhow::Result<Target> {
        raise_nofile(connections as u64 + 256)?;
        check_ports(connections, common.source_ips);
        let uri: Uri = common.url.parse().context("--url")?;
        if uri.scheme_str() != Some("http") {
            bail!("--url must be http:// (this tool speaks plain ws://)");
        }
        let host = uri.host().context("--url has no host")?.to_owned();
        let port = uri.port_u16().unwrap_or(80);
        let addr = tokio::net::lookup_host((host.as_str(), port))
            .await
            .with_context(|| format!("resolving {host}"))?
            .min_by_key(|a| !a.is_ipv4())
            .context("the host resolves to no address")?;
        if common.source_ips > 1 && !(addr.ip().is_loopback() && addr.is_ipv4()) {
            bail!("--source-ips needs an IPv4 loopback server address, not {addr}");
        }
        if common.source_ips > 65_000 {
            bail!("--source-ips: at most 65000");
        }
        let authority = uri.authority().map_or(host.clone(), |a| a.to_string());
        let config = WebSocketConfig::default()
            .read_buffer_size(read_buffer)
            .write_buffer_size(0);
        Ok(Target {
            addr,
            ws_url: format!("ws://{authority}/api/v1/ws"),
            source_ips: common.source_ips.max(1),
            config,
            timeout: Duration::from_secs(common.connect_timeout.max(1)),
            limiter: Semaphore::new(common.connect_concurrency.max(1)),
        })
    }

    /// Opens connection number `index` with `token`, waits for its `hello` and returns the
    /// socket and `hello.position`.
    pub async fn connect(&self, index: usize, token: &str) -> anyhow::Result<(Ws, u64)> {
        let _permit = self.limiter.acquire().await?;
        tokio::time::timeout(self.timeout, self.connect_now(index, token))
            .await
            .map_err(|_| anyhow::anyhow!("timed out (connect, upgrade and hello)"))?
    }

    async fn connect_now(&self, index: usize, token: &str) -> anyhow::Result<(Ws, u64)> {
        let socket = if self.addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if self.source_ips > 1 {
            let k = (index % self.source_ips as usize) as u32;
            let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 0, 1)) + k);
            socket
                .bind(SocketAddr::new(IpAddr::V4(ip), 0))
                .with_context(|| format!("bind {ip}"))?;
        }
        let stream = socket.connect(self.addr).await.context("tcp connect")?;
        stream.set_nodelay(true)?;
        let mut request = self.ws_url.as_str().into_client_request()?;
        request.headers_mut().insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}"))?,
        );
        let (mut ws, _response) =
            tokio_tungstenite::client_async_with_config(request, stream, Some(self.config))
                .await
                .map_err(|e| match e {
                    tungstenite::Error::Http(r) => {
                        let body = r
                            .body()
                            .as_ref()
                            .map(|b| String::from_utf8_lossy(b).into_owned())
                            .unwrap_or_default();
                        anyhow::anyhow!("upgrade refused: HTTP {} {body}", r.status())
                    }
                    e => anyhow::anyhow!("upgrade: {e}"),
                })?;
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    let frame: Frame = serde_json::from_str(&t)
                        .with_context(|| format!("first frame is not a server frame: {t}"))?;
                    if frame.kind == "hello" {
                        let position = frame
                            .position
                            .with_context(|| format!("hello without a position: {t}"))?;
                        return Ok((ws, position));
                    }
                    bail!("first frame is {}, not hello", frame.kind);
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(f))) => {
                    bail!("closed before hello: {}", describe_close(f.as_ref()))
                }
                Some(Ok(other)) => bail!("first frame is not text: {other:?}"),
                Some(Err(e)) => bail!("reading hello: {e}"),
                None => bail!("connection closed before hello"),
            }
        }
    }
}

fn describe_close(f: Option<&tungstenite::protocol::CloseFrame>) -> String {
    match f {
        Some(f) => format!("{} {}", u16::from(f.code), f.reason),
        None => "no close code".to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// Frames

/// The parts of a server frame the scenarios look at; everything else is skipped unparsed.
#[derive(Deserialize)]
pub struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    /// Event frames and `hello` carry one (a number; a numeric string is accepted too).
    #[serde(default, deserialize_with = "position")]
    pub position: Option<u64>,
    /// A message object in channel events; a text in `error` frames (ignored here).
    #[serde(default, borrow)]
    pub message: MessageField<'a>,
    #[serde(default)]
    pub client_msg_id: Option<String>,
    /// In `member.*` and `ack` frames.
    #[serde(default)]
    pub channel_id: Option<String>,
    /// In `member.*`, `typing`, `presence` frames.
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub seq: Option<i64>,
    #[serde(default)]
    pub created: Option<bool>,
    #[serde(default)]
    pub code: Option<String>,
}

fn position<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<u64>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a position")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            u64::try_from(v).map(Some).map_err(E::custom)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            v.parse().map(Some).map_err(E::custom)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(V)
}

#[derive(Deserialize)]
pub struct MessageRef<'a> {
    #[serde(borrow)]
    pub channel_id: Cow<'a, str>,
    pub seq: i64,
    #[serde(borrow)]
    pub text: Cow<'a, str>,
}

#[derive(Default)]
pub enum MessageField<'a> {
    Message(MessageRef<'a>),
    #[default]
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for MessageField<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = MessageField<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a message object or a string")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                MessageRef::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(MessageField::Message)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(MessageField::Other)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(MessageField::Other)
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

#[derive(Serialize)]
struct SendFrame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    channel_id: &'a str,
    text: &'a str,
    client_msg_id: &'a str,
}

/// The send time written at the start of a message text: `t=NANOS ...`.
fn text_time(text: &str) -> Option<u64> {
    let rest = text.strip_prefix("t=")?;
    let end = rest.find(' ').unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// The send time at the end of a client message id: `RUN-CONN-N-NANOS`.
fn id_time(id: &str) -> Option<u64> {
    id.rsplit('-').next()?.parse().ok()
}

// ---------------------------------------------------------------------------------------------
// Counters

/// A latency histogram in microseconds, split into shards so that thousands of connection
/// tasks can record without contending on one lock.
pub struct Shards(Vec<Mutex<Histogram<u64>>>);

impl Shards {
    pub fn new(n: usize) -> anyhow::Result<Shards> {
        let mut v = Vec::with_capacity(n);
        for _ in 0..n.max(1) {
            v.push(Mutex::new(Histogram::new(3)?));
        }
        Ok(Shards(v))
    }

    pub fn record(&self, key: usize, us: u64) {
        // `record` grows the histogram as needed (`saturating_record` would clamp to its
        // initial range of about 2 ms); it can only fail beyond u64 range.
        let _ = lock(&self.0[key % self.0.len()]).record(us.max(1));
    }

    pub fn merged(&self) -> anyhow::Result<Histogram<u64>> {
        let mut all = Histogram::new(3)?;
        for h in &self.0 {
            all.add(&*lock(h))?;
        }
        Ok(all)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Counts by description, with the first few printed on stderr as they happen.
#[derive(Default)]
pub struct Tally(Mutex<BTreeMap<String, u64>>);

impl Tally {
    pub fn add(&self, what: &str, key: String, detail: &str) {
        let mut m = lock(&self.0);
        let total: u64 = m.values().sum();
        if total < 5 {
            eprintln!("  {what}: {key}{detail}");
        }
        *m.entry(key).or_insert(0) += 1;
    }

    /// Counts without printing.
    pub fn add_quiet(&self, key: &str) {
        let mut m = lock(&self.0);
        match m.get_mut(key) {
            Some(n) => *n += 1,
            None => {
                m.insert(key.to_owned(), 1);
            }
        }
    }

    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        lock(&self.0).clone()
    }

    pub fn total(&self) -> u64 {
        lock(&self.0).values().sum()
    }
}

/// Connection-level counters, shared by all connection tasks.
#[derive(Default)]
pub struct Stats {
    /// `hello` frames received (connections established).
    pub hello: AtomicU64,
    /// Connections open right now.
    pub open: AtomicI64,
    /// Connections that ended before the scenario told them to close.
    pub dropped: AtomicU64,
    pub pings: AtomicU64,
    /// Text frames received after `hello`.
    pub frames: AtomicU64,
    /// Event frames whose position was not after `hello.position` (the spec says a socket
    /// opened without `since` gets only the events after it).
    pub stale_events: AtomicU64,
    /// Event frames whose position was not above the previous event's on the same socket.
    pub unordered_events: AtomicU64,
    /// Frames that were not JSON server frames.
    pub unparsed: AtomicU64,
    /// Well-formed frames of types the scenario does not look at, by type.
    pub other_events: Tally,
    pub connect_errors: Tally,
    /// Close frames received from the server, by code.
    pub close_codes: Tally,
    /// Read errors and end of stream without a close frame.
    pub read_errors: Tally,
    pub send_errors: Tally,
    /// `error` frames received, by code.
    pub error_frames: Tally,
}

impl Stats {
    pub fn report(&self, rep: &mut Report) {
        let connect_errors = self.connect_errors.snapshot();
        let close_codes = self.close_codes.snapshot();
        let read_errors = self.read_errors.snapshot();
        let send_errors = self.send_errors.snapshot();
        let error_frames = self.error_frames.snapshot();
        rep.line("connect failures", fmt_tally(&connect_errors));
        rep.line(
            "dropped early",
            format!(
                "{} (closed by the server or failed before the end)",
                self.dropped.load(Ordering::Relaxed)
            ),
        );
        rep.line("close frames", fmt_tally(&close_codes));
        rep.line("read errors", fmt_tally(&read_errors));
        rep.line("send errors", fmt_tally(&send_errors));
        rep.line("error frames", fmt_tally(&error_frames));
        let other_events = self.other_events.snapshot();
        rep.line(
            "other frames",
            format!(
                "{} pings, {} unparsable, other events: {}",
                self.pings.load(Ordering::Relaxed),
                self.unparsed.load(Ordering::Relaxed),
                fmt_tally(&other_events)
            ),
        );
        rep.json("connect_failures", tally_json(&connect_errors));
        rep.json("dropped_early", self.dropped.load(Ordering::Relaxed));
        rep.json("close_frames", tally_json(&close_codes));
        rep.json("read_errors", tally_json(&read_errors));
        rep.json("send_errors", tally_json(&send_errors));
        rep.json("error_frames", tally_json(&error_frames));
        let stale = self.stale_events.load(Ordering::Relaxed);
        let unordered = self.unordered_events.load(Ordering::Relaxed);
        rep.line(
            "event positions",
            format!(
                "{stale} events at or before hello.position, {unordered} not above the previous event's"
            ),
        );
        rep.json("stale_events", stale);
        rep.json("unordered_events", unordered);
        rep.json("pings", self.pings.load(Ordering::Relaxed));
        rep.json("other_events", tally_json(&other_events));
        rep.json("unparsable_frames", self.unparsed.load(Ordering::Relaxed));
    }
}

fn fmt_tally(t: &BTreeMap<String, u64>) -> String {
    let total: u64 = t.values().sum();
    if total == 0 {
        return "0".to_owned();
    }
    let parts: Vec<String> = t.iter().map(|(k, v)| format!("{v}× {k}")).collect();
    format!("{total} ({})", parts.join("; "))
}

fn tally_json(t: &BTreeMap<String, u64>) -> Value {
    json!({"total": t.values().sum::<u64>(), "by_kind": t})
}

/// Message traffic counters (unused by `ws-idle`).
pub struct Traffic {
    pub run_id: String,
    pub padding: String,
    /// Delivery latency: send time to `message.created` at each receiver, µs.
    pub latency: Shards,
    /// Send time to `ack`, µs.
    pub ack_latency: Shards,
    pub sent: AtomicU64,
    pub acked: AtomicU64,
    /// Acks with `created: false` (should not happen: every id is new).
    pub ack_not_created: AtomicU64,
    /// `error` frames naming one of our `client_msg_id`s.
    pub refused: AtomicU64,
    pub deliveries: AtomicU64,
    pub last_delivery_ns: AtomicU64,
    pub last_ack_ns: AtomicU64,
    /// Highest acknowledged `seq` per channel.
    pub acked_max_seq: Vec<AtomicI64>,
}

impl Traffic {
    pub fn new(channels: usize, size: usize) -> anyhow::Result<Traffic> {
        Ok(Traffic {
            run_id: run_id(),
            padding: "x".repeat(size),
            latency: Shards::new(64)?,
            ack_latency: Shards::new(16)?,
            sent: AtomicU64::new(0),
            acked: AtomicU64::new(0),
            ack_not_created: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            deliveries: AtomicU64::new(0),
            last_delivery_ns: AtomicU64::new(0),
            last_ack_ns: AtomicU64::new(0),
            acked_max_seq: (0..channels).map(|_| AtomicI64::new(0)).collect(),
        })
    }
}

pub struct Ctx {
    pub target: Target,
    pub stats: Stats,
    pub traffic: Traffic,
}

/// What the connection tasks are told to do.
#[derive(Clone, Copy, Debug)]
pub enum Phase {
    /// Connect and wait.
    Connect,
    /// Senders send from `start` until `end`.
    Run { start: Instant, end: Instant },
    /// Close the connection.
    Stop,
}

/// One connection's part in a scenario.
pub struct Role {
    pub index: usize,
    pub token: String,
    pub channel: Option<ChannelRole>,
}

pub struct ChannelRole {
    pub idx: usize,
    pub id: Arc<str>,
    pub sender: Option<SendPlan>,
}

/// A sender sends every `interval`, starting `offset` after the start.
#[derive(Clone, Copy)]
pub struct SendPlan {
    pub interval: Duration,
    pub offset: Duration,
}

/// What one connection saw of its channel.
#[derive(Default, Debug)]
pub struct ConnResult {
    pub connected: bool,
    pub channel: Option<usize>,
    /// `message.created` frames of its channel.
    pub received: u64,
    /// Highest `seq` seen.
    pub last_seq: i64,
    /// Frames whose `seq` was not above the last one seen (duplicates or out of order).
    pub out_of_order: u64,
    /// Jumps over one or more `seq`s.
    pub gaps: u64,
    /// `message.created` frames of other channels.
    pub foreign: u64,
    pub dropped: bool,
    /// `hello.position`, then the highest event position seen.
    pub position: u64,
    pub hello_position: u64,
}

/// One connection: connect, read every frame until told to stop (so the server never sees a
/// slow consumer and pings are answered), send on schedule if a sender, close cleanly.
pub async fn conn_task(ctx: Arc<Ctx>, role: Role, phase: watch::Receiver<Phase>) -> ConnResult {
    let mut res = ConnResult {
        channel: role.channel.as_ref().map(|c| c.idx),
        ..ConnResult::default()
    };
    let ws = match ctx.target.connect(role.index, &role.token).await {
        Ok((ws, position)) => {
            res.position = position;
            res.hello_position = position;
            ws
        }
        Err(e) => {
            ctx.stats
                .connect_errors
                .add("connect failed", format!("{e:#}"), "");
            return res;
        }
    };
    ctx.stats.hello.fetch_add(1, Ordering::Relaxed);
    ctx.stats.open.fetch_add(1, Ordering::Relaxed);
    res.connected = true;
    let (mut sink, mut stream) = ws.split();

    let mut stop_rx = phase.clone();
    let ctx_r = &ctx;
    let channel = role.channel.as_ref();
    let res_r = &mut res;
    let key = role.index;
    let stream_r = &mut stream;
    let reader = async move {
        let stop = stop_rx.wait_for(|p| matches!(p, Phase::Stop));
        tokio::pin!(stop);
        let mut saw_close = false;
        loop {
            tokio::select! {
                biased;
                _ = &mut stop => return true,
                m = stream_r.next() => match m {
                    Some(Ok(Message::Text(t))) => on_text(ctx_r, key, channel, res_r, &t),
                    Some(Ok(Message::Ping(_))) => {
                        ctx_r.stats.pings.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(Ok(Message::Pong(_))) => {}
                    Some(Ok(Message::Close(f))) => {
                        // Keep reading: tungstenite answers the close and then ends the stream.
                        saw_close = true;
                        let code = f.as_ref().map_or(0, |f| u16::from(f.code));
                        ctx_r.stats.close_codes.add(
                            "close frame",
                            format!("{code}"),
                            &f.as_ref().map_or(String::new(), |f| format!(" {}", f.reason)),
                        );
                    }
                    Some(Ok(_)) => {
                        ctx_r.stats.unparsed.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(Err(e)) => {
                        if !saw_close {
                            ctx_r.stats.read_errors.add("read error", e.to_string(), "");
                        }
                        return false;
                    }
                    None => {
                        if !saw_close {
                            ctx_r.stats.read_errors.add(
                                "read error",
                                "closed without a close frame".to_owned(),
                                "",
                            );
                        }
                        return false;
                    }
                },
            }
        }
    };

    let mut phase_w = phase;
    let ctx_w = &ctx;
    let sender = role
        .channel
        .as_ref()
        .and_then(|c| c.sender.map(|s| (s, c.id.clone())));
    let index = role.index;
    let sink_w = &mut sink;
    let writer = async move {
        if let Some((plan, channel_id)) = sender {
            send_loop(ctx_w, index, plan, &channel_id, &mut phase_w, sink_w).await;
        }
        std::future::pending::<()>().await;
    };

    let stopped = tokio::select! {
        s = reader => s,
        () = writer => false,
    };
    if !stopped {
        res.dropped = true;
        ctx.stats.dropped.fetch_add(1, Ordering::Relaxed);
        ctx.stats.open.fetch_sub(1, Ordering::Relaxed);
        return res;
    }
    if let Ok(mut ws) = sink.reunite(stream) {
        let _ = tokio::time::timeout(Duration::from_secs(3), async {
            let _ = ws.close(None).await;
            while let Some(Ok(_)) = ws.next().await {}
        })
        .await;
    }
    ctx.stats.open.fetch_sub(1, Ordering::Relaxed);
    res
}

async fn send_loop(
    ctx: &Ctx,
    index: usize,
    plan: SendPlan,
    channel_id: &str,
    phase: &mut watch::Receiver<Phase>,
    sink: &mut futures_util::stream::SplitSink<Ws, Message>,
) {
    let (start, end) = loop {
        let p = *phase.borrow_and_update();
        match p {
            Phase::Run { start, end } => break (start, end),
            Phase::Stop => return,
            Phase::Connect => {
                if phase.changed().await.is_err() {
                    return;
                }
            }
        }
    };
    let tr = &ctx.traffic;
    let mut next = start + plan.offset;
    let mut n = 0u64;
    while next < end {
        tokio::time::sleep_until(next.into()).await;
        let t = now_ns();
        let text = format!("t={t} {}", tr.padding);
        let id = format!("{}-{index}-{n}-{t}", tr.run_id);
        let frame = serde_json::to_string(&SendFrame {
            kind: "send",
            channel_id,
            text: &text,
            client_msg_id: &id,
        })
        .unwrap_or_default();
        if let Err(e) = sink.send(Message::Text(frame.into())).await {
            ctx.stats.send_errors.add("send failed", e.to_string(), "");
            return;
        }
        tr.sent.fetch_add(1, Ordering::Relaxed);
        n += 1;
        next += plan.interval;
    }
}

fn on_text(ctx: &Ctx, key: usize, channel: Option<&ChannelRole>, res: &mut ConnResult, text: &str) {
    ctx.stats.frames.fetch_add(1, Ordering::Relaxed);
    let Ok(frame) = serde_json::from_str::<Frame>(text) else {
        ctx.stats.unparsed.fetch_add(1, Ordering::Relaxed);
        return;
    };
    if let Some(p) = frame.position {
        if p <= res.hello_position {
            ctx.stats.stale_events.fetch_add(1, Ordering::Relaxed);
        } else if p <= res.position {
            ctx.stats.unordered_events.fetch_add(1, Ordering::Relaxed);
        }
        res.position = res.position.max(p);
    }
    let tr = &ctx.traffic;
    match (&*frame.kind, frame.message, channel) {
        ("message.created", MessageField::Message(m), Some(ch)) => {
            if m.channel_id != *ch.id {
                res.foreign += 1;
                return;
            }
            let now = now_ns();
            if let Some(t) = text_time(&m.text) {
                tr.latency.record(key, now.saturating_sub(t) / 1000);
            }
            tr.deliveries.fetch_add(1, Ordering::Relaxed);
            tr.last_delivery_ns.fetch_max(now, Ordering::Relaxed);
            res.received += 1;
            if m.seq <= res.last_seq {
                res.out_of_order += 1;
            } else {
                if m.seq != res.last_seq + 1 {
                    res.gaps += 1;
                }
                res.last_seq = m.seq;
            }
        }
        ("ack", _, Some(ch)) => {
            let now = now_ns();
            tr.acked.fetch_add(1, Ordering::Relaxed);
            tr.last_ack_ns.fetch_max(now, Ordering::Relaxed);
            if frame.created == Some(false) {
                tr.ack_not_created.fetch_add(1, Ordering::Relaxed);
            }
            if let Some(t) = frame.client_msg_id.as_deref().and_then(id_time) {
                tr.ack_latency.record(key, now.saturating_sub(t) / 1000);
            }
            if let Some(seq) = frame.seq {
                tr.acked_max_seq[ch.idx].fetch_max(seq, Ordering::Relaxed);
            }
        }
        ("error", _, _) => {
            if frame.client_msg_id.is_some() {
                tr.refused.fetch_add(1, Ordering::Relaxed);
            }
            let code = frame.code.unwrap_or_else(|| "(no code)".to_owned());
            ctx.stats
                .error_frames
                .add("error frame", code, &format!(": {text}"));
        }
        (kind, _, _) => ctx.stats.other_events.add_quiet(kind),
    }
}

// ---------------------------------------------------------------------------------------------
// Running and reporting

/// Spawns one task per role and prints connection progress until every connection is
/// established or has failed.
pub async fn connect_all(
    ctx: &Arc<Ctx>,
    roles: Vec<Role>,
    phase: &watch::Sender<Phase>,
) -> Vec<tokio::task::JoinHandle<ConnResult>> {
    let n = roles.len() as u64;
    let started = Instant::now();
    eprintln!("opening {n} WebSocket connections...");
    let handles: Vec<_> = roles
        .into_iter()
        .map(|role| tokio::spawn(conn_task(ctx.clone(), role, phase.subscribe())))
        .collect();
    let mut last_print = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let ok = ctx.stats.hello.load(Ordering::Relaxed);
        let failed = ctx.stats.connect_errors.total();
        let finished = ok + failed >= n;
        if finished || last_print.elapsed() >= Duration::from_secs(1) {
            last_print = Instant::now();
            eprintln!(
                "  connected {ok}/{n}, failed {failed} ({:.1} s)",
                started.elapsed().as_secs_f64()
            );
        }
        if finished {
            return handles;
        }
    }
}

/// One socket, opened as the administrator (a member of every channel it created) before the
/// setup adds members, that counts the `member.added` events of the run's channels and users. Waiting
/// until it has seen them all means the server has delivered the setup's events, so the
/// sockets opened afterwards do not receive that backlog during the measurement.
pub struct Probe {
    seen: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Probe {
    pub async fn start(
        target: &Target,
        token: &str,
        channels: &[Arc<str>],
        users: &[crate::setup::Client],
    ) -> anyhow::Result<Probe> {
        let (mut ws, _) = target.connect(0, token).await.context("probe socket")?;
        let ids: std::collections::HashSet<String> =
            channels.iter().map(|c| c.to_string()).collect();
        let user_ids: std::collections::HashSet<String> =
            users.iter().map(|u| u.user_id.clone()).collect();
        let seen = Arc::new(AtomicU64::new(0));
        let counter = seen.clone();
        let task = tokio::spawn(async move {
            while let Some(Ok(m)) = ws.next().await {
                if let Message::Text(t) = m
                    && let Ok(f) = serde_json::from_str::<Frame>(&t)
                    && f.kind == "member.added"
                    && f.channel_id.is_some_and(|c| ids.contains(&c))
                    && f.user_id.is_some_and(|u| user_ids.contains(&u))
                {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Ok(Probe { seen, task })
    }

    /// Waits until `expected` events were seen or `max` has passed; returns the count seen and
    /// the time waited.
    pub async fn wait(self, expected: u64, max: Duration) -> (u64, Duration) {
        let started = Instant::now();
        let mut last_print = Instant::now();
        loop {
            let seen = self.seen.load(Ordering::Relaxed);
            if seen >= expected || started.elapsed() >= max {
                self.task.abort();
                if seen < expected {
                    eprintln!(
                        "warning: the probe socket saw {seen} of {expected} member.added events \
                         within {} s; the server may still be delivering setup events",
                        max.as_secs()
                    );
                }
                return (seen, started.elapsed());
            }
            if last_print.elapsed() >= Duration::from_secs(1) {
                last_print = Instant::now();
                eprintln!("  member.added events delivered to the probe: {seen}/{expected}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Waits until no frame has arrived on any socket for a second (at most `max`), so that events
/// still in flight from the setup do not land in the measurement. Returns the frames that came
/// in meanwhile and the time it took.
pub async fn settle(ctx: &Ctx, max: Duration) -> (u64, Duration) {
    let started = Instant::now();
    let first = ctx.stats.frames.load(Ordering::Relaxed);
    let mut last = (first, Instant::now());
    let mut last_print = Instant::now();
    while started.elapsed() < max {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let f = ctx.stats.frames.load(Ordering::Relaxed);
        if f != last.0 {
            last = (f, Instant::now());
        } else if last.1.elapsed() >= Duration::from_secs(1) {
            break;
        }
        if last_print.elapsed() >= Duration::from_secs(1) {
            last_print = Instant::now();
            eprintln!("  settling: {} frames received so far", f - first);
        }
    }
    let frames = ctx.stats.frames.load(Ordering::Relaxed) - first;
    (frames, started.elapsed())
}

/// Tells every task to close and collects their results (tasks not done within 15 s are
/// aborted).
pub async fn stop_all(
    phase: &watch::Sender<Phase>,
    handles: Vec<tokio::task::JoinHandle<ConnResult>>,
) -> Vec<ConnResult> {
    phase.send_replace(Phase::Stop);
    eprintln!("closing connections...");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        let abort = h.abort_handle();
        match tokio::time::timeout_at(deadline, h).await {
            Ok(Ok(r)) => out.push(r),
            Ok(Err(_)) => {}
            Err(_) => abort.abort(),
        }
    }
    out
}

/// The report: aligned lines on stdout, and one `RESULT {json}` line.
pub struct Report {
    lines: Vec<(String, String)>,
    json: serde_json::Map<String, Value>,
}

impl Report {
    pub fn new(scenario: &str) -> Report {
        let mut r = Report {
            lines: Vec::new(),
            json: serde_json::Map::new(),
        };
        r.line("scenario", scenario.to_owned());
        r.json("scenario", scenario);
        r
    }

    pub fn line(&mut self, label: &str, value: String) {
        self.lines.push((label.to_owned(), value));
    }

    pub fn json(&mut self, key: &str, value: impl Into<Value>) {
        self.json.insert(key.to_owned(), value.into());
    }

    /// Latency percentiles (µs histogram), as a line in ms and as JSON in ms.
    pub fn latency(&mut self, label: &str, key: &str, h: &Histogram<u64>) {
        let ms = |us: u64| us as f64 / 1000.0;
        if h.is_empty() {
            self.line(label, "no samples".to_owned());
            self.json(key, Value::Null);
            return;
        }
        self.line(
            label,
            format!(
                "p50 {:.2}  p95 {:.2}  p99 {:.2}  max {:.2}  ({} samples)",
                ms(h.value_at_quantile(0.50)),
                ms(h.value_at_quantile(0.95)),
                ms(h.value_at_quantile(0.99)),
                ms(h.max()),
                h.len()
            ),
        );
        self.json(
            key,
            json!({
                "p50": ms(h.value_at_quantile(0.50)),
                "p95": ms(h.value_at_quantile(0.95)),
                "p99": ms(h.value_at_quantile(0.99)),
                "max": ms(h.max()),
                "samples": h.len(),
            }),
        );
    }

    /// A memory figure in KiB (absent when unknown).
    pub fn rss(&mut self, label: &str, key: &str, kib: Option<u64>) {
        match kib {
            Some(k) => {
                self.line(label, format!("{:.1} MiB", k as f64 / 1024.0));
                self.json(key, k);
            }
            None => self.json(key, Value::Null),
        }
    }

    /// CPU used by the server and by this tool between two `cpu_now` readings over `secs`.
    pub fn cpu(
        &mut self,
        before: (Option<f64>, Option<f64>),
        after: (Option<f64>, Option<f64>),
        secs: f64,
    ) {
        let mut part = |label: &str, key: &str, b: Option<f64>, a: Option<f64>| {
            if let (Some(b), Some(a)) = (b, a) {
                let used = a - b;
                let share = if secs > 0.0 { used / secs * 100.0 } else { 0.0 };
                self.line(
                    label,
                    format!("{used:.1} s over {secs:.1} s ({share:.0}% of one core)"),
                );
                self.json(key, json!({"cpu_s": used, "core_percent": share}));
            }
        };
        part("server CPU", "server_cpu", before.0, after.0);
        part("load tool CPU", "load_cpu", before.1, after.1);
    }

    pub fn print(self) {
        let width = self.lines.iter().map(|(l, _)| l.len()).max().unwrap_or(0) + 2;
        for (label, value) in &self.lines {
            println!("{label:<width$}{value}");
        }
        println!("RESULT {}", Value::Object(self.json));
    }
}
