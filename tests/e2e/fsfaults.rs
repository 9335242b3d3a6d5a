//! What the file system can refuse or surprise with: folders sharehook may not read (as an
//! unprivileged user), running out of file descriptors, file kinds that are not files, and
//! paths longer than the kernel takes in one piece.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::support::*;

const FAST: &str = "0, 0.5, 0.5, 0.5";
const NOBODY: u32 = 65534;

fn sorted(mut v: Vec<(String, String, String)>) -> Vec<(String, String, String)> {
    v.sort();
    v
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The name of the unprivileged user the daemon runs as in these tests.
fn nobody_name() -> String {
    let out = Command::new("id")
        .args(["-nu", &NOBODY.to_string()])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Starts the daemon as the unprivileged user 65534, with the share, the state folder and
/// the config readable by it (the test itself runs as root, which no `chmod` stops).
fn start_as_nobody(nas: &Nas) -> Daemon {
    let setpriv = need("setpriv", "util-linux");
    chmod(nas.dir.path(), 0o755);
    let state = nas.dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::os::unix::fs::chown(&state, Some(NOBODY), Some(NOBODY)).unwrap();
    chmod(&nas.config_path(), 0o644);
    let inner = sharehook();
    let mut cmd = Command::new("sh");
    // The notify socket is made by this (root) process: let the daemon write to it.
    cmd.arg("-c")
        .arg("chmod 666 \"$NOTIFY_SOCKET\" && exec \"$@\"")
        .arg("sh")
        .arg(setpriv)
        .args([
            format!("--reuid={NOBODY}"),
            format!("--regid={NOBODY}"),
            "--clear-groups".to_owned(),
        ])
        .arg(inner.get_program())
        .args(inner.get_args());
    nas.start_with(cmd)
}

/// Waits until the daemon's log has `n` lines with `needle`; shows the log if it never does.
fn wait_log(daemon: &Daemon, needle: &str, n: usize) {
    let deadline = std::time::Instant::now() + patience();
    while count(&daemon.log(), needle) < n {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {n} log lines with {needle:?}; the log:\n{}",
            daemon.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
}

fn count(log: &str, needle: &str) -> usize {
    log.matches(needle).count()
}

#[test]
fn an_unreadable_folder_is_not_reported_deleted_and_one_error_says_how_to_fix_it() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    let share = nas.share();
    sh(
        &share,
        "mkdir keep; echo a > keep/a.dat; echo b > keep/b.dat",
    );
    sh(&share, "chmod -R a+rX .");
    nas.write_config_with(
        &receiver.url(),
        FAST,
        "",
        "rescan_interval = 0.5\npoll_interval = 0.5",
    );
    let daemon = start_as_nobody(&nas);
    let mut s = Scenarios::new(&receiver, &share);
    let keep = share.join("keep");
    chmod(&keep, 0o000);
    let shown = format!("cannot read the folder {}", keep.display());
    wait_log(&daemon, &shown, 1);
    // Several reconciles later, the folder's entries are still not reported deleted.
    let rescans = count(&daemon.log(), "safety rescan of every share");
    wait_log(&daemon, "safety rescan of every share", rescans + 3);
    assert_eq!(s.next(), expect(&[]), "{}", daemon.log());
    let log = daemon.log();
    assert_eq!(count(&log, &shown), 1, "said once: {log}");
    let user = nobody_name();
    let line = log.lines().find(|l| l.contains(&shown)).unwrap();
    assert!(line.contains(&format!("{user} (uid {NOBODY})")), "{line}");
    assert!(
        line.contains(&format!(
            "setfacl -R -m u:{user}:rX -m d:u:{user}:rX '{}'",
            keep.display()
        )),
        "{line}"
    );
    assert!(!log.contains("watch limit"), "{log}");

    // Readable again: said once, and only what is new is reported.
    chmod(&keep, 0o755);
    wait_log(
        &daemon,
        &format!("the folder {} can be read again", keep.display()),
        1,
    );
    sh(&share, "echo c > keep/c.dat");
    assert_eq!(s.next(), expect(&[("Upload", "/keep/c.dat", "")]));
    assert!(daemon.stop().success());
}

#[test]
fn a_new_folder_that_cannot_be_read_is_read_again_until_it_can() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    let share = nas.share();
    chmod(&share, 0o755);
    // No safety rescan: only the retry of the unreadable folder can find its content.
    nas.write_config_with(
        &receiver.url(),
        FAST,
        "",
        "rescan_interval = 0\npoll_interval = 0.5",
    );
    let daemon = start_as_nobody(&nas);
    let mut s = Scenarios::new(&receiver, &share);
    let outside = tempfile::tempdir().unwrap();
    sh(
        outside.path(),
        "mkdir locked; echo x > locked/f.dat; chmod 000 locked",
    );
    sh(
        &share,
        &format!("mv '{}' .", outside.path().join("locked").display()),
    );
    assert_eq!(s.next(), expect(&[("Create Folder", "/locked", "")]));
    wait_log(
        &daemon,
        &format!("cannot read the folder {}", share.join("locked").display()),
        1,
    );
    chmod(&share.join("locked"), 0o755);
    assert_eq!(s.next(), expect(&[("Upload", "/locked/f.dat", "")]));
    let log = daemon.log();
    assert!(!log.contains("watch limit"), "{log}");
    assert!(daemon.stop().success());
}

#[test]
fn a_folder_unreadable_at_the_first_start_is_indexed_silently_once_it_can_be_read() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    let share = nas.share();
    sh(
        &share,
        "for d in one two; do mkdir -p $d/inner; echo s > $d/s.dat; echo t > $d/inner/t.dat; done",
    );
    sh(&share, "chmod -R a+rX . && chmod 000 one two");
    nas.write_config_with(&receiver.url(), FAST, "", "poll_interval = 0.5");
    let daemon = start_as_nobody(&nas);
    let (one, two) = (share.join("one"), share.join("two"));
    wait_log(
        &daemon,
        &format!("cannot read the folder {}", one.display()),
        1,
    );
    wait_log(
        &daemon,
        &format!("cannot read the folder {}", two.display()),
        1,
    );
    let mut s = Scenarios::new(&receiver, &share);
    // Readable while the daemon runs.
    chmod(&one, 0o755);
    wait_log(
        &daemon,
        &format!(
            "the folder {}, which could not be read at the first start, is indexed now",
            one.display()
        ),
        1,
    );
    // What was there at the first start is the baseline, whenever it could be read.
    assert_eq!(s.next(), expect(&[]), "{}", daemon.log());
    let log = daemon.log();
    assert!(!log.contains("watch limit"), "{log}");
    assert_eq!(count(&log, "cannot read the folder"), 2, "{log}");
    assert!(daemon.stop().success());
    // Readable only after a restart: the index remembers the folder was never read.
    let daemon = start_as_nobody(&nas);
    wait_log(
        &daemon,
        &format!("cannot read the folder {}", two.display()),
        1,
    );
    chmod(&two, 0o755);
    wait_log(
        &daemon,
        &format!(
            "the folder {}, which could not be read at the first start, is indexed now",
            two.display()
        ),
        1,
    );
    assert_eq!(s.next(), expect(&[]), "{}", daemon.log());
    sh(&share, "echo u > one/inner/u.dat; rm two/s.dat");
    assert_eq!(
        sorted(s.next()),
        sorted(expect(&[
            ("Upload", "/one/inner/u.dat", ""),
            ("Delete", "/two/s.dat", "")
        ]))
    );
    assert!(daemon.stop().success());
}

