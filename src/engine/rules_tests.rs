//! The rules as tables: each line is a script of what a client did to a share, and what the
//! rules made of it once the index (a model of the gate) took it. The disk, the index and the
//! clock are models: nothing sleeps and no folder is touched.
//!
//! A script is steps separated by `;`:
//! - `have P` / `have D/`: a file or folder there before (on the disk and in the index);
//! - `mkdir D`, `new F` (made, not closed), `write F`, `close F`, `save F` (made if new,
//!   written, closed), `rm P` (a folder with what it holds, deepest first);
//! - `mv A B` (both halves of a rename), `out A` (moved out of every share), `in F`,
//!   `indir D` (moved in from elsewhere; a folder with two files);
//! - `unwatched D` (a folder past the watch limit), `overflow` (the kernel's queue
//!   overflowed), `wait MS`.
//!
//! Names with spaces are written in double quotes. After the last step the clock runs until
//! nothing is held.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::rules::{Change, Rules, Seen, World};
use crate::core::event::SharePath;
use crate::core::ignore::Ignore;
use crate::tree::{Entry, EntryKind};

const ROOT: &str = "/share";
const SETTLE: Duration = Duration::from_secs(1);

/// The disk and the index, as the rules may ask of them.
struct Model {
    disk: BTreeMap<PathBuf, Entry>,
    index: BTreeSet<PathBuf>,
    unwatched: BTreeSet<PathBuf>,
    wall_ns: i64,
    next_ino: u64,
    ignore: Ignore,
}

impl Model {
    fn children(&self, folder: &Path) -> Vec<PathBuf> {
        self.disk
            .keys()
            .filter(|p| p.parent() == Some(folder))
            .cloned()
            .collect()
    }

    fn below(set: &BTreeSet<PathBuf>, top: &Path) -> Vec<PathBuf> {
        set.iter().filter(|p| p.starts_with(top)).cloned().collect()
    }

    fn entry_of(&mut self, kind: EntryKind, size: u64) -> Entry {
        self.next_ino += 1;
        Entry {
            kind,
            ino: self.next_ino,
            size,
            mtime_ns: self.wall_ns,
            uid: 0,
        }
    }
}

impl World for Model {
    fn entry(&mut self, path: &Path) -> io::Result<Option<Entry>> {
        Ok(self.disk.get(path).copied())
    }

    fn unreported(&mut self, _path: &Path) -> bool {
        false
    }

    fn is_empty_dir(&mut self, path: &Path) -> bool {
        self.children(path).is_empty()
    }

