//! Messaging end to end: the real binary, driven through the SDK.

mod common;

use common::{device, texts, user, TestServer};
use oriole_proto::{CreateGroup, EventKind, ReceiptKind, SendMessage, UpdateGroup};

fn text_to(to: &str, text: &str, key: Option<&str>) -> SendMessage {
    SendMessage {
        to: Some(to.into()),
        text: Some(text.into()),
        idempotency_key: key.map(Into::into),
        ..Default::default()
    }
}

#[tokio::test]
async fn thousand_offline_messages_arrive_in_order_also_after_restart() {
    let mut server = TestServer::start().await;
    let alice = user(&server, "alice").await;
    let bob = user(&server, "bob").await;
    let bob_token = bob.token().expect("token").to_owned();
    let alice_token = alice.token().expect("token").to_owned();

    // Bob is offline (no connection). Four concurrent senders keep the
    // server busy with interleaved commits.
    let mut tasks = Vec::new();
    for lane in 0..4 {
        let alice = alice.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..250 {
                let n = lane * 250 + i;
                alice
                    .send(text_to("bob", &format!("m{n:04}"), Some(&format!("k{n}"))))
                    .await
                    .expect("send");
            }
        }));
    }
    for t in tasks {
        t.await.expect("sender");
    }

    let check = |events: Vec<oriole_proto::InboxEvent>| {
        assert_eq!(events.len(), 1000, "one inbox entry per message");
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=1000).collect::<Vec<u64>>(), "gap-free, ordered");
        let mut got = texts(&events);
        got.sort();
        got.dedup();
        assert_eq!(got.len(), 1000, "no duplicates");
        assert!(events.iter().all(|e| e.from.as_deref() == Some("alice")));
        assert!(events.iter().all(|e| e.to.as_deref() == Some("bob")));
    };
    check(bob.sync_all(0).await.expect("sync"));

    // Paging: pages of 100 end exactly at the end.
    let page = bob.sync(0, Some(100)).await.expect("page");
    assert_eq!(page.events.len(), 100);
    assert!(page.more);
    assert_eq!(page.next, 100);
    let last = bob.sync(900, Some(100)).await.expect("last page");
    assert_eq!(last.events.len(), 100);
    assert!(!last.more);

    server.stop().await;
    server.restart().await;
    let bob = server.client().with_token(bob_token);
    check(bob.sync_all(0).await.expect("sync after restart"));

    // Acknowledged messages survive kill -9.
    let alice = server.client().with_token(alice_token);
    let ack = alice
        .send(text_to("bob", "after", None))
        .await
        .expect("send");
    server.kill9().await;
    server.restart().await;
    let bob = server
        .client()
        .with_token(bob.token().expect("token").to_owned());
    let events = bob.sync_all(1000).await.expect("sync after kill");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].id, ack.message_id);
}

#[tokio::test]
async fn idempotency_key_makes_retries_exactly_once() {
    let server = TestServer::start().await;
    let alice = user(&server, "alice").await;
    let bob = user(&server, "bob").await;
    let first = alice
        .send(text_to("bob", "once", Some("key-1")))
        .await
        .expect("send");
    let again = alice
        .send(text_to("bob", "once", Some("key-1")))
        .await
        .expect("retry");
    assert!(!first.duplicate);
    assert!(again.duplicate);
    assert_eq!(first.message_id, again.message_id);
    assert_eq!(first.seq, again.seq);
    // The same key from another sender is a different message.
    let other = bob
        .send(text_to("alice", "mine", Some("key-1")))
        .await
        .expect("send");
    assert_ne!(other.message_id, first.message_id);
    // Over the WebSocket too.
    let conn = alice.connect(0).await.expect("connect");
    let ws = conn
        .send(text_to("bob", "once", Some("key-1")))
        .await
        .expect("ws retry");
    assert!(ws.duplicate);
    assert_eq!(ws.message_id, first.message_id);
    let inbox = bob.sync_all(0).await.expect("sync");
    assert_eq!(texts(&inbox), vec!["once".to_string(), "mine".to_string()]);
}

