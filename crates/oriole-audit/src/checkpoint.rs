//! Signed checkpoints: the server seals the log at intervals by signing
//! (count, head hash, time) with an ed25519 key from its key store. Anyone
//! with the public key can then check that the first `count` entries are the
//! ones the server wrote, even if whoever holds the database rewrote them.

use std::fmt;

use base64::Engine;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePublicKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::entry::EntryHash;

/// Domain tag that starts every signed checkpoint message.
pub const CHECKPOINT_DOMAIN: &[u8] = b"oriole-audit-checkpoint-v1";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("an audit signing key is exactly 32 bytes, got {0}")]
    SecretLength(usize),
    #[error("not an ed25519 public key (SPKI PEM, or 32 bytes in base64 or hex)")]
    PublicKey,
    #[error("not a key id (16 lowercase hex digits): {0:?}")]
    KeyId(String),
    #[error("not a signature (128 lowercase hex digits)")]
    Signature,
}

/// Names a public key: the first 8 bytes of SHA-256 over its 32 raw bytes,
/// as 16 hex digits. Lets a verifier pick the right key after a rotation
/// and tell an auditor which key a checkpoint claims.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyId([u8; 8]);

impl KeyId {
    pub fn of(key: &VerifyingKey) -> Self {
        let digest = Sha256::digest(key.as_bytes());
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        KeyId(id)
    }

    pub fn parse(s: &str) -> Result<Self, KeyError> {
        let mut id = [0u8; 8];
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(KeyError::KeyId(s.to_owned()));
        }
        hex::decode_to_slice(s, &mut id).map_err(|_| KeyError::KeyId(s.to_owned()))?;
        Ok(KeyId(id))
    }
}

impl TryFrom<String> for KeyId {
    type Error = KeyError;
    fn try_from(s: String) -> Result<Self, KeyError> {
        KeyId::parse(&s)
    }
}

impl From<KeyId> for String {
    fn from(k: KeyId) -> String {
        hex::encode(k.0)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// An ed25519 signature, written as 128 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CheckpointSignature(pub [u8; 64]);

impl TryFrom<String> for CheckpointSignature {
    type Error = KeyError;
    fn try_from(s: String) -> Result<Self, KeyError> {
        let mut sig = [0u8; 64];
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(KeyError::Signature);
        }
        hex::decode_to_slice(&s, &mut sig).map_err(|_| KeyError::Signature)?;
        Ok(CheckpointSignature(sig))
    }
}

impl From<CheckpointSignature> for String {
    fn from(s: CheckpointSignature) -> String {
        hex::encode(s.0)
    }
}

impl fmt::Debug for CheckpointSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CheckpointSignature({})", hex::encode(self.0))
    }
}

/// A signed statement that the log's first `count` entries end in
/// `head_hash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Entries covered: seq 1 through `count`.
    pub count: u64,
    /// Hash of entry `count` (the genesis hash when `count` is 0).
    pub head_hash: EntryHash,
    /// When it was signed: milliseconds since the Unix epoch, UTC.
    pub time: i64,
    /// Which key signed it (a hint; not itself signed).
    pub key_id: KeyId,
    pub signature: CheckpointSignature,
}

/// The exact bytes signed: the domain tag, then `count`, `head_hash` and
/// `time` as fixed-width big-endian fields (26 + 8 + 32 + 8 = 74 bytes).
pub fn checkpoint_message(count: u64, head_hash: &EntryHash, time: i64) -> Vec<u8> {
    let mut msg = Vec::with_capacity(CHECKPOINT_DOMAIN.len() + 48);
    msg.extend_from_slice(CHECKPOINT_DOMAIN);
    msg.extend_from_slice(&count.to_be_bytes());
    msg.extend_from_slice(&head_hash.0);
    msg.extend_from_slice(&time.to_be_bytes());
    msg
}

impl Checkpoint {
    /// Seal the first `count` entries, whose last hash is `head_hash`.
    pub fn sign(signer: &AuditSigner, count: u64, head_hash: EntryHash, time: i64) -> Self {
        let sig = signer
            .key
            .sign(&checkpoint_message(count, &head_hash, time));
        Checkpoint {
            count,
            head_hash,
            time,
            key_id: signer.key_id(),
            signature: CheckpointSignature(sig.to_bytes()),
        }
    }

    /// Whether `key` signed exactly this count, head and time. The `key_id`
    /// is not consulted: it is only a hint for choosing the key.
    pub fn signature_valid(&self, key: &AuditPublicKey) -> bool {
        let sig = Signature::from_bytes(&self.signature.0);
        // Strict: refuses small-order keys and non-canonical signatures, so
        // one checkpoint has exactly one valid signature.
        key.key
            .verify_strict(
                &checkpoint_message(self.count, &self.head_hash, self.time),
                &sig,
            )
            .is_ok()
    }
}

/// The server's audit signing key. The secret half is zeroized when
/// dropped, and `Debug` shows only the key id.
pub struct AuditSigner {
    key: SigningKey,
}

impl AuditSigner {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(seed.as_mut());
        AuditSigner {
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// Load the 32-byte secret kept in the key store.
    pub fn from_bytes(secret: &[u8]) -> Result<Self, KeyError> {
        let seed: &[u8; 32] = secret
            .try_into()
            .map_err(|_| KeyError::SecretLength(secret.len()))?;
        Ok(AuditSigner {
            key: SigningKey::from_bytes(seed),
        })
    }

    /// The 32-byte secret, for the key store. Wipe it once stored: the
    /// wrapper does so when dropped.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.key.to_bytes())
    }

    pub fn public_key(&self) -> AuditPublicKey {
        AuditPublicKey {
            key: self.key.verifying_key(),
        }
    }

    pub fn key_id(&self) -> KeyId {
        KeyId::of(&self.key.verifying_key())
    }

