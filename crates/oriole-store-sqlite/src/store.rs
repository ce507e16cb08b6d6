//! `impl Store for SqliteStore`: the queries, and decoding rows into records.

use async_trait::async_trait;
use oriole_core::domain::{
    DeviceId, DeviceLabel, Email, GroupId, GroupName, InboxSeq, MessageId, Phone, Timestamp,
    UserId, Username,
};
use oriole_core::rights::{
    AccountErasure, CorrectionRecord, DisplayName, DsarRecord, ErasureSummary, MessageCounts,
    ProfileCorrection, ReceiptGiven,
};
use oriole_core::store::{
    Appended, Conversation, DeviceRecord, DirectTarget, GroupRecord, MemberRecord, MessageRecord,
    NewDevice, NewMessage, NewUser, QueuedAppend, SessionRecord, Store, StoreError, StoreResult,
    UserRecord,
};
use oriole_crypto::{PasswordHashString, TokenHash};
use oriole_proto::{EventKind, GroupRole, InboxEvent, ReceiptKind};
use sqlx::sqlite::SqliteRow;
use sqlx::{Sqlite, SqliteConnection, Transaction};

use crate::error::{col, db, parse_stored, to_i64, to_u64, unique_violation_column};
use crate::group_commit::SealedAppend;
use crate::group_inbox::{
    materialize_pending, merges, Written, INBOX_EVENTS_MERGED, PENDING_PAGE, PENDING_POS_AT,
    POSITION_MAX,
};
use crate::personal::PersonalField;
use crate::SqliteStore;

const USER_COLUMNS: &str = "id, username, password_hash, phone, email, created_at";

const DEVICE_COLUMNS: &str = "id, user_id, device_model, os_version, ip, first_seen, last_seen";

const MEMBER_SELECT: &str = "SELECT m.user_id, u.username, m.role, m.joined_at \
     FROM group_members m JOIN users u ON u.id = m.user_id";

/// Inbox entries joined with their message and the usernames they show
/// (a `message` entry's actor is its message's sender: see [`push_event`]).
/// The column names are those [`SqliteStore::event`] decodes.
const INBOX_EVENTS: &str = "\
    SELECT i.seq, i.kind, i.message_id, i.receipt_kind, i.at, \
           a.username AS actor_name, r.username AS to_name, \
           m.sender_id, m.group_id, m.text, m.payload, m.sent_at, m.recalled_at \
    FROM inbox i \
    JOIN messages m ON m.id = i.message_id \
    LEFT JOIN users a ON a.id = coalesce(i.actor_id, m.sender_id) \
    LEFT JOIN users r ON r.id = m.recipient_user_id \
    WHERE i.user_id = ?1 AND i.seq > ?2 \
    ORDER BY i.seq \
    LIMIT ?3";

/// A group's messages as `message` events with seq 0, newest first.
const GROUP_HISTORY: &str = "\
    SELECT 0 AS seq, 'message' AS kind, m.id AS message_id, NULL AS receipt_kind, \
           m.sent_at AS at, s.username AS actor_name, NULL AS to_name, \
           m.sender_id, m.group_id, m.text, m.payload, m.sent_at, m.recalled_at \
    FROM messages m \
    LEFT JOIN users s ON s.id = m.sender_id \
    WHERE m.group_id = ?1 AND m.sent_at >= ?2 AND m.sent_at < ?3 \
    ORDER BY m.sent_at DESC, m.id DESC \
    LIMIT ?4";

/// The message a sender already sent with an idempotency key, and the
/// sender's seq for it.
pub(crate) const ORIGINAL_SEND: &str = "\
    SELECT m.id, m.sent_at, i.seq FROM messages m \
    LEFT JOIN inbox i \
      ON i.message_id = m.id AND i.user_id = m.sender_id AND i.kind = 'message' \
    WHERE m.sender_id = ?1 AND m.idempotency_key = ?2";

const HOLDS_MESSAGE: &str = "\
    SELECT EXISTS (SELECT 1 FROM inbox \
    WHERE message_id = ?1 AND user_id = ?2 AND kind = 'message')";

/// A new member's row: their inbox takes the group's messages from after
/// its newest one (see `group_inbox`).
const JOIN_GROUP: &str = "\
    INSERT INTO group_members (group_id, user_id, role, joined_at, synced_pos) \
    VALUES (?1, ?2, ?3, ?4, \
            coalesce((SELECT max(rowid) FROM messages WHERE group_id = ?1), 0))";

/// The users whose inbox holds a message.
const HOLDERS: &str =
    "SELECT user_id FROM inbox WHERE message_id = ?1 AND kind = 'message' ORDER BY user_id";

