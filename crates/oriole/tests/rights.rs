//! The user's rights over their data, black-box through the CLI and the
//! SDK: correct (`me update`), see (`me show`), export (`me export`) and
//! delete (`me delete`, `verify-receipt`).

mod common;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use common::{device, user, Cli, TestServer, PASSWORD};
use oriole_proto::{CreateGroup, EventKind, LoginRequest, UpdateProfile};

fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

fn section<'a>(sections: &'a [serde_json::Value], id: &str) -> &'a serde_json::Value {
    &sections
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no section {id}"))["data"]
}

#[tokio::test]
async fn correcting_the_profile_is_validated_unique_and_has_a_history() {
    let server = TestServer::start().await;
    let dir = tempfile::TempDir::new().expect("temp dir");
    let alice = Cli::new(dir.path(), "alice", &server.url);
    let bob = Cli::new(dir.path(), "bob", &server.url);
    alice.ok(&["register", "alice"]).await;
    bob.ok(&["register", "bob", "--phone", "+14155550111"])
        .await;

    let out = alice
        .ok(&[
            "me",
            "update",
            "--display-name",
            "Alice Liddell",
            "--phone",
            "+1 415 555 0100",
            "--email",
            "Alice@Example.org",
            "--json",
        ])
        .await;
    let profile = &json_lines(&out)[0];
    assert_eq!(profile["display_name"], "Alice Liddell");
    assert_eq!(profile["phone"], "+14155550100");
    assert_eq!(profile["email"], "Alice@example.org");

    // Invalid input and someone else's phone change nothing.
    for (args, code) in [
        (&["me", "update", "--phone", "12345"][..], "invalid_input"),
        (&["me", "update", "--email", "nope"][..], "invalid_input"),
        (
            &[
                "me",
                "update",
                "--display-name",
                "x",
                "--phone",
                "+14155550111",
            ][..],
            "conflict",
        ),
    ] {
        let out = alice.run(args).await;
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with(&format!("error: {code}: ")), "{stderr}");
    }
    // The email is unique in any letter case.
    let out = bob
        .run(&["me", "update", "--email", "alice@EXAMPLE.org"])
        .await;
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: conflict: "));
    assert_eq!(
        alice.run(&["me", "update"]).await.status.code(),
        Some(2),
        "nothing to change is a usage error"
    );

    // An empty value removes it; the history shows every change, no values.
    alice.ok(&["me", "update", "--email", ""]).await;
    let sections = json_lines(&alice.ok(&["me", "show", "--json"]).await);
    let profile = section(&sections, "profile");
    assert_eq!(profile["display_name"], "Alice Liddell");
    assert_eq!(profile["phone"], "+14155550100");
    assert!(profile["email"].is_null());
    let history: Vec<(String, String)> = section(&sections, "corrections")
        .as_array()
        .expect("list")
        .iter()
        .map(|c| {
            (
                c["field"].as_str().expect("field").to_owned(),
                c["change"].as_str().expect("change").to_owned(),
            )
        })
        .collect();
    let expected = [
        ("display_name", "set"),
        ("phone", "set"),
        ("email", "set"),
        ("email", "cleared"),
    ]
    .map(|(f, c)| (f.to_owned(), c.to_owned()));
    assert_eq!(history, expected);
    assert!(!serde_json::to_string(section(&sections, "corrections"))
        .expect("json")
        .contains("4155550100"));
}

