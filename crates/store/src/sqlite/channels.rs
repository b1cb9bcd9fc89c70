//! Channels on SQLite: channels, members, read state and direct conversations.

use async_trait::async_trait;
use enclave_core::{
    Channel, ChannelId, ChannelRole, ChannelSummary, Entity, Error as DomainError, EventKind,
    Membership, NewEvent, User, UserId, rules,
};
use rusqlite::{Connection, OptionalExtension, params};

use super::rows::{self, CHANNEL_COLS, MEMBER_COLS, USER_COLS, prefixed};
use super::{SqliteStore, Tx, is_unique_violation};
use crate::common::{
    channel_changes, channel_created_events, channel_update_events, direct_members, like_pattern,
    run_guard,
};
use crate::{BrowseQuery, ChannelPatch, ChannelStore, Error, Guard, NewChannel, Result};

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

/// A channel and the user's membership in it.
pub fn channel_for(
    c: &Connection,
    id: ChannelId,
    user_id: UserId,
) -> Result<Option<(Channel, Option<Membership>)>> {
    let Some(ch) = channel(c, id)? else {
        return Ok(None);
    };
    Ok(Some((ch, membership(c, id, user_id)?)))
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
        "INSERT INTO channels (kind, name, name_key, topic, purpose, creator_id, created_at, updated_at, announcement)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8)",
        params![new.kind.as_str(), new.name, new.name_key, new.topic, new.purpose, new.creator_id.0, tx.now.0, new.announcement],
    );
    match r {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => {
            return Err(Error::Domain(DomainError::Conflict(
                "a public channel with this name already exists",
            )));
        }
        Err(e) => return Err(e.into()),
    }
    let id = ChannelId(tx.conn.last_insert_rowid());
    insert_member(tx, id, new.creator_id, ChannelRole::Owner, 0)?;
    for e in channel_created_events(id, new.creator_id, &[new.creator_id]) {
        tx.event(e)?;
    }
    channel(tx.conn, id)?.ok_or(Error::Domain(DomainError::NotFound(Entity::Channel)))
}

pub fn open_direct(
    tx: &mut Tx<'_>,
    creator: UserId,
    user_ids: Vec<UserId>,
) -> Result<(Channel, bool)> {
    let (user_ids, key) = direct_members(user_ids);
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
    let kind = rules::direct_kind(user_ids.len());
    tx.conn.execute(
        "INSERT INTO channels (kind, dm_key, creator_id, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
        params![kind.as_str(), key, creator.0, tx.now.0],
    )?;
    let id = ChannelId(tx.conn.last_insert_rowid());
    for u in &user_ids {
        insert_member(tx, id, *u, ChannelRole::Member, 0)?;
    }
    for e in channel_created_events(id, creator, &user_ids) {
        tx.event(e)?;
    }
    let ch = channel(tx.conn, id)?.ok_or(Error::Domain(DomainError::NotFound(Entity::Channel)))?;
    Ok((ch, true))
}

