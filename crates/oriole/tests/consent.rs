//! Purposes and consent, and the privacy policy, through the real CLI
//! against the real server: `oriole privacy consents|consent|policy|accept`.

mod common;

use common::{Cli, TestServer};
use serde_json::Value;

fn json(out: &str) -> Value {
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("not JSON: {out:?}: {e}"))
}

/// Run and require failure with exit status 1 and `error: CODE: ...`.
async fn fails(cli: &Cli, args: &[&str], code: &str) -> String {
    let out = cli.run(args).await;
    assert_eq!(out.status.code(), Some(1), "oriole {args:?} should fail");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        stderr.starts_with(&format!("error: {code}: ")),
        "oriole {args:?}: {stderr}"
    );
    assert!(out.stdout.is_empty(), "nothing on stdout");
    stderr
}

#[tokio::test]
async fn consent_is_granted_and_withdrawn_from_the_cli_and_checked_where_data_is_collected() {
    let server = TestServer::start().await;
    let home = tempfile::TempDir::new().expect("dir");
    let alice = Cli::new(home.path(), "alice", &server.url);

    // Declining (the default) does not block anything; the model is dropped.
    alice
        .ok(&["register", "alice", "--device-model", "ThinkPad"])
        .await;
    let devices = json(&alice.ok(&["devices", "--json"]).await);
    assert!(devices.get("device_model").is_none(), "{devices}");
    alice.ok(&["send", "alice", "note to self"]).await;

    let consents = json(&alice.ok(&["privacy", "consents", "--json"]).await);
    let purposes = consents["purposes"].as_array().expect("purposes");
    let names: Vec<&str> = purposes
        .iter()
        .map(|p| p["purpose"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        [
            "service",
            "security",
            "device_diagnostics",
            "product_analytics"
        ]
    );
    assert!(
        purposes.iter().all(|p| p["granted"] == p["necessary"]),
        "optional purposes start off: {consents}"
    );
    assert_eq!(consents["history"], Value::Array(vec![]));

    // Granted: collected at the next login.
    let state = json(
        &alice
            .ok(&[
                "privacy",
                "consent",
                "grant",
                "device_diagnostics",
                "--json",
            ])
            .await,
    );
    assert_eq!(state["granted"], true);
    alice
        .ok(&[
            "login",
            "alice",
            "--device-model",
            "Pixel 9",
            "--os-version",
            "Android 16",
        ])
        .await;
    let out = alice.ok(&["devices", "--json"]).await;
    assert!(out.contains("\"Pixel 9\""), "{out}");

    // Withdrawn: erased at once, from every device.
    let human = alice
        .ok(&["privacy", "consent", "withdraw", "device_diagnostics"])
        .await;
    assert!(
        human.contains("device_diagnostics") && human.contains("not granted"),
        "{human}"
    );
    let out = alice.ok(&["devices", "--json"]).await;
    assert!(
        !out.contains("Pixel 9") && !out.contains("Android 16"),
        "{out}"
    );

    let history = json(&alice.ok(&["privacy", "consents", "--json"]).await)["history"].clone();
    let history = history.as_array().expect("history");
    assert_eq!(history.len(), 2);
    assert_eq!(
        (history[0]["granted"].clone(), history[1]["granted"].clone()),
        (Value::Bool(true), Value::Bool(false))
    );
    assert!(history.iter().all(|h| h["channel"] == "cli"
        && h["policy_version"] == 1
        && h["purpose"] == "device_diagnostics"));

    // Bad input: a clear error, nothing recorded.
    let e = fails(
        &alice,
        &["privacy", "consent", "grant", "marketing"],
        "invalid_input",
    )
    .await;
    assert!(
        e.contains("unknown purpose") && e.contains("product_analytics"),
        "{e}"
    );
    let e = fails(
        &alice,
        &["privacy", "consent", "withdraw", "service"],
        "invalid_input",
    )
    .await;
    assert!(e.contains("necessary"), "{e}");
    let history = json(&alice.ok(&["privacy", "consents", "--json"]).await)["history"].clone();
    assert_eq!(history.as_array().map(Vec::len), Some(2));
    let out = alice.run(&["privacy", "consent", "maybe", "x"]).await;
    assert_eq!(out.status.code(), Some(2), "a usage error");
}

#[tokio::test]
async fn the_policy_is_public_in_two_languages_and_accepted_at_registration() {
    let server = TestServer::start().await;
    let home = tempfile::TempDir::new().expect("dir");
    let anon = Cli::new(home.path(), "nobody", &server.url);
    let text = anon.ok(&["privacy", "policy"]).await;
    assert!(text.starts_with("privacy policy version 1 (en,"), "{text}");
    assert!(text.contains("Device diagnostics"), "{text}");
    let zh = json(
        &anon
            .ok(&["privacy", "policy", "--lang", "zh-CN", "--json"])
            .await,
    );
    assert_eq!(
        (zh["version"].clone(), zh["lang"].clone()),
        (1.into(), "zh-CN".into())
    );
    assert!(zh["text"].as_str().is_some_and(|t| t.contains("隐私政策")));
    fails(&anon, &["privacy", "policy", "--version", "4"], "not_found").await;

    let bob = Cli::new(home.path(), "bob", &server.url);
    bob.ok(&["register", "bob"]).await;
    let diff = bob.ok(&["privacy", "policy", "--diff"]).await;
    assert!(
        diff.contains("you accepted the current version (1)"),
        "{diff}"
    );
    bob.ok(&["privacy", "accept", "1"]).await;
    let e = fails(&bob, &["privacy", "accept", "2"], "not_found").await;
    assert!(e.contains("current version is 1"), "{e}");
}
