//! The permission matrix: every route of the REST API × every kind of actor, against a real
//! `enclave serve` on SQLite and on PostgreSQL.
//!
//! Actors ([`Who`]): the system administrator; a user holding only a custom role that grants
//! every permission ("with"); a user holding only a custom role that grants none ("without");
//! an ordinary member; a guest invited into the channel under test; a department administrator
//! acting inside their subtree and one acting outside it; a deactivated user; and a stranger
//! without credentials. Each case runs on fresh fixtures made for that actor (its own
//! channel, message, file, role, ...), so one actor's success cannot change another's outcome.
//!
//! The table is checked against the OpenAPI document: a route missing here fails
//! [`the_matrix_covers_every_route`].
//!
//! Department administrators are ordinary members who administer a department: each case
//! makes one, with a department of their own. "Inside" works on a department under theirs
//! (and creates under it, and sets the manager of someone in it); "outside" on a department
//! elsewhere in the tree. Their outcomes are a member's, except where a case lists them
//! ([`Case::dept`]): the department routes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::{
    ADMIN_PASSWORD, ADMIN_USER, Method, StatusCode, TestServer, USER_PASSWORD, Value, json,
    rfc3339_in, unique_name,
};

/// The actors whose outcomes each case lists, in column order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Admin,
    With,
    Without,
    Member,
    Guest,
    /// A department administrator, inside their subtree.
    DeptIn,
    /// A department administrator, outside their subtree.
    DeptOut,
}

const COLUMNS: [Who; 5] = [Who::Admin, Who::With, Who::Without, Who::Member, Who::Guest];
/// The department administrators' columns (outcomes in [`Case::dept`]).
const DEPT_COLUMNS: [Who; 2] = [Who::DeptIn, Who::DeptOut];

/// The fixtures a case's path and body are filled from, made fresh for each actor.
#[derive(Debug, Clone)]
struct Fx {
    /// A public channel made by the administrator (its owner), with the actor as a member.
    channel: String,
    /// A message the actor posted there.
    message: String,
    /// A member of the channel (an ordinary user), for removals and role changes.
    user: String,
    /// A user who shares no channel with anyone.
    stranger: String,
    /// A new personal access token of the actor.
    token: String,
    /// An image the administrator shared in the channel.
    file: String,
    /// A custom role (granting `upload_files`).
    role: String,
    /// A department made by the administrator (only for the cases that use one, and for the
    /// department administrators' columns: under their department, or elsewhere).
    department: String,
    /// The parent a new department is made under (`None`: a root).
    parent: Option<String>,
    /// A name nothing has yet.
    new_name: String,
}

type Body = fn(&Fx) -> Value;

