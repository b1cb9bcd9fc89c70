//! The audit log service: one entry point to record ([`Audit::record`]), and the reads an
//! administrator with `SitePermission::ViewAuditLog` may make (each of which is itself recorded).
//!
//! Services hold an [`Audit`] (`with_audit` on `Accounts`, `Channels`, `Messages`, `Roles`,
//! `Departments`). A change to who may do what (account updates, roles and their assignment,
//! the department tree and its people) is recorded in the change's own store transaction,
//! through the hook [`Audit::in_tx`] makes: the change and its entry commit together or not at
//! all. Other actions are recorded with [`Audit::record`] once they have happened. Doors pass
//! the client's address and user agent as a [`RequestContext`]. What an entry holds and how the chain is sealed and verified is
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
use enclave_store::{AuditHook, AuditQuery, AuditStore};

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

    /// Runs `f` with this context as the current request's: every audit record made inside
    /// it (in the same task) without an address or user agent of its own gets this one's.
    /// Doors wrap each request in it, so services need no context parameter.
    pub async fn scope<F: std::future::Future>(self, f: F) -> F::Output {
        CURRENT.scope(self, f).await
    }

    /// The context of the request being served in this task, if any.
    pub fn current() -> Option<RequestContext> {
        CURRENT.try_with(Clone::clone).ok()
    }
}

tokio::task_local! {
    static CURRENT: RequestContext;
    static SOURCE: AuditSource;
}

/// A directory source acting without a person (the LDAP sync, single sign-on group mapping):
/// every audit entry made while it acts (through [`AuditSource::scope`]) says so in its
/// summary, as `by` (what acted) and `provider`, unless the entry names them itself. The
/// entries of the accounts, roles and departments it changes are the services' own, written
/// in the change's transaction; this only labels them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSource {
    /// What acts, e.g. `directory` or `single sign-on group mapping`.
    pub by: &'static str,
    /// The provider's id.
    pub provider: String,
}

impl AuditSource {
    pub fn new(by: &'static str, provider: impl Into<String>) -> AuditSource {
        AuditSource {
            by,
            provider: provider.into(),
        }
    }

    /// Runs `f` with this source acting: audit records made inside it (in the same task) are
    /// labelled with it.
    pub async fn scope<F: std::future::Future>(self, f: F) -> F::Output {
        SOURCE.scope(self, f).await
    }

    /// The source acting in this task, if any.
    pub fn current() -> Option<AuditSource> {
        SOURCE.try_with(Clone::clone).ok()
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

    /// Done from the client address `ip`.
    #[must_use]
    pub fn ip(mut self, ip: IpAddr) -> AuditRecord {
        self.ip = Some(ip);
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

    /// Labels the record with the directory source acting, if any (see [`AuditSource`]).
    fn labelled_by(mut self, source: Option<&AuditSource>) -> AuditRecord {
        if let Some(src) = source {
            if !self.summary.has("by") {
                self.summary = self.summary.fact("by", src.by);
            }
            if !self.summary.has("provider") {
                self.summary = self.summary.fact("provider", &src.provider);
            }
        }
        self
    }

    /// Fills in the address and user agent of `ctx` where this record has none.
    fn in_context(mut self, ctx: Option<&RequestContext>) -> AuditRecord {
        if let Some(ctx) = ctx {
            if self.ip.is_none() {
                self.ip = ctx.ip;
            }
            if self.user_agent.is_none() {
                self.user_agent.clone_from(&ctx.user_agent);
            }
        }
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
        let record = record
            .in_context(RequestContext::current().as_ref())
            .labelled_by(AuditSource::current().as_ref());
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

    /// Whether entries are written (an [`Audit::off`] service records nothing).
    pub fn is_on(&self) -> bool {
        self.store.is_some()
    }

    /// The hook a store write appends its audit entries with, inside its own transaction
    /// (`enclave_store::AuditHook`): `f` turns what the write did into records, which get the
    /// current request's address and user agent and the [`AuditSource`] acting (taken now: the
    /// hook may run on the store's writer thread). Unlike [`Audit::record`], an entry that cannot be written fails the
    /// write, which then changes nothing. Records nothing when the audit log is off.
    pub fn in_tx<T: 'static>(
        &self,
        f: impl FnOnce(&T) -> Vec<AuditRecord> + Send + 'static,
    ) -> AuditHook<T> {
        let on = self.is_on();
        let ctx = RequestContext::current();
        let source = AuditSource::current();
        Box::new(move |value| {
            if !on {
                return Vec::new();
            }
            f(value)
                .into_iter()
                .map(|r| {
                    r.in_context(ctx.as_ref())
                        .labelled_by(source.as_ref())
                        .into_new()
                })
                .collect()
        })
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

/// One line of the head file: `<seq> <hash in hex> <unix millis>`. The head job appends one
/// whenever the head has moved; `enclave audit verify --head-file` compares the chain with the
/// last line.
pub fn head_line(head: &AuditHead, at: enclave_core::Millis) -> String {
    format!(
        "{} {} {}",
        head.seq,
        enclave_core::audit::hex(&head.hash),
        at.0
    )
}

/// Reads a line written by [`head_line`].
pub fn parse_head_line(line: &str) -> Option<AuditHead> {
    let mut parts = line.split_whitespace();
    let seq: i64 = parts.next()?.parse().ok()?;
    let hash = enclave_core::audit::parse_hex(parts.next()?)?;
    (seq > 0).then_some(AuditHead { seq, hash })
}

/// The last head recorded in a head file's text (blank and malformed lines are skipped).
pub fn last_recorded_head(text: &str) -> Option<AuditHead> {
    text.lines().rev().find_map(parse_head_line)
}

/// How a verification went: a sound chain's head, or the first bad entry.
pub type Verdict = std::result::Result<Option<AuditHead>, enclave_core::audit::Tamper>;

impl Audit {
    /// Walks the whole chain in pages of `batch`, calling `progress(checked)` after each page,
    /// and compares it with `recorded` (the last head written to the head file) when given.
    pub async fn verify(
        &self,
        recorded: Option<AuditHead>,
        batch: u32,
        mut progress: impl FnMut(u64),
    ) -> Result<Verdict> {
        let mut v = enclave_core::audit::ChainVerifier::new();
        if let Some(h) = recorded {
            v = v.expect_head(h);
        }
        let mut after = 0;
        loop {
            let page = self.chain(after, batch.max(1)).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for e in page {
                if let Err(t) = v.push(e) {
                    return Ok(Err(t));
                }
            }
            progress(v.checked());
        }
        Ok(v.finish())
    }
}
