//! The one error the client commands report: a machine-readable code and a
//! message, printed as the single stderr line `error: <code>: <message>`.

use oriole_client::ClientError;
use oriole_proto::{close_code, ApiError, ErrorCode};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    /// The API's error code where there is one (`not_found`, `unauthorized`,
    /// ...), else a short local one (`transport`, `io`).
    pub code: String,
    pub message: String,
}

impl CliError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> CliError {
        CliError {
            code: code.into(),
            message: message.into(),
        }
    }

    /// The caller has no session in the profile.
    pub fn not_logged_in(profile: &std::path::Path) -> CliError {
        CliError::new(
            ErrorCode::Unauthorized.as_str(),
            format!(
                "not logged in (no session in {}); run `oriole login NAME`",
                profile.display()
            ),
        )
    }

    pub fn io(what: &str, error: &std::io::Error) -> CliError {
        CliError::new("io", format!("{what}: {error}"))
    }

    /// What a failed `serve` reports: the API code when the server says which,
    /// else `internal`.
    pub fn from_anyhow(error: &anyhow::Error) -> CliError {
        let code = error
            .chain()
            .find_map(|cause| cause.downcast_ref::<ApiError>().map(|e| e.code))
            .unwrap_or(ErrorCode::Internal);
        CliError::new(code.as_str(), format!("{error:#}"))
    }

    /// `error: <code>: <message>`, always one line.
    pub fn line(&self) -> String {
        let message: String = self
            .message
            .split(['\r', '\n'])
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        format!("error: {}: {}", self.code, message)
    }
}

impl From<ClientError> for CliError {
    fn from(error: ClientError) -> CliError {
        match &error {
            // A revoked device is, to the person at the terminal, logged out.
            ClientError::Closed { code, .. } if *code == close_code::REVOKED => CliError::new(
                ErrorCode::Unauthorized.as_str(),
                "this device was revoked or logged out",
            ),
            ClientError::Tls(message) if message.contains("certificate") => CliError::new(
                error.code(),
                format!(
                    "{message} (a server with a private CA or a self-signed certificate: \
                     trust it with --ca-file FILE)"
                ),
            ),
            _ => CliError::new(error.code(), error.message()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_line_follows_the_contract() {
        let e = CliError::from(ClientError::Api(ApiError::new(
            ErrorCode::NotFound,
            "no such user: nobody",
        )));
        assert_eq!(e.line(), "error: not_found: no such user: nobody");
    }

    #[test]
    fn the_error_line_is_one_line() {
        let e = CliError::new("internal", "first\nsecond\r\n  third\n");
        assert_eq!(e.line(), "error: internal: first second third");
    }

    #[test]
    fn local_failures_get_local_codes() {
        let e = CliError::from(ClientError::Transport("connection refused".into()));
        assert_eq!(e.line(), "error: transport: connection refused");
        let e = CliError::from(ClientError::Closed {
            code: 4001,
            reason: "revoked".into(),
        });
        assert!(e.line().starts_with("error: unauthorized: "));
    }

    #[test]
    fn serve_errors_carry_the_api_code_when_given() {
        let e = anyhow::Error::new(ApiError::new(ErrorCode::InvalidInput, "use --tls-cert"))
            .context("cannot start");
        let e = CliError::from_anyhow(&e);
        assert_eq!(e.code, "invalid_input");
        assert_eq!(
            e.line(),
            "error: invalid_input: cannot start: invalid_input: use --tls-cert"
        );
        let e = CliError::from_anyhow(&anyhow::anyhow!("address in use"));
        assert_eq!(e.line(), "error: internal: address in use");
    }
}
