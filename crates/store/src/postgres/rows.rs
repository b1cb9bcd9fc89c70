//! Mapping between PostgreSQL rows and domain records. The column lists (macros, so that whole
//! statements stay `&'static str`) and the readers below must stay in the same order.

use enclave_core::{
    AppPasswordId, AppPasswordInfo, Channel, ChannelId, ChannelKind, ChannelRole, Event, EventKind,
    Membership, Message, MessageId, Millis, Scope, TokenId, TokenInfo, TokenKind, User, UserId,
};
use sqlx_core::row::Row;
use sqlx_postgres::PgRow;

use crate::Result;
use crate::common::mentions_from_columns;

type R<T> = std::result::Result<T, sqlx_core::Error>;

macro_rules! user_cols {
    () => {
        "id, username, display_name, email, is_admin, is_bot, active, created_at, updated_at, \
         status_text, dnd, is_guest, guest_expires_at, member_role"
    };
    ($p:literal) => {
        concat!(
            $p,
            ".id, ",
            $p,
            ".username, ",
            $p,
            ".display_name, ",
            $p,
            ".email, ",
            $p,
            ".is_admin, ",
            $p,
            ".is_bot, ",
            $p,
            ".active, ",
            $p,
            ".created_at, ",
            $p,
            ".updated_at, ",
            $p,
            ".status_text, ",
            $p,
            ".dnd, ",
            $p,
            ".is_guest, ",
            $p,
            ".guest_expires_at, ",
            $p,
            ".member_role"
        )
    };
}
/// How many columns `user_cols!` has.
pub const N_USER_COLS: usize = 14;

macro_rules! channel_cols {
    () => {
        "id, kind, name, topic, purpose, creator_id, last_seq, n_members, archived_at, created_at, \
         updated_at, announcement"
    };
    ($p:literal) => {
        concat!(
            $p,
            ".id, ",
            $p,
            ".kind, ",
            $p,
            ".name, ",
            $p,
            ".topic, ",
            $p,
            ".purpose, ",
            $p,
            ".creator_id, ",
            $p,
            ".last_seq, ",
            $p,
            ".n_members, ",
            $p,
            ".archived_at, ",
            $p,
            ".created_at, ",
            $p,
            ".updated_at, ",
            $p,
            ".announcement"
        )
    };
}
/// How many columns `channel_cols!` has.
pub const N_CHANNEL_COLS: usize = 12;

macro_rules! member_cols {
    () => {
        "channel_id, user_id, role, last_read_seq, joined_at"
    };
    ($p:literal) => {
        concat!(
            $p,
            ".channel_id, ",
            $p,
            ".user_id, ",
            $p,
            ".role, ",
            $p,
            ".last_read_seq, ",
            $p,
            ".joined_at"
        )
    };
}

macro_rules! message_cols {
    () => {
        "id, channel_id, seq, user_id, text, thread_root_id, client_msg_id, mention_flags, \
         mention_user_ids, reply_count, last_reply_at, pinned_at, pinned_by, created_at, \
         edited_at, deleted_at, notice"
    };
    ($p:literal) => {
        concat!(
            $p,
            ".id, ",
            $p,
            ".channel_id, ",
            $p,
            ".seq, ",
            $p,
            ".user_id, ",
            $p,
            ".text, ",
            $p,
            ".thread_root_id, ",
            $p,
            ".client_msg_id, ",
            $p,
            ".mention_flags, ",
            $p,
            ".mention_user_ids, ",
            $p,
            ".reply_count, ",
            $p,
            ".last_reply_at, ",
            $p,
            ".pinned_at, ",
            $p,
            ".pinned_by, ",
            $p,
            ".created_at, ",
            $p,
            ".edited_at, ",
            $p,
            ".deleted_at, ",
            $p,
            ".notice"
        )
    };
}

