//! Staff access control and the audit log against the real server: the
//! published signing keys, operator accounts and the role matrix.

mod common;

use common::{Cli, TestServer, PASSWORD};
use oriole_client::Client;
use oriole_core::staff::{role_code, Permission, Role, ROLES};
use oriole_core::PublicKey;
use oriole_proto::{NewOperatorRequest, OperatorLoginRequest};

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

/// Bootstrap the first admin on the server's data directory with the CLI
/// (beside the running server), then create and log in one operator per
/// role through the API. Returns the clients, in [`ROLES`] order.
async fn operators(server: &TestServer, home: &std::path::Path) -> Vec<(Role, Client)> {
    let cli = Cli::new(home, "root", &server.url);
    let data = server.data.path().to_str().expect("utf-8 path");
    cli.ok(&["admin", "bootstrap", "--data", data, "--name", "root"])
        .await;
    let mut admin = server.client();
    admin
        .operator_login(OperatorLoginRequest {
            name: "root".into(),
            password: PASSWORD.into(),
        })
        .await
        .expect("admin login");
    let mut out = Vec::new();
    for role in ROLES {
        let name = format!("op-{}", role_code(role).replace('_', "-"));
        admin
            .add_operator(NewOperatorRequest {
                name: name.clone(),
                role,
                password: PASSWORD.into(),
            })
            .await
            .expect("add operator");
        let mut c = server.client();
        c.operator_login(OperatorLoginRequest {
            name,
            password: PASSWORD.into(),
        })
        .await
        .expect("operator login");
        out.push((role, c));
    }
    out
}

/// Every operator endpoint, with a body that gets past authentication and
/// the permission it requires. Add each new operator route here: the test
/// below then checks it against the role matrix.
const ENDPOINTS: &[(&str, &str, &str, Permission)] = &[
    (
        "POST",
        "/v1/admin/policies",
        r#"{"version":1,"lang":"en","text":"v1 again: a conflict, past the check"}"#,
        Permission::PublishPolicy,
    ),
    ("GET", "/v1/admin/retention", "", Permission::RunRetention),
    ("GET", "/v1/admin/dsars", "", Permission::ManageDataRequests),
    (
        "POST",
        "/v1/admin/dsars",
        r#"{"user":"nobody","kind":"export","ticket":"T-1","identity_check":"matrix probe"}"#,
        Permission::ManageDataRequests,
    ),
    (
        "POST",
        "/v1/admin/dsars/00000000-0000-0000-0000-000000000000/complete",
        "{}",
        Permission::ManageDataRequests,
    ),
    (
        "POST",
        "/v1/admin/retention/run",
        r#"{"dry_run":true}"#,
        Permission::RunRetention,
    ),
    (
        "POST",
        "/v1/admin/operators",
        r#"{"name":"matrix-probe","role":"support","password":"long enough password"}"#,
        Permission::ManageOperators,
    ),
    (
        "GET",
        "/v1/admin/operators",
        "",
        Permission::ManageOperators,
    ),
    (
        "POST",
        "/v1/admin/operators/nobody/disable",
        "",
        Permission::ManageOperators,
    ),
    (
        "GET",
        "/v1/admin/users/alice?reason=customer_support&ticket=T-1",
        "",
        Permission::ViewAccountMetadata,
    ),
    (
        "GET",
        "/v1/admin/users/alice/messages?reason=legal_request&ticket=T-2",
        "",
        Permission::RequestContentAccess,
    ),
    (
        "POST",
        "/v1/admin/content-access",
        r#"{"username":"alice","reason":"legal_request","ticket":"T-3"}"#,
        Permission::RequestContentAccess,
    ),
    (
        "POST",
        "/v1/admin/content-access/0190a3f2-7c1e-7d4b-9b1a-6f2b3c4d5e6f/approve",
        "",
        Permission::ApproveContentAccess,
    ),
    ("GET", "/v1/audit/entries", "", Permission::ReadAuditLog),
    ("GET", "/v1/audit/checkpoints", "", Permission::ReadAuditLog),
    (
        "POST",
        "/v1/admin/third-parties",
        r#"{"name":"matrix-probe","contact":"c","purpose":"p","categories":["message.text"],"legal_basis":"consent","retention":"r","url":"https://probe.example/"}"#,
        Permission::ManageThirdParties,
    ),
    (
        "GET",
        "/v1/admin/third-parties",
        "",
        Permission::ManageThirdParties,
    ),
    (
        "GET",
        "/v1/admin/third-parties/dead-letters",
        "",
        Permission::ManageThirdParties,
    ),
    (
        "POST",
        "/v1/admin/disclosures",
        r#"{"user":"alice","authority":"A","case_ref":"C","scope":["profile"]}"#,
        Permission::RecordDisclosure,
    ),
];

