//! Encryption at rest on and off, same run, same machine: message appends
//! per second through the store (group commit, synchronous=FULL) and inbox
//! events read per second, with `ClearVault` and with the `KeyVault`.
//! Rounds alternate between the two modes so drift hits both alike.
//!
//! `cargo run --release -p oriole-store-sqlite --example at_rest_overhead`
//! (arguments: rounds, concurrent senders, messages per sender, seconds of
//! reading per round).
//!
//! The read phase reads every inbox in full, again and again, until the
//! given number of seconds has passed (at least one full pass): one pass
//! over 6400 messages lasts about 0.1 s, too short for a stable ratio.

use std::sync::Arc;
use std::time::{Duration, Instant};

use oriole_core::domain::{MessageBody, MessageId, Timestamp, UserId, Username};
use oriole_core::store::{Conversation, NewMessage, NewUser, Store};
use oriole_core::{ClearVault, FieldVault, KeyVault, KeyVaultConfig};
use oriole_crypto::PasswordHashString;
use oriole_store_sqlite::{load_kek, KekSource, SqliteKeyStore, SqliteOptions, SqliteStore};

const USERS: usize = 100;

struct Round {
    appends_per_sec: f64,
    reads_per_sec: f64,
}

async fn round(keyed: bool, senders: usize, per_sender: usize, read_for: Duration) -> Round {
    let dir = tempfile::TempDir::new().expect("temp dir");
    let vault: Arc<dyn FieldVault> = if keyed {
        let keys = dir.path().join("keys");
        let kek = load_kek(&keys, &KekSource::File).expect("kek");
        let key_store = SqliteKeyStore::open(&keys).await.expect("key store");
        Arc::new(
            KeyVault::open(kek, key_store, KeyVaultConfig::default())
                .await
                .expect("vault"),
        )
    } else {
        Arc::new(ClearVault)
    };
    let store = SqliteStore::open(
        &dir.path().join("oriole.db"),
        SqliteOptions {
            vault,
            ..SqliteOptions::default()
        },
    )
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
    let text = "x".repeat(200);

    let start = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..senders {
        let store = store.clone();
        let users = users.clone();
        let text = text.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..per_sender {
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
                    .expect("append");
            }
        }));
    }
    for t in tasks {
        t.await.expect("sender");
    }
    let appends = (senders * per_sender) as f64;
    let appends_per_sec = appends / start.elapsed().as_secs_f64();

    let start = Instant::now();
    let mut read = 0usize;
    loop {
        for &user in users.iter() {
            read += store
                .inbox_after(user, oriole_core::domain::InboxSeq(0), 100_000)
                .await
                .expect("inbox")
                .len();
        }
        if start.elapsed() >= read_for {
            break;
        }
    }
    let reads_per_sec = read as f64 / start.elapsed().as_secs_f64();
    store.close().await;
    Round {
        appends_per_sec,
        reads_per_sec,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| {
            a.parse()
                .expect("numbers: rounds senders per_sender read_seconds")
        })
        .collect();
    let rounds = args.first().copied().unwrap_or(5);
    let senders = args.get(1).copied().unwrap_or(64);
    let per_sender = args.get(2).copied().unwrap_or(100);
    let read_for = Duration::from_secs(args.get(3).copied().unwrap_or(3) as u64);
    let (mut clear, mut keyed) = (Vec::new(), Vec::new());
    for r in 0..rounds {
        // Alternate which mode goes first.
        for keyed_mode in [r % 2 == 0, r % 2 != 0] {
            let result = round(keyed_mode, senders, per_sender, read_for).await;
            eprintln!(
                "round {r} {}: {:.0} appends/s, {:.0} events read/s",
                if keyed_mode { "keyed" } else { "clear" },
                result.appends_per_sec,
                result.reads_per_sec
            );
            if keyed_mode { &mut keyed } else { &mut clear }.push(result);
        }
    }
    let stat = |v: &[Round], f: fn(&Round) -> f64| median(v.iter().map(f).collect());
    let (ca, ka) = (
        stat(&clear, |r| r.appends_per_sec),
        stat(&keyed, |r| r.appends_per_sec),
    );
    let (cr, kr) = (
        stat(&clear, |r| r.reads_per_sec),
        stat(&keyed, |r| r.reads_per_sec),
    );
    println!("| mode | appends/s (median of {rounds}) | events read/s (median) |");
    println!("| --- | --- | --- |");
    println!("| clear (ClearVault) | {ca:.0} | {cr:.0} |");
    println!("| encrypted (KeyVault) | {ka:.0} | {kr:.0} |");
    println!(
        "| overhead | {:.1}% | {:.1}% |",
        (1.0 - ka / ca) * 100.0,
        (1.0 - kr / cr) * 100.0
    );
}
