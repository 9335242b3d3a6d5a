//! How many failed sign-ins are allowed, so that guessing costs the guesser time and the box
//! little, without letting a guesser lock the right people out.
//!
//! Failures are counted in buckets that refill continuously, per client (as `web::conn::client_key`
//! counts one: an address, or an IPv6 /64 off the box's own LAN) and, for the page's
//! passwords, per user name. The two surfaces differ because their secrets do:
//!
//! - The API's access tokens are 256 random bits, so guessing one is hopeless and checking one
//!   is cheap: every request's key and token are checked, a right pair is always let in, and a
//!   wrong one is counted against its client, which answers 429 instead of 401 once its bucket
//!   is empty. Wrong requests from an address (127.0.0.1 is every SSH-tunnelled admin's)
//!   therefore never lock out a right token from the same address.
//! - The page's passwords are chosen by people and checked with argon2 (about 19 MiB and tens
//!   of milliseconds each). A failure is *reserved* before the check and given back when the
//!   password was right, so concurrent tries cannot pass the allowance between the check and
//!   the count. A name that signed in from a client before (kept `KNOWN_FOR`) is counted there
//!   in a bucket of its own: neither guessers of other names at that address nor guessers of
//!   that name elsewhere can lock it out, only guesses of that name from that client. Any
//!   other try is counted against the user name, from anywhere, and against the client.
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
                self.make_room(now);
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

    /// Forgets an eighth of the keys, those with the most tries left (refilled ones first):
    /// one pass for many new keys, so a flood of new clients costs no pass of its own each.
    fn make_room(&mut self, now: Instant) {
        let mut lefts: Vec<(f64, K)> = self
            .map
            .keys()
            .map(|k| (self.get(k, now).left, *k))
            .collect();
        let keep = lefts.len() - lefts.len() / 8;
        lefts.select_nth_unstable_by(keep.saturating_sub(1), |a, b| a.0.total_cmp(&b.0));
        for (_, k) in &lefts[keep..] {
            self.map.remove(k);
        }
    }
}

struct Books {
    clients: Buckets<IpAddr>,
    names: Buckets<NameKey>,
    /// The failures of a name at a client it signed in from.
    pairs: Buckets<(IpAddr, NameKey)>,
    sign_ins: Buckets<NameKey>,
    /// (client, name) → when that name last signed in from that client.
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
                clients: Buckets::new(LIMIT, WINDOW),
                names: Buckets::new(LIMIT, WINDOW),
                pairs: Buckets::new(LIMIT, WINDOW),
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
    /// Too many failures from this client (and the name never signed in from it).
    Address(Duration),
    /// Too many failures for this user name, from anywhere.
    Name(Duration),
    /// Too many failures for this user name from this client, which it signed in from.
    Pair(Duration),
    /// Too many successful sign-ins as this user.
    SignIns(Duration),
}

impl Refused {
    pub fn retry_after(self) -> Duration {
        match self {
            Refused::Address(d) | Refused::Name(d) | Refused::Pair(d) | Refused::SignIns(d) => d,
        }
    }
}

/// A page sign-in let through to its password check, holding one failure until it is known
/// to be right: of the name's own bucket at a client it signed in from, else of the name's
/// and the client's.
#[must_use]
#[derive(Debug)]
pub struct Reservation {
    client: IpAddr,
    name: NameKey,
    known: bool,
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

    /// Where `client` stands.
    pub fn check(&self, client: IpAddr, now: Instant) -> Standing {
        let books = self.books();
        let b = books.clients.get(&client, now);
        books.clients.standing(b)
    }

    /// Counts a wrong API credential from `client`. `Err` when the client had no failure left
    /// (it is answered 429, and this one is not counted: the bucket refills at its steady
    /// rate); else where it stands after this one.
    pub fn api_failed(&self, client: IpAddr, now: Instant) -> Result<Standing, Duration> {
        let mut books = self.books();
        if !books.clients.has_room(&client, now) {
            return Err(books.clients.wait(&client, now));
        }
        Ok(books.clients.add(client, -1.0, now))
    }

