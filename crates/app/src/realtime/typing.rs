//! Typing notices: relayed to the channel's other connected members at most once per
//! `typing_every` per user and channel, and across nodes over the bus.

use std::collections::HashMap;
use std::time::Duration;

use enclave_bus::Signal;
use enclave_core::{ChannelId, Entity, Error as DomainError, MessageId, UserId};
use tokio::time::Instant;

use super::Hub;
use super::envelope::Outbound;
use super::sessions::SessionId;
use crate::error::{Error, Result};

/// The last relayed notice per user and channel.
#[derive(Default)]
pub(super) struct TypingBook {
    last: HashMap<(UserId, ChannelId), Instant>,
}

impl TypingBook {
    /// Whether a notice may be relayed now; if so, records it.
    fn admit(&mut self, user: UserId, channel: ChannelId, every: Duration, now: Instant) -> bool {
        let key = (user, channel);
        if self
            .last
            .get(&key)
            .is_some_and(|t| now.duration_since(*t) < every)
        {
            return false;
        }
        self.last.insert(key, now);
        true
    }

    pub(super) fn forget(&mut self, user: UserId, channel: ChannelId) {
        self.last.remove(&(user, channel));
    }

    pub(super) fn forget_user(&mut self, user: UserId) {
        self.last.retain(|(u, _), _| *u != user);
    }

    /// Forgets notices long past their rate-limit window.
    pub(super) fn forget_stale(&mut self, now: Instant, every: Duration) {
        self.last.retain(|_, t| now.duration_since(*t) < every * 4);
    }
}

impl Hub {
    /// Relays a typing notice to the channel's other connected members.
    pub fn typing(
        &self,
        id: SessionId,
        channel_id: ChannelId,
        thread_root_id: Option<MessageId>,
    ) -> Result<()> {
        let now = Instant::now();
        let mut st = self.state.write();
        let Some(user) = st.index.sessions.get(&id).map(|s| s.user_id) else {
            return Ok(());
        };
        if !st.index.is_member(user, channel_id) {
            return Err(Error::Domain(DomainError::NotFound(Entity::Channel)));
        }
        if let Some(s) = st.index.sessions.get_mut(&id) {
            s.last_active = now;
        }
        if !st
            .typing
            .admit(user, channel_id, self.config.typing_every, now)
        {
            return Ok(());
        }
        let item = Outbound::Typing {
            channel_id,
            user_id: user,
            thread_root_id,
        };
        st.index.deliver_to_channel(channel_id, Some(user), &item);
        drop(st);
        if self.bus.is_clustered() {
            let bus = self.bus.clone();
            tokio::spawn(async move {
                let signal = Signal::Typing {
                    user_id: user,
                    channel_id,
                    thread_root_id,
                };
                if let Err(e) = bus.publish(signal).await {
                    tracing::debug!(error = %e, "could not publish typing");
                }
            });
        }
        Ok(())
    }

    /// Relays a typing notice from another node to this node's sessions.
    pub(super) fn relay_typing(
        &self,
        user: UserId,
        channel_id: ChannelId,
        thread_root_id: Option<MessageId>,
    ) {
        let item = Outbound::Typing {
            channel_id,
            user_id: user,
            thread_root_id,
        };
        self.state
            .read()
            .index
            .deliver_to_channel(channel_id, Some(user), &item);
    }
}
