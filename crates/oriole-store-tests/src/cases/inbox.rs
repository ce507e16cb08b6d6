//! Appending messages, reading inboxes, recall and receipts.

use std::collections::BTreeMap;

use oriole_core::domain::{InboxSeq, MessageBody, MessageId, UserId};
use oriole_core::store::{Appended, Conversation, NewMessage, Store, StoreError};
use oriole_proto::{EventKind, InboxEvent, ReceiptKind};
use serde_json::json;

use crate::fixtures::{
    append, at, event, group, head, inbox, key, message, send_direct, send_group, seqs, text, user,
};

/// The first message gives every recipient, the sender included, seq 1.
pub async fn append_seqs_start_at_one_for_every_recipient<S: Store>(store: S) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let msg = message(alice, Conversation::Direct(bob), text("hi"), at(1));
    let (_, entries) = append(&store, msg, &[alice, bob]).await;
    let entries: BTreeMap<UserId, InboxSeq> = entries.into_iter().collect();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries.get(&alice), Some(&InboxSeq(1)), "the sender's copy");
    assert_eq!(entries.get(&bob), Some(&InboxSeq(1)));
    assert_eq!(seqs(&store, alice).await, vec![1]);
    assert_eq!(seqs(&store, bob).await, vec![1]);
}

/// Each user's seqs count up by one with every entry, whoever else the
/// messages went to.
pub async fn append_seqs_are_gap_free_per_user<S: Store>(store: S) {
    let users = [
        user(&store, "alice").await,
        user(&store, "bob").await,
        user(&store, "carol").await,
    ];
    let mut expected: BTreeMap<UserId, u64> = BTreeMap::new();
    for i in 0..60_usize {
        let from = users[i % 3];
        let to = users[(i / 3 + 1 + i) % 3];
        let recipients: Vec<UserId> = if from == to {
            vec![from]
        } else {
            vec![from, to]
        };
        let msg = message(
            from,
            Conversation::Direct(to),
            text(&format!("m{i}")),
            at(i as i64),
        );
        let (_, entries) = append(&store, msg, &recipients).await;
        assert_eq!(entries.len(), recipients.len());
        for (user, seq) in entries {
            let next = expected.entry(user).or_insert(0);
            *next += 1;
            assert_eq!(seq, InboxSeq(*next), "message {i}");
        }
    }
    for user in users {
        let n = expected.get(&user).copied().unwrap_or(0);
        assert!(n > 0);
        assert_eq!(seqs(&store, user).await, (1..=n).collect::<Vec<_>>());
        assert_eq!(head(&store, user).await, n);
    }
}

/// A user listed twice among the recipients gets one entry.
pub async fn append_lists_each_recipient_once<S: Store>(store: S) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let msg = message(alice, Conversation::Direct(bob), text("hi"), at(1));
    let (_, entries) = append(&store, msg, &[alice, bob, alice, bob]).await;
    assert_eq!(entries.len(), 2);
    assert_eq!(seqs(&store, alice).await, vec![1]);
    assert_eq!(seqs(&store, bob).await, vec![1]);
}

/// A repeated idempotency key describes the original send (id, time, the
/// sender's seq) and stores nothing.
pub async fn append_duplicate_key_writes_nothing<S: Store>(store: S) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let first = NewMessage {
        idempotency_key: Some(key("retry-1")),
        ..message(alice, Conversation::Direct(bob), text("hello"), at(1))
    };
    let (first_id, _) = append(&store, first, &[alice, bob]).await;
    send_direct(&store, alice, bob, "unrelated", at(2)).await;

    let retry = NewMessage {
        idempotency_key: Some(key("retry-1")),
        ..message(alice, Conversation::Direct(bob), text("hello again"), at(3))
    };
    let retry_id = retry.id;
    let outcome = store
        .append_message(retry, &[alice, bob])
        .await
        .expect("append");
    assert_eq!(
        outcome,
        Appended::Duplicate {
            message_id: first_id,
            sent_at: at(1),
            sender_seq: InboxSeq(1),
        }
    );
    assert!(store.message(retry_id).await.expect("message").is_none());
    assert_eq!((head(&store, alice).await, head(&store, bob).await), (2, 2));
    let texts: Vec<Option<String>> = inbox(&store, bob)
        .await
        .into_iter()
        .map(|e| e.text)
        .collect();
    assert_eq!(texts, vec![Some("hello".into()), Some("unrelated".into())]);
}

