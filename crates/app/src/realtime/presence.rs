//! Presence: online while one of a user's sessions was active within `idle`, away when all
//! are idle, offline without sessions; merged with the other nodes' reports from the bus (the
//! most present wins), announced to the sessions that watch the user.
//!
//! Each node tells the others its own view of its users on every change and as a periodic
//! snapshot; a report not refreshed within [`REMOTE_PRESENCE_TTL`] is forgotten, so the users
//! of a node that died fade to offline.

use std::collections::{HashMap, HashSet};
use std::sync::Weak;
use std::time::Duration;

use enclave_bus::{NodeId, Signal};
use enclave_core::{Error as DomainError, Presence, UserId};
use tokio::time::Instant;

use super::envelope::Outbound;
use super::sessions::SessionId;
use super::{Hub, MAX_WATCHED, State};
use crate::error::{Error, Result};

/// A remote node's presence report is trusted this long without a refresh (a node that dies
/// stops refreshing, and its users fade to offline).
pub(super) const REMOTE_PRESENCE_TTL: Duration = Duration::from_secs(30);
/// How often each node re-sends its whole presence view.
pub(super) const PRESENCE_SNAPSHOT_EVERY: Duration = Duration::from_secs(10);

/// A user's presence as others see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceInfo {
    pub user_id: UserId,
    pub presence: Presence,
    pub status_text: String,
    pub dnd: bool,
}

/// What the hub knows of presence.
#[derive(Default)]
pub(super) struct PresenceBook {
    /// Sessions watching each user's presence.
    watchers: HashMap<UserId, HashSet<SessionId>>,
    /// Last presence announced for each connected user.
    announced: HashMap<UserId, Presence>,
    /// Status text and do-not-disturb of connected and watched users.
    pub(super) status: HashMap<UserId, (String, bool)>,
    /// Presence reported by other nodes: user, node, and when it was reported.
    remote: HashMap<UserId, HashMap<NodeId, (Presence, Instant)>>,
    /// This node's own view of each user it has sessions for (what other nodes are told).
    local: HashMap<UserId, Presence>,
    /// Changes of `local` not yet told to the other nodes.
    pub(super) outbox: Vec<(UserId, Presence)>,
}

fn rank(p: Presence) -> u8 {
    match p {
        Presence::Online => 2,
        Presence::Away => 1,
        Presence::Offline => 0,
    }
}

impl PresenceBook {
    /// Stops a session watching `users`.
    pub(super) fn unwatch(&mut self, id: SessionId, users: &[UserId]) {
        for u in users {
            if let Some(set) = self.watchers.get_mut(u) {
                set.remove(&id);
                if set.is_empty() {
                    self.watchers.remove(u);
                }
            }
        }
    }

    /// Forgets a user's status once nobody needs it.
    pub(super) fn forget_status_if_unused(&mut self, user: UserId) {
        if !self.watchers.contains_key(&user) && !self.announced.contains_key(&user) {
            self.status.remove(&user);
        }
    }

    /// Records another node's report of one user.
    fn apply_remote(&mut self, from: NodeId, user: UserId, presence: Presence, now: Instant) {
        let nodes = self.remote.entry(user).or_default();
        if presence == Presence::Offline {
            nodes.remove(&from);
        } else {
            nodes.insert(from, (presence, now));
        }
        if nodes.is_empty() {
            self.remote.remove(&user);
        }
    }

    fn forget_stale_remote(&mut self, now: Instant) {
        self.remote.retain(|_, nodes| {
            nodes.retain(|_, (_, at)| now.duration_since(*at) < REMOTE_PRESENCE_TTL);
            !nodes.is_empty()
        });
    }
}

impl State {
    /// Presence as seen from every node: the most present of this node's view and the other
    /// nodes' fresh reports.
    pub(super) fn presence_of(&self, user: UserId, idle: Duration, now: Instant) -> Presence {
        let mut best = self.local_presence(user, idle, now);
        if let Some(nodes) = self.presence.remote.get(&user) {
            for (p, at) in nodes.values() {
                if now.duration_since(*at) < REMOTE_PRESENCE_TTL && rank(*p) > rank(best) {
                    best = *p;
                }
            }
        }
        best
    }

    /// Presence from this node's sessions only.
    fn local_presence(&self, user: UserId, idle: Duration, now: Instant) -> Presence {
        let Some(ids) = self.index.by_user.get(&user) else {
            return Presence::Offline;
        };
        let active = ids
            .iter()
            .filter_map(|id| self.index.sessions.get(id))
            .any(|s| now.duration_since(s.last_active) < idle);
        if active {
            Presence::Online
        } else {
            Presence::Away
        }
    }

    fn info(&self, user: UserId, presence: Presence) -> PresenceInfo {
        let (status_text, dnd) = self.presence.status.get(&user).cloned().unwrap_or_default();
        PresenceInfo {
            user_id: user,
            presence,
            status_text,
            dnd,
        }
    }

    /// Recomputes the user's presence and tells watchers when it changed.
    pub(super) fn refresh_presence(&mut self, user: UserId, idle: Duration, now: Instant) {
        let local = self.local_presence(user, idle, now);
        let book = &mut self.presence;
        let previous = match local {
            Presence::Offline => book.local.remove(&user),
            _ => book.local.insert(user, local),
        };
        if previous.unwrap_or(Presence::Offline) != local {
            book.outbox.push((user, local));
        }
        let p = self.presence_of(user, idle, now);
        let book = &mut self.presence;
        let changed = match p {
            Presence::Offline => book.announced.remove(&user).is_some(),
            _ => book.announced.insert(user, p) != Some(p),
        };
        if changed {
            self.announce(user, p);
        }
    }

