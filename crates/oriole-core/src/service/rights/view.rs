//! `GET /v1/me/data`: everything held about the caller, section by section
//! as the inventory declares it. [`SECTIONS`] maps every inventory item to
//! the section showing it; a test fails when an item is in none, so a new
//! kind of personal data cannot be held without being shown.
//!
//! To add a section: add its row to [`SECTIONS`] and its arm to
//! `Oriole::section`.

use oriole_proto::{DataSection, MyData};
use serde_json::{json, Value};

use super::super::{Caller, Oriole};
use crate::error::ServiceResult;
use crate::store::Store;

/// One section of the view: id, title, and the inventory items it shows.
pub type Section = (&'static str, &'static str, &'static [&'static str]);

/// The sections of `GET /v1/me/data` (and the export), in order.
pub static SECTIONS: &[Section] = &[
    (
        "profile",
        "Your account and profile",
        &[
            "account.username",
            "account.display_name",
            "account.phone",
            "account.email",
            "account.contact_lookup",
            "account.password_hash",
            "account.created_at",
        ],
    ),
    (
        "corrections",
        "Corrections you made to your profile",
        &["account.corrections"],
    ),
    (
        "devices",
        "Your devices and sessions, with their IP addresses and times",
        &[
            "device.model",
            "device.os_version",
            "device.ip",
            "device.seen_times",
            "session.token_hash",
        ],
    ),
    (
        "groups",
        "The groups you belong to",
        &["group.membership", "group.name"],
    ),
    (
        "messages",
        "Your messages (the content is in the export)",
        &[
            "message.text",
            "message.payload",
            "message.metadata",
            "inbox",
            "receipt",
        ],
    ),
    (
        "consents",
        "Your consents per purpose, and their history",
        &["consent.record"],
    ),
    (
        "policy",
        "The privacy policy versions you accepted",
        &["policy.acceptance"],
    ),
    (
        "analytics",
        "Usage events stored with your product-analytics consent",
        &["analytics.event"],
    ),
    (
        "staff_access",
        "Who on the staff looked at your data, why and when; requests for your messages",
        &["staff_access.content_grant"],
    ),
    (
        "access_log",
        "The audit log's entries about you: logins, staff access, your requests",
        // Staff requests for and approvals of access to your messages are
        // audited with you as subject, so they show here too.
        // A legal disclosure's notice says what its access entry says,
        // and is shown from the same moment (when any deferral ends).
        &[
            "audit.entry",
            "staff_access.content_grant",
            "notice.disclosure",
            "notice.delivery",
        ],
    ),
    (
        "support_requests",
        "Requests support opened for you, and their state",
        &["support.data_request"],
    ),
    (
        "exports",
        "When you last exported your data",
        &["account.export_log"],
    ),
    (
        "sharing",
        "Third parties you let us share with, and what was shared (the sharing ledger)",
        &["sharing.consent", "sharing.outbox", "sharing.delivery"],
    ),
];

/// Audit entries read per page when collecting those about one user.
const AUDIT_PAGE: u32 = 1000;

/// Inventory items that are not held about a live account, and why they
/// have no section.
pub static NOT_PER_ACCOUNT: &[(&str, &str)] = &[
    (
        "deleted_account.username_quarantine",
        "held only after an account is deleted, as a keyed digest of its username",
    ),
    (
        "operator.account",
        "about staff operator accounts, never about end users",
    ),
    (
        "operator.credentials",
        "about staff operator accounts, never about end users",
    ),
];

/// Every inventory item some section shows.
pub fn section_items() -> impl Iterator<Item = &'static str> {
    SECTIONS
        .iter()
        .flat_map(|(_, _, items)| items.iter().copied())
}

impl<S: Store> Oriole<S> {
    /// Everything held about the caller.
    pub async fn my_data(&self, caller: &Caller) -> ServiceResult<MyData> {
        let mut sections = Vec::with_capacity(SECTIONS.len());
        for (id, title, items) in SECTIONS {
            sections.push(DataSection {
                id: (*id).to_owned(),
                title: (*title).to_owned(),
                items: items.iter().map(|i| (*i).to_owned()).collect(),
                data: self.section(caller, id).await?,
            });
        }
        Ok(MyData {
            user_id: caller.user_id.to_string(),
            username: caller.username.to_string(),
            generated_at: self.clock.now().0,
            sections,
        })
    }