/// The same key from two senders makes two messages.
pub async fn append_keys_are_per_sender<S: Store>(store: S) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let from_alice = NewMessage {
        idempotency_key: Some(key("k")),
        ..message(alice, Conversation::Direct(bob), text("a"), at(1))
    };
    let from_bob = NewMessage {
        idempotency_key: Some(key("k")),
        ..message(bob, Conversation::Direct(alice), text("b"), at(2))
    };
    let (a, _) = append(&store, from_alice, &[alice, bob]).await;
    let (b, _) = append(&store, from_bob, &[bob, alice]).await;
    assert_ne!(a, b);
    assert_eq!((head(&store, alice).await, head(&store, bob).await), (2, 2));
}

/// An append that cannot reach every recipient fails as a whole.
pub async fn append_to_unknown_recipient_writes_nothing<S: Store>(store: S) {
    let alice = user(&store, "alice").await;
    let ghost = UserId::generate();
    let msg = message(alice, Conversation::Direct(ghost), text("boo"), at(1));
    let id = msg.id;
    let outcome = store.append_message(msg, &[alice, ghost]).await;
    assert!(outcome.is_err(), "{outcome:?}");
    assert_eq!(head(&store, alice).await, 0);
    assert!(store.message(id).await.expect("message").is_none());
}

/// Appends queued one after another without waiting (as a connection's
/// pipelined sends are) commit in the order queued, whatever order their
/// outcomes are awaited in: a repeat of a key queued earlier is that
/// append's duplicate, and an append that fails fails alone.
pub async fn queued_appends_commit_in_queue_order<S: Store>(store: S) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let ghost = UserId::generate();
    let mut queued = Vec::new();
    for i in 0..12 {
        let msg = NewMessage {
            idempotency_key: Some(key(&format!("k{i}"))),
            ..message(
                alice,
                Conversation::Direct(bob),
                text(&format!("m{i}")),
                at(i),
            )
        };
        queued.push((msg.id, store.queue_message(msg, &[alice, bob]).await));
        if i == 4 {
            // Its key was queued just above, and may not be committed yet.
            let retry = NewMessage {
                idempotency_key: Some(key("k4")),
                ..message(alice, Conversation::Direct(bob), text("again"), at(4))
            };
            queued.push((retry.id, store.queue_message(retry, &[alice, bob]).await));
        }
        if i == 8 {
            let lost = message(alice, Conversation::Direct(ghost), text("boo"), at(8));
            queued.push((lost.id, store.queue_message(lost, &[alice, ghost]).await));
        }
    }
    // Awaited newest first: the order of waiting changes nothing.
    let mut outcomes = Vec::new();
    for (id, append) in queued.into_iter().rev() {
        let outcome = match append {
            Ok(append) => append.await,
            Err(e) => Err(e),
        };
        outcomes.push((id, outcome));
    }
    outcomes.reverse();
    assert_eq!(outcomes.len(), 14);
    let (ghost_id, ghost_outcome) = &outcomes[10];
    assert!(ghost_outcome.is_err(), "{ghost_outcome:?}");
    assert!(store.message(*ghost_id).await.expect("message").is_none());
    let (original, _) = outcomes[4];
    match &outcomes[5].1 {
        Ok(Appended::Duplicate {
            message_id,
            sender_seq,
            ..
        }) => {
            assert_eq!(*message_id, original, "the repeat names the original");
            assert_eq!(*sender_seq, InboxSeq(5));
        }
        other => panic!("expected a duplicate, got {other:?}"),
    }
    let mut expected_seq = 0;
    for (n, (id, outcome)) in outcomes.iter().enumerate() {
        if n == 5 || n == 10 {
            continue;
        }
        expected_seq += 1;
        match outcome {
            Ok(Appended::New {
                message_id, seqs, ..
            }) => {
                assert_eq!(message_id, id);
                let seqs: BTreeMap<UserId, InboxSeq> = seqs.iter().copied().collect();
                assert_eq!(
                    seqs.get(&alice),
                    Some(&InboxSeq(expected_seq)),
                    "append {n}"
                );
                assert_eq!(seqs.get(&bob), Some(&InboxSeq(expected_seq)), "append {n}");
            }
            other => panic!("append {n}: expected a new message, got {other:?}"),
        }
    }
    let texts: Vec<String> = inbox(&store, bob)
        .await
        .into_iter()
        .filter_map(|e| e.text)
        .collect();
    let expected: Vec<String> = (0..12).map(|i| format!("m{i}")).collect();
    assert_eq!(texts, expected);
}

