//! Background jobs: work the server does on a timer rather than for a request (pruning the
//! event log, sweeping unreferenced files, writing the audit log's head outside the database;
//! later retention, backups, directory sync, metrics).
//!
//! Every job is a [`Job`]: a name, an interval and an async `run` that gets a [`JobCtx`] (to
//! report progress and to see that the server is stopping) and returns a [`JobReport`]. The
//! same job runs in two ways:
//! - [`Scheduler::start`] runs each registered job at once and then every `interval` (no jitter:
//!   a run that overruns delays the next one instead of bunching them), logs each start, finish
//!   and report with `tracing`, keeps each job's [`JobStatus`], and on
//!   [`Scheduler::shutdown`] tells running jobs to stop and waits for them;
//! - [`run_once`] runs one job to completion now (the `enclave admin` commands).
//!
//! A job must be safe to interrupt between its steps and to run again: a job that sees
//! [`JobCtx::stopping`] returns what it did so far.

mod audit_head;
mod expire_guests;
mod ldap_sync;
mod prune_events;
mod seal_previews;
mod sweep_files;
mod sweep_throttles;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use enclave_core::Millis;
use enclave_store::LeaseStore;
use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

pub use audit_head::AuditHeadJob;
pub use expire_guests::ExpireGuests;
pub use ldap_sync::LdapSync;
pub use prune_events::PruneEvents;
pub use seal_previews::SealPreviews;
pub use sweep_files::SweepFiles;
pub use sweep_throttles::SweepThrottles;

use crate::error::Result;

/// Work run in the background on an interval, or once on demand.
pub trait Job: Send + Sync + 'static {
    /// A stable, kebab-case name (`sweep-files`): in logs, in statuses, on the command line.
    fn name(&self) -> &'static str;
    /// Time between the starts of two scheduled runs.
    fn interval(&self) -> Duration;
    /// One run.
    fn run<'a>(&'a self, ctx: &'a JobCtx) -> BoxFuture<'a, Result<JobReport>>;
    /// Whether one node of a cluster at a time runs this job (a directory sync, guest
    /// expiry, pruning the shared event log). Under [`Scheduler::start_with_leases`] a node
    /// runs such a job only while it holds the job's lease ([`Leases`]). Jobs about the node
    /// itself (its own log, its local files) keep the default, false: every node runs them.
    fn once_per_cluster(&self) -> bool {
        false
    }
}

/// The leases that let one node of a cluster run a [`Job::once_per_cluster`] job at a time.
///
/// Before each scheduled run a node takes the job's lease for two intervals (it renews a lease
/// it holds), and renews it again when the run ends; a node that finds another node's lease
/// still running skips the run. So the node that took the lease first keeps the job while it
/// lives, and when it stops (or dies), another node takes the job over at most two intervals
/// later. A run that lasts longer than two intervals could overlap with one on another node:
/// the jobs concerned are safe to run twice (see each job).
#[derive(Clone)]
pub struct Leases {
    store: Arc<dyn LeaseStore>,
    holder: String,
}

impl Leases {
    /// Leases in `store`, held in the name of `holder` (this node's id).
    pub fn new(store: Arc<dyn LeaseStore>, holder: impl Into<String>) -> Leases {
        Leases {
            store,
            holder: holder.into(),
        }
    }

    /// Takes or renews the lease of `job` for two of its intervals from now.
    async fn take(&self, job: &dyn Job) -> Result<bool> {
        let now = Millis::now();
        let term = i64::try_from(job.interval().as_millis().saturating_mul(2)).unwrap_or(i64::MAX);
        let until = Millis(now.0.saturating_add(term.max(1)));
        Ok(self
            .store
            .take_lease(job.name(), &self.holder, now, until)
            .await?)
    }
}

/// What one run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobReport {
    /// Things handled (events pruned, files removed).
    pub n_items: u64,
    /// One sentence for people (`removed 3 unreferenced file(s)`).
    pub summary: String,
}

/// How far a running job has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    pub done: u64,
    /// The total, when the job knows it.
    pub total: Option<u64>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done(JobReport),
    /// The error, as logged.
    Failed(String),
}

