//! The directory sync: reconcile every entry with its account, then deactivate the accounts
//! whose entries are gone; refuse when the answer looks broken.

use std::collections::{BTreeSet, HashMap, HashSet};

use enclave_core::audit::{AuditAction, AuditSummary};
use enclave_core::departments::Tree;
use enclave_core::{Millis, RoleId, User, validate};
use enclave_store::{LdapLink, NewUser, UserPatch, UserRoles};
use serde::{Deserialize, Serialize};

use super::client::{Conn, DirEntry};
use super::{Ldap, LdapProvider, dir_error, system, user_of};
use crate::departments::Placement;
use crate::error::{Error, Result};

/// Most per-user changes a report lists (the counts cover all).
const MAX_LISTED: usize = 1000;
/// Progress is stored every this many entries.
const PROGRESS_EVERY: u64 = 50;

/// What happened to one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncChange {
    pub username: String,
    /// `create`, `link`, `update`, `deactivate` or `reactivate`.
    pub action: String,
    /// What changed (`display_name`, `email`, `roles: +x -y`, `left the directory`, ...).
    pub details: Vec<String>,
}

/// The report of one run (stored as JSON with the run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectorySyncReport {
    pub provider: String,
    pub dry_run: bool,
    /// Entries the directory returned.
    pub found: u64,
    pub created: u64,
    pub linked: u64,
    pub updated: u64,
    pub deactivated: u64,
    pub reactivated: u64,
    pub unchanged: u64,
    /// Per-account changes (at most 1,000 listed).
    pub changes: Vec<SyncChange>,
    /// Entries that could not be handled, and why.
    pub problems: Vec<String>,
    /// Why the run changed nothing, when the safety checks refused it.
    pub refused: Option<String>,
}

impl DirectorySyncReport {
    pub fn new(p: &LdapProvider, dry_run: bool) -> Self {
        DirectorySyncReport {
            provider: p.id.clone(),
            dry_run,
            found: 0,
            created: 0,
            linked: 0,
            updated: 0,
            deactivated: 0,
            reactivated: 0,
            unchanged: 0,
            changes: Vec::new(),
            problems: Vec::new(),
            refused: None,
        }
    }

    fn change(&mut self, username: &str, action: &str, details: Vec<String>) {
        match action {
            "create" => self.created += 1,
            "link" => self.linked += 1,
            "update" => self.updated += 1,
            "deactivate" => self.deactivated += 1,
            "reactivate" => self.reactivated += 1,
            _ => {}
        }
        if self.changes.len() < MAX_LISTED {
            self.changes.push(SyncChange {
                username: username.to_owned(),
                action: action.to_owned(),
                details,
            });
        }
    }

    fn problem(&mut self, p: String) {
        if self.problems.len() < MAX_LISTED {
            self.problems.push(p);
        }
    }
}

/// Whether a mapping key (a group DN or an OU DN, compared case-insensitively) applies to the
/// entry: the entry is in the group, or under the OU.
fn matches(key: &str, e: &DirEntry) -> bool {
    let key = key.trim().to_lowercase();
    let dn = e.dn.to_lowercase();
    e.groups.iter().any(|g| g.to_lowercase() == key) || dn.ends_with(&format!(",{key}"))
}

fn is_admin_role(name: &str) -> bool {
    matches!(
        name.trim().to_lowercase().as_str(),
        "system_admin" | "admin"
    )
}

