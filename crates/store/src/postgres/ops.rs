//! The SQL behind each store operation, for PostgreSQL. Reads take a `&mut PgConnection` (a pool
//! connection, or a read-only snapshot transaction when they run several statements); writes take
//! a [`Tx`] and append their events there.
//!
//! Where the SQLite backend relies on its single writer, these functions lock the rows they
//! decide on, always in the same order (channel, then membership or message, then user), so
//! that concurrent transactions queue instead of deadlocking:
//! - channel rows: `FOR NO KEY UPDATE` for writes that change the channel, its members or its
//!   pins (posts, channel updates, member changes, pins); `FOR SHARE` for the others (read
//!   positions, edits, deletes, reactions), which then exclude the former but not each other;
//! - the message (edits, deletes, reactions, pins) or the membership (read positions) the
//!   write decides on: `FOR NO KEY UPDATE`.
//!
//! In READ COMMITTED every statement takes a new snapshot, so whatever a statement reads after a
//! lock was granted includes every transaction that committed before the grant. That is why the
//! channel row is locked by a statement of its own and the membership read by the next one:
//! a join would re-check only the locked row and could pass a stale membership to the guard.

use enclave_core::{
    Anchor, Channel, ChannelId, ChannelKind, ChannelRole, ChannelSummary, Entity,
    Error as DomainError, Event, EventKind, Membership, Mentions, Message, MessageId, Millis,
    NewEvent, TokenId, TokenInfo, User, UserId, validate::MAX_REACTIONS_PER_MESSAGE,
};
use sqlx_core::query::{Query, query};
use sqlx_core::row::Row;
use sqlx_postgres::{PgArguments, PgConnection, PgRow, Postgres};

use super::Tx;
use super::rows::{
    self, N_CHANNEL_COLS, N_TOKEN_COLS, N_USER_COLS, channel_cols, event_cols, member_cols,
    message_cols, token_cols, user_cols,
};
use crate::{
    BrowseQuery, ChannelPatch, Error, Guard, GuardCtx, MAX_PINS_PER_CHANNEL, MessageSearch,
    NewChannel, NewMessage, NewToken, NewUser, Posted, ReindexStep, Result, SEARCH_RANK_WINDOW,
    UserPatch, UserQuery,
};

type Q = Query<'static, Postgres, PgArguments>;

fn q(sql: &'static str) -> Q {
    query(sql)
}

/// The constraint a statement violated, if it failed on a unique constraint.
fn unique_violation(e: &sqlx_core::Error) -> Option<String> {
    match e {
        sqlx_core::Error::Database(db) if db.code().as_deref() == Some("23505") => {
            Some(db.constraint().unwrap_or_default().to_owned())
        }
        _ => None,
    }
}

fn domain(e: DomainError) -> Error {
    Error::Domain(e)
}

fn like_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

fn limit(n: u32) -> i64 {
    i64::from(n)
}

fn all<T>(
    rows: Vec<PgRow>,
    f: impl Fn(&PgRow) -> std::result::Result<T, sqlx_core::Error>,
) -> Result<Vec<T>> {
    Ok(rows
        .iter()
        .map(f)
        .collect::<std::result::Result<Vec<_>, _>>()?)
}

fn one<T>(
    row: Option<PgRow>,
    f: impl Fn(&PgRow) -> std::result::Result<T, sqlx_core::Error>,
) -> Result<Option<T>> {
    Ok(row.as_ref().map(f).transpose()?)
}

// ---------------------------------------------------------------------------------------------
// Accounts

pub async fn user(c: &mut PgConnection, id: UserId) -> Result<Option<User>> {
    let row = q(concat!(
        "SELECT ",
        user_cols!(),
        " FROM users WHERE id = $1"
    ))
    .bind(id.0)
    .fetch_optional(&mut *c)
    .await?;
    one(row, rows::user)
}

pub async fn create_user(tx: &mut Tx, new: NewUser) -> Result<User> {
    let now = tx.now;
    let r = q(concat!(
        "INSERT INTO users (username, display_name, email, password_hash, is_admin, is_bot, active, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, true, $7, $7) RETURNING ",
        user_cols!()
    ))
    .bind(new.username)
    .bind(new.display_name)
    .bind(new.email)
    .bind(new.password_hash)
    .bind(new.is_admin)
    .bind(new.is_bot)
    .bind(now.0)
    .fetch_one(tx.c())
    .await;
    let row = match r {
        Ok(row) => row,
        Err(e) => {
            return Err(match unique_violation(&e) {
                Some(c) if c.contains("email") => domain(DomainError::Conflict("email is taken")),
                Some(_) => domain(DomainError::Conflict("username is taken")),
                None => e.into(),
            });
        }
    };
    let created = rows::user(&row)?;
    let mut ev = NewEvent::new(EventKind::UserCreated).user(created.id);
    ev.actor_id = new.actor_id;
    tx.event(ev);
    Ok(created)
}

pub async fn user_credentials(
    c: &mut PgConnection,
    login: &str,
) -> Result<Option<(User, Option<String>)>> {
    let row = q(concat!(
        "SELECT ",
        user_cols!(),
        ", password_hash FROM users WHERE username = $1 OR email = $1
         ORDER BY username = $1 DESC LIMIT 1"
    ))
    .bind(login.to_owned())
    .fetch_optional(&mut *c)
    .await?;
    one(row, |r| Ok((rows::user(r)?, r.try_get(N_USER_COLS)?)))
}

pub async fn users_by_usernames(c: &mut PgConnection, names: &[String]) -> Result<Vec<User>> {
    // In the order asked, unknown names skipped (as the SQLite backend answers).
    let rows = q(concat!(
        "SELECT ",
        user_cols!("u"),
        " FROM unnest($1::text[]) WITH ORDINALITY AS n(name, ord)
         JOIN users u ON u.username = n.name ORDER BY n.ord"
    ))
    .bind(names.to_vec())
    .fetch_all(&mut *c)
    .await?;
    all(rows, rows::user)
}

pub async fn users_by_ids(c: &mut PgConnection, ids: &[UserId]) -> Result<Vec<User>> {
    let rows = q(concat!(
        "SELECT ",
        user_cols!("u"),
        " FROM unnest($1::int8[]) WITH ORDINALITY AS n(id, ord)
         JOIN users u ON u.id = n.id ORDER BY n.ord"
    ))
    .bind(ids.iter().map(|u| u.0).collect::<Vec<_>>())
    .fetch_all(&mut *c)
    .await?;
    all(rows, rows::user)
}

pub async fn list_users(c: &mut PgConnection, q_: &UserQuery) -> Result<Vec<User>> {
    let rows = q(concat!(
        "SELECT ",
        user_cols!(),
        " FROM users
         WHERE ($1 OR active)
           AND ($2::text IS NULL OR username > $2)
           AND ($3::text IS NULL OR username ILIKE $3 OR display_name ILIKE $3)
         ORDER BY username LIMIT $4"
    ))
    .bind(q_.include_inactive)
    .bind(q_.after_username.clone())
    .bind(q_.text.as_deref().map(like_pattern))
    .bind(limit(q_.limit))
    .fetch_all(&mut *c)
    .await?;
    all(rows, rows::user)
}

pub async fn count_admins(c: &mut PgConnection) -> Result<i64> {
    let row = q("SELECT count(*) FROM users WHERE is_admin AND active")
        .fetch_one(&mut *c)
        .await?;
    Ok(row.try_get(0)?)
}

