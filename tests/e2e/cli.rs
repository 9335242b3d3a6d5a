//! The command line as an administrator meets it: version, checking configurations (good and
//! broken), verifying a signature, the manual page and the completion scripts.

use std::io::Write;
use std::process::{Output, Stdio};
use std::time::Duration;

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
            "webhook[1].url: \"ftp://10.0.0.5/hook\" is not an http://, https://, nats://, tls://, mqtt:// or mqtts:// URL",
        ),
        (
            "[[webhook]]\nurl = \"http://h/\"\ntriggers = [\"upload\", \"compress\"]\n",
            "line 6",
            "webhook[1].triggers: unknown trigger \"compress\"",
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
        !shown.contains("Secr3t-Pass") && !text(&out.stderr).contains("Secr3t-Pass"),
        "URL passwords are hidden: {shown}"
    );
    assert!(
        shown.contains("url = \"http://user:***@127.0.0.1:9/hook\""),
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
fn check_warns_of_secrets_anyone_can_read_and_of_nothing_to_send() {
    use std::os::unix::fs::PermissionsExt;
    let nas = Nas::new();
    let file = nas.config_path();
    let path = file.display().to_string();
    let chmod =
        |mode: u32| std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
    let check = || {
        let out = run(&["check", "--config", &path]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stderr)
    };
    nas.write_config("http://127.0.0.1:9/hook", "0");
    chmod(0o644);
    let warned = check();
    let expected = format!(
        "{path} holds webhook tokens or secrets, and every user of this machine can read it (mode 0644): chmod 640 {path}"
    );
    assert!(warned.contains(&expected), "{warned}");
    assert!(!warned.contains(TOKEN), "{warned}");
    // As the package installs it: the owner and the sharehook group only.
    chmod(0o640);
    assert_eq!(check(), "");
    // Valid, but nothing would ever be sent: said, and still exit status 0.
    nas.write_config_text("");
    let warned = check();
    assert!(
        warned.contains("no [[webhook]] is configured (nor made through the API): changes are watched but nothing is sent"),
        "{warned}"
    );
    assert_eq!(warned.lines().count(), 1, "{warned}");
}

#[test]
fn check_takes_a_relative_state_dir_from_the_config_files_folder() {
    let nas = Nas::new();
    let share = nas.share();
    std::fs::write(
        nas.config_path(),
        format!(
            "state_dir = \"state\"\n[[share]]\nname = \"public\"\npath = \"{}\"\n[[webhook]]\nurl = \"http://127.0.0.1:9/\"\n",
            share.display()
        ),
    )
    .unwrap();
    // Named relative to the working folder, from a folder above it.
    let parent = nas.dir.path().parent().unwrap();
    let name = nas.dir.path().file_name().unwrap().to_string_lossy();
    let out = sharehook()
        .current_dir(parent)
        .args(["check", "--config", &format!("{name}/sharehook.toml")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    let state = parent.join(&*name).join("state");
    assert!(
        shown.contains(&format!("state_dir = \"{}\"\n", state.display())),
        "{shown}"
    );
}

#[test]
fn check_says_type_errors_misplaced_keys_and_bad_ignore_patterns_in_words() {
    let nas = Nas::new();
    let cases: [(&str, &str); 4] = [
        (
            "[[webhook]]\nid = \"one\"\nurl = \"http://h/\"\n",
            "line 5: webhook[1].id: must be a whole number (got the text \"one\")",
        ),
        (
            "[[webhook]]\nurl = \"http://h/\"\nstate_dir = \"/srv/state\"\n",
            "line 6: webhook[1].state_dir: `state_dir` is a top-level key but comes after [[webhook]]; TOML puts it in that table — move it above the first [table]",
        ),
        (
            "[watch]\nignore = [\"*.bak\", \"logs/*.log\"]\n",
            "line 5: watch.ignore[2]: \"logs/*.log\" has a / inside: a pattern matches one name, not a path",
        ),
        (
            "[[webhook]]\nurl = \"ftp://me:Secr3t-Pass@10.0.0.5/hook\"\n",
            "line 5: webhook[1].url: \"ftp://me:***@10.0.0.5/hook\" is not an http://, https://, nats://, tls://, mqtt:// or mqtts:// URL",
        ),
    ];
    for (extra, expected) in cases {
        let (file, _) = broken(&nas, extra);
        let out = run(&["check", "--config", &file]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(&format!("{file}: {expected}")), "{err}");
        assert!(!err.contains("Secr3t-Pass"), "{err}");
    }
}

/// Waits until the daemon's log has `needle`; fails showing the log.
fn wait_line(daemon: &Daemon, needle: &str) {
    let deadline = std::time::Instant::now() + patience();
    while !daemon.log().contains(needle) {
        assert!(
            std::time::Instant::now() < deadline,
            "no line with {needle:?} in the log:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn debug_log_says_why_a_file_was_not_reported() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config(&receiver.url(), "0");
    let mut command = sharehook();
    command.env("SHAREHOOK_LOG", "debug");
    let daemon = nas.start_with(command);
    let share = nas.share().canonicalize().unwrap();
    let report = share.join("report.txt");
    write_file(&report, "figures");
    receiver.wait_for(1);
    daemon.wait_log(": Upload /report.txt in share public", 1);

    // An Office lock file: ignored, and the debug line names the pattern.
    write_file(&share.join("~$x.docx"), "lock");
    daemon.wait_log("~$x.docx", 1);
    let expected = format!(
        "why: {}: create: ignored: its name (~$x.docx) matches the ignore pattern \"~$*\" ([watch] ignore)",
        share.join("~$x.docx").display()
    );
    wait_line(&daemon, &expected);

    // Opened for writing and closed with nothing written: held, then no change at the gate.
    drop(
        std::fs::OpenOptions::new()
            .append(true)
            .open(&report)
            .unwrap(),
    );
    daemon.wait_log(&format!("why: {}: Upload held until ", report.display()), 2);
    wait_line(
        &daemon,
        "why: share public: /report.txt: Upload dropped: no change, the same size and modification time as the index has",
    );
    // A touch (new times, same content): not news either, and the line says why. (Setting
    // the modification time alone would be a write to the kernel: touch sets both.)
    let touched = std::process::Command::new("touch")
        .arg(&report)
        .status()
        .unwrap();
    assert!(touched.success());
    wait_line(
        &daemon,
        "why: share public: /report.txt: Upload dropped: only its times or attributes changed (nothing was written to it)",
    );

    // Nothing of it was sent: the next real upload is the second delivery.
    write_file(&share.join("next.txt"), "n");
    let got = receiver.wait_for(2);
    let paths: Vec<String> = got.iter().map(|r| r.op().1).collect();
    assert_eq!(paths.len(), 2, "{paths:?}");
    assert!(paths[1].ends_with("/next.txt"), "{paths:?}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(receiver.received().len(), 2);
    let log = daemon.log();
    // The info lines are as they always were; each debug line is one line.
    assert!(
        log.contains(": Upload /next.txt in share public by "),
        "{log}"
    );
    assert_eq!(log.matches("<6>event ").count(), 2, "{log}");
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

/// Runs `tool` with `args`, `input` on its standard input; a missing tool fails the test with
/// the Debian package that brings it (tests/all.sh installs them).
fn tool(tool: &str, package: &str, args: &[&str], input: &[u8]) -> Output {
    let mut child = std::process::Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{tool} is needed: apt-get install {package} ({e})"));
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn help_and_manual_show_every_command_and_option_of_the_table() {
    let help = run(&["--help"]);
    assert!(help.status.success());
    let help = text(&help.stdout);
    let page = run(&["manual"]);
    assert!(page.status.success(), "{}", text(&page.stderr));
    let page = text(&page.stdout);
    for cmd in sharehook::cli::manual::COMMANDS {
        for usage in cmd.usage {
            for line in usage.lines {
                assert!(help.contains(line.trim()), "--help lacks {line:?}");
            }
        }
        assert!(
            page.contains(&format!("\n.SS \"{}\"\n", cmd.name)),
            "{}",
            cmd.name
        );
        for opt in cmd.options {
            let long = opt.long.replace('-', "\\-");
            assert!(page.contains(&format!("\\fB{long}\\fR")), "{}", opt.long);
        }
    }
    let config = page
        .split("\n.SH CONFIGURATION\n")
        .nth(1)
        .expect("CONFIGURATION");
    for key in sharehook::cli::manual::KEYS {
        let key = key.key.replace('-', "\\-");
        assert!(config.contains(&format!("\n\\fB{key}\\fR = ")), "{key}");
    }
    // The man page renders with no warning.
    let checks: [(&str, &str, &[&str]); 2] = [
        ("groff", "groff-base", &["-man", "-Tutf8", "-ww", "-z"]),
        ("mandoc", "mandoc", &["-T", "lint", "-W", "warning"]),
    ];
    for (name, package, args) in checks {
        let out = tool(name, package, args, page.as_bytes());
        let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(out.status.success() && said.is_empty(), "{name}: {said}");
    }
}

#[test]
fn completion_scripts_are_valid_and_each_shell_completes_with_its_own() {
    for (shell, package) in [("bash", "bash"), ("zsh", "zsh"), ("fish", "fish")] {
        let out = run(&["completion", shell]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let script = text(&out.stdout);
        assert!(script.contains("config"), "{shell}: {script}");
        let checked = tool(shell, package, &["-n"], script.as_bytes());
        assert!(
            checked.status.success(),
            "{shell} -n refuses the script: {}",
            text(&checked.stderr)
        );
    }
    let script = text(&run(&["completion", "bash"]).stdout);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sharehook.bash");
    std::fs::write(&path, &script).unwrap();
    let complete = |words: &str| {
        let program = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
             _sharehook; echo \"${{COMPREPLY[*]}}\"",
            path.display()
        );
        let out = tool("bash", "bash", &["-c", &program], b"");
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout).trim().to_owned()
    };
    assert_eq!(complete("sharehook l"), "log");
    assert_eq!(complete("sharehook log --ar"), "--array");
    assert_eq!(complete("sharehook completion ''"), "bash zsh fish");
    assert_eq!(complete("sharehook user add ana --role ''"), "admin viewer");
    assert_eq!(complete("sharehook user ''"), "add list passwd rm");
    assert_eq!(complete("sharehook user add ''"), "");
    assert_eq!(
        complete("sharehook --config /x.toml user ''"),
        "add list passwd rm"
    );
    // fish answers the same from its script.
    let script = text(&run(&["completion", "fish"]).stdout);
    let path = dir.path().join("sharehook.fish");
    std::fs::write(&path, &script).unwrap();
    let fish = |line: &str| {
        let program = format!("source {}; complete -C'{line}'", path.display());
        let out = tool("fish", "fish", &["-c", &program], b"");
        assert!(out.status.success(), "{}", text(&out.stderr));
        let words: Vec<String> = text(&out.stdout)
            .lines()
            .map(|l| l.split('\t').next().unwrap_or("").to_owned())
            .collect();
        words.join(" ")
    };
    assert_eq!(fish("sharehook l"), "log");
    assert_eq!(fish("sharehook log --ar"), "--array");
    assert_eq!(fish("sharehook user "), "add list passwd rm");
    // zsh, in an interactive shell on a pseudo-terminal: each TAB must bring the word.
    let functions = dir.path().join("functions");
    std::fs::create_dir(&functions).unwrap();
    std::fs::write(
        functions.join("_sharehook"),
        run(&["completion", "zsh"]).stdout,
    )
    .unwrap();
    let mut driver = format!(
        "zmodload zsh/zpty\nzpty z zsh -f -i\n\
         zpty -w z \"PS1='%% '; fpath=({} \\$fpath); autoload -Uz compinit; compinit -u -D\"\n",
        functions.display()
    );
    for (typed, expected) in [
        ("sharehook log --ar", "--array"),
        ("sharehook comp", "completion"),
        ("sharehook completion z", "zsh"),
        ("sharehook user add ana --role a", "admin"),
    ] {
        driver.push_str(&format!(
            "zpty -w z $'\\C-u{typed}\\t'\nzpty -r z out '*{expected}*'\nprint -r -- {expected}\n"
        ));
    }
    let out = std::process::Command::new("timeout")
        .args(["30", "zsh", "-f", "-c", &driver])
        .output()
        .unwrap();
    assert_eq!(
        text(&out.stdout),
        "--array\ncompletion\nzsh\nadmin\n",
        "zsh did not complete each word in time: {}",
        text(&out.stderr)
    );
    let out = run(&["completion", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("bash, zsh or fish"));
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
    slow.set_delay(scaled(std::time::Duration::from_secs(2)));
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
