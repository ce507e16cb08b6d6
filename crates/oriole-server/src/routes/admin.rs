//! The staff API under `/v1/admin`: operator sessions and accounts, and
//! justified access to users' data. Every route but login takes an operator
//! token ([`crate::staff`]).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use oriole_core::service::Justification;
use oriole_core::Store;
use oriole_proto::{
    ApiError, ContentAccessGrant, ContentAccessRequest, NewOperatorRequest, OperatorInfo,
    OperatorList, OperatorLoginRequest, OperatorPasswordRequest, OperatorSession, UserAccountView,
    UserMessagesView,
};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::ApiResult;
use crate::extract::{JsonBody, PathParams, QueryParams};
use crate::staff::{perm, AnyOperator, Staff};
use crate::state::SharedState;

/// `POST /v1/admin/sessions`: an operator logs in; the token is shown once.
#[utoipa::path(
    post, path = "/v1/admin/sessions", operation_id = "operator_login", tag = "staff",
    request_body = OperatorLoginRequest,
    responses(
        (status = 200, description = "Logged in; the operator token is shown once", body = OperatorSession),
        (status = 401, description = "`unauthorized`: wrong operator name or password", body = ApiError),
        (status = 429, description = "`rate_limited`: too many failed logins", body = ApiError),
    )
)]
pub async fn login<S: Store>(
    State(state): State<SharedState<S>>,
    JsonBody(req): JsonBody<OperatorLoginRequest>,
) -> ApiResult<Json<OperatorSession>> {
    Ok(Json(state.oriole.operator_login(req).await?))
}

