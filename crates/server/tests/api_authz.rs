//! Authorization and input hygiene for every route of the REST API, table-driven, against a
//! real `enclave serve` process:
//!
//! - no credentials, or bad ones, are `401 unauthenticated` on every protected route;
//! - a deactivated user's session and personal access token are `401` everywhere;
//! - a private channel (and a direct conversation) does not exist for non-members, site
//!   administrators included: `404` on every channel and message route;
//! - a non-member of a public channel may read it but gets `403` for every write;
//! - malformed bodies are `400 bad_json` (`415` without a JSON content type), oversized ones
//!   `413`, invalid UTF-8 `400`, and none of them changes anything;
//! - unknown and malformed ids are `404`; other users' tokens are `404`, their messages `403`.
//!
//! Each test builds its own little world (users, channels, messages) on a shared server and
//! compares a snapshot of that world before and after the refused requests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::{
    TestServer, USER_PASSWORD, Value, assert_error, encode_segment, json, s, unique_name,
};
use reqwest::{Method, StatusCode};

/// One route of `enclave_http::api_routes()`, with a path template and a valid body.
///
/// Placeholders: `{channel}`, `{message}`, `{user}`, `{token}`, `{emoji}`, `{file}`, `{role}`,
/// and `{account}`, `{source}` (a sign-in throttle's account key and address).
struct Route {
    method: Method,
    path: &'static str,
    body: Option<fn(&Ids) -> Value>,
}

const fn route(method: Method, path: &'static str, body: Option<fn(&Ids) -> Value>) -> Route {
    Route { method, path, body }
}

/// Routes anyone may call.
const PUBLIC_ROUTES: &[(Method, &str)] = &[
    (Method::GET, "/healthz"),
    (Method::GET, "/readyz"),
    (Method::GET, "/api/v1/openapi.json"),
    (Method::POST, "/api/v1/auth/login"),
    (Method::POST, "/api/v1/auth/login/second-factor"),
    (Method::POST, "/api/v1/auth/login/totp-setup"),
    (Method::POST, "/api/v1/auth/login/webauthn-setup"),
    (Method::GET, "/api/v1/auth/setup"),
    (Method::GET, "/api/v1/auth/providers"),
    (Method::POST, "/api/v1/auth/sso/exchange"),
];

