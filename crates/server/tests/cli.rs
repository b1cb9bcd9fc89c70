//! The command line works on the data folder of a running server, and its changes take effect
//! in that server at once (the server follows the event log, not only its own writes).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{TestServer, unique_name};

fn enclave(server: &TestServer, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_enclave"))
        .arg("--data")
        .arg(server.data_dir())
        .args(args)
        .env("ENCLAVE_AUTH__ARGON2_MEMORY_KIB", "64")
        .env("ENCLAVE_AUTH__ARGON2_ITERATIONS", "1")
        .output()
        .expect("running enclave")
}

#[tokio::test]
async fn cli_deactivation_ends_sessions_of_a_running_server() {
    let server = TestServer::start();
    let name = unique_name("cliuser");
    let (_id, token) = server.create_user(&name).await;
    let (status, _) = server.get(Some(&token), "/api/v1/users/me", None).await;
    assert_eq!(status, 200);

    let out = enclave(&server, &["admin", "deactivate-user", &name]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let (status, _) = server.get(Some(&token), "/api/v1/users/me", None).await;
        if status == 401 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the session still works 3 s after `admin deactivate-user`"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let out = enclave(&server, &["admin", "list-users", "--all"]);
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing
            .lines()
            .any(|l| l.contains(&name) && l.contains("deactivated")),
        "{listing}"
    );
}

#[tokio::test]
async fn cli_created_user_can_log_in_to_a_running_server() {
    let server = TestServer::start();
    let name = unique_name("cliborn");
    let out = enclave(
        &server,
        &[
            "admin",
            "create-user",
            &name,
            "--password",
            "a-long-password",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, body) = server.login(&name, "a-long-password").await;
    assert_eq!(status, 200, "{body}");
    let out = enclave(
        &server,
        &[
            "admin",
            "create-user",
            &name,
            "--password",
            "a-long-password",
        ],
    );
    assert!(!out.status.success(), "a taken username must fail");
    assert!(String::from_utf8_lossy(&out.stderr).contains("taken"));
}

#[test]
fn config_prints_effective_values_with_secrets_masked() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_enclave"))
        .args(["--data", dir.path().to_str().unwrap(), "config"])
        .env("ENCLAVE_DATABASE__URL", "sqlite:/tmp/other.db")
        .env("ENCLAVE_AUTH__SESSION_TTL_DAYS", "3")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("session_ttl_days = 3"), "{text}");
    assert!(text.contains("url = \"sqlite:/tmp/other.db\""), "{text}");
    assert!(text.contains("listen = \"127.0.0.1:8080\""), "{text}");

    let out = Command::new(env!("CARGO_BIN_EXE_enclave"))
        .args(["config"])
        .env(
            "ENCLAVE_DATABASE__URL",
            "postgres://enclave:hunter2@db/enclave",
        )
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains("hunter2"), "a password leaked: {all}");

    let out = Command::new(env!("CARGO_BIN_EXE_enclave"))
        .args(["config"])
        .env("ENCLAVE_LISTEN", "nowhere")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "a bad configuration exits with 2"
    );
}

/// `admin reindex` rebuilds the search index beside a running server: the report counts the
/// live messages, and searches answer as before (deleted messages stay out).
#[tokio::test]
async fn cli_reindex_rebuilds_search_beside_a_running_server() {
    let server = TestServer::start();
    let admin = server.admin_token().await;
    let channel = server
        .create_channel(&admin, &unique_name("reindex"), "public")
        .await;
    for text in ["季度报告 ready", "quarterly 报告", "to be deleted 报告"] {
        server.post_message(&admin, &channel, text).await;
    }
    let search = async |q: &str| -> usize {
        let (status, body) = server
            .get(
                Some(&admin),
                &format!("/api/v1/search?q={}", common::encode_segment(q)),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["results"].as_array().unwrap().len()
    };
    let (_, history) = server
        .get(
            Some(&admin),
            &format!("/api/v1/channels/{channel}/messages"),
            None,
        )
        .await;
    let last = common::s(&history["messages"][2], "id");
    let (status, _) = server
        .delete(Some(&admin), &format!("/api/v1/messages/{last}"), None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(search("报告").await, 2);

    let out = enclave(&server, &["admin", "reindex", "--batch", "1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("2 messages indexed") && report.contains("1 deleted skipped"),
        "{report}"
    );
    assert_eq!(search("报告").await, 2);
    assert_eq!(search("\"quarterly 报告\"").await, 1);
    assert_eq!(search("deleted").await, 0);

    let out = enclave(&server, &["admin", "reindex", "--batch", "0"]);
    assert!(!out.status.success(), "a zero batch is refused");
}

/// The server's background jobs run once from the command line, beside a running server:
/// `admin run-job NAME`, and `admin sweep-files` as the same `sweep-files` job.
#[tokio::test]
async fn cli_runs_background_jobs_once() {
    let server = TestServer::start();
    let stdout = |args: &[&str]| {
        let out = enclave(&server, args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // Nothing is old enough to prune, and no file is unreferenced.
    assert_eq!(
        stdout(&["admin", "run-job", "prune-events"]),
        "pruned 0 old event(s)\n"
    );
    assert_eq!(
        stdout(&["admin", "run-job", "sweep-files"]),
        "removed 0 unreferenced file(s)\n"
    );
    assert_eq!(
        stdout(&["admin", "sweep-files"]),
        "removed 0 unreferenced file(s)\n"
    );
    let out = enclave(&server, &["admin", "run-job", "backup"]);
    assert!(!out.status.success(), "an unknown job is refused");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("prune-events") && err.contains("sweep-files"),
        "{err}"
    );
}
