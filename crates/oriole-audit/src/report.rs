//! The periodic audit report (`oriole audit report`): whether the log
//! verifies, what happened in the period by role and action, every access to
//! personal data with its reason, and the patterns an auditor should look
//! at. Rendered as Markdown for people and JSON for tools.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use serde::Serialize;

use crate::checkpoint::{AuditPublicKey, Checkpoint};
use crate::details::keys;
use crate::entry::AuditEntry;
use crate::ids::{Actor, EventKind};
use crate::time::{civil, rfc3339};
use crate::verify::{verify_from, VerifyReport};

/// What the report is built against, and the thresholds of its anomaly
/// checks. [`ReportOptions::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// End of the period and "now" for overdue checks: Unix ms.
    pub now: i64,
    /// Trusted checkpoint keys (the server's current one, plus retired ones).
    pub keys: Vec<AuditPublicKey>,
    /// Working hours as `[start, end)` local hours; operator access to
    /// personal data outside them is flagged.
    pub working_hours: (u32, u32),
    /// The operators' time zone as a fixed offset from UTC, in minutes.
    pub utc_offset_minutes: i32,
    /// Whether Saturday and Sunday count as outside working hours.
    pub weekends_off: bool,
    /// One operator reading this many distinct users' data in the period is
    /// flagged.
    pub broad_access_subjects: usize,
    /// This many failed logins for one subject ...
    pub failed_login_burst: usize,
    /// ... within this many milliseconds is flagged.
    pub failed_login_window_ms: i64,
    /// Entries left unsealed longer than this, or checkpoints further apart
    /// than this, are flagged.
    pub max_checkpoint_interval_ms: i64,
}

impl ReportOptions {
    /// Defaults: working hours 08–18 UTC on weekdays, 20 users per
    /// operator, 10 failed logins in 10 minutes, a checkpoint at least daily.
    pub fn new(now: i64, keys: Vec<AuditPublicKey>) -> Self {
        ReportOptions {
            now,
            keys,
            working_hours: (8, 18),
            utc_offset_minutes: 0,
            weekends_off: true,
            broad_access_subjects: 20,
            failed_login_burst: 10,
            failed_login_window_ms: 10 * 60 * 1000,
            max_checkpoint_interval_ms: 24 * 60 * 60 * 1000,
        }
    }
}

/// The outcome of verifying the whole log, as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Verification {
    Verified(VerifyReport),
    Failed {
        /// Stable error code (`hash_mismatch`, `truncated`, ...).
        code: String,
        /// First bad entry.
        seq: u64,
        message: String,
    },
}

/// One read of a user's personal data by someone other than the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessRecord {
    pub seq: u64,
    pub time: i64,
    /// `operator:<role>`, `system`, or `user`.
    pub role: String,
    /// Pseudonymous id of whoever read (absent for the system).
    pub actor: Option<String>,
    pub subject: Option<String>,
    pub reason: Option<String>,
    pub ticket: Option<String>,
    pub categories: Vec<String>,
}

/// A pattern worth an auditor's attention; not by itself a breach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Anomaly {
    /// An operator read personal data without a reason code or a ticket.
    MissingJustification { seq: u64, role: String },
    /// One operator read many different users' data in the period.
    BroadAccess {
        actor: String,
        role: String,
        subjects: usize,
    },
    /// An operator read personal data outside working hours.
    OffHoursAccess {
        seq: u64,
        time: i64,
        actor: String,
        role: String,
    },
    /// Many failed logins for one subject in a short time.
    FailedLoginBurst {
        subject: Option<String>,
        count: usize,
        from: i64,
        to: i64,
    },
    /// Entries have waited longer than the checkpoint interval to be sealed.
    CheckpointOverdue {
        unsealed: u64,
        oldest_unsealed_time: i64,
    },
    /// Two consecutive checkpoints are further apart than the interval.
    CheckpointGap {
        from_count: u64,
        to_count: u64,
        from_time: i64,
        to_time: i64,
    },
}

/// How much of the log is sealed, as stored (trustworthy only when
/// verification succeeded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sealing {
    pub checkpoints: usize,
    pub last_seq: u64,
    pub sealed_through: u64,
    pub unsealed_tail: u64,
    pub last_checkpoint_time: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Period covered: `[since, until)`, Unix ms.
    pub since: i64,
    pub until: i64,
    /// Verification of the whole log, not only the period.
    pub verification: Verification,
    pub sealing: Sealing,
    pub entries_in_period: u64,
    pub by_action: BTreeMap<String, u64>,
    pub by_role: BTreeMap<String, u64>,
    /// Role label, then action, then count.
    pub by_role_action: BTreeMap<String, BTreeMap<String, u64>>,
    pub personal_data_access: Vec<AccessRecord>,
    pub anomalies: Vec<Anomaly>,
}

