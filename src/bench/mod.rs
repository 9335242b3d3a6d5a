//! `sharehook bench`: how fast delivery is on this machine, against a baseline measured in the
//! same run. A loopback receiver (one thread per connection, answering 200 at once) takes
//! (1) plain sequential POSTs from the same HTTP client sharehook uses, then (2) the webhooks
//! of files written to a temporary share watched by a full daemon (`settle_ms = 0`). It prints
//! both rates, their ratio, and the latency from each file's close to its webhook's arrival.
//!
//! Layer 8: uses the surfaces, the daemon and every layer below (see `lib.rs`).

pub mod api;
pub mod attribution;
pub mod brokers;
pub mod hooks;
pub mod tree;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::config::{Config, WatchMode, WatchSettings};
use crate::core::retry::Schedule;
use crate::daemon::Daemon;
use crate::deliver::send::{Client, ClientSettings};

/// What a loopback receiver saw: each body, and when it arrived.
#[derive(Default)]
pub struct Seen {
    pub arrivals: Vec<(Vec<u8>, Instant)>,
}

/// Starts a loopback HTTP receiver that answers 200 at once (one thread per connection);
/// returns its URL and what it sees.
pub fn loopback_receiver() -> anyhow::Result<(String, Arc<Mutex<Seen>>)> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot listen on loopback")?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let shared = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let seen = Arc::clone(&shared);
            std::thread::spawn(move || serve(stream, &seen));
        }
    });
    Ok((url, seen))
}

pub fn run(files: usize) -> anyhow::Result<()> {
    let files = files.max(10);
    let (url, seen) = loopback_receiver()?;
    println!("sharehook bench: {files} deliveries each way to a loopback receiver");

    // (1) The baseline: the same client, posting as fast as it can, one at a time.
    let client = Client::new(&ClientSettings {
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(30),
        policy: crate::core::netpolicy::AddressPolicy::default(),
        ca_file: None,
        credentials: None,
    })
    .map_err(anyhow::Error::msg)?;
    let raw_cpu_before = thread_cpu();
    let body = br#"{"accountname":"bench","username":"bench","operation":"Upload","protocol":"smb","path":"\/raw","sourcepath":"","attempt":1}"#;
    let started = Instant::now();
    for _ in 0..files {
        let outcome = client.post(&url, &[("X-Exavault-Signature", "0")], body);
        if !outcome.is_success() {
            bail!("the loopback receiver did not answer 200: {outcome}");
        }
    }
    let raw_secs = started.elapsed().as_secs_f64();
    let raw_cpu = cpu_used(&raw_cpu_before, &thread_cpu());
    let raw_rate = files as f64 / raw_secs;
    seen.lock()
        .unwrap_or_else(|p| p.into_inner())
        .arrivals
        .clear();

    // (2) sharehook: files written to a watched share, delivered by the daemon.
    // The share is on tmpfs when there is one, so that creating files (over a millisecond each
    // on some disks) is not what is measured; the state stays on the disk, as in real use.
    let dir = tempdir(&std::env::temp_dir())?;
    let fast = std::path::Path::new("/dev/shm");
    let share_dir = match tempdir(fast) {
        Ok(d) => d,
        Err(_) => dir.clone(),
    };
    let share = share_dir.join("share");
    std::fs::create_dir_all(&share)?;
    println!("share in {}, state in {}", share.display(), dir.display());
    let config = bench_config(&share, &dir.join("state"), &url);
    // The daemon's per-event and per-delivery lines would cost time and flood the terminal.
    let level = log::max_level();
    log::set_max_level(log::LevelFilter::Warn);
    let mut daemon = Daemon::start(&config)?;
    let cpu_before = thread_cpu();
    let burst = drop_files(&share, &seen, "f", files, Duration::ZERO, &mut |_| Ok(()))?;
    let cpu_after = thread_cpu();
    // (3) Latency when the daemon is not busy: files one at a time, 10 ms apart.
    let paced = drop_files(
        &share,
        &seen,
        "p",
        300,
        Duration::from_millis(10),
        &mut |_| Ok(()),
    )?;
    daemon.stop(Duration::from_secs(10));
    log::set_max_level(level);

    let sh_rate = files as f64 / burst.span_secs;
    let flowing_rate = (files - 1) as f64 / burst.flowing_secs;
    let verdict = |r: f64| if r >= 0.8 { "met" } else { "NOT met" };
    println!(
        "raw POST rate (same client, sequential):    {raw_rate:8.0} /s  ({files} in {raw_secs:.2} s)"
    );
    println!(
        "sharehook delivered rate, end to end:       {sh_rate:8.0} /s  (first file's close to last arrival: {:.2} s)",
        burst.span_secs
    );
    println!(
        "sharehook delivered rate, while delivering: {flowing_rate:8.0} /s  (first arrival to last: {:.2} s)",
        burst.flowing_secs
    );
    let (r1, r2) = (sh_rate / raw_rate, flowing_rate / raw_rate);
    println!(
        "ratio to raw: end to end {r1:.2}, while delivering {r2:.2}  (target >= 0.80: {}, {})",
        verdict(r1),
        verdict(r2)
    );
    println!(
        "latency from close to arrival, 300 files 10 ms apart: p50 {:.1} ms, p99 {:.1} ms",
        paced.percentile(0.5),
        paced.percentile(0.99)
    );
    println!(
        "latency from close to arrival in the burst (time queued included): p50 {:.0} ms, p99 {:.0} ms",
        burst.percentile(0.5),
        burst.percentile(0.99)
    );
    println!("CPU time in the baseline, by thread: {raw_cpu}");
    println!(
        "CPU time during the burst, by thread: {}",
        cpu_used(&cpu_before, &cpu_after)
    );
    if let Some(kb) = peak_rss_kb() {
        println!("peak resident memory of this process: {} MB", kb / 1024);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&share_dir);
    Ok(())
}