#[tokio::test]
async fn my_data_shows_every_inventory_item() {
    let server = TestServer::start().await;
    let alice = user(&server, "alice").await;
    let bob = user(&server, "bob").await;
    alice.send_text("bob", "hello").await.expect("send");
    bob.send_text("alice", "hi back").await.expect("send");
    alice
        .create_group(CreateGroup {
            name: "friends".into(),
            members: vec!["bob".into()],
            ..Default::default()
        })
        .await
        .expect("group");
    let mut second = device(&server, "alice").await;
    second.logout().await.expect("logout");

    let data = alice.my_data().await.expect("my data");
    let shown: HashSet<&str> = data
        .sections
        .iter()
        .flat_map(|s| s.items.iter().map(String::as_str))
        .collect();
    let inventory = alice.privacy_inventory().await.expect("inventory");
    for item in &inventory {
        assert!(
            // Held after deletion, or about staff: never about a live user.
            shown.contains(item.id.as_str())
                || item.id.starts_with("deleted_account.")
                || item.id.starts_with("operator."),
            "inventory item {} is missing from GET /v1/me/data",
            item.id
        );
    }
    let by_id: BTreeMap<&str, &serde_json::Value> = data
        .sections
        .iter()
        .map(|s| (s.id.as_str(), &s.data))
        .collect();
    assert_eq!(by_id["messages"]["sent"], 1);
    assert_eq!(by_id["messages"]["received"], 1);
    assert_eq!(by_id["groups"][0]["name"], "friends");
    assert_eq!(by_id["groups"][0]["role"], "owner");
    // A logged-out device is still shown: it is still held.
    let devices = by_id["devices"].as_array().expect("devices");
    assert_eq!(devices.len(), 2);
    assert!(devices.iter().any(|d| !d["revoked_at"].is_null()));
    assert!(devices.iter().all(|d| d["ip"] == "127.0.0.1"));
}

/// A tiny tar reader: (path, contents) of every entry.
fn untar(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 512 <= bytes.len() {
        let header = &bytes[at..at + 512];
        if header.iter().all(|&b| b == 0) {
            break;
        }
        let name = String::from_utf8_lossy(&header[..100])
            .trim_end_matches('\0')
            .to_owned();
        let size_text = String::from_utf8_lossy(&header[124..135]).to_string();
        let size = usize::from_str_radix(size_text.trim_end_matches('\0'), 8).expect("size");
        let start = at + 512;
        out.push((name, bytes[start..start + size].to_vec()));
        at = start + size.div_ceil(512) * 512;
    }
    out
}

#[tokio::test]
async fn export_is_a_documented_tar_and_is_rate_limited() {
    let server = TestServer::start().await;
    let dir = tempfile::TempDir::new().expect("temp dir");
    let alice = Cli::new(dir.path(), "alice", &server.url);
    alice
        .ok(&["register", "alice", "--email", "alice@example.org"])
        .await;
    let bob = user(&server, "bob").await;
    alice.ok(&["send", "bob", "first from alice"]).await;
    bob.send_text("alice", "reply from bob")
        .await
        .expect("send");
    let read = bob.send_text("alice", "please read").await.expect("send");
    alice.ok(&["read", &read.message_id]).await;
    for i in 0..1200 {
        bob.send_text("alice", &format!("bulk {i}"))
            .await
            .expect("send");
    }

    let file = dir.path().join("alice.tar");
    let out = alice
        .ok(&[
            "me",
            "export",
            "-o",
            file.to_str().expect("utf-8"),
            "--json",
        ])
        .await;
    assert_eq!(
        json_lines(&out)[0]["bytes"],
        std::fs::metadata(&file).expect("file").len()
    );
    let entries = untar(&std::fs::read(&file).expect("read"));
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    for expected in [
        "README.md",
        "manifest.json",
        "profile.json",
        "devices.json",
        "groups.json",
        "messages/part-000001.jsonl",
        "messages/part-000002.jsonl",
    ] {
        assert!(names.contains(&expected), "{expected} missing: {names:?}");
    }
    let get = |name: &str| &entries.iter().find(|(n, _)| n == name).expect(name).1;
    let readme = String::from_utf8_lossy(get("README.md"));
    assert!(readme.contains("messages/part-000001.jsonl"));
    let manifest: serde_json::Value = serde_json::from_slice(get("manifest.json")).expect("json");
    assert_eq!(manifest["format"], "oriole-export-v1");
    let profile: serde_json::Value = serde_json::from_slice(get("profile.json")).expect("json");
    assert_eq!(profile["email"], "alice@example.org");
    let mut texts = Vec::new();
    for (name, bytes) in &entries {
        if name.starts_with("messages/") {
            for line in String::from_utf8_lossy(bytes).lines() {
                let event: oriole_proto::InboxEvent = serde_json::from_str(line).expect("event");
                if event.kind == EventKind::Message {
                    texts.push(event.text.unwrap_or_default());
                }
            }
        }
    }
    let receipts = String::from_utf8_lossy(get("receipts/part-000001.jsonl")).to_string();
    let receipt: serde_json::Value = serde_json::from_str(receipts.trim()).expect("one receipt");
    assert_eq!(receipt["message_id"], read.message_id.as_str());
    assert_eq!(receipt["kind"], "read");
    assert_eq!(texts.len(), 1203);
    assert_eq!(texts[0], "first from alice");
    assert_eq!(texts[1], "reply from bob");
    assert_eq!(texts[2], "please read");
    assert_eq!(texts[1202], "bulk 1199");

    // Again at once: refused, saying when, and nothing is written.
    let again = dir.path().join("again.tar");
    let out = alice
        .run(&["me", "export", "-o", again.to_str().expect("utf-8")])
        .await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error: rate_limited: "), "{stderr}");
    assert!(stderr.contains("next export is allowed in"), "{stderr}");
    assert!(!again.exists());
    assert!(!again.with_extension("part").exists());
}