impl Report {
    /// Build the report for `[since, options.now)`. `entries` is the whole
    /// log in seq order (verification needs all of it; a log pruned by
    /// retention starts after a checkpoint that anchors it).
    pub fn build(
        entries: &[AuditEntry],
        checkpoints: &[Checkpoint],
        since: i64,
        options: &ReportOptions,
    ) -> Report {
        let first_seq = entries.first().map_or(1, |e| e.seq);
        let verification = match verify_from(first_seq, entries, checkpoints, &options.keys) {
            Ok(r) => Verification::Verified(r),
            Err(e) => Verification::Failed {
                code: e.code().to_owned(),
                seq: e.seq(),
                message: e.to_string(),
            },
        };
        let until = options.now;
        let period: Vec<&AuditEntry> = entries
            .iter()
            .filter(|e| e.time >= since && e.time < until)
            .collect();

        let mut by_action: BTreeMap<String, u64> = BTreeMap::new();
        let mut by_role: BTreeMap<String, u64> = BTreeMap::new();
        let mut by_role_action: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        let mut accesses = Vec::new();
        let mut anomalies = Vec::new();
        let mut subjects_by_operator: BTreeMap<(String, String), BTreeSet<String>> =
            BTreeMap::new();

        for e in &period {
            let role = e.actor.role_label();
            let action = e.action.as_str().to_owned();
            *by_action.entry(action.clone()).or_default() += 1;
            *by_role.entry(role.clone()).or_default() += 1;
            *by_role_action
                .entry(role.clone())
                .or_default()
                .entry(action)
                .or_default() += 1;

            if e.action != EventKind::PERSONAL_DATA_ACCESS {
                continue;
            }
            let reason = e.details.get_str(keys::REASON).map(str::to_owned);
            let ticket = e.details.get_str(keys::TICKET).map(str::to_owned);
            let categories = e
                .details
                .get(keys::CATEGORIES)
                .and_then(serde_json::Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let actor_id = match &e.actor {
                Actor::User { id } | Actor::Operator { id, .. } => Some(id.to_string()),
                Actor::System => None,
            };
            if let Actor::Operator { id, .. } = &e.actor {
                if reason.is_none() || ticket.is_none() {
                    anomalies.push(Anomaly::MissingJustification {
                        seq: e.seq,
                        role: role.clone(),
                    });
                }
                if off_hours(e.time, options) {
                    anomalies.push(Anomaly::OffHoursAccess {
                        seq: e.seq,
                        time: e.time,
                        actor: id.to_string(),
                        role: role.clone(),
                    });
                }
                if let Some(subject) = &e.subject {
                    subjects_by_operator
                        .entry((id.to_string(), role.clone()))
                        .or_default()
                        .insert(subject.to_string());
                }
            }
            accesses.push(AccessRecord {
                seq: e.seq,
                time: e.time,
                role,
                actor: actor_id,
                subject: e.subject.as_ref().map(ToString::to_string),
                reason,
                ticket,
                categories,
            });
        }

        for ((actor, role), subjects) in subjects_by_operator {
            if subjects.len() >= options.broad_access_subjects {
                anomalies.push(Anomaly::BroadAccess {
                    actor,
                    role,
                    subjects: subjects.len(),
                });
            }
        }
        anomalies.extend(failed_login_bursts(&period, options));

        let sealing = sealing(entries, checkpoints);
        anomalies.extend(checkpoint_anomalies(
            entries,
            checkpoints,
            &sealing,
            since,
            options,
        ));

        Report {
            since,
            until,
            verification,
            sealing,
            entries_in_period: period.len() as u64,
            by_action,
            by_role,
            by_role_action,
            personal_data_access: accesses,
            anomalies,
        }
    }

    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self)
    }

    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        // `write!` to a String cannot fail; the results are ignored.
        let _ = writeln!(md, "# Oriole audit report\n");
        let _ = writeln!(
            md,
            "Period: {} to {} (UTC)\n",
            rfc3339(self.since),
            rfc3339(self.until)
        );

        let _ = writeln!(md, "## Integrity\n");
        match &self.verification {
            Verification::Verified(r) => {
                let _ = writeln!(
                    md,
                    "**Verified.** Entries {}–{} ({} in all) hash-chain correctly; {} valid.\n",
                    r.first_seq,
                    r.last_seq,
                    r.entries_verified,
                    counted(
                        r.checkpoints_verified,
                        "checkpoint signature",
                        "checkpoint signatures"
                    )
                );
                let _ = writeln!(
                    md,
                    "Head: entry {}, hash `{}`. Keep it: a later export must contain this entry with this hash.\n",
                    r.last_seq, r.head_hash
                );
                if r.first_seq > 1 {
                    let _ = writeln!(
                        md,
                        "The log starts at entry {}: older entries were removed, and a signed checkpoint anchors the rest. Check this against the retention policy.\n",
                        r.first_seq
                    );
                }
            }
            Verification::Failed { code, seq, message } => {
                let _ = writeln!(
                    md,
                    "**VERIFICATION FAILED** at entry {seq} (`{code}`): {}.\n\nThe figures below come from a log that has been altered; treat them as unreliable.\n",
                    md_escape(message)
                );
            }
        }
        let s = &self.sealing;
        let last_cp = s.last_checkpoint_time.map_or("never".to_owned(), rfc3339);
        let _ = writeln!(
            md,
            "Sealed through entry {} of {} by {} (last: {}); unsealed tail: {}.\n",
            s.sealed_through,
            s.last_seq,
            counted(s.checkpoints as u64, "checkpoint", "checkpoints"),
            last_cp,
            counted(s.unsealed_tail, "entry", "entries")
        );

        let _ = writeln!(md, "## Activity\n");
        let _ = writeln!(
            md,
            "{} in the period.\n",
            counted(self.entries_in_period, "entry", "entries")
        );
        if !self.by_role_action.is_empty() {
            let _ = writeln!(md, "| role | action | count |\n| --- | --- | ---: |");
            for (role, actions) in &self.by_role_action {
                for (action, n) in actions {
                    let _ = writeln!(md, "| {} | {} | {n} |", md_escape(role), md_escape(action));
                }
            }
            let _ = writeln!(md);
            let _ = writeln!(md, "| action | count |\n| --- | ---: |");
            for (action, n) in &self.by_action {
                let _ = writeln!(md, "| {} | {n} |", md_escape(action));
            }
            let _ = writeln!(md);
        }

        let _ = writeln!(md, "## Access to personal data\n");
        if self.personal_data_access.is_empty() {
            let _ = writeln!(md, "None in the period.\n");
        } else {
            let _ = writeln!(
                md,
                "| entry | time (UTC) | role | by | user | reason | ticket | categories |\n| ---: | --- | --- | --- | --- | --- | --- | --- |"
            );
            for a in &self.personal_data_access {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} | {} | {} | {} |",
                    a.seq,
                    rfc3339(a.time),
                    md_escape(&a.role),
                    md_opt(a.actor.as_deref()),
                    md_opt(a.subject.as_deref()),
                    md_opt(a.reason.as_deref()),
                    md_opt(a.ticket.as_deref()),
                    md_escape(&a.categories.join(", ")),
                );
            }
            let _ = writeln!(md);
        }

        let _ = writeln!(md, "## Anomalies\n");
        if self.anomalies.is_empty() {
            let _ = writeln!(md, "None found.");
        }
        for a in &self.anomalies {
            let line = match a {
                Anomaly::MissingJustification { seq, role } => format!(
                    "Entry {seq}: {} read personal data without a reason code and ticket.",
                    md_escape(role)
                ),
                Anomaly::BroadAccess {
                    actor,
                    role,
                    subjects,
                } => format!(
                    "{} `{}` read the data of {subjects} different users.",
                    md_escape(role),
                    md_escape(actor)
                ),
                Anomaly::OffHoursAccess {
                    seq,
                    time,
                    actor,
                    role,
                } => format!(
                    "Entry {seq}: {} `{}` read personal data outside working hours ({}).",
                    md_escape(role),
                    md_escape(actor),
                    rfc3339(*time)
                ),
                Anomaly::FailedLoginBurst {
                    subject,
                    count,
                    from,
                    to,
                } => format!(
                    "{count} failed logins for {} between {} and {}.",
                    subject
                        .as_deref()
                        .map_or("unknown accounts".to_owned(), |s| format!(
                            "`{}`",
                            md_escape(s)
                        )),
                    rfc3339(*from),
                    rfc3339(*to)
                ),
                Anomaly::CheckpointOverdue {
                    unsealed,
                    oldest_unsealed_time,
                } => format!(
                    "{} not sealed by any checkpoint, the oldest since {}.",
                    counted(*unsealed, "entry is", "entries are"),
                    rfc3339(*oldest_unsealed_time)
                ),
                Anomaly::CheckpointGap {
                    from_count,
                    to_count,
                    from_time,
                    to_time,
                } => format!(
                    "No checkpoint between {} (entry {from_count}) and {} (entry {to_count}).",
                    rfc3339(*from_time),
                    rfc3339(*to_time)
                ),
            };
            let _ = writeln!(md, "- {line}");
        }
        md
    }
}