#[tokio::test]
async fn live_delivery_multi_device_and_receipts() {
    let server = TestServer::start().await;
    let alice = user(&server, "alice").await;
    let alice2 = device(&server, "alice").await;
    let bob = user(&server, "bob").await;
    let mut a1 = alice.connect(0).await.expect("a1");
    let mut a2 = alice2.connect(0).await.expect("a2");
    let mut b = bob.connect(0).await.expect("b");

    // Bob -> Alice reaches both of Alice's devices.
    let ack = b
        .send(text_to("alice", "hi both", None))
        .await
        .expect("send");
    for conn in [&mut a1, &mut a2] {
        let ev = conn.next_event().await.expect("open").expect("event");
        assert_eq!(ev.kind, EventKind::Message);
        assert_eq!(ev.id, ack.message_id);
        assert_eq!(ev.text.as_deref(), Some("hi both"));
    }
    // Bob's own copy lands in his inbox (for his other devices).
    let own = b.next_event().await.expect("open").expect("own copy");
    assert_eq!(own.id, ack.message_id);
    assert_eq!(own.seq, ack.seq);

    // A message sent from Alice's first device shows up on her second.
    let sent = a1
        .send(text_to("bob", "from phone", None))
        .await
        .expect("send");
    let mirrored = a2.next_event().await.expect("open").expect("event");
    assert_eq!(mirrored.id, sent.message_id);
    assert_eq!(mirrored.from.as_deref(), Some("alice"));
    let own = a1.next_event().await.expect("open").expect("own copy");
    assert_eq!(own.id, sent.message_id);
    let got = b.next_event().await.expect("open").expect("event");
    assert_eq!(got.text.as_deref(), Some("from phone"));

    // Receipts go back to the sender's devices.
    b.receipt(&sent.message_id, ReceiptKind::Delivered)
        .await
        .expect("delivered");
    bob.receipt(&sent.message_id, ReceiptKind::Read)
        .await
        .expect("read");
    bob.receipt(&sent.message_id, ReceiptKind::Read)
        .await
        .expect("repeat is harmless");
    for kind in [ReceiptKind::Delivered, ReceiptKind::Read] {
        let ev = a2.next_event().await.expect("open").expect("receipt");
        assert_eq!(ev.kind, EventKind::Receipt);
        assert_eq!(ev.id, sent.message_id);
        assert_eq!(ev.receipt, Some(kind));
        assert_eq!(ev.from.as_deref(), Some("bob"));
    }
    // Receipts for my own message, or for one I never got, are refused.
    let err = alice
        .receipt(&sent.message_id, ReceiptKind::Read)
        .await
        .expect_err("own");
    assert_eq!(err.code(), "invalid_input");
    let carol = user(&server, "carol").await;
    let err = carol
        .receipt(&sent.message_id, ReceiptKind::Read)
        .await
        .expect_err("stranger");
    assert_eq!(err.code(), "not_found");
}

#[tokio::test]
async fn reconnect_resumes_without_gaps_or_duplicates() {
    let mut server = TestServer::start().await;
    let alice = user(&server, "alice").await;
    let bob = user(&server, "bob").await;
    let bob_token = bob.token().expect("token").to_owned();
    let alice_token = alice.token().expect("token").to_owned();
    let mut conn = bob.connect(0).await.expect("connect");
    for i in 0..5 {
        alice
            .send(text_to("bob", &format!("a{i}"), None))
            .await
            .expect("send");
    }
    for i in 0..5 {
        let ev = conn.next_event().await.expect("open").expect("event");
        assert_eq!(ev.text.as_deref(), Some(format!("a{i}").as_str()));
    }
    assert_eq!(conn.last_seq(), 5);
    drop(conn);

    // Messages while Bob is away, then he connects from his cursor.
    for i in 5..10 {
        alice
            .send(text_to("bob", &format!("a{i}"), None))
            .await
            .expect("send");
    }
    let mut conn = server
        .client()
        .with_token(bob_token.clone())
        .connect(5)
        .await
        .expect("connect");
    for i in 5..10 {
        let ev = conn.next_event().await.expect("open").expect("event");
        assert_eq!(ev.seq, i + 1);
    }

    // The server restarts under a live connection: the SDK reconnects by
    // itself and resumes from its cursor. The new server listens on a new
    // port, so this checks the resume through a fresh connection instead.
    server.stop().await;
    server.restart().await;
    let alice = server.client().with_token(alice_token);
    for i in 10..15 {
        alice
            .send(text_to("bob", &format!("a{i}"), None))
            .await
            .expect("send");
    }
    let mut conn = server
        .client()
        .with_token(bob_token)
        .connect(10)
        .await
        .expect("connect");
    for i in 10..15 {
        let ev = conn.next_event().await.expect("open").expect("event");
        assert_eq!(ev.seq, i + 1);
        assert_eq!(ev.text.as_deref(), Some(format!("a{i}").as_str()));
    }
}