impl SqliteStore {
    /// A write transaction on the single writer connection. `IMMEDIATE`
    /// takes SQLite's write lock up front, so a transaction that reads
    /// before writing cannot fail half-way on a lock held by another process.
    /// Begun only inside [`detached`], never on a caller's future.
    pub(crate) async fn begin_write(
        &self,
        op: &'static str,
    ) -> StoreResult<Transaction<'static, Sqlite>> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db(op))
    }

    async fn user(&self, row: &SqliteRow) -> StoreResult<UserRecord> {
        let raw_id: String = col(row, "id")?;
        let id: UserId = parse_stored(&raw_id, "user id")?;
        let phone = self
            .personal
            .open(PersonalField::UserPhone, id, &raw_id, col(row, "phone")?)
            .await?
            .map(|p| Phone::parse(&p))
            .transpose()
            .map_err(|_| StoreError::Backend("stored phone is invalid".into()))?;
        let email = self
            .personal
            .open(PersonalField::UserEmail, id, &raw_id, col(row, "email")?)
            .await?
            .map(|e| Email::parse(&e))
            .transpose()
            .map_err(|_| StoreError::Backend("stored email is invalid".into()))?;
        Ok(UserRecord {
            id,
            username: username(&col::<String>(row, "username")?)?,
            password_hash: PasswordHashString::from_stored(col(row, "password_hash")?),
            phone,
            email,
            created_at: Timestamp(col(row, "created_at")?),
        })
    }

    pub(crate) async fn device(&self, row: &SqliteRow) -> StoreResult<DeviceRecord> {
        let raw_id: String = col(row, "id")?;
        let user_id: UserId = parse_stored(&col::<String>(row, "user_id")?, "user id")?;
        let p = &self.personal;
        let model = col(row, "device_model")?;
        let os = col(row, "os_version")?;
        let ip = col(row, "ip")?;
        Ok(DeviceRecord {
            id: parse_stored(&raw_id, "device id")?,
            user_id,
            device_model: p
                .open(PersonalField::DeviceModel, user_id, &raw_id, model)
                .await?
                .map(DeviceLabel::from_stored),
            os_version: p
                .open(PersonalField::DeviceOsVersion, user_id, &raw_id, os)
                .await?
                .map(DeviceLabel::from_stored),
            ip: p
                .open(PersonalField::DeviceIp, user_id, &raw_id, ip)
                .await?,
            first_seen: Timestamp(col(row, "first_seen")?),
            last_seen: Timestamp(col(row, "last_seen")?),
        })
    }

    /// Decodes a row of [`INBOX_EVENTS`] or [`GROUP_HISTORY`]. Only
    /// `message` events carry content, and only until the message is
    /// recalled. Content is sealed under its sender, so it cannot be opened
    /// once the sender's account is gone, and reads as `None` once the
    /// sender's key is shredded.
    async fn event(&self, row: &SqliteRow) -> StoreResult<InboxEvent> {
        let kind = event_kind(&col::<String>(row, "kind")?)?;
        let message_id: String = col(row, "message_id")?;
        let recalled_at: Option<i64> = col(row, "recalled_at")?;
        let sender: Option<String> = col(row, "sender_id")?;
        let (text, payload) = match (kind, recalled_at, sender) {
            (EventKind::Message, None, Some(sender)) => {
                let sender: UserId = parse_stored(&sender, "sender id")?;
                let text = self
                    .personal
                    .open(
                        PersonalField::MessageText,
                        sender,
                        &message_id,
                        col(row, "text")?,
                    )
                    .await?;
                let payload = self
                    .personal
                    .open(
                        PersonalField::MessagePayload,
                        sender,
                        &message_id,
                        col(row, "payload")?,
                    )
                    .await?
                    .map(|p| serde_json::from_str(&p))
                    .transpose()
                    .map_err(|_| StoreError::Backend("stored payload is not JSON".into()))?;
                (text, payload)
            }
            _ => (None, None),
        };
        Ok(InboxEvent {
            seq: to_u64(col(row, "seq")?, "inbox seq")?,
            kind,
            id: message_id,
            from: col(row, "actor_name")?,
            to: col(row, "to_name")?,
            group: col(row, "group_id")?,
            text,
            payload,
            sent_at: col(row, "sent_at")?,
            at: col(row, "at")?,
            receipt: col::<Option<String>>(row, "receipt_kind")?
                .map(|k| receipt_kind(&k))
                .transpose()?,
            recalled: recalled_at.is_some(),
        })
    }

    async fn user_opt(&self, row: Option<SqliteRow>) -> StoreResult<Option<UserRecord>> {
        match row {
            Some(row) => Ok(Some(self.user(&row).await?)),
            None => Ok(None),
        }
    }

    /// The position of `user`'s pending entry at seq `after`, where a page
    /// of their pending entries after it starts: 0 at the stored head (read
    /// as `stored`), the end of the page before it when there was one, and
    /// otherwise found by deriving the backlog up to it, which only a
    /// backlog of at most [`POSITION_MAX`] entries is worth. `None`: the
    /// page is read the old way (the backlog written first).
    async fn pending_start(
        &self,
        user: UserId,
        after: u64,
        stored: u64,
        backlog: u64,
    ) -> StoreResult<Option<i64>> {
        if after == stored {
            return Ok(Some(0));
        }
        if let Some(pos) = self.group_inbox.cursor(user, after) {
            return Ok(Some(pos));
        }
        if backlog > POSITION_MAX {
            return Ok(None);
        }
        sqlx::query_scalar(PENDING_POS_AT)
            .bind(user.to_string())
            .bind(to_i64(after))
            .fetch_optional(&self.reader)
            .await
            .map_err(db("inbox after"))
    }

    /// A page of `user`'s pending entries after seq `after`, the entry at
    /// position `pos` (see [`Self::pending_start`]), up to the published
    /// `head`, without writing them. `None` when it cannot be read that
    /// way: a settle wrote past `after` meanwhile.
    async fn pending_page(
        &self,
        user: UserId,
        after: u64,
        limit: u32,
        pos: i64,
        head: u64,
    ) -> StoreResult<Option<Vec<InboxEvent>>> {
        let rows = sqlx::query(PENDING_PAGE)
            .bind(user.to_string())
            .bind(to_i64(after))
            .bind(i64::from(limit))
            .bind(pos)
            .bind(to_i64(head))
            .fetch_all(&self.reader)
            .await
            .map_err(db("inbox after"))?;
        let Some(last) = rows.last() else {
            // Below the stored head by now, or nothing published after it.
            return Ok(None);
        };
        let seq: i64 = col(last, "seq")?;
        let pos: i64 = col(last, "pos")?;
        self.group_inbox
            .set_cursor(user, to_u64(seq, "inbox seq")?, pos);
        self.events(rows).await.map(Some)
    }

    async fn events(&self, rows: Vec<SqliteRow>) -> StoreResult<Vec<InboxEvent>> {
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            events.push(self.event(row).await?);
        }
        Ok(events)
    }

    /// A user lookup by the blind index in `column`.
    async fn user_by_blind_index(
        &self,
        column: &'static str,
        index: String,
    ) -> StoreResult<Option<UserRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE {column} = ?1"
        ))
        .bind(index)
        .fetch_optional(&self.reader)
        .await
        .map_err(db("user by blind index"))?;
        self.user_opt(row).await
    }
}

fn username(raw: &str) -> StoreResult<Username> {
    Username::parse(raw).map_err(|_| StoreError::Backend("stored username is invalid".into()))
}

fn member(row: &SqliteRow) -> StoreResult<MemberRecord> {
    Ok(MemberRecord {
        user_id: parse_stored(&col::<String>(row, "user_id")?, "user id")?,
        username: username(&col::<String>(row, "username")?)?,
        role: group_role(&col::<String>(row, "role")?)?,
        joined_at: Timestamp(col(row, "joined_at")?),
    })
}

fn group(row: &SqliteRow) -> StoreResult<GroupRecord> {
    Ok(GroupRecord {
        id: parse_stored(&col::<String>(row, "id")?, "group id")?,
        name: GroupName::from_stored(col(row, "name")?),
        history_visible: col(row, "history_visible")?,
        created_at: Timestamp(col(row, "created_at")?),
    })
}

fn event_kind_str(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Message => "message",
        EventKind::Recall => "recall",
        EventKind::Receipt => "receipt",
    }
}

fn event_kind(raw: &str) -> StoreResult<EventKind> {
    match raw {
        "message" => Ok(EventKind::Message),
        "recall" => Ok(EventKind::Recall),
        "receipt" => Ok(EventKind::Receipt),
        _ => Err(StoreError::Backend("stored event kind is invalid".into())),
    }
}

fn receipt_kind(raw: &str) -> StoreResult<ReceiptKind> {
    match raw {
        "delivered" => Ok(ReceiptKind::Delivered),
        "read" => Ok(ReceiptKind::Read),
        _ => Err(StoreError::Backend("stored receipt kind is invalid".into())),
    }
}

fn group_role(raw: &str) -> StoreResult<GroupRole> {
    match raw {
        "owner" => Ok(GroupRole::Owner),
        "admin" => Ok(GroupRole::Admin),
        "member" => Ok(GroupRole::Member),
        _ => Err(StoreError::Backend("stored group role is invalid".into())),
    }
}

