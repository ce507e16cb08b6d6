//! Accounts, logins, sessions and devices.

use oriole_audit::EventKind;
use oriole_crypto::{hash_password, verify_password, SessionToken, TokenHash};
use oriole_proto::{
    DeviceInfo, ErrorCode, LoginRequest, Profile, RegisterRequest, SessionResponse,
};

use super::{Caller, Oriole};
use crate::consent::OptionalPurpose;
use crate::domain::{DeviceId, DeviceLabel, Email, Password, Phone, UserId, Username};
use crate::error::{ServiceError, ServiceResult};
use crate::store::{NewDevice, NewUser, Store};

/// How often a device's `last_seen` is written at most (it is personal
/// data, and a write per request would be a hot path).
const TOUCH_INTERVAL_MS: i64 = 60_000;

fn optional<T>(
    raw: Option<&str>,
    parse: impl FnOnce(&str) -> Result<T, crate::domain::InvalidValue>,
) -> ServiceResult<Option<T>> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => Ok(Some(parse(s)?)),
    }
}

/// The device model and OS version a client reports at login.
type DeviceLabels = (Option<DeviceLabel>, Option<DeviceLabel>);

fn device_labels(model: Option<&str>, os: Option<&str>) -> ServiceResult<DeviceLabels> {
    Ok((
        optional(model, |s| DeviceLabel::parse(s, "device model"))?,
        optional(os, |s| DeviceLabel::parse(s, "OS version"))?,
    ))
}

impl<S: Store> Oriole<S> {
    /// Create an account and log it in on the registering device.
    #[tracing::instrument(skip_all)]
    pub async fn register(
        &self,
        req: RegisterRequest,
        ip: Option<String>,
    ) -> ServiceResult<SessionResponse> {
        let username = Username::parse(&req.username)?;
        let password = Password::parse(&req.password)?;
        let phone = optional(req.phone.as_deref(), Phone::parse)?;
        let email = optional(req.email.as_deref(), Email::parse)?;
        let (model, os) = device_labels(req.device_model.as_deref(), req.os_version.as_deref())?;
        let consents = Self::parse_registration_consents(&req.consents)?;
        if self.store.user_by_name(&username).await?.is_some() {
            return Err(ServiceError::new(ErrorCode::Conflict, "username is taken"));
        }
        // A deleted account's name stays unavailable for a while.
        if self
            .store
            .username_quarantined(&username, self.clock.now())
            .await?
        {
            return Err(ServiceError::new(ErrorCode::Conflict, "username is taken"));
        }
        let password_hash = self.hash(password).await?;
        let user_id = UserId::generate();
        self.store
            .create_user(NewUser {
                id: user_id,
                username: username.clone(),
                password_hash,
                phone,
                email,
                created_at: self.clock.now(),
            })
            .await?;
        // Without the id: it is the account's pseudonym in the audit log,
        // which records the registration; logs carry no personal data.
        tracing::info!("account created");
        self.accept_policy_at_registration(user_id).await?;
        self.grant_at_registration(user_id, &consents).await?;
        // Device details only under `device_diagnostics` consent.
        let (model, os) = if consents.contains(&OptionalPurpose::DEVICE_DIAGNOSTICS) {
            (model, os)
        } else {
            (None, None)
        };
        self.open_session(user_id, &username, model, os, ip).await
    }

    /// Log in with a password, creating a new device session.
    #[tracing::instrument(skip_all)]
    pub async fn login(
        &self,
        req: LoginRequest,
        ip: Option<String>,
    ) -> ServiceResult<SessionResponse> {
        let now = self.clock.now();
        let username = Username::parse(&req.username)
            .map_err(|_| ServiceError::unauthorized("wrong username or password"))?;
        let account_key = username.as_str().to_owned();
        let ip_key = ip.clone().unwrap_or_default();
        for (throttle, key) in [
            (&self.account_throttle, &account_key),
            (&self.ip_throttle, &ip_key),
        ] {
            if let Some(wait) = throttle.check(key, now) {
                // Only the account's id, found by name, is recorded.
                let account = self.store.user_by_name(&username).await?.map(|u| u.id);
                self.audit_login_failed(account, "rate_limited").await?;
                return Err(ServiceError::rate_limited(wait));
            }
        }
        let (model, os) = device_labels(req.device_model.as_deref(), req.os_version.as_deref())?;
        let user = self.store.user_by_name(&username).await?;
        // Verify against a dummy hash for unknown users so timing does not
        // reveal which usernames exist.
        let stored = user
            .as_ref()
            .map_or_else(|| self.dummy_hash.clone(), |u| u.password_hash.clone());
        let password = secrecy::SecretString::from(req.password);
        let ok = tokio::task::spawn_blocking(move || verify_password(&password, &stored))
            .await
            .unwrap_or(false);
        let account = user.as_ref().map(|u| u.id);
        let Some(user) = user.filter(|_| ok) else {
            self.account_throttle.record_failure(&account_key, now);
            self.ip_throttle.record_failure(&ip_key, now);
            tracing::info!("failed login");
            let cause = if account.is_some() {
                "wrong_password"
            } else {
                "unknown_account"
            };
            self.audit_login_failed(account, cause).await?;
            return Err(ServiceError::unauthorized("wrong username or password"));
        };
        self.account_throttle.clear(&account_key);
        // Device details only under `device_diagnostics` consent.
        let (model, os) =
            if (model.is_some() || os.is_some()) && self.diagnostics_allowed(user.id).await? {
                (model, os)
            } else {
                (None, None)
            };
        let session = self
            .open_session(user.id, &user.username, model, os, ip)
            .await?;
        let device: DeviceId = session.device_id.parse()?;
        self.audit_login(user.id, device).await?;
        Ok(session)
    }

