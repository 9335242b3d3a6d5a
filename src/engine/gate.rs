//! The gate: each released change checked against the index, in the one transaction that
//! updates the index and queues its events, so that an operation is reported exactly once
//! whoever saw it first (the kernel, a folder scan or a rescan).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Engine;
use super::rules::{Change, PAIR_WINDOW};
use crate::core::event::{Event, Operation, SharePath};
use crate::deliver::now_ms;
use crate::store::{Batch, NewEvent, StoreError};
use crate::tree::{self, Entry};

/// The least time between two commits of events: in a burst, each commit (a page write and an
/// fsync) then carries many events; an event after a quiet spell is committed at once.
const COMMIT_GAP: Duration = Duration::from_millis(10);
// With a file server's records read, changes wait for the server to write its record of them
// (Samba writes it as the call returns, after the kernel has told of the change): a while
// after the last became ready, and at most a longer while under a steady stream of changes
// (`Evidence::waits`). Once every change waiting has its record, none waits longer.
/// While changes wait for records, how often the logs are read again.
const EVIDENCE_POLL: Duration = Duration::from_millis(5);

impl Engine {
    // ----- committing -----

    /// Checks each ready change against the index and commits the ones that are news, with
    /// the index updates and the queued events, in one transaction.
    pub(super) fn commit(&mut self) {
        self.commit_waiting(true);
    }

    /// Commits what is ready now, whatever the gap since the last commit and without waiting
    /// for the file server's records (what they say by now is still read): before a walk
    /// starts, and when the engine stops.
    pub(super) fn commit_at_once(&mut self) {
        self.next_commit = Instant::now();
        self.ready_seen = None;
        self.commit_waiting(false);
    }

    fn commit_waiting(&mut self, for_evidence: bool) {
        let nothing = self.rules.ready.is_empty() && !self.reads_ready(Instant::now());
        if nothing || Instant::now() < self.next_commit {
            return;
        }
        if let Some(evidence) = self.evidence.as_ref().filter(|_| for_evidence)
            && !self.rules.ready.is_empty()
        {
            // Changes wait a moment for the file server's record of them, unless every one
            // has it already.
            let now = Instant::now();
            evidence.catch_up();
            let all_known = self.rules.ready.iter().all(|c| evidence.knows(c.path()));
            let (first, len, last) = self.ready_seen.get_or_insert((now, 0, now));
            if self.rules.ready.len() != *len {
                *len = self.rules.ready.len();
                *last = now;
            }
            let (wait, wait_max) = evidence.waits();
            let due = (*last + wait).min(*first + wait_max);
            if now < due && !all_known {
                self.next_commit = due.min(now + EVIDENCE_POLL);
                return;
            }
            self.ready_seen = None;
        }
        self.next_commit = Instant::now() + COMMIT_GAP;
        let changes = std::mem::take(&mut self.rules.ready);
        if let Some(t) = &self.disk.trace {
            changes.iter().for_each(|c| t.output(c));
        }
        match self.record(&changes) {
            Ok(done) => {
                let mut wake = BTreeSet::new();
                for (id, line, hooks) in done {
                    log::info!("event {id}: {line}");
                    wake.extend(hooks);
                }
                for (id, mailbox) in &self.routes.current().mailboxes {
                    if wake.contains(id) {
                        mailbox.bell.ring();
                    }
                }
            }
            Err(e) => {
                // Nothing was written, and the index still says what receivers were told: a
                // reconcile once the state can be written finds these changes again, and
                // whatever happens meanwhile. Until then nothing is held in memory (the
                // downloads of this batch are lost: no log position was committed for them,
                // but the reads the logs told of are not read again before a restart).
                log::error!(
                    "cannot record {} changes: {e}; watching pauses until the state can be \
                     written again, then every share is reconciled",
                    changes.len()
                );
                self.pause();
            }
        }
    }