/// The lowest descriptor number `pid` has free: with its limit there, it can open nothing.
fn lowest_free_fd(pid: u32) -> usize {
    let open: std::collections::BTreeSet<usize> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    (0..).find(|n| !open.contains(n)).unwrap()
}

fn prlimit_nofile(pid: u32, soft: usize, hard: usize) {
    let prlimit = need("prlimit", "util-linux");
    let ok = Command::new(prlimit)
        .args([
            "--pid",
            &pid.to_string(),
            &format!("--nofile={soft}:{hard}"),
        ])
        .status()
        .unwrap()
        .success();
    assert!(ok, "prlimit --pid {pid} --nofile={soft}:{hard}");
}

/// Runs `script` in `dir` as uid 1 (whose name the daemon has not looked up yet).
fn as_uid_1(dir: &Path, script: &str) {
    let ok = Command::new(need("setpriv", "util-linux"))
        .args([
            "--reuid=1",
            "--regid=1",
            "--clear-groups",
            "sh",
            "-ec",
            script,
        ])
        .current_dir(dir)
        .status()
        .unwrap()
        .success();
    assert!(ok, "{script}");
}

#[test]
fn out_of_file_descriptors_nothing_is_reported_deleted_and_names_are_looked_up_again() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    let share = nas.share();
    sh(&share, "echo a > a.txt; mkdir dir; echo b > dir/b.txt");
    nas.write_config_with(
        &receiver.url(),
        FAST,
        "",
        "rescan_interval = 0.5\npoll_interval = 0.5",
    );
    chmod(&share, 0o777);
    let daemon = nas.start();
    let mut s = Scenarios::new(&receiver, &share);
    sh(&share, "echo w > warm.txt");
    assert_eq!(s.next(), expect(&[("Upload", "/warm.txt", "")]));
    let pid = daemon.child.id();
    // No descriptor left to open: every folder read fails with EMFILE.
    prlimit_nofile(pid, lowest_free_fd(pid), 4096);
    wait_log(&daemon, "cannot read the folder", 1);
    let rescans = count(&daemon.log(), "safety rescan of every share");
    wait_log(&daemon, "safety rescan of every share", rescans + 3);
    // A file written meanwhile: its owner's name cannot be looked up now (the user database
    // needs a descriptor), and must be looked up again later.
    as_uid_1(&share, "echo x > during.txt");
    wait_log(&daemon, "Upload /during.txt", 1);
    prlimit_nofile(pid, 1024, 4096);
    wait_log(&daemon, "can be read again", 1);
    as_uid_1(&share, "echo y > after.txt");
    let got = s.next();
    assert_eq!(
        sorted(got),
        sorted(expect(&[
            ("Upload", "/during.txt", ""),
            ("Upload", "/after.txt", "")
        ])),
        "{}",
        daemon.log()
    );
    let log = daemon.log();
    assert_eq!(count(&log, "cannot read the folder"), 1, "{log}");
    assert!(log.contains("out of file descriptors"), "{log}");
    let uid_1 = Command::new("id")
        .args(["-nu", "1"])
        .output()
        .unwrap()
        .stdout;
    let uid_1 = String::from_utf8(uid_1).unwrap().trim().to_owned();
    let after = log
        .lines()
        .find(|l| l.contains("Upload /after.txt"))
        .unwrap();
    assert!(after.contains(&format!("by {uid_1}:")), "{after}");
    assert!(daemon.stop().success());
}

