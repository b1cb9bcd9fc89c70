//! Sessions and devices, scoped personal access tokens and app passwords
//! (`docs/admin/sessions.md`) against the real binary, on SQLite and on a private PostgreSQL:
//!
//! - the list shows each session's device (from the `User-Agent`), client, address, created
//!   and last seen, with the current one marked;
//! - ending a session stops its requests and closes its WebSocket at once; another user's
//!   session id is "not found"; ending the others keeps the current one; an administrator
//!   lists and ends all of a user's sessions; every change is in the audit log;
//! - token scopes: a `read` token cannot post, a `write` token cannot do site administration,
//!   an `admin` token of a non-administrator is still refused; tokens cannot mint tokens; an
//!   expiry is required and bounded by `[auth] token_max_days`;
//! - app passwords: shown once, listed with a hint, work as HTTP Basic credentials (and never
//!   as a web login), refused once revoked;
//! - wrong and over-long input is refused and changes nothing.
//!
//! The idle timeout and the absolute lifetime are tested with an injected clock in
//! `enclave-app` (`accounts::credentials` tests on both backends); here the keys are checked to
//! reach the server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use base64::Engine;
use common::ws::{FRAME_TIMEOUT, WsClient};
use common::{
    ADMIN_PASSWORD, ADMIN_USER, Method, StatusCode, TestServer, USER_PASSWORD, Value, assert_error,
    json, unique_name,
};

const CHROME_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
const FIREFOX_LINUX: &str =
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";

/// Trust `X-Forwarded-For` from the test client, so that sessions get the addresses we say.
fn env<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![("ENCLAVE_HTTP__TRUSTED_PROXIES", "[\"127.0.0.1\"]")];
    env.extend_from_slice(extra);
    env
}

/// Logs in with a user agent, a client name and a client address; returns the token.
async fn login_as(
    server: &TestServer,
    login: &str,
    password: &str,
    agent: &str,
    client: &str,
    ip: &str,
) -> String {
    let resp = server
        .client()
        .post(server.url("/api/v1/auth/login"))
        .header("user-agent", agent)
        .header("x-forwarded-for", ip)
        .json(&json!({ "login": login, "password": password, "client": client }))
        .send()
        .await
        .unwrap();
    let (status, body) = common::read_json(resp).await;
    assert_eq!(status, StatusCode::OK, "login: {body}");
    body["token"].as_str().unwrap().to_owned()
}

fn basic(login: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{login}:{password}"))
    )
}

async fn with_basic(
    server: &TestServer,
    method: Method,
    path: &str,
    authorization: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = server
        .client()
        .request(method, server.url(path))
        .header("authorization", authorization);
    if let Some(b) = body {
        req = req.json(&b);
    }
    common::read_json(req.send().await.unwrap()).await
}

async fn sessions(server: &TestServer, token: &str) -> Vec<Value> {
    let (st, body) = server
        .get(Some(token), "/api/v1/users/me/sessions", None)
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    body["sessions"].as_array().unwrap().clone()
}

