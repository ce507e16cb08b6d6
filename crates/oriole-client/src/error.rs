//! The SDK's one error type: an API refusal, or a failure to reach the API.

use oriole_proto::{ApiError, ErrorCode};

/// Everything a [`Client`](crate::Client) or [`Connection`](crate::Connection)
/// call can fail with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server answered with a structured error (REST body or WebSocket
    /// `error` frame). `code` is the machine-readable reason.
    #[error("{0}")]
    Api(ApiError),
    /// The server could not be reached, or the connection broke mid-request.
    #[error("transport error: {0}")]
    Transport(String),
    /// The WebSocket session ended for good: 4001 when the device was revoked
    /// or logged out, 1000 when closed by this side.
    #[error("connection closed ({code}): {reason}")]
    Closed { code: u16, reason: String },
    /// The server sent something this SDK does not understand.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The TLS handshake with the server failed, most often because its
    /// certificate is not trusted (a private CA or a self-signed
    /// certificate: see [`ClientBuilder::ca_file`](crate::ClientBuilder::ca_file)),
    /// has expired, or names another host.
    #[error("TLS error: {0}")]
    Tls(String),
    /// The server address given to [`Client::new`](crate::Client::new) is unusable.
    #[error("invalid server URL: {0}")]
    InvalidUrl(String),
    /// A CA certificate given to the [`ClientBuilder`](crate::ClientBuilder)
    /// cannot be read or is not a PEM certificate.
    #[error("invalid CA certificate: {0}")]
    InvalidCa(String),
    /// No answer came in time (e.g. a WebSocket send while the server was
    /// unreachable for longer than the request timeout).
    #[error("timed out: {0}")]
    Timeout(String),
}

impl ClientError {
    /// A machine-readable code: the API's code (`not_found`, `unauthorized`,
    /// ...) for [`ClientError::Api`], otherwise `transport`, `tls`, `closed`,
    /// `protocol`, `invalid_input` (bad URL or CA file) or `timeout`.
    pub fn code(&self) -> &str {
        match self {
            ClientError::Api(e) => e.code.as_str(),
            ClientError::Transport(_) => "transport",
            ClientError::Tls(_) => "tls",
            ClientError::Closed { .. } => "closed",
            ClientError::Protocol(_) => "protocol",
            ClientError::InvalidUrl(_) | ClientError::InvalidCa(_) => {
                ErrorCode::InvalidInput.as_str()
            }
            ClientError::Timeout(_) => "timeout",
        }
    }

    /// The human-readable part, without the code.
    pub fn message(&self) -> String {
        match self {
            ClientError::Api(e) => e.message.clone(),
            ClientError::Transport(m)
            | ClientError::Tls(m)
            | ClientError::Protocol(m)
            | ClientError::Timeout(m) => m.clone(),
            ClientError::Closed { code, reason } if reason.is_empty() => {
                format!("connection closed by the server (code {code})")
            }
            ClientError::Closed { code, reason } => {
                format!("connection closed by the server (code {code}): {reason}")
            }
            ClientError::InvalidUrl(m) => format!("invalid server URL: {m}"),
            ClientError::InvalidCa(m) => format!("invalid CA certificate: {m}"),
        }
    }

    /// The API error, when the server refused the request.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            ClientError::Api(e) => Some(e),
            _ => None,
        }
    }

    /// Seconds to wait before retrying, when the server said so.
    pub fn retry_after(&self) -> Option<u64> {
        self.api().and_then(|e| e.retry_after)
    }
}

impl From<ApiError> for ClientError {
    fn from(e: ApiError) -> Self {
        ClientError::Api(e)
    }
}