#[tokio::test]
async fn every_operator_endpoint_follows_the_role_matrix() {
    let server = TestServer::start().await;
    let home = tempfile::TempDir::new().expect("dir");
    let staff = operators(&server, home.path()).await;
    let user = common::user(&server, "alice").await;
    let http = common::http_client(None);
    let call = |method: &str, path: &str, body: &str, token: Option<&str>| {
        let mut req = http.request(
            method.parse().expect("method"),
            format!("{}{path}", server.url),
        );
        if !body.is_empty() {
            req = req
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        async move {
            let resp = req.send().await.expect("send");
            let status = resp.status().as_u16();
            // A refusal by the role matrix says which permission is missing;
            // other 403s (no approval yet) are the endpoint's own rules.
            let by_role =
                status == 403 && resp.text().await.unwrap_or_default().contains("permission");
            (status, by_role)
        }
    };
    for (method, path, body, permission) in ENDPOINTS {
        assert_eq!(
            call(method, path, body, None).await.0,
            401,
            "{method} {path} without a token"
        );
        assert_eq!(
            call(method, path, body, user.token()).await.0,
            401,
            "{method} {path} with an end-user token"
        );
        for (role, client) in &staff {
            let (status, by_role) = call(method, path, body, client.token()).await;
            if permission.granted_to(*role) {
                assert!(
                    status != 401 && !by_role,
                    "{method} {path} as {role:?}: {status}, but the matrix allows it"
                );
            } else {
                assert!(
                    by_role,
                    "{method} {path} as {role:?}: {status}, but the matrix forbids it"
                );
            }
        }
    }
}

#[tokio::test]
async fn operators_log_in_with_the_cli_and_bootstrap_happens_once() {
    let server = TestServer::start().await;
    let home = tempfile::TempDir::new().expect("dir");
    let cli = Cli::new(home.path(), "root", &server.url);
    let data = server.data.path().to_str().expect("utf-8 path");
    cli.ok(&["admin", "bootstrap", "--data", data]).await;
    let again = cli.run(&["admin", "bootstrap", "--data", data]).await;
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).starts_with("error: conflict: "));

    cli.ok(&["admin", "login", "admin"]).await;
    let out = cli
        .ok(&[
            "admin", "operator", "add", "sam", "--role", "support", "--json",
        ])
        .await;
    let created: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(created["role"], "support");
    assert_eq!(created.get("password"), None, "came from $ORIOLE_PASSWORD");
    let bad = cli
        .run(&["admin", "operator", "add", "kim", "--role", "root"])
        .await;
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).starts_with("error: invalid_input: "));

    // The support operator may not manage operators.
    let sam = Cli::new(home.path(), "sam", &server.url);
    sam.ok(&["admin", "login", "sam"]).await;
    let refused = sam.run(&["admin", "operator", "list"]).await;
    assert!(
        String::from_utf8_lossy(&refused.stderr).starts_with("error: forbidden: "),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let listed = cli.ok(&["admin", "operator", "list", "--json"]).await;
    assert_eq!(listed.lines().count(), 2);

    // A user's token is not an operator token, and a user login is not an
    // operator login.
    let wrong = Cli::new(home.path(), "nobody", &server.url);
    let out = wrong.run(&["admin", "login", "nobody"]).await;
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: unauthorized: "));
}

