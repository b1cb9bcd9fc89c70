//! The server keeps the limits and rules its OpenAPI document states (docs/api/contract.md):
//! the fixes found by running schemathesis against it, each checked on the real binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Method, TestServer, Value, assert_status_error, json, s, unique_name};

/// Every documented page size is refused outside its range (never clamped), and the default
/// applies when it is not given.
#[tokio::test]
async fn limits_outside_their_documented_range_are_refused() {
    let server = TestServer::shared();
    let (_, alice) = server.create_user(&unique_name("limits")).await;
    let channel = server
        .create_channel(&alice, &unique_name("limits"), "public")
        .await;
    let msg = server.post_message(&alice, &channel, "root").await;
    let msg_id = s(&msg, "id");
    let doc = server.get(None, "/api/v1/openapi.json", None).await.1;
    let cases = [
        ("/api/v1/users".to_owned(), "/api/v1/users"),
        (
            "/api/v1/channels/browse".to_owned(),
            "/api/v1/channels/browse",
        ),
        (
            format!("/api/v1/channels/{channel}/members"),
            "/api/v1/channels/{id}/members",
        ),
        (
            format!("/api/v1/channels/{channel}/messages"),
            "/api/v1/channels/{id}/messages",
        ),
        (
            format!("/api/v1/messages/{msg_id}/thread"),
            "/api/v1/messages/{id}/thread",
        ),
        ("/api/v1/events?since=0".to_owned(), "/api/v1/events"),
        ("/api/v1/search?q=root".to_owned(), "/api/v1/search"),
        (
            "/api/v1/search/channels?q=lim".to_owned(),
            "/api/v1/search/channels",
        ),
    ];
    for (url, documented) in cases {
        let limit = doc["paths"][documented]["get"]["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == "limit"))
            .unwrap_or_else(|| panic!("{documented} documents no limit"));
        let max = limit["schema"]["maximum"].as_u64().expect("a maximum");
        let sep = if url.contains('?') { '&' } else { '?' };
        for ok in [1, max] {
            let (status, body) = server
                .get(Some(&alice), &format!("{url}{sep}limit={ok}"), None)
                .await;
            assert_eq!(status, 200, "{url} limit={ok}: {body}");
        }
        let (status, body) = server.get(Some(&alice), &url, None).await;
        assert_eq!(status, 200, "{url} without limit: {body}");
        for bad in [
            "0".to_owned(),
            (max + 1).to_string(),
            "2147483648".to_owned(),
            "4294967296".to_owned(),
            "-1".to_owned(),
            "1.5".to_owned(),
        ] {
            let got = server
                .get(Some(&alice), &format!("{url}{sep}limit={bad}"), None)
                .await;
            assert_eq!(got.0, 400, "{url} limit={bad}: {}", got.1);
        }
    }
}

/// An upload with no name, a blank name or no bytes is refused and stores nothing.
#[tokio::test]
async fn empty_uploads_are_refused() {
    let server = TestServer::shared();
    let (_, alice) = server.create_user(&unique_name("uploads")).await;
    let auth = format!("Bearer {alice}");
    let cases: [(&str, &[u8], &str); 5] = [
        ("/api/v1/files?name=", b"hello", "name"),
        ("/api/v1/files", b"hello", "name"),
        ("/api/v1/files?name=%20%09", b"hello", "name"),
        ("/api/v1/files?name=a.txt", b"", "body"),
        ("/api/v1/files?name=", b"", "name"),
    ];
    for (path, bytes, field) in cases {
        let (status, body) = server
            .request_raw(
                Method::POST,
                path,
                &[
                    ("authorization", auth.as_str()),
                    ("content-type", "application/octet-stream"),
                ],
                Some(bytes.to_vec()),
            )
            .await;
        assert_status_error(path, (status, &body), 400, "invalid_field");
        assert_eq!(body["error"]["field"], field, "{path}: {body}");
    }
    // A chunked upload that ends without a byte is refused too.
    let (status, body) = chunked_empty_upload(&server, &alice).await;
    assert_eq!(status, 400, "chunked empty upload: {body}");
    assert_eq!(body["error"]["field"], "body", "{body}");
    let ok = server
        .request_raw(
            Method::POST,
            "/api/v1/files?name=a.txt",
            &[("authorization", auth.as_str())],
            Some(b"x".to_vec()),
        )
        .await;
    assert_eq!(ok.0, 201, "{}", ok.1);
    assert_eq!(ok.1["name"], "a.txt");
}

/// Sends `POST /api/v1/files?name=empty.txt` with a chunked body of no chunk; returns the status
/// and the JSON answer.
async fn chunked_empty_upload(server: &TestServer, token: &str) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let req = format!(
        "POST /api/v1/files?name=empty.txt HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {token}\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n0\r\n\r\n",
        server.addr()
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        stream.read_to_end(&mut buf),
    )
    .await
    .expect("an answer in time")
    .unwrap();
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head");
    let status: u16 = String::from_utf8_lossy(&buf[9..12]).parse().unwrap();
    let body = serde_json::from_slice(&buf[end + 4..]).unwrap_or(Value::Null);
    (status, body)
}

