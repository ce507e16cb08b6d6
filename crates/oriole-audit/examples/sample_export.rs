//! Writes a small signed audit export and its public key, to try the
//! offline verification in `docs/audit.md` without a server:
//!
//! ```text
//! cargo run -p oriole-audit --example sample_export -- DIR
//! ```
//!
//! creates `DIR/audit.jsonl` and `DIR/audit.pub`.

use std::fs::File;
use std::path::PathBuf;

use oriole_audit::details::keys;
use oriole_audit::{
    write_export, Actor, AuditSigner, Chain, Checkpoint, Details, EntryDraft, EventKind,
    OperatorRole, PseudonymousId,
};
use serde_json::json;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".to_owned()));
    let signer = AuditSigner::generate();
    let user = PseudonymousId::parse("u_0190a3f27c1e")?;
    let operator = Actor::Operator {
        role: OperatorRole::SUPPORT,
        id: PseudonymousId::parse("op_01")?,
    };
    let t0 = 1_704_096_000_000; // 2024-01-01T08:00:00Z

    let mut chain = Chain::new();
    let mut entries = vec![
        chain.append(
            EntryDraft::new(t0, Actor::User { id: user.clone() }, EventKind::LOGIN)
                .subject(user.clone()),
        ),
        chain.append(
            EntryDraft::new(t0 + 60_000, operator, EventKind::PERSONAL_DATA_ACCESS)
                .subject(user.clone())
                .details(Details::new(json!({
                    keys::REASON: "customer_support",
                    keys::TICKET: "T-1042",
                    keys::CATEGORIES: ["profile", "devices"],
                }))?),
        ),
    ];
    let mut checkpoints = vec![Checkpoint::sign(
        &signer,
        chain.last_seq(),
        chain.head(),
        t0 + 120_000,
    )];
    entries.push(
        chain.append(
            EntryDraft::new(t0 + 180_000, Actor::System, EventKind::KEY_ROTATION)
                .details(Details::new(json!({"key": "kek", "generation": 2}))?),
        ),
    );
    entries.push(
        chain.append(
            EntryDraft::new(
                t0 + 240_000,
                Actor::User { id: user.clone() },
                EventKind::CONSENT_CHANGE,
            )
            .subject(user)
            .details(Details::new(
                json!({"purpose": "product_analytics", "granted": false}),
            )?),
        ),
    );
    checkpoints.push(Checkpoint::sign(
        &signer,
        chain.last_seq(),
        chain.head(),
        t0 + 300_000,
    ));

    write_export(
        File::create(dir.join("audit.jsonl"))?,
        t0 + 360_000,
        &entries,
        &checkpoints,
    )?;
    std::fs::write(dir.join("audit.pub"), signer.public_key().to_pem())?;
    println!(
        "wrote {} and {} (key id {})",
        dir.join("audit.jsonl").display(),
        dir.join("audit.pub").display(),
        signer.key_id()
    );
    Ok(())
}
