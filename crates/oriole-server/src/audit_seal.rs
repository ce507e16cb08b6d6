//! The audit settings and the task that seals the audit log: every
//! `checkpoint_secs` (and once at shutdown) it signs a checkpoint over the
//! log's head with the audit key from the key store, when the head moved.

use std::sync::Arc;
use std::time::Duration;

use oriole_core::Store;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// `[audit]`: how often the audit log is sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditSettings {
    /// Seconds between signed checkpoints (only when new entries were
    /// appended). Entries after the last checkpoint are chained but not yet
    /// signed, so this bounds how much of the tail could be cut unnoticed.
    pub checkpoint_secs: u64,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            checkpoint_secs: 300,
        }
    }
}

/// Seal once, logging the outcome.
pub async fn seal_now<S: Store>(state: &AppState<S>) {
    match state.oriole.seal_audit_log().await {
        Ok(Some(cp)) => tracing::info!(count = cp.count, "audit log sealed"),
        Ok(None) => {}
        Err(e) => tracing::warn!(code = %e.code, "sealing the audit log failed; retried later"),
    }
}

/// Start the sealing task; it stops when `stop` is cancelled (the caller
/// seals once more after the server has drained).
pub fn spawn_sealer<S: Store>(state: Arc<AppState<S>>, stop: CancellationToken) {
    let every = Duration::from_secs(state.settings.audit.checkpoint_secs.max(1));
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = ticker.tick() => {}
            }
            seal_now(&state).await;
        }
    });
}
