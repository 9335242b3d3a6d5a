//! Turns what the kernel says, and what the disk shows, into what people did.
//!
//! The index (in the store) is the source of truth: it holds every entry that was reported.
//! Kernel events are hints. Each hint either becomes a *hold* (an operation waiting for its
//! quiet period, or for the second half of a client's save pattern) or, for a rename of a
//! known entry, a change at once. A change is checked against the index when it is committed
//! (the *gate*), in the same transaction that updates the index and queues its event, so an
//! operation is reported exactly once whether the kernel, a folder scan or a rescan saw it
//! first, and a crash at any point loses nothing a restart's reconcile cannot find again.
//!
//! The rules (see CLIENTS.md in the docs and README's "What is reported"):
//! - Upload: after close-after-write, a rename into place, or a scan finding a new file, and
//!   a quiet period (`settle`) in which the file did not change.
//! - A delete waits `settle` too: a new file at the same path in that time (Word, vim, Excel
//!   saves) makes the pair one Upload. Deletes inside a folder being deleted fold into the
//!   folder's one Delete.
//! - A new folder waits `settle` (longer while it is empty and has a placeholder name), so
//!   "New folder" renamed at once is one Create Folder with the final name.
//! - Parents first: a held Create Folder is released before anything inside it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::config::{Share, WatchMode, WatchSettings};
use crate::deliver::{human, now_ms};
use crate::event::{Event, Operation, SharePath};
use crate::hooks::Routes;
use crate::ignore::{PARTIAL_SUFFIXES, is_placeholder_folder};
use crate::metrics::{self, ShareStats, Stats};
use crate::owner::Owners;
use crate::resources::Attributions;
use crate::retry::Schedule;
use crate::store::{Batch, NewEvent, ShareRecord, Store, StoreError};
use crate::tree::{self, Entry, PathKey};
use crate::watch::{self, AddError, Mask, Raw, Reader, WatchSet};

/// How long the first half of a rename waits for its second half (as Samba waits).
pub const PAIR_WINDOW: Duration = Duration::from_millis(100);
/// How long an empty folder with a placeholder name waits to be named.
const PLACEHOLDER_WAIT: Duration = Duration::from_secs(30);
/// The longest a delete waits for the deletion of the folder around it.
const MAX_DELETE_HOLD: Duration = Duration::from_secs(30);
/// At most this many kernel events are read before holds are looked at and committed.
const MAX_BATCH: usize = 4096;
/// The loop goes round at least this often (it shows the watchdog it is alive).
const TICK: Duration = Duration::from_millis(500);
/// The least time between two commits of events: in a burst, each commit (a page write and an
/// fsync) then carries many events; an event after a quiet spell is committed at once.
const COMMIT_GAP: Duration = Duration::from_millis(10);
/// How often the watch figures (folders watched, problems) are given to the status.
const FIGURES_EVERY: Duration = Duration::from_secs(1);
/// Index entries written per transaction while a baseline is taken.
const BASELINE_BATCH: usize = 4096;

/// What a hold will report when it is released.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Held {
    Upload,
    Folder { placeholder: bool },
    Delete { dir: bool },
}

#[derive(Clone, Debug)]
struct Hold {
    seq: u64,
    what: Held,
    since: Instant,
    deadline: Instant,
    /// For an Upload: the file's data was written (not only its times or attributes).
    data: bool,
    /// For an Upload: when its file was first found gone at release.
    gone: Option<Instant>,
}

/// The holds, by path, in the order they were made, and by deadline: finding what is due and
/// the next deadline costs a lookup, not a pass over every hold (a burst makes thousands).
#[derive(Default)]
struct Holds {
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

    fn get(&self, path: &Path) -> Option<&Hold> {
        self.by_path.get(&key(path))
    }

    /// What is held at `path`, if anything.
    fn held(&self, path: &Path) -> Option<Held> {
        self.by_path.get(&key(path)).map(|h| h.what)
    }

    fn put(&mut self, path: PathBuf, mut hold: Hold) {
        hold.seq = self.seq();
        self.remove(&path);
        self.by_seq.insert(hold.seq, path.clone());
        self.by_deadline.insert((hold.deadline, hold.seq));
        self.by_path.insert(PathKey(path), hold);
    }

    fn remove(&mut self, path: &Path) -> Option<Hold> {
        let hold = self.by_path.remove(&key(path))?;
        self.by_seq.remove(&hold.seq);
        self.by_deadline.remove(&(hold.deadline, hold.seq));
        Some(hold)
    }

    /// Removes the holds at `path` and below it, in order.
    fn take_tree(&mut self, path: &Path) -> Vec<(PathBuf, Hold)> {
        let mut out: Vec<(PathBuf, Hold)> = tree::keys_below(&self.by_path, path)
            .into_iter()
            .filter_map(|k: PathKey| self.remove(&k.0).map(|h| (k.0, h)))
            .collect();
        out.sort_by_key(|(_, h)| h.seq);
        out
    }

    fn set_deadline(&mut self, path: &Path, deadline: Instant) {
        if let Some(h) = self.by_path.get_mut(&key(path)) {
            self.by_deadline.remove(&(h.deadline, h.seq));
            h.deadline = deadline;
            self.by_deadline.insert((deadline, h.seq));
        }
    }

    /// The paths whose deadline has come, oldest hold first.
    fn due(&self, now: Instant) -> Vec<PathBuf> {
        let mut seqs: Vec<u64> = self
            .by_deadline
            .range(..=(now, u64::MAX))
            .map(|(_, seq)| *seq)
            .collect();
        seqs.sort_unstable();
        seqs.iter().map(|seq| self.by_seq[seq].clone()).collect()
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.by_deadline.first().map(|(at, _)| *at)
    }

    fn len(&self) -> usize {
        self.by_path.len()
    }
}

fn key(path: &Path) -> PathKey {
    PathKey(path.to_owned())
}

/// A settled operation, in absolute paths, waiting for the gate.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Change {
    Upload { path: PathBuf, data: bool },
    Folder { path: PathBuf },
    Delete { path: PathBuf },
    Moved { from: PathBuf, to: PathBuf },
}

impl Change {
    fn path(&self) -> &Path {
        match self {
            Change::Upload { path, .. } | Change::Folder { path } | Change::Delete { path } => path,
            Change::Moved { to, .. } => to,
        }
    }
}

/// The first half of a rename, waiting for its second.
struct From {
    path: PathBuf,
    cookie: u32,
    is_dir: bool,
    deadline: Instant,
    /// Something new appeared at `path` since: the entry was replaced, not moved away.
    replaced: bool,
}

struct ShareState {
    share: Share,
    /// Why this share is polled (the kind of mount, or the configuration), if it is.
    polled: Option<String>,
    next_poll: Instant,
    stats: Arc<ShareStats>,
}

/// What the engine needs from the daemon.
pub struct Setup {
    pub shares: Vec<Share>,
    /// The webhooks as they are at each moment: every batch is routed with the current set.
    pub routes: Routes,
    pub schedule: Schedule,
    pub watch: WatchSettings,
    pub store: Arc<Store>,
    pub stop: Arc<AtomicBool>,
    pub heartbeat: Arc<AtomicI64>,
    /// Where the engine's figures go (status, metrics).
    pub stats: Arc<Stats>,
    /// Who made the changes made through the API (their events name that user).
    pub attributions: Arc<Attributions>,
}

struct Kernel {
    set: WatchSet,
    rx: Receiver<Raw>,
    _reader: Reader,
}

pub struct Engine {
    shares: Vec<ShareState>,
    routes: Routes,
    schedule: Schedule,
    settings: WatchSettings,
    store: Arc<Store>,
    stop: Arc<AtomicBool>,
    heartbeat: Arc<AtomicI64>,
    attributions: Arc<Attributions>,
    owners: Owners,
    kernel: Option<Kernel>,
    holds: Holds,
    renames: VecDeque<From>,
    ready: Vec<Change>,
    /// Files written since their last close.
    modified: HashSet<PathBuf>,
    /// The last delete seen below each folder.
    activity: HashMap<PathBuf, Instant>,
    /// Folders whose watch could not be added (the limit): rescanned every poll interval.
    unwatched: BTreeSet<PathBuf>,
    /// Folders that could not be read, with the error (its errno) said for each: their index
    /// entries are kept as they are, and they are read again every poll interval.
    unreadable: BTreeMap<PathBuf, i32>,
    /// Folders that can be read but not watched (not for the limit), with the error said:
    /// rescanned every poll interval.
    unwatchable: BTreeMap<PathBuf, i32>,
    /// Folders that could not be read when the share's baseline was taken: once they can be,
    /// what is in them is indexed as the baseline would have, without being reported.
    unbaselined: BTreeSet<PathBuf>,
    /// When the folders above are read again.
    next_unwatched_poll: Instant,
    limit_reported: bool,
    /// The user sharehook runs as, and its uid (for messages saying what it may not read).
    runs_as: (String, u32),
    /// Shares to reconcile at the next turn (after a queue overflow), and folders (moved
    /// while the daemon was down, to look inside).
    rescan_shares: BTreeSet<usize>,
    rescan_folders: Vec<PathBuf>,
    /// Folders a reconcile found gone (renamed or deleted, the kernel's event not read yet),
    /// until their window passes: a rename read meanwhile has them compared at the new path.
    gone: Vec<(PathBuf, Instant)>,
    /// The last time a batch of kernel events ended because none was left unread.
    drained_at: Instant,
    next_safety: Option<Instant>,
    overflows: u64,
    /// Failed tries to write the state in a row; while non-zero, watching is paused.
    commit_failures: u32,
    /// When to try writing the state again.
    next_commit: Instant,
    stats: Arc<Stats>,
    /// When the watch figures are next given to `stats`.
    next_figures: Instant,
}

