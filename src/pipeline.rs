//! The worker between the watcher and the queues: reads hints in batches, classifies them into
//! operations, places each in its share (path, owner), routes it to the webhooks that want
//! it, and commits the batch to the store in one transaction before any worker may send it.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::classify::{Change, Classifier, Hint};
use crate::config::{Share, Webhook};
use crate::deliver::{Bell, now_ms};
use crate::event::{Event, Operation, SharePath};
use crate::owner::Owners;
use crate::retry::Schedule;
use crate::store::{NewEvent, Store};

/// At most this many hints are read before the batch is committed.
const MAX_BATCH: usize = 4096;
/// The pipeline looks up at least this often, to show it is alive.
const TICK: Duration = Duration::from_secs(1);

pub struct Pipeline {
    pub shares: Vec<Share>,
    pub webhooks: Vec<Webhook>,
    pub schedule: Schedule,
    pub store: Arc<Store>,
    /// Each webhook's bell, by webhook id.
    pub bells: Vec<(u32, Arc<Bell>)>,
    pub stop: Arc<AtomicBool>,
    /// When the loop last went round, in ms since the epoch (for the service watchdog).
    pub heartbeat: Arc<AtomicI64>,
    pub owners: Owners,
}

impl Pipeline {
    /// Runs until the watcher closes the channel, then commits what it still holds.
    pub fn run(mut self, hints: Receiver<Hint>) {
        let mut classifier = Classifier::new();
        loop {
            self.heartbeat.store(now_ms(), Ordering::Relaxed);
            let wait = classifier.next_deadline().map_or(TICK, |d| {
                d.saturating_duration_since(Instant::now()).min(TICK)
            });
            let started = Instant::now();
            match hints.recv_timeout(wait) {
                Ok(hint) => {
                    classifier.push(hint, Instant::now());
                    let mut drained = false;
                    for _ in 1..MAX_BATCH {
                        match hints.try_recv() {
                            Ok(hint) => classifier.push(hint, Instant::now()),
                            Err(_) => {
                                drained = true;
                                break;
                            }
                        }
                    }
                    // A rename's window may close only when its second half cannot be
                    // waiting unread in the channel.
                    let now = if drained { Instant::now() } else { started };
                    self.commit(classifier.drain(now));
                }
                Err(RecvTimeoutError::Timeout) => self.commit(classifier.drain(Instant::now())),
                Err(RecvTimeoutError::Disconnected) => {
                    self.commit(classifier.flush());
                    return;
                }
            }
        }
    }

    fn commit(&mut self, changes: Vec<Change>) {
        if changes.is_empty() {
            return;
        }
        let now = now_ms();
        let mut batch = Vec::new();
        for change in changes {
            for event in self.place(change, now) {
                let deliveries: Vec<(u32, Event, i64)> = self
                    .webhooks
                    .iter()
                    .filter_map(|w| {
                        w.route(&event)
                            .map(|e| (w.id, e, self.schedule.first_due(now)))
                    })
                    .collect();
                batch.push(NewEvent { event, deliveries });
            }
        }
        let mut wake = BTreeSet::new();
        let mut lines = Vec::with_capacity(batch.len());
        for item in &batch {
            let ids: Vec<String> = item
                .deliveries
                .iter()
                .map(|(id, _, _)| id.to_string())
                .collect();
            wake.extend(item.deliveries.iter().map(|(id, _, _)| *id));
            lines.push(describe(&item.event, &ids));
        }
        let mut pause = Duration::from_secs(1);
        let ids = loop {
            match self.store.enqueue(&batch) {
                Ok(ids) => break ids,
                Err(e) => {
                    // Nothing is lost while this lasts: the batch stays here and the watcher
                    // waits behind the full channel.
                    log::error!(
                        "cannot queue {} events, trying again in {} s: {e}",
                        batch.len(),
                        pause.as_secs()
                    );
                    if self.stop.load(Ordering::SeqCst) {
                        return;
                    }
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(60));
                }
            }
        };
        for (id, line) in ids.iter().zip(lines) {
            log::info!("event {id}: {line}");
        }
        for (id, bell) in &self.bells {
            if wake.contains(id) {
                bell.ring();
            }
        }
    }

    /// The events `change` is in share terms: one, or two when a rename crosses shares.
    fn place(&mut self, change: Change, now: i64) -> Vec<Event> {
        let dest = self.locate(&change.path);
        let source = change.source.as_deref().map(|s| self.locate(s));
        let mut out = Vec::new();
        match (dest, source) {
            (Some((share, path)), Some(Some((src_share, src)))) if share == src_share => {
                out.push(self.event(change.op, share, path, Some(src), &change, now));
            }
            (dest, source) => {
                // Different shares (or one side outside every share): gone from one, new in
                // the other.
                if let Some(Some((share, path))) = source {
                    out.push(self.event(Operation::Delete, share, path, None, &change, now));
                }
                if let Some((share, path)) = dest {
                    let op = match change.op {
                        Operation::Move | Operation::Rename if change.is_dir => {
                            Operation::CreateFolder
                        }
                        Operation::Move | Operation::Rename => Operation::Upload,
                        op => op,
                    };
                    out.push(self.event(op, share, path, None, &change, now));
                }
            }
        }
        out
    }

    /// The share holding `abs` (the innermost, if shares nest) and the path inside it. The
    /// share root itself is no entry of the share.
    fn locate(&self, abs: &Path) -> Option<(usize, SharePath)> {
        self.shares
            .iter()
            .enumerate()
            .filter_map(|(i, s)| SharePath::within(&s.path, abs).map(|p| (i, p)))
            .filter(|(_, p)| !p.is_root())
            .max_by_key(|(i, _)| self.shares[*i].path.as_os_str().len())
    }

    fn event(
        &mut self,
        op: Operation,
        share: usize,
        path: SharePath,
        source: Option<SharePath>,
        change: &Change,
        now: i64,
    ) -> Event {
        let abs = path.on(&self.shares[share].path);
        let meta = if op == Operation::Delete {
            None
        } else {
            std::fs::symlink_metadata(&abs).ok()
        };
        // A deleted entry has no owner left to ask; its folder's owner stands in.
        let username = meta
            .as_ref()
            .map(|m| self.owners.name(std::os::unix::fs::MetadataExt::uid(m)))
            .or_else(|| abs.parent().and_then(|p| self.owners.of_path(p)))
            .unwrap_or_else(|| "0".to_owned());
        let size = meta.as_ref().filter(|m| m.is_file()).map(|m| m.len());
        Event {
            id: 0,
            op,
            share: self.shares[share].name.clone(),
            path,
            source: if op.has_source() { source } else { None },
            is_dir: change.is_dir || meta.as_ref().is_some_and(|m| m.is_dir()),
            username,
            time_ms: now,
            size,
        }
    }
}

fn describe(event: &Event, webhooks: &[String]) -> String {
    let source = event
        .source
        .as_ref()
        .map(|s| format!(" from {s}"))
        .unwrap_or_default();
    let to = if webhooks.is_empty() {
        "no webhook wants it".to_owned()
    } else {
        format!("queued for webhook {}", webhooks.join(", "))
    };
    format!(
        "{} {}{source} in share {} by {}: {to}",
        event.op.v1_name(),
        event.path,
        event.share,
        event.username
    )
}
