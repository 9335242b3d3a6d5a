//! Users, API keys and access tokens from the command line: the same commands and the same
//! results whether the daemon runs (they go through its control socket) or not (they open
//! the state), each new secret alone on the last line, no secret in the state in clear, and
//! every change in the audit trail.

use std::io::Write;
use std::process::{Output, Stdio};

use crate::support::*;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The command's output, which must be a success.
fn ok(nas: &Nas, args: &[&str]) -> String {
    let out = nas.cli(args);
    assert!(
        out.status.success(),
        "sharehook {args:?} failed: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// The last line of a successful command's output: the secret it made.
fn secret(nas: &Nas, args: &[&str]) -> String {
    let out = ok(nas, args);
    assert!(out.ends_with('\n'), "{out:?}");
    let last = out.lines().last().expect("a last line").to_owned();
    assert!(
        !last.contains(' '),
        "the secret is alone on its line: {out:?}"
    );
    last
}

/// `sharehook ARGS`, given `input` on standard input.
fn with_stdin(nas: &Nas, args: &[&str], input: &str) -> Output {
    let mut child = sharehook()
        .args(args)
        .arg("--config")
        .arg(nas.config_path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sharehook");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'))
}

/// `sharehook SUB list --json`, one object per line, without the times (a token's last use
/// may change).
fn listing(nas: &Nas, sub: &str) -> Vec<serde_json::Value> {
    ok(nas, &[sub, "list", "--json"])
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

/// The secrets a pass of the commands printed or was given.
struct Pass {
    secrets: Vec<String>,
}

/// Adds an admin, a viewer (password from standard input), a key and two tokens, regenerates
/// one of them; names end in `tag`.
fn pass(nas: &Nas, tag: &str) -> Pass {
    let admin = format!("ana{tag}");
    let viewer = format!("vic{tag}");
    let app = format!("sync{tag}");
    let password = secret(nas, &["user", "add", &admin, "--role", "admin"]);
    assert_eq!(password.len(), 24, "{password}");
    let out = with_stdin(
        nas,
        &[
            "user",
            "add",
            &viewer,
            "--role",
            "viewer",
            "--password-stdin",
        ],
        "typed by hand\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("user \"{viewer}\" added (viewer)\n"),
        "no secret is printed for a password given"
    );
    let key = secret(nas, &["apikey", "add", &app, "--description", "nightly"]);
    let (account, random) = key.rsplit_once('-').expect("<account>-<random>");
    assert_eq!(account, "testnas");
    assert!(is_hex(random, 32), "{key}");
    let listed = listing(nas, "apikey");
    let id = listed
        .iter()
        .find(|k| k["name"] == app.as_str())
        .expect("the key is listed")["id"]
        .to_string();
    assert_eq!(
        listed.iter().find(|k| k["name"] == app.as_str()).unwrap()["hint"],
        &random[..4]
    );
    // The key named by its id, then by its value.
    let t1 = secret(nas, &["token", "add", "--key", &id, "--user", &admin]);
    let t2 = secret(nas, &["token", "add", "--key", &key, "--user", &viewer]);
    assert!(is_hex(&t1, 64) && is_hex(&t2, 64), "{t1} {t2}");
    let tokens = listing(nas, "token");
    let t1_id = tokens
        .iter()
        .filter(|t| t["user"] == admin.as_str())
        .map(|t| t["id"].to_string())
        .next()
        .expect("the admin's token is listed");
    let t3 = secret(nas, &["token", "regenerate", &t1_id]);
    assert!(is_hex(&t3, 64) && t3 != t1, "{t3}");
    Pass {
        secrets: vec![password, key, t1, t2, t3, "typed by hand".to_owned()],
    }
}

/// The listings without what changes with use.
fn state_of(nas: &Nas) -> Vec<Vec<serde_json::Value>> {
    ["user", "apikey", "token"]
        .iter()
        .map(|sub| {
            listing(nas, sub)
                .into_iter()
                .map(|mut v| {
                    v.as_object_mut().unwrap().remove("lastUsed");
                    v
                })
                .collect()
        })
        .collect()
}

/// `sharehook audit --json ARGS`, newest first.
fn audit(nas: &Nas, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["audit", "--json"];
    all.extend_from_slice(args);
    ok(nas, &all)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

#[test]
fn access_commands_work_alike_with_and_without_the_daemon() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config(&receiver.url(), "1");
    // The first start makes the state.
    nas.start().stop();

    let alone = pass(&nas, "1");
    let after_alone = state_of(&nas);
    let users: Vec<String> = after_alone[0]
        .iter()
        .map(|u| format!("{} {}", u["name"], u["role"]))
        .collect();
    assert_eq!(users, ["\"ana1\" \"admin\"", "\"vic1\" \"viewer\""]);

    let daemon = nas.start();
    // Seen through the daemon, the state is what the commands alone left.
    assert_eq!(state_of(&nas), after_alone);
    let through = pass(&nas, "2");
    // Made by the daemon: its journal has the audit lines, without the secrets.
    daemon.wait_log(
        "audit: root (admin) from local: added user \"vic2\" (viewer)",
        1,
    );
    daemon.wait_log(
        "audit: root (admin) from local: regenerated access token",
        1,
    );
    let seen_by_daemon = state_of(&nas);
    // The trail is read beside the running daemon, newest first.
    let newest = audit(&nas, &["--limit", "1"]);
    assert_eq!(newest.len(), 1);
    assert!(
        newest[0]["what"]
            .as_str()
            .unwrap()
            .starts_with("regenerated access token"),
        "{newest:?}"
    );
    let log = daemon.log();
    daemon.stop();
    assert_eq!(
        state_of(&nas),
        seen_by_daemon,
        "the same results either way"
    );
    assert_eq!(seen_by_daemon[0].len(), 4);
    assert_eq!(seen_by_daemon[1].len(), 2);
    assert_eq!(seen_by_daemon[2].len(), 4);

    // Six changes in each pass, all made by the command line.
    let trail = audit(&nas, &["--limit", "0"]);
    assert_eq!(trail.len(), 12, "{trail:?}");
    assert!(
        trail
            .iter()
            .all(|r| r["user"] == "root" && r["address"] == "local"),
        "{trail:?}"
    );
    assert!(
        trail
            .iter()
            .any(|r| r["what"] == "added user \"vic2\" (viewer)"),
        "{trail:?}"
    );

    let state = std::fs::read(nas.dir.path().join("state/sharehook.redb")).unwrap();
    for s in alone.secrets.iter().chain(&through.secrets) {
        assert!(!log.contains(s.as_str()), "{s} is in the journal");
        assert!(
            !state.windows(s.len()).any(|w| w == s.as_bytes()),
            "{s} is in the state file in clear"
        );
    }
}

#[test]
fn refusals_are_the_same_with_and_without_the_daemon() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config(&receiver.url(), "1");
    nas.start().stop();
    ok(&nas, &["user", "add", "ana", "--role", "admin"]);

    let check = |nas: &Nas| {
        let cases: [(&[&str], &str); 8] = [
            (&["user", "rm", "ana"], "user \"ana\" is the last admin"),
            (
                &["user", "add", "ana", "--role", "viewer"],
                "user \"ana\" already exists",
            ),
            (&["token", "rm", "77"], "no access token has id 77"),
            (
                &["token", "add", "--key", "9", "--user", "ana"],
                "no API key has id 9",
            ),
            (
                &["user", "add", "a/b", "--role", "viewer"],
                "name: a user name must not hold a /",
            ),
            (
                &["user", "add", " ", "--role", "viewer"],
                "name: a user name must not be only spaces",
            ),
            (
                &["user", "add", "bob ", "--role", "viewer"],
                "name: a user name must not begin or end with a space",
            ),
            (
                &["user", "add", "adm\u{202e}in", "--role", "viewer"],
                "name: a user name must not hold control or bidirectional control characters",
            ),
        ];
        for (args, message) in cases {
            let out = nas.cli(args);
            assert_eq!(out.status.code(), Some(1), "{args:?}");
            assert!(
                text(&out.stderr).contains(message),
                "{args:?}: {}",
                text(&out.stderr)
            );
            assert!(out.stdout.is_empty(), "{args:?}");
        }
        let out = with_stdin(nas, &["user", "passwd", "ana", "--password-stdin"], "");
        assert_eq!(out.status.code(), Some(1));
        assert!(text(&out.stderr).contains("password: a password must not be empty"));
        for args in [
            &["user", "passwd", "ana", "--password-stdin"][..],
            &["user", "add", "bob", "--role", "viewer", "--password-stdin"][..],
        ] {
            let out = with_stdin(nas, args, "123456789\n");
            assert_eq!(out.status.code(), Some(1), "{args:?}");
            assert!(
                text(&out.stderr)
                    .contains("password: a password has at least 10 characters (this one has 9)"),
                "{args:?}: {}",
                text(&out.stderr)
            );
        }
    };
    check(&nas);
    let daemon = nas.start();
    check(&nas);
    // A password set through the daemon is printed when it was made there.
    let made = secret(&nas, &["user", "passwd", "ana"]);
    assert_eq!(made.len(), 24);
    daemon.stop();

    let out = nas.cli(&["apikey", "rm", "1", "--password-stdin"]);
    assert_eq!(out.status.code(), Some(2));
}

/// Signs in to the page at `base` through its form; the session cookie (`name=value`).
fn page_session(base: &str, user: &str, password: &str) -> String {
    let signed_in = page_sign_in(base, user, password);
    assert_eq!(signed_in.status, 303, "{user} did not sign in");
    signed_in.session.expect("a session cookie")
}

/// Where `GET path` with `cookie` is sent: the `Location` of its answer, empty for none.
fn page_redirect(base: &str, path: &str, cookie: &str) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let answer = agent
        .get(format!("{base}{path}"))
        .header("cookie", cookie)
        .call()
        .unwrap();
    answer
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// A live stream (`GET /events`) open with `cookie`, its answer's head read.
fn live_stream(base: &str, cookie: &str) -> std::net::TcpStream {
    use std::io::Read;
    let address = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET /events?view=inbox HTTP/1.1\r\nHost: {address}\r\nCookie: {cookie}\r\n\
         Connection: close\r\n\r\n"
    )
    .unwrap();
    stream.set_read_timeout(Some(patience())).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("the stream's head");
        head.push(byte[0]);
    }
    let head = text(&head);
    assert!(
        head.starts_with("HTTP/1.1 200") && head.contains("text/event-stream"),
        "{head}"
    );
    stream
}

