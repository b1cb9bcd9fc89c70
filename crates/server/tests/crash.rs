//! Crash safety: the server is killed with SIGKILL while clients send. After a restart every
//! message that was acknowledged with a 2xx is stored exactly once, sequence numbers have no
//! gaps, and re-sending with the same `client_msg_id` never duplicates anything.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{TestServer, Value, json, s, unique_name};

const SENDERS: usize = 20;

/// What one sender knows after the crash.
#[derive(Default)]
struct Outcome {
    /// client_msg_id -> message id, for sends answered with 2xx.
    acked: HashMap<String, String>,
    /// Sends whose answer never came (the server died): they may or may not be stored.
    in_doubt: Vec<String>,
}

async fn sender(
    base: String,
    token: String,
    channel: String,
    index: usize,
    stop: Arc<AtomicBool>,
) -> Outcome {
    let http = reqwest::Client::new();
    let mut out = Outcome::default();
    let url = format!("{base}/api/v1/channels/{channel}/messages");
    for n in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let cid = format!("crash-{index}-{n}");
        let resp = http
            .post(&url)
            .bearer_auth(&token)
            .json(
                &json!({"text": format!("message {n} from sender {index}"), "client_msg_id": cid}),
            )
            .send()
            .await;
        match resp {
            Ok(r) if r.status().is_success() => {
                let body: Value = r.json().await.unwrap_or(Value::Null);
                match body["id"].as_str() {
                    Some(id) => {
                        out.acked.insert(cid, id.to_owned());
                    }
                    None => out.in_doubt.push(cid),
                }
            }
            Ok(r) => panic!("send refused before the crash: {}", r.status()),
            Err(_) => {
                // The connection died with the server: the outcome is unknown.
                out.in_doubt.push(cid);
                break;
            }
        }
    }
    out
}

/// Every message of the channel, replies included, in order.
async fn all_messages(server: &TestServer, token: &str, channel: &str) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut after = 0i64;
    loop {
        let (status, body) = server
            .get(Some(token), &format!("/api/v1/channels/{channel}/messages?after={after}&limit=200&include_replies=true"), None)
            .await;
        assert_eq!(status, 200, "{body}");
        let page = body["messages"].as_array().cloned().unwrap_or_default();
        if page.is_empty() {
            return out;
        }
        after = page.last().unwrap()["seq"].as_i64().unwrap();
        out.extend(page);
    }
}

fn check_exactly_once(messages: &[Value], acked: &HashMap<String, String>) {
    let mut by_cid: HashMap<String, Vec<String>> = HashMap::new();
    for (i, m) in messages.iter().enumerate() {
        assert_eq!(
            m["seq"].as_i64(),
            Some(i as i64 + 1),
            "sequence numbers must be 1, 2, 3... without gaps"
        );
        if let Some(cid) = m["client_msg_id"].as_str() {
            by_cid.entry(cid.to_owned()).or_default().push(s(m, "id"));
        }
    }
    for (cid, ids) in &by_cid {
        assert_eq!(
            ids.len(),
            1,
            "client_msg_id {cid} is stored {} times",
            ids.len()
        );
    }
    for (cid, id) in acked {
        let stored = by_cid
            .get(cid)
            .unwrap_or_else(|| panic!("acknowledged message {cid} (id {id}) was lost"));
        assert_eq!(&stored[0], id, "acknowledged message {cid} changed id");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_messages_survive_sigkill_exactly_once() {
    let mut server = TestServer::start();
    let admin = server.admin_token().await;
    let channel = server
        .create_channel(&admin, &unique_name("crash"), "public")
        .await;
    let mut tokens = Vec::new();
    for i in 0..5 {
        let (user_id, token) = server
            .create_user(&unique_name(&format!("crasher{i}")))
            .await;
        server.add_member(&admin, &channel, &user_id).await;
        tokens.push(token);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let base = server.base_url();
    let tasks: Vec<_> = (0..SENDERS)
        .map(|i| {
            tokio::spawn(sender(
                base.clone(),
                tokens[i % tokens.len()].clone(),
                channel.clone(),
                i,
                stop.clone(),
            ))
        })
        .collect();
    // Let the senders get going, then crash the server under load.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill9();
    stop.store(true, Ordering::Relaxed);

    let mut acked = HashMap::new();
    let mut in_doubt = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        let out = t.await.expect("sender task");
        assert!(
            !out.acked.is_empty(),
            "sender {i} got nothing acknowledged before the crash"
        );
        acked.extend(out.acked);
        in_doubt.extend(out.in_doubt.into_iter().map(|cid| (i, cid)));
    }

    server.restart();
    let messages = all_messages(&server, &admin, &channel).await;
    check_exactly_once(&messages, &acked);
    let stored: HashSet<&str> = messages
        .iter()
        .filter_map(|m| m["client_msg_id"].as_str())
        .collect();
    let unknown: Vec<&str> = stored
        .iter()
        .copied()
        .filter(|c| !acked.contains_key(*c) && !in_doubt.iter().any(|(_, d)| d == c))
        .collect();
    assert!(unknown.is_empty(), "messages nobody sent: {unknown:?}");

    // Clients retry what they did not see acknowledged, and (wrongly, but harmlessly) some of
    // what they did: nothing may be duplicated.
    let sender_token = |i: usize| tokens[i % tokens.len()].clone();
    for (i, cid) in &in_doubt {
        let (status, body) = server
            .post(
                Some(&sender_token(*i)),
                &format!("/api/v1/channels/{channel}/messages"),
                Some(json!({"text": "retry", "client_msg_id": cid})),
            )
            .await;
        assert!(
            status == 200 || status == 201,
            "retry of {cid}: {status} {body}"
        );
        if stored.contains(cid.as_str()) {
            assert_eq!(
                status, 200,
                "a retry of a stored message must return it, not post again"
            );
        }
    }
    for (n, (cid, id)) in acked.iter().enumerate().take(50) {
        let i: usize = cid.split('-').nth(1).unwrap().parse().unwrap();
        let (status, body) = server
            .post(
                Some(&sender_token(i)),
                &format!("/api/v1/channels/{channel}/messages"),
                Some(json!({"text": "again", "client_msg_id": cid})),
            )
            .await;
        assert_eq!(status, 200, "re-send {n} of acknowledged {cid}: {body}");
        assert_eq!(&s(&body, "id"), id);
    }
    let after_retries = all_messages(&server, &admin, &channel).await;
    check_exactly_once(&after_retries, &acked);
    assert_eq!(
        after_retries.len(),
        acked.len()
            + in_doubt
                .iter()
                .filter(|(_, c)| !acked.contains_key(c))
                .count()
    );
    eprintln!(
        "crash test: {} acknowledged, {} in doubt at the crash",
        acked.len(),
        in_doubt.len()
    );
}
