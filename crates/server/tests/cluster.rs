//! Three `enclave serve` nodes on one PostgreSQL and one NATS, each started by this test (a
//! private PostgreSQL from the store's harness, a private `nats-server`).
//!
//! Clients connect to different nodes and send concurrently; one node is killed with SIGKILL
//! in the middle of the load; its clients reconnect to the others (senders retry what was not
//! acknowledged with the same `client_msg_id`, receivers resume with `since`). In the end every
//! member has every acknowledged message exactly once, in order, with no gap in `seq`. Typing
//! and presence cross nodes too.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{TestServer, Value, json, s, unique_name};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Ws = WebSocketStream<TcpStream>;

const SENDERS: usize = 9;
const RECEIVERS: usize = 6;

async fn connect(addr: SocketAddr, token: &str, since: Option<i64>) -> Option<(Ws, i64)> {
    let url = match since {
        Some(s) => format!("ws://{addr}/api/v1/ws?since={s}"),
        None => format!("ws://{addr}/api/v1/ws"),
    };
    let mut req = url.into_client_request().ok()?;
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().ok()?);
    let tcp = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr))
        .await
        .ok()?
        .ok()?;
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(5),
        tokio_tungstenite::client_async(req, tcp),
    )
    .await
    .ok()?
    .ok()?;
    let hello = next_json(&mut ws, Duration::from_secs(5)).await?;
    assert_eq!(hello["type"], "hello", "{hello}");
    Some((ws, hello["position"].as_i64().unwrap()))
}

async fn next_json(ws: &mut Ws, timeout: Duration) -> Option<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, ws.next()).await.ok()?? {
            Ok(Message::Text(t)) => return serde_json::from_str(t.as_str()).ok(),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// The nodes a client may use, in order of preference; dead ones are skipped.
#[derive(Clone)]
struct Nodes {
    addrs: Vec<SocketAddr>,
    dead: Arc<Mutex<HashSet<SocketAddr>>>,
}

impl Nodes {
    fn pick(&self, preferred: usize) -> SocketAddr {
        let dead = self.dead.lock().unwrap();
        (0..self.addrs.len())
            .map(|i| self.addrs[(preferred + i) % self.addrs.len()])
            .find(|a| !dead.contains(a))
            .expect("a live node")
    }
}

/// Sends numbered messages over a socket; after a disconnect, reconnects to a live node and
/// first re-sends whatever was not acknowledged (same client ids).
async fn sender(
    nodes: Nodes,
    home: usize,
    token: String,
    channel: String,
    index: usize,
    stop: Arc<AtomicBool>,
) -> HashMap<String, (String, i64)> {
    let mut acked: HashMap<String, (String, i64)> = HashMap::new();
    let mut pending: BTreeMap<u64, String> = BTreeMap::new();
    let mut n = 0u64;
    let mut reconnects = 0;
    'connection: loop {
        let addr = nodes.pick(home);
        let Some((mut ws, _)) = connect(addr, &token, None).await else {
            reconnects += 1;
            assert!(reconnects < 50, "sender {index} cannot reach any node");
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        // Retry the unacknowledged ones first.
        for cid in pending.values() {
            let frame = json!({"type": "send", "channel_id": channel, "text": format!("retry of {cid}"), "client_msg_id": cid});
            if ws
                .send(Message::Text(frame.to_string().into()))
                .await
                .is_err()
            {
                continue 'connection;
            }
        }
        loop {
            let stopping = stop.load(Ordering::Relaxed);
            if stopping && pending.is_empty() {
                let _ = ws.close(None).await;
                return acked;
            }
            if !stopping && pending.len() < 8 {
                let cid = format!("s{index}-{n}");
                pending.insert(n, cid.clone());
                n += 1;
                let frame = json!({"type": "send", "channel_id": channel, "text": format!("{cid} from sender {index}"), "client_msg_id": cid});
                if ws
                    .send(Message::Text(frame.to_string().into()))
                    .await
                    .is_err()
                {
                    continue 'connection;
                }
            }
            let wait = if pending.len() < 8 && !stopping {
                Duration::from_millis(5)
            } else {
                Duration::from_secs(3)
            };
            match tokio::time::timeout(wait, ws.next()).await {
                Err(_) => {
                    if stopping || pending.len() >= 8 {
                        // Nothing came for a while: the node may be gone.
                        continue 'connection;
                    }
                }
                Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => continue 'connection,
                Ok(Some(Ok(Message::Text(t)))) => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap();
                    match v["type"].as_str() {
                        Some("ack") => {
                            let cid = s(&v, "client_msg_id");
                            pending.retain(|_, c| *c != cid);
                            let entry = (s(&v, "message_id"), v["seq"].as_i64().unwrap());
                            if let Some(prev) = acked.insert(cid.clone(), entry.clone()) {
                                assert_eq!(
                                    prev, entry,
                                    "a retry of {cid} must return the same message"
                                );
                            }
                        }
                        Some("error") => panic!("sender {index}: a send was refused: {v}"),
                        _ => {}
                    }
                }
                Ok(Some(Ok(_))) => {}
            }
        }
    }
}

