//! The flows a user relies on, end to end against a real `enclave serve` process over HTTP:
//! login and sessions, tokens, account administration, channels, membership and roles, direct
//! conversations, messages, threads, reactions, pins, mentions and unread counts, history
//! paging, the system endpoints and graceful shutdown.
//!
//! Tests share one server (they use unique names); tests that need their own configuration or
//! stop the server start a private one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::{
    TestServer, USER_PASSWORD, Value, assert_status_error, encode_segment, json, read_json, s,
    unique_name,
};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, ORIGIN, RETRY_AFTER, SET_COOKIE};

/// Every path template the tests in this file use; all must be in the OpenAPI document.
const PATHS_USED: &[&str] = &[
    "/healthz",
    "/readyz",
    "/api/v1/openapi.json",
    "/api/v1/auth/login",
    "/api/v1/auth/logout",
    "/api/v1/auth/setup",
    "/api/v1/users",
    "/api/v1/users/me",
    "/api/v1/users/me/tokens",
    "/api/v1/users/me/tokens/{id}",
    "/api/v1/users/{id}",
    "/api/v1/channels",
    "/api/v1/channels/browse",
    "/api/v1/channels/{id}",
    "/api/v1/channels/{id}/join",
    "/api/v1/channels/{id}/leave",
    "/api/v1/channels/{id}/members",
    "/api/v1/channels/{id}/members/{user_id}",
    "/api/v1/channels/{id}/messages",
    "/api/v1/channels/{id}/pins",
    "/api/v1/channels/{id}/read",
    "/api/v1/dms",
    "/api/v1/messages/{id}",
    "/api/v1/messages/{id}/thread",
    "/api/v1/messages/{id}/reactions/{emoji}",
    "/api/v1/messages/{id}/pin",
];

fn ids(list: &Value, key: &str) -> Vec<String> {
    list[key]
        .as_array()
        .unwrap_or_else(|| panic!("no array {key:?} in {list}"))
        .iter()
        .map(|v| s(v, "id"))
        .collect()
}

fn seqs(list: &Value) -> Vec<i64> {
    list["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("no messages in {list}"))
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect()
}

/// The caller's entry for `channel` in `GET /channels`.
async fn my_channel(server: &TestServer, token: &str, channel: &str) -> Option<Value> {
    let (status, body) = server.get(Some(token), "/api/v1/channels", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == channel)
        .cloned()
}

async fn member_ids(server: &TestServer, token: &str, channel: &str) -> BTreeSet<String> {
    let (status, body) = server
        .get(
            Some(token),
            &format!("/api/v1/channels/{channel}/members"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| s(&m["user"], "id"))
        .collect()
}

#[tokio::test]
async fn login_sets_an_http_only_cookie_that_authenticates_and_is_csrf_protected() {
    let server = TestServer::shared();
    let name = unique_name("cookie");
    let (id, _) = server.create_user(&name).await;

    let resp = server
        .client()
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({ "login": name, "password": USER_PASSWORD }))
        .send()
        .await
        .unwrap();
    let cookie = resp
        .headers()
        .get(SET_COOKIE)
        .expect("Set-Cookie on login")
        .to_str()
        .unwrap()
        .to_owned();
    let (status, body) = read_json(resp).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = s(&body, "token");
    assert!(token.starts_with("enc_"), "{token}");
    assert_eq!(body["user"]["id"], id.as_str());
    assert_eq!(body["user"]["username"], name.as_str());
    assert!(
        cookie.starts_with(&format!("enclave_session={token};")),
        "{cookie}"
    );
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    let cookie_header = format!("enclave_session={token}");

    // The cookie alone authenticates reads.
    let resp = server
        .client()
        .get(server.url("/api/v1/users/me"))
        .header(COOKIE, &cookie_header)
        .send()
        .await
        .unwrap();
    let (status, me) = read_json(resp).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["username"], name.as_str());

    // A cookie-authenticated change needs a matching Origin.
    let channel_body = json!({ "name": unique_name("csrf"), "kind": "public" });
    let resp = server
        .client()
        .post(server.url("/api/v1/channels"))
        .header(COOKIE, &cookie_header)
        .json(&channel_body)
        .send()
        .await
        .unwrap();
    let (status, body) = read_json(resp).await;
    assert_status_error(
        "cookie POST without Origin",
        (status, &body),
        403,
        "csrf_failed",
    );
    let resp = server
        .client()
        .post(server.url("/api/v1/channels"))
        .header(COOKIE, &cookie_header)
        .header(ORIGIN, "http://evil.example")
        .json(&channel_body)
        .send()
        .await
        .unwrap();
    let (status, body) = read_json(resp).await;
    assert_status_error(
        "cookie POST from another origin",
        (status, &body),
        403,
        "csrf_failed",
    );
    // Nothing was created by the refused requests.
    let (_, mine) = server.get(Some(&token), "/api/v1/channels", None).await;
    assert_eq!(mine["channels"].as_array().unwrap().len(), 0, "{mine}");

    let resp = server
        .client()
        .post(server.url("/api/v1/channels"))
        .header(COOKIE, &cookie_header)
        .header(ORIGIN, server.base_url())
        .json(&channel_body)
        .send()
        .await
        .unwrap();
    let (status, body) = read_json(resp).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "cookie POST with a matching Origin: {body}"
    );
    assert_eq!(body["name"], channel_body["name"]);

    // The setup endpoint is public and says the server is set up.
    let (status, body) = server.get(None, "/api/v1/auth/setup", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({ "needs_setup": false }));
}

