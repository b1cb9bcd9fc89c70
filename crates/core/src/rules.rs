//! Rules a write decides on rows it reads inside its own transaction: whether a reply's root
//! is a thread root of the same channel, whether a message may get another reaction, whether a
//! channel may get another pin, and what a read position or a direct conversation becomes.
//!
//! Both store backends read what a rule needs (under their own locks), call the rule here, and
//! persist what it allows, so a rule is decided in one place whatever the backend. Permission
//! rules (who may act) are in [`crate::permissions`]; these decide what the data allows.

use crate::validate::MAX_REACTIONS_PER_MESSAGE;
use crate::{ChannelId, ChannelKind, Error, ReactionGroup};

/// Most pinned messages in one channel.
pub const MAX_PINS_PER_CHANNEL: i64 = 100;

/// The message a reply names as its thread root, as the writing transaction finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RootRow {
    pub channel_id: ChannelId,
    /// The message is itself a reply (it has a thread root).
    pub is_reply: bool,
    pub deleted: bool,
    /// The message is a notice (`notices`), which takes no replies.
    pub notice: bool,
}

/// A reply in `channel` may name `root` as its thread root: a live root message of the same
/// channel. `root` is `None` when no message has that id.
pub fn check_thread_root(channel: ChannelId, root: Option<RootRow>) -> Result<(), Error> {
    match root {
        Some(r) if r.channel_id == channel && r.notice => Err(Error::invalid(
            "thread_root_id",
            "a notice takes no replies",
        )),
        Some(r) if r.channel_id == channel && !r.is_reply && !r.deleted => Ok(()),
        Some(r) if r.channel_id == channel && r.is_reply => Err(Error::invalid(
            "thread_root_id",
            "replies go to the thread's root message",
        )),
        _ => Err(Error::invalid(
            "thread_root_id",
            "no such message in this channel",
        )),
    }
}

/// A reaction `emoji` may be added to a message that has `reactions`: joining an existing
/// emoji always may, a new one only below [`MAX_REACTIONS_PER_MESSAGE`] different ones.
pub fn check_reaction(reactions: &[ReactionGroup], emoji: &str) -> Result<(), Error> {
    let known = reactions.iter().any(|g| g.emoji == emoji);
    if !known && reactions.len() >= MAX_REACTIONS_PER_MESSAGE {
        return Err(Error::LimitExceeded(
            "too many different reactions on this message",
        ));
    }
    Ok(())
}

/// Another message may be pinned in a channel that has `n_pinned` pinned messages.
pub fn check_pin(n_pinned: i64) -> Result<(), Error> {
    if n_pinned >= MAX_PINS_PER_CHANNEL {
        return Err(Error::LimitExceeded(
            "too many pinned messages in this channel",
        ));
    }
    Ok(())
}

/// The read position a member asking for `requested` gets in a channel whose newest message
/// is `last_seq`: never below 0 nor past the newest message.
pub fn read_position(requested: i64, last_seq: i64) -> i64 {
    requested.clamp(0, last_seq.max(0))
}

/// The kind of a direct conversation among `n_users` distinct users (the creator included).
pub fn direct_kind(n_users: usize) -> ChannelKind {
    if n_users <= 2 {
        ChannelKind::Dm
    } else {
        ChannelKind::GroupDm
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UserId;

    fn groups(n: usize) -> Vec<ReactionGroup> {
        (0..n)
            .map(|i| ReactionGroup {
                emoji: format!("e{i}"),
                user_ids: vec![UserId(1)],
            })
            .collect()
    }

    type Verdict = Result<(), Error>;

    /// Every rule of this module, one case per row: the rule's input and its verdict.
    #[test]
    fn rules_table() {
        const HERE: ChannelId = ChannelId(7);
        const THERE: ChannelId = ChannelId(8);
        let root = |channel_id, is_reply, deleted| {
            Some(RootRow {
                channel_id,
                is_reply,
                deleted,
                notice: false,
            })
        };
        let notice_root = Some(RootRow {
            channel_id: HERE,
            is_reply: false,
            deleted: false,
            notice: true,
        });
        let no_such = Err(Error::invalid(
            "thread_root_id",
            "no such message in this channel",
        ));
        let not_root = Err(Error::invalid(
            "thread_root_id",
            "replies go to the thread's root message",
        ));
        let too_many_reactions = Err(Error::LimitExceeded(
            "too many different reactions on this message",
        ));
        let too_many_pins = Err(Error::LimitExceeded(
            "too many pinned messages in this channel",
        ));
        let max_r = MAX_REACTIONS_PER_MESSAGE;
        #[rustfmt::skip]
        let cases: Vec<(&str, Verdict, Verdict)> = vec![
            ("root: live root, same channel", check_thread_root(HERE, root(HERE, false, false)), Ok(())),
            ("root: missing", check_thread_root(HERE, None), no_such.clone()),
            ("root: other channel", check_thread_root(HERE, root(THERE, false, false)), no_such.clone()),
            ("root: deleted root", check_thread_root(HERE, root(HERE, false, true)), no_such.clone()),
            ("root: a reply", check_thread_root(HERE, root(HERE, true, false)), not_root.clone()),
            ("root: a deleted reply", check_thread_root(HERE, root(HERE, true, true)), not_root),
            ("root: a reply elsewhere", check_thread_root(HERE, root(THERE, true, false)), no_such),
            ("root: a notice", check_thread_root(HERE, notice_root), Err(Error::invalid("thread_root_id", "a notice takes no replies"))),
            ("reaction: first", check_reaction(&[], "e0"), Ok(())),
            ("reaction: new below the limit", check_reaction(&groups(max_r - 1), "new"), Ok(())),
            ("reaction: new at the limit", check_reaction(&groups(max_r), "new"), too_many_reactions),
            ("reaction: known at the limit", check_reaction(&groups(max_r), "e3"), Ok(())),
            ("pin: none yet", check_pin(0), Ok(())),
            ("pin: one below the limit", check_pin(MAX_PINS_PER_CHANNEL - 1), Ok(())),
            ("pin: at the limit", check_pin(MAX_PINS_PER_CHANNEL), too_many_pins.clone()),
            ("pin: past the limit", check_pin(MAX_PINS_PER_CHANNEL + 1), too_many_pins),
        ];
        for (name, got, want) in cases {
            assert_eq!(got, want, "{name}");
        }
        #[rustfmt::skip]
        let positions = [
            ("read: within", read_position(3, 5), 3),
            ("read: past the newest", read_position(9, 5), 5),
            ("read: negative", read_position(-1, 5), 0),
            ("read: empty channel", read_position(4, 0), 0),
        ];
        for (name, got, want) in positions {
            assert_eq!(got, want, "{name}");
        }
        #[rustfmt::skip]
        let kinds = [
            ("direct: alone", direct_kind(1), ChannelKind::Dm),
            ("direct: two", direct_kind(2), ChannelKind::Dm),
            ("direct: three", direct_kind(3), ChannelKind::GroupDm),
        ];
        for (name, got, want) in kinds {
            assert_eq!(got, want, "{name}");
        }
    }
}
