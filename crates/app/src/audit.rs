//! The audit log service: one entry point to record ([`Audit::record`]), and the reads an
//! administrator with `SitePermission::ViewAuditLog` may make (each of which is itself recorded).
//!
//! Services hold an [`Audit`] (`with_audit` on `Accounts`, `Channels`, `Messages`) and record
//! after the change they describe has committed; doors pass the client's address and user agent
//! as a [`RequestContext`]. What an entry holds and how the chain is sealed and verified is
//! `enclave_core::audit`; appending without forking the chain is the store's
//! (`enclave_store::AuditStore`).
//!
//! ```ignore
//! state.audit.record(
//!     AuditRecord::new(AuditAction::RoleChanged)
//!         .by(actor.user_id)
//!         .context(&ctx)
//!         .target(AuditTarget::user(target))
//!         .summary(AuditSummary::new().change("is_admin", Some(false), Some(true))),
//! ).await;
//! ```

use std::net::IpAddr;
use std::sync::Arc;

use enclave_core::audit::{
    AuditAction, AuditEntry, AuditHead, AuditSummary, AuditTarget, NewAuditEntry, TargetKind,
};
use enclave_core::permissions::check_audit_log;
use enclave_core::{Actor, UserId};
use enclave_store::{AuditQuery, AuditStore};

use crate::error::Result;

/// Who is on the other end of a request: the client's address and user agent, as a door
/// knows them. Recorded with every audit entry made for the request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

impl RequestContext {
    pub fn new(ip: Option<IpAddr>, user_agent: Option<&str>) -> RequestContext {
        RequestContext {
            ip,
            user_agent: user_agent.map(str::to_owned),
        }
    }

    /// No client: the command line, a background job.
    pub fn none() -> RequestContext {
        RequestContext::default()
    }
}

/// One thing to record: who (`actor`, `None` when unknown, e.g. a failed sign-in), from where,
/// what, to what, and a small before/after summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub actor: Option<UserId>,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    pub action: AuditAction,
    pub target: Option<AuditTarget>,
    pub summary: AuditSummary,
}

impl AuditRecord {
    /// A record of `action` with no actor, client, target or summary yet.
    pub fn new(action: AuditAction) -> AuditRecord {
        AuditRecord {
            actor: None,
            ip: None,
            user_agent: None,
            action,
            target: None,
            summary: AuditSummary::new(),
        }
    }

    /// Done by `actor`.
    #[must_use]
    pub fn by(mut self, actor: UserId) -> AuditRecord {
        self.actor = Some(actor);
        self
    }

    /// Done from the client of `ctx`.
    #[must_use]
    pub fn context(mut self, ctx: &RequestContext) -> AuditRecord {
        self.ip = ctx.ip;
        self.user_agent.clone_from(&ctx.user_agent);
        self
    }

    /// Done to `target`.
    #[must_use]
    pub fn target(mut self, target: AuditTarget) -> AuditRecord {
        self.target = Some(target);
        self
    }

    #[must_use]
    pub fn summary(mut self, summary: AuditSummary) -> AuditRecord {
        self.summary = summary;
        self
    }

    fn into_new(self) -> NewAuditEntry {
        NewAuditEntry::new(
            self.actor,
            self.ip,
            self.user_agent.as_deref(),
            self.action,
            self.target,
            &self.summary,
        )
    }
}

/// The most entries one read returns.
pub const MAX_AUDIT_PAGE: u32 = 500;

/// The audit log service. Cheap to clone.
#[derive(Clone)]
pub struct Audit {
    store: Option<Arc<dyn AuditStore>>,
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit")
            .field("enabled", &self.store.is_some())
            .finish()
    }
}

impl Audit {
    pub fn new(store: Arc<dyn AuditStore>) -> Audit {
        Audit { store: Some(store) }
    }

    /// An audit service that records nothing (what services hold until `with_audit` is called,
    /// as in unit tests that do not look at the log). Records are logged at debug level.
    pub fn off() -> Audit {
        Audit { store: None }
    }

