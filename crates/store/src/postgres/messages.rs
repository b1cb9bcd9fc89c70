//! Messages on PostgreSQL: posting, history, threads, edits, deletes, reactions and pins.
//! Writes lock the channel row, then the message (see the module docs of `postgres`).

use async_trait::async_trait;
use enclave_core::{
    Anchor, Channel, ChannelId, Entity, Error as DomainError, EventKind, Membership, Mentions,
    Message, MessageId, NewEvent, UserId, rules,
};
use sqlx_core::row::Row;
use sqlx_postgres::PgConnection;

use super::channels::{Lock, load_ctx};
use super::rows::{self, all, message_cols, one};
use super::search::tsvector_literal;
use super::{PgStore, Tx, limit, q};
use crate::common::{
    history_reads, mention_columns, pin_event, post_events, posted_message, push_reaction,
    reaction_event, run_guard,
};
use crate::{Error, Guard, MAX_PINS_PER_CHANNEL, MessageStore, NewMessage, Posted, Result};

/// Fills in each message's reactions and files.
pub(super) async fn attach_reactions(c: &mut PgConnection, msgs: &mut [Message]) -> Result<()> {
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
            push_reaction(m, emoji, *user);
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

/// Posts a notice about the conversation (`enclave_core::notices`), in the change's own
/// transaction: the next sequence number, no search entry, no mentions; its author has read it.
pub async fn post_notice(
    tx: &mut Tx,
    channel_id: ChannelId,
    n: enclave_core::notices::NewNotice,
) -> Result<()> {
    let seq: i64 =
        q("UPDATE channels SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq")
            .bind(channel_id.0)
            .fetch_one(tx.c())
            .await?
            .try_get(0)?;
    let (flags, ids) = mention_columns(&enclave_core::Mentions::default());
    let now = tx.now;
    let id = MessageId(
        q(
            "INSERT INTO messages (channel_id, seq, user_id, text, mention_flags, mention_user_ids,
                                 created_at, notice)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(channel_id.0)
        .bind(seq)
        .bind(n.author.0)
        .bind(n.text)
        .bind(flags)
        .bind(ids)
        .bind(now.0)
        .bind(n.kind.as_str())
        .fetch_one(tx.c())
        .await?
        .try_get(0)?,
    );
    q("UPDATE members SET last_read_seq = greatest(last_read_seq, $3) WHERE channel_id = $1 AND user_id = $2")
        .bind(channel_id.0)
        .bind(n.author.0)
        .bind(seq)
        .execute(tx.c())
        .await?;
    tx.event(
        enclave_core::NewEvent::new(enclave_core::EventKind::MessageCreated)
            .channel(channel_id)
            .actor(n.author)
            .message(id),
    );
    Ok(())
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
    let gone = || Error::Domain(DomainError::NotFound(Entity::Message));
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
                .ok_or(Error::Domain(DomainError::NotFound(Entity::Message)))?;
            return Ok(Posted {
                message,
                created: false,
            });
        }
    }
    if let Some(root) = new.thread_root_id {
        let row = q(
            "SELECT channel_id, thread_root_id IS NOT NULL, deleted_at IS NOT NULL, notice IS NOT NULL
                       FROM messages WHERE id = $1",
        )
        .bind(root.0)
        .fetch_optional(tx.c())
        .await?;
        let root_row = one(row, |r| {
            Ok(rules::RootRow {
                channel_id: ChannelId(r.try_get(0)?),
                is_reply: r.try_get(1)?,
                deleted: r.try_get(2)?,
                notice: r.try_get(3)?,
            })
        })?;
        rules::check_thread_root(new.channel_id, root_row)?;
    }
    let seq: i64 =
        q("UPDATE channels SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq")
            .bind(new.channel_id.0)
            .fetch_one(tx.c())
            .await?
            .try_get(0)?;
    let (flags, ids) = mention_columns(&new.mentions);
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
    for e in post_events(&new, id) {
        tx.event(e);
    }
    Ok(Posted {
        message: posted_message(new, id, seq, now, files),
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
    let reads = history_reads(anchor, n);
    let mut msgs = match reads.before {
        Some((seq, n)) => before(c, id, seq, n, include_replies).await?,
        None => Vec::new(),
    };
    if let Some((seq, n)) = reads.from {
        msgs.extend(from(c, id, seq, n, include_replies).await?);
    }
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
    let (flags, ids) = mention_columns(&mentions);
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
    super::retention::keep_if_held(tx, &before, actor).await?;
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
        .ok_or(Error::Domain(DomainError::NotFound(Entity::Message)))
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
        rules::check_reaction(&before.reactions, &emoji)?;
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
        tx.event(reaction_event(&before, user_id, emoji, present));
    }
    let after = message(tx.c(), id)
        .await?
        .ok_or(Error::Domain(DomainError::NotFound(Entity::Message)))?;
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
        rules::check_pin(n)?;
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
    tx.event(pin_event(&before, user_id, pinned));
    let after = message(tx.c(), id)
        .await?
        .ok_or(Error::Domain(DomainError::NotFound(Entity::Message)))?;
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

#[async_trait]
impl MessageStore for PgStore {
    async fn post_message(&self, new: NewMessage, guard: Guard) -> Result<Posted> {
        let mut tx = self.begin().await?;
        let result = post_message(&mut tx, new, guard).await;
        self.finish(tx, result).await
    }
    async fn message(&self, id: MessageId) -> Result<Option<Message>> {
        let mut s = self.snapshot().await?;
        let result = message(s.c(), id).await;
        s.end(result).await
    }
    async fn history(
        &self,
        id: ChannelId,
        anchor: Anchor,
        limit: u32,
        include_replies: bool,
    ) -> Result<Vec<Message>> {
        let mut s = self.snapshot().await?;
        let result = history(s.c(), id, anchor, limit, include_replies).await;
        s.end(result).await
    }
    async fn thread(&self, root: MessageId, after_seq: i64, limit: u32) -> Result<Vec<Message>> {
        let mut s = self.snapshot().await?;
        let result = thread(s.c(), root, after_seq, limit).await;
        s.end(result).await
    }
    async fn edit_message(
        &self,
        id: MessageId,
        actor_id: UserId,
        text: String,
        mentions: Mentions,
        guard: Guard,
    ) -> Result<Message> {
        let mut tx = self.begin().await?;
        let result = edit_message(&mut tx, id, actor_id, text, mentions, guard).await;
        self.finish(tx, result).await
    }
    async fn delete_message(
        &self,
        id: MessageId,
        actor_id: UserId,
        guard: Guard,
    ) -> Result<Message> {
        let mut tx = self.begin().await?;
        let result = delete_message(&mut tx, id, actor_id, guard).await;
        self.finish(tx, result).await
    }
    async fn set_reaction(
        &self,
        id: MessageId,
        user_id: UserId,
        emoji: String,
        present: bool,
        guard: Guard,
    ) -> Result<(Message, bool)> {
        let mut tx = self.begin().await?;
        let result = set_reaction(&mut tx, id, user_id, emoji, present, guard).await;
        self.finish(tx, result).await
    }
    async fn set_pinned(
        &self,
        id: MessageId,
        user_id: UserId,
        pinned: bool,
        guard: Guard,
    ) -> Result<(Message, bool)> {
        let mut tx = self.begin().await?;
        let result = set_pinned(&mut tx, id, user_id, pinned, guard).await;
        self.finish(tx, result).await
    }
    async fn pins(&self, id: ChannelId) -> Result<Vec<Message>> {
        let mut s = self.snapshot().await?;
        let result = pins(s.c(), id).await;
        s.end(result).await
    }
    async fn messages_by_ids(&self, ids: &[MessageId]) -> Result<Vec<Message>> {
        let mut s = self.feed_snapshot().await?;
        let result = messages_by_ids(s.c(), ids).await;
        s.end(result).await
    }
}
