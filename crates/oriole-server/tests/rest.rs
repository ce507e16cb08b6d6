//! The REST API over real HTTP: accounts, messages, groups, and the JSON
//! error shape for every kind of bad request.

mod common;

use common::{TestApp, PASSWORD};
use oriole_proto::{DeviceList, GroupInfo, Profile, SessionResponse, SyncPage};
use serde_json::{json, Value};

async fn error_of(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{status}: {content_type}"
    );
    let body: Value = resp.json().await.expect("json error body");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    (status, body)
}

#[tokio::test]
async fn register_login_me_devices_logout() {
    let app = TestApp::start().await;
    let resp = app
        .http
        .post(app.url("/v1/accounts"))
        .json(&json!({
            "username": "Erin", "password": PASSWORD,
            "phone": "+86 138 0013 8000", "email": "Erin@Example.org",
            "device_model": "Pixel 9", "os_version": "Android 16",
            "consents": ["device_diagnostics"]
        }))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 201);
    let first: SessionResponse = resp.json().await.expect("session");
    assert_eq!(first.username, "erin");

    let second = app.login("erin").await;
    assert_eq!(second.user_id, first.user_id);
    assert_ne!(second.device_id, first.device_id);

    let me: Profile = app
        .get(&first.token, "/v1/me")
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("profile");
    assert_eq!(me.username, "erin");
    assert_eq!(me.phone.as_deref(), Some("+8613800138000"));
    assert_eq!(me.email.as_deref(), Some("Erin@example.org"));

    let list: DeviceList = app
        .get(&first.token, "/v1/devices")
        .send()
        .await
        .expect("devices")
        .json()
        .await
        .expect("device list");
    assert_eq!(list.devices.len(), 2);
    let mine = list
        .devices
        .iter()
        .find(|d| d.current)
        .expect("current device");
    assert_eq!(mine.device_id, first.device_id);
    assert_eq!(mine.device_model.as_deref(), Some("Pixel 9"));
    assert_eq!(mine.ip.as_deref(), Some("127.0.0.1"), "the peer address");

    // Revoke the second device; its token dies.
    let resp = app
        .delete(&first.token, &format!("/v1/devices/{}", second.device_id))
        .send()
        .await
        .expect("revoke");
    assert_eq!(resp.status(), 204);
    let (status, body) = error_of(app.get(&second.token, "/v1/me").send().await.expect("me")).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    let resp = app
        .delete(&first.token, &format!("/v1/devices/{}", second.device_id))
        .send()
        .await
        .expect("revoke again");
    assert_eq!(error_of(resp).await.1["code"], "not_found");

    // Log out.
    let resp = app
        .delete(&first.token, "/v1/sessions/current")
        .send()
        .await
        .expect("logout");
    assert_eq!(resp.status(), 204);
    let resp = app.get(&first.token, "/v1/me").send().await.expect("me");
    assert_eq!(error_of(resp).await.1["code"], "unauthorized");
}

#[tokio::test]
async fn forwarded_for_is_ignored_unless_trusted() {
    for (trust, expected) in [(false, "127.0.0.1"), (true, "203.0.113.7")] {
        let app = TestApp::start_with(|s| s.trust_forwarded_for = trust).await;
        let resp = app
            .http
            .post(app.url("/v1/accounts"))
            .header("x-forwarded-for", "198.51.100.1, 203.0.113.7")
            .json(&json!({"username": "alice", "password": PASSWORD}))
            .send()
            .await
            .expect("register");
        let session: SessionResponse = resp.json().await.expect("session");
        let list: DeviceList = app
            .get(&session.token, "/v1/devices")
            .send()
            .await
            .expect("devices")
            .json()
            .await
            .expect("list");
        assert_eq!(
            list.devices[0].ip.as_deref(),
            Some(expected),
            "trust={trust}"
        );
    }
}

