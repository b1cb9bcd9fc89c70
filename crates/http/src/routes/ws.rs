//! The WebSocket gateway (`GET /api/v1/ws`) and the HTTP catch-up (`GET /api/v1/events`).
//! The protocol is described in `docs/api/realtime.md`.
//!
//! One task per socket runs the session: it replays the log after `since` (when given), then
//! forwards the hub's queue, answers client frames, pings, and closes with a reason when the
//! hub ends the session. Frames are the types of [`crate::frames`]. Event frames are encoded
//! once per event ([`encode_event`], cached in the envelope's WebSocket slot) and the bytes
//! shared by every socket.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::ws::{CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use enclave_app::realtime::{CloseReason, Envelope, Outbound, Session};
use enclave_app::{Authed, Door, Error as AppError, PostInput};
use enclave_core::{ChannelId, Error as DomainError, MessageId, UserId};
use futures_util::SinkExt;
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite;
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::dto::PresenceDto;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::ClientIp;
use crate::frames::{ClientFrame, EphemeralFrame, EventFrame, to_json};

/// Largest client frame.
pub const MAX_CLIENT_FRAME: usize = 64 * 1024;
/// Largest frame (or fragmented message) read at all: frames between [`MAX_CLIENT_FRAME`] and
/// this are refused with a `bad_frame` error and the connection stays open. A larger one is
/// not read (its rest would have to be buffered or skipped byte by byte): the server sends a
/// `bad_frame` error and closes with [`CLOSE_TOO_BIG`]. The socket's read buffer stays small
/// (1 KiB, grown only while a frame is being read), so idle sockets cost no more.
pub const MAX_READ_FRAME: usize = 4 * MAX_CLIENT_FRAME;
/// The close code for a frame over [`MAX_READ_FRAME`] (RFC 6455's "message too big").
pub const CLOSE_TOO_BIG: u16 = 1009;
/// Client frames refused before the socket is closed.
const MAX_BAD_FRAMES: u32 = 100;
/// Sends one socket may have waiting for their commit at once.
const MAX_IN_FLIGHT: usize = 256;
/// How often the user's frames count as a use of their session (as a request does).
const USE_EVERY: Duration = Duration::from_secs(60);
/// Events per replay page.
const REPLAY_PAGE: usize = 500;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WsQuery {
    /// Resume after this position. One older than the retained log or newer than its end
    /// (a negative one included) is answered with `resync_required` (docs/api/realtime.md).
    pub since: Option<i64>,
    /// The token, for clients that cannot set headers.
    pub token: Option<String>,
}

/// The event frame's bytes, encoded by the first socket that needs them and cached in the
/// envelope's WebSocket slot.
pub fn encode_event(env: &Envelope) -> Utf8Bytes {
    let encode = || Utf8Bytes::from(to_json(&EventFrame::new(env)));
    match env.encoded.get_or_init(Door::WebSocket, encode) {
        Some(bytes) => bytes.clone(),
        None => encode(),
    }
}

fn text(frame: &EphemeralFrame) -> WsMessage {
    WsMessage::Text(Utf8Bytes::from(to_json(frame)))
}

/// Open the real-time socket (see `docs/api/realtime.md`).
#[utoipa::path(get, path = "/api/v1/ws", tag = "realtime", params(WsQuery,
        ("Connection" = String, Header, description = "A token list holding `upgrade` (any case)"),
        ("Upgrade" = String, Header, description = "`websocket` (any case)"),
        ("Sec-WebSocket-Version" = String, Header, description = "`13`"),
        ("Sec-WebSocket-Key" = String, Header, description = "The client's handshake nonce (RFC 6455)")),
    responses((status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, body = ErrorBody, description = "Not a WebSocket upgrade"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody, description = "Cookie from another origin"),
        (status = 429, body = ErrorBody, description = "The user or the client address already holds as many sockets as allowed (`rate_limited`)")))]
