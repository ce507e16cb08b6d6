//! A whole batch of appends in one transaction and a few statements: at
//! most one lookup of earlier sends with the same idempotency keys, the
//! message rows a statement per 128 (each field a parameter of its own,
//! see [`insert_messages_sql`]), then one call carrying every inbox head
//! bump and every inbox entry, each kind bound as one BLOB of
//! fixed-layout records (see [`Records`]). Inbox seqs are
//! still gap-free and increasing per user: each head is bumped by the number
//! of entries the batch gives that user, and the entries take the seqs just
//! below the new head, in batch order. Messages to a bot add their outbox
//! row, one statement each, in the same transaction.

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use oriole_core::domain::{InboxSeq, Timestamp, UserId};
use oriole_core::store::{Appended, StoreError};
use sqlx::sqlite::SqliteArguments;
use sqlx::{Arguments, Sqlite, SqlitePool, Transaction};
use uuid::Uuid;

use super::{SealedAppend, OP};
use crate::error::{col, db, parse_stored, to_u64};
use crate::group_inbox::{materialize_pending, GroupInbox, LogState, Written};
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
/// the lookup records (?1: records, ?2: where each starts; see [`Records`]).
pub(crate) const ORIGINALS: &str = "\
    SELECT j.key AS pos, m.id, m.sent_at, \
           (SELECT i.seq FROM inbox AS i \
            WHERE i.message_id = m.id AND i.user_id = m.sender_id AND i.kind = 'message') AS seq \
    FROM json_each(?2) AS j \
    CROSS JOIN messages AS m \
      ON m.sender_id = CAST(substr(?1, j.value, 36) AS TEXT) \
     AND m.idempotency_key = \
         CAST(substr(?1, j.value + 46, CAST(substr(?1, j.value + 36, 10) AS INTEGER)) AS TEXT)";

/// The batch's 1:1 directions (?1, ?2: direction records and their
/// starts), each with its number: made at a direction's first message,
/// looked up once per direction, not per message. Each 1:1 message's row
/// carries it ([`WRITE`]). A statement of its own: sqlx binds a
/// statement's nameless parameters (those below its highest `?NNN` it does
/// not use) from a running count across the statements of one query, and
/// stops binding at the first past the last argument, so a statement
/// using only high numbers ahead of the others left [`WRITE`]'s last
/// statement unbound (its entry rows unwritten).
const DIRECTIONS: &str = "\
    INSERT INTO direct_pairs (sender_id, recipient_id) \
    SELECT CAST(substr(?1, value, 36) AS TEXT), CAST(substr(?1, value + 36, 36) AS TEXT) \
    FROM json_each(?2) WHERE true \
    ON CONFLICT (sender_id, recipient_id) DO NOTHING";

/// The batch's message rows, at most [`MESSAGE_ROWS`] per statement,
/// each field bound as a parameter of its own, nine per row. Cutting the
/// fields out of one BLOB with `substr`, `CAST` and `json_each`, as this
/// did before, was about a fifth of the commit thread's time in W1. The
/// parameters are nameless: SQLite finds a parameter's name by walking the
/// list of named ones, and sqlx asks for every parameter's name, so `?NNN`
/// numbers made binding a statement of n parameters take n² steps (over
/// half the server's CPU time in a W1 step, with 256 rows). A 1:1 row
/// takes its direction's number by lookup; a group row, whose recipient is
/// NULL, finds none.
///
/// `OR FAIL`, and the sender's foreign key deferred (migration 0015), so
/// that SQLite keeps no statement journal for it: a statement that may
/// abort part-way copies every page it first touches, so that it can be
/// undone alone, and this one never needs that (a failed batch is rolled
/// back whole and redone append by append).
fn insert_messages_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT OR FAIL INTO messages \
           (rowid, id, sender_id, recipient_user_id, group_id, text, payload, sent_at, \
            idempotency_key, pair) \
         SELECT column1, column2, column3, column4, column5, column6, column7, column8, \
                column9, \
                (SELECT dp.pair FROM direct_pairs AS dp \
                 WHERE dp.sender_id = column3 AND dp.recipient_id = column4) \
         FROM (VALUES ",
    );
    let row = format!("({})", ["?"; MESSAGE_PARAMS].join(", "));
    for n in 0..rows {
        if n > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&row);
    }
    sql.push(')');
    sql
}

/// Message rows per insert at most. A batch is written in statements of
/// this many rows, then of the powers of two below it, so that only
/// eight statements are ever prepared (and stay in sqlx's cache). At 256
/// rows a statement's parameter list (32 bytes a parameter) passed 64 KiB,
/// and glibc consolidates its free lists on every free of a chunk that
/// large: 1.5% of the runtime thread's time.
const MESSAGE_ROWS: usize = 128;
/// Parameters bound per message row.
const MESSAGE_PARAMS: usize = 9;

/// The insert of `rows` message rows, `rows` a power of two up to
/// [`MESSAGE_ROWS`]: made once each.
pub(crate) fn insert_messages(rows: usize) -> &'static str {
    static SQL: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
        (0..=MESSAGE_ROWS.trailing_zeros())
            .map(|k| insert_messages_sql(1 << k))
            .collect()
    });
    debug_assert!(rows.is_power_of_two() && rows <= MESSAGE_ROWS);
    &SQL[rows.trailing_zeros() as usize]
}

/// ?1, ?2: head records and their starts; ?3, ?4: entry records (see
/// [`Records`] for the layouts). sqlx's running count of nameless slots
/// (see [`DIRECTIONS`]) reaches 2 at the end of the first statement and 4
/// at the end of the second, within the four arguments: a statement added
/// here must keep it so. The new heads are read after it with [`HEADS`],
/// in one row: `RETURNING` gave one row per user, and sqlx hands each row
/// from SQLite's thread to the runtime's separately, a pair of thread
/// switches each on a busy core.
const WRITE: &str = "\
    INSERT INTO inbox_heads (user_id, head) \
    SELECT CAST(substr(?1, value, 36) AS TEXT), CAST(substr(?1, value + 36, 20) AS INTEGER) \
    FROM json_each(?2) WHERE true \
    ON CONFLICT (user_id) DO UPDATE SET head = head + excluded.head; \
    INSERT INTO inbox (user_id, seq, kind, message_id, actor_id, receipt_kind, at) \
    SELECT u, (SELECT h.head FROM inbox_heads AS h WHERE h.user_id = u) \
                - CAST(substr(?3, o + 72, 20) AS INTEGER), \
           'message', CAST(substr(?3, o + 36, 36) AS TEXT), \
           NULL, NULL, CAST(substr(?3, o + 92, 20) AS INTEGER) \
    FROM (SELECT value AS o, CAST(substr(?3, value, 36) AS TEXT) AS u FROM json_each(?4))";

