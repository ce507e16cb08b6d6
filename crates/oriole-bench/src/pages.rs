//! What each index on `messages` costs a commit, in pages.
//!
//! A commit's cost in Oriole's store is mostly the pages it writes to the
//! WAL (a `pwrite` for each frame's header and one for its page, then the
//! checkpoint writes them again). A table whose rows are appended in
//! position order shares its last page among a batch's messages, but an
//! index whose key starts with the conversation puts every conversation's
//! newest entries on a leaf of their own, and rebalancing full leaves
//! dirties their neighbours too. This measures it on the store's own
//! schema (its migrations, compiled in), with 1:1 messages shaped like
//! W1's: `pairs` senders each writing to one recipient, in random order,
//! committed `batch` at a time, counting the WAL frames each commit adds.
//! It runs once with the schema as migrated, once without each secondary
//! index on `messages`, and once with none of them.
//!
//! Since migration 0014 a 1:1 message carries the number of its
//! direction (sender to recipient), and the index its pending entries are
//! found by is on that number (`messages_by_direct_pair`), where it was
//! on the sender and recipient (`messages_by_sender`, migration 0013). One
//! run puts that old index back in the new one's place, and one adds an
//! index on the sender alone beside the new one: what keeping an index
//! that leads with a 36-character id costs.
//!
//! Three more runs try keeping the direction index off the commit path,
//! taking the log into it only once `sender_index_lag` messages wait, in
//! one statement inside that commit: as a partial index over a flag the
//! statement sets (tried in the server with the old index in f728c48 and
//! reverted: the pass holds the writer long enough to raise p99), as a
//! `WITHOUT ROWID` table of its own that the statement fills in key order,
//! which rewrites no message rows, and as that table filled one slice of
//! the senders per commit, so no commit does the whole pass. Each run also
//! reports how long its commits took (synchronous off, so CPU and page
//! writes, no fsync), the longest being a pass: that wait is what latency
//! sees.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection, SqliteConnection};
use uuid::Uuid;

/// The store's schema, as the server migrates it.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../oriole-store-sqlite/migrations");

/// A WAL frame: a 24-byte header and a 4 KiB page (the store's page size).
const FRAME_BYTES: u64 = 24 + 4096;

/// Restart the WAL past this size, so a long run does not fill the disk.
const WAL_LIMIT_BYTES: u64 = 256 << 20;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Shape {
    /// Sender and recipient pairs (W1 uses 50).
    pub pairs: usize,
    /// Messages per commit.
    pub batch: usize,
    /// Messages written per variant; the second half is measured, when the
    /// indexes have grown past a few levels.
    pub messages: usize,
    /// Bytes of a stored (sealed) message body: 141 for W1's 100 bytes.
    pub body_bytes: usize,
    /// Messages the sender index trails the log by in the runs that keep
    /// it off the commit path.
    pub sender_index_lag: usize,
}

/// A run: the schema as migrated, less some indexes, perhaps changed
/// further, perhaps with a statement that brings a trailing index up.
struct Variant {
    name: String,
    drop: Vec<String>,
    /// Run once after the drops.
    setup: Option<&'static str>,
    /// Run inside a commit once `sender_index_lag` messages wait, with the
    /// last position taken in (?1) and the newest (?2).
    pass: Option<&'static str>,
    /// Whether the pass takes one slice of the senders per commit (?3
    /// slices, this one ?4), each slice from where it last stopped, so
    /// that each commit does an even share of the work, instead of every
    /// sender once `sender_index_lag` wait.
    sliced: bool,
}

/// The direction index over a flag that a pass sets.
pub const FLAGGED: &str = "direction index trailing, partial over a flag";
const FLAGGED_SETUP: &str = "\
    ALTER TABLE messages ADD COLUMN by_sender INTEGER NOT NULL DEFAULT 0; \
    DROP INDEX messages_by_direct_pair; \
    CREATE INDEX messages_by_direct_pair ON messages (pair) \
        WHERE pair IS NOT NULL AND by_sender = 1;";
