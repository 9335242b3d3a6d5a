//! Reconciles: the disk compared with the index, folder by folder, and the differences
//! handed to the rules as what a person did; the walks they are, and the first start's
//! baseline (`baseline.rs`) too, which reports nothing.
//!
//! Both are *walks*, done a slice at a time between batches of kernel events, so that live
//! events keep flowing while a big share is read: a walk keeps the folders it has still to
//! read, and what it found, until its last folder. What it found is checked against the disk
//! again then (a live event may have handled it meanwhile), and renames read meanwhile move
//! the folders it has still to read.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use super::Engine;
use super::ahead::Look;
use super::baseline::BASELINE_SLICE;
use super::rules::PAIR_WINDOW;
use super::walk::{Step, Walk, Why};
use crate::core::event::SharePath;
use crate::store::{ShareRecord, StoreError};
use crate::tree::{self, Entry};

impl Engine {
    /// Queues the start's walk of share `si`: the catch-up with its index, or, the first time
    /// (or when the share moved), its baseline.
    pub(super) fn first_pass(&mut self, si: usize) -> Result<(), StoreError> {
        let share = self.disk.shares[si].share.clone();
        let path = share.path.as_os_str().as_encoded_bytes().to_vec();
        let known = self.disk.store.share(&share.name)?;
        let baseline = match known {
            Some(rec) if rec.baseline && rec.path == path => false,
            other => {
                if let Some(rec) = other.filter(|r| r.path != path) {
                    log::warn!(
                        "share {} moved from {} to {}: its index is taken again",
                        share.name,
                        String::from_utf8_lossy(&rec.path),
                        share.path.display()
                    );
                }
                let mut batch = self.disk.store.batch()?;
                batch.drop_share(&share.name)?;
                batch.commit()?;
                true
            }
        };
        self.walks
            .push_back(Walk::new(si, SharePath::root(), Why::Start, baseline));
        Ok(())
    }

    /// Queues a reconcile of folder `top` of share `si`, unless one covering it is queued
    /// and has not started.
    pub(super) fn reconcile_later(&mut self, si: usize, top: SharePath, why: Why) {
        let covered = self.walks.iter().any(|w| {
            w.si == si
                && !w.baseline
                && w.folders.len() == 1
                && w.folders[0] == w.top
                && top.is_within(&w.top)
        });
        if !covered {
            self.walks.push_back(Walk::new(si, top, why, false));
        }
    }

    /// Whether a walk of all of share `si` is queued or under way.
    pub(super) fn walking_whole(&self, si: usize) -> bool {
        self.walks.iter().any(|w| w.whole(si))
    }

    /// The walks follow the folders moved since they last did (by a rename read, or found
    /// by a reconcile). Called before new walks are queued: those start from paths that are
    /// already current.
    pub(super) fn follow_moves(&mut self) {
        self.follow_moves_with(None);
    }

    /// `follow_moves`, for the walk under way (out of the queue) too.
    pub(super) fn follow_moves_with(&mut self, mut current: Option<&mut Walk>) {
        for (from, to) in std::mem::take(&mut self.disk.moves) {
            if let (Some((si, from)), Some((sj, to))) =
                (self.disk.share_of(&from), self.disk.share_of(&to))
                && si == sj
            {
                for walk in self.walks.iter_mut().chain(current.as_deref_mut()) {
                    walk.moved(si, &from, &to);
                }
            }
        }
    }

