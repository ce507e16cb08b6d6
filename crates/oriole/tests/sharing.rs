//! Third-party sharing under consent (P13) against the real server: a real
//! webhook receiver on loopback checks every signature with the SDK helper
//! and records what it got; a privacy officer registers it with the CLI.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use common::{user, Cli, TestServer};
use oriole_client::webhook::{
    sign_callback, verify_webhook, SigningSecret, WebhookBody, WebhookKind, SIGNATURE_HEADER,
};
use oriole_client::Client;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// How long a test waits for the receiver to see something before failing
/// (retries back off from 1 s).
const PATIENCE: Duration = Duration::from_secs(60);

/// One webhook as received: parsed, its signature header, its raw body.
type Received = (WebhookBody, String, Vec<u8>);

/// What the receiver got, as it arrived (duplicates included).
#[derive(Clone)]
struct Inbox {
    secret: Arc<Mutex<String>>,
    got: Arc<Mutex<Vec<Received>>>,
    bad_signatures: Arc<Mutex<usize>>,
    changed: watch::Sender<usize>,
}

async fn hook(State(inbox): State<Inbox>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let signature = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let secret = inbox.secret.lock().expect("lock").clone();
    let status = match verify_webhook(&secret, &signature, &body) {
        Ok(parsed) => {
            assert_eq!(
                headers.get("Oriole-Delivery").and_then(|v| v.to_str().ok()),
                Some(parsed.id.as_str()),
                "the idempotency key is in the header and the body"
            );
            inbox
                .got
                .lock()
                .expect("lock")
                .push((parsed, signature, body.to_vec()));
            StatusCode::OK
        }
        Err(_) => {
            *inbox.bad_signatures.lock().expect("lock") += 1;
            StatusCode::UNAUTHORIZED
        }
    };
    inbox.changed.send_modify(|n| *n += 1);
    status
}

/// A webhook receiver on a fixed loopback address that can go down and
/// come back up.
struct Receiver {
    inbox: Inbox,
    addr: SocketAddr,
    running: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl Receiver {
    async fn start() -> Receiver {
        let (changed, _) = watch::channel(0);
        let inbox = Inbox {
            secret: Arc::new(Mutex::new(String::new())),
            got: Arc::default(),
            bad_signatures: Arc::default(),
            changed,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut r = Receiver {
            inbox,
            addr,
            running: None,
        };
        r.serve(listener);
        r
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let app = Router::new()
            .route("/hook", post(hook))
            .with_state(self.inbox.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .expect("receiver");
        });
        self.running = Some((stop, task));
    }

    async fn down(&mut self) {
        if let Some((stop, task)) = self.running.take() {
            let _ = stop.send(());
            task.await.expect("receiver stopped");
        }
    }

    async fn up(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .expect("rebind the receiver's port");
        self.serve(listener);
    }

    fn set_secret(&self, secret: &str) {
        *self.inbox.secret.lock().expect("lock") = secret.to_owned();
    }

    fn got(&self) -> Vec<WebhookBody> {
        let got = self.inbox.got.lock().expect("lock");
        got.iter().map(|(b, _, _)| b.clone()).collect()
    }

    /// Distinct deliveries (the receiver drops repeats by `id`).
    fn unique(&self) -> Vec<WebhookBody> {
        let mut seen = BTreeSet::new();
        self.got()
            .into_iter()
            .filter(|b| seen.insert(b.id.clone()))
            .collect()
    }

    /// Wait (on the receiver's signal, never a sleep) until `done` holds.
    async fn wait_for(&self, what: &str, done: impl Fn(&Receiver) -> bool) {
        let mut rx = self.inbox.changed.subscribe();
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !done(self) {
            tokio::time::timeout_at(deadline, rx.changed())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}; got {:?}", self.got()))
                .expect("receiver alive");
        }
    }
}

