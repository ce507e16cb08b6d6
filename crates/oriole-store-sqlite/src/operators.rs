//! Operator accounts and their sessions. Nothing here is sealed: the name is
//! a staff login looked up by exact match (declared in the inventory), and
//! passwords and tokens are stored only as hashes.

use oriole_core::domain::{Timestamp, UserId};
use oriole_core::staff::{
    parse_reason, parse_role, role_code, ContentGrantRecord, OperatorId, OperatorName,
    OperatorRecord, TicketRef,
};
use oriole_core::store::{StoreError, StoreResult};
use oriole_crypto::{PasswordHashString, TokenHash};
use oriole_proto::ReasonCode;
use sqlx::sqlite::SqliteRow;

use crate::error::{col, db, parse_stored};
use crate::SqliteStore;

const COLUMNS: &str = "o.id, o.name, o.role, o.password_hash, o.created_at, o.disabled_at";

fn operator(row: &SqliteRow) -> StoreResult<OperatorRecord> {
    let bad = |what: &str| StoreError::Backend(format!("stored operator {what} is invalid"));
    Ok(OperatorRecord {
        id: parse_stored(&col::<String>(row, "id")?, "operator id")?,
        name: OperatorName::parse(&col::<String>(row, "name")?).map_err(|_| bad("name"))?,
        role: parse_role(&col::<String>(row, "role")?).map_err(|_| bad("role"))?,
        password_hash: PasswordHashString::from_stored(col(row, "password_hash")?),
        created_at: Timestamp(col(row, "created_at")?),
        disabled_at: col::<Option<i64>>(row, "disabled_at")?.map(Timestamp),
    })
}

impl SqliteStore {
    pub(crate) async fn insert_operator(&self, op: OperatorRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO operators (id, name, role, password_hash, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(op.id.to_string())
        .bind(op.name.as_str())
        .bind(role_code(op.role))
        .bind(op.password_hash.as_str())
        .bind(op.created_at.0)
        .execute(&self.writer)
        .await
        .map(drop)
        .map_err(|e| match db("creating an operator")(e) {
            StoreError::Conflict(_) => StoreError::Conflict("operator name is taken".into()),
            other => other,
        })
    }

    pub(crate) async fn find_operator(
        &self,
        filter: &'static str,
        value: String,
    ) -> StoreResult<Option<OperatorRecord>> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM operators AS o WHERE {filter} = ?1"
        ))
        .bind(value)
        .fetch_optional(&self.reader)
        .await
        .map_err(db("reading an operator"))?
        .as_ref()
        .map(operator)
        .transpose()
    }

    pub(crate) async fn all_operators(&self) -> StoreResult<Vec<OperatorRecord>> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM operators AS o ORDER BY o.created_at, o.id"
        ))
        .fetch_all(&self.reader)
        .await
        .map_err(db("listing operators"))?
        .iter()
        .map(operator)
        .collect()
    }

    pub(crate) async fn insert_operator_session(
        &self,
        token: &TokenHash,
        operator: OperatorId,
        at: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO operator_sessions (token_hash, operator_id, created_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(token.as_str())
        .bind(operator.to_string())
        .bind(at.0)
        .bind(expires_at.0)
        .execute(&self.writer)
        .await
        .map(drop)
        .map_err(db("creating an operator session"))
    }

    pub(crate) async fn session_operator(
        &self,
        token: &TokenHash,
        now: Timestamp,
    ) -> StoreResult<Option<OperatorRecord>> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM operator_sessions AS s \
             JOIN operators AS o ON o.id = s.operator_id \
             WHERE s.token_hash = ?1 AND s.revoked_at IS NULL AND s.expires_at > ?2 \
               AND o.disabled_at IS NULL"
        ))
        .bind(token.as_str())
        .bind(now.0)
        .fetch_optional(&self.reader)
        .await
        .map_err(db("reading an operator session"))?
        .as_ref()
        .map(operator)
        .transpose()
    }

    pub(crate) async fn end_operator_session(
        &self,
        token: &TokenHash,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE operator_sessions SET revoked_at = ?2 \
             WHERE token_hash = ?1 AND revoked_at IS NULL",
        )
        .bind(token.as_str())
        .bind(at.0)
        .execute(&self.writer)
        .await
        .map_err(db("ending an operator session"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Mark the operator disabled and end every live session of theirs, in
    /// one transaction; `false` when they already were.
    ///
    /// A write transaction: called only inside [`crate::store::detached`].
    pub(crate) async fn disable_operator_now(
        &self,
        operator: OperatorId,
        at: Timestamp,
    ) -> StoreResult<bool> {
        const OP: &str = "disabling an operator";
        let id = operator.to_string();
        let mut tx = self.writer.begin().await.map_err(db(OP))?;
        let done = sqlx::query(
            "UPDATE operators SET disabled_at = ?2 WHERE id = ?1 AND disabled_at IS NULL",
        )
        .bind(&id)
        .bind(at.0)
        .execute(&mut *tx)
        .await
        .map_err(db(OP))?;
        sqlx::query(
            "UPDATE operator_sessions SET revoked_at = ?2 \
             WHERE operator_id = ?1 AND revoked_at IS NULL",
        )
        .bind(&id)
        .bind(at.0)
        .execute(&mut *tx)
        .await
        .map_err(db(OP))?;
        tx.commit().await.map_err(db(OP))?;
        Ok(done.rows_affected() > 0)
    }

    /// Replace the operator's password hash and end their other sessions
    /// (all but `keep`), in one transaction.
    ///
    /// A write transaction: called only inside [`crate::store::detached`].
    pub(crate) async fn replace_operator_password(
        &self,
        operator: OperatorId,
        hash: &PasswordHashString,
        keep: &TokenHash,
        at: Timestamp,
    ) -> StoreResult<()> {
        const OP: &str = "changing an operator's password";
        let id = operator.to_string();
        let mut tx = self.writer.begin().await.map_err(db(OP))?;
        let done = sqlx::query("UPDATE operators SET password_hash = ?2 WHERE id = ?1")
            .bind(&id)
            .bind(hash.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db(OP))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("no such operator".into()));
        }
        sqlx::query(
            "UPDATE operator_sessions SET revoked_at = ?3 \
             WHERE operator_id = ?1 AND token_hash != ?2 AND revoked_at IS NULL",
        )
        .bind(&id)
        .bind(keep.as_str())
        .bind(at.0)
        .execute(&mut *tx)
        .await
        .map_err(db(OP))?;
        tx.commit().await.map_err(db(OP))
    }
}

