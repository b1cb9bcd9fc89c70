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
/// (the table in `docs/api/realtime.md`), or is `Gone`.
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
    /// `ephemeral.posted`: a text shown to this person only (a slash command's answer), in a
    /// conversation or one of its threads; not kept in history.
    Ephemeral {
        channel_id: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        thread_root_id: Option<String>,
        text: String,
    },
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
            Payload::Ephemeral {
                channel_id,
                thread_root_id,
                text,
            } => EventBody::Ephemeral {
                channel_id: channel_id.to_string(),
                thread_root_id: thread_root_id.map(|m| m.to_string()),
                text: text.clone(),
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
        /// For `rate_limited`: whole seconds to wait before trying again (the REST answer's
        /// `Retry-After`).
        #[serde(skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        retry_after_secs: Option<u64>,
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
            retry_after_secs: e.retry_after,
        }
    }
}

/// Any frame the server sends.
#[derive(Debug, Serialize, TS)]
#[serde(untagged)]
pub enum ServerFrame {
    Event(Box<EventFrame>),
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

#[cfg(test)]
mod tests {
    //! The typed frames against the `json!` literals the gateway used to build by hand (kept
    //! here as the reference): the same fields, the same omissions, the same values.

    #![allow(clippy::unwrap_used)]

    use enclave_app::Encodings;
    use enclave_core::{
        Channel, ChannelKind, ChannelRole, Event, EventKind, Membership, Mentions, Message, Millis,
        Presence, ReactionGroup, User,
    };
    use serde_json::{Value, json};

    use super::*;
    use crate::error::ErrorCode;

    fn user() -> User {
        User {
            id: UserId(7),
            username: "ada".into(),
            display_name: "Ada".into(),
            email: Some("ada@example.org".into()),
            is_admin: false,
            is_bot: false,
            active: true,
            status_text: String::new(),
            dnd: false,
            created_at: Millis(1_700_000_000_000),
            updated_at: Millis(1_700_000_000_000),
            is_guest: false,
            guest_expires_at: None,
            member_role: true,
        }
    }

    fn channel() -> Channel {
        Channel {
            id: ChannelId(3),
            kind: ChannelKind::Public,
            name: Some("general".into()),
            topic: String::new(),
            purpose: String::new(),
            creator_id: Some(UserId(7)),
            last_seq: 2,
            n_members: 2,
            archived_at: None,
            created_at: Millis(1_700_000_000_000),
            updated_at: Millis(1_700_000_000_001),
            announcement: false,
        }
    }

    fn message() -> Message {
        Message {
            id: MessageId(11),
            channel_id: ChannelId(3),
            seq: 2,
            user_id: UserId(7),
            text: "hi @bob".into(),
            thread_root_id: None,
            client_msg_id: Some("c-1".into()),
            mentions: Mentions {
                user_ids: vec![UserId(8)],
                channel: false,
                here: false,
            },
            created_at: Millis(1_700_000_000_002),
            edited_at: None,
            deleted_at: None,
            reply_count: 0,
            last_reply_at: None,
            pinned_at: None,
            pinned_by: None,
            reactions: vec![ReactionGroup {
                emoji: "+1".into(),
                user_ids: vec![UserId(8)],
            }],
            files: Vec::new(),
            notice: None,
        }
    }

    fn envelope(kind: EventKind, payload: Payload) -> Envelope {
        Envelope {
            event: Event {
                position: 42,
                kind,
                channel_id: Some(ChannelId(3)),
                user_id: Some(UserId(8)),
                actor_id: Some(UserId(7)),
                message_id: Some(MessageId(11)),
                extra: None,
                created_at: Millis(1_700_000_000_003),
            },
            payload,
            encoded: Encodings::new(),
        }
    }

    fn value<T: Serialize>(t: &T) -> Value {
        serde_json::to_value(t).unwrap()
    }

    fn frame(env: &Envelope) -> Value {
        serde_json::from_str(&to_json(&EventFrame::new(env))).unwrap()
    }

    #[test]
    fn event_frames_keep_the_shapes_of_the_protocol() {
        let membership = Membership {
            channel_id: ChannelId(3),
            user_id: UserId(8),
            role: ChannelRole::Member,
            last_read_seq: 0,
            joined_at: Millis(1_700_000_000_004),
        };
        let cases = [
            (
                envelope(EventKind::MessageCreated, Payload::Message(message())),
                json!({"type": "message.created", "position": 42,
                    "message": value(&MessageDto::new(&message()))}),
            ),
            (
                envelope(
                    EventKind::ReactionAdded,
                    Payload::Reaction {
                        message: message(),
                        emoji: "+1".into(),
                        user_id: UserId(8),
                    },
                ),
                json!({"type": "reaction.added", "position": 42,
                    "message": value(&MessageDto::new(&message())), "emoji": "+1", "user_id": "8"}),
            ),
            (
                envelope(EventKind::ChannelUpdated, Payload::Channel(channel())),
                json!({"type": "channel.updated", "position": 42,
                    "channel": value(&ChannelDto::new(&channel()))}),
            ),
            (
                envelope(
                    EventKind::MemberAdded,
                    Payload::Member {
                        channel: channel(),
                        user_id: UserId(8),
                        membership: Some(membership.clone()),
                    },
                ),
                json!({"type": "member.added", "position": 42, "channel_id": "3", "user_id": "8",
                    "channel": value(&ChannelDto::new(&channel())),
                    "membership": value(&MembershipDto::new(&membership))}),
            ),
            (
                envelope(
                    EventKind::MemberRemoved,
                    Payload::Member {
                        channel: channel(),
                        user_id: UserId(8),
                        membership: None,
                    },
                ),
                json!({"type": "member.removed", "position": 42, "channel_id": "3", "user_id": "8",
                    "channel": value(&ChannelDto::new(&channel()))}),
            ),
            (
                envelope(
                    EventKind::ReadUpdated,
                    Payload::Read {
                        channel_id: ChannelId(3),
                        seq: 2,
                    },
                ),
                json!({"type": "read.updated", "position": 42, "channel_id": "3", "seq": 2}),
            ),
            (
                envelope(EventKind::UserUpdated, Payload::User(user())),
                // Events go to everyone: never the address.
                json!({"type": "user.updated", "position": 42,
                    "user": value(&UserDto::new(&user(), false))}),
            ),
            (
                envelope(EventKind::MessageDeleted, Payload::Hidden),
                json!({"type": "message.deleted", "position": 42, "channel_id": "3",
                    "message_id": "11", "user_id": "8"}),
            ),
        ];
        for (env, expected) in cases {
            assert_eq!(frame(&env), expected);
        }
        let mut bare = envelope(EventKind::TokensRevoked, Payload::Hidden);
        bare.event.channel_id = None;
        bare.event.message_id = None;
        bare.event.user_id = None;
        assert_eq!(
            frame(&bare),
            json!({"type": "tokens.revoked", "position": 42})
        );
    }

