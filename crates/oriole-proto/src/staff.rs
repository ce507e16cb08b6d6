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

/// `POST /v1/admin/sessions`: an operator logs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperatorLoginRequest {
    pub name: String,
    pub password: String,
}

/// An operator account as staff see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OperatorInfo {
    pub operator_id: String,
    pub name: String,
    pub role: crate::OperatorRole,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds; set once an admin disabled the account (no login,
    /// no session).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<i64>,
}

/// `PUT /v1/admin/password`: an operator sets their own new password; their
/// other sessions end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperatorPasswordRequest {
    pub password: String,
}

/// A new operator session; the token is shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OperatorSession {
    pub token: String,
    pub operator: OperatorInfo,
    /// Unix milliseconds after which the token stops working.
    pub expires_at: i64,
}

/// `POST /v1/admin/operators`: create an operator account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOperatorRequest {
    pub name: String,
    pub role: crate::OperatorRole,
    pub password: String,
}

/// `GET /v1/admin/operators`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OperatorList {
    pub operators: Vec<OperatorInfo>,
}

/// `GET /v1/audit/entries`: a page of the audit log, oldest first. Each
/// entry is in the export format of `docs/audit.md` (`seq`, `time`,
/// `actor`, `action`, `subject`, `details`, `prev_hash`, `hash`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    #[schema(value_type = Vec<Object>)]
    pub entries: Vec<serde_json::Value>,
}

/// `GET /v1/audit/checkpoints`: every signed checkpoint (`count`,
/// `head_hash`, `time`, `key_id`, `signature`; see `docs/audit.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditCheckpoints {
    #[schema(value_type = Vec<Object>)]
    pub checkpoints: Vec<serde_json::Value>,
}

/// Why an operator looks at a user's data: required, with a ticket, on
/// every such access (`?reason=CODE&ticket=REF`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    CustomerSupport,
    LegalRequest,
    SecurityIncident,
    AbuseReport,
}

impl ReasonCode {
    pub const ALL: [ReasonCode; 4] = [
        ReasonCode::CustomerSupport,
        ReasonCode::LegalRequest,
        ReasonCode::SecurityIncident,
        ReasonCode::AbuseReport,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::CustomerSupport => "customer_support",
            ReasonCode::LegalRequest => "legal_request",
            ReasonCode::SecurityIncident => "security_incident",
            ReasonCode::AbuseReport => "abuse_report",
        }
    }
}

/// `GET /v1/admin/users/{username}`: a user's account metadata as an
/// operator with `view_account_metadata` sees it. Never message content.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserAccountView {
    pub user_id: String,
    pub username: String,
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub devices: Vec<crate::DeviceInfo>,
    /// The data categories this access touched, as audited.
    pub categories: Vec<crate::DataCategory>,
}

/// One access by staff to my data (`GET /v1/me/access-log`): when, in
/// which role (never who), why, and what was looked at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AccessLogEntry {
    /// Unix milliseconds.
    pub time: i64,
    /// The operator's role, e.g. `support`.
    pub role: String,
    /// The reason code given.
    pub reason: String,
    /// The ticket the access was made for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    pub categories: Vec<String>,
}

/// `GET /v1/me/access-log`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AccessLog {
    pub accesses: Vec<AccessLogEntry>,
}

/// `POST /v1/admin/content-access`: ask for time-limited access to a
/// user's message content (two-person rule: another privacy officer must
/// approve).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContentAccessRequest {
    pub username: String,
    pub reason: ReasonCode,
    pub ticket: String,
}

/// A request for content access and its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ContentAccessGrant {
    pub grant_id: String,
    pub username: String,
    pub reason: ReasonCode,
    pub ticket: String,
    pub requested_at: i64,
    /// Set once another privacy officer approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_at: Option<i64>,
    /// The approval ends then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

/// `GET /v1/admin/users/{username}/messages`: the user's messages, under
/// an approved grant.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserMessagesView {
    pub events: Vec<crate::InboxEvent>,
}
