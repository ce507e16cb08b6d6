//! Where keys live: `DATA/keys/`, the only directory that holds key
//! material. A copy of DATA without it (a backup) therefore can never be
//! decrypted once a user's data key is destroyed here.
//!
//! Layout of `DATA/keys/` (mode 0700, files 0600):
//! - `keys.db`: the wrapped data keys ([`SqliteKeyStore`]); rollback journal
//!   (not WAL) and `secure_delete`, so a destroyed key leaves no copy in any
//!   file;
//! - `kek`: the key-encryption key, base64, with [`KekSource::File`];
//! - `kek.next`, `kek.retired`, `kek.next.tmp`: only while [`rotate_kek`]
//!   runs, or after it was interrupted;
//! - `lock`: locked by a running server and by a rotation
//!   ([`lock_keys_dir`]).
//!
//! A server starts with, in order: [`lock_keys_dir`] (held while it runs),
//! [`load_kek`], [`SqliteKeyStore::open`],
//! [`KeyVault::open`](oriole_core::KeyVault::open), then
//! [`SqliteStore::open`](crate::SqliteStore::open) with the vault.

mod db;
mod files;
mod kek;
mod lock;
mod rotation;

use std::io;
use std::path::PathBuf;

use oriole_core::KeyStoreError;

pub use db::SqliteKeyStore;
pub use kek::{load_kek, KekSource, DEFAULT_KEK_ENV};
pub use lock::{lock_keys_dir, KeysDirLock};
pub use rotation::{
    rotate_kek, rotate_kek_with, RotationOptions, RotationProgress, RotationSummary,
};

/// File names inside the keys directory.
pub mod layout {
    pub const KEYS_DB: &str = "keys.db";
    pub const KEK: &str = "kek";
    pub const KEK_NEXT: &str = "kek.next";
    pub const KEK_NEXT_TMP: &str = "kek.next.tmp";
    pub const KEK_RETIRED: &str = "kek.retired";
    pub const LOCK: &str = "lock";
}

/// What went wrong with the keys directory. Messages name files and key
/// ids, never key material.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("{what} `{}`: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the KEK from {origin} is invalid: {why}")]
    InvalidKek { origin: String, why: &'static str },
    #[error("the KEK command failed: {0}")]
    KekCommand(String),
    #[error(
        "no KEK at `{}`, but the key store beside it holds data keys: restore the \
         KEK file from where it is kept, or configure the KEK's source \
         (environment or command)",
        path.display()
    )]
    KekMissing { path: PathBuf },
    #[error(
        "a KEK rotation in `{}` did not finish: run `oriole admin rotate-kek --data DIR` \
         again to complete it",
        dir.display()
    )]
    RotationUnfinished { dir: PathBuf },
    #[error(
        "`{}` is locked: an Oriole server or a KEK rotation is running on this data \
         directory; stop it first",
        dir.display()
    )]
    Locked { dir: PathBuf },
    #[error("KEK rotation works on a KEK kept in DATA/keys/kek only; {0}")]
    RotationUnsupported(String),
    /// The progress callback asked to stop; running the rotation again
    /// completes it.
    #[error("the KEK rotation was stopped before it finished; run it again to complete it")]
    Interrupted,
    /// A state rotation cannot safely continue from; nothing was destroyed.
    #[error("KEK rotation cannot continue: {0}")]
    Rotation(String),
    #[error(transparent)]
    KeyStore(#[from] KeyStoreError),
}

fn io_error(what: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> KeysError {
    let path = path.into();
    move |source| KeysError::Io { what, path, source }
}
