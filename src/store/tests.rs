//! The tests of `store`.

use super::*;
use crate::core::event::{Event, Operation, SharePath};
use crate::core::sign::{Secret, Token};

fn event(path: &str) -> Event {
    Event {
        id: 0,
        op: Operation::Upload,
        share: "s".into(),
        path: SharePath::from_config(path),
        source: None,
        is_dir: false,
        username: "u".into(),
        time_ms: 5,
        size: Some(3),
        protocol: None,
        address: String::new(),
        attribution: crate::core::event::Attribution::Owner,
    }
}

fn new_event(path: &str, webhooks: &[u32]) -> NewEvent {
    let e = event(path);
    NewEvent {
        deliveries: webhooks.iter().map(|w| (*w, e.clone(), 0)).collect(),
        event: e,
    }
}

#[test]
fn queues_are_per_webhook_ordered_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let ids = store
            .enqueue(&[
                new_event("/a", &[1, 2]),
                new_event("/b", &[2]),
                new_event("/c", &[1]),
            ])
            .unwrap();
        let first = ids[0];
        assert_eq!(ids, [first, first + 1, first + 2]);
        assert_eq!(store.pending_count(1).unwrap(), 2);
        assert_eq!(store.pending_count(2).unwrap(), 2);
        assert_eq!(store.webhooks_with_pending().unwrap(), [1, 2]);
        store
            .flush(
                &Flush {
                    webhook: 2,
                    delivered: vec![first],
                    ..Flush::default()
                },
                0,
            )
            .unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let head = store.head(2).unwrap().unwrap();
    let first = head.event.id - 1;
    assert_eq!(head.event.path.to_string(), "/b");
    let mut head = store.head(1).unwrap().unwrap();
    assert_eq!(head.event.id, first);
    head.attempts = 1;
    head.due_ms = 99;
    let retry = Flush {
        webhook: 1,
        retry: Some(head.clone()),
        ..Flush::default()
    };
    store.flush(&retry, 0).unwrap();
    assert_eq!(store.head(1).unwrap().unwrap(), head);
    let set_aside = Flush {
        webhook: 1,
        set_aside: Some(SetAside {
            webhook: 1,
            event: head.event.clone(),
            attempts: 1,
            failed_ms: 7,
            last_result: "500".into(),
        }),
        ..Flush::default()
    };
    store.flush(&set_aside, 0).unwrap();
    assert_eq!(store.pending_count(1).unwrap(), 1);
    assert_eq!(store.head(1).unwrap().unwrap().event.id, first + 2);
    assert_eq!(store.failed_count(1).unwrap(), 1);
    assert_eq!(store.failed(1).unwrap()[0].last_result, "500");
    assert_eq!(
        store.enqueue(&[new_event("/d", &[3])]).unwrap(),
        [first + 3],
        "ids keep increasing"
    );
}

/// An attempt of an Upload of /x, answered 500 (a fixture for the log's tests here and
/// elsewhere).
pub(crate) fn log_entry(webhook: u32, event_id: u64, attempt: u32, time_ms: i64) -> LogEntry {
    let mut e = event("/x");
    e.id = event_id;
    LogEntry {
        id: 0,
        time_ms,
        webhook,
        format: "v1".into(),
        attempt,
        resend: false,
        url: "http://h/".into(),
        status: 500,
        transport: false,
        message: String::new(),
        response_size: 0,
        response: Vec::new(),
        duration_ms: 1,
        event: e,
        body: b"{}".to_vec(),
    }
}

#[test]
fn the_queue_limit_drops_the_oldest_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.set_limits(Limits {
        queue_limit: 3,
        ..Limits::default()
    });
    let mut batch = store.batch().unwrap();
    for name in ["/1", "/2", "/3", "/4", "/5"] {
        batch.enqueue(&new_event(name, &[1, 2])).unwrap();
    }
    assert_eq!(batch.commit().unwrap(), [(1, 2), (2, 2)]);
    assert_eq!(store.queue_counts(1).unwrap(), (3, 2));
    let paths: Vec<String> = store
        .front(1, 10)
        .unwrap()
        .iter()
        .map(|p| p.event.path.to_string())
        .collect();
    assert_eq!(paths, ["/3", "/4", "/5"]);
}

