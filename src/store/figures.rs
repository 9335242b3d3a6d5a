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
