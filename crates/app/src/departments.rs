//! The department tree (组织架构), the directory (通讯录) and department channels.
//!
//! Every rule is `enclave_core::departments`'s: writes hand the store a guard that runs the
//! core checks on the tree as it is inside the writing transaction. After a change to the tree
//! or its people, the service brings the department channels it may affect up to date through
//! the ordinary channel membership writes (`ChannelStore::add_member` / `remove_member`, each
//! appending `member.added` / `member.removed`), so clients hear of it like any other change.
//! The sync reconciles (it compares what the tree wants with who is in the channel), so running
//! it again, or after a crash between the two writes, converges.
//!
//! Every change to the tree and its people is audited in its own store transaction
//! (`department_created`, `department_updated`, `department_moved`, `department_deleted`,
//! `department_member_added` / `_updated` / `_removed`, `manager_changed`); an import adds
//! `departments_imported` with its counts.

mod import;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use enclave_core::departments::{
    self as rules, Department, DepartmentChange, DepartmentMember, Tree,
};
use enclave_core::permissions::{self, Action};
use enclave_core::{
    Actor, ChannelId, ChannelRole, DepartmentId, Entity, Error as DomainError, User, UserId,
};
use enclave_store::{
    AccountStore, ChannelStore, DepartmentChannel, DepartmentPatch, DepartmentStore, GuardCtx,
    NewDepartment,
};

pub use import::{ImportReport, ImportRow, parse_csv};

use enclave_core::audit::{AuditAction, AuditSummary, AuditTarget, TargetKind};

use crate::audit::{Audit, AuditRecord};
use crate::error::{Error, Result};
use crate::ratelimit::{Kind, UserLimits};

/// Most people a directory search returns.
pub const MAX_DIRECTORY_RESULTS: u32 = 50;

/// A new department.
#[derive(Debug, Clone)]
pub struct DepartmentInput {
    pub parent_id: Option<DepartmentId>,
    pub name: String,
    pub position: Option<i64>,
}

/// Changes to a department; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct DepartmentUpdate {
    pub name: Option<String>,
    /// `Some(None)`: make it a root.
    pub parent_id: Option<Option<DepartmentId>>,
    pub position: Option<i64>,
    pub admins: Option<Vec<UserId>>,
}

/// The tree as the directory shows it.
#[derive(Debug, Clone)]
pub struct TreeView {
    pub departments: Vec<Department>,
    /// People per department (active people only).
    pub counts: HashMap<DepartmentId, usize>,
    pub channels: Vec<DepartmentChannel>,
}

/// A person's card.
#[derive(Debug, Clone)]
pub struct Card {
    pub user: User,
    /// Each department the person is in, with the names from the root down.
    pub departments: Vec<(DepartmentMember, Vec<String>)>,
    pub manager: Option<User>,
    /// Whether the viewer sees the person's contact details.
    pub show_contact: bool,
}

/// One placement of a person, for [`Departments::apply_membership`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Department names from the root down; missing departments are created.
    pub path: Vec<String>,
    pub title: String,
    pub is_head: bool,
}

/// What a channel sync did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub added: u64,
    pub removed: u64,
}

/// The departments service.
pub struct Departments {
    store: Arc<dyn DepartmentStore>,
    accounts: Arc<dyn AccountStore>,
    channels: Arc<dyn ChannelStore>,
    limits: Arc<UserLimits>,
    audit: Audit,
}

fn department_target(id: DepartmentId) -> AuditTarget {
    AuditTarget::new(TargetKind::Department, id.to_string())
}

/// A record of `action` by `actor` (none for the system actor, user id 0).
fn by(action: AuditAction, actor: &Actor) -> AuditRecord {
    let r = AuditRecord::new(action);
    if actor.user_id.0 == 0 {
        r
    } else {
        r.by(actor.user_id)
    }
}

fn parent_name(p: Option<DepartmentId>) -> String {
    p.map_or_else(|| "root".to_owned(), |p| p.to_string())
}

