//! The personal-data inventory (the "list of personal information
//! collected", PRIVACY.md P1): ONE declaration of every personal-data item
//! Oriole stores, why, on what legal basis, for how long, who may see it and
//! how it is protected at rest.
//!
//! Everything else derives from [`INVENTORY`]: `GET /v1/privacy/inventory`,
//! `oriole privacy inventory` and `docs/privacy-inventory.md`. Each store
//! backend has a test that inspects its real schema and fails when a column
//! is neither declared here (in an item's `fields`) nor listed in
//! [`NON_PERSONAL_COLUMNS`] with a reason, or when a declared field does not
//! exist; and that the columns declared [`Protection::EncryptedAtRest`] are
//! exactly the ones the backend seals.

use oriole_proto::{
    DataCategory, InventoryItem, LegalBasis, OperatorRole, ProtectionKind, Purpose, RetentionInfo,
};
use serde::Serialize;

use DataCategory::*;
use OperatorRole::{Admin, Auditor, PrivacyOfficer, Support};

/// One personal-data item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DataItem {
    /// Stable identifier, e.g. `message.text`.
    pub id: &'static str,
    pub description: &'static str,
    pub category: DataCategory,
    /// The storage fields holding it, as `table.column`.
    pub fields: &'static [&'static str],
    pub purposes: &'static [Purpose],
    pub legal_basis: LegalBasis,
    pub necessity: Necessity,
    pub retention: Retention,
    /// Operator roles that may see it (message content: never support).
    pub visible_to: &'static [OperatorRole],
    /// Third-party recipients that may receive it.
    pub recipients: &'static [&'static str],
    pub protection: Protection,
}

/// Whether the service needs an item, or the user may withhold it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Necessity {
    Necessary,
    Optional,
}

/// How long an item is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Retention {
    pub description: &'static str,
    /// A fixed period, when there is one.
    pub days: Option<u32>,
}

/// How an item is stored at rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Protection {
    /// Written only through the field vault, sealed with the owner's data key.
    EncryptedAtRest,
    /// In the clear, by an explicit exception.
    Clear { justification: &'static str },
}

/// A column that holds nothing about a person, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct NonPersonalColumn {
    /// `table.column`.
    pub field: &'static str,
    pub reason: &'static str,
}

const UNTIL_ACCOUNT_DELETED: Retention = Retention {
    description: "Until the account is deleted",
    days: None,
};

const PSEUDONYMOUS_METADATA: Protection = Protection::Clear {
    justification: "Pseudonymous metadata (random ids, times, kinds): needed in the clear to \
                    route, order and look up messages; holds no name, number or content",
};

/// How long audit entries are kept: six years, a common statutory period
/// for records of access to personal data.
pub const AUDIT_RETENTION_DAYS: u32 = 6 * 365;

const ALL_ROLES: &[OperatorRole] = &[Admin, Support, Auditor, PrivacyOfficer];

/// Device model and OS version: collected only under `device_diagnostics`
/// consent, erased when it is withdrawn.
const DEVICE_DETAILS_RETENTION: Retention = Retention {
    description: "Only with device_diagnostics consent; erased when it is withdrawn, 30 days \
                  after the device was last used, and once the device is logged out",
    days: Some(crate::retention::DEVICE_DETAILS_DAYS),
};

/// Device records: the login history.
const LOGIN_HISTORY_RETENTION: Retention = Retention {
    description: "180 days after the device was last used (an idle session then ends)",
    days: Some(crate::retention::LOGIN_HISTORY_DAYS),
};

/// Messages: as the deployment configures.
const MESSAGE_RETENTION: Retention = Retention {
    description: "As the deployment configures (retention.message_days; default: until the \
                  sender's account is deleted), or the group's own period; a recalled \
                  message's content is erased at once",
    days: None,
};

