//! The delivery engine as a receiver and an administrator see it: v2 bodies, Standard Webhooks
//! signatures checked by the reference implementation, the retry policy, the delivery log with
//! `sharehook log` and `resend`, the address policy, and the limits.

use std::process::Command;
use std::time::Duration;

use crate::support::*;

/// A secret of 32 bytes, as `whsec_` and base64.
const SECRET: &str = "whsec_c2hhcmVob29rIHRlc3Qgc2VjcmV0IDMyIGJ5dGVzISE=";

fn hook(url: &str, extra: &str) -> String {
    format!("[[webhook]]\nurl = \"{url}\"\ntoken = \"{TOKEN}\"\n{extra}\n")
}

/// Checks one delivery with the `standardwebhooks` package: the Python program exits 0 when
/// `Webhook(secret).verify(body, headers)` accepts it.
fn verify_with_reference(python: &std::path::Path, r: &Received) {
    verify_with_reference_secret(python, r, SECRET);
}

fn verify_with_reference_secret(python: &std::path::Path, r: &Received, secret: &str) {
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("body");
    std::fs::write(&body, &r.body).unwrap();
    let script = "import sys\nfrom standardwebhooks.webhooks import Webhook\n\
                  body = open(sys.argv[2], 'rb').read()\n\
                  headers = {'webhook-id': sys.argv[3], 'webhook-timestamp': sys.argv[4], 'webhook-signature': sys.argv[5]}\n\
                  Webhook(sys.argv[1]).verify(body, headers)\nprint('verified')\n";
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(secret)
        .arg(&body)
        .arg(r.header("webhook-id"))
        .arg(r.header("webhook-timestamp"))
        .arg(r.header("webhook-signature"))
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("verified"),
        "standardwebhooks refused the delivery: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn standard_webhooks_signatures_verify_with_the_reference_implementation_across_a_retry() {
    let python = python_with_standardwebhooks();
    let receiver = Receiver::start();
    receiver.script(&["500 Internal Server Error"]);
    let nas = Nas::new();
    nas.write_config_text(&format!(
        "{}\n[delivery]\nretry_delays = [0, 0.5]\n",
        hook(
            &receiver.url(),
            &format!("format = \"v2\"\nsecret = \"{SECRET}\"")
        )
    ));
    let daemon = nas.start();
    write_file(&nas.share().join("signed.txt"), "x");
    let got = receiver.wait_for(2);
    assert_eq!((got[0].status, got[1].status), (500, 200));
    for r in &got {
        verify_with_reference(&python, r);
        // Both signatures are there by default when a secret is set.
        assert_eq!(
            r.header("x-exavault-signature"),
            md5_signature(TOKEN, &r.body)
        );
    }
    // The same id on the retry, so a receiver can drop a repeat; the bodies differ.
    assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"));
    assert_eq!(
        got[0].header("webhook-id"),
        got[0].json()["attemptId"]
            .as_str()
            .unwrap()
            .split('-')
            .next()
            .unwrap()
    );
    assert_ne!(got[0].body, got[1].body);
    // A tampered body is refused by the same check (the check can fail).
    let mut tampered = got[1].clone();
    tampered.body.push(b' ');
    let refused = std::panic::catch_unwind(|| verify_with_reference(&python, &tampered));
    assert!(refused.is_err(), "a tampered body must not verify");
    assert!(
        !daemon.log().contains(SECRET),
        "the secret must never be logged"
    );
    assert!(daemon.stop().success());
}

/// `object` has exactly `keys`, and the raw body writes them in that order.
fn assert_fields_in_order(object: &serde_json::Value, body: &[u8], keys: &[&str]) {
    let mut have: Vec<&str> = object
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut want = keys.to_vec();
    have.sort_unstable();
    want.sort_unstable();
    assert_eq!(have, want, "{object}");
    let text = String::from_utf8_lossy(body);
    let at: Vec<usize> = keys
        .iter()
        .map(|k| {
            text.find(&format!("\"{k}\":"))
                .expect("each key is in the body")
        })
        .collect();
    assert!(
        at.windows(2).all(|w| w[0] < w[1]),
        "{keys:?} out of order in {text}"
    );
}

