//! Enclave's persistence: one trait per aggregate ([`AccountStore`], [`ChannelStore`],
//! [`MessageStore`], [`FileStore`], [`SearchStore`], [`EventLog`], [`AuditStore`],
//! [`ThrottleStore`] (sign-in failure counters), and [`Lifecycle`] for the
//! database itself), their union [`Store`] that every backend implements, the embedded SQLite
//! backend ([`sqlite::SqliteStore`]) and, with the `postgres` feature (on by default), the
//! PostgreSQL backend for several nodes (`postgres::PgStore`) and the move from one to the other
//! (`migrate::sqlite_to_postgres`). The `testing` feature adds a private PostgreSQL server for
//! tests (`testing`).
//!
//! A store owns durability and ordering. Every write runs in one transaction together with the
//! [`Event`]s it appends; a write returns only once that transaction is durable (fsync), and
//! committed events are announced to [`EventLog::subscribe`] in position order. (On PostgreSQL an
//! event gets its position just after its transaction commits, from the one node that assigns
//! positions; [`EventLog::settle`] waits for that.) Permission rules are
//! not decided here: a write that depends on them takes a [`Guard`] built by the application from
//! `enclave_core::permissions`, and runs it inside the transaction against the rows it is about to
//! change, so a check and its write cannot be separated by a concurrent change. Rules about the
//! data itself (thread roots, reaction and pin limits) are decided by `enclave_core::rules` on the
//! rows the write reads; the backends only read and persist. [`catalog`] lists every table and its
//! columns, for the tools that copy or export whole tables (`enclave migrate`).

#[cfg(feature = "postgres")]
pub mod backup;
pub mod catalog;
mod common;
#[cfg(feature = "postgres")]
pub mod migrate;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;

use std::sync::Arc;

use async_trait::async_trait;
use enclave_core::audit::{AuditEntry, AuditHead, NewAuditEntry};
use enclave_core::departments::{Department, DepartmentMember, Tree};
use enclave_core::outgoing::{Delivery, DeliveryStatus, OutgoingWebhook};
use enclave_core::webhooks::IncomingWebhook;
use enclave_core::{
    Anchor, AppPasswordId, AppPasswordInfo, Channel, ChannelId, ChannelKind, ChannelRole,
    ChannelSummary, CustomRole, DepartmentId, Event, FileId, FileMeta, Membership, Mentions,
    Message, MessageId, Millis, PermissionSet, RoleId, Scope, Thumbnail, TokenId, TokenInfo,
    TokenKind, User, UserId,
};

/// A failure of a store operation.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// A domain rule refused the operation (including a [`Guard`]'s verdict).
    #[error(transparent)]
    Domain(#[from] enclave_core::Error),
    /// The database failed; the operation did not happen.
    #[error("database error: {0}")]
    Backend(Arc<dyn std::error::Error + Send + Sync>),
    /// The store is shutting down.
    #[error("store is closed")]
    Closed,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub use enclave_core::rules::MAX_PINS_PER_CHANNEL;

/// What a [`Guard`] sees: the rows as they are inside the writing transaction.
pub struct GuardCtx<'a> {
    pub channel: &'a Channel,
    /// The acting user's membership, if any.
    pub membership: Option<&'a Membership>,
    /// The message being changed, for message operations.
    pub message: Option<&'a Message>,
    /// The membership of the user being added, removed or changed, for member operations.
    pub target: Option<&'a Membership>,
}

/// A permission check run inside a write transaction.
pub type Guard =
    Box<dyn FnOnce(&GuardCtx<'_>) -> std::result::Result<(), enclave_core::Error> + Send>;

/// The audit entries of a write, made inside the write's own transaction: the store calls the
/// hook with what the write did (after it succeeded, before commit) and appends the entries it
/// returns, in order, after the chain's head. The write and its entries commit together or not
/// at all: an entry that cannot be appended fails (and rolls back) the write. The `*_audited`
/// methods take one; the plain ones record nothing.
pub type AuditHook<T> = Box<dyn FnOnce(&T) -> Vec<NewAuditEntry> + Send>;

/// A hook that records nothing.
pub fn no_audit<T>() -> AuditHook<T> {
    Box::new(|_| Vec::new())
}

/// A new account.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    /// PHC string (argon2id); `None` for accounts that cannot log in with a password.
    pub password_hash: Option<String>,
    pub is_admin: bool,
    pub is_bot: bool,
    pub actor_id: Option<UserId>,
    /// A guest account (holds the guest role only), with its expiry.
    pub is_guest: bool,
    pub guest_expires_at: Option<Millis>,
}

/// Changes to an account; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub display_name: Option<String>,
    /// `Some(None)` clears the address.
    pub email: Option<Option<String>>,
    pub password_hash: Option<String>,
    pub active: Option<bool>,
    pub is_admin: Option<bool>,
    pub status_text: Option<String>,
    pub dnd: Option<bool>,
    /// Whether the account holds the built-in member role.
    pub member_role: Option<bool>,
    /// A guest's expiry (`Some(None)`: none).
    pub guest_expires_at: Option<Option<Millis>>,
}

/// A page of the user directory.
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    /// Case-insensitive substring of username or display name.
    pub text: Option<String>,
    pub include_inactive: bool,
    /// Users ordered by username, strictly after this one.
    pub after_username: Option<String>,
    pub limit: u32,
}

/// A new bearer token (its secret is known only to the client; the store keeps its hash).
#[derive(Debug, Clone)]
pub struct NewToken {
    pub user_id: UserId,
    pub kind: TokenKind,
    pub hash: [u8; 32],
    pub name: String,
    pub expires_at: Option<Millis>,
    pub scope: Scope,
    /// For sessions: the client the sign-in named.
    pub client: String,
    /// For sessions: the address the sign-in came from.
    pub ip: Option<String>,
}

/// A new app password (the store keeps its argon2id hash only).
#[derive(Debug, Clone)]
pub struct NewAppPassword {
    pub user_id: UserId,
    pub name: String,
    pub hint: String,
    pub password_hash: String,
}

/// A new public or private channel.
#[derive(Debug, Clone)]
pub struct NewChannel {
    pub kind: ChannelKind,
    pub name: String,
    /// Case-folded name, unique among named channels.
    pub name_key: String,
    pub topic: String,
    pub purpose: String,
    pub creator_id: UserId,
    /// An announcement channel (see `enclave_core::Channel::announcement`).
    pub announcement: bool,
}

/// Changes to a channel; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ChannelPatch {
    pub name: Option<(String, String)>,
    pub topic: Option<String>,
    pub purpose: Option<String>,
    pub archived: Option<bool>,
    pub announcement: Option<bool>,
}

/// A page of the public channel directory.
#[derive(Debug, Clone, Default)]
pub struct BrowseQuery {
    pub text: Option<String>,
    pub include_archived: bool,
    pub after_id: Option<ChannelId>,
    pub limit: u32,
}

/// A message to post.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub channel_id: ChannelId,
    pub user_id: UserId,
    pub text: String,
    pub client_msg_id: Option<String>,
    pub thread_root_id: Option<MessageId>,
    pub mentions: Mentions,
    /// Files to attach (the application has checked they are the poster's own); each must
    /// still exist when the message is written.
    pub file_ids: Vec<FileId>,
}

/// A file's metadata to record after its bytes are stored.
#[derive(Debug, Clone)]
pub struct NewFile {
    pub name: String,
    pub size: u64,
    pub content_type: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub thumbnail: Option<Thumbnail>,
    /// The text preview, already sealed under the file's data key (the store never sees it
    /// in plain text).
    pub sealed_preview: Option<Vec<u8>>,
    pub uploader_id: UserId,
    /// Object name of the encrypted content in the blob store.
    pub object: String,
    /// Object name of the encrypted thumbnail.
    pub thumb_object: Option<String>,
    /// The master key id the data key is wrapped under, and the wrapped data key.
    pub key_id: String,
    pub wrapped_key: Vec<u8>,
}

/// A file as stored: what users see plus where and how its bytes are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub meta: FileMeta,
    pub object: String,
    pub thumb_object: Option<String>,
    pub key_id: String,
    pub wrapped_key: Vec<u8>,
    /// When the file was first attached to a message (`None`: never yet).
    pub attached_at: Option<Millis>,
}

