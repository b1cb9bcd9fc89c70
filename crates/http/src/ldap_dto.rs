//! Wire shapes of identity providers (LDAP) and their directory sync (re-exported by `dto`).

use enclave_app::ldap::ProviderStatus;
use enclave_app::store::SyncRun;
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

use crate::dto::{opt_ts, ts};

/// One account a sync changed (or, in a dry run, would change).
#[derive(Debug, Serialize, Deserialize, ToSchema, TS)]
pub struct SyncChangeDto {
    pub username: String,
    /// `create`, `link`, `update`, `deactivate` or `reactivate`.
    pub action: String,
    /// What changed, one line each.
    pub details: Vec<String>,
}

/// The final report of a sync run.
#[derive(Debug, Serialize, Deserialize, ToSchema, TS)]
pub struct SyncReportDto {
    /// Users the directory returned.
    pub found: u32,
    pub created: u32,
    pub linked: u32,
    pub updated: u32,
    pub deactivated: u32,
    pub reactivated: u32,
    pub unchanged: u32,
    /// Per-account changes (at most 1,000 listed; the counts cover all).
    pub changes: Vec<SyncChangeDto>,
    /// Entries that could not be handled, and why.
    pub problems: Vec<String>,
    /// Why the run changed nothing (the safety checks), when it was refused.
    pub refused: Option<String>,
}

fn n(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

impl SyncReportDto {
    fn parse(json: &str) -> Option<Self> {
        let r: enclave_app::DirectorySyncReport = serde_json::from_str(json).ok()?;
        Some(SyncReportDto {
            found: n(r.found),
            created: n(r.created),
            linked: n(r.linked),
            updated: n(r.updated),
            deactivated: n(r.deactivated),
            reactivated: n(r.reactivated),
            unchanged: n(r.unchanged),
            changes: r
                .changes
                .into_iter()
                .map(|c| SyncChangeDto {
                    username: c.username,
                    action: c.action,
                    details: c.details,
                })
                .collect(),
            problems: r.problems,
            refused: r.refused,
        })
    }
}

/// One sync run: its progress while it runs, its report when done.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct SyncRunDto {
    pub id: String,
    pub dry_run: bool,
    /// `schedule`, `cli` or `api`.
    pub trigger: String,
    /// `running`, `done`, `failed` or `refused` (the safety checks changed nothing).
    pub status: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// Entries handled so far, of `total`.
    pub done: u32,
    pub total: Option<u32>,
    pub report: Option<SyncReportDto>,
    /// Why the run failed or was refused.
    pub error: String,
}

impl SyncRunDto {
    pub fn new(r: &SyncRun) -> Self {
        SyncRunDto {
            id: r.id.to_string(),
            dry_run: r.dry_run,
            trigger: r.trigger.clone(),
            status: r.status.clone(),
            started_at: ts(r.started_at),
            finished_at: opt_ts(r.finished_at),
            done: n(r.done),
            total: r.total.map(n),
            report: SyncReportDto::parse(&r.report),
            error: r.error.clone(),
        }
    }
}

/// An identity provider and the state of its directory sync.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct IdentityProviderDto {
    pub id: String,
    pub name: String,
    /// `ldap`.
    pub kind: String,
    pub url: String,
    /// Minutes between scheduled syncs; `null`: none.
    pub sync_interval_minutes: Option<u32>,
    /// Accounts linked to the provider.
    pub linked_accounts: u32,
    /// Whether a sync is running (on the node that answered).
    pub running: bool,
    /// The newest runs, newest first (at most 10).
    pub runs: Vec<SyncRunDto>,
}

impl IdentityProviderDto {
    pub fn new(s: &ProviderStatus) -> Self {
        IdentityProviderDto {
            id: s.id.clone(),
            name: s.name.clone(),
            kind: "ldap".into(),
            url: s.url.clone(),
            sync_interval_minutes: s
                .sync_interval
                .map(|d| u32::try_from(d.as_secs() / 60).unwrap_or(u32::MAX)),
            linked_accounts: n(s.linked_accounts),
            running: s.running,
            runs: s.runs.iter().map(SyncRunDto::new).collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct IdentityProviderList {
    pub providers: Vec<IdentityProviderDto>,
}

/// Start a directory sync.
#[derive(Debug, Default, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
#[ts(optional_fields = nullable)]
pub struct SyncRequest {
    /// Report what would change and change nothing.
    #[serde(default)]
    pub dry_run: Option<bool>,
}

/// A started sync: follow it in `GET /api/v1/admin/identity-providers`.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct SyncStarted {
    pub run_id: String,
}
