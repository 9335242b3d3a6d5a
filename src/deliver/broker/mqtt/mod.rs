//! MQTT publishing at QoS 1: MQTT 5, or 3.1.1 when the broker refuses 5. The session is
//! persistent (a fixed client id, `clean start` off, a week's session expiry), each message
//! counts as delivered when its PUBACK comes, and a message not yet acknowledged when the
//! connection is lost is sent again (with DUP set) on the next connection. Over MQTT 5 each
//! message carries `webhook-id` and the signature headers as user properties, and says it is
//! JSON; over 3.1.1 the body alone goes (its `id` field names the event).
//!
//! The client is small and written here: a publisher needs CONNECT, PUBLISH, PUBACK and
//! DISCONNECT, and owning the packet ids is what ties each PUBACK to its event.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use md5::Digest;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Message, Result, all_failed, check_policy};
use crate::core::endpoint::BrokerUrl;
use crate::core::outcome::Outcome;
use crate::deliver::settings::ClientSettings;

/// Seconds a broker keeps the session after the connection ends (MQTT 5).
const SESSION_EXPIRY: u32 = 7 * 86_400;
/// The keep-alive this client asks for, in seconds; a connection idle for `IDLE` is closed
/// and a new one made rather than pinged.
const KEEP_ALIVE: u16 = 60;
const IDLE: std::time::Duration = std::time::Duration::from_secs(45);

/// Why no more PUBACKs are coming on this connection.
enum Lost {
    Timeout,
    Broken(String),
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

struct Connection {
    stream: Box<dyn Stream>,
    /// MQTT 5 (else 3.1.1).
    v5: bool,
    /// Bytes read and not yet taken as a packet.
    buffer: Vec<u8>,
    used: Instant,
    /// The TCP socket under the stream (under TLS too), for `TCP_QUICKACK`.
    fd: std::os::fd::RawFd,
    /// Several PUBACKs are awaited: each read acknowledges at once (see `quick_ack`).
    quick: bool,
    /// How many publishes the broker takes unacknowledged, and its largest packet (CONNACK).
    receive_max: u16,
    max_packet: usize,
}

pub struct Mqtt {
    host: String,
    port: u16,
    user: Option<String>,
    password: Option<String>,
    client_id: String,
    settings: ClientSettings,
    connection: tokio::sync::Mutex<Option<Connection>>,
    /// The broker refused MQTT 5 once: 3.1.1 from then on.
    old_broker: Mutex<bool>,
    next_id: Mutex<u16>,
    tls_config: Option<Arc<rustls::ClientConfig>>,
}

impl Mqtt {
    pub fn new(
        url: &BrokerUrl,
        hook: u32,
        account: &str,
        settings: &ClientSettings,
    ) -> std::result::Result<Mqtt, String> {
        if settings.credentials.is_some() {
            return Err(
                "names a credentials file, which is for NATS: give MQTT's user and password in the URL"
                    .to_owned(),
            );
        }
        let (host, port) = url.servers[0].clone();
        let tls_config = if url.tls {
            Some(Arc::new(crate::deliver::settings::tls_config(
                settings.ca_file.as_deref(),
            )?))
        } else {
            None
        };
        // The same id at every connection: the broker keeps its session for it. Told apart by
        // box (a digest of the account name, which may hold any character) and webhook, and
        // 23 characters at most for hook ids up to seven digits, as 3.1.1 brokers may require.
        let digest = md5::Md5::digest(account.as_bytes());
        let box_id: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        let client_id = format!("sh-{hook}-{box_id}");
        Ok(Mqtt {
            host,
            port,
            user: url.user.clone(),
            password: url.password.clone(),
            client_id,
            settings: settings.clone(),
            connection: tokio::sync::Mutex::new(None),
            old_broker: Mutex::new(false),
            next_id: Mutex::new(0),
            tls_config,
        })
    }

