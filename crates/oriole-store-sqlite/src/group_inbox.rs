//! A message is written once, not once per member of its conversation.
//!
//! Writing one inbox row per member cost the writer a B-tree insert in two
//! trees and at least one 4 KiB page per member per commit: 86% of the
//! server's time for groups of 100 (docs/benchmarks.md, fifth pass). Now a
//! group message is one `messages` row whose rowid is its **position** in
//! one log of all messages, assigned in commit order. A member's entry for
//! it is *pending*: it has its seq (handed to the fan-out at commit, as
//! before) but no row yet. The rows are written later, in bulk, by
//! [`materialize`], before anything needs them:
//!
//! - anything that reads a user's inbox (export, counts, holds), except
//!   a sync page when two pages hold the backlog ([`merges`]): it merges
//!   the pending entries into what it reads ([`INBOX_EVENTS_MERGED`]),
//!   numbered as they would be written, so a reconnecting user's small
//!   backlog is read without a write; and except a page that starts at or
//!   above the stored head, which reads the pending entries after where
//!   it starts ([`PENDING_PAGE`]), so a session catching up reads a large
//!   backlog without a write too;
//! - anything that appends a row to it (a 1:1 message, a receipt, a
//!   recall), so that row takes the seq after the pending ones;
//! - a member leaving, a group deleted, an account erased, retention
//!   deleting messages: anything after which the pending entries could no
//!   longer be derived.
//!
//! A 1:1 message is handled the same way (sixth pass, second half): its
//! sender's and recipient's entries are pending too. What they are derived
//! from is `direct_members`, one row per user and person they have a 1:1
//! conversation with, whose `synced_pos` plays the membership's part: the
//! messages between the two, either way, above it are pending (found by
//! each direction's number in `direct_pairs` and the
//! `messages_by_direct_pair` index). A message whose inbox entries are not
//! exactly its sender's and its recipient's (one to a bot that only a third
//! party receives) is written as rows, with the pair's rows moved past it.
//!
//! Opening the store writes none: it counts each user's pending entries to
//! know their head ([`GroupInbox::recover`]), so a crash loses nothing that
//! was acknowledged and a restart does not pay for the rows.
//!
//! The seqs are deterministic, which is what makes this safe: a member's
//! pending entries are the messages of their groups with a position above
//! their membership's `synced_pos`, in position order, numbered on from
//! the seq in `inbox_heads`. The commit task hands out exactly those seqs
//! (it numbers each member's entries in position order from the same
//! head), and `materialize` writes exactly those rows. Every transaction
//! that assigns positions or seqs, changes a membership or deletes messages
//! holds [`GroupInbox::lock`] until its commit is reflected in the pending
//! heads, so no two of them see different heads.

use std::sync::Mutex;

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use oriole_core::domain::UserId;
use oriole_core::store::{StoreError, StoreResult};
use sqlx::SqliteConnection;
use tokio::sync::MutexGuard;

use crate::error::{db, parse_stored, to_u64};

/// Pending entries a read writes per group per transaction at most
/// (see [`crate::SqliteStore::settle`]).
const SETTLE_CHUNK: u32 = 2000;

/// Users whose pending entries a transaction has written as rows.
///
/// This module's maps and sets, and the batch's, hash with foldhash
/// rather than std's SipHash: their keys are ids the server made, and
/// SipHash over them was 5.6% of the store's instructions per append
/// (docs/benchmarks.md, twenty-first pass). foldhash's seed is still
/// random per process.
pub(crate) type Written = HashSet<UserId>;

/// What only the holder of [`GroupInbox::lock`] may change.
#[derive(Debug)]
pub(crate) struct LogState {
    /// The newest position given to a committed message.
    pub last_pos: i64,
}

/// The pending entries of every user, in memory.
#[derive(Debug)]
pub(crate) struct GroupInbox {
    lock: tokio::sync::Mutex<LogState>,
    /// `(user, peer)` pairs known to have their `direct_members` row, so a
    /// batch inserts only the missing ones. Changed under [`Self::lock`].
    pairs: Mutex<HashSet<(UserId, UserId)>>,
    /// Users with pending entries, and their inbox head counting them.
    /// A user not here has none: their head is `inbox_heads.head`.
    pending: Mutex<HashMap<UserId, u64>>,
    /// Per user, the seq and position of the last pending entry a
    /// [`PENDING_PAGE`] read returned, where the next page starts. A seq
    /// keeps its message for good, so an entry never goes stale; it is only
    /// useful while that seq is above the stored head, which each page
    /// checks in its own snapshot.
    cursors: Mutex<HashMap<UserId, (u64, i64)>>,
}

