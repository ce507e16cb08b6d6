//! Third-party sharing: the registry, consent, the outbox and the ledger.

use oriole_core::domain::UserId;
use oriole_core::sharing::{
    CategorySet, DeliveryId, DeliveryUrl, NewDelivery, NewRecipient, PseudonymKey, RecipientId,
    RecipientName, RecipientText, SharingChange, SigningSecret, WebhookKind,
};
use oriole_core::store::{Appended, Conversation, DirectTarget, NewMessage, Store, StoreError};

use crate::fixtures::{at, key, message as fixture_message, text, user};

fn recipient(name: &str, bot: Option<UserId>) -> NewRecipient {
    NewRecipient {
        id: RecipientId::generate(),
        name: RecipientName::parse(name).expect("name"),
        contact: RecipientText::parse("contact", "ops@bot.example").expect("text"),
        purpose: RecipientText::parse("purpose", "answers questions").expect("text"),
        categories: CategorySet::parse_list("message.text,message.metadata").expect("set"),
        legal_basis: RecipientText::parse("legal basis", "consent").expect("text"),
        retention: RecipientText::parse("retention", "30 days").expect("text"),
        url: DeliveryUrl::parse("https://bot.example/hook").expect("url"),
        secret: SigningSecret::generate(),
        pseudonym_key: PseudonymKey::generate(),
        bot,
        created_at: at(5),
    }
}

fn message(r: &NewRecipient, user: UserId, event: &str, at_ms: i64) -> NewDelivery {
    NewDelivery {
        id: DeliveryId::for_event(r.id, WebhookKind::Message, event),
        recipient: r.id,
        user: Some(user),
        kind: WebhookKind::Message,
        categories: r.categories.names(),
        body: format!(r#"{{"text":"{event}"}}"#),
        created_at: at(at_ms),
    }
}

async fn grant<S: Store>(
    store: &S,
    r: &NewRecipient,
    user: UserId,
    granted: bool,
    at_ms: i64,
) -> u64 {
    store
        .record_sharing_change(
            SharingChange {
                user,
                recipient: r.id,
                granted,
                pseudonym: r.pseudonym_key.pseudonym(user.0.as_bytes()),
                at: at(at_ms),
            },
            None,
        )
        .await
        .expect("consent change")
}

/// A recipient reads back whole (secret and pseudonym key included) by
/// name, by bot and in the list; a second one with the name conflicts.
pub async fn sharing_recipients_round_trip<S: Store>(store: S) {
    let bot = user(&store, "helper").await;
    let r = recipient("assistant", Some(bot));
    store.create_recipient(r.clone()).await.expect("create");
    let same = |found: &NewRecipient| {
        assert_eq!(found.id, r.id);
        assert_eq!(found.name, r.name);
        assert_eq!(found.categories, r.categories);
        assert_eq!(found.url, r.url);
        assert_eq!(found.secret.expose(), r.secret.expose());
        assert_eq!(found.pseudonym_key.as_bytes(), r.pseudonym_key.as_bytes());
        assert_eq!(found.bot, Some(bot));
    };
    same(
        &store
            .recipient_by_name(&r.name)
            .await
            .expect("read")
            .expect("found"),
    );
    same(
        &store
            .recipient_by_bot(bot)
            .await
            .expect("read")
            .expect("found"),
    );
    let all = store.recipients().await.expect("list");
    assert_eq!(all.len(), 1);
    same(&all[0]);
    let again = store.create_recipient(recipient("assistant", None)).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let unknown = RecipientName::parse("nobody").expect("name");
    assert!(store
        .recipient_by_name(&unknown)
        .await
        .expect("read")
        .is_none());
}

/// A send's addressee: the id by name, flagged as a bot only once a
/// recipient answers as it; an unknown name is `None`.
pub async fn sharing_direct_target_flags_bots<S: Store>(store: S) {
    let alice = user(&store, "alice").await;
    let bot = user(&store, "helper").await;
    let name = |n: &str| oriole_core::domain::Username::parse(n).expect("name");
    let target = |found: Option<DirectTarget>| found.expect("found");
    let plain = target(store.direct_target(&name("alice")).await.expect("read"));
    assert_eq!(
        plain,
        DirectTarget {
            id: alice,
            bot: false
        }
    );
    let before = target(store.direct_target(&name("helper")).await.expect("read"));
    assert_eq!(
        before,
        DirectTarget {
            id: bot,
            bot: false
        }
    );
    store
        .create_recipient(recipient("assistant", Some(bot)))
        .await
        .expect("create");
    let after = target(store.direct_target(&name("helper")).await.expect("read"));
    assert_eq!(after, DirectTarget { id: bot, bot: true });
    let alice_again = target(store.direct_target(&name("alice")).await.expect("read"));
    assert!(!alice_again.bot);
    assert!(store
        .direct_target(&name("nobody"))
        .await
        .expect("read")
        .is_none());
}

/// A delivery is queued once per id, comes back due with its body, and on
/// completion moves to the user's ledger; it cannot be queued again.
pub async fn sharing_outbox_is_idempotent_and_completes_into_the_ledger<S: Store>(store: S) {
    let alice = user(&store, "alice").await;
    let r = recipient("assistant", None);
    store.create_recipient(r.clone()).await.expect("create");
    grant(&store, &r, alice, true, 10).await;
    let d = message(&r, alice, "hello", 20);
    assert!(store.enqueue_delivery(d.clone()).await.expect("queue"));
    assert!(!store
        .enqueue_delivery(d.clone())
        .await
        .expect("queue again"));
    let due = store.due_deliveries(at(20), 10).await.expect("due");
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].delivery.id, d.id);
    assert_eq!(due[0].delivery.body, d.body);
    assert_eq!(due[0].attempts, 0);
    assert!(store
        .complete_delivery(d.id, at(30))
        .await
        .expect("complete"));
    assert!(!store.complete_delivery(d.id, at(31)).await.expect("twice"));
    assert!(!store
        .enqueue_delivery(d.clone())
        .await
        .expect("after delivery"));
    assert!(store
        .due_deliveries(at(40), 10)
        .await
        .expect("due")
        .is_empty());
    let ledger = store.sharing_ledger(alice).await.expect("ledger");
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].delivery, d.id);
    assert_eq!(ledger[0].recipient, r.name);
    assert_eq!(ledger[0].categories, r.categories.names());
    assert_eq!(ledger[0].delivered_at, at(30));
}

