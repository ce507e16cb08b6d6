//! Test harness: the real app on 127.0.0.1:0 over a fresh SQLite file,
//! driven over real HTTP and WebSocket connections. The listener is bound
//! before launch, so the server is ready as soon as `start` returns.

#![allow(dead_code)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use oriole_proto::{RegisterRequest, SessionResponse};
use oriole_server::{launch_with_listener, ServerError, Settings};
use oriole_store_sqlite::{SqliteOptions, SqliteStore};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

pub const PASSWORD: &str = "correct horse battery";
/// Upper bound for any single wait in a test, so a bug fails instead of hanging.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct TestApp {
    pub url: String,
    pub http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<Result<(), ServerError>>>,
    _data: TempDir,
}

/// Fast settings: a cheap password hash.
pub fn test_settings() -> Settings {
    Settings {
        password_memory_kib: 1024,
        password_iterations: 1,
        ..Settings::default()
    }
}

impl TestApp {
    pub async fn start() -> TestApp {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
        let data = TempDir::new().expect("temp dir");
        let mut settings = test_settings();
        settings.data_dir = data.path().to_owned();
        adjust(&mut settings);
        let store = SqliteStore::open(&data.path().join("oriole.db"), SqliteOptions::default())
            .await
            .expect("open store");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(launch_with_listener(settings, store, listener, async {
            let _ = rx.await;
        }));
        TestApp {
            url,
            http: reqwest::Client::new(),
            shutdown: Some(tx),
            server: Some(server),
            _data: data,
        }
    }

    /// Signal shutdown and wait for `launch_with_listener` to return.
    pub async fn stop(&mut self) -> Result<(), ServerError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let server = self.server.take().expect("running");
        tokio::time::timeout(Duration::from_secs(30), server)
            .await
            .expect("server stops in time")
            .expect("server task")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    pub fn ws_url(&self) -> String {
        format!("{}/v1/ws", self.url.replacen("http", "ws", 1))
    }

    pub async fn register(&self, name: &str) -> SessionResponse {
        let resp = self
            .http
            .post(self.url("/v1/accounts"))
            .json(&RegisterRequest {
                username: name.into(),
                password: PASSWORD.into(),
                ..Default::default()
            })
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 201, "register {name}");
        resp.json().await.expect("session")
    }

    pub async fn login(&self, name: &str) -> SessionResponse {
        let resp = self
            .http
            .post(self.url("/v1/sessions"))
            .json(&json!({"username": name, "password": PASSWORD}))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 200, "login {name}");
        resp.json().await.expect("session")
    }

    /// An authenticated request builder.
    pub fn get(&self, token: &str, path: &str) -> reqwest::RequestBuilder {
        self.http.get(self.url(path)).bearer_auth(token)
    }

    pub fn post(&self, token: &str, path: &str) -> reqwest::RequestBuilder {
        self.http.post(self.url(path)).bearer_auth(token)
    }

    pub fn delete(&self, token: &str, path: &str) -> reqwest::RequestBuilder {
        self.http.delete(self.url(path)).bearer_auth(token)
    }

    pub fn patch(&self, token: &str, path: &str) -> reqwest::RequestBuilder {
        self.http.patch(self.url(path)).bearer_auth(token)
    }

    /// Send a 1:1 text over REST; returns the ack.
    pub async fn send_text(&self, token: &str, to: &str, text: &str) -> Value {
        let resp = self
            .post(token, "/v1/messages")
            .json(&json!({"to": to, "text": text}))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 201);
        resp.json().await.expect("ack")
    }

    /// Open a WebSocket with a bearer header and read its `hello`.
    pub async fn ws(&self, token: &str) -> (Ws, Value) {
        let mut req = self.ws_url().into_client_request().expect("request");
        req.headers_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("header"),
        );
        let (mut ws, _) = tokio_tungstenite::connect_async(req)
            .await
            .expect("upgrade");
        let hello = next_json(&mut ws).await;
        assert_eq!(hello["type"], "hello", "{hello}");
        (ws, hello)
    }
}

/// The next text frame as JSON (control frames skipped).
pub async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let frame = tokio::time::timeout(PATIENCE, ws.next())
            .await
            .expect("a frame in time")
            .expect("socket open")
            .expect("frame");
        match frame {
            Message::Text(t) => return serde_json::from_str(&t).expect("server sends JSON"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

pub async fn send_json(ws: &mut Ws, v: Value) -> Value {
    ws.send(Message::text(v.to_string())).await.expect("send");
    next_json(ws).await
}

/// Read until the close frame and return its code.
pub async fn close_code(ws: &mut Ws) -> u16 {
    loop {
        let next = tokio::time::timeout(PATIENCE, ws.next())
            .await
            .expect("closed in time");
        match next {
            Some(Ok(Message::Close(Some(frame)))) => return frame.code.into(),
            Some(Ok(Message::Close(None))) | None => panic!("closed without a code"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("socket error instead of close: {e}"),
        }
    }
}

/// The next `event` frame, skipping nothing else: any other frame fails.
pub async fn next_event(ws: &mut Ws) -> Value {
    let frame = next_json(ws).await;
    assert_eq!(frame["type"], "event", "{frame}");
    frame
}
