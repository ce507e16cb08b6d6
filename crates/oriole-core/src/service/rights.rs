//! The data subject's own rights, self-service (PRIVACY.md P8–P11):
//! correct the profile, see everything held, delete the account with a
//! signed receipt, and export (in `export`).

mod dsar;
mod export;
mod receipt;
mod tar;
mod view;

pub use export::{ExportJob, EXPORT_FORMAT};
pub use receipt::{verify_receipt, ReceiptError};
pub use view::{section_items, NOT_PER_ACCOUNT, SECTIONS};

use oriole_audit::{EntryDraft, EventKind};
use oriole_crypto::verify_password;
use oriole_proto::{
    CorrectionInfo, DeleteAccount, DeletedItem, DeletionPurgeInfo, DeletionReceipt, KeptItem,
    Profile, SignedReceipt, UpdateProfile,
};

use super::{Caller, Oriole};
use crate::audit::{details, pseudonym, user_actor};
use crate::domain::{Email, InvalidValue, Phone};
use crate::error::{ServiceError, ServiceResult};
use crate::rights::{
    AccountErasure, CorrectedField, DeletionPurge, DisplayName, ErasureSummary, FieldChange,
    ProfileCorrection, PurgeStep,
};
use crate::signing::KeyPurpose;
use crate::store::Store;

const DAY_SECS: u64 = 24 * 60 * 60;

/// An absent field is kept, an empty one cleared, anything else parsed.
fn change<T>(
    raw: Option<&str>,
    parse: impl FnOnce(&str) -> Result<T, InvalidValue>,
) -> ServiceResult<FieldChange<T>> {
    Ok(match raw.map(str::trim) {
        None => FieldChange::Keep,
        Some("") => FieldChange::Clear,
        Some(s) => FieldChange::Set(parse(s)?),
    })
}

impl ProfileCorrection {
    /// Parse a `PATCH /v1/me` body: every field valid, or nothing changes.
    pub fn parse(req: &UpdateProfile) -> ServiceResult<ProfileCorrection> {
        let correction = ProfileCorrection {
            display_name: change(req.display_name.as_deref(), DisplayName::parse)?,
            phone: change(req.phone.as_deref(), Phone::parse)?,
            email: change(req.email.as_deref(), Email::parse)?,
        };
        if correction.is_empty() {
            return Err(ServiceError::invalid(
                "nothing to change: give display_name, phone or email",
            ));
        }
        Ok(correction)
    }
}

impl<S: Store> Oriole<S> {
    /// `PATCH /v1/me`: correct the profile; the history records which
    /// fields changed and when.
    #[tracing::instrument(skip_all)]
    pub async fn correct_profile(
        &self,
        caller: &Caller,
        req: UpdateProfile,
    ) -> ServiceResult<Profile> {
        self.apply_correction(caller.user_id, &req, user_actor(caller.user_id))
            .await?;
        self.profile(caller).await
    }

    /// Correct a user's profile as `actor` (the user, or support completing
    /// a request), audited with the fields changed.
    pub(crate) async fn apply_correction(
        &self,
        user: crate::domain::UserId,
        req: &UpdateProfile,
        actor: oriole_audit::Actor,
    ) -> ServiceResult<()> {
        let correction = ProfileCorrection::parse(req)?;
        let fields: Vec<&str> = correction
            .fields()
            .into_iter()
            .map(CorrectedField::as_str)
            .collect();
        self.store
            .correct_profile(user, &correction, self.clock.now())
            .await?;
        self.audit(
            EntryDraft::new(self.now_ms(), actor, EventKind::CORRECTION)
                .subject(pseudonym(user))
                .details(details(serde_json::json!({ "fields": fields }))),
        )
        .await
    }

    /// The caller's corrections, oldest first.
    pub async fn corrections(&self, caller: &Caller) -> ServiceResult<Vec<CorrectionInfo>> {
        Ok(self
            .store
            .corrections(caller.user_id)
            .await?
            .into_iter()
            .map(|c| CorrectionInfo {
                field: c.field.as_str().to_owned(),
                change: if c.cleared { "cleared" } else { "set" }.to_owned(),
                at: c.at.0,
            })
            .collect())
    }

    /// `DELETE /v1/me`: erase the account at once and return the signed
    /// receipt. The password is asked again; a wrong one changes nothing.
    #[tracing::instrument(skip_all)]
    pub async fn delete_account(
        &self,
        caller: &Caller,
        req: DeleteAccount,
    ) -> ServiceResult<SignedReceipt> {
        let requested_at = self.clock.now();
        let user = self
            .store
            .user_by_id(caller.user_id)
            .await?
            .ok_or_else(|| ServiceError::unauthorized("account no longer exists"))?;
        let key = user.username.as_str().to_owned();
        if let Some(wait) = self.account_throttle.check(&key, requested_at) {
            return Err(ServiceError::rate_limited(wait));
        }
        let stored = user.password_hash.clone();
        let password = secrecy::SecretString::from(req.password);
        let ok = tokio::task::spawn_blocking(move || verify_password(&password, &stored))
            .await
            .unwrap_or(false);
        if !ok {
            self.account_throttle.record_failure(&key, requested_at);
            return Err(ServiceError::unauthorized(
                "wrong password: the account was not deleted",
            ));
        }
        self.erase_with_receipt(&user, user_actor(user.id), "self_service", requested_at)
            .await
    }

