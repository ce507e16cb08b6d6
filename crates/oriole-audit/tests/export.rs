//! The export file: round trips, and the tamper tests of the issue done on
//! the file itself (edit a byte, delete a line, swap two lines, cut the
//! tail), each detected and named.

mod common;

use common::*;
use oriole_audit::export::ExportEnd;
use oriole_audit::{
    read_export, verify, verify_export, write_export, AuditEntry, Checkpoint, ExportError,
    ExportVerifyError, VerifyError,
};
use proptest::prelude::*;

fn export_bytes(entries: &[AuditEntry], cps: &[Checkpoint]) -> Vec<u8> {
    let mut out = Vec::new();
    write_export(&mut out, 1_700_000_000_000, entries, cps).expect("write to memory");
    out
}

fn lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8(bytes.to_vec())
        .expect("utf-8")
        .lines()
        .map(str::to_owned)
        .collect()
}

fn join(lines: &[String]) -> Vec<u8> {
    let mut s = lines.join("\n");
    s.push('\n');
    s.into_bytes()
}

/// Entry lines are 1-based file lines; seq `s` sits on a line we find by
/// looking, since checkpoints are interleaved.
fn line_of_seq(lines: &[String], seq: u64) -> usize {
    lines
        .iter()
        .position(|l| l.starts_with(&format!(r#"{{"type":"entry","seq":{seq},"#)))
        .expect("entry line present")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn round_trip(drafts in prop::collection::vec(draft(), 0..30), seal_at in any::<prop::sample::Index>()) {
        let signer = signer();
        let entries = build(drafts);
        let counts = if entries.is_empty() { vec![] } else { vec![seal_at.index(entries.len()) as u64 + 1] };
        let cps = seal(&signer, &entries, &counts);
        let bytes = export_bytes(&entries, &cps);

        let export = read_export(bytes.as_slice()).expect("read back");
        prop_assert_eq!(&export.entries, &entries);
        prop_assert_eq!(&export.checkpoints, &cps);
        prop_assert_eq!(export.header.first_seq, 1);
        let direct = verify(entries.iter(), &cps, &signer.public_key()).expect("valid");
        let from_export = export.verify(&[signer.public_key()]);
        prop_assert_eq!(from_export.as_ref(), Ok(&direct));
        prop_assert_eq!(verify_export(bytes.as_slice(), &[signer.public_key()]).ok(), Some(direct));
        // Writing what was read gives the same bytes.
        prop_assert_eq!(export_bytes(&export.entries, &export.checkpoints), bytes);
    }

    #[test]
    fn any_byte_edit_in_an_entry_line_is_named(
        drafts in prop::collection::vec(draft(), 1..20),
        pick in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        replacement in prop_oneof![0x20u8..0x7f, Just(0xffu8)],
    ) {
        let signer = signer();
        let entries = build(drafts);
        let n = entries.len() as u64;
        let cps = seal(&signer, &entries, &[n]);
        let mut file = lines(&export_bytes(&entries, &cps));
        let seq = pick.index(entries.len()) as u64 + 1;
        let line_index = line_of_seq(&file, seq);
        let mut bytes = file[line_index].clone().into_bytes();
        let pos = at.index(bytes.len());
        prop_assume!(bytes[pos] != replacement);
        bytes[pos] = replacement;
        file[line_index] = String::from_utf8_lossy(&bytes).into_owned();

        let err = verify_export(join(&file).as_slice(), &[signer.public_key()])
            .expect_err("a changed byte is detected");
        let line_no = line_index as u64 + 1;
        match &err {
            ExportVerifyError::Chain(e) => prop_assert_eq!(e.seq(), seq, "{}", e),
            ExportVerifyError::Read(ExportError::Malformed { line, .. }) => {
                prop_assert_eq!(*line, line_no, "{}", err)
            }
            // The end line's head hash is the last entry's stored hash, so
            // an edit of that hash field can surface there too; but the
            // chain check of the entry comes first, so it never does.
            other => prop_assert!(false, "unexpected: {}", other),
        }
    }
}

#[test]
fn header_and_lines_look_as_documented() {
    let signer = signer();
    let entries = simple_log(3);
    let cps = seal(&signer, &entries, &[2]);
    let file = lines(&export_bytes(&entries, &cps));
    assert_eq!(file.len(), 1 + 3 + 1 + 1);
    assert!(file[0].starts_with(
        r#"{"format":"oriole-audit-export","version":1,"exported_at":1700000000000,"first_seq":1,"hash":"sha256","signature":"ed25519"}"#
    ));
    assert!(file[1].starts_with(r#"{"type":"entry","seq":1,"time":"#));
    assert!(
        file[3].starts_with(r#"{"type":"checkpoint","count":2,"#),
        "{}",
        file[3]
    );
    assert!(file[5].starts_with(r#"{"type":"end","entries":3,"checkpoints":1,"head_hash":""#));
}

#[test]
fn deleting_a_line_is_named() {
    let signer = signer();
    let entries = simple_log(6);
    let cps = seal(&signer, &entries, &[6]);
    let mut file = lines(&export_bytes(&entries, &cps));
    file.remove(line_of_seq(&file, 3));
    let err = verify_export(join(&file).as_slice(), &[signer.public_key()]).expect_err("deleted");
    assert!(
        matches!(
            err,
            ExportVerifyError::Chain(VerifyError::SeqGap {
                expected: 3,
                found: 4
            })
        ),
        "{err}"
    );
    assert!(err.to_string().contains("entry 3 is missing"), "{err}");
}

#[test]
fn swapping_two_lines_is_named() {
    let signer = signer();
    let entries = simple_log(6);
    let cps = seal(&signer, &entries, &[6]);
    let mut file = lines(&export_bytes(&entries, &cps));
    let (a, b) = (line_of_seq(&file, 2), line_of_seq(&file, 5));
    file.swap(a, b);
    let err = verify_export(join(&file).as_slice(), &[signer.public_key()]).expect_err("swapped");
    assert!(
        matches!(
            err,
            ExportVerifyError::Chain(VerifyError::SeqGap {
                expected: 2,
                found: 5
            })
        ),
        "{err}"
    );
}

#[test]
fn cutting_the_tail_is_named() {
    let signer = signer();
    let entries = simple_log(8);
    let cps = seal(&signer, &entries, &[4, 8]);
    let file = lines(&export_bytes(&entries, &cps));

    // Cut the file after entry 6: the end line is gone.
    let cut = &file[..=line_of_seq(&file, 6)];
    let err = verify_export(join(cut).as_slice(), &[signer.public_key()]).expect_err("cut");
    assert!(
        matches!(err, ExportVerifyError::Read(ExportError::MissingEnd)),
        "{err}"
    );

    // A careful cutter keeps checkpoint 8 and writes a matching end line:
    // the checkpoint still says 8 entries existed.
    let mut kept: Vec<String> = cut.to_vec();
    kept.push(file[file.len() - 2].clone()); // checkpoint 8
    let end = ExportEnd {
        entries: 6,
        checkpoints: 2,
        head_hash: Some(entries[5].hash),
    };
    kept.push(format!(
        r#"{{"type":"end",{}"#,
        &serde_json::to_string(&end).expect("json")[1..]
    ));
    let err = verify_export(join(&kept).as_slice(), &[signer.public_key()]).expect_err("cut");
    assert!(
        matches!(
            err,
            ExportVerifyError::Chain(VerifyError::Truncated {
                count: 8,
                present: 6
            })
        ),
        "{err}"
    );

    // Dropping the checkpoint too leaves the end line disagreeing.
    let mut dropped: Vec<String> = cut.to_vec();
    dropped.push(file[file.len() - 1].clone());
    let err = verify_export(join(&dropped).as_slice(), &[signer.public_key()]).expect_err("cut");
    assert!(
        matches!(
            err,
            ExportVerifyError::Read(ExportError::EndMismatch {
                what: "entries",
                ..
            })
        ),
        "{err}"
    );
}

#[test]
fn not_an_export() {
    for text in [
        "",
        "hello\n",
        "{\"format\":\"something-else\",\"version\":1}\n",
    ] {
        assert!(matches!(
            read_export(text.as_bytes()),
            Err(ExportError::NotAnExport)
        ));
    }
    let v2 = r#"{"format":"oriole-audit-export","version":2,"exported_at":0,"first_seq":1,"hash":"sha256","signature":"ed25519"}"#;
    assert!(matches!(
        read_export(format!("{v2}\n").as_bytes()),
        Err(ExportError::UnsupportedVersion(2))
    ));
}

#[test]
fn unknown_fields_and_trailing_lines_are_refused() {
    let entries = simple_log(2);
    let mut file = lines(&export_bytes(&entries, &[]));
    let i = line_of_seq(&file, 2);
    file[i] = file[i].replacen(r#""seq":2,"#, r#""seq":2,"note":"x","#, 1);
    let err = read_export(join(&file).as_slice()).expect_err("unknown field");
    assert!(
        matches!(
            err,
            ExportError::Malformed {
                line: 3,
                seq: Some(2),
                ..
            }
        ),
        "{err}"
    );

    let mut file = lines(&export_bytes(&entries, &[]));
    file.push(file[1].clone());
    assert!(matches!(
        read_export(join(&file).as_slice()),
        Err(ExportError::AfterEnd { line: 5 })
    ));
}

#[test]
fn a_pruned_export_starts_at_its_anchor() {
    let signer = signer();
    let entries = simple_log(10);
    let cps = seal(&signer, &entries, &[3, 7]);
    let bytes = export_bytes(&entries[3..], &cps);
    let file = lines(&bytes);
    // The anchor comes before the first entry.
    assert!(file[1].starts_with(r#"{"type":"checkpoint","count":3,"#));
    let report = verify_export(bytes.as_slice(), &[signer.public_key()]).expect("anchored");
    assert_eq!(
        (
            report.first_seq,
            report.entries_verified,
            report.unsealed_tail
        ),
        (4, 7, 3)
    );
    let export = read_export(bytes.as_slice()).expect("read");
    assert_eq!(export.verify(&[signer.public_key()]), Ok(report));

    // Drop the anchor line: the start now reads as deleted entries.
    let mut no_anchor = file.clone();
    no_anchor.remove(1);
    let fixed_end = no_anchor
        .pop()
        .expect("end line")
        .replace(r#""checkpoints":2"#, r#""checkpoints":1"#);
    no_anchor.push(fixed_end);
    let err =
        verify_export(join(&no_anchor).as_slice(), &[signer.public_key()]).expect_err("no anchor");
    assert!(
        matches!(
            err,
            ExportVerifyError::Chain(VerifyError::SeqGap {
                expected: 1,
                found: 4
            })
        ),
        "{err}"
    );
}
