//! The `[sharing]` settings: how the gateway retries webhooks that fail,
//! and how often due legal-disclosure notices are pushed (documented in
//! docs/configuration.md and docs/sharing.md).

use std::time::Duration;

use oriole_core::sharing::RetrySchedule;
use serde::{Deserialize, Serialize};

use crate::settings::SettingsError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SharingSettings {
    /// Milliseconds before the first retry; doubled after each failure.
    pub retry_base_ms: u64,
    /// Longest wait between two attempts, in seconds.
    pub retry_max_secs: u64,
    /// Attempts in all before a delivery goes to the dead-letter store.
    pub max_attempts: u32,
    /// Milliseconds between two looks for legal-disclosure notices whose
    /// deferral ended (how late such a notice may reach a connected user).
    pub notice_check_ms: u64,
}

impl Default for SharingSettings {
    fn default() -> Self {
        let core = RetrySchedule::default();
        SharingSettings {
            retry_base_ms: u64::try_from(core.base.as_millis()).unwrap_or(u64::MAX),
            retry_max_secs: core.max.as_secs(),
            max_attempts: core.max_attempts,
            notice_check_ms: 30_000,
        }
    }
}

impl SharingSettings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.max_attempts == 0 || self.retry_base_ms == 0 || self.notice_check_ms == 0 {
            return Err(SettingsError::Invalid(
                "sharing.max_attempts, sharing.retry_base_ms and sharing.notice_check_ms must \
                 be at least 1"
                    .to_owned(),
            ));
        }
        Ok(())
    }

    pub fn schedule(&self) -> RetrySchedule {
        RetrySchedule {
            base: Duration::from_millis(self.retry_base_ms),
            max: Duration::from_secs(self.retry_max_secs)
                .max(Duration::from_millis(self.retry_base_ms)),
            max_attempts: self.max_attempts,
        }
    }
}
