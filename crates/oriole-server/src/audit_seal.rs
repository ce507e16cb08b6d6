//! The audit settings and the tasks that seal the audit log and write its
//! periodic report: every `checkpoint_secs` (and once at shutdown) a
//! checkpoint is signed over the log's head with the audit key from the key
//! store, when the head moved; every `report_secs` the audit report over
//! that period is written to `DATA/reports/audit-<time>.md` and `.json`.

use std::path::PathBuf;
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
    /// Seconds between audit reports written to `DATA/reports` (each over
    /// the period since the last); `0` turns them off.
    pub report_secs: u64,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            checkpoint_secs: 300,
            report_secs: 86_400,
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

/// Write the audit report over `[since_ms, now)` to
/// `DATA/reports/audit-<time>.md` and `.json` (`<time>` is the end of the
/// period, UTC); returns the Markdown file's path and the period's end, the
/// next report's start. Each file is written beside its final name, then
/// renamed, so a reader never sees half of one.
pub async fn write_report<S: Store>(
    state: &AppState<S>,
    since_ms: i64,
) -> Result<(PathBuf, i64), String> {
    let report = state
        .oriole
        .audit_report(since_ms)
        .await
        .map_err(|e| e.to_string())?;
    let json = report.to_json().map_err(|e| e.to_string())?;
    let dir = state.settings.data_dir.join("reports");
    let stem = format!("audit-{}", oriole_audit::compact_utc(report.until));
    let md = dir.join(format!("{stem}.md"));
    let write = |path: PathBuf, text: String| async move {
        let part = path.with_extension("part");
        tokio::fs::write(&part, text).await?;
        tokio::fs::rename(&part, &path).await
    };
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    write(dir.join(format!("{stem}.json")), json)
        .await
        .map_err(|e| format!("{stem}.json: {e}"))?;
    write(md.clone(), report.to_markdown())
        .await
        .map_err(|e| format!("{stem}.md: {e}"))?;
    Ok((md, report.until))
}

/// Start the report task when `report_secs` is not 0; it stops when `stop`
/// is cancelled. The first report is written one period after start and
/// covers the time since start; each next one starts where the last ended,
/// so a late tick (a busy machine) widens a period instead of leaving a gap
/// no report covers. A failed report's period is folded into the next.
pub fn spawn_reporter<S: Store>(state: Arc<AppState<S>>, stop: CancellationToken) {
    let secs = state.settings.audit.report_secs;
    if secs == 0 {
        return;
    }
    let every = Duration::from_secs(secs);
    let mut since = state.oriole.now_ms();
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = ticker.tick() => {}
            }
            match write_report(&state, since).await {
                Ok((path, until)) => {
                    since = until;
                    tracing::info!(path = %path.display(), "audit report written");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "writing the audit report failed; retried next period")
                }
            }
        }
    });
}
