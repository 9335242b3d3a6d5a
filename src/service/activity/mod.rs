//! The delivery log and the failed events as people and programs read them: `sharehook log`,
//! `sharehook failed`, `sharehook resend` and `sharehook enable`, which reach a running daemon
//! through its local control socket (`control`).
//!
//! `log` and `failed` read the state directly (redb lets them read beside the daemon that
//! writes). `resend` and `enable` act through the daemon's worker for that webhook, so that
//! its receiver still sees one delivery at a time; with no daemon running they act on the
//! state themselves.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use hyper::StatusCode;
use serde_json::json;

pub mod control;

use crate::config::Config;
use crate::core::event::{Event, escape_bytes};
use crate::core::payload::{parse_rfc3339, rfc3339};
use crate::deliver::{self, Mailbox, now_ms};
use crate::store::{LogEntry, LogFilter, LogStatus, SetAside, Store};
use control::{ask_daemon, ask_daemon_with};

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

/// One failed event as JSON, named as in the log's entries.
pub fn failed_to_json(f: &SetAside) -> serde_json::Value {
    json!({
        "eventId": f.event.id,
        "webhookId": f.webhook,
        "event": f.event.op.v2_name(),
        "operation": f.event.op.v1_name(),
        "resourcePath": escape_bytes(f.event.path.as_bytes()),
        "sourcePath": f.event.source.as_ref().map(|s| escape_bytes(s.as_bytes())),
        "share": f.event.share,
        "username": f.event.username,
        "attempts": f.attempts,
        "failedAt": rfc3339(f.failed_ms),
        "lastResult": f.last_result,
    })
}

/// Reads `--status`: a status (`404`), a class (`5xx`), `transport` (no HTTP answer) or
/// `failed` (the attempts of the events set aside as failed; not, as the API's
/// `status=failed`, every attempt without a 2xx answer).
pub fn parse_status(text: &str) -> Result<LogStatus, String> {
    use crate::service::attempts::StatusFilter;
    let parsed = StatusFilter::parse(text).ok_or_else(|| {
        format!(
            "--status: \"{text}\" is not a status: give a number such as 404, a class such as \
             5xx, transport or failed"
        )
    })?;
    Ok(match parsed {
        StatusFilter::Code(c) => LogStatus::Code(c),
        StatusFilter::Class(c) => LogStatus::Class(c),
        StatusFilter::Transport => LogStatus::Transport,
        StatusFilter::Failed => LogStatus::SetAside,
    })
}

/// Whether webhook `id` exists: in the configuration, made through the API, or known to the
/// state (a webhook since removed whose attempts the log still has).
pub fn webhook_exists(config: &Config, store: &Store, id: u32) -> anyhow::Result<bool> {
    Ok(config.webhooks.iter().any(|w| w.id == id)
        || store.api_webhooks()?.iter().any(|w| w.id == id)
        || store.knows_webhook(id)?)
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
    match crate::core::event::Operation::from_trigger(name) {
        Some(op) => {
            filter.event_name = Some(op.v2_name().to_owned());
            Ok(())
        }
        None => Err(format!(
            "\"{text}\" is neither an event id nor an event (upload, delete, move, rename, createFolder)"
        )),
    }
}

/// The webhook and the event of attempt `attempt_id` (`<eventId>-<n>`), at `webhook` when
/// given: from the delivery log, or, once the log has pruned it, from the failed events.
pub fn find_event(
    store: &Store,
    attempt_id: &str,
    webhook: Option<u32>,
) -> anyhow::Result<(u32, Event)> {
    let logged = store.log(&LogFilter {
        attempt_id: Some(attempt_id.to_owned()),
        webhook,
        ..LogFilter::default()
    })?;
    let mut found: Vec<(u32, Event)> = logged.into_iter().map(|e| (e.webhook, e.event)).collect();
    if found.is_empty()
        && let Some((id, n)) = attempt_id.split_once('-')
        && let (Ok(id), Ok(n)) = (id.parse::<u64>(), n.parse::<u32>())
    {
        found = store
            .failed_events(webhook)?
            .into_iter()
            .filter(|f| f.event.id == id && (1..=f.attempts).contains(&n))
            .map(|f| (f.webhook, f.event))
            .collect();
    }
    let mut hooks: Vec<u32> = found.iter().map(|(w, _)| *w).collect();
    hooks.sort_unstable();
    hooks.dedup();
    match hooks.len() {
        0 => bail!(
            "the delivery log has no attempt {attempt_id}, nor is it one of a failed event \
             (see sharehook log, sharehook failed)"
        ),
        1 => Ok(found.into_iter().next().expect("one was found")),
        _ => {
            bail!("attempt {attempt_id} was made to webhooks {hooks:?}; say which with --webhook N")
        }
    }
}

