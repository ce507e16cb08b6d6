//! Writing results: one JSON object per line with `--json`, otherwise short
//! human-readable lines. Text from the server is shown with control
//! characters escaped, so a message cannot drive the terminal.

use std::io::Write;

use oriole_proto::{DeviceInfo, EventKind, GroupInfo, InboxEvent, MemberInfo, ReceiptKind};
use serde::Serialize;

use super::error::CliError;

#[derive(Debug, Clone, Copy)]
pub struct Output {
    json: bool,
}

impl Output {
    pub fn new(json: bool) -> Output {
        Output { json }
    }

    pub fn is_json(&self) -> bool {
        self.json
    }

    /// One result: `value` as a JSON line, or the `human` line.
    pub fn emit<T: Serialize>(
        &self,
        value: &T,
        human: impl FnOnce() -> String,
    ) -> Result<(), CliError> {
        let line = if self.json {
            serde_json::to_string(value)
                .map_err(|e| CliError::new("internal", format!("cannot encode output: {e}")))?
        } else {
            human()
        };
        write_line(&line)
    }

    /// A line for people only (nothing with `--json`).
    pub fn note(&self, line: &str) -> Result<(), CliError> {
        if self.json {
            Ok(())
        } else {
            write_line(line)
        }
    }
}

fn write_line(line: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(|e| CliError::io("cannot write to stdout", &e))
}

/// `[seq 12] alice -> bob: hello (id …)` and friends.
pub fn event_line(event: &InboxEvent) -> String {
    let from = event
        .from
        .as_deref()
        .map(clean)
        .unwrap_or_else(|| "(deleted account)".into());
    let seq = event.seq;
    let id = clean(&event.id);
    match event.kind {
        EventKind::Message => {
            let to = match (&event.group, &event.to) {
                (Some(group), _) => format!("group {}", clean(group)),
                (None, Some(to)) => clean(to),
                (None, None) => "?".into(),
            };
            format!("[seq {seq}] {from} -> {to}: {} (id {id})", body(event))
        }
        EventKind::Recall => format!("[seq {seq}] {from} recalled message {id}"),
        EventKind::Receipt => {
            let what = match event.receipt {
                Some(ReceiptKind::Read) => "read",
                Some(ReceiptKind::Delivered) => "received",
                None => "acknowledged",
            };
            format!("[seq {seq}] {from} {what} message {id}")
        }
    }
}

fn body(event: &InboxEvent) -> String {
    if event.recalled {
        return "(recalled)".into();
    }
    if event.from.is_none() && event.text.is_none() && event.payload.is_none() {
        return "(message from a deleted account)".into();
    }
    let mut parts = Vec::new();
    if let Some(text) = &event.text {
        parts.push(clean(text));
    }
    if let Some(payload) = &event.payload {
        // serde_json escapes control characters itself.
        parts.push(format!("[payload {payload}]"));
    }
    if parts.is_empty() {
        "(empty)".into()
    } else {
        parts.join(" ")
    }
}

pub fn device_line(device: &DeviceInfo) -> String {
    let model = device.device_model.as_deref().map(clean);
    let os = device.os_version.as_deref().map(clean);
    let what = match (model, os) {
        (Some(m), Some(o)) => format!("{m} / {o}"),
        (Some(m), None) => m,
        (None, Some(o)) => o,
        (None, None) => "unknown device".into(),
    };
    let ip = device
        .ip
        .as_deref()
        .map(|ip| format!("  from {}", clean(ip)))
        .unwrap_or_default();
    let current = if device.current {
        "  (this device)"
    } else {
        ""
    };
    format!(
        "{}  {what}{ip}  last seen {}{current}",
        clean(&device.device_id),
        format_time(device.last_seen)
    )
}

pub fn member_line(member: &MemberInfo) -> String {
    format!(
        "{}  {}  joined {}",
        clean(&member.username),
        member.role.as_str(),
        format_time(member.joined_at)
    )
}

pub fn group_line(group: &GroupInfo) -> String {
    let history = if group.history_visible {
        ", history visible"
    } else {
        ""
    };
    format!(
        "{}  {}  ({}{history})",
        clean(&group.group_id),
        clean(&group.name),
        group.role.as_str()
    )
}

/// Control characters (newlines, escape sequences) shown escaped.
pub fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn format_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> InboxEvent {
        InboxEvent {
            seq: 12,
            kind: EventKind::Message,
            id: "m1".into(),
            from: Some("alice".into()),
            to: Some("bob".into()),
            group: None,
            text: Some("hello".into()),
            payload: None,
            sent_at: 0,
            at: 0,
            receipt: None,
            recalled: false,
        }
    }

    #[test]
    fn event_lines() {
        assert_eq!(
            event_line(&message()),
            "[seq 12] alice -> bob: hello (id m1)"
        );
        let mut e = message();
        e.to = None;
        e.group = Some("g1".into());
        e.text = Some("hi\n\x1b[31mall".into());
        e.payload = Some(serde_json::json!({"k": 1}));
        assert_eq!(
            event_line(&e),
            "[seq 12] alice -> group g1: hi\\n\\u{1b}[31mall [payload {\"k\":1}] (id m1)"
        );
        e.recalled = true;
        assert!(event_line(&e).contains(": (recalled) (id m1)"));
        let mut r = message();
        r.kind = EventKind::Receipt;
        r.receipt = Some(ReceiptKind::Read);
        r.from = Some("bob".into());
        assert_eq!(event_line(&r), "[seq 12] bob read message m1");
        r.kind = EventKind::Recall;
        r.from = None;
        assert_eq!(
            event_line(&r),
            "[seq 12] (deleted account) recalled message m1"
        );
    }

    #[test]
    fn times() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_time(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_time(1_732_841_234_567), "2024-11-29 00:47:14 UTC");
        assert_eq!(format_time(-1000), "1969-12-31 23:59:59 UTC");
    }
}
