//! The traces of real clients (`tests/traces/`, recorded with `SHAREHOOK_TRACE` while the
//! black-box tests of Samba, rsync, the editors' save patterns, tree copies and a queue
//! overflow ran), replayed through the rules: the recorded inputs at their recorded times,
//! the recorded answers of the disk, the index and the watches, no sleeps and no folders.
//! Each must release what the real daemon released, and the table says what that was in a
//! user's words, so a change of the rules that changes what a user sees fails here.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::rules::{Change, PAIR_WINDOW, Rules, Seen, World};
use super::trace::entry_of;
use crate::tree::Entry;

/// The answers of a trace, given back in the order the rules asked.
struct Replay {
    answers: RefCell<VecDeque<(String, Option<String>, Value)>>,
    /// The input being replayed, for messages.
    input: String,
}

impl Replay {
    fn next(&self, what: &str, path: Option<&Path>) -> Value {
        let path = path.map(|p| p.to_string_lossy().into_owned());
        let Some((asked, at, value)) = self.answers.borrow_mut().pop_front() else {
            panic!(
                "replaying {}: the rules asked {what} {path:?}, and the trace has no answer",
                self.input
            );
        };
        assert!(
            asked == what && at == path,
            "replaying {}: the rules asked {what} {path:?}, the trace answered {asked} {at:?}",
            self.input
        );
        value
    }
}

fn io_result<T>(v: &Value, ok: impl Fn(&Value) -> T) -> io::Result<T> {
    match v.get("err") {
        Some(errno) => Err(io::Error::from_raw_os_error(
            errno.as_i64().unwrap_or(0) as i32
        )),
        None => Ok(ok(v)),
    }
}

impl World for Replay {
    fn entry(&mut self, path: &Path) -> io::Result<Option<Entry>> {
        let v = self.next("entry", Some(path));
        io_result(&v, entry_of)
    }
    fn unreported(&mut self, path: &Path) -> bool {
        self.next("unreported", Some(path))
            .as_bool()
            .unwrap_or(false)
    }
    fn is_empty_dir(&mut self, path: &Path) -> bool {
        self.next("is_empty_dir", Some(path))
            .as_bool()
            .unwrap_or(false)
    }
    fn list(&mut self, folder: &Path) -> io::Result<Vec<(Vec<u8>, Entry)>> {
        let v = self.next("list", Some(folder));
        io_result(&v, |v| {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|pair| {
                    let name = pair.get(0)?.as_str()?.as_bytes().to_vec();
                    Some((name, entry_of(pair.get(1)?)?))
                })
                .collect()
        })
    }
    fn known(&mut self, path: &Path) -> bool {
        self.next("known", Some(path)).as_bool().unwrap_or(false)
    }
    fn unwatched(&self, folder: &Path) -> bool {
        self.next("unwatched", Some(folder))
            .as_bool()
            .unwrap_or(false)
    }
    fn moved(&mut self, _from: &Path, _to: &Path) {}
    fn unwatch(&mut self, _path: &Path) {}
    fn cannot_read(&mut self, _path: &Path, _e: &io::Error) {}
    fn wall_ns(&self) -> i64 {
        self.next("wall_ns", None).as_i64().unwrap_or(0)
    }
}

/// A change as the table writes it.
fn said(change: &Change) -> String {
    match change {
        Change::Upload { path, data: true } => format!("upload {}", path.display()),
        Change::Upload { path, data: false } => format!("touch {}", path.display()),
        Change::Folder { path } => format!("folder {}", path.display()),
        Change::Delete { path } => format!("delete {}", path.display()),
        Change::Moved { from, to } => format!("move {} {}", from.display(), to.display()),
    }
}

fn out_said(v: &Value) -> String {
    let a = v.as_array().expect("an output is an array");
    let s = |i: usize| a[i].as_str().unwrap_or_default().to_owned();
    match s(0).as_str() {
        "upload" if a[2].as_bool() == Some(false) => format!("touch {}", s(1)),
        "upload" => format!("upload {}", s(1)),
        "folder" => format!("folder {}", s(1)),
        "delete" => format!("delete {}", s(1)),
        _ => format!("move {} {}", s(1), s(2)),
    }
}

fn path_arg(args: &Value, i: usize) -> PathBuf {
    PathBuf::from(args[i].as_str().expect("a path"))
}