/// Revoking drops the user's queued messages to that recipient (not
/// another user's), queues the erasure request, ends the pseudonym's
/// resolution and keeps both changes in the history.
pub async fn sharing_revocation_drops_queued_messages<S: Store>(store: S) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let r = recipient("assistant", None);
    store.create_recipient(r.clone()).await.expect("create");
    grant(&store, &r, alice, true, 10).await;
    grant(&store, &r, bob, true, 10).await;
    let pseudonym = r.pseudonym_key.pseudonym(alice.0.as_bytes());
    assert_eq!(
        store
            .user_by_pseudonym(r.id, &pseudonym)
            .await
            .expect("resolve"),
        Some(alice)
    );
    for (who, event) in [(alice, "a1"), (alice, "a2"), (bob, "b1")] {
        store
            .enqueue_delivery(message(&r, who, event, 20))
            .await
            .expect("queue");
    }
    let erasure = NewDelivery {
        id: DeliveryId::for_event(r.id, WebhookKind::ErasureRequest, "alice"),
        recipient: r.id,
        user: Some(alice),
        kind: WebhookKind::ErasureRequest,
        categories: Vec::new(),
        body: r#"{"type":"erasure_request"}"#.into(),
        created_at: at(30),
    };
    let dropped = store
        .record_sharing_change(
            SharingChange {
                user: alice,
                recipient: r.id,
                granted: false,
                pseudonym: pseudonym.clone(),
                at: at(30),
            },
            Some(erasure.clone()),
        )
        .await
        .expect("revoke");
    assert_eq!(dropped, 2);
    let due = store.due_deliveries(at(40), 10).await.expect("due");
    let mut kinds: Vec<_> = due
        .iter()
        .map(|d| (d.delivery.user, d.delivery.kind))
        .collect();
    kinds.sort_by_key(|(u, _)| *u);
    let mut expected = vec![
        (Some(bob), WebhookKind::Message),
        (Some(alice), WebhookKind::ErasureRequest),
    ];
    expected.sort_by_key(|(u, _)| *u);
    assert_eq!(kinds, expected);
    assert!(store
        .sharing_grant(alice, r.id)
        .await
        .expect("grant")
        .is_none());
    assert!(store
        .user_by_pseudonym(r.id, &pseudonym)
        .await
        .expect("resolve")
        .is_none());
    let history = store.sharing_history(alice).await.expect("history");
    let flags: Vec<_> = history.iter().map(|(_, g, _)| *g).collect();
    assert_eq!(flags, [true, false]);
}