#[tokio::test]
async fn messages_sync_receipts_and_recall() {
    let app = TestApp::start().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;

    let send = |key: &str| json!({"to": "bob", "text": "hello", "idempotency_key": key});
    let resp = app
        .post(&alice.token, "/v1/messages")
        .json(&send("k1"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 201);
    let ack: Value = resp.json().await.expect("ack");
    assert_eq!(ack["duplicate"], false);
    let resp = app
        .post(&alice.token, "/v1/messages")
        .json(&send("k1"))
        .send()
        .await
        .expect("retry");
    assert_eq!(resp.status(), 200, "a duplicate is not created");
    let again: Value = resp.json().await.expect("ack");
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["message_id"], ack["message_id"]);
    let id = ack["message_id"].as_str().expect("id").to_owned();

    let page: SyncPage = app
        .get(&bob.token, "/v1/sync?after=0&limit=10")
        .send()
        .await
        .expect("sync")
        .json()
        .await
        .expect("page");
    assert_eq!(page.events.len(), 1);
    assert_eq!(page.events[0].id, id);
    assert_eq!(page.next, 1);
    assert!(!page.more);

    let resp = app
        .post(&bob.token, &format!("/v1/messages/{id}/receipts"))
        .json(&json!({"kind": "read"}))
        .send()
        .await
        .expect("receipt");
    assert_eq!(resp.status(), 204);
    let resp = app
        .post(&alice.token, &format!("/v1/messages/{id}/recall"))
        .send()
        .await
        .expect("recall");
    assert_eq!(resp.status(), 204);
    let page: SyncPage = app
        .get(&alice.token, "/v1/sync")
        .send()
        .await
        .expect("sync")
        .json()
        .await
        .expect("page");
    let kinds: Vec<String> = page
        .events
        .iter()
        .map(|e| format!("{:?}", e.kind))
        .collect();
    assert_eq!(kinds, ["Message", "Receipt", "Recall"]);

    let resp = app
        .post(&bob.token, "/v1/messages/not-an-id/recall")
        .send()
        .await
        .expect("recall");
    assert_eq!(error_of(resp).await.1["code"], "not_found");
}

#[tokio::test]
async fn groups_end_to_end() {
    let app = TestApp::start().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let _carol = app.register("carol").await;

    let resp = app
        .post(&alice.token, "/v1/groups")
        .json(&json!({"name": "team", "members": ["bob"]}))
        .send()
        .await
        .expect("create");
    assert_eq!(resp.status(), 201);
    let group: GroupInfo = resp.json().await.expect("group");
    let gid = group.group_id.clone();

    let list: Value = app
        .get(&bob.token, "/v1/groups")
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(list["groups"][0]["group_id"], gid.as_str());
    assert_eq!(list["groups"][0]["role"], "member");

    let resp = app
        .patch(&alice.token, &format!("/v1/groups/{gid}"))
        .json(&json!({"name": "renamed", "history_visible": true}))
        .send()
        .await
        .expect("patch");
    assert_eq!(resp.status(), 200);
    let info: GroupInfo = app
        .get(&bob.token, &format!("/v1/groups/{gid}"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("group");
    assert_eq!(info.name, "renamed");
    assert!(info.history_visible);

    let resp = app
        .post(&alice.token, &format!("/v1/groups/{gid}/members"))
        .json(&json!({"username": "carol"}))
        .send()
        .await
        .expect("add");
    assert_eq!(resp.status(), 201);
    let resp = app
        .post(&bob.token, &format!("/v1/groups/{gid}/members"))
        .json(&json!({"username": "carol"}))
        .send()
        .await
        .expect("add as member");
    assert_eq!(error_of(resp).await.1["code"], "forbidden");

    let resp = app
        .post(&alice.token, "/v1/messages")
        .json(&json!({"group": gid, "text": "hi team"}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 201);
    let history: Value = app
        .get(&bob.token, &format!("/v1/groups/{gid}/messages?limit=5"))
        .send()
        .await
        .expect("history")
        .json()
        .await
        .expect("json");
    assert_eq!(history["messages"][0]["text"], "hi team");

    let resp = app
        .delete(&alice.token, &format!("/v1/groups/{gid}/members/carol"))
        .send()
        .await
        .expect("remove");
    assert_eq!(resp.status(), 204);
    let members: Value = app
        .get(&alice.token, &format!("/v1/groups/{gid}/members"))
        .send()
        .await
        .expect("members")
        .json()
        .await
        .expect("json");
    let names: Vec<&str> = members["members"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|m| m["username"].as_str())
        .collect();
    assert_eq!(names, ["alice", "bob"]);

    let resp = app
        .post(&alice.token, &format!("/v1/groups/{gid}/leave"))
        .send()
        .await
        .expect("leave");
    assert_eq!(resp.status(), 204);
    let resp = app
        .get(&alice.token, &format!("/v1/groups/{gid}"))
        .send()
        .await
        .expect("get");
    assert_eq!(error_of(resp).await.1["code"], "not_found");
}

#[tokio::test]
async fn bad_requests_get_json_errors() {
    let app = TestApp::start_with(|s| s.max_message_bytes = 1024).await;
    let alice = app.register("alice").await;

    // Not JSON.
    let resp = app
        .http
        .post(app.url("/v1/sessions"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("request");
    let (status, body) = error_of(resp).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("malformed_frame"))
    );

    // JSON of the wrong shape.
    let resp = app
        .http
        .post(app.url("/v1/sessions"))
        .json(&json!({"username": 7}))
        .send()
        .await
        .expect("request");
    assert_eq!(error_of(resp).await.1["code"], "malformed_frame");

    // No JSON content type.
    let resp = app
        .http
        .post(app.url("/v1/sessions"))
        .body(r#"{"username":"alice","password":"x"}"#)
        .send()
        .await
        .expect("request");
    let (status, body) = error_of(resp).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("malformed_frame"))
    );

    // Bad query parameter.
    let resp = app
        .get(&alice.token, "/v1/sync?after=minus-one")
        .send()
        .await
        .expect("request");
    let (status, body) = error_of(resp).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_input"))
    );

    // Body over the limit.
    let resp = app
        .post(&alice.token, "/v1/messages")
        .json(&json!({"to": "alice", "text": "x".repeat(64 * 1024)}))
        .send()
        .await
        .expect("request");
    let (status, body) = error_of(resp).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("payload_too_large"))
    );

    // Unknown route, and a known route with the wrong method.
    let resp = app
        .http
        .get(app.url("/v1/nowhere"))
        .send()
        .await
        .expect("request");
    let (status, body) = error_of(resp).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    let resp = app
        .http
        .put(app.url("/v1/me"))
        .send()
        .await
        .expect("request");
    assert_eq!(error_of(resp).await.1["code"], "not_found");

    // Missing or unknown token.
    let resp = app
        .http
        .get(app.url("/v1/me"))
        .send()
        .await
        .expect("request");
    let (status, body) = error_of(resp).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    let resp = app
        .get("ori_forged", "/v1/groups")
        .send()
        .await
        .expect("request");
    assert_eq!(error_of(resp).await.1["code"], "unauthorized");

    // Validation from the services.
    let resp = app
        .http
        .post(app.url("/v1/accounts"))
        .json(&json!({"username": "x", "password": PASSWORD}))
        .send()
        .await
        .expect("request");
    assert_eq!(error_of(resp).await.1["code"], "invalid_input");
}