    /// One transaction: each change through the gate, each resulting event queued for the
    /// webhooks that want it. Returns (event id, log line, webhooks) for each event.
    pub(super) fn record(
        &mut self,
        changes: &[Change],
    ) -> Result<Vec<(u64, String, Vec<u32>)>, StoreError> {
        let now = now_ms();
        let store = Arc::clone(&self.disk.store);
        let mut batch = store.batch()?;
        // What the file server recorded up to now: the changes below happened before it was
        // read. Where reading stands is committed with the events it attributed.
        if let Some(evidence) = &self.evidence {
            for (name, at) in evidence.catch_up() {
                batch.set_evidence_position(name, (at.dev, at.ino, at.offset))?;
            }
            self.attribution_figures(evidence);
        }
        let mut done = Vec::new();
        let mut seen = Vec::new();
        // The set as it is now; a webhook made or changed meanwhile counts from the next batch.
        let routing = self.routes.current();
        let mut events = Vec::new();
        for change in changes {
            events.extend(self.gate(&mut batch, change, now)?);
        }
        // The reads told of up to now, after the changes (a file written then read); a read of
        // a file whose change is still held waits for it.
        let at = Instant::now();
        for read in std::mem::take(&mut self.downloads.pending) {
            if self.read_waits(&read, at) {
                self.downloads.pending.push_back(read);
            } else {
                events.extend(self.download(read, now));
            }
        }
        {
            for event in events {
                seen.push(event.clone());
                let deliveries: Vec<(u32, Event, i64)> = routing
                    .webhooks
                    .iter()
                    .filter_map(|w| {
                        w.route(&event)
                            .map(|e| (w.id, e, self.schedule.first_due(now)))
                    })
                    .collect();
                let hooks: Vec<u32> = deliveries.iter().map(|d| d.0).collect();
                // Described only when the line is shown: a burst makes thousands.
                let line = if log::log_enabled!(log::Level::Info) {
                    describe(&event, &hooks)
                } else {
                    String::new()
                };
                let id = batch.enqueue(&NewEvent { event, deliveries })?;
                done.push((id, line, hooks));
            }
        }
        for (webhook, dropped) in batch.commit()? {
            log::warn!(
                "webhook {webhook}: its queue is full ([delivery] queue_limit); dropped its {dropped} oldest events"
            );
        }
        for event in &seen {
            if let Some(s) = self
                .disk
                .shares
                .iter()
                .find(|s| s.share.name == event.share)
            {
                s.stats.reported(event);
            }
            self.stats.feed.event(event);
        }
        Ok(done)
    }