#[tokio::test]
async fn recall_within_window_reaches_recipients() {
    let server = TestServer::start().await;
    let alice = user(&server, "alice").await;
    let bob = user(&server, "bob").await;
    let mut b = bob.connect(0).await.expect("connect");
    let ack = alice
        .send(text_to("bob", "oops", None))
        .await
        .expect("send");
    let ev = b.next_event().await.expect("open").expect("message");
    assert_eq!(ev.text.as_deref(), Some("oops"));

    // Only the sender can recall.
    let err = bob
        .recall(&ack.message_id)
        .await
        .expect_err("not the sender");
    assert_eq!(err.code(), "not_found");
    alice.recall(&ack.message_id).await.expect("recall");
    let ev = b.next_event().await.expect("open").expect("recall event");
    assert_eq!(ev.kind, EventKind::Recall);
    assert_eq!(ev.id, ack.message_id);

    // Sync shows the message without its content.
    let inbox = bob.sync_all(0).await.expect("sync");
    let msg = inbox
        .iter()
        .find(|e| e.kind == EventKind::Message)
        .expect("message");
    assert!(msg.recalled);
    assert_eq!(msg.text, None);
}

#[tokio::test]
async fn recall_after_window_is_refused() {
    let server = TestServer::start_with_env(&[("ORIOLE_RECALL_WINDOW_SECS", "0")]).await;
    let alice = user(&server, "alice").await;
    let _bob = user(&server, "bob").await;
    let ack = alice
        .send(text_to("bob", "too late", None))
        .await
        .expect("send");
    // Wait for the clock to move past the send time (no sleep: a later send
    // tells us the time has advanced).
    loop {
        let later = alice
            .send(text_to("bob", "tick", None))
            .await
            .expect("send");
        if later.sent_at > ack.sent_at {
            break;
        }
    }
    let err = alice
        .recall(&ack.message_id)
        .await
        .expect_err("window passed");
    assert_eq!(err.code(), "recall_window_expired");
}

#[tokio::test]
async fn group_fan_out_roles_and_late_joiners() {
    let server = TestServer::start().await;
    let alice = user(&server, "alice").await;
    let bob = user(&server, "bob").await;
    let carol = user(&server, "carol").await;
    let dave = user(&server, "dave").await;

    let group = alice
        .create_group(CreateGroup {
            name: "team".into(),
            members: vec!["bob".into(), "carol".into()],
            history_visible: false,
        })
        .await
        .expect("create");
    let gid = group.group_id.clone();
    let ack = bob
        .send_group_text(&gid, "before dave")
        .await
        .expect("send");
    for c in [&alice, &bob, &carol] {
        let inbox = c.sync_all(0).await.expect("sync");
        assert_eq!(texts(&inbox), vec!["before dave".to_string()]);
        assert_eq!(inbox[0].group.as_deref(), Some(gid.as_str()));
        assert_eq!(inbox[0].id, ack.message_id);
    }
    // Not a member: cannot send or read.
    let err = dave
        .send_group_text(&gid, "hi")
        .await
        .expect_err("not a member");
    assert_eq!(err.code(), "not_found");
    let err = dave.group_members(&gid).await.expect_err("not a member");
    assert_eq!(err.code(), "not_found");

    // A plain member cannot add people; the owner can.
    let err = carol
        .add_member(&gid, "dave", None)
        .await
        .expect_err("member");
    assert_eq!(err.code(), "forbidden");
    alice.add_member(&gid, "dave", None).await.expect("add");
    let err = alice
        .add_member(&gid, "dave", None)
        .await
        .expect_err("twice");
    assert_eq!(err.code(), "conflict");

    // Dave joined later: no earlier history, but new messages arrive.
    assert!(texts(&dave.sync_all(0).await.expect("sync")).is_empty());
    assert!(dave
        .group_history(&gid, None, None)
        .await
        .expect("history")
        .is_empty());
    alice
        .send_group_text(&gid, "welcome dave")
        .await
        .expect("send");
    assert_eq!(
        texts(&dave.sync_all(0).await.expect("sync")),
        vec!["welcome dave".to_string()]
    );
    let members: Vec<String> = alice
        .group_members(&gid)
        .await
        .expect("members")
        .into_iter()
        .map(|m| m.username)
        .collect();
    assert_eq!(members, ["alice", "bob", "carol", "dave"]);

    // With history visible, a late joiner sees what came before.
    alice
        .update_group(
            &gid,
            UpdateGroup {
                history_visible: Some(true),
                ..Default::default()
            },
        )
        .await
        .expect("update");
    let history = dave.group_history(&gid, None, None).await.expect("history");
    assert_eq!(
        texts(&history),
        vec!["welcome dave".to_string(), "before dave".to_string()]
    );

    // Remove and leave; the owner leaving hands the group on.
    alice.remove_member(&gid, "carol").await.expect("remove");
    let err = carol
        .send_group_text(&gid, "still here?")
        .await
        .expect_err("removed");
    assert_eq!(err.code(), "not_found");
    alice.leave_group(&gid).await.expect("leave");
    let roles = bob.group_members(&gid).await.expect("members");
    assert_eq!(roles[0].username, "bob");
    assert_eq!(roles[0].role, oriole_proto::GroupRole::Owner);
    assert!(alice.groups().await.expect("groups").is_empty());

    // Sends go to the members as they are now (the server keeps them in
    // memory between sends): not to carol, removed, nor to alice, gone.
    bob.send_group_text(&gid, "after the changes")
        .await
        .expect("send");
    for (c, last) in [
        (&alice, "welcome dave"),
        (&carol, "welcome dave"),
        (&dave, "after the changes"),
    ] {
        let inbox = texts(&c.sync_all(0).await.expect("sync"));
        assert_eq!(inbox.last().map(String::as_str), Some(last));
    }
    // A member's account deleted: the group's sends carry on without it.
    dave.delete_account(common::PASSWORD).await.expect("delete");
    let ack = bob
        .send_group_text(&gid, "after dave")
        .await
        .expect("send after a member's deletion");
    let inbox = bob.sync_all(0).await.expect("sync");
    assert_eq!(
        inbox.last().map(|e| e.id.as_str()),
        Some(ack.message_id.as_str())
    );
    let members = bob.group_members(&gid).await.expect("members");
    assert_eq!(members.len(), 1, "bob alone: {members:?}");
}

