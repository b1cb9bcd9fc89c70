//! What the hub hands to doors: an [`Envelope`] per event (the event and the objects it names,
//! with one encoding slot per door), and the [`Outbound`] items a session sends.

use std::sync::Arc;

use enclave_core::{Channel, ChannelId, Event, Membership, Message, MessageId, User, UserId};

use super::presence::PresenceInfo;

/// The objects an event is about, as they are when it is delivered.
#[derive(Debug, Clone)]
pub enum Payload {
    Message(Message),
    Reaction {
        message: Message,
        emoji: String,
        user_id: UserId,
    },
    Channel(Channel),
    Member {
        channel: Channel,
        user_id: UserId,
        membership: Option<Membership>,
    },
    Read {
        channel_id: ChannelId,
        seq: i64,
    },
    User(User),
    /// A text for one person only (a slash command's answer).
    Ephemeral {
        channel_id: ChannelId,
        thread_root_id: Option<MessageId>,
        text: String,
    },
    /// Not for clients (credential revocations), or its object is gone.
    Hidden,
}

/// One event ready for delivery, shared by every session that receives it.
pub struct Envelope {
    pub event: Event,
    pub payload: Payload,
    /// Each door's encoding of this envelope, made by the door's first session that sends it
    /// and reused by all its others.
    pub encoded: crate::Encodings,
}

impl Envelope {
    /// An envelope not yet encoded by any door.
    pub fn new(event: Event, payload: Payload) -> Arc<Envelope> {
        Arc::new(Envelope {
            event,
            payload,
            encoded: crate::Encodings::new(),
        })
    }
}

impl std::fmt::Debug for Envelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Envelope")
            .field("event", &self.event)
            .field("payload", &self.payload)
            .finish()
    }
}

/// Something for a session to send.
#[derive(Debug, Clone)]
pub enum Outbound {
    Event(Arc<Envelope>),
    Typing {
        channel_id: ChannelId,
        user_id: UserId,
        thread_root_id: Option<MessageId>,
    },
    Presence(Box<PresenceInfo>),
}