    /// What `change` reports, given the index; updates the index in `batch`.
    pub(super) fn gate(
        &mut self,
        batch: &mut Batch<'_>,
        change: &Change,
        now: i64,
    ) -> Result<Vec<Event>, StoreError> {
        let Some((si, sp)) = self.disk.locate(change.path()) else {
            return Ok(Vec::new());
        };
        let share = self.disk.shares[si].share.name.clone();
        let mut out = Vec::new();
        match change {
            Change::Upload { path, data } => {
                let found = match tree::lstat(path) {
                    Ok(found) => found,
                    Err(e) => {
                        // Cannot tell: found by the poll of its folder once it can be read.
                        self.disk.cannot_read_above(path, &e);
                        return Ok(out);
                    }
                };
                let Some(entry) = found.filter(|e| !e.is_dir()) else {
                    if tree::is_unreported_kind(path) {
                        // Replaced by a FIFO, socket or device node: what was there is gone.
                        if let Some(known) = batch.remove_tree(&share, &sp)? {
                            out.push(self.event(Operation::Delete, si, sp, None, &known, now));
                        }
                    } else if found.is_none() {
                        // Gone since its release: perhaps renamed, the kernel's word of it not
                        // read yet.
                        let now = Instant::now();
                        if let Some(t) = &self.disk.trace {
                            t.input(
                                now,
                                "upload_found_gone",
                                serde_json::json!([t.path(path), data]),
                            );
                        }
                        self.rules.upload_found_gone(path, *data, now);
                    }
                    return Ok(out);
                };
                match batch.entry(&share, &sp)? {
                    Some(known) if known.same_as(&entry) => {
                        why!(
                            "share {share}: {sp}: Upload dropped: no change, the same size and \
                             modification time as the index has"
                        );
                        return Ok(out);
                    }
                    Some(known) if !known.is_dir() && !data => {
                        // Times or attributes only (a touch): no news, but keep the index true.
                        why!(
                            "share {share}: {sp}: Upload dropped: only its times or attributes \
                             changed (nothing was written to it)"
                        );
                        batch.put(&share, &sp, &entry)?;
                        return Ok(out);
                    }
                    Some(known) if known.is_dir() => {
                        batch.remove_tree(&share, &sp)?;
                    }
                    _ => {}
                }
                if !self.parents(batch, si, &sp, None, now, &mut out)? {
                    return Ok(out);
                }
                batch.put(&share, &sp, &entry)?;
                out.push(self.event(Operation::Upload, si, sp, None, &entry, now));
            }
            Change::Folder { path } => {
                let found = match tree::lstat(path) {
                    Ok(found) => found,
                    Err(e) => {
                        self.disk.cannot_read_above(path, &e);
                        return Ok(out);
                    }
                };
                let Some(entry) = found.filter(Entry::is_dir) else {
                    if found.is_none()
                        && let Some(parent) = path.parent()
                    {
                        // Gone since its release: perhaps a folder above it was renamed, the
                        // kernel's word of it not read yet. That rename then has the folder
                        // it was in read again at its new place, where this one is found.
                        self.rules
                            .gone
                            .push((parent.to_owned(), Instant::now() + PAIR_WINDOW));
                    }
                    return Ok(out);
                };
                match batch.entry(&share, &sp)? {
                    Some(known) if known.is_dir() => {
                        why!("share {share}: {sp}: Create Folder dropped: the folder is known");
                        batch.put(&share, &sp, &entry)?;
                        return Ok(out);
                    }
                    Some(_) => {
                        batch.remove_tree(&share, &sp)?;
                    }
                    None => {}
                }
                if !self.parents(batch, si, &sp, None, now, &mut out)? {
                    return Ok(out);
                }
                batch.put(&share, &sp, &entry)?;
                out.push(self.event(Operation::CreateFolder, si, sp, None, &entry, now));
            }
            Change::Delete { .. } => {
                if let Some(known) = batch.remove_tree(&share, &sp)? {
                    out.push(self.event(Operation::Delete, si, sp, None, &known, now));
                } else {
                    why!(
                        "share {share}: {sp}: Delete dropped: not in the index (it was never \
                         reported)"
                    );
                }
            }
            Change::Moved { from, to } => {
                let Some((_, from_sp)) = self.disk.locate(from) else {
                    return Ok(out);
                };
                let entry = Entry::read(to);
                let source = batch.entry(&share, &from_sp)?;
                if !self.parents(batch, si, &sp, source.as_ref(), now, &mut out)? {
                    return Ok(out);
                }
                if !batch.move_tree(&share, &from_sp, &sp)? {
                    // Not known after all: new content.
                    if let Some(entry) = entry {
                        batch.put(&share, &sp, &entry)?;
                        let op = if entry.is_dir() {
                            // What it holds is news too; nothing else will look inside.
                            self.rules.rescan_folders.push(to.clone());
                            Operation::CreateFolder
                        } else {
                            Operation::Upload
                        };
                        out.push(self.event(op, si, sp, None, &entry, now));
                    }
                    return Ok(out);
                }
                let moved = batch.entry(&share, &sp)?.expect("just moved there");
                let entry = match entry {
                    // A folder compares by inode only: the disk's entry is as true, and newer
                    // (one never read since the first start keeps that mark).
                    Some(e) if e.is_dir() && moved.is_dir() => {
                        let e = if moved.is_unread() { e.unread() } else { e };
                        batch.put(&share, &sp, &e)?;
                        e
                    }
                    // A file keeps the content it was reported with: a write just before the
                    // rename is still news for the Upload held at the new name, or, if the
                    // daemon stops first, for the next start's reconcile.
                    _ => moved,
                };
                let op = if from_sp.parent() == sp.parent() {
                    Operation::Rename
                } else {
                    Operation::Move
                };
                out.push(self.event(op, si, sp, Some(from_sp), &entry, now));
            }
        }
        Ok(out)
    }

    /// Parents first, made structural: before anything is put at `sp` in share `si`, every
    /// folder above it that the index lacks is put and announced as a Create Folder,
    /// outermost first, whatever held or released what (a receiver replaying the events must
    /// never meet a path inside a folder it was not told about). A folder missing from the
    /// disk too is announced only when a known entry (`moved`) was moved into it: the kernel
    /// said it was a folder then, and its own rename or delete, read after, moves or removes
    /// it again. Returns false when a folder above cannot be placed (gone, and nothing known
    /// moved into it): the change is stale, and what replaced it is reported by its own event.
    pub(super) fn parents(
        &mut self,
        batch: &mut Batch<'_>,
        si: usize,
        sp: &SharePath,
        moved: Option<&Entry>,
        now: i64,
        out: &mut Vec<Event>,
    ) -> Result<bool, StoreError> {
        let share = self.disk.shares[si].share.name.clone();
        let root = self.disk.shares[si].share.path.clone();
        let mut above = Vec::new();
        let mut folder = sp.parent();
        while !folder.is_root() {
            match batch.entry(&share, &folder)? {
                // The index is a tree: what is above a known folder is known.
                Some(known) if known.is_dir() => break,
                known => above.push((folder.clone(), known.is_some())),
            }
            folder = folder.parent();
        }
        for (folder, replaced) in above.into_iter().rev() {
            let entry = match (Entry::read(&folder.on(&root)).filter(Entry::is_dir), moved) {
                (Some(entry), _) => entry,
                (None, Some(moved)) => Entry {
                    kind: tree::EntryKind::Dir,
                    // Unknown while it is gone: a later reconcile compares it by kind and
                    // inode, and finds it changed should this path hold a folder again.
                    ino: 0,
                    size: 0,
                    mtime_ns: 0,
                    uid: moved.uid,
                },
                (None, None) => {
                    why!(
                        "share {share}: {sp}: dropped: the folder {folder} above it is gone \
                         (what took its place is reported by its own event)"
                    );
                    return Ok(false);
                }
            };
            if replaced {
                batch.remove_tree(&share, &folder)?;
            }
            batch.put(&share, &folder, &entry)?;
            out.push(self.event(Operation::CreateFolder, si, folder, None, &entry, now));
        }
        Ok(true)
    }