/// Lines of an export, and a copy with `change` applied, written to `name`.
fn tampered(
    dir: &std::path::Path,
    export: &str,
    name: &str,
    change: impl FnOnce(&mut Vec<String>),
) -> String {
    let mut lines: Vec<String> = export.lines().map(str::to_owned).collect();
    change(&mut lines);
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").expect("write");
    path.to_str().expect("utf-8").to_owned()
}

/// The index of the export line holding entry `seq`.
fn line_of(lines: &[String], seq: u64) -> usize {
    lines
        .iter()
        .position(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .is_ok_and(|v| v["type"] == "entry" && v["seq"] == seq)
        })
        .unwrap_or_else(|| panic!("entry {seq} not in the export"))
}

#[tokio::test]
async fn the_audit_log_is_sealed_exported_and_tampering_is_named() {
    let mut server = TestServer::start().await;
    let home = tempfile::TempDir::new().expect("dir");
    let dir = home.path();
    let root = Cli::new(dir, "root", &server.url);
    let data = server.data.path().to_str().expect("utf-8").to_owned();
    root.ok(&["admin", "bootstrap", "--data", &data, "--name", "root"])
        .await;
    root.ok(&["admin", "login", "root"]).await;
    root.ok(&["admin", "operator", "add", "audra", "--role", "auditor"])
        .await;
    let mut alice = common::user(&server, "alice").await;
    let mut wrong = server.client();
    let failed = wrong
        .login(oriole_proto::LoginRequest {
            username: "alice".into(),
            password: "not her password".into(),
            ..Default::default()
        })
        .await;
    assert!(failed.is_err());
    alice.logout().await.expect("logout");

    // Shutdown seals the log; the restarted server goes on from its head.
    server.stop().await;
    server.restart().await;
    let auditor = Cli::new(dir, "audra", &server.url);
    auditor.ok(&["admin", "login", "audra"]).await;
    let out = auditor.ok(&["audit", "verify", "--json"]).await;
    let report: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(report["sealed_through"], 5, "{report}");
    assert!(
        report["unsealed_tail"].as_u64() >= Some(1),
        "the auditor's login: {report}"
    );
    // The local check agrees, with the key from the local key store.
    let local = auditor
        .ok(&["audit", "verify", "--data", &data, "--json"])
        .await;
    let local: serde_json::Value = serde_json::from_str(local.trim()).expect("json");
    assert_eq!(local["sealed_through"], report["sealed_through"]);

    // Support may not read the log.
    let root = Cli::new(dir, "root", &server.url);
    root.ok(&["admin", "operator", "add", "sam", "--role", "support"])
        .await;
    let sam = Cli::new(dir, "sam", &server.url);
    sam.ok(&["admin", "login", "sam"]).await;
    let refused = sam.run(&["audit", "verify"]).await;
    assert!(String::from_utf8_lossy(&refused.stderr).starts_with("error: forbidden: "));

    let file = dir.join("audit.jsonl");
    let file = file.to_str().expect("utf-8").to_owned();
    auditor.ok(&["audit", "export", "-o", &file]).await;
    let keys = dir.join("keys");
    auditor
        .ok(&["public-keys", "-o", keys.to_str().expect("utf-8")])
        .await;
    let key = keys.join("audit.pub");
    let key = key.to_str().expect("utf-8").to_owned();
    // Offline: no server needed.
    server.stop().await;
    let offline = Cli::new(dir, "offline", "http://127.0.0.1:9");
    offline
        .ok(&["audit", "verify", "--file", &file, "--public-key", &key])
        .await;
    let export = std::fs::read_to_string(&file).expect("read export");
    let verify = |path: String| {
        let offline = &offline;
        let key = key.clone();
        async move {
            let out = offline
                .run(&["audit", "verify", "--file", &path, "--public-key", &key])
                .await;
            assert_eq!(out.status.code(), Some(1), "tampering went unnoticed");
            String::from_utf8_lossy(&out.stderr).into_owned()
        }
    };

    // Edit a byte of entry 3 (its time): its hash no longer matches.
    let edited = tampered(dir, &export, "edited.jsonl", |lines| {
        let i = line_of(lines, 3);
        lines[i] = lines[i].replacen("\"time\":1", "\"time\":2", 1);
    });
    let err = verify(edited).await;
    assert!(err.contains("entry 3"), "{err}");
    // Delete entry 4: entry 5 is found in its place.
    let deleted = tampered(dir, &export, "deleted.jsonl", |lines| {
        lines.remove(line_of(lines, 4));
    });
    let err = verify(deleted).await;
    assert!(err.contains("entry 4"), "{err}");
    // Swap entries 2 and 3.
    let swapped = tampered(dir, &export, "swapped.jsonl", |lines| {
        let (a, b) = (line_of(lines, 2), line_of(lines, 3));
        lines.swap(a, b);
    });
    let err = verify(swapped).await;
    assert!(err.contains("entry 2"), "{err}");
    // Cut the tail after entry 2.
    let cut = tampered(dir, &export, "cut.jsonl", |lines| {
        let keep = line_of(lines, 2) + 1;
        lines.truncate(keep);
    });
    let err = verify(cut).await;
    assert!(err.contains("cut short"), "{err}");
}

