//! Shared helpers: the sharehook binary under test, a real HTTP receiver, and waiting on
//! observable state with a deadline.
//!
//! `SHAREHOOK_BIN` picks another binary (e.g. the static aarch64 build) and `SHAREHOOK_RUNNER`
//! a program to run it with (e.g. `qemu-aarch64`).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

pub const TOKEN: &str = "efb7e0030e6cef1b45d3d74a67881a2b";

/// Deadlines are generous: under qemu the daemon runs several times slower.
pub fn patience() -> Duration {
    if std::env::var_os("SHAREHOOK_RUNNER").is_some() {
        Duration::from_secs(180)
    } else {
        Duration::from_secs(60)
    }
}

/// `d` stretched by how much slower this runner is than a native one (three times under
/// qemu), for limits on how long something may take.
pub fn scaled(d: Duration) -> Duration {
    d * (patience().as_secs() / 60) as u32
}

/// A `Command` that runs the sharehook binary under test.
pub fn sharehook() -> Command {
    let bin = std::env::var_os("SHAREHOOK_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_sharehook")));
    assert!(
        bin.exists(),
        "SHAREHOOK_BIN={} does not exist: build it first (cross/build.sh)",
        bin.display()
    );
    match std::env::var("SHAREHOOK_RUNNER") {
        Ok(runner) if !runner.is_empty() => {
            let found = Command::new("sh")
                .args(["-c", &format!("command -v {runner}")])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            assert!(
                found,
                "SHAREHOOK_RUNNER={runner} is not installed: apt-get install qemu-user"
            );
            let mut cmd = Command::new(runner);
            cmd.arg(bin);
            cmd
        }
        _ => Command::new(bin),
    }
}

/// Polls `f` until it gives `Some`, or panics naming `what` after `patience()`.
pub fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + patience();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// The user name the tests run as (owner of the files they make).
pub fn whoami() -> String {
    let out = Command::new("id").arg("-un").output().expect("id -un runs");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The md5 signature, computed here independently of sharehook's code.
pub fn md5_signature(token: &str, body: &[u8]) -> String {
    use md5::{Digest, Md5};
    let mut h = Md5::new();
    h.update(token.as_bytes());
    h.update(body);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------------------
// The receiver

#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    /// When it arrived.
    pub at: Instant,
    /// The status it was answered with.
    pub status: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }

    /// `(operation, path, sourcepath)` of a v1 body.
    pub fn op(&self) -> (String, String, String) {
        let j = self.json();
        let s = |k: &str| j[k].as_str().unwrap_or_default().to_owned();
        (s("operation"), s("path"), s("sourcepath"))
    }
}

struct Shared {
    got: Mutex<Vec<Received>>,
    cv: Condvar,
    delay: Mutex<Duration>,
    /// Scripted answers, used in turn before the default 200: a status line's code and
    /// reason, then any header lines (`"429 Too Many Requests\r\nRetry-After: 2"`), and how
    /// long to wait before answering.
    script: Mutex<std::collections::VecDeque<(String, Duration)>>,
    /// Connections accepted so far.
    connections: std::sync::atomic::AtomicUsize,
}

/// A real HTTP/1.1 server on loopback, written here with the standard library only, that
/// records every request and answers 200.
pub struct Receiver {
    pub port: u16,
    shared: Arc<Shared>,
}

impl Receiver {
    pub fn start() -> Receiver {
        Receiver::start_on(0)
    }

    pub fn start_on(port: u16) -> Receiver {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the receiver");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            got: Mutex::new(Vec::new()),
            cv: Condvar::new(),
            delay: Mutex::new(Duration::ZERO),
            script: Mutex::new(std::collections::VecDeque::new()),
            connections: std::sync::atomic::AtomicUsize::new(0),
        });
        let s = Arc::clone(&shared);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                s.connections.fetch_add(1, Ordering::SeqCst);
                let s = Arc::clone(&s);
                std::thread::spawn(move || serve(stream, &s));
            }
        });
        Receiver { port, shared }
    }

    /// A port with nothing listening on it (yet). It is taken below the kernel's range for
    /// port 0 and outgoing connections (`ip_local_port_range`), so another test's listener or
    /// connection cannot take it before this test uses it: only another `free_port` could, and
    /// each process walks its own stride through ten thousand ports.
    pub fn free_port() -> u16 {
        use std::sync::atomic::AtomicU32;
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|r| r.split_whitespace().next()?.parse::<u32>().ok())
            .unwrap_or(32768);
        if low >= 12_000 {
            let start = low - 11_000;
            let pid = std::process::id();
            for _ in 0..10_000 {
                let n = NEXT.fetch_add(1, Ordering::Relaxed);
                let port = start + (pid.wrapping_mul(7_919).wrapping_add(n * 4_999)) % 10_000;
                if TcpListener::bind(("127.0.0.1", port as u16)).is_ok() {
                    return port as u16;
                }
            }
        }
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// Each answer waits this long before it is sent.
    pub fn set_delay(&self, d: Duration) {
        *self.shared.delay.lock().unwrap() = d;
    }

    /// The next requests get these answers, in turn (see `Shared::script`).
    pub fn script(&self, answers: &[&str]) {
        self.script_slow(
            &answers
                .iter()
                .map(|a| (*a, Duration::ZERO))
                .collect::<Vec<_>>(),
        );
    }

    /// Like `script`, each answer sent after its wait.
    pub fn script_slow(&self, answers: &[(&str, Duration)]) {
        let mut script = self.shared.script.lock().unwrap();
        script.extend(answers.iter().map(|(a, d)| ((*a).to_owned(), *d)));
    }

    /// How many connections were made to it.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.got.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests have arrived; returns all of them.
    pub fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + patience();
        let mut got = self.shared.got.lock().unwrap();
        while got.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "timed out waiting for {n} webhooks; got {}: {:#?}",
                got.len(),
                ops(&got)
            );
            got = self.shared.cv.wait_timeout(got, left).unwrap().0;
        }
        got.clone()
    }
}