#[test]
fn the_log_keeps_what_retention_allows_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.set_limits(Limits {
        log_max_entries: 10,
        log_max_age_ms: 1_000_000,
        ..Limits::default()
    });
    let now = 10_000_000;
    let flush = |entries: Vec<LogEntry>, now| {
        store
            .flush(
                &Flush {
                    webhook: 1,
                    log: entries,
                    ..Flush::default()
                },
                now,
            )
            .unwrap()
            .pruned
    };
    // Two entries far older than the maximum age, then ten recent ones.
    let mut entries = vec![log_entry(1, 1, 1, 0), log_entry(1, 1, 2, 10)];
    entries.extend((0..10).map(|i| log_entry(1, 2 + i, 1, now - 100 + i as i64)));
    let pruned = flush(entries, now);
    // Past 10 it goes down to 9 (90%), dropping the three oldest; the age rule then has
    // nothing left to remove.
    assert_eq!(
        pruned,
        Pruned {
            by_count: 3,
            by_age: 0
        }
    );
    assert_eq!(store.log_len().unwrap(), 9);
    let newest = store
        .log(&LogFilter {
            limit: 2,
            ..LogFilter::default()
        })
        .unwrap();
    assert_eq!(
        newest.iter().map(LogEntry::attempt_id).collect::<Vec<_>>(),
        ["11-1", "10-1"]
    );
    // Much later, everything is older than the maximum age.
    let pruned = flush(vec![log_entry(2, 50, 1, now + 5_000_000)], now + 5_000_000);
    assert_eq!(pruned.by_age, 9);
    let all = store.log(&LogFilter::default()).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(store.last_attempt(2, 50).unwrap(), 1);
    assert_eq!(store.last_attempt(1, 50).unwrap(), 0);
}

#[test]
fn the_log_lists_by_time_across_webhooks_and_filters_by_status() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let flush = |webhook: u32, entries: Vec<LogEntry>, set_aside: Option<SetAside>| {
        store
            .flush(
                &Flush {
                    webhook,
                    log: entries,
                    set_aside,
                    ..Flush::default()
                },
                1_000,
            )
            .unwrap();
    };
    // Webhook 2 writes its two attempts first; webhook 1's slow receiver makes it write
    // its attempts (at 100 and 300) after them.
    flush(
        2,
        vec![log_entry(2, 7, 1, 200), log_entry(2, 8, 1, 400)],
        None,
    );
    let mut answered = log_entry(1, 7, 1, 100);
    answered.status = 200;
    let mut refused = log_entry(1, 8, 1, 300);
    refused.transport = true;
    refused.status = 7;
    let failed = SetAside {
        webhook: 1,
        event: refused.event.clone(),
        attempts: 1,
        failed_ms: 301,
        last_result: "7".into(),
    };
    flush(1, vec![answered, refused], Some(failed));
    let listed = |filter: LogFilter| -> Vec<(u32, i64)> {
        store
            .log(&filter)
            .unwrap()
            .iter()
            .map(|e| (e.webhook, e.time_ms))
            .collect()
    };
    assert_eq!(
        listed(LogFilter::default()),
        [(2, 400), (1, 300), (2, 200), (1, 100)]
    );
    assert_eq!(
        listed(LogFilter {
            limit: 2,
            since_ms: Some(150),
            ..LogFilter::default()
        }),
        [(2, 400), (1, 300)]
    );
    let status = |s| {
        listed(LogFilter {
            status: Some(s),
            ..LogFilter::default()
        })
    };
    assert_eq!(status(LogStatus::Class(5)), [(2, 400), (2, 200)]);
    assert_eq!(status(LogStatus::Code(200)), [(1, 100)]);
    assert_eq!(status(LogStatus::Transport), [(1, 300)]);
    assert_eq!(status(LogStatus::SetAside), [(1, 300)]);
    assert!(!store.knows_webhook(1).unwrap());
    store
        .webhook_setup(1, "http://h/", None, None, 1_000, 0)
        .unwrap();
    assert!(store.knows_webhook(1).unwrap());
    assert!(!store.knows_webhook(3).unwrap());
}