    /// Goes on with the walks for about `budget`; returns whether any is left.
    pub(super) fn step_walks(&mut self, budget: Duration) -> Result<bool, StoreError> {
        // A baseline commits what it indexed at the end of each slice: longer slices, fewer
        // commits (a live change waits a little longer during a first start only).
        let budget = match self.walks.front() {
            Some(w) if w.baseline && !budget.is_zero() => budget.max(BASELINE_SLICE),
            _ => budget,
        };
        let end = Instant::now() + budget;
        self.follow_moves();
        loop {
            // Before a walk starts, the index must include everything already decided (what
            // an earlier walk just handed over included), however recent the last commit.
            if self.walks.front().is_some_and(|w| w.slices == 0) {
                self.commit_at_once();
                if self.paused() {
                    return Ok(false);
                }
            }
            let Some(mut walk) = self.walks.pop_front() else {
                break;
            };
            walk.slices += 1;
            if walk.slices == 1 && walk.top.is_root() {
                self.start_ahead(&mut walk);
            }
            let done = if walk.baseline {
                self.baseline_slice(&mut walk, end)
            } else {
                self.compare_slice(&mut walk, end)
            };
            let done = match done {
                Ok(done) => done,
                Err(e) => {
                    self.end_ahead(&mut walk);
                    return Err(e);
                }
            };
            if done {
                self.finish(walk)?;
            } else {
                self.walks.push_front(walk);
            }
            if Instant::now() >= end {
                break;
            }
        }
        Ok(!self.walks.is_empty())
    }

    /// Runs every walk to its end.
    #[cfg(test)]
    pub(super) fn walk_all(&mut self) -> Result<(), StoreError> {
        while self.step_walks(Duration::from_secs(3600))? {}
        Ok(())
    }

    /// Compares folder `top` of share `si` with the index, all of it, now.
    #[cfg(test)]
    pub(super) fn reconcile(&mut self, si: usize, top: &SharePath) -> Result<(), StoreError> {
        self.walks
            .push_back(Walk::new(si, top.clone(), Why::Other, false));
        self.walk_all()
    }

    /// Compares folders of a reconcile with the index until `end`; returns whether it is
    /// complete.
    fn compare_slice(&mut self, walk: &mut Walk, end: Instant) -> Result<bool, StoreError> {
        let si = walk.si;
        let name = self.disk.shares[si].share.name.clone();
        let root = self.disk.shares[si].share.path.clone();
        if walk.slices == 1 && !walk.top.is_root() {
            // The index's mark decides for the top folder as well as below it: a retry that
            // ran between a rename on disk and its kernel event forgot the old path's
            // bookkeeping.
            let top = &walk.top;
            if self
                .disk
                .store
                .entry(&name, top)?
                .is_some_and(|e| e.is_unread())
            {
                self.disk.unbaselined.insert(top.on(&root));
            }
        }
        loop {
            let (folder, look) = match self.next_folder(walk, end) {
                Step::Folder(folder, look) => (folder, look),
                Step::Later => return Ok(false),
                Step::Done => return Ok(true),
            };
            walk.taken += 1;
            self.compare_folder(walk, &name, &root, &folder, look)?;
            if Instant::now() >= end {
                return Ok(walk.folders.is_empty() && walk.ahead.is_none());
            }
        }
    }