/// The members of the batch's groups (?1: a JSON array of group ids),
/// one row per group with its member ids back to back. One row, not one
/// per member: sqlx hands each row from SQLite's thread to the runtime's
/// separately, and on a busy core every handoff is a pair of thread
/// switches (48,000 a second at 180,000 W3 deliveries a second).
const MEMBERS: &str = "\
    SELECT group_id, group_concat(user_id, '' ORDER BY pos) AS members FROM group_members \
    WHERE group_id IN (SELECT value FROM json_each(?1)) \
    GROUP BY group_id";

/// Stored heads (?1: a JSON array of user ids), in one row: `user:head`,
/// comma-separated (NULL when there are none).
const HEADS: &str = "\
    SELECT group_concat(user_id || ':' || head, ',') AS heads FROM inbox_heads \
    WHERE user_id IN (SELECT value FROM json_each(?1))";

/// Commit `batch` in one transaction; one outcome per append, in order.
///
/// A group message's members get pending entries (no rows: see
/// `group_inbox`), numbered from their pending or stored heads, except the
/// members who also get a 1:1 message in this batch: their pending entries
/// are written first, and all of their entries in the batch become rows,
/// so the 1:1 row takes the seq after everything before it. The caller
/// holds the group-inbox lock; the pending heads are updated after the
/// commit, before it is released.
pub(super) async fn commit(
    writer: &SqlitePool,
    inbox: &GroupInbox,
    log: &mut LogState,
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
    let retry_store = |e: StoreError| Failed::Retry(e.to_string());
    // Dropping `tx` on an error rolls everything back.
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await.map_err(retry)?;
    // Users whose pending entries this transaction writes.
    let mut written = Written::default();
    let mut duplicates = originals(&mut tx, inbox, &mut written, batch).await?;
    let members = group_members(&mut tx, batch, &duplicates).await?;
    let plan = Plan::new(batch, &duplicates, &members, &written, log.last_pos)?;
    let new_pairs = inbox.unknown_pairs(&plan.pairs);
    store_pairs(&mut tx, &new_pairs, log.last_pos).await?;
    materialize_pending(&mut tx, inbox, plan.row_users.iter().copied(), &mut written)
        .await
        .map_err(retry_store)?;
    let bases = pending_bases(&mut tx, inbox, &plan).await?;
    if !plan.directions.starts.is_empty() {
        sqlx::query(DIRECTIONS)
            .bind(&plan.directions.bytes)
            .bind(plan.directions.starts()?)
            .execute(&mut *tx)
            .await
            .map_err(retry)?;
    }
    write_messages(&mut tx, &plan.messages).await?;
    if !plan.entries.starts.is_empty() {
        sqlx::query(WRITE)
            .bind(&plan.heads.bytes)
            .bind(plan.heads.starts()?)
            .bind(&plan.entries.bytes)
            .bind(plan.entries.starts()?)
            .execute(&mut *tx)
            .await
            .map_err(retry)?;
    }
    let heads = stored_heads(&mut tx, plan.rows.keys().copied()).await?;
    // Members with rows for this batch's group messages: theirs are
    // written up to the batch's newest message of each group.
    for (group, user, pos) in &plan.synced {
        sqlx::query(
            "UPDATE group_members SET synced_pos = ?3 WHERE group_id = ?1 AND user_id = ?2",
        )
        .bind(group)
        .bind(user.to_string())
        .bind(pos)
        .execute(&mut *tx)
        .await
        .map_err(retry)?;
    }
    for (user, peer, pos) in &plan.direct_synced {
        sqlx::query(
            "UPDATE direct_members SET synced_pos = ?3 \
             WHERE user_id = ?1 AND peer_id = ?2 AND synced_pos < ?3",
        )
        .bind(user.to_string())
        .bind(peer.to_string())
        .bind(pos)
        .execute(&mut *tx)
        .await
        .map_err(retry)?;
    }
    for (i, append) in batch.iter().enumerate() {
        // A duplicate's delivery was queued with the original.
        if let (Some(out), false) = (&append.outbox, duplicates.contains_key(&i)) {
            insert_outbox(&mut tx, &out.delivery, &out.sealed, true)
                .await
                .map_err(|e| Failed::Retry(e.to_string()))?;
        }
    }
    tx.commit().await.map_err(|e| match e {
        // A sender's foreign key is checked here (it is deferred, see
        // [`insert_messages_sql`]), and rolled back with the rest when `tx`
        // is dropped: the append-by-append pass finds whose it was.
        sqlx::Error::Database(d) if d.kind() == sqlx::error::ErrorKind::ForeignKeyViolation => {
            Failed::Retry(db(OP)(sqlx::Error::Database(d)).to_string())
        }
        e => Failed::Commit(db(OP)(e)),
    })?;
    inbox.pairs_stored(&new_pairs);
    log.last_pos = plan.last_pos;
    let pending: Vec<(UserId, u64)> = plan
        .pending
        .iter()
        .map(|(user, n)| (*user, bases[user] + n))
        .collect();
    inbox.committed(&pending, &written);

    let mut out = Vec::with_capacity(batch.len());
    let mut entries = plan.seq_sources.into_iter();
    for (i, append) in batch.iter().enumerate() {
        if let Some(duplicate) = duplicates.remove(&i) {
            out.push(duplicate);
            continue;
        }
        let mut seqs = Vec::with_capacity(plan.entry_counts[i]);
        for source in entries.by_ref().take(plan.entry_counts[i]) {
            let seq = match source {
                SeqSource::Row { user, below_head } => {
                    let head = heads.get(&user).copied().ok_or_else(|| {
                        Failed::Commit(StoreError::Backend(format!(
                            "{OP}: the batch wrote no inbox head for a recipient"
                        )))
                    })?;
                    (user, to_u64(head - below_head, "inbox seq")?)
                }
                SeqSource::Pending { user, rank } => (user, bases[&user] + rank),
            };
            seqs.push((seq.0, InboxSeq(seq.1)));
        }
        out.push(Appended::New {
            message_id: append.id,
            sent_at: append.sent_at,
            seqs,
        });
    }
    Ok(out)
}

