//! Wire shapes of the REST API. Ids are decimal strings; times are RFC 3339 UTC strings with
//! millisecond precision. Domain types never reach the wire directly: each has a DTO here.

use enclave_app::realtime::PresenceInfo;
use enclave_core::{
    Channel, ChannelSummary, FileMeta, Membership, Message, Millis, TokenInfo, User,
};
use serde::{Deserialize, Deserializer, Serialize};
use time::format_description::well_known::Rfc3339;
use ts_rs::TS;
use utoipa::ToSchema;

/// Formats a timestamp as RFC 3339.
pub fn ts(m: Millis) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(m.0) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

fn opt_ts(m: Option<Millis>) -> Option<String> {
    m.map(ts)
}

/// An id in a request body: a decimal string (numbers are accepted too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ToSchema, TS)]
#[schema(value_type = String, example = "42")]
#[ts(type = "string")]
pub struct WireId(pub i64);

impl<'de> Deserialize<'de> for WireId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Str(String),
            Num(i64),
        }
        match Raw::deserialize(d)? {
            Raw::Num(n) if n > 0 => Ok(WireId(n)),
            Raw::Str(s)
                if !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit()) =>
            {
                s.parse().map(WireId).map_err(serde::de::Error::custom)
            }
            _ => Err(serde::de::Error::custom(
                "expected an id (a decimal string)",
            )),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Departments and the directory: in `departments_dto.rs`.
pub use crate::departments_dto::*;

// ---------------------------------------------------------------------------------------------
// Users and auth

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct UserDto {
    pub id: String,
    pub username: String,
    pub display_name: String,
    /// Shown to the user themself and to administrators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub email: Option<String>,
    pub is_admin: bool,
    pub is_bot: bool,
    pub active: bool,
    pub created_at: String,
}