/// Bootstrap an admin, create a privacy officer and register `name` with
/// the CLI; returns the signing secret.
async fn register(
    server: &TestServer,
    home: &std::path::Path,
    name: &str,
    url: &str,
    categories: &str,
    bot: &str,
) -> String {
    let root = Cli::new(home, "root", &server.url);
    let officer = Cli::new(home, "officer", &server.url);
    if !officer.profile.exists() {
        let data = server.data.path().to_str().expect("utf-8 path");
        root.ok(&["admin", "bootstrap", "--data", data, "--name", "root"])
            .await;
        root.ok(&["admin", "login", "root"]).await;
        root.ok(&[
            "admin",
            "operator",
            "add",
            "officer",
            "--role",
            "privacy_officer",
        ])
        .await;
        officer.ok(&["admin", "login", "officer"]).await;
        // Only a privacy officer may register recipients.
        let refused = root
            .run(&[
                "admin",
                "third-party",
                "add",
                name,
                "--url",
                url,
                "--purpose",
                "x",
                "--categories",
                categories,
            ])
            .await;
        assert_eq!(refused.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&refused.stderr).contains("forbidden"));
    }
    let out = officer
        .ok(&[
            "--json",
            "admin",
            "third-party",
            "add",
            name,
            "--url",
            url,
            "--purpose",
            "Answers questions in chat",
            "--categories",
            categories,
            "--bot",
            bot,
        ])
        .await;
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    v["signing_secret"]
        .as_str()
        .expect("signing secret")
        .to_owned()
}

