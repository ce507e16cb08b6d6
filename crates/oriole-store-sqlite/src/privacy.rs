//! `impl PrivacyStore for SqliteStore`: consent history, usage events,
//! policy versions and acceptances, and the retention purges.

use async_trait::async_trait;
use oriole_core::consent::{
    parse_purpose, purpose_name, AnalyticsEventName, PolicyLang, PolicyText, PolicyVersion,
};
use oriole_core::domain::{GroupId, Timestamp, UserId};
use oriole_core::privacy_store::{
    ConsentChange, NewPolicyText, PolicyVersionRecord, PrivacyStore, Published, Purge,
};
use oriole_core::store::{StoreError, StoreResult};
use oriole_proto::{ConsentChannel, Purpose};

use crate::error::{col, db, parse_stored, to_u64};
use crate::group_inbox::{materialize_pending, Written};
use crate::store::detached;
use crate::SqliteStore;

fn channel(raw: &str) -> StoreResult<ConsentChannel> {
    match raw {
        "registration" => Ok(ConsentChannel::Registration),
        "api" => Ok(ConsentChannel::Api),
        "cli" => Ok(ConsentChannel::Cli),
        _ => Err(StoreError::Backend(
            "stored consent channel is invalid".into(),
        )),
    }
}

fn version(raw: i64) -> StoreResult<PolicyVersion> {
    u32::try_from(raw)
        .ok()
        .and_then(|v| PolicyVersion::parse(v).ok())
        .ok_or_else(|| StoreError::Backend("stored policy version is invalid".into()))
}

/// The rows a purge touches: `(statement, count statement)`. Both take
/// `?1` the cutoff; the statement `?2` the batch size; for
/// [`Purge::GroupMessages`] the group id comes last (`?3`, and `?2` in the
/// count).
fn purge_sql(purge: Purge) -> (&'static str, &'static str) {
    match purge {
        Purge::DeviceDetailsIdle => (
            // Scans by last use (devices_by_last_seen).
            "UPDATE devices SET ip = NULL, device_model = NULL, os_version = NULL \
             WHERE rowid IN (SELECT rowid FROM devices WHERE last_seen < ?1 \
               AND (ip IS NOT NULL OR device_model IS NOT NULL OR os_version IS NOT NULL) \
               LIMIT ?2)",
            "SELECT COUNT(*) FROM devices WHERE last_seen < ?1 \
             AND (ip IS NOT NULL OR device_model IS NOT NULL OR os_version IS NOT NULL)",
        ),
        Purge::DeviceDetailsRevoked => (
            "UPDATE devices SET ip = NULL, device_model = NULL, os_version = NULL \
             WHERE rowid IN (SELECT rowid FROM devices WHERE revoked_at IS NOT NULL \
               AND revoked_at <= ?1 \
               AND (ip IS NOT NULL OR device_model IS NOT NULL OR os_version IS NOT NULL) \
               LIMIT ?2)",
            "SELECT COUNT(*) FROM devices WHERE revoked_at IS NOT NULL AND revoked_at <= ?1 \
             AND (ip IS NOT NULL OR device_model IS NOT NULL OR os_version IS NOT NULL)",
        ),
        Purge::LoginHistory => (
            "DELETE FROM devices WHERE rowid IN \
             (SELECT rowid FROM devices WHERE last_seen < ?1 LIMIT ?2)",
            "SELECT COUNT(*) FROM devices WHERE last_seen < ?1",
        ),
        Purge::Messages => (
            "DELETE FROM messages WHERE rowid IN \
             (SELECT rowid FROM messages WHERE sent_at < ?1 \
               AND (group_id IS NULL OR group_id NOT IN (SELECT group_id FROM group_retention)) \
               LIMIT ?2)",
            "SELECT COUNT(*) FROM messages WHERE sent_at < ?1 \
             AND (group_id IS NULL OR group_id NOT IN (SELECT group_id FROM group_retention))",
        ),
        Purge::GroupMessages(_) => (
            "DELETE FROM messages WHERE rowid IN \
             (SELECT rowid FROM messages WHERE group_id = ?3 AND sent_at < ?1 LIMIT ?2)",
            "SELECT COUNT(*) FROM messages WHERE group_id = ?2 AND sent_at < ?1",
        ),
        Purge::AnalyticsEvents => (
            "DELETE FROM analytics_events WHERE id IN \
             (SELECT id FROM analytics_events WHERE at < ?1 LIMIT ?2)",
            "SELECT COUNT(*) FROM analytics_events WHERE at < ?1",
        ),
    }
}

