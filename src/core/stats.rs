//! The running daemon's figures (`Stats`: what the engine and the delivery workers count as
//! they go, in atomics) and their Prometheus text rendering (format 0.0.4), written by hand.
//! What the state adds to them is read by the service layer's `metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::core::event::{Event, Operation};
use crate::core::outcome::Outcome;

/// The upper bounds of the delivery latency histogram, in seconds.
pub const LATENCY_BUCKETS: [f64; 11] =
    [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];

/// What the engine and the workers count, shared with the status and metrics readers. Made
/// when the daemon starts; a reload counts on in it.
#[derive(Default)]
pub struct Stats {
    /// Folders watched with inotify, over every share.
    pub watches: AtomicU64,
    shares: Mutex<BTreeMap<String, Arc<ShareStats>>>,
    webhooks: Mutex<BTreeMap<u32, Arc<HookStats>>>,
    /// The newest events and a signal of every event and attempt, for the page's live view.
    pub feed: Arc<Feed>,
    /// How reading each file server's records of who did what goes, when they are read.
    pub attribution: Mutex<Vec<AttributionFigures>>,
}

/// How reading a file server's log goes (`[attribution] samba_audit`, `sftp_log`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttributionFigures {
    /// `samba` or `sftp`.
    pub source: String,
    pub log: String,
    /// Records read since the daemon started.
    pub records: u64,
    /// Lines that were not part of a record read without doubt.
    pub doubtful: u64,
    /// Records waiting for the change they tell of.
    pub waiting: u64,
    /// When the last record was read (ms since the epoch).
    pub last_record_ms: Option<i64>,
    /// Why the log cannot be read, when it cannot.
    pub trouble: Option<String>,
}

/// How many of the newest events the feed keeps.
pub const FEED_KEEP: usize = 50;

/// The newest events reported, newest last, each with its place in the feed (from 1), and a
/// counter that moves at every event and every delivery attempt: the page's live view waits
/// on it instead of reading the state again and again.
pub struct Feed {
    recent: Mutex<std::collections::VecDeque<(u64, Event)>>,
    changed: tokio::sync::watch::Sender<u64>,
}

impl Default for Feed {
    fn default() -> Feed {
        Feed {
            recent: Mutex::default(),
            changed: tokio::sync::watch::channel(0).0,
        }
    }
}

impl Feed {
    /// `event` was committed and queued.
    pub fn event(&self, event: &Event) {
        let mut recent = lock(&self.recent);
        let seq = recent.back().map_or(1, |(n, _)| n + 1);
        if recent.len() == FEED_KEEP {
            recent.pop_front();
        }
        recent.push_back((seq, event.clone()));
        drop(recent);
        self.touch();
    }

    /// Something a watcher may want to see again happened (an attempt was logged).
    pub fn touch(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The events kept after place `after`, oldest first.
    pub fn since(&self, after: u64) -> Vec<(u64, Event)> {
        lock(&self.recent)
            .iter()
            .filter(|(n, _)| *n > after)
            .cloned()
            .collect()
    }

    /// The place of the newest event (0: none yet).
    pub fn last(&self) -> u64 {
        lock(&self.recent).back().map_or(0, |(n, _)| *n)
    }

    /// A receiver that sees every change from now on.
    pub fn watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

/// Locks `m`; a panic elsewhere while it was held leaves figures that are still worth reading.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Stats {
    /// The figures of share `name`, made on first use.
    pub fn share(&self, name: &str) -> Arc<ShareStats> {
        Arc::clone(lock(&self.shares).entry(name.to_owned()).or_default())
    }

    /// The figures of webhook `id`, made on first use.
    pub fn webhook(&self, id: u32) -> Arc<HookStats> {
        Arc::clone(lock(&self.webhooks).entry(id).or_insert_with(|| {
            Arc::new(HookStats {
                feed: Some(Arc::clone(&self.feed)),
                ..HookStats::default()
            })
        }))
    }

    /// Forgets the figures of shares and webhooks no longer configured (after a reload).
    pub fn keep_only(&self, shares: &[&str], webhooks: &[u32]) {
        lock(&self.shares).retain(|name, _| shares.contains(&name.as_str()));
        lock(&self.webhooks).retain(|id, _| webhooks.contains(id));
    }

    pub fn shares(&self) -> Vec<(String, Arc<ShareStats>)> {
        lock(&self.shares)
            .iter()
            .map(|(k, v)| (k.clone(), Arc::clone(v)))
            .collect()
    }

    pub fn webhooks(&self) -> Vec<(u32, Arc<HookStats>)> {
        lock(&self.webhooks)
            .iter()
            .map(|(k, v)| (*k, Arc::clone(v)))
            .collect()
    }
}

/// How a share is being watched, as the engine last said (about once a second).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Watching {
    /// Why the share is polled rather than watched with inotify; `None`: inotify.
    pub polled: Option<String>,
    pub folders_watched: u64,
    /// Folders past the inotify watch limit (read every poll interval instead).
    pub over_limit: Problem,
    /// Folders that cannot be read.
    pub unreadable: Problem,
    /// Folders that can be read but not watched (for another reason than the limit).
    pub unwatchable: Problem,
}

