//! Imports on PostgreSQL (`import_map`, migration 0019): the same bulk writes as SQLite's,
//! each in one transaction with its mapping rows and events.

use std::collections::HashMap;

use async_trait::async_trait;
use enclave_core::{
    ChannelId, ChannelKind, ChannelRole, EventKind, MessageId, NewEvent, UserId, rules,
};
use sqlx_core::row::Row;
use sqlx_postgres::PgConnection;

use super::search::tsvector_literal;
use super::{PgStore, Tx, q, unique_violation};
use crate::common::{channel_created_events, direct_members, mention_columns};
use crate::{
    Error, ImportKind, ImportStore, ImportedBatch, ImportedChannel, ImportedMessage, ImportedUser,
    Result,
};

async fn mapped(
    c: &mut PgConnection,
    source: &str,
    kind: ImportKind,
    ext: &str,
) -> Result<Option<i64>> {
    let row =
        q("SELECT local_id FROM import_map WHERE source = $1 AND kind = $2 AND external_id = $3")
            .bind(source.to_owned())
            .bind(kind.as_str())
            .bind(ext.to_owned())
            .fetch_optional(&mut *c)
            .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

async fn map(
    c: &mut PgConnection,
    source: &str,
    kind: ImportKind,
    ext: &str,
    id: i64,
) -> Result<()> {
    q(
        "INSERT INTO import_map (source, kind, external_id, local_id) VALUES ($1, $2, $3, $4)
       ON CONFLICT DO NOTHING",
    )
    .bind(source.to_owned())
    .bind(kind.as_str())
    .bind(ext.to_owned())
    .bind(id)
    .execute(&mut *c)
    .await?;
    Ok(())
}

async fn import_users(
    tx: &mut Tx,
    source: &str,
    users: Vec<ImportedUser>,
    links: Vec<(String, UserId)>,
) -> Result<Vec<(String, UserId)>> {
    let now = tx.now;
    let mut out = Vec::with_capacity(users.len() + links.len());
    for (ext, id) in links {
        if mapped(tx.c(), source, ImportKind::User, &ext)
            .await?
            .is_none()
        {
            map(tx.c(), source, ImportKind::User, &ext, id.0).await?;
            out.push((ext, id));
        }
    }
    for u in users {
        if mapped(tx.c(), source, ImportKind::User, &u.ext_id)
            .await?
            .is_some()
        {
            continue;
        }
        let r = q("INSERT INTO users (username, display_name, email, password_hash, is_admin, is_bot, active,
                                      created_at, updated_at)
                   VALUES ($1, $2, $3, NULL, false, $4, $5, $6, $6) RETURNING id")
        .bind(u.username.clone())
        .bind(u.display_name.clone())
        .bind(u.email.clone())
        .bind(u.is_bot)
        .bind(u.active)
        .bind(now.0)
        .fetch_one(tx.c())
        .await;
        let id = match r {
            Ok(row) => UserId(row.try_get(0)?),
            Err(e) if unique_violation(&e).is_some() => {
                return Err(Error::Domain(enclave_core::Error::Conflict(
                    "username or email is taken",
                )));
            }
            Err(e) => return Err(e.into()),
        };
        super::departments::write_search_keys(tx.c(), id, &u.display_name, &u.username).await?;
        tx.event(NewEvent::new(EventKind::UserCreated).user(id));
        map(tx.c(), source, ImportKind::User, &u.ext_id, id.0).await?;
        out.push((u.ext_id, id));
    }
    Ok(out)
}

async fn import_channel(
    tx: &mut Tx,
    source: &str,
    ch: ImportedChannel,
) -> Result<(ChannelId, bool)> {
    if let Some(id) = mapped(tx.c(), source, ImportKind::Channel, &ch.ext_id).await? {
        return Ok((ChannelId(id), false));
    }
    let direct = matches!(ch.kind, ChannelKind::Dm | ChannelKind::GroupDm);
    let (members, id) = if direct {
        let (members, key) = direct_members(ch.members.clone());
        let existing = q("SELECT id FROM channels WHERE dm_key = $1")
            .bind(key.clone())
            .fetch_optional(tx.c())
            .await?;
        if let Some(row) = existing {
            let id: i64 = row.try_get(0)?;
            map(tx.c(), source, ImportKind::Channel, &ch.ext_id, id).await?;
            return Ok((ChannelId(id), false));
        }
        let id: i64 = q(
            "INSERT INTO channels (kind, dm_key, creator_id, created_at, updated_at)
                         VALUES ($1, $2, $3, $4, $4) RETURNING id",
        )
        .bind(rules::direct_kind(members.len()).as_str())
        .bind(key)
        .bind(ch.creator_id.0)
        .bind(ch.created_at.0)
        .fetch_one(tx.c())
        .await?
        .try_get(0)?;
        (members, ChannelId(id))
    } else {
        let (name, key) = ch.name.clone().unwrap_or_default();
        let r = q("INSERT INTO channels (kind, name, name_key, topic, purpose, creator_id, created_at, updated_at, archived_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) RETURNING id")
        .bind(ch.kind.as_str())
        .bind(name)
        .bind(key)
        .bind(ch.topic.clone())
        .bind(ch.purpose.clone())
        .bind(ch.creator_id.0)
        .bind(ch.created_at.0)
        .bind(ch.archived_at.map(|t| t.0))
        .fetch_one(tx.c())
        .await;
        let id: i64 = match r {
            Ok(row) => row.try_get(0)?,
            Err(e) if unique_violation(&e).is_some() => {
                return Err(Error::Domain(enclave_core::Error::Conflict(
                    "a public channel with this name already exists",
                )));
            }
            Err(e) => return Err(e.into()),
        };
        let mut members = ch.members.clone();
        members.sort();
        members.dedup();
        (members, ChannelId(id))
    };
    for u in &members {
        let role = if !direct && *u == ch.creator_id {
            ChannelRole::Owner
        } else {
            ChannelRole::Member
        };
        q("INSERT INTO members (channel_id, user_id, role, last_read_seq, joined_at) VALUES ($1, $2, $3, 0, $4)")
            .bind(id.0)
            .bind(u.0)
            .bind(role.as_str())
            .bind(ch.created_at.0)
            .execute(tx.c())
            .await?;
    }
    q("UPDATE channels SET n_members = $2 WHERE id = $1")
        .bind(id.0)
        .bind(members.len() as i64)
        .execute(tx.c())
        .await?;
    for e in channel_created_events(id, ch.creator_id, &members) {
        tx.event(e);
    }
    map(tx.c(), source, ImportKind::Channel, &ch.ext_id, id.0).await?;
    Ok((id, true))
}

async fn import_messages(
    tx: &mut Tx,
    source: &str,
    channel: ChannelId,
    messages: Vec<ImportedMessage>,
) -> Result<ImportedBatch> {
    let mut out = ImportedBatch::default();
    for m in messages {
        if mapped(tx.c(), source, ImportKind::Message, &m.ext_id)
            .await?
            .is_some()
        {
            out.already += 1;
            continue;
        }
        let mut root = None;
        if let Some(ext) = &m.thread_root {
            if let Some(rid) = mapped(tx.c(), source, ImportKind::Message, ext).await? {
                let row = q(
                    "SELECT channel_id, thread_root_id IS NOT NULL, deleted_at IS NOT NULL, notice IS NOT NULL
                             FROM messages WHERE id = $1",
                )
                .bind(rid)
                .fetch_optional(tx.c())
                .await?;
                let row = match row {
                    Some(r) => Some(rules::RootRow {
                        channel_id: ChannelId(r.try_get(0)?),
                        is_reply: r.try_get(1)?,
                        deleted: r.try_get(2)?,
                        notice: r.try_get(3)?,
                    }),
                    None => None,
                };
                if rules::check_thread_root(channel, row).is_ok() {
                    root = Some(MessageId(rid));
                }
            }
            if root.is_none() {
                out.roots_missing += 1;
            }
        }
        let seq: i64 =
            q("UPDATE channels SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq")
                .bind(channel.0)
                .fetch_one(tx.c())
                .await?
                .try_get(0)?;
        let (flags, ids) = mention_columns(&m.mentions);
        let id = MessageId(
            q("INSERT INTO messages (channel_id, seq, user_id, text, thread_root_id, mention_flags, mention_user_ids,
                                     created_at, edited_at, pinned_at, pinned_by, search_tsv)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::tsvector) RETURNING id")
            .bind(channel.0)
            .bind(seq)
            .bind(m.user_id.0)
            .bind(m.text.clone())
            .bind(root.map(|r| r.0))
            .bind(flags)
            .bind(ids)
            .bind(m.created_at.0)
            .bind(m.edited_at.map(|t| t.0))
            .bind(m.pinned.then_some(m.created_at.0))
            .bind(m.pinned.then_some(m.user_id.0))
            .bind(tsvector_literal(&m.text))
            .fetch_one(tx.c())
            .await?
            .try_get(0)?,
        );
        if !m.mentions.user_ids.is_empty() {
            q("INSERT INTO mentions (user_id, channel_id, seq, message_id)
               SELECT u, $2, $3, $4 FROM unnest($1::int8[]) AS u ON CONFLICT DO NOTHING")
            .bind(m.mentions.user_ids.iter().map(|u| u.0).collect::<Vec<_>>())
            .bind(channel.0)
            .bind(seq)
            .bind(id.0)
            .execute(tx.c())
            .await?;
        }
        if let Some(r) = root {
            q("UPDATE messages SET reply_count = reply_count + 1,
                      last_reply_at = greatest(coalesce(last_reply_at, 0), $2) WHERE id = $1")
            .bind(r.0)
            .bind(m.created_at.0)
            .execute(tx.c())
            .await?;
        }
        if !m.reactions.is_empty() {
            q("INSERT INTO reactions (message_id, emoji, user_id, created_at)
               SELECT $1, e, u, $4 FROM unnest($2::text[], $3::int8[]) AS t(e, u) ON CONFLICT DO NOTHING")
            .bind(id.0)
            .bind(m.reactions.iter().map(|(e, _)| e.clone()).collect::<Vec<_>>())
            .bind(m.reactions.iter().map(|(_, u)| u.0).collect::<Vec<_>>())
            .bind(m.created_at.0)
            .execute(tx.c())
            .await?;
        }
        map(tx.c(), source, ImportKind::Message, &m.ext_id, id.0).await?;
        out.inserted += 1;
    }
    if out.inserted > 0 {
        q("UPDATE members SET last_read_seq = (SELECT last_seq FROM channels WHERE id = $1) WHERE channel_id = $1")
            .bind(channel.0)
            .execute(tx.c())
            .await?;
        tx.event(NewEvent::new(EventKind::ChannelUpdated).channel(channel));
    }
    Ok(out)
}

#[async_trait]
impl ImportStore for PgStore {
    async fn import_mappings(
        &self,
        source: &str,
        kind: ImportKind,
    ) -> Result<HashMap<String, i64>> {
        let mut c = self.conn().await?;
        let rows =
            q("SELECT external_id, local_id FROM import_map WHERE source = $1 AND kind = $2")
                .bind(source.to_owned())
                .bind(kind.as_str())
                .fetch_all(&mut *c)
                .await?;
        let mut out = HashMap::with_capacity(rows.len());
        for r in rows {
            out.insert(r.try_get(0)?, r.try_get(1)?);
        }
        Ok(out)
    }

    async fn import_users(
        &self,
        source: &str,
        users: Vec<ImportedUser>,
        links: Vec<(String, UserId)>,
    ) -> Result<Vec<(String, UserId)>> {
        let mut tx = self.begin().await?;
        let result = import_users(&mut tx, source, users, links).await;
        self.finish(tx, result).await
    }

    async fn import_channel(
        &self,
        source: &str,
        channel: ImportedChannel,
    ) -> Result<(ChannelId, bool)> {
        let mut tx = self.begin().await?;
        let result = import_channel(&mut tx, source, channel).await;
        self.finish(tx, result).await
    }

    async fn import_messages(
        &self,
        source: &str,
        channel: ChannelId,
        messages: Vec<ImportedMessage>,
    ) -> Result<ImportedBatch> {
        let mut tx = self.begin().await?;
        let result = import_messages(&mut tx, source, channel, messages).await;
        self.finish(tx, result).await
    }
}
