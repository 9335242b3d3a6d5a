//! The web page in a real browser: tests/page/browser.py drives Debian's headless Chromium
//! with Selenium (from the Python of `SHAREHOOK_PYTHON`, made by `bash tests/api/venv.sh`)
//! against the real daemon, with an admin and a viewer made through the real command line.
//! Screenshots of every page land in target/page-screenshots/ (target/page-screenshots-RUNNER/
//! under a runner such as qemu-arm).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::*;

/// The password `sharehook user add` printed alone on its last line.
fn user(nas: &Nas, name: &str, role: &str) -> String {
    let out = nas.cli(&["user", "add", name, "--role", role]);
    assert!(
        out.status.success(),
        "sharehook user add {name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let password = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_else(|| panic!("sharehook user add {name} printed no password"))
        .trim()
        .to_owned();
    format!("{name}:{password}")
}

/// Runs the browser script to its end (killed past `limit`); its output, and whether it
/// ended with OK.
fn browse(python: &Path, args: &[&str], dir: &Path, limit: Duration) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/page/browser.py");
    // Every wait of the script is 30 s; under qemu the daemon is several times slower.
    let scale = std::env::var("SHAREHOOK_PATIENCE_SCALE")
        .unwrap_or_else(|_| (patience().as_secs() / 60).max(1).to_string());
    let mut all = vec![script.to_str().unwrap()];
    all.extend_from_slice(args);
    let run = run_script(
        python,
        &all,
        &[("SHAREHOOK_PATIENCE_SCALE", &scale)],
        dir,
        limit,
    );
    let ok = run.ok && run.output.lines().last() == Some("OK");
    (ok, run.output)
}

#[test]
fn page_in_headless_chromium_makes_a_webhook_shows_deliveries_live_and_refuses_what_it_should() {
    need("chromium", "chromium");
    need("chromedriver", "chromium-driver");
    let python = venv_python(&["selenium"]);
    let nas = Nas::new();
    // No webhook: the browser makes one through the form.
    nas.write_config_text("[delivery]\nretry_delays = [0]\n");
    let daemon = nas.start();
    let base = daemon.web_url();
    let admin = user(&nas, "ana", "admin");
    let viewer = user(&nas, "vic", "viewer");
    // One folder per runner: the ARM legs run side by side, each with its own browser.
    let folder = match std::env::var("SHAREHOOK_RUNNER") {
        Ok(runner) if !runner.is_empty() => format!("target/page-screenshots-{runner}"),
        _ => "target/page-screenshots".to_owned(),
    };
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join(folder);
    // Screenshots of an earlier run must not pass for this run's.
    let _ = std::fs::remove_dir_all(&shots);
    let share = nas.share();
    let started = Instant::now();
    let (ok, output) = browse(
        &python,
        &[
            "--base",
            &base,
            "--share",
            share.to_str().unwrap(),
            "--share-name",
            "public",
            "--admin",
            &admin,
            "--viewer",
            &viewer,
            "--shots",
            shots.to_str().unwrap(),
        ],
        nas.dir.path(),
        patience() * 10,
    );
    let took = started.elapsed().as_secs_f64();
    assert!(
        ok,
        "the page in headless Chromium failed:\n{output}\n--- daemon log:\n{}",
        daemon.log()
    );
    println!("{output}(the browser's walk took {took:.1} s)");
    for page in [
        "login",
        "overview",
        "webhooks",
        "webhook-new",
        "webhook-edit",
        "activity",
        "activity-details",
        "inbox",
        "developer",
        "overview-phone",
    ] {
        let shot = shots.join(format!("{page}.png"));
        assert!(
            std::fs::metadata(&shot).is_ok_and(|m| m.len() > 0),
            "no screenshot {}",
            shot.display()
        );
    }
}

