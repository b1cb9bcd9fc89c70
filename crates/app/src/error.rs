//! The application's error: a domain refusal, or an unexpected failure below.

use std::sync::Arc;

/// A failed use-case.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// Refused by a domain rule; safe to show to the user.
    #[error(transparent)]
    Domain(#[from] enclave_core::Error),
    /// Something broke (database, hashing); details are logged, not shown.
    #[error("internal error: {0}")]
    Internal(Arc<dyn std::error::Error + Send + Sync>),
    /// The server is shutting down.
    #[error("service unavailable")]
    Unavailable,
    /// Refused for a reason with a code of its own that is not a domain rule (single sign-on:
    /// a provider's answer failed a check, password sign-in is off); safe to show.
    #[error("{message}")]
    Refused {
        code: crate::ErrorCode,
        message: &'static str,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<enclave_store::Error> for Error {
    fn from(e: enclave_store::Error) -> Self {
        match e {
            enclave_store::Error::Domain(d) => Error::Domain(d),
            enclave_store::Error::Backend(b) => Error::Internal(b),
            enclave_store::Error::Closed => Error::Unavailable,
        }
    }
}

impl Error {
    pub(crate) fn refused(code: crate::ErrorCode, message: &'static str) -> Self {
        Error::Refused { code, message }
    }

    pub(crate) fn internal(msg: impl Into<String>) -> Self {
        Error::Internal(Arc::new(std::io::Error::other(msg.into())))
    }
}
