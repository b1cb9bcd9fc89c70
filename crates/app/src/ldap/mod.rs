//! LDAP / Active Directory: sign-in by bind, and the directory sync.
//!
//! Sign-in (step 1 of `accounts::signin`, credential kind `Ldap`): the service account finds the
//! user's entry with the provider's filter (the login escaped per RFC 4515), then Enclave binds
//! as that entry with the password given. An empty password is never sent (Active Directory
//! takes it as an anonymous bind, which succeeds). On the first successful bind the account is
//! created (or linked), with the same reconciliation the sync does.
//!
//! The sync ([`Ldap::sync`]) lists every user the sync filter finds and reconciles each with its
//! linked account: creates, updates (display name, e-mail, phone, title, department, mapped
//! roles and departments), deactivates those who left or are disabled (deactivation ends their
//! sessions in the same transaction), and reactivates those it deactivated that return. It
//! never touches an account that is not linked to the provider (the local administrator
//! included), and it refuses to run when the directory answers with no users or would
//! deactivate more than `max_deactivate_percent` of the linked accounts. A dry run computes the
//! same report and changes nothing. Every run is stored (`ldap_sync_runs`) and audited.

mod client;
mod sync;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use enclave_core::audit::{AuditAction, AuditSummary, AuditTarget};
use enclave_core::{Entity, Error as DomainError, Millis, User, UserId};
use enclave_store::{Store, SyncRun};
use futures_util::future::BoxFuture;

pub use client::{DirEntry, DirError, user_filter};
pub use sync::{DirectorySyncReport, SyncChange};

use crate::accounts::{DirectoryAnswer, DirectoryLogin};
use crate::audit::{Audit, AuditRecord, AuditSource};
use crate::departments::Departments;
use crate::error::{Error, Result};
use crate::{Accounts, Actor};

/// Longest login sent to a directory.
pub const MAX_LOGIN_CHARS: usize = 256;
/// Longest password sent to a directory.
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// Attribute names of a provider's entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapAttributes {
    pub username: String,
    pub display_name: String,
    pub email: String,
    pub phone: String,
    pub title: String,
    pub department: String,
    /// The entry's stable id (`entryUUID`, `objectGUID`); empty: the DN.
    pub external_id: String,
}

impl Default for LdapAttributes {
    fn default() -> Self {
        LdapAttributes {
            username: "uid".into(),
            display_name: "cn".into(),
            email: "mail".into(),
            phone: "telephoneNumber".into(),
            title: "title".into(),
            department: "departmentNumber".into(),
            external_id: "entryUUID".into(),
        }
    }
}

/// One configured LDAP / Active Directory provider (`[[ldap.providers]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapProvider {
    /// Stable id (URLs, links, the command line).
    pub id: String,
    /// The name people see.
    pub name: String,
    /// `ldap://host:port` (with `starttls`) or `ldaps://host:port`.
    pub url: String,
    pub starttls: bool,
    /// PEM certificates the server's certificate must chain to (empty: the system's roots).
    pub ca_pem: String,
    /// The service account that searches for users (empty: anonymous search).
    pub bind_dn: String,
    pub bind_password: String,
    pub base_dn: String,
    /// Finds one user; `{username}` is replaced by the escaped login.
    pub user_filter: String,
    /// Lists every user the sync manages.
    pub sync_filter: String,
    pub attributes: LdapAttributes,
    /// The attribute that marks a disabled entry (empty: none).
    pub disabled_attribute: String,
    /// Disabled when the attribute holds one of these (case-insensitive); empty: when it has
    /// any value at all (`pwdAccountLockedTime`).
    pub disabled_values: Vec<String>,
    /// When not 0: the attribute is a number, disabled when it has one of these bits
    /// (Active Directory: `userAccountControl` with 2).
    pub disabled_bitmask: u64,
    /// The attribute listing the entry's groups (`memberOf`; empty: none).
    pub member_of_attribute: String,
    /// A group search instead of (or besides) `memberOf`: `{dn}` is the escaped user DN.
    pub group_filter: String,
    pub group_base_dn: String,
    /// Group DN or OU DN (lower-cased) → role name (`system_admin` or a custom role).
    pub role_map: BTreeMap<String, String>,
    /// Group DN or OU DN (lower-cased) → department path (`Head office/Engineering`).
    pub department_map: BTreeMap<String, String>,
    /// The department attribute's value is a department path too.
    pub department_from_attribute: bool,
    /// Create accounts for entries without one (at first sign-in and in the sync).
    pub create_users: bool,
    /// Link an existing local account with the same username (never an administrator or a
    /// bot) instead of refusing.
    pub link_existing: bool,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    /// Time between scheduled syncs; `None`: no scheduled sync.
    pub sync_interval: Option<Duration>,
    /// A sync that would deactivate more than this share of the linked active accounts is
    /// refused (100: no limit). A sync that finds no users at all is always refused.
    pub max_deactivate_percent: u32,
    /// Most entries one search may return.
    pub max_entries: usize,
}