/// What the control socket's handlers need.
pub struct Control {
    pub store: Arc<Store>,
    /// The live webhooks, whose workers take the requests.
    pub hooks: Arc<crate::service::hooks::Hooks>,
    pub wait: Duration,
    /// Begins the value of an API key made through `POST /access`.
    pub account_name: String,
    /// The running configuration, the daemon's figures and when it started (`sharehook
    /// status`).
    pub config: Arc<Config>,
    pub stats: Arc<crate::core::stats::Stats>,
    pub started_ms: i64,
    /// Where the web server listens, when it does.
    pub web: Option<crate::service::status::WebStatus>,
    /// The shares' files, as the API reaches them.
    pub resources: Arc<crate::service::resources::Resources>,
}

impl Control {
    /// The status of the running daemon (reads the state: call it off the async threads).
    pub fn status(&self) -> crate::service::status::Status {
        let running = crate::service::status::Running {
            stats: &self.stats,
            started_ms: self.started_ms,
            web: self.web.clone(),
        };
        crate::service::status::collect(&self.config, &self.store, Some(running), now_ms())
    }

    /// The Prometheus text of the running daemon's figures.
    pub fn metrics(&self) -> String {
        crate::service::metrics::render(&self.stats, &self.store, &self.hooks.ids())
    }

    pub fn new(
        config: &Config,
        store: Arc<Store>,
        hooks: Arc<crate::service::hooks::Hooks>,
        stats: Arc<crate::core::stats::Stats>,
        resources: Arc<crate::service::resources::Resources>,
        started_ms: i64,
        web: Option<crate::service::status::WebStatus>,
    ) -> Arc<Control> {
        Arc::new(Control {
            store,
            hooks,
            resources,
            wait: config.delivery.request_timeout + Duration::from_secs(10),
            account_name: config.account_name.clone(),
            config: Arc::new(config.clone()),
            stats,
            started_ms,
            web,
        })
    }
}

/// A running daemon's `Control` over one share `public` in `dir` (for tests of the API and
/// the page): its workers run, its engine does not.
#[cfg(test)]
pub fn test_control(dir: &std::path::Path, webhooks: &str) -> Arc<Control> {
    std::fs::create_dir_all(dir.join("share")).unwrap();
    let text = format!(
        "account_name = \"testnas\"\nstate_dir = \"{0}/state\"\n\n[[share]]\nname = \"public\"\npath = \"{0}/share\"\n{webhooks}",
        dir.display()
    );
    let config = crate::config::parse(&text, std::path::Path::new("/x.toml")).unwrap();
    let store = Arc::new(Store::open(&dir.join("state")).unwrap());
    let stats: Arc<crate::core::stats::Stats> = Arc::default();
    let hooks =
        crate::service::hooks::Hooks::start(&config, Arc::clone(&store), Arc::clone(&stats))
            .unwrap();
    let resources = Arc::new(crate::service::resources::Resources::new(
        &config,
        Arc::clone(&store),
        Arc::default(),
    ));
    Control::new(&config, store, hooks, stats, resources, 0, None)
}

fn mailbox(control: &Control, hook: u32) -> Result<Arc<Mailbox>, (StatusCode, String)> {
    control.hooks.mailbox(hook).ok_or((
        StatusCode::NOT_FOUND,
        format!("webhook {hook} is not configured"),
    ))
}

/// Sends the event of attempt `attempt_id` to webhook `hook` again now, through its worker;
/// the answer is the new attempt's log entry.
pub async fn resend_now(
    control: &Control,
    hook: u32,
    attempt_id: &str,
) -> Result<LogEntry, (StatusCode, String)> {
    let mailbox = mailbox(control, hook)?;
    let bad = |e: anyhow::Error| (StatusCode::NOT_FOUND, format!("{e:#}"));
    let (_, event) = find_event(&control.store, attempt_id, Some(hook)).map_err(bad)?;
    let attempt = control
        .store
        .next_attempt(hook, event.id)
        .map_err(|e| bad(e.into()))?;
    let request = |reply| deliver::Request::Resend {
        event,
        attempt,
        reply,
    };
    ask_worker(&mailbox, request, control.wait).await
}

/// Sends the event of log entry `entry_id` to its webhook again now, for `caller` (an admin:
/// the API and the page check), and writes it to the audit trail; the answer is the new
/// attempt's log entry.
pub async fn resend_entry(
    control: &Control,
    caller: &crate::service::access::Caller,
    entry_id: u64,
) -> Result<LogEntry, (StatusCode, String)> {
    let store = Arc::clone(&control.store);
    let entry = tokio::task::spawn_blocking(move || store.log_entries(&[entry_id]))
        .await
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .pop()
        .ok_or_else(|| {
            (
                StatusCode::NOT_FOUND,
                format!("no webhook activity has id {entry_id}"),
            )
        })?;
    let logged = resend_now(control, entry.webhook, &entry.attempt_id()).await?;
    crate::service::access::audit(
        &control.store,
        caller,
        &format!(
            "resent event {} to webhook {} (attempt {})",
            entry.event.id, entry.webhook, logged.attempt
        ),
    );
    Ok(logged)
}

