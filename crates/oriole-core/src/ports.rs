//! Ports besides the store: live delivery, time, and the one place where
//! personal data crosses into storage.

use oriole_proto::InboxEvent;

use crate::domain::{DeviceId, Timestamp, UserId};

/// Live delivery to connected devices. A single-node server implements it
/// with an in-process hub; a cluster with a message bus. Delivery is best
/// effort: the inbox in the store is the truth, and a device that misses a
/// pushed event fetches it by seq.
pub trait Fanout: Send + Sync + 'static {
    /// Push an inbox event to every connected device of `user`.
    fn deliver(&self, user: UserId, event: InboxEvent);
    /// Close the sockets of a revoked device at once.
    fn disconnect_device(&self, device: DeviceId);
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

#[derive(Debug, thiserror::Error)]
#[error("personal data vault: {0}")]
pub struct VaultError(pub String);

/// Every personal field a store writes goes through `seal`, and every one it
/// reads through `open`: the single seam for encryption at rest.
pub trait FieldVault: Send + Sync + 'static {
    fn seal(&self, field: FieldBinding<'_>, plain: &[u8]) -> Result<Vec<u8>, VaultError>;
    fn open(&self, field: FieldBinding<'_>, sealed: &[u8]) -> Result<Vec<u8>, VaultError>;
}

/// Keeps the bytes as they are. Used until encryption at rest is configured
/// (see the encryption issue); it exists so that the store already routes
/// every personal field through one seam.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClearVault;

impl FieldVault for ClearVault {
    fn seal(&self, _field: FieldBinding<'_>, plain: &[u8]) -> Result<Vec<u8>, VaultError> {
        Ok(plain.to_vec())
    }
    fn open(&self, _field: FieldBinding<'_>, sealed: &[u8]) -> Result<Vec<u8>, VaultError> {
        Ok(sealed.to_vec())
    }
}
