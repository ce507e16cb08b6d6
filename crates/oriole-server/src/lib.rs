//! Oriole's HTTP server: REST under `/v1`, WebSocket sessions on `/v1/ws`,
//! the in-process live-delivery hub, the middleware stack and the settings.
//!
//! Generic over the storage backend: the binary picks a [`Store`] once and
//! calls [`launch_with_listener`]. Handlers only extract, call the
//! [`Oriole`] services and map errors (in one place, [`HttpError`]).

pub mod error;
pub mod extract;
pub mod hub;
mod middleware;
pub mod openapi;
pub mod routes;
pub mod settings;
pub mod state;
pub mod ws;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use oriole_core::{Oriole, Store, SystemClock};

pub use error::{ApiResult, HttpError, ServerError};
pub use hub::Hub;
pub use openapi::{openapi, openapi_json};
pub use settings::{LoginThrottle, Settings, SettingsError, SqliteSettings, SqliteSynchronous};
pub use state::{AppState, Sessions};

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
        settings,
    })
}

/// Serve on `listener` (already bound, so the caller knows the port and
/// clients may connect at once) until `shutdown` resolves. Then stop
/// accepting, close WebSocket sessions with 1001, let in-flight requests
/// finish, and return.
pub async fn launch_with_listener<S: Store>(
    settings: Settings,
    store: S,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    settings.validate()?;
    let addr = listener.local_addr().map_err(ServerError::Listener)?;
    let state = app_state(settings, store);
    let sessions = state.sessions.clone();
    let app = routes::router(state);
    tracing::info!(%addr, "serving");

    let stop_sessions = sessions.shutdown.clone();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down");
        // Sessions close now; plain requests finish under axum's graceful
        // shutdown.
        stop_sessions.cancel();
    };
    // The accept path: a TLS acceptor will wrap `listener` here (axum's
    // `Listener` trait), leaving everything else unchanged.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(signal)
    .await
    .map_err(ServerError::Serve)?;

    sessions.shutdown.cancel();
    sessions.tracker.close();
    if tokio::time::timeout(SESSION_DRAIN_TIMEOUT, sessions.tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("websocket sessions did not close in time");
    }
    tracing::info!("stopped");
    Ok(())
}
