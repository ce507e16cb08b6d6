//! Shared builders for the audit tests: random but valid logs.

#![allow(dead_code)]

use oriole_audit::{
    Actor, AuditEntry, AuditSigner, Chain, Checkpoint, Details, EntryDraft, EventKind,
    OperatorRole, PseudonymousId,
};
use proptest::prelude::*;
use serde_json::json;

pub fn id(s: &str) -> PseudonymousId {
    PseudonymousId::parse(s).expect("test id is valid")
}

pub fn actor() -> impl Strategy<Value = Actor> {
    prop_oneof![
        "[a-z0-9]{1,8}".prop_map(|s| Actor::User {
            id: id(&format!("u_{s}"))
        }),
        (
            prop::sample::select(vec![
                OperatorRole::ADMIN,
                OperatorRole::SUPPORT,
                OperatorRole::AUDITOR,
                OperatorRole::PRIVACY_OFFICER,
            ]),
            "[a-z0-9]{1,6}"
        )
            .prop_map(|(role, s)| Actor::Operator {
                role,
                id: id(&format!("op_{s}"))
            }),
        Just(Actor::System),
    ]
}

pub fn details() -> impl Strategy<Value = Details> {
    prop_oneof![
        Just(Details::empty()),
        ("[a-z_]{1,12}", "[A-Z]-[0-9]{1,5}").prop_map(|(reason, ticket)| {
            Details::new(json!({"reason": reason, "ticket": ticket})).expect("valid details")
        }),
        (any::<i32>(), any::<bool>(), "[ -~]{0,20}").prop_map(|(n, b, s)| {
            Details::new(json!({"n": n, "flag": b, "note_code": s, "list": [n, null]}))
                .expect("valid details")
        }),
    ]
}

pub fn draft() -> impl Strategy<Value = EntryDraft> {
    (
        0i64..4_000_000_000_000,
        actor(),
        prop::sample::select(EventKind::KNOWN.to_vec()),
        prop::option::of("[a-z0-9]{1,10}"),
        details(),
    )
        .prop_map(|(time, actor, action, subject, details)| {
            let mut d = EntryDraft::new(time, actor, action).details(details);
            if let Some(s) = subject {
                d = d.subject(id(&format!("u_{s}")));
            }
            d
        })
}

pub fn build(drafts: Vec<EntryDraft>) -> Vec<AuditEntry> {
    let mut chain = Chain::new();
    drafts.into_iter().map(|d| chain.append(d)).collect()
}

/// Checkpoints sealing the first `count` entries, for each count given.
pub fn seal(signer: &AuditSigner, entries: &[AuditEntry], counts: &[u64]) -> Vec<Checkpoint> {
    counts
        .iter()
        .map(|&count| {
            let head = if count == 0 {
                oriole_audit::EntryHash::GENESIS
            } else {
                entries[(count - 1) as usize].hash
            };
            Checkpoint::sign(signer, count, head, 1_000 + count as i64)
        })
        .collect()
}

/// A fixed signer, so failures reproduce.
pub fn signer() -> AuditSigner {
    AuditSigner::from_bytes(&[7; 32]).expect("32 bytes")
}

pub fn other_signer() -> AuditSigner {
    AuditSigner::from_bytes(&[9; 32]).expect("32 bytes")
}

/// A log of `n` simple entries.
pub fn simple_log(n: usize) -> Vec<AuditEntry> {
    let mut chain = Chain::new();
    (0..n)
        .map(|i| {
            chain.append(
                EntryDraft::new(
                    1_700_000_000_000 + i as i64 * 1000,
                    Actor::User { id: id("u_1") },
                    EventKind::LOGIN,
                )
                .subject(id("u_1")),
            )
        })
        .collect()
}
