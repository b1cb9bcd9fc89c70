//! `enclave migrate`: a real server on SQLite gets data over HTTP, is stopped, its database is
//! migrated into a private PostgreSQL (`enclave_store::testing`), and a server started on that
//! PostgreSQL database must give the same answers, byte for byte after JSON parsing, for history,
//! threads, channels (with each user's counts), members, reactions, pins, read state and the
//! event log, to the same tokens; then go on where the old one stopped.
//!
//! Without PostgreSQL's programs this test prints why and passes, except in CI (`CI=true`),
//! where it fails: there it must run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use common::{ADMIN_PASSWORD, ADMIN_USER, TestServer, Value, encode_segment, json, s};
use reqwest::StatusCode;

/// A password the harness's server (trust authentication) ignores, to check it is never printed.
const SECRET: &str = "s3cret-Pa55word";

fn enclave_command(data: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_enclave"));
    for (k, _) in std::env::vars() {
        if k.starts_with("ENCLAVE_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs([
        ("ENCLAVE_AUTH__ARGON2_MEMORY_KIB", "64"),
        ("ENCLAVE_AUTH__ARGON2_ITERATIONS", "1"),
        ("RUST_LOG", "warn,enclave=info"),
        ("NO_COLOR", "1"),
    ]);
    cmd.arg("--data").arg(data).stdin(Stdio::null());
    cmd
}

fn migrate(data: &Path, args: &[&str]) -> Output {
    enclave_command(data)
        .arg("migrate")
        .args(args)
        .output()
        .expect("running `enclave migrate`")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `enclave serve` on PostgreSQL (the `TestServer` harness runs on the data folder's SQLite).
struct PgServe {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl PgServe {
    fn start(data: &Path, url: &str) -> PgServe {
        let mut child = enclave_command(data)
            .env("ENCLAVE_DATABASE__URL", url)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting `enclave serve` on PostgreSQL");
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let lines = log.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split_once("listening on http://").map(|(_, r)| r) {
                    let addr: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
                    if let (Some(t), Ok(a)) = (tx.take(), addr.parse::<SocketAddr>()) {
                        let _ = t.send(a);
                    }
                }
                lines.lock().unwrap().push(line);
            }
        });
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => PgServe { child, addr, log },
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "the PostgreSQL server did not start ({e}):\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
        }
    }
}

impl Drop for PgServe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GETs against one server.
struct Http {
    client: reqwest::Client,
    base: String,
}

impl Http {
    fn new(base: String) -> Http {
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        Http { client, base }
    }

    async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        common::read_json(resp).await
    }
}

/// Removes what legitimately differs from one request to the next: when a token was last used
/// (recorded as requests come in).
fn normalize(path: &str, mut body: Value) -> Value {
    if path.starts_with("/api/v1/users/me/tokens")
        && let Some(tokens) = body["tokens"].as_array_mut()
    {
        for t in tokens {
            if let Some(o) = t.as_object_mut() {
                o.remove("last_used_at");
            }
        }
    }
    body
}

/// Every answer the comparison covers, keyed by who asked what.
async fn snapshot(
    http: &Http,
    users: &[(&str, String)],
    channels: &[String],
    messages: &[String],
) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let mut paths: Vec<String> = vec![
        "/api/v1/users/me".into(),
        "/api/v1/users/me/tokens".into(),
        "/api/v1/channels".into(),
        "/api/v1/channels/browse?include_archived=true&limit=200".into(),
        "/api/v1/users?include_inactive=true&limit=200".into(),
        "/api/v1/events?since=0&limit=1000".into(),
        "/api/v1/events?since=5&limit=7".into(),
        // The search index is rebuilt from the copied messages, not copied: same answers.
        "/api/v1/search?q=hello".into(),
        "/api/v1/search?q=meeting%20noon".into(),
        "/api/v1/search?q=%22a%20reply%22".into(),
        "/api/v1/search?q=deleted".into(),
        "/api/v1/search?q=%E4%BC%9A%E8%AE%AE".into(),
        "/api/v1/search?q=from%3A%40bob".into(),
        "/api/v1/search/channels?q=gen".into(),
    ];
    for c in channels {
        paths.push(format!("/api/v1/channels/{c}"));
        paths.push(format!("/api/v1/channels/{c}/members?limit=200"));
        paths.push(format!("/api/v1/channels/{c}/pins"));
        for q in [
            "limit=200",
            "limit=200&include_replies=true",
            "limit=3",
            "limit=2&before=4",
            "limit=3&after=2&include_replies=true",
            "limit=3&around=3",
        ] {
            paths.push(format!("/api/v1/channels/{c}/messages?{q}"));
        }
    }
    for m in messages {
        paths.push(format!("/api/v1/messages/{m}"));
        paths.push(format!("/api/v1/messages/{m}/thread"));
    }
    for (name, token) in users {
        for p in &paths {
            let (status, body) = http.get(token, p).await;
            out.insert(
                format!("{name} GET {p}"),
                json!({ "status": status.as_u16(), "body": normalize(p, body) }),
            );
        }
    }
    out
}