/// What [`MessageStore::post_message`] did.
#[derive(Debug, Clone)]
pub struct Posted {
    pub message: Message,
    /// `false` when `client_msg_id` matched an earlier message, which is returned instead.
    pub created: bool,
}

/// Text searches rank (bm25 / ts_rank_cd) the newest this many matches the user may read, so
/// that a common word costs the same as a rare one; filters narrow the matches before the window.
pub const SEARCH_RANK_WINDOW: u32 = 5000;

/// A full-text search over the messages one user may read (see `enclave_core::search`).
#[derive(Debug, Clone)]
pub struct MessageSearch {
    /// The searching user: only channels they are a member of are searched.
    pub user_id: UserId,
    /// Every term must match. With no terms the filters alone select, newest first.
    pub terms: Vec<enclave_core::search::Term>,
    /// The author: by username, or by display name (exact).
    pub from: Option<enclave_core::search::Author>,
    /// The channel's name key.
    pub in_channel: Option<String>,
    /// Created strictly before.
    pub before: Option<Millis>,
    /// Created at or after.
    pub after: Option<Millis>,
    /// Only messages with at least one attached file.
    pub has_file: bool,
    pub limit: u32,
    pub offset: u32,
}

/// One step of rebuilding the search index ([`SearchStore::reindex_batch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReindexStep {
    /// The largest message id the step covered; `None` when no message was left.
    pub last: Option<MessageId>,
    /// Messages the step covered (deleted ones are removed from the index, not counted here).
    pub indexed: u64,
}

/// The database itself: whether it answers, and closing it.
#[async_trait]
pub trait Lifecycle: Send + Sync + 'static {
    /// Succeeds when the database answers.
    async fn ping(&self) -> Result<()>;
    /// Finishes queued writes and stops accepting new ones.
    async fn close(&self);
}

/// Accounts and the credentials that act for them: users, bearer tokens and sessions.
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    async fn create_user(&self, new: NewUser) -> Result<User> {
        self.create_user_audited(new, no_audit()).await
    }
    /// [`AccountStore::create_user`] with its audit entries in the same transaction (the hook
    /// sees the new account).
    async fn create_user_audited(&self, new: NewUser, audit: AuditHook<User>) -> Result<User>;
    async fn user(&self, id: UserId) -> Result<Option<User>>;
    /// Finds an account by username or email, with its password hash.
    async fn user_credentials(&self, login: &str) -> Result<Option<(User, Option<String>)>>;
    async fn users_by_usernames(&self, usernames: &[String]) -> Result<Vec<User>>;
    async fn users_by_ids(&self, ids: &[UserId]) -> Result<Vec<User>>;
    async fn list_users(&self, query: UserQuery) -> Result<Vec<User>>;
    async fn update_user(
        &self,
        id: UserId,
        patch: UserPatch,
        actor_id: Option<UserId>,
    ) -> Result<User> {
        self.update_user_audited(id, patch, actor_id, no_audit())
            .await
    }
    /// [`AccountStore::update_user`] with its audit entries in the same transaction (the hook
    /// sees the account after the change).
    async fn update_user_audited(
        &self,
        id: UserId,
        patch: UserPatch,
        actor_id: Option<UserId>,
        audit: AuditHook<User>,
    ) -> Result<User>;
    async fn count_admins(&self) -> Result<i64>;

    async fn create_token(&self, new: NewToken) -> Result<TokenInfo>;
    /// The unexpired token with this hash and its (possibly inactive) owner.
    async fn token_by_hash(&self, hash: [u8; 32], now: Millis)
    -> Result<Option<(TokenInfo, User)>>;
    async fn touch_token(&self, id: TokenId, now: Millis) -> Result<()>;
    async fn list_tokens(&self, user_id: UserId) -> Result<Vec<TokenInfo>>;
    /// Deletes one of the user's tokens; `false` when there was none.
    async fn revoke_token(&self, user_id: UserId, id: TokenId) -> Result<bool>;
    /// Ends all of the user's sessions but `except`; returns how many ended.
    async fn revoke_sessions(&self, user_id: UserId, except: Option<TokenId>) -> Result<u64>;
    /// Whether the token still exists, has not expired, and its owner is active.
    async fn token_valid(&self, id: TokenId, now: Millis) -> Result<bool>;
    async fn create_app_password(&self, new: NewAppPassword) -> Result<AppPasswordInfo>;
    async fn list_app_passwords(&self, user_id: UserId) -> Result<Vec<AppPasswordInfo>>;
    /// The hashes of the user's app passwords whose hint is `hint`.
    async fn app_password_hashes(
        &self,
        user_id: UserId,
        hint: &str,
    ) -> Result<Vec<(AppPasswordId, String)>>;
    async fn touch_app_password(&self, id: AppPasswordId, now: Millis) -> Result<()>;
    /// Deletes one of the user's app passwords; `false` when there was none.
    async fn revoke_app_password(&self, user_id: UserId, id: AppPasswordId) -> Result<bool>;
}

/// A new custom role (validated by the application).
#[derive(Debug, Clone)]
pub struct NewRole {
    pub name: String,
    /// The case-folded name, unique among roles.
    pub name_key: String,
    pub description: String,
    pub permissions: PermissionSet,
    pub require_second_factor: bool,
}

/// Changes to a custom role; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct RolePatch {
    pub name: Option<(String, String)>,
    pub description: Option<String>,
    pub permissions: Option<PermissionSet>,
    pub require_second_factor: Option<bool>,
}

/// An account's roles, as [`RoleStore::set_user_roles`] sets them.
#[derive(Debug, Clone)]
pub struct UserRoles {
    pub is_admin: bool,
    pub member_role: bool,
    pub custom: Vec<RoleId>,
}

/// Custom roles and who holds them. Every change appends `roles.changed` (a role's grants
/// changed: caches of actors must forget everyone) or `user.updated` (one account's roles
/// changed) in its transaction.
#[async_trait]
pub trait RoleStore: Send + Sync + 'static {
    /// Every custom role, by id.
    async fn roles(&self) -> Result<Vec<CustomRole>>;
    async fn role(&self, id: RoleId) -> Result<Option<CustomRole>>;
    /// Creates a role; `Conflict` when the name is taken, `LimitExceeded` past `max` roles.
    async fn create_role(
        &self,
        new: NewRole,
        max: usize,
        actor_id: Option<UserId>,
    ) -> Result<CustomRole> {
        self.create_role_audited(new, max, actor_id, no_audit())
            .await
    }
    async fn create_role_audited(
        &self,
        new: NewRole,
        max: usize,
        actor_id: Option<UserId>,
        audit: AuditHook<CustomRole>,
    ) -> Result<CustomRole>;
    async fn update_role(
        &self,
        id: RoleId,
        patch: RolePatch,
        actor_id: Option<UserId>,
    ) -> Result<CustomRole> {
        self.update_role_audited(id, patch, actor_id, no_audit())
            .await
    }
    /// The hook sees the role before and after the change.
    async fn update_role_audited(
        &self,
        id: RoleId,
        patch: RolePatch,
        actor_id: Option<UserId>,
        audit: AuditHook<(CustomRole, CustomRole)>,
    ) -> Result<CustomRole>;
    /// Deletes a role and every assignment of it; `false` when there was none.
    async fn delete_role(&self, id: RoleId, actor_id: Option<UserId>) -> Result<bool> {
        self.delete_role_audited(id, actor_id, no_audit()).await
    }
    /// The hook is called only when a role was deleted.
    async fn delete_role_audited(
        &self,
        id: RoleId,
        actor_id: Option<UserId>,
        audit: AuditHook<CustomRole>,
    ) -> Result<bool>;
    /// The custom roles the account holds.
    async fn user_roles(&self, user_id: UserId) -> Result<Vec<CustomRole>>;
    /// Replaces the account's roles (the administrator flag, the member role and the custom
    /// roles); `NotFound(Role)` when a role does not exist, `NotFound(User)` for the account.
    async fn set_user_roles(
        &self,
        user_id: UserId,
        roles: UserRoles,
        actor_id: Option<UserId>,
    ) -> Result<(User, Vec<CustomRole>)> {
        self.set_user_roles_audited(user_id, roles, actor_id, no_audit())
            .await
    }
    async fn set_user_roles_audited(
        &self,
        user_id: UserId,
        roles: UserRoles,
        actor_id: Option<UserId>,
        audit: AuditHook<(User, Vec<CustomRole>)>,
    ) -> Result<(User, Vec<CustomRole>)>;
    /// Deactivates up to `limit` active guests whose expiry is at or before `now` (ending their
    /// tokens, as any deactivation does); returns them.
    async fn expire_guests(&self, now: Millis, limit: u32) -> Result<Vec<UserId>>;
}