/// What one batch of files showed.
pub(crate) struct Run {
    /// From the first file's close to the last webhook's arrival.
    span_secs: f64,
    /// From the first webhook's arrival to the last one's.
    flowing_secs: f64,
    /// Close to arrival, in milliseconds, sorted.
    latencies: Vec<f64>,
}

impl Run {
    pub(crate) fn percentile(&self, p: f64) -> f64 {
        let i = ((self.latencies.len().saturating_sub(1)) as f64 * p).round() as usize;
        self.latencies.get(i).copied().unwrap_or(f64::NAN)
    }
}

/// Creates `n` files named `<prefix>NNNNNN.dat` in `share`, `gap` apart (calling `after` with
/// each one's path once it is closed), and waits until the receiver has a webhook for each.
pub(crate) fn drop_files(
    share: &std::path::Path,
    seen: &Mutex<Seen>,
    prefix: &str,
    n: usize,
    gap: Duration,
    after: &mut dyn FnMut(&std::path::Path) -> std::io::Result<()>,
) -> anyhow::Result<Run> {
    let before = seen
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .arrivals
        .len();
    let mut closed: HashMap<String, Instant> = HashMap::with_capacity(n);
    for i in 0..n {
        let name = format!("{prefix}{i:06}.dat");
        let path = share.join(&name);
        let mut f = std::fs::File::create(&path)?;
        f.write_all(b"sharehook bench\n")?;
        drop(f);
        closed.insert(format!("/{name}"), Instant::now());
        after(&path)?;
        if !gap.is_zero() {
            std::thread::sleep(gap);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    // Waits on the count, not the list, so that watching costs the receiver nothing; then
    // checks that every file arrived, so that a repeated delivery cannot pass for one.
    let arrivals = loop {
        let count = seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .arrivals
            .len();
        if count >= before + n {
            let got = seen.lock().unwrap_or_else(|p| p.into_inner()).arrivals[before..].to_vec();
            let paths: std::collections::HashSet<String> =
                got.iter().map(|(body, _)| path_of(body)).collect();
            if closed.keys().all(|k| paths.contains(k)) {
                if got.len() > n {
                    println!("{} deliveries were repeats", got.len() - n);
                }
                break got;
            }
        }
        if Instant::now() > deadline {
            bail!("not all {n} webhooks arrived within 300 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let first_close = closed.values().min().copied().unwrap_or_else(Instant::now);
    let first_arrival = arrivals
        .iter()
        .map(|(_, t)| *t)
        .min()
        .unwrap_or(first_close);
    let last_arrival = arrivals
        .iter()
        .map(|(_, t)| *t)
        .max()
        .unwrap_or(first_close);
    let mut latencies: Vec<f64> = arrivals
        .iter()
        .filter_map(|(body, t)| {
            closed
                .get(&path_of(body))
                .map(|c| t.saturating_duration_since(*c).as_secs_f64() * 1000.0)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    Ok(Run {
        span_secs: last_arrival.duration_since(first_close).as_secs_f64(),
        flowing_secs: last_arrival.duration_since(first_arrival).as_secs_f64(),
        latencies,
    })
}

pub(crate) fn bench_config(share: &std::path::Path, state: &std::path::Path, url: &str) -> Config {
    let mut config = Config::one_share("bench", share, state, url);
    config.shares[0].watch = WatchMode::Inotify;
    config.delivery.schedule = Schedule::new(vec![Duration::ZERO, Duration::from_secs(1)]);
    config.watch = WatchSettings {
        settle: Duration::ZERO,
        rescan_interval: None,
        ..WatchSettings::default()
    };
    config
}

/// Answers each request on `stream` with 200 and notes the body's `path`.
fn serve(stream: TcpStream, seen: &Mutex<Seen>) {
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut writer = stream;
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let at = Instant::now();
        seen.lock()
            .unwrap_or_else(|p| p.into_inner())
            .arrivals
            .push((body, at));
        if writer
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            .is_err()
        {
            return;
        }
    }
}

/// The `path` of a v1 body (whose paths here are plain ASCII, `/` written as `\/`), found
/// without parsing the JSON so that the receiver costs little beside what it measures.
pub fn path_of(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    text.split("\"path\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(|p| p.replace("\\/", "/"))
        .unwrap_or_default()
}

pub fn tempdir(base: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    let mut b = [0u8; 6];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("{e}"))?;
    let name: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let dir = base.join(format!("sharehook-bench-{name}"));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// CPU seconds used so far by this process's threads, summed by thread name (the receiver's
/// threads are all "sharehook"; the benchmark's own thread too).
fn thread_cpu() -> HashMap<String, f64> {
    let mut out = HashMap::new();
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ... utime stime: fields 14 and 15, counted after the ")".
        let Some((head, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let name = head.split_once(" (").map_or("?", |(_, n)| n).to_owned();
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let cpu: f64 = fields
            .get(11..13)
            .map(|f| f.iter().filter_map(|v| v.parse::<f64>().ok()).sum())
            .unwrap_or(0.0);
        *out.entry(name).or_insert(0.0) += cpu / ticks;
    }
    out
}

/// The CPU time each thread name used between two readings, most first.
fn cpu_used(before: &HashMap<String, f64>, after: &HashMap<String, f64>) -> String {
    let mut used: Vec<(&String, f64)> = after
        .iter()
        .map(|(name, t)| (name, t - before.get(name).copied().unwrap_or(0.0)))
        .filter(|(_, t)| *t >= 0.005)
        .collect();
    used.sort_by(|a, b| b.1.total_cmp(&a.1));
    let used: Vec<String> = used
        .iter()
        .map(|(name, t)| format!("{name} {:.0} ms", t * 1000.0))
        .collect();
    used.join(", ")
}

fn peak_rss_kb() -> Option<u64> {
    status_field("self", "VmHWM:")
}

/// A number field of `/proc/<pid>/status` (`pid` may be `self`): `VmHWM:` in kB, `Threads:`.
pub fn status_field(pid: &str, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
/// A line of /proc/self/status (`VmRSS:`, `VmHWM:`), in KiB.
pub fn rss_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
