//! Encryption at rest on a data directory laid out like a server's
//! (`DATA/oriole.db`, `DATA/keys/`), with the real key store and vault: no
//! personal value is in any file in the clear, shredding a user's key erases
//! their data from every copy (backups included), and altered or moved
//! ciphertext is reported, never decrypted to garbage.

mod common;

use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use oriole_core::domain::{GroupId, GroupName, InboxSeq, MessageBody, MessageId, Timestamp};
use oriole_core::store::{Conversation, GroupRecord, NewMessage, Store, StoreError};
use oriole_core::FieldVault;
use oriole_proto::{GroupRole, InboxEvent};
use oriole_store_sqlite::{SqliteOptions, SqliteStore};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};
use tempfile::TempDir;

use common::{
    contains, create_person, data_dir, db_path, files_under, key_vault, keys_dir, open_at, person,
    read_person, send, with_vault, Person,
};

/// Three people: direct messages both ways between the first two, and a
/// group message from the third to all.
async fn exchange(store: &SqliteStore, people: &[Person; 3]) {
    let [alice, bob, carol] = people;
    for p in people {
        create_person(store, p).await;
    }
    send(store, alice, bob, &alice.text).await;
    send(store, bob, alice, &bob.text).await;
    let group = GroupRecord {
        id: GroupId::generate(),
        name: GroupName::parse("canaries").expect("name"),
        history_visible: true,
        created_at: Timestamp(1),
    };
    let gid = group.id;
    let members = [
        (carol.id, GroupRole::Owner),
        (alice.id, GroupRole::Member),
        (bob.id, GroupRole::Member),
    ];
    store.create_group(group, &members).await.expect("group");
    let body = MessageBody::parse(
        Some(carol.text.clone()),
        Some(&serde_json::json!({ "mark": carol.payload_mark })),
        10_000,
    )
    .expect("body");
    let msg = NewMessage {
        id: MessageId::generate(),
        sender: carol.id,
        conversation: Conversation::Group(gid),
        body,
        sent_at: Timestamp(4),
        idempotency_key: None,
    };
    store
        .append_message(msg, &[carol.id, alice.id, bob.id])
        .await
        .expect("group message");
}

/// The forms a leaked value could take in a file.
fn encodings(canary: &str) -> Vec<(&'static str, Vec<u8>)> {
    let raw = canary.as_bytes();
    vec![
        ("utf-8", raw.to_vec()),
        ("hex", hex::encode(raw).into_bytes()),
        ("HEX", hex::encode_upper(raw).into_bytes()),
        ("base64", STANDARD.encode(raw).into_bytes()),
        (
            "utf-16le",
            canary.encode_utf16().flat_map(u16::to_le_bytes).collect(),
        ),
    ]
}

/// Every (file, encoding, canary) found under `data`.
fn leaks(data: &Path, people: &[Person]) -> Vec<String> {
    let mut found = Vec::new();
    for (path, bytes) in files_under(data) {
        for p in people {
            for canary in p.canaries() {
                for (encoding, needle) in encodings(canary) {
                    if contains(&bytes, &needle) {
                        found.push(format!("{canary} as {encoding} in {}", path.display()));
                    }
                }
            }
        }
    }
    found
}

fn three(tag: &str) -> [Person; 3] {
    [
        person(&format!("a{tag}")),
        person(&format!("b{tag}")),
        person(&format!("c{tag}")),
    ]
}

