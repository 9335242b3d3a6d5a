//! The engine's side of the disk: the watches, folder reads, and the folders kept aside
//! because they could not be watched or read. It is the [`World`] the rules ask.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::Receiver;

use super::ahead::{Filter, Look, look_at};
use super::rules::{World, innermost};
use super::trace::{Trace, entry_json, result_json};
use crate::config::{Share, WatchSettings};
use crate::core::event::SharePath;
use crate::core::stats::ShareStats;
use crate::deliver::human;
use crate::store::Store;
use crate::tree::{self, Entry};
use crate::watch::{self, AddError, Raw, Reader, WatchSet};
use serde_json::json;

pub struct ShareState {
    pub share: Share,
    /// Why this share is polled (the kind of mount, or the configuration), if it is.
    pub polled: Option<String>,
    pub next_poll: std::time::Instant,
    pub stats: Arc<ShareStats>,
}

pub struct Kernel {
    pub set: WatchSet,
    pub rx: Receiver<Raw>,
    pub _reader: Reader,
}

pub struct Disk {
    pub shares: Vec<ShareState>,
    /// The shares' top folders, in the same order.
    pub roots: Vec<PathBuf>,
    pub settings: WatchSettings,
    pub store: Arc<Store>,
    pub kernel: Option<Kernel>,
    /// Folders whose watch could not be added (the limit): rescanned every poll interval.
    pub unwatched: BTreeSet<PathBuf>,
    /// Folders that could not be read, with the error (its errno) said for each: their index
    /// entries are kept as they are, and they are read again every poll interval.
    pub unreadable: BTreeMap<PathBuf, i32>,
    /// Folders that can be read but not watched (not for the limit), with the error said:
    /// rescanned every poll interval.
    pub unwatchable: BTreeMap<PathBuf, i32>,
    /// Folders that could not be read when the share's baseline was taken: once they can be,
    /// what is in them is indexed as the baseline would have, without being reported.
    pub unbaselined: BTreeSet<PathBuf>,
    pub limit_reported: bool,
    /// Folders moved (by a rename read, or found by a reconcile) since the walks last
    /// followed them.
    pub moves: Vec<(PathBuf, PathBuf)>,
    /// The user sharehook runs as, and its uid (for messages saying what it may not read).
    runs_as: (String, u32),
    /// Which entries of each share's folders are reported.
    filters: Vec<Arc<Filter>>,
    /// Where the rules' inputs and answers are written, when asked (`SHAREHOOK_TRACE`).
    pub trace: Option<Trace>,
}

impl Disk {
    pub fn new(
        shares: Vec<ShareState>,
        settings: WatchSettings,
        store: Arc<Store>,
        kernel: Option<Kernel>,
    ) -> Disk {
        let filters = (0..shares.len())
            .map(|si| {
                Arc::new(Filter {
                    ignore: settings.ignore.clone(),
                    others: (shares.iter().enumerate())
                        .filter(|&(i, _)| i != si)
                        .map(|(_, s)| s.share.path.clone())
                        .collect(),
                })
            })
            .collect();
        Disk {
            roots: shares.iter().map(|s| s.share.path.clone()).collect(),
            shares,
            settings,
            store,
            kernel,
            unwatched: BTreeSet::new(),
            unreadable: BTreeMap::new(),
            unwatchable: BTreeMap::new(),
            unbaselined: BTreeSet::new(),
            limit_reported: false,
            moves: Vec::new(),
            runs_as: runs_as(),
            filters,
            trace: None,
        }
    }

    /// How share `si` is watched, for the log.
    pub fn how(&self, si: usize) -> String {
        match &self.shares[si].polled {
            Some(reason) => format!(
                "polled every {} ({reason})",
                human(self.settings.poll_interval)
            ),
            None => "watched with inotify".to_owned(),
        }
    }

