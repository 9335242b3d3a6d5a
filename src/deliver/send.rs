//! The only module that does HTTP out: one POST, and what came of it. Redirects are never
//! followed, no proxy is taken from the environment, connections are kept alive between
//! posts, at most 64 KiB of an answer is read, and every new connection's resolved address
//! is checked against the address policy first. A webhook whose URL names a broker has a
//! broker link instead (see `broker`).

use std::io::Read;
use std::sync::Arc;

use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

use crate::config::load_ca_file;
use crate::core::netpolicy::AddressPolicy;
use crate::core::redact::{hide_password, redact_url};
use crate::deliver::broker::Link;
pub use crate::deliver::settings::ClientSettings;

pub const USER_AGENT: &str = concat!("sharehook/", env!("CARGO_PKG_VERSION"));

/// How much of an answer's body is read (and kept for the log).
pub const MAX_RESPONSE: u64 = 64 * 1024;

pub use crate::core::outcome::Outcome;

/// A webhook's way out: an HTTP client (cheap to clone, sharing its idle connections), or
/// its own link to a broker.
#[derive(Clone)]
pub enum Client {
    Http(ureq::Agent),
    Broker(Arc<Link>),
}

impl Client {
    /// The client for `url`: a broker link for a broker's URL, else an HTTP client.
    pub fn for_url(
        url: &str,
        hook: u32,
        account: &str,
        settings: &ClientSettings,
    ) -> Result<Client, String> {
        if crate::core::endpoint::broker_of(url).is_some() {
            if let Some(ca) = &settings.ca_file {
                load_ca_file(ca)?;
            }
            return Link::new(url, hook, account, settings).map(|l| Client::Broker(Arc::new(l)));
        }
        Client::new(settings)
    }

    /// An HTTP client.
    pub fn new(settings: &ClientSettings) -> Result<Client, String> {
        let mut tls = ureq::tls::TlsConfig::builder();
        if let Some(path) = &settings.ca_file {
            let certs = load_ca_file(path)?;
            tls = tls.root_certs(ureq::tls::RootCerts::Specific(Arc::new(certs)));
        }
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .user_agent(USER_AGENT)
            .timeout_connect(Some(settings.connect_timeout))
            .timeout_global(Some(settings.request_timeout))
            .tls_config(tls.build())
            .build();
        let resolver = PolicyResolver {
            policy: settings.policy.clone(),
            inner: DefaultResolver::default(),
        };
        let agent = ureq::Agent::with_parts(config, DefaultConnector::default(), resolver);
        Ok(Client::Http(agent))
    }

    /// POSTs `body` as JSON to `url` with extra `headers` (an HTTP client only).
    pub fn post(&self, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Outcome {
        let agent = match self {
            Client::Http(agent) => agent,
            Client::Broker(_) => {
                return Outcome::Failed {
                    code: 3,
                    message: "a broker's link cannot post".to_owned(),
                };
            }
        };
        let mut request = agent.post(url).header("Content-Type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        match request.send(body) {
            Ok(mut response) => {
                let status = response.status().as_u16();
                let mut excerpt = Vec::new();
                let read = response
                    .body_mut()
                    .as_reader()
                    .take(MAX_RESPONSE)
                    .read_to_end(&mut excerpt);
                if let Err(e) = read {
                    // The status arrived, so the receiver decided; a broken body changes nothing.
                    log::debug!("reading the answer from {} failed: {e}", redact_url(url));
                }
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                Outcome::Answered {
                    status,
                    size: excerpt.len() as u64,
                    excerpt,
                    retry_after,
                }
            }
            Err(e) => match failure(&e) {
                // What a library says may quote the URL: its password is not shown.
                Outcome::Failed { code, message } => Outcome::Failed {
                    code,
                    message: hide_password(&message, url),
                },
                answered => answered,
            },
        }
    }
}

fn failure(e: &ureq::Error) -> Outcome {
    let (code, message) = match e {
        ureq::Error::HostNotFound => (6, "host not found".to_owned()),
        ureq::Error::ConnectionFailed => (7, "connection failed".to_owned()),
        ureq::Error::Timeout(t) => (28, format!("timed out ({t})")),
        ureq::Error::Rustls(r) => tls_failure(r),
        ureq::Error::Tls(t) => (35, format!("TLS handshake failed: {t}")),
        // rustls reports a failed handshake to a reader as an I/O error around its own.
        ureq::Error::Io(io) => match io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
            Some(r) => tls_failure(r),
            None => io_failure(io, io.kind()),
        },
        ureq::Error::BadUri(u) => (3, format!("bad URL: {u}")),
        other => (56, other.to_string()),
    };
    Outcome::Failed { code, message }
}

