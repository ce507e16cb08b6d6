//! A whole batch of appends in one transaction and a fixed number of
//! statements: at most one lookup of earlier sends with the same
//! idempotency keys, then one call carrying every message row, every inbox
//! head bump and every inbox entry as three JSON arrays. Inbox seqs are
//! still gap-free and increasing per user: each head is bumped by the number
//! of entries the batch gives that user, and the entries take the seqs just
//! below the new head, in batch order. Messages to a bot add their outbox
//! row, one statement each, in the same transaction.

use std::collections::{HashMap, HashSet};

use oriole_core::domain::{InboxSeq, Timestamp, UserId};
use oriole_core::store::{Appended, StoreError};
use sqlx::{Sqlite, SqlitePool, Transaction};

use super::{SealedAppend, OP};
use crate::error::{col, db, parse_stored, to_u64};
use crate::sharing::insert_outbox;

/// Why the batch was not committed.
pub(super) enum Failed {
    /// Nothing was written; the batch should be redone one append at a
    /// time, which commits what can be and pins each failure on its append.
    Retry(String),
    /// The commit itself failed: nothing of the batch is stored.
    Commit(StoreError),
}

/// Earlier sends with the same (sender, idempotency key), by position in
/// the bound array `[[sender, key], ...]`.
const ORIGINALS: &str = "\
    SELECT j.key AS pos, m.id, m.sent_at, \
           (SELECT i.seq FROM inbox AS i \
            WHERE i.message_id = m.id AND i.user_id = m.sender_id AND i.kind = 'message') AS seq \
    FROM json_each(?1) AS j \
    CROSS JOIN messages AS m \
      ON m.sender_id = j.value ->> 0 AND m.idempotency_key = j.value ->> 1";

/// ?1: `[[id, sender, recipient, group, text hex, payload hex, sent_at,
/// key], ...]`; ?2: `[[user, entries], ...]`, returning each new head;
/// ?3: `[[user, below head, message id, actor, at], ...]`.
const WRITE: &str = "\
    INSERT INTO messages \
      (id, sender_id, recipient_user_id, group_id, text, payload, sent_at, idempotency_key) \
    SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, \
           unhex(value ->> 4), unhex(value ->> 5), value ->> 6, value ->> 7 \
    FROM json_each(?1); \
    INSERT INTO inbox_heads (user_id, head) \
    SELECT value ->> 0, value ->> 1 FROM json_each(?2) WHERE true \
    ON CONFLICT (user_id) DO UPDATE SET head = head + excluded.head \
    RETURNING user_id, head; \
    INSERT INTO inbox (user_id, seq, kind, message_id, actor_id, receipt_kind, at) \
    SELECT j.value ->> 0, \
           (SELECT h.head FROM inbox_heads AS h WHERE h.user_id = j.value ->> 0) - (j.value ->> 1), \
           'message', j.value ->> 2, j.value ->> 3, NULL, j.value ->> 4 \
    FROM json_each(?3) AS j";

/// Commit `batch` in one transaction; one outcome per append, in order.
pub(super) async fn commit(
    writer: &SqlitePool,
    batch: &[&SealedAppend],
) -> Result<Vec<Appended>, Failed> {
    let mut keys = HashSet::new();
    for append in batch {
        if let Some(key) = &append.idempotency_key {
            if !keys.insert((append.sender, key.as_str())) {
                // The second must see the first as already sent.
                return Err(Failed::Retry(
                    "an idempotency key repeats within the batch".into(),
                ));
            }
        }
    }
    let retry = |e: sqlx::Error| Failed::Retry(db(OP)(e).to_string());
    // Dropping `tx` on an error rolls everything back.
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await.map_err(retry)?;
    let mut duplicates = originals(&mut tx, batch).await?;
    let plan = Plan::new(batch, &duplicates);
    let mut heads = HashMap::with_capacity(plan.users.len());
    if !plan.users.is_empty() {
        let rows = sqlx::query(WRITE)
            .bind(json(serde_json::to_string(&plan.messages))?)
            .bind(json(serde_json::to_string(&plan.heads))?)
            .bind(json(serde_json::to_string(&plan.entries))?)
            .fetch_all(&mut *tx)
            .await
            .map_err(retry)?;
        for row in rows {
            let user: UserId = parse_stored(&col::<String>(&row, "user_id")?, "user id")?;
            heads.insert(user, col::<i64>(&row, "head")?);
        }
    }
    for (i, append) in batch.iter().enumerate() {
        // A duplicate's delivery was queued with the original.
        if let (Some(out), false) = (&append.outbox, duplicates.contains_key(&i)) {
            insert_outbox(&mut tx, &out.delivery, &out.sealed, true)
                .await
                .map_err(|e| Failed::Retry(e.to_string()))?;
        }
    }
    tx.commit().await.map_err(|e| Failed::Commit(db(OP)(e)))?;

    let mut out = Vec::with_capacity(batch.len());
    let mut entries = plan.seq_sources.into_iter();
    for (i, append) in batch.iter().enumerate() {
        if let Some(duplicate) = duplicates.remove(&i) {
            out.push(duplicate);
            continue;
        }
        let mut seqs = Vec::with_capacity(append.recipients.len());
        for (user, below_head) in entries.by_ref().take(plan.entry_counts[i]) {
            let head = heads.get(&user).copied().ok_or_else(|| {
                Failed::Commit(StoreError::Backend(format!(
                    "{OP}: the batch wrote no inbox head for a recipient"
                )))
            })?;
            seqs.push((user, InboxSeq(to_u64(head - below_head, "inbox seq")?)));
        }
        out.push(Appended::New {
            message_id: append.id,
            sent_at: append.sent_at,
            seqs,
        });
    }
    Ok(out)
}

