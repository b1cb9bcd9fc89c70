//! A test harness that runs the real `enclave` binary on a random loopback port and talks to it
//! over real HTTP.
//!
//! ```ignore
//! mod common;
//! use common::{TestServer, unique_name};
//!
//! #[tokio::test]
//! async fn example() {
//!     let server = TestServer::shared(); // or TestServer::start() for a private instance
//!     let (_alice_id, alice) = server.create_user(&unique_name("alice")).await;
//!     let channel = server.create_channel(&alice, &unique_name("general"), "public").await;
//!     let msg = server.post_message(&alice, &channel, "hello").await;
//!     let (status, body) = server.get(Some(&alice), &format!("/api/v1/messages/{}", msg["id"].as_str().unwrap()), None).await;
//!     assert_eq!(status, 200, "{body}");
//! }
//! ```
//!
//! What it does:
//! - [`TestServer::start`] makes a temporary data folder, creates the first administrator with
//!   `enclave admin create-user admin --admin`, and runs `enclave serve --listen 127.0.0.1:0`
//!   with cheap password hashing. The address is read from the `listening on http://...` log
//!   line; stderr is drained by a thread for the server's whole life and kept, so a failing
//!   test can show the server's log ([`TestServer::log`]).
//! - The process is killed when the [`TestServer`] is dropped (also when a test panics).
//! - [`TestServer::kill9`], [`TestServer::terminate`] and [`TestServer::restart`] stop and start
//!   the process on the same data folder, for crash and shutdown tests;
//!   [`TestServer::start_in`] starts on a folder the test owns.
//! - [`TestServer::shared`] hands out one instance per test binary to tests that do not
//!   interfere with each other (use [`unique_name`] for users and channels).
//!
//! Request helpers return `(StatusCode, serde_json::Value)`; a body that is empty is `Null`, one
//! that is not JSON is a `Value::String` with the raw text. Typed helpers (`create_user`,
//! `create_channel`, `post_message`) panic with the server's answer when it is not a success.
//! The HTTP client keeps no idle connections, so one server (and its client) can be used from
//! many tests, each with its own tokio runtime.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod slapd;
pub mod ws;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak, mpsc};
use std::time::{Duration, Instant};

pub use reqwest::{Method, StatusCode};
pub use serde_json::{Value, json};

/// The first administrator's username, created by every [`TestServer::start`].
pub const ADMIN_USER: &str = "admin";
/// The administrator's password.
pub const ADMIN_PASSWORD: &str = "admin-password-1";
/// The password [`TestServer::create_user`] gives every user.
pub const USER_PASSWORD: &str = "user-password-1";

/// How long a server may take to print its address, or to exit after a signal.
const START_TIMEOUT: Duration = Duration::from_secs(20);
const EXIT_TIMEOUT: Duration = Duration::from_secs(20);

/// Environment every server process gets: fast password hashing, no per-user rate limits, and
/// an info log for the binary itself (which carries the `listening on` line). The suites
/// flood the server on purpose (ordering under concurrency, slow consumers, crashes mid-load)
/// with ordinary users; `tests/rate_limits.rs` turns the limits on and tests them.
const BASE_ENV: &[(&str, &str)] = &[
    ("ENCLAVE_AUTH__ARGON2_MEMORY_KIB", "64"),
    ("ENCLAVE_AUTH__ARGON2_ITERATIONS", "1"),
    ("ENCLAVE_RATE_LIMITS__POSTS_PER_SEC", "0"),
    ("ENCLAVE_RATE_LIMITS__REACTIONS_PER_SEC", "0"),
    ("ENCLAVE_RATE_LIMITS__UPLOADS_PER_SEC", "0"),
    ("ENCLAVE_RATE_LIMITS__SEARCHES_PER_SEC", "0"),
    ("ENCLAVE_RATE_LIMITS__WRITES_PER_SEC", "0"),
    ("RUST_LOG", "warn,enclave=info"),
    ("NO_COLOR", "1"),
];

/// A name unique within this test process: `prefix` (cut to 16 characters) plus a counter and
/// the process id. Valid as a username (if `prefix` is) and as a channel name.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let prefix: String = prefix.chars().take(16).collect();
    format!("{prefix}-{n}-{}", std::process::id() % 100_000)
}

/// The data folder: a temporary one the server owns, or one the test owns.
enum DataDir {
    Temp(tempfile::TempDir),
    Given(PathBuf),
}

impl DataDir {
    fn path(&self) -> &Path {
        match self {
            DataDir::Temp(t) => t.path(),
            DataDir::Given(p) => p,
        }
    }
}

