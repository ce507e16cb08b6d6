//! Time and peak memory of a user's data export (`GET /v1/me/export`'s
//! service: page through the inbox, one tar entry per page), and the time
//! to delete the same account: the `DELETE /v1/me` call (shred, then remove
//! the account at once), then its background purge (inbox, receipts, sent
//! messages' ciphertext), run here to its end in batches of the default
//! size.
//!
//! The key destruction that makes a user's data unreadable is also timed
//! alone (on the other user's key).
//!
//! `cargo run --release -p oriole-server --example export_memory -- [MESSAGES...]`
//! (default: 10000 100000). Each size runs on a fresh database with
//! encryption at rest (KeyVault). The archive goes to a byte counter, as it
//! would to a socket. Peak RSS is the process's high-water mark (VmHWM),
//! reset before each export through /proc/self/clear_refs.

use std::sync::Arc;
use std::time::Instant;

use oriole_core::domain::{MessageBody, MessageId, Timestamp};
use oriole_core::store::{Conversation, NewMessage, Store};
use oriole_core::{KeyVault, KeyVaultConfig};
use oriole_proto::{DeleteAccount, RegisterRequest};
use oriole_server::{app_state, Settings};
use oriole_store_sqlite::{load_kek, KekSource, SqliteKeyStore, SqliteOptions, SqliteStore};

const SENDERS: usize = 32;

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn run(messages: usize) {
    let dir = tempfile::TempDir::new().expect("temp dir");
    let keys = dir.path().join("keys");
    let kek = load_kek(&keys, &KekSource::File).expect("kek");
    let key_store = SqliteKeyStore::open(&keys).await.expect("key store");
    let vault = KeyVault::open(kek, key_store, KeyVaultConfig::default())
        .await
        .expect("vault");
    let vault = Arc::new(vault);
    let store = SqliteStore::open(
        &dir.path().join("oriole.db"),
        SqliteOptions {
            vault: vault.clone(),
            ..SqliteOptions::default()
        },
    )
    .await
    .expect("store");
    let settings = Settings {
        password_memory_kib: 1024,
        password_iterations: 1,
        ..Settings::default()
    };
    let state = app_state(settings, store.clone());
    let oriole = &state.oriole;
    let mut sessions = Vec::new();
    for name in ["alice", "bob"] {
        let session = oriole
            .register(
                RegisterRequest {
                    username: name.into(),
                    password: "correct horse battery".into(),
                    ..Default::default()
                },
                None,
            )
            .await
            .expect("register");
        sessions.push(oriole.authenticate(&session.token).await.expect("auth"));
    }
    let (alice, bob) = (sessions[0].clone(), sessions[1].clone());

    // Half from alice to bob, half from bob to alice: 200-byte texts.
    let fill = Instant::now();
    let text = "x".repeat(200);
    let mut tasks = Vec::new();
    for s in 0..SENDERS {
        let store = store.clone();
        let text = text.clone();
        let (a, b) = (alice.user_id, bob.user_id);
        tasks.push(tokio::spawn(async move {
            for n in (s..messages).step_by(SENDERS) {
                let (from, to) = if n % 2 == 0 { (a, b) } else { (b, a) };
                let msg = NewMessage {
                    id: MessageId::generate(),
                    sender: from,
                    conversation: Conversation::Direct(to),
                    body: MessageBody::parse(Some(text.clone()), None, 64 * 1024).expect("body"),
                    sent_at: Timestamp(1_700_000_000_000 + n as i64),
                    idempotency_key: None,
                };
                store
                    .append_message(msg, &[from, to])
                    .await
                    .expect("append");
            }
        }));
    }
    for t in tasks {
        t.await.expect("sender");
    }
    let fill_secs = fill.elapsed().as_secs_f64();

    // Reset the high-water mark to the current RSS, then export.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rss_before = status_kib("VmRSS:");
    let start = Instant::now();
    let job = oriole.begin_export(&alice).await.expect("export allowed");
    let (tx, mut rx) = tokio::sync::mpsc::channel(2);
    let producer = state.clone();
    let task = tokio::spawn(async move { producer.oriole.run_export(job, tx).await });
    let mut bytes = 0usize;
    while let Some(chunk) = rx.recv().await {
        bytes += chunk.expect("export chunk").len();
    }
    task.await.expect("export task");
    let export_secs = start.elapsed().as_secs_f64();
    let peak = status_kib("VmHWM:");

    // What the deletion does first, alone: destroy bob's data key (bob
    // holds the other half of the messages). From here on everything sealed
    // for bob is unreadable.
    let start = Instant::now();
    oriole_core::FieldVault::shred(vault.as_ref(), bob.user_id)
        .await
        .expect("shred");
    let shred_ms = start.elapsed().as_secs_f64() * 1000.0;

    let start = Instant::now();
    oriole
        .delete_account(
            &alice,
            DeleteAccount {
                password: "correct horse battery".into(),
            },
        )
        .await
        .expect("delete");
    let delete_secs = start.elapsed().as_secs_f64();

    // The background purge the server's worker runs, driven here.
    let batch = state.settings.user_rights.purge_batch_size;
    let start = Instant::now();
    let mut batches = 0u64;
    for job in oriole.pending_deletion_purges().await.expect("purges") {
        while !oriole
            .purge_step(job.user, batch)
            .await
            .expect("purge")
            .done
        {
            batches += 1;
        }
        batches += 1;
    }
    let purge_secs = start.elapsed().as_secs_f64();

    println!(
        "{messages} messages (filled in {fill_secs:.1} s): export {:.1} MB in {export_secs:.2} s \
         ({:.0} messages/s); RSS before {} MiB, peak during export {} MiB (+{} MiB); \
         delete the account: {delete_secs:.3} s, then its background purge: {purge_secs:.2} s \
         ({batches} batches of {batch}); destroy a data key alone: {shred_ms:.2} ms",
        bytes as f64 / 1e6,
        messages as f64 / export_secs,
        rss_before / 1024,
        peak / 1024,
        peak.saturating_sub(rss_before) / 1024,
    );
    store.close().await;
}

#[tokio::main]
async fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![10_000, 100_000]
    } else {
        sizes
    };
    for messages in sizes {
        run(messages).await;
    }
}
