//! The web client's TypeScript types are generated from the Rust wire types (the REST DTOs, the
//! WebSocket frames, and the code tables behind `ErrorCode`, `EventKind` and `ChannelKind`)
//! into `web/src/gen/wire.ts`, which is committed. This test fails when regenerating would
//! change that file, so the client and the server cannot drift apart unnoticed; the client's
//! `tsc --noEmit` then fails wherever it uses a field that no longer exists. It also fails when
//! a type the generated file refers to, or a schema of the OpenAPI document, is not declared.
//!
//! Regenerate with `UPDATE_TS=1 cargo test -p enclave-http --test typescript`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use enclave_app::ErrorCode;
use enclave_core::audit::AuditAction;
use enclave_core::{ChannelKind, EventKind};
use enclave_http::dto::*;
use enclave_http::error::{ErrorBody, ErrorDetail};
use enclave_http::frames::{ClientFrame, EphemeralFrame, EventBody, EventFrame, ServerFrame};
use enclave_http::routes::ws::{EventList, PresenceList};
use ts_rs::{Config, TS};

const HEADER: &str = "\
// Generated from the Rust wire types by crates/http/tests/typescript.rs. Do not edit: change
// the Rust types, then run `UPDATE_TS=1 cargo test -p enclave-http --test typescript`.
// Ids are decimal strings; times are RFC 3339 UTC strings (see crates/http/src/dto.rs).
";

/// The file being built, and what its declarations refer to.
struct Out {
    cfg: Config,
    text: String,
    declared: BTreeSet<String>,
    referenced: BTreeSet<(String, String)>,
}

impl Out {
    fn section(&mut self, title: &str) {
        self.text.push_str(&format!("\n// {title}\n"));
    }

    /// Declares a type derived with `ts_rs::TS`.
    fn decl<T: TS + 'static>(&mut self) {
        let name = T::ident(&self.cfg);
        if let Some(docs) = T::docs() {
            self.text.push_str(&docs);
        }
        self.text.push_str("export ");
        self.text.push_str(&T::decl(&self.cfg));
        self.text.push('\n');
        for dep in T::dependencies(&self.cfg) {
            self.referenced.insert((name.clone(), dep.ts_name));
        }
        assert!(self.declared.insert(name.clone()), "{name} declared twice");
    }

    /// Declares a constant list of string literals from one of the Rust code tables (for code
    /// that iterates it at run time), and the union of its members.
    fn list(&mut self, const_name: &str, type_name: &str, doc: &str, members: &[&str]) {
        self.text
            .push_str(&format!("/** {doc} */\nexport const {const_name} = [\n"));
        for value in members {
            self.text.push_str(&format!("  {value:?},\n"));
        }
        self.text.push_str("] as const;\n");
        self.text.push_str(&format!(
            "export type {type_name} = (typeof {const_name})[number];\n"
        ));
        assert!(
            self.declared.insert(type_name.to_owned()),
            "{type_name} declared twice"
        );
    }

    /// Declares a union of string literals from one of the Rust code tables.
    fn union(&mut self, name: &str, doc: &str, members: &[(&str, &str)]) {
        self.text
            .push_str(&format!("/** {doc} */\nexport type {name} =\n"));
        for (value, meaning) in members {
            self.text.push_str(&format!("  | {value:?}"));
            if !meaning.is_empty() {
                self.text.push_str(&format!(" // {meaning}"));
            }
            self.text.push('\n');
        }
        self.text.push_str(";\n");
        assert!(
            self.declared.insert(name.to_owned()),
            "{name} declared twice"
        );
    }
}

