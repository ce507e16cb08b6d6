//! Consent, the privacy policy gate and retention, through the core
//! services on a real SQLite store, with a clock the tests move.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use oriole_audit::Actor;
use oriole_core::domain::{DeviceId, Timestamp, UserId};
use oriole_core::privacy_store::PrivacyStore;
use oriole_core::retention::RetentionConfig;
use oriole_core::store::Store;
use oriole_core::{Caller, Clock, CoreConfig, Fanout, Oriole};
use oriole_crypto::PasswordCost;
use oriole_proto::{
    AcceptPolicy, AnalyticsEvent, ConsentChannel, CreateGroup, ErrorCode, InboxEvent, LoginRequest,
    PolicyNotice, PublishPolicy, RegisterRequest, RetentionRunRequest, SendMessage, SetConsent,
    UpdateGroup,
};
use oriole_store_sqlite::SqliteStore;

mod common;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
const START: i64 = 1_800_000_000_000;

/// A clock the test sets.
#[derive(Debug)]
struct ManualClock(AtomicI64);

impl ManualClock {
    fn advance_days(&self, days: i64) {
        self.0.fetch_add(days * DAY_MS, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

/// Remembers the policy notices announced; nobody is connected.
#[derive(Debug, Default)]
struct Announcements(Mutex<Vec<PolicyNotice>>);

impl Fanout for Announcements {
    fn deliver(&self, _user: UserId, _event: InboxEvent) {}
    fn disconnect_device(&self, _device: DeviceId) {}
    fn announce_policy(&self, notice: PolicyNotice) -> Vec<UserId> {
        self.0.lock().expect("lock").push(notice);
        Vec::new()
    }
}

struct World {
    oriole: Oriole<SqliteStore>,
    clock: Arc<ManualClock>,
    fanout: Arc<Announcements>,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let (store, dir) = common::fresh().await;
    let clock = Arc::new(ManualClock(AtomicI64::new(START)));
    let fanout = Arc::new(Announcements::default());
    let config = CoreConfig {
        password_cost: PasswordCost {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        },
        ..CoreConfig::default()
    };
    let oriole = Oriole::new(store, fanout.clone(), clock.clone(), config);
    World {
        oriole,
        clock,
        fanout,
        _dir: dir,
    }
}

const PASSWORD: &str = "correct horse battery";

impl World {
    async fn register(&self, name: &str, consents: &[&str]) -> Caller {
        let session = self
            .oriole
            .register(
                RegisterRequest {
                    username: name.into(),
                    password: PASSWORD.into(),
                    device_model: Some("Pixel 9".into()),
                    os_version: Some("Android 16".into()),
                    consents: consents.iter().map(|c| (*c).to_owned()).collect(),
                    ..Default::default()
                },
                Some("192.0.2.7".into()),
            )
            .await
            .expect("register");
        self.oriole
            .authenticate(&session.token)
            .await
            .expect("authenticate")
    }

    async fn login(&self, name: &str) -> Caller {
        let session = self
            .oriole
            .login(
                LoginRequest {
                    username: name.into(),
                    password: PASSWORD.into(),
                    device_model: Some("ThinkPad".into()),
                    os_version: Some("Debian 12".into()),
                },
                Some("192.0.2.8".into()),
            )
            .await
            .expect("login");
        self.oriole
            .authenticate(&session.token)
            .await
            .expect("authenticate")
    }

    async fn consent(&self, caller: &Caller, purpose: &str, granted: bool) {
        self.oriole
            .set_consent(
                caller,
                SetConsent {
                    purpose: purpose.into(),
                    granted,
                    channel: Some(ConsentChannel::Cli),
                },
            )
            .await
            .expect("set consent");
    }

    async fn publish(
        &self,
        version: u32,
        lang: &str,
        text: &str,
        material: bool,
    ) -> Result<(), ErrorCode> {
        self.oriole
            .publish_policy(
                Actor::System,
                PublishPolicy {
                    version,
                    lang: lang.into(),
                    text: text.into(),
                    material,
                },
            )
            .await
            .map(drop)
            .map_err(|e| e.code)
    }

    async fn retention(
        &self,
        config: &RetentionConfig,
        dry_run: bool,
    ) -> (u64, Vec<(String, u64)>) {
        let report = self
            .oriole
            .run_retention(
                Actor::System,
                config,
                RetentionRunRequest {
                    dry_run,
                    rule: None,
                },
            )
            .await
            .expect("retention run");
        (
            report.total,
            report
                .counts
                .into_iter()
                .map(|c| (c.rule, c.count))
                .collect(),
        )
    }
}

fn count_of(counts: &[(String, u64)], rule: &str) -> u64 {
    counts
        .iter()
        .find(|(r, _)| r == rule)
        .map_or(0, |(_, n)| *n)
}

#[tokio::test]
async fn device_details_are_stored_only_with_consent_and_erased_on_withdrawal() {
    let w = world().await;
    // Without consent the reported model and OS are dropped at once.
    let bob = w.register("bob", &[]).await;
    let devices = w.oriole.devices(&bob).await.expect("devices");
    assert_eq!(devices[0].device_model, None);
    assert_eq!(devices[0].os_version, None);
    assert_eq!(
        devices[0].ip.as_deref(),
        Some("192.0.2.7"),
        "security: kept"
    );

    // With consent at registration, and at later logins, they are kept.
    let alice = w.register("alice", &["device_diagnostics"]).await;
    let laptop = w.login("alice").await;
    let devices = w.oriole.devices(&laptop).await.expect("devices");
    assert_eq!(devices.len(), 2);
    assert!(devices
        .iter()
        .all(|d| d.device_model.is_some() && d.os_version.is_some()));

    // Withdrawal erases them on every device, and stops collection.
    w.consent(&alice, "device_diagnostics", false).await;
    let devices = w.oriole.devices(&alice).await.expect("devices");
    assert!(devices
        .iter()
        .all(|d| d.device_model.is_none() && d.os_version.is_none()));
    let phone = w.login("alice").await;
    let devices = w.oriole.devices(&phone).await.expect("devices");
    assert_eq!(devices.len(), 3);
    assert!(devices.iter().all(|d| d.device_model.is_none()));

    // The service goes on without it.
    w.oriole
        .send(
            &phone,
            SendMessage {
                to: Some("bob".into()),
                text: Some("still works".into()),
                ..Default::default()
            },
        )
        .await
        .expect("send without optional consent");

    // The whole history is kept, in order, with version and channel.
    let consents = w.oriole.consents(&alice).await.expect("consents");
    let history: Vec<(bool, ConsentChannel, u32)> = consents
        .history
        .iter()
        .map(|c| (c.granted, c.channel, c.policy_version))
        .collect();
    assert_eq!(
        history,
        [
            (true, ConsentChannel::Registration, 1),
            (false, ConsentChannel::Cli, 1)
        ]
    );
    let state = consents
        .purposes
        .iter()
        .find(|p| p.purpose == oriole_proto::Purpose::DeviceDiagnostics)
        .expect("declared");
    assert!(!state.granted && !state.necessary);
    let service = consents
        .purposes
        .iter()
        .find(|p| p.purpose == oriole_proto::Purpose::Service)
        .expect("declared");
    assert!(service.granted && service.necessary);
}

#[tokio::test]
async fn analytics_events_need_consent_and_go_with_its_withdrawal() {
    let w = world().await;
    let carol = w.register("carol", &[]).await;
    let event = || AnalyticsEvent {
        name: "app_open".into(),
    };
    let r = w
        .oriole
        .record_analytics(&carol, event())
        .await
        .expect("call");
    assert!(!r.recorded, "no consent: nothing stored, no error");
    assert_eq!(
        w.oriole.analytics_event_count(&carol).await.expect("count"),
        0
    );

    w.consent(&carol, "product_analytics", true).await;
    for _ in 0..3 {
        assert!(
            w.oriole
                .record_analytics(&carol, event())
                .await
                .expect("call")
                .recorded
        );
    }
    assert_eq!(
        w.oriole.analytics_event_count(&carol).await.expect("count"),
        3
    );

    w.consent(&carol, "product_analytics", false).await;
    assert_eq!(
        w.oriole.analytics_event_count(&carol).await.expect("count"),
        0
    );
    assert!(
        !w.oriole
            .record_analytics(&carol, event())
            .await
            .expect("call")
            .recorded
    );

    // Bad input changes nothing.
    let e = w
        .oriole
        .record_analytics(
            &carol,
            AnalyticsEvent {
                name: "carol@example.org".into(),
            },
        )
        .await
        .expect_err("not an event name");
    assert_eq!(e.code, ErrorCode::InvalidInput);
    for (purpose, needle) in [("marketing", "unknown purpose"), ("service", "necessary")] {
        let e = w
            .oriole
            .set_consent(
                &carol,
                SetConsent {
                    purpose: purpose.into(),
                    granted: true,
                    channel: None,
                },
            )
            .await
            .expect_err(purpose);
        assert_eq!(e.code, ErrorCode::InvalidInput);
        assert!(e.message.contains(needle), "{}", e.message);
    }
    let e = w
        .oriole
        .register(
            RegisterRequest {
                username: "dave".into(),
                password: PASSWORD.into(),
                consents: vec!["telepathy".into()],
                ..Default::default()
            },
            None,
        )
        .await
        .expect_err("unknown purpose at registration");
    assert_eq!(e.code, ErrorCode::InvalidInput);
    assert!(w
        .oriole
        .store()
        .user_by_name(&oriole_core::domain::Username::parse("dave").expect("name"))
        .await
        .expect("lookup")
        .is_none());
    let history = w.oriole.consents(&carol).await.expect("consents").history;
    assert_eq!(history.len(), 2, "bad input recorded nothing");
}

#[tokio::test]
async fn a_material_policy_change_gates_normal_operations_until_accepted() {
    let w = world().await;
    let erin = w.register("erin", &[]).await;
    let doc = w.oriole.policy_document(None, None).await.expect("policy");
    assert_eq!(
        (doc.version, doc.lang.as_str(), doc.current),
        (1, "en", true)
    );
    assert_eq!(doc.languages, ["en", "zh-CN"]);
    let zh = w
        .oriole
        .policy_document(None, Some("zh-CN"))
        .await
        .expect("zh");
    assert!(zh.text.contains("隐私政策"));
    let status = w.oriole.policy_status(&erin).await.expect("status");
    assert_eq!(
        (status.current, status.accepted, status.required),
        (1, Some(1), None)
    );

    // A non-material version only notifies.
    w.publish(2, "en", "# v2\nsmall fix\n", false)
        .await
        .expect("publish");
    assert_eq!(w.fanout.0.lock().expect("lock").len(), 1);
    let page = w
        .oriole
        .sync(&erin, 0, None)
        .await
        .expect("sync still works");
    assert_eq!(
        page.notice.map(|n| (n.version, n.material)),
        Some((2, false))
    );
    let page = w.oriole.sync(&erin, 0, None).await.expect("sync");
    assert!(page.notice.is_none(), "told once");

    // A material one gates normal operations, naming the version...
    w.publish(3, "en", "# v3\nnew purposes\n", true)
        .await
        .expect("publish");
    let send = w
        .oriole
        .send(
            &erin,
            SendMessage {
                to: Some("erin".into()),
                text: Some("hi".into()),
                ..Default::default()
            },
        )
        .await
        .expect_err("gated");
    assert_eq!(send.code, ErrorCode::ConsentRequired);
    assert!(send.message.contains("version 3"), "{}", send.message);
    assert_eq!(
        w.oriole.sync(&erin, 0, None).await.expect_err("gated").code,
        ErrorCode::ConsentRequired
    );
    assert_eq!(
        w.oriole
            .create_group(
                &erin,
                CreateGroup {
                    name: "g".into(),
                    ..Default::default()
                }
            )
            .await
            .expect_err("gated")
            .code,
        ErrorCode::ConsentRequired
    );
    // ...but never reading the policy, consent, the user's own data or logout.
    w.oriole
        .policy_document(Some(1), None)
        .await
        .expect("read old");
    w.oriole.consents(&erin).await.expect("consents");
    w.consent(&erin, "product_analytics", true).await;
    w.consent(&erin, "product_analytics", false).await;
    w.oriole.profile(&erin).await.expect("me");
    w.oriole.devices(&erin).await.expect("devices");
    let status = w.oriole.policy_status(&erin).await.expect("status");
    assert_eq!(
        (status.current, status.accepted, status.required),
        (3, Some(1), Some(3))
    );

    // Bad input: accepting an old, an unknown or no version.
    let accept = |version| AcceptPolicy {
        version,
        channel: Some(ConsentChannel::Cli),
    };
    let e = w
        .oriole
        .accept_policy(&erin, accept(2))
        .await
        .expect_err("old");
    assert_eq!(e.code, ErrorCode::InvalidInput);
    assert!(e.message.contains("accept version 3"), "{}", e.message);
    let e = w
        .oriole
        .accept_policy(&erin, accept(9))
        .await
        .expect_err("unknown");
    assert_eq!(e.code, ErrorCode::NotFound);
    let e = w
        .oriole
        .accept_policy(&erin, accept(0))
        .await
        .expect_err("zero");
    assert_eq!(e.code, ErrorCode::InvalidInput);
    assert_eq!(
        w.oriole
            .policy_status(&erin)
            .await
            .expect("status")
            .accepted,
        Some(1),
        "nothing changed"
    );

    w.oriole
        .accept_policy(&erin, accept(3))
        .await
        .expect("accept");
    w.oriole.sync(&erin, 0, None).await.expect("ungated");
    // A new account accepts the current version at registration.
    let fay = w.register("fay", &[]).await;
    w.oriole.sync(&fay, 0, None).await.expect("ungated");
    assert_eq!(
        w.oriole.policy_status(&fay).await.expect("status").accepted,
        Some(3)
    );
}

#[tokio::test]
async fn publishing_bad_policies_changes_nothing() {
    let w = world().await;
    // The version exists in that language; versions only go up; empty text;
    // a bad language; version 0.
    assert_eq!(
        w.publish(1, "en", "again", false).await,
        Err(ErrorCode::Conflict)
    );
    assert_eq!(
        w.publish(2, "en", "  \n ", true).await,
        Err(ErrorCode::InvalidInput)
    );
    assert_eq!(
        w.publish(2, "english!", "text", true).await,
        Err(ErrorCode::InvalidInput)
    );
    assert_eq!(
        w.publish(0, "en", "text", true).await,
        Err(ErrorCode::InvalidInput)
    );
    w.publish(3, "en", "# v3", false).await.expect("publish");
    assert_eq!(
        w.publish(2, "en", "# v2", false).await,
        Err(ErrorCode::InvalidInput)
    );
    let versions: Vec<u32> = w
        .oriole
        .store()
        .policy_versions()
        .await
        .expect("versions")
        .iter()
        .map(|v| v.version.get())
        .collect();
    assert_eq!(versions, [1, 3]);
    // A translation of an existing version is added, quietly.
    w.publish(3, "zh-CN", "# 第 3 版", false)
        .await
        .expect("publish");
    assert_eq!(
        w.fanout.0.lock().expect("lock").len(),
        1,
        "one notice, for v3"
    );
    let doc = w
        .oriole
        .policy_document(Some(3), Some("zh-CN"))
        .await
        .expect("zh");
    assert_eq!(doc.text, "# 第 3 版");
    assert_eq!(
        w.oriole
            .policy_document(Some(7), None)
            .await
            .expect_err("unknown")
            .code,
        ErrorCode::NotFound
    );
}

#[tokio::test]
async fn retention_clears_and_deletes_by_period_in_batches_and_is_audited() {
    let w = world().await;
    let alice = w
        .register("alice", &["device_diagnostics", "product_analytics"])
        .await;
    let bob = w.register("bob", &[]).await;
    let old_laptop = w.login("alice").await;
    w.oriole.logout(&old_laptop).await.expect("logout");
    w.oriole
        .record_analytics(
            &alice,
            AnalyticsEvent {
                name: "app_open".into(),
            },
        )
        .await
        .expect("event");
    let group = w
        .oriole
        .create_group(
            &alice,
            CreateGroup {
                name: "short-lived".into(),
                members: vec!["bob".into()],
                ..Default::default()
            },
        )
        .await
        .expect("group");
    let group_id = group.group_id.parse().expect("group id");
    // The group keeps its messages 3 days (owner's setting).
    w.oriole
        .update_group(
            &alice,
            &group.group_id,
            UpdateGroup {
                message_retention_days: Some(3),
                ..Default::default()
            },
        )
        .await
        .expect("override");
    for to in [Some("bob"), None] {
        w.oriole
            .send(
                &alice,
                SendMessage {
                    to: to.map(Into::into),
                    group: to.is_none().then(|| group.group_id.clone()),
                    text: Some("old news".into()),
                    ..Default::default()
                },
            )
            .await
            .expect("send");
    }
    let config = RetentionConfig {
        message_days: 7,
        batch_size: 1,
        ..RetentionConfig::default()
    };

    // At once: only the logged-out device's details go.
    let (dry, counts) = w.retention(&config, true).await;
    assert_eq!((dry, count_of(&counts, "device_details_revoked")), (1, 1));
    let (total, _) = w.retention(&config, false).await;
    assert_eq!(total, 1);
    assert_eq!(w.retention(&config, false).await.0, 0, "nothing left to do");

    // Four days on: the group's own period (3 days) is over.
    w.clock.advance_days(4);
    let (_, counts) = w.retention(&config, false).await;
    assert_eq!(count_of(&counts, "messages"), 1);
    let history = w
        .oriole
        .store()
        .group_history(group_id, None, None, 10)
        .await
        .expect("history");
    assert!(history.is_empty());
    assert_eq!(
        w.oriole
            .store()
            .inbox_after(bob.user_id, Default::default(), 10)
            .await
            .expect("inbox")
            .len(),
        1
    );

    // Thirty-one days on: the direct message (7 days) and the idle devices'
    // details (30 days) go; bob keeps using his device, so his stays.
    w.clock.advance_days(27);
    w.oriole
        .store()
        .touch_device(bob.device_id, w.clock.now())
        .await
        .expect("bob uses his device");
    let (dry_total, dry_counts) = w.retention(&config, true).await;
    let (total, counts) = w.retention(&config, false).await;
    assert_eq!(dry_total, total, "a dry run counts exactly what a run does");
    assert_eq!(
        count_of(&dry_counts, "messages"),
        count_of(&counts, "messages")
    );
    assert_eq!(count_of(&counts, "messages"), 1);
    assert_eq!(count_of(&counts, "device_details_idle"), 1, "alice's phone");
    let devices = w
        .oriole
        .store()
        .devices(alice.user_id)
        .await
        .expect("devices");
    assert!(devices
        .iter()
        .all(|d| d.ip.is_none() && d.device_model.is_none()));
    let devices = w
        .oriole
        .store()
        .devices(bob.user_id)
        .await
        .expect("devices");
    assert!(devices[0].ip.is_some(), "in use: kept");
    assert_eq!(
        w.oriole.analytics_event_count(&alice).await.expect("count"),
        1
    );

    // Ninety-one days: usage events; 181 days: the login history.
    w.clock.advance_days(60);
    let (_, counts) = w.retention(&config, false).await;
    assert_eq!(count_of(&counts, "analytics_events"), 1);
    w.clock.advance_days(90);
    let (_, counts) = w.retention(&config, false).await;
    assert_eq!(
        count_of(&counts, "login_history"),
        2,
        "alice's idle device rows, one per batch"
    );

    // Every real run is in the audit log, with its counts.
    let entries = w
        .oriole
        .store()
        .audit_entries(0, 1000)
        .await
        .expect("audit");
    let runs: Vec<_> = entries
        .iter()
        .filter(|e| e.details.get_str("operation") == Some("retention_run"))
        .collect();
    assert_eq!(runs.len(), 6);
    assert!(runs.iter().all(|e| e.actor == Actor::System));
}
