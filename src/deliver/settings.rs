//! How a webhook's client connects, whichever kind it is (HTTP or a broker's link), and the
//! TLS configuration of a broker's link.

use std::sync::Arc;
use std::time::Duration;

use crate::config::load_ca_file;
use crate::core::netpolicy::AddressPolicy;

/// How a webhook's client connects.
#[derive(Clone, Debug)]
pub struct ClientSettings {
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub policy: AddressPolicy,
    /// Trust the certificate authorities in this PEM file instead of the public ones.
    pub ca_file: Option<std::path::PathBuf>,
    /// A NATS `.creds` file or NKey seed file (brokers only).
    pub credentials: Option<std::path::PathBuf>,
}

/// A rustls client configuration trusting the public authorities, or those in `ca_file`.
pub fn tls_config(ca_file: Option<&std::path::Path>) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            for cert in load_ca_file(path)? {
                roots
                    .add(rustls::pki_types::CertificateDer::from(cert.der().to_vec()))
                    .map_err(|e| format!("{}: {e}", path.display()))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth())
}