/// Every route that needs a user, in the order of `api_routes()`.
fn protected_routes() -> Vec<Route> {
    vec![
        route(Method::POST, "/api/v1/auth/logout", None),
        route(Method::GET, "/api/v1/users/me/tokens", None),
        route(
            Method::POST,
            "/api/v1/users/me/tokens",
            Some(|_| json!({ "name": "authz token", "scope": "read", "expires_in_days": 1 })),
        ),
        route(Method::DELETE, "/api/v1/users/me/tokens/{token}", None),
        route(Method::GET, "/api/v1/users/me/sessions", None),
        route(Method::DELETE, "/api/v1/users/me/sessions/{token}", None),
        route(Method::POST, "/api/v1/users/me/sessions/end-others", None),
        route(Method::GET, "/api/v1/users/{user}/sessions", None),
        route(Method::DELETE, "/api/v1/users/{user}/sessions", None),
        route(Method::GET, "/api/v1/users/me/app-passwords", None),
        route(
            Method::POST,
            "/api/v1/users/me/app-passwords",
            Some(|_| json!({ "name": "authz app" })),
        ),
        route(
            Method::DELETE,
            "/api/v1/users/me/app-passwords/{token}",
            None,
        ),
        route(Method::GET, "/api/v1/users/me", None),
        route(Method::GET, "/api/v1/users", None),
        route(
            Method::POST,
            "/api/v1/users",
            Some(|i| json!({ "username": i.new_name, "password": USER_PASSWORD })),
        ),
        route(Method::GET, "/api/v1/users/{user}", None),
        route(
            Method::PATCH,
            "/api/v1/users/{user}",
            Some(|_| json!({ "display_name": "Renamed" })),
        ),
        route(Method::GET, "/api/v1/users/{user}/roles", None),
        route(
            Method::PUT,
            "/api/v1/users/{user}/roles",
            Some(|_| json!({ "roles": ["member"] })),
        ),
        route(Method::GET, "/api/v1/admin/roles", None),
        route(
            Method::POST,
            "/api/v1/admin/roles",
            Some(|i| json!({ "name": i.new_name, "permissions": ["upload_files"] })),
        ),
        route(
            Method::PATCH,
            "/api/v1/admin/roles/{role}",
            Some(|_| json!({ "description": "changed" })),
        ),
        route(Method::DELETE, "/api/v1/admin/roles/{role}", None),
        route(
            Method::POST,
            "/api/v1/admin/guests",
            Some(|i| {
                json!({
                    "username": i.new_name,
                    "password": USER_PASSWORD,
                    "expires_at": common::rfc3339_in(30 * 86_400),
                    "channel_ids": [i.public],
                })
            }),
        ),
        route(Method::GET, "/api/v1/channels", None),
        route(
            Method::POST,
            "/api/v1/channels",
            Some(|i| json!({ "name": i.new_name, "kind": "public" })),
        ),
        route(Method::GET, "/api/v1/channels/browse", None),
        route(Method::GET, "/api/v1/channels/{channel}", None),
        route(
            Method::PATCH,
            "/api/v1/channels/{channel}",
            Some(|_| json!({ "topic": "new topic" })),
        ),
        route(Method::POST, "/api/v1/channels/{channel}/join", None),
        route(Method::POST, "/api/v1/channels/{channel}/leave", None),
        route(Method::GET, "/api/v1/channels/{channel}/members", None),
        route(
            Method::POST,
            "/api/v1/channels/{channel}/members",
            Some(|i| json!({ "user_id": i.invitee })),
        ),
        route(
            Method::DELETE,
            "/api/v1/channels/{channel}/members/{user}",
            None,
        ),
        route(
            Method::PATCH,
            "/api/v1/channels/{channel}/members/{user}",
            Some(|_| json!({ "role": "admin" })),
        ),
        route(
            Method::POST,
            "/api/v1/dms",
            Some(|i| json!({ "user_ids": [i.invitee] })),
        ),
        route(
            Method::POST,
            "/api/v1/channels/{channel}/read",
            Some(|_| json!({ "seq": 1 })),
        ),
        route(Method::GET, "/api/v1/channels/{channel}/messages", None),
        route(
            Method::POST,
            "/api/v1/channels/{channel}/messages",
            Some(|_| json!({ "text": "hello" })),
        ),
        route(Method::GET, "/api/v1/channels/{channel}/pins", None),
        route(Method::GET, "/api/v1/messages/{message}", None),
        route(
            Method::PATCH,
            "/api/v1/messages/{message}",
            Some(|_| json!({ "text": "edited" })),
        ),
        route(Method::DELETE, "/api/v1/messages/{message}", None),
        route(Method::GET, "/api/v1/messages/{message}/thread", None),
        route(
            Method::PUT,
            "/api/v1/messages/{message}/reactions/{emoji}",
            None,
        ),
        route(
            Method::DELETE,
            "/api/v1/messages/{message}/reactions/{emoji}",
            None,
        ),
        route(Method::PUT, "/api/v1/messages/{message}/pin", None),
        route(Method::DELETE, "/api/v1/messages/{message}/pin", None),
        // The upload body is raw bytes, not JSON: the body tests below do not apply to it
        // (its limits are tested in files.rs); sent here without a body, it stores an empty file.
        route(Method::POST, "/api/v1/files", None),
        route(Method::GET, "/api/v1/files/{file}", None),
        route(Method::GET, "/api/v1/files/{file}/info", None),
        route(Method::GET, "/api/v1/files/{file}/thumbnail", None),
        route(Method::GET, "/api/v1/search", None),
        route(Method::GET, "/api/v1/search/channels", None),
        route(Method::GET, "/api/v1/ws", None),
        route(Method::GET, "/api/v1/events", None),
        route(Method::GET, "/api/v1/presence", None),
        // Second factors (tests/second_factor.rs tests them).
        route(Method::GET, "/api/v1/users/me/second-factor", None),
        route(Method::POST, "/api/v1/users/me/second-factor/totp", None),
        // These succeed only with an authenticator app being set up or set up, so the body
        // tests here (which expect a valid body to succeed) leave them out; second_factor.rs
        // sends them bad bodies.
        route(
            Method::POST,
            "/api/v1/users/me/second-factor/totp/confirm",
            None,
        ),
        route(Method::POST, "/api/v1/users/me/second-factor/disable", None),
        route(
            Method::POST,
            "/api/v1/users/me/second-factor/recovery-codes",
            None,
        ),
        // Security keys (tests/webauthn.rs tests them; their bodies need a browser's answer or
        // a password, so the body tests here leave them out).
        route(Method::GET, "/api/v1/users/me/second-factor/webauthn", None),
        route(
            Method::POST,
            "/api/v1/users/me/second-factor/webauthn/registrations",
            None,
        ),
        route(
            Method::POST,
            "/api/v1/users/me/second-factor/webauthn/registrations/{registration}",
            None,
        ),
        route(
            Method::PATCH,
            "/api/v1/users/me/second-factor/webauthn/{key}",
            None,
        ),
        route(
            Method::POST,
            "/api/v1/users/me/second-factor/webauthn/{key}/remove",
            None,
        ),
        route(Method::DELETE, "/api/v1/users/{user}/second-factor", None),
        route(Method::GET, "/api/v1/admin/second-factor", None),
        route(
            Method::PUT,
            "/api/v1/admin/second-factor",
            Some(|_| json!({ "require": "off", "grace_days": 7 })),
        ),
        // Sign-in throttles (administrators; tests/lockout.rs tests them).
        route(Method::GET, "/api/v1/admin/lockouts", None),
        route(Method::DELETE, "/api/v1/admin/lockouts/{account}", None),
        route(
            Method::DELETE,
            "/api/v1/admin/lockouts/{account}/{source}",
            None,
        ),
        // Backups (administrators; tests/backup.rs tests them).
        route(Method::GET, "/api/v1/admin/backups", None),
        route(Method::POST, "/api/v1/admin/backups", None),
        // Retention and legal holds (administrators; tests/retention.rs tests them). The
        // policies keep everything; the hold starts far in the future and keeps nothing.
        route(Method::GET, "/api/v1/admin/retention", None),
        route(
            Method::PUT,
            "/api/v1/admin/retention",
            Some(|_| json!({ "message_days": null, "dm_days": null })),
        ),
        route(
            Method::PUT,
            "/api/v1/admin/retention/channels/{retained}",
            Some(|_| json!({ "days": null })),
        ),
        route(
            Method::DELETE,
            "/api/v1/admin/retention/channels/{retained}",
            None,
        ),
        route(Method::POST, "/api/v1/admin/retention/run", None),
        route(Method::GET, "/api/v1/admin/holds", None),
        route(
            Method::POST,
            "/api/v1/admin/holds",
            Some(
                |i| json!({ "user_id": i.user, "starts_at": "2999-01-01T00:00:00Z", "reason": "authz" }),
            ),
        ),
        route(Method::DELETE, "/api/v1/admin/holds/{hold}", None),
        // Bots and incoming webhooks (tests/bots.rs and tests/webhooks.rs test them).
        route(Method::GET, "/api/v1/bots", None),
        route(
            Method::POST,
            "/api/v1/bots",
            Some(|i| json!({ "username": format!("{}bot", i.new_name), "display_name": "Bot" })),
        ),
        route(Method::POST, "/api/v1/bots/{bot}/token", None),
        route(
            Method::POST,
            "/api/v1/channels/{channel}/webhooks",
            Some(|_| json!({ "name": "Alerts" })),
        ),
        route(Method::GET, "/api/v1/webhooks", None),
        route(Method::POST, "/api/v1/webhooks/{webhook}/rotate", None),
        route(Method::DELETE, "/api/v1/webhooks/{webhook}", None),
        // Outgoing webhooks (tests/outgoing_webhooks.rs tests them).
        route(Method::GET, "/api/v1/webhooks/outgoing", None),
        route(
            Method::POST,
            "/api/v1/webhooks/outgoing",
            Some(
                |i| json!({ "channel_id": i.channel, "name": "Out", "url": "https://hooks.example.org/x" }),
            ),
        ),
        route(
            Method::POST,
            "/api/v1/webhooks/outgoing/{webhook}/rotate",
            None,
        ),
        route(Method::DELETE, "/api/v1/webhooks/outgoing/{webhook}", None),
        route(
            Method::GET,
            "/api/v1/webhooks/outgoing/{webhook}/deliveries",
            None,
        ),
        // Slash commands (tests/commands.rs tests them).
        route(
            Method::POST,
            "/api/v1/channels/{channel}/commands",
            Some(|_| json!({ "text": "/help" })),
        ),
        route(Method::GET, "/api/v1/commands", None),
        route(Method::GET, "/api/v1/commands/custom", None),
        route(
            Method::POST,
            "/api/v1/commands/custom",
            Some(|i| {
                let trigger: String = i
                    .new_name
                    .to_lowercase()
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .take(30)
                    .collect();
                json!({ "trigger": format!("c{trigger}"), "url": "https://hooks.example.org/x" })
            }),
        ),
        route(
            Method::POST,
            "/api/v1/commands/custom/{webhook}/rotate",
            None,
        ),
        route(Method::DELETE, "/api/v1/commands/custom/{webhook}", None),
        route(Method::GET, "/api/v1/admin/audit", None),
        route(Method::GET, "/api/v1/admin/audit/export", None),
        // Identity providers and the directory sync (tests/ldap.rs tests them with slapd).
        route(Method::GET, "/api/v1/admin/identity-providers", None),
        route(Method::GET, "/api/v1/admin/sso", None),
        route(
            Method::POST,
            "/api/v1/admin/identity-providers/{provider}/sync",
            // No provider is configured here, so a valid body is a 404: the body tests below
            // leave it out, and tests/ldap.rs sends it bad bodies for a real provider.
            None,
        ),
        route(Method::GET, "/api/v1/departments", None),
        route(
            Method::POST,
            "/api/v1/departments",
            Some(|i| json!({ "name": i.new_name, "parent_id": i.department })),
        ),
        route(
            Method::PATCH,
            "/api/v1/departments/{department}",
            Some(|_| json!({ "position": 1 })),
        ),
        route(Method::DELETE, "/api/v1/departments/{department}", None),
        route(
            Method::GET,
            "/api/v1/departments/{department}/members",
            None,
        ),
        route(
            Method::PUT,
            "/api/v1/departments/{department}/members/{user}",
            Some(|_| json!({ "title": "Engineer" })),
        ),
        route(
            Method::DELETE,
            "/api/v1/departments/{department}/members/{user}",
            None,
        ),
        route(
            Method::PUT,
            "/api/v1/departments/{department}/channels/{linked}",
            Some(|_| json!({ "include_subdepartments": false })),
        ),
        route(
            Method::DELETE,
            "/api/v1/departments/{department}/channels/{linked}",
            None,
        ),
        route(Method::GET, "/api/v1/directory/search", None),
        route(Method::GET, "/api/v1/users/{user}/card", None),
        route(
            Method::PUT,
            "/api/v1/users/{user}/manager",
            Some(|_| json!({ "manager_id": null })),
        ),
    ]
}

/// The values substituted into a route's path and body.
#[derive(Clone, Debug)]
struct Ids {
    channel: String,
    message: String,
    user: String,
    token: String,
    emoji: String,
    /// A user to invite or to open a conversation with.
    invitee: String,
    /// A name for things created by POST (a user, a channel); nothing by that name exists.
    new_name: String,
    /// An image shared in the channel.
    file: String,
    /// A custom role.
    role: String,
    /// A public channel (guests are invited into it).
    public: String,
    /// A department (the owner administers it; owner and member are in it).
    department: String,
}

impl Route {
    fn path(&self, ids: &Ids) -> String {
        self.path
            .replace("{channel}", &ids.channel)
            .replace("{message}", &ids.message)
            .replace("{user}", &ids.user)
            .replace("{token}", &ids.token)
            .replace("{emoji}", &encode_segment(&ids.emoji))
            .replace("{file}", &ids.file)
            .replace("{account}", "nobody-throttled")
            .replace("{source}", "192.0.2.1")
            .replace("{role}", &ids.role)
            .replace("{department}", &ids.department)
            .replace("{linked}", &ids.channel)
            .replace("{provider}", "corp")
            .replace("{registration}", "wr_unknown")
            .replace("{key}", "999999")
            .replace("{bot}", "999999")
            .replace("{webhook}", "999999")
            .replace("{hold}", "999999")
            .replace("{retained}", &ids.public)
    }

    fn name(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    fn about_channel_or_message(&self) -> bool {
        self.path.contains("{channel}")
            || self.path.contains("{message}")
            || self.path.contains("{file}")
    }

    /// The not-found code for a channel, message or file route.
    fn hidden_code(&self) -> &'static str {
        if self.path.contains("{file}") {
            "file_not_found"
        } else if self.path.contains("{message}") {
            "message_not_found"
        } else {
            "channel_not_found"
        }
    }
}

