//! Second factors (`enclave_core::signin`, `docs/admin/second-factor.md`) against the real
//! binary, on SQLite and on a private PostgreSQL:
//!
//! - setting up an authenticator app (TOTP codes from Debian's `oathtool`, an independent
//!   generator), recovery codes shown once;
//! - the login challenge: no session after the password, a session after the code; a replayed
//!   code, a code from three steps ago, a recovery code used twice, a challenge reused or for
//!   another account, garbage input: each refused and none opens a session;
//! - the second step locks like the password step;
//! - turning it off (password or code), the administrators' reset, the audit log;
//! - the policy (everyone / admins, grace days) and the enrolment-only challenge;
//! - secrets sealed at rest: the row in the database holds neither the secret nor its base32,
//!   a secret stored in the clear (as older versions did) is sealed at the next start, and
//!   codes still pass after a restart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    ADMIN_PASSWORD, ADMIN_USER, StatusCode, TestServer, USER_PASSWORD, Value, assert_status_error,
    json, unique_name,
};

/// A TOTP code for `secret` (base32) at `offset` seconds from now, from `oathtool`.
fn oathtool(secret: &str, offset: i64) -> String {
    let when = if offset >= 0 {
        format!("now + {offset} seconds")
    } else {
        format!("now - {} seconds", -offset)
    };
    let out = match std::process::Command::new("oathtool")
        .args(["--totp", "-b", "-N", &when, secret])
        .output()
    {
        Ok(out) => out,
        Err(e) => panic!(
            "oathtool is needed for the second-factor tests (Debian package `oathtool`; scripts/test installs it): {e}"
        ),
    };
    assert!(out.status.success(), "oathtool: {:?}", out);
    let code = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(code.len(), 6, "{code}");
    code
}

async fn login(server: &TestServer, name: &str, password: &str) -> (StatusCode, Value) {
    server.login(name, password).await
}

