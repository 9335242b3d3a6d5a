//! What happened lately, for the overview and the API: the users active in the last 24 hours
//! (how many events each, from which addresses, over which protocols, when last seen) and the
//! events of each hour of that day by operation. Read from the delivery log, with bounded work.
//!
//! **Events, not attempts.** The log keeps one entry per attempt per webhook: an event sent to
//! two webhooks, or retried five times, has several entries, all carrying the same event (the
//! same id, time, user and address). Each event is counted once, by its id. Its operation is
//! the one a webhook heard: routing (`config::Webhook::route`) turns a Move that crosses a
//! webhook's folder into an Upload or a Delete for that webhook, so when the entries of one
//! event disagree the Move or Rename (the event whole) is taken.
//!
//! **What the log knows.** Only events some webhook took and tried at least once are in the
//! log: an event no webhook wanted, one still waiting for its first attempt (a disabled
//! webhook keeps queueing) or one whose entries the log's retention removed is not counted.
//! An event counts by the time it happened (`Event::time_ms`), not the time of its attempts;
//! every attempt is made after its event, so reading the attempts made since the window began
//! finds every event of the window that the log holds.
//!
//! **Bounded work.** Only the attempts made in the window are read (the log's time index),
//! newest first, and at most `READ_CAP` of them: past that the figures are of the newest
//! attempts only and `Recent::complete` is false, which the page says.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::config::Config;
use crate::core::event::Operation;
use crate::core::payload::rfc3339;
use crate::store::{Store, StoreError};

/// How many hours the figures cover: the current hour and the 23 before it.
pub const WINDOW_HOURS: usize = 24;
/// One hour in milliseconds.
pub const HOUR_MS: i64 = 3_600_000;
/// The most log entries (attempts) read for one `Recent`: reading 20,000 entries with bodies
/// of 800 bytes took 44 ms on the test machine (release build, `log_events_by_time`, which
/// leaves the bodies unread), what a page view may pay. A busy box (more than this many
/// attempts in a day) is shown its newest attempts' events, marked incomplete.
pub const READ_CAP: usize = 20_000;
/// The most users listed, the most recently seen first.
pub const PEOPLE_SHOWN: usize = 20;
/// The most addresses and protocols listed for one user, the most recently used first.
pub const ADDRESSES_SHOWN: usize = 8;

/// What happened in the window.
#[derive(Clone, Debug, PartialEq)]
pub struct Recent {
    /// When the window began: the start of its first hour (UTC), in ms since the epoch.
    pub since_ms: i64,
    /// The users active in the window, the most recently seen first, at most `PEOPLE_SHOWN`.
    pub people: Vec<Person>,
    /// How many more users were active than are listed.
    pub more_people: usize,
    /// `WINDOW_HOURS` hours, oldest first, the last being the current hour.
    pub hours: Vec<Hour>,
    /// The events counted, in all.
    pub events: u64,
    /// False when `READ_CAP` stopped the reading before the start of the window.
    pub complete: bool,
}

/// One user's events in the window.
#[derive(Clone, Debug, PartialEq)]
pub struct Person {
    pub user: String,
    pub events: u64,
    /// The client addresses the events came from, the most recently used first, at most
    /// `ADDRESSES_SHOWN` (an event with no known address adds none).
    pub addresses: Vec<String>,
    /// How many more addresses there were than are listed.
    pub more_addresses: usize,
    /// The protocols, the most recently used first (a change seen on the disk with no
    /// evidence of who made it carries its share's label, as its webhook body does).
    pub protocols: Vec<String>,
    /// The time of the user's newest event, in ms since the epoch.
    pub last_seen_ms: i64,
}

/// One hour's events, by operation.
#[derive(Clone, Debug, PartialEq)]
pub struct Hour {
    /// The start of the hour (UTC), in ms since the epoch.
    pub start_ms: i64,
    /// One count per operation, in the order of `Operation::ALL`.
    pub counts: Vec<(Operation, u64)>,
}

impl Hour {
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|(_, n)| n).sum()
    }
}

impl Recent {
    /// The events of each operation over the whole window, in the order of `Operation::ALL`.
    pub fn totals(&self) -> Vec<(Operation, u64)> {
        Operation::ALL
            .iter()
            .enumerate()
            .map(|(i, op)| (*op, self.hours.iter().map(|h| h.counts[i].1).sum()))
            .collect()
    }
}

/// `r` as JSON, for the API (`GET /api/v2/status/recent`): times in RFC 3339, each hour's
/// events by trigger name (`upload`, `createFolder`...).
pub fn to_json(r: &Recent) -> Value {
    let by_op = |counts: &[(Operation, u64)]| -> serde_json::Map<String, Value> {
        counts
            .iter()
            .map(|(op, n)| (op.trigger().to_owned(), json!(n)))
            .collect()
    };
    json!({
        "since": rfc3339(r.since_ms),
        "events": r.events,
        "complete": r.complete,
        "readCap": READ_CAP,
        "totals": by_op(&r.totals()),
        "people": r.people.iter().map(|p| json!({
            "username": p.user,
            "events": p.events,
            "addresses": p.addresses,
            "moreAddresses": p.more_addresses,
            "protocols": p.protocols,
            "lastSeen": rfc3339(p.last_seen_ms),
        })).collect::<Vec<_>>(),
        "morePeople": r.more_people,
        "hours": r.hours.iter().map(|h| json!({
            "start": rfc3339(h.start_ms),
            "total": h.total(),
            "events": by_op(&h.counts),
        })).collect::<Vec<_>>(),
    })
}

