//! Purposes and consent (PRIVACY.md P2): the caller's consents with their
//! history, granting and withdrawing (withdrawal erases what was collected
//! for the purpose), and the collection points that check consent.

use oriole_audit::{EntryDraft, EventKind};
use oriole_proto::{
    AnalyticsEvent, AnalyticsRecorded, ConsentChannel, ConsentRecord, ConsentState, Consents,
    Purpose, SetConsent,
};

use super::{Caller, Oriole};
use crate::audit::{details, pseudonym, user_actor};
use crate::consent::{AnalyticsEventName, OptionalPurpose, PURPOSES};
use crate::domain::UserId;
use crate::error::ServiceResult;
use crate::inventory::Necessity;
use crate::privacy_store::ConsentChange;
use crate::store::Store;

impl<S: Store> Oriole<S> {
    /// `GET /v1/me/consents`: every purpose with its state, and the history.
    pub async fn consents(&self, caller: &Caller) -> ServiceResult<Consents> {
        let history = self.store.consent_history(caller.user_id).await?;
        let purposes = PURPOSES
            .iter()
            .map(|decl| {
                let last = history.iter().rev().find(|c| c.purpose == decl.purpose);
                let necessary = decl.necessity == Necessity::Necessary;
                ConsentState {
                    purpose: decl.purpose,
                    description: decl.description.to_owned(),
                    legal_basis: decl.legal_basis,
                    necessary,
                    granted: necessary || last.is_some_and(|c| c.granted),
                    changed_at: last.map(|c| c.at.0),
                }
            })
            .collect();
        Ok(Consents {
            purposes,
            history: history
                .into_iter()
                .map(|c| ConsentRecord {
                    purpose: c.purpose,
                    granted: c.granted,
                    policy_version: c.policy_version.get(),
                    channel: c.channel,
                    at: c.at.0,
                })
                .collect(),
        })
    }

    /// `PUT /v1/me/consents`: grant or withdraw an optional purpose. Never
    /// gated: withdrawing must stay as easy as granting. A withdrawal stops
    /// collection at once and erases what was collected for the purpose.
    pub async fn set_consent(&self, caller: &Caller, req: SetConsent) -> ServiceResult<Consents> {
        let purpose = OptionalPurpose::parse(&req.purpose)?;
        let channel = req.channel.unwrap_or(ConsentChannel::Api);
        self.change_consent(caller.user_id, purpose, req.granted, channel)
            .await?;
        self.consents(caller).await
    }

    async fn change_consent(
        &self,
        user: UserId,
        purpose: OptionalPurpose,
        granted: bool,
        channel: ConsentChannel,
    ) -> ServiceResult<()> {
        let policy_version = self.current_policy().await?;
        let erased = self
            .store
            .record_consent(ConsentChange {
                user,
                purpose: purpose.purpose(),
                granted,
                policy_version,
                channel,
                at: self.clock.now(),
            })
            .await?;
        self.audit(
            EntryDraft::new(self.now_ms(), user_actor(user), EventKind::CONSENT_CHANGE)
                .subject(pseudonym(user))
                .details(details(serde_json::json!({
                    "purpose": purpose.name(),
                    "granted": granted,
                    "policy_version": policy_version.get(),
                    "channel": channel.as_str(),
                    "erased": erased,
                }))),
        )
        .await
    }

    /// The optional purposes a new account consents to at registration:
    /// parsed before the account exists, so a bad name changes nothing.
    pub(crate) fn parse_registration_consents(
        raw: &[String],
    ) -> ServiceResult<Vec<OptionalPurpose>> {
        let mut purposes = Vec::new();
        for name in raw {
            let purpose = OptionalPurpose::parse(name)?;
            if !purposes.contains(&purpose) {
                purposes.push(purpose);
            }
        }
        Ok(purposes)
    }

    pub(crate) async fn grant_at_registration(
        &self,
        user: UserId,
        purposes: &[OptionalPurpose],
    ) -> ServiceResult<()> {
        for purpose in purposes {
            self.change_consent(user, *purpose, true, ConsentChannel::Registration)
                .await?;
        }
        Ok(())
    }

    /// Whether the device model and OS version a client reports may be
    /// stored for this user (`device_diagnostics` consent).
    pub(crate) async fn diagnostics_allowed(&self, user: UserId) -> ServiceResult<bool> {
        Ok(self
            .store
            .has_consent(user, Purpose::DeviceDiagnostics)
            .await?)
    }

    /// `POST /v1/me/analytics`: a client-reported usage event, stored only
    /// with `product_analytics` consent (checked in the store's write
    /// transaction). Without it nothing is stored and the call still
    /// succeeds.
    pub async fn record_analytics(
        &self,
        caller: &Caller,
        event: AnalyticsEvent,
    ) -> ServiceResult<AnalyticsRecorded> {
        let name = AnalyticsEventName::parse(&event.name)?;
        let recorded = self
            .store
            .record_analytics_event(caller.user_id, &name, self.clock.now())
            .await?;
        Ok(AnalyticsRecorded { recorded })
    }

    /// How many usage events are stored for the caller.
    pub async fn analytics_event_count(&self, caller: &Caller) -> ServiceResult<u64> {
        Ok(self.store.analytics_event_count(caller.user_id).await?)
    }
}
