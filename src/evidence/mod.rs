//! What the file servers already record of who did what: an input beside the kernel's events.
//! The disk stays the truth of *what* happened; the evidence says *who* and *from where*. The
//! engine asks here, as it reports a change, whether a record names the session that made it,
//! and takes the reads of whole files that sessions made (its Download events).
//!
//! Two logs are read: Samba's `vfs_full_audit` log (`samba.rs`) and OpenSSH's SFTP server log
//! as syslog writes it (`sftp.rs`). Each is followed from where it was left (`follow.rs`):
//! through rotation and truncation, and the position reached is the caller's to keep (the
//! engine keeps it in the state, so that a restart resumes where it stopped and no record is
//! used twice). Records are kept for `KEEP` at most, and at most `MAX_RECORDS` of them:
//! evidence that matches no change is forgotten.
//!
//! Layer 2 (see `lib.rs`): uses `core`.

pub mod fanotify;
pub mod follow;
pub mod journal;
pub mod samba;
pub mod sftp;

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::core::event::{Attribution, Operation, SharePath, Who};
pub use follow::Position;
use follow::{Follow, Restart, Step};

/// How long a record waits for the change it tells of.
pub const KEEP: Duration = Duration::from_secs(120);
/// The most records kept; the oldest go first.
pub const MAX_RECORDS: usize = 20_000;
/// A file a Samba session read from and did not close is taken as read whole this long after
/// its last read (clients keep handles open a while).
pub const READ_IDLE: Duration = Duration::from_secs(20);
/// The most files being read at once that are followed; past it, the oldest is taken as done.
pub const MAX_OPEN_READS: usize = 4096;
/// The most reads waiting for the engine to take them; past it, the oldest are dropped.
const MAX_READS: usize = 20_000;

/// What one record says a session did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub user: String,
    pub address: String,
    pub act: Act,
}

/// The operations sharehook reads, with their absolute paths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Act {
    /// A file opened for writing, or created.
    Write(PathBuf),
    /// A folder made.
    Mkdir(PathBuf),
    /// A file or folder removed.
    Remove(PathBuf),
    /// A rename or move: from, to.
    Rename(PathBuf, PathBuf),
    /// Bytes read from an open file, how many not said (Samba's `pread_recv`, `pread`).
    Read(PathBuf),
    /// A file handle closed (Samba's `close`): a read of it is over.
    Close(PathBuf),
    /// A file closed after this many bytes were read from it and none written (SFTP).
    Fetched(PathBuf, u64),
    /// A file opened to be read (Samba's `create_file` of an existing file).
    Opened(PathBuf),
    /// A server-side copy began reading from the file the session last opened to read
    /// (Samba's `offload_read_send`)...
    CopyFrom,
    /// ...and wrote into the file it last opened to write (`offload_write_send`).
    CopyTo,
}

/// Which server writes a log, and how its records are read.
pub enum Source {
    /// Samba's `vfs_full_audit`, with its `full_audit:prefix`.
    Samba(samba::Prefix),
    /// OpenSSH's SFTP server, through syslog, with the chroot its sessions are locked in
    /// (`%u` for the user's name), if any.
    Sftp(Option<String>),
}

impl Source {
    /// The name the position is kept under in the state, and shown in the status.
    pub fn name(&self) -> &'static str {
        match self {
            Source::Samba(_) => "samba",
            Source::Sftp(_) => "sftp",
        }
    }

    fn protocol(&self) -> &'static str {
        match self {
            Source::Samba(_) => "smb",
            Source::Sftp(_) => "sftp",
        }
    }

    fn how(&self) -> Attribution {
        match self {
            Source::Samba(_) => Attribution::Audit,
            Source::Sftp(_) => Attribution::SftpLog,
        }
    }

    /// What the log is, for messages.
    fn what(&self) -> &'static str {
        match self {
            Source::Samba(_) => "the Samba audit log",
            Source::Sftp(_) => "the SFTP log",
        }
    }

    fn fix(&self) -> &'static str {
        match self {
            Source::Samba(_) => "see `sharehook setup samba`",
            Source::Sftp(_) => "see `sharehook setup sftp`",
        }
    }
}

/// A read of a file by a session, over: a Download, if the engine's rules agree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Read {
    pub path: PathBuf,
    pub who: Who,
    /// How many bytes were read, when the log says (SFTP does; Samba does not).
    pub bytes: Option<u64>,
}