#[test]
fn tokens_are_generated_once_and_the_file_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let setup = |id, url, token: Option<&Token>, secret: Option<&Secret>, now| {
        store
            .webhook_setup(id, url, token, secret, 1_000, now)
            .unwrap()
    };
    let first = setup(1, "http://a/", None, None, 0);
    assert_eq!(first.moved_from, None);
    let again = setup(1, "http://b/", None, None, 0);
    assert_eq!(first.keys.token, again.keys.token);
    assert_eq!(again.moved_from.as_deref(), Some("http://a/"));
    let given = Token::parse("efb7e0030e6cef1b45d3d74a67881a2b").unwrap();
    assert_eq!(
        setup(2, "http://c/", Some(&given), None, 0).keys.token,
        given
    );
    // A replaced token or secret keeps signing for the grace period, then stops.
    let other = Token::parse("00000000000000000000000000000000").unwrap();
    let s1 = Secret::parse("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").unwrap();
    let s2 = Secret::parse("whsec_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB").unwrap();
    setup(2, "http://c/", Some(&given), Some(&s1), 100);
    let rotated = setup(2, "http://c/", Some(&other), Some(&s2), 200);
    assert_eq!(rotated.keys.token, other);
    assert_eq!(rotated.keys.previous_token, Some((given.clone(), 1_200)));
    assert_eq!(rotated.keys.secret, Some(s2.clone()));
    assert_eq!(rotated.keys.previous_secret, Some((s1, 1_200)));
    let later = setup(2, "http://c/", Some(&other), Some(&s2), 1_300);
    assert_eq!(later.keys.previous_token, None);
    assert_eq!(later.keys.previous_secret, None);
    let mode = std::fs::metadata(store.path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn a_second_process_is_refused_and_only_a_broken_state_is_named_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Store::open(dir.path()).unwrap();
    let err = Store::open(dir.path()).err().unwrap().to_string();
    assert!(err.contains("in use by another sharehook process"), "{err}");

    // A sharehook state whose pages after the header were overwritten.
    let broken = tempfile::tempdir().unwrap();
    drop(Store::open(broken.path()).unwrap());
    let path = broken.path().join(FILE_NAME);
    let mut bytes = std::fs::read(&path).unwrap();
    let len = bytes.len();
    bytes[REDB_MAGIC.len()..len.min(8192)].fill(0x5a);
    std::fs::write(&path, bytes).unwrap();
    for err in [
        Store::open(broken.path()).err().unwrap().to_string(),
        Store::open_read_only(broken.path())
            .err()
            .unwrap()
            .to_string(),
    ] {
        assert!(
            err.contains(&path.display().to_string())
                && err.contains("is damaged")
                && err.contains("move it aside")
                && err.contains("index is rebuilt from the disk")
                && err.contains("undelivered events and the delivery log in the old file are lost"),
            "{err}"
        );
    }
}

/// A kind of file, how to make it, and what the refusal says of it.
type Case = (&'static str, fn(&Path), &'static str);

#[test]
fn only_a_missing_file_is_a_first_start_and_other_files_are_left_alone() {
    const OTHER: TableDefinition<&str, u64> = TableDefinition::new("other");
    let cases: [Case; 4] = [
        ("empty", |p| std::fs::write(p, b"").unwrap(), "is empty"),
        (
            "short",
            |p| std::fs::write(p, b"redb").unwrap(),
            "not a redb database",
        ),
        (
            "junk",
            |p| std::fs::write(p, vec![0x5a; 8192]).unwrap(),
            "not a redb database",
        ),
        (
            "foreign redb",
            |p| {
                let db = Database::create(p).unwrap();
                let tx = db.begin_write().unwrap();
                tx.open_table(OTHER).unwrap().insert("x", 1).unwrap();
                tx.commit().unwrap();
            },
            "redb database without sharehook's format and identity",
        ),
    ];
    for (what, make, says) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        make(&path);
        let before = std::fs::read(&path).unwrap();
        for err in [
            Store::open(dir.path()).err(),
            Store::open_read_only(dir.path()).err(),
        ] {
            let err = err
                .unwrap_or_else(|| panic!("a {what} file is refused"))
                .to_string();
            assert!(
                err.contains(&path.display().to_string()) && err.contains(says),
                "{what}: {err}"
            );
            assert!(!err.contains("damaged"), "{what}: {err}");
        }
        assert_eq!(std::fs::read(&path).unwrap(), before, "{what} left alone");
    }
    // A missing file is a first start, made whole before it takes the state's name.
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path()).unwrap());
    assert!(!dir.path().join(format!("{FILE_NAME}.new")).exists());
    assert!(Store::open_read_only(dir.path()).is_ok());
}