/// A job's state, for operators (a future admin console).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStatus {
    pub name: &'static str,
    pub interval: Duration,
    /// Runs started so far.
    pub n_runs: u64,
    /// Scheduled runs skipped because another node held the job's lease (or the lease could
    /// not be read).
    pub n_skipped: u64,
    pub running: bool,
    /// Progress of the current run, or of the last one when none is running.
    pub progress: Option<Progress>,
    pub last_started: Option<Millis>,
    /// How long the last finished run took.
    pub last_took: Option<Duration>,
    pub last_outcome: Option<Outcome>,
}

impl JobStatus {
    fn new(job: &dyn Job) -> Self {
        JobStatus {
            name: job.name(),
            interval: job.interval(),
            n_runs: 0,
            n_skipped: 0,
            running: false,
            progress: None,
            last_started: None,
            last_took: None,
            last_outcome: None,
        }
    }
}

/// What a running job gets: a progress reporter and the shutdown signal.
pub struct JobCtx {
    name: &'static str,
    status: Arc<Mutex<JobStatus>>,
    stop: watch::Receiver<bool>,
}

impl JobCtx {
    /// Records how far the run has got.
    pub fn progress(&self, done: u64, total: Option<u64>) {
        self.status.lock().progress = Some(Progress { done, total });
        tracing::debug!(job = self.name, done, total, "job progress");
    }

    /// Whether the server is stopping: the job should return at its next safe point.
    pub fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Resolves when the server starts stopping.
    pub async fn stopped(&self) {
        let mut stop = self.stop.clone();
        // An error means the scheduler is gone, which is a stop too.
        let _ = stop.wait_for(|s| *s).await;
    }
}

/// Runs `job` once, with its status recorded in `status`, and logs it.
async fn run_logged(
    job: &dyn Job,
    status: &Arc<Mutex<JobStatus>>,
    stop: watch::Receiver<bool>,
) -> Result<JobReport> {
    let name = job.name();
    {
        let mut s = status.lock();
        s.n_runs += 1;
        s.running = true;
        s.progress = None;
        s.last_started = Some(Millis::now());
    }
    tracing::debug!(job = name, "job started");
    let ctx = JobCtx {
        name,
        status: status.clone(),
        stop,
    };
    let started = Instant::now();
    let result = job.run(&ctx).await;
    let took = started.elapsed();
    let took_ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
    match &result {
        Ok(report) if report.n_items > 0 => {
            tracing::info!(
                job = name,
                n_items = report.n_items,
                took_ms,
                "{}",
                report.summary
            );
        }
        Ok(report) => {
            tracing::debug!(job = name, took_ms, "{}", report.summary);
        }
        Err(e) => tracing::warn!(job = name, took_ms, error = %e, "job failed"),
    }
    let mut s = status.lock();
    s.running = false;
    s.last_took = Some(took);
    s.last_outcome = Some(match &result {
        Ok(report) => Outcome::Done(report.clone()),
        Err(e) => Outcome::Failed(e.to_string()),
    });
    result
}

/// Runs one job now, to completion (the command line's way).
pub async fn run_once(job: &dyn Job) -> Result<JobReport> {
    let status = Arc::new(Mutex::new(JobStatus::new(job)));
    let (_stop, stop_rx) = watch::channel(false);
    run_logged(job, &status, stop_rx).await
}

