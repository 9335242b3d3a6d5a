//! The command line as typed, read (`lexopt`) into one checked `Command`.

use super::*;
use crate::store::LogFilter;
use crate::{config, core::sign, service::activity};
use std::ffi::OsString;
use std::path::PathBuf;

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
        key: VerifyKey,
        signature: String,
        input: Option<PathBuf>,
    },
    Log {
        config: PathBuf,
        filter: LogFilter,
        output: Output,
    },
    Resend {
        config: PathBuf,
        attempt_id: String,
        webhook: Option<u32>,
    },
    /// `resend --failed`.
    ResendFailed {
        config: PathBuf,
        webhook: Option<u32>,
        since_ms: Option<i64>,
    },
    Failed {
        config: PathBuf,
        webhook: Option<u32>,
        output: Output,
    },
    Enable {
        config: PathBuf,
        webhook: u32,
    },
    Status {
        config: PathBuf,
        json: bool,
    },
    Bench {
        files: usize,
    },
    BenchApi {
        entries: usize,
        seconds: f64,
    },
    BenchAttribution {
        records: usize,
    },
    BenchHooks {
        hooks: usize,
    },
    /// `bench --nats URL` or `--mqtt URL`: delivery to a broker beside raw publishes.
    BenchBroker {
        url: String,
        files: usize,
    },
    BenchTree {
        size: crate::bench::tree::TreeSize,
        dir: Option<PathBuf>,
    },
    Audit {
        config: PathBuf,
        limit: usize,
        output: Output,
    },
    /// `user`, `apikey` and `token`.
    Access {
        config: PathBuf,
        request: crate::service::access::requests::Request,
        password_stdin: bool,
        output: Output,
    },
    /// `manual`: the man page.
    Manual,
    /// `setup sftp`: the sshd and rsyslog lines that make the SFTP server's log reach sharehook.
    SetupSftp {
        log: PathBuf,
        chroot: Option<String>,
    },
    /// `setup nats`: the JetStream stream definition the NATS webhooks publish into.
    SetupNats {
        stream: String,
        subjects: Vec<String>,
        replicas: u32,
    },
    /// `setup samba`: the smb.conf lines that make Samba record who did what.
    SetupSamba {
        audit_log: PathBuf,
        /// The secret field of the prefix (hex), new at each run.
        secret: String,
    },
    Completion {
        shell: manual::Shell,
    },
    Version,
    Help,
}

/// What `sharehook verify` checks a body with.
#[derive(Debug, PartialEq)]
pub enum VerifyKey {
    /// ExaVault: `md5(token || body)`.
    Token(String),
    /// Standard Webhooks: HMAC-SHA256 of `id.timestamp.body`.
    Secret {
        secret: sign::Secret,
        id: String,
        timestamp: i64,
    },
}

/// How `sharehook log` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Text,
    /// One JSON object per line.
    JsonLines,
    /// One JSON array.
    JsonArray,
}

pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, lexopt::Error> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut sub: Option<String> = None;
    let mut config: Option<PathBuf> = None;
    let mut dir: Option<PathBuf> = None;
    let mut token = None;
    let mut secret: Option<String> = None;
    let mut message_id: Option<String> = None;
    let mut timestamp: Option<String> = None;
    let mut signature = None;
    let mut input = None;
    let mut filter = LogFilter {
        limit: 100,
        ..LogFilter::default()
    };
    let mut output = Output::Text;
    let (mut json_given, mut array_given) = (false, false);
    let mut files = 5000usize;
    let mut api_bench = false;
    let mut attribution_bench = false;
    let mut broker_bench: Option<String> = None;
    let (mut stream, mut subjects, mut replicas) = (None, Vec::new(), None);
    let mut tree_bench: Option<crate::bench::tree::TreeSize> = None;
    let mut hooks_bench: Option<usize> = None;
    let mut entries = 100_000usize;
    let mut seconds = 3.0f64;
    let mut positional: Option<String> = None;
    let mut all_failed = false;
    let mut words: Vec<String> = Vec::new();
    let (mut role, mut description, mut key, mut user) = (None, None, None, None);
    let mut password_stdin = false;
    let mut audit_log: Option<PathBuf> = None;
    let (mut sftp_log, mut chroot): (Option<PathBuf>, Option<String>) = (None, None);
    while let Some(arg) = parser.next()? {
        match arg {
            Short('V') | Long("version") => return Ok(Command::Version),
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('c') | Long("config") => config = Some(parser.value()?.into()),
            Long("dir") => dir = Some(parser.value()?.into()),
            Long("token") => token = Some(parser.value()?.string()?),
            Long("signature") => signature = Some(parser.value()?.string()?),
            Long("secret") => secret = Some(parser.value()?.string()?),
            Long("id") => message_id = Some(parser.value()?.string()?),
            Long("timestamp") => timestamp = Some(parser.value()?.string()?),
            Long("webhook") => filter.webhook = Some(parser.value()?.parse()?),
            Long("status") => {
                filter.status = Some(activity::parse_status(&parser.value()?.string()?)?)
            }
            Long("event") => activity::event_filter(&parser.value()?.string()?, &mut filter)?,
            Long("since") => {
                filter.since_ms = Some(activity::parse_since(
                    &parser.value()?.string()?,
                    crate::deliver::now_ms(),
                )?)
            }
            Long("limit") => filter.limit = parser.value()?.parse()?,
            Long("json") => {
                output = Output::JsonLines;
                json_given = true;
            }
            Long("array") => {
                output = Output::JsonArray;
                array_given = true;
            }
            Long("files") => files = parser.value()?.parse()?,
            Long("api") => api_bench = true,
            Long("attribution") => attribution_bench = true,
            Long("nats") | Long("mqtt") => broker_bench = Some(parser.value()?.string()?),
            Long("stream") => stream = Some(parser.value()?.string()?),
            Long("subject") => subjects.push(parser.value()?.string()?),
            Long("replicas") => replicas = Some(parser.value()?.parse()?),
            Long("tree") => tree_bench = Some(parser.value()?.string()?.parse()?),
            Long("webhooks") => hooks_bench = Some(parser.value()?.parse()?),
            Long("entries") => entries = parser.value()?.parse()?,
            Long("seconds") => seconds = parser.value()?.parse()?,
            Long("failed") if sub.as_deref() == Some("resend") => all_failed = true,
            Long("role") => role = Some(parser.value()?.string()?),
            Long("description") => description = Some(parser.value()?.string()?),
            Long("key") => key = Some(parser.value()?.string()?),
            Long("user") => user = Some(parser.value()?.string()?),
            Long("password-stdin") => password_stdin = true,
            Long("audit-log") => audit_log = Some(PathBuf::from(parser.value()?)),
            Long("log") => sftp_log = Some(PathBuf::from(parser.value()?)),
            Long("chroot") => chroot = Some(parser.value()?.string()?),
            Value(v) if matches!(sub.as_deref(), Some("user" | "apikey" | "token")) => {
                words.push(v.string()?)
            }
            Value(v) if sub.is_none() => sub = Some(v.string()?),
            Value(v) if sub.as_deref() == Some("verify") && input.is_none() => {
                input = Some(PathBuf::from(v))
            }
            Value(v)
                if matches!(
                    sub.as_deref(),
                    Some("resend" | "enable" | "completion" | "setup")
                ) && positional.is_none() =>
            {
                positional = Some(v.string()?)
            }
            _ => return Err(arg.unexpected()),
        }
    }
    if json_given && array_given {
        return Err(
            "--json and --array: give one of them (--json: one object per line, --array: one \
             JSON array)"
                .into(),
        );
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
            key: verify_key(token, secret, message_id, timestamp)?,
            signature: signature.ok_or("verify needs --signature SIG")?,
            input: input.filter(|p| p.as_os_str() != "-"),
        },
        Some("log") => Command::Log {
            config,
            filter,
            output,
        },
        Some("resend") if all_failed => {
            if positional.is_some() {
                return Err("resend takes either an ATTEMPT_ID or --failed, not both".into());
            }
            Command::ResendFailed {
                config,
                webhook: filter.webhook,
                since_ms: filter.since_ms,
            }
        }
        Some("resend") => Command::Resend {
            config,
            attempt_id: positional.ok_or(
                "resend needs the ATTEMPT_ID (see sharehook log), or --failed for every failed event",
            )?,
            webhook: filter.webhook,
        },
        Some("failed") => Command::Failed {
            config,
            webhook: filter.webhook,
            output,
        },
        Some("enable") => Command::Enable {
            config,
            webhook: positional
                .ok_or("enable needs the WEBHOOK_ID")?
                .parse()
                .map_err(|_| "WEBHOOK_ID is a number")?,
        },
        Some("bench") if api_bench => Command::BenchApi { entries, seconds },
        Some("bench") if attribution_bench => Command::BenchAttribution { records: entries },
        Some("bench") if broker_bench.is_some() => Command::BenchBroker {
            url: broker_bench.unwrap_or_default(),
            files,
        },
        Some("bench") if hooks_bench.is_some() => Command::BenchHooks {
            hooks: hooks_bench.unwrap_or(2000),
        },
        Some("bench") if tree_bench.is_some() => Command::BenchTree {
            size: tree_bench.expect("checked"),
            dir,
        },
        Some("status") => Command::Status {
            config,
            json: output != Output::Text,
        },
        Some("bench") => Command::Bench { files },
        Some("audit") => Command::Audit {
            config,
            limit: filter.limit,
            output,
        },
        Some("manual") => Command::Manual,
        Some("setup") if positional.as_deref() == Some("nats") => Command::SetupNats {
            stream: stream.unwrap_or_else(|| "FILES".to_owned()),
            subjects: if subjects.is_empty() {
                vec!["files.>".to_owned()]
            } else {
                subjects
            },
            replicas: replicas.unwrap_or(3),
        },
        Some("setup") => setup(positional, audit_log, sftp_log, chroot)?,
        Some("completion") => Command::Completion {
            shell: positional
                .ok_or("completion needs the shell: bash, zsh or fish")?
                .parse()?,
        },
        Some(s @ ("user" | "apikey" | "token")) => {
            let request = super::access::parse(s, &words, role, description, key, user)?;
            if password_stdin && !request.takes_password() {
                return Err("--password-stdin is for user add and user passwd".into());
            }
            Command::Access {
                config,
                request,
                password_stdin,
                output,
            }
        }
        Some(other) => {
            return Err(format!("unknown command \"{other}\" (see sharehook --help)").into());
        }
    };
    Ok(command)
}

