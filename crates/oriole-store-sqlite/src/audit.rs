//! The audit log's tables: appends chained under the single writer, reads
//! for verification and export, and signed checkpoints. Rows hold what the
//! entry holds (pseudonymous ids and codes); the hash chain, not this code,
//! is what makes them trustworthy, and `oriole_audit::verify` checks it.

use oriole_audit::{
    Actor, AuditEntry, Chain, Checkpoint, Details, EntryDraft, EntryHash, EventKind, OperatorRole,
    PseudonymousId,
};
use oriole_core::store::{StoreError, StoreResult};
use sqlx::sqlite::SqliteRow;

use crate::error::{col, db, to_i64, to_u64};
use crate::SqliteStore;

const ENTRY_COLUMNS: &str =
    "seq, time, actor_kind, actor_role, actor_id, action, subject, details, prev_hash, hash";

/// The last entry's seq and hash.
const HEAD: &str = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1";

fn corrupt(what: &str) -> StoreError {
    StoreError::Backend(format!("stored audit {what} is invalid"))
}

fn hash(raw: &str, what: &str) -> StoreResult<EntryHash> {
    EntryHash::from_hex(raw).map_err(|_| corrupt(what))
}

fn pseudonym(raw: Option<String>, what: &str) -> StoreResult<Option<PseudonymousId>> {
    raw.map(|s| PseudonymousId::parse(&s).map_err(|_| corrupt(what)))
        .transpose()
}

/// The row form of an actor: kind, role, id.
fn actor_columns(actor: &Actor) -> (&'static str, Option<&str>, Option<&str>) {
    match actor {
        Actor::System => ("system", None, None),
        Actor::User { id } => ("user", None, Some(id.as_str())),
        Actor::Operator { role, id } => ("operator", Some(role.as_str()), Some(id.as_str())),
    }
}

fn entry(row: &SqliteRow) -> StoreResult<AuditEntry> {
    let kind: String = col(row, "actor_kind")?;
    let role: Option<String> = col(row, "actor_role")?;
    let id = pseudonym(col(row, "actor_id")?, "actor id")?;
    let actor = match (kind.as_str(), role, id) {
        ("system", None, None) => Actor::System,
        ("user", None, Some(id)) => Actor::User { id },
        ("operator", Some(role), Some(id)) => Actor::Operator {
            role: OperatorRole::parse(&role).map_err(|_| corrupt("operator role"))?,
            id,
        },
        _ => return Err(corrupt("actor")),
    };
    let details: String = col(row, "details")?;
    let details = serde_json::from_str(&details)
        .ok()
        .and_then(|v| Details::new(v).ok())
        .ok_or_else(|| corrupt("details"))?;
    Ok(AuditEntry {
        seq: to_u64(col(row, "seq")?, "audit seq")?,
        time: col(row, "time")?,
        actor,
        action: EventKind::parse(&col::<String>(row, "action")?).map_err(|_| corrupt("action"))?,
        subject: pseudonym(col(row, "subject")?, "subject")?,
        details,
        prev_hash: hash(&col::<String>(row, "prev_hash")?, "prev_hash")?,
        hash: hash(&col::<String>(row, "hash")?, "hash")?,
    })
}

fn checkpoint(row: &SqliteRow) -> StoreResult<Checkpoint> {
    // The signature and key id parse through their serde forms.
    let value = serde_json::json!({
        "count": to_u64(col(row, "count")?, "checkpoint count")?,
        "head_hash": col::<String>(row, "head_hash")?,
        "time": col::<i64>(row, "time")?,
        "key_id": col::<String>(row, "key_id")?,
        "signature": col::<String>(row, "signature")?,
    });
    serde_json::from_value(value).map_err(|_| corrupt("checkpoint"))
}