/// What kind of change a record can attribute, and where.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Write(PathBuf),
    Mkdir(PathBuf),
    Remove(PathBuf),
    Rename(PathBuf, PathBuf),
}

impl Key {
    /// Where the change it tells of is reported.
    fn target(&self) -> &Path {
        match self {
            Key::Write(p) | Key::Mkdir(p) | Key::Remove(p) | Key::Rename(_, p) => p,
        }
    }
}

/// The evidence read so far, and the logs it comes from.
pub struct Evidence {
    inner: Mutex<Inner>,
    /// Whether a log comes through the journal (fixed at the start).
    journal: bool,
}

/// Where a log's lines come from: a file, or the systemd journal.
enum Input {
    File(Follow),
    Journal(journal::Journal),
}

impl Input {
    fn position(&self) -> Position {
        match self {
            Input::File(f) => f.position,
            Input::Journal(j) => j.position,
        }
    }

    /// The file's path, or what journal, for messages.
    fn shown(&self) -> String {
        match self {
            Input::File(f) => follow_path_shown(&f.path),
            Input::Journal(j) => j.shown(),
        }
    }

    fn path(&self) -> PathBuf {
        match self {
            Input::File(f) => f.path.clone(),
            Input::Journal(j) => PathBuf::from(j.shown()),
        }
    }
}

struct Log {
    source: Source,
    input: Input,
    parser: Parser,
    /// What went wrong reading the log, said once until it reads again.
    trouble: Option<String>,
    /// When the last record was read.
    last_record: Option<Instant>,
}

enum Parser {
    Samba(samba::Reader),
    Sftp(sftp::Reader),
}

struct Inner {
    logs: Vec<Log>,
    kept: Kept,
}

/// What the logs said that is kept for the engine.
#[derive(Default)]
struct Kept {
    records: HashMap<Key, VecDeque<(Instant, Who)>>,
    /// How many records are kept for each path a change would be reported at (a rename's
    /// new path), to tell whether a change's record has come.
    targets: HashMap<PathBuf, usize>,
    /// Every record kept, oldest first, for forgetting them in order.
    order: VecDeque<(Instant, Key)>,
    /// Files Samba sessions are reading: when the first and last read was seen.
    open_reads: HashMap<(Who, PathBuf), (Instant, Instant)>,
    /// The same, oldest first, for taking the oldest as done when there are too many (an
    /// entry whose read is over meanwhile is skipped).
    open_order: VecDeque<(Instant, (Who, PathBuf))>,
    /// Reads that are over, for the engine to take.
    reads: VecDeque<Read>,
    /// Changes fanotify named a process for.
    processes: u64,
    /// Each session's (user, address) server-side copy under way: the file it last opened to
    /// read, the copy's source once it began, the file it last opened to write.
    copying: HashMap<(String, String), Copying>,
    /// Files copied on the server: the copy's path, its source and when it was seen.
    copies: HashMap<PathBuf, (PathBuf, Instant)>,
}

#[derive(Default)]
struct Copying {
    opened: Option<PathBuf>,
    from: Option<PathBuf>,
    written: Option<PathBuf>,
}

/// The most sessions whose copies are followed, and copies kept, at once.
const MAX_COPIES: usize = 4096;

/// What `Evidence::status` says of each log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub source: &'static str,
    pub path: PathBuf,
    pub records: u64,
    pub doubtful: u64,
    pub kept: usize,
    pub since_last: Option<Duration>,
    pub trouble: Option<String>,
}

impl Evidence {
    /// Reads each log (its server, its path, and where a former run stopped: the start of the
    /// file when it is another file now).
    pub fn new(logs: Vec<(Source, PathBuf, Position)>) -> Evidence {
        let logs: Vec<Log> = logs
            .into_iter()
            .map(|(source, path, position)| Log {
                parser: match &source {
                    Source::Samba(prefix) => Parser::Samba(samba::Reader::new(prefix.clone())),
                    Source::Sftp(chroot) => {
                        Parser::Sftp(sftp::Reader::new(Box::new(sftp::home_of), chroot.clone()))
                    }
                },
                input: match (&source, journal::parse(&path)) {
                    (Source::Sftp(_), Some(dir)) => {
                        Input::Journal(journal::Journal::new(dir, position))
                    }
                    _ => Input::File(Follow::new(path, position)),
                },
                source,
                trouble: None,
                last_record: None,
            })
            .collect();
        Evidence {
            journal: logs.iter().any(|l| matches!(l.input, Input::Journal(_))),
            inner: Mutex::new(Inner {
                logs,
                kept: Kept::default(),
            }),
        }
    }