/// Channels, their members and read state, and direct conversations.
#[async_trait]
pub trait ChannelStore: Send + Sync + 'static {
    /// Creates a public or private channel with its creator as owner.
    async fn create_channel(&self, new: NewChannel) -> Result<Channel>;
    /// Returns the direct conversation among exactly `user_ids` (sorted, deduplicated, the
    /// creator included), creating it if needed; the flag says whether it was created.
    async fn open_direct(&self, creator: UserId, user_ids: Vec<UserId>) -> Result<(Channel, bool)>;
    async fn channel(&self, id: ChannelId) -> Result<Option<Channel>>;
    /// A channel and the user's membership in it.
    async fn channel_for(
        &self,
        id: ChannelId,
        user_id: UserId,
    ) -> Result<Option<(Channel, Option<Membership>)>>;
    /// Every channel the user is a member of, with unread and mention counts.
    async fn my_channels(&self, user_id: UserId) -> Result<Vec<ChannelSummary>>;
    async fn my_channel(&self, id: ChannelId, user_id: UserId) -> Result<Option<ChannelSummary>>;
    async fn browse_channels(&self, query: BrowseQuery) -> Result<Vec<Channel>>;
    async fn update_channel(
        &self,
        id: ChannelId,
        actor_id: UserId,
        patch: ChannelPatch,
        guard: Guard,
    ) -> Result<Channel>;
    /// Adds a member; returns the membership and whether it is new (existing members are left as they are).
    async fn add_member(
        &self,
        id: ChannelId,
        actor_id: UserId,
        user_id: UserId,
        role: ChannelRole,
        guard: Guard,
    ) -> Result<(Membership, bool)>;
    async fn remove_member(
        &self,
        id: ChannelId,
        actor_id: UserId,
        user_id: UserId,
        guard: Guard,
    ) -> Result<()>;
    async fn set_member_role(
        &self,
        id: ChannelId,
        actor_id: UserId,
        user_id: UserId,
        role: ChannelRole,
        guard: Guard,
    ) -> Result<Membership>;
    /// Members ordered by user id, strictly after `after`.
    async fn members(
        &self,
        id: ChannelId,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<(Membership, User)>>;
    /// Sets the user's read position (clamped by `enclave_core::rules::read_position`).
    async fn mark_read(
        &self,
        id: ChannelId,
        user_id: UserId,
        seq: i64,
        guard: Guard,
    ) -> Result<Membership>;
    async fn channels_by_ids(&self, ids: &[ChannelId]) -> Result<Vec<Channel>>;
    /// The ids of every channel the user is a member of.
    async fn channel_ids_of(&self, user_id: UserId) -> Result<Vec<ChannelId>>;
}

/// Messages: posting, history, threads, edits, deletes, reactions and pins.
#[async_trait]
pub trait MessageStore: Send + Sync + 'static {
    /// Posts a message (a reply only under a root allowed by
    /// `enclave_core::rules::check_thread_root`).
    async fn post_message(&self, new: NewMessage, guard: Guard) -> Result<Posted>;
    async fn message(&self, id: MessageId) -> Result<Option<Message>>;
    /// A page of a channel's messages in ascending `seq` order. Deleted messages are left out
    /// unless they are thread roots with replies; replies are left out unless asked for.
    async fn history(
        &self,
        id: ChannelId,
        anchor: Anchor,
        limit: u32,
        include_replies: bool,
    ) -> Result<Vec<Message>>;
    /// A thread's root followed by up to `limit` replies after `after_seq`, in order.
    async fn thread(&self, root: MessageId, after_seq: i64, limit: u32) -> Result<Vec<Message>>;
    async fn edit_message(
        &self,
        id: MessageId,
        actor_id: UserId,
        text: String,
        mentions: Mentions,
        guard: Guard,
    ) -> Result<Message>;
    async fn delete_message(
        &self,
        id: MessageId,
        actor_id: UserId,
        guard: Guard,
    ) -> Result<Message>;
    /// Adds or removes the user's reaction; the flag says whether anything changed.
    async fn set_reaction(
        &self,
        id: MessageId,
        user_id: UserId,
        emoji: String,
        present: bool,
        guard: Guard,
    ) -> Result<(Message, bool)>;
    async fn set_pinned(
        &self,
        id: MessageId,
        user_id: UserId,
        pinned: bool,
        guard: Guard,
    ) -> Result<(Message, bool)>;
    async fn pins(&self, id: ChannelId) -> Result<Vec<Message>>;
    /// Messages by id (missing ids are skipped), with reactions.
    async fn messages_by_ids(&self, ids: &[MessageId]) -> Result<Vec<Message>>;
}

/// The records of uploaded files (their bytes live in the blob store).
#[async_trait]
pub trait FileStore: Send + Sync + 'static {
    /// Records an uploaded file, refusing (`QuotaExceeded`) when the uploader's files would then
    /// total more than `quota` bytes.
    async fn create_file(&self, new: NewFile, quota: Option<u64>) -> Result<FileMeta>;
    async fn file(&self, id: FileId) -> Result<Option<StoredFile>>;
    /// The channels of the live messages a file is attached to.
    async fn file_channels(&self, id: FileId) -> Result<Vec<ChannelId>>;
    /// Total size of the user's stored files.
    async fn user_file_bytes(&self, user_id: UserId) -> Result<u64>;
    /// Deletes up to `limit` files that no message references: those attached once and since
    /// detached, and those never attached and created before `unattached_before`. Returns the
    /// deleted records, whose objects the caller then removes.
    async fn sweep_files(&self, unattached_before: Millis, limit: u32) -> Result<Vec<StoredFile>>;
    /// Up to `limit` files (by id, after `after`) whose data key is not wrapped under `key_id`.
    async fn files_not_under_key(
        &self,
        key_id: &str,
        after: FileId,
        limit: u32,
    ) -> Result<Vec<StoredFile>>;
    /// Replaces a file's wrapped key if it is still wrapped under `old_key_id`; `false` if not.
    async fn rewrap_file_key(
        &self,
        id: FileId,
        old_key_id: &str,
        new_key_id: &str,
        wrapped_key: Vec<u8>,
    ) -> Result<bool>;
    /// Up to `limit` files of `content_type` (by id, after `after`) that have no sealed
    /// preview: those uploaded before previews were sealed, whose plain previews the upgrade
    /// dropped.
    async fn files_without_preview(
        &self,
        content_type: &str,
        after: FileId,
        limit: u32,
    ) -> Result<Vec<StoredFile>>;
    /// Stores a file's sealed preview unless it already has one; `false` if it had (or the
    /// file is gone).
    async fn set_file_preview(&self, id: FileId, sealed: Vec<u8>) -> Result<bool>;
}

/// Full-text search over messages, channel names, and the rebuild of the index.
#[async_trait]
pub trait SearchStore: Send + Sync + 'static {
    /// Messages matching `query` in channels its user is a member of, best match first among
    /// the newest [`SEARCH_RANK_WINDOW`] matches (newest first when it has no terms). Deleted messages never match. The membership check
    /// is part of the same query as the match.
    async fn search_messages(&self, query: MessageSearch) -> Result<Vec<Message>>;
    /// Named channels whose name contains `text` (case-insensitive) that the user is a member
    /// of, or that are public and not archived; members' channels first, then names starting
    /// with `text`, then by name. The flag says whether the user is a member.
    async fn search_channels(
        &self,
        user_id: UserId,
        text: &str,
        limit: u32,
    ) -> Result<Vec<(Channel, bool)>>;
    /// Rebuilds the search index for up to `limit` messages with ids above `after`, in id
    /// order, in one transaction (so it can run beside a live server). When no message is
    /// left, also drops index entries above `after`.
    async fn reindex_batch(&self, after: MessageId, limit: u32) -> Result<ReindexStep>;
    /// The number of messages stored (deleted ones included) and the largest message id.
    async fn message_stats(&self) -> Result<(u64, MessageId)>;
}

