//! The tests of `evidence`: a real log file followed through rotation, truncation and a
//! restart, and records matched to changes.

use std::io::Write;

use super::*;
use samba::Prefix;

/// A header as Samba writes it, each with a time of its own.
fn header() -> String {
    static CLOCK: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let us = CLOCK.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 1_000_000;
    format!("[2026/12/07 11:58:16.{us:06},  1] ../../source3/modules/vfs_full_audit.c:643(do_log)")
}

fn append(path: &Path, messages: &[&str]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for m in messages {
        writeln!(f, "{}\n  {m}", header()).unwrap();
    }
    // The header that shows the last record is whole.
    writeln!(f, "{}", header()).unwrap();
}

fn sp(s: &str) -> SharePath {
    SharePath::from_config(s)
}

fn user_of(e: &Evidence, op: Operation, path: &str, source: Option<&str>) -> Option<String> {
    let source = source.map(sp);
    e.take(Path::new("/srv/s"), op, &sp(path), source.as_ref())
        .map(|w| format!("{}@{}", w.user, w.address))
}

#[test]
fn records_attribute_the_changes_they_tell_of_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    append(
        &log,
        &[
            "alice|198.18.0.2|openat|ok|w|/srv/s/a.txt",
            "bob|198.18.0.3|renameat|ok|/srv/s/a.txt|/srv/s/b.txt",
            "bob|198.18.0.3|unlinkat|ok|/srv/s/b.txt",
            "alice|198.18.0.2|mkdirat|ok|/srv/s/d",
        ],
    );
    let e = Evidence::samba(&log, Prefix::default(), Position::default());
    e.catch_up();
    assert_eq!(
        user_of(&e, Operation::Upload, "/a.txt", None).as_deref(),
        Some("alice@198.18.0.2")
    );
    assert_eq!(
        user_of(&e, Operation::Upload, "/a.txt", None),
        None,
        "used up"
    );
    assert_eq!(
        user_of(&e, Operation::Rename, "/b.txt", Some("/a.txt")).as_deref(),
        Some("bob@198.18.0.3")
    );
    assert_eq!(
        user_of(&e, Operation::Delete, "/b.txt", None).as_deref(),
        Some("bob@198.18.0.3")
    );
    assert_eq!(
        user_of(&e, Operation::Delete, "/d", None),
        None,
        "a mkdir is no delete"
    );
    assert_eq!(
        user_of(&e, Operation::CreateFolder, "/d", None).as_deref(),
        Some("alice@198.18.0.2")
    );
    // A path of another share's folder, or outside any, matches nothing here.
    assert_eq!(user_of(&e, Operation::Upload, "/other", None), None);
}

#[test]
fn two_sessions_claiming_one_change_attribute_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    append(
        &log,
        &[
            "alice|198.18.0.2|unlinkat|ok|/srv/s/x",
            "bob|198.18.0.3|unlinkat|ok|/srv/s/x",
            "alice|198.18.0.2|openat|ok|w|/srv/s/y",
            "alice|198.18.0.2|openat|ok|w|/srv/s/y",
        ],
    );
    let e = Evidence::samba(&log, Prefix::default(), Position::default());
    e.catch_up();
    assert_eq!(user_of(&e, Operation::Delete, "/x", None), None);
    assert_eq!(
        user_of(&e, Operation::Upload, "/y", None).as_deref(),
        Some("alice@198.18.0.2")
    );
}

#[test]
fn the_log_is_followed_through_rotation_truncation_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    append(&log, &["alice|198.18.0.2|unlinkat|ok|/srv/s/1"]);
    let e = Evidence::samba(&log, Prefix::default(), Position::default());
    let at = e.catch_up();
    assert!(user_of(&e, Operation::Delete, "/1", None).is_some());

    // A restart resumes where the last run stopped: the record read before is not read
    // again, the new one is.
    append(&log, &["alice|198.18.0.2|unlinkat|ok|/srv/s/2"]);
    let e = Evidence::samba(&log, Prefix::default(), at[0].1);
    e.catch_up();
    assert_eq!(user_of(&e, Operation::Delete, "/1", None), None);
    assert!(user_of(&e, Operation::Delete, "/2", None).is_some());

    // Rotated: a new file at the path is read from its start.
    std::fs::rename(&log, dir.path().join("audit.log.1")).unwrap();
    append(&log, &["bob|198.18.0.3|unlinkat|ok|/srv/s/3"]);
    e.catch_up();
    assert_eq!(
        user_of(&e, Operation::Delete, "/3", None).as_deref(),
        Some("bob@198.18.0.3")
    );

    // Truncated in place: read from its start again.
    std::fs::write(&log, "").unwrap();
    append(&log, &["ann|198.18.0.4|unlinkat|ok|/srv/s/4"]);
    e.catch_up();
    assert_eq!(
        user_of(&e, Operation::Delete, "/4", None).as_deref(),
        Some("ann@198.18.0.4")
    );
}

