//! Retention and legal hold through the real binary, on SQLite and on a private PostgreSQL
//! (`docs/admin/retention.md`): the purge removes what the policy no longer keeps (history,
//! search and the file store no longer have it), keeps what a legal hold covers (by person or by
//! channel, within its range) and what a channel's own policy keeps, treats direct conversations
//! apart, reports per channel, records an audit entry, and makes a client resuming from before
//! the purge resync. Messages are made old by moving their creation time back in the database
//! (the one thing a test cannot wait for).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{TestServer, assert_error, s, unique_name};
use reqwest::StatusCode;
use serde_json::{Value, json};

const DAY_MS: i64 = 86_400_000;

enum Db {
    Sqlite(PathBuf),
    Pg(String),
}

impl Db {
    /// Runs statements directly in the server's database.
    async fn exec(&self, statements: &[String]) {
        match self {
            Db::Sqlite(data) => {
                let conn = rusqlite::Connection::open(data.join("enclave.db")).unwrap();
                conn.busy_timeout(Duration::from_secs(10)).unwrap();
                for sql in statements {
                    conn.execute_batch(sql).unwrap();
                }
            }
            Db::Pg(url) => {
                use sqlx_core::connection::Connection as _;
                use sqlx_core::executor::Executor as _;
                use sqlx_core::sql_str::AssertSqlSafe;
                let mut conn = sqlx_postgres::PgConnection::connect(url).await.unwrap();
                for sql in statements {
                    conn.execute(AssertSqlSafe(sql.clone())).await.unwrap();
                }
            }
        }
    }

    /// One integer from the database.
    async fn count(&self, sql: &str) -> i64 {
        match self {
            Db::Sqlite(data) => {
                let conn = rusqlite::Connection::open(data.join("enclave.db")).unwrap();
                conn.busy_timeout(Duration::from_secs(10)).unwrap();
                conn.query_row(sql, [], |r| r.get(0)).unwrap()
            }
            Db::Pg(url) => {
                use sqlx_core::connection::Connection as _;
                use sqlx_core::row::Row as _;
                use sqlx_core::sql_str::AssertSqlSafe;
                let mut conn = sqlx_postgres::PgConnection::connect(url).await.unwrap();
                let row = sqlx_core::query::query(AssertSqlSafe(sql.to_owned()))
                    .fetch_one(&mut conn)
                    .await
                    .unwrap();
                row.try_get::<i64, _>(0).unwrap()
            }
        }
    }

    /// Moves the creation time of messages `days` back.
    async fn age(&self, ids: &[&str], days: i64) {
        let list = ids.join(",");
        self.exec(&[format!(
            "UPDATE messages SET created_at = created_at - {} WHERE id IN ({list})",
            days * DAY_MS
        )])
        .await;
    }
}

/// The files of the local file store (objects and thumbnails).
fn objects(data: &Path) -> usize {
    fn walk(p: &Path, n: &mut usize) {
        if let Ok(rd) = std::fs::read_dir(p) {
            for e in rd.flatten() {
                let path = e.path();
                if path.is_dir() {
                    walk(&path, n);
                } else {
                    *n += 1;
                }
            }
        }
    }
    let mut n = 0;
    walk(&data.join("files"), &mut n);
    n
}

fn png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(400, 300, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 7])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

async fn upload(server: &TestServer, token: &str, name: &str, bytes: Vec<u8>) -> String {
    let resp = server
        .client()
        .post(server.url(&format!("/api/v1/files?name={name}")))
        .bearer_auth(token)
        .body(bytes)
        .send()
        .await
        .unwrap();
    let (st, body) = common::read_json(resp).await;
    assert_eq!(st, StatusCode::CREATED, "upload: {body}");
    s(&body, "id")
}

async fn post(server: &TestServer, token: &str, channel: &str, body: Value) -> String {
    let (st, m) = server
        .post(
            Some(token),
            &format!("/api/v1/channels/{channel}/messages"),
            Some(body),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "post: {m}");
    s(&m, "id")
}

