//! The audit port of the services (privacy promise P7): every
//! security-relevant event goes through [`Oriole::audit`] into the store's
//! hash-chained log, with pseudonymous ids from [`pseudonym`] and
//! [`device_pseudonym`], never a name, contact detail or message text.
//!
//! Other services call exactly these to audit exports, deletions,
//! corrections, consent and policy changes:
//!
//! ```ignore
//! self.audit(
//!     EntryDraft::new(self.now_ms(), Actor::User { id: pseudonym(user) }, EventKind::EXPORT)
//!         .subject(pseudonym(user)),
//! )
//! .await?;
//! ```

use oriole_audit::{
    Actor, AuditPublicKey, Details, EntryDraft, EventKind, PseudonymousId, Report, ReportOptions,
};
use oriole_proto::{ErrorCode, PublicKeyInfo, PublicKeys};

use crate::domain::{DeviceId, UserId};
use crate::error::{ServiceError, ServiceResult};
use crate::service::Oriole;
use crate::signing::{KeyPurpose, PublicKey};
use crate::staff::{Operator, Permission};
use crate::store::Store;

pub use oriole_audit::{AuditEntry, Checkpoint, EntryHash};

/// Largest page of audit entries one request returns.
pub const MAX_AUDIT_PAGE: u32 = 10_000;

/// The audit log's id for a user: `u:<uuid>`. The UUID is the random
/// account id, so the log stays meaningful (and verifiable) after the
/// account and its data are deleted, without naming anyone.
pub fn pseudonym(user: UserId) -> PseudonymousId {
    PseudonymousId::parse(&format!("u:{}", user.0))
        .expect("`u:` and a hyphenated UUID are valid pseudonymous id characters")
}

/// The audit log's id for a device: `d:<uuid>`.
pub fn device_pseudonym(device: DeviceId) -> PseudonymousId {
    PseudonymousId::parse(&format!("d:{}", device.0))
        .expect("`d:` and a hyphenated UUID are valid pseudonymous id characters")
}

/// An end user acting for themself.
pub fn user_actor(user: UserId) -> Actor {
    Actor::User {
        id: pseudonym(user),
    }
}

/// Details from a JSON object literal built in code. Only fixed codes and
/// pseudonymous ids go in, so a refusal is a bug in the caller: it is
/// logged and the entry keeps empty details rather than losing the event.
pub fn details(value: serde_json::Value) -> Details {
    Details::new(value).unwrap_or_else(|e| {
        tracing::error!(error = %e, "audit details refused; recorded without details");
        Details::empty()
    })
}

impl<S: Store> Oriole<S> {
    /// Append `draft` to the audit log, durably, before the caller goes on.
    /// A failure is returned (as an internal error): an operation that must
    /// be audited does not proceed unaudited.
    pub(crate) async fn audit(&self, draft: EntryDraft) -> ServiceResult<()> {
        let action = draft.action.clone();
        self.store.append_audit(draft).await.map_err(|e| {
            tracing::error!(%action, error = %e, "audit append failed");
            ServiceError::from(e)
        })?;
        Ok(())
    }

    /// The public half of every published signing key (`GET /v1/keys`).
    pub async fn public_keys(&self) -> ServiceResult<PublicKeys> {
        let info = |key: &PublicKey| PublicKeyInfo {
            key_id: key.key_id().to_string(),
            pem: key.to_pem(),
            base64: key.to_base64(),
        };
        let audit = self.store.signing_key(KeyPurpose::AUDIT).await?;
        let receipt = self.store.signing_key(KeyPurpose::RECEIPT).await?;
        Ok(PublicKeys {
            audit: info(&audit.public_key()),
            receipt: info(&receipt.public_key()),
        })
    }

    /// Seal the log: sign a checkpoint over its head with the audit key,
    /// when entries were appended since the last checkpoint. `None` when
    /// there was nothing new to seal.
    pub async fn seal_audit_log(&self) -> ServiceResult<Option<Checkpoint>> {
        let (count, head) = self.store.audit_head().await?;
        let sealed = self
            .store
            .audit_checkpoints()
            .await?
            .last()
            .map_or(0, |c| c.count);
        if count == 0 || count <= sealed {
            return Ok(None);
        }
        let key = self.store.signing_key(KeyPurpose::AUDIT).await?;
        let checkpoint = Checkpoint::sign(&key, count, head, self.now_ms());
        self.store.save_audit_checkpoint(&checkpoint).await?;
        Ok(Some(checkpoint))
    }

