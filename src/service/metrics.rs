//! The figures the state adds to the running daemon's own (`core::stats`): each webhook's
//! last success and failure from the log when the daemon starts, and the queue depths, failed
//! counts and index sizes the metrics show.

use std::sync::Arc;

use crate::core::stats::{Failure, HookCounts, ShareStats, Stats, render_from};
use crate::store::{LogFilter, Store};

/// How many of the newest log entries are read, when the daemon starts (and by `sharehook
/// status` with no daemon), for each webhook's last success and failure: enough for a few
/// webhooks. Finding the newest reads only the start of the other entries' records.
pub const LOG_LOOKBACK: usize = 1000;

/// Sets the last success and failure of `webhooks` that have none yet from the newest
/// `LOG_LOOKBACK` log entries, so that they survive a restart.
pub fn seed_from_log(stats: &Stats, store: &Store, webhooks: &[u32]) {
    let filter = LogFilter {
        limit: LOG_LOOKBACK,
        ..LogFilter::default()
    };
    let entries = match store.log(&filter) {
        Ok(entries) => entries,
        Err(e) => {
            log::warn!("cannot read the delivery log for the last outcomes: {e}");
            return;
        }
    };
    for &id in webhooks {
        let mine = || entries.iter().filter(|e| e.webhook == id);
        let success = mine().find(|e| e.success()).map(|e| e.time_ms);
        let failure = mine().find(|e| !e.success()).map(|e| Failure {
            time_ms: e.time_ms,
            status: e.status,
            transport: e.transport,
            message: e.message.clone(),
        });
        stats.webhook(id).seed(success, failure);
    }
}

/// The counts the state holds for `webhooks` (queued, failed, disabled).
pub fn hook_counts(store: &Store, webhooks: &[u32]) -> Vec<HookCounts> {
    webhooks
        .iter()
        .map(|&id| HookCounts {
            id,
            queued: store.pending_count(id).unwrap_or(0),
            failed: store.failed_count(id).unwrap_or(0),
            disabled: store.health(id).is_ok_and(|h| h.disabled.is_some()),
        })
        .collect()
}

/// Every metric, in the Prometheus text format 0.0.4. `webhooks` are the ids of the running
/// webhooks; queue depths, failed counts and index sizes are read from `store` (each is kept
/// as a count there: nothing is walked).
pub fn render(stats: &Stats, store: &Store, webhooks: &[u32]) -> String {
    let shares: Vec<(String, Arc<ShareStats>, Option<u64>)> = stats
        .shares()
        .into_iter()
        .map(|(name, s)| {
            let entries = store.index_entries(&name).ok();
            (name, s, entries)
        })
        .collect();
    render_from(stats, &shares, &hook_counts(store, webhooks))
}