#[tokio::test]
async fn justified_access_is_refused_without_a_reason_and_shown_to_the_user() {
    let server = TestServer::start().await;
    let home = tempfile::TempDir::new().expect("dir");
    let dir = home.path();
    let root = Cli::new(dir, "root", &server.url);
    let data = server.data.path().to_str().expect("utf-8").to_owned();
    root.ok(&["admin", "bootstrap", "--data", &data, "--name", "root"])
        .await;
    root.ok(&["admin", "login", "root"]).await;
    for (name, role) in [
        ("sam", "support"),
        ("pat", "privacy_officer"),
        ("quinn", "privacy_officer"),
    ] {
        root.ok(&["admin", "operator", "add", name, "--role", role])
            .await;
    }
    let alice = common::user(&server, "alice").await;
    let bob = common::user(&server, "bob").await;
    bob.send_text("alice", "the secret plan")
        .await
        .expect("send");
    let alice_cli = Cli::new(dir, "alice", &server.url);
    alice_cli.ok(&["login", "alice"]).await;

    let sam = Cli::new(dir, "sam", &server.url);
    sam.ok(&["admin", "login", "sam"]).await;
    // Refused without a reason or a ticket, or with an unknown reason:
    // nothing is read, nothing is shown to Alice.
    for args in [
        &["admin", "user", "show", "alice"][..],
        &[
            "admin",
            "user",
            "show",
            "alice",
            "--reason",
            "customer_support",
        ][..],
        &["admin", "user", "show", "alice", "--ticket", "T-9"][..],
        &[
            "admin",
            "user",
            "show",
            "alice",
            "--reason",
            "curiosity",
            "--ticket",
            "T-9",
        ][..],
    ] {
        let out = sam.run(args).await;
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: invalid_input: "));
    }
    let http = common::http_client(None);
    let status = http
        .get(format!("{}/v1/admin/users/alice", server.url))
        .bearer_auth(server_token(&sam))
        .send()
        .await
        .expect("send")
        .status();
    assert_eq!(status, 400, "the API refuses a reason-less access too");
    assert_eq!(alice.access_log().await.expect("log"), vec![]);

    let shown = sam
        .ok(&[
            "admin",
            "user",
            "show",
            "alice",
            "--reason",
            "customer_support",
            "--ticket",
            "T-42",
            "--json",
        ])
        .await;
    let view: serde_json::Value = serde_json::from_str(shown.trim()).expect("json");
    assert_eq!(view["username"], "alice");
    assert!(!shown.contains("secret plan"), "support never sees content");

    // Content: support may not; a privacy officer needs another's approval.
    let pat = operator_client(&server, "pat").await;
    let quinn = operator_client(&server, "quinn").await;
    let refused = pat
        .admin_user_messages("alice", "legal_request", "CASE-7")
        .await
        .expect_err("no approval yet");
    assert_eq!(refused.code(), "forbidden");
    let grant = pat
        .request_content_access(oriole_proto::ContentAccessRequest {
            username: "alice".into(),
            reason: oriole_proto::ReasonCode::LegalRequest,
            ticket: "CASE-7".into(),
        })
        .await
        .expect("request");
    let own = pat
        .approve_content_access(&grant.grant_id)
        .await
        .expect_err("two-person rule");
    assert_eq!(own.code(), "forbidden");
    assert!(pat
        .admin_user_messages("alice", "legal_request", "CASE-7")
        .await
        .is_err());
    quinn
        .approve_content_access(&grant.grant_id)
        .await
        .expect("approve");
    let events = pat
        .admin_user_messages("alice", "legal_request", "CASE-7")
        .await
        .expect("approved access");
    assert_eq!(common::texts(&events), ["the secret plan"]);

    // Alice sees exactly the two accesses made to her data: when, the role,
    // the reason, the categories; never who.
    let log = alice.access_log().await.expect("log");
    let summary: Vec<(&str, &str, Option<&str>, Vec<&str>)> = log
        .iter()
        .map(|a| {
            (
                a.role.as_str(),
                a.reason.as_str(),
                a.ticket.as_deref(),
                a.categories.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "support",
                "customer_support",
                Some("T-42"),
                vec!["identity", "device"]
            ),
            (
                "privacy_officer",
                "legal_request",
                Some("CASE-7"),
                vec!["content"]
            ),
        ]
    );
    assert_eq!(bob.access_log().await.expect("log"), vec![]);
    let printed = alice_cli.ok(&["me", "access-log"]).await;
    assert_eq!(printed.lines().count(), 2, "{printed}");
    for name in ["sam", "pat", "quinn"] {
        assert!(
            !printed.contains(name),
            "the log names no operator: {printed}"
        );
    }
}

