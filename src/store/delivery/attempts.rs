//! The delivery log: every attempt appended as it is made, read newest first (with filters)
//! or in time order, and pruned by count and age.

use super::*;

/// A `LogEntry` record (`LOG_RECORD`) read up to its event, its text and bytes borrowed from
/// the record: postcard writes a struct's fields in order with no names, so these are
/// `LogEntry`'s first fields, in its order (`log_events_by_time` is tested against records
/// `flush` wrote), and the body after the event is left unread.
#[derive(Deserialize)]
struct LogEventView<'a> {
    _id: u64,
    time_ms: i64,
    _webhook: u32,
    _format: &'a str,
    _attempt: u32,
    _resend: bool,
    _url: &'a str,
    _status: u32,
    _transport: bool,
    _message: &'a str,
    _response_size: u64,
    _response: &'a [u8],
    _duration_ms: u64,
    event: Event,
}

impl Store {
    pub(super) fn log_record(&self, bytes: &[u8]) -> Result<LogEntry, StoreError> {
        fn upgrade<E: Into<Event>>(old: LogEntry<E>) -> LogEntry {
            LogEntry {
                id: old.id,
                time_ms: old.time_ms,
                webhook: old.webhook,
                format: old.format,
                attempt: old.attempt,
                resend: old.resend,
                url: old.url,
                status: old.status,
                transport: old.transport,
                message: old.message,
                response_size: old.response_size,
                response: old.response,
                duration_ms: old.duration_ms,
                event: old.event.into(),
                body: old.body,
            }
        }
        match bytes.first() {
            Some(1) => Ok(upgrade(self.decode::<LogEntry<EventV1>>("log", bytes)?)),
            Some(2) => Ok(upgrade(
                self.decode_as::<LogEntry<EventV2>>("log", bytes, 2)?,
            )),
            _ => self.decode_as("log", bytes, LOG_RECORD),
        }
    }

    pub(super) fn append_log(
        &self,
        tx: &WriteTransaction,
        entries: &[LogEntry],
        limits: &crate::store::Limits,
        now_ms: i64,
    ) -> Result<Flushed, StoreError> {
        let mut pruned = Pruned::default();
        let mut log_ids = Vec::with_capacity(entries.len());
        if entries.is_empty() {
            return Ok(Flushed { log_ids, pruned });
        }
        let mut meta = tx.open_table(META).map_err(self.err())?;
        let mut log = tx.open_table(LOG).map_err(self.err())?;
        let mut by_time = tx.open_table(LOG_TIME).map_err(self.err())?;
        let mut next = meta
            .get("next_log_id")
            .map_err(self.err())?
            .map_or(1, |v| v.value());
        for entry in entries {
            let mut entry = entry.clone();
            entry.id = next;
            log.insert(next, encode_as(&entry, LOG_RECORD).as_slice())
                .map_err(self.err())?;
            by_time
                .insert((entry.time_ms, next), entry.webhook)
                .map_err(self.err())?;
            log_ids.push(next);
            next += 1;
        }
        meta.insert("next_log_id", next).map_err(self.err())?;
        // By count: past the limit, go down to 90% of it, so that pruning (and its log line)
        // comes once per tenth of the limit rather than at every attempt. The first written
        // go first.
        let len = log.len().map_err(self.err())?;
        if len > limits.log_max_entries {
            let keep = limits.log_max_entries - limits.log_max_entries / 10;
            let mut old = Vec::new();
            for item in log.iter().map_err(self.err())?.take((len - keep) as usize) {
                let (key, value) = item.map_err(self.err())?;
                old.push((key.value(), self.log_head(value.value()).ok()));
            }
            for (id, head) in &old {
                log.remove(*id).map_err(self.err())?;
                if let Some(head) = head {
                    by_time.remove((head.time_ms, *id)).map_err(self.err())?;
                }
            }
            pruned.by_count = old.len() as u64;
        }
        // By age: at most ten times per maximum age (and at least once an hour).
        let mut last = self
            .last_age_prune
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let every = (limits.log_max_age_ms / 10).clamp(1, 3_600_000);
        if now_ms - *last >= every {
            *last = now_ms;
            let cutoff = now_ms - limits.log_max_age_ms;
            let mut old = Vec::new();
            for item in by_time.range(..(cutoff, 0)).map_err(self.err())? {
                let (key, _) = item.map_err(self.err())?;
                old.push(key.value());
            }
            for (time_ms, id) in &old {
                log.remove(*id).map_err(self.err())?;
                by_time.remove((*time_ms, *id)).map_err(self.err())?;
            }
            pruned.by_age = old.len() as u64;
        }
        Ok(Flushed { log_ids, pruned })
    }

