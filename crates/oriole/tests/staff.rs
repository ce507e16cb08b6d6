//! Staff access control and the audit log against the real server: the
//! published signing keys.

mod common;

use common::{Cli, TestServer};
use oriole_core::PublicKey;

#[tokio::test]
async fn public_keys_are_published_and_stable_across_restarts() {
    let mut server = TestServer::start().await;
    let home = tempfile::TempDir::new().expect("dir");
    // No session: anyone may fetch the keys to check a signature.
    let cli = Cli::new(home.path(), "visitor", &server.url);
    let out_dir = home.path().join("keys");
    let out = out_dir.to_str().expect("utf-8 path");
    cli.ok(&["public-keys", "-o", out]).await;
    let read = |name: &str| {
        let text = std::fs::read_to_string(out_dir.join(name)).expect("key file");
        assert!(text.starts_with("-----BEGIN PUBLIC KEY-----"), "{text}");
        PublicKey::parse(&text).expect("a PEM public key")
    };
    let audit = read("audit.pub");
    let receipt = read("receipt.pub");
    assert_ne!(audit, receipt, "one key per purpose");

    let keys = server.client().public_keys().await.expect("GET /v1/keys");
    assert_eq!(PublicKey::parse(&keys.audit.pem).expect("pem"), audit);
    assert_eq!(
        PublicKey::parse(&keys.receipt.base64).expect("b64"),
        receipt
    );
    assert_eq!(keys.audit.key_id, audit.key_id().to_string());

    // Kept in the key store, not made up per run.
    server.stop().await;
    server.restart().await;
    let again = server.client().public_keys().await.expect("GET /v1/keys");
    assert_eq!(again, keys);

    let cli = Cli::new(home.path(), "visitor", &server.url);
    let json = cli.ok(&["public-keys", "-o", out, "--json"]).await;
    let lines: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["purpose"], "audit");
    assert_eq!(lines[0]["key_id"], keys.audit.key_id);
}