/// An append whose sender has no account (gone between the service's
/// checks and the commit) fails alone, whether it shares a commit with
/// other appends or not, and writes nothing; the appends queued around it
/// are stored. A group message, so that nothing but the message row itself
/// names the sender.
pub async fn queued_append_from_a_gone_sender_fails_alone<S: Store>(store: S) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let ghost = UserId::generate();
    let friends = group(&store, alice, &[bob]).await;
    let members = [alice, bob];
    let mut queued = Vec::new();
    for i in 0..6 {
        let from = if i == 2 { ghost } else { alice };
        let msg = message(
            from,
            Conversation::Group(friends),
            text(&format!("m{i}")),
            at(i),
        );
        queued.push((msg.id, store.queue_message(msg, &members).await));
    }
    let mut outcomes = Vec::new();
    for (id, append) in queued {
        let outcome = match append {
            Ok(append) => append.await,
            Err(e) => Err(e),
        };
        outcomes.push((id, outcome));
    }
    for (n, (id, outcome)) in outcomes.iter().enumerate() {
        if n == 2 {
            assert!(
                matches!(outcome, Err(StoreError::NotFound(_))),
                "the gone sender's append: {outcome:?}"
            );
            assert!(store.message(*id).await.expect("message").is_none());
        } else {
            assert!(
                matches!(outcome, Ok(Appended::New { .. })),
                "append {n}: {outcome:?}"
            );
        }
    }
    // Alone in its commit, too.
    let alone = message(ghost, Conversation::Group(friends), text("boo"), at(9));
    let id = alone.id;
    let outcome = store.append_message(alone, &members).await;
    assert!(
        matches!(outcome, Err(StoreError::NotFound(_))),
        "{outcome:?}"
    );
    assert!(store.message(id).await.expect("message").is_none());
    let texts: Vec<String> = inbox(&store, bob)
        .await
        .into_iter()
        .filter_map(|e| e.text)
        .collect();
    assert_eq!(texts, ["m0", "m1", "m3", "m4", "m5"]);
}

/// `inbox_after` returns events after the cursor, oldest first, at most
/// `limit`.
pub async fn inbox_after_pages_in_order<S: Store>(store: S) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    for i in 0..10 {
        send_direct(&store, alice, bob, &format!("m{i}"), at(i)).await;
    }
    let page = |after: u64, limit: u32| {
        let store = &store;
        async move {
            store
                .inbox_after(bob, InboxSeq(after), limit)
                .await
                .expect("inbox")
                .into_iter()
                .map(|e| (e.seq, e.text.unwrap_or_default()))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        page(0, 3).await,
        vec![(1, "m0".into()), (2, "m1".into()), (3, "m2".into())]
    );
    let rest = page(3, 100).await;
    assert_eq!(
        rest.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        (4..=10).collect::<Vec<_>>()
    );
    assert_eq!(rest[6], (10, "m9".into()));
    assert_eq!(page(10, 5).await, vec![]);
    assert_eq!(page(50, 5).await, vec![]);
    assert_eq!(page(0, 0).await, vec![]);
    let other = store
        .inbox_after(UserId::generate(), InboxSeq(0), 10)
        .await
        .expect("inbox");
    assert!(other.is_empty());
}

/// A `message` event carries everything a client shows: sender, direct
/// recipient or group, content and times, in every holder's inbox.
pub async fn inbox_events_describe_messages<S: Store>(store: S) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let direct = send_direct(&store, alice, bob, "hi bob", at(5)).await;
    let expected = InboxEvent {
        seq: 1,
        kind: EventKind::Message,
        id: direct.to_string(),
        from: Some("alice".into()),
        to: Some("bob".into()),
        group: None,
        text: Some("hi bob".into()),
        payload: None,
        sent_at: at(5).0,
        at: at(5).0,
        receipt: None,
        recalled: false,
    };
    assert_eq!(inbox(&store, bob).await, vec![expected.clone()]);
    assert_eq!(inbox(&store, alice).await, vec![expected]);

    let g = group(&store, alice, &[bob]).await;
    let in_group = send_group(&store, bob, g, &[alice, bob], "hi all", at(9)).await;
    let expected = InboxEvent {
        seq: 2,
        kind: EventKind::Message,
        id: in_group.to_string(),
        from: Some("bob".into()),
        to: None,
        group: Some(g.to_string()),
        text: Some("hi all".into()),
        payload: None,
        sent_at: at(9).0,
        at: at(9).0,
        receipt: None,
        recalled: false,
    };
    assert_eq!(event(&store, alice, 2).await, expected);
    assert_eq!(event(&store, bob, 2).await, expected);
}

