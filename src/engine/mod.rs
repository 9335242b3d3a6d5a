//! Turns what the kernel says, and what the disk shows, into what people did.
//!
//! The index (in the store) is the source of truth: it holds every entry that was reported.
//! Kernel events are hints. The rules (`rules`, with no I/O of their own) turn each into a
//! *hold* (an operation waiting for its quiet period, or for the second half of a client's
//! save pattern) or, for a rename of a known entry, a change at once. A change is checked
//! against the index when it is committed (the *gate*, `gate`), in the same transaction that
//! updates the index and queues its event, so an operation is reported exactly once whether
//! the kernel, a folder scan or a rescan (`reconcile`) saw it first, and a crash at any point
//! loses nothing a restart's reconcile cannot find again. `disk` holds the watches and reads
//! folders; this module wires the parts into one loop.
//!
//! Layer 4 (see `lib.rs`): uses `deliver` (its mailboxes), `config`, `tree`, `store`, `watch`
//! and `core`.

/// A debug line saying why a kernel event did or did not become an operation (ignored, held,
/// folded, paired, found unchanged), for `SHAREHOOK_LOG=debug`. Nothing is formatted unless
/// the line is shown: a burst makes thousands of these decisions.
macro_rules! why {
    ($($arg:tt)*) => {
        if log::log_enabled!(log::Level::Debug) {
            log::debug!("why: {}", format_args!($($arg)*));
        }
    };
}

mod ahead;
pub mod attributions;
mod baseline;
mod disk;
mod downloads;
mod gate;
mod holds;
mod reconcile;
mod release;
pub mod routes;
pub mod rules;
#[cfg(test)]
mod rules_tests;
#[cfg(test)]
mod tests;
mod trace;
#[cfg(test)]
mod trace_tests;
mod walk;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use crate::config::{Share, WatchMode, WatchSettings};
use crate::core::event::SharePath;
use crate::core::retry::Schedule;
use crate::core::stats::{self, Stats};
use crate::deliver::{human, now_ms};
use crate::evidence::Evidence;
use crate::store::{Store, StoreError};
use crate::tree;
use crate::tree::owner::Owners;
use crate::watch::{self, Mask, Raw};
use attributions::Attributions;
use disk::{Disk, Kernel, ShareState};
use routes::Routes;
pub use rules::PAIR_WINDOW;
use rules::{Rules, Seen};
use walk::{Walk, Walks, Why};

/// At most this many kernel events are read before holds are looked at and committed.
const MAX_BATCH: usize = 4096;
/// The loop goes round at least this often (it shows the watchdog it is alive).
const TICK: Duration = Duration::from_millis(500);
/// How long the walks (reconciles, baselines) go on before the loop reads the kernel's events
/// again: a live event waits at most about this long behind a big share's reconcile.
const WALK_SLICE: Duration = Duration::from_millis(20);
/// How often the watch figures (folders watched, problems) are given to the status.
const FIGURES_EVERY: Duration = Duration::from_secs(1);
/// How often the file servers' logs and the API are asked for the reads they saw.
const READS_EVERY: Duration = Duration::from_millis(250);

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
    /// What a file server recorded of who made the changes on the disk, when it is read.
    pub evidence: Option<Arc<Evidence>>,
    /// What counts as a download.
    pub attribution: crate::config::AttributionSettings,
}

pub struct Engine {
    disk: Disk,
    rules: Rules,
    routes: Routes,
    schedule: Schedule,
    stop: Arc<AtomicBool>,
    heartbeat: Arc<AtomicI64>,
    attributions: Arc<Attributions>,
    evidence: Option<Arc<Evidence>>,
    /// While changes wait for the file server's records: when the first became ready, how
    /// many were ready when last looked at, and when that number last grew.
    ready_seen: Option<(Instant, usize, Instant)>,
    /// Reads waiting to be reported as Downloads, and who read what lately.
    downloads: downloads::Downloads,
    /// When the file servers' logs and the API are next asked for reads.
    next_reads: Instant,
    owners: Owners,
    /// When the folders kept aside (no watch, unreadable) are read again.
    next_unwatched_poll: Instant,
    /// Reconciles and baselines, done a slice at a time between batches of kernel events.
    walks: Walks,
    /// Told once the start's walks are done (or failed): the daemon is ready then.
    caught_up: Option<Sender<Result<(), String>>>,
    next_safety: Option<Instant>,
    overflows: u64,
    /// Failed tries to write the state in a row; while non-zero, watching is paused.
    commit_failures: u32,
    /// When to try writing the state again.
    next_commit: Instant,
    stats: Arc<Stats>,
    /// When the watch figures are next given to `stats`.
    next_figures: Instant,
    /// While a thread reads ahead of a walk: the kernel's events of the watches it added that
    /// the engine does not know yet.
    early: Option<ahead::Early>,
}

