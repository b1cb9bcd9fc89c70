//! The department tree, the directory and department channels, through the REST API of a real
//! `enclave serve` (SQLite, and PostgreSQL for department channels), and the CSV import of the
//! command line.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::{TestServer, Value, json, s, unique_name};
use reqwest::StatusCode;

async fn dept(server: &TestServer, token: &str, name: &str, parent: Option<&str>) -> String {
    let (status, body) = server
        .post(
            Some(token),
            "/api/v1/departments",
            Some(json!({ "name": name, "parent_id": parent })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "creating {name}: {body}");
    s(&body, "id")
}

async fn place(server: &TestServer, token: &str, dept: &str, user: &str, title: &str) {
    let (status, body) = server
        .put(
            Some(token),
            &format!("/api/v1/departments/{dept}/members/{user}"),
            Some(json!({ "title": title })),
        )
        .await;
    assert!(status.is_success(), "placing {user} in {dept}: {body}");
}

async fn move_to(
    server: &TestServer,
    token: &str,
    dept: &str,
    parent: &str,
) -> (StatusCode, Value) {
    server
        .patch(
            Some(token),
            &format!("/api/v1/departments/{dept}"),
            Some(json!({ "parent_id": parent })),
        )
        .await
}

async fn members(server: &TestServer, token: &str, channel: &str) -> BTreeSet<String> {
    let (status, body) = server
        .get(
            Some(token),
            &format!("/api/v1/channels/{channel}/members?limit=200"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user"]["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn tree(server: &TestServer, token: &str) -> Value {
    let (status, body) = server.get(Some(token), "/api/v1/departments", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn set(ids: &[&String]) -> BTreeSet<String> {
    ids.iter().map(|s| (*s).clone()).collect()
}

/// Department channels follow the tree: joins, a move of a department (its people move with
/// it), a leaver, with and without sub-departments; the people hear of it as channel events.
/// Bad moves and names are refused and change nothing.
async fn department_channels_follow_the_tree(server: &TestServer) {
    let admin = server.admin_token().await;
    let (admin_id, _) = {
        let (_, me) = server.get(Some(&admin), "/api/v1/users/me", None).await;
        (s(&me, "id"), ())
    };
    let hq = dept(server, &admin, &unique_name("总部"), None).await;
    let tech = dept(server, &admin, "技术部", Some(&hq)).await;
    let market = dept(server, &admin, "市场部", Some(&hq)).await;
    let backend = dept(server, &admin, "后端组", Some(&tech)).await;
    let (a, a_token) = server.create_user(&unique_name("backend-dev")).await;
    let (b, _) = server.create_user(&unique_name("marketer")).await;
    let (c, _) = server.create_user(&unique_name("cto")).await;
    place(server, &admin, &backend, &a, "工程师").await;
    place(server, &admin, &market, &b, "经理").await;
    place(server, &admin, &tech, &c, "CTO").await;

    let tech_channel = server
        .create_channel(&admin, &unique_name("tech all"), "private")
        .await;
    let (status, body) = server
        .put(
            Some(&admin),
            &format!("/api/v1/departments/{tech}/channels/{tech_channel}"),
            Some(json!({ "include_subdepartments": true })),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    // The owner stays; the department's people (sub-departments included) join.
    assert_eq!(
        members(server, &admin, &tech_channel).await,
        set(&[&admin_id, &a, &c])
    );
    let market_channel = server
        .create_channel(&admin, &unique_name("market only"), "public")
        .await;
    let (status, body) = server
        .put(
            Some(&admin),
            &format!("/api/v1/departments/{market}/channels/{market_channel}"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(
        members(server, &admin, &market_channel).await,
        set(&[&admin_id, &b])
    );
    // The member sees the private department channel among their channels.
    let (_, mine) = server.get(Some(&a_token), "/api/v1/channels", None).await;
    assert!(
        mine["channels"]
            .as_array()
            .unwrap()
            .iter()
            .any(|ch| ch["id"] == tech_channel.as_str()),
        "{mine}"
    );

    // Moving 后端组 under 市场部 moves its people out of the tech channel; the market channel
    // (without sub-departments) does not take them.
    let (status, body) = move_to(server, &admin, &backend, &market).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        members(server, &admin, &tech_channel).await,
        set(&[&admin_id, &c])
    );
    assert_eq!(
        members(server, &admin, &market_channel).await,
        set(&[&admin_id, &b])
    );
    let (_, mine) = server.get(Some(&a_token), "/api/v1/channels", None).await;
    assert!(
        !mine["channels"]
            .as_array()
            .unwrap()
            .iter()
            .any(|ch| ch["id"] == tech_channel.as_str()),
        "{mine}"
    );
    // The removal reached the member as an event. On PostgreSQL an event gets its position
    // after the write commits (the sequencer numbers it a moment later, see
    // `enclave_store::postgres`), so a client catching up over HTTP right after the answer may
    // not see it yet: like a client, keep reading from the position reached until it comes
    // (within a deadline).
    let mut since = 0;
    let mut seen = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (status, page) = server
            .get(
                Some(&a_token),
                &format!("/api/v1/events?since={since}&limit=1000"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.push_str(&page["events"].to_string());
        since = page["position"].as_i64().unwrap();
        if page["has_more"] == true {
            continue;
        }
        if seen.contains("member.removed") || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        seen.contains("member.removed"),
        "no member.removed within 10 s: {seen}"
    );
    // Moving it back brings them back.
    let (status, body) = move_to(server, &admin, &backend, &tech).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        members(server, &admin, &tech_channel).await,
        set(&[&admin_id, &a, &c])
    );

    // A leaver leaves the channel.
    let (status, body) = server
        .delete(
            Some(&admin),
            &format!("/api/v1/departments/{tech}/members/{c}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(
        members(server, &admin, &tech_channel).await,
        set(&[&admin_id, &a])
    );
    // A joiner joins it.
    place(server, &admin, &backend, &b, "实习生").await;
    assert_eq!(
        members(server, &admin, &tech_channel).await,
        set(&[&admin_id, &a, &b])
    );

    // Bad input is refused and changes nothing.
    let before = tree(server, &admin).await;
    let before_members = members(server, &admin, &tech_channel).await;
    for (what, parent, code) in [
        ("under itself", tech.as_str(), "invalid_field"),
        (
            "under its own sub-department (a cycle)",
            backend.as_str(),
            "invalid_field",
        ),
        ("under an unknown parent", "999999999", "invalid_field"),
    ] {
        let (status, body) = move_to(server, &admin, &tech, parent).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "moving {what}: {body}");
        assert_eq!(body["error"]["code"], code, "{what}: {body}");
    }
    for (what, body, status, code) in [
        (
            "a 65-character name",
            json!({ "name": "长".repeat(65), "parent_id": hq }),
            400,
            "invalid_field",
        ),
        (
            "a name with a slash",
            json!({ "name": "a/b", "parent_id": hq }),
            400,
            "invalid_field",
        ),
        (
            "an empty name",
            json!({ "name": "  ", "parent_id": hq }),
            400,
            "invalid_field",
        ),
        (
            "a sibling's name",
            json!({ "name": "技术部", "parent_id": hq }),
            409,
            "conflict",
        ),
        (
            "an unknown parent",
            json!({ "name": "x", "parent_id": "999999999" }),
            400,
            "invalid_field",
        ),
    ] {
        let (got, resp) = server
            .post(Some(&admin), "/api/v1/departments", Some(body))
            .await;
        assert_eq!(got.as_u16(), status, "creating with {what}: {resp}");
        assert_eq!(resp["error"]["code"], code, "{what}: {resp}");
    }
    let (status, body) = server
        .patch(
            Some(&admin),
            &format!("/api/v1/departments/{backend}"),
            Some(json!({ "name": "x".repeat(65) })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = server
        .delete(Some(&admin), &format!("/api/v1/departments/{tech}"), None)
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "deleting a department with children: {body}"
    );
    assert_eq!(
        tree(server, &admin).await,
        before,
        "refused changes changed the tree"
    );
    assert_eq!(members(server, &admin, &tech_channel).await, before_members);
}

#[tokio::test]
async fn department_channels_follow_moves_and_leavers_on_sqlite() {
    let server = TestServer::shared();
    department_channels_follow_the_tree(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn department_channels_follow_moves_and_leavers_on_postgres() {
    let Some((_db, url)) = enclave_store::testing::fresh_database_url().await else {
        return;
    };
    let server = TestServer::start_node(&[("ENCLAVE_DATABASE__URL", url.as_str())], true);
    department_channels_follow_the_tree(&server).await;
    pinyin_search(&server).await;
}

async fn pinyin_search(server: &TestServer) {
    let admin = server.admin_token().await;
    let (zhang, _) = server.create_user(&unique_name("zw")).await;
    let (li, _) = server.create_user(&unique_name("lw")).await;
    let (_, member_token) = server.create_user(&unique_name("seeker")).await;
    let tag = unique_name("");
    for (id, name) in [(&zhang, format!("张伟{tag}")), (&li, format!("李伟{tag}"))] {
        let (status, body) = server
            .patch(
                Some(&admin),
                &format!("/api/v1/users/{id}"),
                Some(json!({ "display_name": name })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let find = async |q: &str| -> Vec<String> {
        let (status, body) = server
            .get(
                Some(&member_token),
                &format!("/api/v1/directory/search?q={}", common::encode_segment(q)),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{q}: {body}");
        body["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_str().unwrap().to_owned())
            .collect()
    };
    for q in ["zw", "zhangwei", "ZhangWei", "zhang wei", "张伟"] {
        let got = find(q).await;
        assert!(got.contains(&zhang), "{q} does not find 张伟: {got:?}");
        assert!(!got.contains(&li), "{q} finds 李伟: {got:?}");
    }
    let got = find("wei").await;
    assert!(got.contains(&zhang) && got.contains(&li), "{got:?}");
    // A new display name is found by its own pinyin, the old one no longer.
    let (status, body) = server
        .patch(
            Some(&admin),
            &format!("/api/v1/users/{zhang}"),
            Some(json!({ "display_name": format!("王芳{tag}") })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!find("zhangwei").await.contains(&zhang));
    assert!(find("wangfang").await.contains(&zhang));
    assert!(find("wf").await.contains(&zhang));
    // Bad queries are refused.
    let (status, body) = server
        .get(
            Some(&member_token),
            &format!("/api/v1/directory/search?q={}", "a".repeat(65)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn pinyin_search_finds_zhang_wei_by_initials_and_full_pinyin() {
    let server = TestServer::shared();
    pinyin_search(&server).await;
}

#[tokio::test]
async fn department_admins_manage_inside_their_subtree_and_not_outside() {
    let server = TestServer::shared();
    let admin = server.admin_token().await;
    let hq = dept(&server, &admin, &unique_name("HQ"), None).await;
    let tech = dept(&server, &admin, "Tech", Some(&hq)).await;
    let sales = dept(&server, &admin, "Sales", Some(&hq)).await;
    let backend = dept(&server, &admin, "Backend", Some(&tech)).await;
    let (lead, lead_token) = server.create_user(&unique_name("lead")).await;
    let (worker, _) = server.create_user(&unique_name("worker")).await;
    let (status, body) = server
        .patch(
            Some(&admin),
            &format!("/api/v1/departments/{tech}"),
            Some(json!({ "admins": [lead] })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Inside: create, rename, place people, set heads, move within the subtree.
    let frontend = dept(&server, &lead_token, "Frontend", Some(&tech)).await;
    let (status, body) = server
        .patch(
            Some(&lead_token),
            &format!("/api/v1/departments/{backend}"),
            Some(json!({ "name": "Backend & Infra", "position": 2 })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    place(&server, &lead_token, &backend, &worker, "Engineer").await;
    let (status, body) = server
        .put(
            Some(&lead_token),
            &format!("/api/v1/departments/{tech}/members/{lead}"),
            Some(json!({ "title": "Head of Tech", "is_head": true })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = move_to(&server, &lead_token, &frontend, &backend).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The card shows the departments, the title and the head as manager.
    let (status, card) = server
        .get(
            Some(&lead_token),
            &format!("/api/v1/users/{worker}/card"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{card}");
    assert_eq!(card["departments"][0]["title"], "Engineer");
    assert_eq!(card["departments"][0]["path"][2], "Backend & Infra");
    assert_eq!(card["manager"]["id"], lead.as_str(), "{card}");

    // Outside: a root, another subtree, moving out of the subtree, the tree's top.
    let before = tree(&server, &admin).await;
    let forbidden = [
        server
            .post(
                Some(&lead_token),
                "/api/v1/departments",
                Some(json!({ "name": unique_name("root") })),
            )
            .await,
        server
            .post(
                Some(&lead_token),
                "/api/v1/departments",
                Some(json!({ "name": "x", "parent_id": sales })),
            )
            .await,
        server
            .patch(
                Some(&lead_token),
                &format!("/api/v1/departments/{sales}"),
                Some(json!({ "name": "Mine" })),
            )
            .await,
        server
            .patch(
                Some(&lead_token),
                &format!("/api/v1/departments/{hq}"),
                Some(json!({ "position": 5 })),
            )
            .await,
        move_to(&server, &lead_token, &backend, &sales).await,
        server
            .patch(
                Some(&lead_token),
                &format!("/api/v1/departments/{backend}"),
                Some(json!({ "parent_id": null })),
            )
            .await,
        server
            .put(
                Some(&lead_token),
                &format!("/api/v1/departments/{sales}/members/{worker}"),
                Some(json!({ "title": "spy" })),
            )
            .await,
        server
            .delete(
                Some(&lead_token),
                &format!("/api/v1/departments/{sales}"),
                None,
            )
            .await,
    ];
    for (i, (status, body)) in forbidden.iter().enumerate() {
        assert_eq!(*status, StatusCode::FORBIDDEN, "request {i}: {body}");
        assert_eq!(body["error"]["code"], "forbidden", "request {i}: {body}");
    }
    // A member without department powers cannot change anything either.
    let (_, plain) = server.create_user(&unique_name("plain")).await;
    let (status, _) = server
        .patch(
            Some(&plain),
            &format!("/api/v1/departments/{backend}"),
            Some(json!({ "name": "No" })),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // ...but browses the directory.
    let (status, _) = server
        .get(
            Some(&plain),
            &format!("/api/v1/departments/{backend}/members"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        tree(&server, &admin).await,
        before,
        "refused requests changed the tree"
    );
}

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
async fn csv_import_dry_run_changes_nothing_then_the_import_builds_the_tree() {
    let server = TestServer::start();
    let admin = server.admin_token().await;
    let (_, _) = server.create_user("zhangwei").await;
    let (_, _) = server.create_user("lina").await;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("org.csv");
    std::fs::write(
        &csv,
        "department,username,title,is_head\n总部/技术部/后端组,zhangwei,\"工程师, 后端\",是\n总部/市场部,lina,经理,true\n总部/技术部,lina,顾问,\n",
    )
    .unwrap();
    let before = tree(&server, &admin).await;
    let out = enclave(
        &server,
        &[
            "admin",
            "import-departments",
            csv.to_str().unwrap(),
            "--dry-run",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("dry run") && stdout.contains("would create 4 department(s)"),
        "{stdout}"
    );
    assert_eq!(
        tree(&server, &admin).await,
        before,
        "the dry run changed the tree"
    );

    // A file with one bad row changes nothing either.
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "department,username,title,is_head\n总部/新部门,zhangwei,,\n总部/x,nobody-here,,\n",
    )
    .unwrap();
    let out = enclave(
        &server,
        &["admin", "import-departments", bad.to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 3"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        tree(&server, &admin).await,
        before,
        "a refused import changed the tree"
    );

    let out = enclave(
        &server,
        &["admin", "import-departments", csv.to_str().unwrap()],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("created 4 department(s), placed 3"),
        "{stdout}"
    );
    let t = tree(&server, &admin).await;
    let names: BTreeSet<&str> = t["departments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["总部", "技术部", "后端组", "市场部"])
    );
    // Running it again changes nothing.
    let out = enclave(
        &server,
        &["admin", "import-departments", csv.to_str().unwrap()],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("created 0 department(s), placed 0 person(s), updated 0, unchanged 3"),
        "{stdout}"
    );
}
