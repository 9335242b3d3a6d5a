//! Reading ahead of a walk: a thread watches and reads a share's folders in the order the walk
//! takes them, while the engine thread compares what was read with the index (or indexes it).
//! The two halves of a walk's cost, the kernel's (watches, directory reads, a look at each
//! entry) and the index's, then run side by side.
//!
//! Each folder is watched before it is read, as on the engine thread, so whatever changes
//! after the read is told by the kernel. The engine learns of the watch only when it takes the
//! folder's listing; events of a descriptor it does not know yet are kept until then (see
//! `Engine::on_raw`). A listing the walk does not want (its folder was renamed, is new to the
//! index, or a baseline skipped it) gives its watch back, unless the engine has since made it
//! its own. At most `IN_FLIGHT` entries are read and not yet taken.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use crate::core::event::SharePath;
use crate::core::ignore::Ignore;
use crate::tree::{self, Entries, Entry};
use crate::watch::{self, AddError, Raw, Watches};

/// Entries read and not yet taken by the engine, at most (a folder bigger than this is still
/// read, alone).
const IN_FLIGHT: usize = 16 * 1024;
/// How many threads read ahead: one per CPU, at most four (a folder read is mostly the
/// kernel's work, and the engine thread needs a CPU too).
fn readers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 4))
}

/// Folders are handed over in batches of about this many entries (one wake-up each, not one
/// per folder).
const BATCH: usize = 1024;

/// What reading a folder found.
pub(crate) enum Look {
    /// Nothing is there, or no folder any more.
    Gone,
    /// It cannot be read: its entries are unknown.
    Failed(io::Error),
    /// The folder (`ino`) and its reported entries, sorted by name.
    Read { ino: u64, entries: Entries },
}

/// Which entries of a share's folders are reported: not ignored, and not the top folder of
/// another share (nested in this one).
pub(crate) struct Filter {
    pub ignore: Ignore,
    pub others: Vec<PathBuf>,
}

impl Filter {
    fn keeps(&self, folder: &Path, name: &[u8], entry: &Entry) -> bool {
        if self.ignore.name(name, entry.is_dir()) {
            if log::log_enabled!(log::Level::Debug)
                && let Some((pattern, _)) = self.ignore.why(name, entry.is_dir())
            {
                why!(
                    "{}: found in a folder read: ignored: its name matches the ignore pattern \
                     \"{}\" ([watch] ignore)",
                    super::shown(&folder.join(std::ffi::OsStr::from_bytes(name))),
                    crate::core::event::escape_controls(pattern)
                );
            }
            return false;
        }
        !entry.is_dir()
            || self.others.is_empty()
            || !self
                .others
                .contains(&folder.join(std::ffi::OsStr::from_bytes(name)))
    }
}

/// Watches folder `abs` (with `watches`; `root`: it is a share's top folder), then reads it.
/// The watch's outcome is for the engine to record.
pub(crate) fn look_at(
    watches: Option<&mut Watches>,
    filter: &Filter,
    abs: &Path,
    root: bool,
) -> (Option<Result<i32, AddError>>, Look) {
    let watch = watches.map(|w| watch::add_watch(w, abs, root));
    // A share's top folder may be reached through a link; any other folder is what its
    // parent listed, and a link put there since is not followed.
    let look = match tree::read_folder(abs, root) {
        Ok((ino, mut entries)) => {
            entries.retain(|name, e| filter.keeps(abs, name, e));
            Look::Read { ino, entries }
        }
        Err(e)
            if e.kind() == io::ErrorKind::NotFound
                || matches!(e.raw_os_error(), Some(libc::ENOTDIR | libc::ELOOP)) =>
        {
            Look::Gone
        }
        Err(e) => Look::Failed(e),
    };
    (watch, look)
}

/// One folder read ahead.
pub(crate) struct Listing {
    pub folder: SharePath,
    /// The watch added before the read (none on a polled share).
    pub watch: Option<Result<i32, AddError>>,
    pub look: Look,
}

impl Listing {
    fn weight(&self) -> usize {
        match &self.look {
            Look::Read { entries, .. } => entries.len() + 1,
            _ => 1,
        }
    }
}

