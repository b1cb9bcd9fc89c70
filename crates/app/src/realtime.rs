//! Real-time delivery: the hub that turns committed events into deliveries for connected
//! sessions, and tracks presence and typing.
//!
//! The hub is transport-agnostic: a door (the WebSocket gateway; later XMPP) registers a
//! [`Session`] for each connection and drains its queue of [`Outbound`] items, encoding them
//! in its own format. One [`Envelope`] is built per event and shared (`Arc`) by every session
//! that receives it, with a slot ([`Envelope::encoded`]) where the door caches its encoding, so
//! an event for a channel of 10,000 members is loaded and serialised once.
//!
//! Ordering and completeness:
//! 1. A single dispatcher task takes events from the [`EventFeed`] in position order.
//! 2. For each batch it loads the objects the events name, then, for each event in order,
//!    updates the membership index (a `member.added` before delivering, a `member.removed`
//!    after) and pushes the envelope to every session that may see it.
//! 3. A session's queue is bounded; a session that falls behind is closed
//!    ([`CloseReason::SlowConsumer`]) and its client resumes from its last position.
//! 4. Resuming: a door first registers the session (live events start queueing), then replays
//!    the log after the client's position ([`Hub::catch_up`]), then drains the queue, skipping
//!    positions already sent. Registration happens before the replay reads the log, so every
//!    event is either in the replay or in the queue.
//!
//! The membership index covers connected users only: when a user's first session connects,
//! their channel list is loaded while the dispatcher is held, so no membership event can slip
//! between the load and the index.

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use enclave_bus::{Bus, NodeId, Received, Signal};
use enclave_core::{
    Audience, Channel, ChannelId, Error as DomainError, Event, EventKind, Membership, Message,
    MessageId, Millis, Presence, User, UserId,
};
use enclave_store::Store;
use parking_lot::RwLock;
use tokio::sync::{broadcast, mpsc, watch};

use crate::accounts::Authed;
use crate::error::{Error, Result};
use crate::feed::EventFeed;
use crate::files::Previews;

/// Settings of the real-time hub.
#[derive(Debug, Clone)]
pub struct RealtimeConfig {
    /// Outgoing items a session may have waiting before it is closed as a slow consumer.
    pub queue_len: usize,
    /// Without activity for this long on all of a user's sessions, the user is away.
    pub idle: Duration,
    /// Typing notices relayed at most this often per user and channel.
    pub typing_every: Duration,
    /// Events older than this are pruned from the log (positions older than the oldest
    /// retained one cannot be replayed).
    pub retention: Duration,
    /// Events always kept, however old.
    pub retention_min_events: u32,
}

impl Default for RealtimeConfig {
    fn default() -> Self {
        RealtimeConfig {
            queue_len: 1024,
            idle: Duration::from_secs(600),
            typing_every: Duration::from_secs(2),
            retention: Duration::from_secs(14 * 24 * 3600),
            retention_min_events: 10_000,
        }
    }
}

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
    /// Not for clients (credential revocations), or its object is gone.
    Hidden,
}

/// One event ready for delivery, shared by every session that receives it.
pub struct Envelope {
    pub event: Event,
    pub payload: Payload,
    /// The door's encoding of this envelope, made by the first session that sends it and
    /// reused by all others.
    pub encoded: OnceLock<Box<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for Envelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Envelope")
            .field("event", &self.event)
            .field("payload", &self.payload)
            .finish()
    }
}

/// A user's presence as others see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceInfo {
    pub user_id: UserId,
    pub presence: Presence,
    pub status_text: String,
    pub dnd: bool,
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

struct SessionEntry {
    user_id: UserId,
    token_id: enclave_core::TokenId,
    tx: mpsc::Sender<Outbound>,
    close: watch::Sender<Option<CloseReason>>,
    last_active: Instant,
    watching: Vec<UserId>,
}

