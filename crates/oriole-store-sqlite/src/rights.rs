//! The user-rights part of the SQLite store: display name and corrections,
//! the full device history, message counts, the export rate limit, and
//! erasing an account (shred first, then delete). The `Store` trait methods
//! in `store.rs` delegate here.

use oriole_core::domain::{DeviceId, Email, GroupId, Phone, Timestamp, UserId, Username};
use oriole_core::rights::{
    AccountErasure, CorrectionRecord, DeletionPurge, DisplayName, DsarRecord, ErasureSummary,
    FieldChange, MessageCounts, OwnedGroups, ProfileCorrection, PurgeStep, ReceiptGiven,
};
use oriole_core::store::{DeviceRecord, StoreError, StoreResult};
use oriole_proto::ReceiptKind;

use crate::error::{col, db, parse_stored, to_i64, to_u64, unique_violation_column};
use crate::group_inbox::{materialize_pending, Written};
use crate::personal::PersonalField;
use crate::SqliteStore;

/// How many messages user ?1 sent that still name them: their 1:1
/// messages, by the numbers of the directions they sent in, and their group
/// messages. A macro, to be part of larger statements.
macro_rules! sent_count {
    () => {
        "SELECT (SELECT count(*) FROM direct_pairs AS dp \
                 CROSS JOIN messages AS m INDEXED BY messages_by_direct_pair \
                   ON m.pair = dp.pair \
                 WHERE dp.sender_id = ?1) \
              + (SELECT count(*) FROM messages AS m INDEXED BY messages_by_group_sender \
                 WHERE m.sender_id = ?1 AND m.group_id IS NOT NULL)"
    };
}

/// How many messages user ?1 sent that still name them.
pub(crate) const SENT_COUNT: &str = sent_count!();

/// Clear the sender and content of at most ?2 messages user ?1 sent, and
/// their direction numbers, so each batch's walk starts at the messages
/// still to clear.
pub(crate) const PURGE_SENT: &str = "\
    UPDATE messages SET sender_id = NULL, text = NULL, payload = NULL, \
        idempotency_key = NULL, pair = NULL \
    WHERE rowid IN ( \
      SELECT m.rowid FROM direct_pairs AS dp \
      CROSS JOIN messages AS m INDEXED BY messages_by_direct_pair ON m.pair = dp.pair \
      WHERE dp.sender_id = ?1 \
      UNION ALL \
      SELECT m.rowid FROM messages AS m INDEXED BY messages_by_group_sender \
      WHERE m.sender_id = ?1 AND m.group_id IS NOT NULL \
      LIMIT ?2)";

/// The blind-index purpose of quarantined usernames.
const QUARANTINE_INDEX: &str = "username_quarantine";

/// A sealed value and its blind index, or `None` for both (cleared).
type SealedUpdate = Option<(Option<Vec<u8>>, Option<String>)>;

impl SqliteStore {
    pub(crate) async fn rights_display_name(
        &self,
        user: UserId,
    ) -> StoreResult<Option<DisplayName>> {
        let id = user.to_string();
        let sealed: Option<Option<Vec<u8>>> =
            sqlx::query_scalar("SELECT display_name FROM users WHERE id = ?1")
                .bind(&id)
                .fetch_optional(&self.reader)
                .await
                .map_err(db("display name"))?;
        let plain = self
            .personal
            .open(PersonalField::UserDisplayName, user, &id, sealed.flatten())
            .await?;
        plain
            .map(|n| DisplayName::parse(&n))
            .transpose()
            .map_err(|_| StoreError::Backend("stored display name is invalid".into()))
    }

    /// The sealed column value (and blind index, for looked-up fields) of a
    /// change; `None` when the field is kept.
    async fn sealed_change(
        &self,
        field: PersonalField,
        user: UserId,
        id: &str,
        change: FieldChange<(String, Option<String>)>,
    ) -> StoreResult<SealedUpdate> {
        Ok(match change {
            FieldChange::Keep => None,
            FieldChange::Clear => Some((None, None)),
            FieldChange::Set((value, normalised)) => {
                let sealed = self.personal.seal(field, user, id, Some(&value)).await?;
                let index = normalised.map(|n| self.personal.blind_index(field, &n));
                Some((sealed, index))
            }
        })
    }

