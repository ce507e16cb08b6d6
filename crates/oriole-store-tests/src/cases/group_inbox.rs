//! Group messages in users' inboxes, as a reader sees them whatever way a
//! backend writes them: every inbox counts 1, 2, 3... with no gap, the seq
//! an append hands out is where the message sits in that inbox, and
//! membership changes, recalls, receipts, duplicate sends and concurrent
//! writers all keep it so. Most cases check heads, `inbox_has_message`
//! and counts before anything reads an inbox, since a backend may write a
//! member's copies of group messages only when the inbox is read.
//!
//! Group sends list the group's members as the store has them at send
//! time (as the service does), the sender among them.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use oriole_core::domain::{GroupId, InboxSeq, MessageId, UserId};
use oriole_core::rights::MessageCounts;
use oriole_core::store::{Appended, Conversation, NewMessage, Store};
use oriole_proto::{EventKind, GroupRole, InboxEvent, ReceiptKind};
use tokio::task::JoinSet;

use crate::fixtures::{append, at, group, head, inbox, key, message, text, user};

/// One inbox entry as the ledger expects it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub kind: EventKind,
    /// The message the event is about.
    pub id: String,
    /// The message's group, for a group message.
    pub group: Option<String>,
}

impl LedgerEntry {
    fn of(event: &InboxEvent) -> LedgerEntry {
        LedgerEntry {
            kind: event.kind,
            id: event.id.clone(),
            group: event.group.clone(),
        }
    }
}

/// What every tracked inbox must hold, built only from what the store's
/// writes returned: each returned seq must be the next one of its user,
/// and the inbox read later must hold exactly these entries at these seqs.
#[derive(Debug, Default, Clone)]
pub struct InboxLedger {
    inboxes: BTreeMap<UserId, Vec<LedgerEntry>>,
}

impl InboxLedger {
    /// A ledger tracking `users`, whose inboxes are empty.
    pub fn new(users: &[UserId]) -> InboxLedger {
        InboxLedger {
            inboxes: users.iter().map(|u| (*u, Vec::new())).collect(),
        }
    }

    /// How many entries `user`'s inbox holds.
    pub fn len(&self, user: UserId) -> u64 {
        self.inboxes.get(&user).map_or(0, |e| e.len() as u64)
    }

    /// The entries of `user`'s inbox, seq 1 first.
    pub fn entries(&self, user: UserId) -> &[LedgerEntry] {
        self.inboxes.get(&user).map_or(&[], Vec::as_slice)
    }

    /// One event the store says it appended to `user`'s inbox at `seq`.
    pub fn push(
        &mut self,
        user: UserId,
        seq: InboxSeq,
        kind: EventKind,
        id: MessageId,
        group: Option<GroupId>,
        what: &str,
    ) {
        let inbox = self.inboxes.entry(user).or_default();
        assert_eq!(
            seq,
            InboxSeq(inbox.len() as u64 + 1),
            "{what}: the next seq of {user}"
        );
        inbox.push(LedgerEntry {
            kind,
            id: id.to_string(),
            group: group.map(|g| g.to_string()),
        });
    }

    /// A new message's entries, as `append_message` returned them: one per
    /// distinct recipient, each at its user's next seq.
    pub fn appended(
        &mut self,
        id: MessageId,
        group: Option<GroupId>,
        recipients: &[UserId],
        seqs: &[(UserId, InboxSeq)],
        what: &str,
    ) {
        let expected: BTreeSet<UserId> = recipients.iter().copied().collect();
        let got: BTreeSet<UserId> = seqs.iter().map(|(u, _)| *u).collect();
        assert_eq!(got, expected, "{what}: one entry per recipient");
        assert_eq!(seqs.len(), expected.len(), "{what}: each recipient once");
        for &(user, seq) in seqs {
            self.push(user, seq, EventKind::Message, id, group, what);
        }
    }

    /// Every tracked head equals the number of entries. Reads no inbox.
    pub async fn check_heads<S: Store>(&self, store: &S, when: &str) {
        for (user, entries) in &self.inboxes {
            assert_eq!(
                head(store, *user).await,
                entries.len() as u64,
                "{when}: head of {user}"
            );
        }
    }