fn off_hours(time: i64, options: &ReportOptions) -> bool {
    let c = civil(time, options.utc_offset_minutes);
    let (start, end) = options.working_hours;
    let weekend = c.weekday == 0 || c.weekday == 6;
    (options.weekends_off && weekend) || c.hour < start || c.hour >= end
}

/// Sliding window over each subject's failed logins; one anomaly per burst
/// (the window's widest extent), not one per extra attempt.
fn failed_login_bursts(period: &[&AuditEntry], options: &ReportOptions) -> Vec<Anomaly> {
    let threshold = options.failed_login_burst.max(1);
    let mut times: HashMap<Option<String>, Vec<i64>> = HashMap::new();
    for e in period {
        if e.action == EventKind::LOGIN_FAILED {
            times
                .entry(e.subject.as_ref().map(ToString::to_string))
                .or_default()
                .push(e.time);
        }
    }
    let mut out = Vec::new();
    let mut subjects: Vec<_> = times.into_iter().collect();
    subjects.sort();
    for (subject, mut ts) in subjects {
        ts.sort_unstable();
        let mut i = 0;
        while i + threshold <= ts.len() {
            if ts[i + threshold - 1].saturating_sub(ts[i]) <= options.failed_login_window_ms {
                // Extend the burst while attempts keep coming within the
                // window of the previous one.
                let mut j = i + threshold - 1;
                while j + 1 < ts.len()
                    && ts[j + 1].saturating_sub(ts[j]) <= options.failed_login_window_ms
                {
                    j += 1;
                }
                out.push(Anomaly::FailedLoginBurst {
                    subject: subject.clone(),
                    count: j - i + 1,
                    from: ts[i],
                    to: ts[j],
                });
                i = j + 1;
            } else {
                i += 1;
            }
        }
    }
    out
}

