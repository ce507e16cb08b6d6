//! Verification: recompute every hash, follow every link, check every
//! checkpoint, and name the first thing that is wrong.

use std::borrow::Borrow;
use std::collections::BTreeMap;

use serde::Serialize;

use crate::checkpoint::{AuditPublicKey, Checkpoint, KeyId};
use crate::entry::{AuditEntry, EntryHash};

/// The first problem found, naming the entry (`seq`) or the checkpoint
/// (`count`, which is the seq of the last entry it seals). Each variant says
/// what it means in the terms of `docs/audit.md`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("entry {seq}: its hash does not match its contents (the entry was edited)")]
    HashMismatch { seq: u64 },
    #[error("entry {seq}: it does not link to the entry before it (an entry was deleted, inserted or replaced before it)")]
    BrokenLink { seq: u64 },
    #[error("entry {expected} is missing: found entry {found} in its place (deleted, or moved out of order)")]
    SeqGap { expected: u64, found: u64 },
    #[error("entry {expected} expected, found entry {found} again or out of order (duplicated, inserted or reordered)")]
    SeqOutOfOrder { expected: u64, found: u64 },
    #[error("checkpoint at entry {count}: signed by key {key_id}, which is not a trusted key (forged checkpoint, or the wrong public key)")]
    UnknownKey { count: u64, key_id: KeyId },
    #[error(
        "checkpoint at entry {count}: the signature is not valid (forged or altered checkpoint)"
    )]
    BadSignature { count: u64 },
    #[error("checkpoint at entry {count}: the signed head hash is not the hash of entry {count} (history up to it was rewritten)")]
    CheckpointMismatch { count: u64 },
    #[error(
        "a checkpoint seals {count} entries but only {present} are present (the log was truncated)"
    )]
    Truncated { count: u64, present: u64 },
}

impl VerifyError {
    /// The seq of the first entry found bad (for a checkpoint error, the
    /// last entry it seals; for truncation, the first entry missing).
    pub fn seq(&self) -> u64 {
        match *self {
            VerifyError::HashMismatch { seq } | VerifyError::BrokenLink { seq } => seq,
            VerifyError::SeqGap { expected, .. } | VerifyError::SeqOutOfOrder { expected, .. } => {
                expected
            }
            VerifyError::UnknownKey { count, .. }
            | VerifyError::BadSignature { count }
            | VerifyError::CheckpointMismatch { count } => count,
            VerifyError::Truncated { present, .. } => present.saturating_add(1),
        }
    }

    /// A short, stable code for scripts and JSON reports.
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::HashMismatch { .. } => "hash_mismatch",
            VerifyError::BrokenLink { .. } => "broken_link",
            VerifyError::SeqGap { .. } => "seq_gap",
            VerifyError::SeqOutOfOrder { .. } => "seq_out_of_order",
            VerifyError::UnknownKey { .. } => "unknown_key",
            VerifyError::BadSignature { .. } => "bad_signature",
            VerifyError::CheckpointMismatch { .. } => "checkpoint_mismatch",
            VerifyError::Truncated { .. } => "truncated",
        }
    }
}

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Seq of the first entry checked: 1, or one past the anchor checkpoint
    /// of a log whose older entries were removed by retention.
    pub first_seq: u64,
    /// Entries whose hash and link were checked.
    pub entries_verified: u64,
    /// Seq of the last entry (0 for an empty log).
    pub last_seq: u64,
    /// Hash of the last entry: compare it with the live server's to know the
    /// export is complete up to the moment it was taken.
    pub head_hash: EntryHash,
    /// Checkpoints whose signature and head hash were checked.
    pub checkpoints_verified: u64,
    /// Highest entry count sealed by a valid checkpoint (0 if none).
    pub sealed_through: u64,
    /// Time of the checkpoint that seals the most entries.
    pub last_checkpoint_time: Option<i64>,
    /// Entries after the last checkpoint: chained, but not yet signed, so a
    /// quiet removal of these alone would not be detectable.
    pub unsealed_tail: u64,
}

