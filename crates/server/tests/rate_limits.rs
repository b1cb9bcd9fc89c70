//! Per-user rate limits (`[rate_limits]`) against the real binary: a burst of posts over REST
//! is cut off with 429 `rate_limited` and `Retry-After`, and accepted again once the bucket has
//! refilled; a WebSocket `send` over the limit gets an `error` frame with the same code; REST
//! and WebSocket share one budget; another user is not affected; a retried send the server
//! already stored costs nothing; administrators are not limited; and each kind of action
//! (reactions, searches, uploads, other writes) has its own bucket.
//!
//! Each test starts its own server with small limits, so no test waits more than a second or
//! two for a refill.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::ws::{FRAME_TIMEOUT, WsClient};
use common::{
    Method, StatusCode, TestServer, Value, assert_error, encode_segment, json, s, unique_name,
};

/// Posts: 1 per second, 5 at once. The other kinds are off unless a test sets them.
const POSTS: &[(&str, &str)] = &[
    ("ENCLAVE_RATE_LIMITS__POSTS_PER_SEC", "1"),
    ("ENCLAVE_RATE_LIMITS__POSTS_BURST", "5"),
    ("ENCLAVE_RATE_LIMITS__REACTIONS_PER_SEC", "0"),
    ("ENCLAVE_RATE_LIMITS__UPLOADS_PER_SEC", "0"),
    ("ENCLAVE_RATE_LIMITS__SEARCHES_PER_SEC", "0"),
    ("ENCLAVE_RATE_LIMITS__WRITES_PER_SEC", "0"),
];

