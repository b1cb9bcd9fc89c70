//! Who may do what: the one place where Enclave's access rules live.
//!
//! Every door asks [`check`] (channels and messages) or [`check_user_admin`] (accounts) before it
//! changes or reveals anything, and the store re-runs the channel check inside the writing
//! transaction so that a concurrent change (an archive, a removal) cannot slip between the check
//! and the write.
//!
//! The rules, in order:
//! 1. A channel the actor may not see does not exist for them: private channels and direct
//!    conversations are visible to their members only; public ones to every active user. Site
//!    administrators get no view into private conversations.
//! 2. An archived channel is read-only: only reading, leaving, marking read and unarchiving work.
//! 3. Reading (history, members, pins) needs visibility; writing (posting, reacting, pinning,
//!    marking read) needs membership.
//! 4. Moderation (renaming, archiving, removing others, deleting others' messages, unpinning
//!    others' pins) needs the
//!    channel role admin or owner, or, in a public channel, site administrator. Changing roles
//!    needs owner (or site administrator in a public channel).
//! 5. Direct conversations have a fixed membership: no join, leave, invite, removal, rename or archive.
//!
//! Site-wide rights are [`SitePermission`]s, granted by the actor's site roles through one
//! table ([`Actor::may`]); rules ask for a permission, never for a role, so a custom role needs
//! no change here beyond its row in the table.

use crate::error::{Entity, Error};
use crate::ids::UserId;
use crate::model::{Channel, ChannelKind, ChannelRole, Membership, User};
use crate::roles::{Role, RoleSet, roles_of};

/// The authenticated user on whose behalf a door acts, with the site roles they hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    pub user_id: UserId,
    pub roles: RoleSet,
}

impl Actor {
    pub const fn new(user_id: UserId, roles: RoleSet) -> Actor {
        Actor { user_id, roles }
    }

    /// The actor for an authenticated account, with the roles the account holds.
    pub fn for_user(user: &User) -> Actor {
        Actor::new(user.id, roles_of(user))
    }

    /// Whether the actor holds `role`. Decisions should ask [`Actor::may`] instead, so that a
    /// role added later is honoured without changing the caller.
    pub const fn has(&self, role: Role) -> bool {
        self.roles.contains(role)
    }

    /// Whether any of the actor's roles grants `permission`.
    pub fn may(&self, permission: SitePermission) -> bool {
        self.roles.iter().any(|r| grants(r, permission))
    }
}

/// A right over the site as a whole, granted by a [`Role`] (rights in one channel come from the
/// channel role instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SitePermission {
    /// Create accounts; change other accounts' profiles, passwords, sessions and activation;
    /// see deactivated accounts and every account's contact details.
    ManageUsers,
    /// Grant or revoke site roles.
    AssignRoles,
    /// Act as an owner of every public channel, member or not: rename, archive, remove members
    /// (owners included), change member roles, delete others' messages.
    ModeratePublicChannels,
    /// Act without the per-user rate limits (`crate::rate`): bulk administration through the
    /// API (creating accounts and channels, adding members) goes at the speed of the server.
    BypassRateLimits,
    /// Create, rename, move and delete any department; put people in departments; appoint
    /// department administrators; set managers (department administrators hold this power
    /// inside their subtree only: `crate::departments::may_manage_department`).
    ManageDepartments,
    /// Browse the directory (通讯录): the department tree, its people, person cards, and the
    /// search by name and pinyin. Guests never hold it.
    BrowseDirectory,
}

impl SitePermission {
    pub const ALL: [SitePermission; 6] = [
        SitePermission::ManageUsers,
        SitePermission::AssignRoles,
        SitePermission::ModeratePublicChannels,
        SitePermission::BypassRateLimits,
        SitePermission::ManageDepartments,
        SitePermission::BrowseDirectory,
    ];
}