#[tokio::test]
async fn deleting_the_account_closes_sockets_leaves_tombstones_and_signs_a_receipt() {
    let server = TestServer::start().await;
    let dir = tempfile::TempDir::new().expect("temp dir");
    let cli = Cli::new(dir.path(), "alice", &server.url);
    cli.ok(&["register", "alice", "--phone", "+14155550100"])
        .await;
    let bob = user(&server, "bob").await;
    let carol = user(&server, "carol").await;
    // Two more devices, both connected.
    let phone = device(&server, "alice").await;
    let laptop = device(&server, "alice").await;
    let mut phone_conn = phone.connect(0).await.expect("connect");
    let mut laptop_conn = laptop.connect(0).await.expect("connect");
    let sent = phone.send_text("bob", "remember me").await.expect("send");
    let group = phone
        .create_group(CreateGroup {
            name: "club".into(),
            members: vec!["bob".into(), "carol".into()],
            ..Default::default()
        })
        .await
        .expect("group");
    phone
        .send_group_text(&group.group_id, "group hello")
        .await
        .expect("send");

    // A wrong password deletes nothing.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_oriole"))
        .args(["me", "delete"])
        .env("ORIOLE_PROFILE", &cli.profile)
        .env("ORIOLE_PASSWORD", "wrong password!")
        .output()
        .await
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: unauthorized: "));
    phone.me().await.expect("still there");

    let receipt_file = dir.path().join("receipt.json");
    let receipt_path = receipt_file.to_str().expect("utf-8");
    cli.ok(&["me", "delete", "--receipt", receipt_path]).await;

    for conn in [&mut phone_conn, &mut laptop_conn] {
        loop {
            match conn.next_event().await {
                Some(Ok(_)) => continue,
                Some(Err(oriole_client::ClientError::Closed { code, .. })) => {
                    assert_eq!(code, 4001);
                    break;
                }
                other => panic!("expected close 4001, got {other:?}"),
            }
        }
    }
    assert_eq!(phone.me().await.expect_err("gone").code(), "unauthorized");
    let mut again = server.client();
    let err = again
        .login(LoginRequest {
            username: "alice".into(),
            password: PASSWORD.into(),
            ..Default::default()
        })
        .await
        .expect_err("cannot log in");
    assert_eq!(err.code(), "unauthorized");
    // The name is quarantined.
    let out = Cli::new(dir.path(), "mallory", &server.url)
        .run(&["register", "alice"])
        .await;
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: conflict: "));

    // Recipients see tombstones; the group passed to the next member.
    let inbox = bob.sync_all(0).await.expect("sync");
    let tombstone = inbox
        .iter()
        .find(|e| e.id == sent.message_id)
        .expect("still in bob's inbox");
    assert!(tombstone.from.is_none() && tombstone.text.is_none());
    assert!(inbox
        .iter()
        .filter(|e| e.kind == EventKind::Message)
        .all(|e| e.text.is_none()));
    let members = carol.group_members(&group.group_id).await.expect("members");
    let roles: Vec<(String, String)> = members
        .iter()
        .map(|m| (m.username.clone(), format!("{:?}", m.role)))
        .collect();
    assert_eq!(
        roles,
        [
            ("bob".to_owned(), "Owner".to_owned()),
            ("carol".to_owned(), "Member".to_owned())
        ]
    );

    // The receipt verifies against the published key, and against the
    // key file; any change breaks it.
    let receipt: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&receipt_file).expect("read")).expect("json");
    assert_eq!(receipt["receipt"]["username"], "alice");
    assert!(receipt["receipt"]["kept"]
        .as_array()
        .expect("kept")
        .iter()
        .all(|k| !k["basis"].as_str().unwrap_or_default().is_empty()));
    let verifier = Cli::new(dir.path(), "verifier", &server.url);
    let out = verifier.ok(&["verify-receipt", receipt_path]).await;
    assert!(out.starts_with("valid: "), "{out}");
    let keys = dir.path().join("keys");
    verifier
        .ok(&["public-keys", "-o", keys.to_str().expect("utf-8")])
        .await;
    let key_file = keys.join("receipt.pub");
    verifier
        .ok(&[
            "verify-receipt",
            receipt_path,
            "--public-key",
            key_file.to_str().expect("utf-8"),
        ])
        .await;
    let mut tampered = receipt.clone();
    tampered["receipt"]["completed_at"] = serde_json::json!(0);
    let tampered_file = dir.path().join("tampered.json");
    std::fs::write(&tampered_file, tampered.to_string()).expect("write");
    let out = verifier
        .run(&["verify-receipt", tampered_file.to_str().expect("utf-8")])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: invalid_receipt: "));
    // The audit key does not sign receipts.
    let out = verifier
        .run(&[
            "verify-receipt",
            receipt_path,
            "--public-key",
            keys.join("audit.pub").to_str().expect("utf-8"),
        ])
        .await;
    assert_eq!(out.status.code(), Some(1));
}

