//! The delivery log as people and programs read it: `sharehook log`, `sharehook resend` and
//! `sharehook enable`, and the local control socket through which the last two reach a
//! running daemon (`state_dir/control.sock`, 0600, HTTP/1.1).
//!
//! `log` reads the state directly (redb lets it read beside the daemon that writes).
//! `resend` and `enable` act through the daemon's worker for that webhook, so that its
//! receiver still sees one delivery at a time; with no daemon running they act on the state
//! themselves.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::json;

use crate::config::Config;
use crate::deliver::{self, Mailbox, now_ms};
use crate::event::{escape_bytes, escape_controls};
use crate::payload::{parse_rfc3339, rfc3339};
use crate::store::{LogEntry, LogFilter, Store};

pub const SOCKET: &str = "control.sock";

/// One log entry as JSON: the fields of an ExaVault webhook activity entry.
pub fn to_json(e: &LogEntry) -> serde_json::Value {
    json!({
        "id": e.id,
        "created": rfc3339(e.time_ms),
        "webhookId": e.webhook,
        "responseVersion": e.format,
        "attemptId": e.attempt_id(),
        "attempt": e.attempt,
        "resend": e.resend,
        "endpointUrl": e.url,
        "event": e.event.op.v2_name(),
        "eventId": e.event.id,
        "status": e.status,
        "statusKind": if e.transport { "transport" } else { "http" },
        "error": e.message,
        "responseSize": e.response_size,
        "response": String::from_utf8_lossy(&e.response),
        "resourcePath": escape_bytes(e.event.path.as_bytes()),
        "sourcePath": e.event.source.as_ref().map(|s| escape_bytes(s.as_bytes())),
        "share": e.event.share,
        "username": e.event.username,
        "durationMs": e.duration_ms,
        "body": String::from_utf8_lossy(&e.body),
    })
}

/// One log entry as a line for people (control characters escaped, as in the daemon's log).
pub fn to_line(e: &LogEntry) -> String {
    let status = if e.transport {
        format!("error {} ({})", e.status, e.message)
    } else {
        format!("HTTP {}", e.status)
    };
    let line = format!(
        "{}  webhook {}  {}  {} {}  {status}  {} ms{}",
        rfc3339(e.time_ms),
        e.webhook,
        e.attempt_id(),
        e.event.op.v1_name(),
        e.event.path,
        e.duration_ms,
        if e.resend { "  (resend)" } else { "" }
    );
    escape_controls(&line).into_owned()
}

/// Reads `--since`: an RFC 3339 date (`2026-11-22T10:00:00Z`, or just `2026-11-22`), or a
/// time ago (`90s`, `30m`, `2h`, `7d`).
pub fn parse_since(text: &str, now_ms: i64) -> Result<i64, String> {
    let t = text.trim();
    let unit = |c: char| match c {
        's' => Some(1_000),
        'm' => Some(60_000),
        'h' => Some(3_600_000),
        'd' => Some(86_400_000),
        _ => None,
    };
    if let Some(last) = t.chars().last()
        && let Some(ms) = unit(last)
        && let Ok(n) = t[..t.len() - 1].parse::<u32>()
    {
        return Ok(now_ms - i64::from(n) * ms);
    }
    let full = if t.len() == 10 {
        format!("{t}T00:00:00Z")
    } else {
        t.to_owned()
    };
    let parsed = parse_rfc3339(&full).ok_or_else(|| {
        format!("\"{text}\" is neither a date (2026-11-22T10:00:00Z) nor a time ago (30m, 2h, 7d)")
    })?;
    Ok(parsed)
}

/// How `--event` is read: an event id (a number), or an event name (`upload` or
/// `resources.upload`).
pub fn event_filter(text: &str, filter: &mut LogFilter) -> Result<(), String> {
    if let Ok(id) = text.parse::<u64>() {
        filter.event_id = Some(id);
        return Ok(());
    }
    let name = text.strip_prefix("resources.").unwrap_or(text);
    match crate::event::Operation::from_trigger(name) {
        Some(op) => {
            filter.event_name = Some(op.v2_name().to_owned());
            Ok(())
        }
        None => Err(format!(
            "\"{text}\" is neither an event id nor an event (upload, delete, move, rename, createFolder)"
        )),
    }
}

/// The one log entry `attempt_id` names (at `webhook`, when given).
pub fn find_attempt(
    store: &Store,
    attempt_id: &str,
    webhook: Option<u32>,
) -> anyhow::Result<LogEntry> {
    let found = store.log(&LogFilter {
        attempt_id: Some(attempt_id.to_owned()),
        webhook,
        ..LogFilter::default()
    })?;
    let mut hooks: Vec<u32> = found.iter().map(|e| e.webhook).collect();
    hooks.sort_unstable();
    hooks.dedup();
    match hooks.len() {
        0 => bail!("the delivery log has no attempt {attempt_id} (see sharehook log)"),
        1 => Ok(found.into_iter().next().expect("one was found")),
        _ => {
            bail!("attempt {attempt_id} was made to webhooks {hooks:?}; say which with --webhook N")
        }
    }
}