pub async fn ws(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    query: Result<Query<WsQuery>, axum::extract::rejection::QueryRejection>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let Query(q) = query.map_err(|e| ApiError::new(ErrorCode::BadRequest, e.body_text()))?;
    // A WebSocket handshake carries cookies cross-site: treat it as a state-changing request.
    let token = crate::extract::credential(&headers, true, q.token.as_deref())?;
    let authed = state.accounts.authenticate(&token).await?;
    let upgrade = upgrade.map_err(|e| ApiError::new(ErrorCode::BadRequest, e.body_text()))?;
    let admission = state.hub.admit(authed.user.id, ip).map_err(|e| {
        let mut api = ApiError::from(e);
        api.message = "too many open sockets for this user or address".into();
        api
    })?;
    let response = upgrade
        .read_buffer_size(1024)
        .write_buffer_size(0)
        .max_write_buffer_size(1024 * 1024)
        .max_message_size(MAX_READ_FRAME)
        .max_frame_size(MAX_READ_FRAME)
        .on_upgrade(move |socket| async move {
            let session = SocketSession::new(state, authed, token.into_boxed_str(), socket);
            session.run(q.since).await;
            drop(admission);
        });
    Ok(response.into_response())
}

/// The next acknowledgement, or never when no send was made yet.
async fn recv_side(
    side: &mut Option<(mpsc::Sender<Utf8Bytes>, mpsc::Receiver<Utf8Bytes>)>,
) -> Option<Utf8Bytes> {
    match side {
        Some((_, rx)) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Whether a read failed because the peer's frame or message is over [`MAX_READ_FRAME`].
fn is_too_big(e: &axum::Error) -> bool {
    use std::error::Error as _;
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(t) = s.downcast_ref::<tungstenite::Error>() {
            return matches!(t, tungstenite::Error::Capacity(_));
        }
        source = s.source();
    }
    false
}

struct SocketSession {
    state: AppState,
    authed: Authed,
    /// The credential the socket opened with: checked on every heartbeat, so the socket ends
    /// with its session.
    token: Box<str>,
    /// When the user's own frames last counted as a use of the session (at most once a
    /// minute: [`USE_EVERY`]).
    used: Instant,
    socket: WebSocket,
    /// Frames produced off the session task (acknowledgements of sends, already encoded), and
    /// the limit on sends in flight. Both are made on the first send: most sockets only
    /// listen, and each idle socket should cost as little memory as possible.
    side: Option<(mpsc::Sender<Utf8Bytes>, mpsc::Receiver<Utf8Bytes>)>,
    in_flight: Option<Arc<tokio::sync::Semaphore>>,
    bad_frames: u32,
    last_heard: Instant,
}

enum Flow {
    Continue,
    Stop,
}

fn close_frame(code: u16, reason: &str) -> WsMessage {
    WsMessage::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from(reason.to_owned()),
    }))
}

impl SocketSession {
    fn new(state: AppState, authed: Authed, token: Box<str>, socket: WebSocket) -> Self {
        SocketSession {
            state,
            authed,
            token,
            used: Instant::now(),
            socket,
            side: None,
            in_flight: None,
            bad_frames: 0,
            last_heard: Instant::now(),
        }
    }

    /// Writes one frame. `false` when the connection is gone, or when the peer has taken
    /// nothing for two heartbeat intervals (it stopped reading: without this limit a blocked
    /// write would keep the session, which no longer reaches its heartbeat check, forever).
    async fn write(&mut self, msg: WsMessage) -> bool {
        let limit = self.state.config.heartbeat * 2;
        let mut send = std::pin::pin!(self.socket.send(msg));
        // Most writes complete at once (the socket buffer has room): only a write that has to
        // wait gets a timer, which spares a timer per frame when fanning out.
        let first = std::future::poll_fn(|cx| std::task::Poll::Ready(send.as_mut().poll(cx))).await;
        match first {
            std::task::Poll::Ready(r) => r.is_ok(),
            std::task::Poll::Pending => {
                matches!(tokio::time::timeout(limit, send).await, Ok(Ok(())))
            }
        }
    }

