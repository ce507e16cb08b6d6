//! [`KeyStore`] on `DATA/keys/keys.db`, a database of its own so that keys
//! and data are never in the same file, nor in the same backup.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use oriole_core::domain::UserId;
use oriole_core::keys::RewrappedDek;
use oriole_core::{KekId, KeyStore, KeyStoreError, WrappedDek};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::Row;

use super::files::{ensure_keys_dir, private_file};
use super::layout::KEYS_DB;
use super::{io_error, KeysError};

static KEYS_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./keys-migrations");

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The wrapped data keys. One connection: key lookups are rare (the vault
/// caches unwrapped keys) and a rollback-journal database does not let
/// readers run beside a writer anyway.
#[derive(Clone)]
pub struct SqliteKeyStore {
    pool: SqlitePool,
}

impl fmt::Debug for SqliteKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteKeyStore").finish_non_exhaustive()
    }
}

fn backend(op: &'static str) -> impl FnOnce(sqlx::Error) -> KeyStoreError {
    move |e| KeyStoreError(format!("{op}: {e}"))
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn wrapped(row: &SqliteRow) -> Result<(UserId, WrappedDek), KeyStoreError> {
    let read = |e: sqlx::Error| KeyStoreError(format!("reading a data key row: {e}"));
    let owner: String = row.try_get("owner").map_err(read)?;
    let owner = owner
        .parse()
        .map_err(|_| KeyStoreError("a stored owner id is invalid".into()))?;
    Ok((
        owner,
        WrappedDek {
            bytes: row.try_get("wrapped").map_err(read)?,
            kek_id: KekId::from_stored(row.try_get("kek_id").map_err(read)?),
        },
    ))
}

impl SqliteKeyStore {
    /// Open (creating if needed, mode 0600 in a 0700 directory)
    /// `keys_dir/keys.db` and bring its schema up to date.
    pub async fn open(keys_dir: &Path) -> Result<SqliteKeyStore, KeysError> {
        ensure_keys_dir(keys_dir)?;
        let path = keys_dir.join(KEYS_DB);
        // Created here so that SQLite finds it private; its journal takes
        // the same mode.
        private_file()
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_error("creating the key store", &path))?;
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .busy_timeout(BUSY_TIMEOUT)
            // Not WAL: no second file keeps old pages (old keys) around.
            // The rollback journal is deleted at each commit.
            .journal_mode(SqliteJournalMode::Delete)
            .synchronous(SqliteSynchronous::Full)
            // A deleted or replaced key is overwritten, not left in a free
            // page.
            .pragma("secure_delete", "ON");
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            // An embedded file: a ping before each use is only a wasted
            // round trip to the connection's thread.
            .test_before_acquire(false)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(|e| KeyStoreError(format!("opening the key store: {e}")))?;
        KEYS_MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| KeyStoreError(format!("migrating the key store: {e}")))?;
        Ok(SqliteKeyStore { pool })
    }

    /// Close the connection, waiting for in-flight operations.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// How many keys are wrapped by another KEK than `kek_id`: the work
    /// left for a rotation to `kek_id`.
    pub async fn count_deks_not_wrapped_by(&self, kek_id: &KekId) -> Result<u64, KeyStoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM data_keys WHERE kek_id <> ?1")
            .bind(kek_id.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(backend("counting data keys"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

#[async_trait]
impl KeyStore for SqliteKeyStore {
    async fn wrapped_dek(&self, owner: UserId) -> Result<Option<WrappedDek>, KeyStoreError> {
        sqlx::query("SELECT owner, wrapped, kek_id FROM data_keys WHERE owner = ?1")
            .bind(owner.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend("reading a data key"))?
            .map(|row| wrapped(&row).map(|(_, dek)| dek))
            .transpose()
    }

    async fn insert_dek_if_absent(
        &self,
        owner: UserId,
        dek: WrappedDek,
    ) -> Result<WrappedDek, KeyStoreError> {
        const OP: &str = "storing a data key";
        // The one connection serialises callers, so the insert and the read
        // of the winner see the same state.
        let row = sqlx::query(
            "INSERT INTO data_keys (owner, wrapped, kek_id, created_at) \
             VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (owner) DO UPDATE SET owner = owner \
             RETURNING owner, wrapped, kek_id",
        )
        .bind(owner.to_string())
        .bind(&dek.bytes)
        .bind(dek.kek_id.as_str())
        .bind(now_millis())
        .fetch_one(&self.pool)
        .await
        .map_err(backend(OP))?;
        wrapped(&row).map(|(_, dek)| dek)
    }

    async fn delete_dek(&self, owner: UserId) -> Result<bool, KeyStoreError> {
        let done = sqlx::query("DELETE FROM data_keys WHERE owner = ?1")
            .bind(owner.to_string())
            .execute(&self.pool)
            .await
            .map_err(backend("deleting a data key"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn deks_not_wrapped_by(
        &self,
        kek_id: &KekId,
        limit: u32,
    ) -> Result<Vec<(UserId, WrappedDek)>, KeyStoreError> {
        sqlx::query(
            "SELECT owner, wrapped, kek_id FROM data_keys WHERE kek_id <> ?1 \
             ORDER BY owner LIMIT ?2",
        )
        .bind(kek_id.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(backend("listing data keys to re-wrap"))?
        .iter()
        .map(wrapped)
        .collect()
    }

    /// Runs on a task of its own, as the main store's write transactions do
    /// (`crate::store::detached`): a caller dropped mid-way must not hand the
    /// one connection back inside a transaction, where every later
    /// transaction would fail to begin.
    async fn replace_deks(&self, batch: &[RewrappedDek]) -> Result<u64, KeyStoreError> {
        let (store, batch) = (self.clone(), batch.to_vec());
        let work = async move { store.replace_deks_now(&batch).await };
        tokio::spawn(tracing::Instrument::in_current_span(work))
            .await
            .map_err(|e| {
                KeyStoreError(format!(
                    "replacing re-wrapped data keys: the task failed: {e}"
                ))
            })?
    }
}

impl SqliteKeyStore {
    async fn replace_deks_now(&self, batch: &[RewrappedDek]) -> Result<u64, KeyStoreError> {
        const OP: &str = "replacing re-wrapped data keys";
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend(OP))?;
        let mut replaced = 0;
        for r in batch {
            let done = sqlx::query(
                "UPDATE data_keys SET wrapped = ?3, kek_id = ?4 \
                 WHERE owner = ?1 AND kek_id = ?2",
            )
            .bind(r.owner.to_string())
            .bind(r.old_kek_id.as_str())
            .bind(&r.dek.bytes)
            .bind(r.dek.kek_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend(OP))?;
            replaced += done.rows_affected();
        }
        tx.commit().await.map_err(backend(OP))?;
        Ok(replaced)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pragma(pool: &SqlitePool, name: &str) -> String {
        let row = sqlx::query(&format!("PRAGMA {name}"))
            .fetch_one(pool)
            .await
            .expect("pragma");
        // journal_mode answers text, the others numbers.
        row.try_get::<String, _>(0)
            .or_else(|_| row.try_get::<i64, _>(0).map(|n| n.to_string()))
            .expect("pragma value")
    }

    #[tokio::test]
    async fn the_key_store_is_configured_to_leave_no_old_keys() {
        let dir = tempfile::TempDir::new().expect("temp dir");
        let keys_dir = dir.path().join("keys");
        let store = SqliteKeyStore::open(&keys_dir).await.expect("open");
        assert_eq!(pragma(&store.pool, "journal_mode").await, "delete");
        assert_eq!(pragma(&store.pool, "secure_delete").await, "1");
        assert_eq!(pragma(&store.pool, "synchronous").await, "2", "FULL");
        assert_eq!(store.pool.options().get_max_connections(), 1);
        store.close().await;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode =
                |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
            assert_eq!(mode(&keys_dir), 0o700);
            assert_eq!(mode(&keys_dir.join(KEYS_DB)), 0o600);
        }
    }
}