#[tokio::test]
async fn no_personal_value_is_in_any_file_in_the_clear() {
    let dir = TempDir::new().expect("temp dir");
    let data = data_dir(&dir);
    let people = three("x");
    let vault = key_vault(&data).await;
    let store = open_at(&data, with_vault(&vault)).await;
    exchange(&store, &people).await;
    // Sanity: everything reads back through the store.
    for p in &people {
        read_person(&store, p).await;
    }
    let inbox = store
        .inbox_after(people[1].id, InboxSeq(0), 10)
        .await
        .expect("inbox");
    let texts: Vec<Option<&str>> = inbox.iter().map(|e| e.text.as_deref()).collect();
    assert!(texts.contains(&Some(people[2].text.as_str())), "{texts:?}");
    store.close().await;
    vault.key_store().close().await;

    let files: Vec<String> = files_under(&data)
        .iter()
        .map(|(p, _)| p.display().to_string())
        .collect();
    assert!(
        files.iter().any(|f| f.ends_with("keys/keys.db")),
        "{files:?}"
    );
    assert_eq!(leaks(&data, &people), Vec::<String>::new());

    // The control: the same exchange without encryption shows in the
    // files, so the scan does find what is there.
    let clear_dir = TempDir::new().expect("temp dir");
    let clear = data_dir(&clear_dir);
    let clear_people = three("y");
    let store = open_at(&clear, SqliteOptions::default()).await;
    exchange(&store, &clear_people).await;
    store.close().await;
    let found = leaks(&clear, &clear_people);
    for p in &clear_people {
        for canary in p.canaries() {
            let utf8 = format!("{canary} as utf-8 in ");
            assert!(
                found.iter().any(|f| f.starts_with(&utf8)),
                "control: {canary} not found"
            );
        }
    }
}

fn copy_dir(from: &Path, to: &Path, skip: Option<&str>) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let name = entry.file_name();
        if skip.is_some_and(|s| name == s) {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(&name), None);
        } else {
            std::fs::copy(&path, to.join(&name)).expect("copy");
        }
    }
}

/// `person`'s profile and device fields read as erased; the account and
/// device themselves remain.
async fn assert_erased(store: &SqliteStore, p: &Person) {
    let user = store.user_by_id(p.id).await.expect("user").expect("kept");
    assert_eq!((user.phone, user.email), (None, None));
    let devices = store.devices(p.id).await.expect("devices");
    assert_eq!(devices.len(), 1);
    let d = &devices[0];
    assert_eq!(
        (&d.device_model, &d.os_version, &d.ip),
        (&None, &None, &None)
    );
}

/// The events in `user`'s inbox carrying a message sent by `from`, as
/// (text, has payload).
async fn messages_from(
    store: &SqliteStore,
    user: &Person,
    from: &Person,
) -> Vec<(Option<String>, bool)> {
    let events: Vec<InboxEvent> = store
        .inbox_after(user.id, InboxSeq(0), 100)
        .await
        .expect("inbox");
    events
        .into_iter()
        .filter(|e| e.from.as_deref() == Some(from.username.as_str()))
        .map(|e| (e.text, e.payload.is_some()))
        .collect()
}

#[tokio::test]
async fn shredding_erases_a_users_data_at_once() {
    let dir = TempDir::new().expect("temp dir");
    let data = data_dir(&dir);
    let people = three("s");
    let [alice, bob, carol] = &people;
    let vault = key_vault(&data).await;
    let store = open_at(&data, with_vault(&vault)).await;
    exchange(&store, &people).await;
    // Alice's key is cached now; the shred must still take effect.
    read_person(&store, alice).await;

    vault.shred(alice.id).await.expect("shred");
    assert_erased(&store, alice).await;
    assert_eq!(messages_from(&store, bob, alice).await, vec![(None, false)]);
    assert_eq!(
        messages_from(&store, alice, bob).await,
        vec![(Some(bob.text.clone()), true)]
    );
    read_person(&store, bob).await;
    read_person(&store, carol).await;
    store.close().await;
}