    /// Entries after `after_seq`, at most `limit` (1 to
    /// [`MAX_AUDIT_PAGE`]), for an operator who may read the audit log.
    pub async fn audit_log_page(
        &self,
        op: &Operator,
        after_seq: u64,
        limit: u32,
    ) -> ServiceResult<Vec<AuditEntry>> {
        op.require(Permission::ReadAuditLog)?;
        Ok(self
            .store
            .audit_entries(after_seq, limit.clamp(1, MAX_AUDIT_PAGE))
            .await?)
    }

    /// The periodic audit report over `[since_ms, now)`, built like
    /// `oriole audit report` does: the whole log and its checkpoints,
    /// verified with the server's audit key. It holds pseudonymous ids and
    /// codes only. For the server's own schedule (no operator), which
    /// passes the previous report's `until` so that the periods tile.
    pub async fn audit_report(&self, since_ms: i64) -> ServiceResult<Report> {
        // Checkpoints first: every one of them then seals entries read after.
        let checkpoints = self.store.audit_checkpoints().await?;
        let mut entries: Vec<AuditEntry> = Vec::new();
        loop {
            let after = entries.last().map_or(0, |e| e.seq);
            let page = self.store.audit_entries(after, MAX_AUDIT_PAGE).await?;
            if page.is_empty() {
                break;
            }
            entries.extend(page);
        }
        let key = self
            .store
            .signing_key(KeyPurpose::AUDIT)
            .await?
            .public_key();
        let key = AuditPublicKey::parse(&key.to_pem())
            .map_err(|e| ServiceError::new(ErrorCode::Internal, format!("the audit key: {e}")))?;
        let now = self.now_ms();
        let since = since_ms.min(now);
        let options = ReportOptions::new(now, vec![key]);
        tokio::task::spawn_blocking(move || Report::build(&entries, &checkpoints, since, &options))
            .await
            .map_err(|e| ServiceError::new(ErrorCode::Internal, format!("report task failed: {e}")))
    }

    /// Every signed checkpoint, for an operator who may read the audit log.
    pub async fn audit_log_checkpoints(&self, op: &Operator) -> ServiceResult<Vec<Checkpoint>> {
        op.require(Permission::ReadAuditLog)?;
        Ok(self.store.audit_checkpoints().await?)
    }

    /// Now, in the audit log's unit (Unix milliseconds), by the service's
    /// clock.
    pub fn now_ms(&self) -> i64 {
        self.clock.now().0
    }

    /// A login: the user, on the new device.
    pub(crate) async fn audit_login(&self, user: UserId, device: DeviceId) -> ServiceResult<()> {
        self.audit(
            EntryDraft::new(self.now_ms(), user_actor(user), EventKind::LOGIN)
                .subject(pseudonym(user))
                .details(details(serde_json::json!({
                    "device": device_pseudonym(device).as_str(),
                }))),
        )
        .await
    }

    /// A refused login. `account` is the account the name belongs to, when
    /// it exists; the typed name itself is never recorded.
    pub(crate) async fn audit_login_failed(
        &self,
        account: Option<UserId>,
        cause: &'static str,
    ) -> ServiceResult<()> {
        let mut draft = EntryDraft::new(self.now_ms(), Actor::System, EventKind::LOGIN_FAILED)
            .details(details(serde_json::json!({ "cause": cause })));
        if let Some(user) = account {
            draft = draft.subject(pseudonym(user));
        }
        self.audit(draft).await
    }

    /// A session ended by its user: `action` is [`EventKind::LOGOUT`] or
    /// [`EventKind::DEVICE_REVOKE`].
    pub(crate) async fn audit_session_end(
        &self,
        user: UserId,
        device: DeviceId,
        action: EventKind,
    ) -> ServiceResult<()> {
        self.audit(
            EntryDraft::new(self.now_ms(), user_actor(user), action)
                .subject(pseudonym(user))
                .details(details(serde_json::json!({
                    "device": device_pseudonym(device).as_str(),
                }))),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_prefixed_uuids() {
        let u = UserId::generate();
        assert_eq!(pseudonym(u).as_str(), format!("u:{}", u.0));
        let d = DeviceId::generate();
        assert_eq!(device_pseudonym(d).as_str(), format!("d:{}", d.0));
    }
}
