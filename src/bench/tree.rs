//! `sharehook bench --tree FOLDERS,FILES`: the engine on a big share, against `find` reading
//! the same tree in the same run.
//!
//! It builds (once, then reuses) a tree on a disk: FOLDERS folders of FILES files each, grouped
//! a thousand folders to a parent folder. Then it runs the real daemon as a child process on
//! it, with a loopback receiver, and prints:
//! - the first start (the index built), until the daemon says it is ready;
//! - the catch-up of a restart that finds one change;
//! - a full safety rescan, from its first log line to its last;
//! - the daemon's peak resident memory in each run (`VmHWM`);
//! - how long a file written at the share's top during the catch-up, and during the rescan,
//!   took to reach the receiver.
//!
//! The baseline is `find SHARE -printf '%i %s %T@\n'` with a warm cache: it reads every
//! folder and stats every entry, which is the least a reconcile does.
//!
//! `SHAREHOOK_BENCH_DAEMON=PATH` runs another build of sharehook as the daemon, for a before
//! and after measured in one sitting.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::bench::{Seen, loopback_receiver, path_of, status_field};

/// Folders per parent folder.
const GROUP: usize = 1000;
/// The quiet period the daemon runs with.
const SETTLE_MS: u64 = 100;
/// The safety rescan's interval in the benchmark's configuration.
const RESCAN_SECS: u64 = 20;
/// How long any one step may take before the benchmark gives up.
const STEP_LIMIT: Duration = Duration::from_secs(1800);
/// `statfs` magic of tmpfs.
const TMPFS_MAGIC: i64 = 0x0102_1994;

/// The size of the tree: `folders` folders of `files` files each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeSize {
    pub folders: usize,
    pub files: usize,
}

impl std::str::FromStr for TreeSize {
    type Err = String;

    fn from_str(s: &str) -> Result<TreeSize, String> {
        let bad = || format!("--tree wants FOLDERS,FILES (folders, and files in each), not {s:?}");
        let (a, b) = s.split_once(',').ok_or_else(bad)?;
        let folders: usize = a.trim().replace('_', "").parse().map_err(|_| bad())?;
        let files: usize = b.trim().replace('_', "").parse().map_err(|_| bad())?;
        if folders == 0 || folders > 10_000_000 || files > 100_000 {
            return Err(format!(
                "--tree {s}: FOLDERS is from 1 to 10,000,000 and FILES at most 100,000"
            ));
        }
        Ok(TreeSize { folders, files })
    }
}

impl TreeSize {
    fn groups(self) -> usize {
        self.folders.div_ceil(GROUP)
    }

    /// Entries below the share's top: the group folders, the folders and the files.
    fn entries(self) -> usize {
        self.groups() + self.folders + self.folders * self.files
    }

    fn folder(self, share: &Path, i: usize) -> PathBuf {
        share.join(format!("g{:04}/d{:07}", i / GROUP, i))
    }
}

/// One line of the daemon's log, and when it was read.
pub(crate) struct Line {
    pub at: Instant,
    text: String,
}

/// The daemon as a child process, its log read line by line on a thread.
pub(crate) struct Daemon {
    child: Child,
    lines: Receiver<Line>,
    pub started: Instant,
    /// Every line read so far, for the message of a step that fails.
    log: Vec<String>,
}