    /// Starts reading which process made each change under `roots` (fanotify; root only).
    /// Changes made by the servers whose logs are read here (they say more) are left to them.
    /// The reading stops when the evidence is dropped.
    pub fn watch_processes(self: &std::sync::Arc<Self>, roots: &[PathBuf]) -> Result<(), String> {
        let left_to_logs: Vec<&'static str> = self
            .lock()
            .logs
            .iter()
            .map(|l| l.source.protocol())
            .collect();
        let fan = fanotify::Fanotify::open(roots)?;
        let weak = std::sync::Arc::downgrade(self);
        std::thread::Builder::new()
            .name("fanotify".into())
            .spawn(move || {
                let mut owners = crate::tree::owner::Owners::new();
                loop {
                    let mut found = Vec::new();
                    if let Err(e) = fan.read(500, &mut |actor, act| found.push((actor, act))) {
                        log::error!("attribution: reading fanotify failed, it stops: {e}");
                        return;
                    }
                    let Some(evidence) = weak.upgrade() else {
                        return;
                    };
                    if found.is_empty() {
                        continue;
                    }
                    let now = Instant::now();
                    let mut inner = evidence.lock();
                    for (actor, act) in found {
                        if left_to_logs.contains(&actor.protocol) {
                            continue;
                        }
                        let who = Who {
                            user: owners.name(actor.uid),
                            protocol: actor.protocol.to_owned(),
                            address: String::new(),
                            how: Attribution::Process,
                        };
                        inner.kept.processes += 1;
                        inner.kept.keep(who, act, now);
                    }
                }
            })
            .map_err(|e| format!("cannot start the fanotify thread: {e}"))?;
        Ok(())
    }

    /// Changes fanotify named a process for, since the start.
    pub fn process_records(&self) -> u64 {
        self.lock().kept.processes
    }

    /// Runs `program` instead of journalctl for the logs read from the journal (tests).
    pub fn set_journal_program(&self, program: &Path) {
        for log in &mut self.lock().logs {
            if let Input::Journal(j) = &mut log.input {
                j.program = program.to_owned();
            }
        }
    }

    /// How long a change waits for its record after the last change became ready, and at
    /// most: 50 and 200 ms for logs read from files, 1.2 and 1.5 s when a log comes through
    /// the journal (journald tells its readers of new entries in batches, a quarter of a
    /// second or more apart, and journalctl adds its own).
    pub fn waits(&self) -> (Duration, Duration) {
        if self.journal {
            (Duration::from_millis(1200), Duration::from_millis(1500))
        } else {
            (Duration::from_millis(50), Duration::from_millis(200))
        }
    }

    /// Samba's audit log alone.
    pub fn samba(path: &Path, prefix: samba::Prefix, position: Position) -> Evidence {
        Evidence::new(vec![(Source::Samba(prefix), path.to_owned(), position)])
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads what the logs gained since the last call; returns where reading each stands now
    /// (by its source's name), for the state.
    pub fn catch_up(&self) -> Vec<(&'static str, Position)> {
        let mut inner = self.lock();
        inner.catch_up();
        inner
            .logs
            .iter()
            .map(|l| (l.source.name(), l.input.position()))
            .collect()
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
            Operation::Upload | Operation::Copy => Key::Write(abs),
            Operation::CreateFolder => Key::Mkdir(abs),
            Operation::Delete => Key::Remove(abs),
            Operation::Move | Operation::Rename => Key::Rename(source?.on(root), abs),
            Operation::Download => return None,
        };
        let mut inner = self.lock();
        let kept = &mut inner.kept;
        kept.forget_old(Instant::now());
        let found = kept.records.remove(&key)?;
        kept.untarget(&key, found.len());
        let newest = found.back()?.1.clone();
        // Sessions that disagree: nothing is said rather than the wrong one.
        found
            .iter()
            .all(|(_, w)| w.user == newest.user && w.address == newest.address)
            .then_some(newest)
    }

    /// The file `path` was copied from on the server, when a record says so (taken once, and
    /// kept for `KEEP` at most).
    pub fn copy_source(&self, path: &Path) -> Option<PathBuf> {
        let mut inner = self.lock();
        let (from, at) = inner.kept.copies.remove(path)?;
        (at.elapsed() < KEEP).then_some(from)
    }