const FLAGGED_PASS: &str = "UPDATE messages SET by_sender = 1 WHERE rowid > ?1 AND rowid <= ?2";

/// The direction index as a table of its own that a pass fills.
pub const TABLE: &str = "direction index trailing, a table of its own";
const TABLE_SETUP: &str = "\
    DROP INDEX messages_by_direct_pair; \
    CREATE TABLE sender_log ( \
        sender_id TEXT NOT NULL, recipient_user_id TEXT NOT NULL, pos INTEGER NOT NULL, \
        PRIMARY KEY (sender_id, recipient_user_id, pos)) WITHOUT ROWID;";
const TABLE_PASS: &str = "\
    INSERT INTO sender_log (sender_id, recipient_user_id, pos) \
    SELECT sender_id, recipient_user_id, rowid FROM messages \
    WHERE rowid > ?1 AND rowid <= ?2 AND recipient_user_id IS NOT NULL \
    ORDER BY 1, 2, 3";

/// The table filled a slice of senders per commit.
pub const SLICED: &str = "direction index trailing, a table of its own, a slice per commit";
const SLICED_PASS: &str = "\
    INSERT INTO sender_log (sender_id, recipient_user_id, pos) \
    SELECT sender_id, recipient_user_id, rowid FROM messages \
    WHERE rowid > ?1 AND rowid <= ?2 AND recipient_user_id IS NOT NULL \
      AND unicode(substr(sender_id, 36)) % ?3 = ?4 \
    ORDER BY 1, 2, 3";

/// Migration 0013's sender index in place of the direction's.
pub const SENDER: &str = "sender index (migration 0013) instead of the direction index";
const SENDER_SETUP: &str = "\
    DROP INDEX messages_by_direct_pair; \
    CREATE INDEX messages_by_sender ON messages (sender_id, recipient_user_id);";

/// An index on the sender alone beside the direction's.
pub const SENDER_ONLY: &str = "direction index and a sender-only index";
const SENDER_ONLY_SETUP: &str = "CREATE INDEX messages_by_sender ON messages (sender_id);";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PagesPerCommit {
    /// "as migrated", "without <index>" or "no secondary index".
    pub variant: String,
    pub commits_measured: usize,
    pub frames_per_commit: f64,
    pub frames_per_message: f64,
    /// Mean and longest commit over the measured half, in milliseconds.
    pub commit_ms_mean: f64,
    pub commit_ms_max: f64,
}

/// Every variant, each in a fresh database under `dir`.
pub async fn measure(dir: &Path, shape: &Shape) -> anyhow::Result<Vec<PagesPerCommit>> {
    anyhow::ensure!(
        shape.pairs > 0 && shape.batch > 0 && shape.messages >= 2 * shape.batch,
        "pairs and batch must be positive, and messages at least two batches"
    );
    let indexes = {
        let mut conn = open(&dir.join("schema.db")).await?;
        secondary_indexes(&mut conn).await?
    };
    let plain = |name: String, drop: Vec<String>| Variant {
        name,
        drop,
        setup: None,
        pass: None,
        sliced: false,
    };
    let mut variants = vec![plain("as migrated".into(), Vec::new())];
    for index in &indexes {
        variants.push(plain(format!("without {index}"), vec![index.clone()]));
    }
    variants.push(plain("no secondary index".into(), indexes.clone()));
    variants.push(Variant {
        name: FLAGGED.into(),
        drop: Vec::new(),
        setup: Some(FLAGGED_SETUP),
        pass: Some(FLAGGED_PASS),
        sliced: false,
    });
    variants.push(Variant {
        name: TABLE.into(),
        drop: Vec::new(),
        setup: Some(TABLE_SETUP),
        pass: Some(TABLE_PASS),
        sliced: false,
    });
    variants.push(Variant {
        name: SLICED.into(),
        drop: Vec::new(),
        setup: Some(TABLE_SETUP),
        pass: Some(SLICED_PASS),
        sliced: true,
    });
    variants.push(Variant {
        name: SENDER.into(),
        drop: Vec::new(),
        setup: Some(SENDER_SETUP),
        pass: None,
        sliced: false,
    });
    variants.push(Variant {
        name: SENDER_ONLY.into(),
        drop: Vec::new(),
        setup: Some(SENDER_ONLY_SETUP),
        pass: None,
        sliced: false,
    });

    let mut out = Vec::new();
    for (n, variant) in variants.into_iter().enumerate() {
        let path = dir.join(format!("variant-{n}.db"));
        let mut conn = open(&path).await?;
        for index in &variant.drop {
            sqlx::query(&format!("DROP INDEX \"{index}\""))
                .execute(&mut conn)
                .await
                .with_context(|| format!("dropping {index}"))?;
        }
        if let Some(setup) = variant.setup {
            sqlx::raw_sql(setup)
                .execute(&mut conn)
                .await
                .with_context(|| format!("setting up {}", variant.name))?;
        }
        let commits = write(&mut conn, &path, shape, &variant).await?;
        conn.close().await?;
        let measured = &commits[commits.len() / 2..];
        let count = measured.len() as f64;
        let per_commit = measured.iter().map(|c| c.frames).sum::<u64>() as f64 / count;
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        out.push(PagesPerCommit {
            variant: variant.name,
            commits_measured: measured.len(),
            frames_per_commit: per_commit,
            frames_per_message: per_commit / shape.batch as f64,
            commit_ms_mean: measured.iter().map(|c| ms(c.took)).sum::<f64>() / count,
            commit_ms_max: measured.iter().map(|c| ms(c.took)).fold(0.0, f64::max),
        });
    }
    Ok(out)
}

