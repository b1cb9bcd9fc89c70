//! The session index: every open session, the sessions of each connected user, and which
//! connected users are members of which channel (the index the dispatcher fans out by).
//!
//! The membership index covers connected users only. When a user's first session connects,
//! their channel list is loaded while the dispatcher is held, so no membership event can slip
//! between the load and the index; from then on the dispatcher keeps it current (a
//! `member.added` before delivering, a `member.removed` after).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use enclave_core::{Actor, Audience, ChannelId, Millis, SitePermission, TokenId, UserId};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::Hub;
use super::envelope::Outbound;
use crate::accounts::Authed;
use crate::error::Result;

/// Why the hub ends a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The credential was revoked or the account deactivated.
    Revoked,
    /// The session's queue overflowed.
    SlowConsumer,
    /// The server is shutting down.
    Shutdown,
}

/// Identifies a session within this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

/// A registered connection. Dropping it unregisters the session.
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    /// Items to send, in order.
    pub rx: mpsc::Receiver<Outbound>,
    /// Becomes `Some` when the hub ends the session.
    pub closed: watch::Receiver<Option<CloseReason>>,
    /// Every event after this position reaches `rx`; none at or before it does.
    pub start_position: i64,
    hub: Arc<Hub>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.hub.unregister(self.id);
    }
}

/// What the hub keeps of one session.
pub(super) struct SessionEntry {
    pub(super) user_id: UserId,
    /// Who the session acts as (what it may see of others: [`Audience::reaches`]).
    pub(super) actor: Actor,
    pub(super) token_id: TokenId,
    pub(super) tx: mpsc::Sender<Outbound>,
    pub(super) close: watch::Sender<Option<CloseReason>>,
    pub(super) last_active: Instant,
    /// Users whose presence this session receives.
    pub(super) watching: Vec<UserId>,
}

/// Open sessions and the channel membership of their users.
#[derive(Default)]
pub(super) struct SessionIndex {
    pub(super) sessions: HashMap<SessionId, SessionEntry>,
    pub(super) by_user: HashMap<UserId, Vec<SessionId>>,
    /// Connected users by channel.
    channel_users: HashMap<ChannelId, HashSet<UserId>>,
    /// Channels of each connected user.
    user_channels: HashMap<UserId, HashSet<ChannelId>>,
    /// Open sessions whose actor may not browse the directory (guests): they see only the
    /// accounts they share a channel with.
    restricted: usize,
}

/// Whether a session acting as `actor` sees only some accounts.
fn is_restricted(actor: &Actor) -> bool {
    !actor.may(SitePermission::BrowseDirectory)
}

/// Ends a session with `reason`, unless it already ended.
pub(super) fn close_with(close: &watch::Sender<Option<CloseReason>>, reason: CloseReason) {
    close.send_if_modified(|r| {
        if r.is_none() {
            *r = Some(reason);
            true
        } else {
            false
        }
    });
}

impl SessionIndex {
    pub(super) fn close(&self, id: SessionId, reason: CloseReason) {
        if let Some(s) = self.sessions.get(&id) {
            close_with(&s.close, reason);
        }
    }

    /// Queues an item for a session; a full queue closes it as a slow consumer.
    pub(super) fn deliver(&self, id: SessionId, item: Outbound) {
        let Some(s) = self.sessions.get(&id) else {
            return;
        };
        match s.tx.try_send(item) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
            Err(mpsc::error::TrySendError::Full(_)) => self.close(id, CloseReason::SlowConsumer),
        }
    }

    pub(super) fn deliver_to_user(&self, user: UserId, item: &Outbound) {
        if let Some(ids) = self.by_user.get(&user) {
            for id in ids {
                self.deliver(*id, item.clone());
            }
        }
    }

    /// Whether any open session sees only some accounts.
    pub(super) fn has_restricted(&self) -> bool {
        self.restricted > 0
    }

    /// Delivers an event about the account `subject` to the sessions that may see it
    /// ([`Audience::People`]); `subject_channels` are the account's channels (needed only when
    /// a restricted session is open: without them those sessions get nothing).
    pub(super) fn deliver_to_people(
        &self,
        subject: UserId,
        subject_channels: Option<&HashSet<ChannelId>>,
        item: &Outbound,
    ) {
        for (id, s) in &self.sessions {
            let shares = |_| {
                subject_channels.is_some_and(|theirs| {
                    self.user_channels
                        .get(&s.user_id)
                        .is_some_and(|mine| !mine.is_disjoint(theirs))
                })
            };
            if Audience::People(subject).reaches(&s.actor, |_| false, shares) {
                self.deliver(*id, item.clone());
            }
        }
    }

    pub(super) fn deliver_to_all(&self, item: &Outbound) {
        for id in self.sessions.keys() {
            self.deliver(*id, item.clone());
        }
    }

    /// Delivers to every connected member of the channel except `except`.
    pub(super) fn deliver_to_channel(
        &self,
        channel: ChannelId,
        except: Option<UserId>,
        item: &Outbound,
    ) {
        if let Some(users) = self.channel_users.get(&channel) {
            for u in users.iter().filter(|u| Some(**u) != except) {
                self.deliver_to_user(*u, item);
            }
        }
    }

    /// Whether a connected user is a member of the channel.
    pub(super) fn is_member(&self, user: UserId, channel: ChannelId) -> bool {
        self.user_channels
            .get(&user)
            .is_some_and(|c| c.contains(&channel))
    }

    /// Records a membership, if the user is connected.
    pub(super) fn add_member(&mut self, user: UserId, channel: ChannelId) {
        if self.by_user.contains_key(&user) {
            self.user_channels.entry(user).or_default().insert(channel);
            self.channel_users.entry(channel).or_default().insert(user);
        }
    }

    pub(super) fn remove_member(&mut self, user: UserId, channel: ChannelId) {
        if let Some(set) = self.user_channels.get_mut(&user) {
            set.remove(&channel);
        }
        if let Some(set) = self.channel_users.get_mut(&channel) {
            set.remove(&user);
            if set.is_empty() {
                self.channel_users.remove(&channel);
            }
        }
    }

    fn insert(&mut self, id: SessionId, entry: SessionEntry, channels: Option<Vec<ChannelId>>) {
        let user = entry.user_id;
        if is_restricted(&entry.actor) {
            self.restricted += 1;
        }
        self.sessions.insert(id, entry);
        self.by_user.entry(user).or_default().push(id);
        if let Some(channels) = channels {
            for c in &channels {
                self.channel_users.entry(*c).or_default().insert(user);
            }
            self.user_channels
                .insert(user, channels.into_iter().collect());
        }
    }

    /// Removes a session; says whether it was its user's last one (the user then leaves the
    /// membership index).
    fn remove(&mut self, id: SessionId) -> Option<(SessionEntry, bool)> {
        let entry = self.sessions.remove(&id)?;
        if is_restricted(&entry.actor) {
            self.restricted -= 1;
        }
        let user = entry.user_id;
        let last = match self.by_user.get_mut(&user) {
            Some(ids) => {
                ids.retain(|s| *s != id);
                ids.is_empty()
            }
            None => true,
        };
        if last {
            self.by_user.remove(&user);
            if let Some(channels) = self.user_channels.remove(&user) {
                for c in channels {
                    if let Some(set) = self.channel_users.get_mut(&c) {
                        set.remove(&user);
                        if set.is_empty() {
                            self.channel_users.remove(&c);
                        }
                    }
                }
            }
        }
        Some((entry, last))
    }
}

