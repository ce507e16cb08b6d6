//! `oriole admin ...` commands that go through the server's API with the
//! operator token kept in the profile (`oriole admin login`). Commands that
//! work on the local data directory are in `crate::admin`.

use clap::Subcommand;
use oriole_client::Client;
use oriole_proto::{
    ContentAccessGrant, ContentAccessRequest, NewOperatorRequest, OperatorInfo,
    OperatorLoginRequest,
};

use super::account::password;
use super::error::CliError;
use super::Ctx;
use crate::admin::AdminCommand;

#[derive(Subcommand, Debug)]
pub enum OperatorCommand {
    /// Create an operator; the initial password comes from
    /// $ORIOLE_PASSWORD, else one is generated and printed once
    Add {
        #[arg(value_name = "NAME")]
        name: String,
        /// admin, support, auditor or privacy_officer
        #[arg(long, value_name = "ROLE")]
        role: String,
    },
    /// List operator accounts
    List,
    /// Disable an operator: login is refused and their sessions end at once
    /// (never one's own account)
    Disable {
        #[arg(value_name = "NAME")]
        name: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// A user's account metadata (never message content); needs a reason
    /// code and a ticket, and the user sees the access in their access log
    Show {
        #[arg(value_name = "USER")]
        user: String,
        /// customer_support, legal_request, security_incident or abuse_report
        #[arg(long, value_name = "CODE")]
        reason: Option<String>,
        #[arg(long, value_name = "REF")]
        ticket: Option<String>,
    },
    /// A user's messages, under a content access request approved by
    /// another privacy officer (`oriole admin content`); the same reason
    /// code and ticket as the request. The user sees the access in their
    /// access log
    Messages {
        #[arg(value_name = "USER")]
        user: String,
        /// customer_support, legal_request, security_incident or abuse_report
        #[arg(long, value_name = "CODE")]
        reason: Option<String>,
        #[arg(long, value_name = "REF")]
        ticket: Option<String>,
    },
}

/// The two-person rule for message content (role privacy_officer): one
/// operator asks, another approves, then the first reads with
/// `oriole admin user messages`.
#[derive(Subcommand, Debug)]
pub enum ContentCommand {
    /// Ask for time-limited access to a user's message content; prints the
    /// request id another privacy officer approves
    Request {
        #[arg(value_name = "USER")]
        user: String,
        /// customer_support, legal_request, security_incident or abuse_report
        #[arg(long, value_name = "CODE")]
        reason: Option<String>,
        #[arg(long, value_name = "REF")]
        ticket: Option<String>,
    },
    /// Approve another operator's request (never one's own)
    Approve {
        #[arg(value_name = "REQUEST_ID")]
        request_id: String,
    },
}

/// Run an API-backed admin command.
pub async fn run(ctx: &mut Ctx, command: AdminCommand) -> Result<(), CliError> {
    match command {
        AdminCommand::Login { name } => login(ctx, &name).await,
        AdminCommand::Logout => logout(ctx).await,
        AdminCommand::Operator(OperatorCommand::Add { name, role }) => {
            add_operator(ctx, &name, &role).await
        }
        AdminCommand::Operator(OperatorCommand::List) => list_operators(ctx).await,
        AdminCommand::Operator(OperatorCommand::Disable { name }) => {
            disable_operator(ctx, &name).await
        }
        AdminCommand::Password => change_password(ctx).await,
        AdminCommand::User(UserCommand::Show {
            user,
            reason,
            ticket,
        }) => show_user(ctx, &user, reason.as_deref(), ticket.as_deref()).await,
        AdminCommand::User(UserCommand::Messages {
            user,
            reason,
            ticket,
        }) => user_messages(ctx, &user, reason.as_deref(), ticket.as_deref()).await,
        AdminCommand::Content(ContentCommand::Request {
            user,
            reason,
            ticket,
        }) => request_content(ctx, &user, reason.as_deref(), ticket.as_deref()).await,
        AdminCommand::Content(ContentCommand::Approve { request_id }) => {
            approve_content(ctx, &request_id).await
        }
        AdminCommand::ThirdParty(command) => super::sharing::admin(ctx, command).await,
        AdminCommand::Disclosure(command) => super::sharing::disclosure(ctx, command).await,
        AdminCommand::Policy(command) => super::privacy_admin::policy(ctx, command).await,
        AdminCommand::Retention(command) => super::privacy_admin::retention(ctx, command).await,
        AdminCommand::Dsar(command) => super::dsar::run(ctx, command).await,
        local => Err(CliError::new(
            "internal",
            format!("{local:?} works on the local data directory and is run by main"),
        )),
    }
}

impl Ctx {
    /// A client with the profile's operator session; an error when no
    /// operator is logged in.
    pub(crate) fn operator(&self) -> Result<Client, CliError> {
        let token = self.profile.operator_token.clone().ok_or_else(|| {
            CliError::new(
                "unauthorized",
                format!(
                    "no operator session in {}; run `oriole admin login NAME`",
                    self.profile_path.display()
                ),
            )
        })?;
        Ok(self.anonymous()?.with_token(token))
    }
}

fn operator_line(op: &OperatorInfo) -> String {
    let role = serde_json::to_value(op.role)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let disabled = op
        .disabled_at
        .map(|t| format!(", disabled {}", super::output::format_time(t)))
        .unwrap_or_default();
    format!("{} ({role}, id {}{disabled})", op.name, op.operator_id)
}

async fn login(ctx: &mut Ctx, name: &str) -> Result<(), CliError> {
    let password = password(false)?;
    let mut client = ctx.anonymous()?;
    let session = client
        .operator_login(OperatorLoginRequest {
            name: name.to_owned(),
            password,
        })
        .await?;
    ctx.profile.server = Some(ctx.server.clone());
    ctx.profile.operator_name = Some(session.operator.name.clone());
    ctx.profile.operator_token = Some(session.token.clone());
    ctx.save()?;
    ctx.out.emit(&session.operator, || {
        format!("logged in as operator {}", operator_line(&session.operator))
    })
}

async fn logout(ctx: &mut Ctx) -> Result<(), CliError> {
    let mut client = ctx.operator()?;
    client.operator_logout().await?;
    ctx.profile.operator_name = None;
    ctx.profile.operator_token = None;
    ctx.save()?;
    ctx.out.note("operator logged out")
}

async fn add_operator(ctx: &Ctx, name: &str, role: &str) -> Result<(), CliError> {
    let role =
        oriole_core::staff::parse_role(role).map_err(|e| CliError::new("invalid_input", e.0))?;
    let (password, generated) = match std::env::var("ORIOLE_PASSWORD") {
        Ok(p) => (p, false),
        Err(_) => (
            oriole_crypto::SessionToken::generate().expose().to_owned(),
            true,
        ),
    };
    let created = ctx
        .operator()?
        .add_operator(NewOperatorRequest {
            name: name.to_owned(),
            role,
            password: password.clone(),
        })
        .await?;
    if ctx.out.is_json() {
        let mut value =
            serde_json::to_value(&created).map_err(|e| CliError::new("internal", e.to_string()))?;
        if generated {
            value["password"] = serde_json::Value::from(password);
        }
        return ctx.out.emit(&value, String::new);
    }
    ctx.out
        .note(&format!("created operator {}", operator_line(&created)))?;
    if generated {
        ctx.out
            .note(&format!("password (shown once; keep it safe): {password}"))?;
    }
    Ok(())
}

async fn disable_operator(ctx: &Ctx, name: &str) -> Result<(), CliError> {
    let op = ctx.operator()?.disable_operator(name).await?;
    ctx.out
        .emit(&op, || format!("disabled operator {}", operator_line(&op)))
}

async fn change_password(ctx: &Ctx) -> Result<(), CliError> {
    let password = password(true)?;
    ctx.operator()?.change_operator_password(&password).await?;
    ctx.out
        .note("password changed; your other operator sessions have ended")
}

async fn list_operators(ctx: &Ctx) -> Result<(), CliError> {
    for op in ctx.operator()?.operators().await? {
        ctx.out.emit(&op, || operator_line(&op))?;
    }
    Ok(())
}

async fn show_user(
    ctx: &Ctx,
    user: &str,
    reason: Option<&str>,
    ticket: Option<&str>,
) -> Result<(), CliError> {
    let (reason, ticket) = justification(reason, ticket)?;
    let view = ctx.operator()?.admin_user(user, reason, ticket).await?;
    ctx.out.emit(&view, || {
        let mut lines = vec![
            format!("user {} (id {})", view.username, view.user_id),
            format!("created {}", super::output::format_time(view.created_at)),
        ];
        if let Some(phone) = &view.phone {
            lines.push(format!("phone {}", super::output::clean(phone)));
        }
        if let Some(email) = &view.email {
            lines.push(format!("email {}", super::output::clean(email)));
        }
        for d in &view.devices {
            lines.push(format!("device {}", super::output::device_line(d)));
        }
        lines.join("\n")
    })
}

/// The reason code and ticket every justified access needs. The server
/// refuses a missing one too; refusing here first says which flag is
/// missing.
fn justification<'a>(
    reason: Option<&'a str>,
    ticket: Option<&'a str>,
) -> Result<(&'a str, &'a str), CliError> {
    let reason = reason.ok_or_else(|| {
        CliError::new(
            "invalid_input",
            "--reason CODE is required: customer_support, legal_request, security_incident \
             or abuse_report",
        )
    })?;
    let ticket =
        ticket.ok_or_else(|| CliError::new("invalid_input", "--ticket REF is required"))?;
    Ok((reason, ticket))
}

