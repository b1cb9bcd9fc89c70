//! Signals between Enclave nodes.
//!
//! The event log in the database is the truth; the bus only carries what makes a cluster
//! prompt and live:
//! - [`Signal::Committed`]: "the log now reaches position P": other nodes read the log after
//!   their own position at once instead of at their next poll.
//! - [`Signal::Typing`]: typing notices, which are never stored.
//! - [`Signal::Presence`]: each node's view of its own connected users (online/away), sent
//!   on change and as a periodic snapshot so that a node that dies is forgotten after a while.
//!
//! Delivery is at most once (NATS core). Nothing that must not be lost travels only here.
//!
//! [`LocalBus`] is the single-node bus (nobody else to tell); [`NatsBus`] connects nodes
//! through a NATS server. Messages are short text lines (see [`encode`]).

#[cfg(feature = "testing")]
pub mod testing;

use std::sync::Arc;

use async_trait::async_trait;
use enclave_core::{ChannelId, MessageId, Presence, UserId};
use tokio::sync::broadcast;

/// Identifies a node (a process) in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeId(pub u64);

impl NodeId {
    /// A random id for this process.
    pub fn random() -> NodeId {
        let mut b = [0u8; 8];
        if getrandom::fill(&mut b).is_err() {
            return NodeId(u64::from(std::process::id()));
        }
        NodeId(u64::from_le_bytes(b))
    }
}

/// Something one node tells the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// The event log is committed (and positioned) up to here.
    Committed { position: i64 },
    /// A member is typing in a channel.
    Typing {
        user_id: UserId,
        channel_id: ChannelId,
        thread_root_id: Option<MessageId>,
    },
    /// The sending node's presence for these users; `Offline` means "no longer connected here".
    Presence { users: Vec<(UserId, Presence)> },
}

/// A signal from another node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub from: NodeId,
    pub signal: Signal,
}

/// A failure to publish.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bus unavailable: {0}")]
    Unavailable(String),
}

/// The bus between nodes.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    fn node_id(&self) -> NodeId;
    /// Tells the other nodes (never this one).
    async fn publish(&self, signal: Signal) -> Result<(), Error>;
    /// Signals from other nodes.
    fn subscribe(&self) -> broadcast::Receiver<Received>;
    /// Whether other nodes may exist (false for the in-process bus).
    fn is_clustered(&self) -> bool;
}

/// The single-node bus.
pub struct LocalBus {
    node: NodeId,
    tx: broadcast::Sender<Received>,
}

impl LocalBus {
    pub fn new() -> Arc<LocalBus> {
        Arc::new(LocalBus {
            node: NodeId::random(),
            tx: broadcast::channel(16).0,
        })
    }
}

#[async_trait]
impl Bus for LocalBus {
    fn node_id(&self) -> NodeId {
        self.node
    }
    async fn publish(&self, _signal: Signal) -> Result<(), Error> {
        Ok(())
    }
    fn subscribe(&self) -> broadcast::Receiver<Received> {
        self.tx.subscribe()
    }
    fn is_clustered(&self) -> bool {
        false
    }
}

fn presence_code(p: Presence) -> char {
    match p {
        Presence::Online => 'o',
        Presence::Away => 'a',
        Presence::Offline => 'f',
    }
}

/// Encodes a signal from `node` as one line: `v1 NODE KIND FIELDS...`.
pub fn encode(node: NodeId, signal: &Signal) -> String {
    match signal {
        Signal::Committed { position } => format!("v1 {:x} C {position}", node.0),
        Signal::Typing {
            user_id,
            channel_id,
            thread_root_id,
        } => {
            format!(
                "v1 {:x} T {} {} {}",
                node.0,
                user_id.0,
                channel_id.0,
                thread_root_id.map_or(0, |m| m.0)
            )
        }
        Signal::Presence { users } => {
            let list: Vec<String> = users
                .iter()
                .map(|(u, p)| format!("{}:{}", u.0, presence_code(*p)))
                .collect();
            format!("v1 {:x} P {}", node.0, list.join(","))
        }
    }
}