/// Receives the channel's messages; after a disconnect, resumes from its last position on a
/// live node. Returns every `message.created` seen, in arrival order.
async fn receiver(
    nodes: Nodes,
    home: usize,
    token: String,
    channel: String,
    done: Arc<AtomicBool>,
    want_seq: Arc<Mutex<i64>>,
) -> Vec<(i64, String)> {
    let mut seen = Vec::new();
    let mut position: Option<i64> = None;
    let mut reconnects = 0;
    loop {
        let addr = nodes.pick(home);
        let Some((mut ws, hello)) = connect(addr, &token, position).await else {
            reconnects += 1;
            assert!(reconnects < 50, "receiver cannot reach any node");
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        position.get_or_insert(hello);
        loop {
            if done.load(Ordering::Relaxed) {
                let want = *want_seq.lock().unwrap();
                if seen.last().is_some_and(|(seq, _)| *seq >= want) {
                    return seen;
                }
            }
            match tokio::time::timeout(Duration::from_millis(500), ws.next()).await {
                Err(_) => continue,
                Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => break,
                Ok(Some(Ok(Message::Text(t)))) => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap();
                    if let Some(p) = v["position"].as_i64() {
                        assert!(
                            position.is_none_or(|last| p > last),
                            "position {p} after {position:?}: {v}"
                        );
                        position = Some(p);
                        if v["type"] == "message.created"
                            && v["message"]["channel_id"] == channel.as_str()
                        {
                            seen.push((
                                v["message"]["seq"].as_i64().unwrap(),
                                s(&v["message"], "id"),
                            ));
                        }
                    }
                }
                Ok(Some(Ok(_))) => {}
            }
        }
    }
}

