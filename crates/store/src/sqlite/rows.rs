//! Mapping between SQLite rows and domain records. Column lists here and the readers below
//! must stay in the same order.

use enclave_core::{
    AppPasswordId, AppPasswordInfo, Channel, ChannelId, ChannelKind, ChannelRole, Event, EventKind,
    Membership, Message, MessageId, Millis, Scope, TokenId, TokenInfo, TokenKind, User, UserId,
};
use rusqlite::Row;
use rusqlite::types::Type;

use crate::common::mentions_from_columns;

pub const USER_COLS: &str = "id, username, display_name, email, is_admin, is_bot, active, created_at, \
     updated_at, status_text, dnd, is_guest, guest_expires_at, member_role";
/// How many columns [`USER_COLS`] has.
pub const N_USER_COLS: usize = 14;
pub const CHANNEL_COLS: &str = "id, kind, name, topic, purpose, creator_id, last_seq, n_members, archived_at, created_at, updated_at, announcement";
/// How many columns [`CHANNEL_COLS`] has.
pub const N_CHANNEL_COLS: usize = 12;
pub const MEMBER_COLS: &str = "channel_id, user_id, role, last_read_seq, joined_at";
pub const MESSAGE_COLS: &str = "id, channel_id, seq, user_id, text, thread_root_id, client_msg_id, mention_flags, \
     mention_user_ids, reply_count, last_reply_at, pinned_at, pinned_by, created_at, edited_at, deleted_at, notice";
pub const TOKEN_COLS: &str =
    "id, user_id, kind, name, created_at, last_used_at, expires_at, scope, client, ip";
/// How many columns [`TOKEN_COLS`] has (a joined user's columns follow them).
pub const N_TOKEN_COLS: usize = 10;
pub const APP_PASSWORD_COLS: &str = "id, user_id, name, hint, created_at, last_used_at";
pub const EVENT_COLS: &str =
    "position, kind, channel_id, user_id, actor_id, message_id, extra, created_at";

fn bad(idx: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, format!("unknown {what}").into())
}

fn millis(r: &Row<'_>, idx: usize) -> rusqlite::Result<Millis> {
    r.get(idx).map(Millis)
}

fn opt_millis(r: &Row<'_>, idx: usize) -> rusqlite::Result<Option<Millis>> {
    Ok(r.get::<_, Option<i64>>(idx)?.map(Millis))
}

/// Reads a user starting at column `o`.
pub fn user_at(r: &Row<'_>, o: usize) -> rusqlite::Result<User> {
    Ok(User {
        id: UserId(r.get(o)?),
        username: r.get(o + 1)?,
        display_name: r.get(o + 2)?,
        email: r.get(o + 3)?,
        is_admin: r.get(o + 4)?,
        is_bot: r.get(o + 5)?,
        active: r.get(o + 6)?,
        created_at: millis(r, o + 7)?,
        updated_at: millis(r, o + 8)?,
        status_text: r.get(o + 9)?,
        dnd: r.get(o + 10)?,
        is_guest: r.get(o + 11)?,
        guest_expires_at: opt_millis(r, o + 12)?,
        member_role: r.get(o + 13)?,
    })
}

pub fn user(r: &Row<'_>) -> rusqlite::Result<User> {
    user_at(r, 0)
}

pub fn channel_at(r: &Row<'_>, o: usize) -> rusqlite::Result<Channel> {
    let kind: String = r.get(o + 1)?;
    Ok(Channel {
        id: ChannelId(r.get(o)?),
        kind: ChannelKind::parse(&kind).ok_or_else(|| bad(o + 1, "channel kind"))?,
        name: r.get(o + 2)?,
        topic: r.get(o + 3)?,
        purpose: r.get(o + 4)?,
        creator_id: r.get::<_, Option<i64>>(o + 5)?.map(UserId),
        last_seq: r.get(o + 6)?,
        n_members: r.get(o + 7)?,
        archived_at: opt_millis(r, o + 8)?,
        created_at: millis(r, o + 9)?,
        updated_at: millis(r, o + 10)?,
        announcement: r.get(o + 11)?,
    })
}

