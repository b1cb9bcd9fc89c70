//! Guests over the WebSocket and the event log: a guest sees only their channels' people, so
//! account events (`user.updated`, `user.created`) about anyone else never reach them, neither
//! live nor on replay (`?since=` on the socket, `GET /api/v1/events`), while members hear of
//! everyone. On both backends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::ws::{FRAME_TIMEOUT, WsClient};
use common::{StatusCode, TestServer, USER_PASSWORD, Value, json, s, unique_name};

const QUIET: Duration = Duration::from_millis(800);

fn is_user_event(v: &Value) -> bool {
    v["type"] == "user.updated" || v["type"] == "user.created"
}

fn about(v: &Value) -> String {
    v["user"]["id"]
        .as_str()
        .or_else(|| v["user_id"].as_str())
        .unwrap_or_default()
        .to_owned()
}

async fn rename(server: &TestServer, admin: &str, id: &str, name: &str) {
    let (st, body) = server
        .patch(
            Some(admin),
            &format!("/api/v1/users/{id}"),
            Some(json!({ "display_name": name })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
}

async fn guests_see_only_their_channels_people(server: &TestServer) {
    let admin = server.admin_token().await;
    // A partner shares the guest's channel; a colleague in another department does not.
    let (partner_id, partner) = server.create_user(&unique_name("partner")).await;
    let (colleague_id, _) = server.create_user(&unique_name("colleague")).await;
    let (_, member) = server.create_user(&unique_name("member")).await;
    let channel = server
        .create_channel(&partner, &unique_name("visits"), "public")
        .await;
    let (st, dept) = server
        .post(
            Some(&admin),
            "/api/v1/departments",
            Some(json!({ "name": unique_name("sales") })),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{dept}");
    let (st, body) = server
        .put(
            Some(&admin),
            &format!(
                "/api/v1/departments/{}/members/{colleague_id}",
                s(&dept, "id")
            ),
            Some(json!({ "title": "sales rep" })),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    let guest_name = unique_name("visitor");
    let (st, body) = server
        .post(
            Some(&admin),
            "/api/v1/admin/guests",
            Some(json!({
                "username": guest_name,
                "password": USER_PASSWORD,
                "expires_at": common::rfc3339_in(3600),
                "channel_ids": [channel],
            })),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    let guest_id = s(&body, "id");
    let guest = server.login_token(&guest_name, USER_PASSWORD).await;

    let mut wg = WsClient::connect(server, &guest).await;
    let mut wm = WsClient::connect(server, &member).await;
    let start = wg.last_position();

    // The colleague changes, then the partner: the member hears of both, the guest of the
    // partner only.
    rename(server, &admin, &colleague_id, "Colleague Renamed").await;
    rename(server, &admin, &partner_id, "Partner Renamed").await;
    let first = wm
        .next_where(FRAME_TIMEOUT, "the colleague's update", |v| {
            is_user_event(v) && about(v) == colleague_id
        })
        .await;
    assert_eq!(
        first["user"]["display_name"], "Colleague Renamed",
        "{first}"
    );
    wm.next_where(FRAME_TIMEOUT, "the partner's update", |v| {
        is_user_event(v) && about(v) == partner_id
    })
    .await;
    let got = wg
        .next_where(FRAME_TIMEOUT, "an account event", is_user_event)
        .await;
    assert_eq!(
        about(&got),
        partner_id,
        "the guest's first account event: {got}"
    );
    // A new account, too, is news to members only.
    let (newcomer_id, _) = server.create_user(&unique_name("newcomer")).await;
    wm.next_where(FRAME_TIMEOUT, "the newcomer", |v| {
        is_user_event(v) && about(v) == newcomer_id
    })
    .await;
    wg.expect_none_where(QUIET, "an account event the guest may not see", |v| {
        is_user_event(v) && about(v) != partner_id && about(v) != guest_id
    })
    .await;

    // Replay: the socket's catch-up and the events endpoint leave them out too.
    let mut again = WsClient::connect_since(server, &guest, Some(start)).await;
    let replayed = again
        .next_where(FRAME_TIMEOUT, "the partner's update, replayed", |v| {
            is_user_event(v) && about(v) == partner_id
        })
        .await;
    assert_eq!(replayed["user"]["display_name"], "Partner Renamed");
    let leaked: Vec<&Value> = again
        .events
        .iter()
        .filter(|v| is_user_event(v) && about(v) != partner_id && about(v) != guest_id)
        .collect();
    assert!(leaked.is_empty(), "replayed to the guest: {leaked:?}");
    again
        .expect_none_where(QUIET, "an account event the guest may not see", |v| {
            is_user_event(v) && about(v) != partner_id && about(v) != guest_id
        })
        .await;
    for (who, token) in [("guest", &guest), ("member", &member)] {
        let (st, page) = server
            .get(
                Some(token),
                &format!("/api/v1/events?since={start}&limit=1000"),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{page}");
        let about_colleague = page["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| is_user_event(v) && about(v) == colleague_id)
            .count();
        let expected = usize::from(who == "member");
        assert_eq!(about_colleague, expected, "{who}: {page}");
    }
}

#[tokio::test]
async fn sqlite_guests_see_only_their_channels_people() {
    let server = TestServer::start();
    guests_see_only_their_channels_people(&server).await;
}

#[tokio::test]
async fn postgres_guests_see_only_their_channels_people() {
    let Some((_db, url)) = enclave_store::testing::fresh_database_url().await else {
        return;
    };
    let server = TestServer::start_with_env(&[("ENCLAVE_DATABASE__URL", &url)]);
    guests_see_only_their_channels_people(&server).await;
}
