//! The delivery log and the failed events as people and programs read them, and what is done
//! with them: a resend, a test delivery, failed events recovered, a webhook enabled. `Control`
//! is the running daemon's handle that the API, the page and the control socket all hold.
//!
//! A resend, a test and an enable go through the webhook's worker, so that its receiver still
//! sees one delivery at a time.

use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use serde_json::json;

use crate::config::Config;
use crate::core::event::{Event, escape_bytes};
use crate::core::fault::{Fault, Kind};
use crate::core::payload::{parse_rfc3339, rfc3339};
use crate::deliver::{self, Mailbox, now_ms};
use crate::store::{LogEntry, LogFilter, LogStatus, SetAside, Store};

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
        // A broker's acknowledgement is its answer (`response`), not an error.
        "error": if e.transport { e.message.as_str() } else { "" },
        "responseSize": e.response_size,
        "response": String::from_utf8_lossy(&e.response),
        "resourcePath": escape_bytes(e.event.path.as_bytes()),
        "sourcePath": e.event.source.as_ref().map(|s| escape_bytes(s.as_bytes())),
        "share": e.event.share,
        "username": e.event.username,
        "ipAddress": e.event.address,
        "attribution": e.event.attribution.as_str(),
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
            "\"{text}\" is neither an event id nor an event (upload, delete, move, rename, createFolder, download, copy)"
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

    /// Who was active in the last 24 hours and the events of each hour (reads the state: call
    /// it off the async threads).
    pub fn recent(&self) -> Result<crate::service::recent::Recent, crate::store::StoreError> {
        crate::service::recent::collect(&self.store, &self.config, now_ms())
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

fn mailbox(control: &Control, hook: u32) -> Result<Arc<Mailbox>, ActivityError> {
    control
        .hooks
        .mailbox(hook)
        .ok_or(ActivityError::NotFound(format!(
            "webhook {hook} is not configured"
        )))
}

/// Sends the event of attempt `attempt_id` to webhook `hook` again now, through its worker;
/// the answer is the new attempt's log entry.
pub async fn resend_now(
    control: &Control,
    hook: u32,
    attempt_id: &str,
) -> Result<LogEntry, ActivityError> {
    let mailbox = mailbox(control, hook)?;
    let bad = |e: anyhow::Error| ActivityError::NotFound(format!("{e:#}"));
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
) -> Result<LogEntry, ActivityError> {
    let store = Arc::clone(&control.store);
    let entry = tokio::task::spawn_blocking(move || store.log_entries(&[entry_id]))
        .await
        .map_err(|e| ActivityError::Internal(e.to_string()))?
        .map_err(|e| ActivityError::Internal(e.to_string()))?
        .pop()
        .ok_or_else(|| ActivityError::NotFound(format!("no webhook activity has id {entry_id}")))?;
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
) -> Result<LogEntry, ActivityError> {
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
) -> Result<u64, ActivityError> {
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
) -> Result<LogEntry, ActivityError> {
    let mailbox = mailbox(control, hook)?;
    let routing = control.hooks.routes().current();
    let webhook = routing
        .webhooks
        .iter()
        .find(|w| w.id == hook)
        .ok_or(ActivityError::NotFound(format!(
            "webhook {hook} is not configured"
        )))?;
    let id = control
        .store
        .reserve_event_id()
        .map_err(|e| ActivityError::Internal(e.to_string()))?;
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
        address: String::new(),
        attribution: crate::core::event::Attribution::Owner,
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
) -> Result<u64, ActivityError> {
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
        .map_err(|e| ActivityError::Internal(e.to_string()))?;
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
) -> Result<T, ActivityError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    mailbox.send(request(tx));
    match tokio::time::timeout(wait, rx).await {
        Ok(Ok(answer)) => Ok(answer),
        _ => Err(ActivityError::NoAnswer),
    }
}

/// Turns webhook `hook` back on (it was disabled by failures or a 410), through its worker;
/// whether it was disabled.
pub async fn enable_now(control: &Control, hook: u32) -> Result<bool, ActivityError> {
    let mailbox = mailbox(control, hook)?;
    let request = |reply| deliver::Request::Enable { reply };
    ask_worker(&mailbox, request, Duration::from_secs(30)).await
}

/// Why an action of the activity service was not done.
#[derive(Debug, thiserror::Error)]
pub enum ActivityError {
    /// The webhook, the attempt or the entry named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The state could not be read or written.
    #[error("{0}")]
    Internal(String),
    /// The webhook's worker did not answer in time.
    #[error("the webhook's worker did not answer in time")]
    NoAnswer,
}

impl Fault for ActivityError {
    fn kind(&self) -> Kind {
        match self {
            ActivityError::NotFound(_) => Kind::NotFound,
            ActivityError::Internal(_) | ActivityError::NoAnswer => Kind::Internal,
        }
    }
}

#[cfg(test)]
mod tests;
