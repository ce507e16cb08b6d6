//! The cost of sealing and opening one personal field, as the store does
//! for every message text: `oriole-bench seal`. A micro-benchmark of the
//! cipher as this binary was built (its backends are chosen at build time,
//! see `.cargo/config.toml`), so two builds compare by running each.

use std::time::{Duration, Instant};

use oriole_crypto::keys::DataKey;
use serde::Serialize;

/// One field size: nanoseconds per seal and per open.
#[derive(Debug, Clone, Serialize)]
pub struct SealCost {
    pub bytes: usize,
    pub seal_ns: f64,
    pub open_ns: f64,
}

/// Seal and open fields of each size for about `time` each, on the
/// calling thread, after a short warm-up.
pub fn measure(sizes: &[usize], time: Duration) -> anyhow::Result<Vec<SealCost>> {
    let key = DataKey::generate();
    // The binding is what the store passes: a field name and an id.
    let binding = b"message.text:0193c0de-7a1b-7000-8000-1234567890ab";
    sizes
        .iter()
        .map(|&bytes| {
            let plain = vec![b'x'; bytes];
            let sealed = key.seal(&plain, binding);
            // Timing opens that fail would measure the wrong thing.
            if key.open(&sealed, binding).ok().as_deref() != Some(&plain[..]) {
                anyhow::bail!("a sealed field of {bytes} bytes did not open");
            }
            // Both loops keep their results alive so neither is optimized out.
            let seal_ns = per_call(time, || {
                std::hint::black_box(key.seal(&plain, binding)).len()
            });
            let open_ns = per_call(time, || {
                std::hint::black_box(key.open(&sealed, binding))
                    .map(|p| p.len())
                    .unwrap_or(0)
            });
            Ok(SealCost {
                bytes,
                seal_ns,
                open_ns,
            })
        })
        .collect()
}

/// Mean nanoseconds per call of `f` over about `time`, in rounds of 1000.
fn per_call(time: Duration, mut f: impl FnMut() -> usize) -> f64 {
    let mut sink = 0usize;
    for _ in 0..1000 {
        sink = sink.wrapping_add(f());
    }
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < time {
        for _ in 0..1000 {
            sink = sink.wrapping_add(f());
        }
        calls += 1000;
    }
    std::hint::black_box(sink);
    start.elapsed().as_nanos() as f64 / calls as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_every_size_asked_for() {
        let costs = measure(&[0, 100, 5000], Duration::from_millis(5)).expect("fields open");
        let sizes: Vec<usize> = costs.iter().map(|c| c.bytes).collect();
        assert_eq!(sizes, [0, 100, 5000]);
        assert!(costs.iter().all(|c| c.seal_ns > 0.0 && c.open_ns > 0.0));
    }
}
