//! The retention settings and the background job that enforces them
//! (PRIVACY.md P3): every `interval_secs` the job applies every retention
//! rule, in batches, and records the run in the audit log.

use std::sync::Arc;
use std::time::Duration;

use oriole_audit::Actor;
use oriole_core::retention::RetentionConfig;
use oriole_core::Store;
use oriole_proto::RetentionRunRequest;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// `[retention]`: how long personal data is kept, and how often the job
/// runs. Periods are in days; 0 turns a rule off (the data is then kept
/// until the account is deleted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RetentionSettings {
    /// Seconds between runs of the background job; 0 turns it off (runs
    /// happen only with `oriole admin retention run`).
    pub interval_secs: u64,
    /// Rows removed per transaction.
    pub batch_size: u32,
    /// IP address, device model and OS version are cleared this many days
    /// after the device was last used.
    pub device_details_days: u32,
    /// Device records (login history) are deleted this many days after
    /// last use.
    pub login_history_days: u32,
    /// Messages are deleted this many days after sending (0: kept until the
    /// sender's account is deleted); a group may set its own period.
    pub message_days: u32,
    /// Usage events (product analytics) are deleted after this many days.
    pub analytics_days: u32,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        let core = RetentionConfig::default();
        RetentionSettings {
            interval_secs: 3600,
            batch_size: core.batch_size,
            device_details_days: core.device_details_days,
            login_history_days: core.login_history_days,
            message_days: core.message_days,
            analytics_days: core.analytics_days,
        }
    }
}

impl RetentionSettings {
    /// The periods as the core services take them.
    pub fn config(&self) -> RetentionConfig {
        RetentionConfig {
            device_details_days: self.device_details_days,
            login_history_days: self.login_history_days,
            message_days: self.message_days,
            analytics_days: self.analytics_days,
            batch_size: self.batch_size,
        }
    }

    pub fn interval(&self) -> Option<Duration> {
        (self.interval_secs > 0).then(|| Duration::from_secs(self.interval_secs))
    }
}

/// Run the retention rules every interval until `stop`; the first run
/// comes one interval after start-up.
pub fn spawn_job<S: Store>(state: Arc<AppState<S>>, stop: CancellationToken) {
    let Some(every) = state.settings.retention.interval() else {
        tracing::info!("retention job off (retention.interval_secs = 0)");
        return;
    };
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = ticker.tick() => {}
            }
            let config = state.settings.retention.config();
            match state
                .oriole
                .run_retention(Actor::System, &config, RetentionRunRequest::default())
                .await
            {
                Ok(report) => {
                    state.metrics.retention_ran(&report);
                    tracing::info!(removed = report.total, "retention job ran")
                }
                Err(e) => {
                    tracing::warn!(code = %e.code, "retention job failed; retried next interval")
                }
            }
        }
    });
}
