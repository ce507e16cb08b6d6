//! The versioned privacy policy (PRIVACY.md P15): publishing versions,
//! reading them, accepting them, notices, and the re-consent gate that
//! normal operations pass through after a material change.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};

use oriole_audit::{Actor, EntryDraft, EventKind};
use oriole_proto::{
    AcceptPolicy, ConsentChannel, ErrorCode, PolicyDocument, PolicyNotice, PolicyPublished,
    PolicyStatus, PublishPolicy,
};
use tokio::sync::OnceCell;

use super::{Caller, Oriole};
use crate::audit::{details, pseudonym, user_actor};
use crate::consent::{PolicyLang, PolicyText, PolicyVersion, DEFAULT_POLICY};
use crate::domain::UserId;
use crate::error::{ServiceError, ServiceResult};
use crate::privacy_store::{NewPolicyText, PolicyVersionRecord, Published};
use crate::store::{Store, StoreError};

/// The language shown when the one asked for is missing.
const FALLBACK_LANG: &str = "en";

/// What the services remember about the policy between requests, so that
/// the gate and the notice cost no store read on the hot path once a user
/// is known to be up to date.
#[derive(Debug, Default)]
pub(crate) struct PolicyGate {
    /// Set once the default policy is installed and the numbers loaded.
    ready: OnceCell<()>,
    /// The newest version (0 before `ready`).
    current: AtomicU32,
    /// The newest material version: every user must have accepted it.
    required: AtomicU32,
    /// Users known to have accepted `required`.
    accepted: Mutex<HashSet<UserId>>,
    /// Users known to have been told about `current`.
    notified: Mutex<HashSet<UserId>>,
}

fn lock(set: &Mutex<HashSet<UserId>>) -> MutexGuard<'_, HashSet<UserId>> {
    // Every mutation is one insert or a clear: a poisoned set is consistent.
    set.lock().unwrap_or_else(|p| p.into_inner())
}

impl<S: Store> Oriole<S> {
    /// Install the shipped policy as version 1 when no version exists (the
    /// first start), then load the current and required versions. Runs
    /// once per process; every policy operation calls it first.
    async fn policy_ready(&self) -> ServiceResult<()> {
        self.policy
            .ready
            .get_or_try_init(|| async {
                let mut versions = self.store.policy_versions().await?;
                if versions.is_empty() {
                    let at = self.clock.now();
                    for (lang, text) in DEFAULT_POLICY {
                        let text = NewPolicyText {
                            version: PolicyVersion::FIRST,
                            lang: PolicyLang::parse(lang)?,
                            text: PolicyText::parse(text)?,
                            // The first policy is accepted at registration;
                            // it changes nothing, so it gates nobody (and
                            // the gate stays a single atomic load until a
                            // material version is published).
                            material: false,
                            at,
                        };
                        match self.store.publish_policy_text(text).await {
                            // Another process installed it meanwhile.
                            Ok(_) | Err(StoreError::Conflict(_)) => {}
                            Err(e) => return Err(e.into()),
                        }
                    }
                    tracing::info!("installed the default privacy policy as version 1");
                    versions = self.store.policy_versions().await?;
                }
                self.load_versions(&versions);
                Ok::<(), ServiceError>(())
            })
            .await?;
        Ok(())
    }

    fn load_versions(&self, versions: &[PolicyVersionRecord]) {
        let current = versions.iter().map(|v| v.version.get()).max().unwrap_or(0);
        let required = versions
            .iter()
            .filter(|v| v.material)
            .map(|v| v.version.get())
            .max()
            .unwrap_or(0);
        self.policy.current.store(current, Ordering::Release);
        if self.policy.required.swap(required, Ordering::AcqRel) != required {
            lock(&self.policy.accepted).clear();
        }
    }

    /// The version in force.
    pub(crate) async fn current_policy(&self) -> ServiceResult<PolicyVersion> {
        self.policy_ready().await?;
        PolicyVersion::parse(self.policy.current.load(Ordering::Acquire))
            .map_err(|_| ServiceError::new(ErrorCode::Internal, "no privacy policy is installed"))
    }