    /// Whether a record kept tells of a change at `path` (a write, a folder made, a removal,
    /// or a rename to it): the change need not wait for its record.
    pub fn knows(&self, path: &Path) -> bool {
        self.lock().kept.targets.contains_key(path)
    }

    /// The reads that are over (closed, or idle for `READ_IDLE`), oldest first.
    pub fn reads(&self) -> Vec<Read> {
        let mut inner = self.lock();
        let inner = &mut inner.kept;
        let now = Instant::now();
        let idle: Vec<(Who, PathBuf)> = inner
            .open_reads
            .iter()
            .filter(|(_, (_, last))| now.duration_since(*last) >= READ_IDLE)
            .map(|(k, _)| k.clone())
            .collect();
        for key in idle {
            inner.read_over(&key);
        }
        inner.reads.drain(..).collect()
    }

    pub fn status(&self) -> Vec<Status> {
        let inner = self.lock();
        inner
            .logs
            .iter()
            .map(|l| {
                let (records, doubtful) = match &l.parser {
                    Parser::Samba(r) => (r.records, r.doubtful),
                    Parser::Sftp(r) => (r.records, r.doubtful),
                };
                Status {
                    source: l.source.name(),
                    path: l.input.path(),
                    records,
                    doubtful,
                    kept: inner.kept.order.len(),
                    since_last: l.last_record.map(|t| t.elapsed()),
                    trouble: l.trouble.clone(),
                }
            })
            .collect()
    }
}

impl Inner {
    fn catch_up(&mut self) {
        for log in &mut self.logs {
            let mut found = Vec::new();
            let (protocol, how) = (log.source.protocol(), log.source.how());
            let kept = &mut self.kept;
            let mut any = false;
            let result = {
                let Log {
                    input,
                    parser,
                    source,
                    ..
                } = log;
                let what = source.what();
                let shown = input.shown();
                let mut step = |step: Step<'_>| match step {
                    Step::Restarted(how) => {
                        log::info!(
                            "attribution: {what} {shown} was {}; reading it from its start",
                            match how {
                                Restart::CutShort => "cut short",
                                Restart::Replaced => "replaced",
                            }
                        );
                        parser.reset();
                    }
                    Step::Piece(bytes, done) => {
                        // Kept piece by piece: a log that grew much is read in bounded memory.
                        parser.feed(bytes, done, &mut found);
                        let now = Instant::now();
                        any |= !found.is_empty();
                        for r in found.drain(..) {
                            let who = Who {
                                user: r.user,
                                protocol: protocol.to_owned(),
                                address: r.address,
                                how,
                            };
                            kept.keep(who, r.act, now);
                        }
                    }
                };
                match input {
                    Input::File(follow) => follow.read_more(&mut step),
                    Input::Journal(journal) => {
                        journal.read().map(|lines| step(Step::Piece(&lines, true)))
                    }
                }
            };
            let now = Instant::now();
            match result {
                Ok(()) => {
                    if log.trouble.take().is_some() {
                        log::info!(
                            "attribution: {} {} is read again",
                            log.source.what(),
                            log.input.shown()
                        );
                    }
                }
                Err(e) => {
                    let message = format!(
                        "attribution: cannot read {} {}: {e} (sharehook runs as user {}; the \
                         file must be readable by it: {}); changes are reported with their \
                         files' owners meanwhile",
                        log.source.what(),
                        log.input.shown(),
                        current_user(),
                        log.source.fix()
                    );
                    if log.trouble.as_deref() != Some(message.as_str()) {
                        log::warn!("{message}");
                        log.trouble = Some(message);
                    }
                }
            }
            if any {
                log.last_record = Some(now);
            }
        }
    }
}

