//! `GET /events`: the page's live updates as server-sent events. Each message is a piece of
//! the page, rendered by the same template as the page itself: `event` (a row of the latest
//! events), `attempt` (a row of the activity table), `shares`, `webhooks` and `people` (the
//! overview's tables and its chart, when their figures changed) and `request` (a request the
//! inbox got). The stream
//! wakes on the daemon's feed, not on a timer, and on every change of users: a stream stands
//! for its session's user and ends when that user is removed or given a new password. Streams
//! are bounded in all and per user.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::sse::{Event as Sse, KeepAlive};
use axum::response::{IntoResponse, Response};

use super::{State, Visitor};

/// The most live streams open at once: each holds a connection.
pub const MAX_STREAMS: usize = 32;
/// The most live streams of one user, so that one user's pages cannot take every stream
/// from the others. A browser opens one per page left open, and Chromium at most six
/// connections to one host over HTTP/1.1.
pub const MAX_STREAMS_PER_USER: usize = 8;

/// How long after a change the log is read again, for attempts logged just after it.
const SETTLE: Duration = Duration::from_secs(3);
/// How often, at most, a live overview reads who was active lately while changes keep coming
/// (and once more when they stop): each read is up to `recent::READ_CAP` log entries.
const PEOPLE_EVERY: Duration = Duration::from_secs(10);
/// How long the figures of who was active lately are shared between live pages: every stream
/// wakes on the same change, and one read serves them all.
const PEOPLE_SHARED: Duration = Duration::from_secs(2);

/// The figures of who was active lately as a live page last read them, for the others.
#[derive(Default)]
pub struct RecentCache(Mutex<Option<(Instant, Arc<crate::service::recent::Recent>)>>);

impl RecentCache {
    /// The figures read less than `PEOPLE_SHARED` ago, or read now.
    async fn get(&self, state: &State) -> Result<Arc<crate::service::recent::Recent>, Ended> {
        let lock = || self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, recent)) = lock().as_ref()
            && at.elapsed() < PEOPLE_SHARED
        {
            return Ok(Arc::clone(recent));
        }
        let control = Arc::clone(&state.control);
        let recent = Arc::new(super::blocking(move || Ok(control.recent()?)).await?);
        *lock() = Some((Instant::now(), Arc::clone(&recent)));
        Ok(recent)
    }
}

/// The live streams open, by user id.
#[derive(Default)]
pub struct Streams {
    open: Mutex<HashMap<u32, usize>>,
}

/// Why no stream was opened.
#[derive(Debug, PartialEq, Eq)]
enum Full {
    /// `MAX_STREAMS` are open.
    All,
    /// `MAX_STREAMS_PER_USER` of this user are open.
    Yours,
}

impl Streams {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u32, usize>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A place for a stream of user `user`, given back when the slot is dropped.
    fn take(self: &Arc<Self>, user: u32) -> Result<Slot, Full> {
        let mut open = self.lock();
        if open.values().sum::<usize>() >= MAX_STREAMS {
            return Err(Full::All);
        }
        let mine = open.entry(user).or_default();
        if *mine >= MAX_STREAMS_PER_USER {
            return Err(Full::Yours);
        }
        *mine += 1;
        Ok(Slot {
            streams: Arc::clone(self),
            user,
        })
    }
}

struct Slot {
    streams: Arc<Streams>,
    user: u32,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.streams.lock();
        if let Some(n) = open.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.user);
            }
        }
    }
}

pub async fn events(visitor: Visitor, super::PageQuery(query): super::PageQuery) -> Response {
    let slot = match visitor.state.kept.streams.take(visitor.identity.user) {
        Ok(slot) => slot,
        Err(Full::All) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "too many live pages are open; close some",
            )
                .into_response();
        }
        Err(Full::Yours) => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "you have {MAX_STREAMS_PER_USER} live pages open: close one, then reload \
                     this one to follow it live"
                ),
            )
                .into_response();
        }
    };
    let view = query.get("view").unwrap_or("overview").to_owned();
    // The newest log entry the page listed: attempts written after it come on the stream.
    let after = query.get("after").and_then(|a| a.parse::<u64>().ok());
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Sse>(64);
    tokio::spawn(async move {
        let _slot = slot;
        let mut visitor = visitor;
        if let Err(Ended::Failed(e)) = feed(&mut visitor, &view, after, tx).await {
            log::debug!("page: a live stream ended: {e:?}");
        }
    });
    let stream = futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx).map(|m| m.map(Ok::<_, Infallible>))
    });
    axum::response::Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

#[derive(Debug)]
enum Ended {
    Closed,
    Failed(super::PageError),
}

impl From<super::PageError> for Ended {
    fn from(e: super::PageError) -> Ended {
        Ended::Failed(e)
    }
}