/// A user with a session token.
#[derive(Clone)]
struct User {
    id: String,
    name: String,
    token: String,
}

async fn user(server: &TestServer, prefix: &str) -> User {
    let name = unique_name(prefix);
    let (id, token) = server.create_user(&name).await;
    User { id, name, token }
}

/// The current token's id.
async fn token_id(server: &TestServer, token: &str) -> String {
    let (status, list) = server
        .get(Some(token), "/api/v1/users/me/tokens", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let current = list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["current"] == true)
        .expect("current token");
    s(current, "id")
}

/// A small world: an owner and a member share a private channel (with a thread, a reaction
/// and a pin), a public channel and a direct conversation; a stranger and the site
/// administrator belong to none of them.
struct World {
    owner: User,
    member: User,
    stranger: User,
    admin: String,
    private: String,
    public: String,
    dm: String,
    /// The owner's root message in the private channel, with one reply by the member.
    private_msg: String,
    private_reply: String,
    /// The owner's message in the public channel.
    public_msg: String,
    /// Images the owner shared in the private and the public channel.
    private_file: String,
    public_file: String,
    /// False once a test deactivates the member (their views are then left out of snapshots).
    member_active: bool,
    /// A custom role made by the administrator.
    role: String,
    /// A department the owner administers, with the owner and the member in it.
    department: String,
}

