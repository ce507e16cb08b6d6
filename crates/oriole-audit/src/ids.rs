//! The names an audit entry is made of: who acted (`Actor`), what happened
//! (`EventKind`) and whom it concerned (`PseudonymousId`). Each is parsed once
//! and can only hold a valid value, so the log cannot carry a name, an email
//! address or free text in these fields.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a code or id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{what} must be snake_case ([a-z][a-z0-9]*, words joined by single '_'), 1 to {max} bytes: {value:?}")]
    NotSnakeCase {
        what: &'static str,
        max: usize,
        value: String,
    },
    #[error("a pseudonymous id is 1 to {max} characters from [A-Za-z0-9._:-]: {value:?}")]
    NotPseudonymous { max: usize, value: String },
}

const CODE_MAX: usize = 64;

fn is_snake_case(s: &str) -> bool {
    let bytes = s.as_bytes();
    if bytes.is_empty() || bytes.len() > CODE_MAX || !bytes[0].is_ascii_lowercase() {
        return false;
    }
    if bytes[bytes.len() - 1] == b'_' {
        return false;
    }
    let mut prev_underscore = false;
    for &b in bytes {
        match b {
            b'a'..=b'z' | b'0'..=b'9' => prev_underscore = false,
            b'_' if !prev_underscore => prev_underscore = true,
            _ => return false,
        }
    }
    true
}

/// Both code types below are the same shape: an open, snake_case string with
/// constants for the values Oriole itself writes. Open, so a new event or
/// role does not need a new version of the verifier; snake_case, so the log
/// holds codes and never prose.
macro_rules! snake_case_code {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(Cow<'static, str>);

        impl $name {
            pub fn parse(s: &str) -> Result<Self, IdError> {
                if is_snake_case(s) {
                    Ok($name(Cow::Owned(s.to_owned())))
                } else {
                    Err(IdError::NotSnakeCase {
                        what: $what,
                        max: CODE_MAX,
                        value: s.to_owned(),
                    })
                }
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                $name::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(c: $name) -> String {
                c.0.into_owned()
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                $name::parse(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), &*self.0)
            }
        }
    };
}

snake_case_code!(
    /// What happened, as a snake_case code (`login_failed`). The constants are
    /// the events Oriole writes; others parse too, so a newer server's log
    /// still verifies with an older verifier.
    EventKind,
    "an event kind"
);

impl EventKind {
    pub const LOGIN: EventKind = EventKind(Cow::Borrowed("login"));
    pub const LOGIN_FAILED: EventKind = EventKind(Cow::Borrowed("login_failed"));
    pub const LOGOUT: EventKind = EventKind(Cow::Borrowed("logout"));
    /// A user revoked one of their devices (its session ends).
    pub const DEVICE_REVOKE: EventKind = EventKind(Cow::Borrowed("device_revoke"));
    /// An operator changed something that is not personal data (an operator
    /// account, configuration, a retention run).
    pub const OPERATOR_ACTION: EventKind = EventKind(Cow::Borrowed("operator_action"));
    /// Someone other than the user read the user's personal data: an operator
    /// (with `reason` and `ticket` in the details) or a back end acting on the
    /// user's behalf.
    pub const PERSONAL_DATA_ACCESS: EventKind = EventKind(Cow::Borrowed("personal_data_access"));
    /// A privacy officer approved (or refused) access to message content.
    pub const ACCESS_APPROVAL: EventKind = EventKind(Cow::Borrowed("access_approval"));
    pub const CONSENT_CHANGE: EventKind = EventKind(Cow::Borrowed("consent_change"));
    pub const POLICY_CHANGE: EventKind = EventKind(Cow::Borrowed("policy_change"));
    pub const EXPORT: EventKind = EventKind(Cow::Borrowed("export"));
    pub const CORRECTION: EventKind = EventKind(Cow::Borrowed("correction"));
    pub const DELETION: EventKind = EventKind(Cow::Borrowed("deletion"));
    pub const SHARING: EventKind = EventKind(Cow::Borrowed("sharing"));
    pub const DISCLOSURE: EventKind = EventKind(Cow::Borrowed("disclosure"));
    pub const KEY_ROTATION: EventKind = EventKind(Cow::Borrowed("key_rotation"));

