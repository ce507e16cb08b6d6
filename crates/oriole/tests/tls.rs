//! `oriole serve` over TLS, black-box: a certificate from a private CA
//! (`--tls-cert/--tls-key`) and a self-signed one (`--self-signed`), used
//! through the SDK and the CLI with `--ca-file`.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::Duration;

use common::{http_client, texts, user, Cli, TestCa, TestServer};
use oriole_client::Client;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PATIENCE: Duration = Duration::from_secs(15);

#[tokio::test]
async fn a_private_ca_secures_rest_and_websockets() {
    let data = tempfile::TempDir::new().expect("dir");
    let ca = TestCa::new("Oriole test CA");
    let (ca_file, cert, key) = ca.write(data.path());
    let mut server = TestServer::start_in(
        data,
        &[],
        &[
            "--tls-cert",
            cert.to_str().expect("utf-8"),
            "--tls-key",
            key.to_str().expect("utf-8"),
        ],
    )
    .await;
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "listening line: {}",
        server.url
    );
    server.ca_file = Some(ca_file.clone());

    // REST over HTTPS, events over WSS, through the SDK.
    let alice = user(&server, "alice").await;
    let bob = user(&server, "bob").await;
    let mut live = bob.connect(0).await.expect("wss");
    alice.send_text("bob", "over tls").await.expect("send");
    let event = tokio::time::timeout(PATIENCE, live.next_event())
        .await
        .expect("event in time")
        .expect("open")
        .expect("event");
    assert_eq!(texts(&[event]), ["over tls"]);
    live.close().await;

    // HSTS on HTTPS answers.
    let http = http_client(Some(ca.pem.as_bytes()));
    let health = http
        .get(format!("{}/v1/health", server.url))
        .send()
        .await
        .expect("https");
    assert_eq!(
        health
            .headers()
            .get("strict-transport-security")
            .map(|v| v.to_str().expect("ascii").to_owned()),
        Some("max-age=31536000".to_owned())
    );

    // Plain HTTP on the TLS port gets no HTTP answer; the server serves on.
    let addr = server.url.trim_start_matches("https://").to_owned();
    let mut tcp = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    tcp.write_all(b"GET /v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, tcp.read_to_end(&mut answer))
        .await
        .expect("the server ends the connection");
    assert!(!answer.starts_with(b"HTTP/"), "{answer:?}");
    let plain = Client::new(&server.url.replacen("https", "http", 1)).expect("client");
    assert!(plain.health().await.is_err());
    server.client().health().await.expect("still serving");

    // A client trusting another CA is refused, over REST and WSS alike.
    let other = TestCa::new("Somebody else's CA");
    let stranger = Client::builder(&server.url)
        .ca_pem(other.pem.as_bytes())
        .expect("CA")
        .build()
        .expect("client");
    let err = stranger.health().await.expect_err("untrusted");
    assert_eq!(err.code(), "tls", "{err}");
    assert!(err.message().contains("certificate"), "{err}");
    let token = bob.token().expect("token").to_owned();
    let err = stranger
        .with_token(token)
        .connect(0)
        .await
        .expect_err("untrusted");
    assert_eq!(err.code(), "tls", "{err}");

    server.stop().await;
}

#[tokio::test]
async fn self_signed_is_made_once_kept_and_trusted_with_ca_file() {
    let mut server = TestServer::start_with(&[], &["--self-signed"]).await;
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    let cert = server.data.path().join("tls-cert.pem");
    let key = server.data.path().join("keys").join("tls-key.pem");
    let first = std::fs::read(&cert).expect("certificate kept in the data directory");
    let mode = std::fs::metadata(&key)
        .expect("key in the key store")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the key is owner-only");

    // The SDK trusting the generated certificate.
    server.ca_file = Some(cert.clone());
    user(&server, "carol").await;

    // The CLI: --ca-file at register, remembered in the profile after.
    let home = tempfile::TempDir::new().expect("dir");
    let alice = Cli::new(home.path(), "alice", &server.url);
    let bob = Cli::new(home.path(), "bob", &server.url);
    let untrusted = alice.run(&["register", "alice"]).await;
    assert_eq!(untrusted.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&untrusted.stderr);
    assert!(
        stderr.starts_with("error: tls: ") && stderr.contains("--ca-file"),
        "{stderr}"
    );
    let ca = cert.to_str().expect("utf-8");
    alice.ok(&["--ca-file", ca, "register", "alice"]).await;
    bob.ok(&["register", "bob", "--ca-file", ca]).await;
    alice.ok(&["send", "bob", "hello over https"]).await;
    let synced = bob.ok(&["sync"]).await;
    assert!(synced.contains("hello over https"), "{synced}");

    // A restart reuses the certificate.
    server.stop().await;
    server.restart().await;
    assert_eq!(std::fs::read(&cert).expect("certificate"), first);
    server
        .client()
        .health()
        .await
        .expect("same trust after restart");
    server.stop().await;
}

#[tokio::test]
async fn unusable_certificate_files_stop_the_server_with_a_clear_error() {
    let data = tempfile::TempDir::new().expect("dir");
    let junk = data.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").expect("write");
    let junk = junk.to_str().expect("utf-8");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_oriole"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data.path().join("data"))
        .args(["--tls-cert", junk, "--tls-key", junk])
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("TLS") && stderr.contains("junk.pem"),
        "{stderr}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("listening"));
}
