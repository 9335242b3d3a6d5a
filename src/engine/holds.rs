//! Holds: operations waiting for their quiet period or for the second half of a client's
//! save pattern, by path, in the order they were made, and by deadline.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::tree::{self, PathKey};

/// What a hold will report when it is released.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Held {
    Upload,
    Folder { placeholder: bool },
    Delete { dir: bool },
}

#[derive(Clone, Debug)]
pub struct Hold {
    pub seq: u64,
    pub what: Held,
    pub since: Instant,
    pub deadline: Instant,
    /// For an Upload: the file's data was written (not only its times or attributes).
    pub data: bool,
    /// For an Upload: when its file was first found gone at release.
    pub gone: Option<Instant>,
}

/// The holds, by path, in the order they were made, and by deadline: finding what is due and
/// the next deadline costs a lookup, not a pass over every hold (a burst makes thousands).
#[derive(Default)]
pub struct Holds {
    by_path: BTreeMap<PathKey, Hold>,
    by_seq: BTreeMap<u64, PathBuf>,
    by_deadline: BTreeSet<(Instant, u64)>,
    next_seq: u64,
}

impl Holds {
    fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    pub fn get(&self, path: &Path) -> Option<&Hold> {
        self.by_path.get(&key(path))
    }

    /// What is held at `path`, if anything.
    pub fn held(&self, path: &Path) -> Option<Held> {
        self.by_path.get(&key(path)).map(|h| h.what)
    }

    pub fn put(&mut self, path: PathBuf, mut hold: Hold) {
        hold.seq = self.seq();
        self.remove(&path);
        self.by_seq.insert(hold.seq, path.clone());
        self.by_deadline.insert((hold.deadline, hold.seq));
        self.by_path.insert(PathKey(path), hold);
    }

    pub fn remove(&mut self, path: &Path) -> Option<Hold> {
        let hold = self.by_path.remove(&key(path))?;
        self.by_seq.remove(&hold.seq);
        self.by_deadline.remove(&(hold.deadline, hold.seq));
        Some(hold)
    }

    /// Removes the holds at `path` and below it, in order.
    pub fn take_tree(&mut self, path: &Path) -> Vec<(PathBuf, Hold)> {
        let mut out: Vec<(PathBuf, Hold)> = tree::keys_below(&self.by_path, path)
            .into_iter()
            .filter_map(|k: PathKey| self.remove(&k.0).map(|h| (k.0, h)))
            .collect();
        out.sort_by_key(|(_, h)| h.seq);
        out
    }

    /// Notes when the file of the Upload held at `path` was first found gone.
    pub fn mark_gone(&mut self, path: &Path, first: Instant) {
        if let Some(h) = self.by_path.get_mut(&key(path)) {
            h.gone = Some(first);
        }
    }

    pub fn set_deadline(&mut self, path: &Path, deadline: Instant) {
        if let Some(h) = self.by_path.get_mut(&key(path)) {
            self.by_deadline.remove(&(h.deadline, h.seq));
            h.deadline = deadline;
            self.by_deadline.insert((deadline, h.seq));
        }
    }

    /// The paths whose deadline has come, oldest hold first.
    pub fn due(&self, now: Instant) -> Vec<PathBuf> {
        let mut seqs: Vec<u64> = self
            .by_deadline
            .range(..=(now, u64::MAX))
            .map(|(_, seq)| *seq)
            .collect();
        seqs.sort_unstable();
        seqs.iter().map(|seq| self.by_seq[seq].clone()).collect()
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.by_deadline.first().map(|(at, _)| *at)
    }

    pub fn len(&self) -> usize {
        self.by_path.len()
    }
}

pub fn key(path: &Path) -> PathKey {
    PathKey(path.to_owned())
}

/// An Upload hold made at `since`, due at `deadline`.
pub fn upload_hold(since: Instant, deadline: Instant, data: bool, gone: Option<Instant>) -> Hold {
    Hold {
        seq: 0,
        what: Held::Upload,
        since,
        deadline,
        data,
        gone,
    }
}