/// Decodes a line made by [`encode`]; anything else is `None`.
pub fn decode(line: &str) -> Option<Received> {
    let mut parts = line.split(' ');
    if parts.next()? != "v1" {
        return None;
    }
    let from = NodeId(u64::from_str_radix(parts.next()?, 16).ok()?);
    let num = |s: Option<&str>| -> Option<i64> { s?.parse().ok() };
    let signal = match parts.next()? {
        "C" => Signal::Committed {
            position: num(parts.next())?,
        },
        "T" => {
            let user_id = UserId(num(parts.next())?);
            let channel_id = ChannelId(num(parts.next())?);
            let root = num(parts.next())?;
            Signal::Typing {
                user_id,
                channel_id,
                thread_root_id: (root > 0).then_some(MessageId(root)),
            }
        }
        "P" => {
            let list = parts.next().unwrap_or("");
            let mut users = Vec::new();
            for item in list.split(',').filter(|s| !s.is_empty()) {
                let (u, p) = item.split_once(':')?;
                let presence = match p {
                    "o" => Presence::Online,
                    "a" => Presence::Away,
                    "f" => Presence::Offline,
                    _ => return None,
                };
                users.push((UserId(u.parse().ok()?), presence));
            }
            Signal::Presence { users }
        }
        _ => return None,
    };
    if parts.next().is_some() {
        return None;
    }
    Some(Received { from, signal })
}

/// The bus over a NATS server. All nodes of one cluster share the subject
/// `enclave.<cluster>.signals`.
pub struct NatsBus {
    node: NodeId,
    client: async_nats::Client,
    subject: String,
    tx: broadcast::Sender<Received>,
}

impl NatsBus {
    /// Connects to NATS and starts receiving the cluster's signals.
    pub async fn connect(url: &str, cluster: &str) -> Result<Arc<NatsBus>, Error> {
        // `nats://a:4222,nats://b:4222`: the servers of a NATS cluster, tried in turn.
        let servers = url
            .split(',')
            .map(|u| u.trim().parse::<async_nats::ServerAddr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::Unavailable(format!("bad NATS address: {e}")))?;
        let client = async_nats::ConnectOptions::new()
            .name("enclave")
            .retry_on_initial_connect()
            .connect(servers)
            .await
            .map_err(|e| Error::Unavailable(e.to_string()))?;
        let subject = format!("enclave.{cluster}.signals");
        let mut sub = client
            .subscribe(subject.clone())
            .await
            .map_err(|e| Error::Unavailable(e.to_string()))?;
        let node = NodeId::random();
        let (tx, _) = broadcast::channel(8192);
        let fan = tx.clone();
        tokio::spawn(async move {
            use futures_util::StreamExt;
            while let Some(msg) = sub.next().await {
                let Ok(text) = std::str::from_utf8(&msg.payload) else {
                    continue;
                };
                match decode(text) {
                    Some(r) if r.from != node => {
                        let _ = fan.send(r);
                    }
                    Some(_) => {}
                    None => tracing::debug!("ignoring an unreadable bus message"),
                }
            }
        });
        // Make sure the subscription is registered with the server before anyone publishes.
        client
            .flush()
            .await
            .map_err(|e| Error::Unavailable(e.to_string()))?;
        Ok(Arc::new(NatsBus {
            node,
            client,
            subject,
            tx,
        }))
    }
}

#[async_trait]
impl Bus for NatsBus {
    fn node_id(&self) -> NodeId {
        self.node
    }
    async fn publish(&self, signal: Signal) -> Result<(), Error> {
        let line = encode(self.node, &signal);
        self.client
            .publish(self.subject.clone(), line.into())
            .await
            .map_err(|e| Error::Unavailable(e.to_string()))
    }
    fn subscribe(&self) -> broadcast::Receiver<Received> {
        self.tx.subscribe()
    }
    fn is_clustered(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_round_trip() {
        let node = NodeId(0xdead_beef);
        let cases = [
            Signal::Committed { position: 42 },
            Signal::Typing {
                user_id: UserId(7),
                channel_id: ChannelId(9),
                thread_root_id: None,
            },
            Signal::Typing {
                user_id: UserId(7),
                channel_id: ChannelId(9),
                thread_root_id: Some(MessageId(3)),
            },
            Signal::Presence { users: vec![] },
            Signal::Presence {
                users: vec![
                    (UserId(1), Presence::Online),
                    (UserId(2), Presence::Away),
                    (UserId(3), Presence::Offline),
                ],
            },
        ];
        for s in cases {
            let line = encode(node, &s);
            assert_eq!(
                decode(&line),
                Some(Received {
                    from: node,
                    signal: s
                }),
                "{line}"
            );
        }
    }

    #[test]
    fn garbage_is_refused() {
        for bad in [
            "",
            "v2 1 C 3",
            "v1 zz C 3",
            "v1 1 C x",
            "v1 1 X 3",
            "v1 1 T 1 2",
            "v1 1 P 1:q",
            "v1 1 C 3 4",
            "v1 1 P 1",
        ] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }
}