#[async_trait]
impl PrivacyStore for SqliteStore {
    async fn record_consent(&self, change: ConsentChange) -> StoreResult<u64> {
        let store = self.clone();
        detached(async move { store.record_consent_now(change).await }).await
    }

    async fn consent_history(&self, user: UserId) -> StoreResult<Vec<ConsentChange>> {
        let rows = sqlx::query(
            "SELECT purpose, granted, policy_version, channel, at FROM consents \
             WHERE user_id = ?1 ORDER BY id",
        )
        .bind(user.to_string())
        .fetch_all(&self.reader)
        .await
        .map_err(db("consent history"))?;
        rows.iter()
            .map(|row| {
                Ok(ConsentChange {
                    user,
                    purpose: parse_purpose(&col::<String>(row, "purpose")?)
                        .map_err(|_| StoreError::Backend("stored purpose is invalid".into()))?,
                    granted: col(row, "granted")?,
                    policy_version: version(col(row, "policy_version")?)?,
                    channel: channel(&col::<String>(row, "channel")?)?,
                    at: Timestamp(col(row, "at")?),
                })
            })
            .collect()
    }

    async fn has_consent(&self, user: UserId, purpose: Purpose) -> StoreResult<bool> {
        let granted: Option<bool> = sqlx::query_scalar(
            "SELECT granted FROM consents WHERE user_id = ?1 AND purpose = ?2 \
             ORDER BY id DESC LIMIT 1",
        )
        .bind(user.to_string())
        .bind(purpose_name(purpose))
        .fetch_optional(&self.reader)
        .await
        .map_err(db("has consent"))?;
        Ok(granted.unwrap_or(false))
    }