macro_rules! token_cols {
    () => {
        "id, user_id, kind, name, created_at, last_used_at, expires_at, scope, client, ip"
    };
    ($p:literal) => {
        concat!(
            $p,
            ".id, ",
            $p,
            ".user_id, ",
            $p,
            ".kind, ",
            $p,
            ".name, ",
            $p,
            ".created_at, ",
            $p,
            ".last_used_at, ",
            $p,
            ".expires_at, ",
            $p,
            ".scope, ",
            $p,
            ".client, ",
            $p,
            ".ip"
        )
    };
}
/// How many columns `token_cols!` has.
pub const N_TOKEN_COLS: usize = 10;

macro_rules! event_cols {
    () => {
        "position, kind, channel_id, user_id, actor_id, message_id, extra, created_at"
    };
    ($p:literal) => {
        concat!(
            $p,
            ".position, ",
            $p,
            ".kind, ",
            $p,
            ".channel_id, ",
            $p,
            ".user_id, ",
            $p,
            ".actor_id, ",
            $p,
            ".message_id, ",
            $p,
            ".extra, ",
            $p,
            ".created_at"
        )
    };
}

pub(crate) use {channel_cols, event_cols, member_cols, message_cols, token_cols, user_cols};

fn bad(idx: usize, what: &str) -> sqlx_core::Error {
    sqlx_core::Error::ColumnDecode {
        index: idx.to_string(),
        source: format!("unknown {what}").into(),
    }
}

fn millis(r: &PgRow, idx: usize) -> R<Millis> {
    r.try_get::<i64, _>(idx).map(Millis)
}

fn opt_millis(r: &PgRow, idx: usize) -> R<Option<Millis>> {
    Ok(r.try_get::<Option<i64>, _>(idx)?.map(Millis))
}

/// Reads a user starting at column `o`.
pub fn user_at(r: &PgRow, o: usize) -> R<User> {
    Ok(User {
        id: UserId(r.try_get(o)?),
        username: r.try_get(o + 1)?,
        display_name: r.try_get(o + 2)?,
        email: r.try_get(o + 3)?,
        is_admin: r.try_get(o + 4)?,
        is_bot: r.try_get(o + 5)?,
        active: r.try_get(o + 6)?,
        created_at: millis(r, o + 7)?,
        updated_at: millis(r, o + 8)?,
        status_text: r.try_get(o + 9)?,
        dnd: r.try_get(o + 10)?,
        is_guest: r.try_get(o + 11)?,
        guest_expires_at: opt_millis(r, o + 12)?,
        member_role: r.try_get(o + 13)?,
    })
}

pub fn user(r: &PgRow) -> R<User> {
    user_at(r, 0)
}

pub fn channel_at(r: &PgRow, o: usize) -> R<Channel> {
    let kind: String = r.try_get(o + 1)?;
    Ok(Channel {
        id: ChannelId(r.try_get(o)?),
        kind: ChannelKind::parse(&kind).ok_or_else(|| bad(o + 1, "channel kind"))?,
        name: r.try_get(o + 2)?,
        topic: r.try_get(o + 3)?,
        purpose: r.try_get(o + 4)?,
        creator_id: r.try_get::<Option<i64>, _>(o + 5)?.map(UserId),
        last_seq: r.try_get(o + 6)?,
        n_members: r.try_get(o + 7)?,
        archived_at: opt_millis(r, o + 8)?,
        created_at: millis(r, o + 9)?,
        updated_at: millis(r, o + 10)?,
        announcement: r.try_get(o + 11)?,
    })
}

pub fn channel(r: &PgRow) -> R<Channel> {
    channel_at(r, 0)
}

pub fn member_at(r: &PgRow, o: usize) -> R<Membership> {
    let role: String = r.try_get(o + 2)?;
    Ok(Membership {
        channel_id: ChannelId(r.try_get(o)?),
        user_id: UserId(r.try_get(o + 1)?),
        role: ChannelRole::parse(&role).ok_or_else(|| bad(o + 2, "role"))?,
        last_read_seq: r.try_get(o + 3)?,
        joined_at: millis(r, o + 4)?,
    })
}