/// A failed attempt is due again only at its next time; a dead letter is
/// never due and is listed.
pub async fn sharing_retries_and_dead_letters<S: Store>(store: S) {
    let alice = user(&store, "alice").await;
    let r = recipient("assistant", None);
    store.create_recipient(r.clone()).await.expect("create");
    grant(&store, &r, alice, true, 10).await;
    let d = message(&r, alice, "hello", 20);
    store.enqueue_delivery(d.clone()).await.expect("queue");
    store.retry_delivery(d.id, 1, at(100)).await.expect("retry");
    assert!(store
        .due_deliveries(at(99), 10)
        .await
        .expect("due")
        .is_empty());
    let due = store.due_deliveries(at(100), 10).await.expect("due");
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].attempts, 1);
    assert_eq!(
        store.next_delivery_due().await.expect("next"),
        Some(at(100))
    );
    store.dead_letter(d.id, 2, at(110)).await.expect("dead");
    assert!(store
        .due_deliveries(at(1_000), 10)
        .await
        .expect("due")
        .is_empty());
    assert!(!store.delivery_pending(d.id).await.expect("pending"));
    let dead = store.dead_letters().await.expect("dead letters");
    assert_eq!(dead, vec![(d.id, r.name.clone(), 2)]);
}

/// A message to a bot is stored with its delivery in one transaction: both
/// or neither (an append that fails queues nothing), once per idempotency
/// key, and not at all for a user whose grant was revoked first. Many such
/// appends at once (one commit batch) each queue theirs.
pub async fn sharing_message_and_delivery_commit_together<S: Store>(store: S) {
    let store = std::sync::Arc::new(store);
    let alice = user(&*store, "alice").await;
    let bot = user(&*store, "helper").await;
    let r = recipient("assistant", Some(bot));
    store.create_recipient(r.clone()).await.expect("create");
    grant(&*store, &r, alice, true, 10).await;
    let to_bot = |key_raw: Option<&str>, at_ms: i64| NewMessage {
        idempotency_key: key_raw.map(key),
        ..fixture_message(alice, Conversation::Direct(bot), text("hi"), at(at_ms))
    };
    let first = to_bot(Some("k1"), 20);
    let d1 = message(&r, alice, &first.id.to_string(), 20);
    let outcome = store
        .append_shared_message(first.clone(), &[alice], d1.clone())
        .await
        .expect("append");
    assert!(matches!(outcome, Appended::New { .. }), "{outcome:?}");
    assert!(store.message(first.id).await.expect("read").is_some());
    assert_eq!(due_ids(&*store).await, vec![d1.id]);

    // A retried send: nothing new, nor a second delivery.
    let retry = to_bot(Some("k1"), 21);
    let d_retry = message(&r, alice, &retry.id.to_string(), 21);
    let outcome = store
        .append_shared_message(retry, &[alice], d_retry)
        .await
        .expect("append");
    assert!(matches!(outcome, Appended::Duplicate { .. }), "{outcome:?}");
    assert_eq!(due_ids(&*store).await, vec![d1.id]);

    // A failing append (an unknown inbox) queues nothing.
    let ghost = UserId::generate();
    let failing = to_bot(None, 22);
    let d_fail = message(&r, alice, &failing.id.to_string(), 22);
    let outcome = store
        .append_shared_message(failing.clone(), &[alice, ghost], d_fail)
        .await;
    assert!(outcome.is_err(), "{outcome:?}");
    assert!(store.message(failing.id).await.expect("read").is_none());
    assert_eq!(due_ids(&*store).await, vec![d1.id]);

    // Concurrent appends, committed together: each queues its delivery.
    let mut expected = vec![d1.id];
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let msg = to_bot(None, 30 + i);
        let d = message(&r, alice, &msg.id.to_string(), 30 + i);
        expected.push(d.id);
        let store = std::sync::Arc::clone(&store);
        tasks.spawn(async move { store.append_shared_message(msg, &[alice], d).await });
    }
    while let Some(outcome) = tasks.join_next().await {
        let outcome = outcome.expect("task");
        assert!(matches!(outcome, Ok(Appended::New { .. })), "{outcome:?}");
    }
    expected.sort_by_key(ToString::to_string);
    assert_eq!(due_ids(&*store).await, expected);

    // After a revocation the message is still stored, but not shared.
    grant(&*store, &r, alice, false, 50).await;
    let late = to_bot(None, 60);
    let d_late = message(&r, alice, &late.id.to_string(), 60);
    let outcome = store
        .append_shared_message(late.clone(), &[alice], d_late.clone())
        .await
        .expect("append");
    assert!(matches!(outcome, Appended::New { .. }), "{outcome:?}");
    assert!(!store.delivery_pending(d_late.id).await.expect("pending"));
}

/// Every pending delivery's id, in a stable order.
async fn due_ids<S: Store>(store: &S) -> Vec<DeliveryId> {
    let mut ids: Vec<DeliveryId> = store
        .due_deliveries(at(1_000_000), 100)
        .await
        .expect("due")
        .into_iter()
        .map(|d| d.delivery.id)
        .collect();
    ids.sort_by_key(ToString::to_string);
    ids
}