impl Default for LdapProvider {
    fn default() -> Self {
        LdapProvider {
            id: String::new(),
            name: String::new(),
            url: String::new(),
            starttls: false,
            ca_pem: String::new(),
            bind_dn: String::new(),
            bind_password: String::new(),
            base_dn: String::new(),
            user_filter: "(&(objectClass=inetOrgPerson)(uid={username}))".into(),
            sync_filter: "(objectClass=inetOrgPerson)".into(),
            attributes: LdapAttributes::default(),
            disabled_attribute: String::new(),
            disabled_values: Vec::new(),
            disabled_bitmask: 0,
            member_of_attribute: "memberOf".into(),
            group_filter: String::new(),
            group_base_dn: String::new(),
            role_map: BTreeMap::new(),
            department_map: BTreeMap::new(),
            department_from_attribute: false,
            create_users: true,
            link_existing: false,
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
            sync_interval: None,
            max_deactivate_percent: 50,
            max_entries: 100_000,
        }
    }
}

/// What started a sync run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Schedule,
    Cli,
    Api,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Cli => "cli",
            Trigger::Api => "api",
        }
    }
}

/// A provider's status, for the admin console.
#[derive(Debug, Clone)]
pub struct ProviderStatus {
    pub id: String,
    pub name: String,
    pub url: String,
    pub sync_interval: Option<Duration>,
    pub linked_accounts: u64,
    /// The newest runs, newest first (with their reports).
    pub runs: Vec<SyncRun>,
    /// Whether a run is going on on this node.
    pub running: bool,
}

/// The LDAP service: providers, sign-in by bind, the sync.
pub struct Ldap {
    providers: Vec<LdapProvider>,
    store: Arc<dyn Store>,
    accounts: Arc<Accounts>,
    departments: Arc<Departments>,
    audit: Audit,
    /// Providers with a sync running on this node.
    running: Arc<parking_lot::Mutex<HashSet<String>>>,
}

/// The actor the sync acts as (the operator's: every permission, no account).
fn system() -> Actor {
    Actor::new(UserId(0), enclave_core::RoleSet::ADMIN)
}

fn not_found() -> Error {
    Error::Domain(DomainError::NotFound(Entity::Provider))
}

impl Ldap {
    pub fn new(
        providers: Vec<LdapProvider>,
        store: Arc<dyn Store>,
        accounts: Arc<Accounts>,
        departments: Arc<Departments>,
    ) -> Arc<Ldap> {
        let audit = accounts.audit().clone();
        Arc::new(Ldap {
            providers,
            store,
            accounts,
            departments,
            audit,
            running: Arc::default(),
        })
    }

    /// Makes the accounts service check directory passwords through this one.
    pub fn install(self: &Arc<Self>) {
        if !self.providers.is_empty() {
            // A weak link: the accounts service does not keep this one alive.
            let me: Arc<dyn DirectoryLogin> = self.clone();
            self.accounts.set_directory(Arc::downgrade(&me));
        }
    }

    pub fn providers(&self) -> &[LdapProvider] {
        &self.providers
    }

    pub fn provider(&self, id: &str) -> Result<&LdapProvider> {
        self.providers
            .iter()
            .find(|p| p.id == id)
            .ok_or_else(not_found)
    }

    /// Every provider's status (`SitePermission::ManageUsers`).
    pub async fn status(&self, actor: &Actor) -> Result<Vec<ProviderStatus>> {
        enclave_core::permissions::check_directory_sync(actor)?;
        let mut out = Vec::with_capacity(self.providers.len());
        for p in &self.providers {
            out.push(ProviderStatus {
                id: p.id.clone(),
                name: p.name.clone(),
                url: p.url.clone(),
                sync_interval: p.sync_interval,
                linked_accounts: self.store.ldap_links(&p.id).await?.len() as u64,
                runs: self.store.sync_runs(&p.id, 10).await?,
                running: self.running.lock().contains(&p.id),
            });
        }
        Ok(out)
    }