pub fn member(r: &PgRow) -> R<Membership> {
    member_at(r, 0)
}

/// Reads a message without its reactions (loaded separately).
pub fn message(r: &PgRow) -> R<Message> {
    let flags: i64 = r.try_get(7)?;
    let ids: String = r.try_get(8)?;
    Ok(Message {
        id: MessageId(r.try_get(0)?),
        channel_id: ChannelId(r.try_get(1)?),
        seq: r.try_get(2)?,
        user_id: UserId(r.try_get(3)?),
        text: r.try_get(4)?,
        thread_root_id: r.try_get::<Option<i64>, _>(5)?.map(MessageId),
        client_msg_id: r.try_get(6)?,
        mentions: mentions_from_columns(flags, &ids),
        reply_count: r.try_get(9)?,
        last_reply_at: opt_millis(r, 10)?,
        pinned_at: opt_millis(r, 11)?,
        pinned_by: r.try_get::<Option<i64>, _>(12)?.map(UserId),
        created_at: millis(r, 13)?,
        edited_at: opt_millis(r, 14)?,
        deleted_at: opt_millis(r, 15)?,
        reactions: Vec::new(),
        files: Vec::new(),
        notice: r
            .try_get::<Option<String>, _>(16)?
            .and_then(|k| enclave_core::notices::NoticeKind::parse(&k)),
    })
}

pub fn token(r: &PgRow) -> R<TokenInfo> {
    let kind: String = r.try_get(2)?;
    Ok(TokenInfo {
        id: TokenId(r.try_get(0)?),
        user_id: UserId(r.try_get(1)?),
        kind: TokenKind::parse(&kind).ok_or_else(|| bad(2, "token kind"))?,
        name: r.try_get(3)?,
        created_at: millis(r, 4)?,
        last_used_at: opt_millis(r, 5)?,
        expires_at: opt_millis(r, 6)?,
        scope: {
            let s: String = r.try_get(7)?;
            match s.as_str() {
                "session" => Scope::Session,
                other => Scope::parse_token_scope(other).ok_or_else(|| bad(7, "token scope"))?,
            }
        },
        client: r.try_get(8)?,
        ip: r.try_get(9)?,
    })
}

pub fn app_password(r: &PgRow) -> R<AppPasswordInfo> {
    Ok(AppPasswordInfo {
        id: AppPasswordId(r.try_get(0)?),
        user_id: UserId(r.try_get(1)?),
        name: r.try_get(2)?,
        hint: r.try_get(3)?,
        created_at: millis(r, 4)?,
        last_used_at: opt_millis(r, 5)?,
    })
}

pub fn event(r: &PgRow) -> R<Event> {
    let kind: String = r.try_get(1)?;
    Ok(Event {
        position: r.try_get(0)?,
        kind: EventKind::parse(&kind).ok_or_else(|| bad(1, "event kind"))?,
        channel_id: r.try_get::<Option<i64>, _>(2)?.map(ChannelId),
        user_id: r.try_get::<Option<i64>, _>(3)?.map(UserId),
        actor_id: r.try_get::<Option<i64>, _>(4)?.map(UserId),
        message_id: r.try_get::<Option<i64>, _>(5)?.map(MessageId),
        extra: r.try_get(6)?,
        created_at: millis(r, 7)?,
    })
}

/// Reads every row with `f`.
pub fn all<T>(rows: Vec<PgRow>, f: impl Fn(&PgRow) -> R<T>) -> Result<Vec<T>> {
    Ok(rows.iter().map(f).collect::<R<Vec<_>>>()?)
}

/// Reads the row, if any, with `f`.
pub fn one<T>(row: Option<PgRow>, f: impl Fn(&PgRow) -> R<T>) -> Result<Option<T>> {
    Ok(row.as_ref().map(f).transpose()?)
}
