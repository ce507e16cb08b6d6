//! The storage port. Every backend (SQLite now, PostgreSQL later)
//! implements [`Store`] and passes the `oriole-store-tests` conformance suite.
//! Each method is one atomic unit: a backend commits it durably before
//! returning `Ok`, except [`Store::queue_message`], whose returned
//! [`QueuedAppend`] resolves once its append has committed.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use async_trait::async_trait;
use oriole_audit::{AuditEntry, Checkpoint, EntryDraft, EntryHash, PseudonymousId};
use oriole_crypto::{PasswordHashString, TokenHash};
use oriole_proto::{GroupRole, InboxEvent, ReceiptKind};

use crate::domain::{
    DeviceId, DeviceLabel, Email, GroupId, GroupName, IdempotencyKey, InboxSeq, MessageBody,
    MessageId, Phone, Timestamp, UserId, Username,
};
use crate::rights::{
    AccountErasure, CorrectionRecord, DisplayName, DsarRecord, ErasureSummary, MessageCounts,
    ProfileCorrection, ReceiptGiven,
};
use crate::signing::{KeyPurpose, SigningKey};
use crate::staff::{ContentGrantRecord, OperatorId, OperatorName, OperatorRecord};
use tokio::sync::oneshot;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was hit (username taken, already a member).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The row the operation needs does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The backend failed; the operation was not committed.
    #[error("storage failure: {0}")]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// An account as the store keeps it (see [`UserRecord`]).
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: UserId,
    pub username: Username,
    pub password_hash: PasswordHashString,
    pub phone: Option<Phone>,
    pub email: Option<Email>,
    pub created_at: Timestamp,
}

/// A stored account reads back exactly as it was created.
pub type UserRecord = NewUser;

/// A login: one device with its own token.
#[derive(Debug, Clone)]
pub struct NewDevice {
    pub id: DeviceId,
    pub user_id: UserId,
    pub token_hash: TokenHash,
    pub device_model: Option<DeviceLabel>,
    pub os_version: Option<DeviceLabel>,
    /// The client's IP address as seen at login.
    pub ip: Option<String>,
    pub at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct DeviceRecord {
    pub id: DeviceId,
    pub user_id: UserId,
    pub device_model: Option<DeviceLabel>,
    pub os_version: Option<DeviceLabel>,
    pub ip: Option<String>,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
}

/// What a valid token resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub device_id: DeviceId,
    pub user_id: UserId,
    pub username: Username,
    pub last_seen: Timestamp,
}

/// Who a message is addressed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversation {
    Direct(UserId),
    Group(GroupId),
}

#[derive(Debug, Clone)]
pub struct NewMessage {
    pub id: MessageId,
    pub sender: UserId,
    pub conversation: Conversation,
    pub body: MessageBody,
    pub sent_at: Timestamp,
    pub idempotency_key: Option<IdempotencyKey>,
}

/// The outcome of [`Store::append_message`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// Stored, with one inbox entry per listed user (sender included).
    New {
        message_id: MessageId,
        sent_at: Timestamp,
        seqs: Vec<(UserId, InboxSeq)>,
    },
    /// The sender already sent a message with this idempotency key; nothing
    /// was written and the original is described.
    Duplicate {
        message_id: MessageId,
        sent_at: Timestamp,
        sender_seq: InboxSeq,
    },
}

/// An append waiting in a store's write queue (see
/// [`Store::queue_message`]): resolves once it has committed, or failed.
/// Dropping it does not withdraw the append.
#[must_use = "an append's outcome is known only once it has committed"]
pub struct QueuedAppend(Queued);

enum Queued {
    /// Settled before it was returned (a store without a write queue).
    Settled(Option<StoreResult<Appended>>),
    /// Waiting for the writer's answer.
    Waiting(oneshot::Receiver<StoreResult<Appended>>),
}

