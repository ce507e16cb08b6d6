//! Sending, syncing, receipts and recall.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use oriole_proto::{ErrorCode, EventKind, InboxEvent, ReceiptKind, SendAck, SendMessage, SyncPage};

use super::{Caller, Oriole};
use crate::domain::{
    GroupId, IdempotencyKey, InboxSeq, MessageBody, MessageId, Timestamp, UserId, Username,
};
use crate::error::{ServiceError, ServiceResult};
use crate::ports::Fanout;
use crate::store::{
    Appended, Conversation, DirectTarget, MessageRecord, NewMessage, QueuedAppend, Store,
};

/// A send waiting for its commit (see [`Oriole::queue_send`]). It resolves
/// to the send's ack once the message is durably stored, pushing it to the
/// recipients' connected devices as it does; an error when the commit
/// failed. Dropping it does not withdraw the message.
#[must_use = "a send is acknowledged only once it has committed"]
pub struct QueuedSend {
    append: QueuedAppend,
    fanout: Arc<dyn Fanout>,
    sender: UserId,
    /// The sender's username, for the event.
    from: String,
    to: Option<Username>,
    conversation: Conversation,
    text: Option<String>,
    payload: Option<serde_json::Value>,
}

impl QueuedSend {
    /// The ack for a committed append; a new message is pushed first.
    fn finish(&mut self, appended: Appended) -> SendAck {
        match appended {
            Appended::Duplicate {
                message_id,
                sent_at,
                sender_seq,
            } => SendAck {
                message_id: message_id.to_string(),
                seq: sender_seq.0,
                sent_at: sent_at.0,
                duplicate: true,
            },
            Appended::New {
                message_id,
                sent_at,
                seqs,
            } => {
                let sender_seq = seqs
                    .iter()
                    .find(|(user, _)| *user == self.sender)
                    .map_or(InboxSeq(0), |(_, seq)| *seq);
                let message_id = message_id.to_string();
                // One event for every inbox: the fan-out shares it.
                self.fanout.deliver_each(
                    &seqs,
                    InboxEvent {
                        seq: 0,
                        kind: EventKind::Message,
                        id: message_id.clone(),
                        from: Some(std::mem::take(&mut self.from)),
                        to: self.to.take().map(String::from),
                        group: match self.conversation {
                            Conversation::Group(g) => Some(g.to_string()),
                            Conversation::Direct(_) => None,
                        },
                        text: self.text.take(),
                        payload: self.payload.take(),
                        sent_at: sent_at.0,
                        at: sent_at.0,
                        receipt: None,
                        recalled: false,
                    },
                );
                SendAck {
                    message_id,
                    seq: sender_seq.0,
                    sent_at: sent_at.0,
                    duplicate: false,
                }
            }
        }
    }
}

impl Future for QueuedSend {
    type Output = ServiceResult<SendAck>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let appended = ready!(Pin::new(&mut self.append).poll(cx));
        Poll::Ready(match appended {
            Ok(appended) => Ok(self.finish(appended)),
            Err(e) => Err(e.into()),
        })
    }
}

impl std::fmt::Debug for QueuedSend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueuedSend")
            .field("append", &self.append)
            .finish_non_exhaustive()
    }
}

impl<S: Store> Oriole<S> {
    /// Store a message durably in every recipient's inbox (and the sender's),
    /// then push it to connected devices. The returned ack is the promise
    /// that the message survives a crash.
    ///
    /// The span names no one: an account's id is the audit log's
    /// pseudonym for it, and logs carry no personal data.
    #[tracing::instrument(skip_all)]
    pub async fn send(&self, caller: &Caller, req: SendMessage) -> ServiceResult<SendAck> {
        self.queue_send(caller, req).await?.await
    }