#[tokio::test]
async fn a_shredded_user_stays_erased_in_a_restored_backup() {
    let dir = TempDir::new().expect("temp dir");
    let data = data_dir(&dir);
    let people = three("b");
    let [alice, bob, carol] = &people;
    let vault = key_vault(&data).await;
    let store = open_at(&data, with_vault(&vault)).await;
    exchange(&store, &people).await;
    store.close().await;

    // A backup as an operator takes it: DATA without the keys.
    let backup = dir.path().join("backup");
    copy_dir(&data, &backup, Some("keys"));
    assert!(!keys_dir(&backup).exists());

    let store = open_at(&data, with_vault(&vault)).await;
    vault.shred(alice.id).await.expect("shred");
    store.close().await;
    vault.key_store().close().await;

    // Restored: the old database with today's keys.
    let restored = dir.path().join("restored");
    copy_dir(&backup, &restored, None);
    copy_dir(&keys_dir(&data), &keys_dir(&restored), None);
    let vault = key_vault(&restored).await;
    let store = open_at(&restored, with_vault(&vault)).await;

    assert_erased(&store, alice).await;
    assert_eq!(messages_from(&store, bob, alice).await, vec![(None, false)]);
    assert_eq!(messages_from(&store, carol, alice).await, vec![]);
    // Everyone else's data, messages to alice included, reads as before.
    read_person(&store, bob).await;
    read_person(&store, carol).await;
    assert_eq!(
        messages_from(&store, alice, bob).await,
        vec![(Some(bob.text.clone()), true)]
    );
    assert_eq!(
        messages_from(&store, alice, carol).await,
        vec![(Some(carol.text.clone()), true)]
    );
    store.close().await;
    vault.key_store().close().await;
}

async fn raw(data: &Path) -> SqliteConnection {
    SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(db_path(data)))
        .await
        .expect("raw connection")
}

async fn blob(conn: &mut SqliteConnection, table: &str, column: &str, id: &str) -> Vec<u8> {
    sqlx::query_scalar(&format!("SELECT {column} FROM {table} WHERE id = ?1"))
        .bind(id)
        .fetch_one(conn)
        .await
        .expect("read blob")
}

async fn set_blob(conn: &mut SqliteConnection, table: &str, column: &str, id: &str, v: &[u8]) {
    sqlx::query(&format!("UPDATE {table} SET {column} = ?1 WHERE id = ?2"))
        .bind(v)
        .bind(id)
        .execute(conn)
        .await
        .expect("write blob");
}

fn assert_integrity_error<T: std::fmt::Debug>(
    result: Result<T, StoreError>,
    field: &str,
    p: &Person,
) {
    match result {
        Err(StoreError::Backend(m)) => {
            assert!(
                m.contains(&format!("integrity check failed for {field}")),
                "{m}"
            );
            for canary in p.canaries() {
                assert!(!m.contains(canary), "{m}");
            }
        }
        other => panic!("expected an integrity error, got {other:?}"),
    }
}

#[tokio::test]
async fn altered_or_moved_ciphertext_fails_its_integrity_check() {
    let dir = TempDir::new().expect("temp dir");
    let data = data_dir(&dir);
    let people = three("t");
    let [alice, bob, _] = &people;
    let vault = key_vault(&data).await;
    let store = open_at(&data, with_vault(&vault)).await;
    exchange(&store, &people).await;
    let second = send(&store, alice, bob, "a second message").await;
    let first: String = {
        let events = store
            .inbox_after(bob.id, InboxSeq(0), 1)
            .await
            .expect("inbox");
        events[0].id.clone()
    };
    let mut conn = raw(&data).await;
    let (a, b) = (alice.id.to_string(), bob.id.to_string());

    // One flipped bit.
    let phone = blob(&mut conn, "users", "phone", &a).await;
    let mut flipped = phone.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x01;
    set_blob(&mut conn, "users", "phone", &a, &flipped).await;
    assert_integrity_error(store.user_by_id(alice.id).await, "users.phone", alice);

    // Another column of the same row, same key.
    let email = blob(&mut conn, "users", "email", &a).await;
    set_blob(&mut conn, "users", "phone", &a, &email).await;
    assert_integrity_error(store.user_by_id(alice.id).await, "users.phone", alice);

    // Another user's row.
    let bobs = blob(&mut conn, "users", "phone", &b).await;
    set_blob(&mut conn, "users", "phone", &a, &bobs).await;
    assert_integrity_error(store.user_by_id(alice.id).await, "users.phone", alice);

    set_blob(&mut conn, "users", "phone", &a, &phone).await;
    read_person(&store, alice).await;

    // Another message of the same sender.
    let text = blob(&mut conn, "messages", "text", &second.to_string()).await;
    set_blob(&mut conn, "messages", "text", &first, &text).await;
    assert_integrity_error(
        store.inbox_after(bob.id, InboxSeq(0), 10).await,
        "messages.text",
        alice,
    );
    conn.close().await.expect("close");
    store.close().await;
}
