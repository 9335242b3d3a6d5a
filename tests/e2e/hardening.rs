//! sharehook under hostile input and rough handling: names made to forge log lines, overlapping
//! shares, addresses that hide a refused IPv4 address, a flood of idle control connections with
//! few file descriptors, and SIGHUP.

use std::io::Read;
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::*;

const FAST: &str = "0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5";

/// Where `text` holds a character a terminal or the journal acts on (C0 controls, DEL, the C1
/// controls) or one that reorders the text around it on screen (the bidirectional controls);
/// the index of that character.
fn first_control(text: &[u8], keep_newlines: bool) -> Option<usize> {
    String::from_utf8_lossy(text).chars().position(|c| {
        (c.is_control() && !(keep_newlines && c == '\n'))
            || matches!(
                c,
                '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
            )
    })
}

#[test]
fn control_characters_in_names_never_reach_the_journal_or_the_terminal() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config(&receiver.url(), FAST);
    let daemon = nas.start();
    // A folder whose name ends a log line and starts a forged one at priority 0 (emergency),
    // holding a file whose name clears a terminal (ESC [2J), and a C1 CSI (U+009B) does too.
    let folder = "evil\n<0>event 999: Delete ";
    let file = "x\u{1b}[2J\u{9b}1m\u{7f}";
    std::fs::create_dir(nas.share().join(folder)).unwrap();
    receiver.wait_for(1);
    write_file(&nas.share().join(folder).join(file), "boo");
    let got = receiver.wait_for(2);
    // Receivers still get the exact name (JSON escapes it).
    assert_eq!(got[0].op().1, format!("/{folder}"));
    assert_eq!(got[1].op().1, format!("/{folder}/{file}"));
    // A name that shows as `evilexe.txt` where the right-to-left override (U+202E) is obeyed.
    let disguised = "evil\u{202e}txt.exe";
    write_file(&nas.share().join(disguised), "boo");
    let got = receiver.wait_for(3);
    assert_eq!(got[2].op().1, format!("/{disguised}"));
    daemon.wait_log("queued for webhook 1", 3);

    let log = daemon.log();
    for line in log.lines() {
        let prefix = line.as_bytes();
        assert!(
            prefix.len() > 3
                && prefix[0] == b'<'
                && b"3467".contains(&prefix[1])
                && prefix[2] == b'>',
            "a line without its own priority, or a forged one: {line:?}\nin:\n{log}"
        );
    }
    assert_eq!(
        first_control(log.as_bytes(), true),
        None,
        "a raw control character in the log:\n{log:?}"
    );
    assert!(
        log.contains(r"evil\x0a<0>event 999: Delete /x\x1b[2J\u{9b}1m\x7f"),
        "the name is shown escaped: {log}"
    );
    assert!(log.contains(r"/evil\u{202e}txt.exe"), "{log}");

    // `sharehook log` prints it for people the same way; its JSON keeps the exact name. (The
    // log entry is written after the receiver answers: wait for both.)
    wait_for("the three attempts in the log", || {
        (nas.log_entries(&[]).len() >= 3).then_some(())
    });
    let out = nas.cli(&["log"]);
    assert!(out.status.success());
    assert_eq!(
        first_control(&out.stdout, true),
        None,
        "a raw control character in sharehook log: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 3, "one line per attempt: {text:?}");
    assert!(
        text.contains(r"Upload /evil\x0a<0>event 999: Delete /x\x1b[2J"),
        "{text}"
    );
    assert!(text.contains(r"Upload /evil\u{202e}txt.exe"), "{text}");
    // Its JSON keeps the exact name, with DEL and C1 escaped too (JSON leaves them raw).
    let out = nas.cli(&["log", "--json"]);
    assert_eq!(
        first_control(&out.stdout, true),
        None,
        "a raw control character in sharehook log --json: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    let entries = nas.log_entries(&[]);
    assert_eq!(entries[0]["resourcePath"], format!("/{disguised}"));
    assert_eq!(entries[1]["resourcePath"], format!("/{folder}/{file}"));
    assert!(daemon.stop().success());
}

#[test]
fn check_shows_a_share_path_with_control_characters_escaped() {
    let nas = Nas::new();
    let odd = nas.dir.path().join("odd\u{1b}[2J\u{9b}\u{7f}\u{202e}");
    std::fs::create_dir(&odd).unwrap();
    let path = odd
        .display()
        .to_string()
        .replace('\u{1b}', "\\u001b")
        .replace('\u{7f}', "\\u007f");
    std::fs::write(
        nas.config_path(),
        format!(
            "state_dir = \"{}/state\"\n[[share]]\nname = \"p\"\npath = \"{path}\"\n",
            nas.dir.path().display()
        ),
    )
    .unwrap();
    let out = nas.cli(&["check"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        first_control(&out.stdout, true),
        None,
        "{:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    let shown = String::from_utf8(out.stdout).unwrap();
    assert!(shown.contains(r"odd\u001b[2J\u009b\u007f\u202e"), "{shown}");
}

#[test]
fn overlapping_shares_are_refused_by_run_and_check_naming_both() {
    let nas = Nas::new();
    let share = nas.share();
    std::fs::create_dir(share.join("inner")).unwrap();
    let file = nas.config_path().display().to_string();
    let cases = [
        (
            format!("{}/../share", share.display()),
            format!(
                "{file}: line 8: share[2].path: {}/../share (which is {}) is the same folder as share \"public\" ({}): shares must not overlap",
                share.display(),
                share.display(),
                share.display()
            ),
        ),
        (
            format!("{}/inner", share.display()),
            format!(
                "{file}: line 8: share[2].path: {}/inner lies inside share \"public\" ({}): shares must not overlap",
                share.display(),
                share.display()
            ),
        ),
    ];
    for (second, expected) in cases {
        std::fs::write(
            nas.config_path(),
            format!(
                "state_dir = \"{}/state\"\n[[share]]\nname = \"public\"\npath = \"{}\"\n\n[[share]]\nname = \"other\"\npath = \"{second}\"\n",
                nas.dir.path().display(),
                share.display()
            ),
        )
        .unwrap();
        for command in ["run", "check"] {
            let out = nas.run_briefly(&[command]);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{command}: {err}");
            assert!(
                err.contains(&expected),
                "{command}:\n got  {err}\n want {expected}"
            );
            assert_eq!(err.lines().count(), 1, "one message: {err}");
        }
    }
}

/// Sends SIGHUP and waits for the daemon to say how the reload went (`outcome` in a log line
/// after the one that says it read the file again); fails at once if the signal killed it.
fn reload(daemon: &mut Daemon, outcome: &str) {
    let before = daemon.log().matches(outcome).count();
    daemon.signal(libc::SIGHUP);
    wait_for(&format!("the log line {outcome:?} after SIGHUP"), || {
        if let Some(status) = daemon.child.try_wait().unwrap() {
            panic!("SIGHUP ended the daemon ({status}):\n{}", daemon.log());
        }
        (daemon.log().matches(outcome).count() > before).then_some(())
    });
}

#[test]
fn sighup_applies_a_new_configuration_and_the_control_socket_serves_it() {
    let first = Receiver::start();
    let second = Receiver::start();
    let nas = Nas::new();
    let hook = |url: &str, id: u32| {
        format!("[[webhook]]\nid = {id}\nurl = \"{url}\"\ntoken = \"{TOKEN}\"\n")
    };
    let delivery = format!("[delivery]\nretry_delays = [{FAST}]\n");
    nas.write_config_text(&format!("{}{delivery}", hook(&first.url(), 1)));
    let mut daemon = nas.start();
    write_file(&nas.share().join("a.txt"), "a");
    first.wait_for(1);

    nas.write_config_text(&format!(
        "{}{}{delivery}",
        hook(&first.url(), 1),
        hook(&second.url(), 2)
    ));
    reload(&mut daemon, "configuration reloaded: webhook 2 added");
    assert!(
        daemon.log().contains("<6>SIGHUP: reading "),
        "{}",
        daemon.log()
    );
    daemon.wait_notify("RELOADING=1", 1);
    daemon.wait_notify("READY=1", 2);

    write_file(&nas.share().join("b.txt"), "b");
    let got = first.wait_for(2);
    assert_eq!(got[1].op().1, "/b.txt");
    let got = second.wait_for(1);
    assert_eq!(
        got[0].op(),
        ("Upload".into(), "/b.txt".into(), String::new())
    );
    // Reported once each: the restart of the engine reconciles, it does not repeat.
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(first.received().len(), 2, "{:?}", ops(&first.received()));
    assert_eq!(second.received().len(), 1);

    // The running daemon answers for the new webhook (it did not know webhook 2 before).
    let out = nas.cli(&["enable", "2"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "webhook 2 was not disabled\n"
    );

    // Unchanged, it says so and goes on.
    reload(&mut daemon, "configuration reloaded: nothing changed");
    write_file(&nas.share().join("c.txt"), "c");
    second.wait_for(2);
    assert!(daemon.stop().success());
}

#[test]
fn sighup_with_a_broken_file_keeps_the_running_configuration() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config(&receiver.url(), FAST);
    let mut daemon = nas.start();
    let good = std::fs::read_to_string(nas.config_path()).unwrap();

    std::fs::write(
        nas.config_path(),
        good.replace("[delivery]", "[delivery]\nconnect_timeout = \"soon\""),
    )
    .unwrap();
    reload(&mut daemon, "the running configuration stays");
    let log = daemon.log();
    let line = log
        .lines()
        .find(|l| l.contains("the running configuration stays"))
        .unwrap();
    let file = nas.config_path().display().to_string();
    assert!(
        line.starts_with(&format!("<3>{file}: line 14: delivery.connect_timeout: ")),
        "{line}"
    );
    write_file(&nas.share().join("after-broken.txt"), "x");
    assert_eq!(receiver.wait_for(1)[0].op().1, "/after-broken.txt");

    // A new state folder cannot be taken over by a reload.
    std::fs::write(nas.config_path(), good.replace("/state\"", "/state2\"")).unwrap();
    reload(
        &mut daemon,
        "restart sharehook to use it; the running configuration stays",
    );
    write_file(&nas.share().join("after-state.txt"), "x");
    assert_eq!(receiver.wait_for(2)[1].op().1, "/after-state.txt");
    assert!(!nas.dir.path().join("state2").exists());
    assert!(daemon.stop().success());
}

#[test]
fn a_flood_of_idle_control_connections_with_few_descriptors_harms_nothing() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    // Entries there from the start: a reconcile that could not open their folders for want of
    // descriptors would report them deleted.
    sh(
        &nas.share(),
        "mkdir -p keep/deep; for i in 1 2 3 4 5; do echo $i > f$i; echo $i > keep/g$i; echo $i > keep/deep/h$i; done",
    );
    // A reconcile every second, so several run during the flood.
    nas.write_config_with(&receiver.url(), FAST, "", "rescan_interval = 1\n");
    let inner = sharehook();
    let mut limited = Command::new(need("prlimit", "util-linux"));
    limited
        .arg("--nofile=256:256")
        .arg("--")
        .arg(inner.get_program())
        .args(inner.get_args());
    let daemon = nas.start_with(limited);

    let socket = nas.dir.path().join("state/control.sock");
    let held: Vec<UnixStream> = (0..400)
        .map(|i| {
            UnixStream::connect(&socket)
                .unwrap_or_else(|e| panic!("connection {i} to {}: {e}", socket.display()))
        })
        .collect();
    let flooded = Instant::now();

    write_file(&nas.share().join("new.txt"), "n");
    let got = receiver.wait_for(1);
    assert_eq!(
        got[0].op(),
        ("Upload".into(), "/new.txt".into(), String::new())
    );
    // Nothing is an event here, so this waits: two reconciles or more.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        ops(&receiver.received()),
        expect(&[("Upload", "/new.txt", "")]),
        "a reconcile during the flood reported what it could not read:\n{}",
        daemon.log()
    );

    // Every idle connection is closed: those past the limit at once, the others once they
    // have sent no request for the idle timeout.
    let deadline = flooded + Duration::from_secs(30);
    for (i, mut s) in held.into_iter().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now());
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        let mut byte = [0u8; 1];
        match s.read(&mut byte) {
            Ok(0) => {}
            Ok(_) => panic!("connection {i}: the daemon sent something unasked"),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::ConnectionReset) => {}
            Err(e) => panic!(
                "connection {i} is still open {:?} after the flood: {e}",
                flooded.elapsed()
            ),
        }
    }
    let closed_in = flooded.elapsed();
    assert!(
        closed_in >= Duration::from_secs(5),
        "idle connections under the limit are not cut at once ({closed_in:?})"
    );
    eprintln!("idle control connections were all closed {closed_in:?} after the flood");

    // The control socket answers again, and the burst was logged once, not per connection.
    let out = nas.cli(&["enable", "1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "webhook 1 was not disabled\n"
    );
    let log = daemon.log();
    assert_eq!(
        log.matches("control socket: ").count(),
        2,
        "one line when the burst begins, one when it ends:\n{log}"
    );
    write_file(&nas.share().join("after.txt"), "a");
    assert_eq!(receiver.wait_for(2)[1].op().1, "/after.txt");
    assert!(daemon.stop().success());
}
