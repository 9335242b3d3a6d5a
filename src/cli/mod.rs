//! The command line, in two steps: the words as typed (`lexopt`), then one checked `Command`
//! that `main` runs. Exit codes: 0 done, 1 failed, 2 the command line was wrong, 3 (`status`)
//! the daemon is not running. What `--help` says is in `manual`, with every option and command
//! matched here (its tests check).
//!
//! Layer 9, the top: may use every layer (see `lib.rs`).

pub mod access;
mod args;
pub mod daemon;
pub mod demo;
pub mod manual;
pub mod receiver;
pub mod status;

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

pub use args::{Command, Output, VerifyKey, parse};

use crate::VERSION;
use crate::config;
use crate::core::event::{escape_controls, json_for_terminal};
use crate::core::payload::rfc3339;
use crate::core::sign;
use crate::daemon::{Daemon, systemd};
use crate::service::activity;
use crate::store::{LogEntry, SetAside};

/// The exit status of `sharehook status` when the daemon is not running.
const NOT_RUNNING: u8 = 3;

pub fn main() -> ExitCode {
    crate::daemon::logging::init();
    let command = match parse(std::env::args_os().skip(1)) {
        Ok(command) => command,
        Err(e) => {
            eprintln!(
                "sharehook: {}",
                crate::core::event::escape_controls(&e.to_string())
            );
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
        Command::Help => print!("{}", manual::help()),
        Command::SetupSftp { log, chroot } => {
            print!(
                "{}",
                crate::evidence::sftp::setup_lines(&log, chroot.as_deref())
            );
        }
        Command::SetupNats {
            stream,
            subjects,
            replicas,
        } => {
            eprintln!(
                "# The JetStream stream sharehook's nats:// webhooks publish into. Save this as\n\
                 # stream.json and create the stream once with the nats CLI:\n\
                 #   nats stream add --config stream.json"
            );
            println!(
                "{}",
                crate::deliver::broker::nats::stream_definition(&stream, &subjects, replicas)
                    .map_err(anyhow::Error::msg)?
            );
        }
        Command::SetupSamba { audit_log, secret } => {
            let prefix = crate::evidence::samba::secret_prefix(&format!("sh{secret}"));
            print!(
                "{}",
                crate::evidence::samba::setup_lines(&audit_log, &prefix)
            );
        }
        Command::Manual => print!("{}", manual::man_page()),
        Command::Completion { shell } => print!("{}", manual::completion(shell)),
        Command::Version => println!("sharehook {VERSION}"),
        Command::Check { config } => {
            let config = config::load(&config)?;
            // The state, if there is one this user may read, has the API's webhooks.
            let api = crate::store::Store::open_read_only(&config.state_dir)
                .map(|store| api_webhook_shares(&store))
                .unwrap_or_default();
            for warning in config.warnings(&api) {
                log::warn!("{warning}");
            }
            print!("{}", config.to_toml_redacted());
        }
        Command::Run { config } => {
            // Everything sharehook creates (the state and its tokens) is for its own user only.
            // SAFETY: umask only changes this process's file-creation mask.
            unsafe { libc::umask(0o077) };
            let loaded = config::load(&config)?;
            run(&config, loaded)?;
        }
        Command::Demo { dir } => {
            // SAFETY: as above.
            unsafe { libc::umask(0o077) };
            demo::run(&dir)?;
        }
        Command::Verify {
            key,
            signature,
            input,
        } => {
            let mut body = Vec::new();
            let read = match &input {
                Some(path) => std::fs::read(path)
                    .map(|b| body = b)
                    .map_err(|e| format!("cannot read {}: {e}", path.display())),
                None => std::io::stdin()
                    .read_to_end(&mut body)
                    .map(drop)
                    .map_err(|e| format!("cannot read standard input: {e}")),
            };
            // A body that cannot be read is an error (2), not a mismatch (1).
            if let Err(e) = read {
                eprintln!("sharehook: {}", crate::core::event::escape_controls(&e));
                return Ok(ExitCode::from(2));
            }
            let matches = match &key {
                VerifyKey::Token(token) => sign::verify_exavault(token, &body, &signature),
                VerifyKey::Secret {
                    secret,
                    id,
                    timestamp,
                } => secret.verify(id, *timestamp, &body, &signature),
            };
            if matches {
                println!("signature ok");
            } else {
                println!("signature does not match");
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Log {
            config,
            filter,
            output,
        } => {
            let config_path = config;
            let config = config::load(&config_path)?;
            let store = crate::store::Store::open_read_only(&config.state_dir)?;
            if let Some(code) = no_such_webhook(&config_path, &config, &store, filter.webhook)? {
                return Ok(code);
            }
            let entries = store.log(&filter)?;
            match output {
                Output::Text => {
                    let failed: std::collections::HashSet<(u32, u64)> = store
                        .failed_events(filter.webhook)?
                        .iter()
                        .map(|f| (f.webhook, f.event.id))
                        .collect();
                    for e in &entries {
                        let set_aside = failed.contains(&(e.webhook, e.event.id));
                        println!("{}", to_line(e, set_aside));
                    }
                }
                Output::JsonLines => {
                    for e in &entries {
                        print_json(&activity::to_json(e));
                    }
                }
                Output::JsonArray => {
                    let all: Vec<serde_json::Value> =
                        entries.iter().map(activity::to_json).collect();
                    print_json(&serde_json::Value::Array(all));
                }
            }
        }
        Command::Resend {
            config,
            attempt_id,
            webhook,
        } => {
            let config = config::load(&config)?;
            let v = daemon::resend(&config, &attempt_id, webhook)?;
            print_json(&v);
            let status = v["status"].as_u64().unwrap_or(0);
            if v["statusKind"] != "http" || !(200..300).contains(&status) {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::ResendFailed {
            config,
            webhook,
            since_ms,
        } => {
            let config = config::load(&config)?;
            let done = daemon::resend_failed(&config, webhook, since_ms)?;
            let n = done.count;
            let (events, they) = if n == 1 {
                ("event", "it is")
            } else {
                ("events", "they are")
            };
            if done.by_daemon {
                println!("{n} failed {events} back in the queue, sent now");
            } else {
                println!(
                    "{n} failed {events} back in the queue; sharehook is not running: {they} \
                     sent when the daemon starts"
                );
            }
        }
        Command::Failed {
            config,
            webhook,
            output,
        } => {
            let config_path = config;
            let config = config::load(&config_path)?;
            let store = crate::store::Store::open_read_only(&config.state_dir)?;
            if let Some(code) = no_such_webhook(&config_path, &config, &store, webhook)? {
                return Ok(code);
            }
            drop(store);
            let failed = daemon::failed(&config, webhook)?;
            match output {
                Output::Text => {
                    for f in &failed {
                        println!("{}", failed_to_line(f));
                    }
                }
                Output::JsonLines => {
                    for f in &failed {
                        print_json(&activity::failed_to_json(f));
                    }
                }
                Output::JsonArray => {
                    let all: Vec<serde_json::Value> =
                        failed.iter().map(activity::failed_to_json).collect();
                    print_json(&serde_json::Value::Array(all));
                }
            }
        }
        Command::Enable { config, webhook } => {
            let config = config::load(&config)?;
            if daemon::enable(&config, webhook)? {
                println!("webhook {webhook} is enabled again");
            } else {
                println!("webhook {webhook} was not disabled");
            }
        }
        Command::Status { config, json } => {
            let config = config::load(&config)?;
            let Some(status) = daemon::status(&config)? else {
                if json {
                    print_json(&serde_json::json!({ "running": false }));
                } else {
                    println!(
                        "sharehook {VERSION}: the daemon is not running, and has never run with \
                         this configuration: there is no state in {}",
                        config.state_dir.display()
                    );
                }
                return Ok(ExitCode::from(NOT_RUNNING));
            };
            if json {
                print_json(&serde_json::to_value(&status)?);
            } else {
                print!("{}", status::to_text(&status));
            }
            if !status.running {
                // As `systemctl status` says of a unit that is not active.
                return Ok(ExitCode::from(NOT_RUNNING));
            }
        }
        Command::Bench { files } => crate::bench::run(files)?,
        Command::BenchBroker { url, files } => crate::bench::brokers::run(&url, files)?,
        Command::BenchApi { entries, seconds } => crate::bench::api::run(entries, seconds)?,
        Command::BenchTree { size, dir } => crate::bench::tree::run(size, dir)?,
        Command::BenchHooks { hooks } => crate::bench::hooks::run(hooks)?,
        Command::BenchAttribution { records } => crate::bench::attribution::run(records)?,
        Command::Audit {
            config,
            limit,
            output,
        } => {
            let config = config::load(&config)?;
            let store = crate::store::Store::open_read_only(&config.state_dir)?;
            // As for `log`, 0 is every row.
            let limit = if limit == 0 { usize::MAX } else { limit };
            access::print_audit(&crate::service::access::audit_list(&store, limit)?, output);
        }
        Command::Access {
            config,
            mut request,
            password_stdin,
            output,
        } => {
            let config = config::load(&config)?;
            if password_stdin {
                request.set_password(read_password()?);
            }
            let reply = access::run(&config, request)?;
            access::print(&reply, output);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The share of each webhook made through the API (none when the state cannot tell).
fn api_webhook_shares(store: &crate::store::Store) -> Vec<String> {
    store
        .api_webhooks()
        .map(|hooks| hooks.into_iter().map(|h| h.share).collect())
        .unwrap_or_default()
}

/// For `--webhook N` naming a webhook that does not exist: says so and answers exit status 2,
/// as for a bad argument (most likely a typo, which an empty list would hide).
fn no_such_webhook(
    config_path: &Path,
    config: &config::Config,
    store: &crate::store::Store,
    webhook: Option<u32>,
) -> anyhow::Result<Option<ExitCode>> {
    let Some(id) = webhook else {
        return Ok(None);
    };
    if activity::webhook_exists(config, store, id)? {
        return Ok(None);
    }
    eprintln!(
        "sharehook: --webhook: there is no webhook {id} (neither in {} nor made through the \
         API nor in the state)",
        crate::core::event::escape_controls(&config_path.display().to_string())
    );
    Ok(Some(ExitCode::from(2)))
}

/// The first line of standard input, without its line end: a password piped in.
fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    Ok(password.strip_suffix('\r').unwrap_or(password).to_owned())
}

/// Prints `value` as one line of JSON, with no raw control character for the terminal.
fn print_json(value: &serde_json::Value) {
    println!("{}", json_for_terminal(&value.to_string()));
}

/// The daemon, until SIGTERM or SIGINT; SIGHUP reads `path` again (see `reload`).
fn run(path: &Path, mut config: config::Config) -> anyhow::Result<()> {
    log::info!("sharehook {VERSION} starting");
    crate::daemon::raise_open_files_limit();
    let runtime = crate::daemon::runtime()?;
    runtime.block_on(async {
        let mut signals = systemd::StopSignals::install()?;
        let mut hup = systemd::ReloadSignal::install()?;
        let started_ms = crate::deliver::now_ms();
        let mut daemon = Daemon::start(&config)?;
        for warning in config.warnings(&api_webhook_shares(&daemon.store)) {
            log::warn!("{warning}");
        }
        let bound = match crate::surface::web::bind(&config.web, &config.state_dir).await {
            Ok(bound) => bound,
            Err(e) => {
                daemon.stop(Duration::from_secs(10));
                return Err(e);
            }
        };
        let web_info = bound.info.clone();
        let socket = crate::surface::control::socket_path(&config.state_dir);
        let _ = std::fs::remove_file(&socket);
        let listener = match tokio::net::UnixListener::bind(&socket)
            .with_context(|| format!("cannot listen on {}", socket.display()))
        {
            Ok(listener) => Arc::new(listener),
            Err(e) => {
                daemon.stop(Duration::from_secs(10));
                return Err(e);
            }
        };
        let control = |daemon: &Daemon, config: &config::Config| {
            control(daemon, config, started_ms, &web_info)
        };
        let mut server = tokio::spawn(crate::surface::control::serve(
            Arc::clone(&listener),
            control(&daemon, &config),
        ));
        let kept = Arc::new(crate::surface::page::Kept::default());
        let site_router = |daemon: &Daemon, config: &config::Config| {
            crate::surface::web::router(control(daemon, config), &kept)
        };
        let site = crate::surface::web::Site::new(site_router(&daemon, &config));
        let web = tokio::spawn(crate::surface::web::serve(bound, Arc::clone(&site)));
        systemd::ready();
        log::info!("ready");
        let signal = loop {
            match systemd::until_stopped_or_reload(&daemon, &mut signals, &mut hup).await {
                systemd::Wake::Stop(signal) => break signal,
                systemd::Wake::Reload => {
                    systemd::reloading();
                    log::info!("SIGHUP: reading {} again", path.display());
                    let web_before = config.web.clone();
                    (daemon, config) = reload(path, daemon, config).await?;
                    if !config.web.same_sockets(&web_before) {
                        log::warn!(
                            "[web] listen or its TLS changed: the server keeps its addresses and certificate until sharehook is restarted"
                        );
                    }
                    site.replace(site_router(&daemon, &config));
                    server.abort();
                    server = tokio::spawn(crate::surface::control::serve(
                        Arc::clone(&listener),
                        control(&daemon, &config),
                    ));
                    systemd::ready();
                }
            }
        };
        log::info!("{signal}: stopping");
        systemd::stopping();
        server.abort();
        web.abort();
        let _ = std::fs::remove_file(&socket);
        daemon.stop(Duration::from_secs(10));
        log::info!("stopped");
        Ok(())
    })
}

/// What the control socket and the API serve for `daemon`.
fn control(
    daemon: &Daemon,
    config: &config::Config,
    started_ms: i64,
    web: &crate::surface::web::WebInfo,
) -> Arc<activity::Control> {
    activity::Control::new(
        config,
        Arc::clone(&daemon.store),
        Arc::clone(&daemon.hooks),
        Arc::clone(&daemon.stats),
        Arc::clone(&daemon.resources),
        started_ms,
        web.status(),
    )
}

/// Reads the configuration at `path` again. A file that does not check out, or that moves
/// the state, is refused with its reason and `running` goes on unchanged. Otherwise the
/// engine and the workers are stopped and started again with it on the same open state: the
/// start's reconcile reports what changed in the meantime, and queued events stay queued.
/// An error only when neither configuration can be started again.
async fn reload(
    path: &Path,
    mut daemon: Daemon,
    running: config::Config,
) -> anyhow::Result<(Daemon, config::Config)> {
    const STAYS: &str = "the running configuration stays";
    let new = match config::load(path) {
        Ok(new) => new,
        Err(e) => {
            log::error!("{e}; {STAYS}");
            return Ok((daemon, running));
        }
    };
    for warning in new.warnings(&api_webhook_shares(&daemon.store)) {
        log::warn!("{warning}");
    }
    if new.state_dir != running.state_dir {
        log::error!(
            "{}: state_dir: changed from {} to {}: restart sharehook to use it; {STAYS}",
            path.display(),
            running.state_dir.display(),
            new.state_dir.display()
        );
        return Ok((daemon, running));
    }
    let changes = new.changes_from(&running);
    // A worker may be in the middle of an attempt: it must be done before another worker
    // for the same webhook starts, or both would deliver its queue.
    let grace = running.delivery.connect_timeout + running.delivery.request_timeout;
    let restarted = systemd::with_watchdog(tokio::task::spawn_blocking(move || {
        while !daemon.stop(grace + Duration::from_secs(5)) {
            log::warn!("still waiting for the running parts to stop before reloading");
        }
        let store = Arc::clone(&daemon.store);
        let stats = Arc::clone(&daemon.stats);
        match Daemon::start_counting(&new, Arc::clone(&store), Arc::clone(&stats)) {
            Ok(started) => {
                let what = if changes.is_empty() {
                    "nothing changed".to_owned()
                } else {
                    changes.join(", ")
                };
                log::info!("configuration reloaded: {what}");
                Ok((started, new))
            }
            Err(e) => {
                log::error!("the new configuration cannot start: {e:#}; {STAYS}");
                Daemon::start_counting(&running, store, stats).map(|d| (d, running))
            }
        }
    }))
    .await;
    restarted.context("the reload stopped unexpectedly")?
}

/// One log entry as a line for people (control characters escaped, as in the daemon's log);
/// `failed` when its event is set aside as failed now, which the line ends by saying.
pub fn to_line(e: &LogEntry, failed: bool) -> String {
    let status = if e.transport {
        format!("error {} ({})", e.status, e.message)
    } else if let Some(answer) = e.broker_answer() {
        answer.to_owned()
    } else {
        format!("HTTP {}", e.status)
    };
    let line = format!(
        "{}  webhook {}  {}  {} {}  {status}  {} ms{}{}",
        rfc3339(e.time_ms),
        e.webhook,
        e.attempt_id(),
        e.event.op.v1_name(),
        e.event.path,
        e.duration_ms,
        if e.resend { "  (resend)" } else { "" },
        if failed { "  (failed)" } else { "" }
    );
    escape_controls(&line).into_owned()
}

/// One failed event as a line for people (control characters escaped).
pub fn failed_to_line(f: &SetAside) -> String {
    let line = format!(
        "{}  webhook {}  event {}  {} {}  {} attempts, the last: {}",
        rfc3339(f.failed_ms),
        f.webhook,
        f.event.id,
        f.event.op.v1_name(),
        f.event.path,
        f.attempts,
        f.last_result
    );
    escape_controls(&line).into_owned()
}

#[cfg(test)]
mod tests;
