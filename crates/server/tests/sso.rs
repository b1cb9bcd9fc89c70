//! OIDC single sign-on against real providers on loopback (docs/admin/sso.md):
//! - the npm package `oidc-provider` (tests/oidc-provider/server.mjs), signed in through its
//!   login and consent forms: accounts created, linked by verified e-mail, groups mapped to
//!   roles and departments, replays and stray callbacks refused, deactivated accounts refused,
//!   the provider's session ended at sign-out, password sign-in off;
//! - a forging provider (same script, `--forge`) speaking the real wire protocol with keys the
//!   test controls: a tampered ID token, a wrong nonce, audience or issuer, an expired token,
//!   `alg: none`, the wrong key, HS256 with the client secret, and a replayed code are refused,
//!   and none creates or changes anything.
//!
//! Each runs on SQLite and on a private PostgreSQL. The providers need `npm ci` in
//! tests/oidc-provider (scripts/test does it); without it the tests skip, except under CI=true.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use common::{
    ADMIN_PASSWORD, ADMIN_USER, StatusCode, TestServer, Value, assert_status_error, json,
};

/// What the server believes its public address is. The provider sends the browser to
/// `{PUBLIC}/auth/oidc/{id}/callback`; the test takes that URL and asks the real server.
const PUBLIC: &str = "http://sso.test";
const CLIENT_ID: &str = "enclave";
const CLIENT_SECRET: &str = "enclave-test-secret";

/// A provider process, killed on drop.
struct Provider {
    child: Child,
    issuer: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn provider_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/oidc-provider")
}

