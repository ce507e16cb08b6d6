//! The VFS against real SQLite files: what it writes must be what SQLite
//! would have written, readable by connections on the platform's VFS,
//! while a commit's frames reach the kernel in a handful of writes.

use std::path::Path;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, Row, SqliteConnection};

/// The counters are per process and the tests run on threads of one
/// process: those that read them take turns.
static COUNTERS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
}

async fn through_vfs(path: &Path) -> SqliteConnection {
    let name = oriole_sqlite_vfs::register().expect("register");
    options(path).vfs(name).connect().await.expect("connect")
}

/// A connection on SQLite's own `unix` VFS.
async fn plain(path: &Path) -> SqliteConnection {
    options(path).connect().await.expect("connect")
}

async fn create(conn: &mut SqliteConnection) {
    sqlx::query("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB NOT NULL)")
        .execute(&mut *conn)
        .await
        .expect("create");
}

async fn insert(conn: &mut SqliteConnection, from: i64, rows: i64, len: usize) {
    let mut tx = conn.begin().await.expect("begin");
    for id in from..from + rows {
        sqlx::query("INSERT INTO t (id, v) VALUES (?, ?)")
            .bind(id)
            .bind(vec![(id % 251) as u8; len])
            .execute(&mut *tx)
            .await
            .expect("insert");
    }
    tx.commit().await.expect("commit");
}

/// Every row of `ids` is there with the bytes `insert` gave it, and
/// nothing else is.
async fn check_rows(conn: &mut SqliteConnection, ids: std::ops::Range<i64>, len: usize) {
    let rows = sqlx::query("SELECT id, v FROM t ORDER BY id")
        .fetch_all(&mut *conn)
        .await
        .expect("rows");
    assert_eq!(rows.len(), ids.clone().count());
    for (row, id) in rows.iter().zip(ids) {
        assert_eq!(row.get::<i64, _>(0), id);
        assert_eq!(
            row.get::<Vec<u8>, _>(1),
            vec![(id % 251) as u8; len],
            "row {id}"
        );
    }
}

async fn integrity(conn: &mut SqliteConnection) {
    let ok: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut *conn)
        .await
        .expect("integrity_check");
    assert_eq!(ok, "ok");
}

#[tokio::test]
async fn a_commit_reaches_the_kernel_in_a_few_writes_and_is_there_for_others() {
    let _turn = COUNTERS.lock().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.db");
    let mut conn = through_vfs(&path).await;
    assert_eq!(
        oriole_sqlite_vfs::vfs_of(&mut conn).await.expect("vfs"),
        oriole_sqlite_vfs::NAME
    );
    create(&mut conn).await;

    let before = oriole_sqlite_vfs::stats();
    insert(&mut conn, 0, 2_000, 300).await;
    let after = oriole_sqlite_vfs::stats();
    let made = after.sqlite_writes - before.sqlite_writes;
    let handed = after.kernel_writes - before.kernel_writes;
    // 600 KB of rows: well over a hundred pages, two writes each, which
    // leave in pieces of up to 124 KiB (about 30 frames).
    assert!(made > 200, "SQLite made {made} writes");
    assert!(
        handed * 20 <= made,
        "{made} writes reached the kernel as {handed}"
    );

    // Committed means in the file: a connection on the platform's VFS
    // sees every row while this one is still open.
    let mut other = plain(&path).await;
    assert_eq!(
        oriole_sqlite_vfs::vfs_of(&mut other).await.expect("vfs"),
        "unix"
    );
    check_rows(&mut other, 0..2_000, 300).await;
    integrity(&mut other).await;
}

