//! Turns the kernel's file-system hints into the operations a person did (pure: no I/O, the
//! time is passed in).
//!
//! Operations leave in the order their first hint arrived. A rename's first half
//! (`MovedFrom`) holds its place, and everything behind it, until its second half arrives
//! (a Rename or Move) or the pairing window passes (the entry left the share: a Delete),
//! the way Samba waits 100 ms for the second half of a rename.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::event::Operation;

/// How long the first half of a rename waits for its second half.
pub const PAIR_WINDOW: Duration = Duration::from_millis(100);

/// What an entry was when the hint was read (the watcher looks; it may be gone already).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Gone,
}

/// One thing the kernel said about one path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hint {
    Created {
        path: PathBuf,
        kind: Kind,
    },
    /// A file was closed after being written.
    Written {
        path: PathBuf,
    },
    Removed {
        path: PathBuf,
        dir: bool,
    },
    MovedFrom {
        path: PathBuf,
        cookie: u32,
    },
    MovedTo {
        path: PathBuf,
        cookie: u32,
        kind: Kind,
    },
}

/// An operation on absolute paths, before it is placed in a share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub op: Operation,
    pub path: PathBuf,
    pub source: Option<PathBuf>,
    pub is_dir: bool,
}

#[derive(Debug)]
enum Slot {
    Ready(Change),
    AwaitingPair {
        from: PathBuf,
        cookie: u32,
        deadline: Instant,
    },
}

#[derive(Debug, Default)]
pub struct Classifier {
    slots: VecDeque<Slot>,
}

impl Classifier {
    pub fn new() -> Classifier {
        Classifier::default()
    }

    pub fn push(&mut self, hint: Hint, now: Instant) {
        match hint {
            Hint::Created {
                path,
                kind: Kind::Dir,
            } => self.ready(Operation::CreateFolder, path, true),
            // A symbolic link is complete when made; a file is complete when closed.
            Hint::Created {
                path,
                kind: Kind::Symlink,
            } => self.ready(Operation::Upload, path, false),
            Hint::Created { .. } => {}
            Hint::Written { path } => self.ready(Operation::Upload, path, false),
            Hint::Removed { path, dir } => self.ready(Operation::Delete, path, dir),
            Hint::MovedFrom { path, cookie } => self.slots.push_back(Slot::AwaitingPair {
                from: path,
                cookie,
                deadline: now + PAIR_WINDOW,
            }),
            Hint::MovedTo { path, cookie, kind } => self.moved_to(path, cookie, kind),
        }
    }

    fn ready(&mut self, op: Operation, path: PathBuf, is_dir: bool) {
        self.slots.push_back(Slot::Ready(Change {
            op,
            path,
            source: None,
            is_dir,
        }));
    }

    fn moved_to(&mut self, path: PathBuf, cookie: u32, kind: Kind) {
        let is_dir = kind == Kind::Dir;
        let pending = self
            .slots
            .iter_mut()
            .find(|slot| matches!(slot, Slot::AwaitingPair { cookie: c, .. } if *c == cookie));
        match pending {
            Some(slot) => {
                let Slot::AwaitingPair { from, .. } = slot else {
                    unreachable!("the slot was matched as awaiting its pair")
                };
                let op = if from.parent() == path.parent() {
                    Operation::Rename
                } else {
                    Operation::Move
                };
                let source = Some(std::mem::take(from));
                *slot = Slot::Ready(Change {
                    op,
                    path,
                    source,
                    is_dir,
                });
            }
            // Moved in from outside every watched share: new content here.
            None if is_dir => self.ready(Operation::CreateFolder, path, true),
            None => self.ready(Operation::Upload, path, false),
        }
    }

    /// The operations that are settled, in order. A rename half whose window has passed at
    /// `now` becomes a Delete. Call it only once every hint that has arrived was pushed, so
    /// a window never closes on a second half that is already waiting to be read.
    pub fn drain(&mut self, now: Instant) -> Vec<Change> {
        let mut out = Vec::new();
        while let Some(slot) = self.slots.front() {
            match slot {
                Slot::Ready(_) => {}
                Slot::AwaitingPair { deadline, .. } if *deadline <= now => {}
                Slot::AwaitingPair { .. } => break,
            }
            match self.slots.pop_front() {
                Some(Slot::Ready(change)) => out.push(change),
                Some(Slot::AwaitingPair { from, .. }) => out.push(moved_out(from)),
                None => unreachable!("front() was Some"),
            }
        }
        out
    }

    /// Everything still held, settled now (at shutdown: an unpaired half is a Delete).
    pub fn flush(&mut self) -> Vec<Change> {
        self.slots
            .drain(..)
            .map(|slot| match slot {
                Slot::Ready(change) => change,
                Slot::AwaitingPair { from, .. } => moved_out(from),
            })
            .collect()
    }

    /// When `drain` may next have something to release without a new hint.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.slots.iter().find_map(|slot| match slot {
            Slot::AwaitingPair { deadline, .. } => Some(*deadline),
            Slot::Ready(_) => None,
        })
    }
}

/// The first half of a rename whose second half never came: moved out of every share.
fn moved_out(from: PathBuf) -> Change {
    Change {
        op: Operation::Delete,
        path: from,
        source: None,
        is_dir: false,
    }
}

