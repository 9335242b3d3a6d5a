//! Reconciles: the disk compared with the index, folder by folder, and the differences
//! handed to the rules as what a person did; the first start's baseline, which reports nothing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use super::Engine;
use super::rules::PAIR_WINDOW;
use crate::deliver::human;
use crate::event::SharePath;
use crate::store::{ShareRecord, StoreError};
use crate::tree::Entry;

/// Index entries written per transaction while a baseline is taken.
const BASELINE_BATCH: usize = 4096;

impl Engine {
    /// The baseline (first start) or the catch-up reconcile of share `si`.
    pub(super) fn first_pass(&mut self, si: usize) -> Result<(), StoreError> {
        let share = self.disk.shares[si].share.clone();
        let path = share.path.as_os_str().as_encoded_bytes().to_vec();
        let known = self.disk.store.share(&share.name)?;
        let how = match &self.disk.shares[si].polled {
            Some(reason) => format!(
                "polled every {} ({reason})",
                human(self.disk.settings.poll_interval)
            ),
            None => "watched with inotify".to_owned(),
        };
        let started = Instant::now();
        match known {
            Some(rec) if rec.baseline && rec.path == path => {
                let before = self.rules.ready.len() + self.rules.holds.len();
                self.reconcile(si, &SharePath::root(), Instant::now())?;
                let found = self.rules.ready.len() + self.rules.holds.len() - before;
                log::info!(
                    "share {} at {}: {how}; caught up with the index in {} ms ({found} changes \
                     made while sharehook was stopped)",
                    share.name,
                    share.path.display(),
                    started.elapsed().as_millis()
                );
            }
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
                let entries = self.baseline(si)?;
                let mut batch = self.disk.store.batch()?;
                batch.set_share(
                    &share.name,
                    &ShareRecord {
                        path,
                        // A root that could not be read holds no baseline yet: the next
                        // start takes it again, unless it is taken once the root can be read.
                        baseline: !self.disk.unbaselined.contains(&share.path),
                    },
                )?;
                batch.commit()?;
                log::info!(
                    "share {} at {}: {how}; first start: {entries} entries indexed in {} ms, \
                     nothing reported for them",
                    share.name,
                    share.path.display(),
                    started.elapsed().as_millis()
                );
            }
        }
        Ok(())
    }

    /// Indexes share `si` as it is, reporting nothing; returns how many entries it has.
    pub(super) fn baseline(&mut self, si: usize) -> Result<u64, StoreError> {
        self.baseline_below(si, &SharePath::root())
    }

    /// Indexes folder `top` of share `si` and everything below it as it is, reporting nothing
    /// (the first start, or a folder that could not be read then and can be now); returns
    /// how many entries were indexed. A folder that cannot be read is left for later.
    pub(super) fn baseline_below(&mut self, si: usize, top: &SharePath) -> Result<u64, StoreError> {
        let name = self.disk.shares[si].share.name.clone();
        let root = self.disk.shares[si].share.path.clone();
        let store = Arc::clone(&self.disk.store);
        let mut batch = store.batch()?;
        let mut in_batch = 0;
        let mut total = 0u64;
        let mut folders = vec![top.clone()];
        while let Some(folder) = folders.pop() {
            let abs = folder.on(&root);
            let Ok(entries) = self.disk.look(si, &abs) else {
                // Marked in the index too, so that a restart does not take what it holds
                // for news either.
                if let Some(e) = batch
                    .entry(&name, &folder)?
                    .filter(|e| e.is_dir() && !e.is_unread())
                {
                    batch.put(&name, &folder, &e.unread())?;
                }
                self.disk.unbaselined.insert(abs);
                continue;
            };
            if self.disk.unbaselined.remove(&abs) {
                if folder.is_root() {
                    let path = root.as_os_str().as_encoded_bytes().to_vec();
                    batch.set_share(
                        &name,
                        &ShareRecord {
                            path,
                            baseline: true,
                        },
                    )?;
                } else if let Some(e) = batch.entry(&name, &folder)? {
                    batch.put(&name, &folder, &Entry { size: 0, ..e })?;
                }
                log::info!(
                    "the folder {}, which could not be read at the first start, is indexed now; \
                     nothing is reported for what it holds",
                    abs.display()
                );
            }
            for (name_bytes, entry) in entries {
                let path = folder.join(&name_bytes);
                batch.put(&name, &path, &entry)?;
                total += 1;
                in_batch += 1;
                if entry.is_dir() {
                    folders.push(path);
                }
                if in_batch >= BASELINE_BATCH {
                    batch.commit()?;
                    batch = store.batch()?;
                    in_batch = 0;
                }
            }
        }
        batch.commit()?;
        Ok(total)
    }

    /// Compares folder `top` of share `si` (and everything below it) with the index, and
    /// turns the differences into changes and holds. Entries moved while nobody watched are
    /// recognised by inode (same inode, size and time at a new path).
    pub(super) fn reconcile(
        &mut self,
        si: usize,
        top: &SharePath,
        now: Instant,
    ) -> Result<(), StoreError> {
        // The index must include everything already decided, however recent the last commit.
        self.next_commit = Instant::now();
        self.commit();
        let name = self.disk.shares[si].share.name.clone();
        let root = self.disk.shares[si].share.path.clone();
        let mut appeared: Vec<(SharePath, Entry)> = Vec::new();
        let mut vanished: Vec<(SharePath, Entry)> = Vec::new();
        let mut changed: Vec<SharePath> = Vec::new();
        let mut folders = vec![top.clone()];
        // The index's mark decides for the top folder as well as below it: a retry that ran
        // between a rename on disk and its kernel event forgot the old path's bookkeeping.
        if !top.is_root()
            && self
                .disk
                .store
                .entry(&name, top)?
                .is_some_and(|e| e.is_unread())
        {
            self.disk.unbaselined.insert(top.on(&root));
        }
        while let Some(folder) = folders.pop() {
            let abs = folder.on(&root);
            if self.disk.unbaselined.contains(&abs) {
                // Never read since the first start: what it holds is baseline, not news.
                self.baseline_below(si, &folder)?;
                continue;
            }
            if !Entry::read(&abs).is_some_and(|e| e.is_dir()) {
                // Gone or renamed since (its kernel event not read yet): not empty.
                self.rules.gone.push((abs, now + PAIR_WINDOW));
                continue;
            }
            // A folder that cannot be read is not empty: its index entries stay as they are.
            let Ok(disk) = self.disk.look(si, &abs) else {
                continue;
            };
            if disk.is_empty() && !Entry::read(&abs).is_some_and(|e| e.is_dir()) {
                // Renamed or removed while it was read: what the read saw is not the folder.
                self.rules.gone.push((abs, now + PAIR_WINDOW));
                continue;
            }
            let known = self.disk.store.children(&name, &folder)?;
            let (mut d, mut k) = (disk.into_iter().peekable(), known.into_iter().peekable());
            loop {
                let order = match (d.peek(), k.peek()) {
                    (None, None) => break,
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (Some(a), Some(b)) => a.0.cmp(&b.0),
                };
                match order {
                    std::cmp::Ordering::Less => {
                        let (n, e) = d.next().expect("peeked");
                        appeared.push((folder.join(&n), e));
                    }
                    std::cmp::Ordering::Greater => {
                        let (n, e) = k.next().expect("peeked");
                        vanished.push((folder.join(&n), e));
                    }
                    std::cmp::Ordering::Equal => {
                        let (n, disk_entry) = d.next().expect("peeked");
                        let (_, known_entry) = k.next().expect("peeked");
                        let path = folder.join(&n);
                        if disk_entry.kind != known_entry.kind
                            || (disk_entry.is_dir() && disk_entry.ino != known_entry.ino)
                        {
                            vanished.push((path.clone(), known_entry));
                            appeared.push((path, disk_entry));
                        } else if disk_entry.is_dir() {
                            if known_entry.is_unread() {
                                self.disk.unbaselined.insert(path.on(&root));
                            }
                            folders.push(path);
                        } else if !disk_entry.same_as(&known_entry) {
                            changed.push(path);
                        }
                    }
                }
            }
        }

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
        for (from, to, is_dir) in moves {
            self.rules
                .found_moved(from.on(&root), to.on(&root), is_dir, &mut self.disk);
        }
        for path in deletes {
            self.rules.found_deleted(path.on(&root), &mut self.disk);
        }
        for (i, (path, entry)) in appeared.into_iter().enumerate() {
            if !matched[i] {
                self.rules
                    .new_content(path.on(&root), entry.is_dir(), now, &mut self.disk);
            }
        }
        for path in changed {
            self.rules.hold_upload(path.on(&root), true, now);
        }
        Ok(())
    }
}