    #[test]
    fn ephemeral_frames_keep_the_shapes_of_the_protocol() {
        let presence = PresenceInfo {
            user_id: UserId(8),
            presence: Presence::Away,
            status_text: "lunch".into(),
            dnd: true,
        };
        let refused = ApiError {
            field: Some("text"),
            ..ApiError::new(ErrorCode::InvalidField, "invalid text: too long")
        };
        let cases = [
            (
                EphemeralFrame::Hello {
                    position: 42,
                    user_id: "7".into(),
                    session_id: "s-1".into(),
                    heartbeat_secs: 20,
                },
                json!({"type": "hello", "position": 42, "user_id": "7", "session_id": "s-1",
                    "heartbeat_secs": 20}),
            ),
            (
                EphemeralFrame::typing(ChannelId(3), UserId(8), None),
                json!({"type": "typing", "channel_id": "3", "user_id": "8", "thread_root_id": null}),
            ),
            (
                EphemeralFrame::typing(ChannelId(3), UserId(8), Some(MessageId(11))),
                json!({"type": "typing", "channel_id": "3", "user_id": "8", "thread_root_id": "11"}),
            ),
            (
                EphemeralFrame::presence(&presence),
                json!({"type": "presence", "user_id": "8", "presence": "away",
                    "status_text": "lunch", "dnd": true}),
            ),
            (
                EphemeralFrame::Ack {
                    client_msg_id: None,
                    message_id: "11".into(),
                    channel_id: "3".into(),
                    seq: 2,
                    created: true,
                },
                json!({"type": "ack", "client_msg_id": null, "message_id": "11", "channel_id": "3",
                    "seq": 2, "created": true}),
            ),
            (
                EphemeralFrame::error(&refused, Some("c-1".into())),
                json!({"type": "error", "code": "invalid_field", "message": "invalid text: too long",
                    "field": "text", "client_msg_id": "c-1"}),
            ),
            (
                EphemeralFrame::error(&ApiError::new(ErrorCode::BadFrame, "unreadable"), None),
                json!({"type": "error", "code": "bad_frame", "message": "unreadable"}),
            ),
            (
                EphemeralFrame::error(
                    &ApiError::from(enclave_core::Error::RateLimited {
                        retry_after_secs: 2,
                    }),
                    Some("c-2".into()),
                ),
                json!({"type": "error", "code": "rate_limited",
                    "message": "too many requests, retry in 2 s", "client_msg_id": "c-2",
                    "retry_after_secs": 2}),
            ),
            (
                EphemeralFrame::Pong { reference: None },
                json!({"type": "pong", "ref": null}),
            ),
            (
                EphemeralFrame::Pong {
                    reference: Some(json!({"n": 1})),
                },
                json!({"type": "pong", "ref": {"n": 1}}),
            ),
        ];
        for (frame, expected) in cases {
            let text = to_json(&frame);
            assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), expected);
        }
    }

    #[test]
    fn client_frames_read_as_before() {
        let read = |s: &str| serde_json::from_str::<ClientFrame>(s);
        assert!(matches!(
            read(r#"{"type":"send","channel_id":"3","text":"hi"}"#),
            Ok(ClientFrame::Send { channel_id: WireId(3), client_msg_id: None, thread_root_id: None, ref file_ids, .. })
                if file_ids.is_empty()
        ));
        assert!(matches!(
            read(r#"{"type":"send","channel_id":3,"text":"hi","client_msg_id":"c","thread_root_id":"11","file_ids":["5"]}"#),
            Ok(ClientFrame::Send { thread_root_id: Some(WireId(11)), ref file_ids, .. }) if file_ids == &[WireId(5)]
        ));
        assert!(matches!(
            read(r#"{"type":"ping","ref":[1,"a"]}"#),
            Ok(ClientFrame::Ping {
                reference: Some(Value::Array(_))
            })
        ));
        assert!(matches!(
            read(r#"{"type":"activity"}"#),
            Ok(ClientFrame::Activity {})
        ));
        assert!(read(r#"{"type":"shout"}"#).is_err());
        assert!(read(r#"{"type":"typing"}"#).is_err());
    }

    #[test]
    fn the_websocket_door_encodes_an_event_once() {
        let env = envelope(EventKind::MessageCreated, Payload::Message(message()));
        let first = crate::routes::ws::encode_event(&env);
        let again = crate::routes::ws::encode_event(&env);
        assert_eq!(first.as_str(), again.as_str());
        // The second call is the cached bytes, not a new encoding.
        assert_eq!(first.as_str().as_ptr(), again.as_str().as_ptr());
    }
}
