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
use crate::roles::{CustomRole, Role, RoleSet, roles_of};

/// The authenticated user on whose behalf a door acts, with the site roles they hold and the
/// effective set of site permissions those roles (built-in and custom) grant.
///
/// The permission set is resolved once, where the actor is built (the credential cache of the
/// application, from the account and its custom roles: [`Actor::for_user_with_roles`]); every
/// rule then asks [`Actor::may`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    pub user_id: UserId,
    pub roles: RoleSet,
    /// What the actor may do site-wide: the union of the grants of `roles` and of the custom
    /// roles the account holds, narrowed to what the credential's [`Scope`] allows.
    pub permissions: PermissionSet,
    /// What the credential the actor signed in with allows (an interactive session allows
    /// everything the account may do).
    pub scope: Scope,
}

/// What a credential allows, whatever the account may do: every permission decision here
/// narrows the actor to it ([`Actor::with_scope`] masks the site permissions,
/// [`check_write`] refuses changes to a read-only credential, [`check_own_credentials`] keeps
/// credentials from minting credentials).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// An interactive session (a sign-in): everything the account may do, managing its own
    /// sessions, tokens and app passwords included.
    Session,
    /// A personal access token that reads: nothing that changes state, no site administration.
    Read,
    /// Normal user actions (posting, reacting, joining, profile), no site administration. App
    /// passwords carry this scope.
    Write,
    /// Normal user actions and site administration, still only what the account's roles grant.
    Admin,
}

impl Scope {
    /// The scopes a personal access token may have, in order of power.
    pub const TOKEN_SCOPES: [Scope; 3] = [Scope::Read, Scope::Write, Scope::Admin];

    /// The stable wire and storage name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::Session => "session",
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    /// Parses a personal access token's scope (`read`, `write`, `admin`).
    pub fn parse_token_scope(s: &str) -> Option<Scope> {
        Scope::TOKEN_SCOPES.into_iter().find(|t| t.as_str() == s)
    }

    /// Whether the credential may change anything.
    pub const fn writes(self) -> bool {
        !matches!(self, Scope::Read)
    }

    /// The site permissions the credential lets through.
    pub const fn mask(self) -> PermissionSet {
        match self {
            Scope::Session | Scope::Admin => PermissionSet::all(),
            Scope::Write => PermissionSet::all().without(ADMINISTRATIVE),
            Scope::Read => PermissionSet::of(&[
                SitePermission::BrowseDirectory,
                SitePermission::JoinPublicChannels,
            ]),
        }
    }
}

/// The site permissions that administer the site rather than take part in it: a credential
/// scoped below `admin` never carries them.
pub const ADMINISTRATIVE: PermissionSet = PermissionSet::of(&[
    SitePermission::ManageIntegrations,
    SitePermission::CreateBots,
    SitePermission::ManageUsers,
    SitePermission::AssignRoles,
    SitePermission::ManageRoles,
    SitePermission::ManageDepartments,
    SitePermission::ViewAuditLog,
    SitePermission::ExportData,
    SitePermission::ManageRetention,
    SitePermission::ModeratePublicChannels,
    SitePermission::BypassRateLimits,
]);

/// Whether the actor's credential may change state at all (a `read` token may not). Every
/// state-changing decision asks it: [`check`] for writing channel actions,
/// [`check_user_admin`], and the application's per-user write limiter for the rest.
pub fn check_write(actor: &Actor) -> Result<(), Error> {
    if actor.scope.writes() {
        Ok(())
    } else {
        Err(Error::Forbidden("this token's scope allows reading only"))
    }
}

/// Whether the actor may change the sessions, tokens and app passwords of the account
/// `target`: their own only from an interactive session (a token or app password cannot mint
/// or end credentials); someone else's with [`SitePermission::ManageUsers`] (which a token
/// carries only with the `admin` scope).
pub fn check_own_credentials(actor: &Actor, target: UserId) -> Result<(), Error> {
    if target == actor.user_id {
        if actor.scope == Scope::Session {
            return Ok(());
        }
        return Err(Error::Forbidden(
            "sessions, tokens and app passwords are managed from a signed-in session",
        ));
    }
    if actor.may(SitePermission::ManageUsers) {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "only user managers may see or end other people's sessions",
        ))
    }
}

impl Actor {
    /// An actor holding only built-in roles: its permissions are their fixed grants.
    pub const fn new(user_id: UserId, roles: RoleSet) -> Actor {
        Actor {
            user_id,
            roles,
            permissions: builtin_grants(roles),
            scope: Scope::Session,
        }
    }

