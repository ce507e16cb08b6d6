//! The data subject's rights on the wire: correcting the profile
//! (`PATCH /v1/me`), seeing everything held (`GET /v1/me/data`), deleting
//! the account (`DELETE /v1/me`) and its signed receipt. The export
//! archive's layout is in docs/export-format.md.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `PATCH /v1/me`: correct the profile. An absent field is left as it is;
/// an empty string removes the value; anything else replaces it (and is
/// validated like at registration).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProfile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// One correction the user made: which field, whether it was set or
/// removed, and when. The old and new values are not kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CorrectionInfo {
    /// `display_name`, `phone` or `email`.
    pub field: String,
    /// `set` or `cleared`.
    pub change: String,
    pub at: i64,
}

/// `GET /v1/me/data`: everything Oriole holds about the caller, section
/// by section. Each section names the inventory items
/// (`GET /v1/privacy/inventory`) it shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MyData {
    pub user_id: String,
    pub username: String,
    /// When this view was made (ms since the epoch).
    pub generated_at: i64,
    pub sections: Vec<DataSection>,
}

/// One part of [`MyData`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DataSection {
    /// Stable id, e.g. `profile`, `devices`.
    pub id: String,
    pub title: String,
    /// The inventory items this section shows.
    pub items: Vec<String>,
    /// The data itself: an object or a list, per section (see
    /// docs/export-format.md, which uses the same shapes).
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// `DELETE /v1/me`: the password again, to confirm.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteAccount {
    pub password: String,
}

/// The answer to `DELETE /v1/me`: the deletion receipt and the server's
/// ed25519 signature over it (see [`receipt_message`]). Verify it offline
/// with `oriole verify-receipt FILE` against the `receipt` key of
/// `GET /v1/keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignedReceipt {
    pub receipt: DeletionReceipt,
    /// Always `ed25519`.
    pub algorithm: String,
    /// Id of the signing key (a hint; not itself signed).
    pub key_id: String,
    /// 128 lowercase hex digits.
    pub signature: String,
}

/// What was deleted, what was kept and why, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeletionReceipt {
    /// Always `oriole.deletion-receipt.v1`.
    pub kind: String,
    pub receipt_id: String,
    pub username: String,
    pub user_id: String,
    /// The pseudonym the audit log knows the account by.
    pub subject: String,
    /// When the deletion request was made (ms since the epoch).
    pub requested_at: i64,
    /// When everything listed under `deleted` was erased.
    pub completed_at: i64,
    /// How the personal data was made unreadable everywhere, backups
    /// included.
    pub method: String,
    pub deleted: Vec<DeletedItem>,
    pub kept: Vec<KeptItem>,
    /// The username may be registered again from this time on.
    pub username_reusable_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeletedItem {
    /// An inventory item id, or a group of them.
    pub item: String,
    pub description: String,
    /// How many rows, when counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeptItem {
    pub item: String,
    pub description: String,
    /// The legal duty or reason that requires keeping it.
    pub basis: String,
    pub retention: String,
}

/// The exact bytes a receipt signature covers: a domain tag, then the
/// receipt as compact JSON (its fields in declaration order).
pub fn receipt_message(receipt: &DeletionReceipt) -> Vec<u8> {
    let mut message = b"oriole deletion receipt v1\n".to_vec();
    // Serialising a plain struct of strings and numbers cannot fail.
    message.extend(serde_json::to_vec(receipt).unwrap_or_default());
    message
}

/// `POST /v1/admin/dsars`: support opens a request for a user.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenDsar {
    pub user: String,
    /// `export`, `delete` or `correct`.
    pub kind: String,
    pub ticket: String,
    /// How the requester's identity was verified (a description of the
    /// method, e.g. "login to the app and a code sent to the phone").
    pub identity_check: String,
}

/// A data-subject request (`GET /v1/admin/dsars`, and the user's own view).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DsarInfo {
    pub dsar_id: String,
    /// Absent once the account is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    pub subject: String,
    pub kind: String,
    pub ticket: String,
    pub identity_check: String,
    pub opened_by: String,
    pub opened_at: i64,
    pub due_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_by: Option<String>,
    /// Open past its deadline.
    pub overdue: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DsarList {
    pub requests: Vec<DsarInfo>,
}

/// `POST /v1/admin/dsars/{id}/complete`: for a `correct` request, the new
/// values (as in `PATCH /v1/me`); nothing for the others.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteDsar {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correction: Option<UpdateProfile>,
}

/// What completing a request did.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DsarCompletion {
    pub request: DsarInfo,
    /// For `delete`: the signed receipt, for support to give the user (the
    /// server keeps no copy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<SignedReceipt>,
    /// What was done, in words.
    pub outcome: String,
}