/// The placements the mapping gives the entry, sorted; `None` when the provider maps no
/// departments (the sync leaves departments alone).
fn wanted_placements(p: &LdapProvider, e: &DirEntry) -> Option<Vec<(Vec<String>, String)>> {
    if p.department_map.is_empty() && !p.department_from_attribute {
        return None;
    }
    let split = |s: &str| -> Vec<String> {
        s.split('/')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let mut paths = BTreeSet::new();
    for (k, path) in &p.department_map {
        if matches(k, e) {
            paths.insert(split(path));
        }
    }
    if p.department_from_attribute && !e.department.is_empty() {
        paths.insert(split(&e.department));
    }
    let title: String = e.title.chars().take(64).collect();
    Some(
        paths
            .into_iter()
            .filter(|p| !p.is_empty())
            .map(|p| (p, title.clone()))
            .collect(),
    )
}

/// One run: list the entries, check the answer is safe to act on, then reconcile.
pub(super) async fn run(
    ldap: &Ldap,
    p: &LdapProvider,
    run: i64,
    dry_run: bool,
    progress: &(dyn Fn(u64, Option<u64>) + Send + Sync),
) -> Result<DirectorySyncReport> {
    let mut report = DirectorySyncReport::new(p, dry_run);
    let mut conn = Conn::open(p).await.map_err(dir_error)?;
    let listed = async {
        conn.bind_service(p).await?;
        conn.all_users(p).await
    }
    .await;
    conn.close().await;
    let entries = listed.map_err(|e| Error::internal(format!("directory: {e}")))?;
    report.found = entries.len() as u64;
    let total = entries.len() as u64;
    progress(0, Some(total));
    let _ = ldap.store.sync_run_progress(run, 0, Some(total)).await;

    // Which linked accounts the answer would deactivate: the safety check comes first.
    let links = ldap.store.ldap_links(&p.id).await?;
    let present: HashSet<&str> = entries
        .iter()
        .filter(|e| !e.disabled)
        .map(|e| e.external_id.as_str())
        .collect();
    let mut active_linked = 0u64;
    let mut to_deactivate = 0u64;
    for l in &links {
        if let Some(u) = ldap.store.user(l.user_id).await?
            && u.active
        {
            active_linked += 1;
            if !present.contains(l.external_id.as_str()) {
                to_deactivate += 1;
            }
        }
    }
    if entries.is_empty() && active_linked > 0 {
        report.refused = Some(format!(
            "the directory returned no users; refusing to deactivate all {active_linked} linked account(s) (check base_dn and sync_filter)"
        ));
        return Ok(report);
    }
    if p.max_deactivate_percent < 100
        && to_deactivate > 0
        && to_deactivate * 100 > u64::from(p.max_deactivate_percent) * active_linked
    {
        report.refused = Some(format!(
            "the sync would deactivate {to_deactivate} of {active_linked} linked active account(s), more than max_deactivate_percent = {}%; nothing was changed",
            p.max_deactivate_percent
        ));
        return Ok(report);
    }

    let mut seen = HashSet::new();
    for (i, e) in entries.iter().enumerate() {
        seen.insert(e.external_id.clone());
        match reconcile(ldap, p, e, dry_run, &mut report).await {
            Ok(_) => {}
            Err(err) => report.problem(format!("{}: {err}", e.dn)),
        }
        let done = i as u64 + 1;
        if done.is_multiple_of(PROGRESS_EVERY) || done == total {
            progress(done, Some(total));
            let _ = ldap.store.sync_run_progress(run, done, Some(total)).await;
        }
    }
    // Linked accounts whose entries are gone.
    for l in links {
        if seen.contains(&l.external_id) {
            continue;
        }
        let user = user_of(&ldap.store, l.user_id).await?;
        if !user.active {
            continue;
        }
        deactivate(
            ldap,
            p,
            &user,
            l,
            "left the directory",
            dry_run,
            &mut report,
        )
        .await?;
    }
    Ok(report)
}

async fn deactivate(
    ldap: &Ldap,
    p: &LdapProvider,
    user: &User,
    mut link: LdapLink,
    why: &str,
    dry_run: bool,
    report: &mut DirectorySyncReport,
) -> Result<()> {
    report.change(&user.username, "deactivate", vec![why.to_owned()]);
    if dry_run {
        return Ok(());
    }
    // Deactivation revokes every session and token of the account in the same transaction,
    // and appends its audit entry there.
    let audit = ldap.user_hook(
        AuditAction::UserDeactivated,
        p,
        AuditSummary::new()
            .change("active", Some(true), Some(false))
            .fact("reason", why),
        |u: &User| u.id,
    );
    ldap.store
        .update_user_audited(
            user.id,
            UserPatch {
                active: Some(false),
                ..UserPatch::default()
            },
            None,
            audit,
        )
        .await?;
    ldap.accounts.forget(user.id);
    link.sync_deactivated = true;
    ldap.store.put_ldap_link(link).await?;
    Ok(())
}

/// Brings the account of one entry in line with it (creating or linking it when allowed);
/// returns the account (`None` when the entry has none and none could be made, or in a dry run
/// that would create one). Used by the sync and by the first sign-in.
pub(super) async fn reconcile(
    ldap: &Ldap,
    p: &LdapProvider,
    e: &DirEntry,
    dry_run: bool,
    report: &mut DirectorySyncReport,
) -> Result<Option<User>> {
    let now = Millis::now();
    let store = &ldap.store;
    let mut link = store.ldap_link_by_external(&p.id, &e.external_id).await?;
    let mut user = match &link {
        Some(l) => Some(user_of(store, l.user_id).await?),
        None => None,
    };
    let mut action = "update";
    if user.is_none() {
        let username = match validate::username(&e.username) {
            Ok(u) => u,
            Err(err) => {
                report.problem(format!("{}: {err}", e.dn));
                return Ok(None);
            }
        };
        let existing = store
            .users_by_usernames(std::slice::from_ref(&username))
            .await?
            .pop();
        if let Some(u) = existing {
            let linked_elsewhere = store.ldap_link_of_user(u.id).await?.is_some();
            if !p.link_existing || u.is_admin || u.is_bot || u.is_guest || linked_elsewhere {
                report.problem(format!(
                    "{}: the username {username} is taken by an account not linked to this entry",
                    e.dn
                ));
                return Ok(None);
            }
            action = "link";
            user = Some(u);
        } else {
            if e.disabled || !p.create_users {
                return Ok(None);
            }
            if dry_run {
                report.change(&username, "create", vec![format!("dn {}", e.dn)]);
                return Ok(None);
            }
            let display = validate::display_name(&e.display_name).unwrap_or_default();
            let email = validate::email(&e.email).ok();
            let audit = ldap.user_hook(
                AuditAction::UserCreated,
                p,
                AuditSummary::new()
                    .fact("username", &username)
                    .fact("dn", &e.dn),
                |u: &User| u.id,
            );
            let created = store
                .create_user_audited(
                    NewUser {
                        username: username.clone(),
                        display_name: if display.is_empty() {
                            username.clone()
                        } else {
                            display
                        },
                        email,
                        password_hash: None,
                        is_admin: false,
                        is_bot: false,
                        actor_id: None,
                        is_guest: false,
                        guest_expires_at: None,
                    },
                    audit,
                )
                .await;
            let created = match created {
                Ok(u) => u,
                Err(err) => {
                    report.problem(format!("{}: {}", e.dn, Error::from(err)));
                    return Ok(None);
                }
            };
            action = "create";
            user = Some(created);
        }
    }
    let Some(mut user) = user else {
        return Ok(None);
    };
    let mut details = Vec::new();
    let base = link.clone().unwrap_or(LdapLink {
        user_id: user.id,
        provider: p.id.clone(),
        external_id: e.external_id.clone(),
        dn: e.dn.clone(),
        phone: String::new(),
        title: String::new(),
        department: String::new(),
        sync_deactivated: false,
        linked_at: now,
        seen_at: now,
    });

    // Activation.
    if e.disabled {
        if user.active
            && let Some(l) = link.take()
        {
            deactivate(
                ldap,
                p,
                &user,
                l,
                "disabled in the directory",
                dry_run,
                report,
            )
            .await?;
        }
        return Ok(Some(user));
    }
    if !user.active && base.sync_deactivated {
        details.push("returned to the directory".to_owned());
        if !dry_run {
            let audit = ldap.user_hook(
                AuditAction::UserReactivated,
                p,
                AuditSummary::new().change("active", Some(false), Some(true)),
                |u: &User| u.id,
            );
            user = store
                .update_user_audited(
                    user.id,
                    UserPatch {
                        active: Some(true),
                        ..UserPatch::default()
                    },
                    None,
                    audit,
                )
                .await?;
        }
        if action == "update" {
            action = "reactivate";
        }
    }

    // Profile.
    let mut patch = UserPatch::default();
    let mut audit = AuditSummary::new();
    if let Ok(d) = validate::display_name(&e.display_name)
        && !d.is_empty()
        && d != user.display_name
    {
        details.push(format!("display_name: {} → {d}", user.display_name));
        audit = audit.change("display_name", Some(&user.display_name), Some(&d));
        patch.display_name = Some(d);
    }
    let email = if e.email.is_empty() {
        None
    } else {
        match validate::email(&e.email) {
            Ok(m) => Some(m),
            Err(_) => {
                report.problem(format!("{}: the e-mail address is not valid", e.dn));
                user.email.clone()
            }
        }
    };
    if email != user.email {
        details.push(format!(
            "email: {} → {}",
            user.email.as_deref().unwrap_or("-"),
            email.as_deref().unwrap_or("-")
        ));
        audit = audit.change("email", user.email.as_ref(), email.as_ref());
        patch.email = Some(email);
    }
    let clip = |s: &str| s.chars().take(128).collect::<String>();
    let (phone, title, department) = (clip(&e.phone), clip(&e.title), clip(&e.department));
    for (name, old, new) in [
        ("phone", &base.phone, &phone),
        ("title", &base.title, &title),
        ("department", &base.department, &department),
    ] {
        if old != new && action != "create" {
            details.push(format!("{name}: {} → {}", dash(old), dash(new)));
        }
    }
    if base.dn != e.dn && action != "create" {
        details.push(format!("dn: {} → {}", base.dn, e.dn));
    }
    if !dry_run {
        if patch.display_name.is_some() || patch.email.is_some() {
            let audit = ldap.user_hook(AuditAction::UserUpdated, p, audit, |u: &User| u.id);
            match store.update_user_audited(user.id, patch, None, audit).await {
                Ok(u) => {
                    user = u;
                }
                Err(err) => report.problem(format!("{}: {}", e.dn, Error::from(err))),
            }
        }
        store
            .put_ldap_link(LdapLink {
                dn: e.dn.clone(),
                phone,
                title,
                department,
                sync_deactivated: false,
                seen_at: now,
                ..base
            })
            .await?;
        if action == "link" {
            // The link has no audited store write: recorded once it is made.
            ldap.audit_user(
                AuditAction::IdentityLinked,
                user.id,
                p,
                AuditSummary::new().fact("dn", &e.dn),
            )
            .await;
        }
        ldap.accounts.forget(user.id);
    }

    // Roles and departments.
    if let Some(d) = sync_roles(ldap, p, &user, e, dry_run).await? {
        details.push(d);
    }
    if let Some(d) = sync_departments(ldap, p, &user, e, dry_run).await? {
        details.push(d);
    }

    if action == "create" {
        report.change(&user.username, "create", vec![format!("dn {}", e.dn)]);
    } else if details.is_empty() && action == "update" {
        report.unchanged += 1;
    } else {
        report.change(&user.username, action, details);
    }
    Ok(Some(user))
}

fn dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

/// Grants and revokes the roles the provider maps (others are left alone).
async fn sync_roles(
    ldap: &Ldap,
    p: &LdapProvider,
    user: &User,
    e: &DirEntry,
    dry_run: bool,
) -> Result<Option<String>> {
    if p.role_map.is_empty() || user.is_guest {
        return Ok(None);
    }
    let store = &ldap.store;
    let all = store.roles().await?;
    let by_name: HashMap<String, RoleId> =
        all.iter().map(|r| (r.name.to_lowercase(), r.id)).collect();
    let mut managed_admin = false;
    let mut managed: HashSet<RoleId> = HashSet::new();
    let mut want_admin = false;
    let mut want: HashSet<RoleId> = HashSet::new();
    for (key, role) in &p.role_map {
        let hit = matches(key, e);
        if is_admin_role(role) {
            managed_admin = true;
            want_admin |= hit;
        } else if let Some(id) = by_name.get(&role.trim().to_lowercase()) {
            managed.insert(*id);
            if hit {
                want.insert(*id);
            }
        }
    }
    let held: Vec<RoleId> = store
        .user_roles(user.id)
        .await?
        .iter()
        .map(|r| r.id)
        .collect();
    let mut custom: Vec<RoleId> = held
        .iter()
        .copied()
        .filter(|r| !managed.contains(r) || want.contains(r))
        .collect();
    for r in &want {
        if !custom.contains(r) {
            custom.push(*r);
        }
    }
    custom.sort();
    let mut before = held.clone();
    before.sort();
    let is_admin = if managed_admin {
        want_admin
    } else {
        user.is_admin
    };
    if custom == before && is_admin == user.is_admin {
        return Ok(None);
    }
    let name = |id: &RoleId| {
        all.iter()
            .find(|r| r.id == *id)
            .map(|r| r.name.clone())
            .unwrap_or_default()
    };
    let mut parts = Vec::new();
    if is_admin != user.is_admin {
        parts.push(format!("{}system_admin", if is_admin { "+" } else { "-" }));
    }
    for r in custom.iter().filter(|r| !before.contains(r)) {
        parts.push(format!("+{}", name(r)));
    }
    for r in before.iter().filter(|r| !custom.contains(r)) {
        parts.push(format!("-{}", name(r)));
    }
    let detail = format!("roles: {}", parts.join(" "));
    if !dry_run {
        let audit = ldap.user_hook(
            AuditAction::RoleChanged,
            p,
            AuditSummary::new().fact("roles", &detail),
            |(u, _): &(User, Vec<enclave_core::CustomRole>)| u.id,
        );
        store
            .set_user_roles_audited(
                user.id,
                UserRoles {
                    is_admin,
                    member_role: user.member_role,
                    custom,
                },
                None,
                audit,
            )
            .await?;
        ldap.accounts.forget(user.id);
    }
    Ok(Some(detail))
}

/// Places the account in the departments the provider maps (and takes it out of others).
async fn sync_departments(
    ldap: &Ldap,
    p: &LdapProvider,
    user: &User,
    e: &DirEntry,
    dry_run: bool,
) -> Result<Option<String>> {
    let Some(want) = wanted_placements(p, e) else {
        return Ok(None);
    };
    let tree = Tree::new(ldap.store.departments().await?);
    let mut have: Vec<(Vec<String>, String)> = ldap
        .store
        .user_departments(user.id)
        .await?
        .into_iter()
        .map(|m| (tree.path(m.department_id), m.title))
        .collect();
    have.sort();
    if have == want {
        return Ok(None);
    }
    let show = |v: &[(Vec<String>, String)]| {
        v.iter()
            .map(|(p, _)| p.join("/"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let detail = format!("departments: [{}] → [{}]", show(&have), show(&want));
    if !dry_run {
        let placements: Vec<Placement> = want
            .into_iter()
            .map(|(path, title)| Placement {
                path,
                title,
                is_head: false,
            })
            .collect();
        // The department service records each department it creates and each placement it
        // makes or ends, in that change's own transaction; the run's source (`by: directory`,
        // the provider) labels them.
        ldap.departments
            .apply_membership(&system(), user.id, &placements, true)
            .await?;
    }
    Ok(Some(detail))
}
