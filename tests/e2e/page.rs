//! The web page in a real browser: tests/page/browser.py drives Debian's headless Chromium
//! with Selenium (from the Python of `SHAREHOOK_PYTHON`, made by `bash tests/api/venv.sh`)
//! against the real daemon, with an admin and a viewer made through the real command line.
//! Screenshots of every page land in target/page-screenshots/.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

/// The Python with Selenium installed.
fn python() -> PathBuf {
    let how = "make it with `bash tests/api/venv.sh` and run the tests with \
               SHAREHOOK_PYTHON=\"$(bash tests/api/venv.sh)\" (tests/all.sh does)";
    let python = std::env::var_os("SHAREHOOK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("SHAREHOOK_PYTHON is not set: {how}"));
    assert!(
        python.exists(),
        "SHAREHOOK_PYTHON={} does not exist: {how}",
        python.display()
    );
    let selenium = Command::new(&python)
        .args(["-c", "import selenium"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    assert!(
        selenium.status.success(),
        "SHAREHOOK_PYTHON={} has no selenium: {how}",
        python.display()
    );
    python
}

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
    let out_path = dir.join("browser.out");
    let out = std::fs::File::create(&out_path).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/page/browser.py");
    // Every wait of the script is 30 s; under qemu the daemon is several times slower.
    let scale = std::env::var("SHAREHOOK_PATIENCE_SCALE")
        .unwrap_or_else(|_| (patience().as_secs() / 60).max(1).to_string());
    let mut child = Command::new(python)
        .arg(script)
        .args(args)
        .env("PYTHONUNBUFFERED", "1")
        .env("SHAREHOOK_PATIENCE_SCALE", scale)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut output = std::fs::read_to_string(&out_path).unwrap_or_default();
    if status.is_none() {
        output.push_str(&format!("\n(killed after {} s)\n", limit.as_secs()));
    }
    let ok = status.is_some_and(|s| s.success()) && output.lines().last() == Some("OK");
    (ok, output)
}

#[test]
fn page_in_headless_chromium_makes_a_webhook_shows_deliveries_live_and_refuses_what_it_should() {
    need("chromium", "chromium");
    need("chromedriver", "chromium-driver");
    let python = python();
    let nas = Nas::new();
    // No webhook: the browser makes one through the form.
    nas.write_config_text("[delivery]\nretry_delays = [0]\n");
    let daemon = nas.start();
    let base = daemon.web_url();
    let admin = user(&nas, "ana", "admin");
    let viewer = user(&nas, "vic", "viewer");
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/page-screenshots");
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