/// The sharing ledger once it holds `n` entries: the server records a
/// delivery just after the receiver answers, so the test polls the API
/// (a condition, not a start-up wait) until then.
async fn ledger_of(client: &Client, n: usize) -> Vec<oriole_proto::SharingLedgerEntry> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let ledger = client.my_sharing().await.expect("ledger").ledger;
        if ledger.len() >= n {
            return ledger;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the ledger never reached {n} entries: {ledger:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn code(e: oriole_client::ClientError) -> (String, String) {
    match e {
        oriole_client::ClientError::Api(api) => (api.code.to_string(), api.message),
        other => panic!("expected an API error, got {other}"),
    }
}

async fn setup(server: &TestServer, home: &std::path::Path, rx: &Receiver) -> (Client, String) {
    let _bot = user(server, "helper").await;
    let alice = user(server, "alice").await;
    let secret = register(
        server,
        home,
        "assistant",
        &rx.url(),
        "message.text",
        "helper",
    )
    .await;
    rx.set_secret(&secret);
    (alice, secret)
}

/// An account that becomes a bot stops receiving plain messages at once,
/// though senders wrote to it (and the server looked it up) before.
#[tokio::test]
async fn an_account_registered_as_a_bot_is_gated_from_the_next_send() {
    let server = TestServer::start().await;
    let home = tempfile::TempDir::new().expect("dir");
    let rx = Receiver::start().await;
    let _helper = user(&server, "helper").await;
    let alice = user(&server, "alice").await;
    alice
        .send_text("helper", "still a person")
        .await
        .expect("a plain account receives");
    let secret = register(
        &server,
        home.path(),
        "assistant",
        &rx.url(),
        "message.text",
        "helper",
    )
    .await;
    rx.set_secret(&secret);
    let (c, _) = code(
        alice
            .send_text("helper", "now a bot")
            .await
            .expect_err("refused"),
    );
    assert_eq!(c, "consent_required");
}

#[tokio::test]
async fn nothing_leaves_without_consent_and_what_leaves_is_minimized_signed_and_ledgered() {
    let server = TestServer::start().await;
    let home = tempfile::TempDir::new().expect("dir");
    let rx = Receiver::start().await;
    let (alice, secret) = setup(&server, home.path(), &rx).await;

    // The public list shows the recipient, without its URL or secret.
    let cli = Cli::new(home.path(), "visitor", &server.url);
    let list = cli.ok(&["--json", "privacy", "third-parties"]).await;
    let entry: serde_json::Value = serde_json::from_str(list.trim()).expect("json");
    assert_eq!(entry["name"], "assistant");
    assert_eq!(entry["bot"], "helper");
    assert_eq!(entry["categories"], serde_json::json!(["message.text"]));
    assert!(!list.contains(&secret) && !list.contains("/hook"));

    // Without consent: refused, naming the recipient; nothing queued.
    let (c, message) = code(
        alice
            .send_text("helper", "secret before consent")
            .await
            .expect_err("refused"),
    );
    assert_eq!(c, "consent_required");
    assert!(message.contains("assistant"), "{message}");

    alice.grant_sharing("assistant").await.expect("grant");
    let sent = alice
        .send_text("helper", "what is the weather?")
        .await
        .expect("send");
    rx.wait_for("the first delivery", |r| !r.unique().is_empty())
        .await;
    let got = rx.unique();
    assert_eq!(got.len(), 1, "the refused message never left: {got:?}");
    let hook = &got[0];
    assert_eq!(hook.kind, WebhookKind::Message);
    assert_eq!(hook.recipient, "assistant");
    // Minimized to message.text: no username, message id or time.
    assert_eq!(
        serde_json::Value::Object(hook.data.clone()),
        serde_json::json!({"text": "what is the weather?"})
    );
    // Pseudonymous: neither the username nor the account id.
    let me = alice.me().await.expect("me");
    assert!(hook.user.starts_with("p_"), "{}", hook.user);
    let raw = String::from_utf8(rx.inbox.got.lock().expect("lock")[0].2.clone()).expect("utf-8");
    assert!(
        !raw.contains("alice") && !raw.contains(&me.user_id) && !raw.contains(&sent.message_id)
    );
    assert_eq!(*rx.inbox.bad_signatures.lock().expect("lock"), 0);

    // A tampered body or a wrong secret fails the SDK helper.
    let (_, signature, body) = rx.inbox.got.lock().expect("lock")[0].clone();
    let mut tampered = body.clone();
    tampered[5] ^= 1;
    assert!(verify_webhook(&secret, &signature, &tampered).is_err());
    let other = SigningSecret::generate();
    assert!(verify_webhook(other.expose(), &signature, &body).is_err());

    // The bot's signed reply reaches alice as an ordinary message.
    let reply =
        serde_json::to_vec(&serde_json::json!({"user": hook.user, "text": "sunny"})).expect("json");
    let key = SigningSecret::parse(&secret).expect("secret");
    let http = common::http_client(None);
    let callback = format!("{}/v1/third-parties/assistant/callback", server.url);
    let forged = http
        .post(&callback)
        .header(SIGNATURE_HEADER, sign_callback(&other, &reply))
        .body(reply.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status(), 401);
    let ok = http
        .post(&callback)
        .header(SIGNATURE_HEADER, sign_callback(&key, &reply))
        .body(reply)
        .send()
        .await
        .expect("post");
    assert_eq!(ok.status(), 201, "{:?}", ok.text().await);
    let events = alice.sync_all(0).await.expect("sync");
    let from_bot: Vec<_> = events
        .iter()
        .filter(|e| e.from.as_deref() == Some("helper"))
        .collect();
    assert_eq!(from_bot.len(), 1);
    assert_eq!(from_bot[0].text.as_deref(), Some("sunny"));

    // The ledger matches what the receiver got.
    let cli_alice = Cli::new(home.path(), "alice", &server.url);
    cli_alice.ok(&["login", "alice"]).await;
    ledger_of(&alice, 1).await;
    let out = cli_alice.ok(&["--json", "me", "sharing"]).await;
    let ledger: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(ledger.len(), 1, "{out}");
    assert_eq!(ledger[0]["id"], hook.id.as_str());
    assert_eq!(ledger[0]["recipient"], "assistant");
    assert_eq!(ledger[0]["categories"], serde_json::json!(["message.text"]));
}

#[tokio::test]
async fn revoking_drops_queued_deliveries_and_sends_an_erasure_request() {
    let server = TestServer::start().await;
    let home = tempfile::TempDir::new().expect("dir");
    let mut rx = Receiver::start().await;
    let (alice, _) = setup(&server, home.path(), &rx).await;
    alice.grant_sharing("assistant").await.expect("grant");
    alice.send_text("helper", "one").await.expect("send");
    rx.wait_for("the first delivery", |r| r.unique().len() == 1)
        .await;
    let pseudonym = rx.unique()[0].user.clone();

    // The receiver goes down; two more messages queue up; revoke.
    rx.down().await;
    alice.send_text("helper", "two").await.expect("send");
    alice.send_text("helper", "three").await.expect("send");
    let status = alice.revoke_sharing("assistant").await.expect("revoke");
    assert!(!status.granted);
    assert_eq!(status.dropped, 2, "both queued messages dropped at once");
    // And sending is refused again.
    let (c, _) = code(
        alice
            .send_text("helper", "four")
            .await
            .expect_err("refused"),
    );
    assert_eq!(c, "consent_required");

    rx.up().await;
    rx.wait_for("the erasure request", |r| {
        r.unique()
            .iter()
            .any(|b| b.kind == WebhookKind::ErasureRequest)
    })
    .await;
    let got = rx.unique();
    let texts: Vec<_> = got
        .iter()
        .filter_map(|b| b.data.get("text").and_then(|t| t.as_str()))
        .collect();
    assert_eq!(texts, ["one"], "nothing queued before the revocation left");
    let erasure = got
        .iter()
        .find(|b| b.kind == WebhookKind::ErasureRequest)
        .expect("erasure");
    assert_eq!(
        erasure.user, pseudonym,
        "erase what is held under that pseudonym"
    );
    assert!(erasure.data.is_empty());

    let ledger = ledger_of(&alice, 2).await;
    assert!(alice.my_sharing().await.expect("sharing").grants.is_empty());
    let kinds: BTreeSet<_> = ledger.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, BTreeSet::from(["erasure_request", "message"]));
    assert_eq!(ledger.len(), 2);
}

#[tokio::test]
async fn deliveries_survive_a_receiver_outage_and_a_server_restart_without_duplicates() {
    let mut server = TestServer::start().await;
    let home = tempfile::TempDir::new().expect("dir");
    let mut rx = Receiver::start().await;
    let (alice, _) = setup(&server, home.path(), &rx).await;
    alice.grant_sharing("assistant").await.expect("grant");

    rx.down().await;
    let mut sent = BTreeSet::new();
    for i in 0..5 {
        let text = format!("queued {i}");
        alice.send_text("helper", &text).await.expect("send");
        sent.insert(text);
    }
    // The server stops with everything still queued, and comes back.
    server.stop().await;
    server.restart().await;
    let mut alice = server.client();
    alice
        .login(oriole_proto::LoginRequest {
            username: "alice".into(),
            password: common::PASSWORD.into(),
            ..Default::default()
        })
        .await
        .expect("login");
    for i in 5..8 {
        let text = format!("after restart {i}");
        alice.send_text("helper", &text).await.expect("send");
        sent.insert(text);
    }
    rx.up().await;
    rx.wait_for("every message", |r| r.unique().len() == sent.len())
        .await;
    let got: BTreeSet<String> = rx
        .unique()
        .iter()
        .filter_map(|b| {
            b.data
                .get("text")
                .and_then(|t| t.as_str())
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(got, sent);
    // Any repeat carries the same idempotency key: one per message.
    let ids: BTreeSet<_> = rx.got().into_iter().map(|b| b.id).collect();
    assert_eq!(ids.len(), sent.len());

    // The ledger matches what the receiver got, one entry per delivery.
    let ledger: BTreeSet<_> = ledger_of(&alice, ids.len())
        .await
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ledger, ids);
}

/// A message to a bot is queued for its recipient in the transaction that
/// stores it: every acknowledged send is shared after a kill -9.
#[tokio::test]
async fn acknowledged_messages_to_a_bot_are_delivered_after_a_kill_9() {
    let mut server = TestServer::start().await;
    let home = tempfile::TempDir::new().expect("dir");
    let mut rx = Receiver::start().await;
    let (alice, _) = setup(&server, home.path(), &rx).await;
    alice.grant_sharing("assistant").await.expect("grant");

    rx.down().await;
    let mut sent = BTreeSet::new();
    for i in 0..10 {
        let text = format!("acked {i}");
        alice.send_text("helper", &text).await.expect("send");
        sent.insert(text);
    }
    server.kill9().await;
    server.restart().await;
    rx.up().await;
    rx.wait_for("every acknowledged message", |r| {
        r.unique().len() == sent.len()
    })
    .await;
    let got: BTreeSet<String> = rx
        .unique()
        .iter()
        .filter_map(|b| {
            b.data
                .get("text")
                .and_then(|t| t.as_str())
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(got, sent);
}

#[tokio::test]
async fn bad_registrations_and_unknown_recipients_are_refused() {
    let server = TestServer::start().await;
    let home = tempfile::TempDir::new().expect("dir");
    let rx = Receiver::start().await;
    let (alice, _) = setup(&server, home.path(), &rx).await;
    let officer = Cli::new(home.path(), "officer", &server.url);
    for (args, code) in [
        (
            vec![
                "BAD NAME",
                "--url",
                "https://x.example/",
                "--categories",
                "message.text",
            ],
            "invalid_input",
        ),
        (
            vec![
                "plainhttp",
                "--url",
                "http://x.example/",
                "--categories",
                "message.text",
            ],
            "invalid_input",
        ),
        (
            vec![
                "ipshare",
                "--url",
                "https://x.example/",
                "--categories",
                "device.ip",
            ],
            "invalid_input",
        ),
        (
            vec![
                "nobot",
                "--url",
                "https://x.example/",
                "--categories",
                "message.text",
                "--bot",
                "ghost",
            ],
            "not_found",
        ),
        (
            vec![
                "assistant",
                "--url",
                "https://x.example/",
                "--categories",
                "message.text",
            ],
            "conflict",
        ),
    ] {
        let mut full = vec!["admin", "third-party", "add"];
        full.extend(args.iter().copied());
        full.extend(["--purpose", "test"]);
        let out = officer.run(&full).await;
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(code), "{args:?}: {err}");
    }
    let list = alice.third_parties().await.expect("list");
    assert_eq!(
        list.recipients.len(),
        1,
        "nothing registered by a refused call"
    );
    let (c, _) = code(alice.grant_sharing("nobody").await.expect_err("unknown"));
    assert_eq!(c, "not_found");

    // A bot cannot join a group (others' messages would reach it without
    // their consent), and a group member cannot become a bot.
    let group = oriole_proto::CreateGroup {
        name: "friends".into(),
        members: vec!["helper".into()],
        history_visible: false,
    };
    let (c, _) = code(alice.create_group(group).await.expect_err("bot in group"));
    assert_eq!(c, "forbidden");
    let _carol = user(&server, "carol").await;
    alice
        .create_group(oriole_proto::CreateGroup {
            name: "friends".into(),
            members: vec!["carol".into()],
            history_visible: false,
        })
        .await
        .expect("group");
    let out = officer
        .run(&[
            "admin",
            "third-party",
            "add",
            "other",
            "--url",
            "https://x.example/",
            "--categories",
            "message.text",
            "--purpose",
            "test",
            "--bot",
            "carol",
        ])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid_input"));
}

#[tokio::test]
async fn deleting_the_account_sends_every_recipient_an_erasure_request() {
    let server = TestServer::start().await;
    let home = tempfile::TempDir::new().expect("dir");
    let rx = Receiver::start().await;
    let (alice, _) = setup(&server, home.path(), &rx).await;
    alice.grant_sharing("assistant").await.expect("grant");
    alice
        .send_text("helper", "remember me")
        .await
        .expect("send");
    rx.wait_for("the message", |r| r.unique().len() == 1).await;
    let pseudonym = rx.unique()[0].user.clone();

    alice
        .delete_account(common::PASSWORD)
        .await
        .expect("delete account");
    rx.wait_for("the erasure request", |r| {
        r.unique()
            .iter()
            .any(|b| b.kind == WebhookKind::ErasureRequest)
    })
    .await;
    let erasure = rx
        .unique()
        .into_iter()
        .find(|b| b.kind == WebhookKind::ErasureRequest)
        .expect("erasure");
    assert_eq!(erasure.user, pseudonym);
    assert!(erasure.data.is_empty());
}

#[tokio::test]
async fn a_delivery_that_keeps_failing_goes_to_the_dead_letters() {
    let server = TestServer::start_with_env(&[
        ("ORIOLE_SHARING__RETRY_BASE_MS", "20"),
        ("ORIOLE_SHARING__MAX_ATTEMPTS", "3"),
    ])
    .await;
    let home = tempfile::TempDir::new().expect("dir");
    let mut rx = Receiver::start().await;
    let (alice, _) = setup(&server, home.path(), &rx).await;
    alice.grant_sharing("assistant").await.expect("grant");
    rx.down().await;
    alice.send_text("helper", "lost").await.expect("send");

    let officer = Cli::new(home.path(), "officer", &server.url);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let dead = loop {
        let out = officer
            .ok(&["--json", "admin", "third-party", "dead-letters"])
            .await;
        if !out.trim().is_empty() {
            break out;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never dead-lettered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let dead: serde_json::Value = serde_json::from_str(dead.trim()).expect("one json line");
    assert_eq!(dead["recipient"], "assistant");
    assert_eq!(dead["attempts"], 3);
    // Not delivered: nothing in the ledger, and no more attempts once the
    // receiver is back (a later message is delivered alone).
    assert!(alice.my_sharing().await.expect("ledger").ledger.is_empty());
    rx.up().await;
    alice.send_text("helper", "later").await.expect("send");
    rx.wait_for("the later message", |r| !r.unique().is_empty())
        .await;
    let texts: Vec<_> = rx
        .unique()
        .iter()
        .filter_map(|b| {
            b.data
                .get("text")
                .and_then(|t| t.as_str())
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(texts, ["later"]);
}

#[tokio::test]
async fn a_legal_disclosure_is_scoped_audited_and_shown_to_the_user_when_allowed() {
    let server = TestServer::start().await;
    let home = tempfile::TempDir::new().expect("dir");
    let rx = Receiver::start().await;
    // Sets up the privacy officer's CLI profile too.
    let (alice, _) = setup(&server, home.path(), &rx).await;
    alice
        .send_text("helper", "x")
        .await
        .expect_err("no consent: not sent");
    let officer = Cli::new(home.path(), "officer", &server.url);

    // Deferred: the export is produced, the user is not told yet.
    let out = officer
        .ok(&[
            "--json",
            "admin",
            "disclosure",
            "record",
            "--user",
            "alice",
            "--authority",
            "District Court",
            "--case",
            "CASE-1",
            "--scope",
            "profile",
            "--defer-until",
            "2099-01-01",
        ])
        .await;
    let record: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    let sections: Vec<_> = record["export"]["sections"]
        .as_array()
        .expect("sections")
        .iter()
        .map(|s| s["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(sections, ["profile"], "only the scope is exported");
    assert_eq!(record["export"]["username"], "alice");
    assert!(alice.access_log().await.expect("access log").is_empty());

    // Not deferred: the user sees it at once, as a legal request.
    officer
        .ok(&[
            "admin",
            "disclosure",
            "record",
            "--user",
            "alice",
            "--authority",
            "Police",
            "--case",
            "CASE-2",
            "--scope",
            "profile,devices",
        ])
        .await;
    let log = alice.access_log().await.expect("access log");
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].reason, "legal_request");
    assert_eq!(log[0].ticket.as_deref(), Some("CASE-2"));
    assert_eq!(log[0].role, "privacy_officer");

    // Bad input changes nothing.
    for bad in [
        vec!["--scope", "everything", "--case", "C"],
        vec![
            "--scope",
            "profile",
            "--case",
            "C",
            "--defer-until",
            "2020-01-01",
        ],
        vec!["--scope", "profile", "--case", "C", "--defer-until", "soon"],
    ] {
        let mut args = vec![
            "admin",
            "disclosure",
            "record",
            "--user",
            "alice",
            "--authority",
            "A",
        ];
        args.extend(bad.iter().copied());
        let out = officer.run(&args).await;
        assert_eq!(out.status.code(), Some(1), "{bad:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("invalid_input"));
    }
    // An admin may not record disclosures (only a privacy officer).
    let root = Cli::new(home.path(), "root", &server.url);
    let out = root
        .run(&[
            "admin",
            "disclosure",
            "record",
            "--user",
            "alice",
            "--authority",
            "A",
            "--case",
            "C",
            "--scope",
            "profile",
        ])
        .await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("forbidden"));
    assert_eq!(alice.access_log().await.expect("access log").len(), 1);
}

/// Record a disclosure about `user` with the officer's CLI, with extra
/// arguments (a deferral).
async fn disclose(officer: &Cli, user: &str, authority: &str, extra: &[&str]) {
    let mut args = vec![
        "admin",
        "disclosure",
        "record",
        "--user",
        user,
        "--authority",
        authority,
        "--case",
        "CASE-N",
        "--scope",
        "profile,devices",
    ];
    args.extend(extra.iter().copied());
    officer.ok(&args).await;
}

/// Wait for the next notice on a live connection, failing after PATIENCE.
async fn next_notice(conn: &mut oriole_client::Connection) -> oriole_proto::UserNotice {
    tokio::time::timeout(PATIENCE, conn.next_user_notice())
        .await
        .expect("a notice in time")
        .expect("the connection is alive")
}

#[tokio::test]
async fn a_disclosure_without_deferral_is_pushed_at_once_or_told_at_the_next_sync() {
    let server = TestServer::start().await;
    let home = tempfile::TempDir::new().expect("dir");
    let rx = Receiver::start().await;
    let (alice, _) = setup(&server, home.path(), &rx).await;
    let _bob = user(&server, "bob").await;
    let officer = Cli::new(home.path(), "officer", &server.url);

    // Alice is connected: the notice is pushed at once.
    let mut conn = alice.connect(0).await.expect("connect");
    disclose(&officer, "alice", "Police", &[]).await;
    let notice = next_notice(&mut conn).await;
    assert_eq!(notice.kind, oriole_proto::NoticeKind::DataDisclosed);
    assert_eq!(notice.authority, "Police");
    assert_eq!(notice.scope, ["devices", "profile"]);
    assert!(!notice.categories.is_empty());
    let raw = serde_json::to_string(&notice).expect("json");
    assert!(
        !raw.contains("officer") && !raw.contains("CASE-N"),
        "no operator, no case: {raw}"
    );
    // Delivered: a later connection does not get it again.
    drop(conn);
    let mut again = alice.connect(0).await.expect("connect");
    disclose(&officer, "alice", "Court", &[]).await;
    assert_eq!(next_notice(&mut again).await.authority, "Court");

    // Bob is offline: `oriole sync` tells him on stderr, once.
    disclose(&officer, "bob", "Tax office", &[]).await;
    let cli_bob = Cli::new(home.path(), "bob", &server.url);
    cli_bob.ok(&["login", "bob"]).await;
    let out = cli_bob.run(&["sync"]).await;
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("notice:") && stderr.contains("Tax office"),
        "{stderr}"
    );
    let out = cli_bob.run(&["sync"]).await;
    assert!(!String::from_utf8_lossy(&out.stderr).contains("Tax office"));
}

#[tokio::test]
async fn a_deferred_disclosure_is_told_when_the_deferral_ends_even_across_a_restart() {
    let mut server = TestServer::start_with_env(&[("ORIOLE_SHARING__NOTICE_CHECK_MS", "50")]).await;
    let home = tempfile::TempDir::new().expect("dir");
    let rx = Receiver::start().await;
    let (alice, _) = setup(&server, home.path(), &rx).await;
    let _carol = user(&server, "carol").await;
    let officer = Cli::new(home.path(), "officer", &server.url);

    // Connected alice: pushed by the notice task once the deferral ends.
    let mut conn = alice.connect(0).await.expect("connect");
    disclose(&officer, "alice", "District Court", &["--defer-for", "1s"]).await;
    let notice = next_notice(&mut conn).await;
    assert_eq!(notice.authority, "District Court");
    // By then the access log shows it too.
    assert_eq!(alice.access_log().await.expect("log").len(), 1);
    drop(conn);

    // Offline carol: the notice row survives a restart and reaches her at
    // her next connection, after the deferral.
    disclose(&officer, "carol", "Customs", &["--defer-for", "1s"]).await;
    server.stop().await;
    server.restart().await;
    let mut carol = server.client();
    carol
        .login(oriole_proto::LoginRequest {
            username: "carol".into(),
            password: common::PASSWORD.into(),
            ..Default::default()
        })
        .await
        .expect("login");
    // Wait (polling) until the deferral has ended: the access log shows it.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while carol.access_log().await.expect("log").is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "deferral never ended"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut conn = carol.connect(0).await.expect("connect");
    assert_eq!(next_notice(&mut conn).await.authority, "Customs");
}