    /// Starts a sync of `id` in the background for an administrator; returns the run's id
    /// (its progress and report are in [`Ldap::status`]).
    pub async fn start_sync(
        self: &Arc<Self>,
        actor: &Actor,
        id: &str,
        dry_run: bool,
    ) -> Result<i64> {
        enclave_core::permissions::check_directory_sync(actor)?;
        let provider = self.provider(id)?.clone();
        let guard = self.claim(&provider.id)?;
        let run = self
            .store
            .start_sync_run(&provider.id, dry_run, Trigger::Api.as_str(), Millis::now())
            .await?;
        let me = self.clone();
        let by = actor.user_id;
        tokio::spawn(async move {
            let _guard = guard;
            let _ = me
                .run_sync(&provider, run, dry_run, Some(by), &|_, _| {})
                .await;
        });
        Ok(run)
    }

    /// Runs a sync of `id` to completion (the command line and the scheduled job).
    pub async fn sync(
        &self,
        id: &str,
        dry_run: bool,
        trigger: Trigger,
        progress: &(dyn Fn(u64, Option<u64>) + Send + Sync),
    ) -> Result<DirectorySyncReport> {
        let provider = self.provider(id)?.clone();
        let _guard = self.claim(&provider.id)?;
        let run = self
            .store
            .start_sync_run(&provider.id, dry_run, trigger.as_str(), Millis::now())
            .await?;
        self.run_sync(&provider, run, dry_run, None, progress).await
    }

    /// Marks the provider's sync as running on this node until the guard drops.
    fn claim(&self, id: &str) -> Result<RunningGuard> {
        if !self.running.lock().insert(id.to_owned()) {
            return Err(Error::Domain(DomainError::Conflict(
                "a sync of this provider is running",
            )));
        }
        Ok(RunningGuard {
            set: self.running.clone(),
            id: id.to_owned(),
        })
    }

    async fn run_sync(
        &self,
        p: &LdapProvider,
        run: i64,
        dry_run: bool,
        by: Option<UserId>,
        progress: &(dyn Fn(u64, Option<u64>) + Send + Sync),
    ) -> Result<DirectorySyncReport> {
        // Every entry the run's changes write (accounts, roles, departments and their
        // people, each in its change's transaction) names the directory as its source.
        let result = AuditSource::new(DIRECTORY, &p.id)
            .scope(sync::run(self, p, run, dry_run, progress))
            .await;
        let now = Millis::now();
        let (status, report, error) = match &result {
            Ok(r) if r.refused.is_some() => {
                ("refused", r.clone(), r.refused.clone().unwrap_or_default())
            }
            Ok(r) => ("done", r.clone(), String::new()),
            Err(e) => {
                let mut r = DirectorySyncReport::new(p, dry_run);
                r.problems.push(e.to_string());
                ("failed", r, e.to_string())
            }
        };
        let json = serde_json::to_string(&report).unwrap_or_default();
        if let Err(e) = self
            .store
            .finish_sync_run(run, status, &json, &error, now)
            .await
        {
            tracing::warn!(error = %e, "could not record the sync run");
        }
        let mut record = AuditRecord::new(AuditAction::DirectorySync).summary(
            AuditSummary::new()
                .fact("provider", &p.id)
                .fact("run", run)
                .fact("dry_run", dry_run)
                .fact("status", status)
                .fact("found", report.found)
                .fact("created", report.created)
                .fact("updated", report.updated)
                .fact("deactivated", report.deactivated)
                .fact("reactivated", report.reactivated)
                .fact("problems", report.problems.len() as u64),
        );
        if let Some(by) = by {
            record = record.by(by);
        }
        self.audit.record(record).await;
        tracing::info!(provider = %p.id, run, dry_run, status, created = report.created,
            updated = report.updated, deactivated = report.deactivated,
            reactivated = report.reactivated, "directory sync");
        result
    }