/// The ordered log of committed events.
#[async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// Committed events, in position order, as each group commit completes. On PostgreSQL:
    /// every node's events, as they get positions, announced only by the store of the node that
    /// assigns them (other stores announce nothing; the log is the truth).
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<[Event]>>;
    /// Returns once every event committed before the call has a position (and so is visible to
    /// [`EventLog::events_after`] and counted by [`EventLog::last_position`]). SQLite numbers
    /// events as it commits them, so this returns at once there; PostgreSQL numbers them just
    /// after commit (see the `postgres` module), and this waits for that.
    async fn settle(&self) -> Result<()>;
    /// Up to `limit` committed events with positions after `position`, in order. Positions are
    /// gap-free and never appear below one already returned.
    async fn events_after(&self, position: i64, limit: u32) -> Result<Vec<Event>>;
    /// The newest committed position (0 when none). Never goes back, pruning included.
    async fn last_position(&self) -> Result<i64>;
    /// The oldest retained position (`last_position() + 1` when the log is empty).
    async fn first_position(&self) -> Result<i64>;
    /// Deletes events created before `before`, always keeping the newest `keep_last`; returns
    /// how many were deleted.
    async fn prune_events(&self, before: Millis, keep_last: u32) -> Result<u64>;
}

/// Filters and a cursor for reading the audit log, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub actor: Option<UserId>,
    /// A stable action name (`enclave_core::audit::AuditAction::as_str`).
    pub action: Option<String>,
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    /// Entries at or after this time.
    pub since: Option<Millis>,
    /// Entries before this time.
    pub until: Option<Millis>,
    /// Entries with a sequence number below this one (the cursor).
    pub before_seq: Option<i64>,
    pub limit: u32,
}

/// The audit log: an append-only, hash-chained table (`enclave_core::audit`). It is never
/// pruned.
#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// Appends an entry after the current head and returns it, numbered and sealed
    /// (`AuditEntry::seal`). Appends are serialised (SQLite: the single writer; PostgreSQL: a
    /// transaction-scoped advisory lock), so the chain never forks, whichever node appends.
    async fn append_audit(&self, new: NewAuditEntry) -> Result<AuditEntry>;
    /// Entries matching every filter of `query`, newest first.
    async fn audit_entries(&self, query: AuditQuery) -> Result<Vec<AuditEntry>>;
    /// Up to `limit` entries with a sequence number above `after`, in order (verification,
    /// export).
    async fn audit_chain(&self, after: i64, limit: u32) -> Result<Vec<AuditEntry>>;
    /// The last entry's number and hash (`None` while the log is empty).
    async fn audit_head(&self) -> Result<Option<AuditHead>>;
}

/// One row of the sign-in throttle (see `enclave_core::lockout`): the failures of one account
/// key from one source at one credential step, and whether the source is known to the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleKey {
    pub step: enclave_core::lockout::Step,
    /// `enclave_core::lockout::account_key` for passwords; the account's id for later steps.
    pub account: String,
    /// `enclave_core::lockout::source_key`.
    pub source: String,
}

/// A throttle row with failures, for the administrators' view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleEntry {
    pub key: ThrottleKey,
    pub failures: u32,
    pub last_failure_at: Millis,
    /// Whether the source is known to the account (signed in from it, not yet expired).
    pub known: bool,
}

/// The sign-in throttle's counters. The store counts and persists; `enclave_core::lockout`
/// decides what the counts mean. Every write is one atomic statement, so nodes sharing the
/// database count together.
#[async_trait]
pub trait ThrottleStore: Send + Sync + 'static {
    /// The counts an attempt for `key` is judged on: failures at or after `since` for the
    /// pair, for the account (every source) and for the source (every account), at `key`'s
    /// step; and whether the pair's source is known at `now`.
    async fn throttle_counts(
        &self,
        key: &ThrottleKey,
        since: Millis,
        now: Millis,
    ) -> Result<enclave_core::lockout::Counts>;
    /// Counts one failure at `now` (failures before `since` are forgotten first); the row is
    /// kept at least until `expires_at`.
    async fn throttle_fail(
        &self,
        key: &ThrottleKey,
        now: Millis,
        since: Millis,
        expires_at: Millis,
    ) -> Result<()>;
    /// A success: clears the pair's failures and makes its source known until `known_until`.
    async fn throttle_ok(&self, key: &ThrottleKey, known_until: Millis) -> Result<()>;
    /// Rows with failures at or after `since` (for one account key, or all), newest failure
    /// first, at most `limit`.
    async fn throttle_entries(
        &self,
        account: Option<&str>,
        since: Millis,
        limit: u32,
    ) -> Result<Vec<ThrottleEntry>>;
    /// Clears the failures of an account key (at every step), from one source or from all;
    /// known sources stay known. Returns how many rows had failures.
    async fn clear_throttles(&self, account: &str, source: Option<&str>) -> Result<u64>;
    /// Deletes rows that expired before `now`; returns how many.
    async fn sweep_throttles(&self, now: Millis) -> Result<u64>;
}

/// A TOTP enrolment: pending until confirmed with a code.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpEnrolment {
    /// The shared secret as stored: sealed by the application (older versions stored the 20
    /// random bytes in the clear). Never shown again after enrolment.
    pub secret: Vec<u8>,
    pub confirmed_at: Option<Millis>,
    /// The newest TOTP step accepted for the account.
    pub last_step: Option<i64>,
}

impl std::fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpEnrolment")
            .field("confirmed_at", &self.confirmed_at)
            .field("last_step", &self.last_step)
            .finish_non_exhaustive()
    }
}

/// The token between the two sign-in steps, stored by its SHA-256 hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInChallenge {
    pub user_id: UserId,
    /// The stable name of the credential that passed the first step.
    pub credential: String,
    /// The account must enrol a second factor before a session opens.
    pub enrol_only: bool,
    pub expires_at: Millis,
    pub used_at: Option<Millis>,
}

/// An account with a confirmed second factor, for the administrators' view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondFactorEnrolment {
    pub user_id: UserId,
    /// When its authenticator app was confirmed (`None`: security keys only).
    pub totp_since: Option<Millis>,
    pub recovery_left: u32,
    /// Security keys and passkeys registered.
    pub webauthn_keys: u32,
}

/// A registered WebAuthn credential (a security key or a passkey) of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebAuthnKey {
    pub id: i64,
    pub user_id: UserId,
    /// The name its owner gave it.
    pub name: String,
    /// The credential id (base64url), unique among all accounts.
    pub credential_id: String,
    /// The credential (public key, signature counter, ...) as `webauthn-rs` serialises it.
    pub credential: String,
    pub created_at: Millis,
    pub last_used_at: Option<Millis>,
}

/// A WebAuthn ceremony in progress: the state `webauthn-rs` needs to finish it, kept in the
/// database so that any node can finish what another started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebAuthnCeremonyState {
    /// A random id (registration), or the hex hash of the sign-in challenge's token.
    pub id: String,
    pub user_id: UserId,
    /// `registration` or `authentication` (`enclave_core::signin::WebAuthnCeremony`).
    pub kind: String,
    /// The ceremony state (JSON).
    pub state: String,
    pub expires_at: Millis,
}