/// Every personal-data item Oriole stores.
pub static INVENTORY: &[DataItem] = &[
    DataItem {
        id: "account.username",
        description: "The username chosen at registration; how other users address you",
        category: Identity,
        fields: &["users.username"],
        purposes: &[Purpose::Service],
        legal_basis: LegalBasis::Contract,
        necessity: Necessity::Necessary,
        retention: UNTIL_ACCOUNT_DELETED,
        visible_to: ALL_ROLES,
        recipients: &[],
        protection: Protection::Clear {
            justification: "Public identifier: shown to every user you message, and looked up \
                            by exact match at login and when addressing messages",
        },
    },
    DataItem {
        id: "account.phone",
        description: "Phone number, if you gave one",
        category: Identity,
        fields: &["users.phone"],
        purposes: &[Purpose::Service],
        legal_basis: LegalBasis::Consent,
        necessity: Necessity::Optional,
        retention: UNTIL_ACCOUNT_DELETED,
        visible_to: &[Admin, Support, PrivacyOfficer],
        recipients: &[],
        protection: Protection::EncryptedAtRest,
    },
    DataItem {
        id: "account.email",
        description: "Email address, if you gave one",
        category: Identity,
        fields: &["users.email"],
        purposes: &[Purpose::Service],
        legal_basis: LegalBasis::Consent,
        necessity: Necessity::Optional,
        retention: UNTIL_ACCOUNT_DELETED,
        visible_to: &[Admin, Support, PrivacyOfficer],
        recipients: &[],
        protection: Protection::EncryptedAtRest,
    },
    DataItem {
        id: "account.contact_lookup",
        description: "Blind indexes of your phone number and email, for lookup and uniqueness \
                      without storing either in the clear",
        category: Identity,
        fields: &["users.phone_bidx", "users.email_bidx"],
        purposes: &[Purpose::Service],
        legal_basis: LegalBasis::Consent,
        necessity: Necessity::Optional,
        retention: UNTIL_ACCOUNT_DELETED,
        visible_to: &[],
        recipients: &[],
        protection: Protection::Clear {
            justification: "Keyed HMAC of the normalised value, not reversible without the \
                            vault's index key; must be comparable for lookups",
        },
    },
    DataItem {
        id: "account.display_name",
        description: "The name you chose to be shown with, if you set one",
        category: Identity,
        fields: &["users.display_name"],
        purposes: &[Purpose::Service],
        legal_basis: LegalBasis::Consent,
        necessity: Necessity::Optional,
        retention: UNTIL_ACCOUNT_DELETED,
        visible_to: &[Admin, Support, PrivacyOfficer],
        recipients: &[],
        protection: Protection::EncryptedAtRest,
    },
    DataItem {
        id: "account.corrections",
        description: "The history of your profile corrections: which field you changed and \
                      when (not the old or new values)",
        category: Usage,
        fields: &[
            "profile_corrections.user_id",
            "profile_corrections.field",
            "profile_corrections.cleared",
            "profile_corrections.at",
        ],
        purposes: &[Purpose::Service],
        legal_basis: LegalBasis::LegalObligation,
        necessity: Necessity::Necessary,
        retention: UNTIL_ACCOUNT_DELETED,
        visible_to: &[Admin, Support, PrivacyOfficer],
        recipients: &[],
        protection: PSEUDONYMOUS_METADATA,
    },
    DataItem {
        id: "account.export_log",
        description: "When you last exported your data, to rate-limit exports",
        category: Usage,
        fields: &["data_exports.user_id", "data_exports.started_at"],
        purposes: &[Purpose::Service, Purpose::Security],
        legal_basis: LegalBasis::LegitimateInterest,
        necessity: Necessity::Necessary,
        retention: UNTIL_ACCOUNT_DELETED,
        visible_to: &[Admin, PrivacyOfficer],
        recipients: &[],
        protection: PSEUDONYMOUS_METADATA,
    },
    DataItem {
        id: "deleted_account.username_quarantine",
        description: "After an account is deleted, a keyed digest of its username and until \
                      when it may not be registered again (so no one can pose as the deleted \
                      user)",
        category: Identity,
        fields: &[
            "username_quarantine.username_bidx",
            "username_quarantine.until",
        ],
        purposes: &[Purpose::Security],
        legal_basis: LegalBasis::LegitimateInterest,
        necessity: Necessity::Necessary,
        retention: Retention {
            description:
                "The quarantine period after deletion (user_rights.username_quarantine_days)",
            days: Some(30),
        },
        visible_to: &[],
        recipients: &[],
        protection: Protection::Clear {
            justification: "Keyed HMAC of the username, not reversible without the vault's \
                            index key; must be comparable to refuse a quarantined name",
        },
    },
    DataItem {
        id: "support.data_request",
        description: "Requests support opened for you to export, correct or delete your data: \
                      the kind, the ticket, how your identity was checked, which operator \
                      opened and completed it (pseudonymous), the deadline and when it was done",
        category: Usage,
        fields: &[
            "data_requests.user_id",
            "data_requests.subject",
            "data_requests.kind",
            "data_requests.ticket",
            "data_requests.identity_check",
            "data_requests.opened_by",
            "data_requests.opened_at",
            "data_requests.due_at",
            "data_requests.completed_at",
            "data_requests.completed_by",
        ],
        purposes: &[Purpose::Service],
        legal_basis: LegalBasis::LegalObligation,
        necessity: Necessity::Necessary,
        retention: Retention {
            description: "Kept after the account is deleted, under its pseudonym, to show the \
                          request was met",
            days: None,
        },
        visible_to: &[Support, PrivacyOfficer, Auditor],
        recipients: &[],
        protection: Protection::Clear {
            justification: "Pseudonymous ids, codes, a ticket reference and times; the identity \
                            check is a description of the method, not the evidence",
        },
    },
    DataItem {
        id: "account.password_hash",
        description: "A hash of your password, to check it at login",
        category: Security,
        fields: &["users.password_hash"],
        purposes: &[Purpose::Service, Purpose::Security],
        legal_basis: LegalBasis::Contract,
        necessity: Necessity::Necessary,
        retention: UNTIL_ACCOUNT_DELETED,
        visible_to: &[],
        recipients: &[],
        protection: Protection::Clear {
            justification: "Argon2id hash with a random salt: not reversible, and needed to \
                            verify a password before any data key is available",
        },
    },
    DataItem {
        id: "account.created_at",
        description: "When the account was created",
        category: Usage,
        fields: &["users.created_at"],
        purposes: &[Purpose::Service],
        legal_basis: LegalBasis::Contract,
        necessity: Necessity::Necessary,
        retention: UNTIL_ACCOUNT_DELETED,
        visible_to: ALL_ROLES,
        recipients: &[],
        protection: PSEUDONYMOUS_METADATA,
    },
    DataItem {
        id: "session.token_hash",
        description: "A hash of each device's session token, to authenticate its requests",
        category: Security,
        fields: &["devices.token_hash"],
        purposes: &[Purpose::Service, Purpose::Security],
        legal_basis: LegalBasis::Contract,
        necessity: Necessity::Necessary,
        retention: LOGIN_HISTORY_RETENTION,
        visible_to: &[],
        recipients: &[],
        protection: Protection::Clear {
            justification: "SHA-256 of a random 256-bit token: not reversible, and looked up \
                            on every request before any data key is available",
        },
    },
    DataItem {
        id: "device.model",
        description: "The device model a client reported at login, shown in your device list",
        category: Device,
        fields: &["devices.device_model"],
        purposes: &[Purpose::DeviceDiagnostics],
        legal_basis: LegalBasis::Consent,
        necessity: Necessity::Optional,
        retention: DEVICE_DETAILS_RETENTION,
        visible_to: &[Admin, Support, PrivacyOfficer],
        recipients: &[],
        protection: Protection::EncryptedAtRest,
    },
    DataItem {
        id: "device.os_version",
        description: "The operating system version a client reported at login, shown in your \
                      device list",
        category: Device,
        fields: &["devices.os_version"],
        purposes: &[Purpose::DeviceDiagnostics],
        legal_basis: LegalBasis::Consent,
        necessity: Necessity::Optional,
        retention: DEVICE_DETAILS_RETENTION,
        visible_to: &[Admin, Support, PrivacyOfficer],
        recipients: &[],
        protection: Protection::EncryptedAtRest,
    },
    DataItem {
        id: "device.ip",
        description: "The IP address a device logged in from",
        category: Device,
        fields: &["devices.ip"],
        purposes: &[Purpose::Security],
        legal_basis: LegalBasis::LegitimateInterest,
        necessity: Necessity::Necessary,
        retention: Retention {
            description: "30 days after the device was last used; erased by the next \
                          retention run once the device is logged out",
            days: Some(crate::retention::DEVICE_DETAILS_DAYS),
        },
        visible_to: &[Admin, Auditor, PrivacyOfficer],
        recipients: &[],
        protection: Protection::EncryptedAtRest,
    },
    DataItem {
        id: "device.seen_times",
        description: "Which account a device session belongs to, when it was first and last \
                      used, and when it was logged out",
        category: Usage,
        fields: &[
            "devices.user_id",
            "devices.first_seen",
            "devices.last_seen",
            "devices.revoked_at",
        ],
        purposes: &[Purpose::Service, Purpose::Security],
        legal_basis: LegalBasis::Contract,
        necessity: Necessity::Necessary,
        retention: LOGIN_HISTORY_RETENTION,
        visible_to: ALL_ROLES,
        recipients: &[],
        protection: PSEUDONYMOUS_METADATA,
    },
    DataItem {
        id: "consent.record",
        description: "Your consent history: each grant or withdrawal of an optional purpose, \
                      under which policy version, when and through which channel",
        category: Consent,
        fields: &[
            "consents.user_id",
            "consents.purpose",
            "consents.granted",
            "consents.policy_version",
            "consents.channel",
            "consents.at",
        ],
        purposes: &[Purpose::Service],
        legal_basis: LegalBasis::LegalObligation,
        necessity: Necessity::Necessary,
        retention: Retention {
            description: "As long as the account exists: the proof of consent the law asks for",
            days: None,
        },
        visible_to: &[Auditor, PrivacyOfficer],
        recipients: &[],
        protection: Protection::Clear {
            justification: "Pseudonymous metadata (a random user id, a purpose code, a version \
                            number, a channel code and a time): checked at every point of \
                            collection, and must stay readable as proof of consent",
        },
    },
    DataItem {
        id: "policy.acceptance",
        description: "Which privacy policy versions you accepted, when and through which \
                      channel, and the newest version you were told about",
        category: Consent,
        fields: &[
            "policy_acceptances.user_id",
            "policy_acceptances.version",
            "policy_acceptances.channel",
            "policy_acceptances.at",
            "policy_notices.user_id",
            "policy_notices.version",
        ],
        purposes: &[Purpose::Service],
        legal_basis: LegalBasis::LegalObligation,
        necessity: Necessity::Necessary,
        retention: Retention {
            description: "As long as the account exists: the proof of acceptance the law asks \
                          for",
            days: None,
        },
        visible_to: &[Auditor, PrivacyOfficer],
        recipients: &[],
        protection: Protection::Clear {
            justification: "Pseudonymous metadata (a random user id, version numbers, a channel \
                            code and a time): read by the re-consent gate on normal operations",
        },
    },
    DataItem {
        id: "analytics.event",
        description: "Usage events your apps report (e.g. `app_open`), only with \
                      product_analytics consent",
        category: Usage,
        fields: &[
            "analytics_events.user_id",
            "analytics_events.name",
            "analytics_events.at",
        ],
        purposes: &[Purpose::ProductAnalytics],
        legal_basis: LegalBasis::Consent,
        necessity: Necessity::Optional,
        retention: Retention {
            description: "90 days; erased at once when product_analytics consent is withdrawn",
            days: Some(crate::retention::ANALYTICS_DAYS),
        },
        visible_to: &[Admin, PrivacyOfficer],
        recipients: &[],
        protection: Protection::Clear {
            justification: "Pseudonymous metadata: a random user id, a time and an event name \
                            limited to a lowercase identifier (it cannot hold free text); \
                            aggregated by name and time",
        },
    },
    DataItem {
        id: "message.text",
        description: "The text of the messages you send",
        category: Content,
        fields: &["messages.text"],
        purposes: &[Purpose::Service],
        legal_basis: LegalBasis::Contract,
        necessity: Necessity::Necessary,
        retention: MESSAGE_RETENTION,
        visible_to: &[Admin, PrivacyOfficer],
        recipients: &[],
        protection: Protection::EncryptedAtRest,
    },
    DataItem {
        id: "message.payload",
        description: "The structured payload (JSON) of the messages you send",
        category: Content,
        fields: &["messages.payload"],
        purposes: &[Purpose::Service],
        legal_basis: LegalBasis::Contract,
        necessity: Necessity::Necessary,
        retention: MESSAGE_RETENTION,
        visible_to: &[Admin, PrivacyOfficer],
        recipients: &[],
        protection: Protection::EncryptedAtRest,
    },
    DataItem {
        id: "message.metadata",
        description: "Who sent a message to whom or to which group, when, whether it was \
                      recalled, and the client's idempotency key (the SDK's begins with \
                      the time the client made it)",
        category: Usage,
        fields: &[
            "messages.sender_id",
            "messages.recipient_user_id",
            "messages.group_id",
            "messages.sent_at",
            "messages.recalled_at",
            "messages.idempotency_key",
        ],
        purposes: &[Purpose::Service],
        legal_basis: LegalBasis::Contract,
        necessity: Necessity::Necessary,
        retention: MESSAGE_RETENTION,
        visible_to: ALL_ROLES,
        recipients: &[],
        protection: PSEUDONYMOUS_METADATA,
    },
    DataItem {
        id: "receipt",
        description: "Delivery and read receipts: which user received or read a message, and \
                      when",
        category: Usage,
        fields: &["receipts.user_id", "receipts.kind", "receipts.at"],
        purposes: &[Purpose::Service],
        legal_basis: LegalBasis::Contract,
        necessity: Necessity::Necessary,
        retention: Retention {
            description: "Until the reader's account or the message is deleted",
            days: None,
        },
        visible_to: ALL_ROLES,
        recipients: &[],
        protection: PSEUDONYMOUS_METADATA,
    },
    DataItem {
        id: "inbox",
        description: "Your inbox: the ordered events (messages, recalls, receipts) waiting to \
                      be synced to your devices, who caused each, and whom you have 1:1 \
                      conversations with (what your inbox's newest 1:1 entries are found by: \
                      each direction of a conversation has a number, which its messages \
                      carry; a direction you sent in goes with your account's purge)",
        category: Usage,
        fields: &[
            "inbox.user_id",
            "inbox.kind",
            "inbox.actor_id",
            "inbox.receipt_kind",
            "inbox.at",
            "inbox_heads.user_id",
            "direct_members.user_id",
            "direct_members.peer_id",
            "direct_pairs.sender_id",
            "direct_pairs.recipient_id",
        ],
        purposes: &[Purpose::Service],
        legal_basis: LegalBasis::Contract,
        necessity: Necessity::Necessary,
        retention: UNTIL_ACCOUNT_DELETED,
        visible_to: ALL_ROLES,
        recipients: &[],
        protection: PSEUDONYMOUS_METADATA,
    },
    DataItem {
        id: "group.membership",
        description: "Which groups you belong to, your role in each and when you joined",
        category: Usage,
        fields: &[
            "group_members.group_id",
            "group_members.user_id",
            "group_members.role",
            "group_members.joined_at",
        ],
        purposes: &[Purpose::Service],
        legal_basis: LegalBasis::Contract,
        necessity: Necessity::Necessary,
        retention: Retention {
            description: "Until you leave or are removed from the group, or the account is \
                          deleted",
            days: None,
        },
        visible_to: ALL_ROLES,
        recipients: &[],
        protection: PSEUDONYMOUS_METADATA,
    },
    DataItem {
        id: "group.name",
        description: "The name a member gave a group",
        category: Content,
        fields: &["groups.name"],
        purposes: &[Purpose::Service],
        legal_basis: LegalBasis::Contract,
        necessity: Necessity::Necessary,
        retention: Retention {
            description: "As long as the group exists",
            days: None,
        },
        visible_to: &[Admin, Support, PrivacyOfficer],
        recipients: &[],
        protection: Protection::Clear {
            justification: "Belongs to the group, not to one person, so no personal data key \
                            applies; shown to every member (a per-group key is future work)",
        },
    },
    DataItem {
        id: "operator.account",
        description: "Staff only: an operator's login name, role, when the account was \
                      created and, if so, disabled",
        category: Identity,
        fields: &[
            "operators.name",
            "operators.role",
            "operators.created_at",
            "operators.disabled_at",
        ],
        purposes: &[Purpose::Security],
        legal_basis: LegalBasis::LegitimateInterest,
        necessity: Necessity::Necessary,
        retention: Retention {
            description: "As long as the operator account exists",
            days: None,
        },
        visible_to: &[Admin],
        recipients: &[],
        protection: Protection::Clear {
            justification: "A staff login name, looked up by exact match at operator login \
                            before any data key is available; never written to the audit log \
                            (which names operators by pseudonym and role) nor shown to users",
        },
    },
    DataItem {
        id: "operator.credentials",
        description: "Staff only: a hash of the operator's password and of each operator \
                      session token, with when each session began, expires and ended",
        category: Security,
        fields: &[
            "operators.password_hash",
            "operator_sessions.token_hash",
            "operator_sessions.created_at",
            "operator_sessions.expires_at",
            "operator_sessions.revoked_at",
        ],
        purposes: &[Purpose::Security],
        legal_basis: LegalBasis::LegitimateInterest,
        necessity: Necessity::Necessary,
        retention: Retention {
            description: "As long as the operator account exists",
            days: None,
        },
        visible_to: &[],
        recipients: &[],
        protection: Protection::Clear {
            justification: "Argon2id and SHA-256 hashes: not reversible, and checked before \
                            any data key is available",
        },
    },
    DataItem {
        id: "staff_access.content_grant",
        description: "When staff asked for access to your messages (and another privacy \
                      officer approved it, for a limited time): whose messages, why (reason \
                      code and ticket), when",
        category: Security,
        fields: &[
            "content_access_grants.subject_user_id",
            "content_access_grants.reason",
            "content_access_grants.ticket",
            "content_access_grants.requested_at",
            "content_access_grants.approved_at",
            "content_access_grants.expires_at",
        ],
        purposes: &[Purpose::Security],
        legal_basis: LegalBasis::LegalObligation,
        necessity: Necessity::Necessary,
        retention: UNTIL_ACCOUNT_DELETED,
        visible_to: &[PrivacyOfficer],
        recipients: &[],
        protection: Protection::Clear {
            justification: "Pseudonymous metadata (random ids, codes, times); checked on every \
                            content access before any data key is used; each access is also in \
                            the audit log",
        },
    },
    DataItem {
        id: "audit.entry",
        description: "The security audit log: who (a pseudonymous id, and for staff their \
                      role) did what to whose data, when, and why (reason code, ticket, data \
                      categories)",
        category: Security,
        fields: &[
            "audit_log.time",
            "audit_log.actor_kind",
            "audit_log.actor_role",
            "audit_log.actor_id",
            "audit_log.action",
            "audit_log.subject",
            "audit_log.details",
        ],
        purposes: &[Purpose::Security],
        legal_basis: LegalBasis::LegalObligation,
        necessity: Necessity::Necessary,
        retention: Retention {
            description: "Kept after the account is deleted, for the audit retention period; \
                          holds pseudonymous ids only",
            days: Some(AUDIT_RETENTION_DAYS),
        },
        visible_to: &[Auditor, PrivacyOfficer],
        recipients: &[],
        protection: Protection::Clear {
            justification: "Pseudonymous ids (u:<uuid>, op:<uuid>) and codes only, never a \
                            name, contact detail or content; hash-chained, so it must stay \
                            readable and verifiable after the user's data key is destroyed",
        },
    },
    DataItem {
        id: "sharing.consent",
        description: "Your separate consent to share with each third party, with its history, \
                      and the pseudonym that recipient knows you by",
        category: Consent,
        fields: &[
            "sharing_grants.user_id",
            "sharing_grants.recipient_id",
            "sharing_grants.pseudonym",
            "sharing_grants.granted_at",
            "sharing_consent_history.user_id",
            "sharing_consent_history.recipient_id",
            "sharing_consent_history.granted",
            "sharing_consent_history.at",
        ],
        purposes: &[Purpose::Service],
        legal_basis: LegalBasis::Consent,
        necessity: Necessity::Optional,
        retention: UNTIL_ACCOUNT_DELETED,
        visible_to: &[Admin, PrivacyOfficer],
        recipients: &[],
        protection: Protection::Clear {
            justification: "Random ids, times and a keyed per-recipient pseudonym (an HMAC of \
                             the user id): a bot's signed reply names its user by the \
                             pseudonym, which must be looked up by exact match",
        },
    },
    DataItem {
        id: "sharing.outbox",
        description: "A message to a third party's bot waiting to be delivered, already cut \
                      down to the categories the recipient is registered for",
        category: Content,
        fields: &["sharing_outbox.body"],
        purposes: &[Purpose::Service],
        legal_basis: LegalBasis::Consent,
        necessity: Necessity::Optional,
        retention: Retention {
            description: "Until delivered; dropped at once when you revoke consent or delete \
                          your account",
            days: None,
        },
        visible_to: &[],
        recipients: &[],
        protection: Protection::EncryptedAtRest,
    },
    DataItem {
        id: "sharing.delivery",
        description: "The sharing ledger and the outbox's bookkeeping: which recipient got \
                      (or is to get) which categories of your data, and when",
        category: Usage,
        fields: &[
            "sharing_outbox.user_id",
            "sharing_outbox.recipient_id",
            "sharing_outbox.kind",
            "sharing_outbox.categories",
            "sharing_outbox.created_at",
            "sharing_outbox.attempts",
            "sharing_outbox.next_attempt_at",
            "sharing_outbox.dead_at",
            "sharing_ledger.user_id",
            "sharing_ledger.recipient_id",
            "sharing_ledger.kind",
            "sharing_ledger.categories",
            "sharing_ledger.delivered_at",
        ],
        purposes: &[Purpose::Service],
        legal_basis: LegalBasis::Consent,
        necessity: Necessity::Optional,
        retention: UNTIL_ACCOUNT_DELETED,
        visible_to: &[Admin, PrivacyOfficer],
        recipients: &[],
        protection: PSEUDONYMOUS_METADATA,
    },
    DataItem {
        id: "notice.disclosure",
        description: "A notice telling you that your data was disclosed to an authority (who, \
                      which sections), kept until the legal deferral ends and it reaches one \
                      of your devices",
        category: Usage,
        fields: &["user_notices.body"],
        purposes: &[Purpose::Service],
        legal_basis: LegalBasis::LegalObligation,
        necessity: Necessity::Necessary,
        retention: UNTIL_ACCOUNT_DELETED,
        visible_to: &[],
        recipients: &[],
        protection: Protection::EncryptedAtRest,
    },
    DataItem {
        id: "notice.delivery",
        description: "When a notice to you falls due and when it reached a device of yours",
        category: Usage,
        fields: &[
            "user_notices.user_id",
            "user_notices.due_at",
            "user_notices.created_at",
            "user_notices.announced_at",
            "user_notices.delivered_at",
        ],
        purposes: &[Purpose::Service],
        legal_basis: LegalBasis::LegalObligation,
        necessity: Necessity::Necessary,
        retention: UNTIL_ACCOUNT_DELETED,
        visible_to: &[],
        recipients: &[],
        protection: PSEUDONYMOUS_METADATA,
    },
];