#[derive(Default)]
struct State {
    sessions: HashMap<SessionId, SessionEntry>,
    by_user: HashMap<UserId, Vec<SessionId>>,
    /// Connected users by channel.
    channel_users: HashMap<ChannelId, HashSet<UserId>>,
    /// Channels of each connected user.
    user_channels: HashMap<UserId, HashSet<ChannelId>>,
    /// Sessions watching each user's presence.
    watchers: HashMap<UserId, HashSet<SessionId>>,
    /// Last presence announced for each connected user.
    presence: HashMap<UserId, Presence>,
    /// Status text and do-not-disturb of connected users.
    status: HashMap<UserId, (String, bool)>,
    /// Last typing relay per user and channel.
    typing: HashMap<(UserId, ChannelId), Instant>,
    /// Presence reported by other nodes: user, node, and when it was reported.
    remote: HashMap<UserId, HashMap<NodeId, (Presence, Instant)>>,
    /// This node's own view of each user it has sessions for (what other nodes are told).
    local: HashMap<UserId, Presence>,
    /// Changes of `local` not yet told to the other nodes.
    outbox: Vec<(UserId, Presence)>,
}

/// A remote node's presence report is trusted this long without a refresh (a node that dies
/// stops refreshing, and its users fade to offline).
const REMOTE_PRESENCE_TTL: Duration = Duration::from_secs(30);
/// How often each node re-sends its whole presence view.
const PRESENCE_SNAPSHOT_EVERY: Duration = Duration::from_secs(10);

fn rank(p: Presence) -> u8 {
    match p {
        Presence::Online => 2,
        Presence::Away => 1,
        Presence::Offline => 0,
    }
}

impl State {
    fn close(&self, id: SessionId, reason: CloseReason) {
        if let Some(s) = self.sessions.get(&id) {
            s.close.send_if_modified(|r| {
                if r.is_none() {
                    *r = Some(reason);
                    true
                } else {
                    false
                }
            });
        }
    }

    fn deliver(&self, id: SessionId, item: Outbound) {
        let Some(s) = self.sessions.get(&id) else {
            return;
        };
        match s.tx.try_send(item) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
            Err(mpsc::error::TrySendError::Full(_)) => self.close(id, CloseReason::SlowConsumer),
        }
    }

    fn deliver_to_user(&self, user: UserId, item: &Outbound) {
        if let Some(ids) = self.by_user.get(&user) {
            for id in ids {
                self.deliver(*id, item.clone());
            }
        }
    }

    /// Presence as seen from every node: the most present of this node's view and the other
    /// nodes' fresh reports.
    fn presence_of(&self, user: UserId, idle: Duration, now: Instant) -> Presence {
        let mut best = self.local_presence(user, idle, now);
        if let Some(nodes) = self.remote.get(&user) {
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
        let Some(ids) = self.by_user.get(&user) else {
            return Presence::Offline;
        };
        let active = ids
            .iter()
            .filter_map(|id| self.sessions.get(id))
            .any(|s| now.duration_since(s.last_active) < idle);
        if active {
            Presence::Online
        } else {
            Presence::Away
        }
    }

    fn info(&self, user: UserId, presence: Presence) -> PresenceInfo {
        let (status_text, dnd) = self.status.get(&user).cloned().unwrap_or_default();
        PresenceInfo {
            user_id: user,
            presence,
            status_text,
            dnd,
        }
    }

    /// Recomputes the user's presence and tells watchers when it changed.
    fn refresh_presence(&mut self, user: UserId, idle: Duration, now: Instant) {
        let local = self.local_presence(user, idle, now);
        let previous = match local {
            Presence::Offline => self.local.remove(&user),
            _ => self.local.insert(user, local),
        };
        if previous.unwrap_or(Presence::Offline) != local {
            self.outbox.push((user, local));
        }
        let p = self.presence_of(user, idle, now);
        let changed = match p {
            Presence::Offline => self.presence.remove(&user).is_some(),
            _ => self.presence.insert(user, p) != Some(p),
        };
        if changed {
            self.announce(user, p);
        }
    }

    fn announce(&self, user: UserId, p: Presence) {
        if let Some(watchers) = self.watchers.get(&user) {
            let item = Outbound::Presence(Box::new(self.info(user, p)));
            for id in watchers {
                // Presence is best-effort: a full queue drops the notice, not the session.
                if let Some(s) = self.sessions.get(id) {
                    let _ = s.tx.try_send(item.clone());
                }
            }
        }
    }
}

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

/// Events after a position that one user may see.
pub struct CatchUp {
    pub envelopes: Vec<Arc<Envelope>>,
    /// The last position examined: pass it as `since` next time.
    pub position: i64,
    pub has_more: bool,
}

