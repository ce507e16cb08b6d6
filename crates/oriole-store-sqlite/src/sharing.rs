//! `impl SharingStore for SqliteStore`: the recipient registry, sharing
//! consent, the outbox and the ledger (migration 0007).

use async_trait::async_trait;
use oriole_core::domain::{Timestamp, UserId};
use oriole_core::sharing::{
    CategorySet, DeliveryId, DeliveryUrl, LedgerEntry, NewDelivery, NewNotice, NewRecipient,
    PendingDelivery, PseudonymKey, RecipientId, RecipientName, RecipientPseudonym, RecipientRecord,
    RecipientText, SharingChange, SharingGrant, SharingStore, SigningSecret, StoredNotice,
    WebhookKind,
};
use oriole_core::store::{Appended, NewMessage, QueuedAppend, StoreError, StoreResult};
use sqlx::sqlite::SqliteRow;
use sqlx::{Sqlite, SqliteConnection, Transaction};
use uuid::Uuid;

use crate::error::{col, db, parse_stored};
use crate::personal::PersonalField;
use crate::store::detached;
use crate::SqliteStore;

const RECIPIENT_COLUMNS: &str = "id, name, contact, purpose, categories, legal_basis, retention, \
                                 url, secret, pseudonym_key, bot_user_id, created_at";
const OUTBOX_COLUMNS: &str =
    "id, recipient_id, user_id, kind, categories, body, created_at, attempts, next_attempt_at";

fn bad(what: &'static str) -> impl FnOnce(oriole_core::sharing::RecipientError) -> StoreError {
    move |_| StoreError::Backend(format!("stored {what} is invalid"))
}

fn kind_of(raw: &str) -> StoreResult<WebhookKind> {
    match raw {
        "message" => Ok(WebhookKind::Message),
        "erasure_request" => Ok(WebhookKind::ErasureRequest),
        _ => Err(StoreError::Backend(
            "stored delivery kind is invalid".into(),
        )),
    }
}