impl Engine {
    /// Sets up watching: each share is watched (or polled), its index is reconciled with the
    /// disk (or, the first time, taken as the baseline). When it returns, nothing that happens
    /// on a share from then on is missed.
    pub fn start(setup: Setup) -> anyhow::Result<Engine> {
        let now = Instant::now();
        let mut shares = Vec::new();
        for share in setup.shares {
            let polled = match share.watch {
                WatchMode::Poll => Some("the configuration says watch = \"poll\"".to_owned()),
                WatchMode::Inotify => None,
                WatchMode::Auto => tree::remote_fs(&share.path)
                    .map(|fs| format!("it is a {fs} mount, whose changes inotify cannot see")),
            };
            shares.push(ShareState {
                stats: setup.stats.share(&share.name),
                share,
                polled,
                next_poll: now,
            });
        }
        let kernel = if shares.iter().any(|s| s.polled.is_none()) {
            let (set, rx, reader) =
                watch::start().map_err(|e| anyhow::anyhow!("cannot start inotify: {e}"))?;
            Some(Kernel {
                set,
                rx,
                _reader: reader,
            })
        } else {
            None
        };
        let next_safety = setup.watch.rescan_interval.map(|d| now + jitter(d));
        let mut engine = Engine {
            shares,
            routes: setup.routes,
            schedule: setup.schedule,
            settings: setup.watch,
            store: setup.store,
            stop: setup.stop,
            heartbeat: setup.heartbeat,
            attributions: setup.attributions,
            owners: Owners::new(),
            kernel,
            holds: Holds::default(),
            renames: VecDeque::new(),
            ready: Vec::new(),
            modified: HashSet::new(),
            activity: HashMap::new(),
            unwatched: BTreeSet::new(),
            unreadable: BTreeMap::new(),
            unwatchable: BTreeMap::new(),
            unbaselined: BTreeSet::new(),
            next_unwatched_poll: now,
            limit_reported: false,
            runs_as: runs_as(),
            rescan_shares: BTreeSet::new(),
            rescan_folders: Vec::new(),
            gone: Vec::new(),
            drained_at: now,
            next_safety,
            overflows: 0,
            commit_failures: 0,
            next_commit: now,
            stats: setup.stats,
            next_figures: now,
        };
        engine.forget_old_shares()?;
        for si in 0..engine.shares.len() {
            engine.shares[si].stats.rescanned("start");
            engine.first_pass(si)?;
            // Counted now, once: from here on each commit keeps the count.
            engine.store.index_entries(&engine.shares[si].share.name)?;
        }
        engine.report_limit();
        engine.publish_figures();
        Ok(engine)
    }

    /// Drops the index of shares that are no longer configured.
    fn forget_old_shares(&mut self) -> Result<(), StoreError> {
        for name in self.store.share_names()? {
            if !self.shares.iter().any(|s| s.share.name == name) {
                log::warn!("share {name} is no longer configured; its index is dropped");
                let mut batch = self.store.batch()?;
                batch.drop_share(&name)?;
                batch.commit()?;
            }
        }
        Ok(())
    }

