//! The `[user_rights]` settings: account deletion, exports and
//! support-assisted requests (documented in docs/configuration.md).

use oriole_core::rights::{OwnedGroups, RightsConfig};
use serde::{Deserialize, Serialize};

use crate::settings::SettingsError;

/// What happens to the groups a deleted user owned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OwnedGroupsSetting {
    /// Hand each group to its longest-standing admin, else member.
    #[default]
    Transfer,
    /// Dissolve every group the user owned.
    Dissolve,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserRightsSettings {
    /// `transfer` or `dissolve` the groups a deleted account owned.
    pub owned_groups: OwnedGroupsSetting,
    /// Days a deleted account's username may not be registered again.
    pub username_quarantine_days: u32,
    /// Minimum seconds between two exports of one user's data.
    pub export_interval_secs: u64,
    /// Days support has to complete a data-subject request.
    pub dsar_deadline_days: u32,
    /// Rows of each kind a deleted account's background purge removes per
    /// transaction.
    pub purge_batch_size: u32,
    /// Milliseconds the purge waits between two batches (0: none), to
    /// spare the disk for live traffic.
    pub purge_pause_ms: u64,
}

impl Default for UserRightsSettings {
    fn default() -> Self {
        let core = RightsConfig::default();
        UserRightsSettings {
            owned_groups: match core.owned_groups {
                OwnedGroups::Transfer => OwnedGroupsSetting::Transfer,
                OwnedGroups::Dissolve => OwnedGroupsSetting::Dissolve,
            },
            username_quarantine_days: core.username_quarantine_days,
            export_interval_secs: core.export_interval_secs,
            dsar_deadline_days: core.dsar_deadline_days,
            purge_batch_size: 10_000,
            purge_pause_ms: 0,
        }
    }
}

impl UserRightsSettings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.dsar_deadline_days == 0 {
            return Err(SettingsError::Invalid(
                "user_rights.dsar_deadline_days must be at least 1".to_owned(),
            ));
        }
        if self.purge_batch_size == 0 {
            return Err(SettingsError::Invalid(
                "user_rights.purge_batch_size must be at least 1".to_owned(),
            ));
        }
        Ok(())
    }

    pub fn core_config(&self) -> RightsConfig {
        RightsConfig {
            owned_groups: match self.owned_groups {
                OwnedGroupsSetting::Transfer => OwnedGroups::Transfer,
                OwnedGroupsSetting::Dissolve => OwnedGroups::Dissolve,
            },
            username_quarantine_days: self.username_quarantine_days,
            export_interval_secs: self.export_interval_secs,
            dsar_deadline_days: self.dsar_deadline_days,
        }
    }
}