/// `test_now` for `caller`, written to the audit trail.
pub async fn test_as(
    control: &Control,
    caller: &crate::service::access::Caller,
    hook: u32,
) -> Result<LogEntry, (StatusCode, String)> {
    let logged = test_now(control, hook, &caller.user).await?;
    crate::service::access::audit(
        &control.store,
        caller,
        &format!("sent webhook {hook} a test delivery"),
    );
    Ok(logged)
}

/// `recover` for `caller`, written to the audit trail.
pub fn recover_as(
    control: &Control,
    caller: &crate::service::access::Caller,
    webhook: Option<u32>,
    since: Option<i64>,
) -> Result<u64, (StatusCode, String)> {
    let requeued = recover(control, webhook, since)?;
    let which = webhook.map_or_else(|| "every webhook".to_owned(), |id| format!("webhook {id}"));
    crate::service::access::audit(
        &control.store,
        caller,
        &format!(
            "recovered {requeued} failed events of {which}{}",
            since
                .map(|s| format!(" since {}", crate::core::payload::rfc3339(s)))
                .unwrap_or_default()
        ),
    );
    Ok(requeued)
}

/// The name of the file a test delivery reports, in the webhook's folder.
pub const TEST_FILE: &[u8] = b"sharehook-test.txt";

/// Sends webhook `hook` a test delivery now, through its worker: an Upload of
/// `sharehook-test.txt` in its folder by `username`, with an event id of its own (sent once,
/// never queued, logged like any attempt). The answer is the attempt's log entry.
pub async fn test_now(
    control: &Control,
    hook: u32,
    username: &str,
) -> Result<LogEntry, (StatusCode, String)> {
    let mailbox = mailbox(control, hook)?;
    let routing = control.hooks.routes().current();
    let webhook = routing.webhooks.iter().find(|w| w.id == hook).ok_or((
        StatusCode::NOT_FOUND,
        format!("webhook {hook} is not configured"),
    ))?;
    let id = control
        .store
        .reserve_event_id()
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let event = Event {
        id,
        op: crate::core::event::Operation::Upload,
        share: webhook.share.clone(),
        path: webhook.folder.join(TEST_FILE),
        source: None,
        is_dir: false,
        username: username.to_owned(),
        time_ms: now_ms(),
        size: Some(0),
        protocol: Some("api".to_owned()),
    };
    let request = |reply| deliver::Request::Test { event, reply };
    ask_worker(&mailbox, request, control.wait).await
}