pub async fn update_user(
    tx: &mut Tx,
    id: UserId,
    patch: UserPatch,
    actor_id: Option<UserId>,
) -> Result<User> {
    let now = tx.now;
    let row = q(concat!(
        "SELECT ",
        user_cols!(),
        " FROM users WHERE id = $1 FOR NO KEY UPDATE"
    ))
    .bind(id.0)
    .fetch_optional(tx.c())
    .await?;
    let before = one(row, rows::user)?.ok_or(domain(DomainError::NotFound(Entity::User)))?;
    let r = q(concat!(
        "UPDATE users SET
            display_name = coalesce($2, display_name),
            email = CASE WHEN $3 THEN $4 ELSE email END,
            password_hash = coalesce($5, password_hash),
            is_admin = coalesce($6, is_admin),
            active = coalesce($7, active),
            status_text = coalesce($8, status_text),
            dnd = coalesce($9, dnd),
            updated_at = $10
         WHERE id = $1 RETURNING ",
        user_cols!()
    ))
    .bind(id.0)
    .bind(patch.display_name)
    .bind(patch.email.is_some())
    .bind(patch.email.clone().flatten())
    .bind(patch.password_hash)
    .bind(patch.is_admin)
    .bind(patch.active)
    .bind(patch.status_text)
    .bind(patch.dnd)
    .bind(now.0)
    .fetch_one(tx.c())
    .await;
    let after = match r {
        Ok(row) => rows::user(&row)?,
        Err(e) if unique_violation(&e).is_some() => {
            return Err(domain(DomainError::Conflict("email is taken")));
        }
        Err(e) => return Err(e.into()),
    };
    if patch.active == Some(false) {
        // Sessions end with deactivation; personal access tokens only stop working meanwhile.
        q("DELETE FROM tokens WHERE user_id = $1 AND kind = 'session'")
            .bind(id.0)
            .execute(tx.c())
            .await?;
        tx.event(NewEvent::new(EventKind::TokensRevoked).user(id));
    }
    let visible_change = before.display_name != after.display_name
        || before.email != after.email
        || before.active != after.active
        || before.is_admin != after.is_admin
        || before.status_text != after.status_text
        || before.dnd != after.dnd;
    if visible_change {
        let mut ev = NewEvent::new(EventKind::UserUpdated).user(id);
        ev.actor_id = actor_id;
        tx.event(ev);
    }
    Ok(after)
}

pub async fn revoke_sessions(tx: &mut Tx, user_id: UserId, except: Option<TokenId>) -> Result<u64> {
    let n =
        q("DELETE FROM tokens WHERE user_id = $1 AND kind = 'session' AND id IS DISTINCT FROM $2")
            .bind(user_id.0)
            .bind(except.map(|t| t.0))
            .execute(tx.c())
            .await?
            .rows_affected();
    if n > 0 {
        tx.event(NewEvent::new(EventKind::TokensRevoked).user(user_id));
    }
    Ok(n)
}

pub async fn revoke_token(tx: &mut Tx, user_id: UserId, id: TokenId) -> Result<bool> {
    let n = q("DELETE FROM tokens WHERE id = $1 AND user_id = $2")
        .bind(id.0)
        .bind(user_id.0)
        .execute(tx.c())
        .await?
        .rows_affected();
    if n > 0 {
        tx.event(
            NewEvent::new(EventKind::TokensRevoked)
                .user(user_id)
                .extra(id.0.to_string()),
        );
    }
    Ok(n > 0)
}

// ---------------------------------------------------------------------------------------------
// Tokens

pub async fn create_token(tx: &mut Tx, new: NewToken) -> Result<TokenInfo> {
    let now = tx.now;
    let row = q(concat!(
        "INSERT INTO tokens (user_id, kind, token_hash, name, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
        token_cols!()
    ))
    .bind(new.user_id.0)
    .bind(new.kind.as_str())
    .bind(new.hash.to_vec())
    .bind(new.name)
    .bind(now.0)
    .bind(new.expires_at.map(|m| m.0))
    .fetch_one(tx.c())
    .await?;
    Ok(rows::token(&row)?)
}

pub async fn touch_token(tx: &mut Tx, id: TokenId, now: Millis) -> Result<()> {
    q("UPDATE tokens SET last_used_at = $2 WHERE id = $1")
        .bind(id.0)
        .bind(now.0)
        .execute(tx.c())
        .await?;
    Ok(())
}

pub async fn token_by_hash(
    c: &mut PgConnection,
    hash: &[u8; 32],
    now: Millis,
) -> Result<Option<(TokenInfo, User)>> {
    let row = q(concat!(
        "SELECT ",
        token_cols!("t"),
        ", ",
        user_cols!("u"),
        " FROM tokens t JOIN users u ON u.id = t.user_id
         WHERE t.token_hash = $1 AND (t.expires_at IS NULL OR t.expires_at > $2)"
    ))
    .bind(hash.to_vec())
    .bind(now.0)
    .fetch_optional(&mut *c)
    .await?;
    one(row, |r| {
        Ok((rows::token(r)?, rows::user_at(r, N_TOKEN_COLS)?))
    })
}

pub async fn list_tokens(c: &mut PgConnection, user_id: UserId) -> Result<Vec<TokenInfo>> {
    let rows = q(concat!(
        "SELECT ",
        token_cols!(),
        " FROM tokens WHERE user_id = $1 ORDER BY id"
    ))
    .bind(user_id.0)
    .fetch_all(&mut *c)
    .await?;
    all(rows, rows::token)
}

pub async fn token_valid(c: &mut PgConnection, id: TokenId, now: Millis) -> Result<bool> {
    let row = q(
        "SELECT EXISTS (SELECT 1 FROM tokens t JOIN users u ON u.id = t.user_id
                  WHERE t.id = $1 AND u.active AND (t.expires_at IS NULL OR t.expires_at > $2))",
    )
    .bind(id.0)
    .bind(now.0)
    .fetch_one(&mut *c)
    .await?;
    Ok(row.try_get(0)?)
}

// ---------------------------------------------------------------------------------------------
// Channels and members

pub async fn channel(c: &mut PgConnection, id: ChannelId) -> Result<Option<Channel>> {
    let row = q(concat!(
        "SELECT ",
        channel_cols!(),
        " FROM channels WHERE id = $1"
    ))
    .bind(id.0)
    .fetch_optional(&mut *c)
    .await?;
    one(row, rows::channel)
}

pub async fn membership(
    c: &mut PgConnection,
    id: ChannelId,
    user_id: UserId,
) -> Result<Option<Membership>> {
    let row = q(concat!(
        "SELECT ",
        member_cols!(),
        " FROM members WHERE channel_id = $1 AND user_id = $2"
    ))
    .bind(id.0)
    .bind(user_id.0)
    .fetch_optional(&mut *c)
    .await?;
    one(row, rows::member)
}

/// A channel and the user's membership, read in one snapshot.
pub async fn channel_for(
    c: &mut PgConnection,
    id: ChannelId,
    user_id: UserId,
) -> Result<Option<(Channel, Option<Membership>)>> {
    let row = q(concat!(
        "SELECT ",
        channel_cols!("ch"),
        ", ",
        member_cols!("m"),
        " FROM channels ch LEFT JOIN members m ON m.channel_id = ch.id AND m.user_id = $2
         WHERE ch.id = $1"
    ))
    .bind(id.0)
    .bind(user_id.0)
    .fetch_optional(&mut *c)
    .await?;
    one(row, |r| {
        let ch = rows::channel_at(r, 0)?;
        let m = match r.try_get::<Option<i64>, _>(N_CHANNEL_COLS)? {
            Some(_) => Some(rows::member_at(r, N_CHANNEL_COLS)?),
            None => None,
        };
        Ok((ch, m))
    })
}

