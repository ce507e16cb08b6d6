//! `docs/openapi.json` is the committed copy of the document the server
//! generates; this test fails when they drift apart.
//!
//! Regenerate with:
//!     ORIOLE_UPDATE_OPENAPI=1 cargo test -p oriole-server --test openapi

use std::path::PathBuf;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

#[test]
fn openapi_document_is_committed_and_current() {
    let generated = oriole_server::openapi_json();
    let path = committed_path();
    if std::env::var_os("ORIOLE_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).expect("write docs/openapi.json");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is missing or out of date with the server's routes.\n\
         Regenerate it with:\n    \
         ORIOLE_UPDATE_OPENAPI=1 cargo test -p oriole-server --test openapi\n\
         and commit the result."
    );
}

#[test]
fn every_route_is_documented() {
    let doc = oriole_server::openapi();
    let paths: Vec<&str> = doc.paths.paths.keys().map(String::as_str).collect();
    for path in [
        "/v1/accounts",
        "/v1/sessions",
        "/v1/sessions/current",
        "/v1/me",
        "/v1/devices",
        "/v1/devices/{device_id}",
        "/v1/messages",
        "/v1/sync",
        "/v1/messages/{id}/receipts",
        "/v1/messages/{id}/recall",
        "/v1/groups",
        "/v1/groups/{id}",
        "/v1/groups/{id}/members",
        "/v1/groups/{id}/members/{username}",
        "/v1/groups/{id}/leave",
        "/v1/groups/{id}/messages",
        "/v1/health",
        "/v1/openapi.json",
        "/v1/ws",
        "/v1/privacy/inventory",
        "/v1/me/data",
        "/v1/me/export",
        "/v1/admin/dsars",
        "/v1/admin/dsars/{id}/complete",
        "/v1/keys",
        "/v1/admin/users/{username}",
        "/v1/admin/users/{username}/messages",
        "/v1/admin/content-access",
        "/v1/admin/content-access/{grant_id}/approve",
        "/v1/me/access-log",
        "/v1/audit/entries",
        "/v1/audit/checkpoints",
        "/v1/admin/sessions",
        "/v1/admin/sessions/current",
        "/v1/admin/operators",
        "/v1/admin/operators/{name}/disable",
        "/v1/admin/password",
        "/v1/privacy/policy",
        "/v1/me/consents",
        "/v1/me/analytics",
        "/v1/me/policy",
        "/v1/me/policy/acceptances",
        "/v1/admin/policies",
        "/v1/admin/retention",
        "/v1/admin/retention/run",
        "/v1/privacy/third-parties",
        "/v1/me/sharing",
        "/v1/me/sharing/{recipient}",
        "/v1/admin/third-parties",
        "/v1/admin/third-parties/dead-letters",
        "/v1/third-parties/{recipient}/callback",
        "/v1/admin/disclosures",
    ] {
        assert!(
            paths.contains(&path),
            "{path} is not in the OpenAPI document"
        );
    }
    assert_eq!(paths.len(), 52, "{paths:?}");
}
