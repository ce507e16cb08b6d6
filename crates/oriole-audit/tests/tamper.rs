//! Property tests of the chain and its verification: every valid log
//! verifies, and every kind of tampering is caught and pinned to the right
//! entry.

mod common;

use common::*;
use oriole_audit::{
    verify, verify_from, verify_with_keys, Actor, AuditEntry, Chain, Checkpoint, Details,
    EntryDraft, EntryHash, EventKind, OperatorRole, VerifyError,
};
use proptest::prelude::*;
use serde_json::json;

/// The fields of an entry a tamperer might change.
#[derive(Debug, Clone, Copy)]
enum Field {
    Seq,
    Time,
    Actor,
    Action,
    Subject,
    Details,
    PrevHash,
    Hash,
}

fn field() -> impl Strategy<Value = Field> {
    prop::sample::select(vec![
        Field::Seq,
        Field::Time,
        Field::Actor,
        Field::Action,
        Field::Subject,
        Field::Details,
        Field::PrevHash,
        Field::Hash,
    ])
}

/// Change one field to a value it did not have.
fn edit(e: &mut AuditEntry, f: Field, salt: u64) {
    match f {
        Field::Seq => e.seq = e.seq.wrapping_add(1 + salt % 5),
        Field::Time => e.time = e.time.wrapping_add(1 + (salt % 1000) as i64),
        Field::Actor => {
            e.actor = match &e.actor {
                Actor::System => Actor::User { id: id("u_x") },
                Actor::User { id: old } => Actor::User {
                    id: id(&format!("{old}x")),
                },
                Actor::Operator { id, .. } => Actor::Operator {
                    role: OperatorRole::parse("other_role").expect("role"),
                    id: id.clone(),
                },
            }
        }
        Field::Action => {
            e.action = if e.action == EventKind::DELETION {
                EventKind::EXPORT
            } else {
                EventKind::DELETION
            }
        }
        Field::Subject => {
            e.subject = match &e.subject {
                None => Some(id("u_victim")),
                Some(_) if salt % 2 == 0 => None,
                Some(s) => Some(id(&format!("{s}0"))),
            }
        }
        Field::Details => {
            let mut map = e.details.as_map().clone();
            map.insert("edited".into(), json!(salt as i64 % 1000));
            e.details = Details::new(serde_json::Value::Object(map)).expect("valid");
        }
        Field::PrevHash => e.prev_hash.0[(salt % 32) as usize] ^= 1 << (salt % 8),
        Field::Hash => e.hash.0[(salt % 32) as usize] ^= 1 << (salt % 8),
    }
}

