//! The session task against a scripted server: resumption, retries with the
//! same idempotency key, revocation, refused upgrades.

use super::*;
use oriole_proto::EventKind;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;

type ServerWs = WebSocketStream<TcpStream>;

const TOKEN: &str = "ori_test";

/// Fails the test instead of hanging it.
async fn within<T>(fut: impl std::future::Future<Output = T>) -> T {
    timeout(Duration::from_secs(15), fut)
        .await
        .expect("test step timed out")
}

async fn listener() -> (TcpListener, Client) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    (l, Client::new(&url).expect("client").with_token(TOKEN))
}

/// Accept one upgrade (checking the bearer token) and say hello.
async fn accept(l: &TcpListener) -> ServerWs {
    let (tcp, _) = l.accept().await.expect("accept");
    // The signature is tungstenite's `Callback`, large error and all.
    #[allow(clippy::result_large_err)]
    let check = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        let auth = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        assert_eq!(auth, Some("Bearer ori_test"));
        Ok(resp)
    };
    let mut ws = tokio_tungstenite::accept_hdr_async(tcp, check)
        .await
        .expect("upgrade");
    push(
        &mut ws,
        ServerFrame::Hello {
            protocol: PROTOCOL_VERSION,
            user_id: "u1".into(),
            username: "bob".into(),
            device_id: "d1".into(),
            head: 0,
        },
    )
    .await;
    ws
}

async fn push(ws: &mut ServerWs, frame: ServerFrame) {
    let text = serde_json::to_string(&frame).expect("json");
    ws.send(Message::text(text)).await.expect("push");
}

async fn pull(ws: &mut ServerWs) -> ClientFrame {
    loop {
        match ws.next().await.expect("open").expect("frame") {
            Message::Text(t) => return serde_json::from_str(t.as_str()).expect("client frame"),
            Message::Close(_) => panic!("client closed"),
            _ => continue,
        }
    }
}

/// Read `subscribe`, check its cursor, confirm it.
async fn subscribed(ws: &mut ServerWs, expected_after: u64) {
    match pull(ws).await {
        ClientFrame::Subscribe { reference, after } => {
            assert_eq!(after, expected_after, "resume cursor");
            push(ws, ServerFrame::Ok { reference }).await;
        }
        other => panic!("expected subscribe, got {other:?}"),
    }
}

fn event(seq: u64) -> ServerFrame {
    ServerFrame::Event {
        event: InboxEvent {
            seq,
            kind: EventKind::Message,
            id: format!("m{seq}"),
            from: Some("alice".into()),
            to: Some("bob".into()),
            group: None,
            text: Some(format!("t{seq}")),
            payload: None,
            sent_at: 1,
            at: 1,
            receipt: None,
            recalled: false,
        },
    }
}

async fn seqs(conn: &mut Connection, n: usize) -> Vec<u64> {
    let mut got = Vec::new();
    for _ in 0..n {
        let ev = within(conn.next_event())
            .await
            .expect("open")
            .expect("event");
        got.push(ev.seq);
    }
    got
}

async fn close_with(ws: &mut ServerWs, code: u16, reason: &str) {
    ws.close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    }))
    .await
    .expect("close");
}

#[tokio::test]
async fn reconnects_and_resumes_without_gaps_or_duplicates() {
    let (l, client) = listener().await;
    let server = tokio::spawn(async move {
        let mut ws = accept(&l).await;
        subscribed(&mut ws, 0).await;
        push(&mut ws, event(1)).await;
        push(&mut ws, event(2)).await;
        // Server restart: "going away".
        close_with(&mut ws, close_code::GOING_AWAY, "restart").await;
        drop(ws);

        let mut ws = accept(&l).await;
        subscribed(&mut ws, 2).await;
        // A sloppy server repeats one; the client must not.
        push(&mut ws, event(2)).await;
        push(&mut ws, event(3)).await;
        drop(ws); // abrupt: no closing handshake

        let mut ws = accept(&l).await;
        subscribed(&mut ws, 3).await;
        push(&mut ws, event(4)).await;
        // Wait for the client's close.
        while let Some(Ok(m)) = ws.next().await {
            if matches!(m, Message::Close(_)) {
                break;
            }
        }
    });
    let mut conn = within(client.connect(0)).await.expect("connect");
    assert_eq!(conn.username(), "bob");
    assert_eq!(seqs(&mut conn, 4).await, vec![1, 2, 3, 4]);
    assert_eq!(conn.last_seq(), 4);
    within(conn.close()).await;
    within(server).await.expect("server script");
}

#[tokio::test]
async fn live_events_before_the_subscription_cannot_skip_the_backlog() {
    let (l, client) = listener().await;
    let server = tokio::spawn(async move {
        let mut ws = accept(&l).await;
        // A live event for seq 9 races ahead of the subscription.
        push(&mut ws, event(9)).await;
        subscribed(&mut ws, 5).await;
        for seq in 6..=9 {
            push(&mut ws, event(seq)).await;
        }
        push(&mut ws, event(10)).await;
        let _ = ws.next().await;
    });
    let mut conn = within(client.connect(5)).await.expect("connect");
    assert_eq!(seqs(&mut conn, 5).await, vec![6, 7, 8, 9, 10]);
    within(conn.close()).await;
    within(server).await.expect("server script");
}

