//! The data subject's rights (PRIVACY.md P8–P12): the typed values and
//! records that correcting, viewing, exporting and deleting one's own data
//! work with. The services are in `service::rights`.

use std::fmt;
use std::str::FromStr;

use crate::domain::{Email, InvalidValue, Phone, Timestamp, UserId};

pub use crate::service::{
    section_items, verify_receipt, ExportJob, ReceiptError, EXPORT_FORMAT, NOT_PER_ACCOUNT,
    SECTIONS,
};

/// The name a user chooses to be shown with: 1 to 64 printable characters.
/// Personal data: sealed at rest, never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(InvalidValue("display name must not be empty".into()));
        }
        if s.chars().count() > 64 {
            return Err(InvalidValue(
                "display name must be at most 64 characters".into(),
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(InvalidValue(
                "display name must not contain control characters".into(),
            ));
        }
        Ok(DisplayName(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DisplayName(***)")
    }
}

/// What one correction does to one field: leave it, set it, or remove it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum FieldChange<T> {
    #[default]
    Keep,
    Set(T),
    Clear,
}

impl<T> FieldChange<T> {
    pub fn is_keep(&self) -> bool {
        matches!(self, FieldChange::Keep)
    }
}

/// A correction of the profile (`PATCH /v1/me`), every value already valid.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileCorrection {
    pub display_name: FieldChange<DisplayName>,
    pub phone: FieldChange<Phone>,
    pub email: FieldChange<Email>,
}

impl ProfileCorrection {
    pub fn is_empty(&self) -> bool {
        self.display_name.is_keep() && self.phone.is_keep() && self.email.is_keep()
    }

    /// The fields this correction changes, by their wire names.
    pub fn fields(&self) -> Vec<CorrectedField> {
        let mut out = Vec::new();
        if !self.display_name.is_keep() {
            out.push(CorrectedField::DisplayName);
        }
        if !self.phone.is_keep() {
            out.push(CorrectedField::Phone);
        }
        if !self.email.is_keep() {
            out.push(CorrectedField::Email);
        }
        out
    }
}

/// A profile field a user may correct.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorrectedField {
    DisplayName,
    Phone,
    Email,
}

impl CorrectedField {
    pub fn as_str(self) -> &'static str {
        match self {
            CorrectedField::DisplayName => "display_name",
            CorrectedField::Phone => "phone",
            CorrectedField::Email => "email",
        }
    }
}

impl FromStr for CorrectedField {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "display_name" => Ok(CorrectedField::DisplayName),
            "phone" => Ok(CorrectedField::Phone),
            "email" => Ok(CorrectedField::Email),
            _ => Err(InvalidValue(format!("unknown profile field `{s}`"))),
        }
    }
}

/// One entry of a user's correction history: which field changed, when,
/// and whether it was set or removed. The values are not kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorrectionRecord {
    pub field: CorrectedField,
    pub cleared: bool,
    pub at: Timestamp,
}

/// How many messages a user sent and holds in their inbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MessageCounts {
    pub sent: u64,
    pub received: u64,
}

/// What happens to the groups a deleted user owned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OwnedGroups {
    /// Ownership passes to the longest-standing admin, else the
    /// longest-standing member; a group with no one left is dissolved.
    #[default]
    Transfer,
    /// Every group the user owned is dissolved.
    Dissolve,
}

impl FromStr for OwnedGroups {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "transfer" => Ok(OwnedGroups::Transfer),
            "dissolve" => Ok(OwnedGroups::Dissolve),
            _ => Err(InvalidValue(format!(
                "unknown owned-groups policy `{s}`; use `transfer` or `dissolve`"
            ))),
        }
    }
}

/// How an account is erased.
#[derive(Debug, Clone, Copy)]
pub struct AccountErasure {
    pub user: UserId,
    pub owned_groups: OwnedGroups,
    /// The username may not be registered again before this time.
    pub quarantine_until: Timestamp,
    pub at: Timestamp,
}

/// What [`Store::erase_account`](crate::store::Store::erase_account) did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErasureSummary {
    /// Devices (sessions) removed; their sockets must be closed.
    pub devices: Vec<crate::domain::DeviceId>,
    /// Inbox entries left to the background purge (unreadable already).
    pub inbox_entries: u64,
    /// Messages the user sent: tombstones at once (no sender shown, content
    /// unreadable); their sender and ciphertext are cleared by the purge.
    pub messages_tombstoned: u64,
    pub memberships: u64,
    pub groups_transferred: u64,
    pub groups_dissolved: u64,
    pub corrections: u64,
}

/// A deleted account whose bulk rows are still being removed in the
/// background: how far the purge got (rows removed so far).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeletionPurge {
    pub user: UserId,
    pub requested_at: Timestamp,
    pub inbox_entries: u64,
    pub receipts: u64,
    pub messages: u64,
    pub batches: u64,
}

/// One batch of a deletion purge: the job's totals after it, and whether
/// nothing of the account is left (the job is then gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgeStep {
    pub job: DeletionPurge,
    pub done: bool,
}

/// Tunables of the user-rights services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RightsConfig {
    /// What happens to the groups a deleted user owned.
    pub owned_groups: OwnedGroups,
    /// How long a deleted account's username may not be registered again.
    pub username_quarantine_days: u32,
    /// Minimum time between two exports of one user's data.
    pub export_interval_secs: u64,
    /// Days support has to complete a data-subject request.
    pub dsar_deadline_days: u32,
}

impl Default for RightsConfig {
    fn default() -> Self {
        RightsConfig {
            owned_groups: OwnedGroups::Transfer,
            username_quarantine_days: 30,
            export_interval_secs: 3600,
            dsar_deadline_days: 15,
        }
    }
}

/// A delivery or read receipt the user gave for someone else's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptGiven {
    pub message_id: crate::domain::MessageId,
    pub kind: oriole_proto::ReceiptKind,
    pub at: Timestamp,
}

/// What a data-subject request asks support to do for a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DsarKind {
    Export,
    Delete,
    Correct,
}

impl DsarKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DsarKind::Export => "export",
            DsarKind::Delete => "delete",
            DsarKind::Correct => "correct",
        }
    }
}

impl FromStr for DsarKind {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "export" => Ok(DsarKind::Export),
            "delete" => Ok(DsarKind::Delete),
            "correct" => Ok(DsarKind::Correct),
            _ => Err(InvalidValue(format!(
                "unknown request kind `{s}`; use export, delete or correct"
            ))),
        }
    }
}

/// A data-subject request as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsarRecord {
    pub id: uuid::Uuid,
    /// `None` once the account is deleted.
    pub user: Option<UserId>,
    /// The audit pseudonym of the user.
    pub subject: String,
    pub kind: DsarKind,
    pub ticket: String,
    /// How support verified the requester's identity (free text, no
    /// personal data expected: e.g. "answered security questions").
    pub identity_check: String,
    /// Operator pseudonyms.
    pub opened_by: String,
    pub opened_at: Timestamp,
    pub due_at: Timestamp,
    pub completed_at: Option<Timestamp>,
    pub completed_by: Option<String>,
}