/// What the engine gets next from the reader.
pub(crate) enum Next {
    Listing(Listing),
    /// Nothing before the deadline.
    Later,
    /// Every folder was read and taken.
    Done,
}

/// Entries in flight, shared by the reader (who waits) and the engine (who takes).
#[derive(Default)]
struct Budget {
    used: Mutex<usize>,
    cv: Condvar,
}

/// A reader thread under way for one walk; dropping it stops the thread (what it read and
/// the engine did not take is for [`Ahead::stop`] to give back).
pub(crate) struct Ahead {
    rx: Receiver<Vec<Listing>>,
    /// Listings received and not taken yet, in order.
    taken: std::collections::VecDeque<Listing>,
    budget: Arc<Budget>,
    cancel: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// The folders still to read (to wake the readers when stopping them).
    work: Arc<(Mutex<Work>, Condvar)>,
}

impl Ahead {
    /// Starts reading share `root` from folder `top` down, depth first in the walk's order,
    /// adding watches with `watches` (none for a polled share).
    pub fn start(
        root: PathBuf,
        top: SharePath,
        watches: Option<Watches>,
        filter: Arc<Filter>,
    ) -> io::Result<Ahead> {
        let (tx, rx) = std::sync::mpsc::channel();
        let budget = Arc::new(Budget::default());
        let cancel = Arc::new(AtomicBool::new(false));
        let work = Arc::new((
            Mutex::new(Work {
                folders: vec![top],
                busy: 0,
            }),
            Condvar::new(),
        ));
        let mut threads = Vec::new();
        for _ in 0..readers() {
            let (budget, cancel, work, tx, root, filter) = (
                Arc::clone(&budget),
                Arc::clone(&cancel),
                Arc::clone(&work),
                tx.clone(),
                root.clone(),
                Arc::clone(&filter),
            );
            let watches = watches.clone();
            let started = std::thread::Builder::new()
                .name("read-ahead".into())
                .spawn(move || read(&root, watches, &filter, &work, &tx, &budget, &cancel));
            match started {
                Ok(thread) => threads.push(thread),
                // Fewer readers do; none is an error.
                Err(e) if threads.is_empty() => return Err(e),
                Err(_) => break,
            }
        }
        Ok(Ahead {
            rx,
            taken: std::collections::VecDeque::new(),
            budget,
            cancel,
            threads,
            work,
        })
    }

    /// The next folder read, waiting for it until `end`.
    pub fn next(&mut self, end: Instant) -> Next {
        if let Some(listing) = self.taken.pop_front() {
            return Next::Listing(listing);
        }
        let got = match self.rx.try_recv() {
            Ok(batch) => Ok(batch),
            Err(_) => self
                .rx
                .recv_timeout(end.saturating_duration_since(Instant::now())),
        };
        match got {
            Ok(batch) => {
                let weight: usize = batch.iter().map(Listing::weight).sum();
                let mut used = self.budget.used.lock().unwrap_or_else(|p| p.into_inner());
                *used = used.saturating_sub(weight);
                self.budget.cv.notify_all();
                drop(used);
                self.taken.extend(batch);
                match self.taken.pop_front() {
                    Some(listing) => Next::Listing(listing),
                    None => Next::Later,
                }
            }
            Err(RecvTimeoutError::Timeout) => Next::Later,
            Err(RecvTimeoutError::Disconnected) => Next::Done,
        }
    }

    /// Whether every reader thread is done (what they read may not be taken yet).
    #[cfg(test)]
    pub fn finished(&self) -> bool {
        self.threads.iter().all(JoinHandle::is_finished)
    }

    /// Stops the reader; returns what it read that was not taken.
    pub fn stop(mut self) -> Vec<Listing> {
        self.halt();
        let mut left: Vec<Listing> = self.taken.drain(..).collect();
        left.extend(self.rx.try_iter().flatten());
        left
    }