fn grant_line(grant: &ContentAccessGrant) -> String {
    let state = match (grant.approved_at, grant.expires_at) {
        (Some(_), Some(end)) => format!("approved, until {}", super::output::format_time(end)),
        (Some(at), None) => format!("approved {}", super::output::format_time(at)),
        (None, _) => "waiting for another privacy officer's approval".to_owned(),
    };
    format!(
        "request {} for {}: reason {}, ticket {}; {state}",
        super::output::clean(&grant.grant_id),
        super::output::clean(&grant.username),
        grant.reason.as_str(),
        super::output::clean(&grant.ticket),
    )
}

async fn request_content(
    ctx: &Ctx,
    user: &str,
    reason: Option<&str>,
    ticket: Option<&str>,
) -> Result<(), CliError> {
    let (reason, ticket) = justification(reason, ticket)?;
    let reason = oriole_core::staff::parse_reason(reason)
        .map_err(|e| CliError::new("invalid_input", e.0))?;
    let grant = ctx
        .operator()?
        .request_content_access(ContentAccessRequest {
            username: user.to_owned(),
            reason,
            ticket: ticket.to_owned(),
        })
        .await?;
    ctx.out.emit(&grant, || grant_line(&grant))
}

async fn approve_content(ctx: &Ctx, request_id: &str) -> Result<(), CliError> {
    let grant = ctx.operator()?.approve_content_access(request_id).await?;
    ctx.out.emit(&grant, || grant_line(&grant))
}

async fn user_messages(
    ctx: &Ctx,
    user: &str,
    reason: Option<&str>,
    ticket: Option<&str>,
) -> Result<(), CliError> {
    let (reason, ticket) = justification(reason, ticket)?;
    let events = ctx
        .operator()?
        .admin_user_messages(user, reason, ticket)
        .await?;
    if events.is_empty() {
        ctx.out.note("no messages")?;
    }
    for event in &events {
        ctx.out.emit(event, || super::output::event_line(event))?;
    }
    Ok(())
}

/// `oriole me access-log`: every staff access to my data.
pub async fn access_log(ctx: &Ctx) -> Result<(), CliError> {
    let log = ctx.client()?.access_log().await?;
    if log.is_empty() {
        ctx.out.note("no staff member has accessed your data")?;
    }
    for a in &log {
        ctx.out.emit(a, || {
            format!(
                "{}  {}  reason {}{}  {}",
                super::output::format_time(a.time),
                a.role,
                a.reason,
                a.ticket
                    .as_deref()
                    .map(|t| format!(" (ticket {t})"))
                    .unwrap_or_default(),
                a.categories.join(", ")
            )
        })?;
    }
    Ok(())
}
