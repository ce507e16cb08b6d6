//! WebSocket sessions over real sockets: hello, acks, live delivery,
//! subscribe (backlog then live), lagging connections, bad frames, close
//! codes, revocation, limits and shutdown.

mod common;

use common::{close_code, next_event, next_json, send_json, TestApp, Ws, PATIENCE};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

fn seq(frame: &Value) -> u64 {
    frame["seq"].as_u64().expect("seq")
}

#[tokio::test]
async fn hello_send_ack_and_live_delivery_to_every_device() {
    let app = TestApp::start().await;
    let alice = app.register("alice").await;
    let alice2 = app.login("alice").await;
    let bob = app.register("bob").await;
    let bob2 = app.login("bob").await;
    let (mut a, hello) = app.ws(&alice.token).await;
    assert_eq!(hello["protocol"], 1);
    assert_eq!(hello["username"], "alice");
    assert_eq!(hello["device_id"], alice.device_id.as_str());
    assert_eq!(hello["head"], 0);
    let (mut a2, _) = app.ws(&alice2.token).await;
    let (mut b1, _) = app.ws(&bob.token).await;
    let (mut b2, _) = app.ws(&bob2.token).await;

    let ack = send_json(
        &mut a,
        json!({"type":"send","ref":"r1","to":"bob","text":"hi"}),
    )
    .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["ref"], "r1");
    assert_eq!(ack["seq"], 1);
    assert_eq!(ack["duplicate"], false);
    for ws in [&mut b1, &mut b2] {
        let ev = next_event(ws).await;
        assert_eq!(ev["id"], ack["message_id"]);
        assert_eq!(ev["from"], "alice");
        assert_eq!(ev["text"], "hi");
        assert_eq!(ev["seq"], 1);
    }
    // The sender's other device gets the own copy; the sending connection
    // (not subscribed) has the ack instead.
    let own = next_event(&mut a2).await;
    assert_eq!(own["id"], ack["message_id"]);
    assert_eq!(own["seq"], ack["seq"]);

    // REST sends reach sockets too; other frames answer in kind.
    app.send_text(&bob.token, "alice", "back").await;
    assert_eq!(next_event(&mut a).await["text"], "back");
    assert_eq!(next_event(&mut a2).await["text"], "back");
    assert_eq!(next_event(&mut b1).await["text"], "back", "bob's own copy");
    let pong = send_json(&mut a, json!({"type":"ping","ref":"p"})).await;
    assert_eq!(
        (pong["type"].as_str(), pong["ref"].as_str()),
        (Some("pong"), Some("p"))
    );
    let page = send_json(&mut a, json!({"type":"sync","ref":"s","after":0,"limit":1})).await;
    assert_eq!(page["type"], "page");
    assert_eq!(page["events"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["more"], true);
    let receipt = json!({"type":"receipt","ref":"c","message_id": own["id"], "kind":"read"});
    let answer = send_json(&mut b1, receipt).await;
    assert_eq!(answer["type"], "ok", "{answer}");
    assert_eq!(next_event(&mut a).await["kind"], "receipt");
    let answer = send_json(
        &mut a,
        json!({"type":"recall","ref":"x","message_id": own["id"]}),
    )
    .await;
    assert_eq!(answer["type"], "ok", "{answer}");
    // The recall event is in alice's inbox too, but this connection sent it
    // with `recall` (not `send`), so it arrives.
    assert_eq!(next_event(&mut a).await["kind"], "recall");
}

#[tokio::test]
async fn a_subscribed_connection_gets_its_own_copies_in_order() {
    let app = TestApp::start().await;
    let alice = app.register("alice").await;
    app.register("bob").await;
    let (mut a, _) = app.ws(&alice.token).await;
    let ok = send_json(&mut a, json!({"type":"subscribe","ref":"s","after":0})).await;
    assert_eq!(ok["type"], "ok");
    for i in 1..=3u64 {
        let ack = send_json(
            &mut a,
            json!({"type":"send","ref":"r","to":"bob","text":"hi"}),
        )
        .await;
        assert_eq!(ack["type"], "ack", "{ack}");
        assert_eq!(ack["seq"], i);
        let own = next_event(&mut a).await;
        assert_eq!((seq(&own), &own["id"]), (i, &ack["message_id"]));
    }
}

#[tokio::test]
async fn subscribe_streams_the_backlog_then_live_events() {
    let app = TestApp::start().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    for i in 1..=600 {
        app.send_text(&alice.token, "bob", &format!("m{i}")).await;
    }
    let (mut b, hello) = app.ws(&bob.token).await;
    assert_eq!(hello["head"], 600);
    let ok = send_json(&mut b, json!({"type":"subscribe","ref":"s","after":2})).await;
    assert_eq!(
        (ok["type"].as_str(), ok["ref"].as_str()),
        (Some("ok"), Some("s"))
    );
    // A live event while the backlog streams (more than one store page).
    app.send_text(&alice.token, "bob", "m601").await;
    for expected in 3..=601 {
        let ev = next_event(&mut b).await;
        assert_eq!(seq(&ev), expected);
        assert_eq!(ev["text"], format!("m{expected}"));
    }
    app.send_text(&alice.token, "bob", "m602").await;
    assert_eq!(seq(&next_event(&mut b).await), 602);
}

