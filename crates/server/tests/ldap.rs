//! LDAP sign-in and the directory sync against a real slapd (`common::slapd`), on SQLite and
//! on PostgreSQL: login, wrong and empty passwords, a disabled entry, filter injection,
//! over-long input, the sync creating, updating, deactivating (ending sessions) and
//! reactivating accounts, groups and OUs mapped to roles and departments, the dry run changing
//! nothing, the local administrator left alone, the safety checks, LDAPS and StartTLS.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::slapd::{PEOPLE, SERVICE_DN, SERVICE_PASSWORD, Slapd};
use common::{StatusCode, TestServer, Value, json};

const PW: &str = "directory-pw-1";

/// The test tree: two OUs, two groups, five people (dave disabled).
fn fill(slapd: &Slapd) {
    slapd.add_person("engineering", "alice", "Alice Liddell", PW, "title: Lead\n");
    slapd.add_person(
        "engineering",
        "bob",
        "Bob Builder",
        PW,
        "telephoneNumber: +1 555 0100\n",
    );
    slapd.add_person("sales", "carol", "Carol Danvers", PW, "");
    slapd.add_person(
        "sales",
        "dave",
        "Dave Disabled",
        PW,
        "employeeType: disabled\n",
    );
    slapd.add_person("sales", "erin", "Erin Example", PW, "");
    slapd.add_group("admins", &[Slapd::person_dn("engineering", "alice")]);
    slapd.add_group(
        "devs",
        &[
            Slapd::person_dn("engineering", "alice"),
            Slapd::person_dn("engineering", "bob"),
        ],
    );
}

/// A provider section for `slapd` (`extra` appended inside it).
fn provider(id: &str, url: &str, extra: &str) -> String {
    format!(
        r#"
[[ldap.providers]]
id = "{id}"
name = "Corp directory"
url = "{url}"
bind_dn = "{SERVICE_DN}"
bind_password = "{SERVICE_PASSWORD}"
base_dn = "{PEOPLE}"
disabled_attribute = "employeeType"
disabled_values = ["disabled"]
{extra}
"#
    )
}

const MAPS: &str = r#"
[ldap.providers.role_map]
"cn=admins,ou=groups,dc=example,dc=org" = "system_admin"
"cn=devs,ou=groups,dc=example,dc=org" = "developer"
[ldap.providers.department_map]
"ou=engineering,ou=people,dc=example,dc=org" = "Corp/Engineering"
"ou=sales,ou=people,dc=example,dc=org" = "Corp/Sales"
"#;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

async fn login(server: &TestServer, login: &str, password: &str) -> (StatusCode, Value) {
    server.login(login, password).await
}

async fn login_via(
    server: &TestServer,
    provider: &str,
    login: &str,
    password: &str,
) -> (StatusCode, Value) {
    server
        .post(
            None,
            "/api/v1/auth/login",
            Some(json!({ "login": login, "password": password, "provider": provider })),
        )
        .await
}

/// Every account (active or not), by username.
async fn users(server: &TestServer, admin: &str) -> std::collections::BTreeMap<String, Value> {
    let (status, body) = server
        .get(
            Some(admin),
            "/api/v1/users?include_inactive=true&limit=200",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["username"].as_str().unwrap().to_owned(), u.clone()))
        .collect()
}