    /// Compares one folder of the walk's share (`name`, at `root`) with the index (`look`:
    /// what was read of it ahead): what differs is noted in `walk`, the folders in it are
    /// queued there.
    fn compare_folder(
        &mut self,
        walk: &mut Walk,
        name: &str,
        root: &Path,
        folder: &SharePath,
        look: Option<Look>,
    ) -> Result<(), StoreError> {
        let si = walk.si;
        let now = Instant::now();
        let abs = folder.on(root);
        if self.disk.unbaselined.contains(&abs) {
            // Never read since the first start: what it holds is baseline, not news.
            self.baseline_below(si, folder)?;
            return Ok(());
        }
        let disk = match look.unwrap_or_else(|| self.disk.look_folder(si, &abs)) {
            Look::Read { entries, .. } => entries,
            // Gone or renamed since (its kernel event not read yet): not empty.
            Look::Gone => {
                if let Some(t) = &self.disk.trace {
                    t.input(now, "gone", serde_json::json!([t.path(&abs)]));
                }
                self.rules.gone.push((abs, now + PAIR_WINDOW));
                return Ok(());
            }
            // A folder that cannot be read is not empty: its index entries stay as they are.
            Look::Failed(_) => return Ok(()),
        };
        let mut folders = Vec::new();
        let (appeared, vanished, changed) =
            (&mut walk.appeared, &mut walk.vanished, &mut walk.changed);
        let known = self.disk.store.children(name, folder)?;
        let (mut d, mut k) = (disk.iter().peekable(), known.into_iter().peekable());
        loop {
            let order = match (d.peek(), k.peek()) {
                (None, None) => break,
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some(a), Some(b)) => a.0.cmp(b.0.as_slice()),
            };
            match order {
                std::cmp::Ordering::Less => {
                    let (n, e) = d.next().expect("peeked");
                    appeared.push((folder.join(n), *e));
                }
                std::cmp::Ordering::Greater => {
                    let (n, e) = k.next().expect("peeked");
                    vanished.push((folder.join(&n), e));
                }
                std::cmp::Ordering::Equal => {
                    let (n, &disk_entry) = d.next().expect("peeked");
                    let (_, known_entry) = k.next().expect("peeked");
                    if disk_entry.kind != known_entry.kind
                        || (disk_entry.is_dir() && disk_entry.ino != known_entry.ino)
                    {
                        let path = folder.join(n);
                        vanished.push((path.clone(), known_entry));
                        appeared.push((path, disk_entry));
                    } else if disk_entry.is_dir() {
                        let path = folder.join(n);
                        if known_entry.is_unread() {
                            self.disk.unbaselined.insert(path.on(root));
                        }
                        folders.push(path);
                    } else if !disk_entry.same_as(&known_entry) {
                        changed.push(folder.join(n));
                    }
                }
            }
        }
        folders.into_iter().for_each(|f| walk.queue(f));
        Ok(())
    }

    /// The end of a walk: a reconcile's differences handed to the rules (moves paired by
    /// inode), a baseline's share marked as indexed; what the start or a safety rescan did
    /// is said.
    fn finish(&mut self, walk: Walk) -> Result<(), StoreError> {
        let si = walk.si;
        let share = self.disk.shares[si].share.clone();
        let ms = walk.started.elapsed().as_millis();
        if walk.baseline {
            let mut batch = self.disk.store.batch()?;
            batch.set_share(
                &share.name,
                &ShareRecord {
                    path: share.path.as_os_str().as_encoded_bytes().to_vec(),
                    // A root that could not be read holds no baseline yet: the next start
                    // takes it again, unless it is taken once the root can be read.
                    baseline: !self.disk.unbaselined.contains(&share.path),
                },
            )?;
            batch.commit()?;
            log::info!(
                "share {} at {}: {}; first start: {} entries indexed in {ms} ms, nothing \
                 reported for them",
                share.name,
                share.path.display(),
                self.disk.how(si),
                walk.indexed
            );
            return Ok(());
        }
        // Differences found in one slice are as true as the disk's answers; across slices,
        // live events may have handled some of them meanwhile (never on a polled share).
        let recheck = (walk.slices > 1 || walk.replayed) && self.disk.shares[si].polled.is_none();
        let found = self.hand_over(walk.si, walk.appeared, walk.vanished, walk.changed, recheck);
        match walk.why {
            Why::Start => log::info!(
                "share {} at {}: {}; caught up with the index in {ms} ms ({found} changes made \
                 while sharehook was stopped)",
                share.name,
                share.path.display(),
                self.disk.how(si),
            ),
            Why::Safety => log::info!(
                "safety rescan of share {} done in {ms} ms: {found} changes the kernel had not \
                 told",
                share.name
            ),
            Why::Other => {}
        }
        Ok(())
    }

    /// Hands what a reconcile found to the rules; returns how many changes that was. With
    /// `recheck`, each difference is looked at again first: a live event may have handled it
    /// since it was found (a file made again where one vanished, one that appeared and went).
    fn hand_over(
        &mut self,
        si: usize,
        appeared: Vec<(SharePath, Entry)>,
        vanished: Vec<(SharePath, Entry)>,
        changed: Vec<SharePath>,
        recheck: bool,
    ) -> usize {
        let root = self.disk.shares[si].share.path.clone();
        let now = Instant::now();
        let appeared: Vec<(SharePath, Entry)> = appeared
            .into_iter()
            .filter(|(p, e)| {
                // Gone again, or replaced by another kind: its own events say so.
                !recheck
                    || tree::lstat(&p.on(&root))
                        .ok()
                        .flatten()
                        .is_some_and(|now| now.kind == e.kind)
            })
            .collect();
        let mut appeared = appeared;
        let vanished: Vec<(SharePath, Entry)> = if recheck {
            let name = self.disk.shares[si].share.name.clone();
            let mut kept = Vec::new();
            for (p, e) in vanished {
                // A live event handled it if the index no longer has what the walk saw gone.
                let known = self.disk.store.entry(&name, &p).ok().flatten();
                if !known.is_some_and(|k| k.kind == e.kind && k.ino == e.ino) {
                    continue;
                }
                match tree::lstat(&p.on(&root)) {
                    Ok(None) => kept.push((p, e)),
                    // Another kind, or another folder, at the path now: the entry the index
                    // had is gone, and what is there is new (unless the walk saw it too).
                    Ok(Some(now)) if now.kind != e.kind || (e.is_dir() && now.ino != e.ino) => {
                        if !appeared.iter().any(|(q, _)| *q == p) {
                            appeared.push((p.clone(), now));
                        }
                        kept.push((p, e));
                    }
                    // The same entry is back, or it cannot be told: not gone.
                    _ => {}
                }
            }
            kept
        } else {
            vanished
        };
        let found = appeared.len() + vanished.len() + changed.len();
        // Moves: an entry gone from one path and the same inode (size, time) at another.
        let mut by_inode: HashMap<u64, usize> = HashMap::new();
        for (i, (_, e)) in appeared.iter().enumerate() {
            by_inode.insert(e.ino, i);
        }
        let mut matched = vec![false; appeared.len()];
        let mut moves = Vec::new();
        let mut deletes = Vec::new();
        for (path, old) in vanished {
            let found = by_inode
                .get(&old.ino)
                .copied()
                .filter(|&i| !matched[i] && appeared[i].1.same_as(&old));
            match found {
                Some(i) => {
                    matched[i] = true;
                    moves.push((path, appeared[i].0.clone(), old.is_dir()));
                }
                None => deletes.push(path),
            }
        }
        let trace = |e: &Engine, what: &str, args: serde_json::Value| {
            if let Some(t) = &e.disk.trace {
                t.input(now, what, args);
            }
        };
        let p = |e: &Engine, p: &Path| e.disk.trace.as_ref().map(|t| t.path(p));
        for (from, to, is_dir) in moves {
            let (from, to) = (from.on(&root), to.on(&root));
            trace(
                self,
                "found_moved",
                serde_json::json!([p(self, &from), p(self, &to), is_dir]),
            );
            self.rules.found_moved(from, to, is_dir, &mut self.disk);
        }
        for path in deletes {
            let path = path.on(&root);
            trace(self, "found_deleted", serde_json::json!([p(self, &path)]));
            self.rules.found_deleted(path, &mut self.disk);
        }
        for (i, (path, entry)) in appeared.into_iter().enumerate() {
            if !matched[i] {
                let path = path.on(&root);
                trace(
                    self,
                    "new_content",
                    serde_json::json!([p(self, &path), entry.is_dir()]),
                );
                self.rules
                    .new_content(path, entry.is_dir(), now, &mut self.disk);
            }
        }
        for path in changed {
            let path = path.on(&root);
            trace(
                self,
                "hold_upload",
                serde_json::json!([p(self, &path), true]),
            );
            self.rules.hold_upload(path, true, now);
        }
        found
    }
}
