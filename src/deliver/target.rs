//! What a worker knows of its webhook, and one attempt: the body signed as configured, then
//! posted, or published to the webhook's broker (one message, or a pipelined batch), with the
//! log entry of each.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::config::{Format, SignatureMode};
use crate::core::event::Event;
use crate::core::outcome::Outcome;
use crate::core::payload::{V1, V2};
use crate::core::retry::Schedule;
use crate::core::sign::{self, Keys};
use crate::deliver::broker;
use crate::deliver::now_ms;
use crate::deliver::send::Client;
use crate::store::LogEntry;

/// What a worker needs to know about its webhook.
pub struct Target {
    pub id: u32,
    pub url: String,
    /// `url` without credentials or query, as the log shows it.
    pub shown_url: String,
    pub format: Format,
    pub signature: SignatureMode,
    pub keys: Keys,
    pub account_name: String,
    /// The protocol label of each share, by share name.
    pub protocols: HashMap<String, String>,
    pub schedule: Schedule,
    /// How long it may fail without a success before it is disabled (zero: never).
    pub disable_after: Duration,
}

impl Target {
    /// The body and headers of attempt `attempt` of `event`, signed as configured.
    pub fn request(
        &self,
        event: &Event,
        attempt: u32,
        now_ms: i64,
    ) -> (Vec<u8>, Vec<(String, String)>) {
        // A change made through the API says so; one seen on the disk carries its share's label.
        let protocol = match &event.protocol {
            Some(protocol) => protocol.as_str(),
            None => self
                .protocols
                .get(&event.share)
                .map_or("smb", String::as_str),
        };
        let body = match self.format {
            Format::V1 => V1::of(event, &self.account_name, protocol, attempt).to_bytes(),
            Format::V2 => V2 {
                event,
                account_name: &self.account_name,
                protocol,
                attempt,
            }
            .to_bytes(),
        };
        let mut headers = Vec::new();
        let k = &self.keys;
        if self.signature.exavault() {
            headers.push((
                "X-Exavault-Signature".to_owned(),
                sign::exavault(k.token.expose(), &body),
            ));
            if let Some(old) = k.old_token(now_ms) {
                headers.push((
                    "X-Exavault-Signature-Previous".to_owned(),
                    sign::exavault(old.expose(), &body),
                ));
            }
        }
        if let (true, Some(secret)) = (self.signature.standard(), &k.secret) {
            let id = event.id.to_string();
            let timestamp = now_ms.div_euclid(1000);
            let mut signature = secret.sign(&id, timestamp, &body);
            if let Some(old) = k.old_secret(now_ms) {
                signature.push(' ');
                signature.push_str(&old.sign(&id, timestamp, &body));
            }
            headers.push(("webhook-id".to_owned(), id));
            headers.push(("webhook-timestamp".to_owned(), timestamp.to_string()));
            headers.push(("webhook-signature".to_owned(), signature));
        }
        (body, headers)
    }

    /// Sends attempt `attempt` of `event` (a POST, or a publish to the webhook's broker);
    /// returns what came of it and its log entry.
    pub fn attempt(
        &self,
        client: &Client,
        event: &Event,
        attempt: u32,
        resend: bool,
    ) -> (Outcome, LogEntry) {
        if let Client::Broker(link) = client {
            let mut one = self.publish(link, &[(event, attempt, resend)]);
            return one.pop().expect("one result for one message");
        }
        let now = now_ms();
        let (body, headers) = self.request(event, attempt, now);
        let header_refs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let started = Instant::now();
        let outcome = client.post(&self.url, &header_refs, &body);
        let took = started.elapsed();
        let entry = self.entry(event, attempt, resend, now, &outcome, took, body);
        (outcome, entry)
    }

    /// Publishes `items` (event, attempt, resend) to the webhook's broker in one pipelined
    /// batch; what came of each, in order.
    pub fn publish(
        &self,
        link: &broker::Link,
        items: &[(&Event, u32, bool)],
    ) -> Vec<(Outcome, LogEntry)> {
        let now = now_ms();
        let mut bodies = Vec::with_capacity(items.len());
        let messages = items
            .iter()
            .map(|(event, attempt, _)| {
                let (body, headers) = self.request(event, *attempt, now);
                bodies.push(body.clone());
                broker::Message {
                    subject: link.subject(event, &self.account_name),
                    id: event.id.to_string(),
                    dedup: format!(
                        "{}-{}-{}",
                        safe_account(&self.account_name),
                        self.id,
                        event.id
                    ),
                    headers,
                    body,
                }
            })
            .collect();
        let results = link.publish(messages);
        items
            .iter()
            .zip(results)
            .zip(bodies)
            .map(|((&(event, attempt, resend), r), body)| {
                let entry = self.entry(event, attempt, resend, now, &r.outcome, r.took, body);
                (r.outcome, entry)
            })
            .collect()
    }

    /// The log entry of one attempt.
    #[allow(clippy::too_many_arguments)]
    fn entry(
        &self,
        event: &Event,
        attempt: u32,
        resend: bool,
        now: i64,
        outcome: &Outcome,
        took: Duration,
        body: Vec<u8>,
    ) -> LogEntry {
        let (status, transport, message, response_size, response) = match outcome {
            Outcome::Answered {
                status,
                size,
                excerpt,
                ..
            } => (
                u32::from(*status),
                false,
                String::new(),
                *size,
                excerpt[..excerpt.len().min(crate::store::LOG_RESPONSE_BYTES)].to_vec(),
            ),
            Outcome::Failed { code, message } => (*code, true, message.clone(), 0, Vec::new()),
            // A broker's acknowledgement: a success, with the broker's words as its answer.
            Outcome::Acknowledged { answer } => (
                200,
                false,
                answer.clone(),
                answer.len() as u64,
                answer.as_bytes().to_vec(),
            ),
        };
        LogEntry {
            id: 0,
            time_ms: now,
            webhook: self.id,
            format: self.format.name().to_owned(),
            attempt,
            resend,
            url: self.shown_url.clone(),
            status,
            transport,
            message,
            response_size,
            response,
            duration_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
            event: event.clone(),
            body,
        }
    }
}

/// The account name as it goes into a `Nats-Msg-Id`: letters, digits, `-` and `_`, the rest
/// `_`.
fn safe_account(account: &str) -> String {
    account
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
