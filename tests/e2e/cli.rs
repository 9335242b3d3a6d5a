//! The command line as an administrator meets it: version, checking configurations (good and
//! broken), verifying a signature, the manual page and the completion scripts.

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
    for cmd in sharehook::manual::COMMANDS {
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
    for key in sharehook::manual::KEYS {
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