async fn audit_actions(server: &TestServer, target: &str) -> Vec<String> {
    let admin = server.admin_token().await;
    let (st, body) = server
        .get(
            Some(&admin),
            &format!("/api/v1/admin/audit?limit=200&target_id={target}"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn new_user(server: &TestServer, prefix: &str) -> (String, String) {
    let name = unique_name(prefix);
    let (id, _) = server.create_user(&name).await;
    (id, name)
}

/// The story of one user's devices.
async fn devices(server: &TestServer) {
    let (id, name) = new_user(server, "devices").await;
    let laptop = login_as(
        server,
        &name,
        USER_PASSWORD,
        CHROME_WINDOWS,
        "Enclave web",
        "198.51.100.7",
    )
    .await;
    let phone = login_as(
        server,
        &name,
        USER_PASSWORD,
        FIREFOX_LINUX,
        "",
        "2001:db8::9",
    )
    .await;

    // The list shows device, client, address and times; the current one is marked.
    let list = sessions(server, &laptop).await;
    let mine = list
        .iter()
        .find(|s| s["current"] == true)
        .expect("the current session is marked");
    assert_eq!(mine["device"], "Chrome on Windows", "{mine}");
    assert_eq!(mine["client"], "Enclave web");
    assert_eq!(mine["ip"], "198.51.100.7");
    assert!(mine["created_at"].is_string() && mine["expires_at"].is_string());
    let other = list
        .iter()
        .find(|s| s["device"] == "Firefox on Linux")
        .expect("the phone's session");
    assert_eq!(other["ip"], "2001:db8::9");
    assert_eq!(other["current"], false);
    let phone_session = other["id"].as_str().unwrap().to_owned();

    // A WebSocket of the phone's session closes when the laptop ends that session.
    let mut ws = WsClient::connect(server, &phone).await;
    let (st, body) = server
        .delete(
            Some(&laptop),
            &format!("/api/v1/users/me/sessions/{phone_session}"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{body}");
    let (code, _) = ws.read_until_close(FRAME_TIMEOUT).await;
    assert_eq!(code, Some(4001), "the ended session's socket");
    let (st, body) = server.get(Some(&phone), "/api/v1/users/me", None).await;
    assert_error("an ended session", &body, "unauthenticated");
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    // Ending it again, or a made-up id, is "not found".
    for bad in [phone_session.as_str(), "999999999", "x"] {
        let (st, body) = server
            .delete(
                Some(&laptop),
                &format!("/api/v1/users/me/sessions/{bad}"),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{bad}: {body}");
    }

    // Another user's session id is "not found", and that session keeps working.
    let (_, stranger) = new_user(server, "stranger").await;
    let stranger_token = server.login_token(&stranger, USER_PASSWORD).await;
    let stranger_session = sessions(server, &stranger_token)
        .await
        .into_iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (st, body) = server
        .delete(
            Some(&laptop),
            &format!("/api/v1/users/me/sessions/{stranger_session}"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{body}");
    assert_error("another user's session", &body, "token_not_found");
    let (st, _) = server
        .get(Some(&stranger_token), "/api/v1/users/me", None)
        .await;
    assert_eq!(st, StatusCode::OK);

    // End all others: only the current one is left.
    let tablet = server.login_token(&name, USER_PASSWORD).await;
    let (st, body) = server
        .post(Some(&laptop), "/api/v1/users/me/sessions/end-others", None)
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    // The tablet, and the session `create_user` signed in with.
    assert_eq!(body["ended"], 2);
    let (st, _) = server.get(Some(&tablet), "/api/v1/users/me", None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert_eq!(sessions(server, &laptop).await.len(), 1);

    // Members may not see or end another account's sessions; an administrator may.
    let (st, body) = server
        .get(
            Some(&stranger_token),
            &format!("/api/v1/users/{id}/sessions"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{body}");
    let (st, _) = server
        .delete(
            Some(&stranger_token),
            &format!("/api/v1/users/{id}/sessions"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let admin = server.admin_token().await;
    let (st, body) = server
        .get(Some(&admin), &format!("/api/v1/users/{id}/sessions"), None)
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["sessions"].as_array().unwrap().len(), 1, "{body}");
    let mut ws = WsClient::connect(server, &laptop).await;
    let (st, body) = server
        .delete(Some(&admin), &format!("/api/v1/users/{id}/sessions"), None)
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["ended"], 1);
    let (code, _) = ws.read_until_close(FRAME_TIMEOUT).await;
    assert_eq!(
        code,
        Some(4001),
        "a socket of a session the administrator ended"
    );
    let (st, _) = server.get(Some(&laptop), "/api/v1/users/me", None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, _) = server
        .delete(Some(&admin), "/api/v1/users/999999999/sessions", None)
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // Each change is in the audit log.
    let by_user = audit_actions(server, &id).await;
    for action in [
        "other_sessions_ended",
        "sessions_ended_by_admin",
        "admin_read",
    ] {
        assert!(by_user.iter().any(|a| a == action), "{action}: {by_user:?}");
    }
    let by_session = audit_actions(server, &phone_session).await;
    assert!(
        by_session.iter().any(|a| a == "session_revoked"),
        "{by_session:?}"
    );
}

/// Token scopes, decided in the core's permission checks.
async fn scopes(server: &TestServer) {
    let (_, name) = new_user(server, "scopes").await;
    let session = server.login_token(&name, USER_PASSWORD).await;
    let channel = server
        .create_channel(&session, &unique_name("scoped"), "public")
        .await;
    let token = |scope: &'static str| {
        let session = session.clone();
        async move {
            let (st, body) = server
                .post(
                    Some(&session),
                    "/api/v1/users/me/tokens",
                    Some(json!({ "name": format!("{scope} script"), "scope": scope, "expires_in_days": 30 })),
                )
                .await;
            assert_eq!(st, StatusCode::CREATED, "{body}");
            assert_eq!(body["scope"], scope);
            assert!(body["expires_at"].is_string());
            body["token"].as_str().unwrap().to_owned()
        }
    };
    let read = token("read").await;
    let write = token("write").await;
    let member_admin = token("admin").await;
    let messages = format!("/api/v1/channels/{channel}/messages");
    let post = |t: String| {
        let path = messages.clone();
        async move {
            server
                .post(Some(&t), &path, Some(json!({ "text": "from a script" })))
                .await
        }
    };
    // read: reads, never changes.
    let (st, _) = server
        .get(
            Some(&read),
            &format!("/api/v1/channels/{channel}/messages"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, body) = post(read.clone()).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{body}");
    let (_, me) = server.get(Some(&read), "/api/v1/users/me", None).await;
    let (st, body) = server
        .patch(
            Some(&read),
            &format!("/api/v1/users/{}", me["id"].as_str().unwrap()),
            Some(json!({ "display_name": "Renamed by a reader" })),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{body}");
    let (st, _) = server
        .post(
            Some(&read),
            &format!("/api/v1/channels/{channel}/join"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // write: posts.
    let (st, body) = post(write.clone()).await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    // Tokens cannot make tokens or app passwords.
    for t in [&read, &write, &member_admin] {
        let (st, body) = server
            .post(
                Some(t),
                "/api/v1/users/me/tokens",
                Some(json!({ "name": "child", "scope": "admin", "expires_in_days": 1 })),
            )
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{body}");
        let (st, _) = server
            .post(
                Some(t),
                "/api/v1/users/me/app-passwords",
                Some(json!({ "name": "child" })),
            )
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN);
    }
    // An admin token of a non-administrator is still refused site administration.
    let (st, _) = server
        .post(
            Some(&member_admin),
            "/api/v1/users",
            Some(json!({ "username": unique_name("nope"), "password": USER_PASSWORD })),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // The administrator's own tokens: write may not administer, admin may.
    let admin_session = server.login_token(ADMIN_USER, ADMIN_PASSWORD).await;
    let mk = |scope: &'static str| {
        let s = admin_session.clone();
        async move {
            let (st, body) = server
                .post(
                    Some(&s),
                    "/api/v1/users/me/tokens",
                    Some(json!({ "name": "admin script", "scope": scope, "expires_in_days": 1 })),
                )
                .await;
            assert_eq!(st, StatusCode::CREATED, "{body}");
            body["token"].as_str().unwrap().to_owned()
        }
    };
    let admin_write = mk("write").await;
    let admin_admin = mk("admin").await;
    let admin_read = mk("read").await;
    let create = |t: String| async move {
        server
            .post(
                Some(&t),
                "/api/v1/users",
                Some(json!({ "username": unique_name("made"), "password": USER_PASSWORD })),
            )
            .await
    };
    assert_eq!(create(admin_write.clone()).await.0, StatusCode::FORBIDDEN);
    assert_eq!(create(admin_read.clone()).await.0, StatusCode::FORBIDDEN);
    let (st, body) = create(admin_admin.clone()).await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    let (st, _) = server
        .get(Some(&admin_write), "/api/v1/admin/audit?limit=1", None)
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = server
        .get(Some(&admin_admin), "/api/v1/admin/audit?limit=1", None)
        .await;
    assert_eq!(st, StatusCode::OK);

    // An expiry is required and bounded; scopes and names are checked.
    for bad in [
        json!({ "name": "t", "scope": "write" }),
        json!({ "name": "t", "scope": "write", "expires_in_days": 0 }),
        json!({ "name": "t", "scope": "write", "expires_in_days": 366 }),
        json!({ "name": "t", "scope": "write", "expires_in_days": -1 }),
        json!({ "name": "t", "scope": "root", "expires_in_days": 1 }),
        json!({ "name": "t", "scope": "session", "expires_in_days": 1 }),
        json!({ "name": "", "scope": "read", "expires_in_days": 1 }),
        json!({ "name": "x".repeat(65), "scope": "read", "expires_in_days": 1 }),
        json!({ "name": "t", "expires_in_days": 1 }),
    ] {
        let (st, body) = server
            .post(Some(&session), "/api/v1/users/me/tokens", Some(bad.clone()))
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    let (_, list) = server
        .get(Some(&session), "/api/v1/users/me/tokens", None)
        .await;
    let pats = list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] == "pat")
        .count();
    assert_eq!(pats, 3, "refused requests made nothing: {list}");
    assert!(
        list.to_string().find("enc_").is_none(),
        "the list never shows a secret"
    );
}

/// App passwords: HTTP Basic on the API, never a web login, refused once revoked.
async fn app_passwords(server: &TestServer) {
    let (id, name) = new_user(server, "apppw").await;
    let session = server.login_token(&name, USER_PASSWORD).await;
    let (st, body) = server
        .post(
            Some(&session),
            "/api/v1/users/me/app-passwords",
            Some(json!({ "name": "Phone XMPP client" })),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    let password = body["password"].as_str().unwrap().to_owned();
    let pw_id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(password.len(), 29, "{password}");
    assert_eq!(body["hint"], &password[..4]);

    // Listed without the secret.
    let (_, list) = server
        .get(Some(&session), "/api/v1/users/me/app-passwords", None)
        .await;
    assert_eq!(list["app_passwords"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(&password[5..]), "{list}");

    // HTTP Basic works (dashes and case do not matter), for normal user actions.
    let auth = basic(&name, &password);
    let (st, me) = with_basic(server, Method::GET, "/api/v1/users/me", &auth, None).await;
    assert_eq!(st, StatusCode::OK, "{me}");
    assert_eq!(me["id"], id.as_str());
    let loose = basic(
        &name.to_uppercase(),
        &password.replace('-', "").to_uppercase(),
    );
    let (st, _) = with_basic(server, Method::GET, "/api/v1/users/me", &loose, None).await;
    assert_eq!(st, StatusCode::OK);
    let (st, body) = with_basic(
        server,
        Method::POST,
        "/api/v1/channels",
        &auth,
        Some(json!({ "name": unique_name("basic"), "kind": "public" })),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    // ...but it manages no credentials.
    let (st, _) = with_basic(
        server,
        Method::POST,
        "/api/v1/users/me/app-passwords",
        &auth,
        Some(json!({ "name": "more" })),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // The account's own password is not accepted as Basic, and an app password is not a web login.
    for (who, pw) in [
        (name.as_str(), USER_PASSWORD),
        (name.as_str(), "abcd-efgh-ijkm-npqr-stuv-wxyz"),
        ("nobody-here", password.as_str()),
    ] {
        let (st, body) = with_basic(
            server,
            Method::GET,
            "/api/v1/users/me",
            &basic(who, pw),
            None,
        )
        .await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "{who}: {body}");
    }
    let (st, _) = server.login(&name, &password).await;
    assert_eq!(
        st,
        StatusCode::UNAUTHORIZED,
        "an app password opens no web session"
    );
    // Malformed and over-long Basic credentials.
    for raw in [
        "Basic !!!".to_owned(),
        "Basic ".to_owned() + &"A".repeat(600),
        basic(&name, &"x".repeat(200)),
        basic(&"x".repeat(300), &password),
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("no-colon")
        ),
    ] {
        let (st, _) = with_basic(server, Method::GET, "/api/v1/users/me", &raw, None).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "{raw:.40}");
    }

    // Last use is recorded.
    let (_, list) = server
        .get(Some(&session), "/api/v1/users/me/app-passwords", None)
        .await;
    assert!(
        list["app_passwords"][0]["last_used_at"].is_string(),
        "{list}"
    );

    // Revoked: refused at once.
    let (st, _) = server
        .delete(
            Some(&session),
            &format!("/api/v1/users/me/app-passwords/{pw_id}"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = with_basic(server, Method::GET, "/api/v1/users/me", &auth, None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, _) = server
        .delete(
            Some(&session),
            &format!("/api/v1/users/me/app-passwords/{pw_id}"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // Bad names make nothing.
    for bad in [
        json!({ "name": "" }),
        json!({ "name": "x".repeat(65) }),
        json!({ "name": "a\u{7}b" }),
        json!({}),
    ] {
        let (st, body) = server
            .post(
                Some(&session),
                "/api/v1/users/me/app-passwords",
                Some(bad.clone()),
            )
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    let (_, list) = server
        .get(Some(&session), "/api/v1/users/me/app-passwords", None)
        .await;
    assert!(
        list["app_passwords"].as_array().unwrap().is_empty(),
        "{list}"
    );
    let actions = audit_actions(server, &pw_id).await;
    for a in ["app_password_created", "app_password_revoked"] {
        assert!(actions.iter().any(|x| x == a), "{a}: {actions:?}");
    }
}

/// A login's client name is checked.
async fn login_input(server: &TestServer) {
    let (_, name) = new_user(server, "loginput").await;
    for client in ["x".repeat(65), "a\u{0}b".to_owned()] {
        let (st, body) = server
            .post(
                None,
                "/api/v1/auth/login",
                Some(json!({ "login": name, "password": USER_PASSWORD, "client": client })),
            )
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    }
}

async fn story(server: &TestServer) {
    devices(server).await;
    scopes(server).await;
    app_passwords(server).await;
    login_input(server).await;
}

#[tokio::test]
async fn sqlite_sessions_tokens_and_app_passwords() {
    let server = TestServer::start_with_env(&env(&[]));
    story(&server).await;
}

#[tokio::test]
async fn postgres_sessions_tokens_and_app_passwords() {
    let Some((_db, url)) = enclave_store::testing::fresh_database_url().await else {
        return;
    };
    let mut e = env(&[]);
    e.push(("ENCLAVE_DATABASE__URL", &url));
    let server = TestServer::start_with_env(&e);
    story(&server).await;
}

/// The `[auth]` keys reach the server: the session lifetime sets a session's expiry, the
/// token maximum bounds a token's.
#[tokio::test]
async fn the_auth_keys_bound_sessions_and_tokens() {
    let server = TestServer::start_with_env(&env(&[
        ("ENCLAVE_AUTH__SESSION_TTL_DAYS", "2"),
        ("ENCLAVE_AUTH__SESSION_IDLE_TIMEOUT_MINUTES", "30"),
        ("ENCLAVE_AUTH__TOKEN_MAX_DAYS", "7"),
    ]));
    let (_, name) = new_user(&server, "keys").await;
    let session = server.login_token(&name, USER_PASSWORD).await;
    let list = sessions(&server, &session).await;
    let expires = list[0]["expires_at"].as_str().unwrap();
    let expires =
        time::OffsetDateTime::parse(expires, &time::format_description::well_known::Rfc3339)
            .unwrap();
    let left = expires - time::OffsetDateTime::now_utc();
    assert!(
        left > time::Duration::hours(47) && left <= time::Duration::hours(48),
        "{left}"
    );
    let (st, body) = server
        .post(
            Some(&session),
            "/api/v1/users/me/tokens",
            Some(json!({ "name": "t", "scope": "read", "expires_in_days": 8 })),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    let (st, body) = server
        .post(
            Some(&session),
            "/api/v1/users/me/tokens",
            Some(json!({ "name": "t", "scope": "read", "expires_in_days": 7 })),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    // The document this server serves states its own maximum, so a client (and schemathesis)
    // knows 8 is refused here.
    let doc = server.get(None, "/api/v1/openapi.json", None).await.1;
    let days = &doc["components"]["schemas"]["CreateTokenRequest"]["properties"]["expires_in_days"];
    assert_eq!(days["maximum"].as_u64(), Some(7), "{days}");
    assert_eq!(days["minimum"].as_u64(), Some(1), "{days}");
}

/// An open WebSocket lives no longer than its credential: a guest's socket is closed with
/// 4001 once the guest's access ends, without any request (the socket checks its credential
/// on each heartbeat; revocation and deactivation close it at once, tested above).
async fn socket_ends_with_its_credential(server: &TestServer) {
    let admin = server.admin_token().await;
    let name = unique_name("visitor");
    let channel = server
        .create_channel(&admin, &unique_name("visits"), "public")
        .await;
    let (st, body) = server
        .post(
            Some(&admin),
            "/api/v1/admin/guests",
            Some(json!({
                "username": name,
                "password": USER_PASSWORD,
                "expires_at": common::rfc3339_in(4),
                "channel_ids": [channel],
            })),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    let guest = server.login_token(&name, USER_PASSWORD).await;
    let mut ws = WsClient::connect(server, &guest).await;
    let (code, _) = ws.read_until_close(Duration::from_secs(30)).await;
    assert_eq!(code, Some(4001), "the expired guest's socket");
    let (st, body) = server.get(Some(&guest), "/api/v1/users/me", None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{body}");
}

#[tokio::test]
async fn sqlite_a_socket_ends_with_its_credential() {
    let server = TestServer::start_with_env(&env(&[("ENCLAVE_REALTIME__HEARTBEAT_SECS", "1")]));
    socket_ends_with_its_credential(&server).await;
}

#[tokio::test]
async fn postgres_a_socket_ends_with_its_credential() {
    let Some((_db, url)) = enclave_store::testing::fresh_database_url().await else {
        return;
    };
    let mut e = env(&[("ENCLAVE_REALTIME__HEARTBEAT_SECS", "1")]);
    e.push(("ENCLAVE_DATABASE__URL", &url));
    let server = TestServer::start_with_env(&e);
    socket_ends_with_its_credential(&server).await;
}