/// A fresh database with the store's schema, foreign keys off (as the
/// store migrates; the rows below name users that do not exist) and the
/// WAL left to grow, so its size counts the frames each commit adds.
async fn open(path: &Path) -> anyhow::Result<SqliteConnection> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Off)
        .foreign_keys(false)
        .pragma("wal_autocheckpoint", "0");
    let mut conn = SqliteConnection::connect_with(&options)
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    MIGRATOR
        .run(&mut conn)
        .await
        .context("migrating the database")?;
    Ok(conn)
}

/// The indexes on `messages` that `DROP INDEX` can drop (not the one
/// behind the id's UNIQUE constraint), by name.
async fn secondary_indexes(conn: &mut SqliteConnection) -> anyhow::Result<Vec<String>> {
    let names: Vec<(String,)> = sqlx::query_as(
        "SELECT name FROM sqlite_schema \
         WHERE type = 'index' AND tbl_name = 'messages' AND sql IS NOT NULL ORDER BY name",
    )
    .fetch_all(conn)
    .await?;
    Ok(names.into_iter().map(|(n,)| n).collect())
}

/// One commit: the WAL frames it added and how long it took.
struct Commit {
    frames: u64,
    took: Duration,
}

/// Write `shape.messages` 1:1 messages, running the variant's pass inside
/// the commits it is due in.
async fn write(
    conn: &mut SqliteConnection,
    path: &Path,
    shape: &Shape,
    variant: &Variant,
) -> anyhow::Result<Vec<Commit>> {
    let wal = {
        let mut name = path.as_os_str().to_owned();
        name.push("-wal");
        std::path::PathBuf::from(name)
    };
    let wal_len = || std::fs::metadata(&wal).map_or(0, |m| m.len());
    // User ids are UUIDv7, as the store makes them.
    let pairs: Vec<(String, String)> = (0..shape.pairs)
        .map(|_| (Uuid::now_v7().to_string(), Uuid::now_v7().to_string()))
        .collect();
    let mut rng = rand::thread_rng();
    let mut body = vec![0u8; shape.body_bytes];
    // W1's clock: about 25 messages a millisecond.
    let mut millis: u64 = 1_760_000_000_000;
    let mut pos: i64 = 0;
    let lag = shape.sender_index_lag.max(1);
    // Sliced: as many slices as commits in a lag, so each slice waits
    // about a lag between its passes, as the whole index does unsliced.
    let slices = if variant.sliced {
        lag.div_ceil(shape.batch)
    } else {
        1
    };
    // Where each slice's last pass stopped.
    let mut taken = vec![0i64; slices];
    let mut commits: Vec<Commit> = Vec::new();
    while (pos as usize) < shape.messages {
        let before = wal_len();
        let started = Instant::now();
        let mut tx = conn.begin().await?;
        let slice = commits.len() % slices;
        let due = if variant.sliced {
            pos > taken[slice]
        } else {
            pos - taken[0] >= i64::try_from(lag).context("lag")?
        };
        if let Some(pass) = variant.pass.filter(|_| due) {
            let mut query = sqlx::query(pass).bind(taken[slice]).bind(pos);
            if variant.sliced {
                query = query
                    .bind(i64::try_from(slices).context("slices")?)
                    .bind(i64::try_from(slice).context("slice")?);
            }
            query
                .execute(&mut *tx)
                .await
                .context("bringing the sender index up")?;
            taken[slice] = pos;
        }
        for _ in 0..shape.batch {
            pos += 1;
            if rng.gen_ratio(1, 25) {
                millis += 1;
            }
            let pair = rng.gen_range(0..pairs.len());
            let (sender, recipient) = &pairs[pair];
            rng.fill_bytes(&mut body);
            let key = format!("{millis:012x}{:020x}", rng.gen::<u128>() & ((1 << 80) - 1));
            let id = Uuid::new_v7(uuid::Timestamp::from_unix(
                uuid::NoContext,
                millis / 1000,
                (millis % 1000) as u32 * 1_000_000,
            ));
            // The direction's number, as the store gives one at a
            // direction's first message.
            let pair_number = i64::try_from(pair).context("pair")? + 1;
            sqlx::query(
                "INSERT INTO messages \
                   (rowid, id, sender_id, recipient_user_id, text, sent_at, idempotency_key, \
                    pair) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(pos)
            .bind(id.to_string())
            .bind(sender)
            .bind(recipient)
            .bind(&body)
            .bind(millis as i64)
            .bind(&key)
            .bind(pair_number)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        let took = started.elapsed();
        let after = wal_len();
        commits.push(Commit {
            frames: after.saturating_sub(before) / FRAME_BYTES,
            took,
        });
        if after > WAL_LIMIT_BYTES {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(commits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn finds_the_message_indexes_and_counts_what_each_costs() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let shape = Shape {
            pairs: 50,
            batch: 100,
            messages: 3000,
            body_bytes: 141,
            sender_index_lag: 1000,
        };
        let pages = measure(dir.path(), &shape).await.expect("measuring");
        let frames = |variant: &str| {
            pages
                .iter()
                .find(|p| p.variant == variant)
                .unwrap_or_else(|| panic!("no variant {variant} in {pages:?}"))
                .frames_per_commit
        };
        let all = frames("as migrated");
        let none = frames("no secondary index");
        // Every commit writes the table's pages at least.
        assert!(none >= 1.0, "{pages:?}");
        assert!(all > none, "{pages:?}");
        let without = frames("without messages_by_direct_pair");
        assert!(all > without, "{pages:?}");
        // With 50 conversations in every batch of 100, the old sender
        // index, whose long keys fill a leaf with a few dozen, writes a
        // leaf per conversation, so it costs at least half of those. The
        // direction index's short keys share leaves among conversations
        // while it is this small (3000 messages), so it costs less.
        assert!(frames(SENDER) - without >= 25.0, "{pages:?}");
        assert!(frames(SENDER) > all, "{pages:?}");
        assert!(frames(SENDER_ONLY) > all, "{pages:?}");
        // Taken ten commits' worth at a time, in any form, the old index
        // would have written fewer pages than taken at every commit.
        for trailing in [FLAGGED, TABLE, SLICED] {
            assert!(frames(trailing) < frames(SENDER), "{pages:?}");
        }
        for p in &pages {
            assert_eq!(p.commits_measured, 15, "{p:?}");
            assert!(p.commit_ms_max >= p.commit_ms_mean, "{p:?}");
        }
    }
}
