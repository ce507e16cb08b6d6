//! The audit log on SQLite: appends chain and verify, concurrent appends
//! never share a seq, checkpoints persist, and the signing keys live in the
//! key store, survive a restart and a KEK rotation, and differ by purpose.

mod common;

use std::ops::ControlFlow;
use std::sync::Arc;

use common::{data_dir, fresh, key_vault, keys_dir, open_at, with_vault};
use oriole_audit::{Actor, Checkpoint, EntryDraft, EventKind, PseudonymousId};
use oriole_core::{KeyPurpose, Store};
use oriole_store_sqlite::{rotate_kek, KekSource};
use tempfile::TempDir;

fn draft(i: i64) -> EntryDraft {
    EntryDraft::new(
        1_700_000_000_000 + i,
        Actor::System,
        EventKind::LOGIN_FAILED,
    )
    .subject(PseudonymousId::parse(&format!("u:{i}")).expect("id"))
}

#[tokio::test]
async fn appends_chain_verify_and_survive_a_restart() {
    let (store, dir) = fresh().await;
    assert_eq!(store.audit_head().await.expect("head").0, 0);
    // Concurrent appends are serialised by the store: seqs 1..=40, one chain.
    let store = Arc::new(store);
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.append_audit(draft(i)).await.expect("append") })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    let entries = store.audit_entries(0, 1000).await.expect("entries");
    assert_eq!(entries.len(), 40);
    let signer = store.signing_key(KeyPurpose::AUDIT).await.expect("key");
    let (count, head) = store.audit_head().await.expect("head");
    assert_eq!((count, head), (40, entries[39].hash));
    let cp = Checkpoint::sign(&signer, count, head, 1_700_000_001_000);
    store.save_audit_checkpoint(&cp).await.expect("save");
    store
        .save_audit_checkpoint(&cp)
        .await
        .expect("saving again is a no-op");
    let report = oriole_audit::verify(
        &entries,
        &store.audit_checkpoints().await.expect("checkpoints"),
        &signer.public_key(),
    )
    .expect("the stored log verifies");
    assert_eq!((report.last_seq, report.sealed_through), (40, 40));
    assert_eq!(store.audit_entries(38, 10).await.expect("page").len(), 2);
    store.close().await;

    let store = open_at(&data_dir(&dir), Default::default()).await;
    let next = store.append_audit(draft(41)).await.expect("append");
    assert_eq!((next.seq, next.prev_hash), (41, head));
    store.close().await;
}

#[tokio::test]
async fn signing_keys_live_in_the_key_store_and_survive_kek_rotation() {
    let dir = TempDir::new().expect("temp dir");
    let data = data_dir(&dir);
    let vault = key_vault(&data).await;
    let store = open_at(&data, with_vault(&vault)).await;
    let audit = store.signing_key(KeyPurpose::AUDIT).await.expect("audit");
    let receipt = store
        .signing_key(KeyPurpose::RECEIPT)
        .await
        .expect("receipt");
    assert_ne!(audit.public_key(), receipt.public_key());
    // Not derivable: unlike the clear vault's test keys.
    let (clear, _tmp) = fresh().await;
    let clear_audit = clear.signing_key(KeyPurpose::AUDIT).await.expect("clear");
    assert_ne!(audit.public_key(), clear_audit.public_key());
    store.close().await;
    vault.key_store().close().await;
    drop(vault);

    rotate_kek(&keys_dir(&data), &KekSource::File, |_| {
        ControlFlow::Continue(())
    })
    .await
    .expect("rotate");
    let vault = key_vault(&data).await;
    let store = open_at(&data, with_vault(&vault)).await;
    let again = store.signing_key(KeyPurpose::AUDIT).await.expect("audit");
    assert_eq!(again.public_key(), audit.public_key());
    store.close().await;
}