    /// Erase an account and sign its receipt: the one path of self-service
    /// deletion and of support-assisted deletion (`by` says which).
    pub(crate) async fn erase_with_receipt(
        &self,
        user: &crate::store::UserRecord,
        actor: oriole_audit::Actor,
        by: &'static str,
        requested_at: crate::domain::Timestamp,
    ) -> ServiceResult<SignedReceipt> {
        let caller_id = user.id;
        // Fetched first: without it no receipt could be signed, and nothing
        // must be erased that the user cannot get a receipt for.
        let signer = self.store.signing_key(KeyPurpose::RECEIPT).await?;
        let rights = self.config.rights;
        let quarantine_until = requested_at
            .plus_secs(u64::from(rights.username_quarantine_days).saturating_mul(DAY_SECS));
        // Audited before anything goes, so the log never misses a deletion.
        self.audit(
            EntryDraft::new(requested_at.0, actor, EventKind::DELETION)
                .subject(pseudonym(caller_id))
                .details(details(serde_json::json!({ "by": by }))),
        )
        .await?;
        // Third parties first (P13): queued deliveries dropped, and every
        // recipient the user shared with is sent a signed erasure request
        // (queued under the gateway's key, so it outlives the data key).
        let sharing_dropped = self.forget_sharing(caller_id).await?;
        let erased = self
            .store
            .erase_account(AccountErasure {
                user: caller_id,
                owned_groups: rights.owned_groups,
                quarantine_until,
                at: requested_at,
            })
            .await;
        // Whatever the outcome: no send may reach the account from memory,
        // neither by name nor through a group it was in.
        self.directory.invalidate();
        self.rosters.invalidate();
        let summary = erased?;
        for device in &summary.devices {
            self.fanout.disconnect_device(*device);
        }
        self.purge_wake.notify_one();
        let completed_at = self.clock.now();
        tracing::info!(
            user = %pseudonym(caller_id).as_str(),
            inbox_entries = summary.inbox_entries,
            messages = summary.messages_tombstoned,
            "account deleted; rows left to the background purge"
        );
        let receipt = DeletionReceipt {
            kind: "oriole.deletion-receipt.v1".to_owned(),
            receipt_id: uuid::Uuid::now_v7().to_string(),
            username: user.username.to_string(),
            user_id: user.id.to_string(),
            subject: pseudonym(user.id).as_str().to_owned(),
            requested_at: requested_at.0,
            completed_at: completed_at.0,
            method: "The account's data key was destroyed first (crypto-shredding: every \
                     copy of its encrypted data, backups included, became unreadable at once), \
                     then the account, its sessions, memberships, consents and sharing were \
                     deleted; the remaining rows (inbox, receipts given, and the sender and \
                     ciphertext of the messages sent, all already unreadable) are physically \
                     purged in the background, in batches that resume after a restart"
                .to_owned(),
            deleted: deleted_items(&summary, sharing_dropped),
            kept: kept_items(rights.username_quarantine_days),
            username_reusable_at: quarantine_until.0,
        };
        Ok(receipt::sign(receipt, &signer))
    }
}

impl<S: Store> Oriole<S> {
    /// Woken when an account is deleted, so the background purge starts.
    pub fn purge_wakeup(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.purge_wake.clone()
    }

    /// Deleted accounts whose rows are still being purged, oldest first.
    pub async fn pending_deletion_purges(&self) -> ServiceResult<Vec<DeletionPurge>> {
        Ok(self.store.deletion_purges().await?)
    }

    /// The pending purges as operators see them (by audit pseudonym).
    pub async fn deletion_purge_report(&self) -> ServiceResult<Vec<DeletionPurgeInfo>> {
        Ok(self
            .pending_deletion_purges()
            .await?
            .into_iter()
            .map(|j| DeletionPurgeInfo {
                subject: pseudonym(j.user).as_str().to_owned(),
                requested_at: j.requested_at.0,
                inbox_entries: j.inbox_entries,
                receipts: j.receipts,
                messages: j.messages,
                batches: j.batches,
            })
            .collect())
    }

