//! Notices: the messages a conversation shows about itself: its topic, purpose or name changed.
//! A notice is a message of the conversation
//! (ordered with the others, in history, deleted by retention), authored by whoever caused it,
//! with a kind that clients render in their own language. Notices take no replies and no
//! edits, do not count as unread, are not searched and call no integration.
//!
//! Which change posts which notice is decided here, once, for both store backends (they call
//! these functions inside the change's own transaction).

use crate::error::Error;
use crate::ids::UserId;
use crate::model::{Channel, Message};

/// What a notice says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoticeKind {
    /// The author set the topic to the text (empty: cleared).
    Topic,
    /// The author set the purpose to the text.
    Purpose,
    /// The author renamed the channel to the text.
    Renamed,
}

impl NoticeKind {
    pub const ALL: [NoticeKind; 3] = [NoticeKind::Topic, NoticeKind::Purpose, NoticeKind::Renamed];

    /// The stable name (stored, and on every wire).
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Topic => "topic",
            NoticeKind::Purpose => "purpose",
            NoticeKind::Renamed => "renamed",
        }
    }

    pub fn parse(s: &str) -> Option<NoticeKind> {
        NoticeKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A notice to post: its author (who caused the change), kind and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotice {
    pub author: UserId,
    pub kind: NoticeKind,
    pub text: String,
}

/// The notices a change of a conversation's fields posts: one per changed topic, purpose and
/// name (archiving and the announcement flag post none).
pub fn update(before: &Channel, after: &Channel, actor: UserId) -> Vec<NewNotice> {
    let mut out = Vec::new();
    let mut note = |kind, text: &str| {
        out.push(NewNotice {
            author: actor,
            kind,
            text: text.to_owned(),
        })
    };
    if before.name != after.name
        && let Some(name) = &after.name
    {
        note(NoticeKind::Renamed, name);
    }
    if before.topic != after.topic {
        note(NoticeKind::Topic, &after.topic);
    }
    if before.purpose != after.purpose {
        note(NoticeKind::Purpose, &after.purpose);
    }
    out
}

/// A message may be edited only when it is not a notice (409: the message's state, not the
/// request, is at fault).
pub fn check_editable(message: &Message) -> Result<(), Error> {
    if message.notice.is_some() {
        Err(Error::Conflict("a notice cannot be edited"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ChannelId, Millis};
    use crate::model::ChannelKind;

    fn channel(kind: ChannelKind, name: Option<&str>, topic: &str) -> Channel {
        Channel {
            id: ChannelId(1),
            kind,
            name: name.map(str::to_owned),
            topic: topic.to_owned(),
            purpose: String::new(),
            creator_id: None,
            last_seq: 0,
            n_members: 2,
            archived_at: None,
            created_at: Millis(0),
            updated_at: Millis(0),
            announcement: false,
        }
    }

    #[test]
    fn field_changes() {
        let before = channel(ChannelKind::Public, Some("ops"), "old");
        let mut after = channel(ChannelKind::Public, Some("运维"), "预算 2027");
        after.archived_at = Some(Millis(5));
        let kinds: Vec<_> = update(&before, &after, UserId(1))
            .into_iter()
            .map(|n| (n.kind, n.text))
            .collect();
        assert_eq!(
            kinds,
            [
                (NoticeKind::Renamed, "运维".to_owned()),
                (NoticeKind::Topic, "预算 2027".to_owned())
            ]
        );
        assert!(update(&before, &before, UserId(1)).is_empty());
    }

    #[test]
    fn names_round_trip() {
        for k in NoticeKind::ALL {
            assert_eq!(NoticeKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(NoticeKind::parse("nope"), None);
    }
}
