//! The only module that does HTTP out: one POST, and what came of it. Redirects are never
//! followed, no proxy is taken from the environment, connections are kept alive between
//! posts, at most 64 KiB of an answer is read, and every new connection's resolved address
//! is checked against the address policy first.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

use crate::core::netpolicy::AddressPolicy;

pub const USER_AGENT: &str = concat!("sharehook/", env!("CARGO_PKG_VERSION"));

/// How much of an answer's body is read (and kept for the log).
pub const MAX_RESPONSE: u64 = 64 * 1024;

pub use crate::core::outcome::Outcome;

/// How a webhook's client connects.
#[derive(Clone, Debug)]
pub struct ClientSettings {
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub policy: AddressPolicy,
    /// Trust the certificate authorities in this PEM file instead of the public ones.
    pub ca_file: Option<std::path::PathBuf>,
}

/// An HTTP client for one webhook; cheap to clone, sharing its idle connections.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
}

impl Client {
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
        Ok(Client { agent })
    }

    /// POSTs `body` as JSON to `url` with extra `headers`.
    pub fn post(&self, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Outcome {
        let mut request = self
            .agent
            .post(url)
            .header("Content-Type", "application/json");
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

/// `message` with the credentials of `url` (`user:password@`), where it quotes them, shown
/// as `mask_credentials` shows them.
fn hide_password(message: &str, url: &str) -> String {
    let userinfo = url
        .split_once("://")
        .map(|(_, rest)| &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())])
        .and_then(|authority| authority.rsplit_once('@'))
        .map(|(userinfo, _)| userinfo);
    match userinfo {
        Some(u) => message.replace(&format!("{u}@"), &format!("{}@", mask_userinfo(u))),
        None => message.to_owned(),
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

/// The certificates of a PEM file of certificate authorities; an error names the file.
pub fn load_ca_file(path: &Path) -> Result<Vec<ureq::tls::Certificate<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => return Err(format!("{} is not valid PEM: {e}", path.display())),
        }
    }
    if certs.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(certs)
}

/// `url` for logs and `check`: a password in it shown as `***` (`https://user:***@host/`),
/// and its query (which may carry secrets) as `?…`.
pub fn redact_url(url: &str) -> String {
    match url.parse::<http::Uri>() {
        Ok(uri) => {
            let scheme = uri.scheme_str().unwrap_or("http");
            let user = uri
                .authority()
                .and_then(|a| a.as_str().rsplit_once('@'))
                .map(|(userinfo, _)| format!("{}@", mask_userinfo(userinfo)))
                .unwrap_or_default();
            let host = uri.host().unwrap_or("");
            let port = uri.port_u16().map(|p| format!(":{p}")).unwrap_or_default();
            let query = if uri.query().is_some() { "?…" } else { "" };
            format!("{scheme}://{user}{host}{port}{}{query}", uri.path())
        }
        Err(_) => "<unparsable URL>".to_owned(),
    }
}

/// `url` as written, but for a password in it, shown as `***`: for telling what is wrong with
/// a URL that may not even parse.
pub fn mask_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rsplit_once('@') {
        Some((userinfo, host)) => format!(
            "{scheme}://{}@{host}{}",
            mask_userinfo(userinfo),
            &rest[end..]
        ),
        None => url.to_owned(),
    }
}

/// `url` as a reader who may not see secrets (a viewer) is shown it: as written, but for its
/// credentials (`user:***@`, or `***@` for a user name alone, often a token) and the values of
/// the query's and the fragment's parameters whose names look secret (`apikey=***`, see
/// `secret_name`). Admins see URLs whole; logs use `redact_url`, which drops the query.
pub fn hide_secrets(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (&url[..scheme.len() + 3], rest),
        None => ("", url),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let mut out = String::with_capacity(url.len());
    out.push_str(scheme);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if !scheme.is_empty() => {
            out.push_str(&mask_userinfo(userinfo));
            out.push('@');
            out.push_str(host);
        }
        _ => out.push_str(authority),
    }
    let (tail, fragment) = match tail.split_once('#') {
        Some((t, f)) => (t, Some(f)),
        None => (tail, None),
    };
    let (path, query) = match tail.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (tail, None),
    };
    out.push_str(path);
    if let Some(q) = query {
        out.push('?');
        out.push_str(&mask_parameters(q));
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(&mask_parameters(f));
    }
    out
}

