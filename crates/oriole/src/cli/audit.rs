//! `oriole audit ...`: verify the audit log (live through the API as an
//! auditor, on the local data directory, or an export offline with no
//! server), export it, and build the audit report.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use clap::{Subcommand, ValueEnum};
use oriole_audit::{
    verify_with_keys, write_export, AuditEntry, AuditPublicKey, Checkpoint, Report, ReportOptions,
    VerifyError, VerifyReport,
};
use oriole_core::{KeyPurpose, Store};
use serde::de::DeserializeOwned;

use super::error::CliError;
use super::Ctx;

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Check the audit log's hash chain and signed checkpoints, naming the
    /// first bad entry: the live log (as an auditor), the local data
    /// directory with --data, or an export with --file and --public-key
    Verify {
        /// Verify the database in this data directory, without the server
        #[arg(long, value_name = "DIR", conflicts_with = "file")]
        data: Option<PathBuf>,
        /// Verify this export (from `oriole audit export`), offline
        #[arg(long, value_name = "FILE", requires = "public_key")]
        file: Option<PathBuf>,
        /// The audit public key (PEM, base64 or hex; `oriole public-keys`)
        #[arg(long, value_name = "FILE")]
        public_key: Option<PathBuf>,
    },
    /// Write the audit log with its checkpoints as JSON lines
    Export {
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: PathBuf,
    },
    /// The periodic audit report: activity per role and action, every
    /// personal-data access with its reason, anomalies
    Report {
        /// The period: e.g. 30d, 12h, 90m [default: 30d]
        #[arg(long, value_name = "DURATION", default_value = "30d")]
        since: String,
        #[arg(long, value_enum, default_value = "md")]
        format: ReportFormat,
    },
}

#[derive(ValueEnum, Debug, Clone, Copy)]
pub enum ReportFormat {
    Md,
    Json,
}

pub async fn run(ctx: &Ctx, command: AuditCommand) -> Result<(), CliError> {
    match command {
        AuditCommand::Verify {
            file: Some(file),
            public_key,
            ..
        } => verify_file(ctx, &file, public_key.as_deref()),
        AuditCommand::Verify {
            data: Some(data),
            public_key,
            ..
        } => verify_local(ctx, &data, public_key.as_deref()).await,
        AuditCommand::Verify { public_key, .. } => {
            let (entries, checkpoints) = fetch(ctx).await?;
            let keys = match public_key {
                Some(path) => vec![read_key(&path)?],
                None => vec![server_key(ctx).await?],
            };
            outcome(ctx, verify_with_keys(&entries, &checkpoints, &keys))
        }
        AuditCommand::Export { output } => export(ctx, &output).await,
        AuditCommand::Report { since, format } => report(ctx, &since, format).await,
    }
}

fn invalid(message: impl Into<String>) -> CliError {
    CliError::new("invalid_input", message)
}

fn read_key(path: &Path) -> Result<AuditPublicKey, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::io(&format!("cannot read {}", path.display()), &e))?;
    AuditPublicKey::parse(&text).map_err(|e| invalid(format!("{}: {e}", path.display())))
}

async fn server_key(ctx: &Ctx) -> Result<AuditPublicKey, CliError> {
    let keys = ctx.anonymous()?.public_keys().await?;
    AuditPublicKey::parse(&keys.audit.pem)
        .map_err(|e| CliError::new("protocol", format!("the server's audit key: {e}")))
}

fn decode<T: DeserializeOwned>(values: Vec<serde_json::Value>) -> Result<Vec<T>, CliError> {
    values
        .into_iter()
        .map(serde_json::from_value)
        .collect::<Result<_, _>>()
        .map_err(|e| CliError::new("protocol", format!("unexpected audit record: {e}")))
}

/// The whole live log and its checkpoints, through the API.
async fn fetch(ctx: &Ctx) -> Result<(Vec<AuditEntry>, Vec<Checkpoint>), CliError> {
    const PAGE: u32 = 10_000;
    let client = ctx.operator()?;
    // Checkpoints first: every one of them then seals entries fetched after.
    let checkpoints: Vec<Checkpoint> = decode(client.audit_checkpoints().await?)?;
    let mut entries: Vec<AuditEntry> = Vec::new();
    loop {
        let after = entries.last().map_or(0, |e| e.seq);
        let page: Vec<AuditEntry> = decode(client.audit_entries(after, PAGE).await?)?;
        if page.is_empty() {
            break;
        }
        entries.extend(page);
    }
    Ok((entries, checkpoints))
}

/// Print a successful verification, or fail naming the first bad entry.
fn outcome(ctx: &Ctx, result: Result<VerifyReport, VerifyError>) -> Result<(), CliError> {
    match result {
        Ok(report) => ctx.out.emit(&report, || {
            format!(
                "ok: {} entries verified (seq {} to {}), {} checkpoints, sealed through entry {}, \
                 {} unsealed; head {}",
                report.entries_verified,
                report.first_seq,
                report.last_seq,
                report.checkpoints_verified,
                report.sealed_through,
                report.unsealed_tail,
                report.head_hash
            )
        }),
        Err(e) => Err(CliError::new(e.code(), e.to_string())),
    }
}