    /// One user's whole inbox: seqs 1..=n and exactly the expected entries.
    pub async fn check_inbox<S: Store>(&self, store: &S, user: UserId, when: &str) {
        let events = inbox(store, user).await;
        let n = self.len(user);
        let got_seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(
            got_seqs,
            (1..=n).collect::<Vec<_>>(),
            "{when}: seqs of {user}"
        );
        let got: Vec<LedgerEntry> = events.iter().map(LedgerEntry::of).collect();
        assert_eq!(got, self.entries(user), "{when}: inbox of {user}");
    }

    /// Every tracked inbox, in full.
    pub async fn check_inboxes<S: Store>(&self, store: &S, when: &str) {
        for user in self.inboxes.keys() {
            self.check_inbox(store, *user, when).await;
        }
    }

    /// `inbox_after(user, after, limit)` returns exactly the expected slice.
    pub async fn check_page<S: Store>(
        &self,
        store: &S,
        user: UserId,
        after: u64,
        limit: u32,
        when: &str,
    ) {
        let events = store
            .inbox_after(user, InboxSeq(after), limit)
            .await
            .expect("inbox");
        let all = self.entries(user);
        let from = (after as usize).min(all.len());
        let to = (from + limit as usize).min(all.len());
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        let expected: Vec<u64> = (from as u64 + 1..=to as u64).collect();
        assert_eq!(seqs, expected, "{when}: page after {after} of {user}");
        let got: Vec<LedgerEntry> = events.iter().map(LedgerEntry::of).collect();
        assert_eq!(got, &all[from..to], "{when}: page after {after} of {user}");
    }
}

/// The group's members as the store has them now.
pub async fn roster<S: Store>(store: &S, g: GroupId) -> Vec<UserId> {
    store
        .members(g)
        .await
        .expect("members")
        .into_iter()
        .map(|m| m.user_id)
        .collect()
}

/// Send a group message from `from` to the group's current members and
/// record what the append returned in the ledger.
pub async fn ledger_group_send<S: Store>(
    store: &S,
    ledger: &mut InboxLedger,
    from: UserId,
    g: GroupId,
    body: &str,
    ms: i64,
) -> MessageId {
    let members = roster(store, g).await;
    assert!(members.contains(&from), "{body}: the sender is a member");
    let msg = message(from, Conversation::Group(g), text(body), at(ms));
    let (id, seqs) = append(store, msg, &members).await;
    ledger.appended(id, Some(g), &members, &seqs, body);
    id
}

/// Send a direct message (to oneself: one entry) and record it.
pub async fn ledger_direct_send<S: Store>(
    store: &S,
    ledger: &mut InboxLedger,
    from: UserId,
    to: UserId,
    body: &str,
    ms: i64,
) -> MessageId {
    let recipients = if from == to {
        vec![from]
    } else {
        vec![from, to]
    };
    let msg = message(from, Conversation::Direct(to), text(body), at(ms));
    let (id, seqs) = append(store, msg, &recipients).await;
    ledger.appended(id, None, &recipients, &seqs, body);
    id
}

async fn add<S: Store>(store: &S, g: GroupId, who: UserId, ms: i64) {
    store
        .add_member(g, who, GroupRole::Member, at(ms))
        .await
        .expect("add member");
}

async fn remove<S: Store>(store: &S, g: GroupId, who: UserId) {
    assert!(store.remove_member(g, who).await.expect("remove member"));
}

async fn holds<S: Store>(store: &S, who: UserId, m: MessageId) -> bool {
    store.inbox_has_message(who, m).await.expect("has message")
}

/// A fixed, irregular schedule of sends: runs of group messages, runs
/// of direct ones, alternations, and notes to oneself.
struct Script {
    users: [UserId; 4],
    /// Each group with the members who take turns sending to it.
    groups: [(GroupId, [UserId; 3]); 2],
}

impl Script {
    async fn send<S: Store>(&self, store: &S, ledger: &mut InboxLedger, i: usize) {
        let body = format!("m{i}");
        let ms = 100 + i as i64;
        let users = &self.users;
        match (i * i + i / 2) % 11 {
            pick @ 0..=6 => {
                let (g, senders) = self.groups[usize::from(pick > 3)];
                ledger_group_send(store, ledger, senders[i % 3], g, &body, ms).await;
            }
            7 => {
                let from = users[i % 4];
                ledger_direct_send(store, ledger, from, from, &body, ms).await;
            }
            _ => {
                let from = users[i % 4];
                let to = users[(i / 4 + 1 + i) % 4];
                ledger_direct_send(store, ledger, from, to, &body, ms).await;
            }
        }
    }
}

