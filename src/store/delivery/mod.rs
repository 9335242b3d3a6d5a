//! The delivery half of the state: each webhook's queue, its failed events, its secrets and
//! health, and the delivery log (one entry per attempt).
//!
//! Failed events live apart from the log, in `failed`: the log's retention never makes one
//! unlistable or unresendable. An event is in at most one of its webhook's queue and
//! `failed`: `requeue_failed` moves it back, and a successful resend takes it out.

mod attempts;
mod webhooks;

use redb::{ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::{Batch, META, Store, StoreError, encode_as};
use crate::core::event::Event;
use crate::core::sign::{Keys, Secret, Token};

pub(super) const QUEUE: TableDefinition<(u32, u64), &[u8]> = TableDefinition::new("queue");
const FAILED: TableDefinition<(u32, u64), &[u8]> = TableDefinition::new("failed");
const WEBHOOKS: TableDefinition<u32, &[u8]> = TableDefinition::new("webhooks");
/// Per webhook: (events in its queue, events dropped by the queue limit, ever).
const COUNTS: TableDefinition<u32, (u64, u64)> = TableDefinition::new("counts");
/// The delivery log: entry id (increasing) -> `LogEntry`.
const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
/// The log in the order attempts were made: (time, entry id) to the entry's webhook. Entry ids
/// follow the order attempts were written, which a slow receiver puts out of time order.
const LOG_TIME: TableDefinition<(i64, u64), u32> = TableDefinition::new("log_time");

/// The version byte of `WebhookRecord` (1 was token and URL only).
const WEBHOOK_RECORD: u8 = 2;
/// The version byte of `Pending` (1 had no `resend` and `round_start`; 1 and 2 hold an
/// `EventV1`, 3 an `EventV2`).
const PENDING_RECORD: u8 = 4;
/// The version byte of `SetAside` and `LogEntry` (1 holds an `EventV1`, 2 an `EventV2`).
const SET_ASIDE_RECORD: u8 = 3;
const LOG_RECORD: u8 = 3;

/// How much of a receiver's answer the log keeps.
pub const LOG_RESPONSE_BYTES: usize = 1024;

/// An event waiting in a webhook's queue, with where its delivery stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub webhook: u32,
    pub event: Event,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due, in milliseconds since the Unix epoch.
    pub due_ms: i64,
    /// What the last attempt got: an HTTP status or a transport error.
    pub last_result: Option<String>,
    /// True when it was set aside as failed and sent back to the queue: its attempts are
    /// resends.
    pub resend: bool,
    /// The attempts made before the current round of the retry schedule (a failed event sent
    /// back gets a fresh round, its attempt numbers going on).
    pub round_start: u32,
}

#[derive(Deserialize)]
struct PendingV1 {
    webhook: u32,
    event: EventV1,
    attempts: u32,
    due_ms: i64,
    last_result: Option<String>,
}

/// `Pending` as versions 2 (`E` = `EventV1`) and 3 (`E` = `EventV2`) wrote it.
#[derive(Deserialize)]
struct PendingOf<E> {
    webhook: u32,
    event: E,
    attempts: u32,
    due_ms: i64,
    last_result: Option<String>,
    resend: bool,
    round_start: u32,
}

impl<E: Into<Event>> PendingOf<E> {
    fn upgrade(self) -> Pending {
        Pending {
            webhook: self.webhook,
            event: self.event.into(),
            attempts: self.attempts,
            due_ms: self.due_ms,
            last_result: self.last_result,
            resend: self.resend,
            round_start: self.round_start,
        }
    }
}

/// An `Event` as records before its `address` and `attribution` (when only API changes were
/// attributed).
#[derive(Deserialize)]
struct EventV2 {
    id: u64,
    op: crate::core::event::Operation,
    share: String,
    path: crate::core::event::SharePath,
    source: Option<crate::core::event::SharePath>,
    is_dir: bool,
    username: String,
    time_ms: i64,
    size: Option<u64>,
    protocol: Option<String>,
}

impl From<EventV2> for Event {
    fn from(e: EventV2) -> Event {
        let attribution = match e.protocol.as_deref() {
            Some("api") => crate::core::event::Attribution::Api,
            _ => crate::core::event::Attribution::Owner,
        };
        Event {
            id: e.id,
            op: e.op,
            share: e.share,
            path: e.path,
            source: e.source,
            is_dir: e.is_dir,
            username: e.username,
            time_ms: e.time_ms,
            size: e.size,
            protocol: e.protocol,
            address: String::new(),
            attribution,
        }
    }
}

