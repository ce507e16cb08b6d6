//! `oriole privacy …`: what the server does with personal data.

use clap::{Subcommand, ValueEnum};
use oriole_proto::{ConsentChannel, InventoryItem, ProtectionKind};
use serde::Serialize;

use super::error::CliError;
use super::output::clean;
use super::Ctx;

mod consent;

#[derive(Subcommand, Debug)]
pub enum PrivacyCommand {
    /// List every personal-data item the server stores: why, on what legal
    /// basis, for how long, who may see it and how it is protected
    Inventory,
    /// Show the current privacy policy (no login needed), or with --diff
    /// what changed since the version you accepted
    #[command(disable_version_flag = true)]
    Policy {
        /// Show a line diff against the version you accepted
        #[arg(long)]
        diff: bool,
        /// Language, e.g. `en` or `zh-CN` [default: en]
        #[arg(long, value_name = "L")]
        lang: Option<String>,
        /// Another version than the current one
        #[arg(long, value_name = "V", conflicts_with = "diff")]
        version: Option<u32>,
    },
    /// Accept the current privacy policy version
    #[command(disable_version_flag = true)]
    Accept {
        #[arg(value_name = "VERSION")]
        version: u32,
    },
    /// Your consent to each purpose, and the history of your changes
    Consents,
    /// Grant or withdraw consent to an optional purpose
    Consent {
        #[arg(value_enum)]
        action: ConsentAction,
        /// `device_diagnostics` or `product_analytics`
        #[arg(value_name = "PURPOSE")]
        purpose: String,
    },
    /// The third-party sharing list: who may receive what, why, and for
    /// how long
    ThirdParties,
    /// Grant or revoke your separate consent to share with a third party
    Share {
        #[arg(value_enum)]
        action: super::sharing::ShareAction,
        /// The recipient's name, from `oriole privacy third-parties`
        #[arg(value_name = "RECIPIENT")]
        recipient: String,
    },
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentAction {
    Grant,
    Withdraw,
}

pub async fn run(ctx: &Ctx, command: PrivacyCommand) -> Result<(), CliError> {
    match command {
        PrivacyCommand::Inventory => inventory(ctx).await,
        PrivacyCommand::Policy {
            diff,
            lang,
            version,
        } => consent::policy(ctx, diff, lang.as_deref(), version).await,
        PrivacyCommand::Accept { version } => consent::accept(ctx, version).await,
        PrivacyCommand::Consents => consent::consents(ctx).await,
        PrivacyCommand::Consent { action, purpose } => {
            consent::set(ctx, action == ConsentAction::Grant, &purpose).await
        }
        PrivacyCommand::ThirdParties => super::sharing::third_parties(ctx).await,
        PrivacyCommand::Share { action, recipient } => {
            super::sharing::share(ctx, action, &recipient).await
        }
    }
}

const HEADER: [&str; 7] = [
    "ITEM",
    "CATEGORY",
    "PURPOSES",
    "LEGAL BASIS",
    "NEEDED",
    "AT REST",
    "RETENTION",
];

async fn inventory(ctx: &Ctx) -> Result<(), CliError> {
    // Public: no session needed, so none is sent.
    let items = ctx.anonymous()?.privacy_inventory().await?;
    let rows: Vec<[String; 7]> = items.iter().map(row).collect();
    let mut widths = HEADER.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    ctx.out.note(&line(&HEADER.map(str::to_owned), &widths))?;
    for (item, row) in items.iter().zip(&rows) {
        ctx.out.emit(item, || line(row, &widths))?;
    }
    Ok(())
}

fn row(item: &InventoryItem) -> [String; 7] {
    let at_rest = match item.protection {
        ProtectionKind::EncryptedAtRest => "encrypted".to_owned(),
        ProtectionKind::Clear => "clear".to_owned(),
    };
    let retention = match item.retention.days {
        Some(days) => format!("{days} days"),
        None => clean(&item.retention.description),
    };
    [
        clean(&item.id),
        label(&item.category),
        item.purposes
            .iter()
            .map(label)
            .collect::<Vec<_>>()
            .join(","),
        label(&item.legal_basis),
        if item.necessary { "yes" } else { "optional" }.to_owned(),
        at_rest,
        retention,
    ]
}

/// Changes made from this command line are recorded with this channel.
const CHANNEL: ConsentChannel = ConsentChannel::Cli;

/// The wire name of an enum value (`legitimate_interest`).
fn label<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => clean(&s),
        _ => "?".to_owned(),
    }
}

/// Cells padded to their column's width; the last one unpadded.
fn line(cells: &[String; 7], widths: &[usize; 7]) -> String {
    let mut out = String::new();
    for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
        if i + 1 == cells.len() {
            out.push_str(cell);
        } else {
            out.push_str(&format!("{cell:<width$}  "));
        }
    }
    out
}
