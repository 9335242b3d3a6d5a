//! A walk (a reconcile or a baseline under way, see `reconcile.rs`): the folders it has still
//! to read and what it found, and how it takes its next folder, from the thread reading ahead
//! of it (`ahead.rs`) or from its own list.

use std::collections::{HashSet, VecDeque};
use std::time::Instant;

use super::Engine;
use super::ahead::{Ahead, Listing, Look, Next};
use crate::core::event::SharePath;
use crate::tree::Entry;

/// Why a walk runs: the start's catch-up (or first baseline) of a share, a safety rescan, or
/// anything else (an overflow, a poll, a retry, a folder to look inside).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Why {
    Start,
    Safety,
    Other,
}

/// A reconcile or a baseline under way.
pub(super) struct Walk {
    pub(super) si: usize,
    pub(super) top: SharePath,
    pub(super) why: Why,
    /// A baseline indexes what it finds and reports nothing.
    pub(super) baseline: bool,
    /// Folders still to read.
    pub(super) folders: Vec<SharePath>,
    pub(super) appeared: Vec<(SharePath, Entry)>,
    pub(super) vanished: Vec<(SharePath, Entry)>,
    pub(super) changed: Vec<SharePath>,
    /// Entries indexed by a baseline.
    pub(super) indexed: u64,
    /// The slices it took: live events were handled between them.
    pub(super) slices: u32,
    /// The folders it took so far.
    pub(super) taken: u64,
    pub(super) started: Instant,
    /// The thread reading ahead of a walk of a whole share, until it has read everything.
    pub(super) ahead: Option<Ahead>,
    /// While a thread reads ahead: the folders the walk wants from it (`folders` holds those
    /// it must read itself, once the thread is done).
    pub(super) expected: HashSet<SharePath>,
    /// Kernel events were handled during the walk (those of folders read ahead).
    pub(super) replayed: bool,
    /// A folder of its share moved during the walk: what was read ahead may show it where it
    /// was, so the walk reads the rest itself.
    pub(super) moves_seen: bool,
}

impl Walk {
    pub(super) fn new(si: usize, top: SharePath, why: Why, baseline: bool) -> Walk {
        Walk {
            si,
            folders: vec![top.clone()],
            top,
            why,
            baseline,
            appeared: Vec::new(),
            vanished: Vec::new(),
            changed: Vec::new(),
            indexed: 0,
            slices: 0,
            taken: 0,
            started: Instant::now(),
            ahead: None,
            expected: HashSet::new(),
            replayed: false,
            moves_seen: false,
        }
    }

    /// Folder `folder` is to be taken by the walk.
    pub(super) fn queue(&mut self, folder: SharePath) {
        if self.ahead.is_some() {
            self.expected.insert(folder);
        } else {
            self.folders.push(folder);
        }
    }

    /// Folder `from` of its share is now at `to`: what the walk has still to read, and what
    /// it found below `from`, are there now.
    pub(super) fn moved(&mut self, si: usize, from: &SharePath, to: &SharePath) {
        if si != self.si {
            return;
        }
        self.moves_seen = true;
        let follow = |p: &mut SharePath| {
            if let Some(q) = p.rebase(from, to) {
                *p = q;
            }
        };
        follow(&mut self.top);
        self.folders.iter_mut().for_each(follow);
        if self.expected.iter().any(|p| p.is_within(from)) {
            self.expected = std::mem::take(&mut self.expected)
                .into_iter()
                .map(|mut p| {
                    follow(&mut p);
                    p
                })
                .collect();
        }
        self.changed.iter_mut().for_each(follow);
        self.appeared.iter_mut().for_each(|(p, _)| follow(p));
        self.vanished.iter_mut().for_each(|(p, _)| follow(p));
    }

    /// The same walk from its beginning (what it found is forgotten).
    pub(super) fn restart(self) -> Walk {
        Walk::new(self.si, self.top, self.why, self.baseline)
    }

    /// Whether threads read ahead of this walk and are done reading.
    #[cfg(test)]
    pub(super) fn read_ahead(&self) -> bool {
        self.ahead.as_ref().is_some_and(Ahead::finished)
    }

    /// Whether this walk covers all of share `si`.
    pub(super) fn whole(&self, si: usize) -> bool {
        self.si == si && self.top.is_root()
    }
}

