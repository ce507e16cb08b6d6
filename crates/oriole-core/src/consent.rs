//! Purposes, consent and the versioned privacy policy (PRIVACY.md P2, P15):
//! the declared purposes (beside the inventory, which names them per item),
//! and the typed values the consent and policy services take.

use oriole_proto::{LegalBasis, Purpose};

use crate::domain::InvalidValue;
use crate::inventory::Necessity;

/// One declared purpose: why data is processed, on what basis, and whether
/// the user may refuse it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurposeDecl {
    pub purpose: Purpose,
    /// The name on the wire and on the command line.
    pub name: &'static str,
    pub description: &'static str,
    pub legal_basis: LegalBasis,
    /// `Optional` purposes are off until the user grants them.
    pub necessity: Necessity,
}

/// Every purpose Oriole processes personal data for.
pub static PURPOSES: &[PurposeDecl] = &[
    PurposeDecl {
        purpose: Purpose::Service,
        name: "service",
        description: "Providing the messaging service you signed up for",
        legal_basis: LegalBasis::Contract,
        necessity: Necessity::Necessary,
    },
    PurposeDecl {
        purpose: Purpose::Security,
        name: "security",
        description: "Keeping accounts and the service secure (login IP addresses, kept short)",
        legal_basis: LegalBasis::LegitimateInterest,
        necessity: Necessity::Necessary,
    },
    PurposeDecl {
        purpose: Purpose::DeviceDiagnostics,
        name: "device_diagnostics",
        description: "Storing the device model and OS version your apps report, to diagnose \
                      problems",
        legal_basis: LegalBasis::Consent,
        necessity: Necessity::Optional,
    },
    PurposeDecl {
        purpose: Purpose::ProductAnalytics,
        name: "product_analytics",
        description: "Storing usage events your apps report, to improve the product",
        legal_basis: LegalBasis::Consent,
        necessity: Necessity::Optional,
    },
];

/// The declaration of a purpose (the match fails to compile when a
/// [`Purpose`] is added without one; a test checks the indexes).
pub fn declaration(purpose: Purpose) -> &'static PurposeDecl {
    match purpose {
        Purpose::Service => &PURPOSES[0],
        Purpose::Security => &PURPOSES[1],
        Purpose::DeviceDiagnostics => &PURPOSES[2],
        Purpose::ProductAnalytics => &PURPOSES[3],
    }
}

/// The wire name of a purpose (`device_diagnostics`).
pub fn purpose_name(purpose: Purpose) -> &'static str {
    declaration(purpose).name
}

/// A purpose by its name; unknown names list the known ones.
pub fn parse_purpose(raw: &str) -> Result<Purpose, InvalidValue> {
    let raw = raw.trim();
    PURPOSES
        .iter()
        .find(|d| d.name == raw)
        .map(|d| d.purpose)
        .ok_or_else(|| {
            let known: Vec<&str> = PURPOSES.iter().map(|d| d.name).collect();
            InvalidValue(format!(
                "unknown purpose `{}`; known purposes: {}",
                raw.chars().take(64).collect::<String>(),
                known.join(", ")
            ))
        })
}

/// An optional purpose: the only kind a user grants or withdraws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OptionalPurpose(Purpose);

impl OptionalPurpose {
    pub const DEVICE_DIAGNOSTICS: OptionalPurpose = OptionalPurpose(Purpose::DeviceDiagnostics);
    pub const PRODUCT_ANALYTICS: OptionalPurpose = OptionalPurpose(Purpose::ProductAnalytics);

    /// Unknown names and necessary purposes (which need no consent and
    /// cannot be withdrawn) are rejected with a reason.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let purpose = parse_purpose(raw)?;
        let decl = declaration(purpose);
        if decl.necessity == Necessity::Necessary {
            return Err(InvalidValue(format!(
                "`{}` is necessary to provide the service ({:?} basis), not based on consent: \
                 it cannot be granted or withdrawn; optional purposes: {}",
                decl.name,
                decl.legal_basis,
                optional_names().join(", ")
            )));
        }
        Ok(OptionalPurpose(purpose))
    }

    pub fn purpose(self) -> Purpose {
        self.0
    }

    pub fn name(self) -> &'static str {
        purpose_name(self.0)
    }
}

fn optional_names() -> Vec<&'static str> {
    PURPOSES
        .iter()
        .filter(|d| d.necessity == Necessity::Optional)
        .map(|d| d.name)
        .collect()
}

/// A privacy policy version: 1, 2, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PolicyVersion(u32);

impl PolicyVersion {
    pub const FIRST: PolicyVersion = PolicyVersion(1);

    pub fn parse(raw: u32) -> Result<Self, InvalidValue> {
        if raw == 0 {
            return Err(InvalidValue(
                "policy versions are numbered from 1".to_owned(),
            ));
        }
        Ok(PolicyVersion(raw))
    }