/// Group and direct messages interleaved to the same users (one of them
/// in two groups, one writing to itself) keep every inbox gap-free and
/// in send order; each returned seq is where the message sits in that
/// inbox. Heads are right before any inbox is read; a partial read of a
/// few inboxes in the middle changes nothing about later seqs; pages
/// (`after`, `limit`) of an inbox never read before are exact.
pub async fn group_and_direct_seqs_interleave<S: Store>(store: S) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let carol = user(&store, "carol").await;
    let dave = user(&store, "dave").await;
    let users = [alice, bob, carol, dave];
    let mut ledger = InboxLedger::new(&users);
    // carol is in both groups; dave only in the second.
    let g1 = group(&store, alice, &[bob, carol]).await;
    let g2 = group(&store, dave, &[carol]).await;
    let script = Script {
        users,
        groups: [(g1, [alice, bob, carol]), (g2, [dave, carol, dave])],
    };

    // Back-to-back group messages, then a direct message, before anything
    // else: the direct one takes the seq after the group ones.
    for body in ["g1-a", "g1-b"] {
        ledger_group_send(&store, &mut ledger, bob, g1, body, 0).await;
    }
    ledger_direct_send(&store, &mut ledger, dave, carol, "to carol", 0).await;
    ledger_group_send(&store, &mut ledger, carol, g2, "g2-a", 0).await;
    assert_eq!(ledger.len(carol), 4);
    for i in 0..40 {
        script.send(&store, &mut ledger, i).await;
    }
    ledger.check_heads(&store, "before any read").await;
    for who in [alice, carol] {
        assert!(ledger.len(who) > 4, "enough to page through");
        ledger.check_page(&store, who, 2, 3, "first read").await;
    }
    ledger.check_page(&store, dave, 0, 1, "first read").await;
    ledger.check_inbox(&store, bob, "bob's first read").await;

    for i in 40..80 {
        script.send(&store, &mut ledger, i).await;
    }
    ledger.check_heads(&store, "after some reads").await;
    for who in users {
        let n = ledger.len(who);
        ledger
            .check_page(&store, who, n.saturating_sub(4), 2, "tail")
            .await;
        ledger.check_page(&store, who, n, 10, "past the head").await;
    }
    ledger.check_inboxes(&store, "end").await;
    for who in users {
        assert!(ledger.len(who) >= 20, "{who} got a fair share");
    }
}