// ----- the control socket, daemon side -----

/// What the control socket's handlers need.
pub struct Control {
    pub store: Arc<Store>,
    pub mailboxes: Vec<(u32, Arc<Mailbox>)>,
    pub wait: Duration,
}

pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join(SOCKET)
}

/// The most connections served at once; more are closed as soon as they are accepted. Each
/// holds a file descriptor, and the daemon needs its descriptors to read folders and to
/// deliver: a flood of idle connections must not take them.
pub const MAX_CONNECTIONS: usize = 16;

/// How long a connection may take to send a request's head (from when it is made, or from
/// the last answer on a kept-alive one) before it is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves the control socket until the task is dropped. The listener is shared so that a
/// reload can serve it again with the new daemon's `Control`, without a moment in which the
/// socket is missing.
pub async fn serve(listener: Arc<tokio::net::UnixListener>, control: Arc<Control>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    // A flood is logged when it begins and when it ends, never once per connection.
    let mut turned_away = 0u64;
    let mut failed_accepts = 0u64;
    // Answering may take as long as the longest request (a resend waits up to `wait`).
    let lifetime = IDLE_TIMEOUT + control.wait + Duration::from_secs(5);
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                if failed_accepts == 0 {
                    log::warn!("control socket: cannot accept connections: {e}");
                }
                failed_accepts += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if failed_accepts > 0 {
            log::info!(
                "control socket: accepting connections again after {failed_accepts} failed tries"
            );
            failed_accepts = 0;
        }
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            if turned_away == 0 {
                log::warn!(
                    "control socket: {MAX_CONNECTIONS} connections are open; new ones are closed at once until some end"
                );
            }
            turned_away += 1;
            drop(stream);
            continue;
        };
        if turned_away > 0 {
            log::info!(
                "control socket: serving again; {turned_away} connections were closed at once"
            );
            turned_away = 0;
        }
        let control = Arc::clone(&control);
        tokio::spawn(async move {
            let _slot = slot;
            let service = hyper::service::service_fn(move |req| {
                let control = Arc::clone(&control);
                async move { Ok::<_, std::convert::Infallible>(handle(req, control).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(IDLE_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            match tokio::time::timeout(lifetime, conn).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => log::debug!("control socket: connection ended: {e}"),
                Err(_) => log::debug!("control socket: a connection was closed after {lifetime:?}"),
            }
        });
    }
}

async fn handle(req: Request<Incoming>, control: Arc<Control>) -> Response<Full<Bytes>> {
    let parts: Vec<String> = req
        .uri()
        .path()
        .split('/')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    let result = match (req.method().as_str(), parts.as_slice()) {
        ("POST", [verb, hook, rest @ ..]) => match (verb.as_str(), hook.parse::<u32>()) {
            ("resend", Ok(hook)) if rest.len() == 1 => resend_via(&control, hook, &rest[0]).await,
            ("enable", Ok(hook)) if rest.is_empty() => enable_via(&control, hook).await,
            _ => Err((StatusCode::NOT_FOUND, "no such request".to_owned())),
        },
        _ => Err((StatusCode::NOT_FOUND, "no such request".to_owned())),
    };
    let (status, body) = match result {
        Ok(v) => (StatusCode::OK, v),
        Err((status, message)) => (status, json!({ "error": message })),
    };
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
}

type Answer = Result<serde_json::Value, (StatusCode, String)>;

fn mailbox(control: &Control, hook: u32) -> Result<Arc<Mailbox>, (StatusCode, String)> {
    control
        .mailboxes
        .iter()
        .find(|(id, _)| *id == hook)
        .map(|(_, m)| Arc::clone(m))
        .ok_or((
            StatusCode::NOT_FOUND,
            format!("webhook {hook} is not configured"),
        ))
}

async fn resend_via(control: &Control, hook: u32, attempt_id: &str) -> Answer {
    let mailbox = mailbox(control, hook)?;
    let bad = |e: anyhow::Error| (StatusCode::NOT_FOUND, format!("{e:#}"));
    let entry = find_attempt(&control.store, attempt_id, Some(hook)).map_err(bad)?;
    let attempt = control
        .store
        .last_attempt(hook, entry.event.id)
        .map_err(|e| bad(e.into()))?
        + 1;
    let request = |reply| deliver::Request::Resend {
        event: entry.event,
        attempt,
        reply,
    };
    let logged = ask_worker(&mailbox, request, control.wait).await?;
    Ok(to_json(&logged))
}

async fn enable_via(control: &Control, hook: u32) -> Answer {
    let mailbox = mailbox(control, hook)?;
    let request = |reply| deliver::Request::Enable { reply };
    let was_disabled = ask_worker(&mailbox, request, Duration::from_secs(30)).await?;
    Ok(json!({ "webhookId": hook, "wasDisabled": was_disabled }))
}

/// Hands a request to a webhook's worker and waits, at most `wait`, for its answer.
async fn ask_worker<T>(
    mailbox: &Mailbox,
    request: impl FnOnce(tokio::sync::oneshot::Sender<T>) -> deliver::Request,
    wait: Duration,
) -> Result<T, (StatusCode, String)> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    mailbox.send(request(tx));
    match tokio::time::timeout(wait, rx).await {
        Ok(Ok(answer)) => Ok(answer),
        _ => Err((
            StatusCode::GATEWAY_TIMEOUT,
            "the webhook's worker did not answer in time".to_owned(),
        )),
    }
}

// ----- the commands -----

/// POSTs `path` to the control socket of a running daemon; `None` when none is running.
fn ask_daemon(state_dir: &Path, path: &str) -> anyhow::Result<Option<serde_json::Value>> {
    let socket = socket_path(state_dir);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let stream = match tokio::net::UnixStream::connect(&socket).await {
            Ok(stream) => stream,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                ) =>
            {
                return Ok(None);
            }
            Err(e) => {
                return Err(anyhow!(
                    "cannot reach the daemon at {}: {e}",
                    socket.display()
                ));
            }
        };
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("control socket handshake")?;
        tokio::spawn(conn);
        let request = Request::post(path)
            .header("host", "sharehook")
            .body(Full::new(Bytes::new()))?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        let value: serde_json::Value = serde_json::from_slice(&body)
            .with_context(|| format!("the daemon's answer is not JSON ({status})"))?;
        if !status.is_success() {
            bail!(
                "{}",
                value["error"]
                    .as_str()
                    .unwrap_or("the daemon refused the request")
            );
        }
        Ok(Some(value))
    })
}

