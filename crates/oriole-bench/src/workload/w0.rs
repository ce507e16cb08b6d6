//! W0: idle authenticated connections. The server's resident memory
//! (`VmRSS` in `/proc/PID/status`) is read once the accounts exist, again
//! with a first batch of them connected, and again with a second batch of
//! the same size connected too; each difference over the batch size is the
//! memory one idle connection costs.
//!
//! Why two batches: the accounts are registered by the same process just
//! before, and whatever memory registration freed (password hashing,
//! database work) stays in the server's allocator and is reused by the
//! first connections, so the first batch can read low, down to nothing,
//! depending on the allocator's state rather than on the connections. By
//! the second batch that memory has been taken by the first, so the second
//! batch is the cost of one more connection on a server that already holds
//! many. Both are reported, the first as before (it is the figure of the
//! earlier runs), for every server alike.
//!
//! A `VmRSS` difference still reads nothing while the allocator has freed
//! memory to hand out (with one glibc arena, registration left more than
//! two batches' worth). So each batch also counts the anonymous memory
//! the server *touched* while connecting and holding it: the kernel's
//! referenced bits are cleared just before the batch
//! (`/proc/PID/clear_refs`) and the `Referenced` pages of every anonymous
//! mapping summed after it (`/proc/PID/smaps`). Memory reused from the
//! allocator's free lists counts as much as fresh memory; what the server
//! touches anyway while idle (stacks, timers, caches) counts too, so this
//! is an upper bound, the same for every server.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{close_all, connect_many, register_many, Knobs};
use crate::adapter::{Account, ConnectMode, Protocol};
use crate::process::rss_kib;
use crate::record::{Recorder, RunClock};

/// Time for the server to finish whatever the connections set off.
const SETTLE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct W0Result {
    /// Connections in each of the two batches.
    pub connections: usize,
    pub rss_before_kib: Option<u64>,
    /// With the first batch connected.
    pub rss_after_kib: Option<u64>,
    /// First batch: (after − before) / connections.
    pub kib_per_connection: Option<f64>,
    pub connect_seconds: f64,
    /// With both batches connected.
    #[serde(default)]
    pub rss_after_second_kib: Option<u64>,
    /// Second batch: (after second − after) / connections.
    #[serde(default)]
    pub kib_per_connection_second: Option<f64>,
    #[serde(default)]
    pub connect_seconds_second: Option<f64>,
    /// Anonymous memory touched while connecting and holding the first
    /// batch, per connection (KiB).
    #[serde(default)]
    pub touched_kib_per_connection: Option<f64>,
    /// The same for the second batch.
    #[serde(default)]
    pub touched_kib_per_connection_second: Option<f64>,
}

/// Returns the result and the accounts it made (W4 logs them in again).
pub async fn run<P: Protocol>(
    proto: &P,
    k: &Knobs,
    pid: Option<u32>,
) -> anyhow::Result<(W0Result, Vec<Account>)> {
    let n = k.w0_connections.max(1);
    let accounts = register_many(proto, &format!("{}w0u", k.prefix), 2 * n).await?;
    let (first, second) = accounts.split_at(n);
    tokio::time::sleep(SETTLE).await;
    let before = pid.and_then(rss_kib);
    let recorder = Arc::new(Recorder::new(RunClock::new()));

    let cleared = pid.is_some_and(clear_referenced);
    let started = std::time::Instant::now();
    let mut sessions = connect_many(proto, first, ConnectMode::default(), &recorder, 0).await?;
    let connect_seconds = started.elapsed().as_secs_f64();
    tokio::time::sleep(SETTLE).await;
    let after = pid.and_then(rss_kib);
    let touched = pid.filter(|_| cleared).and_then(referenced_anon_kib);

    let cleared = pid.is_some_and(clear_referenced);
    let started = std::time::Instant::now();
    let more = connect_many(proto, second, ConnectMode::default(), &recorder, n as u32).await;
    let connect_seconds_second = started.elapsed().as_secs_f64();
    let more = match more {
        Ok(more) => more,
        Err(e) => {
            close_all(sessions).await;
            return Err(e);
        }
    };
    sessions.extend(more);
    tokio::time::sleep(SETTLE).await;
    let after_second = pid.and_then(rss_kib);
    let touched_second = pid.filter(|_| cleared).and_then(referenced_anon_kib);
    close_all(sessions).await;

    Ok((
        W0Result {
            connections: n,
            rss_before_kib: before,
            rss_after_kib: after,
            kib_per_connection: per_connection(before, after, n),
            connect_seconds,
            rss_after_second_kib: after_second,
            kib_per_connection_second: per_connection(after, after_second, n),
            connect_seconds_second: Some(connect_seconds_second),
            touched_kib_per_connection: touched.map(|t| t as f64 / n as f64),
            touched_kib_per_connection_second: touched_second.map(|t| t as f64 / n as f64),
        },
        accounts,
    ))
}

