//! The workloads, generic over the protocol adapter:
//! W0 idle connections (server memory each), W1 1:1 messages stepped up
//! to the highest rate that holds, W2 store-and-forward drain, W3 group
//! fan-out, W4 login storm. Each is bounded in count and time.

pub mod relay_probe;
pub mod search;
pub mod w0;
pub mod w1;
pub mod w2;
pub mod w3;
pub mod w4;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures_util::{stream, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use crate::adapter::{Account, ConnectMode, Inbox, Protocol, Session, Target};
use crate::record::{Recorder, RunClock, Tally};
use crate::schedule::{send_open_loop, Timetable};
pub use relay_probe::RelayProbe;

/// Every benchmark account has this password.
pub const PASSWORD: &str = "bench-password-1";

/// A short unreported step at the start rate before W1 and W3 measure.
pub const WARM_UP_SECS: f64 = 2.0;

/// Registrations and logins in flight at once while setting up.
const SETUP_CONCURRENCY: usize = 16;

/// The knobs of every workload; the defaults keep each one under a few
/// minutes on a 2-core machine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Knobs {
    /// Prepended to every account name, so runs against a server that
    /// keeps its accounts (the XMPP peers) never collide.
    pub prefix: String,
    /// Text size of every message, in bytes.
    pub message_bytes: usize,
    /// A step holds when p99 stays at or under this and nothing is lost.
    pub p99_limit_ms: f64,
    /// How long to wait for stragglers after a step's last slot.
    pub drain_secs: f64,
    pub w0_connections: usize,
    pub w1_pairs: usize,
    pub w1_step_secs: f64,
    pub w1_start_rate: f64,
    pub w1_max_rate: f64,
    pub w1_max_steps: usize,
    /// Extra steps between the last rate that held and the first that did not.
    pub refine_steps: usize,
    pub w2_pairs: usize,
    pub w2_messages: usize,
    pub w2_send_rate: f64,
    pub w3_sizes: Vec<usize>,
    pub w3_step_secs: f64,
    /// W3 starts each group at this many deliveries per second (so the
    /// message rate starts lower for larger groups) and doubles.
    pub w3_start_deliveries: f64,
    pub w3_max_steps: usize,
    pub w4_logins: usize,
    pub w4_concurrency: usize,
    /// The server's PID, when known: steps wait for it to go idle.
    pub server_pid: Option<u32>,
    /// After every W1 step, measure SQLite's 1000-row insert ceiling for
    /// this long (see [`CeilingProbe`]); none when not set.
    #[serde(default)]
    pub ceiling_probe_secs: Option<f64>,
    /// The core those measurements run on (the server's).
    #[serde(default)]
    pub ceiling_core: Option<usize>,
    /// After every W1 rate, the bare relay at the same rate (see
    /// [`RelayProbe`]); none when not set.
    #[serde(skip)]
    pub relay_probe: Option<RelayProbe>,
}

impl Knobs {
    /// The probe after each W1 step, when one is asked for.
    pub fn ceiling_probe(&self) -> Option<CeilingProbe> {
        self.ceiling_probe_secs.map(|secs| CeilingProbe {
            each: Duration::from_secs_f64(secs),
            core: self.ceiling_core,
            body_bytes: self.message_bytes,
        })
    }
}

/// SQLite's 1000-row insert ceiling measured right after a step, into a
/// fresh database, on the server's core while the server is idle. The
/// machine's speed can change by a third within a run (a VM shares its
/// host), so a ceiling measured minutes before or after a server's steps
/// can say more about those minutes than about the server; one measured
/// seconds from the step that held does not.
#[derive(Debug, Clone, Copy)]
pub struct CeilingProbe {
    pub each: Duration,
    pub core: Option<usize>,
    pub body_bytes: usize,
}

/// Rows per transaction in a probe: the ceiling's largest batch.
pub const PROBE_ROWS_PER_TXN: u32 = 1000;

impl CeilingProbe {
    /// Rows per second.
    pub async fn measure(&self) -> anyhow::Result<f64> {
        let rates = crate::ceiling::sqlite::measure_on(
            self.core,
            vec![PROBE_ROWS_PER_TXN],
            self.each,
            self.body_bytes,
        )
        .await?;
        rates
            .first()
            .map(|r| r.rows_per_sec)
            .context("the probe measured nothing")
    }
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            prefix: format!("b{:05x}", rand::random::<u32>() & 0xf_ffff),
            message_bytes: 100,
            p99_limit_ms: 50.0,
            drain_secs: 5.0,
            w0_connections: 1000,
            w1_pairs: 50,
            w1_step_secs: 5.0,
            w1_start_rate: 50.0,
            w1_max_rate: 200_000.0,
            w1_max_steps: 14,
            refine_steps: 2,
            w2_pairs: 10,
            w2_messages: 5000,
            w2_send_rate: 1000.0,
            w3_sizes: vec![10, 100, 500],
            w3_step_secs: 3.0,
            w3_start_deliveries: 500.0,
            w3_max_steps: 10,
            w4_logins: 500,
            w4_concurrency: 32,
            server_pid: None,
            ceiling_probe_secs: None,
            ceiling_core: None,
            relay_probe: None,
        }
    }
}

