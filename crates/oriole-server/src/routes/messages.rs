//! Sending, syncing, receipts and recall.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use oriole_core::Store;
use oriole_proto::{ApiError, ReceiptRequest, SendAck, SendMessage, SyncPage};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::ApiResult;
use crate::extract::{Authenticated, JsonBody, PathParams, QueryParams};
use crate::state::SharedState;

/// `POST /v1/messages`: send a 1:1 or group message. Answered only after the
/// message is durably committed.
#[utoipa::path(
    post, path = "/v1/messages", operation_id = "send_message", tag = "messages",
    security(("bearer" = [])),
    request_body = SendMessage,
    responses(
        (status = 201, description = "Stored and delivered", body = SendAck),
        (status = 200, description = "The idempotency key matched an earlier send; nothing new was stored", body = SendAck),
        (status = 400, description = "`invalid_input` or `malformed_frame`", body = ApiError),
        (status = 401, description = "`unauthorized`", body = ApiError),
        (status = 404, description = "`not_found`: no such user, or a group the caller is not in", body = ApiError),
        (status = 413, description = "`payload_too_large`", body = ApiError),
    )
)]
pub async fn send<S: Store>(
    State(state): State<SharedState<S>>,
    Authenticated(caller): Authenticated,
    JsonBody(req): JsonBody<SendMessage>,
) -> ApiResult<(StatusCode, Json<SendAck>)> {
    let ack = state.oriole.send(&caller, req).await?;
    let status = if ack.duplicate {
        StatusCode::OK
    } else {
        state.metrics.message_accepted();
        StatusCode::CREATED
    };
    Ok((status, Json(ack)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SyncQuery {
    /// Return events with a seq greater than this (default 0).
    #[serde(default)]
    pub after: u64,
    /// At most this many events (the server caps it, by default at 500).
    pub limit: Option<u32>,
}

/// `GET /v1/sync?after=SEQ&limit=N`: one page of the caller's inbox,
/// oldest first.
#[utoipa::path(
    get, path = "/v1/sync", operation_id = "sync_inbox", tag = "messages",
    security(("bearer" = [])),
    params(SyncQuery),
    responses(
        (status = 200, description = "One page of inbox events", body = SyncPage),
        (status = 400, description = "`invalid_input`: bad query parameters", body = ApiError),
        (status = 401, description = "`unauthorized`", body = ApiError),
    )
)]
pub async fn sync<S: Store>(
    State(state): State<SharedState<S>>,
    Authenticated(caller): Authenticated,
    QueryParams(q): QueryParams<SyncQuery>,
) -> ApiResult<Json<SyncPage>> {
    Ok(Json(state.oriole.sync(&caller, q.after, q.limit).await?))
}

/// `POST /v1/messages/{id}/receipts`: confirm delivery or reading of a
/// message in the caller's inbox; repeating a receipt is harmless.
#[utoipa::path(
    post, path = "/v1/messages/{id}/receipts", tag = "messages",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The message id")),
    request_body = ReceiptRequest,
    responses(
        (status = 204, description = "Recorded"),
        (status = 400, description = "`invalid_input`: e.g. a receipt for one's own message", body = ApiError),
        (status = 401, description = "`unauthorized`", body = ApiError),
        (status = 404, description = "`not_found`: not a message in the caller's inbox", body = ApiError),
    )
)]
pub async fn receipt<S: Store>(
    State(state): State<SharedState<S>>,
    Authenticated(caller): Authenticated,
    PathParams(id): PathParams<String>,
    JsonBody(req): JsonBody<ReceiptRequest>,
) -> ApiResult<StatusCode> {
    state.oriole.receipt(&caller, &id, req.kind).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/messages/{id}/recall`: recall a message the caller sent, within
/// the recall window.
#[utoipa::path(
    post, path = "/v1/messages/{id}/recall", tag = "messages",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The message id")),
    responses(
        (status = 204, description = "Recalled (or already recalled)"),
        (status = 401, description = "`unauthorized`", body = ApiError),
        (status = 404, description = "`not_found`: no such message sent by the caller", body = ApiError),
        (status = 409, description = "`recall_window_expired`", body = ApiError),
    )
)]
pub async fn recall<S: Store>(
    State(state): State<SharedState<S>>,
    Authenticated(caller): Authenticated,
    PathParams(id): PathParams<String>,
) -> ApiResult<StatusCode> {
    state.oriole.recall(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
