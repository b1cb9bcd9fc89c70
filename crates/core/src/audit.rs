//! The audit log: what is recorded ([`AuditAction`], [`AuditTarget`], [`AuditSummary`]), the shape
//! of an entry ([`AuditEntry`]), and the hash chain that makes tampering visible
//! ([`AuditEntry::seal`], [`ChainVerifier`]).
//!
//! # The chain
//!
//! Entries are numbered `1, 2, 3, ...` (`seq`, no gaps). Each entry stores `prev_hash`, the hash
//! of the entry before it (32 zero bytes, [`GENESIS`], for the first), and its own `hash`:
//!
//! ```text
//! hash(n)      = SHA-256( canonical_bytes(n) ‖ prev_hash(n) )
//! prev_hash(n) = hash(n - 1)
//! ```
//!
//! [`AuditEntry::canonical_bytes`] is a fixed, unambiguous encoding of every recorded field,
//! the sequence number included (a tag, then each field length-prefixed). So editing an entry
//! breaks its own hash; recomputing that hash breaks the next entry's `prev_hash`; removing,
//! inserting or moving an entry breaks the numbering or a link. Only the end of the chain can be
//! cut off unseen, which is why the head (`seq` and `hash` of the last entry) is written
//! elsewhere from time to time and compared by [`ChainVerifier::expect_head`].
//!
//! Appends must be serialised so that the chain never forks: the store appends under its single
//! writer (SQLite) or under a transaction-scoped advisory lock (PostgreSQL), reading the head and
//! sealing the new entry with [`AuditEntry::seal`] in the same transaction.
//!
//! No I/O here: the store persists entries, the application decides when to record them, and
//! `enclave audit verify` feeds the stored entries, in `seq` order, to a [`ChainVerifier`].

use sha2::{Digest, Sha256};

use crate::ids::{AppPasswordId, ChannelId, MessageId, Millis, TokenId, UserId};

/// The `prev_hash` of the first entry.
pub const GENESIS: [u8; 32] = [0; 32];

/// The most bytes of a rendered [`AuditSummary`] (JSON).
pub const MAX_SUMMARY_BYTES: usize = 4096;
/// The most characters of one value in a summary; longer ones are cut (and end in `…`).
pub const MAX_SUMMARY_VALUE_CHARS: usize = 256;
/// The most items (facts and changes) in a summary.
pub const MAX_SUMMARY_ITEMS: usize = 24;
/// The most characters of a recorded user agent.
pub const MAX_USER_AGENT_CHARS: usize = 256;
/// The most characters of a target id.
pub const MAX_TARGET_ID_CHARS: usize = 128;

/// A security-relevant action. The names ([`AuditAction::as_str`]) are stored and shown on the
/// wire; they never change once released (add new variants, never rename).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    /// A sign-in that opened a session.
    SignIn,
    /// A refused sign-in (wrong credential, unknown or deactivated account, throttled).
    SignInFailed,
    /// A session ended by its own holder (logout).
    SignOut,
    SecondFactorEnrolled,
    SecondFactorRemoved,
    /// A session ended by someone (the holder revoking another of their sessions, or an admin).
    SessionRevoked,
    TokenCreated,
    TokenRevoked,
    /// A password set or changed (by the holder or an administrator).
    PasswordChanged,
    UserCreated,
    /// Profile fields of an account changed by someone else.
    UserUpdated,
    UserDeactivated,
    UserReactivated,
    /// A site role granted or revoked (the administrator flag, custom roles).
    RoleChanged,
    /// The permissions of a role changed.
    PermissionChanged,
    /// A department created, moved, renamed, deleted, or its membership changed.
    DepartmentChanged,
    GuestInvited,
    /// A channel made public or private.
    ChannelPrivacyChanged,
    /// A channel archived or unarchived.
    ChannelArchived,
    /// Someone added to a channel by another person.
    MemberAddedByOther,
    /// Someone removed from a channel by another person.
    MemberRemovedByOther,
    /// A member's channel role changed.
    MemberRoleChanged,
    /// A message deleted by someone other than its author.
    MessageDeletedByModerator,
    ExportStarted,
    RetentionChanged,
    IntegrationChanged,
    /// An administrator read data that belongs to someone else (their sessions, a deactivated
    /// account, ...).
    AdminRead,
    /// The audit log was searched or read.
    AuditViewed,
    /// The audit log was exported.
    AuditExported,
    /// A single sign-on identity linked to or unlinked from an account.
    IdentityLinked,
    IdentityUnlinked,
    /// Site settings changed (sign-in policy, second-factor policy, ...).
    SettingsChanged,
    /// A sign-in passed its second step (which method).
    SecondFactorPassed,
    /// A second step refused (wrong, replayed or expired code, throttled, with the reason).
    SecondFactorFailed,
    /// A recovery code was used (at sign-in or to change the second factor).
    RecoveryCodeUsed,
    /// The recovery codes were issued anew (the old ones stop working).
    RecoveryCodesRegenerated,
    /// An administrator removed someone's second factors.
    SecondFactorReset,
    /// Every session of an account ended by an administrator.
    SessionsEndedByAdmin,
    /// A holder ended all their sessions but the current one.
    OtherSessionsEnded,
    AppPasswordCreated,
    AppPasswordRevoked,
    /// A directory sync run (LDAP / Active Directory): its counts, and the accounts it
    /// created, changed, deactivated or reactivated.
    DirectorySync,
    /// A custom role created.
    RoleCreated,
    /// A custom role's name, description or second-factor requirement changed (a change of its
    /// permissions is [`AuditAction::PermissionChanged`]).
    RoleUpdated,
    /// A custom role deleted (with every assignment of it).
    RoleDeleted,
    /// A department created (by hand, by the API, or by an import).
    DepartmentCreated,
    /// A department renamed, reordered among its siblings, its administrators changed, or a
    /// channel linked to it or unlinked.
    DepartmentUpdated,
    /// A department moved under another parent (its people and sub-departments with it).
    DepartmentMoved,
    /// A department deleted.
    DepartmentDeleted,
    /// A person placed in a department.
    DepartmentMemberAdded,
    /// A person's title or headship in a department changed.
    DepartmentMemberUpdated,
    /// A person taken out of a department.
    DepartmentMemberRemoved,
    /// A person's explicit manager set or cleared.
    ManagerChanged,
    /// A CSV import of the department tree ran (its counts; each change has its own entry).
    DepartmentsImported,
    /// The retention job removed messages and files of a channel (its counts).
    RetentionPurge,
    /// A legal hold placed on a person or a channel.
    LegalHoldCreated,
    /// A legal hold released.
    LegalHoldReleased,
}