    /// A version read back from storage.
    pub fn from_stored(raw: u32) -> Self {
        PolicyVersion(raw.max(1))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl std::fmt::Display for PolicyVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A language tag (`en`, `zh-CN`): a 2–3 letter language, then optional
/// subtags of 2–8 letters or digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyLang(String);

impl PolicyLang {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let raw = raw.trim();
        let mut parts = raw.split('-');
        let lang = parts.next().unwrap_or_default();
        let lang_ok =
            (2..=3).contains(&lang.len()) && lang.chars().all(|c| c.is_ascii_alphabetic());
        let rest_ok = parts
            .all(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
        if !lang_ok || !rest_ok || raw.len() > 35 {
            return Err(InvalidValue(format!(
                "`{}` is not a language tag such as `en` or `zh-CN`",
                raw.chars().take(40).collect::<String>()
            )));
        }
        Ok(PolicyLang(raw.to_owned()))
    }

    pub fn from_stored(raw: String) -> Self {
        PolicyLang(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Largest policy text accepted, in bytes.
pub const MAX_POLICY_BYTES: usize = 256 * 1024;

/// The text of a policy in one language: not blank, at most
/// [`MAX_POLICY_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyText(String);

impl PolicyText {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        if raw.trim().is_empty() {
            return Err(InvalidValue("the policy text is empty".to_owned()));
        }
        if raw.len() > MAX_POLICY_BYTES {
            return Err(InvalidValue(format!(
                "the policy text is {} bytes; at most {MAX_POLICY_BYTES} are accepted",
                raw.len()
            )));
        }
        Ok(PolicyText(raw.to_owned()))
    }

    pub fn from_stored(raw: String) -> Self {
        PolicyText(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The policy shipped with Oriole, installed as version 1 on the first
/// start (the files under `policy/` at the repository root).
pub const DEFAULT_POLICY: &[(&str, &str)] = &[
    ("en", include_str!("../../../policy/v1.en.md")),
    ("zh-CN", include_str!("../../../policy/v1.zh-CN.md")),
];

/// The name of a client-reported usage event: a lowercase identifier, so it
/// cannot carry free text (names, numbers) about a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalyticsEventName(String);

impl AnalyticsEventName {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let ok = !raw.is_empty()
            && raw.len() <= 64
            && raw.starts_with(|c: char| c.is_ascii_lowercase())
            && raw
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !ok {
            return Err(InvalidValue(
                "an analytics event name is a lowercase identifier (a-z, 0-9, `_`; starting \
                 with a letter; at most 64), e.g. `app_open`"
                    .to_owned(),
            ));
        }
        Ok(AnalyticsEventName(raw.to_owned()))
    }

    pub fn from_stored(raw: String) -> Self {
        AnalyticsEventName(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_purpose_is_declared_once_under_its_wire_name() {
        for purpose in [
            Purpose::Service,
            Purpose::Security,
            Purpose::DeviceDiagnostics,
            Purpose::ProductAnalytics,
        ] {
            let decls: Vec<_> = PURPOSES.iter().filter(|d| d.purpose == purpose).collect();
            assert_eq!(decls.len(), 1, "{purpose:?}");
            let wire = serde_json::to_value(purpose).expect("json");
            assert_eq!(wire, decls[0].name, "{purpose:?}");
            assert_eq!(declaration(purpose).purpose, purpose);
        }
    }

    #[test]
    fn optional_purposes_are_consent_based_and_parse() {
        for d in PURPOSES {
            assert_eq!(
                d.necessity == Necessity::Optional,
                d.legal_basis == LegalBasis::Consent,
                "{}",
                d.name
            );
        }
        assert_eq!(
            OptionalPurpose::parse("device_diagnostics").map(OptionalPurpose::purpose),
            Ok(Purpose::DeviceDiagnostics)
        );
        let e = OptionalPurpose::parse("service").expect_err("necessary");
        assert!(e.0.contains("necessary"), "{e}");
        let e = OptionalPurpose::parse("marketing").expect_err("unknown");
        assert!(e.0.contains("unknown purpose `marketing`"), "{e}");
        assert!(e.0.contains("product_analytics"), "{e}");
    }

    #[test]
    fn policy_values_parse() {
        assert!(PolicyVersion::parse(0).is_err());
        assert_eq!(PolicyVersion::parse(3).map(PolicyVersion::get), Ok(3));
        for ok in ["en", "zh-CN", "pt-BR", "zh-Hans-CN"] {
            assert!(PolicyLang::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "e", "english!", "zh_CN", "en-", "-en"] {
            assert!(PolicyLang::parse(bad).is_err(), "{bad}");
        }
        assert!(PolicyText::parse(" \n\t").is_err());
        assert!(PolicyText::parse(&"x".repeat(MAX_POLICY_BYTES + 1)).is_err());
        assert!(PolicyText::parse("# v2\n").is_ok());
        for (lang, text) in DEFAULT_POLICY {
            assert!(PolicyLang::parse(lang).is_ok());
            assert!(PolicyText::parse(text).is_ok());
        }
    }

    #[test]
    fn analytics_event_names_are_identifiers() {
        assert!(AnalyticsEventName::parse("app_open").is_ok());
        for bad in [
            "",
            "App",
            "1st",
            "a b",
            "alice@example.com",
            &"a".repeat(65),
        ] {
            assert!(AnalyticsEventName::parse(bad).is_err(), "{bad}");
        }
    }
}
