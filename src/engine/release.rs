//! Releasing holds: when a held operation's time has come, whether its conditions hold (the
//! file quiet for `settle`, no download running beside it, nothing more being deleted
//! around it), and parents first.

use std::path::Path;
use std::time::{Duration, Instant};

use super::holds::{Held, Hold};
use super::rules::{
    Change, MAX_DELETE_HOLD, PAIR_WINDOW, PLACEHOLDER_WAIT, Rules, World, held_name,
};
use super::{shown, until};
use crate::core::ignore::PARTIAL_SUFFIXES;

impl Rules {
    /// Adds `change` to what the next commit reports, after any held Create Folder above it.
    pub fn emit(&mut self, change: Change) {
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
    pub(super) fn release(&mut self, path: &Path) {
        let Some(hold) = self.holds.remove(path) else {
            return;
        };
        why!(
            "{}: {} released, for the gate to check against the index",
            shown(path),
            held_name(hold.what)
        );
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
    pub fn release_due(&mut self, now: Instant, world: &mut dyn World) {
        let wall_ns = world.wall_ns();
        let settle_ns = i64::try_from(self.settle.as_nanos()).unwrap_or(i64::MAX);
        for path in self.holds.due(now) {
            let Some(hold) = self.holds.get(&path).cloned() else {
                continue; // released above, with a change below it
            };
            let wait = match hold.what {
                Held::Upload => self.upload_waits(&path, &hold, now, wall_ns, settle_ns, world),
                Held::Folder { placeholder: true } => (now < hold.since + PLACEHOLDER_WAIT
                    && world.is_empty_dir(&path))
                .then_some(Wait::Until(
                    hold.since + PLACEHOLDER_WAIT,
                    "it is empty, and named like a placeholder (\"New folder\"): it waits to be named",
                )),
                Held::Folder { placeholder: false } => None,
                Held::Delete { .. } => self.delete_waits(&path, &hold, now, world),
            };
            match wait {
                None => self.release(&path),
                Some(Wait::Until(at, reason)) => {
                    why!(
                        "{}: {} held {}: {reason}",
                        shown(&path),
                        held_name(hold.what),
                        until(at, now)
                    );
                    self.holds.set_deadline(&path, at)
                }
                Some(Wait::Drop(reason)) => {
                    why!(
                        "{}: {} dropped: {reason}",
                        shown(&path),
                        held_name(hold.what)
                    );
                    self.holds.remove(&path);
                }
            }
        }
        let window = MAX_DELETE_HOLD;
        self.activity.retain(|_, t| now.duration_since(*t) < window);
    }

    /// Why the Upload held at `path` is not released now, if it is not.
    fn upload_waits(
        &mut self,
        path: &Path,
        hold: &Hold,
        now: Instant,
        wall_ns: i64,
        settle_ns: i64,
        world: &mut dyn World,
    ) -> Option<Wait> {
        let found = match world.entry(path) {
            Ok(found) => found,
            Err(e) => {
                // Cannot tell, which is not "gone": its folder is read again every poll
                // interval, and that reconcile finds the change.
                world.cannot_read(path, &e);
                return Some(Wait::Drop(
                    "it cannot be looked at; its folder is read again every poll interval",
                ));
            }
        };
        let Some(entry) = found.filter(|e| !e.is_dir()) else {
            if world.unreported(path) {
                // A FIFO, socket or device took its place: the gate reports the file it
                // replaced as deleted.
                return None;
            }
            // Gone or replaced by a folder: its own event says so. Gone may be renamed (the
            // file or a folder above it), the event not read yet: the hold waits for it a
            // while, to be carried to the new path. It is given up after a delete window,
            // once every kernel event from before it was found gone has been read (a batch
            // ended with nothing left, a pairing window later): a rename would have carried it.
            let first = hold.gone.unwrap_or(now);
            let waiting =
                now < first + self.delete_window() || self.drained_at < first + PAIR_WINDOW;
            if waiting && found.is_none() {
                self.holds.mark_gone(path, first);
                return Some(Wait::Until(
                    now + PAIR_WINDOW,
                    "its file is gone: perhaps renamed, waiting for the rename to carry it",
                ));
            }
            return Some(Wait::Drop(
                "its file is gone, or is a folder now (deleted or replaced: its own event says so)",
            ));
        };
        let age = wall_ns - entry.mtime_ns;
        if (0..settle_ns).contains(&age) {
            // Changed within the quiet period (a scan found it being written).
            let wait = Duration::from_nanos(u64::try_from(settle_ns - age).unwrap_or(0));
            return Some(Wait::Until(
                now + wait,
                "the file changed within the quiet period ([watch] settle_ms): still being written",
            ));
        }
        if entry.size == 0 && partial_sibling(path, world) {
            // A browser's placeholder while the download runs beside it.
            return Some(Wait::Until(
                now + self.settle.max(Duration::from_millis(200)),
                "it is empty, and a partial download (.part, .crdownload...) lies beside it: \
                 the download is still running",
            ));
        }
        None
    }

    /// Why the Delete held at `path` is not released now, if it is not.
    fn delete_waits(
        &self,
        path: &Path,
        hold: &Hold,
        now: Instant,
        world: &mut dyn World,
    ) -> Option<Wait> {
        if now >= hold.since + MAX_DELETE_HOLD {
            return None;
        }
        let parent = path.parent().unwrap_or(Path::new("/"));
        let busy = self
            .activity
            .get(parent)
            .map(|t| *t + self.delete_window())
            .filter(|until| *until > now);
        if let Some(until) = busy {
            // More is being deleted around it: perhaps its whole folder.
            return Some(Wait::Until(
                until,
                "more is being deleted in its folder: if the folder goes too, its one Delete \
                 covers this",
            ));
        }
        if world.entry(parent).ok().flatten().is_none() {
            // Its folder is gone too: that folder's Delete covers it.
            return Some(Wait::Until(
                now + self.delete_window(),
                "its folder is gone too: that folder's Delete covers it",
            ));
        }
        None
    }
}

/// What a due hold does instead of being released.
enum Wait {
    /// It waits until then, for the reason given (said in a debug line).
    Until(Instant, &'static str),
    /// It is given up, for the reason given.
    Drop(&'static str),
}

/// Whether a partial download of `path` lies beside it (`name.part`, `name.crdownload`...).
fn partial_sibling(path: &Path, world: &mut dyn World) -> bool {
    PARTIAL_SUFFIXES.iter().any(|suffix| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        world.entry(Path::new(&name)).ok().flatten().is_some()
    })
}