#[tokio::test]
async fn a_transaction_larger_than_the_cache_spills_reads_back_and_rewrites() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("spill.db");
    let mut conn = through_vfs(&path).await;
    create(&mut conn).await;
    // A tiny page cache: the transaction spills frames to the WAL before
    // it commits, reads them back and rewrites some of them.
    sqlx::query("PRAGMA cache_size = 16")
        .execute(&mut conn)
        .await
        .expect("cache_size");

    let mut tx = conn.begin().await.expect("begin");
    for id in 0..20_000i64 {
        sqlx::query("INSERT INTO t (id, v) VALUES (?, ?)")
            .bind(id)
            .bind(vec![(id % 251) as u8; 500])
            .execute(&mut *tx)
            .await
            .expect("insert");
    }
    // 10 MB written, more than the VFS keeps before it writes anyway.
    check_rows(&mut tx, 0..20_000, 500).await;
    sqlx::query("UPDATE t SET v = zeroblob(500) WHERE id % 7 = 0")
        .execute(&mut *tx)
        .await
        .expect("update");
    tx.commit().await.expect("commit");

    let mut other = plain(&path).await;
    let zeroed: i64 = sqlx::query_scalar("SELECT count(*) FROM t WHERE v = zeroblob(500)")
        .fetch_one(&mut other)
        .await
        .expect("count");
    // Rows with id % 251 == 0 were inserted as zeros.
    let expected = (0..20_000).filter(|id| id % 7 == 0 || id % 251 == 0);
    assert_eq!(zeroed, expected.count() as i64);
    integrity(&mut other).await;

    // The log folded into the database and started again from its head.
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await
        .expect("checkpoint");
    insert(&mut conn, 20_000, 100, 500).await;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM t")
        .fetch_one(&mut other)
        .await
        .expect("count");
    assert_eq!(count, 20_100);
    integrity(&mut other).await;
}

#[tokio::test]
async fn a_rolled_back_transaction_leaves_nothing_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rollback.db");
    let mut conn = through_vfs(&path).await;
    create(&mut conn).await;
    insert(&mut conn, 0, 100, 100).await;
    sqlx::query("PRAGMA cache_size = 8")
        .execute(&mut conn)
        .await
        .expect("cache_size");

    let mut tx = conn.begin().await.expect("begin");
    for id in 100..5_000i64 {
        sqlx::query("INSERT INTO t (id, v) VALUES (?, ?)")
            .bind(id)
            .bind(vec![1u8; 400])
            .execute(&mut *tx)
            .await
            .expect("insert");
    }
    tx.rollback().await.expect("rollback");

    insert(&mut conn, 100, 50, 100).await;
    let mut other = plain(&path).await;
    check_rows(&mut other, 0..150, 100).await;
    integrity(&mut other).await;
}

/// What a crash leaves: the database and its WAL as they are on disk
/// while the writer is still open (no checkpoint, no clean close),
/// copied and opened by a connection on the platform's VFS, which
/// recovers from the WAL alone.
#[tokio::test]
async fn the_log_on_disk_after_a_commit_recovers_without_the_writer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("crash.db");
    let mut conn = through_vfs(&path).await;
    sqlx::query("PRAGMA wal_autocheckpoint = 0")
        .execute(&mut conn)
        .await
        .expect("no checkpoints");
    create(&mut conn).await;
    for round in 0..5 {
        insert(&mut conn, round * 400, 400, 250).await;
    }

    let copy = dir.path().join("copy.db");
    std::fs::copy(&path, &copy).expect("copy database");
    std::fs::copy(
        dir.path().join("crash.db-wal"),
        dir.path().join("copy.db-wal"),
    )
    .expect("copy log");

    let mut recovered = plain(&copy).await;
    check_rows(&mut recovered, 0..2_000, 250).await;
    integrity(&mut recovered).await;
    drop(conn);
}

#[test]
fn registering_twice_answers_the_same_name() {
    assert_eq!(oriole_sqlite_vfs::register(), Ok(oriole_sqlite_vfs::NAME));
    assert_eq!(oriole_sqlite_vfs::register(), Ok(oriole_sqlite_vfs::NAME));
}

/// The VFS is safe because SQLite 3.46.0's `sqlite3WalFrames` syncs a
/// commit's frames before it publishes them in the WAL index (see the
/// crate's docs). A new SQLite must be read again before it is linked:
/// this fails until someone has.
#[tokio::test]
async fn the_linked_sqlite_is_the_version_whose_commit_order_was_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut conn = through_vfs(&dir.path().join("v.db")).await;
    let version: String = sqlx::query_scalar("SELECT sqlite_version()")
        .fetch_one(&mut conn)
        .await
        .expect("version");
    assert_eq!(
        version, "3.46.0",
        "SQLite changed: check that sqlite3WalFrames still syncs before walIndexAppend, \
         then update this test"
    );
}
