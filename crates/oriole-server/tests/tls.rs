//! HTTPS and WSS: the API over TLS with a test CA, HSTS, the client address
//! behind TLS, clients that must be refused (plain HTTP, silence, another
//! CA), and shutdown with WSS sessions open.

mod common;

use common::{close_code, next_event, TestApp, TestCa, PATIENCE};
use oriole_client::Client;
use oriole_server::{launch_with_listener, ServerError};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn the_api_and_websockets_work_over_tls_with_hsts() {
    let ca = TestCa::new("Oriole test CA");
    let mut app = TestApp::start_tls(ca.server_config(), &ca.pem).await;
    assert!(app.url.starts_with("https://127.0.0.1:"), "{}", app.url);

    let health = app
        .http
        .get(app.url("/v1/health"))
        .send()
        .await
        .expect("https");
    assert_eq!(health.status(), 200);
    assert_eq!(
        health
            .headers()
            .get("strict-transport-security")
            .expect("HSTS on HTTPS"),
        "max-age=31536000"
    );

    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let (mut ws, hello) = app.ws(&bob.token).await;
    assert_eq!(hello["username"], "bob");
    app.send_text(&alice.token, "bob", "over tls").await;
    let event = next_event(&mut ws).await;
    assert_eq!(event["text"], "over tls", "{event}");

    // The client address still reaches the handlers behind TLS.
    let devices: Value = app
        .get(&alice.token, "/v1/devices")
        .send()
        .await
        .expect("devices")
        .json()
        .await
        .expect("json");
    assert_eq!(devices["devices"][0]["ip"], "127.0.0.1", "{devices}");

    app.stop().await.expect("clean stop");
}

#[tokio::test]
async fn plain_http_has_no_hsts() {
    let mut app = TestApp::start().await;
    let health = app
        .http
        .get(app.url("/v1/health"))
        .send()
        .await
        .expect("http");
    assert_eq!(health.status(), 200);
    assert!(health.headers().get("strict-transport-security").is_none());
    app.stop().await.expect("clean stop");
}

#[tokio::test]
async fn plain_http_and_silent_clients_are_dropped_and_the_server_serves_on() {
    let ca = TestCa::new("Oriole test CA");
    let mut app = TestApp::start_tls(ca.server_config(), &ca.pem).await;
    let addr = app.url.trim_start_matches("https://").to_owned();

    // A client that connects and says nothing does not hold up others.
    let _silent = TcpStream::connect(&addr).await.expect("connect");

    // Plain HTTP on the TLS port: no HTTP answer, the connection ends.
    let mut tcp = TcpStream::connect(&addr).await.expect("connect");
    tcp.write_all(b"GET /v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write");
    let mut answer = Vec::new();
    tokio::time::timeout(PATIENCE, tcp.read_to_end(&mut answer))
        .await
        .expect("the server ends the connection")
        .ok();
    assert!(
        !answer.starts_with(b"HTTP/"),
        "an HTTP answer over the TLS port: {:?}",
        String::from_utf8_lossy(&answer)
    );
    let http_url = app.url.replacen("https", "http", 1);
    let plain = reqwest::Client::builder()
        .use_preconfigured_tls(rustls::ClientConfig::clone(&common::client_tls("")))
        .build()
        .expect("client");
    assert!(plain
        .get(format!("{http_url}/v1/health"))
        .send()
        .await
        .is_err());

    let health = app
        .http
        .get(app.url("/v1/health"))
        .send()
        .await
        .expect("still serving");
    assert_eq!(health.status(), 200);
    app.stop().await.expect("clean stop");
}

#[tokio::test]
async fn clients_that_trust_another_ca_are_refused() {
    let ca = TestCa::new("Oriole test CA");
    let other = TestCa::new("Somebody else's CA");
    let mut app = TestApp::start_tls(ca.server_config(), &ca.pem).await;
    let alice = app.register("alice").await;

    let stranger = Client::builder(&app.url)
        .ca_pem(other.pem.as_bytes())
        .expect("CA")
        .build()
        .expect("client");
    let err = stranger.health().await.expect_err("untrusted certificate");
    assert_eq!(err.code(), "tls", "{err}");
    assert!(err.message().contains("certificate"), "{err}");
    // The WebSocket uses the same trust.
    let err = stranger
        .clone()
        .with_token(alice.token.clone())
        .connect(0)
        .await
        .expect_err("untrusted certificate");
    assert_eq!(err.code(), "tls", "{err}");

    // The built-in roots do not know a private CA either.
    let err = Client::new(&app.url)
        .expect("client")
        .health()
        .await
        .expect_err("untrusted certificate");
    assert_eq!(err.code(), "tls", "{err}");

    // The right CA works, over REST and WSS.
    let trusted = Client::builder(&app.url)
        .ca_pem(ca.pem.as_bytes())
        .expect("CA")
        .build()
        .expect("client")
        .with_token(alice.token);
    trusted.health().await.expect("trusted");
    trusted.connect(0).await.expect("wss").close().await;
    app.stop().await.expect("clean stop");
}

#[tokio::test]
async fn shutdown_closes_wss_sessions_with_1001() {
    let ca = TestCa::new("Oriole test CA");
    let mut app = TestApp::start_tls(ca.server_config(), &ca.pem).await;
    let bob = app.register("bob").await;
    let (mut ws, _) = app.ws(&bob.token).await;
    let stopped = tokio::spawn(async move { app.stop().await });
    assert_eq!(close_code(&mut ws).await, 1001);
    tokio::time::timeout(PATIENCE, stopped)
        .await
        .expect("stops in time")
        .expect("task")
        .expect("clean stop");
}

#[tokio::test]
async fn settings_that_ask_for_tls_never_serve_plain_http() {
    let data = tempfile::TempDir::new().expect("dir");
    let mut settings = common::test_settings();
    settings.data_dir = data.path().to_owned();
    settings.self_signed = true;
    let store = oriole_store_sqlite::SqliteStore::open(
        &data.path().join("oriole.db"),
        oriole_store_sqlite::SqliteOptions::default(),
    )
    .await
    .expect("store");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let result = launch_with_listener(settings, store, listener, std::future::pending()).await;
    assert!(
        matches!(result, Err(ServerError::Settings(_))),
        "{result:?}"
    );
}
