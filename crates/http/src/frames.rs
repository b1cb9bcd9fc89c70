//! The WebSocket protocol's frames (`docs/api/realtime.md`) as types: [`EventFrame`] for a
//! durable event (also the items of `GET /api/v1/events`), [`EphemeralFrame`] for everything
//! else the server sends, and [`ClientFrame`] for what a client may send. The gateway
//! (`routes::ws`) encodes and decodes only these, and the web client's TypeScript types are
//! generated from them (`web/src/gen/wire.ts`, see `tests/typescript.rs`).
//!
//! Optional fields are omitted, not `null`, where the protocol says "absent"; fields the
//! protocol lists as `null`-able are always present.

use enclave_app::realtime::{Envelope, Payload, PresenceInfo};
use enclave_core::{ChannelId, MessageId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use ts_rs::TS;

use crate::dto::{ChannelDto, MembershipDto, MessageDto, PresenceDto, UserDto, WireId};
use crate::error::ApiError;

/// A durable event: its kind, its position, and the objects it concerns in their REST shapes.
/// Channel events carry nothing per member, so every member gets the same bytes.
#[derive(Debug, Serialize, TS)]
pub struct EventFrame {
    /// `noun.verb`.
    #[serde(rename = "type")]
    #[ts(type = "EventKind")]
    pub kind: &'static str,
    pub position: i64,
    #[serde(flatten)]
    pub body: EventBody,
}

/// What an event frame carries besides its kind and position; which one follows from the kind
/// (the table in `docs/api/realtime.md`), or is [`EventBody::Gone`].
#[derive(Debug, Serialize, TS)]
#[serde(untagged)]
pub enum EventBody {
    /// `message.*` and `thread.updated`.
    Message { message: MessageDto },
    /// `reaction.added`, `reaction.removed`.
    Reaction {
        message: MessageDto,
        emoji: String,
        user_id: String,
    },
    /// `channel.*`.
    Channel { channel: ChannelDto },
    /// `member.*`; `membership` is absent for `member.removed`.
    Member {
        channel_id: String,
        user_id: String,
        channel: ChannelDto,
        #[serde(skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        membership: Option<MembershipDto>,
    },
    /// `read.updated`.
    Read { channel_id: String, seq: i64 },
    /// `user.*`.
    User { user: UserDto },
    /// The object is gone (or the event is not for clients): the ids the event names, so the
    /// client can refetch.
    Gone {
        #[serde(skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        channel_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        message_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        user_id: Option<String>,
    },
}

impl EventFrame {
    pub fn new(env: &Envelope) -> Self {
        let e = &env.event;
        let body = match &env.payload {
            Payload::Message(m) => EventBody::Message {
                message: MessageDto::new(m),
            },
            Payload::Reaction {
                message,
                emoji,
                user_id,
            } => EventBody::Reaction {
                message: MessageDto::new(message),
                emoji: emoji.clone(),
                user_id: user_id.to_string(),
            },
            Payload::Channel(c) => EventBody::Channel {
                channel: ChannelDto::new(c),
            },
            Payload::Member {
                channel,
                user_id,
                membership,
            } => EventBody::Member {
                channel_id: channel.id.to_string(),
                user_id: user_id.to_string(),
                channel: ChannelDto::new(channel),
                membership: membership.as_ref().map(MembershipDto::new),
            },
            Payload::Read { channel_id, seq } => EventBody::Read {
                channel_id: channel_id.to_string(),
                seq: *seq,
            },
            Payload::User(u) => EventBody::User {
                user: UserDto::new(u, false),
            },
            Payload::Hidden => EventBody::Gone {
                channel_id: e.channel_id.map(|c| c.to_string()),
                message_id: e.message_id.map(|m| m.to_string()),
                user_id: e.user_id.map(|u| u.to_string()),
            },
        };
        EventFrame {
            kind: e.kind.as_str(),
            position: e.position,
            body,
        }
    }
}

/// Every frame the server sends without a position: not stored, not replayed.
#[derive(Debug, Serialize, TS)]
#[serde(tag = "type")]
pub enum EphemeralFrame {
    /// The first frame on every socket.
    #[serde(rename = "hello")]
    Hello {
        /// The end of the log, or the client's `since`: events after it follow.
        position: i64,
        user_id: String,
        session_id: String,
        heartbeat_secs: u64,
    },
    /// A member is typing.
    #[serde(rename = "typing")]
    Typing {
        channel_id: String,
        user_id: String,
        thread_root_id: Option<String>,
    },
    /// The presence of a user the client subscribed to.
    #[serde(rename = "presence")]
    Presence(PresenceDto),
    /// A `send` is durable.
    #[serde(rename = "ack")]
    Ack {
        client_msg_id: Option<String>,
        message_id: String,
        channel_id: String,
        seq: i64,
        created: bool,
    },
    /// A client frame was refused; the connection stays open.
    #[serde(rename = "error")]
    Error {
        #[ts(type = "ErrorCode")]
        code: &'static str,
        message: String,
        /// The offending field, for `invalid_field`.
        #[serde(skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        field: Option<&'static str>,
        /// The refused `send`'s client id.
        #[serde(skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        client_msg_id: Option<String>,
    },
    /// The answer to a `ping`, echoing its `ref`.
    #[serde(rename = "pong")]
    Pong {
        #[serde(rename = "ref")]
        #[ts(type = "unknown")]
        reference: Option<Value>,
    },
}

impl EphemeralFrame {
    pub fn typing(
        channel_id: ChannelId,
        user_id: UserId,
        thread_root_id: Option<MessageId>,
    ) -> Self {
        EphemeralFrame::Typing {
            channel_id: channel_id.to_string(),
            user_id: user_id.to_string(),
            thread_root_id: thread_root_id.map(|m| m.to_string()),
        }
    }

    pub fn presence(p: &PresenceInfo) -> Self {
        EphemeralFrame::Presence(PresenceDto::new(p))
    }

    /// The `error` frame for `e`, naming the refused send's client id when there is one.
    pub fn error(e: &ApiError, client_msg_id: Option<String>) -> Self {
        EphemeralFrame::Error {
            code: e.code.as_str(),
            message: e.message.clone(),
            field: e.field,
            client_msg_id,
        }
    }
}

/// Any frame the server sends.
#[derive(Debug, Serialize, TS)]
#[serde(untagged)]
pub enum ServerFrame {
    Event(EventFrame),
    Ephemeral(EphemeralFrame),
}

/// Frames a client may send.
#[derive(Debug, Deserialize, TS)]
#[serde(tag = "type")]
pub enum ClientFrame {
    /// Post a message; answered by `ack` once durable, or `error`.
    #[serde(rename = "send")]
    Send {
        channel_id: WireId,
        text: String,
        #[ts(optional = nullable)]
        client_msg_id: Option<String>,
        #[ts(optional = nullable)]
        thread_root_id: Option<WireId>,
        /// The sender's own uploads to attach, as in the REST post.
        #[serde(default)]
        #[ts(as = "Option<_>", optional)]
        file_ids: Vec<WireId>,
    },
    #[serde(rename = "typing")]
    Typing {
        channel_id: WireId,
        #[ts(optional = nullable)]
        thread_root_id: Option<WireId>,
    },
    /// Replaces the set of users whose presence the client receives.
    #[serde(rename = "presence.subscribe")]
    PresenceSubscribe { user_ids: Vec<WireId> },
    #[serde(rename = "presence.set")]
    PresenceSet {
        #[ts(optional = nullable)]
        status_text: Option<String>,
        #[ts(optional = nullable)]
        dnd: Option<bool>,
    },
    /// The user is active (for presence).
    #[serde(rename = "activity")]
    Activity {},
    #[serde(rename = "ping")]
    Ping {
        #[serde(rename = "ref")]
        #[ts(type = "unknown", optional)]
        reference: Option<Value>,
    },
}

/// A frame's JSON text. Serialising these types cannot fail (their maps have string keys); if
/// it ever did, the client gets an `internal` error frame rather than nothing.
pub fn to_json<T: Serialize>(frame: &T) -> String {
    match serde_json::to_string(frame) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "could not encode a frame");
            String::from(r#"{"type":"error","code":"internal","message":"internal server error"}"#)
        }
    }
}
