//! W0: idle authenticated connections. The server's resident memory
//! (`VmRSS` in `/proc/PID/status`) is read once the accounts exist and
//! again with every account connected; the difference over the count is
//! the memory one idle connection costs.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{close_all, connect_many, register_many, Knobs};
use crate::adapter::{Account, ConnectMode, Protocol};
use crate::process::rss_kib;
use crate::record::{Recorder, RunClock};

/// Time for the server to finish whatever the connections set off.
const SETTLE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct W0Result {
    pub connections: usize,
    pub rss_before_kib: Option<u64>,
    pub rss_after_kib: Option<u64>,
    /// (after − before) / connections.
    pub kib_per_connection: Option<f64>,
    pub connect_seconds: f64,
}

/// Returns the result and the accounts it made (W4 logs them in again).
pub async fn run<P: Protocol>(
    proto: &P,
    k: &Knobs,
    pid: Option<u32>,
) -> anyhow::Result<(W0Result, Vec<Account>)> {
    let n = k.w0_connections.max(1);
    let accounts = register_many(proto, &format!("{}w0u", k.prefix), n).await?;
    tokio::time::sleep(SETTLE).await;
    let before = pid.and_then(rss_kib);
    let recorder = Arc::new(Recorder::new(RunClock::new()));
    let started = std::time::Instant::now();
    let sessions = connect_many(proto, &accounts, ConnectMode::default(), &recorder, 0).await?;
    let connect_seconds = started.elapsed().as_secs_f64();
    tokio::time::sleep(SETTLE).await;
    let after = pid.and_then(rss_kib);
    close_all(sessions).await;
    let per = match (before, after) {
        (Some(b), Some(a)) => Some((a as f64 - b as f64) / n as f64),
        _ => None,
    };
    Ok((
        W0Result {
            connections: n,
            rss_before_kib: before,
            rss_after_kib: after,
            kib_per_connection: per,
            connect_seconds,
        },
        accounts,
    ))
}
