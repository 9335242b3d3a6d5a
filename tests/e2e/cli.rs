//! The command line as an administrator meets it: version, checking configurations (good and
//! broken), and verifying a signature.

use std::io::Write;
use std::process::{Output, Stdio};

use crate::support::*;

fn run(args: &[&str]) -> Output {
    sharehook().args(args).output().expect("run sharehook")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn version_names_the_release_and_the_commit() {
    let out = run(&["--version"]);
    assert!(out.status.success());
    let v = text(&out.stdout);
    assert!(
        v.starts_with(&format!("sharehook {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{v}"
    );
    assert!(
        !v.contains("commit unknown"),
        "built from git, the commit is known: {v}"
    );
}

/// A config with one good share; `extra` is appended.
fn broken(nas: &Nas, extra: &str) -> (String, String) {
    let share = nas.share();
    let text = format!(
        "[[share]]\nname = \"public\"\npath = \"{}\"\n{extra}",
        share.display()
    );
    std::fs::write(nas.config_path(), text).unwrap();
    let path = nas.config_path().display().to_string();
    (path.clone(), path)
}

#[test]
fn each_broken_config_is_refused_with_file_line_and_key() {
    let nas = Nas::new();
    let cases: [(&str, &str, &str); 7] = [
        (
            "colour = \"blue\"\n",
            "line 4",
            "share[1].colour: unknown field `colour`",
        ),
        (
            "[[share]]\nname = \"b\"\npath = \"/no/such/folder\"\n",
            "line 6",
            "share[2].path: /no/such/folder cannot be used",
        ),
        (
            "[[webhook]]\nurl = \"ftp://10.0.0.5/hook\"\n",
            "line 5",
            "webhook[1].url: \"ftp://10.0.0.5/hook\" is not an http:// or https:// URL",
        ),
        (
            "[[webhook]]\nurl = \"http://h/\"\ntriggers = [\"upload\", \"copy\"]\n",
            "line 6",
            "webhook[1].triggers: unknown trigger \"copy\"",
        ),
        (
            "[[webhook]]\nurl = \"http://h/\"\nformat = \"xml\"\n",
            "line 6",
            "webhook[1].format: unknown format \"xml\"",
        ),
        (
            "[[webhook]]\nurl = \"http://h/\"\nshare = \"media\"\n",
            "line 6",
            "webhook[1].share: no share is named \"media\"",
        ),
        (
            "[[webhook]]\nurl = \"http://h/\"\ntoken = \"not-a-token\"\n",
            "line 6",
            "webhook[1].token: a verification token is 32 hex characters",
        ),
    ];
    for (extra, line, message) in cases {
        let (file, _) = broken(&nas, extra);
        for command in ["check", "run"] {
            let out = run(&[command, "--config", &file]);
            let err = text(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(1),
                "{command} with {extra:?} must fail: {err}"
            );
            let expected = format!("{file}: {line}: {message}");
            assert!(
                err.contains(&expected),
                "{command} with {extra:?}:\n  got  {err}\n  want {expected}"
            );
            assert_eq!(err.lines().count(), 1, "one message: {err}");
        }
    }
    let out = run(&["check", "--config", "/no/such/sharehook.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("/no/such/sharehook.toml: cannot read the configuration file")
    );
}

#[test]
fn check_prints_the_effective_config_without_secrets() {
    let nas = Nas::new();
    // A password no temporary folder name can contain by chance.
    nas.write_config("http://user:Secr3t-Pass@127.0.0.1:9/hook", "0, 5");
    let out = run(&[
        "check",
        "--config",
        &nas.config_path().display().to_string(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(!shown.contains(TOKEN), "{shown}");
    assert!(
        !shown.contains("Secr3t-Pass") && !shown.contains("user:"),
        "URL credentials are hidden: {shown}"
    );
    assert!(
        shown.contains("url = \"http://127.0.0.1:9/hook\""),
        "{shown}"
    );
    assert!(shown.contains("token = \"<redacted>\""), "{shown}");
    assert!(
        shown.contains(
            "triggers = [\"upload\", \"delete\", \"move\", \"rename\", \"createFolder\"]"
        ),
        "{shown}"
    );
    assert!(shown.contains("retry_delays = [0, 5]"), "{shown}");
}

#[test]
fn verify_checks_a_body_against_a_signature() {
    let body = r#"{"accountname":"exampleaccount","username":"exampleaccount","operation":"Connect","protocol":"web","path":"","sourcepath":"","attempt":1}"#;
    let verify = |sig: &str| {
        let mut child = sharehook()
            .args(["verify", "--token", TOKEN, "--signature", sig, "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(body.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let ok = verify("6e13eb14edfd0bd54feff96be131e155");
    assert!(ok.status.success());
    assert_eq!(text(&ok.stdout), "signature ok\n");
    let bad = verify("00000000000000000000000000000000");
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(text(&bad.stdout), "signature does not match\n");
}

#[test]
fn verify_checks_standard_webhooks_signatures() {
    // The example of the Standard Webhooks specification.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("body.json");
    std::fs::write(&body, r#"{"test": 2432232314}"#).unwrap();
    let body = body.display().to_string();
    let verify = |secret: &str, timestamp: &str, signature: &str, file: &str| {
        run(&[
            "verify",
            "--secret",
            secret,
            "--id",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "--timestamp",
            timestamp,
            "--signature",
            signature,
            file,
        ])
    };
    let ok = verify(SECRET, "1614265330", SIGNATURE, &body);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    assert_eq!(text(&ok.stdout), "signature ok\n");
    // Several signatures in one header (a secret being replaced): one match is enough.
    let several = format!("v1,bm9wZQ== {SIGNATURE}");
    let ok = verify(SECRET, "1614265330", &several, &body);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    assert_eq!(text(&ok.stdout), "signature ok\n");
    // Another timestamp: the same body no longer matches.
    let bad = verify(SECRET, "1614265331", SIGNATURE, &body);
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(text(&bad.stdout), "signature does not match\n");
    // A file that is not there is an error that names it, not a mismatch.
    let missing = dir.path().join("no-such-body.json").display().to_string();
    let gone = verify(SECRET, "1614265330", SIGNATURE, &missing);
    assert_eq!(gone.status.code(), Some(2));
    assert_eq!(text(&gone.stdout), "");
    assert!(
        text(&gone.stderr).contains(&format!("cannot read {missing}")),
        "{}",
        text(&gone.stderr)
    );
    // A malformed secret is an error, and it is not printed back.
    let secret = "whsec_TooShortButSecretish";
    let malformed = verify(secret, "1614265330", SIGNATURE, &body);
    assert_eq!(malformed.status.code(), Some(2));
    let err = text(&malformed.stderr);
    assert!(err.contains("--secret: "), "{err}");
    assert!(!err.contains("TooShort"), "{err}");
    let no_id = run(&[
        "verify",
        "--secret",
        SECRET,
        "--signature",
        SIGNATURE,
        &body,
    ]);
    assert_eq!(no_id.status.code(), Some(2));
    assert!(text(&no_id.stderr).contains("--id"));
}

#[test]
fn log_lists_by_time_across_webhooks_and_filters_by_status() {
    // Webhook 1's receiver takes 2 s to answer; webhook 2's refuses the first event, which
    // has no retry left and is set aside as failed.
    let slow = Receiver::start();
    slow.set_delay(std::time::Duration::from_secs(2));
    let refusing = Receiver::start();
    refusing.script(&["500 Internal Server Error"]);
    let nas = Nas::new();
    nas.write_config_text(&format!(
        "[[webhook]]\nurl = \"{}\"\ntoken = \"{TOKEN}\"\n\n[[webhook]]\nurl = \"{}\"\n\
         token = \"{TOKEN}\"\n\n[delivery]\nretry_delays = [0]\n",
        slow.url(),
        refusing.url()
    ));
    let daemon = nas.start();
    write_file(&nas.share().join("a.txt"), "a");
    refusing.wait_for(1);
    std::thread::sleep(std::time::Duration::from_secs(1));
    write_file(&nas.share().join("b.txt"), "b");
    refusing.wait_for(2);
    slow.wait_for(2);
    let log = wait_for("the four attempts in the log", || {
        let log = nas.log_entries(&["--limit", "0"]);
        (log.len() == 4).then_some(log)
    });
    daemon.stop();

    // Newest first by time, webhooks mixed: webhook 1's attempt of a.txt was written after
    // webhook 2's of b.txt, but made before it.
    let shown: Vec<(u64, &str, &str)> = log
        .iter()
        .map(|e| {
            (
                e["webhookId"].as_u64().unwrap(),
                e["resourcePath"].as_str().unwrap(),
                e["created"].as_str().unwrap(),
            )
        })
        .collect();
    let mut by_time = shown.clone();
    by_time.sort_by(|a, b| b.2.cmp(a.2));
    assert_eq!(shown, by_time, "not newest first");
    assert_eq!((shown[0].0, shown[0].1), (1, "/b.txt"), "{shown:?}");
    assert_eq!((shown[1].0, shown[1].1), (2, "/b.txt"), "{shown:?}");

    let paths = |args: &[&str]| -> Vec<(u64, String)> {
        nas.log_entries(args)
            .iter()
            .map(|e| {
                (
                    e["webhookId"].as_u64().unwrap(),
                    e["resourcePath"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let a = |w| (w, "/a.txt".to_owned());
    let b = |w| (w, "/b.txt".to_owned());
    assert_eq!(paths(&["--status", "5xx"]), [a(2)]);
    assert_eq!(paths(&["--status", "2xx"]), [b(1), b(2), a(1)]);
    assert_eq!(paths(&["--status", "500"]), [a(2)]);
    assert_eq!(paths(&["--status", "failed"]), [a(2)]);
    assert_eq!(paths(&["--status", "transport"]), []);

    // The text view marks the attempt whose event was set aside.
    let out = nas.cli(&["log", "--webhook", "2"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines = text(&out.stdout);
    let lines: Vec<&str> = lines.lines().collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].contains("/b.txt  HTTP 200") && !lines[0].ends_with("(failed)"),
        "{lines:?}"
    );
    assert!(
        lines[1].contains("/a.txt  HTTP 500") && lines[1].ends_with("  (failed)"),
        "{lines:?}"
    );

    // Mistakes are errors that say what is wrong, with exit status 2.
    let refused = |args: &[&str], message: &str| {
        let out = nas.cli(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stdout), "", "{args:?}");
        assert!(
            text(&out.stderr).contains(message),
            "{args:?}: {}",
            text(&out.stderr)
        );
    };
    refused(
        &["log", "--status", "abc"],
        "--status: \"abc\" is not a status: give a number such as 404, a class such as 5xx, \
         transport or failed",
    );
    refused(
        &["log", "--webhook", "9"],
        "--webhook: there is no webhook 9",
    );
    refused(&["log", "--json", "--array"], "--json and --array");
    refused(&["failed", "--array", "--json"], "--json and --array");
}
