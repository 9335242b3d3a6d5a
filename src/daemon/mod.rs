//! Starts and stops the running parts in order: the store, one delivery worker per webhook,
//! and the engine, which sets up the watches and reconciles each share before `start` returns.
//!
//! Layer 6: uses the service layer and every layer below (see `lib.rs`).

pub mod logging;
pub mod systemd;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::core::sign::Token;
use crate::core::stats::Stats;
use crate::deliver::{Mailbox, now_ms};
use crate::engine::attributions::Attributions;
use crate::engine::{Engine, Setup};
use crate::service::hooks::Hooks;
use crate::service::resources::Resources;
use crate::store::Store;

pub struct Daemon {
    engine: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    heartbeat: Arc<AtomicI64>,
    pub store: Arc<Store>,
    /// The live webhooks (from the file and made through the API), each with its worker.
    pub hooks: Arc<Hooks>,
    /// Each webhook's verification token when the daemon started, by webhook id (the demo's
    /// receiver checks them).
    pub tokens: Vec<(u32, Token)>,
    /// The figures the engine and the workers keep (status, metrics).
    pub stats: Arc<Stats>,
    /// The shares' files as the management API reaches them; it tells the engine who made
    /// the changes it makes.
    pub resources: Arc<Resources>,
}

impl Daemon {
    /// Starts everything; when it returns, every share is watched.
    pub fn start(config: &Config) -> anyhow::Result<Daemon> {
        let store = Arc::new(Store::open(&config.state_dir)?);
        Self::start_with(config, store)
    }

    /// Starts everything on an open state (tests give it one with injected faults; a reload
    /// gives it the running daemon's). On an error, what was started is stopped again, so that
    /// the state can be started on once more.
    pub fn start_with(config: &Config, store: Arc<Store>) -> anyhow::Result<Daemon> {
        Self::start_counting(config, store, Arc::default())
    }

