//! Operator accounts and sessions: bootstrap of the first admin, login,
//! token checks, and operator management. Every step is audited with the
//! operator's pseudonym and role, never the name.

use oriole_audit::{EntryDraft, EventKind};
use oriole_crypto::{hash_password, verify_password, SessionToken, TokenHash};
use oriole_proto::{
    ErrorCode, NewOperatorRequest, OperatorInfo, OperatorLoginRequest, OperatorPasswordRequest,
    OperatorSession,
};

use super::Oriole;
use crate::audit::details;
use crate::domain::{Password, Timestamp};
use crate::error::{ServiceError, ServiceResult};
use crate::staff::{
    operator_pseudonym, role_code, Operator, OperatorId, OperatorName, OperatorRecord, Permission,
    Role,
};
use crate::store::Store;

/// How long an operator session lasts: one working day. Staff log in again
/// each day, so a leaked token is short-lived.
pub const OPERATOR_SESSION_MS: i64 = 12 * 3600 * 1000;

fn info(op: &OperatorRecord) -> OperatorInfo {
    OperatorInfo {
        operator_id: op.id.to_string(),
        name: op.name.to_string(),
        role: op.role,
        created_at: op.created_at.0,
        disabled_at: op.disabled_at.map(|t| t.0),
    }
}

fn operator(op: OperatorRecord) -> Operator {
    Operator {
        id: op.id,
        name: op.name,
        role: op.role,
    }
}

impl<S: Store> Oriole<S> {
    /// Create the first admin, on the local data directory (no operator
    /// can create one before there is one). Refused once an admin exists.
    pub async fn bootstrap_admin(&self, name: &str, password: &str) -> ServiceResult<OperatorInfo> {
        let name = OperatorName::parse(name)?;
        let password = Password::parse(password)?;
        if self
            .store
            .operators()
            .await?
            .iter()
            .any(|o| o.role == Role::Admin)
        {
            return Err(ServiceError::new(
                ErrorCode::Conflict,
                "an admin already exists; log in as one and use `oriole admin operator add`",
            ));
        }
        let record = self.new_operator(name, Role::Admin, password).await?;
        self.audit(
            EntryDraft::new(
                self.now_ms(),
                oriole_audit::Actor::System,
                EventKind::OPERATOR_ACTION,
            )
            .details(details(serde_json::json!({
                "operation": "operator_bootstrap",
                "operator": operator_pseudonym(record.id).as_str(),
                "role": role_code(record.role),
            }))),
        )
        .await?;
        Ok(info(&record))
    }

    async fn new_operator(
        &self,
        name: OperatorName,
        role: Role,
        password: Password,
    ) -> ServiceResult<OperatorRecord> {
        let password_hash = self.hash_operator_password(password).await?;
        let record = OperatorRecord {
            id: OperatorId::generate(),
            name,
            role,
            password_hash,
            created_at: self.clock.now(),
            disabled_at: None,
        };
        self.store.create_operator(record.clone()).await?;
        Ok(record)
    }

    async fn hash_operator_password(
        &self,
        password: Password,
    ) -> ServiceResult<oriole_crypto::PasswordHashString> {
        let cost = self.config.password_cost;
        tokio::task::spawn_blocking(move || hash_password(password.secret(), cost))
            .await
            .map_err(|e| {
                ServiceError::new(ErrorCode::Internal, format!("hashing task failed: {e}"))
            })?
            .map_err(|e| ServiceError::new(ErrorCode::Internal, e.to_string()))
    }

    /// An operator logs in with name and password. Failures are throttled
    /// like end-user logins and audited with the operator's pseudonym when
    /// the name exists (never the typed name).
    pub async fn operator_login(
        &self,
        req: OperatorLoginRequest,
    ) -> ServiceResult<OperatorSession> {
        let now = self.clock.now();
        let wrong = || ServiceError::unauthorized("wrong operator name or password");
        let name = OperatorName::parse(&req.name).map_err(|_| wrong())?;
        let key = format!("operator:{name}");
        if let Some(wait) = self.account_throttle.check(&key, now) {
            return Err(ServiceError::rate_limited(wait));
        }
        let found = self.store.operator_by_name(&name).await?;
        let stored = found
            .as_ref()
            .map_or_else(|| self.dummy_hash.clone(), |o| o.password_hash.clone());
        let password = secrecy::SecretString::from(req.password);
        let ok = tokio::task::spawn_blocking(move || verify_password(&password, &stored))
            .await
            .unwrap_or(false);
        let Some(record) = found.clone().filter(|_| ok) else {
            self.account_throttle.record_failure(&key, now);
            let mut draft =
                EntryDraft::new(now.0, oriole_audit::Actor::System, EventKind::LOGIN_FAILED)
                    .details(details(serde_json::json!({ "cause": "operator_login" })));
            if let Some(o) = &found {
                draft = draft.subject(operator_pseudonym(o.id));
            }
            self.audit(draft).await?;
            return Err(wrong());
        };
        self.account_throttle.clear(&key);
        if record.disabled_at.is_some() {
            // Said only to whoever knows the password.
            self.audit(
                EntryDraft::new(now.0, oriole_audit::Actor::System, EventKind::LOGIN_FAILED)
                    .subject(operator_pseudonym(record.id))
                    .details(details(serde_json::json!({ "cause": "operator_disabled" }))),
            )
            .await?;
            return Err(ServiceError::unauthorized(
                "this operator account is disabled",
            ));
        }
        let token = SessionToken::generate();
        let expires_at = Timestamp(now.0.saturating_add(OPERATOR_SESSION_MS));
        self.store
            .create_operator_session(&token.hash(), record.id, now, expires_at)
            .await?;
        let op = operator(record.clone());
        self.audit(
            EntryDraft::new(now.0, op.actor(), EventKind::LOGIN).subject(operator_pseudonym(op.id)),
        )
        .await?;
        Ok(OperatorSession {
            token: token.expose().to_owned(),
            operator: info(&record),
            expires_at: expires_at.0,
        })
    }

