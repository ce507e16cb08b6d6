//! Retention (PRIVACY.md P3): how long each kind of personal data is kept,
//! as rules a background job (and `oriole admin retention run`) enforces.
//! The periods are the ones the inventory declares; consent records and the
//! audit log have no rule: they are kept as long as the law requires.

use crate::domain::InvalidValue;

/// The periods, in days (0: the rule is off and the data is kept until the
/// account is deleted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionConfig {
    /// IP address, device model and OS version: cleared this long after the
    /// device was last used (and at once for logged-out devices).
    pub device_details_days: u32,
    /// Device rows (the login history): deleted this long after last use.
    pub login_history_days: u32,
    /// Messages: deleted this long after sending (0: kept until the
    /// sender's account is deleted). Groups may override it.
    pub message_days: u32,
    /// Usage events (product analytics).
    pub analytics_days: u32,
    /// Rows removed per transaction.
    pub batch_size: u32,
}

/// The periods the inventory declares.
pub const DEVICE_DETAILS_DAYS: u32 = 30;
pub const LOGIN_HISTORY_DAYS: u32 = 180;
pub const ANALYTICS_DAYS: u32 = 90;

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            device_details_days: DEVICE_DETAILS_DAYS,
            login_history_days: LOGIN_HISTORY_DAYS,
            message_days: 0,
            analytics_days: ANALYTICS_DAYS,
            batch_size: 500,
        }
    }
}

/// A retention rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetentionRule {
    DeviceDetailsIdle,
    DeviceDetailsRevoked,
    LoginHistory,
    Messages,
    AnalyticsEvents,
}

impl RetentionRule {
    /// Every rule, in the order a run applies them.
    pub const ALL: [RetentionRule; 5] = [
        RetentionRule::DeviceDetailsRevoked,
        RetentionRule::DeviceDetailsIdle,
        RetentionRule::LoginHistory,
        RetentionRule::Messages,
        RetentionRule::AnalyticsEvents,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RetentionRule::DeviceDetailsIdle => "device_details_idle",
            RetentionRule::DeviceDetailsRevoked => "device_details_revoked",
            RetentionRule::LoginHistory => "login_history",
            RetentionRule::Messages => "messages",
            RetentionRule::AnalyticsEvents => "analytics_events",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        Self::ALL
            .into_iter()
            .find(|r| r.name() == raw.trim())
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|r| r.name()).collect();
                InvalidValue(format!(
                    "unknown retention rule `{}`; rules: {}",
                    raw.chars().take(64).collect::<String>(),
                    names.join(", ")
                ))
            })
    }

    /// The inventory items the rule enforces.
    pub fn items(self) -> &'static [&'static str] {
        match self {
            RetentionRule::DeviceDetailsIdle | RetentionRule::DeviceDetailsRevoked => {
                &["device.ip", "device.model", "device.os_version"]
            }
            RetentionRule::LoginHistory => &["device.seen_times", "session.token_hash"],
            RetentionRule::Messages => &[
                "message.text",
                "message.payload",
                "message.metadata",
                "receipt",
                "inbox",
            ],
            RetentionRule::AnalyticsEvents => &["analytics.event"],
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            RetentionRule::DeviceDetailsIdle => {
                "Clear the IP address, device model and OS version of devices not used for the period"
            }
            RetentionRule::DeviceDetailsRevoked => {
                "Clear the IP address, device model and OS version of logged-out devices"
            }
            RetentionRule::LoginHistory => {
                "Delete device records (login history) not used for the period; an idle session ends"
            }
            RetentionRule::Messages => {
                "Delete messages older than the period (a group's own period overrides it)"
            }
            RetentionRule::AnalyticsEvents => "Delete usage events older than the period",
        }
    }

    /// The rule's period under `config`; `None`: immediate (no period);
    /// `Some(0)`: off.
    pub fn days(self, config: &RetentionConfig) -> Option<u32> {
        match self {
            RetentionRule::DeviceDetailsIdle => Some(config.device_details_days),
            RetentionRule::DeviceDetailsRevoked => None,
            RetentionRule::LoginHistory => Some(config.login_history_days),
            RetentionRule::Messages => Some(config.message_days),
            RetentionRule::AnalyticsEvents => Some(config.analytics_days),
        }
    }
}

/// Milliseconds in `days` days.
pub fn days_ms(days: u32) -> i64 {
    i64::from(days) * 24 * 60 * 60 * 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_by_name_and_name_inventory_items() {
        for rule in RetentionRule::ALL {
            assert_eq!(RetentionRule::parse(rule.name()), Ok(rule));
            for item in rule.items() {
                assert!(
                    crate::inventory::item(item).is_some(),
                    "{} names unknown item {item}",
                    rule.name()
                );
            }
        }
        let e = RetentionRule::parse("everything").expect_err("unknown");
        assert!(e.0.contains("login_history"), "{e}");
    }
}
