//! Ports besides the store: live delivery, time, and the one place where
//! personal data crosses into storage.

use async_trait::async_trait;
use oriole_proto::{InboxEvent, PolicyNotice, UserNotice};
use sha2::{Digest, Sha256};

use crate::domain::{DeviceId, InboxSeq, Timestamp, UserId};
use crate::signing::{KeyPurpose, SigningKey};

/// Live delivery to connected devices. A single-node server implements it
/// with an in-process hub; a cluster with a message bus. Delivery is best
/// effort: the inbox in the store is the truth, and a device that misses a
/// pushed event fetches it by seq.
pub trait Fanout: Send + Sync + 'static {
    /// Push an inbox event to every connected device of `user`.
    fn deliver(&self, user: UserId, event: InboxEvent);
    /// Push one event to several users, each at its own inbox seq (`event`'s
    /// own seq is ignored): a message's fan-out. The default copies the
    /// event for each; a hub can share one copy (and one encoding) instead.
    fn deliver_each(&self, seqs: &[(UserId, InboxSeq)], event: InboxEvent) {
        for (user, seq) in seqs {
            let mut copy = event.clone();
            copy.seq = seq.0;
            self.deliver(*user, copy);
        }
    }
    /// Close the sockets of a revoked device at once.
    fn disconnect_device(&self, device: DeviceId);
    /// Push a privacy policy notice to every open connection; returns the
    /// users reached (the others are told on their next connection or
    /// sync). Without live connections: nobody.
    fn announce_policy(&self, _notice: PolicyNotice) -> Vec<UserId> {
        Vec::new()
    }
    /// Push a notice to every connected device of `user`; `false` when
    /// none is connected (the notice then waits for their next
    /// connection). Without live connections: `false`.
    fn notify(&self, _user: UserId, _notice: UserNotice) -> bool {
        false
    }
    /// `user` accepted the policy in force: their connections, held back
    /// by the re-consent gate, resume live delivery.
    fn policy_accepted(&self, _user: UserId) {}
}

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        Timestamp(ms)
    }
}

/// Which stored field a personal value belongs to. An encrypting vault binds
/// ciphertext to it (as associated data) so blobs cannot be swapped between
/// rows or columns, and picks the owner's data key.
#[derive(Debug, Clone, Copy)]
pub struct FieldBinding<'a> {
    pub owner: UserId,
    pub table: &'static str,
    pub column: &'static str,
    pub row: &'a str,
}

/// Why a vault could not seal or open a field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// The owner's data key no longer exists: the data is erased
    /// (crypto-shredded), in this database and in every copy of it.
    #[error("the owner's data key was destroyed: the data is erased")]
    Shredded,
    /// Decryption failed: the ciphertext was altered, or moved from another
    /// row or column. Never answered with garbage.
    #[error("integrity check failed: the stored value was altered or moved")]
    Integrity,
    /// The key store or the key material failed; says what, never a value.
    #[error("key vault: {0}")]
    Backend(String),
}

/// Every personal field a store writes goes through `seal`, and every one it
/// reads through `open`: the single seam for encryption at rest.
#[async_trait]
pub trait FieldVault: Send + Sync + 'static {
    async fn seal(&self, field: FieldBinding<'_>, plain: &[u8]) -> Result<Vec<u8>, VaultError>;
    async fn open(&self, field: FieldBinding<'_>, sealed: &[u8]) -> Result<Vec<u8>, VaultError>;
    /// [`FieldVault::open`] for a value the caller owns (as read from a
    /// row): a vault may decrypt it in place instead of copying it.
    async fn open_owned(
        &self,
        field: FieldBinding<'_>,
        sealed: Vec<u8>,
    ) -> Result<Vec<u8>, VaultError> {
        self.open(field, &sealed).await
    }
    /// A deterministic, keyed digest of a normalised value of `column`, for
    /// equality lookups and uniqueness without storing the value.
    fn blind_index(&self, column: &'static str, normalised: &str) -> String;
    /// Destroy the owner's data key: everything sealed for them becomes
    /// unreadable ([`VaultError::Shredded`]). Idempotent.
    async fn shred(&self, owner: UserId) -> Result<(), VaultError>;
    /// The ed25519 signing key for `purpose` (see [`crate::signing`]),
    /// created on first use. Generic: `audit` signs audit checkpoints,
    /// `receipt` signs deletion receipts, and a new purpose needs only a
    /// new [`KeyPurpose`] constant.
    async fn signing_key(&self, purpose: KeyPurpose) -> Result<SigningKey, VaultError>;
}

/// Keeps the bytes as they are: no encryption at rest. For the benchmark
/// (encryption on/off) and store tests only; production uses
/// [`KeyVault`](crate::keys::KeyVault).
#[derive(Debug, Clone, Copy, Default)]
pub struct ClearVault;

#[async_trait]
impl FieldVault for ClearVault {
    async fn seal(&self, _field: FieldBinding<'_>, plain: &[u8]) -> Result<Vec<u8>, VaultError> {
        Ok(plain.to_vec())
    }
    async fn open(&self, _field: FieldBinding<'_>, sealed: &[u8]) -> Result<Vec<u8>, VaultError> {
        Ok(sealed.to_vec())
    }
    async fn open_owned(
        &self,
        _field: FieldBinding<'_>,
        sealed: Vec<u8>,
    ) -> Result<Vec<u8>, VaultError> {
        Ok(sealed)
    }
    /// Unkeyed SHA-256 of `column|value`, hex: stable, but anyone can
    /// compute it, so it protects nothing.
    fn blind_index(&self, column: &'static str, normalised: &str) -> String {
        let mut h = Sha256::new();
        h.update(column.as_bytes());
        h.update(b"|");
        h.update(normalised.as_bytes());
        hex::encode(h.finalize())
    }
    /// Nothing is encrypted, so nothing can be shredded.
    async fn shred(&self, _owner: UserId) -> Result<(), VaultError> {
        Ok(())
    }
    /// Derived from the purpose's name alone: stable across restarts, but
    /// anyone can compute it, so it protects nothing (tests and benchmarks
    /// only).
    async fn signing_key(&self, purpose: KeyPurpose) -> Result<SigningKey, VaultError> {
        let seed = Sha256::digest(format!("oriole clear-vault signing key|{purpose}").as_bytes());
        SigningKey::from_bytes(&seed).map_err(|e| VaultError::Backend(e.to_string()))
    }
}
