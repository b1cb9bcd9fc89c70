//! `enclave import slack` and `enclave import mattermost` against the real binary, on SQLite
//! and on a private PostgreSQL: a Slack export made here from Slack's documented format
//! (Chinese and English text, threads, reactions, edits, pins, DMs, group DMs, a private
//! channel, a deactivated user, a bot, a file) imports fully; the REST API then answers with
//! the same threads, reactions, order and times; a second run adds nothing; a run killed with
//! SIGKILL finishes exactly when run again; hostile and broken input is refused or reported.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::TestServer;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Writes `files` (name → bytes) into a new zip file.
fn write_zip(path: &Path, files: &[(String, Vec<u8>)]) {
    let f = std::fs::File::create(path).expect("create zip");
    let mut w = zip::ZipWriter::new(f);
    for (name, bytes) in files {
        w.start_file(
            name.as_str(),
            zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated),
        )
        .expect("start file");
        w.write_all(bytes).expect("write file");
    }
    w.finish().expect("finish zip");
}

fn j(v: Value) -> Vec<u8> {
    serde_json::to_vec_pretty(&v).expect("json")
}

const ROOT_TS: &str = "1700000000.000100";
/// Messages of the long channel (for the kill -9 test).
const LONG: usize = 3000;

/// A Slack export as Slack writes it.
fn slack_export(dir: &Path) -> PathBuf {
    let users = json!([
        {"id": "U001", "name": "alice", "real_name": "Alice Liddell", "deleted": false, "is_bot": false,
         "profile": {"email": "alice@example.com", "display_name": "Alice", "real_name": "Alice Liddell", "title": "Engineer"}},
        {"id": "U002", "name": "bob", "deleted": false, "is_bot": false,
         "profile": {"email": "bob@example.com", "display_name": "王小明", "real_name": "Wang Xiaoming"}},
        {"id": "U003", "name": "carol", "deleted": true, "is_bot": false,
         "profile": {"email": "carol@example.com", "real_name": "Carol"}},
        {"id": "U004", "name": "helperbot", "deleted": false, "is_bot": true,
         "profile": {"bot_id": "B001", "real_name": "Helper Bot"}},
        {"id": "U005", "name": "dave", "deleted": false, "is_bot": false,
         "profile": {"email": "dave@example.com", "display_name": "Dave"}}
    ]);
    let channels = json!([
        {"id": "C001", "name": "general", "created": 1690000000, "creator": "U001", "is_archived": false,
         "members": ["U001", "U002", "U003", "U005"],
         "topic": {"value": "General chat", "creator": "U001", "last_set": 0},
         "purpose": {"value": "Company-wide", "creator": "U001", "last_set": 0}},
        {"id": "C002", "name": "old-project", "created": 1600000000, "creator": "U001", "is_archived": true,
         "members": ["U001"], "topic": {"value": ""}, "purpose": {"value": ""}},
        {"id": "C003", "name": "long", "created": 1600000000, "creator": "U001", "is_archived": false,
         "members": ["U001", "U005"], "topic": {"value": ""}, "purpose": {"value": ""}}
    ]);
    let groups = json!([
        {"id": "G001", "name": "secret", "created": 1690000000, "creator": "U002", "is_archived": false,
         "members": ["U001", "U002"], "topic": {"value": "秘密"}, "purpose": {"value": ""}}
    ]);
    let dms = json!([{"id": "D001", "created": 1690000000, "members": ["U001", "U002"]}]);
    let mpims = json!([
        {"id": "G002", "name": "mpdm-alice--bob--dave-1", "created": 1690000000, "creator": "U001",
         "is_archived": false, "members": ["U001", "U002", "U005"], "topic": {"value": ""}, "purpose": {"value": ""}}
    ]);
    let day1 = json!([
        {"type": "message", "user": "U001", "ts": ROOT_TS, "thread_ts": ROOT_TS, "reply_count": 2,
         "text": "Hello <@U002>, welcome to <#C002|old-project> &amp; see <https://example.com/doc?a=1&amp;b=2|the docs>",
         "reactions": [{"name": "thumbsup", "users": ["U002", "U005"], "count": 2},
                       {"name": "tada", "users": ["U001"], "count": 1}],
         "pinned_to": ["C001"]},
        {"type": "message", "subtype": "channel_join", "user": "U005", "ts": "1700000000.000200",
         "text": "<@U005> has joined the channel"},
        {"type": "message", "user": "U002", "ts": "1700000100.000000", "thread_ts": ROOT_TS,
         "parent_user_id": "U001", "text": "你好，世界！这是一条中文回复。"},
        {"type": "message", "user": "U005", "ts": "1700000200.000000", "thread_ts": ROOT_TS,
         "parent_user_id": "U001", "text": "second reply, edited",
         "edited": {"user": "U005", "ts": "1700000300.000000"}},
        {"type": "message", "subtype": "bot_message", "bot_id": "B001", "username": "helperbot",
         "ts": "1700000400.000000", "text": "Build passed <!here>"},
        {"type": "message", "user": "U003", "ts": "1700000500.000000", "text": "the quarterly report",
         "files": [{"id": "F001", "name": "report.pdf", "title": "report.pdf", "mimetype": "application/pdf"}]},
        {"type": "message", "user": "U999", "ts": "1700000600.000000", "text": "who am I"},
        {"type": "message", "subtype": "weird_new_thing", "user": "U001", "ts": "1700000700.000000", "text": "?"}
    ]);
    let last = json!([
        {"type": "message", "user": "U001", "ts": "1700200000.000000", "text": "<!channel> the last one &lt;3"}
    ]);
    let mut long = Vec::new();
    for i in 0..LONG {
        long.push(json!({"type": "message", "user": if i % 2 == 0 { "U001" } else { "U005" },
                         "ts": format!("{}.000000", 1_650_000_000 + i), "text": format!("long message {i}")}));
    }
    let mut files = vec![
        ("users.json".to_owned(), j(users)),
        ("channels.json".to_owned(), j(channels)),
        ("groups.json".to_owned(), j(groups)),
        ("dms.json".to_owned(), j(dms)),
        ("mpims.json".to_owned(), j(mpims)),
        ("general/2023-11-14.json".to_owned(), j(day1)),
        (
            "general/2023-11-15.json".to_owned(),
            b"[{\"type\": \"message\", \"ts\": ".to_vec(),
        ),
        (
            "general/2023-11-16.json".to_owned(),
            vec![b'[', b'"', 0xff, 0xfe, b'"', b']'],
        ),
        ("general/2023-11-17.json".to_owned(), j(last)),
        (
            "old-project/2020-09-13.json".to_owned(),
            j(
                json!([{"type": "message", "user": "U001", "ts": "1600000000.000000", "text": "archived history"}]),
            ),
        ),
        ("long/2022-04-15.json".to_owned(), j(Value::Array(long))),
        (
            "secret/2023-11-14.json".to_owned(),
            j(
                json!([{"type": "message", "user": "U002", "ts": "1700000000.000000", "text": "private 秘密"}]),
            ),
        ),
        (
            "D001/2023-11-14.json".to_owned(),
            j(
                json!([{"type": "message", "user": "U001", "ts": "1700000000.000000", "text": "dm hi"}]),
            ),
        ),
        (
            "mpdm-alice--bob--dave-1/2023-11-14.json".to_owned(),
            j(
                json!([{"type": "message", "user": "U005", "ts": "1700000000.000000", "text": "group hi :wave:"}]),
            ),
        ),
    ];
    files.sort();
    let path = dir.join("slack-export.zip");
    write_zip(&path, &files);
    path
}

