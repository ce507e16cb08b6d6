//! The embedded [`Store`](oriole_core::Store): one SQLite file in WAL mode.
//!
//! All writes go through a pool of exactly one connection, so concurrent
//! writers queue in-process (fairly, with a timeout) instead of racing for
//! SQLite's lock and failing with `SQLITE_BUSY`; reads use a separate pool
//! of `query_only` connections, which WAL lets run beside the writer. Every
//! write transaction runs on a task of its own (`store::detached`), so a
//! caller dropped part-way cannot hand that one connection back in the
//! middle of a transaction. Personal fields pass through the configured
//! [`FieldVault`] (see `personal.rs`).
//!
//! The keys for encryption at rest live apart, in `DATA/keys/` (see
//! [`keystore`]): a [`SqliteKeyStore`] for the wrapped data keys, the KEK
//! loading, the directory lock and KEK rotation.

mod audit;
mod error;
mod group_commit;
mod group_inbox;
pub mod keystore;
mod operators;
mod personal;
mod privacy;
mod rights;
mod sharing;
mod store;

pub use keystore::{
    load_kek, lock_keys_dir, rotate_kek, KekSource, KeysDirLock, KeysError, SqliteKeyStore,
    DEFAULT_KEK_ENV,
};
pub use personal::sealed_columns;

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use oriole_core::store::StoreError;
use oriole_core::{ClearVault, FieldVault};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection};

use crate::group_commit::Appender;
use crate::group_inbox::GroupInbox;
use crate::personal::PersonalData;

/// How long a connection waits on a lock held by another process.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a write waits for its turn on the writer connection.
const WRITE_QUEUE_TIMEOUT: Duration = Duration::from_secs(30);
/// WAL pages after which a commit copies the WAL into the database file
/// (SQLite's default: 1000). A checkpoint copies each page once however
/// many commits rewrote it, and the same inbox leaves are rewritten commit
/// after commit, so a longer interval writes fewer bytes: 17-18% fewer per
/// message at 4000 (writer_batches, W1 and W3 shapes), and the writer
/// stalls less often in a checkpoint (docs/benchmarks.md, fourth pass).
/// The WAL file grows to about 16 MB at 4 KiB pages. Erasures do not wait
/// for it: they truncate the WAL themselves (`SqliteStore::checkpoint`).
const WAL_AUTOCHECKPOINT_PAGES: u32 = 4000;
/// Rows a statement's results may run ahead of the task reading them
/// (sqlx's default: 50). sqlx hands each row from SQLite's thread to the
/// runtime's over a bounded channel; with 50, a 256-event catch-up page
/// stopped SQLite's thread at least five times, each a pair of thread
/// switches on a busy core. With room for a whole page, a W2 drain of
/// 2000-message backlogs ran 69k → 82k msg/s (means of 7 alternated runs,
/// docs/benchmarks.md, eleventh pass). Memory stays bounded: at most this
/// many rows per running statement.
const ROW_BUFFER: usize = 1024;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// When SQLite waits for the disk. `Full` (the default) makes every commit
/// survive a power loss; `Normal` may lose the last commits on power loss
/// (never on a process crash) in exchange for faster writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    #[default]
    Full,
    Normal,
}

impl FromStr for Synchronous {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "full" => Ok(Synchronous::Full),
            "normal" => Ok(Synchronous::Normal),
            _ => Err(format!(
                "unknown synchronous mode `{s}`; use `full` or `normal`"
            )),
        }
    }
}

impl From<Synchronous> for SqliteSynchronous {
    fn from(s: Synchronous) -> Self {
        match s {
            Synchronous::Full => SqliteSynchronous::Full,
            Synchronous::Normal => SqliteSynchronous::Normal,
        }
    }
}

/// How [`SqliteStore::open`] sets up the database.
#[derive(Clone)]
pub struct SqliteOptions {
    pub synchronous: Synchronous,
    /// Seals and opens every personal field: a
    /// [`KeyVault`](oriole_core::KeyVault) for encryption at rest;
    /// [`ClearVault`] (the default) only for tests and benchmarks.
    pub vault: Arc<dyn FieldVault>,
    /// Size of the read pool (at least 1).
    pub read_connections: u32,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            synchronous: Synchronous::Full,
            vault: Arc::new(ClearVault),
            read_connections: 4,
        }
    }
}

impl fmt::Debug for SqliteOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteOptions")
            .field("synchronous", &self.synchronous)
            .field("read_connections", &self.read_connections)
            .finish_non_exhaustive()
    }
}