/// Logs in with the password and returns the challenge (asserting there is no session).
async fn challenge(server: &TestServer, name: &str) -> Value {
    let resp = server
        .client()
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({ "login": name, "password": USER_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert!(
        resp.headers().get("set-cookie").is_none(),
        "no session cookie before the second factor"
    );
    let (status, body) = common::read_json(resp).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.get("token").is_none(),
        "no token before the second factor: {body}"
    );
    body["second_factor"].clone()
}

async fn second(
    server: &TestServer,
    challenge: &str,
    method: &str,
    code: &str,
) -> (StatusCode, Value) {
    server
        .post(
            None,
            "/api/v1/auth/login/second-factor",
            Some(json!({ "challenge": challenge, "method": method, "code": code })),
        )
        .await
}

/// Sets up an authenticator app for the holder of `token`; returns its secret and the
/// recovery codes.
async fn enrol(server: &TestServer, token: &str) -> (String, Vec<String>) {
    let (status, setup) = server
        .post(Some(token), "/api/v1/users/me/second-factor/totp", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{setup}");
    let secret = setup["secret"].as_str().unwrap().to_owned();
    let uri = setup["uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    assert!(setup["qr_svg"].as_str().unwrap().starts_with("<svg"));
    // A wrong code does not confirm it.
    let (status, body) = server
        .post(
            Some(token),
            "/api/v1/users/me/second-factor/totp/confirm",
            Some(json!({ "code": oathtool(&secret, -90) })),
        )
        .await;
    assert_status_error(
        "confirming with an old code",
        (status, &body),
        401,
        "unauthenticated",
    );
    let (status, body) = server
        .post(
            Some(token),
            "/api/v1/users/me/second-factor/totp/confirm",
            Some(json!({ "code": oathtool(&secret, 0) })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let codes: Vec<String> = body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

async fn status(server: &TestServer, token: &str) -> Value {
    let (status, body) = server
        .get(Some(token), "/api/v1/users/me/second-factor", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn audit(server: &TestServer, action: &str) -> Vec<Value> {
    let admin = server.admin_token().await;
    let (status, body) = server
        .get(
            Some(&admin),
            &format!("/api/v1/admin/audit?action={action}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["entries"].as_array().unwrap().clone()
}

async fn story(server: &TestServer) {
    let alice = unique_name("alice");
    let bob = unique_name("bob");
    let (_alice_id, alice_token) = server.create_user(&alice).await;
    let (bob_id, bob_token) = server.create_user(&bob).await;

    // Without a second factor a login answers as before.
    let (st, body) = login(server, &alice, USER_PASSWORD).await;
    assert_eq!(st, StatusCode::OK);
    assert!(body["token"].is_string(), "{body}");
    let s = status(server, &alice_token).await;
    assert_eq!(
        (s["totp"].as_bool(), s["required"].as_bool()),
        (Some(false), Some(false))
    );

    let (secret, codes) = enrol(server, &alice_token).await;
    let s = status(server, &alice_token).await;
    assert_eq!(s["totp"], true);
    assert_eq!(s["recovery_codes_left"], 10);
    // The secret is never shown again: a new set-up is refused while one is confirmed.
    let (st, body) = server
        .post(
            Some(&alice_token),
            "/api/v1/users/me/second-factor/totp",
            None,
        )
        .await;
    assert_status_error("second set-up", (st, &body), 409, "conflict");

    // The password alone now gives a challenge, not a session.
    let ch = challenge(server, &alice).await;
    let token = ch["challenge"].as_str().unwrap().to_owned();
    assert_eq!(ch["enrol_required"], false);
    assert_eq!(ch["methods"], json!(["totp", "recovery"]));
    // A code from three steps ago, and the code already used to confirm: refused.
    let (st, body) = second(server, &token, "totp", &oathtool(&secret, -90)).await;
    assert_status_error(
        "code from three steps ago",
        (st, &body),
        401,
        "unauthenticated",
    );
    let (st, body) = second(server, &token, "totp", &oathtool(&secret, -30)).await;
    assert_status_error(
        "code older than the last used",
        (st, &body),
        401,
        "unauthenticated",
    );
    // Garbage input: a clear 400, nothing changes.
    for (ch_token, method, code) in [
        ("sfc_garbage", "totp", "123456"),
        ("", "totp", "123456"),
        (token.as_str(), "sms", "123456"),
        (token.as_str(), "totp", &"1".repeat(100)),
    ] {
        let (st, body) = second(server, ch_token, method, code).await;
        assert_status_error(
            &format!("{ch_token} {method}"),
            (st, &body),
            400,
            "invalid_field",
        );
    }
    // The next step's code (one step of drift) passes and opens a session.
    let next = oathtool(&secret, 30);
    let (st, body) = second(server, &token, "totp", &next).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let session = body["token"].as_str().unwrap().to_owned();
    assert!(body.get("recovery_codes").is_none());
    let (st, me) = server.get(Some(&session), "/api/v1/users/me", None).await;
    assert_eq!(
        (st, me["username"].as_str()),
        (StatusCode::OK, Some(alice.as_str()))
    );
    // The challenge is used up.
    let (st, body) = second(server, &token, "totp", &oathtool(&secret, 30)).await;
    assert_status_error("challenge reused", (st, &body), 400, "invalid_field");
    // The same code with a new challenge: a replay.
    let ch2 = challenge(server, &alice).await;
    let token2 = ch2["challenge"].as_str().unwrap().to_owned();
    let (st, body) = second(server, &token2, "totp", &next).await;
    assert_status_error("replayed code", (st, &body), 401, "unauthenticated");

    // A recovery code works once (typed in capitals, without the dash).
    let typed = codes[0].replace('-', "").to_uppercase();
    let (st, body) = second(server, &token2, "recovery", &typed).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let ch3 = challenge(server, &alice).await;
    let token3 = ch3["challenge"].as_str().unwrap().to_owned();
    let (st, body) = second(server, &token3, "recovery", &codes[0]).await;
    assert_status_error(
        "recovery code used twice",
        (st, &body),
        401,
        "unauthenticated",
    );
    assert_eq!(status(server, &alice_token).await["recovery_codes_left"], 9);

    // A challenge is bound to its account: Bob's challenge with Alice's codes fails.
    let (bob_secret, _bob_codes) = enrol(server, &bob_token).await;
    let bob_ch = challenge(server, &bob).await;
    let bob_chal = bob_ch["challenge"].as_str().unwrap().to_owned();
    let (st, body) = second(server, &bob_chal, "recovery", &codes[1]).await;
    assert_status_error(
        "Alice's code on Bob's challenge",
        (st, &body),
        401,
        "unauthenticated",
    );
    // ... and Alice's code still works for her.
    let (st, body) = second(server, &token3, "recovery", &codes[1]).await;
    assert_eq!(st, StatusCode::OK, "{body}");

    // The second step locks like the password step: wrong codes until the next attempt must
    // wait (8 free failures in this server's environment, some of them used above).
    let mut wrong = 0;
    loop {
        let (st, body) = second(server, &bob_chal, "totp", "000000").await;
        if st == StatusCode::TOO_MANY_REQUESTS {
            assert_status_error("delayed", (st, &body), 429, "rate_limited");
            break;
        }
        assert_status_error("wrong code", (st, &body), 401, "unauthenticated");
        wrong += 1;
        assert!(wrong <= 8, "never delayed");
    }
    assert!(wrong >= 5, "delayed after {wrong} wrong codes");
    let (st, body) = second(server, &bob_chal, "totp", &oathtool(&bob_secret, 30)).await;
    assert_status_error(
        "the right code while delayed",
        (st, &body),
        429,
        "rate_limited",
    );
    // Administrators see it among the lockouts, at the second-factor step.
    let admin = server.admin_token().await;
    let (st, body) = server
        .get(
            Some(&admin),
            &format!("/api/v1/admin/lockouts?account={bob_id}"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["lockouts"][0]["step"], "second_factor", "{body}");

    // Turning it off needs the password or a code.
    let (st, body) = server
        .post(
            Some(&alice_token),
            "/api/v1/users/me/second-factor/disable",
            Some(json!({ "password": "wrong password" })),
        )
        .await;
    assert_status_error(
        "disable with a wrong password",
        (st, &body),
        401,
        "unauthenticated",
    );
    let (st, body) = server
        .post(
            Some(&alice_token),
            "/api/v1/users/me/second-factor/disable",
            Some(json!({})),
        )
        .await;
    // Nothing given: only an account without a password proves itself by its sign-in.
    assert_status_error("disable with nothing", (st, &body), 403, "forbidden");
    let (st, body) = server
        .post(
            Some(&alice_token),
            "/api/v1/users/me/second-factor/disable",
            Some(json!({ "password": USER_PASSWORD, "code": "123456" })),
        )
        .await;
    assert_status_error("disable with both", (st, &body), 400, "invalid_field");
    // Malformed bodies: a clear 400, nothing changes.
    for (path, body) in [
        (
            "/api/v1/users/me/second-factor/disable",
            json!({ "password": 5 }),
        ),
        (
            "/api/v1/users/me/second-factor/disable",
            json!({ "password": "x", "code": "123456" }),
        ),
        (
            "/api/v1/users/me/second-factor/recovery-codes",
            json!({ "code": 123456 }),
        ),
        (
            "/api/v1/users/me/second-factor/totp/confirm",
            json!({ "code": ["1"] }),
        ),
        ("/api/v1/users/me/second-factor/totp/confirm", json!({})),
    ] {
        let (st, b) = server.post(Some(&alice_token), path, Some(body)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{path}: {b}");
    }
    assert_eq!(status(server, &alice_token).await["totp"], true);
    // New recovery codes (with the password): the old ones stop working.
    let (st, body) = server
        .post(
            Some(&alice_token),
            "/api/v1/users/me/second-factor/recovery-codes",
            Some(json!({ "password": USER_PASSWORD })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let fresh: Vec<String> = body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fresh.len(), 10);
    let (st, body) = server
        .post(
            Some(&alice_token),
            "/api/v1/users/me/second-factor/disable",
            Some(json!({ "code": codes[2] })),
        )
        .await;
    assert_status_error(
        "disable with an old recovery code",
        (st, &body),
        401,
        "unauthenticated",
    );
    let (st, body) = server
        .post(
            Some(&alice_token),
            "/api/v1/users/me/second-factor/disable",
            Some(json!({ "code": fresh[0] })),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{body}");
    let (st, body) = login(server, &alice, USER_PASSWORD).await;
    assert_eq!(st, StatusCode::OK);
    assert!(body["token"].is_string(), "{body}");

    // Only user managers reset someone's second factor; Bob then signs in with his password.
    let path = format!("/api/v1/users/{bob_id}/second-factor");
    let (st, body) = server.delete(Some(&alice_token), &path, None).await;
    assert_status_error("a member resets", (st, &body), 403, "forbidden");
    let (st, body) = server.delete(Some(&admin), &path, None).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{body}");
    let (st, body) = server
        .delete(Some(&admin), "/api/v1/users/999999999/second-factor", None)
        .await;
    assert_status_error("an unknown user", (st, &body), 404, "user_not_found");
    // (Bob's address is still delayed at the second step, not at the password.)
    let (st, body) = login(server, &bob, USER_PASSWORD).await;
    assert_eq!(st, StatusCode::OK);
    assert!(body["token"].is_string(), "{body}");

    // Everything is in the audit log.
    for action in [
        "second_factor_enrolled",
        "second_factor_passed",
        "second_factor_failed",
        "recovery_code_used",
        "recovery_codes_regenerated",
        "second_factor_removed",
        "second_factor_reset",
    ] {
        assert!(!audit(server, action).await.is_empty(), "no {action} entry");
    }
    let failed = audit(server, "second_factor_failed").await;
    let reasons: Vec<String> = failed
        .iter()
        .map(|e| {
            e["summary"]["reason"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("throttled")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("wrong, replayed")),
        "{reasons:?}"
    );
}

async fn policy(server: &TestServer) {
    let admin = server.admin_token().await;
    let carol = unique_name("carol");
    let dave = unique_name("dave");
    let (_, carol_token) = server.create_user(&carol).await;
    let (_, dave_token) = server.create_user(&dave).await;

    // Bad input and members are refused.
    for (body, what) in [
        (
            json!({ "require": "sometimes", "grace_days": 1 }),
            "require",
        ),
        (json!({ "require": "everyone", "grace_days": 400 }), "grace"),
    ] {
        let (st, b) = server
            .put(Some(&admin), "/api/v1/admin/second-factor", Some(body))
            .await;
        assert_status_error(what, (st, &b), 400, "invalid_field");
    }
    let (st, b) = server
        .put(
            Some(&carol_token),
            "/api/v1/admin/second-factor",
            Some(json!({ "require": "off", "grace_days": 0 })),
        )
        .await;
    assert_status_error("member sets policy", (st, &b), 403, "forbidden");
    let (st, b) = server
        .get(Some(&carol_token), "/api/v1/admin/second-factor", None)
        .await;
    assert_status_error("member reads policy", (st, &b), 403, "forbidden");

    // Everyone, with a week of grace: logins still open sessions, and the status says by when.
    let (st, b) = server
        .put(
            Some(&admin),
            "/api/v1/admin/second-factor",
            Some(json!({ "require": "everyone", "grace_days": 7 })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["policy"]["require"], "everyone");
    let (st, body) = login(server, &dave, USER_PASSWORD).await;
    assert_eq!(st, StatusCode::OK);
    assert!(body["token"].is_string(), "{body}");
    let s = status(server, &dave_token).await;
    assert_eq!(s["required"], true);
    assert!(s["enrol_by"].is_string(), "{s}");

    // No grace: a login without a second factor may only enrol.
    let (st, b) = server
        .put(
            Some(&admin),
            "/api/v1/admin/second-factor",
            Some(json!({ "require": "everyone", "grace_days": 0 })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let ch = challenge(server, &carol).await;
    assert_eq!(ch["enrol_required"], true);
    assert_eq!(ch["methods"], json!([]));
    let token = ch["challenge"].as_str().unwrap().to_owned();
    // A recovery code cannot stand in, and a wrong code does not enrol.
    let (st, body) = second(server, &token, "recovery", "abcde-fghjk").await;
    assert_status_error("recovery at enrolment", (st, &body), 401, "unauthenticated");
    let (st, setup) = server
        .post(
            None,
            "/api/v1/auth/login/totp-setup",
            Some(json!({ "challenge": token })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{setup}");
    let secret = setup["secret"].as_str().unwrap().to_owned();
    let (st, body) = second(server, &token, "totp", &oathtool(&secret, -90)).await;
    assert_status_error("wrong enrolment code", (st, &body), 401, "unauthenticated");
    let (st, body) = second(server, &token, "totp", &oathtool(&secret, 0)).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert!(body["token"].is_string());
    assert_eq!(
        body["recovery_codes"].as_array().map(Vec::len),
        Some(10),
        "{body}"
    );
    // The set-up endpoint refuses a used challenge, and an ordinary challenge.
    let (st, body) = server
        .post(
            None,
            "/api/v1/auth/login/totp-setup",
            Some(json!({ "challenge": token })),
        )
        .await;
    assert_status_error(
        "used enrolment challenge",
        (st, &body),
        400,
        "invalid_field",
    );
    let ch = challenge(server, &carol).await;
    assert_eq!(ch["enrol_required"], false);
    let (st, body) = server
        .post(
            None,
            "/api/v1/auth/login/totp-setup",
            Some(json!({ "challenge": ch["challenge"] })),
        )
        .await;
    assert_status_error(
        "set-up with a sign-in challenge",
        (st, &body),
        403,
        "forbidden",
    );

    // The overview lists Carol.
    let (st, b) = server
        .get(Some(&admin), "/api/v1/admin/second-factor", None)
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert!(
        b["enrolled"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["user"]["username"] == carol.as_str()),
        "{b}"
    );
    assert!(!audit(server, "settings_changed").await.is_empty());

    // Back to off: Dave signs in with his password alone again.
    let (st, b) = server
        .put(
            Some(&admin),
            "/api/v1/admin/second-factor",
            Some(json!({ "require": "off", "grace_days": 0 })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let (st, body) = login(server, &dave, USER_PASSWORD).await;
    assert_eq!(st, StatusCode::OK);
    assert!(body["token"].is_string(), "{body}");

    // A custom role that requires a second factor: its holders must enrol, others not.
    let (st, role) = server
        .post(
            Some(&admin),
            "/api/v1/admin/roles",
            Some(json!({ "name": unique_name("finance"), "permissions": [], "require_second_factor": true })),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{role}");
    assert_eq!(role["require_second_factor"], true);
    let role_id = role["id"].as_str().unwrap().to_owned();
    let dave_id = body["user"]["id"].as_str().unwrap().to_owned();
    let (st, b) = server
        .put(
            Some(&admin),
            &format!("/api/v1/users/{dave_id}/roles"),
            Some(json!({ "roles": ["member", role_id] })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let ch = challenge(server, &dave).await;
    assert_eq!(ch["enrol_required"], true, "{ch}");
    // Turning the flag off lets Dave in with the password again.
    let (st, b) = server
        .patch(
            Some(&admin),
            &format!("/api/v1/admin/roles/{role_id}"),
            Some(json!({ "require_second_factor": false })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["require_second_factor"], false);
    let (st, body) = login(server, &dave, USER_PASSWORD).await;
    assert_eq!(st, StatusCode::OK);
    assert!(body["token"].is_string(), "{body}");
}

const ENV: &[(&str, &str)] = &[
    ("ENCLAVE_AUTH__FAILURES_BEFORE_DELAY", "8"),
    ("ENCLAVE_AUTH__FIRST_DELAY_SECS", "60"),
];

#[tokio::test]
async fn sqlite_second_factor_story() {
    let server = TestServer::start_with_env(ENV);
    story(&server).await;
}

#[tokio::test]
async fn postgres_second_factor_story() {
    let Some((_db, url)) = enclave_store::testing::fresh_database_url().await else {
        return;
    };
    let mut e = ENV.to_vec();
    e.push(("ENCLAVE_DATABASE__URL", &url));
    let server = TestServer::start_with_env(&e);
    story(&server).await;
}

#[tokio::test]
async fn sqlite_policy_and_enrolment_challenge() {
    let server = TestServer::start_with_env(ENV);
    policy(&server).await;
}

#[tokio::test]
async fn postgres_policy_and_enrolment_challenge() {
    let Some((_db, url)) = enclave_store::testing::fresh_database_url().await else {
        return;
    };
    let mut e = ENV.to_vec();
    e.push(("ENCLAVE_DATABASE__URL", &url));
    let server = TestServer::start_with_env(&e);
    policy(&server).await;
}

/// Decodes base32 (RFC 4648, no padding) as the set-up shows it.
fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut buf, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in text.bytes() {
        let v = ALPHABET.iter().position(|a| *a == c).unwrap() as u32;
        buf = (buf << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    out
}

/// The stored TOTP secrets, by account id, read straight from the database.
async fn stored_secrets(server: &TestServer, pg: Option<&str>) -> Vec<Vec<u8>> {
    const SQL: &str = "SELECT secret FROM second_factor_totp ORDER BY user_id";
    match pg {
        None => {
            let conn = rusqlite::Connection::open(server.data_dir().join("enclave.db")).unwrap();
            let mut st = conn.prepare(SQL).unwrap();
            st.query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<Vec<Vec<u8>>, _>>()
                .unwrap()
        }
        Some(url) => {
            use sqlx_core::connection::Connection as _;
            use sqlx_core::row::Row as _;
            let mut conn = sqlx_postgres::PgConnection::connect(url).await.unwrap();
            let rows = sqlx_core::query::query(SQL)
                .fetch_all(&mut conn)
                .await
                .unwrap();
            rows.iter().map(|r| r.try_get(0).unwrap()).collect()
        }
    }
}

/// Overwrites the stored secret of the `nth` enrolment (by account id) with `secret`.
async fn store_secret(server: &TestServer, pg: Option<&str>, nth: usize, secret: &[u8]) {
    const SQL: &str = "UPDATE second_factor_totp SET secret = $1
         WHERE user_id = (SELECT user_id FROM second_factor_totp ORDER BY user_id LIMIT 1 OFFSET $2)";
    match pg {
        None => {
            let conn = rusqlite::Connection::open(server.data_dir().join("enclave.db")).unwrap();
            let n = conn
                .execute(
                    &SQL.replace("$1", "?1").replace("$2", "?2"),
                    rusqlite::params![secret, nth as i64],
                )
                .unwrap();
            assert_eq!(n, 1);
        }
        Some(url) => {
            use sqlx_core::connection::Connection as _;
            let mut conn = sqlx_postgres::PgConnection::connect(url).await.unwrap();
            let done = sqlx_core::query::query(SQL)
                .bind(secret.to_vec())
                .bind(nth as i64)
                .execute(&mut conn)
                .await
                .unwrap();
            assert_eq!(done.rows_affected(), 1);
        }
    }
}

/// The stored secret is sealed: neither its bytes nor its base32 (in either case) appear.
fn assert_sealed(stored: &[u8], secret: &str) {
    let raw = base32_decode(secret);
    assert_eq!(raw.len(), 20);
    assert!(stored.starts_with(b"ETS1"), "{stored:?}");
    assert!(
        !stored.windows(raw.len()).any(|w| w == raw.as_slice()),
        "the raw secret is in the row"
    );
    for text in [secret.to_owned(), secret.to_lowercase()] {
        assert!(
            !stored.windows(text.len()).any(|w| w == text.as_bytes()),
            "the base32 secret is in the row"
        );
    }
}

/// Signs in with the password and a TOTP code one step ahead (the step of the confirmation is
/// used up); the session must open.
async fn sign_in_with_code(server: &TestServer, name: &str, secret: &str) {
    let ch = challenge(server, name).await;
    let token = ch["challenge"].as_str().unwrap().to_owned();
    let (st, body) = second(server, &token, "totp", &oathtool(secret, 30)).await;
    assert_eq!(st, StatusCode::OK, "{body}\n{}", server.log());
    assert!(body["token"].is_string(), "{body}");
}

async fn sealed_at_rest(server: &mut TestServer, pg: Option<&str>) {
    let alice = unique_name("alice");
    let bob = unique_name("bob");
    let (_, alice_token) = server.create_user(&alice).await;
    let (_, bob_token) = server.create_user(&bob).await;
    let (alice_secret, _) = enrol(server, &alice_token).await;
    let (bob_secret, _) = enrol(server, &bob_token).await;
    let rows = stored_secrets(server, pg).await;
    assert_eq!(rows.len(), 2);
    assert_sealed(&rows[0], &alice_secret);
    assert_sealed(&rows[1], &bob_secret);

    // Bob's secret in the clear, as an older version stored it: sealed at the next start.
    server.terminate();
    store_secret(server, pg, 1, &base32_decode(&bob_secret)).await;
    server.restart();
    assert!(
        server
            .log()
            .contains("sealed authenticator app secrets under the current master key"),
        "{}",
        server.log()
    );
    let rows = stored_secrets(server, pg).await;
    assert_sealed(&rows[0], &alice_secret);
    assert_sealed(&rows[1], &bob_secret);

    // Codes from an independent generator still pass after the restart.
    sign_in_with_code(server, &alice, &alice_secret).await;
    sign_in_with_code(server, &bob, &bob_secret).await;

    // A sealed secret copied to another account does not open there: Bob's code is refused
    // with Alice's sealed secret in his row (and no session opens).
    let rows = stored_secrets(server, pg).await;
    server.terminate();
    store_secret(server, pg, 1, &rows[0]).await;
    server.restart();
    let ch = challenge(server, &bob).await;
    let token = ch["challenge"].as_str().unwrap().to_owned();
    let (st, body) = second(server, &token, "totp", &oathtool(&alice_secret, 30)).await;
    assert_ne!(st, StatusCode::OK, "{body}");
    assert!(body.get("token").is_none(), "{body}");
}

#[tokio::test]
async fn sqlite_totp_secrets_are_sealed_at_rest() {
    let mut server = TestServer::start_with_env(ENV);
    sealed_at_rest(&mut server, None).await;
}

#[tokio::test]
async fn postgres_totp_secrets_are_sealed_at_rest() {
    let Some((_db, url)) = enclave_store::testing::fresh_database_url().await else {
        return;
    };
    let mut e = ENV.to_vec();
    e.push(("ENCLAVE_DATABASE__URL", &url));
    let mut server = TestServer::start_with_env(&e);
    sealed_at_rest(&mut server, Some(&url)).await;
}

/// A master key rotation: `admin rotate-file-key` seals the secrets under the new key, after
/// which the old key is no longer needed and codes still pass.
async fn rotation(pg: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let mut env = ENV.to_vec();
    if let Some(url) = pg {
        env.push(("ENCLAVE_DATABASE__URL", url));
    }
    let mut server = TestServer::start_in_with_env(dir.path(), &env);
    let alice = unique_name("alice");
    let (_, alice_token) = server.create_user(&alice).await;
    let (secret, codes) = enrol(&server, &alice_token).await;
    let rows = stored_secrets(&server, pg).await;
    assert!(rows[0].starts_with(b"ETS1\x02k1"), "{:?}", rows[0]);
    server.terminate();
    let old_key = std::fs::read_to_string(dir.path().join("file-master.key")).unwrap();
    let new_key = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="; // bytes 1..=32
    let mut rotated = env.clone();
    rotated.extend([
        ("ENCLAVE_FILES__MASTER_KEY_ID", "k2"),
        ("ENCLAVE_FILES__MASTER_KEY", new_key),
    ]);
    // A server given the new key without the old one cannot open the secret: the code is
    // refused with its own error (not a 500), counts as no failure, and a recovery code works.
    {
        if pg.is_some() {
            std::fs::write(dir.path().join("enclave.db"), b"").unwrap();
        }
        let without_old = TestServer::start_in_with_env(dir.path(), &rotated);
        let ch = challenge(&without_old, &alice).await;
        let token = ch["challenge"].as_str().unwrap().to_owned();
        let (st, body) = second(&without_old, &token, "totp", &oathtool(&secret, 0)).await;
        assert_status_error(
            "a secret under a key no longer configured",
            (st, &body),
            409,
            "totp_unreadable",
        );
        let (st, body) = second(&without_old, &token, "recovery", &codes[0]).await;
        assert_eq!(st, StatusCode::OK, "{body}");
        assert!(
            without_old
                .log()
                .contains("cannot open this account's TOTP secret"),
            "the log says why"
        );
    }
    let mut with_old = rotated.clone();
    with_old.push(("ENCLAVE_FILES__PREVIOUS_KEYS__K1", old_key.trim()));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_enclave"))
        .arg("--data")
        .arg(dir.path())
        .args(["admin", "rotate-file-key"])
        .envs(with_old.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("sealed 1 authenticator app secret"), "{text}");
    let rows = stored_secrets(&server, pg).await;
    assert!(rows[0].starts_with(b"ETS1\x02k2"), "{:?}", rows[0]);
    assert_sealed(&rows[0], &secret);
    // Only the new key now.
    drop(server);
    if pg.is_some() {
        // The harness creates the administrator when the folder has no `enclave.db`; on
        // PostgreSQL the administrator exists already.
        std::fs::write(dir.path().join("enclave.db"), b"").unwrap();
    }
    let server = TestServer::start_in_with_env(dir.path(), &rotated);
    sign_in_with_code(&server, &alice, &secret).await;
}

#[tokio::test]
async fn sqlite_rotation_reseals_totp_secrets() {
    rotation(None).await;
}

#[tokio::test]
async fn postgres_rotation_reseals_totp_secrets() {
    let Some((_db, url)) = enclave_store::testing::fresh_database_url().await else {
        return;
    };
    rotation(Some(&url)).await;
}

/// The configuration's default policy applies until an administrator changes it: with
/// `require_second_factor = "admins"` and no grace, the administrator's login may only enrol.
#[tokio::test]
async fn the_config_sets_the_default_policy() {
    let server = TestServer::start_with_env(&[
        ("ENCLAVE_AUTH__REQUIRE_SECOND_FACTOR", "admins"),
        ("ENCLAVE_AUTH__SECOND_FACTOR_GRACE_DAYS", "0"),
        ("ENCLAVE_AUTH__TOTP_ISSUER", "Acme Chat"),
    ]);
    let (st, body) = login(&server, ADMIN_USER, ADMIN_PASSWORD).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["second_factor"]["enrol_required"], true, "{body}");
    let (st, setup) = server
        .post(
            None,
            "/api/v1/auth/login/totp-setup",
            Some(json!({ "challenge": body["second_factor"]["challenge"] })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{setup}");
    let uri = setup["uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/Acme%20Chat:admin?"),
        "{uri}"
    );
    assert!(uri.contains("issuer=Acme%20Chat"), "{uri}");
}

#[test]
fn a_bad_policy_key_stops_the_server() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_enclave"))
        .args(["config"])
        .env("ENCLAVE_AUTH__REQUIRE_SECOND_FACTOR", "sometimes")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("require_second_factor"), "{err}");
}