impl SqliteStore {
    /// Read the head, chain the draft onto it and insert it, in one write
    /// transaction: the single writer (and SQLite's write lock, for another
    /// process) serialises appends, so two entries never share a seq.
    ///
    /// A write transaction: called only inside [`crate::store::detached`].
    pub(crate) async fn append_audit_entry(&self, draft: EntryDraft) -> StoreResult<AuditEntry> {
        const OP: &str = "appending to the audit log";
        let mut tx = self.begin_write(OP).await?;
        let head: Option<(i64, String)> = sqlx::query_as(HEAD)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db(OP))?;
        let mut chain = match head {
            None => Chain::new(),
            Some((seq, last)) => {
                let last = hash(last.as_str(), "hash")?;
                Chain::resume(to_u64(seq, "audit seq")?, last)
                    .map_err(|e| StoreError::Backend(format!("{OP}: {e}")))?
            }
        };
        let entry = chain.append(draft);
        let (kind, role, id) = actor_columns(&entry.actor);
        sqlx::query(&format!(
            "INSERT INTO audit_log ({ENTRY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
        ))
        .bind(to_i64(entry.seq))
        .bind(entry.time)
        .bind(kind)
        .bind(role)
        .bind(id)
        .bind(entry.action.as_str())
        .bind(entry.subject.as_ref().map(PseudonymousId::as_str))
        .bind(entry.details.canonical_json())
        .bind(entry.prev_hash.to_hex())
        .bind(entry.hash.to_hex())
        .execute(&mut *tx)
        .await
        .map_err(db(OP))?;
        tx.commit().await.map_err(db(OP))?;
        Ok(entry)
    }

    pub(crate) async fn audit_entries_after(
        &self,
        after_seq: u64,
        limit: u32,
    ) -> StoreResult<Vec<AuditEntry>> {
        sqlx::query(&format!(
            "SELECT {ENTRY_COLUMNS} FROM audit_log WHERE seq > ?1 ORDER BY seq LIMIT ?2"
        ))
        .bind(to_i64(after_seq))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(db("reading the audit log"))?
        .iter()
        .map(entry)
        .collect()
    }

    pub(crate) async fn audit_log_head(&self) -> StoreResult<(u64, EntryHash)> {
        let head: Option<(i64, String)> = sqlx::query_as(HEAD)
            .fetch_optional(&self.reader)
            .await
            .map_err(db("reading the audit log head"))?;
        match head {
            None => Ok((0, EntryHash::GENESIS)),
            Some((seq, last)) => Ok((to_u64(seq, "audit seq")?, hash(last.as_str(), "hash")?)),
        }
    }

    pub(crate) async fn insert_audit_checkpoint(&self, cp: &Checkpoint) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_checkpoints (count, head_hash, time, key_id, signature) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (count) DO NOTHING",
        )
        .bind(to_i64(cp.count))
        .bind(cp.head_hash.to_hex())
        .bind(cp.time)
        .bind(cp.key_id.to_string())
        .bind(String::from(cp.signature))
        .execute(&self.writer)
        .await
        .map_err(db("saving an audit checkpoint"))?;
        Ok(())
    }

    pub(crate) async fn all_audit_checkpoints(&self) -> StoreResult<Vec<Checkpoint>> {
        sqlx::query(
            "SELECT count, head_hash, time, key_id, signature FROM audit_checkpoints \
             ORDER BY count",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db("reading audit checkpoints"))?
        .iter()
        .map(checkpoint)
        .collect()
    }
}

impl SqliteStore {
    pub(crate) async fn audit_entries_about_subject(
        &self,
        subject: &PseudonymousId,
        after_seq: u64,
        limit: u32,
    ) -> StoreResult<Vec<AuditEntry>> {
        sqlx::query(&format!(
            "SELECT {ENTRY_COLUMNS} FROM audit_log WHERE subject = ?1 AND seq > ?2 \
             ORDER BY seq LIMIT ?3"
        ))
        .bind(subject.as_str())
        .bind(to_i64(after_seq))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(db("reading a user's audit entries"))?
        .iter()
        .map(entry)
        .collect()
    }
}
