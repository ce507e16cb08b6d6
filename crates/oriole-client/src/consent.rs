//! Consent, the privacy policy and retention: `/v1/me/consents`,
//! `/v1/me/analytics`, `/v1/privacy/policy`, `/v1/me/policy` and the
//! operator endpoints for publishing policies and running retention.

use oriole_proto::{
    AcceptPolicy, AnalyticsEvent, AnalyticsRecorded, ConsentChannel, Consents, PolicyDocument,
    PolicyPublished, PolicyStatus, PublishPolicy, RetentionReport, RetentionRules,
    RetentionRunRequest, SetConsent,
};
use reqwest::Method;

use crate::client::Client;
use crate::error::ClientError;

impl Client {
    /// `GET /v1/me/consents`: every purpose with my state, and the history.
    pub async fn consents(&self) -> Result<Consents, ClientError> {
        self.call(self.request(Method::GET, &["me", "consents"])?)
            .await
    }

    /// `PUT /v1/me/consents`: grant or withdraw an optional purpose by name.
    pub async fn set_consent(
        &self,
        purpose: &str,
        granted: bool,
        channel: ConsentChannel,
    ) -> Result<Consents, ClientError> {
        let body = SetConsent {
            purpose: purpose.to_owned(),
            granted,
            channel: Some(channel),
        };
        self.call(self.request(Method::PUT, &["me", "consents"])?.json(&body))
            .await
    }

    /// `POST /v1/me/analytics`: report a usage event (stored only with
    /// `product_analytics` consent).
    pub async fn report_usage(&self, name: &str) -> Result<AnalyticsRecorded, ClientError> {
        let body = AnalyticsEvent {
            name: name.to_owned(),
        };
        self.call(
            self.request(Method::POST, &["me", "analytics"])?
                .json(&body),
        )
        .await
    }

    /// `GET /v1/privacy/policy`: a version's text (default: the current
    /// one) in a language (default: `en`). Needs no session.
    pub async fn privacy_policy(
        &self,
        version: Option<u32>,
        lang: Option<&str>,
    ) -> Result<PolicyDocument, ClientError> {
        let mut req = self.request(Method::GET, &["privacy", "policy"])?;
        if let Some(version) = version {
            req = req.query(&[("version", version.to_string())]);
        }
        if let Some(lang) = lang {
            req = req.query(&[("lang", lang)]);
        }
        self.call(req).await
    }

    /// `GET /v1/me/policy`: the current version, the one I accepted, and
    /// whether an acceptance is required.
    pub async fn policy_status(&self) -> Result<PolicyStatus, ClientError> {
        self.call(self.request(Method::GET, &["me", "policy"])?)
            .await
    }

    /// `POST /v1/me/policy/acceptances`: accept the current version.
    pub async fn accept_policy(
        &self,
        version: u32,
        channel: ConsentChannel,
    ) -> Result<PolicyStatus, ClientError> {
        let body = AcceptPolicy {
            version,
            channel: Some(channel),
        };
        self.call(
            self.request(Method::POST, &["me", "policy", "acceptances"])?
                .json(&body),
        )
        .await
    }

    /// `POST /v1/admin/policies` (operator: privacy officer): publish a
    /// version's text in one language.
    pub async fn publish_policy(
        &self,
        req: &PublishPolicy,
    ) -> Result<PolicyPublished, ClientError> {
        self.call(
            self.request(Method::POST, &["admin", "policies"])?
                .json(req),
        )
        .await
    }

    /// `GET /v1/admin/retention` (operator: admin): the retention rules.
    pub async fn retention_rules(&self) -> Result<RetentionRules, ClientError> {
        self.call(self.request(Method::GET, &["admin", "retention"])?)
            .await
    }

    /// `POST /v1/admin/retention/run` (operator: admin): apply the rules
    /// now, or count with `dry_run`.
    pub async fn run_retention(
        &self,
        req: &RetentionRunRequest,
    ) -> Result<RetentionReport, ClientError> {
        self.call(
            self.request(Method::POST, &["admin", "retention", "run"])?
                .json(req),
        )
        .await
    }
}