impl UserDto {
    /// `reveal_email` when the viewer is the user or an administrator.
    pub fn new(u: &User, reveal_email: bool) -> Self {
        UserDto {
            id: u.id.to_string(),
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            email: if reveal_email { u.email.clone() } else { None },
            is_admin: u.is_admin,
            is_bot: u.is_bot,
            active: u.active,
            created_at: ts(u.created_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[ts(optional_fields = nullable)]
pub struct LoginRequest {
    /// Username or email address.
    pub login: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct LoginResponse {
    /// A bearer token; also set as the `enclave_session` HttpOnly cookie.
    pub token: String,
    pub user: UserDto,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct SetupStatus {
    /// True until an administrator exists; then create one with `enclave admin create-user NAME --admin`.
    pub needs_setup: bool,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[ts(optional_fields = nullable)]
pub struct CreateUserRequest {
    pub username: String,
    /// Omit for accounts that only use tokens (bots).
    pub password: Option<String>,
    pub display_name: Option<String>,
    pub email: Option<String>,
    #[serde(default)]
    #[ts(as = "Option<_>", optional)]
    pub admin: bool,
    #[serde(default)]
    #[ts(as = "Option<_>", optional)]
    pub bot: bool,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[ts(optional_fields = nullable)]
pub struct UpdateUserRequest {
    pub display_name: Option<String>,
    /// An empty string clears the address.
    pub email: Option<String>,
    pub password: Option<String>,
    /// Required when changing one's own password.
    pub current_password: Option<String>,
    /// `false` deactivates (administrators only) and revokes every session and personal access
    /// token of the account; `true` reactivates, with none of them coming back.
    pub active: Option<bool>,
    /// Grants or revokes administration (administrators only).
    pub admin: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema, Default, TS)]
#[ts(optional_fields)]
pub struct UserListQuery {
    /// Substring of username or display name.
    pub q: Option<String>,
    /// Continue after this username.
    pub after: Option<String>,
    pub limit: Option<u32>,
    /// Administrators only.
    #[serde(default)]
    #[ts(as = "Option<_>", optional)]
    pub include_inactive: bool,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct UserList {
    pub users: Vec<UserDto>,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct TokenDto {
    pub id: String,
    /// `session` or `pat`.
    pub kind: String,
    pub name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub expires_at: Option<String>,
    /// Whether this is the credential the listing request used.
    pub current: bool,
}

impl TokenDto {
    pub fn new(t: &TokenInfo, current: bool) -> Self {
        TokenDto {
            id: t.id.to_string(),
            kind: t.kind.as_str().to_owned(),
            name: t.name.clone(),
            created_at: ts(t.created_at),
            last_used_at: opt_ts(t.last_used_at),
            expires_at: opt_ts(t.expires_at),
            current,
        }
    }
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct TokenList {
    pub tokens: Vec<TokenDto>,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[ts(optional_fields = nullable)]
pub struct CreateTokenRequest {
    pub name: String,
    /// Days until the token expires; omit for no expiry.
    pub expires_in_days: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct CreatedToken {
    /// The secret, shown only this once.
    pub token: String,
    #[serde(flatten)]
    pub info: TokenDto,
}

/// A user's presence as others see it.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct PresenceDto {
    pub user_id: String,
    /// `online`, `away` or `offline`.
    #[ts(type = "'online' | 'away' | 'offline'")]
    pub presence: String,
    pub status_text: String,
    pub dnd: bool,
}

impl PresenceDto {
    pub fn new(p: &PresenceInfo) -> Self {
        PresenceDto {
            user_id: p.user_id.to_string(),
            presence: p.presence.as_str().to_owned(),
            status_text: p.status_text.clone(),
            dnd: p.dnd,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Channels

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct ChannelDto {
    pub id: String,
    /// `null` for direct conversations.
    pub name: Option<String>,
    /// `public`, `private`, `dm` or `group_dm`.
    #[ts(type = "ChannelKind")]
    pub kind: String,
    pub topic: String,
    pub purpose: String,
    pub creator_id: Option<String>,
    pub n_members: i64,
    /// Sequence number of the newest message.
    pub last_seq: i64,
    pub archived: bool,
    pub archived_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// The viewer's role; absent when not a member.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub last_read_seq: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub unread_count: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub mention_count: Option<i64>,
    /// For direct conversations: the other participants.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub dm_user_ids: Option<Vec<String>>,
}

impl ChannelDto {
    pub fn new(c: &Channel) -> Self {
        ChannelDto {
            id: c.id.to_string(),
            name: c.name.clone(),
            kind: c.kind.as_str().to_owned(),
            topic: c.topic.clone(),
            purpose: c.purpose.clone(),
            creator_id: c.creator_id.map(|u| u.to_string()),
            n_members: c.n_members,
            last_seq: c.last_seq,
            archived: c.archived_at.is_some(),
            archived_at: opt_ts(c.archived_at),
            created_at: ts(c.created_at),
            updated_at: ts(c.updated_at),
            role: None,
            last_read_seq: None,
            unread_count: None,
            mention_count: None,
            dm_user_ids: None,
        }
    }

    pub fn summary(s: &ChannelSummary) -> Self {
        ChannelDto {
            role: Some(s.membership.role.as_str().to_owned()),
            last_read_seq: Some(s.membership.last_read_seq),
            unread_count: Some(s.unread_count),
            mention_count: Some(s.mention_count),
            dm_user_ids: s
                .channel
                .kind
                .is_direct()
                .then(|| s.dm_user_ids.iter().map(|u| u.to_string()).collect()),
            ..ChannelDto::new(&s.channel)
        }
    }
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct ChannelList {
    pub channels: Vec<ChannelDto>,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[ts(optional_fields = nullable)]
pub struct CreateChannelRequest {
    pub name: String,
    /// `public` or `private`.
    #[ts(type = "'public' | 'private'")]
    pub kind: String,
    pub topic: Option<String>,
    pub purpose: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[ts(optional_fields = nullable)]
pub struct UpdateChannelRequest {
    pub name: Option<String>,
    pub topic: Option<String>,
    pub purpose: Option<String>,
    /// `true` archives, `false` unarchives.
    pub archived: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema, Default, TS)]
#[ts(optional_fields)]
pub struct BrowseQueryParams {
    pub q: Option<String>,
    /// Continue after this channel id.
    pub after: Option<String>,
    pub limit: Option<u32>,
    #[serde(default)]
    #[ts(as = "Option<_>", optional)]
    pub include_archived: bool,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[ts(optional_fields = nullable)]
pub struct OpenDmRequest {
    /// The other participants (0 for notes to self, 1 for a direct message, 2 to 7 for a group).
    pub user_ids: Vec<WireId>,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct MembershipDto {
    pub channel_id: String,
    pub user_id: String,
    /// `owner`, `admin` or `member`.
    pub role: String,
    pub last_read_seq: i64,
    pub joined_at: String,
}

impl MembershipDto {
    pub fn new(m: &Membership) -> Self {
        MembershipDto {
            channel_id: m.channel_id.to_string(),
            user_id: m.user_id.to_string(),
            role: m.role.as_str().to_owned(),
            last_read_seq: m.last_read_seq,
            joined_at: ts(m.joined_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct MemberDto {
    pub user: UserDto,
    pub role: String,
    pub joined_at: String,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct MemberList {
    pub members: Vec<MemberDto>,
}

#[derive(Debug, Deserialize, ToSchema, Default, TS)]
#[ts(optional_fields)]
pub struct MemberListQuery {
    /// Continue after this user id.
    pub after: Option<String>,
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[ts(optional_fields = nullable)]
pub struct AddMemberRequest {
    pub user_id: WireId,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[ts(optional_fields = nullable)]
pub struct UpdateMemberRequest {
    /// `owner`, `admin` or `member`.
    pub role: String,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[ts(optional_fields = nullable)]
pub struct MarkReadRequest {
    /// Everything up to and including this sequence number counts as read.
    pub seq: i64,
}

// ---------------------------------------------------------------------------------------------
// Messages

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct ReactionDto {
    pub emoji: String,
    pub count: usize,
    pub user_ids: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct MentionsDto {
    pub user_ids: Vec<String>,
    /// `@channel`, `@all` or `@everyone`.
    pub channel: bool,
    pub here: bool,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct MessageDto {
    pub id: String,
    pub channel_id: String,
    /// Position in the channel: 1, 2, 3... with no gaps.
    pub seq: i64,
    pub user_id: String,
    /// Markdown source; empty when deleted.
    pub text: String,
    pub thread_root_id: Option<String>,
    pub client_msg_id: Option<String>,
    pub created_at: String,
    pub edited_at: Option<String>,
    pub deleted: bool,
    pub deleted_at: Option<String>,
    pub reply_count: i64,
    pub last_reply_at: Option<String>,
    pub pinned: bool,
    pub pinned_at: Option<String>,
    pub pinned_by: Option<String>,
    pub reactions: Vec<ReactionDto>,
    pub mentions: MentionsDto,
    /// Attached files (empty once the message is deleted).
    pub files: Vec<FileDto>,
}

impl MessageDto {
    pub fn new(m: &Message) -> Self {
        MessageDto {
            id: m.id.to_string(),
            channel_id: m.channel_id.to_string(),
            seq: m.seq,
            user_id: m.user_id.to_string(),
            text: m.text.clone(),
            thread_root_id: m.thread_root_id.map(|r| r.to_string()),
            client_msg_id: m.client_msg_id.clone(),
            created_at: ts(m.created_at),
            edited_at: opt_ts(m.edited_at),
            deleted: m.deleted_at.is_some(),
            deleted_at: opt_ts(m.deleted_at),
            reply_count: m.reply_count,
            last_reply_at: opt_ts(m.last_reply_at),
            pinned: m.pinned_at.is_some(),
            pinned_at: opt_ts(m.pinned_at),
            pinned_by: m.pinned_by.map(|u| u.to_string()),
            reactions: m
                .reactions
                .iter()
                .map(|g| ReactionDto {
                    emoji: g.emoji.clone(),
                    count: g.user_ids.len(),
                    user_ids: g.user_ids.iter().map(|u| u.to_string()).collect(),
                })
                .collect(),
            mentions: MentionsDto {
                user_ids: m.mentions.user_ids.iter().map(|u| u.to_string()).collect(),
                channel: m.mentions.channel,
                here: m.mentions.here,
            },
            files: m.files.iter().map(FileDto::new).collect(),
        }
    }
}

/// A thumbnail of an image file, served at `GET /api/v1/files/{id}/thumbnail`.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct ThumbnailDto {
    pub width: u32,
    pub height: u32,
    pub content_type: String,
}

/// An uploaded file. Its content is at `GET /api/v1/files/{id}`.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct FileDto {
    pub id: String,
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// Sniffed from the content, not taken from the uploader.
    pub content_type: String,
    /// Pixel size, for images.
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub thumbnail: Option<ThumbnailDto>,
    /// The first lines, for text files.
    pub preview: Option<String>,
    pub uploader_id: String,
    pub created_at: String,
}

impl FileDto {
    pub fn new(f: &FileMeta) -> Self {
        FileDto {
            id: f.id.to_string(),
            name: f.name.clone(),
            size: f.size,
            content_type: f.content_type.clone(),
            width: f.width,
            height: f.height,
            thumbnail: f.thumbnail.as_ref().map(|t| ThumbnailDto {
                width: t.width,
                height: t.height,
                content_type: t.content_type.clone(),
            }),
            preview: f.preview.clone(),
            uploader_id: f.uploader_id.to_string(),
            created_at: ts(f.created_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema, Default, TS)]
#[ts(optional_fields)]
pub struct UploadQuery {
    /// The file's name (shown to readers and offered on download; paths are stripped).
    pub name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema, Default, TS)]
#[ts(optional_fields)]
pub struct DownloadQuery {
    /// `true` to always download (`Content-Disposition: attachment`), even for images.
    #[serde(default)]
    #[ts(as = "Option<_>", optional)]
    pub download: bool,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct MessageList {
    /// In ascending `seq` order.
    pub messages: Vec<MessageDto>,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[ts(optional_fields = nullable)]
pub struct PostMessageRequest {
    /// Markdown, 1 to 16,000 characters.
    pub text: String,
    /// Chosen by the client; a retry with the same id returns the first message instead of posting twice.
    pub client_msg_id: Option<String>,
    /// Makes this message a reply in that message's thread.
    pub thread_root_id: Option<WireId>,
    /// Files uploaded by the poster (`POST /api/v1/files`) to attach; at most 10. With files,
    /// `text` may be empty.
    #[serde(default)]
    #[ts(as = "Option<_>", optional)]
    pub file_ids: Vec<WireId>,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[ts(optional_fields = nullable)]
pub struct EditMessageRequest {
    pub text: String,
}

#[derive(Debug, Deserialize, ToSchema, Default, TS)]
#[ts(optional_fields)]
pub struct HistoryQuery {
    /// Messages before this sequence number.
    pub before: Option<i64>,
    /// Messages after this sequence number.
    pub after: Option<i64>,
    /// Messages around this sequence number, itself included.
    pub around: Option<i64>,
    /// 1 to 200; 50 by default.
    pub limit: Option<u32>,
    /// Include thread replies in the channel's history.
    #[serde(default)]
    #[ts(as = "Option<_>", optional)]
    pub include_replies: bool,
}

#[derive(Debug, Deserialize, ToSchema, Default, TS)]
#[ts(optional_fields)]
pub struct ThreadQuery {
    /// Replies after this sequence number.
    pub after: Option<i64>,
    /// 1 to 1000; 200 by default.
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct Health {
    pub status: String,
}

// ---------------------------------------------------------------------------------------------
// Search

#[derive(Debug, Deserialize, ToSchema, Default, TS)]
#[ts(optional_fields)]
pub struct SearchQueryParams {
    /// The query: words, `"phrases"`, `word*` prefixes, and the filters `from:@user`,
    /// `in:#channel`, `before:YYYY-MM-DD`, `after:YYYY-MM-DD`. At most 500 characters.
    #[serde(default)]
    #[ts(as = "Option<_>", optional)]
    pub q: String,
    /// 1 to 100; 20 by default.
    pub limit: Option<u32>,
    /// Results to skip, at most 1000; 0 by default.
    pub offset: Option<u32>,
}

/// A piece of a snippet. Render `text` as plain text; `hit` marks what matched.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct SnippetSegment {
    pub text: String,
    pub hit: bool,
}

/// The channel a result is in.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct SearchChannel {
    pub id: String,
    /// `null` for direct conversations.
    pub name: Option<String>,
    /// `public`, `private`, `dm` or `group_dm`.
    #[ts(type = "ChannelKind")]
    pub kind: String,
}

impl SearchChannel {
    pub fn new(c: &Channel) -> Self {
        SearchChannel {
            id: c.id.to_string(),
            name: c.name.clone(),
            kind: c.kind.as_str().to_owned(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct SearchResult {
    pub message: MessageDto,
    pub channel: SearchChannel,
    /// Up to about 160 characters of the text around the first hit, in order; `…` marks a cut.
    pub snippet: Vec<SnippetSegment>,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct SearchResults {
    /// Best match first (newest first when the query has only filters).
    pub results: Vec<SearchResult>,
    /// The `offset` of the next page; `null` when there is none.
    pub next_offset: Option<u32>,
}

#[derive(Debug, Deserialize, ToSchema, Default, TS)]
#[ts(optional_fields)]
pub struct ChannelSearchParams {
    /// Part of the channel name, 1 to 64 characters.
    #[serde(default)]
    #[ts(as = "Option<_>", optional)]
    pub q: String,
    /// 1 to 100; 20 by default.
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct ChannelMatch {
    pub channel: ChannelDto,
    /// Whether the viewer is a member (otherwise it is a public channel they may join).
    pub member: bool,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct ChannelMatches {
    pub channels: Vec<ChannelMatch>,
}
