//! The one table of error codes. Every failure a client can see, through any door, has a stable
//! [`ErrorCode`]: its wire name, what it means, and whether the same request may succeed if sent
//! again later unchanged. Doors translate a code into their own terms with an exhaustive `match`
//! (the HTTP door into a status, `enclave_http::error::http_status`; the XMPP door will map it
//! to a stanza error condition the same way), so a new code cannot be forgotten by any door.
//!
//! [`Error::code`] and [`domain_code`] decide which code an application error reports.

use enclave_core::{Entity, Error as DomainError};

use crate::error::Error;

/// Every error code a door reports. Adding one: a row in [`ErrorCode::info`], an entry at the
/// end of [`ErrorCode::ALL`], and an arm in each door's mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    BadJson,
    BadRequest,
    InvalidField,
    UnsupportedMediaType,
    PayloadTooLarge,
    Unauthenticated,
    CsrfFailed,
    Forbidden,
    NotFound,
    UserNotFound,
    ChannelNotFound,
    MessageNotFound,
    MemberNotFound,
    TokenNotFound,
    FileNotFound,
    FileTooLarge,
    QuotaExceeded,
    ImageTooLarge,
    MethodNotAllowed,
    Conflict,
    ChannelArchived,
    LimitExceeded,
    RateLimited,
    BadFrame,
    ResyncRequired,
    Internal,
    Unavailable,
    RoleNotFound,
    DepartmentNotFound,
    PasswordLoginDisabled,
    SsoFailed,
    SsoProviderUnavailable,
    ProviderNotFound,
    DirectoryUnavailable,
    WebauthnInvalid,
    WebauthnRefused,
    WebauthnNotFound,
    TotpUnreadable,
    HoldNotFound,
    WebhookNotFound,
    CommandNotFound,
    CommandFailed,
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeInfo {
    /// The stable wire name.
    pub code: &'static str,
    /// Whether the same request may succeed if repeated later, unchanged.
    pub retryable: bool,
    /// What the code means, for documentation.
    pub meaning: &'static str,
}

const fn row(code: &'static str, retryable: bool, meaning: &'static str) -> CodeInfo {
    CodeInfo {
        code,
        retryable,
        meaning,
    }
}

impl ErrorCode {
    /// Every code, in declaration order.
    pub const ALL: [ErrorCode; 42] = [
        ErrorCode::BadJson,
        ErrorCode::BadRequest,
        ErrorCode::InvalidField,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::PayloadTooLarge,
        ErrorCode::Unauthenticated,
        ErrorCode::CsrfFailed,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::UserNotFound,
        ErrorCode::ChannelNotFound,
        ErrorCode::MessageNotFound,
        ErrorCode::MemberNotFound,
        ErrorCode::TokenNotFound,
        ErrorCode::FileNotFound,
        ErrorCode::FileTooLarge,
        ErrorCode::QuotaExceeded,
        ErrorCode::ImageTooLarge,
        ErrorCode::MethodNotAllowed,
        ErrorCode::Conflict,
        ErrorCode::ChannelArchived,
        ErrorCode::LimitExceeded,
        ErrorCode::RateLimited,
        ErrorCode::BadFrame,
        ErrorCode::ResyncRequired,
        ErrorCode::Internal,
        ErrorCode::Unavailable,
        ErrorCode::RoleNotFound,
        ErrorCode::DepartmentNotFound,
        ErrorCode::PasswordLoginDisabled,
        ErrorCode::SsoFailed,
        ErrorCode::SsoProviderUnavailable,
        ErrorCode::ProviderNotFound,
        ErrorCode::DirectoryUnavailable,
        ErrorCode::WebauthnInvalid,
        ErrorCode::WebauthnRefused,
        ErrorCode::WebauthnNotFound,
        ErrorCode::TotpUnreadable,
        ErrorCode::HoldNotFound,
        ErrorCode::WebhookNotFound,
        ErrorCode::CommandNotFound,
        ErrorCode::CommandFailed,
    ];