/// The grants table: which role grants which site permission. The matches are exhaustive, so a
/// new role or permission does not compile until its row is written.
const fn grants(role: Role, permission: SitePermission) -> bool {
    match role {
        Role::Member => match permission {
            SitePermission::BrowseDirectory => true,
            SitePermission::ManageUsers
            | SitePermission::AssignRoles
            | SitePermission::ModeratePublicChannels
            | SitePermission::BypassRateLimits
            | SitePermission::ManageDepartments => false,
        },
        Role::Admin => match permission {
            SitePermission::ManageUsers
            | SitePermission::AssignRoles
            | SitePermission::ModeratePublicChannels
            | SitePermission::BypassRateLimits
            | SitePermission::ManageDepartments
            | SitePermission::BrowseDirectory => true,
        },
    }
}

/// Whether `actor` sees the contact details (email) of the account `user`: their own, or with
/// [`SitePermission::ManageUsers`].
pub fn sees_contact_details(actor: &Actor, user: UserId) -> bool {
    user == actor.user_id || actor.may(SitePermission::ManageUsers)
}

/// Whether `actor` may list deactivated accounts in the directory.
pub fn sees_deactivated_users(actor: &Actor) -> bool {
    actor.may(SitePermission::ManageUsers)
}

/// Something an actor wants to do in or to a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// See the channel's name, topic and member count.
    View,
    /// Read messages, threads and pins.
    ReadHistory,
    ListMembers,
    Join,
    Leave,
    Post,
    React,
    /// Pin a message: anyone who may post.
    Pin,
    /// Unpin a message: whoever pinned it (`pinned_by`; `None` when it is not pinned, which
    /// changes nothing), or a moderator.
    Unpin {
        pinned_by: Option<UserId>,
    },
    MarkRead,
    /// Change topic or purpose.
    SetTopic,
    Rename,
    /// Archive or unarchive.
    Archive,
    AddMember,
    RemoveMember {
        target: UserId,
        target_role: ChannelRole,
    },
    SetMemberRole,
    EditMessage {
        author: UserId,
    },
    DeleteMessage {
        author: UserId,
    },
}

impl Action {
    /// Whether the action changes the channel or its content (refused when archived).
    fn writes(self) -> bool {
        !matches!(
            self,
            Action::View
                | Action::ReadHistory
                | Action::ListMembers
                | Action::Leave
                | Action::MarkRead
                | Action::Archive
        )
    }
}

/// Whether `actor` may see `channel` at all.
pub fn can_see(channel: &Channel, membership: Option<&Membership>) -> bool {
    membership.is_some() || channel.kind == ChannelKind::Public
}

