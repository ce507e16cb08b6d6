//! The conformance suite every [`Store`](oriole_core::Store) backend must
//! pass. A backend's test crate runs it with one line:
//!
//! ```text
//! async fn fresh() -> (MyStore, tempfile::TempDir) { /* a new, empty store */ }
//! oriole_store_tests::store_conformance!(fresh);
//! ```
//!
//! `store_conformance!(fresh)` expands to one `#[tokio::test]` per case in
//! [`cases`], each on a fresh store. `fresh` is anything callable with no
//! arguments returning a future of `(store, guard)`; the guard (a temp dir,
//! a database handle, or `()`) is dropped after the case. The calling crate
//! needs `tokio` (with the `macros` and `rt-multi-thread` features).

pub mod cases;
pub mod fixtures;

/// One `#[tokio::test]` per conformance case; see the crate documentation.
#[macro_export]
macro_rules! store_conformance {
    ($fresh:expr) => {
        $crate::store_conformance!(@cases $fresh;
            users_round_trip,
            users_duplicate_username_conflicts,
            users_find_by_phone_and_email,
            users_duplicate_phone_or_email_conflicts,
            devices_resolve_sessions,
            devices_duplicate_token_conflicts,
            devices_revoke_only_own_live_devices,
            devices_touch_updates_last_seen,
            append_seqs_start_at_one_for_every_recipient,
            append_seqs_are_gap_free_per_user,
            append_lists_each_recipient_once,
            append_duplicate_key_writes_nothing,
            append_keys_are_per_sender,
            append_to_unknown_recipient_writes_nothing,
            queued_appends_commit_in_queue_order,
            queued_append_from_a_gone_sender_fails_alone,
            inbox_after_pages_in_order,
            inbox_events_describe_messages,
            payload_json_round_trips,
            inbox_head_is_newest_seq,
            message_records_round_trip,
            inbox_has_message_only_for_holders,
            recall_drops_content_and_notifies_holders,
            recall_twice_appends_once,
            receipts_reach_the_sender_once,
            groups_create_and_read,
            groups_membership_changes,
            groups_update,
            groups_delete_keeps_messages,
            group_history_filters_and_orders,
            concurrent_appends_are_gap_free,
            concurrent_duplicate_sends_store_once,
            readers_never_see_gaps,
            group_and_direct_seqs_interleave,
            group_membership_changes_keep_inboxes,
            group_recall_reaches_members_at_send,
            group_receipts_reach_the_sender_in_order,
            group_duplicate_send_describes_the_original,
            group_inbox_has_message_for_members_at_send,
            group_message_counts_before_any_read,
            concurrent_group_and_direct_sends_stay_gap_free,
            concurrent_duplicate_group_sends_store_once,
            sharing_recipients_round_trip,
            sharing_direct_target_flags_bots,
            sharing_outbox_is_idempotent_and_completes_into_the_ledger,
            sharing_revocation_drops_queued_messages,
            sharing_retries_and_dead_letters,
            sharing_message_and_delivery_commit_together,
        );
    };
    (@cases $fresh:expr; $($case:ident),+ $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (store, _guard) = ($fresh)().await;
                $crate::cases::$case(store).await;
            }
        )+
    };
}
