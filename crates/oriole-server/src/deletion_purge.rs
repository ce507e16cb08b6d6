//! The background purge of deleted accounts (issue 6): `DELETE /v1/me`
//! destroys the data key and removes the account at once, and leaves the
//! bulk rows (inbox, receipts given, the sent messages' sender and
//! ciphertext) to this worker. It runs every pending job at start-up (a
//! purge cut short by a crash or restart continues), then whenever an
//! account is deleted, in batches of `user_rights.purge_batch_size`.

use std::sync::Arc;
use std::time::Duration;

use oriole_core::Store;
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// How long the worker waits after a failed batch before trying again.
const RETRY_AFTER: Duration = Duration::from_secs(5);

pub fn spawn_worker<S: Store>(state: Arc<AppState<S>>, stop: CancellationToken) {
    let wake = state.oriole.purge_wakeup();
    tokio::spawn(async move {
        loop {
            // Registered before looking, so a deletion in between is seen.
            let woken = wake.notified();
            let wait = match purge_all(&state, &stop).await {
                Ok(()) => None,
                Err(code) => {
                    tracing::warn!(%code, "deletion purge failed; retrying");
                    Some(RETRY_AFTER)
                }
            };
            if stop.is_cancelled() {
                break;
            }
            match wait {
                Some(after) => tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(after) => {}
                },
                None => tokio::select! {
                    () = stop.cancelled() => break,
                    () = woken => {}
                },
            }
        }
    });
}

/// Every pending purge to its end (or until `stop`).
async fn purge_all<S: Store>(
    state: &AppState<S>,
    stop: &CancellationToken,
) -> Result<(), oriole_proto::ErrorCode> {
    let rights = state.settings.user_rights;
    let pause = Duration::from_millis(rights.purge_pause_ms);
    let jobs = state
        .oriole
        .pending_deletion_purges()
        .await
        .map_err(|e| e.code)?;
    for job in jobs {
        loop {
            if stop.is_cancelled() {
                return Ok(());
            }
            let step = state
                .oriole
                .purge_step(job.user, rights.purge_batch_size)
                .await
                .map_err(|e| e.code)?;
            if step.done {
                break;
            }
            if !pause.is_zero() {
                tokio::select! {
                    () = stop.cancelled() => return Ok(()),
                    () = tokio::time::sleep(pause) => {}
                }
            }
        }
    }
    Ok(())
}
