//! `oriole privacy policy|accept|consents|consent`: the privacy policy and
//! the user's consent to each purpose.

use oriole_proto::{ConsentState, PolicyDocument};
use serde::Serialize;
use similar::{ChangeTag, TextDiff};

use super::{label, CHANNEL};
use crate::cli::error::CliError;
use crate::cli::output::{clean, format_time};
use crate::cli::Ctx;

/// Policy text, one cleaned line at a time (a policy may not drive the
/// terminal either).
fn print_text(ctx: &Ctx, text: &str) -> Result<(), CliError> {
    for line in text.lines() {
        ctx.out.note(&clean(line))?;
    }
    Ok(())
}

fn heading(doc: &PolicyDocument) -> String {
    format!(
        "privacy policy version {}{} ({}, published {}; languages: {})",
        doc.version,
        if doc.current { "" } else { " (not current)" },
        clean(&doc.lang),
        format_time(doc.published_at),
        doc.languages
            .iter()
            .map(|l| clean(l))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

pub async fn policy(
    ctx: &Ctx,
    diff: bool,
    lang: Option<&str>,
    version: Option<u32>,
) -> Result<(), CliError> {
    if diff {
        return policy_diff(ctx, lang).await;
    }
    // Public: no session needed.
    let doc = ctx.anonymous()?.privacy_policy(version, lang).await?;
    if ctx.out.is_json() {
        return ctx.out.emit(&doc, String::new);
    }
    ctx.out.note(&heading(&doc))?;
    ctx.out.note("")?;
    print_text(ctx, &doc.text)
}

/// What `policy --diff --json` prints.
#[derive(Serialize)]
struct PolicyDiff {
    /// The version accepted (absent: none).
    from: Option<u32>,
    to: u32,
    lang: String,
    /// `accept` is needed before normal operations go on.
    required: bool,
    /// A unified line diff (`-` removed, `+` added, ` ` kept).
    diff: String,
}

async fn policy_diff(ctx: &Ctx, lang: Option<&str>) -> Result<(), CliError> {
    let client = ctx.client()?;
    let status = client.policy_status().await?;
    let current = client.privacy_policy(None, lang).await?;
    let old_text = match status.accepted {
        Some(v) if v != current.version => {
            client
                .privacy_policy(Some(v), Some(&current.lang))
                .await?
                .text
        }
        Some(_) => current.text.clone(),
        None => String::new(),
    };
    let mut unified = String::new();
    for change in TextDiff::from_lines(&old_text, &current.text).iter_all_changes() {
        let sign = match change.tag() {
            ChangeTag::Delete => '-',
            ChangeTag::Insert => '+',
            ChangeTag::Equal => ' ',
        };
        unified.push(sign);
        unified.push_str(change.value().trim_end_matches('\n'));
        unified.push('\n');
    }
    let result = PolicyDiff {
        from: status.accepted,
        to: current.version,
        lang: current.lang.clone(),
        required: status.required.is_some(),
        diff: unified,
    };
    if ctx.out.is_json() {
        return ctx.out.emit(&result, String::new);
    }
    match status.accepted {
        Some(v) if v == current.version => {
            return ctx.out.note(&format!(
                "you accepted the current version ({v}); nothing changed since"
            ))
        }
        Some(v) => ctx.out.note(&format!(
            "changes from version {v} (accepted) to version {} ({}):",
            current.version,
            clean(&current.lang)
        ))?,
        None => ctx.out.note(&format!(
            "you have accepted no version; version {} in full:",
            current.version
        ))?,
    }
    for line in result.diff.lines() {
        if !line.starts_with(' ') {
            ctx.out.note(&clean(line))?;
        }
    }
    if result.required {
        ctx.out.note(&format!(
            "accept it to go on: oriole privacy accept {}",
            current.version
        ))?;
    }
    Ok(())
}

pub async fn accept(ctx: &Ctx, version: u32) -> Result<(), CliError> {
    let status = ctx.client()?.accept_policy(version, CHANNEL).await?;
    ctx.out.emit(&status, || {
        format!("accepted privacy policy version {version}")
    })
}

fn state_line(state: &ConsentState) -> String {
    let status = match (state.necessary, state.granted) {
        (true, _) => "always (necessary)",
        (false, true) => "granted",
        (false, false) => "not granted",
    };
    let since = state
        .changed_at
        .map(|at| format!(" since {}", format_time(at)))
        .unwrap_or_default();
    format!(
        "{:<20} {:<19} {:<20} {}{}",
        label(&state.purpose),
        status,
        label(&state.legal_basis),
        clean(&state.description),
        since
    )
}

pub async fn consents(ctx: &Ctx) -> Result<(), CliError> {
    let consents = ctx.client()?.consents().await?;
    if ctx.out.is_json() {
        return ctx.out.emit(&consents, String::new);
    }
    ctx.out.note(&format!(
        "{:<20} {:<19} {:<20} {}",
        "PURPOSE", "CONSENT", "LEGAL BASIS", "WHAT FOR"
    ))?;
    for state in &consents.purposes {
        ctx.out.note(&state_line(state))?;
    }
    if !consents.history.is_empty() {
        ctx.out.note("")?;
        ctx.out.note("history:")?;
    }
    for record in &consents.history {
        ctx.out.note(&format!(
            "  {} {} {} (policy version {}, via {})",
            format_time(record.at),
            if record.granted {
                "granted"
            } else {
                "withdrew"
            },
            label(&record.purpose),
            record.policy_version,
            label(&record.channel),
        ))?;
    }
    Ok(())
}

pub async fn set(ctx: &Ctx, grant: bool, purpose: &str) -> Result<(), CliError> {
    let consents = ctx.client()?.set_consent(purpose, grant, CHANNEL).await?;
    let state = consents
        .purposes
        .iter()
        .find(|s| label(&s.purpose) == purpose.trim());
    match state {
        Some(state) => ctx.out.emit(state, || state_line(state)),
        None => ctx.out.emit(&consents, String::new),
    }
}