impl GroupInbox {
    /// Opening the store: count the pending entries the last run left
    /// (their rows are written when first needed, as during a run), and
    /// start positions after the newest one used, by a message or by a
    /// membership's `synced_pos` (messages deleted by retention must not
    /// have their positions reused). Counting walks the same index range
    /// the rows would be written from, without writing: a million pending
    /// entries took 24 s to write at open and take a count to find.
    pub(crate) async fn recover(conn: &mut SqliteConnection) -> StoreResult<GroupInbox> {
        const OP: &str = "count pending inbox entries";
        let rows: Vec<(String, i64)> = sqlx::query_as(PENDING_HEADS)
            .fetch_all(&mut *conn)
            .await
            .map_err(db(OP))?;
        let mut pending = HashMap::with_capacity(rows.len());
        for (user, head) in rows {
            let user: UserId = parse_stored(&user, "user id")?;
            pending.insert(user, to_u64(head, "inbox head")?);
        }
        if !pending.is_empty() {
            tracing::info!(users = pending.len(), "users with pending inbox entries");
        }
        let last_pos: i64 = sqlx::query_scalar(
            "SELECT max(coalesce((SELECT max(rowid) FROM messages), 0), \
                        coalesce((SELECT max(synced_pos) FROM group_members), 0), \
                        coalesce((SELECT max(synced_pos) FROM direct_members), 0))",
        )
        .fetch_one(&mut *conn)
        .await
        .map_err(db(OP))?;
        Ok(GroupInbox {
            lock: tokio::sync::Mutex::new(LogState { last_pos }),
            pairs: Mutex::new(HashSet::new()),
            pending: Mutex::new(pending),
            cursors: Mutex::new(HashMap::new()),
        })
    }