/// A [`Store`](oriole_core::Store) on one SQLite database file. Cloning
/// shares the connection pools.
#[derive(Clone)]
pub struct SqliteStore {
    /// Exactly one connection: every write and transaction.
    writer: SqlitePool,
    /// `query_only` connections for single-statement reads.
    reader: SqlitePool,
    /// The group-commit queue for message appends (on `writer`).
    appender: Appender,
    /// Group entries handed out but not yet written (see `group_inbox`).
    group_inbox: Arc<GroupInbox>,
    personal: PersonalData,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Open the database file at `path`, creating it (and its directory) if
    /// missing, and bring its schema up to date.
    #[tracing::instrument(skip_all)]
    pub async fn open(path: &Path, opts: SqliteOptions) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| StoreError::Backend(format!("creating the data directory: {e}")))?;
        }
        let base = SqliteConnectOptions::new()
            .filename(path)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .synchronous(opts.synchronous.into())
            // Deleted content (recalled messages, revoked data) is
            // overwritten with zeros, not left in free pages.
            .pragma("secure_delete", "ON")
            // Statement journals and temporary b-trees in memory, not in
            // files under /var/tmp: a group-commit batch's multi-row
            // statements otherwise write every page they touch a second
            // time, to a temporary file (measured: as many writes as the
            // WAL itself), and content would pass through that file.
            .pragma("temp_store", "MEMORY")
            .row_buffer_size(ROW_BUFFER);
        // With FULL, each commit's WAL frames go to the kernel in one
        // write instead of two per page (`oriole-sqlite-vfs`; it is only
        // safe when every commit syncs the WAL before publishing it).
        let base = match opts.synchronous {
            Synchronous::Full => base.vfs(
                oriole_sqlite_vfs::register().map_err(|e| StoreError::Backend(e.to_string()))?,
            ),
            Synchronous::Normal => base,
        };

        // Migrations run on a connection of their own, with foreign keys
        // off, as SQLite's steps for rebuilding a table ask (0013): with
        // them on, dropping a table deletes its rows first and cascades.
        // None of the migrations relies on a foreign key action.
        {
            let mut migrating = base
                .clone()
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .foreign_keys(false)
                .connect()
                .await
                .map_err(error::db("opening the database"))?;
            MIGRATOR
                .run(&mut migrating)
                .await
                .map_err(|e| StoreError::Backend(format!("migrating the database: {e}")))?;
            migrating
                .close()
                .await
                .map_err(error::db("closing the migrating connection"))?;
        }

        // No `test_before_acquire`: its ping is one more round trip to the
        // connection's thread on every acquire, and an embedded database
        // has no network link that could have gone stale.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .min_connections(1)
            .acquire_timeout(WRITE_QUEUE_TIMEOUT)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(
                base.clone()
                    .journal_mode(SqliteJournalMode::Wal)
                    .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES.to_string()),
            )
            .await
            .map_err(error::db("opening the database"))?;

        // The file exists and is in WAL mode.
        let reader = SqlitePoolOptions::new()
            .max_connections(opts.read_connections.max(1))
            .test_before_acquire(false)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(base.pragma("query_only", "ON"))
            .await
            .map_err(error::db("opening the database for reading"))?;

        let group_inbox = {
            let mut conn = writer
                .acquire()
                .await
                .map_err(error::db("opening the database"))?;
            Arc::new(GroupInbox::recover(&mut conn).await?)
        };

        tracing::debug!("sqlite store open");
        Ok(SqliteStore {
            appender: Appender::start(writer.clone(), group_inbox.clone()),
            group_inbox,
            writer,
            reader,
            personal: PersonalData::new(opts.vault),
        })
    }

    /// Every `(table, column)` of the schema, in table then column order,
    /// without SQLite's and sqlx's own tables: what the personal-data
    /// inventory must account for.
    pub async fn schema_columns(&self) -> Result<Vec<(String, String)>, StoreError> {
        sqlx::query_as(
            "SELECT m.name, p.name FROM sqlite_master AS m \
             JOIN pragma_table_info(m.name) AS p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
               AND m.name <> '_sqlx_migrations' \
             ORDER BY m.name, p.cid",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(error::db("reading the schema"))
    }

    /// Message appends committed so far, and the transactions (fsyncs)
    /// they took: group commit puts many appends in one transaction.
    pub fn append_commit_stats(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering;
        let stats = &self.appender.stats;
        (
            stats.appends.load(Ordering::Relaxed),
            stats.batches.load(Ordering::Relaxed),
        )
    }

    /// Copy the WAL into the database file and close every connection,
    /// waiting for in-flight operations.
    pub async fn close(&self) {
        // Explicitly: sqlx finishes closing a connection returned during
        // `close` in the background, so SQLite's own checkpoint on the last
        // close can happen after this returns.
        self.checkpoint("close").await;
        self.reader.close().await;
        self.writer.close().await;
    }

    /// Move every committed page from the WAL into the database file and
    /// truncate the WAL, so that content removed by the last commits (with
    /// `secure_delete`, zeroed) leaves no older copy in either file. Best
    /// effort: it waits for readers up to the busy timeout, and a failure
    /// only delays this to SQLite's next automatic checkpoint.
    pub(crate) async fn checkpoint(&self, why: &'static str) {
        let done: Result<(i64, i64, i64), _> = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&self.writer)
            .await;
        match done {
            Ok((0, _, _)) => {}
            Ok(_) => tracing::debug!(why, "checkpoint incomplete: readers active"),
            Err(e) => tracing::warn!(why, error = %e, "checkpoint failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pragma(pool: &SqlitePool, name: &str) -> i64 {
        sqlx::query_scalar(&format!("PRAGMA {name}"))
            .fetch_one(pool)
            .await
            .expect("pragma")
    }

    #[tokio::test]
    async fn connections_are_configured() {
        let dir = tempfile::TempDir::new().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("o.db"), SqliteOptions::default())
            .await
            .expect("open");
        for pool in [&store.writer, &store.reader] {
            assert_eq!(pragma(pool, "foreign_keys").await, 1);
            assert_eq!(pragma(pool, "secure_delete").await, 1);
            assert_eq!(pragma(pool, "synchronous").await, 2, "FULL");
            assert_eq!(pragma(pool, "busy_timeout").await, 5000);
        }
        assert_eq!(pragma(&store.reader, "query_only").await, 1);
        // FULL: every connection opens through the VFS that writes a
        // commit's WAL frames at once.
        for pool in [&store.writer, &store.reader] {
            let mut conn = pool.acquire().await.expect("acquire");
            let vfs = oriole_sqlite_vfs::vfs_of(&mut conn).await.expect("vfs");
            assert_eq!(vfs, oriole_sqlite_vfs::NAME);
        }
        assert_eq!(pragma(&store.writer, "query_only").await, 0);
        assert_eq!(
            pragma(&store.writer, "wal_autocheckpoint").await,
            i64::from(WAL_AUTOCHECKPOINT_PAGES)
        );
        assert_eq!(store.writer.options().get_max_connections(), 1);
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&store.reader)
            .await
            .expect("journal_mode");
        assert_eq!(mode, "wal");
        assert!(sqlx::query("CREATE TABLE t (x)")
            .execute(&store.reader)
            .await
            .is_err());
        store.close().await;
    }

    /// `.cargo/config.toml` builds the bundled SQLite without memory
    /// statistics and without the shared page-cache group, each a global
    /// mutex on the writer's hot path. A build that lost them (the
    /// setting moved or renamed) is caught here, not in a benchmark.
    #[tokio::test]
    async fn sqlite_is_built_without_its_global_mutexes() {
        let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .expect("connect");
        let options: Vec<String> = sqlx::query_scalar("PRAGMA compile_options")
            .fetch_all(&mut conn)
            .await
            .expect("compile options");
        assert!(
            options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
            "{options:?}"
        );
        assert!(
            !options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
            "{options:?}"
        );
        assert!(options.iter().any(|o| o == "THREADSAFE=1"), "{options:?}");
    }

    #[tokio::test]
    async fn normal_synchronous_is_applied() {
        let dir = tempfile::TempDir::new().expect("temp dir");
        let opts = SqliteOptions {
            synchronous: Synchronous::Normal,
            ..SqliteOptions::default()
        };
        let store = SqliteStore::open(&dir.path().join("o.db"), opts)
            .await
            .expect("open");
        assert_eq!(pragma(&store.writer, "synchronous").await, 1, "NORMAL");
        // A commit under NORMAL publishes its frames without a sync: the
        // platform's VFS, which writes them before that.
        let mut conn = store.writer.acquire().await.expect("acquire");
        let vfs = oriole_sqlite_vfs::vfs_of(&mut conn).await.expect("vfs");
        assert_eq!(vfs, "unix");
        drop(conn);
        store.close().await;
    }
}