/// A Change as `(operation, path, source)` text, for tests and logs.
pub fn describe(change: &Change) -> String {
    let show = |p: &Path| p.display().to_string();
    match &change.source {
        Some(src) => format!(
            "{} {} <- {}",
            change.op.v1_name(),
            show(&change.path),
            show(src)
        ),
        None => format!("{} {}", change.op.v1_name(), show(&change.path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A step of a scenario: a hint arriving, or time passing.
    enum Step {
        H(Hint),
        Wait(u64),
    }
    use Step::*;

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }
    fn created(s: &str, kind: Kind) -> Step {
        H(Hint::Created { path: p(s), kind })
    }
    fn written(s: &str) -> Step {
        H(Hint::Written { path: p(s) })
    }
    fn removed(s: &str, dir: bool) -> Step {
        H(Hint::Removed { path: p(s), dir })
    }
    fn from(s: &str, cookie: u32) -> Step {
        H(Hint::MovedFrom { path: p(s), cookie })
    }
    fn to(s: &str, cookie: u32, kind: Kind) -> Step {
        H(Hint::MovedTo {
            path: p(s),
            cookie,
            kind,
        })
    }

    /// Runs the steps, draining after each, and compares what left with `expected`.
    fn check(steps: Vec<Step>, expected: &[&str]) {
        let mut c = Classifier::new();
        let mut now = Instant::now();
        let mut out = Vec::new();
        for step in steps {
            match step {
                H(hint) => c.push(hint, now),
                Wait(ms) => now += Duration::from_millis(ms),
            }
            out.extend(c.drain(now));
        }
        let got: Vec<String> = out.iter().map(describe).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn a_file_written_and_closed_is_one_upload() {
        check(
            vec![created("/s/a", Kind::File), written("/s/a")],
            &["Upload /s/a"],
        );
    }

    #[test]
    fn a_file_created_but_not_yet_closed_is_nothing_yet() {
        check(vec![created("/s/a", Kind::File), Wait(5000)], &[]);
    }

    #[test]
    fn a_symlink_is_an_upload_when_made() {
        check(vec![created("/s/l", Kind::Symlink)], &["Upload /s/l"]);
    }

    #[test]
    fn a_folder_made_is_create_folder() {
        check(vec![created("/s/d", Kind::Dir)], &["Create Folder /s/d"]);
    }

    #[test]
    fn removals_are_deletes() {
        check(
            vec![removed("/s/a", false), removed("/s/d", true)],
            &["Delete /s/a", "Delete /s/d"],
        );
    }

    #[test]
    fn rename_within_a_folder_and_move_between_folders() {
        check(
            vec![
                from("/s/a", 1),
                to("/s/b", 1, Kind::File),
                from("/s/b", 2),
                to("/s/d/b", 2, Kind::File),
            ],
            &["Rename /s/b <- /s/a", "Move /s/d/b <- /s/b"],
        );
    }

    #[test]
    fn a_folder_move_is_one_event() {
        check(
            vec![from("/s/x", 9), to("/s/y/x", 9, Kind::Dir)],
            &["Move /s/y/x <- /s/x"],
        );
    }

    #[test]
    fn an_unpaired_first_half_waits_its_window_then_is_a_delete() {
        check(vec![from("/s/a", 1), Wait(99)], &[]);
        check(vec![from("/s/a", 1), Wait(100)], &["Delete /s/a"]);
    }

    #[test]
    fn an_unpaired_second_half_is_new_content() {
        check(
            vec![to("/s/in.txt", 4, Kind::File), to("/s/indir", 5, Kind::Dir)],
            &["Upload /s/in.txt", "Create Folder /s/indir"],
        );
    }

    #[test]
    fn later_operations_wait_behind_a_pending_rename_and_keep_order() {
        check(
            vec![
                from("/s/a", 1),
                written("/s/c"),
                to("/s/b", 1, Kind::File),
                written("/s/b"),
            ],
            &["Rename /s/b <- /s/a", "Upload /s/c", "Upload /s/b"],
        );
        check(
            vec![from("/s/a", 1), written("/s/c"), Wait(150)],
            &["Delete /s/a", "Upload /s/c"],
        );
    }

    #[test]
    fn pairs_match_by_cookie_when_interleaved() {
        check(
            vec![
                from("/s/a", 1),
                from("/s/b", 2),
                to("/s/b2", 2, Kind::File),
                to("/s/a2", 1, Kind::File),
            ],
            &["Rename /s/a2 <- /s/a", "Rename /s/b2 <- /s/b"],
        );
    }

    #[test]
    fn deadlines_and_flush() {
        let mut c = Classifier::new();
        let t0 = Instant::now();
        assert_eq!(c.next_deadline(), None);
        c.push(
            Hint::MovedFrom {
                path: p("/s/a"),
                cookie: 3,
            },
            t0,
        );
        c.push(Hint::Written { path: p("/s/b") }, t0);
        assert_eq!(c.next_deadline(), Some(t0 + PAIR_WINDOW));
        assert!(c.drain(t0).is_empty());
        let rest: Vec<String> = c.flush().iter().map(describe).collect();
        assert_eq!(rest, ["Delete /s/a", "Upload /s/b"]);
        assert_eq!(c.next_deadline(), None);
    }
}
