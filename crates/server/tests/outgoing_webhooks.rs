//! Outgoing webhooks against a receiver written here on 127.0.0.1: the receiver checks Slack's
//! `v0` signature with the standard HMAC routine (the `hmac` crate), reads Slack's form fields
//! (or the JSON body), and answers with a reply that appears in the channel; a 500 is retried;
//! the delivery log is its owner's; a host not on the outbound allow-list is refused and logged
//! as such; posts by integrations (replies) call no webhook. On both backends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use common::{StatusCode, TestServer, Value, json, s, unique_name};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tokio::sync::mpsc;

/// One request the receiver got, its signature checked.
#[derive(Debug)]
struct Got {
    path: String,
    fields: HashMap<String, String>,
    signature_ok: bool,
}

#[derive(Clone)]
struct Receiver {
    /// The signing secrets, by path (set once the webhooks exist).
    secrets: Arc<std::sync::Mutex<HashMap<String, String>>>,
    flaky_calls: Arc<AtomicU32>,
    tx: mpsc::UnboundedSender<Got>,
}

fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let ts = headers
        .get("x-slack-request-timestamp")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let sig = headers
        .get("x-slack-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("v0:{ts}:").as_bytes());
    mac.update(body);
    let want: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // Slack's advice: refuse a timestamp more than five minutes away.
    let fresh = ts.parse::<i64>().is_ok_and(|t| (now - t).abs() < 300);
    fresh && sig == format!("v0={want}")
}

async fn receive(
    State(r): State<Receiver>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (axum::http::StatusCode, String) {
    let path = uri.path().to_owned();
    let secret = r
        .secrets
        .lock()
        .unwrap()
        .get(&path)
        .cloned()
        .unwrap_or_default();
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let fields: HashMap<String, String> = if ct.starts_with("application/json") {
        serde_json::from_slice::<HashMap<String, String>>(&body).unwrap_or_default()
    } else {
        url_decode(&String::from_utf8_lossy(&body))
    };
    let got = Got {
        path: path.clone(),
        signature_ok: verify(&secret, &headers, &body),
        fields,
    };
    let text = got.fields.get("text").cloned().unwrap_or_default();
    let _ = r.tx.send(got);
    if path == "/flaky" && r.flaky_calls.fetch_add(1, Ordering::SeqCst) == 0 {
        return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "down".into());
    }
    (
        axum::http::StatusCode::OK,
        json!({ "text": format!("{path} got: {text}") }).to_string(),
    )
}

fn url_decode(s: &str) -> HashMap<String, String> {
    fn dec(x: &str) -> String {
        let b = x.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < b.len() => {
                    out.push(u8::from_str_radix(&x[i + 1..i + 3], 16).unwrap());
                    i += 2;
                }
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8(out).unwrap()
    }
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (dec(k), dec(v))
        })
        .collect()
}

