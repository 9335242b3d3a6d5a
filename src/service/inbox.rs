//! The built-in test receiver: a URL on the box that keeps the newest requests it was sent
//! (in memory, bounded) and whether each one's signature checks against a webhook's current
//! token or secret, so an admin can see a real delivery before any receiver exists.
//!
//! Anyone may post to it, so what one post costs is bounded: a signature is checked on a
//! blocking thread, at most `CHECKS` at once and `WAITING` in all (past that a sender is told
//! to come back), never on the thread that serves every web request; of what is kept, a
//! prefix of each body and of each header set.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::core::sign::{Secret, Token};

/// How many requests are kept.
pub const KEEP: usize = 50;
/// The most of a body read and checked against the signatures.
pub const MAX_BODY: usize = 256 * 1024;
/// The most of a body kept (and shown); its size as sent is kept beside it.
pub const KEEP_BODY: usize = 16 * 1024;
/// The most headers kept of one request, and the most of each one's value.
pub const KEEP_HEADERS: usize = 40;
pub const KEEP_VALUE: usize = 1024;
/// Signature checks run at once, in all: each reads the whole body once per webhook.
pub const CHECKS: usize = 2;
/// Posts whose signatures are being checked or wait for it; past this a post is refused at
/// once (503), so senders can neither queue without end nor take every blocking thread.
pub const WAITING: usize = 8;

/// Where the inbox is served, under the web server's base URL.
pub const PATH: &str = "/inbox/receive";

/// Whether webhook URL `url` points at an inbox: its path is `PATH` (on whichever name or
/// address of the box).
pub fn points_here(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = rest.find('/').map_or("", |at| &rest[at..]);
    let path = path.split(['?', '#']).next().unwrap_or("");
    path == PATH
}

/// One request the inbox was sent, as kept.
#[derive(Clone, Debug)]
pub struct Request {
    /// Its place among every request received since the daemon started, from 1.
    pub seq: u64,
    pub time_ms: i64,
    pub from: String,
    /// The first `KEEP_HEADERS` headers.
    pub headers: Vec<Header>,
    /// How many headers it had.
    pub header_count: usize,
    /// The first `KEEP_BODY` bytes of the body.
    pub body: Vec<u8>,
    /// The body's length as sent.
    pub size: usize,
    pub signature: Verdict,
}

/// A header as kept: its name, the first `KEEP_VALUE` bytes of its value (as text), and the
/// value's length as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: String,
    pub size: usize,
}

impl Request {
    /// A request as received (every header, the body read), cut to what is kept.
    pub fn kept(
        from: String,
        headers: &[(String, Vec<u8>)],
        body: &[u8],
        size: usize,
        signature: Verdict,
    ) -> Request {
        let kept_headers = headers
            .iter()
            .take(KEEP_HEADERS)
            .map(|(name, value)| Header {
                name: prefix(name.as_bytes(), KEEP_VALUE),
                value: prefix(value, KEEP_VALUE),
                size: value.len(),
            })
            .collect();
        Request {
            seq: 0,
            time_ms: crate::deliver::now_ms(),
            from,
            headers: kept_headers,
            header_count: headers.len(),
            body: body[..body.len().min(KEEP_BODY)].to_vec(),
            size,
            signature,
        }
    }
}

/// The first `n` bytes of `bytes` as text (bytes that are not UTF-8 replaced).
fn prefix(bytes: &[u8], n: usize) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(n)]).into_owned()
}

/// What the signature of a request says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Signed with the current token (ExaVault's header) or secret (Standard Webhooks) of
    /// this webhook.
    Valid {
        webhook: u32,
        scheme: &'static str,
    },
    /// Signed, but by no webhook's current token or secret.
    Invalid,
    Unsigned,
}

impl Verdict {
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Valid { .. } => "valid",
            Verdict::Invalid => "invalid",
            Verdict::Unsigned => "unsigned",
        }
    }
}

/// The keys a request may be signed with: each webhook's current token and secret.
pub struct Signer {
    pub webhook: u32,
    pub token: Option<Token>,
    pub secret: Option<Secret>,
}

/// Whether a request with `headers` carries a signature to check.
pub fn signed(headers: &[(String, String)]) -> bool {
    let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    has("x-exavault-signature")
        || (has("webhook-id") && has("webhook-timestamp") && has("webhook-signature"))
}

