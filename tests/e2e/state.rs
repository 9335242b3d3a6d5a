//! The state file as an operator meets it: read after a crash, refused when it is not a
//! sharehook state, ids that never repeat across states, and failed events that stay
//! listable and resendable whatever the delivery log kept.

use std::path::{Path, PathBuf};

use crate::support::*;

const SECRET: &str = "whsec_c2hhcmVob29rIHRlc3Qgc2VjcmV0IDMyIGJ5dGVzISE=";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn state_file(nas: &Nas) -> PathBuf {
    nas.dir.path().join("state/sharehook.redb")
}

fn hook(url: &str, extra: &str) -> String {
    format!("[[webhook]]\nurl = \"{url}\"\ntoken = \"{TOKEN}\"\n{extra}\n")
}

#[test]
fn log_reads_the_state_after_a_crash_every_time() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config(&receiver.url(), "0, 0.5");
    let daemon = nas.start();
    write_files_in_order(&nas.share(), &["before-crash.txt".to_owned()]);
    receiver.wait_for(1);
    wait_for("the delivery to be logged", || {
        (!nas.log_entries(&[]).is_empty()).then_some(())
    });
    daemon.kill9();

    for round in 1..=4 {
        let out = nas.cli(&["log", "--json"]);
        let err = text(&out.stderr);
        assert!(out.status.success(), "log #{round} after the crash: {err}");
        assert!(!err.contains("damaged"), "log #{round}: {err}");
        let stdout = text(&out.stdout);
        assert!(
            stdout.contains("\"resourcePath\":\"/before-crash.txt\""),
            "log #{round} lists the entry: {stdout}"
        );
    }
    // The state is as good as before: the daemon starts on it and goes on.
    let daemon = nas.start();
    write_files_in_order(&nas.share(), &["after-crash.txt".to_owned()]);
    let got = receiver.wait_for(2);
    assert_eq!(got[1].op().1, "/after-crash.txt");
    assert!(daemon.stop().success());
}

/// A kind of file, how to make it, and what the refusal says of it.
type Case = (&'static str, fn(&Path), &'static str);

fn make_foreign_redb(path: &Path) {
    const OTHER: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("other");
    let db = redb::Database::create(path).unwrap();
    let tx = db.begin_write().unwrap();
    tx.open_table(OTHER).unwrap().insert("x", 1).unwrap();
    tx.commit().unwrap();
}

#[test]
fn an_empty_or_foreign_state_file_is_refused_and_left_alone() {
    let receiver = Receiver::start();
    let cases: [Case; 3] = [
        (
            "zero-length",
            |p| std::fs::write(p, b"").unwrap(),
            "is empty",
        ),
        (
            "not redb",
            |p| std::fs::write(p, vec![0x5a; 8192]).unwrap(),
            "not a redb database",
        ),
        (
            "redb without sharehook's meta",
            make_foreign_redb,
            "not a sharehook state",
        ),
    ];
    for (what, make, says) in cases {
        let nas = Nas::new();
        nas.write_config(&receiver.url(), "0");
        let dir = nas.dir.path().join("state");
        std::fs::create_dir(&dir).unwrap();
        let file = state_file(&nas);
        make(&file);
        let before = std::fs::read(&file).unwrap();
        for command in ["run", "log", "failed"] {
            let out = nas.run_briefly(&[command]);
            let err = text(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(1),
                "{command} on a {what} file must fail: {err}"
            );
            assert!(
                err.contains(&file.display().to_string()) && err.contains(says),
                "{command} on a {what} file names it and says {says:?}: {err}"
            );
            assert!(!err.contains("is damaged"), "{command}, {what}: {err}");
            assert_eq!(
                std::fs::read(&file).unwrap(),
                before,
                "{command} left the {what} file as it was"
            );
        }
    }
    assert!(receiver.received().is_empty());
}

/// Each state's `(webhook-id, attemptId)` pairs as the receiver saw them, and the identity
/// its start-up line shows.
fn identity(daemon: &Daemon) -> String {
    let log = daemon.log();
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains("identity "))
        .unwrap_or_else(|| panic!("the start-up names the state's identity:\n{log}"));
    let id = line.split("identity ").nth(1).unwrap();
    id[..32].to_owned()
}