impl Daemon {
    pub fn start(config: &Path) -> anyhow::Result<Daemon> {
        // Another build can be measured in the same run, for a before and after.
        let exe = match std::env::var_os("SHAREHOOK_BENCH_DAEMON") {
            Some(other) => PathBuf::from(other),
            None => std::env::current_exe().context("cannot find this program's own path")?,
        };
        let started = Instant::now();
        let mut child = Command::new(exe)
            .arg("run")
            .arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start the daemon")?;
        let stderr = child.stderr.take().expect("piped");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for text in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx
                    .send(Line {
                        at: Instant::now(),
                        text,
                    })
                    .is_err()
                {
                    return;
                }
            }
        });
        Ok(Daemon {
            child,
            lines,
            started,
            log: Vec::new(),
        })
    }

    /// Waits for a line containing `needle`; returns when it was read.
    pub fn wait_for(&mut self, needle: &str) -> anyhow::Result<Line> {
        let deadline = Instant::now() + STEP_LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.log.push(line.text.clone());
                    if line.text.contains(needle) {
                        return Ok(line);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    bail!(
                        "the daemon did not say {needle:?} in time; its log:\n{}",
                        self.tail()
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait()?;
                    bail!(
                        "the daemon ended ({status}) before saying {needle:?}; its log:\n{}",
                        self.tail()
                    )
                }
            }
        }
    }

    fn tail(&self) -> String {
        let from = self.log.len().saturating_sub(30);
        self.log[from..].join("\n")
    }

    /// The daemon's peak resident memory so far, in KiB.
    pub fn peak_kb(&self) -> Option<u64> {
        status_field(&self.child.id().to_string(), "VmHWM:")
    }

    /// The inotify watches the daemon holds, read from its descriptors' `fdinfo`.
    fn watches(&self) -> Option<u64> {
        let pid = self.child.id();
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
        let mut total = None;
        for fd in fds.flatten() {
            let target = std::fs::read_link(fd.path()).unwrap_or_default();
            if target.as_os_str() != "anon_inode:inotify" {
                continue;
            }
            let info = std::fs::read_to_string(format!(
                "/proc/{pid}/fdinfo/{}",
                fd.file_name().to_string_lossy()
            ))
            .ok()?;
            let n = info
                .lines()
                .filter(|l| l.starts_with("inotify wd:"))
                .count() as u64;
            *total.get_or_insert(0) += n;
        }
        total
    }

    pub fn threads(&self) -> Option<u64> {
        status_field(&self.child.id().to_string(), "Threads:")
    }

    pub fn stop(mut self) -> anyhow::Result<()> {
        // SAFETY: kill sends a signal to the child this process started.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let status = self.child.wait()?;
        if !status.success() {
            bail!(
                "the daemon stopped with {status}; its log:\n{}",
                self.tail()
            );
        }
        Ok(())
    }
}