    fn list(&mut self, folder: &Path) -> io::Result<Vec<(Vec<u8>, Entry)>> {
        let mut out: Vec<(Vec<u8>, Entry)> = self
            .children(folder)
            .into_iter()
            .map(|p| {
                let e = self.disk[&p];
                (p.file_name().unwrap().as_encoded_bytes().to_vec(), e)
            })
            .filter(|(n, e)| !self.ignore.name(n, e.is_dir()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    fn known(&mut self, path: &Path) -> bool {
        self.index.contains(path)
    }

    fn unwatched(&self, folder: &Path) -> bool {
        self.unwatched.contains(folder)
    }

    fn moved(&mut self, _from: &Path, _to: &Path) {}

    fn unwatch(&mut self, _path: &Path) {}

    fn cannot_read(&mut self, _path: &Path, _e: &io::Error) {}

    fn wall_ns(&self) -> i64 {
        self.wall_ns
    }
}

/// One script's run: the model, the rules, the clock, and what came out.
struct Run {
    model: Model,
    rules: Rules,
    now: Instant,
    cookie: u32,
    out: Vec<String>,
}

impl Run {
    fn new() -> Run {
        let now = Instant::now();
        let mut run = Run {
            model: Model {
                disk: BTreeMap::new(),
                index: BTreeSet::new(),
                unwatched: BTreeSet::new(),
                wall_ns: 1_700_000_000_000_000_000,
                next_ino: 0,
                ignore: Ignore::new(true, &[]).unwrap(),
            },
            rules: Rules::new(vec![PathBuf::from(ROOT)], SETTLE, now),
            now,
            cookie: 0,
            out: Vec::new(),
        };
        run.make("", EntryKind::Dir);
        run
    }

    fn abs(name: &str) -> PathBuf {
        match name.trim_end_matches('/') {
            "" => PathBuf::from(ROOT),
            name => Path::new(ROOT).join(name),
        }
    }

    /// What the engine does with a kernel event: ignored names dropped, then the rules.
    fn kernel(&mut self, seen: Seen) {
        let (path, is_dir) = match &seen {
            Seen::Created { path, is_dir }
            | Seen::Deleted { path, is_dir }
            | Seen::MovedFrom { path, is_dir, .. }
            | Seen::MovedTo { path, is_dir, .. } => (path.clone(), *is_dir),
            Seen::Written { path } | Seen::Closed { path } => (path.clone(), false),
        };
        let sp = SharePath::within(Path::new(ROOT), &path).unwrap();
        if self.model.ignore.path(sp.as_bytes(), is_dir) {
            return;
        }
        self.rules.seen(seen, self.now, &mut self.model);
        self.turn();
    }

    /// The end of a turn of the engine's loop: renames past their window, holds due, commit.
    fn turn(&mut self) {
        self.rules.drained_at = self.now;
        self.rules.expire_renames(self.now, &mut self.model);
        self.rules.release_due(self.now, &mut self.model);
        self.commit();
    }

    fn wait(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let next = self.rules.next_deadline().filter(|at| *at <= end);
            let to = next.unwrap_or(end).max(self.now);
            self.model.wall_ns += i64::try_from((to - self.now).as_nanos()).unwrap();
            self.now = to;
            self.turn();
            if next.is_none() {
                return;
            }
        }
    }

    /// The gate, as a model: the index takes each change that is news.
    fn commit(&mut self) {
        for change in std::mem::take(&mut self.rules.ready) {
            let index = &mut self.model.index;
            let parent_known = |index: &BTreeSet<PathBuf>, p: &Path| {
                let parent = p.parent().unwrap();
                parent == Path::new(ROOT) || index.contains(parent)
            };
            let shown = |p: &Path| format!("/{}", p.strip_prefix(ROOT).unwrap().display());
            if !parent_known(index, change.path()) {
                self.out
                    .push(format!("outside the index: {}", shown(change.path())));
            }
            match &change {
                Change::Upload { path, data } => {
                    let is_file = self.model.disk.get(path).is_some_and(|e| !e.is_dir());
                    let known = index.contains(path);
                    if is_file && (*data || !known) {
                        index.insert(path.clone());
                        self.out.push(format!("Upload {}", shown(path)));
                    }
                }
                Change::Folder { path } => {
                    let is_dir = self.model.disk.get(path).is_some_and(Entry::is_dir);
                    if is_dir && index.insert(path.clone()) {
                        self.out.push(format!("Create Folder {}", shown(path)));
                    }
                }
                Change::Delete { path } => {
                    if index.contains(path) {
                        for p in Model::below(index, path) {
                            index.remove(&p);
                        }
                        self.out.push(format!("Delete {}", shown(path)));
                    }
                }
                Change::Moved { from, to } => {
                    if index.contains(from) {
                        for p in Model::below(index, from) {
                            index.remove(&p);
                            index.insert(crate::tree::rebase(&p, from, to));
                        }
                        let op = if from.parent() == to.parent() {
                            "Rename"
                        } else {
                            "Move"
                        };
                        self.out
                            .push(format!("{op} {} from {}", shown(to), shown(from)));
                    } else if self.model.disk.contains_key(to) {
                        index.insert(to.clone());
                        self.out.push(format!("Upload {}", shown(to)));
                    }
                }
            }
        }
        for folder in std::mem::take(&mut self.rules.rescan_folders) {
            self.out.push(format!(
                "reconcile /{}",
                folder.strip_prefix(ROOT).unwrap().display()
            ));
        }
    }

    fn make(&mut self, name: &str, kind: EntryKind) -> PathBuf {
        let path = Run::abs(name);
        let e = self.model.entry_of(kind, 0);
        self.model.disk.insert(path.clone(), e);
        path
    }

    fn write(&mut self, path: &Path) {
        let wall = self.model.wall_ns;
        let e = self.model.disk.get_mut(path).expect("written files exist");
        e.size += 10;
        e.mtime_ns = wall;
    }

    fn step(&mut self, verb: &str, args: &[String]) {
        let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or_default();
        match verb {
            "have" => {
                let kind = if arg(0).ends_with('/') {
                    EntryKind::Dir
                } else {
                    EntryKind::File
                };
                let path = self.make(arg(0), kind);
                self.model.index.insert(path);
            }
            "mkdir" => {
                let path = self.make(arg(0), EntryKind::Dir);
                self.kernel(Seen::Created { path, is_dir: true });
            }
            "new" => {
                let path = self.make(arg(0), EntryKind::File);
                self.kernel(Seen::Created {
                    path,
                    is_dir: false,
                });
            }
            "write" => {
                let path = Run::abs(arg(0));
                self.write(&path);
                self.kernel(Seen::Written { path });
            }
            "close" => self.kernel(Seen::Closed {
                path: Run::abs(arg(0)),
            }),
            "save" => {
                if !self.model.disk.contains_key(&Run::abs(arg(0))) {
                    self.step("new", args);
                }
                self.step("write", args);
                self.step("close", args);
            }
            "rm" => {
                let top = Run::abs(arg(0));
                let mut gone: Vec<PathBuf> = self
                    .model
                    .disk
                    .keys()
                    .filter(|p| p.starts_with(&top))
                    .cloned()
                    .collect();
                // Deepest first, as `rm -r` and every client deletes.
                gone.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
                for path in gone {
                    let is_dir = self.model.disk.remove(&path).unwrap().is_dir();
                    self.kernel(Seen::Deleted { path, is_dir });
                }
            }
            "mv" | "out" => {
                let from = Run::abs(arg(0));
                let is_dir = self.model.disk[&from].is_dir();
                let moved: Vec<(PathBuf, Entry)> = self
                    .model
                    .disk
                    .iter()
                    .filter(|(p, _)| p.starts_with(&from))
                    .map(|(p, e)| (p.clone(), *e))
                    .collect();
                for (p, _) in &moved {
                    self.model.disk.remove(p);
                }
                self.cookie += 1;
                let cookie = self.cookie;
                self.kernel(Seen::MovedFrom {
                    path: from.clone(),
                    cookie,
                    is_dir,
                });
                if verb == "mv" {
                    let to = Run::abs(arg(1));
                    for (p, e) in moved {
                        self.model
                            .disk
                            .insert(crate::tree::rebase(&p, &from, &to), e);
                    }
                    self.kernel(Seen::MovedTo {
                        path: to,
                        cookie,
                        is_dir,
                    });
                }
            }
            "in" => {
                let path = self.make(arg(0), EntryKind::File);
                self.write(&path);
                self.kernel(Seen::MovedTo {
                    path,
                    cookie: 0,
                    is_dir: false,
                });
            }
            "indir" => {
                let path = self.make(arg(0), EntryKind::Dir);
                for f in ["a", "b"] {
                    let file = self.make(&format!("{}/{f}", arg(0)), EntryKind::File);
                    self.write(&file);
                }
                self.kernel(Seen::MovedTo {
                    path,
                    cookie: 0,
                    is_dir: true,
                });
            }
            "unwatched" => {
                self.model.unwatched.insert(Run::abs(arg(0)));
            }
            "overflow" => {
                self.rules.forget_renames();
                self.out.push("reconcile everything".into());
            }
            "wait" => self.wait(Duration::from_millis(arg(0).parse().unwrap())),
            other => panic!("no step {other:?}"),
        }
    }

    fn script(script: &str) -> Vec<String> {
        let mut run = Run::new();
        for step in script.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            let words = words(step);
            run.step(&words[0], &words[1..]);
        }
        run.wait(Duration::from_secs(120));
        assert_eq!(run.rules.holds.len(), 0, "{script}: still held");
        run.out
    }
}

/// A step's words; double quotes keep spaces in a name.
fn words(step: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in step.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

#[test]
fn the_rules_as_a_table() {
    #[rustfmt::skip]
    let table: &[(&str, &str, &[&str])] = &[
        ("a file saved", "save a.txt", &["Upload /a.txt"]),
        ("written again within settle: one Upload", "save a; wait 500; write a; close a", &["Upload /a"]),
        ("written again after settle: two", "save a; wait 1500; write a; close a", &["Upload /a", "Upload /a"]),
        ("made but never closed", "new a", &[]),
        ("closed without a write: no news for a known file", "have a; close a", &[]),
        ("deleted", "have a; rm a", &["Delete /a"]),
        ("deleted then saved again (gedit, Excel): one Upload", "have a; rm a; save a", &["Upload /a"]),
        ("deleted, made again, written after the delete's window: one Upload", "have a; rm a; new a; wait 1500; write a; close a", &["Upload /a"]),
        ("vim: renamed to a backup, written anew, the backup deleted", "have a.txt; mv a.txt a.txt~; save a.txt; rm a.txt~", &["Upload /a.txt"]),
        ("Word: a temp written, the old file renamed away, the temp renamed into place",
         "have r.docx; save ~WRD0001.tmp; mv r.docx ~WRL0002.tmp; mv ~WRD0001.tmp r.docx; rm ~WRL0002.tmp", &["Upload /r.docx"]),
        ("rsync: a hidden temp renamed into place", "save .a.Xy12Zq; mv .a.Xy12Zq a", &["Upload /a"]),
        ("a known file renamed", "have a; mv a b", &["Rename /b from /a"]),
        ("a known file moved to a folder", "have a; have d/; mv a d/a", &["Move /d/a from /a"]),
        ("renamed twice", "have a; mv a b; mv b c", &["Rename /b from /a", "Rename /c from /b"]),
        ("a new file renamed before its quiet period ends", "save draft; mv draft final", &["Upload /final"]),
        ("a new file saved over a known one by a rename", "have a; save b; mv b a", &["Upload /a"]),
        ("a placeholder folder named at once", "mkdir \"New folder\"; wait 2000; mv \"New folder\" Reports", &["Create Folder /Reports"]),
        ("a placeholder folder left empty is announced after 30 s", "mkdir \"New folder\"", &["Create Folder /New folder"]),
        ("a folder and its files: parents first", "mkdir d; save d/a; save d/b", &["Create Folder /d", "Upload /d/a", "Upload /d/b"]),
        ("a new folder renamed with what it holds", "mkdir d; save d/a; mv d e", &["Create Folder /e", "Upload /e/a"]),
        ("a tree deleted: one Delete", "have d/; have d/a; have d/e/; have d/e/b; rm d", &["Delete /d"]),
        ("moved out of every share", "have a; out a", &["Delete /a"]),
        ("moved in from outside", "in a", &["Upload /a"]),
        ("a folder moved in with what it holds", "indir d", &["Create Folder /d", "Upload /d/a", "Upload /d/b"]),
        ("a browser download: a placeholder, the .part renamed over it",
         "new f.zip; close f.zip; save f.zip.part; wait 3000; write f.zip.part; close f.zip.part; rm f.zip; mv f.zip.part f.zip",
         &["Upload /f.zip"]),
        ("an overflow drops the first halves: the reconcile places them", "have a; out a; overflow", &["reconcile everything"]),
        ("a known folder renamed without a watch is read at its new place", "have d/; unwatched d; mv d e", &["Rename /e from /d", "reconcile /e"]),
    ];
    let mut failed = Vec::new();
    for (what, script, want) in table {
        let got = Run::script(script);
        if got != *want {
            failed.push(format!(
                "{what}\n  script: {script}\n  want:   {want:?}\n  got:    {got:?}"
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} lines differ:\n{}",
        failed.len(),
        table.len(),
        failed.join("\n")
    );
}