/// A member added after some group messages gets only later ones; a
/// removed member keeps what they had, gets nothing more from the group,
/// and their next direct message takes their next seq; re-added, they get
/// the group's messages from then on only. Deleting the group leaves every
/// inbox intact and later seqs continue after it.
pub async fn group_membership_changes_keep_inboxes<S: Store>(store: S) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let carol = user(&store, "carol").await;
    let dave = user(&store, "dave").await;
    let users = [alice, bob, carol, dave];
    let mut ledger = InboxLedger::new(&users);
    let g = group(&store, alice, &[bob, carol]).await;
    let l = &mut ledger;

    let m1 = ledger_group_send(&store, l, alice, g, "m1", 1).await;
    ledger_direct_send(&store, l, bob, dave, "hello dave", 2).await;
    let m2 = ledger_group_send(&store, l, carol, g, "m2", 3).await;
    add(&store, g, dave, 4).await;
    let m3 = ledger_group_send(&store, l, dave, g, "m3", 5).await;
    assert_eq!(l.len(dave), 2, "the direct message, then only m3");
    assert_eq!(l.entries(dave)[1].id, m3.to_string());
    remove(&store, g, carol).await;
    let m4 = ledger_group_send(&store, l, bob, g, "m4", 6).await;
    let m5 = ledger_group_send(&store, l, alice, g, "m5", 7).await;
    assert_eq!(
        l.len(carol),
        3,
        "m1, m2, m3 and nothing more from the group"
    );
    // carol's next entry comes right after her last group message.
    ledger_direct_send(&store, l, dave, carol, "carol, you left", 8).await;
    ledger.check_heads(&store, "before any read").await;
    for (who, m, held) in [
        (carol, m3, true),
        (carol, m4, false),
        (dave, m2, false),
        (dave, m4, true),
        (bob, m1, true),
    ] {
        assert_eq!(holds(&store, who, m).await, held, "{who} holds {m}");
    }

    // Re-added: the messages she missed stay missed.
    add(&store, g, carol, 9).await;
    let l = &mut ledger;
    let m6 = ledger_group_send(&store, l, carol, g, "m6", 10).await;
    ledger_direct_send(&store, l, alice, carol, "welcome back", 11).await;
    assert!(!holds(&store, carol, m5).await);
    assert!(holds(&store, carol, m6).await);
    ledger.check_heads(&store, "after the re-add").await;
    ledger.check_inbox(&store, carol, "after the re-add").await;

    // Unread group messages, then the group goes.
    let l = &mut ledger;
    ledger_group_send(&store, l, bob, g, "m7", 12).await;
    ledger_group_send(&store, l, dave, g, "m8", 13).await;
    store.delete_group(g).await.expect("delete group");
    ledger.check_heads(&store, "after the delete").await;
    for who in users {
        let n = ledger.len(who);
        ledger
            .check_page(&store, who, n - 1, 10, "after the delete")
            .await;
    }
    let l = &mut ledger;
    for (i, (from, to)) in [(alice, bob), (carol, dave), (dave, dave), (bob, carol)]
        .into_iter()
        .enumerate()
    {
        ledger_direct_send(&store, l, from, to, "after the group", 20 + i as i64).await;
    }
    ledger.check_heads(&store, "end").await;
    ledger.check_inboxes(&store, "end").await;
    assert_eq!(
        ledger.entries(alice)[..3]
            .iter()
            .map(|e| e.id.clone())
            .collect::<Vec<_>>(),
        vec![m1.to_string(), m2.to_string(), m3.to_string()]
    );
}

/// Recalling a group message appends a `recall` event, at each holder's
/// next seq, to the inbox of every member at send time (the sender
/// included), among them a member who has left since, and not to one who
/// joined after it, even when nothing read any inbox before the recall.
/// After the group is deleted, a recall still reaches the holders.
pub async fn group_recall_reaches_members_at_send<S: Store>(store: S) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let carol = user(&store, "carol").await;
    let dave = user(&store, "dave").await;
    let users = [alice, bob, carol, dave];
    let mut ledger = InboxLedger::new(&users);
    let g = group(&store, alice, &[bob, carol]).await;
    let l = &mut ledger;

    let m = ledger_group_send(&store, l, bob, g, "oops", 10).await;
    add(&store, g, dave, 11).await;
    remove(&store, g, carol).await;
    let later = ledger_group_send(&store, l, alice, g, "later", 12).await;
    ledger_direct_send(&store, l, carol, bob, "direct", 13).await;
    assert!(holds(&store, carol, m).await, "carol left after m");
    assert!(!holds(&store, dave, m).await, "dave joined after m");

    let entries = store.recall_message(m, bob, at(20)).await.expect("recall");
    let got: BTreeMap<UserId, InboxSeq> = entries.iter().copied().collect();
    assert_eq!(entries.len(), got.len(), "one recall per holder");
    let expected: BTreeMap<UserId, InboxSeq> = [
        (alice, InboxSeq(3)),
        (bob, InboxSeq(4)),
        (carol, InboxSeq(3)),
    ]
    .into();
    assert_eq!(got, expected);
    for (who, seq) in entries {
        ledger.push(who, seq, EventKind::Recall, m, Some(g), "recall");
    }
    ledger.check_heads(&store, "after the recall").await;
    ledger.check_inboxes(&store, "after the recall").await;
    for who in [alice, bob, carol] {
        let events = inbox(&store, who).await;
        let original = events
            .iter()
            .find(|e| e.kind == EventKind::Message && e.id == m.to_string())
            .expect("the original");
        assert!(original.recalled, "{who}");
        assert_eq!(original.text, None, "{who}: content dropped");
        let recall = events.last().expect("the recall");
        assert_eq!(
            (recall.kind, recall.id.clone(), recall.from.as_deref()),
            (EventKind::Recall, m.to_string(), Some("bob")),
        );
        assert_eq!(recall.at, at(20).0);
    }

    // A recall after the group is gone, with nothing read since.
    let l = &mut ledger;
    ledger_direct_send(&store, l, dave, alice, "between", 21).await;
    store.delete_group(g).await.expect("delete group");
    let entries = store
        .recall_message(later, alice, at(30))
        .await
        .expect("recall");
    let got: BTreeSet<UserId> = entries.iter().map(|(u, _)| *u).collect();
    assert_eq!(
        got,
        [alice, bob, dave].into(),
        "the members when it was sent"
    );
    for (who, seq) in entries {
        ledger.push(who, seq, EventKind::Recall, later, Some(g), "recall");
    }
    ledger.check_heads(&store, "end").await;
    ledger.check_inboxes(&store, "end").await;
}