    /// `start_with`, counting on in `stats` (a reload keeps the figures since the start).
    pub fn start_counting(
        config: &Config,
        store: Arc<Store>,
        stats: Arc<Stats>,
    ) -> anyhow::Result<Daemon> {
        let shares: Vec<&str> = config.shares.iter().map(|s| s.name.as_str()).collect();
        let ids: Vec<u32> = crate::service::hooks::all_webhooks(config, &store)?
            .iter()
            .map(|w| w.id)
            .collect();
        stats.keep_only(&shares, &ids);
        // The last success and failure before this start, for the status; before the
        // workers start, so that what they see is never overwritten with older news.
        crate::service::metrics::seed_from_log(&stats, &store, &ids);
        store.set_limits(config.store_limits());
        log::info!(
            "state {}: identity {}, next event id {}",
            store.path().display(),
            store.identity()?,
            store.next_event_id()?
        );
        let stop = Arc::new(AtomicBool::new(false));
        let heartbeat = Arc::new(AtomicI64::new(now_ms()));
        let hooks = Hooks::start(config, Arc::clone(&store), Arc::clone(&stats))?;
        let attributions = Arc::new(Attributions::default());
        let mut daemon = Daemon {
            engine: None,
            stop: Arc::clone(&stop),
            heartbeat: Arc::clone(&heartbeat),
            store: Arc::clone(&store),
            hooks: Arc::clone(&hooks),
            tokens: Vec::new(),
            stats,
            resources: Arc::new(Resources::new(
                config,
                Arc::clone(&store),
                Arc::clone(&attributions),
            )),
        };
        let started = || -> anyhow::Result<Vec<(u32, Token)>> {
            let ids = hooks.ids();
            let mut tokens = Vec::new();
            for id in &ids {
                if let Some(token) = hooks.token(*id)? {
                    tokens.push((*id, token));
                }
            }
            for id in store.webhooks_with_pending()? {
                if !ids.contains(&id) {
                    log::warn!(
                        "webhook {id} is no longer configured; its {} queued events are kept in the state",
                        store.pending_count(id)?
                    );
                }
            }
            Ok(tokens)
        };
        match started() {
            Ok(tokens) => daemon.tokens = tokens,
            Err(e) => {
                daemon.stop_all();
                return Err(e);
            }
        }

        let mut logs = Vec::new();
        for (name, path) in config.attribution.logs() {
            let source = if name == "samba" {
                crate::evidence::Source::Samba(
                    crate::evidence::samba::Prefix::parse(&config.attribution.samba_prefix)
                        .unwrap_or_default(),
                )
            } else {
                crate::evidence::Source::Sftp(config.attribution.sftp_chroot.clone())
            };
            let (dev, ino, offset) = store.evidence_position(name)?;
            log::info!(
                "attribution: reading the {name} log {} from offset {offset}",
                crate::core::event::escape_controls(&path.to_string_lossy())
            );
            // Never read before: from the end of what the log holds now.
            let at = match (dev, ino, offset) {
                (0, 0, 0) => crate::evidence::Position::END,
                _ => crate::evidence::Position { dev, ino, offset },
            };
            logs.push((source, path, at));
        }
        let fanotify = config.attribution.fanotify;
        let evidence =
            (!logs.is_empty() || fanotify).then(|| Arc::new(crate::evidence::Evidence::new(logs)));
        if let Some(evidence) = evidence.as_ref().filter(|_| fanotify) {
            let roots: Vec<std::path::PathBuf> =
                config.shares.iter().map(|s| s.path.clone()).collect();
            match evidence.watch_processes(&roots) {
                Ok(()) => log::info!(
                    "attribution: fanotify names the process of changes no server's log tells of"
                ),
                Err(e) => log::warn!(
                    "attribution: fanotify cannot be used: {e}; changes no server's log tells of \
                     are reported with their files' owners"
                ),
            }
        }
        let engine = Engine::start(Setup {
            shares: config.shares.clone(),
            routes: hooks.routes(),
            schedule: config.delivery.schedule.clone(),
            watch: config.watch.clone(),
            store,
            stop,
            heartbeat,
            stats: Arc::clone(&daemon.stats),
            attributions,
            evidence,
            attribution: config.attribution.clone(),
        });
        let mut engine = match engine {
            Ok(engine) => engine,
            Err(e) => {
                daemon.stop_all();
                return Err(e);
            }
        };
        let caught_up = engine.caught_up();
        let handle = std::thread::Builder::new()
            .name("engine".into())
            .spawn(move || engine.run());
        match handle {
            Ok(handle) => daemon.engine = Some(handle),
            Err(e) => {
                daemon.stop_all();
                return Err(anyhow::Error::new(e).context("cannot start the engine thread"));
            }
        }
        // The engine handles live events while it catches up with the shares; the daemon is
        // ready once it has.
        let failed = match caught_up.recv() {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(anyhow::anyhow!(e)),
            Err(_) => Some(anyhow::anyhow!(
                "the engine stopped before it caught up with the shares"
            )),
        };
        if let Some(e) = failed {
            daemon.stop_all();
            return Err(e);
        }
        Ok(daemon)
    }

    pub fn mailbox(&self, webhook: u32) -> Option<Arc<Mailbox>> {
        self.hooks.mailbox(webhook)
    }

    /// True while the engine goes round (it does at least twice a second).
    pub fn alive(&self) -> bool {
        now_ms() - self.heartbeat.load(Ordering::Relaxed) < 30_000
    }

    /// Stops everything, however long an attempt in flight takes: a start that failed half
    /// way must leave no worker behind, since the running configuration (after a failed
    /// reload) or the next start then starts one again, and a webhook never has two.
    fn stop_all(&mut self) {
        while !self.stop(Duration::from_secs(5)) {}
    }