/// Second factors: TOTP enrolments, recovery codes, sign-in challenges and the site policy.
/// Every compare-and-set (a TOTP step, a recovery code, a challenge) is one atomic statement,
/// so nodes sharing the database never accept the same one twice.
#[async_trait]
pub trait SecondFactorStore: Send + Sync + 'static {
    async fn totp(&self, user_id: UserId) -> Result<Option<TotpEnrolment>>;
    /// Starts (or restarts) a TOTP enrolment with `secret`; `false` (nothing changed) when the
    /// account already has a confirmed one.
    async fn totp_begin(&self, user_id: UserId, secret: Vec<u8>) -> Result<bool>;
    /// Confirms the pending enrolment, accepting `step`, and replaces the recovery codes with
    /// `recovery` (hashes); `false` when no enrolment is pending.
    async fn totp_confirm(
        &self,
        user_id: UserId,
        step: i64,
        recovery: Vec<[u8; 32]>,
    ) -> Result<bool>;
    /// Accepts `step` for a confirmed enrolment when it is newer than the last accepted one;
    /// `false` otherwise (a replay).
    async fn totp_accept(&self, user_id: UserId, step: i64) -> Result<bool>;
    /// Every TOTP enrolment's account and stored secret (for sealing or re-sealing them).
    async fn totp_secrets(&self) -> Result<Vec<(UserId, Vec<u8>)>>;
    /// Replaces the stored secret of the account's enrolment with `new` when it still is
    /// `old` (compare-and-set); `false` otherwise.
    async fn totp_replace_secret(
        &self,
        user_id: UserId,
        old: Vec<u8>,
        new: Vec<u8>,
    ) -> Result<bool>;
    /// Removes every second factor of the account (TOTP, recovery codes); `false` when it had
    /// none.
    async fn remove_second_factors(&self, user_id: UserId) -> Result<bool>;
    /// Removes the account's authenticator app (set up or pending), leaving its recovery codes
    /// and security keys; `false` when none was set up.
    async fn remove_totp(&self, user_id: UserId) -> Result<bool>;
    /// Replaces the account's recovery codes.
    async fn replace_recovery_codes(&self, user_id: UserId, hashes: Vec<[u8; 32]>) -> Result<()>;
    /// Uses one recovery code; `false` when it is not one of the account's unused codes.
    async fn use_recovery_code(&self, user_id: UserId, hash: [u8; 32]) -> Result<bool>;
    /// The account's unused recovery codes.
    async fn recovery_codes_left(&self, user_id: UserId) -> Result<u32>;
    /// Stores a challenge by the hash of its token (and deletes expired ones).
    async fn create_challenge(
        &self,
        token_hash: [u8; 32],
        challenge: SignInChallenge,
    ) -> Result<()>;
    async fn challenge(&self, token_hash: [u8; 32]) -> Result<Option<SignInChallenge>>;
    /// Marks a challenge used if it is unused and unexpired at `now`; `false` otherwise.
    async fn use_challenge(&self, token_hash: [u8; 32], now: Millis) -> Result<bool>;
    /// The stored site policy (`None`: never set, the configuration's default applies).
    async fn second_factor_policy(&self) -> Result<Option<enclave_core::signin::Policy>>;
    async fn set_second_factor_policy(&self, policy: enclave_core::signin::Policy) -> Result<()>;
    /// Accounts with a confirmed TOTP enrolment or a security key, by user id.
    async fn second_factor_enrolments(&self) -> Result<Vec<SecondFactorEnrolment>>;
    /// The account's security keys, oldest first.
    async fn webauthn_keys(&self, user_id: UserId) -> Result<Vec<WebAuthnKey>>;
    /// Registers a key for the account unless it already holds `max` keys (`None` then);
    /// `Conflict` when the credential id is registered already (to any account).
    async fn add_webauthn_key(
        &self,
        user_id: UserId,
        name: String,
        credential_id: String,
        credential: String,
        max: usize,
    ) -> Result<Option<WebAuthnKey>>;
    /// Renames one of the account's keys; `false` when it has no key `id`.
    async fn rename_webauthn_key(&self, user_id: UserId, id: i64, name: String) -> Result<bool>;
    /// Removes one of the account's keys; `false` when it has no key `id`.
    async fn remove_webauthn_key(&self, user_id: UserId, id: i64) -> Result<bool>;
    /// Removes all of the account's keys; how many it had.
    async fn remove_webauthn_keys(&self, user_id: UserId) -> Result<u64>;
    /// Records a use of key `id`: its credential becomes `credential` (the new signature
    /// counter) if it is still `previous` (compare-and-set: of two uses of one assertion, one
    /// wins); `false` otherwise.
    async fn use_webauthn_key(
        &self,
        user_id: UserId,
        id: i64,
        previous: String,
        credential: String,
    ) -> Result<bool>;
    /// Stores a ceremony (replacing one with the same id) and deletes expired ones.
    async fn put_webauthn_ceremony(&self, ceremony: WebAuthnCeremonyState) -> Result<()>;
    /// The unexpired ceremony `id` of `kind` started by `user_id`.
    async fn webauthn_ceremony(
        &self,
        id: String,
        user_id: UserId,
        kind: String,
        now: Millis,
    ) -> Result<Option<WebAuthnCeremonyState>>;
    /// Deletes ceremony `id` of the account and returns it if it was unexpired (finishing a
    /// ceremony uses it up: of two finishes, one gets it).
    async fn take_webauthn_ceremony(
        &self,
        id: String,
        user_id: UserId,
        kind: String,
        now: Millis,
    ) -> Result<Option<WebAuthnCeremonyState>>;
}

/// A provider's subject linked to an account (OIDC single sign-on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalIdentity {
    /// The provider's id in the configuration.
    pub provider: String,
    /// The provider's `sub` claim.
    pub subject: String,
    pub user_id: UserId,
    pub email: Option<String>,
    pub created_at: Millis,
    pub last_login_at: Millis,
}

/// What a pending single sign-on holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SsoPendingKind {
    /// Between the redirect to the provider and its callback (keyed by the `state`).
    Login,
    /// Between the callback and the browser's exchange of the one-time code for a session.
    Handoff,
}

impl SsoPendingKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            SsoPendingKind::Login => "login",
            SsoPendingKind::Handoff => "handoff",
        }
    }
}

/// A single sign-on under way (`sso_pending`), taken once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoPending {
    /// SHA-256 (hex) of the secret the browser carries (the `state`, or the one-time code).
    pub key_hash: String,
    pub kind: SsoPendingKind,
    pub provider: String,
    pub nonce: String,
    pub pkce_verifier: String,
    /// SHA-256 (hex) of the cookie that binds the sign-in to the browser that started it.
    pub browser_hash: String,
    /// The account (handoffs).
    pub user_id: Option<UserId>,
    pub subject: String,
    pub created_at: Millis,
    pub expires_at: Millis,
}

/// Single sign-on: linked identities and sign-ins under way.
#[async_trait]
pub trait SsoStore: Send + Sync + 'static {
    /// Records a sign-in under way (and deletes the ones that expired before its start).
    async fn sso_put_pending(&self, pending: SsoPending) -> Result<()>;
    /// Takes (deletes and returns) the row of `key_hash` of that kind, whether or not it expired:
    /// a second take of the same key finds nothing.
    async fn sso_take_pending(
        &self,
        key_hash: &str,
        kind: SsoPendingKind,
    ) -> Result<Option<SsoPending>>;
    /// The account a provider's subject is linked to.
    async fn external_identity(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<ExternalIdentity>>;
    /// Links a subject to an account; `false` (and nothing changed) when the subject is
    /// already linked.
    async fn link_external_identity(&self, identity: ExternalIdentity) -> Result<bool>;
    /// Records a sign-in through a linked subject (its time and e-mail address).
    async fn touch_external_identity(
        &self,
        provider: &str,
        subject: &str,
        email: Option<&str>,
        at: Millis,
    ) -> Result<()>;
    /// How many accounts each provider has linked.
    async fn external_identity_counts(&self) -> Result<Vec<(String, u64)>>;
}

/// A department write's check, run inside the writing transaction against the whole tree as it
/// is there (built by the application from `enclave_core::departments`).
pub type TreeGuard = Box<dyn FnOnce(&Tree) -> std::result::Result<(), enclave_core::Error> + Send>;

/// A check for putting a person in a department: the tree, and how many other departments the
/// person is in.
pub type MemberGuard =
    Box<dyn FnOnce(&Tree, usize) -> std::result::Result<(), enclave_core::Error> + Send>;

/// A new department.
#[derive(Debug, Clone)]
pub struct NewDepartment {
    pub parent_id: Option<DepartmentId>,
    /// Validated by `enclave_core::departments::department_name`.
    pub name: String,
    pub position: i64,
}

/// Changes to a department; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct DepartmentPatch {
    pub name: Option<String>,
    /// `Some(None)`: make it a root.
    pub parent_id: Option<Option<DepartmentId>>,
    pub position: Option<i64>,
    /// Replaces the department's administrators (each must be an active account).
    pub admins: Option<Vec<UserId>>,
}

/// A channel whose membership follows a department.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepartmentChannel {
    pub channel_id: ChannelId,
    pub department_id: DepartmentId,
    pub include_subdepartments: bool,
}

