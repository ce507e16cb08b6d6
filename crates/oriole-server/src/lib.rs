//! Oriole's HTTP server: REST under `/v1`, WebSocket sessions on `/v1/ws`,
//! the in-process live-delivery hub, the middleware stack and the settings.
//!
//! Generic over the storage backend: the binary picks a [`Store`] once and
//! calls [`launch_with_listener`] (plain HTTP) or
//! [`launch_with_tls_listener`] (HTTPS and WSS, see [`tls`]). Handlers only
//! extract, call the [`Oriole`] services and map errors (in one place,
//! [`HttpError`]).

pub mod audit_seal;
pub mod deletion_purge;
pub mod error;
pub mod extract;
pub mod gateway;
pub mod hub;
pub mod metrics;
mod middleware;
pub mod openapi;
pub mod retention;
pub mod rights_settings;
pub mod routes;
pub mod settings;
pub mod sharing_settings;
pub mod staff;
pub mod state;
pub mod tls;
pub mod ws;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::serve::{IncomingStream, ListenerExt};
use axum::Extension;
use oriole_core::{Oriole, Store, SystemClock};
use tower::Layer;

pub use error::{ApiResult, HttpError, ServerError};
pub use hub::Hub;
pub use metrics::Metrics;
pub use openapi::{openapi, openapi_json};
pub use settings::{LoginThrottle, Settings, SettingsError, SqliteSettings, SqliteSynchronous};
pub use state::{AppState, Sessions};
pub use tls::{TlsError, TlsListener};

/// How long shutdown waits for WebSocket sessions to close.
const SESSION_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Build the shared state for `store`: the hub, the services and the
/// session bookkeeping.
pub fn app_state<S: Store>(settings: Settings, store: S) -> Arc<AppState<S>> {
    let hub = Hub::new(settings.ws_queue_len);
    let oriole = Oriole::new(
        store,
        hub.clone(),
        Arc::new(SystemClock),
        settings.core_config(),
    );
    Arc::new(AppState {
        oriole,
        hub,
        sessions: Sessions::new(settings.max_connections),
        metrics: Metrics::default(),
        settings,
    })
}

/// Serve plain HTTP on `listener` (already bound, so the caller knows the
/// port and clients may connect at once) until `shutdown` resolves. Then
/// stop accepting, close WebSocket sessions with 1001, let in-flight
/// requests finish, and return.
///
/// Settings that ask for TLS are refused here: they must never fall back to
/// plain HTTP by mistake. Use [`launch_with_tls_listener`] for them.
pub async fn launch_with_listener<S: Store>(
    settings: Settings,
    store: S,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    if settings.tls_enabled() {
        return Err(SettingsError::Invalid(
            "the settings ask for TLS: serve them with launch_with_tls_listener".to_owned(),
        )
        .into());
    }
    launch(settings, store, listener, None, None, shutdown).await
}

/// As [`launch_with_listener`], speaking HTTPS and WSS with `tls` (see
/// [`tls::server_config`]). Every answer carries
/// `Strict-Transport-Security`.
pub async fn launch_with_tls_listener<S: Store>(
    settings: Settings,
    store: S,
    listener: tokio::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    launch(settings, store, listener, None, Some(tls), shutdown).await
}

/// As [`launch_with_listener`] (or [`launch_with_tls_listener`] when `tls`
/// is given), serving the metrics on `metrics`, already bound (so the
/// caller knows its port). Without it, `metrics_listen` is bound when set.
pub async fn launch_with_metrics_listener<S: Store>(
    settings: Settings,
    store: S,
    listener: tokio::net::TcpListener,
    metrics: Option<tokio::net::TcpListener>,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    if tls.is_none() && settings.tls_enabled() {
        return Err(SettingsError::Invalid(
            "the settings ask for TLS: give the TLS configuration".to_owned(),
        )
        .into());
    }
    launch(settings, store, listener, metrics, tls, shutdown).await
}

