//! Retention and legal hold (`docs/admin/retention.md`): the policies and holds administrators
//! set, and the `retention` job that purges what the policies no longer keep.
//!
//! What is purgeable is `enclave_core::retention`'s rule, applied by the store on the rows it
//! reads inside each purge step; this service walks the channels, hands each its cutoff, deletes
//! the objects of the files the store released, records the run (its per-channel counts), an
//! audit entry per channel it removed something from, and log lines.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use enclave_core::audit::{AuditAction, AuditSummary, AuditTarget};
use enclave_core::permissions::check_retention;
use enclave_core::retention::{
    self, ChannelPolicy, GlobalPolicy, HoldTarget, LegalHold, check_days, check_hold,
};
use enclave_core::{Actor, ChannelId, Millis, UserId};
use enclave_store::{ChannelPurge, ChannelRetention, PurgePhase, RetentionRun, RetentionStore};
use futures_util::future::BoxFuture;
use parking_lot::Mutex;

use crate::audit::{Audit, AuditRecord};
use crate::error::Result;
use crate::files::Files;
use crate::jobs::{Job, JobCtx, JobReport, Scheduler};

/// The name of the scheduled purge job.
pub const JOB: &str = "retention";

/// Messages examined per purge step (one transaction).
const BATCH: u32 = 500;

/// `[retention]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionConfig {
    /// Whether the job runs on its schedule (a run asked for by an administrator always runs).
    pub enabled: bool,
    pub interval: Duration,
    /// The global policy until an administrator sets one through the API.
    pub defaults: GlobalPolicy,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            enabled: true,
            interval: Duration::from_secs(86_400),
            defaults: GlobalPolicy::default(),
        }
    }
}

/// What the admin console shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionView {
    /// The policy in force.
    pub policy: GlobalPolicy,
    /// Whether it was set through the API (else it is the configuration's).
    pub policy_stored: bool,
    pub schedule_enabled: bool,
    pub interval_secs: u64,
    pub channels: Vec<ChannelRetention>,
    /// Whether a purge runs on this node now.
    pub running: bool,
    pub last_run: Option<RetentionRun>,
}

/// A hold to place.
#[derive(Debug, Clone)]
pub struct HoldInput {
    pub target: HoldTarget,
    pub starts_at: Millis,
    pub ends_at: Option<Millis>,
    pub reason: String,
}

/// Retention policies, legal holds and the purge.
pub struct Retention {
    store: Arc<dyn RetentionStore>,
    files: Arc<Files>,
    audit: Audit,
    config: RetentionConfig,
    jobs: Mutex<Option<Arc<Scheduler>>>,
    /// Who asked for the next run (taken by it).
    asked_by: Mutex<Option<UserId>>,
}

impl Retention {
    pub fn new(
        store: Arc<dyn RetentionStore>,
        files: Arc<Files>,
        audit: Audit,
        config: RetentionConfig,
    ) -> Arc<Retention> {
        Arc::new(Retention {
            store,
            files,
            audit,
            config,
            jobs: Mutex::new(None),
            asked_by: Mutex::new(None),
        })
    }

    /// The scheduler the `retention` job is registered with (for "Run now" and the status).
    pub fn attach(&self, jobs: Arc<Scheduler>) {
        *self.jobs.lock() = Some(jobs);
    }

    /// The job to register with the scheduler.
    pub fn job(self: &Arc<Self>) -> RetentionJob {
        RetentionJob(self.clone())
    }

    async fn policy(&self) -> Result<(GlobalPolicy, bool)> {
        Ok(match self.store.retention_policy().await? {
            Some(p) => (p, true),
            None => (self.config.defaults, false),
        })
    }

    /// The policies, the overrides and the last run.
    pub async fn view(&self, actor: &Actor) -> Result<RetentionView> {
        check_retention(actor)?;
        let (policy, policy_stored) = self.policy().await?;
        let running = self
            .jobs
            .lock()
            .as_ref()
            .and_then(|j| j.job_status(JOB))
            .is_some_and(|s| s.running);
        Ok(RetentionView {
            policy,
            policy_stored,
            schedule_enabled: self.config.enabled,
            interval_secs: self.config.interval.as_secs(),
            channels: self.store.channel_retentions().await?,
            running,
            last_run: self.store.last_retention_run().await?,
        })
    }

