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

    // `sharehook status` shows where the server listens and the same fingerprint.
    let out = nas.cli(&["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("web: {url} (certificate SHA-256 {fingerprint})")),
        "{text}"
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

#[test]
fn an_admin_makes_a_webhook_that_delivers_at_once_and_a_viewer_only_reads() {
    let receiver = Receiver::start();
    let second = Receiver::start();
    let nas = Nas::new();
    nas.write_config(&receiver.url(), "0");
    let daemon = nas.start();
    let base = format!("{}/api/v2", daemon.web_url());
    let admin = nas.credentials("alice", "admin");
    let viewer = nas.credentials("victor", "viewer");

    let a = api("GET", &format!("{base}/account"), &admin.headers(), None);
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["data"]["attributes"]["accountName"], "testnas");
    assert_eq!(a.body["included"][0]["attributes"]["username"], "alice");
    let a = api("GET", &format!("{base}/users"), &admin.headers(), None);
    assert_eq!(a.body["totalResults"], 2, "{}", a.body);
    let a = api("GET", &format!("{base}/users"), &viewer.headers(), None);
    assert_eq!(
        a.body["totalResults"], 1,
        "a viewer sees itself: {}",
        a.body
    );

    // The admin makes a v2 webhook for /docs; it hears what happens there from now on.
    let body = format!(
        r#"{{"endpointUrl":"{}","resource":"/docs","responseVersion":"v2","triggers":{{"resources":{{"upload":true,"download":false}}}}}}"#,
        second.url()
    );
    let a = api(
        "POST",
        &format!("{base}/webhooks"),
        &admin.headers(),
        Some(&body),
    );
    assert_eq!(a.status, 201, "{}", a.body);
    let made = &a.body["data"][0];
    let id = made["id"].as_u64().unwrap();
    assert!(id >= 1000, "{id}");
    let token = made["attributes"]["verificationToken"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(token.len(), 32);
    assert_eq!(made["attributes"]["resource"], "/docs");
    std::fs::create_dir(nas.share().join("docs")).unwrap();
    write_file(&nas.share().join("docs/a.txt"), "hello");
    let got = second.wait_for(1);
    assert_eq!(got[0].json()["event"], "resources.upload");
    assert_eq!(
        got[0].header("x-exavault-signature"),
        md5_signature(&token, &got[0].body)
    );

    // A viewer reads webhooks without their tokens, and may not change them.
    let a = api(
        "GET",
        &format!("{base}/webhooks/{id}"),
        &viewer.headers(),
        None,
    );
    assert_eq!(a.status, 200);
    assert_eq!(a.body["data"][0]["attributes"]["verificationToken"], "");
    let a = api(
        "DELETE",
        &format!("{base}/webhooks/{id}"),
        &viewer.headers(),
        Some("{}"),
    );
    assert_eq!(a.status, 403);
    assert_eq!(a.error_code(), "ERROR_INSUFFICIENT_PRIVILEGES");

    // The file's webhook is listed, read-only.
    let a = api("GET", &format!("{base}/webhooks"), &admin.headers(), None);
    assert_eq!(a.body["totalResults"], 2, "{}", a.body);
    let a = api(
        "PATCH",
        &format!("{base}/webhooks/1"),
        &admin.headers(),
        Some("{}"),
    );
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(
        a.body["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("configuration file")
    );

    // Wrong shapes name their field; nothing is a 5xx.
    for (body, field) in [
        (r#"{"endpointUrl":"ftp://x"}"#, "endpointUrl"),
        (
            r#"{"endpointUrl":"http://h/","triggers":{"resources":{"compress":true}}}"#,
            "triggers.resources.compress",
        ),
        (
            r#"{"endpointUrl":"http://h/","responseVersion":"v3"}"#,
            "responseVersion",
        ),
        (r#"{"endpointUrl":5}"#, "endpointUrl"),
        (r#"[1]"#, "body"),
    ] {
        let a = api(
            "POST",
            &format!("{base}/webhooks"),
            &admin.headers(),
            Some(body),
        );
        assert_eq!(a.status, 400, "{body}: {}", a.body);
        assert_eq!(a.error_code(), "ERROR_INVALID_PARAMETER");
        let detail = a.body["errors"][0]["detail"].as_str().unwrap();
        assert!(detail.starts_with(field), "{body}: {detail}");
    }
    let huge = format!(r#"{{"endpointUrl":"http://h/{}"}}"#, "a".repeat(2 << 20));
    let a = api(
        "POST",
        &format!("{base}/webhooks"),
        &admin.headers(),
        Some(&huge),
    );
    assert_eq!(a.status, 413, "{}", a.body);

    // The log shows the delivery, filtered by path with a wildcard.
    let a = api(
        "GET",
        &format!("{base}/activity/webhooks?resourcePath=/docs/*&sort=-date&webhookId={id}"),
        &viewer.headers(),
        None,
    );
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["totalResults"], 1, "{}", a.body);
    let entry = &a.body["data"][0]["attributes"];
    assert_eq!(entry["resourcePath"], "/docs/a.txt");
    assert_eq!(entry["webhookPath"], "/docs");
    assert_eq!(entry["details"]["event"], "resources.upload");

    // Deleted: nothing more is sent to it; the file's webhook still delivers.
    let a = api(
        "DELETE",
        &format!("{base}/webhooks/{id}"),
        &admin.headers(),
        Some("{}"),
    );
    assert_eq!(
        (a.status, a.body["data"].clone()),
        (200, serde_json::json!([]))
    );
    let before = receiver.received().len();
    write_file(&nas.share().join("docs/b.txt"), "again");
    receiver.wait_for(before + 1);
    assert_eq!(second.received().len(), 1);
    assert!(
        daemon.log().contains("audit: alice (admin) from 127.0.0.1"),
        "{}",
        daemon.log()
    );
}

#[test]
fn failed_events_are_recovered_resent_and_tested_through_the_api_with_a_new_token() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    // One attempt only: a 500 sets the event aside as failed at once. No grace for old tokens.
    nas.write_config_text(&format!(
        "[[webhook]]\nurl = \"{}\"\n\n[delivery]\nretry_delays = [0]\nrotation_grace = 0\n",
        receiver.url()
    ));
    let daemon = nas.start();
    let base = format!("{}/api/v2", daemon.web_url());
    let admin = nas.credentials("alice", "admin");
    let h = admin.headers();

    // An API webhook, so its token can be regenerated.
    let body = format!(r#"{{"endpointUrl":"{}"}}"#, receiver.url());
    let a = api("POST", &format!("{base}/webhooks"), &h, Some(&body));
    assert_eq!(a.status, 201, "{}", a.body);
    let id = a.body["data"][0]["id"].as_u64().unwrap();
    let old_token = a.body["data"][0]["attributes"]["verificationToken"]
        .as_str()
        .unwrap()
        .to_owned();

    // Both webhooks fail on the first file: two events set aside.
    receiver.script(&["500 Internal Server Error", "500 Internal Server Error"]);
    write_file(&nas.share().join("a.txt"), "one");
    receiver.wait_for(2);
    let failed_of = |id: u64| {
        wait_for("the failed event to be counted", || {
            let a = api("GET", &format!("{base}/webhooks/{id}"), &h, None);
            let n = a.body["data"][0]["attributes"]["failedEvents"]
                .as_u64()
                .unwrap();
            (n == 1).then_some(n)
        })
    };
    failed_of(id);
    failed_of(1);

    // regenerate-token: the next delivery verifies with the new token only.
    let a = api(
        "POST",
        &format!("{base}/webhooks/regenerate-token/{id}"),
        &h,
        Some("{}"),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let new_token = a.body["data"][0]["attributes"]["verificationToken"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_token, old_token);

    // recover puts the API webhook's failed event back: it is delivered, signed anew.
    let a = api(
        "POST",
        &format!("{base}/webhooks/{id}/recover"),
        &h,
        Some(r#"{"since":"2024-01-01T00:00:00"}"#),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["data"]["requeued"], 1);
    let got = receiver.wait_for(3);
    let last = &got[2];
    assert_eq!(
        last.header("x-exavault-signature"),
        md5_signature(&new_token, &last.body)
    );
    assert_ne!(
        last.header("x-exavault-signature"),
        md5_signature(&old_token, &last.body)
    );

    // resend/{activityId} sends the file webhook's failed attempt again, as a resend.
    let a = api(
        "GET",
        &format!("{base}/activity/webhooks?webhookId=1&statusCode=500"),
        &h,
        None,
    );
    assert_eq!(a.body["totalResults"], 1, "{}", a.body);
    let activity = a.body["data"][0]["id"].as_u64().unwrap();
    let a = api(
        "POST",
        &format!("{base}/webhooks/resend/{activity}"),
        &h,
        Some("{}"),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["data"], serde_json::json!([]));
    assert_eq!(a.body["resent"]["attributes"]["resend"], true);
    assert_eq!(a.body["resent"]["attributes"]["status"], 200);
    receiver.wait_for(4);
    let a = api("GET", &format!("{base}/webhooks/1"), &h, None);
    assert_eq!(
        a.body["data"][0]["attributes"]["failedEvents"], 0,
        "{}",
        a.body
    );

    // A test delivery reaches the receiver, signed, and is in the log.
    let a = api(
        "POST",
        &format!("{base}/webhooks/{id}/test"),
        &h,
        Some("{}"),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let logged = &a.body["data"][0]["attributes"];
    assert_eq!(logged["status"], 200);
    assert_eq!(logged["resourcePath"], "/sharehook-test.txt");
    assert_eq!(logged["username"], "alice");
    let got = receiver.wait_for(5);
    assert_eq!(got[4].op().1, "/sharehook-test.txt");
    assert_eq!(
        got[4].header("x-exavault-signature"),
        md5_signature(&new_token, &got[4].body)
    );

    // Unknown ids are 404 in ExaVault's shape; ids that are not numbers are 400.
    for (method, path, status) in [
        ("POST", "/webhooks/resend/999999".to_owned(), 404),
        ("POST", "/webhooks/5/test".to_owned(), 404),
        ("POST", "/webhooks/x/recover".to_owned(), 400),
        ("GET", "/webhooks/%2F..%2F1".to_owned(), 400),
    ] {
        let a = api(method, &format!("{base}{path}"), &h, Some("{}"));
        assert_eq!(a.status, status, "{method} {path}: {}", a.body);
    }
}