/// Decides whether `actor` (with `membership` in `channel`, if any) may perform `action`.
pub fn check(
    actor: &Actor,
    channel: &Channel,
    membership: Option<&Membership>,
    action: Action,
) -> Result<(), Error> {
    if !can_see(channel, membership) {
        return Err(Error::NotFound(Entity::Channel));
    }
    if channel.is_archived() && action.writes() {
        return Err(Error::Archived);
    }
    let role = membership.map(|m| m.role);
    let is_member = role.is_some();
    let direct = channel.kind.is_direct();
    // Nobody moderates a direct conversation: each participant controls only their own messages.
    let site_moderates =
        channel.kind == ChannelKind::Public && actor.may(SitePermission::ModeratePublicChannels);
    let moderates = !direct && (role.is_some_and(ChannelRole::moderates) || site_moderates);
    const FIXED: &str = "membership of a direct conversation is fixed";
    match action {
        Action::View | Action::ReadHistory | Action::ListMembers => Ok(()),
        Action::Join => {
            if direct {
                return Err(Error::Forbidden(FIXED));
            }
            Ok(())
        }
        Action::Leave => {
            if direct {
                return Err(Error::Forbidden(FIXED));
            }
            if !is_member {
                return Err(Error::NotFound(Entity::Member));
            }
            Ok(())
        }
        Action::Post | Action::React | Action::Pin | Action::MarkRead | Action::SetTopic => {
            if !is_member {
                return Err(Error::Forbidden("join the channel first"));
            }
            Ok(())
        }
        Action::Rename | Action::Archive => {
            if direct {
                return Err(Error::Forbidden(
                    "direct conversations cannot be renamed or archived",
                ));
            }
            if !moderates {
                return Err(Error::Forbidden("only channel admins may do this"));
            }
            Ok(())
        }
        Action::AddMember => {
            if direct {
                return Err(Error::Forbidden(FIXED));
            }
            if !is_member && !moderates {
                return Err(Error::Forbidden("join the channel first"));
            }
            Ok(())
        }
        Action::RemoveMember {
            target,
            target_role,
        } => {
            if direct {
                return Err(Error::Forbidden(FIXED));
            }
            if target == actor.user_id {
                return check(actor, channel, membership, Action::Leave);
            }
            if !moderates {
                return Err(Error::Forbidden("only channel admins may remove members"));
            }
            let actor_is_owner = role == Some(ChannelRole::Owner) || site_moderates;
            if target_role == ChannelRole::Owner && !actor_is_owner {
                return Err(Error::Forbidden("only an owner may remove an owner"));
            }
            Ok(())
        }
        Action::SetMemberRole => {
            if direct {
                return Err(Error::Forbidden(FIXED));
            }
            let actor_is_owner = role == Some(ChannelRole::Owner) || site_moderates;
            if !actor_is_owner {
                return Err(Error::Forbidden("only an owner may change roles"));
            }
            Ok(())
        }
        Action::Unpin { pinned_by } => {
            if pinned_by.is_none_or(|p| p == actor.user_id) {
                return check(actor, channel, membership, Action::Pin);
            }
            if !moderates {
                return Err(Error::Forbidden(
                    "only the pinner or a channel admin may unpin a message",
                ));
            }
            Ok(())
        }
        Action::EditMessage { author } => {
            if author != actor.user_id {
                return Err(Error::Forbidden("only the author may edit a message"));
            }
            if !is_member {
                return Err(Error::Forbidden("join the channel first"));
            }
            Ok(())
        }
        Action::DeleteMessage { author } => {
            if author == actor.user_id || moderates {
                return Ok(());
            }
            Err(Error::Forbidden(
                "only the author or a channel admin may delete a message",
            ))
        }
    }
}

/// Whether the actor may download a file: its uploader always; anyone else only through a
/// message that shares it, in a channel whose history they may read (`shared_in` lists each
/// such channel with the actor's membership). Refusal is `NotFound(File)`, so a file's existence
/// is not revealed.
pub fn check_file_read(
    actor: &Actor,
    uploader: UserId,
    shared_in: &[(Channel, Option<Membership>)],
) -> Result<(), Error> {
    if uploader == actor.user_id {
        return Ok(());
    }
    let readable = shared_in
        .iter()
        .any(|(ch, m)| check(actor, ch, m.as_ref(), Action::ReadHistory).is_ok());
    if readable {
        Ok(())
    } else {
        Err(Error::NotFound(Entity::File))
    }
}

/// Whether the actor may attach a file to a message: only their own uploads.
pub fn check_file_attach(actor: &Actor, uploader: UserId) -> Result<(), Error> {
    if uploader == actor.user_id {
        Ok(())
    } else {
        Err(Error::NotFound(Entity::File))
    }
}

/// A change to an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserChange {
    /// Display name, email.
    Profile,
    /// Password (the account's own user must also prove the current one).
    Password,
    /// Deactivate or reactivate.
    Active,
    /// Grant or revoke site administration.
    Admin,
    /// Create a new account.
    Create,
    /// List sessions or create tokens on someone's behalf.
    Sessions,
}

