//! What the file servers already record of who did what: an input beside the kernel's events.
//! The disk stays the truth of *what* happened; the evidence says *who* and *from where*. The
//! engine asks here, as it reports a change, whether a record names the session that made it.
//!
//! Samba's `vfs_full_audit` log (`samba.rs`) is read from where it was left: the file is
//! followed through rotation (a new file at the path) and truncation, and the position reached
//! is the caller's to keep (the engine keeps it in the state, so that a restart resumes where
//! it stopped and no record is used twice). Records are kept for `KEEP` at most, and at most
//! `MAX_RECORDS` of them: evidence that matches no change is forgotten.
//!
//! Layer 2 (see `lib.rs`): uses `core`.

pub mod samba;

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::core::event::{Attribution, Operation, SharePath, Who};
use samba::{Act, Prefix, Reader, Record};

/// How long a record waits for the change it tells of.
pub const KEEP: Duration = Duration::from_secs(120);
/// The most records kept; the oldest go first.
pub const MAX_RECORDS: usize = 20_000;
/// The most read from the log at one time (the rest is read at once after it).
const READ_MAX: usize = 8 << 20;
/// How many of the last bytes read are kept to tell a file rewritten in place.
const TAIL: usize = 64;

/// Where reading a log stands: the file (device and inode) and the offset reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Position {
    pub dev: u64,
    pub ino: u64,
    pub offset: u64,
}

/// What kind of change a record can attribute, and where.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Write(PathBuf),
    Mkdir(PathBuf),
    Remove(PathBuf),
    Rename(PathBuf, PathBuf),
}

/// The evidence read so far, and the log it comes from.
pub struct Evidence {
    inner: Mutex<Inner>,
}

struct Inner {
    path: PathBuf,
    reader: Reader,
    position: Position,
    records: HashMap<Key, VecDeque<(Instant, Who)>>,
    /// Every record kept, oldest first, for forgetting them in order.
    order: VecDeque<(Instant, Key)>,
    /// What went wrong reading the log, said once until it reads again.
    trouble: Option<String>,
    /// When the last record was read.
    last_record: Option<Instant>,
    /// The last bytes read (at most `TAIL`): a file cut short and written again past where
    /// reading stood no longer holds them there.
    tail: Vec<u8>,
}

/// What `Evidence::status` says of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub path: PathBuf,
    pub records: u64,
    pub doubtful: u64,
    pub kept: usize,
    pub since_last: Option<Duration>,
    pub trouble: Option<String>,
}

