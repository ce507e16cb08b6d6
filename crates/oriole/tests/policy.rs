//! Publishing privacy policy versions and running retention as operators,
//! and the re-consent gate users meet, through the real CLI and SDK
//! against the real server.

mod common;

use common::{Cli, TestServer};
use serde_json::Value;

fn json(out: &str) -> Value {
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("not JSON: {out:?}: {e}"))
}

/// Run and require exit status 1 with `error: CODE: ...`; returns stderr.
async fn fails(cli: &Cli, args: &[&str], code: &str) -> String {
    let out = cli.run(args).await;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "oriole {args:?}: {stderr}");
    assert!(
        stderr.starts_with(&format!("error: {code}: ")),
        "oriole {args:?}: {stderr}"
    );
    stderr
}

/// The first admin (bootstrapped on the data directory) and a privacy
/// officer it creates, both logged in with the CLI.
async fn staff(server: &TestServer, home: &std::path::Path) -> (Cli, Cli) {
    let admin = Cli::new(home, "root", &server.url);
    let data = server.data.path().to_str().expect("utf-8 path");
    admin
        .ok(&["admin", "bootstrap", "--data", data, "--name", "root"])
        .await;
    admin.ok(&["admin", "login", "root"]).await;
    admin
        .ok(&[
            "admin",
            "operator",
            "add",
            "olivia",
            "--role",
            "privacy_officer",
        ])
        .await;
    let officer = Cli::new(home, "olivia", &server.url);
    officer.ok(&["admin", "login", "olivia"]).await;
    (admin, officer)
}