#[tokio::test]
async fn without_subscribe_only_events_after_hello_arrive() {
    let app = TestApp::start().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.send_text(&alice.token, "bob", "old").await;
    let (mut b, hello) = app.ws(&bob.token).await;
    assert_eq!(hello["head"], 1);
    app.send_text(&alice.token, "bob", "new").await;
    let ev = next_event(&mut b).await;
    assert_eq!((seq(&ev), ev["text"].as_str()), (2, Some("new")));
}

#[tokio::test]
async fn a_lagging_connection_catches_up_from_the_store_in_order() {
    // A queue of one event per connection. Bob's session is busy with his
    // own sends (which wait for the store behind the other senders' writes)
    // while events for him arrive, so his queue overflows.
    let app = TestApp::start_with(|s| s.ws_queue_len = 1).await;
    let bob = app.register("bob").await;
    app.register("carol").await;
    let (mut b, _) = app.ws(&bob.token).await;
    let ok = send_json(&mut b, json!({"type":"subscribe","ref":"s","after":0})).await;
    assert_eq!(ok["type"], "ok");

    let mut senders = Vec::new();
    for lane in 0..4 {
        let sender = app.register(&format!("sender{lane}")).await;
        let (mut ws, _) = app.ws(&sender.token).await;
        senders.push(tokio::spawn(async move {
            for i in 0..25 {
                let frame = json!({"type":"send","to":"bob","text": format!("{lane}-{i}")});
                let ack = send_json(&mut ws, frame).await;
                assert_eq!(ack["type"], "ack", "{ack}");
            }
        }));
    }
    let mut seqs = Vec::new();
    for i in 0..25 {
        let frame = json!({"type":"send","to":"carol","text": format!("b{i}")});
        b.send(Message::text(frame.to_string()))
            .await
            .expect("send");
        loop {
            let frame = next_json(&mut b).await;
            match frame["type"].as_str() {
                Some("ack") => break,
                Some("event") => seqs.push(seq(&frame)),
                _ => panic!("unexpected {frame}"),
            }
        }
    }
    // 25 own copies and 100 incoming messages.
    while seqs.len() < 125 {
        seqs.push(seq(&next_event(&mut b).await));
    }
    assert_eq!(
        seqs,
        (1..=125).collect::<Vec<u64>>(),
        "gap-free, in order, once"
    );
    for s in senders {
        s.await.expect("sender");
    }
}

#[tokio::test]
async fn bad_frames_get_error_frames_and_the_connection_survives() {
    let app = TestApp::start().await;
    let alice = app.register("alice").await;
    app.register("bob").await;
    let (mut ws, _) = app.ws(&alice.token).await;

    ws.send(Message::text("{{{")).await.expect("send");
    let answer = next_json(&mut ws).await;
    assert_eq!(
        (answer["type"].as_str(), answer["code"].as_str()),
        (Some("error"), Some("malformed_frame"))
    );
    for (frame, code) in [
        (json!({"type": "teleport", "ref": "t1"}), "unknown_frame"),
        (
            json!({"type": "receipt", "ref": "c1", "message_id": "x", "kind": "seen"}),
            "malformed_frame",
        ),
        (json!(["not", "an", "object"]), "malformed_frame"),
        (
            json!({"type": "send", "ref": "s1", "to": "nobody", "text": "hi"}),
            "not_found",
        ),
        (
            json!({"type": "send", "ref": "s2", "to": "bob", "text": "x".repeat(64 * 1024 + 1)}),
            "payload_too_large",
        ),
    ] {
        let answer = send_json(&mut ws, frame.clone()).await;
        assert_eq!(answer["type"], "error", "{answer}");
        assert_eq!(answer["code"], code, "{frame}");
        assert_eq!(answer.get("ref"), frame.get("ref"), "ref echoed");
    }
    let ack = send_json(
        &mut ws,
        json!({"type":"send","ref":"ok","to":"bob","text":"fine"}),
    )
    .await;
    assert_eq!(ack["type"], "ack");
}

