//! The one place where a failure becomes an HTTP response, and the error
//! `launch_with_listener` returns.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use oriole_core::ServiceError;
use oriole_proto::{ApiError, ErrorCode};

/// A REST failure: the status comes from [`ErrorCode::http_status`], the
/// body is an [`ApiError`], and `rate_limited` adds a `Retry-After` header.
/// Handlers return `Result<_, HttpError>` and never build error replies
/// themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError(pub ApiError);

pub type ApiResult<T> = Result<T, HttpError>;

impl HttpError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        HttpError(ApiError::new(code, message))
    }

    pub fn code(&self) -> ErrorCode {
        self.0.code
    }
}

impl From<ServiceError> for HttpError {
    fn from(e: ServiceError) -> Self {
        HttpError(e.to_api())
    }
}

impl From<ApiError> for HttpError {
    fn from(e: ApiError) -> Self {
        HttpError(e)
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            // The code only: messages may carry details that are not ours to log.
            tracing::warn!(code = %self.0.code, "request failed");
        }
        let retry_after = self.0.retry_after;
        let mut response = (status, Json(self.0)).into_response();
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// Why the server could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Settings(#[from] crate::settings::SettingsError),
    #[error("listener: {0}")]
    Listener(std::io::Error),
    #[error("serving: {0}")]
    Serve(std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rate_limited_sets_retry_after() {
        let response = HttpError::from(ServiceError::rate_limited(42)).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            response.headers().get(header::RETRY_AFTER),
            Some(&HeaderValue::from(42u64))
        );
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .expect("body");
        let api: ApiError = serde_json::from_slice(&body).expect("json");
        assert_eq!(api.code, ErrorCode::RateLimited);
        assert_eq!(api.retry_after, Some(42));
    }

    #[test]
    fn status_comes_from_the_code() {
        for code in [
            ErrorCode::InvalidInput,
            ErrorCode::Unauthorized,
            ErrorCode::NotFound,
            ErrorCode::Conflict,
            ErrorCode::PayloadTooLarge,
            ErrorCode::Internal,
        ] {
            let response = HttpError::new(code, "x").into_response();
            assert_eq!(response.status().as_u16(), code.http_status());
        }
    }
}