    /// The baseline (first start) or the catch-up reconcile of share `si`.
    fn first_pass(&mut self, si: usize) -> Result<(), StoreError> {
        let share = self.shares[si].share.clone();
        let path = share.path.as_os_str().as_encoded_bytes().to_vec();
        let known = self.store.share(&share.name)?;
        let how = match &self.shares[si].polled {
            Some(reason) => format!(
                "polled every {} ({reason})",
                human(self.settings.poll_interval)
            ),
            None => "watched with inotify".to_owned(),
        };
        let started = Instant::now();
        match known {
            Some(rec) if rec.baseline && rec.path == path => {
                let before = self.ready.len() + self.holds.len();
                self.reconcile(si, &SharePath::root(), Instant::now())?;
                let found = self.ready.len() + self.holds.len() - before;
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
                let mut batch = self.store.batch()?;
                batch.drop_share(&share.name)?;
                batch.commit()?;
                let entries = self.baseline(si)?;
                let mut batch = self.store.batch()?;
                batch.set_share(
                    &share.name,
                    &ShareRecord {
                        path,
                        // A root that could not be read holds no baseline yet: the next
                        // start takes it again, unless it is taken once the root can be read.
                        baseline: !self.unbaselined.contains(&share.path),
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
    fn baseline(&mut self, si: usize) -> Result<u64, StoreError> {
        self.baseline_below(si, &SharePath::root())
    }

    /// Indexes folder `top` of share `si` and everything below it as it is, reporting nothing
    /// (the first start, or a folder that could not be read then and can be now); returns
    /// how many entries were indexed. A folder that cannot be read is left for later.
    fn baseline_below(&mut self, si: usize, top: &SharePath) -> Result<u64, StoreError> {
        let name = self.shares[si].share.name.clone();
        let root = self.shares[si].share.path.clone();
        let store = Arc::clone(&self.store);
        let mut batch = store.batch()?;
        let mut in_batch = 0;
        let mut total = 0u64;
        let mut folders = vec![top.clone()];
        while let Some(folder) = folders.pop() {
            let abs = folder.on(&root);
            let Ok(entries) = self.look(si, &abs) else {
                // Marked in the index too, so that a restart does not take what it holds
                // for news either.
                if let Some(e) = batch
                    .entry(&name, &folder)?
                    .filter(|e| e.is_dir() && !e.is_unread())
                {
                    batch.put(&name, &folder, &e.unread())?;
                }
                self.unbaselined.insert(abs);
                continue;
            };
            if self.unbaselined.remove(&abs) {
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

    /// Watches folder `abs` of share `si` (unless the share is polled), then reads it. In
    /// that order: whatever is made after the read, the kernel reports. An error (other than
    /// the folder being gone) means its entries are unknown: the caller leaves them as the
    /// index has them, and the folder is read again every poll interval.
    fn look(&mut self, si: usize, abs: &Path) -> std::io::Result<Vec<(Vec<u8>, Entry)>> {
        let watch_error = if self.shares[si].polled.is_none() {
            self.ensure_watch(abs, *abs == self.shares[si].share.path)
        } else {
            None
        };
        let read = self.read_folder(si, abs);
        match &read {
            Ok(_) => {
                if self.unreadable.remove(abs).is_some() {
                    log::info!("the folder {} can be read again", abs.display());
                }
                if let Some(e) = watch_error {
                    self.cannot_watch(abs, &e);
                }
            }
            // The watch failed for the same reason: the read error says it all.
            Err(e) => self.cannot_read(abs, e),
        }
        read
    }

    /// The entries of folder `abs` of share `si` that are reported: not ignored, and not the
    /// root of another (nested) share. A folder that is gone (or is no folder any more) has
    /// none.
    fn read_folder(&self, si: usize, abs: &Path) -> std::io::Result<Vec<(Vec<u8>, Entry)>> {
        match tree::read_dir_sorted(abs) {
            Ok(entries) => Ok(entries
                .into_iter()
                .filter(|(name, e)| !self.settings.ignore.name(name, e.is_dir()))
                .filter(|(name, e)| {
                    !e.is_dir() || {
                        let child = abs.join(std::ffi::OsStr::from_bytes(name));
                        !self
                            .shares
                            .iter()
                            .enumerate()
                            .any(|(i, s)| i != si && s.share.path == child)
                    }
                })
                .collect()),
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    || e.raw_os_error() == Some(libc::ENOTDIR) =>
            {
                Ok(Vec::new())
            }
            Err(e) => Err(e),
        }
    }

    /// `path` cannot be looked at: its folder is the one that cannot be read.
    fn cannot_read_above(&mut self, path: &Path, e: &std::io::Error) {
        if let Some(folder) = path.parent() {
            let folder = folder.to_owned();
            self.cannot_read(&folder, e);
        }
    }

    /// Says that folder `abs` cannot be read, why, and what to do: once per folder and error
    /// (and once for all folders while descriptors run out, which is no folder's fault).
    fn cannot_read(&mut self, abs: &Path, e: &std::io::Error) {
        let errno = e.raw_os_error().unwrap_or(0);
        let before = self.unreadable.insert(abs.to_owned(), errno);
        if before == Some(errno) {
            return;
        }
        let descriptors = errno == libc::EMFILE || errno == libc::ENFILE;
        if descriptors && self.unreadable.values().filter(|v| **v == errno).count() > 1 {
            return;
        }
        let (user, uid) = &self.runs_as;
        let fix = match errno {
            libc::EACCES | libc::EPERM => format!(
                "sharehook runs as {user} (uid {uid}), which may not read it; let it: \
                 setfacl -R -m u:{user}:rX -m d:u:{user}:rX {}",
                shell_quote(abs)
            ),
            libc::EMFILE => format!(
                "sharehook, running as {user} (uid {uid}), is out of file descriptors (its \
                 limit, RLIMIT_NOFILE, is {}); raise LimitNOFILE= in its unit, or ulimit -n",
                descriptor_limit().map_or_else(|| "unknown".to_owned(), |n| n.to_string())
            ),
            libc::ENFILE => format!(
                "the system is out of file descriptors (sharehook runs as {user}, uid {uid}); \
                 raise fs.file-max (sysctl fs.file-max=N) or stop what holds them"
            ),
            libc::EIO => format!(
                "the disk gave an I/O error (sharehook runs as {user}, uid {uid}); check the disk \
                 and the kernel log"
            ),
            _ => format!("sharehook runs as {user} (uid {uid})"),
        };
        log::error!(
            "cannot read the folder {}: {e}; {fix}. Its entries are kept as they were (none is \
             reported deleted), and it is read again every {}",
            abs.display(),
            human(self.settings.poll_interval)
        );
    }

    /// Says once per folder and error that folder `abs` can be read but not watched.
    fn cannot_watch(&mut self, abs: &Path, e: &std::io::Error) {
        let errno = e.raw_os_error().unwrap_or(0);
        if self.unwatchable.insert(abs.to_owned(), errno) != Some(errno) {
            log::warn!(
                "cannot watch the folder {}: {e}; it is read every {} instead",
                abs.display(),
                human(self.settings.poll_interval)
            );
        }
    }

    /// Compares folder `top` of share `si` (and everything below it) with the index, and
    /// turns the differences into changes and holds. Entries moved while nobody watched are
    /// recognised by inode (same inode, size and time at a new path).
    fn reconcile(&mut self, si: usize, top: &SharePath, now: Instant) -> Result<(), StoreError> {
        // The index must include everything already decided, however recent the last commit.
        self.next_commit = Instant::now();
        self.commit();
        let name = self.shares[si].share.name.clone();
        let root = self.shares[si].share.path.clone();
        let mut appeared: Vec<(SharePath, Entry)> = Vec::new();
        let mut vanished: Vec<(SharePath, Entry)> = Vec::new();
        let mut changed: Vec<SharePath> = Vec::new();
        let mut folders = vec![top.clone()];
        // The index's mark decides for the top folder as well as below it: a retry that ran
        // between a rename on disk and its kernel event forgot the old path's bookkeeping.
        if !top.is_root() && self.store.entry(&name, top)?.is_some_and(|e| e.is_unread()) {
            self.unbaselined.insert(top.on(&root));
        }
        while let Some(folder) = folders.pop() {
            let abs = folder.on(&root);
            if self.unbaselined.contains(&abs) {
                // Never read since the first start: what it holds is baseline, not news.
                self.baseline_below(si, &folder)?;
                continue;
            }
            if !Entry::read(&abs).is_some_and(|e| e.is_dir()) {
                // Gone or renamed since (its kernel event not read yet): not empty.
                self.gone.push((abs, now + PAIR_WINDOW));
                continue;
            }
            // A folder that cannot be read is not empty: its index entries stay as they are.
            let Ok(disk) = self.look(si, &abs) else {
                continue;
            };
            if disk.is_empty() && !Entry::read(&abs).is_some_and(|e| e.is_dir()) {
                // Renamed or removed while it was read: what the read saw is not the folder.
                self.gone.push((abs, now + PAIR_WINDOW));
                continue;
            }
            let known = self.store.children(&name, &folder)?;
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
                                self.unbaselined.insert(path.on(&root));
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
            let (from, to) = (from.on(&root), to.on(&root));
            if is_dir {
                if let Some(k) = self.kernel.as_mut() {
                    // The kernel's watches moved with the folder: kept at a stale path, they
                    // would give its events the old path, and keep a new folder made there
                    // unwatched.
                    k.set.move_tree(&from, &to);
                }
                self.bookkeeping_moved(&from, &to);
            }
            self.holds.take_tree(&from);
            self.emit(Change::Moved {
                from,
                to: to.clone(),
            });
            if is_dir {
                // Look inside at the next turn, once the index has the folder at its new place.
                self.rescan_folders.push(to);
            }
        }
        for path in deletes {
            let abs = path.on(&root);
            if let Some(k) = self.kernel.as_mut() {
                // Gone, or moved out of reach: a watch left at its path would keep a folder
                // made there later unwatched.
                k.set.remove_tree(&abs);
            }
            self.holds.take_tree(&abs);
            self.emit(Change::Delete { path: abs });
        }
        for (i, (path, entry)) in appeared.into_iter().enumerate() {
            if !matched[i] {
                self.new_content(path.on(&root), entry.is_dir(), now);
            }
        }
        for path in changed {
            self.hold_upload(path.on(&root), true, now);
        }
        Ok(())
    }

    /// Watches folder `abs`, or notes that it could not be watched: past the watch limit, in
    /// `unwatched`; for any other reason (no permission, say), the error is returned, for
    /// `look` to say along with what the read found.
    fn ensure_watch(&mut self, abs: &Path, root: bool) -> Option<std::io::Error> {
        let kernel = self.kernel.as_mut()?;
        match kernel.set.add(abs, root) {
            Ok(()) => {
                self.unwatched.remove(abs);
                if self.unwatchable.remove(abs).is_some() {
                    log::info!("the folder {} is watched again", abs.display());
                }
                None
            }
            Err(AddError::Limit) => {
                self.unwatched.insert(abs.to_owned());
                None
            }
            Err(AddError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(AddError::Io(e)) => Some(e),
        }
    }

    /// Says once, clearly, that the watch limit is reached (and again once it is not).
    fn report_limit(&mut self) {
        let Some(kernel) = self.kernel.as_ref() else {
            return;
        };
        if !self.unwatched.is_empty() && !self.limit_reported {
            self.limit_reported = true;
            let limit =
                watch::watch_limit().map_or_else(|| "unknown".to_owned(), |l| l.to_string());
            log::error!(
                "the inotify watch limit fs.inotify.max_user_watches ({limit}) is reached: {} \
                 folders are watched and {} are not, so {} watches are needed (one per folder) \
                 beside those of other programs. Raise it (sysctl fs.inotify.max_user_watches=N, \
                 or the drop-in in systemd/). Until then the folders without a watch are \
                 rescanned every {}",
                kernel.set.len(),
                self.unwatched.len(),
                kernel.set.len() + self.unwatched.len(),
                human(self.settings.poll_interval)
            );
        } else if self.unwatched.is_empty() && self.limit_reported {
            self.limit_reported = false;
            log::info!("every folder is watched again");
        }
    }

    /// The share holding `abs` (the innermost, if shares nest) and the path inside it. A share
    /// root is no entry of its share.
    fn locate(&self, abs: &Path) -> Option<(usize, SharePath)> {
        self.share_of(abs).filter(|(_, p)| !p.is_root())
    }

    /// The share holding `abs` (the innermost, if shares nest), a share root included.
    fn share_of(&self, abs: &Path) -> Option<(usize, SharePath)> {
        self.shares
            .iter()
            .enumerate()
            .filter_map(|(i, s)| SharePath::within(&s.share.path, abs).map(|p| (i, p)))
            .max_by_key(|(i, _)| self.shares[*i].share.path.as_os_str().len())
    }

    /// The folders of its share that hold `path`, innermost first (the share root excluded).
    fn folders_above(&self, path: &Path) -> Vec<PathBuf> {
        path.ancestors()
            .skip(1)
            .take_while(|a| self.locate(a).is_some())
            .map(Path::to_owned)
            .collect()
    }

    fn ignored(&self, path: &SharePath, is_dir: bool) -> bool {
        self.settings.ignore.path(path.as_bytes(), is_dir)
    }

    /// The shares watched with inotify (the others are polled).
    fn watched_shares(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.shares.len()).filter(|&i| self.shares[i].polled.is_none())
    }

    fn settle(&self) -> Duration {
        self.settings.settle
    }

    /// How long a delete waits for its replacement: the quiet period, and never less than a
    /// rename's pairing window.
    fn delete_window(&self) -> Duration {
        self.settings.settle.max(PAIR_WINDOW)
    }

    // ----- kernel events -----

    fn on_raw(&mut self, raw: Raw, now: Instant) {
        let (wd, mask, cookie, name) = match raw {
            Raw::Overflow => {
                self.overflows += 1;
                let watched: Vec<usize> = self.watched_shares().collect();
                let names: Vec<&str> = watched
                    .iter()
                    .map(|&i| self.shares[i].share.name.as_str())
                    .collect();
                log::warn!(
                    "the kernel's event queue overflowed (overflow {} since start); rescanning \
                     {} to report exactly what changed (fs.inotify.max_queued_events sets the \
                     queue's size)",
                    self.overflows,
                    names.join(", ")
                );
                for &si in &watched {
                    self.shares[si]
                        .stats
                        .overflows
                        .fetch_add(1, Ordering::Relaxed);
                    self.shares[si].stats.rescanned("overflow");
                }
                self.rescan_shares.extend(watched);
                // First halves of renames whose second half the overflow may have dropped:
                // the reconcile finds where each went (by inode), or that it is gone. Left
                // to expire, each would become a Delete, and throw away the reconcile's hold
                // at its path (a save that replaced the file would be reported as a Delete).
                self.renames.clear();
                return;
            }
            Raw::Event {
                wd,
                mask,
                cookie,
                name,
            } => (wd, mask, cookie, name),
        };
        let Some(kernel) = self.kernel.as_mut() else {
            return;
        };
        if mask.contains(Mask::IGNORED) {
            kernel.set.forget(wd);
            return;
        }
        let Some(dir) = kernel.set.path(wd).map(Path::to_owned) else {
            return;
        };
        let Some(name) = name else {
            if mask.intersects(Mask::DELETE_SELF | Mask::MOVE_SELF) {
                log::error!(
                    "the shared folder {} was moved or deleted; nothing in it is reported until \
                     it is back and sharehook is restarted",
                    dir.display()
                );
            }
            return;
        };
        let path = dir.join(name);
        let is_dir = mask.contains(Mask::ISDIR);
        let Some((_, sp)) = self.locate(&path) else {
            return;
        };
        if self.ignored(&sp, is_dir) {
            return;
        }
        if mask.contains(Mask::CREATE) {
            self.created(path, is_dir, now);
        } else if mask.contains(Mask::MODIFY) {
            self.written(path, now);
        } else if mask.contains(Mask::CLOSE_WRITE) {
            let data = self.modified.remove(&path);
            self.hold_upload(path, data, now);
        } else if mask.contains(Mask::DELETE) {
            self.removed(path, is_dir, now);
        } else if mask.contains(Mask::MOVED_FROM) {
            self.renames.push_back(From {
                path,
                cookie,
                is_dir,
                deadline: now + PAIR_WINDOW,
                replaced: false,
            });
        } else if mask.contains(Mask::MOVED_TO) {
            match self.renames.iter().position(|f| f.cookie == cookie) {
                Some(i) => {
                    let from = self.renames.remove(i).expect("the position is in range");
                    self.renamed(from.path, path, is_dir, now);
                }
                // Moved in from outside every share (or from an ignored name).
                None => self.new_content(path, is_dir, now),
            }
        }
    }

    fn created(&mut self, path: PathBuf, is_dir: bool, now: Instant) {
        self.mark_replaced(&path);
        if is_dir {
            self.new_content(path, true, now);
            return;
        }
        let made = Entry::read(&path);
        if made.is_some_and(|e| e.kind == tree::EntryKind::Symlink) {
            // A symbolic link is complete when made.
            self.new_content(path, false, now);
            return;
        }
        // A new file: reported when it is closed. A delete waiting at the same path was the
        // first half of a save (the file is replaced, not gone); not when what was made is
        // nothing sharehook reports (a FIFO, a socket): then the file is gone.
        if made.is_some() && self.holds.held(&path) == Some(Held::Delete { dir: false }) {
            self.holds.remove(&path);
        }
        self.modified.insert(path);
    }

    fn written(&mut self, path: PathBuf, now: Instant) {
        if self.holds.held(&path) == Some(Held::Upload) {
            self.holds.set_deadline(&path, now + self.settle());
        }
        self.modified.insert(path);
    }

    /// A file is complete (closed after writing, or found): its Upload waits for quiet.
    fn hold_upload(&mut self, path: PathBuf, data: bool, now: Instant) {
        let (since, data) = match self.holds.get(&path) {
            Some(h) if h.what == Held::Upload => (h.since, h.data || data),
            Some(h) if h.what == (Held::Delete { dir: true }) => {
                self.release(&path);
                (now, data)
            }
            _ => (now, data),
        };
        self.holds
            .put(path, upload_hold(since, now + self.settle(), data, None));
    }

    /// Something new is at `path`: a file to upload, or a folder and all it holds.
    fn new_content(&mut self, path: PathBuf, is_dir: bool, now: Instant) {
        self.mark_replaced(&path);
        if !is_dir {
            self.hold_upload(path, true, now);
            return;
        }
        if matches!(self.holds.held(&path), Some(Held::Delete { .. })) {
            self.release(&path);
        }
        let Some((si, _)) = self.locate(&path) else {
            return;
        };
        self.hold_folder(path.clone(), now);
        let mut folders = vec![path];
        while let Some(folder) = folders.pop() {
            // One that cannot be read is read again every poll interval.
            let Ok(entries) = self.look(si, &folder) else {
                continue;
            };
            for (name, entry) in entries {
                let child = folder.join(std::ffi::OsStr::from_bytes(&name));
                if entry.is_dir() {
                    self.hold_folder(child.clone(), now);
                    folders.push(child);
                } else {
                    self.hold_upload(child, true, now);
                }
            }
        }
    }

    fn hold_folder(&mut self, path: PathBuf, now: Instant) {
        if matches!(self.holds.held(&path), Some(Held::Folder { .. })) {
            return;
        }
        let placeholder = path
            .file_name()
            .is_some_and(|n| is_placeholder_folder(n.as_encoded_bytes()));
        let wait = if placeholder {
            PLACEHOLDER_WAIT
        } else {
            self.settle()
        };
        self.holds.put(
            path,
            Hold {
                seq: 0,
                what: Held::Folder { placeholder },
                since: now,
                deadline: now + wait,
                data: true,
                gone: None,
            },
        );
    }

    fn removed(&mut self, path: PathBuf, is_dir: bool, now: Instant) {
        self.holds.take_tree(&path);
        self.modified.retain(|p| !p.starts_with(&path));
        if is_dir && let Some(k) = self.kernel.as_mut() {
            k.set.remove_tree(&path);
        }
        for folder in self.folders_above(&path) {
            self.activity.insert(folder, now);
        }
        let deadline = now + self.delete_window();
        self.holds.put(
            path,
            Hold {
                seq: 0,
                what: Held::Delete { dir: is_dir },
                since: now,
                deadline,
                data: false,
                gone: None,
            },
        );
    }

    fn renamed(&mut self, from: PathBuf, to: PathBuf, is_dir: bool, now: Instant) {
        if is_dir && let Some(k) = self.kernel.as_mut() {
            k.set.move_tree(&from, &to);
        }
        let same_share = match (self.locate(&from), self.locate(&to)) {
            (Some((a, _)), Some((b, _))) => a == b,
            _ => false,
        };
        if !same_share {
            self.removed(from, is_dir, now);
            self.new_content(to, is_dir, now);
            return;
        }
        self.mark_replaced(&to);
        // Whatever was at the target is replaced by what moved there.
        self.holds.take_tree(&to);
        let known = self.known(&from);
        // Uploads and Create Folders released but not committed yet follow the rename as
        // holds: committed before it, they would find the old name gone and be lost; held,
        // they are announced after the Move or Rename, at the new name.
        let (carried, rest): (Vec<Change>, Vec<Change>) = std::mem::take(&mut self.ready)
            .into_iter()
            .partition(|c| match c {
                Change::Upload { path, .. } | Change::Folder { path } => path.starts_with(&from),
                _ => false,
            });
        self.ready = rest;
        for change in carried {
            match change {
                Change::Upload { path, data } => self.hold_upload(path, data, now),
                Change::Folder { path } => self.hold_folder(path, now),
                _ => {}
            }
        }
        let moved = self.holds.take_tree(&from);
        let had_own_hold = moved.first().is_some_and(|(p, _)| *p == from);
        let mut held_folders = Vec::new();
        for (p, mut hold) in moved {
            let target = tree::rebase(&p, &from, &to);
            hold.gone = None;
            if let Held::Folder { placeholder } = hold.what {
                let named = target
                    .file_name()
                    .is_some_and(|n| is_placeholder_folder(n.as_encoded_bytes()));
                if placeholder && !named {
                    hold.what = Held::Folder { placeholder: false };
                    hold.deadline = hold.since + self.settle();
                }
                held_folders.push(target.clone());
            }
            self.holds.put(target, hold);
        }
        let was_modified: Vec<PathBuf> = self
            .modified
            .iter()
            .filter(|p| p.starts_with(&from))
            .cloned()
            .collect();
        for p in was_modified {
            self.modified.remove(&p);
            self.modified.insert(tree::rebase(&p, &from, &to));
        }
        if is_dir {
            // Folders waiting to be compared with the index, or polled for want of a watch,
            // are found where they are now: at the old path there is nothing to find.
            for f in self
                .rescan_folders
                .iter_mut()
                .filter(|f| f.starts_with(&from))
            {
                *f = tree::rebase(f, &from, &to);
            }
            // So are first halves of renames waiting for their second: unpaired, each
            // becomes the Delete of its path, which must be where the entry is known.
            for half in self
                .renames
                .iter_mut()
                .filter(|h| h.path.starts_with(&from))
            {
                half.path = tree::rebase(&half.path, &from, &to);
            }
            let (found, gone) = std::mem::take(&mut self.gone)
                .into_iter()
                .partition(|(f, _)| f.starts_with(&from));
            self.gone = gone;
            for (f, _) in found {
                self.rescan_folders.push(tree::rebase(&f, &from, &to));
            }
            self.bookkeeping_moved(&from, &to);
        }
        if known {
            let unwatched = is_dir && self.unwatched_at(&to);
            self.emit(Change::Moved {
                from,
                to: to.clone(),
            });
            if unwatched {
                // Once the index has it at its new place, compared with the disk.
                self.rescan_folders.push(to);
            }
        } else if !had_own_hold {
            // Never reported (made before anything saw it, or still being written): new here.
            self.new_content(to, is_dir, now);
            return;
        }
        // A new folder that moved is read again where it is now. Its creation may have been
        // read after it was renamed (the engine late behind the disk: it was never watched
        // nor read), or it was read while it moved (what it held then vanished from the
        // read): either way what it holds is news that no kernel event will tell. Reading a
        // folder reads what is below it, so only the topmost ones.
        let tops: Vec<PathBuf> = held_folders
            .iter()
            .filter(|f| !held_folders.iter().any(|g| g != *f && f.starts_with(g)))
            .cloned()
            .collect();
        for folder in tops {
            self.new_content(folder, true, now);
        }
    }

    /// Folder `from` (and what is below it) is now at `to`: the folders kept aside (without a
    /// watch, unreadable, never read since the first start) are kept aside at their new paths,
    /// so they are still read again, and a never-read one is still indexed silently.
    fn bookkeeping_moved(&mut self, from: &Path, to: &Path) {
        fn rebase_set(set: &mut BTreeSet<PathBuf>, from: &Path, to: &Path) {
            let below: Vec<PathBuf> = set
                .range(from.to_owned()..)
                .take_while(|f| f.starts_with(from))
                .cloned()
                .collect();
            for f in below {
                set.remove(&f);
                set.insert(tree::rebase(&f, from, to));
            }
        }
        fn rebase_map(map: &mut BTreeMap<PathBuf, i32>, from: &Path, to: &Path) {
            for f in tree::keys_below(map, from) {
                if let Some(v) = map.remove(&f) {
                    map.insert(tree::rebase(&f, from, to), v);
                }
            }
        }
        rebase_set(&mut self.unwatched, from, to);
        rebase_set(&mut self.unbaselined, from, to);
        rebase_map(&mut self.unreadable, from, to);
        rebase_map(&mut self.unwatchable, from, to);
    }

    /// Whether folder `abs`, in a share watched with inotify, has no watch.
    fn unwatched_at(&self, abs: &Path) -> bool {
        self.locate(abs)
            .is_some_and(|(si, _)| self.shares[si].polled.is_none())
            && self.kernel.as_ref().is_some_and(|k| !k.set.contains(abs))
    }

    /// A rename's first half whose path now holds something new was a replacement.
    fn mark_replaced(&mut self, path: &Path) {
        for from in self.renames.iter_mut().filter(|f| f.path == path) {
            from.replaced = true;
        }
    }

    /// Whether the index has `path`, counting changes not committed yet.
    fn known(&mut self, path: &Path) -> bool {
        for change in self.ready.iter().rev() {
            match change {
                Change::Upload { path: p, .. } | Change::Folder { path: p } if p == path => {
                    return true;
                }
                Change::Delete { path: p } if path.starts_with(p) => return false,
                Change::Moved { from, .. } if path.starts_with(from) => return false,
                Change::Moved { to, .. } if path.starts_with(to) => return true,
                _ => {}
            }
        }
        let Some((si, sp)) = self.locate(path) else {
            return false;
        };
        match self.store.entry(&self.shares[si].share.name, &sp) {
            Ok(e) => e.is_some(),
            Err(e) => {
                log::error!("{e}");
                false
            }
        }
    }

    /// Unpaired first halves of renames whose window has passed: moved out of every share.
    /// Called only when no event is waiting unread, so a second half is never missed.
    fn expire_renames(&mut self, now: Instant) {
        while self.renames.front().is_some_and(|f| f.deadline <= now) {
            let from = self.renames.pop_front().expect("front() was Some");
            if from.is_dir
                && let Some(k) = self.kernel.as_mut()
            {
                k.set.remove_tree(&from.path);
            }
            if from.replaced {
                // A save pattern: the old file went to a backup name, a new one took its place.
                continue;
            }
            self.removed(from.path, from.is_dir, now);
        }
    }

    // ----- releasing holds -----

    /// Adds `change` to what the next commit reports, after any held Create Folder above it.
    fn emit(&mut self, change: Change) {
        let mut above = self.folders_above(change.path());
        above.reverse();
        for folder in above {
            if matches!(self.holds.held(&folder), Some(Held::Folder { .. })) {
                self.release(&folder);
            }
        }
        self.ready.push(change);
    }

    /// Releases the hold at `path` now, whatever its deadline.
    fn release(&mut self, path: &Path) {
        let Some(hold) = self.holds.remove(path) else {
            return;
        };
        let path = path.to_owned();
        let change = match hold.what {
            Held::Upload => Change::Upload {
                path,
                data: hold.data,
            },
            Held::Folder { .. } => Change::Folder { path },
            Held::Delete { .. } => Change::Delete { path },
        };
        self.emit(change);
    }

    /// Releases every hold whose time has come and whose conditions hold.
    fn release_due(&mut self, now: Instant) {
        let wall_ns = i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
        )
        .unwrap_or(i64::MAX);
        let settle_ns = i64::try_from(self.settle().as_nanos()).unwrap_or(i64::MAX);
        for path in self.holds.due(now) {
            let Some(hold) = self.holds.get(&path).cloned() else {
                continue; // released above, with a change below it
            };
            match hold.what {
                Held::Upload => {
                    let found = match tree::lstat(&path) {
                        Ok(found) => found,
                        Err(e) => {
                            // Cannot tell, which is not "gone": its folder is read again every
                            // poll interval, and that reconcile finds the change.
                            self.cannot_read_above(&path, &e);
                            self.holds.remove(&path);
                            continue;
                        }
                    };
                    let Some(entry) = found.filter(|e| !e.is_dir()) else {
                        if tree::is_unreported_kind(&path) {
                            // A FIFO, socket or device took its place: the gate reports the
                            // file it replaced as deleted.
                            self.release(&path);
                            continue;
                        }
                        // Gone or replaced by a folder: its own event says so. Gone may be
                        // renamed (the file or a folder above it), the event not read yet:
                        // the hold waits for it a while, to be carried to the new path.
                        // It is given up after a delete window, once every kernel event from
                        // before it was found gone has been read (a batch ended with nothing
                        // left, a pairing window later): a rename would have carried it.
                        let first = hold.gone.unwrap_or(now);
                        let waiting = now < first + self.delete_window()
                            || self.drained_at < first + PAIR_WINDOW;
                        if waiting && found.is_none() {
                            if let Some(h) = self.holds.by_path.get_mut(&key(&path)) {
                                h.gone = Some(first);
                            }
                            self.holds.set_deadline(&path, now + PAIR_WINDOW);
                            continue;
                        }
                        self.holds.remove(&path);
                        continue;
                    };
                    let age = wall_ns - entry.mtime_ns;
                    if (0..settle_ns).contains(&age) {
                        // Changed within the quiet period (a scan found it being written).
                        let wait =
                            Duration::from_nanos(u64::try_from(settle_ns - age).unwrap_or(0));
                        self.holds.set_deadline(&path, now + wait);
                        continue;
                    }
                    if entry.size == 0 && partial_sibling(&path) {
                        // A browser's placeholder while the download runs beside it.
                        self.holds.set_deadline(
                            &path,
                            now + self.settle().max(Duration::from_millis(200)),
                        );
                        continue;
                    }
                }
                Held::Folder { placeholder: true } => {
                    if now < hold.since + PLACEHOLDER_WAIT && tree::is_empty_dir(&path) {
                        self.holds
                            .set_deadline(&path, hold.since + PLACEHOLDER_WAIT);
                        continue;
                    }
                }
                Held::Folder { placeholder: false } => {}
                Held::Delete { .. } => {
                    if now < hold.since + MAX_DELETE_HOLD {
                        let parent = path.parent().unwrap_or(Path::new("/"));
                        let busy = self
                            .activity
                            .get(parent)
                            .map(|t| *t + self.delete_window())
                            .filter(|until| *until > now);
                        if let Some(until) = busy {
                            // More is being deleted around it: perhaps its whole folder.
                            self.holds.set_deadline(&path, until);
                            continue;
                        }
                        if Entry::read(parent).is_none() {
                            // Its folder is gone too: that folder's Delete covers it.
                            self.holds.set_deadline(&path, now + self.delete_window());
                            continue;
                        }
                    }
                }
            }
            self.release(&path);
        }
        let window = MAX_DELETE_HOLD;
        self.activity.retain(|_, t| now.duration_since(*t) < window);
    }

    // ----- committing -----

    /// Checks each ready change against the index and commits the ones that are news, with
    /// the index updates and the queued events, in one transaction.
    fn commit(&mut self) {
        if self.ready.is_empty() || Instant::now() < self.next_commit {
            return;
        }
        self.next_commit = Instant::now() + COMMIT_GAP;
        let changes = std::mem::take(&mut self.ready);
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
                // whatever happens meanwhile. Until then nothing is held in memory.
                log::error!(
                    "cannot record {} changes: {e}; watching pauses until the state can be \
                     written again, then every share is reconciled",
                    changes.len()
                );
                self.pause();
            }
        }
    }

    fn paused(&self) -> bool {
        self.commit_failures > 0
    }

    /// Stops acting on changes: forgets what is held, and waits to write the state again.
    fn pause(&mut self) {
        self.commit_failures += 1;
        self.ready.clear();
        self.holds = Holds::default();
        self.renames.clear();
        self.modified.clear();
        self.rescan_shares.clear();
        self.rescan_folders.clear();
        self.gone.clear();
        self.next_commit = Instant::now() + self.retry_pause();
    }

    /// 1 s, doubling with each failure, at most a minute.
    fn retry_pause(&self) -> Duration {
        Duration::from_secs(1 << self.commit_failures.clamp(1, 7).saturating_sub(1))
            .min(Duration::from_secs(60))
    }

    /// Tries a write; when it works, watching resumes with a reconcile of every share.
    fn try_resume(&mut self) {
        match self.store.probe() {
            Ok(()) => {
                log::info!(
                    "the state can be written again; reconciling every share to report what \
                     changed meanwhile"
                );
                self.commit_failures = 0;
                self.rescan_shares = (0..self.shares.len()).collect();
                for s in &self.shares {
                    s.stats.rescanned("recovery");
                }
            }
            Err(e) => {
                self.commit_failures += 1;
                let pause = self.retry_pause();
                log::error!(
                    "the state still cannot be written, trying again in {}: {e}",
                    human(pause)
                );
                self.next_commit = Instant::now() + pause;
            }
        }
    }

    /// One transaction: each change through the gate, each resulting event queued for the
    /// webhooks that want it. Returns (event id, log line, webhooks) for each event.
    fn record(&mut self, changes: &[Change]) -> Result<Vec<(u64, String, Vec<u32>)>, StoreError> {
        let now = now_ms();
        let store = Arc::clone(&self.store);
        let mut batch = store.batch()?;
        let mut done = Vec::new();
        let mut seen = Vec::new();
        // The set as it is now; a webhook made or changed meanwhile counts from the next batch.
        let routing = self.routes.current();
        for change in changes {
            for event in self.gate(&mut batch, change, now)? {
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
            if let Some(s) = self.shares.iter().find(|s| s.share.name == event.share) {
                s.stats.reported(event);
            }
            self.stats.feed.event(event);
        }
        Ok(done)
    }

    /// What `change` reports, given the index; updates the index in `batch`.
    fn gate(
        &mut self,
        batch: &mut Batch<'_>,
        change: &Change,
        now: i64,
    ) -> Result<Vec<Event>, StoreError> {
        let Some((si, sp)) = self.locate(change.path()) else {
            return Ok(Vec::new());
        };
        let share = self.shares[si].share.name.clone();
        let mut out = Vec::new();
        match change {
            Change::Upload { path, data } => {
                let found = match tree::lstat(path) {
                    Ok(found) => found,
                    Err(e) => {
                        // Cannot tell: found by the poll of its folder once it can be read.
                        self.cannot_read_above(path, &e);
                        return Ok(out);
                    }
                };
                let Some(entry) = found.filter(|e| !e.is_dir()) else {
                    if tree::is_unreported_kind(path) {
                        // Replaced by a FIFO, socket or device node: what was there is gone.
                        if let Some(known) = batch.remove_tree(&share, &sp)? {
                            out.push(self.event(Operation::Delete, si, sp, None, &known, now));
                        }
                    } else if found.is_none() && self.holds.get(path).is_none() {
                        // Gone since its release: perhaps renamed, the kernel's word of it not
                        // read yet. Held again as found gone, so that the rename carries it to
                        // the new name; `release_due` gives it up if nothing explains it.
                        let at = Instant::now();
                        let hold = upload_hold(at, at + PAIR_WINDOW, *data, Some(at));
                        self.holds.put(path.clone(), hold);
                    }
                    return Ok(out);
                };
                match batch.entry(&share, &sp)? {
                    Some(known) if known.same_as(&entry) => return Ok(out),
                    Some(known) if !known.is_dir() && !data => {
                        // Times or attributes only (a touch): no news, but keep the index true.
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
                        self.cannot_read_above(path, &e);
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
                        self.gone
                            .push((parent.to_owned(), Instant::now() + PAIR_WINDOW));
                    }
                    return Ok(out);
                };
                match batch.entry(&share, &sp)? {
                    Some(known) if known.is_dir() => {
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
                }
            }
            Change::Moved { from, to } => {
                let Some((_, from_sp)) = self.locate(from) else {
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
                            self.rescan_folders.push(to.clone());
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
    fn parents(
        &mut self,
        batch: &mut Batch<'_>,
        si: usize,
        sp: &SharePath,
        moved: Option<&Entry>,
        now: i64,
        out: &mut Vec<Event>,
    ) -> Result<bool, StoreError> {
        let share = self.shares[si].share.name.clone();
        let root = self.shares[si].share.path.clone();
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
                (None, None) => return Ok(false),
            };
            if replaced {
                batch.remove_tree(&share, &folder)?;
            }
            batch.put(&share, &folder, &entry)?;
            out.push(self.event(Operation::CreateFolder, si, folder, None, &entry, now));
        }
        Ok(true)
    }

    fn event(
        &mut self,
        op: Operation,
        si: usize,
        path: SharePath,
        source: Option<SharePath>,
        entry: &Entry,
        now: i64,
    ) -> Event {
        let share = &self.shares[si].share.name;
        // A change made through the API is reported as its user's, by protocol `api`.
        let (username, protocol) = match self.attributions.take(share, op, &path) {
            Some((user, protocol)) => (user, Some(protocol)),
            None => (self.owners.name(entry.uid), None),
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
        }
    }

    // ----- the loop -----

    /// Runs until told to stop. What is held but not yet reported is left to the next start's
    /// reconcile, which finds it again.
    pub fn run(mut self) {
        loop {
            self.heartbeat.store(now_ms(), Ordering::Relaxed);
            if self.stop.load(Ordering::SeqCst) {
                // What is ready is committed now, whatever the gap since the last commit.
                self.next_commit = Instant::now();
                self.commit();
                return;
            }
            if self.paused() {
                // Nothing is acted on: what happens meanwhile is found by the reconcile at
                // the end of the pause. The kernel's events are read only to be dropped.
                if let Some(k) = &self.kernel {
                    while k.rx.try_recv().is_ok() {}
                }
                let wait = self.next_commit.saturating_duration_since(Instant::now());
                std::thread::sleep(wait.min(TICK));
                if Instant::now() >= self.next_commit {
                    self.try_resume();
                }
                continue;
            }
            let now = Instant::now();
            let wait = self
                .next_wakeup(now)
                .saturating_duration_since(now)
                .min(TICK);
            let mut drained = true;
            match self.kernel.as_ref().map(|k| k.rx.recv_timeout(wait)) {
                Some(Ok(raw)) => {
                    self.on_raw(raw, Instant::now());
                    // A rename's window may close only when its second half cannot be
                    // waiting unread: when the batch ended because nothing was left.
                    drained = false;
                    for _ in 1..MAX_BATCH {
                        let next = self.kernel.as_ref().map(|k| k.rx.try_recv());
                        match next {
                            Some(Ok(raw)) => self.on_raw(raw, Instant::now()),
                            _ => {
                                drained = true;
                                break;
                            }
                        }
                    }
                }
                Some(Err(RecvTimeoutError::Timeout)) => {}
                Some(Err(RecvTimeoutError::Disconnected)) => {
                    log::error!("the inotify reader stopped; shares are polled instead");
                    self.kernel = None;
                    for share in &mut self.shares {
                        share
                            .polled
                            .get_or_insert_with(|| "the inotify reader stopped".to_owned());
                    }
                }
                None => std::thread::sleep(wait),
            }
            let now = Instant::now();
            if drained {
                self.drained_at = now;
                self.expire_renames(now);
                self.gone.retain(|(_, until)| *until > now);
            }
            if let Err(e) = self.run_rescans(now) {
                log::error!("a rescan failed: {e}");
                self.pause();
            }
            self.release_due(now);
            self.commit();
            if now >= self.next_figures {
                self.next_figures = now + FIGURES_EVERY;
                self.publish_figures();
            }
        }
    }

    /// Gives `stats` how each share is watched: its mode, its folders watched, and the
    /// folders that could not be watched or read.
    fn publish_figures(&self) {
        for s in &self.shares {
            let root = s.share.path.as_path();
            // Nested shares' folders are theirs.
            let nested: Vec<&Path> = self
                .shares
                .iter()
                .map(|o| o.share.path.as_path())
                .filter(|p| *p != root && p.starts_with(root))
                .collect();
            let folders_watched = self.kernel.as_ref().map_or(0, |k| {
                let below = |p: &Path| k.set.count_below(p) as u64;
                below(root).saturating_sub(nested.iter().map(|p| below(p)).sum())
            });
            // Each map's folders of this share are one range of its keys.
            let mine = |p: &&PathBuf| !nested.iter().any(|n| p.starts_with(n));
            let over_limit = self
                .unwatched
                .range(root.to_owned()..)
                .take_while(|p| p.starts_with(root))
                .filter(mine)
                .map(|p| (p, None));
            let with_errno = |map: &BTreeMap<PathBuf, i32>| {
                problem(
                    map.range(root.to_owned()..)
                        .take_while(|(p, _)| p.starts_with(root))
                        .filter(|(p, _)| mine(p))
                        .map(|(p, e)| (p, Some(*e))),
                )
            };
            s.stats.set_watching(metrics::Watching {
                polled: s.polled.clone(),
                folders_watched,
                over_limit: problem(over_limit),
                unreadable: with_errno(&self.unreadable),
                unwatchable: with_errno(&self.unwatchable),
            });
        }
        let watches = self.kernel.as_ref().map_or(0, |k| k.set.len() as u64);
        self.stats.watches.store(watches, Ordering::Relaxed);
    }

    fn next_wakeup(&self, now: Instant) -> Instant {
        let mut at = now + TICK;
        if let Some(d) = self.holds.next_deadline() {
            at = at.min(d);
        }
        if let Some(f) = self.renames.front() {
            at = at.min(f.deadline);
        }
        if !self.ready.is_empty() {
            at = at.min(self.next_commit);
        }
        if !self.rescan_folders.is_empty() || !self.rescan_shares.is_empty() {
            // A reconcile goes one folder level per turn: the next level at once, so that a
            // rename read meanwhile finds as little as possible waiting at old paths.
            at = now;
        }
        at.max(now)
    }

    fn run_rescans(&mut self, now: Instant) -> Result<(), StoreError> {
        for si in std::mem::take(&mut self.rescan_shares) {
            self.reconcile(si, &SharePath::root(), now)?;
        }
        for folder in std::mem::take(&mut self.rescan_folders) {
            if let Some((si, sp)) = self.locate(&folder) {
                self.reconcile(si, &sp, now)?;
            }
        }
        for si in 0..self.shares.len() {
            if self.shares[si].polled.is_some() && self.shares[si].next_poll <= now {
                self.shares[si].next_poll = now + self.settings.poll_interval;
                self.shares[si].stats.rescanned("poll");
                self.reconcile(si, &SharePath::root(), now)?;
            }
        }
        let waiting = !(self.unwatched.is_empty()
            && self.unreadable.is_empty()
            && self.unwatchable.is_empty());
        if waiting && self.next_unwatched_poll <= now {
            self.next_unwatched_poll = now + self.settings.poll_interval;
            let retry: BTreeSet<PathBuf> = self
                .unwatched
                .iter()
                .chain(self.unreadable.keys())
                .chain(self.unwatchable.keys())
                .cloned()
                .collect();
            // The topmost folders only: each rescan covers everything below it.
            let mut tops: Vec<PathBuf> = Vec::new();
            for f in retry {
                if !tops.iter().any(|t| f.starts_with(t)) {
                    tops.push(f);
                }
            }
            for folder in tops {
                // Gone (its Delete comes from its folder), or no longer a folder of a share:
                // nothing to read again. A folder that cannot even be looked at is kept.
                let gone = matches!(tree::lstat(&folder), Ok(e) if !e.is_some_and(|e| e.is_dir()));
                match self.share_of(&folder) {
                    Some((si, sp)) if !gone => {
                        self.shares[si].stats.rescanned("retry");
                        self.reconcile(si, &sp, now)?
                    }
                    _ => {
                        self.unwatched.remove(&folder);
                        self.unreadable.remove(&folder);
                        self.unwatchable.remove(&folder);
                        self.unbaselined.remove(&folder);
                    }
                }
            }
            self.report_limit();
        }
        if let Some(at) = self.next_safety.filter(|at| *at <= now) {
            let interval = self
                .settings
                .rescan_interval
                .expect("set when next_safety is");
            self.next_safety = Some(at.max(now) + jitter(interval));
            log::info!(
                "safety rescan of every share (every {}; polled shares are read every {} anyway)",
                human(interval),
                human(self.settings.poll_interval)
            );
            let watched: Vec<usize> = self.watched_shares().collect();
            let started = Instant::now();
            let before = self.ready.len() + self.holds.len();
            for si in watched {
                self.shares[si].stats.rescanned("safety");
                self.reconcile(si, &SharePath::root(), now)?;
            }
            log::info!(
                "safety rescan done in {} ms: {} changes the kernel had not told",
                started.elapsed().as_millis(),
                (self.ready.len() + self.holds.len()).saturating_sub(before)
            );
        }
        Ok(())
    }
}

/// How many folders have a problem, and the first of them with its error.
fn problem<'a>(folders: impl IntoIterator<Item = (&'a PathBuf, Option<i32>)>) -> metrics::Problem {
    let mut found = metrics::Problem::default();
    for (path, errno) in folders {
        if found.count == 0 {
            found.example = Some(path.display().to_string());
            found.error = errno.map(|e| std::io::Error::from_raw_os_error(e).to_string());
        }
        found.count += 1;
    }
    found
}

/// `d` give or take 10%, so that many boxes do not rescan in step.
fn jitter(d: Duration) -> Duration {
    crate::retry::jitter(d, 0.1)
}

/// Whether a partial download of `path` lies beside it (`name.part`, `name.crdownload`...).
fn partial_sibling(path: &Path) -> bool {
    PARTIAL_SUFFIXES.iter().any(|suffix| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        Entry::read(Path::new(&name)).is_some()
    })
}

/// The user sharehook runs as, by name (the number when it has none), and its uid.
fn runs_as() -> (String, u32) {
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    let name = crate::owner::user_name(uid)
        .ok()
        .flatten()
        .unwrap_or_else(|| uid.to_string());
    (name, uid)
}

/// The soft limit on open descriptors, if it can be read.
fn descriptor_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the one struct it is given.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0).then_some(limit.rlim_cur)
}

/// `path` quoted for a POSIX shell, for commands shown in messages.
fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', "'\\''"))
}

/// An Upload hold made at `since`, due at `deadline`.
fn upload_hold(since: Instant, deadline: Instant, data: bool, gone: Option<Instant>) -> Hold {
    Hold {
        seq: 0,
        what: Held::Upload,
        since,
        deadline,
        data,
        gone,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Share;

    /// An engine watching `dir/share` (empty at first: the baseline), with no webhooks.
    fn engine(dir: &Path) -> (Engine, PathBuf) {
        let share = dir.join("share");
        std::fs::create_dir(&share).unwrap();
        let share = share.canonicalize().unwrap();
        let store = Arc::new(Store::open(&dir.join("state")).unwrap());
        let engine = Engine::start(Setup {
            shares: vec![Share {
                name: "s".into(),
                path: share.clone(),
                protocol: "smb".into(),
                watch: WatchMode::Inotify,
                resources: crate::config::ResourceAccess::Off,
            }],
            routes: Routes::default(),
            schedule: Schedule::default(),
            watch: WatchSettings::default(),
            store,
            stop: Arc::new(AtomicBool::new(false)),
            heartbeat: Arc::new(AtomicI64::new(0)),
            stats: Arc::default(),
            attributions: Arc::new(Attributions::default()),
        })
        .unwrap();
        (engine, share)
    }

    /// What the gate reports for `change`, committed.
    fn gate(engine: &mut Engine, change: Change) -> Vec<String> {
        let store = Arc::clone(&engine.store);
        let mut batch = store.batch().unwrap();
        let events = engine.gate(&mut batch, &change, 0).unwrap();
        batch.commit().unwrap();
        events
            .iter()
            .map(|e| match &e.source {
                Some(s) => format!("{} {} from {s}", e.op.v1_name(), e.path),
                None => format!("{} {}", e.op.v1_name(), e.path),
            })
            .collect()
    }

    fn upload(path: PathBuf) -> Change {
        Change::Upload { path, data: true }
    }

    #[test]
    fn a_file_changed_then_moved_is_still_news_at_its_new_name() {
        let dir = tempfile::tempdir().unwrap();
        let (mut e, s) = engine(dir.path());
        std::fs::write(s.join("a"), "v1").unwrap();
        assert_eq!(gate(&mut e, upload(s.join("a"))), ["Upload /a"]);
        std::fs::write(s.join("a"), "v2, longer").unwrap();
        std::fs::rename(s.join("a"), s.join("b")).unwrap();
        let moved = Change::Moved {
            from: s.join("a"),
            to: s.join("b"),
        };
        assert_eq!(gate(&mut e, moved), ["Rename /b from /a"]);
        assert_eq!(gate(&mut e, upload(s.join("b"))), ["Upload /b"]);
        assert_eq!(gate(&mut e, upload(s.join("b"))), Vec::<String>::new());
    }

    #[test]
    fn the_gate_announces_missing_folders_first_outermost_first() {
        let dir = tempfile::tempdir().unwrap();
        let (mut e, s) = engine(dir.path());
        std::fs::create_dir_all(s.join("x/y")).unwrap();
        std::fs::write(s.join("x/y/f"), "1").unwrap();
        assert_eq!(
            gate(&mut e, upload(s.join("x/y/f"))),
            ["Create Folder /x", "Create Folder /x/y", "Upload /x/y/f"]
        );
        std::fs::create_dir(s.join("x/z")).unwrap();
        let folder = Change::Folder {
            path: s.join("x/z"),
        };
        assert_eq!(gate(&mut e, folder), ["Create Folder /x/z"]);
    }

    #[test]
    fn a_move_into_a_folder_gone_since_announces_that_folder_and_its_rename_follows() {
        let dir = tempfile::tempdir().unwrap();
        let (mut e, s) = engine(dir.path());
        std::fs::create_dir(s.join("k")).unwrap();
        let folder = |p: &str| Change::Folder { path: s.join(p) };
        assert_eq!(gate(&mut e, folder("k")), ["Create Folder /k"]);
        // Read late: n was made, k moved into it, n renamed to m, all before the gate ran.
        std::fs::create_dir(s.join("n")).unwrap();
        std::fs::rename(s.join("k"), s.join("n/k")).unwrap();
        std::fs::rename(s.join("n"), s.join("m")).unwrap();
        assert_eq!(gate(&mut e, folder("n")), Vec::<String>::new());
        let into = Change::Moved {
            from: s.join("k"),
            to: s.join("n/k"),
        };
        assert_eq!(
            gate(&mut e, into),
            ["Create Folder /n", "Move /n/k from /k"]
        );
        let renamed = Change::Moved {
            from: s.join("n"),
            to: s.join("m"),
        };
        assert_eq!(gate(&mut e, renamed), ["Rename /m from /n"]);
        // A stale change inside the gone folder, with nothing known moved: dropped.
        assert_eq!(gate(&mut e, upload(s.join("n/z"))), Vec::<String>::new());
        // The index is a tree again, and true: m holds k, by the disk's inode.
        let m = e.store.entry("s", &SharePath::from_config("/m")).unwrap();
        assert_eq!(m, Entry::read(&s.join("m")));
        assert!(
            e.store
                .entry("s", &SharePath::from_config("/m/k"))
                .unwrap()
                .is_some()
        );
    }

    /// The Upload held at `path`, if any, and whether it was found gone.
    fn upload_held(e: &Engine, path: &Path) -> Option<bool> {
        e.holds
            .get(path)
            .filter(|h| h.what == Held::Upload)
            .map(|h| h.gone.is_some())
    }

    #[test]
    fn an_upload_whose_file_was_renamed_before_its_commit_is_held_again_and_follows() {
        let dir = tempfile::tempdir().unwrap();
        let (mut e, s) = engine(dir.path());
        std::fs::write(s.join("a"), "v1").unwrap();
        assert_eq!(gate(&mut e, upload(s.join("a"))), ["Upload /a"]);
        // Written, its Upload released, then renamed before the commit ran.
        std::fs::write(s.join("a"), "v2, longer").unwrap();
        std::fs::rename(s.join("a"), s.join("b")).unwrap();
        assert_eq!(gate(&mut e, upload(s.join("a"))), Vec::<String>::new());
        assert_eq!(
            upload_held(&e, &s.join("a")),
            Some(true),
            "held as found gone"
        );
        // The rename, read now, carries it; once released it is news at the new name.
        e.renamed(s.join("a"), s.join("b"), false, Instant::now());
        assert_eq!(upload_held(&e, &s.join("a")), None);
        assert_eq!(upload_held(&e, &s.join("b")), Some(false));
        let ready = std::mem::take(&mut e.ready);
        assert_eq!(ready.len(), 1, "{ready:?}");
        assert_eq!(gate(&mut e, ready[0].clone()), ["Rename /b from /a"]);
        assert_eq!(gate(&mut e, upload(s.join("b"))), ["Upload /b"]);
    }

    #[test]
    fn an_upload_released_but_not_committed_follows_a_rename_read_before_the_commit() {
        let dir = tempfile::tempdir().unwrap();
        let (mut e, s) = engine(dir.path());
        std::fs::create_dir(s.join("d")).unwrap();
        std::fs::write(s.join("d/a"), "v1").unwrap();
        assert_eq!(
            gate(&mut e, upload(s.join("d/a"))),
            ["Create Folder /d", "Upload /d/a"]
        );
        std::fs::write(s.join("d/a"), "v2, longer").unwrap();
        e.ready.push(upload(s.join("d/a")));
        std::fs::rename(s.join("d"), s.join("e")).unwrap();
        e.renamed(s.join("d"), s.join("e"), true, Instant::now());
        let ready = std::mem::take(&mut e.ready);
        assert_eq!(
            ready,
            [Change::Moved {
                from: s.join("d"),
                to: s.join("e")
            }],
            "the Upload left the commit for a hold at the new name"
        );
        assert_eq!(upload_held(&e, &s.join("e/a")), Some(false));
        assert_eq!(gate(&mut e, ready[0].clone()), ["Rename /e from /d"]);
        assert_eq!(gate(&mut e, upload(s.join("e/a"))), ["Upload /e/a"]);
    }

    #[test]
    fn a_new_folder_released_but_not_committed_follows_a_rename_of_a_folder_above() {
        let dir = tempfile::tempdir().unwrap();
        let (mut e, s) = engine(dir.path());
        std::fs::create_dir(s.join("d")).unwrap();
        let folder = |p: &Path| Change::Folder { path: p.to_owned() };
        assert_eq!(gate(&mut e, folder(&s.join("d"))), ["Create Folder /d"]);
        std::fs::create_dir(s.join("d/new")).unwrap();
        e.ready.push(folder(&s.join("d/new")));
        std::fs::rename(s.join("d"), s.join("e")).unwrap();
        e.renamed(s.join("d"), s.join("e"), true, Instant::now());
        let ready = std::mem::take(&mut e.ready);
        assert_eq!(
            ready.len(),
            1,
            "only the Rename is left to commit: {ready:?}"
        );
        assert!(matches!(
            e.holds.held(&s.join("e/new")),
            Some(Held::Folder { .. })
        ));
        assert_eq!(gate(&mut e, ready[0].clone()), ["Rename /e from /d"]);
        assert_eq!(
            gate(&mut e, folder(&s.join("e/new"))),
            ["Create Folder /e/new"]
        );
    }

    #[test]
    fn a_new_folder_gone_at_its_commit_is_looked_for_where_a_rename_above_took_it() {
        let dir = tempfile::tempdir().unwrap();
        let (mut e, s) = engine(dir.path());
        std::fs::create_dir(s.join("d")).unwrap();
        let folder = |p: &Path| Change::Folder { path: p.to_owned() };
        assert_eq!(gate(&mut e, folder(&s.join("d"))), ["Create Folder /d"]);
        // Made, released, and its folder renamed before the commit ran.
        std::fs::create_dir(s.join("d/new")).unwrap();
        std::fs::rename(s.join("d"), s.join("e")).unwrap();
        assert_eq!(gate(&mut e, folder(&s.join("d/new"))), Vec::<String>::new());
        e.renamed(s.join("d"), s.join("e"), true, Instant::now());
        assert!(
            e.rescan_folders.contains(&s.join("e")),
            "the folder it was in is read again at its new place: {:?}",
            e.rescan_folders
        );
    }

    #[test]
    fn a_folder_never_read_keeps_its_mark_when_its_rename_outruns_the_bookkeeping() {
        let dir = tempfile::tempdir().unwrap();
        let (mut e, s) = engine(dir.path());
        std::fs::create_dir(s.join("one")).unwrap();
        let folder = |p: &Path| Change::Folder { path: p.to_owned() };
        assert_eq!(gate(&mut e, folder(&s.join("one"))), ["Create Folder /one"]);
        // As the first start leaves a folder it could not read: marked in the index, its
        // entries unknown. The retry that ran between the rename and its kernel event found
        // the old path gone and forgot it, so only the index still says so.
        let (si, one) = e.share_of(&s.join("one")).unwrap();
        let store = Arc::clone(&e.store);
        let mut batch = store.batch().unwrap();
        let marked = batch.entry("s", &one).unwrap().unwrap().unread();
        batch.put("s", &one, &marked).unwrap();
        batch.commit().unwrap();
        std::fs::create_dir(s.join("one/inner")).unwrap();
        std::fs::write(s.join("one/s.dat"), "s").unwrap();
        std::fs::write(s.join("one/inner/t.dat"), "t").unwrap();
        std::fs::rename(s.join("one"), s.join("renamed")).unwrap();
        let moved = Change::Moved {
            from: s.join("one"),
            to: s.join("renamed"),
        };
        assert_eq!(gate(&mut e, moved), ["Rename /renamed from /one"]);
        let (_, renamed) = e.share_of(&s.join("renamed")).unwrap();
        e.reconcile(si, &renamed, Instant::now()).unwrap();
        assert!(e.ready.is_empty(), "{:?}", e.ready);
        assert_eq!(e.holds.len(), 0, "nothing held either");
        let known = store.children("s", &renamed).unwrap();
        assert_eq!(known.len(), 2, "indexed silently: {known:?}");
        assert!(!store.entry("s", &renamed).unwrap().unwrap().is_unread());
        // What is new in it from now on is news.
        std::fs::write(s.join("renamed/new.dat"), "n").unwrap();
        assert_eq!(
            gate(&mut e, upload(s.join("renamed/new.dat"))),
            ["Upload /renamed/new.dat"]
        );
    }
}
