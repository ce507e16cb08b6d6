//! The webhook signature: HMAC-SHA256 under the recipient's signing secret
//! over `TIMESTAMP.BODY`, sent as `Oriole-Signature: t=TIMESTAMP,v1=HEX`.
//! The timestamp (Unix seconds) is signed with the body, and a receiver
//! refuses one outside [`REPLAY_WINDOW_SECS`] of its clock, so a captured
//! request cannot be replayed later. The same format signs the callbacks
//! recipients send back.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::recipient::SigningSecret;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "Oriole-Signature";
/// The header carrying the delivery's idempotency key (also `id` in the
/// body): a receiver drops a delivery whose key it has seen.
pub const DELIVERY_HEADER: &str = "Oriole-Delivery";
/// How far a signature's timestamp may be from the verifier's clock.
pub const REPLAY_WINDOW_SECS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is malformed (expected `t=SECONDS,v1=HEX`)")]
    Malformed,
    #[error("the signature does not match the body")]
    Mismatch,
    #[error("the signature's timestamp is outside the {REPLAY_WINDOW_SECS} s replay window")]
    Stale,
}

fn mac(key: &[u8], timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC-SHA256 accepts keys of any length"),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `Oriole-Signature` value for `body` sent at `timestamp` (Unix s).
pub fn sign(secret: &SigningSecret, timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret.key(), timestamp, body).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex::encode(tag))
}

/// Check an `Oriole-Signature` header against the raw `body`, with `secret`
/// as the recipient configured it (`whsec_...`) and `now` its clock in Unix
/// seconds. Returns the signed timestamp. The comparison is constant-time.
pub fn verify_signature(
    secret: &str,
    header: &str,
    body: &[u8],
    now: i64,
) -> Result<i64, SignatureError> {
    let mut timestamp = None;
    let mut tags = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => {
                timestamp = Some(v.parse::<i64>().map_err(|_| SignatureError::Malformed)?)
            }
            Some(("v1", v)) => tags.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?),
            // Unknown schemes are skipped, so a later version can be added
            // beside v1 without breaking receivers.
            Some(_) => {}
            None => return Err(SignatureError::Malformed),
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if tags.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let matches = tags.iter().any(|tag| {
        mac(secret.as_bytes(), timestamp, body)
            .verify_slice(tag)
            .is_ok()
    });
    if !matches {
        return Err(SignatureError::Mismatch);
    }
    if (now - timestamp).abs() > REPLAY_WINDOW_SECS {
        return Err(SignatureError::Stale);
    }
    Ok(timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tampering_and_replay_are_caught() {
        let secret = SigningSecret::generate();
        let body = br#"{"id":"x"}"#;
        let header = sign(&secret, 1_000, body);
        assert_eq!(
            verify_signature(secret.expose(), &header, body, 1_010),
            Ok(1_000)
        );
        assert_eq!(
            verify_signature(secret.expose(), &header, br#"{"id":"y"}"#, 1_010),
            Err(SignatureError::Mismatch)
        );
        let other = SigningSecret::generate();
        assert_eq!(
            verify_signature(other.expose(), &header, body, 1_010),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(
                secret.expose(),
                &header,
                body,
                1_000 + REPLAY_WINDOW_SECS + 1
            ),
            Err(SignatureError::Stale)
        );
        // A re-dated header with the old tag does not match.
        let redated = header.replace("t=1000", "t=2000");
        assert_eq!(
            verify_signature(secret.expose(), &redated, body, 2_000),
            Err(SignatureError::Mismatch)
        );
        for bad in ["", "t=1", "v1=00", "t=x,v1=00", "t=1,v1=zz", "garbage"] {
            assert_eq!(
                verify_signature(secret.expose(), bad, body, 1),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
    }

    proptest! {
        #[test]
        fn sign_then_verify(body in proptest::collection::vec(any::<u8>(), 0..256),
                            t in 0i64..4_000_000_000, skew in -REPLAY_WINDOW_SECS..=REPLAY_WINDOW_SECS) {
            let secret = SigningSecret::generate();
            let header = sign(&secret, t, &body);
            prop_assert_eq!(verify_signature(secret.expose(), &header, &body, t + skew), Ok(t));
        }
    }
}
