//! What only the SQLite backend promises: the file persists across
//! reopening, runs in WAL mode, and holds personal data only as the vault
//! sealed it, with recalled content erased.

mod common;

use std::path::{Path, PathBuf};

use oriole_core::domain::{
    DeviceLabel, Email, InboxSeq, MessageBody, MessageId, Phone, Timestamp, UserId, Username,
};
use oriole_core::store::{Appended, Conversation, NewDevice, NewMessage, NewUser, Store};
use oriole_crypto::{PasswordHashString, TokenHash};
use oriole_proto::{EventKind, InboxEvent, ReceiptKind};
use oriole_store_sqlite::SqliteOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};
use tempfile::TempDir;

const PHONE: &str = "+14155550100";
const EMAIL: &str = "alice@example.org";
const MODEL: &str = "Pixel 8 Pro";
const OS: &str = "Android 15 QPR2";
const IP: &str = "203.0.113.77";
const TEXT: &str = "meet me at the old mill";
const PAYLOAD_MARK: &str = "payload-marker-7f3a";

fn db_path(dir: &TempDir) -> PathBuf {
    dir.path().join("data").join("oriole.db")
}

async fn raw(path: &Path) -> SqliteConnection {
    let opts = SqliteConnectOptions::new().filename(path).read_only(true);
    SqliteConnection::connect_with(&opts)
        .await
        .expect("raw connection")
}

/// Creates alice (with phone and email) and a device, and sends bob one
/// message with text and payload. Returns alice, bob and the message.
async fn populate<S: Store>(store: &S) -> (UserId, UserId, MessageId) {
    let alice = NewUser {
        id: UserId::generate(),
        username: Username::parse("alice").expect("name"),
        password_hash: PasswordHashString::from_stored("$argon2id$x".into()),
        phone: Some(Phone::parse(PHONE).expect("phone")),
        email: Some(Email::parse(EMAIL).expect("email")),
        created_at: Timestamp(1),
    };
    let bob = NewUser {
        id: UserId::generate(),
        username: Username::parse("bob").expect("name"),
        phone: None,
        email: None,
        ..alice.clone()
    };
    let (a, b) = (alice.id, bob.id);
    store.create_user(alice).await.expect("alice");
    store.create_user(bob).await.expect("bob");
    store
        .create_device(NewDevice {
            id: oriole_core::domain::DeviceId::generate(),
            user_id: a,
            token_hash: TokenHash::of("secret-token"),
            device_model: Some(DeviceLabel::parse(MODEL, "model").expect("label")),
            os_version: Some(DeviceLabel::parse(OS, "os").expect("label")),
            ip: Some(IP.into()),
            at: Timestamp(2),
        })
        .await
        .expect("device");
    let body = MessageBody::parse(
        Some(TEXT.into()),
        Some(&serde_json::json!({ "mark": PAYLOAD_MARK })),
        10_000,
    )
    .expect("body");
    let msg = NewMessage {
        id: MessageId::generate(),
        sender: a,
        conversation: Conversation::Direct(b),
        body,
        sent_at: Timestamp(3),
        idempotency_key: None,
    };
    let id = msg.id;
    store.append_message(msg, &[a, b]).await.expect("append");
    (a, b, id)
}

/// The database file plus any WAL and shared-memory files, as bytes.
fn file_bytes(path: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        if let Ok(bytes) = std::fs::read(PathBuf::from(p)) {
            all.extend(bytes);
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn data_survives_close_and_reopen() {
    let dir = TempDir::new().expect("temp dir");
    let store = common::open(&dir, SqliteOptions::default()).await;
    let (alice, bob, m) = populate(&store).await;
    store.close().await;
    drop(store);

    let store = common::open(&dir, SqliteOptions::default()).await;
    let user = store.user_by_id(alice).await.expect("user").expect("kept");
    assert_eq!(user.phone.as_ref().map(Phone::as_str), Some(PHONE));
    let session = store
        .session_by_token(&TokenHash::of("secret-token"))
        .await
        .expect("session");
    assert_eq!(session.map(|s| s.user_id), Some(alice));
    let events = store
        .inbox_after(bob, InboxSeq(0), 10)
        .await
        .expect("inbox");
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].id.clone(), events[0].text.as_deref()),
        (m.to_string(), Some(TEXT))
    );

    // Seqs carry on where they stopped.
    let next = NewMessage {
        id: MessageId::generate(),
        sender: bob,
        conversation: Conversation::Direct(alice),
        body: MessageBody::parse(Some("again".into()), None, 100).expect("body"),
        sent_at: Timestamp(4),
        idempotency_key: None,
    };
    let Appended::New { seqs, .. } = store
        .append_message(next, &[bob, alice])
        .await
        .expect("append")
    else {
        panic!("expected a new message");
    };
    assert_eq!(seqs, vec![(bob, InboxSeq(2)), (alice, InboxSeq(2))]);
    store.close().await;
}

