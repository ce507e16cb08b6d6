//! How long a retention run takes to delete old messages (with their inbox
//! entries and receipts) in batches, and a dry run to count them, on the
//! SQLite store with synchronous=FULL.
//!
//! `cargo run --release -p oriole-store-sqlite --example retention_purge`
//! (arguments: messages, batch size).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use oriole_audit::Actor;
use oriole_core::domain::{DeviceId, MessageBody, MessageId, Timestamp, UserId, Username};
use oriole_core::retention::RetentionConfig;
use oriole_core::store::{Conversation, NewMessage, NewUser, Store};
use oriole_core::{Clock, CoreConfig, Fanout, Oriole};
use oriole_crypto::PasswordHashString;
use oriole_proto::{InboxEvent, RetentionRunRequest};
use oriole_store_sqlite::{SqliteOptions, SqliteStore};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
const USERS: usize = 100;
const SENDERS: usize = 64;

struct FixedClock(AtomicI64);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

struct Nobody;

impl Fanout for Nobody {
    fn deliver(&self, _user: UserId, _event: InboxEvent) {}
    fn disconnect_device(&self, _device: DeviceId) {}
}

#[tokio::main]
async fn main() {
    let args: Vec<u32> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers: messages batch_size"))
        .collect();
    let messages = args.first().copied().unwrap_or(100_000) as usize;
    let batch_size = args.get(1).copied().unwrap_or(500);
    let dir = tempfile::TempDir::new().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("oriole.db"), SqliteOptions::default())
        .await
        .expect("store");
    let mut users = Vec::with_capacity(USERS);
    for i in 0..USERS {
        let id = UserId::generate();
        store
            .create_user(NewUser {
                id,
                username: Username::parse(&format!("user{i}")).expect("name"),
                password_hash: PasswordHashString::from_stored("$argon2id$bench".into()),
                phone: None,
                email: None,
                created_at: Timestamp(1),
            })
            .await
            .expect("user");
        users.push(id);
    }
    let users = Arc::new(users);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..SENDERS {
        let (store, users) = (store.clone(), users.clone());
        tasks.push(tokio::spawn(async move {
            for n in 0..messages / SENDERS {
                let (from, to) = (users[s % USERS], users[(s + n + 1) % USERS]);
                let msg = NewMessage {
                    id: MessageId::generate(),
                    sender: from,
                    conversation: Conversation::Direct(to),
                    body: MessageBody::parse(Some("x".repeat(200)), None, 65536).expect("body"),
                    sent_at: Timestamp(DAY_MS),
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
    let stored = (messages / SENDERS) * SENDERS;
    eprintln!(
        "stored {stored} messages in {:.1} s",
        start.elapsed().as_secs_f64()
    );

    let clock = Arc::new(FixedClock(AtomicI64::new(9 * DAY_MS)));
    let oriole = Oriole::new(
        store.clone(),
        Arc::new(Nobody),
        clock,
        CoreConfig::default(),
    );
    let config = RetentionConfig {
        message_days: 7,
        batch_size,
        ..RetentionConfig::default()
    };
    let run = |dry_run| {
        oriole.run_retention(
            Actor::System,
            &config,
            RetentionRunRequest {
                dry_run,
                rule: Some("messages".into()),
            },
        )
    };
    let start = Instant::now();
    let dry = run(true).await.expect("dry run");
    let dry_secs = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let done = run(false).await.expect("run");
    let secs = start.elapsed().as_secs_f64();
    let batches = done.counts.first().map_or(0, |c| c.batches);
    println!("| messages | batch | dry run (count) | run (delete) | batches | deleted/s |");
    println!("| --- | --- | --- | --- | --- | --- |");
    println!(
        "| {} | {batch_size} | {:.2} s | {:.2} s | {batches} | {:.0} |",
        done.total,
        dry_secs,
        secs,
        done.total as f64 / secs
    );
    assert_eq!(
        dry.total, done.total,
        "the dry run counts what the run deletes"
    );
    assert_eq!(done.total as usize, stored);
    store.close().await;
}
