//! The store's append path on its own: `oriole-bench store-append`.
//!
//! A W1 step spends about a third of the server's core in the store (the
//! group commit's task on the runtime thread, and SQLite's thread), but
//! it also measures the network, the WebSocket and the generator, and on
//! a shared VM two steps of the same build differ by 5 to 10% in CPU per
//! message. This drives [`Store::append_message`] of the real store (its
//! migrations, group commit, `synchronous = FULL`, fields sealed by a
//! [`KeyVault`] over a real key store, as the server runs it) with 1:1
//! messages shaped like W1's: `pairs` senders each writing to one
//! recipient, each with `in_flight` appends waiting at once, as a
//! connection's pipeline keeps them. Closed loop: it measures CPU per
//! message, not latency. Run it on one core (`taskset -c 0`), with the
//! runtime on one thread, as the server runs.
//!
//! Without the network and the generator it is steadier than a W1 step,
//! but not steady: the VM's neighbours still move one build's CPU per
//! message by 10% or more within minutes. Compare two builds alternated
//! over 20 or more rounds (`bench/ab.sh store BENCH_A BENCH_B 20`); even
//! then a difference of 3% did not show (docs/benchmarks.md, nineteenth
//! pass).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use futures_util::stream::{FuturesUnordered, StreamExt};
use oriole_core::domain::{IdempotencyKey, MessageBody, MessageId, Timestamp, UserId, Username};
use oriole_core::store::{Appended, Conversation, NewMessage, NewUser, Store};
use oriole_core::{FieldVault, KeyVault, KeyVaultConfig};
use oriole_crypto::keys::Kek;
use oriole_crypto::PasswordHashString;
use oriole_store_sqlite::{SqliteKeyStore, SqliteOptions, SqliteStore};
use serde::Serialize;

/// What one run appends.
#[derive(Debug, Clone, Serialize)]
pub struct Shape {
    /// Sender and recipient pairs (W1 uses 50).
    pub pairs: usize,
    /// Appends each sender has waiting at once.
    pub in_flight: usize,
    /// Messages appended and measured, after the warm-up.
    pub messages: usize,
    /// Bytes of each message's text (W1 sends about 100).
    pub text_bytes: usize,
}

/// CPU per appended message, by thread, over the measured messages.
#[derive(Debug, Clone, Serialize)]
pub struct AppendCost {
    pub messages: usize,
    pub seconds: f64,
    pub messages_per_second: f64,
    /// Both threads (the runtime and SQLite's), microseconds per message.
    pub cpu_us_per_message: f64,
    /// Per thread name, microseconds per message.
    pub threads: Vec<(String, f64)>,
}

/// Open a store in `dir` as the server does and append `shape.messages`
/// after a warm-up of a fifth as many.
pub async fn measure(dir: &Path, shape: &Shape) -> anyhow::Result<AppendCost> {
    anyhow::ensure!(
        shape.pairs > 0 && shape.messages > 0,
        "--pairs and --messages must be above zero"
    );
    let keys_dir = dir.join("keys");
    std::fs::create_dir_all(&keys_dir)?;
    let key_store = SqliteKeyStore::open(&keys_dir)
        .await
        .context("opening the key store")?;
    let vault: Arc<dyn FieldVault> = Arc::new(
        KeyVault::open(Kek::generate(), key_store, KeyVaultConfig::default())
            .await
            .context("opening the key vault")?,
    );
    let store = SqliteStore::open(
        &dir.join("oriole.db"),
        SqliteOptions {
            vault,
            ..SqliteOptions::default()
        },
    )
    .await
    .context("opening the store")?;
    let mut pairs = Vec::with_capacity(shape.pairs);
    for n in 0..shape.pairs {
        let sender = user(&store, &format!("sender{n}")).await?;
        let recipient = user(&store, &format!("recipient{n}")).await?;
        pairs.push((sender, recipient));
    }
    let store = Arc::new(store);
    let text = "x".repeat(shape.text_bytes);
    append_all(&store, &pairs, shape, shape.messages / 5, &text).await?;
    let before = thread_ticks()?;
    let started = Instant::now();
    let messages = append_all(&store, &pairs, shape, shape.messages, &text).await?;
    let seconds = started.elapsed().as_secs_f64();
    let after = thread_ticks()?;
    let tick_us = 1e6 / ticks_per_second() as f64;
    let mut threads: HashMap<String, u64> = HashMap::new();
    for (tid, (name, ticks)) in &after {
        let earlier = before.get(tid).map_or(0, |(_, t)| *t);
        *threads.entry(name.clone()).or_default() += ticks.saturating_sub(earlier);
    }
    let per_message = |ticks: u64| ticks as f64 * tick_us / messages as f64;
    let mut threads: Vec<(String, f64)> = threads
        .into_iter()
        .filter(|(_, ticks)| *ticks > 0)
        .map(|(name, ticks)| (name, per_message(ticks)))
        .collect();
    threads.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(AppendCost {
        messages,
        seconds,
        messages_per_second: messages as f64 / seconds,
        cpu_us_per_message: threads.iter().map(|(_, us)| us).sum(),
        threads,
    })
}