    /// Tells the figures how reading the file server's records goes.
    pub(super) fn attribution_figures(&self, evidence: &crate::evidence::Evidence) {
        let now = now_ms();
        let figures = evidence
            .status()
            .into_iter()
            .map(|st| crate::core::stats::AttributionFigures {
                source: st.source.to_owned(),
                log: st.path.display().to_string(),
                records: st.records,
                doubtful: st.doubtful,
                waiting: st.kept as u64,
                last_record_ms: st
                    .since_last
                    .map(|d| now - i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
                trouble: st.trouble,
            })
            .collect();
        *self
            .stats
            .attribution
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = figures;
    }

    pub(super) fn event(
        &mut self,
        op: Operation,
        si: usize,
        path: SharePath,
        source: Option<SharePath>,
        entry: &Entry,
        now: i64,
    ) -> Event {
        // An Upload that a file server's records show was a copy made on the server, from a
        // file of the same share: a Copy, with its source.
        let root = &self.disk.shares[si].share.path;
        let (op, source) = match self.evidence.as_ref() {
            Some(evidence) if op == Operation::Upload => evidence
                .copy_source(&path.on(root))
                .and_then(|from| SharePath::within(root, &from))
                .filter(|from| !from.is_root())
                .map_or((op, source), |from| (Operation::Copy, Some(from))),
            _ => (op, source),
        };
        let share = &self.disk.shares[si].share.name;
        if self.evidence.is_some()
            && [Some(&path), source.as_ref()]
                .into_iter()
                .flatten()
                .any(|p| p.as_bytes().contains(&b'\n'))
        {
            log::warn!(
                "share {share}: {}: a name holding a newline; once it is opened over SMB, Samba's \
                 audit log holds its name across lines, which could be shaped to look like \
                 another session's record: keep such names off shares whose changes are \
                 attributed",
                crate::core::event::escape_bytes(path.as_bytes())
            );
        }
        // A change made through the API is reported as its user's, by protocol `api`; one a
        // file server's records tell of, as theirs; any other as the file owner's.
        let who = self.attributions.take(share, op, &path).or_else(|| {
            let root = &self.disk.shares[si].share.path;
            self.evidence
                .as_ref()?
                .take(root, op, &path, source.as_ref())
        });
        let (username, protocol, address, attribution) = match who {
            Some(w) => (w.user, Some(w.protocol), w.address, w.how),
            None => (
                self.owners.name(entry.uid),
                None,
                String::new(),
                crate::core::event::Attribution::Owner,
            ),
        };
        Event {
            id: 0,
            op,
            share: share.clone(),
            path,
            source,
            is_dir: entry.is_dir(),
            username,
            time_ms: now,
            size: (entry.kind == tree::EntryKind::File && op != Operation::Delete)
                .then_some(entry.size),
            protocol,
            address,
            attribution,
        }
    }
}

fn describe(event: &Event, webhooks: &[u32]) -> String {
    let source = event
        .source
        .as_ref()
        .map(|s| format!(" from {s}"))
        .unwrap_or_default();
    let to = if webhooks.is_empty() {
        "no webhook wants it".to_owned()
    } else {
        let ids: Vec<String> = webhooks.iter().map(u32::to_string).collect();
        format!("queued for webhook {}", ids.join(", "))
    };
    let via = event
        .protocol
        .as_ref()
        .map(|p| format!(" via {p}"))
        .unwrap_or_default();
    format!(
        "{} {}{source} in share {} by {}{via}: {to}",
        event.op.v1_name(),
        event.path,
        event.share,
        event.username
    )
}
