//! What arrived, when, and how often: one [`Recorder`] per workload, one
//! run (a fresh run id) per load step. Receivers hand it every message text
//! they get; it keeps the latency histograms and finds loss and duplicates
//! by (receiver, sender, sequence number).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::probe::Probe;

/// Latencies are recorded in µs, up to a minute, with 3 significant digits.
const MAX_LATENCY_US: u64 = 60_000_000;

/// Scheduled send time is cut into windows this long, to show where in a
/// step the messages over the limit were (see [`SlowWindow`]).
pub const WINDOW_US: u64 = 250_000;

/// The generator's one clock: scheduled times and receipt times are both
/// read from it, in µs since it started.
#[derive(Debug, Clone, Copy)]
pub struct RunClock {
    start: Instant,
}

impl RunClock {
    pub fn new() -> RunClock {
        RunClock {
            start: Instant::now(),
        }
    }

    pub fn instant_at(&self, us: u64) -> Instant {
        self.start + Duration::from_micros(us)
    }

    pub fn now_us(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

impl Default for RunClock {
    fn default() -> Self {
        RunClock::new()
    }
}

pub struct Recorder {
    clock: RunClock,
    run: Mutex<RunState>,
    /// Sends written to a socket in the current run.
    sent: AtomicU64,
    /// Sends the server refused (an error frame) or that failed to write.
    send_errors: AtomicU64,
    /// Every probe that arrived, from any run.
    arrivals: AtomicU64,
}

struct RunState {
    run: u64,
    /// Deliveries each message should make (1 for 1:1; members − 1 in a group).
    fanout: u32,
    seen: HashSet<(u32, u32, u64)>,
    /// Per message: deliveries so far and the latest one's latency.
    per_message: HashMap<(u32, u64), (u32, u64)>,
    latency: Histogram<u64>,
    last_member: Histogram<u64>,
    duplicates: u64,
    stale: u64,
    first_receipt_us: Option<u64>,
    last_receipt_us: Option<u64>,
    /// A delivery slower than this (µs) is over the limit.
    slow_us: u64,
    /// Per window of scheduled send time ([`WINDOW_US`]): deliveries over
    /// the limit, and the slowest delivery.
    windows: BTreeMap<u64, (u64, u64)>,
}

impl RunState {
    fn new(run: u64, fanout: u32, slow_us: u64) -> RunState {
        RunState {
            run,
            fanout,
            slow_us,
            windows: BTreeMap::new(),
            seen: HashSet::new(),
            per_message: HashMap::new(),
            latency: new_histogram(),
            last_member: new_histogram(),
            duplicates: 0,
            stale: 0,
            first_receipt_us: None,
            last_receipt_us: None,
        }
    }
}

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("constant, valid histogram bounds")
}

impl Recorder {
    pub fn new(clock: RunClock) -> Recorder {
        Recorder {
            clock,
            run: Mutex::new(RunState::new(0, 1, u64::MAX)),
            sent: AtomicU64::new(0),
            send_errors: AtomicU64::new(0),
            arrivals: AtomicU64::new(0),
        }
    }

    pub fn clock(&self) -> RunClock {
        self.clock
    }

    /// Start counting a new run; anything from earlier runs is stale. A
    /// delivery slower than `slow_us` counts in its window's
    /// [`SlowWindow`] (`u64::MAX`: no limit).
    pub fn start_run(&self, run: u64, fanout: u32, slow_us: u64) {
        *self.state() = RunState::new(run, fanout.max(1), slow_us);
        self.sent.store(0, Ordering::SeqCst);
        self.send_errors.store(0, Ordering::SeqCst);
    }

    pub fn current_run(&self) -> u64 {
        self.state().run
    }