impl<E: Into<Event>> SetAside<E> {
    fn upgrade(self) -> SetAside {
        SetAside {
            webhook: self.webhook,
            event: self.event.into(),
            attempts: self.attempts,
            failed_ms: self.failed_ms,
            last_result: self.last_result,
        }
    }
}

/// An `Event` as records before the event's own `protocol` held it (postcard writes fields
/// in order with no names, so a record keeps the layout it was written with).
#[derive(Deserialize)]
struct EventV1 {
    id: u64,
    op: crate::core::event::Operation,
    share: String,
    path: crate::core::event::SharePath,
    source: Option<crate::core::event::SharePath>,
    is_dir: bool,
    username: String,
    time_ms: i64,
    size: Option<u64>,
}

impl From<EventV1> for Event {
    fn from(e: EventV1) -> Event {
        EventV2 {
            id: e.id,
            op: e.op,
            share: e.share,
            path: e.path,
            source: e.source,
            is_dir: e.is_dir,
            username: e.username,
            time_ms: e.time_ms,
            size: e.size,
            protocol: None,
        }
        .into()
    }
}

/// An event whose every attempt failed, kept so it can be looked at and sent again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SetAside<E = Event> {
    pub webhook: u32,
    pub event: E,
    pub attempts: u32,
    pub failed_ms: i64,
    pub last_result: String,
}

/// One event to commit, and the webhooks it goes to (each with the event as that webhook
/// sees it, and when its first attempt is due).
pub struct NewEvent {
    pub event: Event,
    pub deliveries: Vec<(u32, Event, i64)>,
}

/// Why a webhook stopped sending, and since when.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Disabled {
    pub since_ms: i64,
    pub reason: String,
}

/// How a webhook is doing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// The first failure since the last success.
    pub failing_since_ms: Option<i64>,
    /// Set when it was disabled (410 Gone, or failing too long); its events keep queueing.
    pub disabled: Option<Disabled>,
}

#[derive(Serialize, Deserialize)]
struct WebhookRecordV1 {
    token: String,
    url: String,
}

#[derive(Serialize, Deserialize)]
struct WebhookRecord {
    url: String,
    token: String,
    /// A replaced token and until when it keeps signing.
    previous_token: Option<(String, i64)>,
    secret: Option<String>,
    previous_secret: Option<(String, i64)>,
    health: Health,
}

/// What a webhook signs with, and how it is doing.
#[derive(Clone, Debug)]
pub struct WebhookState {
    pub keys: Keys,
    pub health: Health,
    /// The URL the state knew, when the configuration now names another.
    pub moved_from: Option<String>,
}

/// One delivery attempt, as the log keeps it. `LogEventView` mirrors its fields up to `event`:
/// a field added or moved before `event` is a new `LOG_RECORD` version, and changes both.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogEntry<E = Event> {
    /// Given when the entry is stored; increasing.
    pub id: u64,
    pub time_ms: i64,
    pub webhook: u32,
    /// `v1` or `v2`.
    pub format: String,
    pub attempt: u32,
    pub resend: bool,
    /// The endpoint, without credentials or query.
    pub url: String,
    /// The HTTP status, or for a transport failure the curl-style code.
    pub status: u32,
    /// True when `status` is a transport failure's code.
    pub transport: bool,
    /// What went wrong, for a transport failure.
    pub message: String,
    pub response_size: u64,
    /// The first `LOG_RESPONSE_BYTES` of the answer.
    pub response: Vec<u8>,
    pub duration_ms: u64,
    pub event: E,
    pub body: Vec<u8>,
}

impl LogEntry {
    pub fn attempt_id(&self) -> String {
        format!("{}-{}", self.event.id, self.attempt)
    }

    pub fn success(&self) -> bool {
        !self.transport && (200..300).contains(&self.status)
    }

    /// What a broker said when it took the message (`stream FILES seq 12`, `PUBACK`); `None`
    /// for an HTTP answer or a failure.
    pub fn broker_answer(&self) -> Option<&str> {
        (!self.transport && !self.message.is_empty()).then_some(self.message.as_str())
    }
}

/// Which attempts `LogFilter::status` keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogStatus {
    /// This HTTP status, or this transport failure's code.
    Code(u32),
    /// An HTTP answer of this class: 2 for 2xx, 5 for 5xx.
    Class(u32),
    /// No HTTP answer: the connection, TLS or a timeout failed.
    Transport,
    /// The attempts of the events that are set aside as failed now.
    SetAside,
}