/// A running `enclave serve` process and an HTTP client for it.
pub struct TestServer {
    data: DataDir,
    env: Vec<(String, String)>,
    child: Option<Child>,
    addr: SocketAddr,
    /// Every stderr line of every process started on this data folder, in order.
    log: Arc<Mutex<Vec<String>>>,
    client: reqwest::Client,
    admin_token: Mutex<Option<String>>,
    /// A configuration file every process of this server gets (`--config`).
    config: Option<PathBuf>,
}

impl TestServer {
    /// Starts a server on a new temporary data folder, with a first administrator.
    pub fn start() -> TestServer {
        Self::start_with_env(&[])
    }

    /// Like [`TestServer::start`], with extra environment variables for the server (for
    /// example `("ENCLAVE_AUTH__FAILURES_BEFORE_DELAY", "1")`). They also apply after
    /// [`TestServer::restart`].
    pub fn start_with_env(env: &[(&str, &str)]) -> TestServer {
        let dir = tempfile::Builder::new()
            .prefix("enclave-test-")
            .tempdir()
            .expect("creating a temporary data folder");
        Self::launch(DataDir::Temp(dir), env)
    }

    /// Starts a server on `dir`, a folder the test owns and that outlives the server (to start
    /// another server on it later). The administrator is created only when the folder holds
    /// no database yet.
    pub fn start_in(dir: &Path) -> TestServer {
        Self::launch(DataDir::Given(dir.to_owned()), &[])
    }

    /// [`TestServer::start_in`] with extra environment variables.
    pub fn start_in_with_env(dir: &Path, env: &[(&str, &str)]) -> TestServer {
        Self::launch(DataDir::Given(dir.to_owned()), env)
    }

    /// Starts a server on `dir` with `env` without creating the administrator: for a database
    /// that already has one (a restored PostgreSQL database).
    pub fn start_existing(dir: &Path, env: &[(&str, &str)]) -> TestServer {
        let mut server = Self::new_unstarted(DataDir::Given(dir.to_owned()), env);
        server.spawn();
        server
    }

    /// One server shared by the tests of this test binary that run at the same time; it stops
    /// when the last of them drops its handle (a later test then starts a fresh one). Tests
    /// sharing it must not depend on global state: use [`unique_name`].
    pub fn shared() -> Arc<TestServer> {
        static SHARED: Mutex<Weak<TestServer>> = Mutex::new(Weak::new());
        let mut slot = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = slot.upgrade() {
            return s;
        }
        let s = Arc::new(TestServer::start());
        *slot = Arc::downgrade(&s);
        s
    }

    /// Starts one node of a cluster on a new temporary data folder, with `env` (the shared
    /// database and NATS settings). Only the first node creates the administrator, in the
    /// shared database.
    pub fn start_node(env: &[(&str, &str)], create_admin: bool) -> TestServer {
        let dir = tempfile::Builder::new()
            .prefix("enclave-node-")
            .tempdir()
            .expect("creating a temporary data folder");
        let mut server = Self::new_unstarted(DataDir::Temp(dir), env);
        if create_admin {
            server.create_admin();
        }
        server.spawn();
        server
    }

    fn launch(data: DataDir, env: &[(&str, &str)]) -> TestServer {
        let mut server = Self::new_unstarted(data, env);
        if !server.data_dir().join("enclave.db").exists() {
            server.create_admin();
        }
        server.spawn();
        server
    }

    fn new_unstarted(data: DataDir, env: &[(&str, &str)]) -> TestServer {
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .expect("building the HTTP client");
        TestServer {
            data,
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            child: None,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log: Arc::new(Mutex::new(Vec::new())),
            client,
            admin_token: Mutex::new(None),
            config: None,
        }
    }

    /// A command for the binary on this server's data folder and environment.
    fn command(&self) -> Command {
        self.command_with(self.config.as_deref())
    }

