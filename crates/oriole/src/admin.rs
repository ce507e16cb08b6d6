//! Operator commands that work on the local data directory rather than
//! through the server's API: `oriole admin rotate-kek`.

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
    /// Re-wrap every user's data key under a new key-encryption key, then
    /// destroy the old one. Works on the local data directory while the
    /// server is stopped; an interrupted run is finished by running it again.
    RotateKek {
        /// Data directory [default: ./oriole-data, or $ORIOLE_DATA_DIR]
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
    },
}

pub async fn run(command: AdminCommand, json: bool) -> anyhow::Result<()> {
    match command {
        AdminCommand::RotateKek { data } => rotate(data, json).await,
    }
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
