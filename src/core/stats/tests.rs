//! The tests of `stats`.

use super::*;
use crate::service::metrics::render;

fn answered(status: u16) -> Outcome {
    Outcome::Answered {
        status,
        size: 0,
        excerpt: Vec::new(),
        retry_after: None,
    }
}

fn lines_starting(text: &str, prefix: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

#[test]
fn label_values_are_escaped() {
    assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
    assert_eq!(escape_label("two\nlines"), "two\\nlines");
    let stats = Stats::default();
    stats
        .share("we\"ird\\share\n")
        .overflows
        .store(2, Ordering::Relaxed);
    let shares = vec![(
        "we\"ird\\share\n".to_owned(),
        stats.share("we\"ird\\share\n"),
        Some(7),
    )];
    let text = render_from(&stats, &shares, &[]);
    assert!(
        text.contains("sharehook_overflows_total{share=\"we\\\"ird\\\\share\\n\"} 2\n"),
        "{text}"
    );
    // Every sample stays on its own line.
    for line in text.lines() {
        assert!(
            line.starts_with('#') || line.starts_with("sharehook_"),
            "{line}"
        );
    }
}

#[test]
fn the_latency_histogram_is_cumulative_with_inf_sum_and_count() {
    let stats = Stats::default();
    let hook = stats.webhook(3);
    let now = 1_000_000;
    // 0.04 s, 0.3 s, 0.3 s, 7 s, and 400 s (past the last bound).
    for ms in [40, 300, 300, 7_000, 400_000] {
        hook.attempted(&answered(200), Some(now - ms), now);
    }
    // Failures and resends are not latencies.
    hook.attempted(&answered(503), Some(now - 10), now);
    hook.attempted(&answered(204), None, now);
    let counts = [HookCounts {
        id: 3,
        queued: 4,
        failed: 1,
        disabled: false,
    }];
    let text = render_from(&stats, &[], &counts);
    let buckets = lines_starting(&text, "sharehook_delivery_latency_seconds_bucket");
    let expected = [
        ("0.05", 1),
        ("0.1", 1),
        ("0.25", 1),
        ("0.5", 3),
        ("1", 3),
        ("2.5", 3),
        ("5", 3),
        ("10", 4),
        ("30", 4),
        ("60", 4),
        ("300", 4),
        ("+Inf", 5),
    ];
    assert_eq!(buckets.len(), expected.len(), "{text}");
    for (line, (le, n)) in buckets.iter().zip(expected) {
        assert_eq!(
            line,
            &format!("sharehook_delivery_latency_seconds_bucket{{webhook=\"3\",le=\"{le}\"}} {n}")
        );
    }
    assert!(text.contains("sharehook_delivery_latency_seconds_count{webhook=\"3\"} 5\n"));
    assert!(text.contains("sharehook_delivery_latency_seconds_sum{webhook=\"3\"} 407.64\n"));
    assert!(text.contains("sharehook_deliveries_total{webhook=\"3\",result=\"2xx\"} 6\n"));
    assert!(text.contains("sharehook_deliveries_total{webhook=\"3\",result=\"5xx\"} 1\n"));
    assert!(text.contains("sharehook_queue_depth{webhook=\"3\"} 4\n"));
    assert!(text.contains("sharehook_failed_events{webhook=\"3\"} 1\n"));
    assert!(text.contains("# TYPE sharehook_delivery_latency_seconds histogram\n"));
}

#[test]
fn each_family_has_help_and_type_once_and_events_count_by_operation() {
    let stats = Stats::default();
    let share = stats.share("public");
    let event = Event {
        id: 1,
        op: Operation::CreateFolder,
        share: "public".into(),
        path: crate::core::event::SharePath::from_config("/a"),
        source: None,
        is_dir: true,
        username: "alice".into(),
        time_ms: 5,
        size: None,
        protocol: None,
        address: String::new(),
        attribution: crate::core::event::Attribution::Owner,
    };
    share.reported(&event);
    share.reported(&event);
    share.rescanned("start");
    stats.watches.store(12, Ordering::Relaxed);
    let text = render_from(&stats, &[("public".into(), share, Some(40))], &[]);
    assert!(
        text.contains("sharehook_events_total{share=\"public\",operation=\"createFolder\"} 2\n")
    );
    assert!(text.contains("sharehook_events_total{share=\"public\",operation=\"upload\"} 0\n"));
    assert!(text.contains("sharehook_rescans_total{share=\"public\",reason=\"start\"} 1\n"));
    assert!(text.contains("sharehook_index_entries{share=\"public\"} 40\n"));
    assert!(text.contains("sharehook_watches 12\n"));
    assert!(text.contains("sharehook_up 1\n"));
    let types = lines_starting(&text, "# TYPE ");
    let mut names: Vec<&str> = types.iter().map(|l| l.split(' ').nth(2).unwrap()).collect();
    let n = names.len();
    names.dedup();
    assert_eq!(n, names.len(), "one TYPE line per family");
    assert_eq!(n, lines_starting(&text, "# HELP ").len());
}

#[test]
fn a_running_daemon_counts_what_it_reports_and_delivers() {
    use std::time::{Duration, Instant};

    use crate::config::{Config, WatchMode};
    use crate::daemon::Daemon;

    let dir = tempfile::tempdir().unwrap();
    let share = dir.path().join("share");
    std::fs::create_dir_all(share.join("docs")).unwrap();
    let state = dir.path().join("state");
    let (url, got) = crate::bench::loopback_receiver().unwrap();
    let mut config = Config::one_share("pub", &share.canonicalize().unwrap(), &state, &url);
    config.shares[0].watch = WatchMode::Inotify;
    config.watch.settle = Duration::from_millis(100);
    let mut daemon = Daemon::start(&config).unwrap();
    std::fs::write(share.join("docs/a.txt"), "1").unwrap();
    let render = || render(&daemon.stats, &daemon.store, &[1]);
    let expected = [
        "sharehook_delivery_latency_seconds_count{webhook=\"1\"} 1",
        "sharehook_events_total{share=\"pub\",operation=\"upload\"} 1",
        "sharehook_deliveries_total{webhook=\"1\",result=\"2xx\"} 1",
        "sharehook_deliveries_total{webhook=\"1\",result=\"transport\"} 0",
        "sharehook_rescans_total{share=\"pub\",reason=\"start\"} 1",
        "sharehook_index_entries{share=\"pub\"} 2",
        "sharehook_watches 2",
        "sharehook_queue_depth{webhook=\"1\"} 0",
        "sharehook_failed_events{webhook=\"1\"} 0",
        "sharehook_webhook_disabled{webhook=\"1\"} 0",
    ];
    // A delivery is counted when its answer comes, and leaves the queue a moment later,
    // when the worker writes it down: wait for all of them.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = render();
        let missing: Vec<&str> = expected
            .iter()
            .copied()
            .filter(|line| !text.contains(&format!("{line}\n")))
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "{missing:?} not in:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(got.lock().unwrap().arrivals.len(), 1);
    daemon.stop(Duration::from_secs(5));
}
