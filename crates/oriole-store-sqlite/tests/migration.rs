//! Migration 0013 rebuilds the messages table. A database written before
//! it must come through whole: every message at its position, every inbox
//! row and receipt still there (the old table is dropped, and its rows'
//! ON DELETE CASCADE must not fire), the idempotency keys still keys.
//! Migration 0015 rebuilds it again, the same way; the test runs both.

use std::path::{Path, PathBuf};

use oriole_core::domain::{IdempotencyKey, MessageBody, MessageId, Timestamp, UserId};
use oriole_core::store::{Appended, Conversation, NewMessage, Store};
use oriole_store_sqlite::{SqliteOptions, SqliteStore};
use sqlx::migrate::Migrator;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, Row, SqliteConnection};
use tempfile::TempDir;

const REBUILD: u32 = 13;

fn migrations() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("migrations")
}

/// The migrations before the rebuild, as a directory of their own.
fn migrations_before_rebuild(dir: &Path) -> PathBuf {
    let before = dir.join("before");
    std::fs::create_dir_all(&before).expect("dir");
    for entry in std::fs::read_dir(migrations()).expect("migrations") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let version: u32 = name[..4].parse().expect("version");
        if version < REBUILD {
            std::fs::copy(&path, before.join(&name)).expect("copy");
        }
    }
    before
}

/// A connection as the store opened them before 0013: foreign keys on.
async fn connect(path: &Path) -> SqliteConnection {
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .foreign_keys(true);
    SqliteConnection::connect_with(&opts)
        .await
        .expect("connect")
}

struct Old {
    alice: UserId,
    bob: UserId,
    direct: MessageId,
    group_message: MessageId,
}

/// A database at migration 12 with users, a 1:1 message sent with an
/// idempotency key at position 5, a group message at position 9, their
/// inbox rows and a receipt.
async fn old_database(path: &Path, dir: &Path) -> Old {
    let mut conn = connect(path).await;
    Migrator::new(migrations_before_rebuild(dir))
        .await
        .expect("migrator")
        .run(&mut conn)
        .await
        .expect("migrate to 12");
    let old = Old {
        alice: UserId::generate(),
        bob: UserId::generate(),
        direct: MessageId::generate(),
        group_message: MessageId::generate(),
    };
    let (a, b) = (old.alice.to_string(), old.bob.to_string());
    let group = uuid::Uuid::now_v7().to_string();
    for (id, name) in [(&a, "alice"), (&b, "bob")] {
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, created_at) \
             VALUES (?1, ?2, '$argon2id$x', 1)",
        )
        .bind(id)
        .bind(name)
        .execute(&mut conn)
        .await
        .expect("user");
    }
    sqlx::query(
        "INSERT INTO groups (id, name, history_visible, created_at) VALUES (?1, 'g', 1, 1)",
    )
    .bind(&group)
    .execute(&mut conn)
    .await
    .expect("group");
    for (user, role) in [(&a, "owner"), (&b, "member")] {
        sqlx::query(
            "INSERT INTO group_members (group_id, user_id, role, joined_at, synced_pos) \
             VALUES (?1, ?2, ?3, 1, 9)",
        )
        .bind(&group)
        .bind(user)
        .bind(role)
        .execute(&mut conn)
        .await
        .expect("member");
    }
    sqlx::query(
        "INSERT INTO messages (rowid, id, sender_id, recipient_user_id, group_id, sent_at, \
                               idempotency_key) \
         VALUES (5, ?1, ?2, ?3, NULL, 10, 'old-key'), (9, ?4, ?2, NULL, ?5, 11, NULL)",
    )
    .bind(old.direct.to_string())
    .bind(&a)
    .bind(&b)
    .bind(old.group_message.to_string())
    .bind(&group)
    .execute(&mut conn)
    .await
    .expect("messages");
    let entries = [
        (&a, 1, old.direct),
        (&b, 1, old.direct),
        (&a, 2, old.group_message),
        (&b, 2, old.group_message),
    ];
    for (user, seq, message) in entries {
        sqlx::query(
            "INSERT INTO inbox (user_id, seq, kind, message_id, at) \
             VALUES (?1, ?2, 'message', ?3, 10)",
        )
        .bind(user)
        .bind(seq)
        .bind(message.to_string())
        .execute(&mut conn)
        .await
        .expect("inbox");
    }
    sqlx::query("INSERT INTO inbox_heads (user_id, head) VALUES (?1, 2), (?2, 2)")
        .bind(&a)
        .bind(&b)
        .execute(&mut conn)
        .await
        .expect("heads");
    sqlx::query("INSERT INTO receipts (message_id, user_id, kind, at) VALUES (?1, ?2, 'read', 12)")
        .bind(old.direct.to_string())
        .bind(&b)
        .execute(&mut conn)
        .await
        .expect("receipt");
    conn.close().await.expect("close");
    old
}

async fn count(conn: &mut SqliteConnection, sql: &str) -> i64 {
    sqlx::query(sql)
        .fetch_one(conn)
        .await
        .expect(sql)
        .get::<i64, _>(0)
}

