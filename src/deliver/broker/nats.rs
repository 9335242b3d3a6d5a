//! JetStream publishing: each message is published with a reply subject, and counts as
//! delivered only when the stream's acknowledgement comes back (`stream EVENTS seq 1234`, or
//! `duplicate` when the stream had it already: `Nats-Msg-Id` is the event's `webhook-id`, so a
//! repeat within the stream's duplicate window is dropped by the stream).
//!
//! The connection learns the cluster's other servers from the one it reaches and reconnects by
//! itself; messages published while it is away wait in the client until it is back, or until
//! their acknowledgement's time runs out.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_nats::jetstream::context::{
    Context, ContextBuilder, GetStreamByNameErrorKind, PublishAckFuture, PublishErrorKind,
};
use async_nats::{ConnectErrorKind, ConnectOptions, HeaderMap};

use super::{Message, Result, all_failed, check_policy};
use crate::core::endpoint::BrokerUrl;
use crate::core::outcome::Outcome;
use crate::deliver::settings::ClientSettings;

/// How many publishes may wait for their acknowledgements at once.
const IN_FLIGHT: usize = 1024;
/// How many times in a row the client tries to reconnect (a few seconds apart, growing) before
/// it gives up; the next batch then makes a new client, so a link dropped by a reload does not
/// keep dialing its old servers for ever.
const RECONNECTS: usize = 120;

pub struct Nats {
    servers: Vec<String>,
    seeds: Vec<(String, u16)>,
    tls: bool,
    auth: Auth,
    name: String,
    settings: ClientSettings,
    connection: Mutex<Option<Context>>,
    /// What the server last said was wrong (`-ERR`), such as a publish it does not allow.
    trouble: Arc<Mutex<Option<String>>>,
}

enum Auth {
    None,
    Token(String),
    Password(String, String),
    /// A `.creds` file (a user JWT and its NKey seed) or a file holding an NKey seed.
    File(std::path::PathBuf),
}

impl Nats {
    pub fn new(
        url: &BrokerUrl,
        hook: u32,
        account: &str,
        settings: &ClientSettings,
    ) -> std::result::Result<Nats, String> {
        let scheme = if url.tls { "tls" } else { "nats" };
        let auth = match (&url.user, &url.password, &settings.credentials) {
            (Some(_), _, Some(_)) => {
                return Err(
                    "has a user in its URL and a credentials file: give one of them".to_owned(),
                );
            }
            (_, _, Some(file)) => Auth::File(file.clone()),
            (Some(user), Some(pass), None) => Auth::Password(user.clone(), pass.clone()),
            (Some(token), None, None) => Auth::Token(token.clone()),
            (None, _, None) => Auth::None,
        };
        Ok(Nats {
            servers: url
                .servers
                .iter()
                .map(|(h, p)| format!("{scheme}://{h}:{p}"))
                .collect(),
            seeds: url.servers.clone(),
            tls: url.tls,
            auth,
            name: format!("sharehook {account} webhook {hook}"),
            settings: settings.clone(),
            connection: Mutex::new(None),
            trouble: Arc::default(),
        })
    }