#[test]
fn each_state_has_an_identity_and_ids_no_earlier_state_had() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let before = now_us();
    let (sa, sb) = (
        Store::open(a.path()).unwrap(),
        Store::open(b.path()).unwrap(),
    );
    let (ia, ib) = (sa.identity().unwrap(), sb.identity().unwrap());
    assert_eq!(ia.len(), 32);
    assert!(ia.chars().all(|c| c.is_ascii_hexdigit()), "{ia}");
    assert_ne!(ia, ib);
    // Ids start at the time the state was made, in microseconds.
    let first = sa.enqueue(&[new_event("/a", &[1])]).unwrap()[0];
    assert!((before..=now_us()).contains(&first), "{first}");
    drop(sa);
    assert_eq!(Store::open(a.path()).unwrap().identity().unwrap(), ia);
    // With a clock that is not set, a random start far above every time id, below 2^53.
    for _ in 0..100 {
        let id = first_event_id(86_400_000_000);
        assert!(((1 << 52)..MAX_EVENT_ID - ID_ROOM).contains(&id), "{id}");
    }
    assert_ne!(first_event_id(0), first_event_id(0));
    assert_eq!(first_event_id(CLOCK_SET_US), CLOCK_SET_US);
}

#[test]
fn a_state_of_an_earlier_sharehook_gets_an_identity_and_keeps_its_queue() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE_NAME);
    {
        // Layout 1: no identity, ids from 1, queue records of version 1.
        let db = Database::create(&path).unwrap();
        let tx = db.begin_write().unwrap();
        {
            let mut meta = tx.open_table(META).unwrap();
            meta.insert("format", 1).unwrap();
            meta.insert("next_event_id", 8).unwrap();
            // The event as it was then (before `protocol`), as the tuple of its fields.
            let e = event("/old");
            let e = (
                7u64, e.op, e.share, e.path, e.source, e.is_dir, e.username, e.time_ms, e.size,
            );
            let old = (1u32, e, 2u32, 99i64, Some("500".to_owned()));
            tx.open_table(delivery::QUEUE)
                .unwrap()
                .insert((1, 7), encode_as(&old, 1).as_slice())
                .unwrap();
        }
        tx.commit().unwrap();
    }
    let before = now_us();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.identity().unwrap().len(), 32);
    assert!(store.next_event_id().unwrap() >= before);
    let head = store.head(1).unwrap().unwrap();
    assert_eq!((head.event.id, head.attempts, head.due_ms), (7, 2, 99));
    assert!(!head.resend && head.round_start == 0);
    assert_eq!(store.pending_count(1).unwrap(), 1);
}

#[test]
fn failed_events_go_back_to_their_queue_and_leave_failed_when_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let ids = store
        .enqueue(&[new_event("/x", &[1]), new_event("/y", &[1])])
        .unwrap();
    let give_up = |id: u64, failed_ms: i64| {
        let head = store.head(1).unwrap().unwrap();
        assert_eq!(head.event.id, id);
        let flush = Flush {
            webhook: 1,
            set_aside: Some(SetAside {
                webhook: 1,
                event: head.event,
                attempts: 8,
                failed_ms,
                last_result: "503".into(),
            }),
            ..Flush::default()
        };
        store.flush(&flush, 0).unwrap();
    };
    give_up(ids[0], 1_000);
    give_up(ids[1], 2_000);
    assert_eq!(store.pending_count(1).unwrap(), 0);
    assert_eq!(store.failed_events(None).unwrap().len(), 2);
    assert_eq!(store.next_attempt(1, ids[0]).unwrap(), 9);

    // Only those that failed since the time asked for.
    assert_eq!(
        store.requeue_failed(&[1], Some(1_500), 5_000).unwrap(),
        [(1, 1)]
    );
    let back = store.head(1).unwrap().unwrap();
    assert_eq!(back.event.id, ids[1]);
    assert_eq!(
        (back.attempts, back.round_start, back.resend, back.due_ms),
        (8, 8, true, 5_000)
    );
    assert_eq!(store.pending_count(1).unwrap(), 1);
    assert_eq!(store.failed_count(1).unwrap(), 1);
    assert_eq!(store.next_attempt(1, ids[1]).unwrap(), 9);

    // A resend of the other one got through: it is no longer failed.
    let resolved = Flush {
        webhook: 1,
        resolved: vec![ids[0]],
        ..Flush::default()
    };
    store.flush(&resolved, 0).unwrap();
    assert_eq!(store.failed_count(1).unwrap(), 0);
    assert_eq!(store.requeue_failed(&[1, 2], None, 0).unwrap(), []);
}

