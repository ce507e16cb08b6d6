//! Justified access (privacy promise P6): an operator reads a user's data
//! only with a reason code and a ticket, every read is audited as
//! `personal_data_access` with the data categories touched, the user sees
//! each one in their access log, and message content needs a second
//! privacy officer's time-limited approval (two-person rule).

use oriole_audit::details::keys;
use oriole_audit::{Actor, EntryDraft, EventKind};
use oriole_proto::{
    AccessLogEntry, ContentAccessGrant, ContentAccessRequest, DataCategory, DeviceInfo, ErrorCode,
    InboxEvent, ReasonCode, UserAccountView,
};

use super::{Caller, Oriole};
use crate::audit::{details, pseudonym};
use crate::domain::{InboxSeq, Timestamp, Username};
use crate::error::{ServiceError, ServiceResult};
use crate::staff::{
    operator_pseudonym, parse_reason, ContentGrantRecord, Operator, Permission, TicketRef,
};
use crate::store::{Store, UserRecord};

/// How long an approval of content access lasts.
pub const CONTENT_GRANT_MS: i64 = 60 * 60 * 1000;

/// Most messages one content access returns.
const CONTENT_PAGE: u32 = 500;

/// The reason and ticket every operator access needs, parsed; a missing or
/// invalid one refuses the access before anything is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Justification {
    pub reason: ReasonCode,
    pub ticket: TicketRef,
}

impl Justification {
    pub fn parse(reason: Option<&str>, ticket: Option<&str>) -> ServiceResult<Justification> {
        let reason = reason
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .ok_or_else(|| {
                ServiceError::invalid(
                    "a reason code is required (?reason=customer_support, legal_request, \
                 security_incident or abuse_report)",
                )
            })?;
        let ticket = ticket
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ServiceError::invalid("a ticket reference is required (?ticket=REF)"))?;
        Ok(Justification {
            reason: parse_reason(reason)?,
            ticket: TicketRef::parse(ticket)?,
        })
    }
}

fn category_code(c: DataCategory) -> &'static str {
    match c {
        DataCategory::Identity => "identity",
        DataCategory::Usage => "usage",
        DataCategory::Device => "device",
        DataCategory::Content => "content",
        DataCategory::Security => "security",
        DataCategory::Consent => "consent",
    }
}

fn grant_info(g: &ContentGrantRecord, username: &Username) -> ContentAccessGrant {
    ContentAccessGrant {
        grant_id: g.id.to_string(),
        username: username.to_string(),
        reason: g.reason,
        ticket: g.ticket.as_str().to_owned(),
        requested_at: g.requested_at.0,
        approved_at: g.approved_at.map(|t| t.0),
        expires_at: g.expires_at.map(|t| t.0),
    }
}

impl<S: Store> Oriole<S> {
    async fn account_named(&self, username: &str) -> ServiceResult<UserRecord> {
        let name = Username::parse(username)?;
        self.store
            .user_by_name(&name)
            .await?
            .ok_or_else(|| ServiceError::not_found("no such user"))
    }

    /// Audit one operator access to `user`'s data, before it is returned.
    async fn audit_access(
        &self,
        op: &Operator,
        user: &UserRecord,
        why: &Justification,
        categories: &[DataCategory],
        approval: Option<uuid::Uuid>,
    ) -> ServiceResult<()> {
        let mut facts = serde_json::json!({
            keys::REASON: why.reason.as_str(),
            keys::TICKET: why.ticket.as_str(),
            keys::CATEGORIES: categories.iter().map(|c| category_code(*c)).collect::<Vec<_>>(),
        });
        if let Some(id) = approval {
            facts[keys::APPROVAL] = serde_json::Value::from(id.to_string());
        }
        self.audit(
            EntryDraft::new(self.now_ms(), op.actor(), EventKind::PERSONAL_DATA_ACCESS)
                .subject(pseudonym(user.id))
                .details(details(facts)),
        )
        .await
    }

    /// A user's account metadata (`view_account_metadata`): profile and
    /// devices, never message content. Audited before it is returned.
    pub async fn operator_view_user(
        &self,
        op: &Operator,
        username: &str,
        why: Justification,
    ) -> ServiceResult<UserAccountView> {
        op.require(Permission::ViewAccountMetadata)?;
        let user = self.account_named(username).await?;
        let devices = self.store.devices(user.id).await?;
        let categories = vec![DataCategory::Identity, DataCategory::Device];
        self.audit_access(op, &user, &why, &categories, None)
            .await?;
        Ok(UserAccountView {
            user_id: user.id.to_string(),
            username: user.username.to_string(),
            created_at: user.created_at.0,
            phone: user.phone.map(|p| p.as_str().to_owned()),
            email: user.email.map(|e| e.as_str().to_owned()),
            devices: devices
                .into_iter()
                .map(|d| DeviceInfo {
                    device_id: d.id.to_string(),
                    device_model: d.device_model.map(|m| m.as_str().to_owned()),
                    os_version: d.os_version.map(|m| m.as_str().to_owned()),
                    ip: d.ip,
                    first_seen: d.first_seen.0,
                    last_seen: d.last_seen.0,
                    current: false,
                })
                .collect(),
            categories,
        })
    }