/// Puts the failed events of `webhook` (of every webhook when `None`) that failed at or after
/// `since` (ms) back into their queues, and wakes their workers; returns how many.
pub fn recover(
    control: &Control,
    webhook: Option<u32>,
    since: Option<i64>,
) -> Result<u64, (StatusCode, String)> {
    if let Some(hook) = webhook {
        mailbox(control, hook)?;
    }
    let hooks: Vec<u32> = control
        .hooks
        .ids()
        .into_iter()
        .filter(|id| webhook.is_none_or(|w| w == *id))
        .collect();
    let moved = control
        .store
        .requeue_failed(&hooks, since, now_ms())
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    for (hook, n) in &moved {
        if *n > 0 {
            log::info!(
                "webhook {hook}: {n} failed events are back in its queue, sent now as resends"
            );
            if let Ok(m) = mailbox(control, *hook) {
                m.bell.ring();
            }
        }
    }
    Ok(moved.iter().map(|(_, n)| n).sum::<u64>())
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

/// `sharehook resend`: through the running daemon, or directly when none runs. Returns the
/// new attempt's log entry as JSON.
pub fn resend(
    config: &Config,
    attempt_id: &str,
    webhook: Option<u32>,
) -> anyhow::Result<serde_json::Value> {
    let (hook_id, event) = find_event(
        &Store::open_read_only(&config.state_dir)?,
        attempt_id,
        webhook,
    )?;
    let path = format!("/resend/{hook_id}/{attempt_id}");
    if let Some(answer) = ask_daemon(&config.state_dir, &path)? {
        return Ok(answer);
    }
    // No daemon: send it from here, and log it in the state.
    let store = open_for_change(config)?;
    let hook = crate::service::hooks::all_webhooks(config, &store)?
        .into_iter()
        .find(|w| w.id == hook_id)
        .ok_or_else(|| anyhow!("webhook {hook_id} is no longer configured"))?;
    let hook = &hook;
    let (target, _) = crate::deliver::setup::target(config, hook, &store)?;
    let client = crate::deliver::setup::client(config, hook)?;
    let attempt = store.next_attempt(hook.id, event.id)?;
    let (outcome, mut logged) = target.attempt(&client, &event, attempt, true);
    let written = store.flush(
        &crate::store::Flush {
            webhook: hook.id,
            log: vec![logged.clone()],
            // No longer failed, if it was.
            resolved: if outcome.is_success() {
                vec![event.id]
            } else {
                Vec::new()
            },
            ..Default::default()
        },
        now_ms(),
    )?;
    logged.id = written.log_ids.first().copied().unwrap_or(0);
    Ok(to_json(&logged))
}

/// What `sharehook resend --failed` did: how many events went back into their queues, and
/// whether a running daemon took them (else they go out when it starts).
pub struct Requeued {
    pub count: u64,
    pub by_daemon: bool,
}

/// `sharehook resend --failed`: puts the failed events of `webhook` (of every configured one
/// without it) that failed at or after `since_ms` back into their queues; through the
/// running daemon, or directly in the state when none runs.
pub fn resend_failed(
    config: &Config,
    webhook: Option<u32>,
    since_ms: Option<i64>,
) -> anyhow::Result<Requeued> {
    let known = known_webhooks(config)?;
    if let Some(w) = webhook
        && !known.contains(&w)
    {
        bail!("webhook {w} is not configured");
    }
    let mut path = "/resend-failed".to_owned();
    let mut params = Vec::new();
    if let Some(w) = webhook {
        params.push(format!("webhook={w}"));
    }
    if let Some(t) = since_ms {
        params.push(format!("since={t}"));
    }
    if !params.is_empty() {
        path = format!("{path}?{}", params.join("&"));
    }
    if let Some(answer) = ask_daemon(&config.state_dir, &path)? {
        return Ok(Requeued {
            count: answer["requeued"].as_u64().unwrap_or(0),
            by_daemon: true,
        });
    }
    let store = open_for_change(config)?;
    let hooks: Vec<u32> = known
        .into_iter()
        .filter(|id| webhook.is_none_or(|w| w == *id))
        .collect();
    let moved = store.requeue_failed(&hooks, since_ms, now_ms())?;
    Ok(Requeued {
        count: moved.iter().map(|(_, n)| n).sum(),
        by_daemon: false,
    })
}

/// The ids of the configured webhooks and of those made through the API.
fn known_webhooks(config: &Config) -> anyhow::Result<Vec<u32>> {
    let store = Store::open_read_only(&config.state_dir)?;
    Ok(crate::service::hooks::all_webhooks(config, &store)?
        .iter()
        .map(|w| w.id)
        .collect())
}

/// `sharehook status`: from the running daemon, or, with none, from the state alone; `None`
/// when no daemon runs and there is no state (it never ran with this `state_dir`).
pub fn status(config: &Config) -> anyhow::Result<Option<crate::service::status::Status>> {
    if let Some(answer) =
        ask_daemon_with(&config.state_dir, hyper::Method::GET, "/status", Vec::new())?
    {
        let status = serde_json::from_value(answer)
            .context("the daemon's status is not in the expected shape")?;
        return Ok(Some(status));
    }
    if !config.state_dir.join(crate::store::FILE_NAME).exists() {
        return Ok(None);
    }
    let store = Store::open_read_only(&config.state_dir)?;
    Ok(Some(crate::service::status::collect(
        config,
        &store,
        None,
        now_ms(),
    )))
}

/// `sharehook failed`: the failed events of `webhook` (of every webhook without it).
pub fn failed(config: &Config, webhook: Option<u32>) -> anyhow::Result<Vec<SetAside>> {
    let store = Store::open_read_only(&config.state_dir)?;
    Ok(store.failed_events(webhook)?)
}

/// The state, for a change made from the command line while no daemon runs. A missing state
/// is an error: a command never makes one (a state made by `sudo sharehook enable` would be
/// root's, and the daemon's first start, as its own user, must make it).
pub(crate) fn open_for_change(config: &Config) -> anyhow::Result<Store> {
    drop(Store::open_read_only(&config.state_dir)?);
    let store = Store::open(&config.state_dir)?;
    store.set_limits(config.store_limits());
    Ok(store)
}

/// `sharehook enable`: through the running daemon, or directly when none runs.
pub fn enable(config: &Config, webhook: u32) -> anyhow::Result<bool> {
    if !known_webhooks(config)?.contains(&webhook) {
        bail!("webhook {webhook} is not configured");
    }
    if let Some(answer) = ask_daemon(&config.state_dir, &format!("/enable/{webhook}"))? {
        return Ok(answer["wasDisabled"].as_bool().unwrap_or(false));
    }
    let store = open_for_change(config)?;
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
mod tests;
