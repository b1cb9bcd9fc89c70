//! Transport-level limits over real sockets: connection time-outs (half a header, an idle
//! keep-alive connection, a silent connection, a stalled body), WebSocket connection caps per
//! user and per address, oversized WebSocket frames, security headers on API responses, and
//! the modes of the files the server creates.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use common::ws::{Connect, FRAME_TIMEOUT, WsClient};
use common::{TestServer, Value};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Short time-outs: one second for a header, three of silence (the heartbeat must be shorter).
const SHORT_TIMEOUTS: &[(&str, &str)] = &[
    ("ENCLAVE_HTTP__HEADER_READ_TIMEOUT_SECS", "1"),
    ("ENCLAVE_HTTP__IDLE_TIMEOUT_SECS", "3"),
    ("ENCLAVE_REALTIME__HEARTBEAT_SECS", "1"),
];

/// Reads until the server closes the connection (or `limit` passes); returns what was read and
/// when the connection ended, measured from `since`.
async fn read_until_closed(
    stream: &mut TcpStream,
    since: Instant,
    limit: Duration,
) -> (String, Option<Duration>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((since + limit).into(), stream.read(&mut buf)).await {
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), None),
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (
                    String::from_utf8_lossy(&got).into_owned(),
                    Some(since.elapsed()),
                );
            }
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn slow_and_silent_connections_are_closed_after_the_configured_time_outs() {
    let server = TestServer::start_with_env(SHORT_TIMEOUTS);
    let within = Duration::from_secs(10);

    // Half a header: closed after the header time-out (1 s), before the idle one (3 s).
    let mut half = TcpStream::connect(server.addr()).await.unwrap();
    let t0 = Instant::now();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let (_, closed) = read_until_closed(&mut half, t0, within).await;
    let closed = closed.expect("a half header must not keep the connection open");
    assert!(
        closed >= Duration::from_millis(900) && closed < Duration::from_millis(2900),
        "closed after {closed:?}"
    );

    // A connection that never sends a byte: closed after the header time-out (hyper's timer
    // covers the first request from the start), at the latest after the idle one.
    let mut silent = TcpStream::connect(server.addr()).await.unwrap();
    let t0 = Instant::now();
    let (_, closed) = read_until_closed(&mut silent, t0, within).await;
    let closed = closed.expect("a silent connection must be closed");
    assert!(
        closed >= Duration::from_millis(900) && closed < Duration::from_secs(6),
        "closed after {closed:?}"
    );

    // A keep-alive connection left idle after a request: answered, then closed when the next
    // request's header has not come within the header time-out.
    let mut idle = TcpStream::connect(server.addr()).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);
    let t0 = Instant::now();
    let (_, closed) = read_until_closed(&mut idle, t0, within).await;
    let closed = closed.expect("an idle keep-alive connection must be closed");
    assert!(
        closed >= Duration::from_millis(900) && closed < Duration::from_millis(2900),
        "closed after {closed:?}"
    );

    // A request body that stalls: the connection is closed, unanswered, after the idle
    // time-out.
    let token = server.admin_token().await;
    let mut stalled = TcpStream::connect(server.addr()).await.unwrap();
    let head = format!(
        "POST /api/v1/channels HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"name\":"
    );
    stalled.write_all(head.as_bytes()).await.unwrap();
    let t0 = Instant::now();
    let (answer, closed) = read_until_closed(&mut stalled, t0, within).await;
    let closed = closed.expect("a stalled body must not keep the connection open");
    assert!(answer.is_empty(), "{answer}");
    assert!(
        closed >= Duration::from_millis(2900) && closed < Duration::from_secs(6),
        "closed after {closed:?}"
    );

    // A WebSocket whose client answers pings stays open past the idle time-out.
    let (_, alice) = server.create_user(&common::unique_name("alice")).await;
    let mut ws = WsClient::connect(&server, &alice).await;
    ws.expect_no_frame(Duration::from_secs(5)).await;
    ws.assert_alive().await;
}

fn ws_request(
    server: &TestServer,
    token: &str,
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let mut req = format!("ws://{}/api/v1/ws", server.addr())
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    req
}

/// Sends one text frame of `len` bytes (in the background: the server stops reading it) and
/// returns the data frames and the close code the server sent.
async fn send_oversized(server: &TestServer, token: &str, len: usize) -> (Vec<Value>, Option<u16>) {
    let (ws, _) = tokio_tungstenite::connect_async(ws_request(server, token))
        .await
        .unwrap();
    let (mut sink, mut stream) = ws.split();
    let hello = stream.next().await.unwrap().unwrap();
    assert!(hello.to_text().unwrap().contains("\"hello\""), "{hello:?}");
    let big = "x".repeat(len);
    let writer = tokio::spawn(async move {
        let _ = sink.send(Message::text(big)).await;
        sink
    });
    let mut frames = Vec::new();
    let mut code = None;
    let deadline = tokio::time::Instant::now() + FRAME_TIMEOUT;
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => panic!("no close within {FRAME_TIMEOUT:?}; frames: {frames:?}"),
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                eprintln!("read error: {e}");
                break;
            }
            Ok(Some(Ok(Message::Text(t)))) => {
                frames.push(serde_json::from_str(t.as_str()).unwrap())
            }
            Ok(Some(Ok(Message::Close(f)))) => {
                code = f.map(|f| u16::from(f.code));
                break;
            }
            Ok(Some(Ok(_))) => {}
        }
    }
    writer.abort();
    (frames, code)
}