/// The `direct_members` rows of `pairs` that are not there yet, each
/// starting after `last_pos` (every earlier message between the two has
/// its rows). A pair whose user or peer is gone fails the foreign key, and
/// the batch is redone one append at a time, where that append fails alone.
async fn store_pairs(
    tx: &mut Transaction<'static, Sqlite>,
    pairs: &[(UserId, UserId)],
    last_pos: i64,
) -> Result<(), Failed> {
    if pairs.is_empty() {
        return Ok(());
    }
    let mut records = Records::with_capacity(pairs.len(), pairs.len() * 2 * ID_LEN);
    for (user, peer) in pairs {
        records.begin();
        records.id(user.0);
        records.id(peer.0);
    }
    sqlx::query(
        "INSERT INTO direct_members (user_id, peer_id, synced_pos) \
         SELECT CAST(substr(?1, value, 36) AS TEXT), CAST(substr(?1, value + 36, 36) AS TEXT), ?3 \
         FROM json_each(?2) WHERE true \
         ON CONFLICT (user_id, peer_id) DO NOTHING",
    )
    .bind(&records.bytes)
    .bind(records.starts()?)
    .bind(last_pos)
    .execute(&mut **tx)
    .await
    .map_err(|e| Failed::Retry(db(OP)(e).to_string()))?;
    Ok(())
}

/// Insert the batch's message rows: statements of [`MESSAGE_ROWS`] rows,
/// then of the largest power of two that fits what is left.
async fn write_messages(
    tx: &mut Transaction<'static, Sqlite>,
    messages: &MessageRows<'_>,
) -> Result<(), Failed> {
    let mut rest = messages.rows.as_slice();
    while !rest.is_empty() {
        let n = rest.len().min(MESSAGE_ROWS);
        // The largest power of two not above n.
        let n = 1 << (usize::BITS - 1 - n.leading_zeros());
        let (chunk, tail) = rest.split_at(n);
        // Sized at once: grown from empty, the list was copied nine times.
        let mut args = SqliteArguments::default();
        args.reserve(n * MESSAGE_PARAMS, 0);
        for row in chunk {
            bind_row(&mut args, messages, row)
                .map_err(|e| Failed::Retry(format!("{OP}: binding a row: {e}")))?;
        }
        sqlx::query_with(insert_messages(n), args)
            .execute(&mut **tx)
            .await
            .map_err(|e| Failed::Retry(db(OP)(e).to_string()))?;
        rest = tail;
    }
    Ok(())
}

/// One message row's parameters, in [`insert_messages_sql`]'s order.
fn bind_row<'q>(
    args: &mut SqliteArguments<'q>,
    messages: &'q MessageRows<'_>,
    row: &MessageRow<'q>,
) -> Result<(), sqlx::error::BoxDynError> {
    args.add(row.pos)?;
    args.add(messages.id(row.id))?;
    args.add(messages.id(row.id + ID_LEN))?;
    args.add(row.recipient)?;
    args.add(row.group)?;
    args.add(row.text)?;
    args.add(row.payload)?;
    args.add(row.sent_at)?;
    args.add(row.key)?;
    Ok(())
}

/// The stored heads of `users` (none for a user without one).
async fn stored_heads(
    tx: &mut Transaction<'static, Sqlite>,
    users: impl IntoIterator<Item = UserId>,
) -> Result<HashMap<UserId, i64>, Failed> {
    let ids: Vec<String> = users.into_iter().map(|u| u.to_string()).collect();
    let mut heads = HashMap::with_capacity(ids.len());
    if ids.is_empty() {
        return Ok(heads);
    }
    let list = serde_json::to_string(&ids)
        .map_err(|e| Failed::Retry(format!("encoding the batch: {e}")))?;
    let row: Option<String> = sqlx::query_scalar(HEADS)
        .bind(list)
        .fetch_one(&mut **tx)
        .await
        .map_err(|e| Failed::Retry(db(OP)(e).to_string()))?;
    let bad = || {
        Failed::Commit(StoreError::Backend(format!(
            "{OP}: a stored head is invalid"
        )))
    };
    for item in row
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .filter(|i| !i.is_empty())
    {
        let (user, head) = item.split_once(':').ok_or_else(bad)?;
        let head = head.parse::<i64>().map_err(|_| bad())?;
        heads.insert(parse_stored::<UserId>(user, "user id")?, head);
    }
    Ok(heads)
}

/// The members of every group the batch's new messages go to, in
/// membership order.
async fn group_members(
    tx: &mut Transaction<'static, Sqlite>,
    batch: &[&SealedAppend],
    duplicates: &HashMap<usize, Appended>,
) -> Result<HashMap<String, Vec<UserId>>, Failed> {
    let mut groups: Vec<&str> = Vec::new();
    for (i, append) in batch.iter().enumerate() {
        if let (Some(group), false) = (&append.group, duplicates.contains_key(&i)) {
            if !groups.contains(&group.as_str()) {
                groups.push(group);
            }
        }
    }
    let mut members: HashMap<String, Vec<UserId>> = groups
        .iter()
        .map(|g| ((*g).to_owned(), Vec::new()))
        .collect();
    if groups.is_empty() {
        return Ok(members);
    }
    let list = serde_json::to_string(&groups)
        .map_err(|e| Failed::Retry(format!("encoding the batch: {e}")))?;
    let rows = sqlx::query(MEMBERS)
        .bind(list)
        .fetch_all(&mut **tx)
        .await
        .map_err(|e| Failed::Retry(db(OP)(e).to_string()))?;
    for row in rows {
        let group: String = col(&row, "group_id")?;
        let ids: String = col(&row, "members")?;
        let list = members.entry(group).or_default();
        if ids.len() % ID_LEN != 0 {
            return Err(retry_record("a member id is not a hyphenated UUID"));
        }
        for at in (0..ids.len()).step_by(ID_LEN) {
            let id = ids
                .get(at..at + ID_LEN)
                .ok_or_else(|| retry_record("a member id is not a hyphenated UUID"))?;
            list.push(parse_stored(id, "user id")?);
        }
    }
    Ok(members)
}

