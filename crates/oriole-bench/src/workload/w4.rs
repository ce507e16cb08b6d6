//! W4: login storm. Existing accounts log in with their password and open
//! a session (Oriole: REST login, then the WebSocket up to `hello`; XMPP:
//! stream, SASL PLAIN, resource bind, initial presence), a fixed number in
//! flight at once; reports logins per second and the login latency.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::{stream, StreamExt};
use serde::{Deserialize, Serialize};

use super::Knobs;
use crate::adapter::{Account, ConnectMode, Inbox, Protocol, Session};
use crate::record::{new_histogram, LatencySummary, Recorder, RunClock};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct W4Result {
    pub logins: usize,
    pub concurrency: usize,
    pub failures: u64,
    pub seconds: f64,
    pub logins_per_sec: f64,
    pub latency: LatencySummary,
}

pub async fn run<P: Protocol>(
    proto: &P,
    k: &Knobs,
    accounts: &[Account],
) -> anyhow::Result<W4Result> {
    let accounts = &accounts[..k.w4_logins.min(accounts.len())];
    let recorder = Arc::new(Recorder::new(RunClock::new()));
    let histogram = Mutex::new(new_histogram());
    let failures = AtomicU64::new(0);
    let concurrency = k.w4_concurrency.max(1);
    let started = Instant::now();
    stream::iter(accounts.iter().enumerate())
        .for_each_concurrent(concurrency, |(i, account)| {
            let inbox = Inbox {
                recorder: Arc::clone(&recorder),
                receiver: i as u32,
            };
            let (histogram, failures) = (&histogram, &failures);
            async move {
                let t = Instant::now();
                let mode = ConnectMode {
                    fresh_login: true,
                    backlog: false,
                };
                match proto.connect(account, mode, inbox).await {
                    Ok(session) => {
                        let us = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
                        {
                            let mut h = histogram.lock().unwrap_or_else(|e| e.into_inner());
                            let _ = h.record(us.max(1));
                        }
                        session.close().await;
                    }
                    Err(e) => {
                        if failures.fetch_add(1, Ordering::SeqCst) < 3 {
                            eprintln!("oriole-bench: login failed: {e:#}");
                        }
                    }
                }
            }
        })
        .await;
    let seconds = started.elapsed().as_secs_f64();
    let failures = failures.load(Ordering::SeqCst);
    let ok = accounts.len() as u64 - failures;
    let histogram = histogram.into_inner().unwrap_or_else(|e| e.into_inner());
    Ok(W4Result {
        logins: accounts.len(),
        concurrency,
        failures,
        seconds,
        logins_per_sec: ok as f64 / seconds,
        latency: LatencySummary::of(&histogram),
    })
}