    fn announce(&self, user: UserId, p: Presence) {
        if let Some(watchers) = self.presence.watchers.get(&user) {
            let item = Outbound::Presence(Box::new(self.info(user, p)));
            for id in watchers {
                // Presence is best-effort: a full queue drops the notice, not the session.
                if let Some(s) = self.index.sessions.get(id) {
                    let _ = s.tx.try_send(item.clone());
                }
            }
        }
    }

    /// A connected or watched user changed their status text or do-not-disturb.
    pub(super) fn status_changed(&mut self, user: UserId, status_text: &str, dnd: bool) {
        if let Some(status) = self.presence.status.get_mut(&user) {
            *status = (status_text.to_owned(), dnd);
            if let Some(p) = self.presence.announced.get(&user).copied() {
                self.announce(user, p);
            }
        }
    }
}

impl Hub {
    /// Tells the other nodes about presence changes of this node's users.
    pub(super) fn publish_presence(&self, changes: Vec<(UserId, Presence)>) {
        if changes.is_empty() || !self.bus.is_clustered() {
            return;
        }
        let bus = self.bus.clone();
        tokio::spawn(async move {
            if let Err(e) = bus.publish(Signal::Presence { users: changes }).await {
                tracing::debug!(error = %e, "could not publish presence");
            }
        });
    }

    /// Applies another node's presence report.
    pub(super) fn remote_presence(&self, from: NodeId, users: Vec<(UserId, Presence)>) {
        let now = Instant::now();
        let mut st = self.state.write();
        for (user, presence) in users {
            st.presence.apply_remote(from, user, presence, now);
            st.refresh_presence(user, self.config.idle, now);
        }
        let changes = std::mem::take(&mut st.presence.outbox);
        drop(st);
        self.publish_presence(changes);
    }

    /// Marks the session active (any client frame counts).
    pub fn activity(&self, id: SessionId) {
        let now = Instant::now();
        let mut st = self.state.write();
        let Some(s) = st.index.sessions.get_mut(&id) else {
            return;
        };
        s.last_active = now;
        let user = s.user_id;
        if st.presence.local.get(&user) != Some(&Presence::Online) {
            st.refresh_presence(user, self.config.idle, now);
            let changes = std::mem::take(&mut st.presence.outbox);
            drop(st);
            self.publish_presence(changes);
        }
    }

    /// Replaces the set of users whose presence the session receives; returns their current
    /// presence.
    pub async fn watch_presence(
        &self,
        id: SessionId,
        users: Vec<UserId>,
    ) -> Result<Vec<PresenceInfo>> {
        if users.len() > MAX_WATCHED {
            return Err(Error::Domain(DomainError::LimitExceeded(
                "at most 500 users may be watched",
            )));
        }
        let mut users = users;
        users.sort();
        users.dedup();
        let known = self.store.users_by_ids(&users).await?;
        let mut st = self.state.write();
        let Some(s) = st.index.sessions.get_mut(&id) else {
            return Ok(Vec::new());
        };
        let old = std::mem::take(&mut s.watching);
        s.watching = known.iter().map(|u| u.id).collect();
        st.presence.unwatch(id, &old);
        let now = Instant::now();
        let mut out = Vec::with_capacity(known.len());
        for u in &known {
            st.presence
                .status
                .insert(u.id, (u.status_text.clone(), u.dnd));
            st.presence.watchers.entry(u.id).or_default().insert(id);
            let presence = st.presence_of(u.id, self.config.idle, now);
            out.push(PresenceInfo {
                user_id: u.id,
                presence,
                status_text: u.status_text.clone(),
                dnd: u.dnd,
            });
        }
        Ok(out)
    }

    /// The presence of any users (for the REST API).
    pub async fn presence(&self, users: &[UserId]) -> Result<Vec<PresenceInfo>> {
        let known = self.store.users_by_ids(users).await?;
        let st = self.state.read();
        let now = Instant::now();
        Ok(known
            .iter()
            .map(|u| PresenceInfo {
                user_id: u.id,
                presence: st.presence_of(u.id, self.config.idle, now),
                status_text: u.status_text.clone(),
                dnd: u.dnd,
            })
            .collect())
    }
}

/// How often the presence clock ticks for a given idle time.
pub(super) fn clock_period(idle: Duration) -> Duration {
    (idle / 4)
        .clamp(Duration::from_millis(100), Duration::from_secs(15))
        .min(PRESENCE_SNAPSHOT_EVERY / 2)
}

/// Marks users away when they go idle, forgets stale typing and remote reports, and sends the
/// other nodes this node's changes and, every [`PRESENCE_SNAPSHOT_EVERY`], its whole view.
pub(super) async fn presence_clock(hub: Weak<Hub>) {
    let every = {
        let Some(h) = hub.upgrade() else { return };
        clock_period(h.config.idle)
    };
    let mut tick = tokio::time::interval(every);
    let mut last_snapshot = Instant::now();
    loop {
        tick.tick().await;
        let Some(h) = hub.upgrade() else { return };
        let now = Instant::now();
        let mut st = h.state.write();
        let users: Vec<UserId> = st
            .presence
            .announced
            .keys()
            .chain(st.presence.local.keys())
            .copied()
            .collect();
        for u in users {
            st.refresh_presence(u, h.config.idle, now);
        }
        st.typing.forget_stale(now, h.config.typing_every);
        st.presence.forget_stale_remote(now);
        let mut changes = std::mem::take(&mut st.presence.outbox);
        if now.duration_since(last_snapshot) >= PRESENCE_SNAPSHOT_EVERY {
            last_snapshot = now;
            changes = st.presence.local.iter().map(|(u, p)| (*u, *p)).collect();
        }
        drop(st);
        h.publish_presence(changes);
    }
}
