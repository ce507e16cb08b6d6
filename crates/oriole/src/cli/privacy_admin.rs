//! `oriole admin policy publish` (privacy officer) and
//! `oriole admin retention run` (admin), through the server's API with the
//! profile's operator session.

use std::path::PathBuf;

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use oriole_proto::{PublishPolicy, RetentionReport, RetentionRunRequest};

use super::error::CliError;
use super::Ctx;

#[derive(Subcommand, Debug)]
pub enum PolicyAdminCommand {
    /// Publish a privacy policy version's text in one language (role
    /// privacy_officer). The first text of a new version publishes it and
    /// notifies users; a text in another language adds a translation
    #[command(disable_version_flag = true)]
    Publish {
        /// The policy text (Markdown or plain text, UTF-8)
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The version number; a new version must be above the current one
        #[arg(long, value_name = "V")]
        version: u32,
        /// The language of FILE, e.g. `en` or `zh-CN`
        #[arg(long, value_name = "L", default_value = "en")]
        lang: String,
        /// A material change: users must accept it before going on
        #[arg(long)]
        material: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum RetentionCommand {
    /// Apply every retention rule now (role admin), as the background job
    /// does; with --dry-run only count what would be removed
    Run {
        #[arg(long)]
        dry_run: bool,
    },
}

pub async fn policy(ctx: &Ctx, command: PolicyAdminCommand) -> Result<(), CliError> {
    let PolicyAdminCommand::Publish {
        file,
        version,
        lang,
        material,
    } = command;
    let text = std::fs::read_to_string(&file)
        .map_err(|e| CliError::io(&format!("cannot read {}", file.display()), &e))?;
    let published = ctx
        .operator()?
        .publish_policy(&PublishPolicy {
            version,
            lang,
            text,
            material,
        })
        .await?;
    ctx.out.emit(&published, || {
        if published.new_version {
            format!(
                "published privacy policy version {} ({}{}); notice pushed to {} connection(s), \
                 the other users get it at their next connection or sync",
                published.version,
                published.lang,
                if published.material {
                    ", material: users must accept it"
                } else {
                    ""
                },
                published.notified_connections
            )
        } else {
            format!(
                "added the {} text of privacy policy version {}",
                published.lang, published.version
            )
        }
    })
}

pub async fn retention(ctx: &Ctx, command: RetentionCommand) -> Result<(), CliError> {
    let RetentionCommand::Run { dry_run } = command;
    let client = ctx.operator()?;
    let rules = client.retention_rules().await?.rules;
    let bar = if ctx.out.is_json() {
        ProgressBar::hidden()
    } else {
        // indicatif draws only on a terminal; elsewhere this stays silent.
        ProgressBar::new(rules.len() as u64).with_style(
            ProgressStyle::with_template("{msg:24} [{bar:30}] {pos}/{len} rules")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        )
    };
    let mut report = RetentionReport {
        dry_run,
        at: 0,
        counts: Vec::new(),
        total: 0,
    };
    for rule in &rules {
        bar.set_message(rule.rule.clone());
        let part = client
            .run_retention(&RetentionRunRequest {
                dry_run,
                rule: Some(rule.rule.clone()),
            })
            .await;
        let part = match part {
            Ok(part) => part,
            Err(e) => {
                bar.abandon();
                return Err(e.into());
            }
        };
        report.at = part.at;
        report.total += part.total;
        report.counts.extend(part.counts);
        bar.inc(1);
    }
    bar.finish_and_clear();
    if ctx.out.is_json() {
        return ctx.out.emit(&report, String::new);
    }
    let verb = if dry_run { "would remove" } else { "removed" };
    for count in &report.counts {
        ctx.out.note(&format!(
            "{:<24} {verb} {} ({} batch{})",
            count.rule,
            count.count,
            count.batches,
            if count.batches == 1 { "" } else { "es" }
        ))?;
    }
    ctx.out.note(&format!("total: {verb} {}", report.total))
}
