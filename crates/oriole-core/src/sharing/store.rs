//! The storage port of sharing and its records.

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use uuid::Uuid;

use super::{
    CategorySet, DeliveryUrl, PseudonymKey, RecipientName, RecipientPseudonym, RecipientText,
    SigningSecret, WebhookKind,
};
use crate::domain::{InvalidValue, Timestamp, UserId};
use crate::store::StoreResult;

macro_rules! uuid_newtype {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn generate() -> Self {
                $name(Uuid::now_v7())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = InvalidValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s)
                    .map($name)
                    .map_err(|_| InvalidValue(concat!("not a valid ", $what, " id").into()))
            }
        }
    };
}

uuid_newtype!(
    /// A registered recipient.
    RecipientId, "recipient"
);
uuid_newtype!(
    /// One webhook delivery: also its idempotency key, the same for every
    /// attempt, so a recipient drops duplicates.
    DeliveryId, "delivery"
);

impl DeliveryId {
    /// The delivery of one event to one recipient: derived, so enqueueing
    /// the same event twice yields the same key (UUIDv8 from SHA-256).
    pub fn for_event(recipient: RecipientId, kind: WebhookKind, event: &str) -> DeliveryId {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(
            format!("oriole delivery v1|{recipient}|{}|{event}", kind.as_str()).as_bytes(),
        );
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        bytes[6] = (bytes[6] & 0x0f) | 0x80;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        DeliveryId(Uuid::from_bytes(bytes))
    }
}

/// A recipient as registered by a privacy officer.
#[derive(Debug, Clone)]
pub struct NewRecipient {
    pub id: RecipientId,
    pub name: RecipientName,
    pub contact: RecipientText,
    pub purpose: RecipientText,
    pub categories: CategorySet,
    pub legal_basis: RecipientText,
    /// How long the recipient keeps what it receives.
    pub retention: RecipientText,
    pub url: DeliveryUrl,
    pub secret: SigningSecret,
    pub pseudonym_key: PseudonymKey,
    /// The bot account the recipient answers for.
    pub bot: Option<UserId>,
    pub created_at: Timestamp,
}

/// A stored recipient reads back as it was registered.
pub type RecipientRecord = NewRecipient;

/// A user's current consent to share with one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharingGrant {
    pub recipient: RecipientId,
    pub pseudonym: RecipientPseudonym,
    pub granted_at: Timestamp,
}

/// One consent change (a history row).
#[derive(Debug, Clone)]
pub struct SharingChange {
    pub user: UserId,
    pub recipient: RecipientId,
    pub granted: bool,
    pub pseudonym: RecipientPseudonym,
    pub at: Timestamp,
}

/// A webhook to deliver. `body` is the JSON body, already minimized.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub id: DeliveryId,
    pub recipient: RecipientId,
    /// The user it is about; `None` for the erasure requests of a deleted
    /// account (they leave no ledger entry: the ledger went with the
    /// account).
    pub user: Option<UserId>,
    pub kind: WebhookKind,
    /// The categories it carries, for the ledger.
    pub categories: Vec<String>,
    pub body: String,
    pub created_at: Timestamp,
}

/// A delivery waiting in the outbox.
#[derive(Debug, Clone)]
pub struct PendingDelivery {
    pub delivery: NewDelivery,
    /// Failed attempts so far.
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
}

/// One row of a user's sharing ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub delivery: DeliveryId,
    pub recipient: RecipientName,
    pub kind: WebhookKind,
    pub categories: Vec<String>,
    pub delivered_at: Timestamp,
}