impl Kept {
    fn keep(&mut self, who: Who, act: Act, now: Instant) {
        let session = || (who.user.clone(), who.address.clone());
        if matches!(
            act,
            Act::Write(_) | Act::Opened(_) | Act::CopyFrom | Act::CopyTo
        ) {
            if self.copying.len() >= MAX_COPIES && !self.copying.contains_key(&session()) {
                self.copying.clear();
            }
            let c = self.copying.entry(session()).or_default();
            match &act {
                Act::Opened(p) => c.opened = Some(p.clone()),
                Act::Write(p) => c.written = Some(p.clone()),
                Act::CopyFrom => c.from = c.opened.clone(),
                Act::CopyTo => {
                    if let (Some(from), Some(to)) = (c.from.clone(), c.written.clone()) {
                        if self.copies.len() >= MAX_COPIES {
                            self.copies
                                .retain(|_, (_, at)| now.duration_since(*at) < KEEP);
                            if self.copies.len() >= MAX_COPIES {
                                self.copies.clear();
                            }
                        }
                        self.copies.insert(to, (from, now));
                    }
                }
                _ => {}
            }
        }
        let key = match act {
            Act::Opened(_) | Act::CopyFrom | Act::CopyTo => return,
            Act::Write(p) => Key::Write(p),
            Act::Mkdir(p) => Key::Mkdir(p),
            Act::Remove(p) => Key::Remove(p),
            Act::Rename(a, b) => Key::Rename(a, b),
            Act::Read(p) => {
                let key = (who, p);
                if let Some(times) = self.open_reads.get_mut(&key) {
                    times.1 = now;
                    return;
                }
                while self.open_reads.len() >= MAX_OPEN_READS {
                    let Some((first, oldest)) = self.open_order.pop_front() else {
                        break;
                    };
                    if self.open_reads.get(&oldest).is_some_and(|t| t.0 == first) {
                        self.read_over(&oldest);
                    }
                }
                if self.open_order.len() >= 2 * MAX_OPEN_READS {
                    // Reads over meanwhile leave their entries here: dropped now and then.
                    let current = &self.open_reads;
                    self.open_order
                        .retain(|(first, k)| current.get(k).is_some_and(|t| t.0 == *first));
                }
                self.open_reads.insert(key.clone(), (now, now));
                self.open_order.push_back((now, key));
                return;
            }
            Act::Close(p) => {
                self.read_over(&(who, p));
                return;
            }
            Act::Fetched(path, bytes) => {
                self.push_read(Read {
                    path,
                    who,
                    bytes: Some(bytes),
                });
                return;
            }
        };
        let list = self.records.entry(key.clone()).or_default();
        // A file written many times by one session is one record.
        if list.back().is_some_and(|(_, w)| *w == who) {
            list.back_mut().expect("not empty").0 = now;
        } else {
            list.push_back((now, who));
            *self.targets.entry(key.target().to_owned()).or_default() += 1;
        }
        self.order.push_back((now, key));
        while self.order.len() > MAX_RECORDS {
            self.drop_oldest();
        }
    }

    /// A Samba session's read of a file is over: it is a read to report.
    fn read_over(&mut self, key: &(Who, PathBuf)) {
        if self.open_reads.remove(key).is_some() {
            self.push_read(Read {
                path: key.1.clone(),
                who: key.0.clone(),
                bytes: None,
            });
        }
    }

    fn push_read(&mut self, read: Read) {
        if self.reads.len() >= MAX_READS {
            self.reads.pop_front();
        }
        self.reads.push_back(read);
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
            let before = list.len();
            while list.front().is_some_and(|(at, _)| *at <= t) {
                list.pop_front();
            }
            let gone = before - list.len();
            if list.is_empty() {
                self.records.remove(&key);
            }
            self.untarget(&key, gone);
        }
    }

    /// `n` records of `key` are no longer kept.
    fn untarget(&mut self, key: &Key, n: usize) {
        if n == 0 {
            return;
        }
        let target = key.target();
        if let Some(count) = self.targets.get_mut(target) {
            *count = count.saturating_sub(n);
            if *count == 0 {
                self.targets.remove(target);
            }
        }
    }
}

impl Parser {
    fn feed(&mut self, bytes: &[u8], done: bool, found: &mut Vec<Record>) {
        match self {
            Parser::Samba(r) => {
                r.feed(bytes, &mut |rec| found.push(rec));
                if done {
                    r.end_of_data(&mut |rec| found.push(rec));
                }
            }
            Parser::Sftp(r) => r.feed(bytes, &mut |rec| found.push(rec)),
        }
    }

    fn reset(&mut self) {
        match self {
            Parser::Samba(r) => r.reset(),
            Parser::Sftp(r) => r.reset(),
        }
    }
}

/// A log's path for the journal, control characters escaped.
fn follow_path_shown(path: &Path) -> String {
    crate::core::event::escape_controls(&path.to_string_lossy()).into_owned()
}

/// The name of the user this process runs as (its uid when it has none).
fn current_user() -> String {
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    crate::tree::owner::Owners::new().name(uid)
}

#[cfg(test)]
mod tests;