fn copy_dir(from: &Path, to: &Path, skip: &str) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let name = entry.file_name();
        if name == skip {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(&name), skip);
        } else {
            std::fs::copy(&path, to.join(&name)).expect("copy");
        }
    }
}

#[tokio::test]
async fn a_backup_from_before_the_deletion_reveals_nothing_with_the_current_keys() {
    let mut server = TestServer::start().await;
    let mut alice = server.client();
    alice
        .register(oriole_proto::RegisterRequest {
            username: "alice".into(),
            password: PASSWORD.into(),
            phone: Some("+14155550100".into()),
            email: Some("alice@example.org".into()),
            ..Default::default()
        })
        .await
        .expect("register");
    alice
        .update_profile(&UpdateProfile {
            display_name: Some("Alice Liddell".into()),
            ..Default::default()
        })
        .await
        .expect("update");
    let bob = user(&server, "bob").await;
    alice.send_text("bob", "secret canary").await.expect("send");
    let bob_token = bob.token().expect("token").to_owned();

    server.stop().await;
    let backup = tempfile::TempDir::new().expect("backup dir");
    copy_dir(server.data.path(), backup.path(), "keys");
    server.restart().await;
    let alice_token = alice.token().expect("token").to_owned();
    let alice = server.client().with_token(alice_token.clone());
    alice.delete_account(PASSWORD).await.expect("delete");
    server.stop().await;

    // Restore the old data next to the current keys.
    for entry in std::fs::read_dir(server.data.path()).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.file_name().is_some_and(|n| n != "keys") {
            if path.is_dir() {
                std::fs::remove_dir_all(&path).expect("rm");
            } else {
                std::fs::remove_file(&path).expect("rm");
            }
        }
    }
    copy_dir(backup.path(), server.data.path(), "keys");
    server.restart().await;

    // The old rows are back (even alice's session), but nothing in them
    // opens.
    let alice = server.client().with_token(alice_token);
    let me = alice
        .me()
        .await
        .expect("the restored session still resolves");
    assert_eq!(
        (me.phone, me.email, me.display_name),
        (None, None, None),
        "phone, email and display name are unreadable"
    );
    let bob = server.client().with_token(bob_token);
    let inbox = bob.sync_all(0).await.expect("sync");
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].text, None, "the message content is unreadable");
    server.stop().await;
}