#[test]
fn a_password_set_or_a_user_removed_from_the_command_line_ends_its_sessions_and_live_streams() {
    use std::io::Read;
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config(&receiver.url(), "1");
    let daemon = nas.start();
    let base = daemon.web_url();
    ok(&nas, &["user", "add", "ana", "--role", "admin"]);
    for (user, change) in [("vic", "passwd"), ("val", "rm")] {
        let password = secret(&nas, &["user", "add", user, "--role", "viewer"]);
        let cookie = page_session(&base, user, &password);
        assert_eq!(
            page_redirect(&base, "/", &cookie),
            "",
            "{user} is signed in"
        );
        let mut stream = live_stream(&base, &cookie);
        // Through the daemon's control socket, as a person at the box would.
        let args = [&["user", change, user][..]].concat();
        ok(&nas, &args);
        // The stream ends then: nothing more is posted, and its keep-alive would only come
        // after 15 s.
        let started = std::time::Instant::now();
        stream
            .set_read_timeout(Some(std::time::Duration::from_millis(200)))
            .unwrap();
        let mut rest = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => rest.extend_from_slice(&chunk[..n]),
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => panic!("reading the live stream: {e}"),
            }
            assert!(
                started.elapsed() < patience(),
                "user {change} {user}: the live stream was still open after {:?}: {:?}",
                started.elapsed(),
                text(&rest)
            );
        }
        assert!(
            page_redirect(&base, "/", &cookie).starts_with("/login"),
            "user {change} {user}: the session is still open"
        );
    }
    // The other user's session and streams are not touched.
    let password = secret(&nas, &["user", "passwd", "ana"]);
    let ana = page_session(&base, "ana", &password);
    let _open = live_stream(&base, &ana);
    ok(&nas, &["user", "rm", "vic"]);
    assert_eq!(page_redirect(&base, "/", &ana), "");
    assert!(daemon.stop().success());
}
