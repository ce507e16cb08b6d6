//! Sends pipelined on one WebSocket: frames written back to back, without
//! waiting for answers, are all acked in frame order, commit in frame order
//! (increasing seqs), reach the recipient in that order exactly once; a
//! send refused among them is answered in its place, and a frame after
//! them is answered after their acks. A slow commit holds the connection's
//! reading without ending it.

mod common;

use std::time::Duration;

use common::{next_event, next_json, TestApp};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use sqlx::{Connection, SqliteConnection};
use tokio_tungstenite::tungstenite::Message;

/// More than one connection may have in flight, so the window fills.
const SENDS: usize = 150;
/// The refused send comes after this many.
const REFUSED_AFTER: usize = 75;

#[tokio::test]
async fn back_to_back_sends_are_acked_and_delivered_in_frame_order() {
    let app = TestApp::start().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let (mut a, _) = app.ws(&alice.token).await;
    let (mut b, _) = app.ws(&bob.token).await;

    for i in 0..SENDS {
        if i == REFUSED_AFTER {
            // Refused (no such user) in the middle of the stream, with
            // sends still waiting for their commit on either side of it:
            // answered in its place.
            let bad = json!({"type":"send","ref":"bad","to":"nobody","text":"x"});
            a.feed(Message::text(bad.to_string())).await.expect("feed");
        }
        let frame = json!({"type":"send","ref":format!("r{i}"),"to":"bob","text":format!("m{i}")});
        a.feed(Message::text(frame.to_string()))
            .await
            .expect("feed");
    }
    let ping = json!({"type":"ping","ref":"after"});
    a.feed(Message::text(ping.to_string())).await.expect("feed");
    a.flush().await.expect("flush");

    let mut last_seq = 0;
    for i in 0..SENDS {
        if i == REFUSED_AFTER {
            let refused = next_json(&mut a).await;
            assert_eq!(
                (refused["type"].as_str(), refused["ref"].as_str()),
                (Some("error"), Some("bad")),
                "{refused}"
            );
        }
        let ack = next_json(&mut a).await;
        assert_eq!(ack["type"], "ack", "{ack}");
        assert_eq!(ack["ref"], format!("r{i}"));
        let seq = ack["seq"].as_u64().expect("seq");
        assert!(
            seq > last_seq,
            "seq {seq} after {last_seq}: out of frame order"
        );
        last_seq = seq;
    }
    let pong = next_json(&mut a).await;
    assert_eq!(
        (pong["type"].as_str(), pong["ref"].as_str()),
        (Some("pong"), Some("after")),
        "{pong}"
    );

    let mut texts = Vec::with_capacity(SENDS);
    for _ in 0..SENDS {
        let event = next_event(&mut b).await;
        texts.push(event["text"].as_str().expect("text").to_owned());
    }
    let expected: Vec<String> = (0..SENDS).map(|i| format!("m{i}")).collect();
    assert_eq!(texts, expected);
}

/// While a connection's sends wait for their commit the session reads
/// nothing more from it, so the client's answers to pings wait unread too:
/// a slow commit must not make the session take its client for gone. Here
/// a second connection holds the store's write lock for four ping
/// intervals (under the store's 5 s busy timeout); then the send is acked
/// on the same connection, and so is one written while it waited.
#[tokio::test]
async fn a_slow_commit_does_not_end_the_session_as_silent() {
    let app = TestApp::start_with(|s| s.ws_ping_interval_secs = 1).await;
    let alice = app.register("alice").await;
    app.register("bob").await;
    let (mut a, _) = app.ws(&alice.token).await;

    let url = format!("sqlite://{}", app.db_path().display());
    let mut blocker = SqliteConnection::connect(&url)
        .await
        .expect("a second connection");
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut blocker)
        .await
        .expect("the write lock");

    for (reference, text) in [("first", "one"), ("second", "two")] {
        let frame = json!({"type":"send","ref":reference,"to":"bob","text":text});
        a.send(Message::text(frame.to_string()))
            .await
            .expect("send");
    }
    // The client keeps reading, so it would answer any ping at once.
    let held_until = tokio::time::Instant::now() + Duration::from_secs(4);
    loop {
        match tokio::time::timeout_at(held_until, a.next()).await {
            Err(_) => break,
            Ok(Some(Ok(Message::Ping(_)))) => {}
            Ok(other) => panic!("under the lock the session answered or ended: {other:?}"),
        }
    }
    sqlx::query("ROLLBACK")
        .execute(&mut blocker)
        .await
        .expect("the lock let go");

    for reference in ["first", "second"] {
        let ack = next_json(&mut a).await;
        assert_eq!(
            (ack["type"].as_str(), ack["ref"].as_str()),
            (Some("ack"), Some(reference)),
            "{ack}"
        );
    }
}
