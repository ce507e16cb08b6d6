//! W2: store-and-forward. Senders write N messages to users who are
//! offline; once the server has answered every send, the users connect and
//! drain their backlog. Reports the drain rate (and the rate the backlog
//! was stored at).

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{close_all, connect_many, register_many, Knobs};
use crate::adapter::Protocol;
use crate::adapter::{ConnectMode, Session, Target};
use crate::record::{Recorder, RunClock, Tally};
use crate::schedule::{send_open_loop, Timetable};

/// How long the drain may take before what is missing counts as lost.
const DRAIN_PATIENCE: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct W2Result {
    pub pairs: usize,
    pub messages: u64,
    /// Messages per second from the first send to the last answer.
    pub store_rate: f64,
    /// Messages per second from the moment the users start connecting to
    /// the last message received (logins included).
    pub drain_rate: f64,
    pub drain_seconds: f64,
    pub tally: Tally,
}

pub async fn run<P: Protocol>(proto: &P, k: &Knobs) -> anyhow::Result<W2Result> {
    let pairs = k.w2_pairs.max(1);
    let per_pair = (k.w2_messages / pairs).max(1) as u64;
    let senders = register_many(proto, &format!("{}w2s", k.prefix), pairs).await?;
    let receivers = register_many(proto, &format!("{}w2r", k.prefix), pairs).await?;
    let recorder = Arc::new(Recorder::new(RunClock::new()));
    let clock = recorder.clock();
    let run = rand::random::<u64>() >> 1;
    // A drain has no latency limit.
    recorder.start_run(run, 1, u64::MAX);
    let mut sending = connect_many(
        proto,
        &senders,
        ConnectMode::default(),
        &recorder,
        pairs as u32,
    )
    .await?;

    let interval_us = 1e6 * pairs as f64 / k.w2_send_rate.max(1.0);
    let send_start = clock.now_us() + 20_000;
    let mut tasks = Vec::new();
    for (i, mut session) in sending.drain(..).enumerate() {
        let target = Target::Direct(receivers[i].name.clone());
        let plan = Timetable {
            run,
            sender: i as u32,
            start_us: send_start + (interval_us * i as f64 / pairs as f64) as u64,
            interval_us,
            count: per_pair,
        };
        let recorder = Arc::clone(&recorder);
        let size = k.message_bytes;
        tasks.push(tokio::spawn(async move {
            send_open_loop(&mut session, &target, plan, size, &recorder).await;
            let stored = session.barrier().await;
            (session, stored)
        }));
    }
    for task in tasks {
        let (session, stored) = task.await?;
        sending.push(session);
        stored?;
    }
    let stored_us = clock.now_us();
    let messages = per_pair * pairs as u64;

    let drain_start = clock.now_us();
    let draining = connect_many(
        proto,
        &receivers,
        ConnectMode {
            backlog: true,
            ..ConnectMode::default()
        },
        &recorder,
        0,
    )
    .await?;
    recorder.wait_for(messages, DRAIN_PATIENCE).await;
    let tally = recorder.tally(messages);
    let drain_us = tally
        .last_receipt_us
        .map_or(1, |last| last.saturating_sub(drain_start).max(1));
    close_all(draining).await;
    close_all(sending).await;
    Ok(W2Result {
        pairs,
        messages,
        store_rate: messages as f64 / ((stored_us.saturating_sub(send_start)).max(1) as f64 / 1e6),
        drain_rate: tally.delivered as f64 / (drain_us as f64 / 1e6),
        drain_seconds: drain_us as f64 / 1e6,
        tally,
    })
}
