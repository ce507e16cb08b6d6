//! `oriole-bench`: run the workloads against Oriole, the XMPP peers and the
//! reference ceilings, and write JSON, Markdown and a chart.
//!
//! `oriole-bench all` reproduces the whole comparison; `oriole-bench run`
//! drives one server; `relay-server` is the bare relay the ceiling uses.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand, ValueEnum};
use oriole_bench::adapter::oriole::Oriole;
use oriole_bench::adapter::relay::Relay;
use oriole_bench::adapter::xmpp::Xmpp;
use oriole_bench::ceiling;
use oriole_bench::ceiling::sqlite::InsertRate;
use oriole_bench::chart::draw_p99_chart;
use oriole_bench::process::{self, ServerProcess};
use oriole_bench::report::{Ceilings, Machine, Report, ServerReport};
use oriole_bench::workload::{self, Knobs, RelayProbe};
use oriole_bench::Protocol;

/// The server under test runs on this core, the load generator on the other.
const SERVER_CORE: usize = 0;
const GENERATOR_CORE: usize = 1;

#[derive(Parser)]
#[command(name = "oriole-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Everything: SQLite and relay ceilings, Oriole, then the XMPP peers.
    All(AllArgs),
    /// Run workloads against one server.
    Run(RunArgs),
    /// The bare WebSocket relay (started by the benchmark itself).
    RelayServer {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
    },
    /// Only the SQLite batched-insert ceiling.
    SqliteCeiling {
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// `unix` (SQLite's own, as in every run's ceilings) or
        /// `oriole-wal-coalesce` (the VFS Oriole's store uses with
        /// synchronous = FULL: a commit's WAL frames in a few writes).
        #[arg(long, default_value = "unix")]
        vfs: String,
    },
    /// WAL frames a commit of 1:1 messages writes on the store's schema,
    /// as migrated and without each secondary index on `messages`.
    IndexPages {
        /// Sender and recipient pairs (W1 uses 50).
        #[arg(long, default_value_t = 50)]
        pairs: usize,
        /// Messages per commit.
        #[arg(long, default_value_t = 320)]
        batch: usize,
        /// Messages written per variant (the second half is measured).
        #[arg(long, default_value_t = 100_000)]
        messages: usize,
        /// Bytes of a stored message body (W1's 100 bytes sealed: 141).
        #[arg(long, default_value_t = 141)]
        body_bytes: usize,
        /// Messages the trailing index runs let wait before a pass.
        #[arg(long, default_value_t = 1024)]
        sender_index_lag: usize,
    },
    /// CPU per message of the store's append path alone (group commit,
    /// sealing, `synchronous = FULL`), with 1:1 messages shaped like W1's.
    /// Run it with `taskset -c 0`: the runtime is one thread, as the
    /// server's is under the harness.
    StoreAppend {
        /// Sender and recipient pairs (W1 uses 50).
        #[arg(long, default_value_t = 50)]
        pairs: usize,
        /// Appends each sender has waiting at once.
        #[arg(long, default_value_t = 6)]
        in_flight: usize,
        /// Messages measured (after a warm-up of a fifth as many).
        #[arg(long, default_value_t = 200_000)]
        messages: usize,
        /// Bytes of each message's text.
        #[arg(long, default_value_t = 100)]
        text_bytes: usize,
    },
    /// Nanoseconds to seal and to open one personal field of each size, as
    /// this binary was built.
    Seal {
        #[arg(long, value_delimiter = ',', default_value = "40,100,200,1000,4000")]
        sizes: Vec<usize>,
        #[arg(long, default_value_t = 1.0)]
        seconds: f64,
    },
    /// Write results.md and p99.svg again from a results.json, into --out.
    Render {
        #[arg(long)]
        results: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Args, Clone)]
struct Common {
    /// Where results.json, results.md and p99.svg go.
    #[arg(long, default_value = "target/oriole-bench")]
    out: PathBuf,
    /// Do not pin the server and the generator to separate cores.
    #[arg(long)]
    no_pin: bool,
    /// Workloads to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "w0,w4,w1,w2,w3")]
    workloads: Vec<Workload>,
    #[command(flatten)]
    knobs: KnobArgs,
}