async fn wait_for_log(server: &TestServer, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.log().contains(needle) {
        assert!(
            Instant::now() < deadline,
            "no {needle:?} in the log:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_deliver_every_acknowledged_message_once_in_order_through_a_node_crash() {
    let Some((_db, url)) = enclave_store::testing::fresh_database_url().await else {
        return;
    };
    let Some(nats) = enclave_bus::testing::NatsServer::start_or_skip("cluster test") else {
        return;
    };
    let env = [
        ("ENCLAVE_DATABASE__URL", url.as_str()),
        ("ENCLAVE_CLUSTER__NATS_URL", nats.url.as_str()),
    ];
    // Node C starts first, so it takes the event sequencer role; the crash below then also
    // tests the hand-over of position assignment to a surviving node.
    let mut c = TestServer::start_node(&env, true);
    wait_for_log(&c, "this node now assigns event positions").await;
    let a = TestServer::start_node(&env, false);
    let b = TestServer::start_node(&env, false);
    let nodes = Nodes {
        addrs: vec![a.addr(), b.addr(), c.addr()],
        dead: Arc::default(),
    };

    let admin = a.admin_token().await;
    let channel = a
        .create_channel(&admin, &unique_name("cluster"), "public")
        .await;
    let mut tokens = Vec::new();
    for i in 0..RECEIVERS.max(SENDERS) {
        // Users are created through node B and log in through node C: one database.
        let (id, _) = b.create_user(&unique_name(&format!("member{i}"))).await;
        a.add_member(&admin, &channel, &id).await;
        let name = b
            .get(Some(&admin), &format!("/api/v1/users/{id}"), None)
            .await
            .1["username"]
            .as_str()
            .unwrap()
            .to_owned();
        tokens.push(c.login_token(&name, common::USER_PASSWORD).await);
    }

    // Typing and presence cross nodes.
    {
        let (mut on_a, _) = connect(a.addr(), &tokens[0], None).await.unwrap();
        let (mut on_b, _) = connect(b.addr(), &tokens[1], None).await.unwrap();
        let user0 = s(
            &a.get(Some(&tokens[0]), "/api/v1/users/me", None).await.1,
            "id",
        );
        on_b.send(Message::Text(
            json!({"type": "presence.subscribe", "user_ids": [user0]})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut saw_presence = false;
        let mut saw_typing = false;
        while Instant::now() < deadline && !(saw_presence && saw_typing) {
            on_a.send(Message::Text(
                json!({"type": "typing", "channel_id": channel})
                    .to_string()
                    .into(),
            ))
            .await
            .unwrap();
            if let Some(v) = next_json(&mut on_b, Duration::from_millis(700)).await {
                saw_presence |= v["type"] == "presence"
                    && v["user_id"] == user0.as_str()
                    && v["presence"] == "online";
                saw_typing |= v["type"] == "typing"
                    && v["user_id"] == user0.as_str()
                    && v["channel_id"] == channel.as_str();
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        assert!(
            saw_presence,
            "a user connected to node A is online as seen from node B"
        );
        assert!(saw_typing, "typing on node A reaches a member on node B");
    }

    let done = Arc::new(AtomicBool::new(false));
    let want_seq = Arc::new(Mutex::new(i64::MAX));
    let receivers: Vec<_> = (0..RECEIVERS)
        .map(|i| {
            tokio::spawn(receiver(
                nodes.clone(),
                i % 3,
                tokens[i].clone(),
                channel.clone(),
                done.clone(),
                want_seq.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..SENDERS)
        .map(|i| {
            tokio::spawn(sender(
                nodes.clone(),
                i % 3,
                tokens[i].clone(),
                channel.clone(),
                i,
                stop.clone(),
            ))
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(2000)).await;
    nodes.dead.lock().unwrap().insert(c.addr());
    c.kill9();
    // A surviving node takes over position assignment (the crashed node's lock ends with its
    // database session).
    let deadline = Instant::now() + Duration::from_secs(15);
    while !(a.log().contains("this node now assigns event positions")
        || b.log().contains("this node now assigns event positions"))
    {
        assert!(
            Instant::now() < deadline,
            "no node took over the event sequencer"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    stop.store(true, Ordering::Relaxed);

    let mut acked: HashMap<String, (String, i64)> = HashMap::new();
    for t in senders {
        acked.extend(
            tokio::time::timeout(Duration::from_secs(60), t)
                .await
                .expect("senders finish")
                .unwrap(),
        );
    }
    assert!(
        acked.len() > 100,
        "only {} messages were acknowledged",
        acked.len()
    );
    let (status, ch) = a
        .get(Some(&admin), &format!("/api/v1/channels/{channel}"), None)
        .await;
    assert_eq!(status, 200);
    let last_seq = ch["last_seq"].as_i64().unwrap();
    assert_eq!(
        last_seq as usize,
        acked.len(),
        "the channel holds exactly the acknowledged messages"
    );
    *want_seq.lock().unwrap() = last_seq;
    done.store(true, Ordering::Relaxed);

    let by_id: HashMap<&String, i64> = acked.values().map(|(id, seq)| (id, *seq)).collect();
    for (i, t) in receivers.into_iter().enumerate() {
        let seen = tokio::time::timeout(Duration::from_secs(60), t)
            .await
            .expect("receivers catch up")
            .unwrap();
        let seqs: Vec<i64> = seen.iter().map(|(seq, _)| *seq).collect();
        let first = seqs.first().copied().unwrap_or(1);
        let expected: Vec<i64> = (first..=last_seq).collect();
        assert_eq!(
            seqs, expected,
            "receiver {i} must see every message once, in order, without gaps"
        );
        assert_eq!(first, 1, "receiver {i} was connected before the first send");
        for (seq, id) in &seen {
            assert_eq!(
                by_id.get(id),
                Some(seq),
                "receiver {i} got a message nobody had acknowledged: {id}"
            );
        }
    }
    eprintln!(
        "cluster test: {} acknowledged messages delivered to {RECEIVERS} receivers across a node crash",
        acked.len()
    );
    drop(a);
    drop(b);
}
