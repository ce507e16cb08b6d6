//! The middleware stack every request passes: sensitive headers masked,
//! request tracing without bodies or query strings, panics turned into
//! 500s, JSON error bodies, and security headers.

use std::any::Any;

use axum::extract::{MatchedPath, Request};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use oriole_proto::ErrorCode;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::error::HttpError;

/// Headers that tell browsers to treat every answer as inert data.
const SECURITY_HEADERS: &[(&str, &str)] = &[
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    (
        "content-security-policy",
        "default-src 'none'; frame-ancestors 'none'",
    ),
    ("cache-control", "no-store"),
    ("cross-origin-resource-policy", "same-origin"),
];

/// HTTPS only: browsers that reached the server over HTTPS keep to it for a
/// year.
const HSTS: &str = "max-age=31536000";

/// Add `Strict-Transport-Security` to every answer (HTTPS listeners only:
/// the header means nothing over plain HTTP).
pub fn hsts(app: Router) -> Router {
    app.layer(SetResponseHeaderLayer::overriding(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static(HSTS),
    ))
}

/// Wrap the application in the stack (outermost first).
pub fn wrap(app: Router) -> Router {
    let mut app = app
        .layer(axum::middleware::map_response(json_error_bodies))
        .layer(CatchPanicLayer::custom(panic_response));
    for (name, value) in SECURITY_HEADERS {
        app = app.layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        ));
    }
    app.layer(
        ServiceBuilder::new()
            // Before tracing, so no layer below can log the token.
            .layer(SetSensitiveRequestHeadersLayer::new([
                header::AUTHORIZATION,
                header::COOKIE,
            ]))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(request_span)
                    .on_response(DefaultOnResponse::new().level(Level::INFO)),
            ),
    )
}

/// The span of one request: method and route template only. The raw path
/// may name a user and the query may hold a token (`/v1/ws?token=`).
fn request_span(request: &Request) -> tracing::Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("(unmatched)", MatchedPath::as_str);
    tracing::info_span!("request", method = %request.method(), route = %route)
}

fn panic_response(_panic: Box<dyn Any + Send + 'static>) -> Response {
    // The payload may quote data from the request; it is not logged.
    tracing::error!("request handler panicked");
    HttpError::new(ErrorCode::Internal, "internal error").into_response()
}

/// Give error responses that a lower layer produced without a body (a
/// timeout, for instance) the `ApiError` shape every client expects.
async fn json_error_bodies(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (code, message) = match status {
        StatusCode::BAD_REQUEST => (ErrorCode::MalformedFrame, "bad request"),
        StatusCode::UNAUTHORIZED => (ErrorCode::Unauthorized, "unauthorized"),
        StatusCode::FORBIDDEN => (ErrorCode::Forbidden, "forbidden"),
        StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => {
            (ErrorCode::NotFound, "no such route")
        }
        StatusCode::REQUEST_TIMEOUT => (ErrorCode::Internal, "request timed out"),
        StatusCode::PAYLOAD_TOO_LARGE => (
            ErrorCode::PayloadTooLarge,
            "request body is larger than the server accepts",
        ),
        StatusCode::TOO_MANY_REQUESTS => (ErrorCode::RateLimited, "too many requests"),
        s if s.is_client_error() => (ErrorCode::InvalidInput, "bad request"),
        _ => (ErrorCode::Internal, "internal error"),
    };
    let (mut parts, _) = response.into_parts();
    let body = HttpError::new(code, message).into_response();
    // Keep the original status and headers (e.g. `Allow`), replace the body.
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, body.into_body())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use oriole_proto::ApiError;
    use tower::ServiceExt;

    async fn call(app: Router, path: &str) -> (StatusCode, Option<HeaderValue>, ApiError) {
        let request = Request::builder()
            .uri(path)
            .body(Body::empty())
            .expect("request");
        let response = app.oneshot(request).await.expect("infallible");
        let status = response.status();
        let nosniff = response.headers().get("x-content-type-options").cloned();
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .expect("body");
        let error: ApiError = serde_json::from_slice(&body).expect("an ApiError body");
        (status, nosniff, error)
    }

    #[tokio::test]
    async fn a_panicking_handler_becomes_a_json_500() {
        let app = wrap(Router::new().route(
            "/boom",
            get(|| async {
                if true {
                    panic!("handler bug");
                }
                "unreachable"
            }),
        ));
        let (status, nosniff, error) = call(app, "/boom").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(error.code, ErrorCode::Internal);
        assert_eq!(nosniff, Some(HeaderValue::from_static("nosniff")));
    }

    #[tokio::test]
    async fn bare_error_statuses_get_json_bodies() {
        let app = wrap(
            Router::new()
                .route("/slow", get(|| async { StatusCode::REQUEST_TIMEOUT }))
                .route("/big", get(|| async { StatusCode::PAYLOAD_TOO_LARGE })),
        );
        let (status, _, error) = call(app.clone(), "/slow").await;
        assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
        assert_eq!(error.code, ErrorCode::Internal);
        let (status, _, error) = call(app, "/big").await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(error.code, ErrorCode::PayloadTooLarge);
    }
}
