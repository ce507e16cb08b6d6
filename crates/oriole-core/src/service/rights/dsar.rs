//! Support-assisted requests (PRIVACY.md P12): an operator with the
//! `manage_data_requests` permission opens a request for a user after
//! checking their identity, with a ticket and a deadline; completing it
//! performs the self-service operation. Every step is audited, and the
//! user sees their requests in `GET /v1/me/data`.

use oriole_audit::{EntryDraft, EventKind};
use oriole_proto::{CompleteDsar, DsarCompletion, DsarInfo, OpenDsar};

use super::super::Oriole;
use crate::audit::{details, pseudonym};
use crate::domain::{Timestamp, Username};
use crate::error::{ServiceError, ServiceResult};
use crate::rights::{DsarKind, DsarRecord};
use crate::staff::{operator_pseudonym, Operator, Permission, TicketRef};
use crate::store::Store;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// The wire form of a request, as of `now` (for `overdue`).
pub(crate) fn info_at(r: &DsarRecord, username: Option<String>, now: Timestamp) -> DsarInfo {
    DsarInfo {
        dsar_id: r.id.to_string(),
        username,
        subject: r.subject.clone(),
        kind: r.kind.as_str().to_owned(),
        ticket: r.ticket.clone(),
        identity_check: r.identity_check.clone(),
        opened_by: r.opened_by.clone(),
        opened_at: r.opened_at.0,
        due_at: r.due_at.0,
        completed_at: r.completed_at.map(|t| t.0),
        completed_by: r.completed_by.clone(),
        overdue: r.completed_at.is_none() && now > r.due_at,
    }
}

/// The user's own view of a request (their username is implied).
pub(crate) fn info(r: &DsarRecord) -> DsarInfo {
    let now = crate::ports::SystemClock;
    info_at(r, None, crate::ports::Clock::now(&now))
}

impl<S: Store> Oriole<S> {
    async fn dsar_info(&self, r: &DsarRecord) -> ServiceResult<DsarInfo> {
        let username = match r.user {
            Some(u) => self
                .store
                .user_by_id(u)
                .await?
                .map(|u| u.username.to_string()),
            None => None,
        };
        Ok(info_at(r, username, self.clock.now()))
    }

