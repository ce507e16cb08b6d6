//! What Oriole does with personal data, served publicly.

use axum::Json;
use oriole_proto::PrivacyInventory;

/// `GET /v1/privacy/inventory`: the personal-data inventory (the "list of
/// personal information collected"), generated from the declaration in
/// `oriole_core::inventory`. Public: no session needed.
#[utoipa::path(
    get, path = "/v1/privacy/inventory", operation_id = "privacy_inventory", tag = "privacy",
    responses((
        status = 200,
        description = "Every personal-data item the server stores: category, storage fields, \
                       purposes, legal basis, retention, operator roles that may see it, \
                       third-party recipients and protection at rest",
        body = PrivacyInventory
    ))
)]
pub async fn inventory() -> Json<PrivacyInventory> {
    Json(PrivacyInventory {
        items: oriole_core::inventory::inventory_items(),
    })
}
