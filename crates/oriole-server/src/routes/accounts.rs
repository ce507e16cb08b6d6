//! Accounts, sessions and devices.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use oriole_core::Store;
use oriole_proto::{
    ApiError, DeviceList, ErrorCode, LoginRequest, Profile, RegisterRequest, SessionResponse,
};

use crate::error::ApiResult;
use crate::extract::{Authenticated, ClientIp, JsonBody, PathParams};
use crate::state::SharedState;

/// `POST /v1/accounts`: create an account and log in on this device.
#[utoipa::path(
    post, path = "/v1/accounts", tag = "accounts",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created; the token is shown once", body = SessionResponse),
        (status = 400, description = "`invalid_input` or `malformed_frame`", body = ApiError),
        (status = 409, description = "`conflict`: the username is taken", body = ApiError),
    )
)]
pub async fn register<S: Store>(
    State(state): State<SharedState<S>>,
    ip: ClientIp,
    JsonBody(req): JsonBody<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<SessionResponse>)> {
    let session = state.oriole.register(req, ip.to_option_string()).await?;
    Ok((StatusCode::CREATED, Json(session)))
}

/// `POST /v1/sessions`: log in with a password, creating a new device session.
#[utoipa::path(
    post, path = "/v1/sessions", tag = "accounts",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in; the token is shown once", body = SessionResponse),
        (status = 400, description = "`invalid_input` or `malformed_frame`", body = ApiError),
        (status = 401, description = "`unauthorized`: wrong username or password", body = ApiError),
        (status = 429, description = "`rate_limited`: too many failed logins; see `Retry-After`", body = ApiError),
    )
)]
pub async fn login<S: Store>(
    State(state): State<SharedState<S>>,
    ip: ClientIp,
    JsonBody(req): JsonBody<LoginRequest>,
) -> ApiResult<Json<SessionResponse>> {
    let session = state
        .oriole
        .login(req, ip.to_option_string())
        .await
        .inspect_err(|e| {
            if e.code == ErrorCode::Unauthorized {
                state.metrics.login_failed();
            }
        })?;
    Ok(Json(session))
}

/// `DELETE /v1/sessions/current`: log out; the token stops working and this
/// device's sockets close.
#[utoipa::path(
    delete, path = "/v1/sessions/current", tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, description = "`unauthorized`", body = ApiError),
    )
)]
pub async fn logout<S: Store>(
    State(state): State<SharedState<S>>,
    Authenticated(caller): Authenticated,
) -> ApiResult<StatusCode> {
    state.oriole.logout(&caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/me`: the caller's own account.
#[utoipa::path(
    get, path = "/v1/me", tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's account", body = Profile),
        (status = 401, description = "`unauthorized`", body = ApiError),
    )
)]
pub async fn me<S: Store>(
    State(state): State<SharedState<S>>,
    Authenticated(caller): Authenticated,
) -> ApiResult<Json<Profile>> {
    Ok(Json(state.oriole.profile(&caller).await?))
}

/// `GET /v1/devices`: the caller's logged-in devices.
#[utoipa::path(
    get, path = "/v1/devices", tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Live devices, oldest first", body = DeviceList),
        (status = 401, description = "`unauthorized`", body = ApiError),
    )
)]
pub async fn devices<S: Store>(
    State(state): State<SharedState<S>>,
    Authenticated(caller): Authenticated,
) -> ApiResult<Json<DeviceList>> {
    let devices = state.oriole.devices(&caller).await?;
    Ok(Json(DeviceList { devices }))
}

/// `DELETE /v1/devices/{device_id}`: revoke one of the caller's devices; its
/// token stops working and its sockets close with code 4001.
#[utoipa::path(
    delete, path = "/v1/devices/{device_id}", tag = "accounts",
    security(("bearer" = [])),
    params(("device_id" = String, Path, description = "A device id from `GET /v1/devices`")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "`unauthorized`", body = ApiError),
        (status = 400, description = "`invalid_input`: not a device id", body = ApiError),
        (status = 404, description = "`not_found`: not a live device of the caller", body = ApiError),
    )
)]
pub async fn revoke_device<S: Store>(
    State(state): State<SharedState<S>>,
    Authenticated(caller): Authenticated,
    PathParams(device_id): PathParams<String>,
) -> ApiResult<StatusCode> {
    state.oriole.revoke_device(&caller, &device_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
