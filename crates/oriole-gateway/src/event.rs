//! What a recipient receives, and field-level minimization: an event is cut
//! down to the categories the recipient is registered for before it is
//! stored in the outbox, so nothing else can leave.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::category::{CategorySet, SharedCategory};

/// A message sent to a recipient's bot, before minimization.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedMessage {
    pub message_id: String,
    /// Unix milliseconds.
    pub sent_at: i64,
    pub sender_username: String,
    pub text: Option<String>,
    pub payload: Option<Value>,
}

/// The `data` of a webhook: only the fields of the registered categories.
pub fn minimize(msg: &SharedMessage, categories: &CategorySet) -> Map<String, Value> {
    let mut data = Map::new();
    for category in categories.iter() {
        match category {
            SharedCategory::MessageText => {
                if let Some(text) = &msg.text {
                    data.insert("text".into(), Value::String(text.clone()));
                }
            }
            SharedCategory::MessagePayload => {
                if let Some(payload) = &msg.payload {
                    data.insert("payload".into(), payload.clone());
                }
            }
            SharedCategory::MessageMetadata => {
                data.insert("message_id".into(), Value::String(msg.message_id.clone()));
                data.insert("sent_at".into(), Value::from(msg.sent_at));
            }
            SharedCategory::AccountUsername => {
                data.insert(
                    "username".into(),
                    Value::String(msg.sender_username.clone()),
                );
            }
        }
    }
    data
}

/// What a webhook is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookKind {
    /// A user's message to the recipient's bot (`data` minimized).
    Message,
    /// The user revoked consent or deleted their account: erase everything
    /// held under `user` (`data` is empty).
    ErasureRequest,
}

impl WebhookKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookKind::Message => "message",
            WebhookKind::ErasureRequest => "erasure_request",
        }
    }
}

/// The JSON body of every webhook (see `docs/sharing.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookBody {
    /// The idempotency key: the same for every attempt of one delivery.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: WebhookKind,
    /// The recipient's registered name.
    pub recipient: String,
    /// The user's pseudonym for this recipient.
    pub user: String,
    /// When the event happened, Unix milliseconds.
    pub created_at: i64,
    #[serde(default)]
    pub data: Map<String, Value>,
}

/// The JSON body of a bot's reply, POSTed signed to the callback endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BotReply {
    /// The pseudonym the reply is for.
    pub user: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg() -> SharedMessage {
        SharedMessage {
            message_id: "m1".into(),
            sent_at: 42,
            sender_username: "alice".into(),
            text: Some("hello".into()),
            payload: Some(serde_json::json!({"k": 1})),
        }
    }

    #[test]
    fn only_registered_fields_are_kept() {
        let text_only = CategorySet::parse_list("message.text").expect("valid");
        assert_eq!(
            Value::Object(minimize(&msg(), &text_only)),
            serde_json::json!({"text": "hello"})
        );
        let all = CategorySet::parse_list(
            "message.text,message.payload,message.metadata,account.username",
        )
        .expect("valid");
        assert_eq!(
            Value::Object(minimize(&msg(), &all)),
            serde_json::json!({"text": "hello", "payload": {"k": 1}, "message_id": "m1",
                               "sent_at": 42, "username": "alice"})
        );
    }
}
