//! A WebSocket client for the real-time gateway (`GET /api/v1/ws`, see
//! `docs/api/realtime.md`), over a real TCP connection to a [`TestServer`].
//!
//! ```ignore
//! let mut ws = WsClient::connect(&server, &token).await;          // reads the hello
//! let since = ws.last_position();                                 // hello.position, then the last event's
//! ws.send_json(&json!({"type": "ping", "ref": 1})).await;
//! let pong = ws.next_frame(Duration::from_secs(5)).await;         // parsed JSON; pings are skipped
//! ws.expect_no_frame(Duration::from_millis(300)).await;
//! let mut again = WsClient::connect_since(&server, &token, since).await;
//! ```
//!
//! Every event frame read (one with a `position`) is checked on the spot: its position must be
//! greater than every position this connection saw before (no duplicate, no reordering).
//! Control frames (ping/pong) are answered by the library and never returned. A close frame
//! ends the stream; its code is kept ([`WsClient::close_code`]).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, Request, header};
use tokio_tungstenite::tungstenite::{self, Message};

use super::TestServer;

/// How long [`WsClient::next_frame`] callers usually wait for something that must come.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(10);

/// What reading the socket gave.
#[derive(Debug)]
pub enum Next {
    Frame(Value),
    /// The server closed (with this close code, if it sent a close frame) or the connection
    /// ended.
    Closed(Option<u16>),
    Timeout,
}

/// Options for the upgrade request.
#[derive(Debug, Default, Clone)]
pub struct Connect<'a> {
    /// `Authorization: Bearer`.
    pub bearer: Option<&'a str>,
    /// `?token=`.
    pub query_token: Option<&'a str>,
    /// `Cookie: enclave_session=...`.
    pub cookie: Option<&'a str>,
    /// `Origin:`.
    pub origin: Option<&'a str>,
    /// `?since=`.
    pub since: Option<i64>,
    /// `SO_RCVBUF` of the client socket (small values make the server's writes block sooner).
    pub recv_buffer: Option<u32>,
}

/// A refused upgrade: the HTTP status and the body (JSON when it is JSON).
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub body: Value,
}

pub struct WsClient {
    stream: WebSocketStream<TcpStream>,
    /// The `hello` frame.
    pub hello: Value,
    close_code: Option<u16>,
    closed: bool,
    last_position: i64,
    /// Event frames (those with a position) read so far, in order.
    pub events: Vec<Value>,
}

fn request(server: &TestServer, opts: &Connect<'_>) -> Request<()> {
    let mut query = Vec::new();
    if let Some(s) = opts.since {
        query.push(format!("since={s}"));
    }
    if let Some(t) = opts.query_token {
        query.push(format!("token={t}"));
    }
    let mut url = format!("ws://{}/api/v1/ws", server.addr());
    if !query.is_empty() {
        url.push('?');
        url.push_str(&query.join("&"));
    }
    let mut req = url.into_client_request().expect("a WebSocket request");
    let h = req.headers_mut();
    if let Some(t) = opts.bearer {
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {t}")).unwrap(),
        );
    }
    if let Some(c) = opts.cookie {
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("enclave_session={c}")).unwrap(),
        );
    }
    if let Some(o) = opts.origin {
        h.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
    }
    req
}

async fn tcp(server: &TestServer, recv_buffer: Option<u32>) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("a TCP socket");
    if let Some(n) = recv_buffer {
        socket.set_recv_buffer_size(n).expect("setting SO_RCVBUF");
    }
    socket
        .connect(server.addr())
        .await
        .unwrap_or_else(|e| panic!("connecting to {}: {e}", server.addr()))
}

impl WsClient {
    /// Connects with `Authorization: Bearer token` and reads the hello.
    pub async fn connect(server: &TestServer, token: &str) -> WsClient {
        Self::connect_with(
            server,
            Connect {
                bearer: Some(token),
                ..Connect::default()
            },
        )
        .await
    }

    /// Connects with `?since=` (when given) and reads the hello.
    pub async fn connect_since(server: &TestServer, token: &str, since: Option<i64>) -> WsClient {
        Self::connect_with(
            server,
            Connect {
                bearer: Some(token),
                since,
                ..Connect::default()
            },
        )
        .await
    }

    /// Connects with these options and reads the hello; panics when refused.
    pub async fn connect_with(server: &TestServer, opts: Connect<'_>) -> WsClient {
        match Self::try_connect(server, opts).await {
            Ok(c) => c,
            Err(r) => panic!(
                "the upgrade was refused: {} {}\n{}",
                r.status,
                r.body,
                server.log()
            ),
        }
    }

