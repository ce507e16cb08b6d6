//! Ed25519 signing keys kept in the key store, one per purpose: `audit`
//! seals the audit log's checkpoints, `receipt` signs deletion receipts.
//! Any part of Oriole that must sign a statement users or auditors check
//! offline asks [`FieldVault::signing_key`](crate::FieldVault::signing_key)
//! (or [`Store::signing_key`](crate::Store::signing_key)) for its own
//! purpose; the key is created on first use.
//!
//! A signing key is kept exactly like a data key: 32 random bytes wrapped by
//! the KEK, in `DATA/keys/keys.db`, under a reserved owner id derived from the
//! purpose. So `oriole admin rotate-kek` re-wraps it with the data keys, and
//! it never sits in the main database or its backups.

use std::fmt;

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::domain::UserId;

/// The public half, in the formats auditors read (PEM, base64, hex).
pub use oriole_audit::AuditPublicKey as PublicKey;
/// The ed25519 key type (secret half zeroized on drop). Named for the audit
/// log, where it was first needed; it signs any message via
/// [`SigningKey::sign`], with the caller's own domain tag.
pub use oriole_audit::AuditSigner as SigningKey;

/// What a signing key is for. Each purpose has its own key, so a receipt
/// signature can never be replayed as a checkpoint signature and one key
/// can be rotated without the other.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyPurpose(&'static str);

impl KeyPurpose {
    /// Signs audit-log checkpoints.
    pub const AUDIT: KeyPurpose = KeyPurpose("audit");
    /// Signs deletion receipts given to users.
    pub const RECEIPT: KeyPurpose = KeyPurpose("receipt");
    /// Every purpose whose public key the server publishes
    /// (`GET /v1/keys`, `oriole public-keys`).
    pub const PUBLISHED: &'static [KeyPurpose] = &[KeyPurpose::AUDIT, KeyPurpose::RECEIPT];

    /// A purpose named in code (lowercase ASCII, no spaces).
    pub const fn new(name: &'static str) -> KeyPurpose {
        KeyPurpose(name)
    }

    pub fn as_str(&self) -> &'static str {
        self.0
    }

    /// The reserved key-store owner id of this purpose's key: a UUID of
    /// version 8 (custom) from SHA-256 of the purpose, so it can never be a
    /// user's id (UUIDv7) nor the blind-index root (nil).
    pub fn key_owner(&self) -> UserId {
        let digest = Sha256::digest(format!("oriole signing key v1|{}", self.0).as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        bytes[6] = (bytes[6] & 0x0f) | 0x80;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        UserId(Uuid::from_bytes(bytes))
    }
}

impl fmt::Display for KeyPurpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl fmt::Debug for KeyPurpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyPurpose({})", self.0)
    }
}

/// Whether `owner` is a reserved key-store id (the blind-index root or a
/// signing key) rather than a user: such keys seal no data and are never
/// shredded.
pub fn is_reserved_owner(owner: UserId) -> bool {
    owner.0.is_nil() || owner.0.get_version_num() == 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_have_distinct_reserved_owners() {
        let a = KeyPurpose::AUDIT.key_owner();
        let r = KeyPurpose::RECEIPT.key_owner();
        assert_ne!(a, r);
        assert_eq!(a, KeyPurpose::AUDIT.key_owner());
        assert!(is_reserved_owner(a) && is_reserved_owner(r));
        assert!(!is_reserved_owner(UserId::generate()));
        assert!(is_reserved_owner(UserId(Uuid::nil())));
    }
}
