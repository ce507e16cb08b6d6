//! Staff access control and the audit log on the wire: the server's public
//! signing keys (`GET /v1/keys`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One of the server's ed25519 public keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PublicKeyInfo {
    /// First 8 bytes of SHA-256 over the raw key, as 16 hex digits; a
    /// signed checkpoint or receipt names the key it claims by this id.
    pub key_id: String,
    /// SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`), what
    /// `oriole public-keys` writes and `openssl pkey -pubin` reads.
    pub pem: String,
    /// The 32 raw key bytes in standard base64.
    pub base64: String,
}

/// `GET /v1/keys`: the keys anyone can check the server's signatures with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PublicKeys {
    /// Signs the audit log's checkpoints.
    pub audit: PublicKeyInfo,
    /// Signs deletion receipts.
    pub receipt: PublicKeyInfo,
}
