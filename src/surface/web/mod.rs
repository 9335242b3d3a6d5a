//! The daemon's HTTP server (`[web]`): binds its addresses, speaks TLS (rustls) where it
//! should, and hands each request to the current router. The router is swapped on a reload;
//! the listening sockets stay, so the server is never down while the configuration changes.
//!
//! Off loopback the server speaks HTTPS unless `tls = false`: with the certificate and key the
//! configuration names, or with a self-signed certificate made on the first start and kept in
//! the state folder (its SHA-256 fingerprint is logged and shown by `sharehook status`).

pub mod conn;
mod hosts;

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::task::Poll;
use std::time::{Duration, Instant};

use conn::{Client, Https, Peer, client_key};

use anyhow::{Context, bail};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tower::ServiceExt;

use crate::config::WebSettings;

/// The self-signed certificate and its key, in the state folder.
pub const CERT_FILE: &str = "web-cert.pem";
pub const KEY_FILE: &str = "web-key.pem";

/// The most connections served at once; more are closed as soon as they are accepted, so a
/// flood cannot take the descriptors the daemon needs to read folders and deliver.
pub const MAX_CONNECTIONS: usize = 256;
/// The most connections one client address (an IPv6 client by its /64) holds at once, so
/// that one client holding sockets open (slowloris) leaves the rest to everyone else.
pub const MAX_PER_ADDRESS: usize = 32;
/// How long a client may take for its TLS handshake, for a request's head, and to send the
/// next request on a connection kept open (hyper's head timeout runs while it waits).
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request's body may take to arrive, whole, on every route.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one connection may live, however busy (a download of a large file included).
const CONNECTION_LIFETIME: Duration = Duration::from_secs(3600);

/// What the server is doing, for `status` and the log.
#[derive(Clone, Debug, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebInfo {
    /// Base URLs, e.g. `https://192.168.1.5:8080`.
    pub urls: Vec<String>,
    /// The SHA-256 fingerprint of the certificate served, `AB:CD:...`.
    pub fingerprint: Option<String>,
    /// Why the server is off, when it is.
    pub off: Option<String>,
}

impl WebInfo {
    /// What `sharehook status` says of the server; none when it is off.
    pub fn status(&self) -> Option<crate::service::status::WebStatus> {
        if self.off.is_some() || self.urls.is_empty() {
            return None;
        }
        Some(crate::service::status::WebStatus {
            listen: self.urls.clone(),
            tls: self.urls.iter().any(|u| u.starts_with("https:")),
            fingerprint: self.fingerprint.clone(),
        })
    }
}

/// Everything the server answers: the API under `/api/v2` (and `/metrics`, `/openapi.json`)
/// and the page everywhere else, on one service layer (`control`). `kept` is what outlives a
/// reload: sign-in failures, sessions and the inbox. Requests for a name the box does not
/// answer to are refused first (`hosts`).
pub fn router(
    control: Arc<crate::service::activity::Control>,
    kept: &Arc<crate::surface::page::Kept>,
) -> Router {
    let names = Arc::new(hosts::Names::new(&control.config.web));
    let api = crate::surface::api::router(Arc::new(crate::surface::api::ApiState {
        control: Arc::clone(&control),
        limiter: Arc::clone(&kept.limiter),
    }));
    let page = crate::surface::page::router(Arc::new(crate::surface::page::PageState {
        control,
        kept: Arc::clone(kept),
    }));
    api.merge(page).layer(axum::middleware::from_fn_with_state(
        names,
        hosts::refuse_others,
    ))
}

/// The router requests go to; replaced on a reload.
pub struct Site {
    router: RwLock<Router>,
}

impl Site {
    pub fn new(router: Router) -> Arc<Site> {
        Arc::new(Site {
            router: RwLock::new(router),
        })
    }

    pub fn replace(&self, router: Router) {
        *self.router.write().unwrap_or_else(|e| e.into_inner()) = router;
    }

