//! The REST routes under `/v1` and the router that joins them with the
//! WebSocket endpoint and the middleware stack.

pub mod accounts;
pub mod admin;
pub mod audit;
pub mod consent;
pub mod dsar;
pub mod groups;
pub mod me;
pub mod messages;
pub mod meta;
pub mod privacy;
pub mod privacy_admin;
pub mod sharing;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use axum::Router;
use oriole_core::Store;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};

use crate::middleware;
use crate::state::SharedState;
use crate::ws;

/// The whole application for one store backend.
pub fn router<S: Store>(state: SharedState<S>) -> Router {
    let timeout = state.settings.request_timeout();
    let rest = Router::new()
        .route("/v1/accounts", post(accounts::register::<S>))
        .route("/v1/sessions", post(accounts::login::<S>))
        .route("/v1/sessions/current", delete(accounts::logout::<S>))
        .route(
            "/v1/me",
            get(accounts::me::<S>)
                .patch(me::update::<S>)
                .delete(me::delete::<S>),
        )
        .route("/v1/me/data", get(me::data::<S>))
        .route(
            "/v1/admin/dsars",
            post(dsar::open::<S>).get(dsar::list::<S>),
        )
        .route("/v1/admin/dsars/{id}/complete", post(dsar::complete::<S>))
        .route("/v1/me/export", get(me::export::<S>))
        .route("/v1/devices", get(accounts::devices::<S>))
        .route(
            "/v1/devices/{device_id}",
            delete(accounts::revoke_device::<S>),
        )
        .route("/v1/messages", post(messages::send::<S>))
        .route("/v1/sync", get(messages::sync::<S>))
        .route("/v1/messages/{id}/receipts", post(messages::receipt::<S>))
        .route("/v1/messages/{id}/recall", post(messages::recall::<S>))
        .route(
            "/v1/groups",
            post(groups::create::<S>).get(groups::list::<S>),
        )
        .route(
            "/v1/groups/{id}",
            get(groups::get::<S>).patch(groups::update::<S>),
        )
        .route(
            "/v1/groups/{id}/members",
            get(groups::members::<S>).post(groups::add_member::<S>),
        )
        .route(
            "/v1/groups/{id}/members/{username}",
            delete(groups::remove_member::<S>),
        )
        .route("/v1/groups/{id}/leave", post(groups::leave::<S>))
        .route("/v1/groups/{id}/messages", get(groups::history::<S>))
        .route("/v1/health", get(meta::health))
        .route("/v1/openapi.json", get(meta::openapi))
        .route("/v1/privacy/inventory", get(privacy::inventory))
        .route(
            "/v1/privacy/third-parties",
            get(sharing::third_parties::<S>),
        )
        .route("/v1/me/sharing", get(sharing::my_sharing::<S>))
        .route(
            "/v1/me/sharing/{recipient}",
            post(sharing::grant::<S>).delete(sharing::revoke::<S>),
        )
        .route(
            "/v1/admin/third-parties",
            post(sharing::register::<S>).get(sharing::admin_list::<S>),
        )
        .route(
            "/v1/admin/disclosures",
            post(sharing::record_disclosure::<S>),
        )
        .route(
            "/v1/admin/third-parties/dead-letters",
            get(sharing::dead_letters::<S>),
        )
        .route(
            "/v1/third-parties/{recipient}/callback",
            post(sharing::callback::<S>),
        )
        .route("/v1/privacy/policy", get(consent::policy::<S>))
        .route(
            "/v1/me/consents",
            get(consent::consents::<S>).put(consent::set_consent::<S>),
        )
        .route("/v1/me/analytics", post(consent::analytics::<S>))
        .route("/v1/me/policy", get(consent::policy_status::<S>))
        .route(
            "/v1/admin/policies",
            post(privacy_admin::publish_policy::<S>),
        )
        .route(
            "/v1/admin/retention",
            get(privacy_admin::retention_rules::<S>),
        )
        .route(
            "/v1/admin/retention/run",
            post(privacy_admin::run_retention::<S>),
        )
        .route(
            "/v1/me/policy/acceptances",
            post(consent::accept_policy::<S>),
        )
        .route("/v1/keys", get(audit::public_keys::<S>))
        .route("/v1/audit/entries", get(audit::entries::<S>))
        .route("/v1/audit/checkpoints", get(audit::checkpoints::<S>))
        .route("/v1/admin/sessions", post(admin::login::<S>))
        .route("/v1/admin/sessions/current", delete(admin::logout::<S>))
        .route(
            "/v1/admin/operators",
            post(admin::add_operator::<S>).get(admin::list_operators::<S>),
        )
        .route(
            "/v1/admin/operators/{name}/disable",
            post(admin::disable_operator::<S>),
        )
        .route("/v1/admin/password", put(admin::change_password::<S>))
        .route("/v1/admin/users/{username}", get(admin::user_show::<S>))
        .route(
            "/v1/admin/users/{username}/messages",
            get(admin::user_messages::<S>),
        )
        .route(
            "/v1/admin/content-access",
            post(admin::content_access_request::<S>),
        )
        .route(
            "/v1/admin/content-access/{grant_id}/approve",
            post(admin::content_access_approve::<S>),
        )
        .route("/v1/me/access-log", get(audit::access_log::<S>))
        // REST only: a WebSocket session outlives its upgrade request.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(RequestBodyTimeoutLayer::new(timeout));
    let realtime = Router::new().route("/v1/ws", get(ws::upgrade::<S>));
    let app = rest
        .merge(realtime)
        .fallback(meta::not_found)
        .method_not_allowed_fallback(meta::not_found)
        .layer(DefaultBodyLimit::max(state.settings.max_body_bytes()))
        .with_state(state);
    middleware::wrap(app)
}