/// A random log of 1 to 40 entries and some checkpoint counts.
fn log_with_checkpoints() -> impl Strategy<Value = (Vec<AuditEntry>, Vec<u64>)> {
    prop::collection::vec(draft(), 1..40).prop_flat_map(|drafts| {
        let entries = build(drafts);
        let n = entries.len() as u64;
        (
            Just(entries),
            prop::collection::vec(0..=n, 0..4).prop_map(|mut c| {
                c.sort_unstable();
                c.dedup();
                c
            }),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn valid_logs_verify((entries, counts) in log_with_checkpoints()) {
        let signer = signer();
        let cps = seal(&signer, &entries, &counts);
        let report = verify(entries.iter(), &cps, &signer.public_key()).expect("valid log");
        let n = entries.len() as u64;
        let sealed = counts.last().copied().unwrap_or(0);
        prop_assert_eq!(report.entries_verified, n);
        prop_assert_eq!(report.last_seq, n);
        prop_assert_eq!(report.first_seq, 1);
        prop_assert_eq!(report.head_hash, entries[entries.len() - 1].hash);
        prop_assert_eq!(report.checkpoints_verified, counts.len() as u64);
        prop_assert_eq!(report.sealed_through, sealed);
        prop_assert_eq!(report.unsealed_tail, n - sealed);

        // Checkpoint order in the input does not matter.
        let mut reversed = cps.clone();
        reversed.reverse();
        prop_assert_eq!(verify(entries.iter(), &reversed, &signer.public_key()), Ok(report));
    }

    #[test]
    fn any_single_field_edit_is_named(
        (entries, counts) in log_with_checkpoints(),
        pick in any::<prop::sample::Index>(),
        f in field(),
        salt in any::<u64>(),
    ) {
        let signer = signer();
        let cps = seal(&signer, &entries, &counts);
        let k = pick.index(entries.len());
        let mut tampered = entries.clone();
        edit(&mut tampered[k], f, salt);
        prop_assume!(tampered[k] != entries[k]);

        let err = verify(tampered.iter(), &cps, &signer.public_key()).expect_err("edit detected");
        let seq = k as u64 + 1;
        prop_assert_eq!(err.seq(), seq, "{:?} -> {}", f, err);
        match f {
            Field::Seq => prop_assert!(matches!(
                err,
                VerifyError::SeqGap { expected, .. } | VerifyError::SeqOutOfOrder { expected, .. }
                    if expected == seq
            ), "{}", err),
            Field::PrevHash => prop_assert_eq!(err, VerifyError::BrokenLink { seq }),
            _ => prop_assert_eq!(err, VerifyError::HashMismatch { seq }),
        }
    }

    #[test]
    fn an_edit_with_its_hash_recomputed_breaks_the_next_link(
        (entries, counts) in log_with_checkpoints(),
        pick in any::<prop::sample::Index>(),
        f in prop::sample::select(vec![Field::Time, Field::Actor, Field::Action, Field::Subject, Field::Details]),
        salt in any::<u64>(),
    ) {
        let signer = signer();
        let cps = seal(&signer, &entries, &counts);
        let k = pick.index(entries.len());
        let mut tampered = entries.clone();
        edit(&mut tampered[k], f, salt);
        prop_assume!(tampered[k] != entries[k]);
        tampered[k].hash = tampered[k].compute_hash();

        let seq = k as u64 + 1;
        let result = verify(tampered.iter(), &cps, &signer.public_key());
        if k + 1 < entries.len() {
            // The entry after it still points at the old hash; unless a
            // checkpoint seals the edited entry itself, which is checked
            // first.
            let expected = if counts.contains(&seq) {
                VerifyError::CheckpointMismatch { count: seq }
            } else {
                VerifyError::BrokenLink { seq: seq + 1 }
            };
            prop_assert_eq!(result, Err(expected));
        } else if counts.contains(&seq) {
            prop_assert_eq!(result, Err(VerifyError::CheckpointMismatch { count: seq }));
        } else {
            // The unsealed tail: nothing signed covers it yet. This is the
            // documented limit that checkpoints exist to shrink.
            prop_assert!(result.is_ok());
        }
    }

    #[test]
    fn rewriting_history_after_an_edit_is_caught_by_a_checkpoint(
        (entries, counts) in log_with_checkpoints(),
        pick in any::<prop::sample::Index>(),
        salt in any::<u64>(),
    ) {
        // The strongest attacker without the signing key: edit an entry and
        // re-chain everything after it.
        let signer = signer();
        let cps = seal(&signer, &entries, &counts);
        let k = pick.index(entries.len());
        let mut chain = Chain::new();
        let rewritten: Vec<AuditEntry> = entries
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let mut d = EntryDraft::new(e.time, e.actor.clone(), e.action.clone())
                    .details(e.details.clone());
                d.subject = e.subject.clone();
                if i == k {
                    d.time = d.time.wrapping_add(1 + (salt % 100) as i64);
                }
                chain.append(d)
            })
            .collect();
        let seq = k as u64 + 1;
        let result = verify(rewritten.iter(), &cps, &signer.public_key());
        match counts.iter().find(|&&c| c >= seq) {
            Some(&c) => prop_assert_eq!(result, Err(VerifyError::CheckpointMismatch { count: c })),
            None => prop_assert!(result.is_ok()),
        }
    }

    #[test]
    fn deleting_an_entry_is_named(
        (entries, counts) in log_with_checkpoints(),
        pick in any::<prop::sample::Index>(),
    ) {
        let signer = signer();
        let cps = seal(&signer, &entries, &counts);
        let k = pick.index(entries.len());
        let mut tampered = entries.clone();
        tampered.remove(k);
        let seq = k as u64 + 1;
        let result = verify(tampered.iter(), &cps, &signer.public_key());
        if k + 1 < entries.len() {
            prop_assert_eq!(result, Err(VerifyError::SeqGap { expected: seq, found: seq + 1 }));
        } else if counts.contains(&seq) {
            prop_assert_eq!(result, Err(VerifyError::Truncated { count: seq, present: seq - 1 }));
        } else {
            prop_assert!(result.is_ok());
        }
    }

    #[test]
    fn swapping_two_entries_is_named(
        (entries, counts) in log_with_checkpoints(),
        a in any::<prop::sample::Index>(),
        b in any::<prop::sample::Index>(),
    ) {
        prop_assume!(entries.len() >= 2);
        let signer = signer();
        let cps = seal(&signer, &entries, &counts);
        let (i, j) = (a.index(entries.len()), b.index(entries.len()));
        prop_assume!(i != j);
        let first = i.min(j);
        let mut tampered = entries.clone();
        tampered.swap(i, j);
        let err = verify(tampered.iter(), &cps, &signer.public_key()).expect_err("swap detected");
        prop_assert_eq!(err.seq(), first as u64 + 1, "{}", err);
    }

    #[test]
    fn cutting_a_sealed_tail_is_truncation(
        (entries, counts) in log_with_checkpoints(),
        keep in any::<prop::sample::Index>(),
    ) {
        let signer = signer();
        let mut counts = counts;
        if counts.last().is_none_or(|&c| c == 0) {
            counts.push(entries.len() as u64);
        }
        let cps = seal(&signer, &entries, &counts);
        let sealed = counts.last().copied().unwrap_or(0);
        let keep = keep.index(sealed as usize) as u64; // 0..sealed
        let first_lost_cp = counts.iter().copied().find(|&c| c > keep).expect("sealed > keep");
        let result = verify(entries.iter().take(keep as usize), &cps, &signer.public_key());
        prop_assert_eq!(result, Err(VerifyError::Truncated { count: first_lost_cp, present: keep }));
    }
}

#[test]
fn inserting_an_entry_is_named() {
    let signer = signer();
    let entries = simple_log(5);
    let mut other = Chain::resume(2, entries[1].hash).expect("resume");
    let forged = other.append(EntryDraft::new(1, Actor::System, EventKind::DELETION));
    let mut tampered = entries.clone();
    tampered.insert(2, forged);
    // The forged entry takes seq 3, so the real entry 3 arrives out of order.
    assert_eq!(
        verify(tampered.iter(), &[], &signer.public_key()),
        Err(VerifyError::SeqOutOfOrder {
            expected: 4,
            found: 3
        })
    );
}

#[test]
fn a_checkpoint_by_another_key_is_forged() {
    let signer = signer();
    let entries = simple_log(5);
    let real = seal(&signer, &entries, &[3]);
    let forged = seal(&other_signer(), &entries, &[5]);
    let all = [real.clone(), forged.clone()].concat();
    let err = verify(entries.iter(), &all, &signer.public_key()).expect_err("forged");
    assert_eq!(
        err,
        VerifyError::UnknownKey {
            count: 5,
            key_id: other_signer().key_id()
        }
    );
    assert_eq!(err.seq(), 5);

    // Claiming the real key's id does not help.
    let mut lying = forged[0].clone();
    lying.key_id = signer.key_id();
    let all = [real, vec![lying]].concat();
    assert_eq!(
        verify(entries.iter(), &all, &signer.public_key()),
        Err(VerifyError::BadSignature { count: 5 })
    );
}

#[test]
fn an_altered_checkpoint_is_forged() {
    let signer = signer();
    let entries = simple_log(5);
    let mut cp = seal(&signer, &entries, &[4]).remove(0);
    cp.count = 5;
    cp.head_hash = entries[4].hash;
    assert_eq!(
        verify(entries.iter(), &[cp], &signer.public_key()),
        Err(VerifyError::BadSignature { count: 5 })
    );
}

#[test]
fn a_checkpoint_over_another_history_is_a_rewrite() {
    let signer = signer();
    let entries = simple_log(5);
    let cp = Checkpoint::sign(&signer, 3, EntryHash([1; 32]), 9);
    assert_eq!(
        verify(entries.iter(), &[cp], &signer.public_key()),
        Err(VerifyError::CheckpointMismatch { count: 3 })
    );
}

#[test]
fn empty_log_and_empty_seal() {
    let signer = signer();
    let report = verify(Vec::<AuditEntry>::new(), &[], &signer.public_key()).expect("empty");
    assert_eq!((report.entries_verified, report.last_seq), (0, 0));
    assert_eq!(report.head_hash, EntryHash::GENESIS);
    let cps = seal(&signer, &[], &[0]);
    let report =
        verify(Vec::<AuditEntry>::new(), &cps, &signer.public_key()).expect("sealed empty");
    assert_eq!(report.checkpoints_verified, 1);
    // A log whose first entry was deleted.
    let entries = simple_log(3);
    assert_eq!(
        verify(entries[1..].iter(), &[], &signer.public_key()),
        Err(VerifyError::SeqGap {
            expected: 1,
            found: 2
        })
    );
}

#[test]
fn key_rotation_needs_both_keys() {
    let (old, new) = (signer(), other_signer());
    let entries = simple_log(6);
    let cps = [seal(&old, &entries, &[2]), seal(&new, &entries, &[6])].concat();
    let report = verify_with_keys(entries.iter(), &cps, &[old.public_key(), new.public_key()])
        .expect("both keys trusted");
    assert_eq!((report.checkpoints_verified, report.unsealed_tail), (2, 0));
    assert!(matches!(
        verify(entries.iter(), &cps, &old.public_key()),
        Err(VerifyError::UnknownKey { count: 6, .. })
    ));
}

#[test]
fn a_pruned_log_verifies_from_its_anchor() {
    let signer = signer();
    let entries = simple_log(10);
    let cps = seal(&signer, &entries, &[2, 4, 8]);
    // Retention removed entries 1–4; the checkpoint at 4 anchors the rest.
    let report =
        verify_from(5, entries[4..].iter(), &cps, &[signer.public_key()]).expect("anchored");
    assert_eq!(report.first_seq, 5);
    assert_eq!(report.entries_verified, 6);
    assert_eq!(report.checkpoints_verified, 3);
    assert_eq!(report.unsealed_tail, 2);
    // No anchor for a start at 6: the missing start reads as a deletion.
    assert_eq!(
        verify_from(6, entries[5..].iter(), &cps, &[signer.public_key()]),
        Err(VerifyError::SeqGap {
            expected: 1,
            found: 6
        })
    );
    // A forged anchor is refused.
    let fake = seal(&other_signer(), &entries, &[5]);
    assert!(matches!(
        verify_from(6, entries[5..].iter(), &fake, &[signer.public_key()]),
        Err(VerifyError::UnknownKey { count: 5, .. })
    ));
}

#[test]
fn errors_say_what_happened() {
    let messages = [
        (VerifyError::HashMismatch { seq: 7 }, "entry 7", "edited"),
        (
            VerifyError::BrokenLink { seq: 7 },
            "entry 7",
            "deleted, inserted",
        ),
        (
            VerifyError::SeqGap {
                expected: 7,
                found: 8,
            },
            "entry 7 is missing",
            "deleted",
        ),
        (VerifyError::BadSignature { count: 7 }, "entry 7", "forged"),
        (
            VerifyError::CheckpointMismatch { count: 7 },
            "entry 7",
            "rewritten",
        ),
        (
            VerifyError::Truncated {
                count: 9,
                present: 7,
            },
            "9 entries",
            "truncated",
        ),
    ];
    for (err, seq_text, meaning) in messages {
        let text = err.to_string();
        assert!(text.contains(seq_text), "{text}");
        assert!(text.contains(meaning), "{text}");
    }
    assert_eq!(
        VerifyError::Truncated {
            count: 9,
            present: 7
        }
        .seq(),
        8
    );
    // Details with ids are the norm; a quick check that a typical access
    // entry is accepted as written by the server.
    let mut chain = Chain::new();
    let e = chain.append(
        EntryDraft::new(
            1,
            Actor::Operator {
                role: OperatorRole::SUPPORT,
                id: id("op_1"),
            },
            EventKind::PERSONAL_DATA_ACCESS,
        )
        .subject(id("u_1"))
        .details(
            Details::new(
                json!({"reason": "customer_support", "ticket": "T-9", "categories": ["profile"]}),
            )
            .expect("details"),
        ),
    );
    assert!(verify([e], &[], &signer().public_key()).is_ok());
}
