//! The rules that turn what the kernel says into what people did, with no I/O of their own.
//!
//! The rules take kernel events (already turned into paths, ignored names dropped) and the
//! time, and keep *holds*: operations waiting for their quiet period or for the second half
//! of a save pattern. What they need to know of the disk, the index and the watches they ask
//! a [`World`]: the engine's answers from the real disk and the store, a test's from a model.
//! What they decide comes out as [`Change`]s in `ready`, for the gate, and as folders to
//! compare with the index (`rescan_folders`).
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

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::holds::{Held, Hold, Holds, upload_hold};
use super::{shown, until};
use crate::core::event::SharePath;
use crate::core::ignore::is_placeholder_folder;
use crate::deliver::human;
use crate::tree::{self, Entry, EntryKind};

/// How long the first half of a rename waits for its second half (as Samba waits).
pub const PAIR_WINDOW: Duration = Duration::from_millis(100);
/// How long an empty folder with a placeholder name waits to be named.
pub(super) const PLACEHOLDER_WAIT: Duration = Duration::from_secs(30);
/// The longest a delete waits for the deletion of the folder around it.
pub(super) const MAX_DELETE_HOLD: Duration = Duration::from_secs(30);

/// What the rules ask of the world around them: the disk, the index and the watches.
pub trait World {
    /// The entry at `path` (`None`: nothing sharehook reports is there); an error means it
    /// cannot be told.
    fn entry(&mut self, path: &Path) -> io::Result<Option<Entry>>;
    /// Whether something sharehook never reports (a FIFO, a socket, a device) is at `path`.
    fn unreported(&mut self, path: &Path) -> bool;
    /// Whether folder `path` is empty (one that cannot be read is not).
    fn is_empty_dir(&mut self, path: &Path) -> bool;
    /// What folder `path` holds, sorted by name, ignored names left out. The folder is
    /// watched before it is read. An error (said by the world) means its entries are unknown.
    fn list(&mut self, folder: &Path) -> io::Result<Vec<(Vec<u8>, Entry)>>;
    /// Whether the index has `path` (committed changes only).
    fn known(&mut self, path: &Path) -> bool;
    /// Whether folder `path`, in a share watched with inotify, has no watch.
    fn unwatched(&self, folder: &Path) -> bool;
    /// Folder `from` is now at `to`: its watches, and what is kept aside about the folders
    /// below it, follow.
    fn moved(&mut self, from: &Path, to: &Path);
    /// Folder `path` is gone: its watches (and those below) are dropped.
    fn unwatch(&mut self, path: &Path);
    /// `path` cannot be looked at: its folder is read again every poll interval.
    fn cannot_read(&mut self, path: &Path, e: &io::Error);
    /// The wall clock, in nanoseconds since 1970 (file times are compared with it).
    fn wall_ns(&self) -> i64;
}

/// A kernel event, as the rules read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    Created {
        path: PathBuf,
        is_dir: bool,
    },
    Written {
        path: PathBuf,
    },
    Closed {
        path: PathBuf,
    },
    Deleted {
        path: PathBuf,
        is_dir: bool,
    },
    MovedFrom {
        path: PathBuf,
        cookie: u32,
        is_dir: bool,
    },
    MovedTo {
        path: PathBuf,
        cookie: u32,
        is_dir: bool,
    },
}

/// A settled operation, in absolute paths, waiting for the gate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Upload { path: PathBuf, data: bool },
    Folder { path: PathBuf },
    Delete { path: PathBuf },
    Moved { from: PathBuf, to: PathBuf },
}