/// The curl-style code and message of an I/O failure.
fn io_failure(io: &std::io::Error, kind: std::io::ErrorKind) -> (u32, String) {
    use std::io::ErrorKind as K;
    match kind {
        K::ConnectionRefused => (7, "connection refused".to_owned()),
        K::TimedOut | K::WouldBlock => (28, "timed out".to_owned()),
        K::UnexpectedEof => (52, "empty reply from the receiver".to_owned()),
        K::AddrNotAvailable | K::NetworkUnreachable | K::HostUnreachable => {
            (7, format!("cannot connect: {io}"))
        }
        K::PermissionDenied => (7, format!("refused by policy: {io}")),
        _ => (56, format!("receive failure: {io}")),
    }
}

/// 60 for a rejected certificate, 35 for any other TLS failure.
fn tls_failure(r: &rustls::Error) -> (u32, String) {
    match r {
        rustls::Error::InvalidCertificate(c) => (60, format!("certificate rejected: {c:?}")),
        other => (35, format!("TLS handshake failed: {other}")),
    }
}

/// Resolves as usual, then drops the addresses the policy refuses; fails when none is left.
#[derive(Debug)]
struct PolicyResolver {
    policy: AddressPolicy,
    inner: DefaultResolver,
}

impl Resolver for PolicyResolver {
    fn resolve(
        &self,
        uri: &http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        // An address written in the URL needs no lookup (ureq would start a thread for one on
        // every request, kept-alive connection or not).
        let literal = uri.host().and_then(|h| {
            h.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .ok()
        });
        let all = match literal {
            Some(ip) => {
                let port = uri
                    .port_u16()
                    .unwrap_or(if uri.scheme_str() == Some("https") {
                        443
                    } else {
                        80
                    });
                let mut one = self.empty();
                one.push(std::net::SocketAddr::new(ip, port));
                one
            }
            None => self.inner.resolve(uri, config, timeout)?,
        };
        let mut kept = self.empty();
        let mut refused = None;
        for addr in all.iter().copied() {
            match self.policy.check(addr.ip()) {
                Ok(()) => kept.push(addr),
                Err(why) => refused = Some(why),
            }
        }
        match refused {
            Some(why) if kept.is_empty() => Err(ureq::Error::Io(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                why,
            ))),
            _ => Ok(kept),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn settings(policy: AddressPolicy) -> ClientSettings {
        ClientSettings {
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            policy,
            ca_file: None,
            credentials: None,
        }
    }

    #[test]
    fn refused_addresses_are_never_connected_to() {
        // Only the resolver's answer is looked at: nothing is sent to these addresses.
        let client = Client::new(&settings(AddressPolicy::default())).unwrap();
        for url in [
            "http://169.254.169.254/latest/meta-data/",
            "http://[fd00:ec2::254]/",
            "http://[fe80::1]:8080/",
        ] {
            match client.post(url, &[], b"{}") {
                Outcome::Failed { code: 7, message } => {
                    assert!(message.contains("refused network"), "{url}: {message}")
                }
                other => panic!("{url}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_ca_file_must_hold_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let err = load_ca_file(&path).unwrap_err();
        assert!(err.contains("holds no PEM certificate"), "{err}");
        let err = load_ca_file(&dir.path().join("missing.pem")).unwrap_err();
        assert!(err.starts_with("cannot read "), "{err}");
    }

    #[test]
    fn a_refused_connection_is_error_7() {
        // A port that was just free: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = Client::new(&settings(AddressPolicy::default())).unwrap();
        let outcome = client.post(&format!("http://127.0.0.1:{port}/"), &[], b"{}");
        assert!(
            matches!(outcome, Outcome::Failed { code: 7, .. }),
            "{outcome:?}"
        );
        assert!(!outcome.is_success());
    }

    #[test]
    fn at_most_64_kib_of_an_answer_is_read() {
        use std::io::Write;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0u8; 4096];
            let _ = std::io::Read::read(&mut stream, &mut request);
            let body = vec![b'x'; 1 << 20];
            let head = format!(
                "HTTP/1.1 500 Oops\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        });
        let client = Client::new(&settings(AddressPolicy::default())).unwrap();
        match client.post(&format!("http://127.0.0.1:{port}/"), &[], b"{}") {
            Outcome::Answered {
                status,
                size,
                excerpt,
                ..
            } => {
                assert_eq!((status, size, excerpt.len()), (500, MAX_RESPONSE, 65_536));
            }
            other => panic!("{other:?}"),
        }
        server.join().unwrap();
    }
}
