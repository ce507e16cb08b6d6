//! `register`, `login`, `logout`, `devices`: sessions and the profile that
//! keeps them.

use clap::Args;
use oriole_client::ClientError;
use oriole_proto::{ErrorCode, LoginRequest, RegisterRequest, SessionResponse};
use serde::Serialize;

use super::error::CliError;
use super::output::{clean, device_line};
use super::Ctx;

#[derive(Args, Debug)]
pub struct RegisterArgs {
    /// Username for the new account
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Phone number (optional; stored encrypted)
    #[arg(long, value_name = "P")]
    pub phone: Option<String>,
    /// Email address (optional; stored encrypted)
    #[arg(long, value_name = "E")]
    pub email: Option<String>,
    /// This device's model, shown in `oriole devices`; stored only with
    /// `--consent device_diagnostics`
    #[arg(long, value_name = "M")]
    pub device_model: Option<String>,
    /// This device's OS version, shown in `oriole devices`; stored only
    /// with `--consent device_diagnostics`
    #[arg(long, value_name = "V")]
    pub os_version: Option<String>,
    /// Consent to an optional purpose (`device_diagnostics`,
    /// `product_analytics`) from the start (repeatable)
    #[arg(long = "consent", value_name = "PURPOSE")]
    pub consents: Vec<String>,
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    #[arg(value_name = "NAME")]
    pub name: String,
    /// This device's model, shown in `oriole devices`; stored only with
    /// `device_diagnostics` consent
    #[arg(long, value_name = "M")]
    pub device_model: Option<String>,
    /// This device's OS version, shown in `oriole devices`; stored only
    /// with `device_diagnostics` consent
    #[arg(long, value_name = "V")]
    pub os_version: Option<String>,
}

/// What `register` and `login` print: the session without its token.
#[derive(Serialize)]
struct SessionSummary<'a> {
    server: &'a str,
    user_id: &'a str,
    username: &'a str,
    device_id: &'a str,
}

pub async fn register(ctx: &mut Ctx, args: RegisterArgs) -> Result<(), CliError> {
    let password = password(true)?;
    let mut client = ctx.anonymous()?;
    let session = client
        .register(RegisterRequest {
            username: args.name,
            password,
            phone: args.phone,
            email: args.email,
            device_model: args.device_model,
            os_version: args.os_version,
            consents: args.consents,
        })
        .await?;
    // A new account has an empty inbox: start from its beginning.
    remember(ctx, &session, 0)?;
    ctx.out.emit(&summary(ctx, &session), || {
        format!(
            "registered {} (device {})",
            clean(&session.username),
            clean(&session.device_id)
        )
    })
}

pub async fn login(ctx: &mut Ctx, args: LoginArgs) -> Result<(), CliError> {
    let password = password(false)?;
    let mut client = ctx.anonymous()?;
    let session = client
        .login(LoginRequest {
            username: args.name,
            password,
            device_model: args.device_model,
            os_version: args.os_version,
        })
        .await?;
    // Same account on the same server: keep reading where this profile was.
    let same_inbox = ctx.profile.user_id.as_deref() == Some(session.user_id.as_str())
        && ctx.profile.server.as_deref() == Some(ctx.server.as_str());
    let cursor = if same_inbox { ctx.profile.cursor } else { 0 };
    remember(ctx, &session, cursor)?;
    ctx.out.emit(&summary(ctx, &session), || {
        format!(
            "logged in as {} (device {})",
            clean(&session.username),
            clean(&session.device_id)
        )
    })
}

pub async fn logout(ctx: &mut Ctx) -> Result<(), CliError> {
    let mut client = ctx.client()?;
    match client.logout().await {
        Ok(()) => {}
        // The session is already gone on the server; forget it here too.
        Err(ClientError::Api(e)) if e.code == ErrorCode::Unauthorized => {}
        Err(e) => return Err(e.into()),
    }
    forget_session(ctx)?;
    ctx.out.emit(&serde_json::json!({"logged_out": true}), || {
        "logged out".into()
    })
}

pub async fn devices(ctx: &Ctx) -> Result<(), CliError> {
    let devices = ctx.client()?.devices().await?;
    for device in &devices {
        ctx.out.emit(device, || device_line(device))?;
    }
    Ok(())
}

pub async fn revoke(ctx: &mut Ctx, device_id: &str) -> Result<(), CliError> {
    ctx.client()?.revoke_device(device_id).await?;
    if ctx.profile.device_id.as_deref() == Some(device_id) {
        // This very device: its token is dead now.
        forget_session(ctx)?;
    }
    ctx.out.emit(
        &serde_json::json!({"device_id": device_id, "revoked": true}),
        || format!("revoked device {}", clean(device_id)),
    )
}

fn summary<'a>(ctx: &'a Ctx, session: &'a SessionResponse) -> SessionSummary<'a> {
    SessionSummary {
        server: &ctx.server,
        user_id: &session.user_id,
        username: &session.username,
        device_id: &session.device_id,
    }
}

fn remember(ctx: &mut Ctx, session: &SessionResponse, cursor: u64) -> Result<(), CliError> {
    ctx.profile.server = Some(ctx.server.clone());
    ctx.profile.ca_file = ctx.ca_file.clone();
    ctx.profile.username = Some(session.username.clone());
    ctx.profile.user_id = Some(session.user_id.clone());
    ctx.profile.device_id = Some(session.device_id.clone());
    ctx.profile.token = Some(session.token.clone());
    ctx.profile.cursor = cursor;
    ctx.save()
}

/// Drop the token but keep who and where, and the cursor, for the next login.
pub(super) fn forget_session(ctx: &mut Ctx) -> Result<(), CliError> {
    ctx.profile.token = None;
    ctx.profile.device_id = None;
    ctx.save()
}

/// `$ORIOLE_PASSWORD` when set, otherwise a prompt on the terminal without
/// echo (twice when choosing a new one). Never a command-line argument.
pub(super) fn password(confirm: bool) -> Result<String, CliError> {
    if let Some(value) = std::env::var_os("ORIOLE_PASSWORD") {
        return value.into_string().map_err(|_| {
            CliError::new(
                ErrorCode::InvalidInput.as_str(),
                "$ORIOLE_PASSWORD is not valid UTF-8",
            )
        });
    }
    let prompt = |text: &str| {
        rpassword::prompt_password(text).map_err(|e| {
            CliError::new(
                ErrorCode::InvalidInput.as_str(),
                format!("cannot read a password ({e}); set $ORIOLE_PASSWORD or run in a terminal"),
            )
        })
    };
    let password = prompt("Password: ")?;
    if confirm && prompt("Repeat password: ")? != password {
        return Err(CliError::new(
            ErrorCode::InvalidInput.as_str(),
            "the passwords do not match",
        ));
    }
    Ok(password)
}
