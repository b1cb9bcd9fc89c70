//! The sign-in throttle (`enclave_core::lockout`, `docs/admin/lockout.md`) against the real
//! binary, on SQLite and on a private PostgreSQL:
//!
//! - ten wrong passwords from address A do not stop the owner signing in from address B;
//!   many addresses failing on one account slow its unknown addresses, never its known ones;
//! - delays grow (1 s, 2 s, 4 s ...) and are answered with 429 `rate_limited` and `Retry-After`;
//! - a delay survives a restart of the server on the same data;
//! - two servers on one PostgreSQL share the counters;
//! - administrators list and clear them (`/api/v1/admin/lockouts`); others may not;
//! - the `[auth]` keys change the policy.
//!
//! Client addresses come from `X-Forwarded-For`, which the servers here trust from 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{
    ADMIN_PASSWORD, ADMIN_USER, StatusCode, TestServer, USER_PASSWORD, Value, assert_error,
    encode_segment, json, unique_name,
};

const A: &str = "198.51.100.1";
const B: &str = "198.51.100.2";
const C: &str = "198.51.100.3";
const D: &str = "198.51.100.4";
const E: &str = "2001:db8:7:7::1";

/// Trust `X-Forwarded-For` from the test client, and set the throttle's keys.
fn env<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![("ENCLAVE_HTTP__TRUSTED_PROXIES", "[\"127.0.0.1\"]")];
    env.extend_from_slice(extra);
    env
}

/// A login from `ip`: status, `Retry-After` in seconds (when present) and body.
async fn login_from(
    server: &TestServer,
    login: &str,
    password: &str,
    ip: &str,
) -> (StatusCode, Option<u64>, Value) {
    let resp = server
        .client()
        .post(server.url("/api/v1/auth/login"))
        .header("x-forwarded-for", ip)
        .json(&json!({ "login": login, "password": password }))
        .send()
        .await
        .expect("logging in");
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().expect("Retry-After in seconds"));
    let (status, body) = common::read_json(resp).await;
    (status, retry_after, body)
}

#[track_caller]
fn assert_ok(context: &str, got: &(StatusCode, Option<u64>, Value)) {
    assert_eq!(got.0, StatusCode::OK, "{context}: {}", got.2);
}

#[track_caller]
fn assert_wrong(context: &str, got: &(StatusCode, Option<u64>, Value)) {
    assert_eq!(got.0, StatusCode::UNAUTHORIZED, "{context}: {}", got.2);
    assert_error(context, &got.2, "unauthenticated");
}

/// Asserts a 429 `rate_limited` with a `Retry-After`, and returns it.
#[track_caller]
fn assert_delayed(context: &str, got: &(StatusCode, Option<u64>, Value)) -> u64 {
    assert_eq!(got.0, StatusCode::TOO_MANY_REQUESTS, "{context}: {}", got.2);
    assert_error(context, &got.2, "rate_limited");
    let secs = got.1.unwrap_or_else(|| panic!("{context}: no Retry-After"));
    assert!(secs >= 1, "{context}: Retry-After {secs}");
    secs
}