fn ids(v: &[UserId]) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The audit record of a department change: `department_moved` when its parent changed, else
/// `department_updated`; the summary holds every field that changed. `None` when nothing did.
fn update_record(actor: &Actor, before: &Department, after: &Department) -> Option<AuditRecord> {
    let mut s = AuditSummary::new().fact("name", &after.name);
    let mut changed = false;
    if before.name != after.name {
        s = s.change("name", Some(&before.name), Some(&after.name));
        changed = true;
    }
    let moved = before.parent_id != after.parent_id;
    if moved {
        s = s.change(
            "parent",
            Some(parent_name(before.parent_id)),
            Some(parent_name(after.parent_id)),
        );
    }
    if before.position != after.position {
        s = s.change("position", Some(before.position), Some(after.position));
        changed = true;
    }
    if before.admins != after.admins {
        s = s.change(
            "admins",
            Some(ids(&before.admins)),
            Some(ids(&after.admins)),
        );
        changed = true;
    }
    let action = if moved {
        AuditAction::DepartmentMoved
    } else if changed {
        AuditAction::DepartmentUpdated
    } else {
        return None;
    };
    Some(
        by(action, actor)
            .target(department_target(after.id))
            .summary(s),
    )
}

/// The audit record of putting a person in a department or changing their place there.
fn member_record(
    actor: &Actor,
    before: Option<&DepartmentMember>,
    after: &DepartmentMember,
) -> Option<AuditRecord> {
    let s = AuditSummary::new().fact("department", after.department_id);
    let (action, s) = match before {
        None => (
            AuditAction::DepartmentMemberAdded,
            s.fact("title", &after.title).fact("head", after.is_head),
        ),
        Some(b) if b.title == after.title && b.is_head == after.is_head => return None,
        Some(b) => {
            let mut s = s;
            if b.title != after.title {
                s = s.change("title", Some(&b.title), Some(&after.title));
            }
            if b.is_head != after.is_head {
                s = s.change("head", Some(b.is_head), Some(after.is_head));
            }
            (AuditAction::DepartmentMemberUpdated, s)
        }
    };
    Some(
        by(action, actor)
            .target(AuditTarget::user(after.user_id))
            .summary(s),
    )
}

fn tree_guard(
    f: impl FnOnce(&Tree) -> std::result::Result<(), DomainError> + Send + 'static,
) -> enclave_store::TreeGuard {
    Box::new(f)
}

