//! For third-party recipients written in Rust: check that a webhook really
//! comes from Oriole (signature and replay window), read its body, and sign
//! a bot's reply for the callback endpoint. The format is in
//! `docs/sharing.md`.

use std::time::{SystemTime, UNIX_EPOCH};

pub use oriole_gateway::{
    sign, verify_signature, BotReply, SignatureError, SigningSecret, WebhookBody, WebhookKind,
    DELIVERY_HEADER, REPLAY_WINDOW_SECS, SIGNATURE_HEADER,
};

/// Why a webhook was refused.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error("the body is not an Oriole webhook: {0}")]
    Body(#[from] serde_json::Error),
}

/// Verify the `Oriole-Signature` header of a webhook against its raw body,
/// with the recipient's signing secret and the system clock, then parse it.
pub fn verify_webhook(
    secret: &str,
    signature_header: &str,
    body: &[u8],
) -> Result<WebhookBody, WebhookError> {
    verify_signature(secret, signature_header, body, unix_now())?;
    Ok(serde_json::from_slice(body)?)
}

/// The `Oriole-Signature` value for a callback body, signed now.
pub fn sign_callback(secret: &SigningSecret, body: &[u8]) -> String {
    sign(secret, unix_now(), body)
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
