//! Shared by the integration tests: data directories laid out like a
//! server's (`DATA/oriole.db`, `DATA/keys/`), fresh stores, and a test vault.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use oriole_core::domain::UserId;
use oriole_core::{ClearVault, FieldBinding, FieldVault, VaultError};
use oriole_store_sqlite::{SqliteOptions, SqliteStore};
use tempfile::TempDir;

/// A vault that makes sealed bytes unreadable as plain text and binds them
/// to their field: opening under any other binding fails, as it would with
/// real AEAD. Not encryption; it shows in the clear which binding the store
/// passed for each field.
#[derive(Debug, Default)]
pub struct ScramblingVault;

fn tag(field: &FieldBinding<'_>) -> Vec<u8> {
    format!(
        "sealed|{}|{}|{}|{}|",
        field.owner, field.table, field.column, field.row
    )
    .into_bytes()
}

#[async_trait]
impl FieldVault for ScramblingVault {
    async fn seal(&self, field: FieldBinding<'_>, plain: &[u8]) -> Result<Vec<u8>, VaultError> {
        let mut out = tag(&field);
        out.extend(plain.iter().rev().map(|b| b ^ 0x5a));
        Ok(out)
    }

    async fn open(&self, field: FieldBinding<'_>, sealed: &[u8]) -> Result<Vec<u8>, VaultError> {
        let body = sealed
            .strip_prefix(tag(&field).as_slice())
            .ok_or(VaultError::Integrity)?;
        Ok(body.iter().rev().map(|b| b ^ 0x5a).collect())
    }

    fn blind_index(&self, column: &'static str, normalised: &str) -> String {
        ClearVault.blind_index(column, normalised)
    }

    async fn shred(&self, _owner: UserId) -> Result<(), VaultError> {
        Ok(())
    }
}

/// `DATA` inside a temp dir.
pub fn data_dir(dir: &TempDir) -> PathBuf {
    dir.path().join("data")
}

pub fn keys_dir(data: &Path) -> PathBuf {
    data.join("keys")
}

pub fn db_path(data: &Path) -> PathBuf {
    data.join("oriole.db")
}

pub async fn open(dir: &TempDir, opts: SqliteOptions) -> SqliteStore {
    open_at(&data_dir(dir), opts).await
}

pub async fn open_at(data: &Path, opts: SqliteOptions) -> SqliteStore {
    SqliteStore::open(&db_path(data), opts)
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