/// An SDK client logged in as operator `name`.
async fn operator_client(server: &TestServer, name: &str) -> Client {
    let mut c = server.client();
    c.operator_login(OperatorLoginRequest {
        name: name.into(),
        password: PASSWORD.into(),
    })
    .await
    .expect("operator login");
    c
}

/// The operator token a CLI profile holds.
fn server_token(cli: &Cli) -> String {
    let profile: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cli.profile).expect("profile"))
            .expect("json");
    profile["operator_token"]
        .as_str()
        .expect("token")
        .to_owned()
}

/// The stderr of a failed CLI run, checked to start with `error: CODE: `.
async fn refused(cli: &Cli, args: &[&str], code: &str) -> String {
    let out = cli.run(args).await;
    assert_eq!(out.status.code(), Some(1), "{args:?} succeeded");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        err.starts_with(&format!("error: {code}: ")),
        "{args:?}: {err}"
    );
    err
}

#[tokio::test]
async fn the_two_person_rule_works_through_the_cli() {
    let server = TestServer::start().await;
    let home = tempfile::TempDir::new().expect("dir");
    let dir = home.path();
    let root = Cli::new(dir, "root", &server.url);
    let data = server.data.path().to_str().expect("utf-8").to_owned();
    root.ok(&["admin", "bootstrap", "--data", &data, "--name", "root"])
        .await;
    root.ok(&["admin", "login", "root"]).await;
    for (name, role) in [
        ("sam", "support"),
        ("pat", "privacy_officer"),
        ("quinn", "privacy_officer"),
    ] {
        root.ok(&["admin", "operator", "add", name, "--role", role])
            .await;
    }
    let _alice = common::user(&server, "alice").await;
    let bob = common::user(&server, "bob").await;
    bob.send_text("alice", "the secret plan")
        .await
        .expect("send");
    let alice = Cli::new(dir, "alice", &server.url);
    alice.ok(&["login", "alice"]).await;
    let [sam, pat, quinn] = ["sam", "pat", "quinn"].map(|n| Cli::new(dir, n, &server.url));
    for (cli, name) in [(&sam, "sam"), (&pat, "pat"), (&quinn, "quinn")] {
        cli.ok(&["admin", "login", name]).await;
    }
    let request = [
        "admin",
        "content",
        "request",
        "alice",
        "--reason",
        "legal_request",
        "--ticket",
        "CASE-7",
    ];
    let read = [
        "admin",
        "user",
        "messages",
        "alice",
        "--reason",
        "legal_request",
        "--ticket",
        "CASE-7",
    ];

    // Support may neither ask nor read; nobody reads without an approval;
    // a request needs a reason and a ticket.
    refused(&sam, &request, "forbidden").await;
    refused(&sam, &read, "forbidden").await;
    refused(&pat, &read, "forbidden").await;
    refused(&pat, &request[..6], "invalid_input").await;
    refused(
        &pat,
        &[
            "admin",
            "content",
            "request",
            "alice",
            "--reason",
            "curiosity",
            "--ticket",
            "CASE-7",
        ],
        "invalid_input",
    )
    .await;

    let out = pat.ok(&[&request[..], &["--json"]].concat()).await;
    let grant: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(grant["username"], "alice");
    assert_eq!(grant.get("approved_at"), None, "{grant}");
    let id = grant["grant_id"].as_str().expect("request id").to_owned();

    // Never one's own approval; support may not approve either.
    refused(&pat, &["admin", "content", "approve", &id], "forbidden").await;
    refused(&sam, &["admin", "content", "approve", &id], "forbidden").await;
    refused(&pat, &read, "forbidden").await;
    let approved = quinn.ok(&["admin", "content", "approve", &id]).await;
    assert!(
        approved.contains(&id) && approved.contains("approved"),
        "{approved}"
    );

    // The approval covers CASE-7 under legal_request only: another ticket
    // or another reason is refused, and the refusal names the ticket.
    for (reason, ticket) in [("legal_request", "CASE-8"), ("abuse_report", "CASE-7")] {
        let other = [
            "admin", "user", "messages", "alice", "--reason", reason, "--ticket", ticket,
        ];
        let err = refused(&pat, &other, "forbidden").await;
        assert!(
            err.contains("no current approval covers ticket") && err.contains(ticket),
            "{err}"
        );
    }

    let shown = pat.ok(&read).await;
    assert!(shown.contains("the secret plan"), "{shown}");
    let json = pat.ok(&[&read[..], &["--json"]].concat()).await;
    let texts: Vec<String> = json
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json line");
            v["text"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(texts, ["the secret plan"]);
    // Alice sees both reads, as content accesses by a privacy officer for
    // CASE-7, and never who.
    let log = alice.ok(&["me", "access-log", "--json"]).await;
    let entries: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(entries.len(), 2, "{log}");
    for e in &entries {
        assert_eq!(e["role"], "privacy_officer");
        assert_eq!(e["reason"], "legal_request");
        assert_eq!(e["ticket"], "CASE-7");
        assert_eq!(e["categories"], serde_json::json!(["content"]));
    }
    for name in ["sam", "pat", "quinn"] {
        assert!(!log.contains(name), "the log names no operator: {log}");
    }
}

/// Run the CLI as `cli` with `password` in $ORIOLE_PASSWORD (the harness
/// always passes [`PASSWORD`]).
async fn with_password(cli: &Cli, password: &str, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_oriole"))
        .args(args)
        .env("ORIOLE_PROFILE", &cli.profile)
        .env("ORIOLE_SERVER", &cli.server)
        .env("ORIOLE_PASSWORD", password)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("run oriole")
}

/// Lines of the live audit log whose details name `operation`.
async fn audited(auditor: &Client, operation: &str) -> Vec<serde_json::Value> {
    auditor
        .audit_entries(0, 1000)
        .await
        .expect("audit entries")
        .into_iter()
        .filter(|e| e.to_string().contains(&format!("\"{operation}\"")))
        .collect()
}

#[tokio::test]
async fn an_admin_disables_an_operator_and_their_sessions_end_at_once() {
    let server = TestServer::start().await;
    let home = tempfile::TempDir::new().expect("dir");
    let dir = home.path();
    let root = Cli::new(dir, "root", &server.url);
    let data = server.data.path().to_str().expect("utf-8").to_owned();
    root.ok(&["admin", "bootstrap", "--data", &data, "--name", "root"])
        .await;
    root.ok(&["admin", "login", "root"]).await;
    for (name, role) in [("sam", "support"), ("audra", "auditor")] {
        root.ok(&["admin", "operator", "add", name, "--role", role])
            .await;
    }
    let sam = Cli::new(dir, "sam", &server.url);
    sam.ok(&["admin", "login", "sam"]).await;
    let sam_sdk = operator_client(&server, "sam").await;
    sam.ok(&["admin", "dsar", "list"]).await;

    // Only an admin may; never one's own account; an unknown name is named.
    refused(&sam, &["admin", "operator", "disable", "root"], "forbidden").await;
    refused(&root, &["admin", "operator", "disable", "root"], "conflict").await;
    refused(
        &root,
        &["admin", "operator", "disable", "nobody"],
        "not_found",
    )
    .await;

    let out = root
        .ok(&["admin", "operator", "disable", "sam", "--json"])
        .await;
    let info: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(info["name"], "sam");
    assert!(info["disabled_at"].is_i64(), "{info}");
    // Both of sam's sessions are gone, and a new login is refused even
    // with the right password.
    refused(&sam, &["admin", "dsar", "list"], "unauthorized").await;
    let err = sam_sdk.dsars(false).await.expect_err("session ended");
    assert_eq!(err.code(), "unauthorized");
    let err = refused(&sam, &["admin", "login", "sam"], "unauthorized").await;
    assert!(err.contains("disabled"), "{err}");
    let err = server
        .client()
        .operator_login(OperatorLoginRequest {
            name: "sam".into(),
            password: "not sam's password".into(),
        })
        .await
        .expect_err("wrong password");
    assert!(
        !err.to_string().contains("disabled"),
        "only the password's holder learns the account is disabled: {err}"
    );
    // Disabling again changes nothing; the list shows who is disabled.
    root.ok(&["admin", "operator", "disable", "sam"]).await;
    let listed = root.ok(&["admin", "operator", "list"]).await;
    let sam_line = listed
        .lines()
        .find(|l| l.starts_with("sam "))
        .expect("sam listed");
    assert!(sam_line.contains("disabled"), "{listed}");
    assert!(!listed
        .lines()
        .any(|l| l.starts_with("root ") && l.contains("disabled")));

    // Audited once, by pseudonym and role, never the name.
    let audra = operator_client(&server, "audra").await;
    let entries = audited(&audra, "operator_disable").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    let text = entries[0].to_string();
    assert!(text.contains("support") && !text.contains("sam"), "{text}");
}

#[tokio::test]
async fn an_operator_changes_their_password_and_their_other_sessions_end() {
    let server = TestServer::start().await;
    let home = tempfile::TempDir::new().expect("dir");
    let dir = home.path();
    let root = Cli::new(dir, "root", &server.url);
    let data = server.data.path().to_str().expect("utf-8").to_owned();
    root.ok(&["admin", "bootstrap", "--data", &data, "--name", "root"])
        .await;
    root.ok(&["admin", "login", "root"]).await;
    for (name, role) in [("kim", "support"), ("audra", "auditor")] {
        root.ok(&["admin", "operator", "add", name, "--role", role])
            .await;
    }
    let kim = Cli::new(dir, "kim", &server.url);
    kim.ok(&["admin", "login", "kim"]).await;
    let other = operator_client(&server, "kim").await;
    const NEW: &str = "a brand new passphrase";

    // No operator session, or a user's: refused.
    let user = common::user(&server, "alice").await;
    let err = user
        .change_operator_password(NEW)
        .await
        .expect_err("a user token");
    assert_eq!(err.code(), "unauthorized");
    let short = with_password(&kim, "short", &["admin", "password"]).await;
    assert_eq!(short.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&short.stderr).starts_with("error: invalid_input: "),
        "{}",
        String::from_utf8_lossy(&short.stderr)
    );

    let out = with_password(&kim, NEW, &["admin", "password"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // This session stays; the other one ended.
    kim.ok(&["admin", "dsar", "list"]).await;
    let err = other.dsars(false).await.expect_err("other session ended");
    assert_eq!(err.code(), "unauthorized");
    // The old password no longer works; the new one does.
    refused(&kim, &["admin", "login", "kim"], "unauthorized").await;
    let again = with_password(&kim, NEW, &["admin", "login", "kim"]).await;
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    kim.ok(&["admin", "dsar", "list"]).await;

    let audra = operator_client(&server, "audra").await;
    let entries = audited(&audra, "operator_password_change").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    let text = entries[0].to_string();
    assert!(!text.contains("kim") && !text.contains(NEW), "{text}");
}

#[tokio::test]
async fn the_server_writes_the_audit_report_on_its_schedule() {
    let server = TestServer::start_with_env(&[("ORIOLE_AUDIT__REPORT_SECS", "1")]).await;
    let mut alice = common::user(&server, "alice").await;
    alice.logout().await.expect("logout");
    let reports = server.data.path().join("reports");
    // The first report is written one period (a second) after start; wait
    // for one that covers the login above, polling the directory.
    let mut found = None;
    for _ in 0..600 {
        let jsons: Vec<std::path::PathBuf> = std::fs::read_dir(&reports)
            .map(|dir| {
                dir.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "json"))
                    .collect()
            })
            .unwrap_or_default();
        for path in jsons {
            let text = std::fs::read_to_string(&path).expect("read report");
            let report: serde_json::Value = serde_json::from_str(&text).expect("json report");
            if report["by_action"]["logout"].as_u64() >= Some(1) {
                found = Some((path, report));
            }
        }
        if found.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (json_path, report) = found.expect("a report covering the logout within 30 s");
    let name = json_path
        .file_name()
        .and_then(|n| n.to_str())
        .expect("name");
    assert!(
        name.starts_with("audit-") && name.ends_with("Z.json"),
        "{name}"
    );
    assert_eq!(report["verification"]["status"], "verified", "{report}");
    let md = std::fs::read_to_string(json_path.with_extension("md")).expect("the .md beside it");
    assert!(md.starts_with('#'), "{md}");
    // Pseudonymous ids and codes only.
    for text in [md, report.to_string()] {
        assert!(!text.contains("alice"), "{text}");
    }
    // The periods tile: each report starts where the one before it ended,
    // so an entry falls in exactly one report however late a tick fires.
    let mut periods = Vec::new();
    for _ in 0..600 {
        periods = std::fs::read_dir(&reports)
            .expect("reports")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .map(|p| {
                let text = std::fs::read_to_string(&p).expect("read report");
                let r: serde_json::Value = serde_json::from_str(&text).expect("json report");
                (
                    r["since"].as_i64().expect("since"),
                    r["until"].as_i64().expect("until"),
                )
            })
            .collect::<Vec<_>>();
        if periods.len() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    periods.sort_unstable();
    assert!(periods.len() >= 3, "{periods:?}");
    for pair in periods.windows(2) {
        assert_eq!(pair[0].1, pair[1].0, "{periods:?}");
    }
}