/// The next folder of a walk.
pub(super) enum Step {
    /// A folder to take, with what was read of it ahead (if it was).
    Folder(SharePath, Option<Look>),
    /// None before the slice's end.
    Later,
    Done,
}

/// The walks queued and under way, oldest first.
pub(super) type Walks = VecDeque<Walk>;

impl Engine {
    /// Starts reading ahead of `walk` (a walk of a whole share, at its first slice). Without
    /// the thread, the walk reads on this one.
    pub(super) fn start_ahead(&mut self, walk: &mut Walk) {
        let si = walk.si;
        let watches = match (&self.disk.shares[si].polled, &self.disk.kernel) {
            (None, Some(kernel)) => Some(kernel.set.watches()),
            _ => None,
        };
        let root = self.disk.shares[si].share.path.clone();
        match Ahead::start(root, walk.top.clone(), watches, self.disk.filter(si)) {
            Ok(ahead) => {
                walk.expected.extend(walk.folders.drain(..));
                walk.ahead = Some(ahead);
                self.early.get_or_insert_default();
            }
            Err(e) => log::warn!("cannot start a thread to read ahead ({e}); reading on one"),
        }
    }

    /// Stops reading ahead of `walk`: what was read and not taken gives its watches back.
    pub(super) fn end_ahead(&mut self, walk: &mut Walk) {
        if let Some(ahead) = walk.ahead.take() {
            for listing in ahead.stop() {
                self.give_back(listing);
            }
            walk.folders.extend(walk.expected.drain());
            self.early = None;
        }
    }

    /// A folder read ahead that the walk does not want (renamed since, new to the index, or
    /// skipped): its watch goes back to the kernel, unless the folder is watched anyway.
    fn give_back(&mut self, listing: Listing) {
        if let (Some(Ok(wd)), Some(kernel)) = (listing.watch, self.disk.kernel.as_mut()) {
            kernel.set.release(wd);
            if kernel.set.path(wd).is_none() {
                if let Some(early) = self.early.as_mut() {
                    early.remove(wd);
                }
            } else {
                self.replay_early(wd);
            }
        }
    }

    /// The kernel's events of descriptor `wd`, which came before the engine knew it, are
    /// handled now that it does; returns whether there were any.
    fn replay_early(&mut self, wd: i32) -> bool {
        let Some(events) = self.early.as_mut().and_then(|e| e.remove(wd)) else {
            return false;
        };
        for (raw, at) in events {
            self.on_raw(raw, at);
        }
        true
    }

    /// The next folder for `walk` to take: from the thread reading ahead, waiting for it at
    /// most until `end`, or from the walk's own list.
    pub(super) fn next_folder(&mut self, walk: &mut Walk, end: Instant) -> Step {
        loop {
            if walk.moves_seen {
                self.end_ahead(walk);
            }
            let Some(ahead) = walk.ahead.as_mut() else {
                return match walk.folders.pop() {
                    Some(folder) => Step::Folder(folder, None),
                    None => Step::Done,
                };
            };
            match ahead.next(end) {
                Next::Listing(listing) => {
                    if walk.expected.remove(&listing.folder) {
                        let folder = listing.folder.clone();
                        let look = self.take_listing(walk, listing);
                        return Step::Folder(folder, Some(look));
                    }
                    self.give_back(listing);
                    if Instant::now() >= end {
                        return Step::Later;
                    }
                }
                Next::Later => return Step::Later,
                Next::Done => {
                    // What the thread did not read where the walk wants it (renamed since)
                    // the walk reads itself.
                    self.end_ahead(walk);
                }
            }
        }
    }

    /// A folder read ahead, taken by `walk`: its watch is known from now on, and the kernel's
    /// events that came for it meanwhile are handled (the walk checks what it found against
    /// the disk again at its end, as it does after live events).
    fn take_listing(&mut self, walk: &mut Walk, listing: Listing) -> Look {
        let abs = listing.folder.on(&self.disk.shares[walk.si].share.path);
        let wd = match &listing.watch {
            Some(Ok(wd)) => Some(*wd),
            _ => None,
        };
        let look = self.disk.adopt(&abs, listing.watch, listing.look);
        if let Some(wd) = wd
            && self.replay_early(wd)
        {
            walk.replayed = true;
            self.follow_moves_with(Some(walk));
        }
        look
    }
}
