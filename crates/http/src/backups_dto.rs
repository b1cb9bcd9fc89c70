//! Wire shapes of the backups the admin console shows (re-exported by `dto`).

use enclave_app::backups::{BackupEntry, BackupRun, BackupSchedule, BackupsView};
use serde::Serialize;
use ts_rs::TS;
use utoipa::ToSchema;

use crate::dto::ts;

/// `[backup]`: where and how often the server takes backups.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct BackupScheduleDto {
    /// The folder backups are written into (on the server).
    pub to: String,
    /// Seconds between two scheduled backups.
    pub interval_secs: u64,
    /// How many backups are kept in the folder.
    pub keep: u32,
}

/// The last run of the `backup` job on the node that answered.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct BackupRunDto {
    pub started_at: String,
    /// How long it took; `null` while it runs.
    pub took_ms: Option<u64>,
    /// `running`, `ok` or `failed`.
    pub status: String,
    /// The report (`backup … written in 2.1 s: …`) or the error, as logged.
    pub message: String,
    /// Rows backed up.
    pub rows: u64,
}

/// One complete backup in the folder, from its manifest.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct BackupDto {
    /// The folder's name (`enclave-backup-20261203T140000Z`).
    pub name: String,
    /// When the snapshot was taken.
    pub created_at: String,
    /// The Enclave version that wrote it.
    pub enclave_version: String,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Bytes of its parts (tables, file objects, key).
    pub bytes: u64,
    pub tables: u64,
    pub rows: u64,
    /// File objects (uploads and thumbnails).
    pub objects: u64,
    /// Objects deleted between the snapshot and their copy.
    pub missing_objects: u64,
    /// Whether the file master key is in it (under a passphrase).
    pub with_key: bool,
    /// Why its manifest could not be read (the counts are then 0).
    pub problem: Option<String>,
}

/// The backups: schedule, last run and the backups present.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct BackupsDto {
    /// `null` when scheduled backups are off (`[backup] to` is empty).
    pub schedule: Option<BackupScheduleDto>,
    /// Whether a backup runs now (on the node that answered).
    pub running: bool,
    /// Runs since this node started.
    pub runs: u64,
    pub last_run: Option<BackupRunDto>,
    /// The backups in the folder, newest first (at most 200).
    pub backups: Vec<BackupDto>,
    /// Why the folder could not be listed.
    pub folder_problem: Option<String>,
}

fn schedule(s: &BackupSchedule) -> BackupScheduleDto {
    BackupScheduleDto {
        to: s.to.clone(),
        interval_secs: s.interval_secs,
        keep: s.keep,
    }
}

fn run(r: &BackupRun) -> BackupRunDto {
    BackupRunDto {
        started_at: ts(r.started_at),
        took_ms: r.took_ms,
        status: match r.ok {
            None => "running",
            Some(true) => "ok",
            Some(false) => "failed",
        }
        .into(),
        message: r.message.clone(),
        rows: r.rows,
    }
}

fn entry(b: &BackupEntry) -> BackupDto {
    BackupDto {
        name: b.name.clone(),
        created_at: ts(b.created_at),
        enclave_version: b.enclave_version.clone(),
        backend: b.backend.clone(),
        bytes: b.bytes,
        tables: b.tables,
        rows: b.rows,
        objects: b.objects,
        missing_objects: b.missing_objects,
        with_key: b.with_key,
        problem: b.problem.clone(),
    }
}

impl BackupsDto {
    pub fn new(v: &BackupsView) -> Self {
        BackupsDto {
            schedule: v.schedule.as_ref().map(schedule),
            running: v.running,
            runs: v.n_runs,
            last_run: v.last_run.as_ref().map(run),
            backups: v.backups.iter().map(entry).collect(),
            folder_problem: v.folder_problem.clone(),
        }
    }
}