    /// The re-consent gate: `consent_required`, naming the version, when a
    /// material version the user has not accepted is in force. Normal
    /// operations (send, sync, receipts, recall, groups) call it; reading
    /// the policy, the user's rights, consent and logout never do.
    pub async fn policy_gate(&self, user: UserId) -> ServiceResult<()> {
        self.policy_ready().await?;
        let required = self.policy.required.load(Ordering::Acquire);
        if required == 0 || lock(&self.policy.accepted).contains(&user) {
            return Ok(());
        }
        let accepted = self
            .store
            .accepted_policy(user)
            .await?
            .map_or(0, PolicyVersion::get);
        if accepted >= required {
            lock(&self.policy.accepted).insert(user);
            return Ok(());
        }
        Err(ServiceError::new(
            ErrorCode::ConsentRequired,
            format!(
                "privacy policy version {required} changed materially and must be accepted \
                 first: read it with `oriole privacy policy --diff`, then `oriole privacy \
                 accept {required}` (POST /v1/me/policy/acceptances)"
            ),
        ))
    }

    /// `GET /v1/privacy/policy`: a version's text (default: the current
    /// one) in `lang` (default and fallback: `en`).
    pub async fn policy_document(
        &self,
        version: Option<u32>,
        lang: Option<&str>,
    ) -> ServiceResult<PolicyDocument> {
        self.policy_ready().await?;
        let versions = self.store.policy_versions().await?;
        let current = versions.iter().map(|v| v.version).max();
        let wanted = match version {
            Some(raw) => PolicyVersion::parse(raw)?,
            None => current.ok_or_else(|| ServiceError::not_found("no policy is published"))?,
        };
        let record = versions
            .iter()
            .find(|v| v.version == wanted)
            .ok_or_else(|| {
                ServiceError::not_found(format!(
                    "no policy version {wanted}; published versions: {}",
                    versions
                        .iter()
                        .map(|v| v.version.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
        let asked = lang.map(PolicyLang::parse).transpose()?;
        let pick = asked
            .filter(|l| record.languages.contains(l))
            .or_else(|| {
                record
                    .languages
                    .iter()
                    .find(|l| l.as_str() == FALLBACK_LANG)
                    .cloned()
            })
            .or_else(|| record.languages.first().cloned())
            .ok_or_else(|| ServiceError::not_found("this version has no text"))?;
        let text = self
            .store
            .policy_text(wanted, &pick)
            .await?
            .ok_or_else(|| ServiceError::not_found("this version has no text"))?;
        Ok(PolicyDocument {
            version: wanted.get(),
            lang: pick.as_str().to_owned(),
            languages: record
                .languages
                .iter()
                .map(|l| l.as_str().to_owned())
                .collect(),
            material: record.material,
            published_at: record.published_at.0,
            current: Some(wanted) == current,
            text: text.as_str().to_owned(),
        })
    }

    /// `GET /v1/me/policy`.
    pub async fn policy_status(&self, caller: &Caller) -> ServiceResult<PolicyStatus> {
        let current = self.current_policy().await?;
        let accepted = self.store.accepted_policy(caller.user_id).await?;
        let required = self.policy.required.load(Ordering::Acquire);
        let pending = accepted.map_or(0, PolicyVersion::get) < required;
        Ok(PolicyStatus {
            current: current.get(),
            accepted: accepted.map(PolicyVersion::get),
            required: pending.then_some(required),
        })
    }

    /// `POST /v1/me/policy/acceptances`: accept the version in force (only
    /// that one: accepting an old or unknown version is refused).
    pub async fn accept_policy(
        &self,
        caller: &Caller,
        req: AcceptPolicy,
    ) -> ServiceResult<PolicyStatus> {
        let version = PolicyVersion::parse(req.version)?;
        let current = self.current_policy().await?;
        if version != current {
            let known = self
                .store
                .policy_versions()
                .await?
                .iter()
                .any(|v| v.version == version);
            let message = if known {
                format!("version {version} is not the current policy; accept version {current}")
            } else {
                format!("no policy version {version}; the current version is {current}")
            };
            return Err(ServiceError::new(
                if known {
                    ErrorCode::InvalidInput
                } else {
                    ErrorCode::NotFound
                },
                message,
            ));
        }
        let channel = req.channel.unwrap_or(ConsentChannel::Api);
        self.store
            .accept_policy(caller.user_id, version, channel, self.clock.now())
            .await?;
        self.store
            .mark_policy_notified(&[caller.user_id], version)
            .await?;
        lock(&self.policy.notified).insert(caller.user_id);
        self.audit(
            EntryDraft::new(
                self.now_ms(),
                user_actor(caller.user_id),
                EventKind::POLICY_CHANGE,
            )
            .subject(pseudonym(caller.user_id))
            .details(details(serde_json::json!({
                "operation": "accept",
                "version": version.get(),
                "channel": channel.as_str(),
            }))),
        )
        .await?;
        self.fanout.policy_accepted(caller.user_id);
        self.policy_status(caller).await
    }

    /// Record at registration that the new user accepted the version in
    /// force, and was told about it.
    pub(crate) async fn accept_policy_at_registration(&self, user: UserId) -> ServiceResult<()> {
        let current = self.current_policy().await?;
        self.store
            .accept_policy(
                user,
                current,
                ConsentChannel::Registration,
                self.clock.now(),
            )
            .await?;
        self.store.mark_policy_notified(&[user], current).await?;
        Ok(())
    }

    /// Publish a version's text in one language (a privacy officer's
    /// action, audited). A new version becomes current and is announced;
    /// a new language of an existing version is added quietly.
    pub async fn publish_policy(
        &self,
        actor: Actor,
        req: PublishPolicy,
    ) -> ServiceResult<PolicyPublished> {
        let version = PolicyVersion::parse(req.version)?;
        let lang = PolicyLang::parse(&req.lang)?;
        let text = PolicyText::parse(&req.text)?;
        self.policy_ready().await?;
        let versions = self.store.policy_versions().await?;
        let existing = versions.iter().find(|v| v.version == version);
        let current = self.current_policy().await?;
        match existing {
            Some(v) if v.languages.contains(&lang) => {
                return Err(ServiceError::new(
                    ErrorCode::Conflict,
                    format!(
                        "version {version} is already published in `{}`; publish a new version",
                        lang.as_str()
                    ),
                ))
            }
            Some(v) if req.material && !v.material => {
                return Err(ServiceError::invalid(format!(
                    "version {version} exists and is not material; `--material` applies to a \
                     new version only"
                )))
            }
            None if version <= current => {
                return Err(ServiceError::invalid(format!(
                    "versions only go up: the current version is {current}; publish {} or later",
                    current.get() + 1
                )))
            }
            _ => {}
        }
        let now = self.clock.now();
        let outcome = self
            .store
            .publish_policy_text(NewPolicyText {
                version,
                lang: lang.clone(),
                text,
                material: req.material,
                at: now,
            })
            .await?;
        let material = existing.map_or(req.material, |v| v.material);
        self.audit(
            EntryDraft::new(now.0, actor, EventKind::POLICY_CHANGE).details(details(
                serde_json::json!({
                    "operation": if outcome == Published::NewVersion { "publish" } else { "translate" },
                    "version": version.get(),
                    "lang": lang.as_str(),
                    "material": material,
                }),
            )),
        )
        .await?;
        let mut notified = 0;
        if outcome == Published::NewVersion {
            let versions = self.store.policy_versions().await?;
            lock(&self.policy.notified).clear();
            self.load_versions(&versions);
            let notice = notice(version, material, now.0);
            let reached = self.fanout.announce_policy(notice);
            notified = reached.len() as u64;
            let users: Vec<UserId> = reached
                .into_iter()
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            self.store.mark_policy_notified(&users, version).await?;
            lock(&self.policy.notified).extend(users);
            tracing::info!(
                version = version.get(),
                material,
                "privacy policy published"
            );
        }
        Ok(PolicyPublished {
            version: version.get(),
            lang: lang.as_str().to_owned(),
            material,
            new_version: outcome == Published::NewVersion,
            notified_connections: notified,
        })
    }

    /// The notice of the current version, when the user has not been told
    /// about it yet; it then counts as told. Delivered after `hello` and
    /// with the next sync page.
    pub async fn take_policy_notice(&self, user: UserId) -> ServiceResult<Option<PolicyNotice>> {
        let current = self.current_policy().await?;
        if lock(&self.policy.notified).contains(&user) {
            return Ok(None);
        }
        let told = self.store.policy_notified(user).await?;
        if told.is_some_and(|t| t >= current) {
            lock(&self.policy.notified).insert(user);
            return Ok(None);
        }
        let versions = self.store.policy_versions().await?;
        let Some(record) = versions.iter().find(|v| v.version == current) else {
            return Ok(None);
        };
        self.store.mark_policy_notified(&[user], current).await?;
        lock(&self.policy.notified).insert(user);
        Ok(Some(notice(
            current,
            record.material,
            record.published_at.0,
        )))
    }
}

fn notice(version: PolicyVersion, material: bool, published_at: i64) -> PolicyNotice {
    let message = if material {
        format!(
            "privacy policy version {version} was published with material changes: accept it \
             to go on using the service (your rights and consent settings stay available)"
        )
    } else {
        format!("privacy policy version {version} was published")
    };
    PolicyNotice {
        version: version.get(),
        material,
        published_at,
        message,
    }
}
