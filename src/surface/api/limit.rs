//! How many failed sign-ins are allowed, so that guessing costs the guesser time and the box
//! little, without letting a guesser lock the right people out.
//!
//! Failures are counted in buckets that refill continuously: one per client address (an IPv6
//! client by its /64, which one host usually holds whole) and, for the page's passwords, one
//! per user name. The two surfaces differ because their secrets do:
//!
//! - The API's access tokens are 256 random bits, so guessing one is hopeless and checking one
//!   is cheap: every request's key and token are checked, a right pair is always let in, and a
//!   wrong one is counted against its address, which answers 429 instead of 401 once its
//!   bucket is empty. Wrong requests from an address (127.0.0.1 is every SSH-tunnelled admin's)
//!   therefore never lock out a right token from the same address.
//! - The page's passwords are chosen by people and checked with argon2 (about 19 MiB and tens
//!   of milliseconds each). A failure is *reserved* before the check, from the user name's
//!   bucket and the address's, and given back when the password was right, so concurrent
//!   tries cannot pass the allowance between the check and the count. A name whose bucket is
//!   empty is refused whoever asks; an address whose bucket is empty is refused, except for a
//!   name that signed in from that address before (kept `KNOWN_FOR`): a guesser at an admin's
//!   address then locks that admin out no faster than its own guesses for that name do.
//!   Successful sign-ins are bounded per user too: each costs a password check and a session.
//!
//! Pure apart from the lock; the clock is passed in.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed attempts an address (or a user name) may make at once.
pub const LIMIT: u32 = 10;
/// The time in which a whole bucket of failures refills.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Successful page sign-ins a user may make at once, and the time in which they refill.
pub const SIGN_INS: u32 = 20;
pub const SIGN_IN_WINDOW: Duration = Duration::from_secs(120);
/// How long an address is known for a user after the user signed in from it.
pub const KNOWN_FOR: Duration = Duration::from_secs(30 * 86_400);
/// The most addresses, names and known pairs remembered each; past it, the least telling one
/// is forgotten.
const MAX_KEPT: usize = 10_000;

/// A user name as the limiter keeps it: a digest, so that a password typed into the name
/// field is not kept in memory as it was typed.
type NameKey = [u8; 16];

fn name_key(name: &str) -> NameKey {
    let digest = crate::service::access::sha256(name);
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    /// Tries still allowed, refilled continuously.
    left: f64,
    at: Instant,
}

/// Buckets of one kind, at most `MAX_KEPT`.
struct Buckets<K> {
    map: HashMap<K, Bucket>,
    size: u32,
    window: Duration,
}

impl<K: Hash + Eq + Copy> Buckets<K> {
    fn new(size: u32, window: Duration) -> Buckets<K> {
        Buckets {
            map: HashMap::new(),
            size,
            window,
        }
    }

    fn per_sec(&self) -> f64 {
        f64::from(self.size) / self.window.as_secs_f64()
    }

    /// The bucket of `k` as it stands at `now`.
    fn get(&self, k: &K, now: Instant) -> Bucket {
        match self.map.get(k) {
            None => Bucket {
                left: f64::from(self.size),
                at: now,
            },
            Some(b) => {
                let gained = now.saturating_duration_since(b.at).as_secs_f64() * self.per_sec();
                Bucket {
                    left: (b.left + gained).min(f64::from(self.size)),
                    at: now,
                }
            }
        }
    }

    /// How long `k` waits for its next try (zero when it has one).
    fn wait(&self, k: &K, now: Instant) -> Duration {
        match self.standing(self.get(k, now)) {
            Standing::Limited { retry_after } => retry_after,
            Standing::Allowed { .. } => Duration::ZERO,
        }
    }

    fn has_room(&self, k: &K, now: Instant) -> bool {
        self.get(k, now).left >= 1.0
    }

    /// Adds `delta` (−1 takes a try, +1 gives one back) and returns where `k` stands after.
    fn add(&mut self, k: K, delta: f64, now: Instant) -> Standing {
        let mut b = self.get(&k, now);
        b.left = (b.left + delta).clamp(0.0, f64::from(self.size));
        if b.left >= f64::from(self.size) {
            // Full again: nothing to remember.
            self.map.remove(&k);
        } else {
            if !self.map.contains_key(&k) && self.map.len() >= MAX_KEPT {
                self.forget_one(now);
            }
            self.map.insert(k, b);
        }
        self.standing(b)
    }

    fn standing(&self, b: Bucket) -> Standing {
        if b.left >= 1.0 {
            Standing::Allowed {
                remaining: b.left.floor() as u32,
            }
        } else {
            Standing::Limited {
                retry_after: Duration::from_secs_f64((1.0 - b.left) / self.per_sec()),
            }
        }
    }

    /// Forgets the key with the most tries left (refilled ones first).
    fn forget_one(&mut self, now: Instant) {
        let best = self
            .map
            .keys()
            .map(|k| (*k, self.get(k, now).left))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(k, _)| k);
        if let Some(k) = best {
            self.map.remove(&k);
        }
    }
}