#[test]
fn open_errors_say_damaged_only_for_corruption() {
    let p = Path::new("/s/sharehook.redb");
    let says = |e: redb::Error| classify_open_error(p, e).to_string();
    assert!(says(redb::Error::Corrupted("x".into())).contains("is damaged"));
    let repair = says(redb::Error::RepairAborted);
    assert!(
        repair.contains("not closed cleanly") && repair.contains("start `sharehook run` once"),
        "{repair}"
    );
    let denied = says(redb::Error::Io(std::io::Error::from_raw_os_error(
        libc::EACCES,
    )));
    assert!(
        denied.contains("cannot open the state file") && !denied.contains("damaged"),
        "{denied}"
    );
    assert!(says(redb::Error::DatabaseAlreadyOpen).contains("in use"));
    assert!(!says(redb::Error::UpgradeRequired(2)).contains("damaged"));
}

fn entry(kind: crate::tree::EntryKind, ino: u64) -> Entry {
    Entry {
        kind,
        ino,
        size: 1,
        mtime_ns: 2,
        uid: 0,
    }
}

#[test]
fn the_index_moves_and_removes_whole_subtrees() {
    use crate::tree::EntryKind::{Dir, File};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let p = SharePath::from_config;
    let mut b = store.batch().unwrap();
    for (path, e) in [
        ("/a", entry(Dir, 1)),
        ("/a/x", entry(File, 2)),
        ("/a/sub", entry(Dir, 3)),
        ("/a/sub/y", entry(File, 4)),
        ("/a b", entry(File, 5)),
        ("/z", entry(File, 6)),
    ] {
        b.put("s", &p(path), &e).unwrap();
    }
    b.put("other", &p("/a/x"), &entry(File, 9)).unwrap();
    b.commit().unwrap();
    let names = |folder: &str| -> Vec<String> {
        store
            .children("s", &p(folder))
            .unwrap()
            .into_iter()
            .map(|(n, _)| String::from_utf8(n).unwrap())
            .collect()
    };
    assert_eq!(names("/"), ["a", "a b", "z"]);
    assert_eq!(names("/a"), ["sub", "x"]);

    let mut b = store.batch().unwrap();
    assert!(b.move_tree("s", &p("/a"), &p("/m/n")).unwrap());
    b.commit().unwrap();
    assert_eq!(names("/"), ["a b", "z"]);
    assert_eq!(names("/m/n/sub"), ["y"]);
    assert_eq!(store.entry("s", &p("/m/n/x")).unwrap().unwrap().ino, 2);
    assert!(store.entry("s", &p("/a/x")).unwrap().is_none());

    let mut b = store.batch().unwrap();
    assert_eq!(b.remove_tree("s", &p("/m/n")).unwrap().unwrap().ino, 1);
    assert!(b.remove_tree("s", &p("/nothing")).unwrap().is_none());
    b.commit().unwrap();
    assert!(names("/m/n").is_empty() && names("/m/n/sub").is_empty());
    assert_eq!(names("/"), ["a b", "z"]);
    assert_eq!(store.entry("other", &p("/a/x")).unwrap().unwrap().ino, 9);

    let mut b = store.batch().unwrap();
    b.drop_share("s").unwrap();
    b.commit().unwrap();
    assert!(names("/").is_empty());
    assert_eq!(store.entry("other", &p("/a/x")).unwrap().unwrap().ino, 9);
}