/// Columns of the schema that hold nothing about a person: random row ids,
/// sequence numbers, references to rows that are declared themselves, and
/// group settings.
pub static NON_PERSONAL_COLUMNS: &[NonPersonalColumn] = &[
    NonPersonalColumn {
        field: "users.id",
        reason: "Random UUIDv7 primary key",
    },
    NonPersonalColumn {
        field: "devices.id",
        reason: "Random UUIDv7 primary key",
    },
    NonPersonalColumn {
        field: "messages.id",
        reason: "Random UUIDv7 primary key",
    },
    NonPersonalColumn {
        field: "messages.pos",
        reason: "Position of the message in the log of all messages",
    },
    NonPersonalColumn {
        field: "messages.pair",
        reason: "Number of a 1:1 message's direction (declared as direct_pairs.*)",
    },
    NonPersonalColumn {
        field: "direct_pairs.pair",
        reason: "Sequential number of a 1:1 conversation's direction",
    },
    NonPersonalColumn {
        field: "groups.id",
        reason: "Random UUIDv7 primary key",
    },
    NonPersonalColumn {
        field: "groups.history_visible",
        reason: "A group setting (may new members read older messages)",
    },
    NonPersonalColumn {
        field: "groups.created_at",
        reason: "When the group was created; names no person",
    },
    NonPersonalColumn {
        field: "group_members.pos",
        reason: "Insertion order of member rows",
    },
    NonPersonalColumn {
        field: "group_members.synced_pos",
        reason: "Log position up to which the member's inbox rows for the group are written",
    },
    NonPersonalColumn {
        field: "direct_members.synced_pos",
        reason: "Log position up to which the user's inbox rows for a 1:1 conversation are written",
    },
    NonPersonalColumn {
        field: "inbox.seq",
        reason: "Per-inbox sequence number",
    },
    NonPersonalColumn {
        field: "inbox.message_id",
        reason: "Reference to a message row (declared as message.*)",
    },
    NonPersonalColumn {
        field: "inbox_heads.head",
        reason: "Newest sequence number of an inbox",
    },
    NonPersonalColumn {
        field: "data_requests.id",
        reason: "Random UUIDv7 primary key",
    },
    NonPersonalColumn {
        field: "profile_corrections.id",
        reason: "Row number of a correction",
    },
    NonPersonalColumn {
        field: "receipts.message_id",
        reason: "Reference to a message row (declared as message.*)",
    },
    NonPersonalColumn {
        field: "consents.id",
        reason: "Row number of the consent history",
    },
    NonPersonalColumn {
        field: "analytics_events.id",
        reason: "Row number of a usage event",
    },
    NonPersonalColumn {
        field: "policy_versions.version",
        reason: "A published privacy policy version",
    },
    NonPersonalColumn {
        field: "policy_versions.material",
        reason: "Whether the version needs acceptance again",
    },
    NonPersonalColumn {
        field: "policy_versions.published_at",
        reason: "When the version was published",
    },
    NonPersonalColumn {
        field: "policy_texts.version",
        reason: "The version a policy text belongs to",
    },
    NonPersonalColumn {
        field: "policy_texts.lang",
        reason: "The language of a policy text",
    },
    NonPersonalColumn {
        field: "policy_texts.text",
        reason: "The public privacy policy text",
    },
    NonPersonalColumn {
        field: "group_retention.group_id",
        reason: "Reference to a group row",
    },
    NonPersonalColumn {
        field: "group_retention.message_days",
        reason: "A group setting: how long its messages are kept",
    },
    NonPersonalColumn {
        field: "operators.id",
        reason: "Random UUIDv7 primary key",
    },
    NonPersonalColumn {
        field: "operator_sessions.operator_id",
        reason: "Reference to an operator row (declared as operator.*)",
    },
    NonPersonalColumn {
        field: "content_access_grants.id",
        reason: "Random UUIDv7 primary key",
    },
    NonPersonalColumn {
        field: "content_access_grants.requester_id",
        reason: "Reference to an operator row (declared as operator.*)",
    },
    NonPersonalColumn {
        field: "content_access_grants.approved_by",
        reason: "Reference to an operator row (declared as operator.*)",
    },
    NonPersonalColumn {
        field: "audit_log.seq",
        reason: "Position of an entry in the audit log",
    },
    NonPersonalColumn {
        field: "audit_log.prev_hash",
        reason: "SHA-256 chain link to the previous audit entry",
    },
    NonPersonalColumn {
        field: "audit_log.hash",
        reason: "SHA-256 of an audit entry",
    },
    NonPersonalColumn {
        field: "audit_checkpoints.count",
        reason: "Number of audit entries a checkpoint seals",
    },
    NonPersonalColumn {
        field: "audit_checkpoints.head_hash",
        reason: "SHA-256 of the last sealed audit entry",
    },
    NonPersonalColumn {
        field: "audit_checkpoints.time",
        reason: "When the server signed a checkpoint",
    },
    NonPersonalColumn {
        field: "audit_checkpoints.key_id",
        reason: "Which server signing key signed a checkpoint",
    },
    NonPersonalColumn {
        field: "audit_checkpoints.signature",
        reason: "The server's ed25519 signature over a checkpoint",
    },
    NonPersonalColumn {
        field: "sharing_recipients.id",
        reason: "Random UUIDv7 primary key of a third-party recipient",
    },
    NonPersonalColumn {
        field: "sharing_recipients.name",
        reason: "A recipient's public registry entry (a business, not a user)",
    },
    NonPersonalColumn {
        field: "sharing_recipients.contact",
        reason: "A recipient's public registry entry (a business, not a user)",
    },
    NonPersonalColumn {
        field: "sharing_recipients.purpose",
        reason: "A recipient's public registry entry (a business, not a user)",
    },
    NonPersonalColumn {
        field: "sharing_recipients.categories",
        reason: "The inventory items a recipient is registered for",
    },
    NonPersonalColumn {
        field: "sharing_recipients.legal_basis",
        reason: "A recipient's public registry entry (a business, not a user)",
    },
    NonPersonalColumn {
        field: "sharing_recipients.retention",
        reason: "A recipient's public registry entry (a business, not a user)",
    },
    NonPersonalColumn {
        field: "sharing_recipients.url",
        reason: "A recipient's webhook endpoint",
    },
    NonPersonalColumn {
        field: "sharing_recipients.secret",
        reason: "A recipient's webhook signing secret, sealed under the gateway's key",
    },
    NonPersonalColumn {
        field: "sharing_recipients.pseudonym_key",
        reason: "A recipient's pseudonym key, sealed under the gateway's key",
    },
    NonPersonalColumn {
        field: "sharing_recipients.bot_user_id",
        reason: "The service (bot) account a recipient answers for",
    },
    NonPersonalColumn {
        field: "sharing_recipients.created_at",
        reason: "When a recipient was registered",
    },
    NonPersonalColumn {
        field: "sharing_consent_history.id",
        reason: "Sequence number of a consent history row",
    },
    NonPersonalColumn {
        field: "sharing_outbox.id",
        reason: "Random delivery id, also the recipient's idempotency key",
    },
    NonPersonalColumn {
        field: "sharing_ledger.delivery_id",
        reason: "The delivered webhook's id",
    },
    NonPersonalColumn {
        field: "user_notices.id",
        reason: "Random UUIDv7 primary key, also the notice's id for the user's devices",
    },
    NonPersonalColumn {
        field: "deletion_purges.user_id",
        reason: "The random id of an account already deleted (its row, key and profile are \
                 gone), kept only while the background purge of its rows runs",
    },
    NonPersonalColumn {
        field: "deletion_purges.requested_at",
        reason: "When that deletion happened; the row goes when the purge ends",
    },
    NonPersonalColumn {
        field: "deletion_purges.inbox_entries",
        reason: "A count of rows the purge removed",
    },
    NonPersonalColumn {
        field: "deletion_purges.receipts",
        reason: "A count of rows the purge removed",
    },
    NonPersonalColumn {
        field: "deletion_purges.messages",
        reason: "A count of rows the purge cleared",
    },
    NonPersonalColumn {
        field: "deletion_purges.batches",
        reason: "A count of the purge's batches",
    },
];

