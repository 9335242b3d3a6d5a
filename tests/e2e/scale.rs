//! A big share: live events keep flowing while the engine reads it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::support::*;

/// Folders of two files each: enough that reading them all takes a while, even natively.
const FOLDERS: usize = 50_000;

#[test]
fn files_written_during_the_start_catch_up_are_reported_before_it_ends() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    let share = nas.share();
    for i in 0..FOLDERS {
        let folder = share.join(format!("g{:03}/d{i:06}", i / 1000));
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("a"), "a").unwrap();
        std::fs::write(folder.join("b"), "b").unwrap();
    }
    nas.write_config_with(&receiver.url(), "0, 0.5", "", "settle_ms = 50");
    // The first start takes the baseline.
    assert!(nas.start().stop().success());

    // While the restart reads the share again, a file is written at its top every 20 ms,
    // until the daemon says it has caught up.
    let log_path = nas.dir.path().join("daemon.log");
    let before = std::fs::read_to_string(&log_path).unwrap().len();
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let done = Arc::clone(&done);
        let share = share.clone();
        let log_path = log_path.clone();
        std::thread::spawn(move || {
            let restarted = || {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                log.get(before..).unwrap_or("").contains("next event id")
            };
            wait_for("the restart", || restarted().then_some(()));
            let mut written = Vec::new();
            while !done.load(Ordering::SeqCst) {
                let name = format!("live-{:04}", written.len());
                std::fs::write(share.join(&name), "live").unwrap();
                written.push(format!("/{name}"));
                std::thread::sleep(Duration::from_millis(20));
            }
            written
        })
    };
    let daemon = nas.start();
    done.store(true, Ordering::SeqCst);
    let written = writer.join().unwrap();
    let log = daemon.log()[before..].to_owned();
    let caught_up = log
        .find("caught up with the index")
        .expect("the restart catches up");
    let reported_before: Vec<&str> = log[..caught_up]
        .lines()
        .filter(|l| l.contains(": Upload /live-"))
        .collect();
    assert!(
        !reported_before.is_empty(),
        "no file written during the catch-up was reported before it ended ({} written); the \
         log of the restart:\n{log}",
        written.len()
    );
    // Each file is delivered once, however it was found.
    let got = receiver.wait_for(written.len());
    let mut paths: Vec<String> = ops(&got)
        .into_iter()
        .filter(|(op, _, _)| op == "Upload")
        .map(|(_, p, _)| p)
        .collect();
    paths.sort();
    assert_eq!(paths, written);
    println!(
        "figure: {} files written during the catch-up, {} reported before it ended",
        written.len(),
        reported_before.len()
    );
    assert!(daemon.stop().success());
}