    /// The shares watched with inotify (the others are polled).
    pub fn watched_shares(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.shares.len()).filter(|&i| self.shares[i].polled.is_none())
    }

    /// Watches folder `abs` of share `si` (unless the share is polled), then reads it. In
    /// that order: whatever is made after the read, the kernel reports. An error (other than
    /// the folder being gone) means its entries are unknown: the caller leaves them as the
    /// index has them, and the folder is read again every poll interval.
    pub fn look(&mut self, si: usize, abs: &Path) -> std::io::Result<Vec<(Vec<u8>, Entry)>> {
        match self.look_folder(si, abs) {
            Look::Gone => Ok(Vec::new()),
            Look::Failed(e) => Err(e),
            Look::Read { entries, .. } => Ok(entries.to_vec()),
        }
    }

    /// `look`, saying whether the folder is gone.
    pub fn look_folder(&mut self, si: usize, abs: &Path) -> Look {
        let root = *abs == self.shares[si].share.path;
        let mut watches = match (&self.shares[si].polled, &self.kernel) {
            (None, Some(kernel)) => Some(kernel.set.watches()),
            _ => None,
        };
        let (watch, look) = look_at(watches.as_mut(), &self.filters[si], abs, root);
        self.adopt(abs, watch, look)
    }

    /// What a look at folder `abs` found (on this thread or ahead of a walk): its watch is
    /// recorded, and the folder's troubles (no watch, no read) are noted or cleared.
    pub fn adopt(&mut self, abs: &Path, watch: Option<Result<i32, AddError>>, look: Look) -> Look {
        let watch_error = watch.and_then(|w| self.note_watch(abs, w));
        match &look {
            Look::Failed(e) => self.cannot_read(abs, e),
            Look::Gone | Look::Read { .. } => {
                if self.unreadable.remove(abs).is_some() {
                    log::info!("the folder {} can be read again", abs.display());
                }
                // No folder there (any more): nothing to watch, nothing to say.
                if let (Some(e), Look::Read { .. }) = (watch_error, &look) {
                    self.cannot_watch(abs, &e);
                }
            }
        }
        look
    }

    /// The reported entries of share `si`'s folders.
    pub fn filter(&self, si: usize) -> Arc<Filter> {
        Arc::clone(&self.filters[si])
    }

    /// `path` cannot be looked at: its folder is the one that cannot be read.
    pub fn cannot_read_above(&mut self, path: &Path, e: &std::io::Error) {
        if let Some(folder) = path.parent() {
            let folder = folder.to_owned();
            self.cannot_read(&folder, e);
        }
    }

    /// Says that folder `abs` cannot be read, why, and what to do: once per folder and error
    /// (and once for all folders while descriptors run out, which is no folder's fault).
    pub fn cannot_read(&mut self, abs: &Path, e: &std::io::Error) {
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
    pub fn cannot_watch(&mut self, abs: &Path, e: &std::io::Error) {
        let errno = e.raw_os_error().unwrap_or(0);
        if self.unwatchable.insert(abs.to_owned(), errno) != Some(errno) {
            log::warn!(
                "cannot watch the folder {}: {e}; it is read every {} instead",
                abs.display(),
                human(self.settings.poll_interval)
            );
        }
    }

    /// Records the watch added for folder `abs`, or notes that it could not be added: past
    /// the watch limit, in `unwatched`; for any other reason (no permission, say), the error
    /// is returned, for `look` to say along with what the read found.
    pub fn note_watch(
        &mut self,
        abs: &Path,
        added: Result<i32, AddError>,
    ) -> Option<std::io::Error> {
        match added {
            Ok(wd) => {
                if let Some(kernel) = self.kernel.as_mut() {
                    kernel.set.record(abs, wd);
                }
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
    pub fn report_limit(&mut self) {
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
    pub fn locate(&self, abs: &Path) -> Option<(usize, SharePath)> {
        self.share_of(abs).filter(|(_, p)| !p.is_root())
    }

    /// The share holding `abs` (the innermost, if shares nest), a share root included.
    pub fn share_of(&self, abs: &Path) -> Option<(usize, SharePath)> {
        innermost(&self.roots, abs)
    }

    /// Folder `from` (and what is below it) is now at `to`: the folders kept aside (without a
    /// watch, unreadable, never read since the first start) are kept aside at their new paths,
    /// so they are still read again, and a never-read one is still indexed silently.
    pub fn bookkeeping_moved(&mut self, from: &Path, to: &Path) {
        pub fn rebase_set(set: &mut BTreeSet<PathBuf>, from: &Path, to: &Path) {
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
        pub fn rebase_map(map: &mut BTreeMap<PathBuf, i32>, from: &Path, to: &Path) {
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
    pub fn unwatched_at(&self, abs: &Path) -> bool {
        self.locate(abs)
            .is_some_and(|(si, _)| self.shares[si].polled.is_none())
            && self.kernel.as_ref().is_some_and(|k| !k.set.contains(abs))
    }
}

impl World for Disk {
    fn entry(&mut self, path: &Path) -> std::io::Result<Option<Entry>> {
        let found = tree::lstat(path);
        if let Some(t) = &self.trace {
            let v = result_json(&found, |e| e.as_ref().map_or(json!(null), entry_json));
            t.answer("entry", Some(path), v);
        }
        found
    }

    fn unreported(&mut self, path: &Path) -> bool {
        let found = tree::is_unreported_kind(path);
        if let Some(t) = &self.trace {
            t.answer("unreported", Some(path), json!(found));
        }
        found
    }

    fn is_empty_dir(&mut self, path: &Path) -> bool {
        let found = tree::is_empty_dir(path);
        if let Some(t) = &self.trace {
            t.answer("is_empty_dir", Some(path), json!(found));
        }
        found
    }

    fn list(&mut self, folder: &Path) -> std::io::Result<Vec<(Vec<u8>, Entry)>> {
        let found = match self.share_of(folder) {
            Some((si, _)) => self.look(si, folder),
            None => Ok(Vec::new()),
        };
        if let Some(t) = &self.trace {
            let v = result_json(&found, |entries| {
                entries
                    .iter()
                    .map(|(n, e)| json!([String::from_utf8_lossy(n), entry_json(e)]))
                    .collect()
            });
            t.answer("list", Some(folder), v);
        }
        found
    }

    fn known(&mut self, path: &Path) -> bool {
        let found = match self.locate(path) {
            None => false,
            Some((si, sp)) => match self.store.entry(&self.shares[si].share.name, &sp) {
                Ok(e) => e.is_some(),
                Err(e) => {
                    log::error!("{e}");
                    false
                }
            },
        };
        if let Some(t) = &self.trace {
            t.answer("known", Some(path), json!(found));
        }
        found
    }

    fn unwatched(&self, folder: &Path) -> bool {
        let found = self.unwatched_at(folder);
        if let Some(t) = &self.trace {
            t.answer("unwatched", Some(folder), json!(found));
        }
        found
    }

    fn moved(&mut self, from: &Path, to: &Path) {
        if let Some(k) = self.kernel.as_mut() {
            // The kernel's watches moved with the folder: kept at a stale path, they would
            // give its events the old path, and keep a new folder made there unwatched.
            k.set.move_tree(from, to);
        }
        self.bookkeeping_moved(from, to);
        self.moves.push((from.to_owned(), to.to_owned()));
    }

    fn unwatch(&mut self, path: &Path) {
        if let Some(k) = self.kernel.as_mut() {
            k.set.remove_tree(path);
        }
    }

    fn cannot_read(&mut self, path: &Path, e: &std::io::Error) {
        self.cannot_read_above(path, e);
    }

    fn wall_ns(&self) -> i64 {
        let now = i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
        )
        .unwrap_or(i64::MAX);
        if let Some(t) = &self.trace {
            t.answer("wall_ns", None, json!(now));
        }
        now
    }
}

/// The user sharehook runs as, by name (the number when it has none), and its uid.
fn runs_as() -> (String, u32) {
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    let name = crate::tree::owner::user_name(uid)
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