/// A receipt on a group message appends a `receipt` event to the sender's
/// inbox at the sender's next seq, after the sender's own copies of group
/// messages sent before it, even when nothing read the inbox before; the
/// reader's inbox gets nothing.
pub async fn group_receipts_reach_the_sender_in_order<S: Store>(store: S) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let carol = user(&store, "carol").await;
    let users = [alice, bob, carol];
    let mut ledger = InboxLedger::new(&users);
    let g = group(&store, alice, &[bob, carol]).await;
    let l = &mut ledger;

    let m1 = ledger_group_send(&store, l, alice, g, "m1", 1).await;
    let m2 = ledger_group_send(&store, l, alice, g, "m2", 2).await;
    ledger_group_send(&store, l, bob, g, "m3", 3).await;
    for (reader, m, kind, seq) in [
        (bob, m1, ReceiptKind::Delivered, 4),
        (carol, m2, ReceiptKind::Read, 5),
        (bob, m1, ReceiptKind::Read, 6),
    ] {
        let got = store
            .record_receipt(m, reader, kind, at(10 + seq as i64))
            .await
            .expect("receipt");
        assert_eq!(got, Some((alice, InboxSeq(seq))), "{kind:?} by {reader}");
        ledger.push(
            alice,
            InboxSeq(seq),
            EventKind::Receipt,
            m,
            Some(g),
            "receipt",
        );
    }
    let again = store
        .record_receipt(m1, bob, ReceiptKind::Read, at(30))
        .await
        .expect("receipt");
    assert_eq!(again, None, "recorded once");
    ledger.check_heads(&store, "after the receipts").await;

    // A group message after the receipts goes after them, for everyone.
    let l = &mut ledger;
    let m4 = ledger_group_send(&store, l, carol, g, "m4", 40).await;
    assert_eq!(l.len(alice), 7);
    let got = store
        .record_receipt(m4, alice, ReceiptKind::Read, at(41))
        .await
        .expect("receipt");
    assert_eq!(got, Some((carol, InboxSeq(5))));
    ledger.push(
        carol,
        InboxSeq(5),
        EventKind::Receipt,
        m4,
        Some(g),
        "receipt",
    );
    ledger.check_heads(&store, "end").await;
    ledger.check_inboxes(&store, "end").await;

    let events = inbox(&store, alice).await;
    let receipts: Vec<(Option<String>, Option<ReceiptKind>)> = events[3..6]
        .iter()
        .map(|e| (e.from.clone(), e.receipt))
        .collect();
    assert_eq!(
        receipts,
        vec![
            (Some("bob".into()), Some(ReceiptKind::Delivered)),
            (Some("carol".into()), Some(ReceiptKind::Read)),
            (Some("bob".into()), Some(ReceiptKind::Read)),
        ]
    );
}