#[tokio::test]
async fn a_database_from_before_the_rebuild_keeps_every_row_and_position() {
    let dir = TempDir::new().expect("dir");
    let path = dir.path().join("oriole.db");
    let old = old_database(&path, dir.path()).await;

    let store = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .expect("open migrates");

    // The same send again is the same message: the key survived.
    let again = NewMessage {
        id: MessageId::generate(),
        sender: old.alice,
        conversation: Conversation::Direct(old.bob),
        body: MessageBody::parse(Some("again".into()), None, 10_000).expect("body"),
        sent_at: Timestamp(20),
        idempotency_key: Some(IdempotencyKey::parse("old-key").expect("key")),
    };
    let answer = store
        .append_message(again.clone(), &[old.alice, old.bob])
        .await
        .expect("append");
    assert!(
        matches!(answer, Appended::Duplicate { message_id, .. } if message_id == old.direct),
        "{answer:?}"
    );
    // A new key is a new message, placed after every old one.
    let fresh = NewMessage {
        id: MessageId::generate(),
        idempotency_key: Some(IdempotencyKey::parse("new-key").expect("key")),
        ..again
    };
    let fresh_id = fresh.id;
    let answer = store
        .append_message(fresh, &[old.alice, old.bob])
        .await
        .expect("append");
    assert!(matches!(answer, Appended::New { .. }), "{answer:?}");
    assert!(store
        .inbox_has_message(old.bob, old.direct)
        .await
        .expect("has"));
    assert!(store
        .inbox_has_message(old.bob, old.group_message)
        .await
        .expect("has"));
    store.close().await;

    let mut conn = connect(&path).await;
    let positions: Vec<(i64, String)> =
        sqlx::query_as("SELECT rowid, id FROM messages ORDER BY rowid")
            .fetch_all(&mut conn)
            .await
            .expect("positions");
    assert_eq!(positions.len(), 3);
    assert_eq!(positions[0], (5, old.direct.to_string()));
    assert_eq!(positions[1], (9, old.group_message.to_string()));
    assert_eq!(positions[2].1, fresh_id.to_string());
    assert!(positions[2].0 > 9, "{positions:?}");
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM inbox WHERE kind = 'message' AND seq <= 2"
        )
        .await,
        4,
        "the old inbox rows"
    );
    assert_eq!(count(&mut conn, "SELECT count(*) FROM receipts").await, 1);
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM pragma_foreign_key_check").await,
        0
    );
    // The old 1:1 message carries its direction's number (migration
    // 0014), the same the fresh one was given; the group message none.
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM messages AS m JOIN direct_pairs AS dp \
             ON dp.pair = m.pair AND dp.sender_id = m.sender_id \
             AND dp.recipient_id = m.recipient_user_id"
        )
        .await,
        2
    );
    assert_eq!(
        count(&mut conn, "SELECT count(DISTINCT pair) FROM messages").await,
        1
    );
    // The position is a column of its own now, which VACUUM keeps.
    let pos_is_key: i64 = count(
        &mut conn,
        "SELECT pk FROM pragma_table_info('messages') WHERE name = 'pos'",
    )
    .await;
    assert_eq!(pos_is_key, 1);
    // Rebuilt again by 0015, with the sender's key checked at COMMIT.
    let table: String = sqlx::query_scalar(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'messages'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("schema");
    assert!(
        table.contains("DEFERRABLE INITIALLY DEFERRED"),
        "the sender's key is deferred: {table}"
    );
    let indexes = count(
        &mut conn,
        "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'messages'",
    )
    .await;
    assert_eq!(indexes, 6, "the id's, the key's, and four more");
    // A repeated (key, sender) is still refused by the schema itself.
    let repeat = sqlx::query(
        "INSERT INTO messages (id, sender_id, recipient_user_id, sent_at, idempotency_key) \
         VALUES ('x', ?1, ?2, 30, 'old-key')",
    )
    .bind(old.alice.to_string())
    .bind(old.bob.to_string())
    .execute(&mut conn)
    .await;
    assert!(repeat.is_err(), "a repeated key is a conflict");
}

/// On a connection with foreign keys on, the rebuild would cascade its
/// drop into every inbox row: the migration refuses to run there.
#[tokio::test]
async fn the_rebuild_refuses_a_connection_with_foreign_keys_on() {
    let dir = TempDir::new().expect("dir");
    let path = dir.path().join("oriole.db");
    old_database(&path, dir.path()).await;
    let sql = std::fs::read_dir(migrations())
        .expect("migrations")
        .map(|e| e.expect("entry").path())
        .find(|p| {
            p.file_name()
                .expect("name")
                .to_string_lossy()
                .starts_with("0013")
        })
        .map(|p| std::fs::read_to_string(p).expect("read"))
        .expect("migration 0013");

    let mut conn = connect(&path).await;
    let mut tx = conn.begin().await.expect("begin");
    let refused = sqlx::raw_sql(&sql)
        .execute(&mut *tx)
        .await
        .expect_err("ran with foreign keys on");
    assert!(
        refused.to_string().contains("CHECK constraint failed"),
        "refused by the guard: {refused}"
    );
    tx.rollback().await.expect("rollback");
    assert_eq!(count(&mut conn, "SELECT count(*) FROM inbox").await, 4);
    assert_eq!(count(&mut conn, "SELECT count(*) FROM messages").await, 2);
}
