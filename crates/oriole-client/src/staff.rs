//! The SDK's side of staff access control and the audit log: the server's
//! public signing keys, and the operator API (`/v1/admin/...`), which takes
//! an operator token (see [`Client::with_token`]).

use oriole_proto::{
    NewOperatorRequest, OperatorInfo, OperatorList, OperatorLoginRequest, OperatorPasswordRequest,
    OperatorSession, PublicKeys,
};
use reqwest::Method;

use crate::{Client, ClientError};

impl Client {
    /// `GET /v1/keys`: the server's public signing keys (`audit` for the
    /// audit log's checkpoints, `receipt` for deletion receipts). Needs no
    /// session.
    pub async fn public_keys(&self) -> Result<PublicKeys, ClientError> {
        self.call(self.request(Method::GET, &["keys"])?).await
    }

    /// `POST /v1/admin/sessions`: log in as an operator; the client keeps
    /// the operator token.
    pub async fn operator_login(
        &mut self,
        req: OperatorLoginRequest,
    ) -> Result<OperatorSession, ClientError> {
        let session: OperatorSession = self
            .call(
                self.request(Method::POST, &["admin", "sessions"])?
                    .json(&req),
            )
            .await?;
        self.token = Some(session.token.clone());
        Ok(session)
    }

    /// `DELETE /v1/admin/sessions/current`.
    pub async fn operator_logout(&mut self) -> Result<(), ClientError> {
        self.call_empty(self.request(Method::DELETE, &["admin", "sessions", "current"])?)
            .await?;
        self.token = None;
        Ok(())
    }

    /// `POST /v1/admin/operators` (role `admin`).
    pub async fn add_operator(&self, req: NewOperatorRequest) -> Result<OperatorInfo, ClientError> {
        self.call(
            self.request(Method::POST, &["admin", "operators"])?
                .json(&req),
        )
        .await
    }

    /// `GET /v1/admin/operators` (role `admin`).
    pub async fn operators(&self) -> Result<Vec<OperatorInfo>, ClientError> {
        let list: OperatorList = self
            .call(self.request(Method::GET, &["admin", "operators"])?)
            .await?;
        Ok(list.operators)
    }

    /// `POST /v1/admin/operators/{name}/disable` (role `admin`): no more
    /// logins, and the operator's sessions end at once.
    pub async fn disable_operator(&self, name: &str) -> Result<OperatorInfo, ClientError> {
        self.call(self.request(Method::POST, &["admin", "operators", name, "disable"])?)
            .await
    }

    /// `PUT /v1/admin/password` (any operator): set one's own new password;
    /// the operator's other sessions end, this client's stays.
    pub async fn change_operator_password(&self, password: &str) -> Result<(), ClientError> {
        self.call_empty(self.request(Method::PUT, &["admin", "password"])?.json(
            &OperatorPasswordRequest {
                password: password.to_owned(),
            },
        ))
        .await
    }
}

impl Client {
    /// `GET /v1/audit/entries` (role `auditor`): entries after `after`, in
    /// the export format of `docs/audit.md`.
    pub async fn audit_entries(
        &self,
        after: u64,
        limit: u32,
    ) -> Result<Vec<serde_json::Value>, ClientError> {
        let page: oriole_proto::AuditPage = self
            .call(
                self.request(Method::GET, &["audit", "entries"])?
                    .query(&[("after", after), ("limit", u64::from(limit))]),
            )
            .await?;
        Ok(page.entries)
    }

    /// `GET /v1/audit/checkpoints` (role `auditor`).
    pub async fn audit_checkpoints(&self) -> Result<Vec<serde_json::Value>, ClientError> {
        let list: oriole_proto::AuditCheckpoints = self
            .call(self.request(Method::GET, &["audit", "checkpoints"])?)
            .await?;
        Ok(list.checkpoints)
    }
}

impl Client {
    /// `GET /v1/admin/users/{username}?reason=..&ticket=..` (roles `support`,
    /// `privacy_officer`): account metadata, audited.
    pub async fn admin_user(
        &self,
        username: &str,
        reason: &str,
        ticket: &str,
    ) -> Result<oriole_proto::UserAccountView, ClientError> {
        self.call(
            self.request(Method::GET, &["admin", "users", username])?
                .query(&[("reason", reason), ("ticket", ticket)]),
        )
        .await
    }

    /// `GET /v1/admin/users/{username}/messages?reason=..&ticket=..`: under
    /// an approved content access grant only.
    pub async fn admin_user_messages(
        &self,
        username: &str,
        reason: &str,
        ticket: &str,
    ) -> Result<Vec<oriole_proto::InboxEvent>, ClientError> {
        let view: oriole_proto::UserMessagesView = self
            .call(
                self.request(Method::GET, &["admin", "users", username, "messages"])?
                    .query(&[("reason", reason), ("ticket", ticket)]),
            )
            .await?;
        Ok(view.events)
    }

    /// `POST /v1/admin/content-access`.
    pub async fn request_content_access(
        &self,
        req: oriole_proto::ContentAccessRequest,
    ) -> Result<oriole_proto::ContentAccessGrant, ClientError> {
        self.call(
            self.request(Method::POST, &["admin", "content-access"])?
                .json(&req),
        )
        .await
    }

    /// `POST /v1/admin/content-access/{grant_id}/approve`.
    pub async fn approve_content_access(
        &self,
        grant_id: &str,
    ) -> Result<oriole_proto::ContentAccessGrant, ClientError> {
        self.call(self.request(
            Method::POST,
            &["admin", "content-access", grant_id, "approve"],
        )?)
        .await
    }

    /// `GET /v1/me/access-log`: every staff access to my data.
    pub async fn access_log(&self) -> Result<Vec<oriole_proto::AccessLogEntry>, ClientError> {
        let log: oriole_proto::AccessLog = self
            .call(self.request(Method::GET, &["me", "access-log"])?)
            .await?;
        Ok(log.accesses)
    }
}
