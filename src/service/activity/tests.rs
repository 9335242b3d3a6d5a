//! The tests of `activity`.

use std::path::Path;

use super::*;
use crate::cli::failed_to_line;

#[test]
fn since_reads_dates_and_times_ago() {
    let now = 1_795_338_303_042;
    assert_eq!(parse_since("30m", now), Ok(now - 1_800_000));
    assert_eq!(parse_since("7d", now), Ok(now - 7 * 86_400_000));
    assert_eq!(
        parse_since("2026-11-22T09:05:03.042Z", now),
        Ok(1_795_338_303_042)
    );
    assert_eq!(parse_since("1970-01-02", now), Ok(86_400_000));
    assert!(parse_since("yesterday", now).is_err());
    for ms in [0, 951_782_400_007, 4_107_542_399_999] {
        assert_eq!(parse_since(&rfc3339(ms), now), Ok(ms));
    }
}

#[test]
fn event_filters_take_ids_and_names() {
    let mut f = LogFilter::default();
    event_filter("upload", &mut f).unwrap();
    assert_eq!(f.event_name.as_deref(), Some("resources.upload"));
    event_filter("resources.createFolder", &mut f).unwrap();
    assert_eq!(f.event_name.as_deref(), Some("resources.createFolder"));
    event_filter("42", &mut f).unwrap();
    assert_eq!(f.event_id, Some(42));
    event_filter("download", &mut f).unwrap();
    assert_eq!(f.event_name.as_deref(), Some("resources.download"));
    assert!(event_filter("compress", &mut f).is_err());
}

#[test]
fn failed_lines_escape_control_characters() {
    let path = crate::core::event::SharePath::within(
        Path::new("/share"),
        Path::new("/share/a\x1b[2Jb.txt"),
    )
    .unwrap();
    let f = SetAside {
        webhook: 1,
        event: Event {
            id: 5,
            op: crate::core::event::Operation::Upload,
            share: "s".into(),
            path,
            source: None,
            is_dir: false,
            username: "u".into(),
            time_ms: 0,
            size: None,
            protocol: None,
            address: String::new(),
            attribution: crate::core::event::Attribution::Owner,
        },
        attempts: 3,
        failed_ms: 0,
        last_result: "7 (refused\r)".into(),
    };
    let line = failed_to_line(&f);
    assert!(!line.chars().any(char::is_control), "{line:?}");
    assert!(line.contains("/a\\x1b[2Jb.txt"), "{line}");
}
