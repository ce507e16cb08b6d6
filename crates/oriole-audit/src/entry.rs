//! Audit entries and the hash chain that links them: each entry's hash
//! covers its fields and the previous entry's hash, so editing, removing or
//! inserting one entry changes every hash after it.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::details::Details;
use crate::ids::{Actor, EventKind, PseudonymousId};

/// Domain tag that starts every hashed entry, so an entry hash can never be
/// mistaken for the hash of anything else Oriole signs or hashes.
pub const ENTRY_HASH_DOMAIN: &[u8] = b"oriole-audit-entry-v1";

/// A SHA-256 digest: an entry's hash, or the head of the chain. Written as
/// 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EntryHash(pub [u8; 32]);

impl EntryHash {
    /// The `prev_hash` of entry 1: 32 zero bytes.
    pub const GENESIS: EntryHash = EntryHash([0; 32]);

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(s: &str) -> Result<Self, HashParseError> {
        let mut out = [0u8; 32];
        // Only lowercase: one hash, one spelling, so a file cannot be edited
        // without changing what it says.
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(HashParseError(s.to_owned()));
        }
        hex::decode_to_slice(s, &mut out).map_err(|_| HashParseError(s.to_owned()))?;
        Ok(EntryHash(out))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a hash (64 lowercase hex digits): {0:?}")]
pub struct HashParseError(String);

impl TryFrom<String> for EntryHash {
    type Error = HashParseError;
    fn try_from(s: String) -> Result<Self, HashParseError> {
        EntryHash::from_hex(&s)
    }
}

impl From<EntryHash> for String {
    fn from(h: EntryHash) -> String {
        h.to_hex()
    }
}

impl fmt::Display for EntryHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for EntryHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntryHash({})", self.to_hex())
    }
}

/// One event in the audit log, as persisted and exported.
///
/// Fields are public so a store can rebuild an entry from its columns; the
/// hash is what makes a rebuilt entry trustworthy, and [`crate::verify`]
/// checks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    /// Position in the log: 1 for the first entry, no gaps.
    pub seq: u64,
    /// When it happened: milliseconds since the Unix epoch, UTC.
    pub time: i64,
    pub actor: Actor,
    pub action: EventKind,
    /// Whom the event concerns, if anyone.
    #[serde(default)]
    pub subject: Option<PseudonymousId>,
    /// Non-personal facts: codes, pseudonymous ids, ticket references.
    #[serde(default)]
    pub details: Details,
    pub prev_hash: EntryHash,
    pub hash: EntryHash,
}

impl AuditEntry {
    /// The hash this entry should carry, recomputed from its fields and
    /// `prev_hash` (the stored `hash` is not an input).
    pub fn compute_hash(&self) -> EntryHash {
        entry_hash(
            self.seq,
            self.time,
            &self.actor,
            &self.action,
            self.subject.as_ref(),
            &self.details,
            &self.prev_hash,
        )
    }
}

/// The exact bytes hashed for an entry (see `docs/audit.md`). Every variable
/// field is length-prefixed, so no two different entries share an encoding.
pub fn entry_hash_input(
    seq: u64,
    time: i64,
    actor: &Actor,
    action: &EventKind,
    subject: Option<&PseudonymousId>,
    details: &Details,
    prev_hash: &EntryHash,
) -> Vec<u8> {
    let details = details.canonical_json();
    let mut buf = Vec::with_capacity(128 + details.len());
    buf.extend_from_slice(ENTRY_HASH_DOMAIN);
    buf.extend_from_slice(&seq.to_be_bytes());
    buf.extend_from_slice(&time.to_be_bytes());
    match actor {
        Actor::System => buf.push(0),
        Actor::User { id } => {
            buf.push(1);
            put_field(&mut buf, id.as_str().as_bytes());
        }
        Actor::Operator { role, id } => {
            buf.push(2);
            put_field(&mut buf, role.as_str().as_bytes());
            put_field(&mut buf, id.as_str().as_bytes());
        }
    }
    put_field(&mut buf, action.as_str().as_bytes());
    match subject {
        None => buf.push(0),
        Some(s) => {
            buf.push(1);
            put_field(&mut buf, s.as_str().as_bytes());
        }
    }
    put_field(&mut buf, details.as_bytes());
    buf.extend_from_slice(&prev_hash.0);
    buf
}

fn put_field(buf: &mut Vec<u8>, bytes: &[u8]) {
    // Every field is bounded far below 4 GiB (ids 128 bytes, details a few
    // KiB), so the length always fits in u32.
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(bytes);
}

fn entry_hash(
    seq: u64,
    time: i64,
    actor: &Actor,
    action: &EventKind,
    subject: Option<&PseudonymousId>,
    details: &Details,
    prev_hash: &EntryHash,
) -> EntryHash {
    let input = entry_hash_input(seq, time, actor, action, subject, details, prev_hash);
    EntryHash(Sha256::digest(&input).into())
}

/// An event to append: everything but its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryDraft {
    pub time: i64,
    pub actor: Actor,
    pub action: EventKind,
    pub subject: Option<PseudonymousId>,
    pub details: Details,
}

impl EntryDraft {
    pub fn new(time: i64, actor: Actor, action: EventKind) -> Self {
        EntryDraft {
            time,
            actor,
            action,
            subject: None,
            details: Details::empty(),
        }
    }

    pub fn subject(mut self, subject: PseudonymousId) -> Self {
        self.subject = Some(subject);
        self
    }