/// JSON does not tell `3` from `3.0` (nor does JSON Schema): integral numbers written with a
/// fraction are integers; other fractions are refused.
#[tokio::test]
async fn integral_floats_are_integers() {
    let server = TestServer::shared();
    let (bob_id, bob) = server.create_user(&unique_name("floats-bob")).await;
    let (_, alice) = server.create_user(&unique_name("floats")).await;
    let channel = server
        .create_channel(&alice, &unique_name("floats"), "public")
        .await;
    server.post_message(&alice, &channel, "one").await;
    let read = |seq: Value| {
        let server = &server;
        let alice = &alice;
        let channel = &channel;
        async move {
            server
                .post(
                    Some(alice),
                    &format!("/api/v1/channels/{channel}/read"),
                    Some(json!({ "seq": seq })),
                )
                .await
        }
    };
    let got = read(json!(1.0)).await;
    assert_eq!(got.0, 200, "{}", got.1);
    assert_eq!(got.1["last_read_seq"], 1);
    let got = read(json!(1.5)).await;
    assert_eq!(got.0, 400, "{}", got.1);
    let got = read(json!(-1)).await;
    assert_eq!(got.0, 400, "{}", got.1);

    let id: i64 = bob_id.parse().unwrap();
    let got = server
        .post(
            Some(&alice),
            &format!("/api/v1/channels/{channel}/members"),
            Some(json!({ "user_id": id as f64 })),
        )
        .await;
    assert_eq!(got.0, 201, "{}", got.1);
    assert_eq!(got.1["user_id"], bob_id);
    let got = server
        .post(
            Some(&bob),
            "/api/v1/users/me/tokens",
            Some(json!({ "name": "t", "scope": "read", "expires_in_days": 30.0 })),
        )
        .await;
    assert_eq!(got.0, 201, "{}", got.1);
    let got = server
        .post(
            Some(&bob),
            "/api/v1/users/me/tokens",
            Some(json!({ "name": "t", "scope": "read", "expires_in_days": 2.5 })),
        )
        .await;
    assert_eq!(got.0, 400, "{}", got.1);
}

/// Reactions take a short name or an emoji from the documented set; other symbols are refused.
#[tokio::test]
async fn reactions_take_the_documented_emoji() {
    let server = TestServer::shared();
    let (_, alice) = server.create_user(&unique_name("emoji")).await;
    let channel = server
        .create_channel(&alice, &unique_name("emoji"), "public")
        .await;
    let msg = server.post_message(&alice, &channel, "react").await;
    let id = s(&msg, "id");
    for ok in ["thumbsup", ":tada:", "%F0%9F%91%8D", "%E2%9D%A4%EF%B8%8F"] {
        let got = server
            .put(
                Some(&alice),
                &format!("/api/v1/messages/{id}/reactions/{ok}"),
                None,
            )
            .await;
        assert_eq!(got.0, 200, "{ok}: {}", got.1);
    }
    // "¿", a circled letter, a circled digit, a letter.
    for bad in ["%C2%BF", "%E2%92%B6", "%E2%91%A0", "%C4%BD", "Thumbs%20Up"] {
        let got = server
            .put(
                Some(&alice),
                &format!("/api/v1/messages/{id}/reactions/{bad}"),
                None,
            )
            .await;
        assert_status_error(bad, (got.0, &got.1), 400, "invalid_field");
    }
}
