//! Support-assisted data-subject requests (`oriole admin dsar …`): open,
//! list, complete. Every route needs the `manage_data_requests` permission
//! (roles support and privacy_officer).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use oriole_core::Store;
use oriole_proto::{ApiError, CompleteDsar, DsarCompletion, DsarInfo, DsarList, OpenDsar};
use serde::Deserialize;

use crate::error::ApiResult;
use crate::extract::{JsonBody, PathParams, QueryParams};
use crate::staff::{perm, Staff};
use crate::state::SharedState;

/// `POST /v1/admin/dsars`: open a request for a user.
#[utoipa::path(
    post, path = "/v1/admin/dsars", tag = "staff",
    security(("bearer" = [])),
    request_body = OpenDsar,
    responses(
        (status = 201, description = "Opened, with its deadline", body = DsarInfo),
        (status = 400, description = "`invalid_input`: kind, ticket or identity check", body = ApiError),
        (status = 401, description = "`unauthorized`: not an operator", body = ApiError),
        (status = 403, description = "`forbidden`: the role lacks manage_data_requests", body = ApiError),
        (status = 404, description = "`not_found`: no such user", body = ApiError),
    )
)]
pub async fn open<S: Store>(
    State(state): State<SharedState<S>>,
    Staff(op, ..): Staff<perm::ManageDataRequests>,
    JsonBody(req): JsonBody<OpenDsar>,
) -> ApiResult<(StatusCode, Json<DsarInfo>)> {
    let info = state.oriole.open_dsar(&op, req).await?;
    Ok((StatusCode::CREATED, Json(info)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// Only open requests past their deadline.
    #[serde(default)]
    pub overdue: bool,
}

/// `GET /v1/admin/dsars?overdue=true`: the requests, oldest first.
#[utoipa::path(
    get, path = "/v1/admin/dsars", tag = "staff",
    security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "Requests", body = DsarList),
        (status = 401, description = "`unauthorized`", body = ApiError),
        (status = 403, description = "`forbidden`", body = ApiError),
    )
)]
pub async fn list<S: Store>(
    State(state): State<SharedState<S>>,
    Staff(op, ..): Staff<perm::ManageDataRequests>,
    QueryParams(q): QueryParams<ListQuery>,
) -> ApiResult<Json<DsarList>> {
    let requests = state.oriole.list_dsars(&op, q.overdue).await?;
    Ok(Json(DsarList { requests }))
}

/// `POST /v1/admin/dsars/{id}/complete`: perform the request.
#[utoipa::path(
    post, path = "/v1/admin/dsars/{id}/complete", tag = "staff",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The request id")),
    request_body = CompleteDsar,
    responses(
        (status = 200, description = "Done; for a deletion, the signed receipt to give the user", body = DsarCompletion),
        (status = 400, description = "`invalid_input`", body = ApiError),
        (status = 401, description = "`unauthorized`", body = ApiError),
        (status = 403, description = "`forbidden`", body = ApiError),
        (status = 404, description = "`not_found`", body = ApiError),
        (status = 409, description = "`conflict`: already completed", body = ApiError),
    )
)]
pub async fn complete<S: Store>(
    State(state): State<SharedState<S>>,
    Staff(op, ..): Staff<perm::ManageDataRequests>,
    PathParams(id): PathParams<String>,
    JsonBody(req): JsonBody<CompleteDsar>,
) -> ApiResult<Json<DsarCompletion>> {
    Ok(Json(state.oriole.complete_dsar(&op, &id, req).await?))
}