/// Sends pipelined on one WebSocket, the server killed with SIGKILL while
/// some still wait for their commit: every send that was acknowledged is
/// in the recipient's inbox after the restart, exactly once, and the inbox
/// has no gaps. A send whose ack never came may or may not be there, once
/// at most, and what is there is the sends' prefix, in frame order.
#[tokio::test]
async fn pipelined_sends_acked_before_a_kill_9_survive_it() {
    use futures_util::stream::{FuturesUnordered, StreamExt};

    const SENDS: usize = 400;
    const KILL_AFTER_ACKS: usize = 150;
    let mut server = TestServer::start().await;
    let alice = user(&server, "alice").await;
    let bob = user(&server, "bob").await;
    let bob_token = bob.token().expect("token").to_owned();
    let live = alice.connect(0).await.expect("connect");

    let mut sending: Vec<_> = (0..SENDS)
        .map(|n| Box::pin(live.send(text_to("bob", &format!("m{n:03}"), Some(&format!("k{n}"))))))
        .collect();
    // A send's first poll hands its frame to the connection: polled here
    // one by one, the frames go out in this order.
    for send in &mut sending {
        assert!(futures_util::poll!(send.as_mut()).is_pending());
    }
    let mut sending: FuturesUnordered<_> = sending.into_iter().collect();
    let mut acked = Vec::new();
    while let Some(outcome) = sending.next().await {
        let ack = outcome.expect("every send before the kill is acked");
        assert!(!ack.duplicate);
        acked.push(ack.message_id);
        if acked.len() == KILL_AFTER_ACKS {
            break;
        }
    }
    server.kill9().await;
    // The rest would wait for the connection to come back (the SDK
    // resends them), but the server restarts on another port.
    drop(sending);
    live.close().await;

    server.restart().await;
    let bob = server.client().with_token(bob_token);
    let events = bob.sync_all(0).await.expect("sync after kill");
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    let expected: Vec<u64> = (1..=events.len() as u64).collect();
    assert_eq!(seqs, expected, "gap-free after the kill");
    let stored: std::collections::HashSet<&str> = events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(stored.len(), events.len(), "each message once");
    for id in &acked {
        assert!(stored.contains(id.as_str()), "acked message {id} lost");
    }
    // Frame order is commit order: what survived is a prefix of the sends.
    let survived = texts(&events);
    let prefix: Vec<String> = (0..survived.len()).map(|n| format!("m{n:03}")).collect();
    assert_eq!(survived, prefix);
}