/// Starts a provider (`forge`: the forging one); `None` (skip) when its packages are not
/// installed, unless CI=true.
fn provider(id: &str, forge: bool) -> Option<Provider> {
    let dir = provider_dir();
    if !dir.join("node_modules/oidc-provider").exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "tests/oidc-provider has no node_modules: run `npm ci` there (scripts/test does)"
        );
        eprintln!("skipping: run `npm ci` in tests/oidc-provider");
        return None;
    }
    let mut cmd = Command::new("node");
    cmd.current_dir(&dir)
        .arg("server.mjs")
        .arg("--redirect")
        .arg(format!("{PUBLIC}/auth/oidc/{id}/callback"))
        .args(["--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET]);
    if forge {
        cmd.arg("--forge");
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting node");
    let out = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(out)
        .read_line(&mut line)
        .expect("reading the provider's READY line");
    let issuer = line
        .strip_prefix("READY ")
        .unwrap_or_else(|| panic!("provider said {line:?}"))
        .trim()
        .to_owned();
    Some(Provider { child, issuer })
}

fn provider_toml(id: &str, issuer: &str, extra: &str) -> String {
    format!(
        r#"[{{ id = "{id}", label = "Test {id}", issuer = "{issuer}", client_id = "{CLIENT_ID}", client_secret = "{CLIENT_SECRET}", scopes = ["email", "profile", "groups"], groups_claim = "groups", group_roles = {{ "it-admins" = ["system_admin"] }}, group_departments = {{ "staff" = "Staff/Everyone" }}{extra} }}]"#
    )
}

fn server_with(providers: &str, db: Option<&str>, more: &[(&str, &str)]) -> TestServer {
    let mut env: Vec<(&str, &str)> = vec![
        ("ENCLAVE_OUTBOUND__ALLOW_PLAIN_HTTP", "true"),
        ("ENCLAVE_OIDC__PUBLIC_URL", PUBLIC),
        ("ENCLAVE_OIDC__PROVIDERS", providers),
    ];
    if let Some(url) = db {
        env.push(("ENCLAVE_DATABASE__URL", url));
    }
    env.extend_from_slice(more);
    TestServer::start_with_env(&env)
}

/// A browser's cookies for one host, by name.
#[derive(Default, Clone)]
struct Jar(HashMap<String, String>);

impl Jar {
    fn take(&mut self, resp: &reqwest::Response) {
        for v in resp.headers().get_all(reqwest::header::SET_COOKIE) {
            let Ok(v) = v.to_str() else { continue };
            let first = v.split(';').next().unwrap_or("");
            if let Some((k, val)) = first.split_once('=') {
                if val.is_empty() || v.to_ascii_lowercase().contains("max-age=0") {
                    self.0.remove(k.trim());
                } else {
                    self.0.insert(k.trim().to_owned(), val.to_owned());
                }
            }
        }
    }
    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .unwrap_or_else(|| panic!("no Location in {resp:?}"))
        .to_owned()
}

/// One browser: its cookies at Enclave and at the provider.
#[derive(Default, Clone)]
struct Browser {
    enclave: Jar,
    idp: Jar,
}

impl Browser {
    /// `GET /auth/oidc/{id}/start`: the authorization URL.
    async fn start(&mut self, server: &TestServer, id: &str) -> String {
        let resp = client()
            .get(server.url(&format!("/auth/oidc/{id}/start")))
            .header("cookie", self.enclave.header())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{}", server.log());
        self.enclave.take(&resp);
        location(&resp)
    }

    /// Follows the provider's pages from `url`, signing in as `login` and consenting, until it
    /// sends the browser back to Enclave; returns that callback URL.
    async fn at_provider(&mut self, url: &str, login: &str) -> String {
        let c = client();
        let mut url = url.to_owned();
        for _ in 0..20 {
            if url.starts_with(PUBLIC) {
                return url;
            }
            let resp = c
                .get(&url)
                .header("cookie", self.idp.header())
                .send()
                .await
                .unwrap();
            self.idp.take(&resp);
            if resp.status().is_redirection() {
                url = absolute(&url, &location(&resp));
                continue;
            }
            assert_eq!(resp.status(), 200, "{url}");
            let page = resp.text().await.unwrap();
            let form: &[(&str, &str)] = if page.contains(r#"value="login""#) {
                &[("prompt", "login"), ("login", login), ("password", "any")]
            } else {
                &[("prompt", "consent")]
            };
            let resp = c
                .post(&url)
                .header("cookie", self.idp.header())
                .header("content-type", "application/x-www-form-urlencoded")
                .body(
                    form.iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join("&"),
                )
                .send()
                .await
                .unwrap();
            self.idp.take(&resp);
            assert!(resp.status().is_redirection(), "{url}: {}", resp.status());
            url = absolute(&url, &location(&resp));
        }
        panic!("the provider never sent the browser back");
    }

    /// Asks Enclave for the callback URL; returns where it sends the browser.
    async fn callback(&mut self, server: &TestServer, callback: &str) -> String {
        let path = callback.strip_prefix(PUBLIC).unwrap();
        let resp = client()
            .get(server.url(path))
            .header("cookie", self.enclave.header())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{}", server.log());
        location(&resp)
    }

    async fn exchange(&mut self, server: &TestServer, code: &str) -> (StatusCode, Value) {
        let resp = client()
            .post(server.url("/api/v1/auth/sso/exchange"))
            .header("cookie", self.enclave.header())
            .json(&json!({ "code": code }))
            .send()
            .await
            .unwrap();
        self.enclave.take(&resp);
        common::read_json(resp).await
    }

    /// The whole sign-in: the login answer, or the error code the login page is sent.
    async fn sign_in(
        &mut self,
        server: &TestServer,
        id: &str,
        login: &str,
    ) -> Result<Value, String> {
        let auth = self.start(server, id).await;
        let back = self.at_provider(&auth, login).await;
        let landing = self.callback(server, &back).await;
        let code = fragment(&landing, "sso_code")
            .ok_or_else(|| fragment(&landing, "sso_error").unwrap_or_else(|| landing.clone()))?;
        assert_eq!(fragment(&landing, "sso_provider").as_deref(), Some(id));
        let (status, body) = self.exchange(server, &code).await;
        if status == StatusCode::OK {
            Ok(body)
        } else {
            Err(body["error"]["code"].as_str().unwrap_or("?").to_owned())
        }
    }
}

fn absolute(base: &str, loc: &str) -> String {
    reqwest::Url::parse(base)
        .unwrap()
        .join(loc)
        .unwrap()
        .to_string()
}

fn fragment(url: &str, key: &str) -> Option<String> {
    let frag = url.split_once('#')?.1;
    frag.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.to_owned())
}

async fn users(server: &TestServer) -> Vec<Value> {
    let admin = server.admin_token().await;
    let (status, body) = server
        .get(Some(&admin), "/api/v1/users?include_inactive=true", None)
        .await;
    assert_eq!(status, 200, "{body}");
    body["users"]
        .as_array()
        .or_else(|| body.as_array())
        .cloned()
        .unwrap_or_default()
}

async fn audit_actions(server: &TestServer) -> Vec<Value> {
    let admin = server.admin_token().await;
    let (status, body) = server
        .get(Some(&admin), "/api/v1/admin/audit?limit=200", None)
        .await;
    assert_eq!(status, 200, "{body}");
    body["entries"].as_array().cloned().unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// The real provider

async fn real_provider(db: Option<&str>) {
    let Some(idp) = provider("test", false) else {
        return;
    };
    let server = server_with(&provider_toml("test", &idp.issuer, ""), db, &[]);

    // The login page's buttons.
    let (status, body) = server.get(None, "/api/v1/auth/providers", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["local_passwords"], true);
    assert_eq!(body["providers"][0]["id"], "test");
    assert_eq!(body["providers"][0]["label"], "Test test");

    // Bob already has an account with his (verified) address: his first sign-in links it.
    let admin = server.admin_token().await;
    let (status, bobby) = server
        .post(
            Some(&admin),
            "/api/v1/users",
            Some(json!({"username": "bobby", "password": "bobby-password-1", "email": "bob@example.org"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{bobby}");
    // Carol's address is not verified at the provider: an account with it is not linked.
    let (status, _) = server
        .post(
            Some(&admin),
            "/api/v1/users",
            Some(json!({"username": "carol-local", "password": "carol-password-1", "email": "carol@example.org"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let before = users(&server).await.len();

    // Alice: a new account, an administrator through her group, in the mapped department.
    let mut browser = Browser::default();
    let alice = browser
        .sign_in(&server, "test", "alice")
        .await
        .expect("alice signs in");
    assert_eq!(alice["user"]["username"], "alice");
    assert_eq!(alice["user"]["display_name"], "Alice Liddell");
    let token = alice["token"].as_str().unwrap().to_owned();
    let (status, me) = server.get(Some(&token), "/api/v1/users/me", None).await;
    assert_eq!(status, 200);
    assert_eq!(me["is_admin"], true, "{me}");
    assert!(browser.enclave.0.contains_key("enclave_session"));
    let (status, tree) = server.get(Some(&token), "/api/v1/departments", None).await;
    assert_eq!(status, 200, "{tree}");
    assert!(tree.to_string().contains("Everyone"), "{tree}");
    assert_eq!(users(&server).await.len(), before + 1);

    // Again: the same account, nothing new.
    let again = Browser::default()
        .sign_in(&server, "test", "alice")
        .await
        .unwrap();
    assert_eq!(again["user"]["id"], alice["user"]["id"]);
    assert_eq!(users(&server).await.len(), before + 1);

    // Bob is linked to "bobby" by his verified address.
    let bob = Browser::default()
        .sign_in(&server, "test", "bob")
        .await
        .unwrap();
    assert_eq!(bob["user"]["id"], bobby["id"]);
    assert_eq!(bob["user"]["username"], "bobby");
    assert_eq!(users(&server).await.len(), before + 1);

    // Alice has no password of her own: a change of her second factors is proved by her
    // recent sign-in (no field), never by a password. Bob has one, and must give it.
    let (status, st) = server
        .get(Some(&token), "/api/v1/users/me/second-factor", None)
        .await;
    assert_eq!(status, 200, "{st}");
    assert_eq!(st["password"], false, "{st}");
    let disable = "/api/v1/users/me/second-factor/disable";
    let (status, body) = server.post(Some(&token), disable, Some(json!({}))).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = server
        .post(
            Some(&token),
            disable,
            Some(json!({"password": "a-guess-1234"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let bob_token = bob["token"].as_str().unwrap();
    let (status, st) = server
        .get(Some(bob_token), "/api/v1/users/me/second-factor", None)
        .await;
    assert_eq!(st["password"], true, "{st}");
    assert_eq!(status, 200);
    let (status, body) = server.post(Some(bob_token), disable, Some(json!({}))).await;
    assert_status_error(
        "no proof, with a password",
        (status, &body),
        403,
        "forbidden",
    );
    let (status, body) = server
        .post(
            Some(bob_token),
            disable,
            Some(json!({"password": "bobby-password-1"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    // A personal access token is no sign-in: it proves nothing by itself.
    let (status, pat) = server
        .post(
            Some(&token),
            "/api/v1/users/me/tokens",
            Some(json!({"name": "script", "scope": "write", "expires_in_days": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{pat}");
    let (status, body) = server
        .post(pat["token"].as_str(), disable, Some(json!({})))
        .await;
    assert_status_error("no proof, from a token", (status, &body), 403, "forbidden");

    // Carol's unverified address links nothing: she gets a new account of her own.
    let carol = Browser::default()
        .sign_in(&server, "test", "carol")
        .await
        .unwrap();
    assert_eq!(carol["user"]["username"], "carol");
    assert_eq!(users(&server).await.len(), before + 2);

    // Replays: the callback again, the one-time code again.
    let mut b = Browser::default();
    let auth = b.start(&server, "test").await;
    let back = b.at_provider(&auth, "alice").await;
    let landing = b.callback(&server, &back).await;
    let code = fragment(&landing, "sso_code").unwrap();
    let replayed = b.callback(&server, &back).await;
    assert_eq!(
        fragment(&replayed, "sso_error").as_deref(),
        Some("sso_failed")
    );
    // From another browser (no binding cookie), the code is refused and used up.
    let (status, body) = Browser::default().exchange(&server, &code).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "sso_failed");
    let (status, body) = b.exchange(&server, &code).await;
    assert_eq!(status, 401, "{body}");

    // Stray callbacks: no state, an unknown state, another browser's state.
    for query in [
        "?code=abc",
        "?code=abc&state=nonsense",
        "?error=access_denied",
    ] {
        let mut b = Browser::default();
        b.start(&server, "test").await;
        let to = b
            .callback(&server, &format!("{PUBLIC}/auth/oidc/test/callback{query}"))
            .await;
        assert_eq!(
            fragment(&to, "sso_error").as_deref(),
            Some("sso_failed"),
            "{query}"
        );
    }
    let mut mine = Browser::default();
    let auth = mine.start(&server, "test").await;
    let back = mine.at_provider(&auth, "alice").await;
    let mut thief = Browser::default();
    thief.start(&server, "test").await;
    let to = thief.callback(&server, &back).await;
    assert_eq!(fragment(&to, "sso_error").as_deref(), Some("sso_failed"));
    // An unknown provider.
    let to = Browser::default()
        .callback(
            &server,
            &format!("{PUBLIC}/auth/oidc/nope/callback?state=x&code=y"),
        )
        .await;
    assert_eq!(
        fragment(&to, "sso_error").as_deref(),
        Some("provider_not_found")
    );
    let (status, body) = server
        .post(
            None,
            "/api/v1/auth/sso/exchange",
            Some(json!({"code": "x".repeat(500)})),
        )
        .await;
    assert!(status == 400 || status == 401, "{status} {body}");
    assert_eq!(users(&server).await.len(), before + 2);

    // Sign-out ends the provider's session too (it publishes an end_session_endpoint).
    let resp = client()
        .get(server.url("/auth/oidc/test/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let to = location(&resp);
    assert!(to.starts_with(&idp.issuer), "{to}");
    assert!(to.contains("client_id=enclave"), "{to}");

    // The administrators' view.
    let (status, body) = server.get(Some(&admin), "/api/v1/admin/sso", None).await;
    assert_eq!(status, 200, "{body}");
    let p = &body["providers"][0];
    assert_eq!(p["id"], "test");
    assert_eq!(p["discovery_ok"], true);
    assert_eq!(p["linked_users"], 3);
    assert_eq!(p["end_session"], true);
    let (status, _) = server
        .get(
            Some(bob["token"].as_str().unwrap()),
            "/api/v1/admin/sso",
            None,
        )
        .await;
    assert_eq!(status, 403);

    // A deactivated account is refused, and nothing about it changes.
    let (status, body) = server
        .patch(
            Some(&admin),
            &format!("/api/v1/users/{}", carol["user"]["id"].as_str().unwrap()),
            Some(json!({"active": false})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let refused = Browser::default().sign_in(&server, "test", "carol").await;
    assert_eq!(refused.unwrap_err(), "sso_failed");
    assert_eq!(users(&server).await.len(), before + 2);

    // Everything is in the audit log.
    let entries = audit_actions(&server).await;
    let count = |action: &str, fact: &str| {
        entries
            .iter()
            .filter(|e| e["action"] == action && e.to_string().contains(fact))
            .count()
    };
    assert_eq!(
        count("identity_linked", "\"created\":\"true\""),
        2,
        "{entries:?}"
    );
    assert_eq!(count("identity_linked", "\"matched_by\":\"email\""), 1);
    assert!(count("sign_in", "oidc") >= 4);
    assert!(count("sign_in_failed", "unknown or used state") >= 2);
    assert!(count("sign_in_failed", "another browser") >= 2);
    assert!(count("sign_in_failed", "deactivated") >= 1);
    // The account and what the groups map to are recorded with the provider as the source, by
    // the services that wrote them (in the changes' own transactions), without an actor.
    let alice_id = alice["user"]["id"].as_str().unwrap();
    let by = |action: &str, target: Option<&str>| -> Vec<Value> {
        entries
            .iter()
            .filter(|e| e["action"] == action && target.is_none_or(|t| e["target_id"] == t))
            .cloned()
            .collect()
    };
    let created = by("user_created", Some(alice_id));
    assert_eq!(created.len(), 1, "{entries:?}");
    assert_eq!(created[0]["summary"]["by"], "single sign-on", "{created:?}");
    assert_eq!(created[0]["summary"]["provider"], "test", "{created:?}");
    let depts = by("department_created", None);
    let mut names: Vec<&str> = depts
        .iter()
        .map(|e| e["summary"]["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["Everyone", "Staff"], "{depts:?}");
    let placed = by("department_member_added", Some(alice_id));
    assert_eq!(placed.len(), 1, "{entries:?}");
    for e in depts
        .iter()
        .chain(&placed)
        .chain(&by("role_changed", Some(alice_id)))
    {
        assert!(e.get("actor").is_none(), "{e}");
        assert_eq!(e["summary"]["by"], "single sign-on group mapping", "{e}");
        assert_eq!(e["summary"]["provider"], "test", "{e}");
    }
}

#[tokio::test]
async fn sqlite_real_provider() {
    real_provider(None).await;
}

#[tokio::test]
async fn postgres_real_provider() {
    let Some((_db, url)) = enclave_store::testing::fresh_database_url().await else {
        return;
    };
    real_provider(Some(&url)).await;
}

// ---------------------------------------------------------------------------------------------
// Password sign-in off

async fn sso_only(db: Option<&str>) {
    let Some(idp) = provider("test", false) else {
        return;
    };
    let server = server_with(
        &provider_toml("test", &idp.issuer, ""),
        db,
        &[("ENCLAVE_AUTH__LOCAL_PASSWORDS", "false")],
    );
    let (status, body) = server.get(None, "/api/v1/auth/providers", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["local_passwords"], false);
    // The break-glass administrator keeps the password.
    let (status, _) = server.login(ADMIN_USER, ADMIN_PASSWORD).await;
    assert_eq!(status, 200);
    let admin = server.admin_token().await;
    let (status, _) = server
        .post(
            Some(&admin),
            "/api/v1/users",
            Some(json!({"username": "dave", "password": "dave-password-1"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = server.login("dave", "dave-password-1").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "password_login_disabled");
    // A wrong password is still just wrong.
    let (status, body) = server.login("dave", "wrong-password-1").await;
    assert_eq!(status, 401, "{body}");
    // Single sign-on works.
    Browser::default()
        .sign_in(&server, "test", "bob")
        .await
        .unwrap();
}

#[tokio::test]
async fn sqlite_sso_only() {
    sso_only(None).await;
}

#[tokio::test]
async fn postgres_sso_only() {
    let Some((_db, url)) = enclave_store::testing::fresh_database_url().await else {
        return;
    };
    sso_only(Some(&url)).await;
}

// ---------------------------------------------------------------------------------------------
// Forged answers

async fn set_variant(idp: &Provider, v: &str) {
    let resp = client()
        .get(format!("{}/_variant?v={v}", idp.issuer))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

async fn forged(db: Option<&str>) {
    let Some(idp) = provider("forge", true) else {
        return;
    };
    let server = server_with(
        &provider_toml("forge", &idp.issuer, ", link_by = \"none\""),
        db,
        &[],
    );
    let before = users(&server).await;
    for variant in [
        "tamper",
        "wrong_nonce",
        "wrong_aud",
        "wrong_iss",
        "expired",
        "none",
        "wrong_key",
        "hs256",
    ] {
        set_variant(&idp, variant).await;
        let got = Browser::default()
            .sign_in(&server, "forge", "mallory")
            .await;
        assert_eq!(got.err().as_deref(), Some("sso_failed"), "{variant}");
        assert_eq!(
            users(&server).await,
            before,
            "{variant} changed the accounts"
        );
    }
    let entries = audit_actions(&server).await;
    let refused = entries
        .iter()
        .filter(|e| e["action"] == "sign_in_failed" && e.to_string().contains("ID token refused"))
        .count();
    assert_eq!(refused, 8, "{entries:?}");
    assert!(!entries.iter().any(|e| e["action"] == "identity_linked"));

    // A replayed authorization code: the provider refuses it the second time.
    set_variant(&idp, "ok").await;
    let mut first = Browser::default();
    let auth = first.start(&server, "forge").await;
    let back = first.at_provider(&auth, "mallory").await;
    let landing = first.callback(&server, &back).await;
    assert!(fragment(&landing, "sso_code").is_some(), "{landing}");
    let code = reqwest::Url::parse(&back)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let mut second = Browser::default();
    let auth = second.start(&server, "forge").await;
    let back2 = second.at_provider(&auth, "mallory").await;
    let state2 = reqwest::Url::parse(&back2)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let replay = format!("{PUBLIC}/auth/oidc/forge/callback?code={code}&state={state2}");
    let to = second.callback(&server, &replay).await;
    assert_eq!(fragment(&to, "sso_error").as_deref(), Some("sso_failed"));

    // The harness itself is right: the honest answer signs in.
    let ok = Browser::default()
        .sign_in(&server, "forge", "mallory")
        .await
        .unwrap();
    assert_eq!(ok["user"]["username"], "mallory");
}

#[tokio::test]
async fn sqlite_forged_answers_are_refused() {
    forged(None).await;
}

#[tokio::test]
async fn postgres_forged_answers_are_refused() {
    let Some((_db, url)) = enclave_store::testing::fresh_database_url().await else {
        return;
    };
    forged(Some(&url)).await;
}

// ---------------------------------------------------------------------------------------------
// An unreachable provider

#[tokio::test]
async fn an_unreachable_provider_is_reported() {
    // Nothing listens there; the issuer's host is on the allow-list implicitly, so the refusal
    // is the connection's (the allow-list itself: `enclave_app::outbound` unit tests).
    let server = server_with(&provider_toml("other", "http://127.0.0.1:9", ""), None, &[]);
    let resp = client()
        .get(server.url("/auth/oidc/other/start"))
        .send()
        .await
        .unwrap();
    let to = location(&resp);
    assert_eq!(
        fragment(&to, "sso_error").as_deref(),
        Some("sso_provider_unavailable"),
        "{to}"
    );
    let admin = server.admin_token().await;
    let (_, body) = server.get(Some(&admin), "/api/v1/admin/sso", None).await;
    assert_eq!(body["providers"][0]["discovery_ok"], false, "{body}");
    assert!(
        body["providers"][0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("127.0.0.1")),
        "{body}"
    );
}