fn verify_file(ctx: &Ctx, file: &Path, key: Option<&Path>) -> Result<(), CliError> {
    let key = read_key(key.ok_or_else(|| invalid("--file needs --public-key FILE"))?)?;
    let input = File::open(file)
        .map_err(|e| CliError::io(&format!("cannot open {}", file.display()), &e))?;
    match oriole_audit::verify_export(BufReader::new(input), &[key]) {
        Ok(report) => outcome(ctx, Ok(report)),
        Err(oriole_audit::ExportVerifyError::Chain(e)) => outcome(ctx, Err(e)),
        Err(oriole_audit::ExportVerifyError::Read(e)) => {
            Err(CliError::new("malformed_export", e.to_string()))
        }
    }
}

/// The log in a local data directory; the key from `--public-key`, else the
/// local key store (which needs the KEK, like `serve`).
async fn verify_local(ctx: &Ctx, data: &Path, key: Option<&Path>) -> Result<(), CliError> {
    use oriole_store_sqlite::{SqliteKeyStore, SqliteOptions, SqliteStore};

    let internal = |e: &dyn std::fmt::Display| CliError::new("internal", e.to_string());
    let db = data.join("oriole.db");
    if !db.exists() {
        return Err(invalid(format!("no Oriole database in {}", data.display())));
    }
    let key = match key {
        Some(path) => read_key(path)?,
        None => {
            let mut settings = oriole_server::Settings::load(None).map_err(|e| internal(&e))?;
            settings.data_dir = data.to_path_buf();
            let keys_dir = data.join("keys");
            let kek =
                oriole_store_sqlite::load_kek(&keys_dir, &crate::serve::kek_source(&settings))
                    .map_err(|e| internal(&e))?;
            let key_store = SqliteKeyStore::open(&keys_dir)
                .await
                .map_err(|e| internal(&e))?;
            let vault = oriole_core::KeyVault::open(kek, key_store.clone(), Default::default())
                .await
                .map_err(|e| internal(&e))?;
            let signer = oriole_core::FieldVault::signing_key(&vault, KeyPurpose::AUDIT)
                .await
                .map_err(|e| internal(&e))?;
            key_store.close().await;
            signer.public_key()
        }
    };
    // No vault: the audit log holds no sealed field.
    let store = SqliteStore::open(&db, SqliteOptions::default())
        .await
        .map_err(|e| internal(&e))?;
    let checkpoints = store.audit_checkpoints().await.map_err(|e| internal(&e))?;
    let mut entries: Vec<AuditEntry> = Vec::new();
    loop {
        let after = entries.last().map_or(0, |e| e.seq);
        let page = store
            .audit_entries(after, 100_000)
            .await
            .map_err(|e| internal(&e))?;
        if page.is_empty() {
            break;
        }
        entries.extend(page);
    }
    store.close().await;
    outcome(ctx, verify_with_keys(&entries, &checkpoints, &[key]))
}

async fn export(ctx: &Ctx, output: &Path) -> Result<(), CliError> {
    let (entries, checkpoints) = fetch(ctx).await?;
    let file = File::create(output)
        .map_err(|e| CliError::io(&format!("cannot create {}", output.display()), &e))?;
    let summary = write_export(file, now_ms(), &entries, &checkpoints)
        .map_err(|e| CliError::new("io", e.to_string()))?;
    ctx.out.emit(&summary, || {
        format!(
            "wrote {} entries and {} checkpoints to {}",
            entries.len(),
            checkpoints.len(),
            output.display()
        )
    })
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `30d`, `12h`, `90m`, `45s` in milliseconds.
pub(crate) fn parse_duration(raw: &str) -> Result<i64, CliError> {
    let raw = raw.trim();
    let bad = || invalid(format!("not a duration: {raw:?} (use e.g. 30d, 12h, 90m)"));
    let split = raw.len().checked_sub(1).ok_or_else(bad)?;
    let (n, unit) = raw.split_at(split);
    let n: i64 = n.parse().map_err(|_| bad())?;
    let ms = match unit {
        "d" => 86_400_000,
        "h" => 3_600_000,
        "m" => 60_000,
        "s" => 1_000,
        _ => return Err(bad()),
    };
    n.checked_mul(ms).filter(|v| *v >= 0).ok_or_else(bad)
}

async fn report(ctx: &Ctx, since: &str, format: ReportFormat) -> Result<(), CliError> {
    let period = parse_duration(since)?;
    let (entries, checkpoints) = fetch(ctx).await?;
    let key = server_key(ctx).await?;
    let now = now_ms();
    let report = Report::build(
        &entries,
        &checkpoints,
        now.saturating_sub(period),
        &ReportOptions::new(now, vec![key]),
    );
    let text = match format {
        ReportFormat::Md => report.to_markdown(),
        ReportFormat::Json => report
            .to_json()
            .map_err(|e| CliError::new("internal", e.to_string()))?,
    };
    println!("{text}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30d").ok(), Some(30 * 86_400_000));
        assert_eq!(parse_duration("90m").ok(), Some(90 * 60_000));
        for bad in ["", "d", "5", "5w", "-1d", "x1h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