    /// This actor acting through a credential of `scope`: its permissions narrowed to what the
    /// scope lets through.
    #[must_use]
    pub const fn with_scope(mut self, scope: Scope) -> Actor {
        self.scope = scope;
        self.permissions = self.permissions.intersect(scope.mask());
        self
    }

    /// The actor for an authenticated account, with the built-in roles the account holds (and
    /// no custom role).
    pub fn for_user(user: &User) -> Actor {
        Actor::new(user.id, roles_of(user))
    }

    /// The actor for an account holding `custom` roles besides its built-in ones. A guest's
    /// custom roles grant nothing: a guest has exactly the guest role's grants.
    pub fn for_user_with_roles(user: &User, custom: &[CustomRole]) -> Actor {
        let mut actor = Actor::for_user(user);
        if !actor.roles.contains(Role::Guest) {
            for r in custom {
                actor.permissions = actor.permissions.union(r.permissions);
            }
        }
        actor
    }

    /// This actor with `extra` permissions added (tests, and doors that build an actor by hand),
    /// as far as its scope lets them through.
    #[must_use]
    pub const fn granted(mut self, extra: PermissionSet) -> Actor {
        self.permissions = self.permissions.union(extra).intersect(self.scope.mask());
        self
    }

    /// Whether the actor holds `role`. Decisions should ask [`Actor::may`] instead, so that a
    /// role added later is honoured without changing the caller.
    pub const fn has(&self, role: Role) -> bool {
        self.roles.contains(role)
    }

    /// Whether the actor is a guest (shown as such; their rights come from [`Actor::may`]).
    pub const fn is_guest(&self) -> bool {
        self.roles.contains(Role::Guest)
    }

    /// Whether the actor's roles grant `permission`.
    pub const fn may(&self, permission: SitePermission) -> bool {
        self.permissions.contains(permission)
    }
}

macro_rules! site_permissions {
    ($( $(#[doc = $doc:literal])* $variant:ident = $name:literal, )*) => {
        /// A right over the site as a whole, granted by a role (rights in one channel come from
        /// the channel role instead). Each has a stable snake_case name, used on the wire and in
        /// the store ([`SitePermission::as_str`], [`SitePermission::parse`]).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum SitePermission {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl SitePermission {
            /// Every permission, in bit order.
            pub const ALL: &'static [SitePermission] = &[$(SitePermission::$variant,)*];

            /// The stable wire and storage name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( SitePermission::$variant => $name, )*
                }
            }

            /// What the permission allows, for documentation and the admin console.
            pub fn describe(self) -> &'static str {
                match self {
                    $( SitePermission::$variant => concat!($($doc,)*).trim(), )*
                }
            }
        }
    };
}

site_permissions! {
    /// Create public channels.
    CreatePublicChannels = "create_public_channels",
    /// Create private channels.
    CreatePrivateChannels = "create_private_channels",
    /// Add other people to channels one belongs to (joining a public channel oneself needs
    /// only `join_public_channels`).
    InviteMembers = "invite_members",
    /// Remove other people from channels one moderates (as channel admin or owner).
    RemoveMembers = "remove_members",
    /// Post in announcement channels one is a member of (channel admins always may).
    PostInAnnouncementChannels = "post_in_announcement_channels",
    /// Manage bots, webhooks and slash commands.
    ManageIntegrations = "manage_integrations",
    /// Create accounts and invite guests; change other accounts' profiles, passwords, sessions
    /// and activation; see deactivated accounts and every account's contact details.
    ManageUsers = "manage_users",
    /// Grant or revoke roles (system administrator and custom roles) of accounts; never a role
    /// granting more than one holds.
    AssignRoles = "assign_roles",
    /// Create, change and delete custom roles; never granting more than one holds.
    ManageRoles = "manage_roles",
    /// Edit the department tree and its people.
    ManageDepartments = "manage_departments",
    /// Search, filter and export the audit log.
    ViewAuditLog = "view_audit_log",
    /// Run compliance exports and people's data exports.
    ExportData = "export_data",
    /// Set retention policies and legal holds.
    ManageRetention = "manage_retention",
    /// Ask the assistant bot.
    UseAssistant = "use_assistant",
    /// Upload files.
    UploadFiles = "upload_files",
    /// Act as an owner of every public channel, member or not: rename, archive, remove members
    /// (owners included), change member roles, delete others' messages.
    ModeratePublicChannels = "moderate_public_channels",
    /// Act without the per-user rate limits: bulk administration through the API (creating
    /// accounts and channels, adding members) goes at the speed of the server.
    BypassRateLimits = "bypass_rate_limits",
    /// Browse the user directory (and the department tree) and see accounts one shares no
    /// channel with.
    BrowseDirectory = "browse_directory",
    /// See, read and join public channels one is not a member of.
    JoinPublicChannels = "join_public_channels",
    /// Open direct conversations with anyone (without it: only with people one shares a
    /// channel with).
    MessageAnyone = "message_anyone",
    /// Create bot accounts and issue or revoke their tokens. A bot acts only in the channels it
    /// is added to, and never signs in interactively.
    CreateBots = "create_bots",
}

