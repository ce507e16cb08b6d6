//! `oriole serve`: load the settings, prepare the data directory, open the
//! embedded SQLite store and run the server until SIGINT or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use oriole_server::{launch_with_metrics_listener, tls, Settings, SqliteSynchronous};
use std::sync::Arc;

use oriole_core::{ClearVault, FieldVault, KeyVault, KeyVaultConfig};
use oriole_store_sqlite::{
    load_kek, lock_keys_dir, KekSource, SqliteKeyStore, SqliteOptions, SqliteStore, Synchronous,
    DEFAULT_KEK_ENV,
};
use tokio::signal::unix::{signal, SignalKind};

mod at_rest;

/// `oriole serve [--data DIR] [--listen ADDR] [--config FILE]
/// [--tls-cert FILE --tls-key FILE | --self-signed] [--insecure-plaintext]`.
///
/// Flags override `ORIOLE_*` variables, which override the config file,
/// which overrides the defaults (see docs/configuration.md).
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Data directory: the database, and the key store under DIR/keys/
    /// [default: ./oriole-data]
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Address to listen on, HOST:PORT; port 0 picks a free port
    /// [default: 127.0.0.1:7070]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Configuration file (TOML); see oriole.example.toml
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// TLS certificate chain (PEM): serve HTTPS and WSS
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_key",
        conflicts_with = "self_signed"
    )]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve HTTPS and WSS with a self-signed certificate for localhost,
    /// generated once and kept as DIR/tls-cert.pem (give it to clients with
    /// --ca-file) and DIR/keys/tls-key.pem
    #[arg(long)]
    pub self_signed: bool,
    /// Allow plain HTTP on a non-loopback address (traffic, passwords and
    /// tokens travel unencrypted)
    #[arg(long)]
    pub insecure_plaintext: bool,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    init_logging();
    let mut settings = Settings::load(args.config.as_deref())?;
    if let Some(listen) = args.listen {
        settings.listen = listen;
    }
    if let Some(data) = args.data {
        settings.data_dir = data;
    }
    // A TLS flag replaces whatever TLS the file or the environment chose.
    if let (Some(cert), Some(key)) = (args.tls_cert, args.tls_key) {
        settings.tls_cert = Some(cert);
        settings.tls_key = Some(key);
        settings.self_signed = false;
    } else if args.self_signed {
        settings.tls_cert = None;
        settings.tls_key = None;
        settings.self_signed = true;
    }
    settings.validate()?;

    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(settings.listen.as_str())
        .await
        .with_context(|| format!("cannot resolve listen address {}", settings.listen))?
        .collect();
    if addrs.is_empty() {
        bail!("listen address {} resolves to nothing", settings.listen);
    }
    let public = addrs.iter().find(|a| !a.ip().is_loopback());
    if let Some(public) = public.filter(|_| !settings.tls_enabled()) {
        if !args.insecure_plaintext {
            bail!(
                "refusing to listen on non-loopback address {public} without TLS: \
                 use --tls-cert FILE --tls-key FILE or --self-signed, \
                 or --insecure-plaintext to serve plain HTTP anyway"
            );
        }
        eprintln!(
            "warning: serving plain HTTP on {public} (--insecure-plaintext): \
             passwords, tokens and messages cross the network unencrypted"
        );
    }

    prepare_data_dir(&settings.data_dir)?;
    let tls = tls::server_config(&settings).context("cannot set up TLS")?;
    // The key store: held exclusively while the server runs (so an offline
    // KEK rotation cannot race it), then the KEK, then the data keys.
    let keys_dir = settings.data_dir.join("keys");
    let _keys_lock = lock_keys_dir(&keys_dir).context("cannot lock the key store")?;
    let kek = load_kek(&keys_dir, &kek_source(&settings))
        .context("cannot load the key-encryption key")?;
    let key_store = SqliteKeyStore::open(&keys_dir)
        .await
        .context("cannot open the key store")?;
    let database = settings.data_dir.join("oriole.db");
    let plaintext = settings.unsafe_disable_encryption_at_rest;
    at_rest::check_mode(&settings.data_dir, &database, plaintext)?;
    let vault: Arc<dyn FieldVault> = if plaintext {
        tracing::warn!(
            "UNSAFE: unsafe_disable_encryption_at_rest is set: personal data is stored in \
             plaintext and accounts cannot be crypto-shredded; for benchmarks only"
        );
        Arc::new(ClearVault)
    } else {
        Arc::new(
            KeyVault::open(
                kek,
                key_store.clone(),
                KeyVaultConfig {
                    cache_capacity: settings.key_cache_capacity,
                },
            )
            .await
            .context("cannot open the key vault")?,
        )
    };
    let store = SqliteStore::open(
        &database,
        SqliteOptions {
            synchronous: match settings.sqlite.synchronous {
                SqliteSynchronous::Full => Synchronous::Full,
                SqliteSynchronous::Normal => Synchronous::Normal,
            },
            vault,
            ..SqliteOptions::default()
        },
    )
    .await
    .with_context(|| {
        format!(
            "cannot open the database in {}",
            settings.data_dir.display()
        )
    })?;

    // Signal handlers before the "listening" line: a script may stop the
    // server as soon as it has read it.
    let mut sigterm = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    let shutdown = async move {
        tokio::select! {
            _ = sigterm.recv() => {}
            _ = sigint.recv() => {}
        }
    };

    let listener = tokio::net::TcpListener::bind(addrs.as_slice())
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let local = listener.local_addr().context("reading the bound address")?;
    // Bound here, before the "listening" line, so that line's reader can
    // scrape at once (and learn a port picked with 0).
    let metrics = match settings.metrics_addr()? {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen for metrics on {addr}"))?,
        ),
        None => None,
    };
    {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mut stdout = std::io::stdout().lock();
        if let Some(metrics) = &metrics {
            let addr = metrics
                .local_addr()
                .context("reading the metrics address")?;
            writeln!(stdout, "metrics on http://{addr}/metrics").context("writing to stdout")?;
        }
        writeln!(stdout, "listening on {scheme}://{local}").context("writing to stdout")?;
        stdout.flush().context("writing to stdout")?;
    }

    let result =
        launch_with_metrics_listener(settings, store.clone(), listener, metrics, tls, shutdown)
            .await;
    // Every write has finished; close the pools (checkpoints the WAL).
    store.close().await;
    key_store.close().await;
    result?;
    Ok(())
}

/// Where the KEK comes from: a command (KMS hook), else a named variable,
/// else `ORIOLE_KEK` when set, else the file `DATA/keys/kek`.
pub fn kek_source(settings: &Settings) -> KekSource {
    if let Some(command) = &settings.kek_command {
        KekSource::Command(command.clone())
    } else if let Some(var) = &settings.kek_env {
        KekSource::Env(var.clone())
    } else if std::env::var_os(DEFAULT_KEK_ENV).is_some() {
        KekSource::Env(DEFAULT_KEK_ENV.to_owned())
    } else {
        KekSource::File
    }
}

/// Create the data directory (owner-only when new) and its key store
/// directory `keys/`, which is always owner-only.
fn prepare_data_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};

    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create data directory {}", dir.display()))?;
    let keys = dir.join("keys");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&keys)
        .with_context(|| format!("cannot create key store {}", keys.display()))?;
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot restrict key store {}", keys.display()))?;
    Ok(())
}

/// Logs to stderr; `RUST_LOG` filters (default `info`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never in a log file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