/// A group send repeated with the same sender and idempotency key returns
/// `Duplicate` with the original's id, time and the sender's seq of the
/// original (not 0), before and after any inbox read, and after the
/// sender left the group; it writes nothing.
pub async fn group_duplicate_send_describes_the_original<S: Store>(store: S) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let carol = user(&store, "carol").await;
    let users = [alice, bob, carol];
    let mut ledger = InboxLedger::new(&users);
    let g = group(&store, alice, &[bob, carol]).await;
    let l = &mut ledger;

    ledger_direct_send(&store, l, bob, carol, "first", 1).await;
    ledger_group_send(&store, l, alice, g, "before", 2).await;
    let keyed = |body: &str, ms: i64| NewMessage {
        idempotency_key: Some(key("group-retry")),
        ..message(bob, Conversation::Group(g), text(body), at(ms))
    };
    let members = roster(&store, g).await;
    let (original, seqs) = append(&store, keyed("once", 3), &members).await;
    ledger.appended(original, Some(g), &members, &seqs, "keyed");
    let bob_seq = InboxSeq(ledger.len(bob));
    assert_eq!(bob_seq, InboxSeq(3));
    let l = &mut ledger;
    ledger_group_send(&store, l, carol, g, "after", 4).await;
    ledger_direct_send(&store, l, alice, bob, "direct", 5).await;

    let expected = Appended::Duplicate {
        message_id: original,
        sent_at: at(3),
        sender_seq: bob_seq,
    };
    let retry = keyed("once, again", 6);
    let retry_id = retry.id;
    let outcome = store.append_message(retry, &members).await.expect("append");
    assert_eq!(outcome, expected, "before any read");
    assert!(store.message(retry_id).await.expect("message").is_none());
    ledger.check_heads(&store, "after the retry").await;
    ledger.check_inboxes(&store, "after the retry").await;

    let outcome = store
        .append_message(keyed("and again", 7), &members)
        .await
        .expect("append");
    assert_eq!(outcome, expected, "after reads");

    remove(&store, g, bob).await;
    let outcome = store
        .append_message(keyed("after leaving", 8), &roster(&store, g).await)
        .await
        .expect("append");
    assert_eq!(outcome, expected, "after the sender left");

    // The same key from another sender is another message.
    let l = &mut ledger;
    let other = NewMessage {
        idempotency_key: Some(key("group-retry")),
        ..message(carol, Conversation::Group(g), text("mine"), at(9))
    };
    let members = roster(&store, g).await;
    let (other_id, seqs) = append(&store, other, &members).await;
    l.appended(other_id, Some(g), &members, &seqs, "other sender");
    assert_ne!(other_id, original);
    ledger.check_heads(&store, "end").await;
    ledger.check_inboxes(&store, "end").await;
}

/// `inbox_has_message` is true for every member at send time (the sender
/// included) with no inbox read before, stays true after they leave and
/// after the group is deleted, and is false for a later joiner and for an
/// outsider.
pub async fn group_inbox_has_message_for_members_at_send<S: Store>(store: S) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let carol = user(&store, "carol").await;
    let dave = user(&store, "dave").await;
    let eve = user(&store, "eve").await;
    let mut ledger = InboxLedger::new(&[alice, bob, carol, dave, eve]);
    let g = group(&store, alice, &[bob, carol]).await;
    let l = &mut ledger;

    let m = ledger_group_send(&store, l, carol, g, "hi", 1).await;
    ledger_direct_send(&store, l, eve, bob, "unrelated", 2).await;
    add(&store, g, dave, 3).await;
    let later = ledger_group_send(&store, l, alice, g, "later", 4).await;
    let check = |who: UserId, msg: MessageId, expected: bool, when: &'static str| {
        let store = &store;
        async move {
            assert_eq!(holds(store, who, msg).await, expected, "{when}: {who}");
        }
    };
    for (who, expected) in [
        (alice, true),
        (bob, true),
        (carol, true),
        (dave, false),
        (eve, false),
    ] {
        check(who, m, expected, "no read").await;
    }
    check(dave, later, true, "no read").await;

    remove(&store, g, bob).await;
    check(bob, m, true, "after leaving").await;
    check(bob, later, true, "after leaving").await;
    store.delete_group(g).await.expect("delete group");
    for (who, expected) in [
        (alice, true),
        (bob, true),
        (carol, true),
        (dave, false),
        (eve, false),
    ] {
        check(who, m, expected, "after the delete").await;
    }
    check(dave, later, true, "after the delete").await;
    ledger.check_heads(&store, "end").await;
    ledger.check_inboxes(&store, "end").await;
}