    async fn record_analytics_event(
        &self,
        user: UserId,
        name: &AnalyticsEventName,
        at: Timestamp,
    ) -> StoreResult<bool> {
        // One statement: the consent check and the insert see the same
        // state, so a concurrent withdrawal cannot leave an event behind.
        let done = sqlx::query(
            "INSERT INTO analytics_events (user_id, name, at) \
             SELECT ?1, ?2, ?3 WHERE COALESCE( \
               (SELECT granted FROM consents WHERE user_id = ?1 AND purpose = ?4 \
                ORDER BY id DESC LIMIT 1), 0) = 1",
        )
        .bind(user.to_string())
        .bind(name.as_str())
        .bind(at.millis())
        .bind(purpose_name(Purpose::ProductAnalytics))
        .execute(&self.writer)
        .await
        .map_err(db("record analytics event"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn analytics_event_count(&self, user: UserId) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM analytics_events WHERE user_id = ?1")
            .bind(user.to_string())
            .fetch_one(&self.reader)
            .await
            .map_err(db("analytics event count"))?;
        to_u64(n, "count")
    }

    async fn publish_policy_text(&self, text: NewPolicyText) -> StoreResult<Published> {
        let store = self.clone();
        detached(async move { store.publish_policy_text_now(text).await }).await
    }

    async fn policy_versions(&self) -> StoreResult<Vec<PolicyVersionRecord>> {
        let rows = sqlx::query(
            "SELECT v.version, v.material, v.published_at, t.lang \
             FROM policy_versions v LEFT JOIN policy_texts t ON t.version = v.version \
             ORDER BY v.version, t.lang",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db("policy versions"))?;
        let mut out: Vec<PolicyVersionRecord> = Vec::new();
        for row in &rows {
            let v = version(col(row, "version")?)?;
            let lang: Option<String> = col(row, "lang")?;
            if out.last().is_none_or(|r| r.version != v) {
                out.push(PolicyVersionRecord {
                    version: v,
                    material: col(row, "material")?,
                    published_at: Timestamp(col(row, "published_at")?),
                    languages: Vec::new(),
                });
            }
            if let (Some(lang), Some(last)) = (lang, out.last_mut()) {
                last.languages.push(PolicyLang::from_stored(lang));
            }
        }
        Ok(out)
    }

    async fn policy_text(
        &self,
        version: PolicyVersion,
        lang: &PolicyLang,
    ) -> StoreResult<Option<PolicyText>> {
        let text: Option<String> =
            sqlx::query_scalar("SELECT text FROM policy_texts WHERE version = ?1 AND lang = ?2")
                .bind(i64::from(version.get()))
                .bind(lang.as_str())
                .fetch_optional(&self.reader)
                .await
                .map_err(db("policy text"))?;
        Ok(text.map(PolicyText::from_stored))
    }

    async fn accept_policy(
        &self,
        user: UserId,
        version: PolicyVersion,
        channel: ConsentChannel,
        at: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO policy_acceptances (user_id, version, channel, at) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (user_id, version) DO NOTHING",
        )
        .bind(user.to_string())
        .bind(i64::from(version.get()))
        .bind(channel.as_str())
        .bind(at.millis())
        .execute(&self.writer)
        .await
        .map_err(db("accept policy"))?;
        Ok(())
    }

    async fn accepted_policy(&self, user: UserId) -> StoreResult<Option<PolicyVersion>> {
        let v: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM policy_acceptances WHERE user_id = ?1")
                .bind(user.to_string())
                .fetch_one(&self.reader)
                .await
                .map_err(db("accepted policy"))?;
        v.map(version).transpose()
    }

    async fn policy_notified(&self, user: UserId) -> StoreResult<Option<PolicyVersion>> {
        let v: Option<i64> =
            sqlx::query_scalar("SELECT version FROM policy_notices WHERE user_id = ?1")
                .bind(user.to_string())
                .fetch_optional(&self.reader)
                .await
                .map_err(db("policy notified"))?;
        v.map(version).transpose()
    }

    async fn mark_policy_notified(
        &self,
        users: &[UserId],
        version: PolicyVersion,
    ) -> StoreResult<()> {
        let (store, users) = (self.clone(), users.to_vec());
        detached(async move { store.mark_policy_notified_now(&users, version).await }).await
    }

    async fn purge(
        &self,
        purge: Purge,
        cutoff: Timestamp,
        limit: u32,
        dry_run: bool,
    ) -> StoreResult<u64> {
        let store = self.clone();
        detached(async move { store.purge_now(purge, cutoff, limit, dry_run).await }).await
    }

    async fn group_retention_overrides(&self) -> StoreResult<Vec<(GroupId, u32)>> {
        let rows = sqlx::query("SELECT group_id, message_days FROM group_retention")
            .fetch_all(&self.reader)
            .await
            .map_err(db("group retention"))?;
        rows.iter()
            .map(|row| {
                let group: GroupId = parse_stored(&col::<String>(row, "group_id")?, "group id")?;
                let days: i64 = col(row, "message_days")?;
                Ok((group, u32::try_from(days).unwrap_or(u32::MAX)))
            })
            .collect()
    }

    async fn set_group_retention(&self, group: GroupId, days: Option<u32>) -> StoreResult<()> {
        let q = match days {
            Some(days) => sqlx::query(
                "INSERT INTO group_retention (group_id, message_days) VALUES (?1, ?2) \
                 ON CONFLICT (group_id) DO UPDATE SET message_days = excluded.message_days",
            )
            .bind(group.to_string())
            .bind(i64::from(days)),
            None => sqlx::query("DELETE FROM group_retention WHERE group_id = ?1")
                .bind(group.to_string()),
        };
        q.execute(&self.writer)
            .await
            .map_err(db("set group retention"))?;
        Ok(())
    }
}

/// The transactions behind [`PrivacyStore`]'s writes, each run on a task
/// of its own by its trait method (see [`detached`]).
impl SqliteStore {
    async fn record_consent_now(&self, change: ConsentChange) -> StoreResult<u64> {
        let user = change.user.to_string();
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db("record consent"))?;
        sqlx::query(
            "INSERT INTO consents (user_id, purpose, granted, policy_version, channel, at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(&user)
        .bind(purpose_name(change.purpose))
        .bind(change.granted)
        .bind(i64::from(change.policy_version.get()))
        .bind(change.channel.as_str())
        .bind(change.at.millis())
        .execute(&mut *tx)
        .await
        .map_err(db("record consent"))?;
        let erased = match (change.granted, change.purpose) {
            (false, Purpose::DeviceDiagnostics) => sqlx::query(
                "UPDATE devices SET device_model = NULL, os_version = NULL \
                     WHERE user_id = ?1 AND (device_model IS NOT NULL OR os_version IS NOT NULL)",
            )
            .bind(&user)
            .execute(&mut *tx)
            .await
            .map_err(db("erase device diagnostics"))?
            .rows_affected(),
            (false, Purpose::ProductAnalytics) => {
                sqlx::query("DELETE FROM analytics_events WHERE user_id = ?1")
                    .bind(&user)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("erase analytics events"))?
                    .rows_affected()
            }
            _ => 0,
        };
        tx.commit().await.map_err(db("record consent"))?;
        if erased > 0 {
            // Leave no copy of the erased values in the WAL.
            self.checkpoint("consent withdrawn").await;
        }
        Ok(erased)
    }

