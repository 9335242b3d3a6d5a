//! `sharehook demo` does what the README says: no configuration, a file dropped in
//! ./sharehook-demo/share is printed by the built-in receiver with its signature checked,
//! and Ctrl-C stops it cleanly.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;

use crate::support::*;

#[test]
fn demo_prints_each_webhook_with_its_signature_checked() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = sharehook()
        .arg("demo")
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, lines) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let next_matching = |want: &str| {
        let deadline = std::time::Instant::now() + patience();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) if line.contains(want) => return line,
                Ok(_) => {}
                Err(_) => panic!("the demo never printed {want:?}"),
            }
        }
    };
    let page = next_matching("the web page: ");
    next_matching("press Ctrl-C to stop");
    // The page's address and the admin's password, as printed, sign in.
    let (address, rest) = page
        .strip_prefix("the web page: ")
        .and_then(|p| p.split_once("/  (user admin, password "))
        .unwrap_or_else(|| panic!("{page}"));
    let password = rest.trim_end_matches(')');
    let signed_in = page_sign_in(address, "admin", password);
    assert_eq!(signed_in.status, 303, "{page}");
    assert_eq!(signed_in.location, "/", "{page}");
    assert_eq!(
        page_sign_in(address, "admin", "not-the-password").status,
        401
    );
    let share = dir.path().join("sharehook-demo/share");
    write_file(&share.join("hello.txt"), "hello");
    let user = whoami();
    assert_eq!(
        next_matching("received:"),
        format!("received: Upload /hello.txt by {user}, attempt 1, signature ok")
    );
    std::fs::create_dir(share.join("docs")).unwrap();
    assert_eq!(
        next_matching("received:"),
        format!("received: Create Folder /docs by {user}, attempt 1, signature ok")
    );
    std::fs::rename(share.join("hello.txt"), share.join("docs/hello.txt")).unwrap();
    assert_eq!(
        next_matching("received:"),
        format!(
            "received: Move /docs/hello.txt (from /hello.txt) by {user}, attempt 1, signature ok"
        )
    );

    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: sending Ctrl-C's signal to our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    next_matching("stopped");
    let status = wait_for("the demo to exit", || child.try_wait().unwrap());
    assert!(status.success(), "{status}");
    assert!(
        dir.path()
            .join("sharehook-demo/state/sharehook.redb")
            .exists()
    );
}

/// Starts the demo in `dir`, waits until it is ready, stops it with Ctrl-C's signal: its
/// standard output and standard error.
fn demo_start_and_stop(dir: &std::path::Path) -> (String, String) {
    let mut child = sharehook()
        .args(["demo", "--dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, lines) = mpsc::channel();
    let out = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            all.push_str(&line);
            all.push('\n');
            let _ = tx.send(line);
        }
        all
    });
    let err = std::thread::spawn(move || {
        let mut all = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut all);
        all
    });
    let deadline = std::time::Instant::now() + patience();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains("press Ctrl-C to stop") => break,
            Ok(_) => {}
            Err(_) => panic!("the demo never said it was ready"),
        }
    }
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: sending Ctrl-C's signal to our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let status = wait_for("the demo to exit", || child.try_wait().unwrap());
    assert!(status.success(), "{status}");
    (out.join().unwrap(), err.join().unwrap())
}

#[test]
fn a_second_demo_start_keeps_its_webhook_url() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let receiver_url = |out: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix("a receiver in this process listens on "))
            .and_then(|rest| rest.split(';').next())
            .unwrap_or_else(|| panic!("no receiver line in {out}"))
            .to_owned()
    };
    let (first_out, first_err) = demo_start_and_stop(&demo);
    assert!(!first_err.contains("URL changed"), "{first_err}");
    let (second_out, second_err) = demo_start_and_stop(&demo);
    assert!(
        !second_err.contains("URL changed"),
        "the second start warns:\n{second_err}"
    );
    assert_eq!(receiver_url(&first_out), receiver_url(&second_out));
}
