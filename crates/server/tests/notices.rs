//! Notices through the real binary, on SQLite and on a private PostgreSQL: changing a channel's
//! topic, purpose or name posts a notice in the conversation (in order with the messages,
//! authored by whoever made the change); membership changes post none yet; notices are not
//! unread, cannot be edited or replied to, are not found by search, and reach members over the
//! event stream like any message.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{StatusCode, TestServer, Value, json, unique_name};

async fn history(server: &TestServer, token: &str, channel: &str) -> Vec<Value> {
    let (st, body) = server
        .get(
            Some(token),
            &format!("/api/v1/channels/{channel}/messages?limit=100"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    body["messages"].as_array().unwrap().clone()
}

fn notices(list: &[Value]) -> Vec<(String, String, String)> {
    list.iter()
        .filter(|m| m.get("notice").is_some())
        .map(|m| {
            (
                m["notice"].as_str().unwrap().to_owned(),
                m["user_id"].as_str().unwrap().to_owned(),
                m["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn summary(server: &TestServer, token: &str, channel: &str) -> Value {
    let (st, body) = server.get(Some(token), "/api/v1/channels", None).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    body["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == channel)
        .cloned()
        .unwrap_or(Value::Null)
}

async fn notices_flow(server: &TestServer) {
    let (li_id, li) = server.create_user(&unique_name("li")).await;
    let (han_id, han) = server.create_user(&unique_name("han")).await;
    let (mei_id, _mei) = server.create_user(&unique_name("mei")).await;
    let channel = server
        .create_channel(&li, &unique_name("ops"), "public")
        .await;
    let (st, hello) = server
        .post(
            Some(&li),
            &format!("/api/v1/channels/{channel}/messages"),
            Some(json!({ "text": "hello" })),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{hello}");

    // Membership changes post no notice (yet); the topic, purpose and name do.
    let (st, _) = server
        .post(
            Some(&han),
            &format!("/api/v1/channels/{channel}/join"),
            None,
        )
        .await;
    assert!(st.is_success());
    server.add_member(&li, &channel, &mei_id).await;
    let (st, body) = server
        .patch(
            Some(&li),
            &format!("/api/v1/channels/{channel}"),
            Some(json!({ "topic": "预算 2027", "purpose": "Operations" })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    // The answer counts the notices' sequence numbers.
    assert_eq!(body["last_seq"], 3, "{body}");
    let new_name = unique_name("运维");
    let (st, body) = server
        .patch(
            Some(&han),
            &format!("/api/v1/channels/{channel}"),
            Some(json!({ "topic": "" })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let (st, body) = server
        .patch(
            Some(&li),
            &format!("/api/v1/channels/{channel}"),
            Some(json!({ "name": new_name })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    // Unchanged fields post nothing.
    let (st, _) = server
        .patch(
            Some(&li),
            &format!("/api/v1/channels/{channel}"),
            Some(json!({ "purpose": "Operations" })),
        )
        .await;
    assert_eq!(st, StatusCode::OK);

    let list = history(server, &li, &channel).await;
    assert_eq!(
        notices(&list),
        [
            ("topic".to_owned(), li_id.clone(), "预算 2027".to_owned()),
            ("purpose".to_owned(), li_id.clone(), "Operations".to_owned()),
            ("topic".to_owned(), han_id.clone(), String::new()),
            ("renamed".to_owned(), li_id.clone(), new_name.clone()),
        ]
    );
    // In order with the messages, without gaps.
    let seqs: Vec<i64> = list.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=5).collect::<Vec<_>>(), "{list:?}");
    assert!(
        list[0].get("notice").is_none(),
        "a message has no notice field"
    );
    // The channel's owner has not read han's notice, yet nothing is unread.
    let s = summary(server, &li, &channel).await;
    assert_eq!(s["unread_count"], 0, "{s}");

    // A notice takes no edit and no reply; reactions are as for any message.
    let topic = list.iter().find(|m| m["notice"] == "topic").unwrap();
    let topic_id = topic["id"].as_str().unwrap();
    let (st, body) = server
        .patch(
            Some(&li),
            &format!("/api/v1/messages/{topic_id}"),
            Some(json!({ "text": "rewritten" })),
        )
        .await;
    assert_eq!(
        st,
        StatusCode::CONFLICT,
        "the author may not edit it either: {body}"
    );
    let (st, body) = server
        .post(
            Some(&li),
            &format!("/api/v1/channels/{channel}/messages"),
            Some(json!({ "text": "a reply", "thread_root_id": topic_id })),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    let (st, body) = server
        .request(
            axum::http::Method::PUT,
            Some(&li),
            &format!("/api/v1/messages/{topic_id}/reactions/%F0%9F%91%8D"),
            None,
        )
        .await;
    assert!(st.is_success(), "{st} {body}");

    // Search finds the message, not the notice.
    let (st, found) = server
        .get(Some(&li), "/api/v1/search?q=Operations", None)
        .await;
    assert_eq!(st, StatusCode::OK, "{found}");
    assert!(
        !found.to_string().contains("\"notice\""),
        "a notice was found: {found}"
    );

    // Direct conversations: no notices.
    let (st, dm) = server
        .post(
            Some(&li),
            "/api/v1/dms",
            Some(json!({ "user_ids": [han_id] })),
        )
        .await;
    assert!(st.is_success(), "{dm}");
    let dm_id = dm["id"].as_str().unwrap();
    assert!(history(server, &li, dm_id).await.is_empty());

    // Over the event stream: a member hears of the topic notice like any message.
    let (st, page) = server
        .get(Some(&li), "/api/v1/events?since=0&limit=1000", None)
        .await;
    assert_eq!(st, StatusCode::OK, "{page}");
    assert!(
        page.to_string().contains("\"notice\":\"topic\""),
        "no notice in the events: {page}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_notices() {
    let server = TestServer::start();
    notices_flow(&server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_notices() {
    let Some((_db, url)) = enclave_store::testing::fresh_database_url().await else {
        return;
    };
    let server = TestServer::start_with_env(&[("ENCLAVE_DATABASE__URL", url.as_str())]);
    notices_flow(&server).await;
}