#[test]
fn the_descriptor_limit_is_raised_to_the_hard_limit() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config(&receiver.url(), FAST);
    let prlimit = need("prlimit", "util-linux");
    let inner = sharehook();
    let mut cmd = Command::new(prlimit);
    cmd.args(["--nofile=64:2048", "--"])
        .arg(inner.get_program())
        .args(inner.get_args());
    let daemon = nas.start_with(cmd);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", daemon.child.id())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let numbers: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers, ["2048", "2048"], "{line}");
    assert!(daemon.stop().success());
}

#[test]
fn fifos_sockets_and_devices_are_never_reported() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config(&receiver.url(), FAST);
    let share = nas.share();
    let daemon = nas.start();
    let mut s = Scenarios::new(&receiver, &share);
    let python = need("python3", "python3");
    sh(
        &share,
        "mkfifo fifo; mknod null c 1 3; mkdir d; mkfifo d/fifo",
    );
    let ok = Command::new(python)
        .args([
            "-c",
            "import socket; socket.socket(socket.AF_UNIX).bind('sock')",
        ])
        .current_dir(&share)
        .status()
        .unwrap()
        .success();
    assert!(ok, "a socket made with python3");
    assert_eq!(s.next(), expect(&[("Create Folder", "/d", "")]));
    assert!(daemon.stop().success());
    let daemon = nas.start();
    wait_log(&daemon, "changes made while sharehook was stopped", 1);
    assert_eq!(s.next(), expect(&[]), "{}", daemon.log());
    // Replaced by a file: that one is news.
    sh(&share, "rm fifo; echo f > fifo");
    assert_eq!(s.next(), expect(&[("Upload", "/fifo", "")]));
    assert!(daemon.stop().success());
}

