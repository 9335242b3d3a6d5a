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
    next_matching("press Ctrl-C to stop");
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