/// One new inbox entry, inside the caller's write transaction.
pub(crate) struct NewEvent<'a> {
    pub user: UserId,
    pub kind: EventKind,
    pub message_id: &'a str,
    pub actor: UserId,
    pub receipt: Option<ReceiptKind>,
    pub at: Timestamp,
}

/// Append an entry to a user's inbox: bump the head, insert at the new seq.
/// The single writer and the enclosing transaction make seqs gap-free and
/// strictly increasing per user.
///
/// A `message` entry's actor is always its message's sender, so its
/// `actor_id` is left NULL and read from `messages.sender_id`
/// ([`INBOX_EVENTS`]): 37 bytes less in every inbox row of a message, one
/// row per recipient (13.6% fewer bytes written per group message of 100
/// in writer_batches). The sender's erasure sets `sender_id` to NULL, which
/// reads as a gone actor exactly as the stored id of an erased account did.
/// Rows written before this carry the id and read the same.
pub(crate) async fn push_event(
    conn: &mut SqliteConnection,
    event: NewEvent<'_>,
    op: &'static str,
) -> StoreResult<InboxSeq> {
    let user = event.user.to_string();
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO inbox_heads (user_id, head) VALUES (?1, 1) \
         ON CONFLICT (user_id) DO UPDATE SET head = head + 1 \
         RETURNING head",
    )
    .bind(&user)
    .fetch_one(&mut *conn)
    .await
    .map_err(db(op))?;
    sqlx::query(
        "INSERT INTO inbox (user_id, seq, kind, message_id, actor_id, receipt_kind, at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .bind(&user)
    .bind(seq)
    .bind(event_kind_str(event.kind))
    .bind(event.message_id)
    // A message's actor is its sender (see above).
    .bind((event.kind != EventKind::Message).then(|| event.actor.to_string()))
    .bind(event.receipt.map(ReceiptKind::as_str))
    .bind(event.at.millis())
    .execute(&mut *conn)
    .await
    .map_err(db(op))?;
    Ok(InboxSeq(to_u64(seq, "inbox seq")?))
}

#[async_trait]
impl Store for SqliteStore {
    // ---- accounts ----