#[test]
fn v2_bodies_have_the_exavault_shape_for_each_operation() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config_text(&hook(&receiver.url(), "format = \"v2\""));
    let daemon = nas.start();
    let share = nas.share();
    let user = whoami();
    write_file(&share.join("a.txt"), "hello");
    receiver.wait_for(1);
    std::fs::create_dir(share.join("docs")).unwrap();
    receiver.wait_for(2);
    std::fs::rename(share.join("a.txt"), share.join("b.txt")).unwrap();
    receiver.wait_for(3);
    std::fs::rename(share.join("b.txt"), share.join("docs/b.txt")).unwrap();
    receiver.wait_for(4);
    std::fs::remove_file(share.join("docs/b.txt")).unwrap();
    let got = receiver.wait_for(5);
    let expected = [
        ("resources.upload", "/a.txt", None, "file"),
        ("resources.createFolder", "/docs", None, "dir"),
        ("resources.rename", "/b.txt", Some("/a.txt"), "file"),
        ("resources.move", "/docs/b.txt", Some("/b.txt"), "file"),
        ("resources.delete", "/docs/b.txt", None, "file"),
    ];
    for (r, (event, path, source, kind)) in got.iter().zip(expected) {
        let v = r.json();
        let top = [
            "accountName",
            "attemptId",
            "event",
            "eventTimestamp",
            "ipAddress",
            "protocol",
            "username",
            "eventData",
            "share",
            "attribution",
        ];
        assert_fields_in_order(&v, &r.body, &top);
        // Nothing said who made these changes on the disk: the owner, with no address.
        assert_eq!(
            (&v["attribution"], &v["ipAddress"]),
            (&"owner".into(), &"".into())
        );
        assert_eq!(v["accountName"], "testnas");
        assert_eq!(v["event"], event, "{v}");
        assert_eq!(v["protocol"], "nfs");
        assert_eq!(v["username"], user.as_str());
        assert_eq!(v["share"], "public");
        assert!(v["attemptId"].as_str().unwrap().ends_with("-1"), "{v}");
        let ts = v["eventTimestamp"].as_str().unwrap();
        assert!(
            ts.len() == 24 && ts.ends_with('Z') && &ts[10..11] == "T",
            "{ts}"
        );
        assert_eq!(v["eventData"]["transferStatus"], "success");
        let res = &v["eventData"]["resources"][0];
        let resource = [
            "id",
            "hash",
            "name",
            "path",
            "type",
            "createdBy",
            "createdAt",
            "updatedAt",
            "size",
            "fileCount",
            "sourcePath",
        ];
        assert_fields_in_order(res, &r.body, &resource);
        // `id` is a number (what ExaVault's SDKs read), the first 13 hex digits of `hash`.
        let hash = res["hash"].as_str().unwrap();
        assert_eq!(
            res["id"].as_u64(),
            u64::from_str_radix(&hash[..13], 16).ok(),
            "{res}"
        );
        assert_eq!(res["path"], path);
        assert_eq!(res["type"], kind);
        assert_eq!(res["name"], path.rsplit('/').next().unwrap());
        assert_eq!(res["createdBy"], user.as_str());
        assert_eq!(res["fileCount"], serde_json::Value::Null);
        assert_eq!(res["sourcePath"].as_str(), source);
        assert_eq!(
            r.header("x-exavault-signature"),
            md5_signature(TOKEN, &r.body)
        );
    }
    assert_eq!(got[0].json()["eventData"]["resources"][0]["size"], 5);
    assert!(daemon.stop().success());
}

