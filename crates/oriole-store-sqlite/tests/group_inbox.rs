//! Group messages in inboxes across what only the SQLite backend has:
//! closing and reopening the file (or dropping the store without closing
//! it), and retention deleting messages. Nothing reads an inbox before
//! the store goes away, so whatever a member's inbox should hold must be
//! durable at send time; after reopening, every inbox holds exactly the
//! seqs the appends returned, and new events continue at head + 1.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use oriole_core::domain::{InboxSeq, UserId};
use oriole_core::privacy_store::{PrivacyStore, Purge};
use oriole_core::store::{Appended, Conversation, NewMessage, Store};
use oriole_proto::{EventKind, GroupRole, ReceiptKind};
use oriole_store_sqlite::{SqliteOptions, SqliteStore};
use oriole_store_tests::cases::{ledger_direct_send, ledger_group_send, roster, InboxLedger};
use oriole_store_tests::fixtures::{at, group, head, key, message, text, user};
use tempfile::TempDir;

async fn reopen(dir: &TempDir) -> SqliteStore {
    common::open(dir, SqliteOptions::default()).await
}

/// Group and direct messages to overlapping users, with no inbox read,
/// survive closing and reopening: heads (read first), every inbox, and
/// a duplicate of a keyed group send, which still names the sender's seq
/// of the original. New group and direct messages continue at head + 1.
#[tokio::test]
async fn group_inboxes_survive_reopen_without_reads() {
    let dir = TempDir::new().expect("temp dir");
    let store = reopen(&dir).await;
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let carol = user(&store, "carol").await;
    let dave = user(&store, "dave").await;
    let users = [alice, bob, carol, dave];
    let mut ledger = InboxLedger::new(&users);
    let g1 = group(&store, alice, &[bob, carol]).await;
    let g2 = group(&store, carol, &[dave]).await;
    let l = &mut ledger;
    ledger_group_send(&store, l, alice, g1, "g1 first", 1).await;
    ledger_direct_send(&store, l, dave, carol, "direct", 2).await;
    ledger_group_send(&store, l, carol, g2, "g2 first", 3).await;
    ledger_group_send(&store, l, bob, g1, "g1 second", 4).await;
    let members = roster(&store, g1).await;
    let keyed = |body: &str, ms: i64| NewMessage {
        idempotency_key: Some(key("keyed")),
        ..message(bob, Conversation::Group(g1), text(body), at(ms))
    };
    let (original, seqs) = match store
        .append_message(keyed("keyed", 5), &members)
        .await
        .expect("append")
    {
        Appended::New {
            message_id, seqs, ..
        } => (message_id, seqs),
        other => panic!("expected a new message, got {other:?}"),
    };
    l.appended(original, Some(g1), &members, &seqs, "keyed");
    let bob_seq = InboxSeq(l.len(bob));
    for i in 0..10 {
        let (from, g) = if i % 2 == 0 { (dave, g2) } else { (alice, g1) };
        ledger_group_send(&store, l, from, g, "more", 6 + i).await;
    }
    ledger_direct_send(&store, l, alice, alice, "note", 20).await;
    store.close().await;
    drop(store);

    let store = reopen(&dir).await;
    ledger.check_heads(&store, "after reopening").await;
    let retry = store
        .append_message(keyed("keyed again", 30), &members)
        .await
        .expect("append");
    assert_eq!(
        retry,
        Appended::Duplicate {
            message_id: original,
            sent_at: at(5),
            sender_seq: bob_seq,
        }
    );
    ledger.check_inboxes(&store, "after reopening").await;

    let l = &mut ledger;
    ledger_group_send(&store, l, carol, g1, "after", 31).await;
    ledger_group_send(&store, l, dave, g2, "after", 32).await;
    ledger_direct_send(&store, l, bob, dave, "after", 33).await;
    ledger.check_heads(&store, "end").await;
    ledger.check_inboxes(&store, "end").await;
    store.close().await;
}

