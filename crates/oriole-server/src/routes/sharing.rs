//! Third-party sharing (P13): the public sharing list, the caller's
//! per-recipient consent and ledger, and the signed callback bots reply
//! through. Registering recipients is an operator route.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use oriole_core::Store;
use oriole_gateway::SIGNATURE_HEADER;
use oriole_proto::{
    ApiError, CallbackAccepted, DeadLetters, DisclosureRecord, MySharing, RecordDisclosure,
    RegisterRecipient, RegisteredRecipient, SharingConsentStatus, ThirdParties,
};
use serde::Deserialize;

use crate::error::ApiResult;
use crate::extract::{Authenticated, JsonBody, PathParams};
use crate::staff::{perm, Staff};
use crate::state::SharedState;

#[derive(Debug, Deserialize)]
pub struct RecipientPath {
    pub recipient: String,
}

/// `GET /v1/privacy/third-parties`: the third-party sharing list. Public.
#[utoipa::path(
    get, path = "/v1/privacy/third-parties", operation_id = "privacy_third_parties",
    tag = "privacy",
    responses((
        status = 200,
        description = "Every registered recipient: contact, purpose, data categories, legal \
                       basis, retention at the recipient and the bot it answers for",
        body = ThirdParties
    ))
)]
pub async fn third_parties<S: Store>(
    State(state): State<SharedState<S>>,
) -> ApiResult<Json<ThirdParties>> {
    Ok(Json(state.oriole.third_parties().await?))
}

/// `GET /v1/me/sharing`: what was shared with which third party, and the
/// consents in force.
#[utoipa::path(
    get, path = "/v1/me/sharing", tag = "me",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The sharing ledger, newest first, and current grants", body = MySharing),
        (status = 401, description = "`unauthorized`", body = ApiError),
    )
)]
pub async fn my_sharing<S: Store>(
    State(state): State<SharedState<S>>,
    Authenticated(caller): Authenticated,
) -> ApiResult<Json<MySharing>> {
    Ok(Json(state.oriole.my_sharing(caller.user_id).await?))
}

/// `POST /v1/me/sharing/{recipient}`: grant consent to share with a
/// recipient (separate consent, per recipient).
#[utoipa::path(
    post, path = "/v1/me/sharing/{recipient}", tag = "me",
    security(("bearer" = [])),
    params(("recipient" = String, Path, description = "The recipient's registered name")),
    responses(
        (status = 200, description = "Granted (or already granted)", body = SharingConsentStatus),
        (status = 401, description = "`unauthorized`", body = ApiError),
        (status = 404, description = "`not_found`: no such third party", body = ApiError),
    )
)]
pub async fn grant<S: Store>(
    State(state): State<SharedState<S>>,
    Authenticated(caller): Authenticated,
    PathParams(path): PathParams<RecipientPath>,
) -> ApiResult<Json<SharingConsentStatus>> {
    Ok(Json(
        state
            .oriole
            .set_sharing(&caller, &path.recipient, true)
            .await?,
    ))
}

/// `DELETE /v1/me/sharing/{recipient}`: revoke: queued deliveries are
/// dropped at once and the recipient is sent a signed erasure request.
#[utoipa::path(
    delete, path = "/v1/me/sharing/{recipient}", tag = "me",
    security(("bearer" = [])),
    params(("recipient" = String, Path, description = "The recipient's registered name")),
    responses(
        (status = 200, description = "Revoked (or not granted)", body = SharingConsentStatus),
        (status = 401, description = "`unauthorized`", body = ApiError),
        (status = 404, description = "`not_found`: no such third party", body = ApiError),
    )
)]
pub async fn revoke<S: Store>(
    State(state): State<SharedState<S>>,
    Authenticated(caller): Authenticated,
    PathParams(path): PathParams<RecipientPath>,
) -> ApiResult<Json<SharingConsentStatus>> {
    Ok(Json(
        state
            .oriole
            .set_sharing(&caller, &path.recipient, false)
            .await?,
    ))
}

/// `POST /v1/third-parties/{recipient}/callback`: a bot's reply, signed
/// with the recipient's secret like a webhook (`Oriole-Signature`); it
/// reaches the user as an ordinary message from the bot.
#[utoipa::path(
    post, path = "/v1/third-parties/{recipient}/callback", operation_id = "third_party_callback",
    tag = "privacy",
    params(("recipient" = String, Path, description = "The recipient's registered name")),
    request_body(content = String, description = "JSON `{\"user\": PSEUDONYM, \"text\": TEXT, \"payload\": {..}}`, signed; see docs/sharing.md"),
    responses(
        (status = 201, description = "Delivered to the user", body = CallbackAccepted),
        (status = 401, description = "`unauthorized`: missing, wrong or stale signature", body = ApiError),
        (status = 404, description = "`not_found`: no such third party, or no consenting user has the pseudonym", body = ApiError),
    )
)]
pub async fn callback<S: Store>(
    State(state): State<SharedState<S>>,
    PathParams(path): PathParams<RecipientPath>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<CallbackAccepted>)> {
    let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    let accepted = state
        .oriole
        .bot_callback(&path.recipient, signature, &body)
        .await?;
    Ok((StatusCode::CREATED, Json(accepted)))
}

