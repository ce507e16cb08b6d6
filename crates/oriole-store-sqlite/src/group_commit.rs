//! Group commit for message appends: one task owns the append queue and
//! commits every append waiting in it in one transaction, so many messages
//! share one fsync. Each append runs in its own savepoint, so a failing
//! append (an unknown recipient, say) rolls back alone; each caller is
//! answered only after the transaction holding its append has committed.
//!
//! While one batch commits, the next one queues, so batches grow with load
//! and a lone message commits at once. When appends arrive fast, a batch
//! also waits up to two milliseconds for more (see [`pace`]): on a fast
//! disk the transaction's fixed cost, not the messages, otherwise fills
//! the core.
//!
//! sqlx runs SQLite on a worker thread and every statement is a round trip
//! to it (two context switches on a busy core), so a batch is written by a
//! handful of statements whatever its size (see [`batch`]): all message
//! rows, all inbox heads and all inbox entries each in one statement over
//! one bound BLOB of records. Only when that fails (a recipient deleted
//! meanwhile, say) is the batch redone one append per savepoint, so the
//! failure stays with the append that caused it.
//!
//! A message to a bot carries its outbox row, written in the same
//! transaction (one statement each: such messages are few).

use foldhash::{HashSet, HashSetExt};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use oriole_core::domain::{InboxSeq, Timestamp, UserId};
use oriole_core::store::{Appended, QueuedAppend, StoreError, StoreResult};
use oriole_proto::EventKind;
use sqlx::{Connection, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use crate::error::{col, db, parse_stored, to_u64};
use crate::group_inbox::{materialize_pending, GroupInbox, LogState, Written};
use crate::sharing::{insert_outbox, SealedDelivery};
use crate::store::{push_event, NewEvent, ORIGINAL_SEND};

pub(crate) mod batch;
mod pace;

use pace::Pace;

/// Appends committed together at most (bounds one transaction's size).
const MAX_BATCH: usize = 512;
/// Inbox entries (recipients, summed over appends) per batch at most: a
/// batch of large-group messages stops growing here.
const MAX_BATCH_ENTRIES: usize = 16_384;
/// Appends waiting for the writer at most before senders wait to enqueue.
const QUEUE_LEN: usize = 4096;
const OP: &str = "append message";

/// One message, its personal fields already sealed, ready to insert.
pub(crate) struct SealedAppend {
    pub id: oriole_core::domain::MessageId,
    pub sender: UserId,
    pub recipient: Option<String>,
    pub group: Option<String>,
    pub text: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    pub sent_at: Timestamp,
    pub idempotency_key: Option<String>,
    pub recipients: Vec<UserId>,
    /// A message to a bot: its delivery to the third party, queued in the
    /// same transaction so no acknowledged send goes unshared.
    pub outbox: Option<SealedDelivery>,
}

struct Job {
    append: SealedAppend,
    reply: oneshot::Sender<StoreResult<Appended>>,
}

/// How many appends went through how many transactions.
#[derive(Debug, Default)]
pub(crate) struct CommitStats {
    pub batches: AtomicU64,
    pub appends: AtomicU64,
}

/// The sending side of the append queue; cloned with the store.
#[derive(Clone)]
pub(crate) struct Appender {
    queue: mpsc::Sender<Job>,
    pub(crate) stats: Arc<CommitStats>,
}

impl Appender {
    /// Start the commit task on `writer` (the single writer connection).
    pub(crate) fn start(writer: SqlitePool, inbox: Arc<GroupInbox>) -> Appender {
        let (queue, jobs) = mpsc::channel(QUEUE_LEN);
        let stats = Arc::new(CommitStats::default());
        tokio::spawn(commit_loop(writer, inbox, jobs, stats.clone()));
        Appender { queue, stats }
    }

    /// Queue an append and wait until it is durably committed.
    pub(crate) async fn append(&self, append: SealedAppend) -> StoreResult<Appended> {
        self.queue(append).await?.await
    }

    /// Queue an append; the answer comes once it has committed. Appends
    /// queued after this one commit after it.
    pub(crate) async fn queue(&self, append: SealedAppend) -> StoreResult<QueuedAppend> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job { append, reply })
            .await
            .map_err(|_| StoreError::Backend("the store is closed".into()))?;
        Ok(QueuedAppend::waiting(answer))
    }
}

