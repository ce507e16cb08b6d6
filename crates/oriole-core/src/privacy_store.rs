//! The storage port for consent, the privacy policy and retention: a
//! supertrait of [`Store`](crate::Store), so every backend provides it.

use async_trait::async_trait;
use oriole_proto::{ConsentChannel, Purpose};

use crate::consent::{AnalyticsEventName, PolicyLang, PolicyText, PolicyVersion};
use crate::domain::{GroupId, Timestamp, UserId};
use crate::store::StoreResult;

/// One consent change: a row of the history, never updated or deleted
/// while the account exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentChange {
    pub user: UserId,
    pub purpose: Purpose,
    pub granted: bool,
    pub policy_version: PolicyVersion,
    pub channel: ConsentChannel,
    pub at: Timestamp,
}

/// A published policy version and the languages it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyVersionRecord {
    pub version: PolicyVersion,
    pub material: bool,
    pub published_at: Timestamp,
    pub languages: Vec<PolicyLang>,
}

/// A policy text to store: the first for its version publishes the version.
#[derive(Debug, Clone)]
pub struct NewPolicyText {
    pub version: PolicyVersion,
    pub lang: PolicyLang,
    pub text: PolicyText,
    /// Only used when the version is new.
    pub material: bool,
    pub at: Timestamp,
}

/// What [`PrivacyStore::publish_policy_text`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// A new version exists now.
    NewVersion,
    /// A language was added to an existing version.
    Translation,
}

/// One kind of data a retention run removes once its period is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purge {
    /// Clear the IP, device model and OS version of devices last used
    /// before the cutoff.
    DeviceDetailsIdle,
    /// Clear the same of revoked (logged-out) devices, whatever the cutoff.
    DeviceDetailsRevoked,
    /// Delete device rows (the login history; an idle session ends) last
    /// used before the cutoff.
    LoginHistory,
    /// Delete direct messages, and messages of groups without an override,
    /// sent before the cutoff (their inbox entries and receipts go with
    /// them).
    Messages,
    /// Delete this group's messages sent before the cutoff.
    GroupMessages(GroupId),
    /// Delete usage events recorded before the cutoff.
    AnalyticsEvents,
}

#[async_trait]
pub trait PrivacyStore: Send + Sync + 'static {
    // ---- consent ----

    /// Append a consent change. A withdrawal erases, in the same
    /// transaction, what was collected for the purpose (device model and OS
    /// version of every device of the user; the user's usage events), and
    /// the number of values erased is returned.
    async fn record_consent(&self, change: ConsentChange) -> StoreResult<u64>;
    /// The user's consent changes, oldest first.
    async fn consent_history(&self, user: UserId) -> StoreResult<Vec<ConsentChange>>;
    /// Whether the user's newest change for `purpose` is a grant.
    async fn has_consent(&self, user: UserId, purpose: Purpose) -> StoreResult<bool>;
    /// Store a usage event if, in the same transaction, the user's
    /// `product_analytics` consent stands; `false` when it does not (nothing
    /// stored).
    async fn record_analytics_event(
        &self,
        user: UserId,
        name: &AnalyticsEventName,
        at: Timestamp,
    ) -> StoreResult<bool>;
    /// How many usage events are stored for the user.
    async fn analytics_event_count(&self, user: UserId) -> StoreResult<u64>;

    // ---- policy ----

    /// Store one text. `Conflict` when the version already has a text in
    /// that language (nothing changed).
    async fn publish_policy_text(&self, text: NewPolicyText) -> StoreResult<Published>;
    /// Every version, oldest first.
    async fn policy_versions(&self) -> StoreResult<Vec<PolicyVersionRecord>>;
    async fn policy_text(
        &self,
        version: PolicyVersion,
        lang: &PolicyLang,
    ) -> StoreResult<Option<PolicyText>>;
    /// Record that the user accepted `version` (again: no-op).
    async fn accept_policy(
        &self,
        user: UserId,
        version: PolicyVersion,
        channel: ConsentChannel,
        at: Timestamp,
    ) -> StoreResult<()>;
    /// The newest version the user accepted.
    async fn accepted_policy(&self, user: UserId) -> StoreResult<Option<PolicyVersion>>;
    /// The newest version the user was told about.
    async fn policy_notified(&self, user: UserId) -> StoreResult<Option<PolicyVersion>>;
    /// Record that these users were told about `version`.
    async fn mark_policy_notified(
        &self,
        users: &[UserId],
        version: PolicyVersion,
    ) -> StoreResult<()>;

    // ---- retention ----

    /// Remove at most `limit` rows of `purge` older than `cutoff`, and say
    /// how many; with `dry_run`, only count every row that would go.
    async fn purge(
        &self,
        purge: Purge,
        cutoff: Timestamp,
        limit: u32,
        dry_run: bool,
    ) -> StoreResult<u64>;
    /// Groups that keep their messages for their own number of days.
    async fn group_retention_overrides(&self) -> StoreResult<Vec<(GroupId, u32)>>;
    /// Set (or with `None` clear) a group's message retention override.
    async fn set_group_retention(&self, group: GroupId, days: Option<u32>) -> StoreResult<()>;
}
