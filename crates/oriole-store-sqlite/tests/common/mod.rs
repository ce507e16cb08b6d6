//! Shared by the integration tests: fresh stores and a test vault.

#![allow(dead_code)]

use std::sync::Arc;

use oriole_core::{FieldBinding, FieldVault, VaultError};
use oriole_store_sqlite::{SqliteOptions, SqliteStore};
use tempfile::TempDir;

/// A vault that makes sealed bytes unreadable as plain text and binds them
/// to their field: opening under any other binding fails, as it would with
/// real AEAD. Not encryption; it only proves the store routes every
/// personal field through the vault with the right binding.
#[derive(Debug, Default)]
pub struct ScramblingVault;

fn tag(field: &FieldBinding<'_>) -> Vec<u8> {
    format!(
        "sealed|{}|{}|{}|{}|",
        field.owner, field.table, field.column, field.row
    )
    .into_bytes()
}

impl FieldVault for ScramblingVault {
    fn seal(&self, field: FieldBinding<'_>, plain: &[u8]) -> Result<Vec<u8>, VaultError> {
        let mut out = tag(&field);
        out.extend(plain.iter().rev().map(|b| b ^ 0x5a));
        Ok(out)
    }

    fn open(&self, field: FieldBinding<'_>, sealed: &[u8]) -> Result<Vec<u8>, VaultError> {
        let body = sealed
            .strip_prefix(tag(&field).as_slice())
            .ok_or_else(|| VaultError("sealed under another binding".into()))?;
        Ok(body.iter().rev().map(|b| b ^ 0x5a).collect())
    }
}

pub async fn open(dir: &TempDir, opts: SqliteOptions) -> SqliteStore {
    SqliteStore::open(&dir.path().join("data").join("oriole.db"), opts)
        .await
        .expect("open the store")
}

/// A fresh store with the default options (clear vault).
pub async fn fresh() -> (SqliteStore, TempDir) {
    let dir = TempDir::new().expect("temp dir");
    let store = open(&dir, SqliteOptions::default()).await;
    (store, dir)
}

pub fn scrambling() -> SqliteOptions {
    SqliteOptions {
        vault: Arc::new(ScramblingVault),
        ..SqliteOptions::default()
    }
}

/// A fresh store whose personal fields go through [`ScramblingVault`].
pub async fn fresh_scrambled() -> (SqliteStore, TempDir) {
    let dir = TempDir::new().expect("temp dir");
    let store = open(&dir, scrambling()).await;
    (store, dir)
}
