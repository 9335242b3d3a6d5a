//! Traces of the rule core: with `SHAREHOOK_TRACE=PATH` (`%p` in it becomes the process id),
//! the engine writes one JSON line per input to the rules (a kernel event as they read it, a
//! tick of the clock, what a reconcile found), each answer the disk, the index and the
//! watches gave them, and each change they released. Paths are written under `/share0`,
//! `/share1`... (the shares in the configuration's order), times in nanoseconds from the
//! daemon's start, so a trace recorded by a real client's test replays anywhere: the unit
//! tests in `trace_tests.rs` run the recorded inputs through the rules with the recorded
//! answers and check that the same changes come out. Off, it costs one branch per input.

use std::cell::RefCell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::rules::{Change, Seen};
use crate::tree::{Entry, EntryKind};

pub struct Trace {
    out: RefCell<std::io::BufWriter<std::fs::File>>,
    start: Instant,
    roots: Vec<PathBuf>,
}

impl Trace {
    /// The trace `SHAREHOOK_TRACE` asks for, if it does (and can be made).
    pub fn from_env(roots: &[PathBuf], settle: Duration, start: Instant) -> Option<Trace> {
        let path = std::env::var("SHAREHOOK_TRACE").ok()?;
        let path = path.replace("%p", &std::process::id().to_string());
        let file = match std::fs::File::create(&path) {
            Ok(file) => file,
            Err(e) => {
                log::error!("cannot write the trace {path}: {e}");
                return None;
            }
        };
        log::warn!("writing a trace of the rules to {path} (SHAREHOOK_TRACE)");
        let trace = Trace {
            out: RefCell::new(std::io::BufWriter::new(file)),
            start,
            roots: roots.to_vec(),
        };
        trace.line(&json!({"shares": roots.len(), "settle_ms": settle.as_millis() as u64}));
        Some(trace)
    }

    fn line(&self, value: &Value) {
        let mut out = self.out.borrow_mut();
        let _ = writeln!(out, "{value}");
        let _ = out.flush();
    }

    /// `path` as the trace writes it: under `/shareN`.
    pub fn path(&self, path: &Path) -> String {
        for (i, root) in self.roots.iter().enumerate() {
            if let Ok(rest) = path.strip_prefix(root) {
                let rest = rest.to_string_lossy();
                return if rest.is_empty() {
                    format!("/share{i}")
                } else {
                    format!("/share{i}/{rest}")
                };
            }
        }
        path.to_string_lossy().into_owned()
    }

    /// Nanoseconds since the start: the rules compare deadlines to the nanosecond.
    fn ns(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.start).as_nanos() as u64
    }

    /// An input to the rules at `at`: `what` names it, `args` are its arguments.
    pub fn input(&self, at: Instant, what: &str, args: Value) {
        self.line(&json!({"t": self.ns(at), "in": what, "args": args}));
    }

    pub fn seen(&self, at: Instant, seen: &Seen) {
        let args = match seen {
            Seen::Created { path, is_dir } => json!(["created", self.path(path), is_dir, 0]),
            Seen::Written { path } => json!(["written", self.path(path), false, 0]),
            Seen::Closed { path } => json!(["closed", self.path(path), false, 0]),
            Seen::Deleted { path, is_dir } => json!(["deleted", self.path(path), is_dir, 0]),
            Seen::MovedFrom {
                path,
                cookie,
                is_dir,
            } => json!(["moved_from", self.path(path), is_dir, cookie]),
            Seen::MovedTo {
                path,
                cookie,
                is_dir,
            } => json!(["moved_to", self.path(path), is_dir, cookie]),
        };
        self.input(at, "seen", args);
    }

    /// An answer the rules got: to question `what` about `path`.
    pub fn answer(&self, what: &str, path: Option<&Path>, value: Value) {
        let path = path.map(|p| self.path(p));
        self.line(&json!({"a": what, "p": path, "v": value}));
    }

    /// A change the rules released.
    pub fn output(&self, change: &Change) {
        let value = match change {
            Change::Upload { path, data } => json!(["upload", self.path(path), data]),
            Change::Folder { path } => json!(["folder", self.path(path)]),
            Change::Delete { path } => json!(["delete", self.path(path)]),
            Change::Moved { from, to } => json!(["moved", self.path(from), self.path(to)]),
        };
        self.line(&json!({"out": value}));
    }
}

/// An entry as a trace writes it: `[kind, ino, size, mtime_ns, uid]`.
pub fn entry_json(e: &Entry) -> Value {
    let kind = match e.kind {
        EntryKind::File => "f",
        EntryKind::Dir => "d",
        EntryKind::Symlink => "l",
        EntryKind::Other => "o",
    };
    json!([kind, e.ino, e.size, e.mtime_ns, e.uid])
}

/// The entry a trace wrote with `entry_json`.
#[cfg(test)]
pub fn entry_of(v: &Value) -> Option<Entry> {
    let a = v.as_array()?;
    let kind = match a.first()?.as_str()? {
        "f" => EntryKind::File,
        "d" => EntryKind::Dir,
        "l" => EntryKind::Symlink,
        _ => EntryKind::Other,
    };
    Some(Entry {
        kind,
        ino: a.get(1)?.as_u64()?,
        size: a.get(2)?.as_u64()?,
        mtime_ns: a.get(3)?.as_i64()?,
        uid: u32::try_from(a.get(4)?.as_u64()?).ok()?,
    })
}

/// An answer that may be an error: the value, or `{"err": errno}`.
pub fn result_json<T>(r: &std::io::Result<T>, ok: impl Fn(&T) -> Value) -> Value {
    match r {
        Ok(v) => ok(v),
        Err(e) => json!({"err": e.raw_os_error().unwrap_or(0)}),
    }
}