#[test]
fn paths_longer_than_path_max_are_reported() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config(&receiver.url(), FAST);
    let share = nas.share();
    let daemon = nas.start();
    let mut s = Scenarios::new(&receiver, &share);
    // 20 levels of 240-byte names: deeper than 4096 bytes from the share alone. `mkdir -p`
    // of the whole path would fail; a shell going down one level at a time does not (`-P`:
    // dash builds the logical path, which is too long, without it).
    let levels = 20;
    let name = |i: usize| format!("{i:02}{}", "d".repeat(238));
    // Sorted, each long name written as its number, so that a failure can be read.
    let abbreviate = |text: &str| {
        (0..levels).fold(text.to_owned(), |t, i| {
            t.replace(&name(i), &format!("L{i}"))
        })
    };
    let short = |v: Vec<(String, String, String)>| {
        let mut v: Vec<String> = v
            .into_iter()
            .map(|(op, p, from)| abbreviate(&format!("{op} {p} {from}")))
            .collect();
        v.sort();
        v
    };
    let mut script = String::new();
    for i in 0..levels {
        script.push_str(&format!("mkdir {n} && cd -P {n}\n", n = name(i)));
    }
    script.push_str("echo deep > deep.txt\nmkdir last\necho x > last/x.txt\n");
    sh(&share, &script);
    let mut want = Vec::new();
    let mut path = String::new();
    for i in 0..levels {
        path.push('/');
        path.push_str(&name(i));
        want.push(("Create Folder".to_owned(), path.clone(), String::new()));
    }
    assert!(path.len() + share.as_os_str().len() > 4096);
    want.push((
        "Upload".to_owned(),
        format!("{path}/deep.txt"),
        String::new(),
    ));
    want.push((
        "Create Folder".to_owned(),
        format!("{path}/last"),
        String::new(),
    ));
    want.push((
        "Upload".to_owned(),
        format!("{path}/last/x.txt"),
        String::new(),
    ));
    assert_eq!(short(s.next()), short(want));
    // Changes deep down are seen by their watches.
    let mut deep_script = String::new();
    for i in 0..levels {
        deep_script.push_str(&format!("cd -P {}\n", name(i)));
    }
    sh(
        &share,
        &format!("{deep_script}mv deep.txt moved.txt\necho more >> last/x.txt"),
    );
    assert_eq!(
        short(s.next()),
        short(vec![
            (
                "Rename".to_owned(),
                format!("{path}/moved.txt"),
                format!("{path}/deep.txt")
            ),
            (
                "Upload".to_owned(),
                format!("{path}/last/x.txt"),
                String::new()
            ),
        ])
    );
    assert!(daemon.stop().success());
    let daemon = nas.start();
    wait_log(&daemon, "changes made while sharehook was stopped", 1);
    assert_eq!(short(s.next()), short(vec![]));
    sh(&share, &format!("rm -rf {}", name(0)));
    assert_eq!(
        short(s.next()),
        short(vec![(
            "Delete".to_owned(),
            format!("/{}", name(0)),
            String::new()
        )])
    );
    let log = daemon.log();
    assert!(!log.contains("cannot"), "{}", abbreviate(&log));
    assert!(daemon.stop().success());
}