impl AuditAction {
    /// Every action, in declaration order (for filters and documentation).
    pub const ALL: [AuditAction; 57] = [
        AuditAction::SignIn,
        AuditAction::SignInFailed,
        AuditAction::SignOut,
        AuditAction::SecondFactorEnrolled,
        AuditAction::SecondFactorRemoved,
        AuditAction::SessionRevoked,
        AuditAction::TokenCreated,
        AuditAction::TokenRevoked,
        AuditAction::PasswordChanged,
        AuditAction::UserCreated,
        AuditAction::UserUpdated,
        AuditAction::UserDeactivated,
        AuditAction::UserReactivated,
        AuditAction::RoleChanged,
        AuditAction::PermissionChanged,
        AuditAction::DepartmentChanged,
        AuditAction::GuestInvited,
        AuditAction::ChannelPrivacyChanged,
        AuditAction::ChannelArchived,
        AuditAction::MemberAddedByOther,
        AuditAction::MemberRemovedByOther,
        AuditAction::MemberRoleChanged,
        AuditAction::MessageDeletedByModerator,
        AuditAction::ExportStarted,
        AuditAction::RetentionChanged,
        AuditAction::IntegrationChanged,
        AuditAction::AdminRead,
        AuditAction::AuditViewed,
        AuditAction::AuditExported,
        AuditAction::IdentityLinked,
        AuditAction::IdentityUnlinked,
        AuditAction::SettingsChanged,
        AuditAction::SecondFactorPassed,
        AuditAction::SecondFactorFailed,
        AuditAction::RecoveryCodeUsed,
        AuditAction::RecoveryCodesRegenerated,
        AuditAction::SecondFactorReset,
        AuditAction::SessionsEndedByAdmin,
        AuditAction::OtherSessionsEnded,
        AuditAction::AppPasswordCreated,
        AuditAction::AppPasswordRevoked,
        AuditAction::DirectorySync,
        AuditAction::RoleCreated,
        AuditAction::RoleUpdated,
        AuditAction::RoleDeleted,
        AuditAction::DepartmentCreated,
        AuditAction::DepartmentUpdated,
        AuditAction::DepartmentMoved,
        AuditAction::DepartmentDeleted,
        AuditAction::DepartmentMemberAdded,
        AuditAction::DepartmentMemberUpdated,
        AuditAction::DepartmentMemberRemoved,
        AuditAction::ManagerChanged,
        AuditAction::DepartmentsImported,
        AuditAction::RetentionPurge,
        AuditAction::LegalHoldCreated,
        AuditAction::LegalHoldReleased,
    ];