/// Each user with pending entries in the batch: their head before it,
/// pending if they have pending entries already, else stored.
async fn pending_bases(
    tx: &mut Transaction<'static, Sqlite>,
    inbox: &GroupInbox,
    plan: &Plan<'_>,
) -> Result<HashMap<UserId, u64>, Failed> {
    let mut bases = HashMap::with_capacity(plan.pending.len());
    let mut stored = Vec::new();
    for &user in plan.pending.keys() {
        match inbox.pending_head(user) {
            Some(head) => {
                bases.insert(user, head);
            }
            None => {
                bases.insert(user, 0);
                stored.push(user);
            }
        }
    }
    for (user, head) in stored_heads(tx, stored).await? {
        bases.insert(user, to_u64(head, "inbox head")?);
    }
    Ok(bases)
}

impl From<StoreError> for Failed {
    /// A row that does not decode: after the commit, that is a failure of
    /// the committed batch, not a reason to write it again.
    fn from(e: StoreError) -> Self {
        Failed::Commit(e)
    }
}

/// The batch's appends whose idempotency key was used before, as the
/// outcome each gets. A sender whose copy of the original is still pending
/// has their pending entries written first (and added to `written`), so
/// the copy has its seq.
async fn originals(
    tx: &mut Transaction<'static, Sqlite>,
    inbox: &GroupInbox,
    written: &mut HashSet<UserId>,
    batch: &[&SealedAppend],
) -> Result<HashMap<usize, Appended>, Failed> {
    let mut positions = Vec::new();
    let mut lookups = Records::default();
    for (i, append) in batch.iter().enumerate() {
        if let Some(key) = &append.idempotency_key {
            positions.push(i);
            lookups.begin();
            lookups.id(append.sender.0);
            lookups.int(length(Some(key.len()))?, 10)?;
            lookups.bytes.extend_from_slice(key.as_bytes());
        }
    }
    let mut found = HashMap::new();
    if positions.is_empty() {
        return Ok(found);
    }
    let retry = |e: sqlx::Error| Failed::Retry(db(OP)(e).to_string());
    let rows = sqlx::query(ORIGINALS)
        .bind(&lookups.bytes)
        .bind(lookups.starts()?)
        .fetch_all(&mut **tx)
        .await
        .map_err(retry)?;
    for row in rows {
        let pos = usize::try_from(col::<i64>(&row, "pos")?)
            .ok()
            .and_then(|p| positions.get(p).copied())
            .ok_or_else(|| Failed::Retry("idempotency lookup out of range".into()))?;
        let mut seq: Option<i64> = col(&row, "seq")?;
        let message_id: String = col(&row, "id")?;
        let sender = batch[pos].sender;
        if seq.is_none() && inbox.has_pending(sender) {
            materialize_pending(tx, inbox, [sender], written)
                .await
                .map_err(|e| Failed::Retry(e.to_string()))?;
            seq = sqlx::query_scalar(
                "SELECT seq FROM inbox \
                 WHERE message_id = ?1 AND user_id = ?2 AND kind = 'message'",
            )
            .bind(&message_id)
            .bind(sender.to_string())
            .fetch_optional(&mut **tx)
            .await
            .map_err(retry)?;
        }
        found.insert(
            pos,
            Appended::Duplicate {
                message_id: parse_stored(&message_id, "message id")?,
                sent_at: Timestamp(col(&row, "sent_at")?),
                sender_seq: InboxSeq(seq.map_or(Ok(0), |s| to_u64(s, "inbox seq"))?),
            },
        );
    }
    Ok(found)
}

/// A batch's rows for one statement, bound as one BLOB of records back to
/// back plus a JSON array of where each starts (1-based, as `substr`
/// counts). SQLite cuts the fields out with `substr`, which on a BLOB is a
/// copy at an offset: binding each row as a nested JSON array made
/// `json_each` print it back to text and every `->>` parse it again, the
/// larger part of the writer's JSON time, and hex for the sealed fields.
///
/// Message rows are not records: their fields are bound one by one (see
/// [`insert_messages_sql`]).
///
/// Layouts (field widths in bytes):
/// - head: user (36), the number of entries the batch gives the user (20);
/// - entry: user (36), message id (36), distance below the new head (20),
///   at (20) (a `message` entry stores no actor: see
///   `store::push_event`);
/// - lookup of an earlier send: sender (36), key length (10), key;
/// - 1:1 direction: sender (36), recipient (36).
///
/// Ids are hyphenated UUIDs (36 characters; anything else sends the batch
/// down the one-append-at-a-time path). Integers are written in decimal
/// with a sign and zero-padded, which SQLite's CAST reads back exactly.
#[derive(Default)]
struct Records {
    bytes: Vec<u8>,
    starts: Vec<usize>,
}

/// Characters of a hyphenated UUID.
const ID_LEN: usize = 36;
/// Bytes of an entry record.
const ENTRY_LEN: usize = 2 * ID_LEN + 2 * 20;

impl Records {
    fn with_capacity(records: usize, bytes: usize) -> Records {
        Records {
            bytes: Vec::with_capacity(bytes),
            starts: Vec::with_capacity(records),
        }
    }

    fn begin(&mut self) {
        self.starts.push(self.bytes.len() + 1);
    }

    /// An id in its stored form, the hyphenated lower-case UUID.
    fn id(&mut self, id: Uuid) {
        let mut text = [0u8; ID_LEN];
        self.bytes
            .extend_from_slice(id.hyphenated().encode_lower(&mut text).as_bytes());
    }

    /// An id the append holds as text: it must be a stored id's 36
    /// characters for the fixed-width layout.
    fn id_text(&mut self, id: &str) -> Result<(), Failed> {
        if id.len() != ID_LEN {
            return Err(retry_record("an id is not a hyphenated UUID"));
        }
        self.bytes.extend_from_slice(id.as_bytes());
        Ok(())
    }

