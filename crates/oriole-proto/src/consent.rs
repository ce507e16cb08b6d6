//! Purposes and consent, the versioned privacy policy, and retention runs
//! (PRIVACY.md P2, P3, P15): REST bodies under `/v1/me/consents`,
//! `/v1/privacy/policy`, `/v1/me/policy` and `/v1/admin/...`, and the policy
//! notice pushed to clients.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::{LegalBasis, Purpose};

/// Where a consent change or a policy acceptance was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentChannel {
    /// At account creation (`POST /v1/accounts`).
    Registration,
    /// The REST API, from an app.
    Api,
    /// The `oriole` command-line client.
    Cli,
}

impl ConsentChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentChannel::Registration => "registration",
            ConsentChannel::Api => "api",
            ConsentChannel::Cli => "cli",
        }
    }
}

/// The current state of one purpose for the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConsentState {
    pub purpose: Purpose,
    pub description: String,
    pub legal_basis: LegalBasis,
    /// Needed for the service: not subject to consent, always on.
    pub necessary: bool,
    /// Whether processing for this purpose happens: always for a necessary
    /// purpose; for an optional one only after a grant.
    pub granted: bool,
    /// When the caller last granted or withdrew it (absent: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<i64>,
}

/// One consent change, kept for good: the history is the proof of consent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConsentRecord {
    pub purpose: Purpose,
    /// `true`: granted; `false`: withdrawn.
    pub granted: bool,
    /// The privacy policy version in force when it was given.
    pub policy_version: u32,
    pub channel: ConsentChannel,
    pub at: i64,
}

/// `GET /v1/me/consents`: every purpose with its state, and the full
/// history of the caller's consent changes, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Consents {
    pub purposes: Vec<ConsentState>,
    pub history: Vec<ConsentRecord>,
}

/// `PUT /v1/me/consents`: grant or withdraw one optional purpose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SetConsent {
    /// A purpose name, e.g. `device_diagnostics`.
    pub purpose: String,
    pub granted: bool,
    /// Defaults to `api`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<ConsentChannel>,
}

/// `POST /v1/me/analytics`: a usage event reported by a client, stored only
/// with `product_analytics` consent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AnalyticsEvent {
    /// A lowercase identifier, e.g. `app_open` (letters, digits, `_`; at
    /// most 64).
    pub name: String,
}

/// The answer to an analytics event. Without consent nothing is stored and
/// the request still succeeds: declining never blocks the service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AnalyticsRecorded {
    pub recorded: bool,
}

/// `GET /v1/privacy/policy[?version=V][&lang=L]`: a policy text. Public.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PolicyDocument {
    pub version: u32,
    /// The language of `text` (the one asked for, else `en`, else the
    /// first one the version has).
    pub lang: String,
    /// Every language this version is published in.
    pub languages: Vec<String>,
    /// Whether users must accept this version again before going on.
    pub material: bool,
    pub published_at: i64,
    /// The newest version: the one in force.
    pub current: bool,
    pub text: String,
}

/// `GET /v1/me/policy`: where the caller stands with the policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PolicyStatus {
    /// The version in force.
    pub current: u32,
    /// The newest version the caller accepted (absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<u32>,
    /// The version the caller must accept before normal operations go on
    /// (absent: nothing is pending).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<u32>,
}

/// `POST /v1/me/policy/acceptances`: accept the current version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AcceptPolicy {
    pub version: u32,
    /// Defaults to `api`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<ConsentChannel>,
}

/// `POST /v1/admin/policies` (privacy officer): publish a version's text in
/// one language. The first text of a new version publishes it (it becomes
/// current and users are notified); later ones add translations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PublishPolicy {
    pub version: u32,
    /// A language tag such as `en` or `zh-CN`.
    pub lang: String,
    pub text: String,
    /// Users must accept it again before going on (new versions only).
    #[serde(default)]
    pub material: bool,
}

/// The answer to a publish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PolicyPublished {
    pub version: u32,
    pub lang: String,
    pub material: bool,
    /// `true`: a new version was published; `false`: a translation was added.
    pub new_version: bool,
    /// Connections the notice was pushed to at once (the others get it on
    /// their next connection or sync).
    pub notified_connections: u64,
}

/// A new policy version was published: pushed as the `policy_notice`
/// WebSocket frame, and carried by the next sync page for a user not yet
/// told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PolicyNotice {
    pub version: u32,
    /// When `true`, normal operations answer `consent_required` until the
    /// user accepts this version.
    pub material: bool,
    pub published_at: i64,
    pub message: String,
}

/// One retention rule: what it removes, after how long.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RetentionRule {
    /// Stable name, e.g. `device_details_idle`.
    pub rule: String,
    /// The inventory items it enforces.
    pub items: Vec<String>,
    pub description: String,
    /// The period (absent: immediate, or off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
    /// A rule whose period is not configured does nothing.
    pub enabled: bool,
}

/// `GET /v1/admin/retention`: every rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RetentionRules {
    pub rules: Vec<RetentionRule>,
    /// Deleted accounts whose rows are still being removed in the
    /// background (their data key is already destroyed); empty when every
    /// purge has finished.
    #[serde(default)]
    pub deletion_purges: Vec<DeletionPurgeInfo>,
}

/// A deleted account's background purge: what it removed so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeletionPurgeInfo {
    /// The account's audit pseudonym.
    pub subject: String,
    /// When the account was deleted (Unix ms).
    pub requested_at: i64,
    /// Inbox entries removed so far.
    pub inbox_entries: u64,
    /// Receipts the user gave, removed so far.
    pub receipts: u64,
    /// Sent messages whose sender and ciphertext were cleared so far.
    pub messages: u64,
    /// Batches run so far.
    pub batches: u64,
}

/// `POST /v1/admin/retention/run` (admin).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RetentionRunRequest {
    /// Count what would be removed; change nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Only this rule (default: every rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

/// What one rule removed (or, in a dry run, would remove).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RetentionCount {
    pub rule: String,
    /// Rows changed or deleted.
    pub count: u64,
    /// Batches it took.
    pub batches: u64,
}

/// The answer to a retention run, and what the background job logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RetentionReport {
    pub dry_run: bool,
    /// The time the periods were measured from.
    pub at: i64,
    pub counts: Vec<RetentionCount>,
    pub total: u64,
}