#[tokio::test]
async fn a_material_policy_is_announced_and_gates_users_until_they_accept() {
    let server = TestServer::start().await;
    let home = tempfile::TempDir::new().expect("dir");
    let (admin, officer) = staff(&server, home.path()).await;
    let alice = Cli::new(home.path(), "alice", &server.url);
    alice.ok(&["register", "alice"]).await;
    let bob = common::user(&server, "bob").await;
    let mut live = bob.connect(0).await.expect("connect");

    let v2 = home.path().join("policy-v2.md");
    std::fs::write(
        &v2,
        "# Oriole privacy policy, version 2\n\nWe now keep less.\n",
    )
    .expect("write");
    let v2 = v2.to_str().expect("utf-8 path");

    // Only a privacy officer publishes; users and other roles cannot.
    fails(
        &admin,
        &["admin", "policy", "publish", v2, "--version", "2"],
        "forbidden",
    )
    .await;
    fails(
        &alice,
        &["admin", "policy", "publish", v2, "--version", "2"],
        "unauthorized",
    )
    .await;
    let out = officer
        .ok(&[
            "admin",
            "policy",
            "publish",
            v2,
            "--version",
            "2",
            "--material",
            "--json",
        ])
        .await;
    let published = json(&out);
    assert_eq!(
        (
            published["version"].clone(),
            published["material"].clone(),
            published["new_version"].clone()
        ),
        (2.into(), true.into(), true.into())
    );

    // Connected clients get the notice at once.
    let notice = tokio::time::timeout(std::time::Duration::from_secs(10), live.next_notice())
        .await
        .expect("a notice within 10 s")
        .expect("the session is open");
    assert_eq!((notice.version, notice.material), (2, true));

    // Normal operations are gated, naming the version...
    let e = fails(&alice, &["send", "bob", "hi"], "consent_required").await;
    assert!(e.contains("version 2"), "{e}");
    fails(&alice, &["sync"], "consent_required").await;
    fails(&alice, &["group", "create", "friends"], "consent_required").await;
    let sdk = bob.send_text("alice", "hi").await.expect_err("gated");
    assert_eq!(sdk.code(), "consent_required");
    // ...but reading the policy and the diff, consent and devices are not.
    let diff = alice.ok(&["privacy", "policy", "--diff"]).await;
    assert!(
        diff.contains("changes from version 1 (accepted) to version 2"),
        "{diff}"
    );
    assert!(diff.contains("+We now keep less."), "{diff}");
    assert!(
        diff.contains("-# Oriole privacy policy, version 1"),
        "{diff}"
    );
    assert!(diff.contains("oriole privacy accept 2"), "{diff}");
    alice.ok(&["privacy", "consents"]).await;
    alice
        .ok(&["privacy", "consent", "grant", "product_analytics"])
        .await;
    alice.ok(&["devices"]).await;

    // Accepting anything but the current version is refused.
    let e = fails(&alice, &["privacy", "accept", "1"], "invalid_input").await;
    assert!(e.contains("accept version 2"), "{e}");
    fails(&alice, &["privacy", "accept", "3"], "not_found").await;
    alice.ok(&["privacy", "accept", "2"]).await;
    alice.ok(&["send", "bob", "hi bob"]).await;
    let diff = alice.ok(&["privacy", "policy", "--diff"]).await;
    assert!(diff.contains("nothing changed"), "{diff}");

    // A user who was offline finds the notice in the next sync page.
    let carol = Cli::new(home.path(), "carol", &server.url);
    carol.ok(&["register", "carol"]).await;
    let v3 = home.path().join("policy-v3.md");
    std::fs::write(&v3, "# Version 3\n\nA typo fixed.\n").expect("write");
    let v3 = v3.to_str().expect("utf-8 path");
    let out = officer
        .ok(&["admin", "policy", "publish", v3, "--version", "3"])
        .await;
    assert!(out.contains("published privacy policy version 3"), "{out}");
    let page = common::device(&server, "carol")
        .await
        .sync(0, None)
        .await
        .expect("not gated");
    assert_eq!(
        page.notice.map(|n| (n.version, n.material)),
        Some((3, false))
    );
    alice
        .ok(&["send", "bob", "a non-material change only notifies"])
        .await;

    // Bad input changes nothing: the same version and language again, an
    // empty text, a version below the current one, a missing file.
    fails(
        &officer,
        &["admin", "policy", "publish", v3, "--version", "3"],
        "conflict",
    )
    .await;
    let empty = home.path().join("empty.md");
    std::fs::write(&empty, "\n  \n").expect("write");
    let empty = empty.to_str().expect("utf-8 path");
    let e = fails(
        &officer,
        &["admin", "policy", "publish", empty, "--version", "4"],
        "invalid_input",
    )
    .await;
    assert!(e.contains("empty"), "{e}");
    fails(
        &officer,
        &[
            "admin",
            "policy",
            "publish",
            v3,
            "--version",
            "4",
            "--lang",
            "english!",
        ],
        "invalid_input",
    )
    .await;
    let current = json(&alice.ok(&["privacy", "policy", "--json"]).await);
    assert_eq!(current["version"], 3, "nothing changed");
    // A translation of the current version is added quietly.
    let zh = home.path().join("v3.zh.md");
    std::fs::write(&zh, "# 第 3 版\n").expect("write");
    officer
        .ok(&[
            "admin",
            "policy",
            "publish",
            zh.to_str().expect("path"),
            "--version",
            "3",
            "--lang",
            "zh-CN",
        ])
        .await;
    let doc = json(
        &alice
            .ok(&["privacy", "policy", "--lang", "zh-CN", "--json"])
            .await,
    );
    assert_eq!(doc["text"], "# 第 3 版\n");
    drop(live);
}

