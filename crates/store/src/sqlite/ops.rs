//! The SQL behind each store operation. Reads take a `&Connection`; writes take the writer's
//! [`Tx`] and append their events there.

use enclave_core::{
    Anchor, Channel, ChannelId, ChannelKind, ChannelRole, ChannelSummary, Entity,
    Error as DomainError, Event, EventKind, Membership, Mentions, Message, MessageId, Millis,
    NewEvent, TokenInfo, User, UserId, validate::MAX_REACTIONS_PER_MESSAGE,
};
use rusqlite::{Connection, OptionalExtension, params};

use super::Tx;
use super::rows::{
    self, CHANNEL_COLS, EVENT_COLS, MEMBER_COLS, MESSAGE_COLS, TOKEN_COLS, USER_COLS,
};
use crate::{
    BrowseQuery, ChannelPatch, Error, Guard, GuardCtx, MessageSearch, NewChannel, NewMessage,
    NewToken, NewUser, Posted, ReindexStep, Result, SEARCH_RANK_WINDOW, UserPatch, UserQuery,
};

pub use crate::MAX_PINS_PER_CHANNEL;

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.code == rusqlite::ErrorCode::ConstraintViolation && (f.extended_code == 2067 || f.extended_code == 1555))
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

// ---------------------------------------------------------------------------------------------
// Accounts

pub fn user(c: &Connection, id: UserId) -> Result<Option<User>> {
    let mut stmt = c.prepare_cached(&format!("SELECT {USER_COLS} FROM users WHERE id = ?1"))?;
    Ok(stmt.query_row([id.0], rows::user).optional()?)
}

pub fn create_user(tx: &mut Tx<'_>, new: NewUser) -> Result<User> {
    let r = tx
        .conn
        .prepare_cached(
            "INSERT INTO users (username, display_name, email, password_hash, is_admin, is_bot, active, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?7)",
        )?
        .execute(params![
            new.username,
            new.display_name,
            new.email,
            new.password_hash,
            new.is_admin,
            new.is_bot,
            tx.now.0
        ]);
    match r {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => {
            let what = if e.to_string().contains("email") {
                "email is taken"
            } else {
                "username is taken"
            };
            return Err(domain(DomainError::Conflict(what)));
        }
        Err(e) => return Err(e.into()),
    }
    let id = UserId(tx.conn.last_insert_rowid());
    let mut ev = NewEvent::new(EventKind::UserCreated).user(id);
    ev.actor_id = new.actor_id;
    tx.event(ev)?;
    user(tx.conn, id)?.ok_or(Error::Domain(DomainError::NotFound(Entity::User)))
}

pub fn user_credentials(c: &Connection, login: &str) -> Result<Option<(User, Option<String>)>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {USER_COLS}, password_hash FROM users WHERE username = ?1 OR email = ?1 ORDER BY username = ?1 DESC LIMIT 1"
    ))?;
    Ok(stmt
        .query_row([login], |r| Ok((rows::user(r)?, r.get(rows::N_USER_COLS)?)))
        .optional()?)
}

pub fn users_by_usernames(c: &Connection, names: &[String]) -> Result<Vec<User>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {USER_COLS} FROM users WHERE username = ?1"
    ))?;
    let mut out = Vec::with_capacity(names.len());
    for n in names {
        if let Some(u) = stmt.query_row([n], rows::user).optional()? {
            out.push(u);
        }
    }
    Ok(out)
}

pub fn users_by_ids(c: &Connection, ids: &[UserId]) -> Result<Vec<User>> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(u) = user(c, *id)? {
            out.push(u);
        }
    }
    Ok(out)
}