/// Replays `trace`; returns what the rules released now and what the daemon released then.
fn replay(trace: &str) -> (Vec<String>, Vec<String>) {
    let lines: Vec<Value> = trace
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("a trace line is JSON"))
        .collect();
    let head = &lines[0];
    let shares = head["shares"].as_u64().expect("the head says the shares") as usize;
    let settle = Duration::from_millis(head["settle_ms"].as_u64().expect("and the settle time"));
    let roots: Vec<PathBuf> = (0..shares)
        .map(|i| PathBuf::from(format!("/share{i}")))
        .collect();
    let base = Instant::now();
    let mut rules = Rules::new(roots, settle, base);
    let (mut released, mut recorded) = (Vec::new(), Vec::new());
    let mut i = 1;
    while i < lines.len() {
        let line = &lines[i];
        i += 1;
        if let Some(out) = line.get("out") {
            recorded.push(out_said(out));
            continue;
        }
        let what = line["in"].as_str().expect("an input or an output");
        let args = &line["args"];
        let now = base + Duration::from_nanos(line["t"].as_u64().expect("its time"));
        let mut answers = VecDeque::new();
        while let Some(a) = lines.get(i).and_then(|l| l.get("a")) {
            let l = &lines[i];
            let path = l["p"].as_str().map(ToOwned::to_owned);
            answers.push_back((
                a.as_str().unwrap_or_default().to_owned(),
                path,
                l["v"].clone(),
            ));
            i += 1;
        }
        let mut world = Replay {
            answers: RefCell::new(answers),
            input: format!("line {i}: {line}"),
        };
        match what {
            "seen" => {
                let path = path_arg(args, 1);
                let is_dir = args[2].as_bool().unwrap_or(false);
                let cookie = args[3].as_u64().unwrap_or(0) as u32;
                let seen = match args[0].as_str().unwrap_or_default() {
                    "created" => Seen::Created { path, is_dir },
                    "written" => Seen::Written { path },
                    "closed" => Seen::Closed { path },
                    "deleted" => Seen::Deleted { path, is_dir },
                    "moved_from" => Seen::MovedFrom {
                        path,
                        cookie,
                        is_dir,
                    },
                    _ => Seen::MovedTo {
                        path,
                        cookie,
                        is_dir,
                    },
                };
                rules.seen(seen, now, &mut world);
            }
            "expire" => {
                rules.drained_at = now;
                rules.expire_renames(now, &mut world);
                rules.gone.retain(|(_, until)| *until > now);
            }
            "release" => rules.release_due(now, &mut world),
            "forget_renames" => rules.forget_renames(),
            "forget" => rules.forget(),
            "gone" => rules.gone.push((path_arg(args, 0), now + PAIR_WINDOW)),
            "found_moved" => rules.found_moved(
                path_arg(args, 0),
                path_arg(args, 1),
                args[2].as_bool().unwrap_or(false),
                &mut world,
            ),
            "found_deleted" => rules.found_deleted(path_arg(args, 0), &mut world),
            "new_content" => rules.new_content(
                path_arg(args, 0),
                args[1].as_bool().unwrap_or(false),
                now,
                &mut world,
            ),
            "hold_upload" => {
                rules.hold_upload(path_arg(args, 0), args[1].as_bool().unwrap_or(true), now)
            }
            "upload_found_gone" => {
                rules.upload_found_gone(&path_arg(args, 0), args[1].as_bool().unwrap_or(true), now)
            }
            other => panic!("line {i}: an input the replay does not know: {other}"),
        }
        let left = world.answers.borrow().len();
        assert_eq!(
            left, 0,
            "replaying {}: {left} answers not asked for",
            world.input
        );
        released.extend(std::mem::take(&mut rules.ready).iter().map(said));
    }
    (released, recorded)
}

