//! Legal disclosures (P14): a privacy officer records what an authority
//! demanded; the scoped export is produced and audited, and the user sees
//! it in their access log and by a notice (the `notice` frame, kind
//! `data_disclosed`) at once, or when the legal deferral ends.

use std::collections::BTreeSet;

use oriole_audit::{details::keys, EntryDraft, EventKind};
use oriole_proto::{DisclosureRecord, ErrorCode, NoticeKind, RecordDisclosure, UserNotice};
use uuid::Uuid;

use super::rights::SECTIONS;
use super::{Caller, Oriole};
use crate::audit::{details, pseudonym};
use crate::domain::{DeviceId, Timestamp, UserId, Username};
use crate::error::{ServiceError, ServiceResult};
use crate::inventory;
use crate::sharing::{NewNotice, StoredNotice};
use crate::staff::{Operator, Permission};
use crate::store::Store;

/// Longest free-text field (authority, case reference), in bytes: it goes
/// into the audit log, whose strings are bounded.
const MAX_TEXT: usize = 200;

fn text(field: &str, raw: &str) -> ServiceResult<String> {
    let s = raw.trim();
    if s.is_empty() || s.len() > MAX_TEXT || s.chars().any(char::is_control) {
        return Err(ServiceError::invalid(format!(
            "{field} must be 1-{MAX_TEXT} bytes without control characters"
        )));
    }
    Ok(s.to_owned())
}

impl<S: Store> Oriole<S> {
    /// Record a legal disclosure (`record_disclosure`) and return the
    /// export of the sections in scope. Audited twice before the data is
    /// returned: a `disclosure` entry for auditors, and a personal-data
    /// access (reason `legal_request`, the case as ticket) that the user's
    /// access log shows once `defer_until` has passed.
    pub async fn record_disclosure(
        &self,
        op: &Operator,
        req: RecordDisclosure,
    ) -> ServiceResult<DisclosureRecord> {
        op.require(Permission::RecordDisclosure)?;
        let authority = text("authority", &req.authority)?;
        let case_ref = text("case reference", &req.case_ref)?;
        let now = self.clock.now();
        if let Some(until) = req.defer_until {
            if until <= now.0 {
                return Err(ServiceError::invalid("defer_until must be in the future"));
            }
        }
        let mut scope = BTreeSet::new();
        for s in &req.scope {
            let s = s.trim();
            if !SECTIONS.iter().any(|(id, _, _)| *id == s) {
                let known: Vec<_> = SECTIONS.iter().map(|(id, _, _)| *id).collect();
                return Err(ServiceError::invalid(format!(
                    "`{s}` is not a section of a user's data; use: {}",
                    known.join(", ")
                )));
            }
            scope.insert(s.to_owned());
        }
        if scope.is_empty() {
            return Err(ServiceError::invalid("name at least one section in scope"));
        }
        let name =
            Username::parse(&req.user).map_err(|_| ServiceError::not_found("no such user"))?;
        let user = self
            .store
            .user_by_name(&name)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("no such user: {name}")))?;
        let categories: BTreeSet<String> = SECTIONS
            .iter()
            .filter(|(id, _, _)| scope.contains(*id))
            .flat_map(|(_, _, items)| items.iter())
            .filter_map(|item| inventory::item(item))
            .filter_map(|item| {
                serde_json::to_value(item.category)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
            })
            .collect();
        let scope: Vec<String> = scope.into_iter().collect();
        let mut facts = serde_json::json!({
            "authority": authority,
            "case": case_ref,
            "scope": scope,
        });
        let mut access = serde_json::json!({
            keys::REASON: "legal_request",
            keys::TICKET: case_ref,
            keys::CATEGORIES: categories,
        });
        if let Some(until) = req.defer_until {
            facts["deferred_until"] = serde_json::Value::from(until);
            access["deferred_until"] = serde_json::Value::from(until);
        }
        self.audit(
            EntryDraft::new(self.now_ms(), op.actor(), EventKind::DISCLOSURE)
                .subject(pseudonym(user.id))
                .details(details(facts)),
        )
        .await?;
        self.audit(
            EntryDraft::new(self.now_ms(), op.actor(), EventKind::PERSONAL_DATA_ACCESS)
                .subject(pseudonym(user.id))
                .details(details(access)),
        )
        .await?;
        // The user's own view, cut to the sections in scope. No device of
        // theirs is asking, so no device is marked current.
        let subject = Caller {
            user_id: user.id,
            username: user.username.clone(),
            device_id: DeviceId(Uuid::nil()),
        };
        let mut export = self.my_data(&subject).await?;
        export.sections.retain(|s| scope.contains(&s.id));
        // The user's notice: held until the deferral ends, pushed at once
        // when there is none.
        let notice_id = Uuid::now_v7();
        let notice = UserNotice {
            id: notice_id.to_string(),
            kind: NoticeKind::DataDisclosed,
            at: now.0,
            message: format!(
                "your data ({}) was disclosed to {authority} on a legal request",
                scope.join(", ")
            ),
            scope: scope.clone(),
            categories: categories.iter().cloned().collect(),
            authority: authority.clone(),
        };
        let stored = StoredNotice {
            id: notice_id,
            user: user.id,
            body: serde_json::to_string(&notice)
                .map_err(|_| ServiceError::new(ErrorCode::Internal, "internal error"))?,
            due_at: req.defer_until.map_or(now, Timestamp),
        };
        self.store
            .queue_notice(NewNotice {
                id: stored.id,
                user: stored.user,
                body: stored.body.clone(),
                due_at: stored.due_at,
                created_at: now,
            })
            .await?;
        if req.defer_until.is_none() {
            self.announce_notice(stored, now).await?;
        }
        Ok(DisclosureRecord {
            user: user.username.to_string(),
            authority,
            case_ref,
            scope,
            defer_until: req.defer_until,
            recorded_at: now.0,
            export,
        })
    }
}

impl<S: Store> Oriole<S> {
    /// Push the notices that fell due (deferrals that ended) to connected
    /// users; the others get theirs at their next connection. For the
    /// server's notice task; returns how many were handled.
    pub async fn announce_due_notices(&self, limit: u32) -> ServiceResult<usize> {
        let now = self.clock.now();
        let due = self.store.unannounced_notices(now, limit).await?;
        let count = due.len();
        for notice in due {
            self.announce_notice(notice, now).await?;
        }
        Ok(count)
    }

    /// Push one due notice; delivered when a device got it, otherwise
    /// left for the user's next connection.
    async fn announce_notice(&self, stored: StoredNotice, now: Timestamp) -> ServiceResult<()> {
        let pushed = serde_json::from_str::<UserNotice>(&stored.body)
            .is_ok_and(|notice| self.fanout.notify(stored.user, notice));
        if pushed {
            self.store.claim_notice(stored.id, now).await?;
        } else {
            self.store.mark_notice_announced(stored.id, now).await?;
        }
        Ok(())
    }

    /// The user's due notices not delivered yet, now counted as delivered:
    /// after `hello` and with the next sync page.
    pub async fn take_notices(&self, user: UserId) -> ServiceResult<Vec<UserNotice>> {
        let now = self.clock.now();
        let mut out = Vec::new();
        for stored in self.store.undelivered_notices(user, now).await? {
            if !self.store.claim_notice(stored.id, now).await? {
                continue;
            }
            if let Ok(notice) = serde_json::from_str(&stored.body) {
                out.push(notice);
            }
        }
        Ok(out)
    }
}