pub fn list_users(c: &Connection, q: &UserQuery) -> Result<Vec<User>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {USER_COLS} FROM users
         WHERE (?1 OR active = 1)
           AND (?2 IS NULL OR username > ?2)
           AND (?3 IS NULL OR username LIKE ?3 ESCAPE '\\' OR display_name LIKE ?3 ESCAPE '\\')
         ORDER BY username LIMIT ?4"
    ))?;
    let pattern = q.text.as_deref().map(like_pattern);
    let rows = stmt.query_map(
        params![q.include_inactive, q.after_username, pattern, q.limit],
        rows::user,
    )?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn update_user(
    tx: &mut Tx<'_>,
    id: UserId,
    patch: UserPatch,
    actor_id: Option<UserId>,
) -> Result<User> {
    let before = user(tx.conn, id)?.ok_or(Error::Domain(DomainError::NotFound(Entity::User)))?;
    let c = tx.conn;
    if let Some(name) = &patch.display_name {
        c.execute(
            "UPDATE users SET display_name = ?2 WHERE id = ?1",
            params![id.0, name],
        )?;
    }
    if let Some(email) = &patch.email {
        match c.execute(
            "UPDATE users SET email = ?2 WHERE id = ?1",
            params![id.0, email],
        ) {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(domain(DomainError::Conflict("email is taken")));
            }
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(hash) = &patch.password_hash {
        c.execute(
            "UPDATE users SET password_hash = ?2 WHERE id = ?1",
            params![id.0, hash],
        )?;
    }
    if let Some(admin) = patch.is_admin {
        c.execute(
            "UPDATE users SET is_admin = ?2 WHERE id = ?1",
            params![id.0, admin],
        )?;
    }
    if let Some(active) = patch.active {
        c.execute(
            "UPDATE users SET active = ?2 WHERE id = ?1",
            params![id.0, active],
        )?;
        if !active {
            // Sessions end with deactivation; personal access tokens only stop working meanwhile.
            c.execute(
                "DELETE FROM tokens WHERE user_id = ?1 AND kind = 'session'",
                [id.0],
            )?;
            tx.event(NewEvent::new(EventKind::TokensRevoked).user(id))?;
        }
    }
    if let Some(status) = &patch.status_text {
        c.execute(
            "UPDATE users SET status_text = ?2 WHERE id = ?1",
            params![id.0, status],
        )?;
    }
    if let Some(dnd) = patch.dnd {
        c.execute(
            "UPDATE users SET dnd = ?2 WHERE id = ?1",
            params![id.0, dnd],
        )?;
    }
    c.execute(
        "UPDATE users SET updated_at = ?2 WHERE id = ?1",
        params![id.0, tx.now.0],
    )?;
    let after = user(c, id)?.ok_or(Error::Domain(DomainError::NotFound(Entity::User)))?;
    let visible_change = before.display_name != after.display_name
        || before.email != after.email
        || before.active != after.active
        || before.is_admin != after.is_admin
        || before.status_text != after.status_text
        || before.dnd != after.dnd;
    if visible_change {
        let mut ev = NewEvent::new(EventKind::UserUpdated).user(id);
        ev.actor_id = actor_id;
        tx.event(ev)?;
    }
    Ok(after)
}

pub fn revoke_sessions(
    tx: &mut Tx<'_>,
    user_id: UserId,
    except: Option<enclave_core::TokenId>,
) -> Result<u64> {
    let n = tx.conn.execute(
        "DELETE FROM tokens WHERE user_id = ?1 AND kind = 'session' AND id IS NOT ?2",
        params![user_id.0, except.map(|t| t.0)],
    )?;
    if n > 0 {
        tx.event(NewEvent::new(EventKind::TokensRevoked).user(user_id))?;
    }
    Ok(n as u64)
}

pub fn revoke_token(tx: &mut Tx<'_>, user_id: UserId, id: enclave_core::TokenId) -> Result<bool> {
    let n = tx.conn.execute(
        "DELETE FROM tokens WHERE id = ?1 AND user_id = ?2",
        params![id.0, user_id.0],
    )?;
    if n > 0 {
        tx.event(
            NewEvent::new(EventKind::TokensRevoked)
                .user(user_id)
                .extra(id.0.to_string()),
        )?;
    }
    Ok(n > 0)
}

// ---------------------------------------------------------------------------------------------
// Tokens

pub fn create_token(tx: &mut Tx<'_>, new: NewToken) -> Result<TokenInfo> {
    tx.conn
        .prepare_cached(
            "INSERT INTO tokens (user_id, kind, token_hash, name, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![new.user_id.0, new.kind.as_str(), &new.hash[..], new.name, tx.now.0, new.expires_at.map(|m| m.0)])?;
    let id = tx.conn.last_insert_rowid();
    let mut stmt = tx
        .conn
        .prepare_cached(&format!("SELECT {TOKEN_COLS} FROM tokens WHERE id = ?1"))?;
    Ok(stmt.query_row([id], rows::token)?)
}

pub fn token_by_hash(
    c: &Connection,
    hash: &[u8; 32],
    now: Millis,
) -> Result<Option<(TokenInfo, User)>> {
    let cols = TOKEN_COLS
        .split(", ")
        .map(|c| format!("t.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let ucols = USER_COLS
        .split(", ")
        .map(|c| format!("u.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {cols}, {ucols} FROM tokens t JOIN users u ON u.id = t.user_id
         WHERE t.token_hash = ?1 AND (t.expires_at IS NULL OR t.expires_at > ?2)"
    ))?;
    Ok(stmt
        .query_row(params![&hash[..], now.0], |r| {
            Ok((rows::token(r)?, rows::user_at(r, 7)?))
        })
        .optional()?)
}

pub fn list_tokens(c: &Connection, user_id: UserId) -> Result<Vec<TokenInfo>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {TOKEN_COLS} FROM tokens WHERE user_id = ?1 ORDER BY id"
    ))?;
    let rows = stmt.query_map([user_id.0], rows::token)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

// ---------------------------------------------------------------------------------------------
// Channels and members

pub fn channel(c: &Connection, id: ChannelId) -> Result<Option<Channel>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {CHANNEL_COLS} FROM channels WHERE id = ?1"
    ))?;
    Ok(stmt.query_row([id.0], rows::channel).optional()?)
}

pub fn membership(c: &Connection, id: ChannelId, user_id: UserId) -> Result<Option<Membership>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {MEMBER_COLS} FROM members WHERE channel_id = ?1 AND user_id = ?2"
    ))?;
    Ok(stmt.query_row([id.0, user_id.0], rows::member).optional()?)
}

fn insert_member(
    tx: &mut Tx<'_>,
    id: ChannelId,
    user_id: UserId,
    role: ChannelRole,
    last_read: i64,
) -> Result<()> {
    tx.conn
        .prepare_cached(
            "INSERT INTO members (channel_id, user_id, role, last_read_seq, joined_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![id.0, user_id.0, role.as_str(), last_read, tx.now.0])?;
    tx.conn.execute(
        "UPDATE channels SET n_members = n_members + 1 WHERE id = ?1",
        [id.0],
    )?;
    Ok(())
}

pub fn create_channel(tx: &mut Tx<'_>, new: NewChannel) -> Result<Channel> {
    let r = tx.conn.execute(
        "INSERT INTO channels (kind, name, name_key, topic, purpose, creator_id, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
        params![new.kind.as_str(), new.name, new.name_key, new.topic, new.purpose, new.creator_id.0, tx.now.0],
    );
    match r {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => {
            return Err(domain(DomainError::Conflict(
                "a channel with this name already exists",
            )));
        }
        Err(e) => return Err(e.into()),
    }
    let id = ChannelId(tx.conn.last_insert_rowid());
    insert_member(tx, id, new.creator_id, ChannelRole::Owner, 0)?;
    tx.event(
        NewEvent::new(EventKind::ChannelCreated)
            .channel(id)
            .actor(new.creator_id),
    )?;
    tx.event(
        NewEvent::new(EventKind::MemberAdded)
            .channel(id)
            .user(new.creator_id)
            .actor(new.creator_id),
    )?;
    channel(tx.conn, id)?.ok_or(Error::Domain(DomainError::NotFound(Entity::Channel)))
}

pub fn open_direct(
    tx: &mut Tx<'_>,
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
    let existing: Option<i64> = tx
        .conn
        .query_row("SELECT id FROM channels WHERE dm_key = ?1", [&key], |r| {
            r.get(0)
        })
        .optional()?;
    if let Some(id) = existing {
        let ch = channel(tx.conn, ChannelId(id))?
            .ok_or(Error::Domain(DomainError::NotFound(Entity::Channel)))?;
        return Ok((ch, false));
    }
    let kind = if user_ids.len() <= 2 {
        ChannelKind::Dm
    } else {
        ChannelKind::GroupDm
    };
    tx.conn.execute(
        "INSERT INTO channels (kind, dm_key, creator_id, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
        params![kind.as_str(), key, creator.0, tx.now.0],
    )?;
    let id = ChannelId(tx.conn.last_insert_rowid());
    for u in &user_ids {
        insert_member(tx, id, *u, ChannelRole::Member, 0)?;
    }
    tx.event(
        NewEvent::new(EventKind::ChannelCreated)
            .channel(id)
            .actor(creator),
    )?;
    for u in &user_ids {
        tx.event(
            NewEvent::new(EventKind::MemberAdded)
                .channel(id)
                .user(*u)
                .actor(creator),
        )?;
    }
    let ch = channel(tx.conn, id)?.ok_or(Error::Domain(DomainError::NotFound(Entity::Channel)))?;
    Ok((ch, true))
}

fn unread_counts(c: &Connection, m: &Membership) -> Result<(i64, i64)> {
    let mut unread = c.prepare_cached(
        "SELECT count(*) FROM messages WHERE channel_id = ?1 AND seq > ?2
           AND thread_root_id IS NULL AND deleted_at IS NULL AND user_id <> ?3",
    )?;
    let u: i64 = unread.query_row(params![m.channel_id.0, m.last_read_seq, m.user_id.0], |r| {
        r.get(0)
    })?;
    let mut mentions = c.prepare_cached(
        "SELECT count(*) FROM (
            SELECT mn.seq FROM mentions mn JOIN messages msg ON msg.id = mn.message_id
              WHERE mn.user_id = ?3 AND mn.channel_id = ?1 AND mn.seq > ?2 AND msg.user_id <> ?3
            UNION
            SELECT seq FROM messages WHERE channel_id = ?1 AND seq > ?2 AND mention_flags <> 0
              AND deleted_at IS NULL AND user_id <> ?3)",
    )?;
    let n: i64 = mentions
        .query_row(params![m.channel_id.0, m.last_read_seq, m.user_id.0], |r| {
            r.get(0)
        })?;
    Ok((u, n))
}