    pub async fn publish(&self, batch: Vec<Message>, started: Instant) -> Vec<Result> {
        let n = batch.len();
        // Connecting, handing every message to the connection and awaiting the
        // acknowledgements all end by one deadline.
        let deadline = tokio::time::Instant::now() + self.settings.request_timeout;
        let js = match tokio::time::timeout_at(deadline, self.connected()).await {
            Ok(Ok(js)) => js,
            Ok(Err((code, message))) => return all_failed(n, code, message, started),
            Err(_) => {
                let message = format!(
                    "could not connect to the broker and sign in within {}",
                    crate::deliver::human(self.settings.request_timeout)
                );
                return all_failed(n, 28, message, started);
            }
        };
        let mut sent: Vec<std::result::Result<PublishAckFuture, Outcome>> = Vec::with_capacity(n);
        let subjects: Vec<String> = batch.iter().map(|m| m.subject.clone()).collect();
        for m in batch {
            // A message not handed over stops the batch: one after it must not reach the
            // stream first. The rest fail with it, unsent.
            if let Some(Err(failed)) = sent.last() {
                let failed = failed.clone();
                sent.push(Err(failed));
                continue;
            }
            let mut headers = HeaderMap::new();
            headers.insert("Nats-Msg-Id", m.dedup.as_str());
            for (name, value) in &m.headers {
                headers.insert(name.as_str(), value.as_str());
            }
            let publish = js.publish_with_headers(m.subject.clone(), headers, m.body.into());
            sent.push(match tokio::time::timeout_at(deadline, publish).await {
                Err(_) => Err(self.failure(PublishErrorKind::TimedOut, "", &m.subject)),
                Ok(Err(e)) => Err(self.failure(e.kind(), &e.to_string(), &m.subject)),
                Ok(Ok(ack)) => Ok(ack),
            });
        }
        let mut results = Vec::with_capacity(n);
        for (ack, subject) in sent.into_iter().zip(&subjects) {
            let outcome = match ack {
                Err(failed) => failed,
                Ok(ack) => match tokio::time::timeout_at(deadline, ack).await {
                    Err(_) => self.failure(PublishErrorKind::TimedOut, "", subject),
                    Ok(Err(e)) => self.failure(e.kind(), &e.to_string(), subject),
                    Ok(Ok(ack)) => {
                        *self.trouble.lock().unwrap_or_else(|p| p.into_inner()) = None;
                        Outcome::Acknowledged {
                            answer: format!(
                                "stream {} seq {}{}",
                                ack.stream,
                                ack.sequence,
                                if ack.duplicate { " duplicate" } else { "" }
                            ),
                        }
                    }
                },
            };
            results.push(Result {
                outcome,
                took: started.elapsed(),
            });
        }
        self.explain_no_responders(&js, &mut results, &subjects)
            .await;
        results
    }