/// The same when, before closing, a member left one group (after some of
/// its messages), another joined it, and the other group was deleted with
/// unread messages. After reopening, a recall of a message sent before
/// the close reaches its holders (the one who left too) at head + 1, and a
/// receipt reaches its sender at head + 1.
#[tokio::test]
async fn group_inboxes_survive_reopen_after_leave_and_delete() {
    let dir = TempDir::new().expect("temp dir");
    let store = reopen(&dir).await;
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let carol = user(&store, "carol").await;
    let dave = user(&store, "dave").await;
    let users = [alice, bob, carol, dave];
    let mut ledger = InboxLedger::new(&users);
    let kept = group(&store, alice, &[bob, carol]).await;
    let doomed = group(&store, bob, &[carol, dave]).await;
    let l = &mut ledger;
    let early = ledger_group_send(&store, l, carol, kept, "early", 1).await;
    ledger_group_send(&store, l, dave, doomed, "doomed 1", 2).await;
    ledger_group_send(&store, l, alice, kept, "early 2", 3).await;
    assert!(store.remove_member(kept, carol).await.expect("remove"));
    store
        .add_member(kept, dave, GroupRole::Member, at(4))
        .await
        .expect("add member");
    ledger_group_send(&store, l, bob, kept, "after the change", 5).await;
    ledger_group_send(&store, l, carol, doomed, "doomed 2", 6).await;
    ledger_direct_send(&store, l, alice, carol, "direct", 7).await;
    store.delete_group(doomed).await.expect("delete group");
    ledger_direct_send(&store, l, dave, bob, "direct", 8).await;
    store.close().await;
    drop(store);

    let store = reopen(&dir).await;
    ledger.check_heads(&store, "after reopening").await;
    let recalled = store
        .recall_message(early, carol, at(20))
        .await
        .expect("recall");
    let holders: BTreeSet<UserId> = recalled.iter().map(|(u, _)| *u).collect();
    assert_eq!(
        holders,
        [alice, bob, carol].into(),
        "not dave, who joined later"
    );
    for (who, seq) in recalled {
        ledger.push(who, seq, EventKind::Recall, early, Some(kept), "recall");
    }
    let receipt = store
        .record_receipt(early, bob, ReceiptKind::Read, at(21))
        .await
        .expect("receipt");
    let (sender, seq) = receipt.expect("a receipt event");
    assert_eq!(sender, carol);
    ledger.push(carol, seq, EventKind::Receipt, early, Some(kept), "receipt");
    ledger.check_heads(&store, "after recall and receipt").await;
    ledger
        .check_inboxes(&store, "after recall and receipt")
        .await;

    let l = &mut ledger;
    ledger_group_send(&store, l, dave, kept, "later", 22).await;
    ledger_direct_send(&store, l, carol, dave, "later", 23).await;
    ledger.check_inboxes(&store, "end").await;
    store.close().await;
}

/// Dropping the store without `close` (as a crash would leave it, every
/// append having been acknowledged) loses no inbox entry either.
#[tokio::test]
async fn group_inboxes_survive_drop_without_close() {
    let dir = TempDir::new().expect("temp dir");
    let store = reopen(&dir).await;
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let carol = user(&store, "carol").await;
    let mut ledger = InboxLedger::new(&[alice, bob, carol]);
    let g = group(&store, alice, &[bob, carol]).await;
    let l = &mut ledger;
    for i in 0..6 {
        let from = [alice, bob, carol][i % 3];
        ledger_group_send(&store, l, from, g, "group", i as i64).await;
        ledger_direct_send(&store, l, from, alice, "direct", i as i64).await;
    }
    drop(store);

    let store = reopen(&dir).await;
    ledger.check_heads(&store, "after reopening").await;
    ledger.check_inboxes(&store, "after reopening").await;
    ledger_group_send(&store, &mut ledger, bob, g, "after", 10).await;
    ledger.check_inboxes(&store, "end").await;
    store.close().await;
}

