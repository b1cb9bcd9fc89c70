//! What both backends share that is not SQL: the storage forms of values (mention columns,
//! `LIKE` patterns, direct-conversation keys), running a [`Guard`] on the rows a write read,
//! and deciding which events a change appends. Each backend keeps only its SQL.

use enclave_core::{
    Anchor, Channel, ChannelId, EventKind, FileMeta, Membership, Mentions, Message, MessageId,
    Millis, NewEvent, ReactionGroup, User, UserId,
};

use crate::{Error, Guard, GuardCtx, NewMessage, Result};

/// `messages.mention_flags`: the message mentions `@channel`.
pub const MENTION_CHANNEL: i64 = 1;
/// `messages.mention_flags`: the message mentions `@here`.
pub const MENTION_HERE: i64 = 2;

/// The storage form of a message's mentions: flags and space-separated user ids.
pub fn mention_columns(m: &Mentions) -> (i64, String) {
    let flags = if m.channel { MENTION_CHANNEL } else { 0 } | if m.here { MENTION_HERE } else { 0 };
    let ids = m
        .user_ids
        .iter()
        .map(|u| u.0.to_string())
        .collect::<Vec<_>>()
        .join(" ");
    (flags, ids)
}

/// A message's mentions read back from [`mention_columns`]' form.
pub fn mentions_from_columns(flags: i64, ids: &str) -> Mentions {
    Mentions {
        user_ids: ids
            .split_ascii_whitespace()
            .filter_map(|s| s.parse().ok())
            .map(UserId)
            .collect(),
        channel: flags & MENTION_CHANNEL != 0,
        here: flags & MENTION_HERE != 0,
    }
}