/// The data: every kind of row, made through the API.
struct Data {
    users: Vec<(&'static str, String)>,
    channels: Vec<String>,
    messages: Vec<String>,
    general: String,
}

async fn populate(server: &TestServer) -> Data {
    let admin = server.admin_token().await;
    let (alice_id, alice) = server.create_user("alice").await;
    let (bob_id, bob) = server.create_user("bob").await;
    let (_, carol) = server.create_user("carol").await;
    let (erin_id, _) = server.create_user("erin").await;
    // A deactivated account.
    let (st, body) = server
        .patch(
            Some(&admin),
            &format!("/api/v1/users/{erin_id}"),
            Some(json!({ "active": false })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    // A personal access token.
    let (st, pat) = server
        .post(
            Some(&alice),
            "/api/v1/users/me/tokens",
            Some(json!({ "name": "scripts", "scope": "write", "expires_in_days": 30 })),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{pat}");
    let alice_pat = s(&pat, "token");

    let general = server.create_channel(&alice, "General", "public").await;
    let secret = server.create_channel(&bob, "secret-plans", "private").await;
    let old = server.create_channel(&carol, "old-news", "public").await;
    for t in [&bob, &carol] {
        let (st, body) = server
            .post(Some(t), &format!("/api/v1/channels/{general}/join"), None)
            .await;
        assert!(st.is_success(), "{body}");
    }
    server.add_member(&bob, &secret, &alice_id).await;
    server.add_member(&carol, &old, &bob_id).await;
    let (st, body) = server
        .patch(
            Some(&alice),
            &format!("/api/v1/channels/{general}/members/{bob_id}"),
            Some(json!({ "role": "admin" })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let (st, dm) = server
        .post(
            Some(&alice),
            "/api/v1/dms",
            Some(json!({ "user_ids": [bob_id] })),
        )
        .await;
    assert!(st.is_success(), "{dm}");
    let (st, group) = server
        .post(
            Some(&carol),
            "/api/v1/dms",
            Some(json!({ "user_ids": [alice_id, bob_id] })),
        )
        .await;
    assert!(st.is_success(), "{group}");
    let (dm, group) = (s(&dm, "id"), s(&group, "id"));

    let mut messages = Vec::new();
    let mut say = async |token: &str, ch: &str, text: &str, root: Option<&str>| -> String {
        let (st, m) = server
            .post(
                Some(token),
                &format!("/api/v1/channels/{ch}/messages"),
                Some(json!({ "text": text, "thread_root_id": root, "client_msg_id": format!("c-{}", messages.len()) })),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{m}");
        let id = s(&m, "id");
        messages.push(id.clone());
        id
    };
    let m1 = say(&alice, &general, "hello everyone 👋", None).await;
    let m2 = say(&bob, &general, "@carol have a look, @alice too", None).await;
    let r1 = say(&carol, &general, "looking now @bob", Some(&m2)).await;
    say(&alice, &general, "me too", Some(&m2)).await;
    let m3 = say(&carol, &general, "@channel meeting at noon", None).await;
    say(&alice, &dm, "明天的会议改到三点", None).await;
    let m4 = say(&bob, &general, "this will be deleted", None).await;
    let root = say(&carol, &general, "a root to delete", None).await;
    say(&bob, &general, "a reply that stays", Some(&root)).await;
    say(&alice, &general, "@here anyone around?", None).await;
    say(&bob, &secret, "private plans", None).await;
    let s2 = say(&alice, &secret, "noted @bob", None).await;
    say(&alice, &dm, "hi bob", None).await;
    say(&bob, &dm, "hi alice", None).await;
    say(&carol, &group, "group hello", None).await;
    say(&carol, &old, "old news", None).await;
    for i in 0..12 {
        say(&alice, &general, &format!("filler {i}"), None).await;
    }

    let (st, body) = server
        .patch(
            Some(&alice),
            &format!("/api/v1/messages/{m1}"),
            Some(json!({ "text": "hello everyone 👋 (edited for @bob)" })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let (st, body) = server
        .patch(
            Some(&carol),
            &format!("/api/v1/messages/{r1}"),
            Some(json!({ "text": "looked, all good" })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    for (token, id) in [(&bob, &m4), (&carol, &root)] {
        let (st, body) = server
            .delete(Some(token), &format!("/api/v1/messages/{id}"), None)
            .await;
        assert!(st.is_success(), "{body}");
    }
    for (token, id, emoji) in [
        (&bob, &m1, "👍"),
        (&carol, &m1, "👍"),
        (&carol, &m1, "🎉"),
        (&alice, &m2, "eyes"),
        (&bob, &r1, "❤️"),
        (&alice, &m3, "👍"),
        (&bob, &s2, "ok"),
    ] {
        let (st, body) = server
            .put(
                Some(token),
                &format!("/api/v1/messages/{id}/reactions/{}", encode_segment(emoji)),
                None,
            )
            .await;
        assert!(st.is_success(), "{body}");
    }
    let (st, body) = server
        .delete(
            Some(&alice),
            &format!("/api/v1/messages/{m3}/reactions/{}", encode_segment("👍")),
            None,
        )
        .await;
    assert!(st.is_success(), "{body}");
    for id in [&m2, &m3] {
        let (st, body) = server
            .put(Some(&bob), &format!("/api/v1/messages/{id}/pin"), None)
            .await;
        assert!(st.is_success(), "{body}");
    }
    let (st, body) = server
        .delete(Some(&bob), &format!("/api/v1/messages/{m3}/pin"), None)
        .await;
    assert!(st.is_success(), "{body}");
    // Read positions: bob caught up to 3, carol to 5; alice posted last (read to the end).
    for (token, seq) in [(&bob, 3), (&carol, 5)] {
        let (st, body) = server
            .post(
                Some(token),
                &format!("/api/v1/channels/{general}/read"),
                Some(json!({ "seq": seq })),
            )
            .await;
        assert!(st.is_success(), "{body}");
    }
    let (st, body) = server
        .patch(
            Some(&carol),
            &format!("/api/v1/channels/{old}"),
            Some(json!({ "archived": true })),
        )
        .await;
    assert!(st.is_success(), "{body}");

    Data {
        users: vec![
            ("admin", admin),
            ("alice", alice),
            ("alice-pat", alice_pat),
            ("bob", bob),
            ("carol", carol),
        ],
        channels: vec![general.clone(), secret, old, dm, group],
        messages,
        general,
    }
}

/// The number in `... last in SQLite N, ...` of the report.
fn last_position(report: &str) -> i64 {
    let line = report
        .lines()
        .find(|l| l.starts_with("event positions:"))
        .unwrap_or_else(|| panic!("no event positions line in\n{report}"));
    line.split("last in SQLite ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no position in {line:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrated_installation_answers_the_same() {
    let Some((_db, url)) = enclave_store::testing::fresh_database_url().await else {
        return;
    };
    // A password in the URL (the test server does not check it) that must never be printed.
    let url = match url.strip_prefix("postgres://postgres@") {
        Some(rest) => format!("postgres://postgres:{SECRET}@{rest}"),
        None => url,
    };
    let data_dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_in(data_dir.path());
    let data = populate(&server).await;
    let sqlite_http = Http::new(server.base_url());
    let before = snapshot(&sqlite_http, &data.users, &data.channels, &data.messages).await;
    let status = server.terminate();
    assert!(status.success(), "{status}\n{}", server.log());

    // The copy: --from omitted means this installation's database.
    let out = migrate(data_dir.path(), &["--to", &url]);
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "enclave migrate failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    for table in [
        "users",
        "tokens",
        "channels",
        "members",
        "messages",
        "reactions",
        "mentions",
        "events",
    ] {
        let row = stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(table))
            .unwrap_or_else(|| panic!("no report row for {table}:\n{stdout}"));
        assert!(row.contains(" match "), "{row}");
        assert!(
            stderr.contains(&format!("copied {table}:")),
            "no progress line for {table}:\n{stderr}"
        );
    }
    let final_line = stdout.lines().last().unwrap();
    assert!(final_line.starts_with("OK: "), "{stdout}");
    let last = last_position(&stdout);
    assert!(last > 30, "{stdout}");

    // The same installation on PostgreSQL (a new data folder: nothing comes from the old one).
    let pg_dir = tempfile::tempdir().unwrap();
    let pg = PgServe::start(pg_dir.path(), &url);
    let pg_http = Http::new(format!("http://{}", pg.addr));
    let after = snapshot(&pg_http, &data.users, &data.channels, &data.messages).await;
    assert_eq!(before.len(), after.len());
    let mut differences = Vec::new();
    for (key, a) in &before {
        if after.get(key) != Some(a) {
            differences.push(format!(
                "{key}\n  sqlite:   {a}\n  postgres: {}",
                after.get(key).unwrap_or(&Value::Null)
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "{} answers differ:\n{}\n{}",
        differences.len(),
        differences.join("\n"),
        pg.log.lock().unwrap().join("\n")
    );
    // Counts and read state were really compared.
    let alice_channels = &before["alice GET /api/v1/channels"]["body"]["channels"];
    let bob_general = &before[&format!("bob GET /api/v1/channels/{}", data.general)]["body"];
    assert!(
        bob_general["unread_count"].as_i64().unwrap() > 0,
        "{bob_general}"
    );
    assert!(
        bob_general["mention_count"].as_i64().unwrap() > 0,
        "{bob_general}"
    );
    assert_eq!(bob_general["last_read_seq"], 3);
    assert!(alice_channels.as_array().unwrap().len() >= 4);

    // Passwords moved too, and the new database goes on where the old one stopped.
    let (st, login) = {
        let resp = pg_http
            .client
            .post(format!("{}/api/v1/auth/login", pg_http.base))
            .json(&json!({ "login": ADMIN_USER, "password": ADMIN_PASSWORD }))
            .send()
            .await
            .unwrap();
        common::read_json(resp).await
    };
    assert_eq!(st, StatusCode::OK, "{login}");
    let alice = &data.users[1].1;
    let general_before = &before[&format!("alice GET /api/v1/channels/{}", data.general)]["body"];
    let resp = pg_http
        .client
        .post(format!(
            "{}/api/v1/channels/{}/messages",
            pg_http.base, data.general
        ))
        .bearer_auth(alice)
        .json(&json!({ "text": "first message on PostgreSQL" }))
        .send()
        .await
        .unwrap();
    let (st, msg) = common::read_json(resp).await;
    assert_eq!(st, StatusCode::CREATED, "{msg}");
    assert_eq!(
        msg["seq"].as_i64().unwrap(),
        general_before["last_seq"].as_i64().unwrap() + 1,
        "seq continues"
    );
    let mut next = Value::Null;
    for _ in 0..100 {
        let (st, page) = pg_http
            .get(alice, &format!("/api/v1/events?since={last}&limit=10"))
            .await;
        assert_eq!(st, StatusCode::OK, "{page}");
        if page["events"].as_array().is_some_and(|e| !e.is_empty()) {
            next = page["events"][0].clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(next["position"], last + 1, "positions continue: {next}");
    assert_eq!(next["type"], "message.created");
    assert_eq!(next["message"]["id"], msg["id"]);
    drop(pg);

    // The target has data now: a second copy is refused, and a verification finds the new
    // message and fails.
    let again = migrate(data_dir.path(), &["--to", &url]);
    let (stdout2, stderr2) = text(&again);
    assert!(!again.status.success(), "{stdout2}\n{stderr2}");
    assert!(stderr2.contains("not empty"), "{stderr2}");
    let verify = migrate(data_dir.path(), &["--verify-only", "--to", &url]);
    let (stdout3, stderr3) = text(&verify);
    assert!(!verify.status.success(), "{stdout3}\n{stderr3}");
    let messages_row = stdout3
        .lines()
        .find(|l| l.starts_with("messages "))
        .unwrap_or_else(|| panic!("{stdout3}"));
    assert!(messages_row.contains("MISMATCH"), "{messages_row}");
    assert!(stderr3.contains("verification FAILED"), "{stderr3}");

    // The password was never shown.
    for text in [&stdout, &stderr, &stdout2, &stderr2, &stdout3, &stderr3] {
        assert!(!text.contains(SECRET), "the password was printed:\n{text}");
    }
    if url.contains(SECRET) {
        assert!(stderr.contains(":****@"), "{stderr}");
    }
}
