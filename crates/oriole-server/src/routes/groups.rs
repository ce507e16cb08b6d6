//! Groups: creation, settings, membership and history.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use oriole_core::Store;
use oriole_proto::{
    AddMember, ApiError, CreateGroup, GroupHistory, GroupInfo, GroupList, MemberInfo, MemberList,
    UpdateGroup,
};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::ApiResult;
use crate::extract::{Authenticated, JsonBody, PathParams, QueryParams};
use crate::state::SharedState;

/// `POST /v1/groups`: create a group owned by the caller.
#[utoipa::path(
    post, path = "/v1/groups", operation_id = "create_group", tag = "groups",
    security(("bearer" = [])),
    request_body = CreateGroup,
    responses(
        (status = 201, description = "Created; the caller is the owner", body = GroupInfo),
        (status = 400, description = "`invalid_input`: bad name, duplicate or too many members", body = ApiError),
        (status = 401, description = "`unauthorized`", body = ApiError),
        (status = 404, description = "`not_found`: an unknown member", body = ApiError),
    )
)]
pub async fn create<S: Store>(
    State(state): State<SharedState<S>>,
    Authenticated(caller): Authenticated,
    JsonBody(req): JsonBody<CreateGroup>,
) -> ApiResult<(StatusCode, Json<GroupInfo>)> {
    let group = state.oriole.create_group(&caller, req).await?;
    Ok((StatusCode::CREATED, Json(group)))
}

/// `GET /v1/groups`: the groups the caller belongs to.
#[utoipa::path(
    get, path = "/v1/groups", operation_id = "list_groups", tag = "groups",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's groups, with the caller's role", body = GroupList),
        (status = 401, description = "`unauthorized`", body = ApiError),
    )
)]
pub async fn list<S: Store>(
    State(state): State<SharedState<S>>,
    Authenticated(caller): Authenticated,
) -> ApiResult<Json<GroupList>> {
    let groups = state.oriole.my_groups(&caller).await?;
    Ok(Json(GroupList { groups }))
}

/// `GET /v1/groups/{id}`: one of the caller's groups.
#[utoipa::path(
    get, path = "/v1/groups/{id}", operation_id = "get_group", tag = "groups",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The group id")),
    responses(
        (status = 200, description = "The group", body = GroupInfo),
        (status = 401, description = "`unauthorized`", body = ApiError),
        (status = 404, description = "`not_found`: no such group, or the caller is not a member", body = ApiError),
    )
)]
pub async fn get<S: Store>(
    State(state): State<SharedState<S>>,
    Authenticated(caller): Authenticated,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<GroupInfo>> {
    Ok(Json(state.oriole.group_info(&caller, &id).await?))
}

/// `PATCH /v1/groups/{id}`: rename a group or change its history visibility
/// (owner or admin).
#[utoipa::path(
    patch, path = "/v1/groups/{id}", operation_id = "update_group", tag = "groups",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The group id")),
    request_body = UpdateGroup,
    responses(
        (status = 200, description = "The updated group", body = GroupInfo),
        (status = 400, description = "`invalid_input`", body = ApiError),
        (status = 401, description = "`unauthorized`", body = ApiError),
        (status = 403, description = "`forbidden`: only the owner or an admin", body = ApiError),
        (status = 404, description = "`not_found`", body = ApiError),
    )
)]
pub async fn update<S: Store>(
    State(state): State<SharedState<S>>,
    Authenticated(caller): Authenticated,
    PathParams(id): PathParams<String>,
    JsonBody(req): JsonBody<UpdateGroup>,
) -> ApiResult<Json<GroupInfo>> {
    Ok(Json(state.oriole.update_group(&caller, &id, req).await?))
}

