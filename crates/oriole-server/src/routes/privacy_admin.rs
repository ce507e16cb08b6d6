//! Operator routes for the privacy policy and retention: publishing a
//! policy version (privacy officer) and running retention (admin). Both
//! are audited by the services with the operator as the actor.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use oriole_core::Store;
use oriole_proto::{
    ApiError, PolicyPublished, PublishPolicy, RetentionReport, RetentionRules, RetentionRunRequest,
};

use crate::error::ApiResult;
use crate::extract::JsonBody;
use crate::staff::{perm, Staff};
use crate::state::SharedState;

/// `POST /v1/admin/policies`: publish a policy version's text in one
/// language; a new version is announced to users.
#[utoipa::path(
    post, path = "/v1/admin/policies", operation_id = "publish_policy", tag = "privacy",
    security(("bearer" = [])),
    request_body = PublishPolicy,
    responses(
        (status = 201, description = "Published", body = PolicyPublished),
        (status = 400, description = "`invalid_input`: empty text, bad language, a version not above the current one", body = ApiError),
        (status = 401, description = "`unauthorized`: no operator token", body = ApiError),
        (status = 403, description = "`forbidden`: the role may not publish policies", body = ApiError),
        (status = 409, description = "`conflict`: the version already has a text in that language", body = ApiError),
    )
)]
pub async fn publish_policy<S: Store>(
    State(state): State<SharedState<S>>,
    Staff(op, _): Staff<perm::PublishPolicy>,
    JsonBody(req): JsonBody<PublishPolicy>,
) -> ApiResult<(StatusCode, Json<PolicyPublished>)> {
    let published = state.oriole.publish_policy(op.actor(), req).await?;
    Ok((StatusCode::CREATED, Json(published)))
}

/// `GET /v1/admin/retention`: the retention rules and their periods, and
/// the background purges of deleted accounts still running.
#[utoipa::path(
    get, path = "/v1/admin/retention", operation_id = "retention_rules", tag = "privacy",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The rules, and the deletion purges not finished", body = RetentionRules),
        (status = 401, description = "`unauthorized`: no operator token", body = ApiError),
        (status = 403, description = "`forbidden`: the role may not run retention", body = ApiError),
    )
)]
pub async fn retention_rules<S: Store>(
    State(state): State<SharedState<S>>,
    _op: Staff<perm::RunRetention>,
) -> ApiResult<Json<RetentionRules>> {
    let mut rules = state
        .oriole
        .retention_rules(&state.settings.retention.config());
    rules.deletion_purges = state.oriole.deletion_purge_report().await?;
    Ok(Json(rules))
}

/// `POST /v1/admin/retention/run`: apply the retention rules now (all, or
/// one), or with `dry_run` count what they would remove.
#[utoipa::path(
    post, path = "/v1/admin/retention/run", operation_id = "run_retention", tag = "privacy",
    security(("bearer" = [])),
    request_body = RetentionRunRequest,
    responses(
        (status = 200, description = "What was (or would be) removed, per rule", body = RetentionReport),
        (status = 400, description = "`invalid_input`: unknown rule", body = ApiError),
        (status = 401, description = "`unauthorized`: no operator token", body = ApiError),
        (status = 403, description = "`forbidden`: the role may not run retention", body = ApiError),
    )
)]
pub async fn run_retention<S: Store>(
    State(state): State<SharedState<S>>,
    Staff(op, _): Staff<perm::RunRetention>,
    JsonBody(req): JsonBody<RetentionRunRequest>,
) -> ApiResult<Json<RetentionReport>> {
    let config = state.settings.retention.config();
    let report = state.oriole.run_retention(op.actor(), &config, req).await?;
    state.metrics.retention_ran(&report);
    Ok(Json(report))
}
