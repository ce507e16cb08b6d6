//! WebSocket frames on `/v1/ws`: JSON text frames tagged by `type`.
//! `ref` is chosen by the client and echoed on the answer to that frame.

use serde::{Deserialize, Serialize};

use crate::api::{InboxEvent, ReceiptKind, SendAck, SendMessage};
use crate::consent::PolicyNotice;
use crate::error::ErrorCode;
use crate::sharing::UserNotice;

/// Frames a client sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Send a 1:1 or group message; answered by `ack` or `error`.
    Send {
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        #[serde(flatten)]
        message: SendMessage,
    },
    /// Stream the inbox from `after` (exclusive): the backlog first, in
    /// order, then live events. Without it a connection gets live events
    /// from the moment it connected.
    Subscribe {
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        after: u64,
    },
    /// Fetch one page of the inbox; answered by `page`.
    Sync {
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        after: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    /// A delivered or read receipt for a message in my inbox.
    Receipt {
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        message_id: String,
        kind: ReceiptKind,
    },
    /// Recall a message I sent, within the recall window.
    Recall {
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        message_id: String,
    },
    Ping {
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
}

impl ClientFrame {
    pub fn reference(&self) -> Option<&str> {
        match self {
            ClientFrame::Send { reference, .. }
            | ClientFrame::Subscribe { reference, .. }
            | ClientFrame::Sync { reference, .. }
            | ClientFrame::Receipt { reference, .. }
            | ClientFrame::Recall { reference, .. }
            | ClientFrame::Ping { reference } => reference.as_deref(),
        }
    }
}

/// Frames the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// First frame on every connection.
    Hello {
        protocol: u32,
        user_id: String,
        username: String,
        device_id: String,
        /// The newest seq in the user's inbox when the connection opened.
        head: u64,
    },
    /// A send was durably committed.
    Ack {
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        #[serde(flatten)]
        ack: SendAck,
    },
    /// A frame other than `send` succeeded.
    Ok {
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
    /// An inbox event, pushed in seq order without gaps after `subscribe`.
    Event {
        #[serde(flatten)]
        event: InboxEvent,
    },
    /// Answer to `sync`.
    Page {
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        events: Vec<InboxEvent>,
        next: u64,
        more: bool,
        /// Notices to the user not delivered yet (see `notice`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        notices: Vec<UserNotice>,
    },
    Pong {
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
    /// A new privacy policy version was published: pushed to every open
    /// connection, and after `hello` on a connection of a user not yet told.
    PolicyNotice {
        #[serde(flatten)]
        notice: PolicyNotice,
    },
    /// A notice to the user (e.g. `data_disclosed`): pushed to every
    /// connected device when it is due, and after `hello` to a user who
    /// was offline then.
    Notice {
        #[serde(flatten)]
        notice: UserNotice,
    },
    /// A frame failed; the connection stays usable.
    Error {
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        code: ErrorCode,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after: Option<u64>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_frame_is_flat_json() {
        let f: ClientFrame = serde_json::from_str(
            r#"{"type":"send","ref":"r1","to":"bob","text":"hi","idempotency_key":"k"}"#,
        )
        .expect("valid frame");
        match &f {
            ClientFrame::Send { reference, message } => {
                assert_eq!(reference.as_deref(), Some("r1"));
                assert_eq!(message.to.as_deref(), Some("bob"));
                assert_eq!(message.text.as_deref(), Some("hi"));
                assert_eq!(message.idempotency_key.as_deref(), Some("k"));
            }
            other => panic!("unexpected {other:?}"),
        }
        let back = serde_json::to_value(&f).expect("serializes");
        assert_eq!(back["type"], "send");
        assert_eq!(back["ref"], "r1");
    }

    #[test]
    fn error_frame_shape() {
        let f = ServerFrame::Error {
            reference: Some("x".into()),
            code: ErrorCode::NotFound,
            message: "no such user".into(),
            retry_after: None,
        };
        let v = serde_json::to_value(&f).expect("serializes");
        assert_eq!(
            v,
            serde_json::json!({"type":"error","ref":"x","code":"not_found","message":"no such user"})
        );
    }

    #[test]
    fn event_frame_round_trips() {
        let ev = InboxEvent {
            seq: 7,
            kind: crate::EventKind::Message,
            id: "m1".into(),
            from: Some("alice".into()),
            to: Some("bob".into()),
            group: None,
            text: Some("hello".into()),
            payload: Some(serde_json::json!({"k": 1})),
            sent_at: 10,
            at: 10,
            receipt: None,
            recalled: false,
        };
        let f = ServerFrame::Event { event: ev };
        let s = serde_json::to_string(&f).expect("serializes");
        let back: ServerFrame = serde_json::from_str(&s).expect("parses");
        assert_eq!(back, f);
    }
}
