//! Third-party sharing from the command line: `oriole privacy third-parties`,
//! `oriole privacy share grant|revoke RECIPIENT`, `oriole me sharing`, and
//! the privacy officer's `oriole admin third-party add|list`.

use clap::{Subcommand, ValueEnum};
use oriole_proto::{RecipientInfo, RecordDisclosure, RegisterRecipient};

use super::error::CliError;
use super::output::{clean, format_time};
use super::Ctx;

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareAction {
    Grant,
    Revoke,
}

/// `oriole admin third-party ...`
#[derive(Subcommand, Debug)]
pub enum ThirdPartyCommand {
    /// Register a recipient; prints its webhook signing secret once
    Add {
        #[arg(value_name = "NAME")]
        name: String,
        /// Webhook URL (https, or http to a loopback address)
        #[arg(long, value_name = "URL")]
        url: String,
        #[arg(long, value_name = "TEXT")]
        purpose: String,
        /// Inventory items it may receive, comma-separated: message.text,
        /// message.payload, message.metadata, account.username
        #[arg(long, value_name = "C1,C2")]
        categories: String,
        /// The bot account (username) the recipient answers for
        #[arg(long, value_name = "BOT_USER")]
        bot: Option<String>,
        /// How to reach the recipient [default: the webhook's host]
        #[arg(long, value_name = "TEXT")]
        contact: Option<String>,
        #[arg(
            long,
            value_name = "TEXT",
            default_value = "consent (PIPL Art. 23, GDPR Art. 6(1)(a))"
        )]
        legal_basis: String,
        /// How long the recipient keeps what it receives
        #[arg(
            long,
            value_name = "TEXT",
            default_value = "until the user revokes consent or deletes the account"
        )]
        retention: String,
    },
    /// The registry
    List,
    /// Webhooks that failed every attempt
    DeadLetters,
}

fn recipient_line(r: &RecipientInfo) -> String {
    let bot = r
        .bot
        .as_deref()
        .map(|b| format!(", bot @{}", clean(b)))
        .unwrap_or_default();
    format!(
        "{}: {} [{}] (legal basis: {}; kept: {}; contact: {}{bot})",
        clean(&r.name),
        clean(&r.purpose),
        r.categories.join(", "),
        clean(&r.legal_basis),
        clean(&r.retention),
        clean(&r.contact),
    )
}

/// `oriole privacy third-parties` (no login needed).
pub async fn third_parties(ctx: &Ctx) -> Result<(), CliError> {
    let list = ctx.anonymous()?.third_parties().await?;
    if list.recipients.is_empty() {
        ctx.out.note("no third parties are registered")?;
    }
    for r in &list.recipients {
        ctx.out.emit(r, || recipient_line(r))?;
    }
    Ok(())
}

/// `oriole privacy share grant|revoke RECIPIENT`.
pub async fn share(ctx: &Ctx, action: ShareAction, recipient: &str) -> Result<(), CliError> {
    let client = ctx.client()?;
    let status = match action {
        ShareAction::Grant => client.grant_sharing(recipient).await?,
        ShareAction::Revoke => client.revoke_sharing(recipient).await?,
    };
    ctx.out.emit(&status, || {
        if status.granted {
            format!("sharing with {} granted", clean(&status.recipient))
        } else {
            format!(
                "sharing with {} revoked; {} queued deliveries dropped; erasure requested",
                clean(&status.recipient),
                status.dropped
            )
        }
    })
}

/// `oriole me sharing`: one line per delivery, newest first.
pub async fn ledger(ctx: &Ctx) -> Result<(), CliError> {
    let mine = ctx.client()?.my_sharing().await?;
    for g in &mine.grants {
        ctx.out.note(&format!(
            "consent in force: {} (since {})",
            clean(&g.recipient),
            format_time(g.granted_at)
        ))?;
    }
    if mine.ledger.is_empty() {
        ctx.out.note("nothing was shared with third parties")?;
    }
    for e in &mine.ledger {
        ctx.out.emit(e, || {
            format!(
                "{} {}: {} [{}] (delivery {})",
                format_time(e.delivered_at),
                clean(&e.recipient),
                e.kind,
                e.categories.join(", "),
                e.id
            )
        })?;
    }
    Ok(())
}