    fn halt(&mut self) {
        self.cancel.store(true, Ordering::SeqCst);
        self.budget.cv.notify_all();
        self.work.1.notify_all();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for Ahead {
    fn drop(&mut self) {
        self.halt();
    }
}

/// The folders still to read, shared by the reader threads.
struct Work {
    folders: Vec<SharePath>,
    /// Threads reading a folder (whose entries may add folders).
    busy: usize,
}

/// One reader thread: takes folders from `work` until none is left and no other thread is
/// reading one, handing what it read to the engine in batches.
fn read(
    root: &Path,
    mut watches: Option<Watches>,
    filter: &Filter,
    work: &(Mutex<Work>, Condvar),
    tx: &Sender<Vec<Listing>>,
    budget: &Budget,
    cancel: &AtomicBool,
) {
    let (lock, cv) = work;
    let mut batch = Vec::new();
    let mut weight = 0;
    loop {
        let folder = {
            let mut w = lock.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if cancel.load(Ordering::SeqCst) {
                    break None;
                }
                if let Some(folder) = w.folders.pop() {
                    w.busy += 1;
                    break Some(folder);
                }
                if w.busy == 0 {
                    break None;
                }
                // Before waiting for another thread's folders, what this one read goes.
                if !batch.is_empty() {
                    drop(w);
                    let full = std::mem::take(&mut batch);
                    if !hand_over(full, std::mem::take(&mut weight), tx, budget, cancel) {
                        return;
                    }
                    w = lock.lock().unwrap_or_else(|p| p.into_inner());
                    continue;
                }
                w = cv.wait(w).unwrap_or_else(|p| p.into_inner());
            }
        };
        let Some(folder) = folder else {
            cv.notify_all();
            break;
        };
        let abs = folder.on(root);
        let (watch, look) = look_at(watches.as_mut(), filter, &abs, abs == root);
        {
            let mut w = lock.lock().unwrap_or_else(|p| p.into_inner());
            if let Look::Read { entries, .. } = &look {
                w.folders.extend(
                    entries
                        .iter()
                        .filter(|(_, e)| e.is_dir())
                        .map(|(n, _)| folder.join(n)),
                );
            }
            w.busy -= 1;
            if !w.folders.is_empty() || w.busy == 0 {
                cv.notify_all();
            }
        }
        let listing = Listing {
            folder,
            watch,
            look,
        };
        weight += listing.weight();
        batch.push(listing);
        if weight >= BATCH {
            let full = std::mem::take(&mut batch);
            if !hand_over(full, std::mem::take(&mut weight), tx, budget, cancel) {
                return;
            }
        }
    }
    // What was read (and watched) goes to the engine, to take or, cut short, to give back.
    if !batch.is_empty() {
        let _ = tx.send(batch);
    }
}

/// Sends a batch of `weight` entries once the engine has room for it; false when the engine
/// is gone.
fn hand_over(
    batch: Vec<Listing>,
    weight: usize,
    tx: &Sender<Vec<Listing>>,
    budget: &Budget,
    cancel: &AtomicBool,
) -> bool {
    {
        let mut used = budget.used.lock().unwrap_or_else(|p| p.into_inner());
        while *used > 0 && *used + weight > IN_FLIGHT && !cancel.load(Ordering::SeqCst) {
            used = budget.cv.wait(used).unwrap_or_else(|p| p.into_inner());
        }
        *used += weight;
    }
    tx.send(batch).is_ok()
}

/// Kernel events kept past this many (of descriptors not known yet) are dropped, and taken
/// as a queue overflow: the shares are reconciled.
const EARLY_MAX: usize = 64 * 1024;

/// The kernel's events of descriptors added ahead of a walk and not known to the engine yet,
/// kept in order until it does.
#[derive(Default)]
pub(crate) struct Early {
    events: std::collections::HashMap<i32, Vec<(Raw, Instant)>>,
    count: usize,
}

impl Early {
    /// Keeps `raw`, of descriptor `wd`; false when too many are kept already.
    pub fn keep(&mut self, wd: i32, raw: Raw, at: Instant) -> bool {
        if self.count >= EARLY_MAX {
            return false;
        }
        self.count += 1;
        self.events.entry(wd).or_default().push((raw, at));
        true
    }

    /// The events of `wd`, oldest first, no longer kept.
    pub fn remove(&mut self, wd: i32) -> Option<Vec<(Raw, Instant)>> {
        let events = self.events.remove(&wd)?;
        self.count -= events.len();
        Some(events)
    }
}
