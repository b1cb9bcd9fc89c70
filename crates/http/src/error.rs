//! The HTTP door's side of the error-code table: the status each [`ErrorCode`] answers with
//! ([`http_status`]), the error body, and [`ApiError`], an error on its way to the client. The
//! table itself (codes, meanings, retryability) is `enclave_app::ErrorCode`; the WebSocket
//! gateway reports the same codes in its `error` frames.
//!
//! Unexpected failures are logged with their details and reach the client as `internal`, with
//! no details.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use enclave_app::Error as AppError;
pub use enclave_app::ErrorCode;
use enclave_core::Error as DomainError;
use serde::Serialize;
use ts_rs::TS;
use utoipa::ToSchema;

/// The HTTP status a code answers with. No wildcard arm: a new code must be given its status
/// here (the XMPP door maps codes to stanza error conditions the same way).
pub const fn http_status(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::BadJson
        | ErrorCode::BadRequest
        | ErrorCode::InvalidField
        | ErrorCode::BadFrame => StatusCode::BAD_REQUEST,
        ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorCode::PayloadTooLarge | ErrorCode::FileTooLarge | ErrorCode::QuotaExceeded => {
            StatusCode::PAYLOAD_TOO_LARGE
        }
        ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorCode::CsrfFailed | ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::NotFound
        | ErrorCode::UserNotFound
        | ErrorCode::ChannelNotFound
        | ErrorCode::MessageNotFound
        | ErrorCode::MemberNotFound
        | ErrorCode::TokenNotFound
        | ErrorCode::FileNotFound
        | ErrorCode::RoleNotFound
        | ErrorCode::DepartmentNotFound
        | ErrorCode::ProviderNotFound
        | ErrorCode::HoldNotFound
        | ErrorCode::WebhookNotFound
        | ErrorCode::CommandNotFound
        | ErrorCode::WebauthnNotFound => StatusCode::NOT_FOUND,
        ErrorCode::ImageTooLarge | ErrorCode::LimitExceeded => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::Conflict | ErrorCode::ChannelArchived => StatusCode::CONFLICT,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::ResyncRequired => StatusCode::GONE,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::Unavailable | ErrorCode::DirectoryUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        // Not transient: retrying cannot help until an administrator adds the key or resets.
        ErrorCode::TotpUnreadable => StatusCode::CONFLICT,
        ErrorCode::PasswordLoginDisabled => StatusCode::FORBIDDEN,
        ErrorCode::SsoFailed => StatusCode::UNAUTHORIZED,
        ErrorCode::SsoProviderUnavailable | ErrorCode::CommandFailed => StatusCode::BAD_GATEWAY,
        ErrorCode::WebauthnInvalid => StatusCode::BAD_REQUEST,
        ErrorCode::WebauthnRefused => StatusCode::UNAUTHORIZED,
    }
}

/// The error body: `{"error": {"code", "message", "field"?}}`.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct ErrorDetail {
    /// A stable code from the error table.
    #[ts(type = "ErrorCode")]
    pub code: String,
    /// A human-readable explanation.
    pub message: String,
    /// The offending field, for `invalid_field`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
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
        let mut api = ApiError::new(enclave_app::domain_code(&e), e.to_string());
        match e {
            DomainError::Invalid { field, .. } => api.field = Some(field),
            DomainError::RateLimited { retry_after_secs } => {
                api.retry_after = Some(retry_after_secs);
            }
            _ => {}
        }
        api
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        let code = e.code();
        match e {
            AppError::Domain(d) => d.into(),
            AppError::Internal(inner) => {
                tracing::error!(error = %inner, "request failed");
                ApiError::new(code, "internal server error")
            }
            AppError::Unavailable => ApiError::new(code, "the server is shutting down"),
            AppError::Refused { message, .. } => ApiError::new(code, message),
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
        let mut resp = (http_status(self.code), Json(body)).into_response();
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
    use enclave_core::Entity;

    #[test]
    fn every_code_is_4xx_or_5xx_and_retryable_ones_are_transient() {
        for c in ErrorCode::ALL {
            let status = http_status(c);
            assert!(status.is_client_error() || status.is_server_error(), "{c}");
            // A client may repeat a request unchanged on these statuses (the web client's
            // `isTransient`), so exactly the retryable codes answer with them.
            let transient = status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS;
            assert_eq!(c.retryable(), transient, "{c}");
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
            assert_eq!(http_status(api.code).as_u16(), status);
            assert_eq!(api.code.as_str(), code);
        }
    }
}