/// The real-time hub.
pub struct Hub {
    store: Arc<dyn Store>,
    /// Opens the previews of the files of the messages it delivers.
    previews: Previews,
    config: RealtimeConfig,
    state: RwLock<State>,
    /// The last position dispatched to sessions.
    position: AtomicI64,
    /// Held while dispatching a batch, and while indexing a newly connected user.
    dispatch_lock: tokio::sync::Mutex<()>,
    next_session: AtomicU64,
    shutting_down: std::sync::atomic::AtomicBool,
    bus: Arc<dyn Bus>,
}

/// Events read from the log per query when replaying.
const REPLAY_PAGE: u32 = 500;
/// Most users one session may watch the presence of.
pub const MAX_WATCHED: usize = 500;

impl Hub {
    /// Starts the hub: the dispatcher, the presence clock and the log pruner.
    pub async fn start(
        store: Arc<dyn Store>,
        previews: Previews,
        feed: &EventFeed,
        bus: Arc<dyn Bus>,
        config: RealtimeConfig,
    ) -> Result<Arc<Hub>> {
        let rx = feed.subscribe();
        let start = feed.position();
        let hub = Arc::new(Hub {
            store,
            previews,
            config,
            state: RwLock::new(State::default()),
            position: AtomicI64::new(start),
            dispatch_lock: tokio::sync::Mutex::new(()),
            next_session: AtomicU64::new(1),
            shutting_down: std::sync::atomic::AtomicBool::new(false),
            bus: bus.clone(),
        });
        tokio::spawn(bus_listener(Arc::downgrade(&hub), bus.subscribe()));
        tokio::spawn(dispatcher(hub.clone(), rx));
        tokio::spawn(presence_clock(Arc::downgrade(&hub)));
        tokio::spawn(pruner(Arc::downgrade(&hub)));
        Ok(hub)
    }

    /// The last position delivered to sessions.
    pub fn position(&self) -> i64 {
        self.position.load(Ordering::Acquire)
    }

    pub fn config(&self) -> &RealtimeConfig {
        &self.config
    }

    /// Number of open sessions.
    pub fn n_sessions(&self) -> usize {
        self.state.read().sessions.len()
    }

