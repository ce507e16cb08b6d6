//! Typed extractors whose rejections are [`HttpError`]s, so that a bad
//! body, query, path or token gets the same JSON error shape as everything
//! else (axum's own rejections are plain text).

use std::net::{IpAddr, SocketAddr};

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use oriole_core::{Caller, Store};
use oriole_proto::ErrorCode;
use serde::de::DeserializeOwned;

use crate::error::HttpError;
use crate::state::SharedState;

/// A JSON request body. Not JSON, the wrong shape or the wrong content type
/// is `malformed_frame`; a body over the limit is `payload_too_large`.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<T, St> FromRequest<St> for JsonBody<T>
where
    T: DeserializeOwned,
    St: Send + Sync,
{
    type Rejection = HttpError;

    async fn from_request(req: Request, state: &St) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

fn json_rejection(rejection: &JsonRejection) -> HttpError {
    match rejection {
        JsonRejection::JsonDataError(e) => HttpError::new(
            ErrorCode::MalformedFrame,
            format!("request body has the wrong shape: {}", e.body_text()),
        ),
        JsonRejection::JsonSyntaxError(_) => {
            HttpError::new(ErrorCode::MalformedFrame, "request body is not valid JSON")
        }
        JsonRejection::MissingJsonContentType(_) => HttpError::new(
            ErrorCode::MalformedFrame,
            "expected a request body with `Content-Type: application/json`",
        ),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => HttpError::new(
            ErrorCode::PayloadTooLarge,
            "request body is larger than the server accepts",
        ),
        _ => HttpError::new(ErrorCode::MalformedFrame, "could not read the request body"),
    }
}

/// Query parameters; a bad one is `invalid_input`.
#[derive(Debug, Clone)]
pub struct QueryParams<T>(pub T);

impl<T, St> FromRequestParts<St> for QueryParams<T>
where
    T: DeserializeOwned,
    St: Send + Sync,
{
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| QueryParams(q.0))
            .map_err(|e: QueryRejection| {
                HttpError::new(
                    ErrorCode::InvalidInput,
                    format!("bad query parameters: {}", e.body_text()),
                )
            })
    }
}

/// Path parameters; a bad one is `invalid_input`.
#[derive(Debug, Clone)]
pub struct PathParams<T>(pub T);

impl<T, St> FromRequestParts<St> for PathParams<T>
where
    T: DeserializeOwned + Send,
    St: Send + Sync,
{
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| PathParams(p.0))
            .map_err(|e: PathRejection| {
                HttpError::new(
                    ErrorCode::InvalidInput,
                    format!("bad path parameters: {}", e.body_text()),
                )
            })
    }
}

/// The token of an `Authorization: Bearer TOKEN` header, if there is one.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

pub fn unauthorized(message: &str) -> HttpError {
    HttpError::new(ErrorCode::Unauthorized, message)
}

/// The caller behind the request's bearer token.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Caller);

impl<S: Store> FromRequestParts<SharedState<S>> for Authenticated {
    type Rejection = HttpError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &SharedState<S>,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers)
            .ok_or_else(|| unauthorized("missing `Authorization: Bearer` token"))?;
        let caller = state.oriole.authenticate(token).await?;
        Ok(Authenticated(caller))
    }
}

/// The client's IP address: the TCP peer, or with `trust_forwarded_for`
/// the last (proxy-appended) entry of `X-Forwarded-For`.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl ClientIp {
    pub fn to_option_string(self) -> Option<String> {
        self.0.map(|ip| ip.to_canonical().to_string())
    }
}

impl<S: Store> FromRequestParts<SharedState<S>> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &SharedState<S>,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        if state.settings.trust_forwarded_for {
            if let Some(forwarded) = forwarded_for(&parts.headers) {
                return Ok(ClientIp(Some(forwarded)));
            }
        }
        Ok(ClientIp(peer))
    }
}

fn forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .next_back()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn bearer_tokens() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer_token(&h), None);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(bearer_token(&h), Some("abc"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  abc "),
        );
        assert_eq!(bearer_token(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_token(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer_token(&h), None);
    }

    #[test]
    fn forwarded_for_takes_the_last_valid_entry() {
        let mut h = HeaderMap::new();
        assert_eq!(forwarded_for(&h), None);
        h.append(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 10.0.0.1"),
        );
        h.append(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.9, junk"),
        );
        assert_eq!(forwarded_for(&h), "203.0.113.9".parse().ok());
    }
}