fn generate() -> String {
    let mut out = Out {
        cfg: Config::new().with_large_int("number"),
        text: HEADER.to_owned(),
        declared: BTreeSet::new(),
        referenced: BTreeSet::new(),
    };

    out.section("Code tables");
    let codes: Vec<(&str, &str)> = ErrorCode::ALL
        .iter()
        .map(|c| (c.as_str(), c.meaning()))
        .collect();
    out.union(
        "ErrorCode",
        "Every error code the API reports (REST bodies and WebSocket `error` frames): enclave_app::ErrorCode.",
        &codes,
    );
    let kinds: Vec<(&str, &str)> = EventKind::ALL.iter().map(|k| (k.as_str(), "")).collect();
    out.union("EventKind", "The `type` of an event frame.", &kinds);
    let notices: Vec<(&str, &str)> = enclave_core::notices::NoticeKind::ALL
        .iter()
        .map(|k| (k.as_str(), ""))
        .collect();
    out.union(
        "NoticeKind",
        "What a notice (a message about the conversation itself) says.",
        &notices,
    );
    let channel_kinds: Vec<(&str, &str)> =
        ChannelKind::ALL.iter().map(|k| (k.as_str(), "")).collect();
    out.union(
        "ChannelKind",
        "The four kinds of conversation.",
        &channel_kinds,
    );

    let actions: Vec<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
    out.list(
        "AUDIT_ACTIONS",
        "AuditAction",
        "Every action the audit log records, in order: enclave_core::audit::AuditAction.",
        &actions,
    );

    out.section("Ids in requests (decimal strings; numbers are accepted too)");
    out.decl::<WireId>();

    out.section("Errors");
    out.decl::<ErrorBody>();
    out.decl::<ErrorDetail>();

    out.section("Users and auth");
    out.decl::<UserDto>();
    out.decl::<LoginRequest>();
    out.decl::<LoginResponse>();
    out.decl::<LoginAnswer>();
    out.decl::<SecondFactorRequired>();
    out.decl::<SecondFactorChallengeDto>();
    out.decl::<SecondFactorLoginRequest>();
    out.decl::<SecondFactorLoginResponse>();
    out.decl::<ChallengeRequest>();
    out.decl::<TotpSetupDto>();
    out.decl::<TotpConfirmRequest>();
    out.decl::<RecoveryCodesDto>();
    out.decl::<ReauthRequest>();
    out.decl::<SecondFactorStatusDto>();
    out.decl::<SecondFactorPolicyDto>();
    out.decl::<SetSecondFactorPolicyRequest>();
    out.decl::<EnrolledDto>();
    out.decl::<SecondFactorOverview>();
    out.decl::<WebAuthnKeyDto>();
    out.decl::<WebAuthnKeyList>();
    out.decl::<WebAuthnRegisteredDto>();
    out.decl::<WebAuthnRegistrationDto>();
    out.decl::<WebAuthnFinishRequest>();
    out.decl::<WebAuthnRenameRequest>();
    out.decl::<SetupStatus>();
    out.decl::<SsoProviderDto>();
    out.decl::<SsoProviders>();
    out.decl::<SsoExchangeRequest>();
    out.decl::<SsoStatusQuery>();
    out.decl::<SsoStatusDto>();
    out.decl::<SsoStatusList>();
    out.decl::<CreateUserRequest>();
    out.decl::<UpdateUserRequest>();
    // Roles and guests
    out.decl::<PermissionDto>();
    out.decl::<RoleDto>();
    out.decl::<RoleList>();
    out.decl::<CreateRoleRequest>();
    out.decl::<UpdateRoleRequest>();
    out.decl::<UserRolesDto>();
    out.decl::<SetUserRolesRequest>();
    out.decl::<InviteGuestRequest>();
    out.decl::<UserListQuery>();
    out.decl::<UserList>();
    out.decl::<CreateBotRequest>();
    out.decl::<BotWithToken>();
    out.decl::<BotList>();
    out.decl::<CreateWebhookRequest>();
    out.decl::<WebhookDto>();
    out.decl::<WebhookWithUrl>();
    out.decl::<WebhookList>();
    out.section("Outgoing webhooks (docs/api/integrations.md)");
    out.decl::<OutgoingContentType>();
    out.decl::<CreateOutgoingWebhookRequest>();
    out.decl::<OutgoingWebhookDto>();
    out.decl::<OutgoingWebhookWithSecret>();
    out.decl::<OutgoingWebhookList>();
    out.decl::<DeliveryStatusDto>();
    out.decl::<DeliveryDto>();
    out.decl::<DeliveryList>();
    out.section("Slash commands (docs/api/integrations.md)");
    out.decl::<RunCommandRequest>();
    out.decl::<CommandResultDto>();
    out.decl::<CommandSpecDto>();
    out.decl::<CommandList>();
    out.decl::<CreateCommandRequest>();
    out.decl::<CustomCommandDto>();
    out.decl::<CustomCommandWithSecretDto>();
    out.decl::<CustomCommandList>();
    out.section("Users and auth: tokens");
    out.decl::<TokenDto>();
    out.decl::<TokenList>();
    out.decl::<CreateTokenRequest>();
    out.decl::<CreatedToken>();
    out.decl::<SessionDto>();
    out.decl::<SessionList>();
    out.decl::<EndedSessions>();
    out.decl::<AppPasswordDto>();
    out.decl::<AppPasswordList>();
    out.decl::<CreateAppPasswordRequest>();
    out.decl::<CreatedAppPassword>();
    out.decl::<PresenceDto>();
    out.decl::<PresenceList>();

    out.section("Channels");
    out.decl::<ChannelDto>();
    out.decl::<ChannelList>();
    out.decl::<CreateChannelRequest>();
    out.decl::<UpdateChannelRequest>();
    out.decl::<BrowseQueryParams>();
    out.decl::<OpenDmRequest>();
    out.decl::<MembershipDto>();
    out.decl::<MemberDto>();
    out.decl::<MemberList>();
    out.decl::<MemberListQuery>();
    out.decl::<AddMemberRequest>();
    out.decl::<UpdateMemberRequest>();
    out.decl::<MarkReadRequest>();

    out.section("Messages and files");
    out.decl::<ReactionDto>();
    out.decl::<MentionsDto>();
    out.decl::<MessageDto>();
    out.decl::<ThumbnailDto>();
    out.decl::<FileDto>();
    out.decl::<UploadQuery>();
    out.decl::<DownloadQuery>();
    out.decl::<MessageList>();
    out.decl::<PostMessageRequest>();
    out.decl::<EditMessageRequest>();
    out.decl::<HistoryQuery>();
    out.decl::<ThreadQuery>();
    out.decl::<Health>();

    out.section("Search");
    out.decl::<SearchQueryParams>();
    out.decl::<SnippetSegment>();
    out.decl::<SearchChannel>();
    out.decl::<SearchResult>();
    out.decl::<SearchResults>();
    out.decl::<ChannelSearchParams>();
    out.decl::<ChannelMatch>();
    out.decl::<ChannelMatches>();

    out.section("Departments and the directory (docs/admin/departments.md)");
    out.decl::<DepartmentChannelDto>();
    out.decl::<DepartmentDto>();
    out.decl::<DepartmentTree>();
    out.decl::<CreateDepartmentRequest>();
    out.decl::<UpdateDepartmentRequest>();
    out.decl::<SetDepartmentMemberRequest>();
    out.decl::<LinkChannelRequest>();
    out.decl::<SetManagerRequest>();
    out.decl::<DepartmentMemberDto>();
    out.decl::<DepartmentMemberList>();
    out.decl::<PlacementDto>();
    out.decl::<DirectoryQuery>();
    out.decl::<PeopleList>();
    out.decl::<CardDepartmentDto>();
    out.decl::<CardDto>();

    out.section("Real time: WebSocket frames and the HTTP catch-up (docs/api/realtime.md)");
    out.decl::<EventFrame>();
    out.decl::<EventBody>();
    out.decl::<EphemeralFrame>();
    out.decl::<ServerFrame>();
    out.decl::<ClientFrame>();
    out.decl::<EventList>();

    out.section("Administration: sign-in throttles (docs/admin/lockout.md)");
    out.decl::<LockoutDto>();
    out.decl::<LockoutList>();
    out.decl::<LockoutQuery>();
    out.decl::<LockoutsCleared>();
    out.section("Administration: identity providers and the directory sync (docs/admin/ldap.md)");
    out.decl::<SyncChangeDto>();
    out.decl::<SyncReportDto>();
    out.decl::<SyncRunDto>();
    out.decl::<IdentityProviderDto>();
    out.decl::<IdentityProviderList>();
    out.decl::<SyncRequest>();
    out.decl::<SyncStarted>();
    out.section("Administration: backups (docs/admin/backup.md)");
    out.decl::<BackupScheduleDto>();
    out.decl::<BackupRunDto>();
    out.decl::<BackupDto>();
    out.decl::<BackupsDto>();
    out.section("Administration: retention and legal holds (docs/admin/retention.md)");
    out.decl::<ChannelRetentionDto>();
    out.decl::<ChannelPurgeDto>();
    out.decl::<RetentionRunDto>();
    out.decl::<RetentionDto>();
    out.decl::<RetentionPolicyRequest>();
    out.decl::<ChannelRetentionRequest>();
    out.decl::<RetentionRunStarted>();
    out.decl::<LegalHoldDto>();
    out.decl::<LegalHoldList>();
    out.decl::<CreateHoldRequest>();
    out.section("Administration: the audit log");
    out.decl::<AuditQueryParams>();
    out.decl::<AuditEntryDto>();
    out.decl::<AuditPage>();

    for (user, dep) in &out.referenced {
        assert!(
            out.declared.contains(dep),
            "{user} refers to {dep}, which is not declared: add it to {}",
            file!()
        );
    }
    // Every body the OpenAPI document describes has its TypeScript type: a DTO added to a route
    // without being added here fails.
    let openapi = enclave_http::openapi();
    let schemas = openapi.components.map(|c| c.schemas).unwrap_or_default();
    assert!(schemas.len() > 30, "the OpenAPI document lists its schemas");
    for name in schemas.keys() {
        assert!(
            out.declared.contains(name),
            "{name} is in the OpenAPI document but not in web/src/gen/wire.ts: add it to {}",
            file!()
        );
    }
    // ts-rs leaves a space at the end of some lines.
    let mut text: String = out
        .text
        .lines()
        .map(|line| format!("{}\n", line.trim_end()))
        .collect();
    text.truncate(text.trim_end().len());
    text.push('\n');
    text
}

fn target() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../web/src/gen/wire.ts")
}

#[test]
fn generated_typescript_matches_the_rust_wire_types() {
    let generated = generate();
    let path = target();
    if std::env::var_os("UPDATE_TS").is_some_and(|v| !v.is_empty() && v != "0") {
        std::fs::create_dir_all(path.parent().expect("a parent folder"))
            .expect("creating web/src/gen");
        std::fs::write(&path, &generated).expect("writing web/src/gen/wire.ts");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        let first_difference = committed
            .lines()
            .zip(generated.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .map_or_else(
                || "one file is a prefix of the other".to_owned(),
                |(i, (a, b))| format!("line {}:\n  committed: {a}\n  generated: {b}", i + 1),
            );
        panic!(
            "web/src/gen/wire.ts is out of date with the Rust wire types ({first_difference}).\n\
             Regenerate it with `UPDATE_TS=1 cargo test -p enclave-http --test typescript`, then \
             check the web client with `cd web && npm run typecheck`."
        );
    }
}
