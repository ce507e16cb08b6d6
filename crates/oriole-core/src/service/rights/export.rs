//! `GET /v1/me/export`: a portable archive of everything held about the
//! caller, streamed as a tar of JSON and JSON-lines files (layout in
//! docs/export-format.md, which the archive carries as its README).
//!
//! Streamed: the inbox is read page by page and each page becomes one
//! archive entry, so memory stays flat however many messages there are, and
//! nothing is staged on the server. Rate-limited per user and audit-logged.

use oriole_audit::{EntryDraft, EventKind};
use oriole_proto::ErrorCode;
use tokio::sync::mpsc;

use super::super::{Caller, Oriole};
use super::tar;
use super::view::SECTIONS;
use crate::audit::{details, pseudonym, user_actor};
use crate::domain::{InboxSeq, Timestamp};
use crate::error::{ServiceError, ServiceResult};
use crate::rights::ReceiptGiven;
use crate::store::Store;

/// The archive format named in its `manifest.json`.
pub const EXPORT_FORMAT: &str = "oriole-export-v1";

/// The README inside every archive.
const README: &str = include_str!("../../../../../docs/export-format.md");

/// Inbox events per `messages/part-NNNNNN.jsonl` entry.
const PAGE: u32 = 1000;

/// An export that passed the rate limit and was audited; run it with
/// [`Oriole::run_export`].
#[derive(Debug, Clone)]
pub struct ExportJob {
    caller: Caller,
    started_at: Timestamp,
}

impl ExportJob {
    /// The archive's file name, for `Content-Disposition`.
    pub fn file_name(&self) -> String {
        format!(
            "oriole-export-{}-{}.tar",
            self.caller.username, self.started_at.0
        )
    }
}

/// "1 h 5 min", "3 min 20 s", "12 s".
fn human(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s} s"),
        (0, _) => format!("{m} min {s} s"),
        _ => format!("{h} h {m} min"),
    }
}

impl<S: Store> Oriole<S> {
    /// Check the rate limit, record the export and audit it. Fails with
    /// `rate_limited` (saying when the next export is allowed) when the
    /// caller exported less than the configured interval ago.
    pub async fn begin_export(&self, caller: &Caller) -> ServiceResult<ExportJob> {
        let now = self.clock.now();
        let interval = self.config.rights.export_interval_secs;
        if let Some(last) = self.store.last_export(caller.user_id).await? {
            let next = last.plus_secs(interval);
            if next > now {
                let wait = u64::try_from((next.0 - now.0 + 999) / 1000).unwrap_or(1);
                return Err(ServiceError {
                    code: ErrorCode::RateLimited,
                    message: format!(
                        "one export per {} is allowed; the next export is allowed in {} \
                         (at {} ms since the epoch)",
                        human(interval),
                        human(wait),
                        next.0
                    ),
                    retry_after: Some(wait),
                });
            }
        }
        self.store.record_export(caller.user_id, now).await?;
        self.audit(
            EntryDraft::new(now.0, user_actor(caller.user_id), EventKind::EXPORT)
                .subject(pseudonym(caller.user_id))
                .details(details(serde_json::json!({ "format": EXPORT_FORMAT }))),
        )
        .await?;
        Ok(ExportJob {
            caller: caller.clone(),
            started_at: now,
        })
    }

    /// Write the archive to `sink`, one entry at a time. A failure is sent
    /// as the last item (so the transfer is aborted, never silently
    /// truncated); a receiver that went away stops the export.
    pub async fn run_export(
        &self,
        job: ExportJob,
        sink: mpsc::Sender<Result<Vec<u8>, ServiceError>>,
    ) {
        if let Err(e) = self.write_export(&job, &sink).await {
            tracing::warn!(code = %e.code, "export failed");
            let _ = sink.send(Err(e)).await;
        }
    }

    async fn write_export(
        &self,
        job: &ExportJob,
        sink: &mpsc::Sender<Result<Vec<u8>, ServiceError>>,
    ) -> ServiceResult<()> {
        let caller = &job.caller;
        let mtime = u64::try_from(job.started_at.0 / 1000).unwrap_or(0);
        let gone = || ServiceError::new(ErrorCode::Internal, "the export's receiver went away");
        let send = |bytes: Vec<u8>| async move { sink.send(Ok(bytes)).await.map_err(|_| gone()) };

        let manifest = serde_json::json!({
            "format": EXPORT_FORMAT,
            "user_id": caller.user_id.to_string(),
            "username": caller.username.as_str(),
            "generated_at": job.started_at.0,
            "sections": SECTIONS.iter().map(|(id, title, items)| serde_json::json!({
                "file": format!("{id}.json"),
                "title": title,
                "inventory_items": items,
            })).collect::<Vec<_>>(),
            "messages": "messages/part-NNNNNN.jsonl: every inbox event, oldest first",
            "receipts": "receipts/part-NNNNNN.jsonl: the receipts you gave, by message",
        });
        send(tar::entry("README.md", README.as_bytes(), mtime)).await?;
        send(tar::entry("manifest.json", &pretty(&manifest), mtime)).await?;
        for (id, _, _) in SECTIONS {
            let data = self.section(caller, id).await?;
            send(tar::entry(&format!("{id}.json"), &pretty(&data), mtime)).await?;
        }
        let mut after = InboxSeq(0);
        let mut part = 0u32;
        loop {
            let events = self.store.inbox_after(caller.user_id, after, PAGE).await?;
            let Some(last) = events.last() else { break };
            after = InboxSeq(last.seq);
            part += 1;
            let mut lines = Vec::new();
            for event in &events {
                serde_json::to_writer(&mut lines, event)
                    .map_err(|e| ServiceError::new(ErrorCode::Internal, e.to_string()))?;
                lines.push(b'\n');
            }
            let name = format!("messages/part-{part:06}.jsonl");
            send(tar::entry(&name, &lines, mtime)).await?;
            if events.len() < PAGE as usize {
                break;
            }
        }
        let mut after: Option<ReceiptGiven> = None;
        let mut part = 0u32;
        loop {
            let page = self
                .store
                .receipts_given(caller.user_id, after.as_ref(), PAGE)
                .await?;
            if page.is_empty() {
                break;
            }
            part += 1;
            let mut lines = Vec::new();
            for r in &page {
                let line = serde_json::json!({
                    "message_id": r.message_id.to_string(),
                    "kind": r.kind,
                    "at": r.at.0,
                });
                serde_json::to_writer(&mut lines, &line)
                    .map_err(|e| ServiceError::new(ErrorCode::Internal, e.to_string()))?;
                lines.push(b'\n');
            }
            let name = format!("receipts/part-{part:06}.jsonl");
            send(tar::entry(&name, &lines, mtime)).await?;
            let full = page.len() == PAGE as usize;
            after = page.into_iter().last();
            if !full {
                break;
            }
        }
        send(tar::end()).await
    }
}

fn pretty(value: &serde_json::Value) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(value).unwrap_or_default();
    out.push(b'\n');
    out
}