    /// A sign and zero-padded decimal digits, `width` bytes in all: what
    /// SQLite's CAST reads back exactly. 20 holds any i64, 10 any length
    /// below a billion.
    fn int(&mut self, n: i64, width: usize) -> Result<(), Failed> {
        let mut digits = [b'0'; 19];
        let mut rest = n.unsigned_abs();
        let mut first = digits.len();
        while rest > 0 {
            first -= 1;
            // A digit: below 10, so the cast is exact.
            digits[first] = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        let used = digits.len() - first;
        if used >= width {
            return Err(retry_record("a number does not fit its field"));
        }
        self.bytes.push(if n < 0 { b'-' } else { b'+' });
        self.bytes
            .extend_from_slice(&digits[digits.len() - (width - 1)..]);
        Ok(())
    }

    fn starts(&self) -> Result<String, Failed> {
        serde_json::to_string(&self.starts)
            .map_err(|e| Failed::Retry(format!("encoding the batch: {e}")))
    }
}

/// The batch's message rows as [`write_messages`] binds them.
#[derive(Default)]
struct MessageRows<'a> {
    /// Each row's message id and sender id, in stored form, back to back.
    ids: String,
    rows: Vec<MessageRow<'a>>,
}

/// One message row; its ids are in [`MessageRows::ids`] from `id` on.
struct MessageRow<'a> {
    pos: i64,
    id: usize,
    recipient: Option<&'a str>,
    group: Option<&'a str>,
    text: Option<&'a [u8]>,
    payload: Option<&'a [u8]>,
    sent_at: i64,
    key: Option<&'a str>,
}

impl<'a> MessageRows<'a> {
    fn with_capacity(rows: usize) -> Self {
        MessageRows {
            ids: String::with_capacity(rows * 2 * ID_LEN),
            rows: Vec::with_capacity(rows),
        }
    }

    fn push(&mut self, append: &'a SealedAppend, pos: i64) -> Result<(), Failed> {
        let (recipient, group) = match (&append.recipient, &append.group) {
            (Some(user), None) => (Some(user.as_str()), None),
            (None, Some(group)) => (None, Some(group.as_str())),
            _ => return Err(retry_record("a message has no single conversation")),
        };
        let id = self.ids.len();
        let mut text = [0u8; ID_LEN];
        self.ids
            .push_str(append.id.0.hyphenated().encode_lower(&mut text));
        self.ids
            .push_str(append.sender.0.hyphenated().encode_lower(&mut text));
        self.rows.push(MessageRow {
            pos,
            id,
            recipient,
            group,
            text: append.text.as_deref(),
            payload: append.payload.as_deref(),
            sent_at: append.sent_at.millis(),
            key: append.idempotency_key.as_deref(),
        });
        Ok(())
    }

    /// The id stored from `at` in [`MessageRows::ids`].
    fn id(&self, at: usize) -> &str {
        &self.ids[at..at + ID_LEN]
    }
}

/// Where an entry's seq comes from.
enum SeqSource {
    /// A row: this far below the user's new stored head.
    Row { user: UserId, below_head: i64 },
    /// A pending entry: the user's `rank`-th in the batch, after their head.
    Pending { user: UserId, rank: u64 },
}

/// What the write statement binds, and how to read the seqs back.
struct Plan<'a> {
    messages: MessageRows<'a>,
    heads: Records,
    entries: Records,
    /// The batch's 1:1 directions, each once.
    directions: Records,
    /// Per entry, in order.
    seq_sources: Vec<SeqSource>,
    /// Entries per append (0 for duplicates).
    entry_counts: Vec<usize>,
    /// Row entries per user in this batch.
    rows: HashMap<UserId, i64>,
    /// Pending entries per user in this batch.
    pending: HashMap<UserId, u64>,
    /// (group, member, position) for members given rows for the group's
    /// messages: the batch's newest position in that group.
    synced: Vec<(String, UserId, i64)>,
    /// (user, peer, position): the same for 1:1 pairs, and for both sides
    /// of a 1:1 message written as rows (see [`direct_pending`]).
    direct_synced: Vec<(UserId, UserId, i64)>,
    /// The (user, peer) pairs of the batch's 1:1 messages with pending
    /// entries, which must have their `direct_members` rows.
    pairs: Vec<(UserId, UserId)>,
    /// Users whose entries in this batch are all rows: their pending ones
    /// are written first.
    row_users: HashSet<UserId>,
    /// The newest position the batch gives a message.
    last_pos: i64,
}

