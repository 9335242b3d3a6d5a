//! One webhook's delivery worker: takes the head of its queue when it is due, signs and posts
//! it, and records what came of it. The head blocks everything behind it, so a webhook's
//! receiver sees its events one at a time and in order.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::payload::V1;
use crate::retry::Schedule;
use crate::send::{Client, Outcome};
use crate::sign::{self, Token};
use crate::store::{Pending, SetAside, Store, StoreError};

/// Wakes a worker early: new events were queued, or it is time to stop.
#[derive(Default)]
pub struct Bell {
    rung: Mutex<bool>,
    cv: Condvar,
}

impl Bell {
    pub fn ring(&self) {
        *self.rung.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.cv.notify_all();
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

/// What a worker needs to know about its webhook.
pub struct Target {
    pub id: u32,
    pub url: String,
    pub token: Token,
    pub account_name: String,
    /// The protocol label of each share, by share name.
    pub protocols: HashMap<String, String>,
    pub schedule: Schedule,
}

pub struct Worker {
    pub target: Target,
    pub store: Arc<Store>,
    pub client: Client,
    pub bell: Arc<Bell>,
    pub stop: Arc<AtomicBool>,
}

/// How long an idle worker sleeps before it looks at its queue again anyway.
const IDLE: Duration = Duration::from_secs(60);

impl Worker {
    pub fn spawn(self) -> JoinHandle<()> {
        let name = format!("webhook-{}", self.target.id);
        std::thread::Builder::new()
            .name(name)
            .spawn(move || self.run())
            .expect("the system can start a thread")
    }

    fn run(self) {
        let mut trouble = Backoff::default();
        while !self.stop.load(Ordering::SeqCst) {
            let head = match self.store.head(self.target.id) {
                Ok(head) => head,
                Err(e) => {
                    log::error!("webhook {}: cannot read its queue: {e}", self.target.id);
                    self.bell.wait(trouble.next());
                    continue;
                }
            };
            trouble = Backoff::default();
            let Some(pending) = head else {
                self.bell.wait(IDLE);
                continue;
            };
            let now = now_ms();
            if pending.due_ms > now {
                let wait = Duration::from_millis(u64::try_from(pending.due_ms - now).unwrap_or(0));
                self.bell.wait(wait.min(IDLE));
                continue;
            }
            self.attempt(pending);
        }
    }

    fn attempt(&self, mut pending: Pending) {
        let t = &self.target;
        let event = &pending.event;
        let attempt = pending.attempts + 1;
        let protocol = t.protocols.get(&event.share).map_or("smb", String::as_str);
        let body = V1::of(event, &t.account_name, protocol, attempt).to_bytes();
        let signature = sign::exavault(t.token.expose(), &body);
        let started = Instant::now();
        let outcome = self
            .client
            .post(&t.url, &[("X-Exavault-Signature", &signature)], &body);
        let took = started.elapsed().as_millis();
        let what = format!(
            "webhook {}: event {} ({} {}) attempt {attempt}",
            t.id,
            event.id,
            event.op.v1_name(),
            event.path
        );
        let now = now_ms();
        if outcome.is_success() {
            // Each result is logged once it is recorded, so the log never runs ahead of the
            // state a restart would resume from.
            self.persist(|| self.store.delivered(t.id, pending.event.id));
            log::info!("{what}: {outcome} in {took} ms");
            return;
        }
        let result = short(&outcome);
        match t.schedule.after_failure(attempt, now) {
            Some(due_ms) => {
                let wait = Duration::from_millis(u64::try_from(due_ms - now).unwrap_or(0));
                pending.attempts = attempt;
                pending.due_ms = due_ms;
                pending.last_result = Some(result);
                self.persist(|| self.store.retry_later(&pending));
                log::warn!(
                    "{what}: {outcome} in {took} ms; next attempt in {}",
                    human(wait)
                );
            }
            None => {
                let failed = SetAside {
                    webhook: t.id,
                    event: pending.event,
                    attempts: attempt,
                    failed_ms: now,
                    last_result: result,
                };
                self.persist(|| self.store.set_aside(&failed));
                log::error!(
                    "{what}: {outcome} in {took} ms; that was the last attempt: the event is set \
                     aside as failed and the queue moves on"
                );
            }
        }
    }

    /// Retries a state write until it succeeds or the worker stops. Should it never succeed,
    /// the queue still holds the event, and it is sent again after a restart.
    fn persist(&self, mut write: impl FnMut() -> Result<(), StoreError>) {
        let mut backoff = Backoff::default();
        while let Err(e) = write() {
            log::error!(
                "webhook {}: cannot record a delivery result: {e}",
                self.target.id
            );
            if self.stop.load(Ordering::SeqCst) {
                return;
            }
            self.bell.wait(backoff.next());
        }
    }
}

/// The status column of the log: the HTTP status, or the transport error's code.
fn short(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Answered { status, .. } => status.to_string(),
        Outcome::Failed { code, .. } => format!("error {code}"),
    }
}

/// Growing pauses while the state cannot be read or written: 1 s doubling to 1 min.
#[derive(Default)]
struct Backoff(u32);

impl Backoff {
    fn next(&mut self) -> Duration {
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
        let waits: Vec<u64> = (0..9).map(|_| b.next().as_secs()).collect();
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
}