pub fn channel(r: &Row<'_>) -> rusqlite::Result<Channel> {
    channel_at(r, 0)
}

pub fn member_at(r: &Row<'_>, o: usize) -> rusqlite::Result<Membership> {
    let role: String = r.get(o + 2)?;
    Ok(Membership {
        channel_id: ChannelId(r.get(o)?),
        user_id: UserId(r.get(o + 1)?),
        role: ChannelRole::parse(&role).ok_or_else(|| bad(o + 2, "role"))?,
        last_read_seq: r.get(o + 3)?,
        joined_at: millis(r, o + 4)?,
    })
}

pub fn member(r: &Row<'_>) -> rusqlite::Result<Membership> {
    member_at(r, 0)
}

/// Reads a message without its reactions (loaded separately).
pub fn message(r: &Row<'_>) -> rusqlite::Result<Message> {
    let flags: i64 = r.get(7)?;
    let ids: String = r.get(8)?;
    Ok(Message {
        id: MessageId(r.get(0)?),
        channel_id: ChannelId(r.get(1)?),
        seq: r.get(2)?,
        user_id: UserId(r.get(3)?),
        text: r.get(4)?,
        thread_root_id: r.get::<_, Option<i64>>(5)?.map(MessageId),
        client_msg_id: r.get(6)?,
        mentions: mentions_from_columns(flags, &ids),
        reply_count: r.get(9)?,
        last_reply_at: opt_millis(r, 10)?,
        pinned_at: opt_millis(r, 11)?,
        pinned_by: r.get::<_, Option<i64>>(12)?.map(UserId),
        created_at: millis(r, 13)?,
        edited_at: opt_millis(r, 14)?,
        deleted_at: opt_millis(r, 15)?,
        reactions: Vec::new(),
        files: Vec::new(),
        notice: r
            .get::<_, Option<String>>(16)?
            .and_then(|k| enclave_core::notices::NoticeKind::parse(&k)),
    })
}

pub fn token(r: &Row<'_>) -> rusqlite::Result<TokenInfo> {
    let kind: String = r.get(2)?;
    Ok(TokenInfo {
        id: TokenId(r.get(0)?),
        user_id: UserId(r.get(1)?),
        kind: TokenKind::parse(&kind).ok_or_else(|| bad(2, "token kind"))?,
        name: r.get(3)?,
        created_at: millis(r, 4)?,
        last_used_at: opt_millis(r, 5)?,
        expires_at: opt_millis(r, 6)?,
        scope: {
            let s: String = r.get(7)?;
            match s.as_str() {
                "session" => Scope::Session,
                other => Scope::parse_token_scope(other).ok_or_else(|| bad(7, "token scope"))?,
            }
        },
        client: r.get(8)?,
        ip: r.get(9)?,
    })
}

pub fn app_password(r: &Row<'_>) -> rusqlite::Result<AppPasswordInfo> {
    Ok(AppPasswordInfo {
        id: AppPasswordId(r.get(0)?),
        user_id: UserId(r.get(1)?),
        name: r.get(2)?,
        hint: r.get(3)?,
        created_at: millis(r, 4)?,
        last_used_at: opt_millis(r, 5)?,
    })
}

pub fn event(r: &Row<'_>) -> rusqlite::Result<Event> {
    let kind: String = r.get(1)?;
    Ok(Event {
        position: r.get(0)?,
        kind: EventKind::parse(&kind).ok_or_else(|| bad(1, "event kind"))?,
        channel_id: r.get::<_, Option<i64>>(2)?.map(ChannelId),
        user_id: r.get::<_, Option<i64>>(3)?.map(UserId),
        actor_id: r.get::<_, Option<i64>>(4)?.map(UserId),
        message_id: r.get::<_, Option<i64>>(5)?.map(MessageId),
        extra: r.get(6)?,
        created_at: millis(r, 7)?,
    })
}

/// A column list (as the constants above) with every column qualified by `alias`.
pub fn prefixed(cols: &str, alias: &str) -> String {
    cols.split(',')
        .map(|c| format!("{alias}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}
