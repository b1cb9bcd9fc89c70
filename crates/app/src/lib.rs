//! Enclave's use-cases. Each service owns one aggregate and takes its dependencies explicitly:
//! [`Accounts`] (users, passwords, sessions, tokens), [`Channels`] (channels, members, direct
//! conversations, read state) and [`Messages`] (posting, history, threads, edits, reactions,
//! pins), [`Files`] (uploads, downloads, thumbnails, the sweep, key rotation) and
//! [`Search`] (messages by full text, channels by name), and [`Audit`] (the tamper-evident audit
//! log: [`Audit::record`] is the one way to write it). Two long-lived parts: the
//! [`realtime`] hub (deliveries, presence, typing) and the background [`jobs`] (pruning the
//! event log, sweeping files) with their scheduler.
//!
//! Doors call these services and nothing below them. Every method that acts for a user takes
//! the authenticated [`Actor`] and decides with `enclave_core::permissions`; writes that depend
//! on a permission hand the store a guard that re-runs the same check inside the transaction.

mod accounts;
pub mod audit;
pub mod backups;
mod channels;
mod code;
pub mod commands;
pub mod departments;
mod encoded;
mod error;
mod feed;
mod files;
pub mod import;
pub mod jobs;
pub mod ldap;
mod messages;
pub mod outbound;
pub mod outgoing;
pub mod ratelimit;
pub mod realtime;
pub mod retention;
mod roles;
mod search;
mod signing;
pub mod slack;
pub mod sso;
pub mod webhooks;

pub use accounts::{
    Accounts, AuthConfig, Authed, BotToken, Challenge, Clock, CreateUser, Credential,
    DirectoryAnswer, DirectoryLogin, Enrolled, FactorProof, Lockout, MAX_APP_PASSWORDS,
    OidcAssertion, PassedSecondFactor, Proof, Reauth, SecondFactorConfig, SecondFactorStatus,
    SecondFactorStep, SessionClient, SessionGrant, TokenLifetime, TotpSetup, UpdateUser,
    VerifiedIdentity, WebAuthnConfig, WebAuthnKeyInfo, WebAuthnRegistered, WebAuthnRegistration,
    session_client_name,
};
pub use audit::{Audit, AuditRecord, AuditSource, RequestContext};
pub use backups::Backups;
pub use channels::{ChannelInput, ChannelUpdate, Channels};
pub use code::{CodeInfo, ErrorCode, domain_code};
pub use commands::{
    CommandInput, CommandOutcome, CommandSpec, Commands, CustomCommandInput,
    CustomCommandWithSecret, Invocation,
};
pub use departments::{
    Card, DepartmentInput, DepartmentUpdate, Departments, ImportReport, ImportRow, Placement,
    SyncReport, TreeView,
};
pub use enclave_core::{self as core, Actor};
pub use enclave_store::{self as store, AuditQuery, BrowseQuery, Posted, Store, UserQuery};
pub use encoded::{Door, Encodings};
pub use error::{Error, Result};
pub use feed::EventFeed;
pub use files::{BodyError, Download, Files, FilesConfig, Previews, clean_name};
pub use import::{ImportOptions, ImportProgress, Importer};
pub use ldap::{DirectorySyncReport, Ldap, LdapProvider};
pub use messages::{Messages, PostInput};
pub use outbound::{AllowedHost, AllowedNetwork, Outbound, OutboundConfig, OutboundError};
pub use outgoing::{Outgoing, OutgoingInput, OutgoingWithSecret};
pub use ratelimit::{Kind as RateKind, RateLimitConfig, UserLimits};
pub use realtime::{Hub, RealtimeConfig};
pub use retention::{HoldInput, Retention, RetentionConfig, RetentionView};
pub use roles::{GuestInput, HeldRoles, MAX_GUEST_CHANNELS, RoleInput, RoleUpdate, Roles};
pub use search::{Hit, HitPage, MAX_SEARCH_LIMIT, MAX_SEARCH_OFFSET, Search};
pub use sso::{LinkBy, ProviderButton, ProviderConfig, ProviderStatus, Sso, SsoConfig};
pub use webhooks::{WebhookSecret, Webhooks};

use enclave_core::{Error as DomainError, permissions};
use enclave_store::{Guard, GuardCtx, Lifecycle};

/// A guard that checks `action` for `actor` inside the store's transaction.
fn guard(actor: Actor, action: permissions::Action) -> Guard {
    Box::new(move |ctx: &GuardCtx<'_>| {
        permissions::check(&actor, ctx.channel, ctx.membership, action)
    })
}

/// A guard whose action depends on the message being changed (its author).
fn message_guard(actor: Actor, action: fn(enclave_core::UserId) -> permissions::Action) -> Guard {
    Box::new(move |ctx: &GuardCtx<'_>| {
        let Some(msg) = ctx.message else {
            return Err(DomainError::NotFound(enclave_core::Entity::Message));
        };
        permissions::check(&actor, ctx.channel, ctx.membership, action(msg.user_id))
    })
}

/// Liveness and readiness of what the application depends on.
pub struct Health {
    store: std::sync::Arc<dyn Lifecycle>,
}

impl Health {
    pub fn new(store: std::sync::Arc<dyn Lifecycle>) -> Self {
        Health { store }
    }

    /// Succeeds when the database answers.
    pub async fn ready(&self) -> Result<()> {
        Ok(self.store.ping().await?)
    }
}