/// The declaration.
pub fn inventory() -> &'static [DataItem] {
    INVENTORY
}

/// The item with this id.
pub fn item(id: &str) -> Option<&'static DataItem> {
    INVENTORY.iter().find(|i| i.id == id)
}

/// Every declared `(table, column)`, with the item declaring it.
pub fn declared_columns() -> impl Iterator<Item = ((&'static str, &'static str), &'static DataItem)>
{
    INVENTORY.iter().flat_map(|item| {
        item.fields
            .iter()
            .filter_map(move |f| split_field(f).map(|tc| (tc, item)))
    })
}

/// The columns declared [`Protection::EncryptedAtRest`].
pub fn encrypted_columns() -> Vec<(&'static str, &'static str)> {
    declared_columns()
        .filter(|(_, item)| item.protection == Protection::EncryptedAtRest)
        .map(|(tc, _)| tc)
        .collect()
}

/// `"table.column"` as `(table, column)`.
pub fn split_field(field: &str) -> Option<(&str, &str)> {
    field
        .split_once('.')
        .filter(|(t, c)| !t.is_empty() && !c.is_empty() && !c.contains('.'))
}

impl DataItem {
    /// The wire form (`GET /v1/privacy/inventory`).
    pub fn to_wire(&self) -> InventoryItem {
        let (protection, justification) = match self.protection {
            Protection::EncryptedAtRest => (ProtectionKind::EncryptedAtRest, None),
            Protection::Clear { justification } => {
                (ProtectionKind::Clear, Some(justification.to_owned()))
            }
        };
        InventoryItem {
            id: self.id.to_owned(),
            description: self.description.to_owned(),
            category: self.category,
            fields: self.fields.iter().map(|f| (*f).to_owned()).collect(),
            purposes: self.purposes.to_vec(),
            legal_basis: self.legal_basis,
            necessary: self.necessity == Necessity::Necessary,
            retention: RetentionInfo {
                description: self.retention.description.to_owned(),
                days: self.retention.days,
            },
            visible_to: self.visible_to.to_vec(),
            recipients: self.recipients.iter().map(|r| (*r).to_owned()).collect(),
            protection,
            justification,
        }
    }
}

/// The whole inventory in its wire form.
pub fn inventory_items() -> Vec<InventoryItem> {
    INVENTORY.iter().map(DataItem::to_wire).collect()
}

/// The snake_case name serde gives a unit enum value.
fn name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "?".to_owned(),
    }
}