/// `message_counts` right after group sends, before any inbox read, counts
/// what the inbox holds: `sent` every message the user sent, `received`
/// the messages from others in the inbox; receipts and recalls are not
/// messages. A later joiner receives only later messages; a member who
/// left keeps their count.
pub async fn group_message_counts_before_any_read<S: Store>(store: S) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let carol = user(&store, "carol").await;
    let dave = user(&store, "dave").await;
    let mut ledger = InboxLedger::new(&[alice, bob, carol, dave]);
    let g = group(&store, alice, &[bob, carol]).await;
    let l = &mut ledger;
    for i in 0..3 {
        ledger_group_send(&store, l, alice, g, "from alice", i).await;
    }
    for i in 3..5 {
        ledger_group_send(&store, l, bob, g, "from bob", i).await;
    }
    let direct = ledger_direct_send(&store, l, carol, alice, "direct", 5).await;
    ledger_direct_send(&store, l, alice, bob, "direct", 6).await;
    let counts = |who: UserId| {
        let store = &store;
        async move { store.message_counts(who).await.expect("counts") }
    };
    let c = |sent, received| MessageCounts { sent, received };
    assert_eq!(counts(alice).await, c(4, 3));
    assert_eq!(counts(bob).await, c(2, 4));
    assert_eq!(counts(carol).await, c(1, 5));
    assert_eq!(counts(dave).await, c(0, 0));

    // Receipts and recalls add events, not messages.
    store
        .record_receipt(direct, alice, ReceiptKind::Read, at(7))
        .await
        .expect("receipt");
    add(&store, g, dave, 8).await;
    remove(&store, g, carol).await;
    let l = &mut ledger;
    let last = ledger_group_send(&store, l, dave, g, "from dave", 9).await;
    store
        .recall_message(last, dave, at(10))
        .await
        .expect("recall");
    assert_eq!(counts(alice).await, c(4, 4));
    assert_eq!(counts(bob).await, c(2, 5));
    assert_eq!(counts(carol).await, c(1, 5), "left before dave's message");
    assert_eq!(counts(dave).await, c(1, 0), "joined after the others");

    // Reading changes nothing.
    for who in [alice, bob, carol, dave] {
        let before = counts(who).await;
        inbox(&store, who).await;
        assert_eq!(counts(who).await, before, "{who}");
    }
}

/// Several tasks send group and direct messages to overlapping users at
/// once while another reads some of the inboxes: every read is a gap-free
/// prefix that never shrinks, and at the end every inbox (read or not)
/// is gap-free and holds each message at exactly the seq its append
/// returned.
pub async fn concurrent_group_and_direct_sends_stay_gap_free<S: Store>(store: S) {
    const USERS: usize = 6;
    const PER_TASK: usize = 30;
    let store = Arc::new(store);
    let mut users = Vec::new();
    for i in 0..USERS {
        users.push(user(&*store, &format!("user{i}")).await);
    }
    let u = |i: usize| users[i];
    // Overlapping groups; every user is in at least one.
    let groups = [
        group(&*store, u(0), &[u(1), u(2), u(3)]).await,
        group(&*store, u(2), &[u(3), u(4), u(5)]).await,
        group(&*store, u(5), &[u(0), u(3)]).await,
    ];
    let mut rosters = Vec::new();
    for g in groups {
        rosters.push((g, roster(&*store, g).await));
    }
    let rosters = Arc::new(rosters);

    let mut tasks = JoinSet::new();
    for i in 0..USERS {
        let store = Arc::clone(&store);
        let rosters = Arc::clone(&rosters);
        let users = users.clone();
        tasks.spawn(async move {
            let me = users[i];
            let mine: Vec<&(GroupId, Vec<UserId>)> =
                rosters.iter().filter(|(_, m)| m.contains(&me)).collect();
            let mut sent = Vec::with_capacity(PER_TASK);
            for n in 0..PER_TASK {
                let sent_at = at((n * USERS + i) as i64);
                let body = text(&format!("{i}-{n}"));
                let (conversation, group, recipients) = if n % 3 == 2 {
                    let to = users[(i + 1 + n) % USERS];
                    let recipients = if to == me { vec![me] } else { vec![me, to] };
                    (Conversation::Direct(to), None, recipients)
                } else {
                    let (g, members) = mine[n % mine.len()];
                    (Conversation::Group(*g), Some(*g), members.clone())
                };
                let msg = message(me, conversation, body, sent_at);
                match store.append_message(msg, &recipients).await {
                    Ok(Appended::New {
                        message_id, seqs, ..
                    }) => sent.push((message_id, group, recipients, seqs)),
                    other => panic!("append failed: {other:?}"),
                }
            }
            sent
        });
    }
    // Reads the first half of the users' inboxes while the writers run,
    // and once more after they finished.
    let writers_done = Arc::new(AtomicBool::new(false));
    let reader = {
        let store = Arc::clone(&store);
        let writers_done = Arc::clone(&writers_done);
        let watched: Vec<UserId> = users[..USERS / 2].to_vec();
        tokio::spawn(async move {
            let mut last_seen = vec![0_u64; watched.len()];
            loop {
                let finished = writers_done.load(Ordering::Acquire);
                for (k, &who) in watched.iter().enumerate() {
                    let seen: Vec<u64> = inbox(&*store, who).await.iter().map(|e| e.seq).collect();
                    let n = seen.len() as u64;
                    assert_eq!(seen, (1..=n).collect::<Vec<_>>(), "a gap for {who}");
                    assert!(n >= last_seen[k], "an entry of {who} disappeared");
                    last_seen[k] = n;
                    let head = head(&*store, who).await;
                    assert!(head >= n, "head {head} behind a visible entry {n}");
                }
                if finished {
                    break;
                }
                tokio::task::yield_now().await;
            }
        })
    };

    let mut returned = Vec::new();
    while let Some(done) = tasks.join_next().await {
        returned.extend(done.expect("task"));
    }
    writers_done.store(true, Ordering::Release);
    reader.await.expect("reader");

    // Replay each user's entries in seq order: they must be 1..=n.
    let mut by_user: BTreeMap<UserId, Vec<(InboxSeq, MessageId, Option<GroupId>)>> =
        BTreeMap::new();
    let mut ids = HashSet::new();
    for (id, group, recipients, seqs) in &returned {
        assert!(ids.insert(*id), "ids are unique");
        let expected: BTreeSet<UserId> = recipients.iter().copied().collect();
        let got: BTreeSet<UserId> = seqs.iter().map(|(u, _)| *u).collect();
        assert_eq!(got, expected, "one entry per recipient");
        assert_eq!(seqs.len(), expected.len(), "each recipient once");
        for &(who, seq) in seqs {
            by_user.entry(who).or_default().push((seq, *id, *group));
        }
    }
    assert_eq!(returned.len(), USERS * PER_TASK);
    let mut ledger = InboxLedger::new(&users);
    for (who, mut entries) in by_user {
        entries.sort_by_key(|(seq, _, _)| *seq);
        for (seq, id, group) in entries {
            ledger.push(who, seq, EventKind::Message, id, group, "replay");
        }
    }
    ledger.check_heads(&*store, "end").await;
    ledger.check_inboxes(&*store, "end").await;
}