    /// Sign any message with this key. The same ed25519 key type serves
    /// other purposes than checkpoints (deletion receipts); callers must
    /// start `message` with a domain tag of their own, as checkpoints do,
    /// so one kind of signed statement can never pass for another.
    pub fn sign(&self, message: &[u8]) -> CheckpointSignature {
        CheckpointSignature(self.key.sign(message).to_bytes())
    }
}

impl fmt::Debug for AuditSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditSigner")
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

/// The public half, given to auditors to check checkpoints offline.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AuditPublicKey {
    key: VerifyingKey,
}

impl AuditPublicKey {
    pub fn key_id(&self) -> KeyId {
        KeyId::of(&self.key)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        self.key.as_bytes()
    }

    /// Whether this key signed `message` (see [`AuditSigner::sign`]);
    /// strict, like checkpoint verification.
    pub fn verify(&self, message: &[u8], signature: &CheckpointSignature) -> bool {
        let sig = Signature::from_bytes(&signature.0);
        self.key.verify_strict(message, &sig).is_ok()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let raw: &[u8; 32] = bytes.try_into().map_err(|_| KeyError::PublicKey)?;
        let key = VerifyingKey::from_bytes(raw).map_err(|_| KeyError::PublicKey)?;
        Ok(AuditPublicKey { key })
    }

    /// SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`), the form
    /// `openssl pkey -pubin` reads.
    pub fn to_pem(&self) -> String {
        // Encoding a valid 32-byte key as SPKI cannot fail (fixed-size DER);
        // the fallback keeps this infallible without a panic.
        self.key
            .to_public_key_pem(LineEnding::LF)
            .unwrap_or_else(|_| format!("{}\n", self.to_base64()))
    }

    /// The 32 raw bytes in standard base64.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.key.as_bytes())
    }

    /// Read a public key file: SPKI PEM, or the 32 raw bytes as base64 or
    /// hex. Surrounding whitespace is ignored.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        if text.starts_with("-----BEGIN") {
            let key = VerifyingKey::from_public_key_pem(text).map_err(|_| KeyError::PublicKey)?;
            return Ok(AuditPublicKey { key });
        }
        if text.len() == 64 {
            if let Ok(raw) = hex::decode(text) {
                return AuditPublicKey::from_bytes(&raw);
            }
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| KeyError::PublicKey)?;
        AuditPublicKey::from_bytes(&raw)
    }
}

impl fmt::Debug for AuditPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuditPublicKey({})", self.key_id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_check() {
        let signer = AuditSigner::generate();
        let cp = Checkpoint::sign(&signer, 3, EntryHash([7; 32]), 42);
        assert_eq!(cp.key_id, signer.key_id());
        assert!(cp.signature_valid(&signer.public_key()));
        assert!(!cp.signature_valid(&AuditSigner::generate().public_key()));
        for tampered in [
            Checkpoint {
                count: 4,
                ..cp.clone()
            },
            Checkpoint {
                head_hash: EntryHash([8; 32]),
                ..cp.clone()
            },
            Checkpoint {
                time: 43,
                ..cp.clone()
            },
        ] {
            assert!(!tampered.signature_valid(&signer.public_key()));
        }
    }

    #[test]
    fn secret_round_trip_and_debug_hides_it() -> Result<(), KeyError> {
        let signer = AuditSigner::generate();
        let secret = signer.to_bytes();
        let again = AuditSigner::from_bytes(secret.as_ref())?;
        assert_eq!(again.public_key(), signer.public_key());
        let shown = format!("{signer:?}");
        assert!(shown.contains(&signer.key_id().to_string()));
        assert!(!shown.contains(&hex::encode(secret.as_ref())));
        assert_eq!(
            AuditSigner::from_bytes(&[0; 31]).err(),
            Some(KeyError::SecretLength(31))
        );
        Ok(())
    }

    #[test]
    fn public_key_formats_round_trip() -> Result<(), KeyError> {
        let pk = AuditSigner::generate().public_key();
        let pem = pk.to_pem();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"));
        assert_eq!(AuditPublicKey::parse(&pem)?, pk);
        assert_eq!(AuditPublicKey::parse(&pk.to_base64())?, pk);
        assert_eq!(AuditPublicKey::parse(&hex::encode(pk.as_bytes()))?, pk);
        assert!(AuditPublicKey::parse("not a key").is_err());
        Ok(())
    }

    #[test]
    fn generic_messages_sign_and_verify() {
        let signer = AuditSigner::generate();
        let sig = signer.sign(b"oriole-receipt-v1|x");
        assert!(signer.public_key().verify(b"oriole-receipt-v1|x", &sig));
        assert!(!signer.public_key().verify(b"oriole-receipt-v1|y", &sig));
    }

    #[test]
    fn key_id_is_sha256_prefix() {
        let pk = AuditSigner::generate().public_key();
        let digest = Sha256::digest(pk.as_bytes());
        assert_eq!(pk.key_id().to_string(), hex::encode(&digest[..8]));
        assert_eq!(KeyId::parse(&pk.key_id().to_string()), Ok(pk.key_id()));
    }

    #[test]
    fn checkpoint_json_shape() -> Result<(), serde_json::Error> {
        let signer = AuditSigner::from_bytes(&[1; 32]).map_err(serde::de::Error::custom)?;
        let cp = Checkpoint::sign(&signer, 1, EntryHash::GENESIS, 5);
        let json = serde_json::to_value(&cp)?;
        assert_eq!(json["count"], 1);
        assert_eq!(json["key_id"], signer.key_id().to_string());
        assert_eq!(json["signature"].as_str().map(str::len), Some(128));
        assert_eq!(serde_json::from_value::<Checkpoint>(json)?, cp);
        Ok(())
    }
}
