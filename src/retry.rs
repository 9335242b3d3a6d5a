//! The retry schedule: when a delivery's next attempt is due, or that there is none (pure).

use std::time::Duration;

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

    /// When attempt `failed + 1` is due, after attempt `failed` (from 1) failed at `now_ms`;
    /// `None` when the schedule is used up and the event is to be set aside.
    pub fn after_failure(&self, failed: u32, now_ms: i64) -> Option<i64> {
        let next = self.delays.get(usize::try_from(failed).ok()?)?;
        Some(now_ms.saturating_add(millis(*next)))
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

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedule_is_exavaults_eight_attempts() {
        let s = Schedule::default();
        assert_eq!(s.attempts(), 8);
        assert_eq!(s.first_due(1_000), 1_000);
        let gaps: Vec<i64> = (1..=7).map(|n| s.after_failure(n, 0).unwrap()).collect();
        assert_eq!(
            gaps,
            [
                5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000
            ]
        );
        assert_eq!(s.after_failure(8, 0), None);
    }

    #[test]
    fn short_schedules_give_up_after_their_last_attempt() {
        let s = Schedule::new(vec![Duration::from_millis(250), Duration::from_millis(500)]);
        assert_eq!(s.first_due(10), 260);
        assert_eq!(s.after_failure(1, 10), Some(510));
        assert_eq!(s.after_failure(2, 10), None);
    }
}