/// Which webhook signed a request with `headers` and `body`, if any did. Reads `body` once
/// per signer: call it through `Checks`, never on the server's thread.
pub fn check(headers: &[(String, String)], body: &[u8], signers: &[Signer]) -> Verdict {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let exavault = header("x-exavault-signature");
    let standard = match (
        header("webhook-id"),
        header("webhook-timestamp").and_then(|t| t.trim().parse::<i64>().ok()),
        header("webhook-signature"),
    ) {
        (Some(id), Some(ts), Some(sig)) => Some((id, ts, sig)),
        _ => None,
    };
    if exavault.is_none() && standard.is_none() {
        return Verdict::Unsigned;
    }
    for s in signers {
        if let (Some(sig), Some(token)) = (exavault, &s.token)
            && crate::core::sign::verify_exavault(token.expose(), body, sig)
        {
            return Verdict::Valid {
                webhook: s.webhook,
                scheme: "X-Exavault-Signature",
            };
        }
        if let (Some((id, ts, sig)), Some(secret)) = (standard, &s.secret)
            && secret.verify(id, ts, body, sig)
        {
            return Verdict::Valid {
                webhook: s.webhook,
                scheme: "webhook-signature",
            };
        }
    }
    Verdict::Invalid
}

/// The signature checks running or waiting, bounded (`CHECKS`, `WAITING`).
pub struct Checks {
    running: Arc<tokio::sync::Semaphore>,
    waiting: AtomicUsize,
}

impl Default for Checks {
    fn default() -> Checks {
        Checks {
            running: Arc::new(tokio::sync::Semaphore::new(CHECKS)),
            waiting: AtomicUsize::new(0),
        }
    }
}

/// A place among the `WAITING` posts, given back when dropped.
pub struct Place<'c>(&'c Checks);

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Checks {
    /// A place for one more check; `None` when `WAITING` posts already have one.
    pub fn enter(&self) -> Option<Place<'_>> {
        let taken = self
            .waiting
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < WAITING).then_some(n + 1)
            });
        taken.ok().map(|_| Place(self))
    }
}

impl Place<'_> {
    /// Runs `check` on a blocking thread once one of the `CHECKS` turns is free. The turn is
    /// the check's until it ends, even when the sender hangs up meanwhile (a blocking task
    /// cannot be stopped): hanging up cannot start more than `CHECKS` at once.
    pub async fn run<T: Send + 'static>(
        self,
        check: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, tokio::task::JoinError> {
        let turn = Arc::clone(&self.0.running)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            check()
        })
        .await
    }
}

/// The requests received, newest last, and the checks of those being received.
#[derive(Default)]
pub struct Inbox {
    requests: Mutex<(u64, VecDeque<Arc<Request>>)>,
    pub checks: Checks,
}

impl Inbox {
    /// Keeps `request` (its `seq` is given here) and forgets the oldest beyond `KEEP`.
    pub fn keep(&self, mut request: Request) -> u64 {
        let mut guard = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        let (count, list) = &mut *guard;
        *count += 1;
        request.seq = *count;
        if list.len() == KEEP {
            list.pop_front();
        }
        list.push_back(Arc::new(request));
        *count
    }

    /// The requests kept, newest first.
    pub fn newest_first(&self) -> Vec<Arc<Request>> {
        let guard = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        guard.1.iter().rev().cloned().collect()
    }

    /// The requests kept that came after place `after`, oldest first.
    pub fn since(&self, after: u64) -> Vec<Arc<Request>> {
        let guard = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        guard.1.iter().filter(|r| r.seq > after).cloned().collect()
    }

    /// The place of the newest request received (0: none yet).
    pub fn last(&self) -> u64 {
        self.requests.lock().unwrap_or_else(|e| e.into_inner()).0
    }