#[tokio::test]
async fn revoking_a_device_closes_its_socket_and_kills_its_token() {
    let server = TestServer::start().await;
    let phone = user(&server, "alice").await;
    let laptop = device(&server, "alice").await;
    let mut laptop_conn = laptop.connect(0).await.expect("connect");

    let devices = phone.devices().await.expect("devices");
    assert_eq!(devices.len(), 2);
    let laptop_id = devices
        .iter()
        .find(|d| !d.current)
        .expect("other")
        .device_id
        .clone();
    phone.revoke_device(&laptop_id).await.expect("revoke");

    match laptop_conn.next_event().await {
        Some(Err(oriole_client::ClientError::Closed { code, .. })) => assert_eq!(code, 4001),
        other => panic!("expected close 4001, got {other:?}"),
    }
    assert!(
        laptop_conn.next_event().await.is_none(),
        "no reconnect after revocation"
    );
    let err = laptop.me().await.expect_err("revoked token");
    assert_eq!(err.code(), "unauthorized");
    assert_eq!(phone.devices().await.expect("devices").len(), 1);
    let err = phone.revoke_device(&laptop_id).await.expect_err("gone");
    assert_eq!(err.code(), "not_found");
}

#[tokio::test]
async fn devices_record_model_os_and_ip_and_logout_ends_the_session() {
    let server = TestServer::start().await;
    let mut c = server.client();
    c.register(oriole_proto::RegisterRequest {
        username: "erin".into(),
        password: common::PASSWORD.into(),
        phone: Some("+86 138 0013 8000".into()),
        email: Some("Erin@Example.org".into()),
        device_model: Some("Pixel 9".into()),
        os_version: Some("Android 16".into()),
        consents: vec!["device_diagnostics".into()],
    })
    .await
    .expect("register");
    let me = c.me().await.expect("me");
    assert_eq!(me.phone.as_deref(), Some("+8613800138000"));
    assert_eq!(me.email.as_deref(), Some("Erin@example.org"));
    let devices = c.devices().await.expect("devices");
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].device_model.as_deref(), Some("Pixel 9"));
    assert_eq!(devices[0].os_version.as_deref(), Some("Android 16"));
    assert_eq!(devices[0].ip.as_deref(), Some("127.0.0.1"));
    assert!(devices[0].current);
    c.logout().await.expect("logout");
    let stale = server
        .client()
        .with_token(c.token().unwrap_or("none").to_owned());
    assert!(stale.me().await.is_err());
}

/// Group messages are stored once and their members' inbox rows are
/// written later (the store's pending entries): what a member received
/// live, with its seqs, must be exactly what they sync after a kill -9,
/// interleaved with a 1:1 message, and new events continue the seqs.
#[tokio::test]
async fn group_events_received_live_keep_their_seqs_across_a_kill_9() {
    let mut server = TestServer::start().await;
    let alice = user(&server, "alice").await;
    let bob = user(&server, "bob").await;
    let carol = user(&server, "carol").await;
    let (alice_token, bob_token) = (
        alice.token().expect("token").to_owned(),
        bob.token().expect("token").to_owned(),
    );
    let gid = alice
        .create_group(CreateGroup {
            name: "crew".into(),
            members: vec!["bob".into(), "carol".into()],
            history_visible: false,
        })
        .await
        .expect("create")
        .group_id;

    let mut live = bob.connect(0).await.expect("connect");
    let mut sent = Vec::new();
    for i in 0..20 {
        let text = format!("g{i}");
        if i % 7 == 3 {
            // A 1:1 message among the group's: its row takes the seq after
            // the pending group entries before it.
            alice.send(text_to("bob", &text, None)).await.expect("send");
        } else {
            let from = if i % 2 == 0 { &alice } else { &carol };
            from.send_group_text(&gid, &text).await.expect("send");
        }
        sent.push(text);
    }
    let mut received = Vec::new();
    for _ in 0..sent.len() {
        let ev = live.next_event().await.expect("open").expect("event");
        received.push((ev.seq, ev.id.clone(), ev.text.clone().unwrap_or_default()));
    }
    drop(live);
    let seqs: Vec<u64> = received.iter().map(|r| r.0).collect();
    assert_eq!(seqs, (1..=20).collect::<Vec<u64>>(), "gap-free, in order");
    let texts_live: Vec<String> = received.iter().map(|r| r.2.clone()).collect();
    assert_eq!(texts_live, sent);

    server.kill9().await;
    server.restart().await;
    let bob = server.client().with_token(bob_token);
    let synced: Vec<(u64, String, String)> = bob
        .sync_all(0)
        .await
        .expect("sync after kill")
        .into_iter()
        .map(|e| (e.seq, e.id, e.text.unwrap_or_default()))
        .collect();
    assert_eq!(
        synced, received,
        "what was delivered live is what is stored"
    );

    let alice = server.client().with_token(alice_token);
    alice
        .send_group_text(&gid, "after")
        .await
        .expect("send after kill");
    let mut live = bob.connect(20).await.expect("reconnect");
    let ev = live.next_event().await.expect("open").expect("event");
    assert_eq!((ev.seq, ev.text.as_deref()), (21, Some("after")));
}