/// Starts a sync over HTTP and waits for its run to finish; returns the run.
async fn sync(server: &TestServer, admin: &str, id: &str, dry_run: bool) -> Value {
    let (status, body) = server
        .post(
            Some(admin),
            &format!("/api/v1/admin/identity-providers/{id}/sync"),
            Some(json!({ "dry_run": dry_run })),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let run_id = body["run_id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = server
            .get(Some(admin), "/api/v1/admin/identity-providers", None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let p = body["providers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .unwrap()
            .clone();
        if let Some(run) = p["runs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == run_id.as_str())
            && run["status"] != "running"
        {
            return run.clone();
        }
        assert!(Instant::now() < deadline, "the sync did not finish: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn changes(run: &Value, action: &str) -> Vec<String> {
    let mut v: Vec<String> = run["report"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == action)
        .map(|c| c["username"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

async fn roles_of(server: &TestServer, admin: &str, id: &str) -> Vec<String> {
    let (status, body) = server
        .get(Some(admin), &format!("/api/v1/users/{id}/roles"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect()
}

async fn departments_of(server: &TestServer, admin: &str, id: &str) -> Vec<String> {
    let (status, body) = server
        .get(Some(admin), &format!("/api/v1/users/{id}/card"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["departments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            d["path"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap())
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect()
}

async fn audit(server: &TestServer, admin: &str, action: &str) -> Vec<Value> {
    let (status, body) = server
        .get(
            Some(admin),
            &format!("/api/v1/admin/audit?action={action}&limit=200"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["entries"].as_array().unwrap().clone()
}

/// The audit entries after `after` (a sequence number), oldest first, without the entries the
/// reads of the log make themselves.
async fn audit_since(server: &TestServer, admin: &str, after: i64) -> Vec<Value> {
    let (status, body) = server
        .get(Some(admin), "/api/v1/admin/audit?limit=500", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut v: Vec<Value> = body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| seq(e) > after && !e["action"].as_str().unwrap().starts_with("audit_"))
        .cloned()
        .collect();
    v.reverse();
    v
}

fn seq(e: &Value) -> i64 {
    e["seq"].as_str().unwrap().parse().unwrap()
}

/// The newest sequence number in the log.
async fn audit_head(server: &TestServer, admin: &str) -> i64 {
    let (status, body) = server
        .get(Some(admin), "/api/v1/admin/audit?limit=1", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["entries"].as_array().unwrap().first().map_or(0, seq)
}

/// `(action, target)` of entries.
fn actions(entries: &[Value]) -> Vec<(String, String)> {
    entries
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["target_id"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn id(u: &Value) -> String {
    u["id"].as_str().unwrap().to_owned()
}

/// The whole scenario on one server (SQLite or PostgreSQL).
async fn scenario(slapd: &Slapd, server: &TestServer, dir: &Path) {
    let admin = server.admin_token().await;
    let before = users(server, &admin).await;
    assert_eq!(before.len(), 1, "only the local administrator: {before:?}");
    // A custom role the devs group maps to, and a local account the sync must leave alone.
    let (status, body) = server
        .post(
            Some(&admin),
            "/api/v1/admin/roles",
            Some(json!({ "name": "developer", "permissions": ["create_public_channels"] })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let developer_role = body["id"].as_str().unwrap().to_owned();
    let (local_id, local_token) = server.create_user(&common::unique_name("local")).await;

    // --- Sign-in -----------------------------------------------------------------------
    // Bad input: nothing is created, each is a plain 401.
    let long = "x".repeat(2000);
    for (who, pw, why) in [
        ("alice", "wrong password", "wrong password"),
        ("alice", "", "empty password"),
        ("*)(uid=*", PW, "filter injection"),
        ("*", PW, "wildcard"),
        ("alice)(|(uid=*", PW, "filter injection"),
        (long.as_str(), PW, "over-long login"),
        ("alice", long.as_str(), "over-long password"),
        ("dave", PW, "disabled entry"),
        ("nobody", PW, "unknown user"),
    ] {
        let (status, body) = login(server, who, pw).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{why}: {body}");
        common::assert_error(why, &body, "unauthenticated");
    }
    // Through the provider explicitly, too.
    let (status, body) = login_via(server, "corp", "*)(uid=*", PW).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = login_via(server, "corp", "alice", "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(users(server, &admin).await.len(), 2, "nothing was created");

    // Alice's first sign-in creates her account, with the mapped role and department.
    let (status, body) = login(server, "alice", PW).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let alice = body["user"].clone();
    assert_eq!(alice["username"], "alice");
    assert_eq!(alice["display_name"], "Alice Liddell");
    assert_eq!(alice["email"], "alice@example.org");
    let alice_id = id(&alice);
    let roles = roles_of(server, &admin, &alice_id).await;
    assert!(roles.contains(&"system_admin".to_owned()), "{roles:?}");
    assert!(roles.contains(&developer_role), "{roles:?}");
    assert_eq!(
        departments_of(server, &admin, &alice_id).await,
        ["Corp/Engineering"]
    );
    // The first sign-in's changes are recorded as the directory's, with the provider.
    for (action, target) in [
        ("user_created", Some(alice_id.as_str())),
        ("role_changed", Some(alice_id.as_str())),
        ("department_created", None),
        ("department_member_added", Some(alice_id.as_str())),
    ] {
        let found: Vec<Value> = audit(server, &admin, action)
            .await
            .into_iter()
            .filter(|e| target.is_none_or(|t| e["target_id"] == t))
            .collect();
        assert!(!found.is_empty(), "no {action}");
        for e in found {
            assert!(e.get("actor").is_none(), "{e}");
            assert_eq!(e["summary"]["by"], "directory", "{e}");
            assert_eq!(e["summary"]["provider"], "corp", "{e}");
        }
    }
    // The second sign-in finds the same account; the explicit provider works too.
    let (status, body) = login_via(server, "corp", "ALICE", PW).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(id(&body["user"]), alice_id);
    // A directory account has no local password to fall back on.
    let (status, _) = login(server, "alice", "wrong password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The audit log names the credential and the reason of each refusal.
    let failed = audit(server, &admin, "sign_in_failed").await;
    let reasons: Vec<&str> = failed
        .iter()
        .filter(|e| e["summary"]["credential"] == "ldap")
        .filter_map(|e| e["summary"]["reason"].as_str())
        .collect();
    for want in [
        "wrong password",
        "disabled in the directory",
        "unknown user",
    ] {
        assert!(reasons.contains(&want), "{want} not in {reasons:?}");
    }
    let ok = audit(server, &admin, "sign_in").await;
    assert!(
        ok.iter()
            .any(|e| e["summary"]["credential"] == "ldap" && e["target_id"] == alice_id.as_str()),
        "{ok:?}"
    );

    // --- Dry run: a report, no change ---------------------------------------------------
    let out = server.cli(&["admin", "ldap-sync", "--dry-run"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("dry run"), "{text}");
    for name in ["bob", "carol", "erin"] {
        assert!(
            text.contains(name),
            "{name} missing from the report: {text}"
        );
    }
    assert!(!text.contains("dave"), "{text}");
    let head = audit_head(server, &admin).await;
    let run = sync(server, &admin, "corp", true).await;
    assert_eq!(run["status"], "done", "{run}");
    assert_eq!(changes(&run, "create"), ["bob", "carol", "erin"], "{run}");
    // A dry run writes no entry but its run's.
    let written = audit_since(server, &admin, head).await;
    assert_eq!(
        actions(&written),
        [("directory_sync".to_owned(), String::new())],
        "{written:?}"
    );
    assert_eq!(written[0]["summary"]["dry_run"], "true", "{written:?}");
    assert_eq!(
        users(server, &admin).await.len(),
        3,
        "a dry run creates nothing"
    );

    // --- The sync creates, maps groups and OUs ------------------------------------------
    let head = audit_head(server, &admin).await;
    let run = sync(server, &admin, "corp", false).await;
    assert_eq!(run["status"], "done", "{run}");
    let report = &run["report"];
    assert_eq!(report["found"], 5, "{run}");
    assert_eq!(changes(&run, "create"), ["bob", "carol", "erin"], "{run}");
    assert_eq!(report["deactivated"], 0, "{run}");
    let all = users(server, &admin).await;
    assert!(
        !all.contains_key("dave"),
        "a disabled entry gets no account"
    );
    let bob_id = id(&all["bob"]);
    let carol_id = id(&all["carol"]);
    let erin_id = id(&all["erin"]);
    assert_eq!(
        roles_of(server, &admin, &bob_id).await,
        ["member", developer_role.as_str()]
    );
    assert_eq!(roles_of(server, &admin, &carol_id).await, ["member"]);
    assert_eq!(
        departments_of(server, &admin, &bob_id).await,
        ["Corp/Engineering"]
    );
    assert_eq!(
        departments_of(server, &admin, &carol_id).await,
        ["Corp/Sales"]
    );
    // Every change the run made has its own entry, written with the change: by the directory
    // (no actor), naming the provider; the run's own entry comes last.
    let written = audit_since(server, &admin, head).await;
    let (last, changed) = written.split_last().unwrap();
    assert_eq!(last["action"], "directory_sync", "{written:?}");
    assert_eq!(last["summary"]["created"], "3", "{last}");
    for e in changed {
        assert!(e.get("actor").is_none(), "{e}");
        assert_eq!(e["summary"]["by"], "directory", "{e}");
        assert_eq!(e["summary"]["provider"], "corp", "{e}");
    }
    let got = actions(changed);
    let has = |action: &str, target: &str| {
        got.iter()
            .position(|(a, t)| a == action && t == target)
            .unwrap_or_else(|| panic!("no {action} of {target}: {got:?}"))
    };
    for who in [&bob_id, &carol_id, &erin_id] {
        let created = has("user_created", who);
        assert!(created < has("department_member_added", who), "{got:?}");
    }
    assert!(has("user_created", &bob_id) < has("role_changed", &bob_id));
    let created_depts: Vec<&Value> = changed
        .iter()
        .filter(|e| e["action"] == "department_created")
        .collect();
    let names: Vec<&str> = created_depts
        .iter()
        .map(|e| e["summary"]["name"].as_str().unwrap())
        .collect();
    // Alice's sign-in made Corp/Engineering; the sync makes Corp/Sales.
    assert_eq!(names, ["Sales"], "{created_depts:?}");
    let user_created = changed
        .iter()
        .find(|e| e["action"] == "user_created" && e["target_id"] == bob_id.as_str())
        .unwrap();
    assert_eq!(user_created["summary"]["username"], "bob", "{user_created}");
    assert!(
        user_created["summary"]["dn"]
            .as_str()
            .unwrap()
            .starts_with("uid=bob,"),
        "{user_created}"
    );
    // A second run changes nothing, and records only itself.
    let head = audit_head(server, &admin).await;
    let run = sync(server, &admin, "corp", false).await;
    assert_eq!(run["report"]["unchanged"], 4, "{run}");
    assert!(
        run["report"]["changes"].as_array().unwrap().is_empty(),
        "{run}"
    );
    let written = audit_since(server, &admin, head).await;
    assert_eq!(
        actions(&written),
        [("directory_sync".to_owned(), String::new())],
        "{written:?}"
    );

    // Bob signs in (a session to end later).
    let (status, body) = login(server, "bob", PW).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let bob_token = body["token"].as_str().unwrap().to_owned();
    let (status, _) = server.get(Some(&bob_token), "/api/v1/users/me", None).await;
    assert_eq!(status, StatusCode::OK);

    // --- Changes in the directory ---------------------------------------------------------
    // Bob is disabled, carol leaves, erin is renamed and moves to engineering's devs group.
    slapd.modify(&format!(
        "dn: {}\nchangetype: modify\nadd: employeeType\nemployeeType: disabled\n",
        Slapd::person_dn("engineering", "bob")
    ));
    slapd.delete(&Slapd::person_dn("sales", "carol"));
    slapd.modify(&format!(
        "dn: {erin}\nchangetype: modify\nreplace: cn\ncn: Erin Renamed\n-\nreplace: title\ntitle: Analyst\n\n\
         dn: cn=devs,ou=groups,dc=example,dc=org\nchangetype: modify\nadd: member\nmember: {erin}\n",
        erin = Slapd::person_dn("sales", "erin")
    ));
    let run = sync(server, &admin, "corp", true).await;
    assert_eq!(changes(&run, "deactivate"), ["bob", "carol"], "{run}");
    assert!(
        users(server, &admin).await["bob"]["active"] == true,
        "a dry run changes nothing"
    );
    let run = sync(server, &admin, "corp", false).await;
    assert_eq!(run["status"], "done", "{run}");
    assert_eq!(changes(&run, "deactivate"), ["bob", "carol"], "{run}");
    assert_eq!(changes(&run, "update"), ["erin"], "{run}");
    let all = users(server, &admin).await;
    assert_eq!(all["bob"]["active"], false);
    assert_eq!(all["carol"]["active"], false);
    assert_eq!(all["erin"]["display_name"], "Erin Renamed");
    assert!(
        roles_of(server, &admin, &erin_id)
            .await
            .contains(&developer_role)
    );
    // Bob's session ended with the deactivation; he cannot sign in.
    let (status, _) = server.get(Some(&bob_token), "/api/v1/users/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = login(server, "bob", PW).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The local administrator and the local account are untouched.
    assert_eq!(all["admin"]["active"], true);
    let (status, _) = server
        .get(Some(&local_token), "/api/v1/users/me", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        all.values()
            .any(|u| id(u) == local_id && u["active"] == true)
    );
    let deactivated = audit(server, &admin, "user_deactivated").await;
    assert!(
        deactivated
            .iter()
            .any(|e| e["target_id"] == bob_id.as_str() && e["summary"]["by"] == "directory"),
        "{deactivated:?}"
    );
    let runs = audit(server, &admin, "directory_sync").await;
    assert!(runs.len() >= 5, "{runs:?}");

    // --- Bob returns --------------------------------------------------------------------
    slapd.modify(&format!(
        "dn: {}\nchangetype: modify\ndelete: employeeType\n",
        Slapd::person_dn("engineering", "bob")
    ));
    let run = sync(server, &admin, "corp", false).await;
    assert_eq!(changes(&run, "reactivate"), ["bob"], "{run}");
    let (status, body) = login(server, "bob", PW).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // An account an administrator deactivated stays deactivated.
    let (status, body) = server
        .patch(
            Some(&admin),
            &format!("/api/v1/users/{erin_id}"),
            Some(json!({ "active": false })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let run = sync(server, &admin, "corp", false).await;
    assert!(changes(&run, "reactivate").is_empty(), "{run}");
    assert_eq!(users(server, &admin).await["erin"]["active"], false);

    // --- Safety: an empty answer, or too many leavers, changes nothing --------------------
    for (filter, why) in [
        ("(uid=nobody-at-all)", "no users"),
        ("(uid=alice)", "max_deactivate_percent"),
    ] {
        let config = write(
            dir,
            "broken.toml",
            &provider(
                "corp",
                &slapd.url(),
                // One of the two active linked accounts would go: more than 30 %.
                &format!("sync_filter = \"{filter}\"\nmax_deactivate_percent = 30\n{MAPS}"),
            ),
        );
        let out = server.cli_with_config(&config, &["admin", "ldap-sync"]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(!out.status.success(), "{why}: {text}");
        assert!(
            text.contains("refused") && text.contains(why),
            "{why}: {text}"
        );
        let all = users(server, &admin).await;
        for name in ["alice", "bob", "admin"] {
            assert_eq!(all[name]["active"], true, "{why}: {name} was deactivated");
        }
    }
    let (status, body) = server
        .get(Some(&admin), "/api/v1/admin/identity-providers", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let last = &body["providers"][0]["runs"][0];
    assert_eq!(last["status"], "refused", "{body}");
    assert!(
        last["error"]
            .as_str()
            .unwrap()
            .contains("max_deactivate_percent")
    );

    // --- Who may ------------------------------------------------------------------------
    let (_, member) = server.create_user(&common::unique_name("member")).await;
    let (status, _) = server
        .get(Some(&member), "/api/v1/admin/identity-providers", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = server
        .post(
            Some(&member),
            "/api/v1/admin/identity-providers/corp/sync",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = server
        .post(
            Some(&admin),
            "/api/v1/admin/identity-providers/nope/sync",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    common::assert_error("unknown provider", &body, "provider_not_found");
    // Malformed bodies for a real provider: 400, and no run starts.
    let runs_before = server
        .get(Some(&admin), "/api/v1/admin/identity-providers", None)
        .await
        .1;
    for bad in [
        json!({ "dry_run": "yes" }),
        json!({ "dry_run": 1 }),
        json!({ "dry_run": true, "extra": 1 }),
        json!([]),
    ] {
        let (status, body) = server
            .post(
                Some(&admin),
                "/api/v1/admin/identity-providers/corp/sync",
                Some(bad.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    let runs_after = server
        .get(Some(&admin), "/api/v1/admin/identity-providers", None)
        .await
        .1;
    let ids = |v: &serde_json::Value| -> Vec<String> {
        v["providers"][0]["runs"]
            .as_array()
            .map(|r| r.iter().map(|x| x["id"].to_string()).collect())
            .unwrap_or_default()
    };
    assert_eq!(
        ids(&runs_before),
        ids(&runs_after),
        "a refused body started a run"
    );
}

fn setup() -> Option<(Slapd, tempfile::TempDir, std::path::PathBuf)> {
    let slapd = Slapd::start()?;
    fill(&slapd);
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "enclave.toml",
        &provider("corp", &slapd.url(), MAPS),
    );
    Some((slapd, dir, config))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ldap_sign_in_and_sync_on_sqlite() {
    let Some((slapd, dir, config)) = setup() else {
        return;
    };
    let server = TestServer::start_with_config(&config, &[], true);
    scenario(&slapd, &server, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ldap_sign_in_and_sync_on_postgres() {
    let Some((slapd, dir, config)) = setup() else {
        return;
    };
    let Some((_db, url)) = enclave_store::testing::fresh_database_url().await else {
        return;
    };
    let server =
        TestServer::start_with_config(&config, &[("ENCLAVE_DATABASE__URL", url.as_str())], true);
    scenario(&slapd, &server, dir.path()).await;
}

/// LDAPS and StartTLS with the test CA; a server whose certificate does not chain to the
/// configured CA is refused (503 `directory_unavailable`), and nothing is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ldaps_and_starttls() {
    let Some(slapd) = Slapd::start() else {
        return;
    };
    fill(&slapd);
    let dir = tempfile::tempdir().unwrap();
    let ca = slapd.ca_file.display().to_string();
    let other = slapd.other_ca_file.display().to_string();
    let text = [
        provider("ldaps", &slapd.ldaps_url(), &format!("ca_file = \"{ca}\"")),
        provider(
            "starttls",
            &slapd.url(),
            &format!("starttls = true\nca_file = \"{ca}\""),
        ),
        provider(
            "untrusted",
            &slapd.ldaps_url(),
            &format!("ca_file = \"{other}\""),
        ),
    ]
    .concat();
    let config = write(dir.path(), "enclave.toml", &text);
    let server = TestServer::start_with_config(&config, &[], true);
    let admin = server.admin_token().await;

    let (status, body) = login_via(&server, "untrusted", "carol", PW).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    common::assert_error("untrusted", &body, "directory_unavailable");
    assert!(!users(&server, &admin).await.contains_key("carol"));

    let (status, body) = login_via(&server, "ldaps", "alice", PW).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = login_via(&server, "starttls", "bob", PW).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = login_via(&server, "starttls", "bob", "wrong").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    // Without a provider, an unknown login goes to the providers in order.
    let (status, body) = login(&server, "erin", PW).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // An account linked to one provider is not signed in through another.
    let (status, body) = login_via(&server, "starttls", "alice", PW).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}
