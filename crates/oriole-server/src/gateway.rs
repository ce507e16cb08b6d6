//! The sharing gateway's delivery worker: POSTs due webhooks from the
//! durable outbox, signed for each attempt, and records the outcome
//! (ledger on success, back-off or the dead-letter store on failure).
//! Deliveries survive a restart because the outbox is in the database; a
//! delivery whose outcome was not recorded before a crash is sent again
//! with the same idempotency key.
//!
//! Beside it runs the notice task: every `[sharing] notice_check_ms` it
//! pushes the legal-disclosure notices whose deferral ended to connected
//! users (the others get theirs at their next connection).

use std::sync::Arc;
use std::time::Duration;

use oriole_core::service::OutgoingWebhook;
use oriole_core::sharing::RetrySchedule;
use oriole_core::Store;
use oriole_gateway::{DELIVERY_HEADER, SIGNATURE_HEADER};
use rustls::{ClientConfig, RootCertStore};
use tokio_util::sync::CancellationToken;

use crate::state::SharedState;

/// Longest wait between two looks at the outbox (new deliveries are
/// picked up within it).
const POLL: Duration = Duration::from_millis(200);
/// Deliveries taken per look.
const BATCH: u32 = 32;
/// One attempt's limit.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

fn http_client() -> Result<reqwest::Client, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .with_root_certificates(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        })
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        // A redirect could carry the data to a host nobody registered.
        .redirect(reqwest::redirect::Policy::none())
        .timeout(ATTEMPT_TIMEOUT)
        .user_agent(concat!("oriole-gateway/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())
}

/// Start the worker and the notice task; they stop when `shutdown` is
/// cancelled.
pub fn spawn_worker<S: Store>(state: SharedState<S>, shutdown: CancellationToken) {
    spawn_notice_task(state.clone(), shutdown.clone());
    let http = match http_client() {
        Ok(http) => http,
        Err(e) => {
            tracing::error!(error = %e, "sharing gateway disabled: no HTTP client");
            return;
        }
    };
    let schedule: RetrySchedule = state.settings.sharing.schedule();
    tokio::spawn(async move {
        loop {
            let taken = match state.oriole.due_webhooks(BATCH).await {
                Ok(hooks) => {
                    let n = hooks.len();
                    for hook in hooks {
                        if shutdown.is_cancelled() {
                            return;
                        }
                        deliver(&state, &http, &schedule, hook).await;
                    }
                    n
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reading the sharing outbox failed");
                    0
                }
            };
            if u32::try_from(taken).unwrap_or(u32::MAX) >= BATCH {
                continue;
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(POLL) => {}
            }
        }
    });
}

async fn deliver<S: Store>(
    state: &SharedState<S>,
    http: &reqwest::Client,
    schedule: &RetrySchedule,
    hook: OutgoingWebhook,
) {
    // A revocation since the batch was read drops the delivery at once.
    match state.oriole.webhook_pending(hook.id).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            tracing::warn!(error = %e, "reading the sharing outbox failed");
            return;
        }
    }
    let outcome = http
        .post(hook.url.as_url().clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, &hook.signature)
        .header(DELIVERY_HEADER, hook.id.to_string())
        .body(hook.body.clone())
        .send()
        .await;
    let accepted = match outcome {
        Ok(resp) if resp.status().is_success() => true,
        Ok(resp) => {
            tracing::info!(delivery = %hook.id, status = %resp.status(), "webhook refused");
            false
        }
        Err(e) => {
            // The URL is the recipient's, not a user's: fine to log.
            tracing::info!(delivery = %hook.id, error = %e, "webhook not delivered");
            false
        }
    };
    let recorded =
        if accepted {
            state.oriole.webhook_delivered(hook.id).await
        } else {
            state.oriole.webhook_failed(&hook, schedule).await.map(
                |after| tracing::debug!(delivery = %hook.id, ?after, "webhook will be retried"),
            )
        };
    if let Err(e) = recorded {
        tracing::warn!(delivery = %hook.id, error = %e, "recording a delivery failed");
    }
}

/// Notices handled per look (more wait for the next one, at once).
const NOTICE_BATCH: u32 = 64;

/// Push due notices (deferrals that ended) every `notice_check_ms`. The
/// notices are rows in the database, so one due during a restart is
/// pushed after it, or delivered at the user's next connection.
fn spawn_notice_task<S: Store>(state: SharedState<S>, shutdown: CancellationToken) {
    let every = Duration::from_millis(state.settings.sharing.notice_check_ms.max(1));
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            loop {
                match state.oriole.announce_due_notices(NOTICE_BATCH).await {
                    Ok(n) if u32::try_from(n).unwrap_or(u32::MAX) >= NOTICE_BATCH => continue,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "pushing due notices failed; retried later");
                        break;
                    }
                }
            }
        }
    });
}