#[tokio::test]
async fn frames_of_a_mebibyte_and_more_are_refused_with_bad_frame_and_close_code_1009() {
    let server = TestServer::shared();
    let (_, alice) = server.create_user(&common::unique_name("alice")).await;
    for len in [1024 * 1024, 2 * 1024 * 1024] {
        let (frames, code) = send_oversized(&server, &alice, len).await;
        assert_eq!(code, Some(1009), "{len} bytes: {frames:?}");
        assert!(
            frames
                .iter()
                .any(|f| f["type"] == "error" && f["code"] == "bad_frame"),
            "{len} bytes: {frames:?}"
        );
    }
    // A frame over 64 KiB but under the read limit is refused and the socket stays open.
    let mut ws = WsClient::connect(&server, &alice).await;
    ws.send(Message::text("y".repeat(100 * 1024))).await;
    let e = ws.next_of_type("error").await;
    assert_eq!(e["code"], "bad_frame", "{e}");
    ws.assert_alive().await;
}

#[tokio::test]
async fn sockets_past_the_per_user_and_per_address_caps_are_refused_with_429() {
    let server = TestServer::start_with_env(&[
        ("ENCLAVE_REALTIME__MAX_SOCKETS_PER_USER", "3"),
        ("ENCLAVE_REALTIME__MAX_SOCKETS_PER_IP", "5"),
    ]);
    let (_, alice) = server.create_user(&common::unique_name("alice")).await;
    let (_, bob) = server.create_user(&common::unique_name("bob")).await;
    let connect = |token| Connect {
        bearer: Some(token),
        ..Connect::default()
    };
    let (alice, bob) = (alice.as_str(), bob.as_str());

    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(WsClient::connect_with(&server, connect(alice)).await);
    }
    let refused = WsClient::try_connect(&server, connect(alice))
        .await
        .err()
        .expect("the fourth socket of one user must be refused");
    assert_eq!(refused.status, 429, "{:?}", refused.body);
    assert_eq!(
        refused.body["error"]["code"], "rate_limited",
        "{:?}",
        refused.body
    );

    // Closing one makes room again (the server lets it go when it reads the close).
    open.pop().unwrap().close().await;
    let deadline = Instant::now() + FRAME_TIMEOUT;
    let again = loop {
        match WsClient::try_connect(&server, connect(alice)).await {
            Ok(ws) => break ws,
            Err(r) if r.status == 429 && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(r) => panic!("still refused after a close: {} {:?}", r.status, r.body),
        }
    };
    open.push(again);

    // The address cap counts every user: bob gets two, then the address is full.
    open.push(WsClient::connect_with(&server, connect(bob)).await);
    open.push(WsClient::connect_with(&server, connect(bob)).await);
    let refused = WsClient::try_connect(&server, connect(bob))
        .await
        .err()
        .expect("the sixth socket from one address must be refused");
    assert_eq!(refused.status, 429, "{:?}", refused.body);
    assert_eq!(
        refused.body["error"]["code"], "rate_limited",
        "{:?}",
        refused.body
    );
    for ws in &mut open {
        ws.assert_alive().await;
    }
}

fn header<'a>(resp: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn api_responses_carry_nosniff_and_no_store_and_no_hsts_without_tls() {
    let server = TestServer::shared();
    let token = server.admin_token().await;
    for (path, auth, status) in [
        ("/api/v1/users/me", true, 200),
        ("/api/v1/channels", true, 200),
        ("/api/v1/users/me", false, 401),
        ("/api/v1/no-such-route", true, 404),
        ("/api/v1/openapi.json", false, 200),
    ] {
        let mut req = server.client().get(server.url(path));
        if auth {
            req = req.bearer_auth(&token);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), status, "{path}");
        assert_eq!(
            header(&resp, "x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(header(&resp, "cache-control"), Some("no-store"), "{path}");
        assert_eq!(header(&resp, "strict-transport-security"), None, "{path}");
    }
    // The web client keeps its own caching rules, and gets nosniff too.
    let resp = server.client().get(server.url("/")).send().await.unwrap();
    assert_ne!(header(&resp, "cache-control"), Some("no-store"));
    assert_eq!(header(&resp, "x-content-type-options"), Some("nosniff"));
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[tokio::test]
async fn the_database_its_wal_and_stored_files_are_private_to_the_server_user() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_in(dir.path());
    let token = server.admin_token().await;
    let resp = server
        .client()
        .post(server.url("/api/v1/files?name=notes.txt"))
        .bearer_auth(&token)
        .body("private notes\n")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{:?}", resp.text().await);
    let data = dir.path();
    for name in ["enclave.db", "enclave.db-wal", "enclave.db-shm"] {
        assert_eq!(mode(&data.join(name)), 0o600, "{name}");
    }
    let mut objects = Vec::new();
    files_under(&data.join("files"), &mut objects);
    assert!(!objects.is_empty(), "the upload stored no object");
    for o in &objects {
        assert_eq!(mode(o), 0o600, "{}", o.display());
    }
    assert_eq!(mode(&data.join("files")) & 0o077, 0, "the files folder");

    // A database made 0644 before (by an older version) is made private at the next start.
    server.terminate();
    std::fs::set_permissions(
        data.join("enclave.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    server.restart();
    let (status, _) = server.get(Some(&token), "/api/v1/users/me", None).await;
    assert_eq!(status, 200);
    assert_eq!(mode(&data.join("enclave.db")), 0o600);
}
