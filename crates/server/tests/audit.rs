//! The audit log end to end: sign-ins and administrative actions produce entries that
//! administrators list and export over the API; `enclave audit verify` accepts an untouched log
//! and names the first edited, removed, inserted or reordered entry when the log is changed
//! behind the server's back, directly in the SQLite file and in PostgreSQL; with the head file
//! the server writes, a log cut short is caught too. Role, department, membership and manager
//! changes over the API are recorded by their own actions, on both backends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{ADMIN_PASSWORD, ADMIN_USER, TestServer, s, unique_name};
use serde_json::Value;

/// Runs `enclave` on `data` with `env` (the database URL for PostgreSQL).
fn enclave(data: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_enclave"));
    for (k, _) in std::env::vars() {
        if k.starts_with("ENCLAVE_") {
            cmd.env_remove(k);
        }
    }
    cmd.arg("--data")
        .arg(data)
        .args(args)
        .envs(env.iter().copied())
        .env("NO_COLOR", "1")
        .output()
        .expect("running enclave")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `enclave audit verify` must fail and name `expected`.
fn assert_tampered(data: &Path, env: &[(&str, &str)], extra: &[&str], expected: &str) {
    let mut args = vec!["audit", "verify"];
    args.extend_from_slice(extra);
    let out = enclave(data, env, &args);
    let t = text(&out);
    assert!(!out.status.success(), "verify passed a tampered log:\n{t}");
    assert!(t.contains(expected), "expected {expected:?} in:\n{t}");
}

fn assert_verifies(data: &Path, env: &[(&str, &str)], extra: &[&str], n: u64) {
    let mut args = vec!["audit", "verify"];
    args.extend_from_slice(extra);
    let out = enclave(data, env, &args);
    let t = text(&out);
    assert!(out.status.success(), "verify failed:\n{t}");
    assert!(
        t.contains(&format!("audit log verified: {n} entries, head ")),
        "{t}"
    );
}

fn seed(data: &Path, env: &[(&str, &str)], n: u64) {
    let out = enclave(data, env, &["audit", "seed-bench", &n.to_string()]);
    assert!(out.status.success(), "{}", text(&out));
}

async fn entries(server: &TestServer, token: &str, query: &str) -> Vec<Value> {
    let (status, body) = server
        .get(Some(token), &format!("/api/v1/admin/audit{query}"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    body["entries"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ins_and_administration_are_recorded_listed_and_exported() {
    let heads = tempfile::tempdir().unwrap();
    let head_file = heads.path().join("audit-head");
    let head_env = head_file.to_str().unwrap().to_owned();
    let mut server = TestServer::start_with_env(&[
        ("ENCLAVE_AUDIT__HEAD_FILE", head_env.as_str()),
        ("ENCLAVE_AUDIT__HEAD_INTERVAL_SECS", "1"),
    ]);
    // A failed and a successful sign-in, with a user agent.
    let (status, _) = server.login(ADMIN_USER, "not the password").await;
    assert_eq!(status, 401);
    let resp = server
        .client()
        .post(server.url("/api/v1/auth/login"))
        .header("user-agent", "AuditTest/1.0 (审计)")
        .json(&serde_json::json!({ "login": ADMIN_USER, "password": ADMIN_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let admin = body["token"].as_str().unwrap().to_owned();
    let admin_id = s(&body["user"], "id");
    let name = unique_name("audited");
    let (member_id, member) = server.create_user(&name).await;

    let failed = entries(&server, &admin, "?action=sign_in_failed").await;
    assert!(!failed.is_empty());
    let f = failed
        .iter()
        .find(|e| e["summary"]["login"] == ADMIN_USER)
        .unwrap_or_else(|| panic!("{failed:?}"));
    assert!(f.get("actor").is_none(), "{f}");
    assert_eq!(f["ip"], "127.0.0.1");
    let signins = entries(
        &server,
        &admin,
        &format!("?action=sign_in&actor={admin_id}"),
    )
    .await;
    let ua = signins
        .iter()
        .find(|e| e["user_agent"] == "AuditTest/1.0 (审计)")
        .unwrap_or_else(|| panic!("{signins:?}"));
    assert_eq!(ua["target_kind"], "user");
    assert_eq!(ua["target_id"], admin_id.as_str());
    assert_eq!(ua["summary"]["credential"], "password");
    assert_eq!(ua["ip"], "127.0.0.1");
    assert_eq!(ua["hash"].as_str().unwrap().len(), 64);
    let created = entries(
        &server,
        &admin,
        &format!("?action=user_created&target_kind=user&target_id={member_id}"),
    )
    .await;
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0]["actor"], admin_id.as_str());
    assert_eq!(created[0]["summary"]["username"], name.as_str());

    // Deactivation and the administrator flag.
    let (status, _) = server
        .patch(
            Some(&admin),
            &format!("/api/v1/users/{member_id}"),
            Some(serde_json::json!({ "active": false })),
        )
        .await;
    assert_eq!(status, 200);
    let deact = entries(&server, &admin, "?action=user_deactivated").await;
    assert_eq!(deact[0]["target_id"], member_id.as_str());
    assert_eq!(deact[0]["summary"]["active"]["before"], "true");
    assert_eq!(deact[0]["summary"]["active"]["after"], "false");

    // Paging: newest first, `next_before` continues strictly below.
    let (_, page) = server
        .get(Some(&admin), "/api/v1/admin/audit?limit=2", None)
        .await;
    let first: Vec<i64> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| s(e, "seq").parse().unwrap())
        .collect();
    assert_eq!(first.len(), 2);
    assert!(first[0] > first[1]);
    let next = s(&page, "next_before");
    let (_, page2) = server
        .get(
            Some(&admin),
            &format!("/api/v1/admin/audit?limit=2&before={next}"),
            None,
        )
        .await;
    let second: i64 = s(&page2["entries"][0], "seq").parse().unwrap();
    assert!(second < first[1]);

    // Bad filters are refused.
    for q in [
        "?action=nope",
        "?limit=0",
        "?limit=501",
        "?since=yesterday",
        "?actor=x",
        "?before=-1",
        "?target_kind=planet",
    ] {
        let (status, body) = server
            .get(Some(&admin), &format!("/api/v1/admin/audit{q}"), None)
            .await;
        assert_eq!(status, 400, "{q}: {body}");
    }
    // Members may not read it. (The member was deactivated: make another.)
    let (_, other) = server.create_user(&unique_name("nosy")).await;
    let _ = member;
    for path in ["/api/v1/admin/audit", "/api/v1/admin/audit/export"] {
        let (status, body) = server.get(Some(&other), path, None).await;
        assert_eq!(status, 403, "{path}: {body}");
    }

    // Exports: JSON lines and CSV, each recorded.
    let resp = server
        .client()
        .get(server.url("/api/v1/admin/audit/export?format=jsonl&action=sign_in"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
    let lines = resp.text().await.unwrap();
    assert!(lines.lines().count() >= 1);
    for line in lines.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["action"], "sign_in");
    }
    let resp = server
        .client()
        .get(server.url("/api/v1/admin/audit/export?format=csv"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let csv = resp.text().await.unwrap();
    assert!(csv.starts_with("seq,at,actor,ip,"), "{csv}");
    assert!(csv.contains("\"sign_in_failed\""), "{csv}");
    let (status, _) = server
        .get(Some(&admin), "/api/v1/admin/audit/export?format=xml", None)
        .await;
    assert_eq!(status, 400);
    let viewed = entries(&server, &admin, "?action=audit_exported").await;
    assert_eq!(viewed.len(), 2, "{viewed:?}");
    let viewed = entries(&server, &admin, "?action=audit_viewed").await;
    assert!(!viewed.is_empty());

    // The head job writes the head; the untouched log verifies against it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&head_file).is_ok_and(|t| !t.trim().is_empty()) {
        assert!(Instant::now() < deadline, "no head file written");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = server.terminate();
    assert!(status.success());
    let out = enclave(
        server.data_dir(),
        &[],
        &["audit", "verify", "--head-file", &head_env],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("the recorded head"), "{}", text(&out));
}

/// The four ways to tamper, as SQL (SQLite and PostgreSQL alike), and what `verify` must say.
const TAMPERS: &[(&str, &[&str], &str)] = &[
    (
        "edit",
        &[r#"UPDATE audit_log SET summary = '{"forged":"yes"}' WHERE seq = 12"#],
        "entry 12 was edited",
    ),
    (
        "delete",
        &["DELETE FROM audit_log WHERE seq = 12"],
        "entry 12 was removed",
    ),
    (
        "insert",
        &[
            "UPDATE audit_log SET seq = -seq WHERE seq >= 12",
            "UPDATE audit_log SET seq = -seq + 1 WHERE seq < 0",
            "INSERT INTO audit_log (seq, at, actor_id, ip, user_agent, action, target_kind, target_id, summary, prev_hash, hash)
             SELECT 12, at, actor_id, ip, user_agent, 'role_changed', target_kind, target_id, summary, prev_hash, hash
               FROM audit_log WHERE seq = 5",
        ],
        "entry 12 was inserted",
    ),
    (
        "swap",
        &[
            "UPDATE audit_log SET seq = -1 WHERE seq = 12",
            "UPDATE audit_log SET seq = 12 WHERE seq = 13",
            "UPDATE audit_log SET seq = 13 WHERE seq = -1",
        ],
        "entry 12 was reordered",
    ),
];

const SQLITE_UNLOCK: &str = "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;";

fn sqlite_exec(data: &Path, statements: &[&str]) {
    let conn = rusqlite::Connection::open(data.join("enclave.db")).unwrap();
    conn.execute_batch(SQLITE_UNLOCK).unwrap();
    for sql in statements {
        conn.execute_batch(sql).unwrap();
    }
}

#[test]
fn verify_names_the_first_tampered_entry_in_sqlite() {
    let untouched = tempfile::tempdir().unwrap();
    seed(untouched.path(), &[], 30);
    assert_verifies(untouched.path(), &[], &[], 30);
    // The server's own database refuses changes to the log.
    let conn = rusqlite::Connection::open(untouched.path().join("enclave.db")).unwrap();
    let e = conn
        .execute("DELETE FROM audit_log WHERE seq = 3", [])
        .unwrap_err();
    assert!(e.to_string().contains("append-only"), "{e}");
    drop(conn);

    for (what, sql, expected) in TAMPERS {
        let dir = tempfile::tempdir().unwrap();
        seed(dir.path(), &[], 30);
        sqlite_exec(dir.path(), sql);
        eprintln!("tamper: {what}");
        assert_tampered(dir.path(), &[], &[], expected);
    }

    // Truncation: only the head file shows it.
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), &[], 30);
    let head = enclave(dir.path(), &[], &["audit", "head"]);
    assert!(head.status.success());
    let head_file = dir.path().join("head");
    std::fs::write(&head_file, &head.stdout).unwrap();
    assert_verifies(
        dir.path(),
        &[],
        &["--head-file", head_file.to_str().unwrap()],
        30,
    );
    sqlite_exec(dir.path(), &["DELETE FROM audit_log WHERE seq > 27"]);
    assert_verifies(dir.path(), &[], &[], 27);
    assert_tampered(
        dir.path(),
        &[],
        &["--head-file", head_file.to_str().unwrap()],
        "the log was truncated: it ends at entry 27 but the recorded head is entry 30",
    );
}

async fn pg_exec(url: &str, statements: &[&str]) {
    use sqlx_core::connection::Connection as _;
    use sqlx_core::executor::Executor as _;
    use sqlx_core::sql_str::AssertSqlSafe;
    let mut conn = sqlx_postgres::PgConnection::connect(url).await.unwrap();
    conn.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
        .await
        .unwrap();
    for sql in statements {
        conn.execute(AssertSqlSafe(sql.to_string())).await.unwrap();
    }
    conn.execute("ALTER TABLE audit_log ENABLE TRIGGER USER")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_the_first_tampered_entry_in_postgres() {
    let data = tempfile::tempdir().unwrap();
    let Some((_db, url)) = enclave_store::testing::fresh_database_url().await else {
        return;
    };
    let env = [("ENCLAVE_DATABASE__URL", url.as_str())];
    seed(data.path(), &env, 30);
    assert_verifies(data.path(), &env, &[], 30);
    // The table refuses changes while its triggers are on.
    {
        use sqlx_core::connection::Connection as _;
        use sqlx_core::executor::Executor as _;
        let mut conn = sqlx_postgres::PgConnection::connect(&url).await.unwrap();
        let e = conn
            .execute("DELETE FROM audit_log WHERE seq = 3")
            .await
            .unwrap_err();
        assert!(e.to_string().contains("append-only"), "{e}");
    }
    for (what, sql, expected) in TAMPERS {
        let Some((_db, url)) = enclave_store::testing::fresh_database_url().await else {
            return;
        };
        let env = [("ENCLAVE_DATABASE__URL", url.as_str())];
        seed(data.path(), &env, 30);
        pg_exec(&url, sql).await;
        eprintln!("tamper: {what}");
        assert_tampered(data.path(), &env, &[], expected);
    }
    // Truncation, caught by the head file.
    let head = enclave(data.path(), &env, &["audit", "head"]);
    let head_file = data.path().join("head");
    std::fs::write(&head_file, &head.stdout).unwrap();
    pg_exec(&url, &["DELETE FROM audit_log WHERE seq > 25"]).await;
    assert_tampered(
        data.path(),
        &env,
        &["--head-file", head_file.to_str().unwrap()],
        "the log was truncated: it ends at entry 25 but the recorded head is entry 30",
    );
}

/// Roles, role assignments, the department tree, its people and managers are recorded, each
/// by its own action, with the administrator as actor and a before/after summary.
async fn role_and_department_changes_are_recorded(server: &TestServer) {
    let admin = server.admin_token().await;
    let (_, me) = server.get(Some(&admin), "/api/v1/users/me", None).await;
    let admin_id = s(&me, "id");
    let (user_id, _) = server.create_user(&unique_name("auditee")).await;
    let call = |method: &'static str, path: String, body: Option<Value>| {
        let admin = admin.clone();
        async move {
            let (st, b) = match method {
                "POST" => server.post(Some(&admin), &path, body).await,
                "PATCH" => server.patch(Some(&admin), &path, body).await,
                "PUT" => server.put(Some(&admin), &path, body).await,
                _ => server.delete(Some(&admin), &path, None).await,
            };
            assert!(st.is_success(), "{method} {path}: {st} {b}");
            b
        }
    };
    let role = call(
        "POST",
        "/api/v1/admin/roles".into(),
        Some(
            serde_json::json!({ "name": unique_name("auditors"), "permissions": ["upload_files"] }),
        ),
    )
    .await;
    let role_id = s(&role, "id");
    call(
        "PATCH",
        format!("/api/v1/admin/roles/{role_id}"),
        Some(serde_json::json!({ "permissions": ["upload_files", "view_audit_log"] })),
    )
    .await;
    call(
        "PUT",
        format!("/api/v1/users/{user_id}/roles"),
        Some(serde_json::json!({ "roles": ["member", role_id] })),
    )
    .await;
    let hq = call(
        "POST",
        "/api/v1/departments".into(),
        Some(serde_json::json!({ "name": unique_name("hq") })),
    )
    .await;
    let team = call(
        "POST",
        "/api/v1/departments".into(),
        Some(serde_json::json!({ "name": unique_name("team") })),
    )
    .await;
    let (hq_id, team_id) = (s(&hq, "id"), s(&team, "id"));
    call(
        "PATCH",
        format!("/api/v1/departments/{team_id}"),
        Some(serde_json::json!({ "parent_id": hq_id })),
    )
    .await;
    let member = format!("/api/v1/departments/{team_id}/members/{user_id}");
    call(
        "PUT",
        member.clone(),
        Some(serde_json::json!({ "title": "工程师" })),
    )
    .await;
    call(
        "PUT",
        member.clone(),
        Some(serde_json::json!({ "title": "组长", "is_head": true })),
    )
    .await;
    call(
        "PUT",
        format!("/api/v1/users/{user_id}/manager"),
        Some(serde_json::json!({ "manager_id": admin_id })),
    )
    .await;
    let channel = server
        .create_channel(&admin, &unique_name("hq-all"), "private")
        .await;
    let link = format!("/api/v1/departments/{hq_id}/channels/{channel}");
    call(
        "PUT",
        link.clone(),
        Some(serde_json::json!({ "include_subdepartments": true })),
    )
    .await;
    call("DELETE", link, None).await;
    call("DELETE", member, None).await;
    call("DELETE", format!("/api/v1/departments/{team_id}"), None).await;
    call("DELETE", format!("/api/v1/admin/roles/{role_id}"), None).await;

    let all = entries(server, &admin, "?limit=100").await;
    let mut got: Vec<(String, String, Value)> = all
        .iter()
        .filter(|e| e["actor"] == admin_id.as_str())
        .map(|e| {
            (
                s(e, "action"),
                e["target_id"].as_str().unwrap_or_default().to_owned(),
                e["summary"].clone(),
            )
        })
        .filter(|(a, _, _)| !a.starts_with("audit_") && a != "sign_in" && a != "user_created")
        .collect();
    got.reverse();
    let actions: Vec<&str> = got.iter().map(|(a, _, _)| a.as_str()).collect();
    assert_eq!(
        actions,
        [
            "role_created",
            "permission_changed",
            "role_changed",
            "department_created",
            "department_created",
            "department_moved",
            "department_member_added",
            "department_member_updated",
            "manager_changed",
            "department_updated",
            "department_updated",
            "department_member_removed",
            "department_deleted",
            "role_deleted",
        ],
        "{got:?}"
    );
    let find = |action: &str| got.iter().find(|(a, _, _)| a == action).unwrap().clone();
    let (_, target, summary) = find("department_moved");
    assert_eq!(target, team_id);
    assert_eq!(summary["parent"]["before"], "root", "{summary}");
    assert_eq!(summary["parent"]["after"], hq_id.as_str(), "{summary}");
    let (_, target, summary) = find("department_member_updated");
    assert_eq!(target, user_id);
    assert_eq!(summary["title"]["before"], "工程师", "{summary}");
    assert_eq!(summary["head"]["after"], "true", "{summary}");
    let (_, target, summary) = find("permission_changed");
    assert_eq!(target, role_id);
    assert_eq!(
        summary["permissions"]["after"], "view_audit_log,upload_files",
        "{summary}"
    );
    let (_, target, summary) = find("department_updated");
    assert_eq!(target, hq_id);
    assert_eq!(summary["channel_linked"], channel.as_str(), "{summary}");
    assert_eq!(summary["include_subdepartments"], "true", "{summary}");
    let (_, target, _) = find("role_changed");
    assert_eq!(target, user_id);
    let out = server.cli(&["audit", "verify"]);
    assert!(out.status.success(), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_and_department_changes_are_recorded_on_sqlite() {
    let server = TestServer::start();
    role_and_department_changes_are_recorded(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_and_department_changes_are_recorded_on_postgres() {
    let Some((_db, url)) = enclave_store::testing::fresh_database_url().await else {
        return;
    };
    let server = TestServer::start_with_env(&[("ENCLAVE_DATABASE__URL", url.as_str())]);
    role_and_department_changes_are_recorded(&server).await;
}

/// A guest invitation is recorded as `guest_invited` (the channels, the expiry, the username),
/// right after the account's `user_created`: the two are appended in the account's own
/// transaction. A refused invitation (an unknown channel) records neither.
async fn guest_invitations_are_recorded(server: &TestServer) {
    let admin = server.admin_token().await;
    let (_, me) = server.get(Some(&admin), "/api/v1/users/me", None).await;
    let admin_id = s(&me, "id");
    let a = server
        .create_channel(&admin, &unique_name("visits-a"), "public")
        .await;
    let b = server
        .create_channel(&admin, &unique_name("visits-b"), "private")
        .await;
    let name = unique_name("visitor");
    let expires = common::rfc3339_in(7 * 86_400);
    let (st, guest) = server
        .post(
            Some(&admin),
            "/api/v1/admin/guests",
            Some(serde_json::json!({
                "username": name,
                "password": common::USER_PASSWORD,
                "expires_at": expires,
                "channel_ids": [b, a, a],
            })),
        )
        .await;
    assert_eq!(st, 201, "{guest}");
    let guest_id = s(&guest, "id");

    let invited = entries(server, &admin, "?action=guest_invited").await;
    let invited: Vec<&Value> = invited
        .iter()
        .filter(|e| e["target_id"] == guest_id.as_str())
        .collect();
    assert_eq!(invited.len(), 1, "{invited:?}");
    let e = invited[0];
    assert_eq!(e["actor"], admin_id.as_str());
    assert_eq!(e["target_kind"], "user");
    assert_eq!(e["summary"]["username"], name.as_str());
    let mut channels = [a.parse::<i64>().unwrap(), b.parse::<i64>().unwrap()];
    channels.sort_unstable();
    assert_eq!(
        e["summary"]["channels"],
        format!("{},{}", channels[0], channels[1]),
        "{e}"
    );
    let expiry_ms: i64 = e["summary"]["expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let in_a_week = i64::try_from(
        (std::time::SystemTime::now() + Duration::from_secs(7 * 86_400))
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    assert!((expiry_ms - in_a_week).abs() < 120_000, "{e}");
    // The account's creation comes right before it in the chain.
    let created = entries(
        server,
        &admin,
        &format!("?action=user_created&target_kind=user&target_id={guest_id}"),
    )
    .await;
    assert_eq!(created.len(), 1, "{created:?}");
    let seq = |v: &Value| s(v, "seq").parse::<i64>().unwrap();
    assert_eq!(seq(&created[0]) + 1, seq(e), "{created:?} {e}");

    // Refused: nothing is recorded.
    let refused = unique_name("refused");
    let (st, body) = server
        .post(
            Some(&admin),
            "/api/v1/admin/guests",
            Some(serde_json::json!({
                "username": refused,
                "password": common::USER_PASSWORD,
                "expires_at": expires,
                "channel_ids": ["999999999"],
            })),
        )
        .await;
    assert!(st.is_client_error(), "{st} {body}");
    let all = entries(server, &admin, "?limit=200").await;
    assert!(
        !all.iter()
            .any(|e| e["summary"]["username"] == refused.as_str()),
        "{all:?}"
    );
    let out = server.cli(&["audit", "verify"]);
    assert!(out.status.success(), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_invitations_are_recorded_on_sqlite() {
    let server = TestServer::start();
    guest_invitations_are_recorded(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_invitations_are_recorded_on_postgres() {
    let Some((_db, url)) = enclave_store::testing::fresh_database_url().await else {
        return;
    };
    let server = TestServer::start_with_env(&[("ENCLAVE_DATABASE__URL", url.as_str())]);
    guest_invitations_are_recorded(&server).await;
}