    pub async fn publish(&self, batch: Vec<Message>, started: Instant) -> Vec<Result> {
        let n = batch.len();
        let mut slot = self.connection.lock().await;
        // A connection idle for most of its keep-alive may be gone already: a new one.
        if slot.as_ref().is_some_and(|c| c.used.elapsed() >= IDLE) {
            *slot = None;
        }
        let deadline = tokio::time::Instant::now() + self.settings.request_timeout;
        let ids: Vec<u16> = batch.iter().map(|_| self.packet_id()).collect();
        let mut results: Vec<Option<Result>> = (0..n).map(|_| None).collect();
        // A connection lost with messages unacknowledged: once more, with DUP set.
        let mut dup = false;
        for round in 0..2 {
            if slot.is_none() {
                match tokio::time::timeout_at(deadline, self.connect()).await {
                    Ok(Ok(c)) => *slot = Some(c),
                    Ok(Err((code, message))) => {
                        return fill(results, code, message, started);
                    }
                    Err(_) => {
                        let message = format!(
                            "could not connect to {}:{} and sign in within {}",
                            self.host,
                            self.port,
                            crate::deliver::human(self.settings.request_timeout)
                        );
                        return fill(results, 28, message, started);
                    }
                }
            }
            let connection = slot.as_mut().expect("connected above");
            // One PUBACK is never held back by the broker's Nagle; quick ACKs would only add
            // packets to a one-at-a-time exchange.
            connection.quick = n > 1;
            let read = send_in_windows(
                connection,
                &batch,
                &ids,
                &mut results,
                dup,
                deadline,
                started,
            )
            .await;
            connection.used = Instant::now();
            match read {
                Ok(()) => break,
                Err(Lost::Timeout) => {
                    // Part of a packet may be written: this connection is not used again.
                    *slot = None;
                    return fill(results, 28, "no PUBACK in time".to_owned(), started);
                }
                Err(Lost::Broken(why)) => {
                    *slot = None;
                    dup = true;
                    log::debug!("{}: {why}; connecting again", self.client_id);
                    if round == 1 {
                        return fill(results, 56, why, started);
                    }
                }
            }
        }
        fill(
            results,
            56,
            "the broker closed the connection".to_owned(),
            started,
        )
    }

    /// The next packet id (1 to 65535; 0 is not one).
    fn packet_id(&self) -> u16 {
        let mut id = self.next_id.lock().unwrap_or_else(|p| p.into_inner());
        *id = id.checked_add(1).unwrap_or(1);
        *id
    }