    fn router(&self) -> Router {
        self.router
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Bound sockets, ready to serve.
pub struct Bound {
    listeners: Vec<(tokio::net::TcpListener, Option<tokio_rustls::TlsAcceptor>)>,
    pub info: WebInfo,
}

/// Binds every address of `settings`. An address given in the configuration that cannot be
/// bound is an error; the default address, when another program holds it, leaves the server
/// off with a warning (the webhooks matter more than the page).
pub async fn bind(settings: &WebSettings, state_dir: &Path) -> anyhow::Result<Bound> {
    let mut bound = Bound {
        listeners: Vec::new(),
        info: WebInfo::default(),
    };
    if settings.listen.is_empty() {
        bound.info.off = Some("[web] listen is empty".into());
        return Ok(bound);
    }
    let tls = if settings.listen.iter().any(|a| settings.tls_on(a)) {
        let (config, fingerprint) = tls_config(settings, state_dir)?;
        bound.info.fingerprint = Some(fingerprint);
        Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    } else {
        None
    };
    for addr in &settings.listen {
        let listener = match listen(*addr) {
            Ok(l) => l,
            Err(e) if !settings.listen_given => {
                let why = format!("cannot listen on {addr}: {e}");
                log::warn!(
                    "web: {why}; the API is off. Set [web] listen to a free address (or [] to turn the server off)"
                );
                bound.info.off = Some(why);
                return Ok(bound);
            }
            Err(e) => bail!("[web] listen: cannot listen on {addr}: {e}"),
        };
        let local = listener.local_addr().unwrap_or(*addr);
        let secure = settings.tls_on(addr);
        if !secure && !addr.ip().is_loopback() {
            log::warn!(
                "web: serving plain HTTP on {local} (tls = false): API keys and tokens cross the network in clear"
            );
        }
        let url = format!("{}://{local}", if secure { "https" } else { "http" });
        log::info!("web: listening on {url}");
        bound.info.urls.push(url);
        bound
            .listeners
            .push((listener, if secure { tls.clone() } else { None }));
    }
    if let Some(fp) = &bound.info.fingerprint {
        log::info!("web: certificate SHA-256 fingerprint {fp}");
    }
    Ok(bound)
}

/// The connections each client address holds.
#[derive(Default)]
struct Clients {
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection counted for its client address until it is dropped.
struct ClientSlot {
    clients: Arc<Clients>,
    key: IpAddr,
}

impl Clients {
    /// A slot for a connection from client `key`, unless it holds `MAX_PER_ADDRESS` already.
    fn enter(self: &Arc<Clients>, key: IpAddr) -> Option<ClientSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(key).or_insert(0);
        if *n >= MAX_PER_ADDRESS {
            return None;
        }
        *n += 1;
        Some(ClientSlot {
            clients: Arc::clone(self),
            key,
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self.clients.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// Connections the kernel keeps waiting for the server to accept them. The usual 128 fills
/// when one client reconnects as fast as it is turned away; new connections are then dropped
/// until the client tries again a second later, so every other client would wait that long.
const BACKLOG: u32 = 1024;

/// A listening socket on `addr` with room for `BACKLOG` waiting connections.
fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Serves every bound socket until the task is dropped.
pub async fn serve(bound: Bound, site: Arc<Site>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let clients = Arc::new(Clients::default());
    let mut tasks = tokio::task::JoinSet::new();
    for (listener, tls) in bound.listeners {
        tasks.spawn(accept_loop(
            listener,
            tls,
            Arc::clone(&site),
            Arc::clone(&slots),
            Arc::clone(&clients),
        ));
    }
    while tasks.join_next().await.is_some() {}
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    site: Arc<Site>,
    slots: Arc<tokio::sync::Semaphore>,
    clients: Arc<Clients>,
) {
    // Floods and accept failures are logged when they begin and end, not once per connection.
    let mut turned_away = 0u64;
    let mut failed_accepts = 0u64;
    let mut crowd_logged: Option<Instant> = None;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                if failed_accepts == 0 {
                    log::warn!("web: cannot accept connections: {e}");
                }
                failed_accepts += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if failed_accepts > 0 {
            log::info!("web: accepting connections again after {failed_accepts} failed tries");
            failed_accepts = 0;
        }
        let local = stream.local_addr().map_or(peer.ip(), |a| a.ip());
        let key = client_key(peer.ip(), local);
        let Some(client) = clients.enter(key) else {
            // One client holding many connections is refused alone, and said once a minute at
            // most (a flood would fill the journal).
            let now = Instant::now();
            if crowd_logged.is_none_or(|at| now.duration_since(at) >= Duration::from_secs(60)) {
                log::warn!(
                    "web: {key} holds {MAX_PER_ADDRESS} connections; more from it are closed at once"
                );
                crowd_logged = Some(now);
            }
            continue;
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            if turned_away == 0 {
                log::warn!(
                    "web: {MAX_CONNECTIONS} connections are open; new ones are closed at once until some end"
                );
            }
            turned_away += 1;
            continue;
        };
        if turned_away > 0 {
            log::info!("web: serving again; {turned_away} connections were closed at once");
            turned_away = 0;
        }
        let _ = stream.set_nodelay(true);
        let site = Arc::clone(&site);
        let tls = tls.clone();
        tokio::spawn(async move {
            let _slots = (slot, client);
            let served = async {
                match tls {
                    None => connection(stream, peer, key, site, false).await,
                    Some(acceptor) => {
                        match tokio::time::timeout(HEAD_TIMEOUT, acceptor.accept(stream)).await {
                            Ok(Ok(stream)) => connection(stream, peer, key, site, true).await,
                            Ok(Err(e)) => log::debug!("web: TLS handshake with {peer}: {e}"),
                            Err(_) => log::debug!("web: TLS handshake with {peer} timed out"),
                        }
                    }
                }
            };
            if tokio::time::timeout(CONNECTION_LIFETIME, served)
                .await
                .is_err()
            {
                log::debug!(
                    "web: a connection from {peer} was closed after {CONNECTION_LIFETIME:?}"
                );
            }
        });
    }
}

async fn connection<S>(stream: S, peer: SocketAddr, key: IpAddr, site: Arc<Site>, https: bool)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let router = site.router();
        let mut req = req.map(|body| TimedBody::new(body, BODY_TIMEOUT));
        req.extensions_mut().insert(Peer(peer));
        req.extensions_mut().insert(Client(key));
        req.extensions_mut().insert(Https(https));
        collapse_slashes(&mut req);
        async move { router.oneshot(req).await }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(64 * 1024)
        .serve_connection(TokioIo::new(stream), service);
    if let Err(e) = conn.await {
        log::debug!("web: connection from {peer} ended: {e}");
    }
}

/// A request's body that fails when it has not arrived whole within its time, counted from
/// the request's head: a client that trickles a body must not hold a connection for long.
struct TimedBody {
    inner: Incoming,
    limit: Duration,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    started: tokio::time::Instant,
}

impl TimedBody {
    fn new(inner: Incoming, limit: Duration) -> TimedBody {
        TimedBody {
            inner,
            limit,
            deadline: None,
            started: tokio::time::Instant::now(),
        }
    }
}

impl http_body::Body for TimedBody {
    type Data = axum::body::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
            Poll::Pending => {
                // The timer is made only for a body that keeps the server waiting.
                let (started, limit) = (this.started, this.limit);
                let deadline = this
                    .deadline
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(started + limit)));
                match deadline.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(format!(
                        "the request's body did not arrive within {} s",
                        limit.as_secs()
                    )
                    .into()))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// ExaVault's own documents put a slash at the end of the base URL, so requests arrive as
/// `/api/v2//webhooks`: runs of slashes in the path are one slash.
fn collapse_slashes<B>(req: &mut hyper::Request<B>) {
    let path = req.uri().path();
    if !path.contains("//") {
        return;
    }
    let mut collapsed = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && collapsed.ends_with('/')) {
            collapsed.push(c);
        }
    }
    let with_query = match req.uri().query() {
        Some(q) => format!("{collapsed}?{q}"),
        None => collapsed,
    };
    if let Ok(pq) = with_query.parse::<http::uri::PathAndQuery>() {
        let mut parts = req.uri().clone().into_parts();
        parts.path_and_query = Some(pq);
        if let Ok(uri) = http::Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
}

/// The rustls configuration, and the SHA-256 fingerprint of the certificate it serves.
fn tls_config(
    settings: &WebSettings,
    state_dir: &Path,
) -> anyhow::Result<(rustls::ServerConfig, String)> {
    let (cert_path, key_path) = match (&settings.tls_cert, &settings.tls_key) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone()),
        _ => self_signed(state_dir)?,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .with_context(|| format!("[web] tls_cert: cannot read {}", cert_path.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("[web] tls_cert: {} is not PEM", cert_path.display()))?;
    let Some(first) = certs.first() else {
        bail!(
            "[web] tls_cert: {} holds no certificate",
            cert_path.display()
        );
    };
    let fingerprint = fingerprint(first);
    let key = PrivateKeyDer::from_pem_file(&key_path).with_context(|| {
        format!(
            "[web] tls_key: cannot read a PEM private key from {}",
            key_path.display()
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS: no protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .with_context(|| {
            format!(
                "[web] the certificate {} and the key {} do not go together",
                cert_path.display(),
                key_path.display()
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((config, fingerprint))
}

/// `AB:CD:...`, the form browsers show.
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, cert.as_ref());
    digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The self-signed certificate in the state folder, made the first time it is needed (valid
/// for this host's name, `localhost` and the loopback addresses).
fn self_signed(state_dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let cert_path = state_dir.join(CERT_FILE);
    let key_path = state_dir.join(KEY_FILE);
    if cert_path.exists() && key_path.exists() {
        return Ok((cert_path, key_path));
    }
    let host = crate::config::host_name();
    let mut names = vec![host.clone(), "localhost".to_owned()];
    names.dedup();
    let mut params = rcgen::CertificateParams::new(names).context("a certificate for this host")?;
    for ip in ["127.0.0.1", "::1"] {
        if let Ok(ip) = ip.parse() {
            params.subject_alt_names.push(rcgen::SanType::IpAddress(ip));
        }
    }
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("sharehook on {host}"));
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2124, 1, 1);
    let key = rcgen::KeyPair::generate().context("a key for the self-signed certificate")?;
    let cert = params
        .self_signed(&key)
        .context("a self-signed certificate")?;
    std::fs::create_dir_all(state_dir)
        .with_context(|| format!("cannot create the state folder {}", state_dir.display()))?;
    write_private(&key_path, key.serialize_pem().as_bytes())?;
    write_private(&cert_path, cert.pem().as_bytes())?;
    log::info!(
        "web: made a self-signed certificate {} (its key {})",
        cert_path.display(),
        key_path.display()
    );
    Ok((cert_path, key_path))
}

/// Writes a new file readable by its owner only, whole or not at all.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot create {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collapsed(uri: &str) -> String {
        let mut req = hyper::Request::builder().uri(uri).body(()).unwrap();
        collapse_slashes(&mut req);
        req.uri().to_string()
    }

    #[test]
    fn a_client_is_an_address_or_an_ipv6_64_off_the_box_s_lan() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let box_v6 = ip("2001:db8:1:2::5");
        for (peer, local, counted) in [
            ("192.0.2.7", "192.0.2.1", "192.0.2.7"),
            ("::ffff:198.51.100.7", "::ffff:198.51.100.1", "198.51.100.7"),
            // Off the LAN, a host picks any address of its /64.
            ("2001:db8:9:9::1", "2001:db8:1:2::5", "2001:db8:9:9::"),
            ("2001:db8:9:9:ffff::9", "2001:db8:1:2::5", "2001:db8:9:9::"),
            // On the box's LAN its hosts share the box's /64: each counts alone.
            ("2001:db8:1:2::77", "2001:db8:1:2::5", "2001:db8:1:2::77"),
            ("fe80::1234", "fe80::1", "fe80::1234"),
            ("fd12:3456::9", "fd12:3456::1", "fd12:3456::9"),
            ("::1", "::1", "::1"),
        ] {
            let local = if local.contains(':') {
                ip(local)
            } else {
                box_v6
            };
            let local = if peer.starts_with("192.") {
                ip("192.0.2.1")
            } else {
                local
            };
            assert_eq!(client_key(ip(peer), local), ip(counted), "{peer}");
        }
    }

    #[test]
    fn runs_of_slashes_are_one() {
        assert_eq!(collapsed("/api/v2//webhooks"), "/api/v2/webhooks");
        assert_eq!(
            collapsed("/api/v2///webhooks/7?a=b//c"),
            "/api/v2/webhooks/7?a=b//c"
        );
        assert_eq!(collapsed("/api/v2/webhooks"), "/api/v2/webhooks");
        assert_eq!(
            collapsed("//api/v2/resources/%2Fa%2F%2Fb"),
            "/api/v2/resources/%2Fa%2F%2Fb"
        );
    }

    #[test]
    fn a_self_signed_certificate_is_made_once_and_kept_private() {
        let dir = tempfile::tempdir().unwrap();
        let settings = WebSettings {
            listen: vec!["0.0.0.0:0".parse().unwrap()],
            ..WebSettings::default()
        };
        let (_, first) = tls_config(&settings, dir.path()).unwrap();
        let (_, again) = tls_config(&settings, dir.path()).unwrap();
        assert_eq!(first, again, "the certificate is kept");
        assert_eq!(first.len(), 32 * 3 - 1);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_certificate_without_its_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, _) = self_signed(dir.path()).unwrap();
        let other = tempfile::tempdir().unwrap();
        let (_, other_key) = self_signed(other.path()).unwrap();
        let settings = WebSettings {
            tls_cert: Some(cert),
            tls_key: Some(other_key),
            ..WebSettings::default()
        };
        let err = format!("{:#}", tls_config(&settings, dir.path()).unwrap_err());
        assert!(err.contains("do not go together"), "{err}");
    }
}
