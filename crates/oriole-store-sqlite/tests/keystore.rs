//! DATA/keys: the key store leaves no trace of a destroyed key, the KEK
//! loads from each source, the directory lock excludes a second process,
//! and KEK rotation re-wraps every key and survives a crash at any point.

mod common;

use std::ops::ControlFlow;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use oriole_core::domain::UserId;
use oriole_core::keys::BLIND_INDEX_ROOT_OWNER;
use oriole_core::store::Store;
use oriole_core::{KekId, KeyStore, KeyVault, KeyVaultConfig, WrappedDek};
use oriole_crypto::keys::Kek;
use oriole_store_sqlite::keystore::layout::{KEK, KEK_NEXT, KEK_NEXT_TMP, KEK_RETIRED, KEYS_DB};
use oriole_store_sqlite::keystore::{rotate_kek_with, RotationOptions, RotationProgress};
use oriole_store_sqlite::{
    load_kek, lock_keys_dir, rotate_kek, KekSource, KeysError, SqliteKeyStore,
};
use tempfile::TempDir;

use common::{
    contains, create_person, data_dir, files_under, key_vault, keys_dir, open_at, person,
    read_person, with_vault, Person,
};

fn random_dek(fill: u8) -> WrappedDek {
    WrappedDek {
        bytes: (0..73u8).map(|i| i.wrapping_mul(31) ^ fill).collect(),
        kek_id: KekId::from_stored("0123456789abcdef".into()),
    }
}

#[tokio::test]
async fn a_deleted_key_leaves_no_bytes_in_the_key_store() {
    let dir = TempDir::new().expect("temp dir");
    let keys = keys_dir(&data_dir(&dir));
    let store = SqliteKeyStore::open(&keys).await.expect("open");
    let owners: Vec<UserId> = (0..20).map(|_| UserId::generate()).collect();
    for (i, owner) in owners.iter().enumerate() {
        let dek = random_dek(u8::try_from(i).expect("small"));
        let stored = store.insert_dek_if_absent(*owner, dek.clone()).await;
        assert_eq!(stored.expect("insert"), dek);
    }
    // A second insert keeps the first key (the winner of a race).
    let again = store.insert_dek_if_absent(owners[0], random_dek(200)).await;
    assert_eq!(again.expect("insert"), random_dek(0));

    let victim = owners[7];
    let victim_bytes = store
        .wrapped_dek(victim)
        .await
        .expect("read")
        .expect("stored")
        .bytes;
    assert!(store.delete_dek(victim).await.expect("delete"));
    assert!(!store.delete_dek(victim).await.expect("delete twice"));
    assert_eq!(store.wrapped_dek(victim).await.expect("read"), None);
    store.close().await;

    let files = files_under(&keys);
    let names: Vec<String> = files
        .iter()
        .filter_map(|(p, _)| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    assert_eq!(names, vec![KEYS_DB.to_owned()], "no journal or WAL left");
    let db = &files[0].1;
    assert!(
        contains(db, &random_dek(8).bytes),
        "sanity: a live key is in the file"
    );
    assert!(
        !contains(db, &victim_bytes),
        "the deleted key is still in keys.db"
    );
}

#[test]
fn the_file_kek_is_made_once_private_and_then_reused() {
    let dir = TempDir::new().expect("temp dir");
    let keys = keys_dir(&data_dir(&dir));
    let first = load_kek(&keys, &KekSource::File).expect("create");
    let again = load_kek(&keys, &KekSource::File).expect("reuse");
    assert_eq!(KekId::of(&first), KekId::of(&again));
    let text = std::fs::read_to_string(keys.join(KEK)).expect("kek file");
    assert_eq!(
        STANDARD.decode(text.trim()).expect("base64"),
        first.expose_bytes()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode(&keys), 0o700);
        assert_eq!(mode(&keys.join(KEK)), 0o600);
    }
}

#[tokio::test]
async fn a_lost_kek_file_is_not_silently_replaced() {
    let dir = TempDir::new().expect("temp dir");
    let data = data_dir(&dir);
    let vault = key_vault(&data).await;
    vault.key_store().close().await;
    std::fs::remove_file(keys_dir(&data).join(KEK)).expect("lose the KEK");
    let err = load_kek(&keys_dir(&data), &KekSource::File).expect_err("refused");
    assert!(matches!(err, KeysError::KekMissing { .. }), "{err}");
    assert!(!keys_dir(&data).join(KEK).exists());
}

