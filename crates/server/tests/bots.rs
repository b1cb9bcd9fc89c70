//! Bot accounts: created by holders of `create_bots` (an administrator; a member is refused),
//! acting through their token only (no sign-in, even with a password set by nobody), marked as
//! bots, limited to the channels they are added to, and audited. On both backends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{StatusCode, TestServer, assert_status_error, json, s, unique_name};

async fn bots_act_only_where_added(server: &TestServer) {
    let admin = server.admin_token().await;
    let (_, member) = server.create_user(&unique_name("member")).await;
    let name = unique_name("deploybot");

    // A member may not create bots; bad input changes nothing.
    let (st, body) = server
        .post(
            Some(&member),
            "/api/v1/bots",
            Some(json!({ "username": name })),
        )
        .await;
    assert_status_error("member creates a bot", (st, &body), 403, "forbidden");
    let (st, body) = server
        .post(
            Some(&admin),
            "/api/v1/bots",
            Some(json!({ "username": "!" })),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    let (st, body) = server
        .post(Some(&admin), "/api/v1/bots", Some(json!({ "name": name })))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");

    let (st, made) = server
        .post(
            Some(&admin),
            "/api/v1/bots",
            Some(json!({ "username": name, "display_name": "Deploy bot" })),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{made}");
    assert_eq!(made["bot"]["is_bot"], true, "{made}");
    assert_eq!(made["bot"]["is_admin"], false, "{made}");
    let bot_id = s(&made["bot"], "id");
    let token = s(&made, "token");
    let (st, me) = server.get(Some(&token), "/api/v1/users/me", None).await;
    assert_eq!(st, StatusCode::OK, "{me}");
    assert_eq!(me["is_bot"], true);
    // Everyone sees it marked as a bot.
    let (_, seen) = server
        .get(Some(&admin), &format!("/api/v1/users/{bot_id}"), None)
        .await;
    assert_eq!(seen["is_bot"], true, "{seen}");
    let (st, list) = server.get(Some(&admin), "/api/v1/bots", None).await;
    assert_eq!(st, StatusCode::OK, "{list}");
    assert!(
        list["bots"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["id"] == bot_id.as_str()),
        "{list}"
    );
    let (st, _) = server.get(Some(&member), "/api/v1/bots", None).await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // The bot cannot sign in interactively (it has no password; nor may it get one by the
    // users API: a bot has no password).
    let (st, _) = server.login(&name, "any password at all").await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, body) = server
        .post(
            Some(&admin),
            "/api/v1/users",
            Some(json!({ "username": unique_name("pwbot"), "password": "long enough pw", "bot": true })),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");

    // Limited to the channels it is added to: a public channel it is not in is out of reach.
    let open = server
        .create_channel(&member, &unique_name("open"), "public")
        .await;
    let (st, _) = server
        .post(
            Some(&token),
            &format!("/api/v1/channels/{open}/messages"),
            Some(json!({ "text": "hello" })),
        )
        .await;
    assert!(
        st == StatusCode::FORBIDDEN || st == StatusCode::NOT_FOUND,
        "{st}"
    );
    let (st, _) = server
        .post(Some(&token), &format!("/api/v1/channels/{open}/join"), None)
        .await;
    assert!(
        st == StatusCode::FORBIDDEN || st == StatusCode::NOT_FOUND,
        "{st}"
    );
    let (st, _) = server
        .post(
            Some(&token),
            "/api/v1/channels",
            Some(json!({ "name": unique_name("botmade"), "kind": "public" })),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // Added, it posts there.
    server.add_member(&member, &open, &bot_id).await;
    let posted = server.post_message(&token, &open, "deployed v1.2").await;
    assert_eq!(posted["user_id"], bot_id.as_str(), "{posted}");
    // A bot cannot make bots.
    let (st, _) = server
        .post(
            Some(&token),
            "/api/v1/bots",
            Some(json!({ "username": unique_name("child") })),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // Rotation: the old token stops working, the new one works.
    let (st, rotated) = server
        .post(Some(&admin), &format!("/api/v1/bots/{bot_id}/token"), None)
        .await;
    assert_eq!(st, StatusCode::OK, "{rotated}");
    let new_token = s(&rotated, "token");
    let (st, _) = server.get(Some(&token), "/api/v1/users/me", None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, _) = server.get(Some(&new_token), "/api/v1/users/me", None).await;
    assert_eq!(st, StatusCode::OK);
    // Rotating a person's tokens through the bots API is refused as not found.
    let (st, mine) = server.get(Some(&member), "/api/v1/users/me", None).await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = server
        .post(
            Some(&admin),
            &format!("/api/v1/bots/{}/token", s(&mine, "id")),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // Audited: the creation names who made it, and the bot's own actions are its own.
    let (st, audit) = server
        .get(Some(&admin), "/api/v1/admin/audit?limit=200", None)
        .await;
    assert_eq!(st, StatusCode::OK, "{audit}");
    let entries = audit["entries"].as_array().expect("entries");
    assert!(
        entries.iter().any(|e| e["action"] == "user_created"
            && e["target_id"] == bot_id.as_str()
            && e["summary"]["is_bot"] == "true"
            && e["actor"].is_string()),
        "{audit}"
    );
    assert!(
        entries
            .iter()
            .filter(|e| e["action"] == "token_created" && e["summary"]["bot"] == name.as_str())
            .count()
            >= 2,
        "{audit}"
    );
}

#[tokio::test]
async fn sqlite_bots_act_only_where_added() {
    let server = TestServer::start();
    bots_act_only_where_added(&server).await;
}

#[tokio::test]
async fn postgres_bots_act_only_where_added() {
    let Some((_db, url)) = enclave_store::testing::fresh_database_url().await else {
        return;
    };
    let server = TestServer::start_with_env(&[("ENCLAVE_DATABASE__URL", &url)]);
    bots_act_only_where_added(&server).await;
}