/// The department tree, its people, department channels, managers and the directory's search
/// keys (kept by the account writes themselves: every change of a display name rewrites them in
/// the same transaction).
#[async_trait]
pub trait DepartmentStore: Send + Sync + 'static {
    /// Every department with its administrators, ordered by parent, position and id.
    async fn departments(&self) -> Result<Vec<Department>>;
    async fn create_department(&self, new: NewDepartment, guard: TreeGuard) -> Result<Department> {
        self.create_department_audited(new, guard, no_audit()).await
    }
    async fn create_department_audited(
        &self,
        new: NewDepartment,
        guard: TreeGuard,
        audit: AuditHook<Department>,
    ) -> Result<Department>;
    async fn update_department(
        &self,
        id: DepartmentId,
        patch: DepartmentPatch,
        guard: TreeGuard,
    ) -> Result<Department> {
        self.update_department_audited(id, patch, guard, no_audit())
            .await
    }
    /// The hook sees the department before and after the change.
    async fn update_department_audited(
        &self,
        id: DepartmentId,
        patch: DepartmentPatch,
        guard: TreeGuard,
        audit: AuditHook<(Department, Department)>,
    ) -> Result<Department>;
    /// Deletes a department with its memberships, administrators and channel links (the guard
    /// refuses one with sub-departments).
    async fn delete_department(&self, id: DepartmentId, guard: TreeGuard) -> Result<()> {
        self.delete_department_audited(id, guard, no_audit()).await
    }
    /// The hook sees the department as it was.
    async fn delete_department_audited(
        &self,
        id: DepartmentId,
        guard: TreeGuard,
        audit: AuditHook<Department>,
    ) -> Result<()>;
    /// Puts an active person in a department, or changes their title and headship there;
    /// `true` when they were not in it before.
    async fn set_department_member(
        &self,
        member: DepartmentMember,
        guard: MemberGuard,
    ) -> Result<bool> {
        self.set_department_member_audited(member, guard, no_audit())
            .await
    }
    /// The hook sees the membership before (`None`: they were not in it) and after.
    async fn set_department_member_audited(
        &self,
        member: DepartmentMember,
        guard: MemberGuard,
        audit: AuditHook<(Option<DepartmentMember>, DepartmentMember)>,
    ) -> Result<bool>;
    /// Takes a person out of a department (`NotFound(Member)` when they are not in it).
    async fn remove_department_member(
        &self,
        id: DepartmentId,
        user_id: UserId,
        guard: TreeGuard,
    ) -> Result<()> {
        self.remove_department_member_audited(id, user_id, guard, no_audit())
            .await
    }
    async fn remove_department_member_audited(
        &self,
        id: DepartmentId,
        user_id: UserId,
        guard: TreeGuard,
        audit: AuditHook<()>,
    ) -> Result<()>;
    /// The people of a department, heads first, then by display name.
    async fn department_members(&self, id: DepartmentId) -> Result<Vec<(DepartmentMember, User)>>;
    /// The departments a person is in.
    async fn user_departments(&self, user_id: UserId) -> Result<Vec<DepartmentMember>>;
    /// The active people in any of `ids`, each once.
    async fn people_in_departments(&self, ids: &[DepartmentId]) -> Result<Vec<UserId>>;
    /// The heads of `ids`.
    async fn department_heads(&self, ids: &[DepartmentId]) -> Result<Vec<(DepartmentId, UserId)>>;
    /// Sets (or with `None` clears) a person's explicit manager.
    async fn set_manager(
        &self,
        user_id: UserId,
        manager: Option<UserId>,
        guard: TreeGuard,
    ) -> Result<()> {
        self.set_manager_audited(user_id, manager, guard, no_audit())
            .await
    }
    /// The hook sees the explicit manager before the change.
    async fn set_manager_audited(
        &self,
        user_id: UserId,
        manager: Option<UserId>,
        guard: TreeGuard,
        audit: AuditHook<Option<UserId>>,
    ) -> Result<()>;
    async fn manager(&self, user_id: UserId) -> Result<Option<UserId>>;
    /// Active people with a search key starting with `key` or whose username or display name
    /// contains it, by display name.
    async fn search_people(&self, key: &str, limit: u32) -> Result<Vec<User>>;
    /// Links a channel to a department (replacing an earlier link of that channel).
    async fn link_department_channel(
        &self,
        link: DepartmentChannel,
        guard: TreeGuard,
    ) -> Result<()> {
        self.link_department_channel_audited(link, guard, no_audit())
            .await
    }
    async fn link_department_channel_audited(
        &self,
        link: DepartmentChannel,
        guard: TreeGuard,
        audit: AuditHook<DepartmentChannel>,
    ) -> Result<()>;
    /// Unlinks a channel; `false` when it was not linked.
    async fn unlink_department_channel(
        &self,
        channel_id: ChannelId,
        guard: TreeGuard,
    ) -> Result<bool> {
        self.unlink_department_channel_audited(channel_id, guard, no_audit())
            .await
    }
    /// The hook is called only when a link ended.
    async fn unlink_department_channel_audited(
        &self,
        channel_id: ChannelId,
        guard: TreeGuard,
        audit: AuditHook<ChannelId>,
    ) -> Result<bool>;
    async fn department_channels(&self) -> Result<Vec<DepartmentChannel>>;
}

/// An account linked to an LDAP / Active Directory entry (`ldap_links`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapLink {
    pub user_id: UserId,
    /// The configured provider's id.
    pub provider: String,
    /// The directory's stable id of the entry (entryUUID, objectGUID; the DN when none).
    pub external_id: String,
    pub dn: String,
    /// Directory attributes Enclave keeps beside the account.
    pub phone: String,
    pub title: String,
    pub department: String,
    /// The sync deactivated the account (the entry left or was disabled).
    pub sync_deactivated: bool,
    pub linked_at: Millis,
    /// The last time a sign-in or a sync found the entry.
    pub seen_at: Millis,
}

/// A directory sync run (`ldap_sync_runs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRun {
    pub id: i64,
    pub provider: String,
    pub dry_run: bool,
    /// What started it: `schedule`, `cli` or `api`.
    pub trigger: String,
    /// `running`, `done`, `failed` or `refused`.
    pub status: String,
    pub started_at: Millis,
    pub finished_at: Option<Millis>,
    pub done: u64,
    pub total: Option<u64>,
    /// The report, as the application wrote it (JSON).
    pub report: String,
    pub error: String,
}

/// Accounts linked to LDAP providers, and the runs of the directory sync.
#[async_trait]
pub trait LdapStore: Send + Sync + 'static {
    /// The account linked to the entry `external_id` of `provider`.
    async fn ldap_link_by_external(
        &self,
        provider: &str,
        external_id: &str,
    ) -> Result<Option<LdapLink>>;
    async fn ldap_link_of_user(&self, user_id: UserId) -> Result<Option<LdapLink>>;
    /// Every account linked to `provider`.
    async fn ldap_links(&self, provider: &str) -> Result<Vec<LdapLink>>;
    /// Creates or replaces the link of `link.user_id`. `Conflict` when the entry is linked to
    /// another account.
    async fn put_ldap_link(&self, link: LdapLink) -> Result<()>;
    /// Starts a run (status `running`) and returns its id.
    async fn start_sync_run(
        &self,
        provider: &str,
        dry_run: bool,
        trigger: &str,
        at: Millis,
    ) -> Result<i64>;
    /// Records a run's progress.
    async fn sync_run_progress(&self, id: i64, done: u64, total: Option<u64>) -> Result<()>;
    /// Ends a run with its status, report and error.
    async fn finish_sync_run(
        &self,
        id: i64,
        status: &str,
        report: &str,
        error: &str,
        at: Millis,
    ) -> Result<()>;
    /// The newest runs of `provider`, newest first.
    async fn sync_runs(&self, provider: &str, limit: u32) -> Result<Vec<SyncRun>>;
}