    /// Before the password of `name` from `client` is checked: refused, or one failure
    /// reserved.
    pub fn reserve(
        &self,
        client: IpAddr,
        name: &str,
        now: Instant,
    ) -> Result<Reservation, Refused> {
        let mut books = self.books();
        let name = name_key(name);
        if !books.sign_ins.has_room(&name, now) {
            return Err(Refused::SignIns(books.sign_ins.wait(&name, now)));
        }
        let known = books
            .known
            .get(&(client, name))
            .is_some_and(|at| now.saturating_duration_since(*at) < KNOWN_FOR);
        if known {
            let pair = (client, name);
            if !books.pairs.has_room(&pair, now) {
                return Err(Refused::Pair(books.pairs.wait(&pair, now)));
            }
            books.pairs.add(pair, -1.0, now);
        } else {
            if !books.names.has_room(&name, now) {
                return Err(Refused::Name(books.names.wait(&name, now)));
            }
            if !books.clients.has_room(&client, now) {
                return Err(Refused::Address(books.clients.wait(&client, now)));
            }
            books.names.add(name, -1.0, now);
            books.clients.add(client, -1.0, now);
        }
        Ok(Reservation {
            client,
            name,
            known,
        })
    }

    /// The password could not be checked (the state could not be read, or too many checks
    /// were waiting): the reserved failure is given back, and nothing is counted.
    pub fn cancel(&self, r: Reservation, now: Instant) {
        let mut books = self.books();
        Self::give_back(&mut books, &r, now);
    }

    fn give_back(books: &mut Books, r: &Reservation, now: Instant) {
        if r.known {
            books.pairs.add((r.client, r.name), 1.0, now);
        } else {
            books.names.add(r.name, 1.0, now);
            books.clients.add(r.client, 1.0, now);
        }
    }

    /// The password was right: the reserved failure is given back, the sign-in is counted,
    /// and the client is known for this name from now on.
    pub fn signed_in(&self, r: Reservation, now: Instant) {
        let mut books = self.books();
        Self::give_back(&mut books, &r, now);
        books.sign_ins.add(r.name, -1.0, now);
        if !books.known.contains_key(&(r.client, r.name)) && books.known.len() >= MAX_KEPT {
            // The oldest eighth goes, in one pass.
            let mut times: Vec<Instant> = books.known.values().copied().collect();
            let cut = times.len() / 8;
            times.select_nth_unstable(cut);
            let before = times[cut];
            books.known.retain(|_, at| *at > before);
        }
        books.known.insert((r.client, r.name), now);
    }

    /// The password was wrong: the reserved failure stays counted. Where the client stands.
    pub fn failed(&self, r: Reservation, now: Instant) -> Standing {
        self.check(r.client, now)
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
        assert!(books.clients.map.len() <= MAX_KEPT);
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
    fn a_name_known_at_a_client_is_locked_out_only_by_guesses_of_it_from_there() {
        let limiter = Limiter::default();
        let t0 = Instant::now();
        let (tunnel, elsewhere) = (ip("127.0.0.1"), ip("198.51.100.9"));
        let r = limiter.reserve(tunnel, "admin", t0).unwrap();
        limiter.signed_in(r, t0);
        // A guesser at the same address tries other names until the address is spent...
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
        // ...and another spends the name's allowance from elsewhere.
        for _ in 0..LIMIT {
            let r = limiter.reserve(elsewhere, "admin", t0).unwrap();
            let _ = limiter.failed(r, t0);
        }
        assert!(matches!(
            limiter.reserve(ip("203.0.113.1"), "admin", t0),
            Err(Refused::Name(_))
        ));
        // The admin, known at the tunnel, is still checked there...
        let r = limiter.reserve(tunnel, "admin", t0).unwrap();
        limiter.signed_in(r, t0);
        // ...until guesses of its name from there spend its own allowance there.
        for _ in 0..LIMIT {
            let r = limiter.reserve(tunnel, "admin", t0).unwrap();
            let _ = limiter.failed(r, t0);
        }
        assert!(matches!(
            limiter.reserve(tunnel, "admin", t0),
            Err(Refused::Pair(_))
        ));
        // A known pair is forgotten KNOWN_FOR after its last sign-in: the name then counts
        // against its own and the client's allowances like any other.
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

    #[test]
    fn a_check_that_could_not_run_gives_its_failure_back() {
        let limiter = Limiter::default();
        let t0 = Instant::now();
        for _ in 0..3 * LIMIT {
            let r = limiter.reserve(ip("192.0.2.9"), "ann", t0).unwrap();
            limiter.cancel(r, t0);
        }
        assert_eq!(
            limiter.check(ip("192.0.2.9"), t0),
            Standing::Allowed { remaining: LIMIT }
        );
    }
}