impl SitePermission {
    const fn bit(self) -> u64 {
        1 << (self as u32)
    }

    /// The permission named `name` (its [`SitePermission::as_str`]); `None` when unknown.
    pub fn parse(name: &str) -> Option<SitePermission> {
        SitePermission::ALL
            .iter()
            .copied()
            .find(|p| p.as_str() == name)
    }
}

/// A set of site permissions, as a bitset: `Copy`, one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PermissionSet(u64);

impl PermissionSet {
    pub const EMPTY: PermissionSet = PermissionSet(0);

    /// Every permission.
    pub const fn all() -> PermissionSet {
        let mut bits = 0;
        let mut i = 0;
        while i < SitePermission::ALL.len() {
            bits |= SitePermission::ALL[i].bit();
            i += 1;
        }
        PermissionSet(bits)
    }

    /// The set of the listed permissions.
    pub const fn of(ps: &[SitePermission]) -> PermissionSet {
        let mut bits = 0;
        let mut i = 0;
        while i < ps.len() {
            bits |= ps[i].bit();
            i += 1;
        }
        PermissionSet(bits)
    }

    #[must_use]
    pub const fn with(self, p: SitePermission) -> PermissionSet {
        PermissionSet(self.0 | p.bit())
    }

    #[must_use]
    pub const fn union(self, other: PermissionSet) -> PermissionSet {
        PermissionSet(self.0 | other.0)
    }

    #[must_use]
    pub const fn intersect(self, other: PermissionSet) -> PermissionSet {
        PermissionSet(self.0 & other.0)
    }

    #[must_use]
    pub const fn without(self, other: PermissionSet) -> PermissionSet {
        PermissionSet(self.0 & !other.0)
    }

    pub const fn contains(self, p: SitePermission) -> bool {
        self.0 & p.bit() != 0
    }