struct Books {
    addresses: Buckets<IpAddr>,
    names: Buckets<NameKey>,
    sign_ins: Buckets<NameKey>,
    /// (address, name) → when that name last signed in from that address.
    known: HashMap<(IpAddr, NameKey), Instant>,
}

/// Failed sign-ins by client address and by user name.
pub struct Limiter {
    books: Mutex<Books>,
    /// A clock that stands still, for tests whose requests may be slow (a password check
    /// takes a second on a loaded machine, and buckets refill meanwhile).
    stopped_at: Option<Instant>,
}

impl Default for Limiter {
    fn default() -> Limiter {
        Limiter {
            books: Mutex::new(Books {
                addresses: Buckets::new(LIMIT, WINDOW),
                names: Buckets::new(LIMIT, WINDOW),
                sign_ins: Buckets::new(SIGN_INS, SIGN_IN_WINDOW),
                known: HashMap::new(),
            }),
            stopped_at: None,
        }
    }
}

/// Where an address stands.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Standing {
    /// It may go on; this many failures are left.
    Allowed { remaining: u32 },
    /// It must wait this long.
    Limited { retry_after: Duration },
}

/// Why a page sign-in is refused before its password is checked, and for how long.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Refused {
    /// Too many failures from this address (and the name never signed in from it).
    Address(Duration),
    /// Too many failures for this user name, from anywhere.
    Name(Duration),
    /// Too many successful sign-ins as this user.
    SignIns(Duration),
}

impl Refused {
    pub fn retry_after(self) -> Duration {
        match self {
            Refused::Address(d) | Refused::Name(d) | Refused::SignIns(d) => d,
        }
    }
}

/// A page sign-in let through to its password check, holding one failure of its name's
/// allowance (and of its address's, when that had one left) until it is known to be right.
#[must_use]
#[derive(Debug)]
pub struct Reservation {
    ip: IpAddr,
    name: NameKey,
    took_address: bool,
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

    fn books(&self) -> std::sync::MutexGuard<'_, Books> {
        self.books.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where address `ip` stands.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Standing {
        let books = self.books();
        let b = books.addresses.get(&key(ip), now);
        books.addresses.standing(b)
    }

    /// Counts a wrong API credential from `ip`. `Err` when the address had no failure left
    /// (it is answered 429, and this one is not counted: the bucket refills at its steady
    /// rate); else where it stands after this one.
    pub fn api_failed(&self, ip: IpAddr, now: Instant) -> Result<Standing, Duration> {
        let mut books = self.books();
        let k = key(ip);
        if !books.addresses.has_room(&k, now) {
            return Err(books.addresses.wait(&k, now));
        }
        Ok(books.addresses.add(k, -1.0, now))
    }

    /// Before the password of `name` from `ip` is checked: refused, or one failure reserved.
    pub fn reserve(&self, ip: IpAddr, name: &str, now: Instant) -> Result<Reservation, Refused> {
        let mut books = self.books();
        let (ip, name) = (key(ip), name_key(name));
        if !books.sign_ins.has_room(&name, now) {
            return Err(Refused::SignIns(books.sign_ins.wait(&name, now)));
        }
        if !books.names.has_room(&name, now) {
            return Err(Refused::Name(books.names.wait(&name, now)));
        }
        let address_room = books.addresses.has_room(&ip, now);
        if !address_room {
            let known = books
                .known
                .get(&(ip, name))
                .is_some_and(|at| now.saturating_duration_since(*at) < KNOWN_FOR);
            if !known {
                return Err(Refused::Address(books.addresses.wait(&ip, now)));
            }
        }
        books.names.add(name, -1.0, now);
        if address_room {
            books.addresses.add(ip, -1.0, now);
        }
        Ok(Reservation {
            ip,
            name,
            took_address: address_room,
        })
    }

    /// The password was right: the reserved failure is given back, the sign-in is counted,
    /// and the address is known for this name from now on.
    pub fn signed_in(&self, r: Reservation, now: Instant) {
        let mut books = self.books();
        books.names.add(r.name, 1.0, now);
        if r.took_address {
            books.addresses.add(r.ip, 1.0, now);
        }
        books.sign_ins.add(r.name, -1.0, now);
        if !books.known.contains_key(&(r.ip, r.name)) && books.known.len() >= MAX_KEPT {
            let oldest = books
                .known
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                books.known.remove(&k);
            }
        }
        books.known.insert((r.ip, r.name), now);
    }

    /// The password could not be checked (the state could not be read): the reserved failure
    /// is given back, and nothing is counted.
    pub fn cancel(&self, r: Reservation, now: Instant) {
        let mut books = self.books();
        books.names.add(r.name, 1.0, now);
        if r.took_address {
            books.addresses.add(r.ip, 1.0, now);
        }
    }

    /// The password was wrong: the reserved failure stays counted. Where the address stands.
    pub fn failed(&self, r: Reservation, now: Instant) -> Standing {
        self.check(r.ip, now)
    }
}

