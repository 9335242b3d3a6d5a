//! The retry policy: when a delivery's next attempt is due, or that there is none. Each delay
//! is jittered by ±20% so that many boxes (or many events of one) do not retry in step; a
//! receiver's `Retry-After` on 429 and 503 is honoured; 410 Gone disables the webhook.

use std::time::{Duration, SystemTime};

/// How far each delay may move either way.
pub const JITTER: f64 = 0.2;

/// The longest `Retry-After` that is honoured; a longer one waits this long.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);

/// ExaVault's schedule: 8 attempts, the first at once, then 5 s, 5 min, 30 min, 2 h, 5 h,
/// 10 h and 10 h after the previous failure.
pub const DEFAULT_DELAYS_SECS: [f64; 8] =
    [0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0];

/// `delays[n]` is the wait before attempt `n + 1`: the first counts from when the event was
/// queued, each later one from the failure of the attempt before it.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    delays: Vec<Duration>,
}

impl Schedule {
    /// `delays` must not be empty (the configuration checks this).
    pub fn new(delays: Vec<Duration>) -> Schedule {
        assert!(
            !delays.is_empty(),
            "a retry schedule has at least one attempt"
        );
        Schedule { delays }
    }

    pub fn attempts(&self) -> u32 {
        u32::try_from(self.delays.len()).unwrap_or(u32::MAX)
    }

    pub fn delays(&self) -> &[Duration] {
        &self.delays
    }

    /// When the first attempt of an event queued at `now_ms` is due.
    pub fn first_due(&self, now_ms: i64) -> i64 {
        now_ms.saturating_add(millis(self.delays[0]))
    }

    /// The wait before attempt `failed + 1`, after attempt `failed` (from 1) failed, before
    /// jitter; `None` when the schedule is used up and the event is to be set aside.
    pub fn after_failure(&self, failed: u32) -> Option<Duration> {
        self.delays.get(usize::try_from(failed).ok()?).copied()
    }
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule::new(
            DEFAULT_DELAYS_SECS
                .iter()
                .map(|s| Duration::from_secs_f64(*s))
                .collect(),
        )
    }
}

pub fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// `d` moved by a random fraction of itself, up to `spread` either way.
pub fn jitter(d: Duration, spread: f64) -> Duration {
    let mut b = [0u8; 2];
    let r = if getrandom::fill(&mut b).is_ok() {
        f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX)
    } else {
        0.5
    };
    d.mul_f64(1.0 - spread + 2.0 * spread * r)
}

/// A `Retry-After` value (seconds, or an HTTP date) as a wait from `now`, at most
/// `MAX_RETRY_AFTER`; `None` when it cannot be read.
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => httpdate::parse_http_date(value)
            .ok()?
            .duration_since(now)
            .unwrap_or(Duration::ZERO),
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// What to do after an attempt that did not succeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// Try again after this wait.
    Retry(Duration),
    /// The schedule is used up: set the event aside as failed.
    GiveUp,
    /// 410 Gone: the receiver says it is gone for good; disable the webhook (the event stays
    /// queued for when it is enabled again).
    Disable,
}

/// What follows a failed attempt `attempt` (from 1) that got `status` (`None` for a
/// transport failure) and perhaps a `Retry-After`.
pub fn next(
    schedule: &Schedule,
    attempt: u32,
    status: Option<u16>,
    retry_after_header: Option<&str>,
    now: SystemTime,
) -> Next {
    if status == Some(410) {
        return Next::Disable;
    }
    let Some(delay) = schedule.after_failure(attempt) else {
        return Next::GiveUp;
    };
    let asked = match status {
        Some(429 | 503) => retry_after_header.and_then(|v| retry_after(v, now)),
        _ => None,
    };
    Next::Retry(asked.unwrap_or_else(|| jitter(delay, JITTER)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedule_is_exavaults_eight_attempts() {
        let s = Schedule::default();
        assert_eq!(s.attempts(), 8);
        assert_eq!(s.first_due(1_000), 1_000);
        let gaps: Vec<i64> = (1..=7)
            .map(|n| millis(s.after_failure(n).unwrap()))
            .collect();
        assert_eq!(
            gaps,
            [
                5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000
            ]
        );
        assert_eq!(s.after_failure(8), None);
    }

    #[test]
    fn delays_are_jittered_within_a_fifth() {
        let s = Schedule::default();
        let now = SystemTime::now();
        let waits: Vec<Duration> = (0..200)
            .map(|_| match next(&s, 2, Some(500), None, now) {
                Next::Retry(d) => d,
                other => panic!("{other:?}"),
            })
            .collect();
        let lo = Duration::from_secs(240);
        let hi = Duration::from_secs(360);
        assert!(waits.iter().all(|d| *d >= lo && *d <= hi), "{waits:?}");
        // Not all the same: the jitter is there.
        assert!(waits.iter().any(|d| *d != waits[0]));
    }

    #[test]
    fn gone_disables_retry_after_is_honoured_and_the_end_gives_up() {
        let s = Schedule::default();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(next(&s, 1, Some(410), None, now), Next::Disable);
        assert_eq!(
            next(&s, 1, Some(429), Some("2"), now),
            Next::Retry(Duration::from_secs(2))
        );
        assert_eq!(
            next(&s, 1, Some(503), Some("Sun, 09 Sep 2001 01:47:00 GMT"), now),
            Next::Retry(Duration::from_secs(20))
        );
        assert_eq!(
            next(&s, 1, Some(429), Some("99999999"), now),
            Next::Retry(MAX_RETRY_AFTER)
        );
        // Only 429 and 503 carry a meaningful Retry-After.
        assert_ne!(
            next(&s, 1, Some(500), Some("2"), now),
            Next::Retry(Duration::from_secs(2))
        );
        assert_eq!(next(&s, 8, Some(500), None, now), Next::GiveUp);
        assert_eq!(next(&s, 8, Some(429), Some("1"), now), Next::GiveUp);
    }

    #[test]
    fn short_schedules_give_up_after_their_last_attempt() {
        let s = Schedule::new(vec![Duration::from_millis(250), Duration::from_millis(500)]);
        assert_eq!(s.first_due(10), 260);
        assert_eq!(s.after_failure(1), Some(Duration::from_millis(500)));
        assert_eq!(s.after_failure(2), None);
    }
}
