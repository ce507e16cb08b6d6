//! Login throttling: a fixed window of failures per key (an account or an
//! IP). In memory, per process; good for one node, and conservative for
//! several (each node limits on its own).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::domain::Timestamp;

#[derive(Debug, Clone, Copy)]
pub struct ThrottleRule {
    /// Failures allowed within one window before the key is blocked.
    pub max_failures: u32,
    pub window_secs: u64,
}

#[derive(Debug)]
pub struct Throttle {
    rule: ThrottleRule,
    // key -> (window start, failures in window)
    state: Mutex<HashMap<String, (Timestamp, u32)>>,
}

impl Throttle {
    pub fn new(rule: ThrottleRule) -> Self {
        Throttle {
            rule,
            state: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(seconds)` to wait when the key is blocked now.
    pub fn check(&self, key: &str, now: Timestamp) -> Option<u64> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (start, failures) = *state.get(key)?;
        let end = start.plus_secs(self.rule.window_secs);
        if now >= end || failures < self.rule.max_failures {
            return None;
        }
        Some((((end.0 - now.0) + 999) / 1000).max(1) as u64)
    }

    pub fn record_failure(&self, key: &str, now: Timestamp) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        // Forget expired windows now and then so memory stays bounded.
        if state.len() > 100_000 {
            let window = self.rule.window_secs;
            state.retain(|_, (start, _)| start.plus_secs(window) > now);
        }
        let entry = state.entry(key.to_owned()).or_insert((now, 0));
        if now >= entry.0.plus_secs(self.rule.window_secs) {
            *entry = (now, 0);
        }
        entry.1 += 1;
    }

    pub fn clear(&self, key: &str) {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_max_failures_until_window_ends() {
        let t = Throttle::new(ThrottleRule {
            max_failures: 3,
            window_secs: 60,
        });
        let t0 = Timestamp(1_000_000);
        for _ in 0..3 {
            assert_eq!(t.check("k", t0), None);
            t.record_failure("k", t0);
        }
        assert_eq!(t.check("k", t0), Some(60));
        assert_eq!(t.check("k", Timestamp(t0.0 + 59_500)), Some(1));
        assert_eq!(t.check("k", Timestamp(t0.0 + 60_000)), None);
        assert_eq!(t.check("other", t0), None);
        t.clear("k");
        assert_eq!(t.check("k", t0), None);
    }
}