    /// Resolve an operator's bearer token. End-user tokens, unknown,
    /// expired and revoked tokens all get the same `unauthorized`.
    pub async fn authenticate_operator(&self, token: &str) -> ServiceResult<Operator> {
        if token.is_empty() || token.len() > 256 {
            return Err(ServiceError::unauthorized("invalid operator token"));
        }
        self.store
            .operator_by_session(&TokenHash::of(token), self.clock.now())
            .await?
            .map(operator)
            .ok_or_else(|| ServiceError::unauthorized("invalid, expired or revoked operator token"))
    }

    /// End the operator's session.
    pub async fn operator_logout(&self, op: &Operator, token: &str) -> ServiceResult<()> {
        self.store
            .revoke_operator_session(&TokenHash::of(token), self.clock.now())
            .await?;
        self.audit(
            EntryDraft::new(self.now_ms(), op.actor(), EventKind::LOGOUT)
                .subject(operator_pseudonym(op.id)),
        )
        .await
    }

    /// Create an operator account (`manage_operators`).
    pub async fn add_operator(
        &self,
        by: &Operator,
        req: NewOperatorRequest,
    ) -> ServiceResult<OperatorInfo> {
        by.require(Permission::ManageOperators)?;
        let name = OperatorName::parse(&req.name)?;
        let password = Password::parse(&req.password)?;
        let record = self.new_operator(name, req.role, password).await?;
        self.audit(
            EntryDraft::new(self.now_ms(), by.actor(), EventKind::OPERATOR_ACTION).details(
                details(serde_json::json!({
                    "operation": "operator_add",
                    "operator": operator_pseudonym(record.id).as_str(),
                    "role": role_code(record.role),
                })),
            ),
        )
        .await?;
        Ok(info(&record))
    }

    /// Disable an operator (`manage_operators`): login is refused and every
    /// live session of theirs ends at once. Never one's own account, so an
    /// admin cannot lock everyone out by mistake. Disabling a disabled
    /// operator changes nothing and is not audited again.
    pub async fn disable_operator(&self, by: &Operator, name: &str) -> ServiceResult<OperatorInfo> {
        by.require(Permission::ManageOperators)?;
        let name = OperatorName::parse(name)?;
        let record = self
            .store
            .operator_by_name(&name)
            .await?
            .ok_or_else(|| ServiceError::not_found("no such operator"))?;
        if record.id == by.id {
            return Err(ServiceError::new(
                ErrorCode::Conflict,
                "an operator cannot disable their own account; ask another admin",
            ));
        }
        let now = self.clock.now();
        if self.store.disable_operator(record.id, now).await? {
            self.audit(
                EntryDraft::new(now.0, by.actor(), EventKind::OPERATOR_ACTION).details(details(
                    serde_json::json!({
                        "operation": "operator_disable",
                        "operator": operator_pseudonym(record.id).as_str(),
                        "role": role_code(record.role),
                    }),
                )),
            )
            .await?;
        }
        let record = self
            .store
            .operator_by_id(record.id)
            .await?
            .ok_or_else(|| ServiceError::not_found("no such operator"))?;
        Ok(info(&record))
    }

    /// An operator sets their own new password (any role); their other
    /// sessions end, the one that asked (`token`) stays.
    pub async fn change_operator_password(
        &self,
        op: &Operator,
        token: &str,
        req: OperatorPasswordRequest,
    ) -> ServiceResult<()> {
        let password = Password::parse(&req.password)?;
        let hash = self.hash_operator_password(password).await?;
        let now = self.clock.now();
        self.store
            .set_operator_password(op.id, &hash, &TokenHash::of(token), now)
            .await?;
        self.audit(
            EntryDraft::new(now.0, op.actor(), EventKind::OPERATOR_ACTION)
                .subject(operator_pseudonym(op.id))
                .details(details(serde_json::json!({
                    "operation": "operator_password_change",
                }))),
        )
        .await
    }

    /// Every operator account (`manage_operators`).
    pub async fn list_operators(&self, by: &Operator) -> ServiceResult<Vec<OperatorInfo>> {
        by.require(Permission::ManageOperators)?;
        Ok(self.store.operators().await?.iter().map(info).collect())
    }
}