    /// Stops watching (what is held but not yet reported is found again by the next start's
    /// reconcile), lets each worker finish the attempt it is making (waiting at most `grace`
    /// in all), then returns whether everything has stopped. What has not is kept, so a later
    /// call waits for it again.
    pub fn stop(&mut self, grace: Duration) -> bool {
        let deadline = Instant::now() + grace;
        self.stop.store(true, Ordering::SeqCst);
        if let Some(engine) = self.engine.take() {
            self.engine = join_until(engine, deadline, "the engine");
        }
        let workers = self
            .hooks
            .stop(deadline.saturating_duration_since(Instant::now()));
        self.engine.is_none() && workers
    }
}

/// Joins `handle` unless it is still running at `deadline`; then it is handed back.
pub(crate) fn join_until(
    handle: JoinHandle<()>,
    deadline: Instant,
    what: &str,
) -> Option<JoinHandle<()>> {
    while !handle.is_finished() {
        if Instant::now() >= deadline {
            log::warn!(
                "{what} did not finish in time; its work is kept in the state and resumes at the next start"
            );
            return Some(handle);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if handle.join().is_err() {
        log::error!("{what} ended with a panic");
    }
    None
}

/// Raises this process's soft limit on open files to its hard limit: folder reads, inotify,
/// the state, connections to receivers and the control socket all take descriptors, and the
/// usual soft limit (1024) is set low for programs that use `select`, which sharehook does not.
pub fn raise_open_files_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write one rlimit on this stack frame.
    let raised = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return;
        }
        if limit.rlim_cur >= limit.rlim_max {
            return;
        }
        let soft = limit.rlim_cur;
        limit.rlim_cur = limit.rlim_max;
        (libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0).then_some(soft)
    };
    match raised {
        Some(soft) => log::debug!("open files limit raised from {soft} to {}", limit.rlim_max),
        None => log::warn!(
            "cannot raise the open files limit to {}: {}",
            limit.rlim_max,
            std::io::Error::last_os_error()
        ),
    }
}

/// Threads for the blocking work of requests (reads and writes of the state and the shares):
/// a burst of requests waits its turn instead of growing the process.
pub const BLOCKING_THREADS: usize = 32;

/// The runtime the daemon's servers run on: one thread for every socket, and at most
/// `BLOCKING_THREADS` for the work behind the requests.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(BLOCKING_THREADS)
        .build()
}

#[cfg(test)]
mod tests {
    //! Fault injection: the state on a storage backend that can be told to fail every write,
    //! as a full disk does, under a real daemon watching a real folder and delivering to a
    //! real HTTP receiver.

    use std::sync::atomic::AtomicBool;

    use redb::StorageBackend;
    use redb::backends::FileBackend;

    use super::*;
    use crate::config::WatchMode;
    use crate::core::retry::Schedule;

    /// A file backend whose writes fail with "No space left on device" while `full` is set.
    #[derive(Debug)]
    struct FullDisk {
        inner: FileBackend,
        full: Arc<AtomicBool>,
    }

    impl FullDisk {
        fn check(&self) -> std::io::Result<()> {
            if self.full.load(Ordering::SeqCst) {
                Err(std::io::Error::from_raw_os_error(libc::ENOSPC))
            } else {
                Ok(())
            }
        }
    }

    type Bound = std::ops::Bound<u64>;

