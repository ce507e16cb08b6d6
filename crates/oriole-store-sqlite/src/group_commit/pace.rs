//! How long the commit task waits for more appends before it commits.
//!
//! Without waiting, a batch holds what queued while the previous one
//! committed. On a fast disk that is little: W1 at 3,200 messages a second
//! committed 2.8 appends per transaction (`perf stat -e
//! syscalls:sys_enter_fsync` on the server), and each transaction's fixed
//! cost (four round trips to SQLite's thread, the WAL frames of the pages
//! every commit touches, the fsync, waking the runtime for the replies)
//! came to about 300 µs of the core, paid for every three messages.
//!
//! So, like PostgreSQL's `commit_delay`, the task lingers when appends are
//! arriving fast enough that a short wait fills the batch: for as long as
//! the arrival rate says it takes to reach [`FILL`] appends, never more
//! than [`MAX_LINGER`]. A lone message, or a trickle (under 1,000 a
//! second), commits at once. At 3,200 a second this cut the server's CPU
//! per message by about 30 to 45% for 2 to 3 ms more latency at the median
//! (docs/benchmarks.md, eighth pass).
//!
//! The batch aimed for was 32 appends within 1 ms; it is 256 within 2 ms.
//! Most of a commit's pages are index leaves shared by the batch's
//! messages (one per sender in the idempotency index, one per pair in the
//! conversation index), so a larger batch writes fewer pages per message,
//! and every connection's acks and events leave in fewer, fuller writes.
//! At 12,800 and 32,000 messages a second this took 10 to 25% off the
//! server's CPU per message for about 1 ms more at the median
//! (docs/benchmarks.md, fourteenth pass).

use std::time::{Duration, Instant};

/// The batch size lingering aims for.
pub(super) const FILL: usize = 256;
/// The longest a batch waits for more appends: a bound on the latency it
/// adds, give or take the tokio timer, which rounds up to the next
/// millisecond (so a wait takes 2 to 3 ms).
pub(super) const MAX_LINGER: Duration = Duration::from_millis(2);
/// Shorter waits are not worth a timer.
const MIN_LINGER: Duration = Duration::from_micros(200);
/// Weight of the newest cycle in the arrival-rate estimate.
const ALPHA: f64 = 0.25;

/// The arrival-rate estimate, updated once per batch.
#[derive(Debug, Default)]
pub(super) struct Pace {
    /// Appends per second, smoothed.
    rate: f64,
    /// When the previous batch started, and how many appends it took.
    last: Option<(Instant, usize)>,
}

impl Pace {
    /// A batch starts at `now` with `queued` appends already taken: how
    /// long to wait for more before committing, if at all.
    pub(super) fn linger(&mut self, now: Instant, queued: usize) -> Option<Duration> {
        if let Some((then, taken)) = self.last {
            let cycle = now.saturating_duration_since(then).as_secs_f64();
            // The appends the previous batch took arrived over its cycle.
            let sample = if cycle > 0.0 {
                taken as f64 / cycle
            } else {
                self.rate
            };
            self.rate += ALPHA * (sample - self.rate);
        }
        if queued >= FILL || self.rate <= 0.0 {
            return None;
        }
        let wait = Duration::from_secs_f64((FILL - queued) as f64 / self.rate).min(MAX_LINGER);
        // Worth it only when the wait brings in at least one more append.
        (wait >= MIN_LINGER && self.rate * MAX_LINGER.as_secs_f64() >= 2.0).then_some(wait)
    }

    /// The batch that started at `started` took `taken` appends in all.
    pub(super) fn taken(&mut self, started: Instant, taken: usize) {
        self.last = Some((started, taken));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed batches of `size` every `every`, return the last decision.
    fn steady(size: usize, every: Duration, rounds: usize) -> Option<Duration> {
        let mut pace = Pace::default();
        let start = Instant::now();
        let mut decision = None;
        for i in 0..rounds {
            let at = start + every * i as u32;
            decision = pace.linger(at, 1);
            pace.taken(at, size);
        }
        decision
    }

    #[test]
    fn a_trickle_commits_at_once() {
        // 10 messages a second, one per batch.
        assert_eq!(steady(1, Duration::from_millis(100), 50), None);
        // 500 a second: a 2 ms wait would bring in one at most.
        assert_eq!(steady(1, Duration::from_millis(2), 50), None);
    }

    #[test]
    fn the_first_batch_after_idle_commits_at_once() {
        let mut pace = Pace::default();
        assert_eq!(pace.linger(Instant::now(), 1), None);
    }

    #[test]
    fn a_busy_queue_lingers_up_to_the_cap() {
        // 3 appends every 0.9 ms (3,333 a second): waiting for 255 more
        // would take 77 ms, so the cap applies.
        let wait = steady(3, Duration::from_micros(900), 50).expect("lingers");
        assert_eq!(wait, MAX_LINGER);
        // 1000 appends per ms: 255 more arrive in about 0.26 ms.
        let wait = steady(1000, Duration::from_millis(1), 50).expect("lingers");
        assert!(wait < Duration::from_micros(300), "{wait:?}");
    }

    #[test]
    fn a_full_batch_does_not_wait() {
        let mut pace = Pace::default();
        let start = Instant::now();
        for i in 0..20u32 {
            pace.linger(start + Duration::from_micros(900) * i, 1);
            pace.taken(start + Duration::from_micros(900) * i, 3);
        }
        assert_eq!(pace.linger(start + Duration::from_millis(20), FILL), None);
    }
}
