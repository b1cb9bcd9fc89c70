//! Roles and guests: custom roles (made of the core's named permissions), which roles an account
//! holds, and guest accounts invited into named channels with an expiry.
//!
//! Every rule is `enclave_core`'s: who may change roles (`check_role_change`,
//! `check_role_assignment`: never granting more than one holds), who may invite guests
//! (`check_invite_guest`), the guest policy (`GuestPolicy::check_expiry`). A change that is
//! refused changes nothing.
//!
//! Every change is audited in its own store transaction (`role_created`, `role_updated`,
//! `permission_changed`, `role_deleted`, `role_changed` for an account's roles).

use std::sync::Arc;

use enclave_core::audit::{AuditAction, AuditSummary, AuditTarget, TargetKind};
use enclave_core::permissions::{self, Action, MEMBER_GRANTS, PermissionSet};
use enclave_core::roles::{
    self, MAX_CUSTOM_ROLES, MAX_ROLES_PER_USER, RoleRef, validate_role_description,
    validate_role_name,
};
use enclave_core::{
    Actor, ChannelId, ChannelRole, CustomRole, Entity, Error as DomainError, GuestPolicy, Millis,
    Role, RoleId, User, UserId, validate,
};
use enclave_store::{AccountStore, ChannelStore, NewRole, RolePatch, RoleStore, UserRoles};

use crate::audit::{Audit, AuditRecord};

use crate::error::{Error, Result};
use crate::guard;
use crate::ratelimit::{Kind, UserLimits};

/// The most channels one guest invitation names.
pub const MAX_GUEST_CHANNELS: usize = 50;

/// A new custom role.
#[derive(Debug, Clone, Default)]
pub struct RoleInput {
    pub name: String,
    pub description: Option<String>,
    /// Permission names (`SitePermission::as_str`).
    pub permissions: Vec<String>,
    /// Holders must sign in with a second factor.
    pub require_second_factor: bool,
}

/// Changes to a custom role; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct RoleUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub permissions: Option<Vec<String>>,
    pub require_second_factor: Option<bool>,
}

/// A guest invitation.
#[derive(Debug, Clone, Default)]
pub struct GuestInput {
    pub username: String,
    pub password: Option<String>,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub expires_at: Option<Millis>,
    /// The channels the guest joins (at least one).
    pub channel_ids: Vec<ChannelId>,
}

/// An account with the roles it holds.
#[derive(Debug, Clone)]
pub struct HeldRoles {
    pub user: User,
    /// The built-in roles (`system_admin`, `member`, `guest`).
    pub builtin: Vec<Role>,
    pub custom: Vec<CustomRole>,
}

fn held(user: User, custom: Vec<CustomRole>) -> HeldRoles {
    let builtin = roles::roles_of(&user).iter().collect();
    HeldRoles {
        user,
        builtin,
        custom,
    }
}

fn role_key(name: &str) -> String {
    name.to_lowercase()
}

/// The roles service.
pub struct Roles {
    store: Arc<dyn RoleStore>,
    accounts: Arc<dyn AccountStore>,
    channels: Arc<dyn ChannelStore>,
    /// Creates guest accounts (their passwords are hashed there).
    users: Arc<crate::Accounts>,
    policy: GuestPolicy,
    limits: Arc<UserLimits>,
    audit: Audit,
}