impl Evidence {
    /// Reads the audit log at `path` with `prefix`, from `position` (where a former run
    /// stopped; the start of the file when it is another file now).
    pub fn samba(path: &Path, prefix: Prefix, position: Position) -> Evidence {
        Evidence {
            inner: Mutex::new(Inner {
                path: path.to_owned(),
                reader: Reader::new(prefix),
                position,
                records: HashMap::new(),
                order: VecDeque::new(),
                trouble: None,
                last_record: None,
                tail: Vec::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads what the log gained since the last call; returns where reading stands now, for
    /// the state.
    pub fn catch_up(&self) -> Position {
        let mut inner = self.lock();
        inner.catch_up();
        inner.position
    }

    /// Who made change `op` at `path` of the share whose folder is `root` (`source`: a move's
    /// or rename's former path), when a record says so. Uses the record up. Two records of
    /// different sessions for the same change attribute nothing.
    pub fn take(
        &self,
        root: &Path,
        op: Operation,
        path: &SharePath,
        source: Option<&SharePath>,
    ) -> Option<Who> {
        let abs = path.on(root);
        let key = match op {
            Operation::Upload => Key::Write(abs),
            Operation::CreateFolder => Key::Mkdir(abs),
            Operation::Delete => Key::Remove(abs),
            Operation::Move | Operation::Rename => Key::Rename(source?.on(root), abs),
        };
        let mut inner = self.lock();
        inner.forget_old(Instant::now());
        let found = inner.records.remove(&key)?;
        let newest = found.back()?.1.clone();
        // Sessions that disagree: nothing is said rather than the wrong one.
        found
            .iter()
            .all(|(_, w)| w.user == newest.user && w.address == newest.address)
            .then_some(newest)
    }

    pub fn status(&self) -> Status {
        let inner = self.lock();
        Status {
            path: inner.path.clone(),
            records: inner.reader.records,
            doubtful: inner.reader.doubtful,
            kept: inner.order.len(),
            since_last: inner.last_record.map(|t| t.elapsed()),
            trouble: inner.trouble.clone(),
        }
    }
}

impl Inner {
    fn catch_up(&mut self) {
        match self.read_more() {
            Ok(()) => {
                if self.trouble.take().is_some() {
                    log::info!(
                        "attribution: the Samba audit log {} is read again",
                        self.path.display()
                    );
                }
            }
            Err(e) => {
                let message = format!(
                    "attribution: cannot read the Samba audit log {}: {e} (sharehook runs as \
                     user {}; the file must be readable by it: see `sharehook setup samba`); \
                     changes are reported with their files' owners meanwhile",
                    crate::core::event::escape_controls(&self.path.to_string_lossy()),
                    current_user()
                );
                if self.trouble.as_deref() != Some(message.as_str()) {
                    log::warn!("{message}");
                    self.trouble = Some(message);
                }
            }
        }
    }

    fn read_more(&mut self) -> std::io::Result<()> {
        let mut file = File::open(&self.path)?;
        let meta = file.metadata()?;
        let same = meta.dev() == self.position.dev && meta.ino() == self.position.ino;
        let rewritten =
            same && meta.len() >= self.position.offset && !self.tail_still_there(&mut file)?;
        if !same || meta.len() < self.position.offset || rewritten {
            // Another file at the path (rotated), or this one cut short (truncated): read it
            // from its start; a record held for its next line is given up.
            if self.position != Position::default() {
                log::info!(
                    "attribution: the Samba audit log {} was {}; reading it from its start",
                    self.path.display(),
                    if same { "cut short" } else { "replaced" }
                );
            }
            self.reader.reset();
            self.tail.clear();
            self.position = Position {
                dev: meta.dev(),
                ino: meta.ino(),
                offset: 0,
            };
        }
        file.seek(SeekFrom::Start(self.position.offset))?;
        // In pieces of at most READ_MAX, so that a log that grew much while nothing was read
        // is read in bounded memory.
        let mut buf = Vec::new();
        loop {
            buf.clear();
            (&mut file).take(READ_MAX as u64).read_to_end(&mut buf)?;
            self.position.offset += buf.len() as u64;
            let keep_from = buf.len().saturating_sub(TAIL);
            if buf.len() >= TAIL {
                self.tail.clear();
            }
            self.tail.extend_from_slice(&buf[keep_from..]);
            let excess = self.tail.len().saturating_sub(TAIL);
            self.tail.drain(..excess);
            let now = Instant::now();
            let mut found = Vec::new();
            self.reader.feed(&buf, &mut |r| found.push(r));
            let done = buf.len() < READ_MAX;
            if done {
                self.reader.end_of_data(&mut |r| found.push(r));
            }
            for r in found {
                self.keep(r, now);
            }
            if done {
                return Ok(());
            }
        }
    }

    /// Whether the bytes before where reading stands are still the last ones read (unknown
    /// after a restart: taken as yes).
    fn tail_still_there(&self, file: &mut File) -> std::io::Result<bool> {
        if self.tail.is_empty() {
            return Ok(true);
        }
        let start = self.position.offset - self.tail.len() as u64;
        file.seek(SeekFrom::Start(start))?;
        let mut now = vec![0; self.tail.len()];
        file.read_exact(&mut now)?;
        Ok(now == self.tail)
    }

    fn keep(&mut self, r: Record, now: Instant) {
        self.last_record = Some(now);
        let key = match r.act {
            Act::Write(p) => Key::Write(p),
            Act::Mkdir(p) => Key::Mkdir(p),
            Act::Remove(p) => Key::Remove(p),
            Act::Rename(a, b) => Key::Rename(a, b),
            Act::Read(_) => return,
        };
        let who = Who {
            user: r.user,
            protocol: "smb".to_owned(),
            address: r.address,
            how: Attribution::Audit,
        };
        let list = self.records.entry(key.clone()).or_default();
        // A file written many times by one session is one record.
        if list.back().is_some_and(|(_, w)| *w == who) {
            list.back_mut().expect("not empty").0 = now;
        } else {
            list.push_back((now, who));
        }
        self.order.push_back((now, key));
        while self.order.len() > MAX_RECORDS {
            self.drop_oldest();
        }
    }

    fn forget_old(&mut self, now: Instant) {
        while self
            .order
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > KEEP)
        {
            self.drop_oldest();
        }
    }

    fn drop_oldest(&mut self) {
        let Some((t, key)) = self.order.pop_front() else {
            return;
        };
        if let Some(list) = self.records.get_mut(&key) {
            while list.front().is_some_and(|(at, _)| *at <= t) {
                list.pop_front();
            }
            if list.is_empty() {
                self.records.remove(&key);
            }
        }
    }
}

/// The name of the user this process runs as (its uid when it has none).
fn current_user() -> String {
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    crate::tree::owner::Owners::new().name(uid)
}

#[cfg(test)]
mod tests;