/// A POST of a message as `token`: status, `Retry-After` (when present) and body.
async fn post(
    server: &TestServer,
    token: &str,
    channel: &str,
    body: Value,
) -> (StatusCode, Option<String>, Value) {
    let resp = server
        .client()
        .post(server.url(&format!("/api/v1/channels/{channel}/messages")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("posting");
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().expect("ascii").to_owned());
    let (status, body) = common::read_json(resp).await;
    (status, retry_after, body)
}

/// A channel `owner` creates, with `others` as members.
async fn channel(server: &TestServer, owner: &str, others: &[&str]) -> String {
    let admin = server.admin_token().await;
    let ch = server
        .create_channel(&admin, &unique_name("limits"), "public")
        .await;
    for id in std::iter::once(owner).chain(others.iter().copied()) {
        server.add_member(&admin, &ch, id).await;
    }
    ch
}

#[tokio::test]
async fn a_burst_of_posts_is_cut_off_with_retry_after_and_accepted_after_the_refill() {
    let server = TestServer::start_with_env(POSTS);
    let (a_id, a) = server.create_user(&unique_name("fast")).await;
    let (b_id, b) = server.create_user(&unique_name("calm")).await;
    let ch = channel(&server, &a_id, &[&b_id]).await;

    // The first post, then retries of it: a retry the server already stored costs nothing.
    let (status, _, first) = post(
        &server,
        &a,
        &ch,
        json!({"text": "0", "client_msg_id": "c-0"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    for _ in 0..10 {
        let (status, _, again) = post(
            &server,
            &a,
            &ch,
            json!({"text": "0", "client_msg_id": "c-0"}),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "a retry is answered, not limited: {again}"
        );
        assert_eq!(again["id"], first["id"]);
    }
    // More posts fill the burst of five (four, or one more if a token came back meanwhile);
    // then one is refused, with the seconds to wait.
    let mut accepted = 1;
    let (status, retry_after, body) = loop {
        let (status, retry_after, body) =
            post(&server, &a, &ch, json!({"text": format!("{accepted}")})).await;
        if status != StatusCode::CREATED || accepted > 10 {
            break (status, retry_after, body);
        }
        accepted += 1;
    };
    assert!(
        (5..=6).contains(&accepted),
        "{accepted} posts before the first refusal"
    );
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_error("over the limit", &body, "rate_limited");
    let wait: u64 = retry_after
        .expect("a Retry-After header")
        .parse()
        .expect("Retry-After in whole seconds");
    assert_eq!(
        wait, 1,
        "one token comes back within a second, rounded up to 1 s"
    );

    // Another user posting in the same channel is not affected.
    for i in 0..5 {
        let (status, _, body) = post(&server, &b, &ch, json!({"text": format!("b{i}")})).await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "the other user's post {i}: {body}"
        );
    }
    // Nor is an administrator, who is not limited at all.
    let admin = server.admin_token().await;
    for i in 0..20 {
        let (status, _, body) =
            post(&server, &admin, &ch, json!({"text": format!("admin {i}")})).await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "the administrator's post {i}: {body}"
        );
    }

    // After Retry-After, the first user may post again.
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let (status, _, body) = post(&server, &a, &ch, json!({"text": "later"})).await;
    assert_eq!(status, StatusCode::CREATED, "after the refill: {body}");
}

fn is_reply(v: &Value) -> bool {
    v["type"] == "ack" || v["type"] == "error"
}

#[tokio::test]
async fn websocket_sends_over_the_limit_get_the_same_code_and_share_the_budget_with_rest() {
    let server = TestServer::start_with_env(POSTS);
    let (a_id, a) = server.create_user(&unique_name("wsfast")).await;
    let (b_id, b) = server.create_user(&unique_name("wscalm")).await;
    let ch = channel(&server, &a_id, &[&b_id]).await;

    let mut w = WsClient::connect(&server, &a).await;
    for i in 0..6 {
        w.send_json(&json!({"type": "send", "channel_id": ch, "text": format!("{i}"), "client_msg_id": format!("w-{i}")}))
            .await;
    }
    let mut acks = 0;
    let mut errors = Vec::new();
    for _ in 0..6 {
        let f = w
            .next_where(FRAME_TIMEOUT, "an ack or error", is_reply)
            .await;
        if f["type"] == "ack" {
            acks += 1;
        } else {
            errors.push(f);
        }
    }
    assert_eq!(acks, 5, "the burst is acknowledged: {errors:?}");
    assert_eq!(errors.len(), 1, "{errors:?}");
    let e = &errors[0];
    assert_eq!(e["code"], "rate_limited", "{e}");
    assert!(
        e["client_msg_id"]
            .as_str()
            .is_some_and(|c| c.starts_with("w-")),
        "{e}"
    );
    assert_eq!(e["retry_after_secs"], 1, "{e}");
    w.assert_alive().await;

    // The same user over REST draws on the same, empty bucket.
    let (status, retry_after, body) = post(&server, &a, &ch, json!({"text": "rest"})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(retry_after.as_deref(), Some("1"));

    // Another user's socket is not affected.
    let mut other = WsClient::connect(&server, &b).await;
    other
        .send_json(
            &json!({"type": "send", "channel_id": ch, "text": "calm", "client_msg_id": "b-1"}),
        )
        .await;
    let f = other
        .next_where(FRAME_TIMEOUT, "an ack or error", is_reply)
        .await;
    assert_eq!(f["type"], "ack", "{f}");

    // After the wait, the first socket's sends are acknowledged again.
    tokio::time::sleep(Duration::from_secs(1)).await;
    w.send_json(
        &json!({"type": "send", "channel_id": ch, "text": "later", "client_msg_id": "w-later"}),
    )
    .await;
    let f = w
        .next_where(FRAME_TIMEOUT, "an ack or error", is_reply)
        .await;
    assert_eq!(f["type"], "ack", "{f}");
    assert_eq!(f["client_msg_id"], "w-later");
}

#[tokio::test]
async fn reactions_searches_uploads_and_other_writes_each_have_their_own_limit() {
    let server = TestServer::start_with_env(&[
        ("ENCLAVE_RATE_LIMITS__POSTS_PER_SEC", "0"),
        ("ENCLAVE_RATE_LIMITS__REACTIONS_PER_SEC", "1"),
        ("ENCLAVE_RATE_LIMITS__REACTIONS_BURST", "2"),
        ("ENCLAVE_RATE_LIMITS__SEARCHES_PER_SEC", "1"),
        ("ENCLAVE_RATE_LIMITS__SEARCHES_BURST", "2"),
        ("ENCLAVE_RATE_LIMITS__UPLOADS_PER_SEC", "1"),
        ("ENCLAVE_RATE_LIMITS__UPLOADS_BURST", "2"),
        ("ENCLAVE_RATE_LIMITS__WRITES_PER_SEC", "1"),
        ("ENCLAVE_RATE_LIMITS__WRITES_BURST", "2"),
    ]);
    let (a_id, a) = server.create_user(&unique_name("kinds")).await;
    let ch = channel(&server, &a_id, &[]).await;
    // Posts are off here: more than any burst of the others.
    let mut last = Value::Null;
    for i in 0..10 {
        last = server.post_message(&a, &ch, &format!("m{i}")).await;
    }
    let mid = s(&last, "id");

    let react = format!("/api/v1/messages/{mid}/reactions/{}", encode_segment("👍"));
    let search = "/api/v1/search?q=m1".to_owned();
    let read = format!("/api/v1/channels/{ch}/read");
    // Each kind: two allowed at once, the third refused, whatever the others have used.
    for round in 0..3 {
        let refused = round == 2;
        let results = [
            ("reaction", server.put(Some(&a), &react, None).await),
            ("search", server.get(Some(&a), &search, None).await),
            (
                "upload",
                server
                    .request_raw(
                        Method::POST,
                        "/api/v1/files?name=a.txt",
                        &[("authorization", &format!("Bearer {a}"))],
                        Some(b"hello".to_vec()),
                    )
                    .await,
            ),
            (
                "write (read position)",
                server.post(Some(&a), &read, Some(json!({"seq": 1}))).await,
            ),
        ];
        for (kind, (status, body)) in results {
            if refused {
                assert_eq!(
                    status,
                    StatusCode::TOO_MANY_REQUESTS,
                    "{kind}, round {round}: {body}"
                );
                assert_error(kind, &body, "rate_limited");
            } else {
                assert!(
                    status.is_success(),
                    "{kind}, round {round}: {status} {body}"
                );
            }
        }
    }
}
