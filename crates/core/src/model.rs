//! The domain records. They carry no serialisation: each door defines its own wire shapes.

use crate::ids::{AppPasswordId, ChannelId, FileId, MessageId, Millis, TokenId, UserId};
use crate::permissions::Scope;

/// A person or bot account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    /// Lower-case handle, unique; what `@mentions` name.
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    /// Site administrator: manages accounts and public channels. Stored as a flag; an actor gets
    /// it as `Role::Admin` through `roles::roles_of`.
    pub is_admin: bool,
    pub is_bot: bool,
    /// A deactivated user cannot authenticate; their sessions stop working at once.
    pub active: bool,
    /// A short status chosen by the user ("in a meeting"), empty when none.
    pub status_text: String,
    /// Do not disturb: notifications are held back.
    pub dnd: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// A guest: invited into named channels only; holds the guest role and nothing else.
    pub is_guest: bool,
    /// When a guest's access ends (they cannot sign in after it, their sessions stop working,
    /// and a job deactivates them). `None` for everyone else (and guests without expiry where
    /// the policy allows it).
    pub guest_expires_at: Option<Millis>,
    /// Whether the account holds the built-in member role (every account but guests, unless an
    /// administrator removed it to give custom roles alone).
    pub member_role: bool,
}

/// Whether a user is reachable now, derived from their connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Presence {
    /// At least one connection was active within the idle timeout.
    Online,
    /// Connected, but idle on every connection.
    Away,
    /// No connection.
    Offline,
}

impl Presence {
    pub fn as_str(self) -> &'static str {
        match self {
            Presence::Online => "online",
            Presence::Away => "away",
            Presence::Offline => "offline",
        }
    }
}

/// The four kinds of conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelKind {
    /// Listed in the directory; any active user may read and join.
    Public,
    /// Visible only to its members; joined by invitation.
    Private,
    /// A direct conversation between two people (or one person's notes to self).
    Dm,
    /// A direct conversation among three to [`MAX_GROUP_DM_MEMBERS`] people; fixed membership.
    GroupDm,
}

/// The most people in a group direct message, the creator included.
pub const MAX_GROUP_DM_MEMBERS: usize = 8;

impl ChannelKind {
    pub const ALL: [ChannelKind; 4] = [
        ChannelKind::Public,
        ChannelKind::Private,
        ChannelKind::Dm,
        ChannelKind::GroupDm,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Public => "public",
            ChannelKind::Private => "private",
            ChannelKind::Dm => "dm",
            ChannelKind::GroupDm => "group_dm",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        ChannelKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Direct conversations have a fixed membership and no name of their own.
    pub fn is_direct(self) -> bool {
        matches!(self, ChannelKind::Dm | ChannelKind::GroupDm)
    }
}

/// A member's role within one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ChannelRole {
    Member,
    Admin,
    Owner,
}

impl ChannelRole {
    pub const ALL: [ChannelRole; 3] = [ChannelRole::Member, ChannelRole::Admin, ChannelRole::Owner];

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelRole::Member => "member",
            ChannelRole::Admin => "admin",
            ChannelRole::Owner => "owner",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        ChannelRole::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Owners and admins moderate the channel.
    pub fn moderates(self) -> bool {
        self >= ChannelRole::Admin
    }
}

/// A conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub id: ChannelId,
    pub kind: ChannelKind,
    /// Display name of a public or private channel; `None` for direct conversations.
    pub name: Option<String>,
    pub topic: String,
    pub purpose: String,
    pub creator_id: Option<UserId>,
    /// Sequence number of the newest message (0 when empty).
    pub last_seq: i64,
    pub n_members: i64,
    pub archived_at: Option<Millis>,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// An announcement channel: only channel admins and holders of
    /// `SitePermission::PostInAnnouncementChannels` post; everyone else reads and reacts.
    pub announcement: bool,
}

impl Channel {
    pub fn is_archived(&self) -> bool {
        self.archived_at.is_some()
    }
}

/// One user's membership in one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub channel_id: ChannelId,
    pub user_id: UserId,
    pub role: ChannelRole,
    /// Messages with `seq` up to this one count as read.
    pub last_read_seq: i64,
    pub joined_at: Millis,
}

/// A channel as one member sees it in their list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelSummary {
    pub channel: Channel,
    pub membership: Membership,
    /// Unread top-level messages by others.
    pub unread_count: i64,
    /// Unread messages (replies included) that mention this member, `@channel` and `@here` included.
    pub mention_count: i64,
    /// For direct conversations: the other members' ids (empty for notes to self).
    pub dm_user_ids: Vec<UserId>,
}