/// How many folders have one kind of problem, and one of them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Problem {
    pub count: u64,
    pub example: Option<String>,
    /// What was wrong with the example (the system's words), when known.
    pub error: Option<String>,
}

/// The last event reported on a share.
#[derive(Clone, Debug, PartialEq)]
pub struct LastEvent {
    pub time_ms: i64,
    pub operation: Operation,
    pub path: String,
}

/// One share's figures.
#[derive(Default)]
pub struct ShareStats {
    events: [AtomicU64; Operation::ALL.len()],
    pub overflows: AtomicU64,
    rescans: Mutex<BTreeMap<&'static str, u64>>,
    last_event: Mutex<Option<LastEvent>>,
    watching: Mutex<Watching>,
}

fn op_index(op: Operation) -> usize {
    Operation::ALL
        .iter()
        .position(|o| *o == op)
        .expect("ALL holds every operation")
}

impl ShareStats {
    /// `event` was committed and queued.
    pub fn reported(&self, event: &Event) {
        self.events[op_index(event.op)].fetch_add(1, Ordering::Relaxed);
        *lock(&self.last_event) = Some(LastEvent {
            time_ms: event.time_ms,
            operation: event.op,
            // Exact (invalid UTF-8 bytes as \xNN); people's forms escape control characters.
            path: crate::core::event::escape_bytes(event.path.as_bytes()),
        });
    }

    /// A whole-share reconcile began; `reason` is one of start, overflow, poll, safety,
    /// recovery, retry.
    pub fn rescanned(&self, reason: &'static str) {
        *lock(&self.rescans).entry(reason).or_default() += 1;
    }

    pub fn set_watching(&self, watching: Watching) {
        *lock(&self.watching) = watching;
    }

    pub fn events(&self, op: Operation) -> u64 {
        self.events[op_index(op)].load(Ordering::Relaxed)
    }

    pub fn rescans(&self) -> BTreeMap<&'static str, u64> {
        lock(&self.rescans).clone()
    }

    pub fn last_event(&self) -> Option<LastEvent> {
        lock(&self.last_event).clone()
    }

    pub fn watching(&self) -> Watching {
        lock(&self.watching).clone()
    }
}

/// The result classes of a delivery attempt.
pub const RESULTS: [&str; 4] = ["2xx", "4xx", "5xx", "transport"];

/// The last failed attempt of a webhook.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    pub time_ms: i64,
    /// An HTTP status, or the curl-style code of a transport error.
    pub status: u32,
    /// Whether no HTTP answer came (`status` is then a curl-style code).
    pub transport: bool,
    /// What went wrong, for a transport error.
    pub message: String,
}

/// One webhook's figures.
#[derive(Default)]
pub struct HookStats {
    results: [AtomicU64; 4],
    /// Milliseconds since the epoch; 0: none since the start.
    last_success_ms: AtomicI64,
    last_failure: Mutex<Option<Failure>>,
    latency: Histogram,
    /// Told of every attempt.
    feed: Option<Arc<Feed>>,
}