    /// The table: code, retryable, meaning.
    pub const fn info(self) -> CodeInfo {
        match self {
            ErrorCode::BadJson => row(
                "bad_json",
                false,
                "The body is not valid JSON or does not have the expected shape.",
            ),
            ErrorCode::BadRequest => row(
                "bad_request",
                false,
                "A path or query parameter is malformed.",
            ),
            ErrorCode::InvalidField => row(
                "invalid_field",
                false,
                "A field's value is not acceptable; `field` names it.",
            ),
            ErrorCode::UnsupportedMediaType => row(
                "unsupported_media_type",
                false,
                "The body must be `application/json`.",
            ),
            ErrorCode::PayloadTooLarge => row(
                "payload_too_large",
                false,
                "The body is larger than the limit.",
            ),
            ErrorCode::Unauthenticated => row(
                "unauthenticated",
                false,
                "No valid session or token was presented.",
            ),
            ErrorCode::CsrfFailed => row(
                "csrf_failed",
                false,
                "A cookie-authenticated change came without a matching Origin.",
            ),
            ErrorCode::Forbidden => row(
                "forbidden",
                false,
                "The request is understood but not allowed for this user.",
            ),
            ErrorCode::NotFound => row("not_found", false, "No such route."),
            ErrorCode::DepartmentNotFound => {
                row("department_not_found", false, "No such department.")
            }
            ErrorCode::PasswordLoginDisabled => row(
                "password_login_disabled",
                false,
                "Password sign-in is off on this server (`[auth] local_passwords = false`): sign in through single sign-on. Only system administrators keep their password.",
            ),
            ErrorCode::SsoFailed => row(
                "sso_failed",
                false,
                "Single sign-on failed: the provider's answer did not pass a check (state, code, ID token signature, issuer, audience, expiry, nonce), the one-time code is unknown or used, or the account may not sign in this way.",
            ),
            ErrorCode::SsoProviderUnavailable => row(
                "sso_provider_unavailable",
                true,
                "The single sign-on provider could not be reached or answered with an error.",
            ),
            ErrorCode::UserNotFound => row("user_not_found", false, "No such user."),
            ErrorCode::ChannelNotFound => row(
                "channel_not_found",
                false,
                "No such channel, or not one this user may see.",
            ),
            ErrorCode::MessageNotFound => row(
                "message_not_found",
                false,
                "No such message, or not one this user may see.",
            ),
            ErrorCode::MemberNotFound => row(
                "member_not_found",
                false,
                "The user is not a member of the channel.",
            ),
            ErrorCode::TokenNotFound => row("token_not_found", false, "No such session or token."),
            ErrorCode::FileNotFound => row(
                "file_not_found",
                false,
                "No such file, or not one this user may read.",
            ),
            ErrorCode::RoleNotFound => row("role_not_found", false, "No such custom role."),
            ErrorCode::FileTooLarge => row(
                "file_too_large",
                false,
                "The file is larger than the per-file limit.",
            ),
            ErrorCode::QuotaExceeded => row(
                "quota_exceeded",
                false,
                "The upload would take the user past their storage quota.",
            ),
            ErrorCode::ImageTooLarge => row(
                "image_too_large",
                false,
                "The image has more pixels than allowed (a decompression bomb is refused before decoding).",
            ),
            ErrorCode::MethodNotAllowed => row(
                "method_not_allowed",
                false,
                "The route does not accept this method.",
            ),
            ErrorCode::Conflict => row(
                "conflict",
                false,
                "The request conflicts with the current state (for example, a taken name).",
            ),
            ErrorCode::ChannelArchived => row(
                "channel_archived",
                false,
                "The channel is archived and read-only.",
            ),
            ErrorCode::LimitExceeded => {
                row("limit_exceeded", false, "A quantity limit was reached.")
            }
            ErrorCode::RateLimited => row(
                "rate_limited",
                true,
                "Too many attempts or requests (a per-user rate limit); `Retry-After` (on the WebSocket, `retry_after_secs`) says how many seconds to wait.",
            ),
            ErrorCode::BadFrame => row(
                "bad_frame",
                false,
                "A WebSocket frame could not be read; the connection stays open.",
            ),
            ErrorCode::ResyncRequired => row(
                "resync_required",
                false,
                "The position is too old to replay; fetch state afresh.",
            ),
            ErrorCode::Internal => row(
                "internal",
                true,
                "The server failed; the details are in its log.",
            ),
            ErrorCode::Unavailable => row(
                "unavailable",
                true,
                "The server is shutting down or its database is unreachable.",
            ),
            ErrorCode::HoldNotFound => row("hold_not_found", false, "No legal hold has this id."),
            ErrorCode::WebhookNotFound => row(
                "webhook_not_found",
                false,
                "No outgoing webhook of yours has this id (another's is not found either).",
            ),
            ErrorCode::CommandNotFound => row(
                "command_not_found",
                false,
                "No slash command has this name (built-in or custom), or no custom command has this id.",
            ),
            ErrorCode::CommandFailed => row(
                "command_failed",
                true,
                "A custom slash command's service did not answer within 3 seconds, could not be reached, or answered an error; nothing was posted.",
            ),
            ErrorCode::ProviderNotFound => row(
                "provider_not_found",
                false,
                "No identity provider (single sign-on or directory) has this id.",
            ),
            ErrorCode::DirectoryUnavailable => row(
                "directory_unavailable",
                true,
                "The directory (LDAP / Active Directory) could not be reached or failed; nothing was decided about the sign-in.",
            ),
            ErrorCode::WebauthnInvalid => row(
                "webauthn_invalid",
                false,
                "The WebAuthn credential is malformed: not the browser's `PublicKeyCredential` as JSON with its binary fields in base64url. Nothing changed.",
            ),
            ErrorCode::WebauthnRefused => row(
                "webauthn_refused",
                false,
                "The security key's answer failed a check (challenge, relying-party id, origin, signature, signature counter, or an unknown key): a forged or replayed answer, or one made for another site. Nothing changed.",
            ),
            ErrorCode::WebauthnNotFound => row(
                "webauthn_not_found",
                false,
                "No such security key or registration of this account (unknown, expired, or another account's).",
            ),
            ErrorCode::TotpUnreadable => row(
                "totp_unreadable",
                false,
                "The account's authenticator app cannot be checked: its secret is sealed under a master key this server no longer has (`[files] previous_keys`). Use a recovery code or a security key, or ask an administrator to reset the second factor. Nothing changed.",
            ),
        }
    }

