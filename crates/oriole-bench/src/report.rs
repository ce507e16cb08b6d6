//! The results of one benchmark run: JSON for machines, a Markdown table
//! for people (the same numbers), with the machine and settings recorded.

use serde::{Deserialize, Serialize};

use crate::ceiling::sqlite::InsertRate;
use crate::workload::w0::W0Result;
use crate::workload::w1::W1Result;
use crate::workload::w2::W2Result;
use crate::workload::w3::W3Result;
use crate::workload::w4::W4Result;
use crate::workload::Knobs;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub started_at_unix: u64,
    pub machine: Machine,
    pub knobs: Knobs,
    pub notes: Vec<String>,
    pub ceilings: Ceilings,
    pub servers: Vec<ServerReport>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub mem_total_kib: u64,
    pub kernel: String,
    /// Server on core 0, load generator on core 1.
    pub pinned: bool,
}

impl Machine {
    pub fn probe(pinned: bool) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Machine {
            cpus: cpuinfo
                .lines()
                .filter(|l| l.starts_with("processor"))
                .count(),
            cpu_model: cpuinfo
                .lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_owned())
                .unwrap_or_default(),
            mem_total_kib: meminfo
                .lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_owned(),
            pinned,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Ceilings {
    /// W1 through the bare relay: the transport and generator ceiling.
    pub relay_w1: Option<W1Result>,
    /// SQLite inserts per batch size, WAL, synchronous=FULL.
    pub sqlite: Vec<InsertRate>,
    /// The same, measured again right after Oriole's workloads. A shared
    /// VM's speed can change by half within a run, and the first ceiling
    /// is minutes older than Oriole's steps: a ratio to the ceiling
    /// stands only if it stands against both, so the report gives both.
    #[serde(default)]
    pub sqlite_after: Vec<InsertRate>,
}

impl Ceilings {
    /// The second measurement at `rows_per_txn` rows per transaction.
    fn after(&self, rows_per_txn: u32) -> Option<&InsertRate> {
        self.sqlite_after
            .iter()
            .find(|c| c.rows_per_txn == rows_per_txn)
    }

