//! Slash commands through the real binary, on SQLite and on a private PostgreSQL
//! (`docs/api/integrations.md`): the built-ins do what the requests they stand for do, with the
//! same permission checks (`/me`, `/shrug`, `/topic`, `/join`, `/invite`, `/kick`, `/msg`,
//! `/status`, `/dnd`, `/help`; `//x` posts `/x`); bad lines are 4xx and change nothing; a custom
//! command calls a receiver written here on 127.0.0.1 that checks Slack's `v0` signature with
//! the standard HMAC routine, answers ephemerally and in the channel, and follows up through its
//! `response_url` (an ephemeral follow-up reaches the caller's event stream only; the URL takes
//! five follow-ups).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use common::{StatusCode, TestServer, Value, json, unique_name};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tokio::sync::mpsc;

#[derive(Debug)]
struct Got {
    fields: HashMap<String, String>,
    signature_ok: bool,
}

#[derive(Clone)]
struct Receiver {
    secret: Arc<std::sync::Mutex<String>>,
    tx: mpsc::UnboundedSender<Got>,
}

fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let h = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let (ts, sig) = (h("x-slack-request-timestamp"), h("x-slack-signature"));
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("v0:{ts}:").as_bytes());
    mac.update(body);
    let want: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    sig == format!("v0={want}")
}

fn url_decode(s: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(s.as_bytes())
        .into_owned()
        .collect()
}

