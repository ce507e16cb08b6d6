//! Third-party sharing under consent (privacy promise P13): the registry of
//! recipients, each user's per-recipient consent with its history, the
//! durable outbox of webhooks (with its dead letters) and the sharing
//! ledger. The storage port is [`SharingStore`], a supertrait of
//! [`Store`](crate::Store); the pure logic (minimization, pseudonyms,
//! signatures, back-off) is in `oriole-gateway`; the services are in
//! `service/sharing.rs`, and the server runs the delivery worker.

mod store;

pub use oriole_gateway::{
    CategorySet, DeliveryUrl, PseudonymKey, RecipientError, RecipientName, RecipientPseudonym,
    RecipientText, RetrySchedule, SharedCategory, SigningSecret, WebhookKind,
};
pub use store::{
    DeliveryId, LedgerEntry, NewDelivery, NewNotice, NewRecipient, PendingDelivery, RecipientId,
    RecipientRecord, SharingChange, SharingGrant, SharingStore, StoredNotice,
};

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::domain::UserId;

/// The reserved key-store owner under which the gateway seals what belongs
/// to no user: recipients' signing secrets and pseudonym keys, and queued
/// erasure requests. It owns an ordinary data key (wrapped by the KEK,
/// re-wrapped by `rotate-kek`). A UUID shaped as version 4 from SHA-256, so
/// it is never a user's id (UUIDv7), the blind-index root (nil) or a
/// signing key's owner (version 8, which may hold no data).
pub fn gateway_key_owner() -> UserId {
    let digest = Sha256::digest(b"oriole sharing gateway key v1");
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    UserId(Uuid::from_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::INVENTORY;

    #[test]
    fn every_shareable_category_is_an_inventory_item() {
        for c in SharedCategory::ALL {
            assert!(
                INVENTORY.iter().any(|item| item.id == c.as_str()),
                "{c} is not declared in the inventory"
            );
        }
    }

    #[test]
    fn the_gateway_owner_is_no_user() {
        assert_eq!(gateway_key_owner().0.get_version_num(), 4);
        assert!(!crate::signing::is_reserved_owner(gateway_key_owner()));
    }
}