/// A `LIKE` pattern (escape character `\`) matching any text that contains `text`.
pub fn like_pattern(text: &str) -> String {
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

/// The `LIKE` pattern matching text that starts with what [`like_pattern`] made `contains` of
/// (its leading `%` dropped).
pub fn starts_pattern(contains: &str) -> String {
    format!("{}%", &contains[1..])
}

/// The members of a direct conversation, sorted and deduplicated, and its unique key.
pub fn direct_members(mut user_ids: Vec<UserId>) -> (Vec<UserId>, String) {
    user_ids.sort();
    user_ids.dedup();
    let key = user_ids
        .iter()
        .map(|u| u.0.to_string())
        .collect::<Vec<_>>()
        .join(",");
    (user_ids, key)
}

/// Runs a write's guard on the rows it read inside its transaction.
pub fn run_guard(
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

/// Whether an account change is one other users see (and so gets a `user.updated` event).
pub fn user_visibly_changed(before: &User, after: &User) -> bool {
    before.display_name != after.display_name
        || before.email != after.email
        || before.active != after.active
        || before.is_admin != after.is_admin
        || before.status_text != after.status_text
        || before.dnd != after.dnd
        || before.member_role != after.member_role
        || before.guest_expires_at != after.guest_expires_at
}

/// What a channel update changed: its named fields, and whether it was archived or
/// unarchived.
pub fn channel_changes(before: &Channel, after: &Channel) -> (bool, bool) {
    let fields = before.name != after.name
        || before.topic != after.topic
        || before.purpose != after.purpose
        || before.announcement != after.announcement;
    let archive = before.archived_at.is_some() != after.archived_at.is_some();
    (fields, archive)
}

/// The events a new channel appends: `channel.created`, then `member.added` for each member.
pub fn channel_created_events(id: ChannelId, creator: UserId, members: &[UserId]) -> Vec<NewEvent> {
    let mut out = vec![
        NewEvent::new(EventKind::ChannelCreated)
            .channel(id)
            .actor(creator),
    ];
    out.extend(members.iter().map(|u| {
        NewEvent::new(EventKind::MemberAdded)
            .channel(id)
            .user(*u)
            .actor(creator)
    }));
    out
}

/// The events a channel update appends: `channel.updated` when named fields changed, and
/// `channel.archived` or `channel.unarchived` when `after` changed that.
pub fn channel_update_events(before: &Channel, after: &Channel, actor: UserId) -> Vec<NewEvent> {
    let (fields_changed, archive_changed) = channel_changes(before, after);
    let mut out = Vec::new();
    if fields_changed {
        out.push(
            NewEvent::new(EventKind::ChannelUpdated)
                .channel(after.id)
                .actor(actor),
        );
    }
    if archive_changed {
        let kind = if after.is_archived() {
            EventKind::ChannelArchived
        } else {
            EventKind::ChannelUnarchived
        };
        out.push(NewEvent::new(kind).channel(after.id).actor(actor));
    }
    out
}

/// Adds one user's reaction to a message read back from the store, grouping by emoji in the
/// order the rows come.
pub fn push_reaction(m: &mut Message, emoji: &str, user: UserId) {
    match m.reactions.iter_mut().find(|g| g.emoji == emoji) {
        Some(g) => g.user_ids.push(user),
        None => m.reactions.push(ReactionGroup {
            emoji: emoji.to_owned(),
            user_ids: vec![user],
        }),
    }
}

/// The two reads a page of history takes around `anchor`: up to `n` visible messages before
/// `seq` (newest first, then reversed), and up to `n` from `seq` on, in that order.
pub struct HistoryReads {
    pub before: Option<(i64, u32)>,
    pub from: Option<(i64, u32)>,
}

/// What a history page of `limit` messages around `anchor` reads: around a position, half
/// before it and the rest from it.
pub fn history_reads(anchor: Anchor, limit: u32) -> HistoryReads {
    match anchor {
        Anchor::Latest => HistoryReads {
            before: Some((i64::MAX, limit)),
            from: None,
        },
        Anchor::Before(s) => HistoryReads {
            before: Some((s, limit)),
            from: None,
        },
        Anchor::After(s) => HistoryReads {
            before: None,
            from: Some((s.saturating_add(1), limit)),
        },
        Anchor::Around(s) => {
            let n_before = limit / 2;
            HistoryReads {
                before: Some((s, n_before)),
                from: Some((s, limit - n_before)),
            }
        }
    }
}

/// The message a post created, as the store returns it.
pub fn posted_message(
    new: NewMessage,
    id: MessageId,
    seq: i64,
    now: Millis,
    files: Vec<FileMeta>,
) -> Message {
    Message {
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
        notice: None,
    }
}

/// The events a new post appends: `message.created`, and `thread.updated` for a reply.
pub fn post_events(new: &NewMessage, id: MessageId) -> Vec<NewEvent> {
    let mut out = vec![
        NewEvent::new(EventKind::MessageCreated)
            .channel(new.channel_id)
            .actor(new.user_id)
            .message(id),
    ];
    if let Some(root) = new.thread_root_id {
        out.push(
            NewEvent::new(EventKind::ThreadUpdated)
                .channel(new.channel_id)
                .actor(new.user_id)
                .message(root),
        );
    }
    out
}

/// The event of a reaction added or removed.
pub fn reaction_event(m: &Message, user_id: UserId, emoji: String, present: bool) -> NewEvent {
    let kind = if present {
        EventKind::ReactionAdded
    } else {
        EventKind::ReactionRemoved
    };
    NewEvent::new(kind)
        .channel(m.channel_id)
        .user(user_id)
        .actor(user_id)
        .message(m.id)
        .extra(emoji)
}

/// The event of a message pinned or unpinned.
pub fn pin_event(m: &Message, user_id: UserId, pinned: bool) -> NewEvent {
    let kind = if pinned {
        EventKind::MessagePinned
    } else {
        EventKind::MessageUnpinned
    };
    NewEvent::new(kind)
        .channel(m.channel_id)
        .actor(user_id)
        .message(m.id)
}

/// A file size as the databases store it.
pub fn size_i64(size: u64) -> Result<i64> {
    i64::try_from(size).map_err(|_| {
        Error::Domain(enclave_core::Error::FileTooLarge {
            limit: i64::MAX as u64,
        })
    })
}

/// A stored second-factor requirement; a name this build does not know is an error rather
/// than a weaker policy.
pub(crate) fn requirement(name: &str) -> crate::Result<enclave_core::signin::Requirement> {
    enclave_core::signin::Requirement::parse(name).ok_or_else(|| {
        crate::Error::Backend(std::sync::Arc::new(std::io::Error::other(format!(
            "unknown second-factor requirement {name:?}"
        ))))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mention_columns_round_trip() {
        let m = Mentions {
            user_ids: vec![UserId(3), UserId(12)],
            channel: true,
            here: false,
        };
        let (flags, ids) = mention_columns(&m);
        assert_eq!((flags, ids.as_str()), (MENTION_CHANNEL, "3 12"));
        assert_eq!(mentions_from_columns(flags, &ids), m);
    }

    #[test]
    fn like_patterns_escape() {
        assert_eq!(like_pattern("a%b_c\\"), "%a\\%b\\_c\\\\%");
        // The trailing `%%` matches what one `%` does.
        assert_eq!(starts_pattern(&like_pattern("ab")), "ab%%");
    }

    #[test]
    fn direct_members_sort_and_key() {
        let (ids, key) = direct_members(vec![UserId(5), UserId(2), UserId(5)]);
        assert_eq!(ids, vec![UserId(2), UserId(5)]);
        assert_eq!(key, "2,5");
    }
}