/// Incoming webhooks (`enclave_core::webhooks`): each bound to a channel, found by the hash of
/// its secret.
#[async_trait]
pub trait WebhookStore: Send + Sync + 'static {
    /// Records a webhook (its secret's hash, unique).
    async fn create_webhook(
        &self,
        channel_id: ChannelId,
        creator_id: UserId,
        name: String,
        secret_hash: String,
    ) -> Result<IncomingWebhook>;
    /// The webhook whose secret has this hash.
    async fn webhook_by_secret(&self, secret_hash: &str) -> Result<Option<IncomingWebhook>>;
    async fn webhook(&self, id: i64) -> Result<Option<IncomingWebhook>>;
    /// Every webhook, or a channel's, oldest first (at most `limit`).
    async fn list_webhooks(
        &self,
        channel_id: Option<ChannelId>,
        limit: u32,
    ) -> Result<Vec<IncomingWebhook>>;
    /// Replaces the secret; false when there is no such webhook.
    async fn rotate_webhook_secret(&self, id: i64, secret_hash: String) -> Result<bool>;
    async fn delete_webhook(&self, id: i64) -> Result<bool>;
}

/// A channel's own retention policy, with what the admin console shows of the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRetention {
    pub channel_id: ChannelId,
    pub name: Option<String>,
    pub kind: ChannelKind,
    pub policy: enclave_core::retention::ChannelPolicy,
    pub updated_at: Millis,
    pub updated_by: Option<UserId>,
}

/// Which of a channel's messages one purge step reads: replies go before thread roots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurgePhase {
    Replies,
    Roots,
}

/// Where a purge step stopped: the creation time and id of the last message it examined.
pub type PurgeCursor = (Millis, MessageId);

/// What one purge step ([`RetentionStore::purge_messages`]) did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgeBatch {
    /// Messages examined (older than the cutoff); fewer than the limit: the phase is done.
    pub examined: u32,
    /// Pass as `after` to the next step.
    pub last: Option<PurgeCursor>,
    /// Messages removed, with their reactions, mentions, search-index entries and attachments.
    pub messages: u64,
    /// Messages kept because a legal hold covers them.
    pub held: u64,
    /// Files no message (nor a hold) refers to any more: their rows are gone, the caller deletes
    /// their objects (and thumbnails).
    pub files: Vec<StoredFile>,
}

/// What the purge removed from one channel in a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelPurge {
    pub channel_id: ChannelId,
    /// Filled in when reading a run.
    pub name: Option<String>,
    pub kind: Option<ChannelKind>,
    pub messages: u64,
    pub files: u64,
    pub held: u64,
}

/// One run of the retention purge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionRun {
    pub id: i64,
    pub started_at: Millis,
    pub finished_at: Millis,
    /// Who asked for it (`None`: the schedule).
    pub started_by: Option<UserId>,
    pub messages: u64,
    pub files: u64,
    pub held: u64,
    /// Channels where something was removed or held.
    pub channels: Vec<ChannelPurge>,
}

/// Retention policies, legal holds and the purge (`enclave_core::retention` decides what goes;
/// the backends read the candidates and remove what it allows, in one transaction per step).
#[async_trait]
pub trait RetentionStore: Send + Sync + 'static {
    /// The global policy as set through the API; `None` when never set.
    async fn retention_policy(&self) -> Result<Option<enclave_core::retention::GlobalPolicy>>;
    async fn set_retention_policy(
        &self,
        policy: enclave_core::retention::GlobalPolicy,
        by: UserId,
    ) -> Result<()>;
    /// Every channel's own policy, by channel id.
    async fn channel_retentions(&self) -> Result<Vec<ChannelRetention>>;
    /// Sets (or with `None` removes) a channel's own policy. A channel that does not exist is
    /// `NotFound(Channel)`; a direct conversation is refused by
    /// `enclave_core::retention::check_override_target`.
    async fn set_channel_retention(
        &self,
        channel_id: ChannelId,
        policy: Option<enclave_core::retention::ChannelPolicy>,
        by: UserId,
    ) -> Result<()>;
    /// Every channel with its kind, for the purge.
    async fn retention_channels(&self) -> Result<Vec<(ChannelId, ChannelKind)>>;
    /// One step of the purge of a channel: up to `limit` messages of `phase` created before
    /// `before`, after the cursor `after`, each removed unless an active legal hold covers it
    /// (`enclave_core::retention::purgeable`) or, for a root, a reply of it remains
    /// (`root_removable`). Events that refer to removed messages are dropped from the log, with
    /// every event before them, so a client resuming from before them must resync.
    async fn purge_messages(
        &self,
        channel_id: ChannelId,
        before: Millis,
        phase: PurgePhase,
        after: Option<PurgeCursor>,
        limit: u32,
    ) -> Result<PurgeBatch>;
    /// Legal holds, newest first (at most `enclave_core::retention::MAX_HOLDS`).
    async fn legal_holds(&self) -> Result<Vec<enclave_core::retention::LegalHold>>;
    /// Places a hold (checked by `enclave_core::retention::check_hold` first); an unknown user
    /// or channel is `NotFound`.
    async fn create_legal_hold(
        &self,
        target: enclave_core::retention::HoldTarget,
        starts_at: Millis,
        ends_at: Option<Millis>,
        reason: String,
        by: UserId,
    ) -> Result<enclave_core::retention::LegalHold>;
    /// Releases a hold: `NotFound` when there is none, `Conflict` when it is released already.
    async fn release_legal_hold(
        &self,
        id: i64,
        by: UserId,
    ) -> Result<enclave_core::retention::LegalHold>;
    /// Records a finished run (the newest 100 runs are kept).
    async fn record_retention_run(&self, run: RetentionRun) -> Result<i64>;
    /// The newest run.
    async fn last_retention_run(&self) -> Result<Option<RetentionRun>>;
    /// What a hold kept of a message its author deleted: its text.
    async fn held_message_text(&self, id: MessageId) -> Result<Option<String>>;
}

/// A new outgoing webhook as the store keeps it: the rules' record plus its token (sent in
/// every request) and its signing secret, sealed by the application.
#[derive(Debug, Clone)]
pub struct NewOutgoingWebhook {
    pub channel_id: ChannelId,
    pub creator_id: UserId,
    pub name: String,
    pub url: String,
    pub trigger_words: Vec<String>,
    pub content_type: enclave_core::outgoing::ContentType,
    pub secret: OutgoingSecret,
}

/// An outgoing webhook's credentials: the `token` field it sends, and its signing secret sealed
/// under the key named `key_id` (the application seals and opens it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingSecret {
    pub token: String,
    pub key_id: String,
    pub sealed: Vec<u8>,
}

/// What one attempt of a delivery changed.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub http_status: Option<u16>,
    pub error: Option<String>,
    /// When pending: the next attempt.
    pub next_attempt_at: Option<Millis>,
}

/// Outgoing webhooks (`enclave_core::outgoing`), their delivery log (a queue of pending
/// deliveries and the newest finished ones) and the position in the event log up to which
/// messages have been looked at.
#[async_trait]
pub trait OutgoingWebhookStore: Send + Sync + 'static {
    async fn create_outgoing(&self, new: NewOutgoingWebhook) -> Result<OutgoingWebhook>;
    async fn outgoing(&self, id: i64) -> Result<Option<OutgoingWebhook>>;
    async fn outgoing_secret(&self, id: i64) -> Result<Option<OutgoingSecret>>;
    /// Outgoing webhooks, oldest first, of one creator and/or one channel (at most `limit`).
    async fn list_outgoing(
        &self,
        creator_id: Option<UserId>,
        channel_id: Option<ChannelId>,
        limit: u32,
    ) -> Result<Vec<OutgoingWebhook>>;
    /// Replaces the token and signing secret; false when there is no such webhook.
    async fn rotate_outgoing(&self, id: i64, secret: OutgoingSecret) -> Result<bool>;
    /// Deletes the webhook and its delivery log.
    async fn delete_outgoing(&self, id: i64) -> Result<bool>;
    /// The event position up to which messages were looked at (`None` before the first time).
    async fn outgoing_cursor(&self) -> Result<Option<i64>>;
    /// In one transaction: a pending delivery, due now, for each (webhook, message) not yet
    /// recorded, and the cursor moved to `position` (never back). Returns how many were added.
    async fn enqueue_deliveries(
        &self,
        position: i64,
        items: Vec<(i64, enclave_core::MessageId)>,
    ) -> Result<u64>;
    /// Takes up to `limit` pending deliveries due at `now`, oldest due first, and makes them due
    /// again at `lease_until` (so a node that stops while sending leaves them to be retried, and
    /// two nodes never take the same one at once).
    async fn claim_deliveries(
        &self,
        now: Millis,
        lease_until: Millis,
        limit: u32,
    ) -> Result<Vec<Delivery>>;
    /// Records an attempt's outcome; a finished delivery then drops the webhook's finished
    /// deliveries beyond the newest `keep`.
    async fn record_attempt(&self, id: i64, record: AttemptRecord, keep: u32) -> Result<()>;
    /// A webhook's delivery log, newest first.
    async fn list_deliveries(&self, webhook_id: i64, limit: u32) -> Result<Vec<Delivery>>;
}