    impl StorageBackend for FullDisk {
        fn len(&self) -> std::io::Result<u64> {
            self.inner.len()
        }
        fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
            self.inner.read(offset, out)
        }
        fn set_len(&self, len: u64) -> std::io::Result<()> {
            self.check()?;
            self.inner.set_len(len)
        }
        fn sync_data(&self) -> std::io::Result<()> {
            self.check()?;
            self.inner.sync_data()
        }
        fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
            self.check()?;
            self.inner.write(offset, data)
        }
        fn close(&self) -> std::io::Result<()> {
            self.inner.close()
        }
        fn try_lock_range(&self, a: Bound, b: Bound) -> Result<bool, redb::BackendError> {
            self.inner.try_lock_range(a, b)
        }
        fn try_lock_shared_range(&self, a: Bound, b: Bound) -> Result<bool, redb::BackendError> {
            self.inner.try_lock_shared_range(a, b)
        }
        fn lock_range(&self, a: Bound, b: Bound) -> Result<(), redb::BackendError> {
            self.inner.lock_range(a, b)
        }
        fn lock_shared_range(&self, a: Bound, b: Bound) -> Result<(), redb::BackendError> {
            self.inner.lock_shared_range(a, b)
        }
        fn unlock_range(&self, a: Bound, b: Bound) -> Result<(), redb::BackendError> {
            self.inner.unlock_range(a, b)
        }
        fn query_lock_range(&self, a: Bound, b: Bound) -> Result<bool, redb::BackendError> {
            self.inner.query_lock_range(a, b)
        }
    }

    fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ok() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    #[test]
    fn a_full_disk_loses_nothing_and_the_daemon_recovers_by_itself() {
        let dir = tempfile::tempdir().unwrap();
        let share = dir.path().join("share");
        std::fs::create_dir(&share).unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir(&state).unwrap();
        let (url, got) = crate::bench::loopback_receiver().unwrap();
        let mut config = Config::one_share("t", &share.canonicalize().unwrap(), &state, &url);
        config.shares[0].watch = WatchMode::Inotify;
        config.delivery.schedule = Schedule::new(vec![Duration::ZERO, Duration::from_millis(300)]);
        config.watch.settle = Duration::from_millis(100);
        let full = Arc::new(AtomicBool::new(false));
        let path = state.join(crate::store::FILE_NAME);
        std::fs::File::create(&path).unwrap();
        let (p, f) = (path.clone(), Arc::clone(&full));
        let opener: crate::store::Opener = Box::new(move || {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&p)?;
            let inner = FileBackend::new(file).map_err(|e| std::io::Error::other(e.to_string()))?;
            Ok(Box::new(FullDisk {
                inner,
                full: Arc::clone(&f),
            }) as Box<dyn StorageBackend>)
        });
        let store = Arc::new(Store::open_with(path, opener).unwrap());
        let mut daemon = Daemon::start_with(&config, store).unwrap();
        // "Operation /path" of each v1 body received.
        let has = |what: &str| {
            got.lock().unwrap().arrivals.iter().any(|(body, _)| {
                let v: serde_json::Value = serde_json::from_slice(body).unwrap();
                format!(
                    "{} {}",
                    v["operation"].as_str().unwrap(),
                    v["path"].as_str().unwrap()
                ) == what
            })
        };

        std::fs::write(share.join("before.txt"), "1").unwrap();
        wait_until("the first upload", || has("Upload /before.txt"));

        // The disk fills: nothing can be recorded, but people keep working.
        full.store(true, Ordering::SeqCst);
        std::fs::write(share.join("during.txt"), "2").unwrap();
        std::fs::create_dir(share.join("folder")).unwrap();
        std::fs::write(share.join("folder/inside.txt"), "3").unwrap();
        std::fs::remove_file(share.join("before.txt")).unwrap();
        std::thread::sleep(Duration::from_millis(2500));
        assert!(
            !has("Upload /during.txt"),
            "nothing is sent before it is recorded"
        );
        assert!(daemon.alive(), "the daemon keeps going");

        // Space again: the daemon notices by itself, and reports what changed meanwhile.
        full.store(false, Ordering::SeqCst);
        for what in [
            "Upload /during.txt",
            "Create Folder /folder",
            "Upload /folder/inside.txt",
            "Delete /before.txt",
        ] {
            wait_until(what, || has(what));
        }
        // And it goes on as before.
        std::fs::write(share.join("after.txt"), "4").unwrap();
        wait_until("an upload after recovery", || has("Upload /after.txt"));
        daemon.stop(Duration::from_secs(5));
    }
}
