//! The one table of error codes. Every failure a client can see has a stable `code`, an HTTP
//! status and a human message; the WebSocket and XMPP doors report the same codes.
//!
//! Unexpected failures are logged with their details and reach the client as `internal`, with
//! no details.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use enclave_app::Error as AppError;
use enclave_core::{Entity, Error as DomainError};
use serde::Serialize;
use utoipa::ToSchema;

macro_rules! error_codes {
    ($($variant:ident = $code:literal, $status:ident, $doc:literal;)*) => {
        /// Every error code the API returns.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode {
            $(#[doc = $doc] $variant,)*
        }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The stable wire name.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code,)* }
            }

            pub fn status(self) -> StatusCode {
                match self { $(ErrorCode::$variant => StatusCode::$status,)* }
            }

            /// What the code means, for documentation.
            pub fn description(self) -> &'static str {
                match self { $(ErrorCode::$variant => $doc,)* }
            }
        }
    };
}

error_codes! {
    BadJson = "bad_json", BAD_REQUEST, "The body is not valid JSON or does not have the expected shape.";
    BadRequest = "bad_request", BAD_REQUEST, "A path or query parameter is malformed.";
    InvalidField = "invalid_field", BAD_REQUEST, "A field's value is not acceptable; `field` names it.";
    UnsupportedMediaType = "unsupported_media_type", UNSUPPORTED_MEDIA_TYPE, "The body must be `application/json`.";
    PayloadTooLarge = "payload_too_large", PAYLOAD_TOO_LARGE, "The body is larger than the limit.";
    Unauthenticated = "unauthenticated", UNAUTHORIZED, "No valid session or token was presented.";
    CsrfFailed = "csrf_failed", FORBIDDEN, "A cookie-authenticated change came without a matching Origin.";
    Forbidden = "forbidden", FORBIDDEN, "The request is understood but not allowed for this user.";
    NotFound = "not_found", NOT_FOUND, "No such route.";
    UserNotFound = "user_not_found", NOT_FOUND, "No such user.";
    ChannelNotFound = "channel_not_found", NOT_FOUND, "No such channel, or not one this user may see.";
    MessageNotFound = "message_not_found", NOT_FOUND, "No such message, or not one this user may see.";
    MemberNotFound = "member_not_found", NOT_FOUND, "The user is not a member of the channel.";
    TokenNotFound = "token_not_found", NOT_FOUND, "No such session or token.";
    FileNotFound = "file_not_found", NOT_FOUND, "No such file, or not one this user may read.";
    FileTooLarge = "file_too_large", PAYLOAD_TOO_LARGE, "The file is larger than the per-file limit.";
    QuotaExceeded = "quota_exceeded", PAYLOAD_TOO_LARGE, "The upload would take the user past their storage quota.";
    ImageTooLarge = "image_too_large", UNPROCESSABLE_ENTITY, "The image has more pixels than allowed (a decompression bomb is refused before decoding).";
    MethodNotAllowed = "method_not_allowed", METHOD_NOT_ALLOWED, "The route does not accept this method.";
    Conflict = "conflict", CONFLICT, "The request conflicts with the current state (for example, a taken name).";
    ChannelArchived = "channel_archived", CONFLICT, "The channel is archived and read-only.";
    LimitExceeded = "limit_exceeded", UNPROCESSABLE_ENTITY, "A quantity limit was reached.";
    RateLimited = "rate_limited", TOO_MANY_REQUESTS, "Too many attempts; `Retry-After` says when to try again.";
    BadFrame = "bad_frame", BAD_REQUEST, "A WebSocket frame could not be read; the connection stays open.";
    ResyncRequired = "resync_required", GONE, "The position is too old to replay; fetch state afresh.";
    Internal = "internal", INTERNAL_SERVER_ERROR, "The server failed; the details are in its log.";
    Unavailable = "unavailable", SERVICE_UNAVAILABLE, "The server is shutting down or its database is unreachable.";
}

/// The error body: `{"error": {"code", "message", "field"?}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable code from the error table.
    pub code: String,
    /// A human-readable explanation.
    pub message: String,
    /// The offending field, for `invalid_field`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub field: Option<&'static str>,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        let message = e.to_string();
        match e {
            DomainError::NotFound(entity) => ApiError::new(
                match entity {
                    Entity::User => ErrorCode::UserNotFound,
                    Entity::Channel => ErrorCode::ChannelNotFound,
                    Entity::Message | Entity::Reaction => ErrorCode::MessageNotFound,
                    Entity::Member => ErrorCode::MemberNotFound,
                    Entity::Token => ErrorCode::TokenNotFound,
                    Entity::File => ErrorCode::FileNotFound,
                },
                message,
            ),
            DomainError::Forbidden(_) => ApiError::new(ErrorCode::Forbidden, message),
            DomainError::Conflict(_) => ApiError::new(ErrorCode::Conflict, message),
            DomainError::Archived => ApiError::new(ErrorCode::ChannelArchived, message),
            DomainError::Invalid { field, .. } => ApiError {
                field: Some(field),
                ..ApiError::new(ErrorCode::InvalidField, message)
            },
            DomainError::Unauthenticated => ApiError::new(ErrorCode::Unauthenticated, message),
            DomainError::RateLimited { retry_after_secs } => ApiError {
                retry_after: Some(retry_after_secs),
                ..ApiError::new(ErrorCode::RateLimited, message)
            },
            DomainError::LimitExceeded(_) => ApiError::new(ErrorCode::LimitExceeded, message),
            DomainError::ResyncRequired => ApiError::new(ErrorCode::ResyncRequired, message),
            DomainError::FileTooLarge { .. } => ApiError::new(ErrorCode::FileTooLarge, message),
            DomainError::QuotaExceeded { .. } => ApiError::new(ErrorCode::QuotaExceeded, message),
            DomainError::ImageRefused(_) => ApiError::new(ErrorCode::ImageTooLarge, message),
        }
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Domain(d) => d.into(),
            AppError::Internal(inner) => {
                tracing::error!(error = %inner, "request failed");
                ApiError::new(ErrorCode::Internal, "internal server error")
            }
            AppError::Unavailable => {
                ApiError::new(ErrorCode::Unavailable, "the server is shutting down")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.as_str().to_owned(),
                message: self.message,
                field: self.field.map(str::to_owned),
            },
        };
        let mut resp = (self.code.status(), Json(body)).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_errors_are_4xx_or_5xx() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.as_str()), "duplicate code {}", c.as_str());
            assert!(c.status().is_client_error() || c.status().is_server_error());
        }
    }

    #[test]
    fn domain_errors_map_to_statuses() {
        let cases = [
            (
                DomainError::NotFound(Entity::Channel),
                404,
                "channel_not_found",
            ),
            (DomainError::Forbidden("x"), 403, "forbidden"),
            (DomainError::Archived, 409, "channel_archived"),
            (
                DomainError::invalid("text", "too long"),
                400,
                "invalid_field",
            ),
            (DomainError::Unauthenticated, 401, "unauthenticated"),
            (
                DomainError::RateLimited {
                    retry_after_secs: 5,
                },
                429,
                "rate_limited",
            ),
        ];
        for (e, status, code) in cases {
            let api = ApiError::from(e);
            assert_eq!(api.code.status().as_u16(), status);
            assert_eq!(api.code.as_str(), code);
        }
    }
}