/// `DELETE /v1/admin/sessions/current`: end this operator session.
#[utoipa::path(
    delete, path = "/v1/admin/sessions/current", operation_id = "operator_logout", tag = "staff",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, description = "`unauthorized`: not an operator session", body = ApiError),
    )
)]
pub async fn logout<S: Store>(
    State(state): State<SharedState<S>>,
    op: AnyOperator,
) -> ApiResult<StatusCode> {
    state
        .oriole
        .operator_logout(&op.operator, &op.token)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/admin/operators`: create an operator account
/// (`manage_operators`).
#[utoipa::path(
    post, path = "/v1/admin/operators", operation_id = "operator_add", tag = "staff",
    security(("bearer" = [])),
    request_body = NewOperatorRequest,
    responses(
        (status = 201, description = "Created", body = OperatorInfo),
        (status = 400, description = "`invalid_input`", body = ApiError),
        (status = 401, description = "`unauthorized`: not an operator session", body = ApiError),
        (status = 403, description = "`forbidden`: the role may not manage operators", body = ApiError),
        (status = 409, description = "`conflict`: the name is taken", body = ApiError),
    )
)]
pub async fn add_operator<S: Store>(
    State(state): State<SharedState<S>>,
    Staff(op, ..): Staff<perm::ManageOperators>,
    JsonBody(req): JsonBody<NewOperatorRequest>,
) -> ApiResult<(StatusCode, Json<OperatorInfo>)> {
    let created = state.oriole.add_operator(&op, req).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// `GET /v1/admin/operators`: every operator account (`manage_operators`).
#[utoipa::path(
    get, path = "/v1/admin/operators", operation_id = "operator_list", tag = "staff",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The operators", body = OperatorList),
        (status = 401, description = "`unauthorized`: not an operator session", body = ApiError),
        (status = 403, description = "`forbidden`: the role may not manage operators", body = ApiError),
    )
)]
pub async fn list_operators<S: Store>(
    State(state): State<SharedState<S>>,
    Staff(op, ..): Staff<perm::ManageOperators>,
) -> ApiResult<Json<OperatorList>> {
    let operators = state.oriole.list_operators(&op).await?;
    Ok(Json(OperatorList { operators }))
}

/// `POST /v1/admin/operators/{name}/disable`: disable an operator account
/// (`manage_operators`): login is refused and their sessions end at once.
#[utoipa::path(
    post, path = "/v1/admin/operators/{name}/disable", operation_id = "operator_disable", tag = "staff",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "The operator's name")),
    responses(
        (status = 200, description = "Disabled (or already was)", body = OperatorInfo),
        (status = 401, description = "`unauthorized`: not an operator session", body = ApiError),
        (status = 403, description = "`forbidden`: the role may not manage operators", body = ApiError),
        (status = 404, description = "`not_found`: no such operator", body = ApiError),
        (status = 409, description = "`conflict`: one's own account", body = ApiError),
    )
)]
pub async fn disable_operator<S: Store>(
    State(state): State<SharedState<S>>,
    Staff(op, ..): Staff<perm::ManageOperators>,
    PathParams(name): PathParams<String>,
) -> ApiResult<Json<OperatorInfo>> {
    Ok(Json(state.oriole.disable_operator(&op, &name).await?))
}

/// `PUT /v1/admin/password`: an operator (any role) sets their own new
/// password; their other sessions end, this one stays.
#[utoipa::path(
    put, path = "/v1/admin/password", operation_id = "operator_password", tag = "staff",
    security(("bearer" = [])),
    request_body = OperatorPasswordRequest,
    responses(
        (status = 204, description = "Changed"),
        (status = 400, description = "`invalid_input`: too short or too long", body = ApiError),
        (status = 401, description = "`unauthorized`: not an operator session", body = ApiError),
    )
)]
pub async fn change_password<S: Store>(
    State(state): State<SharedState<S>>,
    op: AnyOperator,
    JsonBody(req): JsonBody<OperatorPasswordRequest>,
) -> ApiResult<StatusCode> {
    state
        .oriole
        .change_operator_password(&op.operator, &op.token, req)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The justification every operator read of a user's data needs.
#[derive(Debug, Clone, Deserialize, IntoParams)]
pub struct JustificationQuery {
    /// `customer_support`, `legal_request`, `security_incident` or
    /// `abuse_report`.
    pub reason: Option<String>,
    /// The ticket the access is for.
    pub ticket: Option<String>,
}

impl JustificationQuery {
    fn parse(&self) -> ApiResult<Justification> {
        Ok(Justification::parse(
            self.reason.as_deref(),
            self.ticket.as_deref(),
        )?)
    }
}

/// `GET /v1/admin/users/{username}`: a user's account metadata, never
/// message content (`view_account_metadata`). Refused without a valid
/// reason code and a ticket; audited as `personal_data_access`, and shown
/// to the user in their access log.
#[utoipa::path(
    get, path = "/v1/admin/users/{username}", operation_id = "operator_user_show", tag = "staff",
    security(("bearer" = [])),
    params(("username" = String, Path, description = "The user"), JustificationQuery),
    responses(
        (status = 200, description = "The account metadata", body = UserAccountView),
        (status = 400, description = "`invalid_input`: no or an invalid reason code or ticket", body = ApiError),
        (status = 401, description = "`unauthorized`: not an operator session", body = ApiError),
        (status = 403, description = "`forbidden`: the role may not see account metadata", body = ApiError),
        (status = 404, description = "`not_found`: no such user", body = ApiError),
    )
)]
pub async fn user_show<S: Store>(
    State(state): State<SharedState<S>>,
    Staff(op, ..): Staff<perm::ViewAccountMetadata>,
    PathParams(username): PathParams<String>,
    QueryParams(q): QueryParams<JustificationQuery>,
) -> ApiResult<Json<UserAccountView>> {
    let why = q.parse()?;
    Ok(Json(
        state.oriole.operator_view_user(&op, &username, why).await?,
    ))
}

/// `GET /v1/admin/users/{username}/messages`: a user's messages, only
/// under an approval by another privacy officer (`request_content_access`
/// and a current grant); with a reason code and a ticket, audited.
#[utoipa::path(
    get, path = "/v1/admin/users/{username}/messages", operation_id = "operator_user_messages", tag = "staff",
    security(("bearer" = [])),
    params(("username" = String, Path, description = "The user"), JustificationQuery),
    responses(
        (status = 200, description = "The user's inbox", body = UserMessagesView),
        (status = 400, description = "`invalid_input`: no or an invalid reason code or ticket", body = ApiError),
        (status = 401, description = "`unauthorized`: not an operator session", body = ApiError),
        (status = 403, description = "`forbidden`: the role may not, or no current approval", body = ApiError),
    )
)]
pub async fn user_messages<S: Store>(
    State(state): State<SharedState<S>>,
    Staff(op, ..): Staff<perm::RequestContentAccess>,
    PathParams(username): PathParams<String>,
    QueryParams(q): QueryParams<JustificationQuery>,
) -> ApiResult<Json<UserMessagesView>> {
    let why = q.parse()?;
    let events = state
        .oriole
        .operator_view_messages(&op, &username, why)
        .await?;
    Ok(Json(UserMessagesView { events }))
}

/// `POST /v1/admin/content-access`: ask for time-limited access to a user's
/// message content (`request_content_access`).
#[utoipa::path(
    post, path = "/v1/admin/content-access", operation_id = "content_access_request", tag = "staff",
    security(("bearer" = [])),
    request_body = ContentAccessRequest,
    responses(
        (status = 201, description = "Requested; pending approval", body = ContentAccessGrant),
        (status = 400, description = "`invalid_input`", body = ApiError),
        (status = 401, description = "`unauthorized`: not an operator session", body = ApiError),
        (status = 403, description = "`forbidden`: the role may not", body = ApiError),
    )
)]
pub async fn content_access_request<S: Store>(
    State(state): State<SharedState<S>>,
    Staff(op, ..): Staff<perm::RequestContentAccess>,
    JsonBody(req): JsonBody<ContentAccessRequest>,
) -> ApiResult<(StatusCode, Json<ContentAccessGrant>)> {
    let grant = state.oriole.request_content_access(&op, req).await?;
    Ok((StatusCode::CREATED, Json(grant)))
}

/// `POST /v1/admin/content-access/{grant_id}/approve`: approve another
/// operator's request (`approve_content_access`); never one's own.
#[utoipa::path(
    post, path = "/v1/admin/content-access/{grant_id}/approve", operation_id = "content_access_approve", tag = "staff",
    security(("bearer" = [])),
    params(("grant_id" = String, Path, description = "The request")),
    responses(
        (status = 200, description = "Approved until `expires_at`", body = ContentAccessGrant),
        (status = 401, description = "`unauthorized`: not an operator session", body = ApiError),
        (status = 403, description = "`forbidden`: the role may not, or it is one's own request", body = ApiError),
        (status = 404, description = "`not_found`: no such request", body = ApiError),
        (status = 409, description = "`conflict`: already approved", body = ApiError),
    )
)]
pub async fn content_access_approve<S: Store>(
    State(state): State<SharedState<S>>,
    Staff(op, ..): Staff<perm::ApproveContentAccess>,
    PathParams(grant_id): PathParams<String>,
) -> ApiResult<Json<ContentAccessGrant>> {
    Ok(Json(
        state.oriole.approve_content_access(&op, &grant_id).await?,
    ))
}