/// Which log entries to list.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogFilter {
    pub webhook: Option<u32>,
    pub status: Option<LogStatus>,
    pub event_id: Option<u64>,
    /// A dotted event name (`resources.upload`).
    pub event_name: Option<String>,
    pub since_ms: Option<i64>,
    pub attempt_id: Option<String>,
    pub limit: usize,
}

impl LogFilter {
    fn matches(&self, e: &LogEntry) -> bool {
        let status = match self.status {
            None | Some(LogStatus::SetAside) => true,
            Some(LogStatus::Code(c)) => e.status == c,
            Some(LogStatus::Class(c)) => !e.transport && e.status / 100 == c,
            Some(LogStatus::Transport) => e.transport,
        };
        status
            && self.webhook.is_none_or(|w| e.webhook == w)
            && self.event_id.is_none_or(|id| e.event.id == id)
            && self
                .event_name
                .as_deref()
                .is_none_or(|n| e.event.op.v2_name() == n)
            && self
                .attempt_id
                .as_deref()
                .is_none_or(|a| e.attempt_id() == a)
    }
}

/// What `Store::log` reads first of each entry.
struct LogHead {
    time_ms: i64,
    webhook: u32,
}

/// The results of a run of attempts, written in one transaction.
#[derive(Debug, Default)]
pub struct Flush {
    pub webhook: u32,
    /// Queue keys (event ids) delivered.
    pub delivered: Vec<u64>,
    /// Events delivered by a resend: no longer failed, if they were.
    pub resolved: Vec<u64>,
    /// The head after a failed attempt, with its next due time.
    pub retry: Option<Pending>,
    /// The head after its last attempt failed.
    pub set_aside: Option<SetAside>,
    pub log: Vec<LogEntry>,
    pub health: Option<Health>,
}

impl Flush {
    pub fn is_empty(&self) -> bool {
        self.delivered.is_empty()
            && self.resolved.is_empty()
            && self.retry.is_none()
            && self.set_aside.is_none()
            && self.log.is_empty()
            && self.health.is_none()
    }
}

/// What log retention removed in one flush.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub by_count: u64,
    pub by_age: u64,
}

/// What a flush wrote: the ids its log entries got, in order, and what retention removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Flushed {
    pub log_ids: Vec<u64>,
    pub pruned: Pruned,
}

impl Store {
    pub(super) fn init_delivery(&self, tx: &WriteTransaction) -> Result<(), StoreError> {
        tx.open_table(QUEUE).map_err(self.err())?;
        tx.open_table(FAILED).map_err(self.err())?;
        tx.open_table(WEBHOOKS).map_err(self.err())?;
        let log = tx.open_table(LOG).map_err(self.err())?;
        let mut by_time = tx.open_table(LOG_TIME).map_err(self.err())?;
        let mut meta = tx.open_table(META).map_err(self.err())?;
        if meta.get("log_time").map_err(self.err())?.is_none() {
            // A state from before the time index: index each entry once. An entry whose
            // record cannot be read stays in the log, out of the lists, as it was.
            for item in log.iter().map_err(self.err())? {
                let (key, value) = item.map_err(self.err())?;
                match self.log_head(value.value()) {
                    Ok(head) => {
                        by_time
                            .insert((head.time_ms, key.value()), head.webhook)
                            .map_err(self.err())?;
                    }
                    Err(e) => log::warn!("state: log entry {} is left unlisted: {e}", key.value()),
                }
            }
            meta.insert("log_time", 1).map_err(self.err())?;
        }
        drop((log, by_time));
        if meta.get("counts").map_err(self.err())?.is_none() {
            // A state from before the counts: count each queue once.
            let queue = tx.open_table(QUEUE).map_err(self.err())?;
            let mut counts = tx.open_table(COUNTS).map_err(self.err())?;
            for item in queue.iter().map_err(self.err())? {
                let (key, _) = item.map_err(self.err())?;
                let webhook = key.value().0;
                let (n, d) = self.counts_in(&counts, webhook)?;
                counts.insert(webhook, (n + 1, d)).map_err(self.err())?;
            }
            meta.insert("counts", 1).map_err(self.err())?;
        }
        Ok(())
    }

    /// Commits a batch of events in one transaction, giving each its id; returns the ids.
    #[cfg(test)]
    pub fn enqueue(&self, batch: &[NewEvent]) -> Result<Vec<u64>, StoreError> {
        let mut tx = self.batch()?;
        let ids = batch
            .iter()
            .map(|item| tx.enqueue(item))
            .collect::<Result<Vec<u64>, StoreError>>()?;
        tx.commit()?;
        Ok(ids)
    }

