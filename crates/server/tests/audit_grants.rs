//! The PostgreSQL grants of docs/admin/audit.md, as written there: the server runs as a role
//! that may only insert into and read the audit log. The test reads the grant SQL from the
//! document, applies it to a role of its own, runs the server as that role (which then must not
//! touch the schema: its store skips the migrator when the schema is current), and shows that
//! the server appends and reads entries while the role is refused `UPDATE`, `DELETE` and
//! `TRUNCATE` on the table, and disabling its triggers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::{ADMIN_PASSWORD, ADMIN_USER, TestServer, unique_name};
use sqlx_core::connection::Connection as _;
use sqlx_core::executor::Executor as _;
use sqlx_core::sql_str::AssertSqlSafe;

/// The second `sql` block of the section "PostgreSQL: a server role that may only insert and
/// read" (the grants the owner runs), without comments.
fn documented_grants() -> Vec<String> {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/admin/audit.md"
    ))
    .unwrap();
    let section = doc
        .split("## PostgreSQL: a server role that may only insert and read")
        .nth(1)
        .expect("the section on PostgreSQL grants");
    let block = section
        .split("```sql")
        .nth(2)
        .expect("a second sql block: the grants")
        .split("```")
        .next()
        .unwrap();
    let sql: String = block
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    let statements: Vec<String> = sql
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    assert!(
        statements
            .iter()
            .any(|s| s.contains("GRANT SELECT, INSERT ON audit_log")),
        "{statements:?}"
    );
    statements
}

/// `url` with its user and password replaced.
fn as_user(url: &str, user: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let rest = rest.split_once('@').map_or(rest, |(_, r)| r);
    format!("{scheme}://{user}:{password}@{rest}")
}

fn enclave(data: &std::path::Path, url: &str, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_enclave"));
    for (k, _) in std::env::vars() {
        if k.starts_with("ENCLAVE_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("ENCLAVE_DATABASE__URL", url)
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_role_may_only_insert_and_read_the_audit_log() {
    let Some((_db, owner_url)) = enclave_store::testing::fresh_database_url().await else {
        return;
    };
    // The owner creates the schema (any command that opens the store does).
    let data = tempfile::tempdir().unwrap();
    let out = enclave(data.path(), &owner_url, &["audit", "head"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The restricted role, under the document's grants (roles are per server: a unique name).
    let role = unique_name("app").replace('-', "_");
    let password = "app-password-1";
    let mut owner = sqlx_postgres::PgConnection::connect(&owner_url)
        .await
        .unwrap();
    owner
        .execute(AssertSqlSafe(format!(
            "CREATE ROLE {role} LOGIN PASSWORD '{password}'"
        )))
        .await
        .unwrap();
    for statement in documented_grants() {
        let statement = statement.replace("enclave_app", &role);
        owner
            .execute(AssertSqlSafe(statement.clone()))
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    let app_url = as_user(&owner_url, &role, password);

    // The server runs as that role: it starts (no migration to apply), records and reads.
    let server = TestServer::start_with_env(&[("ENCLAVE_DATABASE__URL", &app_url)]);
    let admin = server.admin_token().await;
    let (_, alice) = server.create_user(&unique_name("alice")).await;
    let (status, _) = server.login(ADMIN_USER, "wrong-password-1").await;
    assert_eq!(status, 401);
    let (status, body) = server
        .get(Some(&admin), "/api/v1/admin/audit?limit=100", None)
        .await;
    assert_eq!(status, 200, "{body}");
    let actions: Vec<&str> = body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for wanted in ["user_created", "sign_in", "sign_in_failed"] {
        assert!(actions.contains(&wanted), "{wanted} in {actions:?}");
    }
    // An audited change (in the change's own transaction) works under the grants too.
    let (status, body) = server
        .post(
            Some(&admin),
            "/api/v1/departments",
            Some(serde_json::json!({ "name": unique_name("dept") })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let dept_id = body["id"].as_str().unwrap().to_owned();
    let (status, page) = server
        .get(
            Some(&admin),
            "/api/v1/admin/audit?action=department_created",
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    let entries = page["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{page}");
    assert_eq!(entries[0]["target_id"], dept_id.as_str(), "{page}");
    let _ = (alice, ADMIN_PASSWORD);
    let verify = enclave(data.path(), &app_url, &["audit", "verify"]);
    assert!(
        verify.status.success(),
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );

    // The role itself may not change, remove or truncate entries, nor turn the triggers off.
    let mut app = sqlx_postgres::PgConnection::connect(&app_url)
        .await
        .unwrap();
    let n: i64 = sqlx_core::query_scalar::query_scalar("SELECT count(*) FROM audit_log")
        .fetch_one(&mut app)
        .await
        .unwrap();
    assert!(n >= 4, "{n}");
    for sql in [
        "UPDATE audit_log SET action = 'sign_out' WHERE seq = 1",
        "DELETE FROM audit_log WHERE seq = 1",
        "TRUNCATE audit_log",
        "ALTER TABLE audit_log DISABLE TRIGGER USER",
        "DROP TABLE audit_log",
    ] {
        let e = app.execute(sql).await.unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("permission denied") || text.contains("must be owner"),
            "{sql}: {text}"
        );
    }
    let after: i64 = sqlx_core::query_scalar::query_scalar("SELECT count(*) FROM audit_log")
        .fetch_one(&mut app)
        .await
        .unwrap();
    assert_eq!(after, n);
    app.close().await.unwrap();
    owner.close().await.unwrap();
}