fn sync_guard() -> enclave_store::Guard {
    Box::new(|ctx: &GuardCtx<'_>| rules::check_sync(ctx.channel))
}

impl Departments {
    pub fn new(
        store: Arc<dyn DepartmentStore>,
        accounts: Arc<dyn AccountStore>,
        channels: Arc<dyn ChannelStore>,
        limits: Arc<UserLimits>,
    ) -> Self {
        Departments {
            store,
            accounts,
            channels,
            limits,
            audit: Audit::off(),
        }
    }

    /// Records department changes in `audit`.
    #[must_use]
    pub fn with_audit(mut self, audit: Audit) -> Self {
        self.audit = audit;
        self
    }

    /// The hook that audits a placement, in the placement's transaction.
    fn member_audit(
        &self,
        actor: &Actor,
    ) -> enclave_store::AuditHook<(Option<DepartmentMember>, DepartmentMember)> {
        let a = *actor;
        self.audit.in_tx(
            move |(before, after): &(Option<DepartmentMember>, DepartmentMember)| {
                member_record(&a, before.as_ref(), after)
                    .into_iter()
                    .collect()
            },
        )
    }

    async fn tree(&self) -> Result<Tree> {
        Ok(Tree::new(self.store.departments().await?))
    }

    /// The whole tree with head counts and department channels (directory browsers only).
    pub async fn view(&self, actor: &Actor) -> Result<TreeView> {
        rules::check_browse(actor)?;
        let departments = self.store.departments().await?;
        let mut counts = HashMap::new();
        for d in &departments {
            let n = self.store.people_in_departments(&[d.id]).await?.len();
            counts.insert(d.id, n);
        }
        let channels = self.store.department_channels().await?;
        Ok(TreeView {
            departments,
            counts,
            channels,
        })
    }

    pub async fn create(&self, actor: &Actor, input: DepartmentInput) -> Result<Department> {
        self.limits.check(actor, Kind::Write)?;
        let name = rules::department_name(&input.name)?;
        let position = input.position.unwrap_or(0);
        if !(-1_000_000..=1_000_000).contains(&position) {
            return Err(
                DomainError::invalid("position", "must be between -1000000 and 1000000").into(),
            );
        }
        let a = *actor;
        let parent = input.parent_id;
        let n = name.clone();
        let audit = self.audit.in_tx(move |d: &Department| {
            vec![
                by(AuditAction::DepartmentCreated, &a)
                    .target(department_target(d.id))
                    .summary(
                        AuditSummary::new()
                            .fact("name", &d.name)
                            .fact("parent", parent_name(d.parent_id))
                            .fact("position", d.position),
                    ),
            ]
        });
        let d = self
            .store
            .create_department_audited(
                NewDepartment {
                    parent_id: parent,
                    name,
                    position,
                },
                tree_guard(move |t| rules::check_create(&a, t, parent, &n)),
                audit,
            )
            .await?;
        tracing::info!(department_id = %d.id, "department created");
        Ok(d)
    }

    pub async fn update(
        &self,
        actor: &Actor,
        id: DepartmentId,
        update: DepartmentUpdate,
    ) -> Result<Department> {
        self.limits.check(actor, Kind::Write)?;
        let name = update
            .name
            .as_deref()
            .map(rules::department_name)
            .transpose()?;
        let change = DepartmentChange {
            name: name.clone(),
            parent_id: update.parent_id,
            position: update.position,
            admins: update.admins.clone(),
        };
        let before = self.tree().await?;
        let a = *actor;
        let audit = self
            .audit
            .in_tx(move |(before, after): &(Department, Department)| {
                update_record(&a, before, after).into_iter().collect()
            });
        let d = self
            .store
            .update_department_audited(
                id,
                DepartmentPatch {
                    name,
                    parent_id: update.parent_id,
                    position: update.position,
                    admins: update.admins.map(|mut v| {
                        v.sort();
                        v.dedup();
                        v
                    }),
                },
                tree_guard(move |t| rules::check_update(&a, t, id, &change)),
                audit,
            )
            .await?;
        if update.parent_id.is_some() {
            self.sync_touched(actor, &before, &[id]).await?;
        }
        Ok(d)
    }

    pub async fn delete(&self, actor: &Actor, id: DepartmentId) -> Result<()> {
        self.limits.check(actor, Kind::Write)?;
        let before = self.tree().await?;
        let a = *actor;
        let audit = self.audit.in_tx(move |d: &Department| {
            vec![
                by(AuditAction::DepartmentDeleted, &a)
                    .target(department_target(d.id))
                    .summary(
                        AuditSummary::new()
                            .fact("name", &d.name)
                            .fact("parent", parent_name(d.parent_id)),
                    ),
            ]
        });
        self.store
            .delete_department_audited(
                id,
                tree_guard(move |t| rules::check_delete(&a, t, id)),
                audit,
            )
            .await?;
        self.sync_touched(actor, &before, &[id]).await?;
        Ok(())
    }

    /// Puts a person in a department (or changes their title and headship there); `true` when
    /// they were not in it before. Department channels follow.
    pub async fn set_member(
        &self,
        actor: &Actor,
        id: DepartmentId,
        user_id: UserId,
        title: &str,
        is_head: bool,
    ) -> Result<bool> {
        self.limits.check(actor, Kind::Write)?;
        let title = rules::title(title)?;
        let a = *actor;
        let added = self
            .store
            .set_department_member_audited(
                DepartmentMember {
                    department_id: id,
                    user_id,
                    title,
                    is_head,
                },
                Box::new(move |t, others| rules::check_member(&a, t, id, others)),
                self.member_audit(actor),
            )
            .await?;
        if added {
            let tree = self.tree().await?;
            self.sync_touched(actor, &tree, &[id]).await?;
        }
        Ok(added)
    }

    /// Takes a person out of a department; department channels follow.
    pub async fn remove_member(
        &self,
        actor: &Actor,
        id: DepartmentId,
        user_id: UserId,
    ) -> Result<()> {
        self.limits.check(actor, Kind::Write)?;
        let a = *actor;
        let audit = self.audit.in_tx(move |(): &()| {
            vec![
                by(AuditAction::DepartmentMemberRemoved, &a)
                    .target(AuditTarget::user(user_id))
                    .summary(AuditSummary::new().fact("department", id)),
            ]
        });
        self.store
            .remove_department_member_audited(
                id,
                user_id,
                tree_guard(move |t| rules::check_manage(&a, t, Some(id))),
                audit,
            )
            .await?;
        let tree = self.tree().await?;
        self.sync_touched(actor, &tree, &[id]).await?;
        Ok(())
    }

    /// The people of a department (directory browsers only).
    pub async fn members(
        &self,
        actor: &Actor,
        id: DepartmentId,
    ) -> Result<Vec<(DepartmentMember, User)>> {
        rules::check_browse(actor)?;
        self.tree().await?.require(id)?;
        let mut people = self.store.department_members(id).await?;
        people.retain(|(_, u)| u.active);
        Ok(people)
    }

    /// People by name in any script, by full pinyin or by its initials (directory browsers
    /// only).
    pub async fn search(&self, actor: &Actor, q: &str, limit: u32) -> Result<Vec<User>> {
        rules::check_browse(actor)?;
        self.limits.check(actor, Kind::Search)?;
        let Some(key) = rules::directory_query(q)? else {
            return Ok(Vec::new());
        };
        Ok(self
            .store
            .search_people(&key, limit.clamp(1, MAX_DIRECTORY_RESULTS))
            .await?)
    }

    /// A person's card: departments with titles, manager, contact (directory browsers only).
    pub async fn card(&self, actor: &Actor, user_id: UserId) -> Result<Card> {
        rules::check_browse(actor)?;
        let user = self
            .accounts
            .user(user_id)
            .await?
            .filter(|u| u.active || permissions::sees_deactivated_users(actor))
            .ok_or(DomainError::NotFound(Entity::User))?;
        let tree = self.tree().await?;
        let memberships = self.store.user_departments(user_id).await?;
        let chain: BTreeSet<DepartmentId> = memberships
            .iter()
            .flat_map(|m| tree.chain(m.department_id))
            .collect();
        let chain: Vec<DepartmentId> = chain.into_iter().collect();
        let mut heads: HashMap<DepartmentId, Vec<UserId>> = HashMap::new();
        for (d, u) in self.store.department_heads(&chain).await? {
            heads.entry(d).or_default().push(u);
        }
        let explicit = self.store.manager(user_id).await?;
        let manager = match rules::manager_of(user_id, explicit, &tree, &memberships, &heads) {
            Some(m) => self.accounts.user(m).await?.filter(|u| u.active),
            None => None,
        };
        let departments = memberships
            .into_iter()
            .map(|m| {
                let path = tree.path(m.department_id);
                (m, path)
            })
            .collect();
        Ok(Card {
            show_contact: rules::card_shows_contact(actor, user_id),
            user,
            departments,
            manager,
        })
    }

    /// Sets or clears a person's explicit manager: whoever manages one of the person's
    /// departments (or holds the site permission).
    pub async fn set_manager(
        &self,
        actor: &Actor,
        user_id: UserId,
        manager: Option<UserId>,
    ) -> Result<()> {
        self.limits.check(actor, Kind::Write)?;
        if manager == Some(user_id) {
            return Err(
                DomainError::invalid("manager_id", "a person cannot manage themself").into(),
            );
        }
        self.accounts
            .user(user_id)
            .await?
            .filter(|u| u.active)
            .ok_or(DomainError::NotFound(Entity::User))?;
        let depts: Vec<DepartmentId> = self
            .store
            .user_departments(user_id)
            .await?
            .iter()
            .map(|m| m.department_id)
            .collect();
        let a = *actor;
        let audit = self.audit.in_tx(move |before: &Option<UserId>| {
            if *before == manager {
                return Vec::new();
            }
            let show = |m: &Option<UserId>| m.map_or_else(|| "none".to_owned(), |m| m.to_string());
            vec![
                by(AuditAction::ManagerChanged, &a)
                    .target(AuditTarget::user(user_id))
                    .summary(AuditSummary::new().change(
                        "manager",
                        Some(show(before)),
                        Some(show(&manager)),
                    )),
            ]
        });
        self.store
            .set_manager_audited(
                user_id,
                manager,
                tree_guard(move |t| {
                    if depts
                        .iter()
                        .any(|d| rules::may_manage_department(&a, t, Some(*d)))
                    {
                        Ok(())
                    } else {
                        rules::check_manage(&a, t, None)
                    }
                }),
                audit,
            )
            .await?;
        Ok(())
    }

    /// Makes `channel` a department channel of `id` (its members follow the department, and
    /// with `include_subdepartments` its whole subtree), and brings its members up to date.
    /// The actor manages the department and moderates the channel.
    pub async fn link_channel(
        &self,
        actor: &Actor,
        id: DepartmentId,
        channel: ChannelId,
        include_subdepartments: bool,
    ) -> Result<SyncReport> {
        self.limits.check(actor, Kind::Write)?;
        let (ch, m) = self
            .channels
            .channel_for(channel, actor.user_id)
            .await?
            .ok_or(DomainError::NotFound(Entity::Channel))?;
        permissions::check(actor, &ch, m.as_ref(), Action::View)?;
        permissions::check(actor, &ch, m.as_ref(), Action::Rename)?;
        rules::check_sync(&ch)?;
        let a = *actor;
        let link = DepartmentChannel {
            channel_id: channel,
            department_id: id,
            include_subdepartments,
        };
        let audit = self.audit.in_tx(move |l: &DepartmentChannel| {
            vec![
                by(AuditAction::DepartmentUpdated, &a)
                    .target(department_target(l.department_id))
                    .summary(
                        AuditSummary::new()
                            .fact("channel_linked", l.channel_id)
                            .fact("include_subdepartments", l.include_subdepartments),
                    ),
            ]
        });
        self.store
            .link_department_channel_audited(
                link,
                tree_guard(move |t| rules::check_manage(&a, t, Some(id))),
                audit,
            )
            .await?;
        let tree = self.tree().await?;
        self.sync_channel(actor, &tree, link).await
    }

    /// Ends a channel's link to department `id` (its members stay as they are).
    pub async fn unlink_channel(
        &self,
        actor: &Actor,
        id: DepartmentId,
        channel: ChannelId,
    ) -> Result<()> {
        self.limits.check(actor, Kind::Write)?;
        self.tree().await?.require(id)?;
        let links = self.store.department_channels().await?;
        if !links
            .iter()
            .any(|l| l.channel_id == channel && l.department_id == id)
        {
            return Err(DomainError::NotFound(Entity::Channel).into());
        }
        let a = *actor;
        let audit = self.audit.in_tx(move |c: &ChannelId| {
            vec![
                by(AuditAction::DepartmentUpdated, &a)
                    .target(department_target(id))
                    .summary(AuditSummary::new().fact("channel_unlinked", c)),
            ]
        });
        self.store
            .unlink_department_channel_audited(
                channel,
                tree_guard(move |t| rules::check_manage(&a, t, Some(id))),
                audit,
            )
            .await?;
        Ok(())
    }

    /// Places a person in departments named by path, creating missing departments; with
    /// `exclusive`, takes them out of every other department. For directory sources (LDAP
    /// groups or OUs, an HR system, the CSV import). Department channels follow.
    pub async fn apply_membership(
        &self,
        actor: &Actor,
        user_id: UserId,
        placements: &[Placement],
        exclusive: bool,
    ) -> Result<()> {
        let mut wanted = BTreeSet::new();
        for p in placements {
            let id = self.ensure_path(actor, &p.path).await?;
            wanted.insert(id);
            self.set_member(actor, id, user_id, &p.title, p.is_head)
                .await?;
        }
        if exclusive {
            for m in self.store.user_departments(user_id).await? {
                if !wanted.contains(&m.department_id) {
                    self.remove_member(actor, m.department_id, user_id).await?;
                }
            }
        }
        Ok(())
    }

    /// The department at `path`, created (with its missing ancestors) when absent.
    pub async fn ensure_path(&self, actor: &Actor, path: &[String]) -> Result<DepartmentId> {
        if path.is_empty() || path.len() > rules::MAX_DEPTH {
            return Err(DomainError::invalid("path", "must name 1 to 15 departments").into());
        }
        let mut parent = None;
        for (i, name) in path.iter().enumerate() {
            let tree = self.tree().await?;
            if let Some(found) = tree.find_path(&path[..=i]) {
                parent = Some(found);
                continue;
            }
            let d = self
                .create(
                    actor,
                    DepartmentInput {
                        parent_id: parent,
                        name: name.clone(),
                        position: None,
                    },
                )
                .await?;
            parent = Some(d.id);
        }
        parent.ok_or_else(|| Error::internal("empty department path"))
    }

    /// Brings every department channel up to date.
    pub async fn sync_all(&self, actor: &Actor) -> Result<SyncReport> {
        let tree = self.tree().await?;
        let mut total = SyncReport::default();
        for link in self.store.department_channels().await? {
            let r = self.sync_channel(actor, &tree, link).await?;
            total.added += r.added;
            total.removed += r.removed;
        }
        Ok(total)
    }

    /// Syncs the channels linked to departments whose people a change to `touched` may have
    /// changed, judged on the tree before the change and after it.
    async fn sync_touched(
        &self,
        actor: &Actor,
        before: &Tree,
        touched: &[DepartmentId],
    ) -> Result<SyncReport> {
        let after = self.tree().await?;
        let links = self.store.department_channels().await?;
        let mut total = SyncReport::default();
        for link in links {
            let affected = touched.iter().any(|t| {
                [before, &after].iter().any(|tree| {
                    let chain = tree.chain(*t);
                    link.department_id == *t
                        || (link.include_subdepartments && chain.contains(&link.department_id))
                })
            });
            if affected {
                let r = self.sync_channel(actor, &after, link).await?;
                total.added += r.added;
                total.removed += r.removed;
            }
        }
        Ok(total)
    }

    /// Makes one department channel's members those the tree wants (owners and channel admins
    /// outside the department stay).
    async fn sync_channel(
        &self,
        actor: &Actor,
        tree: &Tree,
        link: DepartmentChannel,
    ) -> Result<SyncReport> {
        let mut report = SyncReport::default();
        let Some(ch) = self.channels.channel(link.channel_id).await? else {
            return Ok(report);
        };
        if rules::check_sync(&ch).is_err() {
            return Ok(report);
        }
        let depts =
            rules::channel_departments(tree, link.department_id, link.include_subdepartments);
        let want: BTreeSet<UserId> = self
            .store
            .people_in_departments(&depts)
            .await?
            .into_iter()
            .collect();
        let mut have = HashMap::new();
        let mut after = None;
        loop {
            let page = self.channels.members(link.channel_id, after, 1000).await?;
            let Some((last, _)) = page.last() else { break };
            after = Some(last.user_id);
            let n = page.len();
            for (m, _) in page {
                have.insert(m.user_id, m.role);
            }
            if n < 1000 {
                break;
            }
        }
        for u in want.iter().filter(|u| !have.contains_key(u)) {
            match self
                .channels
                .add_member(
                    link.channel_id,
                    actor.user_id,
                    *u,
                    ChannelRole::Member,
                    sync_guard(),
                )
                .await
            {
                Ok((_, true)) => report.added += 1,
                Ok((_, false)) => {}
                // Deactivated meanwhile, or the channel was archived: the next sync decides.
                Err(enclave_store::Error::Domain(e)) => {
                    tracing::debug!(channel_id = %link.channel_id, user_id = %u, error = %e, "department channel sync skipped a member");
                }
                Err(e) => return Err(e.into()),
            }
        }
        for (u, role) in have {
            if want.contains(&u) || !rules::sync_removes(role.moderates()) {
                continue;
            }
            match self
                .channels
                .remove_member(link.channel_id, actor.user_id, u, sync_guard())
                .await
            {
                Ok(()) => report.removed += 1,
                Err(enclave_store::Error::Domain(e)) => {
                    tracing::debug!(channel_id = %link.channel_id, user_id = %u, error = %e, "department channel sync skipped a member");
                }
                Err(e) => return Err(e.into()),
            }
        }
        if report != SyncReport::default() {
            tracing::info!(channel_id = %link.channel_id, added = report.added, removed = report.removed, "department channel synced");
        }
        Ok(report)
    }

    /// Imports placements from CSV rows (see [`parse_csv`]): checks every row first; with
    /// `dry_run` changes nothing and reports what would change; otherwise creates the missing
    /// departments and places people, calling `progress(done, total)` after each row, and
    /// syncs department channels at the end.
    pub async fn import(
        &self,
        actor: &Actor,
        rows: &[ImportRow],
        dry_run: bool,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<ImportReport> {
        import::run(self, actor, rows, dry_run, progress).await
    }
}