    /// `POST /v1/admin/dsars`.
    pub async fn open_dsar(&self, op: &Operator, req: OpenDsar) -> ServiceResult<DsarInfo> {
        op.require(Permission::ManageDataRequests)?;
        let kind: DsarKind = req.kind.trim().parse()?;
        let ticket = TicketRef::parse(&req.ticket)?;
        let identity_check = req.identity_check.trim();
        if identity_check.len() < 3 || identity_check.chars().count() > 200 {
            return Err(ServiceError::invalid(
                "identity_check must say in 3 to 200 characters how the requester's identity \
                 was verified",
            ));
        }
        let name = Username::parse(&req.user)
            .map_err(|_| ServiceError::not_found(format!("no such user: {}", req.user)))?;
        let user = self
            .store
            .user_by_name(&name)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("no such user: {name}")))?;
        let now = self.clock.now();
        let days = i64::from(self.config.rights.dsar_deadline_days);
        let record = DsarRecord {
            id: uuid::Uuid::now_v7(),
            user: Some(user.id),
            subject: pseudonym(user.id).as_str().to_owned(),
            kind,
            ticket: ticket.as_str().to_owned(),
            identity_check: identity_check.to_owned(),
            opened_by: operator_pseudonym(op.id).as_str().to_owned(),
            opened_at: now,
            due_at: Timestamp(now.0.saturating_add(days.saturating_mul(DAY_MS))),
            completed_at: None,
            completed_by: None,
        };
        self.store.insert_data_request(&record).await?;
        self.audit(
            EntryDraft::new(now.0, op.actor(), EventKind::OPERATOR_ACTION)
                .subject(pseudonym(user.id))
                .details(details(serde_json::json!({
                    "operation": "dsar_open",
                    "dsar": record.id.to_string(),
                    "kind": kind.as_str(),
                    "ticket": record.ticket,
                }))),
        )
        .await?;
        Ok(info_at(&record, Some(name.to_string()), now))
    }

    /// `GET /v1/admin/dsars`: every request, or only the open ones past
    /// their deadline.
    pub async fn list_dsars(&self, op: &Operator, overdue: bool) -> ServiceResult<Vec<DsarInfo>> {
        op.require(Permission::ManageDataRequests)?;
        let mut out = Vec::new();
        for r in self.store.data_requests(None).await? {
            let info = self.dsar_info(&r).await?;
            if !overdue || info.overdue {
                out.push(info);
            }
        }
        Ok(out)
    }

    /// `POST /v1/admin/dsars/{id}/complete`: do what the user could have
    /// done themself. `delete` erases the account exactly as `DELETE
    /// /v1/me` and returns the signed receipt; `correct` applies the given
    /// values as `PATCH /v1/me`; `export` lifts the export rate limit so
    /// the user downloads the archive at once (support never receives it:
    /// it holds message content).
    pub async fn complete_dsar(
        &self,
        op: &Operator,
        id: &str,
        req: CompleteDsar,
    ) -> ServiceResult<DsarCompletion> {
        op.require(Permission::ManageDataRequests)?;
        let id: uuid::Uuid = id
            .trim()
            .parse()
            .map_err(|_| ServiceError::invalid("not a request id"))?;
        let record = self
            .store
            .data_request(id)
            .await?
            .ok_or_else(|| ServiceError::not_found("no such request"))?;
        if record.completed_at.is_some() {
            return Err(ServiceError::new(
                oriole_proto::ErrorCode::Conflict,
                "the request is already completed",
            ));
        }
        let user = match record.user {
            Some(u) => self.store.user_by_id(u).await?,
            None => None,
        }
        .ok_or_else(|| ServiceError::not_found("the request's account no longer exists"))?;
        if record.kind != DsarKind::Correct && req.correction.is_some() {
            return Err(ServiceError::invalid(
                "only a correct request takes new values",
            ));
        }
        let now = self.clock.now();
        let (receipt, outcome) = match record.kind {
            DsarKind::Delete => {
                let receipt = self
                    .erase_with_receipt(&user, op.actor(), "support_request", now)
                    .await?;
                (
                    Some(receipt),
                    "account deleted; give the user the signed receipt".to_owned(),
                )
            }
            DsarKind::Correct => {
                let correction = req.correction.ok_or_else(|| {
                    ServiceError::invalid("a correct request needs the new values")
                })?;
                self.apply_correction(user.id, &correction, op.actor())
                    .await?;
                (None, "profile corrected".to_owned())
            }
            DsarKind::Export => {
                self.store.record_export(user.id, Timestamp(0)).await?;
                self.audit(
                    EntryDraft::new(now.0, op.actor(), EventKind::EXPORT)
                        .subject(pseudonym(user.id))
                        .details(details(serde_json::json!({
                            "operation": "export_enabled",
                            "dsar": record.id.to_string(),
                        }))),
                )
                .await?;
                (
                    None,
                    "the user can download the export now (`oriole me export`)".to_owned(),
                )
            }
        };
        let by = operator_pseudonym(op.id).as_str().to_owned();
        self.store
            .complete_data_request(record.id, now, &by)
            .await?;
        self.audit(
            EntryDraft::new(now.0, op.actor(), EventKind::OPERATOR_ACTION)
                .subject(pseudonym(user.id))
                .details(details(serde_json::json!({
                    "operation": "dsar_complete",
                    "dsar": record.id.to_string(),
                    "kind": record.kind.as_str(),
                }))),
        )
        .await?;
        let record = self
            .store
            .data_request(record.id)
            .await?
            .ok_or_else(|| ServiceError::not_found("no such request"))?;
        let mut request = self.dsar_info(&record).await?;
        if request.username.is_none() && record.kind != DsarKind::Delete {
            request.username = Some(user.username.to_string());
        }
        Ok(DsarCompletion {
            request,
            receipt,
            outcome,
        })
    }
}
