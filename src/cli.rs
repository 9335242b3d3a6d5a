//! The command line, in two steps: the words as typed (`lexopt`), then one checked `Command`
//! that `main` runs. Exit codes: 0 done, 1 failed, 2 the command line was wrong.

use std::ffi::OsString;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use crate::daemon::Daemon;
use crate::{config, demo, service, sign};

pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("SHAREHOOK_COMMIT"),
    ")"
);

const HELP: &str = "\
sharehook: watches shared folders and posts signed, ExaVault-compatible webhooks

usage:
  sharehook run [--config PATH]     run the daemon (default config /etc/sharehook/sharehook.toml)
  sharehook check [--config PATH]   check the configuration and print it, secrets hidden
  sharehook demo [--dir PATH]       try it with no configuration (in ./sharehook-demo)
  sharehook verify --token TOKEN --signature SIG [FILE|-]
                                    check a received body (FILE, or standard input)
  sharehook --version | --help

The log goes to standard error; SHAREHOOK_LOG=debug shows more.
";

#[derive(Debug, PartialEq)]
pub enum Command {
    Run {
        config: PathBuf,
    },
    Check {
        config: PathBuf,
    },
    Demo {
        dir: PathBuf,
    },
    Verify {
        token: String,
        signature: String,
        input: Option<PathBuf>,
    },
    Version,
    Help,
}

pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, lexopt::Error> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut sub: Option<String> = None;
    let mut config: Option<PathBuf> = None;
    let mut dir: Option<PathBuf> = None;
    let mut token = None;
    let mut signature = None;
    let mut input = None;
    while let Some(arg) = parser.next()? {
        match arg {
            Short('V') | Long("version") => return Ok(Command::Version),
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('c') | Long("config") => config = Some(parser.value()?.into()),
            Long("dir") => dir = Some(parser.value()?.into()),
            Long("token") => token = Some(parser.value()?.string()?),
            Long("signature") => signature = Some(parser.value()?.string()?),
            Value(v) if sub.is_none() => sub = Some(v.string()?),
            Value(v) if sub.as_deref() == Some("verify") && input.is_none() => {
                input = Some(PathBuf::from(v))
            }
            _ => return Err(arg.unexpected()),
        }
    }
    let config = config.unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH));
    let command = match sub.as_deref() {
        None | Some("help") => Command::Help,
        Some("run") => Command::Run { config },
        Some("check") => Command::Check { config },
        Some("demo") => Command::Demo {
            dir: dir.unwrap_or_else(|| PathBuf::from(demo::DEFAULT_DIR)),
        },
        Some("verify") => Command::Verify {
            token: token.ok_or("verify needs --token TOKEN")?,
            signature: signature.ok_or("verify needs --signature SIG")?,
            input: input.filter(|p| p.as_os_str() != "-"),
        },
        Some(other) => {
            return Err(format!("unknown command \"{other}\" (see sharehook --help)").into());
        }
    };
    Ok(command)
}

pub fn main() -> ExitCode {
    crate::logging::init();
    let command = match parse(std::env::args_os().skip(1)) {
        Ok(command) => command,
        Err(e) => {
            eprintln!("sharehook: {e}");
            return ExitCode::from(2);
        }
    };
    match execute(command) {
        Ok(code) => code,
        Err(e) => {
            log::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

fn execute(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Help => print!("{HELP}"),
        Command::Version => println!("sharehook {VERSION}"),
        Command::Check { config } => {
            let config = config::load(&config)?;
            print!("{}", config.to_toml_redacted());
        }
        Command::Run { config } => {
            // Everything sharehook creates (the state and its tokens) is for its own user only.
            // SAFETY: umask only changes this process's file-creation mask.
            unsafe { libc::umask(0o077) };
            let config = config::load(&config)?;
            run(&config)?;
        }
        Command::Demo { dir } => {
            // SAFETY: as above.
            unsafe { libc::umask(0o077) };
            demo::run(&dir)?;
        }
        Command::Verify {
            token,
            signature,
            input,
        } => {
            let mut body = Vec::new();
            match &input {
                Some(path) => {
                    body = std::fs::read(path)
                        .with_context(|| format!("cannot read {}", path.display()))?
                }
                None => {
                    std::io::stdin()
                        .read_to_end(&mut body)
                        .context("cannot read standard input")?;
                }
            }
            if sign::verify_exavault(&token, &body, &signature) {
                println!("signature ok");
            } else {
                println!("signature does not match");
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn run(config: &config::Config) -> anyhow::Result<()> {
    log::info!("sharehook {VERSION} starting");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut signals = service::StopSignals::install()?;
        let mut daemon = Daemon::start(config)?;
        service::ready();
        log::info!("ready");
        let signal = service::until_stopped(&daemon, &mut signals).await;
        log::info!("{signal}: stopping");
        service::stopping();
        daemon.stop(Duration::from_secs(10));
        log::info!("stopped");
        Ok(())
    })
}

#[cfg(test)]
mod tests {
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
                token: "t".into(),
                signature: "s".into(),
                input: None,
            }),
        );
        check(
            &["verify", "--token", "t", "--signature", "s", "body.json"],
            Ok(Command::Verify {
                token: "t".into(),
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
    }
}