/// One load step: a rate, held for a while, and what came of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepResult {
    /// Messages per second offered (all senders together).
    pub offered_rate: f64,
    pub seconds: f64,
    /// Unique deliveries per second, from the first slot to the last receipt.
    pub delivered_per_sec: f64,
    pub held: bool,
    pub tally: Tally,
    /// CPU time the server process used per unique delivery during the step
    /// (user + system, from `/proc`, 10 ms ticks). Unlike latency it barely
    /// moves with other load on a shared machine: the robust before/after
    /// number for a change of the server's hot path.
    #[serde(default)]
    pub server_cpu_us_per_delivery: Option<f64>,
    /// SQLite's 1000-row insert ceiling (rows/s) measured right after this
    /// step, when the workload probes it (see [`CeilingProbe`]).
    #[serde(default)]
    pub ceiling_after: Option<f64>,
    /// The bare relay at this step's rate, right after it (after the
    /// ceiling's probe), when the workload probes it (see [`RelayProbe`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_after: Option<Box<StepResult>>,
}

/// Register `n` accounts named `{base}{i}`, a few at a time, in order.
pub async fn register_many<P: Protocol>(
    proto: &P,
    base: &str,
    n: usize,
) -> anyhow::Result<Vec<Account>> {
    stream::iter(0..n)
        .map(|i| {
            let name = format!("{base}{i}");
            async move { proto.register(&name, PASSWORD).await }
        })
        .buffered(SETUP_CONCURRENCY)
        .try_collect()
        .await
}

/// Connect every account, receiver numbers from `first_receiver` on.
pub async fn connect_many<P: Protocol>(
    proto: &P,
    accounts: &[Account],
    mode: ConnectMode,
    recorder: &Arc<Recorder>,
    first_receiver: u32,
) -> anyhow::Result<Vec<P::Session>> {
    stream::iter(accounts.iter().enumerate())
        .map(|(i, account)| {
            let inbox = Inbox {
                recorder: Arc::clone(recorder),
                receiver: first_receiver + i as u32,
            };
            async move {
                proto
                    .connect(account, mode, inbox)
                    .await
                    .with_context(|| format!("connecting {}", account.name))
            }
        })
        .buffered(SETUP_CONCURRENCY)
        .try_collect()
        .await
}

/// W1's shape: `pairs` senders and as many receivers, all connected,
/// sender `i` writing to receiver `i`, every receipt into one recorder.
pub struct Pairs<S> {
    pub sending: Vec<S>,
    pub receiving: Vec<S>,
    /// `targets[i]` is receiver `i`.
    pub targets: Vec<Target>,
    pub recorder: Arc<Recorder>,
}

/// Register and connect [`Pairs`]: senders `{base}s{i}`, receivers
/// `{base}r{i}`, numbered for the recorder from 0 (receivers) and from
/// `pairs` (senders).
pub async fn connect_pairs<P: Protocol>(
    proto: &P,
    base: &str,
    pairs: usize,
) -> anyhow::Result<Pairs<P::Session>> {
    let senders = register_many(proto, &format!("{base}s"), pairs).await?;
    let receivers = register_many(proto, &format!("{base}r"), pairs).await?;
    let recorder = Arc::new(Recorder::new(RunClock::new()));
    let receiving = connect_many(proto, &receivers, ConnectMode::default(), &recorder, 0).await?;
    let sending = connect_many(
        proto,
        &senders,
        ConnectMode::default(),
        &recorder,
        pairs as u32,
    )
    .await?;
    let targets = receivers
        .iter()
        .map(|r| Target::Direct(r.name.clone()))
        .collect();
    Ok(Pairs {
        sending,
        receiving,
        targets,
        recorder,
    })
}

pub async fn close_all<S: Session>(sessions: Vec<S>) {
    stream::iter(sessions)
        .for_each_concurrent(64, |s| s.close())
        .await;
}

