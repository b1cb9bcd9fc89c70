//! Channels on PostgreSQL: channels, members, read state and direct conversations. Writes
//! lock the channel row first (see the module docs of `postgres`).

use async_trait::async_trait;
use enclave_core::{
    Channel, ChannelId, ChannelRole, ChannelSummary, Entity, Error as DomainError, EventKind,
    Membership, NewEvent, User, UserId, rules,
};
use sqlx_core::row::Row;
use sqlx_postgres::PgConnection;

use super::rows::{self, N_CHANNEL_COLS, all, channel_cols, member_cols, one, user_cols};
use super::{PgStore, Tx, limit, q, unique_violation};
use crate::common::{
    channel_changes, channel_created_events, channel_update_events, direct_members, like_pattern,
    run_guard,
};
use crate::{BrowseQuery, ChannelPatch, ChannelStore, Error, Guard, NewChannel, Result};

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
    let r = q("INSERT INTO channels (kind, name, name_key, topic, purpose, creator_id, created_at, updated_at, announcement)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) RETURNING id")
    .bind(new.kind.as_str())
    .bind(new.name)
    .bind(new.name_key)
    .bind(new.topic)
    .bind(new.purpose)
    .bind(new.creator_id.0)
    .bind(now.0)
    .bind(new.announcement)
    .fetch_one(tx.c())
    .await;
    let id = match r {
        Ok(row) => ChannelId(row.try_get(0)?),
        Err(e) if unique_violation(&e).is_some() => {
            return Err(Error::Domain(DomainError::Conflict(
                "a public channel with this name already exists",
            )));
        }
        Err(e) => return Err(e.into()),
    };
    insert_member(tx, id, new.creator_id, ChannelRole::Owner, 0).await?;
    for e in channel_created_events(id, new.creator_id, &[new.creator_id]) {
        tx.event(e);
    }
    channel(tx.c(), id)
        .await?
        .ok_or(Error::Domain(DomainError::NotFound(Entity::Channel)))
}

pub async fn open_direct(
    tx: &mut Tx,
    creator: UserId,
    user_ids: Vec<UserId>,
) -> Result<(Channel, bool)> {
    let (user_ids, key) = direct_members(user_ids);
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
    let kind = rules::direct_kind(user_ids.len());
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
            .ok_or(Error::Domain(DomainError::NotFound(Entity::Channel)))?;
        return Ok((rows::channel(&row)?, false));
    };
    let id = ChannelId(row.try_get(0)?);
    for u in &user_ids {
        insert_member(tx, id, *u, ChannelRole::Member, 0).await?;
    }
    for e in channel_created_events(id, creator, &user_ids) {
        tx.event(e);
    }
    let ch = channel(tx.c(), id)
        .await?
        .ok_or(Error::Domain(DomainError::NotFound(Entity::Channel)))?;
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
             AND msg.thread_root_id IS NULL AND msg.deleted_at IS NULL AND msg.user_id <> m.user_id
             AND msg.notice IS NULL),
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
pub(super) enum Lock {
    /// The write changes the channel, its members or its pins.
    Exclusive,
    /// The write depends on the channel and the actor's membership but changes neither.
    Shared,
}