    /// Run one batch of a deleted account's purge. When nothing of the
    /// account is left, the totals go to the server log and, as a
    /// `deletion` entry by the system, to the audit log.
    pub async fn purge_step(
        &self,
        user: crate::domain::UserId,
        batch: u32,
    ) -> ServiceResult<PurgeStep> {
        let step = self.store.purge_deleted_account(user, batch).await?;
        if step.done {
            let job = step.job;
            tracing::info!(
                user = %pseudonym(user).as_str(),
                inbox_entries = job.inbox_entries,
                receipts = job.receipts,
                messages = job.messages,
                batches = job.batches,
                "deleted account purged"
            );
            self.audit(
                EntryDraft::new(
                    self.now_ms(),
                    oriole_audit::Actor::System,
                    EventKind::DELETION,
                )
                .subject(pseudonym(user))
                .details(details(serde_json::json!({
                    "phase": "purged",
                    "inbox_entries": job.inbox_entries,
                    "receipts": job.receipts,
                    "messages": job.messages,
                    "batches": job.batches,
                }))),
            )
            .await?;
        }
        Ok(step)
    }
}

fn deleted(item: &str, description: &str, count: Option<u64>) -> DeletedItem {
    DeletedItem {
        item: item.to_owned(),
        description: description.to_owned(),
        count,
    }
}

fn deleted_items(s: &ErasureSummary, sharing_dropped: u64) -> Vec<DeletedItem> {
    vec![
        deleted(
            "data_key",
            "Your personal data key, which alone could decrypt your phone, email, display \
             name, device details, IP addresses and the messages you sent",
            None,
        ),
        deleted(
            "account",
            "Your account: username, password hash, phone, email, display name, their \
             lookup indexes, creation time, correction history and export record",
            Some(1),
        ),
        deleted(
            "devices",
            "Every device session, with its token hash, model, OS version, IP address and \
             times; all were logged out and their connections closed",
            Some(s.devices.len() as u64),
        ),
        deleted(
            "inbox",
            "Your inbox: every message, recall and receipt event waiting for your devices \
             (unreadable at once; the rows are purged in the background)",
            Some(s.inbox_entries),
        ),
        deleted(
            "message.content",
            "The text and payload of every message you sent; recipients now see \
             \"message from a deleted account\" in their place (the ciphertext, \
             unreadable at once, is purged in the background)",
            Some(s.messages_tombstoned),
        ),
        deleted(
            "group.membership",
            "Your group memberships",
            Some(s.memberships),
        ),
        deleted(
            "group.owned",
            "Groups you owned: handed to the next admin or member",
            Some(s.groups_transferred),
        ),
        deleted(
            "group.dissolved",
            "Groups you owned with no one to hand them to (or under the dissolve setting): \
             deleted",
            Some(s.groups_dissolved),
        ),
        deleted(
            "receipt",
            "The delivery and read receipts you gave (purged in the background)",
            None,
        ),
        deleted(
            "consents",
            "Your consents and their history, policy acceptances and usage events",
            None,
        ),
        deleted(
            "sharing",
            "Your sharing grants, consent history, ledger and queued deliveries (counted); \
             every third party you shared with was sent a signed request to erase what it \
             received",
            Some(sharing_dropped),
        ),
    ]
}

fn kept_items(quarantine_days: u32) -> Vec<KeptItem> {
    vec![
        KeptItem {
            item: "audit_log".to_owned(),
            description: "Entries of the tamper-evident audit log about your account \
                          (logins, staff access, this deletion), under a pseudonymous id only: \
                          no name, contact detail or message content"
                .to_owned(),
            basis: "Legal obligation: accountability and security logging (PIPL Art. 54, \
                    GDPR Art. 5(2); network logs kept at least 6 months under China's \
                    Cybersecurity Law Art. 21)"
                .to_owned(),
            retention: "The audit log's retention period".to_owned(),
        },
        KeptItem {
            item: "deletion_record".to_owned(),
            description: "The record that this account was deleted, and when: the audit \
                          entry of this deletion and this receipt (the server keeps no copy \
                          of the receipt)"
                .to_owned(),
            basis: "Legal obligation: to demonstrate that the erasure request was met \
                    (GDPR Art. 5(2), PIPL Art. 47)"
                .to_owned(),
            retention: "The audit log's retention period".to_owned(),
        },
        KeptItem {
            item: "username_quarantine".to_owned(),
            description: "A keyed digest of your username (not the name itself), so no one \
                          can register it and pose as you"
                .to_owned(),
            basis: "Legitimate interest: protecting your contacts from impersonation".to_owned(),
            retention: format!("{quarantine_days} days"),
        },
        KeptItem {
            item: "message.metadata".to_owned(),
            description: "In your contacts' conversations, the tombstones of messages you \
                          sent: a random message id and time, no sender and no content"
                .to_owned(),
            basis: "Contract with the recipients: their conversation history stays \
                    consistent"
                .to_owned(),
            retention: "Until the recipients delete their accounts".to_owned(),
        },
    ]
}