    /// A write transaction: called only inside [`crate::store::detached`].
    pub(crate) async fn rights_correct_profile(
        &self,
        user: UserId,
        correction: &ProfileCorrection,
        at: Timestamp,
    ) -> StoreResult<()> {
        const OP: &str = "correct profile";
        let id = user.to_string();
        let name = match &correction.display_name {
            FieldChange::Keep => FieldChange::Keep,
            FieldChange::Clear => FieldChange::Clear,
            FieldChange::Set(n) => FieldChange::Set((n.as_str().to_owned(), None)),
        };
        let phone = match &correction.phone {
            FieldChange::Keep => FieldChange::Keep,
            FieldChange::Clear => FieldChange::Clear,
            FieldChange::Set(p) => FieldChange::Set((
                Phone::as_str(p).to_owned(),
                Some(Phone::as_str(p).to_owned()),
            )),
        };
        let email = match &correction.email {
            FieldChange::Keep => FieldChange::Keep,
            FieldChange::Clear => FieldChange::Clear,
            FieldChange::Set(e) => {
                FieldChange::Set((Email::as_str(e).to_owned(), Some(e.normalised())))
            }
        };
        // Sealed before taking the writer.
        let name = self
            .sealed_change(PersonalField::UserDisplayName, user, &id, name)
            .await?;
        let phone = self
            .sealed_change(PersonalField::UserPhone, user, &id, phone)
            .await?;
        let email = self
            .sealed_change(PersonalField::UserEmail, user, &id, email)
            .await?;

        let mut tx = self.begin_write(OP).await?;
        let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE id = ?1)")
            .bind(&id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db(OP))?;
        if !exists {
            return Err(StoreError::NotFound("no such user".into()));
        }
        if let Some((sealed, _)) = name {
            sqlx::query("UPDATE users SET display_name = ?2 WHERE id = ?1")
                .bind(&id)
                .bind(sealed)
                .execute(&mut *tx)
                .await
                .map_err(db(OP))?;
        }
        for (column, index_column, update, taken) in [
            ("phone", "phone_bidx", phone, "phone already in use"),
            ("email", "email_bidx", email, "email already in use"),
        ] {
            let Some((sealed, index)) = update else {
                continue;
            };
            sqlx::query(&format!(
                "UPDATE users SET {column} = ?2, {index_column} = ?3 WHERE id = ?1"
            ))
            .bind(&id)
            .bind(sealed)
            .bind(index)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                if unique_violation_column(&e).is_some() {
                    StoreError::Conflict(taken.into())
                } else {
                    db(OP)(e)
                }
            })?;
        }
        let changes = [
            (correction.display_name.is_keep(), "display_name", {
                matches!(correction.display_name, FieldChange::Clear)
            }),
            (correction.phone.is_keep(), "phone", {
                matches!(correction.phone, FieldChange::Clear)
            }),
            (correction.email.is_keep(), "email", {
                matches!(correction.email, FieldChange::Clear)
            }),
        ];
        for (kept, field, cleared) in changes {
            if kept {
                continue;
            }
            sqlx::query(
                "INSERT INTO profile_corrections (user_id, field, cleared, at) \
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .bind(&id)
            .bind(field)
            .bind(cleared)
            .bind(at.millis())
            .execute(&mut *tx)
            .await
            .map_err(db(OP))?;
        }
        tx.commit().await.map_err(db(OP))?;
        // An old value must not linger in the files.
        self.checkpoint("correction").await;
        Ok(())
    }

    pub(crate) async fn rights_corrections(
        &self,
        user: UserId,
    ) -> StoreResult<Vec<CorrectionRecord>> {
        let rows: Vec<(String, bool, i64)> = sqlx::query_as(
            "SELECT field, cleared, at FROM profile_corrections WHERE user_id = ?1 ORDER BY id",
        )
        .bind(user.to_string())
        .fetch_all(&self.reader)
        .await
        .map_err(db("corrections"))?;
        rows.into_iter()
            .map(|(field, cleared, at)| {
                Ok(CorrectionRecord {
                    field: parse_stored(&field, "corrected field")?,
                    cleared,
                    at: Timestamp(at),
                })
            })
            .collect()
    }

    pub(crate) async fn rights_device_history(
        &self,
        user: UserId,
    ) -> StoreResult<Vec<(DeviceRecord, Option<Timestamp>)>> {
        let rows = sqlx::query(
            "SELECT id, user_id, device_model, os_version, ip, first_seen, last_seen, revoked_at \
             FROM devices WHERE user_id = ?1 ORDER BY first_seen, id",
        )
        .bind(user.to_string())
        .fetch_all(&self.reader)
        .await
        .map_err(db("device history"))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let revoked: Option<i64> = col(row, "revoked_at")?;
            out.push((self.device(row).await?, revoked.map(Timestamp)));
        }
        Ok(out)
    }

    pub(crate) async fn rights_message_counts(&self, user: UserId) -> StoreResult<MessageCounts> {
        self.settle(user).await?;
        let id = user.to_string();
        let (sent, held): (i64, i64) = sqlx::query_as(concat!(
            "SELECT (",
            sent_count!(),
            "), (SELECT COUNT(*) FROM inbox WHERE user_id = ?1 AND kind = 'message')"
        ))
        .bind(&id)
        .fetch_one(&self.reader)
        .await
        .map_err(db("message counts"))?;
        // The inbox holds the user's own sends too (one copy each).
        let sent = to_u64(sent, "message count")?;
        let held = to_u64(held, "message count")?;
        Ok(MessageCounts {
            sent,
            received: held.saturating_sub(sent),
        })
    }

    pub(crate) async fn rights_last_export(&self, user: UserId) -> StoreResult<Option<Timestamp>> {
        let at: Option<i64> =
            sqlx::query_scalar("SELECT started_at FROM data_exports WHERE user_id = ?1")
                .bind(user.to_string())
                .fetch_optional(&self.reader)
                .await
                .map_err(db("last export"))?;
        Ok(at.map(Timestamp))
    }

    pub(crate) async fn rights_record_export(
        &self,
        user: UserId,
        at: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO data_exports (user_id, started_at) VALUES (?1, ?2) \
             ON CONFLICT (user_id) DO UPDATE SET started_at = excluded.started_at",
        )
        .bind(user.to_string())
        .bind(at.millis())
        .execute(&self.writer)
        .await
        .map_err(db("record export"))?;
        Ok(())
    }

    pub(crate) async fn rights_receipts_given(
        &self,
        user: UserId,
        after: Option<&ReceiptGiven>,
        limit: u32,
    ) -> StoreResult<Vec<ReceiptGiven>> {
        let (after_id, after_kind) = after.map_or((String::new(), ""), |r| {
            (r.message_id.to_string(), r.kind.as_str())
        });
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT message_id, kind, at FROM receipts \
             WHERE user_id = ?1 AND (message_id, kind) > (?2, ?3) \
             ORDER BY message_id, kind LIMIT ?4",
        )
        .bind(user.to_string())
        .bind(after_id)
        .bind(after_kind)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(db("receipts given"))?;
        rows.into_iter()
            .map(|(id, kind, at)| {
                Ok(ReceiptGiven {
                    message_id: parse_stored(&id, "message id")?,
                    kind: match kind.as_str() {
                        "delivered" => ReceiptKind::Delivered,
                        "read" => ReceiptKind::Read,
                        _ => {
                            return Err(StoreError::Backend(
                                "stored receipt kind is invalid".into(),
                            ))
                        }
                    },
                    at: Timestamp(at),
                })
            })
            .collect()
    }

    pub(crate) async fn rights_insert_data_request(&self, r: &DsarRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO data_requests (id, user_id, subject, kind, ticket, identity_check, \
             opened_by, opened_at, due_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .bind(r.id.to_string())
        .bind(r.user.map(|u| u.to_string()))
        .bind(&r.subject)
        .bind(r.kind.as_str())
        .bind(&r.ticket)
        .bind(&r.identity_check)
        .bind(&r.opened_by)
        .bind(r.opened_at.millis())
        .bind(r.due_at.millis())
        .execute(&self.writer)
        .await
        .map_err(db("insert data request"))?;
        Ok(())
    }

    pub(crate) async fn rights_data_requests(
        &self,
        user: Option<UserId>,
        id: Option<uuid::Uuid>,
    ) -> StoreResult<Vec<DsarRecord>> {
        let rows = sqlx::query(
            "SELECT id, user_id, subject, kind, ticket, identity_check, opened_by, opened_at, \
             due_at, completed_at, completed_by FROM data_requests \
             WHERE (?1 IS NULL OR user_id = ?1) AND (?2 IS NULL OR id = ?2) \
             ORDER BY opened_at, id",
        )
        .bind(user.map(|u| u.to_string()))
        .bind(id.map(|i| i.to_string()))
        .fetch_all(&self.reader)
        .await
        .map_err(db("data requests"))?;
        rows.iter()
            .map(|row| {
                Ok(DsarRecord {
                    id: parse_stored(&col::<String>(row, "id")?, "request id")?,
                    user: col::<Option<String>>(row, "user_id")?
                        .map(|u| parse_stored(&u, "user id"))
                        .transpose()?,
                    subject: col(row, "subject")?,
                    kind: parse_stored(&col::<String>(row, "kind")?, "request kind")?,
                    ticket: col(row, "ticket")?,
                    identity_check: col(row, "identity_check")?,
                    opened_by: col(row, "opened_by")?,
                    opened_at: Timestamp(col(row, "opened_at")?),
                    due_at: Timestamp(col(row, "due_at")?),
                    completed_at: col::<Option<i64>>(row, "completed_at")?.map(Timestamp),
                    completed_by: col(row, "completed_by")?,
                })
            })
            .collect()
    }

    pub(crate) async fn rights_complete_data_request(
        &self,
        id: uuid::Uuid,
        at: Timestamp,
        by: &str,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE data_requests SET completed_at = ?2, completed_by = ?3 \
             WHERE id = ?1 AND completed_at IS NULL",
        )
        .bind(id.to_string())
        .bind(at.millis())
        .bind(by)
        .execute(&self.writer)
        .await
        .map_err(db("complete data request"))?;
        Ok(done.rows_affected() > 0)
    }

    fn quarantine_index(&self, name: &Username) -> String {
        self.personal
            .blind_index_for(QUARANTINE_INDEX, name.as_str())
    }

    pub(crate) async fn rights_username_quarantined(
        &self,
        name: &Username,
        now: Timestamp,
    ) -> StoreResult<bool> {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM username_quarantine \
             WHERE username_bidx = ?1 AND until > ?2)",
        )
        .bind(self.quarantine_index(name))
        .bind(now.millis())
        .fetch_one(&self.reader)
        .await
        .map_err(db("username quarantined"))
    }

    /// A write transaction: called only inside [`crate::store::detached`].
    #[tracing::instrument(skip_all)]
    pub(crate) async fn rights_erase_account(
        &self,
        erasure: AccountErasure,
    ) -> StoreResult<ErasureSummary> {
        const OP: &str = "erase account";
        let id = erasure.user.to_string();
        let name: Option<String> = sqlx::query_scalar("SELECT username FROM users WHERE id = ?1")
            .bind(&id)
            .fetch_optional(&self.reader)
            .await
            .map_err(db(OP))?;
        let Some(name) = name else {
            return Err(StoreError::NotFound("no such user".into()));
        };
        let name = Username::parse(&name)
            .map_err(|_| StoreError::Backend("stored username is invalid".into()))?;
        // First, and before any row goes: from this moment every sealed
        // value of the user is unreadable, in this file and every copy.
        self.personal.shred(erasure.user).await?;

        let mut summary = ErasureSummary::default();
        let log = self.group_inbox.lock().await;
        let mut tx = self.begin_write(OP).await?;
        // Dissolved groups and dropped memberships take away what pending
        // entries are derived from: everyone's are written first (erasure
        // is rare; the user's own are counted and purged with the rest).
        let mut written = Written::default();
        let pending = self.group_inbox.pending_users();
        materialize_pending(&mut tx, &self.group_inbox, pending, &mut written).await?;
        let devices: Vec<String> = sqlx::query_scalar("SELECT id FROM devices WHERE user_id = ?1")
            .bind(&id)
            .fetch_all(&mut *tx)
            .await
            .map_err(db(OP))?;
        summary.devices = devices
            .iter()
            .map(|d| parse_stored::<DeviceId>(d, "device id"))
            .collect::<StoreResult<_>>()?;

        let owned: Vec<String> = sqlx::query_scalar(
            "SELECT group_id FROM group_members WHERE user_id = ?1 AND role = 'owner'",
        )
        .bind(&id)
        .fetch_all(&mut *tx)
        .await
        .map_err(db(OP))?;
        for group in owned {
            let _: GroupId = parse_stored(&group, "group id")?;
            let heir: Option<String> = match erasure.owned_groups {
                OwnedGroups::Dissolve => None,
                OwnedGroups::Transfer => sqlx::query_scalar(
                    "SELECT user_id FROM group_members WHERE group_id = ?1 AND user_id <> ?2 \
                     ORDER BY CASE role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 ELSE 2 END, \
                              joined_at, pos \
                     LIMIT 1",
                )
                .bind(&group)
                .bind(&id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db(OP))?,
            };
            match heir {
                Some(heir) => {
                    sqlx::query(
                        "UPDATE group_members SET role = 'owner' \
                         WHERE group_id = ?1 AND user_id = ?2",
                    )
                    .bind(&group)
                    .bind(heir)
                    .execute(&mut *tx)
                    .await
                    .map_err(db(OP))?;
                    summary.groups_transferred += 1;
                }
                None => {
                    sqlx::query("DELETE FROM groups WHERE id = ?1")
                        .bind(&group)
                        .execute(&mut *tx)
                        .await
                        .map_err(db(OP))?;
                    summary.groups_dissolved += 1;
                }
            }
        }
        let deleted = |sql: &'static str| sqlx::query(sql).bind(id.clone());
        summary.memberships = deleted("DELETE FROM group_members WHERE user_id = ?1")
            .execute(&mut *tx)
            .await
            .map_err(db(OP))?
            .rows_affected();
        summary.corrections = deleted("DELETE FROM profile_corrections WHERE user_id = ?1")
            .execute(&mut *tx)
            .await
            .map_err(db(OP))?
            .rows_affected();
        // Counted (by index) for the receipt, removed by the purge.
        let count = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql).bind(id.clone());
        summary.inbox_entries = to_u64(
            count("SELECT COUNT(*) FROM inbox WHERE user_id = ?1")
                .fetch_one(&mut *tx)
                .await
                .map_err(db(OP))?,
            "inbox count",
        )?;
        summary.messages_tombstoned = to_u64(
            count(SENT_COUNT)
                .fetch_one(&mut *tx)
                .await
                .map_err(db(OP))?,
            "message count",
        )?;
        // Every other row that names the user (devices, consents, sharing,
        // exports, requests... whatever later migrations add), as the
        // account row's own ON DELETE actions would, nested cascades
        // included; the bulk tables are left to the purge.
        let children: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT m.name, f.\"from\", f.on_delete \
             FROM sqlite_master AS m, pragma_foreign_key_list(m.name) AS f \
             WHERE m.type = 'table' AND f.\"table\" = 'users' \
               AND m.name NOT IN ('inbox', 'receipts', 'messages') \
             ORDER BY m.name",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(db(OP))?;
        for (table, column, on_delete) in children {
            let sql = match on_delete.as_str() {
                "SET NULL" => {
                    format!("UPDATE \"{table}\" SET \"{column}\" = NULL WHERE \"{column}\" = ?1")
                }
                _ => format!("DELETE FROM \"{table}\" WHERE \"{column}\" = ?1"),
            };
            sqlx::query(&sql)
                .bind(&id)
                .execute(&mut *tx)
                .await
                .map_err(db(OP))?;
        }
        sqlx::query(
            "INSERT INTO username_quarantine (username_bidx, until) VALUES (?1, ?2) \
             ON CONFLICT (username_bidx) DO UPDATE SET until = MAX(until, excluded.until)",
        )
        .bind(self.quarantine_index(&name))
        .bind(erasure.quarantine_until.millis())
        .execute(&mut *tx)
        .await
        .map_err(db(OP))?;
        // No login between this commit and the row's removal below.
        deleted("UPDATE users SET password_hash = '' WHERE id = ?1")
            .execute(&mut *tx)
            .await
            .map_err(db(OP))?;
        sqlx::query(
            "INSERT INTO deletion_purges (user_id, requested_at) VALUES (?1, ?2) \
             ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(&id)
        .bind(erasure.at.millis())
        .execute(&mut *tx)
        .await
        .map_err(db(OP))?;
        tx.commit().await.map_err(db(OP))?;
        self.group_inbox.committed(&[], &written);
        // Its 1:1 pair rows went with the loop above: a send to it from
        // here on must find the account row, or fail.
        self.group_inbox.forget_pairs(erasure.user);
        drop(log);
        // The account row last: login and the name's lookup fail from here
        // on. Phone, email, display name and their indexes go with it.
        self.delete_user_row(erasure.user).await?;
        // secure_delete zeroed the pages; move them out of the WAL too.
        self.checkpoint("erase account").await;
        Ok(summary)
    }

    /// Delete the account row alone, leaving the rows the purge removes
    /// (inbox, receipts, sent messages) in place: their `ON DELETE` actions
    /// are what would make the deletion as slow as the account is large.
    /// `PRAGMA foreign_keys` only changes outside a transaction, so it is
    /// turned off on the (single) writer connection for this one statement;
    /// a connection that could not turn it back on is closed, never reused.
    /// The three statements run on a task of their own: a caller whose
    /// future is dropped mid-way (a client that hangs up) must not hand the
    /// writer back to the pool with foreign keys off.
    async fn delete_user_row(&self, user: UserId) -> StoreResult<()> {
        const OP: &str = "delete account row";
        let writer = self.writer.clone();
        let task = tokio::spawn(async move {
            let mut conn = writer.acquire().await.map_err(db(OP))?;
            sqlx::query("PRAGMA foreign_keys = OFF")
                .execute(&mut *conn)
                .await
                .map_err(db(OP))?;
            let deleted = sqlx::query("DELETE FROM users WHERE id = ?1")
                .bind(user.to_string())
                .execute(&mut *conn)
                .await
                .map_err(db(OP));
            let restored = sqlx::query("PRAGMA foreign_keys = ON")
                .execute(&mut *conn)
                .await
                .map_err(db(OP));
            if restored.is_err() {
                drop(conn.detach());
            }
            deleted?;
            restored?;
            Ok(())
        });
        task.await
            .map_err(|e| StoreError::Backend(format!("{OP}: the task failed: {e}")))?
    }

    pub(crate) async fn rights_deletion_purges(&self) -> StoreResult<Vec<DeletionPurge>> {
        let rows = sqlx::query(
            "SELECT user_id, requested_at, inbox_entries, receipts, messages, batches \
             FROM deletion_purges ORDER BY requested_at, user_id",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db("deletion purges"))?;
        rows.iter().map(purge_job).collect()
    }

    /// One batch of a deleted account's purge, in one write transaction:
    /// its inbox entries, the receipts it gave, and the sender and content
    /// of the messages it sent (tombstones stay for the recipients).
    ///
    /// A write transaction: called only inside [`crate::store::detached`].
    #[tracing::instrument(skip_all)]
    pub(crate) async fn rights_purge_deleted_account(
        &self,
        user: UserId,
        limit: u32,
    ) -> StoreResult<PurgeStep> {
        const OP: &str = "purge deleted account";
        let id = user.to_string();
        // A crash between the deletion's transaction and the row's removal
        // left the account row: it goes first.
        let row_left: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE id = ?1)")
                .bind(&id)
                .fetch_one(&self.reader)
                .await
                .map_err(db(OP))?;
        if row_left {
            self.delete_user_row(user).await?;
        }
        let limit = i64::from(limit.max(1));
        let mut tx = self.begin_write(OP).await?;
        let batch = |sql: &'static str| sqlx::query(sql).bind(id.clone()).bind(limit);
        let inbox = batch(
            "DELETE FROM inbox WHERE user_id = ?1 AND seq IN \
             (SELECT seq FROM inbox WHERE user_id = ?1 ORDER BY seq LIMIT ?2)",
        )
        .execute(&mut *tx)
        .await
        .map_err(db(OP))?
        .rows_affected();
        // Pair rows a send racing the erasure left (nothing is derived for
        // an account without its row: see group_inbox).
        let pairs = batch(
            "DELETE FROM direct_members WHERE user_id = ?1 AND peer_id IN \
             (SELECT peer_id FROM direct_members WHERE user_id = ?1 LIMIT ?2)",
        )
        .execute(&mut *tx)
        .await
        .map_err(db(OP))?
        .rows_affected();
        let receipts = batch(
            "DELETE FROM receipts WHERE user_id = ?1 AND (message_id, kind) IN \
             (SELECT message_id, kind FROM receipts WHERE user_id = ?1 LIMIT ?2)",
        )
        .execute(&mut *tx)
        .await
        .map_err(db(OP))?
        .rows_affected();
        let messages = batch(PURGE_SENT)
            .execute(&mut *tx)
            .await
            .map_err(db(OP))?
            .rows_affected();
        // The directions it sent in, once their messages are cleared, and
        // those it received in that hold no message (the others are how
        // their senders' counts and purges find those messages).
        let directions = sqlx::query(
            "DELETE FROM direct_pairs WHERE pair IN ( \
               SELECT dp.pair FROM direct_pairs AS dp WHERE dp.sender_id = ?1 \
               UNION ALL \
               SELECT dp.pair FROM direct_pairs AS dp INDEXED BY direct_pairs_by_recipient \
               WHERE dp.recipient_id = ?1) \
             AND NOT EXISTS (SELECT 1 FROM messages AS m INDEXED BY messages_by_direct_pair \
                             WHERE m.pair = direct_pairs.pair)",
        )
        .bind(&id)
        .execute(&mut *tx)
        .await
        .map_err(db(OP))?
        .rows_affected();
        let row = sqlx::query(
            "UPDATE deletion_purges SET inbox_entries = inbox_entries + ?2, \
             receipts = receipts + ?3, messages = messages + ?4, batches = batches + 1 \
             WHERE user_id = ?1 \
             RETURNING user_id, requested_at, inbox_entries, receipts, messages, batches",
        )
        .bind(&id)
        .bind(to_i64(inbox))
        .bind(to_i64(receipts))
        .bind(to_i64(messages))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db(OP))?
        .ok_or_else(|| StoreError::NotFound("no purge for this account".into()))?;
        let job = purge_job(&row)?;
        let done = inbox == 0 && receipts == 0 && messages == 0 && pairs == 0 && directions == 0;
        if done {
            sqlx::query("DELETE FROM deletion_purges WHERE user_id = ?1")
                .bind(&id)
                .execute(&mut *tx)
                .await
                .map_err(db(OP))?;
        }
        tx.commit().await.map_err(db(OP))?;
        if done {
            self.checkpoint("deletion purge").await;
        }
        Ok(PurgeStep { job, done })
    }
}

fn purge_job(row: &sqlx::sqlite::SqliteRow) -> StoreResult<DeletionPurge> {
    Ok(DeletionPurge {
        user: parse_stored(&col::<String>(row, "user_id")?, "user id")?,
        requested_at: Timestamp(col(row, "requested_at")?),
        inbox_entries: to_u64(col(row, "inbox_entries")?, "purge count")?,
        receipts: to_u64(col(row, "receipts")?, "purge count")?,
        messages: to_u64(col(row, "messages")?, "purge count")?,
        batches: to_u64(col(row, "batches")?, "purge count")?,
    })
}
