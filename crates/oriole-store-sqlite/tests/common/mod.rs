//! Shared by the integration tests: data directories laid out like a
//! server's (`DATA/oriole.db`, `DATA/keys/`), fresh stores, and a test vault.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use oriole_core::domain::{
    DeviceId, DeviceLabel, Email, MessageBody, MessageId, Phone, Timestamp, UserId, Username,
};
use oriole_core::store::{Conversation, NewDevice, NewMessage, NewUser, Store};
use oriole_core::{ClearVault, FieldBinding, FieldVault, KeyVault, KeyVaultConfig, VaultError};
use oriole_crypto::{PasswordHashString, TokenHash};
use oriole_store_sqlite::{load_kek, KekSource, SqliteKeyStore, SqliteOptions, SqliteStore};
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

    async fn signing_key(
        &self,
        purpose: oriole_core::KeyPurpose,
    ) -> Result<oriole_core::SigningKey, VaultError> {
        ClearVault.signing_key(purpose).await
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

pub type Vault = Arc<KeyVault<SqliteKeyStore>>;

/// The production vault on `DATA/keys`: KEK file, key store, key vault.
pub async fn key_vault(data: &Path) -> Vault {
    let keys = keys_dir(data);
    let kek = load_kek(&keys, &KekSource::File).expect("load the KEK");
    let store = SqliteKeyStore::open(&keys)
        .await
        .expect("open the key store");
    let vault = KeyVault::open(kek, store, KeyVaultConfig::default())
        .await
        .expect("open the key vault");
    Arc::new(vault)
}

pub fn with_vault(vault: &Vault) -> SqliteOptions {
    SqliteOptions {
        vault: Arc::clone(vault) as Arc<dyn FieldVault>,
        ..SqliteOptions::default()
    }
}

/// A fresh store encrypting with a [`KeyVault`] on `DATA/keys`.
pub async fn fresh_keyed() -> (SqliteStore, TempDir) {
    let dir = TempDir::new().expect("temp dir");
    let vault = key_vault(&data_dir(&dir)).await;
    let store = open(&dir, with_vault(&vault)).await;
    (store, dir)
}

/// Someone with every personal field set to a unique canary string.
#[derive(Debug, Clone)]
pub struct Person {
    pub id: UserId,
    pub username: String,
    pub phone: String,
    pub email: String,
    pub model: String,
    pub os: String,
    pub ip: String,
    /// Text of the messages this person sends.
    pub text: String,
    /// A value inside the payload of those messages.
    pub payload_mark: String,
}

impl Person {
    pub fn phone(&self) -> Phone {
        Phone::parse(&self.phone).expect("phone")
    }
    pub fn email(&self) -> Email {
        Email::parse(&self.email).expect("email")
    }
    /// Every canary, for scanning files.
    pub fn canaries(&self) -> [&str; 7] {
        [
            &self.phone,
            &self.email,
            &self.model,
            &self.os,
            &self.ip,
            &self.text,
            &self.payload_mark,
        ]
    }
}

/// A person whose canaries include `tag` and random digits.
pub fn person(tag: &str) -> Person {
    let id = UserId::generate();
    let n = id.0.as_u128();
    let hex = format!("{:012x}", n & 0xffff_ffff_ffff);
    Person {
        id,
        username: format!("u{tag}"),
        phone: format!("+1{:012}", n % 1_000_000_000_000),
        email: format!("canary.{tag}.{hex}@example.org"),
        model: format!("CanaryModel {tag} {hex}"),
        os: format!("CanaryOS {tag} {hex}"),
        ip: format!("2001:db8::{}:{}", &hex[..4], &hex[4..8]),
        text: format!("canary text of {tag} {hex}"),
        payload_mark: format!("canary-payload-{tag}-{hex}"),
    }
}

/// Create the person's account and one device.
pub async fn create_person<S: Store>(store: &S, p: &Person) {
    store
        .create_user(NewUser {
            id: p.id,
            username: Username::parse(&p.username).expect("username"),
            password_hash: PasswordHashString::from_stored("$argon2id$x".into()),
            phone: Some(p.phone()),
            email: Some(p.email()),
            created_at: Timestamp(1),
        })
        .await
        .expect("create user");
    store
        .create_device(NewDevice {
            id: DeviceId::generate(),
            user_id: p.id,
            token_hash: TokenHash::of(&format!("token-{}", p.id)),
            device_model: Some(DeviceLabel::parse(&p.model, "model").expect("label")),
            os_version: Some(DeviceLabel::parse(&p.os, "os").expect("label")),
            ip: Some(p.ip.clone()),
            at: Timestamp(2),
        })
        .await
        .expect("create device");
}

/// A direct message from `from` to `to` with `from`'s payload mark.
pub async fn send<S: Store>(store: &S, from: &Person, to: &Person, text: &str) -> MessageId {
    let body = MessageBody::parse(
        Some(text.to_owned()),
        Some(&serde_json::json!({ "mark": from.payload_mark })),
        10_000,
    )
    .expect("body");
    let msg = NewMessage {
        id: MessageId::generate(),
        sender: from.id,
        conversation: Conversation::Direct(to.id),
        body,
        sent_at: Timestamp(3),
        idempotency_key: None,
    };
    let id = msg.id;
    store
        .append_message(msg, &[from.id, to.id])
        .await
        .expect("append");
    id
}

/// The person's profile and device read back whole.
pub async fn read_person<S: Store>(store: &S, p: &Person) {
    let user = store.user_by_id(p.id).await.expect("user").expect("exists");
    assert_eq!(user.phone, Some(p.phone()));
    assert_eq!(user.email, Some(p.email()));
    let devices = store.devices(p.id).await.expect("devices");
    let d = &devices[0];
    assert_eq!(
        d.device_model.as_ref().map(DeviceLabel::as_str),
        Some(p.model.as_str())
    );
    assert_eq!(
        d.os_version.as_ref().map(DeviceLabel::as_str),
        Some(p.os.as_str())
    );
    assert_eq!(d.ip.as_deref(), Some(p.ip.as_str()));
}

/// Every file under `dir`, recursively, with its bytes, in path order.
pub fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("read file");
                out.push((path, bytes));
            }
        }
    }
    out.sort();
    out
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