struct Case {
    method: Method,
    path: &'static str,
    body: Option<Body>,
    /// Outcomes for [`COLUMNS`]: `ok` (2xx), or the status.
    expect: [&'static str; 5],
    /// Run in an announcement channel.
    announcement: bool,
    /// Outcomes for [`DEPT_COLUMNS`] (inside, outside); `None`: the member's.
    dept: Option<[&'static str; 2]>,
}

impl Case {
    /// The department administrators' outcomes, inside and outside their subtree.
    fn dept(mut self, outcomes: [&'static str; 2]) -> Case {
        self.dept = Some(outcomes);
        self
    }
}

const fn case(
    method: Method,
    path: &'static str,
    body: Option<Body>,
    expect: [&'static str; 5],
) -> Case {
    Case {
        method,
        path,
        body,
        expect,
        announcement: false,
        dept: None,
    }
}

const ALL_OK: [&str; 5] = ["ok", "ok", "ok", "ok", "ok"];
/// Only the administrator and the holder of every permission.
const ADMINS: [&str; 5] = ["ok", "ok", "403", "403", "403"];
/// Reading the directory: everyone who may browse it (not a custom role without it, not guests).
const READERS: [&str; 5] = ["ok", "ok", "403", "ok", "403"];

/// Every route that needs a user, with its outcomes.
fn cases() -> Vec<Case> {
    use Method as M;
    vec![
        //                                                            admin with  without member guest
        case(M::POST, "/api/v1/auth/logout", None, ALL_OK),
        case(M::GET, "/api/v1/users/me/tokens", None, ALL_OK),
        case(
            M::POST,
            "/api/v1/users/me/tokens",
            Some(|_| json!({ "name": "pm", "scope": "read", "expires_in_days": 1 })),
            ALL_OK,
        ),
        case(M::DELETE, "/api/v1/users/me/tokens/{token}", None, ALL_OK),
        case(M::GET, "/api/v1/users/me/sessions", None, ALL_OK),
        case(M::DELETE, "/api/v1/users/me/sessions/{token}", None, ALL_OK),
        case(
            M::POST,
            "/api/v1/users/me/sessions/end-others",
            None,
            ALL_OK,
        ),
        case(M::GET, "/api/v1/users/{stranger}/sessions", None, ADMINS),
        case(M::DELETE, "/api/v1/users/{stranger}/sessions", None, ADMINS),
        case(M::GET, "/api/v1/users/me/app-passwords", None, ALL_OK),
        case(
            M::POST,
            "/api/v1/users/me/app-passwords",
            Some(|_| json!({ "name": "pm client" })),
            ALL_OK,
        ),
        case(
            M::DELETE,
            "/api/v1/users/me/app-passwords/{token}",
            None,
            ALL_OK,
        ),
        case(M::GET, "/api/v1/users/me", None, ALL_OK),
        case(
            M::GET,
            "/api/v1/users",
            None,
            ["ok", "ok", "403", "ok", "403"],
        ),
        case(
            M::POST,
            "/api/v1/users",
            Some(|f| json!({ "username": f.new_name, "password": USER_PASSWORD })),
            ADMINS,
        ),
        case(
            M::GET,
            "/api/v1/users/{stranger}",
            None,
            ["ok", "ok", "404", "ok", "404"],
        ),
        case(
            M::PATCH,
            "/api/v1/users/{stranger}",
            Some(|_| json!({ "display_name": "Renamed" })),
            ADMINS,
        ),
        case(M::GET, "/api/v1/users/{stranger}/roles", None, ADMINS),
        case(
            M::PUT,
            "/api/v1/users/{user}/roles",
            Some(|_| json!({ "roles": ["member"] })),
            ADMINS,
        ),
        case(M::GET, "/api/v1/admin/roles", None, ADMINS),
        // The department tree (manage departments) and the directory (browse directory).
        case(M::GET, "/api/v1/departments", None, READERS),
        case(
            M::POST,
            "/api/v1/departments",
            Some(|f| json!({ "name": f.new_name, "parent_id": f.parent })),
            ADMINS,
        )
        .dept(["ok", "403"]),
        case(
            M::PATCH,
            "/api/v1/departments/{department}",
            Some(|_| json!({ "position": 1 })),
            ADMINS,
        )
        .dept(["ok", "403"]),
        case(M::DELETE, "/api/v1/departments/{department}", None, ADMINS).dept(["ok", "403"]),
        case(
            M::GET,
            "/api/v1/departments/{department}/members",
            None,
            READERS,
        ),
        case(
            M::PUT,
            "/api/v1/departments/{department}/members/{user}",
            Some(|_| json!({ "title": "Engineer" })),
            ADMINS,
        )
        .dept(["ok", "403"]),
        case(
            M::DELETE,
            "/api/v1/departments/{department}/members/{user}",
            None,
            ADMINS,
        )
        .dept(["ok", "403"]),
        // Linking a channel also takes moderating it: a department administrator who only
        // belongs to the channel may not, inside their subtree or out.
        case(
            M::PUT,
            "/api/v1/departments/{department}/channels/{channel}",
            Some(|_| json!({ "include_subdepartments": false })),
            ADMINS,
        )
        .dept(["403", "403"]),
        case(
            M::DELETE,
            "/api/v1/departments/{department}/channels/{channel}",
            None,
            ADMINS,
        )
        .dept(["ok", "403"]),
        case(M::GET, "/api/v1/directory/search?q=pm", None, READERS),
        case(M::GET, "/api/v1/users/{user}/card", None, READERS),
        case(
            M::PUT,
            "/api/v1/users/{user}/manager",
            Some(|_| json!({ "manager_id": null })),
            ADMINS,
        )
        .dept(["ok", "403"]),
        // Second factors: one's own (anyone signed in), someone else's and the policy (manage
        // users). Without an authenticator app set up, confirming and new recovery codes are
        // conflicts and a code proves nothing.
        case(M::GET, "/api/v1/users/me/second-factor", None, ALL_OK),
        // (Confirming before any set-up was started: a conflict for everyone.)
        case(
            M::POST,
            "/api/v1/users/me/second-factor/totp/confirm",
            Some(|_| json!({ "code": "000000" })),
            ["409", "409", "409", "409", "409"],
        ),
        case(M::POST, "/api/v1/users/me/second-factor/totp", None, ALL_OK),
        case(
            M::POST,
            "/api/v1/users/me/second-factor/disable",
            Some(|_| json!({ "code": "000000" })),
            ["401", "401", "401", "401", "401"],
        ),
        case(
            M::POST,
            "/api/v1/users/me/second-factor/recovery-codes",
            Some(|_| json!({ "code": "000000" })),
            ["409", "409", "409", "409", "409"],
        ),
        // Security keys: one's own; another's key or an unknown registration is not found,
        // and starting a registration needs the password (a wrong code proves nothing).
        case(
            M::GET,
            "/api/v1/users/me/second-factor/webauthn",
            None,
            ALL_OK,
        ),
        case(
            M::POST,
            "/api/v1/users/me/second-factor/webauthn/registrations",
            Some(|_| json!({ "code": "000000" })),
            ["401", "401", "401", "401", "401"],
        ),
        case(
            M::POST,
            "/api/v1/users/me/second-factor/webauthn/registrations/{registration}",
            Some(|_| json!({ "name": "Key", "credential": {} })),
            ["400", "400", "400", "400", "400"],
        ),
        case(
            M::PATCH,
            "/api/v1/users/me/second-factor/webauthn/{key}",
            Some(|_| json!({ "name": "Key" })),
            ["404", "404", "404", "404", "404"],
        ),
        case(
            M::POST,
            "/api/v1/users/me/second-factor/webauthn/{key}/remove",
            Some(|_| json!({ "code": "000000" })),
            ["404", "404", "404", "404", "404"],
        ),
        case(
            M::DELETE,
            "/api/v1/users/{stranger}/second-factor",
            None,
            ADMINS,
        ),
        case(M::GET, "/api/v1/admin/second-factor", None, ADMINS),
        case(
            M::PUT,
            "/api/v1/admin/second-factor",
            Some(|_| json!({ "require": "off", "grace_days": 7 })),
            ADMINS,
        ),
        // Backups (export data); none is configured here, so starting one is 409 for those
        // who may.
        case(M::GET, "/api/v1/admin/backups", None, ADMINS),
        case(
            M::POST,
            "/api/v1/admin/backups",
            None,
            ["409", "409", "403", "403", "403"],
        ),
        // Retention and legal holds (manage retention); a hold far in the future keeps nothing,
        // an unknown hold is 404 for those who may.
        case(M::GET, "/api/v1/admin/retention", None, ADMINS),
        case(
            M::PUT,
            "/api/v1/admin/retention",
            Some(|_| json!({ "message_days": null, "dm_days": null })),
            ADMINS,
        ),
        case(
            M::PUT,
            "/api/v1/admin/retention/channels/{channel}",
            Some(|_| json!({ "days": 36500 })),
            ADMINS,
        ),
        case(
            M::DELETE,
            "/api/v1/admin/retention/channels/{channel}",
            None,
            ADMINS,
        ),
        case(M::POST, "/api/v1/admin/retention/run", None, ADMINS),
        case(M::GET, "/api/v1/admin/holds", None, ADMINS),
        case(
            M::POST,
            "/api/v1/admin/holds",
            Some(
                |f| json!({ "user_id": f.user, "starts_at": "2999-01-01T00:00:00Z", "reason": "matrix" }),
            ),
            ADMINS,
        ),
        case(
            M::DELETE,
            "/api/v1/admin/holds/{hold}",
            None,
            ["404", "404", "403", "403", "403"],
        ),
        // Bots (create bots) and incoming webhooks (manage integrations, and posting in the
        // channel); unknown ids are 404 for those who may.
        case(M::GET, "/api/v1/bots", None, ADMINS),
        case(
            M::POST,
            "/api/v1/bots",
            Some(|f| json!({ "username": format!("bot{}", f.channel), "display_name": "Bot" })),
            ADMINS,
        ),
        case(
            M::POST,
            "/api/v1/bots/{bot}/token",
            None,
            ["404", "404", "403", "403", "403"],
        ),
        case(
            M::POST,
            "/api/v1/channels/{channel}/webhooks",
            Some(|_| json!({ "name": "Alerts" })),
            ADMINS,
        ),
        case(M::GET, "/api/v1/webhooks", None, ADMINS),
        case(
            M::POST,
            "/api/v1/webhooks/{webhook}/rotate",
            None,
            ["404", "404", "403", "403", "403"],
        ),
        case(
            M::DELETE,
            "/api/v1/webhooks/{webhook}",
            None,
            ["404", "404", "403", "403", "403"],
        ),
        // Outgoing webhooks (manage integrations, and posting in the channel); a webhook is its
        // owner's only, so an unknown one is 404 whoever asks.
        case(M::GET, "/api/v1/webhooks/outgoing", None, ADMINS),
        case(
            M::POST,
            "/api/v1/webhooks/outgoing",
            Some(
                |f| json!({ "channel_id": f.channel, "name": "Out", "url": "https://hooks.example.org/x" }),
            ),
            ADMINS,
        ),
        case(
            M::POST,
            "/api/v1/webhooks/outgoing/{webhook}/rotate",
            None,
            ["404", "404", "404", "404", "404"],
        ),
        case(
            M::DELETE,
            "/api/v1/webhooks/outgoing/{webhook}",
            None,
            ["404", "404", "404", "404", "404"],
        ),
        case(
            M::GET,
            "/api/v1/webhooks/outgoing/{webhook}/deliveries",
            None,
            ["404", "404", "404", "404", "404"],
        ),
        // Slash commands: running one needs only what the command does (`/help`: seeing the
        // conversation); custom commands are managed by integration managers (site-wide).
        case(
            M::POST,
            "/api/v1/channels/{channel}/commands",
            Some(|_| json!({ "text": "/help" })),
            ALL_OK,
        ),
        case(M::GET, "/api/v1/commands", None, ALL_OK),
        case(M::GET, "/api/v1/commands/custom", None, ADMINS),
        case(
            M::POST,
            "/api/v1/commands/custom",
            Some(|f| {
                let trigger: String = f
                    .new_name
                    .to_lowercase()
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .take(30)
                    .collect();
                json!({ "trigger": format!("c{trigger}"), "url": "https://hooks.example.org/x" })
            }),
            ADMINS,
        ),
        case(
            M::POST,
            "/api/v1/commands/custom/{webhook}/rotate",
            None,
            ["404", "404", "403", "403", "403"],
        ),
        case(
            M::DELETE,
            "/api/v1/commands/custom/{webhook}",
            None,
            ["404", "404", "403", "403", "403"],
        ),
        // The sign-in throttle's view (manage users) and the audit log (view audit log).
        case(M::GET, "/api/v1/admin/lockouts", None, ADMINS),
        case(M::DELETE, "/api/v1/admin/lockouts/{account}", None, ADMINS),
        case(
            M::DELETE,
            "/api/v1/admin/lockouts/{account}/{source}",
            None,
            ADMINS,
        ),
        // Identity providers (manage users); none is configured here, so the sync of one is
        // 404 for those who may see providers.
        case(M::GET, "/api/v1/admin/identity-providers", None, ADMINS),
        case(
            M::POST,
            "/api/v1/admin/identity-providers/{provider}/sync",
            Some(|_| json!({ "dry_run": true })),
            ["404", "404", "403", "403", "403"],
        ),
        case(M::GET, "/api/v1/admin/audit", None, ADMINS),
        // Single sign-on providers' state (manage users).
        case(M::GET, "/api/v1/admin/sso", None, ADMINS),
        case(M::GET, "/api/v1/admin/audit/export", None, ADMINS),
        case(
            M::POST,
            "/api/v1/admin/roles",
            Some(|f| json!({ "name": f.new_name, "permissions": ["upload_files"] })),
            ADMINS,
        ),
        case(
            M::PATCH,
            "/api/v1/admin/roles/{role}",
            Some(|_| json!({ "description": "changed" })),
            ADMINS,
        ),
        case(M::DELETE, "/api/v1/admin/roles/{role}", None, ADMINS),
        case(
            M::POST,
            "/api/v1/admin/guests",
            Some(|f| {
                json!({
                    "username": f.new_name,
                    "password": USER_PASSWORD,
                    "expires_at": rfc3339_in(30 * 86_400),
                    "channel_ids": [f.channel],
                })
            }),
            ["ok", "ok", "403", "403", "403"],
        ),
        case(M::GET, "/api/v1/channels", None, ALL_OK),
        case(
            M::POST,
            "/api/v1/channels",
            Some(|f| json!({ "name": f.new_name, "kind": "public" })),
            ["ok", "ok", "403", "ok", "403"],
        ),
        case(
            M::GET,
            "/api/v1/channels/browse",
            None,
            ["ok", "ok", "403", "ok", "403"],
        ),
        case(M::GET, "/api/v1/channels/{channel}", None, ALL_OK),
        case(
            M::PATCH,
            "/api/v1/channels/{channel}",
            Some(|_| json!({ "topic": "new topic" })),
            ALL_OK,
        ),
        case(M::POST, "/api/v1/channels/{channel}/join", None, ALL_OK),
        case(M::POST, "/api/v1/channels/{channel}/leave", None, ALL_OK),
        case(M::GET, "/api/v1/channels/{channel}/members", None, ALL_OK),
        case(
            M::POST,
            "/api/v1/channels/{channel}/members",
            Some(|f| json!({ "user_id": f.stranger })),
            ["ok", "ok", "403", "ok", "403"],
        ),
        case(
            M::DELETE,
            "/api/v1/channels/{channel}/members/{user}",
            None,
            ADMINS,
        ),
        case(
            M::PATCH,
            "/api/v1/channels/{channel}/members/{user}",
            Some(|_| json!({ "role": "admin" })),
            ADMINS,
        ),
        case(
            M::POST,
            "/api/v1/dms",
            Some(|f| json!({ "user_ids": [f.stranger] })),
            ["ok", "ok", "404", "ok", "404"],
        ),
        case(
            M::POST,
            "/api/v1/channels/{channel}/read",
            Some(|_| json!({ "seq": 1 })),
            ALL_OK,
        ),
        case(M::GET, "/api/v1/channels/{channel}/messages", None, ALL_OK),
        case(
            M::POST,
            "/api/v1/channels/{channel}/messages",
            Some(|_| json!({ "text": "hello" })),
            ALL_OK,
        ),
        Case {
            announcement: true,
            ..case(
                M::POST,
                "/api/v1/channels/{channel}/messages",
                Some(|_| json!({ "text": "hello" })),
                ["ok", "ok", "403", "403", "403"],
            )
        },
        case(M::GET, "/api/v1/channels/{channel}/pins", None, ALL_OK),
        case(M::GET, "/api/v1/messages/{message}", None, ALL_OK),
        case(
            M::PATCH,
            "/api/v1/messages/{message}",
            Some(|_| json!({ "text": "edited" })),
            ALL_OK,
        ),
        case(M::DELETE, "/api/v1/messages/{message}", None, ALL_OK),
        case(M::GET, "/api/v1/messages/{message}/thread", None, ALL_OK),
        case(
            M::PUT,
            "/api/v1/messages/{message}/reactions/%F0%9F%91%8D",
            None,
            ALL_OK,
        ),
        Case {
            announcement: true,
            ..case(
                M::PUT,
                "/api/v1/messages/{message}/reactions/%F0%9F%91%8D",
                None,
                ALL_OK,
            )
        },
        case(
            M::DELETE,
            "/api/v1/messages/{message}/reactions/%F0%9F%91%8D",
            None,
            ALL_OK,
        ),
        case(M::PUT, "/api/v1/messages/{message}/pin", None, ALL_OK),
        case(M::DELETE, "/api/v1/messages/{message}/pin", None, ALL_OK),
        case(
            M::POST,
            "/api/v1/files?name=pm.json",
            Some(|_| json!({ "note": "an upload's bytes" })),
            ["ok", "ok", "403", "ok", "ok"],
        ),
        case(M::GET, "/api/v1/files/{file}", None, ALL_OK),
        case(M::GET, "/api/v1/files/{file}/info", None, ALL_OK),
        case(M::GET, "/api/v1/files/{file}/thumbnail", None, ALL_OK),
        case(M::GET, "/api/v1/search?q=hello", None, ALL_OK),
        case(M::GET, "/api/v1/search/channels?q=pm", None, ALL_OK),
        // Without the WebSocket handshake's headers these are refused after authorization
        // (not 401/403/404): "ok" here means "let through".
        case(M::GET, "/api/v1/ws", None, ALL_OK),
        case(M::GET, "/api/v1/events?since=0", None, ALL_OK),
        case(M::GET, "/api/v1/presence", None, ALL_OK),
    ]
}

/// Routes anyone may call (not in the matrix).
const PUBLIC_ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/api/v1/openapi.json"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/login/second-factor"),
    ("POST", "/api/v1/auth/login/totp-setup"),
    ("POST", "/api/v1/auth/login/webauthn-setup"),
    ("GET", "/api/v1/auth/setup"),
    ("GET", "/api/v1/auth/providers"),
    ("POST", "/api/v1/auth/sso/exchange"),
];

/// A route's path as the OpenAPI document spells it.
fn doc_path(p: &str) -> String {
    let p = p.split('?').next().unwrap_or(p);
    p.replace(
        "channels/{channel}/members/{user}",
        "channels/{id}/members/{user_id}",
    )
    .replace(
        "departments/{department}/members/{user}",
        "departments/{id}/members/{user_id}",
    )
    .replace(
        "departments/{department}/channels/{channel}",
        "departments/{id}/channels/{channel_id}",
    )
    .replace("{department}", "{id}")
    .replace("{provider}", "{id}")
    .replace("%F0%9F%91%8D", "{emoji}")
    .replace("{channel}", "{id}")
    .replace("{message}", "{id}")
    .replace("{stranger}", "{id}")
    .replace("{user}", "{id}")
    .replace("{token}", "{id}")
    .replace("{file}", "{id}")
    .replace("{role}", "{id}")
    .replace("{registration}", "{id}")
    .replace("{key}", "{id}")
    .replace("{bot}", "{id}")
    .replace("{webhook}", "{id}")
    .replace("{hold}", "{id}")
}

fn fill(path: &str, f: &Fx) -> String {
    path.replace("{channel}", &f.channel)
        .replace("{message}", &f.message)
        .replace("{stranger}", &f.stranger)
        .replace("{user}", &f.user)
        .replace("{token}", &f.token)
        .replace("{file}", &f.file)
        .replace("{role}", &f.role)
        .replace("{department}", &f.department)
        .replace("{account}", "nobody-throttled")
        .replace("{source}", "192.0.2.1")
        .replace("{provider}", "corp")
        .replace("{registration}", "wr_unknown")
        .replace("{key}", "999999")
        .replace("{bot}", "999999")
        .replace("{webhook}", "999999")
        .replace("{hold}", "999999")
}

/// One actor's credentials.
#[derive(Clone)]
struct Actor {
    id: String,
    name: String,
    token: String,
}

struct Actors {
    admin: Actor,
    with: Actor,
    without: Actor,
    member: Actor,
    /// Guests are invited per case (into that case's channel); this one is for the
    /// deactivated-and-expired checks.
    deactivated: String,
}

fn ok(context: &str, got: &(StatusCode, Value)) {
    assert!(got.0.is_success(), "{context}: {} {}", got.0, got.1);
}

async fn new_user(server: &TestServer, prefix: &str) -> Actor {
    let name = unique_name(prefix);
    let (id, token) = server.create_user(&name).await;
    Actor { id, name, token }
}

async fn new_department(server: &TestServer, admin: &str, parent: Option<&str>) -> String {
    let got = server
        .post(
            Some(admin),
            "/api/v1/departments",
            Some(json!({ "name": unique_name("pm dept"), "parent_id": parent })),
        )
        .await;
    ok("a department", &got);
    got.1["id"].as_str().unwrap().to_owned()
}

async fn new_role(server: &TestServer, admin: &str, permissions: &[&str]) -> String {
    let got = server
        .post(
            Some(admin),
            "/api/v1/admin/roles",
            Some(json!({ "name": unique_name("pm role"), "permissions": permissions })),
        )
        .await;
    ok("creating a role", &got);
    got.1["id"].as_str().unwrap().to_owned()
}

impl Actors {
    async fn build(server: &TestServer) -> Actors {
        let admin_token = server.admin_token().await;
        let (_, me) = server
            .get(Some(&admin_token), "/api/v1/users/me", None)
            .await;
        let admin = Actor {
            id: me["id"].as_str().unwrap().to_owned(),
            name: me["username"].as_str().unwrap().to_owned(),
            token: admin_token.clone(),
        };
        let (_, roles) = server
            .get(Some(&admin_token), "/api/v1/admin/roles", None)
            .await;
        let every: Vec<String> = roles["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect();
        let every: Vec<&str> = every.iter().map(String::as_str).collect();
        let all_role = new_role(server, &admin_token, &every).await;
        let none_role = new_role(server, &admin_token, &[]).await;
        let with = new_user(server, "pmwith").await;
        let without = new_user(server, "pmwithout").await;
        for (u, role) in [(&with, &all_role), (&without, &none_role)] {
            let got = server
                .put(
                    Some(&admin_token),
                    &format!("/api/v1/users/{}/roles", u.id),
                    Some(json!({ "roles": [role] })),
                )
                .await;
            ok("assigning a role", &got);
            assert_eq!(got.1["roles"], json!([role]), "{}", got.1);
        }
        let member = new_user(server, "pmmember").await;
        let gone = new_user(server, "pmgone").await;
        let got = server
            .patch(
                Some(&admin_token),
                &format!("/api/v1/users/{}", gone.id),
                Some(json!({ "active": false })),
            )
            .await;
        ok("deactivating", &got);
        Actors {
            admin,
            with,
            without,
            member,
            deactivated: gone.token,
        }
    }

    /// The actor of a column; a guest is invited into `channel` for the case.
    async fn actor(&self, server: &TestServer, who: Who, channel: &str) -> Actor {
        let fresh;
        let a = match who {
            Who::Admin => {
                // A session of its own: the shared one makes the fixtures.
                let token = server.login_token(ADMIN_USER, ADMIN_PASSWORD).await;
                return Actor {
                    token,
                    ..self.admin.clone()
                };
            }
            Who::With => &self.with,
            Who::Without => &self.without,
            Who::Member => &self.member,
            Who::Guest => return invite_guest(server, &self.admin.token, channel).await,
            // A fresh member each case (made a department administrator by the fixtures).
            Who::DeptIn | Who::DeptOut => {
                fresh = new_user(server, "pmdeptadmin").await;
                &fresh
            }
        };
        let got = server
            .post(
                Some(&self.admin.token),
                &format!("/api/v1/channels/{channel}/members"),
                Some(json!({ "user_id": a.id })),
            )
            .await;
        ok("adding the actor", &got);
        // A session of its own, so that logging out ends only this case's session.
        let token = server.login_token(&a.name, USER_PASSWORD).await;
        Actor { token, ..a.clone() }
    }
}

async fn invite_guest(server: &TestServer, admin: &str, channel: &str) -> Actor {
    let name = unique_name("pmguest");
    let got = server
        .post(
            Some(admin),
            "/api/v1/admin/guests",
            Some(json!({
                "username": name,
                "password": USER_PASSWORD,
                "expires_at": rfc3339_in(30 * 86_400),
                "channel_ids": [channel],
            })),
        )
        .await;
    assert_eq!(got.0, StatusCode::CREATED, "inviting a guest: {}", got.1);
    assert_eq!(got.1["is_guest"], true);
    Actor {
        id: got.1["id"].as_str().unwrap().to_owned(),
        token: server.login_token(&name, USER_PASSWORD).await,
        name,
    }
}

async fn upload_png(server: &TestServer, token: &str) -> String {
    let img = image::RgbImage::from_pixel(20, 10, image::Rgb([10, 200, 10]));
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png).unwrap();
    let bearer = format!("Bearer {token}");
    let got = server
        .request_raw(
            Method::POST,
            "/api/v1/files?name=g.png",
            &[("authorization", &bearer)],
            Some(png.into_inner()),
        )
        .await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
    got.1["id"].as_str().unwrap().to_owned()
}

/// Fresh fixtures for one case and one actor.
async fn fixtures(server: &TestServer, actors: &Actors, who: Who, c: &Case) -> (Actor, Fx) {
    let admin = &actors.admin.token;
    let channel = server
        .create_channel(admin, &unique_name("pm chan"), "public")
        .await;
    let mut actor = actors.actor(server, who, &channel).await;
    if c.path.ends_with("/end-others") && matches!(who, Who::Admin) {
        // Ending the other sessions of the first administrator would end the session these
        // fixtures are made with: another administrator takes the column.
        let name = unique_name("pmadmin");
        let got = server
            .post(
                Some(admin),
                "/api/v1/users",
                Some(json!({ "username": name, "password": USER_PASSWORD, "admin": true })),
            )
            .await;
        ok("another administrator", &got);
        let id = got.1["id"].as_str().unwrap().to_owned();
        server.add_member(admin, &channel, &id).await;
        actor = Actor {
            id,
            token: server.login_token(&name, USER_PASSWORD).await,
            name,
        };
    }
    let user = new_user(server, "pmuser").await;
    server.add_member(admin, &channel, &user.id).await;
    let stranger = new_user(server, "pmstranger").await;
    let file = upload_png(server, admin).await;
    let got = server
        .post(
            Some(admin),
            &format!("/api/v1/channels/{channel}/messages"),
            Some(json!({ "text": "a picture", "file_ids": [file] })),
        )
        .await;
    ok("sharing a file", &got);
    let message = server
        .post_message(&actor.token, &channel, "hello pm")
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    if c.announcement {
        let got = server
            .patch(
                Some(admin),
                &format!("/api/v1/channels/{channel}"),
                Some(json!({ "announcement": true })),
            )
            .await;
        ok("making an announcement channel", &got);
        assert_eq!(got.1["announcement"], true);
    }
    // Personal access tokens are limited in number: made only for the case that deletes one.
    // For the session and app password cases, `{token}` is another session of the actor or
    // one of their app passwords.
    let token = if c.path.contains("/sessions/{token}") {
        let password = if actor.name == ADMIN_USER {
            ADMIN_PASSWORD
        } else {
            USER_PASSWORD
        };
        let other = server.login_token(&actor.name, password).await;
        let got = server
            .get(Some(&other), "/api/v1/users/me/sessions", None)
            .await;
        ok("another session", &got);
        got.1["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["current"] == true)
            .and_then(|s| s["id"].as_str())
            .unwrap_or_default()
            .to_owned()
    } else if c.path.contains("/app-passwords/{token}") {
        let got = server
            .post(
                Some(&actor.token),
                "/api/v1/users/me/app-passwords",
                Some(json!({ "name": "pm" })),
            )
            .await;
        ok("an app password", &got);
        got.1["id"].as_str().unwrap_or_default().to_owned()
    } else if c.path.contains("{token}") {
        let got = server
            .post(
                Some(&actor.token),
                "/api/v1/users/me/tokens",
                Some(json!({ "name": "pm", "scope": "read", "expires_in_days": 1 })),
            )
            .await;
        ok("a token", &got);
        got.1["token"]["id"]
            .as_str()
            .or_else(|| got.1["id"].as_str())
            .unwrap_or_default()
            .to_owned()
    } else {
        String::new()
    };
    // Roles are limited in number: made only for the cases that use one.
    let role = if c.path.contains("{role}") {
        new_role(server, admin, &["upload_files"]).await
    } else {
        String::new()
    };
    // Departments: made for the cases that use one, and for department administrators, who
    // administer a department of their own; theirs is under it ("inside") or elsewhere.
    let dept_admin = matches!(who, Who::DeptIn | Who::DeptOut);
    let mut parent = None;
    let department = if c.path.contains("{department}") || dept_admin {
        let mut under = None;
        if dept_admin {
            let own = new_department(server, admin, None).await;
            let got = server
                .patch(
                    Some(admin),
                    &format!("/api/v1/departments/{own}"),
                    Some(json!({ "admins": [actor.id] })),
                )
                .await;
            ok("making a department administrator", &got);
            if who == Who::DeptIn {
                under = Some(own);
            }
        }
        let id = new_department(server, admin, under.as_deref()).await;
        if dept_admin {
            parent = Some(id.clone());
            // Someone in the department, for setting their manager.
            if c.path.ends_with("/manager") {
                let got = server
                    .put(
                        Some(admin),
                        &format!("/api/v1/departments/{id}/members/{}", user.id),
                        Some(json!({ "title": "staff" })),
                    )
                    .await;
                ok("a department member", &got);
            }
        }
        // What a removal removes must be there first.
        if c.method == Method::DELETE && c.path.contains("/members/") {
            let got = server
                .put(
                    Some(admin),
                    &format!("/api/v1/departments/{id}/members/{}", user.id),
                    Some(json!({ "title": "staff" })),
                )
                .await;
            ok("a department member", &got);
        }
        if c.method == Method::DELETE && c.path.contains("/channels/") {
            let got = server
                .put(
                    Some(admin),
                    &format!("/api/v1/departments/{id}/channels/{channel}"),
                    Some(json!({ "include_subdepartments": false })),
                )
                .await;
            ok("a department channel", &got);
        }
        id
    } else {
        String::new()
    };
    let fx = Fx {
        channel,
        message,
        user: user.id,
        stranger: stranger.id,
        token,
        file,
        role,
        department,
        parent,
        new_name: unique_name("pmnew"),
    };
    (actor, fx)
}

async fn send(server: &TestServer, c: &Case, token: Option<&str>, fx: &Fx) -> (StatusCode, Value) {
    let mut headers = Vec::new();
    let bearer = token.map(|t| format!("Bearer {t}"));
    if let Some(b) = &bearer {
        headers.push(("authorization", b.as_str()));
    }
    let body = c.body.map(|b| serde_json::to_vec(&b(fx)).unwrap());
    if body.is_some() {
        headers.push(("content-type", "application/json"));
    }
    server
        .request_raw(c.method.clone(), &fill(c.path, fx), &headers, body)
        .await
}

fn outcome(c: &Case, status: StatusCode) -> String {
    let lets_through =
        c.path.contains("/ws") || c.path.contains("/events") || c.path.contains("/presence");
    match status.as_u16() {
        s if (200..300).contains(&s) => "ok".into(),
        401 => "401".into(),
        403 => "403".into(),
        404 => "404".into(),
        s if lets_through && s < 500 => "ok".into(),
        s => s.to_string(),
    }
}

async fn run_matrix(server: &TestServer) {
    let actors = Actors::build(server).await;
    let mut failures = Vec::new();
    for c in cases() {
        let dept = c.dept.unwrap_or([c.expect[3]; 2]);
        let columns = COLUMNS
            .iter()
            .zip(c.expect)
            .chain(DEPT_COLUMNS.iter().zip(dept));
        for (who, want) in columns {
            let (actor, fx) = fixtures(server, &actors, *who, &c).await;
            let got = send(server, &c, Some(&actor.token), &fx).await;
            let out = outcome(&c, got.0);
            if out != want {
                failures.push(format!(
                    "{} {}{} as {who:?}: want {want}, got {} {}",
                    c.method,
                    c.path,
                    if c.announcement {
                        " (announcement)"
                    } else {
                        ""
                    },
                    got.0,
                    got.1
                ));
            }
        }
        // A deactivated user's session and no credentials at all: 401 on every route.
        let one = "1".to_owned();
        let fx = Fx {
            channel: one.clone(),
            message: one.clone(),
            user: one.clone(),
            stranger: one.clone(),
            token: one.clone(),
            file: one.clone(),
            role: one.clone(),
            department: one.clone(),
            parent: None,
            new_name: unique_name("pmnew"),
        };
        for (what, token) in [
            ("deactivated", Some(actors.deactivated.as_str())),
            ("stranger", None),
        ] {
            let got = send(server, &c, token, &fx).await;
            if got.0 != StatusCode::UNAUTHORIZED {
                failures.push(format!(
                    "{} {} as {what}: want 401, got {} {}",
                    c.method, c.path, got.0, got.1
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "permission matrix mismatches:\n{}",
        failures.join("\n")
    );
}

#[tokio::test]
async fn the_matrix_covers_every_route() {
    let server = TestServer::start();
    let (status, doc) = server.get(None, "/api/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let mut tabled: BTreeSet<(String, String)> = cases()
        .iter()
        .map(|c| (c.method.to_string(), doc_path(c.path)))
        .collect();
    for (m, p) in PUBLIC_ROUTES {
        tabled.insert(((*m).to_owned(), (*p).to_owned()));
    }
    let missing: Vec<_> = documented.difference(&tabled).collect();
    assert!(
        missing.is_empty(),
        "routes missing from the permission matrix: {missing:?}"
    );
    let extra: Vec<_> = tabled.difference(&documented).collect();
    assert!(
        extra.is_empty(),
        "matrix routes the API does not have: {extra:?}"
    );
}

#[tokio::test]
async fn permission_matrix_on_sqlite() {
    let server = TestServer::start();
    run_matrix(&server).await;
}

#[tokio::test]
async fn permission_matrix_on_postgres() {
    let Some((_db, url)) = enclave_store::testing::fresh_database_url().await else {
        return;
    };
    let server = TestServer::start_node(&[("ENCLAVE_DATABASE__URL", url.as_str())], true);
    run_matrix(&server).await;
}

/// Refusals change nothing: a role granting what its granter lacks, unknown permission names,
/// deleting or changing a built-in role, a guest without expiry (policy default), assigning
/// roles to oneself. And a guest sees only their channel and its members.
#[tokio::test]
async fn refused_role_changes_change_nothing_and_guests_see_only_their_channels() {
    let server = TestServer::start();
    let admin = server.admin_token().await;
    // A role manager who may manage and assign roles, and nothing else.
    let manager_role = new_role(
        &server,
        &admin,
        &["manage_roles", "assign_roles", "upload_files"],
    )
    .await;
    let manager = new_user(&server, "pmmanager").await;
    let got = server
        .put(
            Some(&admin),
            &format!("/api/v1/users/{}/roles", manager.id),
            Some(json!({ "roles": [manager_role] })),
        )
        .await;
    ok("assigning", &got);
    let roles_before = server
        .get(Some(&admin), "/api/v1/admin/roles", None)
        .await
        .1;
    for (body, status, code) in [
        (
            json!({ "name": "auditors", "permissions": ["view_audit_log"] }),
            403,
            "forbidden",
        ),
        (
            json!({ "name": "flyers", "permissions": ["fly"] }),
            400,
            "invalid_field",
        ),
        (
            json!({ "name": "", "permissions": [] }),
            400,
            "invalid_field",
        ),
        (
            json!({ "name": "guest", "permissions": [] }),
            409,
            "conflict",
        ),
    ] {
        let got = server
            .post(
                Some(&manager.token),
                "/api/v1/admin/roles",
                Some(body.clone()),
            )
            .await;
        assert_eq!(got.0.as_u16(), status, "{body}: {}", got.1);
        assert_eq!(got.1["error"]["code"], code, "{body}: {}", got.1);
    }
    // Within the manager's own permissions it works.
    let got = server
        .post(
            Some(&manager.token),
            "/api/v1/admin/roles",
            Some(json!({ "name": "uploaders", "permissions": ["upload_files"] })),
        )
        .await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
    let uploaders = got.1["id"].as_str().unwrap().to_owned();
    // Making the role grant more than the manager holds is refused.
    let got = server
        .patch(
            Some(&manager.token),
            &format!("/api/v1/admin/roles/{uploaders}"),
            Some(json!({ "permissions": ["manage_users"] })),
        )
        .await;
    assert_eq!(got.0, StatusCode::FORBIDDEN, "{}", got.1);
    // Built-in roles are neither deleted nor changed.
    for b in ["system_admin", "member", "guest"] {
        let got = server
            .delete(Some(&admin), &format!("/api/v1/admin/roles/{b}"), None)
            .await;
        assert_eq!(got.0, StatusCode::CONFLICT, "{}", got.1);
        let got = server
            .patch(
                Some(&admin),
                &format!("/api/v1/admin/roles/{b}"),
                Some(json!({ "description": "x" })),
            )
            .await;
        assert_eq!(got.0, StatusCode::CONFLICT, "{}", got.1);
    }
    // A built-in role's id is a taken name (409, like any taken name); a description hides
    // no text-direction characters (400); neither creates anything.
    let listed_before = server.get(Some(&admin), "/api/v1/admin/roles", None).await;
    for name in ["Member", " system_admin ", "GUEST"] {
        let got = server
            .post(
                Some(&admin),
                "/api/v1/admin/roles",
                Some(json!({ "name": name, "permissions": [] })),
            )
            .await;
        assert_eq!(got.0, StatusCode::CONFLICT, "{name}: {}", got.1);
    }
    let got = server
        .post(
            Some(&admin),
            "/api/v1/admin/roles",
            Some(json!({ "name": "Spoofed", "description": "abc\u{202e}fed", "permissions": [] })),
        )
        .await;
    assert_eq!(got.0, StatusCode::BAD_REQUEST, "{}", got.1);
    assert_eq!(got.1["error"]["field"], "description", "{}", got.1);
    assert_eq!(
        server
            .get(Some(&admin), "/api/v1/admin/roles", None)
            .await
            .1,
        listed_before.1
    );
    // Nobody assigns themselves roles; assigning the administrator role needs every permission.
    let got = server
        .put(
            Some(&manager.token),
            &format!("/api/v1/users/{}/roles", manager.id),
            Some(json!({ "roles": ["system_admin"] })),
        )
        .await;
    assert_eq!(got.0, StatusCode::CONFLICT, "{}", got.1);
    let member = new_user(&server, "pmplain").await;
    let got = server
        .put(
            Some(&manager.token),
            &format!("/api/v1/users/{}/roles", member.id),
            Some(json!({ "roles": ["system_admin"] })),
        )
        .await;
    assert_eq!(got.0, StatusCode::FORBIDDEN, "{}", got.1);
    let got = server
        .put(
            Some(&admin),
            &format!("/api/v1/users/{}/roles", member.id),
            Some(json!({ "roles": ["nope"] })),
        )
        .await;
    assert_eq!(got.0, StatusCode::BAD_REQUEST, "{}", got.1);
    let got = server
        .put(
            Some(&admin),
            &format!("/api/v1/users/{}/roles", member.id),
            Some(json!({ "roles": ["999999"] })),
        )
        .await;
    assert_eq!(got.1["error"]["code"], "role_not_found", "{}", got.1);
    let roles_after = server
        .get(Some(&admin), "/api/v1/admin/roles", None)
        .await
        .1;
    let names = |v: &Value| -> Vec<String> {
        v["roles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let mut expected = names(&roles_before);
    expected.push("uploaders".into());
    assert_eq!(
        names(&roles_after),
        expected,
        "only the allowed role was added"
    );
    let got = server
        .get(
            Some(&admin),
            &format!("/api/v1/users/{}/roles", member.id),
            None,
        )
        .await;
    assert_eq!(
        got.1["roles"],
        json!(["member"]),
        "refused assignments changed nothing"
    );

    // Guests: an expiry is required by default, and a refusal creates no account.
    let channel = server
        .create_channel(&admin, &unique_name("pm guests"), "private")
        .await;
    let other = server
        .create_channel(&admin, &unique_name("pm other"), "public")
        .await;
    let name = unique_name("pmnoexp");
    let got = server
        .post(
            Some(&admin),
            "/api/v1/admin/guests",
            Some(json!({ "username": name, "password": USER_PASSWORD, "channel_ids": [channel] })),
        )
        .await;
    assert_eq!(got.0, StatusCode::BAD_REQUEST, "{}", got.1);
    assert_eq!(got.1["error"]["field"], "expires_at", "{}", got.1);
    let (status, _) = server.login(&name, USER_PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no account was made");

    let guest = invite_guest(&server, &admin, &channel).await;
    let (_, mine) = server
        .get(Some(&guest.token), "/api/v1/channels", None)
        .await;
    let ids: Vec<&str> = mine["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [channel.as_str()], "the guest's channels: {mine}");
    let got = server
        .get(
            Some(&guest.token),
            &format!("/api/v1/channels/{other}"),
            None,
        )
        .await;
    assert_eq!(
        got.0,
        StatusCode::NOT_FOUND,
        "a public channel does not exist for a guest"
    );
    let got = server
        .get(
            Some(&guest.token),
            &format!("/api/v1/users/{}", member.id),
            None,
        )
        .await;
    assert_eq!(
        got.0,
        StatusCode::NOT_FOUND,
        "nor does a user outside their channels"
    );
    let got = server.get(Some(&guest.token), "/api/v1/users", None).await;
    assert_eq!(got.0, StatusCode::FORBIDDEN, "nor the directory");
    let (_, me) = server
        .get(Some(&guest.token), "/api/v1/users/me", None)
        .await;
    assert_eq!(me["is_guest"], true);
    assert!(me["guest_expires_at"].as_str().is_some(), "{me}");

    // An expiring guest: once the date passes, the session stops working and signing in fails.
    let name = unique_name("pmshort");
    let soon = rfc3339_in(2);
    let got = server
        .post(Some(&admin), "/api/v1/admin/guests", Some(json!({ "username": name, "password": USER_PASSWORD, "expires_at": soon, "channel_ids": [channel] })))
        .await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
    let token = server.login_token(&name, USER_PASSWORD).await;
    let got = server.get(Some(&token), "/api/v1/users/me", None).await;
    assert_eq!(got.0, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let got = server.get(Some(&token), "/api/v1/users/me", None).await;
    assert_eq!(
        got.0,
        StatusCode::UNAUTHORIZED,
        "an expired guest's session: {}",
        got.1
    );
    let (status, _) = server.login(&name, USER_PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "an expired guest cannot sign in"
    );
}
