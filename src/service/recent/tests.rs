//! The tests of `recent`: a real store in a temporary folder, its log written as the workers
//! write it (`Store::flush`).

use super::*;
use crate::core::event::{Attribution, SharePath};
use crate::store::{Flush, LogEntry};

/// 2026-11-22T09:05:03.042Z: five minutes into an hour.
const NOW: i64 = 1_795_338_303_042;
/// The start of the current hour, and of the window.
const CURRENT: i64 = NOW - 303_042;
const SINCE: i64 = CURRENT - 23 * HOUR_MS;

struct Case {
    _dir: tempfile::TempDir,
    store: Store,
    config: Config,
}

/// A store and a configuration whose share `public` is labelled `nfs`.
fn case() -> Case {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("share")).unwrap();
    let text = format!(
        "account_name = \"t\"\nstate_dir = \"{0}/state\"\n\n[[share]]\nname = \"public\"\npath = \"{0}/share\"\nprotocol = \"nfs\"\n",
        dir.path().display()
    );
    let config = crate::config::parse(&text, std::path::Path::new("/x.toml")).unwrap();
    let store = Store::open(&dir.path().join("state")).unwrap();
    Case {
        _dir: dir,
        store,
        config,
    }
}

/// An attempt made at `attempt_ms` at `webhook` of event `id`, `op` at `event_ms`.
fn attempt(webhook: u32, id: u64, op: Operation, event_ms: i64, attempt_ms: i64) -> LogEntry {
    let mut e = crate::store::tests::log_entry(webhook, id, 1, attempt_ms);
    e.event.op = op;
    e.event.share = "public".into();
    e.event.path = SharePath::from_config(&format!("/f{id}"));
    e.event.time_ms = event_ms;
    e
}

/// `e` made by `user` from `address` over `protocol` (audited), or as the owner's when
/// `address` is empty.
fn by(mut e: LogEntry, user: &str, address: &str, protocol: Option<&str>) -> LogEntry {
    e.event.username = user.into();
    e.event.address = address.into();
    e.event.protocol = protocol.map(str::to_owned);
    e.event.attribution = if address.is_empty() {
        Attribution::Owner
    } else {
        Attribution::Audit
    };
    e
}

impl Case {
    fn log(&self, entries: Vec<LogEntry>) {
        let flush = Flush {
            webhook: 1,
            log: entries,
            ..Flush::default()
        };
        self.store.flush(&flush, NOW).unwrap();
    }

    fn recent(&self, cap: usize) -> Recent {
        collect_capped(&self.store, &self.config, NOW, cap).unwrap()
    }
}

/// The hour's count of `op`.
fn count(hour: &Hour, op: Operation) -> u64 {
    hour.counts.iter().find(|(o, _)| *o == op).unwrap().1
}

#[test]
fn nothing_logged_is_a_day_of_empty_hours() {
    let c = case();
    let r = c.recent(READ_CAP);
    assert_eq!(r.since_ms, SINCE);
    assert_eq!(r.hours.len(), WINDOW_HOURS);
    assert_eq!(r.hours[0].start_ms, SINCE);
    assert_eq!(r.hours[WINDOW_HOURS - 1].start_ms, CURRENT);
    assert!(r.hours.iter().all(|h| h.total() == 0));
    assert!(
        r.hours
            .iter()
            .all(|h| h.counts.len() == Operation::ALL.len())
    );
    assert_eq!((r.events, r.people.len(), r.complete), (0, 0, true));
}

#[test]
fn each_event_counts_once_in_the_hour_it_happened_and_older_ones_not_at_all() {
    let c = case();
    let up = Operation::Upload;
    c.log(vec![
        // The first moment of the window, and the last hour before it (retried in the window).
        attempt(1, 1, Operation::CreateFolder, SINCE, SINCE),
        attempt(1, 2, up, SINCE - 1, SINCE - 1),
        attempt(1, 2, up, SINCE - 1, SINCE + 60_000),
        // A day and more ago.
        attempt(1, 3, up, NOW - 25 * HOUR_MS, NOW - 25 * HOUR_MS),
        // The hour before the current one: to two webhooks, the first one three times.
        attempt(1, 4, up, CURRENT - 1, CURRENT - 1),
        attempt(1, 4, up, CURRENT - 1, CURRENT + 1_000),
        attempt(1, 4, up, CURRENT - 1, CURRENT + 9_000),
        attempt(2, 4, up, CURRENT - 1, CURRENT + 2),
        // The current hour: a move that crosses webhook 2's folder, a Delete to it (read
        // first: the log is read newest first).
        attempt(1, 5, Operation::Move, CURRENT + 5, CURRENT + 6),
        attempt(2, 5, Operation::Delete, CURRENT + 5, CURRENT + 7),
        attempt(1, 6, Operation::Delete, CURRENT + 8, CURRENT + 9),
        attempt(1, 7, Operation::Rename, NOW, NOW),
    ]);
    let r = c.recent(READ_CAP);
    assert_eq!((r.events, r.complete), (5, true));
    assert_eq!(count(&r.hours[0], Operation::CreateFolder), 1);
    assert_eq!(r.hours[0].total(), 1);
    assert_eq!((count(&r.hours[22], up), r.hours[22].total()), (1, 1));
    let now = &r.hours[23];
    assert_eq!(
        (
            count(now, Operation::Move),
            count(now, Operation::Delete),
            count(now, Operation::Rename),
            now.total()
        ),
        (1, 1, 1, 3)
    );
    assert!(r.hours[1..22].iter().all(|h| h.total() == 0));
    let totals: u64 = r.totals().iter().map(|(_, n)| n).sum();
    assert_eq!(totals, 5);
    assert_eq!(r.totals().len(), Operation::ALL.len());
}