/// Waits until the receiver has a webhook for `path`; returns when it arrived.
fn arrival(seen: &Mutex<Seen>, path: &str) -> anyhow::Result<Instant> {
    let deadline = Instant::now() + STEP_LIMIT;
    while Instant::now() < deadline {
        {
            let seen = seen.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((_, at)) = seen.arrivals.iter().find(|(b, _)| path_of(b) == path) {
                return Ok(*at);
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    bail!("no webhook for {path} arrived")
}

/// Writes a small file; returns when it was closed.
fn write_file(path: &Path) -> anyhow::Result<Instant> {
    let mut f = std::fs::File::create(path).with_context(|| format!("{}", path.display()))?;
    f.write_all(b"sharehook bench\n")?;
    drop(f);
    Ok(Instant::now())
}

fn on_tmpfs(path: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: statfs writes the one struct it is given; the path is a valid C string.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    (unsafe { libc::statfs(c.as_ptr(), &mut fs) } == 0) && fs.f_type as i64 == TMPFS_MAGIC
}

/// Builds the tree at `share` (two threads), unless a complete one is there already.
fn build(share: &Path, size: TreeSize, done_mark: &Path) -> anyhow::Result<()> {
    if done_mark.exists() {
        println!(
            "tree: reusing {} (remove it and {} to build it again)",
            share.display(),
            done_mark.display()
        );
        return Ok(());
    }
    let _ = std::fs::remove_dir_all(share);
    std::fs::create_dir_all(share).with_context(|| format!("{}", share.display()))?;
    let started = Instant::now();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || -> anyhow::Result<()> {
                    for i in (t..size.folders).step_by(threads) {
                        let folder = size.folder(share, i);
                        std::fs::create_dir_all(&folder)
                            .with_context(|| format!("{}", folder.display()))?;
                        for f in 0..size.files {
                            let file = folder.join(format!("f{f:05}.dat"));
                            std::fs::write(&file, format!("{i} {f}\n"))
                                .with_context(|| format!("{}", file.display()))?;
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        for w in workers {
            w.join().expect("a tree builder panicked")?;
        }
        Ok(())
    })?;
    std::fs::write(done_mark, format!("{size:?}\n"))?;
    println!(
        "tree: built {} in {:.1} s (kept for the next run; remove {} and {} when done)",
        share.display(),
        started.elapsed().as_secs_f64(),
        share.display(),
        done_mark.display()
    );
    Ok(())
}

/// The time `find` takes to read the tree and stat every entry, its output thrown away.
fn find_secs(share: &Path) -> anyhow::Result<f64> {
    let started = Instant::now();
    let status = Command::new("find")
        .arg(share)
        .args(["-printf", "%i %s %T@\\n"])
        .stdout(Stdio::null())
        .status()
        .context("cannot run find (Debian's package findutils)")?;
    if !status.success() {
        bail!("find {} failed: {status}", share.display());
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Removes what a run added to the tree, so that the next run finds it as built.
fn tidy(extra: &[PathBuf]) {
    for p in extra {
        let _ = std::fs::remove_file(p);
    }
}

pub fn run(size: TreeSize, base: Option<PathBuf>) -> anyhow::Result<()> {
    let base = base.unwrap_or_else(|| PathBuf::from("/var/tmp"));
    std::fs::create_dir_all(&base).with_context(|| format!("{}", base.display()))?;
    if on_tmpfs(&base) {
        bail!(
            "{} is a tmpfs (memory, not a disk); give a folder on a disk with --dir PATH",
            base.display()
        );
    }
    let name = format!("sharehook-tree-{}x{}", size.folders, size.files);
    let share = base.join(&name);
    let done_mark = base.join(format!("{name}.done"));
    println!(
        "sharehook bench --tree {},{}: {} folders of {} files, {} entries, in {}",
        size.folders,
        size.files,
        size.folders,
        size.files,
        size.entries(),
        share.display()
    );
    build(&share, size, &done_mark)?;
    let share = share
        .canonicalize()
        .with_context(|| format!("{}", share.display()))?;
    let live = share.join("live-catchup.dat");
    let live_rescan = share.join("live-rescan.dat");
    let change = size.folder(&share, size.folders / 2).join("change.dat");
    let extra = [live.clone(), live_rescan.clone(), change.clone()];
    tidy(&extra);
    if let Some(limit) = crate::watch::watch_limit()
        && (limit as usize) < size.folders + size.groups() + 1
    {
        println!(
            "note: fs.inotify.max_user_watches is {limit}, below the {} folders: the rest are \
             polled (sysctl fs.inotify.max_user_watches=N raises it)",
            size.folders + size.groups() + 1
        );
    }

    // The baseline: a warm-up, then the better of two runs.
    find_secs(&share)?;
    let find = find_secs(&share)?.min(find_secs(&share)?);
    println!(
        "find {} -printf '%i %s %T@\\n', warm cache: {find:.2} s",
        share.display()
    );

    let work = crate::bench::tempdir(&base)?;
    let outcome = measure(&share, &work, &live, &live_rescan, &change);
    tidy(&extra);
    let _ = std::fs::remove_dir_all(&work);
    let m = outcome?;

    let ratio = |s: f64| format!("{:.2}", s / find);
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    let mib = |kb: u64| kb as f64 / 1024.0;
    println!();
    println!(
        "{:<44} {:>10} {:>9} {:>6}  target",
        "figure", "sharehook", "find", "ratio"
    );
    let row = |what: &str, secs: f64, target: &str| {
        println!(
            "{what:<44} {:>9.2}s {find:>8.2}s {:>6}  {target}",
            secs,
            ratio(secs)
        );
    };
    row(
        "first start (index built, until ready)",
        m.first_secs,
        &format!("<= 1.2 x find: {}", verdict(m.first_secs <= 1.2 * find)),
    );
    row(
        "restart catch-up (1 change, until ready)",
        m.catchup_secs,
        &format!("<= 1.2 x find: {}", verdict(m.catchup_secs <= 1.2 * find)),
    );
    row("full safety rescan", m.rescan_secs, "");
    let peak = m.first_peak_kb.max(m.catchup_peak_kb);
    println!(
        "{:<44} {:>7.1}MiB {:>9} {:>6}  <= 32 MiB: {} (first start {:.1} MiB, catch-up {:.1} MiB)",
        "peak memory",
        mib(peak),
        "",
        "",
        verdict(mib(peak) <= 32.0),
        mib(m.first_peak_kb),
        mib(m.catchup_peak_kb)
    );
    let budget = (SETTLE_MS + 100) as f64 / 1000.0;
    for (what, secs) in [
        ("live event during the catch-up", m.live_catchup_secs),
        ("live event during the safety rescan", m.live_rescan_secs),
    ] {
        println!(
            "{what:<44} {:>9.3}s {:>9} {:>6}  <= settle {SETTLE_MS} ms + 100 ms: {}",
            secs,
            "",
            "",
            verdict(secs <= budget)
        );
    }
    println!(
        "{:<44} {:>9.3}s {:>9} {:>6}  (no reconcile running; the floor of the two above)",
        "live event when idle", m.live_idle_secs, "", ""
    );
    println!(
        "folders watched: {}; daemon threads: {}",
        m.watched
            .map_or_else(|| "unknown".to_owned(), |w| w.to_string()),
        m.threads
            .map_or_else(|| "unknown".to_owned(), |t| t.to_string())
    );
    Ok(())
}

struct Measured {
    first_secs: f64,
    catchup_secs: f64,
    rescan_secs: f64,
    first_peak_kb: u64,
    catchup_peak_kb: u64,
    live_catchup_secs: f64,
    live_rescan_secs: f64,
    live_idle_secs: f64,
    watched: Option<u64>,
    threads: Option<u64>,
}

fn measure(
    share: &Path,
    work: &Path,
    live: &Path,
    live_rescan: &Path,
    change: &Path,
) -> anyhow::Result<Measured> {
    let (url, seen) = loopback_receiver()?;
    let config = work.join("sharehook.toml");
    let state = work.join("state");
    let write_config = |rescan_secs: u64| {
        std::fs::write(
            &config,
            format!(
                "account_name = \"bench\"\nstate_dir = \"{state}\"\n\n\
                 [[share]]\nname = \"tree\"\npath = \"{share}\"\nprotocol = \"smb\"\nwatch = \"inotify\"\n\n\
                 [[webhook]]\nurl = \"{url}\"\n\n\
                 [delivery]\nretry_delays = [0, 1]\n\n\
                 [web]\nlisten = []\n\n\
                 [watch]\nsettle_ms = {SETTLE_MS}\nrescan_interval = {rescan_secs}\n",
                state = state.display(),
                share = share.display(),
            ),
        )
    };

    // The first start: the whole tree indexed, nothing reported.
    write_config(0)?;
    let mut daemon = Daemon::start(&config)?;
    let ready = daemon.wait_for("ready")?;
    let first_secs = ready.at.duration_since(daemon.started).as_secs_f64();
    let first_peak_kb = daemon.peak_kb().unwrap_or(0);
    println!("first start: ready in {first_secs:.2} s");
    let idle = share.join("live-idle.dat");
    let written = write_file(&idle)?;
    let live_idle_secs = arrival(&seen, "/live-idle.dat")?
        .duration_since(written)
        .as_secs_f64();
    let _ = std::fs::remove_file(&idle);
    daemon.wait_for("Delete /live-idle.dat")?;
    daemon.stop()?;

    // The restart: one change made while stopped, one file written during the catch-up.
    write_file(change)?;
    write_config(RESCAN_SECS)?;
    let mut daemon = Daemon::start(&config)?;
    daemon.wait_for("next event id")?;
    std::thread::sleep(Duration::from_secs_f64(first_secs / 4.0));
    let live_written = write_file(live)?;
    let ready = daemon.wait_for("ready")?;
    let catchup_secs = ready.at.duration_since(daemon.started).as_secs_f64();
    if ready.at < live_written {
        println!(
            "note: the catch-up ended before the live file was written; its latency is that of \
             an idle daemon"
        );
    }
    println!("restart: caught up in {catchup_secs:.2} s");
    let changed = format!(
        "/{}",
        change
            .strip_prefix(share)
            .expect("inside the share")
            .display()
    );
    arrival(&seen, &changed)?;
    let live_catchup_secs = arrival(&seen, "/live-catchup.dat")?
        .duration_since(live_written)
        .as_secs_f64();
    let catchup_peak_kb = daemon.peak_kb().unwrap_or(0);
    let watched = daemon.watches();

    // A full safety rescan, with a file written as it starts.
    let began = daemon.wait_for("safety rescan of every share")?;
    let written = write_file(live_rescan)?;
    let ended = daemon.wait_for("safety rescan of share tree done")?;
    let rescan_secs = ended.at.duration_since(began.at).as_secs_f64();
    let live_rescan_secs = arrival(&seen, "/live-rescan.dat")?
        .duration_since(written)
        .as_secs_f64();
    println!("safety rescan: {rescan_secs:.2} s");
    let catchup_peak_kb = catchup_peak_kb.max(daemon.peak_kb().unwrap_or(0));
    let threads = daemon.threads();
    daemon.stop()?;
    Ok(Measured {
        first_secs,
        catchup_secs,
        rescan_secs,
        first_peak_kb,
        catchup_peak_kb,
        live_catchup_secs,
        live_rescan_secs,
        live_idle_secs,
        watched,
        threads,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_sizes_read_as_folders_and_files() {
        let size: TreeSize = "100_000,10".parse().unwrap();
        assert_eq!(size.entries(), 1_100_100);
        assert_eq!(
            size.folder(Path::new("/t"), 12_345),
            Path::new("/t/g0012/d0012345")
        );
        for bad in ["", "10", "a,b", "0,1", "1,1000000"] {
            assert!(bad.parse::<TreeSize>().is_err(), "{bad}");
        }
    }
}