#[tokio::test]
async fn me_and_logout() {
    let server = TestServer::shared();
    let name = unique_name("me");
    let (id, token) = server.create_user(&name).await;
    let (status, me) = server.get(Some(&token), "/api/v1/users/me", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], id.as_str());
    assert_eq!(me["username"], name.as_str());
    assert_eq!(me["display_name"], name.as_str());
    assert_eq!(me["is_admin"], false);
    assert_eq!(me["active"], true);

    let resp = server
        .client()
        .post(server.url("/api/v1/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let cleared = resp
        .headers()
        .get(SET_COOKIE)
        .expect("logout clears the cookie")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cleared.starts_with("enclave_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    let got = server.get(Some(&token), "/api/v1/users/me", None).await;
    assert_status_error(
        "GET /users/me after logout",
        (got.0, &got.1),
        401,
        "unauthenticated",
    );
    let got = server.post(Some(&token), "/api/v1/auth/logout", None).await;
    assert_status_error("logout twice", (got.0, &got.1), 401, "unauthenticated");
}

#[tokio::test]
async fn sessions_are_listed_and_revocable() {
    let server = TestServer::shared();
    let name = unique_name("sess");
    let (_, first) = server.create_user(&name).await;
    let second = server.login_token(&name, USER_PASSWORD).await;

    let (status, list) = server
        .get(Some(&first), "/api/v1/users/me/tokens", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let tokens = list["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 2, "{list}");
    assert!(
        tokens
            .iter()
            .all(|t| t["kind"] == "session" && t["expires_at"].is_string()),
        "{list}"
    );
    assert_eq!(
        tokens.iter().filter(|t| t["current"] == true).count(),
        1,
        "{list}"
    );
    let other = tokens.iter().find(|t| t["current"] == false).unwrap();
    let other_id = s(other, "id");

    let (status, body) = server
        .delete(
            Some(&first),
            &format!("/api/v1/users/me/tokens/{other_id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let got = server.get(Some(&second), "/api/v1/users/me", None).await;
    assert_status_error("revoked session", (got.0, &got.1), 401, "unauthenticated");
    let got = server
        .delete(
            Some(&first),
            &format!("/api/v1/users/me/tokens/{other_id}"),
            None,
        )
        .await;
    assert_status_error("revoking twice", (got.0, &got.1), 404, "token_not_found");

    let (status, list) = server
        .get(Some(&first), "/api/v1/users/me/tokens", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["tokens"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["tokens"][0]["current"], true);
}

#[tokio::test]
async fn personal_access_tokens() {
    let server = TestServer::shared();
    let (id, session) = server.create_user(&unique_name("pat")).await;

    let (status, created) = server
        .post(
            Some(&session),
            "/api/v1/users/me/tokens",
            Some(json!({ "name": "ci bot", "scope": "write", "expires_in_days": 30 })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let pat = s(&created, "token");
    assert!(pat.starts_with("enc_"));
    assert_eq!(created["kind"], "pat");
    assert_eq!(created["name"], "ci bot");
    assert!(created["expires_at"].is_string(), "{created}");
    let pat_id = s(&created, "id");

    let (status, me) = server.get(Some(&pat), "/api/v1/users/me", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], id.as_str());
    let (status, list) = server
        .get(Some(&pat), "/api/v1/users/me/tokens", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let listed = list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == pat_id.as_str())
        .cloned()
        .expect("PAT listed");
    assert_eq!(listed["kind"], "pat");
    assert_eq!(listed["current"], true, "{list}");
    assert!(
        listed.get("token").is_none(),
        "the secret is never listed: {listed}"
    );

    // An expiry is required; refused inputs.
    let (status, forever) = server
        .post(
            Some(&session),
            "/api/v1/users/me/tokens",
            Some(json!({ "name": "forever", "scope": "read" })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{forever}");
    for bad in [
        json!({ "name": "x", "scope": "read", "expires_in_days": 0 }),
        json!({ "name": "x", "scope": "read", "expires_in_days": 3651 }),
        json!({ "name": "  ", "scope": "read", "expires_in_days": 1 }),
        json!({ "name": "x", "scope": "everything", "expires_in_days": 1 }),
    ] {
        let got = server
            .post(Some(&session), "/api/v1/users/me/tokens", Some(bad.clone()))
            .await;
        assert_status_error(
            &format!("create token {bad}"),
            (got.0, &got.1),
            400,
            "invalid_field",
        );
    }

    let (status, _) = server
        .delete(
            Some(&session),
            &format!("/api/v1/users/me/tokens/{pat_id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let got = server.get(Some(&pat), "/api/v1/users/me", None).await;
    assert_status_error("revoked PAT", (got.0, &got.1), 401, "unauthenticated");
    let (status, _) = server.get(Some(&session), "/api/v1/users/me", None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the session survives revoking a PAT"
    );
}

#[tokio::test]
async fn admin_creates_deactivates_and_reactivates_users() {
    let server = TestServer::shared();
    let admin = server.admin_token().await;
    let name = unique_name("acct");
    let (status, user) = server
        .post(
            Some(&admin),
            "/api/v1/users",
            Some(json!({ "username": name, "password": USER_PASSWORD, "display_name": "Zhang San 张三", "email": format!("{name}@example.com") })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    assert_eq!(user["display_name"], "Zhang San 张三");
    assert_eq!(user["email"], format!("{name}@example.com"));
    let id = s(&user, "id");
    let got = server
        .post(
            Some(&admin),
            "/api/v1/users",
            Some(json!({ "username": name.to_uppercase(), "password": USER_PASSWORD })),
        )
        .await;
    assert_status_error("duplicate username", (got.0, &got.1), 409, "conflict");
    let got = server
        .post(
            Some(&admin),
            "/api/v1/users",
            Some(json!({ "username": unique_name("x"), "password": "short" })),
        )
        .await;
    assert_status_error("short password", (got.0, &got.1), 400, "invalid_field");
    assert_eq!(got.1["error"]["field"], "password");

    let token = server.login_token(&name, USER_PASSWORD).await;
    let pat = {
        let (status, created) = server
            .post(
                Some(&token),
                "/api/v1/users/me/tokens",
                Some(json!({ "name": "script", "scope": "write", "expires_in_days": 30 })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        s(&created, "token")
    };

    // Only administrators create accounts.
    let got = server
        .post(
            Some(&token),
            "/api/v1/users",
            Some(json!({ "username": unique_name("y"), "password": USER_PASSWORD })),
        )
        .await;
    assert_status_error(
        "non-admin creates a user",
        (got.0, &got.1),
        403,
        "forbidden",
    );
    // The email is shown to the user and administrators only.
    let (other_id, other) = server.create_user(&unique_name("peer")).await;
    let (_, seen) = server
        .get(Some(&other), &format!("/api/v1/users/{id}"), None)
        .await;
    assert!(seen.get("email").is_none(), "{seen}");
    let (_, seen) = server
        .get(Some(&admin), &format!("/api/v1/users/{id}"), None)
        .await;
    assert_eq!(seen["email"], format!("{name}@example.com"));
    let got = server
        .patch(
            Some(&other),
            &format!("/api/v1/users/{id}"),
            Some(json!({ "display_name": "hacked" })),
        )
        .await;
    assert_status_error(
        "changing someone else's profile",
        (got.0, &got.1),
        403,
        "forbidden",
    );
    let got = server
        .patch(
            Some(&other),
            &format!("/api/v1/users/{id}"),
            Some(json!({ "active": false })),
        )
        .await;
    assert_status_error("non-admin deactivates", (got.0, &got.1), 403, "forbidden");
    let (status, own) = server
        .patch(
            Some(&other),
            &format!("/api/v1/users/{other_id}"),
            Some(json!({ "display_name": "Peer" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{own}");
    assert_eq!(own["display_name"], "Peer");

    // Deactivation: the existing session and PAT stop working at once, and login is refused.
    let (status, body) = server
        .patch(
            Some(&admin),
            &format!("/api/v1/users/{id}"),
            Some(json!({ "active": false })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["active"], false);
    for (what, t) in [("session", &token), ("PAT", &pat)] {
        let got = server.get(Some(t), "/api/v1/users/me", None).await;
        assert_status_error(
            &format!("deactivated user's {what}"),
            (got.0, &got.1),
            401,
            "unauthenticated",
        );
    }
    let got = server.login(&name, USER_PASSWORD).await;
    assert_status_error(
        "deactivated user logs in",
        (got.0, &got.1),
        401,
        "unauthenticated",
    );
    let (_, list) = server
        .get(Some(&admin), &format!("/api/v1/users?q={name}"), None)
        .await;
    assert!(
        ids(&list, "users").is_empty(),
        "deactivated users are hidden by default: {list}"
    );
    let (_, list) = server
        .get(
            Some(&admin),
            &format!("/api/v1/users?q={name}&include_inactive=true"),
            None,
        )
        .await;
    assert_eq!(ids(&list, "users"), vec![id.clone()]);
    let (_, list) = server
        .get(
            Some(&other),
            &format!("/api/v1/users?q={name}&include_inactive=true"),
            None,
        )
        .await;
    assert!(
        ids(&list, "users").is_empty(),
        "only admins see deactivated users: {list}"
    );

    // An administrator cannot deactivate themself.
    let (_, admin_me) = server.get(Some(&admin), "/api/v1/users/me", None).await;
    let got = server
        .patch(
            Some(&admin),
            &format!("/api/v1/users/{}", s(&admin_me, "id")),
            Some(json!({ "active": false })),
        )
        .await;
    assert_status_error("admin deactivates self", (got.0, &got.1), 409, "conflict");

    // Reactivation lets the user log in again but brings back neither the old session nor
    // the personal access token: deactivation revoked them all.
    let (status, body) = server
        .patch(
            Some(&admin),
            &format!("/api/v1/users/{id}"),
            Some(json!({ "active": true })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["active"], true);
    for (what, t) in [("session", &token), ("PAT", &pat)] {
        let got = server.get(Some(t), "/api/v1/users/me", None).await;
        assert_status_error(
            &format!("old {what} after reactivation"),
            (got.0, &got.1),
            401,
            "unauthenticated",
        );
    }
    let fresh = server.login_token(&name, USER_PASSWORD).await;
    let (status, _) = server.get(Some(&fresh), "/api/v1/users/me", None).await;
    assert_eq!(status, StatusCode::OK);
    let (_, list) = server
        .get(Some(&fresh), "/api/v1/users/me/tokens", None)
        .await;
    let names: Vec<&str> = list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(
        !names.contains(&"script"),
        "the revoked token is not listed after reactivation: {list}"
    );
}

#[tokio::test]
async fn password_changes() {
    let server = TestServer::shared();
    let admin = server.admin_token().await;
    let name = unique_name("pw");
    let (id, current) = server.create_user(&name).await;
    let other_session = server.login_token(&name, USER_PASSWORD).await;
    let path = format!("/api/v1/users/{id}");

    // One's own password: the current one is required and checked.
    for (what, body) in [
        (
            "without current_password",
            json!({ "password": "new-password-1" }),
        ),
        (
            "with a wrong current_password",
            json!({ "password": "new-password-1", "current_password": "wrong-password" }),
        ),
    ] {
        let got = server.patch(Some(&current), &path, Some(body)).await;
        assert_status_error(
            &format!("own password change {what}"),
            (got.0, &got.1),
            400,
            "invalid_field",
        );
        assert_eq!(got.1["error"]["field"], "current_password");
    }
    let got = server
        .patch(
            Some(&current),
            &path,
            Some(json!({ "password": "short", "current_password": USER_PASSWORD })),
        )
        .await;
    assert_status_error(
        "too short a new password",
        (got.0, &got.1),
        400,
        "invalid_field",
    );
    let (status, _) = server
        .get(Some(&other_session), "/api/v1/users/me", None)
        .await;
    assert_eq!(status, StatusCode::OK, "refused changes end no session");

    let (status, body) = server
        .patch(
            Some(&current),
            &path,
            Some(json!({ "password": "new-password-1", "current_password": USER_PASSWORD })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = server.get(Some(&current), "/api/v1/users/me", None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the session that changed the password stays"
    );
    let got = server
        .get(Some(&other_session), "/api/v1/users/me", None)
        .await;
    assert_status_error(
        "other session after a password change",
        (got.0, &got.1),
        401,
        "unauthenticated",
    );
    let got = server.login(&name, USER_PASSWORD).await;
    assert_status_error("old password", (got.0, &got.1), 401, "unauthenticated");
    server.login_token(&name, "new-password-1").await;

    // An administrator resets someone's password: every session of theirs ends.
    let (status, _) = server
        .patch(
            Some(&admin),
            &path,
            Some(json!({ "password": "reset-password-1" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let got = server.get(Some(&current), "/api/v1/users/me", None).await;
    assert_status_error(
        "session after an admin reset",
        (got.0, &got.1),
        401,
        "unauthenticated",
    );
    server.login_token(&name, "reset-password-1").await;

    // Administrators, too, must prove their current password to change their own.
    let admin2 = unique_name("admin2");
    let (status, created) = server
        .post(
            Some(&admin),
            "/api/v1/users",
            Some(json!({ "username": admin2, "password": USER_PASSWORD, "admin": true })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["is_admin"], true);
    let admin2_token = server.login_token(&admin2, USER_PASSWORD).await;
    let got = server
        .patch(
            Some(&admin2_token),
            &format!("/api/v1/users/{}", s(&created, "id")),
            Some(json!({ "password": "taken-over-1" })),
        )
        .await;
    assert_status_error(
        "admin changes own password without current_password",
        (got.0, &got.1),
        400,
        "invalid_field",
    );
    server.login_token(&admin2, USER_PASSWORD).await;
}

#[tokio::test]
async fn user_search() {
    let server = TestServer::shared();
    let tag = unique_name("srch").replace('-', "");
    let mut names = Vec::new();
    for p in ["carol", "alice", "bob"] {
        let name = format!("{p}{tag}");
        server.create_user(&name).await;
        names.push(name);
    }
    names.sort();
    let (_, me) = server.create_user(&unique_name("looker")).await;
    let (status, list) = server
        .get(Some(&me), &format!("/api/v1/users?q={tag}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let found: Vec<String> = list["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| s(u, "username"))
        .collect();
    assert_eq!(found, names, "search results ordered by username");
    assert!(
        list["users"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u.get("email").is_none())
    );

    let (_, page) = server
        .get(Some(&me), &format!("/api/v1/users?q={tag}&limit=2"), None)
        .await;
    let first: Vec<String> = page["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| s(u, "username"))
        .collect();
    assert_eq!(first, names[..2]);
    let (_, page) = server
        .get(
            Some(&me),
            &format!("/api/v1/users?q={tag}&after={}", names[1]),
            None,
        )
        .await;
    let rest: Vec<String> = page["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| s(u, "username"))
        .collect();
    assert_eq!(rest, names[2..]);

    let (_, none) = server
        .get(Some(&me), "/api/v1/users?q=zzz-no-such-user-zzz", None)
        .await;
    assert_eq!(none["users"], json!([]));
    let got = server
        .get(
            Some(&me),
            &format!("/api/v1/users?q={}", "x".repeat(65)),
            None,
        )
        .await;
    assert_status_error("over-long query", (got.0, &got.1), 400, "invalid_field");
    let got = server
        .get(Some(&me), "/api/v1/users?limit=lots", None)
        .await;
    assert_status_error("malformed limit", (got.0, &got.1), 400, "bad_request");
}

#[tokio::test]
async fn wrong_passwords_are_refused_then_throttled() {
    // Three failures from one address delay that address (tests/lockout.rs has the rest).
    let server = TestServer::start_with_env(&[
        ("ENCLAVE_AUTH__FAILURES_BEFORE_DELAY", "3"),
        ("ENCLAVE_AUTH__FIRST_DELAY_SECS", "60"),
    ]);
    let name = unique_name("lock");
    server.create_user(&name).await;

    for i in 1..=3 {
        let got = server.login(&name, "wrong-password").await;
        assert_status_error(
            &format!("wrong password #{i}"),
            (got.0, &got.1),
            401,
            "unauthenticated",
        );
    }
    let got = server.login("no-such-user", "whatever-pw").await;
    assert_status_error("unknown user", (got.0, &got.1), 401, "unauthenticated");

    // The account is now locked, even for the right password, and the answer says how long.
    let resp = server
        .client()
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({ "login": name, "password": USER_PASSWORD }))
        .send()
        .await
        .unwrap();
    let retry_after = resp
        .headers()
        .get(RETRY_AFTER)
        .map(|v| v.to_str().unwrap().to_owned());
    let (status, body) = read_json(resp).await;
    assert_status_error(
        "login after 3 failures",
        (status, &body),
        429,
        "rate_limited",
    );
    let secs: u64 = retry_after
        .expect("Retry-After header")
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=15 * 60).contains(&secs), "Retry-After {secs}");
    // The lock holds however the login is spelled (case, surrounding spaces)...
    let got = server
        .login(&format!("  {}  ", name.to_uppercase()), USER_PASSWORD)
        .await;
    assert_eq!(
        got.0,
        StatusCode::TOO_MANY_REQUESTS,
        "the same account, spelled differently: {}",
        got.1
    );
    // ...and it is per account: another user still logs in (create_user logs in).
    server.create_user(&unique_name("other")).await;
}

#[tokio::test]
async fn public_channel_lifecycle() {
    let server = TestServer::shared();
    let (owner_id, owner) = server.create_user(&unique_name("own")).await;
    let (_, member) = server.create_user(&unique_name("mem")).await;
    let name = unique_name("Project X");
    let (status, ch) = server
        .post(
            Some(&owner),
            "/api/v1/channels",
            Some(
                json!({ "name": name, "kind": "public", "topic": "launch", "purpose": "ship it" }),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ch}");
    let id = s(&ch, "id");
    assert_eq!(ch["name"], name.as_str());
    assert_eq!(ch["kind"], "public");
    assert_eq!(ch["topic"], "launch");
    assert_eq!(ch["purpose"], "ship it");
    assert_eq!(ch["creator_id"], owner_id.as_str());
    assert_eq!(ch["role"], "owner");
    assert_eq!(ch["n_members"], 1);
    assert_eq!(ch["archived"], false);

    let got = server
        .post(
            Some(&member),
            "/api/v1/channels",
            Some(json!({ "name": name.to_lowercase(), "kind": "public" })),
        )
        .await;
    assert_status_error(
        "taken name (case-insensitive)",
        (got.0, &got.1),
        409,
        "conflict",
    );
    for bad in [
        json!({ "name": "", "kind": "public" }),
        json!({ "name": "#x", "kind": "public" }),
        json!({ "name": "x", "kind": "dm" }),
    ] {
        let got = server
            .post(Some(&owner), "/api/v1/channels", Some(bad.clone()))
            .await;
        assert_status_error(
            &format!("create channel {bad}"),
            (got.0, &got.1),
            400,
            "invalid_field",
        );
    }

    let path = format!("/api/v1/channels/{id}");
    let new_name = unique_name("Project Y");
    let (status, ch) = server
        .patch(
            Some(&owner),
            &path,
            Some(json!({ "name": new_name, "topic": "new topic" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{ch}");
    assert_eq!(ch["name"], new_name.as_str());
    assert_eq!(ch["topic"], "new topic");

    // A member may set the topic but not rename or archive.
    let (status, _) = server
        .post(Some(&member), &format!("{path}/join"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, ch) = server
        .patch(
            Some(&member),
            &path,
            Some(json!({ "topic": "member topic" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{ch}");
    assert_eq!(ch["topic"], "member topic");
    assert_eq!(ch["role"], "member");
    let got = server
        .patch(Some(&member), &path, Some(json!({ "name": "mine now" })))
        .await;
    assert_status_error("member renames", (got.0, &got.1), 403, "forbidden");
    let got = server
        .patch(Some(&member), &path, Some(json!({ "archived": true })))
        .await;
    assert_status_error("member archives", (got.0, &got.1), 403, "forbidden");

    // Archive: read-only, hidden from the directory, unarchivable.
    server.post_message(&owner, &id, "before archiving").await;
    let (status, ch) = server
        .patch(Some(&owner), &path, Some(json!({ "archived": true })))
        .await;
    assert_eq!(status, StatusCode::OK, "{ch}");
    assert_eq!(ch["archived"], true);
    assert!(ch["archived_at"].is_string());
    let got = server
        .post(
            Some(&owner),
            &format!("{path}/messages"),
            Some(json!({ "text": "after" })),
        )
        .await;
    assert_status_error(
        "posting to an archived channel",
        (got.0, &got.1),
        409,
        "channel_archived",
    );
    let got = server
        .patch(Some(&owner), &path, Some(json!({ "topic": "t" })))
        .await;
    assert_status_error(
        "topic of an archived channel",
        (got.0, &got.1),
        409,
        "channel_archived",
    );
    let (status, hist) = server
        .get(Some(&member), &format!("{path}/messages"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "history stays readable");
    // The one message, and the notices of the renames and topic changes before the archiving.
    let (notices, posts): (Vec<&Value>, Vec<&Value>) = hist["messages"]
        .as_array()
        .unwrap()
        .iter()
        .partition(|m| m.get("notice").is_some());
    assert_eq!(posts.len(), 1, "{hist}");
    assert!(!notices.is_empty(), "{hist}");
    let (_, browse) = server
        .get(
            Some(&member),
            &format!("/api/v1/channels/browse?q={new_name}"),
            None,
        )
        .await;
    assert!(ids(&browse, "channels").is_empty(), "{browse}");
    let (_, browse) = server
        .get(
            Some(&member),
            &format!("/api/v1/channels/browse?q={new_name}&include_archived=true"),
            None,
        )
        .await;
    assert_eq!(ids(&browse, "channels"), vec![id.clone()]);

    let (status, ch) = server
        .patch(Some(&owner), &path, Some(json!({ "archived": false })))
        .await;
    assert_eq!(status, StatusCode::OK, "{ch}");
    assert_eq!(ch["archived"], false);
    assert!(ch["archived_at"].is_null());
    server.post_message(&member, &id, "after unarchiving").await;
}

#[tokio::test]
async fn browse_join_and_leave_public_channels() {
    let server = TestServer::shared();
    let (_, owner) = server.create_user(&unique_name("own")).await;
    let (joiner_id, joiner) = server.create_user(&unique_name("join")).await;
    let tag = unique_name("browse");
    let a = server
        .create_channel(&owner, &format!("{tag} alpha"), "public")
        .await;
    let b = server
        .create_channel(&owner, &format!("{tag} beta"), "public")
        .await;
    let hidden = server
        .create_channel(&owner, &format!("{tag} secret"), "private")
        .await;

    let (status, list) = server
        .get(
            Some(&joiner),
            &format!("/api/v1/channels/browse?q={}", encode_segment(&tag)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let found = ids(&list, "channels");
    assert_eq!(
        found.iter().collect::<BTreeSet<_>>(),
        [&a, &b].into_iter().collect(),
        "private channels are not listed: {list}"
    );
    assert!(!found.contains(&hidden));
    assert!(
        list["channels"][0].get("role").is_none(),
        "no membership fields for non-members: {list}"
    );
    let (_, page) = server
        .get(
            Some(&joiner),
            &format!("/api/v1/channels/browse?q={}&limit=1", encode_segment(&tag)),
            None,
        )
        .await;
    assert_eq!(ids(&page, "channels").len(), 1);
    let got = server
        .get(Some(&joiner), "/api/v1/channels/browse?after=abc", None)
        .await;
    assert_status_error("browse after=abc", (got.0, &got.1), 400, "bad_request");

    // A public channel is readable before joining.
    let (status, ch) = server
        .get(Some(&joiner), &format!("/api/v1/channels/{a}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{ch}");
    assert!(ch.get("role").is_none());

    let (status, m) = server
        .post(Some(&joiner), &format!("/api/v1/channels/{a}/join"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{m}");
    assert_eq!(m["role"], "member");
    assert_eq!(m["user_id"], joiner_id.as_str());
    assert_eq!(m["channel_id"], a.as_str());
    let (status, _) = server
        .post(Some(&joiner), &format!("/api/v1/channels/{a}/join"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "joining twice is harmless");
    let mine = my_channel(&server, &joiner, &a)
        .await
        .expect("joined channel in GET /channels");
    assert_eq!(mine["role"], "member");
    assert_eq!(mine["n_members"], 2);
    assert_eq!(member_ids(&server, &owner, &a).await.len(), 2);

    let (status, _) = server
        .post(Some(&joiner), &format!("/api/v1/channels/{a}/leave"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(my_channel(&server, &joiner, &a).await.is_none());
    let got = server
        .post(Some(&joiner), &format!("/api/v1/channels/{a}/leave"), None)
        .await;
    assert_status_error("leaving twice", (got.0, &got.1), 404, "member_not_found");
    let got = server
        .post(
            Some(&joiner),
            &format!("/api/v1/channels/{hidden}/join"),
            None,
        )
        .await;
    assert_status_error(
        "joining a private channel",
        (got.0, &got.1),
        404,
        "channel_not_found",
    );
}

#[tokio::test]
async fn private_channels_invite_remove_and_leave() {
    let server = TestServer::shared();
    let (owner_id, owner) = server.create_user(&unique_name("own")).await;
    let (guest_id, guest) = server.create_user(&unique_name("guest")).await;
    let (_, outsider) = server.create_user(&unique_name("out")).await;
    let admin = server.admin_token().await;
    let id = server
        .create_channel(&owner, &unique_name("private"), "private")
        .await;
    let path = format!("/api/v1/channels/{id}");
    server.post_message(&owner, &id, "secret plans").await;

    for (who, t) in [("non-member", &guest), ("site admin", &admin)] {
        for sub in ["", "/messages", "/members", "/pins"] {
            let got = server.get(Some(t), &format!("{path}{sub}"), None).await;
            assert_status_error(
                &format!("{who} GET {path}{sub}"),
                (got.0, &got.1),
                404,
                "channel_not_found",
            );
        }
        let got = server.post(Some(t), &format!("{path}/join"), None).await;
        assert_status_error(
            &format!("{who} joins"),
            (got.0, &got.1),
            404,
            "channel_not_found",
        );
    }

    let (status, m) = server
        .post(
            Some(&owner),
            &format!("{path}/members"),
            Some(json!({ "user_id": guest_id })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{m}");
    assert_eq!(m["role"], "member");
    let (status, _) = server
        .post(
            Some(&owner),
            &format!("{path}/members"),
            Some(json!({ "user_id": guest_id })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "inviting twice answers 200");
    let got = server
        .post(
            Some(&owner),
            &format!("{path}/members"),
            Some(json!({ "user_id": "999999999" })),
        )
        .await;
    assert_eq!(
        got.0,
        StatusCode::NOT_FOUND,
        "inviting an unknown user: {}",
        got.1
    );
    assert_eq!(
        member_ids(&server, &guest, &id).await,
        [owner_id.clone(), guest_id.clone()].into_iter().collect()
    );
    let (status, hist) = server
        .get(Some(&guest), &format!("{path}/messages"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(hist["messages"][0]["text"], "secret plans");
    // Members of a private channel may invite others.
    let (out_id, third_token) = server.create_user(&unique_name("third")).await;
    let (status, _) = server
        .post(
            Some(&guest),
            &format!("{path}/members"),
            Some(json!({ "user_id": out_id })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let got = server.get(Some(&outsider), &path, None).await;
    assert_status_error(
        "outsider still can't see it",
        (got.0, &got.1),
        404,
        "channel_not_found",
    );

    // Removal hides the channel again.
    let (status, _) = server
        .delete(Some(&owner), &format!("{path}/members/{guest_id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let got = server
        .get(Some(&guest), &format!("{path}/messages"), None)
        .await;
    assert_status_error(
        "removed member reads",
        (got.0, &got.1),
        404,
        "channel_not_found",
    );
    let got = server
        .delete(Some(&owner), &format!("{path}/members/{guest_id}"), None)
        .await;
    assert_eq!(got.0, StatusCode::NOT_FOUND, "removing twice: {}", got.1);

    // Leaving.
    let (status, _) = server
        .delete(Some(&admin), &format!("{path}/members/{out_id}"), None)
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a site admin has no say in a private channel"
    );
    let (status, _) = server
        .post(Some(&third_token), &format!("{path}/leave"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let got = server.get(Some(&third_token), &path, None).await;
    assert_status_error("after leaving", (got.0, &got.1), 404, "channel_not_found");
    assert_eq!(
        member_ids(&server, &owner, &id).await,
        [owner_id].into_iter().collect()
    );
}

#[tokio::test]
async fn channel_roles() {
    let server = TestServer::shared();
    let (_, owner) = server.create_user(&unique_name("own")).await;
    let (b_id, b) = server.create_user(&unique_name("b")).await;
    let (c_id, c) = server.create_user(&unique_name("c")).await;
    let (d_id, d) = server.create_user(&unique_name("d")).await;
    let id = server
        .create_channel(&owner, &unique_name("roles"), "public")
        .await;
    for u in [&b_id, &c_id, &d_id] {
        server.add_member(&owner, &id, u).await;
    }
    let member_path = |u: &str| format!("/api/v1/channels/{id}/members/{u}");

    // A member can neither remove others nor change roles.
    let got = server.delete(Some(&d), &member_path(&c_id), None).await;
    assert_status_error("member removes member", (got.0, &got.1), 403, "forbidden");
    let got = server
        .patch(
            Some(&d),
            &member_path(&d_id),
            Some(json!({ "role": "owner" })),
        )
        .await;
    assert_status_error("member promotes self", (got.0, &got.1), 403, "forbidden");

    let (status, m) = server
        .patch(
            Some(&owner),
            &member_path(&b_id),
            Some(json!({ "role": "admin" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{m}");
    assert_eq!(m["role"], "admin");
    let got = server
        .patch(
            Some(&owner),
            &member_path(&b_id),
            Some(json!({ "role": "boss" })),
        )
        .await;
    assert_status_error("unknown role", (got.0, &got.1), 400, "invalid_field");
    let (_, ch) = server
        .get(Some(&b), &format!("/api/v1/channels/{id}"), None)
        .await;
    assert_eq!(ch["role"], "admin");

    // The channel admin removes a member and renames, but may not change roles.
    let (status, _) = server.delete(Some(&b), &member_path(&c_id), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(!member_ids(&server, &owner, &id).await.contains(&c_id));
    assert!(my_channel(&server, &c, &id).await.is_none());
    let (status, _) = server
        .patch(
            Some(&b),
            &format!("/api/v1/channels/{id}"),
            Some(json!({ "name": unique_name("renamed") })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let got = server
        .patch(
            Some(&b),
            &member_path(&d_id),
            Some(json!({ "role": "admin" })),
        )
        .await;
    assert_status_error(
        "channel admin changes a role",
        (got.0, &got.1),
        403,
        "forbidden",
    );
    let got = server.delete(Some(&d), &member_path(&b_id), None).await;
    assert_status_error("member removes admin", (got.0, &got.1), 403, "forbidden");
    // Removing oneself is leaving.
    let (status, _) = server.delete(Some(&d), &member_path(&d_id), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(member_ids(&server, &owner, &id).await.len(), 2);
}

#[tokio::test]
async fn direct_conversations() {
    let server = TestServer::shared();
    let mut users = Vec::new();
    for i in 0..9 {
        users.push(server.create_user(&unique_name(&format!("dm{i}"))).await);
    }
    let (a_id, a) = users[0].clone();
    let (b_id, b) = users[1].clone();
    let (c_id, c) = users[2].clone();

    let (status, ab) = server
        .post(Some(&a), "/api/v1/dms", Some(json!({ "user_ids": [b_id] })))
        .await;
    assert_eq!(status, StatusCode::OK, "{ab}");
    assert_eq!(ab["kind"], "dm");
    assert!(ab["name"].is_null());
    let dm_users: BTreeSet<String> = ab["dm_user_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert!(dm_users.contains(&b_id), "{ab}");
    let (status, ba) = server
        .post(Some(&b), "/api/v1/dms", Some(json!({ "user_ids": [a_id] })))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        ab["id"], ba["id"],
        "the same pair gets the same conversation"
    );
    let dm = s(&ab, "id");
    // Numeric ids are accepted too.
    let (_, again) = server
        .post(
            Some(&a),
            "/api/v1/dms",
            Some(json!({ "user_ids": [b_id.parse::<i64>().unwrap()] })),
        )
        .await;
    assert_eq!(again["id"], dm.as_str());

    server.post_message(&a, &dm, "hi b").await;
    let (_, hist) = server
        .get(Some(&b), &format!("/api/v1/channels/{dm}/messages"), None)
        .await;
    assert_eq!(hist["messages"][0]["text"], "hi b");
    let got = server
        .get(Some(&c), &format!("/api/v1/channels/{dm}/messages"), None)
        .await;
    assert_status_error(
        "third party reads a DM",
        (got.0, &got.1),
        404,
        "channel_not_found",
    );
    let got = server
        .post(
            Some(&a),
            &format!("/api/v1/channels/{dm}/members"),
            Some(json!({ "user_id": c_id })),
        )
        .await;
    assert_status_error("inviting into a DM", (got.0, &got.1), 403, "forbidden");
    let got = server
        .post(Some(&a), &format!("/api/v1/channels/{dm}/leave"), None)
        .await;
    assert_status_error("leaving a DM", (got.0, &got.1), 403, "forbidden");

    // Group conversations: the same set of people, in any order, from anyone, is one conversation.
    let (status, g1) = server
        .post(
            Some(&a),
            "/api/v1/dms",
            Some(json!({ "user_ids": [b_id, c_id] })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{g1}");
    assert_eq!(g1["kind"], "group_dm");
    assert_eq!(g1["n_members"], 3);
    let (_, g2) = server
        .post(
            Some(&c),
            "/api/v1/dms",
            Some(json!({ "user_ids": [b_id, a_id] })),
        )
        .await;
    let (_, g3) = server
        .post(
            Some(&b),
            "/api/v1/dms",
            Some(json!({ "user_ids": [c_id, a_id, c_id] })),
        )
        .await;
    assert_eq!(g1["id"], g2["id"]);
    assert_eq!(g1["id"], g3["id"]);
    assert_ne!(g1["id"], ab["id"]);

    let others: Vec<&String> = users[1..].iter().map(|(id, _)| id).collect();
    let (status, eight) = server
        .post(
            Some(&a),
            "/api/v1/dms",
            Some(json!({ "user_ids": others[..7] })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "8 people is allowed: {eight}");
    assert_eq!(eight["n_members"], 8);
    let got = server
        .post(Some(&a), "/api/v1/dms", Some(json!({ "user_ids": others })))
        .await;
    assert_status_error("9 people", (got.0, &got.1), 422, "limit_exceeded");
    let got = server
        .post(
            Some(&a),
            "/api/v1/dms",
            Some(json!({ "user_ids": ["999999999"] })),
        )
        .await;
    assert_status_error(
        "DM with an unknown user",
        (got.0, &got.1),
        404,
        "user_not_found",
    );
}

#[tokio::test]
async fn posting_is_idempotent_and_limited() {
    let server = TestServer::shared();
    let (a_id, a) = server.create_user(&unique_name("post")).await;
    let id = server
        .create_channel(&a, &unique_name("posts"), "public")
        .await;
    let path = format!("/api/v1/channels/{id}/messages");

    let first = server
        .post_message(&a, &id, "  indented\n\nsecond line  ")
        .await;
    assert_eq!(
        first["text"], "  indented\n\nsecond line",
        "trailing space trimmed, indentation kept"
    );
    assert_eq!(first["seq"], 1);
    assert_eq!(first["user_id"], a_id.as_str());
    assert_eq!(first["channel_id"], id.as_str());
    assert_eq!(first["deleted"], false);
    assert_eq!(first["reply_count"], 0);

    let body = json!({ "text": "exactly once", "client_msg_id": "client-42" });
    let (status, m1) = server.post(Some(&a), &path, Some(body.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{m1}");
    assert_eq!(m1["client_msg_id"], "client-42");
    let (status, m2) = server.post(Some(&a), &path, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "a retry answers 200: {m2}");
    assert_eq!(m1["id"], m2["id"]);
    assert_eq!(m1["seq"], m2["seq"]);
    let (_, hist) = server.get(Some(&a), &path, None).await;
    assert_eq!(
        hist["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["text"] == "exactly once")
            .count(),
        1,
        "{hist}"
    );

    let max = "字".repeat(16_000);
    let (status, long) = server
        .post(Some(&a), &path, Some(json!({ "text": max })))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(long["text"].as_str().unwrap().chars().count(), 16_000);
    let too_long = "a".repeat(16_001);
    for (what, body) in [
        ("16001 characters", json!({ "text": too_long })),
        ("blank text", json!({ "text": " \n " })),
        ("control character", json!({ "text": "bell\u{7}" })),
        (
            "client id with a space",
            json!({ "text": "x", "client_msg_id": "a b" }),
        ),
    ] {
        let got = server.post(Some(&a), &path, Some(body)).await;
        assert_status_error(what, (got.0, &got.1), 400, "invalid_field");
    }
    let (_, hist) = server.get(Some(&a), &path, None).await;
    assert_eq!(seqs(&hist), vec![1, 2, 3], "refused posts leave no trace");
    let (_, ch) = server
        .get(Some(&a), &format!("/api/v1/channels/{id}"), None)
        .await;
    assert_eq!(ch["last_seq"], 3);
}

#[tokio::test]
async fn edit_and_delete_messages() {
    let server = TestServer::shared();
    let (_, owner) = server.create_user(&unique_name("own")).await;
    let (b_id, b) = server.create_user(&unique_name("b")).await;
    let (c_id, c) = server.create_user(&unique_name("c")).await;
    let id = server
        .create_channel(&owner, &unique_name("edits"), "public")
        .await;
    server.add_member(&owner, &id, &b_id).await;
    server.add_member(&owner, &id, &c_id).await;

    let mine = server.post_message(&b, &id, "tpyo").await;
    let path = format!("/api/v1/messages/{}", s(&mine, "id"));
    let (status, edited) = server
        .patch(Some(&b), &path, Some(json!({ "text": "typo" })))
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["text"], "typo");
    assert!(edited["edited_at"].is_string());
    assert_eq!(edited["seq"], mine["seq"]);
    let (_, fetched) = server.get(Some(&c), &path, None).await;
    assert_eq!(fetched["text"], "typo");

    for (who, t) in [("another member", &c), ("the channel owner", &owner)] {
        let got = server
            .patch(Some(t), &path, Some(json!({ "text": "hijacked" })))
            .await;
        assert_status_error(
            &format!("{who} edits b's message"),
            (got.0, &got.1),
            403,
            "forbidden",
        );
    }
    let got = server
        .patch(Some(&b), &path, Some(json!({ "text": "" })))
        .await;
    assert_status_error("edit to empty", (got.0, &got.1), 400, "invalid_field");
    let got = server.delete(Some(&c), &path, None).await;
    assert_status_error(
        "member deletes another's message",
        (got.0, &got.1),
        403,
        "forbidden",
    );
    let (_, fetched) = server.get(Some(&b), &path, None).await;
    assert_eq!(fetched["text"], "typo", "refused changes changed nothing");
    assert_eq!(fetched["deleted"], false);

    let (status, _) = server.delete(Some(&b), &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, gone) = server.get(Some(&b), &path, None).await;
    assert_eq!(status, StatusCode::OK, "{gone}");
    assert_eq!(gone["deleted"], true);
    assert_eq!(gone["text"], "");
    assert!(gone["deleted_at"].is_string());
    let (_, hist) = server
        .get(Some(&b), &format!("/api/v1/channels/{id}/messages"), None)
        .await;
    assert!(
        hist["messages"].as_array().unwrap().is_empty(),
        "deleted messages leave history: {hist}"
    );

    // A channel admin (here the owner) deletes someone else's message.
    let cs = server.post_message(&c, &id, "spam").await;
    let (status, _) = server
        .delete(
            Some(&owner),
            &format!("/api/v1/messages/{}", s(&cs, "id")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, gone) = server
        .get(
            Some(&c),
            &format!("/api/v1/messages/{}", s(&cs, "id")),
            None,
        )
        .await;
    assert_eq!(gone["deleted"], true);
}

#[tokio::test]
async fn threads() {
    let server = TestServer::shared();
    let (_, a) = server.create_user(&unique_name("a")).await;
    let (b_id, b) = server.create_user(&unique_name("b")).await;
    let id = server
        .create_channel(&a, &unique_name("threads"), "public")
        .await;
    server.add_member(&a, &id, &b_id).await;
    let path = format!("/api/v1/channels/{id}/messages");

    let root = server.post_message(&a, &id, "root").await;
    let root_id = s(&root, "id");
    let reply = |text: &str| json!({ "text": text, "thread_root_id": root_id });
    let (status, r1) = server
        .post(Some(&b), &path, Some(reply("first reply")))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{r1}");
    assert_eq!(r1["thread_root_id"], root_id.as_str());
    let (status, r2) = server
        .post(Some(&a), &path, Some(reply("second reply")))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let after = server.post_message(&b, &id, "not in the thread").await;

    let (_, root_now) = server
        .get(Some(&b), &format!("/api/v1/messages/{root_id}"), None)
        .await;
    assert_eq!(root_now["reply_count"], 2, "{root_now}");
    assert_eq!(root_now["last_reply_at"], r2["created_at"]);

    let (status, thread) = server
        .get(
            Some(&b),
            &format!("/api/v1/messages/{root_id}/thread"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{thread}");
    assert_eq!(
        ids(&thread, "messages"),
        vec![root_id.clone(), s(&r1, "id"), s(&r2, "id")]
    );
    let (_, tail) = server
        .get(
            Some(&b),
            &format!("/api/v1/messages/{root_id}/thread?after={}", r1["seq"]),
            None,
        )
        .await;
    assert_eq!(ids(&tail, "messages"), vec![root_id.clone(), s(&r2, "id")]);

    let (_, hist) = server.get(Some(&b), &path, None).await;
    assert_eq!(
        ids(&hist, "messages"),
        vec![root_id.clone(), s(&after, "id")],
        "replies are not in the channel history"
    );
    let (_, all) = server
        .get(Some(&b), &format!("{path}?include_replies=true"), None)
        .await;
    assert_eq!(
        ids(&all, "messages"),
        vec![root_id.clone(), s(&r1, "id"), s(&r2, "id"), s(&after, "id")]
    );

    // Threads are one level deep; the root must be in this channel.
    let got = server
        .post(
            Some(&a),
            &path,
            Some(json!({ "text": "nested", "thread_root_id": s(&r1, "id") })),
        )
        .await;
    assert_status_error("reply to a reply", (got.0, &got.1), 400, "invalid_field");
    assert_eq!(got.1["error"]["field"], "thread_root_id");
    let got = server
        .get(
            Some(&a),
            &format!("/api/v1/messages/{}/thread", s(&r1, "id")),
            None,
        )
        .await;
    assert_status_error("thread of a reply", (got.0, &got.1), 400, "invalid_field");
    let other = server
        .create_channel(&a, &unique_name("elsewhere"), "public")
        .await;
    let got = server
        .post(
            Some(&a),
            &format!("/api/v1/channels/{other}/messages"),
            Some(reply("cross-channel")),
        )
        .await;
    assert_status_error(
        "root in another channel",
        (got.0, &got.1),
        400,
        "invalid_field",
    );
    let got = server
        .post(
            Some(&a),
            &path,
            Some(json!({ "text": "x", "thread_root_id": "999999999" })),
        )
        .await;
    assert_status_error("unknown root", (got.0, &got.1), 400, "invalid_field");
    let (_, root_now) = server
        .get(Some(&b), &format!("/api/v1/messages/{root_id}"), None)
        .await;
    assert_eq!(
        root_now["reply_count"], 2,
        "refused replies are not counted"
    );

    // Deleting replies keeps the root's summary true.
    let (status, _) = server
        .delete(
            Some(&a),
            &format!("/api/v1/messages/{}", s(&r2, "id")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, root_now) = server
        .get(Some(&b), &format!("/api/v1/messages/{root_id}"), None)
        .await;
    assert_eq!(root_now["reply_count"], 1, "{root_now}");
    assert_eq!(
        root_now["last_reply_at"], r1["created_at"],
        "the newest remaining reply: {root_now}"
    );
    let (_, thread) = server
        .get(
            Some(&b),
            &format!("/api/v1/messages/{root_id}/thread"),
            None,
        )
        .await;
    assert_eq!(
        ids(&thread, "messages"),
        vec![root_id.clone(), s(&r1, "id")]
    );
    let (status, _) = server
        .delete(
            Some(&b),
            &format!("/api/v1/messages/{}", s(&r1, "id")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, root_now) = server
        .get(Some(&b), &format!("/api/v1/messages/{root_id}"), None)
        .await;
    assert_eq!(root_now["reply_count"], 0, "{root_now}");
    assert!(
        root_now["last_reply_at"].is_null(),
        "no replies left: {root_now}"
    );
}

#[tokio::test]
async fn reactions() {
    let server = TestServer::shared();
    let (a_id, a) = server.create_user(&unique_name("a")).await;
    let (b_id, b) = server.create_user(&unique_name("b")).await;
    let id = server
        .create_channel(&a, &unique_name("reactions"), "public")
        .await;
    server.add_member(&a, &id, &b_id).await;
    let msg = server.post_message(&a, &id, "react to me").await;
    let mid = s(&msg, "id");
    let thumbs = format!("/api/v1/messages/{mid}/reactions/{}", encode_segment("👍"));

    let (status, m) = server.put(Some(&a), &thumbs, None).await;
    assert_eq!(status, StatusCode::OK, "{m}");
    assert_eq!(
        m["reactions"],
        json!([{ "emoji": "👍", "count": 1, "user_ids": [a_id] }])
    );
    let (status, m) = server.put(Some(&a), &thumbs, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        m["reactions"][0]["count"], 1,
        "adding twice is idempotent: {m}"
    );
    let (_, m) = server.put(Some(&b), &thumbs, None).await;
    assert_eq!(m["reactions"][0]["count"], 2);
    let users: BTreeSet<&str> = m["reactions"][0]["user_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(users, [a_id.as_str(), b_id.as_str()].into_iter().collect());

    // Short names (colons optional) and multi-code-point emoji.
    for (raw, stored) in [(":tada:", "tada"), ("+1", "+1"), ("🇨🇳", "🇨🇳"), ("👍🏽", "👍🏽")]
    {
        let (status, m) = server
            .put(
                Some(&b),
                &format!("/api/v1/messages/{mid}/reactions/{}", encode_segment(raw)),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{raw}: {m}");
        assert!(
            m["reactions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["emoji"] == stored),
            "{raw}: {m}"
        );
    }
    for bad in ["Thumbs Up", "<script>", "中文"] {
        let got = server
            .put(
                Some(&b),
                &format!("/api/v1/messages/{mid}/reactions/{}", encode_segment(bad)),
                None,
            )
            .await;
        assert_status_error(
            &format!("emoji {bad:?}"),
            (got.0, &got.1),
            400,
            "invalid_field",
        );
    }

    let (status, m) = server.delete(Some(&a), &thumbs, None).await;
    assert_eq!(status, StatusCode::OK, "{m}");
    let thumbs_group = m["reactions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["emoji"] == "👍")
        .cloned()
        .unwrap();
    assert_eq!(
        thumbs_group,
        json!({ "emoji": "👍", "count": 1, "user_ids": [b_id] })
    );
    let (status, m) = server.delete(Some(&a), &thumbs, None).await;
    assert_eq!(status, StatusCode::OK, "removing twice is idempotent: {m}");
    let (_, m) = server.delete(Some(&b), &thumbs, None).await;
    assert!(
        m["reactions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["emoji"] != "👍"),
        "an empty group disappears: {m}"
    );
    let (_, fetched) = server
        .get(Some(&a), &format!("/api/v1/messages/{mid}"), None)
        .await;
    assert_eq!(fetched["reactions"], m["reactions"]);
}

#[tokio::test]
async fn pins() {
    let server = TestServer::shared();
    let (a_id, a) = server.create_user(&unique_name("a")).await;
    let id = server
        .create_channel(&a, &unique_name("pins"), "public")
        .await;
    let m1 = server.post_message(&a, &id, "one").await;
    let m2 = server.post_message(&a, &id, "two").await;
    let pins_path = format!("/api/v1/channels/{id}/pins");
    let (_, empty) = server.get(Some(&a), &pins_path, None).await;
    assert_eq!(empty["messages"], json!([]));

    let (status, p) = server
        .put(
            Some(&a),
            &format!("/api/v1/messages/{}/pin", s(&m1, "id")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["pinned"], true);
    assert_eq!(p["pinned_by"], a_id.as_str());
    assert!(p["pinned_at"].is_string());
    let (status, _) = server
        .put(
            Some(&a),
            &format!("/api/v1/messages/{}/pin", s(&m1, "id")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "pinning twice is harmless");
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    server
        .put(
            Some(&a),
            &format!("/api/v1/messages/{}/pin", s(&m2, "id")),
            None,
        )
        .await;
    let (status, pins) = server.get(Some(&a), &pins_path, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        ids(&pins, "messages"),
        vec![s(&m2, "id"), s(&m1, "id")],
        "newest pin first"
    );

    let (status, p) = server
        .delete(
            Some(&a),
            &format!("/api/v1/messages/{}/pin", s(&m2, "id")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(p["pinned"], false);
    assert!(p["pinned_by"].is_null());
    let (_, pins) = server.get(Some(&a), &pins_path, None).await;
    assert_eq!(ids(&pins, "messages"), vec![s(&m1, "id")]);
}

#[tokio::test]
async fn mentions_unread_counts_and_mark_read() {
    let server = TestServer::shared();
    let (_, a) = server.create_user(&unique_name("a")).await;
    let b_name = unique_name("bee");
    let (b_id, b) = server.create_user(&b_name).await;
    let id = server
        .create_channel(&a, &unique_name("mentions"), "public")
        .await;
    server.add_member(&a, &id, &b_id).await;

    let m1 = server
        .post_message(&a, &id, &format!("hi @{b_name}, and @nobody-here-xyz"))
        .await;
    assert_eq!(
        m1["mentions"],
        json!({ "user_ids": [b_id], "channel": false, "here": false })
    );
    let m2 = server.post_message(&a, &id, "@channel standup").await;
    assert_eq!(
        m2["mentions"],
        json!({ "user_ids": [], "channel": true, "here": false })
    );
    let m3 = server.post_message(&a, &id, "@here anyone?").await;
    assert_eq!(
        m3["mentions"],
        json!({ "user_ids": [], "channel": false, "here": true })
    );
    let m4 = server
        .post_message(
            &a,
            &id,
            &format!("no mention: mail {b_name}@example.com or `@{b_name}`"),
        )
        .await;
    assert_eq!(
        m4["mentions"],
        json!({ "user_ids": [], "channel": false, "here": false })
    );

    let entry = my_channel(&server, &b, &id).await.expect("b's channel");
    assert_eq!(entry["unread_count"], 4, "{entry}");
    assert_eq!(entry["mention_count"], 3, "{entry}");
    assert_eq!(entry["last_read_seq"], 0);
    let own = my_channel(&server, &a, &id).await.unwrap();
    assert_eq!(
        own["unread_count"], 0,
        "one's own messages are not unread: {own}"
    );

    let read_path = format!("/api/v1/channels/{id}/read");
    let read = |seq: i64| server.post(Some(&b), &read_path, Some(json!({ "seq": seq })));
    let (status, m) = read(2).await;
    assert_eq!(status, StatusCode::OK, "{m}");
    assert_eq!(m["last_read_seq"], 2);
    let entry = my_channel(&server, &b, &id).await.unwrap();
    assert_eq!(
        (
            entry["unread_count"].as_i64(),
            entry["mention_count"].as_i64()
        ),
        (Some(2), Some(1)),
        "{entry}"
    );
    let (status, m) = read(1000).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(m["last_read_seq"], 4, "clamped to the newest message");
    let entry = my_channel(&server, &b, &id).await.unwrap();
    assert_eq!(
        (
            entry["unread_count"].as_i64(),
            entry["mention_count"].as_i64()
        ),
        (Some(0), Some(0)),
        "{entry}"
    );
    let got = read(-1).await;
    assert_status_error("negative seq", (got.0, &got.1), 400, "invalid_field");

    server.post_message(&a, &id, "one more").await;
    let (_, single) = server
        .get(Some(&b), &format!("/api/v1/channels/{id}"), None)
        .await;
    assert_eq!(single["unread_count"], 1, "{single}");
    assert_eq!(single["mention_count"], 0);
}

#[tokio::test]
async fn history_paging() {
    let server = TestServer::shared();
    let (_, a) = server.create_user(&unique_name("hist")).await;
    let id = server
        .create_channel(&a, &unique_name("history"), "public")
        .await;
    let total: i64 = 210;
    // Post concurrently from a few tasks; seq numbers come out 1..=210 without gaps.
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..6 {
        let (server, a, id) = (Arc::clone(&server), a.clone(), id.clone());
        tasks.spawn(async move {
            for i in 0..total / 6 {
                server
                    .post_message(&a, &id, &format!("message {t}/{i}"))
                    .await;
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let page = |query: &'static str| {
        let (server, a, id) = (Arc::clone(&server), a.clone(), id.clone());
        async move {
            let (status, body) = server
                .get(
                    Some(&a),
                    &format!("/api/v1/channels/{id}/messages{query}"),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{query}: {body}");
            seqs(&body)
        }
    };
    assert_eq!(
        page("").await,
        (161..=210).collect::<Vec<_>>(),
        "default: the newest 50, ascending"
    );
    assert_eq!(page("?limit=200").await, (11..=210).collect::<Vec<_>>());
    // Outside 1..=200 the page size is refused, not clamped (docs/api/contract.md).
    for bad in ["?limit=1000", "?limit=0", "?limit=201"] {
        let (status, body) = server
            .get(
                Some(&a),
                &format!("/api/v1/channels/{id}/messages{bad}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    assert_eq!(page("?limit=1").await, vec![210]);
    assert_eq!(
        page("?before=100&limit=10").await,
        (90..=99).collect::<Vec<_>>()
    );
    assert_eq!(
        page("?after=100&limit=10").await,
        (101..=110).collect::<Vec<_>>()
    );
    assert_eq!(
        page("?around=100&limit=10").await,
        (95..=104).collect::<Vec<_>>()
    );
    assert_eq!(page("?before=3").await, vec![1, 2]);
    assert_eq!(page("?after=205").await, (206..=210).collect::<Vec<_>>());
    assert_eq!(page("?after=210").await, Vec::<i64>::new());
    assert_eq!(page("?before=1").await, Vec::<i64>::new());

    // Walking backwards from the newest page reaches every message exactly once.
    let mut seen = Vec::new();
    let mut before: Option<i64> = None;
    loop {
        let q = match before {
            Some(b) => format!("?before={b}&limit=64"),
            None => "?limit=64".to_owned(),
        };
        let (_, body) = server
            .get(
                Some(&a),
                &format!("/api/v1/channels/{id}/messages{q}"),
                None,
            )
            .await;
        let s = seqs(&body);
        if s.is_empty() {
            break;
        }
        before = Some(s[0]);
        seen.splice(0..0, s);
    }
    assert_eq!(seen, (1..=total).collect::<Vec<_>>());

    for q in [
        "?before=5&after=1",
        "?around=5&before=9",
        "?before=1&after=2&around=3",
        "?before=abc",
        "?limit=-1",
    ] {
        let got = server
            .get(
                Some(&a),
                &format!("/api/v1/channels/{id}/messages{q}"),
                None,
            )
            .await;
        assert_status_error(&format!("history {q}"), (got.0, &got.1), 400, "bad_request");
    }
}

#[tokio::test]
async fn system_endpoints_and_openapi() {
    let server = TestServer::shared();
    let (status, body) = server.get(None, "/healthz", None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({ "status": "ok" })));
    let (status, body) = server.get(None, "/readyz", None).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({ "status": "ready" }))
    );

    let resp = server
        .client()
        .get(server.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let doc: Value =
        serde_json::from_slice(&resp.bytes().await.unwrap()).expect("the OpenAPI document is JSON");
    let version = doc["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3.1."), "openapi version {version}");
    assert_eq!(doc["info"]["title"], "Enclave API");
    let paths = doc["paths"].as_object().expect("paths");
    for p in PATHS_USED {
        assert!(
            paths.contains_key(*p),
            "{p} is missing from the OpenAPI document"
        );
    }
    assert!(
        doc["components"]["securitySchemes"]["bearer"].is_object(),
        "bearer scheme documented"
    );

    let got = server.get(None, "/api/v1/no/such/route", None).await;
    assert_status_error("unknown route", (got.0, &got.1), 404, "not_found");
    // Paths outside the API belong to the web client, which routes them itself.
    let got = server.get(None, "/some/client/route", None).await;
    assert_eq!(got.0, 200, "the web client is served for client routes");
    assert!(
        got.1
            .as_str()
            .is_some_and(|html| html.contains("<div id=\"app\">")),
        "{}",
        got.1
    );
    let got = server.delete(None, "/healthz", None).await;
    assert_status_error(
        "DELETE /healthz",
        (got.0, &got.1),
        405,
        "method_not_allowed",
    );
    let admin = server.admin_token().await;
    let got = server.put(Some(&admin), "/api/v1/channels", None).await;
    assert_status_error(
        "PUT /api/v1/channels",
        (got.0, &got.1),
        405,
        "method_not_allowed",
    );
    let got = server
        .post(Some(&admin), "/api/v1/users/me", Some(json!({})))
        .await;
    assert_status_error(
        "POST /api/v1/users/me",
        (got.0, &got.1),
        405,
        "method_not_allowed",
    );

    // Every response carries a request id.
    let resp = server
        .client()
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert!(resp.headers().contains_key("x-request-id"));
    // Error bodies have exactly the documented shape.
    let (status, body) = server.get(None, "/api/v1/users/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let keys: BTreeSet<&str> = body["error"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["code", "message"].into_iter().collect(), "{body}");
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
}

#[tokio::test]
async fn sigterm_shuts_down_gracefully() {
    let mut server = TestServer::start();
    let (_, a) = server.create_user(&unique_name("last")).await;
    let id = server
        .create_channel(&a, &unique_name("before shutdown"), "public")
        .await;
    server.post_message(&a, &id, "durable").await;
    let status = server.terminate();
    assert!(status.success(), "exit status {status:?}\n{}", server.log());
    assert_eq!(status.code(), Some(0));
    assert!(server.log().contains("stopped"), "{}", server.log());

    // The data survives a restart on the same folder.
    server.restart();
    let (status, hist) = server
        .get(Some(&a), &format!("/api/v1/channels/{id}/messages"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{hist}");
    assert_eq!(hist["messages"][0]["text"], "durable");
}

#[tokio::test]
async fn names_with_invisible_or_direction_characters_are_400() {
    let server = TestServer::shared();
    let (user_id, token) = server.create_user(&unique_name("bidi")).await;
    let channel = server
        .create_channel(&token, &unique_name("bidi"), "public")
        .await;
    let channel_path = format!("/api/v1/channels/{channel}");
    let user_path = format!("/api/v1/users/{user_id}");
    for bad in [
        "evil\u{202E}gpj.exe",
        "a\u{2067}b",
        "\u{200F}x",
        "a\u{061C}b",
        "ad\u{200B}min",
        "ad\u{200D}min",
        "x\u{2060}y",
        "\u{FEFF}admin",
    ] {
        let cases = [
            (
                "create channel",
                "name",
                server
                    .post(
                        Some(&token),
                        "/api/v1/channels",
                        Some(json!({ "name": bad, "kind": "public" })),
                    )
                    .await,
            ),
            (
                "create channel topic",
                "topic",
                server
                    .post(
                        Some(&token),
                        "/api/v1/channels",
                        Some(json!({ "name": unique_name("ok"), "kind": "private", "topic": bad })),
                    )
                    .await,
            ),
            (
                "rename channel",
                "name",
                server
                    .patch(Some(&token), &channel_path, Some(json!({ "name": bad })))
                    .await,
            ),
            (
                "set purpose",
                "purpose",
                server
                    .patch(Some(&token), &channel_path, Some(json!({ "purpose": bad })))
                    .await,
            ),
            (
                "display name",
                "display_name",
                server
                    .patch(
                        Some(&token),
                        &user_path,
                        Some(json!({ "display_name": bad })),
                    )
                    .await,
            ),
        ];
        for (what, field, got) in cases {
            assert_status_error(
                &format!("{what} {bad:?}"),
                (got.0, &got.1),
                400,
                "invalid_field",
            );
            assert_eq!(got.1["error"]["field"], field, "{what} {bad:?}: {}", got.1);
        }
    }
    // Emoji sequences joined by U+200D are one picture, and stay allowed.
    let (status, me) = server
        .patch(
            Some(&token),
            &user_path,
            Some(json!({ "display_name": "Dev 👩‍💻" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["display_name"], "Dev 👩‍💻");
}
