//! W1: 1:1 messages between online users (persisted by the server), the
//! offered rate stepped up until p99 passes the limit or anything is lost.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::search::RateSearch;
use super::{
    close_all, connect_pairs, run_confirmed_step, run_step, Knobs, Pairs, StepResult, StepSpec,
    WARM_UP_SECS,
};
use crate::adapter::Protocol;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct W1Result {
    pub pairs: usize,
    pub steps: Vec<StepResult>,
    /// The highest offered rate with p99 within the limit and nothing lost.
    pub max_held_rate: Option<f64>,
    /// SQLite's 1000-row ceiling measured right after the warm-up: the
    /// one before the first step (each step has the one after it).
    #[serde(default)]
    pub warm_up_ceiling: Option<f64>,
}

impl W1Result {
    /// SQLite's 1000-row ceiling measured right before and right after
    /// the attempt that decided the highest rate held, when probed.
    pub fn ceiling_around_best(&self) -> Option<(f64, f64)> {
        let best = self.max_held_rate?;
        // The attempt that decided a rate is its last.
        let at = self
            .steps
            .iter()
            .rposition(|s| s.held && s.offered_rate == best)?;
        let before = match at {
            0 => self.warm_up_ceiling,
            _ => self.steps[at - 1].ceiling_after,
        }?;
        Some((before, self.steps[at].ceiling_after?))
    }

    /// Every ceiling probed during the run, in order.
    pub fn ceilings_probed(&self) -> Vec<f64> {
        self.warm_up_ceiling
            .into_iter()
            .chain(self.steps.iter().filter_map(|s| s.ceiling_after))
            .collect()
    }
}

pub async fn run<P: Protocol>(proto: &P, k: &Knobs) -> anyhow::Result<W1Result> {
    let pairs = k.w1_pairs.max(1);
    let Pairs {
        mut sending,
        receiving,
        targets,
        recorder,
    } = connect_pairs(proto, &format!("{}w1", k.prefix), pairs).await?;

    let spec = |rate: f64, seconds: f64| StepSpec {
        rate,
        seconds,
        fanout: 1,
        message_bytes: k.message_bytes,
        p99_limit_ms: k.p99_limit_ms,
        drain: Duration::from_secs_f64(k.drain_secs),
        judge_last_member: false,
        server_pid: k.server_pid,
        ceiling_probe: k.ceiling_probe(),
    };
    // Warm-up, not reported: first messages on fresh sessions and a cold
    // database say little about the steady state.
    let warm_up = run_step(
        &mut sending,
        &targets,
        &recorder,
        spec(k.w1_start_rate, WARM_UP_SECS),
    )
    .await?;

    let mut search = RateSearch::new(
        k.w1_start_rate,
        k.w1_max_rate,
        k.w1_max_steps,
        k.refine_steps,
    );
    let mut steps = Vec::new();
    while let Some(rate) = search.next_rate() {
        let mut attempts = run_confirmed_step(
            &mut sending,
            &targets,
            &recorder,
            spec(rate, k.w1_step_secs),
        )
        .await?;
        for step in &attempts {
            let ceiling = step.ceiling_after.map_or_else(String::new, |c| {
                format!("; SQLite ceiling after it {c:.0} rows/s")
            });
            eprintln!(
                "oriole-bench: {} w1 {rate:.0} msg/s: p99 {:.1} ms, late {}, lost {}, dup {}, errors {} -> {}{ceiling}",
                proto.name(),
                step.tally.latency.p99_ms,
                step.tally.late,
                step.tally.lost,
                step.tally.duplicates,
                step.tally.send_errors,
                if step.held { "held" } else { "failed" }
            );
        }
        // The relay at the same rate, after the attempt that decided it:
        // the transport's cost in the same minute as the server's.
        if let (Some(relay), Some(last)) = (&k.relay_probe, attempts.last_mut()) {
            if let Some(pid) = k.server_pid {
                crate::process::settle(pid, Duration::from_secs(30)).await;
            }
            let step = relay.measure(rate, &spec(rate, k.w1_step_secs)).await?;
            eprintln!(
                "oriole-bench: ws-relay right after, {rate:.0} msg/s: p99 {:.1} ms, CPU {} µs/msg",
                step.tally.latency.p99_ms,
                step.server_cpu_us_per_delivery
                    .map_or_else(|| "—".to_owned(), |c| format!("{c:.1}"))
            );
            last.relay_after = Some(Box::new(step));
        }
        search.record(rate, attempts.last().is_some_and(|s| s.held));
        steps.extend(attempts);
    }
    close_all(sending).await;
    close_all(receiving).await;
    Ok(W1Result {
        pairs,
        steps,
        max_held_rate: search.best(),
        warm_up_ceiling: warm_up.ceiling_after,
    })
}