/// How a step is judged.
#[derive(Debug, Clone, Copy)]
pub struct StepSpec {
    pub rate: f64,
    pub seconds: f64,
    /// Deliveries per message.
    pub fanout: u32,
    pub message_bytes: usize,
    pub p99_limit_ms: f64,
    pub drain: Duration,
    /// Judge p99 to the last group member rather than per delivery.
    pub judge_last_member: bool,
    /// Before the step, wait for this process (the server) to go idle.
    pub server_pid: Option<u32>,
    /// After the step, measure SQLite's ceiling.
    pub ceiling_probe: Option<CeilingProbe>,
}

/// Run one open-loop step: `senders[i]` sends to `targets[i]`, the rate
/// split evenly and the senders' slots interleaved.
pub async fn run_step<S: Session>(
    senders: &mut Vec<S>,
    targets: &[Target],
    recorder: &Arc<Recorder>,
    spec: StepSpec,
) -> anyhow::Result<StepResult> {
    if let Some(pid) = spec.server_pid {
        crate::process::settle(pid, Duration::from_secs(30)).await;
    }
    let ticks_before = spec.server_pid.and_then(crate::process::cpu_ticks);
    let n = senders.len().max(1);
    let run = rand::random::<u64>() >> 1;
    // `as` saturates: a limit of f64::MAX is no limit.
    recorder.start_run(run, spec.fanout, (spec.p99_limit_ms * 1000.0) as u64);
    let per_sender = spec.rate / n as f64;
    let count = ((per_sender * spec.seconds).round() as u64).max(1);
    let interval_us = 1e6 / per_sender;
    let clock = recorder.clock();
    // A little head room so every sender is running before the first slot.
    let start_us = clock.now_us() + 20_000;

    let mut tasks = Vec::with_capacity(n);
    for (i, (mut session, target)) in senders.drain(..).zip(targets.iter().cloned()).enumerate() {
        let plan = Timetable {
            run,
            sender: i as u32,
            start_us: start_us + (interval_us * i as f64 / n as f64) as u64,
            interval_us,
            count,
        };
        let recorder = Arc::clone(recorder);
        let size = spec.message_bytes;
        tasks.push(tokio::spawn(async move {
            send_open_loop(&mut session, &target, plan, size, &recorder).await;
            session
        }));
    }
    for task in tasks {
        senders.push(task.await.context("a sender task failed")?);
    }
    let planned = count * n as u64;
    let expected = planned * u64::from(spec.fanout);
    recorder.wait_for(expected, spec.drain).await;
    let mut tally = recorder.tally(expected);
    recorder
        .wait_quiet(Duration::from_millis(500), Duration::from_secs(30))
        .await;
    // What arrived meanwhile was stored and delivered, only late.
    recorder.count_late(&mut tally);
    let ticks_after = spec.server_pid.and_then(crate::process::cpu_ticks);
    let server_cpu_us_per_delivery = match (ticks_before, ticks_after) {
        (Some(before), Some(after)) if tally.delivered > 0 => {
            Some(after.saturating_sub(before) as f64 * 10_000.0 / tally.delivered as f64)
        }
        _ => None,
    };
    let p99 = if spec.judge_last_member {
        tally.last_member.p99_ms
    } else {
        tally.latency.p99_ms
    };
    let held = tally.exactly_once_in_time() && tally.sent == planned && p99 <= spec.p99_limit_ms;
    let span_us = tally
        .last_receipt_us
        .map_or(0, |last| last.saturating_sub(start_us))
        .max(1);
    let ceiling_after = match spec.ceiling_probe {
        Some(probe) => {
            // On the server's core: it must be idle first.
            if let Some(pid) = spec.server_pid {
                crate::process::settle(pid, Duration::from_secs(30)).await;
            }
            Some(probe.measure().await?)
        }
        None => None,
    };
    Ok(StepResult {
        offered_rate: spec.rate,
        seconds: spec.seconds,
        delivered_per_sec: tally.delivered as f64 / (span_us as f64 / 1e6),
        held,
        tally,
        server_cpu_us_per_delivery,
        ceiling_after,
        relay_after: None,
    })
}

/// Run a step; when it fails, run it once more and let the second attempt
/// decide. On a shared machine one noisy step should not end a search.
/// Returns every attempt, the deciding one last.
pub async fn run_confirmed_step<S: Session>(
    senders: &mut Vec<S>,
    targets: &[Target],
    recorder: &Arc<Recorder>,
    spec: StepSpec,
) -> anyhow::Result<Vec<StepResult>> {
    let first = run_step(senders, targets, recorder, spec).await?;
    if first.held {
        return Ok(vec![first]);
    }
    let second = run_step(senders, targets, recorder, spec).await?;
    Ok(vec![first, second])
}