/// Retention deleting a group's newest messages (and with them their
/// inbox entries), with no inbox read before, never hands a deleted seq
/// out again: the next events continue after the newest seq ever given,
/// also after reopening.
#[tokio::test]
async fn retention_of_the_newest_group_messages_never_reuses_seqs() {
    let dir = TempDir::new().expect("temp dir");
    let store = reopen(&dir).await;
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let carol = user(&store, "carol").await;
    let g = group(&store, alice, &[bob, carol]).await;
    let mut ledger = InboxLedger::new(&[alice, bob, carol]);
    let l = &mut ledger;
    // Direct messages first, then the group's, which are the newest.
    ledger_direct_send(&store, l, alice, bob, "direct", 1).await;
    ledger_direct_send(&store, l, carol, carol, "note", 2).await;
    for i in 0..4 {
        ledger_group_send(&store, l, [alice, bob][i % 2], g, "group", 10 + i as i64).await;
    }
    let heads: Vec<u64> = [alice, bob, carol].iter().map(|u| ledger.len(*u)).collect();
    assert_eq!(heads, vec![5, 5, 5]);

    let purged = store
        .purge(Purge::GroupMessages(g), at(100), 100, false)
        .await
        .expect("purge");
    assert_eq!(purged, 4, "every group message");
    for (who, n) in [(alice, 5), (bob, 5), (carol, 5)] {
        assert_eq!(head(&store, who).await, n, "the head stays");
    }
    let left: Vec<u64> = store
        .inbox_after(carol, InboxSeq(0), 100)
        .await
        .expect("inbox")
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(left, vec![1], "only the note is left");

    // The next seqs come after the deleted ones.
    let after = message(bob, Conversation::Group(g), text("after"), at(200));
    let members = roster(&store, g).await;
    let seqs = match store.append_message(after, &members).await.expect("append") {
        Appended::New { seqs, .. } => seqs,
        other => panic!("expected a new message, got {other:?}"),
    };
    let seqs: BTreeMap<UserId, InboxSeq> = seqs.into_iter().collect();
    let expected: BTreeMap<UserId, InboxSeq> = [alice, bob, carol]
        .into_iter()
        .map(|u| (u, InboxSeq(6)))
        .collect();
    assert_eq!(seqs, expected);

    // Purge that one too, then reopen: still no reuse.
    let purged = store
        .purge(Purge::GroupMessages(g), at(300), 100, false)
        .await
        .expect("purge");
    assert_eq!(purged, 1);
    store.close().await;
    drop(store);
    let store = reopen(&dir).await;
    for who in [alice, bob, carol] {
        assert_eq!(head(&store, who).await, 6, "the head stays");
    }
    let next = message(carol, Conversation::Direct(alice), text("next"), at(400));
    let seqs = match store
        .append_message(next, &[carol, alice])
        .await
        .expect("append")
    {
        Appended::New { seqs, .. } => seqs,
        other => panic!("expected a new message, got {other:?}"),
    };
    let seqs: BTreeMap<UserId, InboxSeq> = seqs.into_iter().collect();
    assert_eq!(seqs.get(&carol), Some(&InboxSeq(7)));
    assert_eq!(seqs.get(&alice), Some(&InboxSeq(7)));
    let alice_seqs: Vec<u64> = store
        .inbox_after(alice, InboxSeq(0), 100)
        .await
        .expect("inbox")
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(alice_seqs, vec![1, 7], "the direct message and the new one");
    store.close().await;
}