impl QueuedAppend {
    /// An append whose outcome is already known.
    pub fn settled(outcome: StoreResult<Appended>) -> Self {
        QueuedAppend(Queued::Settled(Some(outcome)))
    }

    /// An append the writer answers on `answer` once it has committed.
    pub fn waiting(answer: oneshot::Receiver<StoreResult<Appended>>) -> Self {
        QueuedAppend(Queued::Waiting(answer))
    }
}

impl Future for QueuedAppend {
    type Output = StoreResult<Appended>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.0 {
            Queued::Settled(outcome) => Poll::Ready(outcome.take().unwrap_or_else(|| {
                Err(StoreError::Backend("append polled after it settled".into()))
            })),
            Queued::Waiting(answer) => Pin::new(answer).poll(cx).map(|answer| {
                answer.unwrap_or_else(|_| {
                    Err(StoreError::Backend(
                        "the store closed before the append committed".into(),
                    ))
                })
            }),
        }
    }
}

impl std::fmt::Debug for QueuedAppend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            Queued::Settled(_) => "QueuedAppend(settled)",
            Queued::Waiting(_) => "QueuedAppend(waiting)",
        })
    }
}

#[derive(Debug, Clone)]
pub struct MessageRecord {
    pub id: MessageId,
    /// `None` once the sender's account is deleted.
    pub sender: Option<UserId>,
    pub conversation: Conversation,
    pub sent_at: Timestamp,
    pub recalled_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRecord {
    pub id: GroupId,
    pub name: GroupName,
    pub history_visible: bool,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRecord {
    pub user_id: UserId,
    pub username: Username,
    pub role: GroupRole,
    pub joined_at: Timestamp,
}

/// The account a 1:1 message is addressed to (see
/// [`Store::direct_target`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirectTarget {
    pub id: UserId,
    /// A registered third-party recipient receives as this account: a
    /// message to it goes through the sharing gateway, with consent.
    pub bot: bool,
}

/// The storage port. See the module documentation.
#[async_trait]
pub trait Store:
    crate::privacy_store::PrivacyStore + crate::sharing::SharingStore + Send + Sync + 'static
{
    // ---- accounts ----

    /// Fails with `Conflict` when the username is taken ("username is
    /// taken"), or the phone or email belongs to another account ("phone
    /// already in use", "email already in use").
    async fn create_user(&self, user: NewUser) -> StoreResult<()>;
    async fn user_by_name(&self, name: &Username) -> StoreResult<Option<UserRecord>>;
    /// What a send to `name` needs and nothing more: the account's id and
    /// whether a third-party recipient answers as this bot. One lookup,
    /// and no personal field is opened (a send happens per message).
    async fn direct_target(&self, name: &Username) -> StoreResult<Option<DirectTarget>>;
    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<UserRecord>>;
    /// The account with this phone number. Looked up by a keyed blind
    /// index: the store holds no phone in the clear.
    async fn user_by_phone(&self, phone: &Phone) -> StoreResult<Option<UserRecord>>;
    /// The account with this email address, in any letter case (see
    /// [`Email::normalised`]). Looked up by a keyed blind index.
    async fn user_by_email(&self, email: &Email) -> StoreResult<Option<UserRecord>>;

    // ---- devices and sessions ----

    async fn create_device(&self, device: NewDevice) -> StoreResult<()>;
    /// The live (not revoked) session holding this token hash.
    async fn session_by_token(&self, token: &TokenHash) -> StoreResult<Option<SessionRecord>>;
    async fn touch_device(&self, device: DeviceId, at: Timestamp) -> StoreResult<()>;
    /// Live devices of a user, oldest first.
    async fn devices(&self, user: UserId) -> StoreResult<Vec<DeviceRecord>>;
    /// Revoke one of the user's devices; `false` when it is not a live
    /// device of that user.
    async fn revoke_device(
        &self,
        user: UserId,
        device: DeviceId,
        at: Timestamp,
    ) -> StoreResult<bool>;

    // ---- messages and inboxes ----

    /// Atomically: check the idempotency key, store the message, and append
    /// one `message` event to the inbox of each user in `recipients` (which
    /// includes the sender). Users listed twice get one entry.
    async fn append_message(&self, msg: NewMessage, recipients: &[UserId])
        -> StoreResult<Appended>;
    /// [`append_message`](Store::append_message) without waiting for the
    /// commit: returns once the append has its place in the write queue,
    /// so that appends queued after it commit after it. An error here
    /// means nothing was queued. The default commits before returning.
    async fn queue_message(
        &self,
        msg: NewMessage,
        recipients: &[UserId],
    ) -> StoreResult<QueuedAppend> {
        Ok(QueuedAppend::settled(
            self.append_message(msg, recipients).await,
        ))
    }
    async fn message(&self, id: MessageId) -> StoreResult<Option<MessageRecord>>;
    /// Whether the user's inbox holds this message.
    async fn inbox_has_message(&self, user: UserId, id: MessageId) -> StoreResult<bool>;
    /// Events with seq > `after`, oldest first, at most `limit`.
    async fn inbox_after(
        &self,
        user: UserId,
        after: InboxSeq,
        limit: u32,
    ) -> StoreResult<Vec<InboxEvent>>;
    /// The newest seq in the user's inbox (0 when empty).
    async fn inbox_head(&self, user: UserId) -> StoreResult<InboxSeq>;
    /// Mark the message recalled, drop its content, and append a `recall`
    /// event to every inbox holding it. Returns the new entries.
    async fn recall_message(
        &self,
        id: MessageId,
        by: UserId,
        at: Timestamp,
    ) -> StoreResult<Vec<(UserId, InboxSeq)>>;
    /// Record a receipt and append a `receipt` event to the sender's inbox.
    /// `None` when this receipt was already recorded (nothing appended).
    async fn record_receipt(
        &self,
        id: MessageId,
        by: UserId,
        kind: ReceiptKind,
        at: Timestamp,
    ) -> StoreResult<Option<(UserId, InboxSeq)>>;

    // ---- groups ----

    /// Create a group with its initial members (the owner among them).
    async fn create_group(
        &self,
        group: GroupRecord,
        members: &[(UserId, GroupRole)],
    ) -> StoreResult<()>;
    async fn group(&self, id: GroupId) -> StoreResult<Option<GroupRecord>>;
    async fn update_group(
        &self,
        id: GroupId,
        name: Option<GroupName>,
        history_visible: Option<bool>,
    ) -> StoreResult<()>;
    /// Delete a group and its memberships (its messages stay in inboxes).
    async fn delete_group(&self, id: GroupId) -> StoreResult<()>;
    /// Members, oldest first.
    async fn members(&self, id: GroupId) -> StoreResult<Vec<MemberRecord>>;
    async fn membership(&self, id: GroupId, user: UserId) -> StoreResult<Option<MemberRecord>>;
    /// Fails with `Conflict` when the user is already a member.
    async fn add_member(
        &self,
        id: GroupId,
        user: UserId,
        role: GroupRole,
        at: Timestamp,
    ) -> StoreResult<()>;
    async fn set_member_role(&self, id: GroupId, user: UserId, role: GroupRole) -> StoreResult<()>;
    /// `false` when the user was not a member.
    async fn remove_member(&self, id: GroupId, user: UserId) -> StoreResult<bool>;
    /// The groups a user belongs to, with the user's role.
    async fn groups_of(&self, user: UserId) -> StoreResult<Vec<(GroupRecord, GroupRole)>>;
    /// Group messages sent at or after `since` and before `before`, newest
    /// first, at most `limit`; `seq` is 0 in the returned events.
    async fn group_history(
        &self,
        id: GroupId,
        since: Option<Timestamp>,
        before: Option<Timestamp>,
        limit: u32,
    ) -> StoreResult<Vec<InboxEvent>>;

    // ---- audit log (see `crate::audit`) ----

    /// Append one entry to the hash-chained audit log: the backend numbers
    /// and links it to the head under its single writer, so appends are
    /// serialised, and commits it durably before returning it. Entries
    /// hold pseudonymous ids only.
    async fn append_audit(&self, draft: EntryDraft) -> StoreResult<AuditEntry>;
    /// Entries with seq > `after_seq`, in order, at most `limit`.
    async fn audit_entries(&self, after_seq: u64, limit: u32) -> StoreResult<Vec<AuditEntry>>;
    /// The last seq and its hash (0 and the genesis hash when empty).
    async fn audit_head(&self) -> StoreResult<(u64, EntryHash)>;
    /// Keep a signed checkpoint; saving one with the same count again is a
    /// no-op.
    async fn save_audit_checkpoint(&self, checkpoint: &Checkpoint) -> StoreResult<()>;
    /// Every checkpoint kept, by increasing count.
    async fn audit_checkpoints(&self) -> StoreResult<Vec<Checkpoint>>;

    // ---- signing keys ----

    /// The ed25519 key for `purpose`, created on first use, from the key
    /// store behind the backend's field vault (see [`crate::signing`]).
    /// Generic: the audit log uses [`KeyPurpose::AUDIT`], deletion receipts
    /// [`KeyPurpose::RECEIPT`].
    async fn signing_key(&self, purpose: KeyPurpose) -> StoreResult<SigningKey>;

    // ---- operators (see `crate::staff`) ----

    /// Fails with `Conflict` ("operator name is taken") when the name is.
    async fn create_operator(&self, operator: OperatorRecord) -> StoreResult<()>;
    async fn operator_by_name(&self, name: &OperatorName) -> StoreResult<Option<OperatorRecord>>;
    async fn operator_by_id(&self, id: OperatorId) -> StoreResult<Option<OperatorRecord>>;
    /// Every operator, oldest first.
    async fn operators(&self) -> StoreResult<Vec<OperatorRecord>>;
    /// A new operator session, valid until `expires_at`; only the token's
    /// hash is stored.
    async fn create_operator_session(
        &self,
        token: &TokenHash,
        operator: OperatorId,
        at: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<()>;
    /// The operator holding this live (unexpired, unrevoked) session.
    async fn operator_by_session(
        &self,
        token: &TokenHash,
        now: Timestamp,
    ) -> StoreResult<Option<OperatorRecord>>;
    /// End an operator session; `false` when it was not live.
    async fn revoke_operator_session(&self, token: &TokenHash, at: Timestamp) -> StoreResult<bool>;
    /// Disable an operator and end every live session of theirs at once;
    /// `false` when they already were disabled.
    async fn disable_operator(&self, operator: OperatorId, at: Timestamp) -> StoreResult<bool>;
    /// Replace an operator's password hash and end their sessions other
    /// than `keep` (the one that asked). `NotFound` for an unknown operator.
    async fn set_operator_password(
        &self,
        operator: OperatorId,
        hash: &PasswordHashString,
        keep: &TokenHash,
        at: Timestamp,
    ) -> StoreResult<()>;

    // ---- justified access (see `crate::staff`) ----

    /// Entries about `subject`, with seq > `after_seq`, in order, at most
    /// `limit`: what a user's access log is built from.
    async fn audit_entries_about(
        &self,
        subject: &PseudonymousId,
        after_seq: u64,
        limit: u32,
    ) -> StoreResult<Vec<AuditEntry>>;
    async fn create_content_grant(&self, grant: &ContentGrantRecord) -> StoreResult<()>;
    async fn content_grant(&self, id: uuid::Uuid) -> StoreResult<Option<ContentGrantRecord>>;
    /// Approve a pending grant; `false` when it is not pending.
    async fn approve_content_grant(
        &self,
        id: uuid::Uuid,
        approver: OperatorId,
        at: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<bool>;
    /// An approved, unexpired grant of `requester` for `subject`, asked
    /// for this very `reason` and `ticket`.
    async fn live_content_grant(
        &self,
        requester: OperatorId,
        subject: UserId,
        reason: oriole_proto::ReasonCode,
        ticket: &crate::staff::TicketRef,
        now: Timestamp,
    ) -> StoreResult<Option<ContentGrantRecord>>;

    // ---- user rights (see `crate::rights`) ----

    /// The user's display name, when they set one.
    async fn display_name(&self, user: UserId) -> StoreResult<Option<DisplayName>>;
    /// Apply a profile correction and append one history entry per changed
    /// field, atomically. `Conflict` ("phone already in use", "email
    /// already in use") when another account holds the new value.
    async fn correct_profile(
        &self,
        user: UserId,
        correction: &ProfileCorrection,
        at: Timestamp,
    ) -> StoreResult<()>;
    /// The user's corrections, oldest first.
    async fn corrections(&self, user: UserId) -> StoreResult<Vec<CorrectionRecord>>;
    /// Every device session the user ever opened, revoked ones included
    /// (they keep their IP until the account is deleted), oldest first,
    /// with the time each was revoked.
    async fn device_history(
        &self,
        user: UserId,
    ) -> StoreResult<Vec<(DeviceRecord, Option<Timestamp>)>>;
    /// Messages the user sent, and messages in their inbox from others.
    async fn message_counts(&self, user: UserId) -> StoreResult<MessageCounts>;
    /// When the user last started an export of their data.
    async fn last_export(&self, user: UserId) -> StoreResult<Option<Timestamp>>;
    async fn record_export(&self, user: UserId, at: Timestamp) -> StoreResult<()>;
    /// Whether the username of a deleted account may not be registered
    /// again yet.
    async fn username_quarantined(&self, name: &Username, now: Timestamp) -> StoreResult<bool>;
    /// Erase an account at once, in a time that does not grow with its
    /// messages: destroy the user's data key first (so every copy of their
    /// sealed data is unreadable), then remove the profile (and its blind
    /// indexes), devices, memberships, consents, sharing and history, hand
    /// over or dissolve owned groups, quarantine the username, and record a
    /// [`DeletionPurge`](crate::rights::DeletionPurge) for the bulk rows
    /// left (inbox, receipts given, the sent messages' sender and
    /// ciphertext). The messages the user sent read as tombstones (no
    /// sender, no content) from then on.
    async fn erase_account(&self, erasure: AccountErasure) -> StoreResult<ErasureSummary>;
    /// Deleted accounts whose purge is not finished, oldest first.
    async fn deletion_purges(&self) -> StoreResult<Vec<crate::rights::DeletionPurge>>;
    /// Remove one batch (at most `limit` rows of each kind) of a deleted
    /// account's remaining rows; when none is left, delete the job.
    async fn purge_deleted_account(
        &self,
        user: UserId,
        limit: u32,
    ) -> StoreResult<crate::rights::PurgeStep>;
    /// The receipts the user gave, by message id then kind, at most
    /// `limit`, after `after` (keyset paging).
    async fn receipts_given(
        &self,
        user: UserId,
        after: Option<&ReceiptGiven>,
        limit: u32,
    ) -> StoreResult<Vec<ReceiptGiven>>;
    async fn insert_data_request(&self, request: &DsarRecord) -> StoreResult<()>;
    /// Requests, oldest first: every one, or only those of `user`.
    async fn data_requests(&self, user: Option<UserId>) -> StoreResult<Vec<DsarRecord>>;
    async fn data_request(&self, id: uuid::Uuid) -> StoreResult<Option<DsarRecord>>;
    /// Mark a request completed; `false` when it already was.
    async fn complete_data_request(
        &self,
        id: uuid::Uuid,
        at: Timestamp,
        by: &str,
    ) -> StoreResult<bool>;
}
