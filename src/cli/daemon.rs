//! The command line's side of the control socket: `resend`, `resend --failed`, `enable` and
//! `status` ask a running daemon (whose worker for the webhook acts, so that its receiver
//! still sees one delivery at a time), or act on the state themselves when none runs; `log`
//! and `failed` read the state directly (redb lets them read beside the daemon that writes).

use std::path::Path;

use anyhow::{Context, anyhow, bail};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

use crate::config::Config;
use crate::deliver::now_ms;
use crate::service::activity::{find_event, to_json};
use crate::store::{SetAside, Store};
use crate::surface::control::socket_path;

/// POSTs `path` to the control socket of a running daemon; `None` when none is running.
pub(super) fn ask_daemon(
    state_dir: &Path,
    path: &str,
) -> anyhow::Result<Option<serde_json::Value>> {
    ask_daemon_with(state_dir, hyper::Method::POST, path, Vec::new())
}

/// Sends `body` to `path` with `method` on the control socket of a running daemon; `None`
/// when none is running.
pub(crate) fn ask_daemon_with(
    state_dir: &Path,
    method: hyper::Method,
    path: &str,
    body: Vec<u8>,
) -> anyhow::Result<Option<serde_json::Value>> {
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
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "sharehook")
            .body(Full::new(Bytes::from(body)))?;
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