#[test]
fn failures_are_retried_at_the_configured_delays_logged_and_resent_on_request() {
    let receiver = Receiver::start();
    receiver.script(&["500 Internal Server Error", "500 Internal Server Error"]);
    let nas = Nas::new();
    nas.write_config_text(&format!(
        "{}\n[delivery]\nretry_delays = [0, 1, 2]\n",
        hook(&receiver.url(), "")
    ));
    let daemon = nas.start();
    write_file(&nas.share().join("report.pdf"), "pdf");
    let got = receiver.wait_for(3);
    let statuses: Vec<u16> = got.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 500, 200]);
    let gap1 = got[1].at - got[0].at;
    let gap2 = got[2].at - got[1].at;
    // Each delay is jittered by up to 20% either way: 0.8-1.2 s, then 1.6-2.4 s, with room
    // above for a slow machine (qemu).
    let ms = |d: Duration| d.as_millis();
    let slack = ms(scaled(Duration::from_millis(1000)));
    assert!((750..=1200 + slack).contains(&ms(gap1)), "{gap1:?}");
    assert!((1550..=2400 + slack).contains(&ms(gap2)), "{gap2:?}");
    let attempts: Vec<u64> = got
        .iter()
        .map(|r| r.json()["attempt"].as_u64().unwrap())
        .collect();
    assert_eq!(attempts, [1, 2, 3]);

    // The log, newest first, while the daemon runs.
    let log = wait_for("three log entries", || {
        let log = nas.log_entries(&[]);
        (log.len() >= 3).then_some(log)
    });
    let statuses: Vec<u64> = log.iter().map(|e| e["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [200, 500, 500]);
    let event_id = log[0]["eventId"].as_u64().unwrap();
    let ids: Vec<String> = log
        .iter()
        .map(|e| e["attemptId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, [3, 2, 1].map(|n| format!("{event_id}-{n}")));
    for e in &log {
        assert_eq!(e["webhookId"], 1);
        assert_eq!(e["event"], "resources.upload");
        assert_eq!(e["resourcePath"], "/report.pdf");
        assert_eq!(e["responseVersion"], "v1");
        assert_eq!(e["endpointUrl"], receiver.url());
        assert_eq!(e["resend"], false);
        assert_eq!(e["response"], "ok");
        assert_eq!(e["responseSize"], 2);
        assert!(e["body"].as_str().unwrap().contains("report.pdf"));
    }
    // Filters.
    assert_eq!(nas.log_entries(&["--status", "500"]).len(), 2);
    assert_eq!(nas.log_entries(&["--limit", "1"]).len(), 1);
    assert_eq!(nas.log_entries(&["--event", "delete"]).len(), 0);
    assert_eq!(nas.log_entries(&["--since", "10m"]).len(), 3);
    assert_eq!(nas.log_entries(&["--since", "2000-01-01"]).len(), 3);
    let text = nas.cli(&["log"]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains(&format!("{event_id}-1")) && text.contains("HTTP 500"),
        "{text}"
    );
    let array = nas.cli(&["log", "--array"]);
    let array: serde_json::Value = serde_json::from_slice(&array.stdout).unwrap();
    assert_eq!(array.as_array().unwrap().len(), 3);

    // Resend the delivered one: a new attempt, marked as a resend.
    let out = nas.cli(&["resend", &format!("{event_id}-3")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = receiver.wait_for(4);
    assert_eq!(got[3].json()["attempt"], 4);
    assert_eq!(got[3].json()["path"], "/report.pdf");
    let newest = &nas.log_entries(&["--limit", "1"])[0];
    assert_eq!(newest["attemptId"], format!("{event_id}-4"));
    assert_eq!(newest["resend"], true);
    assert_eq!(newest["status"], 200);
    assert!(daemon.stop().success());

    // With the daemon stopped, resend works from the command line alone.
    let out = nas.cli(&["resend", &format!("{event_id}-1")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = receiver.wait_for(5);
    assert_eq!(got[4].json()["attempt"], 5);
    let out = nas.cli(&["resend", "999999-1"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no attempt 999999-1"));
}

#[test]
fn gone_disables_the_webhook_until_it_is_enabled_and_nothing_is_lost() {
    let receiver = Receiver::start();
    receiver.script(&["410 Gone"]);
    let nas = Nas::new();
    nas.write_config_text(&format!(
        "{}\n[delivery]\nretry_delays = [0, 0.2, 0.2, 0.2]\n",
        hook(&receiver.url(), "")
    ));
    let daemon = nas.start();
    write_file(&nas.share().join("one.txt"), "1");
    receiver.wait_for(1);
    daemon.wait_log("webhook 1 is disabled", 1);
    write_file(&nas.share().join("two.txt"), "2");
    daemon.wait_log("queued for webhook 1", 2);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        receiver.received().len(),
        1,
        "a disabled webhook sends nothing"
    );
    let out = nas.cli(&["enable", "1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("enabled again"));
    let got = receiver.wait_for(3);
    assert_eq!(
        ops(&got[1..]),
        [
            ("Upload".to_owned(), "/one.txt".to_owned(), String::new()),
            ("Upload".to_owned(), "/two.txt".to_owned(), String::new())
        ]
    );
    assert_eq!(got[1].json()["attempt"], 2);
    assert!(daemon.stop().success());
}

#[test]
fn redirects_fail_timeouts_log_28_refusals_log_7_and_retry_after_is_honoured() {
    let elsewhere = Receiver::start();
    let receiver = Receiver::start();
    receiver.script_slow(&[
        (
            &format!("302 Found\r\nLocation: {}", elsewhere.url()),
            Duration::ZERO,
        ),
        ("200 OK", Duration::from_secs(3)),
        ("429 Too Many Requests\r\nRetry-After: 2", Duration::ZERO),
    ]);
    let dead = Receiver::free_port();
    let nas = Nas::new();
    nas.write_config_text(&format!(
        "{}{}\n[delivery]\nretry_delays = [0, 0.2, 0.2, 0.2, 0.2]\nrequest_timeout = 1\n",
        hook(&receiver.url(), "id = 1"),
        hook(&format!("http://127.0.0.1:{dead}/hook"), "id = 2")
    ));
    let daemon = nas.start();
    write_file(&nas.share().join("f.txt"), "x");
    let got = receiver.wait_for(4);
    // 302 (not followed), then a timeout, then 429 with Retry-After: 2, then 200.
    assert_eq!(
        elsewhere.received().len(),
        0,
        "a redirect is never followed"
    );
    let gap = got[3].at - got[2].at;
    assert!(
        gap >= Duration::from_millis(1900)
            && gap <= Duration::from_secs(2) + scaled(Duration::from_secs(2)),
        "{gap:?}"
    );
    let log = wait_for("four entries for webhook 1", || {
        let log = nas.log_entries(&["--webhook", "1"]);
        (log.len() >= 4).then_some(log)
    });
    let statuses: Vec<(u64, String)> = log
        .iter()
        .rev()
        .map(|e| {
            (
                e["status"].as_u64().unwrap(),
                e["statusKind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            (302, "http".to_owned()),
            (28, "transport".to_owned()),
            (429, "http".to_owned()),
            (200, "http".to_owned())
        ]
    );
    let refused = wait_for("a refused attempt for webhook 2", || {
        nas.log_entries(&["--webhook", "2"]).into_iter().last()
    });
    assert_eq!(refused["status"], 7);
    assert_eq!(refused["statusKind"], "transport");
    assert!(daemon.stop().success());
}

#[test]
fn a_dead_endpoint_does_not_delay_another_webhook() {
    let live = Receiver::start();
    let dead = Receiver::free_port();
    let nas = Nas::new();
    nas.write_config_text(&format!(
        "{}{}\n[delivery]\nretry_delays = [0, 30, 30]\nconnect_timeout = 3\n",
        hook(&format!("http://127.0.0.1:{dead}/hook"), ""),
        hook(&live.url(), "")
    ));
    let daemon = nas.start();
    let names: Vec<String> = (0..30).map(|i| format!("n{i:02}")).collect();
    write_files_in_order(&nas.share(), &names);
    assert_uploads_in_order(&live, &names, 0);
    assert!(daemon.log().contains("connection refused (error 7)"));
    assert!(daemon.stop().success());
}

#[test]
fn the_address_policy_refuses_metadata_and_denied_ranges_and_lets_allowed_ones_through() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    // Loopback stands in for the LAN here (tests send nothing off this machine): denied as a
    // range, with one address of it allowed back.
    // The metadata address also hides in IPv6 forms: NAT64 and IPv4-compatible.
    nas.write_config_text(&format!(
        "{}{}{}{}{}\n[delivery]\nretry_delays = [0, 60]\ndeny_networks = [\"127.0.0.0/8\"]\nallow_networks = [\"127.0.0.1/32\"]\n",
        hook("http://169.254.169.254/latest/meta-data/", "id = 1"),
        hook(&format!("http://127.0.0.2:{}/hook", receiver.port), "id = 2"),
        hook(&receiver.url(), "id = 3"),
        hook("http://[64:ff9b::a9fe:a9fe]/latest/meta-data/", "id = 4"),
        hook("http://[::a9fe:a9fe]/latest/meta-data/", "id = 5"),
    ));
    let daemon = nas.start();
    write_file(&nas.share().join("p.txt"), "x");
    let got = receiver.wait_for(1);
    assert_eq!(got[0].json()["path"], "/p.txt");
    for (id, net) in [
        ("1", "169.254.0.0/16"),
        ("2", "127.0.0.0/8"),
        ("4", "169.254.0.0/16"),
        ("5", "169.254.0.0/16"),
    ] {
        let e = wait_for("a refused attempt", || {
            nas.log_entries(&["--webhook", id]).into_iter().next()
        });
        assert_eq!(e["status"], 7, "{e}");
        let error = e["error"].as_str().unwrap();
        assert!(error.contains(&format!("refused network {net}")), "{error}");
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(receiver.received().len(), 1, "127.0.0.2 is refused");
    assert!(daemon.stop().success());
}

#[test]
fn the_unspecified_address_is_this_machine_and_refused_with_loopback() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    // Linux connects 0.0.0.0 and [::] to this machine: with loopback refused, so are they.
    nas.write_config_text(&format!(
        "{}{}\n[delivery]\nretry_delays = [0, 60]\ndeny_networks = [\"127.0.0.0/8\", \"::1/128\"]\n",
        hook(&format!("http://0.0.0.0:{}/hook", receiver.port), "id = 1"),
        hook(&format!("http://[::]:{}/hook", receiver.port), "id = 2"),
    ));
    let daemon = nas.start();
    write_file(&nas.share().join("p.txt"), "x");
    for id in ["1", "2"] {
        let e = wait_for("a refused attempt", || {
            nas.log_entries(&["--webhook", id]).into_iter().next()
        });
        assert_eq!(e["status"], 7, "{e}");
        let error = e["error"].as_str().unwrap();
        assert!(error.contains("(this machine "), "{error}");
        assert!(error.contains("refused network"), "{error}");
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(receiver.received().len(), 0, "nothing reached the receiver");
    assert!(daemon.stop().success());
}

#[test]
fn the_queue_limit_and_log_retention_prune_and_say_so() {
    let port = Receiver::free_port();
    let nas = Nas::new();
    let delays = vec!["0.3"; 100].join(", ");
    nas.write_config_text(&format!(
        "{}\n[delivery]\nretry_delays = [0, {delays}]\nqueue_limit = 5\n\n[log]\nmax_entries = 4\n",
        hook(&format!("http://127.0.0.1:{port}/hook"), "")
    ));
    let daemon = nas.start();
    let names: Vec<String> = (0..8).map(|i| format!("q{i}")).collect();
    write_files_in_order(&nas.share(), &names);
    daemon.wait_log("queued for webhook 1", 8);
    daemon.wait_log("its queue is full ([delivery] queue_limit); dropped its", 1);
    daemon.wait_log("delivery log: removed the", 1);
    assert!(nas.log_entries(&[]).len() <= 4);
    let receiver = Receiver::start_on(port);
    let got = receiver.wait_for(5);
    let paths: Vec<String> = ops(&got).into_iter().map(|(_, p, _)| p).collect();
    assert_eq!(
        paths,
        ["/q3", "/q4", "/q5", "/q6", "/q7"],
        "the oldest three were dropped"
    );
    let log = daemon.log();
    let dropped: u64 = log
        .lines()
        .filter_map(|l| l.split("dropped its ").nth(1))
        .filter_map(|rest| rest.split(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(dropped, 3, "{log}");
    assert!(daemon.stop().success());
}

/// An HTTPS receiver (Python's http.server over TLS) with a certificate from a private CA,
/// made here with openssl. Returns its port and the file its bodies are appended to.
struct TlsReceiver {
    child: std::process::Child,
    port: u16,
    bodies: std::path::PathBuf,
}

impl Drop for TlsReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private CA and a certificate for 127.0.0.1 that it signed (ca.pem, server.pem and
/// server.key in `dir`), made with openssl.
pub fn private_ca(dir: &std::path::Path) {
    let openssl = need("openssl", "openssl");
    sh(
        dir,
        &format!(
            "set -e\n\
             {o} req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=sharehook-test-ca 2>/dev/null\n\
             {o} req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1 2>/dev/null\n\
             printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext\n\
             {o} x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile san.ext 2>/dev/null\n",
            o = openssl.display()
        ),
    );
}

fn tls_receiver(dir: &std::path::Path) -> TlsReceiver {
    use std::io::BufRead;
    let script = "import http.server, ssl, sys\n\
        class H(http.server.BaseHTTPRequestHandler):\n\
        \x20   protocol_version = 'HTTP/1.1'\n\
        \x20   def do_POST(self):\n\
        \x20       body = self.rfile.read(int(self.headers['content-length']))\n\
        \x20       with open(sys.argv[3], 'ab') as f: f.write(body + b'\\n')\n\
        \x20       self.send_response(200); self.send_header('content-length', '2'); self.end_headers(); self.wfile.write(b'ok')\n\
        \x20   def log_message(self, *a): pass\n\
        srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)\n\
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(sys.argv[1], sys.argv[2])\n\
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)\n\
        print(srv.server_address[1], flush=True)\n\
        srv.serve_forever()\n";
    let bodies = dir.join("bodies");
    let mut child = Command::new(need("python3", "python3"))
        .arg("-c")
        .arg(script)
        .arg(dir.join("server.pem"))
        .arg(dir.join("server.key"))
        .arg(&bodies)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().parse().expect("the receiver prints its port");
    TlsReceiver {
        child,
        port,
        bodies,
    }
}

#[test]
fn https_to_a_receiver_with_a_private_ca_works_with_its_ca_file_and_is_refused_without() {
    let certs = tempfile::tempdir().unwrap();
    private_ca(certs.path());
    let tls = tls_receiver(certs.path());
    let url = format!("https://127.0.0.1:{}/hook", tls.port);
    let nas = Nas::new();
    nas.write_config_text(&format!(
        "{}{}\n[delivery]\nretry_delays = [0, 60]\n",
        hook(
            &url,
            &format!(
                "id = 1\nca_file = \"{}\"",
                certs.path().join("ca.pem").display()
            )
        ),
        hook(&url, "id = 2"),
    ));
    let daemon = nas.start();
    write_file(&nas.share().join("secure.txt"), "x");
    let delivered = wait_for("the HTTPS delivery", || {
        let text = std::fs::read_to_string(&tls.bodies).unwrap_or_default();
        text.contains("secure.txt").then_some(text)
    });
    assert_eq!(
        delivered.lines().count(),
        1,
        "only the webhook with the ca_file gets through"
    );
    let refused = wait_for("webhook 2's attempt", || {
        nas.log_entries(&["--webhook", "2"]).into_iter().next()
    });
    assert_eq!(refused["status"], 60, "{refused}");
    let ok = wait_for("webhook 1's attempt", || {
        nas.log_entries(&["--webhook", "1"]).into_iter().next()
    });
    assert_eq!(ok["status"], 200, "{ok}");
    assert!(daemon.stop().success());
}

#[test]
fn a_replaced_secret_and_token_keep_signing_beside_the_new_ones_for_the_grace_period() {
    const NEW_SECRET: &str = "whsec_YW5vdGhlciBzaGFyZWhvb2sgc2VjcmV0IG9mIDMyIGI=";
    const NEW_TOKEN: &str = "0123456789abcdef0123456789abcdef";
    let python = python_with_standardwebhooks();
    let receiver = Receiver::start();
    let nas = Nas::new();
    let config = |token: &str, secret: &str| {
        format!(
            "[[webhook]]\nurl = \"{}\"\ntoken = \"{token}\"\nsecret = \"{secret}\"\n\n[delivery]\nrotation_grace = 3600\n",
            receiver.url()
        )
    };
    nas.write_config_text(&config(TOKEN, SECRET));
    let daemon = nas.start();
    write_file(&nas.share().join("before.txt"), "1");
    receiver.wait_for(1);
    assert!(daemon.stop().success());

    nas.write_config_text(&config(NEW_TOKEN, NEW_SECRET));
    let daemon = nas.start();
    daemon.wait_log(
        "the replaced secret keeps signing beside the new one for 60 min",
        1,
    );
    write_file(&nas.share().join("after.txt"), "2");
    let got = receiver.wait_for(2);
    let r = &got[1];
    assert_eq!(r.json()["path"], "/after.txt");
    // Two signatures: a receiver that knows either secret accepts the delivery.
    assert_eq!(r.header("webhook-signature").split(' ').count(), 2);
    verify_with_reference(&python, r);
    let mut with_new = r.clone();
    with_new.headers.insert(
        "webhook-signature".into(),
        r.header("webhook-signature")
            .split(' ')
            .next()
            .unwrap()
            .into(),
    );
    verify_with_reference_secret(&python, &with_new, NEW_SECRET);
    assert_eq!(
        r.header("x-exavault-signature"),
        md5_signature(NEW_TOKEN, &r.body)
    );
    assert_eq!(
        r.header("x-exavault-signature-previous"),
        md5_signature(TOKEN, &r.body)
    );
    assert!(daemon.stop().success());

    // With no grace left, only the new ones sign.
    nas.write_config_text(&config(NEW_TOKEN, NEW_SECRET).replace("3600", "0"));
    let daemon = nas.start();
    write_file(&nas.share().join("later.txt"), "3");
    let got = receiver.wait_for(3);
    assert_eq!(got[2].header("webhook-signature").split(' ').count(), 1);
    assert_eq!(got[2].header("x-exavault-signature-previous"), "");
    assert!(daemon.stop().success());
}

#[test]
fn a_webhook_failing_for_disable_after_is_disabled_and_keeps_queueing() {
    let port = Receiver::free_port();
    let nas = Nas::new();
    let delays = vec!["0.2"; 50].join(", ");
    nas.write_config_text(&format!(
        "{}\n[delivery]\nretry_delays = [0, {delays}]\ndisable_after = 1\n",
        hook(&format!("http://127.0.0.1:{port}/hook"), "")
    ));
    let daemon = nas.start();
    write_file(&nas.share().join("a.txt"), "1");
    daemon.wait_log("no delivery succeeded for 1 s; it is disabled", 1);
    write_file(&nas.share().join("b.txt"), "2");
    daemon.wait_log("queued for webhook 1", 2);
    let receiver = Receiver::start_on(port);
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        receiver.received().is_empty(),
        "a disabled webhook sends nothing"
    );
    // It stays disabled across a restart, and says so.
    assert!(daemon.stop().success());
    let daemon = nas.start();
    daemon.wait_log("webhook 1 is disabled (no delivery succeeded for 1 s)", 1);
    let out = nas.cli(&["enable", "1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = receiver.wait_for(2);
    assert_eq!(
        ops(&got).into_iter().map(|(_, p, _)| p).collect::<Vec<_>>(),
        ["/a.txt", "/b.txt"]
    );
    assert!(daemon.stop().success());
}

#[test]
fn proxies_in_the_environment_are_ignored_and_one_connection_carries_every_delivery() {
    let receiver = Receiver::start();
    let dead = Receiver::free_port();
    let nas = Nas::new();
    nas.write_config_text(&hook(&receiver.url(), ""));
    let proxy = format!("http://127.0.0.1:{dead}");
    let mut command = sharehook();
    for name in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        command.env(name, &proxy);
    }
    let daemon = nas.start_with(command);
    let names: Vec<String> = (0..5).map(|i| format!("k{i}")).collect();
    write_files_in_order(&nas.share(), &names);
    assert_uploads_in_order(&receiver, &names, 0);
    assert_eq!(receiver.connections(), 1, "the connection is kept alive");
    assert!(daemon.stop().success());
}