    /// The stable name, as stored and shown.
    pub const fn as_str(self) -> &'static str {
        match self {
            AuditAction::SignIn => "sign_in",
            AuditAction::SignInFailed => "sign_in_failed",
            AuditAction::SignOut => "sign_out",
            AuditAction::SecondFactorEnrolled => "second_factor_enrolled",
            AuditAction::SecondFactorRemoved => "second_factor_removed",
            AuditAction::SessionRevoked => "session_revoked",
            AuditAction::TokenCreated => "token_created",
            AuditAction::TokenRevoked => "token_revoked",
            AuditAction::PasswordChanged => "password_changed",
            AuditAction::UserCreated => "user_created",
            AuditAction::UserUpdated => "user_updated",
            AuditAction::UserDeactivated => "user_deactivated",
            AuditAction::UserReactivated => "user_reactivated",
            AuditAction::RoleChanged => "role_changed",
            AuditAction::PermissionChanged => "permission_changed",
            AuditAction::DepartmentChanged => "department_changed",
            AuditAction::GuestInvited => "guest_invited",
            AuditAction::ChannelPrivacyChanged => "channel_privacy_changed",
            AuditAction::ChannelArchived => "channel_archived",
            AuditAction::MemberAddedByOther => "member_added_by_other",
            AuditAction::MemberRemovedByOther => "member_removed_by_other",
            AuditAction::MemberRoleChanged => "member_role_changed",
            AuditAction::MessageDeletedByModerator => "message_deleted_by_moderator",
            AuditAction::ExportStarted => "export_started",
            AuditAction::RetentionChanged => "retention_changed",
            AuditAction::IntegrationChanged => "integration_changed",
            AuditAction::AdminRead => "admin_read",
            AuditAction::AuditViewed => "audit_viewed",
            AuditAction::AuditExported => "audit_exported",
            AuditAction::IdentityLinked => "identity_linked",
            AuditAction::IdentityUnlinked => "identity_unlinked",
            AuditAction::SettingsChanged => "settings_changed",
            AuditAction::SecondFactorPassed => "second_factor_passed",
            AuditAction::SecondFactorFailed => "second_factor_failed",
            AuditAction::RecoveryCodeUsed => "recovery_code_used",
            AuditAction::RecoveryCodesRegenerated => "recovery_codes_regenerated",
            AuditAction::SecondFactorReset => "second_factor_reset",
            AuditAction::SessionsEndedByAdmin => "sessions_ended_by_admin",
            AuditAction::OtherSessionsEnded => "other_sessions_ended",
            AuditAction::AppPasswordCreated => "app_password_created",
            AuditAction::AppPasswordRevoked => "app_password_revoked",
            AuditAction::DirectorySync => "directory_sync",
            AuditAction::RoleCreated => "role_created",
            AuditAction::RoleUpdated => "role_updated",
            AuditAction::RoleDeleted => "role_deleted",
            AuditAction::DepartmentCreated => "department_created",
            AuditAction::DepartmentUpdated => "department_updated",
            AuditAction::DepartmentMoved => "department_moved",
            AuditAction::DepartmentDeleted => "department_deleted",
            AuditAction::DepartmentMemberAdded => "department_member_added",
            AuditAction::DepartmentMemberUpdated => "department_member_updated",
            AuditAction::DepartmentMemberRemoved => "department_member_removed",
            AuditAction::ManagerChanged => "manager_changed",
            AuditAction::DepartmentsImported => "departments_imported",
            AuditAction::RetentionPurge => "retention_purge",
            AuditAction::LegalHoldCreated => "legal_hold_created",
            AuditAction::LegalHoldReleased => "legal_hold_released",
        }
    }

    /// The action with this stable name.
    pub fn parse(name: &str) -> Option<AuditAction> {
        AuditAction::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

impl std::fmt::Display for AuditAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of thing an action was done to. Names are stable, like [`AuditAction`]'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetKind {
    User,
    Channel,
    Message,
    Token,
    Role,
    Department,
    Integration,
    /// The site as a whole (settings, retention, exports).
    Site,
    /// The audit log itself.
    AuditLog,
    AppPassword,
}

impl TargetKind {
    pub const ALL: [TargetKind; 10] = [
        TargetKind::User,
        TargetKind::Channel,
        TargetKind::Message,
        TargetKind::Token,
        TargetKind::Role,
        TargetKind::Department,
        TargetKind::Integration,
        TargetKind::Site,
        TargetKind::AuditLog,
        TargetKind::AppPassword,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            TargetKind::User => "user",
            TargetKind::Channel => "channel",
            TargetKind::Message => "message",
            TargetKind::Token => "token",
            TargetKind::Role => "role",
            TargetKind::Department => "department",
            TargetKind::Integration => "integration",
            TargetKind::Site => "site",
            TargetKind::AuditLog => "audit_log",
            TargetKind::AppPassword => "app_password",
        }
    }

    pub fn parse(name: &str) -> Option<TargetKind> {
        TargetKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// What an action was done to: a kind and an id (decimal for numeric ids).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AuditTarget {
    pub kind: TargetKind,
    pub id: String,
}

impl AuditTarget {
    /// A target; the id is cut to [`MAX_TARGET_ID_CHARS`] characters, control characters dropped.
    pub fn new(kind: TargetKind, id: impl Into<String>) -> AuditTarget {
        AuditTarget {
            kind,
            id: clean(&id.into(), MAX_TARGET_ID_CHARS),
        }
    }
    pub fn user(id: UserId) -> AuditTarget {
        AuditTarget::new(TargetKind::User, id.to_string())
    }
    pub fn channel(id: ChannelId) -> AuditTarget {
        AuditTarget::new(TargetKind::Channel, id.to_string())
    }
    pub fn message(id: MessageId) -> AuditTarget {
        AuditTarget::new(TargetKind::Message, id.to_string())
    }
    pub fn token(id: TokenId) -> AuditTarget {
        AuditTarget::new(TargetKind::Token, id.to_string())
    }
    pub fn app_password(id: AppPasswordId) -> AuditTarget {
        AuditTarget::new(TargetKind::AppPassword, id.to_string())
    }
}