#[test]
fn a_missing_or_unreadable_log_is_said_and_attributes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let e = Evidence::samba(&log, Prefix::default(), Position::default());
    e.catch_up();
    let status = e.status().remove(0);
    let trouble = status.trouble.expect("a missing log is a trouble");
    assert!(trouble.contains("audit.log"), "{trouble}");
    assert!(trouble.contains("No such file"), "{trouble}");
    // Once the file is there, it is read, and the trouble is gone.
    append(&log, &["alice|198.18.0.2|unlinkat|ok|/srv/s/1"]);
    e.catch_up();
    assert_eq!(e.status()[0].trouble, None);
    assert!(user_of(&e, Operation::Delete, "/1", None).is_some());
    // Something at the path that cannot be read as a log (root reads any file, so a folder
    // stands for an unreadable one here): said, naming the path and the user sharehook runs
    // as, and nothing is attributed.
    let odd = dir.path().join("odd.log");
    std::fs::create_dir(&odd).unwrap();
    let e = Evidence::samba(&odd, Prefix::default(), Position::default());
    e.catch_up();
    let trouble = e.status()[0]
        .trouble
        .clone()
        .expect("a folder cannot be read as a log");
    assert!(
        trouble.contains("odd.log")
            && trouble.contains("Is a directory")
            && trouble.contains("runs as user"),
        "{trouble}"
    );
}

#[test]
fn records_that_match_no_change_are_bounded_in_number() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let lines: Vec<String> = (0..MAX_RECORDS + 10)
        .map(|i| format!("alice|198.18.0.2|unlinkat|ok|/srv/s/{i}"))
        .collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    append(&log, &refs);
    let e = Evidence::samba(&log, Prefix::default(), Position::default());
    e.catch_up();
    assert_eq!(e.status()[0].kept, MAX_RECORDS);
    // The oldest went first.
    assert_eq!(user_of(&e, Operation::Delete, "/0", None), None);
    assert!(
        user_of(
            &e,
            Operation::Delete,
            &format!("/{}", MAX_RECORDS + 9),
            None
        )
        .is_some()
    );
}

#[test]
fn a_samba_session_that_read_a_file_and_closed_it_read_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    append(
        &log,
        &[
            "bob|198.18.0.3|openat|ok|r|/srv/s/a.txt",
            "bob|198.18.0.3|pread_recv|ok|/srv/s/a.txt",
            "bob|198.18.0.3|pread_recv|ok|/srv/s/a.txt",
            "bob|198.18.0.3|close|ok|/srv/s/a.txt",
            // Opened and closed without a read: a look at it, not a read.
            "alice|198.18.0.2|openat|ok|r|/srv/s/b.txt",
            "alice|198.18.0.2|close|ok|/srv/s/b.txt",
            // Read, not closed yet.
            "alice|198.18.0.2|pread|ok|/srv/s/c.txt",
        ],
    );
    let e = Evidence::samba(&log, Prefix::default(), Position::default());
    e.catch_up();
    let reads = e.reads();
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert_eq!(reads[0].path, Path::new("/srv/s/a.txt"));
    assert_eq!(reads[0].who.user, "bob");
    assert_eq!(reads[0].who.address, "198.18.0.3");
    assert_eq!(reads[0].who.protocol, "smb");
    assert_eq!(reads[0].bytes, None);
    assert!(e.reads().is_empty(), "taken once");
    append(&log, &["alice|198.18.0.2|close|ok|/srv/s/c.txt"]);
    e.catch_up();
    let reads = e.reads();
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0].who.user, "alice");
}

#[test]
fn an_sftp_log_names_the_session_of_each_change_and_read() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("sftp.log");
    let lines = [
        "Dec  7 14:00:00 nas internal-sftp[42]: session opened for local user carol from [198.18.3.2]",
        "Dec  7 14:00:01 nas internal-sftp[42]: open \"/srv/s/a.txt\" flags WRITE,CREATE,TRUNCATE mode 0666",
        "Dec  7 14:00:01 nas internal-sftp[42]: close \"/srv/s/a.txt\" bytes read 0 written 6",
        "Dec  7 14:00:01 nas internal-sftp[42]: open \"/srv/s/b.txt\" flags READ mode 0666",
        "Dec  7 14:00:01 nas internal-sftp[42]: close \"/srv/s/b.txt\" bytes read 10 written 0",
        "",
    ];
    std::fs::write(&log, lines.join("\n")).unwrap();
    let e = Evidence::new(vec![(Source::Sftp(None), log.clone(), Position::default())]);
    let at = e.catch_up();
    assert_eq!(at[0].0, "sftp");
    assert_eq!(at[0].1.offset, std::fs::metadata(&log).unwrap().len());
    let who = e
        .take(Path::new("/srv/s"), Operation::Upload, &sp("/a.txt"), None)
        .unwrap();
    assert_eq!(
        (
            who.user.as_str(),
            who.address.as_str(),
            who.protocol.as_str(),
            who.how
        ),
        ("carol", "198.18.3.2", "sftp", Attribution::SftpLog)
    );
    let reads = e.reads();
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0].path, Path::new("/srv/s/b.txt"));
    assert_eq!(reads[0].bytes, Some(10));
    assert_eq!(e.status()[0].records, 2);
}

