//! `oriole me …` (see, correct, export, delete my data) and
//! `oriole verify-receipt`.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use oriole_core::rights::verify_receipt;
use oriole_core::signing::PublicKey;
use oriole_proto::{ErrorCode, UpdateProfile};

use super::account::{forget_session, password};
use super::error::CliError;
use super::output::{clean, format_time};
use super::Ctx;

#[derive(Subcommand, Debug)]
pub enum MeCommand {
    /// Everything Oriole holds about me, section by section
    Show,
    /// Who on the staff looked at my data, when, in which role and why
    AccessLog,
    /// Correct my profile ("" removes a value)
    #[command(group(
        clap::ArgGroup::new("fields")
            .required(true)
            .multiple(true)
            .args(["display_name", "phone", "email"])
    ))]
    Update {
        #[arg(long, value_name = "N")]
        display_name: Option<String>,
        #[arg(long, value_name = "P")]
        phone: Option<String>,
        #[arg(long, value_name = "E")]
        email: Option<String>,
    },
    /// Download a portable archive (tar) of all my data
    Export {
        /// Where to write the archive
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        file: PathBuf,
    },
    /// Delete my account at once (asks for the password again)
    Delete {
        /// Write the signed deletion receipt here (else it is printed)
        #[arg(long, value_name = "FILE")]
        receipt: Option<PathBuf>,
    },
    /// What was shared with which third party (the sharing ledger)
    Sharing,
}

pub async fn run(ctx: &mut Ctx, command: MeCommand) -> Result<(), CliError> {
    match command {
        MeCommand::Show => show(ctx).await,
        MeCommand::AccessLog => super::staff::access_log(ctx).await,
        MeCommand::Update {
            display_name,
            phone,
            email,
        } => {
            let req = UpdateProfile {
                display_name,
                phone,
                email,
            };
            update(ctx, req).await
        }
        MeCommand::Export { file } => export(ctx, &file).await,
        MeCommand::Delete { receipt } => delete(ctx, receipt.as_deref()).await,
        MeCommand::Sharing => super::sharing::ledger(ctx).await,
    }
}

async fn show(ctx: &Ctx) -> Result<(), CliError> {
    let data = ctx.client()?.my_data().await?;
    if !ctx.out.is_json() {
        ctx.out.note(&format!(
            "Everything Oriole holds about {} (as of {})",
            clean(&data.username),
            format_time(data.generated_at)
        ))?;
    }
    for section in &data.sections {
        ctx.out.emit(section, || {
            let body = serde_json::to_string_pretty(&section.data).unwrap_or_default();
            let body: Vec<String> = body.lines().map(|l| format!("  {}", clean(l))).collect();
            format!(
                "\n== {} ({}) ==\n  inventory items: {}\n{}",
                clean(&section.title),
                clean(&section.id),
                section.items.join(", "),
                body.join("\n")
            )
        })?;
    }
    Ok(())
}

async fn update(ctx: &Ctx, req: UpdateProfile) -> Result<(), CliError> {
    let profile = ctx.client()?.update_profile(&req).await?;
    ctx.out.emit(&profile, || {
        let show = |v: &Option<String>| v.as_deref().map_or_else(|| "-".to_owned(), clean);
        format!(
            "updated {}: display name {}, phone {}, email {}",
            clean(&profile.username),
            show(&profile.display_name),
            show(&profile.phone),
            show(&profile.email)
        )
    })
}

async fn export(ctx: &Ctx, path: &Path) -> Result<(), CliError> {
    let client = ctx.client()?;
    // A partial file never takes the name of a finished one.
    let partial = path.with_extension("part");
    let mut file = tokio::fs::File::create(&partial)
        .await
        .map_err(|e| CliError::io(&format!("cannot create {}", partial.display()), &e))?;
    let bar = if ctx.out.is_json() {
        ProgressBar::hidden()
    } else {
        // indicatif draws only on a terminal; elsewhere this stays silent.
        ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} exporting: {bytes} ({bytes_per_sec})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        )
    };
    let result = client
        .export_to(&mut file, |bytes| bar.set_position(bytes))
        .await;
    bar.finish_and_clear();
    let bytes = match result {
        Ok(bytes) => bytes,
        Err(e) => {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(e.into());
        }
    };
    drop(file);
    tokio::fs::rename(&partial, path)
        .await
        .map_err(|e| CliError::io(&format!("cannot write {}", path.display()), &e))?;
    ctx.out.emit(
        &serde_json::json!({"file": path.display().to_string(), "bytes": bytes}),
        || format!("exported {bytes} bytes to {}", path.display()),
    )
}

async fn delete(ctx: &mut Ctx, receipt_path: Option<&Path>) -> Result<(), CliError> {
    let client = ctx.client()?;
    let password = password(false)?;
    let receipt = client.delete_account(&password).await?;
    forget_session(ctx)?;
    let text = serde_json::to_string_pretty(&receipt)
        .map_err(|e| CliError::new(ErrorCode::Internal.as_str(), e.to_string()))?;
    match receipt_path {
        Some(path) => {
            std::fs::write(path, format!("{text}\n"))
                .map_err(|e| CliError::io(&format!("cannot write {}", path.display()), &e))?;
            ctx.out.emit(
                &serde_json::json!({
                    "deleted": true,
                    "receipt_id": receipt.receipt.receipt_id,
                    "receipt": path.display().to_string(),
                }),
                || {
                    format!(
                        "account {} deleted; signed receipt {} written to {} \
                         (check it with `oriole verify-receipt {}`)",
                        clean(&receipt.receipt.username),
                        receipt.receipt.receipt_id,
                        path.display(),
                        path.display()
                    )
                },
            )
        }
        None => ctx.out.emit(&receipt, || text.clone()),
    }
}

/// `oriole verify-receipt FILE [--public-key FILE]`.
pub async fn verify(ctx: &Ctx, file: &Path, public_key: Option<&Path>) -> Result<(), CliError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| CliError::io(&format!("cannot read {}", file.display()), &e))?;
    let pem = match public_key {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| CliError::io(&format!("cannot read {}", path.display()), &e))?,
        // Public: no session needed, so none is sent.
        None => ctx.anonymous()?.public_keys().await?.receipt.pem,
    };
    let key = PublicKey::parse(&pem).map_err(|e| {
        CliError::new(
            ErrorCode::InvalidInput.as_str(),
            format!("not a receipt public key: {e}"),
        )
    })?;
    let receipt =
        verify_receipt(&text, &key).map_err(|e| CliError::new("invalid_receipt", e.to_string()))?;
    ctx.out.emit(
        &serde_json::json!({
            "valid": true,
            "receipt_id": receipt.receipt_id,
            "username": receipt.username,
            "completed_at": receipt.completed_at,
        }),
        || {
            format!(
                "valid: receipt {} for the deletion of {} at {}, signed by the server's receipt key",
                receipt.receipt_id,
                clean(&receipt.username),
                format_time(receipt.completed_at)
            )
        },
    )
}