/// Checks entries and checkpoints pushed one at a time, in any mix, so an
/// export of millions of entries can be verified while it is read. Once it
/// finds a problem it keeps returning that problem.
#[derive(Debug)]
pub struct Verifier {
    keys: Vec<AuditPublicKey>,
    /// Seq before the first entry: 0, or the anchor checkpoint's count.
    base: u64,
    last_seq: u64,
    head: EntryHash,
    /// `hashes[i]` is the hash of entry `base + i` (index 0: the genesis or
    /// anchor head), for checkpoints that arrive after the entry they seal.
    hashes: Vec<EntryHash>,
    /// Valid signatures whose entry has not arrived yet, by count.
    pending: BTreeMap<u64, Vec<EntryHash>>,
    checkpoints_verified: u64,
    sealed_through: u64,
    last_checkpoint_time: Option<i64>,
    failed: Option<VerifyError>,
}

impl Verifier {
    /// Verify a complete log, starting at entry 1. `keys` are the trusted
    /// public keys (more than one after a key rotation).
    pub fn new(keys: &[AuditPublicKey]) -> Self {
        Verifier {
            keys: keys.to_vec(),
            base: 0,
            last_seq: 0,
            head: EntryHash::GENESIS,
            hashes: vec![EntryHash::GENESIS],
            pending: BTreeMap::new(),
            checkpoints_verified: 0,
            sealed_through: 0,
            last_checkpoint_time: None,
            failed: None,
        }
    }

    /// Verify a log whose entries before `anchor.count + 1` were removed by
    /// retention: the anchor's signature vouches for where the rest starts.
    /// Push the anchor with the other checkpoints too; it is counted then.
    pub fn starting_after(
        keys: &[AuditPublicKey],
        anchor: &Checkpoint,
    ) -> Result<Self, VerifyError> {
        let mut v = Verifier::new(keys);
        v.check_signature(anchor)?;
        v.base = anchor.count;
        v.last_seq = anchor.count;
        v.head = anchor.head_hash;
        v.hashes = vec![anchor.head_hash];
        Ok(v)
    }

    /// Verify a log that starts at `first_seq`: from genesis when it is 1,
    /// else after the checkpoint among `checkpoints` that seals
    /// `first_seq - 1` entries. Without such an anchor the missing start is
    /// reported as deleted entries.
    pub fn starting_at(
        keys: &[AuditPublicKey],
        first_seq: u64,
        checkpoints: &[Checkpoint],
    ) -> Result<Self, VerifyError> {
        if first_seq <= 1 {
            return Ok(Verifier::new(keys));
        }
        match checkpoints.iter().find(|c| c.count == first_seq - 1) {
            Some(anchor) => Verifier::starting_after(keys, anchor),
            None => Err(VerifyError::SeqGap {
                expected: 1,
                found: first_seq,
            }),
        }
    }

    fn fail(&mut self, e: VerifyError) -> Result<(), VerifyError> {
        self.failed = Some(e.clone());
        Err(e)
    }

    fn check_signature(&self, cp: &Checkpoint) -> Result<(), VerifyError> {
        let key =
            self.keys
                .iter()
                .find(|k| k.key_id() == cp.key_id)
                .ok_or(VerifyError::UnknownKey {
                    count: cp.count,
                    key_id: cp.key_id,
                })?;
        if cp.signature_valid(key) {
            Ok(())
        } else {
            Err(VerifyError::BadSignature { count: cp.count })
        }
    }

    fn note_checkpoint(&mut self, cp: &Checkpoint) {
        self.checkpoints_verified += 1;
        if cp.count > self.sealed_through || self.last_checkpoint_time.is_none() {
            self.sealed_through = cp.count;
            self.last_checkpoint_time = Some(cp.time);
        } else if cp.count == self.sealed_through {
            self.last_checkpoint_time = self.last_checkpoint_time.max(Some(cp.time));
        }
    }