    async fn hash(&self, password: Password) -> ServiceResult<oriole_crypto::PasswordHashString> {
        let cost = self.config.password_cost;
        tokio::task::spawn_blocking(move || hash_password(password.secret(), cost))
            .await
            .map_err(|e| {
                ServiceError::new(ErrorCode::Internal, format!("hashing task failed: {e}"))
            })?
            .map_err(|e| ServiceError::new(ErrorCode::Internal, e.to_string()))
    }

    async fn open_session(
        &self,
        user_id: UserId,
        username: &Username,
        device_model: Option<DeviceLabel>,
        os_version: Option<DeviceLabel>,
        ip: Option<String>,
    ) -> ServiceResult<SessionResponse> {
        let token = SessionToken::generate();
        let device_id = DeviceId::generate();
        self.store
            .create_device(NewDevice {
                id: device_id,
                user_id,
                token_hash: token.hash(),
                device_model,
                os_version,
                ip,
                at: self.clock.now(),
            })
            .await?;
        Ok(SessionResponse {
            user_id: user_id.to_string(),
            username: username.to_string(),
            device_id: device_id.to_string(),
            token: token.expose().to_owned(),
        })
    }

    /// Resolve a bearer token to its caller. Unknown, revoked and malformed
    /// tokens all get the same `unauthorized`.
    pub async fn authenticate(&self, token: &str) -> ServiceResult<Caller> {
        if token.is_empty() || token.len() > 256 {
            return Err(ServiceError::unauthorized("invalid token"));
        }
        let session = self
            .store
            .session_by_token(&TokenHash::of(token))
            .await?
            .ok_or_else(|| ServiceError::unauthorized("invalid, expired or revoked token"))?;
        let now = self.clock.now();
        if now.0 - session.last_seen.0 > TOUCH_INTERVAL_MS {
            self.store.touch_device(session.device_id, now).await?;
        }
        Ok(Caller {
            user_id: session.user_id,
            username: session.username,
            device_id: session.device_id,
        })
    }

    /// End this device's session and close its sockets.
    pub async fn logout(&self, caller: &Caller) -> ServiceResult<()> {
        self.store
            .revoke_device(caller.user_id, caller.device_id, self.clock.now())
            .await?;
        self.fanout.disconnect_device(caller.device_id);
        self.audit_session_end(caller.user_id, caller.device_id, EventKind::LOGOUT)
            .await
    }

    pub async fn devices(&self, caller: &Caller) -> ServiceResult<Vec<DeviceInfo>> {
        let devices = self.store.devices(caller.user_id).await?;
        Ok(devices
            .into_iter()
            .map(|d| DeviceInfo {
                device_id: d.id.to_string(),
                device_model: d.device_model.map(|m| m.as_str().to_owned()),
                os_version: d.os_version.map(|m| m.as_str().to_owned()),
                ip: d.ip,
                first_seen: d.first_seen.0,
                last_seen: d.last_seen.0,
                current: d.id == caller.device_id,
            })
            .collect())
    }

    /// Revoke one of my devices: its token stops working and its sockets
    /// close at once.
    pub async fn revoke_device(&self, caller: &Caller, device: &str) -> ServiceResult<()> {
        let device: DeviceId = device.parse()?;
        if !self
            .store
            .revoke_device(caller.user_id, device, self.clock.now())
            .await?
        {
            return Err(ServiceError::not_found("no such device"));
        }
        self.fanout.disconnect_device(device);
        self.audit_session_end(caller.user_id, device, EventKind::DEVICE_REVOKE)
            .await
    }

    pub async fn profile(&self, caller: &Caller) -> ServiceResult<Profile> {
        let user = self
            .store
            .user_by_id(caller.user_id)
            .await?
            .ok_or_else(|| ServiceError::unauthorized("account no longer exists"))?;
        let display_name = self.store.display_name(user.id).await?;
        Ok(Profile {
            user_id: user.id.to_string(),
            username: user.username.to_string(),
            display_name: display_name.map(|n| n.as_str().to_owned()),
            phone: user.phone.map(|p| p.as_str().to_owned()),
            email: user.email.map(|e| e.as_str().to_owned()),
            created_at: user.created_at.0,
        })
    }
}