/// Decides whether `actor` may make `change` to the account `target` (`None` when creating).
pub fn check_user_admin(
    actor: &Actor,
    target: Option<UserId>,
    change: UserChange,
) -> Result<(), Error> {
    let own = target == Some(actor.user_id);
    match change {
        UserChange::Profile | UserChange::Password | UserChange::Sessions => {
            if own || actor.may(SitePermission::ManageUsers) {
                return Ok(());
            }
            Err(Error::Forbidden(
                "only administrators may change other accounts",
            ))
        }
        UserChange::Active | UserChange::Admin => {
            let needed = if change == UserChange::Admin {
                SitePermission::AssignRoles
            } else {
                SitePermission::ManageUsers
            };
            if !actor.may(needed) {
                return Err(Error::Forbidden("only administrators may do this"));
            }
            if own {
                return Err(Error::Conflict(
                    "administrators cannot deactivate or demote themselves",
                ));
            }
            Ok(())
        }
        UserChange::Create => {
            if actor.may(SitePermission::ManageUsers) {
                return Ok(());
            }
            Err(Error::Forbidden("only administrators may create accounts"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ChannelId, Millis};

    const ME: UserId = UserId(1);
    const OTHER: UserId = UserId(2);

    fn channel(kind: ChannelKind, archived: bool) -> Channel {
        Channel {
            id: ChannelId(10),
            kind,
            name: Some("c".into()),
            topic: String::new(),
            purpose: String::new(),
            creator_id: Some(OTHER),
            last_seq: 0,
            n_members: 1,
            archived_at: archived.then_some(Millis(1)),
            created_at: Millis(0),
            updated_at: Millis(0),
        }
    }

    fn member(role: ChannelRole) -> Membership {
        Membership {
            channel_id: ChannelId(10),
            user_id: ME,
            role,
            last_read_seq: 0,
            joined_at: Millis(0),
        }
    }

    /// Who is asking, in the matrix below.
    #[derive(Clone, Copy, Debug)]
    enum Who {
        Stranger,
        SiteAdmin,
        Member,
        ChanAdmin,
        Owner,
    }

    fn outcome(r: Result<(), Error>) -> &'static str {
        match r {
            Ok(()) => "ok",
            Err(Error::NotFound(_)) => "404",
            Err(Error::Forbidden(_)) => "403",
            Err(Error::Conflict(_) | Error::Archived) => "409",
            Err(_) => "other",
        }
    }

    fn run(kind: ChannelKind, archived: bool, who: Who, action: Action) -> &'static str {
        let roles = match who {
            Who::SiteAdmin => RoleSet::ADMIN,
            _ => RoleSet::MEMBER,
        };
        let actor = Actor::new(ME, roles);
        let m = match who {
            Who::Stranger | Who::SiteAdmin => None,
            Who::Member => Some(member(ChannelRole::Member)),
            Who::ChanAdmin => Some(member(ChannelRole::Admin)),
            Who::Owner => Some(member(ChannelRole::Owner)),
        };
        outcome(check(&actor, &channel(kind, archived), m.as_ref(), action))
    }

    /// The role × action matrix. Columns: stranger, site admin (not a member), member, channel
    /// admin, owner.
    #[test]
    fn permission_matrix() {
        use ChannelKind::*;
        let remove_member = Action::RemoveMember {
            target: OTHER,
            target_role: ChannelRole::Member,
        };
        let remove_owner = Action::RemoveMember {
            target: OTHER,
            target_role: ChannelRole::Owner,
        };
        let remove_self = Action::RemoveMember {
            target: ME,
            target_role: ChannelRole::Member,
        };
        let edit_own = Action::EditMessage { author: ME };
        let edit_other = Action::EditMessage { author: OTHER };
        let del_own = Action::DeleteMessage { author: ME };
        let del_other = Action::DeleteMessage { author: OTHER };
        let unpin_own = Action::Unpin {
            pinned_by: Some(ME),
        };
        let unpin_other = Action::Unpin {
            pinned_by: Some(OTHER),
        };
        let unpin_unpinned = Action::Unpin { pinned_by: None };
        #[rustfmt::skip]
        let table: &[(ChannelKind, bool, Action, [&str; 5])] = &[
            //                                      stranger site-admin member chan-admin owner
            (Public,  false, Action::View,          ["ok",  "ok",  "ok",  "ok",  "ok"]),
            (Public,  false, Action::ReadHistory,   ["ok",  "ok",  "ok",  "ok",  "ok"]),
            (Public,  false, Action::Join,          ["ok",  "ok",  "ok",  "ok",  "ok"]),
            (Public,  false, Action::Leave,         ["404", "404", "ok",  "ok",  "ok"]),
            (Public,  false, Action::Post,          ["403", "403", "ok",  "ok",  "ok"]),
            (Public,  false, Action::React,         ["403", "403", "ok",  "ok",  "ok"]),
            (Public,  false, Action::Pin,           ["403", "403", "ok",  "ok",  "ok"]),
            (Public,  false, Action::MarkRead,      ["403", "403", "ok",  "ok",  "ok"]),
            (Public,  false, Action::SetTopic,      ["403", "403", "ok",  "ok",  "ok"]),
            (Public,  false, Action::Rename,        ["403", "ok",  "403", "ok",  "ok"]),
            (Public,  false, Action::Archive,       ["403", "ok",  "403", "ok",  "ok"]),
            (Public,  false, Action::AddMember,     ["403", "ok",  "ok",  "ok",  "ok"]),
            (Public,  false, remove_member,         ["403", "ok",  "403", "ok",  "ok"]),
            (Public,  false, remove_owner,          ["403", "ok",  "403", "403", "ok"]),
            (Public,  false, remove_self,           ["404", "404", "ok",  "ok",  "ok"]),
            (Public,  false, Action::SetMemberRole, ["403", "ok",  "403", "403", "ok"]),
            (Public,  false, edit_own,              ["403", "403", "ok",  "ok",  "ok"]),
            (Public,  false, edit_other,            ["403", "403", "403", "403", "403"]),
            (Public,  false, del_own,               ["ok",  "ok",  "ok",  "ok",  "ok"]),
            (Public,  false, del_other,             ["403", "ok",  "403", "ok",  "ok"]),
            (Public,  false, unpin_own,             ["403", "403", "ok",  "ok",  "ok"]),
            (Public,  false, unpin_other,           ["403", "ok",  "403", "ok",  "ok"]),
            (Public,  false, unpin_unpinned,        ["403", "403", "ok",  "ok",  "ok"]),
            (Private, false, Action::View,          ["404", "404", "ok",  "ok",  "ok"]),
            (Private, false, Action::ReadHistory,   ["404", "404", "ok",  "ok",  "ok"]),
            (Private, false, Action::Join,          ["404", "404", "ok",  "ok",  "ok"]),
            (Private, false, Action::Post,          ["404", "404", "ok",  "ok",  "ok"]),
            (Private, false, Action::Rename,        ["404", "404", "403", "ok",  "ok"]),
            (Private, false, Action::Archive,       ["404", "404", "403", "ok",  "ok"]),
            (Private, false, Action::AddMember,     ["404", "404", "ok",  "ok",  "ok"]),
            (Private, false, remove_member,         ["404", "404", "403", "ok",  "ok"]),
            (Private, false, del_other,             ["404", "404", "403", "ok",  "ok"]),
            (Private, false, Action::Pin,           ["404", "404", "ok",  "ok",  "ok"]),
            (Private, false, unpin_own,             ["404", "404", "ok",  "ok",  "ok"]),
            (Private, false, unpin_other,           ["404", "404", "403", "ok",  "ok"]),
            (Private, false, Action::SetMemberRole, ["404", "404", "403", "403", "ok"]),
            (Dm,      false, Action::View,          ["404", "404", "ok",  "ok",  "ok"]),
            (Dm,      false, Action::Post,          ["404", "404", "ok",  "ok",  "ok"]),
            (Dm,      false, Action::Join,          ["404", "404", "403", "403", "403"]),
            (Dm,      false, Action::Leave,         ["404", "404", "403", "403", "403"]),
            (Dm,      false, Action::AddMember,     ["404", "404", "403", "403", "403"]),
            (Dm,      false, Action::Rename,        ["404", "404", "403", "403", "403"]),
            (Dm,      false, Action::Archive,       ["404", "404", "403", "403", "403"]),
            (Dm,      false, del_other,             ["404", "404", "403", "403", "403"]),
            (Dm,      false, unpin_own,             ["404", "404", "ok",  "ok",  "ok"]),
            (Dm,      false, unpin_other,           ["404", "404", "403", "403", "403"]),
            (GroupDm, false, Action::SetTopic,      ["404", "404", "ok",  "ok",  "ok"]),
            (GroupDm, false, remove_member,         ["404", "404", "403", "403", "403"]),
            (Public,  true,  Action::ReadHistory,   ["ok",  "ok",  "ok",  "ok",  "ok"]),
            (Public,  true,  Action::Post,          ["409", "409", "409", "409", "409"]),
            (Public,  true,  Action::Join,          ["409", "409", "409", "409", "409"]),
            (Public,  true,  Action::Rename,        ["409", "409", "409", "409", "409"]),
            (Public,  true,  Action::Archive,       ["403", "ok",  "403", "ok",  "ok"]),
            (Public,  true,  Action::Leave,         ["404", "404", "ok",  "ok",  "ok"]),
            (Public,  true,  Action::MarkRead,      ["403", "403", "ok",  "ok",  "ok"]),
            (Public,  true,  unpin_own,             ["409", "409", "409", "409", "409"]),
            (Private, true,  Action::Post,          ["404", "404", "409", "409", "409"]),
        ];
        let whos = [
            Who::Stranger,
            Who::SiteAdmin,
            Who::Member,
            Who::ChanAdmin,
            Who::Owner,
        ];
        let mut failures = Vec::new();
        for (kind, archived, action, expected) in table {
            for (who, want) in whos.iter().zip(expected) {
                let got = run(*kind, *archived, *who, *action);
                if got != *want {
                    failures.push(format!(
                        "{kind:?} archived={archived} {action:?} as {who:?}: want {want}, got {got}"
                    ));
                }
            }
        }
        assert!(
            failures.is_empty(),
            "permission matrix mismatches:\n{}",
            failures.join("\n")
        );
    }

    /// The role × site permission matrix, and what an actor with several roles (or none) may do.
    #[test]
    fn site_permissions_follow_roles() {
        use SitePermission::*;
        #[rustfmt::skip]
        let table: &[(Role, [bool; 6])] = &[
            //               ManageUsers AssignRoles ModeratePublicChannels BypassRateLimits ManageDepartments BrowseDirectory
            (Role::Member, [false,       false,      false,                 false,           false,            true]),
            (Role::Admin,  [true,        true,       true,                  true,            true,             true]),
        ];
        assert_eq!(table.len(), Role::ALL.len(), "every role has a row");
        for (role, row) in table {
            let actor = Actor::new(ME, RoleSet::EMPTY.with(*role));
            assert!(actor.has(*role));
            for (permission, want) in SitePermission::ALL.iter().zip(row) {
                assert_eq!(actor.may(*permission), *want, "{role:?} {permission:?}");
            }
        }
        let nobody = Actor::new(ME, RoleSet::EMPTY);
        assert!(SitePermission::ALL.iter().all(|p| !nobody.may(*p)));
        let admin = Actor::new(ME, RoleSet::ADMIN);
        assert!(admin.has(Role::Member) && admin.has(Role::Admin));
        assert!(SitePermission::ALL.iter().all(|p| admin.may(*p)));
        let member = Actor::new(ME, RoleSet::MEMBER);
        assert!(!member.has(Role::Admin));
        assert!(!member.may(ManageUsers));
    }

    #[test]
    fn contact_details_and_deactivated_accounts_are_for_oneself_and_administrators() {
        let member = Actor::new(ME, RoleSet::MEMBER);
        let admin = Actor::new(ME, RoleSet::ADMIN);
        assert!(sees_contact_details(&member, ME));
        assert!(!sees_contact_details(&member, OTHER));
        assert!(sees_contact_details(&admin, OTHER));
        assert!(!sees_deactivated_users(&member));
        assert!(sees_deactivated_users(&admin));
    }

    #[test]
    fn account_changes() {
        let admin = Actor::new(ME, RoleSet::ADMIN);
        let user = Actor::new(ME, RoleSet::MEMBER);
        assert_eq!(
            check_user_admin(&user, Some(ME), UserChange::Profile),
            Ok(())
        );
        assert_eq!(
            check_user_admin(&user, Some(ME), UserChange::Password),
            Ok(())
        );
        assert!(matches!(
            check_user_admin(&user, Some(OTHER), UserChange::Profile),
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            check_user_admin(&user, Some(ME), UserChange::Active),
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            check_user_admin(&user, Some(ME), UserChange::Admin),
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            check_user_admin(&user, None, UserChange::Create),
            Err(Error::Forbidden(_))
        ));
        assert_eq!(
            check_user_admin(&admin, Some(OTHER), UserChange::Active),
            Ok(())
        );
        assert_eq!(
            check_user_admin(&admin, Some(OTHER), UserChange::Admin),
            Ok(())
        );
        assert_eq!(check_user_admin(&admin, None, UserChange::Create), Ok(()));
        assert!(matches!(
            check_user_admin(&admin, Some(ME), UserChange::Active),
            Err(Error::Conflict(_))
        ));
    }

    #[test]
    fn file_read_rule() {
        let me = Actor::new(ME, RoleSet::MEMBER);
        let admin = Actor::new(ME, RoleSet::ADMIN);
        let private = channel(ChannelKind::Private, false);
        let public = channel(ChannelKind::Public, false);
        let dm = channel(ChannelKind::Dm, false);
        let archived = channel(ChannelKind::Private, true);
        let mem = Some(member(ChannelRole::Member));
        // (who, uploader, shared in) -> outcome
        type Shared = Vec<(Channel, Option<Membership>)>;
        let table: Vec<(&Actor, UserId, Shared, &str)> = vec![
            (&me, ME, vec![], "ok"),
            (&me, OTHER, vec![], "404"),
            (&admin, OTHER, vec![], "404"),
            (&me, OTHER, vec![(private.clone(), None)], "404"),
            (&admin, OTHER, vec![(private.clone(), None)], "404"),
            (&me, OTHER, vec![(private.clone(), mem.clone())], "ok"),
            (&me, OTHER, vec![(dm.clone(), None)], "404"),
            (&me, OTHER, vec![(dm.clone(), mem.clone())], "ok"),
            (&me, OTHER, vec![(archived.clone(), mem.clone())], "ok"),
            (&me, OTHER, vec![(public.clone(), None)], "ok"),
            (
                &me,
                OTHER,
                vec![(private.clone(), None), (private, mem)],
                "ok",
            ),
        ];
        for (i, (actor, uploader, shared, want)) in table.into_iter().enumerate() {
            let got = match check_file_read(actor, uploader, &shared) {
                Ok(()) => "ok",
                Err(Error::NotFound(Entity::File)) => "404",
                Err(_) => "other",
            };
            assert_eq!(got, want, "row {i}");
        }
        assert_eq!(check_file_attach(&me, ME), Ok(()));
        assert_eq!(
            check_file_attach(&admin, OTHER),
            Err(Error::NotFound(Entity::File))
        );
    }
}
