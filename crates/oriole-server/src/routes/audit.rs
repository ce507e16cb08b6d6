//! The audit log and the keys that make it checkable.

use axum::extract::State;
use axum::Json;
use oriole_core::Store;
use oriole_proto::{AccessLog, ApiError, AuditCheckpoints, AuditPage, ErrorCode, PublicKeys};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::{ApiResult, HttpError};
use crate::extract::{Authenticated, QueryParams};
use crate::staff::{perm, Staff};
use crate::state::SharedState;

/// `GET /v1/keys`: the server's ed25519 public keys: `audit` (checkpoints of
/// the audit log) and `receipt` (deletion receipts). Public: anyone must be
/// able to check a signature without an account.
#[utoipa::path(
    get, path = "/v1/keys", operation_id = "public_keys", tag = "audit",
    responses(
        (status = 200, description = "The public signing keys, as PEM and base64", body = PublicKeys),
        (status = 500, description = "`internal`: the key store failed", body = ApiError),
    )
)]
pub async fn public_keys<S: Store>(
    State(state): State<SharedState<S>>,
) -> ApiResult<Json<PublicKeys>> {
    Ok(Json(state.oriole.public_keys().await?))
}

/// Which page of the audit log.
#[derive(Debug, Clone, Copy, Deserialize, IntoParams)]
pub struct AuditPageQuery {
    /// Entries with a greater seq [default: 0, from the start].
    #[serde(default)]
    pub after: u64,
    /// At most this many [default: 1000; at most 10000].
    #[serde(default = "default_page")]
    pub limit: u32,
}

fn default_page() -> u32 {
    1000
}

fn to_values<T: serde::Serialize>(items: &[T]) -> ApiResult<Vec<serde_json::Value>> {
    items
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()
        .map_err(|e| HttpError::new(ErrorCode::Internal, format!("encoding the audit log: {e}")))
}

/// `GET /v1/audit/entries`: a page of the audit log (`read_audit_log`).
#[utoipa::path(
    get, path = "/v1/audit/entries", operation_id = "audit_entries", tag = "audit",
    security(("bearer" = [])),
    params(AuditPageQuery),
    responses(
        (status = 200, description = "Entries after `after`, oldest first", body = AuditPage),
        (status = 401, description = "`unauthorized`: not an operator session", body = ApiError),
        (status = 403, description = "`forbidden`: the role may not read the audit log", body = ApiError),
    )
)]
pub async fn entries<S: Store>(
    State(state): State<SharedState<S>>,
    Staff(op, ..): Staff<perm::ReadAuditLog>,
    QueryParams(q): QueryParams<AuditPageQuery>,
) -> ApiResult<Json<AuditPage>> {
    let entries = state.oriole.audit_log_page(&op, q.after, q.limit).await?;
    Ok(Json(AuditPage {
        entries: to_values(&entries)?,
    }))
}

/// `GET /v1/audit/checkpoints`: every signed checkpoint (`read_audit_log`).
#[utoipa::path(
    get, path = "/v1/audit/checkpoints", operation_id = "audit_checkpoints", tag = "audit",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The checkpoints, by increasing count", body = AuditCheckpoints),
        (status = 401, description = "`unauthorized`: not an operator session", body = ApiError),
        (status = 403, description = "`forbidden`: the role may not read the audit log", body = ApiError),
    )
)]
pub async fn checkpoints<S: Store>(
    State(state): State<SharedState<S>>,
    Staff(op, ..): Staff<perm::ReadAuditLog>,
) -> ApiResult<Json<AuditCheckpoints>> {
    let checkpoints = state.oriole.audit_log_checkpoints(&op).await?;
    Ok(Json(AuditCheckpoints {
        checkpoints: to_values(&checkpoints)?,
    }))
}

/// `GET /v1/me/access-log`: every access by staff to my data: when, in which
/// role (never who), why and what.
#[utoipa::path(
    get, path = "/v1/me/access-log", operation_id = "me_access_log", tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Staff accesses to my data, oldest first", body = AccessLog),
        (status = 401, description = "`unauthorized`", body = ApiError),
    )
)]
pub async fn access_log<S: Store>(
    State(state): State<SharedState<S>>,
    Authenticated(caller): Authenticated,
) -> ApiResult<Json<AccessLog>> {
    let accesses = state.oriole.access_log(&caller).await?;
    Ok(Json(AccessLog { accesses }))
}