#[tokio::test]
async fn throttled_logins_carry_retry_after() {
    let app = TestApp::start_with(|s| s.login_throttle.account_max_failures = 2).await;
    app.register("alice").await;
    let wrong = json!({"username": "alice", "password": "wrong password"});
    for _ in 0..2 {
        let resp = app
            .http
            .post(app.url("/v1/sessions"))
            .json(&wrong)
            .send()
            .await
            .expect("login");
        assert_eq!(error_of(resp).await.1["code"], "unauthorized");
    }
    let resp = app
        .http
        .post(app.url("/v1/sessions"))
        .json(&json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    let retry_after: u64 = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After header");
    let (status, body) = error_of(resp).await;
    assert_eq!((status, body["code"].as_str()), (429, Some("rate_limited")));
    assert_eq!(body["retry_after"].as_u64(), Some(retry_after));
    assert!(retry_after > 0);
}

#[tokio::test]
async fn health_openapi_and_security_headers() {
    let app = TestApp::start().await;
    let resp = app
        .http
        .get(app.url("/v1/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(resp.status(), 200);
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
    ] {
        assert_eq!(
            resp.headers().get(name).and_then(|v| v.to_str().ok()),
            Some(value),
            "{name}"
        );
    }
    let health: Value = resp.json().await.expect("json");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["protocol"], oriole_proto::PROTOCOL_VERSION);

    let resp = app
        .http
        .get(app.url("/v1/openapi.json"))
        .send()
        .await
        .expect("openapi");
    assert_eq!(resp.status(), 200);
    let served = resp.text().await.expect("text");
    assert_eq!(served, oriole_server::openapi_json());
    let doc: Value = serde_json::from_str(&served).expect("json");
    assert!(doc["openapi"]
        .as_str()
        .is_some_and(|v| v.starts_with("3.1")));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

#[tokio::test]
async fn the_privacy_inventory_is_public() {
    let app = TestApp::start().await;
    let resp = app
        .http
        .get(app.url("/v1/privacy/inventory"))
        .send()
        .await
        .expect("inventory");
    assert_eq!(resp.status(), 200);
    let body: oriole_proto::PrivacyInventory = resp.json().await.expect("json");
    assert_eq!(body.items, oriole_core::inventory::inventory_items());
    let text = body
        .items
        .iter()
        .find(|i| i.id == "message.text")
        .expect("message.text");
    assert_eq!(
        text.protection,
        oriole_proto::ProtectionKind::EncryptedAtRest
    );
    assert!(!text
        .visible_to
        .contains(&oriole_proto::OperatorRole::Support));
}

#[tokio::test]
async fn shutdown_returns_after_in_flight_work() {
    let mut app = TestApp::start().await;
    let alice = app.register("alice").await;
    let resp = app.get(&alice.token, "/v1/me").send().await.expect("me");
    assert_eq!(resp.status(), 200);
    app.stop().await.expect("clean stop");
    // The listener is closed.
    assert!(app.http.get(app.url("/v1/health")).send().await.is_err());
}