#[test]
fn files_being_read_are_bounded_in_number_the_oldest_taken_as_done() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let lines: Vec<String> = (0..MAX_OPEN_READS + 10)
        .map(|i| format!("bob|198.18.0.3|pread_recv|ok|/srv/s/{i}"))
        .collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    append(&log, &refs);
    let e = Evidence::samba(&log, Prefix::default(), Position::default());
    e.catch_up();
    let reads = e.reads();
    // The ten oldest were taken as read whole to make room; the others are still open.
    let paths: Vec<String> = reads.iter().map(|r| r.path.display().to_string()).collect();
    let oldest: Vec<String> = (0..10).map(|i| format!("/srv/s/{i}")).collect();
    assert_eq!(paths, oldest);
    // A close of one still open ends its read.
    append(
        &log,
        &[&format!(
            "bob|198.18.0.3|close|ok|/srv/s/{}",
            MAX_OPEN_READS + 9
        )],
    );
    e.catch_up();
    assert_eq!(e.reads().len(), 1);
}

#[test]
fn a_server_side_copy_names_its_source_for_the_copy_s_path() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    append(
        &log,
        &[
            "carol|198.18.0.4|create_file|ok|0x89|file|open|/srv/s/report.pdf",
            "carol|198.18.0.4|offload_read_send|ok|",
            "carol|198.18.0.4|create_file|ok|0x112|file|overwrite_if|/srv/s/copy.pdf",
            // Another session's open in between changes nothing of carol's copy.
            "dave|198.18.0.5|create_file|ok|0x89|file|open|/srv/s/other.pdf",
            "carol|198.18.0.4|offload_write_send|ok|",
        ],
    );
    let e = Evidence::samba(&log, Prefix::default(), Position::default());
    e.catch_up();
    assert_eq!(
        e.copy_source(Path::new("/srv/s/copy.pdf")),
        Some(PathBuf::from("/srv/s/report.pdf"))
    );
    assert_eq!(
        e.copy_source(Path::new("/srv/s/copy.pdf")),
        None,
        "taken once"
    );
    // The copy's write is carol's, as any write.
    assert_eq!(
        user_of(&e, Operation::Copy, "/copy.pdf", None).as_deref(),
        Some("carol@198.18.0.4")
    );
    // A second copy from the same source (a client may use the source's key again, without
    // a new offload_read_send) names it too.
    append(
        &log,
        &[
            "carol|198.18.0.4|create_file|ok|0x112|file|overwrite_if|/srv/s/new.pdf",
            "carol|198.18.0.4|offload_write_send|ok|",
        ],
    );
    e.catch_up();
    assert_eq!(
        e.copy_source(Path::new("/srv/s/new.pdf")),
        Some(PathBuf::from("/srv/s/report.pdf"))
    );
}

#[test]
fn a_log_never_read_is_read_from_its_end_or_whole_when_it_comes_later() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    // Old reads and writes, from before sharehook read the log: not news.
    append(
        &log,
        &[
            "bob|198.18.0.3|pread_recv|ok|/srv/s/old.txt",
            "bob|198.18.0.3|close|ok|/srv/s/old.txt",
            "bob|198.18.0.3|unlinkat|ok|/srv/s/gone",
        ],
    );
    let e = Evidence::samba(&log, Prefix::default(), Position::END);
    e.catch_up();
    assert!(e.reads().is_empty());
    assert_eq!(user_of(&e, Operation::Delete, "/gone", None), None);
    append(&log, &["bob|198.18.0.3|unlinkat|ok|/srv/s/new"]);
    e.catch_up();
    assert!(user_of(&e, Operation::Delete, "/new", None).is_some());
    // A log that is not there yet is read whole once it comes.
    let later = dir.path().join("later.log");
    let e = Evidence::samba(&later, Prefix::default(), Position::END);
    e.catch_up();
    append(&later, &["ann|198.18.0.4|unlinkat|ok|/srv/s/x"]);
    e.catch_up();
    assert!(user_of(&e, Operation::Delete, "/x", None).is_some());
}
