//! `enclave backup` and `enclave restore` against the real binary: a backup taken while messages
//! are being posted restores into a new SQLite data folder and into a private PostgreSQL, where
//! every message acknowledged before the backup began is found, a sample of API reads answers
//! the same as the original, files download and search finds the same; from PostgreSQL to SQLite
//! likewise. A damaged backup (a flipped byte, a truncated part, a newer format) and a non-empty
//! target are refused before anything is written.
//!
//! Without PostgreSQL's programs the PostgreSQL halves print why and pass, except in CI
//! (`CI=true`), where `enclave_store::testing` fails: there they must run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{TestServer, Value, encode_segment, json, s};
use reqwest::StatusCode;

const KEY_FILE: &str = "file-master.key";

fn enclave(data: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_enclave"));
    for (k, _) in std::env::vars() {
        if k.starts_with("ENCLAVE_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs([("RUST_LOG", "warn"), ("NO_COLOR", "1")]);
    cmd.arg("--data").arg(data).stdin(Stdio::null());
    cmd
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn restore(data: &Path, backup: &Path, env: &[(&str, &str)]) -> Output {
    enclave(data)
        .envs(env.iter().copied())
        .arg("restore")
        .arg(backup)
        .output()
        .expect("running `enclave restore`")
}

/// The one backup folder inside `to`.
fn the_backup(to: &Path) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(to)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(found.len(), 1, "one backup in {}: {found:?}", to.display());
    let path = found[0].clone();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("enclave-backup-") && !name.ends_with(".partial"),
        "{name}"
    );
    path
}

struct Fixture {
    alice: String,
    main: String,
    load: String,
    file_id: String,
    file_bytes: Vec<u8>,
    word: String,
}

async fn upload(server: &TestServer, token: &str, name: &str, bytes: Vec<u8>) -> Value {
    let resp = server
        .client()
        .post(server.url(&format!("/api/v1/files?name={}", encode_segment(name))))
        .bearer_auth(token)
        .body(bytes)
        .send()
        .await
        .unwrap();
    let (status, body) = common::read_json(resp).await;
    assert_eq!(status, StatusCode::CREATED, "upload: {body}");
    body
}

async fn populate(server: &TestServer) -> Fixture {
    let (bob_id, bob) = server.create_user(&common::unique_name("bob")).await;
    let (_, alice) = server.create_user(&common::unique_name("alice")).await;
    let main = server
        .create_channel(&alice, &common::unique_name("main"), "public")
        .await;
    let load = server
        .create_channel(&alice, &common::unique_name("load"), "public")
        .await;
    server.add_member(&alice, &main, &bob_id).await;
    let word = format!("backupword{}", std::process::id());
    for i in 0..30 {
        let t = if i % 3 == 0 { &bob } else { &alice };
        server
            .post_message(t, &main, &format!("{word} 备份测试 message {i}"))
            .await;
    }
    let root = server.post_message(&alice, &main, "a thread root").await;
    let path = format!("/api/v1/channels/{main}/messages");
    let (status, body) = server
        .post(
            Some(&bob),
            &path,
            Some(json!({ "text": format!("{word} a reply"), "thread_root_id": s(&root, "id") })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "reply: {body}");
    let file_bytes = format!("the quarterly numbers {word} 季度数字\n")
        .repeat(2000)
        .into_bytes();
    let file = upload(server, &alice, "numbers.txt", file_bytes.clone()).await;
    let file_id = s(&file, "id");
    let (status, body) = server
        .post(
            Some(&alice),
            &path,
            Some(json!({ "text": "the file", "file_ids": [file_id] })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "attach: {body}");
    Fixture {
        alice,
        main,
        load,
        file_id,
        file_bytes,
        word,
    }
}

/// A sample of API reads that do not change while the load channel gets messages.
async fn reads(server: &TestServer, fx: &Fixture, load_before: usize) -> Vec<(String, Value)> {
    let paths = [
        format!("/api/v1/channels/{}/messages?after=0&limit=200", fx.main),
        format!(
            "/api/v1/channels/{}/messages?after=0&limit={load_before}",
            fx.load
        ),
        format!("/api/v1/channels/{}", fx.main),
        format!("/api/v1/search?q={}", fx.word),
        format!("/api/v1/search?q={}", encode_segment("备份测试")),
        format!("/api/v1/files/{}/info", fx.file_id),
    ];
    let mut out = Vec::new();
    for p in paths {
        let (status, body) = server.get(Some(&fx.alice), &p, None).await;
        assert_eq!(status, StatusCode::OK, "{p}: {body}\n{}", server.log());
        out.push((p, body));
    }
    out
}

async fn download(server: &TestServer, fx: &Fixture) -> Vec<u8> {
    let resp = server
        .client()
        .get(server.url(&format!("/api/v1/files/{}", fx.file_id)))
        .bearer_auth(&fx.alice)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "download");
    resp.bytes().await.unwrap().to_vec()
}

/// Posts into the load channel until stopped; returns the texts acknowledged.
fn start_load(
    server: Arc<TestServer>,
    token: String,
    channel: String,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let mut n = 0;
        while !stop.load(Ordering::SeqCst) {
            server
                .post_message(&token, &channel, &format!("load {n}"))
                .await;
            n += 1;
        }
        n
    })
}