    /// The oldest `n` undelivered events of `webhook`, in order.
    pub fn front(&self, webhook: u32, n: usize) -> Result<Vec<Pending>, StoreError> {
        let tx = self.read()?;
        let table = tx.open_table(QUEUE).map_err(self.err())?;
        let range = table
            .range((webhook, 0)..=(webhook, u64::MAX))
            .map_err(self.err())?;
        range
            .take(n)
            .map(|entry| {
                let (_, value) = entry.map_err(self.err())?;
                self.pending_record(value.value())
            })
            .collect()
    }

    fn pending_record(&self, bytes: &[u8]) -> Result<Pending, StoreError> {
        match bytes.first() {
            Some(1) => {
                let old: PendingV1 = self.decode("queue", bytes)?;
                Ok(Pending {
                    webhook: old.webhook,
                    event: old.event.into(),
                    attempts: old.attempts,
                    due_ms: old.due_ms,
                    last_result: old.last_result,
                    resend: false,
                    round_start: 0,
                })
            }
            Some(2) => Ok(self
                .decode_as::<PendingOf<EventV1>>("queue", bytes, 2)?
                .upgrade()),
            Some(3) => Ok(self
                .decode_as::<PendingOf<EventV2>>("queue", bytes, 3)?
                .upgrade()),
            _ => self.decode_as("queue", bytes, PENDING_RECORD),
        }
    }

    fn set_aside_record(&self, bytes: &[u8]) -> Result<SetAside, StoreError> {
        match bytes.first() {
            Some(1) => Ok(self.decode::<SetAside<EventV1>>("failed", bytes)?.upgrade()),
            Some(2) => Ok(self
                .decode_as::<SetAside<EventV2>>("failed", bytes, 2)?
                .upgrade()),
            _ => self.decode_as("failed", bytes, SET_ASIDE_RECORD),
        }
    }

    /// The queued record of `event_id` at `webhook`, if it is queued.
    fn queued(&self, webhook: u32, event_id: u64) -> Result<Option<Pending>, StoreError> {
        let tx = self.read()?;
        let table = tx.open_table(QUEUE).map_err(self.err())?;
        match table.get((webhook, event_id)).map_err(self.err())? {
            Some(v) => Ok(Some(self.pending_record(v.value())?)),
            None => Ok(None),
        }
    }

    /// The oldest undelivered event of `webhook`.
    #[cfg(test)]
    pub fn head(&self, webhook: u32) -> Result<Option<Pending>, StoreError> {
        Ok(self.front(webhook, 1)?.pop())
    }

    /// Writes the results of a run of attempts in one transaction, and prunes the log.
    pub fn flush(&self, f: &Flush, now_ms: i64) -> Result<Flushed, StoreError> {
        let limits = self.limits();
        let tx = self.begin()?;
        let pruned = {
            let mut queue = tx.open_table(QUEUE).map_err(self.err())?;
            let mut counts = tx.open_table(COUNTS).map_err(self.err())?;
            let mut removed = 0u64;
            for id in &f.delivered {
                if queue
                    .remove((f.webhook, *id))
                    .map_err(self.err())?
                    .is_some()
                {
                    removed += 1;
                }
            }
            if let Some(p) = &f.retry {
                // Only while it is still queued: the queue limit may have dropped it.
                let key = (f.webhook, p.event.id);
                if queue.get(key).map_err(self.err())?.is_some() {
                    queue
                        .insert(key, encode_as(p, PENDING_RECORD).as_slice())
                        .map_err(self.err())?;
                }
            }
            if !f.resolved.is_empty() {
                let mut failed = tx.open_table(FAILED).map_err(self.err())?;
                for id in &f.resolved {
                    failed.remove((f.webhook, *id)).map_err(self.err())?;
                }
            }
            if let Some(s) = &f.set_aside {
                let key = (f.webhook, s.event.id);
                if queue.remove(key).map_err(self.err())?.is_some() {
                    removed += 1;
                }
                tx.open_table(FAILED)
                    .map_err(self.err())?
                    .insert(key, encode_as(s, SET_ASIDE_RECORD).as_slice())
                    .map_err(self.err())?;
            }
            if removed > 0 {
                let (n, d) = self.counts_in(&counts, f.webhook)?;
                counts
                    .insert(f.webhook, (n.saturating_sub(removed), d))
                    .map_err(self.err())?;
            }
            if let Some(h) = &f.health {
                let mut table = tx.open_table(WEBHOOKS).map_err(self.err())?;
                let record = table
                    .get(f.webhook)
                    .map_err(self.err())?
                    .map(|v| self.webhook_record(v.value()))
                    .transpose()?;
                if let Some(mut record) = record {
                    record.health = h.clone();
                    table
                        .insert(f.webhook, encode_as(&record, WEBHOOK_RECORD).as_slice())
                        .map_err(self.err())?;
                }
            }
            self.append_log(&tx, &f.log, &limits, now_ms)?
        };
        tx.commit().map_err(self.err())?;
        Ok(pruned)
    }