impl Hub {
    /// Registers a connection for an authenticated user. Live events start queueing at once.
    pub async fn connect(self: &Arc<Self>, authed: &Authed) -> Result<Session> {
        let user = authed.user.id;
        // Only bearer tokens open real-time sessions (their revocation closes them).
        let token_id = authed
            .token_id()
            .ok_or(crate::Error::Domain(enclave_core::Error::Unauthenticated))?;
        let _dispatch = self.dispatch_lock.lock().await;
        let indexed = self.state.read().index.by_user.contains_key(&user);
        let channels = if indexed {
            None
        } else {
            Some(self.store.channel_ids_of(user).await?)
        };
        let id = SessionId(self.next_session.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = mpsc::channel(self.config.queue_len.max(1));
        let (close, closed) = watch::channel(None);
        let now = Instant::now();
        let mut st = self.state.write();
        let entry = SessionEntry {
            user_id: user,
            actor: authed.actor(),
            token_id,
            tx,
            close,
            last_active: now,
            watching: Vec::new(),
        };
        st.index.insert(id, entry, channels);
        st.presence
            .status
            .insert(user, (authed.user.status_text.clone(), authed.user.dnd));
        st.refresh_presence(user, self.config.idle, now);
        let changes = std::mem::take(&mut st.presence.outbox);
        drop(st);
        self.publish_presence(changes);
        let start_position = self.position();
        if self.shutting_down.load(Ordering::Acquire) {
            self.state.read().index.close(id, CloseReason::Shutdown);
        }
        Ok(Session {
            id,
            user_id: user,
            rx,
            closed,
            start_position,
            hub: self.clone(),
        })
    }

    fn unregister(&self, id: SessionId) {
        let mut st = self.state.write();
        let Some((entry, last)) = st.index.remove(id) else {
            return;
        };
        let user = entry.user_id;
        st.presence.unwatch(id, &entry.watching);
        if last {
            st.typing.forget_user(user);
        }
        st.refresh_presence(user, self.config.idle, Instant::now());
        if last {
            st.presence.forget_status_if_unused(user);
        }
        let changes = std::mem::take(&mut st.presence.outbox);
        drop(st);
        self.publish_presence(changes);
    }

    /// Closes the user's sessions whose credential no longer holds. The check reads the
    /// store, so it runs off the dispatcher.
    pub(super) fn revalidate(&self, user: UserId) {
        type Check = (TokenId, watch::Sender<Option<CloseReason>>);
        let checks: Vec<Check> = {
            let st = self.state.read();
            st.index
                .by_user
                .get(&user)
                .map(|ids| {
                    ids.iter()
                        .filter_map(|id| st.index.sessions.get(id))
                        .map(|s| (s.token_id, s.close.clone()))
                        .collect()
                })
                .unwrap_or_default()
        };
        if checks.is_empty() {
            return;
        }
        let store = self.store.clone();
        tokio::spawn(async move {
            for (token, close) in checks {
                match store.token_valid(token, Millis::now()).await {
                    Ok(true) => {}
                    Ok(false) => close_with(&close, CloseReason::Revoked),
                    Err(e) => {
                        tracing::warn!(error = %e, "could not re-check a session's credential")
                    }
                }
            }
        });
    }
}