    pub fn details(mut self, details: Details) -> Self {
        self.details = details;
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("an empty log (last seq 0) has the genesis hash as its head, not {0}")]
    NonGenesisEmptyHead(EntryHash),
    #[error("the log is full: seq {0} has no successor")]
    Exhausted(u64),
}

/// The writer's view of the chain: the last seq and head hash, enough to
/// append the next entry. The server keeps one behind its append lock and
/// persists each entry it returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    last_seq: u64,
    head: EntryHash,
}

impl Default for Chain {
    fn default() -> Self {
        Chain::new()
    }
}

impl Chain {
    /// A chain with no entries yet.
    pub fn new() -> Self {
        Chain {
            last_seq: 0,
            head: EntryHash::GENESIS,
        }
    }

    /// Continue a persisted chain from its last entry (`last_seq` 0 and the
    /// genesis hash for an empty one).
    pub fn resume(last_seq: u64, last_hash: EntryHash) -> Result<Self, ChainError> {
        if last_seq == 0 && last_hash != EntryHash::GENESIS {
            return Err(ChainError::NonGenesisEmptyHead(last_hash));
        }
        if last_seq == u64::MAX {
            return Err(ChainError::Exhausted(last_seq));
        }
        Ok(Chain {
            last_seq,
            head: last_hash,
        })
    }

    /// Number the draft, link it to the head and hash it. The caller must
    /// persist the entry before appending the next one.
    pub fn append(&mut self, draft: EntryDraft) -> AuditEntry {
        // `resume` refuses u64::MAX and a log cannot grow to 2^64 entries,
        // so this never saturates in practice.
        let seq = self.last_seq.saturating_add(1);
        let EntryDraft {
            time,
            actor,
            action,
            subject,
            details,
        } = draft;
        let hash = entry_hash(
            seq,
            time,
            &actor,
            &action,
            subject.as_ref(),
            &details,
            &self.head,
        );
        let entry = AuditEntry {
            seq,
            time,
            actor,
            action,
            subject,
            details,
            prev_hash: self.head,
            hash,
        };
        self.last_seq = seq;
        self.head = hash;
        entry
    }

    /// Seq of the last entry appended (0 when empty): also the number of
    /// entries a checkpoint sealed now would cover.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Hash of the last entry (the genesis hash when empty).
    pub fn head(&self) -> EntryHash {
        self.head
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::OperatorRole;

    fn id(s: &str) -> PseudonymousId {
        PseudonymousId::parse(s).expect("valid id")
    }

    #[test]
    fn chain_links_and_numbers_entries() {
        let mut chain = Chain::new();
        let a = chain.append(EntryDraft::new(
            1,
            Actor::User { id: id("u1") },
            EventKind::LOGIN,
        ));
        let b = chain.append(
            EntryDraft::new(
                2,
                Actor::Operator {
                    role: OperatorRole::SUPPORT,
                    id: id("op1"),
                },
                EventKind::PERSONAL_DATA_ACCESS,
            )
            .subject(id("u1")),
        );
        assert_eq!((a.seq, b.seq), (1, 2));
        assert_eq!(a.prev_hash, EntryHash::GENESIS);
        assert_eq!(b.prev_hash, a.hash);
        assert_eq!(a.compute_hash(), a.hash);
        assert_eq!(b.compute_hash(), b.hash);
        assert_eq!((chain.last_seq(), chain.head()), (2, b.hash));

        let mut resumed = Chain::resume(2, b.hash).expect("resume");
        let mut original = chain.clone();
        let draft = EntryDraft::new(3, Actor::System, EventKind::KEY_ROTATION);
        assert_eq!(resumed.append(draft.clone()), original.append(draft));
    }

    #[test]
    fn resume_refuses_impossible_states() {
        assert!(Chain::resume(0, EntryHash([1; 32])).is_err());
        assert!(Chain::resume(u64::MAX, EntryHash([1; 32])).is_err());
        assert_eq!(Chain::resume(0, EntryHash::GENESIS), Ok(Chain::new()));
    }

    #[test]
    fn encoding_separates_fields() {
        // "ab" + "c" and "a" + "bc" must not hash alike.
        let h = |role: &str, who: &str| {
            entry_hash(
                1,
                0,
                &Actor::Operator {
                    role: OperatorRole::parse(role).expect("role"),
                    id: id(who),
                },
                &EventKind::LOGIN,
                None,
                &Details::empty(),
                &EntryHash::GENESIS,
            )
        };
        assert_ne!(h("ab", "c"), h("a", "bc"));
    }

    #[test]
    fn known_hash_vector() {
        // Pinned so a change to the encoding cannot slip through: the same
        // vector is in docs/audit.md for auditors' own tools.
        let mut chain = Chain::new();
        let e = chain.append(
            EntryDraft::new(
                1_700_000_000_000,
                Actor::Operator {
                    role: OperatorRole::SUPPORT,
                    id: id("op_1"),
                },
                EventKind::PERSONAL_DATA_ACCESS,
            )
            .subject(id("u_42"))
            .details(
                Details::new(serde_json::json!({"reason": "customer_support", "ticket": "T-1"}))
                    .expect("details"),
            ),
        );
        assert_eq!(
            e.hash.to_hex(),
            "43a4c2db5716eac9830edc7832bd5209465e8c4c002874cee631c68391f5fffe"
        );
    }

    #[test]
    fn hashes_are_lowercase_hex_only() {
        let h = EntryHash([0xab; 32]);
        assert_eq!(EntryHash::from_hex(&h.to_hex()), Ok(h));
        assert!(EntryHash::from_hex(&h.to_hex().to_uppercase()).is_err());
        assert!(EntryHash::from_hex("ab").is_err());
    }
}
