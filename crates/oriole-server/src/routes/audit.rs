//! The audit log and the keys that make it checkable.

use axum::extract::State;
use axum::Json;
use oriole_core::Store;
use oriole_proto::{ApiError, PublicKeys};

use crate::error::ApiResult;
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