#[tokio::test]
async fn the_database_file_is_in_wal_mode() {
    let dir = TempDir::new().expect("temp dir");
    let store = common::open(&dir, SqliteOptions::default()).await;
    let mut conn = raw(&db_path(&dir)).await;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .expect("journal_mode");
    assert_eq!(mode, "wal");
    conn.close().await.expect("close");
    store.close().await;
}

#[tokio::test]
async fn personal_fields_are_stored_only_as_sealed() {
    let dir = TempDir::new().expect("temp dir");
    let store = common::open(&dir, common::scrambling()).await;
    let (alice, _, m) = populate(&store).await;

    // Through the store, everything reads back.
    let user = store.user_by_id(alice).await.expect("user").expect("found");
    assert_eq!(user.email.as_ref().map(Email::as_str), Some(EMAIL));
    let devices = store.devices(alice).await.expect("devices");
    assert_eq!(devices[0].ip.as_deref(), Some(IP));
    store.close().await;

    // In the file, nothing is in the clear.
    let bytes = file_bytes(&db_path(&dir));
    assert!(contains(&bytes, "alice"), "sanity: the file is readable");
    for secret in [PHONE, EMAIL, MODEL, OS, IP, TEXT, PAYLOAD_MARK] {
        assert!(!contains(&bytes, secret), "{secret} is stored in the clear");
    }

    // Each personal column holds the vault's output for its own binding.
    let mut conn = raw(&db_path(&dir)).await;
    let text: Vec<u8> = sqlx::query_scalar("SELECT text FROM messages WHERE id = ?1")
        .bind(m.to_string())
        .fetch_one(&mut conn)
        .await
        .expect("raw text");
    let expected_tag = format!("sealed|{alice}|messages|text|{m}|");
    assert!(text.starts_with(expected_tag.as_bytes()));
    let phone: Vec<u8> = sqlx::query_scalar("SELECT phone FROM users WHERE id = ?1")
        .bind(alice.to_string())
        .fetch_one(&mut conn)
        .await
        .expect("raw phone");
    assert!(phone.starts_with(format!("sealed|{alice}|users|phone|{alice}|").as_bytes()));
    conn.close().await.expect("close");
}

#[tokio::test]
async fn recalled_content_is_erased_from_the_files() {
    let dir = TempDir::new().expect("temp dir");
    let store = common::open(&dir, SqliteOptions::default()).await;
    let (alice, bob, m) = populate(&store).await;
    let bytes = file_bytes(&db_path(&dir));
    assert!(
        contains(&bytes, TEXT),
        "sanity: the clear vault stores text as is"
    );

    store
        .recall_message(m, alice, Timestamp(10))
        .await
        .expect("recall");
    let events = store
        .inbox_after(bob, InboxSeq(0), 10)
        .await
        .expect("inbox");
    assert_eq!(
        (events[0].text.as_deref(), events[0].payload.as_ref()),
        (None, None)
    );

    // Neither the database file nor the WAL keeps a copy.
    let bytes = file_bytes(&db_path(&dir));
    assert!(!contains(&bytes, TEXT), "recalled text left in the files");
    assert!(
        !contains(&bytes, PAYLOAD_MARK),
        "recalled payload left in the files"
    );
    store.close().await;

    let mut conn = raw(&db_path(&dir)).await;
    let (text, payload): (Option<Vec<u8>>, Option<Vec<u8>>) =
        sqlx::query_as("SELECT text, payload FROM messages WHERE id = ?1")
            .bind(m.to_string())
            .fetch_one(&mut conn)
            .await
            .expect("raw row");
    assert_eq!((text, payload), (None, None));
    conn.close().await.expect("close");
}