    async fn connect(&self) -> std::result::Result<Connection, (u32, String)> {
        // The addresses checked are the ones connected to (no second lookup).
        let addrs = check_policy(&[(self.host.clone(), self.port)], &self.settings.policy).await?;
        loop {
            let v5 = !*self.old_broker.lock().unwrap_or_else(|p| p.into_inner());
            let tcp = tokio::time::timeout(
                self.settings.connect_timeout,
                TcpStream::connect(&addrs[..]),
            )
            .await
            .map_err(|_| {
                (
                    28,
                    format!("cannot connect to {}:{}: timed out", self.host, self.port),
                )
            })?
            .map_err(|e| {
                (
                    7,
                    format!("cannot connect to {}:{}: {e}", self.host, self.port),
                )
            })?;
            let _ = tcp.set_nodelay(true);
            let fd = std::os::fd::AsRawFd::as_raw_fd(&tcp);
            let stream: Box<dyn Stream> = match &self.tls_config {
                None => Box::new(tcp),
                Some(config) => {
                    let name = rustls::pki_types::ServerName::try_from(
                        self.host
                            .trim_start_matches('[')
                            .trim_end_matches(']')
                            .to_owned(),
                    )
                    .map_err(|e| {
                        (
                            35,
                            format!(
                                "\"{}\" cannot be checked against a certificate: {e}",
                                self.host
                            ),
                        )
                    })?;
                    let tls = tokio_rustls::TlsConnector::from(Arc::clone(config))
                        .connect(name, tcp)
                        .await
                        .map_err(|e| {
                            let code = if e.to_string().contains("certificate") {
                                60
                            } else {
                                35
                            };
                            (code, format!("TLS handshake failed: {e}"))
                        })?;
                    Box::new(tls)
                }
            };
            let mut connection = Connection {
                stream,
                v5,
                buffer: Vec::new(),
                used: Instant::now(),
                fd,
                quick: false,
                // MQTT 5's defaults; 3.1.1 says nothing, and a window keeps a batch moderate.
                receive_max: if v5 { u16::MAX } else { 256 },
                max_packet: 268_435_455,
            };
            let mut packet = Vec::new();
            encode_connect(
                &mut packet,
                &self.client_id,
                self.user.as_deref(),
                self.password.as_deref(),
                v5,
            );
            connection
                .stream
                .write_all(&packet)
                .await
                .map_err(|e| (7, format!("the broker closed the connection: {e}")))?;
            let connack =
                tokio::time::timeout(self.settings.connect_timeout, next_packet(&mut connection))
                    .await
                    .map_err(|_| (28, "no CONNACK in time".to_owned()))?;
            let connack = match connack {
                Ok(packet) => packet,
                // Some 3.1.1 brokers close on an MQTT 5 CONNECT without a word: 3.1.1 once.
                Err(_) if v5 => {
                    *self.old_broker.lock().unwrap_or_else(|p| p.into_inner()) = true;
                    continue;
                }
                Err(e) => {
                    return Err((
                        56,
                        format!("the broker closed the connection before CONNACK: {e}"),
                    ));
                }
            };
            let (kind, body) = connack;
            if kind >> 4 != 2 || body.len() < 2 {
                return Err((
                    56,
                    format!("the broker answered CONNECT with packet type {}", kind >> 4),
                ));
            }
            let code = body[1];
            // 3.1.1 answers an MQTT 5 CONNECT with "unacceptable protocol version" (1);
            // MQTT 5 brokers that refuse say 0x84.
            if v5 && (code == 0x01 || code == 0x84) {
                *self.old_broker.lock().unwrap_or_else(|p| p.into_inner()) = true;
                log::info!(
                    "{}: the broker does not speak MQTT 5; using 3.1.1",
                    self.client_id
                );
                continue;
            }
            if code != 0 {
                return Err(connack_refusal(code, v5));
            }
            if v5 {
                connack_limits(&body, &mut connection);
            }
            return Ok(connection);
        }
    }
}

/// Sends the messages not yet acknowledged, at most as many at once as the broker said it
/// takes (its Receive Maximum), each window's PUBACKs read before the next is sent. A message
/// larger than the broker's Maximum Packet Size fails alone, unsent.
#[allow(clippy::too_many_arguments)]
async fn send_in_windows(
    connection: &mut Connection,
    batch: &[Message],
    ids: &[u16],
    results: &mut [Option<Result>],
    dup: bool,
    deadline: tokio::time::Instant,
    started: Instant,
) -> std::result::Result<(), Lost> {
    let waiting: Vec<usize> = (0..batch.len()).filter(|i| results[*i].is_none()).collect();
    for window in waiting.chunks(usize::from(connection.receive_max.max(1))) {
        let mut out = Vec::new();
        let mut sent = Vec::with_capacity(window.len());
        for &i in window {
            let before = out.len();
            encode_publish(&mut out, &batch[i], ids[i], dup, connection.v5);
            if out.len() - before > connection.max_packet {
                out.truncate(before);
                results[i] = Some(Result {
                    outcome: Outcome::Failed {
                        code: 56,
                        message: format!(
                            "the message is larger than the broker takes ({} bytes at most)",
                            connection.max_packet
                        ),
                    },
                    took: started.elapsed(),
                });
            } else {
                sent.push(i);
            }
        }
        let written = tokio::time::timeout_at(deadline, async {
            connection.stream.write_all(&out).await?;
            connection.stream.flush().await
        })
        .await;
        match written {
            Err(_) => return Err(Lost::Timeout),
            Ok(Err(e)) => {
                return Err(Lost::Broken(format!(
                    "the connection to the broker failed: {e}"
                )));
            }
            Ok(Ok(())) => read_acks(connection, ids, results, &sent, deadline, started).await?,
        }
    }
    Ok(())
}

/// Fills the results not yet known with the same failure.
fn fill(results: Vec<Option<Result>>, code: u32, message: String, started: Instant) -> Vec<Result> {
    let mut failed = all_failed(results.len(), code, message, started).into_iter();
    results
        .into_iter()
        .map(|r| {
            let f = failed.next().expect("as many as the results");
            r.unwrap_or(f)
        })
        .collect()
}

/// Reads PUBACKs until each message of `window` has one, or the connection is lost.
async fn read_acks(
    connection: &mut Connection,
    ids: &[u16],
    results: &mut [Option<Result>],
    window: &[usize],
    deadline: tokio::time::Instant,
    started: Instant,
) -> std::result::Result<(), Lost> {
    while window.iter().any(|i| results[*i].is_none()) {
        let (kind, body) = match tokio::time::timeout_at(deadline, next_packet(connection)).await {
            Err(_) => return Err(Lost::Timeout),
            Ok(Err(e)) => {
                return Err(Lost::Broken(format!(
                    "the connection to the broker was lost: {e}"
                )));
            }
            Ok(Ok(p)) => p,
        };
        match kind >> 4 {
            4 if body.len() >= 2 => {
                let id = u16::from_be_bytes([body[0], body[1]]);
                let reason = if connection.v5 {
                    body.get(2).copied().unwrap_or(0)
                } else {
                    0
                };
                if let Some(i) = ids.iter().position(|x| *x == id)
                    && results[i].is_none()
                {
                    results[i] = Some(Result {
                        outcome: puback(reason),
                        took: started.elapsed(),
                    });
                }
            }
            // DISCONNECT from an MQTT 5 broker says why.
            14 => {
                let reason = body.first().copied().unwrap_or(0);
                return Err(Lost::Broken(format!(
                    "the broker disconnected (reason 0x{reason:02x})"
                )));
            }
            // PINGRESP, or anything else a publisher is not waiting for.
            _ => {}
        }
    }
    Ok(())
}

/// Takes the broker's Receive Maximum and Maximum Packet Size from an MQTT 5 CONNACK's
/// properties (the others are skipped; one not known stops the reading, keeping the defaults).
fn connack_limits(body: &[u8], connection: &mut Connection) {
    let Some((len, used)) = varint(&body[2..]) else {
        return;
    };
    let Some(props) = body.get(2 + used..(2 + used).saturating_add(len)) else {
        return;
    };
    let mut i = 0;
    let be = |b: &[u8]| b.iter().fold(0usize, |n, x| n << 8 | usize::from(*x));
    while let Some(&id) = props.get(i) {
        i += 1;
        let size = match id {
            0x01 | 0x17 | 0x19 | 0x24 | 0x25 | 0x28 | 0x29 | 0x2A => 1,
            0x13 | 0x21 | 0x22 => 2,
            0x02 | 0x11 | 0x27 => 4,
            // A string or binary value: its own two-byte length first.
            0x03 | 0x08 | 0x09 | 0x12 | 0x15 | 0x16 | 0x1A | 0x1C | 0x1F => {
                2 + props.get(i..i + 2).map_or(usize::MAX / 2, be)
            }
            0x26 => {
                let first = 2 + props.get(i..i + 2).map_or(usize::MAX / 4, be);
                first
                    + 2
                    + props
                        .get(i + first..i + first + 2)
                        .map_or(usize::MAX / 4, be)
            }
            _ => return,
        };
        let Some(value) = props.get(i..i.saturating_add(size)) else {
            return;
        };
        match id {
            0x21 => connection.receive_max = u16::try_from(be(value)).unwrap_or(u16::MAX),
            0x27 => connection.max_packet = be(value),
            _ => {}
        }
        i += size;
    }
}

/// What a PUBACK's reason code means.
fn puback(reason: u8) -> Outcome {
    match reason {
        0x00 => Outcome::Acknowledged {
            answer: "PUBACK".to_owned(),
        },
        0x10 => Outcome::Acknowledged {
            answer: "PUBACK (no subscribers)".to_owned(),
        },
        0x87 => Outcome::Failed {
            code: 9,
            message: "the broker refuses: not authorized to publish to this topic (PUBACK 0x87)"
                .to_owned(),
        },
        0x90 => Outcome::Failed {
            code: 9,
            message: "the broker refuses the topic name (PUBACK 0x90)".to_owned(),
        },
        0x97 => Outcome::Failed {
            code: 56,
            message: "the broker's quota is exceeded (PUBACK 0x97)".to_owned(),
        },
        other => Outcome::Failed {
            code: 56,
            message: format!("the broker refused the message (PUBACK reason 0x{other:02x})"),
        },
    }
}

/// What a refused CONNACK means.
fn connack_refusal(code: u8, v5: bool) -> (u32, String) {
    let why = match (v5, code) {
        (false, 4) | (true, 0x86) => "bad user name or password",
        (false, 5) | (true, 0x87) => "not authorized",
        (false, 2) | (true, 0x85) => "the client id is refused",
        (false, 3) | (true, 0x88) | (true, 0x89) => "the server is unavailable or busy",
        (true, 0x8C) => "bad authentication method",
        _ => "refused",
    };
    let code_of = if matches!((v5, code), (false, 4 | 5) | (true, 0x86 | 0x87 | 0x8C)) {
        67
    } else {
        7
    };
    (
        code_of,
        format!("the broker refused to sign in: {why} (CONNACK 0x{code:02x})"),
    )
}

/// Reads one packet: its first byte and its body.
async fn next_packet(connection: &mut Connection) -> std::io::Result<(u8, Vec<u8>)> {
    loop {
        if let Some((kind, start, len)) = frame(&connection.buffer)? {
            let body = connection.buffer[start..start + len].to_vec();
            connection.buffer.drain(..start + len);
            return Ok((kind, body));
        }
        let mut chunk = [0u8; 4096];
        if connection.quick {
            quick_ack(connection.fd);
        }
        let n = connection.stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the broker closed the connection",
            ));
        }
        connection.buffer.extend_from_slice(&chunk[..n]);
    }
}

