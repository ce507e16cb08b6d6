//! Typed domain values. Each `parse` returns a value that can only hold a
//! valid input, so services and stores never see raw, unchecked strings.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

/// Why a value was rejected; becomes an `invalid_input` error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

fn invalid(msg: impl Into<String>) -> InvalidValue {
    InvalidValue(msg.into())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new, time-ordered id (UUIDv7).
            pub fn generate() -> Self {
                $name(Uuid::now_v7())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = InvalidValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s)
                    .map($name)
                    .map_err(|_| invalid(concat!("not a valid ", $what, " id")))
            }
        }
    };
}

id_type!(
    /// An account.
    UserId, "user"
);
id_type!(
    /// One logged-in device (one session token).
    DeviceId, "device"
);
id_type!(
    /// A message, shared by every inbox it was delivered to.
    MessageId, "message"
);
id_type!(
    /// A group conversation.
    GroupId, "group"
);

/// Milliseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn millis(self) -> i64 {
        self.0
    }
    pub fn plus_secs(self, secs: u64) -> Timestamp {
        Timestamp(self.0.saturating_add((secs as i64).saturating_mul(1000)))
    }
}

/// Position in one user's inbox; strictly increasing per user, starting at 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct InboxSeq(pub u64);

/// A public, unique account name: 3–32 characters of lowercase ASCII
/// letters, digits, `_`, `.` and `-`, starting with a letter. Input is
/// lower-cased first, so `Alice` and `alice` are the same account.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let s = raw.trim().to_ascii_lowercase();
        let len = s.chars().count();
        if !(3..=32).contains(&len) {
            return Err(invalid("username must be 3 to 32 characters"));
        }
        let mut chars = s.chars();
        if !chars.next().is_some_and(|c| c.is_ascii_lowercase()) {
            return Err(invalid("username must start with a letter"));
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'))
        {
            return Err(invalid(
                "username may contain only letters, digits, '_', '.' and '-'",
            ));
        }
        Ok(Username(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<Username> for String {
    fn from(name: Username) -> String {
        name.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A phone number in E.164 form (`+` and 8 to 15 digits). Spaces, dashes,
/// dots and parentheses in the input are dropped.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

impl Phone {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let cleaned: String = raw
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
            .collect();
        let Some(digits) = cleaned.strip_prefix('+') else {
            return Err(invalid(
                "phone must be in international form, starting with +",
            ));
        };
        if !(8..=15).contains(&digits.len())
            || !digits.chars().all(|c| c.is_ascii_digit())
            || digits.starts_with('0')
        {
            return Err(invalid("phone must be + and 8 to 15 digits (E.164)"));
        }
        Ok(Phone(cleaned))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Personal data: Debug never prints it.
impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Phone(***)")
    }
}

/// An e-mail address: one `@`, a non-empty local part, a domain with a dot,
/// no spaces, at most 254 characters. The domain is lower-cased.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let s = raw.trim();
        if s.len() > 254 {
            return Err(invalid("email is longer than 254 characters"));
        }
        let Some((local, domain)) = s.split_once('@') else {
            return Err(invalid("email must contain @"));
        };
        let bad_char = |c: char| c.is_whitespace() || c.is_control() || c == '@';
        if local.is_empty() || local.len() > 64 || local.chars().any(bad_char) {
            return Err(invalid("email has an invalid local part"));
        }
        let domain = domain.to_ascii_lowercase();
        let labels_ok = domain.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
        if !domain.contains('.') || !labels_ok {
            return Err(invalid("email has an invalid domain"));
        }
        Ok(Email(format!("{local}@{domain}")))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The form lookups and uniqueness use: the whole address lower-cased,
    /// as mail providers treat the local part without regard to case.
    pub fn normalised(&self) -> String {
        self.0.to_lowercase()
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Email(***)")
    }
}

/// A password as typed: 8 to 1024 characters. Never stored, never logged.
pub struct Password(secrecy::SecretString);

impl Password {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let n = raw.chars().count();
        if n < 8 {
            return Err(invalid("password must be at least 8 characters"));
        }
        if n > 1024 {
            return Err(invalid("password must be at most 1024 characters"));
        }
        Ok(Password(secrecy::SecretString::from(raw.to_owned())))
    }
    pub fn secret(&self) -> &secrecy::SecretString {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

fn short_label(raw: &str, what: &str, max: usize) -> Result<String, InvalidValue> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(invalid(format!("{what} must not be empty")));
    }
    if s.chars().count() > max {
        return Err(invalid(format!("{what} must be at most {max} characters")));
    }
    if s.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{what} must not contain control characters"
        )));
    }
    Ok(s.to_owned())
}

/// A device description reported at login (model or OS version): personal
/// data of the device category, at most 64 printable characters.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceLabel(String);

impl DeviceLabel {
    pub fn parse(raw: &str, what: &str) -> Result<Self, InvalidValue> {
        short_label(raw, what, 64).map(DeviceLabel)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn from_stored(s: String) -> Self {
        DeviceLabel(s)
    }
}

impl fmt::Debug for DeviceLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeviceLabel(***)")
    }
}

/// A group's display name: 1 to 64 printable characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupName(String);