    /// Whether the state knows webhook `id`: it has started (from the configuration or the
    /// API) at least once with this state.
    pub fn knows_webhook(&self, id: u32) -> Result<bool, StoreError> {
        let tx = self.read()?;
        let table = tx.open_table(WEBHOOKS).map_err(self.err())?;
        Ok(table.get(id).map_err(self.err())?.is_some())
    }

    /// How many events wait in `webhook`'s queue, and how many the queue limit ever dropped.
    pub fn queue_counts(&self, webhook: u32) -> Result<(u64, u64), StoreError> {
        let tx = self.read()?;
        let counts = tx.open_table(COUNTS).map_err(self.err())?;
        self.counts_in(&counts, webhook)
    }

    /// (queued, dropped) of `webhook` in `table` (the counts), zero for one it does not have.
    fn counts_in(
        &self,
        table: &impl ReadableTable<u32, (u64, u64)>,
        webhook: u32,
    ) -> Result<(u64, u64), StoreError> {
        Ok(table
            .get(webhook)
            .map_err(self.err())?
            .map_or((0, 0), |v| v.value()))
    }

    /// How many events wait in `webhook`'s queue.
    pub fn pending_count(&self, webhook: u32) -> Result<u64, StoreError> {
        Ok(self.queue_counts(webhook)?.0)
    }

    /// How many of `webhook`'s events were set aside as failed.
    pub fn failed_count(&self, webhook: u32) -> Result<u64, StoreError> {
        let tx = self.read()?;
        let table = tx.open_table(FAILED).map_err(self.err())?;
        let range = table
            .range((webhook, 0)..=(webhook, u64::MAX))
            .map_err(self.err())?;
        Ok(range.count() as u64)
    }

    /// The failed events of `webhook`, oldest first.
    pub fn failed(&self, webhook: u32) -> Result<Vec<SetAside>, StoreError> {
        self.failed_events(Some(webhook))
    }

    /// The failed events of `webhook` (of every webhook with `None`), by webhook, oldest
    /// first.
    pub fn failed_events(&self, webhook: Option<u32>) -> Result<Vec<SetAside>, StoreError> {
        let tx = self.read()?;
        let table = tx.open_table(FAILED).map_err(self.err())?;
        let range = match webhook {
            Some(w) => table.range((w, 0)..=(w, u64::MAX)),
            None => table.range::<(u32, u64)>(..),
        }
        .map_err(self.err())?;
        range
            .map(|entry| {
                let (_, value) = entry.map_err(self.err())?;
                self.set_aside_record(value.value())
            })
            .collect()
    }

    /// Failed event `event_id` of `webhook`, if it is one.
    pub fn failed_event(
        &self,
        webhook: u32,
        event_id: u64,
    ) -> Result<Option<SetAside>, StoreError> {
        let tx = self.read()?;
        let table = tx.open_table(FAILED).map_err(self.err())?;
        match table.get((webhook, event_id)).map_err(self.err())? {
            Some(v) => Ok(Some(self.set_aside_record(v.value())?)),
            None => Ok(None),
        }
    }