fn unread_counts(c: &Connection, m: &Membership) -> Result<(i64, i64)> {
    let mut unread = c.prepare_cached(
        "SELECT count(*) FROM messages WHERE channel_id = ?1 AND seq > ?2
           AND thread_root_id IS NULL AND deleted_at IS NULL AND user_id <> ?3 AND notice IS NULL",
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
    let ccols = prefixed(CHANNEL_COLS, "ch");
    let mcols = prefixed(MEMBER_COLS, "m");
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {ccols}, {mcols} FROM members m JOIN channels ch ON ch.id = m.channel_id
         WHERE m.user_id = ?1 AND (?2 IS NULL OR m.channel_id = ?2) ORDER BY ch.id"
    ))?;
    let pairs = stmt
        .query_map(params![user_id.0, only.map(|c| c.0)], |r| {
            Ok((
                rows::channel_at(r, 0)?,
                rows::member_at(r, rows::N_CHANNEL_COLS)?,
            ))
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
pub(super) fn load_ctx(
    c: &Connection,
    id: ChannelId,
    actor: UserId,
) -> Result<(Channel, Option<Membership>)> {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(|| {
        let ccols = prefixed(CHANNEL_COLS, "ch");
        let mcols = prefixed(MEMBER_COLS, "m");
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
            let m = match r.get::<_, Option<i64>>(rows::N_CHANNEL_COLS)? {
                Some(_) => Some(rows::member_at(r, rows::N_CHANNEL_COLS)?),
                None => None,
            };
            Ok((ch, m))
        })
        .optional()?;
    row.ok_or(Error::Domain(DomainError::NotFound(Entity::Channel)))
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
                return Err(Error::Domain(DomainError::Conflict(
                    "a public channel with this name already exists",
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
    if let Some(announcement) = patch.announcement {
        c.execute(
            "UPDATE channels SET announcement = ?2 WHERE id = ?1",
            params![id.0, announcement],
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
    let (fields_changed, archive_changed) = channel_changes(&before, &after);
    if fields_changed || archive_changed {
        c.execute(
            "UPDATE channels SET updated_at = ?2 WHERE id = ?1",
            params![id.0, tx.now.0],
        )?;
        after.updated_at = tx.now;
    }
    for e in channel_update_events(&before, &after, actor) {
        tx.event(e)?;
    }
    let notices = enclave_core::notices::update(&before, &after, actor);
    if !notices.is_empty() {
        for n in notices {
            super::messages::post_notice(tx, id, n)?;
        }
        // The notices took sequence numbers.
        after =
            channel(tx.conn, id)?.ok_or(Error::Domain(DomainError::NotFound(Entity::Channel)))?;
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
        return Err(Error::Domain(DomainError::NotFound(Entity::User)));
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
        return Err(Error::Domain(DomainError::NotFound(Entity::Member)));
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
        return Err(Error::Domain(DomainError::NotFound(Entity::Member)));
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
    let mcols = prefixed(MEMBER_COLS, "m");
    let ucols = prefixed(USER_COLS, "u");
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
        return Err(Error::Domain(DomainError::NotFound(Entity::Member)));
    };
    let seq = rules::read_position(seq, ch.last_seq);
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

#[async_trait]
impl ChannelStore for SqliteStore {
    async fn create_channel(&self, new: NewChannel) -> Result<Channel> {
        self.write(move |tx| create_channel(tx, new)).await
    }
    async fn open_direct(&self, creator: UserId, user_ids: Vec<UserId>) -> Result<(Channel, bool)> {
        self.write(move |tx| open_direct(tx, creator, user_ids))
            .await
    }
    async fn channel(&self, id: ChannelId) -> Result<Option<Channel>> {
        self.read(move |c| channel(c, id)).await
    }
    async fn channel_for(
        &self,
        id: ChannelId,
        user_id: UserId,
    ) -> Result<Option<(Channel, Option<Membership>)>> {
        self.read(move |c| channel_for(c, id, user_id)).await
    }
    async fn my_channels(&self, user_id: UserId) -> Result<Vec<ChannelSummary>> {
        self.read(move |c| my_channels(c, user_id, None)).await
    }
    async fn my_channel(&self, id: ChannelId, user_id: UserId) -> Result<Option<ChannelSummary>> {
        self.read(move |c| Ok(my_channels(c, user_id, Some(id))?.pop()))
            .await
    }
    async fn browse_channels(&self, query: BrowseQuery) -> Result<Vec<Channel>> {
        self.read(move |c| browse_channels(c, &query)).await
    }
    async fn update_channel(
        &self,
        id: ChannelId,
        actor_id: UserId,
        patch: ChannelPatch,
        guard: Guard,
    ) -> Result<Channel> {
        self.write(move |tx| update_channel(tx, id, actor_id, patch, guard))
            .await
    }
    async fn add_member(
        &self,
        id: ChannelId,
        actor_id: UserId,
        user_id: UserId,
        role: ChannelRole,
        guard: Guard,
    ) -> Result<(Membership, bool)> {
        self.write(move |tx| add_member(tx, id, actor_id, user_id, role, guard))
            .await
    }
    async fn remove_member(
        &self,
        id: ChannelId,
        actor_id: UserId,
        user_id: UserId,
        guard: Guard,
    ) -> Result<()> {
        self.write(move |tx| remove_member(tx, id, actor_id, user_id, guard))
            .await
    }
    async fn set_member_role(
        &self,
        id: ChannelId,
        actor_id: UserId,
        user_id: UserId,
        role: ChannelRole,
        guard: Guard,
    ) -> Result<Membership> {
        self.write(move |tx| set_member_role(tx, id, actor_id, user_id, role, guard))
            .await
    }
    async fn members(
        &self,
        id: ChannelId,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<(Membership, User)>> {
        self.read(move |c| members(c, id, after, limit)).await
    }
    async fn mark_read(
        &self,
        id: ChannelId,
        user_id: UserId,
        seq: i64,
        guard: Guard,
    ) -> Result<Membership> {
        self.write(move |tx| mark_read(tx, id, user_id, seq, guard))
            .await
    }
    async fn channels_by_ids(&self, ids: &[ChannelId]) -> Result<Vec<Channel>> {
        let ids = ids.to_vec();
        self.read(move |c| channels_by_ids(c, &ids)).await
    }
    async fn channel_ids_of(&self, user_id: UserId) -> Result<Vec<ChannelId>> {
        self.read(move |c| channel_ids_of(c, user_id)).await
    }
}