async fn insert_member(
    tx: &mut Tx,
    id: ChannelId,
    user_id: UserId,
    role: ChannelRole,
    last_read: i64,
) -> Result<()> {
    let now = tx.now;
    q("INSERT INTO members (channel_id, user_id, role, last_read_seq, joined_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(id.0)
        .bind(user_id.0)
        .bind(role.as_str())
        .bind(last_read)
        .bind(now.0)
        .execute(tx.c())
        .await?;
    q("UPDATE channels SET n_members = n_members + 1 WHERE id = $1")
        .bind(id.0)
        .execute(tx.c())
        .await?;
    Ok(())
}

pub async fn create_channel(tx: &mut Tx, new: NewChannel) -> Result<Channel> {
    let now = tx.now;
    let r = q("INSERT INTO channels (kind, name, name_key, topic, purpose, creator_id, created_at, updated_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id")
    .bind(new.kind.as_str())
    .bind(new.name)
    .bind(new.name_key)
    .bind(new.topic)
    .bind(new.purpose)
    .bind(new.creator_id.0)
    .bind(now.0)
    .fetch_one(tx.c())
    .await;
    let id = match r {
        Ok(row) => ChannelId(row.try_get(0)?),
        Err(e) if unique_violation(&e).is_some() => {
            return Err(domain(DomainError::Conflict(
                "a channel with this name already exists",
            )));
        }
        Err(e) => return Err(e.into()),
    };
    insert_member(tx, id, new.creator_id, ChannelRole::Owner, 0).await?;
    tx.event(
        NewEvent::new(EventKind::ChannelCreated)
            .channel(id)
            .actor(new.creator_id),
    );
    tx.event(
        NewEvent::new(EventKind::MemberAdded)
            .channel(id)
            .user(new.creator_id)
            .actor(new.creator_id),
    );
    channel(tx.c(), id)
        .await?
        .ok_or(domain(DomainError::NotFound(Entity::Channel)))
}

pub async fn open_direct(
    tx: &mut Tx,
    creator: UserId,
    mut user_ids: Vec<UserId>,
) -> Result<(Channel, bool)> {
    user_ids.sort();
    user_ids.dedup();
    let key = user_ids
        .iter()
        .map(|u| u.0.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let existing = |key: String| {
        q(concat!(
            "SELECT ",
            channel_cols!(),
            " FROM channels WHERE dm_key = $1"
        ))
        .bind(key)
    };
    if let Some(row) = existing(key.clone()).fetch_optional(tx.c()).await? {
        return Ok((rows::channel(&row)?, false));
    }
    let kind = if user_ids.len() <= 2 {
        ChannelKind::Dm
    } else {
        ChannelKind::GroupDm
    };
    let now = tx.now;
    // A concurrent open of the same conversation makes this insert wait for it, then do nothing.
    let inserted = q(
        "INSERT INTO channels (kind, dm_key, creator_id, created_at, updated_at)
                      VALUES ($1, $2, $3, $4, $4) ON CONFLICT (dm_key) DO NOTHING RETURNING id",
    )
    .bind(kind.as_str())
    .bind(key.clone())
    .bind(creator.0)
    .bind(now.0)
    .fetch_optional(tx.c())
    .await?;
    let Some(row) = inserted else {
        let row = existing(key)
            .fetch_optional(tx.c())
            .await?
            .ok_or(domain(DomainError::NotFound(Entity::Channel)))?;
        return Ok((rows::channel(&row)?, false));
    };
    let id = ChannelId(row.try_get(0)?);
    for u in &user_ids {
        insert_member(tx, id, *u, ChannelRole::Member, 0).await?;
    }
    tx.event(
        NewEvent::new(EventKind::ChannelCreated)
            .channel(id)
            .actor(creator),
    );
    for u in &user_ids {
        tx.event(
            NewEvent::new(EventKind::MemberAdded)
                .channel(id)
                .user(*u)
                .actor(creator),
        );
    }
    let ch = channel(tx.c(), id)
        .await?
        .ok_or(domain(DomainError::NotFound(Entity::Channel)))?;
    Ok((ch, true))
}

pub async fn my_channels(
    c: &mut PgConnection,
    user_id: UserId,
    only: Option<ChannelId>,
) -> Result<Vec<ChannelSummary>> {
    let rows = q(concat!(
        "SELECT ",
        channel_cols!("ch"),
        ", ",
        member_cols!("m"),
        ",
         (SELECT count(*) FROM messages msg
           WHERE msg.channel_id = m.channel_id AND msg.seq > m.last_read_seq
             AND msg.thread_root_id IS NULL AND msg.deleted_at IS NULL AND msg.user_id <> m.user_id),
         (SELECT count(*) FROM (
             SELECT mn.seq FROM mentions mn JOIN messages msg ON msg.id = mn.message_id
              WHERE mn.user_id = m.user_id AND mn.channel_id = m.channel_id
                AND mn.seq > m.last_read_seq AND msg.user_id <> m.user_id
             UNION
             SELECT msg.seq FROM messages msg
              WHERE msg.channel_id = m.channel_id AND msg.seq > m.last_read_seq
                AND msg.mention_flags <> 0 AND msg.deleted_at IS NULL AND msg.user_id <> m.user_id) x),
         CASE WHEN ch.kind IN ('dm', 'group_dm') THEN
             ARRAY(SELECT o.user_id FROM members o
                    WHERE o.channel_id = ch.id AND o.user_id <> m.user_id ORDER BY o.user_id)
         END
         FROM members m JOIN channels ch ON ch.id = m.channel_id
         WHERE m.user_id = $1 AND ($2::int8 IS NULL OR m.channel_id = $2)
         ORDER BY ch.id"
    ))
    .bind(user_id.0)
    .bind(only.map(|c| c.0))
    .fetch_all(&mut *c)
    .await?;
    const M: usize = N_CHANNEL_COLS;
    all(rows, |r| {
        let channel = rows::channel_at(r, 0)?;
        let membership = rows::member_at(r, M)?;
        let others: Option<Vec<i64>> = r.try_get(M + 7)?;
        Ok(ChannelSummary {
            dm_user_ids: if channel.kind.is_direct() {
                others.unwrap_or_default().into_iter().map(UserId).collect()
            } else {
                Vec::new()
            },
            channel,
            membership,
            unread_count: r.try_get(M + 5)?,
            mention_count: r.try_get(M + 6)?,
        })
    })
}

pub async fn browse_channels(c: &mut PgConnection, q_: &BrowseQuery) -> Result<Vec<Channel>> {
    let rows = q(concat!(
        "SELECT ",
        channel_cols!(),
        " FROM channels
         WHERE kind = 'public' AND ($1 OR archived_at IS NULL) AND ($2::int8 IS NULL OR id > $2)
           AND ($3::text IS NULL OR name ILIKE $3 OR topic ILIKE $3)
         ORDER BY id LIMIT $4"
    ))
    .bind(q_.include_archived)
    .bind(q_.after_id.map(|c| c.0))
    .bind(q_.text.as_deref().map(like_pattern))
    .bind(limit(q_.limit))
    .fetch_all(&mut *c)
    .await?;
    all(rows, rows::channel)
}

/// How a write locks the channel row it depends on (see the module docs).
#[derive(Clone, Copy)]
enum Lock {
    /// The write changes the channel, its members or its pins.
    Exclusive,
    /// The write depends on the channel and the actor's membership but changes neither.
    Shared,
}

/// Locks the channel and then reads the actor's membership, for a guard; a missing channel is
/// `NotFound`.
async fn load_ctx(
    c: &mut PgConnection,
    id: ChannelId,
    actor: UserId,
    lock: Lock,
) -> Result<(Channel, Option<Membership>)> {
    let sql = match lock {
        Lock::Exclusive => concat!(
            "SELECT ",
            channel_cols!(),
            " FROM channels WHERE id = $1 FOR NO KEY UPDATE"
        ),
        Lock::Shared => concat!(
            "SELECT ",
            channel_cols!(),
            " FROM channels WHERE id = $1 FOR SHARE"
        ),
    };
    let row = q(sql).bind(id.0).fetch_optional(&mut *c).await?;
    let ch = one(row, rows::channel)?.ok_or(domain(DomainError::NotFound(Entity::Channel)))?;
    let m = membership(c, id, actor).await?;
    Ok((ch, m))
}

fn run_guard(
    guard: Guard,
    channel: &Channel,
    membership: Option<&Membership>,
    message: Option<&Message>,
    target: Option<&Membership>,
) -> Result<()> {
    guard(&GuardCtx {
        channel,
        membership,
        message,
        target,
    })
    .map_err(Error::Domain)
}

pub async fn update_channel(
    tx: &mut Tx,
    id: ChannelId,
    actor: UserId,
    patch: ChannelPatch,
    guard: Guard,
) -> Result<Channel> {
    let now = tx.now;
    let (before, m) = load_ctx(tx.c(), id, actor, Lock::Exclusive).await?;
    run_guard(guard, &before, m.as_ref(), None, None)?;
    let (name, key) = match patch.name {
        Some((n, k)) => (Some(n), Some(k)),
        None => (None, None),
    };
    let archived_at = match patch.archived {
        Some(true) => Some(before.archived_at.unwrap_or(now).0),
        Some(false) | None => None,
    };
    let r = q(concat!(
        "UPDATE channels SET
            name = coalesce($2, name),
            name_key = coalesce($3, name_key),
            topic = coalesce($4, topic),
            purpose = coalesce($5, purpose),
            archived_at = CASE WHEN $6 THEN $7 ELSE archived_at END
         WHERE id = $1 RETURNING ",
        channel_cols!()
    ))
    .bind(id.0)
    .bind(name)
    .bind(key)
    .bind(patch.topic)
    .bind(patch.purpose)
    .bind(patch.archived.is_some())
    .bind(archived_at)
    .fetch_one(tx.c())
    .await;
    let mut after = match r {
        Ok(row) => rows::channel(&row)?,
        Err(e) if unique_violation(&e).is_some() => {
            return Err(domain(DomainError::Conflict(
                "a channel with this name already exists",
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let fields_changed =
        before.name != after.name || before.topic != after.topic || before.purpose != after.purpose;
    let archive_changed = before.archived_at.is_some() != after.archived_at.is_some();
    if fields_changed || archive_changed {
        q("UPDATE channels SET updated_at = $2 WHERE id = $1")
            .bind(id.0)
            .bind(now.0)
            .execute(tx.c())
            .await?;
        after.updated_at = now;
    }
    if fields_changed {
        tx.event(
            NewEvent::new(EventKind::ChannelUpdated)
                .channel(id)
                .actor(actor),
        );
    }
    if archive_changed {
        let kind = if after.is_archived() {
            EventKind::ChannelArchived
        } else {
            EventKind::ChannelUnarchived
        };
        tx.event(NewEvent::new(kind).channel(id).actor(actor));
    }
    Ok(after)
}

pub async fn add_member(
    tx: &mut Tx,
    id: ChannelId,
    actor: UserId,
    user_id: UserId,
    role: ChannelRole,
    guard: Guard,
) -> Result<(Membership, bool)> {
    let (ch, m) = load_ctx(tx.c(), id, actor, Lock::Exclusive).await?;
    let target = membership(tx.c(), id, user_id).await?;
    run_guard(guard, &ch, m.as_ref(), None, target.as_ref())?;
    if let Some(existing) = target {
        return Ok((existing, false));
    }
    // Shared lock: a deactivation cannot commit between this check and the insert.
    let active: Option<bool> = q("SELECT active FROM users WHERE id = $1 FOR SHARE")
        .bind(user_id.0)
        .fetch_optional(tx.c())
        .await?
        .map(|r| r.try_get(0))
        .transpose()?;
    if active != Some(true) {
        return Err(domain(DomainError::NotFound(Entity::User)));
    }
    // A new member starts with everything before joining marked read.
    insert_member(tx, id, user_id, role, ch.last_seq).await?;
    tx.event(
        NewEvent::new(EventKind::MemberAdded)
            .channel(id)
            .user(user_id)
            .actor(actor),
    );
    let added = membership(tx.c(), id, user_id)
        .await?
        .ok_or(domain(DomainError::NotFound(Entity::Member)))?;
    Ok((added, true))
}

pub async fn remove_member(
    tx: &mut Tx,
    id: ChannelId,
    actor: UserId,
    user_id: UserId,
    guard: Guard,
) -> Result<()> {
    let (ch, m) = load_ctx(tx.c(), id, actor, Lock::Exclusive).await?;
    let target = membership(tx.c(), id, user_id).await?;
    run_guard(guard, &ch, m.as_ref(), None, target.as_ref())?;
    if target.is_none() {
        return Err(domain(DomainError::NotFound(Entity::Member)));
    }
    q("DELETE FROM members WHERE channel_id = $1 AND user_id = $2")
        .bind(id.0)
        .bind(user_id.0)
        .execute(tx.c())
        .await?;
    q("UPDATE channels SET n_members = n_members - 1 WHERE id = $1")
        .bind(id.0)
        .execute(tx.c())
        .await?;
    tx.event(
        NewEvent::new(EventKind::MemberRemoved)
            .channel(id)
            .user(user_id)
            .actor(actor),
    );
    Ok(())
}

pub async fn set_member_role(
    tx: &mut Tx,
    id: ChannelId,
    actor: UserId,
    user_id: UserId,
    role: ChannelRole,
    guard: Guard,
) -> Result<Membership> {
    let (ch, m) = load_ctx(tx.c(), id, actor, Lock::Exclusive).await?;
    let target = membership(tx.c(), id, user_id).await?;
    run_guard(guard, &ch, m.as_ref(), None, target.as_ref())?;
    let Some(target) = target else {
        return Err(domain(DomainError::NotFound(Entity::Member)));
    };
    if target.role == role {
        return Ok(target);
    }
    q("UPDATE members SET role = $3 WHERE channel_id = $1 AND user_id = $2")
        .bind(id.0)
        .bind(user_id.0)
        .bind(role.as_str())
        .execute(tx.c())
        .await?;
    tx.event(
        NewEvent::new(EventKind::MemberUpdated)
            .channel(id)
            .user(user_id)
            .actor(actor),
    );
    Ok(Membership { role, ..target })
}

pub async fn members(
    c: &mut PgConnection,
    id: ChannelId,
    after: Option<UserId>,
    n: u32,
) -> Result<Vec<(Membership, User)>> {
    let rows = q(concat!(
        "SELECT ",
        member_cols!("m"),
        ", ",
        user_cols!("u"),
        " FROM members m JOIN users u ON u.id = m.user_id
         WHERE m.channel_id = $1 AND m.user_id > $2 ORDER BY m.user_id LIMIT $3"
    ))
    .bind(id.0)
    .bind(after.map_or(0, |u| u.0))
    .bind(limit(n))
    .fetch_all(&mut *c)
    .await?;
    all(rows, |r| Ok((rows::member_at(r, 0)?, rows::user_at(r, 5)?)))
}

pub async fn mark_read(
    tx: &mut Tx,
    id: ChannelId,
    user_id: UserId,
    seq: i64,
    guard: Guard,
) -> Result<Membership> {
    let row = q(concat!(
        "SELECT ",
        channel_cols!(),
        " FROM channels WHERE id = $1 FOR SHARE"
    ))
    .bind(id.0)
    .fetch_optional(tx.c())
    .await?;
    let ch = one(row, rows::channel)?.ok_or(domain(DomainError::NotFound(Entity::Channel)))?;
    // The membership row is locked too: two read updates of one user queue, and the second
    // compares with what the first wrote.
    let row = q(concat!(
        "SELECT ",
        member_cols!(),
        " FROM members WHERE channel_id = $1 AND user_id = $2 FOR NO KEY UPDATE"
    ))
    .bind(id.0)
    .bind(user_id.0)
    .fetch_optional(tx.c())
    .await?;
    let m = one(row, rows::member)?;
    run_guard(guard, &ch, m.as_ref(), None, None)?;
    let Some(m) = m else {
        return Err(domain(DomainError::NotFound(Entity::Member)));
    };
    let seq = seq.clamp(0, ch.last_seq);
    if seq == m.last_read_seq {
        return Ok(m);
    }
    q("UPDATE members SET last_read_seq = $3 WHERE channel_id = $1 AND user_id = $2")
        .bind(id.0)
        .bind(user_id.0)
        .bind(seq)
        .execute(tx.c())
        .await?;
    tx.event(
        NewEvent::new(EventKind::ReadUpdated)
            .channel(id)
            .user(user_id)
            .actor(user_id)
            .extra(seq.to_string()),
    );
    Ok(Membership {
        last_read_seq: seq,
        ..m
    })
}

// ---------------------------------------------------------------------------------------------
// Messages

/// Fills in each message's reactions and files.
async fn attach_reactions(c: &mut PgConnection, msgs: &mut [Message]) -> Result<()> {
    if msgs.is_empty() {
        return Ok(());
    }
    super::files::attach_to_messages(c, msgs).await?;
    let ids: Vec<i64> = msgs.iter().map(|m| m.id.0).collect();
    let rows = q(
        "SELECT message_id, emoji, user_id FROM reactions WHERE message_id = ANY($1)
                  ORDER BY message_id, created_at, emoji, user_id",
    )
    .bind(ids)
    .fetch_all(&mut *c)
    .await?;
    let mut by_message: std::collections::HashMap<i64, Vec<(String, UserId)>> =
        std::collections::HashMap::new();
    for r in &rows {
        let id: i64 = r.try_get(0)?;
        by_message
            .entry(id)
            .or_default()
            .push((r.try_get(1)?, UserId(r.try_get(2)?)));
    }
    for m in msgs.iter_mut() {
        let Some(list) = by_message.get(&m.id.0) else {
            continue;
        };
        for (emoji, user) in list {
            match m.reactions.iter_mut().find(|g| &g.emoji == emoji) {
                Some(g) => g.user_ids.push(*user),
                None => m.reactions.push(enclave_core::ReactionGroup {
                    emoji: emoji.clone(),
                    user_ids: vec![*user],
                }),
            }
        }
    }
    Ok(())
}

async fn message_raw(c: &mut PgConnection, id: MessageId) -> Result<Option<Message>> {
    let row = q(concat!(
        "SELECT ",
        message_cols!(),
        " FROM messages WHERE id = $1"
    ))
    .bind(id.0)
    .fetch_optional(&mut *c)
    .await?;
    one(row, rows::message)
}

pub async fn message(c: &mut PgConnection, id: MessageId) -> Result<Option<Message>> {
    let Some(m) = message_raw(c, id).await? else {
        return Ok(None);
    };
    let mut one = [m];
    attach_reactions(c, &mut one).await?;
    let [m] = one;
    Ok(Some(m))
}

/// Locks the channel of a live message (as `lock` says), reads the actor's membership, then
/// locks and reads the message itself, for a guard.
async fn load_message_ctx(
    c: &mut PgConnection,
    id: MessageId,
    actor: UserId,
    lock: Lock,
) -> Result<(Channel, Option<Membership>, Message)> {
    let gone = || domain(DomainError::NotFound(Entity::Message));
    let channel_id: i64 = q("SELECT channel_id FROM messages WHERE id = $1 AND deleted_at IS NULL")
        .bind(id.0)
        .fetch_optional(&mut *c)
        .await?
        .ok_or_else(gone)?
        .try_get(0)?;
    let (ch, m) = load_ctx(c, ChannelId(channel_id), actor, lock).await?;
    let row = q(concat!(
        "SELECT ",
        message_cols!(),
        " FROM messages WHERE id = $1 FOR NO KEY UPDATE"
    ))
    .bind(id.0)
    .fetch_optional(&mut *c)
    .await?;
    let msg = one(row, rows::message)?.ok_or_else(gone)?;
    if msg.is_deleted() {
        return Err(gone());
    }
    let mut one = [msg];
    attach_reactions(c, &mut one).await?;
    let [msg] = one;
    Ok((ch, m, msg))
}

async fn write_mentions(
    tx: &mut Tx,
    msg: MessageId,
    channel: ChannelId,
    seq: i64,
    mentions: &Mentions,
) -> Result<()> {
    if mentions.user_ids.is_empty() {
        return Ok(());
    }
    q("INSERT INTO mentions (user_id, channel_id, seq, message_id)
       SELECT u, $2, $3, $4 FROM unnest($1::int8[]) AS u ON CONFLICT DO NOTHING")
    .bind(mentions.user_ids.iter().map(|u| u.0).collect::<Vec<_>>())
    .bind(channel.0)
    .bind(seq)
    .bind(msg.0)
    .execute(tx.c())
    .await?;
    Ok(())
}

pub async fn post_message(tx: &mut Tx, new: NewMessage, guard: Guard) -> Result<Posted> {
    let now = tx.now;
    // The channel row lock orders posts in the channel: the guard sees the channel as this
    // post finds it, a retry sees the first attempt, and `seq` is the next one.
    let (ch, m) = load_ctx(tx.c(), new.channel_id, new.user_id, Lock::Exclusive).await?;
    run_guard(guard, &ch, m.as_ref(), None, None)?;
    if let Some(cid) = &new.client_msg_id {
        let existing: Option<i64> = q(
            "SELECT id FROM messages WHERE channel_id = $1 AND user_id = $2 AND client_msg_id = $3",
        )
        .bind(new.channel_id.0)
        .bind(new.user_id.0)
        .bind(cid.clone())
        .fetch_optional(tx.c())
        .await?
        .map(|r| r.try_get(0))
        .transpose()?;
        if let Some(id) = existing {
            let message = message(tx.c(), MessageId(id))
                .await?
                .ok_or(domain(DomainError::NotFound(Entity::Message)))?;
            return Ok(Posted {
                message,
                created: false,
            });
        }
    }
    if let Some(root) = new.thread_root_id {
        let root_row =
            q("SELECT channel_id, thread_root_id, deleted_at FROM messages WHERE id = $1")
                .bind(root.0)
                .fetch_optional(tx.c())
                .await?;
        let root_row: Option<(i64, Option<i64>, Option<i64>)> = match root_row {
            Some(r) => Some((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)),
            None => None,
        };
        match root_row {
            Some((c, None, None)) if c == new.channel_id.0 => {}
            Some((c, Some(_), _)) if c == new.channel_id.0 => {
                return Err(domain(DomainError::invalid(
                    "thread_root_id",
                    "replies go to the thread's root message",
                )));
            }
            _ => {
                return Err(domain(DomainError::invalid(
                    "thread_root_id",
                    "no such message in this channel",
                )));
            }
        }
    }
    let seq: i64 =
        q("UPDATE channels SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq")
            .bind(new.channel_id.0)
            .fetch_one(tx.c())
            .await?
            .try_get(0)?;
    let (flags, ids) = rows::mention_columns(&new.mentions);
    let id = MessageId(
        q(
            "INSERT INTO messages (channel_id, seq, user_id, text, thread_root_id, client_msg_id,
                                 mention_flags, mention_user_ids, created_at, search_tsv)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::tsvector) RETURNING id",
        )
        .bind(new.channel_id.0)
        .bind(seq)
        .bind(new.user_id.0)
        .bind(new.text.clone())
        .bind(new.thread_root_id.map(|m| m.0))
        .bind(new.client_msg_id.clone())
        .bind(flags)
        .bind(ids)
        .bind(now.0)
        .bind(tsvector_literal(&new.text))
        .fetch_one(tx.c())
        .await?
        .try_get(0)?,
    );
    write_mentions(tx, id, new.channel_id, seq, &new.mentions).await?;
    let files = super::files::attach(tx, id, &new.file_ids).await?;
    if let Some(root) = new.thread_root_id {
        q("UPDATE messages SET reply_count = reply_count + 1, last_reply_at = $2 WHERE id = $1")
            .bind(root.0)
            .bind(now.0)
            .execute(tx.c())
            .await?;
    } else {
        // Posting in a channel means having read it up to one's own message.
        q(
            "UPDATE members SET last_read_seq = greatest(last_read_seq, $3)
           WHERE channel_id = $1 AND user_id = $2",
        )
        .bind(new.channel_id.0)
        .bind(new.user_id.0)
        .bind(seq)
        .execute(tx.c())
        .await?;
    }
    tx.event(
        NewEvent::new(EventKind::MessageCreated)
            .channel(new.channel_id)
            .actor(new.user_id)
            .message(id),
    );
    if let Some(root) = new.thread_root_id {
        tx.event(
            NewEvent::new(EventKind::ThreadUpdated)
                .channel(new.channel_id)
                .actor(new.user_id)
                .message(root),
        );
    }
    let message = Message {
        id,
        channel_id: new.channel_id,
        seq,
        user_id: new.user_id,
        text: new.text,
        thread_root_id: new.thread_root_id,
        client_msg_id: new.client_msg_id,
        mentions: new.mentions,
        created_at: now,
        edited_at: None,
        deleted_at: None,
        reply_count: 0,
        last_reply_at: None,
        pinned_at: None,
        pinned_by: None,
        reactions: Vec::new(),
        files,
    };
    Ok(Posted {
        message,
        created: true,
    })
}

pub async fn history(
    c: &mut PgConnection,
    id: ChannelId,
    anchor: Anchor,
    n: u32,
    include_replies: bool,
) -> Result<Vec<Message>> {
    async fn before(
        c: &mut PgConnection,
        id: ChannelId,
        seq: i64,
        n: u32,
        include_replies: bool,
    ) -> Result<Vec<Message>> {
        let rows = q(concat!(
            "SELECT ",
            message_cols!(),
            " FROM messages WHERE channel_id = $1 AND seq < $2
               AND (deleted_at IS NULL OR reply_count > 0) AND ($3 OR thread_root_id IS NULL)
             ORDER BY seq DESC LIMIT $4"
        ))
        .bind(id.0)
        .bind(seq)
        .bind(include_replies)
        .bind(limit(n))
        .fetch_all(&mut *c)
        .await?;
        let mut v = all(rows, rows::message)?;
        v.reverse();
        Ok(v)
    }
    async fn from(
        c: &mut PgConnection,
        id: ChannelId,
        seq: i64,
        n: u32,
        include_replies: bool,
    ) -> Result<Vec<Message>> {
        let rows = q(concat!(
            "SELECT ",
            message_cols!(),
            " FROM messages WHERE channel_id = $1 AND seq >= $2
               AND (deleted_at IS NULL OR reply_count > 0) AND ($3 OR thread_root_id IS NULL)
             ORDER BY seq ASC LIMIT $4"
        ))
        .bind(id.0)
        .bind(seq)
        .bind(include_replies)
        .bind(limit(n))
        .fetch_all(&mut *c)
        .await?;
        all(rows, rows::message)
    }
    let mut msgs = match anchor {
        Anchor::Latest => before(c, id, i64::MAX, n, include_replies).await?,
        Anchor::Before(s) => before(c, id, s, n, include_replies).await?,
        Anchor::After(s) => from(c, id, s.saturating_add(1), n, include_replies).await?,
        Anchor::Around(s) => {
            let n_before = n / 2;
            let mut v = before(c, id, s, n_before, include_replies).await?;
            v.extend(from(c, id, s, n - n_before, include_replies).await?);
            v
        }
    };
    attach_reactions(c, &mut msgs).await?;
    Ok(msgs)
}

pub async fn thread(
    c: &mut PgConnection,
    root: MessageId,
    after_seq: i64,
    n: u32,
) -> Result<Vec<Message>> {
    let Some(root_msg) = message_raw(c, root).await? else {
        return Ok(Vec::new());
    };
    if root_msg.thread_root_id.is_some() {
        return Ok(Vec::new());
    }
    let rows = q(concat!(
        "SELECT ",
        message_cols!(),
        " FROM messages WHERE thread_root_id = $1 AND seq > $2 AND deleted_at IS NULL
         ORDER BY seq LIMIT $3"
    ))
    .bind(root.0)
    .bind(after_seq)
    .bind(limit(n))
    .fetch_all(&mut *c)
    .await?;
    let mut msgs = vec![root_msg];
    msgs.extend(all(rows, rows::message)?);
    attach_reactions(c, &mut msgs).await?;
    Ok(msgs)
}

pub async fn edit_message(
    tx: &mut Tx,
    id: MessageId,
    actor: UserId,
    text: String,
    mentions: Mentions,
    guard: Guard,
) -> Result<Message> {
    let now = tx.now;
    let (ch, m, before) = load_message_ctx(tx.c(), id, actor, Lock::Shared).await?;
    run_guard(guard, &ch, m.as_ref(), Some(&before), None)?;
    if before.text == text {
        return Ok(before);
    }
    let (flags, ids) = rows::mention_columns(&mentions);
    q(
        "UPDATE messages SET text = $2, mention_flags = $3, mention_user_ids = $4, edited_at = $5,
              search_tsv = $6::tsvector
       WHERE id = $1",
    )
    .bind(id.0)
    .bind(text.clone())
    .bind(flags)
    .bind(ids)
    .bind(now.0)
    .bind(tsvector_literal(&text))
    .execute(tx.c())
    .await?;
    q("DELETE FROM mentions WHERE channel_id = $1 AND seq = $2")
        .bind(before.channel_id.0)
        .bind(before.seq)
        .execute(tx.c())
        .await?;
    write_mentions(tx, id, before.channel_id, before.seq, &mentions).await?;
    tx.event(
        NewEvent::new(EventKind::MessageEdited)
            .channel(before.channel_id)
            .actor(actor)
            .message(id),
    );
    Ok(Message {
        text,
        mentions,
        edited_at: Some(now),
        ..before
    })
}

pub async fn delete_message(
    tx: &mut Tx,
    id: MessageId,
    actor: UserId,
    guard: Guard,
) -> Result<Message> {
    let now = tx.now;
    let (ch, m, before) = load_message_ctx(tx.c(), id, actor, Lock::Shared).await?;
    run_guard(guard, &ch, m.as_ref(), Some(&before), None)?;
    q(
        "UPDATE messages SET text = '', mention_flags = 0, mention_user_ids = '', pinned_at = NULL,
              pinned_by = NULL, deleted_at = $2, search_tsv = NULL
       WHERE id = $1",
    )
    .bind(id.0)
    .bind(now.0)
    .execute(tx.c())
    .await?;
    q("DELETE FROM mentions WHERE channel_id = $1 AND seq = $2")
        .bind(before.channel_id.0)
        .bind(before.seq)
        .execute(tx.c())
        .await?;
    q("DELETE FROM reactions WHERE message_id = $1")
        .bind(id.0)
        .execute(tx.c())
        .await?;
    super::files::detach_all(tx, id).await?;
    tx.event(
        NewEvent::new(EventKind::MessageDeleted)
            .channel(before.channel_id)
            .actor(actor)
            .message(id),
    );
    if let Some(root) = before.thread_root_id {
        // The deleted reply is already marked, so the newest remaining one sets the time.
        q(
            "UPDATE messages SET reply_count = greatest(reply_count - 1, 0),
                  last_reply_at = (SELECT max(created_at) FROM messages
                                    WHERE thread_root_id = $1 AND deleted_at IS NULL)
            WHERE id = $1",
        )
        .bind(root.0)
        .execute(tx.c())
        .await?;
        tx.event(
            NewEvent::new(EventKind::ThreadUpdated)
                .channel(before.channel_id)
                .actor(actor)
                .message(root),
        );
    }
    message(tx.c(), id)
        .await?
        .ok_or(domain(DomainError::NotFound(Entity::Message)))
}

pub async fn set_reaction(
    tx: &mut Tx,
    id: MessageId,
    user_id: UserId,
    emoji: String,
    present: bool,
    guard: Guard,
) -> Result<(Message, bool)> {
    let now = tx.now;
    // The message row lock orders reactions on the message (and so their limit).
    let (ch, m, before) = load_message_ctx(tx.c(), id, user_id, Lock::Shared).await?;
    run_guard(guard, &ch, m.as_ref(), Some(&before), None)?;
    let changed = if present {
        let known = before.reactions.iter().any(|g| g.emoji == emoji);
        if !known && before.reactions.len() >= MAX_REACTIONS_PER_MESSAGE {
            return Err(domain(DomainError::LimitExceeded(
                "too many different reactions on this message",
            )));
        }
        q(
            "INSERT INTO reactions (message_id, emoji, user_id, created_at) VALUES ($1, $2, $3, $4)
           ON CONFLICT DO NOTHING",
        )
        .bind(id.0)
        .bind(emoji.clone())
        .bind(user_id.0)
        .bind(now.0)
        .execute(tx.c())
        .await?
        .rows_affected()
            > 0
    } else {
        q("DELETE FROM reactions WHERE message_id = $1 AND emoji = $2 AND user_id = $3")
            .bind(id.0)
            .bind(emoji.clone())
            .bind(user_id.0)
            .execute(tx.c())
            .await?
            .rows_affected()
            > 0
    };
    if changed {
        let kind = if present {
            EventKind::ReactionAdded
        } else {
            EventKind::ReactionRemoved
        };
        tx.event(
            NewEvent::new(kind)
                .channel(before.channel_id)
                .user(user_id)
                .actor(user_id)
                .message(id)
                .extra(emoji),
        );
    }
    let after = message(tx.c(), id)
        .await?
        .ok_or(domain(DomainError::NotFound(Entity::Message)))?;
    Ok((after, changed))
}

pub async fn set_pinned(
    tx: &mut Tx,
    id: MessageId,
    user_id: UserId,
    pinned: bool,
    guard: Guard,
) -> Result<(Message, bool)> {
    let now = tx.now;
    // Exclusive on the channel: the pin limit is per channel.
    let (ch, m, before) = load_message_ctx(tx.c(), id, user_id, Lock::Exclusive).await?;
    run_guard(guard, &ch, m.as_ref(), Some(&before), None)?;
    if before.pinned_at.is_some() == pinned {
        return Ok((before, false));
    }
    if pinned {
        let n: i64 =
            q("SELECT count(*) FROM messages WHERE channel_id = $1 AND pinned_at IS NOT NULL")
                .bind(before.channel_id.0)
                .fetch_one(tx.c())
                .await?
                .try_get(0)?;
        if n >= MAX_PINS_PER_CHANNEL {
            return Err(domain(DomainError::LimitExceeded(
                "too many pinned messages in this channel",
            )));
        }
        q("UPDATE messages SET pinned_at = $2, pinned_by = $3 WHERE id = $1")
            .bind(id.0)
            .bind(now.0)
            .bind(user_id.0)
            .execute(tx.c())
            .await?;
    } else {
        q("UPDATE messages SET pinned_at = NULL, pinned_by = NULL WHERE id = $1")
            .bind(id.0)
            .execute(tx.c())
            .await?;
    }
    let kind = if pinned {
        EventKind::MessagePinned
    } else {
        EventKind::MessageUnpinned
    };
    tx.event(
        NewEvent::new(kind)
            .channel(before.channel_id)
            .actor(user_id)
            .message(id),
    );
    let after = message(tx.c(), id)
        .await?
        .ok_or(domain(DomainError::NotFound(Entity::Message)))?;
    Ok((after, true))
}

pub async fn pins(c: &mut PgConnection, id: ChannelId) -> Result<Vec<Message>> {
    // Ties in `pinned_at` newest id first, as SQLite's backwards index scan gives them.
    let rows = q(concat!(
        "SELECT ",
        message_cols!(),
        " FROM messages WHERE channel_id = $1 AND pinned_at IS NOT NULL
         ORDER BY pinned_at DESC, id DESC LIMIT $2"
    ))
    .bind(id.0)
    .bind(MAX_PINS_PER_CHANNEL)
    .fetch_all(&mut *c)
    .await?;
    let mut msgs = all(rows, rows::message)?;
    attach_reactions(c, &mut msgs).await?;
    Ok(msgs)
}

// ---------------------------------------------------------------------------------------------
// Real-time support

pub async fn messages_by_ids(c: &mut PgConnection, ids: &[MessageId]) -> Result<Vec<Message>> {
    let rows = q(concat!(
        "SELECT ",
        message_cols!("m"),
        " FROM unnest($1::int8[]) WITH ORDINALITY AS n(id, ord)
         JOIN messages m ON m.id = n.id ORDER BY n.ord"
    ))
    .bind(ids.iter().map(|m| m.0).collect::<Vec<_>>())
    .fetch_all(&mut *c)
    .await?;
    let mut msgs = all(rows, rows::message)?;
    attach_reactions(c, &mut msgs).await?;
    Ok(msgs)
}

pub async fn channels_by_ids(c: &mut PgConnection, ids: &[ChannelId]) -> Result<Vec<Channel>> {
    let rows = q(concat!(
        "SELECT ",
        channel_cols!("ch"),
        " FROM unnest($1::int8[]) WITH ORDINALITY AS n(id, ord)
         JOIN channels ch ON ch.id = n.id ORDER BY n.ord"
    ))
    .bind(ids.iter().map(|c| c.0).collect::<Vec<_>>())
    .fetch_all(&mut *c)
    .await?;
    all(rows, rows::channel)
}

pub async fn channel_ids_of(c: &mut PgConnection, user_id: UserId) -> Result<Vec<ChannelId>> {
    let rows = q("SELECT channel_id FROM members WHERE user_id = $1 ORDER BY channel_id")
        .bind(user_id.0)
        .fetch_all(&mut *c)
        .await?;
    all(rows, |r| r.try_get(0).map(ChannelId))
}

// ---------------------------------------------------------------------------------------------
// Events

pub async fn events_after(c: &mut PgConnection, position: i64, n: u32) -> Result<Vec<Event>> {
    // Only positioned events: a row still waiting for the sequencer has a NULL position.
    let rows = q(concat!(
        "SELECT ",
        event_cols!(),
        " FROM events WHERE position > $1 ORDER BY position LIMIT $2"
    ))
    .bind(position)
    .bind(limit(n))
    .fetch_all(&mut *c)
    .await?;
    all(rows, rows::event)
}

pub async fn last_position(c: &mut PgConnection) -> Result<i64> {
    // The counter, not max(position): positions never go back, pruning included.
    let row = q("SELECT last FROM event_counter WHERE id = 1")
        .fetch_one(&mut *c)
        .await?;
    Ok(row.try_get(0)?)
}

pub async fn first_position(c: &mut PgConnection) -> Result<i64> {
    let row = q("SELECT (SELECT min(position) FROM events),
                        (SELECT last FROM event_counter WHERE id = 1)")
    .fetch_one(&mut *c)
    .await?;
    let (min, last): (Option<i64>, i64) = (row.try_get(0)?, row.try_get(1)?);
    // An empty log: positions continue after the highest ever assigned.
    Ok(min.unwrap_or(last + 1))
}

pub async fn prune_events(tx: &mut Tx, before: Millis, keep_last: u32) -> Result<u64> {
    // Positioned events only (`position <= ...` is never true for NULL).
    let n = q("DELETE FROM events WHERE created_at < $1
                 AND position <= (SELECT coalesce(max(position), 0) FROM events) - $2")
    .bind(before.0)
    .bind(i64::from(keep_last))
    .execute(tx.c())
    .await?
    .rows_affected();
    Ok(n)
}

// ---------------------------------------------------------------------------------------------
// Search

/// Largest position a tsvector holds.
const MAX_TS_POSITION: usize = 16_383;

fn ts_quote(out: &mut String, token: &str) {
    out.push('\'');
    for ch in token.chars() {
        match ch {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
}

/// The tsvector literal of a message text: each index token with its position (1-based).
pub(crate) fn tsvector_literal(text: &str) -> String {
    let mut out = String::new();
    for (i, t) in enclave_core::search::index_tokens(text).iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        ts_quote(&mut out, t);
        out.push(':');
        out.push_str(&(i + 1).min(MAX_TS_POSITION).to_string());
    }
    out
}

/// The tsquery literal for `terms`: each term a `<->` phrase (`:*` on its last token for a
/// prefix), all of them required.
pub(crate) fn tsquery_literal(terms: &[enclave_core::search::Term]) -> String {
    let mut out = String::new();
    for (i, term) in terms.iter().enumerate() {
        if i > 0 {
            out.push_str(" & ");
        }
        out.push('(');
        for (j, t) in term.tokens.iter().enumerate() {
            if j > 0 {
                out.push_str(" <-> ");
            }
            ts_quote(&mut out, t);
            if term.prefix && j + 1 == term.tokens.len() {
                out.push_str(":*");
            }
        }
        out.push(')');
    }
    out
}

enum Arg {
    I(i64),
    T(String),
}

pub async fn search_messages(c: &mut PgConnection, q_: &MessageSearch) -> Result<Vec<Message>> {
    use sqlx_core::sql_str::AssertSqlSafe;
    let mut args: Vec<Arg> = Vec::new();
    let mut n = 0;
    let mut arg = |args: &mut Vec<Arg>, a: Arg| {
        args.push(a);
        n += 1;
        format!("${n}")
    };
    // The permission filter: members only, in the same query as the match.
    let mut sql = format!(
        "FROM messages m JOIN members mb ON mb.channel_id = m.channel_id AND mb.user_id = {} ",
        arg(&mut args, Arg::I(q_.user_id.0))
    );
    if let Some(key) = &q_.in_channel {
        let p = arg(&mut args, Arg::T(key.clone()));
        sql.push_str(&format!(
            "JOIN channels c ON c.id = m.channel_id AND c.name_key = {p} "
        ));
    }
    sql.push_str("WHERE m.deleted_at IS NULL ");
    let tsq = if q_.terms.is_empty() {
        None
    } else {
        let p = arg(&mut args, Arg::T(tsquery_literal(&q_.terms)));
        sql.push_str(&format!("AND m.search_tsv @@ {p}::tsquery "));
        Some(p)
    };
    if let Some(name) = &q_.from {
        let p = arg(&mut args, Arg::T(name.clone()));
        sql.push_str(&format!(
            "AND m.user_id = (SELECT id FROM users WHERE username = {p}) "
        ));
    }
    if let Some(t) = q_.before {
        let p = arg(&mut args, Arg::I(t.0));
        sql.push_str(&format!("AND m.created_at < {p} "));
    }
    if let Some(t) = q_.after {
        let p = arg(&mut args, Arg::I(t.0));
        sql.push_str(&format!("AND m.created_at >= {p} "));
    }
    if q_.has_file {
        sql.push_str("AND EXISTS (SELECT 1 FROM message_files mf WHERE mf.message_id = m.id) ");
    }
    let lim = arg(&mut args, Arg::I(i64::from(q_.limit)));
    let off = arg(&mut args, Arg::I(i64::from(q_.offset)));
    let sql = match &tsq {
        // Rank the newest matches only (the window is the same on SQLite).
        Some(p) => format!(
            "SELECT {cols} FROM (SELECT m.id {sql} ORDER BY m.id DESC LIMIT {SEARCH_RANK_WINDOW}) AS w
               JOIN messages m ON m.id = w.id
              ORDER BY ts_rank_cd(m.search_tsv, {p}::tsquery) DESC, m.id DESC
              LIMIT {lim} OFFSET {off}",
            cols = message_cols!("m")
        ),
        None => format!(
            "SELECT {cols} {sql} ORDER BY m.created_at DESC, m.id DESC LIMIT {lim} OFFSET {off}",
            cols = message_cols!("m")
        ),
    };
    // Not prepared once and reused: a generic plan cannot tell a rare word from a common one
    // (or a large channel from a small one), so each search is planned with its values.
    let mut query_ = query::<Postgres>(AssertSqlSafe(sql)).persistent(false);
    for a in args {
        query_ = match a {
            Arg::I(v) => query_.bind(v),
            Arg::T(v) => query_.bind(v),
        };
    }
    let rows = query_.fetch_all(&mut *c).await?;
    let mut msgs = all(rows, rows::message)?;
    attach_reactions(c, &mut msgs).await?;
    Ok(msgs)
}

pub async fn search_channels(
    c: &mut PgConnection,
    user_id: UserId,
    text: &str,
    n: u32,
) -> Result<Vec<(Channel, bool)>> {
    let key = enclave_core::validate::channel_name_key(text);
    let contains = like_pattern(&key);
    let starts = format!("{}%", &contains[1..]);
    let rows = q(concat!(
        "SELECT ",
        channel_cols!("c"),
        ", mb.user_id IS NOT NULL FROM channels c
           LEFT JOIN members mb ON mb.channel_id = c.id AND mb.user_id = $1
          WHERE c.name_key IS NOT NULL AND c.name_key LIKE $2
            AND (mb.user_id IS NOT NULL OR (c.kind = 'public' AND c.archived_at IS NULL))
          ORDER BY mb.user_id IS NULL, c.name_key NOT LIKE $3, c.name_key, c.id
          LIMIT $4"
    ))
    .bind(user_id.0)
    .bind(contains)
    .bind(starts)
    .bind(limit(n))
    .fetch_all(&mut *c)
    .await?;
    all(rows, |r| {
        Ok((rows::channel(r)?, r.try_get::<bool, _>(N_CHANNEL_COLS)?))
    })
}

/// Writes `search_tsv` for up to `n` messages with ids above `after` (deleted ones get NULL);
/// `lock` takes their rows first, for a rebuild beside live writers.
async fn index_batch(
    c: &mut PgConnection,
    after: MessageId,
    n: u32,
    lock: bool,
) -> Result<ReindexStep> {
    let rows = q(if lock {
        "SELECT id, text, deleted_at IS NOT NULL FROM messages WHERE id > $1 ORDER BY id LIMIT $2
         FOR NO KEY UPDATE"
    } else {
        "SELECT id, text, deleted_at IS NOT NULL FROM messages WHERE id > $1 ORDER BY id LIMIT $2"
    })
    .bind(after.0)
    .bind(limit(n))
    .fetch_all(&mut *c)
    .await?;
    let mut ids = Vec::with_capacity(rows.len());
    let mut tsvs: Vec<Option<String>> = Vec::with_capacity(rows.len());
    let mut indexed = 0;
    for r in &rows {
        ids.push(r.try_get::<i64, _>(0)?);
        if r.try_get::<bool, _>(2)? {
            tsvs.push(None);
        } else {
            tsvs.push(Some(tsvector_literal(&r.try_get::<String, _>(1)?)));
            indexed += 1;
        }
    }
    let Some(&last) = ids.last() else {
        return Ok(ReindexStep {
            last: None,
            indexed: 0,
        });
    };
    q("UPDATE messages m SET search_tsv = v.t::tsvector
         FROM unnest($1::int8[], $2::text[]) AS v(id, t) WHERE m.id = v.id")
    .bind(ids)
    .bind(tsvs)
    .execute(&mut *c)
    .await?;
    Ok(ReindexStep {
        last: Some(MessageId(last)),
        indexed,
    })
}

pub async fn reindex_batch(tx: &mut Tx, after: MessageId, n: u32) -> Result<ReindexStep> {
    index_batch(tx.c(), after, n, true).await
}

/// Indexes every message, in batches, on `c` (inside the caller's transaction, if any), and
/// records that the index is built.
pub async fn index_all(c: &mut PgConnection) -> Result<u64> {
    let mut after = MessageId(0);
    let mut total = 0;
    loop {
        let step = index_batch(&mut *c, after, 2000, false).await?;
        total += step.indexed;
        match step.last {
            Some(last) => after = last,
            None => break,
        }
    }
    q("UPDATE search_state SET built = true WHERE id = 1")
        .execute(&mut *c)
        .await?;
    Ok(total)
}

pub async fn message_stats(c: &mut PgConnection) -> Result<(u64, MessageId)> {
    let row = q("SELECT count(*), coalesce(max(id), 0) FROM messages")
        .fetch_one(&mut *c)
        .await?;
    Ok((
        row.try_get::<i64, _>(0)?.max(0).unsigned_abs(),
        MessageId(row.try_get(1)?),
    ))
}