    /// Whether every permission of `other` is in this set.
    pub const fn contains_all(self, other: PermissionSet) -> bool {
        other.0 & !self.0 == 0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The permissions in the set, in [`SitePermission::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = SitePermission> {
        SitePermission::ALL
            .iter()
            .copied()
            .filter(move |p| self.contains(*p))
    }

    /// The stable names of the permissions in the set, in order.
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(SitePermission::as_str).collect()
    }

    /// Parses a list of permission names; an unknown name refuses the whole list (`field`
    /// names the input). Duplicates are harmless.
    pub fn parse_names<S: AsRef<str>>(
        field: &'static str,
        names: &[S],
    ) -> Result<PermissionSet, Error> {
        if names.len() > 2 * SitePermission::ALL.len() {
            return Err(Error::invalid(field, "too many permissions"));
        }
        names.iter().try_fold(PermissionSet::EMPTY, |set, n| {
            SitePermission::parse(n.as_ref())
                .map(|p| set.with(p))
                .ok_or(Error::invalid(field, "unknown permission name"))
        })
    }

    /// Reads the stored form (names separated by commas), skipping names this build does not
    /// know (a newer build's permission is not granted by an older one).
    pub fn from_stored(s: &str) -> PermissionSet {
        s.split(',')
            .filter_map(|n| SitePermission::parse(n.trim()))
            .fold(PermissionSet::EMPTY, PermissionSet::with)
    }

    /// The stored form: names separated by commas, in bit order.
    pub fn to_stored(self) -> String {
        self.names().join(",")
    }
}

impl FromIterator<SitePermission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = SitePermission>>(ps: I) -> Self {
        ps.into_iter()
            .fold(PermissionSet::EMPTY, PermissionSet::with)
    }
}

/// What an ordinary member may do site-wide.
pub const MEMBER_GRANTS: PermissionSet = PermissionSet::of(&[
    SitePermission::CreatePublicChannels,
    SitePermission::CreatePrivateChannels,
    SitePermission::InviteMembers,
    SitePermission::RemoveMembers,
    SitePermission::UseAssistant,
    SitePermission::UploadFiles,
    SitePermission::BrowseDirectory,
    SitePermission::JoinPublicChannels,
    SitePermission::MessageAnyone,
]);

/// What a guest may do site-wide: upload files and ask the assistant, in the channels they were
/// invited to. Nothing else: no directory, no public channels, no new channels, no direct
/// conversations with people outside their channels.
pub const GUEST_GRANTS: PermissionSet =
    PermissionSet::of(&[SitePermission::UploadFiles, SitePermission::UseAssistant]);

/// The grants table of the built-in roles. The match is exhaustive, so a new built-in role does
/// not compile until its row is written; custom roles carry their own set.
pub const fn grants_of(role: Role) -> PermissionSet {
    match role {
        Role::Member => MEMBER_GRANTS,
        Role::Admin => PermissionSet::all(),
        Role::Guest => GUEST_GRANTS,
    }
}

/// The union of the grants of the built-in `roles`.
pub const fn builtin_grants(roles: RoleSet) -> PermissionSet {
    let mut set = PermissionSet::EMPTY;
    let mut i = 0;
    while i < Role::ALL.len() {
        if roles.contains(Role::ALL[i]) {
            set = set.union(grants_of(Role::ALL[i]));
        }
        i += 1;
    }
    set
}

/// Whether `actor` may create a bot account, or issue or revoke a bot's tokens: they need
/// [`SitePermission::CreateBots`] (never a bot itself: a bot holds a guest's grants).
pub fn check_manage_bots(actor: &Actor) -> Result<(), Error> {
    check_write(actor)?;
    if actor.may(SitePermission::CreateBots) {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "only those allowed to create bots may manage bots",
        ))
    }
}

/// Whether `actor` may create, list, rotate or delete incoming webhooks: they need
/// [`SitePermission::ManageIntegrations`]. A webhook posts as its creator, so creating one for a
/// channel also needs the right to post there ([`check`] with [`Action::Post`]).
pub fn check_manage_webhooks(actor: &Actor) -> Result<(), Error> {
    check_write(actor)?;
    if actor.may(SitePermission::ManageIntegrations) {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "only integration managers may manage webhooks",
        ))
    }
}

/// Whether `actor` may create, rotate or delete custom slash commands (site-wide: a trigger
/// belongs to everyone): [`SitePermission::ManageIntegrations`], as for webhooks.
pub fn check_manage_commands(actor: &Actor) -> Result<(), Error> {
    check_write(actor)?;
    if actor.may(SitePermission::ManageIntegrations) {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "only integration managers may manage slash commands",
        ))
    }
}

/// Whether `actor` may manage the outgoing webhook owned by `owner` (its creator), or make one
/// (`owner` = `None`): [`check_manage_webhooks`], and only one's own. Another's webhook is not
/// found (its URL, trigger words and delivery log are its owner's), whoever asks.
pub fn check_manage_outgoing(actor: &Actor, owner: Option<UserId>) -> Result<(), Error> {
    if owner.is_some_and(|o| o != actor.user_id) {
        return Err(Error::NotFound(Entity::Webhook));
    }
    check_manage_webhooks(actor)
}

/// Whether `actor` may make or change a role granting `permissions`: they need
/// [`SitePermission::ManageRoles`] and must hold every permission the role grants, so nobody
/// gains through a role what they could not do themselves.
pub fn check_role_change(actor: &Actor, permissions: PermissionSet) -> Result<(), Error> {
    if !actor.may(SitePermission::ManageRoles) {
        return Err(Error::Forbidden("only role managers may change roles"));
    }
    if !actor.permissions.contains_all(permissions) {
        return Err(Error::Forbidden(
            "a role may not grant a permission its granter lacks",
        ));
    }
    Ok(())
}

/// Whether `actor` may give the account `target` roles granting `permissions` in all (the
/// system administrator role included as every permission): they need
/// [`SitePermission::AssignRoles`], must hold every permission granted, and may not change their
/// own roles (so no one demotes the last administrator, or themselves, by accident).
pub fn check_role_assignment(
    actor: &Actor,
    target: UserId,
    permissions: PermissionSet,
) -> Result<(), Error> {
    if !actor.may(SitePermission::AssignRoles) {
        return Err(Error::Forbidden("only role assigners may assign roles"));
    }
    if target == actor.user_id {
        return Err(Error::Conflict("you cannot change your own roles"));
    }
    if !actor.permissions.contains_all(permissions) {
        return Err(Error::Forbidden(
            "a role may not grant a permission its granter lacks",
        ));
    }
    Ok(())
}

/// Whether `actor` may list roles and see who holds which: role managers, role assigners and
/// user managers.
pub fn check_view_roles(actor: &Actor) -> Result<(), Error> {
    if actor.may(SitePermission::ManageRoles)
        || actor.may(SitePermission::AssignRoles)
        || actor.may(SitePermission::ManageUsers)
    {
        Ok(())
    } else {
        Err(Error::Forbidden("only administrators may see roles"))
    }
}

/// Whether `actor` may invite guests: user managers only.
pub fn check_invite_guest(actor: &Actor) -> Result<(), Error> {
    if actor.may(SitePermission::ManageUsers) {
        Ok(())
    } else {
        Err(Error::Forbidden("only user managers may invite guests"))
    }
}

/// Whether `actor` may see the account `user` at all (its profile, presence, mentions):
/// everyone with [`SitePermission::BrowseDirectory`]; others (guests) only themselves and
/// people they share a channel with (`shares_channel`).
pub fn sees_user(actor: &Actor, user: UserId, shares_channel: bool) -> bool {
    user == actor.user_id || shares_channel || actor.may(SitePermission::BrowseDirectory)
}

/// Whether `actor` may browse the directory of accounts.
pub fn check_browse_directory(actor: &Actor) -> Result<(), Error> {
    if actor.may(SitePermission::BrowseDirectory) {
        Ok(())
    } else {
        Err(Error::Forbidden("you may not browse the directory"))
    }
}

/// Whether `actor` may create a channel of `kind` (public or private).
pub fn check_create_channel(actor: &Actor, kind: ChannelKind) -> Result<(), Error> {
    let needed = match kind {
        ChannelKind::Public => SitePermission::CreatePublicChannels,
        ChannelKind::Private => SitePermission::CreatePrivateChannels,
        ChannelKind::Dm | ChannelKind::GroupDm => return Ok(()),
    };
    if actor.may(needed) {
        Ok(())
    } else {
        Err(Error::Forbidden("you may not create channels of this kind"))
    }
}

/// Whether `actor` may open a direct conversation with `others`, where `all_share_a_channel`
/// says whether each of them shares a channel with the actor.
pub fn check_open_direct(actor: &Actor, all_share_a_channel: bool) -> Result<(), Error> {
    if all_share_a_channel || actor.may(SitePermission::MessageAnyone) {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "you may message only people you share a channel with",
        ))
    }
}

/// Whether `actor` may add the account `target` to a channel (beyond what [`check`] says about
/// the channel): a guest's channels are chosen by user managers only.
pub fn check_add_account(actor: &Actor, target_is_guest: bool) -> Result<(), Error> {
    if target_is_guest && !actor.may(SitePermission::ManageUsers) {
        return Err(Error::Forbidden(
            "only user managers may add guests to channels",
        ));
    }
    Ok(())
}

/// Whether `actor` may upload files.
pub fn check_upload(actor: &Actor) -> Result<(), Error> {
    if actor.may(SitePermission::UploadFiles) {
        Ok(())
    } else {
        Err(Error::Forbidden("you may not upload files"))
    }
}

/// Whether `actor` sees the contact details (email) of the account `user`: their own, or with
/// [`SitePermission::ManageUsers`].
pub fn sees_contact_details(actor: &Actor, user: UserId) -> bool {
    user == actor.user_id || actor.may(SitePermission::ManageUsers)
}

/// Whether `actor` may search, read and export the audit log.
pub fn check_audit_log(actor: &Actor) -> Result<(), Error> {
    if actor.may(SitePermission::ViewAuditLog) {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "reading the audit log needs the audit permission",
        ))
    }
}

/// Whether `actor` may see identity providers (LDAP) and run their directory sync, which creates,
/// changes and deactivates accounts: [`SitePermission::ManageUsers`].
pub fn check_directory_sync(actor: &Actor) -> Result<(), Error> {
    if actor.may(SitePermission::ManageUsers) {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "identity providers and their sync need the manage_users permission",
        ))
    }
}

/// Whether `actor` may see the backups (their schedule, last run and folder) and start one: a
/// backup holds every message and file of the site, so [`SitePermission::ExportData`].
pub fn check_backups(actor: &Actor) -> Result<(), Error> {
    if actor.may(SitePermission::ExportData) {
        Ok(())
    } else {
        Err(Error::Forbidden("backups need the export_data permission"))
    }
}

/// Whether `actor` may see and change retention policies and legal holds and run the purge:
/// [`SitePermission::ManageRetention`].
pub fn check_retention(actor: &Actor) -> Result<(), Error> {
    if actor.may(SitePermission::ManageRetention) {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "retention and legal holds need the manage_retention permission",
        ))
    }
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
    /// Whether the action changes anything at all (refused to a read-only credential).
    fn changes_state(self) -> bool {
        !matches!(
            self,
            Action::View | Action::ReadHistory | Action::ListMembers
        )
    }

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

/// Whether `actor` may see `channel` at all: its members; and, for a public channel, everyone
/// holding [`SitePermission::JoinPublicChannels`] (not guests).
pub fn can_see(actor: &Actor, channel: &Channel, membership: Option<&Membership>) -> bool {
    membership.is_some()
        || (channel.kind == ChannelKind::Public && actor.may(SitePermission::JoinPublicChannels))
}

/// Decides whether `actor` (with `membership` in `channel`, if any) may perform `action`.
pub fn check(
    actor: &Actor,
    channel: &Channel,
    membership: Option<&Membership>,
    action: Action,
) -> Result<(), Error> {
    if !can_see(actor, channel, membership) {
        return Err(Error::NotFound(Entity::Channel));
    }
    if action.changes_state() {
        check_write(actor)?;
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
        Action::Post | Action::Pin => {
            if !is_member {
                return Err(Error::Forbidden("join the channel first"));
            }
            // In an announcement channel only channel admins and holders of the permission post
            // (and pin); everyone else reads and reacts.
            if channel.announcement
                && !role.is_some_and(ChannelRole::moderates)
                && !actor.may(SitePermission::PostInAnnouncementChannels)
            {
                return Err(Error::Forbidden(
                    "only channel admins may post in an announcement channel",
                ));
            }
            Ok(())
        }
        Action::React | Action::MarkRead | Action::SetTopic => {
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
            if !actor.may(SitePermission::InviteMembers) && !site_moderates {
                return Err(Error::Forbidden("you may not add people to channels"));
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
            if !actor.may(SitePermission::RemoveMembers) && !site_moderates {
                return Err(Error::Forbidden("you may not remove people from channels"));
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
    check_write(actor)?;
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
            // The system administrator role grants every permission: only someone holding every
            // permission may grant it.
            if change == UserChange::Admin && !actor.permissions.contains_all(PermissionSet::all())
            {
                return Err(Error::Forbidden(
                    "a role may not grant a permission its granter lacks",
                ));
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
            announcement: false,
        }
    }

    fn member_of(role: ChannelRole) -> Membership {
        member(role)
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
        // Every permission's row: member, system admin, guest.
        #[rustfmt::skip]
        let table: &[(SitePermission, [bool; 3])] = &[
            //                              member admin  guest
            (CreatePublicChannels,         [true,  true,  false]),
            (CreatePrivateChannels,        [true,  true,  false]),
            (InviteMembers,                [true,  true,  false]),
            (RemoveMembers,                [true,  true,  false]),
            (PostInAnnouncementChannels,   [false, true,  false]),
            (ManageIntegrations,           [false, true,  false]),
            (ManageUsers,                  [false, true,  false]),
            (AssignRoles,                  [false, true,  false]),
            (ManageRoles,                  [false, true,  false]),
            (ManageDepartments,            [false, true,  false]),
            (ViewAuditLog,                 [false, true,  false]),
            (ExportData,                   [false, true,  false]),
            (ManageRetention,              [false, true,  false]),
            (UseAssistant,                 [true,  true,  true]),
            (UploadFiles,                  [true,  true,  true]),
            (ModeratePublicChannels,       [false, true,  false]),
            (BypassRateLimits,             [false, true,  false]),
            (BrowseDirectory,              [true,  true,  false]),
            (JoinPublicChannels,           [true,  true,  false]),
            (MessageAnyone,                [true,  true,  false]),
            (CreateBots,                   [false, true,  false]),
        ];
        assert_eq!(
            table.len(),
            SitePermission::ALL.len(),
            "every permission has a row"
        );
        let roles = [Role::Member, Role::Admin, Role::Guest];
        for (permission, row) in table {
            for (role, want) in roles.iter().zip(row) {
                let actor = Actor::new(ME, RoleSet::EMPTY.with(*role));
                assert!(actor.has(*role));
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
        // Names are unique, round-trip, and survive the stored form.
        let mut seen = std::collections::HashSet::new();
        for p in SitePermission::ALL {
            assert!(seen.insert(p.as_str()));
            assert_eq!(SitePermission::parse(p.as_str()), Some(*p));
            assert!(!p.describe().is_empty(), "{p:?} is documented");
        }
        let set = PermissionSet::of(&[ManageUsers, UploadFiles]);
        assert_eq!(PermissionSet::from_stored(&set.to_stored()), set);
        assert_eq!(
            PermissionSet::from_stored("upload_files,from_the_future"),
            PermissionSet::of(&[UploadFiles])
        );
        assert_eq!(
            PermissionSet::parse_names("permissions", &["manage_users", "upload_files"]),
            Ok(set)
        );
        assert!(matches!(
            PermissionSet::parse_names("permissions", &["manage_users", "fly"]),
            Err(Error::Invalid {
                field: "permissions",
                ..
            })
        ));
    }

    #[test]
    fn roles_grant_only_what_their_granter_holds() {
        use SitePermission::*;
        let admin = Actor::new(ME, RoleSet::ADMIN);
        let manager =
            Actor::new(ME, RoleSet::MEMBER).granted(PermissionSet::of(&[ManageRoles, AssignRoles]));
        let member = Actor::new(ME, RoleSet::MEMBER);
        let audit = PermissionSet::of(&[ViewAuditLog]);
        assert_eq!(check_role_change(&admin, audit), Ok(()));
        assert_eq!(check_role_change(&admin, PermissionSet::all()), Ok(()));
        assert!(matches!(
            check_role_change(&member, PermissionSet::EMPTY),
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            check_role_change(&manager, audit),
            Err(Error::Forbidden(_))
        ));
        assert_eq!(
            check_role_change(&manager, PermissionSet::of(&[ManageRoles, UploadFiles])),
            Ok(())
        );
        assert_eq!(
            check_role_assignment(&admin, OTHER, PermissionSet::all()),
            Ok(())
        );
        assert!(matches!(
            check_role_assignment(&admin, ME, audit),
            Err(Error::Conflict(_))
        ));
        assert!(matches!(
            check_role_assignment(&manager, OTHER, audit),
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            check_role_assignment(&member, OTHER, PermissionSet::EMPTY),
            Err(Error::Forbidden(_))
        ));
        // Making someone a system administrator needs every permission.
        let assigner = Actor::new(ME, RoleSet::MEMBER).granted(PermissionSet::of(&[AssignRoles]));
        assert!(matches!(
            check_user_admin(&assigner, Some(OTHER), UserChange::Admin),
            Err(Error::Forbidden(_))
        ));
    }

    #[test]
    fn guests_see_only_their_channels_and_people() {
        let guest = Actor::new(ME, RoleSet::GUEST);
        let member = Actor::new(ME, RoleSet::MEMBER);
        let public = channel(ChannelKind::Public, false);
        let mem = member_of(ChannelRole::Member);
        assert_eq!(
            check(&guest, &public, None, Action::View),
            Err(Error::NotFound(Entity::Channel))
        );
        assert_eq!(
            check(&guest, &public, None, Action::Join),
            Err(Error::NotFound(Entity::Channel))
        );
        assert_eq!(check(&guest, &public, Some(&mem), Action::Post), Ok(()));
        assert!(matches!(
            check(&guest, &public, Some(&mem), Action::AddMember),
            Err(Error::Forbidden(_))
        ));
        assert_eq!(check(&member, &public, None, Action::View), Ok(()));
        assert!(!sees_user(&guest, OTHER, false));
        assert!(sees_user(&guest, OTHER, true));
        assert!(sees_user(&guest, ME, false));
        assert!(sees_user(&member, OTHER, false));
        assert!(check_browse_directory(&guest).is_err());
        assert!(check_browse_directory(&member).is_ok());
        assert!(check_create_channel(&guest, ChannelKind::Public).is_err());
        assert!(check_create_channel(&guest, ChannelKind::Private).is_err());
        assert!(check_create_channel(&member, ChannelKind::Private).is_ok());
        assert!(check_open_direct(&guest, false).is_err());
        assert!(check_open_direct(&guest, true).is_ok());
        assert!(check_open_direct(&member, false).is_ok());
        assert!(check_upload(&guest).is_ok());
        assert!(check_upload(&Actor::new(ME, RoleSet::EMPTY)).is_err());
    }

    #[test]
    fn announcement_channels_take_posts_from_admins_and_announcers_only() {
        let mut ch = channel(ChannelKind::Public, false);
        ch.announcement = true;
        let member = Actor::new(ME, RoleSet::MEMBER);
        let announcer = member.granted(PermissionSet::of(&[
            SitePermission::PostInAnnouncementChannels,
        ]));
        let m = member_of(ChannelRole::Member);
        let a = member_of(ChannelRole::Admin);
        assert!(matches!(
            check(&member, &ch, Some(&m), Action::Post),
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            check(&member, &ch, Some(&m), Action::Pin),
            Err(Error::Forbidden(_))
        ));
        assert_eq!(check(&member, &ch, Some(&m), Action::React), Ok(()));
        assert_eq!(check(&member, &ch, Some(&m), Action::ReadHistory), Ok(()));
        assert_eq!(check(&member, &ch, Some(&a), Action::Post), Ok(()));
        assert_eq!(check(&announcer, &ch, Some(&m), Action::Post), Ok(()));
        // The permission does not replace membership.
        assert!(matches!(
            check(&announcer, &ch, None, Action::Post),
            Err(Error::Forbidden(_))
        ));
    }

    #[test]
    fn inviting_and_removing_need_their_permissions() {
        let ch = channel(ChannelKind::Private, false);
        let without = Actor::new(ME, RoleSet::EMPTY);
        let owner = member_of(ChannelRole::Owner);
        let remove = Action::RemoveMember {
            target: OTHER,
            target_role: ChannelRole::Member,
        };
        assert!(matches!(
            check(&without, &ch, Some(&owner), Action::AddMember),
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            check(&without, &ch, Some(&owner), remove),
            Err(Error::Forbidden(_))
        ));
        let with = without.granted(PermissionSet::of(&[
            SitePermission::InviteMembers,
            SitePermission::RemoveMembers,
        ]));
        assert_eq!(check(&with, &ch, Some(&owner), Action::AddMember), Ok(()));
        assert_eq!(check(&with, &ch, Some(&owner), remove), Ok(()));
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

    /// A credential's scope narrows what the account may do, and never widens it.
    #[test]
    fn scopes_narrow_the_actor() {
        let public = channel(ChannelKind::Public, false);
        let m = Some(member(ChannelRole::Member));
        let admin = Actor::new(ME, RoleSet::ADMIN);
        let plain = Actor::new(ME, RoleSet::MEMBER);
        for (actor, scope, post, read, manage_users, browse) in [
            (admin, Scope::Session, true, true, true, true),
            (admin, Scope::Admin, true, true, true, true),
            (admin, Scope::Write, true, true, false, true),
            (admin, Scope::Read, false, true, false, true),
            (plain, Scope::Admin, true, true, false, true),
            (plain, Scope::Write, true, true, false, true),
            (plain, Scope::Read, false, true, false, true),
        ] {
            let a = actor.with_scope(scope);
            let row = format!("{:?} with {scope:?}", actor.roles);
            assert_eq!(
                check(&a, &public, m.as_ref(), Action::Post).is_ok(),
                post,
                "{row}"
            );
            assert_eq!(
                check(&a, &public, m.as_ref(), Action::React).is_ok(),
                post,
                "{row}"
            );
            assert_eq!(
                check(&a, &public, m.as_ref(), Action::MarkRead).is_ok(),
                post,
                "{row}"
            );
            assert_eq!(
                check(&a, &public, m.as_ref(), Action::ReadHistory).is_ok(),
                read,
                "{row}"
            );
            assert_eq!(a.may(SitePermission::ManageUsers), manage_users, "{row}");
            assert_eq!(a.may(SitePermission::BrowseDirectory), browse, "{row}");
            assert_eq!(
                check_user_admin(&a, Some(OTHER), UserChange::Active).is_ok(),
                manage_users,
                "{row}"
            );
            assert_eq!(
                check_user_admin(&a, Some(ME), UserChange::Profile).is_ok(),
                post,
                "{row}"
            );
            assert_eq!(check_write(&a).is_ok(), post, "{row}");
            // Only an interactive session manages its own credentials.
            assert_eq!(
                check_own_credentials(&a, ME).is_ok(),
                scope == Scope::Session,
                "{row}"
            );
            assert_eq!(
                check_own_credentials(&a, OTHER).is_ok(),
                manage_users,
                "{row}"
            );
            // Granting more later does not get past the scope.
            let granted = a.granted(PermissionSet::all());
            assert_eq!(
                granted.may(SitePermission::ManageUsers),
                scope == Scope::Session || scope == Scope::Admin,
                "{row}"
            );
        }
        // A read token still sees only what the account may see.
        let private = channel(ChannelKind::Private, false);
        assert_eq!(
            check(&plain.with_scope(Scope::Read), &private, None, Action::Post),
            Err(Error::NotFound(Entity::Channel))
        );
        for s in Scope::TOKEN_SCOPES {
            assert_eq!(Scope::parse_token_scope(s.as_str()), Some(s));
        }
        assert_eq!(Scope::parse_token_scope("session"), None);
    }
}