impl HookStats {
    /// An attempt was made at `now_ms`; `seen_ms` is when the event was recorded, and is
    /// given for a first delivery from the queue (a resend's wait says nothing of speed).
    pub fn attempted(&self, outcome: &Outcome, seen_ms: Option<i64>, now_ms: i64) {
        let class = match outcome {
            Outcome::Answered { status, .. } => match status {
                200..=299 => 0,
                400..=499 => 1,
                500..=599 => 2,
                // 1xx and 3xx are failures too; counted with the receiver's other refusals.
                _ => 1,
            },
            Outcome::Failed { .. } => 3,
            Outcome::Acknowledged { .. } => 0,
        };
        self.results[class].fetch_add(1, Ordering::Relaxed);
        if let Some(feed) = &self.feed {
            feed.touch();
        }
        if outcome.is_success() {
            self.last_success_ms.store(now_ms, Ordering::Relaxed);
            if let Some(seen) = seen_ms {
                let secs = (now_ms - seen).max(0) as f64 / 1000.0;
                self.latency.observe(secs);
            }
            return;
        }
        let (status, transport, message) = match outcome {
            Outcome::Answered { status, .. } => (u32::from(*status), false, String::new()),
            Outcome::Failed { code, message } => (*code, true, message.clone()),
            Outcome::Acknowledged { .. } => return,
        };
        *lock(&self.last_failure) = Some(Failure {
            time_ms: now_ms,
            status,
            transport,
            message,
        });
    }

    /// How many attempts ended in each class of `RESULTS`.
    pub fn results(&self) -> [u64; 4] {
        std::array::from_fn(|i| self.results[i].load(Ordering::Relaxed))
    }

    /// Sets the last success and the last failure, where none is known yet (from the log,
    /// when the daemon starts).
    pub fn seed(&self, success_ms: Option<i64>, failure: Option<Failure>) {
        if let Some(t) = success_ms {
            let _ =
                self.last_success_ms
                    .compare_exchange(0, t, Ordering::Relaxed, Ordering::Relaxed);
        }
        let mut last = lock(&self.last_failure);
        if last.is_none() {
            *last = failure;
        }
    }

    pub fn last_success_ms(&self) -> Option<i64> {
        Some(self.last_success_ms.load(Ordering::Relaxed)).filter(|t| *t != 0)
    }

    pub fn last_failure(&self) -> Option<Failure> {
        lock(&self.last_failure).clone()
    }

    pub fn latency(&self) -> &Histogram {
        &self.latency
    }
}

/// A Prometheus histogram over `LATENCY_BUCKETS`, kept per bucket (not cumulative).
#[derive(Default)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    /// Observations above the last bound.
    over: AtomicU64,
    /// The sum in microseconds, so that it can be an atomic integer.
    sum_us: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, secs: f64) {
        match LATENCY_BUCKETS.iter().position(|b| secs <= *b) {
            Some(i) => self.buckets[i].fetch_add(1, Ordering::Relaxed),
            None => self.over.fetch_add(1, Ordering::Relaxed),
        };
        self.sum_us
            .fetch_add((secs * 1e6).round() as u64, Ordering::Relaxed);
    }

    /// The cumulative count at each bound, then the total (the `+Inf` bucket), and the sum.
    pub fn snapshot(&self) -> (Vec<u64>, u64, f64) {
        let mut running = 0;
        let cumulative = self
            .buckets
            .iter()
            .map(|b| {
                running += b.load(Ordering::Relaxed);
                running
            })
            .collect();
        let total = running + self.over.load(Ordering::Relaxed);
        let sum = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        (cumulative, total, sum)
    }
}

/// A label value escaped as the text format wants: backslash, double quote and line feed.
pub fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// `{a="x",b="y"}` from label names and values.
fn labels(pairs: &[(&str, &str)]) -> String {
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// A float as Prometheus writes it (`+Inf`, and no `.0` on whole numbers but one digit).
fn number(x: f64) -> String {
    if x.is_infinite() {
        if x > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{x}")
    }
}

/// The text of one metric family: its HELP and TYPE lines, then its samples.
struct Family<'o> {
    out: &'o mut String,
}

