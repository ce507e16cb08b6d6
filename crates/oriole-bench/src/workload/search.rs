//! Which rate to try next: double from the start rate until a step fails
//! (or the cap or the step budget is reached), then bisect a few times
//! between the last rate that held and the first that did not.

#[derive(Debug, Clone)]
pub struct RateSearch {
    next: Option<f64>,
    held: Option<f64>,
    failed: Option<f64>,
    max_rate: f64,
    steps_left: usize,
    refine_left: usize,
}

impl RateSearch {
    pub fn new(start: f64, max_rate: f64, max_steps: usize, refine: usize) -> RateSearch {
        RateSearch {
            next: Some(start.min(max_rate)),
            held: None,
            failed: None,
            max_rate,
            steps_left: max_steps,
            refine_left: refine,
        }
    }

    pub fn next_rate(&self) -> Option<f64> {
        if self.steps_left == 0 {
            return None;
        }
        self.next
    }

    pub fn record(&mut self, rate: f64, held: bool) {
        self.steps_left = self.steps_left.saturating_sub(1);
        if held {
            self.held = Some(self.held.map_or(rate, |h| h.max(rate)));
        } else {
            self.failed = Some(self.failed.map_or(rate, |f| f.min(rate)));
        }
        self.next = match (self.held, self.failed) {
            (_, None) if rate >= self.max_rate => None,
            (_, None) => Some((rate * 2.0).min(self.max_rate)),
            (None, Some(_)) => None,
            (Some(h), Some(f)) => {
                if self.refine_left == 0 || f / h < 1.1 {
                    None
                } else {
                    self.refine_left -= 1;
                    let mid = (h + f) / 2.0;
                    // Whole rates, except where a group's rate is small.
                    Some(if mid >= 10.0 {
                        mid.round()
                    } else {
                        (mid * 10.0).round() / 10.0
                    })
                }
            }
        };
    }

    /// The highest rate that held.
    pub fn best(&self) -> Option<f64> {
        self.held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_then_bisects() {
        let mut s = RateSearch::new(100.0, 1e6, 20, 2);
        let mut tried = Vec::new();
        while let Some(rate) = s.next_rate() {
            tried.push(rate);
            s.record(rate, rate <= 500.0);
        }
        assert_eq!(tried, vec![100.0, 200.0, 400.0, 800.0, 600.0, 500.0]);
        assert_eq!(s.best(), Some(500.0));
    }

    #[test]
    fn stops_at_the_cap_and_the_budget() {
        let mut s = RateSearch::new(100.0, 300.0, 20, 2);
        let mut tried = Vec::new();
        while let Some(rate) = s.next_rate() {
            tried.push(rate);
            s.record(rate, true);
        }
        assert_eq!(tried, vec![100.0, 200.0, 300.0]);

        let mut s = RateSearch::new(100.0, 1e9, 2, 2);
        s.record(100.0, true);
        s.record(200.0, true);
        assert_eq!(s.next_rate(), None);
    }

    #[test]
    fn nothing_held() {
        let mut s = RateSearch::new(100.0, 1e9, 20, 2);
        s.record(100.0, false);
        assert_eq!(s.next_rate(), None);
        assert_eq!(s.best(), None);
    }
}