impl From<StoreError> for Failed {
    /// A row that does not decode: after the commit, that is a failure of
    /// the committed batch, not a reason to write it again.
    fn from(e: StoreError) -> Self {
        Failed::Commit(e)
    }
}

/// The batch's appends whose idempotency key was used before, as the
/// outcome each gets.
async fn originals(
    tx: &mut Transaction<'static, Sqlite>,
    batch: &[&SealedAppend],
) -> Result<HashMap<usize, Appended>, Failed> {
    let mut positions = Vec::new();
    let mut lookups = Vec::new();
    for (i, append) in batch.iter().enumerate() {
        if let Some(key) = &append.idempotency_key {
            positions.push(i);
            lookups.push((append.sender.to_string(), key.as_str()));
        }
    }
    let mut found = HashMap::new();
    if lookups.is_empty() {
        return Ok(found);
    }
    let rows = sqlx::query(ORIGINALS)
        .bind(json(serde_json::to_string(&lookups))?)
        .fetch_all(&mut **tx)
        .await
        .map_err(|e| Failed::Retry(db(OP)(e).to_string()))?;
    for row in rows {
        let pos = usize::try_from(col::<i64>(&row, "pos")?)
            .ok()
            .and_then(|p| positions.get(p).copied())
            .ok_or_else(|| Failed::Retry("idempotency lookup out of range".into()))?;
        let seq: Option<i64> = col(&row, "seq")?;
        found.insert(
            pos,
            Appended::Duplicate {
                message_id: parse_stored(&col::<String>(&row, "id")?, "message id")?,
                sent_at: Timestamp(col(&row, "sent_at")?),
                sender_seq: InboxSeq(seq.map_or(Ok(0), |s| to_u64(s, "inbox seq"))?),
            },
        );
    }
    Ok(found)
}

type MessageRow<'a> = (
    String,
    String,
    Option<&'a str>,
    Option<&'a str>,
    Option<String>,
    Option<String>,
    i64,
    Option<&'a str>,
);

/// What the write statement binds, and how to read the seqs back.
struct Plan<'a> {
    messages: Vec<MessageRow<'a>>,
    /// `(user, entries for the user in this batch)`, one per user.
    heads: Vec<(String, i64)>,
    /// `(user, distance below the new head, message id, actor, at)`.
    entries: Vec<(String, i64, String, String, i64)>,
    /// Per entry, in order: its user and distance below the new head.
    seq_sources: Vec<(UserId, i64)>,
    /// Entries per append (0 for duplicates).
    entry_counts: Vec<usize>,
    users: HashMap<UserId, i64>,
}

impl<'a> Plan<'a> {
    fn new(batch: &[&'a SealedAppend], duplicates: &HashMap<usize, Appended>) -> Plan<'a> {
        let mut users: HashMap<UserId, i64> = HashMap::new();
        // Per entry: its user and its rank among that user's entries.
        let mut ranked = Vec::new();
        let mut entry_counts = Vec::with_capacity(batch.len());
        let mut messages = Vec::new();
        for (i, append) in batch.iter().enumerate() {
            if duplicates.contains_key(&i) {
                entry_counts.push(0);
                continue;
            }
            messages.push((
                append.id.to_string(),
                append.sender.to_string(),
                append.recipient.as_deref(),
                append.group.as_deref(),
                append.text.as_deref().map(hex),
                append.payload.as_deref().map(hex),
                append.sent_at.millis(),
                append.idempotency_key.as_deref(),
            ));
            let mut seen = HashSet::with_capacity(append.recipients.len());
            let before = ranked.len();
            for &user in &append.recipients {
                if seen.insert(user) {
                    let count = users.entry(user).or_default();
                    *count += 1;
                    ranked.push((user, *count, i));
                }
            }
            entry_counts.push(ranked.len() - before);
        }
        let heads = users.iter().map(|(u, n)| (u.to_string(), *n)).collect();
        let mut entries = Vec::with_capacity(ranked.len());
        let mut seq_sources = Vec::with_capacity(ranked.len());
        for (user, rank, i) in ranked {
            let below_head = users[&user] - rank;
            let append = batch[i];
            entries.push((
                user.to_string(),
                below_head,
                append.id.to_string(),
                append.sender.to_string(),
                append.sent_at.millis(),
            ));
            seq_sources.push((user, below_head));
        }
        Plan {
            messages,
            heads,
            entries,
            seq_sources,
            entry_counts,
            users,
        }
    }
}

fn json(encoded: serde_json::Result<String>) -> Result<String, Failed> {
    encoded.map_err(|e| Failed::Retry(format!("encoding the batch: {e}")))
}

/// Lower-case hex, for SQLite's `unhex`.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::hex;

    #[test]
    fn hex_is_lower_case_two_digits_per_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(hex(&[]), "");
    }
}
