//! Site roles: what an account is on the site as a whole, as opposed to its role in one channel
//! (`ChannelRole`).
//!
//! Three roles are built in, with fixed grants (the grants table in
//! [`permissions`](crate::permissions)): **system administrator** (every permission), **member**
//! (ordinary work) and **guest** (only the channels they were invited to). Administrators add
//! **custom roles** ([`CustomRole`]: a name, a description and a set of permissions), stored by
//! the store. An account holds one or more roles; an [`Actor`](crate::Actor) carries the
//! built-in ones as a [`RoleSet`] and the union of every grant as its permission set, so rules
//! ask for a permission, never a role. [`roles_of`] is the one place that turns an account record
//! into built-in roles.

use crate::error::Error;
use crate::ids::{Millis, RoleId};
use crate::model::User;
use crate::permissions::PermissionSet;

/// A built-in site role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Ordinary accounts: rights in a channel come from membership of it.
    Member,
    /// System administrator: every permission.
    Admin,
    /// A guest: invited into named channels, sees only those and their members.
    Guest,
}

impl Role {
    /// Every built-in role, in bit order.
    pub const ALL: [Role; 3] = [Role::Member, Role::Admin, Role::Guest];

    const fn bit(self) -> u64 {
        match self {
            Role::Member => 1 << 0,
            Role::Admin => 1 << 1,
            Role::Guest => 1 << 2,
        }
    }

    /// The built-in role's stable id on the wire (custom roles have decimal ids).
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Admin => "system_admin",
            Role::Guest => "guest",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// A set of roles, as a bitset: `Copy`, one word, cheap to pass into a store guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RoleSet(u64);

impl RoleSet {
    pub const EMPTY: RoleSet = RoleSet(0);
    /// An ordinary account.
    pub const MEMBER: RoleSet = RoleSet::EMPTY.with(Role::Member);
    /// A site administrator (who is a member as well).
    pub const ADMIN: RoleSet = RoleSet::MEMBER.with(Role::Admin);
    /// A guest (and nothing else).
    pub const GUEST: RoleSet = RoleSet::EMPTY.with(Role::Guest);

    /// This set with `role` added.
    #[must_use]
    pub const fn with(self, role: Role) -> RoleSet {
        RoleSet(self.0 | role.bit())
    }