/// `error`'s message followed by its sources: reqwest and tungstenite put
/// the useful part ("connection refused") in the source chain.
pub(crate) fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A failure to reach the server: [`ClientError::Tls`] when TLS refused the
/// connection (rustls's error sits somewhere in the chain, possibly inside
/// nested `io::Error`s, whose `source` skips it), otherwise
/// [`ClientError::Transport`].
pub(crate) fn transport_error(error: &(dyn std::error::Error + 'static)) -> ClientError {
    let text = describe(error);
    let mut next = Some(error);
    while let Some(e) = next {
        if is_rustls_error(e) {
            return ClientError::Tls(text);
        }
        next = e.source();
    }
    ClientError::Transport(text)
}

fn is_rustls_error(mut error: &(dyn std::error::Error + 'static)) -> bool {
    loop {
        if error.is::<rustls::Error>() {
            return true;
        }
        match error
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => error = inner,
            None => return false,
        }
    }
}

/// The best [`ErrorCode`] for an HTTP status whose body was not an `ApiError`
/// (a proxy in between, or a server fault before the API layer).
pub(crate) fn code_for_status(status: u16) -> ErrorCode {
    match status {
        400 | 422 => ErrorCode::InvalidInput,
        401 => ErrorCode::Unauthorized,
        403 => ErrorCode::Forbidden,
        404 | 405 => ErrorCode::NotFound,
        409 => ErrorCode::Conflict,
        413 => ErrorCode::PayloadTooLarge,
        429 => ErrorCode::RateLimited,
        _ => ErrorCode::Internal,
    }
}

/// Turn an error response (status, `Retry-After` header, body) into a
/// [`ClientError::Api`].
pub(crate) fn api_error_from_response(
    status: u16,
    retry_after_header: Option<u64>,
    body: &[u8],
) -> ClientError {
    let mut error = match serde_json::from_slice::<ApiError>(body) {
        Ok(e) => e,
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            let message = if text.is_empty() {
                format!("HTTP {status}")
            } else {
                let snippet: String = text.chars().take(200).collect();
                format!("HTTP {status}: {snippet}")
            };
            ApiError::new(code_for_status(status), message)
        }
    };
    if error.retry_after.is_none() {
        error.retry_after = retry_after_header;
    }
    ClientError::Api(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        let e = ClientError::Api(ApiError::new(ErrorCode::NotFound, "no such user"));
        assert_eq!(e.code(), "not_found");
        assert_eq!(e.message(), "no such user");
        assert_eq!(e.to_string(), "not_found: no such user");
        let e = ClientError::Closed {
            code: 4001,
            reason: "revoked".into(),
        };
        assert_eq!(e.code(), "closed");
        assert_eq!(ClientError::Transport("x".into()).code(), "transport");
        assert_eq!(ClientError::InvalidUrl("x".into()).code(), "invalid_input");
        assert_eq!(ClientError::InvalidCa("x".into()).code(), "invalid_input");
        assert_eq!(ClientError::Tls("x".into()).code(), "tls");
    }

    #[test]
    fn rustls_errors_anywhere_in_the_chain_are_tls_errors() {
        let rustls_error =
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let wrapped = std::io::Error::new(std::io::ErrorKind::InvalidData, rustls_error.clone());
        assert_eq!(transport_error(&wrapped).code(), "tls");
        // As hyper-util hands it over: an io::Error in an io::Error.
        let twice = std::io::Error::other(wrapped);
        assert_eq!(transport_error(&twice).code(), "tls");
        assert_eq!(transport_error(&rustls_error).code(), "tls");
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(transport_error(&refused).code(), "transport");
    }

    #[test]
    fn error_bodies() {
        let e = api_error_from_response(
            429,
            Some(30),
            br#"{"code":"rate_limited","message":"slow down"}"#,
        );
        assert_eq!(e.code(), "rate_limited");
        assert_eq!(e.retry_after(), Some(30));
        let e = api_error_from_response(502, None, b"<html>bad gateway</html>");
        assert_eq!(e.code(), "internal");
        assert!(e.message().starts_with("HTTP 502"));
        let e = api_error_from_response(404, None, b"");
        assert_eq!(e.code(), "not_found");
    }
}