fn per_connection(from: Option<u64>, to: Option<u64>, n: usize) -> Option<f64> {
    match (from, to) {
        (Some(from), Some(to)) => Some((to as f64 - from as f64) / n as f64),
        _ => None,
    }
}

/// Clear the referenced bits of every page of the process, so that
/// [`referenced_anon_kib`] counts what it touches from now on. Needs the
/// right to ptrace it (root, or the same user).
fn clear_referenced(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "1").is_ok()
}

/// KiB of the process's anonymous memory (heap, `mmap`ed without a file,
/// stacks) referenced since [`clear_referenced`].
fn referenced_anon_kib(pid: u32) -> Option<u64> {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).ok()?;
    Some(sum_referenced_anon(&smaps))
}

/// Sum `Referenced:` over the mappings of an smaps text that have no file
/// behind them (no path, or a bracketed one such as `[heap]`).
fn sum_referenced_anon(smaps: &str) -> u64 {
    let mut total = 0;
    let mut anonymous = false;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let Some(first) = fields.next() else { continue };
        if let Some(value) = first.strip_prefix("Referenced:").map(|_| fields.next()) {
            if anonymous {
                total += value.and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            }
        } else if is_mapping_header(first) {
            // address perms offset dev inode [path]
            let path = fields.nth(4);
            anonymous = path.is_none_or(|p| p.starts_with('[') && p != "[vsyscall]");
        }
    }
    total
}

/// `55d0c0a00000-55d0c0a21000`: the first field of a mapping's line.
fn is_mapping_header(first: &str) -> bool {
    first.split_once('-').is_some_and(|(a, b)| {
        !a.is_empty() && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_hexdigit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_connection_is_the_difference_over_the_count() {
        assert_eq!(per_connection(Some(1000), Some(3048), 256), Some(8.0));
        assert_eq!(per_connection(Some(3048), Some(1000), 256), Some(-8.0));
        assert_eq!(per_connection(None, Some(1000), 256), None);
        assert_eq!(per_connection(Some(1000), None, 256), None);
    }

    #[test]
    fn referenced_memory_counts_anonymous_mappings_only() {
        let smaps = "\
55d0c0a00000-55d0c0a21000 r-xp 00000000 08:01 1234 /usr/bin/server
Size:                132 kB
Referenced:          100 kB
55d0c1000000-55d0c2000000 rw-p 00000000 00:00 0 [heap]
Size:              16384 kB
Referenced:          400 kB
7f0000000000-7f0000100000 rw-p 00000000 00:00 0
Size:               1024 kB
Referenced:           64 kB
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]
Referenced:            8 kB
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]
Referenced:            4 kB
";
        assert_eq!(sum_referenced_anon(smaps), 400 + 64 + 8);
    }

    #[test]
    fn reads_our_own_referenced_memory() {
        let pid = std::process::id();
        if !clear_referenced(pid) {
            return; // Not allowed here (no /proc or no right): nothing to test.
        }
        let block = std::hint::black_box(vec![1u8; 8 << 20]);
        let touched = referenced_anon_kib(pid).expect("smaps of this process");
        assert!(
            touched >= 8 << 10,
            "{touched} KiB touched after writing 8 MiB"
        );
        drop(block);
    }

    #[test]
    fn results_of_earlier_runs_still_load() {
        let old = r#"{"connections":1000,"rss_before_kib":44756,"rss_after_kib":55172,
            "kib_per_connection":10.416,"connect_seconds":0.25}"#;
        let r: W0Result = serde_json::from_str(old).expect("an old W0 result");
        assert_eq!(r.kib_per_connection, Some(10.416));
        assert_eq!(r.kib_per_connection_second, None);
    }
}