impl Engine {
    /// Sets up watching: each share is watched (or polled), and the walk that reconciles its
    /// index with the disk (or, the first time, takes the baseline) is queued; `run` does it
    /// while handling live events, and says when it is done through `caught_up`.
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
        let settle = setup.watch.settle;
        let mut disk = Disk::new(shares, setup.watch, setup.store, kernel);
        disk.trace = trace::Trace::from_env(&disk.roots, settle, now);
        let mut engine = Engine {
            rules: Rules::new(disk.roots.clone(), settle, now),
            disk,
            routes: setup.routes,
            schedule: setup.schedule,
            stop: setup.stop,
            heartbeat: setup.heartbeat,
            attributions: setup.attributions,
            evidence: setup.evidence,
            ready_seen: None,
            downloads: downloads::Downloads::new(setup.attribution),
            next_reads: now,
            owners: Owners::new(),
            next_unwatched_poll: now,
            walks: Walks::new(),
            caught_up: None,
            next_safety,
            overflows: 0,
            commit_failures: 0,
            next_commit: now,
            stats: setup.stats,
            next_figures: now,
            early: None,
        };
        engine.forget_old_shares()?;
        for si in 0..engine.disk.shares.len() {
            engine.disk.shares[si].stats.rescanned("start");
            engine.first_pass(si)?;
        }
        Ok(engine)
    }

    /// Told `Ok` once the start's walks are done: from then on nothing that happens on a share
    /// is missed, and what changed while sharehook was stopped is found. Told the error, and
    /// the engine stops, if the state cannot be written meanwhile.
    pub fn caught_up(&mut self) -> Receiver<Result<(), String>> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.caught_up = Some(tx);
        rx
    }

    /// Whether the start's walks are done.
    fn started(&self) -> bool {
        !self.walks.iter().any(|w| w.why == Why::Start)
    }

    /// Once the start's walks are done: the figures are counted, and the daemon told.
    fn after_start(&mut self) -> Result<(), StoreError> {
        if self.caught_up.is_none() || !self.started() || self.paused() {
            return Ok(());
        }
        for s in &self.disk.shares {
            // Counted now, once: from here on each commit keeps the count.
            self.disk.store.index_entries(&s.share.name)?;
        }
        self.disk.report_limit();
        self.publish_figures();
        if let Some(tx) = self.caught_up.take() {
            let _ = tx.send(Ok(()));
        }
        Ok(())
    }

    /// Drops the index of shares that are no longer configured.
    fn forget_old_shares(&mut self) -> Result<(), StoreError> {
        for name in self.disk.store.share_names()? {
            if !self.disk.shares.iter().any(|s| s.share.name == name) {
                log::warn!("share {name} is no longer configured; its index is dropped");
                let mut batch = self.disk.store.batch()?;
                batch.drop_share(&name)?;
                batch.commit()?;
            }
        }
        Ok(())
    }

    // ----- kernel events -----

    fn on_raw(&mut self, raw: Raw, now: Instant) {
        let (wd, mask, cookie, name) = match raw {
            Raw::Overflow => {
                self.overflows += 1;
                let watched: Vec<usize> = self.disk.watched_shares().collect();
                let names: Vec<&str> = watched
                    .iter()
                    .map(|&i| self.disk.shares[i].share.name.as_str())
                    .collect();
                log::warn!(
                    "the kernel's event queue overflowed (overflow {} since start); rescanning \
                     {} to report exactly what changed (fs.inotify.max_queued_events sets the \
                     queue's size)",
                    self.overflows,
                    names.join(", ")
                );
                for &si in &watched {
                    self.disk.shares[si]
                        .stats
                        .overflows
                        .fetch_add(1, Ordering::Relaxed);
                    self.disk.shares[si].stats.rescanned("overflow");
                }
                for si in watched {
                    self.reconcile_later(si, SharePath::root(), Why::Other);
                }
                self.trace_in(Instant::now(), "forget_renames", serde_json::json!([]));
                self.rules.forget_renames();
                return;
            }
            Raw::Event {
                wd,
                mask,
                cookie,
                name,
            } => (wd, mask, cookie, name),
        };
        let Some(kernel) = self.disk.kernel.as_mut() else {
            return;
        };
        let Some(dir) = kernel.set.path(wd) else {
            // A watch added ahead of a walk, not taken by it yet: its events are handled once
            // it is (and the kernel's word that it is gone, too).
            if let Some(early) = self.early.as_mut() {
                let raw = Raw::Event {
                    wd,
                    mask,
                    cookie,
                    name,
                };
                if !early.keep(wd, raw, now) {
                    self.early = Some(ahead::Early::default());
                    self.on_raw(Raw::Overflow, now);
                }
            }
            return;
        };
        if mask.contains(Mask::IGNORED) {
            kernel.set.forget(wd);
            return;
        }
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
        let Some((_, sp)) = self.disk.locate(&path) else {
            return;
        };
        if self.disk.settings.ignore.path(sp.as_bytes(), is_dir) {
            if log::log_enabled!(log::Level::Debug)
                && let Some((pattern, name)) = self.disk.settings.ignore.why(sp.as_bytes(), is_dir)
            {
                let whose = if name == sp.name() {
                    "its name"
                } else {
                    "a folder above it"
                };
                why!(
                    "{}: {}: ignored: {whose} ({}) matches the ignore pattern \"{}\" ([watch] ignore)",
                    shown(&path),
                    kind_of(mask),
                    shown_bytes(name),
                    crate::core::event::escape_controls(pattern)
                );
            }
            return;
        }
        let seen = if mask.contains(Mask::CREATE) {
            Seen::Created { path, is_dir }
        } else if mask.contains(Mask::MODIFY) {
            Seen::Written { path }
        } else if mask.contains(Mask::CLOSE_WRITE) {
            Seen::Closed { path }
        } else if mask.contains(Mask::DELETE) {
            Seen::Deleted { path, is_dir }
        } else if mask.contains(Mask::MOVED_FROM) {
            Seen::MovedFrom {
                path,
                cookie,
                is_dir,
            }
        } else if mask.contains(Mask::MOVED_TO) {
            Seen::MovedTo {
                path,
                cookie,
                is_dir,
            }
        } else {
            return;
        };
        if let Some(t) = &self.disk.trace {
            t.seen(now, &seen);
        }
        self.rules.seen(seen, now, &mut self.disk);
    }

    fn paused(&self) -> bool {
        self.commit_failures > 0
    }

    /// Stops acting on changes: forgets what is held, and waits to write the state again.
    fn pause(&mut self) {
        self.commit_failures += 1;
        self.trace_in(Instant::now(), "forget", serde_json::json!([]));
        self.rules.forget();
        // The start's walks begin again once the state can be written (a baseline cut short
        // is taken whole); every other walk gives way to the full reconciles of the resume.
        for mut walk in std::mem::take(&mut self.walks) {
            self.end_ahead(&mut walk);
            if walk.why == Why::Start {
                self.walks.push_back(walk.restart());
            }
        }
        self.next_commit = Instant::now() + self.retry_pause();
    }

    /// 1 s, doubling with each failure, at most a minute.
    fn retry_pause(&self) -> Duration {
        Duration::from_secs(1 << self.commit_failures.clamp(1, 7).saturating_sub(1))
            .min(Duration::from_secs(60))
    }

    /// Tries a write; when it works, watching resumes with a reconcile of every share.
    fn try_resume(&mut self) {
        match self.disk.store.probe() {
            Ok(()) => {
                log::info!(
                    "the state can be written again; reconciling every share to report what \
                     changed meanwhile"
                );
                self.commit_failures = 0;
                for si in 0..self.disk.shares.len() {
                    self.disk.shares[si].stats.rescanned("recovery");
                    self.reconcile_later(si, SharePath::root(), Why::Other);
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

    // ----- the loop -----

    /// Writes an input to the rules to the trace, when there is one.
    fn trace_in(&self, at: Instant, what: &str, args: serde_json::Value) {
        if let Some(t) = &self.disk.trace {
            t.input(at, what, args);
        }
    }

    /// Runs until told to stop. What is held but not yet reported is left to the next start's
    /// reconcile, which finds it again.
    pub fn run(mut self) {
        loop {
            self.heartbeat.store(now_ms(), Ordering::Relaxed);
            if self.stop.load(Ordering::SeqCst) {
                // What is ready is committed now, whatever the gap since the last commit.
                self.commit_at_once();
                return;
            }
            if self.paused() {
                // Nothing is acted on: what happens meanwhile is found by the reconcile at
                // the end of the pause. The kernel's events are read only to be dropped.
                if let Some(k) = &self.disk.kernel {
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
            match self.disk.kernel.as_ref().map(|k| k.rx.recv_timeout(wait)) {
                Some(Ok(raw)) => {
                    self.on_raw(raw, Instant::now());
                    // A rename's window may close only when its second half cannot be
                    // waiting unread: when the batch ended because nothing was left.
                    drained = false;
                    for _ in 1..MAX_BATCH {
                        let next = self.disk.kernel.as_ref().map(|k| k.rx.try_recv());
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
                    self.disk.kernel = None;
                    for share in &mut self.disk.shares {
                        share
                            .polled
                            .get_or_insert_with(|| "the inotify reader stopped".to_owned());
                    }
                }
                None => std::thread::sleep(wait),
            }
            let now = Instant::now();
            if drained {
                self.trace_in(now, "expire", serde_json::json!([]));
                self.rules.drained_at = now;
                self.rules.expire_renames(now, &mut self.disk);
                self.rules.gone.retain(|(_, until)| *until > now);
            }
            if let Err(e) = self.run_rescans(now).and_then(|()| self.after_start()) {
                if let Some(tx) = self.caught_up.take() {
                    // The start cannot be completed: the daemon says why and stops.
                    let _ = tx.send(Err(format!("cannot take the shares' index: {e}")));
                    return;
                }
                log::error!("a rescan failed: {e}");
                self.pause();
            }
            self.trace_in(now, "release", serde_json::json!([]));
            self.rules.release_due(now, &mut self.disk);
            if now >= self.next_reads {
                self.next_reads = now + READS_EVERY;
                self.collect_reads();
            }
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
        for s in &self.disk.shares {
            let root = s.share.path.as_path();
            // Nested shares' folders are theirs.
            let nested: Vec<&Path> = self
                .disk
                .shares
                .iter()
                .map(|o| o.share.path.as_path())
                .filter(|p| *p != root && p.starts_with(root))
                .collect();
            let folders_watched = self.disk.kernel.as_ref().map_or(0, |k| {
                let below = |p: &Path| k.set.count_below(p) as u64;
                below(root).saturating_sub(nested.iter().map(|p| below(p)).sum())
            });
            // Each map's folders of this share are one range of its keys.
            let mine = |p: &&PathBuf| !nested.iter().any(|n| p.starts_with(n));
            let over_limit = self
                .disk
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
            s.stats.set_watching(stats::Watching {
                polled: s.polled.clone(),
                folders_watched,
                over_limit: problem(over_limit),
                unreadable: with_errno(&self.disk.unreadable),
                unwatchable: with_errno(&self.disk.unwatchable),
            });
        }
        let watches = self.disk.kernel.as_ref().map_or(0, |k| k.set.len() as u64);
        self.stats.watches.store(watches, Ordering::Relaxed);
    }

    fn next_wakeup(&self, now: Instant) -> Instant {
        let mut at = now + TICK;
        if let Some(d) = self.rules.next_deadline() {
            at = at.min(d);
        }
        if !self.rules.ready.is_empty() || self.reads_ready(now) {
            at = at.min(self.next_commit);
        }
        at = at.min(self.next_reads);
        if !self.rules.rescan_folders.is_empty() || !self.walks.is_empty() {
            // A reconcile goes one folder level per turn: the next level at once, so that a
            // rename read meanwhile finds as little as possible waiting at old paths.
            at = now;
        }
        at.max(now)
    }

    fn run_rescans(&mut self, now: Instant) -> Result<(), StoreError> {
        self.follow_moves();
        for folder in std::mem::take(&mut self.rules.rescan_folders) {
            if let Some((si, sp)) = self.disk.locate(&folder) {
                self.reconcile_later(si, sp, Why::Other);
            }
        }
        for si in 0..self.disk.shares.len() {
            if self.disk.shares[si].polled.is_some()
                && self.disk.shares[si].next_poll <= now
                && !self.walking_whole(si)
            {
                self.disk.shares[si].next_poll = now + self.disk.settings.poll_interval;
                self.disk.shares[si].stats.rescanned("poll");
                self.reconcile_later(si, SharePath::root(), Why::Other);
            }
        }
        let waiting = !(self.disk.unwatched.is_empty()
            && self.disk.unreadable.is_empty()
            && self.disk.unwatchable.is_empty());
        if waiting && self.next_unwatched_poll <= now {
            self.next_unwatched_poll = now + self.disk.settings.poll_interval;
            let retry: BTreeSet<PathBuf> = self
                .disk
                .unwatched
                .iter()
                .chain(self.disk.unreadable.keys())
                .chain(self.disk.unwatchable.keys())
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
                match self.disk.share_of(&folder) {
                    Some((si, sp)) if !gone => {
                        self.disk.shares[si].stats.rescanned("retry");
                        self.reconcile_later(si, sp, Why::Other);
                    }
                    _ => {
                        self.disk.unwatched.remove(&folder);
                        self.disk.unreadable.remove(&folder);
                        self.disk.unwatchable.remove(&folder);
                        self.disk.unbaselined.remove(&folder);
                    }
                }
            }
            self.disk.report_limit();
        }
        if let Some(at) = self.next_safety.filter(|at| *at <= now) {
            let interval = self
                .disk
                .settings
                .rescan_interval
                .expect("set when next_safety is");
            self.next_safety = Some(at.max(now) + jitter(interval));
            log::info!(
                "safety rescan of every share (every {}; polled shares are read every {} anyway)",
                human(interval),
                human(self.disk.settings.poll_interval)
            );
            let watched: Vec<usize> = self.disk.watched_shares().collect();
            for si in watched {
                if !self.walking_whole(si) {
                    self.disk.shares[si].stats.rescanned("safety");
                    self.walks
                        .push_back(Walk::new(si, SharePath::root(), Why::Safety, false));
                }
            }
        }
        self.step_walks(WALK_SLICE)?;
        Ok(())
    }
}

/// `path` for a debug line: bytes that are not UTF-8 as `\xNN`, control characters escaped.
fn shown(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    shown_bytes(path.as_os_str().as_bytes())
}

/// A name for a debug line, escaped as `shown` escapes a path.
fn shown_bytes(bytes: &[u8]) -> String {
    crate::core::event::escape_controls(&crate::core::event::escape_bytes(bytes)).into_owned()
}

/// When `deadline` (an `Instant`, seen at `now`) comes, for a debug line: the wall-clock time
/// and the wait.
fn until(deadline: Instant, now: Instant) -> String {
    let wait = deadline.saturating_duration_since(now);
    let at = now_ms().saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX));
    format!(
        "until {} (in {})",
        crate::core::payload::rfc3339(at),
        human(wait)
    )
}

/// A kernel event's kind, for a debug line.
fn kind_of(mask: Mask) -> &'static str {
    [
        (Mask::CREATE, "create"),
        (Mask::MODIFY, "write"),
        (Mask::CLOSE_WRITE, "close after writing"),
        (Mask::DELETE, "delete"),
        (Mask::MOVED_FROM, "move away"),
        (Mask::MOVED_TO, "move in"),
    ]
    .into_iter()
    .find(|(bit, _)| mask.contains(*bit))
    .map_or("event", |(_, name)| name)
}

/// How many folders have a problem, and the first of them with its error.
fn problem<'a>(folders: impl IntoIterator<Item = (&'a PathBuf, Option<i32>)>) -> stats::Problem {
    let mut found = stats::Problem::default();
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
    crate::core::retry::jitter(d, 0.1)
}
