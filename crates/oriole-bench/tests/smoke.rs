//! The CI smoke: a few seconds of W1 at a low rate against a real Oriole
//! server (in-process, on 127.0.0.1:0, over a fresh SQLite file), checking
//! that every message arrived exactly once; then a small W2 drain, and the
//! bare relay. No latency assertions: CI machines are noisy.

use std::sync::Arc;
use std::time::Duration;

use oriole_bench::adapter::oriole::Oriole;
use oriole_bench::adapter::relay::Relay;
use oriole_bench::adapter::{ConnectMode, Target};
use oriole_bench::record::{Recorder, RunClock};
use oriole_bench::workload::{
    self, close_all, connect_many, register_many, run_step, CeilingProbe, Knobs, RelayProbe,
    StepSpec,
};
use oriole_server::{launch_with_listener, Settings};
use oriole_store_sqlite::{SqliteOptions, SqliteStore};
use tokio::sync::oneshot;

struct Server {
    url: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    _data: tempfile::TempDir,
}

impl Server {
    async fn start() -> Server {
        let data = tempfile::tempdir().expect("temp dir");
        let settings = Settings {
            password_memory_kib: 1024,
            password_iterations: 1,
            data_dir: data.path().to_owned(),
            ..Settings::default()
        };
        let store = SqliteStore::open(&data.path().join("oriole.db"), SqliteOptions::default())
            .await
            .expect("open store");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            launch_with_listener(settings, store, listener, shutdown)
                .await
                .expect("server ran");
        });
        Server {
            url,
            stop: Some(stop),
            task,
            _data: data,
        }
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(15), &mut self.task).await;
    }
}

fn spec(rate: f64, seconds: f64) -> StepSpec {
    StepSpec {
        rate,
        seconds,
        fanout: 1,
        message_bytes: 100,
        p99_limit_ms: f64::MAX,
        drain: Duration::from_secs(20),
        judge_last_member: false,
        server_pid: None,
        ceiling_probe: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn w1_and_w2_against_oriole_deliver_exactly_once() {
    let server = Server::start().await;
    let proto = Oriole::new(&server.url).expect("adapter");
    let pairs = 3;
    let senders = register_many(&proto, "smokes", pairs)
        .await
        .expect("senders");
    let receivers = register_many(&proto, "smoker", pairs)
        .await
        .expect("receivers");
    let recorder = Arc::new(Recorder::new(RunClock::new()));
    let receiving = connect_many(&proto, &receivers, ConnectMode::default(), &recorder, 0)
        .await
        .expect("receivers connect");
    let mut sending = connect_many(&proto, &senders, ConnectMode::default(), &recorder, 100)
        .await
        .expect("senders connect");
    let targets: Vec<Target> = receivers
        .iter()
        .map(|r| Target::Direct(r.name.clone()))
        .collect();

    // With the SQLite ceiling probed after it, as `all` does for Oriole.
    let probed = StepSpec {
        ceiling_probe: Some(CeilingProbe {
            each: Duration::from_millis(300),
            core: None,
            body_bytes: 100,
        }),
        ..spec(30.0, 3.0)
    };
    let step = run_step(&mut sending, &targets, &recorder, probed)
        .await
        .expect("step ran");
    assert!(
        step.ceiling_after.is_some_and(|rows| rows > 0.0),
        "the ceiling was probed after the step: {:?}",
        step.ceiling_after
    );
    let t = &step.tally;
    assert_eq!(t.sent, 90, "every slot was sent: {t:?}");
    assert_eq!(t.delivered, 90, "every message arrived: {t:?}");
    assert!(t.exactly_once(), "no loss, duplicates or refusals: {t:?}");
    assert_eq!(t.stale, 0);
    close_all(sending).await;
    close_all(receiving).await;

    let knobs = Knobs {
        prefix: "smoke2".into(),
        w2_pairs: 2,
        w2_messages: 40,
        w2_send_rate: 200.0,
        ..Knobs::default()
    };
    let w2 = workload::w2::run(&proto, &knobs).await.expect("w2 ran");
    assert_eq!(w2.messages, 40);
    assert!(
        w2.tally.exactly_once(),
        "drain exactly once: {:?}",
        w2.tally
    );
    server.stop().await;
}

#[tokio::test]
async fn bare_relay_delivers_exactly_once() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("ws://{}", listener.local_addr().expect("addr"));
    let relay = tokio::spawn(oriole_bench::ceiling::relay::serve(listener));
    let proto = Relay::new(&url);
    let accounts = register_many(&proto, "r", 4).await.expect("names");
    let recorder = Arc::new(Recorder::new(RunClock::new()));
    let receiving = connect_many(&proto, &accounts[..2], ConnectMode::default(), &recorder, 0)
        .await
        .expect("connect");
    let mut sending = connect_many(&proto, &accounts[2..], ConnectMode::default(), &recorder, 2)
        .await
        .expect("connect");
    let targets: Vec<Target> = accounts[..2]
        .iter()
        .map(|a| Target::Direct(a.name.clone()))
        .collect();
    let step = run_step(&mut sending, &targets, &recorder, spec(200.0, 1.0))
        .await
        .expect("step ran");
    assert_eq!(step.tally.delivered, 200, "{:?}", step.tally);
    assert!(step.tally.exactly_once());
    close_all(sending).await;
    close_all(receiving).await;

    // The probe `all` runs after each of Oriole's W1 rates: connected
    // once, then a step per rate on the same connections, its CPU read
    // from the relay's process (here this one).
    let probe = RelayProbe::connect(
        &url,
        Some(std::process::id()),
        2,
        "probe",
        Duration::from_secs(1),
    )
    .await
    .expect("probe connects");
    for rate in [100.0, 300.0] {
        let step = probe
            .measure(rate, &spec(1.0, 60.0))
            .await
            .expect("probe ran");
        assert_eq!(step.offered_rate, rate);
        assert_eq!(step.seconds, 1.0, "the probe's own length");
        assert_eq!(step.tally.sent, rate as u64, "{:?}", step.tally);
        assert_eq!(step.tally.delivered, rate as u64, "{:?}", step.tally);
        assert!(step.tally.exactly_once(), "{:?}", step.tally);
        assert!(step.server_cpu_us_per_delivery.is_some(), "{step:?}");
    }
    probe.close().await;
    relay.abort();
}
