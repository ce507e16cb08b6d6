//! `oriole admin dsar open|list|complete`: support-assisted data-subject
//! requests, with the operator session of `oriole admin login`.

use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};
use oriole_proto::{CompleteDsar, DsarInfo, OpenDsar, UpdateProfile};

use super::error::CliError;
use super::output::{clean, format_time};
use super::Ctx;

#[derive(ValueEnum, Debug, Clone, Copy)]
pub enum DsarKindArg {
    Export,
    Delete,
    Correct,
}

#[derive(Subcommand, Debug)]
pub enum DsarCommand {
    /// Open a request for a user, recording how their identity was verified
    Open {
        #[arg(long, value_name = "USER")]
        user: String,
        #[arg(long, value_enum)]
        kind: DsarKindArg,
        #[arg(long, value_name = "REF")]
        ticket: String,
        /// How the requester's identity was verified
        #[arg(long, value_name = "TEXT")]
        identity_check: String,
    },
    /// List requests (oldest first)
    List {
        /// Only open requests past their deadline
        #[arg(long)]
        overdue: bool,
    },
    /// Perform a request: delete, export (the user can download at once), or
    /// correct (with the new values)
    Complete {
        #[arg(value_name = "DSAR_ID")]
        dsar_id: String,
        #[arg(long, value_name = "N")]
        display_name: Option<String>,
        #[arg(long, value_name = "P")]
        phone: Option<String>,
        #[arg(long, value_name = "E")]
        email: Option<String>,
        /// For a deletion: write the signed receipt here (else it is printed)
        #[arg(long, value_name = "FILE")]
        receipt: Option<PathBuf>,
    },
}

fn line(r: &DsarInfo) -> String {
    let state = match r.completed_at {
        Some(at) => format!("completed {}", format_time(at)),
        None if r.overdue => format!("OVERDUE since {}", format_time(r.due_at)),
        None => format!("due {}", format_time(r.due_at)),
    };
    format!(
        "{} {} for {} (ticket {}): {state}",
        r.dsar_id,
        r.kind,
        r.username
            .as_deref()
            .map_or_else(|| r.subject.clone(), clean),
        clean(&r.ticket)
    )
}

pub async fn run(ctx: &Ctx, command: DsarCommand) -> Result<(), CliError> {
    let client = ctx.operator()?;
    match command {
        DsarCommand::Open {
            user,
            kind,
            ticket,
            identity_check,
        } => {
            let kind = match kind {
                DsarKindArg::Export => "export",
                DsarKindArg::Delete => "delete",
                DsarKindArg::Correct => "correct",
            };
            let info = client
                .open_dsar(&OpenDsar {
                    user,
                    kind: kind.to_owned(),
                    ticket,
                    identity_check,
                })
                .await?;
            ctx.out.emit(&info, || format!("opened {}", line(&info)))
        }
        DsarCommand::List { overdue } => {
            for r in client.dsars(overdue).await? {
                ctx.out.emit(&r, || line(&r))?;
            }
            Ok(())
        }
        DsarCommand::Complete {
            dsar_id,
            display_name,
            phone,
            email,
            receipt,
        } => {
            let values = UpdateProfile {
                display_name,
                phone,
                email,
            };
            let req = CompleteDsar {
                correction: (values != UpdateProfile::default()).then_some(values),
            };
            let done = client.complete_dsar(&dsar_id, &req).await?;
            if let (Some(path), Some(signed)) = (&receipt, &done.receipt) {
                let text = serde_json::to_string_pretty(signed)
                    .map_err(|e| CliError::new("internal", e.to_string()))?;
                std::fs::write(path, format!("{text}\n"))
                    .map_err(|e| CliError::io(&format!("cannot write {}", path.display()), &e))?;
            }
            ctx.out.emit(&done, || {
                let mut text = format!("{}: {}", line(&done.request), done.outcome);
                match (&receipt, &done.receipt) {
                    (Some(path), Some(_)) => {
                        text.push_str(&format!("; receipt written to {}", path.display()));
                    }
                    (None, Some(signed)) => {
                        text.push('\n');
                        text.push_str(&serde_json::to_string_pretty(signed).unwrap_or_default());
                    }
                    _ => {}
                }
                text
            })
        }
    }
}