/// 1:1 messages are pending too (no rows until an inbox is read), across
/// reopening: with a message written as rows between pending ones (one
/// whose recipient gets no entry, as a bot that only a third party
/// receives), a note to oneself, a keyed send and its duplicate after
/// reopening, a recall of a pending message reaching both sides, and a
/// receipt reaching the sender, each at head + 1. No inbox is read before
/// the close, and nothing is written as inbox rows for pending entries.
#[tokio::test]
async fn direct_inboxes_survive_reopen_with_rows_between() {
    let dir = TempDir::new().expect("temp dir");
    let store = reopen(&dir).await;
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let carol = user(&store, "carol").await;
    let mut ledger = InboxLedger::new(&[alice, bob, carol]);
    let l = &mut ledger;
    ledger_direct_send(&store, l, alice, bob, "one", 1).await;
    let recalled = ledger_direct_send(&store, l, bob, alice, "two", 2).await;
    ledger_direct_send(&store, l, alice, alice, "note", 3).await;
    ledger_direct_send(&store, l, alice, carol, "to carol", 4).await;
    // To carol, but only alice gets an entry: written as rows, and
    // neither side derives an entry from it later.
    let unlisted = message(alice, Conversation::Direct(carol), text("unlisted"), at(5));
    let (id, seqs) = match store
        .append_message(unlisted, &[alice])
        .await
        .expect("append")
    {
        Appended::New {
            message_id, seqs, ..
        } => (message_id, seqs),
        other => panic!("expected a new message, got {other:?}"),
    };
    l.appended(id, None, &[alice], &seqs, "unlisted");
    ledger_direct_send(&store, l, carol, alice, "from carol", 6).await;
    let keyed = |body: &str, ms: i64| NewMessage {
        idempotency_key: Some(key("direct-key")),
        ..message(bob, Conversation::Direct(carol), text(body), at(ms))
    };
    let (original, seqs) = match store
        .append_message(keyed("keyed", 7), &[bob, carol])
        .await
        .expect("append")
    {
        Appended::New {
            message_id, seqs, ..
        } => (message_id, seqs),
        other => panic!("expected a new message, got {other:?}"),
    };
    l.appended(original, None, &[bob, carol], &seqs, "keyed");
    let bob_seq = InboxSeq(l.len(bob));
    for i in 0..6 {
        ledger_direct_send(&store, l, [alice, bob][i % 2], carol, "more", 8 + i as i64).await;
    }
    // The message written as rows wrote both sides' pending entries
    // first (carol's "to carol"); every later one is pending.
    assert_eq!(
        rows(&dir, carol).await,
        1,
        "carol's later entries are pending"
    );
    assert_eq!(rows(&dir, bob).await, 0, "bob's entries are pending");
    store.close().await;
    drop(store);

    let store = reopen(&dir).await;
    ledger.check_heads(&store, "after reopening").await;
    let retry = store
        .append_message(keyed("keyed again", 20), &[bob, carol])
        .await
        .expect("append");
    assert_eq!(
        retry,
        Appended::Duplicate {
            message_id: original,
            sent_at: at(7),
            sender_seq: bob_seq,
        }
    );
    let recall = store
        .recall_message(recalled, bob, at(21))
        .await
        .expect("recall");
    assert_eq!(recall.len(), 2, "both sides hold it: {recall:?}");
    for (user, seq) in recall {
        ledger.push(user, seq, EventKind::Recall, recalled, None, "recall");
    }
    let (to, seq) = store
        .record_receipt(id, carol, ReceiptKind::Read, at(22))
        .await
        .expect("receipt")
        .expect("a new receipt");
    ledger.push(to, seq, EventKind::Receipt, id, None, "receipt");
    ledger_direct_send(&store, &mut ledger, carol, bob, "after", 23).await;
    ledger.check_heads(&store, "end").await;
    ledger.check_inboxes(&store, "end").await;
    store.close().await;
}

/// Inbox rows stored for `user`, read from the file itself.
async fn rows(dir: &TempDir, user: UserId) -> i64 {
    use sqlx::{ConnectOptions, Connection};
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(common::db_path(&common::data_dir(dir)))
        .connect()
        .await
        .expect("raw connection");
    let n = sqlx::query_scalar("SELECT count(*) FROM inbox WHERE user_id = ?1")
        .bind(user.to_string())
        .fetch_one(&mut conn)
        .await
        .expect("count");
    conn.close().await.expect("close");
    n
}