impl<'o> Family<'o> {
    fn new(out: &'o mut String, name: &str, kind: &str, help: &str) -> Family<'o> {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        Family { out }
    }

    fn sample(&mut self, name: &str, pairs: &[(&str, &str)], value: impl std::fmt::Display) {
        let l = if pairs.is_empty() {
            String::new()
        } else {
            labels(pairs)
        };
        let _ = writeln!(self.out, "{name}{l} {value}");
    }
}

/// The figures of a webhook the state knows, for the metrics read from the store.
pub struct HookCounts {
    pub id: u32,
    pub queued: u64,
    pub failed: u64,
    pub disabled: bool,
}

/// `render` with what the state says already read.
pub fn render_from(
    stats: &Stats,
    shares: &[(String, Arc<ShareStats>, Option<u64>)],
    hooks: &[HookCounts],
) -> String {
    let mut out = String::new();
    let o = &mut out;

    let mut f = Family::new(o, "sharehook_up", "gauge", "1 while the daemon runs.");
    f.sample("sharehook_up", &[], 1);

    let mut f = Family::new(
        o,
        "sharehook_events_total",
        "counter",
        "Events reported, by share and operation.",
    );
    for (name, s, _) in shares {
        for op in Operation::ALL {
            let pairs = [("share", name.as_str()), ("operation", op.trigger())];
            f.sample("sharehook_events_total", &pairs, s.events(op));
        }
    }

    let mut f = Family::new(
        o,
        "sharehook_overflows_total",
        "counter",
        "Overflows of the kernel's event queue seen on a share (each is followed by a rescan).",
    );
    for (name, s, _) in shares {
        let n = s.overflows.load(Ordering::Relaxed);
        f.sample("sharehook_overflows_total", &[("share", name)], n);
    }

    let mut f = Family::new(
        o,
        "sharehook_rescans_total",
        "counter",
        "Reconciles of a whole share with its index, by reason (start, overflow, poll, safety, recovery, retry).",
    );
    for (name, s, _) in shares {
        for (reason, n) in s.rescans() {
            let pairs = [("share", name.as_str()), ("reason", reason)];
            f.sample("sharehook_rescans_total", &pairs, n);
        }
    }

    let mut f = Family::new(
        o,
        "sharehook_index_entries",
        "gauge",
        "Entries (files, folders, links) the index holds for a share.",
    );
    for (name, _, entries) in shares {
        if let Some(n) = entries {
            f.sample("sharehook_index_entries", &[("share", name)], n);
        }
    }

    let mut f = Family::new(
        o,
        "sharehook_watches",
        "gauge",
        "Folders watched with inotify, over every share.",
    );
    f.sample(
        "sharehook_watches",
        &[],
        stats.watches.load(Ordering::Relaxed),
    );

    let hook_stats = stats.webhooks();
    let of = |id: u32| hook_stats.iter().find(|(h, _)| *h == id).map(|(_, s)| s);

    let mut f = Family::new(
        o,
        "sharehook_deliveries_total",
        "counter",
        "Delivery attempts, by webhook and result (2xx, 4xx, 5xx, transport).",
    );
    for h in hooks {
        let results = of(h.id).map(|s| s.results()).unwrap_or_default();
        let id = h.id.to_string();
        for (class, n) in RESULTS.iter().zip(results) {
            let pairs = [("webhook", id.as_str()), ("result", class)];
            f.sample("sharehook_deliveries_total", &pairs, n);
        }
    }

    let mut f = Family::new(
        o,
        "sharehook_queue_depth",
        "gauge",
        "Events waiting in a webhook's queue.",
    );
    for h in hooks {
        let id = h.id.to_string();
        f.sample("sharehook_queue_depth", &[("webhook", &id)], h.queued);
    }

    let mut f = Family::new(
        o,
        "sharehook_failed_events",
        "gauge",
        "Events set aside as failed after their last attempt (see sharehook failed).",
    );
    for h in hooks {
        let id = h.id.to_string();
        f.sample("sharehook_failed_events", &[("webhook", &id)], h.failed);
    }

    let mut f = Family::new(
        o,
        "sharehook_webhook_disabled",
        "gauge",
        "1 when a webhook is disabled (410 Gone, or failing too long).",
    );
    for h in hooks {
        let id = h.id.to_string();
        f.sample(
            "sharehook_webhook_disabled",
            &[("webhook", &id)],
            u8::from(h.disabled),
        );
    }

    let name = "sharehook_delivery_latency_seconds";
    let mut f = Family::new(
        o,
        name,
        "histogram",
        "From an event's recording to its receiver's 2xx answer, first deliveries only.",
    );
    for h in hooks {
        let (cumulative, total, sum) = match of(h.id) {
            Some(s) => s.latency().snapshot(),
            None => (vec![0; LATENCY_BUCKETS.len()], 0, 0.0),
        };
        let id = h.id.to_string();
        for (bound, n) in LATENCY_BUCKETS.iter().zip(cumulative) {
            let le = number(*bound);
            let pairs = [("webhook", id.as_str()), ("le", le.as_str())];
            f.sample(&format!("{name}_bucket"), &pairs, n);
        }
        let pairs = [("webhook", id.as_str()), ("le", "+Inf")];
        f.sample(&format!("{name}_bucket"), &pairs, total);
        f.sample(&format!("{name}_sum"), &[("webhook", &id)], number(sum));
        f.sample(&format!("{name}_count"), &[("webhook", &id)], total);
    }
    out
}

#[cfg(test)]
mod tests;
