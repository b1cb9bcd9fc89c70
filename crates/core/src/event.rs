//! The durable, ordered log of state changes.
//!
//! Every change to shared state appends one or more [`Event`]s in the same transaction as the
//! change itself. An event holds references (ids), not copies: a door that delivers it loads the
//! current state of what it names. Positions increase strictly in commit order, so a client that
//! remembers the last position it saw can ask for exactly what came after.

use crate::ids::{ChannelId, MessageId, Millis, UserId};
use crate::permissions::{Actor, sees_user};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    MessageCreated,
    MessageEdited,
    MessageDeleted,
    ReactionAdded,
    ReactionRemoved,
    MessagePinned,
    MessageUnpinned,
    /// A thread root's reply count or last-reply time changed.
    ThreadUpdated,
    ChannelCreated,
    ChannelUpdated,
    ChannelArchived,
    ChannelUnarchived,
    MemberAdded,
    MemberRemoved,
    MemberUpdated,
    /// A member's read position changed (seen by that member's other devices only).
    ReadUpdated,
    UserCreated,
    UserUpdated,
    /// Some of a user's sessions or tokens were revoked (logout, deactivation, password
    /// reset); caches of credentials must forget them and sockets opened with them close.
    TokensRevoked,
    /// A custom role was created, changed or deleted: caches of actors must forget everyone
    /// (the effective permissions of its holders may have changed).
    RolesChanged,
    /// A text shown to one person only, in a conversation (a slash command's answer or an
    /// integration's follow-up): `user_id` the person, `channel_id` the conversation,
    /// `message_id` the thread root when it belongs to a thread, `extra` the Markdown text.
    EphemeralPosted,
}

impl EventKind {
    pub const ALL: [EventKind; 21] = [
        EventKind::MessageCreated,
        EventKind::MessageEdited,
        EventKind::MessageDeleted,
        EventKind::ReactionAdded,
        EventKind::ReactionRemoved,
        EventKind::MessagePinned,
        EventKind::MessageUnpinned,
        EventKind::ThreadUpdated,
        EventKind::ChannelCreated,
        EventKind::ChannelUpdated,
        EventKind::ChannelArchived,
        EventKind::ChannelUnarchived,
        EventKind::MemberAdded,
        EventKind::MemberRemoved,
        EventKind::MemberUpdated,
        EventKind::ReadUpdated,
        EventKind::UserCreated,
        EventKind::UserUpdated,
        EventKind::TokensRevoked,
        EventKind::RolesChanged,
        EventKind::EphemeralPosted,
    ];

    /// The `noun.verb` name used on every wire and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::MessageCreated => "message.created",
            EventKind::MessageEdited => "message.edited",
            EventKind::MessageDeleted => "message.deleted",
            EventKind::ReactionAdded => "reaction.added",
            EventKind::ReactionRemoved => "reaction.removed",
            EventKind::MessagePinned => "message.pinned",
            EventKind::MessageUnpinned => "message.unpinned",
            EventKind::ThreadUpdated => "thread.updated",
            EventKind::ChannelCreated => "channel.created",
            EventKind::ChannelUpdated => "channel.updated",
            EventKind::ChannelArchived => "channel.archived",
            EventKind::ChannelUnarchived => "channel.unarchived",
            EventKind::MemberAdded => "member.added",
            EventKind::MemberRemoved => "member.removed",
            EventKind::MemberUpdated => "member.updated",
            EventKind::ReadUpdated => "read.updated",
            EventKind::UserCreated => "user.created",
            EventKind::UserUpdated => "user.updated",
            EventKind::TokensRevoked => "tokens.revoked",
            EventKind::RolesChanged => "roles.changed",
            EventKind::EphemeralPosted => "ephemeral.posted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Who may see an event. [`Event::audience`] decides it once for every door: the real-time
/// hub fans an event out to this audience, and replays the log through [`Audience::reaches`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// No client (credential revocations: only the server's caches and sockets act on them).
    Nobody,
    /// Every active user.
    Everyone,
    /// Those who may see the account (account changes, [`sees_user`]): the account itself,
    /// everyone who may browse the directory, and others (guests) only when they share a
    /// channel with it.
    People(UserId),
    /// The members of the channel.
    Channel(ChannelId),
    /// The members of the channel and the member concerned, who hears of their own addition,
    /// change and removal whether or not they are (still) a member.
    ChannelAndMember { channel: ChannelId, member: UserId },
    /// One user only (their own read state, on their other devices).
    User(UserId),
}

