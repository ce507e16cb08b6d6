//! Health, the OpenAPI document, and the answers for unknown routes.

use std::sync::LazyLock;

use axum::http::{header, Method, Uri};
use axum::response::IntoResponse;
use axum::Json;
use oriole_proto::{ErrorCode, Health};

use crate::error::HttpError;

/// `GET /v1/health`: liveness, with the protocol and server versions.
#[utoipa::path(
    get, path = "/v1/health", tag = "meta",
    responses((status = 200, description = "The server is up", body = Health))
)]
pub async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".to_owned(),
        protocol: oriole_proto::PROTOCOL_VERSION,
        version: env!("CARGO_PKG_VERSION").to_owned(),
    })
}

/// `GET /v1/openapi.json`: this API as an OpenAPI 3.1 document (the same as
/// `docs/openapi.json`).
#[utoipa::path(
    get, path = "/v1/openapi.json", operation_id = "openapi_document", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json"))
)]
pub async fn openapi() -> impl IntoResponse {
    static DOCUMENT: LazyLock<String> = LazyLock::new(crate::openapi::openapi_json);
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
}

/// Any route the server does not have.
pub async fn not_found(method: Method, uri: Uri) -> HttpError {
    HttpError::new(
        ErrorCode::NotFound,
        format!("no route for {method} {}", uri.path()),
    )
}
