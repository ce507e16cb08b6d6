//! The one place personal data crosses into and out of the database: every
//! personal column is listed in [`PersonalField`], and its values are written
//! only as `vault.seal(..)` output and read only through `vault.open(..)`.
//! Encryption at rest plugs in here (a sealing `FieldVault`) without any
//! query changing.

use std::sync::Arc;

use oriole_core::domain::UserId;
use oriole_core::store::{StoreError, StoreResult};
use oriole_core::{FieldBinding, FieldVault};

/// Every personal column of the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PersonalField {
    UserPhone,
    UserEmail,
    DeviceModel,
    DeviceOsVersion,
    DeviceIp,
    MessageText,
    MessagePayload,
}

impl PersonalField {
    fn table_column(self) -> (&'static str, &'static str) {
        match self {
            PersonalField::UserPhone => ("users", "phone"),
            PersonalField::UserEmail => ("users", "email"),
            PersonalField::DeviceModel => ("devices", "device_model"),
            PersonalField::DeviceOsVersion => ("devices", "os_version"),
            PersonalField::DeviceIp => ("devices", "ip"),
            PersonalField::MessageText => ("messages", "text"),
            PersonalField::MessagePayload => ("messages", "payload"),
        }
    }
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

    /// The stored form of a personal value; `None` stays `None`.
    /// `owner` is the user the value is about, `row` the row's id.
    pub(crate) fn seal(
        &self,
        field: PersonalField,
        owner: UserId,
        row: &str,
        value: Option<&str>,
    ) -> StoreResult<Option<Vec<u8>>> {
        let Some(value) = value else {
            return Ok(None);
        };
        let binding = binding(field, owner, row);
        let (table, column) = field.table_column();
        self.vault
            .seal(binding, value.as_bytes())
            .map(Some)
            // The vault's error describes the vault, never the value.
            .map_err(|e| StoreError::Backend(format!("sealing {table}.{column}: {e}")))
    }

    /// The plain value of a stored personal field.
    pub(crate) fn open(
        &self,
        field: PersonalField,
        owner: UserId,
        row: &str,
        sealed: Option<Vec<u8>>,
    ) -> StoreResult<Option<String>> {
        let Some(sealed) = sealed else {
            return Ok(None);
        };
        let binding = binding(field, owner, row);
        let (table, column) = field.table_column();
        let plain = self
            .vault
            .open(binding, &sealed)
            .map_err(|e| StoreError::Backend(format!("opening {table}.{column}: {e}")))?;
        String::from_utf8(plain)
            .map(Some)
            .map_err(|_| StoreError::Backend(format!("{table}.{column} is not UTF-8")))
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