impl Audience {
    /// Whether `viewer` is in this audience, given which channels they are a member of and
    /// (asked only for [`Audience::People`], of a viewer who may not browse the directory)
    /// whether they share a channel with an account.
    pub fn reaches(
        self,
        viewer: &Actor,
        is_member: impl Fn(ChannelId) -> bool,
        shares_channel: impl FnOnce(UserId) -> bool,
    ) -> bool {
        let user = viewer.user_id;
        match self {
            Audience::Nobody => false,
            Audience::Everyone => true,
            Audience::People(u) => {
                sees_user(viewer, u, false) || sees_user(viewer, u, shares_channel(u))
            }
            Audience::User(u) => u == user,
            Audience::Channel(c) => is_member(c),
            Audience::ChannelAndMember { channel, member } => member == user || is_member(channel),
        }
    }
}

/// One durable state change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Strictly increasing, assigned at commit, no gaps among committed events.
    pub position: i64,
    pub kind: EventKind,
    pub channel_id: Option<ChannelId>,
    /// The user the event is about (the member added, the reader, the account changed).
    pub user_id: Option<UserId>,
    /// Who caused it.
    pub actor_id: Option<UserId>,
    pub message_id: Option<MessageId>,
    /// A short detail: the emoji of a reaction event, the sequence number of a read event.
    pub extra: Option<String>,
    pub created_at: Millis,
}

/// An event about to be appended: everything but its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub kind: EventKind,
    pub channel_id: Option<ChannelId>,
    pub user_id: Option<UserId>,
    pub actor_id: Option<UserId>,
    pub message_id: Option<MessageId>,
    pub extra: Option<String>,
}

impl NewEvent {
    pub fn new(kind: EventKind) -> Self {
        NewEvent {
            kind,
            channel_id: None,
            user_id: None,
            actor_id: None,
            message_id: None,
            extra: None,
        }
    }
    pub fn channel(mut self, id: ChannelId) -> Self {
        self.channel_id = Some(id);
        self
    }
    pub fn user(mut self, id: UserId) -> Self {
        self.user_id = Some(id);
        self
    }
    pub fn actor(mut self, id: UserId) -> Self {
        self.actor_id = Some(id);
        self
    }
    pub fn message(mut self, id: MessageId) -> Self {
        self.message_id = Some(id);
        self
    }
    pub fn extra(mut self, s: impl Into<String>) -> Self {
        self.extra = Some(s.into());
        self
    }
}

impl Event {
    /// Who may see this event.
    pub fn audience(&self) -> Audience {
        match (self.kind, self.channel_id, self.user_id) {
            (EventKind::TokensRevoked | EventKind::RolesChanged, _, _) => Audience::Nobody,
            (EventKind::ReadUpdated | EventKind::EphemeralPosted, _, Some(u)) => Audience::User(u),
            (EventKind::EphemeralPosted, _, None) => Audience::Nobody,
            (EventKind::UserCreated | EventKind::UserUpdated, _, Some(u)) => Audience::People(u),
            (EventKind::UserCreated | EventKind::UserUpdated, _, None) => Audience::Everyone,
            (
                EventKind::MemberAdded | EventKind::MemberRemoved | EventKind::MemberUpdated,
                Some(channel),
                Some(member),
            ) => Audience::ChannelAndMember { channel, member },
            (_, Some(c), _) => Audience::Channel(c),
            (_, None, Some(u)) => Audience::User(u),
            (_, None, None) => Audience::Everyone,
        }
    }

    /// Whether this event reaches `viewer` ([`Audience::reaches`]).
    pub fn reaches(
        &self,
        viewer: &Actor,
        is_member: impl Fn(ChannelId) -> bool,
        shares_channel: impl FnOnce(UserId) -> bool,
    ) -> bool {
        self.audience().reaches(viewer, is_member, shares_channel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roles::RoleSet;

    #[test]
    fn kind_names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
            assert!(seen.insert(k.as_str()));
        }
    }