/// Each trace, and what its client did in a user's words (in the order released). The
/// `end-N` uploads are the markers the black-box tests write after each step. `overflow` is
/// twelve files and a folder with a file made while the daemon was stopped (SIGSTOP) with a
/// kernel queue of 16 events: the overflow's rescan reports each once.
const TRACES: &[(&str, &[&str])] = &[
    (
        "smbclient.trace",
        &[
            "upload /share0/a.txt",
            "upload /share0/end-1",
            "folder /share0/docs",
            "upload /share0/end-2",
            "move /share0/a.txt /share0/b.txt",
            "upload /share0/end-3",
            "move /share0/b.txt /share0/docs/b.txt",
            "upload /share0/end-4",
            "delete /share0/docs/b.txt",
            "upload /share0/end-5",
            "folder /share0/tree",
            "folder /share0/tree/sub",
            "upload /share0/tree/sub/x.txt",
            "upload /share0/tree/y.txt",
            "upload /share0/end-6",
            "delete /share0/tree",
            "upload /share0/end-7",
        ],
    ),
    (
        "rsync.trace",
        &[
            "upload /share0/report.pdf",
            "upload /share0/end-1",
            "upload /share0/inplace.bin",
            "upload /share0/end-2",
            "upload /share0/report.pdf",
            "upload /share0/end-3",
        ],
    ),
    (
        "save-patterns.trace",
        &[
            "upload /share0/book.xlsx",
            "upload /share0/doc.docx",
            "upload /share0/notes.txt",
            "upload /share0/end-1",
            "upload /share0/book.xlsx",
            "upload /share0/end-2",
            "upload /share0/doc.docx",
            "upload /share0/end-3",
            "upload /share0/notes.txt",
            "upload /share0/end-4",
            "upload /share0/movie.zip",
            "upload /share0/end-5",
            "upload /share0/setup.exe",
            "upload /share0/end-6",
            "upload /share0/photo.jpg",
            "upload /share0/end-7",
            "folder /share0/Reports",
            "upload /share0/end-8",
            "upload /share0/log.txt",
            "upload /share0/end-9",
            "touch /share0/log.txt",
            "upload /share0/end-10",
            "upload /share0/end-11",
            "delete /share0/photo.jpg",
        ],
    ),
    (
        "tree-copies.trace",
        &[
            "folder /share0/copied",
            "upload /share0/copied/1",
            "folder /share0/copied/a",
            "folder /share0/copied/d",
            "upload /share0/copied/d/6",
            "upload /share0/copied/a/2",
            "folder /share0/copied/a/b",
            "upload /share0/copied/a/b/3",
            "folder /share0/copied/a/b/c",
            "upload /share0/copied/a/b/c/4",
            "upload /share0/copied/a/b/c/5",
            "upload /share0/end-1",
            "folder /share0/x",
            "folder /share0/x/t",
            "folder /share0/x/t/a",
            "upload /share0/x/t/a/2",
            "folder /share0/x/t/a/b",
            "upload /share0/x/t/a/b/3",
            "folder /share0/x/t/a/b/c",
            "upload /share0/x/t/a/b/c/4",
            "upload /share0/x/t/a/b/c/5",
            "folder /share0/x/t/d",
            "upload /share0/x/t/d/6",
            "upload /share0/x/t/1",
            "upload /share0/end-2",
            "delete /share0/copied",
            "delete /share0/x",
            "upload /share0/end-3",
        ],
    ),
    (
        "moves.trace",
        &[
            "folder /share0/album",
            "folder /share0/album/2024",
            "upload /share0/album/a.jpg",
            "upload /share0/album/2024/b.jpg",
            "upload /share0/end-1",
            "folder /share0/photos",
            "upload /share0/end-2",
            "move /share0/album /share0/photos/album",
            "upload /share0/end-3",
            "upload /share0/photos/album/2024/c.jpg",
            "upload /share0/end-4",
            "upload /share0/end-5",
            "delete /share0/photos/album",
        ],
    ),
    (
        "overflow.trace",
        &[
            "folder /share0/d",
            "upload /share0/d/g",
            "upload /share0/f1",
            "upload /share0/f10",
            "upload /share0/f11",
            "upload /share0/f12",
            "upload /share0/f2",
            "upload /share0/f3",
            "upload /share0/f4",
            "upload /share0/f5",
            "upload /share0/f6",
            "upload /share0/f7",
            "upload /share0/f8",
            "upload /share0/f9",
        ],
    ),
];

#[test]
fn real_clients_traces_replay_to_what_the_daemon_released() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/traces");
    let mut found = 0;
    for (name, expected) in TRACES {
        let text = std::fs::read_to_string(dir.join(name))
            .unwrap_or_else(|e| panic!("cannot read the trace {name}: {e}"));
        let (released, recorded) = replay(&text);
        assert_eq!(
            released, recorded,
            "{name}: the replay differs from the recording"
        );
        assert_eq!(released, *expected, "{name}: not what the client did");
        found += 1;
    }
    let on_disk = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "trace"))
            })
            .count()
        })
        .unwrap_or(0);
    assert_eq!(
        found,
        on_disk,
        "every trace in {} is in the table",
        dir.display()
    );
}
