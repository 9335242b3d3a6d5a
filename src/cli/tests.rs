//! The tests of `cli`.

use std::ffi::OsString;
use std::path::PathBuf;

use super::*;

fn check(args: &[&str], expected: Result<Command, &str>) {
    let got = parse(args.iter().map(OsString::from)).map_err(|e| e.to_string());
    assert_eq!(got, expected.map_err(str::to_owned));
}

#[test]
fn commands_parse() {
    let default = PathBuf::from(config::DEFAULT_PATH);
    check(
        &["run"],
        Ok(Command::Run {
            config: default.clone(),
        }),
    );
    check(
        &["bench", "--tree", "100_000,10", "--dir", "/big"],
        Ok(Command::BenchTree {
            size: "100000,10".parse().unwrap(),
            dir: Some("/big".into()),
        }),
    );
    check(
        &["run", "--config", "/x.toml"],
        Ok(Command::Run {
            config: "/x.toml".into(),
        }),
    );
    check(
        &["--config=/x.toml", "check"],
        Ok(Command::Check {
            config: "/x.toml".into(),
        }),
    );
    check(
        &["demo"],
        Ok(Command::Demo {
            dir: "sharehook-demo".into(),
        }),
    );
    check(&["--version"], Ok(Command::Version));
    check(&[], Ok(Command::Help));
    check(
        &["verify", "--token", "t", "--signature", "s", "-"],
        Ok(Command::Verify {
            key: VerifyKey::Token("t".into()),
            signature: "s".into(),
            input: None,
        }),
    );
    check(
        &["verify", "--token", "t", "--signature", "s", "body.json"],
        Ok(Command::Verify {
            key: VerifyKey::Token("t".into()),
            signature: "s".into(),
            input: Some("body.json".into()),
        }),
    );
    check(
        &["verify", "--token", "t"],
        Err("verify needs --signature SIG"),
    );
    check(
        &["launch"],
        Err("unknown command \"launch\" (see sharehook --help)"),
    );
    check(&["run", "extra"], Err("unexpected argument \"extra\""));
    check(&["manual"], Ok(Command::Manual));
    check(
        &["completion", "zsh"],
        Ok(Command::Completion {
            shell: manual::Shell::Zsh,
        }),
    );
    check(
        &["completion"],
        Err("completion needs the shell: bash, zsh or fish"),
    );
    check(
        &["completion", "tcsh"],
        Err("completion is for bash, zsh or fish, not \"tcsh\""),
    );
}

#[test]
fn verify_parses_both_forms() {
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    fn swh<'a>(extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec!["verify", "--secret", SECRET, "--signature", "v1,x"];
        args.extend_from_slice(extra);
        args
    }
    check(
        &swh(&["--id", "msg_1", "--timestamp", "1614265330", "body.json"]),
        Ok(Command::Verify {
            key: VerifyKey::Secret {
                secret: sign::Secret::parse(SECRET).unwrap(),
                id: "msg_1".into(),
                timestamp: 1_614_265_330,
            },
            signature: "v1,x".into(),
            input: Some("body.json".into()),
        }),
    );
    check(
        &swh(&["--timestamp", "1"]),
        Err("verify --secret needs --id (the webhook-id header)"),
    );
    check(
        &swh(&["--id", "m"]),
        Err("verify --secret needs --timestamp (the webhook-timestamp header)"),
    );
    check(
        &swh(&["--id", "m", "--timestamp", "soon"]),
        Err("--timestamp: \"soon\" is not a time in seconds since 1970"),
    );
    check(
        &swh(&["--id", "m", "--timestamp", "1", "--token", "t"]),
        Err("verify takes either --token (ExaVault) or --secret (Standard Webhooks), not both"),
    );
    check(
        &[
            "verify",
            "--secret",
            "whsec_!!!",
            "--id",
            "m",
            "--timestamp",
            "1",
        ],
        Err("--secret: the part after \"whsec_\" is not base64"),
    );
    check(
        &["verify", "--token", "t", "--id", "m", "--signature", "s"],
        Err("--id and --timestamp go with --secret, not --token"),
    );
    check(
        &["verify", "--signature", "s"],
        Err("verify needs --token TOKEN (ExaVault) or --secret SECRET (Standard Webhooks)"),
    );
}

