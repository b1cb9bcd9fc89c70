//! Real-time delivery: the hub that turns committed events into deliveries for connected
//! sessions, and tracks presence and typing.
//!
//! The hub is transport-agnostic: a door (the WebSocket gateway; later XMPP) registers a
//! [`Session`] for each connection and drains its queue of [`Outbound`] items, encoding them
//! in its own format. One [`Envelope`] is built per event and shared (`Arc`) by every session
//! that receives it, with one slot per door ([`Envelope::encoded`]) where that door caches its encoding, so
//! an event for a channel of 10,000 members is loaded and serialised once.
//!
//! Ordering and completeness:
//! 1. A single dispatcher task takes events from the [`EventFeed`] in position order.
//! 2. For each batch it loads the objects the events name, then, for each event in order,
//!    updates the membership index (a `member.added` before delivering, a `member.removed`
//!    after) and pushes the envelope to every session of the event's audience.
//! 3. A session's queue is bounded; a session that falls behind is closed
//!    ([`CloseReason::SlowConsumer`]) and its client resumes from its last position.
//! 4. Resuming: a door first registers the session (live events start queueing), then replays
//!    the log after the client's position ([`Hub::catch_up`]), then drains the queue, skipping
//!    positions already sent. Registration happens before the replay reads the log, so every
//!    event is either in the replay or in the queue.
//!
//! Who receives an event is decided once, in the core ([`enclave_core::Event::audience`]):
//! live delivery fans out to that audience, replay filters by it.
//!
//! The parts, one per file: `admission` (how many connections a user or an address may hold), `envelope` (what doors receive), `load` (reading the objects
//! events name), `sessions` (the session and membership index), `dispatch` (the feed to the
//! sessions), `replay` (catch-up from the log), `presence` and `typing`.

mod admission;
mod dispatch;
mod envelope;
mod load;
mod presence;
mod replay;
mod sessions;
mod typing;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use enclave_bus::{Bus, Received, Signal};
use enclave_store::Store;
use parking_lot::RwLock;
use tokio::sync::broadcast;
use tokio::time::Instant;

pub use admission::Admission;
pub use envelope::{Envelope, Outbound, Payload};
pub use load::build_envelopes;
pub use presence::PresenceInfo;
pub use replay::CatchUp;
pub use sessions::{CloseReason, Session, SessionId};

use crate::error::Result;
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
    /// retained one cannot be replayed) by the `prune-events` job.
    pub retention: Duration,
    /// Events always kept, however old.
    pub retention_min_events: u32,
    /// Most connections one user may hold open on this node (0: no limit).
    pub max_sockets_per_user: u32,
    /// Most connections from one client address on this node (0: no limit).
    pub max_sockets_per_ip: u32,
}

impl Default for RealtimeConfig {
    fn default() -> Self {
        RealtimeConfig {
            queue_len: 1024,
            idle: Duration::from_secs(600),
            typing_every: Duration::from_secs(2),
            retention: Duration::from_secs(14 * 24 * 3600),
            retention_min_events: 10_000,
            max_sockets_per_user: 50,
            max_sockets_per_ip: 1000,
        }
    }
}

/// Everything the hub keeps in memory, behind one lock.
#[derive(Default)]
struct State {
    index: sessions::SessionIndex,
    presence: presence::PresenceBook,
    typing: typing::TypingBook,
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
    shutting_down: AtomicBool,
    bus: Arc<dyn Bus>,
    admissions: admission::Admissions,
}

/// Events read from the log per query when replaying.
const REPLAY_PAGE: u32 = 500;
/// Most users one session may watch the presence of.
pub const MAX_WATCHED: usize = 500;

impl Hub {
    /// Starts the hub: the dispatcher, the presence clock and the listener for other nodes'
    /// signals.
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
            shutting_down: AtomicBool::new(false),
            bus: bus.clone(),
            admissions: admission::Admissions::default(),
        });
        tokio::spawn(bus_listener(Arc::downgrade(&hub), bus.subscribe()));
        tokio::spawn(dispatch::dispatcher(hub.clone(), rx));
        tokio::spawn(presence::presence_clock(Arc::downgrade(&hub)));
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
        self.state.read().index.sessions.len()
    }

    /// Ends every session (server shutdown); sessions that connect afterwards end at once.
    pub fn shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
        let st = self.state.read();
        for id in st.index.sessions.keys() {
            st.index.close(*id, CloseReason::Shutdown);
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
            Signal::Presence { users } => h.remote_presence(received.from, users),
            Signal::Committed { .. } => {}
        }
    }
}