#[async_trait]
pub trait SharingStore: Send + Sync + 'static {
    // ---- registry ----

    /// `Conflict` when the name is taken or the bot already answers for
    /// another recipient.
    async fn create_recipient(&self, recipient: NewRecipient) -> StoreResult<()>;
    /// Every recipient, by name.
    async fn recipients(&self) -> StoreResult<Vec<RecipientRecord>>;
    async fn recipient_by_name(&self, name: &RecipientName)
        -> StoreResult<Option<RecipientRecord>>;
    async fn recipient_by_bot(&self, bot: UserId) -> StoreResult<Option<RecipientRecord>>;

    // ---- consent ----

    /// The user's current grant for the recipient, if any.
    async fn sharing_grant(
        &self,
        user: UserId,
        recipient: RecipientId,
    ) -> StoreResult<Option<SharingGrant>>;
    /// Every current grant of the user.
    async fn sharing_grants(&self, user: UserId) -> StoreResult<Vec<SharingGrant>>;
    /// The user holding a current grant under this pseudonym.
    async fn user_by_pseudonym(
        &self,
        recipient: RecipientId,
        pseudonym: &RecipientPseudonym,
    ) -> StoreResult<Option<UserId>>;
    /// Append a consent change and set the current state, atomically. A
    /// revocation also drops the user's queued messages to the recipient
    /// and enqueues `erasure`; returns the number of deliveries dropped.
    async fn record_sharing_change(
        &self,
        change: SharingChange,
        erasure: Option<NewDelivery>,
    ) -> StoreResult<u64>;
    /// The user's consent history, oldest first, as `(recipient, granted, at)`.
    async fn sharing_history(
        &self,
        user: UserId,
    ) -> StoreResult<Vec<(RecipientName, bool, Timestamp)>>;
    /// For account deletion, atomically: drop the user's queued messages,
    /// end every grant, delete the ledger and consent history, and enqueue
    /// `erasures` (whose `user` is `None`). Returns the deliveries dropped.
    async fn forget_sharing(&self, user: UserId, erasures: Vec<NewDelivery>) -> StoreResult<u64>;

    // ---- outbox ----

    /// A message to a bot, atomically with its delivery: what
    /// [`Store::append_message`](crate::store::Store::append_message) does,
    /// and in the same transaction `delivery` is queued, unless the sender
    /// no longer holds a grant for its recipient (a revocation committed
    /// first wins). So an acknowledged send is never left unshared by a
    /// crash. A duplicate send writes nothing: the original queued it.
    async fn append_shared_message(
        &self,
        msg: crate::store::NewMessage,
        recipients: &[UserId],
        delivery: NewDelivery,
    ) -> StoreResult<crate::store::Appended>;
    /// [`append_shared_message`](SharingStore::append_shared_message)
    /// without waiting for the commit, as
    /// [`Store::queue_message`](crate::store::Store::queue_message) does.
    /// The default commits before returning.
    async fn queue_shared_message(
        &self,
        msg: crate::store::NewMessage,
        recipients: &[UserId],
        delivery: NewDelivery,
    ) -> StoreResult<crate::store::QueuedAppend> {
        Ok(crate::store::QueuedAppend::settled(
            self.append_shared_message(msg, recipients, delivery).await,
        ))
    }
    /// Queue a delivery, due at once; `false` when its id is already queued
    /// or delivered (nothing written).
    async fn enqueue_delivery(&self, delivery: NewDelivery) -> StoreResult<bool>;
    /// Pending deliveries due at `now`, oldest first, at most `limit`.
    async fn due_deliveries(&self, now: Timestamp, limit: u32)
        -> StoreResult<Vec<PendingDelivery>>;
    /// When the next pending delivery is due.
    async fn next_delivery_due(&self) -> StoreResult<Option<Timestamp>>;
    /// Whether the delivery is still pending (not dropped by a revocation).
    async fn delivery_pending(&self, id: DeliveryId) -> StoreResult<bool>;
    /// The recipient took it: remove it from the outbox and add it to the
    /// user's ledger, atomically. `false` when it was no longer queued.
    async fn complete_delivery(&self, id: DeliveryId, at: Timestamp) -> StoreResult<bool>;
    /// An attempt failed: count it and set the next one.
    async fn retry_delivery(
        &self,
        id: DeliveryId,
        attempts: u32,
        next_attempt_at: Timestamp,
    ) -> StoreResult<()>;
    /// The last attempt failed: keep it in the dead-letter store.
    async fn dead_letter(&self, id: DeliveryId, attempts: u32, at: Timestamp) -> StoreResult<()>;
    /// Dead letters, oldest first, as `(delivery, recipient name, attempts)`.
    async fn dead_letters(&self) -> StoreResult<Vec<(DeliveryId, RecipientName, u32)>>;

    // ---- ledger ----

    /// What was delivered about the user, newest first.
    async fn sharing_ledger(&self, user: UserId) -> StoreResult<Vec<LedgerEntry>>;

    // ---- notices to users (legal disclosures) ----

    /// Keep a notice until it is due and delivered (migration 0010).
    async fn queue_notice(&self, notice: NewNotice) -> StoreResult<()>;
    /// Notices due at `now` that the notice task has not handled yet,
    /// oldest first, at most `limit`.
    async fn unannounced_notices(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<StoredNotice>>;
    /// The notice task handled it (the user was offline: it waits for
    /// their next connection).
    async fn mark_notice_announced(&self, id: Uuid, at: Timestamp) -> StoreResult<()>;
    /// Claim the notice for delivery: `true` for the one caller that marks
    /// it delivered, `false` when it already was.
    async fn claim_notice(&self, id: Uuid, at: Timestamp) -> StoreResult<bool>;
    /// The user's notices due at `now` and not delivered, oldest first.
    async fn undelivered_notices(
        &self,
        user: UserId,
        now: Timestamp,
    ) -> StoreResult<Vec<StoredNotice>>;
}

/// A notice to a user, held until `due_at` (the end of a legal deferral, or
/// at once) and until it reaches one of their devices.
#[derive(Debug, Clone)]
pub struct NewNotice {
    pub id: Uuid,
    pub user: UserId,
    /// The notice as the user gets it (a JSON `UserNotice`): sealed at rest
    /// under the user's data key.
    pub body: String,
    pub due_at: Timestamp,
    pub created_at: Timestamp,
}

/// A stored notice, its body opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredNotice {
    pub id: Uuid,
    pub user: UserId,
    pub body: String,
    pub due_at: Timestamp,
}