async fn user(store: &SqliteStore, name: &str) -> anyhow::Result<UserId> {
    let id = UserId::generate();
    store
        .create_user(NewUser {
            id,
            username: Username::parse(name)?,
            password_hash: PasswordHashString::from_stored("$argon2id$bench".into()),
            phone: None,
            email: None,
            created_at: now(),
        })
        .await?;
    Ok(id)
}

/// About `total` appends (the same number from each sender, rounded up),
/// each sender keeping `in_flight` waiting; every one must be stored as
/// new. Returns how many were appended.
async fn append_all(
    store: &Arc<SqliteStore>,
    pairs: &[(UserId, UserId)],
    shape: &Shape,
    total: usize,
    text: &str,
) -> anyhow::Result<usize> {
    let each = total.div_ceil(pairs.len());
    let mut senders = FuturesUnordered::new();
    for &(sender, recipient) in pairs {
        let store = Arc::clone(store);
        let text = text.to_owned();
        let in_flight = shape.in_flight.max(1);
        senders.push(tokio::spawn(async move {
            let mut waiting = FuturesUnordered::new();
            for _ in 0..each {
                if waiting.len() >= in_flight {
                    waiting.next().await.transpose()?;
                }
                let msg = NewMessage {
                    id: MessageId::generate(),
                    sender,
                    conversation: Conversation::Direct(recipient),
                    body: MessageBody {
                        text: Some(text.clone()),
                        payload_json: None,
                    },
                    sent_at: now(),
                    idempotency_key: Some(IdempotencyKey::parse_owned(
                        uuid::Uuid::now_v7().to_string(),
                    )?),
                };
                let store = Arc::clone(&store);
                waiting.push(async move {
                    match store.append_message(msg, &[sender, recipient]).await? {
                        Appended::New { .. } => Ok(()),
                        Appended::Duplicate { .. } => {
                            Err(anyhow::anyhow!("a new message was taken for a duplicate"))
                        }
                    }
                });
            }
            while let Some(done) = waiting.next().await {
                done?;
            }
            anyhow::Ok(())
        }));
    }
    while let Some(sender) = senders.next().await {
        sender??;
    }
    Ok(each * pairs.len())
}

/// Each thread of this process: its name and its user + system ticks.
fn thread_ticks() -> anyhow::Result<HashMap<u64, (String, u64)>> {
    let mut out = HashMap::new();
    for task in std::fs::read_dir("/proc/self/task")? {
        let task = task?.path();
        let Some(tid) = task
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse().ok())
        else {
            continue;
        };
        let name = std::fs::read_to_string(task.join("comm"))?
            .trim()
            .to_owned();
        let stat = std::fs::read_to_string(task.join("stat"))?;
        // Fields after the command's closing parenthesis: utime and stime
        // are the 12th and 13th.
        let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        if let (Some(user), Some(system)) = (ticks(11), ticks(12)) {
            out.insert(tid, (name, user + system));
        }
    }
    Ok(out)
}

fn now() -> Timestamp {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    Timestamp(i64::try_from(millis).unwrap_or(i64::MAX))
}

/// The unit of `/proc/*/stat` times: `USER_HZ`, fixed at 100 on Linux.
fn ticks_per_second() -> u64 {
    100
}

#[cfg(test)]
mod tests {
    use sqlx::Connection;

    use super::*;

    #[tokio::test]
    async fn appends_every_message_and_counts_both_threads() {
        let dir = tempfile::tempdir().expect("temp dir");
        let shape = Shape {
            pairs: 3,
            in_flight: 4,
            messages: 300,
            text_bytes: 20,
        };
        let cost = measure(dir.path(), &shape).await.expect("measure");
        assert_eq!(cost.messages, 300);
        assert!(cost.messages_per_second > 0.0);
        // Warm-up and measured messages, each stored once.
        let db = dir.path().join("oriole.db");
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .expect("open");
        let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM messages")
            .fetch_one(&mut conn)
            .await
            .expect("count");
        assert_eq!(stored, 300 + 300 / 5);
    }
}