/// The audit target of a role.
fn role_target(id: RoleId) -> AuditTarget {
    AuditTarget::new(TargetKind::Role, id.to_string())
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

/// A role's names of permissions, for a summary.
fn perm_names(p: PermissionSet) -> String {
    p.names().join(",")
}

/// The names of an account's roles, for a summary.
fn role_names(user: &User, custom: &[CustomRole]) -> String {
    let mut v: Vec<String> = Vec::new();
    if user.is_admin {
        v.push("system_admin".into());
    }
    if user.member_role {
        v.push("member".into());
    }
    v.extend(custom.iter().map(|r| format!("{} ({})", r.name, r.id)));
    v.join(",")
}

impl Roles {
    pub fn new(
        store: Arc<dyn RoleStore>,
        accounts: Arc<dyn AccountStore>,
        channels: Arc<dyn ChannelStore>,
        users: Arc<crate::Accounts>,
        policy: GuestPolicy,
        limits: Arc<UserLimits>,
    ) -> Self {
        Roles {
            store,
            accounts,
            channels,
            users,
            policy,
            limits,
            audit: Audit::off(),
        }
    }

    /// Records role changes in `audit`.
    #[must_use]
    pub fn with_audit(mut self, audit: Audit) -> Self {
        self.audit = audit;
        self
    }

    /// The guest policy in force.
    pub fn policy(&self) -> GuestPolicy {
        self.policy
    }

    /// Every custom role.
    pub async fn list(&self, actor: &Actor) -> Result<Vec<CustomRole>> {
        permissions::check_view_roles(actor)?;
        Ok(self.store.roles().await?)
    }

    async fn existing(&self, id: RoleId) -> Result<CustomRole> {
        self.store
            .role(id)
            .await?
            .ok_or(Error::Domain(DomainError::NotFound(Entity::Role)))
    }

    pub async fn create(&self, actor: &Actor, input: RoleInput) -> Result<CustomRole> {
        self.limits.check(actor, Kind::Write)?;
        let name = validate_role_name(&input.name)?;
        let description = validate_role_description(input.description.as_deref().unwrap_or(""))?;
        let perms = PermissionSet::parse_names("permissions", &input.permissions)?;
        permissions::check_role_change(actor, perms)?;
        let a = *actor;
        let audit = self.audit.in_tx(move |r: &CustomRole| {
            vec![
                by(AuditAction::RoleCreated, &a)
                    .target(role_target(r.id))
                    .summary(
                        AuditSummary::new()
                            .fact("name", &r.name)
                            .fact("permissions", perm_names(r.permissions))
                            .fact("require_second_factor", r.require_second_factor),
                    ),
            ]
        });
        let role = self
            .store
            .create_role_audited(
                NewRole {
                    name_key: role_key(&name),
                    name,
                    description,
                    permissions: perms,
                    require_second_factor: input.require_second_factor,
                },
                MAX_CUSTOM_ROLES,
                Some(actor.user_id),
                audit,
            )
            .await?;
        tracing::info!(role_id = %role.id, name = %role.name, by = %actor.user_id, "role created");
        Ok(role)
    }

    /// Changes a custom role (`id` may name a built-in role, whose grants are fixed: refused).
    pub async fn update(&self, actor: &Actor, id: &str, input: RoleUpdate) -> Result<CustomRole> {
        self.limits.check(actor, Kind::Write)?;
        let id = self.custom_id(actor, id, "built-in roles cannot be changed")?;
        let mut patch = RolePatch::default();
        if let Some(n) = &input.name {
            let name = validate_role_name(n)?;
            patch.name = Some((name.clone(), role_key(&name)));
        }
        if let Some(d) = &input.description {
            patch.description = Some(validate_role_description(d)?);
        }
        if let Some(p) = &input.permissions {
            patch.permissions = Some(PermissionSet::parse_names("permissions", p)?);
        }
        patch.require_second_factor = input.require_second_factor;
        let before = self.existing(id).await?;
        // The changer must hold what the role grants before and after: nobody strips a more
        // powerful role, or builds one.
        permissions::check_role_change(
            actor,
            before
                .permissions
                .union(patch.permissions.unwrap_or(PermissionSet::EMPTY)),
        )?;
        let a = *actor;
        let audit = self
            .audit
            .in_tx(move |(before, after): &(CustomRole, CustomRole)| {
                vec![role_update_record(&a, before, after)]
            });
        let role = self
            .store
            .update_role_audited(id, patch, Some(actor.user_id), audit)
            .await?;
        tracing::info!(role_id = %role.id, by = %actor.user_id, "role changed");
        Ok(role)
    }

    /// The custom role `id` names; a built-in role's name is a conflict (for those who may
    /// change roles), anything else "role not found".
    fn custom_id(&self, actor: &Actor, id: &str, builtin: &'static str) -> Result<RoleId> {
        match RoleRef::parse("id", id) {
            Ok(RoleRef::Custom(id)) => Ok(id),
            Ok(RoleRef::Builtin(_)) => {
                permissions::check_role_change(actor, PermissionSet::EMPTY)?;
                Err(Error::Domain(DomainError::Conflict(builtin)))
            }
            Err(_) => Err(Error::Domain(DomainError::NotFound(Entity::Role))),
        }
    }

    /// Deletes a custom role (`id` may name a built-in role, which is refused).
    pub async fn delete(&self, actor: &Actor, id: &str) -> Result<()> {
        self.limits.check(actor, Kind::Write)?;
        let id = self.custom_id(actor, id, "built-in roles cannot be deleted")?;
        let before = self.existing(id).await?;
        permissions::check_role_change(actor, before.permissions)?;
        let a = *actor;
        let audit = self.audit.in_tx(move |r: &CustomRole| {
            vec![
                by(AuditAction::RoleDeleted, &a)
                    .target(role_target(r.id))
                    .summary(
                        AuditSummary::new()
                            .fact("name", &r.name)
                            .fact("permissions", perm_names(r.permissions)),
                    ),
            ]
        });
        if !self
            .store
            .delete_role_audited(id, Some(actor.user_id), audit)
            .await?
        {
            return Err(Error::Domain(DomainError::NotFound(Entity::Role)));
        }
        tracing::info!(role_id = %id, by = %actor.user_id, "role deleted");
        Ok(())
    }

    /// The roles an account holds: one's own, or anyone's for those who may see roles.
    pub async fn of_user(&self, actor: &Actor, user_id: UserId) -> Result<HeldRoles> {
        let user = self
            .accounts
            .user(user_id)
            .await?
            .ok_or(Error::Domain(DomainError::NotFound(Entity::User)))?;
        if user_id != actor.user_id {
            permissions::check_view_roles(actor)?;
        }
        let custom = self.store.user_roles(user_id).await?;
        Ok(held(user, custom))
    }

    /// Replaces the roles of an account: built-in roles by name (`system_admin`, `member`),
    /// custom ones by id. At least one role; guests' roles are fixed.
    pub async fn set_user_roles(
        &self,
        actor: &Actor,
        user_id: UserId,
        names: &[String],
    ) -> Result<HeldRoles> {
        self.set_user_roles_via(actor, user_id, names, Vec::new())
            .await
    }

    /// [`Roles::set_user_roles`] for a directory source (single sign-on group mapping): `via`
    /// are facts its audit entry carries besides the change (provider, what did it).
    pub async fn set_user_roles_via(
        &self,
        actor: &Actor,
        user_id: UserId,
        names: &[String],
        via: Vec<(&'static str, String)>,
    ) -> Result<HeldRoles> {
        self.limits.check(actor, Kind::Write)?;
        if names.is_empty() {
            return Err(Error::Domain(DomainError::invalid(
                "roles",
                "an account holds at least one role",
            )));
        }
        if names.len() > MAX_ROLES_PER_USER + 2 {
            return Err(Error::Domain(DomainError::invalid(
                "roles",
                "too many roles",
            )));
        }
        let mut wanted = UserRoles {
            is_admin: false,
            member_role: false,
            custom: Vec::new(),
        };
        for n in names {
            match RoleRef::parse("roles", n)? {
                RoleRef::Builtin(Role::Admin) => wanted.is_admin = true,
                RoleRef::Builtin(Role::Member) => wanted.member_role = true,
                RoleRef::Builtin(Role::Guest) => {
                    return Err(Error::Domain(DomainError::invalid(
                        "roles",
                        "guests are made by invitation (POST /api/v1/admin/guests)",
                    )));
                }
                RoleRef::Custom(id) => wanted.custom.push(id),
            }
        }
        wanted.custom.sort();
        wanted.custom.dedup();
        if wanted.custom.len() > MAX_ROLES_PER_USER {
            return Err(Error::Domain(DomainError::invalid(
                "roles",
                "too many roles",
            )));
        }
        let target = self.of_user(actor, user_id).await?;
        if target.user.is_guest {
            return Err(Error::Domain(DomainError::Conflict(
                "a guest holds the guest role only",
            )));
        }
        // What the account could do before and will after: the assigner must hold all of it.
        let all_roles = self.store.roles().await?;
        let grants_of = |admin: bool, member: bool, custom: &[RoleId]| {
            let mut set = PermissionSet::EMPTY;
            if admin {
                set = PermissionSet::all();
            }
            if member {
                set = set.union(MEMBER_GRANTS);
            }
            for r in all_roles.iter().filter(|r| custom.contains(&r.id)) {
                set = set.union(r.permissions);
            }
            set
        };
        if wanted
            .custom
            .iter()
            .any(|id| !all_roles.iter().any(|r| r.id == *id))
        {
            return Err(Error::Domain(DomainError::NotFound(Entity::Role)));
        }
        let before_ids: Vec<RoleId> = target.custom.iter().map(|r| r.id).collect();
        let before = grants_of(target.user.is_admin, target.user.member_role, &before_ids);
        let after = grants_of(wanted.is_admin, wanted.member_role, &wanted.custom);
        permissions::check_role_assignment(actor, user_id, before.union(after))?;
        let a = *actor;
        let before_names = role_names(&target.user, &target.custom);
        let audit = self
            .audit
            .in_tx(move |(user, custom): &(User, Vec<CustomRole>)| {
                let after_names = role_names(user, custom);
                if after_names == before_names {
                    return Vec::new();
                }
                let mut s =
                    AuditSummary::new().change("roles", Some(&before_names), Some(&after_names));
                for (k, v) in via {
                    s = s.fact(k, v);
                }
                vec![
                    by(AuditAction::RoleChanged, &a)
                        .target(AuditTarget::user(user.id))
                        .summary(s),
                ]
            });
        let (user, custom) = self
            .store
            .set_user_roles_audited(user_id, wanted, Some(actor.user_id), audit)
            .await?;
        self.users.forget(user_id);
        tracing::info!(%user_id, by = %actor.user_id, "roles assigned");
        Ok(held(user, custom))
    }

    /// Invites a guest: a new account holding the guest role only, member of the named channels
    /// (each of which the inviter may add people to), with an expiry the policy allows.
    pub async fn invite_guest(&self, actor: &Actor, input: GuestInput) -> Result<User> {
        self.limits.check(actor, Kind::Write)?;
        permissions::check_invite_guest(actor)?;
        self.policy.check_expiry(Millis::now(), input.expires_at)?;
        let mut channels = input.channel_ids.clone();
        channels.sort();
        channels.dedup();
        if channels.is_empty() {
            return Err(Error::Domain(DomainError::invalid(
                "channel_ids",
                "a guest is invited into at least one channel",
            )));
        }
        if channels.len() > MAX_GUEST_CHANNELS {
            return Err(Error::Domain(DomainError::invalid(
                "channel_ids",
                "at most 50 channels",
            )));
        }
        // Every channel is checked before anything is written, so a refusal changes nothing.
        for id in &channels {
            let (ch, m) = self
                .channels
                .channel_for(*id, actor.user_id)
                .await?
                .ok_or(DomainError::NotFound(Entity::Channel))?;
            if ch.kind.is_direct() {
                return Err(Error::Domain(DomainError::invalid(
                    "channel_ids",
                    "guests are invited into channels, not direct conversations",
                )));
            }
            permissions::check(actor, &ch, m.as_ref(), Action::AddMember)?;
        }
        validate::username(&input.username)?;
        // `guest_invited` (the channels and the expiry) commits with the account, after its
        // `user_created`; the guest then joins the channels one by one.
        let invited = by(AuditAction::GuestInvited, actor);
        let summary = AuditSummary::new()
            .fact(
                "channels",
                channels
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            )
            .fact(
                "expires_at",
                input
                    .expires_at
                    .map_or_else(|| "never".to_owned(), |t| t.0.to_string()),
            );
        let user = self
            .users
            .create_user_recorded(
                Some(actor),
                crate::CreateUser {
                    username: input.username,
                    password: input.password,
                    display_name: input.display_name,
                    email: input.email,
                    is_guest: true,
                    guest_expires_at: input.expires_at,
                    ..crate::CreateUser::default()
                },
                move |u: &User| {
                    vec![
                        invited
                            .target(AuditTarget::user(u.id))
                            .summary(summary.fact("username", &u.username)),
                    ]
                },
            )
            .await?;
        for id in channels {
            self.channels
                .add_member(
                    id,
                    actor.user_id,
                    user.id,
                    ChannelRole::Member,
                    guard(*actor, Action::AddMember),
                )
                .await?;
        }
        tracing::info!(user_id = %user.id, by = %actor.user_id, "guest invited");
        Ok(user)
    }
}

/// The audit record of a change to a role: `permission_changed` when its permissions changed,
/// else `role_updated`; the summary holds every field that changed.
fn role_update_record(actor: &Actor, before: &CustomRole, after: &CustomRole) -> AuditRecord {
    let mut s = AuditSummary::new();
    if before.name != after.name {
        s = s.change("name", Some(&before.name), Some(&after.name));
    }
    if before.description != after.description {
        s = s.change(
            "description",
            Some(&before.description),
            Some(&after.description),
        );
    }
    let perms_changed = before.permissions != after.permissions;
    if perms_changed {
        s = s.change(
            "permissions",
            Some(perm_names(before.permissions)),
            Some(perm_names(after.permissions)),
        );
    }
    if before.require_second_factor != after.require_second_factor {
        s = s.change(
            "require_second_factor",
            Some(before.require_second_factor),
            Some(after.require_second_factor),
        );
    }
    let action = if perms_changed {
        AuditAction::PermissionChanged
    } else {
        AuditAction::RoleUpdated
    };
    by(action, actor).target(role_target(after.id)).summary(s)
}