/// The ids of a channel's messages (replies included), as `token` reads them.
async fn history(server: &TestServer, token: &str, channel: &str) -> Vec<String> {
    let (st, body) = server
        .get(
            Some(token),
            &format!("/api/v1/channels/{channel}/messages?limit=200&include_replies=true"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "history: {body}");
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| s(m, "id"))
        .collect()
}

async fn search(server: &TestServer, token: &str, q: &str) -> Vec<String> {
    let (st, body) = server
        .get(Some(token), &format!("/api/v1/search?q={q}"), None)
        .await;
    assert_eq!(st, StatusCode::OK, "search: {body}");
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| s(&r["message"], "id"))
        .collect()
}

/// The end of the event log as `token` sees it (paging from the start).
async fn log_end(server: &TestServer, token: &str, mut since: i64) -> i64 {
    loop {
        let (st, body) = server
            .get(
                Some(token),
                &format!("/api/v1/events?since={since}&limit=1000"),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::OK, "events: {body}");
        since = body["position"].as_i64().unwrap();
        if body["has_more"] != json!(true) {
            return since;
        }
    }
}

/// Starts a purge and waits for its run to be recorded; returns the run.
async fn purge(server: &TestServer, admin: &str) -> Value {
    let (_, before) = server
        .get(Some(admin), "/api/v1/admin/retention", None)
        .await;
    let previous = before["last_run"]["finished_at"].clone();
    let (st, body) = server
        .post(Some(admin), "/api/v1/admin/retention/run", None)
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{body}");
    for _ in 0..600 {
        let (st, view) = server
            .get(Some(admin), "/api/v1/admin/retention", None)
            .await;
        assert_eq!(st, StatusCode::OK, "{view}");
        if body["started"] == json!(false) {
            // The scheduled run at start-up was still running: wait for it, then again.
            if view["running"] == json!(false) {
                return Box::pin(purge(server, admin)).await;
            }
        } else if view["running"] == json!(false)
            && !view["last_run"].is_null()
            && view["last_run"]["finished_at"] != previous
        {
            return view["last_run"].clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the purge did not finish\n{}", server.log());
}

fn channel_report<'a>(run: &'a Value, channel: &str) -> Option<&'a Value> {
    run["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel_id"] == json!(channel))
}

