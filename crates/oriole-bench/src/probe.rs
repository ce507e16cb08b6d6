//! The probe every benchmark message carries as its text: the run it
//! belongs to, its sender, its sequence number and its scheduled send time
//! (microseconds on the generator's run clock). Plain ASCII without XML or
//! JSON specials, so it travels unchanged through every protocol.

/// Marks a benchmark message (and its format version).
const TAG: &str = "obp1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub run: u64,
    pub sender: u32,
    pub seq: u64,
    /// When the message was due to be sent, in µs since the run clock's start.
    pub scheduled_us: u64,
}

impl Probe {
    /// The message text, padded with `x` up to `size` bytes (never cut).
    pub fn encode(&self, size: usize) -> String {
        let mut s = format!(
            "{TAG}.{}.{}.{}.{}.",
            self.run, self.sender, self.seq, self.scheduled_us
        );
        if s.len() < size {
            s.extend(std::iter::repeat_n('x', size - s.len()));
        }
        s
    }

    /// The probe in a message text, or `None` for anything else.
    pub fn decode(text: &str) -> Option<Probe> {
        let mut parts = text.split('.');
        if parts.next()? != TAG {
            return None;
        }
        Some(Probe {
            run: parts.next()?.parse().ok()?,
            sender: parts.next()?.parse().ok()?,
            seq: parts.next()?.parse().ok()?,
            scheduled_us: parts.next()?.parse().ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_padding() {
        let p = Probe {
            run: 77,
            sender: 3,
            seq: 12_345,
            scheduled_us: 9_876_543,
        };
        let text = p.encode(100);
        assert_eq!(text.len(), 100);
        assert_eq!(Probe::decode(&text), Some(p));
    }

    #[test]
    fn short_size_never_truncates() {
        let p = Probe {
            run: 1,
            sender: 2,
            seq: 3,
            scheduled_us: 4,
        };
        assert_eq!(Probe::decode(&p.encode(0)), Some(p));
    }

    #[test]
    fn foreign_text_is_not_a_probe() {
        assert_eq!(Probe::decode("hello"), None);
        assert_eq!(Probe::decode("obp1.1.2"), None);
        assert_eq!(Probe::decode("obp1.a.2.3.4."), None);
    }
}
