//! Messages on SQLite: posting, history, threads, edits, deletes, reactions and pins.

use async_trait::async_trait;
use enclave_core::{
    Anchor, ChannelId, Entity, Error as DomainError, EventKind, Mentions, Message, MessageId,
    NewEvent, UserId, rules,
};
use rusqlite::{Connection, OptionalExtension, params};

use super::channels::load_ctx;
use super::rows::{self, MESSAGE_COLS};
use super::search::{index_message, unindex_message};
use super::{SqliteStore, Tx};
use crate::common::{
    history_reads, mention_columns, pin_event, post_events, posted_message, push_reaction,
    reaction_event, run_guard,
};
use crate::{Error, Guard, MAX_PINS_PER_CHANNEL, MessageStore, NewMessage, Posted, Result};

/// Fills in each message's reactions and files.
pub(super) fn attach_reactions(c: &Connection, msgs: &mut [Message]) -> Result<()> {
    super::files::attach_to_messages(c, msgs)?;
    let mut stmt =
        c.prepare_cached("SELECT emoji, user_id FROM reactions WHERE message_id = ?1 ORDER BY created_at, emoji, user_id")?;
    for m in msgs.iter_mut() {
        let mut rows = stmt.query([m.id.0])?;
        while let Some(r) = rows.next()? {
            let emoji: String = r.get(0)?;
            push_reaction(m, &emoji, UserId(r.get(1)?));
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
        _ => Err(Error::Domain(DomainError::NotFound(Entity::Message))),
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
        let root_row = tx
            .conn
            .prepare_cached(
                "SELECT channel_id, thread_root_id IS NOT NULL, deleted_at IS NOT NULL, notice IS NOT NULL
                   FROM messages WHERE id = ?1",
            )?
            .query_row([root.0], |r| {
                Ok(rules::RootRow {
                    channel_id: ChannelId(r.get(0)?),
                    is_reply: r.get(1)?,
                    deleted: r.get(2)?,
                    notice: r.get(3)?,
                })
            })
            .optional()?;
        rules::check_thread_root(new.channel_id, root_row)?;
    }
    let seq: i64 = tx
        .conn
        .prepare_cached(
            "UPDATE channels SET last_seq = last_seq + 1 WHERE id = ?1 RETURNING last_seq",
        )?
        .query_row([new.channel_id.0], |r| r.get(0))?;
    let (flags, ids) = mention_columns(&new.mentions);
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
    for e in post_events(&new, id) {
        tx.event(e)?;
    }
    Ok(Posted {
        message: posted_message(new, id, seq, tx.now, files),
        created: true,
    })
}

/// Posts a notice about the conversation (`enclave_core::notices`), in the change's own
/// transaction: the next sequence number, no search entry, no mentions; its author has read it.
pub fn post_notice(
    tx: &mut Tx<'_>,
    channel_id: ChannelId,
    n: enclave_core::notices::NewNotice,
) -> Result<()> {
    let seq: i64 = tx
        .conn
        .prepare_cached(
            "UPDATE channels SET last_seq = last_seq + 1 WHERE id = ?1 RETURNING last_seq",
        )?
        .query_row([channel_id.0], |r| r.get(0))?;
    let (flags, ids) = mention_columns(&enclave_core::Mentions::default());
    tx.conn
        .prepare_cached(
            "INSERT INTO messages (channel_id, seq, user_id, text, mention_flags, mention_user_ids,
                                   created_at, notice)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            channel_id.0,
            seq,
            n.author.0,
            n.text,
            flags,
            ids,
            tx.now.0,
            n.kind.as_str()
        ])?;
    let id = MessageId(tx.conn.last_insert_rowid());
    tx.conn
        .prepare_cached(
            "UPDATE members SET last_read_seq = max(last_read_seq, ?3) WHERE channel_id = ?1 AND user_id = ?2",
        )?
        .execute(params![channel_id.0, n.author.0, seq])?;
    tx.event(
        enclave_core::NewEvent::new(enclave_core::EventKind::MessageCreated)
            .channel(channel_id)
            .actor(n.author)
            .message(id),
    )?;
    Ok(())
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
    let reads = history_reads(anchor, limit);
    let mut msgs = match reads.before {
        Some((seq, n)) => before(seq, n)?,
        None => Vec::new(),
    };
    if let Some((seq, n)) = reads.from {
        msgs.extend(from(seq, n)?);
    }
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
    let (flags, ids) = mention_columns(&mentions);
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
    super::retention::keep_if_held(tx, &before, actor)?;
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
        rules::check_reaction(&before.reactions, &emoji)?;
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
        tx.event(reaction_event(&before, user_id, emoji, present))?;
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
        rules::check_pin(n)?;
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
    tx.event(pin_event(&before, user_id, pinned))?;
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

#[async_trait]
impl MessageStore for SqliteStore {
    async fn post_message(&self, new: NewMessage, guard: Guard) -> Result<Posted> {
        self.write(move |tx| post_message(tx, new, guard)).await
    }
    async fn message(&self, id: MessageId) -> Result<Option<Message>> {
        self.read(move |c| message(c, id)).await
    }
    async fn history(
        &self,
        id: ChannelId,
        anchor: Anchor,
        limit: u32,
        include_replies: bool,
    ) -> Result<Vec<Message>> {
        self.read(move |c| history(c, id, anchor, limit, include_replies))
            .await
    }
    async fn thread(&self, root: MessageId, after_seq: i64, limit: u32) -> Result<Vec<Message>> {
        self.read(move |c| thread(c, root, after_seq, limit)).await
    }
    async fn edit_message(
        &self,
        id: MessageId,
        actor_id: UserId,
        text: String,
        mentions: Mentions,
        guard: Guard,
    ) -> Result<Message> {
        self.write(move |tx| edit_message(tx, id, actor_id, text, mentions, guard))
            .await
    }
    async fn delete_message(
        &self,
        id: MessageId,
        actor_id: UserId,
        guard: Guard,
    ) -> Result<Message> {
        self.write(move |tx| delete_message(tx, id, actor_id, guard))
            .await
    }
    async fn set_reaction(
        &self,
        id: MessageId,
        user_id: UserId,
        emoji: String,
        present: bool,
        guard: Guard,
    ) -> Result<(Message, bool)> {
        self.write(move |tx| set_reaction(tx, id, user_id, emoji, present, guard))
            .await
    }
    async fn set_pinned(
        &self,
        id: MessageId,
        user_id: UserId,
        pinned: bool,
        guard: Guard,
    ) -> Result<(Message, bool)> {
        self.write(move |tx| set_pinned(tx, id, user_id, pinned, guard))
            .await
    }
    async fn pins(&self, id: ChannelId) -> Result<Vec<Message>> {
        self.read(move |c| pins(c, id)).await
    }
    async fn messages_by_ids(&self, ids: &[MessageId]) -> Result<Vec<Message>> {
        let ids = ids.to_vec();
        self.read(move |c| messages_by_ids(c, &ids)).await
    }
}
