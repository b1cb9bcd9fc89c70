//! Imports on SQLite (`import_map`, schema version 20): bulk writes of users, conversations
//! and batches of messages, each in one transaction with its mapping rows and events.

use std::collections::HashMap;

use async_trait::async_trait;
use enclave_core::{
    ChannelId, ChannelKind, ChannelRole, EventKind, MessageId, NewEvent, UserId, rules,
};
use rusqlite::{Connection, OptionalExtension, params};

use super::search::index_message;
use super::{SqliteStore, Tx, is_unique_violation};
use crate::common::{channel_created_events, direct_members, mention_columns};
use crate::{
    Error, ImportKind, ImportStore, ImportedBatch, ImportedChannel, ImportedMessage, ImportedUser,
    Result,
};

fn mapped(c: &Connection, source: &str, kind: ImportKind, ext: &str) -> Result<Option<i64>> {
    Ok(c.prepare_cached(
        "SELECT local_id FROM import_map WHERE source = ?1 AND kind = ?2 AND external_id = ?3",
    )?
    .query_row(params![source, kind.as_str(), ext], |r| r.get(0))
    .optional()?)
}

fn map(c: &Connection, source: &str, kind: ImportKind, ext: &str, id: i64) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO import_map (source, kind, external_id, local_id) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO NOTHING",
    )?
    .execute(params![source, kind.as_str(), ext, id])?;
    Ok(())
}

fn import_users(
    tx: &mut Tx<'_>,
    source: &str,
    users: Vec<ImportedUser>,
    links: Vec<(String, UserId)>,
) -> Result<Vec<(String, UserId)>> {
    let mut out = Vec::with_capacity(users.len() + links.len());
    for (ext, id) in links {
        if mapped(tx.conn, source, ImportKind::User, &ext)?.is_none() {
            map(tx.conn, source, ImportKind::User, &ext, id.0)?;
            out.push((ext, id));
        }
    }
    for u in users {
        if mapped(tx.conn, source, ImportKind::User, &u.ext_id)?.is_some() {
            continue;
        }
        let r = tx
            .conn
            .prepare_cached(
                "INSERT INTO users (username, display_name, email, password_hash, is_admin, is_bot, active,
                                    created_at, updated_at)
                 VALUES (?1, ?2, ?3, NULL, 0, ?4, ?5, ?6, ?6)",
            )?
            .execute(params![u.username, u.display_name, u.email, u.is_bot, u.active, tx.now.0]);
        match r {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(Error::Domain(enclave_core::Error::Conflict(
                    "username or email is taken",
                )));
            }
            Err(e) => return Err(e.into()),
        }
        let id = UserId(tx.conn.last_insert_rowid());
        super::departments::write_search_keys(tx.conn, id, &u.display_name, &u.username)?;
        tx.event(NewEvent::new(EventKind::UserCreated).user(id))?;
        map(tx.conn, source, ImportKind::User, &u.ext_id, id.0)?;
        out.push((u.ext_id, id));
    }
    Ok(out)
}

fn import_channel(tx: &mut Tx<'_>, source: &str, ch: ImportedChannel) -> Result<(ChannelId, bool)> {
    if let Some(id) = mapped(tx.conn, source, ImportKind::Channel, &ch.ext_id)? {
        return Ok((ChannelId(id), false));
    }
    let direct = matches!(ch.kind, ChannelKind::Dm | ChannelKind::GroupDm);
    let (members, id) = if direct {
        let (members, key) = direct_members(ch.members.clone());
        let existing: Option<i64> = tx
            .conn
            .query_row("SELECT id FROM channels WHERE dm_key = ?1", [&key], |r| {
                r.get(0)
            })
            .optional()?;
        if let Some(id) = existing {
            map(tx.conn, source, ImportKind::Channel, &ch.ext_id, id)?;
            return Ok((ChannelId(id), false));
        }
        tx.conn.execute(
            "INSERT INTO channels (kind, dm_key, creator_id, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
            params![rules::direct_kind(members.len()).as_str(), key, ch.creator_id.0, ch.created_at.0],
        )?;
        (members, ChannelId(tx.conn.last_insert_rowid()))
    } else {
        let (name, key) = ch.name.clone().unwrap_or_default();
        let r = tx.conn.execute(
            "INSERT INTO channels (kind, name, name_key, topic, purpose, creator_id, created_at, updated_at, archived_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8)",
            params![ch.kind.as_str(), name, key, ch.topic, ch.purpose, ch.creator_id.0, ch.created_at.0,
                    ch.archived_at.map(|t| t.0)],
        );
        match r {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(Error::Domain(enclave_core::Error::Conflict(
                    "a public channel with this name already exists",
                )));
            }
            Err(e) => return Err(e.into()),
        }
        let mut members = ch.members.clone();
        members.sort();
        members.dedup();
        (members, ChannelId(tx.conn.last_insert_rowid()))
    };
    {
        let mut ins = tx.conn.prepare_cached(
            "INSERT INTO members (channel_id, user_id, role, last_read_seq, joined_at) VALUES (?1, ?2, ?3, 0, ?4)",
        )?;
        for u in &members {
            let role = if !direct && *u == ch.creator_id {
                ChannelRole::Owner
            } else {
                ChannelRole::Member
            };
            ins.execute(params![id.0, u.0, role.as_str(), ch.created_at.0])?;
        }
    }
    tx.conn.execute(
        "UPDATE channels SET n_members = ?2 WHERE id = ?1",
        params![id.0, members.len() as i64],
    )?;
    for e in channel_created_events(id, ch.creator_id, &members) {
        tx.event(e)?;
    }
    map(tx.conn, source, ImportKind::Channel, &ch.ext_id, id.0)?;
    Ok((id, true))
}

