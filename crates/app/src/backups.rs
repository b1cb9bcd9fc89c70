//! The backups as administrators see them (`docs/admin/backup.md`): the `[backup]` schedule,
//! the last run of the `backup` job (from the job scheduler's status) and the backups in the
//! folder, and a run started now. Taking and reading backups is the server's
//! (`enclave_server::backup`), behind [`BackupFolder`].

use std::sync::Arc;

use enclave_core::{Actor, Millis};

use crate::error::{Error, Result};
use crate::jobs::{Outcome, Scheduler};

/// The name of the scheduled backup job.
pub const JOB: &str = "backup";

/// At most this many backups are listed (the newest).
pub const MAX_LISTED: usize = 200;

/// `[backup]`: where and how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSchedule {
    /// The folder backups are written into.
    pub to: String,
    pub interval_secs: u64,
    /// How many backups are kept.
    pub keep: u32,
}

/// One complete backup in the folder, from its manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupEntry {
    /// The folder's name (`enclave-backup-20261203T140000Z`).
    pub name: String,
    /// When the snapshot was taken.
    pub created_at: Millis,
    /// The Enclave version that wrote it.
    pub enclave_version: String,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// The bytes of its parts (tables, file objects, key), as the manifest lists them.
    pub bytes: u64,
    pub tables: u64,
    pub rows: u64,
    pub objects: u64,
    /// Objects deleted between the snapshot and their copy.
    pub missing_objects: u64,
    /// Whether the file master key is in it (wrapped under a passphrase).
    pub with_key: bool,
    /// Why its manifest could not be read (the counts are then 0).
    pub problem: Option<String>,
}

/// How the last run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupRun {
    pub started_at: Millis,
    /// How long it took (none while it runs).
    pub took_ms: Option<u64>,
    /// `None` while it runs.
    pub ok: Option<bool>,
    /// The report (`backup … written in 2.1 s: …`) or the error, as logged.
    pub message: String,
    /// Rows backed up (0 on error).
    pub rows: u64,
}

/// What the admin console shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupsView {
    /// `None` when scheduled backups are off (`[backup] to` empty).
    pub schedule: Option<BackupSchedule>,
    pub running: bool,
    /// Runs of the job since this server started.
    pub n_runs: u64,
    /// The last run on this node since it started.
    pub last_run: Option<BackupRun>,
    /// The backups in the folder, newest first (at most [`MAX_LISTED`]).
    pub backups: Vec<BackupEntry>,
    /// Why the folder could not be listed.
    pub folder_problem: Option<String>,
}

/// Reads the backup folder (the server's implementation knows the backup format).
pub trait BackupFolder: Send + Sync + 'static {
    /// The configured schedule; `None` when scheduled backups are off.
    fn schedule(&self) -> Option<BackupSchedule>;
    /// The complete backups in the folder, newest first, at most `max`. Blocking.
    fn list(&self, max: usize) -> std::io::Result<Vec<BackupEntry>>;
}

/// The admin console's backups.
#[derive(Clone)]
pub struct Backups {
    folder: Option<Arc<dyn BackupFolder>>,
    jobs: Option<Arc<Scheduler>>,
}

impl Backups {
    /// Backups through `folder`, with the runs of the job in `jobs`.
    pub fn new(folder: Arc<dyn BackupFolder>, jobs: Arc<Scheduler>) -> Self {
        Backups {
            folder: Some(folder),
            jobs: Some(jobs),
        }
    }

    /// No backups at all (tools that serve no admin console).
    pub fn off() -> Self {
        Backups {
            folder: None,
            jobs: None,
        }
    }

    /// The schedule, the last run and the backups present.
    pub async fn view(&self, actor: &Actor) -> Result<BackupsView> {
        enclave_core::permissions::check_backups(actor)?;
        let schedule = self.folder.as_ref().and_then(|f| f.schedule());
        let status = self.jobs.as_ref().and_then(|j| j.job_status(JOB));
        let last_run = status.as_ref().and_then(|s| {
            let started_at = s.last_started?;
            Some(if s.running {
                BackupRun {
                    started_at,
                    took_ms: None,
                    ok: None,
                    message: String::new(),
                    rows: 0,
                }
            } else {
                let took_ms = s
                    .last_took
                    .map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX));
                match &s.last_outcome {
                    Some(Outcome::Done(r)) => BackupRun {
                        started_at,
                        took_ms,
                        ok: Some(true),
                        message: r.summary.clone(),
                        rows: r.n_items,
                    },
                    Some(Outcome::Failed(e)) => BackupRun {
                        started_at,
                        took_ms,
                        ok: Some(false),
                        message: e.clone(),
                        rows: 0,
                    },
                    None => BackupRun {
                        started_at,
                        took_ms,
                        ok: None,
                        message: String::new(),
                        rows: 0,
                    },
                }
            })
        });
        let (backups, folder_problem) = match (&self.folder, &schedule) {
            (Some(folder), Some(_)) => {
                let folder = folder.clone();
                match tokio::task::spawn_blocking(move || folder.list(MAX_LISTED)).await {
                    Ok(Ok(list)) => (list, None),
                    Ok(Err(e)) => (Vec::new(), Some(e.to_string())),
                    Err(e) => return Err(Error::internal(e.to_string())),
                }
            }
            _ => (Vec::new(), None),
        };
        Ok(BackupsView {
            schedule,
            running: status.as_ref().is_some_and(|s| s.running),
            n_runs: status.as_ref().map_or(0, |s| s.n_runs),
            last_run,
            backups,
            folder_problem,
        })
    }

    /// Starts the `backup` job now on this node; its progress and report appear in
    /// [`Backups::view`] and in the log. Refused while scheduled backups are off or one runs.
    pub fn start(&self, actor: &Actor) -> Result<()> {
        enclave_core::permissions::check_backups(actor)?;
        let jobs = match (&self.folder, &self.jobs) {
            (Some(folder), Some(jobs)) if folder.schedule().is_some() => jobs,
            _ => {
                return Err(Error::Domain(enclave_core::Error::Conflict(
                    "scheduled backups are off: set [backup] to",
                )));
            }
        };
        if jobs.run_now(JOB)? {
            Ok(())
        } else {
            Err(Error::Domain(enclave_core::Error::Conflict(
                "a backup is running already",
            )))
        }
    }
}