const GRANT_COLUMNS: &str = "id, requester_id, subject_user_id, reason, ticket, requested_at, \
                             approved_by, approved_at, expires_at";

fn grant(row: &SqliteRow) -> StoreResult<ContentGrantRecord> {
    let bad = |what: &str| StoreError::Backend(format!("stored content grant {what} is invalid"));
    let approved_by: Option<String> = col(row, "approved_by")?;
    Ok(ContentGrantRecord {
        id: parse_stored(&col::<String>(row, "id")?, "grant id")?,
        requester: parse_stored(&col::<String>(row, "requester_id")?, "operator id")?,
        subject: parse_stored(&col::<String>(row, "subject_user_id")?, "user id")?,
        reason: parse_reason(&col::<String>(row, "reason")?).map_err(|_| bad("reason"))?,
        ticket: TicketRef::parse(&col::<String>(row, "ticket")?).map_err(|_| bad("ticket"))?,
        requested_at: Timestamp(col(row, "requested_at")?),
        approved_by: approved_by
            .map(|s| parse_stored(&s, "operator id"))
            .transpose()?,
        approved_at: col::<Option<i64>>(row, "approved_at")?.map(Timestamp),
        expires_at: col::<Option<i64>>(row, "expires_at")?.map(Timestamp),
    })
}

impl SqliteStore {
    pub(crate) async fn insert_content_grant(&self, g: &ContentGrantRecord) -> StoreResult<()> {
        sqlx::query(&format!(
            "INSERT INTO content_access_grants ({GRANT_COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        ))
        .bind(g.id.to_string())
        .bind(g.requester.to_string())
        .bind(g.subject.to_string())
        .bind(g.reason.as_str())
        .bind(g.ticket.as_str())
        .bind(g.requested_at.0)
        .bind(g.approved_by.map(|o| o.to_string()))
        .bind(g.approved_at.map(|t| t.0))
        .bind(g.expires_at.map(|t| t.0))
        .execute(&self.writer)
        .await
        .map(drop)
        .map_err(db("recording a content access request"))
    }

    pub(crate) async fn find_content_grant(
        &self,
        id: uuid::Uuid,
    ) -> StoreResult<Option<ContentGrantRecord>> {
        sqlx::query(&format!(
            "SELECT {GRANT_COLUMNS} FROM content_access_grants WHERE id = ?1"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.reader)
        .await
        .map_err(db("reading a content access grant"))?
        .as_ref()
        .map(grant)
        .transpose()
    }

    pub(crate) async fn approve_grant(
        &self,
        id: uuid::Uuid,
        approver: OperatorId,
        at: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE content_access_grants SET approved_by = ?2, approved_at = ?3, \
             expires_at = ?4 WHERE id = ?1 AND approved_at IS NULL",
        )
        .bind(id.to_string())
        .bind(approver.to_string())
        .bind(at.0)
        .bind(expires_at.0)
        .execute(&self.writer)
        .await
        .map_err(db("approving a content access grant"))?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn find_live_grant(
        &self,
        requester: OperatorId,
        subject: UserId,
        reason: ReasonCode,
        ticket: &TicketRef,
        now: Timestamp,
    ) -> StoreResult<Option<ContentGrantRecord>> {
        sqlx::query(&format!(
            "SELECT {GRANT_COLUMNS} FROM content_access_grants \
             WHERE requester_id = ?1 AND subject_user_id = ?2 AND reason = ?3 \
               AND ticket = ?4 AND approved_at IS NOT NULL AND expires_at > ?5 \
             ORDER BY expires_at DESC LIMIT 1"
        ))
        .bind(requester.to_string())
        .bind(subject.to_string())
        .bind(reason.as_str())
        .bind(ticket.as_str())
        .bind(now.0)
        .fetch_optional(&self.reader)
        .await
        .map_err(db("reading a content access grant"))?
        .as_ref()
        .map(grant)
        .transpose()
    }
}