/// A new user (password `USER_PASSWORD`) who has not signed in yet.
async fn new_user(server: &TestServer, prefix: &str) -> String {
    let name = unique_name(prefix);
    let admin = server.admin_token().await;
    let (status, body) = server
        .post(
            Some(&admin),
            "/api/v1/users",
            Some(json!({ "username": name, "password": USER_PASSWORD })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    name
}

async fn lockouts(server: &TestServer, token: &str, account: &str) -> Vec<Value> {
    let (status, body) = server
        .get(
            Some(token),
            &format!("/api/v1/admin/lockouts?account={}", encode_segment(account)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["lockouts"].as_array().unwrap().clone()
}

/// The whole story on one server (SQLite or PostgreSQL): a 30 s first delay, account-wide
/// delays after 6 failures.
async fn owner_is_never_locked_out(server: &TestServer) {
    let alice = new_user(server, "alice").await;
    // Alice signs in from home (B): B becomes known to her account.
    assert_ok(
        "alice from B",
        &login_from(server, &alice, USER_PASSWORD, B).await,
    );

    // Someone at A tries ten passwords: three are checked, the rest must wait.
    let mut wrong = 0;
    for i in 0..10 {
        let got = login_from(server, &alice, &format!("guess-{i}-pw"), A).await;
        match got.0 {
            StatusCode::UNAUTHORIZED => {
                assert_wrong("a guess", &got);
                wrong += 1;
            }
            _ => {
                assert_delayed("a guess", &got);
            }
        }
    }
    assert_eq!(wrong, 3, "only the free attempts were checked");
    // Alice is not locked out: from B, and even from a new address C.
    assert_ok(
        "alice from B",
        &login_from(server, &alice, USER_PASSWORD, B).await,
    );
    assert_ok(
        "alice from C",
        &login_from(server, &alice, USER_PASSWORD, C).await,
    );
    // A must wait, even with the right password.
    assert_delayed(
        "alice from A",
        &login_from(server, &alice, USER_PASSWORD, A).await,
    );

    // Three more failures from D: six on the account. Addresses Alice never used (E) now
    // wait too; the ones she used (B, C) do not.
    for i in 0..3 {
        assert_wrong(
            "a guess from D",
            &login_from(server, &alice, &format!("d-guess-{i}"), D).await,
        );
    }
    let secs = assert_delayed(
        "alice from E",
        &login_from(server, &alice, USER_PASSWORD, E).await,
    );
    assert!(secs <= 30, "Retry-After {secs}");
    assert_ok(
        "alice from B",
        &login_from(server, &alice, USER_PASSWORD, B).await,
    );
    assert_ok(
        "alice from C",
        &login_from(server, &alice, USER_PASSWORD, C).await,
    );

    // The administrators' view: A and D, with their failures and delays.
    let admin = server.admin_token().await;
    let list = lockouts(server, &admin, &alice.to_uppercase()).await;
    assert_eq!(list.len(), 2, "{list:?}");
    let a = list.iter().find(|l| l["source"] == A).expect("A listed");
    assert_eq!(a["account"], alice.as_str());
    assert_eq!(a["step"], "password");
    assert_eq!(a["failures"], 3);
    assert_eq!(a["known_source"], false);
    // Both A's own failures and the account's make A wait; the account's, newer, wait longer.
    assert_eq!(a["delayed_by"], "account");
    assert!(a["delayed_until"].is_string(), "{a}");
    assert!(list.iter().any(|l| l["source"] == D && l["failures"] == 3));
    // Clearing A alone, then the rest.
    let (status, body) = server
        .delete(
            Some(&admin),
            &format!("/api/v1/admin/lockouts/{}/{}", encode_segment(&alice), A),
            None,
        )
        .await;
    assert_eq!(
        (status, &body["cleared"]),
        (StatusCode::OK, &json!(1)),
        "{body}"
    );
    assert_eq!(lockouts(server, &admin, &alice).await.len(), 1);
    let (status, body) = server
        .delete(
            Some(&admin),
            &format!("/api/v1/admin/lockouts/{}", encode_segment(&alice)),
            None,
        )
        .await;
    assert_eq!(
        (status, &body["cleared"]),
        (StatusCode::OK, &json!(1)),
        "{body}"
    );
    assert!(lockouts(server, &admin, &alice).await.is_empty());
    assert_ok(
        "alice from A",
        &login_from(server, &alice, USER_PASSWORD, A).await,
    );
    assert_ok(
        "alice from E",
        &login_from(server, &alice, USER_PASSWORD, E).await,
    );
}

/// Delays double with each failure (1 s first), and a success clears them.
async fn delays_grow(server: &TestServer) {
    // Delays grow: after the third failure 1 s, then 2 s, then 4 s.
    let bob = new_user(server, "bob").await;
    for i in 0..3 {
        assert_wrong(
            "bob guess",
            &login_from(server, &bob, &format!("g{i}-pw"), A).await,
        );
    }
    let mut waits = Vec::new();
    for i in 0..3 {
        let secs = assert_delayed(
            "bob from A",
            &login_from(server, &bob, USER_PASSWORD, A).await,
        );
        waits.push(secs);
        tokio::time::sleep(Duration::from_secs(secs) + Duration::from_millis(100)).await;
        if i < 2 {
            let guess = format!("h{i}-pw");
            assert_wrong(
                "bob guess after the wait",
                &login_from(server, &bob, &guess, A).await,
            );
        }
    }
    assert_eq!(waits, [1, 2, 4], "the delays double");
    // Once the wait is over the right password gets in, and the success clears the pair.
    assert_ok(
        "bob from A",
        &login_from(server, &bob, USER_PASSWORD, A).await,
    );
    for i in 0..3 {
        assert_wrong(
            "bob again",
            &login_from(server, &bob, &format!("k{i}-pw"), A).await,
        );
    }
}

const STORY_ENV: &[(&str, &str)] = &[
    ("ENCLAVE_AUTH__FIRST_DELAY_SECS", "30"),
    ("ENCLAVE_AUTH__ACCOUNT_FAILURES_BEFORE_DELAY", "6"),
];
const FAST: &[(&str, &str)] = &[("ENCLAVE_AUTH__FIRST_DELAY_SECS", "1")];

#[tokio::test]
async fn sqlite_owner_is_never_locked_out() {
    let server = TestServer::start_with_env(&env(STORY_ENV));
    owner_is_never_locked_out(&server).await;
}

#[tokio::test]
async fn postgres_owner_is_never_locked_out() {
    let Some((_db, url)) = enclave_store::testing::fresh_database_url().await else {
        return;
    };
    let mut e = env(STORY_ENV);
    e.push(("ENCLAVE_DATABASE__URL", &url));
    let server = TestServer::start_with_env(&e);
    owner_is_never_locked_out(&server).await;
}

#[tokio::test]
async fn sqlite_delays_grow() {
    let server = TestServer::start_with_env(&env(FAST));
    delays_grow(&server).await;
}

#[tokio::test]
async fn postgres_delays_grow() {
    let Some((_db, url)) = enclave_store::testing::fresh_database_url().await else {
        return;
    };
    let mut e = env(FAST);
    e.push(("ENCLAVE_DATABASE__URL", &url));
    let server = TestServer::start_with_env(&e);
    delays_grow(&server).await;
}

/// A delay of a minute holds across a restart of the server on the same data.
async fn a_delay_survives_a_restart(server: &mut TestServer) {
    let carol = new_user(server, "carol").await;
    for i in 0..3 {
        assert_wrong(
            "guess",
            &login_from(server, &carol, &format!("g{i}-pw"), A).await,
        );
    }
    assert!(
        assert_delayed(
            "before",
            &login_from(server, &carol, USER_PASSWORD, A).await
        ) > 30
    );
    server.restart();
    let secs = assert_delayed(
        "after the restart",
        &login_from(server, &carol, USER_PASSWORD, A).await,
    );
    assert!(secs > 30, "Retry-After {secs}");
    assert_ok(
        "from B",
        &login_from(server, &carol, USER_PASSWORD, B).await,
    );
}

const SLOW: &[(&str, &str)] = &[("ENCLAVE_AUTH__FIRST_DELAY_SECS", "60")];

#[tokio::test]
async fn sqlite_a_delay_survives_a_restart() {
    let mut server = TestServer::start_with_env(&env(SLOW));
    a_delay_survives_a_restart(&mut server).await;
}

#[tokio::test]
async fn postgres_a_delay_survives_a_restart() {
    let Some((_db, url)) = enclave_store::testing::fresh_database_url().await else {
        return;
    };
    let mut e = env(SLOW);
    e.push(("ENCLAVE_DATABASE__URL", &url));
    let mut server = TestServer::start_with_env(&e);
    a_delay_survives_a_restart(&mut server).await;
}

#[tokio::test]
async fn two_servers_on_one_database_share_the_counters() {
    let Some((_db, url)) = enclave_store::testing::fresh_database_url().await else {
        return;
    };
    let mut e = env(SLOW);
    e.push(("ENCLAVE_DATABASE__URL", &url));
    let one = TestServer::start_node(&e, true);
    let two = TestServer::start_node(&e, false);
    let dave = new_user(&one, "dave").await;
    // The guesser alternates between the nodes: the third failure is counted wherever it lands.
    for (i, node) in [&one, &two, &one].into_iter().enumerate() {
        assert_wrong(
            "guess",
            &login_from(node, &dave, &format!("g{i}-pw"), A).await,
        );
    }
    for node in [&one, &two] {
        assert_delayed(
            "either node",
            &login_from(node, &dave, USER_PASSWORD, A).await,
        );
    }
    // Cleared through one node, cleared for both.
    let admin = two.login_token(ADMIN_USER, ADMIN_PASSWORD).await;
    assert_eq!(lockouts(&one, &admin, &dave).await.len(), 1);
    let (status, body) = two
        .delete(
            Some(&admin),
            &format!("/api/v1/admin/lockouts/{dave}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_ok("node one", &login_from(&one, &dave, USER_PASSWORD, A).await);
}

#[tokio::test]
async fn only_user_managers_see_and_clear_lockouts_and_bad_input_is_400() {
    let server = TestServer::start_with_env(&env(&[]));
    let (_, member) = server.create_user(&unique_name("member")).await;
    let admin = server.admin_token().await;
    for (method, path) in [
        ("GET", "/api/v1/admin/lockouts".to_owned()),
        ("DELETE", "/api/v1/admin/lockouts/someone".to_owned()),
        ("DELETE", format!("/api/v1/admin/lockouts/someone/{A}")),
    ] {
        let got = server
            .request(method.parse().unwrap(), Some(&member), &path, None)
            .await;
        assert_eq!(got.0, StatusCode::FORBIDDEN, "{method} {path}: {}", got.1);
        assert_error(&path, &got.1, "forbidden");
    }
    let long = "x".repeat(255);
    for (method, path, field) in [
        ("GET", "/api/v1/admin/lockouts?limit=0".to_owned(), "limit"),
        (
            "GET",
            "/api/v1/admin/lockouts?limit=201".to_owned(),
            "limit",
        ),
        (
            "GET",
            format!("/api/v1/admin/lockouts?account={long}"),
            "account",
        ),
        (
            "DELETE",
            format!("/api/v1/admin/lockouts/{long}"),
            "account",
        ),
        (
            "DELETE",
            "/api/v1/admin/lockouts/someone/not-an-ip".to_owned(),
            "source",
        ),
        (
            "DELETE",
            "/api/v1/admin/lockouts/someone/2001:db8::1".to_owned(),
            "source",
        ),
    ] {
        let got = server
            .request(method.parse().unwrap(), Some(&admin), &path, None)
            .await;
        assert_eq!(got.0, StatusCode::BAD_REQUEST, "{method} {path}: {}", got.1);
        assert_error(&path, &got.1, "invalid_field");
        assert_eq!(got.1["error"]["field"], field, "{}", got.1);
    }
    // An IPv6 source is its /64, with the slash percent-encoded in the path.
    let erin = new_user(&server, "erin").await;
    for i in 0..3 {
        assert_wrong(
            "guess",
            &login_from(&server, &erin, &format!("g{i}-pw"), E).await,
        );
    }
    let list = lockouts(&server, &admin, &erin).await;
    assert_eq!(list[0]["source"], "2001:db8:7:7::/64", "{list:?}");
    let (status, body) = server
        .delete(
            Some(&admin),
            &format!(
                "/api/v1/admin/lockouts/{erin}/{}",
                encode_segment("2001:db8:7:7::/64")
            ),
            None,
        )
        .await;
    assert_eq!(
        (status, &body["cleared"]),
        (StatusCode::OK, &json!(1)),
        "{body}"
    );
    // Another address in the same /64 was throttled with it, and is free with it.
    assert_ok(
        "the same /64",
        &login_from(&server, &erin, USER_PASSWORD, "2001:db8:7:7::99").await,
    );
}

#[tokio::test]
async fn the_auth_keys_set_the_policy() {
    let server = TestServer::start_with_env(&env(&[
        ("ENCLAVE_AUTH__FAILURES_BEFORE_DELAY", "1"),
        ("ENCLAVE_AUTH__ADDRESS_FAILURES_BEFORE_DELAY", "2"),
        ("ENCLAVE_AUTH__FIRST_DELAY_SECS", "120"),
        ("ENCLAVE_AUTH__MAX_DELAY_SECS", "300"),
    ]));
    let frank = new_user(&server, "frank").await;
    let gina = new_user(&server, "gina").await;
    // One failure is enough to wait, and the wait is the configured one.
    assert_wrong("guess", &login_from(&server, &frank, "wrong-pw-1", A).await);
    let secs = assert_delayed(
        "frank from A",
        &login_from(&server, &frank, USER_PASSWORD, A).await,
    );
    assert!((100..=120).contains(&secs), "Retry-After {secs}");
    // Two failures from A on any accounts: A is slowed for accounts it does not know.
    assert_wrong(
        "guess",
        &login_from(&server, "nobody-at-all", "wrong-pw-2", A).await,
    );
    assert_delayed(
        "gina from A",
        &login_from(&server, &gina, USER_PASSWORD, A).await,
    );
    assert_ok(
        "gina from B",
        &login_from(&server, &gina, USER_PASSWORD, B).await,
    );
    // `enclave config` shows the keys.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_enclave"))
        .args(["config"])
        .env("ENCLAVE_AUTH__FAILURES_BEFORE_DELAY", "7")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    for key in [
        "failures_before_delay = 7",
        "account_failures_before_delay = 20",
        "address_failures_before_delay = 100",
        "first_delay_secs = 1",
        "max_delay_secs = 900",
        "failure_memory_hours = 24",
        "known_address_days = 30",
    ] {
        assert!(text.contains(key), "{key} missing from:\n{text}");
    }
}