#[tokio::test]
async fn protocol_violations_close_only_that_connection() {
    let app = TestApp::start().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let (mut b, _) = app.ws(&bob.token).await;

    let (mut ws, _) = app.ws(&alice.token).await;
    ws.send(Message::binary(vec![0xff, 0xfe, 0x00]))
        .await
        .expect("send");
    assert_eq!(close_code(&mut ws).await, 1002);

    let (mut ws, _) = app.ws(&alice.token).await;
    let bad_utf8 = Frame::message(vec![0x66, 0xff, 0xfe], OpCode::Data(Data::Text), true);
    ws.send(Message::Frame(bad_utf8)).await.expect("send");
    assert_eq!(close_code(&mut ws).await, 1002);

    let (mut ws, _) = app.ws(&alice.token).await;
    // The server may close before the whole frame is written.
    let _ = ws.send(Message::text("y".repeat(4 * 1024 * 1024))).await;
    assert_eq!(close_code(&mut ws).await, 1009);

    // The server and other connections carry on.
    let ack = app.send_text(&alice.token, "bob", "still up").await;
    assert_eq!(next_event(&mut b).await["id"], ack["message_id"]);
}

#[tokio::test]
async fn revoking_or_logging_out_a_device_closes_its_sockets_with_4001() {
    let app = TestApp::start().await;
    let phone = app.register("alice").await;
    let laptop = app.login("alice").await;
    let (mut laptop_ws, _) = app.ws(&laptop.token).await;
    let (mut laptop_ws2, _) = app.ws(&laptop.token).await;
    let (mut phone_ws, _) = app.ws(&phone.token).await;

    let resp = app
        .delete(&phone.token, &format!("/v1/devices/{}", laptop.device_id))
        .send()
        .await
        .expect("revoke");
    assert_eq!(resp.status(), 204);
    assert_eq!(close_code(&mut laptop_ws).await, 4001);
    assert_eq!(close_code(&mut laptop_ws2).await, 4001);
    let pong = send_json(&mut phone_ws, json!({"type":"ping"})).await;
    assert_eq!(pong["type"], "pong", "other devices stay connected");

    let resp = app
        .delete(&phone.token, "/v1/sessions/current")
        .send()
        .await
        .expect("logout");
    assert_eq!(resp.status(), 204);
    assert_eq!(close_code(&mut phone_ws).await, 4001);
}

async fn upgrade_error(app: &TestApp, url: String, token: Option<&str>) -> (u16, Value) {
    let mut req = url.into_client_request().expect("request");
    if let Some(token) = token {
        req.headers_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("header"),
        );
    }
    let _ = app;
    match tokio_tungstenite::connect_async(req).await {
        Ok(_) => panic!("the upgrade should be refused"),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            let body = resp.body().as_deref().unwrap_or_default();
            let json: Value = serde_json::from_slice(body).expect("json error body");
            (resp.status().as_u16(), json)
        }
        Err(other) => panic!("expected an HTTP error, got {other}"),
    }
}

#[tokio::test]
async fn upgrades_are_checked_before_the_switch() {
    let app = TestApp::start_with(|s| s.max_connections = 1).await;
    let alice = app.register("alice").await;

    let (status, body) = upgrade_error(&app, app.ws_url(), None).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    let (status, body) = upgrade_error(&app, app.ws_url(), Some("ori_forged")).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    let url = format!("{}?protocol=2", app.ws_url());
    let (status, body) = upgrade_error(&app, url, Some(&alice.token)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("unsupported_protocol"))
    );

    // Browsers: the token in the query, with the protocol version.
    let url = format!("{}?protocol=1&token={}", app.ws_url(), alice.token);
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("upgrade");
    assert_eq!(next_json(&mut ws).await["type"], "hello");

    // The connection limit (1) is reached.
    let (status, body) = upgrade_error(&app, app.ws_url(), Some(&alice.token)).await;
    assert_eq!((status, body["code"].as_str()), (429, Some("rate_limited")));
    drop(ws);

    // A plain GET is not an upgrade.
    let resp = app
        .get(&alice.token, "/v1/ws")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["code"], "invalid_input");
}

#[tokio::test]
async fn idle_connections_are_pinged() {
    let app = TestApp::start_with(|s| s.ws_ping_interval_secs = 1).await;
    let alice = app.register("alice").await;
    let (mut ws, _) = app.ws(&alice.token).await;
    let frame = tokio::time::timeout(PATIENCE, ws.next())
        .await
        .expect("a ping in time")
        .expect("open")
        .expect("frame");
    assert!(matches!(frame, Message::Ping(_)), "{frame:?}");
    // Answered (by the client library), the connection stays.
    let pong = send_json(&mut ws, json!({"type":"ping"})).await;
    assert_eq!(pong["type"], "pong");
}

#[tokio::test]
async fn shutdown_closes_sessions_with_1001() {
    let mut app = TestApp::start().await;
    let alice = app.register("alice").await;
    let (mut ws, _): (Ws, _) = app.ws(&alice.token).await;
    let stopping = tokio::spawn(async move {
        app.stop().await.expect("clean stop");
    });
    assert_eq!(close_code(&mut ws).await, 1001);
    drop(ws);
    stopping.await.expect("stopped");
}