    pub fn clear(&self) {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_points_at_the_inbox_by_its_path_alone() {
        for (url, here) in [
            ("http://127.0.0.1:8080/inbox/receive", true),
            ("https://nas.example.lan:8443/inbox/receive?h=1", true),
            ("http://[::1]:8080/inbox/receive#x", true),
            ("http://127.0.0.1:8080/inbox/receive/more", false),
            ("http://127.0.0.1:8080/inbox", false),
            ("http://listener.example/hook?next=/inbox/receive", false),
            ("http://listener.example", false),
        ] {
            assert_eq!(points_here(url), here, "{url}");
        }
    }

    fn headers(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_signature_is_checked_against_every_webhook_and_names_the_one_that_signed() {
        let body = br#"{"operation":"Upload"}"#;
        let t1 = Token::parse("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa").unwrap();
        let t2 = Token::parse("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb").unwrap();
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let signers = [
            Signer {
                webhook: 1,
                token: Some(t1.clone()),
                secret: None,
            },
            Signer {
                webhook: 7,
                token: Some(t2.clone()),
                secret: Some(secret.clone()),
            },
        ];
        let by_t2 = crate::core::sign::exavault(t2.expose(), body);
        let by_secret = secret.sign("msg_1", 1_700_000_000, body);
        let cases: Vec<(Vec<(String, String)>, Verdict)> = vec![
            (headers(&[]), Verdict::Unsigned),
            (
                headers(&[("X-Exavault-Signature", &by_t2)]),
                Verdict::Valid {
                    webhook: 7,
                    scheme: "X-Exavault-Signature",
                },
            ),
            (
                headers(&[("x-exavault-signature", &by_t2.to_uppercase())]),
                Verdict::Valid {
                    webhook: 7,
                    scheme: "X-Exavault-Signature",
                },
            ),
            (
                headers(&[("X-Exavault-Signature", "0123")]),
                Verdict::Invalid,
            ),
            (
                headers(&[
                    ("webhook-id", "msg_1"),
                    ("webhook-timestamp", "1700000000"),
                    ("webhook-signature", &by_secret),
                ]),
                Verdict::Valid {
                    webhook: 7,
                    scheme: "webhook-signature",
                },
            ),
            (
                headers(&[
                    ("webhook-id", "msg_2"),
                    ("webhook-timestamp", "1700000000"),
                    ("webhook-signature", &by_secret),
                ]),
                Verdict::Invalid,
            ),
        ];
        for (h, want) in cases {
            assert_eq!(check(&h, body, &signers), want, "{h:?}");
        }
        // A body changed after signing no longer checks.
        assert_eq!(
            check(
                &headers(&[("X-Exavault-Signature", &by_t2)]),
                b"{}",
                &signers
            ),
            Verdict::Invalid
        );
    }

    #[test]
    fn the_inbox_keeps_the_newest_and_numbers_them() {
        let inbox = Inbox::default();
        for _ in 0..(KEEP + 3) {
            inbox.keep(Request::kept(String::new(), &[], b"", 0, Verdict::Unsigned));
        }
        let kept = inbox.newest_first();
        assert_eq!(kept.len(), KEEP);
        assert_eq!(kept[0].seq, (KEEP + 3) as u64);
        assert_eq!(kept[KEEP - 1].seq, 4);
        assert_eq!(inbox.last(), (KEEP + 3) as u64);
        let newer: Vec<u64> = inbox.since(KEEP as u64 + 1).iter().map(|r| r.seq).collect();
        assert_eq!(newer, [KEEP as u64 + 2, KEEP as u64 + 3]);
        inbox.clear();
        assert!(inbox.newest_first().is_empty());
    }

    #[test]
    fn a_request_is_kept_in_part_with_its_sizes() {
        let headers: Vec<(String, Vec<u8>)> = (0..KEEP_HEADERS + 5)
            .map(|i| (format!("x-h{i}"), vec![b'v'; KEEP_VALUE * 2]))
            .collect();
        let body = vec![0xff; MAX_BODY];
        let r = Request::kept(
            "1.2.3.4".into(),
            &headers,
            &body,
            MAX_BODY * 3,
            Verdict::Invalid,
        );
        assert_eq!(r.body.len(), KEEP_BODY);
        assert_eq!(r.size, MAX_BODY * 3);
        assert_eq!(r.headers.len(), KEEP_HEADERS);
        assert_eq!(r.header_count, KEEP_HEADERS + 5);
        assert!(
            r.headers
                .iter()
                .all(|h| h.value.len() == KEEP_VALUE && h.size == KEEP_VALUE * 2)
        );
    }

    #[test]
    fn checks_are_bounded() {
        let checks = Checks::default();
        let places: Vec<_> = (0..WAITING).map(|_| checks.enter().unwrap()).collect();
        assert!(checks.enter().is_none());
        drop(places);
        assert!(checks.enter().is_some());
    }

    #[tokio::test]
    async fn a_sender_that_hangs_up_keeps_its_turn_until_its_check_ends() {
        let checks = Arc::new(Checks::default());
        let (release, held) = std::sync::mpsc::channel::<()>();
        let held = Arc::new(Mutex::new(held));
        let running = Arc::new(AtomicUsize::new(0));
        // More senders than turns, each with a check that runs until told to end.
        let senders: Vec<_> = (0..CHECKS + 3)
            .map(|_| {
                let (checks, held, running) =
                    (Arc::clone(&checks), Arc::clone(&held), Arc::clone(&running));
                tokio::spawn(async move {
                    let place = checks.enter().unwrap();
                    place
                        .run(move || {
                            running.fetch_add(1, Ordering::SeqCst);
                            let _ = held.lock().unwrap().recv();
                            Verdict::Invalid
                        })
                        .await
                })
            })
            .collect();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while running.load(Ordering::SeqCst) < CHECKS {
            assert!(
                std::time::Instant::now() < deadline,
                "the checks did not start"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        // Every sender hangs up: the running checks keep their turns, so none of the waiting
        // ones can start beside them.
        for sender in &senders {
            sender.abort();
        }
        for sender in senders {
            let _ = sender.await;
        }
        assert_eq!(checks.running.available_permits(), 0);
        assert_eq!(checks.waiting.load(Ordering::SeqCst), 0);
        for _ in 0..CHECKS {
            let _ = release.send(());
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while checks.running.available_permits() < CHECKS {
            assert!(
                std::time::Instant::now() < deadline,
                "the turns were not given back"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(running.load(Ordering::SeqCst), CHECKS);
    }
}
