//! Third-party sharing (PRIVACY.md P13): REST bodies of the registry
//! (`/v1/privacy/third-parties`, `/v1/admin/third-parties`), of a user's
//! per-recipient consent and of the sharing ledger (`/v1/me/sharing`).
//! The webhooks themselves are described in `docs/sharing.md`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/admin/third-parties`: register a recipient.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct RegisterRecipient {
    /// Stable handle: lowercase letters, digits, `-`, `_`.
    pub name: String,
    /// How users and regulators reach the recipient.
    pub contact: String,
    pub purpose: String,
    /// Inventory items it may receive: `message.text`, `message.payload`,
    /// `message.metadata`, `account.username`.
    pub categories: Vec<String>,
    pub legal_basis: String,
    /// How long the recipient keeps what it receives.
    pub retention: String,
    /// Webhook URL: https, or http to a loopback address.
    pub url: String,
    /// The bot account the recipient answers for, by username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot: Option<String>,
}

/// A recipient as the public list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RecipientInfo {
    pub name: String,
    pub contact: String,
    pub purpose: String,
    pub categories: Vec<String>,
    pub legal_basis: String,
    pub retention: String,
    /// The bot's username, when messages to a bot go to this recipient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot: Option<String>,
    /// Unix milliseconds.
    pub registered_at: i64,
}

/// `GET /v1/privacy/third-parties`: the third-party sharing list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ThirdParties {
    pub recipients: Vec<RecipientInfo>,
}

/// The answer to a registration: the signing secret is shown this once.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RegisteredRecipient {
    pub recipient: RecipientInfo,
    pub url: String,
    /// `whsec_...`: give it to the recipient to verify webhooks and sign
    /// callbacks.
    pub signing_secret: String,
}

/// The answer to `POST`/`DELETE /v1/me/sharing/{recipient}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SharingConsentStatus {
    pub recipient: String,
    pub granted: bool,
    /// Unix milliseconds.
    pub at: i64,
    /// Queued deliveries dropped by a revocation.
    #[serde(default)]
    pub dropped: u64,
}

/// A current grant.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SharingGrantInfo {
    pub recipient: String,
    pub granted_at: i64,
}

/// One delivered webhook about the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SharingLedgerEntry {
    /// The delivery's idempotency key (the webhook's `id`).
    pub id: String,
    pub recipient: String,
    /// `message` or `erasure_request`.
    pub kind: String,
    pub categories: Vec<String>,
    /// Unix milliseconds.
    pub delivered_at: i64,
}

/// `GET /v1/me/sharing`: what was shared with which third party, newest
/// first, and the consents in force.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MySharing {
    pub grants: Vec<SharingGrantInfo>,
    pub ledger: Vec<SharingLedgerEntry>,
}

/// The answer to a bot's callback: the message delivered to the user.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CallbackAccepted {
    pub message_id: String,
}

/// A webhook that failed every attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeadLetter {
    /// The delivery's idempotency key.
    pub id: String,
    pub recipient: String,
    pub attempts: u32,
}

/// `GET /v1/admin/third-parties/dead-letters`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeadLetters {
    pub deliveries: Vec<DeadLetter>,
}

/// `POST /v1/admin/disclosures`: record a legal disclosure (P14).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct RecordDisclosure {
    /// The user whose data is disclosed (username).
    pub user: String,
    /// Who demanded it, e.g. a court or a police authority.
    pub authority: String,
    /// The authority's case or order reference.
    pub case_ref: String,
    /// Sections of the user's data (as in `GET /v1/me/data`): `profile`,
    /// `devices`, `groups`, `messages`, ...
    pub scope: Vec<String>,
    /// Until when the law forbids telling the user (Unix ms); absent: the
    /// user is told at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defer_until: Option<i64>,
}

/// The answer: the record, and the scoped export to hand over.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DisclosureRecord {
    pub user: String,
    pub authority: String,
    pub case_ref: String,
    pub scope: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defer_until: Option<i64>,
    pub recorded_at: i64,
    /// Only the sections in scope.
    pub export: crate::MyData,
}

/// What a [`UserNotice`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// The user's data was disclosed to an authority (a legal disclosure),
    /// told at once or when the legal deferral ended.
    DataDisclosed,
}

/// A notice to the user: pushed as the `notice` WebSocket frame to every
/// connected device, or delivered after `hello` (and with the next sync
/// page) to a user who was offline. Names no member of staff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserNotice {
    /// Stable id: a client that sees it twice shows it once.
    pub id: String,
    pub kind: NoticeKind,
    /// When the disclosure happened (Unix ms).
    pub at: i64,
    /// The sections of the user's data disclosed (as in `GET /v1/me/data`).
    pub scope: Vec<String>,
    /// Their data categories (from the inventory).
    pub categories: Vec<String>,
    /// Who demanded it.
    pub authority: String,
    /// A sentence for people.
    pub message: String,
}