    /// Ask for access to a user's message content
    /// (`request_content_access`); another privacy officer must approve.
    pub async fn request_content_access(
        &self,
        op: &Operator,
        req: ContentAccessRequest,
    ) -> ServiceResult<ContentAccessGrant> {
        op.require(Permission::RequestContentAccess)?;
        let ticket = TicketRef::parse(&req.ticket)?;
        let user = self.account_named(&req.username).await?;
        let grant = ContentGrantRecord {
            id: uuid::Uuid::now_v7(),
            requester: op.id,
            subject: user.id,
            reason: req.reason,
            ticket,
            requested_at: self.clock.now(),
            approved_by: None,
            approved_at: None,
            expires_at: None,
        };
        self.store.create_content_grant(&grant).await?;
        self.audit(
            EntryDraft::new(self.now_ms(), op.actor(), EventKind::OPERATOR_ACTION)
                .subject(pseudonym(user.id))
                .details(details(serde_json::json!({
                    keys::OPERATION: "content_access_request",
                    keys::APPROVAL: grant.id.to_string(),
                    keys::REASON: grant.reason.as_str(),
                    keys::TICKET: grant.ticket.as_str(),
                }))),
        )
        .await?;
        Ok(grant_info(&grant, &user.username))
    }

    /// Approve another operator's content request
    /// (`approve_content_access`), for [`CONTENT_GRANT_MS`]. One's own
    /// request is refused: that is the two-person rule.
    pub async fn approve_content_access(
        &self,
        op: &Operator,
        grant_id: &str,
    ) -> ServiceResult<ContentAccessGrant> {
        op.require(Permission::ApproveContentAccess)?;
        let id: uuid::Uuid = grant_id
            .parse()
            .map_err(|_| ServiceError::invalid("not a valid grant id"))?;
        let grant = self
            .store
            .content_grant(id)
            .await?
            .ok_or_else(|| ServiceError::not_found("no such content access request"))?;
        if grant.requester == op.id {
            return Err(ServiceError::forbidden(
                "a privacy officer other than the requester must approve (two-person rule)",
            ));
        }
        let now = self.clock.now();
        let expires_at = Timestamp(now.0.saturating_add(CONTENT_GRANT_MS));
        if !self
            .store
            .approve_content_grant(id, op.id, now, expires_at)
            .await?
        {
            return Err(ServiceError::new(
                ErrorCode::Conflict,
                "this request was already approved",
            ));
        }
        self.audit(
            EntryDraft::new(now.0, op.actor(), EventKind::ACCESS_APPROVAL)
                .subject(pseudonym(grant.subject))
                .details(details(serde_json::json!({
                    keys::APPROVAL: id.to_string(),
                    "requester": operator_pseudonym(grant.requester).as_str(),
                    keys::REASON: grant.reason.as_str(),
                    keys::TICKET: grant.ticket.as_str(),
                    "expires_at": expires_at.0,
                }))),
        )
        .await?;
        let user = self
            .store
            .user_by_id(grant.subject)
            .await?
            .ok_or_else(|| ServiceError::not_found("no such user"))?;
        let approved = ContentGrantRecord {
            approved_by: Some(op.id),
            approved_at: Some(now),
            expires_at: Some(expires_at),
            ..grant
        };
        Ok(grant_info(&approved, &user.username))
    }

    /// A user's messages (`request_content_access`), only under an approved,
    /// unexpired grant of this operator for this user asked for the read's
    /// own reason and ticket: an approval given for one case never covers
    /// another. Audited with the approval's id.
    pub async fn operator_view_messages(
        &self,
        op: &Operator,
        username: &str,
        why: Justification,
    ) -> ServiceResult<Vec<InboxEvent>> {
        op.require(Permission::RequestContentAccess)?;
        let user = self.account_named(username).await?;
        let grant = self
            .store
            .live_content_grant(op.id, user.id, why.reason, &why.ticket, self.clock.now())
            .await?
            .ok_or_else(|| {
                ServiceError::forbidden(format!(
                    "no current approval covers ticket {} with reason {} for this user: \
                     message content needs an approval by another privacy officer of a \
                     request with this very reason and ticket (two-person rule): \
                     POST /v1/admin/content-access first",
                    why.ticket.as_str(),
                    why.reason.as_str(),
                ))
            })?;
        self.audit_access(op, &user, &why, &[DataCategory::Content], Some(grant.id))
            .await?;
        Ok(self
            .store
            .inbox_after(user.id, InboxSeq(0), CONTENT_PAGE)
            .await?)
    }

    /// Every access by staff to my data: when, the role (never who), the
    /// reason, the ticket and the categories. An access recorded under a
    /// legal deferral (`deferred_until` in its details) appears once the
    /// deferral has ended.
    pub async fn access_log(&self, caller: &Caller) -> ServiceResult<Vec<AccessLogEntry>> {
        const PAGE: u32 = 1000;
        let me = pseudonym(caller.user_id);
        let now = self.now_ms();
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let page = self.store.audit_entries_about(&me, after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for e in page {
                if e.action != EventKind::PERSONAL_DATA_ACCESS {
                    continue;
                }
                let role = match &e.actor {
                    Actor::Operator { role, .. } => role.as_str().to_owned(),
                    // A back end acting on the user's behalf.
                    Actor::System => "service".to_owned(),
                    Actor::User { .. } => continue,
                };
                let deferred = e
                    .details
                    .get("deferred_until")
                    .and_then(serde_json::Value::as_i64)
                    .is_some_and(|until| until > now);
                if deferred {
                    continue;
                }
                out.push(AccessLogEntry {
                    time: e.time,
                    role,
                    reason: e.details.get_str(keys::REASON).unwrap_or("").to_owned(),
                    ticket: e.details.get_str(keys::TICKET).map(str::to_owned),
                    categories: e
                        .details
                        .get(keys::CATEGORIES)
                        .and_then(serde_json::Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(|c| c.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default(),
                });
            }
        }
        Ok(out)
    }
}
