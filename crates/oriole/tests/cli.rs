//! The README's tour, run by the real CLI against the real server: two users
//! chat, one offline across a server restart.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{Cli, TestServer};
use serde_json::Value;

fn json_lines(out: &str) -> Vec<Value> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("not one JSON object per line: {l:?}: {e}"))
        })
        .collect()
}

#[tokio::test]
async fn two_users_chat_through_the_cli_across_a_restart() {
    let mut server = TestServer::start().await;
    let home = tempfile::TempDir::new().expect("dir");
    let alice = Cli::new(home.path(), "alice", &server.url);
    let bob = Cli::new(home.path(), "bob", &server.url);

    alice
        .ok(&[
            "register",
            "alice",
            "--device-model",
            "ThinkPad",
            "--os-version",
            "Debian 12",
            "--consent",
            "device_diagnostics",
        ])
        .await;
    bob.ok(&["register", "bob"]).await;
    let mode = std::fs::metadata(&alice.profile)
        .expect("profile")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "profile holds a token: owner-only");

    let sent = json_lines(&alice.ok(&["send", "bob", "hello bob", "--json"]).await);
    assert_eq!(sent.len(), 1);
    let id = sent[0]["message_id"]
        .as_str()
        .expect("message id")
        .to_owned();
    alice
        .ok(&[
            "send",
            "bob",
            "with data",
            "--payload",
            r#"{"kind":"card","n":1}"#,
        ])
        .await;

    // Bob was offline; the server restarts before he syncs.
    server.stop().await;
    server.restart().await;
    let alice = Cli {
        server: server.url.clone(),
        ..alice
    };
    let bob = Cli {
        server: server.url.clone(),
        ..bob
    };

    let events = json_lines(&bob.ok(&["sync", "--json"]).await);
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["id"], id.as_str());
    assert_eq!(events[0]["from"], "alice");
    assert_eq!(events[0]["to"], "bob");
    assert_eq!(events[0]["text"], "hello bob");
    assert!(events[0]["seq"].as_u64().is_some());
    assert!(events[0]["sent_at"].as_i64().is_some());
    assert_eq!(events[1]["payload"]["kind"], "card");
    // The cursor moved: a second sync has nothing new.
    assert!(json_lines(&bob.ok(&["sync", "--json"]).await).is_empty());

    bob.ok(&["read", &id]).await;
    let receipts = json_lines(&alice.ok(&["--json", "sync"]).await);
    assert!(receipts
        .iter()
        .any(|e| e["kind"] == "receipt" && e["receipt"] == "read" && e["id"] == id.as_str()));

    // Groups.
    let created = alice
        .ok(&["group", "create", "friends", "--member", "bob"])
        .await;
    let gid = created
        .split_whitespace()
        .last()
        .expect("group id")
        .to_owned();
    alice.ok(&["group", "members", &gid]).await;
    let members = json_lines(&alice.ok(&["group", "members", &gid, "--json"]).await);
    assert_eq!(members.len(), 2);
    alice.ok(&["send", "--group", &gid, "hi all"]).await;
    let events = json_lines(&bob.ok(&["sync", "--json"]).await);
    assert!(events
        .iter()
        .any(|e| e["group"] == gid.as_str() && e["text"] == "hi all"));

    // Recall.
    let sent = json_lines(&alice.ok(&["send", "bob", "typo", "--json"]).await);
    let typo = sent[0]["message_id"].as_str().expect("id").to_owned();
    alice.ok(&["recall", &typo]).await;
    let events = json_lines(&bob.ok(&["sync", "--json"]).await);
    assert!(events
        .iter()
        .any(|e| e["kind"] == "recall" && e["id"] == typo.as_str()));

    // Devices, and logout.
    let devices = json_lines(&alice.ok(&["devices", "--json"]).await);
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0]["device_model"], "ThinkPad");
    alice.ok(&["logout"]).await;
}

#[tokio::test]
async fn cli_errors_follow_the_contract() {
    let server = TestServer::start().await;
    let home = tempfile::TempDir::new().expect("dir");
    let alice = Cli::new(home.path(), "alice", &server.url);
    alice.ok(&["register", "alice"]).await;

    let out = alice.run(&["send", "nobody", "hi"]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line on stderr: {stderr}");
    assert!(lines[0].starts_with("error: not_found: "), "{stderr}");

    let out = alice.run(&["register", "alice"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: conflict: "));

    let out = alice.run(&["send"]).await;
    assert_eq!(out.status.code(), Some(2), "usage error");
    let out = alice.run(&["frobnicate"]).await;
    assert_eq!(out.status.code(), Some(2), "usage error");

    let stranger = Cli::new(home.path(), "stranger", &server.url);
    let out = stranger.run(&["sync"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: "));
}