    /// Tells the other nodes about presence changes of this node's users.
    fn publish_presence(&self, changes: Vec<(UserId, Presence)>) {
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

    /// Relays a typing notice from another node to this node's sessions.
    fn relay_typing(&self, user: UserId, channel_id: ChannelId, thread_root_id: Option<MessageId>) {
        let st = self.state.read();
        let item = Outbound::Typing {
            channel_id,
            user_id: user,
            thread_root_id,
        };
        if let Some(users) = st.channel_users.get(&channel_id) {
            for u in users.iter().filter(|u| **u != user) {
                st.deliver_to_user(*u, &item);
            }
        }
    }

    /// Registers a connection for an authenticated user. Live events start queueing at once.
    pub async fn connect(self: &Arc<Self>, authed: &Authed) -> Result<Session> {
        let user = authed.user.id;
        let _dispatch = self.dispatch_lock.lock().await;
        let indexed = self.state.read().by_user.contains_key(&user);
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
        st.sessions.insert(
            id,
            SessionEntry {
                user_id: user,
                token_id: authed.token_id(),
                tx,
                close,
                last_active: now,
                watching: Vec::new(),
            },
        );
        st.by_user.entry(user).or_default().push(id);
        if let Some(channels) = channels {
            for c in &channels {
                st.channel_users.entry(*c).or_default().insert(user);
            }
            st.user_channels
                .insert(user, channels.into_iter().collect());
        }
        st.status
            .insert(user, (authed.user.status_text.clone(), authed.user.dnd));
        st.refresh_presence(user, self.config.idle, now);
        let changes = std::mem::take(&mut st.outbox);
        drop(st);
        self.publish_presence(changes);
        let start_position = self.position();
        if self.shutting_down.load(Ordering::Acquire) {
            self.state.read().close(id, CloseReason::Shutdown);
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
        let Some(entry) = st.sessions.remove(&id) else {
            return;
        };
        let user = entry.user_id;
        for w in &entry.watching {
            if let Some(set) = st.watchers.get_mut(w) {
                set.remove(&id);
                if set.is_empty() {
                    st.watchers.remove(w);
                }
            }
        }
        let last = match st.by_user.get_mut(&user) {
            Some(ids) => {
                ids.retain(|s| *s != id);
                ids.is_empty()
            }
            None => true,
        };
        if last {
            st.by_user.remove(&user);
            if let Some(channels) = st.user_channels.remove(&user) {
                for c in channels {
                    if let Some(set) = st.channel_users.get_mut(&c) {
                        set.remove(&user);
                        if set.is_empty() {
                            st.channel_users.remove(&c);
                        }
                    }
                }
            }
            st.typing.retain(|(u, _), _| *u != user);
        }
        st.refresh_presence(user, self.config.idle, Instant::now());
        if last && !st.watchers.contains_key(&user) && !st.presence.contains_key(&user) {
            st.status.remove(&user);
        }
        let changes = std::mem::take(&mut st.outbox);
        drop(st);
        self.publish_presence(changes);
    }

    /// Ends every session (server shutdown); sessions that connect afterwards end at once.
    pub fn shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
        let st = self.state.read();
        for id in st.sessions.keys() {
            st.close(*id, CloseReason::Shutdown);
        }
    }

    /// Ends every session and waits (at most `grace`) until their doors have let them go, so
    /// that every client gets its close frame before the process exits.
    pub async fn shutdown_and_wait(&self, grace: Duration) {
        self.shutdown();
        let deadline = Instant::now() + grace;
        while self.n_sessions() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Marks the session active (any client frame counts).
    pub fn activity(&self, id: SessionId) {
        let mut st = self.state.write();
        let Some(s) = st.sessions.get_mut(&id) else {
            return;
        };
        s.last_active = Instant::now();
        let user = s.user_id;
        if st.local.get(&user) != Some(&Presence::Online) {
            st.refresh_presence(user, self.config.idle, Instant::now());
            let changes = std::mem::take(&mut st.outbox);
            drop(st);
            self.publish_presence(changes);
        }
    }

    /// Relays a typing notice to the channel's other connected members.
    pub fn typing(
        &self,
        id: SessionId,
        channel_id: ChannelId,
        thread_root_id: Option<MessageId>,
    ) -> Result<()> {
        let now = Instant::now();
        let mut st = self.state.write();
        let Some(user) = st.sessions.get(&id).map(|s| s.user_id) else {
            return Ok(());
        };
        let member = st
            .user_channels
            .get(&user)
            .is_some_and(|c| c.contains(&channel_id));
        if !member {
            return Err(Error::Domain(DomainError::NotFound(
                enclave_core::Entity::Channel,
            )));
        }
        if let Some(s) = st.sessions.get_mut(&id) {
            s.last_active = now;
        }
        let key = (user, channel_id);
        if st
            .typing
            .get(&key)
            .is_some_and(|t| now.duration_since(*t) < self.config.typing_every)
        {
            return Ok(());
        }
        st.typing.insert(key, now);
        let item = Outbound::Typing {
            channel_id,
            user_id: user,
            thread_root_id,
        };
        if let Some(users) = st.channel_users.get(&channel_id) {
            for u in users.iter().filter(|u| **u != user) {
                st.deliver_to_user(*u, &item);
            }
        }
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
        let Some(s) = st.sessions.get_mut(&id) else {
            return Ok(Vec::new());
        };
        let old = std::mem::take(&mut s.watching);
        s.watching = known.iter().map(|u| u.id).collect();
        for u in old {
            if let Some(set) = st.watchers.get_mut(&u) {
                set.remove(&id);
                if set.is_empty() {
                    st.watchers.remove(&u);
                }
            }
        }
        let now = Instant::now();
        let mut out = Vec::with_capacity(known.len());
        for u in &known {
            st.status.insert(u.id, (u.status_text.clone(), u.dnd));
            st.watchers.entry(u.id).or_default().insert(id);
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

    /// Events after `since` that `user` may see, up to `limit` of them. A position older than
    /// the retained log, or newer than its end, is refused with `ResyncRequired`.
    pub async fn catch_up(&self, user: UserId, since: i64, limit: usize) -> Result<CatchUp> {
        let first = self.store.first_position().await?;
        let last = self.store.last_position().await?;
        if since < first - 1 || since > last || since < 0 {
            return Err(Error::Domain(DomainError::ResyncRequired));
        }
        let channels: HashSet<ChannelId> =
            self.store.channel_ids_of(user).await?.into_iter().collect();
        let mut picked = Vec::new();
        let mut position = since;
        let mut has_more = false;
        'pages: loop {
            let page = self.store.events_after(position, REPLAY_PAGE).await?;
            let full = page.len() == REPLAY_PAGE as usize;
            for e in page {
                if picked.len() == limit {
                    has_more = true;
                    break 'pages;
                }
                position = e.position;
                if visible_to(&e, user, &channels) {
                    picked.push(e);
                }
            }
            if !full {
                break;
            }
        }
        let envelopes = build_envelopes(self.store.as_ref(), &self.previews, picked).await?;
        Ok(CatchUp {
            envelopes,
            position,
            has_more,
        })
    }

    /// Delivers a batch of events, in order.
    async fn dispatch(&self, events: Vec<Event>) {
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
                        .map(|event| {
                            Arc::new(Envelope {
                                event,
                                payload: Payload::Hidden,
                                encoded: OnceLock::new(),
                            })
                        })
                        .collect()
                }
            };
        for env in envelopes {
            self.fan_out(&env);
            self.position.store(env.event.position, Ordering::Release);
        }
    }

    fn fan_out(&self, env: &Arc<Envelope>) {
        let e = &env.event;
        match (e.kind, e.channel_id, e.user_id) {
            (EventKind::MemberAdded, Some(c), Some(u)) => {
                let mut st = self.state.write();
                if st.by_user.contains_key(&u) {
                    st.user_channels.entry(u).or_default().insert(c);
                    st.channel_users.entry(c).or_default().insert(u);
                }
            }
            (EventKind::TokensRevoked, _, Some(u)) => {
                self.revalidate(u);
                return;
            }
            (EventKind::UserUpdated, _, Some(u)) => {
                if let Payload::User(user) = &env.payload {
                    let mut st = self.state.write();
                    if let Some(status) = st.status.get_mut(&u) {
                        *status = (user.status_text.clone(), user.dnd);
                        if let Some(p) = st.presence.get(&u).copied() {
                            st.announce(u, p);
                        }
                    }
                }
            }
            _ => {}
        }
        let item = Outbound::Event(env.clone());
        {
            let st = self.state.read();
            match e.audience() {
                Audience::Everyone => {
                    for id in st.sessions.keys() {
                        st.deliver(*id, item.clone());
                    }
                }
                Audience::User(u) => st.deliver_to_user(u, &item),
                Audience::Channel(c) => {
                    if let Some(users) = st.channel_users.get(&c) {
                        for u in users {
                            st.deliver_to_user(*u, &item);
                        }
                    }
                    // The member concerned hears of their own removal (they are no longer
                    // in the index for a removal that came through another path).
                    if let (EventKind::MemberRemoved, Some(u)) = (e.kind, e.user_id)
                        && !st.channel_users.get(&c).is_some_and(|s| s.contains(&u))
                    {
                        st.deliver_to_user(u, &item);
                    }
                }
            }
        }
        if let (EventKind::MemberRemoved, Some(c), Some(u)) = (e.kind, e.channel_id, e.user_id) {
            let mut st = self.state.write();
            if let Some(set) = st.user_channels.get_mut(&u) {
                set.remove(&c);
            }
            if let Some(set) = st.channel_users.get_mut(&c) {
                set.remove(&u);
                if set.is_empty() {
                    st.channel_users.remove(&c);
                }
            }
            st.typing.remove(&(u, c));
        }
    }

    /// Closes the user's sessions whose credential no longer holds. The check reads the
    /// store, so it runs off the dispatcher.
    fn revalidate(&self, user: UserId) {
        type Check = (enclave_core::TokenId, watch::Sender<Option<CloseReason>>);
        let checks: Vec<Check> = {
            let st = self.state.read();
            st.by_user
                .get(&user)
                .map(|ids| {
                    ids.iter()
                        .filter_map(|id| st.sessions.get(id))
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
                    Ok(false) => {
                        close.send_if_modified(|r| {
                            if r.is_none() {
                                *r = Some(CloseReason::Revoked);
                                true
                            } else {
                                false
                            }
                        });
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "could not re-check a session's credential")
                    }
                }
            }
        });
    }
}

