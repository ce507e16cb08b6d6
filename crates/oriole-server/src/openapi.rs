//! The OpenAPI 3.1 document, generated from the handlers' annotations and
//! served at `GET /v1/openapi.json`; `docs/openapi.json` is a committed copy
//! that a test keeps in step.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{
    accounts, admin, audit, consent, dsar, groups, me, messages, meta, privacy, privacy_admin,
    sharing,
};
use crate::ws;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Oriole",
        description = "REST API of the Oriole IM server. Every error is an `ApiError` with the \
                       HTTP status of its code. Real-time delivery is the WebSocket at `/v1/ws`, \
                       described in docs/protocol.md."
    ),
    paths(
        accounts::register,
        accounts::login,
        accounts::logout,
        accounts::me,
        accounts::devices,
        accounts::revoke_device,
        me::update,
        me::data,
        me::delete,
        me::export,
        dsar::open,
        dsar::list,
        dsar::complete,
        messages::send,
        messages::sync,
        messages::receipt,
        messages::recall,
        groups::create,
        groups::list,
        groups::get,
        groups::update,
        groups::members,
        groups::add_member,
        groups::remove_member,
        groups::leave,
        groups::history,
        ws::upgrade,
        meta::health,
        meta::openapi,
        privacy::inventory,
        sharing::third_parties,
        sharing::my_sharing,
        sharing::grant,
        sharing::revoke,
        sharing::callback,
        sharing::register,
        sharing::admin_list,
        sharing::dead_letters,
        sharing::record_disclosure,
        consent::policy,
        consent::consents,
        consent::set_consent,
        consent::analytics,
        consent::policy_status,
        consent::accept_policy,
        privacy_admin::publish_policy,
        privacy_admin::retention_rules,
        privacy_admin::run_retention,
        audit::public_keys,
        audit::entries,
        audit::checkpoints,
        admin::login,
        admin::logout,
        admin::add_operator,
        admin::list_operators,
        admin::disable_operator,
        admin::change_password,
        admin::user_show,
        admin::user_messages,
        admin::content_access_request,
        admin::content_access_approve,
        audit::access_log,
    ),
    components(schemas(oriole_proto::ErrorCode, oriole_proto::InboxEvent)),
    modifiers(&BearerAuth),
    tags(
        (name = "accounts", description = "Accounts, sessions and devices"),
        (name = "messages", description = "Sending, syncing, receipts and recall"),
        (name = "groups", description = "Group conversations"),
        (name = "me", description = "Your rights over your data: see, export, correct, delete"),
        (name = "realtime", description = "The WebSocket endpoint"),
        (name = "meta", description = "Health and this document"),
        (name = "privacy", description = "What the server does with personal data"),
        (name = "audit", description = "The tamper-evident audit log and the server's signing keys"),
        (name = "staff", description = "Operator sessions and accounts; every route but login needs an operator token and a role holding its permission (docs/roles.md)"),
    )
)]
pub struct ApiDoc;

/// The `bearer` scheme the authenticated routes name.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The session token from `POST /v1/accounts` or `POST /v1/sessions`",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document as pretty-printed JSON with a final newline, exactly as
/// committed in `docs/openapi.json`.
pub fn openapi_json() -> String {
    let mut json = openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    json.push('\n');
    json
}