/// `text` (an error message, a header's value) with every URL in it shown as `hide_secrets`
/// shows it.
pub fn hide_secrets_in_text(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("://") {
        return std::borrow::Cow::Borrowed(text);
    }
    let ends = |c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`');
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let start = rest[..at]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |i| i + 1);
        let end = rest[at..].find(ends).map_or(rest.len(), |i| at + i);
        out.push_str(&rest[..start]);
        out.push_str(&hide_secrets(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// A request header as a viewer is shown it: the value of one that carries credentials
/// (`authorization`, `cookie`, `ev-api-key`, `x-api-key`, a signature, ...) as `***` (after
/// its scheme, `Basic ***`), any other with its URLs shown as `hide_secrets` shows them.
pub fn hide_secret_header<'v>(name: &str, value: &'v str) -> std::borrow::Cow<'v, str> {
    let name = name.to_ascii_lowercase();
    let secret = secret_name(&name) || name.contains("cookie") || name.contains("signature");
    if !secret {
        return hide_secrets_in_text(value);
    }
    match value.trim().split_once(' ') {
        Some((scheme, _)) if name.ends_with("authorization") => format!("{scheme} ***").into(),
        _ if value.is_empty() => value.into(),
        _ => "***".into(),
    }
}

/// Whether a parameter or header named `name` looks like it carries a secret: `key`,
/// `apikey`, `api_key`, `token`, `access_token`, `secret`, `password`, `passwd`, `pass`,
/// `sig`, `signature`, `auth`, `code`, `session`, `credential`, and names holding one of them.
fn secret_name(name: &str) -> bool {
    let name = percent_encoding::percent_decode_str(name)
        .decode_utf8_lossy()
        .to_ascii_lowercase();
    const PARTS: [&str; 9] = [
        "key",
        "token",
        "secret",
        "pass",
        "sig",
        "auth",
        "session",
        "credential",
        "jwt",
    ];
    PARTS.iter().any(|p| name.contains(p)) || matches!(name.as_str(), "code" | "pw" | "pwd")
}

/// `a=1&apikey=s3cret` as `a=1&apikey=***`.
fn mask_parameters(text: &str) -> String {
    text.split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) if !value.is_empty() && secret_name(name) => {
                format!("{name}=***")
            }
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// `user:password` as `user:***`; a user name alone (often a token) as `***`.
fn mask_userinfo(userinfo: &str) -> String {
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        None => "***".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_logs_lose_credentials_and_queries() {
        assert_eq!(
            redact_url("http://10.0.0.5:9000/hook"),
            "http://10.0.0.5:9000/hook"
        );
        assert_eq!(
            redact_url("https://user:pw@h.example/x?key=s3cret"),
            "https://user:***@h.example/x?…"
        );
        assert_eq!(
            redact_url("https://ghp_s3cret@h.example:8443/x"),
            "https://***@h.example:8443/x"
        );
        assert_eq!(
            mask_credentials("htp://user:p@ss@h.example/x y"),
            "htp://user:***@h.example/x y"
        );
        assert_eq!(
            mask_credentials("ftp://me:s3cret@h.example/x"),
            "ftp://me:***@h.example/x"
        );
        assert_eq!(
            mask_credentials("http://h.example/a@b"),
            "http://h.example/a@b"
        );
        assert_eq!(
            hide_password("bad URL: http://u:s3cret@h/ x", "http://u:s3cret@h/"),
            "bad URL: http://u:***@h/ x"
        );
        assert_eq!(hide_password("refused", "http://h/"), "refused");
        assert_eq!(hide_password("a: refused", "http://u:a@h/"), "a: refused");
    }

    #[test]
    fn a_viewer_sees_urls_without_credentials_or_secret_looking_values() {
        for (url, shown) in [
            ("http://10.0.0.5:9000/hook", "http://10.0.0.5:9000/hook"),
            (
                "http://user:password@host/x?apikey=abc&a=1",
                "http://user:***@host/x?apikey=***&a=1",
            ),
            (
                "https://ghp_s3cret@h.example/x?token=t&page=2&Access_Token=z",
                "https://***@h.example/x?token=***&page=2&Access_Token=***",
            ),
            (
                "https://h/x?api%5Fkey=1&sig=2&signature=3&code=4&pass=5&passwd=6&auth=7",
                "https://h/x?api%5Fkey=***&sig=***&signature=***&code=***&pass=***&passwd=***&auth=***",
            ),
            (
                "https://h/cb#access_token=abc&state=x",
                "https://h/cb#access_token=***&state=x",
            ),
            ("https://h/x?key=&q", "https://h/x?key=&q"),
            // An @ in the path is no credential.
            ("http://h.example/a@b?x=1", "http://h.example/a@b?x=1"),
        ] {
            assert_eq!(hide_secrets(url), shown, "{url}");
        }
        assert_eq!(
            hide_secrets_in_text("POST to http://u:p@h/x?key=k failed; see https://h/doc"),
            "POST to http://u:***@h/x?key=*** failed; see https://h/doc"
        );
        assert_eq!(hide_secrets_in_text("plain"), "plain");
        for (name, value, shown) in [
            ("authorization", "Basic dXNlcjpwYXNz", "Basic ***"),
            ("Proxy-Authorization", "Bearer abc", "Bearer ***"),
            ("cookie", "sharehook_session=abc", "***"),
            ("ev-api-key", "nas-0123", "***"),
            ("ev-access-token", "0123", "***"),
            ("x-api-key", "0123", "***"),
            ("x-exavault-signature", "0123", "***"),
            ("referer", "http://h/x?token=t", "http://h/x?token=***"),
            ("content-type", "application/json", "application/json"),
        ] {
            assert_eq!(hide_secret_header(name, value), shown, "{name}");
        }
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

    fn settings(policy: AddressPolicy) -> ClientSettings {
        ClientSettings {
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            policy,
            ca_file: None,
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
}