#[test]
fn the_kek_loads_from_the_environment_and_from_a_command() {
    let dir = TempDir::new().expect("temp dir");
    let keys = dir.path().join("keys");
    let kek = Kek::generate();
    let b64 = STANDARD.encode(kek.expose_bytes());

    let var = "ORIOLE_TEST_KEK_FROM_ENV";
    std::env::set_var(var, format!("{b64}\n"));
    let from_env = load_kek(&keys, &KekSource::Env(var.into())).expect("env");
    assert_eq!(KekId::of(&from_env), KekId::of(&kek));
    let missing = load_kek(&keys, &KekSource::Env("ORIOLE_TEST_KEK_UNSET".into()));
    assert!(matches!(missing, Err(KeysError::InvalidKek { .. })));
    std::env::set_var("ORIOLE_TEST_KEK_SHORT", STANDARD.encode([7u8; 16]));
    let short = load_kek(&keys, &KekSource::Env("ORIOLE_TEST_KEK_SHORT".into()));
    let Err(err) = short else {
        panic!("a 16-byte KEK was accepted");
    };
    assert!(err.to_string().contains("32 random bytes"), "{err}");
    assert!(!err.to_string().contains(&STANDARD.encode([7u8; 16])));

    let command = KekSource::Command(format!("printf '%s' '{b64}'"));
    let from_command = load_kek(&keys, &command).expect("command");
    assert_eq!(KekId::of(&from_command), KekId::of(&kek));
    let failing = load_kek(&keys, &KekSource::Command("exit 3".into()));
    assert!(
        matches!(failing, Err(KeysError::KekCommand(_))),
        "{failing:?}"
    );
    let garbage = load_kek(&keys, &KekSource::Command("echo not-a-key".into()));
    assert!(matches!(garbage, Err(KeysError::InvalidKek { .. })));
    // Neither source writes a KEK file.
    assert!(!keys.join(KEK).exists());
}

#[tokio::test]
async fn the_keys_directory_lock_excludes_a_second_holder() {
    let dir = TempDir::new().expect("temp dir");
    let keys = keys_dir(&data_dir(&dir));
    let server = lock_keys_dir(&keys).expect("lock");
    let second = lock_keys_dir(&keys);
    assert!(
        matches!(second, Err(KeysError::Locked { .. })),
        "{second:?}"
    );
    let rotation = rotate_kek(&keys, &KekSource::File, |_| ControlFlow::Continue(())).await;
    let Err(err) = rotation else {
        panic!("rotation ran beside a server");
    };
    assert!(err.to_string().contains("running"), "{err}");
    drop(server);
    drop(lock_keys_dir(&keys).expect("free again"));
}

#[tokio::test]
async fn rotation_is_only_for_the_file_source() {
    let dir = TempDir::new().expect("temp dir");
    let keys = dir.path().join("keys");
    for source in [
        KekSource::Env("ORIOLE_KEK".into()),
        KekSource::Command("kms-get".into()),
    ] {
        let err = rotate_kek(&keys, &source, |_| ControlFlow::Continue(()))
            .await
            .expect_err("unsupported");
        assert!(matches!(err, KeysError::RotationUnsupported(_)), "{err}");
    }
}

/// A data directory with `n` people, each with every personal field and a
/// message to the next; closed. Returns the people.
async fn populated(data: &Path, n: usize) -> Vec<Person> {
    let vault = key_vault(data).await;
    let store = open_at(data, with_vault(&vault)).await;
    let people: Vec<Person> = (0..n).map(|i| person(&format!("r{i}"))).collect();
    for p in &people {
        create_person(&store, p).await;
    }
    for (i, p) in people.iter().enumerate() {
        let to = &people[(i + 1) % n];
        common::send(&store, p, to, &p.text).await;
    }
    store.close().await;
    vault.key_store().close().await;
    people
}

/// Everything reads back through a vault with the KEK now in `kek`; and
/// lookups by phone still work (blind indexes survive rotation).
async fn assert_all_readable(data: &Path, people: &[Person]) -> KekId {
    let vault = key_vault(data).await;
    let store = open_at(data, with_vault(&vault)).await;
    for (i, p) in people.iter().enumerate() {
        read_person(&store, p).await;
        let from = &people[(i + people.len() - 1) % people.len()];
        let inbox = store
            .inbox_after(p.id, oriole_core::domain::InboxSeq(0), 10)
            .await
            .expect("inbox");
        let texts: Vec<Option<&str>> = inbox.iter().map(|e| e.text.as_deref()).collect();
        assert!(texts.contains(&Some(from.text.as_str())), "{texts:?}");
        let found = store.user_by_phone(&p.phone()).await.expect("lookup");
        assert_eq!(found.map(|u| u.id), Some(p.id));
    }
    store.close().await;
    vault.key_store().close().await;
    vault.kek_id().clone()
}

