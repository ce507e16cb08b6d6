//! `send`, `sync`, `listen`, `read`, `recall`.

use std::io::IsTerminal;
use std::time::Duration;

use clap::Args;
use oriole_client::{new_idempotency_key, ClientError};
use oriole_proto::{close_code, ReceiptKind, SendMessage};

use super::account::forget_session;
use super::error::CliError;
use super::output::{clean, event_line, format_time};
use super::{usage_error, Ctx};

#[derive(Args, Debug)]
pub struct SendArgs {
    /// Recipient username, or the text when --group is given
    #[arg(value_name = "USER")]
    pub first: String,
    /// Message text
    #[arg(value_name = "TEXT")]
    pub text: Option<String>,
    /// Send to this group instead of a user
    #[arg(long, value_name = "GROUP_ID")]
    pub group: Option<String>,
    /// App-defined JSON delivered with the message
    #[arg(long, value_name = "JSON", value_parser = parse_json)]
    pub payload: Option<serde_json::Value>,
}

fn parse_json(text: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))
}

impl SendArgs {
    /// `USER TEXT` or `--group GROUP_ID TEXT`; anything else is a usage error.
    fn into_message(self) -> SendMessage {
        let (to, group, text) = match (self.group, self.text) {
            (Some(group), None) => (None, Some(group), self.first),
            (None, Some(text)) => (Some(self.first), None, text),
            (Some(_), Some(_)) => usage_error("send", "with --group, give only the TEXT (no USER)"),
            (None, None) => usage_error("send", "missing TEXT (or --group GROUP_ID)"),
        };
        SendMessage {
            to,
            group,
            text: Some(text),
            payload: self.payload,
            // One key per invocation: the SDK's retries reuse it.
            idempotency_key: Some(new_idempotency_key()),
        }
    }
}

pub async fn send(ctx: &Ctx, args: SendArgs) -> Result<(), CliError> {
    let message = args.into_message();
    let ack = ctx.client()?.send(message).await?;
    ctx.out.emit(&ack, || clean(&ack.message_id))
}

/// Everything after the profile's cursor, page by page; the cursor is saved
/// after each page is printed, so an interrupted sync repeats nothing it
/// showed and skips nothing it did not.
pub async fn sync(ctx: &mut Ctx) -> Result<(), CliError> {
    let client = ctx.client()?;
    let mut shown = 0usize;
    loop {
        let cursor = ctx.profile.cursor;
        let page = client.sync(cursor, None).await?;
        if let Some(notice) = &page.notice {
            policy_notice(notice);
        }
        for notice in &page.notices {
            user_notice(notice);
        }
        for event in &page.events {
            ctx.out.emit(event, || event_line(event))?;
        }
        shown += page.events.len();
        let next = page
            .events
            .iter()
            .map(|e| e.seq)
            .max()
            .unwrap_or(cursor)
            .max(page.next)
            .max(cursor);
        if next != cursor {
            ctx.profile.cursor = next;
            ctx.save()?;
        }
        if !page.more {
            break;
        }
        if next == cursor {
            return Err(ClientError::Protocol(format!(
                "the server says more events wait after {cursor} but sent none"
            ))
            .into());
        }
    }
    if shown == 0 {
        ctx.out.note("no new messages")?;
    }
    Ok(())
}

/// A privacy policy notice goes to stderr: stdout carries messages only.
fn policy_notice(notice: &oriole_proto::PolicyNotice) {
    eprintln!(
        "notice: {} (read it: oriole privacy policy --diff{})",
        clean(&notice.message),
        if notice.material {
            format!("; accept it: oriole privacy accept {}", notice.version)
        } else {
            String::new()
        }
    );
}

/// A notice to the user (a legal disclosure) goes to stderr too.
fn user_notice(notice: &oriole_proto::UserNotice) {
    eprintln!(
        "notice: {} at {} (see oriole me access-log)",
        clean(&notice.message),
        format_time(notice.at)
    );
}