#[tokio::test]
async fn an_unanswered_send_is_retried_with_the_same_key() {
    let (l, client) = listener().await;
    let server = tokio::spawn(async move {
        let mut ws = accept(&l).await;
        subscribed(&mut ws, 0).await;
        // An error frame answers only its own request.
        let first_key = match pull(&mut ws).await {
            ClientFrame::Send { reference, message } => {
                assert_eq!(message.to.as_deref(), Some("nobody"));
                push(
                    &mut ws,
                    ServerFrame::Error {
                        reference,
                        code: ErrorCode::NotFound,
                        message: "no such user".into(),
                        retry_after: None,
                    },
                )
                .await;
                message.idempotency_key.expect("key set by the SDK")
            }
            other => panic!("expected send, got {other:?}"),
        };
        let key = match pull(&mut ws).await {
            ClientFrame::Send { message, .. } => {
                assert_eq!(message.text.as_deref(), Some("hello"));
                message.idempotency_key.expect("key set by the SDK")
            }
            other => panic!("expected send, got {other:?}"),
        };
        assert_ne!(key, first_key, "one key per logical send");
        // Committed, but the connection dies before the ack.
        drop(ws);

        let mut ws = accept(&l).await;
        subscribed(&mut ws, 0).await;
        match pull(&mut ws).await {
            ClientFrame::Send { reference, message } => {
                assert_eq!(message.idempotency_key.as_deref(), Some(key.as_str()));
                push(
                    &mut ws,
                    ServerFrame::Ack {
                        reference,
                        ack: SendAck {
                            message_id: "m1".into(),
                            seq: 1,
                            sent_at: 5,
                            duplicate: true,
                        },
                    },
                )
                .await;
            }
            other => panic!("expected the retried send, got {other:?}"),
        }
        let _ = ws.next().await;
    });
    let conn = within(client.connect(0)).await.expect("connect");
    let err = within(conn.send(SendMessage {
        to: Some("nobody".into()),
        text: Some("hi".into()),
        ..Default::default()
    }))
    .await
    .expect_err("no such user");
    assert_eq!(err.code(), "not_found");
    let ack = within(conn.send(SendMessage {
        to: Some("alice".into()),
        text: Some("hello".into()),
        ..Default::default()
    }))
    .await
    .expect("acked after the reconnect");
    assert_eq!(ack.message_id, "m1");
    within(conn.close()).await;
    within(server).await.expect("server script");
}

#[tokio::test]
async fn revocation_ends_the_stream_and_never_reconnects() {
    let (l, client) = listener().await;
    let mut conn = {
        let connecting = tokio::spawn(async move { client.connect(0).await });
        let mut ws = within(accept(&l)).await;
        let conn = within(connecting).await.expect("task").expect("connect");
        subscribed(&mut ws, 0).await;
        push(&mut ws, event(1)).await;
        close_with(&mut ws, close_code::REVOKED, "device revoked").await;
        conn
    };
    assert_eq!(seqs(&mut conn, 1).await, vec![1]);
    match within(conn.next_event()).await {
        Some(Err(ClientError::Closed { code, reason })) => {
            assert_eq!(code, 4001);
            assert_eq!(reason, "device revoked");
        }
        other => panic!("expected close 4001, got {other:?}"),
    }
    assert!(within(conn.next_event()).await.is_none());
    let err = within(conn.recall("m1")).await.expect_err("closed");
    assert!(
        matches!(err, ClientError::Closed { code: 4001, .. }),
        "{err:?}"
    );
    assert!(
        timeout(Duration::from_millis(700), l.accept())
            .await
            .is_err(),
        "no reconnect after revocation"
    );
}

#[tokio::test]
async fn a_refused_upgrade_is_an_api_error() {
    let (l, client) = listener().await;
    let server = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.expect("accept");
        #[allow(clippy::result_large_err)] // tungstenite's `Callback` signature
        let refuse = |_: &Request, _: Response| -> Result<Response, ErrorResponse> {
            let mut resp = ErrorResponse::new(Some(
                r#"{"code":"unauthorized","message":"unknown token"}"#.into(),
            ));
            *resp.status_mut() = StatusCode::UNAUTHORIZED;
            Err(resp)
        };
        let _ = tokio_tungstenite::accept_hdr_async(tcp, refuse).await;
    });
    let err = within(client.connect(0)).await.expect_err("refused");
    assert_eq!(err.code(), "unauthorized");
    assert_eq!(err.message(), "unknown token");
    within(server).await.expect("server script");
}

#[test]
fn backoff_grows_with_jitter_up_to_the_cap() {
    for attempt in 0..40 {
        let step = BACKOFF_BASE
            .saturating_mul(1u32 << attempt.min(16))
            .min(BACKOFF_CAP);
        let d = backoff(attempt);
        assert!(d >= step / 2 && d <= step, "attempt {attempt}: {d:?}");
    }
    assert!(backoff(100) <= BACKOFF_CAP);
}

#[test]
fn refs_round_trip() {
    assert_eq!(parse_ref(Some(&ref_text(42))), Some(42));
    assert_eq!(parse_ref(Some("x1")), None);
    assert_eq!(parse_ref(None), None);
}
