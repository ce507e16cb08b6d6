//! SQLite's own insert ceiling on this machine: rows of message size
//! committed in transactions of 1, 10, 100, 1000 rows, with WAL and
//! `synchronous=FULL` (one fsync per commit, as Oriole's default). This
//! measures SQLite and the disk, not Oriole's store; it bounds what any
//! SQLite-backed server can persist per second, and what group commit can
//! reach.

use std::time::{Duration, Instant};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection, SqliteConnection};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InsertRate {
    pub rows_per_txn: u32,
    pub rows: u64,
    pub transactions: u64,
    pub seconds: f64,
    pub rows_per_sec: f64,
    pub txns_per_sec: f64,
    /// CPU time this process spent per row while inserting (both of its
    /// threads that work: the caller's and sqlx's SQLite worker; the rest
    /// of the process is idle meanwhile). At 1000 rows per transaction,
    /// what a stored row costs the core apart from waiting on fsync.
    #[serde(default)]
    pub cpu_us_per_row: Option<f64>,
}

/// [`measure`] into a fresh database of its own, on its own thread pinned
/// to `core` when one is given (the server's core, so that the ceiling
/// and the server it bounds run on the same CPU), on a runtime of its own
/// so that SQLite's thread, which sqlx starts from it, is pinned too.
pub async fn measure_on(
    core: Option<usize>,
    batch_sizes: Vec<u32>,
    each: Duration,
    body_bytes: usize,
) -> anyhow::Result<Vec<InsertRate>> {
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("sqlite-ceiling".into())
        .spawn(move || {
            let measured = (|| {
                if let Some(core) = core {
                    crate::process::pin_current_thread(core)?;
                }
                let dir = tempfile::tempdir()?;
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?
                    .block_on(measure(dir.path(), &batch_sizes, each, body_bytes, None))
            })();
            let _ = done.send(measured);
        })
        .context("starting the ceiling's thread")?;
    result.await.context("the ceiling's thread ended early")?
}

/// Insert for `each` per batch size into a fresh database under `dir`,
/// through SQLite's own VFS, or the one named by `vfs` (which must be
/// registered: `unix`, or [`oriole_sqlite_vfs::NAME`]). The ceilings in a
/// run's results always use SQLite's own.
pub async fn measure(
    dir: &std::path::Path,
    batch_sizes: &[u32],
    each: Duration,
    body_bytes: usize,
    vfs: Option<&'static str>,
) -> anyhow::Result<Vec<InsertRate>> {
    let mut options = SqliteConnectOptions::new()
        .filename(dir.join("ceiling.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full);
    if let Some(vfs) = vfs {
        options = options.vfs(vfs);
    }
    let mut conn = SqliteConnection::connect_with(&options)
        .await
        .context("opening the ceiling database")?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS messages (
             id INTEGER PRIMARY KEY,
             sender TEXT NOT NULL,
             recipient TEXT NOT NULL,
             body BLOB NOT NULL,
             sent_at INTEGER NOT NULL
         )",
    )
    .execute(&mut conn)
    .await?;
    let body = vec![b'x'; body_bytes];
    let mut results = Vec::new();
    for &batch in batch_sizes {
        let ticks_before = crate::process::cpu_ticks(std::process::id());
        let started = Instant::now();
        let (mut rows, mut txns) = (0u64, 0u64);
        while started.elapsed() < each {
            let mut tx = conn.begin().await?;
            for _ in 0..batch {
                sqlx::query(
                    "INSERT INTO messages (sender, recipient, body, sent_at) VALUES (?, ?, ?, ?)",
                )
                .bind("alice")
                .bind("bob")
                .bind(&body)
                .bind(i64::try_from(rows).unwrap_or(i64::MAX))
                .execute(&mut *tx)
                .await?;
                rows += 1;
            }
            tx.commit().await?;
            txns += 1;
        }
        let seconds = started.elapsed().as_secs_f64();
        let ticks_after = crate::process::cpu_ticks(std::process::id());
        // Clock ticks are 1/100 s: 10,000 µs each.
        let cpu_us_per_row = match (ticks_before, ticks_after) {
            (Some(before), Some(after)) if rows > 0 => {
                Some(after.saturating_sub(before) as f64 * 10_000.0 / rows as f64)
            }
            _ => None,
        };
        results.push(InsertRate {
            rows_per_txn: batch,
            rows,
            transactions: txns,
            seconds,
            rows_per_sec: rows as f64 / seconds,
            txns_per_sec: txns as f64 / seconds,
            cpu_us_per_row,
        });
    }
    conn.close().await?;
    Ok(results)
}
