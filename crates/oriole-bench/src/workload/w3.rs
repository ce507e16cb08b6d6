//! W3: group fan-out. One member of a group of 10, 100 or 500 sends, the
//! others receive; the message rate is stepped up like W1 and judged on
//! p99 to the *last* member. Reports deliveries per second.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::search::RateSearch;
use super::{
    close_all, connect_many, register_many, run_confirmed_step, run_step, Knobs, StepResult,
    StepSpec, WARM_UP_SECS,
};
use crate::adapter::{ConnectMode, Protocol, Session, Target};
use crate::record::{Recorder, RunClock};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct W3Group {
    pub members: usize,
    pub steps: Vec<StepResult>,
    /// Highest message rate with p99-to-last-member within the limit and
    /// nothing lost.
    pub max_held_rate: Option<f64>,
    /// Deliveries per second at that rate.
    pub held_deliveries_per_sec: Option<f64>,
    /// The most deliveries per second any step achieved, held or not.
    pub peak_deliveries_per_sec: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct W3Result {
    pub groups: Vec<W3Group>,
}

pub async fn run<P: Protocol>(proto: &P, k: &Knobs) -> anyhow::Result<W3Result> {
    let largest = k.w3_sizes.iter().copied().max().unwrap_or(0);
    let pool = register_many(proto, &format!("{}w3m", k.prefix), largest).await?;
    let mut groups = Vec::new();
    for &size in &k.w3_sizes {
        if size < 2 {
            continue;
        }
        groups.push(one_group(proto, k, &pool[..size]).await?);
    }
    Ok(W3Result { groups })
}

async fn one_group<P: Protocol>(
    proto: &P,
    k: &Knobs,
    members: &[crate::adapter::Account],
) -> anyhow::Result<W3Group> {
    let size = members.len();
    let recorder = Arc::new(Recorder::new(RunClock::new()));
    let mut sessions = connect_many(proto, members, ConnectMode::default(), &recorder, 0).await?;
    let mut owner = sessions.remove(0);
    let name = format!("{}g{size}", k.prefix);
    let group = proto
        .create_group(&members[0], &mut owner, &members[1..], &name)
        .await?;
    for s in &mut sessions {
        s.join(&group).await?;
    }
    for s in &mut sessions {
        s.barrier().await?;
    }
    let mut senders = vec![owner];
    let targets = [Target::Group(group)];
    let start_rate = k.w3_start_deliveries / (size - 1) as f64;
    // Long enough for some tens of messages at low rates (large groups).
    let step_secs = |rate: f64| k.w3_step_secs.max(30.0 / rate).min(10.0);
    let spec = |rate: f64, seconds: f64| StepSpec {
        rate,
        seconds,
        fanout: (size - 1) as u32,
        message_bytes: k.message_bytes,
        p99_limit_ms: k.p99_limit_ms,
        drain: Duration::from_secs_f64(k.drain_secs),
        judge_last_member: true,
        server_pid: k.server_pid,
        ceiling_probe: None,
    };
    // Warm-up, not reported.
    run_step(
        &mut senders,
        &targets,
        &recorder,
        spec(start_rate, WARM_UP_SECS),
    )
    .await?;
    let mut search = RateSearch::new(start_rate, f64::MAX, k.w3_max_steps, k.refine_steps);
    let mut steps: Vec<StepResult> = Vec::new();
    while let Some(rate) = search.next_rate() {
        let attempts = run_confirmed_step(
            &mut senders,
            &targets,
            &recorder,
            spec(rate, step_secs(rate)),
        )
        .await?;
        for step in &attempts {
            eprintln!(
                "oriole-bench: {} w3 group {size}, {rate:.1} msg/s: {:.0} deliveries/s, p99 last member {:.1} ms, late {}, lost {} -> {}",
                proto.name(),
                step.delivered_per_sec,
                step.tally.last_member.p99_ms,
                step.tally.late,
                step.tally.lost,
                if step.held { "held" } else { "failed" }
            );
        }
        search.record(rate, attempts.last().is_some_and(|s| s.held));
        steps.extend(attempts);
    }
    close_all(senders).await;
    close_all(sessions).await;
    let best = search.best();
    let held_deliveries_per_sec = best.and_then(|rate| {
        steps
            .iter()
            .find(|s| s.held && s.offered_rate == rate)
            .map(|s| s.delivered_per_sec)
    });
    Ok(W3Group {
        members: size,
        peak_deliveries_per_sec: steps
            .iter()
            .map(|s| s.delivered_per_sec)
            .fold(0.0, f64::max),
        steps,
        max_held_rate: best,
        held_deliveries_per_sec,
    })
}
