//! The event feed: every committed event, from any writer, in position order, exactly once.
//!
//! The store announces the batches its own writer commits; other processes writing the same
//! database (the admin command line) announce nothing. The feed therefore treats the store's
//! announcements as a fast path and the event log itself as the truth:
//! 1. It remembers the last position it delivered.
//! 2. An announced batch that starts right after that position is delivered as it is.
//! 3. Anything else (a gap, a lagged subscription, or simply a timer tick every
//!    [`POLL_EVERY`]) makes it read the log after its position and deliver what it finds.
//!
//! Because positions are assigned at commit by one writer at a time, what the log holds after
//! a position is always a gap-free continuation, so subscribers never miss or repeat an event.
//!
//! In a cluster, the batches this node's store announces are told to the other nodes as a
//! `Committed` signal on the bus, and a `Committed` signal from another node makes this feed
//! read the log at once (rather than at its next tick).

use std::sync::Arc;
use std::time::Duration;

use enclave_bus::{Bus, Signal};
use enclave_core::Event;
use enclave_store::EventLog;
use tokio::sync::{broadcast, watch};

use crate::error::Result;

/// How often the log is read even when nothing was announced (to see other processes' writes).
pub const POLL_EVERY: Duration = Duration::from_millis(500);
/// Events read from the log per query while catching up.
const PAGE: u32 = 1000;

/// A running feed.
pub struct EventFeed {
    tx: broadcast::Sender<Arc<[Event]>>,
    position: watch::Receiver<i64>,
}

impl EventFeed {
    /// Starts following the log from its current end.
    pub async fn start(store: Arc<dyn EventLog>, bus: Arc<dyn Bus>) -> Result<Arc<EventFeed>> {
        let start = store.last_position().await?;
        let (tx, _) = broadcast::channel(4096);
        let (pos_tx, position) = watch::channel(start);
        let local = store.subscribe();
        let remote = bus.subscribe();
        let f = Follower {
            store,
            bus,
            tx: tx.clone(),
            pos_tx,
            last: start,
        };
        tokio::spawn(run(f, local, remote));
        Ok(Arc::new(EventFeed { tx, position }))
    }

    /// Batches of events delivered after this call, in order. A receiver that falls more than
    /// 4096 batches behind gets `Lagged` and must resume from the log.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<[Event]>> {
        self.tx.subscribe()
    }

    /// The last position delivered to subscribers.
    pub fn position(&self) -> i64 {
        *self.position.borrow()
    }

    /// Watches the delivered position.
    pub fn watch_position(&self) -> watch::Receiver<i64> {
        self.position.clone()
    }
}

struct Follower {
    store: Arc<dyn EventLog>,
    bus: Arc<dyn Bus>,
    tx: broadcast::Sender<Arc<[Event]>>,
    pos_tx: watch::Sender<i64>,
    last: i64,
}

impl Follower {
    fn deliver(&mut self, batch: Arc<[Event]>) {
        if let Some(e) = batch.last() {
            self.last = e.position;
            // No subscribers is fine.
            let _ = self.tx.send(batch);
            self.pos_tx.send_replace(self.last);
        }
    }

    /// Delivers whatever the log holds after the last delivered position.
    async fn catch_up(&mut self) {
        loop {
            match self.store.events_after(self.last, PAGE).await {
                Ok(events) if events.is_empty() => return,
                Ok(events) => {
                    let full = events.len() == PAGE as usize;
                    self.deliver(events.into());
                    if !full {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "event feed could not read the log");
                    return;
                }
            }
        }
    }

    fn on_announced(&mut self, batch: Arc<[Event]>) -> bool {
        let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
            return true;
        };
        if last.position <= self.last {
            return true; // Already delivered from the log.
        }
        if first.position == self.last + 1 {
            self.deliver(batch);
            return true;
        }
        if first.position <= self.last {
            let rest: Vec<Event> = batch
                .iter()
                .filter(|e| e.position > self.last)
                .cloned()
                .collect();
            if rest.first().is_some_and(|e| e.position == self.last + 1) {
                self.deliver(rest.into());
                return true;
            }
        }
        false
    }
}

async fn run(
    mut f: Follower,
    mut local: broadcast::Receiver<Arc<[Event]>>,
    mut remote: broadcast::Receiver<enclave_bus::Received>,
) {
    let clustered = f.bus.is_clustered();
    let mut tick = tokio::time::interval(POLL_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            r = local.recv() => match r {
                Ok(batch) => {
                    let end = batch.last().map(|e| e.position);
                    if !f.on_announced(batch) {
                        f.catch_up().await;
                    }
                    if let (true, Some(position)) = (clustered, end) {
                        let bus = f.bus.clone();
                        tokio::spawn(async move {
                            if let Err(e) = bus.publish(Signal::Committed { position }).await {
                                tracing::debug!(error = %e, "could not announce a commit to the cluster");
                            }
                        });
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => f.catch_up().await,
                Err(broadcast::error::RecvError::Closed) => {
                    f.catch_up().await;
                    return;
                }
            },
            r = remote.recv(), if clustered => match r {
                Ok(enclave_bus::Received { signal: Signal::Committed { position }, .. }) => {
                    if position > f.last {
                        f.catch_up().await;
                    }
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => f.catch_up().await,
                Err(broadcast::error::RecvError::Closed) => {}
            },
            _ = tick.tick() => f.catch_up().await,
        }
    }
}
