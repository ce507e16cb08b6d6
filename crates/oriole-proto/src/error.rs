//! Error codes shared by the REST API, WebSocket error frames and the CLI.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A machine-readable error code. The CLI prints it as `error: <code>: <message>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// A field failed validation (bad username, phone, email, empty text, ...).
    InvalidInput,
    /// The request body or frame is not valid JSON of the expected shape.
    MalformedFrame,
    /// The frame's `type` is not one the server knows.
    UnknownFrame,
    /// The client asked for a protocol version the server does not speak.
    UnsupportedProtocol,
    /// Missing, unknown, expired or revoked token; or wrong credentials.
    Unauthorized,
    /// Authenticated, but not allowed to do this.
    Forbidden,
    /// The user, group, message or device does not exist (or is not visible).
    NotFound,
    /// Conflicts with existing state (username taken, already a member).
    Conflict,
    /// Too many attempts; `retry_after` says when to try again.
    RateLimited,
    /// The message or frame exceeds the configured size limit.
    PayloadTooLarge,
    /// The recall window for this message has passed.
    RecallWindowExpired,
    /// A newer privacy policy must be accepted first.
    ConsentRequired,
    /// Something failed on the server; nothing was committed.
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::MalformedFrame => "malformed_frame",
            ErrorCode::UnknownFrame => "unknown_frame",
            ErrorCode::UnsupportedProtocol => "unsupported_protocol",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::RecallWindowExpired => "recall_window_expired",
            ErrorCode::ConsentRequired => "consent_required",
            ErrorCode::Internal => "internal",
        }
    }

    /// The HTTP status the REST API answers with for this code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidInput
            | ErrorCode::MalformedFrame
            | ErrorCode::UnknownFrame
            | ErrorCode::UnsupportedProtocol => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden | ErrorCode::ConsentRequired => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict | ErrorCode::RecallWindowExpired => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::RateLimited => 429,
            ErrorCode::Internal => 500,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The body of every REST error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Seconds until a retry may succeed (with `rate_limited`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            retry_after: None,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}
