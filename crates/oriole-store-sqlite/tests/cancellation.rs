//! A caller's future dropped part-way through a write (an HTTP client that
//! hangs up, a session's `select!` taking another branch) must not leave
//! the single writer connection inside a transaction: sqlx's SQLite
//! transactions are not cancel-safe (launchbadge/sqlx#3932), and the next
//! transaction on the connection, a user's message send, would then fail
//! to begin. Each write below is dropped after every few microseconds of
//! its run, from before its transaction begins to after it commits, and
//! after each drop a message send must still go through.

mod common;

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use oriole_audit::{Actor, EntryDraft, EventKind};
use oriole_core::consent::{PolicyLang, PolicyText, PolicyVersion};
use oriole_core::domain::{
    GroupId, GroupName, MessageBody, MessageId, Timestamp, UserId, Username,
};
use oriole_core::keys::{KekId, KeyStore, RewrappedDek, WrappedDek};
use oriole_core::privacy_store::{ConsentChange, NewPolicyText, PrivacyStore, Purge};
use oriole_core::rights::{
    AccountErasure, DisplayName, FieldChange, OwnedGroups, ProfileCorrection,
};
use oriole_core::sharing::{DeliveryId, SharingStore};
use oriole_core::staff::OperatorId;
use oriole_core::store::{Appended, Conversation, GroupRecord, NewMessage, NewUser, Store};
use oriole_crypto::{PasswordHashString, TokenHash};
use oriole_proto::{ConsentChannel, GroupRole, Purpose, ReceiptKind};
use oriole_store_sqlite::{SqliteKeyStore, SqliteOptions, SqliteStore, Synchronous};

/// Consecutive uninterrupted runs after which a write is taken to have
/// been dropped at every point of its run.
const RUNS_TO_FINISH: u32 = 5;
/// Budgets tried per write at most.
const MAX_BUDGETS: u32 = 1000;

/// How long the `i`th try lets the write run: every microsecond over the
/// first 400 (where its transaction begins), then in growing steps until
/// it runs to its end.
fn budget(i: u32) -> Duration {
    let micros = match i {
        0..=399 => i,
        400..=599 => 400 + (i - 400) * 5,
        _ => 1400 + (i - 600) * (i - 600),
    };
    Duration::from_micros(u64::from(micros))
}