    /// Log entries that pass `filter`, newest attempt first across webhooks (see
    /// `log_visit_by_time`), at most `filter.limit` (0: all).
    pub fn log(&self, filter: &LogFilter) -> Result<Vec<LogEntry>, StoreError> {
        // One read: the failed events and the log as they were together.
        let tx = self.read()?;
        let set_aside = match filter.status {
            Some(LogStatus::SetAside) => {
                let failed = tx.open_table(FAILED).map_err(self.err())?;
                let mut keys = std::collections::HashSet::new();
                for item in failed.iter().map_err(self.err())? {
                    let (key, _) = item.map_err(self.err())?;
                    keys.insert(key.value());
                }
                Some(keys)
            }
            _ => None,
        };
        let mut out = Vec::new();
        self.log_visit_by_time_in(&tx, filter.since_ms, filter.webhook, |entry| {
            let kept = set_aside
                .as_ref()
                .is_none_or(|keys| keys.contains(&(entry.webhook, entry.event.id)));
            if kept && filter.matches(&entry) {
                out.push(entry);
            }
            filter.limit == 0 || out.len() < filter.limit
        })?;
        Ok(out)
    }

    /// Hands the log entries made at `since_ms` or later (all: None) for `webhook` (all: None)
    /// to `visit`, newest attempt first across webhooks (of two made in the same millisecond,
    /// the later written first), until it returns false.
    pub fn log_visit_by_time(
        &self,
        since_ms: Option<i64>,
        webhook: Option<u32>,
        visit: impl FnMut(LogEntry) -> bool,
    ) -> Result<(), StoreError> {
        let tx = self.read()?;
        self.log_visit_by_time_in(&tx, since_ms, webhook, visit)
    }

    pub(super) fn log_visit_by_time_in(
        &self,
        tx: &redb::ReadTransaction,
        since_ms: Option<i64>,
        webhook: Option<u32>,
        mut visit: impl FnMut(LogEntry) -> bool,
    ) -> Result<(), StoreError> {
        self.log_records_by_time(tx, since_ms, webhook, |bytes| {
            Ok(visit(self.log_record(bytes)?))
        })
    }

    /// Hands the event of each log entry made at `since_ms` or later to `visit`, with the time
    /// of its attempt, in the order of `log_visit_by_time`, until it returns false. Reads each
    /// record only up to its event: the body sent and the answer, most of a record, are
    /// neither copied nor decoded.
    pub fn log_events_by_time(
        &self,
        since_ms: Option<i64>,
        mut visit: impl FnMut(i64, Event) -> bool,
    ) -> Result<(), StoreError> {
        let tx = self.read()?;
        self.log_records_by_time(&tx, since_ms, None, |bytes| {
            let (time_ms, event) = match bytes.split_first() {
                Some((&LOG_RECORD, rest)) => postcard::take_from_bytes::<LogEventView>(rest)
                    .map(|(v, _)| (v.time_ms, v.event))
                    .map_err(|e| {
                        self.damaged(format!("a record in table log is unreadable: {e}"))
                    })?,
                // Older layouts hold older events: read whole, as `log` reads them.
                _ => {
                    let entry = self.log_record(bytes)?;
                    (entry.time_ms, entry.event)
                }
            };
            Ok(visit(time_ms, event))
        })
    }

