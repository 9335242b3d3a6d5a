//! The tests of `delivery`.

use super::*;
use crate::core::event::{Operation, SharePath};

/// An event as records held it before `Event::protocol`: postcard writes a struct as the
/// tuple of its fields, so this tuple has exactly the old layout.
type OldEvent = (
    u64,
    Operation,
    String,
    SharePath,
    Option<SharePath>,
    bool,
    String,
    i64,
    Option<u64>,
);

fn old_event(id: u64) -> OldEvent {
    let path = SharePath::from_config("/old.txt");
    (
        id,
        Operation::Delete,
        "s".into(),
        path,
        None,
        false,
        "ann".into(),
        5,
        None,
    )
}

#[test]
fn records_written_before_events_had_a_protocol_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let tx = store.begin().unwrap();
    {
        let pending = (1u32, old_event(7), 2u32, 99i64, Some("500"), true, 1u32);
        tx.open_table(QUEUE)
            .unwrap()
            .insert((1, 7), encode_as(&pending, 2).as_slice())
            .unwrap();
        let failed = (1u32, old_event(6), 8u32, 42i64, "503");
        tx.open_table(FAILED)
            .unwrap()
            .insert((1, 6), encode_as(&failed, 1).as_slice())
            .unwrap();
        let url = "http://h/";
        let entry = (3u64, 40i64, 1u32, "v1", 8u32, false, url, 503u32, false, "");
        let rest = (0u64, Vec::<u8>::new(), 9u64, old_event(6), b"{}".to_vec());
        // Nested tuples encode as their fields in a row, like the flat old struct.
        tx.open_table(LOG)
            .unwrap()
            .insert(3, encode_as(&(entry, rest), 1).as_slice())
            .unwrap();
        // A state of that time had no index of the log by time: it is made at the next
        // opening.
        tx.open_table(META).unwrap().remove("log_time").unwrap();
    }
    tx.commit().unwrap();
    drop(store);
    let store = Store::open(dir.path()).unwrap();

    let old = |id| -> Event {
        EventV1 {
            id,
            op: Operation::Delete,
            share: "s".into(),
            path: SharePath::from_config("/old.txt"),
            source: None,
            is_dir: false,
            username: "ann".into(),
            time_ms: 5,
            size: None,
        }
        .into()
    };
    let head = store.head(1).unwrap().unwrap();
    assert_eq!(head.event, old(7));
    assert_eq!(
        (head.attempts, head.due_ms, head.resend, head.round_start),
        (2, 99, true, 1)
    );
    let failed = store.failed_events(None).unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!((failed[0].event.clone(), failed[0].attempts), (old(6), 8));
    let log = store.log(&LogFilter::default()).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].event.clone(), log[0].status), (old(6), 503));
    assert_eq!(events(&store, None), [(40, old(6))]);

    // New records carry the protocol, and read back with it.
    let mut e = old(8);
    e.protocol = Some("api".into());
    let mut batch = store.batch().unwrap();
    batch
        .enqueue(&NewEvent {
            deliveries: vec![(2, e.clone(), 0)],
            event: e,
        })
        .unwrap();
    batch.commit().unwrap();
    let head = store.head(2).unwrap().unwrap();
    assert_eq!(head.event.protocol.as_deref(), Some("api"));
}

#[test]
fn records_written_before_events_had_an_address_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // An event as records held it before `address` and `attribution`.
    let v2 = |id: u64, protocol: Option<&str>| {
        let (a, b, c, d, e, f, g, h, i) = old_event(id);
        ((a, b, c, d), (e, f, g, h, i, protocol.map(str::to_owned)))
    };
    let tx = store.begin().unwrap();
    {
        let pending = (
            1u32,
            v2(7, Some("api")),
            2u32,
            99i64,
            Some("500"),
            false,
            0u32,
        );
        tx.open_table(QUEUE)
            .unwrap()
            .insert((1, 7), encode_as(&pending, 3).as_slice())
            .unwrap();
        let failed = (1u32, v2(6, None), 8u32, 42i64, "503");
        tx.open_table(FAILED)
            .unwrap()
            .insert((1, 6), encode_as(&failed, 2).as_slice())
            .unwrap();
        let url = "http://h/";
        let entry = (3u64, 40i64, 1u32, "v1", 8u32, false, url, 503u32, false, "");
        let rest = (0u64, Vec::<u8>::new(), 9u64, v2(6, None), b"{}".to_vec());
        tx.open_table(LOG)
            .unwrap()
            .insert(3, encode_as(&(entry, rest), 2).as_slice())
            .unwrap();
        // The log's index by time is made again at the next opening.
        tx.open_table(META).unwrap().remove("log_time").unwrap();
    }
    tx.commit().unwrap();
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    let head = store.head(1).unwrap().unwrap();
    assert_eq!(
        (
            head.event.protocol.as_deref(),
            head.event.address.as_str(),
            head.event.attribution
        ),
        (Some("api"), "", crate::core::event::Attribution::Api)
    );
    let failed = store.failed_events(None).unwrap();
    assert_eq!(
        failed[0].event.attribution,
        crate::core::event::Attribution::Owner
    );
    let log = store.log(&LogFilter::default()).unwrap();
    assert_eq!(
        (log[0].event.username.as_str(), log[0].status),
        ("ann", 503)
    );
    assert_eq!(events(&store, None), [(40, log[0].event.clone())]);

    // New records carry the address and how it was found.
    let mut e = head.event.clone();
    e.id = 8;
    e.address = "198.18.0.2".into();
    e.attribution = crate::core::event::Attribution::Audit;
    let mut batch = store.batch().unwrap();
    batch
        .enqueue(&NewEvent {
            deliveries: vec![(2, e.clone(), 0)],
            event: e.clone(),
        })
        .unwrap();
    batch.commit().unwrap();
    let mut read = store.head(2).unwrap().unwrap().event;
    read.id = e.id;
    assert_eq!(read, e);
}