async fn next_user_notice(
    notices: &mut Option<tokio::sync::mpsc::UnboundedReceiver<oriole_proto::UserNotice>>,
) -> Option<oriole_proto::UserNotice> {
    match notices {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn next_notice(
    notices: &mut Option<tokio::sync::mpsc::UnboundedReceiver<oriole_proto::PolicyNotice>>,
) -> Option<oriole_proto::PolicyNotice> {
    match notices {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// How often `listen` writes the cursor back while events stream in.
const CURSOR_SAVE_INTERVAL: Duration = Duration::from_secs(1);

/// Live events from the profile's cursor until Ctrl-C (or SIGTERM).
pub async fn listen(ctx: &mut Ctx) -> Result<(), CliError> {
    let client = ctx.client()?;
    let mut conn = client.connect(ctx.profile.cursor).await?;
    if std::io::stderr().is_terminal() && !ctx.out.is_json() {
        eprintln!(
            "listening as {} on {} (Ctrl-C to stop)",
            clean(conn.username()),
            ctx.server
        );
    }
    let interrupted = interrupted();
    tokio::pin!(interrupted);
    let mut save_tick = tokio::time::interval(CURSOR_SAVE_INTERVAL);
    save_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut saved = ctx.profile.cursor;

    let mut notices = conn.take_notices();
    let mut user_notices = conn.take_user_notices();
    let outcome: Result<(), ListenError> = loop {
        tokio::select! {
            () = &mut interrupted => break Ok(()),
            event = conn.next_event() => match event {
                Some(Ok(event)) => {
                    if let Err(e) = ctx.out.emit(&event, || event_line(&event)) {
                        break Err(e.into());
                    }
                }
                Some(Err(e)) => break Err(e.into()),
                None => break Err(ClientError::Closed {
                    code: 1000,
                    reason: "the connection ended".into(),
                }.into()),
            },
            Some(notice) = next_notice(&mut notices) => policy_notice(&notice),
            Some(notice) = next_user_notice(&mut user_notices) => user_notice(&notice),
            _ = save_tick.tick() => {
                if conn.last_seq() != saved {
                    ctx.profile.cursor = conn.last_seq();
                    if let Err(e) = ctx.save() {
                        break Err(e.into());
                    }
                    saved = ctx.profile.cursor;
                }
            }
        }
    };

    ctx.profile.cursor = conn.last_seq();
    let revoked = matches!(
        &outcome,
        Err(ListenError::Client(ClientError::Closed { code, .. })) if *code == close_code::REVOKED
    );
    if revoked {
        forget_session(ctx)?;
    } else if ctx.profile.cursor != saved {
        ctx.save()?;
    }
    conn.close().await;
    outcome.map_err(|e| match e {
        ListenError::Client(e) => CliError::from(e),
        ListenError::Cli(e) => e,
    })
}

/// `listen` ends on a client error (kept typed, to spot a revocation) or a
/// local one (stdout gone).
enum ListenError {
    Client(ClientError),
    Cli(CliError),
}

impl From<ClientError> for ListenError {
    fn from(e: ClientError) -> Self {
        ListenError::Client(e)
    }
}

impl From<CliError> for ListenError {
    fn from(e: CliError) -> Self {
        ListenError::Cli(e)
    }
}

/// Resolves on Ctrl-C, or SIGTERM on Unix.
async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

pub async fn read(ctx: &Ctx, message_id: &str) -> Result<(), CliError> {
    ctx.client()?.receipt(message_id, ReceiptKind::Read).await?;
    ctx.out.emit(
        &serde_json::json!({"message_id": message_id, "receipt": "read"}),
        || format!("marked {} as read", clean(message_id)),
    )
}

pub async fn recall(ctx: &Ctx, message_id: &str) -> Result<(), CliError> {
    ctx.client()?.recall(message_id).await?;
    ctx.out.emit(
        &serde_json::json!({"message_id": message_id, "recalled": true}),
        || format!("recalled {}", clean(message_id)),
    )
}
