//! REST request and response bodies under `/v1/`, and the inbox event that
//! both REST sync and the WebSocket stream carry.
//!
//! Identifiers are opaque strings (UUIDv7 text); users are addressed by
//! username on the wire; times are Unix milliseconds (UTC).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

// ---------- accounts and sessions ----------

/// `POST /v1/accounts`: create an account and log in on this device.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct RegisterRequest {
    pub username: String,
    pub password: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    /// Optional purposes consented to at registration (e.g.
    /// `device_diagnostics`, without which the device model and OS version
    /// are not stored).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consents: Vec<String>,
}

/// `POST /v1/sessions`: log in, creating a new device session.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
}

/// A new session: the bearer token is shown once and stored only as a hash.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SessionResponse {
    pub user_id: String,
    pub username: String,
    pub device_id: String,
    pub token: String,
}

/// `GET /v1/me`: the caller's own account.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Profile {
    pub user_id: String,
    pub username: String,
    /// The name shown to others, if set (`PATCH /v1/me`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub created_at: i64,
}

/// One logged-in device, as reported at login (`GET /v1/devices`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeviceInfo {
    pub device_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    pub first_seen: i64,
    pub last_seen: i64,
    /// True for the device whose token made this request.
    pub current: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeviceList {
    pub devices: Vec<DeviceInfo>,
}

// ---------- messages ----------

/// `POST /v1/messages`, and the body of the WebSocket `send` frame.
/// Exactly one of `to` (a username) and `group` (a group id) is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SendMessage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// App-defined JSON, stored and delivered as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub payload: Option<serde_json::Value>,
    /// Retries with the same key store the message once and get the same id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

/// The answer to a send, given only after the message is durably committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SendAck {
    pub message_id: String,
    /// The sequence of the copy in the sender's own inbox.
    pub seq: u64,
    pub sent_at: i64,
    /// True when the idempotency key matched an earlier send.
    pub duplicate: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptKind {
    Delivered,
    Read,
}

impl ReceiptKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptKind::Delivered => "delivered",
            ReceiptKind::Read => "read",
        }
    }
}

/// `POST /v1/messages/{id}/receipts`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReceiptRequest {
    pub kind: ReceiptKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A message was sent (to me, or by me from any of my devices).
    Message,
    /// A message was recalled by its sender; clients hide its content.
    Recall,
    /// Someone confirmed delivery or reading of a message I sent.
    Receipt,
}

/// One entry of a user's inbox. Every user has one inbox with a strictly
/// increasing `seq`; all of the user's devices read the same inbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InboxEvent {
    pub seq: u64,
    pub kind: EventKind,
    /// The message this event is about (also the message id for `message`).
    pub id: String,
    /// Username of the actor: the sender, the recaller, or the receipt's author.
    /// `null` when that account has been deleted.
    pub from: Option<String>,
    /// Recipient username, for a 1:1 message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Group id, for a group message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Message text; absent once recalled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub payload: Option<serde_json::Value>,
    /// When the message was sent.
    pub sent_at: i64,
    /// When this event happened (equals `sent_at` for `message`).
    pub at: i64,
    /// For `receipt` events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<ReceiptKind>,
    /// True when the message has been recalled.
    #[serde(default)]
    pub recalled: bool,
}

/// `GET /v1/sync?after=SEQ&limit=N`: one page of the caller's inbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SyncPage {
    pub events: Vec<InboxEvent>,
    /// The cursor for the next page (the last seq returned, or `after`).
    pub next: u64,
    /// True when more events are waiting after `next`.
    pub more: bool,
    /// A privacy policy version published since the caller was last told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<crate::consent::PolicyNotice>,
    /// Notices to the user (e.g. a legal disclosure) not delivered yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<crate::sharing::UserNotice>,
}

// ---------- groups ----------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupRole {
    Owner,
    Admin,
    Member,
}

impl GroupRole {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupRole::Owner => "owner",
            GroupRole::Admin => "admin",
            GroupRole::Member => "member",
        }
    }
}

/// `POST /v1/groups`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct CreateGroup {
    pub name: String,
    /// Usernames to add as members besides the creator (the owner).
    #[serde(default)]
    pub members: Vec<String>,
    /// Whether members added later see messages sent before they joined.
    #[serde(default)]
    pub history_visible: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GroupInfo {
    pub group_id: String,
    pub name: String,
    pub history_visible: bool,
    pub created_at: i64,
    /// The caller's role in the group.
    pub role: GroupRole,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GroupList {
    pub groups: Vec<GroupInfo>,
}

/// `PATCH /v1/groups/{id}` (owner or admin).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct UpdateGroup {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_visible: Option<bool>,
    /// Keep this group's messages this many days, overriding the
    /// deployment's `retention.message_days`; `0` returns to the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_retention_days: Option<u32>,
}

/// `POST /v1/groups/{id}/members` (owner or admin; only the owner makes admins).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AddMember {
    pub username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<GroupRole>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MemberInfo {
    pub username: String,
    pub role: GroupRole,
    pub joined_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MemberList {
    pub members: Vec<MemberInfo>,
}

/// `GET /v1/groups/{id}/messages?before=MS&limit=N`: group history visible to
/// the caller, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GroupHistory {
    pub messages: Vec<InboxEvent>,
}

/// `GET /v1/health`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub protocol: u32,
    pub version: String,
}

// ---------- privacy ----------

/// The kind of personal data an inventory item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DataCategory {
    Identity,
    Usage,
    Device,
    Content,
    Security,
    Consent,
}

/// Why a piece of personal data is processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Providing the messaging service the user signed up for.
    Service,
    /// Keeping accounts and the service secure (abuse, account takeover).
    Security,
    /// Diagnosing problems with the apps: device model and OS version
    /// (optional, with consent).
    DeviceDiagnostics,
    /// Improving the product from usage events (optional, with consent).
    ProductAnalytics,
}

/// The legal ground for processing an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LegalBasis {
    Contract,
    Consent,
    LegalObligation,
    LegitimateInterest,
}

/// An operator role that may be granted access to an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OperatorRole {
    Admin,
    Support,
    Auditor,
    PrivacyOfficer,
}

/// How an item is stored at rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProtectionKind {
    /// Sealed with the owner's data key.
    EncryptedAtRest,
    /// In the clear, by a justified exception (see `justification`).
    Clear,
}

/// How long an item is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RetentionInfo {
    pub description: String,
    /// A fixed period in days, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
}

/// One entry of the personal-data inventory (the "list of personal
/// information collected").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InventoryItem {
    /// Stable identifier, e.g. `message.text`.
    pub id: String,
    pub description: String,
    pub category: DataCategory,
    /// Where it is stored, as `table.column`.
    pub fields: Vec<String>,
    pub purposes: Vec<Purpose>,
    pub legal_basis: LegalBasis,
    /// Needed to provide the service (`false`: optional).
    pub necessary: bool,
    pub retention: RetentionInfo,
    /// Operator roles that may see it.
    pub visible_to: Vec<OperatorRole>,
    /// Third parties that may receive it.
    pub recipients: Vec<String>,
    pub protection: ProtectionKind,
    /// Why it is stored in the clear (only with `protection: clear`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
}

/// `GET /v1/privacy/inventory`: every personal-data item Oriole stores.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PrivacyInventory {
    pub items: Vec<InventoryItem>,
}