pub fn my_channels(
    c: &Connection,
    user_id: UserId,
    only: Option<ChannelId>,
) -> Result<Vec<ChannelSummary>> {
    let ccols = CHANNEL_COLS
        .split(", ")
        .map(|c| format!("ch.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mcols = MEMBER_COLS
        .split(", ")
        .map(|c| format!("m.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {ccols}, {mcols} FROM members m JOIN channels ch ON ch.id = m.channel_id
         WHERE m.user_id = ?1 AND (?2 IS NULL OR m.channel_id = ?2) ORDER BY ch.id"
    ))?;
    let pairs = stmt
        .query_map(params![user_id.0, only.map(|c| c.0)], |r| {
            Ok((rows::channel_at(r, 0)?, rows::member_at(r, 11)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut others = c.prepare_cached(
        "SELECT user_id FROM members WHERE channel_id = ?1 AND user_id <> ?2 ORDER BY user_id",
    )?;
    let mut out = Vec::with_capacity(pairs.len());
    for (channel, membership) in pairs {
        let (unread_count, mention_count) = unread_counts(c, &membership)?;
        let dm_user_ids = if channel.kind.is_direct() {
            others
                .query_map([channel.id.0, user_id.0], |r| r.get(0).map(UserId))?
                .collect::<rusqlite::Result<Vec<_>>>()?
        } else {
            Vec::new()
        };
        out.push(ChannelSummary {
            channel,
            membership,
            unread_count,
            mention_count,
            dm_user_ids,
        });
    }
    Ok(out)
}

pub fn browse_channels(c: &Connection, q: &BrowseQuery) -> Result<Vec<Channel>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {CHANNEL_COLS} FROM channels
         WHERE kind = 'public' AND (?1 OR archived_at IS NULL) AND (?2 IS NULL OR id > ?2)
           AND (?3 IS NULL OR name LIKE ?3 ESCAPE '\\' OR topic LIKE ?3 ESCAPE '\\')
         ORDER BY id LIMIT ?4"
    ))?;
    let pattern = q.text.as_deref().map(like_pattern);
    let rows = stmt.query_map(
        params![
            q.include_archived,
            q.after_id.map(|c| c.0),
            pattern,
            q.limit
        ],
        rows::channel,
    )?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Loads a channel and the actor's membership for a guard; a missing channel is `NotFound`.
fn load_ctx(c: &Connection, id: ChannelId, actor: UserId) -> Result<(Channel, Option<Membership>)> {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(|| {
        let ccols = CHANNEL_COLS
            .split(", ")
            .map(|c| format!("ch.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mcols = MEMBER_COLS
            .split(", ")
            .map(|c| format!("m.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "SELECT {ccols}, {mcols} FROM channels ch
             LEFT JOIN members m ON m.channel_id = ch.id AND m.user_id = ?2
             WHERE ch.id = ?1"
        )
    });
    let mut stmt = c.prepare_cached(sql)?;
    let row = stmt
        .query_row([id.0, actor.0], |r| {
            let ch = rows::channel_at(r, 0)?;
            let m = match r.get::<_, Option<i64>>(11)? {
                Some(_) => Some(rows::member_at(r, 11)?),
                None => None,
            };
            Ok((ch, m))
        })
        .optional()?;
    row.ok_or(Error::Domain(DomainError::NotFound(Entity::Channel)))
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

pub fn update_channel(
    tx: &mut Tx<'_>,
    id: ChannelId,
    actor: UserId,
    patch: ChannelPatch,
    guard: Guard,
) -> Result<Channel> {
    let (before, m) = load_ctx(tx.conn, id, actor)?;
    run_guard(guard, &before, m.as_ref(), None, None)?;
    let c = tx.conn;
    if let Some((name, key)) = &patch.name {
        match c.execute(
            "UPDATE channels SET name = ?2, name_key = ?3 WHERE id = ?1",
            params![id.0, name, key],
        ) {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(domain(DomainError::Conflict(
                    "a channel with this name already exists",
                )));
            }
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(topic) = &patch.topic {
        c.execute(
            "UPDATE channels SET topic = ?2 WHERE id = ?1",
            params![id.0, topic],
        )?;
    }
    if let Some(purpose) = &patch.purpose {
        c.execute(
            "UPDATE channels SET purpose = ?2 WHERE id = ?1",
            params![id.0, purpose],
        )?;
    }
    match patch.archived {
        Some(true) if before.archived_at.is_none() => {
            c.execute(
                "UPDATE channels SET archived_at = ?2 WHERE id = ?1",
                params![id.0, tx.now.0],
            )?;
        }
        Some(false) => {
            c.execute(
                "UPDATE channels SET archived_at = NULL WHERE id = ?1",
                [id.0],
            )?;
        }
        _ => {}
    }
    let mut after = channel(c, id)?.ok_or(Error::Domain(DomainError::NotFound(Entity::Channel)))?;
    let fields_changed =
        before.name != after.name || before.topic != after.topic || before.purpose != after.purpose;
    let archive_changed = before.archived_at.is_some() != after.archived_at.is_some();
    if fields_changed || archive_changed {
        c.execute(
            "UPDATE channels SET updated_at = ?2 WHERE id = ?1",
            params![id.0, tx.now.0],
        )?;
        after.updated_at = tx.now;
    }
    if fields_changed {
        tx.event(
            NewEvent::new(EventKind::ChannelUpdated)
                .channel(id)
                .actor(actor),
        )?;
    }
    if archive_changed {
        let kind = if after.is_archived() {
            EventKind::ChannelArchived
        } else {
            EventKind::ChannelUnarchived
        };
        tx.event(NewEvent::new(kind).channel(id).actor(actor))?;
    }
    Ok(after)
}

pub fn add_member(
    tx: &mut Tx<'_>,
    id: ChannelId,
    actor: UserId,
    user_id: UserId,
    role: ChannelRole,
    guard: Guard,
) -> Result<(Membership, bool)> {
    let (ch, m) = load_ctx(tx.conn, id, actor)?;
    let target = membership(tx.conn, id, user_id)?;
    run_guard(guard, &ch, m.as_ref(), None, target.as_ref())?;
    if let Some(existing) = target {
        return Ok((existing, false));
    }
    let active: Option<bool> = tx
        .conn
        .query_row("SELECT active FROM users WHERE id = ?1", [user_id.0], |r| {
            r.get(0)
        })
        .optional()?;
    if active != Some(true) {
        return Err(domain(DomainError::NotFound(Entity::User)));
    }
    // A new member starts with everything before joining marked read.
    insert_member(tx, id, user_id, role, ch.last_seq)?;
    tx.event(
        NewEvent::new(EventKind::MemberAdded)
            .channel(id)
            .user(user_id)
            .actor(actor),
    )?;
    let added = membership(tx.conn, id, user_id)?
        .ok_or(Error::Domain(DomainError::NotFound(Entity::Member)))?;
    Ok((added, true))
}

pub fn remove_member(
    tx: &mut Tx<'_>,
    id: ChannelId,
    actor: UserId,
    user_id: UserId,
    guard: Guard,
) -> Result<()> {
    let (ch, m) = load_ctx(tx.conn, id, actor)?;
    let target = membership(tx.conn, id, user_id)?;
    run_guard(guard, &ch, m.as_ref(), None, target.as_ref())?;
    if target.is_none() {
        return Err(domain(DomainError::NotFound(Entity::Member)));
    }
    tx.conn.execute(
        "DELETE FROM members WHERE channel_id = ?1 AND user_id = ?2",
        [id.0, user_id.0],
    )?;
    tx.conn.execute(
        "UPDATE channels SET n_members = n_members - 1 WHERE id = ?1",
        [id.0],
    )?;
    tx.event(
        NewEvent::new(EventKind::MemberRemoved)
            .channel(id)
            .user(user_id)
            .actor(actor),
    )?;
    Ok(())
}

pub fn set_member_role(
    tx: &mut Tx<'_>,
    id: ChannelId,
    actor: UserId,
    user_id: UserId,
    role: ChannelRole,
    guard: Guard,
) -> Result<Membership> {
    let (ch, m) = load_ctx(tx.conn, id, actor)?;
    let target = membership(tx.conn, id, user_id)?;
    run_guard(guard, &ch, m.as_ref(), None, target.as_ref())?;
    let Some(target) = target else {
        return Err(domain(DomainError::NotFound(Entity::Member)));
    };
    if target.role == role {
        return Ok(target);
    }
    tx.conn.execute(
        "UPDATE members SET role = ?3 WHERE channel_id = ?1 AND user_id = ?2",
        params![id.0, user_id.0, role.as_str()],
    )?;
    tx.event(
        NewEvent::new(EventKind::MemberUpdated)
            .channel(id)
            .user(user_id)
            .actor(actor),
    )?;
    Ok(Membership { role, ..target })
}

pub fn members(
    c: &Connection,
    id: ChannelId,
    after: Option<UserId>,
    limit: u32,
) -> Result<Vec<(Membership, User)>> {
    let mcols = MEMBER_COLS
        .split(", ")
        .map(|c| format!("m.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let ucols = USER_COLS
        .split(", ")
        .map(|c| format!("u.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {mcols}, {ucols} FROM members m JOIN users u ON u.id = m.user_id
         WHERE m.channel_id = ?1 AND m.user_id > ?2 ORDER BY m.user_id LIMIT ?3"
    ))?;
    let rows = stmt.query_map(params![id.0, after.map_or(0, |u| u.0), limit], |r| {
        Ok((rows::member_at(r, 0)?, rows::user_at(r, 5)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn mark_read(
    tx: &mut Tx<'_>,
    id: ChannelId,
    user_id: UserId,
    seq: i64,
    guard: Guard,
) -> Result<Membership> {
    let (ch, m) = load_ctx(tx.conn, id, user_id)?;
    run_guard(guard, &ch, m.as_ref(), None, None)?;
    let Some(m) = m else {
        return Err(domain(DomainError::NotFound(Entity::Member)));
    };
    let seq = seq.clamp(0, ch.last_seq);
    if seq == m.last_read_seq {
        return Ok(m);
    }
    tx.conn.execute(
        "UPDATE members SET last_read_seq = ?3 WHERE channel_id = ?1 AND user_id = ?2",
        params![id.0, user_id.0, seq],
    )?;
    tx.event(
        NewEvent::new(EventKind::ReadUpdated)
            .channel(id)
            .user(user_id)
            .actor(user_id)
            .extra(seq.to_string()),
    )?;
    Ok(Membership {
        last_read_seq: seq,
        ..m
    })
}

// ---------------------------------------------------------------------------------------------
// Messages

/// Fills in each message's reactions and files.
fn attach_reactions(c: &Connection, msgs: &mut [Message]) -> Result<()> {
    super::files::attach_to_messages(c, msgs)?;
    let mut stmt =
        c.prepare_cached("SELECT emoji, user_id FROM reactions WHERE message_id = ?1 ORDER BY created_at, emoji, user_id")?;
    for m in msgs.iter_mut() {
        let mut rows = stmt.query([m.id.0])?;
        while let Some(r) = rows.next()? {
            let emoji: String = r.get(0)?;
            let user = UserId(r.get(1)?);
            match m.reactions.iter_mut().find(|g| g.emoji == emoji) {
                Some(g) => g.user_ids.push(user),
                None => m.reactions.push(enclave_core::ReactionGroup {
                    emoji,
                    user_ids: vec![user],
                }),
            }
        }
    }
    Ok(())
}

fn message_raw(c: &Connection, id: MessageId) -> Result<Option<Message>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {MESSAGE_COLS} FROM messages WHERE id = ?1"
    ))?;
    Ok(stmt.query_row([id.0], rows::message).optional()?)
}

pub fn message(c: &Connection, id: MessageId) -> Result<Option<Message>> {
    let Some(m) = message_raw(c, id)? else {
        return Ok(None);
    };
    let mut one = [m];
    attach_reactions(c, &mut one)?;
    let [m] = one;
    Ok(Some(m))
}

fn live_message(c: &Connection, id: MessageId) -> Result<Message> {
    match message(c, id)? {
        Some(m) if !m.is_deleted() => Ok(m),
        _ => Err(domain(DomainError::NotFound(Entity::Message))),
    }
}

fn write_mentions(
    tx: &Tx<'_>,
    msg: MessageId,
    channel: ChannelId,
    seq: i64,
    mentions: &Mentions,
) -> Result<()> {
    let mut stmt = tx
        .conn
        .prepare_cached("INSERT OR IGNORE INTO mentions (user_id, channel_id, seq, message_id) VALUES (?1, ?2, ?3, ?4)")?;
    for u in &mentions.user_ids {
        stmt.execute(params![u.0, channel.0, seq, msg.0])?;
    }
    Ok(())
}

pub fn post_message(tx: &mut Tx<'_>, new: NewMessage, guard: Guard) -> Result<Posted> {
    let (ch, m) = load_ctx(tx.conn, new.channel_id, new.user_id)?;
    run_guard(guard, &ch, m.as_ref(), None, None)?;
    if let Some(cid) = &new.client_msg_id {
        let existing: Option<i64> = tx
            .conn
            .prepare_cached("SELECT id FROM messages WHERE channel_id = ?1 AND user_id = ?2 AND client_msg_id = ?3")?
            .query_row(params![new.channel_id.0, new.user_id.0, cid], |r| r.get(0))
            .optional()?;
        if let Some(id) = existing {
            let message = message(tx.conn, MessageId(id))?
                .ok_or(Error::Domain(DomainError::NotFound(Entity::Message)))?;
            return Ok(Posted {
                message,
                created: false,
            });
        }
    }
    if let Some(root) = new.thread_root_id {
        let root_row: Option<(i64, Option<i64>, Option<i64>)> = tx
            .conn
            .prepare_cached(
                "SELECT channel_id, thread_root_id, deleted_at FROM messages WHERE id = ?1",
            )?
            .query_row([root.0], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
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
    let seq: i64 = tx
        .conn
        .prepare_cached(
            "UPDATE channels SET last_seq = last_seq + 1 WHERE id = ?1 RETURNING last_seq",
        )?
        .query_row([new.channel_id.0], |r| r.get(0))?;
    let (flags, ids) = rows::mention_columns(&new.mentions);
    tx.conn
        .prepare_cached(
            "INSERT INTO messages (channel_id, seq, user_id, text, thread_root_id, client_msg_id, mention_flags,
                                   mention_user_ids, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            new.channel_id.0,
            seq,
            new.user_id.0,
            new.text,
            new.thread_root_id.map(|m| m.0),
            new.client_msg_id,
            flags,
            ids,
            tx.now.0
        ])?;
    let id = MessageId(tx.conn.last_insert_rowid());
    index_message(tx.conn, id, &new.text)?;
    write_mentions(tx, id, new.channel_id, seq, &new.mentions)?;
    let files = super::files::attach(tx, id, &new.file_ids)?;
    if let Some(root) = new.thread_root_id {
        tx.conn
            .prepare_cached("UPDATE messages SET reply_count = reply_count + 1, last_reply_at = ?2 WHERE id = ?1")?
            .execute(params![root.0, tx.now.0])?;
    } else {
        // Posting in a channel means having read it up to one's own message.
        tx.conn
            .prepare_cached(
                "UPDATE members SET last_read_seq = max(last_read_seq, ?3) WHERE channel_id = ?1 AND user_id = ?2",
            )?
            .execute(params![new.channel_id.0, new.user_id.0, seq])?;
    }
    tx.event(
        NewEvent::new(EventKind::MessageCreated)
            .channel(new.channel_id)
            .actor(new.user_id)
            .message(id),
    )?;
    if let Some(root) = new.thread_root_id {
        tx.event(
            NewEvent::new(EventKind::ThreadUpdated)
                .channel(new.channel_id)
                .actor(new.user_id)
                .message(root),
        )?;
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
        created_at: tx.now,
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

const VISIBLE: &str = "(deleted_at IS NULL OR reply_count > 0) AND (?3 OR thread_root_id IS NULL)";

pub fn history(
    c: &Connection,
    id: ChannelId,
    anchor: Anchor,
    limit: u32,
    include_replies: bool,
) -> Result<Vec<Message>> {
    let before = |seq: i64, n: u32| -> Result<Vec<Message>> {
        let mut stmt = c.prepare_cached(&format!(
            "SELECT {MESSAGE_COLS} FROM messages WHERE channel_id = ?1 AND seq < ?2 AND {VISIBLE} ORDER BY seq DESC LIMIT ?4"
        ))?;
        let mut v = stmt
            .query_map(params![id.0, seq, include_replies, n], rows::message)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        v.reverse();
        Ok(v)
    };
    let from = |seq: i64, n: u32| -> Result<Vec<Message>> {
        let mut stmt = c.prepare_cached(&format!(
            "SELECT {MESSAGE_COLS} FROM messages WHERE channel_id = ?1 AND seq >= ?2 AND {VISIBLE} ORDER BY seq ASC LIMIT ?4"
        ))?;
        Ok(stmt
            .query_map(params![id.0, seq, include_replies, n], rows::message)?
            .collect::<rusqlite::Result<Vec<_>>>()?)
    };
    let mut msgs = match anchor {
        Anchor::Latest => before(i64::MAX, limit)?,
        Anchor::Before(s) => before(s, limit)?,
        Anchor::After(s) => from(s.saturating_add(1), limit)?,
        Anchor::Around(s) => {
            let n_before = limit / 2;
            let mut v = before(s, n_before)?;
            v.extend(from(s, limit - n_before)?);
            v
        }
    };
    attach_reactions(c, &mut msgs)?;
    Ok(msgs)
}

pub fn thread(c: &Connection, root: MessageId, after_seq: i64, limit: u32) -> Result<Vec<Message>> {
    let Some(root_msg) = message_raw(c, root)? else {
        return Ok(Vec::new());
    };
    if root_msg.thread_root_id.is_some() {
        return Ok(Vec::new());
    }
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {MESSAGE_COLS} FROM messages WHERE thread_root_id = ?1 AND seq > ?2 AND deleted_at IS NULL
         ORDER BY seq LIMIT ?3"
    ))?;
    let mut msgs = vec![root_msg];
    msgs.extend(
        stmt.query_map(params![root.0, after_seq, limit], rows::message)?
            .collect::<rusqlite::Result<Vec<_>>>()?,
    );
    attach_reactions(c, &mut msgs)?;
    Ok(msgs)
}

pub fn edit_message(
    tx: &mut Tx<'_>,
    id: MessageId,
    actor: UserId,
    text: String,
    mentions: Mentions,
    guard: Guard,
) -> Result<Message> {
    let before = live_message(tx.conn, id)?;
    let (ch, m) = load_ctx(tx.conn, before.channel_id, actor)?;
    run_guard(guard, &ch, m.as_ref(), Some(&before), None)?;
    if before.text == text {
        return Ok(before);
    }
    let (flags, ids) = rows::mention_columns(&mentions);
    tx.conn.execute(
        "UPDATE messages SET text = ?2, mention_flags = ?3, mention_user_ids = ?4, edited_at = ?5 WHERE id = ?1",
        params![id.0, text, flags, ids, tx.now.0],
    )?;
    unindex_message(tx.conn, id)?;
    index_message(tx.conn, id, &text)?;
    tx.conn.execute(
        "DELETE FROM mentions WHERE channel_id = ?1 AND seq = ?2",
        [before.channel_id.0, before.seq],
    )?;
    write_mentions(tx, id, before.channel_id, before.seq, &mentions)?;
    tx.event(
        NewEvent::new(EventKind::MessageEdited)
            .channel(before.channel_id)
            .actor(actor)
            .message(id),
    )?;
    Ok(Message {
        text,
        mentions,
        edited_at: Some(tx.now),
        ..before
    })
}

pub fn delete_message(
    tx: &mut Tx<'_>,
    id: MessageId,
    actor: UserId,
    guard: Guard,
) -> Result<Message> {
    let before = live_message(tx.conn, id)?;
    let (ch, m) = load_ctx(tx.conn, before.channel_id, actor)?;
    run_guard(guard, &ch, m.as_ref(), Some(&before), None)?;
    tx.conn.execute(
        "UPDATE messages SET text = '', mention_flags = 0, mention_user_ids = '', pinned_at = NULL, pinned_by = NULL,
                deleted_at = ?2 WHERE id = ?1",
        params![id.0, tx.now.0],
    )?;
    unindex_message(tx.conn, id)?;
    tx.conn.execute(
        "DELETE FROM mentions WHERE channel_id = ?1 AND seq = ?2",
        [before.channel_id.0, before.seq],
    )?;
    tx.conn
        .execute("DELETE FROM reactions WHERE message_id = ?1", [id.0])?;
    super::files::detach_all(tx, id)?;
    tx.event(
        NewEvent::new(EventKind::MessageDeleted)
            .channel(before.channel_id)
            .actor(actor)
            .message(id),
    )?;
    if let Some(root) = before.thread_root_id {
        tx.conn.execute(
            // The deleted reply is already marked, so the newest remaining one sets the time.
            "UPDATE messages SET reply_count = max(reply_count - 1, 0),
                    last_reply_at = (SELECT max(created_at) FROM messages WHERE thread_root_id = ?1 AND deleted_at IS NULL)
              WHERE id = ?1",
            [root.0],
        )?;
        tx.event(
            NewEvent::new(EventKind::ThreadUpdated)
                .channel(before.channel_id)
                .actor(actor)
                .message(root),
        )?;
    }
    message(tx.conn, id)?.ok_or(Error::Domain(DomainError::NotFound(Entity::Message)))
}

pub fn set_reaction(
    tx: &mut Tx<'_>,
    id: MessageId,
    user_id: UserId,
    emoji: String,
    present: bool,
    guard: Guard,
) -> Result<(Message, bool)> {
    let before = live_message(tx.conn, id)?;
    let (ch, m) = load_ctx(tx.conn, before.channel_id, user_id)?;
    run_guard(guard, &ch, m.as_ref(), Some(&before), None)?;
    let changed = if present {
        let known = before.reactions.iter().any(|g| g.emoji == emoji);
        if !known && before.reactions.len() >= MAX_REACTIONS_PER_MESSAGE {
            return Err(domain(DomainError::LimitExceeded(
                "too many different reactions on this message",
            )));
        }
        tx.conn.execute(
            "INSERT OR IGNORE INTO reactions (message_id, emoji, user_id, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![id.0, emoji, user_id.0, tx.now.0],
        )? > 0
    } else {
        tx.conn.execute(
            "DELETE FROM reactions WHERE message_id = ?1 AND emoji = ?2 AND user_id = ?3",
            params![id.0, emoji, user_id.0],
        )? > 0
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
        )?;
    }
    let after =
        message(tx.conn, id)?.ok_or(Error::Domain(DomainError::NotFound(Entity::Message)))?;
    Ok((after, changed))
}

pub fn set_pinned(
    tx: &mut Tx<'_>,
    id: MessageId,
    user_id: UserId,
    pinned: bool,
    guard: Guard,
) -> Result<(Message, bool)> {
    let before = live_message(tx.conn, id)?;
    let (ch, m) = load_ctx(tx.conn, before.channel_id, user_id)?;
    run_guard(guard, &ch, m.as_ref(), Some(&before), None)?;
    if before.pinned_at.is_some() == pinned {
        return Ok((before, false));
    }
    if pinned {
        let n: i64 = tx.conn.query_row(
            "SELECT count(*) FROM messages WHERE channel_id = ?1 AND pinned_at IS NOT NULL",
            [before.channel_id.0],
            |r| r.get(0),
        )?;
        if n >= MAX_PINS_PER_CHANNEL {
            return Err(domain(DomainError::LimitExceeded(
                "too many pinned messages in this channel",
            )));
        }
        tx.conn.execute(
            "UPDATE messages SET pinned_at = ?2, pinned_by = ?3 WHERE id = ?1",
            params![id.0, tx.now.0, user_id.0],
        )?;
    } else {
        tx.conn.execute(
            "UPDATE messages SET pinned_at = NULL, pinned_by = NULL WHERE id = ?1",
            [id.0],
        )?;
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
    )?;
    let after =
        message(tx.conn, id)?.ok_or(Error::Domain(DomainError::NotFound(Entity::Message)))?;
    Ok((after, true))
}

pub fn pins(c: &Connection, id: ChannelId) -> Result<Vec<Message>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {MESSAGE_COLS} FROM messages WHERE channel_id = ?1 AND pinned_at IS NOT NULL ORDER BY pinned_at DESC LIMIT ?2"
    ))?;
    let mut msgs = stmt
        .query_map(params![id.0, MAX_PINS_PER_CHANNEL], rows::message)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    attach_reactions(c, &mut msgs)?;
    Ok(msgs)
}

// ---------------------------------------------------------------------------------------------
// Events

pub fn events_after(c: &Connection, position: i64, limit: u32) -> Result<Vec<Event>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {EVENT_COLS} FROM events WHERE position > ?1 ORDER BY position LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![position, limit], rows::event)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

// ---------------------------------------------------------------------------------------------
// Real-time support

pub fn messages_by_ids(c: &Connection, ids: &[MessageId]) -> Result<Vec<Message>> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(m) = message_raw(c, *id)? {
            out.push(m);
        }
    }
    attach_reactions(c, &mut out)?;
    Ok(out)
}

pub fn channels_by_ids(c: &Connection, ids: &[ChannelId]) -> Result<Vec<Channel>> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(ch) = channel(c, *id)? {
            out.push(ch);
        }
    }
    Ok(out)
}

pub fn channel_ids_of(c: &Connection, user_id: UserId) -> Result<Vec<ChannelId>> {
    let mut stmt =
        c.prepare_cached("SELECT channel_id FROM members WHERE user_id = ?1 ORDER BY channel_id")?;
    let rows = stmt.query_map([user_id.0], |r| r.get(0).map(ChannelId))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn token_valid(c: &Connection, id: enclave_core::TokenId, now: Millis) -> Result<bool> {
    let mut stmt = c.prepare_cached(
        "SELECT count(*) FROM tokens t JOIN users u ON u.id = t.user_id
         WHERE t.id = ?1 AND u.active = 1 AND (t.expires_at IS NULL OR t.expires_at > ?2)",
    )?;
    let n: i64 = stmt.query_row(params![id.0, now.0], |r| r.get(0))?;
    Ok(n > 0)
}

pub fn first_position(c: &Connection) -> Result<i64> {
    let (min, max): (Option<i64>, Option<i64>) =
        c.query_row("SELECT min(position), max(position) FROM events", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    match (min, max) {
        (Some(min), _) => Ok(min),
        _ => {
            // An empty log: positions continue after the highest ever assigned.
            let seq: Option<i64> = c
                .query_row(
                    "SELECT seq FROM sqlite_sequence WHERE name = 'events'",
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(seq.unwrap_or(0) + 1)
        }
    }
}

pub fn prune_events(tx: &mut Tx<'_>, before: Millis, keep_last: u32) -> Result<u64> {
    let n = tx.conn.execute(
        "DELETE FROM events WHERE created_at < ?1
           AND position <= (SELECT coalesce(max(position), 0) FROM events) - ?2",
        params![before.0, keep_last],
    )?;
    Ok(n as u64)
}

// ---------------------------------------------------------------------------------------------
// Search

/// Adds a message's text to the search index (see `schema_3.sql`).
pub(crate) fn index_message(c: &Connection, id: MessageId, text: &str) -> Result<()> {
    let body = enclave_core::search::index_text(text);
    if body.is_empty() {
        return Ok(());
    }
    c.prepare_cached("INSERT INTO messages_fts (rowid, body) VALUES (?1, ?2)")?
        .execute(params![id.0, body])?;
    Ok(())
}

fn unindex_message(c: &Connection, id: MessageId) -> Result<()> {
    c.prepare_cached("DELETE FROM messages_fts WHERE rowid = ?1")?
        .execute([id.0])?;
    Ok(())
}

/// Quotes one token for an FTS5 expression.
fn fts_string(tokens: &[String]) -> String {
    let mut s = String::from("\"");
    for (i, t) in tokens.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&t.replace('"', "\"\""));
    }
    s.push('"');
    s
}

/// The FTS5 expression for `terms`: each term a quoted phrase (`*` after it for a prefix),
/// all of them required.
pub(crate) fn fts_expression(terms: &[enclave_core::search::Term]) -> String {
    terms
        .iter()
        .map(|t| {
            let mut p = fts_string(&t.tokens);
            if t.prefix {
                p.push_str(" *");
            }
            p
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

fn prefixed(cols: &str, alias: &str) -> String {
    cols.split(',')
        .map(|c| format!("{alias}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn search_messages(c: &Connection, q: &MessageSearch) -> Result<Vec<Message>> {
    use rusqlite::types::Value;
    let mut args: Vec<Value> = Vec::new();
    let text = !q.terms.is_empty();
    // CROSS JOIN fixes the loop order: the index first, in descending rowid order, so that the
    // window below stops after the newest matches.
    let mut sql = String::from(if text {
        "FROM messages_fts CROSS JOIN messages m ON m.id = messages_fts.rowid "
    } else {
        "FROM messages m "
    });
    // The permission filter: members only, in the same query as the match.
    sql.push_str("CROSS JOIN members mb ON mb.channel_id = m.channel_id AND mb.user_id = ? ");
    args.push(Value::Integer(q.user_id.0));
    if let Some(key) = &q.in_channel {
        sql.push_str("CROSS JOIN channels c ON c.id = m.channel_id AND c.name_key = ? ");
        args.push(Value::Text(key.clone()));
    }
    sql.push_str("WHERE m.deleted_at IS NULL ");
    if text {
        sql.push_str("AND messages_fts MATCH ? ");
        args.push(Value::Text(fts_expression(&q.terms)));
    }
    if let Some(name) = &q.from {
        sql.push_str("AND m.user_id = (SELECT id FROM users WHERE username = ?) ");
        args.push(Value::Text(name.clone()));
    }
    if let Some(t) = q.before {
        sql.push_str("AND m.created_at < ? ");
        args.push(Value::Integer(t.0));
    }
    if let Some(t) = q.after {
        sql.push_str("AND m.created_at >= ? ");
        args.push(Value::Integer(t.0));
    }
    if q.has_file {
        sql.push_str("AND EXISTS (SELECT 1 FROM message_files mf WHERE mf.message_id = m.id) ");
    }
    let sql = if text {
        format!(
            "SELECT {} FROM (SELECT messages_fts.rowid AS id, bm25(messages_fts) AS score {sql}
                              ORDER BY messages_fts.rowid DESC LIMIT {SEARCH_RANK_WINDOW}) AS w
               JOIN messages m ON m.id = w.id
              ORDER BY w.score, w.id DESC LIMIT ? OFFSET ?",
            prefixed(MESSAGE_COLS, "m")
        )
    } else {
        format!(
            "SELECT {} {sql} ORDER BY m.created_at DESC, m.id DESC LIMIT ? OFFSET ?",
            prefixed(MESSAGE_COLS, "m")
        )
    };
    args.push(Value::Integer(i64::from(q.limit)));
    args.push(Value::Integer(i64::from(q.offset)));
    let mut stmt = c.prepare_cached(&sql)?;
    let mut msgs = stmt
        .query_map(rusqlite::params_from_iter(args), rows::message)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    attach_reactions(c, &mut msgs)?;
    Ok(msgs)
}

pub fn search_channels(
    c: &Connection,
    user_id: UserId,
    text: &str,
    limit: u32,
) -> Result<Vec<(Channel, bool)>> {
    let key = enclave_core::validate::channel_name_key(text);
    let contains = like_pattern(&key);
    let starts = format!("{}%", &contains[1..]);
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {}, mb.user_id IS NOT NULL FROM channels c
           LEFT JOIN members mb ON mb.channel_id = c.id AND mb.user_id = ?1
          WHERE c.name_key IS NOT NULL AND c.name_key LIKE ?2 ESCAPE '\\'
            AND (mb.user_id IS NOT NULL OR (c.kind = 'public' AND c.archived_at IS NULL))
          ORDER BY mb.user_id IS NULL, c.name_key NOT LIKE ?3 ESCAPE '\\', c.name_key, c.id
          LIMIT ?4",
        prefixed(rows::CHANNEL_COLS, "c")
    ))?;
    let out = stmt
        .query_map(params![user_id.0, contains, starts, limit], |r| {
            Ok((rows::channel(r)?, r.get::<_, bool>(11)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(out)
}

pub fn reindex_batch(tx: &mut Tx<'_>, after: MessageId, limit: u32) -> Result<ReindexStep> {
    let c = tx.conn;
    let mut stmt = c.prepare_cached(
        "SELECT id, text, deleted_at IS NOT NULL FROM messages WHERE id > ?1 ORDER BY id LIMIT ?2",
    )?;
    let batch = stmt
        .query_map(params![after.0, limit], |r| {
            Ok((
                MessageId(r.get(0)?),
                r.get::<_, String>(1)?,
                r.get::<_, bool>(2)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let Some(last) = batch.last().map(|b| b.0) else {
        c.prepare_cached("DELETE FROM messages_fts WHERE rowid > ?1")?
            .execute([after.0])?;
        return Ok(ReindexStep {
            last: None,
            indexed: 0,
        });
    };
    c.prepare_cached("DELETE FROM messages_fts WHERE rowid > ?1 AND rowid <= ?2")?
        .execute([after.0, last.0])?;
    let mut indexed = 0;
    for (id, text, deleted) in &batch {
        if !deleted {
            index_message(c, *id, text)?;
            indexed += 1;
        }
    }
    Ok(ReindexStep {
        last: Some(last),
        indexed,
    })
}

/// Indexes every live message; used by the migration that creates the index.
pub(crate) fn index_all(c: &Connection) -> Result<u64> {
    let mut stmt = c.prepare("SELECT id, text FROM messages WHERE deleted_at IS NULL")?;
    let mut rows = stmt.query([])?;
    let mut n = 0;
    while let Some(r) = rows.next()? {
        index_message(c, MessageId(r.get(0)?), &r.get::<_, String>(1)?)?;
        n += 1;
    }
    Ok(n)
}

pub fn message_stats(c: &Connection) -> Result<(u64, MessageId)> {
    Ok(c.query_row(
        "SELECT count(*), coalesce(max(id), 0) FROM messages",
        [],
        |r| {
            Ok((
                r.get::<_, i64>(0)?.max(0).unsigned_abs(),
                MessageId(r.get(1)?),
            ))
        },
    )?)
}