/// A small before/after summary of what changed, rendered as one JSON object:
/// `{"field": {"before": "x", "after": "y"}, "fact": "value", ...}`.
///
/// Keys are names chosen by the code (ASCII letters, digits and `_`); values are cut to
/// [`MAX_SUMMARY_VALUE_CHARS`] characters, at most [`MAX_SUMMARY_ITEMS`] items are kept, and the
/// whole stays under [`MAX_SUMMARY_BYTES`] (items past a limit are dropped and
/// `"truncated": true` is added), so recording never fails on a long name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditSummary {
    items: Vec<(&'static str, Item)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Fact(String),
    Change {
        before: Option<String>,
        after: Option<String>,
    },
}

impl AuditSummary {
    pub fn new() -> AuditSummary {
        AuditSummary::default()
    }

    /// Adds a plain fact: `"key": "value"`.
    #[must_use]
    pub fn fact(mut self, key: &'static str, value: impl std::fmt::Display) -> AuditSummary {
        self.items.push((key, Item::Fact(value.to_string())));
        self
    }

    /// Adds a change: `"key": {"before": ..., "after": ...}` (`None` is `null`).
    #[must_use]
    pub fn change(
        mut self,
        key: &'static str,
        before: Option<impl std::fmt::Display>,
        after: Option<impl std::fmt::Display>,
    ) -> AuditSummary {
        self.items.push((
            key,
            Item::Change {
                before: before.map(|v| v.to_string()),
                after: after.map(|v| v.to_string()),
            },
        ));
        self
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Whether the summary has an item named `key`.
    pub fn has(&self, key: &str) -> bool {
        self.items.iter().any(|(k, _)| *k == key)
    }

    /// The JSON object, within the limits.
    pub fn to_json(&self) -> String {
        let mut out = String::from("{");
        let mut truncated = false;
        let mut n = 0;
        for (key, item) in &self.items {
            if n == MAX_SUMMARY_ITEMS {
                truncated = true;
                break;
            }
            let mut piece = String::new();
            if n > 0 {
                piece.push(',');
            }
            json_str(&mut piece, &safe_key(key));
            piece.push(':');
            match item {
                Item::Fact(v) => json_str(&mut piece, &cut(v, MAX_SUMMARY_VALUE_CHARS)),
                Item::Change { before, after } => {
                    piece.push_str("{\"before\":");
                    json_opt(&mut piece, before.as_deref());
                    piece.push_str(",\"after\":");
                    json_opt(&mut piece, after.as_deref());
                    piece.push('}');
                }
            }
            // Room for `,"truncated":true}`.
            if out.len() + piece.len() + 20 > MAX_SUMMARY_BYTES {
                truncated = true;
                break;
            }
            out.push_str(&piece);
            n += 1;
        }
        if truncated {
            if n > 0 {
                out.push(',');
            }
            out.push_str("\"truncated\":true");
        }
        out.push('}');
        out
    }
}

fn safe_key(key: &str) -> String {
    let k: String = key
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect();
    if k.is_empty() { "_".into() } else { k }
}

fn json_opt(out: &mut String, v: Option<&str>) {
    match v {
        Some(v) => json_str(out, &cut(v, MAX_SUMMARY_VALUE_CHARS)),
        None => out.push_str("null"),
    }
}

/// Appends `s` as a JSON string literal.
fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// At most `max` characters of `s`, ending in `…` when cut.
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// `s` without control characters, at most `max` characters.
fn clean(s: &str, max: usize) -> String {
    let t: String = s.chars().filter(|c| !c.is_control()).collect();
    cut(&t, max)
}

/// A new entry, as the application records it (before the store numbers and seals it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEntry {
    pub actor: Option<UserId>,
    /// The client address, as text (`IpAddr`'s display form).
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub action: AuditAction,
    pub target: Option<AuditTarget>,
    /// The rendered [`AuditSummary`] (a JSON object).
    pub summary: String,
}

impl NewAuditEntry {
    /// A new entry; the user agent is cut to [`MAX_USER_AGENT_CHARS`] with control characters
    /// dropped (an empty one is none).
    pub fn new(
        actor: Option<UserId>,
        ip: Option<std::net::IpAddr>,
        user_agent: Option<&str>,
        action: AuditAction,
        target: Option<AuditTarget>,
        summary: &AuditSummary,
    ) -> NewAuditEntry {
        NewAuditEntry {
            actor,
            ip: ip.map(|i| i.to_string()),
            user_agent: user_agent
                .map(|ua| clean(ua, MAX_USER_AGENT_CHARS))
                .filter(|ua| !ua.is_empty()),
            action,
            target,
            summary: summary.to_json(),
        }
    }
}

/// The end of the chain: the last entry's number and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditHead {
    pub seq: i64,
    pub hash: [u8; 32],
}

/// One stored entry of the audit log. Text fields are kept as stored (an entry written by a
/// newer version, with an action this one does not know, still verifies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Position in the chain: 1, 2, 3, ... without gaps.
    pub seq: i64,
    pub at: Millis,
    pub actor: Option<UserId>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The stable name of an [`AuditAction`].
    pub action: String,
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    /// A JSON object (see [`AuditSummary`]).
    pub summary: String,
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
}

/// The tag that starts the canonical bytes of every entry (the format's version).
const CANONICAL_TAG: &[u8] = b"enclave-audit-v1\0";

