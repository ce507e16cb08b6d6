//! Audit append throughput while messaging, in one run: three phases of the
//! same length, each on a fresh store (synchronous = FULL):
//!
//! 1. audit alone: `audit_tasks` tasks append audit entries back to back;
//! 2. messages alone: `senders` tasks append messages through the store's
//!    normal path (`append_message`, group commit) at a steady paced load
//!    of `rate` messages/s in all;
//! 3. both together, the same two loads at once on the one writer.
//!
//! Each phase prints audit entries/s and messages/s (and how many message
//! transactions group commit needed).
//!
//! ```text
//! cargo run --release -p oriole-store-sqlite --example audit_while_messaging -- \
//!     [seconds=5] [rate=2000] [senders=64] [audit_tasks=4]
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use oriole_audit::{Actor, Details, EntryDraft, EventKind, PseudonymousId};
use oriole_core::domain::{MessageBody, MessageId, Timestamp, UserId, Username};
use oriole_core::store::{Conversation, NewMessage, NewUser, Store};
use oriole_crypto::PasswordHashString;
use oriole_store_sqlite::{SqliteOptions, SqliteStore};

const USERS: usize = 100;

struct Load {
    seconds: f64,
    rate: u64,
    senders: u64,
    audit_tasks: u64,
}

struct Phase {
    audit_per_sec: f64,
    messages_per_sec: f64,
    message_commits: u64,
}

fn draft(i: u64) -> EntryDraft {
    EntryDraft::new(
        1_700_000_000_000 + i as i64,
        Actor::User {
            id: PseudonymousId::parse(&format!("u:{i}")).expect("id"),
        },
        EventKind::LOGIN,
    )
    .details(Details::new(serde_json::json!({"device": format!("d:{i}")})).expect("details"))
}

async fn open() -> (tempfile::TempDir, SqliteStore, Arc<Vec<UserId>>) {
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
    (dir, store, Arc::new(users))
}

async fn phase(load: &Load, audit: bool, messages: bool) -> Phase {
    let (_dir, store, users) = open().await;
    let (_, commits_before) = store.append_commit_stats();
    let audited = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(load.seconds);
    let mut tasks = Vec::new();
    if audit {
        for k in 0..load.audit_tasks {
            let (store, audited) = (store.clone(), audited.clone());
            tasks.push(tokio::spawn(async move {
                let mut i = 0;
                while Instant::now() < deadline {
                    store
                        .append_audit(draft(k * 1_000_000_000 + i))
                        .await
                        .expect("audit append");
                    audited.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            }));
        }
    }
    if messages {
        // Each sender ticks at rate/senders per second; a missed tick is
        // skipped, never made up in a burst, so the offered load stays steady.
        let period = Duration::from_secs_f64(load.senders as f64 / load.rate as f64);
        let text = "x".repeat(200);
        for s in 0..load.senders as usize {
            let (store, users, sent, text) =
                (store.clone(), users.clone(), sent.clone(), text.clone());
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(period);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                let mut n = 0;
                loop {
                    tick.tick().await;
                    if Instant::now() >= deadline {
                        break;
                    }
                    let from = users[s % USERS];
                    let to = users[(s + n + 1) % USERS];
                    let msg = NewMessage {
                        id: MessageId::generate(),
                        sender: from,
                        conversation: Conversation::Direct(to),
                        body: MessageBody::parse(Some(text.clone()), None, 65536).expect("body"),
                        sent_at: Timestamp(2),
                        idempotency_key: None,
                    };
                    store
                        .append_message(msg, &[from, to])
                        .await
                        .expect("message append");
                    sent.fetch_add(1, Ordering::Relaxed);
                    n += 1;
                }
            }));
        }
    }
    for t in tasks {
        t.await.expect("task");
    }
    let secs = start.elapsed().as_secs_f64();
    let (_, commits_after) = store.append_commit_stats();
    store.close().await;
    Phase {
        audit_per_sec: audited.load(Ordering::Relaxed) as f64 / secs,
        messages_per_sec: sent.load(Ordering::Relaxed) as f64 / secs,
        message_commits: commits_after - commits_before,
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: f64| -> f64 {
        args.get(i)
            .map(|a| {
                a.parse()
                    .expect("numbers: seconds rate senders audit_tasks")
            })
            .unwrap_or(default)
    };
    let load = Load {
        seconds: arg(0, 5.0),
        rate: arg(1, 2000.0) as u64,
        senders: arg(2, 64.0) as u64,
        audit_tasks: arg(3, 4.0) as u64,
    };
    println!(
        "{} s per phase, messages offered at {}/s by {} senders, {} audit tasks, synchronous=FULL",
        load.seconds, load.rate, load.senders, load.audit_tasks
    );
    for (name, audit, messages) in [
        ("audit alone", true, false),
        ("messages alone", false, true),
        ("together", true, true),
    ] {
        let p = phase(&load, audit, messages).await;
        println!(
            "{name:>15}: {:>6.0} audit entries/s, {:>6.0} messages/s ({} message commits)",
            p.audit_per_sec, p.messages_per_sec, p.message_commits
        );
    }
}
