//! The management API as a client meets it: ExaVault's error shape, the `//` of ExaVault's
//! documented base URL, and the limit on failed sign-ins.

use crate::support::*;

#[test]
fn refusals_are_in_exavault_shape_and_failed_sign_ins_are_limited() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config(&receiver.url(), "0");
    let daemon = nas.start();
    let base = format!("{}/api/v2/", daemon.web_url());

    // ExaVault's documents end the base URL with a slash: `//account` is `/account`.
    let wrong = [("ev-api-key", "testnas-0000"), ("ev-access-token", "nope")];
    let a = api("GET", &format!("{base}/account"), &wrong, None);
    assert_eq!(a.status, 401, "{}", a.body);
    assert_eq!(a.body["responseStatus"], 401);
    assert_eq!(a.error_code(), "ERROR_INVALID_CREDENTIALS");
    assert_eq!(a.header("x-ratelimit-limit"), Some("10"));
    assert_eq!(a.header("x-ratelimit-remaining"), Some("9"));

    let a = api("GET", &format!("{base}no/such/route"), &[], None);
    assert_eq!(a.status, 404);
    assert_eq!(a.error_code(), "ERROR_RESOURCE_NOT_FOUND");

    // Nine more failures use up the address's allowance; then it waits, whatever it sends.
    for _ in 0..9 {
        assert_eq!(
            api("GET", &format!("{base}users"), &wrong, None).status,
            401
        );
    }
    let a = api("GET", &format!("{base}users"), &[], None);
    assert_eq!(a.status, 429, "{}", a.body);
    assert_eq!(a.header("x-ratelimit-remaining"), Some("0"));
    let wait: u64 = a.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=7).contains(&wait), "Retry-After: {wait}");
    assert!(daemon.log().contains("failed sign-ins in a row"));
}

/// A GET of `url` by a client that trusts only the certificate in `cert_pem`.
fn get_trusting(url: &str, cert_pem: &[u8]) -> Result<u16, String> {
    let certs: Vec<_> = ureq::tls::parse_pem(cert_pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::Specific(std::sync::Arc::new(certs)))
        .build();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(tls)
        .build()
        .into();
    agent
        .get(url)
        .call()
        .map(|r| r.status().as_u16())
        .map_err(|e| e.to_string())
}

#[test]
fn off_loopback_the_api_speaks_https_with_a_self_signed_certificate_it_keeps() {
    need("openssl", "openssl");
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config_text(&format!(
        "[[webhook]]\nurl = \"{}\"\n\n[web]\nlisten = \"0.0.0.0:0\"\n",
        receiver.url()
    ));
    let daemon = nas.start();
    let url = daemon.web_url();
    assert!(url.starts_with("https://0.0.0.0:"), "{url}");
    let port = url.rsplit(':').next().unwrap().to_owned();
    let cert_path = nas.dir.path().join("state/web-cert.pem");
    let cert = std::fs::read(&cert_path).unwrap();

    // The fingerprint in the log is the one openssl reads from the certificate.
    let out = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(&cert_path)
        .output()
        .unwrap();
    let openssl = String::from_utf8_lossy(&out.stdout);
    let fingerprint = openssl.trim().rsplit('=').next().unwrap().to_owned();
    assert_eq!(fingerprint.len(), 95, "{openssl}");
    assert!(
        daemon
            .log()
            .contains(&format!("certificate SHA-256 fingerprint {fingerprint}")),
        "{}",
        daemon.log()
    );

    // A client that trusts that certificate gets ExaVault's answers over TLS; plain HTTP to
    // the same port gets none.
    let https = format!("https://127.0.0.1:{port}/api/v2/account");
    assert_eq!(get_trusting(&https, &cert), Ok(401));
    let plain = format!("http://127.0.0.1:{port}/api/v2/account");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(15)))
        .build()
        .into();
    assert!(agent.get(&plain).call().is_err(), "plain HTTP answered");

    // The certificate is kept: a restart serves the same one.
    daemon.stop();
    let daemon = nas.start();
    daemon.web_url();
    assert_eq!(std::fs::read(&cert_path).unwrap(), cert);
    assert!(daemon.log().contains(&fingerprint));
}

#[test]
fn plain_http_off_loopback_needs_tls_false_and_is_warned_about() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config_text(&format!(
        "[[webhook]]\nurl = \"{}\"\n\n[web]\nlisten = \"0.0.0.0:0\"\ntls = false\n",
        receiver.url()
    ));
    let daemon = nas.start();
    let url = daemon.web_url();
    assert!(url.starts_with("http://0.0.0.0:"), "{url}");
    assert!(
        daemon.log().contains("serving plain HTTP"),
        "{}",
        daemon.log()
    );
    let port = url.rsplit(':').next().unwrap();
    let a = api(
        "GET",
        &format!("http://127.0.0.1:{port}/api/v2/users"),
        &[],
        None,
    );
    assert_eq!(a.status, 401);
    assert!(!nas.dir.path().join("state/web-cert.pem").exists());
}
