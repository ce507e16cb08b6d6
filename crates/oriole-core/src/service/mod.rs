//! The services: one `Oriole` value holds the ports and the configuration;
//! its methods (split by area into submodules) are what handlers call.

mod access;
mod accounts;
mod consent;
mod directory;
mod disclosure;
mod groups;
mod messaging;
mod policy;
mod retention;
mod rights;
mod sharing;
mod staff;

pub use rights::{
    section_items, verify_receipt, ExportJob, ReceiptError, EXPORT_FORMAT, NOT_PER_ACCOUNT,
    SECTIONS,
};

pub use sharing::{AfterFailure, OutgoingWebhook};

use std::sync::Arc;

pub use access::Justification;
pub use messaging::QueuedSend;

use oriole_crypto::{PasswordCost, PasswordHashString};

use crate::domain::{DeviceId, UserId, Username};
use crate::ports::{Clock, Fanout};
use crate::store::Store;
use crate::throttle::{Throttle, ThrottleRule};

/// Tunables of the core services.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Limit on text plus payload of one message, in bytes.
    pub max_message_bytes: usize,
    /// How long after sending a sender may recall a message.
    pub recall_window_secs: u64,
    /// Largest page `sync` returns.
    pub max_page: u32,
    pub password_cost: PasswordCost,
    /// Failed logins allowed per account, per window.
    pub login_failures_per_account: ThrottleRule,
    /// Login attempts (failed) allowed per client IP, per window.
    pub login_failures_per_ip: ThrottleRule,
    /// Members allowed in one group.
    pub max_group_members: usize,
    /// Deletion, export and support-request tunables.
    pub rights: crate::rights::RightsConfig,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            max_message_bytes: oriole_proto::DEFAULT_MAX_MESSAGE_BYTES,
            recall_window_secs: 120,
            max_page: 500,
            password_cost: PasswordCost::default(),
            login_failures_per_account: ThrottleRule {
                max_failures: 5,
                window_secs: 15 * 60,
            },
            login_failures_per_ip: ThrottleRule {
                max_failures: 50,
                window_secs: 15 * 60,
            },
            max_group_members: 2000,
            rights: crate::rights::RightsConfig::default(),
        }
    }
}

/// An authenticated end user on one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: UserId,
    pub username: Username,
    pub device_id: DeviceId,
}

/// The services over a store `S`. Cheap to share: wrap it in an `Arc`.
pub struct Oriole<S: Store> {
    pub(crate) store: S,
    fanout: Arc<dyn Fanout>,
    pub(crate) clock: Arc<dyn Clock>,
    config: CoreConfig,
    account_throttle: Throttle,
    ip_throttle: Throttle,
    dummy_hash: PasswordHashString,
    /// The privacy policy in force and who has accepted it.
    policy: policy::PolicyGate,
    /// Woken when an account is deleted: its background purge can start.
    purge_wake: Arc<tokio::sync::Notify>,
    /// Addressees of 1:1 sends by username.
    directory: directory::Directory,
    rosters: directory::Rosters,
}

impl<S: Store> Oriole<S> {
    pub fn new(
        store: S,
        fanout: Arc<dyn Fanout>,
        clock: Arc<dyn Clock>,
        config: CoreConfig,
    ) -> Self {
        let dummy_hash = oriole_crypto::dummy_password_hash(config.password_cost);
        Oriole {
            account_throttle: Throttle::new(config.login_failures_per_account),
            ip_throttle: Throttle::new(config.login_failures_per_ip),
            store,
            fanout,
            clock,
            config,
            dummy_hash,
            policy: policy::PolicyGate::default(),
            purge_wake: Arc::new(tokio::sync::Notify::new()),
            directory: directory::Directory::default(),
            rosters: directory::Rosters::default(),
        }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn config(&self) -> &CoreConfig {
        &self.config
    }
}
