//! Audit append throughput on SQLite: N entries (default 20,000) appended
//! one after another, then by 16 concurrent tasks, each append its own
//! durable transaction (synchronous = FULL unless `normal` is given).
//!
//! ```text
//! cargo run --release -p oriole-store-sqlite --example audit_append -- [N] [full|normal]
//! ```

use std::sync::Arc;
use std::time::Instant;

use oriole_audit::{Actor, Details, EntryDraft, EventKind, PseudonymousId};
use oriole_core::Store;
use oriole_store_sqlite::{SqliteOptions, SqliteStore, Synchronous};

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

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20_000);
    let synchronous = match std::env::args().nth(2).as_deref() {
        Some("normal") => Synchronous::Normal,
        _ => Synchronous::Full,
    };
    let dir = tempfile::TempDir::new()?;
    let store = Arc::new(
        SqliteStore::open(
            &dir.path().join("oriole.db"),
            SqliteOptions {
                synchronous,
                ..SqliteOptions::default()
            },
        )
        .await?,
    );
    let t = Instant::now();
    for i in 0..n {
        store.append_audit(draft(i)).await?;
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{synchronous:?}: {n} sequential appends in {secs:.2} s: {:.0} entries/s",
        n as f64 / secs
    );

    let tasks = 16;
    let t = Instant::now();
    let mut handles = Vec::new();
    for k in 0..tasks {
        let store = Arc::clone(&store);
        handles.push(tokio::spawn(async move {
            for i in 0..n / tasks {
                store.append_audit(draft(k * n + i)).await.expect("append");
            }
        }));
    }
    for h in handles {
        h.await?;
    }
    let secs = t.elapsed().as_secs_f64();
    let done = n / tasks * tasks;
    println!(
        "{synchronous:?}: {done} appends from {tasks} tasks in {secs:.2} s: {:.0} entries/s",
        done as f64 / secs
    );
    store.close().await;
    Ok(())
}
