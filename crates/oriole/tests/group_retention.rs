//! `oriole group retention`: a group's own message retention period, set
//! and reset by its owner or an admin through the real CLI.

mod common;

use common::{Cli, TestServer};
use serde_json::Value;

fn json(out: &str) -> Value {
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("not JSON: {out:?}: {e}"))
}

/// Run and require exit status 1 with `error: CODE: ...`.
async fn fails(cli: &Cli, args: &[&str], code: &str) {
    let out = cli.run(args).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "oriole {args:?}: {stderr}");
    assert!(
        stderr.starts_with(&format!("error: {code}: ")),
        "oriole {args:?}: {stderr}"
    );
}

#[tokio::test]
async fn a_group_manager_sets_and_resets_the_group_retention_from_the_cli() {
    let server = TestServer::start().await;
    let home = tempfile::TempDir::new().expect("dir");
    let alice = Cli::new(home.path(), "alice", &server.url);
    alice.ok(&["register", "alice"]).await;
    let bob = Cli::new(home.path(), "bob", &server.url);
    bob.ok(&["register", "bob"]).await;
    let group = alice
        .ok(&["group", "create", "friends", "--member", "bob"])
        .await;
    let group = group.trim();

    let set = json(
        &alice
            .ok(&["group", "retention", group, "7", "--json"])
            .await,
    );
    assert_eq!(
        set,
        serde_json::json!({"group_id": group, "message_retention_days": 7})
    );
    let human = alice.ok(&["group", "retention", group, "30"]).await;
    assert!(human.contains("deleted 30 days after sending"), "{human}");
    let reset = json(
        &alice
            .ok(&["group", "retention", group, "default", "--json"])
            .await,
    );
    assert_eq!(reset["message_retention_days"], Value::Null);
    let human = alice.ok(&["group", "retention", group, "default"]).await;
    assert!(human.contains("retention.message_days"), "{human}");

    // Only the owner or an admin; a group one is not in does not exist.
    fails(&bob, &["group", "retention", group, "1"], "forbidden").await;
    let carol = Cli::new(home.path(), "carol", &server.url);
    carol.ok(&["register", "carol"]).await;
    fails(&carol, &["group", "retention", group, "1"], "not_found").await;
    // Zero, negative or words are usage errors: `default` says it.
    for bad in ["0", "-3", "forever", ""] {
        let out = alice.run(&["group", "retention", group, bad]).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {stderr}");
        assert!(stderr.contains("default"), "{bad:?}: {stderr}");
    }
}