/// Who a message mentions, as parsed from its text and resolved to accounts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mentions {
    pub user_ids: Vec<UserId>,
    /// `@channel`, `@all` or `@everyone`.
    pub channel: bool,
    /// `@here`.
    pub here: bool,
}

/// All reactions with one emoji on one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactionGroup {
    pub emoji: String,
    pub user_ids: Vec<UserId>,
}

/// A chat message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: MessageId,
    pub channel_id: ChannelId,
    /// Position in its channel: 1, 2, 3... without gaps.
    pub seq: i64,
    pub user_id: UserId,
    /// Markdown source. Empty once deleted.
    pub text: String,
    pub thread_root_id: Option<MessageId>,
    pub client_msg_id: Option<String>,
    pub mentions: Mentions,
    pub created_at: Millis,
    pub edited_at: Option<Millis>,
    pub deleted_at: Option<Millis>,
    pub reply_count: i64,
    pub last_reply_at: Option<Millis>,
    pub pinned_at: Option<Millis>,
    pub pinned_by: Option<UserId>,
    pub reactions: Vec<ReactionGroup>,
    /// Files attached to the message, in the order they were given.
    pub files: Vec<FileMeta>,
    /// A notice about the conversation itself (`notices`): `None` for what people wrote.
    pub notice: Option<crate::notices::NoticeKind>,
}

impl Message {
    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }
}

/// What kind of bearer credential a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Created by a password login; expires.
    Session,
    /// Created by the user for scripts and bots; optional expiry.
    PersonalAccess,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Session => "session",
            TokenKind::PersonalAccess => "pat",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "session" => Some(TokenKind::Session),
            "pat" => Some(TokenKind::PersonalAccess),
            _ => None,
        }
    }
}

/// A session or personal access token, as listed to its owner (never the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: TokenId,
    pub user_id: UserId,
    pub kind: TokenKind,
    /// Label for personal access tokens; for sessions the device, read from the user agent
    /// ("Chrome on Windows").
    pub name: String,
    pub created_at: Millis,
    /// When the credential was last used (written at most once a minute).
    pub last_used_at: Option<Millis>,
    pub expires_at: Option<Millis>,
    /// What the credential allows: [`Scope::Session`] for sessions.
    pub scope: Scope,
    /// For sessions: the client the sign-in named ("Enclave web", a script's name); may be empty.
    pub client: String,
    /// For sessions: the address the sign-in came from.
    pub ip: Option<String>,
}

/// An app password, as listed to its owner (never the secret or its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppPasswordInfo {
    pub id: AppPasswordId,
    pub user_id: UserId,
    pub name: String,
    /// The first characters of the password, shown so that its owner can tell them apart.
    pub hint: String,
    pub created_at: Millis,
    pub last_used_at: Option<Millis>,
}

/// Where a history page is anchored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// The newest messages.
    Latest,
    /// Messages with `seq` strictly below this one.
    Before(i64),
    /// Messages with `seq` strictly above this one.
    After(i64),
    /// Messages around this one, itself included.
    Around(i64),
}

/// Default and maximum history page sizes.
pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 200;

/// Most files attached to one message.
pub const MAX_FILES_PER_MESSAGE: usize = 10;

/// A small preview image made from an uploaded image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thumbnail {
    pub width: u32,
    pub height: u32,
    pub content_type: String,
}

/// An uploaded file as users see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    pub id: FileId,
    /// The name given at upload (sanitised; never a path).
    pub name: String,
    /// Size of the content in bytes.
    pub size: u64,
    /// Media type sniffed from the content, never taken from the client.
    pub content_type: String,
    /// Pixel size, for images.
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub thumbnail: Option<Thumbnail>,
    /// The first lines of a text file, once the application has opened them from
    /// `sealed_preview`.
    pub preview: Option<String>,
    /// The first lines of a text file as stored: encrypted, openable only with the master keys
    /// the application holds. The store returns this, never `preview`.
    pub sealed_preview: Option<SealedPreview>,
    pub uploader_id: UserId,
    pub created_at: Millis,
}

/// A text preview encrypted under its file's data key, with that data key wrapped under the
/// master key `key_id`: everything needed to open it except the master key.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedPreview {
    pub key_id: String,
    pub wrapped_key: Vec<u8>,
    pub sealed: Vec<u8>,
}

impl std::fmt::Debug for SealedPreview {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedPreview")
            .field("key_id", &self.key_id)
            .field("sealed_len", &self.sealed.len())
            .finish_non_exhaustive()
    }
}