/// Erasing an account with 1:1 entries pending on both sides: the other
/// side's inbox keeps every entry at the seq it was given and continues at
/// head + 1, and once the purge is done no pair row names the erased user,
/// no message names them as its sender, and the only direction left with
/// them is the one whose messages the survivor sent.
#[tokio::test]
async fn erasure_keeps_the_peers_pending_direct_entries() {
    use oriole_core::rights::{AccountErasure, OwnedGroups};
    let dir = TempDir::new().expect("temp dir");
    let store = reopen(&dir).await;
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let carol = user(&store, "carol").await;
    let mut ledger = InboxLedger::new(&[alice, bob, carol]);
    let l = &mut ledger;
    for i in 0..4 {
        let (from, to) = if i % 2 == 0 {
            (alice, bob)
        } else {
            (bob, alice)
        };
        ledger_direct_send(&store, l, from, to, "pair", i).await;
        ledger_direct_send(&store, l, carol, alice, "other", 10 + i).await;
    }
    store
        .erase_account(AccountErasure {
            user: bob,
            owned_groups: OwnedGroups::Transfer,
            quarantine_until: at(1000),
            at: at(100),
        })
        .await
        .expect("erase");
    while !store
        .purge_deleted_account(bob, 2)
        .await
        .expect("purge")
        .done
    {}
    ledger_direct_send(&store, &mut ledger, carol, alice, "after", 200).await;
    let counts = store.message_counts(alice).await.expect("alice's counts");
    assert_eq!(counts.sent, 2, "alice's messages to bob still count");
    let counts = store.message_counts(carol).await.expect("carol's counts");
    assert_eq!(counts.sent, 5);
    for survivor in [alice, carol] {
        assert_eq!(head(&store, survivor).await, ledger.len(survivor));
        ledger
            .check_inbox(&store, survivor, "after the erasure")
            .await;
    }
    let named: Vec<i64> = {
        use sqlx::{ConnectOptions, Connection};
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(common::db_path(&common::data_dir(&dir)))
            .connect()
            .await
            .expect("raw connection");
        let mut counts = Vec::new();
        for sql in [
            "SELECT count(*) FROM direct_members WHERE user_id = ?1 OR peer_id = ?1",
            "SELECT count(*) FROM messages WHERE sender_id = ?1",
            "SELECT count(*) FROM direct_pairs WHERE sender_id = ?1",
            "SELECT count(*) FROM direct_pairs WHERE recipient_id = ?1",
            // Every 1:1 message that names its sender carries its direction.
            "SELECT count(*) FROM messages WHERE pair IS NULL AND sender_id IS NOT NULL \
               AND recipient_user_id IS NOT NULL AND ?1 IS NOT NULL",
        ] {
            let n: i64 = sqlx::query_scalar(sql)
                .bind(bob.to_string())
                .fetch_one(&mut conn)
                .await
                .expect("count");
            counts.push(n);
        }
        conn.close().await.expect("close");
        counts
    };
    assert_eq!(
        named,
        [0, 0, 0, 1, 0],
        "pair rows, messages sent, directions sent in and received in (alice's), \
         1:1 messages without their direction"
    );
    store.close().await;
}

/// Every page of `users`' inboxes, of each size in `limits`, from every
/// starting seq, reads exactly as the ledger says.
async fn check_every_page(
    store: &SqliteStore,
    ledger: &InboxLedger,
    users: &[UserId],
    limits: &[u32],
    when: &str,
) {
    for &who in users {
        for after in 0..=ledger.len(who) {
            for &limit in limits {
                ledger.check_page(store, who, after, limit, when).await;
            }
        }
    }
}

