//! What every handler and WebSocket session shares.

use std::sync::Arc;

use oriole_core::{Oriole, Store};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::settings::Settings;

/// The application state, generic over the storage backend.
pub struct AppState<S: Store> {
    pub oriole: Oriole<S>,
    pub hub: Arc<Hub>,
    pub settings: Settings,
    pub sessions: Sessions,
    pub metrics: Metrics,
}

/// Bookkeeping for WebSocket sessions: a bound on their number, the signal
/// to end them, and a tracker to wait for them at shutdown.
#[derive(Debug, Clone)]
pub struct Sessions {
    pub permits: Arc<Semaphore>,
    pub shutdown: CancellationToken,
    pub tracker: TaskTracker,
}

impl Sessions {
    pub fn new(max_connections: usize) -> Sessions {
        Sessions {
            permits: Arc::new(Semaphore::new(max_connections.min(Semaphore::MAX_PERMITS))),
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
        }
    }
}

pub type SharedState<S> = Arc<AppState<S>>;