    /// Connects and reads the hello, or returns the refusal of the upgrade.
    pub async fn try_connect(server: &TestServer, opts: Connect<'_>) -> Result<WsClient, Refused> {
        let stream = tcp(server, opts.recv_buffer).await;
        let req = request(server, &opts);
        let (stream, _resp) = match tokio_tungstenite::client_async(req, stream).await {
            Ok(s) => s,
            Err(tungstenite::Error::Http(resp)) => {
                let status = resp.status().as_u16();
                let body = match resp.body() {
                    Some(b) if !b.is_empty() => serde_json::from_slice(b)
                        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(b).into_owned())),
                    _ => Value::Null,
                };
                return Err(Refused { status, body });
            }
            Err(e) => panic!("WebSocket handshake failed: {e}\n{}", server.log()),
        };
        let mut client = WsClient {
            stream,
            hello: Value::Null,
            close_code: None,
            closed: false,
            last_position: 0,
            events: Vec::new(),
        };
        let hello = client.next_frame(FRAME_TIMEOUT).await;
        assert_eq!(
            hello["type"], "hello",
            "the first frame must be hello: {hello}"
        );
        client.last_position = hello["position"]
            .as_i64()
            .unwrap_or_else(|| panic!("hello without a position: {hello}"));
        client.hello = hello;
        Ok(client)
    }

    /// The position to resume from: the last event's position, or the hello's when none came.
    pub fn last_position(&self) -> i64 {
        self.last_position
    }

    /// The close code the server sent, once the close frame has been read.
    pub fn close_code(&self) -> Option<u16> {
        self.close_code
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Reads the next data frame (pings and pongs are skipped) within `timeout`.
    pub async fn try_next(&mut self, timeout: Duration) -> Next {
        if self.closed {
            return Next::Closed(self.close_code);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let msg = match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return Next::Timeout,
                Ok(None) | Ok(Some(Err(_))) => {
                    self.closed = true;
                    return Next::Closed(self.close_code);
                }
                Ok(Some(Ok(m))) => m,
            };
            let text = match msg {
                Message::Text(t) => t,
                Message::Binary(b) => panic!("the server sent a binary frame: {b:?}"),
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
                Message::Close(frame) => {
                    self.close_code = frame.map(|f| u16::from(f.code));
                    self.closed = true;
                    return Next::Closed(self.close_code);
                }
            };
            let v: Value = serde_json::from_str(text.as_str())
                .unwrap_or_else(|e| panic!("a server frame is not JSON ({e}): {text}"));
            assert!(v["type"].is_string(), "a frame without a type: {v}");
            if v["type"] != "hello"
                && let Some(p) = v.get("position")
            {
                let p = p
                    .as_i64()
                    .unwrap_or_else(|| panic!("position not an integer: {v}"));
                assert!(
                    p > self.last_position,
                    "event positions must increase on a connection: {p} after {} in {v}",
                    self.last_position
                );
                self.last_position = p;
                self.events.push(v.clone());
            }
            return Next::Frame(v);
        }
    }

    /// The next data frame; panics on timeout or close.
    pub async fn next_frame(&mut self, timeout: Duration) -> Value {
        match self.try_next(timeout).await {
            Next::Frame(v) => v,
            other => panic!("expected a frame within {timeout:?}, got {other:?}"),
        }
    }

    /// The next frame for which `pred` holds, skipping others; panics on timeout or close.
    pub async fn next_where(
        &mut self,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        let mut skipped = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.try_next(left).await {
                Next::Frame(v) if pred(&v) => return v,
                Next::Frame(v) => skipped.push(v),
                other => {
                    panic!("expected {what} within {timeout:?}, got {other:?}; skipped {skipped:?}")
                }
            }
        }
    }

    /// The next frame of this `type`, skipping others.
    pub async fn next_of_type(&mut self, kind: &str) -> Value {
        self.next_where(FRAME_TIMEOUT, kind, |v| v["type"] == kind)
            .await
    }

    /// Panics if any data frame arrives (or the connection closes) within `duration`.
    pub async fn expect_no_frame(&mut self, duration: Duration) {
        match self.try_next(duration).await {
            Next::Timeout => {}
            other => panic!("expected nothing for {duration:?}, got {other:?}"),
        }
    }

    /// Panics if a frame for which `pred` holds arrives within `duration` (others are
    /// skipped; the connection must stay open).
    pub async fn expect_none_where(
        &mut self,
        duration: Duration,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) {
        let deadline = Instant::now() + duration;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            match self.try_next(left).await {
                Next::Timeout => return,
                Next::Frame(v) if pred(&v) => panic!("expected no {what}, got {v}"),
                Next::Frame(_) => {}
                Next::Closed(c) => panic!("expected no {what}, but the socket closed ({c:?})"),
            }
        }
    }

    /// Reads until the server closes (within `timeout`); returns the close code and the frames
    /// read before it.
    pub async fn read_until_close(&mut self, timeout: Duration) -> (Option<u16>, Vec<Value>) {
        let deadline = Instant::now() + timeout;
        let mut frames = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.try_next(left).await {
                Next::Frame(v) => frames.push(v),
                Next::Closed(c) => return (c, frames),
                Next::Timeout => panic!(
                    "the socket was not closed within {timeout:?}; read {} frames, last {:?}",
                    frames.len(),
                    frames.last()
                ),
            }
        }
    }

    /// Sends a JSON text frame.
    pub async fn send_json(&mut self, v: &Value) {
        self.send(Message::text(v.to_string())).await;
    }

    /// Sends any frame.
    pub async fn send(&mut self, m: Message) {
        self.stream.send(m).await.expect("sending a frame");
    }

    /// Sends a frame; `false` when the connection is gone.
    pub async fn try_send(&mut self, m: Message) -> bool {
        self.stream.send(m).await.is_ok()
    }

    /// Sends a ping frame and waits for its pong (skipping other frames): the connection is
    /// alive and the server reads it.
    pub async fn assert_alive(&mut self) {
        let r = format!("alive-{}", rand_ref());
        self.send_json(&serde_json::json!({"type": "ping", "ref": r}))
            .await;
        let pong = self
            .next_where(FRAME_TIMEOUT, "pong", |v| v["type"] == "pong")
            .await;
        assert_eq!(pong["ref"], r.as_str(), "{pong}");
    }

    /// Closes the connection politely.
    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}

fn rand_ref() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Whether an event frame concerns `channel` (a channel event, a member event or a message
/// event of that channel).
pub fn concerns_channel(v: &Value, channel: &str) -> bool {
    v["channel_id"] == channel
        || v["channel"]["id"] == channel
        || v["message"]["channel_id"] == channel
}
