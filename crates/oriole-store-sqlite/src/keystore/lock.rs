//! One process at a time on a keys directory: a running server, or a KEK
//! rotation, never both.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::files::{ensure_keys_dir, private_file};
use super::layout::LOCK;
use super::{io_error, KeysError};

/// An exclusive advisory lock (`flock`) on `DATA/keys/lock`, released when
/// dropped or when the process exits, however it exits.
#[derive(Debug)]
pub struct KeysDirLock {
    _file: File,
    path: PathBuf,
}

impl KeysDirLock {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Take the keys directory's lock without waiting; fails with
/// [`KeysError::Locked`] when a server or a rotation holds it. Creates the
/// directory (mode 0700) if needed.
pub fn lock_keys_dir(keys_dir: &Path) -> Result<KeysDirLock, KeysError> {
    ensure_keys_dir(keys_dir)?;
    let path = keys_dir.join(LOCK);
    let file = private_file()
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_error("opening the lock file", &path))?;
    match fs4::FileExt::try_lock(&file) {
        Ok(()) => Ok(KeysDirLock { _file: file, path }),
        Err(fs4::TryLockError::WouldBlock) => Err(KeysError::Locked {
            dir: keys_dir.to_owned(),
        }),
        Err(fs4::TryLockError::Error(e)) => Err(io_error("locking", path)(e)),
    }
}
