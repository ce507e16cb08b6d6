//! Durable, private key files: written to a temporary name, synced, then
//! renamed (or linked) into place with the directory synced; destroyed by
//! overwriting with zeros before unlinking.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use oriole_crypto::keys::Kek;
use zeroize::Zeroizing;

use super::{io_error, KeysError};

/// Create the keys directory (and its parents) if missing; the directory
/// itself gets mode 0700. An existing one with wider permissions is kept,
/// with a warning.
pub(crate) fn ensure_keys_dir(dir: &Path) -> Result<(), KeysError> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(io_error("creating the data directory", parent))?;
    }
    let mut builder = fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    match builder.create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => {
            warn_if_shared(dir, "directory");
            Ok(())
        }
        Err(e) => Err(io_error("creating the keys directory", dir)(e)),
    }
}

/// Warn when group or others may access a key file or directory.
pub(crate) fn warn_if_shared(path: &Path, what: &'static str) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(
                    path = %path.display(),
                    "the keys {what} is accessible to other users; restrict it to its owner \
                     (chmod {})",
                    if meta.is_dir() { "700" } else { "600" }
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (path, what);
}

/// Options for a new file readable by its owner only.
pub(crate) fn private_file() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), KeysError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error("syncing the directory", dir))
}

fn parent(path: &Path) -> &Path {
    path.parent().unwrap_or_else(|| Path::new("."))
}

/// Write `kek` to `tmp`, sync it, and move it to `dest`, syncing the
/// directory. With `replace`, an existing `dest` is replaced (rename);
/// without, the call fails with `AlreadyExists` instead (link), so two
/// writers cannot both think they created it.
pub(crate) fn write_kek_file(
    tmp: &Path,
    dest: &Path,
    kek: &Kek,
    replace: bool,
) -> Result<(), KeysError> {
    if tmp.exists() {
        destroy_file(tmp)?;
    }
    let text = Zeroizing::new(format!("{}\n", STANDARD.encode(kek.expose_bytes())));
    let mut file = private_file()
        .create_new(true)
        .open(tmp)
        .map_err(io_error("creating the key file", tmp))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io_error("writing the key file", tmp))?;
    drop(file);
    if replace {
        fs::rename(tmp, dest).map_err(io_error("moving the key file into place", dest))?;
    } else {
        match fs::hard_link(tmp, dest) {
            // Both names are the same file now: only unlink the temporary
            // one (overwriting it would erase the key at `dest`).
            Ok(()) => fs::remove_file(tmp).map_err(io_error("removing the key file", tmp))?,
            Err(e) => {
                destroy_file(tmp)?;
                return Err(io_error("moving the key file into place", dest)(e));
            }
        }
    }
    sync_dir(parent(dest))
}

/// Read a KEK file (base64 of 32 bytes, surrounding whitespace ignored).
pub(crate) fn read_kek_file(path: &Path) -> Result<Kek, KeysError> {
    let mut text = Zeroizing::new(String::new());
    File::open(path)
        .and_then(|mut f| f.read_to_string(&mut text))
        .map_err(io_error("reading the KEK file", path))?;
    warn_if_shared(path, "file");
    parse_kek(&text, &format!("file `{}`", path.display()))
}

/// A KEK from its base64 text; `origin` says where it came from.
pub(crate) fn parse_kek(text: &str, origin: &str) -> Result<Kek, KeysError> {
    let invalid = |why| KeysError::InvalidKek {
        origin: origin.to_owned(),
        why,
    };
    let raw = Zeroizing::new(
        STANDARD
            .decode(text.trim())
            .map_err(|_| invalid("it is not base64"))?,
    );
    Kek::from_bytes(&raw).map_err(|_| {
        invalid("it must be base64 of 32 random bytes (e.g. `head -c 32 /dev/urandom | base64`)")
    })
}

/// Overwrite a key file with zeros, sync, and unlink it. On a file system
/// that writes in place (ext4, xfs) the key's blocks are overwritten; a
/// copy-on-write file system may keep old blocks until they are reused.
pub(crate) fn destroy_file(path: &Path) -> Result<(), KeysError> {
    let len = fs::metadata(path)
        .map_err(io_error("inspecting the key file", path))?
        .len();
    let mut file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io_error("opening the key file to destroy it", path))?;
    let zeros = vec![0u8; usize::try_from(len).unwrap_or(0)];
    file.write_all(&zeros)
        .and_then(|()| file.sync_all())
        .map_err(io_error("overwriting the key file", path))?;
    drop(file);
    fs::remove_file(path).map_err(io_error("removing the key file", path))?;
    sync_dir(parent(path))
}
