//! KEK rotation: every data key re-wrapped by a new KEK, then the old KEK
//! destroyed. Crash-safe: each step leaves files from which a rerun
//! finishes the job, and no key becomes unreadable at any point.
//!
//! The steps, with the files in `DATA/keys/` after each:
//! 1. a new KEK is written to `kek.next.tmp`, synced, and renamed to
//!    `kek.next` (directory synced): `kek` + `kek.next`;
//! 2. every DEK not wrapped by the new KEK is unwrapped with the old one and
//!    re-wrapped, one transaction per batch: still `kek` + `kek.next`, the
//!    DEKs wrapped by either;
//! 3. `kek` is renamed to `kek.retired`, then `kek.next` to `kek`
//!    (directory synced after each): `kek` (new) + `kek.retired`;
//! 4. `kek.retired` is overwritten with zeros, synced, and removed: `kek`.
//!
//! A rerun resumes whenever `kek.next` or `kek.retired` exists, using every
//! KEK file present to unwrap, and destroys an old KEK only once no DEK is
//! wrapped by it.

use std::collections::HashMap;
use std::fs;
use std::ops::ControlFlow;
use std::path::Path;

use oriole_core::keys::RewrappedDek;
use oriole_core::{KekId, KeyStore, WrappedDek};
use oriole_crypto::keys::Kek;

use super::db::SqliteKeyStore;
use super::files::{destroy_file, read_kek_file, sync_dir, write_kek_file};
use super::kek::KekSource;
use super::layout::{KEK, KEK_NEXT, KEK_NEXT_TMP, KEK_RETIRED};
use super::lock::lock_keys_dir;
use super::{io_error, KeysError};

/// Tunables of [`rotate_kek_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationOptions {
    /// DEKs re-wrapped per transaction.
    pub batch_size: u32,
}

impl Default for RotationOptions {
    fn default() -> Self {
        RotationOptions { batch_size: 500 }
    }
}

/// Reported after each step; the callback may stop the rotation there
/// (`ControlFlow::Break`), and a rerun completes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotationProgress {
    /// `kek.next` holds the new KEK: made now, or found from an interrupted
    /// run (`resumed`).
    NewKekReady { kek_id: KekId, resumed: bool },
    /// A batch of DEKs was re-wrapped and committed.
    Rewrapped { done: u64, total: u64 },
    /// The new KEK is `kek`; the old one is `kek.retired`.
    Switched,
    /// The old KEK file is overwritten and gone.
    OldKekDestroyed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationSummary {
    pub new_kek_id: KekId,
    /// DEKs re-wrapped by this run (the blind-index root among them).
    pub rewrapped: u64,
    /// Whether this run finished an interrupted one rather than starting.
    pub resumed: bool,
}

/// Rotate the KEK kept in `keys_dir/kek` with [`RotationOptions::default`];
/// see [`rotate_kek_with`].
pub async fn rotate_kek(
    keys_dir: &Path,
    source: &KekSource,
    progress: impl FnMut(&RotationProgress) -> ControlFlow<()>,
) -> Result<RotationSummary, KeysError> {
    rotate_kek_with(keys_dir, source, RotationOptions::default(), progress).await
}