/// Whether a user may see an event, given the channels they are a member of.
pub fn visible_to(e: &Event, user: UserId, channels: &HashSet<ChannelId>) -> bool {
    if e.kind == EventKind::TokensRevoked {
        return false;
    }
    match e.audience() {
        Audience::Everyone => true,
        Audience::User(u) => u == user,
        Audience::Channel(c) => {
            channels.contains(&c)
                || (matches!(
                    e.kind,
                    EventKind::MemberAdded | EventKind::MemberRemoved | EventKind::MemberUpdated
                ) && e.user_id == Some(user))
        }
    }
}

/// Loads what each event names and wraps it for delivery.
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
            EventKind::ReadUpdated | EventKind::TokensRevoked => {}
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
            EventKind::TokensRevoked => Payload::Hidden,
        };
        out.push(Arc::new(Envelope {
            event: e,
            payload,
            encoded: OnceLock::new(),
        }));
    }
    Ok(out)
}

/// Takes events from the feed and dispatches them in order, filling any gap from the log.
async fn dispatcher(hub: Arc<Hub>, mut rx: broadcast::Receiver<Arc<[Event]>>) {
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

/// Marks users away when they go idle.
async fn presence_clock(hub: std::sync::Weak<Hub>) {
    let every = {
        let Some(h) = hub.upgrade() else { return };
        (h.config.idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(15))
    };
    let every = every.min(PRESENCE_SNAPSHOT_EVERY / 2);
    let mut tick = tokio::time::interval(every);
    let mut last_snapshot = Instant::now();
    loop {
        tick.tick().await;
        let Some(h) = hub.upgrade() else { return };
        let now = Instant::now();
        let mut st = h.state.write();
        let users: Vec<UserId> = st.presence.keys().chain(st.local.keys()).copied().collect();
        for u in users {
            st.refresh_presence(u, h.config.idle, now);
        }
        let every_typing = h.config.typing_every;
        st.typing
            .retain(|_, t| now.duration_since(*t) < every_typing * 4);
        st.remote.retain(|_, nodes| {
            nodes.retain(|_, (_, at)| now.duration_since(*at) < REMOTE_PRESENCE_TTL);
            !nodes.is_empty()
        });
        let mut changes = std::mem::take(&mut st.outbox);
        if now.duration_since(last_snapshot) >= PRESENCE_SNAPSHOT_EVERY {
            last_snapshot = now;
            changes = st.local.iter().map(|(u, p)| (*u, *p)).collect();
        }
        drop(st);
        h.publish_presence(changes);
    }
}

/// Deletes events past the retention period, hourly.
async fn pruner(hub: std::sync::Weak<Hub>) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let Some(h) = hub.upgrade() else { return };
        let cutoff = Millis(
            Millis::now().0 - i64::try_from(h.config.retention.as_millis()).unwrap_or(i64::MAX),
        );
        match h
            .store
            .prune_events(cutoff, h.config.retention_min_events)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(pruned = n, "pruned old events"),
            Err(e) => tracing::warn!(error = %e, "could not prune events"),
        }
    }
}

/// Applies other nodes' typing and presence signals.
async fn bus_listener(hub: std::sync::Weak<Hub>, mut rx: broadcast::Receiver<Received>) {
    loop {
        let received = match rx.recv().await {
            Ok(r) => r,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(skipped = n, "cluster signals lagged");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let Some(h) = hub.upgrade() else { return };
        match received.signal {
            Signal::Typing {
                user_id,
                channel_id,
                thread_root_id,
            } => h.relay_typing(user_id, channel_id, thread_root_id),
            Signal::Presence { users } => {
                let now = Instant::now();
                let mut st = h.state.write();
                for (user, presence) in users {
                    let nodes = st.remote.entry(user).or_default();
                    if presence == Presence::Offline {
                        nodes.remove(&received.from);
                    } else {
                        nodes.insert(received.from, (presence, now));
                    }
                    if nodes.is_empty() {
                        st.remote.remove(&user);
                    }
                    st.refresh_presence(user, h.config.idle, now);
                }
                let changes = std::mem::take(&mut st.outbox);
                drop(st);
                h.publish_presence(changes);
            }
            Signal::Committed { .. } => {}
        }
    }
}