impl AuditEntry {
    /// Numbers and seals `new` as the entry after `head` (`None`: the first entry), at `at`.
    pub fn seal(new: NewAuditEntry, head: Option<AuditHead>, at: Millis) -> AuditEntry {
        let (seq, prev_hash) = match head {
            Some(h) => (h.seq + 1, h.hash),
            None => (1, GENESIS),
        };
        let (target_kind, target_id) = match new.target {
            Some(t) => (Some(t.kind.as_str().to_owned()), Some(t.id)),
            None => (None, None),
        };
        let mut e = AuditEntry {
            seq,
            at,
            actor: new.actor,
            ip: new.ip,
            user_agent: new.user_agent,
            action: new.action.as_str().to_owned(),
            target_kind,
            target_id,
            summary: new.summary,
            prev_hash,
            hash: [0; 32],
        };
        e.hash = e.compute_hash();
        e
    }

    /// The action, when this version knows its name.
    pub fn action_kind(&self) -> Option<AuditAction> {
        AuditAction::parse(&self.action)
    }

    /// This entry as the head of the chain.
    pub fn head(&self) -> AuditHead {
        AuditHead {
            seq: self.seq,
            hash: self.hash,
        }
    }

    /// The canonical bytes of the entry (every field but the hashes), as hashed.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        self.canonical_bytes_as(self.seq)
    }

    /// The canonical bytes the entry would have at position `seq`.
    fn canonical_bytes_as(&self, seq: i64) -> Vec<u8> {
        fn text(out: &mut Vec<u8>, v: Option<&str>) {
            match v {
                None => out.push(0),
                Some(s) => {
                    out.push(1);
                    let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
                    out.extend_from_slice(&len.to_be_bytes());
                    out.extend_from_slice(s.as_bytes());
                }
            }
        }
        let mut out = Vec::with_capacity(128 + self.summary.len());
        out.extend_from_slice(CANONICAL_TAG);
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(&self.at.0.to_be_bytes());
        match self.actor {
            None => out.push(0),
            Some(u) => {
                out.push(1);
                out.extend_from_slice(&u.0.to_be_bytes());
            }
        }
        text(&mut out, self.ip.as_deref());
        text(&mut out, self.user_agent.as_deref());
        text(&mut out, Some(&self.action));
        text(&mut out, self.target_kind.as_deref());
        text(&mut out, self.target_id.as_deref());
        text(&mut out, Some(&self.summary));
        out
    }

    /// `SHA-256(canonical_bytes ‖ prev_hash)`: what `hash` must be.
    pub fn compute_hash(&self) -> [u8; 32] {
        self.hash_as(self.seq)
    }

    fn hash_as(&self, seq: i64) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.canonical_bytes_as(seq));
        h.update(self.prev_hash);
        h.finalize().into()
    }

    /// Whether the stored hash is the hash of the entry at position `seq`.
    fn seals_as(&self, seq: i64) -> bool {
        self.hash_as(seq) == self.hash
    }
}

/// Lower-case hexadecimal of a hash.
pub fn hex(hash: &[u8; 32]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(64);
    for b in hash {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Parses 64 hexadecimal digits.
pub fn parse_hex(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// What is wrong with the chain: the first bad entry, and how it went bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    /// The entry's content was changed (its hash no longer matches, or was recomputed and no
    /// longer matches the next entry's link).
    Edited { seq: i64 },
    /// `count` entries from `seq` on are missing.
    Removed { seq: i64, count: i64 },
    /// The entry at `seq` was not in the chain; those after it were renumbered.
    Inserted { seq: i64 },
    /// The entry at `seq` belongs elsewhere in the chain (`with`: the entry it was swapped with,
    /// when known).
    Reordered { seq: i64, with: Option<i64> },
    /// The log ends at `last` (0: empty) but the recorded head names entry `recorded`.
    Truncated { last: i64, recorded: i64 },
    /// The entry at `seq` is not the one the recorded head names (its hash differs).
    HeadMismatch { seq: i64 },
}

impl Tamper {
    /// The sequence number of the first bad entry.
    pub fn seq(&self) -> i64 {
        match *self {
            Tamper::Edited { seq }
            | Tamper::Removed { seq, .. }
            | Tamper::Inserted { seq }
            | Tamper::Reordered { seq, .. }
            | Tamper::HeadMismatch { seq } => seq,
            Tamper::Truncated { last, .. } => last + 1,
        }
    }

    /// A stable one-word name: `edited`, `removed`, `inserted`, `reordered`, `truncated`,
    /// `head_mismatch`.
    pub fn kind(&self) -> &'static str {
        match self {
            Tamper::Edited { .. } => "edited",
            Tamper::Removed { .. } => "removed",
            Tamper::Inserted { .. } => "inserted",
            Tamper::Reordered { .. } => "reordered",
            Tamper::Truncated { .. } => "truncated",
            Tamper::HeadMismatch { .. } => "head_mismatch",
        }
    }
}

impl std::fmt::Display for Tamper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Tamper::Edited { seq } => write!(f, "entry {seq} was edited"),
            Tamper::Removed { seq, count } if count <= 1 => {
                write!(f, "entry {seq} was removed")
            }
            Tamper::Removed { seq, count } => write!(
                f,
                "entry {seq} was removed ({count} entries missing: {seq} to {})",
                seq + count - 1
            ),
            Tamper::Inserted { seq } => write!(
                f,
                "entry {seq} was inserted (it is not part of the chain; later entries were renumbered)"
            ),
            Tamper::Reordered {
                seq,
                with: Some(other),
            } => write!(f, "entry {seq} was reordered (swapped with entry {other})"),
            Tamper::Reordered { seq, with: None } => write!(
                f,
                "entry {seq} was reordered (it belongs elsewhere in the chain, or was inserted)"
            ),
            Tamper::Truncated { last, recorded } => write!(
                f,
                "the log was truncated: it ends at entry {last} but the recorded head is entry {recorded} (entry {} was removed)",
                last + 1
            ),
            Tamper::HeadMismatch { seq } => write!(
                f,
                "entry {seq} was edited (it differs from the recorded head)"
            ),
        }
    }
}