    /// Hands the record of each log entry made at `since_ms` or later for `webhook` (all: None)
    /// to `visit`, in the order of `log_visit_by_time`, until it returns false.
    fn log_records_by_time(
        &self,
        tx: &redb::ReadTransaction,
        since_ms: Option<i64>,
        webhook: Option<u32>,
        mut visit: impl FnMut(&[u8]) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let log = tx.open_table(LOG).map_err(self.err())?;
        let wanted = |w: u32| webhook.is_none_or(|want| want == w);
        let mut step = |id: u64| -> Result<bool, StoreError> {
            match log.get(id).map_err(self.err())? {
                Some(value) => visit(value.value()),
                None => Ok(true),
            }
        };
        let meta = tx.open_table(META).map_err(self.err())?;
        if meta.get("log_time").map_err(self.err())?.is_some() {
            let by_time = tx.open_table(LOG_TIME).map_err(self.err())?;
            let since = (since_ms.unwrap_or(i64::MIN), 0);
            for item in by_time.range(since..).map_err(self.err())?.rev() {
                let (key, w) = item.map_err(self.err())?;
                if wanted(w.value()) && !step(key.value().1)? {
                    break;
                }
            }
            return Ok(());
        }
        // A state from before the time index, read by a command before the daemon indexed it:
        // every entry's time is read (only the start of its record), then the entries in order.
        let mut order = Vec::new();
        for item in log.iter().map_err(self.err())? {
            let (key, value) = item.map_err(self.err())?;
            let head = self.log_head(value.value())?;
            if since_ms.is_none_or(|t| head.time_ms >= t) && wanted(head.webhook) {
                order.push((head.time_ms, key.value()));
            }
        }
        order.sort_unstable_by(|a, b| b.cmp(a));
        for (_, id) in order {
            if !step(id)? {
                break;
            }
        }
        Ok(())
    }

    /// The first fields of a log record, the same in every version: its time and webhook.
    pub(super) fn log_head(&self, bytes: &[u8]) -> Result<LogHead, StoreError> {
        match bytes.split_first() {
            // Postcard writes a struct's fields in order, as a tuple's: id, time_ms, webhook.
            Some((&(1 | 2 | LOG_RECORD), rest)) => {
                postcard::take_from_bytes::<(u64, i64, u32)>(rest)
                    .map(|((_, time_ms, webhook), _)| LogHead { time_ms, webhook })
                    .map_err(|e| self.damaged(format!("a record in table log is unreadable: {e}")))
            }
            _ => Err(self.damaged("a record in table log has an unknown version".to_owned())),
        }
    }

    /// The highest attempt number logged for `event_id` at `webhook` (0 if none).
    pub fn last_attempt(&self, webhook: u32, event_id: u64) -> Result<u32, StoreError> {
        let entries = self.log(&LogFilter {
            webhook: Some(webhook),
            event_id: Some(event_id),
            ..LogFilter::default()
        })?;
        Ok(entries.iter().map(|e| e.attempt).max().unwrap_or(0))
    }

    /// The number of the next attempt of `event_id` at `webhook`: past every one the log, the
    /// queue or the failed events know of (the log may have pruned the last ones).
    pub fn next_attempt(&self, webhook: u32, event_id: u64) -> Result<u32, StoreError> {
        let logged = self.last_attempt(webhook, event_id)?;
        let queued = self.queued(webhook, event_id)?.map_or(0, |p| p.attempts);
        let failed = self
            .failed_event(webhook, event_id)?
            .map_or(0, |s| s.attempts);
        Ok(logged.max(queued).max(failed) + 1)
    }

    /// How many log entries there are.
    pub fn log_len(&self) -> Result<u64, StoreError> {
        let tx = self.read()?;
        let log = tx.open_table(LOG).map_err(self.err())?;
        log.len().map_err(self.err())
    }

    /// The id of the last log entry written (0: none yet).
    pub fn newest_log_id(&self) -> Result<u64, StoreError> {
        let tx = self.read()?;
        let log = tx.open_table(LOG).map_err(self.err())?;
        Ok(log
            .last()
            .map_err(self.err())?
            .map_or(0, |(k, _)| k.value()))
    }

    /// Hands each log entry to `visit`, newest first, until it returns false.
    pub fn log_visit(&self, mut visit: impl FnMut(LogEntry) -> bool) -> Result<(), StoreError> {
        let tx = self.read()?;
        let log = tx.open_table(LOG).map_err(self.err())?;
        for item in log.iter().map_err(self.err())?.rev() {
            let (_, value) = item.map_err(self.err())?;
            if !visit(self.log_record(value.value())?) {
                break;
            }
        }
        Ok(())
    }

    /// The log entries with these ids (those still kept), in the order given.
    pub fn log_entries(&self, ids: &[u64]) -> Result<Vec<LogEntry>, StoreError> {
        let tx = self.read()?;
        let log = tx.open_table(LOG).map_err(self.err())?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(value) = log.get(*id).map_err(self.err())? {
                out.push(self.log_record(value.value())?);
            }
        }
        Ok(out)
    }
}