impl<'a> Plan<'a> {
    /// `written`: users whose pending entries are already written in this
    /// transaction; like every recipient of a 1:1 message, they get rows.
    fn new(
        batch: &[&'a SealedAppend],
        duplicates: &HashMap<usize, Appended>,
        members: &HashMap<String, Vec<UserId>>,
        written: &HashSet<UserId>,
        last_pos: i64,
    ) -> Result<Plan<'a>, Failed> {
        let mut row_users: HashSet<UserId> = written.clone();
        let mut pairs = Vec::new();
        // Per append: the 1:1 pair its entries are derived from, if pending.
        let mut direct = Vec::with_capacity(batch.len());
        for (i, append) in batch.iter().enumerate() {
            let pair = match append.group {
                Some(_) => None,
                None if duplicates.contains_key(&i) => None,
                None => {
                    let pair = direct_pending(append)?;
                    match pair {
                        Some((user, peer)) => {
                            pairs.push((user, peer));
                            if user != peer {
                                pairs.push((peer, user));
                            }
                        }
                        // Written as rows, and both sides' pairs moved past.
                        None => {
                            row_users.insert(append.sender);
                            row_users.extend(append.recipients.iter().copied());
                            if let Some(peer) = recipient(append)? {
                                row_users.insert(peer);
                            }
                        }
                    }
                    pair
                }
            };
            direct.push(pair);
        }
        let mut rows: HashMap<UserId, i64> = HashMap::new();
        // Sized for the batch up front: growing them rehashed every key
        // again, a quarter of the batch's hashing.
        let mut pending: HashMap<UserId, u64> = HashMap::with_capacity(batch.len());
        let mut synced: HashMap<(&str, UserId), i64> = HashMap::new();
        let mut direct_synced: HashMap<(UserId, UserId), i64> = HashMap::new();
        // Per entry: its user, its rank among that user's entries of its
        // kind, whether it is a row, and its append.
        let mut ranked = Vec::new();
        let mut entry_counts = Vec::with_capacity(batch.len());
        let mut messages = MessageRows::with_capacity(batch.len());
        let mut directions = Records::default();
        let mut seen_directions: HashSet<(UserId, &str)> = HashSet::with_capacity(batch.len());
        let mut pos = last_pos;
        for (i, append) in batch.iter().enumerate() {
            if duplicates.contains_key(&i) {
                entry_counts.push(0);
                continue;
            }
            pos += 1;
            messages.push(append, pos)?;
            if let Some(peer) = &append.recipient {
                if seen_directions.insert((append.sender, peer.as_str())) {
                    directions.begin();
                    directions.id(append.sender.0);
                    directions.id_text(peer)?;
                }
            }
            let recipients: &[UserId] = match &append.group {
                Some(group) => members.get(group).map_or(&[], Vec::as_slice),
                None => &append.recipients,
            };
            let mut seen = HashSet::with_capacity(recipients.len());
            let before = ranked.len();
            for &user in recipients {
                if !seen.insert(user) {
                    continue;
                }
                if row_users.contains(&user) {
                    let count = rows.entry(user).or_default();
                    *count += 1;
                    ranked.push((user, *count, true, i));
                    if let Some(group) = &append.group {
                        synced.insert((group.as_str(), user), pos);
                    }
                    if let Some((sender, peer)) = direct[i] {
                        let other = if user == sender { peer } else { sender };
                        direct_synced.insert((user, other), pos);
                    }
                } else {
                    let count = pending.entry(user).or_default();
                    *count += 1;
                    ranked.push((user, *count as i64, false, i));
                }
            }
            entry_counts.push(ranked.len() - before);
            if append.group.is_none() && direct[i].is_none() {
                // No one derives an entry from a message written as rows.
                if let Some(peer) = recipient(append)? {
                    direct_synced.insert((append.sender, peer), pos);
                    direct_synced.insert((peer, append.sender), pos);
                }
            }
        }
        let mut heads = Records::with_capacity(rows.len(), rows.len() * (ID_LEN + 20));
        for (user, n) in &rows {
            heads.begin();
            heads.id(user.0);
            heads.int(*n, 20)?;
        }
        let mut entries = Records::with_capacity(ranked.len(), ranked.len() * ENTRY_LEN);
        let mut seq_sources = Vec::with_capacity(ranked.len());
        for (user, rank, row, i) in ranked {
            if !row {
                seq_sources.push(SeqSource::Pending {
                    user,
                    rank: rank as u64,
                });
                continue;
            }
            let below_head = rows[&user] - rank;
            let append = batch[i];
            entries.begin();
            entries.id(user.0);
            entries.id(append.id.0);
            entries.int(below_head, 20)?;
            entries.int(append.sent_at.millis(), 20)?;
            seq_sources.push(SeqSource::Row { user, below_head });
        }
        Ok(Plan {
            messages,
            heads,
            entries,
            directions,
            seq_sources,
            entry_counts,
            rows,
            pending,
            synced: synced
                .into_iter()
                .map(|((group, user), pos)| (group.to_owned(), user, pos))
                .collect(),
            direct_synced: direct_synced
                .into_iter()
                .map(|((user, peer), pos)| (user, peer, pos))
                .collect(),
            pairs,
            row_users,
            last_pos: pos,
        })
    }
}

/// A 1:1 message's recipient (None for a group message).
fn recipient(append: &SealedAppend) -> Result<Option<UserId>, Failed> {
    append
        .recipient
        .as_deref()
        .map(|r| {
            r.parse::<Uuid>()
                .map(UserId)
                .map_err(|_| retry_record("a recipient is not a user id"))
        })
        .transpose()
}

/// The (sender, recipient) pair a 1:1 message's entries are derived from
/// while pending (see `group_inbox`), when its entries are exactly its
/// sender's and its recipient's; None when they are not (a message to a
/// bot that only a third party receives), and it is written as rows.
fn direct_pending(append: &SealedAppend) -> Result<Option<(UserId, UserId)>, Failed> {
    let Some(peer) = recipient(append)? else {
        return Ok(None);
    };
    let sender = append.sender;
    let listed = |u: UserId| append.recipients.contains(&u);
    let exact = listed(sender)
        && listed(peer)
        && append.recipients.iter().all(|&u| u == sender || u == peer);
    Ok(exact.then_some((sender, peer)))
}

/// A field's length as a record holds it: -1 for NULL.
fn length(n: Option<usize>) -> Result<i64, Failed> {
    match n {
        None => Ok(-1),
        Some(n) if n < 1_000_000_000 => Ok(n as i64),
        Some(_) => Err(retry_record("a field is too long")),
    }
}

fn retry_record(why: &str) -> Failed {
    Failed::Retry(format!("{OP}: {why}"))
}

#[cfg(test)]
mod tests {
    use oriole_core::domain::{MessageId, Username};
    use oriole_core::store::{NewUser, Store};
    use oriole_crypto::PasswordHashString;
    use sqlx::Row;

    use super::*;
    use crate::{SqliteOptions, SqliteStore};

    #[tokio::test]
    async fn integers_read_back_exactly_through_cast() {
        let store = open().await.1;
        for (n, width) in [
            (i64::MIN, 20),
            (i64::MAX, 20),
            (-1, 20),
            (0, 20),
            (1_700_000_000_123, 20),
            (-1, 10),
            (0, 10),
            (131_072, 10),
        ] {
            let mut records = Records::default();
            records.int(n, width).ok().expect("fits");
            let text = String::from_utf8(records.bytes.clone()).expect("ascii");
            assert_eq!(text.len(), width, "{text}");
            // As the statements read them: a BLOB cut out of a BLOB.
            let back: i64 = sqlx::query_scalar("SELECT CAST(substr(?1, 1) AS INTEGER)")
                .bind(&records.bytes)
                .fetch_one(&store.writer)
                .await
                .expect("cast");
            assert_eq!(back, n, "{text}");
        }
        // What would not fit its field is refused, not written longer.
        assert!(Records::default().int(1_000_000_000, 10).is_err());
        assert!(Records::default().int(-1_000_000_000, 10).is_err());
        assert!(Records::default().id_text("not-a-uuid").is_err());
        store.close().await;
    }