    /// Exclusive right to assign positions and seqs; take it before the
    /// writer connection, never while holding it.
    pub(crate) async fn lock(&self) -> MutexGuard<'_, LogState> {
        self.lock.lock().await
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, u64>> {
        // A panic while holding this plain map leaves it consistent.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The user's head counting pending entries, if they have any.
    pub(crate) fn pending_head(&self, user: UserId) -> Option<u64> {
        self.pending().get(&user).copied()
    }

    pub(crate) fn has_pending(&self, user: UserId) -> bool {
        self.pending().contains_key(&user)
    }

    /// Every user with pending entries.
    pub(crate) fn pending_users(&self) -> Vec<UserId> {
        self.pending().keys().copied().collect()
    }

    /// The pairs among `pairs` without a known `direct_members` row.
    pub(crate) fn unknown_pairs(&self, pairs: &[(UserId, UserId)]) -> Vec<(UserId, UserId)> {
        let known = self.pairs.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<(UserId, UserId)> = Vec::new();
        for pair in pairs {
            if !known.contains(pair) && !out.contains(pair) {
                out.push(*pair);
            }
        }
        out
    }

    /// After a commit that stored these pairs' rows, under the lock.
    pub(crate) fn pairs_stored(&self, pairs: &[(UserId, UserId)]) {
        let mut known = self.pairs.lock().unwrap_or_else(|e| e.into_inner());
        known.extend(pairs.iter().copied());
    }

    /// After a commit that deleted `user`'s pair rows, either side, under
    /// the lock.
    pub(crate) fn forget_pairs(&self, user: UserId) {
        let mut known = self.pairs.lock().unwrap_or_else(|e| e.into_inner());
        known.retain(|(a, b)| *a != user && *b != user);
    }

    /// Where a page after `seq` of `user`'s pending entries starts, if a
    /// page ended there.
    pub(crate) fn cursor(&self, user: UserId, seq: u64) -> Option<i64> {
        let cursors = self.cursors.lock().unwrap_or_else(|e| e.into_inner());
        cursors
            .get(&user)
            .and_then(|&(at, pos)| (at == seq).then_some(pos))
    }

    /// A page of `user`'s pending entries ended at `seq`, the message at
    /// position `pos`.
    pub(crate) fn set_cursor(&self, user: UserId, seq: u64, pos: i64) {
        let mut cursors = self.cursors.lock().unwrap_or_else(|e| e.into_inner());
        cursors.insert(user, (seq, pos));
    }

    /// After a commit, under the lock: `heads` gained pending entries,
    /// `written` have none left.
    pub(crate) fn committed(&self, heads: &[(UserId, u64)], written: &HashSet<UserId>) {
        let mut pending = self.pending();
        let mut cursors = self.cursors.lock().unwrap_or_else(|e| e.into_inner());
        for user in written {
            pending.remove(user);
            // Nothing pending is left to continue from.
            cursors.remove(user);
        }
        drop(cursors);
        for &(user, head) in heads {
            pending.insert(user, head);
        }
    }
}

/// Every pending entry's user and position: group messages above the
/// membership's `synced_pos`, and 1:1 messages either way between a user
/// and a peer above their pair's (once for a message to oneself). The pair
/// is the outer loop (`CROSS JOIN` fixes SQLite's join order): otherwise,
/// for the messages a user received, SQLite derives
/// `recipient_user_id = ?` and walks every message they were ever sent.
macro_rules! pending_entries {
    ($members:literal, $pairs:literal) => {
        concat!(
            "SELECT gm.user_id AS u, m.rowid AS pos, m.id, m.sent_at FROM group_members AS gm \
             JOIN messages AS m ON m.group_id = gm.group_id AND m.rowid > gm.synced_pos \
             WHERE ",
            $members,
            " \
             UNION ALL \
             SELECT dm.user_id, m.rowid, m.id, m.sent_at FROM direct_members AS dm \
             CROSS JOIN direct_pairs AS dp \
               ON dp.sender_id = dm.user_id AND dp.recipient_id = dm.peer_id \
             CROSS JOIN messages AS m INDEXED BY messages_by_direct_pair \
               ON m.pair = dp.pair AND m.rowid > dm.synced_pos \
             WHERE ",
            $pairs,
            " \
             UNION ALL \
             SELECT dm.user_id, m.rowid, m.id, m.sent_at FROM direct_members AS dm \
             CROSS JOIN direct_pairs AS dp \
               ON dp.sender_id = dm.peer_id AND dp.recipient_id = dm.user_id \
             CROSS JOIN messages AS m INDEXED BY messages_by_direct_pair \
               ON m.pair = dp.pair AND m.rowid > dm.synced_pos \
             WHERE ",
            $pairs,
            " AND dm.peer_id <> dm.user_id"
        )
    };
}

/// Every user with pending entries, and their head counting them.
pub(crate) const PENDING_HEADS: &str = concat!(
    "SELECT p.u, \
            coalesce((SELECT h.head FROM inbox_heads AS h WHERE h.user_id = p.u), 0) \
              + count(*) AS head \
     FROM (",
    pending_entries!("true", "true"),
    ") AS p GROUP BY p.u"
);

/// ?1: the user, ?2: their stored head, ?3: positions below this only.
/// Their memberships and pairs by user, each one's messages above its
/// position by index. Nothing for a user whose account row is gone (their
/// entries go with it).
pub(crate) const WRITE_PENDING: &str = concat!(
    "INSERT INTO inbox (user_id, seq, kind, message_id, actor_id, receipt_kind, at) \
     SELECT ?1, ?2 + row_number() OVER (ORDER BY p.pos), 'message', p.id, NULL, NULL, \
            p.sent_at \
     FROM (",
    pending_entries!("gm.user_id = ?1", "dm.user_id = ?1"),
    ") AS p \
     WHERE p.pos < ?3 AND EXISTS (SELECT 1 FROM users WHERE id = ?1) \
     ORDER BY p.pos"
);

/// A page of user ?1's inbox after seq ?2, at most ?3 entries, with their
/// pending entries up to seq ?4 merged in as if they were written (?4: the
/// head the commit task published, read before this, so a page never shows
/// an entry above the head a later `inbox_head` returns, and no entry
/// below ?4 is missing: its commit is in this read's snapshot). Each one's
/// seq is the stored head plus its rank in position order, exactly the row
/// [`WRITE_PENDING`] would write, so a read needs no write. The stored rows
/// and the pending entries are each limited before they are merged, so a
/// page costs the page plus the user's pending entries (which
/// [`MERGE_MAX`] bounds), whatever the inbox's size. One statement, so one
/// snapshot: a settle committing meanwhile cannot make the halves disagree.
/// The columns are those of `INBOX_EVENTS` in `store.rs`.
pub(crate) const INBOX_EVENTS_MERGED: &str = concat!(
    "SELECT e.seq, e.kind, e.message_id, e.receipt_kind, e.at, \
            a.username AS actor_name, r.username AS to_name, \
            m.sender_id, m.group_id, m.text, m.payload, m.sent_at, m.recalled_at \
     FROM (SELECT * FROM (SELECT i.seq, i.kind, i.message_id, i.receipt_kind, i.at, \
                                 i.actor_id \
                          FROM inbox AS i WHERE i.user_id = ?1 AND i.seq > ?2 \
                          ORDER BY i.seq LIMIT ?3) \
           UNION ALL \
           SELECT * FROM (SELECT p.seq, 'message', p.id, NULL, p.sent_at, NULL \
                          FROM (SELECT coalesce((SELECT h.head FROM inbox_heads AS h \
                                                 WHERE h.user_id = ?1), 0) \
                                         + row_number() OVER (ORDER BY x.pos) AS seq, \
                                       x.id, x.sent_at \
                                FROM (",
    pending_entries!("gm.user_id = ?1", "dm.user_id = ?1"),
    ") AS x) AS p \
                          WHERE p.seq > ?2 AND p.seq <= ?4 \
                          ORDER BY p.seq LIMIT ?3)) AS e \
     JOIN messages AS m ON m.id = e.message_id \
     LEFT JOIN users AS a ON a.id = coalesce(e.actor_id, m.sender_id) \
     LEFT JOIN users AS r ON r.id = m.recipient_user_id \
     ORDER BY e.seq \
     LIMIT ?3"
);

/// User ?1's pending entries above position ?4 in every group and pair
/// (each arm's index range starts there, so nothing below is walked).
macro_rules! pending_above {
    () => {
        "SELECT m.rowid AS pos, m.id, m.sent_at FROM group_members AS gm \
         JOIN messages AS m ON m.group_id = gm.group_id AND m.rowid > max(gm.synced_pos, ?4) \
         WHERE gm.user_id = ?1 \
         UNION ALL \
         SELECT m.rowid, m.id, m.sent_at FROM direct_members AS dm \
         CROSS JOIN direct_pairs AS dp \
           ON dp.sender_id = dm.user_id AND dp.recipient_id = dm.peer_id \
         CROSS JOIN messages AS m INDEXED BY messages_by_direct_pair \
           ON m.pair = dp.pair AND m.rowid > max(dm.synced_pos, ?4) \
         WHERE dm.user_id = ?1 \
         UNION ALL \
         SELECT m.rowid, m.id, m.sent_at FROM direct_members AS dm \
         CROSS JOIN direct_pairs AS dp \
           ON dp.sender_id = dm.peer_id AND dp.recipient_id = dm.user_id \
         CROSS JOIN messages AS m INDEXED BY messages_by_direct_pair \
           ON m.pair = dp.pair AND m.rowid > max(dm.synced_pos, ?4) \
         WHERE dm.user_id = ?1 AND dm.peer_id <> dm.user_id"
    };
}

/// A page of user ?1's pending entries after seq ?2, at most ?3, where
/// ?4 is the position of the entry at seq ?2 (0 when ?2 is the stored
/// head), and none above seq ?5 (the published head, as in
/// [`INBOX_EVENTS_MERGED`]). The user's inbox is its rows up to the
/// stored head, then its pending entries numbered on in position order,
/// so while ?2 is at or above the stored head the entries after it are
/// exactly the pending ones above ?4, numbered on from ?2. Nothing comes
/// back when ?2 is below the stored head in this statement's snapshot
/// (a settle wrote past it meanwhile). Each group's and pair's walk stops
/// at the (?3 + 1)-th entry of the one that reaches it first, as
/// [`CHUNK_END`] bounds a settle's chunk: a page costs about a page per
/// group and pair, not the backlog, so a backlog of any size is read
/// without a write. The columns are those of [`INBOX_EVENTS_MERGED`] and
/// the last entry's position, `pos`.
pub(crate) const PENDING_PAGE: &str = concat!(
    "SELECT e.seq, 'message' AS kind, e.id AS message_id, NULL AS receipt_kind, \
            e.sent_at AS at, a.username AS actor_name, r.username AS to_name, \
            m.sender_id, m.group_id, m.text, m.payload, m.sent_at, m.recalled_at, e.pos \
     FROM (SELECT ?2 + row_number() OVER (ORDER BY x.pos) AS seq, x.pos, x.id, x.sent_at \
           FROM (",
    pending_above!(),
    ") AS x \
           WHERE ?2 >= coalesce((SELECT h.head FROM inbox_heads AS h WHERE h.user_id = ?1), 0) \
             AND x.pos < (SELECT min(coalesce( \
                   (SELECT min((SELECT m.rowid FROM messages AS m \
                                WHERE m.group_id = gm.group_id \
                                  AND m.rowid > max(gm.synced_pos, ?4) \
                                ORDER BY m.rowid LIMIT 1 OFFSET ?3)) \
                    FROM group_members AS gm WHERE gm.user_id = ?1), 9223372036854775807), \
                 coalesce( \
                   (SELECT min(min( \
                      coalesce((SELECT m.rowid FROM messages AS m \
                                  INDEXED BY messages_by_direct_pair \
                                WHERE m.pair = (SELECT dp.pair FROM direct_pairs AS dp \
                                                WHERE dp.sender_id = dm.user_id \
                                                  AND dp.recipient_id = dm.peer_id) \
                                  AND m.rowid > max(dm.synced_pos, ?4) \
                                ORDER BY m.rowid LIMIT 1 OFFSET ?3), 9223372036854775807), \
                      coalesce((SELECT m.rowid FROM messages AS m \
                                  INDEXED BY messages_by_direct_pair \
                                WHERE m.pair = (SELECT dp.pair FROM direct_pairs AS dp \
                                                WHERE dp.sender_id = dm.peer_id \
                                                  AND dp.recipient_id = dm.user_id) \
                                  AND m.rowid > max(dm.synced_pos, ?4) \
                                ORDER BY m.rowid LIMIT 1 OFFSET ?3), 9223372036854775807))) \
                    FROM direct_members AS dm WHERE dm.user_id = ?1), 9223372036854775807))) \
           ORDER BY x.pos LIMIT ?3) AS e \
     JOIN messages AS m ON m.id = e.id \
     LEFT JOIN users AS a ON a.id = m.sender_id \
     LEFT JOIN users AS r ON r.id = m.recipient_user_id \
     WHERE e.seq <= ?5 \
     ORDER BY e.seq"
);

/// The position of user ?1's pending entry at seq ?2, when ?2 is above
/// the stored head in this snapshot (no row otherwise).
/// Derives and sorts all the pending entries: paid once, where a page
/// that starts mid-backlog has no cursor yet (a session that was delivered
/// some entries live before it fell behind), and only for a backlog of at
/// most [`POSITION_MAX`].
pub(crate) const PENDING_POS_AT: &str = concat!(
    "SELECT p.pos FROM ( \
       SELECT x.pos, h.stored + row_number() OVER (ORDER BY x.pos) AS seq \
       FROM (",
    pending_entries!("gm.user_id = ?1", "dm.user_id = ?1"),
    ") AS x, \
            (SELECT coalesce((SELECT head FROM inbox_heads WHERE user_id = ?1), 0) AS stored) AS h \
     ) AS p \
     WHERE p.seq = ?2"
);

/// Pending entries a page that starts mid-backlog without a cursor derives
/// at most to find where it starts ([`PENDING_POS_AT`] sorts them all);
/// with more, the backlog is written first, which also
/// keeps a backlog that only live delivery reads from growing for good.
pub(crate) const POSITION_MAX: u64 = 20_000;

/// Pending entries a read merges at most (see [`INBOX_EVENTS_MERGED`]);
/// with more, the read writes them first, as a settle.
pub(crate) const MERGE_MAX: u64 = 2000;

/// Whether a page of `limit` merges a backlog of `pending` entries rather
/// than writing it first. Each merged page derives the whole backlog, so
/// reading it all by merging costs about backlog / limit derivations of
/// it, against one write of it: W2 with 2000 entries per user read in
/// pages of 256 drained half as fast merged, with 500 about as fast as
/// settling, and with a hundred users of 200 twice as fast, the settles
/// no longer taking turns at the writer (docs/benchmarks.md, eighth
/// pass). So merge only a backlog that two pages hold.
pub(crate) fn merges(pending: u64, limit: u32) -> bool {
    pending <= MERGE_MAX.min(2 * u64::from(limit))
}

/// Where a chunk of at most `?2` pending entries per group or pair of user
/// `?1` ends: the lowest, over their groups and pairs (each way), of the
/// position of the (`?2` + 1)-th pending message (NULL when none has that
/// many). Each is found in its own index order, without sorting the rest.
pub(crate) const CHUNK_END: &str = "\
    SELECT min(coalesce( \
      (SELECT min((SELECT m.rowid FROM messages AS m \
                   WHERE m.group_id = gm.group_id AND m.rowid > gm.synced_pos \
                   ORDER BY m.rowid LIMIT 1 OFFSET ?2)) \
       FROM group_members AS gm WHERE gm.user_id = ?1), 9223372036854775807), coalesce( \
      (SELECT min(min( \
         coalesce((SELECT m.rowid FROM messages AS m INDEXED BY messages_by_direct_pair \
                   WHERE m.pair = (SELECT dp.pair FROM direct_pairs AS dp \
                                   WHERE dp.sender_id = dm.user_id \
                                     AND dp.recipient_id = dm.peer_id) \
                     AND m.rowid > dm.synced_pos \
                   ORDER BY m.rowid LIMIT 1 OFFSET ?2), 9223372036854775807), \
         coalesce((SELECT m.rowid FROM messages AS m INDEXED BY messages_by_direct_pair \
                   WHERE m.pair = (SELECT dp.pair FROM direct_pairs AS dp \
                                   WHERE dp.sender_id = dm.peer_id \
                                     AND dp.recipient_id = dm.user_id) \
                     AND m.rowid > dm.synced_pos \
                   ORDER BY m.rowid LIMIT 1 OFFSET ?2), 9223372036854775807))) \
       FROM direct_members AS dm WHERE dm.user_id = ?1), 9223372036854775807))";

/// Write `user`'s pending group entries as inbox rows, in position order
/// after their stored head, and mark their memberships written up to each
/// group's newest message. Returns how many rows it wrote. Runs inside the
/// caller's write transaction, under [`GroupInbox::lock`].
pub(crate) async fn materialize(conn: &mut SqliteConnection, user: UserId) -> StoreResult<u64> {
    materialize_below(conn, user, None).await
}

/// One chunk of [`materialize`]: at most `per_group` entries of each of
/// the user's groups, a prefix of their pending entries in position order.
/// Returns whether none are left. A large backlog written in one
/// transaction would hold the writer, and every send behind it, for as
/// long as it takes.
pub(crate) async fn materialize_chunk(
    conn: &mut SqliteConnection,
    user: UserId,
    per_group: u32,
) -> StoreResult<bool> {
    let end: i64 = sqlx::query_scalar(CHUNK_END)
        .bind(user.to_string())
        .bind(i64::from(per_group))
        .fetch_one(&mut *conn)
        .await
        .map_err(db("write pending entries"))?;
    let end = (end != i64::MAX).then_some(end);
    materialize_below(conn, user, end).await?;
    Ok(end.is_none())
}

/// The pending entries below position `end` (all of them when `None`).
async fn materialize_below(
    conn: &mut SqliteConnection,
    user: UserId,
    end: Option<i64>,
) -> StoreResult<u64> {
    const OP: &str = "write pending entries";
    let id = user.to_string();
    let head: i64 =
        sqlx::query_scalar("SELECT coalesce((SELECT head FROM inbox_heads WHERE user_id = ?1), 0)")
            .bind(&id)
            .fetch_one(&mut *conn)
            .await
            .map_err(db(OP))?;
    let written = sqlx::query(WRITE_PENDING)
        .bind(&id)
        .bind(head)
        .bind(end.unwrap_or(i64::MAX))
        .execute(&mut *conn)
        .await
        .map_err(db(OP))?
        .rows_affected();
    if written == 0 {
        return Ok(0);
    }
    let n = i64::try_from(written)
        .map_err(|_| StoreError::Backend(format!("{OP}: too many entries")))?;
    sqlx::query(
        "INSERT INTO inbox_heads (user_id, head) VALUES (?1, ?2) \
         ON CONFLICT (user_id) DO UPDATE SET head = excluded.head",
    )
    .bind(&id)
    .bind(head + n)
    .execute(&mut *conn)
    .await
    .map_err(db(OP))?;
    let synced = match end {
        None => sqlx::query(
            "UPDATE group_members AS gm \
             SET synced_pos = (SELECT max(m.rowid) FROM messages AS m \
                               WHERE m.group_id = gm.group_id) \
             WHERE gm.user_id = ?1 \
               AND EXISTS (SELECT 1 FROM messages AS m \
                           WHERE m.group_id = gm.group_id AND m.rowid > gm.synced_pos)",
        )
        .bind(&id),
        // Every pending position below `end` is written, whatever group.
        Some(end) => sqlx::query(
            "UPDATE group_members SET synced_pos = ?2 - 1 \
             WHERE user_id = ?1 AND synced_pos < ?2 - 1",
        )
        .bind(&id)
        .bind(end),
    };
    synced.execute(&mut *conn).await.map_err(db(OP))?;
    // The same for their 1:1 pairs: every message up to the newest (or
    // below `end`) has its rows now.
    let pairs = match end {
        None => sqlx::query(
            "UPDATE direct_members \
             SET synced_pos = (SELECT coalesce(max(rowid), 0) FROM messages) \
             WHERE user_id = ?1 AND synced_pos < (SELECT coalesce(max(rowid), 0) FROM messages)",
        )
        .bind(&id),
        Some(end) => sqlx::query(
            "UPDATE direct_members SET synced_pos = ?2 - 1 \
             WHERE user_id = ?1 AND synced_pos < ?2 - 1",
        )
        .bind(&id)
        .bind(end),
    };
    pairs.execute(&mut *conn).await.map_err(db(OP))?;
    to_u64(n, "entries written")
}

/// [`materialize`] for each of `users` that has pending entries; the ones
/// written are added to `written` (for [`GroupInbox::committed`]).
pub(crate) async fn materialize_pending(
    conn: &mut SqliteConnection,
    inbox: &GroupInbox,
    users: impl IntoIterator<Item = UserId>,
    written: &mut HashSet<UserId>,
) -> StoreResult<()> {
    for user in users {
        if inbox.has_pending(user) && !written.contains(&user) {
            materialize(&mut *conn, user).await?;
            written.insert(user);
        }
    }
    Ok(())
}

impl crate::SqliteStore {
    /// `user`'s head counting pending entries, and how many entries are
    /// pending (the head less the stored one), when they have any. Read
    /// without the lock: the count is only an estimate while sends commit,
    /// enough to choose between merging and settling.
    pub(crate) async fn pending_backlog(&self, user: UserId) -> StoreResult<Option<(u64, u64)>> {
        let Some(head) = self.group_inbox.pending_head(user) else {
            return Ok(None);
        };
        let stored: Option<i64> =
            sqlx::query_scalar("SELECT head FROM inbox_heads WHERE user_id = ?1")
                .bind(user.to_string())
                .fetch_optional(&self.reader)
                .await
                .map_err(db("inbox head"))?;
        let stored = stored.map_or(Ok(0), |h| to_u64(h, "inbox head"))?;
        Ok(Some((head, head.saturating_sub(stored))))
    }

