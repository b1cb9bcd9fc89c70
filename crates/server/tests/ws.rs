//! The real-time gateway over real WebSockets against the real `enclave` binary: delivery,
//! membership changes, resume, ordering under concurrency, resync, malformed frames,
//! authentication, sends, typing, presence, revocation, heartbeats, slow consumers and
//! shutdown. The contract is `docs/api/realtime.md`.
//!
//! Tests on the shared server see other tests' `user.*` events (they go to everyone), so they
//! look for the frames they expect and ignore the rest; tests that need a particular
//! configuration or global quiet start their own server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::ws::{Connect, FRAME_TIMEOUT, Next, WsClient, concerns_channel};
use common::{StatusCode, TestServer, Value, assert_error, json, s, unique_name};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// How long to listen for a frame that must not come (after a frame that was sent at the same
/// time reached someone else).
const QUIET: Duration = Duration::from_millis(400);

async fn user(server: &TestServer, prefix: &str) -> (String, String) {
    server.create_user(&unique_name(prefix)).await
}

fn is_created(v: &Value, message_id: &str) -> bool {
    v["type"] == "message.created" && v["message"]["id"] == message_id
}

async fn remove_member(server: &TestServer, token: &str, channel: &str, user_id: &str) {
    let (status, body) = server
        .delete(
            Some(token),
            &format!("/api/v1/channels/{channel}/members/{user_id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "removing {user_id}: {body}");
}

async fn open_dm(server: &TestServer, token: &str, other: &str) -> String {
    let (status, body) = server
        .post(
            Some(token),
            "/api/v1/dms",
            Some(json!({ "user_ids": [other] })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "opening a DM: {body}");
    s(&body, "id")
}

/// `GET /api/v1/events?since=` as `token`.
async fn events_since(server: &TestServer, token: &str, since: i64) -> (StatusCode, Value) {
    server
        .get(Some(token), &format!("/api/v1/events?since={since}"), None)
        .await
}

// ---------------------------------------------------------------------------------------------
// 1. Delivery

#[tokio::test]
async fn messages_reach_every_member_and_nobody_else() {
    let server = TestServer::shared();
    let (_a_id, a) = user(&server, "deliv-a").await;
    let (b_id, b) = user(&server, "deliv-b").await;
    let (c_id, c) = user(&server, "deliv-c").await;
    let (_d_id, d) = user(&server, "deliv-d").await;
    let public = server
        .create_channel(&a, &unique_name("deliv-pub"), "public")
        .await;
    let private = server
        .create_channel(&a, &unique_name("deliv-priv"), "private")
        .await;
    for ch in [&public, &private] {
        server.add_member(&a, ch, &b_id).await;
        server.add_member(&a, ch, &c_id).await;
    }
    let dm = open_dm(&server, &a, &b_id).await;

    let mut socks = Vec::new();
    for t in [&a, &b, &c, &d] {
        socks.push(WsClient::connect(&server, t).await);
    }
    for (i, w) in socks.iter().enumerate() {
        assert!(w.hello["position"].is_i64(), "{}", w.hello);
        assert!(w.hello["session_id"].is_string(), "{}", w.hello);
        assert!(w.hello["heartbeat_secs"].is_u64(), "{}", w.hello);
        assert!(w.hello["user_id"].is_string(), "socket {i}");
    }

    // (channel, indexes of members' sockets, indexes of the others)
    let cases: [(&str, &[usize], &[usize]); 3] = [
        (&public, &[0, 1, 2], &[3]),
        (&private, &[0, 1, 2], &[3]),
        (&dm, &[0, 1], &[2, 3]),
    ];
    for (round, (ch, members, others)) in cases.iter().enumerate() {
        for k in 0..3 {
            let msg = server
                .post_message(&a, ch, &format!("round {round} message {k}"))
                .await;
            let id = s(&msg, "id");
            let mut position = None;
            for &i in *members {
                let ev = socks[i]
                    .next_where(FRAME_TIMEOUT, "the new message", |v| is_created(v, &id))
                    .await;
                assert_eq!(
                    ev["message"], msg,
                    "the event carries the message as REST returned it"
                );
                assert_eq!(ev["message"]["seq"], k + 1);
                let p = ev["position"].as_i64().expect("an event has a position");
                // One event: the same position for every member.
                assert_eq!(*position.get_or_insert(p), p, "socket {i}: {ev}");
            }
            for &i in *others {
                socks[i]
                    .expect_none_where(QUIET, "frames of a channel one is not in", |v| {
                        concerns_channel(v, ch)
                    })
                    .await;
            }
        }
    }
    // Each socket saw increasing positions (checked on every frame); every event frame has a
    // type and a position.
    for w in &socks {
        for e in &w.events {
            assert!(e["type"].as_str().is_some_and(|t| t.contains('.')), "{e}");
            assert!(e["position"].is_i64(), "{e}");
        }
    }
    assert_eq!(
        socks[0]
            .events
            .iter()
            .filter(|e| e["type"] == "message.created")
            .count(),
        9
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Membership changes on open sockets

#[tokio::test]
async fn membership_changes_take_effect_on_open_sockets() {
    let server = TestServer::shared();
    let (_a_id, a) = user(&server, "memb-a").await;
    let (b_id, b) = user(&server, "memb-b").await;
    let mut wa = WsClient::connect(&server, &a).await;
    let mut wb = WsClient::connect(&server, &b).await;

    for kind in ["public", "private"] {
        let ch = server.create_channel(&a, &unique_name("memb"), kind).await;
        let before = server.post_message(&a, &ch, "before b joins").await;
        wa.next_where(FRAME_TIMEOUT, "own message", |v| {
            is_created(v, &s(&before, "id"))
        })
        .await;
        wb.expect_none_where(QUIET, "a channel b is not in", |v| concerns_channel(v, &ch))
            .await;

        server.add_member(&a, &ch, &b_id).await;
        let added = wb
            .next_where(FRAME_TIMEOUT, "member.added", |v| concerns_channel(v, &ch))
            .await;
        assert_eq!(added["type"], "member.added", "{added}");
        assert_eq!(added["channel_id"], ch.as_str());
        assert_eq!(added["user_id"], b_id.as_str());
        assert_eq!(added["channel"]["id"], ch.as_str());
        assert_eq!(added["membership"]["user_id"], b_id.as_str(), "{added}");

        // The very next thing b hears of the channel is its next message.
        let m1 = server.post_message(&a, &ch, "after b joined").await;
        let got = wb
            .next_where(FRAME_TIMEOUT, "the new message", |v| {
                concerns_channel(v, &ch)
            })
            .await;
        assert!(is_created(&got, &s(&m1, "id")), "{got}");
        assert_eq!(got["message"], m1);

        remove_member(&server, &a, &ch, &b_id).await;
        let removed = wb
            .next_where(FRAME_TIMEOUT, "member.removed", |v| {
                concerns_channel(v, &ch)
            })
            .await;
        assert_eq!(removed["type"], "member.removed", "{removed}");
        assert_eq!(removed["user_id"], b_id.as_str());
        assert!(removed.get("membership").is_none(), "{removed}");

        let m2 = server.post_message(&a, &ch, "after b left").await;
        wa.next_where(FRAME_TIMEOUT, "own message", |v| {
            is_created(v, &s(&m2, "id"))
        })
        .await;
        wb.expect_none_where(QUIET, "frames of a channel b left", |v| {
            concerns_channel(v, &ch)
        })
        .await;
    }

    // Joining and leaving by oneself works the same way.
    let ch = server
        .create_channel(&a, &unique_name("memb-join"), "public")
        .await;
    let (status, body) = server
        .post(Some(&b), &format!("/api/v1/channels/{ch}/join"), None)
        .await;
    assert!(status.is_success(), "{status} {body}");
    let added = wb
        .next_where(FRAME_TIMEOUT, "member.added", |v| concerns_channel(v, &ch))
        .await;
    assert_eq!(added["type"], "member.added", "{added}");
    let m = server.post_message(&a, &ch, "welcome").await;
    let got = wb
        .next_where(FRAME_TIMEOUT, "the message", |v| concerns_channel(v, &ch))
        .await;
    assert!(is_created(&got, &s(&m, "id")), "{got}");
    let (status, body) = server
        .post(Some(&b), &format!("/api/v1/channels/{ch}/leave"), None)
        .await;
    assert!(status.is_success(), "{status} {body}");
    let removed = wb
        .next_where(FRAME_TIMEOUT, "member.removed", |v| {
            concerns_channel(v, &ch)
        })
        .await;
    assert_eq!(removed["type"], "member.removed", "{removed}");
    server.post_message(&a, &ch, "bye").await;
    wb.expect_none_where(QUIET, "frames of a channel b left", |v| {
        concerns_channel(v, &ch)
    })
    .await;
    wb.assert_alive().await;
}

// ---------------------------------------------------------------------------------------------
// 3. Resume

#[tokio::test]
async fn resume_replays_exactly_the_missed_events_then_goes_live() {
    let server = TestServer::shared();
    let (a_id, a) = user(&server, "resume-a").await;
    let (b_id, b) = user(&server, "resume-b").await;
    let ch = server
        .create_channel(&a, &unique_name("resume"), "private")
        .await;
    server.add_member(&a, &ch, &b_id).await;

    let mut wb = WsClient::connect(&server, &b).await;
    let m1 = server.post_message(&a, &ch, "first").await;
    let m1_id = s(&m1, "id");
    wb.next_where(FRAME_TIMEOUT, "m1", |v| is_created(v, &m1_id))
        .await;
    let since = wb.last_position();
    wb.close().await;

    // While b is away.
    let m2 = server.post_message(&a, &ch, "second").await;
    let m2_id = s(&m2, "id");
    let (st, edited) = server
        .patch(
            Some(&a),
            &format!("/api/v1/messages/{m1_id}"),
            Some(json!({ "text": "first, edited" })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{edited}");
    let (st, body) = server
        .put(
            Some(&a),
            &format!("/api/v1/messages/{m1_id}/reactions/+1"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let (st, body) = server
        .delete(Some(&a), &format!("/api/v1/messages/{m2_id}"), None)
        .await;
    assert!(st.is_success(), "{st} {body}");

    // The same catch-up over HTTP.
    let (st, page) = events_since(&server, &b, since).await;
    assert_eq!(st, StatusCode::OK, "{page}");
    assert_eq!(page["has_more"], false, "{page}");
    let http_events = page["events"].as_array().unwrap().clone();
    let http_end = page["position"].as_i64().unwrap();
    let last_http = http_events.last().expect("events")["position"]
        .as_i64()
        .unwrap();
    assert!(http_end >= last_http, "{page}");

    let kinds = |evs: &[&Value]| -> Vec<(String, i64)> {
        evs.iter()
            .map(|e| (s(e, "type"), e["position"].as_i64().unwrap()))
            .collect()
    };
    // Paging with `limit` walks the same events, `position` leading from page to page.
    let mut paged = Vec::new();
    let mut pos = since;
    while pos < http_end {
        let (st, p) = server
            .get(
                Some(&b),
                &format!("/api/v1/events?since={pos}&limit=2"),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{p}");
        let evs = p["events"].as_array().unwrap();
        assert!(evs.len() <= 2, "{p}");
        let next = p["position"].as_i64().unwrap();
        assert!(next > pos, "position must move on: {p}");
        paged.extend(evs.iter().cloned());
        pos = next;
    }
    paged.retain(|e| e["position"].as_i64().unwrap() <= http_end);
    let paged: Vec<&Value> = paged.iter().collect();
    let http_refs: Vec<&Value> = http_events.iter().collect();
    assert_eq!(kinds(&paged), kinds(&http_refs), "paged catch-up");

    let mut wb = WsClient::connect_since(&server, &b, Some(since)).await;
    assert_eq!(wb.hello["position"], since, "hello.position is `since`");
    while wb.last_position() < last_http {
        wb.next_frame(FRAME_TIMEOUT).await;
    }
    // Anything else the replay holds up to the HTTP end comes at once.
    while let Next::Frame(_) = wb.try_next(Duration::from_millis(200)).await {}
    let replayed: Vec<&Value> = wb
        .events
        .iter()
        .filter(|e| e["position"].as_i64().unwrap() <= http_end)
        .collect();
    assert_eq!(
        kinds(&replayed),
        kinds(&http_refs),
        "the socket replay and GET /events agree"
    );

    let mine: Vec<&Value> = replayed
        .iter()
        .copied()
        .filter(|e| concerns_channel(e, &ch))
        .collect();
    let summary: Vec<(String, String)> = mine
        .iter()
        .map(|e| (s(e, "type"), s(&e["message"], "id")))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("message.created".to_owned(), m2_id.clone()),
            ("message.edited".to_owned(), m1_id.clone()),
            ("reaction.added".to_owned(), m1_id.clone()),
            ("message.deleted".to_owned(), m2_id.clone()),
        ],
        "exactly the missed events, in order: {mine:?}"
    );
    // Payloads show the current state of their object.
    assert_eq!(mine[0]["message"]["deleted"], true, "{}", mine[0]);
    assert_eq!(mine[1]["message"]["text"], "first, edited");
    assert_eq!(mine[2]["emoji"], "+1");
    assert_eq!(mine[2]["user_id"], a_id.as_str());
    assert_eq!(mine[3]["message"]["deleted"], true);
    assert_eq!(mine[3]["message"]["text"], "");

    // Then live, without a repeat.
    let m3 = server.post_message(&a, &ch, "third").await;
    let next = wb
        .next_where(FRAME_TIMEOUT, "the live message", |v| {
            concerns_channel(v, &ch)
        })
        .await;
    assert!(is_created(&next, &s(&m3, "id")), "{next}");
    wb.expect_none_where(QUIET, "a repeat", |v| concerns_channel(v, &ch))
        .await;
}

// ---------------------------------------------------------------------------------------------
// 4. Concurrency: many senders, one receiver that keeps reconnecting

/// A message as acknowledged to its sender.
#[derive(Debug, Clone)]
struct Acked {
    client_msg_id: String,
    id: String,
    channel: String,
    seq: i64,
}

/// A socket sender: bursts of `send` frames, waiting for their acks; a few retries.
async fn socket_sender(
    server: Arc<TestServer>,
    token: String,
    channels: Vec<String>,
    n: usize,
    stop: Arc<AtomicBool>,
    who: usize,
) -> Vec<Acked> {
    let mut w = WsClient::connect(&server, &token).await;
    let mut acked = Vec::new();
    let mut k = 0;
    let mut burst = 0;
    while k < n || !stop.load(Ordering::Relaxed) {
        if k >= 200 {
            break;
        }
        let size = 1 + (who + burst) % 4;
        let mut waiting: HashMap<String, String> = HashMap::new();
        for _ in 0..size {
            let ch = channels[(who + k) % channels.len()].clone();
            let cid = format!("s{who}-{k}");
            w.send_json(&json!({
                "type": "send", "channel_id": ch, "text": format!("from {who}: {k}"),
                "client_msg_id": cid,
            }))
            .await;
            waiting.insert(cid, ch);
            k += 1;
        }
        while !waiting.is_empty() {
            let v = w
                .next_where(FRAME_TIMEOUT, "an ack", |v| {
                    v["type"] == "ack" || v["type"] == "error"
                })
                .await;
            assert_eq!(v["type"], "ack", "{v}");
            let cid = s(&v, "client_msg_id");
            let ch = waiting.remove(&cid).expect("an ack for a pending send");
            assert_eq!(v["channel_id"], ch.as_str(), "{v}");
            assert_eq!(v["created"], true, "{v}");
            acked.push(Acked {
                client_msg_id: cid,
                id: s(&v, "message_id"),
                channel: ch,
                seq: v["seq"].as_i64().unwrap(),
            });
        }
        // Now and then, retry the last send: the same message comes back, nothing new.
        if burst % 3 == 0 {
            let last = acked.last().unwrap().clone();
            w.send_json(&json!({
                "type": "send", "channel_id": last.channel, "text": "retried",
                "client_msg_id": last.client_msg_id,
            }))
            .await;
            let v = w
                .next_where(FRAME_TIMEOUT, "the retry's ack", |v| v["type"] == "ack")
                .await;
            assert_eq!(v["created"], false, "{v}");
            assert_eq!(v["message_id"], last.id.as_str(), "{v}");
            assert_eq!(v["seq"], last.seq, "{v}");
        }
        burst += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    w.close().await;
    acked
}

/// A REST sender.
async fn rest_sender(
    server: Arc<TestServer>,
    token: String,
    channels: Vec<String>,
    n: usize,
    stop: Arc<AtomicBool>,
    who: usize,
) -> Vec<Acked> {
    let mut acked = Vec::new();
    let mut k = 0;
    while (k < n || !stop.load(Ordering::Relaxed)) && k < 200 {
        let ch = channels[(who + k) % channels.len()].clone();
        let (status, m) = server
            .post(
                Some(&token),
                &format!("/api/v1/channels/{ch}/messages"),
                Some(json!({ "text": format!("rest {who}: {k}"), "client_msg_id": format!("r{who}-{k}") })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{m}");
        acked.push(Acked {
            client_msg_id: format!("r{who}-{k}"),
            id: s(&m, "id"),
            channel: ch,
            seq: m["seq"].as_i64().unwrap(),
        });
        k += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_senders_and_a_reconnecting_receiver_lose_nothing() {
    const SENDERS: usize = 20;
    const MIN_PER_SENDER: usize = 8;
    const RECONNECTS: usize = 10;

    let server = TestServer::shared();
    let (_, owner) = user(&server, "conc-owner").await;
    let mut channels = Vec::new();
    for _ in 0..3 {
        channels.push(
            server
                .create_channel(&owner, &unique_name("conc"), "private")
                .await,
        );
    }
    let mut joins = tokio::task::JoinSet::new();
    for i in 0..=SENDERS {
        let (server, owner, channels) = (server.clone(), owner.clone(), channels.clone());
        joins.spawn(async move {
            let (id, token) = server.create_user(&unique_name(&format!("conc{i}"))).await;
            for ch in &channels {
                server.add_member(&owner, ch, &id).await;
            }
            (i, token)
        });
    }
    let mut tokens = vec![String::new(); SENDERS + 1];
    while let Some(r) = joins.join_next().await {
        let (i, t) = r.unwrap();
        tokens[i] = t;
    }
    let receiver_token = tokens.pop().unwrap();
    let our: HashSet<String> = channels.iter().cloned().collect();

    // The receiver connects before anyone sends.
    let first = WsClient::connect(&server, &receiver_token).await;
    let stop = Arc::new(AtomicBool::new(false));
    let (expect_tx, expect_rx) = tokio::sync::oneshot::channel::<HashSet<String>>();
    let receiver = {
        let (server, token, stop, our) = (
            server.clone(),
            receiver_token.clone(),
            stop.clone(),
            our.clone(),
        );
        tokio::spawn(async move {
            let mut w = first;
            // (channel, seq, message id) in the order received, over every connection.
            let mut got: Vec<(String, i64, String)> = Vec::new();
            let record = |v: &Value, got: &mut Vec<(String, i64, String)>| {
                if v["type"] == "message.created" {
                    let ch = s(&v["message"], "channel_id");
                    if our.contains(&ch) {
                        got.push((
                            ch,
                            v["message"]["seq"].as_i64().unwrap(),
                            s(&v["message"], "id"),
                        ));
                    }
                }
            };
            for cycle in 0..RECONNECTS {
                let listen = Duration::from_millis(40 + (cycle as u64 * 37) % 120);
                let until = Instant::now() + listen;
                loop {
                    let left = until.saturating_duration_since(Instant::now());
                    match w.try_next(left).await {
                        Next::Frame(v) => record(&v, &mut got),
                        Next::Timeout => break,
                        Next::Closed(c) => panic!("the receiver's socket closed: {c:?}"),
                    }
                }
                let since = w.last_position();
                if cycle % 2 == 0 {
                    drop(w); // Abruptly.
                } else {
                    w.close().await;
                }
                w = WsClient::connect_since(&server, &token, Some(since)).await;
                assert_eq!(w.hello["position"], since);
            }
            stop.store(true, Ordering::Relaxed);
            let expected = expect_rx.await.unwrap();
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let have: HashSet<&String> = got.iter().map(|g| &g.2).collect();
                if expected.iter().all(|id| have.contains(id)) {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the receiver is missing {} messages",
                    expected.iter().filter(|id| !have.contains(id)).count()
                );
                match w.try_next(Duration::from_secs(1)).await {
                    Next::Frame(v) => record(&v, &mut got),
                    Next::Timeout => {}
                    Next::Closed(c) => panic!("the receiver's socket closed: {c:?}"),
                }
            }
            // Nothing more (no late duplicate).
            while let Next::Frame(v) = w.try_next(Duration::from_millis(300)).await {
                record(&v, &mut got);
            }
            got
        })
    };

    let mut senders = tokio::task::JoinSet::new();
    for (who, token) in tokens.into_iter().enumerate() {
        let (server, channels, stop) = (server.clone(), channels.clone(), stop.clone());
        if who % 4 == 3 {
            senders.spawn(rest_sender(
                server,
                token,
                channels,
                MIN_PER_SENDER,
                stop,
                who,
            ));
        } else {
            senders.spawn(socket_sender(
                server,
                token,
                channels,
                MIN_PER_SENDER,
                stop,
                who,
            ));
        }
    }
    let mut acked = Vec::new();
    while let Some(r) = senders.join_next().await {
        acked.extend(r.unwrap());
    }
    let expected: HashSet<String> = acked.iter().map(|a| a.id.clone()).collect();
    assert_eq!(
        expected.len(),
        acked.len(),
        "every acknowledged send is its own message"
    );
    expect_tx.send(expected.clone()).unwrap();
    let got = receiver.await.unwrap();

    // Every acknowledged message exactly once.
    let mut count: HashMap<&str, usize> = HashMap::new();
    for g in &got {
        *count.entry(g.2.as_str()).or_default() += 1;
    }
    let dups: Vec<_> = count.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dups.is_empty(), "duplicates: {dups:?}");
    let unexpected: Vec<_> = count.keys().filter(|id| !expected.contains(**id)).collect();
    assert!(
        unexpected.is_empty(),
        "messages nobody sent: {unexpected:?}"
    );
    assert_eq!(got.len(), expected.len());
    // Per channel: seq 1..=N in the order received, and as acknowledged.
    let acked_seq: HashMap<&str, (&str, i64)> = acked
        .iter()
        .map(|a| (a.id.as_str(), (a.channel.as_str(), a.seq)))
        .collect();
    let mut per_channel: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for (ch, seq, id) in &got {
        assert_eq!(acked_seq[id.as_str()], (ch.as_str(), *seq), "message {id}");
        per_channel.entry(ch.as_str()).or_default().push(*seq);
    }
    assert_eq!(per_channel.len(), 3);
    for (ch, seqs) in per_channel {
        let n = acked.iter().filter(|a| a.channel == ch).count() as i64;
        assert_eq!(
            seqs,
            (1..=n).collect::<Vec<_>>(),
            "channel {ch}: seq must be 1..={n} in order"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Positions that cannot be replayed

#[tokio::test]
async fn unknown_or_pruned_positions_require_a_resync() {
    let server = TestServer::start();
    let (_, a) = user(&server, "resync").await;
    let ch = server
        .create_channel(&a, &unique_name("resync"), "public")
        .await;
    let mut w = WsClient::connect(&server, &a).await;
    let start = w.last_position();

    let expect_resync = async |since: i64| {
        let mut r = WsClient::connect_since(&server, &a, Some(since)).await;
        assert_eq!(r.hello["type"], "hello");
        let err = r.next_frame(FRAME_TIMEOUT).await;
        assert_eq!(err["type"], "error", "since={since}: {err}");
        assert_eq!(err["code"], "resync_required", "since={since}: {err}");
        let (code, rest) = r.read_until_close(FRAME_TIMEOUT).await;
        assert_eq!(code, Some(4010), "since={since}; then {rest:?}");
        assert!(rest.is_empty(), "{rest:?}");
        let (status, body) = events_since(&server, &a, since).await;
        assert_eq!(status, StatusCode::GONE, "since={since}: {body}");
        assert_error("GET /events", &body, "resync_required");
    };
    // Newer than the newest position, or negative.
    expect_resync(start + 1000).await;
    expect_resync(-5).await;

    for i in 0..3 {
        let m = server.post_message(&a, &ch, &format!("m{i}")).await;
        w.next_where(FRAME_TIMEOUT, "message", |v| is_created(v, &s(&m, "id")))
            .await;
    }
    let newest = w.last_position();
    // Before pruning, the old position replays fine. (It may also hold the channel's
    // creation: the hello's position is where live delivery starts, which can be a moment
    // behind what REST has already committed.)
    let mut r = WsClient::connect_since(&server, &a, Some(start)).await;
    for i in 0..3 {
        let v = r
            .next_where(FRAME_TIMEOUT, "a replayed message", |v| {
                v["type"] == "message.created"
            })
            .await;
        assert_eq!(v["message"]["text"], format!("m{i}"), "{v}");
    }
    r.close().await;

    // Another process (like the admin command line) prunes the log of the same database.
    tokio::time::sleep(Duration::from_millis(20)).await;
    {
        use enclave_store::{EventLog, Lifecycle};
        let store = enclave_store::sqlite::SqliteStore::open(
            &server.data_dir().join("enclave.db"),
            Default::default(),
        )
        .expect("opening the server's database");
        let pruned = store
            .prune_events(enclave_core::Millis::now(), 0)
            .await
            .expect("pruning");
        assert!(pruned >= 3, "pruned {pruned}");
        store.close().await;
    }
    expect_resync(start).await;
    expect_resync(newest - 1).await;

    // A client that is up to date resumes fine, and live events continue.
    let mut r = WsClient::connect_since(&server, &a, Some(newest)).await;
    let (status, page) = events_since(&server, &a, newest).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["events"], json!([]));
    let m = server.post_message(&a, &ch, "after pruning").await;
    let v = r.next_frame(FRAME_TIMEOUT).await;
    assert!(is_created(&v, &s(&m, "id")), "{v}");
    let v = w.next_frame(FRAME_TIMEOUT).await;
    assert!(is_created(&v, &s(&m, "id")), "{v}");
}

// ---------------------------------------------------------------------------------------------
// 6. Malformed and refused frames

#[tokio::test]
async fn malformed_frames_get_errors_and_the_socket_survives() {
    let server = TestServer::shared();
    let (_, u) = user(&server, "bad-u").await;
    let (_, v) = user(&server, "bad-v").await;
    let hidden = server
        .create_channel(&v, &unique_name("bad-hidden"), "private")
        .await;
    let archived = server
        .create_channel(&u, &unique_name("bad-arch"), "public")
        .await;
    let (st, body) = server
        .patch(
            Some(&u),
            &format!("/api/v1/channels/{archived}"),
            Some(json!({ "archived": true })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");

    let mut w = WsClient::connect(&server, &u).await;
    let is_error = |v: &Value| v["type"] == "error";
    let bad: Vec<Message> = vec![
        Message::text("not json"),
        Message::text("{\"type\":"),
        Message::text(json!({ "type": "no.such.type" }).to_string()),
        Message::text(json!({ "no_type": 1 }).to_string()),
        Message::text(json!({ "type": "send", "channel_id": [1], "text": "x" }).to_string()),
        Message::text(json!({ "type": "send", "channel_id": "1", "text": 5 }).to_string()),
        Message::text(json!({ "type": "presence.subscribe", "user_ids": "7" }).to_string()),
        Message::text(json!({ "type": "presence.set", "dnd": "yes" }).to_string()),
        Message::binary(b"{\"type\":\"ping\"}".to_vec()),
        Message::text("x".repeat(70 * 1024)),
    ];
    let n_bad = bad.len();
    for (i, m) in bad.into_iter().enumerate() {
        w.send(m).await;
        let e = w.next_where(FRAME_TIMEOUT, "an error", is_error).await;
        assert_eq!(e["code"], "bad_frame", "frame {i}: {e}");
        assert!(e["message"].is_string(), "{e}");
        w.assert_alive().await;
    }

    // Refused sends name their client_msg_id.
    let cases = [
        (hidden.as_str(), "text", "channel_not_found"),
        ("999999999", "text", "channel_not_found"),
        (archived.as_str(), "text", "channel_archived"),
        (archived.as_str(), " ", "invalid_field"),
    ];
    for (i, (ch, text, code)) in cases.into_iter().enumerate() {
        let cid = format!("refused-{i}");
        w.send_json(&json!({"type": "send", "channel_id": ch, "text": text, "client_msg_id": cid}))
            .await;
        let e = w.next_where(FRAME_TIMEOUT, "an error", is_error).await;
        if code == "invalid_field" {
            // Validation may come first or the archive check; either way it is refused.
            assert!(e["code"] == code || e["code"] == "channel_archived", "{e}");
        } else {
            assert_eq!(e["code"], code, "{e}");
        }
        assert_eq!(e["client_msg_id"], cid.as_str(), "{e}");
    }
    // Typing in a channel one cannot see is refused too.
    w.send_json(&json!({"type": "typing", "channel_id": hidden}))
        .await;
    let e = w.next_where(FRAME_TIMEOUT, "an error", is_error).await;
    assert_eq!(e["code"], "channel_not_found", "{e}");
    w.assert_alive().await;

    // After 100 bad frames the socket is closed with 4002.
    let remaining = 101 - n_bad;
    for _ in 0..remaining {
        if !w.try_send(Message::text("garbage")).await {
            break;
        }
    }
    let (code, frames) = w.read_until_close(FRAME_TIMEOUT).await;
    assert_eq!(code, Some(4002), "{frames:?}");
    let errors = frames
        .iter()
        .filter(|f| f["type"] == "error" && f["code"] == "bad_frame")
        .count();
    assert_eq!(
        errors,
        remaining - 1,
        "the 101st bad frame closes the socket"
    );
}

// ---------------------------------------------------------------------------------------------
// 7. Authentication of the upgrade

#[tokio::test]
async fn unauthenticated_upgrades_are_refused() {
    let server = TestServer::shared();
    let (gone_id, gone) = user(&server, "auth-gone").await;
    let (u_id, u) = user(&server, "auth-u").await;
    let admin = server.admin_token().await;
    let (st, body) = server
        .patch(
            Some(&admin),
            &format!("/api/v1/users/{gone_id}"),
            Some(json!({ "active": false })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");

    let own_origin = server.base_url();
    let refused: Vec<(&str, Connect<'_>, u16, &str)> = vec![
        ("no credentials", Connect::default(), 401, "unauthenticated"),
        (
            "a bad bearer token",
            Connect {
                bearer: Some("enc_not-a-token"),
                ..Connect::default()
            },
            401,
            "unauthenticated",
        ),
        (
            "a bad query token",
            Connect {
                query_token: Some("nope"),
                ..Connect::default()
            },
            401,
            "unauthenticated",
        ),
        (
            "a bad cookie",
            Connect {
                cookie: Some("nope"),
                origin: Some(&own_origin),
                ..Connect::default()
            },
            401,
            "unauthenticated",
        ),
        (
            "a deactivated user's token",
            Connect {
                bearer: Some(&gone),
                ..Connect::default()
            },
            401,
            "unauthenticated",
        ),
        (
            "a cookie from another origin",
            Connect {
                cookie: Some(&u),
                origin: Some("http://evil.example"),
                ..Connect::default()
            },
            403,
            "csrf_failed",
        ),
        (
            "a cookie without an origin",
            Connect {
                cookie: Some(&u),
                ..Connect::default()
            },
            403,
            "csrf_failed",
        ),
    ];
    for (what, opts, status, code) in refused {
        match WsClient::try_connect(&server, opts).await {
            Ok(w) => panic!("{what}: the upgrade was accepted: {}", w.hello),
            Err(r) => {
                assert_eq!(r.status, status, "{what}: {}", r.body);
                assert_error(what, &r.body, code);
            }
        }
    }

    // The accepted ways, for contrast.
    for (what, opts) in [
        (
            "bearer",
            Connect {
                bearer: Some(&u),
                ..Connect::default()
            },
        ),
        (
            "query token",
            Connect {
                query_token: Some(&u),
                ..Connect::default()
            },
        ),
        (
            "same-origin cookie",
            Connect {
                cookie: Some(&u),
                origin: Some(&own_origin),
                ..Connect::default()
            },
        ),
    ] {
        let mut w = WsClient::connect_with(&server, opts).await;
        assert_eq!(w.hello["user_id"], u_id.as_str(), "{what}: {}", w.hello);
        w.assert_alive().await;
    }
}

// ---------------------------------------------------------------------------------------------
// 8. Sending over the socket

#[tokio::test]
async fn socket_sends_are_acknowledged_and_deduplicated() {
    let server = TestServer::shared();
    let (a_id, a) = user(&server, "send-a").await;
    let ch = server
        .create_channel(&a, &unique_name("send"), "public")
        .await;
    let mut w = WsClient::connect(&server, &a).await;
    let cid = "c-1/retry-me";
    let send = json!({"type": "send", "channel_id": ch, "text": "hello over ws", "client_msg_id": cid, "thread_root_id": null});
    w.send_json(&send).await;
    // The ack and the event (the sender is a member) may come in either order.
    let (mut ack, mut ev) = (None, None);
    while ack.is_none() || ev.is_none() {
        let v = w
            .next_where(FRAME_TIMEOUT, "the ack and the event", |v| {
                v["type"] == "ack" || (v["type"] == "message.created" && concerns_channel(v, &ch))
            })
            .await;
        let slot = if v["type"] == "ack" {
            &mut ack
        } else {
            &mut ev
        };
        assert!(slot.is_none(), "a second {v}");
        *slot = Some(v);
    }
    let (ack, ev) = (ack.unwrap(), ev.unwrap());
    assert_eq!(ack["client_msg_id"], cid, "{ack}");
    assert_eq!(ack["channel_id"], ch.as_str(), "{ack}");
    assert_eq!(ack["seq"], 1, "{ack}");
    assert_eq!(ack["created"], true, "{ack}");
    let id = s(&ack, "message_id");
    assert!(is_created(&ev, &id), "{ev}");
    assert_eq!(ev["message"]["text"], "hello over ws");
    assert_eq!(ev["message"]["user_id"], a_id.as_str());
    assert_eq!(ev["message"]["client_msg_id"], cid);

    // A retry (say, after a reconnect) returns the same message.
    let mut w2 = WsClient::connect(&server, &a).await;
    w2.send_json(&send).await;
    let again = w2
        .next_where(FRAME_TIMEOUT, "the ack", |v| v["type"] == "ack")
        .await;
    assert_eq!(again["created"], false, "{again}");
    assert_eq!(again["message_id"], id.as_str(), "{again}");
    assert_eq!(again["seq"], 1, "{again}");
    w.expect_none_where(QUIET, "a second message.created", |v| {
        v["type"] == "message.created" && concerns_channel(v, &ch)
    })
    .await;

    let (st, hist) = server
        .get(Some(&a), &format!("/api/v1/channels/{ch}/messages"), None)
        .await;
    assert_eq!(st, StatusCode::OK, "{hist}");
    let msgs = hist["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 1, "{hist}");
    assert_eq!(msgs[0]["id"], id.as_str());
    assert_eq!(msgs[0]["client_msg_id"], cid);
    assert_eq!(
        msgs[0], ev["message"],
        "REST shows the message as the event did"
    );
}

// ---------------------------------------------------------------------------------------------
// 9. Typing

#[tokio::test]
async fn typing_is_relayed_to_other_members_and_throttled() {
    let server = TestServer::shared();
    let (a_id, a) = user(&server, "typ-a").await;
    let (b_id, b) = user(&server, "typ-b").await;
    let (c_id, c) = user(&server, "typ-c").await;
    let (_, d) = user(&server, "typ-d").await;
    let ch = server
        .create_channel(&a, &unique_name("typ"), "public")
        .await;
    server.add_member(&a, &ch, &b_id).await;
    server.add_member(&a, &ch, &c_id).await;
    let mut wa = WsClient::connect(&server, &a).await;
    let mut wb = WsClient::connect(&server, &b).await;
    let mut wc = WsClient::connect(&server, &c).await;
    let mut wd = WsClient::connect(&server, &d).await;
    let is_typing = |v: &Value| v["type"] == "typing";

    let typing = json!({"type": "typing", "channel_id": ch, "thread_root_id": null});
    let t0 = Instant::now();
    wa.send_json(&typing).await;
    for w in [&mut wb, &mut wc] {
        let t = w.next_where(FRAME_TIMEOUT, "typing", is_typing).await;
        assert_eq!(
            t,
            json!({"type": "typing", "channel_id": ch, "user_id": a_id, "thread_root_id": null})
        );
    }
    wa.expect_none_where(QUIET, "one's own typing", is_typing)
        .await;
    wd.expect_none_where(
        Duration::from_millis(100),
        "typing of another channel",
        is_typing,
    )
    .await;

    // Again within 2 s: not relayed.
    wa.send_json(&typing).await;
    wb.expect_none_where(Duration::from_millis(500), "a throttled typing", is_typing)
        .await;
    assert!(
        t0.elapsed() < Duration::from_millis(1900),
        "the test was too slow to tell"
    );

    // After 2 s: relayed again.
    tokio::time::sleep(Duration::from_millis(2100).saturating_sub(t0.elapsed())).await;
    wa.send_json(&typing).await;
    let t = wb.next_where(FRAME_TIMEOUT, "typing", is_typing).await;
    assert_eq!(t["user_id"], a_id.as_str());
    // Someone else typing is not throttled by a's.
    wb.send_json(&typing).await;
    let t = wa.next_where(FRAME_TIMEOUT, "typing", is_typing).await;
    assert_eq!(t["user_id"], b_id.as_str());

    // Typing where one is not a member is refused.
    wd.send_json(&typing).await;
    let e = wd
        .next_where(FRAME_TIMEOUT, "an error", |v| v["type"] == "error")
        .await;
    assert_eq!(e["code"], "channel_not_found", "{e}");
    wc.expect_none_where(
        Duration::from_millis(100),
        "typing from a non-member",
        |v| is_typing(v) && v["user_id"] != a_id.as_str() && v["user_id"] != b_id.as_str(),
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// 10. Presence

async fn presence_of(server: &TestServer, token: &str, ids: &[&str]) -> Vec<Value> {
    let (st, body) = server
        .get(
            Some(token),
            &format!("/api/v1/presence?user_ids={}", ids.join(",")),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    body["presence"].as_array().unwrap().clone()
}

#[tokio::test]
async fn presence_is_tracked_and_announced() {
    let server = TestServer::start_with_env(&[("ENCLAVE_REALTIME__IDLE_SECS", "1")]);
    let (a_id, a) = user(&server, "pres-a").await;
    let (b_id, b) = user(&server, "pres-b").await;
    let (_, c) = user(&server, "pres-c").await;
    let presence_of_b = |v: &Value| v["type"] == "presence" && v["user_id"] == b_id.as_str();

    let mut wa = WsClient::connect(&server, &a).await;
    wa.send_json(&json!({"type": "presence.subscribe", "user_ids": [b_id]}))
        .await;
    let p = wa
        .next_where(FRAME_TIMEOUT, "b's presence", presence_of_b)
        .await;
    assert_eq!(
        p,
        json!({"type": "presence", "user_id": b_id, "presence": "offline", "status_text": "", "dnd": false})
    );
    let got = presence_of(&server, &a, &[&a_id, &b_id]).await;
    let by_id: HashMap<String, String> = got
        .iter()
        .map(|p| (s(p, "user_id"), s(p, "presence")))
        .collect();
    assert_eq!(by_id[&a_id], "online", "{got:?}");
    assert_eq!(by_id[&b_id], "offline", "{got:?}");

    // b comes online.
    let mut wb = WsClient::connect(&server, &b).await;
    let p = wa
        .next_where(FRAME_TIMEOUT, "b online", presence_of_b)
        .await;
    assert_eq!(p["presence"], "online", "{p}");
    let mut wc = WsClient::connect(&server, &c).await;

    // b does nothing for a second: away.
    let p = wa
        .next_where(Duration::from_secs(5), "b away", presence_of_b)
        .await;
    assert_eq!(p["presence"], "away", "{p}");
    assert_eq!(
        presence_of(&server, &c, &[&b_id]).await[0]["presence"],
        "away"
    );
    // Activity makes b online again.
    wb.send_json(&json!({"type": "activity"})).await;
    let p = wa
        .next_where(FRAME_TIMEOUT, "b online", presence_of_b)
        .await;
    assert_eq!(p["presence"], "online", "{p}");

    // Status text and do-not-disturb reach watchers, and everyone hears of the user change.
    wb.send_json(&json!({"type": "presence.set", "status_text": "in a meeting", "dnd": true}))
        .await;
    let p = wa
        .next_where(FRAME_TIMEOUT, "b's status", |v| {
            presence_of_b(v) && v["status_text"] == "in a meeting"
        })
        .await;
    assert_eq!(p["dnd"], true, "{p}");
    let u = wc
        .next_where(FRAME_TIMEOUT, "user.updated", |v| {
            v["type"] == "user.updated"
        })
        .await;
    assert_eq!(u["user"]["id"], b_id.as_str(), "{u}");
    wc.expect_none_where(QUIET, "presence of an unwatched user", |v| {
        v["type"] == "presence"
    })
    .await;
    let got = presence_of(&server, &c, &[&b_id]).await;
    assert_eq!(got[0]["status_text"], "in a meeting", "{got:?}");
    assert_eq!(got[0]["dnd"], true, "{got:?}");
    // Too long a status is refused.
    wb.send_json(&json!({"type": "presence.set", "status_text": "x".repeat(101)}))
        .await;
    let e = wb
        .next_where(FRAME_TIMEOUT, "an error", |v| v["type"] == "error")
        .await;
    assert_eq!(e["code"], "invalid_field", "{e}");

    // b leaves: offline.
    wb.close().await;
    let p = wa
        .next_where(FRAME_TIMEOUT, "b offline", |v| {
            presence_of_b(v) && v["presence"] == "offline"
        })
        .await;
    assert_eq!(p["presence"], "offline");
    assert_eq!(
        presence_of(&server, &a, &[&b_id]).await[0]["presence"],
        "offline"
    );
    wc.assert_alive().await;
}

// ---------------------------------------------------------------------------------------------
// 11. Revocation

#[tokio::test]
async fn logout_and_deactivation_close_the_users_sockets() {
    let server = TestServer::shared();
    let name = unique_name("revoke");
    let (u_id, t1) = server.create_user(&name).await;
    let t2 = server.login_token(&name, common::USER_PASSWORD).await;
    let (_, other) = user(&server, "revoke-other").await;
    let mut w1 = WsClient::connect(&server, &t1).await;
    let mut w2 = WsClient::connect(&server, &t2).await;
    let mut wo = WsClient::connect(&server, &other).await;

    let (st, body) = server.post(Some(&t1), "/api/v1/auth/logout", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{body}");
    let (code, _) = w1.read_until_close(FRAME_TIMEOUT).await;
    assert_eq!(code, Some(4001), "the logged-out session's socket");
    w2.assert_alive().await;

    let admin = server.admin_token().await;
    let (st, body) = server
        .patch(
            Some(&admin),
            &format!("/api/v1/users/{u_id}"),
            Some(json!({ "active": false })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let (code, _) = w2.read_until_close(FRAME_TIMEOUT).await;
    assert_eq!(code, Some(4001), "a deactivated user's socket");
    wo.assert_alive().await;
}

// ---------------------------------------------------------------------------------------------
// 12. Heartbeats

/// Performs the WebSocket handshake by hand; returns the stream after the 101 response.
async fn raw_upgrade(server: &TestServer, token: &str) -> TcpStream {
    let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
    let req = format!(
        "GET /api/v1/ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Authorization: Bearer {token}\r\n\r\n",
        server.addr()
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    // Read the response head byte by byte, so no frame is consumed with it.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        let n = tcp.read(&mut b).await.unwrap();
        assert_eq!(n, 1, "the server closed during the handshake: {head:?}");
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    tcp
}

/// Server frames (unmasked) in `bytes`: (opcode, payload).
fn parse_frames(bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 2 <= bytes.len() {
        let opcode = bytes[i] & 0x0f;
        let mut len = u64::from(bytes[i + 1] & 0x7f);
        let mut at = i + 2;
        if len == 126 {
            len = u64::from(u16::from_be_bytes([bytes[at], bytes[at + 1]]));
            at += 2;
        } else if len == 127 {
            len = u64::from_be_bytes(bytes[at..at + 8].try_into().unwrap());
            at += 8;
        }
        let end = at + len as usize;
        if end > bytes.len() {
            break;
        }
        out.push((opcode, bytes[at..end].to_vec()));
        i = end;
    }
    out
}

/// Reads until EOF (or a reset) within `timeout`; returns the bytes and whether it ended.
async fn read_to_end(tcp: &mut TcpStream, timeout: Duration) -> (Vec<u8>, bool) {
    let mut all = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Err(_) => return (all, false),
            Ok(Ok(0)) | Ok(Err(_)) => return (all, true),
            Ok(Ok(n)) => all.extend_from_slice(&buf[..n]),
        }
    }
}

fn close_code_of(frames: &[(u8, Vec<u8>)]) -> Option<u16> {
    frames
        .iter()
        .find(|(op, _)| *op == 0x8)
        .and_then(|(_, p)| (p.len() >= 2).then(|| u16::from_be_bytes([p[0], p[1]])))
}

#[tokio::test]
async fn silent_peers_are_disconnected_by_the_heartbeat() {
    let server = TestServer::start_with_env(&[("ENCLAVE_REALTIME__HEARTBEAT_SECS", "1")]);
    let (_, u) = user(&server, "hb").await;

    // A peer that reads but never answers.
    let mut reader = raw_upgrade(&server, &u).await;
    // A peer that neither reads nor writes.
    let mut mute = raw_upgrade(&server, &u).await;
    // A proper client, which answers pings.
    let mut good = WsClient::connect(&server, &u).await;
    assert_eq!(good.hello["heartbeat_secs"], 1);

    let t0 = Instant::now();
    let ((bytes, ended), ()) =
        tokio::join!(read_to_end(&mut reader, Duration::from_secs(6)), async {
            // Keep the good client polled (so it answers pings) for as long.
            good.expect_none_where(Duration::from_millis(3500), "anything", |_| false)
                .await;
        });
    let took = t0.elapsed();
    assert!(ended, "the server kept a silent peer for over 6 s");
    assert!(
        took >= Duration::from_millis(1500) && took <= Duration::from_millis(4000),
        "disconnected after {took:?}"
    );
    let frames = parse_frames(&bytes);
    assert!(
        frames.iter().any(|(op, _)| *op == 0x9),
        "no ping was sent: {frames:?}"
    );
    assert_eq!(close_code_of(&frames), Some(4011), "{frames:?}");

    // The mute peer's connection is gone too by now: its data ends with a close and EOF.
    tokio::time::sleep(Duration::from_millis(4000).saturating_sub(t0.elapsed())).await;
    let (bytes, ended) = read_to_end(&mut mute, Duration::from_secs(2)).await;
    assert!(ended, "the server kept a mute peer");
    let frames = parse_frames(&bytes);
    let hello: Value = serde_json::from_slice(&frames[0].1).unwrap();
    assert_eq!(hello["type"], "hello");
    assert_eq!(close_code_of(&frames), Some(4011), "{frames:?}");

    // The client that answered pings is still connected.
    good.assert_alive().await;
}

/// Posts `total` messages of `text` (numbered) into `channel` from `workers` concurrent tasks
/// over keep-alive HTTP connections.
fn flood(
    server: &TestServer,
    token: &str,
    channel: &str,
    total: usize,
    workers: usize,
    text: &str,
) -> tokio::task::JoinSet<()> {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut posts = tokio::task::JoinSet::new();
    for worker in 0..workers {
        let (client, url, token, text) = (
            client.clone(),
            server.url(&format!("/api/v1/channels/{channel}/messages")),
            token.to_owned(),
            text.to_owned(),
        );
        posts.spawn(async move {
            for i in (worker..total).step_by(workers) {
                let resp = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&json!({ "text": format!("{i} {text}") }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), StatusCode::CREATED);
            }
        });
    }
    posts
}

/// A peer that stops reading while events flow blocks the server's writes; it must still be
/// let go after two heartbeat intervals (it answers nothing), not kept forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_stops_reading_while_events_flow_is_disconnected() {
    let server = TestServer::start_with_env(&[("ENCLAVE_REALTIME__HEARTBEAT_SECS", "2")]);
    let (_, poster) = user(&server, "stuck-poster").await;
    let (stuck_id, stuck) = user(&server, "stuck").await;
    let (_, watcher) = user(&server, "stuck-watcher").await;
    let ch = server
        .create_channel(&poster, &unique_name("stuck"), "public")
        .await;
    server.add_member(&poster, &ch, &stuck_id).await;
    let mut w = WsClient::connect_with(
        &server,
        Connect {
            bearer: Some(&stuck),
            recv_buffer: Some(4096),
            ..Connect::default()
        },
    )
    .await;
    // Large messages, so the server's writes block soon after the client stops reading.
    let mut posts = flood(&server, &poster, &ch, 1500, 6, &"y".repeat(12_000));
    // Read (and answer pings) while the flood starts, then stop reading for good.
    for _ in 0..50 {
        w.next_where(FRAME_TIMEOUT, "a message", |v| {
            v["type"] == "message.created"
        })
        .await;
    }
    let stopped = Instant::now();
    // The session ends: the user, connected nowhere else, goes offline.
    loop {
        let p = presence_of(&server, &watcher, &[&stuck_id]).await;
        if p[0]["presence"] == "offline" {
            break;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(12),
            "a peer that stopped reading is still connected {:?} later",
            stopped.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    posts.abort_all();
    while posts.join_next().await.is_some() {}
    // Its connection was dropped: what is left to read ends.
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Next::Frame(_) = w.try_next(Duration::from_secs(5)).await {
        assert!(Instant::now() < deadline, "the connection was not closed");
    }
}

// ---------------------------------------------------------------------------------------------
// 13. Slow consumers

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_is_closed_and_resumes_without_loss() {
    const TOTAL: usize = 5000;
    const WORKERS: usize = 8;
    let server = TestServer::start_with_env(&[("ENCLAVE_REALTIME__QUEUE_LEN", "16")]);
    let (_, poster) = user(&server, "slow-poster").await;
    let (slow_id, slow) = user(&server, "slow").await;
    let ch = server
        .create_channel(&poster, &unique_name("slow"), "public")
        .await;
    server.add_member(&poster, &ch, &slow_id).await;

    // A small receive buffer, so the server's writes block soon after the client stops reading.
    let mut w = WsClient::connect_with(
        &server,
        Connect {
            bearer: Some(&slow),
            recv_buffer: Some(4096),
            ..Connect::default()
        },
    )
    .await;

    // Post many messages quickly while `w` reads nothing.
    let mut posts = flood(&server, &poster, &ch, TOTAL, WORKERS, &"x".repeat(1500));
    while let Some(r) = posts.join_next().await {
        r.unwrap();
    }

    // Now read: some events, then the close.
    let mut seqs: Vec<i64> = Vec::new();
    let mut last = w.last_position();
    let code = loop {
        match w.try_next(Duration::from_secs(10)).await {
            Next::Frame(v) => {
                // (The channel's own events may come first: the hello's position can be a
                // moment behind what REST already committed.)
                if v["type"] == "message.created" {
                    seqs.push(v["message"]["seq"].as_i64().unwrap());
                }
                last = v["position"].as_i64().unwrap();
            }
            Next::Closed(code) => break code,
            Next::Timeout => panic!("no close after {} events", seqs.len()),
        }
    };
    assert_eq!(code, Some(4008), "after {} events", seqs.len());
    assert!(seqs.len() < TOTAL, "the slow consumer got everything");

    // Resume from the last event processed: the rest, without loss or repeat.
    let mut w = WsClient::connect_since(&server, &slow, Some(last)).await;
    while seqs.len() < TOTAL {
        let v = w.next_frame(FRAME_TIMEOUT).await;
        if v["type"] != "message.created" {
            assert!(seqs.is_empty(), "{v}"); // Only the channel's setup may come first.
            continue;
        }
        seqs.push(v["message"]["seq"].as_i64().unwrap());
    }
    w.expect_no_frame(Duration::from_millis(200)).await;
    assert_eq!(seqs, (1..=TOTAL as i64).collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------------------------
// 14. Shutdown

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_sockets_with_1001_and_exits_cleanly() {
    let mut server = TestServer::start();
    let (_, a) = user(&server, "shut-a").await;
    let (_, b) = user(&server, "shut-b").await;
    let mut socks = vec![
        WsClient::connect(&server, &a).await,
        WsClient::connect(&server, &a).await,
        WsClient::connect(&server, &b).await,
    ];
    let log_on_failure = server.log();
    let stopping = tokio::task::spawn_blocking(move || {
        let status = server.terminate();
        (status, server.log())
    });
    for w in &mut socks {
        let (code, frames) = w.read_until_close(Duration::from_secs(20)).await;
        assert_eq!(code, Some(1001), "{frames:?}\n{log_on_failure}");
    }
    let (status, log) = stopping.await.unwrap();
    assert!(status.success(), "exit status {status:?}\n{log}");
    assert_eq!(status.code(), Some(0));
}