/// The raw wrapped bytes of every key in the key store.
async fn wrapped_keys(keys: &Path) -> Vec<Vec<u8>> {
    let store = SqliteKeyStore::open(keys).await.expect("open");
    let all = store
        .deks_not_wrapped_by(&KekId::from_stored("none".into()), u32::MAX)
        .await
        .expect("list");
    store.close().await;
    all.into_iter().map(|(_, d)| d.bytes).collect()
}

fn kek_text(keys: &Path) -> String {
    std::fs::read_to_string(keys.join(KEK))
        .expect("kek file")
        .trim()
        .to_owned()
}

/// Only the current KEK, the key store and the lock remain, and no file
/// under DATA holds the old KEK or a key wrapped by it.
fn assert_old_kek_is_gone(data: &Path, old_kek: &str, old_wrapped: &[Vec<u8>]) {
    let keys = keys_dir(data);
    for leftover in [KEK_NEXT, KEK_NEXT_TMP, KEK_RETIRED] {
        assert!(!keys.join(leftover).exists(), "{leftover} left behind");
    }
    let old_raw = STANDARD.decode(old_kek).expect("base64");
    for (path, bytes) in files_under(data) {
        assert!(!contains(&bytes, old_kek.as_bytes()), "old KEK in {path:?}");
        assert!(!contains(&bytes, &old_raw), "old KEK bytes in {path:?}");
        for wrapped in old_wrapped {
            assert!(!contains(&bytes, wrapped), "old wrapped key in {path:?}");
        }
    }
}

const PEOPLE: usize = 12;
/// PEOPLE DEKs and the blind-index root, in batches of 5: 5, 5, 3.
const BATCH: u32 = 5;

