//! Reading client frames: a text frame becomes a [`ClientFrame`], or a
//! [`FrameError`] answered with an `error` frame (the connection stays open
//! either way).

use std::borrow::Cow;

use oriole_proto::{ClientFrame, ErrorCode, SendMessage, ServerFrame};
use serde::Deserialize;
use serde_json::Value;

/// The `type`s of [`ClientFrame`], to tell an unknown frame from a known
/// frame of the wrong shape (see `every_client_frame_type_is_known`).
const KNOWN_TYPES: &[&str] = &["send", "subscribe", "sync", "receipt", "recall", "ping"];

/// Parse one text frame. Not JSON, not an object or a known type with the
/// wrong fields is `malformed_frame`; an unknown `type` is `unknown_frame`.
/// The error echoes `ref` whenever the frame has a string one.
pub fn parse(text: &str) -> Result<ClientFrame, FrameError> {
    match parse_send(text) {
        Some(send) => Ok(send),
        None => parse_checked(text),
    }
}

/// A well-formed `send` frame, read straight into its fields: the frame
/// of the hot path. `None` for anything else, which [`parse_checked`]
/// reads again, so errors (and every other frame) are exactly its own.
/// [`ClientFrame`]'s derived reading would buffer the frame first, as
/// it is tagged by a field and flattens [`SendMessage`].
fn parse_send(text: &str) -> Option<ClientFrame> {
    // Derived structs also read JSON arrays; a frame must be an object.
    if !text.trim_start().starts_with('{') {
        return None;
    }
    let wire: SendFrame = serde_json::from_str(text).ok()?;
    if wire.kind != "send" {
        return None;
    }
    let SendFrame {
        kind: _,
        reference,
        to,
        group,
        text,
        payload,
        idempotency_key,
    } = wire;
    Some(ClientFrame::Send {
        reference,
        message: SendMessage {
            to,
            group,
            text,
            payload,
            idempotency_key,
        },
    })
}

/// The `send` frame's fields side by side, as [`ClientFrame::Send`] reads
/// them. A repeated field is an error here (the checked path takes the
/// last), which only sends the frame down that path.
#[derive(Deserialize)]
struct SendFrame<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(rename = "ref", default)]
    reference: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    payload: Option<Value>,
    #[serde(default)]
    idempotency_key: Option<String>,
}

/// Any frame, checked step by step for a precise error.
fn parse_checked(text: &str) -> Result<ClientFrame, FrameError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|_| error(None, ErrorCode::MalformedFrame, "frame is not valid JSON"))?;
    let reference = value.get("ref").and_then(Value::as_str).map(str::to_owned);
    let Some(kind) = value.get("type") else {
        let message = if value.is_object() {
            "frame has no `type`"
        } else {
            "frame must be a JSON object with a `type`"
        };
        return Err(error(reference, ErrorCode::MalformedFrame, message));
    };
    let Some(kind) = kind.as_str() else {
        return Err(error(
            reference,
            ErrorCode::MalformedFrame,
            "frame `type` must be a string",
        ));
    };
    if !KNOWN_TYPES.contains(&kind) {
        let message = format!(
            "unknown frame type; known types: {}",
            KNOWN_TYPES.join(", ")
        );
        return Err(error(reference, ErrorCode::UnknownFrame, message));
    }
    ClientFrame::deserialize(&value).map_err(|e| {
        error(
            reference,
            ErrorCode::MalformedFrame,
            format!("malformed `{kind}` frame: {e}"),
        )
    })
}

/// Why a text frame could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    pub reference: Option<String>,
    pub code: ErrorCode,
    pub message: String,
}

impl FrameError {
    /// The `error` frame that answers it.
    pub fn into_frame(self) -> ServerFrame {
        ServerFrame::Error {
            reference: self.reference,
            code: self.code,
            message: self.message,
            retry_after: None,
        }
    }
}

