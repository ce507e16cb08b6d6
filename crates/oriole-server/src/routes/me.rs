//! The caller's rights over their own data: correct (`PATCH /v1/me`), see
//! (`GET /v1/me/data`), export (`GET /v1/me/export`) and delete
//! (`DELETE /v1/me`). Never behind the policy gate: a user's rights are
//! never blocked.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use oriole_core::Store;
use oriole_proto::{ApiError, DeleteAccount, MyData, Profile, SignedReceipt, UpdateProfile};

use crate::error::ApiResult;
use crate::extract::{Authenticated, JsonBody};
use crate::state::SharedState;

/// Archive chunks in flight between the export task and the socket: with
/// one inbox page per chunk, this bounds the export's memory.
const EXPORT_BUFFER: usize = 2;

/// `PATCH /v1/me`: correct the display name, phone or email.
#[utoipa::path(
    patch, path = "/v1/me", tag = "me",
    security(("bearer" = [])),
    request_body = UpdateProfile,
    responses(
        (status = 200, description = "The corrected profile", body = Profile),
        (status = 400, description = "`invalid_input`: a value is invalid, or nothing to change; nothing was changed", body = ApiError),
        (status = 401, description = "`unauthorized`", body = ApiError),
        (status = 409, description = "`conflict`: the phone or email belongs to another account", body = ApiError),
    )
)]
pub async fn update<S: Store>(
    State(state): State<SharedState<S>>,
    Authenticated(caller): Authenticated,
    JsonBody(req): JsonBody<UpdateProfile>,
) -> ApiResult<Json<Profile>> {
    Ok(Json(state.oriole.correct_profile(&caller, req).await?))
}

/// `GET /v1/me/data`: everything held about the caller, by section.
#[utoipa::path(
    get, path = "/v1/me/data", tag = "me",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every section the inventory declares", body = MyData),
        (status = 401, description = "`unauthorized`", body = ApiError),
    )
)]
pub async fn data<S: Store>(
    State(state): State<SharedState<S>>,
    Authenticated(caller): Authenticated,
) -> ApiResult<Json<MyData>> {
    Ok(Json(state.oriole.my_data(&caller).await?))
}

/// `DELETE /v1/me`: delete the account at once; answers the signed receipt.
#[utoipa::path(
    delete, path = "/v1/me", tag = "me",
    security(("bearer" = [])),
    request_body = DeleteAccount,
    responses(
        (status = 200, description = "Deleted; the receipt is signed with the `receipt` key of `GET /v1/keys`", body = SignedReceipt),
        (status = 401, description = "`unauthorized`: wrong password (nothing was deleted) or bad token", body = ApiError),
        (status = 429, description = "`rate_limited`: too many wrong passwords", body = ApiError),
    )
)]
pub async fn delete<S: Store>(
    State(state): State<SharedState<S>>,
    Authenticated(caller): Authenticated,
    JsonBody(req): JsonBody<DeleteAccount>,
) -> ApiResult<Json<SignedReceipt>> {
    Ok(Json(state.oriole.delete_account(&caller, req).await?))
}

/// `GET /v1/me/export`: the caller's data as a tar archive, streamed.
#[utoipa::path(
    get, path = "/v1/me/export", tag = "me",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A tar archive (layout in docs/export-format.md), produced while it downloads", content_type = "application/x-tar"),
        (status = 401, description = "`unauthorized`", body = ApiError),
        (status = 429, description = "`rate_limited`: the message says when the next export is allowed; see `Retry-After`", body = ApiError),
    )
)]
pub async fn export<S: Store>(
    State(state): State<SharedState<S>>,
    Authenticated(caller): Authenticated,
) -> ApiResult<Response> {
    let job = state.oriole.begin_export(&caller).await?;
    let disposition = format!("attachment; filename=\"{}\"", job.file_name());
    let (tx, rx) = tokio::sync::mpsc::channel(EXPORT_BUFFER);
    let producer = state.clone();
    tokio::spawn(async move { producer.oriole.run_export(job, tx).await });
    let chunks = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| {
            // An error aborts the transfer: a truncated archive must not
            // look complete.
            let chunk = chunk.map_err(|e| std::io::Error::other(e.to_string()));
            (chunk, rx)
        })
    });
    let mut response = Body::from_stream(chunks).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
