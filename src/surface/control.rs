//! The local control socket (`state_dir/control.sock`, 0600, HTTP/1.1), the daemon's side:
//! resends, recoveries, enables, access requests and the status, each done by the service
//! layer. The command line's side is `cli::daemon`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::json;

use crate::service::activity::{ActivityError, Control, enable_now, recover, resend_now, to_json};

pub const SOCKET: &str = "control.sock";

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
    let query = req.uri().query().unwrap_or("").to_owned();
    let method = req.method().clone();
    let result = match (method.as_str(), parts.as_slice()) {
        ("POST", [verb]) if verb == "resend-failed" => resend_failed_via(&control, &query),
        ("POST", [verb]) if verb == "access" => access_via(&control, req.into_body()).await,
        ("GET", [what]) if what == "status" => status_via(&control).await,
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

/// A failed action as the socket answers it.
fn refused(e: ActivityError) -> (StatusCode, String) {
    let status = match e {
        ActivityError::NotFound(_) => StatusCode::NOT_FOUND,
        ActivityError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        ActivityError::NoAnswer => StatusCode::GATEWAY_TIMEOUT,
    };
    (status, e.to_string())
}

async fn resend_via(control: &Control, hook: u32, attempt_id: &str) -> Answer {
    Ok(to_json(
        &resend_now(control, hook, attempt_id)
            .await
            .map_err(refused)?,
    ))
}

/// Puts failed events back into their queues (`webhook=N`, `since=<ms>` narrow them) and wakes
/// their workers.
fn resend_failed_via(control: &Control, query: &str) -> Answer {
    let bad = |m: String| (StatusCode::BAD_REQUEST, m);
    let mut webhook = None;
    let mut since = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("webhook", v)) => {
                webhook = Some(v.parse::<u32>().map_err(|_| bad(format!("webhook={v}")))?)
            }
            Some(("since", v)) => {
                since = Some(v.parse::<i64>().map_err(|_| bad(format!("since={v}")))?)
            }
            _ => return Err(bad(format!("unknown parameter {pair}"))),
        }
    }
    let requeued = recover(control, webhook, since).map_err(refused)?;
    Ok(json!({ "requeued": requeued }))
}

/// The largest body `POST /access` reads: a request names a few things and a password.
const ACCESS_BODY_MAX: usize = 64 * 1024;

/// A `user`, `apikey` or `token` command (`access::requests::Request` as JSON), done as the local
/// administrator; the answer is its `Reply`.
async fn access_via(control: &Control, body: Incoming) -> Answer {
    let body = http_body_util::Limited::new(body, ACCESS_BODY_MAX)
        .collect()
        .await
        .map_err(|e| {
            (
                StatusCode::BAD_REQUEST,
                format!("cannot read the request: {e}"),
            )
        })?
        .to_bytes();
    let store = Arc::clone(&control.store);
    let account = control.account_name.clone();
    // Hashing a password takes a while: not on the thread that serves the socket.
    let done = tokio::task::spawn_blocking(move || {
        crate::service::access::requests::answer(&store, &account, &body)
    })
    .await
    .map_err(|e| {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the request failed: {e}"),
        )
    })?;
    let reply = done.map_err(|e| {
        use crate::core::fault::{Fault, Kind};
        let status = match e.kind() {
            Kind::Invalid { .. } => StatusCode::BAD_REQUEST,
            Kind::NotFound => StatusCode::NOT_FOUND,
            Kind::Forbidden => StatusCode::FORBIDDEN,
            Kind::Conflict => StatusCode::CONFLICT,
            Kind::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Kind::Internal => {
                log::error!("control socket: {e}");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        (status, e.to_string())
    })?;
    serde_json::to_value(reply).map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

/// The status, read on a blocking thread: the state's counts are read from disk.
async fn status_via(control: &Arc<Control>) -> Answer {
    let control = Arc::clone(control);
    let status = tokio::task::spawn_blocking(move || control.status())
        .await
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    serde_json::to_value(status).map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

async fn enable_via(control: &Control, hook: u32) -> Answer {
    let was_disabled = enable_now(control, hook).await.map_err(refused)?;
    Ok(json!({ "webhookId": hook, "wasDisabled": was_disabled }))
}
