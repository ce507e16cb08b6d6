//! Loading the key-encryption key from where the operator keeps it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use oriole_crypto::keys::Kek;
use zeroize::Zeroizing;

use super::files::{ensure_keys_dir, parse_kek, read_kek_file, write_kek_file};
use super::layout::{KEK, KEK_NEXT, KEK_RETIRED, KEYS_DB};
use super::{io_error, KeysError};

/// The environment variable conventionally holding the KEK.
pub const DEFAULT_KEK_ENV: &str = "ORIOLE_KEK";

/// Where the KEK comes from. Whatever the source, the KEK is base64 of 32
/// random bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KekSource {
    /// `DATA/keys/kek`, created on first run. Convenient, but then the KEK
    /// sits beside the keys it wraps, and a copy of `DATA/keys` holds both:
    /// in production keep it elsewhere ([`Env`](Self::Env) or
    /// [`Command`](Self::Command)).
    File,
    /// The named environment variable (e.g. [`DEFAULT_KEK_ENV`]).
    Env(String),
    /// The standard output of a command run with `sh -c`: the hook for a KMS
    /// or secret manager. Its standard error goes to ours.
    Command(String),
}

/// The KEK from `source`; with [`KekSource::File`], created in `keys_dir`
/// (itself created, mode 0700) on first run. Refuses to start when a KEK
/// rotation did not finish, or when the KEK file is gone but data keys
/// exist (a new KEK would silently make every key unreadable).
pub fn load_kek(keys_dir: &Path, source: &KekSource) -> Result<Kek, KeysError> {
    match source {
        KekSource::File => kek_from_file(keys_dir),
        KekSource::Env(var) => {
            let text = Zeroizing::new(std::env::var(var).map_err(|_| KeysError::InvalidKek {
                origin: format!("environment variable {var}"),
                why: "it is not set (or not UTF-8)",
            })?);
            parse_kek(&text, &format!("environment variable {var}"))
        }
        KekSource::Command(command) => {
            let output = Command::new("sh")
                .arg("-c")
                .arg(command)
                .stdin(Stdio::null())
                .stderr(Stdio::inherit())
                .output()
                .map_err(|e| KeysError::KekCommand(format!("could not run `sh -c`: {e}")))?;
            let stdout = Zeroizing::new(output.stdout);
            if !output.status.success() {
                return Err(KeysError::KekCommand(format!(
                    "it exited with {} (its standard error is above)",
                    output.status
                )));
            }
            let text = std::str::from_utf8(&stdout).map_err(|_| KeysError::InvalidKek {
                origin: "the KEK command".into(),
                why: "its output is not text",
            })?;
            parse_kek(text, "the KEK command")
        }
    }
}

fn kek_from_file(keys_dir: &Path) -> Result<Kek, KeysError> {
    ensure_keys_dir(keys_dir)?;
    if keys_dir.join(KEK_NEXT).exists() || keys_dir.join(KEK_RETIRED).exists() {
        return Err(KeysError::RotationUnfinished {
            dir: keys_dir.to_owned(),
        });
    }
    let path = keys_dir.join(KEK);
    if path.exists() {
        return read_kek_file(&path);
    }
    // A key store that was ever opened by a vault holds keys wrapped by the
    // lost KEK: a new KEK would not open them.
    let keys_db = keys_dir.join(KEYS_DB);
    let db_len = match std::fs::metadata(&keys_db) {
        Ok(meta) => meta.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(io_error("inspecting the key store", keys_db)(e)),
    };
    if db_len > 0 {
        return Err(KeysError::KekMissing { path });
    }
    let kek = Kek::generate();
    let tmp: PathBuf = keys_dir.join(format!("{KEK}.tmp.{}", std::process::id()));
    match write_kek_file(&tmp, &path, &kek, false) {
        Ok(()) => {
            tracing::warn!(
                path = %path.display(),
                "created a new KEK file beside the data keys; in production keep the KEK \
                 elsewhere (an environment variable or a KMS command) so that a copy of \
                 the data directory does not carry it"
            );
            Ok(kek)
        }
        // Another process created it first: use theirs.
        Err(KeysError::Io { source, .. }) if source.kind() == std::io::ErrorKind::AlreadyExists => {
            read_kek_file(&path)
        }
        Err(e) => Err(e),
    }
}