fn run_ok(server: &TestServer, args: &[&str]) -> String {
    let out = server.cli(args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "enclave {args:?} failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

async fn get(server: &TestServer, token: &str, path: &str) -> Value {
    let (status, body) = server.get(Some(token), path, None).await;
    assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
    body
}

async fn history(server: &TestServer, token: &str, channel: &str) -> Vec<Value> {
    let body = get(
        server,
        token,
        &format!("/api/v1/channels/{channel}/messages?limit=200&after=0"),
    )
    .await;
    body["messages"]
        .as_array()
        .or_else(|| body.as_array())
        .cloned()
        .unwrap_or_else(|| panic!("history of {channel}: {body}"))
}

async fn all_history(server: &TestServer, token: &str, channel: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = 0i64;
    loop {
        let body = get(
            server,
            token,
            &format!(
                "/api/v1/channels/{channel}/messages?limit=200&after={after}&include_replies=true"
            ),
        )
        .await;
        let page = body["messages"]
            .as_array()
            .or_else(|| body.as_array())
            .cloned()
            .unwrap_or_default();
        if page.is_empty() {
            return out;
        }
        after = page.last().and_then(|m| m["seq"].as_i64()).expect("seq");
        out.extend(page);
    }
}

/// The channels `token`'s user is in, by name (direct conversations by kind).
async fn my_channels(server: &TestServer, token: &str) -> Vec<Value> {
    let body = get(server, token, "/api/v1/channels").await;
    body["channels"]
        .as_array()
        .or_else(|| body.as_array())
        .cloned()
        .unwrap_or_else(|| panic!("channels: {body}"))
}

fn find(chs: &[Value], pred: impl Fn(&Value) -> bool) -> &Value {
    chs.iter()
        .find(|c| pred(c))
        .unwrap_or_else(|| panic!("not found in {chs:#?}"))
}

/// Creates the accounts the import merges into: alice (by e-mail) and robert (by the map).
async fn existing_accounts(server: &TestServer) -> String {
    let admin = server.admin_token().await;
    for (name, email) in [
        ("alice", "alice@example.com"),
        ("robert", "robert@corp.example"),
    ] {
        let (status, body) = server
            .post(
                Some(&admin),
                "/api/v1/users",
                Some(json!({"username": name, "password": common::USER_PASSWORD, "email": email})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    server.login_token("alice", common::USER_PASSWORD).await
}

async fn check_imported(server: &TestServer, alice: &str) {
    let chs = my_channels(server, alice).await;
    let general = find(&chs, |c| c["name"] == "general");
    assert_eq!(general["kind"], "public");
    assert_eq!(general["topic"], "General chat");
    assert_eq!(general["purpose"], "Company-wide");
    let secret = find(&chs, |c| c["name"] == "secret");
    assert_eq!(secret["kind"], "private");
    assert_eq!(secret["topic"], "秘密");
    let old = find(&chs, |c| c["name"] == "old-project");
    assert_eq!(old["archived"], true);
    let dm = find(&chs, |c| c["kind"] == "dm");
    let group = find(&chs, |c| c["kind"] == "group_dm");
    assert_eq!(group["n_members"], 3);

    let gid = general["id"].as_str().expect("id");
    let top = history(server, alice, gid).await;
    let texts: Vec<&str> = top
        .iter()
        .map(|m| m["text"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        texts,
        [
            "Hello @robert, welcome to #old-project & see [the docs](https://example.com/doc?a=1&b=2)",
            "Build passed @here",
            "the quarterly report\n📎 report.pdf",
            "@channel the last one <3",
        ],
        "{top:#?}"
    );
    let seqs: Vec<i64> = top
        .iter()
        .map(|m| m["seq"].as_i64().expect("seq"))
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let root = &top[0];
    assert!(
        root["created_at"]
            .as_str()
            .expect("time")
            .starts_with("2023-11-14T22:13:20"),
        "{root}"
    );
    assert_eq!(root["pinned"], true);
    assert_eq!(root["reply_count"], 2);
    let reactions: Vec<(String, i64)> = root["reactions"]
        .as_array()
        .expect("reactions")
        .iter()
        .map(|r| {
            (
                r["emoji"].as_str().unwrap_or("").to_owned(),
                r["count"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    assert!(reactions.contains(&("👍".to_owned(), 2)), "{reactions:?}");
    assert!(reactions.contains(&("🎉".to_owned(), 1)), "{reactions:?}");
    assert!(
        top[3]["created_at"]
            .as_str()
            .expect("time")
            .starts_with("2023-11-17T05:46:40")
    );
    assert_eq!(top[3]["mentions"]["channel"], true, "{}", top[3]);

    let rid = root["id"].as_str().expect("id");
    let thread = get(server, alice, &format!("/api/v1/messages/{rid}/thread")).await;
    let replies = thread["messages"]
        .as_array()
        .or_else(|| thread["replies"].as_array())
        .or_else(|| thread.as_array())
        .cloned()
        .unwrap_or_else(|| panic!("thread: {thread}"));
    let replies: Vec<&Value> = replies.iter().filter(|m| m["id"] != root["id"]).collect();
    assert_eq!(replies.len(), 2, "{thread}");
    assert_eq!(replies[0]["text"], "你好，世界！这是一条中文回复。");
    assert!(
        replies[0]["created_at"]
            .as_str()
            .expect("t")
            .starts_with("2023-11-14T22:15:00")
    );
    assert_eq!(replies[1]["text"], "second reply, edited");
    assert!(
        replies[1]["edited_at"]
            .as_str()
            .expect("edited")
            .starts_with("2023-11-14T22:18:20")
    );

    // Authors: the bot is a bot account, carol stays deactivated, bob is robert.
    let bot = get(
        server,
        alice,
        &format!("/api/v1/users/{}", top[1]["user_id"].as_str().expect("u")),
    )
    .await;
    assert_eq!(bot["is_bot"], true, "{bot}");
    let carol = get(
        server,
        alice,
        &format!("/api/v1/users/{}", top[2]["user_id"].as_str().expect("u")),
    )
    .await;
    assert_eq!(carol["active"], false, "{carol}");
    assert_eq!(carol["username"], "carol");
    let robert = get(
        server,
        alice,
        &format!(
            "/api/v1/users/{}",
            root["mentions"]["user_ids"][0].as_str().expect("mention")
        ),
    )
    .await;
    assert_eq!(robert["username"], "robert");

    let dmh = history(server, alice, dm["id"].as_str().expect("id")).await;
    assert_eq!(dmh.len(), 1);
    assert_eq!(dmh[0]["text"], "dm hi");
    let gh = history(server, alice, group["id"].as_str().expect("id")).await;
    assert_eq!(gh[0]["text"], "group hi :wave:");
    let long = find(&chs, |c| c["name"] == "long");
    let all = all_history(server, alice, long["id"].as_str().expect("id")).await;
    assert_eq!(all.len(), LONG);
    for (i, m) in all.iter().enumerate() {
        assert_eq!(m["text"], format!("long message {i}"));
    }
    // Imported history is searchable.
    let hits = get(server, alice, "/api/v1/search?q=quarterly").await;
    let id = top[2]["id"].as_str().expect("id");
    assert!(hits.to_string().contains(id), "{hits}");
}

async fn scenario(server: &TestServer) {
    let dir = tempfile::tempdir().expect("dir");
    let export = slack_export(dir.path());
    let alice = existing_accounts(server).await;
    let map = dir.path().join("map.csv");
    std::fs::write(
        &map,
        "# slack e-mail,enclave username\nbob@example.com,robert\n",
    )
    .expect("map");
    let export_s = export.to_str().expect("path");
    let map_s = map.to_str().expect("path");

    // A dry run writes nothing.
    let dry = run_ok(
        server,
        &[
            "import",
            "slack",
            export_s,
            "--dry-run",
            "--map-users",
            map_s,
        ],
    );
    assert!(dry.contains("dry run"), "{dry}");
    for expected in [
        "same e-mail as @alice: merged",
        "mapped to @robert",
        "users: 3 created, 2 merged",
    ] {
        assert!(
            dry.contains(expected),
            "dry run report lacks {expected:?}:\n{dry}"
        );
    }
    assert!(
        my_channels(server, &alice)
            .await
            .iter()
            .all(|c| c["name"] != "general")
    );

    // Import, killed with SIGKILL once it writes messages, then run again to the end.
    let mut child = server
        .cli_command()
        .args([
            "import",
            "slack",
            export_s,
            "--map-users",
            map_s,
            "--batch",
            "50",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn import");
    let stderr = child.stderr.take().expect("stderr");
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap_or_default();
        if line.starts_with("messages:") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();

    let report = run_ok(
        server,
        &[
            "import",
            "slack",
            export_s,
            "--map-users",
            map_s,
            "--batch",
            "50",
        ],
    );
    for expected in [
        "unknown subtype \\\"weird_new_thing\\\"",
        "author not in the users list",
        "join/leave notice",
        "malformed JSON",
        "not valid UTF-8",
        "report.pdf",
    ] {
        let expected = expected.replace("\\\"", "\"");
        assert!(
            report.contains(&expected),
            "report lacks {expected:?}:\n{report}"
        );
    }
    check_imported(server, &alice).await;

    // A second run adds nothing.
    let again = run_ok(server, &["import", "slack", export_s, "--map-users", map_s]);
    assert!(again.contains("users: 0 created, 0 merged"), "{again}");
    assert!(again.contains("messages: 0 imported"), "{again}");
    check_imported(server, &alice).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_export_imports_fully_once_on_sqlite() {
    let server = TestServer::start();
    scenario(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_export_imports_fully_once_on_postgres() {
    let Some((_db, url)) = enclave_store::testing::fresh_database_url().await else {
        assert!(std::env::var("CI").is_err(), "PostgreSQL is needed in CI");
        return;
    };
    let server = TestServer::start_with_env(&[("ENCLAVE_DATABASE__URL", url.as_str())]);
    scenario(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_archives_are_refused_and_change_nothing() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().expect("dir");
    let users = j(json!([{"id": "U1", "name": "eve"}]));
    let climb = dir.path().join("climb.zip");
    write_zip(
        &climb,
        &[
            ("users.json".into(), users.clone()),
            ("../../etc/evil.json".into(), b"[]".to_vec()),
        ],
    );
    let bomb = dir.path().join("bomb.zip");
    write_zip(
        &bomb,
        &[
            ("users.json".into(), users.clone()),
            (
                "general/2020-01-01.json".into(),
                vec![b' '; 64 * 1024 * 1024],
            ),
        ],
    );
    let not_slack = dir.path().join("other.zip");
    write_zip(&not_slack, &[("hello.txt".into(), b"hi".to_vec())]);
    for (file, why) in [
        (&climb, "unsafe file name"),
        (&bomb, "zip bomb"),
        (&not_slack, "not a Slack export"),
    ] {
        let out = server.cli(&["import", "slack", file.to_str().expect("path")]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{file:?} was accepted");
        assert!(stderr.contains(why), "{file:?}: {stderr}");
    }
    let admin = server.admin_token().await;
    let users = get(&server, &admin, "/api/v1/users?include_inactive=true").await;
    assert!(!users.to_string().contains("\"eve\""), "{users}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mattermost_bulk_export_imports_once() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().expect("dir");
    let export = dir.path().join("export.jsonl");
    let lines = [
        json!({"type": "version", "version": 1}),
        json!({"type": "team", "team": {"name": "acme", "display_name": "Acme", "type": "O"}}),
        json!({"type": "channel", "channel": {"team": "acme", "name": "town-square", "display_name": "Town Square", "type": "O", "header": "Welcome"}}),
        json!({"type": "user", "user": {"username": "mia", "email": "mia@example.com", "first_name": "Mia",
               "teams": [{"name": "acme", "channels": [{"name": "town-square"}]}]}}),
        json!({"type": "user", "user": {"username": "leo", "email": "leo@example.com", "nickname": "李雷",
               "teams": [{"name": "acme", "channels": [{"name": "town-square"}]}]}}),
        json!({"type": "post", "post": {"team": "acme", "channel": "town-square", "user": "mia", "message": "hello @leo",
               "create_at": 1700000000000_i64, "reactions": [{"user": "leo", "emoji_name": "heart", "create_at": 1700000001000_i64}],
               "replies": [{"user": "leo", "message": "你好 mia", "create_at": 1700000005000_i64}]}}),
        json!({"type": "direct_channel", "direct_channel": {"members": ["mia", "leo"]}}),
        json!({"type": "direct_post", "direct_post": {"channel_members": ["mia", "leo"], "user": "leo", "message": "private word", "create_at": 1700000010000_i64}}),
    ];
    let mut text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    text.push_str("{not json\n");
    std::fs::write(&export, text).expect("write");
    // mia already has an account with her address: she signs in and sees her history.
    let admin = server.admin_token().await;
    let (status, body) = server
        .post(Some(&admin), "/api/v1/users",
              Some(json!({"username": "mia", "password": common::USER_PASSWORD, "email": "mia@example.com"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mia = server.login_token("mia", common::USER_PASSWORD).await;
    let path = export.to_str().expect("path");
    let report = run_ok(&server, &["import", "mattermost", path]);
    assert!(report.contains("line 9: malformed JSON"), "{report}");
    let chs = my_channels(&server, &mia).await;
    let town = find(&chs, |c| c["name"] == "town-square");
    assert_eq!(town["topic"], "Welcome");
    let h = history(&server, &mia, town["id"].as_str().expect("id")).await;
    assert_eq!(h.len(), 1);
    assert_eq!(h[0]["text"], "hello @leo");
    assert_eq!(h[0]["reply_count"], 1);
    assert_eq!(h[0]["reactions"][0]["emoji"], "❤️");
    assert!(
        h[0]["created_at"]
            .as_str()
            .expect("t")
            .starts_with("2023-11-14T22:13:20")
    );
    let dm = find(&chs, |c| c["kind"] == "dm");
    let dh = history(&server, &mia, dm["id"].as_str().expect("id")).await;
    assert_eq!(dh[0]["text"], "private word");
    let again = run_ok(&server, &["import", "mattermost", path]);
    assert!(
        again.contains("messages: 0 imported, 3 imported before"),
        "{again}"
    );
}