/// Posts `before` messages, takes a backup while posting goes on, and returns the backup.
async fn backup_under_load(
    server: &Arc<TestServer>,
    fx: &Fixture,
    before: usize,
    to: &Path,
) -> PathBuf {
    for i in 0..before {
        server
            .post_message(&fx.alice, &fx.load, &format!("before {i}"))
            .await;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let load = start_load(
        server.clone(),
        fx.alice.clone(),
        fx.load.clone(),
        stop.clone(),
    );
    // Some messages are in flight when the backup starts.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let s2 = server.clone();
    let to2 = to.to_owned();
    let out =
        tokio::task::spawn_blocking(move || s2.cli(&["backup", "--to", to2.to_str().unwrap()]))
            .await
            .unwrap();
    // And more after it.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    stop.store(true, Ordering::SeqCst);
    let during = load.await.unwrap();
    assert!(during > 0, "messages were posted during the backup");
    assert!(out.status.success(), "backup failed:\n{}", text(&out));
    let report = text(&out);
    assert!(report.contains("OK: backup"), "{report}");
    assert!(report.contains("backed up messages"), "progress: {report}");
    assert!(
        report.contains("the file master key is NOT in the backup"),
        "{report}"
    );
    the_backup(to)
}

async fn assert_same(
    original: &TestServer,
    restored: &TestServer,
    fx: &Fixture,
    before: usize,
    expected: &[(String, Value)],
) {
    let got = reads(restored, fx, before).await;
    for ((p, want), (_, have)) in expected.iter().zip(&got) {
        assert_eq!(have, want, "{p} answers differently after the restore");
    }
    // Every message acknowledged before the backup began is there, in order.
    let load = &got[1].1["messages"];
    let texts: Vec<&str> = load
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    let want: Vec<String> = (0..before).map(|i| format!("before {i}")).collect();
    assert_eq!(texts, want);
    assert_eq!(download(restored, fx).await, fx.file_bytes);
    assert!(
        !got[3].1["results"].as_array().unwrap().is_empty(),
        "search finds the word: {}",
        got[3].1
    );
    // The restored server goes on: a new message is accepted and found.
    let m = restored
        .post_message(&fx.alice, &fx.main, &format!("{} after restore", fx.word))
        .await;
    assert!(m["id"].is_string());
    let _ = original;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_backup_under_load_restores_into_sqlite_and_postgres() {
    let server = Arc::new(TestServer::start());
    let fx = populate(&server).await;
    let before = 40;
    let backups = tempfile::tempdir().unwrap();
    let backup = backup_under_load(&server, &fx, before, backups.path()).await;
    let expected = reads(&server, &fx, before).await;
    assert_eq!(download(&server, &fx).await, fx.file_bytes);
    let key = std::fs::read(server.data_dir().join(KEY_FILE)).unwrap();

    // Into a new SQLite data folder, with the master key kept apart by the operator.
    let target = tempfile::tempdir().unwrap();
    let data = target.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join(KEY_FILE), &key).unwrap();
    let out = restore(&data, &backup, &[]);
    assert!(out.status.success(), "restore failed:\n{}", text(&out));
    let report = text(&out);
    assert!(report.contains("every checksum matches"), "{report}");
    assert!(report.contains("OK: restored"), "{report}");
    assert!(report.contains("restored messages"), "progress: {report}");
    {
        let restored = TestServer::start_in(&data);
        assert_same(&server, &restored, &fx, before, &expected).await;
    }
    // The same folder again: not empty, refused.
    let out = restore(&data, &backup, &[]);
    assert!(!out.status.success());
    assert!(text(&out).contains("not empty"), "{}", text(&out));

    // Into an empty PostgreSQL database.
    let Some((_db, url)) = enclave_store::testing::fresh_database_url().await else {
        return;
    };
    let pg_data = target.path().join("pg");
    std::fs::create_dir(&pg_data).unwrap();
    std::fs::write(pg_data.join(KEY_FILE), &key).unwrap();
    let env = [("ENCLAVE_DATABASE__URL", url.as_str())];
    let out = restore(&pg_data, &backup, &env);
    assert!(out.status.success(), "restore failed:\n{}", text(&out));
    assert!(text(&out).contains("PostgreSQL database"), "{}", text(&out));
    {
        let restored = TestServer::start_existing(&pg_data, &env);
        assert_same(&server, &restored, &fx, before, &expected).await;
    }
    // A database with data is refused, and keeps its data.
    let other = target.path().join("pg2");
    let out = restore(&other, &backup, &env);
    assert!(!out.status.success());
    assert!(text(&out).contains("not empty"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_backup_under_load_restores_into_sqlite() {
    let Some((_db, url)) = enclave_store::testing::fresh_database_url().await else {
        return;
    };
    let server = Arc::new(TestServer::start_with_env(&[(
        "ENCLAVE_DATABASE__URL",
        url.as_str(),
    )]));
    let fx = populate(&server).await;
    let before = 25;
    let backups = tempfile::tempdir().unwrap();
    let backup = backup_under_load(&server, &fx, before, backups.path()).await;
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(backup.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["database"]["backend"], "postgres");
    let expected = reads(&server, &fx, before).await;
    let key = std::fs::read(server.data_dir().join(KEY_FILE)).unwrap();
    let target = tempfile::tempdir().unwrap();
    let data = target.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join(KEY_FILE), &key).unwrap();
    let out = restore(&data, &backup, &[]);
    assert!(out.status.success(), "restore failed:\n{}", text(&out));
    let restored = TestServer::start_in(&data);
    assert_same(&server, &restored, &fx, before, &expected).await;
}

/// Copies a backup folder.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

fn first_file(dir: &Path) -> PathBuf {
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                return p;
            }
        }
    }
    panic!("no file under {}", dir.display());
}