/// `GET /v1/groups/{id}/members`: the members, oldest first.
#[utoipa::path(
    get, path = "/v1/groups/{id}/members", operation_id = "list_members", tag = "groups",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The group id")),
    responses(
        (status = 200, description = "The members", body = MemberList),
        (status = 401, description = "`unauthorized`", body = ApiError),
        (status = 404, description = "`not_found`", body = ApiError),
    )
)]
pub async fn members<S: Store>(
    State(state): State<SharedState<S>>,
    Authenticated(caller): Authenticated,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<MemberList>> {
    let members = state.oriole.group_members(&caller, &id).await?;
    Ok(Json(MemberList { members }))
}

/// `POST /v1/groups/{id}/members`: add a member (owner or admin; only the
/// owner adds admins).
#[utoipa::path(
    post, path = "/v1/groups/{id}/members", tag = "groups",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The group id")),
    request_body = AddMember,
    responses(
        (status = 201, description = "Added", body = MemberInfo),
        (status = 400, description = "`invalid_input`", body = ApiError),
        (status = 401, description = "`unauthorized`", body = ApiError),
        (status = 403, description = "`forbidden`", body = ApiError),
        (status = 404, description = "`not_found`: no such group or user", body = ApiError),
        (status = 409, description = "`conflict`: already a member", body = ApiError),
    )
)]
pub async fn add_member<S: Store>(
    State(state): State<SharedState<S>>,
    Authenticated(caller): Authenticated,
    PathParams(id): PathParams<String>,
    JsonBody(req): JsonBody<AddMember>,
) -> ApiResult<(StatusCode, Json<MemberInfo>)> {
    let member = state.oriole.add_member(&caller, &id, req).await?;
    Ok((StatusCode::CREATED, Json(member)))
}

/// `DELETE /v1/groups/{id}/members/{username}`: remove a member (the owner
/// removes anyone, an admin removes members); removing oneself is leaving.
#[utoipa::path(
    delete, path = "/v1/groups/{id}/members/{username}", tag = "groups",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "The group id"),
        ("username" = String, Path, description = "The member to remove"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "`unauthorized`", body = ApiError),
        (status = 403, description = "`forbidden`", body = ApiError),
        (status = 404, description = "`not_found`", body = ApiError),
    )
)]
pub async fn remove_member<S: Store>(
    State(state): State<SharedState<S>>,
    Authenticated(caller): Authenticated,
    PathParams((id, username)): PathParams<(String, String)>,
) -> ApiResult<StatusCode> {
    state.oriole.remove_member(&caller, &id, &username).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/groups/{id}/leave`: leave a group; an owner hands it on, the
/// last member dissolves it.
#[utoipa::path(
    post, path = "/v1/groups/{id}/leave", operation_id = "leave_group", tag = "groups",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The group id")),
    responses(
        (status = 204, description = "Left"),
        (status = 401, description = "`unauthorized`", body = ApiError),
        (status = 404, description = "`not_found`", body = ApiError),
    )
)]
pub async fn leave<S: Store>(
    State(state): State<SharedState<S>>,
    Authenticated(caller): Authenticated,
    PathParams(id): PathParams<String>,
) -> ApiResult<StatusCode> {
    state.oriole.leave_group(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Only messages sent before this time (Unix ms); default: now.
    pub before: Option<i64>,
    /// At most this many messages (the server caps it, by default at 500).
    pub limit: Option<u32>,
}

/// `GET /v1/groups/{id}/messages?before=MS&limit=N`: group history visible
/// to the caller, newest first.
#[utoipa::path(
    get, path = "/v1/groups/{id}/messages", operation_id = "group_history", tag = "groups",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The group id"), HistoryQuery),
    responses(
        (status = 200, description = "Messages, newest first; `seq` is 0", body = GroupHistory),
        (status = 400, description = "`invalid_input`: bad query parameters", body = ApiError),
        (status = 401, description = "`unauthorized`", body = ApiError),
        (status = 404, description = "`not_found`", body = ApiError),
    )
)]
pub async fn history<S: Store>(
    State(state): State<SharedState<S>>,
    Authenticated(caller): Authenticated,
    PathParams(id): PathParams<String>,
    QueryParams(q): QueryParams<HistoryQuery>,
) -> ApiResult<Json<GroupHistory>> {
    let messages = state
        .oriole
        .group_history(&caller, &id, q.before, q.limit)
        .await?;
    Ok(Json(GroupHistory { messages }))
}