async fn rotate(keys: &Path, stop: impl Fn(&RotationProgress) -> bool) -> Result<u64, KeysError> {
    let options = RotationOptions { batch_size: BATCH };
    rotate_kek_with(keys, &KekSource::File, options, |p| {
        if stop(p) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .await
    .map(|s| s.rewrapped)
}

#[tokio::test]
async fn rotation_rewraps_every_key_and_destroys_the_old_kek() {
    let dir = TempDir::new().expect("temp dir");
    let data = data_dir(&dir);
    let people = populated(&data, PEOPLE).await;
    let keys = keys_dir(&data);
    let old_kek = kek_text(&keys);
    let old_id = KekId::of(&load_kek(&keys, &KekSource::File).expect("kek"));
    let old_wrapped = wrapped_keys(&keys).await;
    assert_eq!(old_wrapped.len(), PEOPLE + 1);

    let mut events = Vec::new();
    let summary = rotate_kek_with(
        &keys,
        &KekSource::File,
        RotationOptions { batch_size: BATCH },
        |p| {
            events.push(p.clone());
            ControlFlow::Continue(())
        },
    )
    .await
    .expect("rotate");
    let total = (PEOPLE + 1) as u64;
    assert_eq!(
        events,
        vec![
            RotationProgress::NewKekReady {
                kek_id: summary.new_kek_id.clone(),
                resumed: false
            },
            RotationProgress::Rewrapped { done: 5, total },
            RotationProgress::Rewrapped { done: 10, total },
            RotationProgress::Rewrapped { done: 13, total },
            RotationProgress::Switched,
            RotationProgress::OldKekDestroyed,
        ]
    );
    assert_eq!((summary.rewrapped, summary.resumed), (total, false));
    assert_ne!(summary.new_kek_id, old_id);

    assert_old_kek_is_gone(&data, &old_kek, &old_wrapped);
    assert_eq!(
        assert_all_readable(&data, &people).await,
        summary.new_kek_id
    );

    // The old KEK opens nothing any more.
    let old = Kek::from_bytes(&STANDARD.decode(&old_kek).expect("base64")).expect("kek");
    let store = SqliteKeyStore::open(&keys).await.expect("open");
    let refused = KeyVault::open(old, store.clone(), KeyVaultConfig::default()).await;
    assert!(refused.is_err());
    store.close().await;
}

/// A crash, simulated by stopping at a step (and, for crashes inside a
/// step, by then arranging the files as the crash would have left them);
/// the rerun finishes, and nothing is lost.
async fn crash_and_rerun(
    stop: impl Fn(&RotationProgress) -> bool,
    after_crash: impl FnOnce(&Path),
    resumes: bool,
) {
    let dir = TempDir::new().expect("temp dir");
    let data = data_dir(&dir);
    let people = populated(&data, PEOPLE).await;
    let keys = keys_dir(&data);
    let old_kek = kek_text(&keys);
    let old_wrapped = wrapped_keys(&keys).await;

    let crashed = rotate(&keys, stop).await;
    assert!(
        matches!(crashed, Err(KeysError::Interrupted)),
        "{crashed:?}"
    );
    after_crash(&keys);
    if resumes {
        // A server refuses to start on a half-rotated directory.
        let refused = load_kek(&keys, &KekSource::File);
        assert!(
            matches!(refused, Err(KeysError::RotationUnfinished { .. })),
            "{refused:?}"
        );
    }

    let mut resumed = None;
    let rerun = rotate_kek_with(
        &keys,
        &KekSource::File,
        RotationOptions { batch_size: BATCH },
        |p| {
            if let RotationProgress::NewKekReady { resumed: r, .. } = p {
                resumed = Some(*r);
            }
            ControlFlow::Continue(())
        },
    )
    .await
    .expect("the rerun finishes");
    assert_eq!(resumed, Some(resumes));
    assert!(rerun.rewrapped <= (PEOPLE + 1) as u64);
    assert_old_kek_is_gone(&data, &old_kek, &old_wrapped);
    assert_eq!(assert_all_readable(&data, &people).await, rerun.new_kek_id);
}

#[tokio::test]
async fn rotation_resumes_after_a_crash_before_any_rewrap() {
    crash_and_rerun(
        |p| matches!(p, RotationProgress::NewKekReady { .. }),
        |_| {},
        true,
    )
    .await;
}

#[tokio::test]
async fn rotation_resumes_after_a_crash_between_batches() {
    crash_and_rerun(
        |p| matches!(p, RotationProgress::Rewrapped { done: 5, .. }),
        |_| {},
        true,
    )
    .await;
}

#[tokio::test]
async fn rotation_resumes_after_a_crash_before_the_switch() {
    crash_and_rerun(
        |p| matches!(p, RotationProgress::Rewrapped { done: 13, .. }),
        |_| {},
        true,
    )
    .await;
}

#[tokio::test]
async fn rotation_resumes_after_a_crash_between_the_two_renames() {
    crash_and_rerun(
        |p| matches!(p, RotationProgress::Rewrapped { done: 13, .. }),
        |keys| {
            std::fs::rename(keys.join(KEK), keys.join(KEK_RETIRED)).expect("first rename");
        },
        true,
    )
    .await;
}

#[tokio::test]
async fn rotation_resumes_after_a_crash_before_the_old_kek_is_destroyed() {
    crash_and_rerun(|p| matches!(p, RotationProgress::Switched), |_| {}, true).await;
}

#[tokio::test]
async fn rotation_resumes_after_a_crash_while_destroying_the_old_kek() {
    crash_and_rerun(
        |p| matches!(p, RotationProgress::Switched),
        |keys| {
            // Half overwritten with zeros.
            let path = keys.join(KEK_RETIRED);
            let mut bytes = std::fs::read(&path).expect("retired");
            bytes[..20].fill(0);
            std::fs::write(&path, bytes).expect("write");
        },
        true,
    )
    .await;
}

#[tokio::test]
async fn rotation_starts_afresh_after_a_crash_while_writing_the_new_kek() {
    crash_and_rerun(
        |p| matches!(p, RotationProgress::NewKekReady { .. }),
        |keys| {
            // As if the crash came before the rename: only the temporary
            // file, half written.
            std::fs::remove_file(keys.join(KEK_NEXT)).expect("undo the rename");
            std::fs::write(keys.join(KEK_NEXT_TMP), "c29tZS").expect("partial");
        },
        false,
    )
    .await;
}

#[tokio::test]
async fn rotation_survives_repeated_crashes() {
    let dir = TempDir::new().expect("temp dir");
    let data = data_dir(&dir);
    let people = populated(&data, PEOPLE).await;
    let keys = keys_dir(&data);
    let old_kek = kek_text(&keys);
    let old_wrapped = wrapped_keys(&keys).await;
    for _ in 0..2 {
        let stop = |p: &RotationProgress| matches!(p, RotationProgress::Rewrapped { .. });
        let crashed = rotate(&keys, stop).await;
        assert!(matches!(crashed, Err(KeysError::Interrupted)));
    }
    // 13 keys, stopped after 5 then 5 more: the last run has 3 left.
    assert_eq!(rotate(&keys, |_| false).await.expect("finish"), 3);
    assert_old_kek_is_gone(&data, &old_kek, &old_wrapped);
    assert_all_readable(&data, &people).await;
    // And the blind-index root was re-wrapped, not replaced.
    let store = SqliteKeyStore::open(&keys).await.expect("open");
    assert!(store
        .wrapped_dek(BLIND_INDEX_ROOT_OWNER)
        .await
        .expect("read")
        .is_some());
    store.close().await;
}