/// `oriole admin third-party add|list` (operator session).
pub async fn admin(ctx: &Ctx, command: ThirdPartyCommand) -> Result<(), CliError> {
    let client = ctx.operator()?;
    match command {
        ThirdPartyCommand::Add {
            name,
            url,
            purpose,
            categories,
            bot,
            contact,
            legal_basis,
            retention,
        } => {
            let contact = match contact {
                Some(c) => c,
                None => url
                    .split("://")
                    .nth(1)
                    .and_then(|rest| rest.split(['/', ':', '?']).next())
                    .filter(|host| !host.is_empty())
                    .unwrap_or(&url)
                    .to_owned(),
            };
            let registered = client
                .register_recipient(&RegisterRecipient {
                    name,
                    contact,
                    purpose,
                    categories: categories
                        .split(',')
                        .map(|c| c.trim().to_owned())
                        .filter(|c| !c.is_empty())
                        .collect(),
                    legal_basis,
                    retention,
                    url,
                    bot,
                })
                .await?;
            if ctx.out.is_json() {
                return ctx.out.emit(&registered, String::new);
            }
            ctx.out.note(&format!(
                "registered {}",
                recipient_line(&registered.recipient)
            ))?;
            ctx.out.note(&format!("webhook URL: {}", registered.url))?;
            ctx.out.note(&format!(
                "signing secret (shown once; give it to the recipient): {}",
                registered.signing_secret
            ))
        }
        ThirdPartyCommand::DeadLetters => {
            let dead = client.dead_letters().await?;
            if dead.deliveries.is_empty() {
                ctx.out.note("no dead letters")?;
            }
            for d in &dead.deliveries {
                ctx.out.emit(d, || {
                    format!(
                        "{} to {} ({} attempts)",
                        d.id,
                        clean(&d.recipient),
                        d.attempts
                    )
                })?;
            }
            Ok(())
        }
        ThirdPartyCommand::List => {
            let list = client.admin_third_parties().await?;
            if list.recipients.is_empty() {
                ctx.out.note("no third parties are registered")?;
            }
            for r in &list.recipients {
                ctx.out.emit(r, || recipient_line(r))?;
            }
            Ok(())
        }
    }
}

/// `oriole admin disclosure ...`
#[derive(Subcommand, Debug)]
pub enum DisclosureCommand {
    /// Record a legal disclosure and print the scoped export to hand over;
    /// the user sees it in their access log at once, or on DATE
    Record {
        /// The user whose data is disclosed
        #[arg(long, value_name = "USER")]
        user: String,
        /// Who demanded it (a court, a police authority)
        #[arg(long, value_name = "TEXT")]
        authority: String,
        /// The authority's case or order reference
        #[arg(long = "case", value_name = "REF")]
        case_ref: String,
        /// Sections of the user's data, comma-separated: profile, devices,
        /// groups, messages, corrections, sharing, ...
        #[arg(long, value_name = "C1,C2")]
        scope: String,
        /// Tell the user only from this day on (YYYY-MM-DD, UTC), when the
        /// law requires secrecy until then
        #[arg(long, value_name = "DATE", conflicts_with = "defer_for")]
        defer_until: Option<String>,
        /// Tell the user only after this long from now (30d, 12h, 90m,
        /// 45s), when the law requires secrecy for a period
        #[arg(long, value_name = "DURATION")]
        defer_for: Option<String>,
    },
}

/// Milliseconds since the epoch of a `YYYY-MM-DD` day at 00:00 UTC.
fn parse_day(raw: &str) -> Result<i64, CliError> {
    let bad = || CliError::new("invalid_input", format!("`{raw}` is not a date YYYY-MM-DD"));
    let mut parts = raw.trim().splitn(3, '-');
    let (Some(y), Some(m), Some(d)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let (y, m, d): (i64, i64, i64) = (
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        d.parse().map_err(|_| bad())?,
    );
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&m) || d < 1 || d > month_days[(m - 1) as usize] {
        return Err(bad());
    }
    // Days from the civil date (H. Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Ok((era * 146_097 + doe - 719_468) * 86_400_000)
}

/// `oriole admin disclosure record ...` (operator session).
pub async fn disclosure(ctx: &Ctx, command: DisclosureCommand) -> Result<(), CliError> {
    let DisclosureCommand::Record {
        user,
        authority,
        case_ref,
        scope,
        defer_until,
        defer_for,
    } = command;
    let defer_until = match (defer_until, defer_for) {
        (Some(day), _) => Some(parse_day(&day)?),
        (None, Some(period)) => {
            Some(super::audit::now_ms().saturating_add(super::audit::parse_duration(&period)?))
        }
        (None, None) => None,
    };
    let record = ctx
        .operator()?
        .record_disclosure(&RecordDisclosure {
            user,
            authority,
            case_ref,
            scope: scope
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
            defer_until,
        })
        .await?;
    if ctx.out.is_json() {
        return ctx.out.emit(&record, String::new);
    }
    ctx.out.note(&format!(
        "recorded disclosure of {} ({}) to {} for case {}; the user is told {}",
        clean(&record.user),
        record.scope.join(", "),
        clean(&record.authority),
        clean(&record.case_ref),
        record
            .defer_until
            .map_or_else(|| "now".to_owned(), |t| format!("from {}", format_time(t)))
    ))?;
    let export = serde_json::to_string_pretty(&record.export)
        .map_err(|e| CliError::new("internal", e.to_string()))?;
    ctx.out.note(&export)
}

#[cfg(test)]
mod tests {
    use super::parse_day;

    #[test]
    fn days_parse_to_utc_midnight() {
        assert_eq!(parse_day("1970-01-01").ok(), Some(0));
        assert_eq!(parse_day("2000-03-01").ok(), Some(951_868_800_000));
        assert_eq!(parse_day("2024-02-29").ok(), Some(1_709_164_800_000));
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-1",
            "tomorrow",
            "2024-04-31",
        ] {
            assert!(parse_day(bad).is_err(), "{bad}");
        }
    }
}