/// `sharehook resend`: through the running daemon, or directly when none runs. Returns the
/// new attempt's log entry as JSON.
pub fn resend(
    config: &Config,
    attempt_id: &str,
    webhook: Option<u32>,
) -> anyhow::Result<serde_json::Value> {
    let entry = find_attempt(
        &Store::open_read_only(&config.state_dir)?,
        attempt_id,
        webhook,
    )?;
    let path = format!("/resend/{}/{attempt_id}", entry.webhook);
    if let Some(answer) = ask_daemon(&config.state_dir, &path)? {
        return Ok(answer);
    }
    // No daemon: send it from here, and log it in the state.
    let store = Store::open(&config.state_dir)?;
    store.set_limits(config.store_limits());
    let hook = config
        .webhooks
        .iter()
        .find(|w| w.id == entry.webhook)
        .ok_or_else(|| anyhow!("webhook {} is no longer configured", entry.webhook))?;
    let (target, _) = crate::daemon::target(config, hook, &store)?;
    let client = crate::daemon::client(config, hook)?;
    let attempt = store.last_attempt(hook.id, entry.event.id)? + 1;
    let (_, logged) = target.attempt(&client, &entry.event, attempt, true);
    let answer = to_json(&logged);
    store.flush(
        &crate::store::Flush {
            webhook: hook.id,
            log: vec![logged],
            ..Default::default()
        },
        now_ms(),
    )?;
    Ok(answer)
}

/// `sharehook enable`: through the running daemon, or directly when none runs.
pub fn enable(config: &Config, webhook: u32) -> anyhow::Result<bool> {
    if !config.webhooks.iter().any(|w| w.id == webhook) {
        bail!("webhook {webhook} is not configured");
    }
    if let Some(answer) = ask_daemon(&config.state_dir, &format!("/enable/{webhook}"))? {
        return Ok(answer["wasDisabled"].as_bool().unwrap_or(false));
    }
    let store = Store::open(&config.state_dir)?;
    store.set_limits(config.store_limits());
    let health = store.health(webhook)?;
    let was = health.disabled.is_some();
    store.flush(
        &crate::store::Flush {
            webhook,
            health: Some(crate::store::Health::default()),
            ..Default::default()
        },
        now_ms(),
    )?;
    Ok(was)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_reads_dates_and_times_ago() {
        let now = 1_795_338_303_042;
        assert_eq!(parse_since("30m", now), Ok(now - 1_800_000));
        assert_eq!(parse_since("7d", now), Ok(now - 7 * 86_400_000));
        assert_eq!(
            parse_since("2026-11-22T09:05:03.042Z", now),
            Ok(1_795_338_303_042)
        );
        assert_eq!(parse_since("1970-01-02", now), Ok(86_400_000));
        assert!(parse_since("yesterday", now).is_err());
        for ms in [0, 951_782_400_007, 4_107_542_399_999] {
            assert_eq!(parse_since(&rfc3339(ms), now), Ok(ms));
        }
    }

    #[test]
    fn event_filters_take_ids_and_names() {
        let mut f = LogFilter::default();
        event_filter("upload", &mut f).unwrap();
        assert_eq!(f.event_name.as_deref(), Some("resources.upload"));
        event_filter("resources.createFolder", &mut f).unwrap();
        assert_eq!(f.event_name.as_deref(), Some("resources.createFolder"));
        event_filter("42", &mut f).unwrap();
        assert_eq!(f.event_id, Some(42));
        assert!(event_filter("download", &mut f).is_err());
    }
}
