//! The one place personal data crosses into and out of the database: every
//! personal column is listed in [`PersonalField`], and its values are written
//! only as `vault.seal(..)` output and read only through `vault.open(..)`.
//! With a [`KeyVault`](oriole_core::KeyVault) that is encryption at rest;
//! phone and email are also stored as blind indexes for lookups.

use std::sync::Arc;

use oriole_core::domain::UserId;
use oriole_core::store::{StoreError, StoreResult};
use oriole_core::{FieldBinding, FieldVault, VaultError};

/// Every personal column of the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PersonalField {
    UserPhone,
    UserEmail,
    UserDisplayName,
    DeviceModel,
    DeviceOsVersion,
    DeviceIp,
    MessageText,
    MessagePayload,
    /// A queued webhook (a minimized message) to a third party.
    SharingOutboxBody,
    /// A notice to the user (a legal disclosure), waiting to be delivered.
    UserNoticeBody,
}

impl PersonalField {
    /// Every variant (kept complete by `all_lists_every_variant`).
    const ALL: [PersonalField; 10] = [
        PersonalField::UserPhone,
        PersonalField::UserEmail,
        PersonalField::UserDisplayName,
        PersonalField::DeviceModel,
        PersonalField::DeviceOsVersion,
        PersonalField::DeviceIp,
        PersonalField::MessageText,
        PersonalField::MessagePayload,
        PersonalField::SharingOutboxBody,
        PersonalField::UserNoticeBody,
    ];

    const fn table_column(self) -> (&'static str, &'static str) {
        match self {
            PersonalField::UserPhone => ("users", "phone"),
            PersonalField::UserEmail => ("users", "email"),
            PersonalField::UserDisplayName => ("users", "display_name"),
            PersonalField::DeviceModel => ("devices", "device_model"),
            PersonalField::DeviceOsVersion => ("devices", "os_version"),
            PersonalField::DeviceIp => ("devices", "ip"),
            PersonalField::MessageText => ("messages", "text"),
            PersonalField::MessagePayload => ("messages", "payload"),
            PersonalField::SharingOutboxBody => ("sharing_outbox", "body"),
            PersonalField::UserNoticeBody => ("user_notices", "body"),
        }
    }
}

/// Every `(table, column)` this store writes only as vault output: the
/// columns the inventory must declare `EncryptedAtRest`, and no others.
static SEALED_COLUMNS: [(&str, &str); PersonalField::ALL.len()] = {
    let mut out = [("", ""); PersonalField::ALL.len()];
    let mut i = 0;
    while i < out.len() {
        out[i] = PersonalField::ALL[i].table_column();
        i += 1;
    }
    out
};

/// The columns sealed with the field vault, as `(table, column)`.
pub fn sealed_columns() -> &'static [(&'static str, &'static str)] {
    &SEALED_COLUMNS
}

/// Seals and opens personal fields with the configured vault.
#[derive(Clone)]
pub(crate) struct PersonalData {
    vault: Arc<dyn FieldVault>,
}

impl PersonalData {
    pub(crate) fn new(vault: Arc<dyn FieldVault>) -> Self {
        PersonalData { vault }
    }

    /// The vault itself, for what it keeps besides data keys (signing
    /// keys).
    pub(crate) fn vault(&self) -> &dyn FieldVault {
        self.vault.as_ref()
    }

    /// The stored form of a personal value; `None` stays `None`.
    /// `owner` is the user the value is about, `row` the row's id.
    pub(crate) async fn seal(
        &self,
        field: PersonalField,
        owner: UserId,
        row: &str,
        value: Option<&str>,
    ) -> StoreResult<Option<Vec<u8>>> {
        let Some(value) = value else {
            return Ok(None);
        };
        let (table, column) = field.table_column();
        self.vault
            .seal(binding(field, owner, row), value.as_bytes())
            .await
            .map(Some)
            // The vault's error describes the vault, never the value.
            .map_err(|e| StoreError::Backend(format!("sealing {table}.{column}: {e}")))
    }

