//! The first start's baseline: a share's folders indexed as they are, nothing reported (and
//! a folder that could not be read then, once it can be).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Engine;
use super::ahead::Look;
use super::walk::{Step, Walk};
use crate::core::event::SharePath;
use crate::store::{Batch, ShareRecord, StoreError};
use crate::tree::{Entries, Entry};

/// How long a slice of a baseline goes on, at least.
pub(super) const BASELINE_SLICE: Duration = Duration::from_millis(60);
/// Index entries written per transaction while a baseline is taken, at most. A slice ends
/// sooner (about 27,000 entries on a 2-core x86_64): each commit is durable, and at 4,096
/// the commits alone cost about 5 % of a first start.
const BASELINE_BATCH: usize = 1 << 16;

impl Engine {
    /// Reads and indexes folders of a baseline until `end`; returns whether it is complete.
    pub(super) fn baseline_slice(
        &mut self,
        walk: &mut Walk,
        end: Instant,
    ) -> Result<bool, StoreError> {
        let store = Arc::clone(&self.disk.store);
        let mut batch = store.batch()?;
        let mut in_batch = 0;
        let mut found = Vec::new();
        let done = loop {
            let (folder, look) = match self.next_folder(walk, end) {
                Step::Folder(folder, look) => (folder, look),
                Step::Later => break false,
                Step::Done => break true,
            };
            walk.taken += 1;
            let added = self.baseline_folder(&mut batch, walk.si, &folder, look, &mut found)?;
            found.drain(..).for_each(|f| walk.queue(f));
            walk.indexed += added;
            in_batch += added;
            if in_batch >= BASELINE_BATCH as u64 {
                batch.commit()?;
                batch = store.batch()?;
                in_batch = 0;
            }
            if Instant::now() >= end {
                break false;
            }
        };
        batch.commit()?;
        Ok(done)
    }

    /// Indexes folder `top` of share `si` and everything below it as it is, reporting nothing
    /// (a folder that could not be read at the first start and can be now); returns how many
    /// entries were indexed. A folder that cannot be read is left for later.
    pub(super) fn baseline_below(&mut self, si: usize, top: &SharePath) -> Result<u64, StoreError> {
        let store = Arc::clone(&self.disk.store);
        let mut batch = store.batch()?;
        let mut total = 0;
        let mut folders = vec![top.clone()];
        while let Some(folder) = folders.pop() {
            total += self.baseline_folder(&mut batch, si, &folder, None, &mut folders)?;
        }
        batch.commit()?;
        Ok(total)
    }

    /// Indexes the entries of one folder of a baseline (`look`: what was read of it ahead);
    /// the folders in it go on `folders`.
    fn baseline_folder(
        &mut self,
        batch: &mut Batch<'_>,
        si: usize,
        folder: &SharePath,
        look: Option<Look>,
        folders: &mut Vec<SharePath>,
    ) -> Result<u64, StoreError> {
        let name = self.disk.shares[si].share.name.clone();
        let root = self.disk.shares[si].share.path.clone();
        let abs = folder.on(&root);
        if !folder.is_root() {
            // Deleted (and perhaps made again) since its parent was read: the live events'
            // rules and gate have it now, and what is in it is news, not baseline.
            let indexed = batch.entry(&name, folder)?;
            let there = match &look {
                Some(Look::Read { ino, .. }) => Some(*ino),
                Some(Look::Gone) => None,
                Some(Look::Failed(_)) | None => {
                    Entry::read(&abs).filter(Entry::is_dir).map(|e| e.ino)
                }
            };
            if !matches!(indexed, Some(i) if i.is_dir() && Some(i.ino) == there) {
                return Ok(0);
            }
        }
        let entries = match look.unwrap_or_else(|| self.disk.look_folder(si, &abs)) {
            Look::Read { entries, .. } => entries,
            Look::Gone => Entries::default(),
            Look::Failed(_) => {
                // Marked in the index too, so that a restart does not take what it holds
                // for news either.
                if let Some(e) = batch
                    .entry(&name, folder)?
                    .filter(|e| e.is_dir() && !e.is_unread())
                {
                    batch.put(&name, folder, &e.unread())?;
                }
                self.disk.unbaselined.insert(abs);
                return Ok(0);
            }
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
            } else if let Some(e) = batch.entry(&name, folder)? {
                batch.put(&name, folder, &Entry { size: 0, ..e })?;
            }
            log::info!(
                "the folder {}, which could not be read at the first start, is indexed now; \
                 nothing is reported for what it holds",
                abs.display()
            );
        }
        batch.put_children(&name, folder, entries.iter())?;
        folders.extend(
            entries
                .iter()
                .filter(|(_, e)| e.is_dir())
                .map(|(n, _)| folder.join(n)),
        );
        Ok(entries.len() as u64)
    }
}
