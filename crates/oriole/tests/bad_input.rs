//! Bad input gets a structured error; the connection, the server and other
//! clients keep working; nothing is dropped.

mod common;

use common::{user, TestServer, PASSWORD};
use futures_util::{SinkExt, StreamExt};
use oriole_proto::{CreateGroup, LoginRequest, RegisterRequest, SendMessage};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn raw_ws(server: &TestServer, token: &str) -> Ws {
    let url = format!("{}/v1/ws", server.url.replacen("http", "ws", 1));
    let mut req = url.into_client_request().expect("request");
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("upgrade");
    let hello = next_json(&mut ws).await;
    assert_eq!(hello["type"], "hello");
    assert_eq!(hello["protocol"], 1);
    ws
}

async fn next_json(ws: &mut Ws) -> Value {
    loop {
        match ws.next().await.expect("open").expect("frame") {
            Message::Text(t) => return serde_json::from_str(&t).expect("server sends JSON"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// Send a frame and return the answer to it, passing over pushed `event`
/// frames (a connection also receives the sender's own copy of a message).
async fn send_json(ws: &mut Ws, v: Value) -> Value {
    ws.send(Message::text(v.to_string())).await.expect("send");
    loop {
        let answer = next_json(ws).await;
        if answer["type"] != "event" {
            return answer;
        }
    }
}

async fn close_code(ws: &mut Ws) -> u16 {
    loop {
        match ws.next().await {
            Some(Ok(Message::Close(Some(frame)))) => return frame.code.into(),
            Some(Ok(Message::Close(None))) | None => panic!("closed without a code"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("socket error instead of close: {e}"),
        }
    }
}

#[tokio::test]
async fn websocket_errors_are_structured_and_the_connection_survives() {
    let server = TestServer::start().await;
    let alice = user(&server, "alice").await;
    let bob = user(&server, "bob").await;
    let mut ws = raw_ws(&server, alice.token().expect("token")).await;

    let cases = [
        (json!("not an object"), "malformed_frame"),
        (json!({"type": "teleport", "ref": "t1"}), "unknown_frame"),
        (
            json!({"type": "send", "ref": "s1", "to": "nobody", "text": "hi"}),
            "not_found",
        ),
        (
            json!({"type": "send", "ref": "s2", "to": "bob"}),
            "invalid_input",
        ),
        (
            json!({"type": "send", "ref": "s3", "to": "bob", "text": ""}),
            "invalid_input",
        ),
        (
            json!({"type": "send", "ref": "s4", "to": "bob", "group": "x", "text": "a"}),
            "invalid_input",
        ),
        (
            json!({"type": "send", "ref": "s5", "group": "0190d5e4-0000-7000-8000-000000000000", "text": "a"}),
            "not_found",
        ),
        (
            json!({"type": "send", "ref": "s6", "to": "bob", "text": "a", "idempotency_key": ""}),
            "invalid_input",
        ),
        (
            json!({"type": "recall", "ref": "r1", "message_id": "nope"}),
            "not_found",
        ),
        (
            json!({"type": "receipt", "ref": "c1", "message_id": "nope", "kind": "seen"}),
            "malformed_frame",
        ),
    ];
    for (frame, code) in cases {
        let answer = send_json(&mut ws, frame.clone()).await;
        assert_eq!(answer["type"], "error", "{frame}");
        assert_eq!(answer["code"], code, "{frame}");
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
        if let Some(r) = frame.get("ref") {
            assert_eq!(&answer["ref"], r, "ref echoed for {frame}");
        }
    }
    // Not JSON at all.
    ws.send(Message::text("{{{")).await.expect("send");
    let answer = next_json(&mut ws).await;
    assert_eq!(answer["code"], "malformed_frame");

    // A message over the limit (but within the frame limit) is refused cleanly.
    let big = "x".repeat(64 * 1024 + 1);
    let answer = send_json(
        &mut ws,
        json!({"type":"send","ref":"big","to":"bob","text": big}),
    )
    .await;
    assert_eq!(answer["code"], "payload_too_large");

    // Still usable, and nothing was stored by the failures.
    let answer = send_json(
        &mut ws,
        json!({"type":"send","ref":"ok","to":"bob","text":"fine"}),
    )
    .await;
    assert_eq!(answer["type"], "ack");
    assert_eq!(answer["ref"], "ok");
    let inbox = bob.sync_all(0).await.expect("sync");
    assert_eq!(common::texts(&inbox), vec!["fine".to_string()]);
    let answer = send_json(&mut ws, json!({"type":"ping","ref":"p"})).await;
    assert_eq!(answer["type"], "pong");
}

#[tokio::test]
async fn protocol_violations_close_only_that_connection() {
    let server = TestServer::start().await;
    let alice = user(&server, "alice").await;
    let bob = user(&server, "bob").await;
    let mut bob_conn = bob.connect(0).await.expect("bob");

    let mut ws = raw_ws(&server, alice.token().expect("token")).await;
    ws.send(Message::binary(vec![0xff, 0xfe, 0x00]))
        .await
        .expect("send");
    assert_eq!(close_code(&mut ws).await, 1002);

    let mut ws = raw_ws(&server, alice.token().expect("token")).await;
    let huge = "y".repeat(4 * 1024 * 1024);
    // The server may close before the whole frame is written.
    let _ = ws.send(Message::text(huge)).await;
    assert_eq!(close_code(&mut ws).await, 1009);

    // Other clients are unaffected and the server still serves.
    let ack = alice
        .send(SendMessage {
            to: Some("bob".into()),
            text: Some("still up".into()),
            ..Default::default()
        })
        .await
        .expect("send");
    let ev = bob_conn.next_event().await.expect("open").expect("event");
    assert_eq!(ev.id, ack.message_id);
}

#[tokio::test]
async fn bad_tokens_are_refused_before_the_upgrade() {
    let server = TestServer::start().await;
    let url = format!("{}/v1/ws", server.url.replacen("http", "ws", 1));
    let err = tokio_tungstenite::connect_async(url.clone())
        .await
        .expect_err("no token");
    match err {
        tokio_tungstenite::tungstenite::Error::Http(resp) => assert_eq!(resp.status(), 401),
        other => panic!("expected HTTP 401, got {other}"),
    }
    let mut req = url.into_client_request().expect("request");
    req.headers_mut().insert(
        "authorization",
        "Bearer ori_forged".parse().expect("header"),
    );
    match tokio_tungstenite::connect_async(req)
        .await
        .expect_err("forged")
    {
        tokio_tungstenite::tungstenite::Error::Http(resp) => assert_eq!(resp.status(), 401),
        other => panic!("expected HTTP 401, got {other}"),
    }
    let forged = server.client().with_token("ori_forged");
    assert_eq!(
        forged.me().await.expect_err("forged").code(),
        "unauthorized"
    );
}

#[tokio::test]
async fn rest_validation_errors() {
    let server = TestServer::start().await;
    let alice = user(&server, "alice").await;
    let _bob = user(&server, "bob").await;

    let mut c = server.client();
    let reg = |username: &str, phone: Option<&str>, email: Option<&str>, password: &str| {
        RegisterRequest {
            username: username.into(),
            password: password.into(),
            phone: phone.map(Into::into),
            email: email.map(Into::into),
            ..Default::default()
        }
    };
    for (req, code) in [
        (reg("alice", None, None, PASSWORD), "conflict"),
        (reg("ALICE", None, None, PASSWORD), "conflict"),
        (reg("x", None, None, PASSWORD), "invalid_input"),
        (reg(&"a".repeat(40), None, None, PASSWORD), "invalid_input"),
        (reg("", None, None, PASSWORD), "invalid_input"),
        (reg("zed", Some("12345"), None, PASSWORD), "invalid_input"),
        (
            reg("zed", None, Some("not-an-email"), PASSWORD),
            "invalid_input",
        ),
        (reg("zed", None, None, "short"), "invalid_input"),
    ] {
        let err = c.register(req).await.expect_err("refused");
        assert_eq!(err.code(), code);
    }

    let group = |name: &str, members: &[&str]| CreateGroup {
        name: name.into(),
        members: members.iter().map(|m| m.to_string()).collect(),
        history_visible: false,
    };
    for (req, code) in [
        (group("", &[]), "invalid_input"),
        (group(&"g".repeat(65), &[]), "invalid_input"),
        (group("dupes", &["bob", "bob"]), "invalid_input"),
        (group("ghosts", &["nobody"]), "not_found"),
    ] {
        let err = alice.create_group(req).await.expect_err("refused");
        assert_eq!(err.code(), code);
    }
    assert!(
        alice.groups().await.expect("groups").is_empty(),
        "nothing half-created"
    );
}

#[tokio::test]
async fn malformed_rest_bodies_get_json_errors() {
    let server = TestServer::start().await;
    let http = common::http_client(None);
    let resp = http
        .post(format!("{}/v1/sessions", server.url))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.expect("json error body");
    assert!(
        body["code"] == "malformed_frame" || body["code"] == "invalid_input",
        "{body}"
    );

    let resp = http
        .get(format!("{}/v1/nowhere", server.url))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.expect("json error body");
    assert_eq!(body["code"], "not_found");
}

#[tokio::test]
async fn login_is_throttled_per_account_with_a_retry_time() {
    let server = TestServer::start().await;
    let _alice = user(&server, "alice").await;
    let mut c = server.client();
    let attempt = |password: &str| LoginRequest {
        username: "alice".into(),
        password: password.into(),
        ..Default::default()
    };
    for _ in 0..5 {
        let err = c.login(attempt("wrong password")).await.expect_err("wrong");
        assert_eq!(err.code(), "unauthorized");
    }
    let err = c
        .login(attempt(PASSWORD))
        .await
        .expect_err("throttled even when right");
    assert_eq!(err.code(), "rate_limited");
    match err {
        oriole_client::ClientError::Api(api) => {
            let wait = api.retry_after.expect("retry_after");
            assert!(wait > 0 && wait <= 15 * 60, "{wait}");
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    // Another account from the same place is not locked out.
    let _bob = user(&server, "bob").await;
    c.login(LoginRequest {
        username: "bob".into(),
        password: PASSWORD.into(),
        ..Default::default()
    })
    .await
    .expect("bob logs in");
}
