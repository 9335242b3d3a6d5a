//! One webhook's delivery worker: takes the front of its queue when it is due, signs and posts
//! each event, and records what came of it. Each webhook has its own worker and queue, so a
//! dead or slow receiver delays no other webhook (beyond what the delivery threads bound, see
//! `pool`); within a webhook the head blocks everything behind it, so its receiver sees events
//! one at a time and in order.
//!
//! Group commit: results are written to the state in one transaction per group of attempts
//! (at most `GROUP` results or `GROUP_WAIT`), before the worker looks at its queue again. After
//! a crash, a group not yet written is delivered again, and receivers drop the repeats by
//! `webhook-id`.
//!
//! Layer 3: uses `core`, `config` and `store` (see `lib.rs`).

pub mod broker;
pub mod pool;
pub mod send;
pub mod settings;
pub mod setup;
pub mod target;

pub use target::Target;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use log::Level;

use crate::core::event::Event;
use crate::core::outcome::Outcome;
use crate::core::retry::{self, Next};
use crate::deliver::send::Client;
use crate::store::{Disabled, Flush, Flushed, Health, LogEntry, Pending, SetAside, Store};

/// At most this many results are written in one transaction...
const GROUP: usize = 512;
/// ...and none waits longer than this to be written.
const GROUP_WAIT: Duration = Duration::from_millis(50);

/// Wakes a worker early: new events were queued, a request came, or it is time to stop.
#[derive(Default)]
pub struct Bell {
    rung: Mutex<bool>,
    cv: Condvar,
    /// Tells the delivery pool, once the worker is in it.
    waker: Mutex<Option<Box<dyn Fn() + Send + Sync>>>,
}

impl Bell {
    pub fn ring(&self) {
        *self.rung.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.cv.notify_all();
        if let Some(wake) = &*self.waker.lock().unwrap_or_else(|p| p.into_inner()) {
            wake();
        }
    }

    /// From now on a ring also calls `wake` (replacing what it called before).
    pub fn wake_with(&self, wake: Box<dyn Fn() + Send + Sync>) {
        *self.waker.lock().unwrap_or_else(|p| p.into_inner()) = Some(wake);
    }

    /// Waits until rung or `timeout` passes.
    pub fn wait(&self, timeout: Duration) {
        let guard = self.rung.lock().unwrap_or_else(|p| p.into_inner());
        let (mut rung, _) = self
            .cv
            .wait_timeout_while(guard, timeout, |rung| !*rung)
            .unwrap_or_else(|p| p.into_inner());
        *rung = false;
    }
}

/// What an operator asks of a running worker.
pub enum Request {
    /// Send this event again now, as attempt `attempt`, marked as a resend; the log entry of
    /// the attempt is the answer.
    Resend {
        event: Event,
        attempt: u32,
        reply: tokio::sync::oneshot::Sender<LogEntry>,
    },
    /// Send this made-up event once now (a test delivery: no retry, not a resend); the log
    /// entry of the attempt is the answer.
    Test {
        event: Event,
        reply: tokio::sync::oneshot::Sender<LogEntry>,
    },
    /// Start sending again after the webhook was disabled.
    Enable {
        reply: tokio::sync::oneshot::Sender<bool>,
    },
}

/// A worker's mailbox for requests, with the bell that wakes it.
#[derive(Default)]
pub struct Mailbox {
    requests: Mutex<Vec<Request>>,
    pub bell: Bell,
}

impl Mailbox {
    pub fn send(&self, request: Request) {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(request);
        self.bell.ring();
    }