    async fn send_frame(&mut self, frame: &EphemeralFrame) -> bool {
        self.write(text(frame)).await
    }

    async fn close(&mut self, code: u16, reason: &str) {
        if self.write(close_frame(code, reason)).await {
            let limit = self.state.config.heartbeat * 2;
            let _ = tokio::time::timeout(limit, self.socket.close()).await;
        }
    }

    async fn run(mut self, since: Option<i64>) {
        let hub = self.state.hub.clone();
        // The rare, large steps (registering, replaying, handling a client frame) are boxed, so
        // that the task of an idle socket, sized by its largest step, stays small.
        let mut session = match Box::pin(hub.connect(&self.authed)).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "could not register a socket");
                self.close(1011, "server error").await;
                return;
            }
        };
        let heartbeat = self.state.config.heartbeat;
        // Encoded before the write, so the frame is not part of the task's state.
        let hello = text(&EphemeralFrame::Hello {
            position: since.unwrap_or(session.start_position),
            user_id: self.authed.user.id.to_string(),
            session_id: format!("s-{}", session.id.0),
            heartbeat_secs: heartbeat.as_secs(),
        });
        if !self.write(hello).await {
            return;
        }
        let mut last_sent = match since {
            Some(since) => match Box::pin(self.replay(since)).await {
                Some(p) => p,
                None => return,
            },
            None => session.start_position,
        };
        let mut ping = tokio::time::interval(heartbeat);
        ping.tick().await;
        loop {
            tokio::select! {
                biased;
                changed = session.closed.changed() => {
                    let reason = if changed.is_ok() { *session.closed.borrow() } else { Some(CloseReason::Shutdown) };
                    let (code, text) = match reason {
                        Some(CloseReason::Revoked) => (4001, "credentials revoked"),
                        Some(CloseReason::SlowConsumer) => (4008, "slow consumer: resume from your last position"),
                        Some(CloseReason::Shutdown) | None => (1001, "server shutting down"),
                    };
                    Box::pin(self.close(code, text)).await;
                    return;
                }
                item = session.rx.recv() => {
                    let Some(item) = item else { return };
                    if !self.forward(item, &mut last_sent).await {
                        return;
                    }
                    // Drain what else is ready before waiting again.
                    while let Ok(item) = session.rx.try_recv() {
                        if !self.forward(item, &mut last_sent).await {
                            return;
                        }
                    }
                }
                frame = recv_side(&mut self.side) => {
                    if let Some(bytes) = frame
                        && !self.write(WsMessage::Text(bytes)).await
                    {
                        return;
                    }
                }
                msg = self.socket.recv() => {
                    let msg = match msg {
                        Some(Ok(msg)) => msg,
                        Some(Err(e)) if is_too_big(&e) => {
                            Box::pin(self.too_big()).await;
                            return;
                        }
                        Some(Err(_)) | None => return,
                    };
                    self.last_heard = Instant::now();
                    if let Flow::Stop = Box::pin(self.on_client(msg, &session)).await {
                        return;
                    }
                }
                _ = ping.tick() => {
                    if self.last_heard.elapsed() > heartbeat * 2 {
                        Box::pin(self.close(4011, "heartbeat timeout")).await;
                        return;
                    }
                    // The socket lives no longer than its credential: idle time-out, lifetime,
                    // a guest's expiry. (Revocation and deactivation close it at once.)
                    if let Ok(false) = self.state.accounts.still_valid(&self.token).await {
                        Box::pin(self.close(4001, "credentials expired")).await;
                        return;
                    }
                    if !self.write(WsMessage::Ping(Default::default())).await {
                        return;
                    }
                }
            }
        }
    }

    /// Sends every event after `since` the user may see. Returns the last position sent, or
    /// `None` when the session must end.
    async fn replay(&mut self, since: i64) -> Option<i64> {
        let mut position = since;
        loop {
            match self
                .state
                .hub
                .catch_up(&self.authed.actor(), position, REPLAY_PAGE)
                .await
            {
                Ok(page) => {
                    for env in &page.envelopes {
                        if !self.write(WsMessage::Text(encode_event(env))).await {
                            return None;
                        }
                    }
                    position = page.position;
                    if !page.has_more {
                        return Some(position);
                    }
                }
                Err(enclave_app::Error::Domain(DomainError::ResyncRequired)) => {
                    let e = ApiError::new(
                        ErrorCode::ResyncRequired,
                        "position too old to replay; fetch state afresh",
                    );
                    let _ = self.send_frame(&EphemeralFrame::error(&e, None)).await;
                    self.close(4010, "resync required").await;
                    return None;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "replay failed");
                    self.close(1011, "server error").await;
                    return None;
                }
            }
        }
    }

    async fn forward(&mut self, item: Outbound, last_sent: &mut i64) -> bool {
        let frame = match item {
            Outbound::Event(env) => {
                if env.event.position <= *last_sent {
                    return true; // Already sent by the replay.
                }
                *last_sent = env.event.position;
                encode_event(&env)
            }
            Outbound::Typing {
                channel_id,
                user_id,
                thread_root_id,
            } => Utf8Bytes::from(to_json(&EphemeralFrame::typing(
                channel_id,
                user_id,
                thread_root_id,
            ))),
            Outbound::Presence(p) => Utf8Bytes::from(to_json(&EphemeralFrame::presence(&p))),
        };
        self.write(WsMessage::Text(frame)).await
    }

    /// A frame over [`MAX_READ_FRAME`]: its rest is not read, so the connection cannot go on.
    async fn too_big(&mut self) {
        let e = ApiError::new(ErrorCode::BadFrame, "frames must be at most 64 KiB");
        if self.send_frame(&EphemeralFrame::error(&e, None)).await {
            self.close(CLOSE_TOO_BIG, "bad_frame: frame too large")
                .await;
        }
    }

    async fn bad_frame(&mut self, message: String) -> Flow {
        self.bad_frames += 1;
        if self.bad_frames > MAX_BAD_FRAMES {
            self.close(4002, "too many bad frames").await;
            return Flow::Stop;
        }
        let e = ApiError::new(ErrorCode::BadFrame, message);
        if self.send_frame(&EphemeralFrame::error(&e, None)).await {
            Flow::Continue
        } else {
            Flow::Stop
        }
    }

    async fn on_client(&mut self, msg: WsMessage, session: &Session) -> Flow {
        let text = match msg {
            WsMessage::Text(t) if t.len() > MAX_CLIENT_FRAME => {
                return self.bad_frame("frames must be at most 64 KiB".into()).await;
            }
            WsMessage::Text(t) => t,
            WsMessage::Binary(_) => return self.bad_frame("frames must be JSON text".into()).await,
            WsMessage::Ping(_) | WsMessage::Pong(_) => return Flow::Continue,
            WsMessage::Close(_) => return Flow::Stop,
        };
        let frame: ClientFrame = match serde_json::from_str(text.as_str()) {
            Ok(f) => f,
            Err(e) => return self.bad_frame(format!("unreadable frame: {e}")).await,
        };
        // A frame the user sent is a use of the session (it keeps it from going idle), and
        // proves the credential still holds.
        if self.used.elapsed() >= USE_EVERY {
            self.used = Instant::now();
            if let Err(AppError::Domain(DomainError::Unauthenticated)) =
                self.state.accounts.authenticate(&self.token).await
            {
                self.close(4001, "credentials expired").await;
                return Flow::Stop;
            }
        }
        let hub = &self.state.hub;
        hub.activity(session.id);
        let actor = self.authed.actor();
        match frame {
            ClientFrame::Send {
                channel_id,
                text,
                client_msg_id,
                thread_root_id,
                file_ids,
            } => {
                let limit = self
                    .in_flight
                    .get_or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT)))
                    .clone();
                let Ok(permit) = limit.acquire_owned().await else {
                    return Flow::Stop;
                };
                let state = self.state.clone();
                let side = self
                    .side
                    .get_or_insert_with(|| mpsc::channel(MAX_IN_FLIGHT))
                    .0
                    .clone();
                tokio::spawn(async move {
                    let input = PostInput {
                        text,
                        client_msg_id: client_msg_id.clone(),
                        thread_root_id: thread_root_id.map(|w| MessageId(w.0)),
                        file_ids: file_ids.iter().map(|w| enclave_core::FileId(w.0)).collect(),
                    };
                    let frame = match state
                        .messages
                        .post(&actor, ChannelId(channel_id.0), input)
                        .await
                    {
                        Ok(posted) => EphemeralFrame::Ack {
                            client_msg_id,
                            message_id: posted.message.id.to_string(),
                            channel_id: posted.message.channel_id.to_string(),
                            seq: posted.message.seq,
                            created: posted.created,
                        },
                        Err(e) => EphemeralFrame::error(&ApiError::from(e), client_msg_id),
                    };
                    let _ = side.send(Utf8Bytes::from(to_json(&frame))).await;
                    drop(permit);
                });
                Flow::Continue
            }
            ClientFrame::Typing {
                channel_id,
                thread_root_id,
            } => {
                match hub.typing(
                    session.id,
                    ChannelId(channel_id.0),
                    thread_root_id.map(|w| MessageId(w.0)),
                ) {
                    Ok(()) => Flow::Continue,
                    Err(e) => {
                        let f = EphemeralFrame::error(&ApiError::from(e), None);
                        if self.send_frame(&f).await {
                            Flow::Continue
                        } else {
                            Flow::Stop
                        }
                    }
                }
            }
            ClientFrame::PresenceSubscribe { user_ids } => {
                let ids = user_ids.into_iter().map(|w| UserId(w.0)).collect();
                match hub.watch_presence(session.id, ids).await {
                    Ok(infos) => {
                        for p in &infos {
                            if !self.send_frame(&EphemeralFrame::presence(p)).await {
                                return Flow::Stop;
                            }
                        }
                        Flow::Continue
                    }
                    Err(e) => {
                        let f = EphemeralFrame::error(&ApiError::from(e), None);
                        if self.send_frame(&f).await {
                            Flow::Continue
                        } else {
                            Flow::Stop
                        }
                    }
                }
            }
            ClientFrame::PresenceSet { status_text, dnd } => {
                match self
                    .state
                    .accounts
                    .set_status(&actor, status_text.as_deref(), dnd)
                    .await
                {
                    Ok(_) => Flow::Continue,
                    Err(e) => {
                        let f = EphemeralFrame::error(&ApiError::from(e), None);
                        if self.send_frame(&f).await {
                            Flow::Continue
                        } else {
                            Flow::Stop
                        }
                    }
                }
            }
            ClientFrame::Activity {} => Flow::Continue,
            ClientFrame::Ping { reference } => {
                let f = EphemeralFrame::Pong { reference };
                if self.send_frame(&f).await {
                    Flow::Continue
                } else {
                    Flow::Stop
                }
            }
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Return events after this position. A position older than the retained log or newer than
    /// its end (a negative one included) answers 410 `resync_required`.
    pub since: i64,
    /// Events per page.
    #[param(minimum = 1, maximum = 1000, default = 500)]
    pub limit: Option<u32>,
}