/// Walks a chain, fed its entries in `seq` order, and names the first bad one.
///
/// It looks one entry ahead (an entry is judged when the next arrives, or at [`finish`]), which
/// tells an inserted or swapped entry from an edited one.
///
/// [`finish`]: ChainVerifier::finish
#[derive(Debug)]
pub struct ChainVerifier {
    expected_seq: i64,
    /// The hash of the last accepted entry (what the next `prev_hash` must be).
    prev: [u8; 32],
    /// The hash before that.
    before_prev: [u8; 32],
    pending: Option<AuditEntry>,
    last: Option<AuditHead>,
    recorded: Option<AuditHead>,
    checked: u64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier::new()
    }
}

impl ChainVerifier {
    pub fn new() -> ChainVerifier {
        ChainVerifier {
            expected_seq: 1,
            prev: GENESIS,
            before_prev: GENESIS,
            pending: None,
            last: None,
            recorded: None,
            checked: 0,
        }
    }

    /// Also checks the chain against a head recorded earlier (the head file): the entry it
    /// names must still be there, unchanged.
    #[must_use]
    pub fn expect_head(mut self, recorded: AuditHead) -> ChainVerifier {
        self.recorded = Some(recorded);
        self
    }

    /// Entries accepted so far.
    pub fn checked(&self) -> u64 {
        self.checked
    }

    /// The next entry, in `seq` order.
    pub fn push(&mut self, entry: AuditEntry) -> Result<(), Tamper> {
        if let Some(cur) = self.pending.take() {
            self.judge(cur, Some(&entry))?;
        }
        self.pending = Some(entry);
        Ok(())
    }

    /// The end of the chain: the head of a sound chain (`None` when empty).
    pub fn finish(mut self) -> Result<Option<AuditHead>, Tamper> {
        if let Some(cur) = self.pending.take() {
            self.judge(cur, None)?;
        }
        if let Some(rec) = self.recorded {
            let last = self.last.map_or(0, |h| h.seq);
            if last < rec.seq {
                return Err(Tamper::Truncated {
                    last,
                    recorded: rec.seq,
                });
            }
        }
        Ok(self.last)
    }

    fn judge(&mut self, cur: AuditEntry, next: Option<&AuditEntry>) -> Result<(), Tamper> {
        let s = cur.seq;
        if s > self.expected_seq {
            return Err(Tamper::Removed {
                seq: self.expected_seq,
                count: s - self.expected_seq,
            });
        }
        if s < self.expected_seq {
            // Numbers are unique in storage; a repeat means the feed or the table was altered.
            return Err(Tamper::Inserted { seq: s });
        }
        let sealed = cur.seals_as(s);
        let linked = cur.prev_hash == self.prev;
        if !(sealed && linked) {
            return Err(self.diagnose(&cur, next, sealed, linked));
        }
        if let Some(rec) = self.recorded
            && rec.seq == s
            && rec.hash != cur.hash
        {
            return Err(Tamper::HeadMismatch { seq: s });
        }
        self.before_prev = self.prev;
        self.prev = cur.hash;
        self.expected_seq = s + 1;
        self.last = Some(cur.head());
        self.checked += 1;
        Ok(())
    }