    /// [`send`](Self::send) in two steps: this returns once the message
    /// has its place in the store's write queue (sends queued after it
    /// commit after it, so a connection queueing its sends one by one
    /// keeps them in order), and the returned [`QueuedSend`] resolves to
    /// the ack once it has committed. An error here means nothing was
    /// stored.
    pub async fn queue_send(&self, caller: &Caller, req: SendMessage) -> ServiceResult<QueuedSend> {
        self.policy_gate(caller.user_id).await?;
        let body = MessageBody::parse(
            req.text,
            req.payload.as_ref(),
            self.config.max_message_bytes,
        )?;
        let idempotency_key = req
            .idempotency_key
            .map(IdempotencyKey::parse_owned)
            .transpose()?;
        // The third party behind a bot, when the message is to one.
        let mut bot = None;
        let (conversation, recipients, to_name) = match (req.to.as_deref(), req.group.as_deref()) {
            (Some(to), None) => {
                let name =
                    Username::parse(to).map_err(|_| ServiceError::not_found("no such user"))?;
                let user = self
                    .direct_target(&name)
                    .await?
                    .ok_or_else(|| ServiceError::not_found(format!("no such user: {name}")))?;
                if user.bot {
                    bot = self.bot_gate(caller, user.id).await?;
                }
                let mut recipients = Vec::with_capacity(2);
                recipients.push(caller.user_id);
                // A bot backed by a third party receives only through the
                // sharing gateway, never in an inbox.
                if user.id != caller.user_id && bot.is_none() {
                    recipients.push(user.id);
                }
                (Conversation::Direct(user.id), recipients, Some(name))
            }
            (None, Some(group)) => {
                let group: GroupId = group
                    .parse()
                    .map_err(|_| ServiceError::not_found("no such group"))?;
                let members = self.roster(group).await?;
                if !members.contains(&caller.user_id) {
                    return Err(ServiceError::not_found(
                        "no such group, or you are not a member",
                    ));
                }
                (Conversation::Group(group), members.to_vec(), None)
            }
            _ => return Err(ServiceError::invalid("set exactly one of `to` and `group`")),
        };
        let payload = body
            .payload_json
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok());
        let text = body.text.clone();
        let msg = NewMessage {
            id: MessageId::generate(),
            sender: caller.user_id,
            conversation,
            body,
            sent_at: self.clock.now(),
            idempotency_key,
        };
        // To a bot: its delivery is queued in the transaction storing the
        // message, so an acknowledged send is never left unshared.
        let append = match &bot {
            Some(r) => {
                let shared = oriole_gateway::SharedMessage {
                    message_id: msg.id.to_string(),
                    sent_at: msg.sent_at.0,
                    sender_username: caller.username.to_string(),
                    text: text.clone(),
                    payload: payload.clone(),
                };
                let delivery = self.bot_delivery(caller, r, &shared)?;
                self.store
                    .queue_shared_message(msg, &recipients, delivery)
                    .await?
            }
            None => self.store.queue_message(msg, &recipients).await?,
        };
        Ok(QueuedSend {
            append,
            fanout: Arc::clone(&self.fanout),
            sender: caller.user_id,
            from: caller.username.as_str().to_owned(),
            to: to_name,
            conversation,
            text,
            payload,
        })
    }

    /// The account a 1:1 send to `name` goes to, from memory when it can
    /// (see `directory.rs`).
    async fn direct_target(&self, name: &Username) -> ServiceResult<Option<DirectTarget>> {
        let generation = match self.directory.get(name) {
            Ok(target) => return Ok(Some(target)),
            Err(generation) => generation,
        };
        let found = self.store.direct_target(name).await?;
        if let Some(target) = found {
            self.directory.insert(generation, name, target);
        }
        Ok(found)
    }

    /// The members of `group`, from memory when it can (see
    /// `directory.rs`); none when there is no such group.
    async fn roster(&self, group: GroupId) -> ServiceResult<Arc<[UserId]>> {
        let generation = match self.rosters.get(&group) {
            Ok(members) => return Ok(members),
            Err(generation) => generation,
        };
        let members: Arc<[UserId]> = self
            .store
            .members(group)
            .await?
            .iter()
            .map(|m| m.user_id)
            .collect();
        if !members.is_empty() {
            self.rosters.insert(generation, &group, members.clone());
        }
        Ok(members)
    }

    /// One page of the caller's inbox after `after`, oldest first.
    pub async fn sync(
        &self,
        caller: &Caller,
        after: u64,
        limit: Option<u32>,
    ) -> ServiceResult<SyncPage> {
        self.policy_gate(caller.user_id).await?;
        let limit = limit
            .unwrap_or(self.config.max_page)
            .clamp(1, self.config.max_page);
        // Ask for one more than the page to learn whether more are waiting.
        let mut events = self
            .store
            .inbox_after(caller.user_id, InboxSeq(after), limit + 1)
            .await?;
        let more = events.len() > limit as usize;
        events.truncate(limit as usize);
        let next = events.last().map_or(after, |e| e.seq);
        let notice = self.take_policy_notice(caller.user_id).await?;
        let notices = self.take_notices(caller.user_id).await?;
        Ok(SyncPage {
            events,
            next,
            more,
            notice,
            notices,
        })
    }

    /// The newest seq in the caller's inbox.
    pub async fn inbox_head(&self, user: UserId) -> ServiceResult<u64> {
        Ok(self.store.inbox_head(user).await?.0)
    }

    /// Events after `after` for a user, for catching a live stream up.
    pub async fn events_after(
        &self,
        user: UserId,
        after: u64,
        limit: u32,
    ) -> ServiceResult<Vec<InboxEvent>> {
        Ok(self.store.inbox_after(user, InboxSeq(after), limit).await?)
    }

    /// Confirm delivery or reading of a message in my inbox; the sender's
    /// devices get a `receipt` event. Repeating a receipt is harmless.
    pub async fn receipt(
        &self,
        caller: &Caller,
        message_id: &str,
        kind: ReceiptKind,
    ) -> ServiceResult<()> {
        self.policy_gate(caller.user_id).await?;
        let id: MessageId = message_id
            .parse()
            .map_err(|_| ServiceError::not_found("no such message"))?;
        let msg = self.store.message(id).await?;
        let visible = self.store.inbox_has_message(caller.user_id, id).await?;
        let Some(msg) = msg.filter(|_| visible) else {
            return Err(ServiceError::not_found("no such message"));
        };
        if msg.sender == Some(caller.user_id) {
            return Err(ServiceError::invalid(
                "receipts are for messages sent by others",
            ));
        }
        let now = self.clock.now();
        if let Some((sender, seq)) = self
            .store
            .record_receipt(id, caller.user_id, kind, now)
            .await?
        {
            let mut event = self
                .event_about(&msg, EventKind::Receipt, &caller.username, now)
                .await?;
            event.seq = seq.0;
            event.receipt = Some(kind);
            self.fanout.deliver(sender, event);
        }
        Ok(())
    }

    /// Recall a message I sent, within the recall window. Its content is
    /// dropped from storage and every inbox holding it gets a `recall` event.
    pub async fn recall(&self, caller: &Caller, message_id: &str) -> ServiceResult<()> {
        self.policy_gate(caller.user_id).await?;
        let id: MessageId = message_id
            .parse()
            .map_err(|_| ServiceError::not_found("no such message"))?;
        let msg = self
            .store
            .message(id)
            .await?
            .filter(|m| m.sender == Some(caller.user_id))
            .ok_or_else(|| ServiceError::not_found("no such message sent by you"))?;
        if msg.recalled_at.is_some() {
            return Ok(());
        }
        let now = self.clock.now();
        if now > msg.sent_at.plus_secs(self.config.recall_window_secs) {
            return Err(ServiceError::new(
                ErrorCode::RecallWindowExpired,
                format!(
                    "messages can be recalled for {} s after sending",
                    self.config.recall_window_secs
                ),
            ));
        }
        let entries = self.store.recall_message(id, caller.user_id, now).await?;
        let mut event = self
            .event_about(&msg, EventKind::Recall, &caller.username, now)
            .await?;
        event.recalled = true;
        self.fanout.deliver_each(&entries, event);
        Ok(())
    }

    /// An event of `kind` by `actor` about a stored message, without
    /// content (only `message` events carry text) and with seq 0.
    async fn event_about(
        &self,
        msg: &MessageRecord,
        kind: EventKind,
        actor: &Username,
        at: Timestamp,
    ) -> ServiceResult<InboxEvent> {
        let (to, group) = match msg.conversation {
            Conversation::Group(g) => (None, Some(g.to_string())),
            Conversation::Direct(u) => (
                self.store
                    .user_by_id(u)
                    .await?
                    .map(|u| u.username.to_string()),
                None,
            ),
        };
        Ok(InboxEvent {
            seq: 0,
            kind,
            id: msg.id.to_string(),
            from: Some(actor.to_string()),
            to,
            group,
            text: None,
            payload: None,
            sent_at: msg.sent_at.0,
            at: at.0,
            receipt: None,
            recalled: msg.recalled_at.is_some(),
        })
    }
}