async fn launch<S: Store>(
    settings: Settings,
    store: S,
    listener: tokio::net::TcpListener,
    metrics_listener: Option<tokio::net::TcpListener>,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    settings.validate()?;
    let addr = listener.local_addr().map_err(ServerError::Listener)?;
    let metrics_listener = match (metrics_listener, settings.metrics_addr()?) {
        (Some(bound), _) => Some(bound),
        (None, Some(metrics_addr)) => Some(
            tokio::net::TcpListener::bind(metrics_addr)
                .await
                .map_err(ServerError::Listener)?,
        ),
        (None, None) => None,
    };
    let state = app_state(settings, store);
    let sessions = state.sessions.clone();
    if let Some(metrics_listener) = metrics_listener {
        let stop = sessions.shutdown.clone().cancelled_owned();
        let scraped = state.clone();
        tokio::spawn(async move {
            if let Err(e) = metrics::serve(scraped, metrics_listener, stop).await {
                tracing::warn!(error = %e, "metrics listener failed");
            }
        });
    }
    retention::spawn_job(state.clone(), sessions.shutdown.clone());
    deletion_purge::spawn_worker(state.clone(), sessions.shutdown.clone());
    gateway::spawn_worker(state.clone(), sessions.shutdown.clone());
    audit_seal::spawn_sealer(state.clone(), sessions.shutdown.clone());
    audit_seal::spawn_reporter(state.clone(), sessions.shutdown.clone());
    let sealing = state.clone();
    let app = routes::router(state);

    let stop_sessions = sessions.shutdown.clone();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down");
        // Sessions close now; plain requests finish under axum's graceful
        // shutdown.
        stop_sessions.cancel();
    };
    // Both transports go through axum's server, and so share its graceful
    // shutdown: stop accepting, then wait for open connections.
    match tls {
        None => {
            tracing::info!(%addr, "serving HTTP");
            axum::serve(
                plain(listener),
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(signal)
            .await
        }
        Some(config) => {
            tracing::info!(%addr, "serving HTTPS");
            let app = middleware::hsts(app);
            // What `into_make_service_with_connect_info` does for TCP: the
            // peer's address reaches handlers as `ConnectInfo<SocketAddr>`.
            let make_service =
                tower::service_fn(move |incoming: IncomingStream<'_, TlsListener>| {
                    let peer = ConnectInfo(*incoming.remote_addr());
                    std::future::ready(Ok::<_, Infallible>(Extension(peer).layer(app.clone())))
                });
            axum::serve(TlsListener::new(listener, config), make_service)
                .with_graceful_shutdown(signal)
                .await
        }
    }
    .map_err(ServerError::Serve)?;

    sessions.shutdown.cancel();
    sessions.tracker.close();
    if tokio::time::timeout(SESSION_DRAIN_TIMEOUT, sessions.tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("websocket sessions did not close in time");
    }
    // Every request has finished: seal what they appended.
    audit_seal::seal_now(&sealing).await;
    tracing::info!("stopped");
    Ok(())
}

/// The plain-TCP listener as served: every accepted connection without
/// Nagle's algorithm (see [`no_delay`]).
fn plain(
    listener: tokio::net::TcpListener,
) -> axum::serve::TapIo<tokio::net::TcpListener, fn(&mut tokio::net::TcpStream)> {
    listener.tap_io(no_delay)
}

/// Turn off Nagle's algorithm on an accepted connection. A chat server
/// writes small frames and wants each on the wire at once: with Nagle on,
/// a frame written while an earlier one is unacknowledged waits for the
/// peer's ACK, which the peer may delay by up to 40 ms (Linux's delayed
/// ACK). Measured on W3, a group of 100 at 1000 messages a second: p99 to
/// the last member fell from 37–39 ms to 10–12 ms (docs/benchmarks.md,
/// ninth pass).
pub(crate) fn no_delay(tcp: &mut tokio::net::TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "could not set TCP_NODELAY");
    }
}

#[cfg(test)]
mod tests {
    use axum::serve::Listener;

    #[tokio::test]
    async fn accepted_connections_have_nagle_off() {
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = tcp.local_addr().expect("addr");
        let mut listener = super::plain(tcp);
        let _client = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (accepted, _) = listener.accept().await;
        assert!(accepted.nodelay().expect("nodelay"));
    }
}
