//! The audit report: figures, personal-data access with reasons, anomalies,
//! and its two renderings.

mod common;

use common::*;
use oriole_audit::report::{Anomaly, Verification};
use oriole_audit::{
    Actor, AuditEntry, Chain, Details, EntryDraft, EventKind, OperatorRole, Report, ReportOptions,
};
use serde_json::json;

const HOUR: i64 = 3_600_000;
/// Monday 2024-01-01 00:00 UTC.
const MONDAY: i64 = 1_704_067_200_000;

fn support(n: &str) -> Actor {
    Actor::Operator {
        role: OperatorRole::SUPPORT,
        id: id(n),
    }
}

fn access(time: i64, who: &str, user: &str, justified: bool) -> EntryDraft {
    let details = if justified {
        json!({"reason": "customer_support", "ticket": "T-1|2", "categories": ["profile", "devices"]})
    } else {
        json!({})
    };
    EntryDraft::new(time, support(who), EventKind::PERSONAL_DATA_ACCESS)
        .subject(id(user))
        .details(Details::new(details).expect("details"))
}

fn log() -> Vec<AuditEntry> {
    let mut chain = Chain::new();
    let mut out = Vec::new();
    let mut push = |d: EntryDraft| out.push(chain.append(d));
    // Before the period.
    push(EntryDraft::new(
        MONDAY - 48 * HOUR,
        Actor::System,
        EventKind::KEY_ROTATION,
    ));
    // In working hours, justified.
    push(access(MONDAY + 10 * HOUR, "op_a", "u_1", true));
    // At 03:00, without a ticket.
    push(access(MONDAY + 3 * HOUR, "op_b", "u_2", false));
    // op_c reads three users.
    for u in ["u_3", "u_4", "u_5"] {
        push(access(MONDAY + 11 * HOUR, "op_c", u, true));
    }
    // Four failed logins in two minutes, then a success.
    for i in 0..4 {
        push(
            EntryDraft::new(
                MONDAY + 12 * HOUR + i * 30_000,
                Actor::System,
                EventKind::LOGIN_FAILED,
            )
            .subject(id("u_9")),
        );
    }
    push(
        EntryDraft::new(
            MONDAY + 12 * HOUR + 200_000,
            Actor::User { id: id("u_9") },
            EventKind::LOGIN,
        )
        .subject(id("u_9")),
    );
    out
}

fn options() -> ReportOptions {
    let mut o = ReportOptions::new(MONDAY + 72 * HOUR, vec![signer().public_key()]);
    o.broad_access_subjects = 3;
    o.failed_login_burst = 4;
    o
}

#[test]
fn figures_accesses_and_anomalies() {
    let entries = log();
    let cps = seal(&signer(), &entries, &[6]);
    let report = Report::build(&entries, &cps, MONDAY, &options());

    let Verification::Verified(v) = &report.verification else {
        panic!("should verify: {:?}", report.verification);
    };
    assert_eq!((v.last_seq, v.sealed_through, v.unsealed_tail), (11, 6, 5));
    assert_eq!(report.entries_in_period, 10);
    assert_eq!(report.by_action["personal_data_access"], 5);
    assert_eq!(report.by_action["login_failed"], 4);
    assert!(!report.by_action.contains_key("key_rotation"));
    assert_eq!(report.by_role["operator:support"], 5);
    assert_eq!(report.by_role_action["system"]["login_failed"], 4);
    assert_eq!(report.by_role_action["user"]["login"], 1);

    assert_eq!(report.personal_data_access.len(), 5);
    let first = &report.personal_data_access[0];
    assert_eq!(first.reason.as_deref(), Some("customer_support"));
    assert_eq!(first.ticket.as_deref(), Some("T-1|2"));
    assert_eq!(first.categories, ["profile", "devices"]);
    assert_eq!(first.subject.as_deref(), Some("u_1"));

    let a = &report.anomalies;
    assert!(a.contains(&Anomaly::MissingJustification {
        seq: 3,
        role: "operator:support".into()
    }));
    assert!(a.contains(&Anomaly::OffHoursAccess {
        seq: 3,
        time: MONDAY + 3 * HOUR,
        actor: "op_b".into(),
        role: "operator:support".into()
    }));
    assert!(a.contains(&Anomaly::BroadAccess {
        actor: "op_c".into(),
        role: "operator:support".into(),
        subjects: 3
    }));
    assert!(a.contains(&Anomaly::FailedLoginBurst {
        subject: Some("u_9".into()),
        count: 4,
        from: MONDAY + 12 * HOUR,
        to: MONDAY + 12 * HOUR + 90_000
    }));
    // Entries 7–11 have waited ~60 hours for a seal.
    assert!(a
        .iter()
        .any(|x| matches!(x, Anomaly::CheckpointOverdue { unsealed: 5, .. })));
    // Justified daytime access by op_a raises nothing.
    assert!(!a.iter().any(|x| matches!(
        x,
        Anomaly::OffHoursAccess { seq: 2, .. } | Anomaly::MissingJustification { seq: 2, .. }
    )));

    let md = report.to_markdown();
    for needle in [
        "# Oriole audit report",
        "Period: 2024-01-01T00:00:00Z to 2024-01-04T00:00:00Z",
        "**Verified.** Entries 1–11",
        "unsealed tail: 5 entries",
        format!("Head: entry 11, hash `{}`", entries[10].hash).as_str(),
        "| operator:support | personal_data_access | 5 |",
        "T-1\\|2",
        "Entry 3: operator:support read personal data without a reason code and ticket.",
        "read the data of 3 different users",
        "4 failed logins for `u_9`",
    ] {
        assert!(md.contains(needle), "missing {needle:?} in\n{md}");
    }

    let json: serde_json::Value =
        serde_json::from_str(&report.to_json().expect("json")).expect("parses");
    assert_eq!(json["verification"]["status"], "verified");
    assert_eq!(json["by_action"]["login_failed"], 4);
    assert_eq!(json["anomalies"][0]["kind"], "missing_justification");
}

#[test]
fn a_tampered_log_says_so_first() {
    let mut entries = log();
    entries[4].time += 1;
    let report = Report::build(&entries, &[], MONDAY, &options());
    assert_eq!(
        report.verification,
        Verification::Failed {
            code: "hash_mismatch".into(),
            seq: 5,
            message: "entry 5: its hash does not match its contents (the entry was edited)".into()
        }
    );
    let md = report.to_markdown();
    assert!(
        md.contains("**VERIFICATION FAILED** at entry 5 (`hash_mismatch`)"),
        "{md}"
    );
}

#[test]
fn a_quiet_log_reports_cleanly() {
    let report = Report::build(&[], &[], MONDAY, &options());
    assert!(report.anomalies.is_empty());
    assert_eq!(report.entries_in_period, 0);
    let md = report.to_markdown();
    assert!(md.contains("None in the period."));
    assert!(md.contains("None found."));
}

#[test]
fn long_gaps_between_checkpoints_are_flagged() {
    let entries = simple_log(4);
    let signer = signer();
    let cps = vec![
        oriole_audit::Checkpoint::sign(&signer, 2, entries[1].hash, MONDAY),
        oriole_audit::Checkpoint::sign(&signer, 4, entries[3].hash, MONDAY + 30 * HOUR),
    ];
    let report = Report::build(&entries, &cps, MONDAY, &options());
    assert!(report.anomalies.contains(&Anomaly::CheckpointGap {
        from_count: 2,
        to_count: 4,
        from_time: MONDAY,
        to_time: MONDAY + 30 * HOUR
    }));
}