    /// The kinds above, for documentation and reports.
    pub const KNOWN: &'static [EventKind] = &[
        EventKind::LOGIN,
        EventKind::LOGIN_FAILED,
        EventKind::LOGOUT,
        EventKind::DEVICE_REVOKE,
        EventKind::OPERATOR_ACTION,
        EventKind::PERSONAL_DATA_ACCESS,
        EventKind::ACCESS_APPROVAL,
        EventKind::CONSENT_CHANGE,
        EventKind::POLICY_CHANGE,
        EventKind::EXPORT,
        EventKind::CORRECTION,
        EventKind::DELETION,
        EventKind::SHARING,
        EventKind::DISCLOSURE,
        EventKind::KEY_ROTATION,
    ];
}

snake_case_code!(
    /// An operator's role at the time of the event (`support`). Recorded
    /// instead of the operator's name, so a user shown the entry learns which
    /// role looked, not who.
    OperatorRole,
    "an operator role"
);

impl OperatorRole {
    pub const ADMIN: OperatorRole = OperatorRole(Cow::Borrowed("admin"));
    pub const SUPPORT: OperatorRole = OperatorRole(Cow::Borrowed("support"));
    pub const AUDITOR: OperatorRole = OperatorRole(Cow::Borrowed("auditor"));
    pub const PRIVACY_OFFICER: OperatorRole = OperatorRole(Cow::Borrowed("privacy_officer"));
}

const PSEUDONYM_MAX: usize = 128;

/// An opaque id that stands for a user or an operator (a UUID, a blind
/// index), never a name, an email address or a phone number. The character
/// set leaves out `@`, `+` and spaces so the obvious mistakes do not parse;
/// it cannot catch every mistake, so callers must pass ids, not people's
/// data.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PseudonymousId(String);

impl PseudonymousId {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let ok = !s.is_empty()
            && s.len() <= PSEUDONYM_MAX
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        if ok {
            Ok(PseudonymousId(s.to_owned()))
        } else {
            Err(IdError::NotPseudonymous {
                max: PSEUDONYM_MAX,
                value: s.to_owned(),
            })
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PseudonymousId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        PseudonymousId::parse(&s)
    }
}

impl From<PseudonymousId> for String {
    fn from(id: PseudonymousId) -> String {
        id.0
    }
}

impl std::str::FromStr for PseudonymousId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        PseudonymousId::parse(s)
    }
}

impl fmt::Display for PseudonymousId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PseudonymousId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PseudonymousId({:?})", self.0)
    }
}

/// Who caused an event.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Actor {
    /// An end user, acting for themself.
    User { id: PseudonymousId },
    /// A member of staff, with the role they acted in.
    Operator {
        role: OperatorRole,
        id: PseudonymousId,
    },
    /// The server itself: retention jobs, key rotation, checkpoints.
    System,
}

impl Actor {
    /// The label reports group activity by: `user`, `system`, or
    /// `operator:<role>`.
    pub fn role_label(&self) -> String {
        match self {
            Actor::User { .. } => "user".to_owned(),
            Actor::System => "system".to_owned(),
            Actor::Operator { role, .. } => format!("operator:{role}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_codes() {
        for ok in ["login", "login_failed", "a1_b2", "x"] {
            assert!(EventKind::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Login",
            "login-failed",
            "_login",
            "login_",
            "a__b",
            "1abc",
            "ä",
            "a b",
        ] {
            assert!(EventKind::parse(bad).is_err(), "{bad}");
        }
        assert!(EventKind::parse(&"a".repeat(65)).is_err());
        for k in EventKind::KNOWN {
            assert_eq!(EventKind::parse(k.as_str()).as_ref(), Ok(k));
        }
    }

    #[test]
    fn pseudonymous_ids_refuse_obvious_personal_data() {
        for ok in [
            "u_0190a3",
            "0190a3f2-7c1e-7d4b-9b1a-6f2b3c4d5e6f",
            "op:3",
            "a.b",
        ] {
            assert!(PseudonymousId::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "alice@example.com",
            "+8613800000000",
            "Alice Smith",
            "名字",
        ] {
            assert!(PseudonymousId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn actor_json_shape() -> Result<(), serde_json::Error> {
        let a = Actor::Operator {
            role: OperatorRole::SUPPORT,
            id: PseudonymousId::parse("op_7").map_err(serde::de::Error::custom)?,
        };
        let json = serde_json::to_string(&a)?;
        assert_eq!(json, r#"{"kind":"operator","role":"support","id":"op_7"}"#);
        assert_eq!(serde_json::from_str::<Actor>(&json)?, a);
        assert_eq!(
            serde_json::to_string(&Actor::System)?,
            r#"{"kind":"system"}"#
        );
        assert!(serde_json::from_str::<Actor>(r#"{"kind":"user","id":"a@b"}"#).is_err());
        Ok(())
    }
}