fn import_messages(
    tx: &mut Tx<'_>,
    source: &str,
    channel: ChannelId,
    messages: Vec<ImportedMessage>,
) -> Result<ImportedBatch> {
    let mut out = ImportedBatch::default();
    for m in messages {
        if mapped(tx.conn, source, ImportKind::Message, &m.ext_id)?.is_some() {
            out.already += 1;
            continue;
        }
        let mut root = None;
        if let Some(ext) = &m.thread_root {
            if let Some(rid) = mapped(tx.conn, source, ImportKind::Message, ext)? {
                let row = tx
                    .conn
                    .prepare_cached(
                        "SELECT channel_id, thread_root_id IS NOT NULL, deleted_at IS NOT NULL, notice IS NOT NULL FROM messages WHERE id = ?1",
                    )?
                    .query_row([rid], |r| {
                        Ok(rules::RootRow {
                            channel_id: ChannelId(r.get(0)?),
                            is_reply: r.get(1)?,
                            deleted: r.get(2)?,
                            notice: r.get(3)?,
                        })
                    })
                    .optional()?;
                if rules::check_thread_root(channel, row).is_ok() {
                    root = Some(MessageId(rid));
                }
            }
            if root.is_none() {
                out.roots_missing += 1;
            }
        }
        let seq: i64 = tx
            .conn
            .prepare_cached(
                "UPDATE channels SET last_seq = last_seq + 1 WHERE id = ?1 RETURNING last_seq",
            )?
            .query_row([channel.0], |r| r.get(0))?;
        let (flags, ids) = mention_columns(&m.mentions);
        tx.conn
            .prepare_cached(
                "INSERT INTO messages (channel_id, seq, user_id, text, thread_root_id, mention_flags, mention_user_ids,
                                       created_at, edited_at, pinned_at, pinned_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?
            .execute(params![
                channel.0,
                seq,
                m.user_id.0,
                m.text,
                root.map(|r| r.0),
                flags,
                ids,
                m.created_at.0,
                m.edited_at.map(|t| t.0),
                m.pinned.then_some(m.created_at.0),
                m.pinned.then_some(m.user_id.0)
            ])?;
        let id = MessageId(tx.conn.last_insert_rowid());
        index_message(tx.conn, id, &m.text)?;
        {
            let mut stmt = tx.conn.prepare_cached(
                "INSERT OR IGNORE INTO mentions (user_id, channel_id, seq, message_id) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for u in &m.mentions.user_ids {
                stmt.execute(params![u.0, channel.0, seq, id.0])?;
            }
        }
        if let Some(r) = root {
            tx.conn
                .prepare_cached(
                    "UPDATE messages SET reply_count = reply_count + 1,
                            last_reply_at = max(coalesce(last_reply_at, 0), ?2) WHERE id = ?1",
                )?
                .execute(params![r.0, m.created_at.0])?;
        }
        {
            let mut stmt = tx.conn.prepare_cached(
                "INSERT OR IGNORE INTO reactions (message_id, emoji, user_id, created_at) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (emoji, user) in &m.reactions {
                stmt.execute(params![id.0, emoji, user.0, m.created_at.0])?;
            }
        }
        map(tx.conn, source, ImportKind::Message, &m.ext_id, id.0)?;
        out.inserted += 1;
    }
    if out.inserted > 0 {
        tx.conn.execute(
            "UPDATE members SET last_read_seq = (SELECT last_seq FROM channels WHERE id = ?1) WHERE channel_id = ?1",
            [channel.0],
        )?;
        tx.event(NewEvent::new(EventKind::ChannelUpdated).channel(channel))?;
    }
    Ok(out)
}

#[async_trait]
impl ImportStore for SqliteStore {
    async fn import_mappings(
        &self,
        source: &str,
        kind: ImportKind,
    ) -> Result<HashMap<String, i64>> {
        let source = source.to_owned();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT external_id, local_id FROM import_map WHERE source = ?1 AND kind = ?2",
            )?;
            let rows = stmt.query_map(params![source, kind.as_str()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
            Ok(rows.collect::<rusqlite::Result<HashMap<String, i64>>>()?)
        })
        .await
    }

    async fn import_users(
        &self,
        source: &str,
        users: Vec<ImportedUser>,
        links: Vec<(String, UserId)>,
    ) -> Result<Vec<(String, UserId)>> {
        let source = source.to_owned();
        self.write(move |tx| import_users(tx, &source, users, links))
            .await
    }

    async fn import_channel(
        &self,
        source: &str,
        channel: ImportedChannel,
    ) -> Result<(ChannelId, bool)> {
        let source = source.to_owned();
        self.write(move |tx| import_channel(tx, &source, channel))
            .await
    }

    async fn import_messages(
        &self,
        source: &str,
        channel: ChannelId,
        messages: Vec<ImportedMessage>,
    ) -> Result<ImportedBatch> {
        let source = source.to_owned();
        self.write(move |tx| import_messages(tx, &source, channel, messages))
            .await
    }
}