/// (attempt time, event) of every entry made at `since_ms` or later, as
/// `log_events_by_time` reads them.
fn events(store: &Store, since_ms: Option<i64>) -> Vec<(i64, Event)> {
    let mut out = Vec::new();
    store
        .log_events_by_time(since_ms, |t, e| {
            out.push((t, e));
            true
        })
        .unwrap();
    out
}

#[test]
fn events_read_alone_are_the_events_of_the_whole_entries() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut log = Vec::new();
    for (n, t) in [30, 10, 20].into_iter().enumerate() {
        let mut e = crate::store::tests::log_entry(1 + n as u32 % 2, 10 + n as u64, 2, t);
        // Every field before the event holds something, of several bytes.
        e.format = "v2".into();
        e.resend = true;
        e.url = "http://u:p@h/x?y=1".into();
        e.transport = true;
        e.message = "connection refused é".into();
        e.response_size = 70_000;
        e.response = vec![0xff; 300];
        e.duration_ms = 1_234_567;
        e.body = vec![b'{'; 900];
        e.event.username = format!("user{n}");
        e.event.address = "198.18.0.1".into();
        e.event.protocol = Some("smb".into());
        e.event.op = Operation::Move;
        e.event.source = Some(SharePath::from_config("/from"));
        e.event.time_ms = t - 1;
        log.push(e);
    }
    let flush = Flush {
        webhook: 1,
        log,
        ..Flush::default()
    };
    store.flush(&flush, 0).unwrap();
    let whole: Vec<(i64, Event)> = store
        .log(&LogFilter::default())
        .unwrap()
        .into_iter()
        .map(|e| (e.time_ms, e.event))
        .collect();
    assert_eq!(
        whole.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
        [30, 20, 10]
    );
    assert_eq!(events(&store, None), whole);
    assert_eq!(events(&store, Some(20)), whole[..2]);
}

/// (time, webhook) of every entry `store` lists, newest first.
fn listed(store: &Store, since_ms: Option<i64>, webhook: Option<u32>) -> Vec<(i64, u32)> {
    let mut out = Vec::new();
    store
        .log_visit_by_time(since_ms, webhook, |e| {
            out.push((e.time_ms, e.webhook));
            true
        })
        .unwrap();
    out
}

fn flush(store: &Store, webhook: u32, times: &[i64], limits_now: i64) -> Pruned {
    store
        .flush(
            &Flush {
                webhook,
                log: times
                    .iter()
                    .map(|t| super::super::tests::log_entry(webhook, *t as u64, 1, *t))
                    .collect(),
                ..Flush::default()
            },
            limits_now,
        )
        .unwrap()
        .pruned
}

#[test]
fn the_log_is_read_and_pruned_by_the_time_of_its_attempts_not_by_when_they_were_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.set_limits(super::super::Limits {
        log_max_entries: 10,
        log_max_age_ms: 1_000,
        ..super::super::Limits::default()
    });
    // Webhook 2's quick receiver: attempts at 100 and 300; webhook 1's slow one answers
    // its attempt at 200 after those were written.
    flush(&store, 2, &[100, 300], 0);
    flush(&store, 1, &[200], 0);
    assert_eq!(listed(&store, None, None), [(300, 2), (200, 1), (100, 2)]);
    assert_eq!(listed(&store, Some(150), None), [(300, 2), (200, 1)]);
    assert_eq!(listed(&store, Some(150), Some(2)), [(300, 2)]);
    // Past the age limit (1 s at 1_250: made before 250) goes what was made then, wherever
    // it was written; age pruning comes at most ten times per age (every 100 ms here).
    let pruned = flush(&store, 1, &[1_240], 1_250);
    assert_eq!(pruned.by_age, 2);
    assert_eq!(listed(&store, None, None), [(1_240, 1), (300, 2)]);
    // Past 10 entries, the first written go, down to 9; the index follows.
    let pruned = flush(&store, 2, &(2_000..2_010).collect::<Vec<_>>(), 1_260);
    assert_eq!(pruned.by_count, 3);
    let all = listed(&store, None, None);
    assert_eq!(all.len(), 9);
    assert_eq!(all.last(), Some(&(2_001, 2)));
    assert_eq!(store.log_len().unwrap(), 9);
    let tx = store.read().unwrap();
    assert_eq!(tx.open_table(LOG_TIME).unwrap().len().unwrap(), 9);
}

#[test]
fn a_state_without_the_time_index_lists_in_time_order_and_is_indexed_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    flush(&store, 2, &[100, 300], 0);
    flush(&store, 1, &[200], 0);
    let tx = store.begin().unwrap();
    tx.open_table(META).unwrap().remove("log_time").unwrap();
    tx.delete_table(LOG_TIME).unwrap();
    tx.commit().unwrap();
    drop(store);
    let want = [(300, 2), (200, 1), (100, 2)];
    // A command reading it before a daemon opened it.
    let read_only = Store::open_read_only(dir.path()).unwrap();
    assert_eq!(listed(&read_only, None, None), want);
    assert_eq!(listed(&read_only, Some(150), Some(1)), [(200, 1)]);
    drop(read_only);
    let store = Store::open(dir.path()).unwrap();
    let tx = store.read().unwrap();
    assert_eq!(tx.open_table(LOG_TIME).unwrap().len().unwrap(), 3);
    assert_eq!(listed(&store, None, None), want);
}
