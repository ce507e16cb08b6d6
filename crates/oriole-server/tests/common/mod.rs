//! Test harness: the real app on 127.0.0.1:0 over a fresh SQLite file,
//! driven over real HTTP and WebSocket connections (or HTTPS and WSS, with a
//! test CA). The listener is bound before launch, so the server is ready as
//! soon as `start` returns.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use oriole_proto::{RegisterRequest, SessionResponse};
use oriole_server::{launch_with_listener, launch_with_tls_listener, ServerError, Settings};
use oriole_store_sqlite::{SqliteOptions, SqliteStore};
use rustls::ClientConfig;
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
    /// What the harness's clients trust, when serving HTTPS.
    pub tls: Option<Arc<rustls::ClientConfig>>,
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
        Self::launch(adjust, None).await
    }

    /// HTTPS and WSS with `server`'s certificate; the harness's HTTP and
    /// WebSocket clients trust the CA in `ca_pem`.
    pub async fn start_tls(server: Arc<rustls::ServerConfig>, ca_pem: &str) -> TestApp {
        Self::launch(|_| {}, Some((server, client_tls(ca_pem)))).await
    }

    async fn launch(
        adjust: impl FnOnce(&mut Settings),
        tls: Option<(Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>)>,
    ) -> TestApp {
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
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        let shutdown = async {
            let _ = rx.await;
        };
        let (url, http, client_tls, server) = match tls {
            None => (
                format!("http://{addr}"),
                reqwest::Client::builder()
                    .use_preconfigured_tls(ClientConfig::clone(&client_tls(TEST_CA_NONE)))
                    .build()
                    .expect("http client"),
                None,
                tokio::spawn(launch_with_listener(settings, store, listener, shutdown)),
            ),
            Some((server_tls, client)) => (
                format!("https://{addr}"),
                reqwest::Client::builder()
                    .use_preconfigured_tls(ClientConfig::clone(&client))
                    .build()
                    .expect("https client"),
                Some(client),
                tokio::spawn(launch_with_tls_listener(
                    settings, store, listener, server_tls, shutdown,
                )),
            ),
        };
        TestApp {
            url,
            http,
            tls: client_tls,
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

    /// The store's SQLite file.
    pub fn db_path(&self) -> std::path::PathBuf {
        self._data.path().join("oriole.db")
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
        let connector = self.tls.clone().map(tokio_tungstenite::Connector::Rustls);
        let (mut ws, _) =
            tokio_tungstenite::connect_async_tls_with_config(req, None, false, connector)
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

/// No extra CA: plain-HTTP harnesses never verify a certificate.
const TEST_CA_NONE: &str = "";

/// A client TLS configuration (aws-lc-rs, like the server) trusting only
/// the certificates in `ca_pem`.
pub fn client_tls(ca_pem: &str) -> Arc<ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("PEM")).expect("CA certificate");
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// A certificate authority made for one test, and server certificates it
/// signs.
pub struct TestCa {
    pub pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let key = rcgen::KeyPair::generate().expect("CA key");
        let pem = params.self_signed(&key).expect("CA certificate").pem();
        TestCa {
            pem,
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A certificate for localhost and 127.0.0.1, and its key, both PEM.
    pub fn server_cert(&self) -> (String, String) {
        let params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("params");
        let key = rcgen::KeyPair::generate().expect("server key");
        let cert = params.signed_by(&key, &self.issuer).expect("signed");
        (cert.pem(), key.serialize_pem())
    }

    /// The server's TLS configuration with a certificate from this CA.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        use rustls::pki_types::pem::PemObject;
        let (cert, key) = self.server_cert();
        let chain =
            vec![rustls::pki_types::CertificateDer::from_pem_slice(cert.as_bytes()).expect("cert")];
        let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key");
        oriole_server::tls::build_server_config(chain, key).expect("server config")
    }
}