    /// Before reading `user`'s inbox rows: write their pending entries, in
    /// chunks of [`SETTLE_CHUNK`] per group, each in its own transaction,
    /// so sends are committed between chunks.
    ///
    /// The chunks run on a task of their own: a reader's future is often
    /// dropped mid-way (a session's catch-up loses a `select!` to the next
    /// frame, a client hangs up), and a transaction dropped there hands the
    /// writer back with its rollback still queued, so the next transaction
    /// on it fails to begin.
    pub(crate) async fn settle(&self, user: UserId) -> StoreResult<()> {
        if !self.group_inbox.has_pending(user) {
            return Ok(());
        }
        let store = self.clone();
        crate::store::detached(async move { store.settle_in_chunks(user, SETTLE_CHUNK).await })
            .await
    }

    pub(crate) async fn settle_in_chunks(&self, user: UserId, per_group: u32) -> StoreResult<()> {
        const OP: &str = "write pending entries";
        while self.group_inbox.has_pending(user) {
            let _log = self.group_inbox.lock().await;
            if !self.group_inbox.has_pending(user) {
                break;
            }
            let mut tx = self.begin_write(OP).await?;
            let done = materialize_chunk(&mut tx, user, per_group).await?;
            tx.commit().await.map_err(db(OP))?;
            if done {
                // The user's head stays what it was: only rows were written.
                self.group_inbox.committed(&[], &Written::from_iter([user]));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_read_merges_what_two_pages_hold_up_to_the_cap() {
        assert!(super::merges(1, 1));
        assert!(super::merges(512, 256));
        assert!(!super::merges(513, 256));
        assert!(super::merges(2000, 5000));
        assert!(!super::merges(2001, 5000));
    }

    use oriole_core::domain::{GroupId, GroupName, MessageBody, MessageId, Timestamp, Username};
    use oriole_core::store::{Appended, Conversation, GroupRecord, NewMessage, NewUser, Store};
    use oriole_crypto::PasswordHashString;
    use oriole_proto::GroupRole;

    use super::*;
    use crate::{SqliteOptions, SqliteStore};

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

    async fn group(store: &SqliteStore, members: &[UserId]) -> GroupId {
        let id = GroupId::generate();
        let roles: Vec<(UserId, GroupRole)> = members
            .iter()
            .enumerate()
            .map(|(i, &u)| {
                (
                    u,
                    if i == 0 {
                        GroupRole::Owner
                    } else {
                        GroupRole::Member
                    },
                )
            })
            .collect();
        let record = GroupRecord {
            id,
            name: GroupName::parse("g").expect("name"),
            history_visible: false,
            created_at: Timestamp(1),
        };
        store.create_group(record, &roles).await.expect("group");
        id
    }

    /// Sends to `g`; returns the message id and `to`'s seq for it.
    async fn send(
        store: &SqliteStore,
        from: UserId,
        g: GroupId,
        members: &[UserId],
        to: UserId,
    ) -> (MessageId, u64) {
        let msg = NewMessage {
            id: MessageId::generate(),
            sender: from,
            conversation: Conversation::Group(g),
            body: MessageBody::parse(Some("x".into()), None, 1024).expect("body"),
            sent_at: Timestamp(2),
            idempotency_key: None,
        };
        match store.append_message(msg, members).await.expect("append") {
            Appended::New {
                message_id, seqs, ..
            } => {
                let seq = seqs.iter().find(|(u, _)| *u == to).expect("to").1 .0;
                (message_id, seq)
            }
            other => panic!("not new: {other:?}"),
        }
    }

    async fn rows(store: &SqliteStore, user: UserId) -> Vec<(u64, String)> {
        sqlx::query_as::<_, (i64, String)>(
            "SELECT seq, message_id FROM inbox WHERE user_id = ?1 ORDER BY seq",
        )
        .bind(user.to_string())
        .fetch_all(&store.writer)
        .await
        .expect("rows")
        .into_iter()
        .map(|(s, m)| (s as u64, m))
        .collect()
    }

    /// Reads `user`'s inbox after `after` in pages of `limit` to its head.
    async fn read_all(
        store: &SqliteStore,
        user: UserId,
        mut after: u64,
        limit: u32,
    ) -> Vec<oriole_proto::InboxEvent> {
        let mut all = Vec::new();
        loop {
            let page = store
                .inbox_after(user, oriole_core::domain::InboxSeq(after), limit)
                .await
                .expect("page");
            assert!(page.len() <= limit as usize);
            let Some(last) = page.last() else { break };
            after = last.seq;
            all.extend(page);
        }
        all
    }

    /// A backlog larger than a read merges is read page by page where the
    /// read starts at or above the stored head (a session catching up),
    /// from the head or from the middle, without writing a row, and the
    /// pages are exactly what the settled rows read afterwards; a page
    /// that starts below a head a settle moved reads the rows.
    #[tokio::test]
    async fn a_large_backlog_is_read_in_pages_without_a_write() {
        let dir = tempfile::TempDir::new().expect("dir");
        let store = SqliteStore::open(&dir.path().join("o.db"), SqliteOptions::default())
            .await
            .expect("open");
        let (a, b, c) = (
            user(&store, "alice").await,
            user(&store, "bob").await,
            user(&store, "carol").await,
        );
        let g1 = group(&store, &[c, a, b]).await;
        let g2 = group(&store, &[b, a]).await;
        let mut expected = Vec::new();
        for i in 0..700u32 {
            let (id, seq) = match i % 5 {
                1 => send(&store, b, g2, &[b, a], a).await,
                3 => {
                    // 1:1 either way: pending on both sides too.
                    let (from, to) = if i % 2 == 0 { (a, b) } else { (b, a) };
                    let msg = NewMessage {
                        id: MessageId::generate(),
                        sender: from,
                        conversation: Conversation::Direct(to),
                        body: MessageBody::parse(Some("d".into()), None, 1024).expect("body"),
                        sent_at: Timestamp(3),
                        idempotency_key: None,
                    };
                    match store
                        .append_message(msg, &[from, to])
                        .await
                        .expect("append")
                    {
                        Appended::New {
                            message_id, seqs, ..
                        } => {
                            let seq = seqs.iter().find(|(u, _)| *u == a).expect("a").1 .0;
                            (message_id, seq)
                        }
                        other => panic!("not new: {other:?}"),
                    }
                }
                _ => send(&store, c, g1, &[c, a, b], a).await,
            };
            expected.push((seq, id.to_string()));
        }
        assert_eq!(
            expected.iter().map(|e| e.0).collect::<Vec<_>>(),
            (1..=700).collect::<Vec<u64>>()
        );
        assert!(!merges(700, 100), "too large to merge");
        assert!(rows(&store, a).await.is_empty(), "all pending");

        // From the stored head (0), then from the middle without a cursor.
        let from_start = read_all(&store, a, 0, 100).await;
        let mid = read_all(&store, a, 537, 64).await;
        assert!(rows(&store, a).await.is_empty(), "nothing written");
        assert_eq!(store.group_inbox.pending_head(a), Some(700));
        let got: Vec<(u64, String)> = from_start.iter().map(|e| (e.seq, e.id.clone())).collect();
        assert_eq!(got, expected);
        assert_eq!(mid, from_start[537..].to_vec());
        // Nothing after the head.
        assert!(read_all(&store, a, 700, 100).await.is_empty());

        // A settle writes the first chunk: a page below the new stored head
        // reads rows (after settling the rest); one above continues.
        {
            let _log = store.group_inbox.lock().await;
            let mut tx = store.begin_write("test").await.expect("tx");
            assert!(!materialize_chunk(&mut tx, a, 100).await.expect("chunk"));
            tx.commit().await.expect("commit");
        }
        let stored = rows(&store, a).await.len();
        assert!(stored > 0 && stored < 700, "{stored}");
        let above = read_all(&store, a, stored as u64 + 10, 50).await;
        assert_eq!(above, from_start[stored + 10..].to_vec());
        let below = read_all(&store, a, 5, 50).await;
        assert_eq!(below, from_start[5..].to_vec());
        assert_eq!(rows(&store, a).await, expected, "settled: the same rows");
        assert_eq!(read_all(&store, a, 0, 100).await, from_start);
    }

    /// A backlog written in chunks: each chunk is a prefix of the pending
    /// entries in seq order, at most the chunk size per group; the head
    /// stays what the fan-out was told; a message sent between chunks
    /// takes the seq after the whole backlog; the end matches the seqs
    /// handed out.
    #[tokio::test]
    async fn a_backlog_is_written_in_chunks_each_a_prefix_in_seq_order() {
        let dir = tempfile::TempDir::new().expect("dir");
        let store = SqliteStore::open(&dir.path().join("o.db"), SqliteOptions::default())
            .await
            .expect("open");
        let (a, b, c) = (
            user(&store, "alice").await,
            user(&store, "bob").await,
            user(&store, "carol").await,
        );
        let g1 = group(&store, &[c, a, b]).await;
        let g2 = group(&store, &[b, a]).await;
        let mut expected = Vec::new();
        for i in 0..12 {
            let sent = if i % 3 == 1 {
                send(&store, b, g2, &[b, a], a).await
            } else {
                send(&store, c, g1, &[c, a, b], a).await
            };
            expected.push((sent.1, sent.0.to_string()));
        }
        assert_eq!(
            expected.iter().map(|e| e.0).collect::<Vec<_>>(),
            (1..=12).collect::<Vec<u64>>()
        );
        assert!(rows(&store, a).await.is_empty(), "all pending");
        assert_eq!(store.group_inbox.pending_head(a), Some(12));

        let chunk = |store: &SqliteStore| {
            let store = store.clone();
            async move {
                let _log = store.group_inbox.lock().await;
                let mut tx = store.begin_write("test").await.expect("tx");
                let done = materialize_chunk(&mut tx, a, 2).await.expect("chunk");
                tx.commit().await.expect("commit");
                done
            }
        };
        assert!(!chunk(&store).await);
        let first = rows(&store, a).await;
        // 2 per group at most: g1 holds 1st, 3rd, 4th..., g2 the 2nd, 5th...
        assert_eq!(first, expected[..3].to_vec(), "a prefix, in seq order");
        assert_eq!(store.group_inbox.pending_head(a), Some(12));

        // A group message between chunks continues the whole backlog.
        let later = send(&store, c, g1, &[c, a, b], a).await;
        assert_eq!(later.1, 13);
        expected.push((later.1, later.0.to_string()));

        store.settle_in_chunks(a, 2).await.expect("settle");
        assert_eq!(rows(&store, a).await, expected);
        assert_eq!(store.group_inbox.pending_head(a), None);
        assert_eq!(store.inbox_head(a).await.expect("head").0, 13);
        store.close().await;
    }
}
