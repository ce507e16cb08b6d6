//! Purposes and consent, and the privacy policy (PRIVACY.md P2, P15).
//! None of these pass the re-consent gate: reading the policy, accepting
//! it and changing consent must work while an acceptance is pending.

use axum::extract::State;
use axum::Json;
use oriole_core::Store;
use oriole_proto::{
    AcceptPolicy, AnalyticsEvent, AnalyticsRecorded, ApiError, Consents, PolicyDocument,
    PolicyStatus, SetConsent,
};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::ApiResult;
use crate::extract::{Authenticated, JsonBody, QueryParams};
use crate::state::SharedState;

/// `GET /v1/me/consents`: every purpose with the caller's state, and the
/// full history of their consent changes.
#[utoipa::path(
    get, path = "/v1/me/consents", operation_id = "consents", tag = "privacy",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every purpose and the consent history", body = Consents),
        (status = 401, description = "`unauthorized`", body = ApiError),
    )
)]
pub async fn consents<S: Store>(
    State(state): State<SharedState<S>>,
    Authenticated(caller): Authenticated,
) -> ApiResult<Json<Consents>> {
    Ok(Json(state.oriole.consents(&caller).await?))
}

/// `PUT /v1/me/consents`: grant or withdraw an optional purpose.
/// Withdrawing stops collection at once and erases what was collected for
/// the purpose.
#[utoipa::path(
    put, path = "/v1/me/consents", operation_id = "set_consent", tag = "privacy",
    security(("bearer" = [])),
    request_body = SetConsent,
    responses(
        (status = 200, description = "The consent was recorded; the new state", body = Consents),
        (status = 400, description = "`invalid_input`: unknown or necessary purpose", body = ApiError),
        (status = 401, description = "`unauthorized`", body = ApiError),
    )
)]
pub async fn set_consent<S: Store>(
    State(state): State<SharedState<S>>,
    Authenticated(caller): Authenticated,
    JsonBody(req): JsonBody<SetConsent>,
) -> ApiResult<Json<Consents>> {
    Ok(Json(state.oriole.set_consent(&caller, req).await?))
}

/// `POST /v1/me/analytics`: report a usage event; stored only with
/// `product_analytics` consent, and the call succeeds either way.
#[utoipa::path(
    post, path = "/v1/me/analytics", operation_id = "record_analytics", tag = "privacy",
    security(("bearer" = [])),
    request_body = AnalyticsEvent,
    responses(
        (status = 200, description = "Whether the event was stored", body = AnalyticsRecorded),
        (status = 400, description = "`invalid_input`: not an event name", body = ApiError),
        (status = 401, description = "`unauthorized`", body = ApiError),
    )
)]
pub async fn analytics<S: Store>(
    State(state): State<SharedState<S>>,
    Authenticated(caller): Authenticated,
    JsonBody(event): JsonBody<AnalyticsEvent>,
) -> ApiResult<Json<AnalyticsRecorded>> {
    Ok(Json(state.oriole.record_analytics(&caller, event).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct PolicyQuery {
    /// A version (default: the current one).
    pub version: Option<u32>,
    /// A language tag such as `zh-CN` (default and fallback: `en`).
    pub lang: Option<String>,
}

/// `GET /v1/privacy/policy`: a privacy policy text. Public.
#[utoipa::path(
    get, path = "/v1/privacy/policy", operation_id = "privacy_policy", tag = "privacy",
    params(PolicyQuery),
    responses(
        (status = 200, description = "The policy text", body = PolicyDocument),
        (status = 400, description = "`invalid_input`: bad version or language", body = ApiError),
        (status = 404, description = "`not_found`: no such version", body = ApiError),
    )
)]
pub async fn policy<S: Store>(
    State(state): State<SharedState<S>>,
    QueryParams(q): QueryParams<PolicyQuery>,
) -> ApiResult<Json<PolicyDocument>> {
    Ok(Json(
        state
            .oriole
            .policy_document(q.version, q.lang.as_deref())
            .await?,
    ))
}

/// `GET /v1/me/policy`: the current version, the one the caller accepted,
/// and whether an acceptance is required.
#[utoipa::path(
    get, path = "/v1/me/policy", operation_id = "policy_status", tag = "privacy",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Where the caller stands", body = PolicyStatus),
        (status = 401, description = "`unauthorized`", body = ApiError),
    )
)]
pub async fn policy_status<S: Store>(
    State(state): State<SharedState<S>>,
    Authenticated(caller): Authenticated,
) -> ApiResult<Json<PolicyStatus>> {
    Ok(Json(state.oriole.policy_status(&caller).await?))
}

/// `POST /v1/me/policy/acceptances`: accept the current version.
#[utoipa::path(
    post, path = "/v1/me/policy/acceptances", operation_id = "accept_policy", tag = "privacy",
    security(("bearer" = [])),
    request_body = AcceptPolicy,
    responses(
        (status = 200, description = "Accepted; where the caller now stands", body = PolicyStatus),
        (status = 400, description = "`invalid_input`: not the current version", body = ApiError),
        (status = 401, description = "`unauthorized`", body = ApiError),
        (status = 404, description = "`not_found`: no such version", body = ApiError),
    )
)]
pub async fn accept_policy<S: Store>(
    State(state): State<SharedState<S>>,
    Authenticated(caller): Authenticated,
    JsonBody(req): JsonBody<AcceptPolicy>,
) -> ApiResult<Json<PolicyStatus>> {
    Ok(Json(state.oriole.accept_policy(&caller, req).await?))
}
