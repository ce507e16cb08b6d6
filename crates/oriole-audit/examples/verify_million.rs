//! How long verifying a large audit log takes: builds a chain of N entries
//! (default 1,000,000) in memory with a signed checkpoint every 10,000,
//! then times `verify`, and an export of it through `verify_export`.
//!
//! ```text
//! cargo run --release -p oriole-audit --example verify_million -- [N]
//! ```

use std::time::Instant;

use oriole_audit::{
    verify, verify_export, write_export, Actor, AuditSigner, Chain, Checkpoint, Details,
    EntryDraft, EventKind, OperatorRole, PseudonymousId,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let signer = AuditSigner::generate();
    let operator = Actor::Operator {
        role: OperatorRole::SUPPORT,
        id: PseudonymousId::parse("op:0190a3f2-7c1e-7d4b-9b1a-6f2b3c4d5e6f")?,
    };
    let details = Details::new(serde_json::json!({
        "reason": "customer_support", "ticket": "T-1042", "categories": ["identity", "device"],
    }))?;
    let built = Instant::now();
    let mut chain = Chain::new();
    let mut entries = Vec::with_capacity(n as usize);
    let mut checkpoints = Vec::new();
    for i in 0..n {
        let subject = PseudonymousId::parse(&format!("u:{:036}", i % 50_000))?;
        let e = chain.append(
            EntryDraft::new(
                1_700_000_000_000 + i as i64,
                operator.clone(),
                EventKind::PERSONAL_DATA_ACCESS,
            )
            .subject(subject)
            .details(details.clone()),
        );
        if e.seq % 10_000 == 0 {
            checkpoints.push(Checkpoint::sign(&signer, e.seq, e.hash, e.time));
        }
        entries.push(e);
    }
    println!(
        "built {n} entries in {:.2} s",
        built.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let report = verify(&entries, &checkpoints, &signer.public_key())?;
    println!(
        "verify: {} entries, {} checkpoints in {:.2} s",
        report.entries_verified,
        report.checkpoints_verified,
        t.elapsed().as_secs_f64()
    );

    let mut file = Vec::new();
    write_export(&mut file, 0, &entries, &checkpoints)?;
    drop(entries);
    let t = Instant::now();
    let report = verify_export(file.as_slice(), &[signer.public_key()])?;
    println!(
        "verify_export: {} entries ({} MB of JSON lines) in {:.2} s",
        report.entries_verified,
        file.len() / 1_000_000,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
