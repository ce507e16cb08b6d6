//! The free-form part of an entry, kept narrow enough to have exactly one
//! byte encoding (so it can be hashed) and to hold codes and ids, not prose.
//!
//! Callers must put only pseudonymous ids, codes, counts and ticket
//! references here: never a name, an address, a phone number or message
//! text. The checks below stop the shapes that would make hashing ambiguous
//! or invite prose (floats, control characters, long strings, deep nesting);
//! they cannot tell a code from a person's name, so that part is the
//! caller's duty.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The detail keys Oriole writes and the report reads.
pub mod keys {
    /// Reason code of an operator access: `customer_support`,
    /// `legal_request`, `security_incident`, `abuse_report`.
    pub const REASON: &str = "reason";
    /// The ticket reference that justifies an access.
    pub const TICKET: &str = "ticket";
    /// Data categories touched, as an array of codes.
    pub const CATEGORIES: &str = "categories";
    /// Id of the approval that allowed access to message content.
    pub const APPROVAL: &str = "approval";
    /// For an operator action: what was done, as a code.
    pub const OPERATION: &str = "operation";
}

/// Integers beyond ±(2^53 − 1) are refused: past that, JavaScript and most
/// JSON tools change the number, and the hash would no longer match.
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;
/// Longest string value, in bytes.
pub const MAX_STRING_BYTES: usize = 256;
/// Deepest nesting below the top-level object.
pub const MAX_DEPTH: usize = 4;
/// Longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 64;
/// Most members in one object or array.
pub const MAX_ITEMS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DetailsError {
    #[error("details must be a JSON object (or null for none)")]
    NotAnObject,
    #[error("detail key {0:?} is not [a-z][a-z0-9_]* of at most {MAX_KEY_BYTES} bytes")]
    BadKey(String),
    #[error("detail {path}: only integers within ±(2^53-1) are allowed, not {value}")]
    BadNumber { path: String, value: String },
    #[error(
        "detail {path}: strings are at most {MAX_STRING_BYTES} bytes without control characters"
    )]
    BadString { path: String },
    #[error("detail {path}: nested deeper than {MAX_DEPTH} levels")]
    TooDeep { path: String },
    #[error("detail {path}: more than {MAX_ITEMS} members")]
    TooMany { path: String },
}

/// A JSON object of non-personal facts about an event, e.g.
/// `{"reason":"customer_support","ticket":"T-1042","categories":["profile"]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Value", into = "Value")]
pub struct Details(Map<String, Value>);

impl Details {
    pub fn empty() -> Self {
        Details(Map::new())
    }