#[derive(Args)]
struct AllArgs {
    /// The `oriole` binary to benchmark.
    #[arg(long, default_value = "target/release/oriole")]
    server_bin: PathBuf,
    /// XMPP servers to compare against, each set up by bench/peers/NAME.sh
    /// (`--peers ''` for none).
    #[arg(long, value_delimiter = ',', default_value = "ejabberd,prosody")]
    peers: Vec<String>,
    /// An earlier `oriole` binary, measured in the same run as
    /// `oriole-before`: before/after ratios of a change.
    #[arg(long)]
    baseline_bin: Option<PathBuf>,
    /// Also measure `--server-bin` with encryption at rest off
    /// (`unsafe_disable_encryption_at_rest`), as `oriole-plaintext`.
    #[arg(long)]
    also_plaintext: bool,
    /// The folder holding the peers' scripts.
    #[arg(long, default_value = "bench/peers")]
    peers_dir: PathBuf,
    /// Skip the SQLite and relay ceilings.
    #[arg(long)]
    no_ceilings: bool,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct RunArgs {
    #[arg(long, value_enum, default_value = "oriole")]
    target: TargetKind,
    /// Start this `oriole` binary (or, with --target relay, the relay).
    #[arg(long, conflicts_with = "url")]
    server_bin: Option<PathBuf>,
    /// An already running server: `http://…` for Oriole, `ws://…` for XMPP
    /// and the relay.
    #[arg(long)]
    url: Option<String>,
    /// The running server's PID, for W0's memory reading.
    #[arg(long)]
    pid: Option<u32>,
    /// The name in reports (defaults to the target kind).
    #[arg(long)]
    name: Option<String>,
    /// XMPP domain.
    #[arg(long, default_value = "localhost")]
    domain: String,
    /// XMPP MUC service.
    #[arg(long, default_value = "conference.localhost")]
    muc: String,
    #[command(flatten)]
    common: Common,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TargetKind {
    Oriole,
    Xmpp,
    Relay,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Workload {
    W0,
    W1,
    W2,
    W3,
    W4,
}

/// Overrides of the workload defaults (see `Knobs`).
#[derive(Args, Clone)]
struct KnobArgs {
    /// Short steps and small counts: a quick look, not a result.
    #[arg(long)]
    quick: bool,
    #[arg(long)]
    message_bytes: Option<usize>,
    #[arg(long)]
    p99_limit_ms: Option<f64>,
    #[arg(long)]
    drain_secs: Option<f64>,
    #[arg(long)]
    w0_connections: Option<usize>,
    #[arg(long)]
    w1_pairs: Option<usize>,
    #[arg(long)]
    w1_step_secs: Option<f64>,
    #[arg(long)]
    w1_start_rate: Option<f64>,
    #[arg(long)]
    w1_max_rate: Option<f64>,
    #[arg(long)]
    w1_max_steps: Option<usize>,
    /// Bisections between the last rate that held and the first that did
    /// not (W1 and W3); each halves the uncertainty of the result. The
    /// step budgets (`--w1-max-steps`, `--w3-max-steps`) count them too.
    #[arg(long)]
    refine_steps: Option<usize>,
    #[arg(long)]
    w2_pairs: Option<usize>,
    #[arg(long)]
    w2_messages: Option<usize>,
    #[arg(long)]
    w2_send_rate: Option<f64>,
    #[arg(long, value_delimiter = ',')]
    w3_sizes: Option<Vec<usize>>,
    #[arg(long)]
    w3_step_secs: Option<f64>,
    #[arg(long)]
    w3_start_deliveries: Option<f64>,
    #[arg(long)]
    w3_max_steps: Option<usize>,
    #[arg(long)]
    w4_logins: Option<usize>,
}

impl KnobArgs {
    fn knobs(&self) -> Knobs {
        let mut k = Knobs::default();
        if self.quick {
            k.drain_secs = 2.0;
            k.w0_connections = 200;
            k.w1_pairs = 10;
            k.w1_step_secs = 2.0;
            k.w1_max_steps = 8;
            k.w2_messages = 1000;
            k.w3_sizes = vec![10, 100];
            k.w3_step_secs = 2.0;
            k.w3_max_steps = 5;
            k.w4_logins = 100;
        }
        macro_rules! set {
            ($($field:ident),*) => {$(
                if let Some(v) = self.$field.clone() { k.$field = v; }
            )*};
        }
        set!(
            message_bytes,
            p99_limit_ms,
            drain_secs,
            w0_connections,
            w1_pairs,
            w1_step_secs,
            w1_start_rate,
            w1_max_rate,
            w1_max_steps,
            refine_steps,
            w2_pairs,
            w2_messages,
            w2_send_rate,
            w3_sizes,
            w3_step_secs,
            w3_start_deliveries,
            w3_max_steps,
            w4_logins
        );
        k
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let pin = match &cli.command {
        Command::All(a) => !a.common.no_pin,
        Command::Run(r) => !r.common.no_pin,
        _ => false,
    };
    // Before the runtime exists, so every one of its threads inherits it.
    let pinned = pin && process::pin_current_thread(GENERATOR_CORE).is_ok();
    if pin && !pinned {
        eprintln!("oriole-bench: cannot pin to core {GENERATOR_CORE}; running unpinned");
    }
    let runtime = match &cli.command {
        // The relay is the single-threaded server under test; the store's
        // append path runs on one thread, as under the harness's server.
        Command::RelayServer { .. } | Command::StoreAppend { .. } => {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
        }
        _ => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(if pinned { 1 } else { 2 })
            .enable_all()
            .build()?,
    };
    runtime.block_on(async move {
        match cli.command {
            Command::All(args) => all(args, pinned).await,
            Command::Run(args) => run(args, pinned).await,
            Command::RelayServer { listen } => {
                let listener = tokio::net::TcpListener::bind(&listen).await?;
                println!("listening on ws://{}", listener.local_addr()?);
                ceiling::relay::serve(listener).await
            }
            Command::SqliteCeiling { seconds, vfs } => {
                let vfs = match vfs.as_str() {
                    "unix" => None,
                    name if name == oriole_sqlite_vfs::NAME => Some(oriole_sqlite_vfs::register()?),
                    other => anyhow::bail!(
                        "unknown VFS `{other}`: use `unix` or `{}`",
                        oriole_sqlite_vfs::NAME
                    ),
                };
                let dir = tempfile::tempdir()?;
                let rates = ceiling::sqlite::measure(
                    dir.path(),
                    &[1, 10, 100, 1000],
                    Duration::from_secs_f64(seconds),
                    100,
                    vfs,
                )
                .await?;
                println!("{}", serde_json::to_string_pretty(&rates)?);
                Ok(())
            }
            Command::IndexPages {
                pairs,
                batch,
                messages,
                body_bytes,
                sender_index_lag,
            } => {
                let dir = tempfile::tempdir()?;
                let shape = oriole_bench::pages::Shape {
                    pairs,
                    batch,
                    messages,
                    body_bytes,
                    sender_index_lag,
                };
                let pages = oriole_bench::pages::measure(dir.path(), &shape).await?;
                println!("{}", serde_json::to_string_pretty(&pages)?);
                Ok(())
            }
            Command::StoreAppend {
                pairs,
                in_flight,
                messages,
                text_bytes,
            } => {
                let dir = tempfile::tempdir()?;
                let shape = oriole_bench::store_append::Shape {
                    pairs,
                    in_flight,
                    messages,
                    text_bytes,
                };
                let cost = oriole_bench::store_append::measure(dir.path(), &shape).await?;
                println!("{}", serde_json::to_string_pretty(&cost)?);
                Ok(())
            }
            Command::Seal { sizes, seconds } => {
                let costs = oriole_bench::seal::measure(&sizes, Duration::from_secs_f64(seconds))?;
                println!("{}", serde_json::to_string_pretty(&costs)?);
                Ok(())
            }
            Command::Render { results, out } => {
                let report: Report = serde_json::from_slice(
                    &std::fs::read(&results)
                        .with_context(|| format!("reading {}", results.display()))?,
                )?;
                std::fs::create_dir_all(&out)?;
                write_outputs(&report, &out)
            }
        }
    })
}

fn new_report(knobs: &Knobs, pinned: bool) -> Report {
    Report {
        started_at_unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        machine: Machine::probe(pinned),
        knobs: knobs.clone(),
        notes: vec![
            format!(
                "Open loop: latency from each message's scheduled send time to its receipt; \
                 a step holds when p99 ≤ {} ms and nothing is lost, duplicated or refused. \
                 Late: delivered after the step's drain deadline, while the harness waited \
                 for stragglers (until 500 ms passed without one, 30 s at most); lost: not \
                 delivered by then. A late delivery fails the step too.",
                knobs.p99_limit_ms
            ),
            "Oriole runs with ORIOLE_PASSWORD_MEMORY_KIB=1024 ORIOLE_PASSWORD_ITERATIONS=1 \
             (cheap Argon2id, so set-up is fast; W4 measures logins at that cost), \
             sqlite.synchronous=full, TOKIO_WORKER_THREADS=1, RUST_LOG=warn."
                .to_owned(),
        ],
        ceilings: Ceilings::default(),
        servers: Vec::new(),
    }
}

/// How long each ceiling measurement inserts, per batch size.
const CEILING_SECS: f64 = 3.0;
/// Seconds of each relay probe after an Oriole W1 rate.
const RELAY_PROBE_SECS: f64 = 3.0;

/// The SQLite batched-insert ceiling at 1, 10, 100 and 1000 rows per
/// transaction, 3 s each, on `core` (the server's) when pinned.
async fn sqlite_ceiling(core: Option<usize>, knobs: &Knobs) -> anyhow::Result<Vec<InsertRate>> {
    ceiling::sqlite::measure_on(
        core,
        vec![1, 10, 100, 1000],
        Duration::from_secs_f64(CEILING_SECS),
        knobs.message_bytes,
    )
    .await
}

async fn all(args: AllArgs, pinned: bool) -> anyhow::Result<()> {
    let common = &args.common;
    let knobs = common.knobs.knobs();
    let core = pinned.then_some(SERVER_CORE);
    std::fs::create_dir_all(&common.out)
        .with_context(|| format!("creating {}", common.out.display()))?;
    let mut report = new_report(&knobs, pinned);
    let mut relay_probe = None;

    if !args.no_ceilings {
        eprintln!("oriole-bench: SQLite insert ceiling");
        report.ceilings.sqlite = sqlite_ceiling(core, &knobs).await?;
        eprintln!("oriole-bench: bare relay ceiling");
        let relay = ServerProcess::start(process::relay_launch(core)?).await?;
        let relay_knobs = workload::Knobs {
            server_pid: Some(relay.pid),
            ..knobs.clone()
        };
        report.ceilings.relay_w1 =
            Some(workload::w1::run(&Relay::new(&relay.url), &relay_knobs).await?);
        write_outputs(&report, &common.out)?;
        // Kept running, idle, for a probe after each of Oriole's W1 rates.
        let probe = RelayProbe::connect(
            &relay.url,
            Some(relay.pid),
            knobs.w1_pairs,
            &knobs.prefix,
            Duration::from_secs_f64(RELAY_PROBE_SECS),
        )
        .await?;
        relay_probe = Some((relay, probe));
    }

    let mut variants = Vec::new();
    if let Some(before) = &args.baseline_bin {
        variants.push(("oriole-before", before, None));
    }
    variants.push(("oriole", &args.server_bin, None));
    if args.also_plaintext {
        let off = ("ORIOLE_UNSAFE_DISABLE_ENCRYPTION_AT_REST", "true");
        variants.push(("oriole-plaintext", &args.server_bin, Some(off)));
    }
    for (name, bin, extra_env) in variants {
        eprintln!("oriole-bench: {name}");
        let log = common.out.join(format!("{name}-server.log"));
        let mut launch = process::oriole_launch(bin, core, Some(log))?;
        launch
            .env
            .extend(extra_env.map(|(k, v)| (k.to_owned(), v.to_owned())));
        let mut settings = oriole_settings(bin);
        settings.extend(extra_env.map(|(k, v)| format!("{k}={v}")));
        let server = ServerProcess::start(launch).await?;
        let mut sr = ServerReport {
            name: name.into(),
            url: server.url.clone(),
            pid: Some(server.pid),
            settings,
            ..ServerReport::default()
        };
        // Oriole's W1 steps each have the ceiling measured right after
        // them, on the same core, and then the relay at the same rate,
        // for ratios from the same minute.
        let knobs = Knobs {
            ceiling_probe_secs: (!args.no_ceilings).then_some(CEILING_SECS),
            ceiling_core: core,
            relay_probe: relay_probe.as_ref().map(|(_, probe)| probe.clone()),
            ..knobs.clone()
        };
        run_workloads(
            &Oriole::new(&server.url)?,
            &knobs,
            &common.workloads,
            &mut sr,
        )
        .await;
        server.stop().await;
        report.servers.push(sr);
        write_outputs(&report, &common.out)?;
    }

    if let Some((relay, probe)) = relay_probe {
        probe.close().await;
        relay.stop().await;
    }
    if !args.no_ceilings {
        // Again, right after Oriole: the report gives Oriole's ratio to
        // both, and says when the machine's speed moved between them.
        eprintln!("oriole-bench: SQLite insert ceiling, again");
        report.ceilings.sqlite_after = sqlite_ceiling(core, &knobs).await?;
        write_outputs(&report, &common.out)?;
    }

    for peer in args.peers.iter().filter(|p| !p.is_empty()) {
        eprintln!("oriole-bench: {peer}");
        match Peer::start(&args.peers_dir, peer, core).await {
            Ok(p) => {
                let mut sr = ServerReport {
                    name: peer.clone(),
                    url: p.url.clone(),
                    pid: Some(p.pid),
                    settings: p.settings.clone(),
                    ..ServerReport::default()
                };
                let proto = Xmpp::new(peer, &p.url, &p.domain, &p.muc);
                run_workloads(&proto, &knobs, &common.workloads, &mut sr).await;
                p.stop(&args.peers_dir).await;
                report.servers.push(sr);
            }
            Err(e) => report.servers.push(ServerReport {
                name: peer.clone(),
                errors: vec![format!("could not start: {e:#}")],
                ..ServerReport::default()
            }),
        }
        write_outputs(&report, &common.out)?;
    }
    eprintln!("oriole-bench: results in {}", common.out.display());
    Ok(())
}

async fn run(args: RunArgs, pinned: bool) -> anyhow::Result<()> {
    let common = &args.common;
    let knobs = common.knobs.knobs();
    let core = pinned.then_some(SERVER_CORE);
    std::fs::create_dir_all(&common.out)
        .with_context(|| format!("creating {}", common.out.display()))?;
    let mut report = new_report(&knobs, pinned);
    let name = args.name.clone().unwrap_or_else(|| {
        match args.target {
            TargetKind::Oriole => "oriole",
            TargetKind::Xmpp => "xmpp",
            TargetKind::Relay => "ws-relay",
        }
        .to_owned()
    });
    let started = match (&args.server_bin, &args.url, args.target) {
        (_, Some(_), _) => None,
        (Some(bin), None, TargetKind::Oriole) => Some(
            ServerProcess::start(process::oriole_launch(
                bin,
                core,
                Some(common.out.join("oriole-server.log")),
            )?)
            .await?,
        ),
        (None, None, TargetKind::Relay) => {
            Some(ServerProcess::start(process::relay_launch(core)?).await?)
        }
        _ => bail!("give --url, or --server-bin with --target oriole"),
    };
    let url = match (&started, &args.url) {
        (Some(s), _) => s.url.clone(),
        (None, Some(u)) => u.clone(),
        (None, None) => bail!("no server to benchmark"),
    };
    let mut sr = ServerReport {
        name: name.clone(),
        url: url.clone(),
        pid: started.as_ref().map(|s| s.pid).or(args.pid),
        ..ServerReport::default()
    };
    match args.target {
        TargetKind::Oriole => {
            if let Some(bin) = &args.server_bin {
                sr.settings = oriole_settings(bin);
            }
            run_workloads(&Oriole::new(&url)?, &knobs, &common.workloads, &mut sr).await;
        }
        TargetKind::Xmpp => {
            let proto = Xmpp::new(&name, &url, &args.domain, &args.muc);
            run_workloads(&proto, &knobs, &common.workloads, &mut sr).await;
        }
        TargetKind::Relay => {
            let knobs = workload::Knobs {
                server_pid: sr.pid,
                ..knobs.clone()
            };
            let w1 = workload::w1::run(&Relay::new(&url), &knobs).await?;
            report.ceilings.relay_w1 = Some(w1);
        }
    }
    if let Some(s) = started {
        s.stop().await;
    }
    if args.target != TargetKind::Relay {
        report.servers.push(sr);
    }
    write_outputs(&report, &common.out)?;
    eprintln!("oriole-bench: results in {}", common.out.display());
    Ok(())
}

fn oriole_settings(bin: &Path) -> Vec<String> {
    let mut s: Vec<String> = process::oriole_env()
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    s.push(format!("binary {}", bin.display()));
    s
}

/// Run the chosen workloads in a fixed order (W0 first, on a fresh server;
/// W4 logs W0's accounts in again), recording failures instead of stopping.
async fn run_workloads<P: Protocol>(
    proto: &P,
    knobs: &Knobs,
    chosen: &[Workload],
    sr: &mut ServerReport,
) {
    let wants = |w: Workload| chosen.contains(&w);
    let knobs = &Knobs {
        server_pid: sr.pid,
        ..knobs.clone()
    };
    let mut accounts = Vec::new();
    if wants(Workload::W0) {
        match workload::w0::run(proto, knobs, sr.pid).await {
            Ok((r, a)) => {
                sr.w0 = Some(r);
                accounts = a;
            }
            Err(e) => sr.errors.push(format!("w0: {e:#}")),
        }
    }
    if wants(Workload::W4) {
        if accounts.len() < knobs.w4_logins {
            let base = format!("{}w4u", knobs.prefix);
            match workload::register_many(proto, &base, knobs.w4_logins).await {
                Ok(a) => accounts = a,
                Err(e) => sr.errors.push(format!("w4: {e:#}")),
            }
        }
        if !accounts.is_empty() {
            match workload::w4::run(proto, knobs, &accounts).await {
                Ok(r) => sr.w4 = Some(r),
                Err(e) => sr.errors.push(format!("w4: {e:#}")),
            }
        }
    }
    if wants(Workload::W1) {
        match workload::w1::run(proto, knobs).await {
            Ok(r) => sr.w1 = Some(r),
            Err(e) => sr.errors.push(format!("w1: {e:#}")),
        }
    }
    if wants(Workload::W2) {
        match workload::w2::run(proto, knobs).await {
            Ok(r) => sr.w2 = Some(r),
            Err(e) => sr.errors.push(format!("w2: {e:#}")),
        }
    }
    if wants(Workload::W3) && proto.supports_groups() {
        match workload::w3::run(proto, knobs).await {
            Ok(r) => sr.w3 = Some(r),
            Err(e) => sr.errors.push(format!("w3: {e:#}")),
        }
    }
    for e in &sr.errors {
        eprintln!("oriole-bench: {}: {e}", sr.name);
    }
}

fn write_outputs(report: &Report, out: &Path) -> anyhow::Result<()> {
    std::fs::write(out.join("results.json"), serde_json::to_vec_pretty(report)?)?;
    std::fs::write(out.join("results.md"), report.to_markdown())?;
    if let Err(e) = draw_p99_chart(report, &out.join("p99.svg")) {
        eprintln!("oriole-bench: no chart: {e:#}");
    }
    Ok(())
}

/// An XMPP server started by `bench/peers/NAME.sh start`, which prints
/// `key=value` lines: url, pid, domain, muc, and any number of setting.
struct Peer {
    name: String,
    url: String,
    pid: u32,
    domain: String,
    muc: String,
    settings: Vec<String>,
}

impl Peer {
    async fn start(dir: &Path, name: &str, core: Option<usize>) -> anyhow::Result<Peer> {
        let script = dir.join(format!("{name}.sh"));
        let output = tokio::process::Command::new("bash")
            .arg(&script)
            .arg("start")
            .env("BENCH_CORE", core.map_or(String::new(), |c| c.to_string()))
            .stderr(std::process::Stdio::inherit())
            .output()
            .await
            .with_context(|| format!("running {}", script.display()))?;
        if !output.status.success() {
            bail!("{} start failed ({})", script.display(), output.status);
        }
        let text = String::from_utf8_lossy(&output.stdout);
        let mut peer = Peer {
            name: name.to_owned(),
            url: String::new(),
            pid: 0,
            domain: "localhost".into(),
            muc: "conference.localhost".into(),
            settings: Vec::new(),
        };
        for line in text.lines() {
            match line.split_once('=') {
                Some(("url", v)) => peer.url = v.trim().to_owned(),
                Some(("pid", v)) => peer.pid = v.trim().parse().context("pid from the script")?,
                Some(("domain", v)) => peer.domain = v.trim().to_owned(),
                Some(("muc", v)) => peer.muc = v.trim().to_owned(),
                Some(("setting", v)) => peer.settings.push(v.trim().to_owned()),
                _ => {}
            }
        }
        if peer.url.is_empty() || peer.pid == 0 {
            bail!("{} start printed no url= or pid=", script.display());
        }
        Ok(peer)
    }

    async fn stop(self, dir: &Path) {
        let script = dir.join(format!("{}.sh", self.name));
        let _ = tokio::process::Command::new("bash")
            .arg(&script)
            .arg("stop")
            .status()
            .await;
    }
}