/// Concurrent appends share transactions (group commit), and an append
/// that fails inside a shared transaction fails alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_are_group_committed_and_fail_alone() {
    let dir = TempDir::new().expect("temp dir");
    let store = oriole_store_sqlite::SqliteStore::open(&db_path(&dir), SqliteOptions::default())
        .await
        .expect("open");
    let (alice, bob, _) = populate(&store).await;
    let (before, _) = store.append_commit_stats();
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(200));
    let mut tasks = Vec::new();
    for i in 0..200u32 {
        let store = store.clone();
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            // Every third append names a recipient that does not exist.
            let to = if i % 3 == 0 { UserId::generate() } else { bob };
            let msg = NewMessage {
                id: MessageId::generate(),
                sender: alice,
                conversation: Conversation::Direct(to),
                body: MessageBody::parse(Some(format!("n{i}")), None, 1024).expect("body"),
                sent_at: Timestamp(10 + i64::from(i)),
                idempotency_key: None,
            };
            start.wait().await;
            (i, store.append_message(msg, &[alice, to]).await)
        }));
    }
    let mut ok = 0;
    for t in tasks {
        let (i, result) = t.await.expect("task");
        if i % 3 == 0 {
            assert!(result.is_err(), "append {i} to a missing user must fail");
        } else {
            assert!(
                matches!(result, Ok(Appended::New { .. })),
                "append {i}: {result:?}"
            );
            ok += 1;
        }
    }
    let (appends, batches) = store.append_commit_stats();
    assert_eq!(appends - before, 200);
    assert!(
        batches < appends,
        "{appends} appends took {batches} transactions"
    );
    // Bob's inbox holds exactly the good ones, gap-free (plus the message
    // `populate` sent first).
    let inbox = store
        .inbox_after(bob, InboxSeq(0), 1000)
        .await
        .expect("inbox");
    assert_eq!(inbox.len(), ok + 1);
    assert!(inbox.iter().enumerate().all(|(n, e)| e.seq == n as u64 + 1));
    store.close().await;
}

#[tokio::test]
async fn a_message_entry_reads_its_actor_from_the_message() {
    let dir = TempDir::new().expect("temp dir");
    let store = common::open(&dir, SqliteOptions::default()).await;
    let (alice, bob, m) = populate(&store).await;
    store
        .record_receipt(m, bob, ReceiptKind::Read, Timestamp(5))
        .await
        .expect("receipt")
        .expect("new receipt");
    // Bob's entry is pending until something needs it as a row (see
    // group_inbox): asking whether he holds the message writes it.
    assert!(store
        .inbox_has_message(bob, m)
        .await
        .expect("bob holds the message"));

    // Stored: no actor on the message's entries (it is the sender), the
    // reader on the receipt's.
    let mut conn = raw(&db_path(&dir)).await;
    let actors: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT kind, actor_id FROM inbox ORDER BY kind, user_id")
            .fetch_all(&mut conn)
            .await
            .expect("inbox rows");
    assert_eq!(
        actors,
        vec![
            ("message".to_owned(), None),
            ("message".to_owned(), None),
            ("receipt".to_owned(), Some(bob.to_string())),
        ]
    );

    // Read: each event names who caused it.
    let from = |events: Vec<InboxEvent>| {
        events
            .into_iter()
            .map(|e| (e.kind, e.from))
            .collect::<Vec<_>>()
    };
    let alice_events = store
        .inbox_after(alice, InboxSeq(0), 10)
        .await
        .expect("inbox");
    assert_eq!(
        from(alice_events),
        vec![
            (EventKind::Message, Some("alice".to_owned())),
            (EventKind::Receipt, Some("bob".to_owned())),
        ]
    );
    let bob_events = store
        .inbox_after(bob, InboxSeq(0), 10)
        .await
        .expect("inbox");
    assert_eq!(
        from(bob_events),
        vec![(EventKind::Message, Some("alice".to_owned()))]
    );
    store.close().await;
}