/// A sync page merges a user's pending entries into their stored rows
/// instead of writing them first: with rows (up to a receipt, which writes
/// the pending entries before it) followed by pending group, 1:1 and
/// note-to-self entries, every page across the boundary reads as the
/// ledger says and reading writes no inbox row (no user has more pending
/// entries than two pages of 3 hold, so every read merges). The same
/// pages read the same after reopening, and again once the rows are
/// written, in pages of every size.
#[tokio::test]
async fn sync_pages_merge_pending_entries_without_writing_them() {
    const MERGED: &[u32] = &[3, 4, 100];
    let dir = TempDir::new().expect("temp dir");
    let store = reopen(&dir).await;
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let carol = user(&store, "carol").await;
    let users = [alice, bob, carol];
    let mut ledger = InboxLedger::new(&users);
    let g = group(&store, alice, &[bob, carol]).await;
    let l = &mut ledger;
    let one = ledger_direct_send(&store, l, alice, bob, "one", 1).await;
    ledger_group_send(&store, l, bob, g, "g one", 2).await;
    ledger_direct_send(&store, l, carol, alice, "two", 3).await;
    let (to, seq) = store
        .record_receipt(one, bob, ReceiptKind::Delivered, at(4))
        .await
        .expect("receipt")
        .expect("a new receipt");
    assert_eq!(to, alice);
    ledger.push(alice, seq, EventKind::Receipt, one, None, "receipt");
    let l = &mut ledger;
    ledger_group_send(&store, l, carol, g, "g two", 5).await;
    ledger_direct_send(&store, l, bob, alice, "three", 6).await;
    ledger_direct_send(&store, l, alice, alice, "note", 7).await;
    ledger_group_send(&store, l, alice, g, "g three", 8).await;
    assert_eq!(
        rows(&dir, alice).await,
        4,
        "alice's rows end at the receipt"
    );
    assert_eq!(rows(&dir, bob).await, 0);

    check_every_page(&store, &ledger, &users, MERGED, "merged").await;
    assert_eq!(rows(&dir, alice).await, 4, "reading wrote no row");
    assert_eq!(rows(&dir, bob).await, 0, "reading wrote no row");
    assert_eq!(rows(&dir, carol).await, 0, "reading wrote no row");

    store.close().await;
    drop(store);
    let store = reopen(&dir).await;
    check_every_page(&store, &ledger, &users, MERGED, "merged, after reopening").await;
    ledger_group_send(&store, &mut ledger, bob, g, "after", 9).await;
    check_every_page(&store, &ledger, &users, MERGED, "merged, after a send").await;
    assert_eq!(rows(&dir, bob).await, 0, "reading wrote no row");

    // Anything that needs the rows still writes them, at the same seqs.
    for &who in &users {
        assert!(store.inbox_has_message(who, one).await.is_ok());
        assert_eq!(
            rows(&dir, who).await,
            ledger.len(who) as i64,
            "{who} settled"
        );
    }
    check_every_page(&store, &ledger, &users, &[1, 2, 3, 100], "from rows").await;
    store.close().await;
}

/// A backlog too large to merge (more than 2000 pending entries, and more
/// than two pages) is read from the stored head page by page without a
/// write (it used to be written as rows first), and reads whole.
#[tokio::test]
async fn a_large_backlog_is_read_from_the_stored_head_without_a_write() {
    let dir = TempDir::new().expect("temp dir");
    let store = reopen(&dir).await;
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    const N: i64 = 2001;
    let sends: Vec<_> = (0..N)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let msg = message(alice, Conversation::Direct(bob), text("backlog"), at(i));
                store
                    .append_message(msg, &[alice, bob])
                    .await
                    .expect("append")
            })
        })
        .collect();
    for send in sends {
        send.await.expect("send task");
    }
    assert_eq!(rows(&dir, bob).await, 0, "all pending");
    let page = store
        .inbox_after(bob, InboxSeq(0), 10)
        .await
        .expect("inbox");
    assert_eq!(
        page.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=10).collect::<Vec<_>>()
    );
    let next = store
        .inbox_after(bob, InboxSeq(10), 10)
        .await
        .expect("inbox");
    assert_eq!(
        next.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (11..=20).collect::<Vec<_>>()
    );
    let all = store
        .inbox_after(bob, InboxSeq(0), 5000)
        .await
        .expect("inbox");
    assert_eq!(
        all.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=N as u64).collect::<Vec<_>>()
    );
    assert_eq!(page[..], all[..10]);
    assert_eq!(next[..], all[10..20]);
    assert_eq!(rows(&dir, bob).await, 0, "the reads wrote nothing");
    assert_eq!(
        rows(&dir, alice).await,
        0,
        "the sender's entries stay pending"
    );
    store.close().await;
}
