//! The open-loop timetable: message `k` of a sender is due at
//! `start + phase + k / rate`, whatever happened to the messages before it.
//! A sender that falls behind sends at once and catches up; the delay is
//! charged to the message's latency, because latency is measured from the
//! due time, not from when the write happened (no coordinated omission).

use std::sync::Arc;

use crate::adapter::{Session, Target};
use crate::probe::Probe;
use crate::record::Recorder;

/// One sender's share of a run.
#[derive(Debug, Clone, Copy)]
pub struct Timetable {
    pub run: u64,
    pub sender: u32,
    /// Run-clock µs of the first slot.
    pub start_us: u64,
    /// µs between two slots.
    pub interval_us: f64,
    pub count: u64,
}

impl Timetable {
    pub fn due_us(&self, seq: u64) -> u64 {
        self.start_us + (seq as f64 * self.interval_us) as u64
    }
}

/// Send `plan.count` probes of `size` bytes to `target`, each at its slot.
/// A write that fails ends the sender: it and every later slot count as
/// send errors (so as lost).
pub async fn send_open_loop<S: Session>(
    session: &mut S,
    target: &Target,
    plan: Timetable,
    size: usize,
    recorder: &Arc<Recorder>,
) {
    let clock = recorder.clock();
    for seq in 0..plan.count {
        let due = plan.due_us(seq);
        let at = clock.instant_at(due);
        if at > std::time::Instant::now() {
            tokio::time::sleep_until(at.into()).await;
        }
        let text = Probe {
            run: plan.run,
            sender: plan.sender,
            seq,
            scheduled_us: due,
        }
        .encode(size);
        match session.send(target, text).await {
            Ok(()) => recorder.count_sent(),
            Err(e) => {
                eprintln!("oriole-bench: sender {} stopped: {e:#}", plan.sender);
                for _ in seq..plan.count {
                    recorder.count_send_error();
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_follow_the_rate_not_the_sends() {
        let plan = Timetable {
            run: 1,
            sender: 0,
            start_us: 1_000,
            interval_us: 2_500.0,
            count: 4,
        };
        let slots: Vec<u64> = (0..4).map(|k| plan.due_us(k)).collect();
        assert_eq!(slots, vec![1_000, 3_500, 6_000, 8_500]);
    }
}