async fn commit_loop(
    writer: SqlitePool,
    inbox: Arc<GroupInbox>,
    mut jobs: mpsc::Receiver<Job>,
    stats: Arc<CommitStats>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut pace = Pace::default();
    while let Some(first) = jobs.recv().await {
        let started = Instant::now();
        let mut entries = first.append.recipients.len();
        batch.push(first);
        take_queued(&mut jobs, &mut batch, &mut entries);
        if let Some(wait) = pace.linger(started, batch.len()) {
            if entries < MAX_BATCH_ENTRIES {
                tokio::time::sleep(wait).await;
                take_queued(&mut jobs, &mut batch, &mut entries);
            }
        }
        pace.taken(started, batch.len());
        // Held until the pending heads reflect the commit (see group_inbox).
        let mut log = inbox.lock().await;
        let results = commit_batch(&writer, &inbox, &mut log, &batch).await;
        drop(log);
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats
            .appends
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        for (job, result) in batch.drain(..).zip(results) {
            // The caller may have given up (its task was cancelled); the
            // append is committed either way.
            let _ = job.reply.send(result);
        }
    }
}

/// Move what is queued into `batch`, up to the batch bounds.
fn take_queued(jobs: &mut mpsc::Receiver<Job>, batch: &mut Vec<Job>, entries: &mut usize) {
    while batch.len() < MAX_BATCH && *entries < MAX_BATCH_ENTRIES {
        match jobs.try_recv() {
            Ok(job) => {
                *entries += job.append.recipients.len();
                batch.push(job);
            }
            Err(_) => break,
        }
    }
}

/// Commit a batch; one result per job, in order. When the transaction
/// itself fails, every job gets the error (none of them was committed).
async fn commit_batch(
    writer: &SqlitePool,
    inbox: &GroupInbox,
    log: &mut LogState,
    batch: &[Job],
) -> Vec<StoreResult<Appended>> {
    let appends: Vec<&SealedAppend> = batch.iter().map(|job| &job.append).collect();
    match batch::commit(writer, inbox, log, &appends).await {
        Ok(results) => results.into_iter().map(Ok).collect(),
        Err(batch::Failed::Commit(e)) => batch.iter().map(|_| Err(clone_err(&e))).collect(),
        Err(batch::Failed::Retry(reason)) => {
            tracing::debug!(%reason, appends = batch.len(), "batch redone one append at a time");
            commit_one_by_one(writer, inbox, log, batch).await
        }
    }
}

/// The batch with one savepoint per append, so a failing append rolls back
/// alone; one result per job, in order. This slow path writes every entry
/// as a row: first every pending entry of everyone the batch reaches, then
/// each append's rows after them.
async fn commit_one_by_one(
    writer: &SqlitePool,
    inbox: &GroupInbox,
    log: &mut LogState,
    batch: &[Job],
) -> Vec<StoreResult<Appended>> {
    let failed = |e: StoreError| batch.iter().map(|_| Err(clone_err(&e))).collect();
    let mut tx = match writer.begin_with("BEGIN IMMEDIATE").await.map_err(db(OP)) {
        Ok(tx) => tx,
        Err(e) => return failed(e),
    };
    let mut written = Written::default();
    for job in batch {
        let mut reached = match reached(&mut tx, &job.append).await {
            Ok(users) => users,
            Err(e) => return failed(e),
        };
        // Both sides of a 1:1 message: their pairs move past it below.
        reached.push(job.append.sender);
        if let Some(peer) = job.append.recipient.as_deref().and_then(|r| r.parse().ok()) {
            reached.push(UserId(peer));
        }
        if let Err(e) = materialize_pending(&mut tx, inbox, reached, &mut written).await {
            return failed(e);
        }
    }
    let mut last_pos = log.last_pos;
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        last_pos += 1;
        let pos = last_pos;
        let result = async {
            let mut savepoint = tx.begin().await.map_err(db(OP))?;
            let appended = append_one(&mut savepoint, &job.append, pos).await?;
            savepoint.commit().await.map_err(db(OP))?;
            Ok(appended)
        }
        .await;
        // A failed append's savepoint was rolled back when it was dropped.
        results.push(result);
    }
    if let Err(e) = tx.commit().await.map_err(db(OP)) {
        return failed(e);
    }
    log.last_pos = last_pos;
    inbox.committed(&[], &written);
    results
}

/// Who an append gives an entry: a group's members as they are now (the
/// same list pending entries are later derived from), or a 1:1 message's
/// listed recipients.
async fn reached(conn: &mut SqliteConnection, msg: &SealedAppend) -> StoreResult<Vec<UserId>> {
    match &msg.group {
        Some(group) => members(conn, group).await,
        None => Ok(msg.recipients.clone()),
    }
}

async fn members(conn: &mut SqliteConnection, group: &str) -> StoreResult<Vec<UserId>> {
    let rows: Vec<String> =
        sqlx::query_scalar("SELECT user_id FROM group_members WHERE group_id = ?1 ORDER BY pos")
            .bind(group)
            .fetch_all(&mut *conn)
            .await
            .map_err(db(OP))?;
    rows.iter().map(|u| parse_stored(u, "user id")).collect()
}

