//! Encryption at rest, black-box: canary values sent through the real
//! server must not appear in plaintext in any file under DATA or in the
//! server's log, and the KEK can be rotated offline without losing data.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::PASSWORD;
use oriole_client::Client;
use oriole_proto::{RegisterRequest, SendMessage};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A server whose log (at debug level) goes to a file we can scan.
struct LoggedServer {
    child: Child,
    url: String,
}

async fn start(data: &Path, log: &Path) -> LoggedServer {
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_oriole"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .env("ORIOLE_PASSWORD_MEMORY_KIB", "1024")
        .env("ORIOLE_PASSWORD_ITERATIONS", "1")
        .env("RUST_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log_file))
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let url = loop {
        let line = lines
            .next_line()
            .await
            .expect("stdout")
            .expect("server exited before listening");
        if let Some(url) = line.strip_prefix("listening on ") {
            break url.trim().to_owned();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    LoggedServer { child, url }
}

async fn stop(mut server: LoggedServer) {
    let pid = server.child.id().expect("running").to_string();
    let st = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .expect("kill");
    assert!(st.success());
    assert!(server.child.wait().await.expect("wait").success());
}

/// Register through the SDK with the test password.
async fn register(url: &str, req: RegisterRequest) -> Client {
    let mut client = Client::new(url).expect("client");
    client
        .register(RegisterRequest {
            password: PASSWORD.into(),
            ..req
        })
        .await
        .expect("register");
    client
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn canaries_never_reach_disk_or_logs_in_plaintext() {
    let home = tempfile::TempDir::new().expect("dir");
    let data = home.path().join("data");
    let log = home.path().join("server.log");
    let server = start(&data, &log).await;

    let canaries = [
        ("phone", "+861390077123"),
        ("email", "canary.mail.7731@example.org"),
        ("model", "CanaryPhone-MODEL-5521"),
        ("os", "CanaryOS-VERSION-9917"),
        ("text", "canary-TEXT-a9b8c7d6e5"),
        ("payload", "canary-PAYLOAD-f1e2d3c4"),
    ];
    let alice = register(
        &server.url,
        RegisterRequest {
            username: "alice".into(),
            phone: Some(canaries[0].1.into()),
            email: Some(canaries[1].1.into()),
            device_model: Some(canaries[2].1.into()),
            os_version: Some(canaries[3].1.into()),
            consents: vec!["device_diagnostics".into()],
            ..Default::default()
        },
    )
    .await;
    let bob = register(
        &server.url,
        RegisterRequest {
            username: "bob".into(),
            ..Default::default()
        },
    )
    .await;
    for _ in 0..3 {
        alice
            .send(SendMessage {
                to: Some("bob".into()),
                text: Some(canaries[4].1.into()),
                payload: Some(serde_json::json!({ "note": canaries[5].1 })),
                ..Default::default()
            })
            .await
            .expect("send");
    }
    // The data reads back in clear through the API.
    let inbox = bob.sync_all(0).await.expect("sync");
    assert_eq!(inbox[0].text.as_deref(), Some(canaries[4].1));
    let me = alice.me().await.expect("me");
    assert_eq!(me.phone.as_deref(), Some(canaries[0].1));
    let alice_id = me.user_id;
    let devices = alice.devices().await.expect("devices");
    assert_eq!(devices[0].device_model.as_deref(), Some(canaries[2].1));

    // Scan a live copy (WAL and SHM present) and then the stopped one.
    let scan = |when: &str| {
        let mut files = files_under(&data);
        files.push(log.clone());
        assert!(files.iter().any(|f| f.ends_with("oriole.db")));
        for file in &files {
            let bytes = std::fs::read(file).expect("read");
            for (what, canary) in &canaries {
                for form in [canary.as_bytes().to_vec(), hex::encode(canary).into_bytes()] {
                    assert!(
                        !contains(&bytes, &form),
                        "{when}: the {what} canary is in plaintext in {}",
                        file.display()
                    );
                }
            }
        }
    };
    scan("while running");
    stop(server).await;
    scan("after stop");

    // Nor the account's id, the audit log's pseudonym for it: the log is
    // at debug level, and no line of it may tie a request to an account.
    let user_id = alice_id;
    let logged = std::fs::read(&log).expect("read log");
    assert!(
        !contains(&logged, user_id.as_bytes()),
        "the account id {user_id} is in the server log"
    );
}

#[tokio::test]
async fn rotate_kek_offline_keeps_every_field_readable() {
    let home = tempfile::TempDir::new().expect("dir");
    let data = home.path().join("data");
    let log = home.path().join("server.log");
    let server = start(&data, &log).await;
    let alice = register(
        &server.url,
        RegisterRequest {
            username: "alice".into(),
            email: Some("alice@example.org".into()),
            ..Default::default()
        },
    )
    .await;
    let bob = register(
        &server.url,
        RegisterRequest {
            username: "bob".into(),
            ..Default::default()
        },
    )
    .await;
    alice
        .send_text("bob", "before rotation")
        .await
        .expect("send");
    let old_kek = std::fs::read(data.join("keys/kek")).expect("kek file");

    // Refused while the server holds the key directory.
    let out = Command::new(env!("CARGO_BIN_EXE_oriole"))
        .args(["admin", "rotate-kek", "--data"])
        .arg(&data)
        .output()
        .await
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(1),
        "rotation must wait for the server to stop"
    );
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: "));

    stop(server).await;
    let out = Command::new(env!("CARGO_BIN_EXE_oriole"))
        .args(["admin", "rotate-kek", "--data"])
        .arg(&data)
        .output()
        .await
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new_kek = std::fs::read(data.join("keys/kek")).expect("kek file");
    assert_ne!(old_kek, new_kek);
    for file in files_under(&data) {
        let bytes = std::fs::read(&file).expect("read");
        assert!(
            !contains(&bytes, &old_kek),
            "old KEK left in {}",
            file.display()
        );
    }

    let server = start(&data, &log).await;
    let alice = Client::new(&server.url)
        .expect("client")
        .with_token(alice.token().expect("token"));
    let bob = Client::new(&server.url)
        .expect("client")
        .with_token(bob.token().expect("token"));
    assert_eq!(
        alice.me().await.expect("me").email.as_deref(),
        Some("alice@example.org")
    );
    let inbox = bob.sync_all(0).await.expect("sync");
    assert_eq!(inbox[0].text.as_deref(), Some("before rotation"));
    stop(server).await;
}