    /// Names what happened at `cur` (at its expected position), which does not fit the chain.
    fn diagnose(
        &self,
        cur: &AuditEntry,
        next: Option<&AuditEntry>,
        sealed: bool,
        linked: bool,
    ) -> Tamper {
        let s = cur.seq;
        // The next entry is the one that belongs here (it links to the last good entry and was
        // sealed one place earlier): this one was slipped in before it, or swapped with it.
        if let Some(n) = next
            && n.seq == s + 1
            && n.prev_hash == self.prev
            && n.seals_as(s)
        {
            return if cur.seals_as(s + 1) && cur.prev_hash == n.hash {
                Tamper::Reordered {
                    seq: s,
                    with: Some(s + 1),
                }
            } else {
                Tamper::Inserted { seq: s }
            };
        }
        // This entry was sealed one place earlier and links to the entry before the last one:
        // the last accepted entry was slipped in (with a valid hash) before it.
        if s > 1 && !sealed && cur.seals_as(s - 1) && cur.prev_hash == self.before_prev {
            return Tamper::Inserted { seq: s - 1 };
        }
        // Sealed one place later: an entry was removed here and the rest renumbered.
        if !sealed && cur.seals_as(s + 1) {
            return Tamper::Removed { seq: s, count: 1 };
        }
        match (sealed, linked) {
            // Intact itself, but the previous entry is not the one it was sealed after: the
            // previous entry was edited and its hash recomputed.
            (true, false) if s > 1 => Tamper::Edited { seq: s - 1 },
            (true, false) => Tamper::Edited { seq: s },
            (false, true) => Tamper::Edited { seq: s },
            // Neither sealed here nor linked here: it belongs elsewhere.
            _ => Tamper::Reordered { seq: s, with: None },
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    type Edit = Box<dyn Fn(&mut AuditEntry)>;

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut out: Vec<AuditEntry> = Vec::new();
        for i in 0..n {
            let new = NewAuditEntry::new(
                Some(UserId(i % 3)),
                Some(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)),
                Some("test agent"),
                AuditAction::SignIn,
                Some(AuditTarget::user(UserId(i))),
                &AuditSummary::new().fact("n", i),
            );
            let head = out.last().map(AuditEntry::head);
            out.push(AuditEntry::seal(new, head, Millis(1_000 + i)));
        }
        out
    }

    fn verify(entries: &[AuditEntry]) -> Result<Option<AuditHead>, Tamper> {
        verify_with(entries, None)
    }

    fn verify_with(
        entries: &[AuditEntry],
        head: Option<AuditHead>,
    ) -> Result<Option<AuditHead>, Tamper> {
        let mut v = ChainVerifier::new();
        if let Some(h) = head {
            v = v.expect_head(h);
        }
        for e in entries {
            v.push(e.clone())?;
        }
        v.finish()
    }

    /// Renumbers entries as a table would after rows are shifted.
    fn renumber(entries: &mut [AuditEntry]) {
        for (i, e) in entries.iter_mut().enumerate() {
            e.seq = i64::try_from(i).unwrap_or(0) + 1;
        }
    }