    #[test]
    fn read_state_is_private_to_its_owner() {
        let e = Event {
            position: 1,
            kind: EventKind::ReadUpdated,
            channel_id: Some(ChannelId(5)),
            user_id: Some(UserId(7)),
            actor_id: Some(UserId(7)),
            message_id: None,
            extra: Some("3".into()),
            created_at: Millis(0),
        };
        assert_eq!(e.audience(), Audience::User(UserId(7)));
        let e = Event {
            kind: EventKind::MessageCreated,
            ..e
        };
        assert_eq!(e.audience(), Audience::Channel(ChannelId(5)));
    }

    /// Who an event reaches, for every kind: a member of its channel, the user it is about
    /// (not a member), and anyone else.
    #[test]
    fn who_each_event_reaches() {
        const CHANNEL: ChannelId = ChannelId(5);
        const MEMBER: UserId = UserId(1);
        const CONCERNED: UserId = UserId(2);
        const OTHER: UserId = UserId(3);
        use EventKind as K;
        // (kind, has a channel, reaches: [member, concerned, other])
        let table: &[(EventKind, bool, [bool; 3])] = &[
            (K::MessageCreated, true, [true, false, false]),
            (K::MessageEdited, true, [true, false, false]),
            (K::MessageDeleted, true, [true, false, false]),
            (K::ReactionAdded, true, [true, false, false]),
            (K::ReactionRemoved, true, [true, false, false]),
            (K::MessagePinned, true, [true, false, false]),
            (K::MessageUnpinned, true, [true, false, false]),
            (K::ThreadUpdated, true, [true, false, false]),
            (K::ChannelCreated, true, [true, false, false]),
            (K::ChannelUpdated, true, [true, false, false]),
            (K::ChannelArchived, true, [true, false, false]),
            (K::ChannelUnarchived, true, [true, false, false]),
            (K::MemberAdded, true, [true, true, false]),
            (K::MemberRemoved, true, [true, true, false]),
            (K::MemberUpdated, true, [true, true, false]),
            (K::ReadUpdated, true, [false, true, false]),
            // Shown to the one person it is for, never to the channel's other members.
            (K::EphemeralPosted, true, [false, true, false]),
            (K::UserCreated, false, [true, true, true]),
            (K::UserUpdated, false, [true, true, true]),
            (K::TokensRevoked, false, [false, false, false]),
            (K::TokensRevoked, true, [false, false, false]),
            (K::RolesChanged, false, [false, false, false]),
            // An event naming only a user reaches that user; one naming nothing, everyone.
            (K::MessageCreated, false, [false, true, false]),
        ];
        let covered: std::collections::HashSet<EventKind> =
            table.iter().map(|(k, _, _)| *k).collect();
        assert_eq!(
            covered.len(),
            EventKind::ALL.len(),
            "every kind is in the table"
        );
        for (kind, has_channel, want) in table {
            let e = Event {
                position: 1,
                kind: *kind,
                channel_id: has_channel.then_some(CHANNEL),
                user_id: Some(CONCERNED),
                actor_id: Some(MEMBER),
                message_id: None,
                extra: None,
                created_at: Millis(0),
            };
            let got = [MEMBER, CONCERNED, OTHER].map(|u| {
                let viewer = Actor::new(u, RoleSet::MEMBER);
                e.reaches(&viewer, |c| c == CHANNEL && u == MEMBER, |_| false)
            });
            assert_eq!(got, *want, "{kind:?}, channel: {has_channel}");
        }
        // A guest hears of an account only when it is theirs or shares a channel with them.
        for kind in [K::UserCreated, K::UserUpdated] {
            let e = Event {
                position: 1,
                kind,
                channel_id: None,
                user_id: Some(CONCERNED),
                actor_id: None,
                message_id: None,
                extra: None,
                created_at: Millis(0),
            };
            assert_eq!(e.audience(), Audience::People(CONCERNED));
            let guest = Actor::new(OTHER, RoleSet::GUEST);
            assert!(!e.reaches(&guest, |_| true, |_| false));
            assert!(e.reaches(&guest, |_| false, |u| u == CONCERNED));
            let concerned = Actor::new(CONCERNED, RoleSet::GUEST);
            assert!(e.reaches(&concerned, |_| false, |_| false));
        }
        let anonymous = Event {
            position: 1,
            kind: K::ChannelUpdated,
            channel_id: None,
            user_id: None,
            actor_id: None,
            message_id: None,
            extra: None,
            created_at: Millis(0),
        };
        assert_eq!(anonymous.audience(), Audience::Everyone);
    }
}
