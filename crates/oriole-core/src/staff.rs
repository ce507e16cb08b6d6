//! Staff: operator accounts (separate from end users), their roles, and the
//! permission matrix (privacy promise P6: only authorised staff see personal
//! data, and only what their role needs). `docs/roles.md` shows the same
//! matrix; a test calls every operator endpoint with every role against it.

use std::fmt;
use std::str::FromStr;

use oriole_audit::{Actor, PseudonymousId};
use oriole_crypto::PasswordHashString;
use uuid::Uuid;

use crate::domain::{InvalidValue, Timestamp, Username};

/// An operator's role. The wire enum is the one the inventory uses to say
/// which roles may see an item.
pub use oriole_proto::OperatorRole as Role;

/// Every role, in the order `docs/roles.md` lists them.
pub const ROLES: [Role; 4] = [
    Role::Admin,
    Role::Support,
    Role::Auditor,
    Role::PrivacyOfficer,
];

/// The role's code, as the audit log and the command line spell it.
pub fn role_code(role: Role) -> &'static str {
    match role {
        Role::Admin => "admin",
        Role::Support => "support",
        Role::Auditor => "auditor",
        Role::PrivacyOfficer => "privacy_officer",
    }
}

/// A role from its code.
pub fn parse_role(raw: &str) -> Result<Role, InvalidValue> {
    ROLES
        .into_iter()
        .find(|r| role_code(*r) == raw.trim())
        .ok_or_else(|| {
            InvalidValue(format!(
                "unknown role `{raw}`; use admin, support, auditor or privacy_officer"
            ))
        })
}

/// What an operator may do. Each operator endpoint requires exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    /// Create operators and list them.
    ManageOperators,
    /// Read a user's account metadata (profile, devices, counts; never
    /// message content), with a reason code and a ticket.
    ViewAccountMetadata,
    /// Ask for time-limited access to a user's message content.
    RequestContentAccess,
    /// Approve another operator's request for content access (two-person
    /// rule: never one's own).
    ApproveContentAccess,
    /// Read, export and verify the audit log; build audit reports.
    ReadAuditLog,
    /// Publish privacy policies.
    PublishPolicy,
    /// Manage the third-party sharing list.
    ManageThirdParties,
    /// Record legal disclosures.
    RecordDisclosure,
    /// Open, list and complete data-subject requests (support requests).
    ManageDataRequests,
    /// Run retention jobs.
    RunRetention,
}

impl Permission {
    pub const ALL: [Permission; 10] = [
        Permission::ManageOperators,
        Permission::ViewAccountMetadata,
        Permission::RequestContentAccess,
        Permission::ApproveContentAccess,
        Permission::ReadAuditLog,
        Permission::PublishPolicy,
        Permission::ManageThirdParties,
        Permission::RecordDisclosure,
        Permission::ManageDataRequests,
        Permission::RunRetention,
    ];

    /// The roles holding this permission: the matrix, least privilege.
    /// `admin` runs the service but sees no user data; `support` sees
    /// account metadata and handles requests, never content; `auditor`
    /// sees the audit log only; `privacy_officer` owns policies, sharing,
    /// disclosures and content access approvals.
    pub fn roles(self) -> &'static [Role] {
        match self {
            Permission::ManageOperators => &[Role::Admin],
            Permission::ViewAccountMetadata => &[Role::Support, Role::PrivacyOfficer],
            Permission::RequestContentAccess => &[Role::PrivacyOfficer],
            Permission::ApproveContentAccess => &[Role::PrivacyOfficer],
            Permission::ReadAuditLog => &[Role::Auditor],
            Permission::PublishPolicy => &[Role::PrivacyOfficer],
            Permission::ManageThirdParties => &[Role::PrivacyOfficer],
            Permission::RecordDisclosure => &[Role::PrivacyOfficer],
            Permission::ManageDataRequests => &[Role::Support, Role::PrivacyOfficer],
            Permission::RunRetention => &[Role::Admin, Role::PrivacyOfficer],
        }
    }

    pub fn granted_to(self, role: Role) -> bool {
        self.roles().contains(&role)
    }

    /// The snake_case name used in `docs/roles.md` and errors.
    pub fn code(self) -> &'static str {
        match self {
            Permission::ManageOperators => "manage_operators",
            Permission::ViewAccountMetadata => "view_account_metadata",
            Permission::RequestContentAccess => "request_content_access",
            Permission::ApproveContentAccess => "approve_content_access",
            Permission::ReadAuditLog => "read_audit_log",
            Permission::PublishPolicy => "publish_policy",
            Permission::ManageThirdParties => "manage_third_parties",
            Permission::RecordDisclosure => "record_disclosure",
            Permission::ManageDataRequests => "manage_data_requests",
            Permission::RunRetention => "run_retention",
        }
    }
}