async fn feed(
    visitor: &mut Visitor,
    view: &str,
    after: Option<u64>,
    tx: tokio::sync::mpsc::Sender<Sse>,
) -> Result<(), Ended> {
    let state: State = Arc::clone(&visitor.state);
    let control = Arc::clone(&state.control);
    let feed = Arc::clone(&control.stats.feed);
    let mut changes = feed.watch();
    // A change of users wakes the stream at once: a user removed or given a new password is
    // cut off then, not at its next message; a new role counts from then. Checked once first,
    // for a change made since the request was let in.
    let mut access = crate::service::access::changes(&control.store);
    access.mark_changed();
    let mut seen_event = feed.last();
    // The inbox page says the newest request it listed, the activity page the newest log
    // entry: what came after it (before this stream began, too) is sent.
    let (after_request, after_log) = if view == "inbox" {
        (after, None)
    } else {
        (None, after)
    };
    let mut seen_request = after_request.unwrap_or_else(|| state.kept.inbox.last());
    let (mut seen_log, mut settle_until) = match after_log {
        // Read the log at once for what was written since the page was made.
        Some(id) => (id, Some(Instant::now() + SETTLE)),
        None => (newest_log_id(&state).await?, None),
    };
    let several = control.config.shares.len() > 1;
    let (mut sent_shares, mut sent_webhooks) = (String::new(), String::new());
    // Who was active lately: read again after a change, at most every `PEOPLE_EVERY` while
    // changes keep coming, and when they stop.
    let (mut sent_people, mut people_read, mut people_stale) = (String::new(), None, false);
    loop {
        tokio::select! {
            changed = access.changed() => {
                if changed.is_err() {
                    return Err(Ended::Closed);
                }
                let store = Arc::clone(&control.store);
                let identity = visitor.identity;
                let now = super::blocking(move || Ok(crate::service::access::signed_in(&store, &identity)?))
                    .await?;
                let Some(now) = now else {
                    return Err(Ended::Closed);
                };
                visitor.caller.user = now.user;
                visitor.caller.role = now.role;
            }
            changed = changes.changed() => {
                if changed.is_err() {
                    return Err(Ended::Closed);
                }
                settle_until = Some(Instant::now() + SETTLE);
                people_stale = true;
            }
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        if !state.kept.sessions.alive(&visitor.session, Instant::now()) || tx.is_closed() {
            return Err(Ended::Closed);
        }
        for (seq, event) in feed.since(seen_event) {
            seen_event = seq;
            if view == "overview" {
                let row = super::overview::event_row(&event, several).into_string();
                send(&tx, "event", row).await?;
            }
        }
        if view == "inbox" {
            for r in state.kept.inbox.since(seen_request) {
                seen_request = r.seq;
                let article = super::inbox::request_article(&r, visitor.admin()).into_string();
                send(&tx, "request", article).await?;
            }
            continue;
        }
        let Some(until) = settle_until else { continue };
        let settled = Instant::now() > until;
        if settled {
            settle_until = None;
        }
        let store = Arc::clone(&control.store);
        let after = seen_log;
        let entries = super::blocking(move || {
            let mut newer = Vec::new();
            store.log_visit(|e| {
                if e.id <= after || newer.len() >= 100 {
                    return false;
                }
                newer.push(e);
                true
            })?;
            Ok(newer)
        })
        .await?;
        if view == "overview" {
            // The shares' and webhooks' figures, sent when they changed.
            let control = Arc::clone(&control);
            let status = super::blocking(move || Ok(control.status())).await?;
            let shares = super::overview::shares_table(&status).into_string();
            if shares != sent_shares {
                send(&tx, "shares", shares.clone()).await?;
                sent_shares = shares;
            }
            let table = super::overview::webhook_table(&status.webhooks).into_string();
            if table != sent_webhooks {
                send(&tx, "webhooks", table.clone()).await?;
                sent_webhooks = table;
            }
            let due = people_read.is_none_or(|at: Instant| at.elapsed() >= PEOPLE_EVERY);
            if people_stale && (due || settled) {
                people_stale = false;
                people_read = Some(Instant::now());
                let recent = state.kept.recent.get(&state).await?;
                let people = super::overview::people(&recent).into_string();
                if people != sent_people {
                    send(&tx, "people", people.clone()).await?;
                    sent_people = people;
                }
            }
        }
        if entries.is_empty() {
            continue;
        }
        seen_log = entries[0].id;
        if view == "activity" {
            for e in entries.iter().rev() {
                let row = super::activity::attempt_row(&*visitor, e, several).into_string();
                send(&tx, "attempt", row).await?;
            }
        }
    }
}

async fn newest_log_id(state: &State) -> Result<u64, Ended> {
    let store = Arc::clone(&state.control.store);
    Ok(super::blocking(move || Ok(store.newest_log_id()?)).await?)
}

/// Sends a piece of the page, escaped as a whole page is (`view::safe_text`).
async fn send(tx: &tokio::sync::mpsc::Sender<Sse>, name: &str, data: String) -> Result<(), Ended> {
    let data = super::view::safe_text(&data).into_owned();
    tx.send(Sse::default().event(name).data(data))
        .await
        .map_err(|_| Ended::Closed)
}