/// A person as the test compares them: user, events, addresses, protocols, last seen.
type Row<'a> = (&'a str, u64, Vec<&'a str>, Vec<&'a str>, i64);

#[test]
fn users_are_added_up_with_their_addresses_and_protocols_newest_first() {
    let c = case();
    let up = Operation::Upload;
    c.log(vec![
        by(
            attempt(1, 1, up, CURRENT - HOUR_MS, CURRENT - HOUR_MS),
            "alice",
            "198.18.1.2",
            Some("smb"),
        ),
        by(
            attempt(1, 2, up, CURRENT + 10, CURRENT + 10),
            "alice",
            "198.18.1.3",
            Some("smb"),
        ),
        by(
            attempt(1, 3, up, CURRENT + 20, CURRENT + 20),
            "alice",
            "198.18.1.2",
            Some("api"),
        ),
        // A change seen on the disk: its owner, no address, its share's label.
        by(
            attempt(1, 4, up, CURRENT + 30, CURRENT + 30),
            "bob",
            "",
            None,
        ),
        // An old event of carol's: she was not active lately.
        by(
            attempt(1, 5, up, SINCE - 10, SINCE + 10),
            "carol",
            "198.18.3.2",
            Some("smb"),
        ),
    ]);
    let r = c.recent(READ_CAP);
    let shown: Vec<Row> = r
        .people
        .iter()
        .map(|p| {
            (
                p.user.as_str(),
                p.events,
                p.addresses.iter().map(String::as_str).collect(),
                p.protocols.iter().map(String::as_str).collect(),
                p.last_seen_ms,
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("bob", 1, vec![], vec!["nfs"], CURRENT + 30),
            (
                "alice",
                3,
                vec!["198.18.1.2", "198.18.1.3"],
                vec!["api", "smb"],
                CURRENT + 20
            ),
        ]
    );
    assert_eq!(r.more_people, 0);
}

#[test]
fn the_read_cap_keeps_the_newest_attempts_and_says_the_figures_are_incomplete() {
    let c = case();
    // 30 events a minute apart, the newest a minute ago.
    let entries = (0..30)
        .map(|n| {
            let t = NOW - (30 - n) * 60_000;
            attempt(1, n as u64 + 1, Operation::Upload, t, t)
        })
        .collect();
    c.log(entries);
    let r = c.recent(10);
    assert_eq!((r.events, r.complete), (10, false));
    // The newest ten: all after NOW - 11 min, the current hour holds 5 of them (09:00-09:04).
    assert_eq!(r.people[0].last_seen_ms, NOW - 60_000);
    assert_eq!(r.hours[23].total(), 5);
    assert_eq!(r.hours[22].total(), 5);
    // A cap the log does not reach reads it all.
    let r = c.recent(30);
    assert_eq!((r.events, r.complete), (30, true));
}

#[test]
fn the_real_read_cap_holds_over_a_bigger_log() {
    let c = case();
    let n = READ_CAP as i64 + 50;
    // One event a second, the newest now; each tried at two webhooks: 2 attempts per event.
    let mut entries = Vec::new();
    for i in 0..n {
        let t = NOW - (n - i) * 1_000;
        for w in [1, 2] {
            entries.push(attempt(w, i as u64 + 1, Operation::Upload, t, t));
        }
    }
    c.log(entries);
    let started = std::time::Instant::now();
    let r = collect(&c.store, &c.config, NOW).unwrap();
    println!(
        "{READ_CAP} of {} log entries read in {:?}",
        2 * n,
        started.elapsed()
    );
    assert!(!r.complete);
    assert_eq!(r.events, READ_CAP as u64 / 2);
}

#[test]
fn lists_are_bounded() {
    let c = case();
    let mut entries = Vec::new();
    let mut id = 0;
    for u in 0..(PEOPLE_SHOWN + 5) {
        id += 1;
        let t = CURRENT + id as i64;
        entries.push(by(
            attempt(1, id, Operation::Upload, t, t),
            &format!("user{u:02}"),
            "198.18.0.1",
            Some("smb"),
        ));
    }
    for a in 0..(ADDRESSES_SHOWN + 2) {
        id += 1;
        let t = CURRENT + 1_000 + a as i64;
        entries.push(by(
            attempt(1, id, Operation::Upload, t, t),
            "roamer",
            &format!("198.18.9.{a}"),
            Some("smb"),
        ));
    }
    c.log(entries);
    let r = c.recent(READ_CAP);
    assert_eq!(r.people.len(), PEOPLE_SHOWN);
    assert_eq!(r.more_people, 6);
    let roamer = &r.people[0];
    assert_eq!(roamer.user, "roamer");
    assert_eq!(roamer.addresses.len(), ADDRESSES_SHOWN);
    assert_eq!(roamer.more_addresses, 2);
    assert_eq!(
        roamer.addresses[0],
        format!("198.18.9.{}", ADDRESSES_SHOWN + 1)
    );
    // The most recently seen after roamer; the earliest users are the ones left out.
    assert_eq!(r.people[1].user, format!("user{:02}", PEOPLE_SHOWN + 4));
    assert!(!r.people.iter().any(|p| p.user == "user00"));
}