#[test]
fn a_change_whose_folder_becomes_unreadable_before_it_is_due_is_reported_once_it_can_be_read() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    let share = nas.share();
    sh(&share, "mkdir keep; echo a > keep/a.dat; chmod -R a+rX .");
    // No safety rescan: only the poll of the folder that could not be read can find it.
    nas.write_config_with(
        &receiver.url(),
        FAST,
        "",
        "settle_ms = 1000\nrescan_interval = 0\npoll_interval = 0.5",
    );
    let daemon = start_as_nobody(&nas);
    let mut s = Scenarios::new(&receiver, &share);
    let keep = share.join("keep");
    // Written, then its folder closed to sharehook before the quiet period ends: the file
    // cannot be looked at, which is not the same as gone.
    sh(&share, "echo v2 >> keep/a.dat; chmod 000 keep");
    wait_log(
        &daemon,
        &format!("cannot read the folder {}", keep.display()),
        1,
    );
    chmod(&keep, 0o755);
    assert_eq!(s.next(), expect(&[("Upload", "/keep/a.dat", "")]));
    assert!(daemon.stop().success());
}

#[test]
fn a_file_replaced_by_a_fifo_is_reported_deleted() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config(&receiver.url(), FAST);
    let share = nas.share();
    let daemon = nas.start();
    let mut s = Scenarios::new(&receiver, &share);
    sh(&share, "echo a > a.txt; echo b > b.txt");
    assert_eq!(
        s.next(),
        expect(&[("Upload", "/a.txt", ""), ("Upload", "/b.txt", "")])
    );
    // Removed and a FIFO made in its place; a FIFO renamed over the other.
    sh(&share, "rm a.txt; mkfifo a.txt; mkfifo p; mv p b.txt");
    let mut got = s.next();
    got.sort();
    assert_eq!(
        got,
        expect(&[("Delete", "/a.txt", ""), ("Delete", "/b.txt", "")])
    );
    assert!(daemon.stop().success());
}

#[test]
fn a_folder_unreadable_at_the_first_start_and_renamed_is_still_read_again_and_indexed_silently() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    let share = nas.share();
    sh(
        &share,
        "mkdir -p one/inner; echo s > one/s.dat; echo t > one/inner/t.dat; chmod -R a+rX . && chmod 000 one",
    );
    // No safety rescan: only the poll of the folder kept aside can find it.
    nas.write_config_with(
        &receiver.url(),
        FAST,
        "",
        "rescan_interval = 0\npoll_interval = 0.5",
    );
    let daemon = start_as_nobody(&nas);
    wait_log(
        &daemon,
        &format!("cannot read the folder {}", share.join("one").display()),
        1,
    );
    let mut s = Scenarios::new(&receiver, &share);
    sh(&share, "mv one renamed");
    assert_eq!(s.next(), expect(&[("Rename", "/renamed", "/one")]));
    let renamed = share.join("renamed");
    chmod(&renamed, 0o755);
    wait_log(
        &daemon,
        &format!(
            "the folder {}, which could not be read at the first start, is indexed now",
            renamed.display()
        ),
        1,
    );
    // What it held at the first start is the baseline; what is new in it is news.
    sh(&share, "echo n > renamed/new.dat");
    assert_eq!(
        s.next(),
        expect(&[("Upload", "/renamed/new.dat", "")]),
        "{}",
        daemon.log()
    );
    assert!(daemon.stop().success());
}