    /// Accept `value` if it is an object (or null, read as empty) within the
    /// limits above.
    pub fn new(value: Value) -> Result<Self, DetailsError> {
        match value {
            Value::Null => Ok(Details::empty()),
            Value::Object(map) => {
                check_object(&map, "", 0)?;
                Ok(Details(map))
            }
            _ => Err(DetailsError::NotAnObject),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// A string member, if present and a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(Value::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// The one encoding that is hashed: JSON with no whitespace and object
    /// keys in byte order. With the limits above this is exactly RFC 8785
    /// (JCS) and what Python's `json.dumps(d, sort_keys=True,
    /// separators=(",", ":"), ensure_ascii=False)` prints, so an auditor can
    /// recompute it with ordinary tools.
    pub fn canonical_json(&self) -> String {
        let mut out = String::new();
        write_object(&self.0, &mut out);
        out
    }
}

impl TryFrom<Value> for Details {
    type Error = DetailsError;
    fn try_from(v: Value) -> Result<Self, DetailsError> {
        Details::new(v)
    }
}

impl From<Details> for Value {
    fn from(d: Details) -> Value {
        Value::Object(d.0)
    }
}

fn is_key(k: &str) -> bool {
    let b = k.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_KEY_BYTES
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
}

fn check_object(map: &Map<String, Value>, path: &str, depth: usize) -> Result<(), DetailsError> {
    if map.len() > MAX_ITEMS {
        return Err(DetailsError::TooMany {
            path: display_path(path),
        });
    }
    for (k, v) in map {
        if !is_key(k) {
            return Err(DetailsError::BadKey(k.clone()));
        }
        check_value(v, &format!("{path}.{k}"), depth)?;
    }
    Ok(())
}

fn check_value(v: &Value, path: &str, depth: usize) -> Result<(), DetailsError> {
    match v {
        Value::Null | Value::Bool(_) => Ok(()),
        Value::Number(n) => {
            let safe = n
                .as_i64()
                .is_some_and(|i| (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&i));
            if safe {
                Ok(())
            } else {
                Err(DetailsError::BadNumber {
                    path: display_path(path),
                    value: n.to_string(),
                })
            }
        }
        Value::String(s) => {
            if s.len() <= MAX_STRING_BYTES && !s.chars().any(char::is_control) {
                Ok(())
            } else {
                Err(DetailsError::BadString {
                    path: display_path(path),
                })
            }
        }
        Value::Array(items) => {
            if depth + 1 > MAX_DEPTH {
                return Err(DetailsError::TooDeep {
                    path: display_path(path),
                });
            }
            if items.len() > MAX_ITEMS {
                return Err(DetailsError::TooMany {
                    path: display_path(path),
                });
            }
            for (i, item) in items.iter().enumerate() {
                check_value(item, &format!("{path}[{i}]"), depth + 1)?;
            }
            Ok(())
        }
        Value::Object(map) => {
            if depth + 1 > MAX_DEPTH {
                return Err(DetailsError::TooDeep {
                    path: display_path(path),
                });
            }
            check_object(map, path, depth + 1)
        }
    }
}

fn display_path(path: &str) -> String {
    path.strip_prefix('.').unwrap_or(path).to_owned()
}

fn write_object(map: &Map<String, Value>, out: &mut String) {
    // Sorted here rather than relying on serde_json's map order: another
    // crate in the build may turn on `preserve_order`.
    let mut members: Vec<(&String, &Value)> = map.iter().collect();
    members.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out.push('{');
    for (i, (k, v)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(k, out);
        out.push(':');
        write_value(v, out);
    }
    out.push('}');
}

fn write_value(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        // Only integers pass the checks; their decimal form is unique.
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => write_object(map, out),
    }
}

/// Strings hold no control characters (checked), so only `"` and `\` need
/// escaping and there is no choice of escape to disagree on.
fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_form_sorts_keys_and_has_no_spaces() -> Result<(), DetailsError> {
        let d = Details::new(json!({
            "ticket": "T-1",
            "reason": "customer_support",
            "categories": ["profile", "devices"],
            "n": -5,
            "nested": {"b": true, "a": null},
            "q": "say \"hi\" \\ ok",
        }))?;
        assert_eq!(
            d.canonical_json(),
            r#"{"categories":["profile","devices"],"n":-5,"nested":{"a":null,"b":true},"q":"say \"hi\" \\ ok","reason":"customer_support","ticket":"T-1"}"#
        );
        Ok(())
    }

    #[test]
    fn canonical_form_is_what_serde_json_reads_back() -> Result<(), Box<dyn std::error::Error>> {
        let d = Details::new(json!({"z": "é\"\\", "a": [1, {"y": 2, "x": 3}]}))?;
        let back: Value = serde_json::from_str(&d.canonical_json())?;
        assert_eq!(Details::new(back)?, d);
        Ok(())
    }

    #[test]
    fn refuses_what_could_hash_two_ways_or_carry_prose() {
        assert_eq!(Details::new(json!(null)), Ok(Details::empty()));
        assert_eq!(Details::new(json!([1])), Err(DetailsError::NotAnObject));
        assert!(matches!(
            Details::new(json!({"Name": 1})),
            Err(DetailsError::BadKey(_))
        ));
        assert!(matches!(
            Details::new(json!({"x": 1.5})),
            Err(DetailsError::BadNumber { .. })
        ));
        assert!(matches!(
            Details::new(json!({"x": 1u64 << 53})),
            Err(DetailsError::BadNumber { .. })
        ));
        assert!(matches!(
            Details::new(json!({"x": "line\nbreak"})),
            Err(DetailsError::BadString { .. })
        ));
        assert!(matches!(
            Details::new(json!({"x": "a".repeat(MAX_STRING_BYTES + 1)})),
            Err(DetailsError::BadString { .. })
        ));
        assert!(matches!(
            Details::new(json!({"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}})),
            Err(DetailsError::TooDeep { .. })
        ));
        assert!(Details::new(json!({"a": {"b": {"c": {"d": {"e": 1}}}}})).is_ok());
    }
}