pub fn ops(got: &[Received]) -> Vec<(String, String, String)> {
    got.iter().map(Received::op).collect()
}

/// Waits until every file of `names` arrived, and checks they came in order. A delivery may
/// arrive twice only when the daemon was killed before it recorded it: at most `repeats` of
/// them, each a repeat of one that came before.
pub fn assert_uploads_in_order(
    receiver: &Receiver,
    names: &[String],
    repeats: usize,
) -> Vec<Received> {
    let first_seen = |got: &[Received]| {
        let mut seen: Vec<String> = Vec::new();
        for (op, p, _) in ops(got) {
            let item = format!("{op} {p}");
            if !seen.contains(&item) {
                seen.push(item);
            }
        }
        seen
    };
    let got = wait_for(&format!("all {} files", names.len()), || {
        let got = receiver.received();
        (first_seen(&got).len() >= names.len()).then_some(got)
    });
    let expected: Vec<String> = names.iter().map(|n| format!("Upload /{n}")).collect();
    assert_eq!(first_seen(&got), expected, "every file, in order");
    assert!(
        got.len() <= names.len() + repeats,
        "at most {repeats} deliveries may repeat; got {} deliveries of {} files",
        got.len(),
        names.len()
    );
    got
}

fn serve(stream: TcpStream, shared: &Shared) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let at = Instant::now();
        let scripted = shared.script.lock().unwrap().pop_front();
        let (answer, wait) =
            scripted.unwrap_or_else(|| ("200 OK".to_owned(), *shared.delay.lock().unwrap()));
        let status: u16 = answer[..3]
            .parse()
            .expect("a scripted answer starts with a status");
        {
            let mut got = shared.got.lock().unwrap();
            got.push(Received {
                method,
                path,
                headers,
                body,
                at,
                status,
            });
            shared.cv.notify_all();
        }
        std::thread::sleep(wait);
        let reply = format!("HTTP/1.1 {answer}\r\nContent-Length: 2\r\n\r\nok");
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The daemon

/// A temporary NAS: a share folder, a state folder and a config file.
pub struct Nas {
    pub dir: tempfile::TempDir,
}

