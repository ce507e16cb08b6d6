//! The services' error type: a code from the wire contract, a message safe
//! to show the caller, and for throttling the seconds to wait.

use oriole_proto::{ApiError, ErrorCode};

use crate::domain::{BodyError, InvalidValue};
use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ServiceError {
    pub code: ErrorCode,
    pub message: String,
    pub retry_after: Option<u64>,
}

pub type ServiceResult<T> = Result<T, ServiceError>;

impl ServiceError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ServiceError {
            code,
            message: message.into(),
            retry_after: None,
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }
    pub fn rate_limited(retry_after: u64) -> Self {
        ServiceError {
            code: ErrorCode::RateLimited,
            message: format!("too many attempts; retry in {retry_after} s"),
            retry_after: Some(retry_after),
        }
    }
    pub fn to_api(&self) -> ApiError {
        ApiError {
            code: self.code,
            message: self.message.clone(),
            retry_after: self.retry_after,
        }
    }
}

impl From<InvalidValue> for ServiceError {
    fn from(e: InvalidValue) -> Self {
        ServiceError::invalid(e.0)
    }
}

impl From<BodyError> for ServiceError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::Invalid(v) => v.into(),
            BodyError::TooLarge { .. } => {
                ServiceError::new(ErrorCode::PayloadTooLarge, e.to_string())
            }
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => ServiceError::new(ErrorCode::Conflict, m),
            StoreError::NotFound(m) => ServiceError::not_found(m),
            StoreError::Backend(m) => {
                // The cause goes to the log, not to the client.
                tracing::error!(error = %m, "storage failure");
                ServiceError::new(ErrorCode::Internal, "internal error; nothing was committed")
            }
        }
    }
}