#[test]
fn ids_never_repeat_across_states() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config_text(&hook(
        &receiver.url(),
        &format!("format = \"v2\"\nsecret = \"{SECRET}\""),
    ));
    let daemon = nas.start();
    let first_identity = identity(&daemon);
    assert!(
        first_identity.chars().all(|c| c.is_ascii_hexdigit()),
        "{first_identity}"
    );
    write_files_in_order(&nas.share(), &["one.txt".to_owned()]);
    receiver.wait_for(1);
    assert!(daemon.stop().success());

    // The operator moves the state aside, as the README says for a damaged one.
    let file = state_file(&nas);
    std::fs::rename(&file, file.with_extension("redb.broken")).unwrap();
    let daemon = nas.start();
    let second_identity = identity(&daemon);
    assert_ne!(first_identity, second_identity);
    write_files_in_order(&nas.share(), &["two.txt".to_owned()]);
    let got = receiver.wait_for(2);
    assert!(daemon.stop().success());

    let ids: Vec<(String, String)> = got
        .iter()
        .map(|r| {
            (
                r.header("webhook-id").to_owned(),
                r.json()["attemptId"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        got[1].json()["eventData"]["resources"][0]["path"],
        "/two.txt"
    );
    assert_ne!(ids[0].0, ids[1].0, "webhook-id repeats: {ids:?}");
    assert_ne!(ids[0].1, ids[1].1, "attemptId repeats: {ids:?}");
    for (id, _) in &ids {
        let n: u64 = id.parse().unwrap();
        assert!(n < 1 << 53, "ids fit a JavaScript number: {n}");
    }
    let first: u64 = ids[0].0.parse().unwrap();
    let second: u64 = ids[1].0.parse().unwrap();
    assert!(second > first, "ids grow across states: {ids:?}");
}

fn lines(out: &std::process::Output) -> Vec<serde_json::Value> {
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

fn failed(nas: &Nas) -> Vec<serde_json::Value> {
    let out = nas.cli(&["failed", "--json"]);
    assert!(out.status.success(), "failed: {}", text(&out.stderr));
    lines(&out)
}

#[test]
fn failed_events_stay_resendable_after_the_log_forgets_them() {
    let receiver = Receiver::start();
    // bad-1 and bad-2 fail all three of their attempts; everything else goes through.
    receiver.script(&["500 Internal Server Error"; 6]);
    let nas = Nas::new();
    nas.write_config_text(&format!(
        "{}\n[delivery]\nretry_delays = [0, 0.1, 0.1]\n\n[log]\nmax_entries = 5\n",
        hook(&receiver.url(), "")
    ));
    let daemon = nas.start();
    write_files_in_order(&nas.share(), &["bad-1".to_owned()]);
    receiver.wait_for(3);
    write_files_in_order(&nas.share(), &["bad-2".to_owned()]);
    receiver.wait_for(6);
    let good: Vec<String> = (0..6).map(|i| format!("good-{i}")).collect();
    write_files_in_order(&nas.share(), &good);
    receiver.wait_for(12);
    daemon.wait_log("delivery log: removed the", 1);
    let log = wait_for("the log to keep only the good ones", || {
        let log = nas.log_entries(&["--limit", "0"]);
        log.iter().all(|e| e["status"] == 200).then_some(log)
    });
    assert!(log.len() <= 5, "{log:?}");

    // The failed events are listed, although the log no longer has any of their attempts.
    let set_aside = failed(&nas);
    let paths: Vec<&str> = set_aside
        .iter()
        .map(|f| f["resourcePath"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["/bad-1", "/bad-2"], "{set_aside:?}");
    for f in &set_aside {
        assert_eq!(f["webhookId"], 1);
        assert_eq!(f["attempts"], 3);
        assert_eq!(f["lastResult"], "500");
        assert_eq!(f["event"], "resources.upload");
        assert!(f["failedAt"].as_str().unwrap().ends_with('Z'), "{f}");
    }
    let text_out = text(&nas.cli(&["failed"]).stdout);
    assert!(
        text_out.contains("/bad-1") && text_out.contains("500"),
        "{text_out}"
    );
    let bad1 = set_aside[0]["eventId"].as_u64().unwrap();

    // One attempt of it, by its attempt id, as `sharehook log` once showed it.
    let out = nas.cli(&["resend", &format!("{bad1}-2")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let got = receiver.wait_for(13);
    assert_eq!(got[12].op().1, "/bad-1");
    assert_eq!(got[12].json()["attempt"], 4, "attempt numbers go on");
    assert_eq!(printed["attemptId"], format!("{bad1}-4"));
    assert_eq!(printed["resend"], true);
    // The entry it prints is the one the log has, with its real id.
    let newest = &nas.log_entries(&["--limit", "1"])[0];
    assert_eq!(newest["attemptId"], format!("{bad1}-4"));
    assert_ne!(printed["id"], 0);
    assert_eq!(printed["id"], newest["id"]);
    let left: Vec<u64> = failed(&nas)
        .iter()
        .map(|f| f["eventId"].as_u64().unwrap())
        .collect();
    assert_eq!(
        left.len(),
        1,
        "the delivered one is no longer failed: {left:?}"
    );
    assert_ne!(left[0], bad1);

    // The rest goes back into the queue.
    let out = nas.cli(&["resend", "--failed"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains('1'), "{}", text(&out.stdout));
    let got = receiver.wait_for(14);
    assert_eq!(got[13].op().1, "/bad-2");
    assert_eq!(got[13].json()["attempt"], 4);
    let entry = wait_for("the resent attempt in the log", || {
        nas.log_entries(&["--limit", "1"])
            .into_iter()
            .next()
            .filter(|e| e["resourcePath"] == "/bad-2")
    });
    assert_eq!(entry["resend"], true);
    assert_eq!(entry["attempt"], 4);
    assert!(failed(&nas).is_empty());
    assert!(daemon.stop().success());

    // Counted right after a restart too.
    let daemon = nas.start();
    daemon.wait_log("0 queued, 0 failed", 1);
    assert!(daemon.stop().success());
}

#[test]
fn resend_failed_without_a_daemon_queues_them_for_its_start() {
    let receiver = Receiver::start();
    // Both attempts fail, and so does the first one sent back: a fresh round of the schedule
    // lets a second one through.
    receiver.script(&["503 Service Unavailable"; 3]);
    let nas = Nas::new();
    nas.write_config_text(&format!(
        "{}\n[delivery]\nretry_delays = [0, 0.1]\n",
        hook(&receiver.url(), "")
    ));
    let daemon = nas.start();
    write_files_in_order(&nas.share(), &["late.txt".to_owned()]);
    daemon.wait_log("that was the last attempt", 1);
    assert!(daemon.stop().success());
    assert_eq!(failed(&nas).len(), 1);

    let out = nas.cli(&["resend", "--failed", "--since", "1h"]);
    let said = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        said.contains('1') && said.contains("when the daemon starts"),
        "{said}"
    );
    assert!(failed(&nas).is_empty());

    let daemon = nas.start();
    daemon.wait_log("1 queued, 0 failed", 1);
    let got = receiver.wait_for(4);
    let seen: Vec<(String, u64, u16)> = got
        .iter()
        .map(|r| (r.op().1, r.json()["attempt"].as_u64().unwrap(), r.status))
        .collect();
    let late = |attempt, status| ("/late.txt".to_owned(), attempt, status);
    assert_eq!(
        seen,
        [late(1, 503), late(2, 503), late(3, 503), late(4, 200)]
    );
    let log = wait_for("the resends in the log", || {
        let log = nas.log_entries(&[]);
        (log.len() >= 4).then_some(log)
    });
    let resends: Vec<(u64, bool)> = log
        .iter()
        .map(|e| {
            (
                e["attempt"].as_u64().unwrap(),
                e["resend"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(resends, [(4, true), (3, true), (2, false), (1, false)]);
    assert!(daemon.stop().success());

    // A resend with no daemon prints the entry with the id the log gave it, too.
    let event_id = log[0]["eventId"].as_u64().unwrap();
    let out = nas.cli(&["resend", &format!("{event_id}-4")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let newest = &nas.log_entries(&["--limit", "1"])[0];
    assert_eq!(printed["attemptId"], format!("{event_id}-5"));
    assert_ne!(printed["id"], 0);
    assert_eq!(printed["id"], newest["id"]);

    let daemon = nas.start();
    daemon.wait_log("0 queued, 0 failed", 1);
    assert!(daemon.stop().success());
}

/// A reader that may not write the file cannot repair it: it says that the daemon must start
/// once, and after that start the file reads again.
#[test]
fn a_reader_that_cannot_repair_says_to_start_the_daemon_once() {
    let setpriv = need("setpriv", "util-linux");
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config(&receiver.url(), "0, 0.5");
    let daemon = nas.start();
    write_files_in_order(&nas.share(), &["before-crash.txt".to_owned()]);
    receiver.wait_for(1);
    wait_for("the delivery to be logged", || {
        (!nas.log_entries(&[]).is_empty()).then_some(())
    });
    daemon.kill9();

    // Readable, not writable, by the unprivileged user that reads the log.
    let file = state_file(&nas);
    sh(
        nas.dir.path(),
        &format!(
            "chmod 755 . && chmod 644 sharehook.toml && chown -R 65534:65534 state && \
             chmod 700 state && chmod 400 {}",
            file.display()
        ),
    );
    let before = std::fs::read(&file).unwrap();
    let as_nobody = || {
        let inner = sharehook();
        std::process::Command::new(&setpriv)
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(inner.get_program())
            .args(inner.get_args())
            .args(["log", "--json", "--config"])
            .arg(nas.config_path())
            .output()
            .unwrap()
    };
    let out = as_nobody();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&file.display().to_string())
            && err.contains("not closed cleanly")
            && err.contains("start `sharehook run` once")
            && !err.contains("damaged"),
        "{err}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), before, "left as it was");

    let daemon = nas.start();
    assert!(daemon.stop().success());
    let out = as_nobody();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("\"resourcePath\":\"/before-crash.txt\""),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn commands_never_make_a_state_where_there_is_none() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config(&receiver.url(), "0");
    let state = nas.dir.path().join("state");
    for args in [&["enable", "1"][..], &["resend", "--failed"][..]] {
        let out = nas.run_briefly(args);
        assert!(!out.status.success(), "{args:?} with no state succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("sharehook.redb"), "{args:?}: {err}");
        assert!(
            !state.join("sharehook.redb").exists(),
            "{args:?} made a state: {err}"
        );
    }
}