impl World {
    async fn build(server: &TestServer) -> World {
        let owner = user(server, "owner").await;
        let member = user(server, "member").await;
        let stranger = user(server, "stranger").await;
        let admin = server.admin_token().await;
        let private = server
            .create_channel(&owner.token, &unique_name("authz private"), "private")
            .await;
        let public = server
            .create_channel(&owner.token, &unique_name("authz public"), "public")
            .await;
        server.add_member(&owner.token, &private, &member.id).await;
        server.add_member(&owner.token, &public, &member.id).await;
        let (status, dm) = server
            .post(
                Some(&owner.token),
                "/api/v1/dms",
                Some(json!({ "user_ids": [member.id] })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{dm}");
        let dm = s(&dm, "id");
        server
            .post_message(&member.token, &dm, "private words")
            .await;

        let private_msg = s(
            &server
                .post_message(&owner.token, &private, "the plan")
                .await,
            "id",
        );
        let (status, reply) = server
            .post(
                Some(&member.token),
                &format!("/api/v1/channels/{private}/messages"),
                Some(json!({ "text": "agreed", "thread_root_id": private_msg })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{reply}");
        let private_reply = s(&reply, "id");
        let public_msg = s(
            &server
                .post_message(&owner.token, &public, "hello all")
                .await,
            "id",
        );
        for m in [&private_msg, &public_msg] {
            let (status, _) = server
                .put(
                    Some(&owner.token),
                    &format!("/api/v1/messages/{m}/reactions/{}", encode_segment("👍")),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::OK);
            let (status, _) = server
                .put(
                    Some(&owner.token),
                    &format!("/api/v1/messages/{m}/pin"),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::OK);
        }
        let mut files = Vec::new();
        for ch in [&private, &public] {
            let img = image::RgbImage::from_pixel(40, 30, image::Rgb([200, 10, 10]));
            let mut png = std::io::Cursor::new(Vec::new());
            img.write_to(&mut png, image::ImageFormat::Png).unwrap();
            let bearer = format!("Bearer {}", owner.token);
            let (status, f) = server
                .request_raw(
                    Method::POST,
                    "/api/v1/files?name=red.png",
                    &[("authorization", &bearer)],
                    Some(png.into_inner()),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{f}");
            let id = s(&f, "id");
            let (status, m) = server
                .post(
                    Some(&owner.token),
                    &format!("/api/v1/channels/{ch}/messages"),
                    Some(json!({ "text": "a picture", "file_ids": [id] })),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{m}");
            files.push(id);
        }
        let public_file = files.pop().unwrap();
        let private_file = files.pop().unwrap();
        let (status, role) = server
            .post(
                Some(&admin),
                "/api/v1/admin/roles",
                Some(json!({ "name": unique_name("authz role"), "permissions": ["upload_files"] })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{role}");
        let role = s(&role, "id");
        let (status, d) = server
            .post(
                Some(&admin),
                "/api/v1/departments",
                Some(json!({ "name": unique_name("authz dept") })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{d}");
        let department = s(&d, "id");
        for u in [&owner, &member] {
            let (status, body) = server
                .put(
                    Some(&admin),
                    &format!("/api/v1/departments/{department}/members/{}", u.id),
                    Some(json!({ "title": "staff" })),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        let (status, body) = server
            .patch(
                Some(&admin),
                &format!("/api/v1/departments/{department}"),
                Some(json!({ "admins": [owner.id] })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        World {
            owner,
            member,
            stranger,
            admin,
            private,
            public,
            dm,
            private_msg,
            private_reply,
            public_msg,
            private_file,
            public_file,
            member_active: true,
            role,
            department,
        }
    }

    /// Ids that point into the private channel, as seen by `token`'s owner.
    async fn private_ids(&self, server: &TestServer, token: &str) -> Ids {
        Ids {
            channel: self.private.clone(),
            message: self.private_msg.clone(),
            user: self.owner.id.clone(),
            token: token_id(server, token).await,
            emoji: "👍".into(),
            invitee: self.stranger.id.clone(),
            new_name: unique_name("never"),
            file: self.private_file.clone(),
            role: self.role.clone(),
            public: self.public.clone(),
            department: self.department.clone(),
        }
    }

    /// Everything about the world that a request could change, as its members see it.
    async fn snapshot(&self, server: &TestServer) -> Value {
        let mut out = serde_json::Map::new();
        let mut grab = async |key: &str, token: &str, path: String| {
            let (status, body) = server.get(Some(token), &path, None).await;
            assert_eq!(status, StatusCode::OK, "snapshot {key}: GET {path}: {body}");
            out.insert(key.to_owned(), strip_volatile(body));
        };
        let o = &self.owner.token;
        for (who, u) in [
            ("owner", &self.owner),
            ("member", &self.member),
            ("stranger", &self.stranger),
        ] {
            grab(
                &format!("{who} account"),
                &self.admin,
                format!("/api/v1/users/{}", u.id),
            )
            .await;
            if who == "member" && !self.member_active {
                continue;
            }
            grab(
                &format!("{who} channels"),
                &u.token,
                "/api/v1/channels".into(),
            )
            .await;
            grab(
                &format!("{who} tokens"),
                &u.token,
                "/api/v1/users/me/tokens".into(),
            )
            .await;
        }
        for (what, ch) in [("private", &self.private), ("public", &self.public)] {
            grab(
                &format!("{what} channel"),
                o,
                format!("/api/v1/channels/{ch}"),
            )
            .await;
            grab(
                &format!("{what} members"),
                o,
                format!("/api/v1/channels/{ch}/members"),
            )
            .await;
            grab(
                &format!("{what} history"),
                o,
                format!("/api/v1/channels/{ch}/messages?include_replies=true&limit=200"),
            )
            .await;
            grab(
                &format!("{what} pins"),
                o,
                format!("/api/v1/channels/{ch}/pins"),
            )
            .await;
        }
        grab("departments", &self.admin, "/api/v1/departments".into()).await;
        grab(
            "department members",
            &self.admin,
            format!("/api/v1/departments/{}/members", self.department),
        )
        .await;
        grab(
            "dm history",
            o,
            format!("/api/v1/channels/{}/messages", self.dm),
        )
        .await;
        grab(
            "thread",
            o,
            format!("/api/v1/messages/{}/thread", self.private_msg),
        )
        .await;
        Value::Object(out)
    }

    async fn assert_unchanged(&self, server: &TestServer, before: &Value, context: &str) {
        let after = self.snapshot(server).await;
        if &after != before {
            let (Value::Object(b), Value::Object(a)) = (before, &after) else {
                unreachable!()
            };
            let changed: Vec<String> = b
                .iter()
                .filter(|(k, v)| a.get(*k) != Some(*v))
                .map(|(k, v)| format!("{k}:\n  before {v}\n  after  {}", a[k]))
                .collect();
            panic!("{context} changed the world:\n{}", changed.join("\n"));
        }
    }
}

/// Drops fields that change without any request changing them (token use times).
fn strip_volatile(mut v: Value) -> Value {
    match &mut v {
        Value::Object(m) => {
            m.remove("last_used_at");
            for x in m.values_mut() {
                *x = strip_volatile(x.take());
            }
        }
        Value::Array(a) => {
            for x in a.iter_mut() {
                *x = strip_volatile(x.take());
            }
        }
        _ => {}
    }
    v
}

/// Sends `route` with `headers` and, when it has one, its valid body.
async fn send(
    server: &TestServer,
    route: &Route,
    ids: &Ids,
    headers: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut all: Vec<(&str, &str)> = headers.to_vec();
    let body = route.body.map(|b| serde_json::to_vec(&b(ids)).unwrap());
    if body.is_some() {
        all.push(("content-type", "application/json"));
    }
    server
        .request_raw(route.method.clone(), &route.path(ids), &all, body)
        .await
}

#[track_caller]
fn expect(context: &str, got: &(StatusCode, Value), status: u16, codes: &[&str]) {
    assert_eq!(
        got.0.as_u16(),
        status,
        "{context}: wrong status; body {}",
        got.1
    );
    assert_error(
        context,
        &got.1,
        got.1["error"]["code"].as_str().unwrap_or("(none)"),
    );
    let code = got.1["error"]["code"].as_str().unwrap_or_default();
    assert!(
        codes.contains(&code),
        "{context}: error code {code:?}, expected one of {codes:?}; body {}",
        got.1
    );
}

#[tokio::test]
async fn the_route_table_covers_the_whole_api() {
    let server = TestServer::shared();
    let (status, doc) = server.get(None, "/api/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete", "head", "options"] {
            if item.get(method).is_some() {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    // The table's placeholders, spelled as in the document.
    let doc_path = |p: &str| {
        p.replace(
            "channels/{channel}/members/{user}",
            "channels/{id}/members/{user_id}",
        )
        .replace(
            "departments/{department}/members/{user}",
            "departments/{id}/members/{user_id}",
        )
        .replace("{linked}", "{channel_id}")
        .replace("{provider}", "{id}")
        .replace("{department}", "{id}")
        .replace("{channel}", "{id}")
        .replace("{message}", "{id}")
        .replace("{user}", "{id}")
        .replace("{token}", "{id}")
        .replace("{file}", "{id}")
        .replace("{role}", "{id}")
        .replace("{registration}", "{id}")
        .replace("{key}", "{id}")
        .replace("{bot}", "{id}")
        .replace("{webhook}", "{id}")
        .replace("{hold}", "{id}")
        .replace("{retained}", "{id}")
    };
    let mut tabled = BTreeSet::new();
    for r in protected_routes() {
        assert!(
            tabled.insert((r.method.to_string(), doc_path(r.path))),
            "{} is in the table twice",
            r.name()
        );
    }
    for (m, p) in PUBLIC_ROUTES {
        assert!(tabled.insert((m.to_string(), (*p).to_owned())));
    }
    let missing: Vec<_> = documented.difference(&tabled).collect();
    assert!(
        missing.is_empty(),
        "routes without authorization tests: {missing:?}"
    );
    let extra: Vec<_> = tabled.difference(&documented).collect();
    assert!(
        extra.is_empty(),
        "tested routes that the API does not have: {extra:?}"
    );
}

#[tokio::test]
async fn without_valid_credentials_every_protected_route_is_401() {
    let server = TestServer::shared();
    let w = World::build(&server).await;
    let ids = w.private_ids(&server, &w.owner.token).await;
    // A session that has ended.
    let ended = server.login_token(&w.stranger.name, USER_PASSWORD).await;
    let (status, _) = server.post(Some(&ended), "/api/v1/auth/logout", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let unknown = format!("enc_{}", "A".repeat(43));
    let ended_bearer = format!("Bearer {ended}");
    let unknown_bearer = format!("Bearer {unknown}");
    let unknown_cookie = format!("enclave_session={unknown}");
    let origin = server.base_url();
    let credentials: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("no credentials", vec![]),
        (
            "a garbage bearer token",
            vec![("authorization", "Bearer garbage")],
        ),
        ("an empty bearer token", vec![("authorization", "Bearer ")]),
        (
            "a well-formed unknown token",
            vec![("authorization", &unknown_bearer)],
        ),
        (
            "a logged-out session",
            vec![("authorization", &ended_bearer)],
        ),
        (
            "Basic credentials",
            vec![("authorization", "Basic YWRtaW46YWRtaW4tcGFzc3dvcmQtMQ==")],
        ),
        (
            "an unknown session cookie",
            vec![("cookie", &unknown_cookie), ("origin", &origin)],
        ),
    ];
    let before = w.snapshot(&server).await;
    for r in protected_routes() {
        for (what, headers) in &credentials {
            let got = send(&server, &r, &ids, headers).await;
            expect(
                &format!("{} with {what}", r.name()),
                &got,
                401,
                &["unauthenticated"],
            );
        }
        // Authentication comes before the body: a bad body does not reveal anything either.
        if r.body.is_some() {
            let got = server
                .request_raw(
                    r.method.clone(),
                    &r.path(&ids),
                    &[("content-type", "application/json")],
                    Some(b"{".to_vec()),
                )
                .await;
            expect(
                &format!("{} without credentials and a broken body", r.name()),
                &got,
                401,
                &["unauthenticated"],
            );
        }
    }
    w.assert_unchanged(&server, &before, "unauthenticated requests")
        .await;
}

#[tokio::test]
async fn a_deactivated_users_tokens_are_401_everywhere() {
    let server = TestServer::shared();
    let mut w = World::build(&server).await;
    // The member is deactivated; their session and a personal access token stop working.
    let (status, pat) = server
        .post(
            Some(&w.member.token),
            "/api/v1/users/me/tokens",
            Some(json!({ "name": "script", "scope": "write", "expires_in_days": 30 })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{pat}");
    let pat = s(&pat, "token");
    let mut ids = w.private_ids(&server, &w.member.token).await;
    ids.user = w.member.id.clone();
    ids.message = w.private_reply.clone();
    let (status, body) = server
        .patch(
            Some(&w.admin),
            &format!("/api/v1/users/{}", w.member.id),
            Some(json!({ "active": false })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    w.member_active = false;

    let before = w.snapshot(&server).await;
    for r in protected_routes() {
        for (what, token) in [
            ("session", &w.member.token),
            ("personal access token", &pat),
        ] {
            let bearer = format!("Bearer {token}");
            let got = send(&server, &r, &ids, &[("authorization", &bearer)]).await;
            expect(
                &format!("{} with a deactivated user's {what}", r.name()),
                &got,
                401,
                &["unauthenticated"],
            );
        }
    }
    w.assert_unchanged(&server, &before, "a deactivated user's requests")
        .await;
}

#[tokio::test]
async fn private_channels_and_dms_do_not_exist_for_non_members() {
    let server = TestServer::shared();
    let w = World::build(&server).await;
    let before = w.snapshot(&server).await;
    for (who, token) in [
        ("a stranger", &w.stranger.token),
        ("the site administrator", &w.admin),
    ] {
        let base = w.private_ids(&server, token).await;
        let targets = [
            ("the private channel", base.clone()),
            (
                "a reply in the private channel",
                Ids {
                    message: w.private_reply.clone(),
                    ..base.clone()
                },
            ),
            (
                "a direct conversation",
                Ids {
                    channel: w.dm.clone(),
                    ..base.clone()
                },
            ),
        ];
        for r in protected_routes()
            .into_iter()
            .filter(Route::about_channel_or_message)
        {
            for (what, ids) in &targets {
                if what.contains("reply") && !r.path.contains("{message}") {
                    continue;
                }
                if what.contains("direct") && !r.path.contains("{channel}") {
                    continue;
                }
                let bearer = format!("Bearer {token}");
                let got = send(&server, &r, ids, &[("authorization", &bearer)]).await;
                expect(
                    &format!("{} on {what} by {who}", r.name()),
                    &got,
                    404,
                    &[r.hidden_code()],
                );
            }
        }
        // Nor does it show up in their lists.
        let (_, mine) = server.get(Some(token), "/api/v1/channels", None).await;
        let (_, browse) = server
            .get(
                Some(token),
                "/api/v1/channels/browse?include_archived=true&limit=200",
                None,
            )
            .await;
        for list in [&mine, &browse] {
            let listed: Vec<&Value> = list["channels"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| &c["id"])
                .collect();
            assert!(
                !listed.contains(&&json!(w.private)) && !listed.contains(&&json!(w.dm)),
                "{who} lists a hidden channel: {list}"
            );
        }
    }
    w.assert_unchanged(
        &server,
        &before,
        "non-members' requests on a private channel",
    )
    .await;
}

#[tokio::test]
async fn a_public_channel_is_readable_but_not_writable_by_non_members() {
    let server = TestServer::shared();
    let w = World::build(&server).await;
    let mut ids = w.private_ids(&server, &w.stranger.token).await;
    ids.channel = w.public.clone();
    ids.message = w.public_msg.clone();
    ids.file = w.public_file.clone();
    ids.user = w.member.id.clone();
    ids.invitee = w.stranger.id.clone();
    let bearer = format!("Bearer {}", w.stranger.token);
    let before = w.snapshot(&server).await;
    for r in protected_routes()
        .into_iter()
        .filter(Route::about_channel_or_message)
    {
        let (status, codes): (u16, &[&str]) = match (r.method.as_str(), r.path) {
            ("GET", _) => (200, &[]),
            // Joining is what a non-member may do; it is tested in api_flow.
            (_, "/api/v1/channels/{channel}/join") => continue,
            (_, "/api/v1/channels/{channel}/leave") => (404, &["member_not_found"]),
            _ => (403, &["forbidden"]),
        };
        let got = send(&server, &r, &ids, &[("authorization", &bearer)]).await;
        let context = format!("{} on a public channel by a non-member", r.name());
        if status == 200 {
            assert_eq!(got.0, StatusCode::OK, "{context}: {}", got.1);
        } else {
            expect(&context, &got, status, codes);
        }
    }
    w.assert_unchanged(
        &server,
        &before,
        "a non-member's requests on a public channel",
    )
    .await;
}

/// The texts of a search's results, and the whole answer.
async fn search_texts(server: &TestServer, token: &str, q: &str) -> (Vec<String>, Value) {
    let (status, body) = server
        .get(
            Some(token),
            &format!("/api/v1/search?q={}", encode_segment(q)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "search {q:?}: {body}");
    let mut texts: Vec<String> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| s(&r["message"], "text"))
        .collect();
    texts.sort();
    (texts, body)
}

/// Search covers the channels one is a member of, direct conversations included, and nothing
/// else: not a private channel or a conversation of others (site administrators included), not
/// even a public channel one has not joined. Bad queries are `400 invalid_field`.
#[tokio::test]
async fn search_finds_only_what_one_may_read() {
    let server = TestServer::shared();
    let w = World::build(&server).await;
    let word: String = unique_name("kw")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    for ch in [&w.private, &w.dm, &w.public] {
        server
            .post_message(&w.owner.token, ch, &format!("{word} 会议纪要 in here"))
            .await;
    }
    for (who, token, n) in [
        ("the owner", &w.owner.token, 3),
        ("the member", &w.member.token, 3),
        ("a stranger", &w.stranger.token, 0),
        ("the site administrator", &w.admin, 0),
    ] {
        for q in [
            word.clone(),
            format!("{word} 会议"),
            format!("\"{word} 会议纪要\""),
        ] {
            let (texts, body) = search_texts(&server, token, &q).await;
            assert_eq!(texts.len(), n, "{who} searching {q:?}: {body}");
        }
        let (_, body) = server
            .get(
                Some(token),
                &format!(
                    "/api/v1/search/channels?q={}",
                    encode_segment("authz private")
                ),
                None,
            )
            .await;
        let listed: Vec<&Value> = body["channels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| &c["channel"]["id"])
            .collect();
        assert_eq!(
            listed.contains(&&json!(w.private)),
            n > 0,
            "{who}'s quick switcher: {body}"
        );
    }
    // Joining the public channel makes its messages searchable.
    let (status, body) = server
        .post(
            Some(&w.stranger.token),
            &format!("/api/v1/channels/{}/join", w.public),
            None,
        )
        .await;
    assert!(status.is_success(), "{body}");
    let (texts, body) = search_texts(&server, &w.stranger.token, &word).await;
    assert_eq!(texts.len(), 1, "{body}");
    let hit = &body["results"][0];
    assert_eq!(hit["channel"]["id"], json!(w.public));
    assert_eq!(hit["channel"]["kind"], json!("public"));
    assert_eq!(hit["message"]["channel_id"], json!(w.public));
    assert_eq!(body["next_offset"], Value::Null);
    // The snippet marks the hits; its text is the message's.
    let (_, body) = search_texts(&server, &w.stranger.token, &format!("{word} 会议")).await;
    let snippet = body["results"][0]["snippet"].as_array().unwrap();
    let whole: String = snippet.iter().map(|p| s(p, "text")).collect();
    assert_eq!(whole, format!("{word} 会议纪要 in here"));
    let hits: Vec<String> = snippet
        .iter()
        .filter(|p| p["hit"] == json!(true))
        .map(|p| s(p, "text"))
        .collect();
    assert_eq!(hits, vec![word.clone(), "会议".to_owned()]);

    // Paging: limit and next_offset.
    let (status, body) = server
        .get(
            Some(&w.owner.token),
            &format!("/api/v1/search?q={word}&limit=2"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["results"].as_array().unwrap().len(), 2);
    assert_eq!(body["next_offset"], json!(2));
    let (_, body) = server
        .get(
            Some(&w.owner.token),
            &format!("/api/v1/search?q={word}&limit=2&offset=2"),
            None,
        )
        .await;
    assert_eq!(body["results"].as_array().unwrap().len(), 1);
    assert_eq!(body["next_offset"], Value::Null);

    let long = "a ".repeat(300);
    for (query, code) in [
        ("/api/v1/search".to_owned(), "invalid_field"),
        ("/api/v1/search?q=%20".to_owned(), "invalid_field"),
        (
            "/api/v1/search?q=before%3A2026-13-01".to_owned(),
            "invalid_field",
        ),
        ("/api/v1/search?q=from%3A%40".to_owned(), "invalid_field"),
        (
            format!("/api/v1/search?q={}", encode_segment(&long)),
            "invalid_field",
        ),
        ("/api/v1/search?q=x&limit=0".to_owned(), "invalid_field"),
        ("/api/v1/search?q=x&limit=101".to_owned(), "invalid_field"),
        ("/api/v1/search?q=x&offset=1001".to_owned(), "invalid_field"),
        ("/api/v1/search?q=x&limit=abc".to_owned(), "bad_request"),
        ("/api/v1/search?q=x&offset=-1".to_owned(), "bad_request"),
        ("/api/v1/search/channels".to_owned(), "invalid_field"),
        (
            format!("/api/v1/search/channels?q={}", "x".repeat(65)),
            "invalid_field",
        ),
        (
            "/api/v1/search/channels?q=x&limit=0".to_owned(),
            "invalid_field",
        ),
    ] {
        let got = server.get(Some(&w.owner.token), &query, None).await;
        expect(&format!("GET {query}"), &got, 400, &[code]);
    }
}

/// A malformed request body and the answer it must get.
struct BadBody {
    what: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
}

/// A body with a JSON content type that must be refused as `400 bad_json`.
fn bad_json(what: &str, body: &[u8]) -> BadBody {
    BadBody {
        what: what.to_owned(),
        content_type: Some("application/json"),
        body: body.to_vec(),
        status: 400,
        code: "bad_json",
    }
}

/// A body without a JSON content type, refused as `415 unsupported_media_type`.
fn not_json(what: &str, content_type: Option<&'static str>, body: &[u8]) -> BadBody {
    BadBody {
        what: what.to_owned(),
        content_type,
        body: body.to_vec(),
        status: 415,
        code: "unsupported_media_type",
    }
}

/// Malformed variants of `route`'s body: broken JSON, wrong content types, and shapes with
/// missing fields or wrong types for this route.
fn malformed_bodies(route: &Route) -> Vec<BadBody> {
    let mut out = vec![
        bad_json("invalid JSON", b"{\"text\": "),
        bad_json("an empty body", b""),
        bad_json("a JSON array", b"[]"),
        bad_json("JSON null", b"null"),
        bad_json("a JSON string", b"\"hello\""),
        bad_json("trailing garbage", b"{} {}"),
        bad_json(
            "invalid UTF-8",
            b"{\"name\": \"\xff\xfe\", \"text\": \"\xc3\x28\"}",
        ),
        not_json("no content type", None, b"{}"),
        not_json("text/plain", Some("text/plain"), b"{}"),
        not_json(
            "a form",
            Some("application/x-www-form-urlencoded"),
            b"text=hi",
        ),
    ];
    let shapes: &[&str] = match route.path {
        "/api/v1/bots" => &[
            r#"{}"#,
            r#"{"username": 5}"#,
            r#"{"username": null}"#,
            r#"{"display_name": "Bot"}"#,
        ],
        "/api/v1/channels/{channel}/webhooks" => &[r#"{}"#, r#"{"name": 5}"#, r#"{"name": null}"#],
        "/api/v1/channels/{channel}/commands" => &[r#"{}"#, r#"{"text": 5}"#, r#"{"text": null}"#],
        "/api/v1/commands/custom" => &[
            r#"{}"#,
            r#"{"trigger": "x"}"#,
            r#"{"trigger": 5, "url": "https://a.example/x"}"#,
            r#"{"trigger": "x", "url": null}"#,
        ],
        "/api/v1/webhooks/outgoing" => &[
            r#"{}"#,
            r#"{"name": "x", "url": "https://a.example/x"}"#,
            r#"{"channel_id": "1", "name": 5, "url": "https://a.example/x"}"#,
            r#"{"channel_id": "1", "name": "x", "url": null}"#,
            r#"{"channel_id": "1", "name": "x", "url": "https://a.example/x", "trigger_words": "deploy"}"#,
            r#"{"channel_id": "1", "name": "x", "url": "https://a.example/x", "content_type": "xml"}"#,
        ],
        "/api/v1/auth/login" => &[
            r#"{}"#,
            r#"{"login": "admin"}"#,
            r#"{"login": 5, "password": "x"}"#,
            r#"{"login": "a", "password": null}"#,
        ],
        "/api/v1/users/me/tokens" => &[
            r#"{}"#,
            r#"{"name": 5}"#,
            r#"{"name": "x", "expires_in_days": -1}"#,
            r#"{"name": "x", "expires_in_days": "7"}"#,
            r#"{"name": "x", "scope": "read"}"#,
            r#"{"name": "x", "scope": 5, "expires_in_days": 7}"#,
        ],
        "/api/v1/users/me/app-passwords" => &[
            r#"{}"#,
            r#"{"name": 5}"#,
            r#"{"name": null}"#,
            r#"{"name": ["x"]}"#,
        ],
        "/api/v1/users" => &[
            r#"{}"#,
            r#"{"password": "long-enough-1"}"#,
            r#"{"username": 5, "password": "long-enough-1"}"#,
            r#"{"username": "zz-never-made", "password": "long-enough-1", "admin": "yes"}"#,
        ],
        "/api/v1/users/{user}" => &[
            r#"{"display_name": 5}"#,
            r#"{"active": "no"}"#,
            r#"{"admin": 1}"#,
            r#"{"email": ["a@b.c"]}"#,
        ],
        "/api/v1/users/{user}/roles" => &[
            r#"{}"#,
            r#"{"roles": "member"}"#,
            r#"{"roles": [5]}"#,
            r#"{"roles": null}"#,
        ],
        "/api/v1/admin/roles" => &[
            r#"{}"#,
            r#"{"name": "zz-never-made"}"#,
            r#"{"name": 5, "permissions": []}"#,
            r#"{"name": "zz-never-made", "permissions": "upload_files"}"#,
        ],
        "/api/v1/admin/roles/{role}" => &[
            r#"{"name": 5}"#,
            r#"{"permissions": "upload_files"}"#,
            r#"{"description": []}"#,
            r#"{"permissions": [1]}"#,
        ],
        "/api/v1/admin/guests" => &[
            r#"{}"#,
            r#"{"username": "zz-never-made"}"#,
            r#"{"username": "zz-never-made", "channel_ids": "1"}"#,
            r#"{"username": 5, "channel_ids": []}"#,
        ],
        "/api/v1/channels" => &[
            r#"{}"#,
            r#"{"name": "zz-never-made"}"#,
            r#"{"name": 5, "kind": "public"}"#,
            r#"{"name": "zz-never-made", "kind": "public", "topic": ["a"]}"#,
        ],
        "/api/v1/channels/{channel}" => &[
            r#"{"name": 5}"#,
            r#"{"archived": "yes"}"#,
            r#"{"topic": {}}"#,
            r#"{"purpose": 1.5}"#,
        ],
        "/api/v1/channels/{channel}/members" => &[
            r#"{}"#,
            r#"{"user_id": "abc"}"#,
            r#"{"user_id": -1}"#,
            r#"{"user_id": 1.5}"#,
            r#"{"user_id": null}"#,
            r#"{"user_id": "99999999999999999999"}"#,
        ],
        "/api/v1/channels/{channel}/members/{user}" => {
            &[r#"{}"#, r#"{"role": 1}"#, r#"{"role": null}"#]
        }
        "/api/v1/dms" => &[
            r#"{}"#,
            r#"{"user_ids": "1"}"#,
            r#"{"user_ids": [true]}"#,
            r#"{"user_ids": ["-3"]}"#,
            r#"{"user_ids": [0]}"#,
        ],
        "/api/v1/channels/{channel}/read" => &[
            r#"{}"#,
            r#"{"seq": "1"}"#,
            r#"{"seq": 1.5}"#,
            r#"{"seq": null}"#,
        ],
        "/api/v1/channels/{channel}/messages" => &[
            r#"{}"#,
            r#"{"text": 5}"#,
            r#"{"text": "x", "thread_root_id": "abc"}"#,
            r#"{"text": "x", "client_msg_id": 5}"#,
            r#"{"client_msg_id": "only-an-id"}"#,
        ],
        "/api/v1/messages/{message}" => &[r#"{}"#, r#"{"text": null}"#, r#"{"text": ["a"]}"#],
        "/api/v1/departments" => &[
            r#"{}"#,
            r#"{"name": 5}"#,
            r#"{"name": "zz-never-made", "parent_id": "abc"}"#,
            r#"{"name": "zz-never-made", "position": "1"}"#,
        ],
        "/api/v1/departments/{department}" => &[
            r#"{"name": 5}"#,
            r#"{"parent_id": "abc"}"#,
            r#"{"position": 1.5}"#,
            r#"{"admins": "1"}"#,
        ],
        "/api/v1/departments/{department}/members/{user}" => {
            &[r#"{"title": 5}"#, r#"{"is_head": "yes"}"#]
        }
        "/api/v1/departments/{department}/channels/{linked}" => {
            &[r#"{"include_subdepartments": "no"}"#]
        }
        "/api/v1/users/{user}/manager" => &[r#"{"manager_id": "abc"}"#, r#"{"manager_id": -1}"#],
        "/api/v1/admin/second-factor" => &[
            r#"{}"#,
            r#"{"require": 5, "grace_days": 1}"#,
            r#"{"require": "off", "grace_days": -1}"#,
            r#"{"require": "off", "grace_days": "7"}"#,
        ],
        "/api/v1/admin/retention" => &[
            r#"{}"#,
            r#"{"message_days": null}"#,
            r#"{"message_days": "30", "dm_days": null}"#,
            r#"{"message_days": -1, "dm_days": null}"#,
            r#"{"message_days": null, "dm_days": null, "keep": 1}"#,
        ],
        "/api/v1/admin/retention/channels/{retained}" => &[
            r#"{}"#,
            r#"{"days": "5"}"#,
            r#"{"days": -5}"#,
            r#"{"day": 5}"#,
        ],
        "/api/v1/admin/holds" => &[
            r#"{}"#,
            r#"{"user_id": "1", "reason": "x"}"#,
            r#"{"user_id": "1", "starts_at": 5, "reason": "x"}"#,
            r#"{"user_id": "1", "starts_at": "2999-01-01T00:00:00Z"}"#,
            r#"{"user_id": "1", "starts_at": "2999-01-01T00:00:00Z", "reason": ["x"]}"#,
        ],
        other => panic!("no malformed bodies for {other}"),
    };
    for shape in shapes {
        out.push(bad_json(&format!("body {shape}"), shape.as_bytes()));
    }
    out
}

#[tokio::test]
async fn malformed_bodies_are_refused_and_change_nothing() {
    let server = TestServer::shared();
    let w = World::build(&server).await;
    let owner = format!("Bearer {}", w.owner.token);
    let admin = format!("Bearer {}", w.admin);
    let mut routes = protected_routes();
    routes.push(route(
        Method::POST,
        "/api/v1/auth/login",
        Some(|_| json!({ "login": "admin", "password": "admin-password-1" })),
    ));
    for r in routes.into_iter().filter(|r| r.body.is_some()) {
        // The owner (the administrator, to create users) may do each of these, so only the
        // body can be at fault.
        let departments = r.path.contains("departments")
            || r.path.ends_with("/manager")
            || r.path.ends_with("/webhooks")
            || r.path == "/api/v1/webhooks/outgoing";
        let owner = if r.path == "/api/v1/users"
            || r.path == "/api/v1/commands/custom"
            || r.path == "/api/v1/bots"
            || r.path.ends_with("/webhooks")
            || r.path == "/api/v1/webhooks/outgoing"
            || r.path.starts_with("/api/v1/admin/")
            || r.path.ends_with("/roles")
            || departments
        {
            &admin
        } else {
            &owner
        };
        let mut ids = w.private_ids(&server, &w.owner.token).await;
        if departments {
            // The administrator moderates the public channel (a private one is hidden from them).
            ids.channel = w.public.clone();
        }
        if r.path.ends_with("/webhooks") || r.path == "/api/v1/webhooks/outgoing" {
            // A webhook posts as its creator, who must be able to post there.
            let (st, body) = server
                .post(
                    Some(&w.admin),
                    &format!("/api/v1/channels/{}/join", w.public),
                    None,
                )
                .await;
            assert!(st.is_success(), "the administrator joins: {st} {body}");
        }
        ids.user = if r.path.contains("members") {
            w.member.id.clone()
        } else {
            w.owner.id.clone()
        };
        let before = w.snapshot(&server).await;
        for bad in malformed_bodies(&r) {
            let mut headers = vec![("authorization", owner.as_str())];
            if let Some(ct) = bad.content_type {
                headers.push(("content-type", ct));
            }
            let got = server
                .request_raw(r.method.clone(), &r.path(&ids), &headers, Some(bad.body))
                .await;
            expect(
                &format!("{} with {}", r.name(), bad.what),
                &got,
                bad.status,
                &[bad.code],
            );
        }
        w.assert_unchanged(
            &server,
            &before,
            &format!("malformed bodies for {}", r.name()),
        )
        .await;
        for (what, query) in [
            (
                "user",
                format!("/api/v1/users?q={}&include_inactive=true", "zz-never-made"),
            ),
            (
                "channel",
                "/api/v1/channels/browse?q=zz-never-made&include_archived=true".to_owned(),
            ),
        ] {
            let (_, list) = server.get(Some(&w.admin), &query, None).await;
            let key = if what == "user" { "users" } else { "channels" };
            assert_eq!(
                list[key],
                json!([]),
                "{}: a malformed body created a {what}",
                r.name()
            );
        }

        // The same request with a well-formed body works: the refusals were about the body.
        let got = send(&server, &r, &ids, &[("authorization", owner)]).await;
        assert!(
            got.0.is_success(),
            "{} with a valid body: {} {}",
            r.name(),
            got.0,
            got.1
        );
    }
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let server = TestServer::shared();
    let w = World::build(&server).await;
    let owner = format!("Bearer {}", w.owner.token);
    let mut ids = w.private_ids(&server, &w.owner.token).await;
    ids.user = w.owner.id.clone();
    let big = serde_json::to_vec(
        &json!({ "text": "a".repeat(300 * 1024), "name": "x", "login": "x", "password": "y" }),
    )
    .unwrap();
    // Just under the limit is read (and then judged on its content).
    let fits = serde_json::to_vec(&json!({ "text": "a".repeat(250 * 1024) })).unwrap();
    let before = w.snapshot(&server).await;
    let mut routes = protected_routes();
    routes.push(route(
        Method::POST,
        "/api/v1/auth/login",
        Some(|_| json!({})),
    ));
    for r in routes.into_iter().filter(|r| r.body.is_some()) {
        let got = server
            .request_raw(
                r.method.clone(),
                &r.path(&ids),
                &[
                    ("authorization", &owner),
                    ("content-type", "application/json"),
                ],
                Some(big.clone()),
            )
            .await;
        expect(
            &format!("{} with a {} byte body", r.name(), big.len()),
            &got,
            413,
            &["payload_too_large"],
        );
    }
    w.assert_unchanged(&server, &before, "oversized bodies")
        .await;
    let got = server
        .request_raw(
            Method::POST,
            &format!("/api/v1/channels/{}/messages", w.private),
            &[
                ("authorization", &owner),
                ("content-type", "application/json"),
            ],
            Some(fits),
        )
        .await;
    expect("a 250 KiB message", &got, 400, &["invalid_field"]);
}

#[tokio::test]
async fn unknown_and_malformed_ids_are_404() {
    let server = TestServer::shared();
    let w = World::build(&server).await;
    let owner = format!("Bearer {}", w.owner.token);
    let before = w.snapshot(&server).await;
    let bad_ids = [
        "999999999",
        "0",
        "abc",
        "-1",
        "1.5",
        "1e3",
        "99999999999999999999",
        "%201",
        "0x10",
    ];
    for r in protected_routes() {
        let mut ids = w.private_ids(&server, &w.owner.token).await;
        // A member other than the caller, so that removing or changing them would be allowed.
        if r.path.contains("members/{user}") {
            ids.user = w.member.id.clone();
        }
        for (placeholder, code) in [
            ("{channel}", "channel_not_found"),
            ("{message}", "message_not_found"),
            (
                "{user}",
                if r.path.contains("members") && r.method != Method::PUT {
                    "member_not_found"
                } else {
                    "user_not_found"
                },
            ),
            ("{token}", "token_not_found"),
            ("{file}", "file_not_found"),
            ("{role}", "role_not_found"),
            ("{department}", "department_not_found"),
            ("{linked}", "channel_not_found"),
        ] {
            if !r.path.contains(placeholder) {
                continue;
            }
            for bad in bad_ids {
                let mut bad_ids = ids.clone();
                match placeholder {
                    "{channel}" => bad_ids.channel = bad.into(),
                    "{message}" => bad_ids.message = bad.into(),
                    "{user}" => bad_ids.user = bad.into(),
                    "{file}" => bad_ids.file = bad.into(),
                    "{role}" => bad_ids.role = bad.into(),
                    "{department}" => bad_ids.department = bad.into(),
                    "{linked}" => bad_ids.channel = bad.into(),
                    _ => bad_ids.token = bad.into(),
                }
                let got = send(&server, &r, &bad_ids, &[("authorization", &owner)]).await;
                expect(
                    &format!("{} with {placeholder} = {bad:?}", r.name()),
                    &got,
                    404,
                    &[code],
                );
            }
        }
    }
    // Ids in bodies name nothing either.
    for (path, body) in [
        (
            format!("/api/v1/channels/{}/members", w.private),
            json!({ "user_id": "999999999" }),
        ),
        (
            "/api/v1/dms".to_owned(),
            json!({ "user_ids": ["999999999"] }),
        ),
    ] {
        let got = server.post(Some(&w.owner.token), &path, Some(body)).await;
        expect(
            &format!("POST {path} with an unknown user"),
            &got,
            404,
            &["user_not_found"],
        );
    }
    w.assert_unchanged(&server, &before, "requests with unknown ids")
        .await;
}

#[tokio::test]
async fn other_users_tokens_and_messages_are_off_limits() {
    let server = TestServer::shared();
    let w = World::build(&server).await;
    let member_token_id = token_id(&server, &w.member.token).await;
    let owner_token_id = token_id(&server, &w.owner.token).await;
    let before = w.snapshot(&server).await;

    // Someone else's token id is "not found", and the token keeps working.
    let got = server
        .delete(
            Some(&w.owner.token),
            &format!("/api/v1/users/me/tokens/{member_token_id}"),
            None,
        )
        .await;
    expect(
        "revoking another user's token",
        &got,
        404,
        &["token_not_found"],
    );
    let got = server
        .delete(
            Some(&w.admin),
            &format!("/api/v1/users/me/tokens/{owner_token_id}"),
            None,
        )
        .await;
    expect(
        "an administrator revoking another user's token",
        &got,
        404,
        &["token_not_found"],
    );
    let (status, _) = server
        .get(Some(&w.member.token), "/api/v1/users/me", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, listed) = server
        .get(Some(&w.member.token), "/api/v1/users/me/tokens", None)
        .await;
    assert!(
        listed["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["id"] != owner_token_id.as_str()),
        "another user's token is listed: {listed}"
    );

    // Someone else's message: no editing; deleting only for channel moderators.
    for (what, msg) in [("private", &w.private_msg), ("public", &w.public_msg)] {
        let path = format!("/api/v1/messages/{msg}");
        let got = server
            .patch(
                Some(&w.member.token),
                &path,
                Some(json!({ "text": "not yours" })),
            )
            .await;
        expect(
            &format!("editing another's message in the {what} channel"),
            &got,
            403,
            &["forbidden"],
        );
        let got = server.delete(Some(&w.member.token), &path, None).await;
        expect(
            &format!("a member deleting another's message in the {what} channel"),
            &got,
            403,
            &["forbidden"],
        );
    }
    let got = server
        .patch(
            Some(&w.owner.token),
            &format!("/api/v1/messages/{}", w.private_reply),
            Some(json!({ "text": "not yours" })),
        )
        .await;
    expect(
        "the channel owner editing a member's reply",
        &got,
        403,
        &["forbidden"],
    );
    // The public channel's site administrator may moderate, but not edit.
    let got = server
        .patch(
            Some(&w.admin),
            &format!("/api/v1/messages/{}", w.public_msg),
            Some(json!({ "text": "admin was here" })),
        )
        .await;
    expect(
        "a site administrator editing a message",
        &got,
        403,
        &["forbidden"],
    );

    // Someone else's account and channel role.
    let got = server
        .patch(
            Some(&w.member.token),
            &format!("/api/v1/users/{}", w.owner.id),
            Some(json!({ "display_name": "pwned" })),
        )
        .await;
    expect("changing another user's profile", &got, 403, &["forbidden"]);
    let got = server
        .patch(
            Some(&w.member.token),
            &format!("/api/v1/users/{}", w.owner.id),
            Some(json!({ "password": "new-password-1" })),
        )
        .await;
    expect(
        "changing another user's password",
        &got,
        403,
        &["forbidden"],
    );
    let got = server
        .patch(
            Some(&w.member.token),
            &format!("/api/v1/users/{}", w.member.id),
            Some(json!({ "admin": true })),
        )
        .await;
    expect("granting oneself administration", &got, 403, &["forbidden"]);
    let got = server
        .delete(
            Some(&w.member.token),
            &format!("/api/v1/channels/{}/members/{}", w.private, w.owner.id),
            None,
        )
        .await;
    expect("a member removing the owner", &got, 403, &["forbidden"]);
    let got = server
        .patch(
            Some(&w.member.token),
            &format!("/api/v1/channels/{}/members/{}", w.private, w.member.id),
            Some(json!({ "role": "owner" })),
        )
        .await;
    expect("a member making themself owner", &got, 403, &["forbidden"]);
    let got = server
        .patch(
            Some(&w.member.token),
            &format!("/api/v1/channels/{}", w.private),
            Some(json!({ "archived": true })),
        )
        .await;
    expect("a member archiving", &got, 403, &["forbidden"]);
    w.assert_unchanged(&server, &before, "requests on other users' things")
        .await;

    // Removing one's reaction leaves others' reactions alone.
    let thumbs = format!(
        "/api/v1/messages/{}/reactions/{}",
        w.private_msg,
        encode_segment("👍")
    );
    let (status, msg) = server.delete(Some(&w.member.token), &thumbs, None).await;
    assert_eq!(status, StatusCode::OK, "{msg}");
    assert_eq!(
        msg["reactions"],
        json!([{ "emoji": "👍", "count": 1, "user_ids": [w.owner.id] }])
    );
}

#[tokio::test]
async fn only_the_pinner_and_channel_admins_may_unpin() {
    let server = TestServer::shared();
    let w = World::build(&server).await;
    let pin = |m: &str| format!("/api/v1/messages/{m}/pin");
    let before = w.snapshot(&server).await;

    // The owner pinned a message in each channel: a member, a stranger in the public channel,
    // and the site administrator in the private one cannot take those pins down.
    for (what, token, msg, status, code) in [
        (
            "a member, private",
            &w.member.token,
            &w.private_msg,
            403,
            "forbidden",
        ),
        (
            "a member, public",
            &w.member.token,
            &w.public_msg,
            403,
            "forbidden",
        ),
        (
            "a stranger, public",
            &w.stranger.token,
            &w.public_msg,
            403,
            "forbidden",
        ),
        (
            "a stranger, private",
            &w.stranger.token,
            &w.private_msg,
            404,
            "message_not_found",
        ),
        (
            "the site administrator, private",
            &w.admin,
            &w.private_msg,
            404,
            "message_not_found",
        ),
    ] {
        let got = server.delete(Some(token), &pin(msg), None).await;
        expect(
            &format!("{what} unpinning the owner's pin"),
            &got,
            status,
            &[code],
        );
    }
    w.assert_unchanged(&server, &before, "refused unpins").await;

    // The pinner may unpin their own pin.
    let (status, m) = server
        .put(Some(&w.member.token), &pin(&w.private_reply), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{m}");
    assert_eq!(m["pinned_by"], w.member.id.as_str());
    let (status, m) = server
        .delete(Some(&w.member.token), &pin(&w.private_reply), None)
        .await;
    assert_eq!(status, StatusCode::OK, "the pinner unpins: {m}");
    assert_eq!(m["pinned"], false);

    // A channel admin (here the owner) may unpin a member's pin.
    let (status, _) = server
        .put(Some(&w.member.token), &pin(&w.private_reply), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, m) = server
        .delete(Some(&w.owner.token), &pin(&w.private_reply), None)
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the owner unpins a member's pin: {m}"
    );
    assert_eq!(m["pinned"], false);

    // So may a member made channel admin, and the site administrator in a public channel.
    let (status, body) = server
        .patch(
            Some(&w.owner.token),
            &format!("/api/v1/channels/{}/members/{}", w.private, w.member.id),
            Some(json!({ "role": "admin" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, m) = server
        .delete(Some(&w.member.token), &pin(&w.private_msg), None)
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a channel admin unpins the owner's pin: {m}"
    );
    assert_eq!(m["pinned"], false);
    let (status, m) = server
        .delete(Some(&w.admin), &pin(&w.public_msg), None)
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the site administrator unpins in a public channel: {m}"
    );
    assert_eq!(m["pinned"], false);
}

/// Whether any channel in a list of channels (or of `{ channel }` hits) has this id.
fn lists_channel(body: &Value, key: &str, id: &str) -> bool {
    body[key]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["id"] == json!(id) || c["channel"]["id"] == json!(id))
}

/// A stranger learns nothing about a private channel's name: creating or renaming a channel
/// to that name succeeds as it would for a fresh name (public names are unique among public
/// channels only), and no directory, search, quick switcher or lookup by id shows it.
#[tokio::test]
async fn a_stranger_cannot_learn_a_private_channels_name() {
    let server = TestServer::shared();
    let w = World::build(&server).await;
    let (status, private) = server
        .get(
            Some(&w.owner.token),
            &format!("/api/v1/channels/{}", w.private),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{private}");
    let name = s(&private, "name");
    let other_private_name = unique_name("authz hidden");
    let other_private = server
        .create_channel(&w.owner.token, &other_private_name, "private")
        .await;
    let stranger = &w.stranger.token;

    // Creating: a public channel, and a private one, may take the private channel's name.
    for (kind, spelling) in [("public", name.clone()), ("private", name.to_uppercase())] {
        let (status, created) = server
            .post(
                Some(stranger),
                "/api/v1/channels",
                Some(json!({ "name": spelling, "kind": kind })),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "a {kind} channel named like a private one: {created}"
        );
        assert_ne!(s(&created, "id"), w.private);
    }
    // Renaming: likewise.
    let mine = server
        .create_channel(stranger, &unique_name("authz mine"), "public")
        .await;
    let (status, renamed) = server
        .patch(
            Some(stranger),
            &format!("/api/v1/channels/{mine}"),
            Some(json!({ "name": other_private_name })),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "renaming to a private channel's name: {renamed}"
    );
    // Public names stay unique among public channels: that reveals only public channels.
    let got = server
        .post(
            Some(&w.member.token),
            "/api/v1/channels",
            Some(json!({ "name": name, "kind": "public" })),
        )
        .await;
    expect(
        "a second public channel of one name",
        &got,
        409,
        &["conflict"],
    );

    // Lists and searches: the stranger's own channels of that name, never the private ones.
    let q = encode_segment(&name);
    for path in [
        "/api/v1/channels".to_owned(),
        format!("/api/v1/channels/browse?include_archived=true&limit=200&q={q}"),
        format!("/api/v1/search/channels?q={q}"),
        format!(
            "/api/v1/search/channels?q={}",
            encode_segment(&other_private_name)
        ),
    ] {
        let (status, body) = server.get(Some(stranger), &path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        for id in [&w.private, &other_private] {
            assert!(
                !lists_channel(&body, "channels", id),
                "{path} lists a private channel: {body}"
            );
        }
    }
    let (texts, body) = search_texts(&server, stranger, &format!("in:\"{name}\" plan")).await;
    assert!(texts.is_empty(), "{body}");
    let (texts, body) = search_texts(&server, stranger, "the plan").await;
    assert!(!texts.contains(&"the plan".to_owned()), "{body}");

    // Lookup by id: the same answer as for an id that never existed.
    let (_, missing) = server
        .get(Some(stranger), "/api/v1/channels/999999999", None)
        .await;
    for id in [&w.private, &other_private] {
        let got = server
            .get(Some(stranger), &format!("/api/v1/channels/{id}"), None)
            .await;
        expect(
            "looking a private channel up by id",
            &got,
            404,
            &["channel_not_found"],
        );
        assert_eq!(got.1["error"]["message"], missing["error"]["message"]);
    }
}