    /// Signs in through `p`: finds the entry, binds as it, and creates, links or updates the
    /// account.
    async fn login_with(
        &self,
        p: &LdapProvider,
        login: &str,
        password: &str,
    ) -> Result<DirectoryAnswer> {
        let mut conn = client::Conn::open(p).await.map_err(dir_error)?;
        let outcome: Result<DirectoryAnswer> = async {
            conn.bind_service(p).await.map_err(dir_error)?;
            let Some(entry) = conn.find_user(p, login).await.map_err(dir_error)? else {
                return Ok(DirectoryAnswer::Refused("unknown user"));
            };
            if !conn
                .bind_user(&entry.dn, password)
                .await
                .map_err(dir_error)?
            {
                return Ok(DirectoryAnswer::Refused("wrong password"));
            }
            if entry.disabled {
                return Ok(DirectoryAnswer::Refused("disabled in the directory"));
            }
            Ok(DirectoryAnswer::Entry(Box::new(entry)))
        }
        .await;
        conn.close().await;
        let entry = match outcome? {
            DirectoryAnswer::Entry(e) => *e,
            other => return Ok(other),
        };
        let mut report = DirectorySyncReport::new(p, false);
        let user = AuditSource::new(DIRECTORY, &p.id)
            .scope(sync::reconcile(self, p, &entry, false, &mut report))
            .await?;
        match user {
            Some(u) => Ok(DirectoryAnswer::Proved(u)),
            None => Ok(DirectoryAnswer::Refused(
                if report.problems.iter().any(|m| m.contains("taken")) {
                    "the username belongs to a local account"
                } else {
                    "no account could be made for the entry"
                },
            )),
        }
    }

    /// Records an account change made by the directory, once made (for what has no audited
    /// store write: linking an identity).
    async fn audit_user(
        &self,
        action: AuditAction,
        user: UserId,
        p: &LdapProvider,
        s: AuditSummary,
    ) {
        self.audit.record(user_record(action, user, p, s)).await;
    }

    /// The hook that records an account change made by the directory in the change's own
    /// transaction: `action` on the account the write returns, with `s` as the summary.
    fn user_hook<T: 'static>(
        &self,
        action: AuditAction,
        p: &LdapProvider,
        s: AuditSummary,
        user: impl FnOnce(&T) -> UserId + Send + 'static,
    ) -> enclave_store::AuditHook<T> {
        let provider = p.id.clone();
        self.audit.in_tx(move |v: &T| {
            vec![
                AuditRecord::new(action)
                    .target(AuditTarget::user(user(v)))
                    .summary(s.fact("by", DIRECTORY).fact("provider", provider)),
            ]
        })
    }
}

/// What the directory's audit entries name as `by`.
const DIRECTORY: &str = "directory";

/// The audit record of an account change made by the directory.
fn user_record(
    action: AuditAction,
    user: UserId,
    p: &LdapProvider,
    s: AuditSummary,
) -> AuditRecord {
    AuditRecord::new(action)
        .target(AuditTarget::user(user))
        .summary(s.fact("by", DIRECTORY).fact("provider", &p.id))
}

struct RunningGuard {
    set: Arc<parking_lot::Mutex<HashSet<String>>>,
    id: String,
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.set.lock().remove(&self.id);
    }
}

fn dir_error(e: DirError) -> Error {
    tracing::warn!(error = %e, "directory unreachable");
    Error::Domain(DomainError::DirectoryUnavailable)
}

impl DirectoryLogin for Ldap {
    fn login<'a>(
        &'a self,
        provider: Option<&'a str>,
        linked: Option<&'a str>,
        login: &'a str,
        password: &'a str,
    ) -> BoxFuture<'a, Result<DirectoryAnswer>> {
        Box::pin(async move {
            let login = login.trim();
            if login.is_empty()
                || login.chars().count() > MAX_LOGIN_CHARS
                || password.is_empty()
                || password.chars().count() > MAX_PASSWORD_CHARS
            {
                return Err(Error::Domain(DomainError::Unauthenticated));
            }
            match (provider, linked) {
                (Some(p), Some(l)) if p != l => Ok(DirectoryAnswer::Refused(
                    "the account is linked to another provider",
                )),
                (Some(p), _) | (None, Some(p)) => {
                    let Ok(p) = self.provider(p) else {
                        return Ok(DirectoryAnswer::Refused("unknown provider"));
                    };
                    self.login_with(p, login, password).await
                }
                (None, None) => {
                    // An unknown account: the first provider that knows the login decides.
                    let mut last = DirectoryAnswer::NotMine;
                    for p in self.providers.iter().filter(|p| p.create_users) {
                        match self.login_with(p, login, password).await? {
                            DirectoryAnswer::Refused("unknown user") => {
                                last = DirectoryAnswer::NotMine;
                            }
                            answer => return Ok(answer),
                        }
                    }
                    Ok(last)
                }
            }
        })
    }
}

/// The user record of `id`.
async fn user_of(store: &Arc<dyn Store>, id: UserId) -> Result<User> {
    store
        .user(id)
        .await?
        .ok_or(Error::Domain(DomainError::NotFound(Entity::User)))
}