    /// The stable wire name.
    pub const fn as_str(self) -> &'static str {
        self.info().code
    }

    /// What the code means, for documentation.
    pub const fn meaning(self) -> &'static str {
        self.info().meaning
    }

    /// Whether the same request may succeed if repeated later, unchanged.
    pub const fn retryable(self) -> bool {
        self.info().retryable
    }

    /// The code with this wire name.
    pub fn parse(s: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The code a domain refusal reports.
pub fn domain_code(e: &DomainError) -> ErrorCode {
    match e {
        DomainError::NotFound(entity) => match entity {
            Entity::User => ErrorCode::UserNotFound,
            Entity::Channel => ErrorCode::ChannelNotFound,
            Entity::Message | Entity::Reaction => ErrorCode::MessageNotFound,
            Entity::Member => ErrorCode::MemberNotFound,
            Entity::Token => ErrorCode::TokenNotFound,
            Entity::File => ErrorCode::FileNotFound,
            Entity::Role => ErrorCode::RoleNotFound,
            Entity::Department => ErrorCode::DepartmentNotFound,
            Entity::Provider => ErrorCode::ProviderNotFound,
            Entity::LegalHold => ErrorCode::HoldNotFound,
            Entity::Webhook => ErrorCode::WebhookNotFound,
            Entity::Command => ErrorCode::CommandNotFound,
        },
        DomainError::Forbidden(_) => ErrorCode::Forbidden,
        DomainError::Conflict(_) => ErrorCode::Conflict,
        DomainError::Archived => ErrorCode::ChannelArchived,
        DomainError::Invalid { .. } => ErrorCode::InvalidField,
        DomainError::Unauthenticated => ErrorCode::Unauthenticated,
        DomainError::RateLimited { .. } => ErrorCode::RateLimited,
        DomainError::LimitExceeded(_) => ErrorCode::LimitExceeded,
        DomainError::ResyncRequired => ErrorCode::ResyncRequired,
        DomainError::FileTooLarge { .. } => ErrorCode::FileTooLarge,
        DomainError::QuotaExceeded { .. } => ErrorCode::QuotaExceeded,
        DomainError::ImageRefused(_) => ErrorCode::ImageTooLarge,
        DomainError::DirectoryUnavailable => ErrorCode::DirectoryUnavailable,
    }
}

impl Error {
    /// The code this error reports to clients.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Domain(d) => domain_code(d),
            Error::Internal(_) => ErrorCode::Internal,
            Error::Unavailable => ErrorCode::Unavailable,
            Error::Refused { code, .. } => *code,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_all_is_complete() {
        let mut seen = std::collections::HashSet::new();
        for (i, c) in ErrorCode::ALL.iter().enumerate() {
            // `ALL` lists the variants in declaration order, so a variant missing from it
            // shifts every later index.
            assert_eq!(*c as usize, i, "{c:?} is out of place in ErrorCode::ALL");
            assert!(seen.insert(c.as_str()), "duplicate code {c}");
            assert!(
                c.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{c} is not snake_case"
            );
            assert!(!c.meaning().is_empty());
            assert_eq!(ErrorCode::parse(c.as_str()), Some(*c));
        }
    }

    #[test]
    fn only_transient_failures_are_retryable() {
        let retryable: Vec<&str> = ErrorCode::ALL
            .iter()
            .filter(|c| c.retryable())
            .map(|c| c.as_str())
            .collect();
        assert_eq!(
            retryable,
            [
                "rate_limited",
                "internal",
                "unavailable",
                "sso_provider_unavailable",
                "directory_unavailable",
                "command_failed"
            ]
        );
    }

    #[test]
    fn errors_report_their_codes() {
        let cases = [
            (
                Error::Domain(DomainError::NotFound(Entity::Channel)),
                "channel_not_found",
            ),
            (
                Error::Domain(DomainError::NotFound(Entity::Reaction)),
                "message_not_found",
            ),
            (Error::Domain(DomainError::Forbidden("x")), "forbidden"),
            (Error::Domain(DomainError::Archived), "channel_archived"),
            (
                Error::Domain(DomainError::invalid("text", "too long")),
                "invalid_field",
            ),
            (
                Error::Domain(DomainError::Unauthenticated),
                "unauthenticated",
            ),
            (
                Error::Domain(DomainError::RateLimited {
                    retry_after_secs: 5,
                }),
                "rate_limited",
            ),
            (
                Error::Domain(DomainError::ImageRefused("too many pixels")),
                "image_too_large",
            ),
            (Error::internal("disk on fire"), "internal"),
            (Error::Unavailable, "unavailable"),
        ];
        for (e, code) in cases {
            assert_eq!(e.code().as_str(), code, "{e:?}");
        }
    }
}
