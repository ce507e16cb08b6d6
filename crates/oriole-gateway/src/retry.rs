//! When a failed delivery is tried again: exponential back-off from a base
//! delay, capped, for a bounded number of attempts; after the last one the
//! delivery goes to the dead-letter store.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySchedule {
    /// The wait after the first failure; doubled after each further one.
    pub base: Duration,
    /// The longest wait between two attempts.
    pub max: Duration,
    /// Attempts in all (the first included) before the dead-letter store.
    pub max_attempts: u32,
}

impl Default for RetrySchedule {
    /// 1 s, 2 s, 4 s, ... up to 10 min between attempts, 12 attempts
    /// (about half an hour in all).
    fn default() -> Self {
        RetrySchedule {
            base: Duration::from_secs(1),
            max: Duration::from_secs(600),
            max_attempts: 12,
        }
    }
}

impl RetrySchedule {
    /// The wait before the next attempt after `failed_attempts` failures
    /// (at least 1), or `None` when the delivery is dead.
    pub fn next_delay(&self, failed_attempts: u32) -> Option<Duration> {
        if failed_attempts == 0 || failed_attempts >= self.max_attempts {
            return None;
        }
        let factor = 1u32.checked_shl(failed_attempts - 1).unwrap_or(u32::MAX);
        Some(self.base.saturating_mul(factor).min(self.max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_caps_and_ends() {
        let s = RetrySchedule {
            base: Duration::from_millis(100),
            max: Duration::from_millis(500),
            max_attempts: 6,
        };
        let delays: Vec<_> = (1..=6).map(|n| s.next_delay(n)).collect();
        assert_eq!(
            delays,
            vec![
                Some(Duration::from_millis(100)),
                Some(Duration::from_millis(200)),
                Some(Duration::from_millis(400)),
                Some(Duration::from_millis(500)),
                Some(Duration::from_millis(500)),
                None,
            ]
        );
        assert_eq!(RetrySchedule::default().next_delay(40), None);
        let long = RetrySchedule {
            max_attempts: 100,
            ..RetrySchedule::default()
        };
        assert_eq!(long.next_delay(64), Some(long.max));
    }
}