    #[test]
    fn action_and_target_names_round_trip_and_are_unique() {
        let mut names = std::collections::HashSet::new();
        for a in AuditAction::ALL {
            assert_eq!(AuditAction::parse(a.as_str()), Some(a));
            assert!(names.insert(a.as_str()), "{a:?}");
        }
        for k in TargetKind::ALL {
            assert_eq!(TargetKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(AuditAction::parse("nope"), None);
        assert_eq!(names.len(), 57);
    }

    #[test]
    fn an_untouched_chain_verifies_and_names_its_head() {
        let c = chain(10);
        let head = verify(&c).unwrap().unwrap();
        assert_eq!(head.seq, 10);
        assert_eq!(head.hash, c[9].hash);
        assert_eq!(c[0].prev_hash, GENESIS);
        assert_eq!(c[5].prev_hash, c[4].hash);
        assert_eq!(verify(&[]).unwrap(), None);
        assert_eq!(verify_with(&c, Some(c[6].head())).unwrap(), Some(head));
    }

    #[test]
    fn every_field_is_covered_by_the_hash() {
        let base = chain(1).remove(0);
        let edits: Vec<Edit> = vec![
            Box::new(|e| e.at = Millis(e.at.0 + 1)),
            Box::new(|e| e.actor = None),
            Box::new(|e| e.ip = Some("10.0.0.1".into())),
            Box::new(|e| e.user_agent = None),
            Box::new(|e| e.action = "sign_out".into()),
            Box::new(|e| e.target_kind = Some("channel".into())),
            Box::new(|e| e.target_id = Some("999".into())),
            Box::new(|e| e.summary = "{}".into()),
            Box::new(|e| e.prev_hash = [1; 32]),
        ];
        for edit in edits {
            let mut e = base.clone();
            edit(&mut e);
            assert_ne!(e.compute_hash(), base.hash, "{e:?}");
        }
        // Moving bytes between fields changes the hash too (length prefixes).
        let mut a = base.clone();
        a.ip = Some("1".into());
        a.user_agent = Some("2".into());
        let mut b = base.clone();
        b.ip = Some("12".into());
        b.user_agent = Some(String::new());
        assert_ne!(a.compute_hash(), b.compute_hash());
    }

    #[test]
    fn an_edited_entry_is_named() {
        let mut c = chain(10);
        c[4].summary = r#"{"n":"forged"}"#.into();
        assert_eq!(verify(&c), Err(Tamper::Edited { seq: 5 }));
        // Even with its hash recomputed: the next link breaks.
        c[4].hash = c[4].compute_hash();
        assert_eq!(verify(&c), Err(Tamper::Edited { seq: 5 }));
        // The last entry.
        let mut c = chain(10);
        c[9].actor = Some(UserId(77));
        assert_eq!(verify(&c), Err(Tamper::Edited { seq: 10 }));
        let mut c = chain(10);
        c[0].action = "sign_out".into();
        assert_eq!(verify(&c), Err(Tamper::Edited { seq: 1 }));
    }

    #[test]
    fn a_removed_entry_is_named() {
        let mut c = chain(10);
        c.remove(4);
        assert_eq!(verify(&c), Err(Tamper::Removed { seq: 5, count: 1 }));
        let mut c = chain(10);
        c.drain(2..5);
        assert_eq!(verify(&c), Err(Tamper::Removed { seq: 3, count: 3 }));
        let mut c = chain(10);
        c.remove(0);
        assert_eq!(verify(&c), Err(Tamper::Removed { seq: 1, count: 1 }));
        // Removed and the rest renumbered to hide the gap.
        let mut c = chain(10);
        c.remove(4);
        renumber(&mut c);
        assert_eq!(verify(&c), Err(Tamper::Removed { seq: 5, count: 1 }));
    }

    #[test]
    fn an_inserted_entry_is_named() {
        let c0 = chain(10);
        // A copy of another entry slipped in at 5, the rest renumbered.
        let mut c = c0.clone();
        c.insert(4, c0[1].clone());
        renumber(&mut c);
        assert_eq!(verify(&c), Err(Tamper::Inserted { seq: 5 }));
        // A forged entry, correctly sealed after entry 4.
        let mut c = c0.clone();
        let forged = AuditEntry::seal(
            NewAuditEntry::new(
                None,
                None,
                None,
                AuditAction::SignOut,
                None,
                &AuditSummary::new(),
            ),
            Some(c0[3].head()),
            Millis(5),
        );
        c.insert(4, forged);
        renumber(&mut c);
        assert_eq!(verify(&c), Err(Tamper::Inserted { seq: 5 }));
    }

    #[test]
    fn swapped_entries_are_named() {
        let c0 = chain(10);
        let mut c = c0.clone();
        c.swap(4, 5);
        renumber(&mut c);
        assert_eq!(
            verify(&c),
            Err(Tamper::Reordered {
                seq: 5,
                with: Some(6)
            })
        );
        let mut c = c0.clone();
        c.swap(2, 7);
        renumber(&mut c);
        assert_eq!(verify(&c), Err(Tamper::Reordered { seq: 3, with: None }));
    }

    #[test]
    fn truncation_and_a_changed_head_show_against_a_recorded_head() {
        let c = chain(10);
        let recorded = c[7].head();
        assert_eq!(
            verify_with(&c[..6], Some(recorded)),
            Err(Tamper::Truncated {
                last: 6,
                recorded: 8
            })
        );
        assert_eq!(
            verify_with(&[], Some(recorded)),
            Err(Tamper::Truncated {
                last: 0,
                recorded: 8
            })
        );
        // The tail rewritten from entry 8 on, every hash recomputed.
        let mut c2 = c[..7].to_vec();
        for i in 7..10 {
            let new = NewAuditEntry::new(
                None,
                None,
                None,
                AuditAction::SignIn,
                None,
                &AuditSummary::new().fact("i", i),
            );
            let head = c2.last().map(AuditEntry::head);
            c2.push(AuditEntry::seal(new, head, Millis(9)));
        }
        assert_eq!(
            verify_with(&c2, Some(recorded)),
            Err(Tamper::HeadMismatch { seq: 8 })
        );
        assert!(
            verify(&c2).is_ok(),
            "without the head the rewrite is undetectable"
        );
    }

    #[test]
    fn summaries_are_json_objects_within_limits() {
        let s = AuditSummary::new()
            .fact("login", "al\"ice\n")
            .change("is_admin", Some(false), Some(true))
            .change("email", None::<String>, Some("a@b"));
        assert_eq!(
            s.to_json(),
            r#"{"login":"al\"ice\n","is_admin":{"before":"false","after":"true"},"email":{"before":null,"after":"a@b"}}"#
        );
        assert_eq!(AuditSummary::new().to_json(), "{}");
        let long = "x".repeat(10_000);
        let mut big = AuditSummary::new();
        for _ in 0..100 {
            big = big.change("f", Some(&long), Some(&long));
        }
        let j = big.to_json();
        assert!(j.len() <= MAX_SUMMARY_BYTES, "{}", j.len());
        assert!(j.ends_with(",\"truncated\":true}"), "{j}");
        let one = AuditSummary::new().fact("v", &long).to_json();
        assert_eq!(
            one.chars().filter(|c| *c == 'x').count(),
            MAX_SUMMARY_VALUE_CHARS - 1
        );
    }

    #[test]
    fn hex_round_trips() {
        let h = chain(1)[0].hash;
        assert_eq!(parse_hex(&hex(&h)), Some(h));
        assert_eq!(parse_hex("zz"), None);
        assert_eq!(parse_hex(&"g".repeat(64)), None);
    }

    #[test]
    fn user_agents_are_cleaned() {
        let e = NewAuditEntry::new(
            None,
            None,
            Some("\u{7}"),
            AuditAction::SignIn,
            None,
            &AuditSummary::new(),
        );
        assert_eq!(e.user_agent, None);
        let e = NewAuditEntry::new(
            None,
            None,
            Some(&"a".repeat(1000)),
            AuditAction::SignIn,
            None,
            &AuditSummary::new(),
        );
        assert_eq!(
            e.user_agent.map(|u| u.chars().count()),
            Some(MAX_USER_AGENT_CHARS)
        );
    }
}
