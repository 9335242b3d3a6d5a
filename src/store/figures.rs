//! How many entries the index holds per share, for the status and the metrics, without
//! walking the index at each request: counted once per share (the engine does it as it
//! starts), then kept up to date by every commit from what its batch added and removed.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{INDEX, Store, StoreError};

/// What one batch did to each share's count.
#[derive(Default)]
pub(super) struct Growth {
    by_share: HashMap<String, i64>,
    /// Shares whose index was dropped: counted again when next asked.
    dropped: Vec<String>,
}

impl Growth {
    pub(super) fn add(&mut self, share: &str, n: i64) {
        match self.by_share.get_mut(share) {
            Some(v) => *v += n,
            None => {
                self.by_share.insert(share.to_owned(), n);
            }
        }
    }

    pub(super) fn dropped(&mut self, share: &str) {
        self.by_share.remove(share);
        self.dropped.push(share.to_owned());
    }
}

/// The counts known so far. The lock is held across a commit and across a first count, so
/// that a count never misses, or counts twice, the growth of a commit made meanwhile.
#[derive(Default)]
pub(super) struct IndexCounts(Mutex<HashMap<String, u64>>);

impl IndexCounts {
    pub(super) fn commit(
        &self,
        growth: Growth,
        commit: impl FnOnce() -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        commit()?;
        for share in growth.dropped {
            counts.remove(&share);
        }
        for (share, n) in growth.by_share {
            if let Some(c) = counts.get_mut(&share) {
                *c = c.saturating_add_signed(n);
            }
        }
        Ok(())
    }
}

impl Store {
    /// How many entries (files, folders, links) the index holds for `share`.
    pub fn index_entries(&self, share: &str) -> Result<u64, StoreError> {
        let mut counts = self
            .index_counts
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = counts.get(share) {
            return Ok(*n);
        }
        let tx = self.read()?;
        let table = tx.open_table(INDEX).map_err(self.err())?;
        let mut next = share.to_owned();
        next.push('\0');
        let range = table
            .range((share, &b""[..], &b""[..])..(next.as_str(), &b""[..], &b""[..]))
            .map_err(self.err())?;
        let n = range.count() as u64;
        counts.insert(share.to_owned(), n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::event::SharePath;
    use crate::tree::{Entry, EntryKind};

    fn entry(kind: EntryKind, ino: u64) -> Entry {
        Entry {
            kind,
            ino,
            size: 1,
            mtime_ns: 1,
            uid: 0,
        }
    }

    /// The count as a new handle on the same file counts it, from scratch.
    fn fresh_count(dir: &std::path::Path, share: &str) -> u64 {
        Store::open_read_only(dir)
            .unwrap()
            .index_entries(share)
            .unwrap()
    }

    #[test]
    fn the_kept_count_follows_every_commit_and_matches_a_fresh_count() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let p = SharePath::from_config;
        let (file, folder) = (EntryKind::File, EntryKind::Dir);
        let mut batch = store.batch().unwrap();
        batch.put("a", &p("/docs"), &entry(folder, 1)).unwrap();
        batch.put("a", &p("/docs/x"), &entry(file, 2)).unwrap();
        batch.put("a", &p("/docs/y"), &entry(file, 3)).unwrap();
        batch.put("b", &p("/z"), &entry(file, 4)).unwrap();
        batch.commit().unwrap();
        assert_eq!(store.index_entries("a").unwrap(), 3);
        assert_eq!(store.index_entries("b").unwrap(), 1);

        let mut batch = store.batch().unwrap();
        // A changed entry is no new one.
        batch.put("a", &p("/docs/x"), &entry(file, 9)).unwrap();
        batch.put("a", &p("/new"), &entry(folder, 5)).unwrap();
        batch.put("a", &p("/new/n"), &entry(file, 6)).unwrap();
        batch.commit().unwrap();
        assert_eq!(store.index_entries("a").unwrap(), 5);

        // A folder moved onto another replaces it and all it held.
        let mut batch = store.batch().unwrap();
        assert!(batch.move_tree("a", &p("/new"), &p("/docs")).unwrap());
        batch.commit().unwrap();
        assert_eq!(store.index_entries("a").unwrap(), 2);
        assert_eq!(fresh_count(dir.path(), "a"), 2);

        let mut batch = store.batch().unwrap();
        batch.remove_tree("a", &p("/docs")).unwrap();
        batch.commit().unwrap();
        assert_eq!(store.index_entries("a").unwrap(), 0);

        // What is not committed does not count.
        let mut batch = store.batch().unwrap();
        batch.put("b", &p("/w"), &entry(file, 7)).unwrap();
        drop(batch);
        assert_eq!(store.index_entries("b").unwrap(), 1);

        let mut batch = store.batch().unwrap();
        batch.drop_share("b").unwrap();
        batch.commit().unwrap();
        assert_eq!(store.index_entries("b").unwrap(), 0);
        assert_eq!(fresh_count(dir.path(), "b"), 0);
    }
}
