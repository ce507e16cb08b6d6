//! Operational counters, served in the Prometheus text format on a
//! separate listener (`metrics_listen`, off by default) so that scraping
//! never shares a port with users. Labels name rules, never people: no
//! personal data leaves through metrics.

use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use oriole_core::retention::RetentionRule;
use oriole_core::Store;
use oriole_proto::RetentionReport;

use crate::error::ServerError;
use crate::settings::SettingsError;
use crate::state::AppState;

/// The content type of the Prometheus text exposition format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Counters kept by the server; cheap enough to bump on hot paths.
#[derive(Debug, Default)]
pub struct Metrics {
    messages_accepted: AtomicU64,
    logins_failed: AtomicU64,
    /// Rows removed by each rule, indexed like [`RetentionRule::ALL`].
    retention_purged: [AtomicU64; RetentionRule::ALL.len()],
}

impl Metrics {
    /// A message was durably accepted (duplicates excluded).
    pub fn message_accepted(&self) {
        self.messages_accepted.fetch_add(1, Ordering::Relaxed);
    }

    /// A password login was refused.
    pub fn login_failed(&self) {
        self.logins_failed.fetch_add(1, Ordering::Relaxed);
    }

    /// Count what a retention run removed; dry runs remove nothing.
    pub fn retention_ran(&self, report: &RetentionReport) {
        if report.dry_run {
            return;
        }
        for count in &report.counts {
            if let Some(i) = RetentionRule::ALL
                .iter()
                .position(|r| r.name() == count.rule)
            {
                self.retention_purged[i].fetch_add(count.count, Ordering::Relaxed);
            }
        }
    }

    /// The Prometheus text exposition of every counter, plus the open
    /// WebSocket sessions (`ws_sessions_open`, read from the connection
    /// bound, so it costs nothing to keep).
    pub fn render(&self, ws_sessions_open: usize) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, u64)]| {
            // Writing to a String cannot fail.
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let plain = |v: &AtomicU64| vec![(String::new(), v.load(Ordering::Relaxed))];
        metric(
            "oriole_messages_accepted_total",
            "counter",
            "Messages durably accepted (REST and WebSocket).",
            &plain(&self.messages_accepted),
        );
        metric(
            "oriole_logins_failed_total",
            "counter",
            "Password logins refused.",
            &plain(&self.logins_failed),
        );
        metric(
            "oriole_ws_sessions_open",
            "gauge",
            "WebSocket sessions open now.",
            &[(String::new(), ws_sessions_open as u64)],
        );
        let purged: Vec<(String, u64)> = RetentionRule::ALL
            .iter()
            .zip(&self.retention_purged)
            .map(|(rule, v)| {
                (
                    format!("{{rule=\"{}\"}}", rule.name()),
                    v.load(Ordering::Relaxed),
                )
            })
            .collect();
        metric(
            "oriole_retention_purged_total",
            "counter",
            "Rows removed or cleared by each retention rule (the job and on-demand runs; \
             dry runs excluded).",
            &purged,
        );
        out
    }
}

/// Check a `metrics_listen` value: an `IP:PORT` on a loopback address.
/// The endpoint is plain HTTP, so it is never exposed beyond the host.
pub fn parse_listen(raw: &str) -> Result<SocketAddr, SettingsError> {
    let addr: SocketAddr = raw.trim().parse().map_err(|_| {
        SettingsError::Invalid(format!(
            "metrics_listen must be IP:PORT (e.g. 127.0.0.1:9090), not `{raw}`"
        ))
    })?;
    if !addr.ip().is_loopback() {
        return Err(SettingsError::Invalid(format!(
            "metrics_listen must be a loopback address: the metrics endpoint is plain HTTP, \
             not `{addr}`"
        )));
    }
    Ok(addr)
}

/// `GET /metrics`: the counters in the Prometheus text format.
async fn scrape<S: Store>(State(state): State<Arc<AppState<S>>>) -> impl IntoResponse {
    let open = state
        .settings
        .max_connections
        .min(tokio::sync::Semaphore::MAX_PERMITS)
        .saturating_sub(state.sessions.permits.available_permits());
    (
        [(header::CONTENT_TYPE, TEXT_FORMAT)],
        state.metrics.render(open),
    )
}

/// Serve `GET /metrics` on `listener` until `shutdown` resolves.
pub async fn serve<S: Store>(
    state: Arc<AppState<S>>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let app = Router::new()
        .route("/metrics", get(scrape::<S>))
        .with_state(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServerError::Serve)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oriole_proto::RetentionCount;

    #[test]
    fn purges_are_counted_per_rule_and_dry_runs_are_not() {
        let m = Metrics::default();
        let report = |dry_run, count| RetentionReport {
            dry_run,
            at: 0,
            counts: vec![RetentionCount {
                rule: "login_history".to_owned(),
                count,
                batches: 1,
            }],
            total: count,
        };
        m.retention_ran(&report(false, 3));
        m.retention_ran(&report(true, 5));
        m.retention_ran(&report(false, 2));
        let text = m.render(1);
        assert!(
            text.contains("oriole_retention_purged_total{rule=\"login_history\"} 5\n"),
            "{text}"
        );
        assert!(
            text.contains("oriole_retention_purged_total{rule=\"messages\"} 0\n"),
            "{text}"
        );
        assert!(text.contains("oriole_ws_sessions_open 1\n"), "{text}");
    }

    #[test]
    fn the_listener_must_be_loopback() {
        assert!(parse_listen("127.0.0.1:0").is_ok());
        assert!(parse_listen("[::1]:9090").is_ok());
        assert!(parse_listen("0.0.0.0:9090").is_err());
        assert!(parse_listen("localhost:9090").is_err());
    }
}
