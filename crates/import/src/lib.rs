//! Reading other chat systems' exports into one neutral model ([`Dataset`]).
//!
//! `archive` opens a zip file or an unpacked folder under size limits (no `../` names, no
//! links, no zip bombs); `slack` and `mattermost` parse their formats; `markup` turns Slack's
//! markup into segments that the importer renders once it knows the local names; `emoji` maps
//! Slack's emoji names to the characters the web client uses.
//!
//! **Boundary:** no SQL, no HTTP, no writes. What cannot be read becomes a [`Problem`] (a report
//! line) or, for a hostile archive, an [`Error`] that refuses the whole import.

pub mod archive;
pub mod emoji;
pub mod markup;
pub mod mattermost;
pub mod slack;

use std::collections::BTreeMap;

pub use archive::{Archive, Limits};
pub use markup::Segment;

/// Why an export was refused as a whole.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("refused archive: {0}")]
    Refused(String),
    #[error("not a valid zip file: {0}")]
    Zip(String),
    #[error("{file}: {reason}")]
    Format { file: String, reason: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One person of the source system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The source's id (Slack `U123`, Mattermost username).
    pub ext_id: String,
    /// The source's login name (made into a valid local username by the importer).
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub title: String,
    /// Deactivated in the source: stays deactivated.
    pub deactivated: bool,
    pub is_bot: bool,
}

/// What a conversation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConversationKind {
    Public,
    Private,
    Direct,
    Group,
}

impl ConversationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationKind::Public => "public channel",
            ConversationKind::Private => "private channel",
            ConversationKind::Direct => "direct message",
            ConversationKind::Group => "group message",
        }
    }
}

/// A reaction: one emoji (as the web client stores it) and who reacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaction {
    pub emoji: String,
    pub users: Vec<String>,
}

/// One message, in the source's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Unique within the source (Slack: `conversation/ts`).
    pub ext_id: String,
    /// The author's source id.
    pub user: String,
    pub text: Vec<Segment>,
    /// Milliseconds since the epoch.
    pub created_ms: i64,
    /// The source's ordering key (Slack's `ts` in microseconds; Mattermost's `create_at`).
    pub order: i64,
    /// The thread root's `ext_id`, for a reply.
    pub thread_root: Option<String>,
    pub edited_ms: Option<i64>,
    pub pinned: bool,
    pub reactions: Vec<Reaction>,
    /// Names of files the message carried in the source, which the export does not hold.
    pub files: Vec<String>,
}

/// A channel, direct conversation or group conversation, with its messages in order.
#[derive(Debug, Clone, Default)]
pub struct Conversation {
    pub ext_id: String,
    pub kind: Option<ConversationKind>,
    pub name: Option<String>,
    pub topic: String,
    pub purpose: String,
    pub creator: Option<String>,
    pub members: Vec<String>,
    pub archived: bool,
    pub created_ms: i64,
    pub messages: Vec<Message>,
    /// Messages left out while reading, by reason.
    pub skipped: BTreeMap<String, u64>,
}

impl Conversation {
    pub fn kind(&self) -> ConversationKind {
        self.kind.unwrap_or(ConversationKind::Public)
    }

    /// A name for reports.
    pub fn label(&self) -> String {
        match &self.name {
            Some(n) => format!("#{n}"),
            None => format!("{} {}", self.kind().as_str(), self.ext_id),
        }
    }

    pub(crate) fn skip(&mut self, reason: impl Into<String>) {
        *self.skipped.entry(reason.into()).or_default() += 1;
    }
}

/// A report line about the export itself (a file that could not be read, and so on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub place: String,
    pub what: String,
}

/// Everything read from one export.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    /// `slack` or `mattermost`: the namespace of the external ids.
    pub source: String,
    pub users: Vec<User>,
    pub conversations: Vec<Conversation>,
    pub problems: Vec<Problem>,
}

impl Dataset {
    pub(crate) fn problem(&mut self, place: impl Into<String>, what: impl Into<String>) {
        self.problems.push(Problem {
            place: place.into(),
            what: what.into(),
        });
    }

    pub fn message_count(&self) -> u64 {
        self.conversations
            .iter()
            .map(|c| c.messages.len() as u64)
            .sum()
    }
}