    async fn create_user(&self, user: NewUser) -> StoreResult<()> {
        let id = user.id.to_string();
        let phone = self
            .personal
            .seal(
                PersonalField::UserPhone,
                user.id,
                &id,
                user.phone.as_ref().map(Phone::as_str),
            )
            .await?;
        let email = self
            .personal
            .seal(
                PersonalField::UserEmail,
                user.id,
                &id,
                user.email.as_ref().map(Email::as_str),
            )
            .await?;
        let phone_bidx = user.phone.as_ref().map(|p| {
            self.personal
                .blind_index(PersonalField::UserPhone, p.as_str())
        });
        let email_bidx = user.email.as_ref().map(|e| {
            self.personal
                .blind_index(PersonalField::UserEmail, &e.normalised())
        });
        sqlx::query(
            "INSERT INTO users \
             (id, username, password_hash, phone, email, phone_bidx, email_bidx, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .bind(&id)
        .bind(user.username.as_str())
        .bind(user.password_hash.as_str())
        .bind(phone)
        .bind(email)
        .bind(phone_bidx)
        .bind(email_bidx)
        .bind(user.created_at.millis())
        .execute(&self.writer)
        .await
        .map_err(|e| {
            // SQLite names the violated column (never the value).
            let column = unique_violation_column(&e);
            match (db("create user")(e), column.as_deref()) {
                (StoreError::Conflict(_), Some("users.phone_bidx")) => {
                    StoreError::Conflict("phone already in use".into())
                }
                (StoreError::Conflict(_), Some("users.email_bidx")) => {
                    StoreError::Conflict("email already in use".into())
                }
                (StoreError::Conflict(_), _) => StoreError::Conflict("username is taken".into()),
                (other, _) => other,
            }
        })?;
        Ok(())
    }

    async fn user_by_name(&self, name: &Username) -> StoreResult<Option<UserRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE username = ?1"
        ))
        .bind(name.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(db("user by name"))?;
        self.user_opt(row).await
    }

    async fn direct_target(&self, name: &Username) -> StoreResult<Option<DirectTarget>> {
        let row: Option<(String, bool)> = sqlx::query_as(
            "SELECT u.id, EXISTS (SELECT 1 FROM sharing_recipients AS r \
                                  WHERE r.bot_user_id = u.id) \
             FROM users AS u WHERE u.username = ?1",
        )
        .bind(name.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(db("a message's addressee"))?;
        row.map(|(id, bot)| {
            Ok(DirectTarget {
                id: parse_stored(&id, "user id")?,
                bot,
            })
        })
        .transpose()
    }

    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<UserRecord>> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await
            .map_err(db("user by id"))?;
        self.user_opt(row).await
    }

    async fn user_by_phone(&self, phone: &Phone) -> StoreResult<Option<UserRecord>> {
        let index = self
            .personal
            .blind_index(PersonalField::UserPhone, phone.as_str());
        self.user_by_blind_index("phone_bidx", index).await
    }

    async fn user_by_email(&self, email: &Email) -> StoreResult<Option<UserRecord>> {
        let index = self
            .personal
            .blind_index(PersonalField::UserEmail, &email.normalised());
        self.user_by_blind_index("email_bidx", index).await
    }

    // ---- devices and sessions ----

    async fn create_device(&self, device: NewDevice) -> StoreResult<()> {
        let id = device.id.to_string();
        let (p, owner) = (&self.personal, device.user_id);
        let model = device.device_model.as_ref().map(DeviceLabel::as_str);
        let model = p
            .seal(PersonalField::DeviceModel, owner, &id, model)
            .await?;
        let os = device.os_version.as_ref().map(DeviceLabel::as_str);
        let os = p
            .seal(PersonalField::DeviceOsVersion, owner, &id, os)
            .await?;
        let ip = device.ip.as_deref();
        let ip = p.seal(PersonalField::DeviceIp, owner, &id, ip).await?;
        sqlx::query(
            "INSERT INTO devices \
             (id, user_id, token_hash, device_model, os_version, ip, first_seen, last_seen) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
        )
        .bind(&id)
        .bind(device.user_id.to_string())
        .bind(device.token_hash.as_str())
        .bind(model)
        .bind(os)
        .bind(ip)
        .bind(device.at.millis())
        .execute(&self.writer)
        .await
        .map_err(db("create device"))?;
        Ok(())
    }

    async fn session_by_token(&self, token: &TokenHash) -> StoreResult<Option<SessionRecord>> {
        let row = sqlx::query(
            "SELECT d.id, d.user_id, u.username, d.last_seen \
             FROM devices d JOIN users u ON u.id = d.user_id \
             WHERE d.token_hash = ?1 AND d.revoked_at IS NULL",
        )
        .bind(token.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(db("session by token"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(SessionRecord {
            device_id: parse_stored(&col::<String>(&row, "id")?, "device id")?,
            user_id: parse_stored(&col::<String>(&row, "user_id")?, "user id")?,
            username: username(&col::<String>(&row, "username")?)?,
            last_seen: Timestamp(col(&row, "last_seen")?),
        }))
    }

    async fn touch_device(&self, device: DeviceId, at: Timestamp) -> StoreResult<()> {
        // MAX: concurrent requests finishing out of order never move it back.
        sqlx::query("UPDATE devices SET last_seen = MAX(last_seen, ?2) WHERE id = ?1")
            .bind(device.to_string())
            .bind(at.millis())
            .execute(&self.writer)
            .await
            .map_err(db("touch device"))?;
        Ok(())
    }

    async fn devices(&self, user: UserId) -> StoreResult<Vec<DeviceRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices \
             WHERE user_id = ?1 AND revoked_at IS NULL \
             ORDER BY first_seen, id"
        ))
        .bind(user.to_string())
        .fetch_all(&self.reader)
        .await
        .map_err(db("list devices"))?;
        let mut devices = Vec::with_capacity(rows.len());
        for row in &rows {
            devices.push(self.device(row).await?);
        }
        Ok(devices)
    }

    async fn revoke_device(
        &self,
        user: UserId,
        device: DeviceId,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE devices SET revoked_at = ?3 \
             WHERE id = ?1 AND user_id = ?2 AND revoked_at IS NULL",
        )
        .bind(device.to_string())
        .bind(user.to_string())
        .bind(at.millis())
        .execute(&self.writer)
        .await
        .map_err(db("revoke device"))?;
        Ok(done.rows_affected() > 0)
    }

    // ---- messages and inboxes ----

    #[tracing::instrument(skip_all, fields(recipients = recipients.len()))]
    async fn append_message(
        &self,
        msg: NewMessage,
        recipients: &[UserId],
    ) -> StoreResult<Appended> {
        let sealed = self.seal_append(msg, recipients).await?;
        self.appender.append(sealed).await
    }

    async fn queue_message(
        &self,
        msg: NewMessage,
        recipients: &[UserId],
    ) -> StoreResult<QueuedAppend> {
        let sealed = self.seal_append(msg, recipients).await?;
        self.appender.queue(sealed).await
    }

    async fn message(&self, id: MessageId) -> StoreResult<Option<MessageRecord>> {
        let row = sqlx::query(
            "SELECT sender_id, recipient_user_id, group_id, sent_at, recalled_at \
             FROM messages WHERE id = ?1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.reader)
        .await
        .map_err(db("message"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let recipient: Option<String> = col(&row, "recipient_user_id")?;
        let group: Option<String> = col(&row, "group_id")?;
        let conversation = match (recipient, group) {
            (Some(u), None) => Conversation::Direct(parse_stored(&u, "recipient id")?),
            (None, Some(g)) => Conversation::Group(parse_stored(&g, "group id")?),
            _ => return Err(StoreError::Backend("stored conversation is invalid".into())),
        };
        Ok(Some(MessageRecord {
            id,
            sender: col::<Option<String>>(&row, "sender_id")?
                .map(|s| parse_stored(&s, "sender id"))
                .transpose()?,
            conversation,
            sent_at: Timestamp(col(&row, "sent_at")?),
            recalled_at: col::<Option<i64>>(&row, "recalled_at")?.map(Timestamp),
        }))
    }

    async fn inbox_has_message(&self, user: UserId, id: MessageId) -> StoreResult<bool> {
        self.settle(user).await?;
        sqlx::query_scalar(HOLDS_MESSAGE)
            .bind(id.to_string())
            .bind(user.to_string())
            .fetch_one(&self.reader)
            .await
            .map_err(db("inbox has message"))
    }

    async fn inbox_after(
        &self,
        user: UserId,
        after: InboxSeq,
        limit: u32,
    ) -> StoreResult<Vec<InboxEvent>> {
        // Pending entries are merged into the page as they would be
        // written. A larger backlog is read from where the page starts
        // when that is at or above the stored head (a session catching
        // up), and written first otherwise.
        let merge_up_to = match self.pending_backlog(user).await? {
            None => None,
            Some((head, backlog)) if merges(backlog, limit) => Some(head),
            Some((head, backlog)) => {
                if after.0 >= head {
                    return Ok(Vec::new());
                }
                let stored = head - backlog;
                if after.0 >= stored {
                    let start = self.pending_start(user, after.0, stored, backlog).await?;
                    if let Some(pos) = start {
                        if let Some(page) =
                            self.pending_page(user, after.0, limit, pos, head).await?
                        {
                            return Ok(page);
                        }
                    }
                }
                self.settle(user).await?;
                None
            }
        };
        let query = sqlx::query(merge_up_to.map_or(INBOX_EVENTS, |_| INBOX_EVENTS_MERGED))
            .bind(user.to_string())
            .bind(to_i64(after.0))
            .bind(i64::from(limit));
        let query = match merge_up_to {
            Some(head) => query.bind(to_i64(head)),
            None => query,
        };
        let rows = query
            .fetch_all(&self.reader)
            .await
            .map_err(db("inbox after"))?;
        self.events(rows).await
    }

    async fn inbox_head(&self, user: UserId) -> StoreResult<InboxSeq> {
        if let Some(head) = self.group_inbox.pending_head(user) {
            return Ok(InboxSeq(head));
        }
        let head: Option<i64> =
            sqlx::query_scalar("SELECT head FROM inbox_heads WHERE user_id = ?1")
                .bind(user.to_string())
                .fetch_optional(&self.reader)
                .await
                .map_err(db("inbox head"))?;
        Ok(InboxSeq(head.map_or(Ok(0), |h| to_u64(h, "inbox head"))?))
    }

    /// Recalling an already recalled message appends nothing. Runs on a
    /// task of its own, like every write transaction (see `detached`, at
    /// the end of this file).
    async fn recall_message(
        &self,
        id: MessageId,
        by: UserId,
        at: Timestamp,
    ) -> StoreResult<Vec<(UserId, InboxSeq)>> {
        let store = self.clone();
        detached(async move { store.recall_now(id, by, at).await }).await
    }

    async fn record_receipt(
        &self,
        id: MessageId,
        by: UserId,
        kind: ReceiptKind,
        at: Timestamp,
    ) -> StoreResult<Option<(UserId, InboxSeq)>> {
        let store = self.clone();
        detached(async move { store.receipt_now(id, by, kind, at).await }).await
    }

    // ---- groups ----

    async fn create_group(
        &self,
        group: GroupRecord,
        members: &[(UserId, GroupRole)],
    ) -> StoreResult<()> {
        let (store, members) = (self.clone(), members.to_vec());
        detached(async move { store.create_group_now(group, &members).await }).await
    }

    async fn group(&self, id: GroupId) -> StoreResult<Option<GroupRecord>> {
        sqlx::query("SELECT id, name, history_visible, created_at FROM groups WHERE id = ?1")
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await
            .map_err(db("group"))?
            .map(|row| group(&row))
            .transpose()
    }

    async fn update_group(
        &self,
        id: GroupId,
        name: Option<GroupName>,
        history_visible: Option<bool>,
    ) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE groups SET name = COALESCE(?2, name), \
             history_visible = COALESCE(?3, history_visible) WHERE id = ?1",
        )
        .bind(id.to_string())
        .bind(name.as_ref().map(GroupName::as_str))
        .bind(history_visible)
        .execute(&self.writer)
        .await
        .map_err(db("update group"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("no such group".into()));
        }
        Ok(())
    }

    async fn delete_group(&self, id: GroupId) -> StoreResult<()> {
        let store = self.clone();
        detached(async move { store.delete_group_now(id).await }).await
    }

    async fn members(&self, id: GroupId) -> StoreResult<Vec<MemberRecord>> {
        sqlx::query(&format!(
            "{MEMBER_SELECT} WHERE m.group_id = ?1 ORDER BY m.joined_at, m.pos"
        ))
        .bind(id.to_string())
        .fetch_all(&self.reader)
        .await
        .map_err(db("members"))?
        .iter()
        .map(member)
        .collect()
    }

    async fn membership(&self, id: GroupId, user: UserId) -> StoreResult<Option<MemberRecord>> {
        sqlx::query(&format!(
            "{MEMBER_SELECT} WHERE m.group_id = ?1 AND m.user_id = ?2"
        ))
        .bind(id.to_string())
        .bind(user.to_string())
        .fetch_optional(&self.reader)
        .await
        .map_err(db("membership"))?
        .map(|row| member(&row))
        .transpose()
    }

    async fn add_member(
        &self,
        id: GroupId,
        user: UserId,
        role: GroupRole,
        at: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(JOIN_GROUP)
            .bind(id.to_string())
            .bind(user.to_string())
            .bind(role.as_str())
            .bind(at.millis())
            .execute(&self.writer)
            .await
            .map_err(|e| match db("add member")(e) {
                StoreError::Conflict(_) => StoreError::Conflict("already a member".into()),
                StoreError::NotFound(_) => StoreError::NotFound("no such group or user".into()),
                other => other,
            })?;
        Ok(())
    }

    async fn set_member_role(&self, id: GroupId, user: UserId, role: GroupRole) -> StoreResult<()> {
        let done =
            sqlx::query("UPDATE group_members SET role = ?3 WHERE group_id = ?1 AND user_id = ?2")
                .bind(id.to_string())
                .bind(user.to_string())
                .bind(role.as_str())
                .execute(&self.writer)
                .await
                .map_err(db("set member role"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("not a member".into()));
        }
        Ok(())
    }

    async fn remove_member(&self, id: GroupId, user: UserId) -> StoreResult<bool> {
        let store = self.clone();
        detached(async move { store.remove_member_now(id, user).await }).await
    }

    async fn groups_of(&self, user: UserId) -> StoreResult<Vec<(GroupRecord, GroupRole)>> {
        sqlx::query(
            "SELECT g.id, g.name, g.history_visible, g.created_at, m.role \
             FROM group_members m JOIN groups g ON g.id = m.group_id \
             WHERE m.user_id = ?1 \
             ORDER BY m.joined_at, m.pos",
        )
        .bind(user.to_string())
        .fetch_all(&self.reader)
        .await
        .map_err(db("groups of"))?
        .iter()
        .map(|row| Ok((group(row)?, group_role(&col::<String>(row, "role")?)?)))
        .collect()
    }

    async fn group_history(
        &self,
        id: GroupId,
        since: Option<Timestamp>,
        before: Option<Timestamp>,
        limit: u32,
    ) -> StoreResult<Vec<InboxEvent>> {
        // Open bounds become the extremes, so the range uses the index.
        let rows = sqlx::query(GROUP_HISTORY)
            .bind(id.to_string())
            .bind(since.map_or(i64::MIN, Timestamp::millis))
            .bind(before.map_or(i64::MAX, Timestamp::millis))
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await
            .map_err(db("group history"))?;
        self.events(rows).await
    }

    // ---- audit log (in `audit.rs`) ----

    async fn append_audit(
        &self,
        draft: oriole_audit::EntryDraft,
    ) -> StoreResult<oriole_audit::AuditEntry> {
        let store = self.clone();
        detached(async move { store.append_audit_entry(draft).await }).await
    }

    async fn audit_entries(
        &self,
        after_seq: u64,
        limit: u32,
    ) -> StoreResult<Vec<oriole_audit::AuditEntry>> {
        self.audit_entries_after(after_seq, limit).await
    }

    async fn audit_head(&self) -> StoreResult<(u64, oriole_audit::EntryHash)> {
        self.audit_log_head().await
    }

    async fn save_audit_checkpoint(
        &self,
        checkpoint: &oriole_audit::Checkpoint,
    ) -> StoreResult<()> {
        self.insert_audit_checkpoint(checkpoint).await
    }

    async fn audit_checkpoints(&self) -> StoreResult<Vec<oriole_audit::Checkpoint>> {
        self.all_audit_checkpoints().await
    }

    async fn signing_key(
        &self,
        purpose: oriole_core::KeyPurpose,
    ) -> StoreResult<oriole_core::SigningKey> {
        self.personal
            .vault()
            .signing_key(purpose)
            .await
            .map_err(|e| StoreError::Backend(format!("loading the {purpose} signing key: {e}")))
    }

    // ---- operators (in `operators.rs`) ----

    async fn create_operator(
        &self,
        operator: oriole_core::staff::OperatorRecord,
    ) -> StoreResult<()> {
        self.insert_operator(operator).await
    }

    async fn operator_by_name(
        &self,
        name: &oriole_core::staff::OperatorName,
    ) -> StoreResult<Option<oriole_core::staff::OperatorRecord>> {
        self.find_operator("o.name", name.as_str().to_owned()).await
    }

    async fn operator_by_id(
        &self,
        id: oriole_core::staff::OperatorId,
    ) -> StoreResult<Option<oriole_core::staff::OperatorRecord>> {
        self.find_operator("o.id", id.to_string()).await
    }

    async fn operators(&self) -> StoreResult<Vec<oriole_core::staff::OperatorRecord>> {
        self.all_operators().await
    }

    async fn create_operator_session(
        &self,
        token: &TokenHash,
        operator: oriole_core::staff::OperatorId,
        at: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<()> {
        self.insert_operator_session(token, operator, at, expires_at)
            .await
    }

    async fn operator_by_session(
        &self,
        token: &TokenHash,
        now: Timestamp,
    ) -> StoreResult<Option<oriole_core::staff::OperatorRecord>> {
        self.session_operator(token, now).await
    }

    async fn revoke_operator_session(&self, token: &TokenHash, at: Timestamp) -> StoreResult<bool> {
        self.end_operator_session(token, at).await
    }

    async fn disable_operator(
        &self,
        operator: oriole_core::staff::OperatorId,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let store = self.clone();
        detached(async move { store.disable_operator_now(operator, at).await }).await
    }

    async fn set_operator_password(
        &self,
        operator: oriole_core::staff::OperatorId,
        hash: &oriole_crypto::PasswordHashString,
        keep: &TokenHash,
        at: Timestamp,
    ) -> StoreResult<()> {
        let (store, hash, keep) = (self.clone(), hash.clone(), keep.clone());
        detached(async move {
            store
                .replace_operator_password(operator, &hash, &keep, at)
                .await
        })
        .await
    }

    // ---- justified access (in `audit.rs` and `operators.rs`) ----

    async fn audit_entries_about(
        &self,
        subject: &oriole_audit::PseudonymousId,
        after_seq: u64,
        limit: u32,
    ) -> StoreResult<Vec<oriole_audit::AuditEntry>> {
        self.audit_entries_about_subject(subject, after_seq, limit)
            .await
    }

    async fn create_content_grant(
        &self,
        grant: &oriole_core::staff::ContentGrantRecord,
    ) -> StoreResult<()> {
        self.insert_content_grant(grant).await
    }

    async fn content_grant(
        &self,
        id: uuid::Uuid,
    ) -> StoreResult<Option<oriole_core::staff::ContentGrantRecord>> {
        self.find_content_grant(id).await
    }

    async fn approve_content_grant(
        &self,
        id: uuid::Uuid,
        approver: oriole_core::staff::OperatorId,
        at: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<bool> {
        self.approve_grant(id, approver, at, expires_at).await
    }

    async fn live_content_grant(
        &self,
        requester: oriole_core::staff::OperatorId,
        subject: UserId,
        reason: oriole_proto::ReasonCode,
        ticket: &oriole_core::staff::TicketRef,
        now: Timestamp,
    ) -> StoreResult<Option<oriole_core::staff::ContentGrantRecord>> {
        self.find_live_grant(requester, subject, reason, ticket, now)
            .await
    }

    // ---- user rights (in `rights.rs`) ----

    async fn display_name(&self, user: UserId) -> StoreResult<Option<DisplayName>> {
        self.rights_display_name(user).await
    }

    async fn correct_profile(
        &self,
        user: UserId,
        correction: &ProfileCorrection,
        at: Timestamp,
    ) -> StoreResult<()> {
        let (store, correction) = (self.clone(), correction.clone());
        detached(async move { store.rights_correct_profile(user, &correction, at).await }).await
    }

    async fn corrections(&self, user: UserId) -> StoreResult<Vec<CorrectionRecord>> {
        self.rights_corrections(user).await
    }

    async fn device_history(
        &self,
        user: UserId,
    ) -> StoreResult<Vec<(DeviceRecord, Option<Timestamp>)>> {
        self.rights_device_history(user).await
    }

    async fn message_counts(&self, user: UserId) -> StoreResult<MessageCounts> {
        self.rights_message_counts(user).await
    }

    async fn last_export(&self, user: UserId) -> StoreResult<Option<Timestamp>> {
        self.rights_last_export(user).await
    }

    async fn record_export(&self, user: UserId, at: Timestamp) -> StoreResult<()> {
        self.rights_record_export(user, at).await
    }

    async fn username_quarantined(&self, name: &Username, now: Timestamp) -> StoreResult<bool> {
        self.rights_username_quarantined(name, now).await
    }

    async fn erase_account(&self, erasure: AccountErasure) -> StoreResult<ErasureSummary> {
        let store = self.clone();
        detached(async move { store.rights_erase_account(erasure).await }).await
    }

    async fn deletion_purges(&self) -> StoreResult<Vec<oriole_core::rights::DeletionPurge>> {
        self.rights_deletion_purges().await
    }

    async fn purge_deleted_account(
        &self,
        user: UserId,
        limit: u32,
    ) -> StoreResult<oriole_core::rights::PurgeStep> {
        let store = self.clone();
        detached(async move { store.rights_purge_deleted_account(user, limit).await }).await
    }

    async fn receipts_given(
        &self,
        user: UserId,
        after: Option<&ReceiptGiven>,
        limit: u32,
    ) -> StoreResult<Vec<ReceiptGiven>> {
        self.rights_receipts_given(user, after, limit).await
    }

    async fn insert_data_request(&self, request: &DsarRecord) -> StoreResult<()> {
        self.rights_insert_data_request(request).await
    }

    async fn data_requests(&self, user: Option<UserId>) -> StoreResult<Vec<DsarRecord>> {
        self.rights_data_requests(user, None).await
    }

    async fn data_request(&self, id: uuid::Uuid) -> StoreResult<Option<DsarRecord>> {
        Ok(self.rights_data_requests(None, Some(id)).await?.pop())
    }

    async fn complete_data_request(
        &self,
        id: uuid::Uuid,
        at: Timestamp,
        by: &str,
    ) -> StoreResult<bool> {
        self.rights_complete_data_request(id, at, by).await
    }
}

impl SqliteStore {
    /// A message with its personal fields sealed, ready for the appender.
    /// Sealed before taking the writer, so the vault's work does not hold
    /// up the write queue.
    pub(crate) async fn seal_append(
        &self,
        msg: NewMessage,
        recipients: &[UserId],
    ) -> StoreResult<SealedAppend> {
        let id = id_text(msg.id.0);
        let text = self
            .personal
            .seal(
                PersonalField::MessageText,
                msg.sender,
                &id,
                msg.body.text.as_deref(),
            )
            .await?;
        let payload = self
            .personal
            .seal(
                PersonalField::MessagePayload,
                msg.sender,
                &id,
                msg.body.payload_json.as_deref(),
            )
            .await?;
        let (recipient, group) = match msg.conversation {
            Conversation::Direct(u) => (Some(id_text(u.0)), None),
            Conversation::Group(g) => (None, Some(id_text(g.0))),
        };
        Ok(SealedAppend {
            id: msg.id,
            sender: msg.sender,
            recipient,
            group,
            text,
            payload,
            sent_at: msg.sent_at,
            idempotency_key: msg.idempotency_key.map(|k| k.as_str().to_owned()),
            recipients: recipients.to_vec(),
            outbox: None,
        })
    }
}

/// An id's stored text, as `to_string` gives it, without going through
/// the formatter: `Display` and the `String` it grows cost about 500
/// instructions an id, most of a message's id handling before the batch.
fn id_text(id: uuid::Uuid) -> String {
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    id.hyphenated().encode_lower(&mut text).to_owned()
}

impl SqliteStore {
    async fn create_group_now(
        &self,
        group: GroupRecord,
        members: &[(UserId, GroupRole)],
    ) -> StoreResult<()> {
        const OP: &str = "create group";
        let id = group.id.to_string();
        let mut tx = self.begin_write(OP).await?;
        sqlx::query(
            "INSERT INTO groups (id, name, history_visible, created_at) VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(&id)
        .bind(group.name.as_str())
        .bind(group.history_visible)
        .bind(group.created_at.millis())
        .execute(&mut *tx)
        .await
        .map_err(db(OP))?;
        for (user, role) in members {
            sqlx::query(JOIN_GROUP)
                .bind(&id)
                .bind(user.to_string())
                .bind(role.as_str())
                .bind(group.created_at.millis())
                .execute(&mut *tx)
                .await
                .map_err(db(OP))?;
        }
        tx.commit().await.map_err(db(OP))
    }

    async fn delete_group_now(&self, id: GroupId) -> StoreResult<()> {
        const OP: &str = "delete group";
        let _log = self.group_inbox.lock().await;
        let mut tx = self.begin_write(OP).await?;
        // The members' pending entries are derived from their memberships:
        // write them before those go.
        let members: Vec<String> =
            sqlx::query_scalar("SELECT user_id FROM group_members WHERE group_id = ?1")
                .bind(id.to_string())
                .fetch_all(&mut *tx)
                .await
                .map_err(db(OP))?;
        let members = members
            .iter()
            .map(|u| parse_stored(u, "user id"))
            .collect::<StoreResult<Vec<UserId>>>()?;
        let mut written = Written::default();
        materialize_pending(&mut tx, &self.group_inbox, members, &mut written).await?;
        // Memberships go by ON DELETE CASCADE; messages keep their group id.
        let done = sqlx::query("DELETE FROM groups WHERE id = ?1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db(OP))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("no such group".into()));
        }
        tx.commit().await.map_err(db(OP))?;
        self.group_inbox.committed(&[], &written);
        Ok(())
    }

    async fn remove_member_now(&self, id: GroupId, user: UserId) -> StoreResult<bool> {
        const OP: &str = "remove member";
        let _log = self.group_inbox.lock().await;
        let mut tx = self.begin_write(OP).await?;
        // What the member had is theirs to keep: written before it could
        // no longer be derived from the membership.
        let mut written = Written::default();
        materialize_pending(&mut tx, &self.group_inbox, [user], &mut written).await?;
        let done = sqlx::query("DELETE FROM group_members WHERE group_id = ?1 AND user_id = ?2")
            .bind(id.to_string())
            .bind(user.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db(OP))?;
        tx.commit().await.map_err(db(OP))?;
        self.group_inbox.committed(&[], &written);
        Ok(done.rows_affected() > 0)
    }

    #[tracing::instrument(skip_all)]
    async fn recall_now(
        &self,
        id: MessageId,
        by: UserId,
        at: Timestamp,
    ) -> StoreResult<Vec<(UserId, InboxSeq)>> {
        const OP: &str = "recall message";
        let message_id = id.to_string();
        let _log = self.group_inbox.lock().await;
        let mut tx = self.begin_write(OP).await?;
        let mut written = Written::default();
        let recalled = sqlx::query(
            "UPDATE messages SET recalled_at = ?2, text = NULL, payload = NULL \
             WHERE id = ?1 AND recalled_at IS NULL",
        )
        .bind(&message_id)
        .bind(at.millis())
        .execute(&mut *tx)
        .await
        .map_err(db(OP))?;
        if recalled.rows_affected() == 0 {
            let exists: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM messages WHERE id = ?1)")
                    .bind(&message_id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db(OP))?;
            tx.rollback().await.map_err(db(OP))?;
            return if exists {
                Ok(Vec::new())
            } else {
                Err(StoreError::NotFound("no such message".into()))
            };
        }
        // The message's pending copies become rows first (a group's
        // members', or a 1:1 message's two sides'), so the holders below
        // include everyone who has it.
        let group_members: Vec<String> = sqlx::query_scalar(
            "SELECT gm.user_id FROM messages AS m \
             JOIN group_members AS gm ON gm.group_id = m.group_id WHERE m.id = ?1 \
             UNION \
             SELECT side FROM (SELECT m.sender_id AS side FROM messages AS m WHERE m.id = ?1 \
                               UNION ALL \
                               SELECT m.recipient_user_id FROM messages AS m WHERE m.id = ?1) \
             WHERE side IS NOT NULL",
        )
        .bind(&message_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(db(OP))?;
        let group_members = group_members
            .iter()
            .map(|u| parse_stored(u, "user id"))
            .collect::<StoreResult<Vec<UserId>>>()?;
        materialize_pending(&mut tx, &self.group_inbox, group_members, &mut written).await?;
        let holders: Vec<String> = sqlx::query_scalar(HOLDERS)
            .bind(&message_id)
            .fetch_all(&mut *tx)
            .await
            .map_err(db(OP))?;
        let holders = holders
            .iter()
            .map(|u| parse_stored(u, "user id"))
            .collect::<StoreResult<Vec<UserId>>>()?;
        // Holders who left the group may have pending entries elsewhere.
        materialize_pending(&mut tx, &self.group_inbox, holders.clone(), &mut written).await?;
        let mut entries = Vec::with_capacity(holders.len());
        for user in holders {
            let event = NewEvent {
                user,
                kind: EventKind::Recall,
                message_id: &message_id,
                actor: by,
                receipt: None,
                at,
            };
            entries.push((user, push_event(&mut tx, event, OP).await?));
        }
        tx.commit().await.map_err(db(OP))?;
        self.group_inbox.committed(&[], &written);
        // Recalled content must not linger in the files; recalls are rare
        // enough to pay for a checkpoint each.
        self.checkpoint("recall").await;
        Ok(entries)
    }

    async fn receipt_now(
        &self,
        id: MessageId,
        by: UserId,
        kind: ReceiptKind,
        at: Timestamp,
    ) -> StoreResult<Option<(UserId, InboxSeq)>> {
        const OP: &str = "record receipt";
        let message_id = id.to_string();
        let _log = self.group_inbox.lock().await;
        let mut tx = self.begin_write(OP).await?;
        let mut written = Written::default();
        let inserted = sqlx::query(
            "INSERT INTO receipts (message_id, user_id, kind, at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&message_id)
        .bind(by.to_string())
        .bind(kind.as_str())
        .bind(at.millis())
        .execute(&mut *tx)
        .await
        .map_err(db(OP))?;
        if inserted.rows_affected() == 0 {
            tx.rollback().await.map_err(db(OP))?;
            return Ok(None);
        }
        // The sender's account may be gone while its purge has not yet
        // cleared the message's sender: then no one is told.
        let sender: Option<String> = sqlx::query_scalar(
            "SELECT m.sender_id FROM messages m JOIN users u ON u.id = m.sender_id \
             WHERE m.id = ?1",
        )
        .bind(&message_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db(OP))?;
        let entry = match sender {
            Some(sender) => {
                let sender: UserId = parse_stored(&sender, "sender id")?;
                materialize_pending(&mut tx, &self.group_inbox, [sender], &mut written).await?;
                let event = NewEvent {
                    user: sender,
                    kind: EventKind::Receipt,
                    message_id: &message_id,
                    actor: by,
                    receipt: Some(kind),
                    at,
                };
                Some((sender, push_event(&mut tx, event, OP).await?))
            }
            None => None,
        };
        tx.commit().await.map_err(db(OP))?;
        self.group_inbox.committed(&[], &written);
        Ok(entry)
    }
}

/// Run a write transaction on a task of its own and wait for it: a future
/// dropped while it holds a transaction hands the writer back with its
/// rollback still queued, and the next transaction then fails to begin.
/// sqlx's SQLite transactions are not cancel-safe (launchbadge/sqlx#3932:
/// a `begin` dropped part-way can leave the connection inside a
/// transaction no `Transaction` owns), and callers' futures are dropped
/// whenever a client hangs up or a session's `select!` takes another
/// branch.
///
/// The rule: every write transaction outside the group-commit task (which
/// is never cancelled) runs inside this, with owned data, so it always
/// reaches its commit or rollback whatever happens to the caller. The task
/// keeps the caller's tracing span.
pub(crate) async fn detached<T: Send + 'static>(
    work: impl std::future::Future<Output = StoreResult<T>> + Send + 'static,
) -> StoreResult<T> {
    use tracing::Instrument;
    tokio::spawn(work.in_current_span())
        .await
        .map_err(|e| StoreError::Backend(format!("a write task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqliteOptions;

    /// Ids are stored as `to_string` writes them; every read parses that.
    #[test]
    fn id_text_is_to_string() {
        let ids = [
            uuid::Uuid::nil(),
            uuid::Uuid::max(),
            uuid::Uuid::now_v7(),
            uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210),
        ];
        for id in ids {
            assert_eq!(id_text(id), id.to_string());
        }
    }

    /// The hot queries search an index; none scans a table or a whole inbox.
    #[tokio::test]
    async fn queries_use_their_indexes() {
        let dir = tempfile::TempDir::new().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("o.db"), SqliteOptions::default())
            .await
            .expect("open");
        let cases = [
            (
                INBOX_EVENTS,
                "SEARCH i USING PRIMARY KEY (user_id=? AND seq>?)",
            ),
            (
                GROUP_HISTORY,
                "USING INDEX messages_by_group (group_id=? AND sent_at>? AND sent_at<?)",
            ),
            (
                ORIGINAL_SEND,
                "COVERING INDEX inbox_by_message (message_id=? AND user_id=? AND kind=?)",
            ),
            (
                ORIGINAL_SEND,
                "USING INDEX messages_by_key (idempotency_key=? AND sender_id=?)",
            ),
            (
                crate::group_commit::batch::ORIGINALS,
                "USING INDEX messages_by_key (idempotency_key=? AND sender_id=?)",
            ),
            (
                crate::group_commit::batch::insert_messages(2),
                "USING COVERING INDEX sqlite_autoindex_direct_pairs_1 (sender_id=? AND recipient_id=?)",
            ),
            (
                HOLDS_MESSAGE,
                "COVERING INDEX inbox_by_message (message_id=? AND user_id=? AND kind=?)",
            ),
            (HOLDERS, "COVERING INDEX inbox_by_message (message_id=?)"),
            (
                crate::group_inbox::WRITE_PENDING,
                "SEARCH m USING INDEX messages_by_group_pos (group_id=? AND rowid>? AND rowid<?)",
            ),
            (
                crate::group_inbox::WRITE_PENDING,
                "USING INDEX group_members_by_user (user_id=?)",
            ),
            (
                INBOX_EVENTS_MERGED,
                "SEARCH i USING PRIMARY KEY (user_id=? AND seq>?)",
            ),
            (
                INBOX_EVENTS_MERGED,
                "USING INDEX messages_by_direct_pair (pair=? AND rowid>?",
            ),
            (
                INBOX_EVENTS_MERGED,
                "USING COVERING INDEX sqlite_autoindex_direct_pairs_1 (sender_id=? AND recipient_id=?)",
            ),
            (
                crate::group_inbox::WRITE_PENDING,
                "USING INDEX messages_by_direct_pair (pair=? AND rowid>?",
            ),
            (
                crate::group_inbox::PENDING_PAGE,
                "USING INDEX messages_by_direct_pair (pair=? AND rowid>?",
            ),
            (
                crate::group_inbox::CHUNK_END,
                "USING COVERING INDEX messages_by_direct_pair (pair=? AND rowid>?",
            ),
            (
                crate::rights::SENT_COUNT,
                "USING COVERING INDEX messages_by_direct_pair (pair=?)",
            ),
            (
                crate::rights::SENT_COUNT,
                "USING INDEX messages_by_group_sender (sender_id=?)",
            ),
            (
                crate::rights::PURGE_SENT,
                "USING COVERING INDEX messages_by_direct_pair (pair=?)",
            ),
            (
                crate::rights::PURGE_SENT,
                "USING INDEX messages_by_group_sender (sender_id=?)",
            ),
            (
                INBOX_EVENTS_MERGED,
                "SEARCH m USING INDEX messages_by_group_pos (group_id=? AND rowid>?)",
            ),
            (
                crate::group_inbox::CHUNK_END,
                "SEARCH m USING COVERING INDEX messages_by_group_pos (group_id=? AND rowid>?)",
            ),
        ];
        let by_phone = format!("SELECT {USER_COLUMNS} FROM users WHERE phone_bidx = ?1");
        let by_email = format!("SELECT {USER_COLUMNS} FROM users WHERE email_bidx = ?1");
        let blind_lookups = [
            (
                by_phone.as_str(),
                "USING INDEX users_by_phone_bidx (phone_bidx=?)",
            ),
            (
                by_email.as_str(),
                "USING INDEX users_by_email_bidx (email_bidx=?)",
            ),
        ];
        for (query, expected) in cases.into_iter().chain(blind_lookups) {
            let sql = format!("EXPLAIN QUERY PLAN {query}");
            let mut explain = sqlx::query(&sql);
            for _ in 0..query.matches('?').count() {
                explain = explain.bind("x");
            }
            let plan: Vec<String> = explain
                .fetch_all(&store.reader)
                .await
                .expect("explain")
                .iter()
                .map(|row| col::<String>(row, "detail").expect("detail"))
                .collect();
            assert!(
                plan.iter().any(|step| step.contains(expected)),
                "{query}\n{plan:#?}"
            );
            // A direction's messages are searched by its number, never by
            // a range over every direction's.
            assert!(
                !plan
                    .iter()
                    .any(|step| step.contains("messages_by_direct_pair")
                        && !step.contains("(pair=?")),
                "{query}\n{plan:#?}"
            );
            // A subquery's own rows (a window's input, a co-routine's
            // output) are no table, nor is `json_each` over the records
            // bound to the query, nor a `VALUES` list of bound rows.
            let coroutines: Vec<&str> = plan
                .iter()
                .filter_map(|step| step.strip_prefix("CO-ROUTINE "))
                .collect();
            assert!(
                !plan.iter().any(|step| step.starts_with("SCAN")
                    && !step.contains("CONSTANT")
                    && !step.starts_with("SCAN (subquery")
                    && !step.contains("VIRTUAL TABLE")
                    && !step.ends_with("-ROW VALUES CLAUSE")
                    && !coroutines.iter().any(|c| step == &format!("SCAN {c}"))),
                "{query}\n{plan:#?}"
            );
        }
        store.close().await;
    }
}