#[test]
fn log_statuses_parse_and_output_is_one_form() {
    let log = |args: &[&str]| match parse(args.iter().map(OsString::from)) {
        Ok(Command::Log { filter, output, .. }) => Ok((filter.status, output)),
        Ok(other) => panic!("{other:?}"),
        Err(e) => Err(e.to_string()),
    };
    use crate::store::LogStatus;
    assert_eq!(
        log(&["log", "--status", "404"]),
        Ok((Some(LogStatus::Code(404)), Output::Text))
    );
    assert_eq!(
        log(&["log", "--status", "5xx", "--array"]),
        Ok((Some(LogStatus::Class(5)), Output::JsonArray))
    );
    assert_eq!(
        log(&["log", "--status", "transport"]),
        Ok((Some(LogStatus::Transport), Output::Text))
    );
    assert_eq!(
        log(&["log", "--status", "failed", "--json"]),
        Ok((Some(LogStatus::SetAside), Output::JsonLines))
    );
    let bad = "--status: \"abc\" is not a status: give a number such as 404, a class such \
               as 5xx, transport or failed";
    assert_eq!(log(&["log", "--status", "abc"]), Err(bad.to_owned()));
    let both = "--json and --array: give one of them (--json: one object per line, --array: \
                one JSON array)";
    for command in ["log", "failed", "audit"] {
        assert_eq!(
            parse([command, "--json", "--array"].map(OsString::from)).map_err(|e| e.to_string()),
            Err(both.to_owned())
        );
        assert_eq!(
            parse([command, "--array", "--json"].map(OsString::from)).map_err(|e| e.to_string()),
            Err(both.to_owned())
        );
    }
}

#[test]
fn failed_and_resend_failed_parse() {
    let default = PathBuf::from(config::DEFAULT_PATH);
    check(
        &["failed", "--webhook", "2", "--json"],
        Ok(Command::Failed {
            config: default.clone(),
            webhook: Some(2),
            output: Output::JsonLines,
        }),
    );
    check(
        &["resend", "--failed", "--webhook", "3"],
        Ok(Command::ResendFailed {
            config: default.clone(),
            webhook: Some(3),
            since_ms: None,
        }),
    );
    let got = parse(["resend", "--failed", "--since", "2026-11-22"].map(OsString::from));
    assert!(
        matches!(got, Ok(Command::ResendFailed { since_ms: Some(t), .. }) if t == 1_795_305_600_000),
        "{got:?}"
    );
    check(
        &["resend", "--failed", "7-1"],
        Err("resend takes either an ATTEMPT_ID or --failed, not both"),
    );
    check(
        &["resend", "7-1"],
        Ok(Command::Resend {
            config: default,
            attempt_id: "7-1".into(),
            webhook: None,
        }),
    );
    check(&["log", "--failed"], Err("invalid option '--failed'"));
}

#[test]
fn access_commands_parse() {
    let default = PathBuf::from(config::DEFAULT_PATH);
    check(
        &["user", "add", "ana", "--role", "admin", "--password-stdin"],
        Ok(Command::Access {
            config: default.clone(),
            request: crate::service::access::requests::Request::UserAdd {
                name: "ana".into(),
                role: crate::service::access::Role::Admin,
                password: None,
            },
            password_stdin: true,
            output: Output::Text,
        }),
    );
    check(
        &["token", "list", "--json", "--config", "/x.toml"],
        Ok(Command::Access {
            config: "/x.toml".into(),
            request: crate::service::access::requests::Request::TokenList,
            password_stdin: false,
            output: Output::JsonLines,
        }),
    );
    check(
        &["apikey", "rm", "3", "--password-stdin"],
        Err("--password-stdin is for user add and user passwd"),
    );
    check(
        &["audit", "--limit", "5", "--array"],
        Ok(Command::Audit {
            config: default,
            limit: 5,
            output: Output::JsonArray,
        }),
    );
    check(
        &["user", "delete", "ana"],
        Err(&super::access::usage("user")),
    );
}

#[test]
fn status_parses() {
    check(
        &["status"],
        Ok(Command::Status {
            config: PathBuf::from(config::DEFAULT_PATH),
            json: false,
        }),
    );
    check(
        &["status", "--json", "--config", "/x.toml"],
        Ok(Command::Status {
            config: "/x.toml".into(),
            json: true,
        }),
    );
    check(&["status", "1"], Err("unexpected argument \"1\""));
}