/// Acknowledges what arrives at once rather than after the kernel's delayed-ACK wait. A broker
/// that leaves Nagle's algorithm on (mosquitto does unless `set_tcp_nodelay true`) holds each
/// PUBACK of a batch after the first until the last is acknowledged: 40 ms a batch, measured,
/// without this.
fn quick_ack(fd: std::os::fd::RawFd) {
    let on: libc::c_int = 1;
    // SAFETY: a valid option value for a socket the connection owns; failure changes nothing.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_QUICKACK,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// A variable byte integer at the front of `bytes`: its value and how many bytes it took.
fn varint(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut value = 0usize;
    for (i, b) in bytes.iter().take(4).enumerate() {
        value |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// A whole packet at the front of `buffer`: (first byte, body start, body length).
fn frame(buffer: &[u8]) -> std::io::Result<Option<(u8, usize, usize)>> {
    let Some(&kind) = buffer.first() else {
        return Ok(None);
    };
    let mut len = 0usize;
    for i in 0..4 {
        let Some(&b) = buffer.get(1 + i) else {
            return Ok(None);
        };
        len |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            let start = 2 + i;
            // Answers to a publisher are small: a long one is not MQTT.
            if len > 1 << 20 {
                return Err(std::io::Error::other("the broker sent a packet over 1 MiB"));
            }
            return Ok((buffer.len() >= start + len).then_some((kind, start, len)));
        }
    }
    Err(std::io::Error::other("a packet length longer than 4 bytes"))
}

fn put_len(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            break;
        }
    }
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    let len = u16::try_from(s.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&s[..usize::from(len)]);
}