/// Rotate the KEK kept in `keys_dir/kek`, or finish an interrupted rotation.
/// Takes the keys directory's lock, so it fails with
/// [`KeysError::Locked`] while a server runs. Only for
/// [`KekSource::File`]. File operations block the calling thread: this is
/// an administration command, not a server task.
pub async fn rotate_kek_with(
    keys_dir: &Path,
    source: &KekSource,
    options: RotationOptions,
    mut progress: impl FnMut(&RotationProgress) -> ControlFlow<()>,
) -> Result<RotationSummary, KeysError> {
    match source {
        KekSource::File => {}
        KekSource::Env(var) => {
            return Err(KeysError::RotationUnsupported(format!(
                "this KEK comes from the environment variable {var}. Rotating it needs the \
                 old and the new key at once, which is not supported yet: keep it, or move \
                 to the file source first"
            )))
        }
        KekSource::Command(_) => {
            return Err(KeysError::RotationUnsupported(
                "this KEK comes from a command (a KMS or secret manager). Rotate the key that \
                 protects it in the KMS, which keeps serving the same KEK; replacing the KEK \
                 itself is not supported yet"
                    .into(),
            ))
        }
    }
    let _lock = lock_keys_dir(keys_dir)?;
    let current = keys_dir.join(KEK);
    let next = keys_dir.join(KEK_NEXT);
    let next_tmp = keys_dir.join(KEK_NEXT_TMP);
    let retired = keys_dir.join(KEK_RETIRED);

    // Step 1. A leftover temporary file was never renamed: nothing is
    // wrapped by it.
    if next_tmp.exists() {
        destroy_file(&next_tmp)?;
    }
    let resumed = next.exists() || retired.exists();
    if !next.exists() && !current.exists() {
        return Err(KeysError::Rotation(format!(
            "there is no KEK file (`{KEK}` or `{KEK_NEXT}`) in `{}`",
            keys_dir.display()
        )));
    }
    if !resumed {
        write_kek_file(&next_tmp, &next, &Kek::generate(), true)?;
    }
    // The KEK every DEK ends up wrapped by, and the others to unwrap with.
    let target_path = if next.exists() { &next } else { &current };
    let target = read_kek_file(target_path)?;
    let target_id = KekId::of(&target);
    let mut old_keks = HashMap::new();
    for path in [&current, &retired] {
        if path == target_path || !path.exists() {
            continue;
        }
        // A retired file may be half overwritten by an interrupted step 4:
        // unusable then, and needed by no DEK (step 2 finished before).
        match read_kek_file(path) {
            Ok(kek) => {
                old_keks.insert(KekId::of(&kek), kek);
            }
            Err(KeysError::InvalidKek { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    proceed(progress(&RotationProgress::NewKekReady {
        kek_id: target_id.clone(),
        resumed,
    }))?;

    // Step 2.
    let store = SqliteKeyStore::open(keys_dir).await?;
    let rewrapped = rewrap_all(
        &store,
        &target,
        &target_id,
        &old_keks,
        options,
        &mut progress,
    )
    .await;
    store.close().await;
    let rewrapped = rewrapped?;

    // Step 3. Every DEK is wrapped by the target now: other KEK files
    // protect nothing.
    if next.exists() {
        if retired.exists() {
            destroy_file(&retired)?;
        }
        if current.exists() {
            fs::rename(&current, &retired).map_err(io_error("retiring the old KEK", &current))?;
            sync_dir(keys_dir)?;
        }
        fs::rename(&next, &current).map_err(io_error("installing the new KEK", &next))?;
        sync_dir(keys_dir)?;
    }
    proceed(progress(&RotationProgress::Switched))?;

    // Step 4.
    if retired.exists() {
        destroy_file(&retired)?;
    }
    proceed(progress(&RotationProgress::OldKekDestroyed))?;
    tracing::info!(kek_id = %target_id, rewrapped, resumed, "KEK rotated");
    Ok(RotationSummary {
        new_kek_id: target_id,
        rewrapped,
        resumed,
    })
}

fn proceed(flow: ControlFlow<()>) -> Result<(), KeysError> {
    match flow {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(()) => Err(KeysError::Interrupted),
    }
}

/// Step 2: re-wrap by `target` every DEK wrapped by another KEK, batch by
/// batch. Returns how many were re-wrapped.
async fn rewrap_all(
    store: &SqliteKeyStore,
    target: &Kek,
    target_id: &KekId,
    old_keks: &HashMap<KekId, Kek>,
    options: RotationOptions,
    progress: &mut impl FnMut(&RotationProgress) -> ControlFlow<()>,
) -> Result<u64, KeysError> {
    let total = store.count_deks_not_wrapped_by(target_id).await?;
    let mut done = 0;
    loop {
        let batch = store
            .deks_not_wrapped_by(target_id, options.batch_size.max(1))
            .await?;
        if batch.is_empty() {
            return Ok(done);
        }
        let mut rewrapped = Vec::with_capacity(batch.len());
        for (owner, dek) in batch {
            let old = old_keks.get(&dek.kek_id).ok_or_else(|| {
                KeysError::Rotation(format!(
                    "the data key of {owner} is wrapped by KEK {}, which is neither the old \
                     nor the new KEK file here; nothing was destroyed",
                    dek.kek_id
                ))
            })?;
            let owner_str = owner.to_string();
            let key = old.unwrap(&dek.bytes, &owner_str).map_err(|_| {
                KeysError::Rotation(format!(
                    "the data key of {owner} failed its integrity check (the key store was \
                     altered); nothing was destroyed"
                ))
            })?;
            rewrapped.push(RewrappedDek {
                owner,
                old_kek_id: dek.kek_id,
                dek: WrappedDek {
                    bytes: target.wrap(&key, &owner_str),
                    kek_id: target_id.clone(),
                },
            });
        }
        let replaced = store.replace_deks(&rewrapped).await?;
        if replaced == 0 {
            // Only a concurrent writer could cause this, and the lock
            // excludes one; stop rather than loop.
            return Err(KeysError::Rotation(
                "the key store changed during the rotation".into(),
            ));
        }
        done += replaced;
        proceed(progress(&RotationProgress::Rewrapped {
            done,
            total: total.max(done),
        }))?;
    }
}
