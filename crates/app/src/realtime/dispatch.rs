//! Dispatch: one task takes events from the [`EventFeed`](crate::EventFeed) in position order,
//! loads what they name, and pushes each envelope to the sessions of its audience
//! ([`Event::audience`], decided in the core).
//!
//! For each batch, in event order: a `member.added` enters the membership index before it is
//! delivered (the new member hears of it and of everything after), a `member.removed` leaves
//! it after (the removed member hears of their removal, then nothing more). A gap in the
//! feed, or a lagged subscription, is filled from the log.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use enclave_core::{Audience, ChannelId, Event, EventKind, UserId};
use tokio::sync::broadcast;

use super::envelope::{Envelope, Outbound, Payload};
use super::load::build_envelopes;
use super::{Hub, REPLAY_PAGE};

impl Hub {
    /// Delivers a batch of events, in order.
    pub(super) async fn dispatch(&self, events: Vec<Event>) {
        let _dispatch = self.dispatch_lock.lock().await;
        let envelopes =
            match build_envelopes(self.store.as_ref(), &self.previews, events.clone()).await {
                Ok(e) => e,
                Err(e) => {
                    // The events are durable; without their objects they go out as bare events
                    // (clients refetch what they name).
                    tracing::error!(error = %e, "loading event payloads failed");
                    events
                        .into_iter()
                        .map(|event| Envelope::new(event, Payload::Hidden))
                        .collect()
                }
            };
        // Events about an account reach guests only when they share a channel with it: when a
        // guest is connected, look up the channels of each account the batch is about.
        let mut subjects: HashMap<UserId, HashSet<ChannelId>> = HashMap::new();
        if self.state.read().index.has_restricted() {
            for env in &envelopes {
                if let Audience::People(u) = env.event.audience() {
                    if subjects.contains_key(&u) {
                        continue;
                    }
                    match self.store.channel_ids_of(u).await {
                        Ok(c) => {
                            subjects.insert(u, c.into_iter().collect());
                        }
                        // Without them, restricted sessions do not get the event (they refetch
                        // what they may see).
                        Err(e) => {
                            tracing::error!(error = %e, user_id = %u, "loading an account's channels failed");
                        }
                    }
                }
            }
        }
        for env in envelopes {
            self.fan_out(&env, &subjects);
            self.position.store(env.event.position, Ordering::Release);
        }
    }

    fn fan_out(&self, env: &Arc<Envelope>, subjects: &HashMap<UserId, HashSet<ChannelId>>) {
        let e = &env.event;
        match (e.kind, e.channel_id, e.user_id) {
            (EventKind::MemberAdded, Some(c), Some(u)) => {
                self.state.write().index.add_member(u, c);
            }
            (EventKind::TokensRevoked, _, Some(u)) => self.revalidate(u),
            (EventKind::UserUpdated, _, Some(u)) => {
                if let Payload::User(user) = &env.payload {
                    self.state
                        .write()
                        .status_changed(u, &user.status_text, user.dnd);
                }
            }
            _ => {}
        }
        let item = Outbound::Event(env.clone());
        {
            let st = self.state.read();
            match e.audience() {
                Audience::Nobody => {}
                Audience::Everyone => st.index.deliver_to_all(&item),
                Audience::People(u) => st.index.deliver_to_people(u, subjects.get(&u), &item),
                Audience::User(u) => st.index.deliver_to_user(u, &item),
                Audience::Channel(c) => st.index.deliver_to_channel(c, None, &item),
                Audience::ChannelAndMember { channel, member } => {
                    st.index.deliver_to_channel(channel, None, &item);
                    // The member concerned hears of it even when not in the index (their
                    // removal may have come through another path).
                    if !st.index.is_member(member, channel) {
                        st.index.deliver_to_user(member, &item);
                    }
                }
            }
        }
        if let (EventKind::MemberRemoved, Some(c), Some(u)) = (e.kind, e.channel_id, e.user_id) {
            let mut st = self.state.write();
            st.index.remove_member(u, c);
            st.typing.forget(u, c);
        }
    }
}

/// Takes events from the feed and dispatches them in order, filling any gap from the log.
pub(super) async fn dispatcher(hub: Arc<Hub>, mut rx: broadcast::Receiver<Arc<[Event]>>) {
    loop {
        let batch = match rx.recv().await {
            Ok(b) => b,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(skipped = n, "real-time dispatcher lagged; reading the log");
                Arc::from(Vec::new())
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let last = hub.position();
        let fresh: Vec<Event> = batch
            .iter()
            .filter(|e| e.position > last)
            .cloned()
            .collect();
        let gap = fresh.first().is_none_or(|e| e.position > last + 1);
        if gap {
            // Read whatever was missed (and everything up to the end of this batch) from the log.
            let target = batch.last().map_or(i64::MAX, |e| e.position);
            let mut pos = last;
            loop {
                match hub.store.events_after(pos, REPLAY_PAGE).await {
                    Ok(page) if page.is_empty() => break,
                    Ok(page) => {
                        let page: Vec<Event> =
                            page.into_iter().filter(|e| e.position <= target).collect();
                        let Some(end) = page.last().map(|e| e.position) else {
                            break;
                        };
                        pos = end;
                        hub.dispatch(page).await;
                        if pos >= target {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "real-time dispatcher could not read the log");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        } else {
            hub.dispatch(fresh).await;
        }
    }
}
