//! The SDK's side of third-party sharing: the public sharing list, the
//! caller's per-recipient consent and ledger, and the privacy officer's
//! registry calls (with an operator token). Recipients verify webhooks
//! with [`crate::webhook`].

use oriole_proto::{
    DeadLetters, DisclosureRecord, MySharing, RecordDisclosure, RegisterRecipient,
    RegisteredRecipient, SharingConsentStatus, ThirdParties,
};
use reqwest::Method;

use crate::{Client, ClientError};

impl Client {
    /// `GET /v1/privacy/third-parties`: the third-party sharing list.
    pub async fn third_parties(&self) -> Result<ThirdParties, ClientError> {
        self.call(self.request(Method::GET, &["privacy", "third-parties"])?)
            .await
    }

    /// `POST /v1/me/sharing/{recipient}`: consent to share with a recipient.
    pub async fn grant_sharing(
        &self,
        recipient: &str,
    ) -> Result<SharingConsentStatus, ClientError> {
        self.call(self.request(Method::POST, &["me", "sharing", recipient])?)
            .await
    }

    /// `DELETE /v1/me/sharing/{recipient}`: revoke; queued deliveries are
    /// dropped and the recipient is asked to erase.
    pub async fn revoke_sharing(
        &self,
        recipient: &str,
    ) -> Result<SharingConsentStatus, ClientError> {
        self.call(self.request(Method::DELETE, &["me", "sharing", recipient])?)
            .await
    }

    /// `GET /v1/me/sharing`: the sharing ledger and current grants.
    pub async fn my_sharing(&self) -> Result<MySharing, ClientError> {
        self.call(self.request(Method::GET, &["me", "sharing"])?)
            .await
    }

    /// `POST /v1/admin/third-parties` (privacy officer).
    pub async fn register_recipient(
        &self,
        req: &RegisterRecipient,
    ) -> Result<RegisteredRecipient, ClientError> {
        self.call(
            self.request(Method::POST, &["admin", "third-parties"])?
                .json(req),
        )
        .await
    }

    /// `GET /v1/admin/third-parties` (privacy officer).
    pub async fn admin_third_parties(&self) -> Result<ThirdParties, ClientError> {
        self.call(self.request(Method::GET, &["admin", "third-parties"])?)
            .await
    }

    /// `GET /v1/admin/third-parties/dead-letters` (privacy officer).
    pub async fn dead_letters(&self) -> Result<DeadLetters, ClientError> {
        self.call(self.request(Method::GET, &["admin", "third-parties", "dead-letters"])?)
            .await
    }

    /// `POST /v1/admin/disclosures` (privacy officer): record a legal
    /// disclosure; the answer holds the scoped export.
    pub async fn record_disclosure(
        &self,
        req: &RecordDisclosure,
    ) -> Result<DisclosureRecord, ClientError> {
        self.call(
            self.request(Method::POST, &["admin", "disclosures"])?
                .json(req),
        )
        .await
    }
}