    pub fn count_sent(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_send_error(&self) {
        self.send_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// A message text arrived at `receiver`.
    pub fn deliver(&self, receiver: u32, text: &str) {
        let now = self.clock.now_us();
        let Some(probe) = Probe::decode(text) else {
            return;
        };
        self.arrivals.fetch_add(1, Ordering::Relaxed);
        let mut st = self.state();
        if probe.run != st.run {
            st.stale += 1;
            return;
        }
        if !st.seen.insert((receiver, probe.sender, probe.seq)) {
            st.duplicates += 1;
            return;
        }
        let latency = now
            .saturating_sub(probe.scheduled_us)
            .clamp(1, MAX_LATENCY_US);
        // Clamped into the histogram's range, so recording cannot fail.
        let _ = st.latency.record(latency);
        let over = latency > st.slow_us;
        let window = st
            .windows
            .entry(probe.scheduled_us / WINDOW_US)
            .or_default();
        window.0 += u64::from(over);
        window.1 = window.1.max(latency);
        st.first_receipt_us.get_or_insert(now);
        st.last_receipt_us = Some(now);
        let fanout = st.fanout;
        let entry = st
            .per_message
            .entry((probe.sender, probe.seq))
            .or_insert((0, 0));
        entry.0 += 1;
        entry.1 = entry.1.max(latency);
        if entry.0 == fanout {
            let slowest = entry.1;
            st.per_message.remove(&(probe.sender, probe.seq));
            let _ = st.last_member.record(slowest);
        }
    }

    /// Unique deliveries so far in this run.
    pub fn delivered(&self) -> u64 {
        self.state().seen.len() as u64
    }

    /// Wait until `expected` unique deliveries arrived, or `patience` passed.
    /// True when everything arrived.
    pub async fn wait_for(&self, expected: u64, patience: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            if self.delivered() >= expected {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Wait until no probe has arrived for `quiet` (at most `patience`), so
    /// the stragglers of an overloaded step do not land in the next one.
    pub async fn wait_quiet(&self, quiet: Duration, patience: Duration) {
        let deadline = tokio::time::Instant::now() + patience;
        let mut seen = self.arrivals.load(Ordering::Relaxed);
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(quiet).await;
            let now = self.arrivals.load(Ordering::Relaxed);
            if now == seen {
                return;
            }
            seen = now;
        }
    }

    /// After the stragglers' wait (`wait_quiet`): the deliveries of the
    /// current run that arrived after `tally` was taken are late, not lost;
    /// what has still not arrived stays lost. `tally` must be this run's.
    pub fn count_late(&self, tally: &mut Tally) {
        let now = self.delivered();
        tally.late = now.saturating_sub(tally.delivered);
        tally.lost = tally.expected.saturating_sub(now);
    }

    /// The run's numbers, given how many deliveries were expected.
    pub fn tally(&self, expected: u64) -> Tally {
        let st = self.state();
        let delivered = st.seen.len() as u64;
        Tally {
            sent: self.sent.load(Ordering::SeqCst),
            send_errors: self.send_errors.load(Ordering::SeqCst),
            expected,
            delivered,
            lost: expected.saturating_sub(delivered),
            late: 0,
            duplicates: st.duplicates,
            stale: st.stale,
            latency: LatencySummary::of(&st.latency),
            last_member: LatencySummary::of(&st.last_member),
            first_receipt_us: st.first_receipt_us,
            last_receipt_us: st.last_receipt_us,
            slow_windows: slow_windows(&st.windows),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, RunState> {
        // A panic while holding the lock leaves plain counters behind.
        self.run.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One run's outcome.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Tally {
    pub sent: u64,
    pub send_errors: u64,
    pub expected: u64,
    /// Unique deliveries before the drain deadline.
    pub delivered: u64,
    /// Expected deliveries that had not arrived by the end of the
    /// stragglers' wait (or by the tally, where there is none).
    pub lost: u64,
    /// Unique deliveries after the drain deadline, during the stragglers'
    /// wait: stored and delivered, but too late for the step.
    #[serde(default)]
    pub late: u64,
    pub duplicates: u64,
    /// Deliveries of messages from an earlier run.
    pub stale: u64,
    /// Every delivery, from scheduled send to receipt.
    pub latency: LatencySummary,
    /// Per message, to the last member that got it (groups).
    pub last_member: LatencySummary,
    pub first_receipt_us: Option<u64>,
    pub last_receipt_us: Option<u64>,
    /// The windows of scheduled send time that held deliveries over the
    /// limit, in order: where in the step a failing p99 came from.
    #[serde(default)]
    pub slow_windows: Vec<SlowWindow>,
}

/// A window of scheduled send time ([`WINDOW_US`] long) with deliveries
/// over the step's latency limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlowWindow {
    /// Where the window starts, in ms after the step's first window.
    pub from_ms: u64,
    /// Deliveries over the limit.
    pub over: u64,
    /// The slowest delivery, in ms.
    pub max_ms: f64,
}

fn slow_windows(windows: &BTreeMap<u64, (u64, u64)>) -> Vec<SlowWindow> {
    let Some(&first) = windows.keys().next() else {
        return Vec::new();
    };
    windows
        .iter()
        .filter(|(_, &(over, _))| over > 0)
        .map(|(&at, &(over, max_us))| SlowWindow {
            from_ms: (at - first) * WINDOW_US / 1000,
            over,
            max_ms: max_us as f64 / 1000.0,
        })
        .collect()
}

impl Tally {
    /// Exactly once: nothing lost, nothing twice, no failed sends.
    pub fn exactly_once(&self) -> bool {
        self.lost == 0 && self.duplicates == 0 && self.send_errors == 0
    }

    /// Exactly once and every delivery before the drain deadline.
    pub fn exactly_once_in_time(&self) -> bool {
        self.exactly_once() && self.late == 0
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LatencySummary {
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl LatencySummary {
    pub fn of(h: &Histogram<u64>) -> LatencySummary {
        if h.is_empty() {
            return LatencySummary::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        LatencySummary {
            count: h.len(),
            mean_ms: h.mean() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe_text(run: u64, sender: u32, seq: u64) -> String {
        Probe {
            run,
            sender,
            seq,
            scheduled_us: 0,
        }
        .encode(0)
    }

    #[test]
    fn counts_loss_duplicates_and_stale() {
        let r = Recorder::new(RunClock::new());
        r.start_run(5, 1, u64::MAX);
        for _ in 0..3 {
            r.count_sent();
        }
        r.deliver(1, &probe_text(5, 0, 0));
        r.deliver(1, &probe_text(5, 0, 1));
        r.deliver(1, &probe_text(5, 0, 1));
        r.deliver(1, &probe_text(4, 0, 2));
        r.deliver(1, "not a probe");
        let t = r.tally(3);
        assert_eq!(t.sent, 3);
        assert_eq!(t.delivered, 2);
        assert_eq!(t.lost, 1);
        assert_eq!(t.duplicates, 1);
        assert_eq!(t.stale, 1);
        assert!(!t.exactly_once());
        assert_eq!(t.latency.count, 2);
    }

    #[test]
    fn stragglers_after_the_tally_are_late_not_lost() {
        let r = Recorder::new(RunClock::new());
        r.start_run(7, 1, u64::MAX);
        r.deliver(1, &probe_text(7, 0, 0));
        let mut t = r.tally(4);
        assert_eq!((t.delivered, t.lost, t.late), (1, 3, 0));
        // Two arrive during the stragglers' wait, one of them twice.
        r.deliver(1, &probe_text(7, 0, 1));
        r.deliver(1, &probe_text(7, 0, 2));
        r.deliver(1, &probe_text(7, 0, 2));
        r.count_late(&mut t);
        assert_eq!((t.delivered, t.lost, t.late), (1, 1, 2));
        assert!(!t.exactly_once());
        // All of them arrived, but not all in time.
        r.deliver(1, &probe_text(7, 0, 3));
        r.count_late(&mut t);
        assert_eq!((t.lost, t.late), (0, 3));
        assert!(t.exactly_once());
        assert!(!t.exactly_once_in_time());
    }

    #[test]
    fn last_member_waits_for_the_whole_group() {
        let r = Recorder::new(RunClock::new());
        r.start_run(9, 3, u64::MAX);
        r.deliver(1, &probe_text(9, 0, 0));
        r.deliver(2, &probe_text(9, 0, 0));
        assert_eq!(r.tally(3).last_member.count, 0);
        r.deliver(3, &probe_text(9, 0, 0));
        let t = r.tally(3);
        assert_eq!(t.last_member.count, 1);
        assert!(t.exactly_once());
    }

    fn probe_at(run: u64, seq: u64, scheduled_us: u64) -> String {
        Probe {
            run,
            sender: 0,
            seq,
            scheduled_us,
        }
        .encode(0)
    }

    /// Deliveries over the limit are counted by window of scheduled send
    /// time, from the first window with any delivery.
    #[test]
    fn slow_deliveries_are_placed_in_their_windows() {
        let r = Recorder::new(RunClock::new());
        // Every delivery is slower than 0 µs; scheduled 0.3 s, 0.35 s,
        // 0.6 s and 1.3 s into the clock.
        r.start_run(3, 1, 0);
        for (seq, at) in [(0, 300_000), (1, 350_000), (2, 600_000), (3, 1_300_000)] {
            r.deliver(1, &probe_at(3, seq, at));
        }
        let windows = r.tally(4).slow_windows;
        let placed: Vec<(u64, u64)> = windows.iter().map(|w| (w.from_ms, w.over)).collect();
        assert_eq!(placed, vec![(0, 2), (250, 1), (1000, 1)]);

        // With no limit there are none.
        r.start_run(4, 1, u64::MAX);
        r.deliver(1, &probe_at(4, 0, 0));
        assert!(r.tally(1).slow_windows.is_empty());
    }
}