/// The address a bucket is kept for: IPv4 as is (and IPv4 mapped into IPv6 as IPv4), IPv6 by
/// its /64.
pub fn key(ip: IpAddr) -> IpAddr {
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
                limiter.api_failed(ip("192.0.2.1"), t0),
                Ok(Standing::Allowed {
                    remaining: LIMIT - n
                })
            );
        }
        assert!(matches!(
            limiter.api_failed(ip("192.0.2.1"), t0),
            Ok(Standing::Limited { .. })
        ));
        // Past the allowance a failure is refused, not counted.
        assert!(matches!(limiter.api_failed(ip("192.0.2.1"), t0), Err(d) if d.as_secs_f64() > 5.9));
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
            let _ = limiter.api_failed(ip("2001:db8:1:2::1"), t0);
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
            let _ = limiter.api_failed(ip("::ffff:198.51.100.7"), t0);
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
            let _ = limiter.api_failed(ip("203.0.113.9"), t0);
        }
        for n in 0..(MAX_KEPT as u32 + 50) {
            let _ = limiter.api_failed(IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + n)), t0);
            let _ = limiter.reserve(
                IpAddr::V4(std::net::Ipv4Addr::from(0x0b00_0000 + n)),
                &format!("name {n}"),
                t0,
            );
        }
        let books = limiter.books();
        assert!(books.addresses.map.len() <= MAX_KEPT);
        assert!(books.names.map.len() <= MAX_KEPT);
        drop(books);
        assert!(matches!(
            limiter.check(ip("203.0.113.9"), t0),
            Standing::Limited { .. }
        ));
    }

    #[test]
    fn concurrent_tries_reserve_before_their_check_so_no_more_than_the_allowance_is_checked() {
        let limiter = Limiter::default();
        let t0 = Instant::now();
        // A hundred tries arrive before any check ends: only the allowance gets through.
        let held: Vec<_> = (0..100)
            .filter_map(|_| limiter.reserve(ip("192.0.2.7"), "ann", t0).ok())
            .collect();
        assert_eq!(held.len(), LIMIT as usize);
        for r in held {
            let _ = limiter.failed(r, t0);
        }
        assert!(matches!(
            limiter.reserve(ip("192.0.2.7"), "ann", t0),
            Err(Refused::Name(_))
        ));
    }

    #[test]
    fn a_right_password_gives_its_reservation_back() {
        let limiter = Limiter::default();
        let t0 = Instant::now();
        // More sign-ins than failures are allowed (SIGN_INS > LIMIT): each right one gives
        // its failure back.
        const { assert!(SIGN_INS > LIMIT) };
        for _ in 0..SIGN_INS {
            let r = limiter.reserve(ip("192.0.2.8"), "ann", t0).unwrap();
            limiter.signed_in(r, t0);
        }
        assert_eq!(
            limiter.check(ip("192.0.2.8"), t0),
            Standing::Allowed { remaining: LIMIT }
        );
        // Successful sign-ins are bounded too, per user.
        assert!(matches!(
            limiter.reserve(ip("192.0.2.8"), "ann", t0),
            Err(Refused::SignIns(_))
        ));
        assert!(limiter.reserve(ip("192.0.2.8"), "bob", t0).is_ok());
    }

    #[test]
    fn a_guesser_at_an_address_does_not_lock_out_a_name_that_signed_in_from_it() {
        let limiter = Limiter::default();
        let t0 = Instant::now();
        let tunnel = ip("127.0.0.1");
        let r = limiter.reserve(tunnel, "admin", t0).unwrap();
        limiter.signed_in(r, t0);
        // A guesser at the same address tries other names until the address is spent.
        for n in 0..LIMIT {
            let r = limiter.reserve(tunnel, &format!("guess{n}"), t0).unwrap();
            let _ = limiter.failed(r, t0);
        }
        assert!(matches!(
            limiter.reserve(tunnel, "guess-more", t0),
            Err(Refused::Address(_))
        ));
        assert!(matches!(
            limiter.reserve(tunnel, "someone-new", t0),
            Err(Refused::Address(_))
        ));
        // The admin, known at this address, is still checked...
        let r = limiter.reserve(tunnel, "admin", t0).unwrap();
        limiter.signed_in(r, t0);
        // ...until its own name has spent its allowance, as a guesser of that name would.
        for _ in 0..LIMIT {
            let r = limiter.reserve(tunnel, "admin", t0).unwrap();
            let _ = limiter.failed(r, t0);
        }
        assert!(matches!(
            limiter.reserve(tunnel, "admin", t0),
            Err(Refused::Name(_))
        ));
        // A known pair is forgotten KNOWN_FOR after its last sign-in: the admin then waits
        // with everyone else at a spent address.
        let later = t0 + KNOWN_FOR + WINDOW;
        for n in 0..LIMIT {
            let r = limiter
                .reserve(tunnel, &format!("again{n}"), later)
                .unwrap();
            let _ = limiter.failed(r, later);
        }
        assert!(matches!(
            limiter.reserve(tunnel, "admin", later),
            Err(Refused::Address(_))
        ));
    }
}