impl Nas {
    pub fn new() -> Nas {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("share")).unwrap();
        Nas { dir }
    }

    pub fn share(&self) -> PathBuf {
        self.dir.path().join("share")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("sharehook.toml")
    }

    /// Writes a config with one share and one webhook to `url`; `delays` are retry delays.
    pub fn write_config(&self, url: &str, delays: &str) {
        self.write_config_with(url, delays, "", "");
    }

    /// The test configuration, with `share_lines` added to the share's table and
    /// `watch_lines` to `[watch]` (where the quiet period is 200 ms unless they say otherwise).
    pub fn write_config_with(&self, url: &str, delays: &str, share_lines: &str, watch_lines: &str) {
        let settle = if watch_lines.contains("settle_ms") {
            ""
        } else {
            "settle_ms = 200\n"
        };
        let text = format!(
            "account_name = \"testnas\"\nstate_dir = \"{state}\"\n\n[[share]]\nname = \"public\"\npath = \"{share}\"\nprotocol = \"nfs\"\n{share_lines}\n\
             [[webhook]]\nurl = \"{url}\"\ntoken = \"{TOKEN}\"\n\n[delivery]\nretry_delays = [{delays}]\n\n\
             [web]\nlisten = \"127.0.0.1:0\"\n\n[watch]\n{settle}{watch_lines}\n",
            state = self.dir.path().join("state").display(),
            share = self.share().display(),
        );
        std::fs::write(self.config_path(), text).unwrap();
    }

    /// A config with the test share, then `rest` as given (webhook, delivery and log tables),
    /// and a 200 ms quiet period.
    pub fn write_config_text(&self, rest: &str) {
        let web = if rest.contains("[web]") {
            ""
        } else {
            "[web]\nlisten = \"127.0.0.1:0\"\n"
        };
        let text = format!(
            "account_name = \"testnas\"\nstate_dir = \"{state}\"\n\n[[share]]\nname = \"public\"\npath = \"{share}\"\nprotocol = \"nfs\"\n\n\
             {rest}\n\n{web}\n[watch]\nsettle_ms = 200\n",
            state = self.dir.path().join("state").display(),
            share = self.share().display(),
        );
        std::fs::write(self.config_path(), text).unwrap();
    }

    /// Runs `sharehook ARGS --config <this config>`; returns its output.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        sharehook()
            .args(args)
            .arg("--config")
            .arg(self.config_path())
            .output()
            .expect("run sharehook")
    }

    /// Runs `sharehook ARGS --config <this config>`, expected to end by itself at once (a
    /// command refusing what it was given); one still running after 20 s (60 s under qemu: a `run` that took
    /// what it should have refused) is killed and the test fails.
    pub fn run_briefly(&self, args: &[&str]) -> std::process::Output {
        let mut child = sharehook()
            .args(args)
            .arg("--config")
            .arg(self.config_path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run sharehook");
        let deadline = Instant::now() + scaled(Duration::from_secs(20));
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                panic!(
                    "sharehook {args:?} did not refuse; it kept running:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().unwrap()
    }

    /// `sharehook log --json` as parsed entries, newest first.
    pub fn log_entries(&self, extra: &[&str]) -> Vec<serde_json::Value> {
        let mut args = vec!["log", "--json"];
        args.extend_from_slice(extra);
        let out = self.cli(&args);
        assert!(
            out.status.success(),
            "sharehook log failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
            .collect()
    }

    /// Starts `sharehook run` and waits until it tells systemd's protocol it is ready.
    pub fn start(&self) -> Daemon {
        self.start_with(sharehook())
    }

    /// Starts it in a user namespace of its own in which at most `watches` inotify watches
    /// may be added (the kernel's real limit, lowered for this process only).
    pub fn start_with_watch_limit(&self, watches: u32) -> Daemon {
        let inner = sharehook();
        let mut cmd = Command::new("unshare");
        cmd.args(["--user", "--map-root-user", "sh", "-c"])
            .arg(format!(
                "echo {watches} > /proc/sys/user/max_inotify_watches && exec \"$@\""
            ))
            .arg("sh")
            .arg(inner.get_program())
            .args(inner.get_args());
        self.start_with(cmd)
    }

    pub fn start_with(&self, mut command: Command) -> Daemon {
        let _starting = daemon_starting();
        let socket_path = self
            .dir
            .path()
            .join(format!("notify-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&socket_path);
        let socket = UnixDatagram::bind(&socket_path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let log_path = self.dir.path().join("daemon.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap();
        let child = command
            .arg("run")
            .arg("--config")
            .arg(self.config_path())
            .env("NOTIFY_SOCKET", &socket_path)
            // Ask for watchdog pings every 0.2 s (half the interval) so tests can see them.
            .env("WATCHDOG_USEC", "400000")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start sharehook");
        // Read the socket all the time, as systemd does: an unread socket fills up.
        let notified = Arc::new(Mutex::new(Vec::<String>::new()));
        let reading = Arc::new(AtomicBool::new(true));
        {
            let notified = Arc::clone(&notified);
            let reading = Arc::clone(&reading);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while reading.load(Ordering::SeqCst) {
                    if let Ok(n) = socket.recv(&mut buf) {
                        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                        notified
                            .lock()
                            .unwrap()
                            .extend(text.lines().map(str::to_owned));
                    }
                }
            });
        }
        let mut daemon = Daemon {
            child,
            log_path,
            notified,
            reading,
        };
        let deadline = Instant::now() + patience();
        loop {
            if daemon.notified().iter().any(|l| l == "READY=1") {
                return daemon;
            }
            std::thread::sleep(Duration::from_millis(20));
            if let Ok(Some(status)) = daemon.child.try_wait() {
                panic!(
                    "sharehook exited with {status} before it was ready:\n{}",
                    daemon.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "sharehook never said READY=1:\n{}",
                daemon.log()
            );
        }
    }
}

pub struct Daemon {
    pub child: Child,
    log_path: PathBuf,
    /// What the daemon said on its notify socket, as systemd would have read it.
    notified: Arc<Mutex<Vec<String>>>,
    reading: Arc<AtomicBool>,
}

impl Daemon {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The base URL of the daemon's web server (`http://127.0.0.1:PORT`), from its log.
    pub fn web_url(&self) -> String {
        self.wait_log("web: listening on ", 1);
        let log = self.log();
        let line = log
            .lines()
            .find_map(|l| l.split_once("web: listening on ").map(|(_, url)| url))
            .expect("the log names the web address");
        line.trim().to_owned()
    }

    /// Waits until the log has at least `n` lines containing `needle`.
    pub fn wait_log(&self, needle: &str, n: usize) {
        wait_for(&format!("{n} log lines with {needle:?}"), || {
            (self.log().matches(needle).count() >= n).then_some(())
        });
    }

    /// Every state line the daemon sent on its notify socket so far.
    pub fn notified(&self) -> Vec<String> {
        self.notified.lock().unwrap().clone()
    }

    /// Waits until the daemon has sent state line `line` (e.g. `WATCHDOG=1`) `n` times.
    pub fn wait_notify(&self, line: &str, n: usize) {
        wait_for(&format!("{n} x {line} on NOTIFY_SOCKET"), || {
            (self.notified().iter().filter(|l| *l == line).count() >= n).then_some(())
        });
    }

    pub fn signal(&self, sig: i32) {
        let pid = i32::try_from(self.child.id()).unwrap();
        // SAFETY: sending a signal to our own child process.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
    }

    pub fn kill9(mut self) {
        self.signal(libc::SIGKILL);
        self.child.wait().unwrap();
    }

    /// SIGTERM, then the exit status.
    pub fn stop(self) -> std::process::ExitStatus {
        self.signal(libc::SIGTERM);
        self.stop_status()
    }

    /// The exit status, once it has exited (after a signal sent before).
    pub fn stop_status(mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + patience();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for sharehook to exit; its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.reading.store(false, Ordering::SeqCst);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn write_file(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

/// Writes each of `names` in `dir`, one after another, from a separate shell process, the way
/// a file server writes them. The test process must not hold them open itself: a child it
/// forks meanwhile (another test starting a daemon) would inherit the handle until it execs,
/// and the kernel's close-after-write, and so the Upload, would come later than the next file's.
pub fn write_files_in_order(dir: &Path, names: &[String]) {
    let script = names
        .iter()
        .map(|n| format!("echo {n} > '{n}'"))
        .collect::<Vec<_>>()
        .join("\n");
    let status = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Where `program` is installed, if it is.
pub fn find_program(program: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.exists())
}

/// The path of a program this test needs, or a failure that says how to install it.
pub fn need(program: &str, package: &str) -> PathBuf {
    find_program(program).unwrap_or_else(|| {
        panic!("{program} is needed by this test and is not installed: apt-get install {package}")
    })
}

/// Runs `script` with `sh -e` in folder `dir` (a separate process, as a file server is).
pub fn sh(dir: &Path, script: &str) {
    let out = Command::new("sh")
        .arg("-ec")
        .arg(script)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Reads what a receiver got scenario by scenario: each `next` writes an end marker on the
/// share and returns exactly the operations that arrived before it (and after the last one).
pub struct Scenarios<'a> {
    receiver: &'a Receiver,
    share: PathBuf,
    seen: usize,
    markers: usize,
}

impl<'a> Scenarios<'a> {
    pub fn new(receiver: &'a Receiver, share: &Path) -> Scenarios<'a> {
        Scenarios {
            receiver,
            share: share.to_owned(),
            seen: 0,
            markers: 0,
        }
    }

    /// The `(operation, path, sourcepath)` list of the scenario that just ran: everything
    /// received since the last call, up to the end marker's Upload and through a quiet time
    /// after it (operations on different paths may pass each other: a Delete waits for a
    /// save's second half, a rescan runs on its own clock), without the marker.
    pub fn next(&mut self) -> Vec<(String, String, String)> {
        self.markers += 1;
        let marker = format!("end-{}", self.markers);
        sh(&self.share, &format!("echo . > {marker}"));
        let marker_path = format!("/{marker}");
        wait_for(&format!("the Upload of {marker}"), || {
            ops(&self.receiver.received()[self.seen..])
                .iter()
                .any(|(op, p, _)| op == "Upload" && *p == marker_path)
                .then_some(())
        });
        let quiet = if std::env::var_os("SHAREHOOK_RUNNER").is_some() {
            Duration::from_secs(4)
        } else {
            Duration::from_millis(1500)
        };
        let mut count = self.receiver.received().len();
        let mut since = Instant::now();
        while since.elapsed() < quiet {
            std::thread::sleep(Duration::from_millis(50));
            let now = self.receiver.received().len();
            if now != count {
                count = now;
                since = Instant::now();
            }
        }
        let got = self.receiver.received();
        let out = ops(&got[self.seen..])
            .into_iter()
            .filter(|(op, p, _)| !(op == "Upload" && *p == marker_path))
            .collect();
        self.seen = got.len();
        out
    }
}

/// `(operation, path, sourcepath)` triples from string slices, for comparisons.
pub fn expect(list: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    list.iter()
        .map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned()))
        .collect()
}

/// A real Samba server on a loopback port, serving `share` to guests as share "public".
pub struct Smbd {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
    /// The `full_audit:prefix` of an audited server (`sharehook setup samba`'s, with its
    /// secret), for sharehook's `samba_prefix`; empty otherwise.
    pub audit_prefix: String,
}

impl Smbd {
    pub fn start(share: &Path) -> Smbd {
        Smbd::start_with(
            share,
            "",
            "  map to guest = Bad User\n",
            "  guest ok = yes\n  force user = root\n",
            &[],
        )
    }

    /// A server whose share `public` records every change in Samba's `vfs_full_audit` log
    /// `audit` (with the lines `sharehook setup samba` prints), for `users` (name, password):
    /// system accounts that exist on any Debian (`daemon`, `bin`), given Samba passwords in
    /// this server's own password database. Each writes as itself, in a share all may change.
    /// It also listens on the host's address of each of `networks`.
    pub fn start_audited(
        share: &Path,
        audit: &Path,
        users: &[(&str, &str)],
        networks: &[&Netns],
    ) -> Smbd {
        let setup = sharehook()
            .args(["setup", "samba", "--audit-log"])
            .arg(audit)
            .output()
            .expect("run sharehook setup samba");
        assert!(
            setup.status.success(),
            "{}",
            String::from_utf8_lossy(&setup.stderr)
        );
        let text = String::from_utf8(setup.stdout).unwrap();
        let audit_prefix = text
            .lines()
            .find_map(|l| l.strip_prefix("#   samba_prefix = \""))
            .and_then(|rest| rest.strip_suffix('"'))
            .expect("setup samba prints the samba_prefix line")
            .to_owned();
        let (global, share_lines) = text
            .split_once("[your share]\n")
            .expect("setup samba prints a [global] part and a share part");
        let global: String = global
            .lines()
            .filter(|l| l.starts_with("  "))
            .map(|l| format!("{l}\n"))
            .collect();
        let mut mode = std::fs::metadata(share).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut mode, 0o777);
        std::fs::set_permissions(share, mode).unwrap();
        let share_lines = format!("{share_lines}  create mask = 0666\n  directory mask = 0777\n");
        let hosts: Vec<&str> = networks.iter().map(|n| n.host.as_str()).collect();
        let mut smbd = Smbd::start_with(share, &global, "", &share_lines, &hosts);
        smbd.audit_prefix = audit_prefix;
        let smbpasswd = need("smbpasswd", "samba-common-bin");
        for (user, password) in users {
            let mut child = Command::new(&smbpasswd)
                .args(["-c"])
                .arg(smbd.dir.path().join("smb.conf"))
                .args(["-s", "-a", user])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write as _;
            write!(child.stdin.take().unwrap(), "{password}\n{password}\n").unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "smbpasswd -a {user}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        smbd
    }

    fn start_with(
        share: &Path,
        global_lines: &str,
        guests: &str,
        share_lines: &str,
        hosts: &[&str],
    ) -> Smbd {
        let smbd = need("smbd", "samba");
        need("smbclient", "smbclient");
        let dir = tempfile::tempdir().unwrap();
        let port = Receiver::free_port();
        let d = dir.path().display();
        for sub in ["private", "lock", "state", "cache", "pid"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let conf = format!(
            "[global]\n  server role = standalone server\n  smb ports = {port}\n  interfaces = 127.0.0.1 {hosts}\n  \
             bind interfaces only = yes\n  private dir = {d}/private\n  lock directory = {d}/lock\n  \
             state directory = {d}/state\n  cache directory = {d}/cache\n  pid directory = {d}/pid\n  \
             ncalrpc dir = {d}/lock/ncalrpc\n  log file = {d}/log\n  passdb backend = tdbsam:{d}/private/passdb.tdb\n{guests}  \
             load printers = no\n  printing = bsd\n  printcap name = /dev/null\n  disable spoolss = yes\n  \
             server min protocol = SMB2\n{global_lines}[public]\n  path = {share}\n  read only = no\n{share_lines}",
            share = share.display(),
            hosts = hosts.join(" ")
        );
        std::fs::write(dir.path().join("smb.conf"), conf).unwrap();
        let child = Command::new(smbd)
            .args(["--foreground", "--no-process-group", "-s"])
            .arg(dir.path().join("smb.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let smbd = Smbd {
            child,
            port,
            dir,
            audit_prefix: String::new(),
        };
        wait_for("smbd to listen", || {
            TcpStream::connect(("127.0.0.1", port)).ok()
        });
        smbd
    }

    /// Runs smbclient commands (`put a b; mkdir c`) against the share, from folder `cwd`.
    pub fn client(&self, cwd: &Path, commands: &str) {
        self.client_as(None, cwd, commands);
    }

    /// `client` signed in as `user` (name, password), or as a guest.
    pub fn client_as(&self, user: Option<(&str, &str)>, cwd: &Path, commands: &str) {
        self.client_from(None, user, cwd, commands);
    }

    /// `client_as`, run in network namespace `network` (the client has its address there) or
    /// on this host.
    pub fn client_from(
        &self,
        network: Option<&Netns>,
        user: Option<(&str, &str)>,
        cwd: &Path,
        commands: &str,
    ) {
        let credentials = match user {
            Some((name, password)) => vec!["-U".to_owned(), format!("{name}%{password}")],
            None => vec!["-N".to_owned()],
        };
        let mut command = match network {
            Some(n) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", &n.name, "smbclient"])
                    .arg(format!("//{}/public", n.host));
                c
            }
            None => {
                let mut c = Command::new("smbclient");
                c.arg("//127.0.0.1/public");
                c
            }
        };
        let out = command
            .args(&credentials)
            .args(["-p", &self.port.to_string(), "-s"])
            .arg(self.dir.path().join("smb.conf"))
            .args(["-c", commands])
            .current_dir(cwd)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && !text.contains("NT_STATUS_"),
            "smbclient -c {commands:?} failed:\n{text}"
        );
    }
}

/// A network namespace joined to this host by a veth pair: the host has `host`, a process run
/// in it (`ip netns exec`) has `client`, both in 198.18.0.0/15. Removed when dropped.
pub struct Netns {
    pub name: String,
    veth: String,
    pub host: String,
    pub client: String,
}

impl Netns {
    /// Namespace number `n` of this test process (each gets 198.18.`n`.0/30).
    pub fn new(n: u8) -> Netns {
        let ip = need("ip", "iproute2");
        let tag = std::process::id() % 100_000;
        let name = format!("shk{tag}n{n}");
        let veth = format!("shk{tag}v{n}");
        let (host, client) = (format!("198.18.{n}.1"), format!("198.18.{n}.2"));
        let run = |args: &[&str]| {
            let out = Command::new(&ip).args(args).output().unwrap();
            assert!(
                out.status.success(),
                "ip {}: {} (network namespaces need root and iproute2)",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let peer = format!("{veth}p");
        run(&["netns", "add", &name]);
        let netns = Netns {
            name: name.clone(),
            veth: veth.clone(),
            host: host.clone(),
            client: client.clone(),
        };
        run(&["link", "add", &veth, "type", "veth", "peer", "name", &peer]);
        run(&["link", "set", &peer, "netns", &name]);
        run(&["addr", "add", &format!("{host}/30"), "dev", &veth]);
        run(&["link", "set", &veth, "up"]);
        run(&[
            "-n",
            &name,
            "addr",
            "add",
            &format!("{client}/30"),
            "dev",
            &peer,
        ]);
        run(&["-n", &name, "link", "set", &peer, "up"]);
        run(&["-n", &name, "link", "set", "lo", "up"]);
        netns
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.veth])
            .output();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

impl Drop for Smbd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Python with the `standardwebhooks` package of PyPI (the reference implementation of the
/// Standard Webhooks specification), in a virtual environment made once per build folder.
pub fn python_with_standardwebhooks() -> PathBuf {
    static MADE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = MADE.lock().unwrap_or_else(|p| p.into_inner());
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("standardwebhooks-venv");
    let python = venv.join("bin/python");
    let ready = |py: &Path| {
        Command::new(py)
            .args(["-c", "import standardwebhooks"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if ready(&python) {
        return python;
    }
    let python3 = need("python3", "python3 python3-venv");
    let made = Command::new(&python3)
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .expect("run python3 -m venv");
    assert!(
        made.status.success(),
        "cannot make a Python virtual environment: {}; apt-get install python3-venv",
        String::from_utf8_lossy(&made.stderr)
    );
    let pip = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "standardwebhooks==1.1.0"])
        .output()
        .expect("run pip");
    assert!(
        pip.status.success() && ready(&python),
        "cannot install the standardwebhooks package from PyPI: {}",
        String::from_utf8_lossy(&pip.stderr)
    );
    python
}

// ---------------------------------------------------------------------------------------------
// The kernel's event queue size

/// Held shared while a daemon starts, exclusively while `fs.inotify.max_queued_events` is
/// changed: the kernel reads it when a daemon makes its inotify instance, so no other test's
/// daemon may start while it is small. `QUEUE_LOCK_FILE` does the same between test
/// processes (two test binaries, or worktrees, running at once).
static INOTIFY_QUEUE: std::sync::RwLock<()> = std::sync::RwLock::new(());

const QUEUE_LOCK_FILE: &str = "/tmp/sharehook-test-inotify-queue.lock";

/// A `flock` on `QUEUE_LOCK_FILE`, let go when dropped (the descriptor closes).
struct FileLock {
    _file: std::fs::File,
}

impl FileLock {
    fn take(exclusive: bool) -> std::io::Result<FileLock> {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o666)
            .open(QUEUE_LOCK_FILE)
            .or_else(|_| std::fs::File::open(QUEUE_LOCK_FILE))?;
        let op = if exclusive {
            libc::LOCK_EX
        } else {
            libc::LOCK_SH
        };
        loop {
            // SAFETY: flock on a descriptor that `file` owns and keeps open.
            if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
                return Ok(FileLock { _file: file });
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

/// What a daemon start holds so that no test changes the kernel queue size meanwhile.
pub struct DaemonStarting {
    _here: std::sync::RwLockReadGuard<'static, ()>,
    _machine: Option<FileLock>,
}

thread_local! {
    /// This thread holds `INOTIFY_QUEUE` exclusively (and starts its daemon under it).
    static QUEUE_CHANGED_HERE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The shared hold a daemon start takes, unless this thread changed the queue size itself.
/// Without the lock file (no /tmp, say) only this process is kept in step.
fn daemon_starting() -> Option<DaemonStarting> {
    if QUEUE_CHANGED_HERE.with(std::cell::Cell::get) {
        return None;
    }
    let here = INOTIFY_QUEUE.read().unwrap_or_else(|p| p.into_inner());
    Some(DaemonStarting {
        _here: here,
        _machine: FileLock::take(false).ok(),
    })
}

const MAX_QUEUED_EVENTS: &str = "/proc/sys/fs/inotify/max_queued_events";

/// The size to put back, kept on disk while it is changed.
const QUEUE_SIZE_SAVED: &str = "/tmp/sharehook-test-max_queued_events";

/// The kernel's event queue set to a size, for daemons this thread starts while it is held;
/// the old size comes back when it is dropped.
pub struct KernelQueue {
    old: String,
    _only_here: std::sync::RwLockWriteGuard<'static, ()>,
    _only_machine: FileLock,
}

impl KernelQueue {
    pub fn set(events: u32) -> KernelQueue {
        let lock = INOTIFY_QUEUE.write().unwrap_or_else(|p| p.into_inner());
        let machine =
            FileLock::take(true).unwrap_or_else(|e| panic!("cannot lock {QUEUE_LOCK_FILE}: {e}"));
        // A test process killed while it held the small size left the true one here.
        let old = std::fs::read_to_string(QUEUE_SIZE_SAVED)
            .or_else(|_| std::fs::read_to_string(MAX_QUEUED_EVENTS))
            .unwrap_or_else(|e| panic!("cannot read {MAX_QUEUED_EVENTS}: {e}"));
        std::fs::write(QUEUE_SIZE_SAVED, &old)
            .unwrap_or_else(|e| panic!("cannot write {QUEUE_SIZE_SAVED}: {e}"));
        if let Err(e) = std::fs::write(MAX_QUEUED_EVENTS, events.to_string()) {
            let _ = std::fs::remove_file(QUEUE_SIZE_SAVED);
            panic!(
                "cannot write {MAX_QUEUED_EVENTS} ({e}): a tiny kernel queue needs root \
                 (sysctl fs.inotify.max_queued_events)"
            );
        }
        QUEUE_CHANGED_HERE.with(|c| c.set(true));
        KernelQueue {
            old,
            _only_here: lock,
            _only_machine: machine,
        }
    }
}

impl Drop for KernelQueue {
    fn drop(&mut self) {
        // Restored before the lock is let go (fields drop after this body).
        let restored = std::fs::write(MAX_QUEUED_EVENTS, self.old.trim());
        if restored.is_ok() {
            let _ = std::fs::remove_file(QUEUE_SIZE_SAVED);
        }
        QUEUE_CHANGED_HERE.with(|c| c.set(false));
        if let Err(e) = restored
            && !std::thread::panicking()
        {
            panic!(
                "cannot restore {MAX_QUEUED_EVENTS} to {}: {e}",
                self.old.trim()
            );
        }
    }
}

impl Receiver {
    /// Forgets every request received so far.
    pub fn clear(&self) {
        self.shared.got.lock().unwrap().clear();
    }
}

// The management API

/// One answer of the API: status, headers (names lowercase) and body as JSON (`Null` if not).
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The body as JSON (`Null` when it is not JSON).
    pub body: serde_json::Value,
    /// The body's bytes.
    pub raw: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first error's code (`ERROR_...`).
    pub fn error_code(&self) -> &str {
        self.body["errors"][0]["code"].as_str().unwrap_or("")
    }
}

/// Makes one API request: `method` on `url`, with `headers`, and a JSON `body` when given.
pub fn api(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&str>) -> Answer {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut request = http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .header("content-type", "application/json")
        .body(body.unwrap_or("").to_owned())
        .unwrap();
    let mut response = agent.run(request).expect("the API answers");
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let raw = response.body_mut().read_to_vec().unwrap_or_default();
    Answer {
        status,
        headers,
        body: serde_json::from_slice(&raw).unwrap_or(serde_json::Value::Null),
        raw,
    }
}

/// An API caller's two headers.
pub struct Credentials {
    pub key: String,
    pub token: String,
}

impl Credentials {
    pub fn headers(&self) -> [(&str, &str); 2] {
        [
            ("ev-api-key", self.key.as_str()),
            ("ev-access-token", self.token.as_str()),
        ]
    }
}

impl Nas {
    /// Makes user `name` with `role` (`admin` or `viewer`), an API key and an access token for
    /// it through the real commands (each prints its secret alone on its last line).
    pub fn credentials(&self, name: &str, role: &str) -> Credentials {
        let last_line = |args: &[&str]| {
            let out = self.cli(args);
            assert!(
                out.status.success(),
                "sharehook {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .last()
                .expect("a secret on the last line")
                .to_owned()
        };
        last_line(&["user", "add", name, "--role", role]);
        let key = last_line(&["apikey", "add", &format!("{name}-app")]);
        let token = last_line(&["token", "add", "--key", &key, "--user", name]);
        Credentials { key, token }
    }
}

/// The Python of the tests' virtual environment (`SHAREHOOK_PYTHON`), checked to hold
/// `modules`; a clear failure saying how to make it when it does not.
pub fn venv_python(modules: &[&str]) -> PathBuf {
    let how = "make it with `bash tests/api/venv.sh` and run the tests with \
               SHAREHOOK_PYTHON=\"$(bash tests/api/venv.sh)\" (tests/all.sh does)";
    let python = std::env::var_os("SHAREHOOK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("SHAREHOOK_PYTHON is not set: {how}"));
    assert!(
        python.exists(),
        "SHAREHOOK_PYTHON={} does not exist: {how}",
        python.display()
    );
    for module in modules {
        let found = Command::new(&python)
            .args(["-c", &format!("import {module}")])
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
        assert!(
            found.status.success(),
            "SHAREHOOK_PYTHON={} has no {module}: {how}",
            python.display()
        );
    }
    python
}

/// What a script printed, and whether it succeeded.
pub struct Run {
    pub ok: bool,
    pub output: String,
}

/// Runs `program` with `args` and `env`, killed (and failed) past `limit`; its standard
/// output and error, interleaved, go to a file read at the end.
pub fn run_script(
    program: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    dir: &Path,
    limit: Duration,
) -> Run {
    let out_path = dir.join(format!(
        "{}.out",
        program.file_name().unwrap().to_string_lossy()
    ));
    let out = std::fs::File::create(&out_path).unwrap();
    let mut child = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .env("PYTHONUNBUFFERED", "1")
        .env("NO_COLOR", "1")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut output = std::fs::read_to_string(&out_path).unwrap_or_default();
    if status.is_none() {
        output.push_str(&format!("\n(killed after {} s)\n", limit.as_secs()));
    }
    Run {
        ok: status.is_some_and(|s| s.success()),
        output,
    }
}

/// A sign-in to the page through its form, as a browser makes it.
pub struct PageSignIn {
    pub status: u16,
    /// Where the answer sends the browser (`Location`), empty for none.
    pub location: String,
    /// The session cookie it sets (`sharehook_session=...`), when it sets one.
    pub session: Option<String>,
}

/// Signs in to the page at `base` (`http://127.0.0.1:PORT`) as `user` with `password`: the
/// form is fetched for its token and cookie, then sent.
pub fn page_sign_in(base: &str, user: &str, password: &str) -> PageSignIn {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let mut form = agent.get(format!("{base}/login")).call().unwrap();
    let login_cookie = form
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("the login form sets its cookie")
        .to_owned();
    let html = form.body_mut().read_to_string().unwrap();
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    let csrf = html[at..].split('"').next().unwrap();
    let answer = agent
        .post(format!("{base}/login"))
        .header("cookie", &login_cookie)
        .content_type("application/x-www-form-urlencoded")
        .send(format!("csrf={csrf}&username={user}&password={password}"))
        .unwrap();
    let header = |name: &str| {
        answer
            .headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    PageSignIn {
        status: answer.status().as_u16(),
        location: header("location").concat(),
        session: header("set-cookie")
            .iter()
            .find(|v| v.starts_with("sharehook_session="))
            .and_then(|v| v.split(';').next())
            .map(str::to_owned),
    }
}