    fn take(&self) -> Vec<Request> {
        std::mem::take(&mut *self.requests.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

pub struct Worker {
    pub target: Target,
    pub store: Arc<Store>,
    pub client: Client,
    pub mailbox: Arc<Mailbox>,
    pub stop: Arc<AtomicBool>,
    pub health: Health,
    /// Where this webhook's figures go (status, metrics).
    pub stats: Arc<crate::core::stats::HookStats>,
}

/// How long an idle worker sleeps before it looks at its queue again anyway.
const IDLE: Duration = Duration::from_secs(60);

impl Worker {
    /// Says, at its start, that the webhook is disabled, if it is.
    fn announce(&self) {
        if let Some(d) = &self.health.disabled {
            log::warn!(
                "webhook {} is disabled ({}); its events keep queueing: run `sharehook enable {}` to send them",
                self.target.id,
                d.reason,
                self.target.id
            );
        }
    }

    /// Hands the worker to the delivery threads; its mailbox's bell wakes it there.
    pub fn start(self, pool: &pool::Pool) -> pool::Handle {
        self.announce();
        let mailbox = Arc::clone(&self.mailbox);
        pool.add(
            Stepping {
                worker: self,
                trouble: Backoff::default(),
            },
            &mailbox.bell,
        )
    }

    /// One turn: requests answered, then at most one group of due events delivered and
    /// written; says when it wants the next (`trouble`: the pause after a failed read of
    /// its queue).
    fn step(&mut self, trouble: &mut Backoff) -> pool::Turn {
        use pool::Turn;
        if self.stop.load(Ordering::SeqCst) {
            return Turn::Done;
        }
        self.serve_requests();
        if self.health.disabled.is_some() {
            return Turn::after(IDLE);
        }
        let front = match self.store.front(self.target.id, GROUP) {
            Ok(front) => front,
            Err(e) => {
                log::error!("webhook {}: cannot read its queue: {e}", self.target.id);
                return Turn::after(trouble.pause());
            }
        };
        *trouble = Backoff::default();
        let Some(first) = front.first() else {
            return Turn::after(IDLE);
        };
        let now = now_ms();
        if first.due_ms > now {
            let wait = Duration::from_millis(u64::try_from(first.due_ms - now).unwrap_or(0));
            return Turn::after(wait.min(IDLE));
        }
        self.deliver_run(front);
        Turn::Again
    }

    /// Attempts the due events of `front` in order, until one fails or one is not yet due,
    /// or a group is full; writes their results in one transaction.
    fn deliver_run(&mut self, front: Vec<Pending>) {
        if let Client::Broker(link) = &self.client {
            let link = Arc::clone(link);
            return self.publish_run(&link, front);
        }
        let mut group = self.new_group();
        let started = Instant::now();
        for pending in front {
            if self.stop.load(Ordering::SeqCst) || pending.due_ms > now_ms() {
                break;
            }
            // After a failure, the next look at the queue sees its retry time.
            let blocked = self.attempt(pending, &mut group);
            if blocked || group.flush.log.len() >= GROUP || started.elapsed() >= GROUP_WAIT {
                break;
            }
        }
        self.write(group);
    }

    /// Writes a group's results (see `write`).
    fn write(&self, group: Group) -> Option<Vec<u64>> {
        write(self.target.id, &self.store, &self.stop, group)
    }

    fn new_group(&self) -> Group {
        Group {
            flush: Flush {
                webhook: self.target.id,
                ..Flush::default()
            },
            lines: Vec::new(),
        }
    }

    /// Publishes the due events of `front` to the broker in one batch, all sent before the
    /// first acknowledgement is awaited, and writes their results in one transaction. Each
    /// leaves the queue on its own acknowledgement; the first that fails blocks the queue as a
    /// failed POST does. Those after it that failed too go again after it (they are not
    /// counted as attempts: they were sent behind a failure); one after it that the broker
    /// took is delivered, and said to have overtaken it.
    fn publish_run(&mut self, link: &broker::Link, front: Vec<Pending>) {
        let now = now_ms();
        let due: Vec<Pending> = front.into_iter().take_while(|p| p.due_ms <= now).collect();
        if due.is_empty() || self.stop.load(Ordering::SeqCst) {
            return;
        }
        let items: Vec<(&Event, u32, bool)> = due
            .iter()
            .map(|p| (&p.event, p.attempts + 1, p.resend))
            .collect();
        let results = self.target.publish(link, &items);
        let mut group = self.new_group();
        let mut blocked_by = None;
        for (pending, (outcome, entry)) in due.into_iter().zip(results) {
            match blocked_by {
                None => {
                    let id = pending.event.id;
                    if self.record(pending, outcome, entry, &mut group) {
                        blocked_by = Some(id);
                    }
                }
                Some(head) if outcome.is_success() => {
                    group.say(
                        Level::Warn,
                        format!(
                            "webhook {}: event {} was taken by the broker ahead of event {head}, \
                             which failed and goes again",
                            self.target.id, pending.event.id
                        ),
                    );
                    self.record(pending, outcome, entry, &mut group);
                }
                Some(_) => {}
            }
        }
        self.write(group);
    }

    /// One attempt of the head; returns true when the queue is blocked behind it (it failed).
    fn attempt(&mut self, pending: Pending, group: &mut Group) -> bool {
        let attempt = pending.attempts + 1;
        let (outcome, entry) =
            self.target
                .attempt(&self.client, &pending.event, attempt, pending.resend);
        self.record(pending, outcome, entry, group)
    }

    /// Records what came of an attempt of `pending`: delivered, or when it is due again (or
    /// set aside, or the webhook disabled); returns true when it failed.
    fn record(
        &mut self,
        mut pending: Pending,
        outcome: Outcome,
        entry: LogEntry,
        group: &mut Group,
    ) -> bool {
        let t = &self.target;
        let attempt = pending.attempts + 1;
        let what = || {
            format!(
                "webhook {}: event {} ({} {}) attempt {attempt}",
                t.id,
                pending.event.id,
                pending.event.op.v1_name(),
                pending.event.path
            )
        };
        let took = entry.duration_ms;
        let flush = &mut group.flush;
        flush.log.push(entry);
        let now = now_ms();
        let first = (!pending.resend).then_some(pending.event.time_ms);
        self.stats.attempted(&outcome, first, now);
        if outcome.is_success() {
            flush.delivered.push(pending.event.id);
            if pending.resend {
                flush.resolved.push(pending.event.id);
            }
            if self.health.failing_since_ms.take().is_some() {
                flush.health = Some(self.health.clone());
            }
            if log::log_enabled!(Level::Info) {
                group.say(Level::Info, format!("{}: {outcome} in {took} ms", what()));
            }
            return false;
        }
        let what = what();
        let (status, retry_after) = match &outcome {
            Outcome::Answered {
                status,
                retry_after,
                ..
            } => (Some(*status), retry_after.as_deref()),
            Outcome::Failed { .. } | Outcome::Acknowledged { .. } => (None, None),
        };
        let failing_since = *self.health.failing_since_ms.get_or_insert(now);
        flush.health = Some(self.health.clone());
        let result = short(&outcome);
        let redirect = if matches!(status, Some(300..=399)) {
            " (redirects are not followed: point the webhook at the final URL)"
        } else {
            ""
        };
        // A failed event sent back has a fresh round of the schedule.
        let in_round = attempt.saturating_sub(pending.round_start);
        match retry::next(
            &t.schedule,
            in_round,
            status,
            retry_after,
            SystemTime::now(),
        ) {
            Next::Disable => {
                pending.attempts = attempt;
                pending.last_result = Some(result);
                flush.retry = Some(pending);
                group.say(
                    Level::Error,
                    format!(
                        "{what}: {outcome} in {took} ms: the receiver says it is gone; webhook {} is \
                         disabled (its events keep queueing; `sharehook enable {}` sends them)",
                        t.id, t.id
                    ),
                );
                self.disable("the receiver answered 410 Gone", &mut group.flush);
            }
            Next::Retry(wait) => {
                pending.attempts = attempt;
                pending.due_ms = now.saturating_add(retry::millis(wait));
                pending.last_result = Some(result);
                flush.retry = Some(pending);
                group.say(
                    Level::Warn,
                    format!(
                        "{what}: {outcome}{redirect} in {took} ms; next attempt in {}",
                        human(wait)
                    ),
                );
            }
            Next::GiveUp => {
                flush.set_aside = Some(SetAside {
                    webhook: t.id,
                    event: pending.event,
                    attempts: attempt,
                    failed_ms: now,
                    last_result: result,
                });
                group.say(
                    Level::Error,
                    format!(
                        "{what}: {outcome}{redirect} in {took} ms; that was the last attempt: the \
                         event is set aside as failed and the queue moves on"
                    ),
                );
            }
        }
        let limit = self.target.disable_after;
        if self.health.disabled.is_none()
            && !limit.is_zero()
            && now - failing_since >= retry::millis(limit)
        {
            let reason = format!("no delivery succeeded for {}", human(limit));
            group.say(
                Level::Error,
                format!(
                    "webhook {}: {reason}; it is disabled (its events keep queueing; \
                     `sharehook enable {}` sends them)",
                    self.target.id, self.target.id
                ),
            );
            self.disable(&reason, &mut group.flush);
        }
        true
    }

    fn disable(&mut self, reason: &str, flush: &mut Flush) {
        self.health.disabled = Some(Disabled {
            since_ms: now_ms(),
            reason: reason.to_owned(),
        });
        flush.health = Some(self.health.clone());
    }

    /// Answers what operators asked: resends and enables.
    fn serve_requests(&mut self) {
        for request in self.mailbox.take() {
            match request {
                Request::Resend { .. } | Request::Test { .. } => {
                    let (event, attempt, reply, resend) = match request {
                        Request::Resend {
                            event,
                            attempt,
                            reply,
                        } => (event, attempt, reply, true),
                        Request::Test { event, reply } => (event, 1, reply, false),
                        Request::Enable { .. } => unreachable!("matched above"),
                    };
                    let (outcome, mut entry) =
                        self.target.attempt(&self.client, &event, attempt, resend);
                    self.stats.attempted(&outcome, None, now_ms());
                    let mut group = self.new_group();
                    group.flush.log.push(entry.clone());
                    if resend && outcome.is_success() {
                        // No longer failed, if it was.
                        group.flush.resolved.push(event.id);
                    }
                    let what = if resend {
                        format!("resent as attempt {attempt}")
                    } else {
                        "sent as a test".to_owned()
                    };
                    group.say(
                        Level::Info,
                        format!(
                            "webhook {}: event {} {what}: {outcome}",
                            self.target.id, event.id
                        ),
                    );
                    // The answer carries the id the log gave the entry.
                    if let Some(ids) = self.write(group) {
                        entry.id = ids.first().copied().unwrap_or(0);
                    }
                    let _ = reply.send(entry);
                }
                Request::Enable { reply } => {
                    let was = self.health.disabled.take().is_some();
                    self.health.failing_since_ms = None;
                    let mut group = self.new_group();
                    group.flush.health = Some(self.health.clone());
                    if was {
                        let line = format!("webhook {} is enabled again", self.target.id);
                        group.say(Level::Info, line);
                    }
                    self.write(group);
                    let _ = reply.send(was);
                }
            }
        }
    }
}

/// Writes results, retrying until it succeeds or the worker stops; returns the ids the log
/// gave its entries (`None` when it stopped first). Should it never succeed, the queue still
/// holds the events, and they are sent again after a restart.
fn write(id: u32, store: &Store, stop: &AtomicBool, group: Group) -> Option<Vec<u64>> {
    let Group { flush, lines } = group;
    if flush.is_empty() {
        return Some(Vec::new());
    }
    let mut backoff = Backoff::default();
    loop {
        match store.flush(&flush, now_ms()) {
            Ok(Flushed { log_ids, pruned }) => {
                // Said only now that it is recorded, so the log never runs ahead of the
                // state a restart would resume from.
                for (level, line) in lines {
                    log::log!(level, "{line}");
                }
                if pruned.by_count > 0 {
                    log::info!(
                        "delivery log: removed the {} oldest entries (more than [log] max_entries)",
                        pruned.by_count
                    );
                }
                if pruned.by_age > 0 {
                    log::info!(
                        "delivery log: removed {} entries older than [log] max_age_days",
                        pruned.by_age
                    );
                }
                return Some(log_ids);
            }
            Err(e) => {
                log::error!("webhook {}: cannot record delivery results: {e}", id);
                if stop.load(Ordering::SeqCst) {
                    return None;
                }
                std::thread::sleep(backoff.pause());
            }
        }
    }
}

/// A worker as the delivery threads step it.
struct Stepping {
    worker: Worker,
    trouble: Backoff,
}

impl pool::Task for Stepping {
    fn step(&mut self) -> pool::Turn {
        self.worker.step(&mut self.trouble)
    }

    fn name(&self) -> String {
        format!("webhook {}", self.worker.target.id)
    }
}

/// A run of results to write in one transaction, and what to log once they are written.
struct Group {
    flush: Flush,
    lines: Vec<(Level, String)>,
}

impl Group {
    fn say(&mut self, level: Level, line: String) {
        self.lines.push((level, line));
    }
}

/// The status column of the queue: the HTTP status, or the transport error's code.
fn short(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Answered { status, .. } => status.to_string(),
        Outcome::Failed { code, .. } => format!("error {code}"),
        Outcome::Acknowledged { .. } => "200".to_owned(),
    }
}

/// Growing pauses while the state cannot be read or written: 1 s doubling to 1 min.
#[derive(Default)]
pub struct Backoff(u32);

impl Backoff {
    pub fn pause(&mut self) -> Duration {
        self.0 = (self.0 + 1).min(7);
        Duration::from_secs(1 << (self.0 - 1)).min(Duration::from_secs(60))
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A wait as a person reads it: "800 ms", "5 s", "30 min", "2 h".
pub fn human(d: Duration) -> String {
    let ms = d.as_millis();
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..120_000 => format!("{} s", (ms + 500) / 1_000),
        120_000..7_200_000 => format!("{} min", (ms + 30_000) / 60_000),
        _ => format!("{} h", (ms + 1_800_000) / 3_600_000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Format, SignatureMode};
    use crate::core::retry::Schedule;
    use crate::core::sign::{self, Keys};
    use crate::core::sign::{Secret, Token};
    use std::collections::HashMap;

    #[test]
    fn waits_read_naturally() {
        let s = Duration::from_secs;
        assert_eq!(human(Duration::from_millis(250)), "250 ms");
        assert_eq!(human(s(5)), "5 s");
        assert_eq!(human(s(300)), "5 min");
        assert_eq!(human(s(1800)), "30 min");
        assert_eq!(human(s(7200)), "2 h");
        assert_eq!(human(s(36000)), "10 h");
    }

    #[test]
    fn backoff_grows_to_a_minute() {
        let mut b = Backoff::default();
        let waits: Vec<u64> = (0..9).map(|_| b.pause().as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }

    #[test]
    fn a_rung_bell_wakes_a_waiter_at_once() {
        let bell = Arc::new(Bell::default());
        let ringer = Arc::clone(&bell);
        let t = std::thread::spawn(move || ringer.ring());
        let started = Instant::now();
        bell.wait(Duration::from_secs(30));
        assert!(started.elapsed() < Duration::from_secs(25));
        t.join().unwrap();
    }

    fn target(signature: SignatureMode) -> Target {
        let now = now_ms();
        Target {
            id: 1,
            url: "http://h/".into(),
            shown_url: "http://h/".into(),
            format: Format::V1,
            signature,
            keys: Keys {
                token: Token::parse("efb7e0030e6cef1b45d3d74a67881a2b").unwrap(),
                previous_token: Some((
                    Token::parse("00000000000000000000000000000000").unwrap(),
                    now + 60_000,
                )),
                secret: Some(Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap()),
                previous_secret: Some((
                    Secret::parse("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").unwrap(),
                    now - 1,
                )),
            },
            account_name: "nas".into(),
            protocols: HashMap::new(),
            schedule: Schedule::default(),
            disable_after: Duration::ZERO,
        }
    }

    fn event() -> Event {
        Event {
            id: 77,
            op: crate::core::event::Operation::Upload,
            share: "s".into(),
            path: crate::core::event::SharePath::from_config("/a"),
            source: None,
            is_dir: false,
            username: "u".into(),
            time_ms: 0,
            size: Some(1),
            protocol: None,
            address: String::new(),
            attribution: crate::core::event::Attribution::Owner,
        }
    }

    #[test]
    fn headers_follow_the_signature_mode_and_the_grace_periods() {
        let names = |mode| -> Vec<String> {
            let (_, headers) = target(mode).request(&event(), 1, now_ms());
            headers.into_iter().map(|(n, _)| n).collect()
        };
        assert_eq!(
            names(SignatureMode::Exavault),
            ["X-Exavault-Signature", "X-Exavault-Signature-Previous"]
        );
        assert_eq!(
            names(SignatureMode::Standard),
            ["webhook-id", "webhook-timestamp", "webhook-signature"]
        );
        let t = target(SignatureMode::Both);
        let now = now_ms();
        let (body, headers) = t.request(&event(), 2, now);
        let get = |n: &str| headers.iter().find(|(k, _)| k == n).unwrap().1.clone();
        assert_eq!(get("webhook-id"), "77");
        // The previous secret's grace is over: one signature only.
        let signature = get("webhook-signature");
        assert!(!signature.contains(' '), "{signature}");
        let ts: i64 = get("webhook-timestamp").parse().unwrap();
        assert!(
            t.keys
                .secret
                .as_ref()
                .unwrap()
                .verify("77", ts, &body, &signature)
        );
        assert_eq!(
            get("X-Exavault-Signature"),
            sign::exavault(t.keys.token.expose(), &body)
        );
    }

    #[test]
    fn a_change_made_through_the_api_says_so_in_both_formats() {
        let mut t = target(SignatureMode::Exavault);
        t.protocols.insert("s".into(), "nfs".into());
        let body = |t: &Target, e: &Event| -> serde_json::Value {
            serde_json::from_slice(&t.request(e, 1, now_ms()).0).unwrap()
        };
        let mut e = event();
        assert_eq!(body(&t, &e)["protocol"], "nfs");
        e.protocol = Some("api".into());
        e.username = "carol".into();
        assert_eq!(body(&t, &e)["protocol"], "api");
        assert_eq!(body(&t, &e)["username"], "carol");
        t.format = Format::V2;
        assert_eq!(body(&t, &e)["protocol"], "api");
        assert_eq!(body(&t, &e)["username"], "carol");
    }
}