fn sealing(entries: &[AuditEntry], checkpoints: &[Checkpoint]) -> Sealing {
    let last_seq = entries.last().map_or(0, |e| e.seq);
    let last = checkpoints.iter().max_by_key(|c| (c.count, c.time));
    let sealed_through = last.map_or(0, |c| c.count);
    Sealing {
        checkpoints: checkpoints.len(),
        last_seq,
        sealed_through,
        unsealed_tail: last_seq.saturating_sub(sealed_through),
        last_checkpoint_time: last.map(|c| c.time),
    }
}

fn checkpoint_anomalies(
    entries: &[AuditEntry],
    checkpoints: &[Checkpoint],
    sealing: &Sealing,
    since: i64,
    options: &ReportOptions,
) -> Vec<Anomaly> {
    let mut out = Vec::new();
    if sealing.unsealed_tail > 0 {
        let oldest = entries
            .iter()
            .find(|e| e.seq > sealing.sealed_through)
            .map(|e| e.time);
        if let Some(oldest) = oldest {
            if options.now.saturating_sub(oldest) > options.max_checkpoint_interval_ms {
                out.push(Anomaly::CheckpointOverdue {
                    unsealed: sealing.unsealed_tail,
                    oldest_unsealed_time: oldest,
                });
            }
        }
    }
    let mut sorted: Vec<&Checkpoint> = checkpoints.iter().collect();
    sorted.sort_by_key(|c| (c.count, c.time));
    for pair in sorted.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        // Only gaps that end in the period and during which entries were
        // written: a quiet log needs no new seal.
        if b.count > a.count
            && b.time >= since
            && b.time.saturating_sub(a.time) > options.max_checkpoint_interval_ms
        {
            out.push(Anomaly::CheckpointGap {
                from_count: a.count,
                to_count: b.count,
                from_time: a.time,
                to_time: b.time,
            });
        }
    }
    out
}

/// Table cells hold ids and codes, but reasons and tickets are free-ish
/// text: keep a `|` or a newline from breaking the table.
fn md_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn md_opt(s: Option<&str>) -> String {
    s.map_or("—".to_owned(), md_escape)
}