fn names<T: Serialize>(values: &[T]) -> String {
    if values.is_empty() {
        return "none".to_owned();
    }
    values.iter().map(name).collect::<Vec<_>>().join(", ")
}

/// `docs/privacy-inventory.md`, generated from [`INVENTORY`].
pub fn inventory_markdown() -> String {
    use std::fmt::Write;

    let mut md = String::new();
    md.push_str(
        "# Personal-data inventory\n\n\
         <!-- Generated from crates/oriole-core/src/inventory.rs; do not edit.\n     \
         Regenerate with: ORIOLE_UPDATE_INVENTORY=1 cargo test -p oriole-core inventory -->\n\n\
         Every item of personal data Oriole stores: why, on what legal basis, for how long, \
         which operator roles may see it, which third parties receive it, and how it is \
         protected at rest. The same list is served at `GET /v1/privacy/inventory` and \
         shown by `oriole privacy inventory`. A test fails when the database schema holds \
         a column that is neither listed here nor below as non-personal.\n\n\
         | item | category | stored in | purposes | legal basis | necessary | retention | \
         visible to | recipients | at rest |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for item in INVENTORY {
        let fields = item
            .fields
            .iter()
            .map(|f| format!("`{f}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let retention = match item.retention.days {
            Some(days) => format!("{} ({days} days)", item.retention.description),
            None => item.retention.description.to_owned(),
        };
        let protection = match item.protection {
            Protection::EncryptedAtRest => "encrypted".to_owned(),
            Protection::Clear { .. } => "clear (see below)".to_owned(),
        };
        let recipients = if item.recipients.is_empty() {
            "none".to_owned()
        } else {
            item.recipients.join(", ")
        };
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            item.id,
            name(&item.category),
            fields,
            names(item.purposes),
            name(&item.legal_basis),
            if item.necessity == Necessity::Necessary {
                "yes"
            } else {
                "no (optional)"
            },
            retention,
            names(item.visible_to),
            recipients,
            protection,
        );
    }
    md.push_str("\n## What each item is\n\n");
    for item in INVENTORY {
        let _ = writeln!(md, "- `{}`: {}.", item.id, item.description);
    }
    md.push_str("\n## Stored in the clear, and why\n\n");
    for item in INVENTORY {
        if let Protection::Clear { justification } = item.protection {
            let _ = writeln!(md, "- `{}`: {}.", item.id, justification);
        }
    }
    md.push_str(
        "\n## Columns that hold nothing about a person\n\n| column | why |\n| --- | --- |\n",
    );
    for col in NON_PERSONAL_COLUMNS {
        let _ = writeln!(md, "| `{}` | {} |", col.field, col.reason);
    }
    md
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn inventory_ids_are_unique() {
        let mut seen = HashSet::new();
        for item in INVENTORY {
            assert!(seen.insert(item.id), "duplicate inventory id {}", item.id);
        }
    }

    #[test]
    fn inventory_fields_are_well_formed_and_declared_once() {
        let mut seen = HashSet::new();
        let all = INVENTORY
            .iter()
            .flat_map(|i| i.fields.iter().copied())
            .chain(NON_PERSONAL_COLUMNS.iter().map(|c| c.field));
        for field in all {
            assert!(split_field(field).is_some(), "{field} is not table.column");
            assert!(seen.insert(field), "{field} is declared twice");
        }
        for item in INVENTORY {
            assert!(!item.fields.is_empty(), "{} names no field", item.id);
            assert!(!item.purposes.is_empty(), "{} has no purpose", item.id);
        }
    }

    #[test]
    fn inventory_content_is_never_visible_to_support() {
        for item in INVENTORY.iter().filter(|i| i.category == Content) {
            if item.id.starts_with("message.") {
                assert!(!item.visible_to.contains(&Support), "{}", item.id);
            }
        }
    }

    #[test]
    fn inventory_clear_storage_is_justified_and_content_is_encrypted() {
        for item in INVENTORY {
            if let Protection::Clear { justification } = item.protection {
                assert!(justification.len() > 20, "{} needs a reason", item.id);
            }
        }
        for id in [
            "message.text",
            "message.payload",
            "account.phone",
            "device.ip",
        ] {
            let item = item(id).expect(id);
            assert_eq!(item.protection, Protection::EncryptedAtRest, "{id}");
        }
    }

    #[test]
    fn inventory_wire_form_round_trips() {
        let items = inventory_items();
        assert_eq!(items.len(), INVENTORY.len());
        let json = serde_json::to_string(&items).expect("json");
        let back: Vec<InventoryItem> = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, items);
        let text = items.iter().find(|i| i.id == "message.text").expect("text");
        assert_eq!(text.protection, ProtectionKind::EncryptedAtRest);
        assert!(text.justification.is_none());
    }
}