    /// "No responders" means no stream server took the subject: either no stream takes it,
    /// or the one that does has no leader now (its servers are electing one). The JetStream
    /// API tells which, once per batch.
    async fn explain_no_responders(
        &self,
        js: &Context,
        results: &mut [Result],
        subjects: &[String],
    ) {
        let Some(first) = results
            .iter()
            .position(|r| matches!(r.outcome, Outcome::Failed { code: 78, .. }))
        else {
            return;
        };
        let subject = &subjects[first];
        let lookup = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            js.stream_by_subject(subject.as_str()),
        )
        .await;
        let (code, message) = match lookup {
            Ok(Err(e)) if e.kind() == GetStreamByNameErrorKind::NotFound => return,
            Ok(Ok(stream)) => (
                56,
                format!(
                    "the stream {stream}, which takes the subject \"{subject}\", did not answer: \
                     it has no leader now (its servers are electing one, or too few are up)"
                ),
            ),
            _ => (
                56,
                format!(
                    "no stream answered for the subject \"{subject}\" (none takes it, or the \
                     cluster has no leader now; the JetStream API did not say which)"
                ),
            ),
        };
        for r in results.iter_mut() {
            if matches!(r.outcome, Outcome::Failed { code: 78, .. }) {
                r.outcome = Outcome::Failed {
                    code,
                    message: message.clone(),
                };
            }
        }
    }

    /// The JetStream context of this link's connection, made now if there is none.
    async fn connected(&self) -> std::result::Result<Context, (u32, String)> {
        if let Some(js) = self.lock().clone() {
            // A client that gave up reconnecting is closed for good: a new one is made, and
            // the credentials file is read again.
            if js.client().connection_state() != async_nats::connection::State::Disconnected
                || !self.gave_up()
            {
                return Ok(js);
            }
            *self.lock() = None;
        }
        check_policy(&self.seeds, &self.settings.policy).await?;
        let trouble = Arc::clone(&self.trouble);
        let mut options = ConnectOptions::new()
            .name(&self.name)
            .connection_timeout(self.settings.connect_timeout)
            .require_tls(self.tls)
            .max_reconnects(RECONNECTS)
            .event_callback(move |event| {
                let trouble = Arc::clone(&trouble);
                async move {
                    let said = match event {
                        async_nats::Event::ServerError(e) => Some(e.to_string()),
                        async_nats::Event::ClientError(e) => Some(e.to_string()),
                        // A new connection: what the last one was told is old news.
                        async_nats::Event::Connected => None,
                        _ => return,
                    };
                    *trouble.lock().unwrap_or_else(|p| p.into_inner()) = said;
                }
            });
        if let Some(ca) = &self.settings.ca_file {
            options = options.add_root_certificates(ca.clone());
        }
        options = match &self.auth {
            Auth::None => options,
            Auth::Token(t) => options.token(t.clone()),
            Auth::Password(u, p) => options.user_and_password(u.clone(), p.clone()),
            Auth::File(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| (67, format!("cannot read {}: {e}", path.display())))?;
                let bad = |what: &str| (67, format!("{}: {what}", path.display()));
                let (jwt, seed) = read_credentials(&text).map_err(|w| bad(&w))?;
                let key = Arc::new(
                    nkeys::KeyPair::from_seed(&seed)
                        .map_err(|e| bad(&format!("its seed is not a user NKey seed: {e}")))?,
                );
                let sign = move |nonce: Vec<u8>| {
                    let key = Arc::clone(&key);
                    async move { key.sign(&nonce).map_err(async_nats::AuthError::new) }
                };
                match jwt {
                    Some(jwt) => options.jwt(jwt, sign),
                    None => options.nkey(seed),
                }
            }
        };
        let client = async_nats::connect_with_options(self.servers.clone(), options)
            .await
            .map_err(|e| {
                // rustls's refusal reaches here as an I/O error.
                let certificate = e.to_string().contains("invalid peer certificate");
                let code = match e.kind() {
                    _ if certificate => 60,
                    ConnectErrorKind::AuthorizationViolation | ConnectErrorKind::Authentication => {
                        67
                    }
                    ConnectErrorKind::TimedOut => 28,
                    ConnectErrorKind::Tls => 35,
                    ConnectErrorKind::Dns => 6,
                    _ => 7,
                };
                let what = match code {
                    67 => "the broker refused to sign in",
                    60 => "the broker's certificate is refused",
                    _ => "cannot connect to the broker",
                };
                (code, format!("{what}: {e}"))
            })?;
        let js = ContextBuilder::new()
            .timeout(self.settings.request_timeout)
            .max_ack_inflight(IN_FLIGHT)
            .build(client);
        *self.lock() = Some(js.clone());
        Ok(js)
    }

    /// Whether the client said it stopped reconnecting.
    fn gave_up(&self) -> bool {
        self.trouble
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_deref()
            .is_some_and(|t| {
                t.contains("maximum number of reconnects") || t.contains("max reconnects")
            })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Context>> {
        self.connection.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A failed publish as an outcome, naming what is at fault.
    fn failure(&self, kind: PublishErrorKind, said: &str, subject: &str) -> Outcome {
        let (code, message) = match kind {
            PublishErrorKind::StreamNotFound => (
                78,
                format!(
                    "no stream takes the subject \"{subject}\" (`sharehook setup nats` prints one that does)"
                ),
            ),
            PublishErrorKind::TimedOut => {
                let trouble = self
                    .trouble
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                match trouble {
                    Some(t)
                        if t.contains(&format!("\"{subject}\""))
                            || t.to_lowercase()
                                .contains("permissions violation for publish") =>
                    {
                        (9, format!("the broker refuses: {t}"))
                    }
                    _ => (
                        28,
                        format!(
                            "no acknowledgement from the stream within {}",
                            crate::deliver::human(self.settings.request_timeout)
                        ),
                    ),
                }
            }
            PublishErrorKind::BrokenPipe => (
                56,
                "the connection to the broker was lost before the acknowledgement".to_owned(),
            ),
            _ => (56, format!("the stream refused the message: {said}")),
        };
        Outcome::Failed { code, message }
    }
}

impl Drop for Nats {
    /// Closes the connection, so that a replaced or deleted webhook's link stops reconnecting
    /// (what it still held was not acknowledged, and goes again through the new link).
    fn drop(&mut self) {
        if let Some(js) = self.lock().take() {
            let client = js.client();
            super::runtime().spawn(async move {
                let _ =
                    tokio::time::timeout(std::time::Duration::from_secs(5), client.drain()).await;
            });
        }
    }
}

/// A `.creds` file's user JWT and NKey seed, or a file holding just a user seed (`SU...`).
fn read_credentials(text: &str) -> std::result::Result<(Option<String>, String), String> {
    // The value between a `-----BEGIN ...-----` line naming `what` and the next dashed line.
    let block = |what: &str| -> Option<String> {
        let mut lines = text.lines().map(str::trim);
        lines.find(|l| l.starts_with("---") && l.contains(what))?;
        lines
            .take_while(|l| !l.starts_with("---"))
            .find(|l| !l.is_empty())
            .map(str::to_owned)
    };
    let seed = block("NKEY SEED")
        .or_else(|| {
            text.lines()
                .map(str::trim)
                .find(|l| l.starts_with("SU"))
                .map(str::to_owned)
        })
        .ok_or_else(|| {
            "holds neither a user JWT and seed (.creds) nor a user NKey seed (SU...)".to_owned()
        })?;
    Ok((block("USER JWT"), seed))
}

/// How long the stream remembers a message id, dropping a second message with the same one.
/// It covers a restart after a crash (whose unwritten results are sent again at once) and the
/// first retries of the default schedule (5 s, 5 min, 30 min).
pub const DUPLICATE_WINDOW: std::time::Duration = std::time::Duration::from_secs(3600);

/// The stream definition `sharehook setup nats` prints, as `nats stream add --config` takes
/// it (and as JetStream's `STREAM.CREATE` takes it): file storage, kept 30 days by limits,
/// the oldest discarded first, a one-hour duplicate window.
pub fn stream_definition(
    name: &str,
    subjects: &[String],
    replicas: u32,
) -> std::result::Result<String, String> {
    if name.is_empty() || name.contains(|c: char| ".*> \t/\\".contains(c) || c.is_control()) {
        return Err(format!(
            "\"{name}\" cannot name a stream (no dots, wildcards, spaces or slashes)"
        ));
    }
    if !(1..=5).contains(&replicas) {
        return Err(format!("a stream has 1 to 5 replicas, not {replicas}"));
    }
    for s in subjects {
        if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("\"{s}\" is not a subject"));
        }
    }
    let nanos = |d: std::time::Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    let definition = serde_json::json!({
        "name": name,
        "subjects": subjects,
        "retention": "limits",
        "max_consumers": -1,
        "max_msgs_per_subject": -1,
        "max_msgs": -1,
        "max_bytes": -1,
        "max_age": nanos(std::time::Duration::from_secs(30 * 86_400)),
        "max_msg_size": -1,
        "storage": "file",
        "discard": "old",
        "num_replicas": replicas,
        "duplicate_window": nanos(DUPLICATE_WINDOW),
        "allow_direct": true,
        "deny_delete": true,
        "deny_purge": false,
    });
    serde_json::to_string_pretty(&definition).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_creds_file_and_a_seed_file_are_read() {
        // The layout `nsc` writes (values shortened).
        let creds = "-----BEGIN NATS USER JWT-----\neyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.x.y\n------END NATS USER JWT------\n\n\
                     ************************* IMPORTANT *************************\nNKEY Seed printed below can be used to sign and prove identity.\n\n\
                     -----BEGIN USER NKEY SEED-----\nSUAIO3FHUX5PNV2LQIIP7TZ3N4L7TX3W53MQGEIVYFIGA635OZCKEYHFLM\n------END USER NKEY SEED------\n";
        let (jwt, seed) = read_credentials(creds).unwrap();
        assert_eq!(
            jwt.as_deref(),
            Some("eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.x.y")
        );
        assert_eq!(
            seed,
            "SUAIO3FHUX5PNV2LQIIP7TZ3N4L7TX3W53MQGEIVYFIGA635OZCKEYHFLM"
        );
        assert!(nkeys::KeyPair::from_seed(&seed).is_ok());
        let (jwt, seed) =
            read_credentials("  SUAIO3FHUX5PNV2LQIIP7TZ3N4L7TX3W53MQGEIVYFIGA635OZCKEYHFLM\n")
                .unwrap();
        assert_eq!((jwt, seed.len()), (None, 58));
        assert!(
            read_credentials("user=box\n")
                .unwrap_err()
                .contains("neither")
        );
    }

    #[test]
    fn the_stream_definition_is_what_the_nats_cli_takes() {
        let text = stream_definition("FILES", &["files.>".into()], 3).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["subjects"][0], "files.>");
        assert_eq!(v["num_replicas"], 3);
        assert_eq!(v["duplicate_window"], 3_600_000_000_000u64);
        assert!(stream_definition("a.b", &[], 3).is_err());
        assert!(stream_definition("FILES", &[], 7).is_err());
    }
}