    pub const fn contains(self, role: Role) -> bool {
        self.0 & role.bit() != 0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The roles in the set, in [`Role::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Role> {
        Role::ALL.into_iter().filter(move |r| self.contains(*r))
    }
}

impl FromIterator<Role> for RoleSet {
    fn from_iter<I: IntoIterator<Item = Role>>(roles: I) -> Self {
        roles.into_iter().fold(RoleSet::EMPTY, RoleSet::with)
    }
}

/// The built-in roles an account holds: a guest is a guest and nothing else; otherwise the
/// member role (unless removed) and the administrator flag's [`Role::Admin`].
pub fn roles_of(user: &User) -> RoleSet {
    // A bot holds a guest's rights, whatever its flags say: it sees and acts in the channels it
    // was added to and nowhere else.
    if user.is_guest || user.is_bot {
        return RoleSet::GUEST;
    }
    let mut set = RoleSet::EMPTY;
    if user.member_role {
        set = set.with(Role::Member);
    }
    if user.is_admin {
        set = set.with(Role::Admin);
    }
    set
}

/// A role made by administrators: a name, a description and the permissions it grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomRole {
    pub id: RoleId,
    pub name: String,
    pub description: String,
    pub permissions: PermissionSet,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// Holders must sign in with a second factor (`signin::Policy::requires`).
    pub require_second_factor: bool,
}

/// The most custom roles a site may define.
pub const MAX_CUSTOM_ROLES: usize = 100;
/// The most custom roles one account may hold.
pub const MAX_ROLES_PER_USER: usize = 20;
pub const MAX_ROLE_NAME_CHARS: usize = 64;
pub const MAX_ROLE_DESCRIPTION_CHARS: usize = 500;

/// A role's name: trimmed, `1..=64` characters, no control or invisible characters. A name that
/// is a built-in role's id is taken (a conflict), so the two never mix on the wire.
pub fn validate_role_name(s: &str) -> Result<String, Error> {
    let name = crate::validate::display_name(s).map_err(|e| match e {
        Error::Invalid { reason, .. } => Error::invalid("name", reason),
        other => other,
    })?;
    if name.is_empty() {
        return Err(Error::invalid("name", "must not be empty"));
    }
    if Role::parse(&name.to_lowercase()).is_some() {
        return Err(Error::Conflict("the name of a built-in role"));
    }
    Ok(name)
}

/// A role's description: trimmed, at most 500 characters, newlines and tabs allowed, no other
/// control characters and nothing invisible or direction-changing (like every shown text).
pub fn validate_role_description(s: &str) -> Result<String, Error> {
    crate::validate::shown_text(
        "description",
        s,
        MAX_ROLE_DESCRIPTION_CHARS,
        "must be at most 500 characters",
        true,
    )
    .map(str::to_owned)
}

/// A role named on the wire: a built-in one by its name, a custom one by its decimal id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleRef {
    Builtin(Role),
    Custom(RoleId),
}

impl RoleRef {
    /// Parses `system_admin`, `member`, `guest` or a decimal id; anything else is refused
    /// (`field` names the input).
    pub fn parse(field: &'static str, s: &str) -> Result<RoleRef, Error> {
        if let Some(r) = Role::parse(s) {
            return Ok(RoleRef::Builtin(r));
        }
        s.parse::<RoleId>()
            .map(RoleRef::Custom)
            .map_err(|_| Error::invalid(field, "unknown role"))
    }
}

/// The guest policy (`[guests]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestPolicy {
    /// Every guest needs an expiry date.
    pub require_expiry: bool,
    /// The longest a guest may be invited for, in days.
    pub max_days: u32,
}

impl Default for GuestPolicy {
    fn default() -> Self {
        GuestPolicy {
            require_expiry: true,
            max_days: 365,
        }
    }
}

impl GuestPolicy {
    /// Checks a guest's expiry against the policy at `now`: required when the policy says so,
    /// in the future, and at most `max_days` away.
    pub fn check_expiry(self, now: Millis, expires_at: Option<Millis>) -> Result<(), Error> {
        match expires_at {
            None if self.require_expiry => {
                Err(Error::invalid("expires_at", "guests need an expiry date"))
            }
            None => Ok(()),
            Some(t) if t.0 <= now.0 => Err(Error::invalid("expires_at", "must be in the future")),
            Some(t) if t.0 - now.0 > i64::from(self.max_days) * 86_400_000 => Err(Error::invalid(
                "expires_at",
                "is further away than the guest policy allows",
            )),
            Some(_) => Ok(()),
        }
    }
}

/// Whether the account is a guest whose access has ended at `now`.
pub fn guest_expired(user: &User, now: Millis) -> bool {
    user.is_guest && user.guest_expires_at.is_some_and(|t| t.0 <= now.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::UserId;
    use crate::permissions::{Actor, SitePermission};

    fn user(is_admin: bool) -> User {
        User {
            id: UserId(1),
            username: "u".into(),
            display_name: "U".into(),
            email: None,
            is_admin,
            is_bot: false,
            active: true,
            status_text: String::new(),
            dnd: false,
            created_at: Millis(0),
            updated_at: Millis(0),
            is_guest: false,
            guest_expires_at: None,
            member_role: true,
        }
    }

    #[test]
    fn a_set_holds_exactly_the_roles_put_in() {
        assert!(RoleSet::EMPTY.is_empty());
        assert_eq!(RoleSet::EMPTY.iter().count(), 0);
        let admin_only = RoleSet::EMPTY.with(Role::Admin);
        assert!(admin_only.contains(Role::Admin) && !admin_only.contains(Role::Member));
        assert_eq!(
            RoleSet::ADMIN.iter().collect::<Vec<_>>(),
            [Role::Member, Role::Admin]
        );
        assert_eq!(
            [Role::Admin, Role::Member, Role::Admin]
                .into_iter()
                .collect::<RoleSet>(),
            RoleSet::ADMIN
        );
        assert_eq!(RoleSet::MEMBER.with(Role::Member), RoleSet::MEMBER);
    }

    #[test]
    fn accounts_map_to_roles_by_their_admin_flag() {
        assert_eq!(roles_of(&user(false)), RoleSet::MEMBER);
        assert_eq!(roles_of(&user(true)), RoleSet::ADMIN);
    }

    #[test]
    fn guests_are_guests_only_and_members_can_lose_the_member_role() {
        let mut u = user(true);
        u.is_guest = true;
        assert_eq!(roles_of(&u), RoleSet::GUEST);
        let mut u = user(false);
        u.member_role = false;
        assert_eq!(roles_of(&u), RoleSet::EMPTY);
        u.is_admin = true;
        assert_eq!(roles_of(&u), RoleSet::EMPTY.with(Role::Admin));
    }

    #[test]
    fn custom_roles_add_their_permissions_but_not_to_guests() {
        let role = CustomRole {
            id: RoleId(1),
            name: "Announcers".into(),
            description: String::new(),
            permissions: PermissionSet::EMPTY.with(SitePermission::PostInAnnouncementChannels),
            created_at: Millis(0),
            updated_at: Millis(0),
            require_second_factor: false,
        };
        let mut u = user(false);
        u.member_role = false;
        let a = Actor::for_user_with_roles(&u, std::slice::from_ref(&role));
        assert!(a.may(SitePermission::PostInAnnouncementChannels));
        assert!(!a.may(SitePermission::CreatePublicChannels));
        u.is_guest = true;
        let g = Actor::for_user_with_roles(&u, &[role]);
        assert!(!g.may(SitePermission::PostInAnnouncementChannels));
        assert!(g.may(SitePermission::UploadFiles));
    }

    #[test]
    fn role_names_and_descriptions() {
        assert_eq!(
            validate_role_name("  Auditors ").ok().as_deref(),
            Some("Auditors")
        );
        assert!(validate_role_name("").is_err());
        assert!(validate_role_name("Guest").is_err());
        assert!(validate_role_name("system_admin").is_err());
        assert!(validate_role_name(&"x".repeat(65)).is_err());
        assert!(validate_role_name("a\u{202E}b").is_err());
        assert!(validate_role_description(&"x".repeat(501)).is_err());
        assert_eq!(
            validate_role_description("line\nline").ok().as_deref(),
            Some("line\nline")
        );
        assert!(validate_role_description("a\u{0}").is_err());
    }

    #[test]
    fn guest_expiry_follows_the_policy() {
        let now = Millis(1_000_000);
        let day = 86_400_000;
        let strict = GuestPolicy::default();
        assert!(strict.check_expiry(now, None).is_err());
        assert!(strict.check_expiry(now, Some(Millis(now.0 - 1))).is_err());
        assert!(strict.check_expiry(now, Some(Millis(now.0 + day))).is_ok());
        assert!(
            strict
                .check_expiry(now, Some(Millis(now.0 + 366 * day)))
                .is_err()
        );
        let lax = GuestPolicy {
            require_expiry: false,
            max_days: 30,
        };
        assert!(lax.check_expiry(now, None).is_ok());
        let mut u = user(false);
        u.is_guest = true;
        u.guest_expires_at = Some(now);
        assert!(guest_expired(&u, now));
        assert!(!guest_expired(&u, Millis(now.0 - 1)));
        u.guest_expires_at = None;
        assert!(!guest_expired(&u, now));
    }
}