/// Answers as the text asks: `public ...` in the channel, `quiet` with nothing, `slow` after 5 s,
/// anything else ephemerally.
async fn receive(
    State(r): State<Receiver>,
    headers: HeaderMap,
    body: Bytes,
) -> (
    axum::http::StatusCode,
    [(&'static str, &'static str); 1],
    String,
) {
    let secret = r.secret.lock().unwrap().clone();
    let fields = url_decode(&String::from_utf8_lossy(&body));
    let got = Got {
        signature_ok: verify(&secret, &headers, &body),
        fields,
    };
    let text = got.fields.get("text").cloned().unwrap_or_default();
    let _ = r.tx.send(got);
    let json_ct = [("content-type", "application/json")];
    if text == "quiet" {
        return (axum::http::StatusCode::OK, json_ct, String::new());
    }
    if text == "slow" {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    if text == "broken" {
        return (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            json_ct,
            "{}".into(),
        );
    }
    if let Some(rest) = text.strip_prefix("public ") {
        return (
            axum::http::StatusCode::OK,
            json_ct,
            json!({ "response_type": "in_channel", "text": format!("Forecast for {rest}: sunny"),
                    "attachments": [{ "title": "Details", "text": "25 °C" }] })
            .to_string(),
        );
    }
    (
        axum::http::StatusCode::OK,
        json_ct,
        json!({ "text": format!("Only for you: {text}") }).to_string(),
    )
}

async fn start_receiver() -> (std::net::SocketAddr, Receiver, mpsc::UnboundedReceiver<Got>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let r = Receiver {
        secret: Arc::default(),
        tx,
    };
    let app = axum::Router::new()
        .fallback(axum::routing::post(receive))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (addr, r, rx)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Got>) -> Got {
    tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("the receiver got a request within 30 s")
        .expect("receiver open")
}

async fn run(server: &TestServer, token: &str, channel: &str, text: &str) -> (StatusCode, Value) {
    server
        .post(
            Some(token),
            &format!("/api/v1/channels/{channel}/commands"),
            Some(json!({ "text": text })),
        )
        .await
}

async fn texts(server: &TestServer, token: &str, channel: &str) -> Vec<String> {
    let (st, body) = server
        .get(
            Some(token),
            &format!("/api/v1/channels/{channel}/messages?limit=100"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect()
}

/// The caller's events after `since` as one string (read until `what` appears, within 10 s, or
/// the deadline).
async fn events_until(server: &TestServer, token: &str, since: i64, what: &str) -> String {
    let mut since = since;
    let mut seen = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (st, page) = server
            .get(
                Some(token),
                &format!("/api/v1/events?since={since}&limit=1000"),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{page}");
        seen.push_str(&page["events"].to_string());
        since = page["position"].as_i64().unwrap();
        if page["has_more"] == true {
            continue;
        }
        if seen.contains(what) || std::time::Instant::now() > deadline {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn position(server: &TestServer, token: &str) -> i64 {
    let (st, page) = server
        .get(Some(token), "/api/v1/events?since=0&limit=1", None)
        .await;
    assert_eq!(st, StatusCode::OK, "{page}");
    // The end of the log: read to it.
    let mut since = page["position"].as_i64().unwrap();
    loop {
        let (_, page) = server
            .get(
                Some(token),
                &format!("/api/v1/events?since={since}&limit=1000"),
                None,
            )
            .await;
        since = page["position"].as_i64().unwrap();
        if page["has_more"] != true {
            return since;
        }
    }
}

async fn commands(
    server: &TestServer,
    addr: std::net::SocketAddr,
    r: Receiver,
    mut rx: mpsc::UnboundedReceiver<Got>,
) {
    let admin = server.admin_token().await;
    let (li_id, li) = server.create_user(&unique_name("li")).await;
    let (han_id, han) = server.create_user(&unique_name("han")).await;
    let (_, li_user) = server.get(Some(&li), "/api/v1/users/me", None).await;
    let (_, han_user) = server.get(Some(&han), "/api/v1/users/me", None).await;
    let han_name = han_user["username"].as_str().unwrap().to_owned();
    let li_name = li_user["username"].as_str().unwrap().to_owned();
    let cname = unique_name("town");
    let channel = server.create_channel(&li, &cname, "public").await;

    // The list: built-ins first.
    let (st, list) = server.get(Some(&han), "/api/v1/commands", None).await;
    assert_eq!(st, StatusCode::OK, "{list}");
    let names: Vec<&str> = list["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for b in [
        "me", "shrug", "topic", "join", "invite", "msg", "status", "help",
    ] {
        assert!(names.contains(&b), "{b} missing from {names:?}");
    }

    // /me, /shrug and // post messages.
    let (st, body) = run(server, &li, &channel, "/me waves_hello").await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["result"], "posted");
    let (_, body) = run(server, &li, &channel, "/shrug no idea").await;
    assert_eq!(body["result"], "posted", "{body}");
    let (_, body) = run(server, &li, &channel, "//me is literal").await;
    assert_eq!(body["result"], "posted", "{body}");
    let (_, body) = run(server, &li, &channel, "/usr/bin is full").await;
    assert_eq!(body["result"], "posted", "{body}");
    let got = texts(server, &li, &channel).await;
    for want in [
        "_waves\\_hello_",
        "no idea ¯\\\\\\_(ツ)\\_/¯",
        "/me is literal",
        "/usr/bin is full",
    ] {
        assert!(got.iter().any(|t| t == want), "{want:?} not in {got:?}");
    }

    // /topic sets and shows; Chinese text is kept.
    let (_, body) = run(server, &li, &channel, "/topic 预算 2027").await;
    assert_eq!(body["result"], "topic_set", "{body}");
    assert_eq!(body["channel"]["topic"], "预算 2027");
    let (_, body) = run(server, &li, &channel, "/topic").await;
    assert_eq!(body["result"], "topic", "{body}");
    assert_eq!(body["text"], "Topic: 预算 2027");

    // /join by name (with ~), typed where one may post (one's own channel), then /invite and
    // /kick as the channel's owner. Typed in a channel one only reads, a command is refused.
    let (st, _) = run(server, &han, &channel, &format!("/join ~{cname}")).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let lobby = server
        .create_channel(&han, &unique_name("lobby"), "public")
        .await;
    let (st, body) = run(server, &han, &lobby, &format!("/join ~{cname}")).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["result"], "joined");
    assert_eq!(body["channel"]["id"], channel.as_str());
    let (st, body) = run(server, &han, &channel, &format!("/kick @{li_name}")).await;
    assert_eq!(
        st,
        StatusCode::FORBIDDEN,
        "a member may not remove the owner: {body}"
    );
    let (st, body) = run(server, &li, &channel, &format!("/kick @{han_name}")).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["result"], "removed");
    let (st, body) = run(server, &li, &channel, &format!("/invite @{han_name}")).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["users"][0]["id"], han_id.as_str());
    let (_, body) = run(server, &li, &channel, &format!("/invite @{han_name}")).await;
    assert_eq!(body["already"][0]["id"], han_id.as_str(), "{body}");

    // /msg opens a direct conversation and posts there.
    let (st, body) = run(
        server,
        &han,
        &channel,
        &format!("/msg @{li_name} 下午三点开会"),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["result"], "opened");
    let dm = body["channel"]["id"].as_str().unwrap().to_owned();
    assert_eq!(texts(server, &li, &dm).await, ["下午三点开会"]);

    // /status and /dnd change the caller's own account.
    let (_, body) = run(server, &han, &channel, "/status 开会中").await;
    assert_eq!(body["status_text"], "开会中", "{body}");
    let (_, body) = run(server, &han, &channel, "/dnd").await;
    assert_eq!(body["dnd"], true, "{body}");
    let (_, body) = run(server, &han, &channel, "/dnd off").await;
    assert_eq!(body["dnd"], false, "{body}");
    let (_, body) = run(server, &han, &channel, "/help").await;
    assert!(body["commands"].as_array().unwrap().len() >= 12, "{body}");

    // Bad lines: 4xx and nothing changes.
    let before = texts(server, &li, &channel).await.len();
    for (line, want) in [
        ("/nosuchcommand x", StatusCode::NOT_FOUND),
        ("/invite", StatusCode::BAD_REQUEST),
        ("/invite @nobody-here", StatusCode::NOT_FOUND),
        ("/me", StatusCode::BAD_REQUEST),
        ("/dnd maybe", StatusCode::BAD_REQUEST),
        ("/join two words", StatusCode::BAD_REQUEST),
        ("/join ~no-such-channel", StatusCode::NOT_FOUND),
    ] {
        let (st, body) = run(server, &li, &channel, line).await;
        assert_eq!(st, want, "{line}: {body}");
    }
    let (st, _) = run(server, &li, "999999", "/me hi").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = server
        .post(
            Some(&li),
            &format!("/api/v1/channels/{channel}/commands"),
            Some(json!({ "text": 5 })),
        )
        .await;
    assert!(st.is_client_error());
    let (st, _) = run(
        server,
        &li,
        &channel,
        &format!("/me {}", "x".repeat(16_001)),
    )
    .await;
    assert!(st.is_client_error());
    // Someone outside a private channel cannot run commands there.
    let secret_channel = server
        .create_channel(&admin, &unique_name("secret"), "private")
        .await;
    let (st, _) = run(server, &li, &secret_channel, "/topic leaked").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(texts(server, &li, &channel).await.len(), before);

    // Custom commands: integration managers only; triggers checked.
    let base = format!("http://{addr}");
    let (st, _) = server
        .post(
            Some(&li),
            "/api/v1/commands/custom",
            Some(json!({ "trigger": "weather", "url": format!("{base}/w") })),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    for bad in [
        json!({ "trigger": "me", "url": format!("{base}/w") }),
        json!({ "trigger": "天气", "url": format!("{base}/w") }),
        json!({ "trigger": "weather", "url": "ftp://x/y" }),
        json!({ "trigger": "weather", "url": format!("{base}/w"), "description": "a\nb" }),
    ] {
        let (st, body) = server
            .post(Some(&admin), "/api/v1/commands/custom", Some(bad.clone()))
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    let (st, made) = server
        .post(
            Some(&admin),
            "/api/v1/commands/custom",
            Some(json!({ "trigger": "/Weather", "url": format!("{base}/w"),
                         "description": "天气预报", "usage_hint": "[city]" })),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{made}");
    assert_eq!(made["command"]["trigger"], "weather");
    *r.secret.lock().unwrap() = made["signing_secret"].as_str().unwrap().to_owned();
    let token = made["token"].as_str().unwrap().to_owned();
    let (st, _) = server
        .post(
            Some(&admin),
            "/api/v1/commands/custom",
            Some(json!({ "trigger": "weather", "url": format!("{base}/w") })),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "a trigger is taken once");

    // An ephemeral answer: for the caller only, nothing posted.
    let before = texts(server, &han, &channel).await.len();
    let (st, body) = run(server, &han, &channel, "/weather 北京").await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["response_type"], "ephemeral");
    assert_eq!(body["text"], "Only for you: 北京");
    let got = next(&mut rx).await;
    assert!(got.signature_ok, "the signature checks out: {got:?}");
    assert_eq!(got.fields["token"], token);
    assert_eq!(got.fields["command"], "/weather");
    assert_eq!(got.fields["text"], "北京");
    assert_eq!(got.fields["channel_id"], channel);
    assert_eq!(got.fields["user_id"], han_id);
    assert_eq!(got.fields["user_name"], han_name);
    let response_url = got.fields["response_url"].clone();
    // At the server's own address (the port it listens on, also when it was chosen at start).
    let port = server.base_url().rsplit(':').next().unwrap().to_owned();
    assert!(
        response_url.starts_with(&format!("http://localhost:{port}/hooks/commands/")),
        "{response_url} is not at port {port}"
    );
    assert_eq!(texts(server, &han, &channel).await.len(), before);

    // In the channel, as the command's creator: one who is not a member cannot post there, so
    // the answer is the caller's alone and nothing is posted.
    let (_, body) = run(server, &han, &channel, "/weather public 上海").await;
    assert_eq!(body["response_type"], "ephemeral", "{body}");
    assert!(
        body["text"].as_str().unwrap().contains("Forecast for 上海"),
        "{body}"
    );
    let _ = next(&mut rx).await;
    assert_eq!(texts(server, &han, &channel).await.len(), before);
    let (st, _) = server
        .post(
            Some(&admin),
            &format!("/api/v1/channels/{channel}/join"),
            None,
        )
        .await;
    assert!(st.is_success());
    // A member: the caller's line, then the answer as Markdown.
    let (_, body) = run(server, &han, &channel, "/weather public 上海").await;
    assert_eq!(body["response_type"], "in_channel", "{body}");
    let _ = next(&mut rx).await;
    let after = texts(server, &han, &channel).await;
    assert!(
        after.iter().any(|t| t == "/weather public 上海"),
        "{after:?}"
    );
    assert!(
        after
            .iter()
            .any(|t| t.contains("Forecast for 上海: sunny") && t.contains("Details")),
        "{after:?}"
    );
    // Nothing to say: nothing shown.
    let (_, body) = run(server, &han, &channel, "/weather quiet").await;
    assert_eq!(body["response_type"], "none", "{body}");
    let _ = next(&mut rx).await;
    // A service that fails or is slow: 502 command_failed, nothing posted.
    let n = texts(server, &han, &channel).await.len();
    let (st, body) = run(server, &han, &channel, "/weather broken").await;
    assert_eq!(st, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["error"]["code"], "command_failed", "{body}");
    let _ = next(&mut rx).await;
    let (st, body) = run(server, &han, &channel, "/weather slow").await;
    assert_eq!(st, StatusCode::BAD_GATEWAY, "{body}");
    let _ = next(&mut rx).await;
    assert_eq!(texts(server, &han, &channel).await.len(), n);

    // Follow-ups through the response_url of the first call: an ephemeral one reaches the
    // caller's events only; an in-channel one is posted.
    let path = response_url
        .split_once("/hooks/")
        .map(|(_, p)| format!("/hooks/{p}"))
        .unwrap();
    let han_since = position(server, &han).await;
    let li_since = position(server, &li).await;
    let (st, body) = server
        .post(
            None,
            &path,
            Some(json!({ "text": "Still working on 北京…" })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body, "ok");
    let seen = events_until(server, &han, han_since, "ephemeral.posted").await;
    assert!(seen.contains("Still working on 北京"), "{seen}");
    let (_, li_page) = server
        .get(
            Some(&li),
            &format!("/api/v1/events?since={li_since}&limit=1000"),
            None,
        )
        .await;
    assert!(
        !li_page.to_string().contains("Still working"),
        "another member never sees it: {li_page}"
    );
    let (st, _) = server
        .post(
            None,
            &path,
            Some(json!({ "response_type": "in_channel", "text": "北京: 晴" })),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        texts(server, &li, &channel)
            .await
            .iter()
            .any(|t| t == "北京: 晴")
    );
    // Bad follow-ups change nothing and do not use the URL up.
    for bad in [
        json!({ "text": "" }),
        json!([1, 2]),
        json!({ "blocks": [{ "type": "nope" }] }),
    ] {
        let (st, _) = server.post(None, &path, Some(bad.clone())).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}");
    }
    let (st, _) = server
        .request_raw(
            axum::http::Method::POST,
            &path,
            &[("content-type", "application/json")],
            Some(b"{not json".to_vec()),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    // Five follow-ups in all: three more are taken, the sixth is refused.
    for i in 0..3 {
        let (st, _) = server
            .post(None, &path, Some(json!({ "text": format!("update {i}") })))
            .await;
        assert_eq!(st, StatusCode::OK, "follow-up {}", i + 3);
    }
    let (st, body) = server
        .post(None, &path, Some(json!({ "text": "one too many" })))
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body, "expired_url");
    let (st, _) = server
        .post(
            None,
            "/hooks/commands/not-a-token",
            Some(json!({ "text": "x" })),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // Rotation signs with the new secret; deletion ends the command.
    let id = made["command"]["id"].as_str().unwrap().to_owned();
    let (st, rotated) = server
        .post(
            Some(&admin),
            &format!("/api/v1/commands/custom/{id}/rotate"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{rotated}");
    *r.secret.lock().unwrap() = rotated["signing_secret"].as_str().unwrap().to_owned();
    let (st, _) = run(server, &han, &channel, "/weather again").await;
    assert_eq!(st, StatusCode::OK);
    assert!(next(&mut rx).await.signature_ok);
    let (st, _) = server
        .request(
            axum::http::Method::DELETE,
            Some(&li),
            &format!("/api/v1/commands/custom/{id}"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = server
        .request(
            axum::http::Method::DELETE,
            Some(&admin),
            &format!("/api/v1/commands/custom/{id}"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = run(server, &han, &channel, "/weather gone").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let _ = li_id;
}

fn env(addr: std::net::SocketAddr) -> Vec<(&'static str, String)> {
    vec![
        (
            "ENCLAVE_OUTBOUND__ALLOW",
            format!("[\"127.0.0.1:{}\"]", addr.port()),
        ),
        (
            "ENCLAVE_OUTBOUND__ALLOW_PRIVATE",
            "[\"127.0.0.1/32\"]".to_owned(),
        ),
        ("ENCLAVE_OUTBOUND__ALLOW_PLAIN_HTTP", "true".to_owned()),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_slash_commands() {
    let (addr, r, rx) = start_receiver().await;
    let env = env(addr);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = TestServer::start_with_env(&env);
    commands(&server, addr, r, rx).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_slash_commands() {
    let Some((_db, url)) = enclave_store::testing::fresh_database_url().await else {
        return;
    };
    let (addr, r, rx) = start_receiver().await;
    let mut env = env(addr);
    env.push(("ENCLAVE_DATABASE__URL", url));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = TestServer::start_with_env(&env);
    commands(&server, addr, r, rx).await;
}