/// An operator account's id: a random UUIDv7, never shown to users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OperatorId(pub Uuid);

impl OperatorId {
    pub fn generate() -> Self {
        OperatorId(Uuid::now_v7())
    }
}

impl fmt::Display for OperatorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for OperatorId {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s)
            .map(OperatorId)
            .map_err(|_| InvalidValue("not a valid operator id".into()))
    }
}

/// An operator's login name: the same rules as a username, in its own
/// namespace (an operator and a user may share a name and are unrelated).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OperatorName(String);

impl OperatorName {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let name = Username::parse(raw)
            .map_err(|e| InvalidValue(e.0.replace("username", "operator name")))?;
        Ok(OperatorName(name.as_str().to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OperatorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An operator account as stored.
#[derive(Debug, Clone)]
pub struct OperatorRecord {
    pub id: OperatorId,
    pub name: OperatorName,
    pub role: Role,
    pub password_hash: PasswordHashString,
    pub created_at: Timestamp,
    /// Set once an admin disabled the account: no login, no session.
    pub disabled_at: Option<Timestamp>,
}

/// An authenticated operator: what handlers and services act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub id: OperatorId,
    pub name: OperatorName,
    pub role: Role,
}

impl Operator {
    pub fn can(&self, permission: Permission) -> bool {
        permission.granted_to(self.role)
    }

    /// `forbidden` unless the operator's role holds `permission`.
    pub fn require(&self, permission: Permission) -> crate::ServiceResult<()> {
        if self.can(permission) {
            Ok(())
        } else {
            Err(crate::ServiceError::forbidden(format!(
                "the {} role does not have the {} permission",
                role_code(self.role),
                permission.code()
            )))
        }
    }

    /// How the audit log names this operator: role and pseudonym, never
    /// the name.
    pub fn actor(&self) -> Actor {
        Actor::Operator {
            role: oriole_audit::OperatorRole::parse(role_code(self.role))
                .expect("role codes are snake_case"),
            id: operator_pseudonym(self.id),
        }
    }
}

/// The audit log's id for an operator: `op:<uuid>`.
pub fn operator_pseudonym(id: OperatorId) -> PseudonymousId {
    PseudonymousId::parse(&format!("op:{}", id.0))
        .expect("`op:` and a hyphenated UUID are valid pseudonymous id characters")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_the_matrix_is_least_privilege() {
        for role in ROLES {
            assert_eq!(parse_role(role_code(role)).ok(), Some(role));
        }
        assert!(parse_role("root").is_err());
        // Content is never for support; the audit log only for auditors;
        // admins see no user data.
        assert!(!Permission::RequestContentAccess.granted_to(Role::Support));
        assert_eq!(Permission::ReadAuditLog.roles(), &[Role::Auditor]);
        assert!(!Permission::ViewAccountMetadata.granted_to(Role::Admin));
        for p in Permission::ALL {
            assert!(!p.roles().is_empty(), "{p:?} is held by no role");
        }
    }

    #[test]
    fn operator_names_follow_username_rules() {
        assert_eq!(
            OperatorName::parse(" Admin ").map(|n| n.0).ok(),
            Some("admin".into())
        );
        assert!(OperatorName::parse("a").is_err());
    }
}

/// A request for access to a user's message content, and its approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentGrantRecord {
    pub id: uuid::Uuid,
    pub requester: OperatorId,
    pub subject: crate::domain::UserId,
    pub reason: oriole_proto::ReasonCode,
    pub ticket: TicketRef,
    pub requested_at: Timestamp,
    pub approved_by: Option<OperatorId>,
    pub approved_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
}

/// A ticket reference that justifies an access: 1 to 64 characters from
/// `[A-Za-z0-9._:/#-]`, so it names a ticket and cannot carry prose or
/// personal data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TicketRef(String);

impl TicketRef {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let s = raw.trim();
        let ok = (1..=64).contains(&s.len())
            && s.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'/' | b'#' | b'-')
            });
        if ok {
            Ok(TicketRef(s.to_owned()))
        } else {
            Err(InvalidValue(
                "a ticket reference is 1 to 64 characters from A-Z a-z 0-9 . _ : / # -".into(),
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A reason code from its snake_case name.
pub fn parse_reason(raw: &str) -> Result<oriole_proto::ReasonCode, InvalidValue> {
    oriole_proto::ReasonCode::ALL
        .into_iter()
        .find(|r| r.as_str() == raw.trim())
        .ok_or_else(|| {
            InvalidValue(format!(
                "unknown reason code `{raw}`; use customer_support, legal_request, \
                 security_incident or abuse_report"
            ))
        })
}