    /// Records one entry, durably, after the current head. This is the one way to write the
    /// audit log. It never fails the caller's action: an entry that cannot be written is
    /// logged as an error (with everything it would have said) instead.
    pub async fn record(&self, record: AuditRecord) {
        let action = record.action;
        let new = record.into_new();
        let Some(store) = &self.store else {
            tracing::debug!(action = %action, "audit (not recorded: no audit store)");
            return;
        };
        if let Err(e) = store.append_audit(new.clone()).await {
            tracing::error!(
                error = %e,
                action = %action,
                actor = ?new.actor,
                ip = ?new.ip,
                target = ?new.target,
                summary = %new.summary,
                "could not write an audit entry"
            );
        }
    }

    fn store(&self) -> Result<&Arc<dyn AuditStore>> {
        self.store
            .as_ref()
            .ok_or_else(|| crate::Error::internal("the audit log is not configured"))
    }

    /// A page of entries matching `query`, newest first, for an actor holding
    /// `ViewAuditLog`; recorded as `audit_viewed`. The page size is clamped to
    /// 1..=[`MAX_AUDIT_PAGE`].
    pub async fn search(
        &self,
        actor: &Actor,
        ctx: &RequestContext,
        mut query: AuditQuery,
    ) -> Result<Vec<AuditEntry>> {
        check_audit_log(actor)?;
        query.limit = query.limit.clamp(1, MAX_AUDIT_PAGE);
        let summary = query_summary(&query);
        let entries = self.store()?.audit_entries(query).await?;
        self.record(
            AuditRecord::new(AuditAction::AuditViewed)
                .by(actor.user_id)
                .context(ctx)
                .target(AuditTarget::new(TargetKind::AuditLog, "audit_log"))
                .summary(summary.fact("returned", entries.len())),
        )
        .await;
        Ok(entries)
    }

    /// Records the start of an export of entries matching `query` (in `format`) and checks the
    /// permission; the export then reads with [`Audit::export_page`].
    pub async fn start_export(
        &self,
        actor: &Actor,
        ctx: &RequestContext,
        query: &AuditQuery,
        format: &str,
    ) -> Result<()> {
        check_audit_log(actor)?;
        self.store()?;
        self.record(
            AuditRecord::new(AuditAction::AuditExported)
                .by(actor.user_id)
                .context(ctx)
                .target(AuditTarget::new(TargetKind::AuditLog, "audit_log"))
                .summary(query_summary(query).fact("format", format)),
        )
        .await;
        Ok(())
    }

    /// One page of an export started with [`Audit::start_export`] (not recorded again).
    pub async fn export_page(
        &self,
        actor: &Actor,
        mut query: AuditQuery,
    ) -> Result<Vec<AuditEntry>> {
        check_audit_log(actor)?;
        query.limit = query.limit.clamp(1, MAX_AUDIT_PAGE);
        Ok(self.store()?.audit_entries(query).await?)
    }

    /// Up to `limit` entries after `after`, in chain order: for `enclave audit verify` and
    /// the head job (operators, not users: no permission check).
    pub async fn chain(&self, after: i64, limit: u32) -> Result<Vec<AuditEntry>> {
        Ok(self.store()?.audit_chain(after, limit).await?)
    }

    /// The chain's head (`None` while the log is empty).
    pub async fn head(&self) -> Result<Option<AuditHead>> {
        Ok(self.store()?.audit_head().await?)
    }
}

/// The filters of a query, as a summary.
fn query_summary(q: &AuditQuery) -> AuditSummary {
    let mut s = AuditSummary::new();
    if let Some(a) = q.actor {
        s = s.fact("actor", a);
    }
    if let Some(a) = &q.action {
        s = s.fact("action", a);
    }
    if let Some(k) = &q.target_kind {
        s = s.fact("target_kind", k);
    }
    if let Some(i) = &q.target_id {
        s = s.fact("target_id", i);
    }
    if let Some(t) = q.since {
        s = s.fact("since", t.0);
    }
    if let Some(t) = q.until {
        s = s.fact("until", t.0);
    }
    if let Some(b) = q.before_seq {
        s = s.fact("before", b);
    }
    s
}