/// The same group send retried concurrently is stored once; every retry
/// learns the one message id and the sender's seq of it (not 0), and the
/// members' inboxes hold it once.
pub async fn concurrent_duplicate_group_sends_store_once<S: Store>(store: S) {
    const RETRIES: usize = 8;
    let store = Arc::new(store);
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let carol = user(&*store, "carol").await;
    let mut ledger = InboxLedger::new(&[alice, bob, carol]);
    let g = group(&*store, alice, &[bob, carol]).await;
    ledger_group_send(&*store, &mut ledger, alice, g, "before", 0).await;
    ledger_direct_send(&*store, &mut ledger, bob, bob, "note", 0).await;
    let members = roster(&*store, g).await;
    let mut tasks = JoinSet::new();
    for i in 0..RETRIES {
        let store = Arc::clone(&store);
        let members = members.clone();
        tasks.spawn(async move {
            let msg = NewMessage {
                idempotency_key: Some(key("the-one-group-send")),
                ..message(bob, Conversation::Group(g), text("once"), at(1 + i as i64))
            };
            store.append_message(msg, &members).await.expect("append")
        });
    }
    let mut new = Vec::new();
    let mut duplicates = Vec::new();
    while let Some(done) = tasks.join_next().await {
        match done.expect("task") {
            Appended::New {
                message_id, seqs, ..
            } => new.push((message_id, seqs)),
            Appended::Duplicate {
                message_id,
                sender_seq,
                ..
            } => duplicates.push((message_id, sender_seq)),
        }
    }
    assert_eq!(new.len(), 1, "stored exactly once");
    assert_eq!(duplicates.len(), RETRIES - 1);
    let (id, seqs) = new.remove(0);
    ledger.appended(id, Some(g), &members, &seqs, "the one send");
    for duplicate in duplicates {
        assert_eq!(duplicate, (id, InboxSeq(3)), "bob's seq of the original");
    }
    ledger.check_heads(&*store, "end").await;
    ledger.check_inboxes(&*store, "end").await;
}
