//! Third-party sharing under consent (P13): the registry, per-recipient
//! consent, the bot flow (gate, minimize, pseudonymize, queue), bot replies
//! through the signed callback, revocation with an erasure request, the
//! ledger, and the steps of the server's delivery worker.

use oriole_audit::{Actor, EntryDraft, EventKind};
use oriole_gateway::{
    minimize, sign, verify_signature, BotReply, SharedMessage, SignatureError, WebhookBody,
};
use oriole_proto::{
    CallbackAccepted, DeadLetter, DeadLetters, ErrorCode, EventKind as InboxKind, InboxEvent,
    MySharing, RecipientInfo, RegisterRecipient, SharingConsentStatus, SharingGrantInfo,
    SharingLedgerEntry, ThirdParties,
};

use super::{Caller, Oriole};
use crate::audit::{details, pseudonym, user_actor};
use crate::domain::{MessageBody, MessageId, Timestamp, UserId, Username};
use crate::error::{ServiceError, ServiceResult};
use crate::sharing::{
    CategorySet, DeliveryId, DeliveryUrl, NewDelivery, NewRecipient, PendingDelivery, PseudonymKey,
    RecipientId, RecipientName, RecipientPseudonym, RecipientRecord, RecipientText, RetrySchedule,
    SharingChange, SigningSecret, WebhookKind,
};
use crate::store::{Appended, Conversation, NewMessage, Store};

/// A webhook ready to POST: signed now, for one attempt.
#[derive(Debug, Clone)]
pub struct OutgoingWebhook {
    pub id: DeliveryId,
    pub url: DeliveryUrl,
    /// The `Oriole-Signature` header value.
    pub signature: String,
    pub body: String,
    /// Failed attempts before this one.
    pub attempts: u32,
}

/// What happened to a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    RetryAt(Timestamp),
    DeadLetter,
}

fn info(r: &RecipientRecord, bot: Option<String>) -> RecipientInfo {
    RecipientInfo {
        name: r.name.to_string(),
        contact: r.contact.to_string(),
        purpose: r.purpose.to_string(),
        categories: r.categories.names(),
        legal_basis: r.legal_basis.to_string(),
        retention: r.retention.to_string(),
        bot,
        registered_at: r.created_at.0,
    }
}

fn invalid<E: std::fmt::Display>(e: E) -> ServiceError {
    ServiceError::invalid(e.to_string())
}

fn unix_secs(t: Timestamp) -> i64 {
    t.0.div_euclid(1000)
}

impl<S: Store> Oriole<S> {
    /// Register a recipient (a privacy officer's action, `actor`). The
    /// signing secret is generated here and returned this once.
    pub async fn register_recipient(
        &self,
        actor: Actor,
        req: RegisterRecipient,
    ) -> ServiceResult<(RecipientInfo, DeliveryUrl, SigningSecret)> {
        let categories = if req.categories.is_empty() {
            return Err(ServiceError::invalid("name at least one data category"));
        } else {
            CategorySet::parse_list(&req.categories.join(",")).map_err(invalid)?
        };
        let bot = match req.bot.as_deref() {
            Some(name) => {
                let name = Username::parse(name)?;
                let user =
                    self.store.user_by_name(&name).await?.ok_or_else(|| {
                        ServiceError::not_found(format!("no such bot user: {name}"))
                    })?;
                // In a group, others' messages would reach it without
                // their consent.
                if !self.store.groups_of(user.id).await?.is_empty() {
                    return Err(ServiceError::invalid(format!(
                        "{name} is a member of groups: a bot answering for a third party \
                         may not be; remove it from them first"
                    )));
                }
                Some((user.id, name))
            }
            None => None,
        };
        let recipient = NewRecipient {
            id: RecipientId::generate(),
            name: RecipientName::parse(&req.name).map_err(invalid)?,
            contact: RecipientText::parse("contact", &req.contact).map_err(invalid)?,
            purpose: RecipientText::parse("purpose", &req.purpose).map_err(invalid)?,
            categories,
            legal_basis: RecipientText::parse("legal basis", &req.legal_basis).map_err(invalid)?,
            retention: RecipientText::parse("retention", &req.retention).map_err(invalid)?,
            url: DeliveryUrl::parse(&req.url).map_err(invalid)?,
            secret: SigningSecret::generate(),
            pseudonym_key: PseudonymKey::generate(),
            bot: bot.as_ref().map(|(id, _)| *id),
            created_at: self.clock.now(),
        };
        let created = self.store.create_recipient(recipient.clone()).await;
        // The bot's account now sends through the gateway: sends must see
        // that, not a remembered plain account.
        self.directory.invalidate();
        created?;
        self.audit(
            EntryDraft::new(self.now_ms(), actor, EventKind::OPERATOR_ACTION).details(details(
                serde_json::json!({
                    "operation": "third_party_register",
                    "recipient": recipient.name.as_str(),
                    "categories": recipient.categories.names(),
                }),
            )),
        )
        .await?;
        let bot_name = bot.map(|(_, n)| n.to_string());
        Ok((
            info(&recipient, bot_name),
            recipient.url.clone(),
            recipient.secret,
        ))
    }