fn error(reference: Option<String>, code: ErrorCode, message: impl Into<String>) -> FrameError {
    FrameError {
        reference,
        code,
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oriole_proto::{ReceiptKind, SendMessage};

    fn code_and_ref(text: &str) -> (ErrorCode, Option<String>) {
        match parse(text) {
            Err(FrameError {
                code, reference, ..
            }) => (code, reference),
            Ok(frame) => panic!("expected an error for {text}, got {frame:?}"),
        }
    }

    #[test]
    fn bad_frames_get_the_right_code_and_their_ref() {
        assert_eq!(code_and_ref("{{{"), (ErrorCode::MalformedFrame, None));
        assert_eq!(code_and_ref("\"x\""), (ErrorCode::MalformedFrame, None));
        assert_eq!(code_and_ref("[1,2]"), (ErrorCode::MalformedFrame, None));
        assert_eq!(
            code_and_ref(r#"{"ref":"a"}"#),
            (ErrorCode::MalformedFrame, Some("a".into()))
        );
        assert_eq!(
            code_and_ref(r#"{"type":7,"ref":"b"}"#),
            (ErrorCode::MalformedFrame, Some("b".into()))
        );
        assert_eq!(
            code_and_ref(r#"{"type":"teleport","ref":"t1"}"#),
            (ErrorCode::UnknownFrame, Some("t1".into()))
        );
        assert_eq!(
            code_and_ref(r#"{"type":"receipt","ref":"c","message_id":"m","kind":"seen"}"#),
            (ErrorCode::MalformedFrame, Some("c".into()))
        );
        assert_eq!(
            code_and_ref(r#"{"type":"subscribe","ref":7}"#),
            (ErrorCode::MalformedFrame, None)
        );
    }

    #[test]
    fn good_frames_parse() {
        assert_eq!(
            parse(r#"{"type":"ping","ref":"p"}"#),
            Ok(ClientFrame::Ping {
                reference: Some("p".into())
            })
        );
        assert_eq!(
            parse(r#"{"type":"subscribe","after":3}"#),
            Ok(ClientFrame::Subscribe {
                reference: None,
                after: 3
            })
        );
    }

    #[test]
    fn the_send_path_reads_sends_as_the_checked_path_does() {
        let taken = [
            r#"{"type":"send","ref":"r1","to":"bob","text":"hi","idempotency_key":"k"}"#,
            r#" {"text":"hi","to":"bob","type":"send"}"#,
            r#"{"type":"s\u0065nd","group":"g","payload":{"b":[1,2.5,-3,null],"a":"x"}}"#,
            r#"{"type":"send","to":null,"text":"a\"b\u00e9","extra":{"x":1},"ref":null}"#,
            r#"{"type":"send"}"#,
        ];
        for text in taken {
            assert_eq!(
                parse_send(text).map(Ok),
                Some(parse_checked(text)),
                "{text}"
            );
        }
        let passed_on = [
            r#"{"type":"send","to":"bob","to":"carol","text":"hi"}"#,
            r#"{"type":"send","type":"ping"}"#,
            r#"{"type":"send","ref":7,"text":"hi"}"#,
            r#"{"type":"send","text":5}"#,
            r#"{"type":"send","text":"hi"} x"#,
            r#"{"type":"ping","ref":"p"}"#,
            r#"{"ref":"a","text":"hi"}"#,
            r#"["send",null,"bob",null,"hi",null,null]"#,
            r#"{{{"#,
        ];
        for text in passed_on {
            assert_eq!(parse_send(text), None, "{text}");
        }
    }

    #[test]
    fn every_client_frame_type_is_known() {
        let all = [
            ClientFrame::Send {
                reference: None,
                message: SendMessage::default(),
            },
            ClientFrame::Subscribe {
                reference: None,
                after: 0,
            },
            ClientFrame::Sync {
                reference: None,
                after: 0,
                limit: None,
            },
            ClientFrame::Receipt {
                reference: None,
                message_id: String::new(),
                kind: ReceiptKind::Read,
            },
            ClientFrame::Recall {
                reference: None,
                message_id: String::new(),
            },
            ClientFrame::Ping { reference: None },
        ];
        for frame in all {
            // Exhaustive: a new variant must be added here and to KNOWN_TYPES.
            match &frame {
                ClientFrame::Send { .. }
                | ClientFrame::Subscribe { .. }
                | ClientFrame::Sync { .. }
                | ClientFrame::Receipt { .. }
                | ClientFrame::Recall { .. }
                | ClientFrame::Ping { .. } => {}
            }
            let value = serde_json::to_value(&frame).expect("serializes");
            let kind = value["type"].as_str().expect("tagged");
            assert!(KNOWN_TYPES.contains(&kind), "{kind}");
        }
        assert_eq!(KNOWN_TYPES.len(), 6);
    }
}
