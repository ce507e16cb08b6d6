//! Concurrent writers and readers: seqs stay gap-free and unique, keys
//! stay exactly-once, and a reader never sees half a commit.

use std::collections::HashSet;
use std::sync::Arc;

use oriole_core::domain::{InboxSeq, UserId};
use oriole_core::store::{Appended, Conversation, NewMessage, Store};
use tokio::task::JoinSet;

use crate::fixtures::{at, head, inbox, key, message, seqs, text, user};

const SENDERS: usize = 8;
const PER_SENDER: usize = 50;

/// 8 tasks × 50 messages to one recipient: its seqs are exactly 1..=400,
/// and each sender's own are 1..=50.
pub async fn concurrent_appends_are_gap_free<S: Store>(store: S) {
    let store = Arc::new(store);
    let recipient = user(&*store, "rita").await;
    let mut senders = Vec::new();
    for i in 0..SENDERS {
        senders.push(user(&*store, &format!("sender{i}")).await);
    }
    let mut tasks = JoinSet::new();
    for (i, &sender) in senders.iter().enumerate() {
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            let mut got = Vec::with_capacity(PER_SENDER);
            for n in 0..PER_SENDER {
                let body = text(&format!("{i}-{n}"));
                let sent_at = at((n * SENDERS + i) as i64);
                let msg = message(sender, Conversation::Direct(recipient), body, sent_at);
                match store.append_message(msg, &[sender, recipient]).await {
                    Ok(Appended::New { seqs, .. }) => got.extend(seqs),
                    other => panic!("append failed: {other:?}"),
                }
            }
            got
        });
    }
    let mut recipient_seqs = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let entries: Vec<(UserId, InboxSeq)> = done.expect("task");
        let mut own = Vec::new();
        for (user, seq) in entries {
            if user == recipient {
                recipient_seqs.push(seq.0);
            } else {
                own.push(seq.0);
            }
        }
        assert_eq!(own, (1..=PER_SENDER as u64).collect::<Vec<_>>());
    }
    let total = (SENDERS * PER_SENDER) as u64;
    recipient_seqs.sort_unstable();
    assert_eq!(recipient_seqs, (1..=total).collect::<Vec<_>>());

    let events = inbox(&*store, recipient).await;
    let stored: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(stored, (1..=total).collect::<Vec<_>>());
    let ids: HashSet<&str> = events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), total as usize, "one entry per message");
    assert_eq!(head(&*store, recipient).await, total);
    for sender in senders {
        assert_eq!(seqs(&*store, sender).await.len(), PER_SENDER);
    }
}

/// The same send retried concurrently is stored once; every retry learns
/// the one message id.
pub async fn concurrent_duplicate_sends_store_once<S: Store>(store: S) {
    let store = Arc::new(store);
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let mut tasks = JoinSet::new();
    for i in 0..SENDERS {
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            let msg = NewMessage {
                idempotency_key: Some(key("the-one-send")),
                ..message(alice, Conversation::Direct(bob), text("once"), at(i as i64))
            };
            store
                .append_message(msg, &[alice, bob])
                .await
                .expect("append")
        });
    }
    let mut new = Vec::new();
    let mut duplicates = Vec::new();
    while let Some(done) = tasks.join_next().await {
        match done.expect("task") {
            Appended::New { message_id, .. } => new.push(message_id),
            Appended::Duplicate {
                message_id,
                sender_seq,
                ..
            } => duplicates.push((message_id, sender_seq)),
        }
    }
    assert_eq!(new.len(), 1, "stored exactly once");
    assert_eq!(duplicates.len(), SENDERS - 1);
    for (id, seq) in duplicates {
        assert_eq!((id, seq), (new[0], InboxSeq(1)));
    }
    assert_eq!(
        (head(&*store, alice).await, head(&*store, bob).await),
        (1, 1)
    );
}

/// While messages are appended, every read of the inbox is a gap-free
/// prefix 1..=n: an entry is never visible before the ones below it.
pub async fn readers_never_see_gaps<S: Store>(store: S) {
    const MESSAGES: u64 = 100;
    let store = Arc::new(store);
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let writer = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            for n in 0..MESSAGES {
                let msg = message(alice, Conversation::Direct(bob), text("x"), at(n as i64));
                store
                    .append_message(msg, &[alice, bob])
                    .await
                    .expect("append");
            }
        })
    };
    let mut last_seen = 0;
    loop {
        let finished = writer.is_finished();
        let seen = seqs(&*store, bob).await;
        assert_eq!(seen, (1..=seen.len() as u64).collect::<Vec<_>>());
        assert!(seen.len() as u64 >= last_seen, "an entry disappeared");
        last_seen = seen.len() as u64;
        let head = head(&*store, bob).await;
        assert!(
            head >= last_seen,
            "head {head} behind a visible entry {last_seen}"
        );
        if finished {
            break;
        }
        tokio::task::yield_now().await;
    }
    writer.await.expect("writer");
    assert_eq!(last_seen, MESSAGES);
}