/// Registered jobs, running on their intervals until [`Scheduler::shutdown`] (dropping the
/// scheduler stops them too, without waiting).
pub struct Scheduler {
    stop: watch::Sender<bool>,
    jobs: Vec<Arc<dyn Job>>,
    statuses: Vec<Arc<Mutex<JobStatus>>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Scheduler {
    /// Starts every job: each runs at once, then every `interval` after the previous start
    /// (or after the previous run ended, when that run took longer than the interval).
    pub fn start(jobs: Vec<Arc<dyn Job>>) -> Scheduler {
        Scheduler::start_inner(jobs, None)
    }

    /// Like [`Scheduler::start`], for a node of a cluster: the jobs that say
    /// [`Job::once_per_cluster`] run only while this node holds their lease.
    pub fn start_with_leases(jobs: Vec<Arc<dyn Job>>, leases: Leases) -> Scheduler {
        Scheduler::start_inner(jobs, Some(leases))
    }

    fn start_inner(jobs: Vec<Arc<dyn Job>>, leases: Option<Leases>) -> Scheduler {
        let (stop, _) = watch::channel(false);
        let mut statuses = Vec::with_capacity(jobs.len());
        let mut tasks = Vec::with_capacity(jobs.len());
        for job in jobs.iter().cloned() {
            let status = Arc::new(Mutex::new(JobStatus::new(job.as_ref())));
            statuses.push(status.clone());
            let leases = leases.clone().filter(|_| job.once_per_cluster());
            tasks.push(tokio::spawn(run_every(
                job,
                status,
                leases,
                stop.subscribe(),
            )));
        }
        Scheduler {
            stop,
            jobs,
            statuses,
            tasks: Mutex::new(tasks),
        }
    }

    /// Every job's status, in registration order.
    pub fn status(&self) -> Vec<JobStatus> {
        self.statuses.iter().map(|s| s.lock().clone()).collect()
    }

    /// The status of the job named `name`, when it is registered.
    pub fn job_status(&self, name: &str) -> Option<JobStatus> {
        let i = self.jobs.iter().position(|j| j.name() == name)?;
        Some(self.statuses[i].lock().clone())
    }

    /// Starts a run of the job named `name` now, on this node, beside its schedule (an
    /// administrator's "run it now"); its status and log are the scheduled runs'. `Ok(false)`
    /// when the job is running already; an error when no job has that name or the server is
    /// stopping.
    pub fn run_now(&self, name: &str) -> Result<bool> {
        let Some(i) = self.jobs.iter().position(|j| j.name() == name) else {
            return Err(crate::Error::internal(format!("no job named {name}")));
        };
        if *self.stop.borrow() {
            return Err(crate::Error::Unavailable);
        }
        let status = self.statuses[i].clone();
        {
            let mut s = status.lock();
            if s.running {
                return Ok(false);
            }
            // Taken at once, so that a second request sees it running.
            s.running = true;
        }
        let job = self.jobs[i].clone();
        let stop = self.stop.subscribe();
        let task = tokio::spawn(async move {
            let _ = run_logged(job.as_ref(), &status, stop).await;
        });
        self.tasks.lock().push(task);
        Ok(true)
    }

    /// Tells running jobs to stop, and waits until every job has returned. No run starts
    /// afterwards.
    pub async fn shutdown(&self) {
        self.stop.send_replace(true);
        let tasks = std::mem::take(&mut *self.tasks.lock());
        for task in tasks {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "a background job's task failed");
            }
        }
    }
}

/// Runs a job at once and then on its interval until the stop signal.
async fn run_every(
    job: Arc<dyn Job>,
    status: Arc<Mutex<JobStatus>>,
    leases: Option<Leases>,
    stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(job.interval().max(Duration::from_millis(1)));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut until_stop = stop.clone();
    loop {
        tokio::select! {
            biased;
            _ = until_stop.wait_for(|s| *s) => return,
            _ = tick.tick() => {}
        }
        if let Some(leases) = &leases {
            match leases.take(job.as_ref()).await {
                Ok(true) => {}
                Ok(false) => {
                    status.lock().n_skipped += 1;
                    tracing::debug!(job = job.name(), "another node runs this job; skipped");
                    continue;
                }
                Err(e) => {
                    status.lock().n_skipped += 1;
                    tracing::warn!(job = job.name(), error = %e, "could not take the job's lease; skipped");
                    continue;
                }
            }
        }
        // A run started by hand ([`Scheduler::run_now`]) is still going: this one is skipped.
        if status.lock().running {
            status.lock().n_skipped += 1;
            tracing::debug!(
                job = job.name(),
                "a run started by hand is still going; skipped"
            );
            continue;
        }
        // A failure is logged and recorded; the next run is on time regardless.
        let _ = run_logged(job.as_ref(), &status, stop.clone()).await;
        if let Some(leases) = &leases {
            // Renewed from the end of the run, so a long run keeps the job on this node.
            if let Err(e) = leases.take(job.as_ref()).await {
                tracing::warn!(job = job.name(), error = %e, "could not renew the job's lease");
            }
        }
    }
}
