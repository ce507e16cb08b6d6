//! The typed values of a registered recipient.

use std::fmt;

use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use url::{Host, Url};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecipientError {
    #[error("recipient name must be 2-40 characters: lowercase letters, digits, `-` and `_`, starting with a letter")]
    Name,
    #[error("{field} must be 1-{max} characters without control characters")]
    Text { field: &'static str, max: usize },
    #[error("delivery URL: {0}")]
    Url(String),
    #[error("signing secret must be `{SECRET_PREFIX}` followed by 64 hex digits")]
    Secret,
}

/// A recipient's name: the stable handle users grant and revoke by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecipientName(String);

impl RecipientName {
    pub fn parse(s: &str) -> Result<RecipientName, RecipientError> {
        let s = s.trim();
        let ok = (2..=40).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if ok {
            Ok(RecipientName(s.to_owned()))
        } else {
            Err(RecipientError::Name)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RecipientName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A free-text field of the registry (purpose, contact, legal basis,
/// retention at the recipient): published to every user, so it holds the
/// recipient's business details, never a user's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientText(String);

impl RecipientText {
    pub const MAX_CHARS: usize = 500;

    pub fn parse(field: &'static str, s: &str) -> Result<RecipientText, RecipientError> {
        let s = s.trim();
        let len = s.chars().count();
        if len == 0 || len > Self::MAX_CHARS || s.chars().any(char::is_control) {
            return Err(RecipientError::Text {
                field,
                max: Self::MAX_CHARS,
            });
        }
        Ok(RecipientText(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RecipientText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where webhooks are POSTed: `https://`, or `http://` to a loopback
/// address only (everything in transit is encrypted, promise P4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryUrl(Url);

impl DeliveryUrl {
    pub fn parse(s: &str) -> Result<DeliveryUrl, RecipientError> {
        let url = Url::parse(s.trim()).map_err(|e| RecipientError::Url(e.to_string()))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(RecipientError::Url("must not carry credentials".into()));
        }
        let loopback = match url.host() {
            Some(Host::Ipv4(a)) => a.is_loopback(),
            Some(Host::Ipv6(a)) => a.is_loopback(),
            Some(Host::Domain(d)) => d == "localhost",
            None => return Err(RecipientError::Url("needs a host".into())),
        };
        match url.scheme() {
            "https" => Ok(DeliveryUrl(url)),
            "http" if loopback => Ok(DeliveryUrl(url)),
            "http" => Err(RecipientError::Url(
                "plain http is only allowed to a loopback address; use https".into(),
            )),
            other => Err(RecipientError::Url(format!(
                "scheme `{other}` is not supported; use https"
            ))),
        }
    }

    pub fn as_url(&self) -> &Url {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Display for DeliveryUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

/// The prefix of every signing secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// The secret a recipient and Oriole share to sign webhooks and callbacks:
/// `whsec_` and 64 hex digits; the HMAC key is the whole string's bytes.
/// `Debug` never prints it.
#[derive(Clone)]
pub struct SigningSecret(SecretString);

impl SigningSecret {
    /// A new random secret (256 bits).
    pub fn generate() -> SigningSecret {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let s = format!("{SECRET_PREFIX}{}", hex::encode(bytes));
        zeroize::Zeroize::zeroize(&mut bytes);
        SigningSecret(SecretString::from(s))
    }

    pub fn parse(s: &str) -> Result<SigningSecret, RecipientError> {
        let hex_part = s
            .strip_prefix(SECRET_PREFIX)
            .ok_or(RecipientError::Secret)?;
        if hex_part.len() != 64 || !hex_part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(RecipientError::Secret);
        }
        Ok(SigningSecret(SecretString::from(s.to_owned())))
    }

    /// The secret itself: to seal it, or to show it once to the officer
    /// who registers the recipient.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    pub(crate) fn key(&self) -> &[u8] {
        self.0.expose_secret().as_bytes()
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(RecipientName::parse("assistant-1").is_ok());
        for bad in ["", "a", "Assistant", "1abc", "a b", "ab/c"] {
            assert!(RecipientName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls_need_tls_off_loopback() {
        assert!(DeliveryUrl::parse("https://hooks.example.com/oriole").is_ok());
        assert!(DeliveryUrl::parse("http://127.0.0.1:9000/hook").is_ok());
        assert!(DeliveryUrl::parse("http://localhost/hook").is_ok());
        assert!(DeliveryUrl::parse("http://hooks.example.com/").is_err());
        assert!(DeliveryUrl::parse("ftp://127.0.0.1/").is_err());
        assert!(DeliveryUrl::parse("https://u:p@example.com/").is_err());
        assert!(DeliveryUrl::parse("not a url").is_err());
    }

    #[test]
    fn secrets_round_trip_and_hide() {
        let s = SigningSecret::generate();
        let again = SigningSecret::parse(s.expose()).expect("parses");
        assert_eq!(again.expose(), s.expose());
        assert!(!format!("{s:?}").contains(&s.expose()[6..]));
        assert!(SigningSecret::parse("whsec_zz").is_err());
    }

    #[test]
    fn text_fields() {
        assert!(RecipientText::parse("purpose", "Answers questions").is_ok());
        assert!(RecipientText::parse("purpose", "  ").is_err());
        assert!(RecipientText::parse("purpose", "a\nb").is_err());
    }
}
