//! Oriole's tamper-evident audit log (privacy promise P7): hash-chained
//! entries, ed25519-signed checkpoints, offline verification of an export,
//! and the periodic audit report. Pure logic: no database, no clock, no
//! async; the server persists what [`Chain::append`] returns and signs
//! checkpoints with a key from its key store.
//!
//! Entries hold pseudonymous ids and codes only. The types refuse the
//! obvious mistakes (an email address as an id, prose in a code, floats or
//! control characters in details), but callers must never pass a name,
//! contact detail or message text in any field.
//!
//! The file format, the hash and signature encodings, and what each
//! verification error means are in `docs/audit.md`.

pub mod checkpoint;
pub mod details;
pub mod entry;
pub mod export;
pub mod ids;
pub mod report;
mod time;
pub mod verify;

pub use checkpoint::{
    AuditPublicKey, AuditSigner, Checkpoint, CheckpointSignature, KeyError, KeyId,
};
pub use details::{Details, DetailsError};
pub use entry::{AuditEntry, Chain, ChainError, EntryDraft, EntryHash};
pub use export::{
    read_export, verify_export, write_export, Export, ExportError, ExportHeader, ExportReader,
    ExportRecord, ExportVerifyError,
};
pub use ids::{Actor, EventKind, IdError, OperatorRole, PseudonymousId};
pub use report::{Report, ReportOptions};
pub use time::compact_utc;
pub use verify::{verify, verify_from, verify_with_keys, Verifier, VerifyError, VerifyReport};