/// Polls `work` until it finishes or `budget` has passed, then drops it:
/// `true` when it finished. Polls continuously, so the drop can fall
/// between any two of its steps, not only at a timer's tick.
async fn run_for(work: impl Future<Output = ()>, budget: Duration) -> bool {
    let start = Instant::now();
    let mut work = pin!(work);
    std::future::poll_fn(|cx| {
        if work.as_mut().poll(cx).is_ready() {
            return Poll::Ready(true);
        }
        if start.elapsed() >= budget {
            return Poll::Ready(false);
        }
        // Spin, but leave the core to SQLite's thread when it needs it.
        std::thread::yield_now();
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
}

/// Drops the write `op` makes after every budget, a fresh one each try
/// (`prepare` sets up what it needs, uninterrupted), and after each drop
/// checks that `check` (a transactional write) still succeeds.
async fn drop_everywhere<T, P, PF, O, OF, C, CF>(what: &str, mut prepare: P, mut op: O, check: C)
where
    P: FnMut(u32) -> PF,
    PF: Future<Output = T>,
    O: FnMut(T) -> OF,
    OF: Future<Output = ()>,
    C: Fn() -> CF,
    CF: Future<Output = Result<(), String>>,
{
    let mut finished_in_a_row = 0;
    let mut dropped = 0;
    for i in 0..MAX_BUDGETS {
        let data = prepare(i).await;
        if run_for(op(data), budget(i)).await {
            finished_in_a_row += 1;
            if finished_in_a_row == RUNS_TO_FINISH {
                break;
            }
            continue;
        }
        finished_in_a_row = 0;
        dropped += 1;
        if let Err(e) = check().await {
            panic!(
                "{what} dropped after {:?} (try {i}): the next write failed: {e}",
                budget(i)
            );
        }
    }
    assert!(dropped > 0, "{what} was never dropped part-way");
    assert_eq!(
        finished_in_a_row, RUNS_TO_FINISH,
        "{what} never ran to its end"
    );
}

struct World {
    store: SqliteStore,
    alice: UserId,
    bob: UserId,
    _dir: tempfile::TempDir,
}

async fn user(store: &SqliteStore, name: &str) -> UserId {
    let id = UserId::generate();
    store
        .create_user(NewUser {
            id,
            username: Username::parse(name).expect("username"),
            password_hash: PasswordHashString::from_stored("$argon2id$x".into()),
            phone: None,
            email: None,
            created_at: Timestamp(1),
        })
        .await
        .expect("create user");
    id
}

async fn world() -> World {
    let dir = tempfile::TempDir::new().expect("temp dir");
    // No fsync per commit: the tries are many, and what is tested is the
    // connection's state, not durability.
    let opts = SqliteOptions {
        synchronous: Synchronous::Normal,
        ..SqliteOptions::default()
    };
    let store = common::open(&dir, opts).await;
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    World {
        store,
        alice,
        bob,
        _dir: dir,
    }
}

/// A 1:1 message from `from` to `to`: a transaction on the group-commit
/// task, the write a leaked transaction breaks first.
async fn send(store: &SqliteStore, from: UserId, to: UserId) -> Result<MessageId, String> {
    let msg = NewMessage {
        id: MessageId::generate(),
        sender: from,
        conversation: Conversation::Direct(to),
        body: MessageBody::parse(Some("hi".into()), None, 1024).expect("body"),
        sent_at: Timestamp(2),
        idempotency_key: None,
    };
    match store.append_message(msg, &[from, to]).await {
        Ok(Appended::New { message_id, .. }) => Ok(message_id),
        Ok(other) => Err(format!("not new: {other:?}")),
        Err(e) => Err(e.to_string()),
    }
}

fn group_record(id: GroupId) -> GroupRecord {
    GroupRecord {
        id,
        name: GroupName::parse("g").expect("name"),
        history_visible: false,
        created_at: Timestamp(1),
    }
}

/// Runs [`drop_everywhere`] on `w`'s store (bound to `$store` in both
/// expressions) with a message from alice to bob as the check.
macro_rules! drop_write {
    ($w:expr, $what:expr, |$store:ident, $i:ident| $prepare:expr, |$data:pat_param| $op:expr) => {{
        let (store, alice, bob) = ($w.store.clone(), $w.alice, $w.bob);
        drop_everywhere(
            $what,
            |$i| {
                #[allow(unused_variables)]
                let $store = store.clone();
                async move { $prepare }
            },
            |$data| {
                let $store = store.clone();
                async move {
                    // Only what it leaves the connection in matters here.
                    let _ = $op;
                }
            },
            || {
                let store = store.clone();
                async move { send(&store, alice, bob).await.map(drop) }
            },
        )
        .await;
    }};
}

#[tokio::test]
async fn a_dropped_group_write_leaves_the_writer_usable() {
    let w = world().await;
    let (alice, bob) = (w.alice, w.bob);
    let both = [(alice, GroupRole::Owner), (bob, GroupRole::Member)];
    drop_write!(w, "create_group", |store, _i| GroupId::generate(), |id| {
        store.create_group(group_record(id), &both).await
    });
    drop_write!(
        w,
        "delete_group",
        |store, _i| {
            let id = GroupId::generate();
            store
                .create_group(group_record(id), &both)
                .await
                .expect("group");
            id
        },
        |id| store.delete_group(id).await
    );
    drop_write!(
        w,
        "remove_member",
        |store, _i| {
            let id = GroupId::generate();
            store
                .create_group(group_record(id), &both)
                .await
                .expect("group");
            id
        },
        |id| store.remove_member(id, bob).await
    );
    // A group write after all those drops still works too.
    w.store
        .create_group(group_record(GroupId::generate()), &both)
        .await
        .expect("a group after the drops");
    w.store.close().await;
}

#[tokio::test]
async fn a_dropped_message_write_leaves_the_writer_usable() {
    let w = world().await;
    let (alice, bob) = (w.alice, w.bob);
    drop_write!(
        w,
        "recall_message",
        |store, _i| send(&store, alice, bob).await.expect("send"),
        |m| store.recall_message(m, alice, Timestamp(5)).await
    );
    drop_write!(
        w,
        "record_receipt",
        |store, _i| send(&store, alice, bob).await.expect("send"),
        |m| store
            .record_receipt(m, bob, ReceiptKind::Read, Timestamp(5))
            .await
    );
    w.store.close().await;
}

fn erasure(user: UserId) -> AccountErasure {
    AccountErasure {
        user,
        owned_groups: OwnedGroups::Transfer,
        quarantine_until: Timestamp(10),
        at: Timestamp(5),
    }
}

#[tokio::test]
async fn a_dropped_rights_or_staff_write_leaves_the_writer_usable() {
    let w = world().await;
    let alice = w.alice;
    drop_write!(
        w,
        "append_audit",
        |store, i| EntryDraft::new(
            1_700_000_000_000 + i64::from(i),
            Actor::System,
            EventKind::LOGIN_FAILED
        ),
        |draft| store.append_audit(draft).await
    );
    drop_write!(
        w,
        "disable_operator",
        |store, _i| OperatorId::generate(),
        |op| store.disable_operator(op, Timestamp(5)).await
    );
    drop_write!(
        w,
        "set_operator_password",
        |store, _i| OperatorId::generate(),
        |op| {
            let hash = PasswordHashString::from_stored("$argon2id$y".into());
            store
                .set_operator_password(op, &hash, &TokenHash::of("keep"), Timestamp(5))
                .await
        }
    );
    drop_write!(
        w,
        "correct_profile",
        |store, i| ProfileCorrection {
            display_name: FieldChange::Set(
                DisplayName::parse(&format!("Alice {i}")).expect("name")
            ),
            ..ProfileCorrection::default()
        },
        |correction| store
            .correct_profile(alice, &correction, Timestamp(5))
            .await
    );
    drop_write!(
        w,
        "erase_account",
        |store, i| user(&store, &format!("gone{i}")).await,
        |gone| store.erase_account(erasure(gone)).await
    );
    drop_write!(
        w,
        "purge_deleted_account",
        |store, i| {
            let gone = user(&store, &format!("purged{i}")).await;
            store.erase_account(erasure(gone)).await.expect("erase");
            gone
        },
        |gone| store.purge_deleted_account(gone, 100).await
    );
    w.store.close().await;
}

#[tokio::test]
async fn a_dropped_privacy_or_sharing_write_leaves_the_writer_usable() {
    let w = world().await;
    let alice = w.alice;
    drop_write!(
        w,
        "record_consent",
        |store, i| ConsentChange {
            user: alice,
            purpose: Purpose::ProductAnalytics,
            granted: i % 2 == 0,
            policy_version: PolicyVersion::FIRST,
            channel: ConsentChannel::Api,
            at: Timestamp(5),
        },
        |change| store.record_consent(change).await
    );
    drop_write!(
        w,
        "publish_policy_text",
        |store, i| NewPolicyText {
            version: PolicyVersion::parse(i + 1).expect("version"),
            lang: PolicyLang::parse("en").expect("lang"),
            text: PolicyText::parse("the policy").expect("text"),
            material: false,
            at: Timestamp(5),
        },
        |text| store.publish_policy_text(text).await
    );
    drop_write!(w, "mark_policy_notified", |store, _i| (), |()| store
        .mark_policy_notified(&[alice], PolicyVersion::FIRST)
        .await);
    drop_write!(w, "purge", |store, _i| (), |()| store
        .purge(Purge::Messages, Timestamp(0), 100, false)
        .await);
    drop_write!(w, "forget_sharing", |store, _i| (), |()| store
        .forget_sharing(alice, Vec::new())
        .await);
    drop_write!(
        w,
        "complete_delivery",
        |store, _i| DeliveryId::generate(),
        |id| store.complete_delivery(id, Timestamp(5)).await
    );
    w.store.close().await;
}

/// The key store has one connection too, and KEK rotation replaces its
/// keys in a transaction.
#[tokio::test]
async fn a_dropped_key_replacement_leaves_the_key_store_usable() {
    let dir = tempfile::TempDir::new().expect("temp dir");
    let keys = SqliteKeyStore::open(&common::keys_dir(&common::data_dir(&dir)))
        .await
        .expect("open the key store");
    let owner = UserId::generate();
    let dek = |kek: &str| WrappedDek {
        bytes: vec![7; 40],
        kek_id: KekId::from_stored(kek.into()),
    };
    keys.insert_dek_if_absent(owner, dek("k0"))
        .await
        .expect("insert");
    drop_everywhere(
        "replace_deks",
        |i| async move {
            vec![RewrappedDek {
                owner,
                old_kek_id: KekId::from_stored(format!("k{i}")),
                dek: dek(&format!("k{}", i + 1)),
            }]
        },
        |batch| {
            let keys = keys.clone();
            async move {
                let _ = keys.replace_deks(&batch).await;
            }
        },
        || {
            let keys = keys.clone();
            async move {
                keys.replace_deks(&[])
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
        },
    )
    .await;
    keys.close().await;
}