/// Locks the channel and then reads the actor's membership, for a guard; a missing channel is
/// `NotFound`.
pub(super) async fn load_ctx(
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
    let ch =
        one(row, rows::channel)?.ok_or(Error::Domain(DomainError::NotFound(Entity::Channel)))?;
    let m = membership(c, id, actor).await?;
    Ok((ch, m))
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
            archived_at = CASE WHEN $6 THEN $7 ELSE archived_at END,
            announcement = coalesce($8, announcement)
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
    .bind(patch.announcement)
    .fetch_one(tx.c())
    .await;
    let mut after = match r {
        Ok(row) => rows::channel(&row)?,
        Err(e) if unique_violation(&e).is_some() => {
            return Err(Error::Domain(DomainError::Conflict(
                "a public channel with this name already exists",
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let (fields_changed, archive_changed) = channel_changes(&before, &after);
    if fields_changed || archive_changed {
        q("UPDATE channels SET updated_at = $2 WHERE id = $1")
            .bind(id.0)
            .bind(now.0)
            .execute(tx.c())
            .await?;
        after.updated_at = now;
    }
    for e in channel_update_events(&before, &after, actor) {
        tx.event(e);
    }
    let notices = enclave_core::notices::update(&before, &after, actor);
    if !notices.is_empty() {
        for n in notices {
            super::messages::post_notice(tx, id, n).await?;
        }
        // The notices took sequence numbers.
        after.last_seq = q("SELECT last_seq FROM channels WHERE id = $1")
            .bind(id.0)
            .fetch_one(tx.c())
            .await?
            .try_get(0)?;
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
        return Err(Error::Domain(DomainError::NotFound(Entity::User)));
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
        .ok_or(Error::Domain(DomainError::NotFound(Entity::Member)))?;
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
        return Err(Error::Domain(DomainError::NotFound(Entity::Member)));
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
        return Err(Error::Domain(DomainError::NotFound(Entity::Member)));
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
    let ch =
        one(row, rows::channel)?.ok_or(Error::Domain(DomainError::NotFound(Entity::Channel)))?;
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
        return Err(Error::Domain(DomainError::NotFound(Entity::Member)));
    };
    let seq = rules::read_position(seq, ch.last_seq);
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

#[async_trait]
impl ChannelStore for PgStore {
    async fn create_channel(&self, new: NewChannel) -> Result<Channel> {
        let mut tx = self.begin().await?;
        let result = create_channel(&mut tx, new).await;
        self.finish(tx, result).await
    }
    async fn open_direct(&self, creator: UserId, user_ids: Vec<UserId>) -> Result<(Channel, bool)> {
        let mut tx = self.begin().await?;
        let result = open_direct(&mut tx, creator, user_ids).await;
        self.finish(tx, result).await
    }
    async fn channel(&self, id: ChannelId) -> Result<Option<Channel>> {
        let mut c = self.conn().await?;
        channel(&mut c, id).await
    }
    async fn channel_for(
        &self,
        id: ChannelId,
        user_id: UserId,
    ) -> Result<Option<(Channel, Option<Membership>)>> {
        let mut c = self.conn().await?;
        channel_for(&mut c, id, user_id).await
    }
    async fn my_channels(&self, user_id: UserId) -> Result<Vec<ChannelSummary>> {
        let mut c = self.conn().await?;
        my_channels(&mut c, user_id, None).await
    }
    async fn my_channel(&self, id: ChannelId, user_id: UserId) -> Result<Option<ChannelSummary>> {
        let mut c = self.conn().await?;
        Ok(my_channels(&mut c, user_id, Some(id)).await?.pop())
    }
    async fn browse_channels(&self, query: BrowseQuery) -> Result<Vec<Channel>> {
        let mut c = self.conn().await?;
        browse_channels(&mut c, &query).await
    }
    async fn update_channel(
        &self,
        id: ChannelId,
        actor_id: UserId,
        patch: ChannelPatch,
        guard: Guard,
    ) -> Result<Channel> {
        let mut tx = self.begin().await?;
        let result = update_channel(&mut tx, id, actor_id, patch, guard).await;
        self.finish(tx, result).await
    }
    async fn add_member(
        &self,
        id: ChannelId,
        actor_id: UserId,
        user_id: UserId,
        role: ChannelRole,
        guard: Guard,
    ) -> Result<(Membership, bool)> {
        let mut tx = self.begin().await?;
        let result = add_member(&mut tx, id, actor_id, user_id, role, guard).await;
        self.finish(tx, result).await
    }
    async fn remove_member(
        &self,
        id: ChannelId,
        actor_id: UserId,
        user_id: UserId,
        guard: Guard,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let result = remove_member(&mut tx, id, actor_id, user_id, guard).await;
        self.finish(tx, result).await
    }
    async fn set_member_role(
        &self,
        id: ChannelId,
        actor_id: UserId,
        user_id: UserId,
        role: ChannelRole,
        guard: Guard,
    ) -> Result<Membership> {
        let mut tx = self.begin().await?;
        let result = set_member_role(&mut tx, id, actor_id, user_id, role, guard).await;
        self.finish(tx, result).await
    }
    async fn members(
        &self,
        id: ChannelId,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<(Membership, User)>> {
        let mut c = self.conn().await?;
        members(&mut c, id, after, limit).await
    }
    async fn mark_read(
        &self,
        id: ChannelId,
        user_id: UserId,
        seq: i64,
        guard: Guard,
    ) -> Result<Membership> {
        let mut tx = self.begin().await?;
        let result = mark_read(&mut tx, id, user_id, seq, guard).await;
        self.finish(tx, result).await
    }
    async fn channels_by_ids(&self, ids: &[ChannelId]) -> Result<Vec<Channel>> {
        let mut c = self.feed_conn().await?;
        channels_by_ids(&mut c, ids).await
    }
    async fn channel_ids_of(&self, user_id: UserId) -> Result<Vec<ChannelId>> {
        let mut c = self.conn().await?;
        channel_ids_of(&mut c, user_id).await
    }
}