/// Events after a position, as a list.
#[derive(Debug, serde::Serialize, ToSchema, ts_rs::TS)]
pub struct EventList {
    /// Event frames, as on the socket.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<EventFrame>,
    /// The position to pass as `since` next time.
    pub position: i64,
    /// More events are waiting after `position`.
    pub has_more: bool,
}

/// Catch up over HTTP: the events after `since` that the user may see.
#[utoipa::path(get, path = "/api/v1/events", tag = "realtime", params(EventsQuery),
    responses((status = 200, body = EventList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 410, body = ErrorBody, description = "Position too old: fetch state afresh")))]
pub async fn events(
    State(state): State<AppState>,
    crate::extract::Auth(authed): crate::extract::Auth,
    crate::extract::ApiQuery(q): crate::extract::ApiQuery<EventsQuery>,
) -> ApiResult<Json<EventList>> {
    let limit = enclave_core::validate::page_size(q.limit, enclave_core::validate::EVENTS_PAGE)?;
    let page = state
        .hub
        .catch_up(&authed.actor(), q.since, limit as usize)
        .await?;
    Ok(Json(EventList {
        events: page.envelopes.iter().map(|e| EventFrame::new(e)).collect(),
        position: page.position,
        has_more: page.has_more,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PresenceQuery {
    /// Comma-separated user ids, at most 500 (more answer 422 `limit_exceeded`); blanks between
    /// commas are skipped.
    #[param(
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*(([0-9]{1,18}|[0-8][0-9]{18}|9[0-1][0-9]{17}|92[0-1][0-9]{16}|922[0-2][0-9]{15}|9223[0-2][0-9]{14}|92233[0-6][0-9]{13}|922337[0-1][0-9]{12}|92233720[0-2][0-9]{10}|922337203[0-5][0-9]{9}|9223372036[0-7][0-9]{8}|92233720368[0-4][0-9]{7}|922337203685[0-3][0-9]{6}|9223372036854[0-6][0-9]{5}|92233720368547[0-6][0-9]{4}|922337203685477[0-4][0-9]{3}|9223372036854775[0-7][0-9]{2}|922337203685477580[0-6]|9223372036854775807)[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*)?(,[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*(([0-9]{1,18}|[0-8][0-9]{18}|9[0-1][0-9]{17}|92[0-1][0-9]{16}|922[0-2][0-9]{15}|9223[0-2][0-9]{14}|92233[0-6][0-9]{13}|922337[0-1][0-9]{12}|92233720[0-2][0-9]{10}|922337203[0-5][0-9]{9}|9223372036[0-7][0-9]{8}|92233720368[0-4][0-9]{7}|922337203685[0-3][0-9]{6}|9223372036854[0-6][0-9]{5}|92233720368547[0-6][0-9]{4}|922337203685477[0-4][0-9]{3}|9223372036854775[0-7][0-9]{2}|922337203685477580[0-6]|9223372036854775807)[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*)?)*$"
    )]
    #[serde(default)]
    pub user_ids: String,
}

#[derive(Debug, serde::Serialize, ToSchema, ts_rs::TS)]
pub struct PresenceList {
    pub presence: Vec<PresenceDto>,
}

/// The presence of some users.
#[utoipa::path(get, path = "/api/v1/presence", tag = "realtime", params(PresenceQuery),
    responses((status = 200, body = PresenceList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn presence(
    State(state): State<AppState>,
    crate::extract::Auth(_authed): crate::extract::Auth,
    crate::extract::ApiQuery(q): crate::extract::ApiQuery<PresenceQuery>,
) -> ApiResult<Json<PresenceList>> {
    let mut ids = Vec::new();
    for part in q.user_ids.split(',').filter(|p| !p.trim().is_empty()) {
        let id: UserId = part
            .trim()
            .parse()
            .map_err(|_| ApiError::new(ErrorCode::BadRequest, "user_ids must be ids"))?;
        ids.push(id);
    }
    if ids.len() > enclave_app::realtime::MAX_WATCHED {
        return Err(DomainError::LimitExceeded("at most 500 users at once").into());
    }
    let infos = state.hub.presence(&ids).await?;
    Ok(Json(PresenceList {
        presence: infos.iter().map(PresenceDto::new).collect(),
    }))
}

/// How long the server waits between pings.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(20);