#[tokio::test]
async fn retention_runs_on_demand_as_an_admin_and_reports_its_counts() {
    let server = TestServer::start().await;
    let home = tempfile::TempDir::new().expect("dir");
    let (admin, _officer) = staff(&server, home.path()).await;
    admin
        .ok(&["admin", "operator", "add", "sam", "--role", "support"])
        .await;
    let support = Cli::new(home.path(), "sam", &server.url);
    support.ok(&["admin", "login", "sam"]).await;
    let dave = Cli::new(home.path(), "dave", &server.url);
    dave.ok(&["register", "dave"]).await;
    dave.ok(&["login", "dave"]).await;
    // Logging a device out leaves its IP to the next retention run.
    let mut other = common::device(&server, "dave").await;
    other.logout().await.expect("logout");

    fails(&support, &["admin", "retention", "run"], "forbidden").await;
    let dry = json(
        &admin
            .ok(&["admin", "retention", "run", "--dry-run", "--json"])
            .await,
    );
    assert_eq!(dry["dry_run"], true);
    let revoked = |report: &Value| {
        report["counts"]
            .as_array()
            .expect("counts")
            .iter()
            .find(|c| c["rule"] == "device_details_revoked")
            .map(|c| c["count"].as_u64().expect("count"))
    };
    assert!(revoked(&dry) >= Some(1), "{dry}");
    let run = json(&admin.ok(&["admin", "retention", "run", "--json"]).await);
    assert_eq!(run["dry_run"], false);
    assert_eq!(
        revoked(&run),
        revoked(&dry),
        "the run does what the dry run counted"
    );
    let again = json(
        &admin
            .ok(&["admin", "retention", "run", "--dry-run", "--json"])
            .await,
    );
    assert_eq!(revoked(&again), Some(0), "nothing left: {again}");
    let human = admin.ok(&["admin", "retention", "run"]).await;
    assert!(
        human.contains("login_history") && human.contains("total: removed 0"),
        "{human}"
    );
}

#[tokio::test]
async fn an_open_session_holds_live_events_back_until_the_user_accepts() {
    use futures_util::FutureExt;
    use oriole_proto::ConsentChannel;

    let server = TestServer::start().await;
    let home = tempfile::TempDir::new().expect("dir");
    let (_admin, officer) = staff(&server, home.path()).await;
    let alice = common::user(&server, "alice").await;
    let bob = common::user(&server, "bob").await;
    let mut live = bob.connect(0).await.expect("connect");
    alice.send_text("bob", "before").await.expect("send");
    let event = live.next_event().await.expect("open").expect("event");
    assert_eq!(event.text.as_deref(), Some("before"));

    let publish = |version: &str, text: &str, material: bool| {
        let file = home.path().join(format!("policy-v{version}.md"));
        std::fs::write(&file, text).expect("write");
        let file = file.to_str().expect("utf-8 path").to_owned();
        let version = version.to_owned();
        let officer = &officer;
        async move {
            let mut args = vec!["admin", "policy", "publish", &file, "--version", &version];
            if material {
                args.push("--material");
            }
            officer.ok(&args).await;
        }
    };
    publish("2", "# Version 2\n\nMaterial.\n", true).await;
    let notice = live.next_notice().await.expect("notice");
    assert_eq!((notice.version, notice.material), (2, true));

    // Alice accepts and writes; Bob has not accepted: his open session
    // pushes nothing...
    alice
        .accept_policy(2, ConsentChannel::Api)
        .await
        .expect("accept");
    alice.send_text("bob", "held back").await.expect("send");
    // ...but still delivers notices (a later one proves the earlier event
    // was not sent: a session sends queued events before notices) and
    // answers frames, with the gate's error.
    publish("3", "# Version 3\n\nA typo fixed.\n", false).await;
    let notice = live.next_notice().await.expect("notice");
    assert_eq!((notice.version, notice.material), (3, false));
    assert!(
        live.next_event().now_or_never().is_none(),
        "an event reached a gated session"
    );
    let e = live
        .send(oriole_proto::SendMessage {
            to: Some("alice".into()),
            text: Some("gated".into()),
            ..Default::default()
        })
        .await
        .expect_err("gated");
    assert_eq!(e.code(), "consent_required");

    // Accepting (here over REST, as from any device) resumes live delivery
    // from the store: nothing held back is lost.
    bob.accept_policy(3, ConsentChannel::Api)
        .await
        .expect("accept");
    let event = tokio::time::timeout(std::time::Duration::from_secs(10), live.next_event())
        .await
        .expect("delivery resumes within 10 s")
        .expect("open")
        .expect("event");
    assert_eq!(event.text.as_deref(), Some("held back"));
    alice.send_text("bob", "after").await.expect("send");
    let event = live.next_event().await.expect("open").expect("event");
    assert_eq!(event.text.as_deref(), Some("after"));
}
