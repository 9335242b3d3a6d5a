//! Who made the changes sharehook made itself: the management API says so here before it
//! writes, and the engine reads it back when it reports the change. The files the API gave
//! out are told here too, for the engine to report as Downloads.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use crate::core::event::Who;
use crate::core::event::{Operation, SharePath};

/// Changes made through the API, waiting for the engine to report them: the engine takes the
/// user and protocol of a change it reports from here instead of the file's owner and the
/// share's protocol. Kept in memory only, for a short while: a restart, or an engine so far
/// behind that the attribution expired, reports the change as if made on the disk.
#[derive(Default)]
pub struct Attributions {
    list: Mutex<Vec<Attribution>>,
    next: AtomicU64,
    /// Files and folders given out through the API, waiting for the engine: share, path, who.
    downloads: Mutex<std::collections::VecDeque<(String, SharePath, Who)>>,
}

/// The most downloads waiting for the engine; past it, the oldest are dropped.
const MAX_DOWNLOADS: usize = 10_000;

#[derive(Debug)]
struct Attribution {
    id: u64,
    share: String,
    path: SharePath,
    op: Operation,
    who: Who,
    until: Instant,
}

impl Attributions {
    /// Says that `who` is making change `op` at `path` in `share`, for the next `hold`.
    /// Returns its handle, for `withdraw`.
    pub fn record(
        &self,
        share: &str,
        path: &SharePath,
        op: Operation,
        who: Who,
        hold: Duration,
    ) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let mut list = self.list.lock().unwrap_or_else(|p| p.into_inner());
        list.retain(|a| a.until > now);
        list.push(Attribution {
            id,
            share: share.to_owned(),
            path: path.clone(),
            op,
            who,
            until: now + hold,
        });
        id
    }

    /// Says that `who` downloaded `path` of `share` through the API.
    pub fn downloaded(&self, share: &str, path: &SharePath, who: Who) {
        let mut list = self.downloads.lock().unwrap_or_else(|p| p.into_inner());
        if list.len() >= MAX_DOWNLOADS {
            list.pop_front();
        }
        list.push_back((share.to_owned(), path.clone(), who));
    }

    /// The downloads told since the last call, oldest first.
    pub fn take_downloads(&self) -> Vec<(String, SharePath, Who)> {
        let mut list = self.downloads.lock().unwrap_or_else(|p| p.into_inner());
        list.drain(..).collect()
    }

    /// Takes back an attribution whose change was not made.
    pub fn withdraw(&self, id: u64) {
        let mut list = self.list.lock().unwrap_or_else(|p| p.into_inner());
        list.retain(|a| a.id != id);
    }

    /// Who made change `op` at `path` in `share`, when it was made through the API. An event
    /// at the attributed path itself uses it up; one below it (inside a deleted folder) only
    /// reads it.
    pub fn take(&self, share: &str, op: Operation, path: &SharePath) -> Option<Who> {
        let mut list = self.list.lock().unwrap_or_else(|p| p.into_inner());
        if list.is_empty() {
            return None;
        }
        let now = Instant::now();
        list.retain(|a| a.until > now);
        let i = list
            .iter()
            .rposition(|a| a.share == share && a.op == op && path.is_within(&a.path))?;
        let found = list[i].who.clone();
        if list[i].path == *path {
            list.remove(i);
        }
        Some(found)
    }
}