fn packet(out: &mut Vec<u8>, first: u8, body: &[u8]) {
    out.push(first);
    put_len(out, body.len());
    out.extend_from_slice(body);
}

fn encode_connect(
    out: &mut Vec<u8>,
    client_id: &str,
    user: Option<&str>,
    password: Option<&str>,
    v5: bool,
) {
    let mut body = Vec::new();
    put_str(&mut body, b"MQTT");
    body.push(if v5 { 5 } else { 4 });
    let mut flags = 0u8; // clean start off: the session is kept
    if user.is_some() {
        flags |= 0x80;
    }
    if password.is_some() {
        flags |= 0x40;
    }
    body.push(flags);
    body.extend_from_slice(&KEEP_ALIVE.to_be_bytes());
    if v5 {
        let mut props = vec![0x11];
        props.extend_from_slice(&SESSION_EXPIRY.to_be_bytes());
        put_len(&mut body, props.len());
        body.extend_from_slice(&props);
    }
    put_str(&mut body, client_id.as_bytes());
    if let Some(u) = user {
        put_str(&mut body, u.as_bytes());
    }
    if let Some(p) = password {
        put_str(&mut body, p.as_bytes());
    }
    packet(out, 0x10, &body);
}

fn encode_publish(out: &mut Vec<u8>, m: &Message, id: u16, dup: bool, v5: bool) {
    let mut body = Vec::with_capacity(m.body.len() + 256);
    put_str(&mut body, m.subject.as_bytes());
    body.extend_from_slice(&id.to_be_bytes());
    if v5 {
        let mut props = vec![0x01, 1]; // payload format: UTF-8
        props.push(0x03); // content type
        put_str(&mut props, b"application/json");
        for (name, value) in std::iter::once(("webhook-id", m.id.as_str())).chain(
            m.headers
                .iter()
                .filter(|(n, _)| n != "webhook-id")
                .map(|(n, v)| (n.as_str(), v.as_str())),
        ) {
            props.push(0x26);
            put_str(&mut props, name.as_bytes());
            put_str(&mut props, value.as_bytes());
        }
        put_len(&mut body, props.len());
        body.extend_from_slice(&props);
    }
    body.extend_from_slice(&m.body);
    // PUBLISH, QoS 1, DUP when sent again.
    packet(out, 0x32 | if dup { 0x08 } else { 0 }, &body);
}

#[cfg(test)]
mod tests;