fn split_categories(raw: &str) -> Vec<String> {
    raw.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn count(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl SqliteStore {
    async fn recipient_from_row(&self, row: &SqliteRow) -> StoreResult<RecipientRecord> {
        let id: String = col(row, "id")?;
        let secret: Vec<u8> = col(row, "secret")?;
        let secret = self
            .personal
            .open_for_gateway("sharing_recipients", "secret", &id, &secret)
            .await?;
        let secret = std::str::from_utf8(&secret)
            .ok()
            .and_then(|s| SigningSecret::parse(s).ok())
            .ok_or_else(|| StoreError::Backend("stored signing secret is invalid".into()))?;
        let key: Vec<u8> = col(row, "pseudonym_key")?;
        let key = self
            .personal
            .open_for_gateway("sharing_recipients", "pseudonym_key", &id, &key)
            .await?;
        let pseudonym_key = PseudonymKey::from_bytes(&key)
            .ok_or_else(|| StoreError::Backend("stored pseudonym key is invalid".into()))?;
        let categories: String = col(row, "categories")?;
        let bot: Option<String> = col(row, "bot_user_id")?;
        Ok(NewRecipient {
            id: parse_stored(&id, "recipient id")?,
            name: RecipientName::parse(&col::<String>(row, "name")?).map_err(bad("name"))?,
            contact: RecipientText::parse("contact", &col::<String>(row, "contact")?)
                .map_err(bad("contact"))?,
            purpose: RecipientText::parse("purpose", &col::<String>(row, "purpose")?)
                .map_err(bad("purpose"))?,
            categories: CategorySet::parse_list(&categories)
                .map_err(|_| StoreError::Backend("stored categories are invalid".into()))?,
            legal_basis: RecipientText::parse("legal basis", &col::<String>(row, "legal_basis")?)
                .map_err(bad("legal basis"))?,
            retention: RecipientText::parse("retention", &col::<String>(row, "retention")?)
                .map_err(bad("retention"))?,
            url: DeliveryUrl::parse(&col::<String>(row, "url")?).map_err(bad("url"))?,
            secret,
            pseudonym_key,
            bot: bot.map(|b| parse_stored(&b, "user id")).transpose()?,
            created_at: Timestamp(col(row, "created_at")?),
        })
    }

    /// Notices from rows of `id, user_id, body, due_at`, bodies opened; a
    /// notice whose owner's key is gone (an erased account) is skipped.
    async fn notices_from(&self, rows: &[SqliteRow]) -> StoreResult<Vec<StoredNotice>> {
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let id: String = col(row, "id")?;
            let user: UserId = parse_stored(&col::<String>(row, "user_id")?, "user id")?;
            let sealed: Vec<u8> = col(row, "body")?;
            let Some(body) = self
                .personal
                .open(PersonalField::UserNoticeBody, user, &id, Some(sealed))
                .await?
            else {
                continue;
            };
            out.push(StoredNotice {
                id: parse_stored(&id, "notice id")?,
                user,
                body,
                due_at: Timestamp(col(row, "due_at")?),
            });
        }
        Ok(out)
    }

    pub(crate) async fn seal_body(&self, d: &NewDelivery) -> StoreResult<Vec<u8>> {
        let row = d.id.to_string();
        match (d.kind, d.user) {
            (WebhookKind::Message, Some(user)) => self
                .personal
                .seal(PersonalField::SharingOutboxBody, user, &row, Some(&d.body))
                .await?
                .ok_or_else(|| StoreError::Backend("sealing an outbox body".into())),
            (WebhookKind::Message, None) => Err(StoreError::Backend(
                "a message delivery must name its user".into(),
            )),
            (WebhookKind::ErasureRequest, _) => {
                self.personal
                    .seal_for_gateway("sharing_outbox", "body", &row, d.body.as_bytes())
                    .await
            }
        }
    }

    async fn delivery_from_row(&self, row: &SqliteRow) -> StoreResult<Option<PendingDelivery>> {
        let id: String = col(row, "id")?;
        let kind = kind_of(&col::<String>(row, "kind")?)?;
        let user: Option<String> = col(row, "user_id")?;
        let user: Option<UserId> = user.map(|u| parse_stored(&u, "user id")).transpose()?;
        let sealed: Vec<u8> = col(row, "body")?;
        let body = match (kind, user) {
            (WebhookKind::Message, Some(user)) => {
                self.personal
                    .open(PersonalField::SharingOutboxBody, user, &id, Some(sealed))
                    .await?
            }
            (WebhookKind::Message, None) => None,
            (WebhookKind::ErasureRequest, _) => {
                let plain = self
                    .personal
                    .open_for_gateway("sharing_outbox", "body", &id, &sealed)
                    .await?;
                String::from_utf8(plain).ok()
            }
        };
        // A body whose owner's key is shredded is erased: nothing to send.
        let Some(body) = body else {
            return Ok(None);
        };
        Ok(Some(PendingDelivery {
            delivery: NewDelivery {
                id: parse_stored(&id, "delivery id")?,
                recipient: parse_stored(&col::<String>(row, "recipient_id")?, "recipient id")?,
                user,
                kind,
                categories: split_categories(&col::<String>(row, "categories")?),
                body,
                created_at: Timestamp(col(row, "created_at")?),
            },
            attempts: u32::try_from(col::<i64>(row, "attempts")?).unwrap_or(0),
            next_attempt_at: Timestamp(col(row, "next_attempt_at")?),
        }))
    }

    async fn insert_delivery(
        &self,
        tx: &mut Transaction<'static, Sqlite>,
        d: &NewDelivery,
        sealed: Vec<u8>,
    ) -> StoreResult<bool> {
        insert_outbox(tx, d, &sealed, false).await
    }
}

/// A message delivery with its body already sealed, queued in the
/// transaction that stores the message (see `append_shared_message`).
pub(crate) struct SealedDelivery {
    pub delivery: NewDelivery,
    pub sealed: Vec<u8>,
}

/// Insert an outbox row unless its id is already queued or delivered; with
/// `needs_grant`, only while the delivery's user holds a grant for its
/// recipient (a revocation committed first wins). `true` when written.
pub(crate) async fn insert_outbox(
    conn: &mut SqliteConnection,
    d: &NewDelivery,
    sealed: &[u8],
    needs_grant: bool,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO sharing_outbox (id, recipient_id, user_id, kind, categories, body, \
         created_at, attempts, next_attempt_at) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?7 \
         WHERE NOT EXISTS (SELECT 1 FROM sharing_ledger WHERE delivery_id = ?1) \
           AND (NOT ?8 OR EXISTS (SELECT 1 FROM sharing_grants \
                                  WHERE user_id = ?3 AND recipient_id = ?2)) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(d.id.to_string())
    .bind(d.recipient.to_string())
    .bind(d.user.map(|u| u.to_string()))
    .bind(d.kind.as_str())
    .bind(d.categories.join(","))
    .bind(sealed)
    .bind(d.created_at.0)
    .bind(needs_grant)
    .execute(conn)
    .await
    .map_err(db("queueing a delivery"))?;
    Ok(done.rows_affected() == 1)
}

#[async_trait]
impl SharingStore for SqliteStore {
    async fn create_recipient(&self, r: NewRecipient) -> StoreResult<()> {
        let id = r.id.to_string();
        let secret = self
            .personal
            .seal_for_gateway(
                "sharing_recipients",
                "secret",
                &id,
                r.secret.expose().as_bytes(),
            )
            .await?;
        let key = self
            .personal
            .seal_for_gateway(
                "sharing_recipients",
                "pseudonym_key",
                &id,
                r.pseudonym_key.as_bytes(),
            )
            .await?;
        sqlx::query(&format!(
            "INSERT INTO sharing_recipients ({RECIPIENT_COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
        ))
        .bind(&id)
        .bind(r.name.as_str())
        .bind(r.contact.as_str())
        .bind(r.purpose.as_str())
        .bind(r.categories.to_list())
        .bind(r.legal_basis.as_str())
        .bind(r.retention.as_str())
        .bind(r.url.as_str())
        .bind(secret)
        .bind(key)
        .bind(r.bot.map(|b| b.to_string()))
        .bind(r.created_at.0)
        .execute(&self.writer)
        .await
        .map_err(
            |e| match crate::error::unique_violation_column(&e).as_deref() {
                Some("sharing_recipients.name") => {
                    StoreError::Conflict("a recipient with this name exists".into())
                }
                Some("sharing_recipients.bot_user_id") => {
                    StoreError::Conflict("this bot already answers for another recipient".into())
                }
                _ => db("registering a recipient")(e),
            },
        )?;
        Ok(())
    }

    async fn recipients(&self) -> StoreResult<Vec<RecipientRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {RECIPIENT_COLUMNS} FROM sharing_recipients ORDER BY name"
        ))
        .fetch_all(&self.reader)
        .await
        .map_err(db("listing recipients"))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.push(self.recipient_from_row(row).await?);
        }
        Ok(out)
    }

    async fn recipient_by_name(
        &self,
        name: &RecipientName,
    ) -> StoreResult<Option<RecipientRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {RECIPIENT_COLUMNS} FROM sharing_recipients WHERE name = ?1"
        ))
        .bind(name.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(db("reading a recipient"))?;
        match row {
            Some(row) => Ok(Some(self.recipient_from_row(&row).await?)),
            None => Ok(None),
        }
    }

    async fn recipient_by_bot(&self, bot: UserId) -> StoreResult<Option<RecipientRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {RECIPIENT_COLUMNS} FROM sharing_recipients WHERE bot_user_id = ?1"
        ))
        .bind(bot.to_string())
        .fetch_optional(&self.reader)
        .await
        .map_err(db("reading a bot's recipient"))?;
        match row {
            Some(row) => Ok(Some(self.recipient_from_row(&row).await?)),
            None => Ok(None),
        }
    }

    async fn sharing_grant(
        &self,
        user: UserId,
        recipient: RecipientId,
    ) -> StoreResult<Option<SharingGrant>> {
        let row: Option<(String, i64)> = sqlx::query_as(
            "SELECT pseudonym, granted_at FROM sharing_grants \
             WHERE user_id = ?1 AND recipient_id = ?2",
        )
        .bind(user.to_string())
        .bind(recipient.to_string())
        .fetch_optional(&self.reader)
        .await
        .map_err(db("reading a sharing grant"))?;
        row.map(|(p, at)| grant(recipient, &p, at)).transpose()
    }

    async fn sharing_grants(&self, user: UserId) -> StoreResult<Vec<SharingGrant>> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT recipient_id, pseudonym, granted_at FROM sharing_grants WHERE user_id = ?1",
        )
        .bind(user.to_string())
        .fetch_all(&self.reader)
        .await
        .map_err(db("listing sharing grants"))?;
        rows.into_iter()
            .map(|(r, p, at)| grant(parse_stored(&r, "recipient id")?, &p, at))
            .collect()
    }

    async fn user_by_pseudonym(
        &self,
        recipient: RecipientId,
        pseudonym: &RecipientPseudonym,
    ) -> StoreResult<Option<UserId>> {
        let row: Option<String> = sqlx::query_scalar(
            "SELECT user_id FROM sharing_grants WHERE recipient_id = ?1 AND pseudonym = ?2",
        )
        .bind(recipient.to_string())
        .bind(pseudonym.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(db("resolving a pseudonym"))?;
        row.map(|u| parse_stored(&u, "user id")).transpose()
    }

    async fn record_sharing_change(
        &self,
        change: SharingChange,
        erasure: Option<NewDelivery>,
    ) -> StoreResult<u64> {
        let store = self.clone();
        detached(async move { store.record_sharing_change_now(change, erasure).await }).await
    }

    async fn sharing_history(
        &self,
        user: UserId,
    ) -> StoreResult<Vec<(RecipientName, bool, Timestamp)>> {
        let rows: Vec<(String, bool, i64)> = sqlx::query_as(
            "SELECT r.name, h.granted, h.at FROM sharing_consent_history AS h \
             JOIN sharing_recipients AS r ON r.id = h.recipient_id \
             WHERE h.user_id = ?1 ORDER BY h.id",
        )
        .bind(user.to_string())
        .fetch_all(&self.reader)
        .await
        .map_err(db("reading the sharing consent history"))?;
        rows.into_iter()
            .map(|(n, g, at)| {
                Ok((
                    RecipientName::parse(&n).map_err(bad("name"))?,
                    g,
                    Timestamp(at),
                ))
            })
            .collect()
    }

    async fn forget_sharing(&self, user: UserId, erasures: Vec<NewDelivery>) -> StoreResult<u64> {
        let store = self.clone();
        detached(async move { store.forget_sharing_now(user, erasures).await }).await
    }

    async fn append_shared_message(
        &self,
        msg: NewMessage,
        recipients: &[UserId],
        delivery: NewDelivery,
    ) -> StoreResult<Appended> {
        let sealed = self.seal_body(&delivery).await?;
        let mut append = self.seal_append(msg, recipients).await?;
        append.outbox = Some(SealedDelivery { delivery, sealed });
        self.appender.append(append).await
    }

    async fn queue_shared_message(
        &self,
        msg: NewMessage,
        recipients: &[UserId],
        delivery: NewDelivery,
    ) -> StoreResult<QueuedAppend> {
        let sealed = self.seal_body(&delivery).await?;
        let mut append = self.seal_append(msg, recipients).await?;
        append.outbox = Some(SealedDelivery { delivery, sealed });
        self.appender.queue(append).await
    }

    async fn enqueue_delivery(&self, delivery: NewDelivery) -> StoreResult<bool> {
        let store = self.clone();
        detached(async move { store.enqueue_delivery_now(delivery).await }).await
    }

    async fn due_deliveries(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<PendingDelivery>> {
        let rows = sqlx::query(&format!(
            "SELECT {OUTBOX_COLUMNS} FROM sharing_outbox \
             WHERE dead_at IS NULL AND next_attempt_at <= ?1 \
             ORDER BY next_attempt_at, created_at LIMIT ?2"
        ))
        .bind(now.0)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(db("reading due deliveries"))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            match self.delivery_from_row(row).await? {
                Some(d) => out.push(d),
                None => {
                    // Erased (shredded key): nothing left to deliver.
                    let id: String = col(row, "id")?;
                    sqlx::query("DELETE FROM sharing_outbox WHERE id = ?1")
                        .bind(id)
                        .execute(&self.writer)
                        .await
                        .map_err(db("dropping an erased delivery"))?;
                }
            }
        }
        Ok(out)
    }

    async fn next_delivery_due(&self) -> StoreResult<Option<Timestamp>> {
        let at: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(next_attempt_at) FROM sharing_outbox WHERE dead_at IS NULL",
        )
        .fetch_one(&self.reader)
        .await
        .map_err(db("reading the outbox"))?;
        Ok(at.map(Timestamp))
    }

    async fn delivery_pending(&self, id: DeliveryId) -> StoreResult<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sharing_outbox WHERE id = ?1 AND dead_at IS NULL",
        )
        .bind(id.to_string())
        .fetch_one(&self.writer)
        .await
        .map_err(db("reading the outbox"))?;
        Ok(n > 0)
    }

    async fn complete_delivery(&self, id: DeliveryId, at: Timestamp) -> StoreResult<bool> {
        let store = self.clone();
        detached(async move { store.complete_delivery_now(id, at).await }).await
    }

    async fn retry_delivery(
        &self,
        id: DeliveryId,
        attempts: u32,
        next_attempt_at: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE sharing_outbox SET attempts = ?2, next_attempt_at = ?3 WHERE id = ?1")
            .bind(id.to_string())
            .bind(i64::from(attempts))
            .bind(next_attempt_at.0)
            .execute(&self.writer)
            .await
            .map_err(db("rescheduling a delivery"))?;
        Ok(())
    }

    async fn dead_letter(&self, id: DeliveryId, attempts: u32, at: Timestamp) -> StoreResult<()> {
        sqlx::query("UPDATE sharing_outbox SET attempts = ?2, dead_at = ?3 WHERE id = ?1")
            .bind(id.to_string())
            .bind(i64::from(attempts))
            .bind(at.0)
            .execute(&self.writer)
            .await
            .map_err(db("moving a delivery to the dead letters"))?;
        Ok(())
    }

    async fn dead_letters(&self) -> StoreResult<Vec<(DeliveryId, RecipientName, u32)>> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT o.id, r.name, o.attempts FROM sharing_outbox AS o \
             JOIN sharing_recipients AS r ON r.id = o.recipient_id \
             WHERE o.dead_at IS NOT NULL ORDER BY o.dead_at",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db("listing dead letters"))?;
        rows.into_iter()
            .map(|(id, n, a)| {
                Ok((
                    parse_stored(&id, "delivery id")?,
                    RecipientName::parse(&n).map_err(bad("name"))?,
                    count(u64::try_from(a).unwrap_or(0)),
                ))
            })
            .collect()
    }

    async fn sharing_ledger(&self, user: UserId) -> StoreResult<Vec<LedgerEntry>> {
        let rows: Vec<(String, String, String, String, i64)> = sqlx::query_as(
            "SELECT l.delivery_id, r.name, l.kind, l.categories, l.delivered_at \
             FROM sharing_ledger AS l JOIN sharing_recipients AS r ON r.id = l.recipient_id \
             WHERE l.user_id = ?1 ORDER BY l.delivered_at DESC, l.delivery_id",
        )
        .bind(user.to_string())
        .fetch_all(&self.reader)
        .await
        .map_err(db("reading the sharing ledger"))?;
        rows.into_iter()
            .map(|(id, n, k, c, at)| {
                Ok(LedgerEntry {
                    delivery: parse_stored(&id, "delivery id")?,
                    recipient: RecipientName::parse(&n).map_err(bad("name"))?,
                    kind: kind_of(&k)?,
                    categories: split_categories(&c),
                    delivered_at: Timestamp(at),
                })
            })
            .collect()
    }

    // ---- notices to users ----

    async fn queue_notice(&self, n: NewNotice) -> StoreResult<()> {
        let id = n.id.to_string();
        let body = self
            .personal
            .seal(PersonalField::UserNoticeBody, n.user, &id, Some(&n.body))
            .await?
            .ok_or_else(|| StoreError::Backend("sealing a notice".into()))?;
        sqlx::query(
            "INSERT INTO user_notices (id, user_id, body, due_at, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(id)
        .bind(n.user.to_string())
        .bind(body)
        .bind(n.due_at.0)
        .bind(n.created_at.0)
        .execute(&self.writer)
        .await
        .map_err(db("queueing a notice"))?;
        Ok(())
    }

    async fn unannounced_notices(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<StoredNotice>> {
        let rows = sqlx::query(
            "SELECT id, user_id, body, due_at FROM user_notices \
             WHERE announced_at IS NULL AND due_at <= ?1 ORDER BY due_at, id LIMIT ?2",
        )
        .bind(now.0)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(db("reading due notices"))?;
        self.notices_from(&rows).await
    }

    async fn mark_notice_announced(&self, id: Uuid, at: Timestamp) -> StoreResult<()> {
        sqlx::query(
            "UPDATE user_notices SET announced_at = ?2 WHERE id = ?1 AND announced_at IS NULL",
        )
        .bind(id.to_string())
        .bind(at.0)
        .execute(&self.writer)
        .await
        .map_err(db("marking a notice"))?;
        Ok(())
    }

    async fn claim_notice(&self, id: Uuid, at: Timestamp) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE user_notices SET delivered_at = ?2, announced_at = COALESCE(announced_at, ?2) \
             WHERE id = ?1 AND delivered_at IS NULL",
        )
        .bind(id.to_string())
        .bind(at.0)
        .execute(&self.writer)
        .await
        .map_err(db("marking a notice delivered"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn undelivered_notices(
        &self,
        user: UserId,
        now: Timestamp,
    ) -> StoreResult<Vec<StoredNotice>> {
        let rows = sqlx::query(
            "SELECT id, user_id, body, due_at FROM user_notices \
             WHERE user_id = ?1 AND delivered_at IS NULL AND due_at <= ?2 \
             ORDER BY due_at, id",
        )
        .bind(user.to_string())
        .bind(now.0)
        .fetch_all(&self.reader)
        .await
        .map_err(db("reading a user's notices"))?;
        self.notices_from(&rows).await
    }
}

/// The transactions behind [`SharingStore`]'s writes, each run on a task
/// of its own by its trait method (see [`detached`]).
impl SqliteStore {
    async fn record_sharing_change_now(
        &self,
        change: SharingChange,
        erasure: Option<NewDelivery>,
    ) -> StoreResult<u64> {
        let sealed = match &erasure {
            Some(d) => Some(self.seal_body(d).await?),
            None => None,
        };
        let user = change.user.to_string();
        let recipient = change.recipient.to_string();
        let mut tx = self
            .writer
            .begin()
            .await
            .map_err(db("recording a sharing consent"))?;
        sqlx::query(
            "INSERT INTO sharing_consent_history (user_id, recipient_id, granted, at) \
             VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(&user)
        .bind(&recipient)
        .bind(change.granted)
        .bind(change.at.0)
        .execute(&mut *tx)
        .await
        .map_err(db("recording a sharing consent"))?;
        let mut dropped = 0;
        if change.granted {
            sqlx::query(
                "INSERT INTO sharing_grants (user_id, recipient_id, pseudonym, granted_at) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (user_id, recipient_id) DO NOTHING",
            )
            .bind(&user)
            .bind(&recipient)
            .bind(change.pseudonym.as_str())
            .bind(change.at.0)
            .execute(&mut *tx)
            .await
            .map_err(db("granting sharing"))?;
        } else {
            sqlx::query("DELETE FROM sharing_grants WHERE user_id = ?1 AND recipient_id = ?2")
                .bind(&user)
                .bind(&recipient)
                .execute(&mut *tx)
                .await
                .map_err(db("revoking sharing"))?;
            dropped = sqlx::query(
                "DELETE FROM sharing_outbox WHERE user_id = ?1 AND recipient_id = ?2 \
                 AND kind = 'message'",
            )
            .bind(&user)
            .bind(&recipient)
            .execute(&mut *tx)
            .await
            .map_err(db("dropping queued deliveries"))?
            .rows_affected();
        }
        if let (Some(d), Some(sealed)) = (&erasure, sealed) {
            self.insert_delivery(&mut tx, d, sealed).await?;
        }
        tx.commit()
            .await
            .map_err(db("recording a sharing consent"))?;
        Ok(dropped)
    }

    async fn forget_sharing_now(
        &self,
        user: UserId,
        erasures: Vec<NewDelivery>,
    ) -> StoreResult<u64> {
        let mut sealed = Vec::with_capacity(erasures.len());
        for d in &erasures {
            sealed.push(self.seal_body(d).await?);
        }
        let user = user.to_string();
        let mut tx = self
            .writer
            .begin()
            .await
            .map_err(db("forgetting sharing"))?;
        let dropped = sqlx::query("DELETE FROM sharing_outbox WHERE user_id = ?1")
            .bind(&user)
            .execute(&mut *tx)
            .await
            .map_err(db("dropping queued deliveries"))?
            .rows_affected();
        for table in [
            "sharing_grants",
            "sharing_consent_history",
            "sharing_ledger",
        ] {
            sqlx::query(&format!("DELETE FROM {table} WHERE user_id = ?1"))
                .bind(&user)
                .execute(&mut *tx)
                .await
                .map_err(db("forgetting sharing"))?;
        }
        for (d, s) in erasures.iter().zip(sealed) {
            self.insert_delivery(&mut tx, d, s).await?;
        }
        tx.commit().await.map_err(db("forgetting sharing"))?;
        Ok(dropped)
    }

    async fn enqueue_delivery_now(&self, delivery: NewDelivery) -> StoreResult<bool> {
        let sealed = self.seal_body(&delivery).await?;
        let mut tx = self
            .writer
            .begin()
            .await
            .map_err(db("queueing a delivery"))?;
        let new = self.insert_delivery(&mut tx, &delivery, sealed).await?;
        tx.commit().await.map_err(db("queueing a delivery"))?;
        Ok(new)
    }

    async fn complete_delivery_now(&self, id: DeliveryId, at: Timestamp) -> StoreResult<bool> {
        let id = id.to_string();
        let mut tx = self
            .writer
            .begin()
            .await
            .map_err(db("completing a delivery"))?;
        sqlx::query(
            "INSERT INTO sharing_ledger (delivery_id, user_id, recipient_id, kind, categories, \
             delivered_at) \
             SELECT o.id, o.user_id, o.recipient_id, o.kind, o.categories, ?2 \
             FROM sharing_outbox AS o JOIN users AS u ON u.id = o.user_id WHERE o.id = ?1 \
             ON CONFLICT (delivery_id) DO NOTHING",
        )
        .bind(&id)
        .bind(at.0)
        .execute(&mut *tx)
        .await
        .map_err(db("recording a delivery in the ledger"))?;
        let removed = sqlx::query("DELETE FROM sharing_outbox WHERE id = ?1")
            .bind(&id)
            .execute(&mut *tx)
            .await
            .map_err(db("completing a delivery"))?
            .rows_affected();
        tx.commit().await.map_err(db("completing a delivery"))?;
        Ok(removed == 1)
    }
}

fn grant(recipient: RecipientId, pseudonym: &str, at: i64) -> StoreResult<SharingGrant> {
    Ok(SharingGrant {
        recipient,
        pseudonym: RecipientPseudonym::parse(pseudonym)
            .ok_or_else(|| StoreError::Backend("stored pseudonym is invalid".into()))?,
        granted_at: Timestamp(at),
    })
}