    /// The data of one section, in the shape docs/export-format.md gives.
    pub(crate) async fn section(&self, caller: &Caller, id: &str) -> ServiceResult<Value> {
        let user = caller.user_id;
        Ok(match id {
            "profile" => {
                let profile = self.profile(caller).await?;
                json!({
                    "user_id": profile.user_id,
                    "username": profile.username,
                    "display_name": profile.display_name,
                    "phone": profile.phone,
                    "email": profile.email,
                    "created_at": profile.created_at,
                    "password": "held only as an Argon2id hash, which cannot be shown or reversed",
                    "contact_lookup": "keyed digests of your phone and email, for lookup and uniqueness",
                })
            }
            "corrections" => {
                serde_json::to_value(self.corrections(caller).await?).unwrap_or(Value::Null)
            }
            "devices" => Value::Array(
                self.store
                    .device_history(user)
                    .await?
                    .into_iter()
                    .map(|(d, revoked_at)| {
                        json!({
                            "device_id": d.id.to_string(),
                            "device_model": d.device_model.as_ref().map(|m| m.as_str()),
                            "os_version": d.os_version.as_ref().map(|m| m.as_str()),
                            "ip": d.ip,
                            "first_seen": d.first_seen.0,
                            "last_seen": d.last_seen.0,
                            "revoked_at": revoked_at.map(|t| t.0),
                            "current": d.id == caller.device_id,
                            "token": "held only as a SHA-256 hash",
                        })
                    })
                    .collect(),
            ),
            "groups" => Value::Array(
                self.store
                    .groups_of(user)
                    .await?
                    .into_iter()
                    .map(|(g, role)| {
                        json!({
                            "group_id": g.id.to_string(),
                            "name": g.name.as_str(),
                            "role": role,
                            "created_at": g.created_at.0,
                        })
                    })
                    .collect(),
            ),
            "messages" => {
                let counts = self.store.message_counts(user).await?;
                let head = self.store.inbox_head(user).await?;
                json!({
                    "sent": counts.sent,
                    "received": counts.received,
                    "inbox_events": head.0,
                })
            }
            "sharing" => serde_json::to_value(self.my_sharing(user).await?).unwrap_or(Value::Null),
            "consents" => to_json(self.consents(caller).await?),
            "policy" => to_json(self.policy_status(caller).await?),
            "analytics" => json!({
                "events": self.analytics_event_count(caller).await?,
            }),
            "staff_access" => to_json(self.access_log(caller).await?),
            "access_log" => Value::Array(self.audit_about(user).await?),
            "support_requests" => to_json(
                self.store
                    .data_requests(Some(user))
                    .await?
                    .iter()
                    .map(super::dsar::info)
                    .collect::<Vec<_>>(),
            ),
            "exports" => json!({
                "last_export_at": self.store.last_export(user).await?.map(|t| t.0),
            }),
            _ => Value::Null,
        })
    }
}

impl<S: Store> Oriole<S> {
    /// Every audit entry whose subject is `user`, oldest first, without
    /// the chain's hashes.
    async fn audit_about(&self, user: crate::domain::UserId) -> ServiceResult<Vec<Value>> {
        let me = crate::audit::pseudonym(user);
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let page = self.store.audit_entries(after, AUDIT_PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for entry in page.iter().filter(|e| e.subject.as_ref() == Some(&me)) {
                out.push(json!({
                    "seq": entry.seq,
                    "time": entry.time,
                    "actor": entry.actor,
                    "action": entry.action,
                    "details": entry.details,
                }));
            }
            if page.len() < AUDIT_PAGE as usize {
                break;
            }
        }
        Ok(out)
    }
}

fn to_json<T: serde::Serialize>(value: T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::inventory::INVENTORY;

    /// Nothing held is missing from `GET /v1/me/data`: every inventory
    /// item is shown by a section, or listed as not held per account.
    #[test]
    fn every_inventory_item_has_a_section() {
        let shown: HashSet<&str> = section_items().collect();
        let exempt: HashSet<&str> = NOT_PER_ACCOUNT.iter().map(|(id, _)| *id).collect();
        for item in INVENTORY {
            assert!(
                shown.contains(item.id) || exempt.contains(item.id),
                "inventory item {} is in no section of GET /v1/me/data: add it to SECTIONS \
                 in crates/oriole-core/src/service/rights/view.rs",
                item.id
            );
        }
        let declared: HashSet<&str> = INVENTORY.iter().map(|i| i.id).collect();
        for id in shown.iter().chain(exempt.iter()) {
            assert!(declared.contains(id), "{id} is not an inventory item");
        }
    }
}