    pub fn push_entry(&mut self, entry: &AuditEntry) -> Result<(), VerifyError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let expected = self.last_seq.saturating_add(1);
        if entry.seq > expected {
            return self.fail(VerifyError::SeqGap {
                expected,
                found: entry.seq,
            });
        }
        if entry.seq < expected {
            return self.fail(VerifyError::SeqOutOfOrder {
                expected,
                found: entry.seq,
            });
        }
        if entry.prev_hash != self.head {
            return self.fail(VerifyError::BrokenLink { seq: entry.seq });
        }
        if entry.compute_hash() != entry.hash {
            return self.fail(VerifyError::HashMismatch { seq: entry.seq });
        }
        self.last_seq = entry.seq;
        self.head = entry.hash;
        self.hashes.push(entry.hash);
        if let Some(heads) = self.pending.remove(&entry.seq) {
            if heads.iter().any(|h| *h != entry.hash) {
                return self.fail(VerifyError::CheckpointMismatch { count: entry.seq });
            }
        }
        Ok(())
    }

    pub fn push_checkpoint(&mut self, cp: &Checkpoint) -> Result<(), VerifyError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if let Err(e) = self.check_signature(cp) {
            return self.fail(e);
        }
        if cp.count >= self.base && cp.count <= self.last_seq {
            let index = usize::try_from(cp.count - self.base).unwrap_or(usize::MAX);
            if self.hashes.get(index) != Some(&cp.head_hash) {
                return self.fail(VerifyError::CheckpointMismatch { count: cp.count });
            }
        } else if cp.count > self.last_seq {
            self.pending.entry(cp.count).or_default().push(cp.head_hash);
        }
        // A checkpoint older than the anchor seals entries no longer held:
        // only its signature can be checked, and it was.
        self.note_checkpoint(cp);
        Ok(())
    }

    /// End of input: a checkpoint still waiting for its entry means entries
    /// it sealed are gone.
    pub fn finish(self) -> Result<VerifyReport, VerifyError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        if let Some((&count, _)) = self.pending.iter().next() {
            return Err(VerifyError::Truncated {
                count,
                present: self.last_seq,
            });
        }
        Ok(VerifyReport {
            first_seq: self.base.saturating_add(1),
            entries_verified: self.last_seq - self.base,
            last_seq: self.last_seq,
            head_hash: self.head,
            checkpoints_verified: self.checkpoints_verified,
            sealed_through: self.sealed_through,
            last_checkpoint_time: self.last_checkpoint_time,
            unsealed_tail: self.last_seq.saturating_sub(self.sealed_through),
        })
    }
}

/// Verify a whole log from entry 1 against one public key. Entries must
/// come in the order stored; checkpoints may be in any order. Problems are
/// reported in seq order: each checkpoint is checked right after the entry
/// it seals.
pub fn verify<E: Borrow<AuditEntry>>(
    entries: impl IntoIterator<Item = E>,
    checkpoints: &[Checkpoint],
    public_key: &AuditPublicKey,
) -> Result<VerifyReport, VerifyError> {
    verify_from(1, entries, checkpoints, std::slice::from_ref(public_key))
}

/// [`verify`] with several trusted keys, for a log that spans a rotation of
/// the signing key.
pub fn verify_with_keys<E: Borrow<AuditEntry>>(
    entries: impl IntoIterator<Item = E>,
    checkpoints: &[Checkpoint],
    keys: &[AuditPublicKey],
) -> Result<VerifyReport, VerifyError> {
    verify_from(1, entries, checkpoints, keys)
}

/// Verify a log that starts at `first_seq` (see [`Verifier::starting_at`]):
/// for a log whose oldest entries were removed by retention. The report's
/// `first_seq` says where verification began; an auditor should check it
/// against the retention policy, since it is the one thing a checkpoint
/// anchor cannot vouch for.
pub fn verify_from<E: Borrow<AuditEntry>>(
    first_seq: u64,
    entries: impl IntoIterator<Item = E>,
    checkpoints: &[Checkpoint],
    keys: &[AuditPublicKey],
) -> Result<VerifyReport, VerifyError> {
    let mut v = Verifier::starting_at(keys, first_seq, checkpoints)?;
    let mut sorted: Vec<&Checkpoint> = checkpoints.iter().collect();
    sorted.sort_by_key(|c| c.count);
    let mut sorted = sorted.into_iter().peekable();
    while let Some(cp) = sorted.next_if(|c| c.count < first_seq) {
        v.push_checkpoint(cp)?;
    }
    for entry in entries {
        let entry = entry.borrow();
        v.push_entry(entry)?;
        while let Some(cp) = sorted.next_if(|c| c.count <= entry.seq) {
            v.push_checkpoint(cp)?;
        }
    }
    for cp in sorted {
        v.push_checkpoint(cp)?;
    }
    v.finish()
}
