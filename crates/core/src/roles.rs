//! Site roles: what an account is on the site as a whole, as opposed to its role in one channel
//! (`ChannelRole`).
//!
//! An [`Actor`](crate::Actor) carries a [`RoleSet`], never a flag per role, so a new role is one
//! more variant here and one more row in the grants table of [`permissions`](crate::permissions);
//! no door changes. The account record keeps its administrator flag in storage; [`roles_of`] is
//! the one place that turns a record into roles.

use crate::model::User;

/// A built-in site role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Every account: rights in a channel come from membership of it.
    Member,
    /// Site administrator: manages accounts and moderates public channels.
    Admin,
}

impl Role {
    /// Every built-in role, in bit order.
    pub const ALL: [Role; 2] = [Role::Member, Role::Admin];

    const fn bit(self) -> u64 {
        match self {
            Role::Member => 1 << 0,
            Role::Admin => 1 << 1,
        }
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

/// The roles an account holds: every account is a member; the administrator flag adds
/// [`Role::Admin`].
pub fn roles_of(user: &User) -> RoleSet {
    if user.is_admin {
        RoleSet::ADMIN
    } else {
        RoleSet::MEMBER
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{Millis, UserId};

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
}