    /// Puts the failed events of `webhooks` that failed at or after `since_ms` back into
    /// their webhook's queue, due at `now_ms`, for a fresh round of the retry schedule with
    /// their attempt numbers going on; in one transaction. Returns how many, per webhook.
    pub fn requeue_failed(
        &self,
        webhooks: &[u32],
        since_ms: Option<i64>,
        now_ms: i64,
    ) -> Result<Vec<(u32, u64)>, StoreError> {
        let tx = self.begin()?;
        let mut moved = Vec::new();
        {
            let mut failed = tx.open_table(FAILED).map_err(self.err())?;
            let mut queue = tx.open_table(QUEUE).map_err(self.err())?;
            let mut counts = tx.open_table(COUNTS).map_err(self.err())?;
            for &webhook in webhooks {
                let mut chosen = Vec::new();
                for entry in failed
                    .range((webhook, 0)..=(webhook, u64::MAX))
                    .map_err(self.err())?
                {
                    let (key, value) = entry.map_err(self.err())?;
                    let s: SetAside = self.set_aside_record(value.value())?;
                    if since_ms.is_none_or(|since| s.failed_ms >= since) {
                        chosen.push((key.value().1, s));
                    }
                }
                if chosen.is_empty() {
                    continue;
                }
                let mut added = 0;
                for (id, s) in chosen {
                    failed.remove((webhook, id)).map_err(self.err())?;
                    let pending = Pending {
                        webhook,
                        event: s.event,
                        attempts: s.attempts,
                        due_ms: now_ms,
                        last_result: Some(s.last_result),
                        resend: true,
                        round_start: s.attempts,
                    };
                    let old = queue
                        .insert(
                            (webhook, id),
                            encode_as(&pending, PENDING_RECORD).as_slice(),
                        )
                        .map_err(self.err())?;
                    if old.is_none() {
                        added += 1;
                    }
                }
                let (n, d) = self.counts_in(&counts, webhook)?;
                counts.insert(webhook, (n + added, d)).map_err(self.err())?;
                moved.push((webhook, added));
            }
        }
        tx.commit().map_err(self.err())?;
        Ok(moved)
    }

    /// The webhook ids that have queued events (also those no longer in the configuration).
    pub fn webhooks_with_pending(&self) -> Result<Vec<u32>, StoreError> {
        let tx = self.read()?;
        let counts = tx.open_table(COUNTS).map_err(self.err())?;
        let mut ids = Vec::new();
        for item in counts.iter().map_err(self.err())? {
            let (key, value) = item.map_err(self.err())?;
            if value.value().0 > 0 {
                ids.push(key.value());
            }
        }
        Ok(ids)
    }
}

impl Batch<'_> {
    /// Adds `item` to the queues of its webhooks; returns the id it was given. A queue past
    /// the limit loses its oldest events (counted, and returned by `commit`).
    pub fn enqueue(&mut self, item: &NewEvent) -> Result<u64, StoreError> {
        let store = self.store;
        let mut meta = self.tx.open_table(META).map_err(|e| store.fail(e))?;
        let id = match self.next_event_id {
            Some(id) => id,
            None => meta
                .get("next_event_id")
                .map_err(|e| store.fail(e))?
                .map(|v| v.value())
                .ok_or_else(|| store.damaged("it has no next event id".into()))?,
        };
        self.next_event_id = Some(id + 1);
        meta.insert("next_event_id", id + 1)
            .map_err(|e| store.fail(e))?;
        let mut queue = self.tx.open_table(QUEUE).map_err(|e| store.fail(e))?;
        let mut counts = self.tx.open_table(COUNTS).map_err(|e| store.fail(e))?;
        for (webhook, event, due_ms) in &item.deliveries {
            let mut event = event.clone();
            event.id = id;
            let pending = Pending {
                webhook: *webhook,
                event,
                attempts: 0,
                due_ms: *due_ms,
                last_result: None,
                resend: false,
                round_start: 0,
            };
            queue
                .insert(
                    (*webhook, id),
                    encode_as(&pending, PENDING_RECORD).as_slice(),
                )
                .map_err(|e| store.fail(e))?;
            let (mut n, mut d) = store.counts_in(&counts, *webhook)?;
            n += 1;
            if n > self.limits.queue_limit {
                let excess = n - self.limits.queue_limit;
                let oldest: Vec<u64> = queue
                    .range((*webhook, 0)..=(*webhook, u64::MAX))
                    .map_err(|e| store.fail(e))?
                    .take(usize::try_from(excess).unwrap_or(usize::MAX))
                    .map(|item| item.map(|(k, _)| k.value().1))
                    .collect::<Result<_, _>>()
                    .map_err(|e| store.fail(e))?;
                for key in &oldest {
                    queue.remove((*webhook, *key)).map_err(|e| store.fail(e))?;
                }
                n -= oldest.len() as u64;
                d += oldest.len() as u64;
                match self.dropped.iter_mut().find(|(w, _)| w == webhook) {
                    Some((_, k)) => *k += oldest.len() as u64,
                    None => self.dropped.push((*webhook, oldest.len() as u64)),
                }
            }
            counts.insert(*webhook, (n, d)).map_err(|e| store.fail(e))?;
        }
        Ok(id)
    }
}

#[cfg(test)]
mod tests;