    /// Sets the global policy.
    pub async fn set_policy(&self, actor: &Actor, policy: GlobalPolicy) -> Result<()> {
        check_retention(actor)?;
        let policy = GlobalPolicy {
            message_days: check_days("message_days", policy.message_days)?,
            dm_days: check_days("dm_days", policy.dm_days)?,
        };
        let (before, _) = self.policy().await?;
        self.store
            .set_retention_policy(policy, actor.user_id)
            .await?;
        self.audit
            .record(
                AuditRecord::new(AuditAction::RetentionChanged)
                    .by(actor.user_id)
                    .target(AuditTarget::new(
                        enclave_core::audit::TargetKind::Site,
                        "retention",
                    ))
                    .summary(
                        AuditSummary::new()
                            .change("message_days", before.message_days, policy.message_days)
                            .change("dm_days", before.dm_days, policy.dm_days),
                    ),
            )
            .await;
        Ok(())
    }

    /// Sets (or with `None` removes) a channel's own policy.
    pub async fn set_channel_policy(
        &self,
        actor: &Actor,
        channel_id: ChannelId,
        policy: Option<ChannelPolicy>,
    ) -> Result<()> {
        check_retention(actor)?;
        if let Some(ChannelPolicy::Days(d)) = policy {
            check_days("days", Some(d))?;
        }
        self.store
            .set_channel_retention(channel_id, policy, actor.user_id)
            .await?;
        let after = match policy {
            None => "global".to_owned(),
            Some(ChannelPolicy::KeepForever) => "forever".to_owned(),
            Some(ChannelPolicy::Days(d)) => format!("{d} days"),
        };
        self.audit
            .record(
                AuditRecord::new(AuditAction::RetentionChanged)
                    .by(actor.user_id)
                    .target(AuditTarget::channel(channel_id))
                    .summary(AuditSummary::new().fact("policy", after)),
            )
            .await;
        Ok(())
    }

    /// The legal holds, newest first.
    pub async fn holds(&self, actor: &Actor) -> Result<Vec<LegalHold>> {
        check_retention(actor)?;
        Ok(self.store.legal_holds().await?)
    }

    /// Places a legal hold.
    pub async fn create_hold(&self, actor: &Actor, input: HoldInput) -> Result<LegalHold> {
        check_retention(actor)?;
        let reason = check_hold(input.starts_at, input.ends_at, &input.reason)?;
        let hold = self
            .store
            .create_legal_hold(
                input.target,
                input.starts_at,
                input.ends_at,
                reason,
                actor.user_id,
            )
            .await?;
        self.audit
            .record(
                AuditRecord::new(AuditAction::LegalHoldCreated)
                    .by(actor.user_id)
                    .target(hold_target(&hold))
                    .summary(hold_summary(&hold)),
            )
            .await;
        Ok(hold)
    }

    /// Releases a legal hold.
    pub async fn release_hold(&self, actor: &Actor, id: i64) -> Result<LegalHold> {
        check_retention(actor)?;
        let hold = self.store.release_legal_hold(id, actor.user_id).await?;
        self.audit
            .record(
                AuditRecord::new(AuditAction::LegalHoldReleased)
                    .by(actor.user_id)
                    .target(hold_target(&hold))
                    .summary(hold_summary(&hold)),
            )
            .await;
        Ok(hold)
    }

    /// Starts a purge now on this node: `Ok(false)` when one is running already.
    pub async fn run_now(&self, actor: &Actor) -> Result<bool> {
        check_retention(actor)?;
        let jobs = self.jobs.lock().clone();
        let Some(jobs) = jobs else {
            return Err(crate::Error::Unavailable);
        };
        let previous = self.asked_by.lock().replace(actor.user_id);
        let started = jobs.run_now(JOB)?;
        if !started {
            *self.asked_by.lock() = previous;
        }
        Ok(started)
    }