/// An app payload comes back as the same JSON value, with or without text.
pub async fn payload_json_round_trips<S: Store>(store: S) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let payload = json!({
        "type": "sticker",
        "id": 42,
        "scale": 1.5,
        "tags": ["cat", "ünïcödé", "🐈"],
        "nested": { "none": null, "ok": true, "list": [1, [2, {}]] },
    });
    for (i, with_text) in [(0, None), (1, Some("caption".to_owned()))] {
        let body = MessageBody::parse(with_text.clone(), Some(&payload), 10_000).expect("body");
        let msg = message(alice, Conversation::Direct(bob), body, at(i));
        append(&store, msg, &[alice, bob]).await;
        let got = event(&store, bob, i as u64 + 1).await;
        assert_eq!(got.payload.as_ref(), Some(&payload));
        assert_eq!(got.text, with_text);
    }
}

/// The head is the newest seq, 0 for an empty or unknown inbox.
pub async fn inbox_head_is_newest_seq<S: Store>(store: S) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    assert_eq!(head(&store, alice).await, 0);
    assert_eq!(head(&store, UserId::generate()).await, 0);
    for i in 0..3 {
        send_direct(&store, alice, bob, "x", at(i)).await;
    }
    send_direct(&store, alice, alice, "note to self", at(3)).await;
    assert_eq!((head(&store, alice).await, head(&store, bob).await), (4, 3));
}

/// `message` describes a stored message; unknown ids find nothing.
pub async fn message_records_round_trip<S: Store>(store: S) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let direct = send_direct(&store, alice, bob, "hi", at(3)).await;
    let record = store
        .message(direct)
        .await
        .expect("message")
        .expect("found");
    assert_eq!(record.id, direct);
    assert_eq!(record.sender, Some(alice));
    assert_eq!(record.conversation, Conversation::Direct(bob));
    assert_eq!(record.sent_at, at(3));
    assert_eq!(record.recalled_at, None);

    let g = group(&store, alice, &[bob]).await;
    let in_group = send_group(&store, bob, g, &[alice, bob], "hey", at(4)).await;
    let record = store
        .message(in_group)
        .await
        .expect("message")
        .expect("found");
    assert_eq!(record.sender, Some(bob));
    assert_eq!(record.conversation, Conversation::Group(g));

    let unknown = store.message(MessageId::generate()).await.expect("message");
    assert!(unknown.is_none());
}

/// Only users whose inbox got the message hold it.
pub async fn inbox_has_message_only_for_holders<S: Store>(store: S) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let carol = user(&store, "carol").await;
    let m = send_direct(&store, alice, bob, "hi", at(1)).await;
    for (who, holds) in [(alice, true), (bob, true), (carol, false)] {
        assert_eq!(store.inbox_has_message(who, m).await.expect("has"), holds);
    }
    let unknown = store.inbox_has_message(alice, MessageId::generate()).await;
    assert!(!unknown.expect("has"));
}

/// Recall drops the content everywhere it is read and appends a `recall`
/// event to each inbox holding the message (and no other).
pub async fn recall_drops_content_and_notifies_holders<S: Store>(store: S) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let carol = user(&store, "carol").await;
    let dave = user(&store, "dave").await;
    let g = group(&store, alice, &[bob, carol]).await;
    let body =
        MessageBody::parse(Some("secret".into()), Some(&json!({"k": "v"})), 1000).expect("body");
    let msg = message(alice, Conversation::Group(g), body, at(10));
    let (m, _) = append(&store, msg, &[alice, bob, carol]).await;
    send_direct(&store, bob, carol, "unrelated", at(20)).await;
    send_direct(&store, dave, dave, "unrelated", at(21)).await;

    let entries = store
        .recall_message(m, alice, at(100))
        .await
        .expect("recall");
    let entries: BTreeMap<UserId, InboxSeq> = entries.into_iter().collect();
    let expected: BTreeMap<UserId, InboxSeq> = [
        (alice, InboxSeq(2)),
        (bob, InboxSeq(3)),
        (carol, InboxSeq(3)),
    ]
    .into();
    assert_eq!(entries, expected);
    assert_eq!(head(&store, dave).await, 1, "not a holder");

    let record = store.message(m).await.expect("message").expect("found");
    assert_eq!(record.recalled_at, Some(at(100)));
    for user in [alice, bob, carol] {
        let original = event(&store, user, 1).await;
        assert_eq!(original.kind, EventKind::Message);
        assert_eq!(
            (original.text, original.payload),
            (None, None),
            "content dropped"
        );
        assert!(original.recalled);
    }
    let recall = event(&store, bob, 3).await;
    assert_eq!(
        recall,
        InboxEvent {
            seq: 3,
            kind: EventKind::Recall,
            id: m.to_string(),
            from: Some("alice".into()),
            to: None,
            group: Some(g.to_string()),
            text: None,
            payload: None,
            sent_at: at(10).0,
            at: at(100).0,
            receipt: None,
            recalled: true,
        }
    );
    let history = store
        .group_history(g, None, None, 10)
        .await
        .expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(
        (history[0].text.as_deref(), history[0].recalled),
        (None, true)
    );

    let unknown = store
        .recall_message(MessageId::generate(), alice, at(101))
        .await;
    assert!(
        matches!(unknown, Err(StoreError::NotFound(_))),
        "{unknown:?}"
    );
}

