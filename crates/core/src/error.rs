//! Domain failures. The application layer gives each variant a code from its one error-code
//! table (`enclave_app::ErrorCode`); doors map codes to their own terms (HTTP status, XMPP
//! condition).

/// The kind of thing that was not found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    User,
    Channel,
    Message,
    Member,
    Token,
    Reaction,
    File,
    Role,
    Department,
    /// A configured identity provider (LDAP).
    Provider,
    /// A legal hold (`retention`).
    LegalHold,
    /// An outgoing webhook.
    Webhook,
    /// A slash command (an unknown name, or a custom command's id).
    Command,
}

impl std::fmt::Display for Entity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Entity::User => "user",
            Entity::Channel => "channel",
            Entity::Message => "message",
            Entity::Member => "member",
            Entity::Token => "token",
            Entity::Reaction => "reaction",
            Entity::File => "file",
            Entity::Role => "role",
            Entity::Department => "department",
            Entity::Provider => "identity provider",
            Entity::LegalHold => "legal hold",
            Entity::Webhook => "webhook",
            Entity::Command => "command",
        })
    }
}

/// What went wrong, in domain terms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The thing does not exist, or the actor may not know that it exists.
    #[error("{0} not found")]
    NotFound(Entity),
    /// The actor can see the thing but may not do this to it.
    #[error("not allowed: {0}")]
    Forbidden(&'static str),
    /// The request conflicts with the current state (a taken name, an archived channel).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The channel is archived: read-only until unarchived.
    #[error("channel is archived")]
    Archived,
    /// An input is malformed or out of range.
    #[error("invalid {field}: {reason}")]
    Invalid {
        field: &'static str,
        reason: &'static str,
    },
    /// No valid credentials were presented.
    #[error("authentication required")]
    Unauthenticated,
    /// Too many attempts (logins) or actions (posts, reactions, uploads, searches, other
    /// writes: the per-user rate limits); try again after the given number of seconds.
    #[error("too many requests, retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// A stream position is too old (pruned) or unknown: replay is impossible, and the client
    /// must fetch state afresh.
    #[error("position too old to replay; fetch state afresh")]
    ResyncRequired,
    /// A configured quantity limit was reached (members in a group DM, reactions on a message).
    #[error("limit reached: {0}")]
    LimitExceeded(&'static str),
    /// An uploaded file is larger than the per-file limit.
    #[error("file is larger than the {limit}-byte limit")]
    FileTooLarge { limit: u64 },
    /// The upload would take the user past their storage quota.
    #[error("storage quota of {quota} bytes would be exceeded")]
    QuotaExceeded { quota: u64 },
    /// An image declares more pixels than allowed (or cannot be decoded within the limits).
    #[error("image refused: {0}")]
    ImageRefused(&'static str),
    /// The directory (LDAP / Active Directory) could not be reached or answered with an error;
    /// nothing was decided about the credential.
    #[error("the directory is unavailable")]
    DirectoryUnavailable,
}

impl Error {
    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(field: &'static str, reason: &'static str) -> Self {
        Error::Invalid { field, reason }
    }
}
