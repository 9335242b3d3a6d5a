//! `sharehook status`: what a person sees of a running daemon after a delivery, of a webhook
//! whose receiver fails, and of a stopped daemon (exit status 3, the state's counts).

use crate::support::*;

/// `sharehook status` (with `extra` arguments): its exit code and standard output.
fn status(nas: &Nas, extra: &[&str]) -> (Option<i32>, String) {
    let mut args = vec!["status"];
    args.extend_from_slice(extra);
    let out = nas.cli(&args);
    (
        out.status.code(),
        String::from_utf8(out.stdout).expect("the status is UTF-8"),
    )
}

/// Waits until the status text has every line fragment of `wanted`; returns it.
fn status_saying(nas: &Nas, wanted: &[&str]) -> String {
    let deadline = std::time::Instant::now() + patience();
    loop {
        let (code, text) = status(nas, &[]);
        if code == Some(0) && wanted.iter().all(|w| text.contains(w)) {
            return text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for sharehook status to say {wanted:?} (exit {code:?}); it said:\n{text}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn status_of_a_running_daemon_after_a_delivery() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config(&receiver.url(), "0, 0.5");
    std::fs::create_dir(nas.share().join("docs")).unwrap();
    let daemon = nas.start();

    write_file(&nas.share().join("docs/report.txt"), "hello");
    receiver.wait_for(1);
    let text = status_saying(
        &nas,
        &[
            "running since",
            &format!("share public  {}", nas.share().display()),
            // The share's root and docs.
            "watched with inotify: 2 folders watched",
            "index: 2 entries",
            "last event: ",
            "Upload /docs/report.txt",
            "0 queued, 0 failed",
            "1 delivered, 0 refused (4xx), 0 failed (5xx), 0 unreachable",
            "last success: ",
        ],
    );
    assert!(!text.contains("last failure"), "{text}");
    assert!(!text.contains(TOKEN), "{text}");

    let (code, json) = status(&nas, &["--json"]);
    assert_eq!(code, Some(0));
    let v: serde_json::Value = serde_json::from_str(&json).expect("one JSON object");
    assert_eq!(v["running"], true);
    let share = &v["shares"][0];
    assert_eq!(share["name"], "public");
    assert_eq!(share["watchMode"], "inotify");
    assert_eq!(share["foldersWatched"], 2);
    assert_eq!(share["indexEntries"], 2);
    assert_eq!(share["lastEvent"]["path"], "/docs/report.txt");
    assert_eq!(share["events"]["upload"], 1);
    let hook = &v["webhooks"][0];
    assert_eq!(hook["id"], 1);
    assert_eq!(hook["deliveries"]["2xx"], 1);
    assert!(hook["lastSuccess"].is_string(), "{hook}");
    assert!(hook["lastFailure"].is_null(), "{hook}");
    assert!(daemon.stop().success());
}

#[test]
fn status_shows_a_failing_receiver_then_a_stopped_daemon_with_exit_status_3() {
    let receiver = Receiver::start();
    receiver.script(&["503 Service Unavailable"; 4]);
    let nas = Nas::new();
    // The retry comes long after the test: the event stays queued.
    nas.write_config(&receiver.url(), "0, 600");
    let (code, text) = status(&nas, &[]);
    assert_eq!(code, Some(3), "{text}");
    assert!(text.contains("has never run"), "{text}");
    let daemon = nas.start();

    write_file(&nas.share().join("a.txt"), "x");
    receiver.wait_for(1);
    let text = status_saying(
        &nas,
        &[
            "1 queued, 0 failed",
            "0 delivered, 0 refused (4xx), 1 failed (5xx), 0 unreachable",
            "HTTP 503",
            "last failure: ",
            "failing since ",
        ],
    );
    assert!(!text.contains("last success"), "{text}");

    assert!(daemon.stop().success());
    let (code, text) = status(&nas, &[]);
    assert_eq!(code, Some(3), "exit status 3 when not running:\n{text}");
    for wanted in [
        "the daemon is not running",
        "share public",
        "index: 1 entry",
        "1 queued, 0 failed",
        // From the delivery log, now that no daemon remembers it.
        "last failure: ",
        "HTTP 503",
    ] {
        assert!(text.contains(wanted), "{wanted:?} not in:\n{text}");
    }
    assert!(!text.contains("since start"), "{text}");
    let (code, json) = status(&nas, &["--json"]);
    assert_eq!(code, Some(3));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["running"], false);
    assert_eq!(v["webhooks"][0]["queued"], 1);
    assert_eq!(v["webhooks"][0]["lastFailure"]["status"], 503);

    // Started again, the daemon still knows the last failure (its retry is far off).
    let daemon = nas.start();
    let text = status_saying(&nas, &["running since", "1 queued, 0 failed"]);
    assert!(text.contains("HTTP 503"), "{text}");
    assert!(
        text.contains("0 failed (5xx)"),
        "counts since this start: {text}"
    );
    assert!(daemon.stop().success());
}

#[test]
fn status_says_which_folders_are_past_the_watch_limit() {
    need("unshare", "util-linux");
    let receiver = Receiver::start();
    let nas = Nas::new();
    sh(&nas.share(), "mkdir -p a b/c");
    nas.write_config(&receiver.url(), "0, 0.5");
    // At most 2 watches: the root and one folder get one, two folders do not.
    let daemon = nas.start_with_watch_limit(2);
    let text = status_saying(
        &nas,
        &[
            "watched with inotify: 2 folders watched",
            "problem: 2 folders (such as ",
            "past the inotify watch limit (fs.inotify.max_user_watches)",
        ],
    );
    let (_, json) = status(&nas, &["--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let problem = v["shares"][0]["problems"][0].as_str().unwrap();
    let example = problem
        .split("(such as ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("no example folder in {problem:?}\n{text}"));
    assert!(
        example.starts_with(&nas.share().display().to_string()),
        "{example} is not a folder of the share"
    );
    assert!(daemon.stop().success());
}

#[test]
fn status_says_why_a_share_is_polled() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config_with(
        &receiver.url(),
        "0, 0.5",
        "watch = \"poll\"",
        "poll_interval = 0.5",
    );
    let daemon = nas.start();
    write_file(&nas.share().join("p.txt"), "x");
    receiver.wait_for(1);
    let text = status_saying(
        &nas,
        &[
            "polled: the configuration says watch = \"poll\"",
            "Upload /p.txt",
        ],
    );
    assert!(!text.contains("watched with inotify"), "{text}");
    let (_, json) = status(&nas, &["--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["shares"][0]["watchMode"], "poll");
    assert_eq!(v["shares"][0]["foldersWatched"], 0);
    assert!(
        v["shares"][0]["rescans"]["poll"].as_u64().unwrap() >= 1,
        "{v}"
    );
    assert!(daemon.stop().success());
}

#[test]
fn a_reload_keeps_the_counts_since_start() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config(&receiver.url(), "0, 0.5");
    let daemon = nas.start();
    write_file(&nas.share().join("before.txt"), "x");
    receiver.wait_for(1);
    status_saying(&nas, &["1 delivered", "Upload /before.txt"]);

    daemon.signal(libc::SIGHUP);
    daemon.wait_log("configuration reloaded: nothing changed", 1);
    let text = status_saying(&nas, &["watched with inotify"]);
    for wanted in [
        "1 delivered",
        "last event: ",
        "Upload /before.txt",
        "last success: ",
    ] {
        assert!(text.contains(wanted), "{wanted:?} not in:\n{text}");
    }
    let (_, json) = status(&nas, &["--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["shares"][0]["events"]["upload"], 1, "{v}");
    assert_eq!(
        v["shares"][0]["rescans"]["start"], 2,
        "one start, one reload: {v}"
    );
    assert!(daemon.stop().success());
}

#[test]
fn the_api_serves_the_same_status_and_prometheus_metrics_when_asked() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config_text(&format!(
        "[[webhook]]\nurl = \"{}\"\n\n[web]\nlisten = \"127.0.0.1:0\"\nmetrics = true\n",
        receiver.url()
    ));
    let daemon = nas.start();
    let web = daemon.web_url();
    let viewer = nas.credentials("victor", "viewer");
    write_file(&nas.share().join("report.txt"), "hello");
    receiver.wait_for(1);

    // A viewer reads the status; it is `sharehook status --json`, in ExaVault's envelope.
    let s = wait_for("the delivery in the status", || {
        let s = api(
            "GET",
            &format!("{web}/api/v2/status"),
            &viewer.headers(),
            None,
        );
        (s.body["data"]["webhooks"][0]["lastSuccess"].is_string()).then_some(s)
    });
    assert_eq!(s.status, 200, "{}", s.body);
    let data = &s.body["data"];
    assert_eq!(data["running"], true);
    assert_eq!(data["web"]["listen"][0], web.as_str(), "{data}");
    assert_eq!(data["shares"][0]["name"], "public");
    assert_eq!(data["shares"][0]["watchMode"], "inotify");
    assert_eq!(data["shares"][0]["lastEvent"]["path"], "/report.txt");
    assert_eq!(data["webhooks"][0]["deliveries"]["2xx"], 1, "{data}");
    let (_, json) = status(&nas, &["--json"]);
    let cli: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(cli["web"], data["web"], "the command and the API agree");
    assert_eq!(
        cli["shares"][0]["indexEntries"],
        data["shares"][0]["indexEntries"]
    );
    let s = api("GET", &format!("{web}/api/v2/status"), &[], None);
    assert_eq!(s.status, 401, "the status needs credentials");

    // Prometheus text, without credentials, naming no URL and no token.
    let m = api("GET", &format!("{web}/metrics"), &[], None);
    assert_eq!(m.status, 200);
    assert!(
        m.header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = String::from_utf8(m.raw).unwrap();
    for line in [
        "sharehook_up 1",
        "sharehook_events_total{share=\"public\",operation=\"upload\"} 1",
        "sharehook_deliveries_total{webhook=\"1\",result=\"2xx\"} 1",
        "sharehook_queue_depth{webhook=\"1\"} 0",
        "sharehook_delivery_latency_seconds_count{webhook=\"1\"} 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "no line {line:?} in:\n{text}"
        );
    }
    assert!(
        !text.contains(&receiver.url()) && !text.contains(TOKEN),
        "{text}"
    );
}

#[test]
fn metrics_are_off_unless_the_file_turns_them_on() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config(&receiver.url(), "0");
    let daemon = nas.start();
    let m = api("GET", &format!("{}/metrics", daemon.web_url()), &[], None);
    assert_eq!(m.status, 404);
    let detail = m.body["errors"][0]["detail"].as_str().unwrap();
    assert!(detail.contains("[web] metrics = true"), "{detail}");
}