/// Support opens requests for users after checking their identity; the
/// users see them; completing one performs the self-service operation.
#[tokio::test]
async fn support_assisted_requests_are_tracked_visible_and_performed() {
    let server = TestServer::start().await;
    let home = tempfile::TempDir::new().expect("dir");
    let root = Cli::new(home.path(), "root", &server.url);
    let data = server.data.path().to_str().expect("utf-8 path");
    root.ok(&["admin", "bootstrap", "--data", data, "--name", "root"])
        .await;
    root.ok(&["admin", "login", "root"]).await;
    root.ok(&["admin", "operator", "add", "sam", "--role", "support"])
        .await;
    let sam = Cli::new(home.path(), "sam", &server.url);
    sam.ok(&["admin", "login", "sam"]).await;
    let alice = Cli::new(home.path(), "alice", &server.url);
    alice.ok(&["register", "alice"]).await;
    let bob = Cli::new(home.path(), "bob", &server.url);
    bob.ok(&["register", "bob"]).await;

    let open = |user: &'static str, kind: &'static str, ticket: &'static str| {
        let sam = &sam;
        async move {
            let out = sam
                .ok(&[
                    "admin",
                    "dsar",
                    "open",
                    "--user",
                    user,
                    "--kind",
                    kind,
                    "--ticket",
                    ticket,
                    "--identity-check",
                    "logged in to the app and read back a code",
                    "--json",
                ])
                .await;
            json_lines(&out).remove(0)
        }
    };
    let correct = open("bob", "correct", "T-1").await;
    let delete = open("alice", "delete", "T-2").await;
    let export = open("bob", "export", "T-3").await;
    assert_eq!(correct["username"], "bob");
    assert!(delete["due_at"].as_i64() > delete["opened_at"].as_i64());
    // An admin runs the service but handles no requests; bad input changes nothing.
    let out = root.run(&["admin", "dsar", "list"]).await;
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: forbidden: "));
    let out = sam
        .run(&[
            "admin",
            "dsar",
            "open",
            "--user",
            "bob",
            "--kind",
            "delete",
            "--ticket",
            "T-9",
            "--identity-check",
            "",
        ])
        .await;
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: invalid_input: "));
    let listed = json_lines(&sam.ok(&["admin", "dsar", "list", "--json"]).await);
    assert_eq!(listed.len(), 3);
    assert!(sam
        .ok(&["admin", "dsar", "list", "--overdue", "--json"])
        .await
        .trim()
        .is_empty());

    // The user sees the requests about them.
    let sections = json_lines(&bob.ok(&["me", "show", "--json"]).await);
    let mine = section(&sections, "support_requests")
        .as_array()
        .expect("list")
        .clone();
    assert_eq!(mine.len(), 2);
    assert!(mine.iter().all(|r| r["completed_at"].is_null()));

    // Correct: the values as given, in the user's correction history.
    let id = correct["dsar_id"].as_str().expect("id");
    sam.ok(&["admin", "dsar", "complete", id, "--display-name", "Robert"])
        .await;
    let sections = json_lines(&bob.ok(&["me", "show", "--json"]).await);
    assert_eq!(section(&sections, "profile")["display_name"], "Robert");
    assert_eq!(
        section(&sections, "corrections")[0]["field"],
        "display_name"
    );
    let out = sam.run(&["admin", "dsar", "complete", id]).await;
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: conflict: "));

    // Export: allowed at once even right after one of the user's own.
    let file = home.path().join("bob.tar");
    let path = file.to_str().expect("utf-8");
    bob.ok(&["me", "export", "-o", path]).await;
    assert_eq!(
        bob.run(&["me", "export", "-o", path]).await.status.code(),
        Some(1)
    );
    sam.ok(&[
        "admin",
        "dsar",
        "complete",
        export["dsar_id"].as_str().expect("id"),
    ])
    .await;
    bob.ok(&["me", "export", "-o", path]).await;

    // Delete: exactly the self-service deletion, with its signed receipt.
    let receipt = home.path().join("alice-receipt.json");
    let receipt_path = receipt.to_str().expect("utf-8");
    sam.ok(&[
        "admin",
        "dsar",
        "complete",
        delete["dsar_id"].as_str().expect("id"),
        "--receipt",
        receipt_path,
    ])
    .await;
    let out = alice.run(&["me", "show"]).await;
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: unauthorized: "));
    alice.ok(&["verify-receipt", receipt_path]).await;
    // The record of the request outlives the account.
    let listed = json_lines(&sam.ok(&["admin", "dsar", "list", "--json"]).await);
    let gone = listed
        .iter()
        .find(|r| r["dsar_id"] == delete["dsar_id"])
        .expect("kept");
    assert!(gone["username"].is_null() && !gone["completed_at"].is_null());
}