async fn scenario(server: &TestServer, db: &Db) {
    let admin = server.admin_token().await;
    let (alice_id, alice) = server.create_user(&unique_name("alice")).await;
    let (bob_id, bob) = server.create_user(&unique_name("bob")).await;
    let general = server
        .create_channel(&alice, &unique_name("general"), "public")
        .await;
    server.add_member(&alice, &general, &bob_id).await;
    let forever = server
        .create_channel(&alice, &unique_name("forever"), "public")
        .await;
    let short = server
        .create_channel(&alice, &unique_name("short"), "private")
        .await;
    let legal = server
        .create_channel(&alice, &unique_name("legal"), "public")
        .await;
    server.add_member(&alice, &legal, &bob_id).await;
    let (st, dm) = server
        .post(
            Some(&alice),
            "/api/v1/dms",
            Some(json!({"user_ids": [bob_id]})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{dm}");
    let dm = s(&dm, "id");
    let start = log_end(server, &bob, 0).await;

    // In #general: an old message with an image (its object and thumbnail), an old thread, an
    // old root with a new reply, alice's old message (held by person), and a new message.
    let objects_before_upload = objects(server.data_dir());
    let img = upload(server, &bob, "old.png", png()).await;
    let with_image = objects(server.data_dir()) - objects_before_upload;
    assert_eq!(with_image, 2, "an image is stored with its thumbnail");
    let old_img = post(
        server,
        &bob,
        &general,
        json!({"text": "zebracanary with a picture", "file_ids": [img]}),
    )
    .await;
    let old_root = post(
        server,
        &bob,
        &general,
        json!({"text": "zebracanary thread"}),
    )
    .await;
    let old_reply = post(
        server,
        &bob,
        &general,
        json!({"text": "zebracanary reply", "thread_root_id": old_root}),
    )
    .await;
    let kept_root = post(server, &bob, &general, json!({"text": "zebracanary root"})).await;
    let new_reply = post(
        server,
        &alice,
        &general,
        json!({"text": "fresh reply", "thread_root_id": kept_root}),
    )
    .await;
    let alice_old = post(
        server,
        &alice,
        &general,
        json!({"text": "zebracanary alice"}),
    )
    .await;
    // Reactions on a purged message go with it.
    let (st, body) = server
        .put(
            Some(&alice),
            &format!("/api/v1/messages/{old_root}/reactions/%F0%9F%91%8D"),
            None,
        )
        .await;
    assert!(st.is_success(), "react: {body}");
    let fresh = post(server, &bob, &general, json!({"text": "zebracanary fresh"})).await;
    // #forever keeps everything; #short keeps 5 days; #legal is held as a whole, and bob
    // deletes his held message there.
    let forever_old = post(server, &alice, &forever, json!({"text": "kept forever"})).await;
    let short_old = post(server, &alice, &short, json!({"text": "ten days"})).await;
    let legal_old = post(server, &bob, &legal, json!({"text": "evidence"})).await;
    let legal_deleted = post(server, &bob, &legal, json!({"text": "deleted evidence"})).await;
    // Direct conversations: 70 days is past dm_days (60), 40 days is not.
    let dm_70 = post(server, &alice, &dm, json!({"text": "seventy days"})).await;
    let dm_40 = post(server, &bob, &dm, json!({"text": "forty days"})).await;

    db.age(
        &[
            &old_img,
            &old_root,
            &old_reply,
            &kept_root,
            &alice_old,
            &forever_old,
            &legal_old,
            &legal_deleted,
            &dm_40,
        ],
        40,
    )
    .await;
    db.age(&[&short_old], 10).await;
    db.age(&[&dm_70], 70).await;

    // The policy: 30 days for channels, 60 for direct conversations; #forever keeps all,
    // #short 5 days.
    let (st, view) = server
        .put(
            Some(&admin),
            "/api/v1/admin/retention",
            Some(json!({"message_days": 30, "dm_days": 60})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{view}");
    assert_eq!(view["message_days"], 30);
    assert_eq!(view["policy_source"], "api");
    let (st, view) = server
        .put(
            Some(&admin),
            &format!("/api/v1/admin/retention/channels/{forever}"),
            Some(json!({"days": null})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{view}");
    let (st, view) = server
        .put(
            Some(&admin),
            &format!("/api/v1/admin/retention/channels/{short}"),
            Some(json!({"days": 5})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{view}");
    let overrides = view["channels"].as_array().unwrap();
    assert!(
        overrides
            .iter()
            .any(|c| c["channel_id"] == json!(forever) && c["days"].is_null()),
        "{view}"
    );
    assert!(
        overrides
            .iter()
            .any(|c| c["channel_id"] == json!(short) && c["days"] == 5),
        "{view}"
    );
    // A direct conversation takes no policy of its own.
    let (st, body) = server
        .put(
            Some(&admin),
            &format!("/api/v1/admin/retention/channels/{dm}"),
            Some(json!({"days": 5})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");

    // Holds: alice's messages from 50 to 30 days ago, and #legal from 100 days ago on.
    let now = time::OffsetDateTime::now_utc();
    let rfc = |days: i64| {
        (now - time::Duration::days(days))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let (st, hold) = server
        .post(
            Some(&admin),
            "/api/v1/admin/holds",
            Some(json!({
                "user_id": alice_id, "starts_at": rfc(50), "ends_at": rfc(30), "reason": "案件 7"
            })),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{hold}");
    assert_eq!(hold["reason"], "案件 7");
    let (st, legal_hold) = server
        .post(
            Some(&admin),
            "/api/v1/admin/holds",
            Some(json!({"channel_id": legal, "starts_at": rfc(100), "reason": "litigation"})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{legal_hold}");
    // A hold ending before it starts, naming both or neither target, or an unknown user.
    for bad in [
        json!({"user_id": alice_id, "starts_at": rfc(10), "ends_at": rfc(20), "reason": "x"}),
        json!({"user_id": alice_id, "channel_id": legal, "starts_at": rfc(10), "reason": "x"}),
        json!({"starts_at": rfc(10), "reason": "x"}),
        json!({"user_id": alice_id, "starts_at": rfc(10), "reason": "  "}),
        json!({"user_id": alice_id, "starts_at": "yesterday", "reason": "x"}),
    ] {
        let (st, body) = server
            .post(Some(&admin), "/api/v1/admin/holds", Some(bad.clone()))
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    let (st, body) = server
        .post(
            Some(&admin),
            "/api/v1/admin/holds",
            Some(json!({"user_id": "987654321", "starts_at": rfc(10), "reason": "x"})),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{body}");
    assert_error("unknown user", &body, "user_not_found");
    let (st, list) = server.get(Some(&admin), "/api/v1/admin/holds", None).await;
    assert_eq!(st, StatusCode::OK, "{list}");
    assert!(list["holds"].as_array().unwrap().len() >= 2, "{list}");

    // The held message in #legal deleted by its author: hidden, its text kept for the hold.
    let (st, body) = server
        .delete(
            Some(&bob),
            &format!("/api/v1/messages/{legal_deleted}"),
            None,
        )
        .await;
    assert!(st.is_success(), "delete: {body}");
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM held_messages WHERE message_id = {legal_deleted} AND text = 'deleted evidence'"
        ))
        .await,
        1
    );
    assert!(
        search(server, &bob, "%22deleted%20evidence%22")
            .await
            .is_empty()
    );

    let mid = log_end(server, &bob, start).await;
    let objects_before = objects(server.data_dir());
    let run = purge(server, &admin).await;

    // #general: the old picture message, the old thread (root and reply) gone; alice's held
    // message, the root with a new reply, the new reply and the fresh message kept.
    let left = history(server, &bob, &general).await;
    for gone in [&old_img, &old_root, &old_reply] {
        assert!(!left.contains(gone), "{gone} purged: {left:?}");
    }
    for kept in [&alice_old, &kept_root, &new_reply, &fresh] {
        assert!(left.contains(kept), "{kept} kept: {left:?}");
    }
    let found = search(server, &bob, "zebracanary").await;
    for gone in [&old_img, &old_root, &old_reply] {
        assert!(!found.contains(gone), "{gone} not found: {found:?}");
    }
    for kept in [&alice_old, &kept_root, &fresh] {
        assert!(found.contains(kept), "{kept} found: {found:?}");
    }
    // The image's object and thumbnail are gone from the store, and the file from the API.
    assert_eq!(objects(server.data_dir()), objects_before - 2);
    let (st, _) = server
        .get(Some(&bob), &format!("/api/v1/files/{img}/info"), None)
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM reactions WHERE message_id = {old_root}"
        ))
        .await,
        0
    );
    // Per-channel overrides and direct conversations.
    assert!(
        history(server, &alice, &forever)
            .await
            .contains(&forever_old)
    );
    assert!(!history(server, &alice, &short).await.contains(&short_old));
    let dm_left = history(server, &alice, &dm).await;
    assert!(!dm_left.contains(&dm_70), "{dm_left:?}");
    assert!(dm_left.contains(&dm_40), "{dm_left:?}");
    // #legal is held: its message and the deleted one's kept text survive.
    assert!(history(server, &alice, &legal).await.contains(&legal_old));
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM held_messages WHERE message_id = {legal_deleted}"
        ))
        .await,
        1
    );

    // The report, per channel.
    let g = channel_report(&run, &general).expect("general reported");
    assert_eq!(g["messages"], 3, "{run}");
    assert_eq!(g["files"], 1, "{run}");
    assert_eq!(g["held"], 1, "{run}");
    assert_eq!(
        channel_report(&run, &short).unwrap()["messages"],
        1,
        "{run}"
    );
    assert_eq!(channel_report(&run, &dm).unwrap()["messages"], 1, "{run}");
    assert_eq!(channel_report(&run, &legal).unwrap()["held"], 2, "{run}");
    assert_eq!(
        channel_report(&run, &legal).unwrap()["messages"],
        0,
        "{run}"
    );
    assert!(channel_report(&run, &forever).is_none(), "{run}");

    // The audit log has the purge of #general.
    let (st, audit) = server
        .get(
            Some(&admin),
            "/api/v1/admin/audit?action=retention_purge&limit=100",
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{audit}");
    let entry = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["target_id"] == json!(general))
        .unwrap_or_else(|| panic!("no purge entry for #general: {audit}"));
    assert_eq!(entry["target_kind"], "channel");
    assert_eq!(entry["summary"]["messages"], "3", "{entry}");
    assert_eq!(entry["summary"]["files"], "1", "{entry}");

    // A client resuming from before the purge is told to resync; one at the end is not.
    let (st, body) = server
        .get(Some(&bob), &format!("/api/v1/events?since={start}"), None)
        .await;
    assert_eq!(st, StatusCode::GONE, "{body}");
    assert_error("resume over a purged range", &body, "resync_required");
    let (st, body) = server
        .get(Some(&bob), &format!("/api/v1/events?since={mid}"), None)
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");

    // Released, the #legal hold keeps nothing: the next purge removes both messages and the
    // kept text.
    let (st, released) = server
        .delete(
            Some(&admin),
            &format!("/api/v1/admin/holds/{}", s(&legal_hold, "id")),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{released}");
    assert!(!released["released_at"].is_null());
    let (st, body) = server
        .delete(
            Some(&admin),
            &format!("/api/v1/admin/holds/{}", s(&legal_hold, "id")),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{body}");
    let (st, body) = server
        .delete(Some(&admin), "/api/v1/admin/holds/987654321", None)
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{body}");
    assert_error("unknown hold", &body, "hold_not_found");
    let run = purge(server, &admin).await;
    assert_eq!(
        channel_report(&run, &legal).unwrap()["messages"],
        2,
        "{run}"
    );
    assert!(!history(server, &alice, &legal).await.contains(&legal_old));
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM held_messages WHERE message_id = {legal_deleted}"
        ))
        .await,
        0
    );
    // Alice's message in #general stays held by the person hold.
    assert!(history(server, &bob, &general).await.contains(&alice_old));

    // Someone without manage_retention gets 403 everywhere.
    for (method, path) in [
        ("GET", "/api/v1/admin/retention"),
        ("POST", "/api/v1/admin/retention/run"),
        ("GET", "/api/v1/admin/holds"),
    ] {
        let (st, body) = if method == "GET" {
            server.get(Some(&bob), path, None).await
        } else {
            server.post(Some(&bob), path, None).await
        };
        assert_eq!(st, StatusCode::FORBIDDEN, "{method} {path}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_on_sqlite() {
    let server = TestServer::start();
    let db = Db::Sqlite(server.data_dir().to_owned());
    scenario(&server, &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_on_postgres() {
    let Some((_db, url)) = enclave_store::testing::fresh_database_url().await else {
        return;
    };
    let server = TestServer::start_with_env(&[("ENCLAVE_DATABASE__URL", url.as_str())]);
    let db = Db::Pg(url.clone());
    scenario(&server, &db).await;
}