/// `POST /v1/admin/third-parties`: register a recipient
/// (`manage_third_parties`: privacy officer). The signing secret is in the
/// answer, this once.
#[utoipa::path(
    post, path = "/v1/admin/third-parties", operation_id = "third_party_add", tag = "staff",
    security(("bearer" = [])),
    request_body = RegisterRecipient,
    responses(
        (status = 201, description = "Registered; the signing secret is shown once", body = RegisteredRecipient),
        (status = 400, description = "`invalid_input`", body = ApiError),
        (status = 401, description = "`unauthorized`: not an operator session", body = ApiError),
        (status = 403, description = "`forbidden`: the role lacks `manage_third_parties`", body = ApiError),
        (status = 404, description = "`not_found`: no such bot user", body = ApiError),
        (status = 409, description = "`conflict`: the name or the bot is taken", body = ApiError),
    )
)]
pub async fn register<S: Store>(
    State(state): State<SharedState<S>>,
    Staff(op, ..): Staff<perm::ManageThirdParties>,
    JsonBody(req): JsonBody<RegisterRecipient>,
) -> ApiResult<(StatusCode, Json<RegisteredRecipient>)> {
    let (recipient, url, secret) = state.oriole.register_recipient(op.actor(), req).await?;
    Ok((
        StatusCode::CREATED,
        Json(RegisteredRecipient {
            recipient,
            url: url.to_string(),
            signing_secret: secret.expose().to_owned(),
        }),
    ))
}

/// `GET /v1/admin/third-parties`: the registry (`manage_third_parties`).
#[utoipa::path(
    get, path = "/v1/admin/third-parties", operation_id = "third_party_list", tag = "staff",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every registered recipient", body = ThirdParties),
        (status = 401, description = "`unauthorized`: not an operator session", body = ApiError),
        (status = 403, description = "`forbidden`: the role lacks `manage_third_parties`", body = ApiError),
    )
)]
pub async fn admin_list<S: Store>(
    State(state): State<SharedState<S>>,
    _op: Staff<perm::ManageThirdParties>,
) -> ApiResult<Json<ThirdParties>> {
    Ok(Json(state.oriole.third_parties().await?))
}

/// `GET /v1/admin/third-parties/dead-letters`: webhooks that failed every
/// attempt (`manage_third_parties`).
#[utoipa::path(
    get, path = "/v1/admin/third-parties/dead-letters", operation_id = "third_party_dead_letters",
    tag = "staff",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The dead-letter store, oldest first", body = DeadLetters),
        (status = 401, description = "`unauthorized`: not an operator session", body = ApiError),
        (status = 403, description = "`forbidden`: the role lacks `manage_third_parties`", body = ApiError),
    )
)]
pub async fn dead_letters<S: Store>(
    State(state): State<SharedState<S>>,
    _op: Staff<perm::ManageThirdParties>,
) -> ApiResult<Json<DeadLetters>> {
    Ok(Json(state.oriole.dead_letters().await?))
}

/// `POST /v1/admin/disclosures`: record a legal disclosure
/// (`record_disclosure`: privacy officer). Answers with the export of the
/// sections in scope; the user sees the access at once, or when the
/// deferral ends.
#[utoipa::path(
    post, path = "/v1/admin/disclosures", operation_id = "disclosure_record", tag = "staff",
    security(("bearer" = [])),
    request_body = RecordDisclosure,
    responses(
        (status = 201, description = "Recorded and audited; the scoped export", body = DisclosureRecord),
        (status = 400, description = "`invalid_input`", body = ApiError),
        (status = 401, description = "`unauthorized`: not an operator session", body = ApiError),
        (status = 403, description = "`forbidden`: the role lacks `record_disclosure`", body = ApiError),
        (status = 404, description = "`not_found`: no such user", body = ApiError),
    )
)]
pub async fn record_disclosure<S: Store>(
    State(state): State<SharedState<S>>,
    Staff(op, ..): Staff<perm::RecordDisclosure>,
    JsonBody(req): JsonBody<RecordDisclosure>,
) -> ApiResult<(StatusCode, Json<DisclosureRecord>)> {
    let record = state.oriole.record_disclosure(&op, req).await?;
    Ok((StatusCode::CREATED, Json(record)))
}