/// The deletion settings: owned groups dissolved, no username quarantine.
#[tokio::test]
async fn deletion_can_dissolve_owned_groups_and_free_the_name_at_once() {
    let server = TestServer::start_with_env(&[
        ("ORIOLE_USER_RIGHTS__OWNED_GROUPS", "dissolve"),
        ("ORIOLE_USER_RIGHTS__USERNAME_QUARANTINE_DAYS", "0"),
    ])
    .await;
    let alice = user(&server, "alice").await;
    let bob = user(&server, "bob").await;
    let group = alice
        .create_group(CreateGroup {
            name: "club".into(),
            members: vec!["bob".into()],
            ..Default::default()
        })
        .await
        .expect("group");
    // Bob writes to alice before: the server remembers where "alice" is.
    bob.send_text("alice", "before").await.expect("send");
    let receipt = alice.delete_account(PASSWORD).await.expect("delete");
    let err = bob
        .send_text("alice", "after")
        .await
        .expect_err("no such user now");
    assert_eq!(err.code(), "not_found");
    let dissolved = receipt
        .receipt
        .deleted
        .iter()
        .find(|d| d.item == "group.dissolved")
        .expect("listed");
    assert_eq!(dissolved.count, Some(1));
    assert!(bob.groups().await.expect("groups").is_empty());
    let err = bob.group(&group.group_id).await.expect_err("gone");
    assert_eq!(err.code(), "not_found");
    // Not quarantined: a new account may take the name, and is not the old one.
    let again = user(&server, "alice").await;
    let me = again.me().await.expect("me");
    assert_ne!(me.user_id, receipt.receipt.user_id);
    // And a message to the name reaches the new account.
    bob.send_text("alice", "to the new alice")
        .await
        .expect("send");
    let events = again.sync_all(0).await.expect("sync");
    let texts: Vec<_> = events.iter().filter_map(|e| e.text.as_deref()).collect();
    assert_eq!(texts, ["to the new alice"]);
}

/// An SDK client logged in as operator `name` (created by the CLI with the
/// harness's password).
async fn operator(server: &TestServer, name: &str) -> oriole_client::Client {
    let mut c = server.client();
    c.operator_login(oriole_proto::OperatorLoginRequest {
        name: name.into(),
        password: PASSWORD.into(),
    })
    .await
    .expect("operator login");
    c
}