    /// The third-party sharing list (public).
    pub async fn third_parties(&self) -> ServiceResult<ThirdParties> {
        let mut recipients = Vec::new();
        for r in self.store.recipients().await? {
            let bot = match r.bot {
                Some(id) => self
                    .store
                    .user_by_id(id)
                    .await?
                    .map(|u| u.username.to_string()),
                None => None,
            };
            recipients.push(info(&r, bot));
        }
        Ok(ThirdParties { recipients })
    }

    async fn recipient_named(&self, name: &str) -> ServiceResult<RecipientRecord> {
        let name = RecipientName::parse(name)
            .map_err(|_| ServiceError::not_found(format!("no such third party: {name}")))?;
        self.store
            .recipient_by_name(&name)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("no such third party: {name}")))
    }

    fn pseudonym_for(&self, r: &RecipientRecord, user: UserId) -> RecipientPseudonym {
        r.pseudonym_key.pseudonym(user.0.as_bytes())
    }

    /// Grant or revoke the caller's consent to share with `recipient`. A
    /// revocation drops queued deliveries at once and queues a signed
    /// erasure request for the caller's pseudonym. Repeating is harmless.
    pub async fn set_sharing(
        &self,
        caller: &Caller,
        recipient: &str,
        grant: bool,
    ) -> ServiceResult<SharingConsentStatus> {
        let r = self.recipient_named(recipient).await?;
        let now = self.clock.now();
        let current = self.store.sharing_grant(caller.user_id, r.id).await?;
        if current.is_some() == grant {
            return Ok(SharingConsentStatus {
                recipient: r.name.to_string(),
                granted: grant,
                at: current.map_or(now.0, |g| g.granted_at.0),
                dropped: 0,
            });
        }
        let pseudo = self.pseudonym_for(&r, caller.user_id);
        let erasure =
            (!grant).then(|| self.erasure_request(&r, Some(caller.user_id), &pseudo, now));
        let dropped = self
            .store
            .record_sharing_change(
                SharingChange {
                    user: caller.user_id,
                    recipient: r.id,
                    granted: grant,
                    pseudonym: pseudo,
                    at: now,
                },
                erasure,
            )
            .await?;
        self.audit(
            EntryDraft::new(
                self.now_ms(),
                user_actor(caller.user_id),
                EventKind::SHARING,
            )
            .subject(pseudonym(caller.user_id))
            .details(details(serde_json::json!({
                "operation": if grant { "consent_grant" } else { "consent_revoke" },
                "recipient": r.name.as_str(),
                "dropped": dropped,
            }))),
        )
        .await?;
        Ok(SharingConsentStatus {
            recipient: r.name.to_string(),
            granted: grant,
            at: now.0,
            dropped,
        })
    }

    fn erasure_request(
        &self,
        r: &RecipientRecord,
        user: Option<UserId>,
        pseudo: &RecipientPseudonym,
        now: Timestamp,
    ) -> NewDelivery {
        // One erasure request per pseudonym and moment: a later revocation
        // after a new grant sends another.
        let id = DeliveryId::for_event(
            r.id,
            WebhookKind::ErasureRequest,
            &format!("{}|{}", pseudo.as_str(), now.0),
        );
        let body = WebhookBody {
            id: id.to_string(),
            kind: WebhookKind::ErasureRequest,
            recipient: r.name.to_string(),
            user: pseudo.to_string(),
            created_at: now.0,
            data: serde_json::Map::new(),
        };
        NewDelivery {
            id,
            recipient: r.id,
            user,
            kind: WebhookKind::ErasureRequest,
            categories: Vec::new(),
            body: serde_json::to_string(&body).unwrap_or_default(),
            created_at: now,
        }
    }

    /// For account deletion (the user-rights service calls this before the
    /// account is erased): drop the user's queued deliveries, end every
    /// grant, forget the ledger and consent history, and queue a signed
    /// erasure request to every recipient the user had shared with.
    pub async fn forget_sharing(&self, user: UserId) -> ServiceResult<u64> {
        let now = self.clock.now();
        let mut erasures = Vec::new();
        for grant in self.store.sharing_grants(user).await? {
            if let Some(r) = self
                .store
                .recipients()
                .await?
                .into_iter()
                .find(|r| r.id == grant.recipient)
            {
                erasures.push(self.erasure_request(&r, None, &grant.pseudonym, now));
            }
        }
        let requests = erasures.len();
        let dropped = self.store.forget_sharing(user, erasures).await?;
        self.audit(
            EntryDraft::new(self.now_ms(), user_actor(user), EventKind::SHARING)
                .subject(pseudonym(user))
                .details(details(serde_json::json!({
                    "operation": "account_erasure",
                    "erasure_requests": requests,
                    "dropped": dropped,
                }))),
        )
        .await?;
        Ok(dropped)
    }

    /// The caller's sharing ledger and current grants.
    pub async fn my_sharing(&self, user: UserId) -> ServiceResult<MySharing> {
        let recipients = self.store.recipients().await?;
        let name_of = |id: RecipientId| {
            recipients
                .iter()
                .find(|r| r.id == id)
                .map_or_else(String::new, |r| r.name.to_string())
        };
        let grants = self
            .store
            .sharing_grants(user)
            .await?
            .into_iter()
            .map(|g| SharingGrantInfo {
                recipient: name_of(g.recipient),
                granted_at: g.granted_at.0,
            })
            .collect();
        let ledger = self
            .store
            .sharing_ledger(user)
            .await?
            .into_iter()
            .map(|e| SharingLedgerEntry {
                id: e.delivery.to_string(),
                recipient: e.recipient.to_string(),
                kind: e.kind.as_str().to_owned(),
                categories: e.categories,
                delivered_at: e.delivered_at.0,
            })
            .collect();
        Ok(MySharing { grants, ledger })
    }

    /// The recipient behind a bot, when `to` is one. Refused with
    /// `consent_required`, naming the recipient, until the caller grants it.
    pub(crate) async fn bot_gate(
        &self,
        caller: &Caller,
        to: UserId,
    ) -> ServiceResult<Option<RecipientRecord>> {
        let Some(r) = self.store.recipient_by_bot(to).await? else {
            return Ok(None);
        };
        if self
            .store
            .sharing_grant(caller.user_id, r.id)
            .await?
            .is_none()
        {
            return Err(ServiceError::new(
                ErrorCode::ConsentRequired,
                format!(
                    "this bot is run by the third party `{name}`: messages to it are shared \
                     with {name} only with your consent (oriole privacy share grant {name})",
                    name = r.name
                ),
            ));
        }
        Ok(Some(r))
    }

    /// A bot backed by a third party receives only through the gateway,
    /// with each sender's consent: it cannot sit in a group, where every
    /// member's messages would land in its inbox.
    pub(crate) async fn refuse_bot_member(&self, user: UserId) -> ServiceResult<()> {
        if let Some(r) = self.store.recipient_by_bot(user).await? {
            return Err(ServiceError::forbidden(format!(
                "this bot is run by the third party `{}` and cannot join groups: messages \
                 to it are shared only with each sender's consent",
                r.name
            )));
        }
        Ok(())
    }

    /// The delivery of a message to a bot, for its recipient: minimized to
    /// the registered categories and addressed by the caller's pseudonym.
    /// Queued by the store with the message itself (`append_shared_message`).
    pub(crate) fn bot_delivery(
        &self,
        caller: &Caller,
        r: &RecipientRecord,
        msg: &SharedMessage,
    ) -> ServiceResult<NewDelivery> {
        let id = DeliveryId::for_event(r.id, WebhookKind::Message, &msg.message_id);
        let body = WebhookBody {
            id: id.to_string(),
            kind: WebhookKind::Message,
            recipient: r.name.to_string(),
            user: self.pseudonym_for(r, caller.user_id).to_string(),
            created_at: msg.sent_at,
            data: minimize(msg, &r.categories),
        };
        let body = serde_json::to_string(&body)
            .map_err(|_| ServiceError::new(ErrorCode::Internal, "internal error"))?;
        Ok(NewDelivery {
            id,
            recipient: r.id,
            user: Some(caller.user_id),
            kind: WebhookKind::Message,
            categories: r.categories.names(),
            body,
            created_at: self.clock.now(),
        })
    }

    /// A bot's reply through `POST /v1/third-parties/{recipient}/callback`:
    /// signed with the recipient's secret (same format as webhooks), for a
    /// user who currently consents; delivered as an ordinary message.
    pub async fn bot_callback(
        &self,
        recipient: &str,
        signature: Option<&str>,
        body: &[u8],
    ) -> ServiceResult<CallbackAccepted> {
        let r = self.recipient_named(recipient).await?;
        let signature =
            signature.ok_or_else(|| ServiceError::unauthorized("missing Oriole-Signature"))?;
        verify_signature(
            r.secret.expose(),
            signature,
            body,
            unix_secs(self.clock.now()),
        )
        .map_err(|e: SignatureError| ServiceError::unauthorized(e.to_string()))?;
        let reply: BotReply = serde_json::from_slice(body)
            .map_err(|e| ServiceError::invalid(format!("callback body: {e}")))?;
        let bot = r
            .bot
            .ok_or_else(|| ServiceError::forbidden("this third party has no bot account"))?;
        let bot_name = self
            .store
            .user_by_id(bot)
            .await?
            .ok_or_else(|| ServiceError::forbidden("the bot account no longer exists"))?
            .username;
        let pseudo = RecipientPseudonym::parse(&reply.user)
            .ok_or_else(|| ServiceError::invalid("`user` is not a pseudonym"))?;
        // Only a user who consents now can be reached: after a revocation
        // the pseudonym resolves to no one.
        let user = self
            .store
            .user_by_pseudonym(r.id, &pseudo)
            .await?
            .ok_or_else(|| ServiceError::not_found("no consenting user has this pseudonym"))?;
        let body = MessageBody::parse(
            Some(reply.text),
            reply.payload.as_ref(),
            self.config.max_message_bytes,
        )?;
        let msg = NewMessage {
            id: MessageId::generate(),
            sender: bot,
            conversation: Conversation::Direct(user),
            body: body.clone(),
            sent_at: self.clock.now(),
            idempotency_key: None,
        };
        let Appended::New {
            message_id,
            sent_at,
            seqs,
        } = self.store.append_message(msg, &[user]).await?
        else {
            return Err(ServiceError::new(ErrorCode::Internal, "internal error"));
        };
        let to = self.store.user_by_id(user).await?.map(|u| u.username);
        for (u, seq) in seqs {
            self.fanout.deliver(
                u,
                InboxEvent {
                    seq: seq.0,
                    kind: InboxKind::Message,
                    id: message_id.to_string(),
                    from: Some(bot_name.to_string()),
                    to: to.as_ref().map(ToString::to_string),
                    group: None,
                    text: body.text.clone(),
                    payload: body
                        .payload_json
                        .as_deref()
                        .and_then(|p| serde_json::from_str(p).ok()),
                    sent_at: sent_at.0,
                    at: sent_at.0,
                    receipt: None,
                    recalled: false,
                },
            );
        }
        Ok(CallbackAccepted {
            message_id: message_id.to_string(),
        })
    }

    /// Webhooks that failed every attempt, oldest first (for operators).
    pub async fn dead_letters(&self) -> ServiceResult<DeadLetters> {
        Ok(DeadLetters {
            deliveries: self
                .store
                .dead_letters()
                .await?
                .into_iter()
                .map(|(id, recipient, attempts)| DeadLetter {
                    id: id.to_string(),
                    recipient: recipient.to_string(),
                    attempts,
                })
                .collect(),
        })
    }

    // ---- the delivery worker's steps (driven by the server) ----

    /// Deliveries due now, signed for this attempt.
    pub async fn due_webhooks(&self, limit: u32) -> ServiceResult<Vec<OutgoingWebhook>> {
        let now = self.clock.now();
        let due = self.store.due_deliveries(now, limit).await?;
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let recipients = self.store.recipients().await?;
        Ok(due
            .into_iter()
            .filter_map(|p: PendingDelivery| {
                let r = recipients.iter().find(|r| r.id == p.delivery.recipient)?;
                Some(OutgoingWebhook {
                    id: p.delivery.id,
                    url: r.url.clone(),
                    signature: sign(&r.secret, unix_secs(now), p.delivery.body.as_bytes()),
                    body: p.delivery.body,
                    attempts: p.attempts,
                })
            })
            .collect())
    }

    /// When the next delivery is due, if any.
    pub async fn next_webhook_due(&self) -> ServiceResult<Option<Timestamp>> {
        Ok(self.store.next_delivery_due().await?)
    }

    /// Whether a delivery is still wanted (a revocation drops it at once).
    pub async fn webhook_pending(&self, id: DeliveryId) -> ServiceResult<bool> {
        Ok(self.store.delivery_pending(id).await?)
    }

    /// The recipient accepted: into the ledger, and the audit log.
    pub async fn webhook_delivered(&self, id: DeliveryId) -> ServiceResult<()> {
        if self.store.complete_delivery(id, self.clock.now()).await? {
            self.audit(
                EntryDraft::new(self.now_ms(), Actor::System, EventKind::SHARING).details(details(
                    serde_json::json!({
                        "operation": "delivery",
                        "delivery": id.to_string(),
                    }),
                )),
            )
            .await?;
        }
        Ok(())
    }

    /// An attempt failed: schedule the next, or move it to the dead letters.
    pub async fn webhook_failed(
        &self,
        hook: &OutgoingWebhook,
        schedule: &RetrySchedule,
    ) -> ServiceResult<AfterFailure> {
        let failed = hook.attempts.saturating_add(1);
        let now = self.clock.now();
        match schedule.next_delay(failed) {
            Some(delay) => {
                let at = Timestamp(
                    now.0
                        .saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX)),
                );
                self.store.retry_delivery(hook.id, failed, at).await?;
                Ok(AfterFailure::RetryAt(at))
            }
            None => {
                self.store.dead_letter(hook.id, failed, now).await?;
                self.audit(
                    EntryDraft::new(self.now_ms(), Actor::System, EventKind::SHARING).details(
                        details(serde_json::json!({
                            "operation": "dead_letter",
                            "delivery": hook.id.to_string(),
                            "attempts": failed,
                        })),
                    ),
                )
                .await?;
                Ok(AfterFailure::DeadLetter)
            }
        }
    }
}