/// `setup WHAT`: what there is to set up.
fn setup(
    what: Option<String>,
    audit_log: Option<PathBuf>,
    sftp_log: Option<PathBuf>,
    chroot: Option<String>,
) -> Result<Command, String> {
    match what.as_deref() {
        Some("samba") => Ok(Command::SetupSamba {
            secret: {
                let mut bytes = [0u8; 8];
                getrandom::fill(&mut bytes).map_err(|e| format!("get random numbers: {e}"))?;
                bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
            },
            audit_log: audit_log
                .unwrap_or_else(|| PathBuf::from(crate::evidence::samba::DEFAULT_LOG)),
        }),
        Some("sftp") => Ok(Command::SetupSftp {
            log: sftp_log.unwrap_or_else(|| PathBuf::from(crate::evidence::sftp::DEFAULT_LOG)),
            chroot,
        }),
        _ => Err("setup needs what to set up: nats, samba or sftp".into()),
    }
}

/// The key of `verify`: `--token`, or `--secret` with `--id` and `--timestamp`.
fn verify_key(
    token: Option<String>,
    secret: Option<String>,
    id: Option<String>,
    timestamp: Option<String>,
) -> Result<VerifyKey, String> {
    match (token, secret) {
        (Some(_), Some(_)) => Err(
            "verify takes either --token (ExaVault) or --secret (Standard \
                                   Webhooks), not both"
                .into(),
        ),
        (None, None) => Err(
            "verify needs --token TOKEN (ExaVault) or --secret SECRET (Standard \
                             Webhooks)"
                .into(),
        ),
        (Some(token), None) => {
            if id.is_some() || timestamp.is_some() {
                return Err("--id and --timestamp go with --secret, not --token".into());
            }
            Ok(VerifyKey::Token(token))
        }
        (None, Some(secret)) => {
            // The error says what is wrong with the secret, never the secret itself.
            let secret = sign::Secret::parse(&secret).map_err(|e| format!("--secret: {e}"))?;
            let id = id.ok_or("verify --secret needs --id (the webhook-id header)")?;
            let timestamp = timestamp
                .ok_or("verify --secret needs --timestamp (the webhook-timestamp header)")?;
            let timestamp = timestamp.trim().parse::<i64>().map_err(|_| {
                format!("--timestamp: \"{timestamp}\" is not a time in seconds since 1970")
            })?;
            Ok(VerifyKey::Secret {
                secret,
                id,
                timestamp,
            })
        }
    }
}