/// The deletion answers at once and leaves the bulk rows to a background
/// purge; a purge cut short by kill -9 continues at the next start, and
/// reports what it removed to operators and in the audit log.
#[tokio::test]
async fn a_deletion_purge_cut_short_by_a_crash_finishes_after_restart() {
    // One row of each kind per batch, and a pause no test waits out: the
    // purge is mid-way when the server is killed.
    let mut server = TestServer::start_with_env(&[
        ("ORIOLE_USER_RIGHTS__PURGE_BATCH_SIZE", "1"),
        ("ORIOLE_USER_RIGHTS__PURGE_PAUSE_MS", "3600000"),
    ])
    .await;
    let home = tempfile::TempDir::new().expect("dir");
    let root = Cli::new(home.path(), "root", &server.url);
    let data = server.data.path().to_str().expect("utf-8 path");
    root.ok(&["admin", "bootstrap", "--data", data, "--name", "root"])
        .await;
    root.ok(&["admin", "login", "root"]).await;
    root.ok(&["admin", "operator", "add", "ada", "--role", "auditor"])
        .await;
    let alice = user(&server, "alice").await;
    let bob = user(&server, "bob").await;
    let mut sent = Vec::new();
    for text in ["one", "two", "three"] {
        sent.push(alice.send_text("bob", text).await.expect("send").message_id);
    }
    for text in ["four", "five"] {
        let m = bob.send_text("alice", text).await.expect("send");
        alice
            .receipt(&m.message_id, oriole_proto::ReceiptKind::Read)
            .await
            .expect("read");
    }
    let bob_token = bob.token().expect("token").to_owned();

    alice.delete_account(PASSWORD).await.expect("delete");
    // At once: tombstones for bob, and a purge pending.
    let inbox = bob.sync_all(0).await.expect("sync");
    for id in &sent {
        let e = inbox.iter().find(|e| &e.id == id).expect("tombstone");
        assert!(e.from.is_none() && e.text.is_none(), "{e:?}");
    }
    let admin = operator(&server, "root").await;
    let pending = admin
        .retention_rules()
        .await
        .expect("rules")
        .deletion_purges;
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert!(pending[0].batches <= 1, "{pending:?}");

    server.kill9().await;
    let data = std::mem::replace(&mut server.data, tempfile::TempDir::new().expect("dir"));
    let server =
        TestServer::start_in(data, &[("ORIOLE_USER_RIGHTS__PURGE_BATCH_SIZE", "1")], &[]).await;
    let admin = operator(&server, "root").await;
    let mut polls = 0;
    while !admin
        .retention_rules()
        .await
        .expect("rules")
        .deletion_purges
        .is_empty()
    {
        polls += 1;
        assert!(polls < 1000, "the purge never finished");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }

    // Completed and audited with its counts, which are every row alice had:
    // her inbox (the 3 she sent, the 2 bob sent), the 2 receipts she gave
    // and the 3 messages she sent (now without sender or ciphertext).
    let auditor = operator(&server, "ada").await;
    let entries = auditor.audit_entries(0, 1000).await.expect("audit");
    let purged: Vec<&serde_json::Value> = entries
        .iter()
        .filter(|e| e["action"] == "deletion" && e["details"]["phase"] == "purged")
        .collect();
    assert_eq!(purged.len(), 1, "{entries:#?}");
    let details = &purged[0]["details"];
    assert_eq!(details["messages"], 3, "{details}");
    assert_eq!(details["receipts"], 2, "{details}");
    assert!(
        details["inbox_entries"].as_u64().expect("count") >= 5,
        "{details}"
    );
    // The tombstones stay for bob; nothing of alice is left to purge.
    let bob = server.client().with_token(bob_token);
    let inbox = bob.sync_all(0).await.expect("sync");
    for id in &sent {
        let e = inbox.iter().find(|e| &e.id == id).expect("tombstone");
        assert!(e.from.is_none() && e.text.is_none(), "{e:?}");
    }
    assert!(admin
        .retention_rules()
        .await
        .expect("rules")
        .deletion_purges
        .is_empty());
}