/// Nothing was written into `data`: no database, no file object, no key.
fn untouched(data: &Path) {
    if !data.exists() {
        return;
    }
    let left: Vec<PathBuf> = std::fs::read_dir(data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !(p.is_dir() && std::fs::read_dir(p).unwrap().next().is_none()))
        .collect();
    assert!(left.is_empty(), "written despite the refusal: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_backups_are_refused_before_writing_and_keys_travel_wrapped() {
    let server = TestServer::start();
    let fx = populate(&server).await;
    let backups = tempfile::tempdir().unwrap();
    let passphrase = "correct horse battery staple";
    let out = server
        .command_env(&[("ENCLAVE_BACKUP_PASSPHRASE", passphrase)])
        .args(["backup", "--with-key", "--to"])
        .arg(backups.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("wrapped under the passphrase"),
        "{}",
        text(&out)
    );
    let good = the_backup(backups.path());
    let key_text = std::fs::read_to_string(server.data_dir().join(KEY_FILE)).unwrap();
    let wrapped = std::fs::read_to_string(good.join("master-key.json")).unwrap();
    assert!(
        !wrapped.contains(key_text.trim()),
        "the key is not written in clear"
    );
    let work = tempfile::tempdir().unwrap();
    let env = [("ENCLAVE_BACKUP_PASSPHRASE", passphrase)];

    type Damage = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, Damage, &str)> = vec![
        (
            "a flipped byte in a table",
            Box::new(|b: &Path| {
                let p = b.join("tables/messages.jsonl.gz");
                let mut bytes = std::fs::read(&p).unwrap();
                let mid = bytes.len() / 2;
                bytes[mid] ^= 0x01;
                std::fs::write(&p, bytes).unwrap();
            }),
            "SHA-256",
        ),
        (
            "a truncated table",
            Box::new(|b: &Path| {
                let p = b.join("tables/users.jsonl.gz");
                let bytes = std::fs::read(&p).unwrap();
                std::fs::write(&p, &bytes[..bytes.len() - 7]).unwrap();
            }),
            "SHA-256",
        ),
        (
            "a flipped byte in a file object",
            Box::new(|b: &Path| {
                let p = first_file(&b.join("objects"));
                let mut bytes = std::fs::read(&p).unwrap();
                bytes[10] ^= 0x80;
                std::fs::write(&p, bytes).unwrap();
            }),
            "SHA-256",
        ),
        (
            "a truncated file object",
            Box::new(|b: &Path| {
                let p = first_file(&b.join("objects"));
                let bytes = std::fs::read(&p).unwrap();
                std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
            }),
            "SHA-256",
        ),
        (
            "a truncated manifest",
            Box::new(|b: &Path| {
                let p = b.join("manifest.json");
                let bytes = std::fs::read(&p).unwrap();
                std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
            }),
            "cut short",
        ),
        (
            "a newer format",
            Box::new(|b: &Path| {
                let p = b.join("manifest.json");
                let mut m: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
                m["format"] = json!(99);
                std::fs::write(&p, serde_json::to_vec(&m).unwrap()).unwrap();
            }),
            "newer release",
        ),
        (
            "a wrong passphrase",
            Box::new(|_: &Path| {}),
            "wrong passphrase",
        ),
    ];
    for (i, (what, damage, says)) in cases.iter().enumerate() {
        let copy = work.path().join(format!("backup-{i}"));
        copy_dir(&good, &copy);
        damage(&copy);
        let data = work.path().join(format!("data-{i}"));
        let env: &[(&str, &str)] = if *what == "a wrong passphrase" {
            &[("ENCLAVE_BACKUP_PASSPHRASE", "not the passphrase")]
        } else {
            &env
        };
        let out = restore(&data, &copy, env);
        assert!(!out.status.success(), "{what}: restored:\n{}", text(&out));
        assert!(text(&out).contains(says), "{what}: {}", text(&out));
        untouched(&data);
    }

    // --verify-only checks everything and writes nothing.
    let data = work.path().join("data-verify");
    let out = enclave(&data)
        .args(["restore", "--verify-only"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("nothing was written"), "{}", text(&out));
    assert!(!data.exists(), "--verify-only wrote {}", data.display());

    // The intact backup, with its wrapped key, restores into an empty folder: the server starts
    // with the restored key and the file downloads.
    let data = work.path().join("data-good");
    let out = restore(&data, &good, &env);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("the file master keys were restored"));
    assert_eq!(
        std::fs::read_to_string(data.join(KEY_FILE)).unwrap().trim(),
        key_text.trim()
    );
    let restored = TestServer::start_in(&data);
    assert_eq!(download(&restored, &fx).await, fx.file_bytes);
    let (status, _) = restored
        .get(
            Some(&fx.alice),
            &format!("/api/v1/search?q={}", fx.word),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_backups_are_taken_logged_and_pruned() {
    let backups = tempfile::tempdir().unwrap();
    let to = backups.path().to_str().unwrap().to_owned();
    let server = TestServer::start_with_env(&[
        ("ENCLAVE_BACKUP__TO", to.as_str()),
        ("ENCLAVE_BACKUP__INTERVAL_SECS", "3600"),
        ("ENCLAVE_BACKUP__KEEP", "2"),
    ]);
    let fx = populate(&server).await;
    // The first scheduled backup runs when the server starts.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !server.log().contains("older backup(s) removed") {
        assert!(
            std::time::Instant::now() < deadline,
            "no backup job in the log:\n{}",
            server.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // Two more by hand (the same job): only the newest two are kept.
    for _ in 0..2 {
        // Backup folders are named by the second.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let out = server.cli(&["admin", "run-job", "backup"]);
        assert!(out.status.success(), "{}", text(&out));
        assert!(
            text(&out).contains("older backup(s) removed"),
            "{}",
            text(&out)
        );
    }
    let left: Vec<PathBuf> = std::fs::read_dir(backups.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
    // The newest one holds everything posted and restores.
    let mut left = left;
    left.sort();
    let data = backups.path().with_extension("restored");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(server.data_dir().join(KEY_FILE), data.join(KEY_FILE)).unwrap();
    let out = restore(&data, &left[1], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let restored = TestServer::start_in(&data);
    assert_eq!(download(&restored, &fx).await, fx.file_bytes);
    let _ = std::fs::remove_dir_all(&data);
}

/// The admin console's view: a member is refused, an administrator sees the schedule, the run at
/// start and its backup with the manifest's counts; "back up now" adds one (409 while it runs).
async fn admin_console_lists_backups(env: &[(&str, &str)]) {
    let backups = tempfile::tempdir().unwrap();
    let to = backups.path().to_str().unwrap().to_owned();
    let mut env: Vec<(&str, &str)> = env.to_vec();
    env.extend([
        ("ENCLAVE_BACKUP__TO", to.as_str()),
        ("ENCLAVE_BACKUP__INTERVAL_SECS", "3600"),
        ("ENCLAVE_BACKUP__KEEP", "5"),
    ]);
    let server = TestServer::start_with_env(&env);
    let admin = server.admin_token().await;
    let (_, member) = server.create_user(&common::unique_name("member")).await;
    let (status, body) = server
        .get(Some(&member), "/api/v1/admin/backups", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = server
        .post(Some(&member), "/api/v1/admin/backups", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = server.get(None, "/api/v1/admin/backups", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The first scheduled backup runs when the server starts.
    let wait_done = |min: usize| {
        let server = &server;
        let admin = admin.clone();
        async move {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
            loop {
                let (status, body) = server
                    .get(Some(&admin), "/api/v1/admin/backups", None)
                    .await;
                assert_eq!(status, StatusCode::OK, "{body}");
                if !body["running"].as_bool().unwrap()
                    && body["last_run"]["status"] == "ok"
                    && body["backups"].as_array().unwrap().len() >= min
                {
                    return body;
                }
                assert!(std::time::Instant::now() < deadline, "no backup: {body}");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    };
    let body = wait_done(1).await;
    assert_eq!(body["schedule"]["to"], to.as_str());
    assert_eq!(body["schedule"]["interval_secs"], 3600);
    assert_eq!(body["schedule"]["keep"], 5);
    assert!(
        body["last_run"]["message"]
            .as_str()
            .unwrap()
            .contains("written"),
        "{body}"
    );
    assert!(body["last_run"]["took_ms"].is_u64(), "{body}");
    let first = &body["backups"][0];
    let name = first["name"].as_str().unwrap();
    assert!(name.starts_with("enclave-backup-"), "{body}");
    assert!(backups.path().join(name).join("manifest.json").is_file());
    assert!(first["rows"].as_u64().unwrap() > 0, "{body}");
    assert!(first["tables"].as_u64().unwrap() > 0, "{body}");
    assert!(first["bytes"].as_u64().unwrap() > 0, "{body}");
    assert_eq!(first["with_key"], false);
    assert!(first["problem"].is_null(), "{body}");

    // Back up now: the same job; a second backup appears (names are by the second).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, body) = server
        .post(Some(&admin), "/api/v1/admin/backups", None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let body = wait_done(2).await;
    assert_eq!(body["runs"], 2, "{body}");
    let names: Vec<&str> = body["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{body}");
    assert!(names[0] > names[1], "newest first: {names:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_console_lists_backups_sqlite() {
    admin_console_lists_backups(&[]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_console_lists_backups_postgres() {
    let Some((_db, url)) = enclave_store::testing::fresh_database_url().await else {
        return;
    };
    admin_console_lists_backups(&[("ENCLAVE_DATABASE__URL", url.as_str())]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_console_backups_off() {
    let server = TestServer::start();
    let admin = server.admin_token().await;
    let (status, body) = server
        .get(Some(&admin), "/api/v1/admin/backups", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["schedule"].is_null(), "{body}");
    assert_eq!(body["backups"], json!([]));
    let (status, body) = server
        .post(Some(&admin), "/api/v1/admin/backups", None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}