/// Recalling a recalled message appends nothing more.
pub async fn recall_twice_appends_once<S: Store>(store: S) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let m = send_direct(&store, alice, bob, "oops", at(1)).await;
    let first = store.recall_message(m, alice, at(2)).await.expect("recall");
    assert_eq!(first.len(), 2);
    let second = store.recall_message(m, alice, at(3)).await.expect("recall");
    assert!(second.is_empty(), "{second:?}");
    assert_eq!((head(&store, alice).await, head(&store, bob).await), (2, 2));
    let record = store.message(m).await.expect("message").expect("found");
    assert_eq!(
        record.recalled_at,
        Some(at(2)),
        "the first recall's time stays"
    );
}

/// Each (message, reader, kind) is recorded once, and its first recording
/// appends a `receipt` event to the sender's inbox only.
pub async fn receipts_reach_the_sender_once<S: Store>(store: S) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let carol = user(&store, "carol").await;
    let m = send_direct(&store, alice, bob, "hi", at(1)).await;

    let delivered = store
        .record_receipt(m, bob, ReceiptKind::Delivered, at(5))
        .await
        .expect("receipt");
    assert_eq!(delivered, Some((alice, InboxSeq(2))));
    assert_eq!(
        event(&store, alice, 2).await,
        InboxEvent {
            seq: 2,
            kind: EventKind::Receipt,
            id: m.to_string(),
            from: Some("bob".into()),
            to: Some("bob".into()),
            group: None,
            text: None,
            payload: None,
            sent_at: at(1).0,
            at: at(5).0,
            receipt: Some(ReceiptKind::Delivered),
            recalled: false,
        }
    );
    assert_eq!(
        head(&store, bob).await,
        1,
        "the reader's inbox is untouched"
    );

    let again = store
        .record_receipt(m, bob, ReceiptKind::Delivered, at(6))
        .await
        .expect("receipt");
    assert_eq!(again, None);
    assert_eq!(head(&store, alice).await, 2);

    let read = store
        .record_receipt(m, bob, ReceiptKind::Read, at(7))
        .await
        .expect("receipt");
    assert_eq!(read, Some((alice, InboxSeq(3))));
    assert_eq!(
        event(&store, alice, 3).await.receipt,
        Some(ReceiptKind::Read)
    );

    // Group messages: one receipt event per reader.
    let g = group(&store, alice, &[bob, carol]).await;
    let gm = send_group(&store, alice, g, &[alice, bob, carol], "all", at(10)).await;
    for (reader, seq) in [(bob, 5), (carol, 6)] {
        let r = store
            .record_receipt(gm, reader, ReceiptKind::Read, at(11))
            .await
            .expect("receipt");
        assert_eq!(r, Some((alice, InboxSeq(seq))));
    }
    let from: Vec<Option<String>> = inbox(&store, alice).await[4..]
        .iter()
        .map(|e| e.from.clone())
        .collect();
    assert_eq!(from, vec![Some("bob".into()), Some("carol".into())]);

    let unknown = store
        .record_receipt(MessageId::generate(), bob, ReceiptKind::Read, at(12))
        .await;
    assert!(
        matches!(unknown, Err(StoreError::NotFound(_))),
        "{unknown:?}"
    );
}