    async fn publish_policy_text_now(&self, text: NewPolicyText) -> StoreResult<Published> {
        let v = i64::from(text.version.get());
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db("publish policy"))?;
        let created = sqlx::query(
            "INSERT INTO policy_versions (version, material, published_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (version) DO NOTHING",
        )
        .bind(v)
        .bind(text.material)
        .bind(text.at.millis())
        .execute(&mut *tx)
        .await
        .map_err(db("publish policy"))?
        .rows_affected()
            == 1;
        sqlx::query("INSERT INTO policy_texts (version, lang, text) VALUES (?1, ?2, ?3)")
            .bind(v)
            .bind(text.lang.as_str())
            .bind(text.text.as_str())
            .execute(&mut *tx)
            .await
            .map_err(|e| match db("publish policy text")(e) {
                StoreError::Conflict(_) => StoreError::Conflict(format!(
                    "version {} already has a `{}` text",
                    text.version,
                    text.lang.as_str()
                )),
                other => other,
            })?;
        tx.commit().await.map_err(db("publish policy"))?;
        Ok(if created {
            Published::NewVersion
        } else {
            Published::Translation
        })
    }

    async fn mark_policy_notified_now(
        &self,
        users: &[UserId],
        version: PolicyVersion,
    ) -> StoreResult<()> {
        if users.is_empty() {
            return Ok(());
        }
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db("mark policy notified"))?;
        for user in users {
            // A user deleted meanwhile has no row to point at: skipped.
            sqlx::query(
                "INSERT INTO policy_notices (user_id, version) \
                 SELECT ?1, ?2 WHERE EXISTS (SELECT 1 FROM users WHERE id = ?1) \
                 ON CONFLICT (user_id) DO UPDATE SET version = MAX(version, excluded.version)",
            )
            .bind(user.to_string())
            .bind(i64::from(version.get()))
            .execute(&mut *tx)
            .await
            .map_err(db("mark policy notified"))?;
        }
        tx.commit().await.map_err(db("mark policy notified"))
    }

    async fn purge_now(
        &self,
        purge: Purge,
        cutoff: Timestamp,
        limit: u32,
        dry_run: bool,
    ) -> StoreResult<u64> {
        let (apply, count_rows) = purge_sql(purge);
        let group = match purge {
            Purge::GroupMessages(g) => Some(g.to_string()),
            _ => None,
        };
        if dry_run {
            let mut q = sqlx::query_scalar(count_rows).bind(cutoff.millis());
            if let Some(group) = &group {
                q = q.bind(group.clone());
            }
            let n: i64 = q
                .fetch_one(&self.reader)
                .await
                .map_err(db("retention count"))?;
            return to_u64(n, "count");
        }
        let mut q = sqlx::query(apply)
            .bind(cutoff.millis())
            .bind(i64::from(limit));
        if let Some(group) = group {
            q = q.bind(group);
        }
        let done = if matches!(purge, Purge::Messages | Purge::GroupMessages(_)) {
            // Pending group entries are derived from the messages: write
            // them before any message goes (see group_inbox).
            const OP: &str = "retention purge";
            let _log = self.group_inbox.lock().await;
            let mut tx = self.begin_write(OP).await?;
            let mut written = Written::default();
            let pending = self.group_inbox.pending_users();
            materialize_pending(&mut tx, &self.group_inbox, pending, &mut written).await?;
            let done = q.execute(&mut *tx).await.map_err(db(OP))?.rows_affected();
            tx.commit().await.map_err(db(OP))?;
            self.group_inbox.committed(&[], &written);
            done
        } else {
            q.execute(&self.writer)
                .await
                .map_err(db("retention purge"))?
                .rows_affected()
        };
        if done < u64::from(limit) {
            // The purge's last batch: leave no copy of what it removed in
            // the WAL. (Once per purge, not per batch: a checkpoint waits
            // for the disk.)
            self.checkpoint("retention purge").await;
        }
        Ok(done)
    }
}