fn clone_err(e: &StoreError) -> StoreError {
    match e {
        StoreError::Conflict(m) => StoreError::Conflict(m.clone()),
        StoreError::NotFound(m) => StoreError::NotFound(m.clone()),
        StoreError::Backend(m) => StoreError::Backend(m.clone()),
    }
}

/// The idempotency check, the message row at position `pos`, and one inbox
/// row per distinct recipient (a group's members, whose pending entries
/// the caller has written first: see [`commit_one_by_one`]).
async fn append_one(
    conn: &mut SqliteConnection,
    msg: &SealedAppend,
    pos: i64,
) -> StoreResult<Appended> {
    let id = msg.id.to_string();
    let sender = msg.sender.to_string();
    if let Some(key) = &msg.idempotency_key {
        let original = sqlx::query(ORIGINAL_SEND)
            .bind(&sender)
            .bind(key)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db(OP))?;
        if let Some(row) = original {
            let seq: Option<i64> = col(&row, "seq")?;
            return Ok(Appended::Duplicate {
                message_id: parse_stored(&col::<String>(&row, "id")?, "message id")?,
                sent_at: Timestamp(col(&row, "sent_at")?),
                sender_seq: InboxSeq(seq.map_or(Ok(0), |s| to_u64(s, "inbox seq"))?),
            });
        }
    }
    // The sender's foreign key is deferred (migration 0015): it is checked
    // at the outer COMMIT, where a gone sender would fail every append of
    // this pass. Checked here instead, so the failure stays with this one.
    let sender_exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM users WHERE id = ?1")
        .bind(&sender)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db(OP))?;
    if sender_exists.is_none() {
        return Err(StoreError::NotFound(format!(
            "{OP}: a referenced user, group or message does not exist"
        )));
    }
    if let Some(peer) = &msg.recipient {
        sqlx::query(
            "INSERT INTO direct_pairs (sender_id, recipient_id) VALUES (?1, ?2) \
             ON CONFLICT (sender_id, recipient_id) DO NOTHING",
        )
        .bind(&sender)
        .bind(peer)
        .execute(&mut *conn)
        .await
        .map_err(db(OP))?;
    }
    sqlx::query(
        "INSERT INTO messages \
         (rowid, id, sender_id, recipient_user_id, group_id, text, payload, sent_at, \
          idempotency_key, pair) \
         VALUES (?9, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, \
                 (SELECT pair FROM direct_pairs WHERE sender_id = ?2 AND recipient_id = ?3))",
    )
    .bind(&id)
    .bind(&sender)
    .bind(&msg.recipient)
    .bind(&msg.group)
    .bind(&msg.text)
    .bind(&msg.payload)
    .bind(msg.sent_at.millis())
    .bind(&msg.idempotency_key)
    .bind(pos)
    .execute(&mut *conn)
    .await
    .map_err(db(OP))?;

    let recipients = reached(&mut *conn, msg).await?;
    let mut seen = HashSet::with_capacity(recipients.len());
    let mut seqs = Vec::with_capacity(recipients.len());
    for &user in &recipients {
        if !seen.insert(user) {
            continue;
        }
        let event = NewEvent {
            user,
            kind: EventKind::Message,
            message_id: &id,
            actor: msg.sender,
            receipt: None,
            at: msg.sent_at,
        };
        seqs.push((user, push_event(&mut *conn, event, OP).await?));
    }
    if let Some(peer) = &msg.recipient {
        // Both sides' rows for this message are written (or, for a bot's
        // side, not owed): no one derives a pending entry from it.
        sqlx::query(
            "UPDATE direct_members SET synced_pos = ?3 \
             WHERE ((user_id = ?1 AND peer_id = ?2) OR (user_id = ?2 AND peer_id = ?1)) \
               AND synced_pos < ?3",
        )
        .bind(&sender)
        .bind(peer)
        .bind(pos)
        .execute(&mut *conn)
        .await
        .map_err(db(OP))?;
    }
    if let Some(group) = &msg.group {
        // Every member's row for this message is written.
        sqlx::query("UPDATE group_members SET synced_pos = ?2 WHERE group_id = ?1")
            .bind(group)
            .bind(pos)
            .execute(&mut *conn)
            .await
            .map_err(db(OP))?;
    }
    if let Some(out) = &msg.outbox {
        insert_outbox(&mut *conn, &out.delivery, &out.sealed, true).await?;
    }
    Ok(Appended::New {
        message_id: msg.id,
        sent_at: msg.sent_at,
        seqs,
    })
}
