//! How many failed sign-ins an address may make: a bucket of `LIMIT` failures per client
//! address (an IPv6 client by its /64, which one host usually holds whole) that refills over
//! `WINDOW`. An address whose bucket is empty gets 429 for every request until it refills;
//! other addresses are not affected. Pure apart from the lock; the clock is passed in.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed attempts an address may make at once.
pub const LIMIT: u32 = 10;
/// The time in which a whole bucket refills.
pub const WINDOW: Duration = Duration::from_secs(60);
/// The most addresses remembered; past it, the least suspicious one is forgotten.
const MAX_ADDRESSES: usize = 10_000;

#[derive(Clone, Copy, Debug)]
struct Bucket {
    /// Failures still allowed, refilled continuously.
    left: f64,
    at: Instant,
}

impl Bucket {
    fn refilled(self, now: Instant) -> Bucket {
        let per_sec = f64::from(LIMIT) / WINDOW.as_secs_f64();
        let gained = now.saturating_duration_since(self.at).as_secs_f64() * per_sec;
        Bucket {
            left: (self.left + gained).min(f64::from(LIMIT)),
            at: now,
        }
    }
}

/// Failed sign-ins by client address.
#[derive(Default)]
pub struct Limiter {
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
    /// A clock that stands still, for tests whose requests may be slow (a password check
    /// takes a second on a loaded machine, and buckets refill meanwhile).
    stopped_at: Option<Instant>,
}

/// Where an address stands.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Standing {
    /// It may go on; this many failures are left.
    Allowed { remaining: u32 },
    /// It must wait this long.
    Limited { retry_after: Duration },
}

impl Limiter {
    /// A limiter whose clock stands still at `at`.
    #[cfg(test)]
    pub fn stopped_at(at: Instant) -> Limiter {
        Limiter {
            stopped_at: Some(at),
            ..Limiter::default()
        }
    }

    /// The time to check and count failures at.
    pub fn now(&self) -> Instant {
        self.stopped_at.unwrap_or_else(Instant::now)
    }

    /// Whether `ip` may try to sign in now.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Standing {
        let buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        match buckets.get(&key(ip)) {
            None => Standing::Allowed { remaining: LIMIT },
            Some(b) => standing(b.refilled(now)),
        }
    }

    /// Counts a failed sign-in from `ip`; returns where it stands after it.
    pub fn fail(&self, ip: IpAddr, now: Instant) -> Standing {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let k = key(ip);
        if !buckets.contains_key(&k) && buckets.len() >= MAX_ADDRESSES {
            forget_one(&mut buckets, now);
        }
        let full = Bucket {
            left: f64::from(LIMIT),
            at: now,
        };
        let bucket = buckets.entry(k).or_insert(full);
        let mut b = bucket.refilled(now);
        b.left = (b.left - 1.0).max(0.0);
        *bucket = b;
        standing(b)
    }
}

fn standing(b: Bucket) -> Standing {
    if b.left >= 1.0 {
        Standing::Allowed {
            remaining: b.left.floor() as u32,
        }
    } else {
        let per_sec = f64::from(LIMIT) / WINDOW.as_secs_f64();
        Standing::Limited {
            retry_after: Duration::from_secs_f64((1.0 - b.left) / per_sec),
        }
    }
}

/// Forgets the address with the most failures left (refilled ones first).
fn forget_one(buckets: &mut HashMap<IpAddr, Bucket>, now: Instant) {
    let best = buckets
        .iter()
        .map(|(ip, b)| (*ip, b.refilled(now).left))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(ip, _)| ip);
    if let Some(ip) = best {
        buckets.remove(&ip);
    }
}

/// The address a bucket is kept for: IPv4 as is (and IPv4 mapped into IPv6 as IPv4), IPv6 by
/// its /64.
fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut seg = v6.segments();
                seg[4..].fill(0);
                IpAddr::V6(seg.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_address_is_limited_after_its_failures_and_others_are_not() {
        let limiter = Limiter::default();
        let t0 = Instant::now();
        for n in 1..LIMIT {
            assert_eq!(
                limiter.fail(ip("192.0.2.1"), t0),
                Standing::Allowed {
                    remaining: LIMIT - n
                }
            );
        }
        assert!(matches!(
            limiter.fail(ip("192.0.2.1"), t0),
            Standing::Limited { .. }
        ));
        assert!(matches!(
            limiter.check(ip("192.0.2.1"), t0),
            Standing::Limited { retry_after } if retry_after.as_secs_f64() > 5.9 && retry_after.as_secs_f64() < 6.1
        ));
        assert_eq!(
            limiter.check(ip("192.0.2.2"), t0),
            Standing::Allowed { remaining: LIMIT }
        );
        // One failure's worth refills in WINDOW / LIMIT.
        let later = t0 + WINDOW / LIMIT;
        assert_eq!(
            limiter.check(ip("192.0.2.1"), later),
            Standing::Allowed { remaining: 1 }
        );
        assert_eq!(
            limiter.check(ip("192.0.2.1"), t0 + WINDOW),
            Standing::Allowed { remaining: LIMIT }
        );
    }

    #[test]
    fn ipv6_hosts_count_by_their_64_and_mapped_ipv4_as_ipv4() {
        let limiter = Limiter::default();
        let t0 = Instant::now();
        for _ in 0..LIMIT {
            limiter.fail(ip("2001:db8:1:2::1"), t0);
        }
        assert!(matches!(
            limiter.check(ip("2001:db8:1:2:ffff::9"), t0),
            Standing::Limited { .. }
        ));
        assert_eq!(
            limiter.check(ip("2001:db8:1:3::1"), t0),
            Standing::Allowed { remaining: LIMIT }
        );
        for _ in 0..LIMIT {
            limiter.fail(ip("::ffff:198.51.100.7"), t0);
        }
        assert!(matches!(
            limiter.check(ip("198.51.100.7"), t0),
            Standing::Limited { .. }
        ));
    }

    #[test]
    fn memory_is_bounded_and_the_limited_are_kept() {
        let limiter = Limiter::default();
        let t0 = Instant::now();
        for _ in 0..LIMIT {
            limiter.fail(ip("203.0.113.9"), t0);
        }
        for n in 0..(MAX_ADDRESSES as u32 + 50) {
            limiter.fail(IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + n)), t0);
        }
        assert!(limiter.buckets.lock().unwrap().len() <= MAX_ADDRESSES);
        assert!(matches!(
            limiter.check(ip("203.0.113.9"), t0),
            Standing::Limited { .. }
        ));
    }
}