    /// How far the two measurements of the largest batch are apart, as a
    /// fraction of the lower one.
    pub fn drift(&self) -> Option<f64> {
        let before = self.sqlite.iter().max_by_key(|c| c.rows_per_txn)?;
        let after = self.after(before.rows_per_txn)?;
        let low = before.rows_per_sec.min(after.rows_per_sec);
        (low > 0.0).then(|| (before.rows_per_sec - after.rows_per_sec).abs() / low)
    }
}

/// Oriole's highest W1 rate held against SQLite's 1000-row ceiling
/// measured seconds before and after the step that held it, when the
/// steps were probed: the ratio from the same minute.
fn probed_ratio(w1: &W1Result) -> String {
    let (Some(best), Some((before, after))) = (w1.max_held_rate, w1.ceiling_around_best()) else {
        return String::new();
    };
    let mean = (before + after) / 2.0;
    let mut probed = w1.ceilings_probed();
    probed.sort_by(f64::total_cmp);
    format!(
        "- Oriole / SQLite insert ceiling, 1000 rows per transaction, measured right before and right after the step that held ({before:.0} and {after:.0} rows/s, on the server's core): {} of their mean ({} probes during Oriole's W1, {:.0} to {:.0} rows/s)\n",
        ratio(Some(best), Some(mean)),
        probed.len(),
        probed.first().copied().unwrap_or_default(),
        probed.last().copied().unwrap_or_default(),
    )
}

/// Windows listed per failed attempt at most.
const SLOW_WINDOWS_LISTED: usize = 6;

/// Where in each failed attempt the messages over the limit were sent,
/// by window of scheduled send time: a stall in one window reads
/// differently from a tail spread over the whole step.
fn slow_windows(steps: &[crate::workload::StepResult]) -> String {
    let mut md = String::new();
    for st in steps.iter().filter(|st| !st.held) {
        let windows = &st.tally.slow_windows;
        if windows.is_empty() {
            continue;
        }
        if md.is_empty() {
            md.push_str(&format!(
                "\nOver the limit in the attempts that failed, by {} ms window of scheduled send time (from the step's start: messages over, slowest):\n\n",
                crate::record::WINDOW_US / 1000
            ));
        }
        let listed = windows
            .iter()
            .take(SLOW_WINDOWS_LISTED)
            .map(|w| {
                format!(
                    "{:.2} s: {}, {:.0} ms",
                    w.from_ms as f64 / 1000.0,
                    w.over,
                    w.max_ms
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        let more = windows.len().saturating_sub(SLOW_WINDOWS_LISTED);
        let more = if more > 0 {
            format!("; {more} more")
        } else {
            String::new()
        };
        md.push_str(&format!("- {:.0} msg/s: {listed}{more}\n", st.offered_rate));
    }
    md
}

/// Above this drift between the two ceilings, the report says the
/// machine's speed changed during the run.
const DRIFT_NOTED: f64 = 0.10;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ServerReport {
    pub name: String,
    pub url: String,
    pub pid: Option<u32>,
    /// How the server was configured for the run (durability, threads, ...).
    pub settings: Vec<String>,
    pub w0: Option<W0Result>,
    pub w1: Option<W1Result>,
    pub w2: Option<W2Result>,
    pub w3: Option<W3Result>,
    pub w4: Option<W4Result>,
    /// Workloads that could not run, and why.
    pub errors: Vec<String>,
}

fn num(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{v:.0}"))
}

fn num1(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{v:.1}"))
}

/// W0's two readings, first batch then second (see `workload::w0`).
fn w0_pair(w0: &W0Result) -> String {
    format!(
        "{} / {}",
        num1(w0.kib_per_connection),
        num1(w0.kib_per_connection_second)
    )
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "—".to_owned(),
    }
}

impl Report {
    fn server(&self, name: &str) -> Option<&ServerReport> {
        self.servers.iter().find(|s| s.name == name)
    }

    /// What one message may cost the server's core for Oriole to hold 70%
    /// of the 1000-row ceiling, next to what it costs Oriole, the bare
    /// relay (sockets and framing only) and SQLite (a row, fsync waits
    /// excluded): the budget the target sets, from the same run. Then the
    /// bound the relay and the row set together: a server that only
    /// relayed and inserted, at those costs, on its whole core, could hold
    /// no more than one message per their sum.
    fn cpu_budget(&self, ours: &W1Result) -> Option<String> {
        let best = ours.max_held_rate?;
        let cpu_at = |w1: &W1Result, rate: f64| {
            w1.steps
                .iter()
                .filter(|st| st.held && st.server_cpu_us_per_delivery.is_some())
                .min_by(|a, b| {
                    (a.offered_rate - rate)
                        .abs()
                        .total_cmp(&(b.offered_rate - rate).abs())
                })
                .and_then(|st| Some((st.offered_rate, st.server_cpu_us_per_delivery?)))
        };
        let (_, oriole_us) = cpu_at(ours, best)?;
        let ceiling = match ours.ceiling_around_best() {
            Some((before, after)) => (before + after) / 2.0,
            None => {
                self.ceilings
                    .sqlite
                    .iter()
                    .max_by_key(|c| c.rows_per_txn)?
                    .rows_per_sec
            }
        };
        let target = 0.7 * ceiling;
        let mut line = format!(
            "- CPU per message on the server's core: 70% of the 1000-row ceiling is {target:.0} msg/s, which leaves {:.1} µs a message for everything; Oriole spends {oriole_us:.1} µs at {best:.0} msg/s",
            1e6 / target
        );
        // The relay probed at Oriole's rate right after the step that
        // decided it, when it was; else the relay's own search.
        let same_minute = ours
            .steps
            .iter()
            .rev()
            .find(|st| st.held && st.offered_rate == best)
            .and_then(|st| st.relay_after.as_ref()?.server_cpu_us_per_delivery);
        // Else the relay's own step nearest Oriole's rate, and that rate.
        let relay = same_minute.map(|us| (us, None)).or_else(|| {
            let (rate, us) = cpu_at(self.ceilings.relay_w1.as_ref()?, best)?;
            Some((us, Some(rate)))
        });
        match relay {
            Some((us, None)) => line.push_str(&format!(
                "; the bare relay {us:.1} µs at the same rate right after that step (Oriole {:.2}× the transport alone)",
                oriole_us / us
            )),
            Some((us, Some(rate))) => line.push_str(&format!(
                "; the bare relay {us:.1} µs at {rate:.0} msg/s (its held step nearest Oriole's)"
            )),
            None => {}
        }
        let row = self
            .ceilings
            .sqlite
            .iter()
            .chain(&self.ceilings.sqlite_after)
            .filter(|c| c.rows_per_txn == 1000)
            .filter_map(|c| c.cpu_us_per_row)
            .collect::<Vec<_>>();
        let row_us = (!row.is_empty()).then(|| row.iter().sum::<f64>() / row.len() as f64);
        if let Some(mean) = row_us {
            line.push_str(&format!(
                "; SQLite {mean:.1} µs a row at 1000 rows per transaction (fsync waits excluded)"
            ));
        }
        line.push_str(".\n");
        // The two parts every server here pays for, added up at the costs
        // measured: what the target asks of a design built from them,
        // Oriole or not. Batching can undercut either, so not a floor.
        if let (Some((relay, _)), Some(row)) = (relay, row_us) {
            let rate = 1e6 / (relay + row);
            line.push_str(&format!(
                "- Bound from the same run: the bare relay's {relay:.1} µs and SQLite's {row:.1} µs a row add up to {:.1} µs a message, so a server doing only those two, on all of its core, would hold at most {rate:.0} msg/s, {:.0}% of the ceiling (the target is 70%; Oriole holds {:.0}%).\n",
                relay + row,
                100.0 * rate / ceiling,
                100.0 * best / ceiling
            ));
        }
        Some(line)
    }

    /// The report as Markdown: summary, ratios, ceilings, then every step.
    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        let m = &self.machine;
        md.push_str(&format!(
            "Machine: {} × {}, {:.1} GiB, Linux {}; {}.\n\n",
            m.cpus,
            m.cpu_model,
            m.mem_total_kib as f64 / 1024.0 / 1024.0,
            m.kernel,
            if m.pinned {
                "server pinned to core 0, load generator to core 1"
            } else {
                "no pinning"
            }
        ));
        for note in &self.notes {
            md.push_str(&format!("- {note}\n"));
        }
        md.push_str("\n### Summary\n\n");
        md.push_str("| server | W1 max held msg/s (p99 ≤ limit, no loss) | W2 drain msg/s | W3 deliveries/s held (10 / 100 / 500) | W0 KiB per idle connection (first / second batch) | W4 logins/s |\n");
        md.push_str("| --- | ---: | ---: | ---: | ---: | ---: |\n");
        for s in &self.servers {
            let w3 = s.w3.as_ref().map_or_else(
                || "—".to_owned(),
                |w3| {
                    w3.groups
                        .iter()
                        .map(|g| num(g.held_deliveries_per_sec))
                        .collect::<Vec<_>>()
                        .join(" / ")
                },
            );
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                s.name,
                num(s.w1.as_ref().and_then(|w| w.max_held_rate)),
                num(s.w2.as_ref().map(|w| w.drain_rate)),
                w3,
                s.w0.as_ref().map_or_else(|| "—".to_owned(), w0_pair),
                num(s.w4.as_ref().map(|w| w.logins_per_sec)),
            ));
        }
        if let Some(relay) = &self.ceilings.relay_w1 {
            let capped = relay
                .max_held_rate
                .is_some_and(|r| r >= self.knobs.w1_max_rate);
            md.push_str(&format!(
                "| bare WebSocket relay (ceiling) | {}{} | — | — | — | — |\n",
                if capped { "≥ " } else { "" },
                num(relay.max_held_rate)
            ));
        }

        let w1 = |name: &str| self.server(name).and_then(|s| s.w1.as_ref()?.max_held_rate);
        // Only a run with Oriole's W1 has W1 ratios to give.
        if let Some(oriole) = self.server("oriole").filter(|s| s.w1.is_some()) {
            md.push_str("\n### Ratios (W1, same run)\n\n");
            let ours = oriole.w1.as_ref().and_then(|w| w.max_held_rate);
            for s in self.servers.iter().filter(|s| s.name != "oriole") {
                md.push_str(&format!(
                    "- Oriole / {}: {}\n",
                    s.name,
                    ratio(ours, w1(&s.name))
                ));
            }
            for c in &self.ceilings.sqlite {
                let after = match self.ceilings.after(c.rows_per_txn) {
                    Some(a) => format!(
                        " against the ceiling measured before Oriole, {} against the one after",
                        ratio(ours, Some(a.rows_per_sec))
                    ),
                    None => String::new(),
                };
                md.push_str(&format!(
                    "- Oriole / SQLite insert ceiling, {} row(s) per transaction: {}{after}\n",
                    c.rows_per_txn,
                    ratio(ours, Some(c.rows_per_sec))
                ));
            }
            if let Some(w1) = &oriole.w1 {
                md.push_str(&probed_ratio(w1));
            }
            if let Some(drift) = self.ceilings.drift().filter(|d| *d > DRIFT_NOTED) {
                md.push_str(&format!(
                    "- The two SQLite ceilings are {:.0}% apart: the machine's speed changed during the run, and a ratio to either is no surer than that.\n",
                    drift * 100.0
                ));
            }
            if let Some(relay) = &self.ceilings.relay_w1 {
                md.push_str(&format!(
                    "- Oriole / bare relay: {}\n",
                    ratio(ours, relay.max_held_rate)
                ));
            }
            if let Some(line) = oriole.w1.as_ref().and_then(|w1| self.cpu_budget(w1)) {
                md.push_str(&line);
            }
        }

        if !self.ceilings.sqlite.is_empty() {
            md.push_str("\n### SQLite insert ceiling (WAL, synchronous=FULL)\n\n");
            md.push_str("| rows per transaction | rows/s | commits/s | CPU µs/row | rows/s, again after Oriole | CPU µs/row, after |\n| ---: | ---: | ---: | ---: | ---: | ---: |\n");
            let cpu = |c: &InsertRate| {
                c.cpu_us_per_row
                    .map_or_else(|| "—".to_owned(), |us| format!("{us:.1}"))
            };
            for c in &self.ceilings.sqlite {
                let after = self.ceilings.after(c.rows_per_txn);
                md.push_str(&format!(
                    "| {} | {:.0} | {:.0} | {} | {} | {} |\n",
                    c.rows_per_txn,
                    c.rows_per_sec,
                    c.txns_per_sec,
                    cpu(c),
                    after.map_or_else(|| "—".to_owned(), |a| format!("{:.0}", a.rows_per_sec)),
                    after.map_or_else(|| "—".to_owned(), cpu),
                ));
            }
        }

        let mut steps = |name: &str, w1: &W1Result| {
            md.push_str(&format!(
                "\n### W1 steps: {name} ({} sender/receiver pairs)\n\n",
                w1.pairs
            ));
            let probed = w1.steps.iter().any(|s| s.ceiling_after.is_some());
            let relayed = w1.steps.iter().any(|s| s.relay_after.is_some());
            md.push_str("| offered msg/s | delivered/s | server CPU µs/delivery | p50 ms | p99 ms | max ms | late | lost | dup | errors | held |");
            if probed {
                md.push_str(" SQLite 1000-row ceiling right after, rows/s |");
            }
            if relayed {
                md.push_str(" bare relay at this rate right after: CPU µs/msg, p99 ms |");
            }
            md.push_str(
                "\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
            );
            md.push_str(&" ---: |".repeat(usize::from(probed) + usize::from(relayed)));
            md.push('\n');
            for st in &w1.steps {
                let t = &st.tally;
                let cpu = st
                    .server_cpu_us_per_delivery
                    .map_or_else(|| "—".to_owned(), |c| format!("{c:.0}"));
                let mut after = String::new();
                if probed {
                    after.push_str(&format!(" {} |", num(st.ceiling_after)));
                }
                if relayed {
                    after.push_str(&match &st.relay_after {
                        Some(r) => format!(
                            " {}, {:.1} |",
                            r.server_cpu_us_per_delivery
                                .map_or_else(|| "—".to_owned(), |c| format!("{c:.1}")),
                            r.tally.latency.p99_ms
                        ),
                        None => " — |".to_owned(),
                    });
                }
                md.push_str(&format!(
                    "| {:.0} | {:.0} | {cpu} | {:.2} | {:.2} | {:.1} | {} | {} | {} | {} | {} |{after}\n",
                    st.offered_rate,
                    st.delivered_per_sec,
                    t.latency.p50_ms,
                    t.latency.p99_ms,
                    t.latency.max_ms,
                    t.late,
                    t.lost,
                    t.duplicates,
                    t.send_errors,
                    if st.held { "yes" } else { "no" }
                ));
            }
            md.push_str(&slow_windows(&w1.steps));
        };
        for s in &self.servers {
            if let Some(w1) = &s.w1 {
                steps(&s.name, w1);
            }
        }
        if let Some(relay) = &self.ceilings.relay_w1 {
            steps("bare WebSocket relay", relay);
        }

        for s in &self.servers {
            if let Some(w3) = &s.w3 {
                md.push_str(&format!("\n### W3 group fan-out: {}\n\n", s.name));
                md.push_str("| members | max held msg/s | deliveries/s there | p99 to last member there, ms | peak deliveries/s (any step) | steps (msg/s: p99 ms, held) |\n");
                md.push_str("| ---: | ---: | ---: | ---: | ---: | --- |\n");
                for g in &w3.groups {
                    let p99 = g.max_held_rate.and_then(|rate| {
                        g.steps
                            .iter()
                            .find(|st| st.held && st.offered_rate == rate)
                            .map(|st| st.tally.last_member.p99_ms)
                    });
                    let steps = g
                        .steps
                        .iter()
                        .map(|st| {
                            let t = &st.tally;
                            let missing = if t.late + t.lost > 0 {
                                format!(" (late {}, lost {})", t.late, t.lost)
                            } else {
                                String::new()
                            };
                            format!(
                                "{:.1}: {:.0}{}{missing}",
                                st.offered_rate,
                                t.last_member.p99_ms,
                                if st.held { "" } else { " ✗" }
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(", ");
                    md.push_str(&format!(
                        "| {} | {} | {} | {} | {:.0} | {} |\n",
                        g.members,
                        num1(g.max_held_rate),
                        num(g.held_deliveries_per_sec),
                        num1(p99),
                        g.peak_deliveries_per_sec,
                        steps
                    ));
                }
            }
            if let Some(w2) = &s.w2 {
                md.push_str(&format!(
                    "\n{} W2: {} messages to {} offline users, offered at {:.0} msg/s and stored (every send answered) at {:.0} msg/s; drained at {:.0} msg/s in {:.2} s, logins included (lost {}, dup {}).\n",
                    s.name,
                    w2.messages,
                    w2.pairs,
                    self.knobs.w2_send_rate,
                    w2.store_rate,
                    w2.drain_rate,
                    w2.drain_seconds,
                    w2.tally.lost,
                    w2.tally.duplicates
                ));
            }
            if let Some(w0) = &s.w0 {
                let kib = |v: Option<u64>| v.map_or("?".into(), |v| v.to_string());
                md.push_str(&format!(
                    "\n{} W0: {} idle connections, RSS {} → {} KiB ({} KiB each), connected in {:.2} s; {} more, RSS → {} KiB ({} KiB each), connected in {} s. Anonymous memory touched per connection: {} KiB (first batch), {} KiB (second).\n",
                    s.name,
                    w0.connections,
                    kib(w0.rss_before_kib),
                    kib(w0.rss_after_kib),
                    num1(w0.kib_per_connection),
                    w0.connect_seconds,
                    w0.connections,
                    kib(w0.rss_after_second_kib),
                    num1(w0.kib_per_connection_second),
                    w0.connect_seconds_second
                        .map_or("?".into(), |v| format!("{v:.2}")),
                    num1(w0.touched_kib_per_connection),
                    num1(w0.touched_kib_per_connection_second),
                ));
            }
            if let Some(w4) = &s.w4 {
                md.push_str(&format!(
                    "\n{} W4: {} logins, {} at once, {:.0} logins/s, p50 {:.1} ms, p99 {:.1} ms, {} failed.\n",
                    s.name,
                    w4.logins,
                    w4.concurrency,
                    w4.logins_per_sec,
                    w4.latency.p50_ms,
                    w4.latency.p99_ms,
                    w4.failures
                ));
            }
            if !s.settings.is_empty() {
                md.push_str(&format!(
                    "\n{} settings: {}.\n",
                    s.name,
                    s.settings.join("; ")
                ));
            }
            for e in &s.errors {
                md.push_str(&format!("\n{}: did not complete: {e}\n", s.name));
            }
        }
        md
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(rows_per_txn: u32, rows_per_sec: f64) -> InsertRate {
        InsertRate {
            cpu_us_per_row: None,
            rows_per_txn,
            rows: 0,
            transactions: 0,
            seconds: 1.0,
            rows_per_sec,
            txns_per_sec: rows_per_sec / f64::from(rows_per_txn),
        }
    }

    fn report(before: f64, after: Option<f64>) -> Report {
        Report {
            started_at_unix: 0,
            machine: Machine::default(),
            knobs: Knobs::default(),
            notes: Vec::new(),
            ceilings: Ceilings {
                relay_w1: None,
                sqlite: vec![rate(10, before / 4.0), rate(1000, before)],
                sqlite_after: after
                    .map(|a| vec![rate(10, a / 4.0), rate(1000, a)])
                    .unwrap_or_default(),
            },
            servers: vec![ServerReport {
                name: "oriole".into(),
                w1: Some(W1Result {
                    pairs: 50,
                    steps: Vec::new(),
                    max_held_rate: Some(50_000.0),
                    warm_up_ceiling: None,
                }),
                ..ServerReport::default()
            }],
        }
    }

    /// Both ceilings give a ratio; when they are far apart, the report
    /// says the machine's speed changed.
    #[test]
    fn ratios_name_both_ceilings_and_their_drift() {
        let md = report(100_000.0, Some(62_500.0)).to_markdown();
        assert!(
            md.contains(
                "1000 row(s) per transaction: 0.50× against the ceiling measured before Oriole, \
                 0.80× against the one after"
            ),
            "{md}"
        );
        assert!(
            md.contains("| 1000 | 100000 | 100 | — | 62500 | — |"),
            "{md}"
        );
        assert!(md.contains("ceilings are 60% apart"), "{md}");

        let steady = report(100_000.0, Some(95_000.0)).to_markdown();
        assert!(steady.contains("0.53× against the one after"), "{steady}");
        assert!(!steady.contains("apart"), "{steady}");
    }

    /// A report written before the second ceiling existed still reads,
    /// and gives the one ratio it has.
    #[test]
    fn a_report_without_the_second_ceiling_reads_as_before() {
        let old = report(100_000.0, None);
        let mut json = serde_json::to_value(&old).expect("json");
        json["ceilings"]
            .as_object_mut()
            .expect("ceilings")
            .remove("sqlite_after");
        let read: Report = serde_json::from_value(json).expect("reads");
        let md = read.to_markdown();
        assert!(md.contains("1000 row(s) per transaction: 0.50×\n"), "{md}");
        assert_eq!(read.ceilings.drift(), None);
    }

    fn step(rate: f64, held: bool, ceiling_after: Option<f64>) -> crate::workload::StepResult {
        crate::workload::StepResult {
            offered_rate: rate,
            seconds: 10.0,
            delivered_per_sec: rate,
            held,
            tally: crate::record::Tally::default(),
            server_cpu_us_per_delivery: None,
            ceiling_after,
            relay_after: None,
        }
    }

    /// With the ceiling probed after every step, the ratio is to the two
    /// probes around the attempt that decided the highest rate held: the
    /// second attempt, when the first failed.
    #[test]
    fn the_probed_ratio_is_to_the_probes_around_the_deciding_attempt() {
        let mut r = report(100_000.0, Some(100_000.0));
        let w1 = r.servers[0].w1.as_mut().expect("w1");
        w1.warm_up_ceiling = Some(90_000.0);
        w1.steps = vec![
            step(25_000.0, true, Some(80_000.0)),
            step(50_000.0, false, Some(70_000.0)),
            step(50_000.0, true, Some(50_000.0)),
            step(100_000.0, false, Some(95_000.0)),
            step(100_000.0, false, Some(85_000.0)),
        ];
        assert_eq!(w1.ceiling_around_best(), Some((70_000.0, 50_000.0)));
        let md = r.to_markdown();
        assert!(
            md.contains(
                "right after the step that held (70000 and 50000 rows/s, on the server's core): \
                 0.83× of their mean (6 probes during Oriole's W1, 50000 to 95000 rows/s)"
            ),
            "{md}"
        );
        assert!(md.contains("| yes | 50000 |"), "{md}");

        // The first step decided: the probe before it is the warm-up's.
        let w1 = r.servers[0].w1.as_mut().expect("w1");
        w1.max_held_rate = Some(25_000.0);
        assert_eq!(w1.ceiling_around_best(), Some((90_000.0, 80_000.0)));
    }

    /// The budget line: what 70% of the probed ceiling leaves a message,
    /// next to Oriole's CPU at the rate it held, the relay's at its held
    /// step nearest that rate, and SQLite's per row (both ceilings); then
    /// the bound those two parts set on any server built from them.
    #[test]
    fn the_cpu_budget_sets_the_target_against_what_each_part_costs() {
        let mut r = report(100_000.0, Some(100_000.0));
        r.ceilings.sqlite[1].cpu_us_per_row = Some(6.0);
        r.ceilings.sqlite_after[1].cpu_us_per_row = Some(8.0);
        let with_cpu = |rate, held, us| crate::workload::StepResult {
            server_cpu_us_per_delivery: Some(us),
            ..step(rate, held, Some(80_000.0))
        };
        let w1 = r.servers[0].w1.as_mut().expect("w1");
        w1.warm_up_ceiling = Some(80_000.0);
        w1.steps = vec![
            with_cpu(25_000.0, true, 30.0),
            with_cpu(50_000.0, true, 20.0),
        ];
        r.ceilings.relay_w1 = Some(W1Result {
            pairs: 50,
            steps: vec![
                with_cpu(25_600.0, true, 9.0),
                with_cpu(51_200.0, true, 7.5),
                with_cpu(102_400.0, false, 6.0),
            ],
            max_held_rate: Some(51_200.0),
            warm_up_ceiling: None,
        });
        let md = r.to_markdown();
        assert!(
            md.contains(
                "70% of the 1000-row ceiling is 56000 msg/s, which leaves 17.9 µs a message for \
                 everything; Oriole spends 20.0 µs at 50000 msg/s; the bare relay 7.5 µs at \
                 51200 msg/s (its held step nearest Oriole's); SQLite 7.0 µs a row"
            ),
            "{md}"
        );
        assert!(
            md.contains("| 1000 | 100000 | 100 | 6.0 | 100000 | 8.0 |"),
            "{md}"
        );
        // 7.5 + 7.0 µs: 68,966 msg/s at most, 86% of the 80,000 probed.
        assert!(
            md.contains(
                "- Bound from the same run: the bare relay's 7.5 µs and SQLite's 7.0 µs a row add \
                 up to 14.5 µs a message, so a server doing only those two, on all of its core, \
                 would hold at most 68966 msg/s, 86% of the ceiling (the target is 70%; Oriole \
                 holds 62%).\n"
            ),
            "{md}"
        );
    }

    /// With the relay probed after each of Oriole's rates, the budget
    /// line takes the probe after the step that decided the rate held
    /// (the second attempt at 50000), not the relay's own search, and the
    /// steps table shows every probe.
    #[test]
    fn the_budget_takes_the_relay_probed_in_the_same_minute() {
        let mut r = report(100_000.0, Some(100_000.0));
        let probe = |us, p99_ms| {
            let mut st = step(50_000.0, true, None);
            st.server_cpu_us_per_delivery = Some(us);
            st.tally.latency.p99_ms = p99_ms;
            Some(Box::new(st))
        };
        let attempt = |held, oriole_us, relay| crate::workload::StepResult {
            server_cpu_us_per_delivery: Some(oriole_us),
            relay_after: relay,
            ..step(50_000.0, held, Some(80_000.0))
        };
        let w1 = r.servers[0].w1.as_mut().expect("w1");
        w1.warm_up_ceiling = Some(80_000.0);
        w1.steps = vec![
            attempt(false, 21.0, None),
            attempt(true, 20.0, probe(12.5, 3.25)),
        ];
        r.ceilings.relay_w1 = Some(W1Result {
            pairs: 50,
            steps: vec![crate::workload::StepResult {
                server_cpu_us_per_delivery: Some(7.5),
                ..step(51_200.0, true, None)
            }],
            max_held_rate: Some(51_200.0),
            warm_up_ceiling: None,
        });
        let md = r.to_markdown();
        assert!(
            md.contains(
                "Oriole spends 20.0 µs at 50000 msg/s; the bare relay 12.5 µs at the same rate \
                 right after that step (Oriole 1.60× the transport alone)"
            ),
            "{md}"
        );
        assert!(!md.contains("its held step nearest"), "{md}");
        assert!(
            md.contains("| no | 80000 | — |\n") && md.contains("| yes | 80000 | 12.5, 3.2 |\n"),
            "{md}"
        );
    }

    /// A run without W1 (W0 and W3 only) has no W1 ratios, and no
    /// heading for them either.
    #[test]
    fn a_run_without_w1_has_no_ratio_heading() {
        let mut r = report(100_000.0, None);
        r.servers[0].w1 = None;
        let md = r.to_markdown();
        assert!(!md.contains("Ratios"), "{md}");
        assert!(md.contains("| oriole | — |"), "{md}");
    }

    /// A failed attempt lists its windows over the limit; a held one not.
    #[test]
    fn failed_attempts_list_where_they_were_slow() {
        let mut r = report(100_000.0, None);
        let window = |from_ms, over, max_ms| crate::record::SlowWindow {
            from_ms,
            over,
            max_ms,
        };
        let mut failed = step(50_000.0, false, None);
        failed.tally.slow_windows = (0..8).map(|i| window(2000 + 250 * i, 10, 85.0)).collect();
        failed.tally.slow_windows[0].over = 3754;
        let mut held = step(50_000.0, true, None);
        held.tally.slow_windows = vec![window(500, 1, 51.0)];
        r.servers[0].w1.as_mut().expect("w1").steps = vec![failed, held];
        let md = r.to_markdown();
        assert!(
            md.contains(
                "- 50000 msg/s: 2.00 s: 3754, 85 ms; 2.25 s: 10, 85 ms; 2.50 s: 10, 85 ms; \
                 2.75 s: 10, 85 ms; 3.00 s: 10, 85 ms; 3.25 s: 10, 85 ms; 2 more\n"
            ),
            "{md}"
        );
        assert!(!md.contains("0.50 s"), "{md}");
        assert_eq!(md.matches("msg/s: ").count(), 1, "{md}");
    }

    /// Without probes (peers, older reports) the line is left out.
    #[test]
    fn no_probes_no_probed_ratio() {
        let md = report(100_000.0, None).to_markdown();
        assert!(!md.contains("right before and right after"), "{md}");
        assert!(!md.contains("ceiling right after, rows/s"), "{md}");
    }
}
