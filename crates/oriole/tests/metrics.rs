//! The metrics listener: retention purges counted per rule, and a few core
//! counters, scraped from the real server's separate listener.

mod common;

use common::{Cli, TestServer, PASSWORD};
use oriole_proto::{LoginRequest, SendMessage};
use serde_json::Value;

/// The value of one sample line (`name{labels} value`) in a scrape.
fn sample(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().expect("a number"))
}

async fn scrape(server: &TestServer) -> String {
    let url = server.metrics_url.as_deref().expect("metrics listener");
    let response = common::http_client(None)
        .get(url)
        .send()
        .await
        .expect("scrape");
    assert!(response.status().is_success());
    let kind = response.headers()[reqwest::header::CONTENT_TYPE]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    response.text().await.expect("body")
}

#[tokio::test]
async fn retention_purges_and_core_counters_are_served_on_the_metrics_listener() {
    let server = TestServer::start_with_env(&[("ORIOLE_METRICS_LISTEN", "127.0.0.1:0")]).await;
    let home = tempfile::TempDir::new().expect("dir");
    let admin = Cli::new(home.path(), "root", &server.url);
    let data = server.data.path().to_str().expect("utf-8 path");
    admin
        .ok(&["admin", "bootstrap", "--data", data, "--name", "root"])
        .await;
    admin.ok(&["admin", "login", "root"]).await;

    let before = scrape(&server).await;
    let purged = "oriole_retention_purged_total{rule=\"device_details_revoked\"}";
    assert_eq!(sample(&before, purged), Some(0), "{before}");

    // A device logged out leaves its IP and details to the next run.
    let dave = common::user(&server, "dave").await;
    let mut other = common::device(&server, "dave").await;
    other.logout().await.expect("logout");
    let _bob = common::user(&server, "bob").await;
    let live = dave.connect(0).await.expect("connect");
    dave.send(SendMessage {
        to: Some("bob".into()),
        text: Some("hello".into()),
        ..Default::default()
    })
    .await
    .expect("send");
    let mut wrong = server.client();
    wrong
        .login(LoginRequest {
            username: "dave".into(),
            password: format!("not {PASSWORD}"),
            ..Default::default()
        })
        .await
        .expect_err("wrong password");

    // A dry run changes nothing, so it counts nothing.
    admin
        .ok(&["admin", "retention", "run", "--dry-run", "--json"])
        .await;
    let run: Value = serde_json::from_str(
        admin
            .ok(&["admin", "retention", "run", "--json"])
            .await
            .trim(),
    )
    .expect("JSON");
    let removed = run["counts"]
        .as_array()
        .expect("counts")
        .iter()
        .find(|c| c["rule"] == "device_details_revoked")
        .and_then(|c| c["count"].as_u64())
        .expect("the rule ran");
    assert!(removed >= 1, "{run}");

    let after = scrape(&server).await;
    assert_eq!(sample(&after, purged), Some(removed), "{after}");
    for rule in ["device_details_idle", "login_history", "messages"] {
        let series = format!("oriole_retention_purged_total{{rule=\"{rule}\"}}");
        assert!(sample(&after, &series).is_some(), "{rule}: {after}");
    }
    assert_eq!(
        sample(&after, "oriole_messages_accepted_total"),
        Some(1),
        "{after}"
    );
    assert_eq!(sample(&after, "oriole_logins_failed_total"), Some(1));
    assert_eq!(sample(&after, "oriole_ws_sessions_open"), Some(1));
    // Labels name rules, never people.
    for name in ["dave", "bob", "root", "127.0.0.1"] {
        assert!(!after.contains(name), "{name} in the metrics: {after}");
    }
    drop(live);
}

#[tokio::test]
async fn without_the_setting_there_is_no_metrics_listener_and_a_public_one_is_refused() {
    let server = TestServer::start().await;
    assert!(server.metrics_url.is_none());

    let data = tempfile::TempDir::new().expect("dir");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_oriole"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .env("ORIOLE_METRICS_LISTEN", "0.0.0.0:0")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("run oriole serve");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("metrics_listen must be a loopback address"),
        "{stderr}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("listening on"));
}
