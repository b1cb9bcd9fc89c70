//! Loading what events name: one read per kind of object for a whole batch of events, then
//! one [`Envelope`] per event.

use std::collections::HashMap;
use std::sync::Arc;

use enclave_core::{Channel, ChannelId, Event, EventKind, Message, MessageId, User, UserId};
use enclave_store::Store;

use super::envelope::{Envelope, Payload};
use crate::error::Result;
use crate::files::Previews;

/// Loads what each event names and wraps it for delivery (messages with their files' previews
/// opened).
pub async fn build_envelopes(
    store: &dyn Store,
    previews: &Previews,
    events: Vec<Event>,
) -> Result<Vec<Arc<Envelope>>> {
    let mut message_ids = Vec::new();
    let mut channel_ids = Vec::new();
    let mut user_ids = Vec::new();
    for e in &events {
        match e.kind {
            EventKind::MessageCreated
            | EventKind::MessageEdited
            | EventKind::MessageDeleted
            | EventKind::ReactionAdded
            | EventKind::ReactionRemoved
            | EventKind::MessagePinned
            | EventKind::MessageUnpinned
            | EventKind::ThreadUpdated => message_ids.extend(e.message_id),
            EventKind::ChannelCreated
            | EventKind::ChannelUpdated
            | EventKind::ChannelArchived
            | EventKind::ChannelUnarchived
            | EventKind::MemberAdded
            | EventKind::MemberRemoved
            | EventKind::MemberUpdated => channel_ids.extend(e.channel_id),
            EventKind::UserCreated | EventKind::UserUpdated => user_ids.extend(e.user_id),
            EventKind::ReadUpdated
            | EventKind::TokensRevoked
            | EventKind::RolesChanged
            | EventKind::EphemeralPosted => {}
        }
    }
    message_ids.sort();
    message_ids.dedup();
    channel_ids.sort();
    channel_ids.dedup();
    user_ids.sort();
    user_ids.dedup();
    let messages: HashMap<MessageId, Message> = if message_ids.is_empty() {
        HashMap::new()
    } else {
        store
            .messages_by_ids(&message_ids)
            .await?
            .into_iter()
            .map(|mut m| {
                previews.open_message(&mut m);
                (m.id, m)
            })
            .collect()
    };
    let channels: HashMap<ChannelId, Channel> = if channel_ids.is_empty() {
        HashMap::new()
    } else {
        store
            .channels_by_ids(&channel_ids)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect()
    };
    let users: HashMap<UserId, User> = if user_ids.is_empty() {
        HashMap::new()
    } else {
        store
            .users_by_ids(&user_ids)
            .await?
            .into_iter()
            .map(|u| (u.id, u))
            .collect()
    };
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        let payload = match e.kind {
            EventKind::ReactionAdded | EventKind::ReactionRemoved => {
                match (
                    e.message_id.and_then(|m| messages.get(&m)),
                    &e.extra,
                    e.user_id,
                ) {
                    (Some(m), Some(emoji), Some(u)) => Payload::Reaction {
                        message: m.clone(),
                        emoji: emoji.clone(),
                        user_id: u,
                    },
                    _ => Payload::Hidden,
                }
            }
            EventKind::MessageCreated
            | EventKind::MessageEdited
            | EventKind::MessageDeleted
            | EventKind::MessagePinned
            | EventKind::MessageUnpinned
            | EventKind::ThreadUpdated => match e.message_id.and_then(|m| messages.get(&m)) {
                Some(m) => Payload::Message(m.clone()),
                None => Payload::Hidden,
            },
            EventKind::ChannelCreated
            | EventKind::ChannelUpdated
            | EventKind::ChannelArchived
            | EventKind::ChannelUnarchived => match e.channel_id.and_then(|c| channels.get(&c)) {
                Some(c) => Payload::Channel(c.clone()),
                None => Payload::Hidden,
            },
            EventKind::MemberAdded | EventKind::MemberRemoved | EventKind::MemberUpdated => {
                match (e.channel_id.and_then(|c| channels.get(&c)), e.user_id) {
                    (Some(c), Some(u)) => {
                        let membership = if e.kind == EventKind::MemberRemoved {
                            None
                        } else {
                            store.channel_for(c.id, u).await?.and_then(|(_, m)| m)
                        };
                        Payload::Member {
                            channel: c.clone(),
                            user_id: u,
                            membership,
                        }
                    }
                    _ => Payload::Hidden,
                }
            }
            EventKind::ReadUpdated => match (
                e.channel_id,
                e.extra.as_deref().and_then(|s| s.parse().ok()),
            ) {
                (Some(channel_id), Some(seq)) => Payload::Read { channel_id, seq },
                _ => Payload::Hidden,
            },
            EventKind::UserCreated | EventKind::UserUpdated => {
                match e.user_id.and_then(|u| users.get(&u)) {
                    Some(u) => Payload::User(u.clone()),
                    None => Payload::Hidden,
                }
            }
            EventKind::EphemeralPosted => match (e.channel_id, &e.extra) {
                (Some(channel_id), Some(text)) => Payload::Ephemeral {
                    channel_id,
                    thread_root_id: e.message_id,
                    text: text.clone(),
                },
                _ => Payload::Hidden,
            },
            EventKind::TokensRevoked | EventKind::RolesChanged => Payload::Hidden,
        };
        out.push(Envelope::new(e, payload));
    }
    Ok(out)
}