    /// One purge of every channel under its policy; `scheduled` runs do nothing when the
    /// schedule is off.
    pub async fn purge(&self, ctx: &JobCtx) -> Result<JobReport> {
        let by = self.asked_by.lock().take();
        if by.is_none() && !self.config.enabled {
            return Ok(JobReport {
                n_items: 0,
                summary: "scheduled purges are off ([retention] enabled = false)".to_owned(),
            });
        }
        let started_at = Millis::now();
        let (policy, _) = self.policy().await?;
        let overrides: HashMap<ChannelId, ChannelPolicy> = self
            .store
            .channel_retentions()
            .await?
            .into_iter()
            .map(|c| (c.channel_id, c.policy))
            .collect();
        let channels = self.store.retention_channels().await?;
        let mut run = RetentionRun {
            id: 0,
            started_at,
            finished_at: started_at,
            started_by: by,
            messages: 0,
            files: 0,
            held: 0,
            channels: Vec::new(),
        };
        let total = channels.len() as u64;
        'channels: for (i, (channel_id, kind)) in channels.into_iter().enumerate() {
            ctx.progress(i as u64, Some(total));
            let days =
                retention::effective_days(&policy, kind, overrides.get(&channel_id).copied());
            let Some(before) = retention::cutoff(days, started_at) else {
                continue;
            };
            let mut this = ChannelPurge {
                channel_id,
                name: None,
                kind: Some(kind),
                messages: 0,
                files: 0,
                held: 0,
            };
            for phase in [PurgePhase::Replies, PurgePhase::Roots] {
                let mut after = None;
                loop {
                    let batch = self
                        .store
                        .purge_messages(channel_id, before, phase, after, BATCH)
                        .await?;
                    self.files.delete_objects(&batch.files).await;
                    this.messages += batch.messages;
                    this.files += batch.files.len() as u64;
                    this.held += batch.held;
                    after = batch.last;
                    if batch.examined < BATCH {
                        break;
                    }
                    if ctx.stopping() {
                        add_channel(&mut run, this);
                        break 'channels;
                    }
                }
            }
            if this.messages > 0 || this.held > 0 {
                tracing::info!(
                    channel = channel_id.0,
                    kind = kind.as_str(),
                    days = days.unwrap_or_default(),
                    messages = this.messages,
                    files = this.files,
                    held = this.held,
                    "retention purged a channel"
                );
            }
            if this.messages > 0 {
                let mut record = AuditRecord::new(AuditAction::RetentionPurge)
                    .target(AuditTarget::channel(channel_id))
                    .summary(
                        AuditSummary::new()
                            .fact("messages", this.messages)
                            .fact("files", this.files)
                            .fact("held", this.held)
                            .fact("days", days.unwrap_or_default())
                            .fact("before", before.0),
                    );
                if let Some(by) = by {
                    record = record.by(by);
                }
                self.audit.record(record).await;
            }
            add_channel(&mut run, this);
        }
        run.finished_at = Millis::now();
        let summary = format!(
            "removed {} message(s) and {} file(s) in {} channel(s); {} kept under legal hold",
            run.messages,
            run.files,
            run.channels.iter().filter(|c| c.messages > 0).count(),
            run.held
        );
        let n = run.messages;
        self.store.record_retention_run(run).await?;
        Ok(JobReport {
            n_items: n,
            summary,
        })
    }
}

/// Adds a channel's counts to the run (only channels where something was removed or held are
/// listed).
fn add_channel(run: &mut RetentionRun, c: ChannelPurge) {
    run.messages += c.messages;
    run.files += c.files;
    run.held += c.held;
    if c.messages > 0 || c.held > 0 {
        run.channels.push(c);
    }
}

fn hold_target(h: &LegalHold) -> AuditTarget {
    match h.target {
        HoldTarget::User(u) => AuditTarget::user(u),
        HoldTarget::Channel(c) => AuditTarget::channel(c),
    }
}

fn hold_summary(h: &LegalHold) -> AuditSummary {
    let mut s = AuditSummary::new()
        .fact("hold", h.id)
        .fact("reason", &h.reason)
        .fact("starts_at", h.starts_at.0);
    if let Some(end) = h.ends_at {
        s = s.fact("ends_at", end.0);
    }
    s
}

/// The scheduled `retention` job.
pub struct RetentionJob(Arc<Retention>);

impl Job for RetentionJob {
    fn name(&self) -> &'static str {
        JOB
    }

    fn interval(&self) -> Duration {
        self.0.config.interval
    }

    fn once_per_cluster(&self) -> bool {
        true
    }

    fn run<'a>(&'a self, ctx: &'a JobCtx) -> BoxFuture<'a, Result<JobReport>> {
        Box::pin(self.0.purge(ctx))
    }
}
