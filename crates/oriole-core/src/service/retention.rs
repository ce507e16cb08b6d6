//! Retention runs (PRIVACY.md P3): apply each rule's period in batches,
//! count what was removed, and record the run in the audit log.

use oriole_audit::{Actor, EntryDraft, EventKind};
use oriole_proto::{
    RetentionCount, RetentionReport, RetentionRule as RuleInfo, RetentionRules, RetentionRunRequest,
};

use super::Oriole;
use crate::audit::details;
use crate::domain::Timestamp;
use crate::error::ServiceResult;
use crate::privacy_store::Purge;
use crate::retention::{days_ms, RetentionConfig, RetentionRule};
use crate::store::Store;

/// Batches one rule may take in one run: a bound, so a run always ends
/// (the next run picks up the rest).
const MAX_BATCHES: u64 = 100_000;

impl<S: Store> Oriole<S> {
    /// `GET /v1/admin/retention`: the rules and their periods.
    pub fn retention_rules(&self, config: &RetentionConfig) -> RetentionRules {
        RetentionRules {
            rules: RetentionRule::ALL
                .into_iter()
                .map(|rule| {
                    let days = rule.days(config);
                    RuleInfo {
                        rule: rule.name().to_owned(),
                        items: rule.items().iter().map(|i| (*i).to_owned()).collect(),
                        description: rule.description().to_owned(),
                        days,
                        enabled: days != Some(0) || rule == RetentionRule::Messages,
                    }
                })
                .collect(),
            deletion_purges: Vec::new(),
        }
    }

    /// Apply the retention rules (one, or all) now: each in batches of
    /// `config.batch_size`, or with `dry_run` only counting. The run is
    /// recorded in the audit log by `actor` (the system for the background
    /// job, the operator for `oriole admin retention run`).
    pub async fn run_retention(
        &self,
        actor: Actor,
        config: &RetentionConfig,
        req: RetentionRunRequest,
    ) -> ServiceResult<RetentionReport> {
        let rules = match req.rule.as_deref() {
            Some(name) => vec![RetentionRule::parse(name)?],
            None => RetentionRule::ALL.to_vec(),
        };
        let now = self.clock.now();
        let mut counts = Vec::with_capacity(rules.len());
        for rule in rules {
            let mut count = RetentionCount {
                rule: rule.name().to_owned(),
                count: 0,
                batches: 0,
            };
            for (purge, cutoff) in self.purges(rule, config, now).await? {
                let (n, batches) = self
                    .purge_all(purge, cutoff, config.batch_size, req.dry_run)
                    .await?;
                count.count += n;
                count.batches += batches;
            }
            counts.push(count);
        }
        let total = counts.iter().map(|c| c.count).sum();
        let report = RetentionReport {
            dry_run: req.dry_run,
            at: now.0,
            counts,
            total,
        };
        if !req.dry_run {
            let per_rule: serde_json::Map<String, serde_json::Value> = report
                .counts
                .iter()
                .map(|c| (c.rule.clone(), c.count.into()))
                .collect();
            self.audit(
                EntryDraft::new(now.0, actor, EventKind::OPERATOR_ACTION).details(details(
                    serde_json::json!({ "operation": "retention_run", "total": total, "counts": per_rule }),
                )),
            )
            .await?;
        }
        tracing::info!(dry_run = req.dry_run, total, "retention run");
        Ok(report)
    }

    /// What a rule removes, with each part's cutoff.
    async fn purges(
        &self,
        rule: RetentionRule,
        config: &RetentionConfig,
        now: Timestamp,
    ) -> ServiceResult<Vec<(Purge, Timestamp)>> {
        let cutoff = |days: u32| Timestamp(now.0.saturating_sub(days_ms(days)));
        Ok(match rule {
            RetentionRule::DeviceDetailsRevoked => vec![(Purge::DeviceDetailsRevoked, now)],
            RetentionRule::DeviceDetailsIdle if config.device_details_days > 0 => {
                vec![(Purge::DeviceDetailsIdle, cutoff(config.device_details_days))]
            }
            RetentionRule::LoginHistory if config.login_history_days > 0 => {
                vec![(Purge::LoginHistory, cutoff(config.login_history_days))]
            }
            RetentionRule::AnalyticsEvents if config.analytics_days > 0 => {
                vec![(Purge::AnalyticsEvents, cutoff(config.analytics_days))]
            }
            RetentionRule::Messages => {
                let mut parts = Vec::new();
                if config.message_days > 0 {
                    parts.push((Purge::Messages, cutoff(config.message_days)));
                }
                for (group, days) in self.store.group_retention_overrides().await? {
                    if days > 0 {
                        parts.push((Purge::GroupMessages(group), cutoff(days)));
                    }
                }
                parts
            }
            _ => Vec::new(),
        })
    }

    /// One purge to the end, batch by batch; (rows, batches).
    async fn purge_all(
        &self,
        purge: Purge,
        cutoff: Timestamp,
        batch: u32,
        dry_run: bool,
    ) -> ServiceResult<(u64, u64)> {
        let batch = batch.max(1);
        if dry_run {
            let n = self.store.purge(purge, cutoff, batch, true).await?;
            return Ok((n, n.div_ceil(u64::from(batch))));
        }
        let (mut total, mut batches) = (0, 0);
        while batches < MAX_BATCHES {
            let n = self.store.purge(purge, cutoff, batch, false).await?;
            if n == 0 {
                break;
            }
            total += n;
            batches += 1;
            if n < u64::from(batch) {
                break;
            }
            // Let other writers in between batches.
            tokio::task::yield_now().await;
        }
        Ok((total, batches))
    }
}