    /// The plain value of a stored personal field. A field whose owner's
    /// key was shredded reads as `None`: it is erased.
    pub(crate) async fn open(
        &self,
        field: PersonalField,
        owner: UserId,
        row: &str,
        sealed: Option<Vec<u8>>,
    ) -> StoreResult<Option<String>> {
        let Some(sealed) = sealed else {
            return Ok(None);
        };
        let (table, column) = field.table_column();
        let plain = match self
            .vault
            .open_owned(binding(field, owner, row), sealed)
            .await
        {
            Ok(plain) => plain,
            Err(VaultError::Shredded) => return Ok(None),
            Err(VaultError::Integrity) => {
                return Err(StoreError::Backend(format!(
                    "integrity check failed for {table}.{column} of row {row}: \
                     the stored value was altered or moved"
                )))
            }
            Err(e) => {
                return Err(StoreError::Backend(format!(
                    "opening {table}.{column}: {e}"
                )))
            }
        };
        String::from_utf8(plain)
            .map(Some)
            .map_err(|_| StoreError::Backend(format!("{table}.{column} is not UTF-8")))
    }

    /// The blind index of a normalised value of a looked-up field.
    pub(crate) fn blind_index(&self, field: PersonalField, normalised: &str) -> String {
        self.vault.blind_index(field.table_column().1, normalised)
    }

    /// A blind index for a value that is not a personal column (a
    /// quarantined username), under its own `purpose` name.
    pub(crate) fn blind_index_for(&self, purpose: &'static str, normalised: &str) -> String {
        self.vault.blind_index(purpose, normalised)
    }

    /// Destroy the owner's data key: everything sealed for them becomes
    /// unreadable, in this database and in every copy of it.
    pub(crate) async fn shred(&self, owner: UserId) -> StoreResult<()> {
        self.vault
            .shred(owner)
            .await
            .map_err(|e| StoreError::Backend(format!("shredding a data key: {e}")))
    }
}

/// Sealing what belongs to no user (recipients' signing secrets and
/// pseudonym keys, queued erasure requests) under the gateway's reserved
/// key owner: not personal data, but never in the clear either.
impl PersonalData {
    pub(crate) async fn seal_for_gateway(
        &self,
        table: &'static str,
        column: &'static str,
        row: &str,
        value: &[u8],
    ) -> StoreResult<Vec<u8>> {
        let binding = FieldBinding {
            owner: oriole_core::sharing::gateway_key_owner(),
            table,
            column,
            row,
        };
        self.vault
            .seal(binding, value)
            .await
            .map_err(|e| StoreError::Backend(format!("sealing {table}.{column}: {e}")))
    }

    pub(crate) async fn open_for_gateway(
        &self,
        table: &'static str,
        column: &'static str,
        row: &str,
        sealed: &[u8],
    ) -> StoreResult<Vec<u8>> {
        let binding = FieldBinding {
            owner: oriole_core::sharing::gateway_key_owner(),
            table,
            column,
            row,
        };
        self.vault
            .open(binding, sealed)
            .await
            .map_err(|e| StoreError::Backend(format!("opening {table}.{column}: {e}")))
    }
}

fn binding(field: PersonalField, owner: UserId, row: &str) -> FieldBinding<'_> {
    let (table, column) = field.table_column();
    FieldBinding {
        owner,
        table,
        column,
        row,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_variant() {
        // A new variant fails to compile here until it is also in `ALL`.
        for field in PersonalField::ALL {
            match field {
                PersonalField::UserPhone
                | PersonalField::UserEmail
                | PersonalField::UserDisplayName
                | PersonalField::DeviceModel
                | PersonalField::DeviceOsVersion
                | PersonalField::DeviceIp
                | PersonalField::MessageText
                | PersonalField::MessagePayload
                | PersonalField::SharingOutboxBody
                | PersonalField::UserNoticeBody => {}
            }
        }
        let mut unique = sealed_columns().to_vec();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), PersonalField::ALL.len());
    }
}