    /// One batch through the commit task's path, holding its lock.
    async fn commit_now(
        store: &SqliteStore,
        batch: &[&SealedAppend],
    ) -> Result<Vec<Appended>, Failed> {
        let mut log = store.group_inbox.lock().await;
        let out = commit(&store.writer, &store.group_inbox, &mut log, batch).await;
        if let Err(Failed::Retry(why) | Failed::Commit(StoreError::Backend(why))) = &out {
            eprintln!("batch not committed: {why}");
        }
        out
    }

    async fn open() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::TempDir::new().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("o.db"), SqliteOptions::default())
            .await
            .expect("open");
        (dir, store)
    }

    async fn user(store: &SqliteStore, name: &str) -> UserId {
        let id = UserId::generate();
        store
            .create_user(NewUser {
                id,
                username: Username::parse(name).expect("name"),
                password_hash: PasswordHashString::from_stored("$argon2id$x".into()),
                phone: None,
                email: None,
                created_at: Timestamp(1),
            })
            .await
            .expect("user");
        id
    }

    fn direct(from: UserId, to: UserId, recipients: &[UserId]) -> SealedAppend {
        SealedAppend {
            id: MessageId::generate(),
            sender: from,
            recipient: Some(to.to_string()),
            group: None,
            text: Some(b"sealed text".to_vec()),
            payload: None,
            sent_at: Timestamp(1_700_000_000_000),
            idempotency_key: None,
            recipients: recipients.to_vec(),
            outbox: None,
        }
    }

    fn seqs(outcome: &Appended) -> Vec<(UserId, u64)> {
        match outcome {
            Appended::New { seqs, .. } => seqs.iter().map(|(u, s)| (*u, s.0)).collect(),
            Appended::Duplicate { .. } => panic!("not a new message: {outcome:?}"),
        }
    }

    /// A batch larger than one insert statement takes (here 128 + 128 +
    /// 32 + 8 + 2 + 1 rows): every row is stored with its own fields, in
    /// batch order, each 1:1 row with its direction's number and a group
    /// row with none. Four directions, one of them numbered by an earlier
    /// batch, the others new, first seen in an order that is not their
    /// numbers'.
    #[tokio::test]
    async fn a_large_batch_stores_every_field_of_every_row() {
        let (_dir, store) = open().await;
        let (a, b) = (user(&store, "alice").await, user(&store, "bob").await);
        let c = user(&store, "carol").await;
        let earlier = direct(c, b, &[c, b]);
        commit_now(&store, &[&earlier]).await.ok().expect("earlier");
        let gid = oriole_core::domain::GroupId::generate();
        store
            .create_group(
                oriole_core::store::GroupRecord {
                    id: gid,
                    name: oriole_core::domain::GroupName::parse("g").expect("name"),
                    history_visible: false,
                    created_at: Timestamp(1),
                },
                &[
                    (a, oriole_proto::GroupRole::Owner),
                    (b, oriole_proto::GroupRole::Member),
                ],
            )
            .await
            .expect("group");
        let total = 299;
        let batch: Vec<SealedAppend> = (0..total)
            .map(|i| {
                let mut append = match i % 6 {
                    0 => direct(a, b, &[a, b]),
                    1 => direct(b, a, &[b, a]),
                    3 => direct(a, c, &[a, c]),
                    4 => direct(c, b, &[c, b]),
                    _ => {
                        let mut group = direct(b, a, &[b]);
                        group.recipient = None;
                        group.group = Some(gid.to_string());
                        group
                    }
                };
                append.text = (i % 5 != 0).then(|| format!("text {i}").into_bytes());
                append.payload = (i % 4 == 0).then(|| vec![0, 1, 2, i as u8]);
                append.sent_at = Timestamp(1_700_000_000_000 + i as i64);
                append.idempotency_key = (i % 2 == 0).then(|| format!("key-{i}"));
                append
            })
            .collect();
        let refs: Vec<&SealedAppend> = batch.iter().collect();
        let out = commit_now(&store, &refs).await.ok().expect("batch");
        assert_eq!(out.len(), total);
        let rows = sqlx::query(
            "SELECT m.rowid AS pos, m.id, m.sender_id, m.recipient_user_id, m.group_id, \
                    m.text, m.payload, m.sent_at, m.idempotency_key, \
                    dp.sender_id AS pair_sender, dp.recipient_id AS pair_recipient \
             FROM messages AS m LEFT JOIN direct_pairs AS dp ON dp.pair = m.pair \
             WHERE m.id <> ?1 ORDER BY m.rowid",
        )
        .bind(earlier.id.to_string())
        .fetch_all(&store.reader)
        .await
        .expect("rows");
        assert_eq!(rows.len(), total);
        let mut last = i64::MIN;
        for (row, append) in rows.iter().zip(&batch) {
            let pos: i64 = row.get("pos");
            assert!(pos > last, "rows keep batch order");
            last = pos;
            assert_eq!(row.get::<String, _>("id"), append.id.to_string());
            assert_eq!(row.get::<String, _>("sender_id"), append.sender.to_string());
            assert_eq!(
                row.get::<Option<String>, _>("recipient_user_id"),
                append.recipient
            );
            assert_eq!(row.get::<Option<String>, _>("group_id"), append.group);
            assert_eq!(row.get::<Option<Vec<u8>>, _>("text"), append.text);
            assert_eq!(row.get::<Option<Vec<u8>>, _>("payload"), append.payload);
            assert_eq!(row.get::<i64, _>("sent_at"), append.sent_at.millis());
            assert_eq!(
                row.get::<Option<String>, _>("idempotency_key"),
                append.idempotency_key
            );
            // The direction the row's number names is the row's own.
            let pair = (
                row.get::<Option<String>, _>("pair_sender"),
                row.get::<Option<String>, _>("pair_recipient"),
            );
            match &append.recipient {
                Some(to) => assert_eq!(pair, (Some(append.sender.to_string()), Some(to.clone()))),
                None => assert_eq!(pair, (None, None)),
            }
        }
        store.close().await;
    }

    /// Several messages to the same users in one batch: each user's seqs
    /// follow batch order without gaps, a recipient listed twice gets one
    /// entry, and the stored inbox says the same as the outcomes.
    #[tokio::test]
    async fn one_batch_gives_each_user_consecutive_seqs_in_batch_order() {
        let (_dir, store) = open().await;
        let (a, b, c) = (
            user(&store, "alice").await,
            user(&store, "bob").await,
            user(&store, "carol").await,
        );
        // An earlier entry, so heads do not start at zero.
        let first = commit_now(&store, &[&direct(a, c, &[a, c])])
            .await
            .ok()
            .expect("first batch");
        assert_eq!(seqs(&first[0]), vec![(a, 1), (c, 1)]);

        // A group message reaches the members as stored (c, a, b), whatever
        // its recipients say. Every entry is pending (no row until the
        // user's inbox is read).
        let gid = oriole_core::domain::GroupId::generate();
        store
            .create_group(
                oriole_core::store::GroupRecord {
                    id: gid,
                    name: oriole_core::domain::GroupName::parse("g").expect("name"),
                    history_visible: false,
                    created_at: Timestamp(1),
                },
                &[
                    (c, oriole_proto::GroupRole::Owner),
                    (a, oriole_proto::GroupRole::Member),
                    (b, oriole_proto::GroupRole::Member),
                ],
            )
            .await
            .expect("group");
        let mut group = direct(c, a, &[c]);
        group.recipient = None;
        group.group = Some(gid.to_string());
        let batch = [
            direct(a, b, &[a, b]),
            direct(b, a, &[b, a]),
            group,
            direct(a, b, &[a, b, b]),
        ];
        let refs: Vec<&SealedAppend> = batch.iter().collect();
        let out = commit_now(&store, &refs).await.ok().expect("batch");
        assert_eq!(seqs(&out[0]), vec![(a, 2), (b, 1)]);
        assert_eq!(seqs(&out[1]), vec![(b, 2), (a, 3)]);
        assert_eq!(seqs(&out[2]), vec![(c, 2), (a, 4), (b, 3)]);
        assert_eq!(seqs(&out[3]), vec![(a, 5), (b, 4)]);
        let no_rows = |user: UserId| {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM inbox WHERE user_id = ?1")
                .bind(user.to_string())
                .fetch_one(&store.writer)
        };
        // 1:1 entries are pending too: c's first one as well.
        assert_eq!(
            no_rows(c).await.expect("count"),
            0,
            "c's entries are pending"
        );
        assert_eq!(
            no_rows(a).await.expect("count"),
            0,
            "a's entries are pending"
        );
        assert_eq!(store.group_inbox.pending_head(c), Some(2));
        for user in [a, b, c] {
            store.settle(user).await.expect("settle");
            assert_eq!(store.group_inbox.pending_head(user), None);
        }

        for (user, expected) in [
            (
                a,
                vec![
                    first_id(&first),
                    &batch[0].id,
                    &batch[1].id,
                    &batch[2].id,
                    &batch[3].id,
                ],
            ),
            (
                b,
                vec![&batch[0].id, &batch[1].id, &batch[2].id, &batch[3].id],
            ),
            (c, vec![first_id(&first), &batch[2].id]),
        ] {
            let rows =
                sqlx::query("SELECT seq, message_id FROM inbox WHERE user_id = ?1 ORDER BY seq")
                    .bind(user.to_string())
                    .fetch_all(&store.writer)
                    .await
                    .expect("inbox");
            let stored: Vec<(i64, String)> = rows
                .iter()
                .map(|r| (r.get("seq"), r.get("message_id")))
                .collect();
            let wanted: Vec<(i64, String)> = expected
                .iter()
                .enumerate()
                .map(|(n, id)| (n as i64 + 1, id.to_string()))
                .collect();
            assert_eq!(stored, wanted);
        }
        store.close().await;
    }

    fn first_id(out: &[Appended]) -> &MessageId {
        match &out[0] {
            Appended::New { message_id, .. } => message_id,
            Appended::Duplicate { message_id, .. } => message_id,
        }
    }

    /// Every field of a message row reads back as it was bound: NULL and
    /// empty apart, keys with JSON's special characters, negative times;
    /// a key used again in a later batch is a duplicate of the original.
    #[tokio::test]
    async fn message_rows_keep_every_field_and_keys_stay_idempotent() {
        let (_dir, store) = open().await;
        let (a, b) = (user(&store, "alice").await, user(&store, "bob").await);
        let mut odd = direct(a, b, &[a, b]);
        odd.idempotency_key = Some(r#"k"\/ {}[],"#.to_owned());
        odd.text = Some(Vec::new());
        odd.payload = Some((0..=255).collect());
        odd.sent_at = Timestamp(-42);
        let mut bare = direct(b, a, &[b, a]);
        bare.text = None;
        bare.idempotency_key = Some("plain".into());
        let out = commit_now(&store, &[&odd, &bare])
            .await
            .ok()
            .expect("batch");
        assert_eq!(out.len(), 2);

        for m in [&odd, &bare] {
            let row = sqlx::query(
                "SELECT sender_id, recipient_user_id, group_id, text, payload, sent_at, \
                 idempotency_key FROM messages WHERE id = ?1",
            )
            .bind(m.id.to_string())
            .fetch_one(&store.writer)
            .await
            .expect("row");
            assert_eq!(row.get::<String, _>("sender_id"), m.sender.to_string());
            assert_eq!(
                row.get::<Option<String>, _>("recipient_user_id"),
                m.recipient
            );
            assert_eq!(row.get::<Option<String>, _>("group_id"), m.group);
            assert_eq!(row.get::<Option<Vec<u8>>, _>("text"), m.text);
            assert_eq!(row.get::<Option<Vec<u8>>, _>("payload"), m.payload);
            assert_eq!(row.get::<i64, _>("sent_at"), m.sent_at.millis());
            assert_eq!(
                row.get::<Option<String>, _>("idempotency_key"),
                m.idempotency_key
            );
        }

        let mut again = direct(a, b, &[a, b]);
        again.idempotency_key = odd.idempotency_key.clone();
        let fresh = direct(a, b, &[a, b]);
        let out = commit_now(&store, &[&again, &fresh])
            .await
            .ok()
            .expect("retry");
        assert_eq!(
            out[0],
            Appended::Duplicate {
                message_id: odd.id,
                sent_at: odd.sent_at,
                sender_seq: InboxSeq(1),
            }
        );
        assert_eq!(seqs(&out[1]), vec![(a, 3), (b, 3)]);
        store.close().await;
    }
}