/// A custom slash command about to be recorded (its secret sealed by the application, as an
/// outgoing webhook's).
#[derive(Debug, Clone)]
pub struct NewCommand {
    pub trigger: String,
    pub description: String,
    pub usage_hint: String,
    pub url: String,
    pub creator_id: UserId,
    pub secret: OutgoingSecret,
}

/// Where a command's `response_url` answers: the conversation (and thread) it was typed in, and
/// for whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseTarget {
    pub command_id: i64,
    pub channel_id: ChannelId,
    pub user_id: UserId,
    pub thread_root_id: Option<enclave_core::MessageId>,
}

/// Custom slash commands (`enclave_core::commands`), their `response_url`s, and texts shown to
/// one person only (appended to the event log as `ephemeral.posted`).
#[async_trait]
pub trait CommandStore: Send + Sync + 'static {
    /// Records a command; a trigger in use is a conflict.
    async fn create_command(
        &self,
        new: NewCommand,
    ) -> Result<enclave_core::commands::CustomCommand>;
    async fn command(&self, id: i64) -> Result<Option<enclave_core::commands::CustomCommand>>;
    async fn command_by_trigger(
        &self,
        trigger: &str,
    ) -> Result<Option<enclave_core::commands::CustomCommand>>;
    /// Every command, by trigger (at most `limit`).
    async fn list_commands(&self, limit: u32)
    -> Result<Vec<enclave_core::commands::CustomCommand>>;
    async fn command_secret(&self, id: i64) -> Result<Option<OutgoingSecret>>;
    /// Replaces the token and signing secret; false when there is no such command.
    async fn rotate_command(&self, id: i64, secret: OutgoingSecret) -> Result<bool>;
    /// Deletes the command and its open `response_url`s.
    async fn delete_command(&self, id: i64) -> Result<bool>;
    /// Records a `response_url` (its token's SHA-256) open until `expires_at`; drops those that
    /// expired before `now`.
    async fn create_response_url(
        &self,
        token_hash: String,
        target: ResponseTarget,
        expires_at: Millis,
        now: Millis,
    ) -> Result<()>;
    /// Takes one use of a `response_url` open at `now` (the core's rule,
    /// `commands::response_url_open`); `None` when unknown, expired or used up.
    async fn take_response_url(
        &self,
        token_hash: &str,
        now: Millis,
    ) -> Result<Option<ResponseTarget>>;
    /// Appends `ephemeral.posted` for `target.user_id` in `target.channel_id` with `text`.
    async fn post_ephemeral(
        &self,
        user_id: UserId,
        channel_id: ChannelId,
        thread_root_id: Option<enclave_core::MessageId>,
        text: String,
    ) -> Result<()>;
}

/// Leases on named scheduled jobs, so that one node of a cluster runs such a job at a time
/// (`enclave_app::jobs`). A lease is a name, its holder (a node) and the time it runs out.
#[async_trait]
pub trait LeaseStore: Send + Sync + 'static {
    /// Takes the lease `name` for `holder` until `until`, when nobody else holds it at `now`
    /// (it was never taken, it ran out, or `holder` has it already). True when `holder` holds
    /// it now; false, changing nothing, when another holder's lease still runs.
    async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now: Millis,
        until: Millis,
    ) -> Result<bool>;
}

/// What an import maps from its source's ids (`import_map.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKind {
    User,
    Channel,
    Message,
}

impl ImportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportKind::User => "user",
            ImportKind::Channel => "channel",
            ImportKind::Message => "message",
        }
    }
}

/// An account made by an import. It has no password: its person signs in through single
/// sign-on or after an administrator's reset.
#[derive(Debug, Clone)]
pub struct ImportedUser {
    pub ext_id: String,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub is_bot: bool,
    pub active: bool,
}

/// A conversation made by an import. Direct and group conversations are found by their
/// members first (an existing one is mapped, not duplicated).
#[derive(Debug, Clone)]
pub struct ImportedChannel {
    pub ext_id: String,
    pub kind: ChannelKind,
    /// Name and its key, for public and private channels.
    pub name: Option<(String, String)>,
    pub topic: String,
    pub purpose: String,
    pub creator_id: UserId,
    /// Every member, the creator included when they are one.
    pub members: Vec<UserId>,
    pub archived_at: Option<Millis>,
    pub created_at: Millis,
}

/// A message written by an import with its original time, edit time, pin and reactions.
#[derive(Debug, Clone)]
pub struct ImportedMessage {
    pub ext_id: String,
    pub user_id: UserId,
    pub text: String,
    pub mentions: Mentions,
    /// The external id of the thread's root; a root that is not imported (or not a root of the
    /// same channel) makes the message a top-level one, counted in `roots_missing`.
    pub thread_root: Option<String>,
    pub created_at: Millis,
    pub edited_at: Option<Millis>,
    pub pinned: bool,
    /// (emoji, who), already within the reaction rules.
    pub reactions: Vec<(String, UserId)>,
}

/// What one batch of imported messages did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportedBatch {
    pub inserted: u64,
    /// Mapped by an earlier run: left alone.
    pub already: u64,
    pub roots_missing: u64,
}

/// Bulk writes of an import (`enclave import`). Each call is one transaction that writes its
/// rows, their `import_map` rows and their events together, so a second run skips what a
/// first one wrote and a run stopped at any point finishes on the next. Messages get the
/// channel's next sequence numbers in the order given, their search index entries and
/// mentions in the same transaction, and one `channel.updated` event per batch (not one
/// `message.created` each: clients read the history when they open the channel).
#[async_trait]
pub trait ImportStore: Send + Sync + 'static {
    /// Every mapping of `source` of one kind: external id → local id.
    async fn import_mappings(
        &self,
        source: &str,
        kind: ImportKind,
    ) -> Result<std::collections::HashMap<String, i64>>;
    /// Creates the accounts not mapped yet and maps them, and maps `links` (external id →
    /// an existing account). Returns every mapping written.
    async fn import_users(
        &self,
        source: &str,
        users: Vec<ImportedUser>,
        links: Vec<(String, UserId)>,
    ) -> Result<Vec<(String, UserId)>>;
    /// Creates (or finds) a conversation and maps it; `true` when it was created. A public
    /// channel name already taken is `Conflict`.
    async fn import_channel(
        &self,
        source: &str,
        channel: ImportedChannel,
    ) -> Result<(ChannelId, bool)>;
    /// Writes one batch of a conversation's messages, in order, skipping those mapped already;
    /// then marks the conversation read up to its end for its members.
    async fn import_messages(
        &self,
        source: &str,
        channel: ChannelId,
        messages: Vec<ImportedMessage>,
    ) -> Result<ImportedBatch>;
}

/// The whole storage interface: every aggregate's trait. Both backends implement all of it,
/// and one conformance suite (`tests/conformance.rs`) checks them alike. Services take only
/// the traits they use; an `Arc<dyn Store>` coerces to any of them.
pub trait Store:
    Lifecycle
    + AccountStore
    + RoleStore
    + ChannelStore
    + MessageStore
    + FileStore
    + SearchStore
    + EventLog
    + AuditStore
    + ThrottleStore
    + DepartmentStore
    + SecondFactorStore
    + SsoStore
    + LdapStore
    + LeaseStore
    + WebhookStore
    + OutgoingWebhookStore
    + CommandStore
    + ImportStore
    + RetentionStore
{
}

impl<T> Store for T where
    T: Lifecycle
        + AccountStore
        + RoleStore
        + ChannelStore
        + MessageStore
        + FileStore
        + SearchStore
        + EventLog
        + AuditStore
        + ThrottleStore
        + DepartmentStore
        + SecondFactorStore
        + SsoStore
        + LdapStore
        + LeaseStore
        + WebhookStore
        + OutgoingWebhookStore
        + CommandStore
        + ImportStore
        + RetentionStore
        + ?Sized
{
}