impl Change {
    pub fn path(&self) -> &Path {
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

/// The rules' state: what is held, what is ready, and what is waiting to be looked at.
pub struct Rules {
    /// The shares' top folders.
    roots: Vec<PathBuf>,
    pub(super) settle: Duration,
    pub holds: Holds,
    renames: VecDeque<From>,
    /// Changes released, for the next commit.
    pub ready: Vec<Change>,
    /// Files written since their last close.
    modified: HashSet<PathBuf>,
    /// The last delete seen below each folder.
    pub(super) activity: HashMap<PathBuf, Instant>,
    /// Folders a reconcile or the gate found gone (renamed or deleted, the kernel's event not
    /// read yet), until their window passes: a rename read meanwhile has them compared with
    /// the index at the new path.
    pub gone: Vec<(PathBuf, Instant)>,
    /// Folders to compare with the index at the next turn.
    pub rescan_folders: Vec<PathBuf>,
    /// The last time a batch of kernel events ended because none was left unread.
    pub drained_at: Instant,
}

impl Rules {
    pub fn new(roots: Vec<PathBuf>, settle: Duration, now: Instant) -> Rules {
        Rules {
            roots,
            settle,
            holds: Holds::default(),
            renames: VecDeque::new(),
            ready: Vec::new(),
            modified: HashSet::new(),
            activity: HashMap::new(),
            gone: Vec::new(),
            rescan_folders: Vec::new(),
            drained_at: now,
        }
    }

    /// Forgets everything held and waiting (watching pauses; a reconcile finds it all again).
    pub fn forget(&mut self) {
        let now = self.drained_at;
        *self = Rules::new(std::mem::take(&mut self.roots), self.settle, now);
    }

    /// First halves of renames whose second half a queue overflow may have dropped: the
    /// reconcile that follows finds where each went (by inode), or that it is gone. Left to
    /// expire, each would become a Delete, and throw away the reconcile's hold at its path (a
    /// save that replaced the file would be reported as a Delete).
    pub fn forget_renames(&mut self) {
        self.renames.clear();
    }

    /// The share holding `abs` (the innermost, if shares nest), its top folder excluded.
    fn share(&self, abs: &Path) -> Option<usize> {
        innermost(&self.roots, abs)
            .filter(|(_, p)| !p.is_root())
            .map(|(i, _)| i)
    }

    /// The folders of its share that hold `path`, innermost first (the share's top excluded).
    pub(super) fn folders_above(&self, path: &Path) -> Vec<PathBuf> {
        path.ancestors()
            .skip(1)
            .take_while(|a| self.share(a).is_some())
            .map(Path::to_owned)
            .collect()
    }

    /// How long a delete waits for its replacement: the quiet period, and never less than a
    /// rename's pairing window.
    pub(super) fn delete_window(&self) -> Duration {
        self.settle.max(PAIR_WINDOW)
    }

    /// When the rules next have something to do by themselves.
    pub fn next_deadline(&self) -> Option<Instant> {
        let holds = self.holds.next_deadline();
        let renames = self.renames.front().map(|f| f.deadline);
        holds.into_iter().chain(renames).min()
    }

    // ----- kernel events -----

    pub fn seen(&mut self, event: Seen, now: Instant, world: &mut dyn World) {
        match event {
            Seen::Created { path, is_dir } => self.created(path, is_dir, now, world),
            Seen::Written { path } => self.written(path, now),
            Seen::Closed { path } => {
                let data = self.modified.remove(&path);
                self.hold_upload(path, data, now);
            }
            Seen::Deleted { path, is_dir } => self.removed(path, is_dir, now, world),
            Seen::MovedFrom {
                path,
                cookie,
                is_dir,
            } => {
                why!(
                    "{}: moved away: waits up to {} for where it went (the rename's second half)",
                    shown(&path),
                    human(PAIR_WINDOW)
                );
                self.renames.push_back(From {
                    path,
                    cookie,
                    is_dir,
                    deadline: now + PAIR_WINDOW,
                    replaced: false,
                })
            }
            Seen::MovedTo {
                path,
                cookie,
                is_dir,
            } => match self.renames.iter().position(|f| f.cookie == cookie) {
                Some(i) => {
                    let from = self.renames.remove(i).expect("the position is in range");
                    why!(
                        "{}: paired with the rename from {}",
                        shown(&path),
                        shown(&from.path)
                    );
                    self.renamed(from.path, path, is_dir, now, world);
                }
                // Moved in from outside every share (or from an ignored name).
                None => {
                    why!(
                        "{}: moved in, from outside the shares or from an ignored name: new content",
                        shown(&path)
                    );
                    self.new_content(path, is_dir, now, world)
                }
            },
        }
    }

    fn created(&mut self, path: PathBuf, is_dir: bool, now: Instant, world: &mut dyn World) {
        self.mark_replaced(&path);
        if is_dir {
            self.new_content(path, true, now, world);
            return;
        }
        let made = world.entry(&path).ok().flatten();
        if made.is_some_and(|e| e.kind == EntryKind::Symlink) {
            // A symbolic link is complete when made.
            self.new_content(path, false, now, world);
            return;
        }
        // A new file: reported when it is closed. A delete waiting at the same path was the
        // first half of a save (the file is replaced, not gone); not when what was made is
        // nothing sharehook reports (a FIFO, a socket): then the file is gone.
        if made.is_some() && self.holds.held(&path) == Some(Held::Delete { dir: false }) {
            self.holds.remove(&path);
            why!(
                "{}: created where a Delete was held: the delete and the new file are one save, \
                 reported as an Upload",
                shown(&path)
            );
        }
        why!(
            "{}: created: open for write, reported once it is closed after writing",
            shown(&path)
        );
        self.modified.insert(path);
    }

    fn written(&mut self, path: PathBuf, now: Instant) {
        if self.holds.held(&path) == Some(Held::Upload) {
            self.holds.set_deadline(&path, now + self.settle);
        }
        if !self.modified.contains(&path) {
            why!(
                "{}: written: open for write, reported once it is closed after writing",
                shown(&path)
            );
            self.modified.insert(path);
        }
    }

    /// A file is complete (closed after writing, or found): its Upload waits for quiet.
    pub fn hold_upload(&mut self, path: PathBuf, data: bool, now: Instant) {
        let (since, data) = match self.holds.get(&path) {
            Some(h) if h.what == Held::Upload => (h.since, h.data || data),
            Some(h) if h.what == (Held::Delete { dir: true }) => {
                self.release(&path);
                (now, data)
            }
            _ => (now, data),
        };
        why!(
            "{}: Upload held {}: waiting for {} with no change ([watch] settle_ms)",
            shown(&path),
            until(now + self.settle, now),
            human(self.settle)
        );
        self.holds
            .put(path, upload_hold(since, now + self.settle, data, None));
    }

    /// Something new is at `path`: a file to upload, or a folder and all it holds.
    pub fn new_content(
        &mut self,
        path: PathBuf,
        is_dir: bool,
        now: Instant,
        world: &mut dyn World,
    ) {
        self.mark_replaced(&path);
        if !is_dir {
            self.hold_upload(path, true, now);
            return;
        }
        if matches!(self.holds.held(&path), Some(Held::Delete { .. })) {
            self.release(&path);
        }
        if self.share(&path).is_none() {
            return;
        }
        self.hold_folder(path.clone(), now);
        let mut folders = vec![path];
        while let Some(folder) = folders.pop() {
            // One that cannot be read is read again every poll interval.
            let Ok(entries) = world.list(&folder) else {
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
            self.settle
        };
        why!(
            "{}: Create Folder held {}: {}",
            shown(&path),
            until(now + wait, now),
            if placeholder {
                "a folder named like a placeholder (\"New folder\") waits, while it is empty, to \
                 be named"
            } else {
                "waiting for the quiet period ([watch] settle_ms)"
            }
        );
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

    fn removed(&mut self, path: PathBuf, is_dir: bool, now: Instant, world: &mut dyn World) {
        for (p, hold) in self.holds.take_tree(&path) {
            if p == path {
                why!(
                    "{}: its held {} is dropped: deleted before it was reported",
                    shown(&p),
                    held_name(hold.what)
                );
            } else {
                why!(
                    "{}: its held {} is folded into the Delete of {}",
                    shown(&p),
                    held_name(hold.what),
                    shown(&path)
                );
            }
        }
        self.modified.retain(|p| !p.starts_with(&path));
        if is_dir {
            world.unwatch(&path);
        }
        for folder in self.folders_above(&path) {
            self.activity.insert(folder, now);
        }
        let deadline = now + self.delete_window();
        why!(
            "{}: Delete held {}: a new file here meanwhile makes it one save (an Upload), and \
             the delete of its folder folds it in",
            shown(&path),
            until(deadline, now)
        );
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

    pub fn renamed(
        &mut self,
        from: PathBuf,
        to: PathBuf,
        is_dir: bool,
        now: Instant,
        world: &mut dyn World,
    ) {
        // Whether the folder had a watch, asked before its watches follow it.
        let unwatched = is_dir && world.unwatched(&from);
        let same_share = match (self.share(&from), self.share(&to)) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        };
        if is_dir && same_share {
            world.moved(&from, &to);
        }
        if !same_share {
            // Gone from one share (its watches dropped), new in the other (watched afresh).
            why!(
                "{}: moved to another share ({}): a Delete here, new content there",
                shown(&from),
                shown(&to)
            );
            self.removed(from, is_dir, now, world);
            self.new_content(to, is_dir, now, world);
            return;
        }
        self.mark_replaced(&to);
        // Whatever was at the target is replaced by what moved there.
        for (p, hold) in self.holds.take_tree(&to) {
            why!(
                "{}: its held {} is dropped: replaced by what moved there from {}",
                shown(&p),
                held_name(hold.what),
                shown(&from)
            );
        }
        let known = self.known(&from, world);
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
            // A hold at the same path came from a later event (a delete while the change
            // waited to be committed): it says what is true now, and stays.
            if self.holds.get(change.path()).is_some() {
                why!(
                    "{}: its released change is dropped: a later event's hold is there",
                    shown(change.path())
                );
                continue;
            }
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
            why!(
                "{}: its held {} follows the rename to {}",
                shown(&p),
                held_name(hold.what),
                shown(&target)
            );
            hold.gone = None;
            if let Held::Folder { placeholder } = hold.what {
                let named = target
                    .file_name()
                    .is_some_and(|n| is_placeholder_folder(n.as_encoded_bytes()));
                if placeholder && !named {
                    hold.what = Held::Folder { placeholder: false };
                    hold.deadline = hold.since + self.settle;
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
            // Folders waiting to be compared with the index are found where they are now:
            // at the old path there is nothing to find.
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
        }
        if known {
            why!(
                "{}: renamed or moved from {}, which is known: reported at once",
                shown(&to),
                shown(&from)
            );
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
            why!(
                "{}: moved from {}, which was never reported: new content here",
                shown(&to),
                shown(&from)
            );
            self.new_content(to, is_dir, now, world);
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
            self.new_content(folder, true, now, world);
        }
    }

    /// A rename's first half whose path now holds something new was a replacement.
    fn mark_replaced(&mut self, path: &Path) {
        for from in self.renames.iter_mut().filter(|f| f.path == path) {
            from.replaced = true;
        }
    }

    /// Whether the index has `path`, counting changes not committed yet.
    fn known(&self, path: &Path, world: &mut dyn World) -> bool {
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
        world.known(path)
    }

    /// Unpaired first halves of renames whose window has passed: moved out of every share.
    /// Called only when no event is waiting unread, so a second half is never missed.
    pub fn expire_renames(&mut self, now: Instant, world: &mut dyn World) {
        while self.renames.front().is_some_and(|f| f.deadline <= now) {
            let from = self.renames.pop_front().expect("front() was Some");
            if from.is_dir {
                world.unwatch(&from.path);
            }
            if from.replaced {
                // A save pattern: the old file went to a backup name, a new one took its place.
                why!(
                    "{}: moved away, and something new took its place: a save (the old file \
                     went to a backup name), no Delete",
                    shown(&from.path)
                );
                continue;
            }
            why!(
                "{}: moved away, with no second half within {}: moved out of every share, so a \
                 Delete",
                shown(&from.path),
                human(PAIR_WINDOW)
            );
            self.removed(from.path, from.is_dir, now, world);
        }
    }

    // ----- what a reconcile found -----

    /// A reconcile found an indexed entry at a new path (same inode, size and time).
    pub fn found_moved(&mut self, from: PathBuf, to: PathBuf, is_dir: bool, world: &mut dyn World) {
        if is_dir {
            world.moved(&from, &to);
        }
        self.holds.take_tree(&from);
        why!(
            "{}: a rescan found {} here (the same inode, size and time): a Move or Rename",
            shown(&to),
            shown(&from)
        );
        self.emit(Change::Moved {
            from,
            to: to.clone(),
        });
        if is_dir {
            // Look inside at the next turn, once the index has the folder at its new place.
            self.rescan_folders.push(to);
        }
    }

    /// A reconcile found an indexed entry gone.
    pub fn found_deleted(&mut self, path: PathBuf, world: &mut dyn World) {
        // Gone, or moved out of reach: a watch left at its path would keep a folder made
        // there later unwatched.
        world.unwatch(&path);
        self.holds.take_tree(&path);
        why!("{}: a rescan found it gone: a Delete", shown(&path));
        self.emit(Change::Delete { path });
    }

    // ----- what the gate found -----

    /// The gate found the file of a released Upload gone: perhaps renamed, the kernel's word
    /// of it not read yet. Held again as found gone, so that the rename carries it to the new
    /// name; `release_due` gives it up if nothing explains it.
    pub fn upload_found_gone(&mut self, path: &Path, data: bool, at: Instant) {
        if self.holds.get(path).is_none() {
            why!(
                "{}: its file is gone at release: perhaps renamed, the Upload is held {} for the \
                 rename to carry it",
                shown(path),
                until(at + PAIR_WINDOW, at)
            );
            let hold = upload_hold(at, at + PAIR_WINDOW, data, Some(at));
            self.holds.put(path.to_owned(), hold);
        }
    }
}

/// What a hold reports, for a debug line.
pub(super) fn held_name(what: Held) -> &'static str {
    match what {
        Held::Upload => "Upload",
        Held::Folder { .. } => "Create Folder",
        Held::Delete { .. } => "Delete",
    }
}

/// The share holding `abs` among those at `roots` (the innermost, if shares nest), and the
/// path inside it; a share's top folder included.
pub fn innermost(roots: &[PathBuf], abs: &Path) -> Option<(usize, SharePath)> {
    roots
        .iter()
        .enumerate()
        .filter_map(|(i, root)| SharePath::within(root, abs).map(|p| (i, p)))
        .max_by_key(|(i, _)| roots[*i].as_os_str().len())
}

use std::os::unix::ffi::OsStrExt;