/// What one event adds: read from the first of its entries, the operation possibly replaced.
struct Seen {
    op: Operation,
    time_ms: i64,
    user: String,
    address: String,
    protocol: String,
}

/// The figures of the window that ends with the hour of `now_ms`, from `store`'s log; a
/// change seen on the disk counts under its share's protocol label from `config`.
pub fn collect(store: &Store, config: &Config, now_ms: i64) -> Result<Recent, StoreError> {
    collect_capped(store, config, now_ms, READ_CAP)
}

/// `collect`, reading at most `cap` log entries.
pub fn collect_capped(
    store: &Store,
    config: &Config,
    now_ms: i64,
    cap: usize,
) -> Result<Recent, StoreError> {
    let current = now_ms.div_euclid(HOUR_MS) * HOUR_MS;
    let since_ms = current - (WINDOW_HOURS as i64 - 1) * HOUR_MS;
    let label = |share: &str| {
        config
            .shares
            .iter()
            .find(|s| s.name == share)
            .map_or_else(String::new, |s| s.protocol.clone())
    };
    let mut seen: HashMap<u64, Seen> = HashMap::new();
    let mut read = 0usize;
    let mut complete = true;
    store.log_events_by_time(Some(since_ms), |_, e| {
        if read == cap {
            complete = false;
            return false;
        }
        read += 1;
        if e.time_ms < since_ms {
            // An attempt in the window of an event from before it (a retry, a resend).
            return true;
        }
        match seen.get_mut(&e.id) {
            Some(s) => {
                if e.op.has_source() && !s.op.has_source() {
                    s.op = e.op;
                }
            }
            None => {
                let protocol = e.protocol.unwrap_or_else(|| label(&e.share));
                seen.insert(
                    e.id,
                    Seen {
                        op: e.op,
                        time_ms: e.time_ms,
                        user: e.username,
                        address: e.address,
                        protocol,
                    },
                );
            }
        }
        true
    })?;
    Ok(summarize(seen.into_values(), since_ms, complete))
}

/// A user's figures while they are added up.
#[derive(Default)]
struct Tally {
    events: u64,
    last_seen_ms: i64,
    /// Each address and protocol with the time it was last used.
    addresses: HashMap<String, i64>,
    protocols: HashMap<String, i64>,
}

fn summarize(events: impl Iterator<Item = Seen>, since_ms: i64, complete: bool) -> Recent {
    let mut hours: Vec<Hour> = (0..WINDOW_HOURS)
        .map(|i| Hour {
            start_ms: since_ms + i as i64 * HOUR_MS,
            counts: Operation::ALL.iter().map(|op| (*op, 0)).collect(),
        })
        .collect();
    let mut users: HashMap<String, Tally> = HashMap::new();
    let mut total = 0;
    for e in events {
        total += 1;
        // An event stamped after the current hour (the clock was set back) counts in it.
        let hour = usize::try_from((e.time_ms - since_ms) / HOUR_MS)
            .map_or(0, |h| h.min(WINDOW_HOURS - 1));
        if let Some(slot) = hours[hour].counts.iter_mut().find(|(op, _)| *op == e.op) {
            slot.1 += 1;
        }
        let t = users.entry(e.user).or_default();
        t.events += 1;
        t.last_seen_ms = t.last_seen_ms.max(e.time_ms);
        if !e.address.is_empty() {
            let at = t.addresses.entry(e.address).or_insert(e.time_ms);
            *at = (*at).max(e.time_ms);
        }
        if !e.protocol.is_empty() {
            let at = t.protocols.entry(e.protocol).or_insert(e.time_ms);
            *at = (*at).max(e.time_ms);
        }
    }
    let mut people: Vec<Person> = users
        .into_iter()
        .map(|(user, t)| {
            let (addresses, more_addresses) = newest_first(t.addresses);
            let (protocols, _) = newest_first(t.protocols);
            Person {
                user,
                events: t.events,
                addresses,
                more_addresses,
                protocols,
                last_seen_ms: t.last_seen_ms,
            }
        })
        .collect();
    people.sort_by(|a, b| {
        b.last_seen_ms
            .cmp(&a.last_seen_ms)
            .then_with(|| a.user.cmp(&b.user))
    });
    let more_people = people.len().saturating_sub(PEOPLE_SHOWN);
    people.truncate(PEOPLE_SHOWN);
    Recent {
        since_ms,
        people,
        more_people,
        hours,
        events: total,
        complete,
    }
}

/// The names of `used` (name → last used), the most recently used first (ties by name), at
/// most `ADDRESSES_SHOWN`, and how many more there were.
fn newest_first(used: HashMap<String, i64>) -> (Vec<String>, usize) {
    let mut list: Vec<(String, i64)> = used.into_iter().collect();
    list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let more = list.len().saturating_sub(ADDRESSES_SHOWN);
    let names = list
        .into_iter()
        .take(ADDRESSES_SHOWN)
        .map(|(name, _)| name)
        .collect();
    (names, more)
}

#[cfg(test)]
mod tests;
