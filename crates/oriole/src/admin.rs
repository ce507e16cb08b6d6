//! Operator commands. `rotate-kek` and `bootstrap` work on the local data
//! directory; the rest go through the server's API with the operator's
//! profile (`crate::cli::staff`).

use std::ops::ControlFlow;
use std::path::PathBuf;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use oriole_server::Settings;
use oriole_store_sqlite::keystore::RotationProgress;
use oriole_store_sqlite::{rotate_kek, KekSource};

/// `oriole admin ...`
#[derive(clap::Subcommand, Debug)]
pub enum AdminCommand {
    /// Create the first admin on the local data directory (whether or not
    /// the server runs); the password comes from $ORIOLE_PASSWORD, else one
    /// is generated and printed once
    Bootstrap {
        /// Data directory [default: ./oriole-data, or $ORIOLE_DATA_DIR]
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
        /// The admin's operator name
        #[arg(long, value_name = "NAME", default_value = "admin")]
        name: String,
    },
    /// Log in as an operator (password from $ORIOLE_PASSWORD or a prompt);
    /// the profile keeps the operator token for the other admin commands
    Login {
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// End the operator session kept in the profile
    Logout,
    /// Change one's own operator password (from $ORIOLE_PASSWORD or a
    /// prompt); one's other operator sessions end
    Password,
    /// Manage operator accounts (role admin)
    #[command(subcommand)]
    Operator(crate::cli::staff::OperatorCommand),
    /// Look at a user's account, with a reason and a ticket (roles support,
    /// privacy_officer)
    #[command(subcommand)]
    User(crate::cli::staff::UserCommand),
    /// The two-person rule for message content: request, and another
    /// privacy officer approves (role privacy_officer)
    #[command(subcommand)]
    Content(crate::cli::staff::ContentCommand),
    /// The third-party sharing list (role privacy_officer)
    #[command(subcommand)]
    ThirdParty(crate::cli::sharing::ThirdPartyCommand),
    /// Legal disclosures (role privacy_officer)
    #[command(subcommand)]
    Disclosure(crate::cli::sharing::DisclosureCommand),
    /// Privacy policy versions (role privacy_officer)
    #[command(subcommand)]
    Policy(crate::cli::privacy_admin::PolicyAdminCommand),
    /// Data-subject requests handled by support (roles support,
    /// privacy_officer)
    #[command(subcommand)]
    Dsar(crate::cli::dsar::DsarCommand),
    /// Retention of personal data (role admin)
    #[command(subcommand)]
    Retention(crate::cli::privacy_admin::RetentionCommand),
    /// Re-wrap every user's data key under a new key-encryption key, then
    /// destroy the old one. Works on the local data directory while the
    /// server is stopped; an interrupted run is finished by running it again.
    RotateKek {
        /// Data directory [default: ./oriole-data, or $ORIOLE_DATA_DIR]
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
    },
}

impl AdminCommand {
    /// Whether the command works on the local data directory (run by
    /// [`run`]) rather than through the API (run by `crate::cli`).
    pub fn is_local(&self) -> bool {
        matches!(
            self,
            AdminCommand::RotateKek { .. } | AdminCommand::Bootstrap { .. }
        )
    }
}

pub async fn run(command: AdminCommand, json: bool) -> anyhow::Result<()> {
    match command {
        AdminCommand::RotateKek { data } => rotate(data, json).await,
        AdminCommand::Bootstrap { data, name } => bootstrap(data, &name, json).await,
        _ => anyhow::bail!("this admin command goes through the server's API"),
    }
}

/// The first admin, written straight into the local database. SQLite's
/// WAL lets this run beside a server, which sees the admin at once. The
/// store is opened without the key vault: operators hold no sealed field,
/// and this writes nothing else but its audit entry.
async fn bootstrap(data: Option<PathBuf>, name: &str, json: bool) -> anyhow::Result<()> {
    use oriole_store_sqlite::{SqliteOptions, SqliteStore};

    let mut settings = Settings::load(None)?;
    if let Some(data) = data {
        settings.data_dir = data;
    }
    let db = settings.data_dir.join("oriole.db");
    if !db.exists() {
        anyhow::bail!(
            "no Oriole database in {}: start `oriole serve --data DIR` once first",
            settings.data_dir.display()
        );
    }
    let (password, generated) = match std::env::var("ORIOLE_PASSWORD") {
        Ok(p) => (p, false),
        Err(_) => (
            oriole_crypto::SessionToken::generate().expose().to_owned(),
            true,
        ),
    };
    let store = SqliteStore::open(&db, SqliteOptions::default())
        .await
        .context("cannot open the database")?;
    let state = oriole_server::app_state(settings, store.clone());
    let created = state.oriole.bootstrap_admin(name, &password).await;
    store.close().await;
    let created = created.map_err(|e| anyhow::Error::new(e.to_api()))?;
    if json {
        let mut value = serde_json::to_value(&created)?;
        if generated {
            value["password"] = serde_json::Value::from(password);
        }
        println!("{value}");
    } else {
        println!(
            "created operator {} with role admin; log in with `oriole admin login {}`",
            created.name, created.name
        );
        if generated {
            println!("password (shown once; keep it safe): {password}");
        }
    }
    Ok(())
}

async fn rotate(data: Option<PathBuf>, json: bool) -> anyhow::Result<()> {
    let mut settings = Settings::load(None)?;
    if let Some(data) = data {
        settings.data_dir = data;
    }
    let source = crate::serve::kek_source(&settings);
    if source != KekSource::File {
        anyhow::bail!(
            "the KEK comes from {source:?}, not DATA/keys/kek: rotate it where it is kept, \
             then re-wrap with that tool (only the file-based KEK is rotated here)"
        );
    }
    let keys_dir = settings.data_dir.join("keys");
    if !keys_dir.join("kek").exists() && !keys_dir.join("kek.next").exists() {
        anyhow::bail!("no key store in {}", keys_dir.display());
    }
    let bar = if json {
        ProgressBar::hidden()
    } else {
        // indicatif draws only on a terminal; elsewhere this stays silent.
        ProgressBar::new(0).with_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} data keys")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        )
    };
    bar.set_message("re-wrapping");
    let summary = rotate_kek(&keys_dir, &source, |step| {
        match step {
            RotationProgress::NewKekReady { resumed: true, .. } => {
                bar.println("finishing an interrupted rotation");
            }
            RotationProgress::Rewrapped { done, total } => {
                bar.set_length(*total);
                bar.set_position(*done);
            }
            RotationProgress::Switched => bar.set_message("switched"),
            _ => {}
        }
        ControlFlow::Continue(())
    })
    .await
    .context("KEK rotation failed (run it again to finish)")?;
    bar.finish_and_clear();
    if json {
        println!(
            "{}",
            serde_json::json!({
                "kek_id": summary.new_kek_id.to_string(),
                "rewrapped": summary.rewrapped,
                "resumed": summary.resumed,
            })
        );
    } else {
        println!(
            "rotated: {} data keys re-wrapped under KEK {}; the old KEK is destroyed",
            summary.rewrapped, summary.new_kek_id
        );
    }
    Ok(())
}