    /// [`TestServer::command`] with the configuration file `config`.
    fn command_with(&self, config: Option<&Path>) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_enclave"));
        // Settings from the developer's shell must not leak into the tests.
        for (k, _) in std::env::vars() {
            if k.starts_with("ENCLAVE_") {
                cmd.env_remove(k);
            }
        }
        cmd.envs(BASE_ENV.iter().copied());
        cmd.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd.arg("--data").arg(self.data_dir());
        if let Some(c) = config {
            cmd.arg("--config").arg(c);
        }
        cmd.stdin(Stdio::null());
        cmd
    }

    /// Starts a server on a new temporary data folder with the configuration file `config`
    /// and `env` (with the first administrator when `create_admin`).
    pub fn start_with_config(
        config: &Path,
        env: &[(&str, &str)],
        create_admin: bool,
    ) -> TestServer {
        let dir = tempfile::Builder::new()
            .prefix("enclave-test-")
            .tempdir()
            .expect("creating a temporary data folder");
        let mut server = Self::new_unstarted(DataDir::Temp(dir), env);
        server.config = Some(config.to_owned());
        if create_admin {
            server.create_admin();
        }
        server.spawn();
        server
    }

    /// The command for `enclave` on this server's data folder, environment and configuration,
    /// to be given its arguments and spawned (for a process the test stops itself).
    #[allow(dead_code)]
    pub fn cli_command(&self) -> Command {
        self.command()
    }

    /// A command for the binary on this server's data folder and environment, plus `env`.
    #[allow(dead_code)]
    pub fn command_env(&self, env: &[(&str, &str)]) -> Command {
        let mut cmd = self.command();
        cmd.envs(env.iter().copied());
        cmd
    }

    /// Runs `enclave ARGS` on this server's data folder, environment and configuration.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        self.command()
            .args(args)
            .output()
            .expect("running the enclave command")
    }

    /// [`TestServer::cli`] with another configuration file.
    pub fn cli_with_config(&self, config: &Path, args: &[&str]) -> std::process::Output {
        self.command_with(Some(config))
            .args(args)
            .output()
            .expect("running the enclave command")
    }

    fn create_admin(&self) {
        let out = self
            .command()
            .args([
                "admin",
                "create-user",
                ADMIN_USER,
                "--admin",
                "--password",
                ADMIN_PASSWORD,
            ])
            .output()
            .expect("running `enclave admin create-user`");
        assert!(
            out.status.success(),
            "`enclave admin create-user` failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts the process and waits for its `listening on` line.
    fn spawn(&mut self) {
        assert!(self.child.is_none(), "the server is already running");
        let mut child = self
            .command()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting `enclave serve`");
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = self.log.clone();
        let (tx, rx) = mpsc::channel::<SocketAddr>();
        std::thread::spawn(move || {
            // Drains stderr until the process closes it, so the pipe never fills up.
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = tx.as_ref().and(listening_addr(&line)) {
                    let _ = tx.take().map(|t| t.send(addr));
                }
                log.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        });
        let addr = match rx.recv_timeout(START_TIMEOUT) {
            Ok(a) => a,
            Err(e) => {
                let _ = child.kill();
                let status = child.wait();
                // Let the reader thread collect the last lines.
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "the server did not report its address ({e}); exit: {status:?}\n{}",
                    self.log()
                );
            }
        };
        self.addr = addr;
        self.child = Some(child);
    }

    /// The address the server listens on (it changes with each start).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The absolute URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The HTTP client, for requests the helpers do not cover (raw bodies, cookies, headers).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Everything the server processes wrote to stderr so far, for failure messages.
    pub fn log(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .join("\n")
    }

    /// Kills the process at once with SIGKILL, as a crash would, and reaps it.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("the server is not running");
        child.kill().expect("sending SIGKILL");
        child.wait().expect("waiting for the killed server");
    }

    /// Sends SIGTERM and waits for the process to exit (panics after a timeout), returning
    /// its exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("the server is not running");
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("running `kill -TERM`");
        assert!(sent.success(), "`kill -TERM {}` failed: {sent}", child.id());
        let deadline = Instant::now() + EXIT_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().expect("waiting for the server") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the server did not exit within {EXIT_TIMEOUT:?} of SIGTERM\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Starts the server again on the same data folder (and environment). A running process
    /// is stopped with SIGTERM first; after [`TestServer::kill9`] this is crash recovery. The
    /// address changes; cached admin tokens stay valid (sessions are stored).
    pub fn restart(&mut self) {
        if self.child.is_some() {
            let status = self.terminate();
            assert!(
                status.success(),
                "the server exited with {status} on SIGTERM\n{}",
                self.log()
            );
        }
        self.spawn();
    }

    // -----------------------------------------------------------------------------------------
    // Requests

    /// Sends a request with an optional bearer token and JSON body; returns the status and
    /// the body as JSON (`Null` when empty, a `String` when not JSON).
    pub async fn request(
        &self,
        method: Method,
        token: Option<&str>,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method.clone(), self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path} failed: {e}\n{}", self.log()));
        read_json(resp).await
    }

    /// Sends a request with exactly these headers and this raw body (no content type is
    /// added), for malformed bodies, odd credentials and cookies.
    pub async fn request_raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method.clone(), self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path} failed: {e}\n{}", self.log()));
        read_json(resp).await
    }

    pub async fn get(
        &self,
        token: Option<&str>,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.request(Method::GET, token, path, body).await
    }

    pub async fn post(
        &self,
        token: Option<&str>,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.request(Method::POST, token, path, body).await
    }

    pub async fn patch(
        &self,
        token: Option<&str>,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.request(Method::PATCH, token, path, body).await
    }

    pub async fn put(
        &self,
        token: Option<&str>,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.request(Method::PUT, token, path, body).await
    }

    pub async fn delete(
        &self,
        token: Option<&str>,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.request(Method::DELETE, token, path, body).await
    }

    // -----------------------------------------------------------------------------------------
    // Typed helpers

    /// Logs in; returns the status and body (`{"token", "user"}` on success).
    pub async fn login(&self, login: &str, password: &str) -> (StatusCode, Value) {
        self.post(
            None,
            "/api/v1/auth/login",
            Some(json!({ "login": login, "password": password })),
        )
        .await
    }

    /// Logs in and returns the token; panics on failure.
    pub async fn login_token(&self, login: &str, password: &str) -> String {
        let (status, body) = self.login(login, password).await;
        assert_eq!(status, StatusCode::OK, "login as {login}: {body}");
        body["token"]
            .as_str()
            .expect("token in the login answer")
            .to_owned()
    }

    /// A session token of the first administrator (logged in once, then reused).
    pub async fn admin_token(&self) -> String {
        if let Some(t) = self
            .admin_token
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return t;
        }
        let token = self.login_token(ADMIN_USER, ADMIN_PASSWORD).await;
        *self.admin_token.lock().unwrap_or_else(|e| e.into_inner()) = Some(token.clone());
        token
    }

    /// The administrator creates user `name` (password [`USER_PASSWORD`]), who then logs in.
    /// Returns the user's id and session token. Use [`unique_name`] for `name` on shared servers.
    pub async fn create_user(&self, name: &str) -> (String, String) {
        let admin = self.admin_token().await;
        let (status, body) = self
            .post(
                Some(&admin),
                "/api/v1/users",
                Some(json!({ "username": name, "password": USER_PASSWORD })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "creating user {name}: {body}");
        let id = body["id"].as_str().expect("user id").to_owned();
        (id, self.login_token(name, USER_PASSWORD).await)
    }

    /// Creates a channel (`kind` is `public` or `private`) and returns its id.
    pub async fn create_channel(&self, token: &str, name: &str, kind: &str) -> String {
        let (status, body) = self
            .post(
                Some(token),
                "/api/v1/channels",
                Some(json!({ "name": name, "kind": kind })),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "creating channel {name}: {body}"
        );
        body["id"].as_str().expect("channel id").to_owned()
    }

    /// Posts a message and returns it.
    pub async fn post_message(&self, token: &str, channel: &str, text: &str) -> Value {
        let path = format!("/api/v1/channels/{channel}/messages");
        let (status, body) = self
            .post(Some(token), &path, Some(json!({ "text": text })))
            .await;
        assert_eq!(status, StatusCode::CREATED, "posting to {channel}: {body}");
        body
    }

    /// Adds `user_id` to `channel` (as `token`'s user) and panics unless it worked.
    pub async fn add_member(&self, token: &str, channel: &str, user_id: &str) {
        let path = format!("/api/v1/channels/{channel}/members");
        let (status, body) = self
            .post(Some(token), &path, Some(json!({ "user_id": user_id })))
            .await;
        assert!(
            status == StatusCode::CREATED || status == StatusCode::OK,
            "adding {user_id} to {channel}: {status} {body}"
        );
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The address in a `... listening on http://127.0.0.1:PORT ...` log line.
fn listening_addr(line: &str) -> Option<SocketAddr> {
    let rest = line.split_once("listening on http://")?.1;
    let addr: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '\u{1b}')
        .collect();
    addr.parse().ok()
}

/// The status and JSON body of a response (`Null` when empty, the raw text when not JSON).
pub async fn read_json(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let bytes = resp.bytes().await.expect("reading the response body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    (status, body)
}

/// Asserts that `body` is an error of the API's shape, `{"error": {"code", "message"}}`, with
/// this `code`; `context` names the request in the failure message.
#[track_caller]
pub fn assert_error(context: &str, body: &Value, code: &str) {
    let err = &body["error"];
    assert!(
        err["code"].is_string() && err["message"].is_string(),
        "{context}: expected an error body {{\"error\": {{\"code\", \"message\"}}}}, got {body}"
    );
    assert_eq!(err["code"], code, "{context}: wrong error code in {body}");
}

/// Asserts a status and error code together.
#[track_caller]
pub fn assert_status_error(context: &str, got: (StatusCode, &Value), status: u16, code: &str) {
    assert_eq!(
        got.0.as_u16(),
        status,
        "{context}: wrong status, body {}",
        got.1
    );
    assert_error(context, got.1, code);
}

/// Percent-encodes a path segment (every byte that is not unreserved).
pub fn encode_segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The string at `v[key]`, panicking with the value when absent.
pub fn s(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("no string {key:?} in {v}"))
        .to_owned()
}

/// The time `secs` seconds from now, as RFC 3339 UTC.
pub fn rfc3339_in(secs: u64) -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + secs;
    let (days, rem) = (i64::try_from(t / 86_400).unwrap(), t % 86_400);
    // Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