async fn start_receiver() -> (std::net::SocketAddr, Receiver, mpsc::UnboundedReceiver<Got>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let r = Receiver {
        secrets: Arc::default(),
        flaky_calls: Arc::default(),
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

/// Polls `f` until it returns `Some` (at most 30 s): waiting for the worker, never a timing
/// assertion.
async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..300 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn messages(server: &TestServer, token: &str, channel: &str) -> Vec<Value> {
    let (st, body) = server
        .get(
            Some(token),
            &format!("/api/v1/channels/{channel}/messages?limit=100"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    body["messages"].as_array().unwrap().clone()
}

async fn deliveries(server: &TestServer, token: &str, id: &str) -> (StatusCode, Value) {
    server
        .get(
            Some(token),
            &format!("/api/v1/webhooks/outgoing/{id}/deliveries"),
            None,
        )
        .await
}

async fn outgoing_webhooks(
    server: &TestServer,
    addr: std::net::SocketAddr,
    r: Receiver,
    mut rx: mpsc::UnboundedReceiver<Got>,
) {
    let admin = server.admin_token().await;
    let (member_id, member) = server.create_user(&unique_name("member")).await;
    let cname = unique_name("ops");
    let channel = server.create_channel(&admin, &cname, "public").await;
    server.add_member(&admin, &channel, &member_id).await;
    let base = format!("http://{addr}");
    let create = |body: Value| {
        let admin = admin.clone();
        async move {
            server
                .post(Some(&admin), "/api/v1/webhooks/outgoing", Some(body))
                .await
        }
    };

    // Bad input: 4xx, nothing made.
    let (st, _) = server
        .post(
            Some(&member),
            "/api/v1/webhooks/outgoing",
            Some(json!({ "channel_id": channel, "name": "x", "url": format!("{base}/a") })),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    for bad in [
        json!({ "channel_id": channel, "name": "x", "url": "ftp://example.org/x" }),
        json!({ "channel_id": channel, "name": "x", "url": "not a url" }),
        json!({ "channel_id": channel, "name": "", "url": format!("{base}/a") }),
        json!({ "channel_id": channel, "name": "x", "url": format!("{base}/{}", "a".repeat(2100)) }),
        json!({ "channel_id": channel, "name": "x", "url": format!("{base}/a"),
                "trigger_words": (0..11).map(|i| format!("w{i}")).collect::<Vec<_>>() }),
        json!({ "channel_id": channel, "name": "x", "url": format!("{base}/a"), "trigger_words": ["two words"] }),
        json!({ "channel_id": channel, "name": "x", "url": format!("{base}/a"), "content_type": "xml" }),
        json!({ "channel_id": channel, "name": 5, "url": format!("{base}/a") }),
    ] {
        let (st, body) = create(bad.clone()).await;
        assert!(
            st.is_client_error() && st != StatusCode::NOT_FOUND,
            "{bad}: {st} {body}"
        );
    }
    let (st, _) =
        create(json!({ "channel_id": "999999", "name": "x", "url": format!("{base}/a") })).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (_, list) = server
        .get(Some(&admin), "/api/v1/webhooks/outgoing", None)
        .await;
    assert_eq!(list["webhooks"].as_array().unwrap().len(), 0, "{list}");

    // A webhook on trigger words (form, as Slack) and one on every message (JSON).
    let (st, deploy) = create(json!({ "channel_id": channel, "name": "Deploy",
        "url": format!("{base}/deploy"), "trigger_words": ["deploy", "部署"] }))
    .await;
    assert_eq!(st, StatusCode::CREATED, "{deploy}");
    let (st, every) = create(json!({ "channel_id": channel, "name": "Audit trail",
        "url": format!("{base}/flaky"), "content_type": "json" }))
    .await;
    assert_eq!(st, StatusCode::CREATED, "{every}");
    let (st, unlisted) = create(json!({ "channel_id": channel, "name": "Elsewhere",
        "url": "http://unlisted.invalid/hook", "trigger_words": ["elsewhere"] }))
    .await;
    assert_eq!(st, StatusCode::CREATED, "{unlisted}");
    let deploy_id = s(&deploy["webhook"], "id");
    let every_id = s(&every["webhook"], "id");
    let unlisted_id = s(&unlisted["webhook"], "id");
    assert_eq!(
        deploy["webhook"]["trigger_words"],
        json!(["deploy", "部署"])
    );
    assert_eq!(every["webhook"]["content_type"], "json");
    {
        let mut secrets = r.secrets.lock().unwrap();
        secrets.insert("/deploy".into(), s(&deploy, "signing_secret"));
        secrets.insert("/flaky".into(), s(&every, "signing_secret"));
    }

    // A trigger word: the receiver gets Slack's fields, signed; its reply appears.
    let posted = server
        .post_message(&member, &channel, "deploy prod now")
        .await;
    let mut got = Vec::new();
    // The message calls both webhooks; the JSON one answers 500 first and is retried.
    while got.iter().filter(|g: &&Got| g.path == "/flaky").count() < 2
        || !got.iter().any(|g| g.path == "/deploy")
    {
        got.push(next(&mut rx).await);
    }
    for g in &got {
        assert!(g.signature_ok, "signature of {g:?}");
    }
    let d = got.iter().find(|g| g.path == "/deploy").unwrap();
    assert_eq!(d.fields["text"], "deploy prod now");
    assert_eq!(d.fields["trigger_word"], "deploy");
    assert_eq!(d.fields["token"], s(&deploy, "token"));
    assert_eq!(d.fields["channel_id"], channel);
    assert_eq!(d.fields["channel_name"], cname);
    assert_eq!(d.fields["user_id"], member_id);
    assert!(d.fields["user_name"].starts_with("member"));
    assert_eq!(d.fields["team_id"], "enclave");
    assert!(d.fields["timestamp"].contains('.'));
    let j = got.iter().find(|g| g.path == "/flaky").unwrap();
    assert_eq!(j.fields["text"], "deploy prod now");
    assert_eq!(j.fields["trigger_word"], "");

    // Both replies appear in the channel, posted as the webhooks' owner.
    for want in [
        "/deploy got: deploy prod now",
        "/flaky got: deploy prod now",
    ] {
        let m = eventually(want, || async {
            messages(server, &admin, &channel)
                .await
                .into_iter()
                .find(|m| m["text"] == want)
        })
        .await;
        assert_eq!(m["user_id"], s(&deploy["webhook"], "creator_id"));
    }

    // Not a trigger word; the unlisted host's trigger word.
    server
        .post_message(&member, &channel, "please deploy")
        .await;
    server
        .post_message(&member, &channel, "elsewhere too")
        .await;
    // A last message: once the every-message webhook logged it, everything before it was
    // looked at (the worker reads the log in order).
    let last = server.post_message(&member, &channel, "the end").await;
    let log = eventually("the last delivery", || async {
        let (_, log) = deliveries(server, &admin, &every_id).await;
        let l = log["deliveries"].as_array().unwrap().clone();
        l.iter()
            .any(|d| d["message_id"] == last["id"] && d["status"] == "delivered")
            .then_some(l)
    })
    .await;
    // Only people's messages called it: the replies (integrations' posts) did not.
    let called: Vec<&Value> = log.iter().map(|d| &d["message_id"]).collect();
    assert_eq!(called.len(), 4, "{log:?}");
    let first = log
        .iter()
        .find(|d| d["message_id"] == posted["id"])
        .unwrap();
    assert_eq!(first["status"], "delivered");
    assert_eq!(first["attempts"], 2, "a 500, then a retry: {first}");
    assert_eq!(first["http_status"], 200);

    let (st, log) = deliveries(server, &admin, &deploy_id).await;
    assert_eq!(st, StatusCode::OK);
    let log = log["deliveries"].as_array().unwrap();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["message_id"], posted["id"]);
    assert_eq!(log[0]["attempts"], 1);

    // The unlisted host: refused before any connection, and logged as such.
    let refused = eventually("the refused delivery", || async {
        let (_, log) = deliveries(server, &admin, &unlisted_id).await;
        log["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["status"] == "refused")
            .cloned()
    })
    .await;
    assert!(
        refused["error"].as_str().unwrap().contains("allow-list"),
        "{refused}"
    );
    assert_eq!(refused["attempts"], 1);

    // The log is its owner's: another user gets 404 (not even told it exists).
    let (st, _) = deliveries(server, &member, &deploy_id).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = server
        .get(Some(&member), "/api/v1/webhooks/outgoing", None)
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = server
        .delete(
            Some(&member),
            &format!("/api/v1/webhooks/outgoing/{deploy_id}"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = deliveries(server, &admin, "999999").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = deliveries(server, &admin, "nope").await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // Rotation: a new secret signs the next request; the old one no longer verifies.
    let (st, rotated) = server
        .post(
            Some(&admin),
            &format!("/api/v1/webhooks/outgoing/{deploy_id}/rotate"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{rotated}");
    assert_ne!(s(&rotated, "signing_secret"), s(&deploy, "signing_secret"));
    r.secrets
        .lock()
        .unwrap()
        .insert("/deploy".into(), s(&rotated, "signing_secret"));
    server.post_message(&member, &channel, "部署 staging").await;
    let g = loop {
        let g = next(&mut rx).await;
        if g.path == "/deploy" {
            break g;
        }
    };
    assert!(g.signature_ok);
    assert_eq!(g.fields["trigger_word"], "部署");
    assert_eq!(g.fields["token"], s(&rotated, "token"));

    // Deleting: gone from the list, its log with it.
    let (st, _) = server
        .delete(
            Some(&admin),
            &format!("/api/v1/webhooks/outgoing/{unlisted_id}"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = deliveries(server, &admin, &unlisted_id).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (_, list) = server
        .get(Some(&admin), "/api/v1/webhooks/outgoing", None)
        .await;
    assert_eq!(list["webhooks"].as_array().unwrap().len(), 2, "{list}");
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
async fn sqlite_outgoing_webhooks() {
    let (addr, r, rx) = start_receiver().await;
    let env = env(addr);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = TestServer::start_with_env(&env);
    outgoing_webhooks(&server, addr, r, rx).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_outgoing_webhooks() {
    let Some((_db, url)) = enclave_store::testing::fresh_database_url().await else {
        return;
    };
    let (addr, r, rx) = start_receiver().await;
    let mut env = env(addr);
    env.push(("ENCLAVE_DATABASE__URL", url));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = TestServer::start_with_env(&env);
    outgoing_webhooks(&server, addr, r, rx).await;
}
