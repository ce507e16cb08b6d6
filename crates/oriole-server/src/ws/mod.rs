//! `GET /v1/ws`: the WebSocket endpoint (protocol in `docs/protocol.md`).
//! The upgrade is checked (protocol version, token, connection limit)
//! before it is accepted; each accepted socket runs as one session task.

mod frames;
mod pipeline;
mod session;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use oriole_core::Store;
use oriole_proto::{ApiError, ErrorCode, PROTOCOL_VERSION};
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::{ApiResult, HttpError};
use crate::extract::{bearer_token, unauthorized, QueryParams};
use crate::state::SharedState;

/// How long a client refused for the connection limit should wait.
const BUSY_RETRY_SECS: u64 = 5;
/// Bytes read from the socket at a time, and the read buffer every
/// connection keeps while idle. The WebSocket library's default (128 KiB,
/// allocated and zeroed per connection) made up most of an idle
/// connection's memory, and 4 KiB was still about a third of it, 1 KiB
/// an eighth. A frame's header reserves room for the whole frame, so the
/// buffer grows on demand: a larger frame still arrives whole, in more
/// reads, and the connection keeps the larger buffer afterwards (the
/// library keeps it). 512 bytes holds a typical `send` frame (about 250
/// bytes with 100 bytes of text) in one read, and pings and `subscribe`.
const READ_BUFFER_BYTES: usize = 512;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WsParams {
    /// The session token, for clients that cannot set `Authorization`
    /// (browsers).
    pub token: Option<String>,
    /// The protocol version the client speaks; must be the server's.
    pub protocol: Option<String>,
}

/// `GET /v1/ws`: upgrade to a WebSocket session. Authenticated by
/// `Authorization: Bearer TOKEN` or `?token=TOKEN`.
#[utoipa::path(
    get, path = "/v1/ws", operation_id = "open_websocket", tag = "realtime",
    security(("bearer" = [])),
    params(WsParams),
    responses(
        (status = 101, description = "Switched to the WebSocket protocol; the first frame is `hello`"),
        (status = 400, description = "`unsupported_protocol`, or `invalid_input`: not a WebSocket upgrade", body = ApiError),
        (status = 401, description = "`unauthorized`: missing, unknown or revoked token", body = ApiError),
        (status = 429, description = "`rate_limited`: the server has no room for more connections", body = ApiError),
    )
)]
pub async fn upgrade<S: Store>(
    State(state): State<SharedState<S>>,
    headers: HeaderMap,
    QueryParams(params): QueryParams<WsParams>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    if let Some(asked) = params.protocol.as_deref() {
        if asked.trim() != PROTOCOL_VERSION.to_string() {
            return Err(HttpError::new(
                ErrorCode::UnsupportedProtocol,
                format!("this server speaks protocol {PROTOCOL_VERSION}"),
            ));
        }
    }
    let token = bearer_token(&headers)
        .or(params.token.as_deref())
        .ok_or_else(|| unauthorized("missing token: use `Authorization: Bearer` or `?token=`"))?;
    let caller = state.oriole.authenticate(token).await?;
    let upgrade = upgrade.map_err(|rejection| {
        HttpError::new(
            ErrorCode::InvalidInput,
            format!("not a WebSocket upgrade: {}", rejection.body_text()),
        )
    })?;
    let permit = state
        .sessions
        .permits
        .clone()
        .try_acquire_owned()
        .map_err(|_| {
            HttpError::from(ApiError {
                code: ErrorCode::RateLimited,
                message: "too many connections; retry later".to_owned(),
                retry_after: Some(BUSY_RETRY_SECS),
            })
        })?;
    let max = state.settings.max_frame_bytes();
    let token = SecretString::from(token.to_owned());
    // Counted from now, so shutdown also waits for upgrades in flight.
    let tracked = state.sessions.tracker.token();
    // One box for everything the session starts from: the upgrade's task
    // keeps what its callback captured for as long as the connection
    // lives, so the callback captures a pointer.
    let opening = Box::new((state, caller, token, permit, tracked));
    Ok(upgrade
        .max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(READ_BUFFER_BYTES)
        .on_upgrade(move |socket| {
            let (state, caller, token, permit, tracked) = *opening;
            session::start(state, socket, caller, token, permit, tracked)
        }))
}