impl GroupName {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        short_label(raw, "group name", 64).map(GroupName)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn from_stored(s: String) -> Self {
        GroupName(s)
    }
}

/// A client-chosen key that makes a send exactly-once: 1 to 128 printable
/// ASCII characters, unique per sender.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        Self::check(raw)?;
        Ok(IdempotencyKey(raw.to_owned()))
    }

    /// [`IdempotencyKey::parse`] for a key already owned (one from a
    /// decoded frame, say), kept without a copy.
    pub fn parse_owned(raw: String) -> Result<Self, InvalidValue> {
        Self::check(&raw)?;
        Ok(IdempotencyKey(raw))
    }

    fn check(raw: &str) -> Result<(), InvalidValue> {
        if raw.is_empty() || raw.len() > 128 || !raw.chars().all(|c| c.is_ascii_graphic()) {
            return Err(invalid(
                "idempotency_key must be 1 to 128 printable ASCII characters",
            ));
        }
        Ok(())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a message carries: text, an app-defined JSON payload, or both,
/// within the size limit. The payload is kept as its JSON text.
#[derive(Clone, PartialEq, Eq)]
pub struct MessageBody {
    pub text: Option<String>,
    pub payload_json: Option<String>,
}

impl MessageBody {
    pub fn parse(
        text: Option<String>,
        payload: Option<&serde_json::Value>,
        max_bytes: usize,
    ) -> Result<Self, BodyError> {
        let payload_json = match payload {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => Some(v.to_string()),
        };
        let text = text.filter(|t| !t.is_empty());
        if text.is_none() && payload_json.is_none() {
            return Err(BodyError::Invalid(invalid(
                "a message needs text or a payload",
            )));
        }
        let size =
            text.as_ref().map_or(0, String::len) + payload_json.as_ref().map_or(0, String::len);
        if size > max_bytes {
            return Err(BodyError::TooLarge {
                size,
                max: max_bytes,
            });
        }
        Ok(MessageBody { text, payload_json })
    }
}

impl fmt::Debug for MessageBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MessageBody(***)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error(transparent)]
    Invalid(InvalidValue),
    #[error("message is {size} bytes; the limit is {max}")]
    TooLarge { size: usize, max: usize },
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn usernames() {
        assert_eq!(Username::parse(" Alice ").map(|u| u.0), Ok("alice".into()));
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse("1abc").is_err());
        assert!(Username::parse("a b c").is_err());
        assert!(Username::parse(&"a".repeat(33)).is_err());
        assert!(Username::parse("bob.smith-2_x").is_ok());
    }

    #[test]
    fn idempotency_keys_owned_or_borrowed_parse_alike() {
        let long = "k".repeat(129);
        for raw in ["k-1", "", "with space", "ключ", long.as_str(), &long[..128]] {
            assert_eq!(
                IdempotencyKey::parse(raw),
                IdempotencyKey::parse_owned(raw.to_owned()),
                "{raw:?}"
            );
        }
        assert_eq!(
            IdempotencyKey::parse_owned("k-1".into()).map(|k| k.0),
            Ok("k-1".into())
        );
    }

    #[test]
    fn phones() {
        assert_eq!(
            Phone::parse("+86 138-0013-8000").map(|p| p.0),
            Ok("+8613800138000".into())
        );
        assert!(Phone::parse("13800138000").is_err());
        assert!(Phone::parse("+12").is_err());
        assert!(Phone::parse("+1234567890123456").is_err());
        assert!(Phone::parse("+1abc5550100").is_err());
        assert!(!format!("{:?}", Phone::parse("+14155550100")).contains("4155"));
    }

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse("Bob@Example.COM").map(|e| e.0),
            Ok("Bob@example.com".into())
        );
        for bad in [
            "bob",
            "bob@",
            "@x.org",
            "bob@localhost",
            "b ob@x.org",
            "bob@-x.org",
            "a@b@c.org",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bodies() {
        assert!(MessageBody::parse(None, None, 10).is_err());
        assert!(MessageBody::parse(Some(String::new()), None, 10).is_err());
        assert!(matches!(
            MessageBody::parse(Some("x".repeat(11)), None, 10),
            Err(BodyError::TooLarge { size: 11, max: 10 })
        ));
        let b = MessageBody::parse(None, Some(&serde_json::json!({"a":1})), 100).expect("ok");
        assert_eq!(b.payload_json.as_deref(), Some(r#"{"a":1}"#));
    }

    proptest! {
        #[test]
        fn username_parse_never_panics_and_is_idempotent(s in "\\PC{0,40}") {
            if let Ok(u) = Username::parse(&s) {
                prop_assert_eq!(Username::parse(u.as_str()), Ok(u.clone()));
            }
        }

        #[test]
        fn email_parse_is_idempotent(s in "[a-zA-Z0-9._+-]{1,20}@[a-zA-Z0-9]{1,10}\\.[a-z]{2,5}") {
            let e = Email::parse(&s);
            prop_assert!(e.is_ok());
            let e = e.unwrap_or_else(|_| unreachable!());
            prop_assert_eq!(Email::parse(e.as_str()), Ok(e.clone()));
        }

        #[test]
        fn phone_parse_never_panics(s in "\\PC{0,30}") {
            let _ = Phone::parse(&s);
        }
    }
}
