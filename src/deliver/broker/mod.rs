//! Publishing to a broker instead of posting: a webhook whose URL is `nats://`, `tls://`,
//! `mqtt://` or `mqtts://` (see `core::endpoint`). A link holds one connection, made when
//! first needed and kept (the clients reconnect by themselves), and publishes a batch of
//! messages in order, all of them sent before the first acknowledgement is awaited: on one
//! connection the broker takes them in the order sent. Each message's result is its own
//! acknowledgement (or why there was none).
//!
//! The clients are asynchronous; they run on one runtime of their own, on one thread, which
//! the delivery threads hand their batches to and wait on.

pub mod mqtt;
pub mod nats;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::core::endpoint::{Broker, BrokerUrl};
use crate::core::event::Event;
use crate::core::outcome::Outcome;
use crate::deliver::settings::ClientSettings;

/// One message to publish: the webhook's body, its signature headers, the event's id (the
/// `webhook-id` user property over MQTT 5) and the id JetStream's duplicate window knows it by
/// (`Nats-Msg-Id`: box, webhook and event, so that two boxes or two webhooks of one box that
/// publish into one stream never drop each other's messages as repeats).
pub struct Message {
    pub subject: String,
    pub id: String,
    pub dedup: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What came of one message, and how long after the batch began it was known.
pub struct Result {
    pub outcome: Outcome,
    pub took: Duration,
}

/// A webhook's connection to its broker.
pub struct Link {
    url: BrokerUrl,
    kind: Kind,
}

enum Kind {
    Nats(nats::Nats),
    Mqtt(mqtt::Mqtt),
}

impl Link {
    /// A link for webhook `hook` of box `account` to `url` (connected when first used).
    pub fn new(
        url: &str,
        hook: u32,
        account: &str,
        settings: &ClientSettings,
    ) -> std::result::Result<Link, String> {
        let parsed = BrokerUrl::parse(url)?;
        let kind = match parsed.broker {
            Broker::Nats => Kind::Nats(nats::Nats::new(&parsed, hook, account, settings)?),
            Broker::Mqtt => Kind::Mqtt(mqtt::Mqtt::new(&parsed, hook, account, settings)?),
        };
        Ok(Link { url: parsed, kind })
    }

    /// The subject (or topic) `event` goes to.
    pub fn subject(&self, event: &Event, account: &str) -> String {
        self.url.subject(account, &event.share, event.op)
    }

    /// Publishes `batch` in order; one result per message, in the same order.
    pub fn publish(&self, batch: Vec<Message>) -> Vec<Result> {
        let n = batch.len();
        let started = Instant::now();
        let results = match &self.kind {
            Kind::Nats(n) => on_runtime(n.publish(batch, started)),
            Kind::Mqtt(m) => on_runtime(m.publish(batch, started)),
        };
        debug_assert_eq!(results.len(), n);
        results
    }
}

/// Runs `work` on the brokers' runtime and waits for it.
fn on_runtime<F: Future>(work: F) -> F::Output {
    runtime().block_on(work)
}

/// The brokers' runtime: one thread drives it, for its connections' reads, writes and timers.
pub(crate) fn runtime() -> &'static tokio::runtime::Handle {
    static HANDLE: OnceLock<tokio::runtime::Handle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("the brokers' runtime cannot start");
        let handle = runtime.handle().clone();
        std::thread::Builder::new()
            .name("brokers".to_owned())
            .spawn(move || runtime.block_on(std::future::pending::<()>()))
            .expect("the brokers' thread cannot start");
        handle
    })
}

/// The same failure for every message of a batch (nothing was sent).
fn all_failed(n: usize, code: u32, message: String, started: Instant) -> Vec<Result> {
    (0..n)
        .map(|_| Result {
            outcome: Outcome::Failed {
                code,
                message: message.clone(),
            },
            took: started.elapsed(),
        })
        .collect()
}

/// Checks the servers a URL names against the address policy before the first connection:
/// every address each name resolves to must be allowed (a name that also resolves to a refused
/// address is refused); the error names the refused address. Returns the addresses, for a
/// client that connects to them itself. (Servers a NATS cluster tells of later are the
/// cluster's own, and are trusted.)
async fn check_policy(
    servers: &[(String, u16)],
    policy: &crate::core::netpolicy::AddressPolicy,
) -> std::result::Result<Vec<std::net::SocketAddr>, (u32, String)> {
    let mut allowed = Vec::new();
    for (host, port) in servers {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<std::net::SocketAddr> = match bare.parse::<std::net::IpAddr>() {
            Ok(ip) => vec![std::net::SocketAddr::new(ip, *port)],
            Err(_) => {
                let lookup = tokio::time::timeout(
                    std::time::Duration::from_secs(10),
                    tokio::net::lookup_host((bare, *port)),
                )
                .await;
                match lookup {
                    Ok(Ok(addrs)) => addrs.collect(),
                    Ok(Err(e)) => return Err((6, format!("cannot find {host}: {e}"))),
                    Err(_) => return Err((6, format!("cannot find {host}: no answer in 10 s"))),
                }
            }
        };
        for addr in addrs {
            policy
                .check(addr.ip())
                .map_err(|why| (7, format!("refused by policy: {why}")))?;
            allowed.push(addr);
        }
    }
    Ok(allowed)
}
