//! The built-in test receiver: a URL on the box that keeps the newest requests it was sent
//! (in memory, bounded) and whether each one's signature checks against a webhook's current
//! token or secret, so an admin can see a real delivery before any receiver exists.

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::sign::{Secret, Token};

/// How many requests are kept, and the most of one body kept.
pub const KEEP: usize = 50;
pub const MAX_BODY: usize = 256 * 1024;

/// Where the inbox is served, under the web server's base URL.
pub const PATH: &str = "/inbox/receive";

/// One request the inbox was sent.
#[derive(Clone, Debug)]
pub struct Request {
    /// Its place among every request received since the daemon started, from 1.
    pub seq: u64,
    pub time_ms: i64,
    pub from: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The body's length as sent (`body` holds at most `MAX_BODY`).
    pub size: usize,
    pub signature: Verdict,
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

/// Which webhook signed a request with `headers` and `body`, if any did.
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
            && crate::sign::verify_exavault(token.expose(), body, sig)
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

/// The requests received, newest last.
#[derive(Default)]
pub struct Inbox {
    requests: Mutex<(u64, VecDeque<Request>)>,
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
        list.push_back(request);
        *count
    }

    /// The requests kept, newest first.
    pub fn newest_first(&self) -> Vec<Request> {
        let guard = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        guard.1.iter().rev().cloned().collect()
    }

    /// The requests kept that came after place `after`, oldest first.
    pub fn since(&self, after: u64) -> Vec<Request> {
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
        let by_t2 = crate::sign::exavault(t2.expose(), body);
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
        for i in 0..(KEEP + 3) {
            inbox.keep(Request {
                seq: 0,
                time_ms: i as i64,
                from: String::new(),
                headers: Vec::new(),
                body: Vec::new(),
                size: 0,
                signature: Verdict::Unsigned,
            });
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
}