#[test]
fn live_attempt_rows_stay_in_time_order_when_a_slow_receiver_s_attempt_is_written_late() {
    need("chromium", "chromium");
    need("chromedriver", "chromium-driver");
    let python = venv_python(&["selenium"]);
    // Webhook 1 answers after 2 s, webhook 2 at once. The first file's attempt at webhook 1 is
    // written after the second file's at webhook 2, though made before it.
    let slow = Receiver::start();
    slow.set_delay(scaled(Duration::from_secs(2)));
    let fast = Receiver::start();
    let nas = Nas::new();
    nas.write_config_text(&format!(
        "[[webhook]]\nurl = \"{}\"\n\n[[webhook]]\nurl = \"{}\"\n",
        slow.url(),
        fast.url()
    ));
    let daemon = nas.start();
    let admin = user(&nas, "ana", "admin");
    let share = nas.share();
    let gap = scaled(Duration::from_secs(1)).as_secs_f64().to_string();
    let (ok, output) = browse(
        &python,
        &[
            "--base",
            &daemon.web_url(),
            "--share",
            share.to_str().unwrap(),
            "--admin",
            &admin,
            "--live-order",
            "4",
            "--gap",
            &gap,
        ],
        nas.dir.path(),
        patience() * 3,
    );
    assert!(
        ok,
        "the live rows in headless Chromium:\n{output}\n--- daemon log:\n{}",
        daemon.log()
    );
    // The order the rows were written in is not their time order, or this test shows nothing.
    let log = nas.log_entries(&["--limit", "0"]);
    let ids: Vec<u64> = log.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    let mut by_id = ids.clone();
    by_id.sort_unstable_by(|a, b| b.cmp(a));
    assert_ne!(
        ids, by_id,
        "the attempts were written in time order: {log:?}"
    );
    println!("{output}");
}

#[test]
fn the_overview_names_the_people_active_lately_and_charts_their_events_per_hour() {
    need("chromium", "chromium");
    need("chromedriver", "chromium-driver");
    let python = venv_python(&["selenium"]);
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config_with(&receiver.url(), "0", "resources = \"read-write\"\n", "");
    let daemon = nas.start();
    let admin = user(&nas, "ana", "admin");
    let carol = nas.credentials("carol", "admin");
    let share = nas.share();
    // A file written on the disk (its owner's Upload), then deleted through the API by carol,
    // from the loopback address: a user with an address, as the People table shows them.
    write_file(&share.join("by-carol.txt"), "deleted through the API");
    receiver.wait_for(1);
    let deleted = api(
        "DELETE",
        &format!("{}/api/v2/resources/%2Fby-carol.txt", daemon.web_url()),
        &carol.headers(),
        Some("{}"),
    );
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    let got = receiver.wait_for(2);
    assert_eq!(got[1].json()["username"], "carol", "{:?}", got[1].json());
    // The receiver has the Delete before its attempt is written to the log (a group is
    // written after its posts): the log is read until it shows it.
    wait_for("the log's attempt of carol's Delete from 127.0.0.1", || {
        nas.log_entries(&["--limit", "0"])
            .iter()
            .any(|e| e["username"] == "carol" && e["ipAddress"] == "127.0.0.1")
            .then_some(())
    });
    // The API gives the same figures.
    let recent = api(
        "GET",
        &format!("{}/api/v2/status/recent", daemon.web_url()),
        &carol.headers(),
        None,
    );
    assert_eq!(recent.status, 200, "{}", recent.body);
    let data = &recent.body["data"];
    let people = data["people"].as_array().unwrap();
    assert!(
        people.iter().any(|p| p["username"] == "carol"
            && p["addresses"] == serde_json::json!(["127.0.0.1"])
            && p["protocols"] == serde_json::json!(["api"])
            && p["events"] == 1),
        "{data}"
    );
    let hours = data["hours"].as_array().unwrap();
    assert_eq!(hours.len(), 24, "{data}");
    let summed: u64 = hours.iter().map(|h| h["total"].as_u64().unwrap()).sum();
    assert_eq!(
        (summed, &data["events"]),
        (2, &serde_json::json!(2)),
        "{data}"
    );
    let deletes: u64 = hours
        .iter()
        .map(|h| h["events"]["delete"].as_u64().unwrap())
        .sum();
    assert_eq!(
        (deletes, &data["totals"]["delete"]),
        (1, &serde_json::json!(1)),
        "{data}"
    );
    let folder = match std::env::var("SHAREHOOK_RUNNER") {
        Ok(runner) if !runner.is_empty() => format!("target/page-screenshots-people-{runner}"),
        _ => "target/page-screenshots-people".to_owned(),
    };
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join(folder);
    let (ok, output) = browse(
        &python,
        &[
            "--base",
            &daemon.web_url(),
            "--share",
            share.to_str().unwrap(),
            "--admin",
            &admin,
            "--shots",
            shots.to_str().unwrap(),
            "--people",
            "carol",
            "127.0.0.1",
        ],
        nas.dir.path(),
        patience() * 3,
    );
    assert!(
        ok,
        "the overview's People and chart in headless Chromium:\n{output}\n--- daemon log:\n{}",
        daemon.log()
    );
    println!("{output}");
}
