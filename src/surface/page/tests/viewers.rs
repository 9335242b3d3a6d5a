//! What a viewer is shown of secrets (a webhook URL's credentials, what a request to the
//! inbox carried), and the inbox's bounds.

use super::*;

/// `GET /api/v2{path}` with an access token of `user`: the status and the JSON answer.
async fn api_get(site: &Site, user: &str, path: &str) -> (StatusCode, serde_json::Value) {
    let store = Arc::clone(&site.control.store);
    let who = user.to_owned();
    let (key, token) = tokio::task::spawn_blocking(move || {
        let me = Caller::local();
        let name = format!(
            "key-{who}-{}",
            crate::service::access::random_hex(4).unwrap()
        );
        let key = crate::service::access::apikey_add(&store, &me, "nas", &name, "").unwrap();
        let token = crate::service::access::token_add(&store, &me, &key.value, &who).unwrap();
        (key.value, token.value)
    })
    .await
    .unwrap();
    let request = axum::http::Request::builder()
        .uri(format!("/api/v2{path}"))
        .header("ev-api-key", key)
        .header("ev-access-token", token)
        .body(Body::empty())
        .unwrap();
    let out = site.ask_request(request).await;
    (out.status, serde_json::from_str(&out.body).unwrap())
}

#[tokio::test]
async fn a_viewer_is_shown_no_credential_of_a_webhook_s_url_by_the_api_or_the_page() {
    let site = site();
    let secret_url = "http://user:password@127.0.0.1:9/x?apikey=s3cret&a=1";
    let hidden = "http://user:***@127.0.0.1:9/x?apikey=***&a=1";
    let (ann, csrf) = site.sign_in("ann", "ann-password-1").await;
    let out = site
        .ask(
            Method::POST,
            "/webhooks",
            &ann,
            &format!(
                "csrf={csrf}&endpointUrl={}&resource=%2F&responseVersion=v1&upload=true",
                view::encode(secret_url)
            ),
        )
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER, "{}", out.body);
    // An attempt at it, which failed with an error quoting the URL.
    let mut entry = crate::store::tests::log_entry(1000, 41, 1, 2);
    entry.url = secret_url.to_owned();
    entry.transport = true;
    entry.status = 7;
    entry.message = format!("cannot connect to {secret_url}");
    let flush = crate::store::Flush {
        webhook: 1000,
        log: vec![entry],
        ..crate::store::Flush::default()
    };
    let id = site.control.store.flush(&flush, 0).unwrap().log_ids[0];
    for (user, shown) in [("ann", secret_url), ("vic", hidden)] {
        let (status, list) = api_get(&site, user, "/webhooks").await;
        assert_eq!(status, StatusCode::OK);
        let made = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["id"] == 1000)
            .unwrap();
        assert_eq!(made["attributes"]["endpointUrl"], shown, "{user}");
        let (_, one) = api_get(&site, user, "/webhooks/1000").await;
        assert_eq!(one["data"][0]["attributes"]["endpointUrl"], shown, "{user}");
        let (_, log) = api_get(&site, user, "/activity/webhooks").await;
        let attempt = &log["data"][0]["attributes"];
        assert_eq!(attempt["endpointUrl"], shown, "{user}");
        assert_eq!(
            attempt["error"],
            format!("cannot connect to {shown}"),
            "{user}"
        );
    }
    // A viewer's filter matches what it is shown: it cannot find the password out a
    // character at a time.
    for (user, pattern, found) in [
        ("ann", "http://user:p*", 1),
        ("vic", "http://user:p*", 0),
        ("vic", "http://user:*@127.0.0.1:9/x?apikey=*", 1),
    ] {
        let (_, log) = api_get(
            &site,
            user,
            &format!("/activity/webhooks?endpointUrl={}", view::encode(pattern)),
        )
        .await;
        assert_eq!(log["totalResults"], found, "{user} {pattern}: {log}");
    }
    // The page shows the viewer the same.
    let (vic, _) = site.sign_in("vic", "vic-password-1").await;
    for path in ["/activity".to_owned(), format!("/activity/{id}")] {
        let page = site.ask(Method::GET, &path, &vic, "").await;
        assert!(!page.body.contains("password@"), "{path}: {}", page.body);
        assert!(!page.body.contains("s3cret"), "{path}: {}", page.body);
        assert!(
            page.body
                .contains("http://user:***@127.0.0.1:9/x?apikey=***&amp;a=1"),
            "{path}: {}",
            page.body
        );
        let page = site.ask(Method::GET, &path, &ann, "").await;
        assert!(
            page.body.contains("user:password@"),
            "{path}: {}",
            page.body
        );
    }
}

#[tokio::test]
async fn a_viewer_is_shown_no_credential_a_request_to_the_inbox_carried() {
    let site = site();
    let request = axum::http::Request::builder()
        .method(Method::POST)
        .uri(crate::service::inbox::PATH)
        .header(header::AUTHORIZATION, "Basic dXNlcjpodW50ZXIy")
        .header(header::COOKIE, "session=c00k1e")
        .header("ev-api-key", "nas-k3y")
        .header("x-api-key", "k3y2")
        .header(header::REFERER, "http://h/?token=t0k3n&page=2")
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(site.ask_request(request).await.status, StatusCode::OK);
    let (vic, _) = site.sign_in("vic", "vic-password-1").await;
    let page = site.ask(Method::GET, "/inbox", &vic, "").await;
    for secret in ["dXNlcjpodW50ZXIy", "c00k1e", "nas-k3y", "k3y2", "t0k3n"] {
        assert!(!page.body.contains(secret), "{secret}: {}", page.body);
    }
    assert!(page.body.contains("Basic ***"), "{}", page.body);
    assert!(page.body.contains("token=***&amp;page=2"), "{}", page.body);
    // The live feed sends the viewer the same.
    let (_, mut live) = stream(&site, &vic, "inbox&after=1").await;
    let request = axum::http::Request::builder()
        .method(Method::POST)
        .uri(crate::service::inbox::PATH)
        .header(header::AUTHORIZATION, "Bearer l1v3")
        .body(Body::from("{}"))
        .unwrap();
    site.ask_request(request).await;
    let got = read_until(&mut live, Some("Bearer ***")).await;
    assert!(!got.contains("l1v3"), "{got}");
    // An admin sees them whole.
    let (ann, _) = site.sign_in("ann", "ann-password-1").await;
    let page = site.ask(Method::GET, "/inbox", &ann, "").await;
    assert!(
        page.body.contains("Basic dXNlcjpodW50ZXIy"),
        "{}",
        page.body
    );
}

/// A post to the inbox, as anyone may send one.
fn inbox_post(headers: &[(&str, String)], body: Vec<u8>) -> axum::http::Request<Body> {
    let mut request = axum::http::Request::builder()
        .method(Method::POST)
        .uri(crate::service::inbox::PATH);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request.body(Body::from(body)).unwrap()
}

#[tokio::test]
async fn the_inbox_page_stays_small_whatever_was_posted() {
    let site = site();
    // 50 posts of 256 KiB of 0xFF (each byte shown as 4 characters), each with 40 headers
    // of 1 KiB: the page that showed them all was 52.9 MB.
    let headers: Vec<(String, String)> = (0..40)
        .map(|i| (format!("x-filler-{i}"), "<".repeat(1024)))
        .collect();
    let headers: Vec<(&str, String)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.clone()))
        .collect();
    for _ in 0..crate::service::inbox::KEEP {
        let post = inbox_post(&headers, vec![0xff; crate::service::inbox::MAX_BODY]);
        assert_eq!(site.ask_request(post).await.status, StatusCode::OK);
    }
    let kept: usize = site
        .kept
        .inbox
        .newest_first()
        .iter()
        .map(|r| r.body.len() + r.headers.iter().map(|h| h.value.len()).sum::<usize>())
        .sum();
    assert!(kept <= 50 * (16 + 40) * 1024, "{kept} bytes kept");
    const BOUND: usize = 256 * 1024;
    for user in ["ann", "vic"] {
        let (cookie, _) = site.sign_in(user, &format!("{user}-password-1")).await;
        let request = axum::http::Request::builder()
            .uri("/inbox")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .unwrap();
        let response = tower::ServiceExt::oneshot(site.router.clone(), request)
            .await
            .unwrap();
        let page = axum::body::to_bytes(response.into_body(), 256 << 20)
            .await
            .unwrap();
        println!("{user}: the inbox page is {} bytes", page.len());
        assert!(page.len() < BOUND, "{user}: {} bytes", page.len());
        let page = String::from_utf8_lossy(&page);
        assert!(page.contains("more bytes"), "a cut is said");
        assert!(page.contains("Request 50"), "the newest is shown");
        assert!(page.contains("id=\"request-1\""), "the oldest is listed");
    }
}

#[tokio::test]
async fn signature_checks_run_off_the_server_thread_and_are_bounded() {
    // 200 webhooks pointed at the inbox: a signed post is checked against each one's
    // token. A webhook sent elsewhere is not checked.
    let webhooks: String = (1..=200)
        .map(|i| format!("\n[[webhook]]\nurl = \"http://127.0.0.1:9/inbox/receive?h={i}\"\n"))
        .collect();
    let site = site_with(&format!(
        "{webhooks}\n[[webhook]]\nurl = \"http://127.0.0.1:9/elsewhere\"\n"
    ));
    let body = vec![0xff; crate::service::inbox::MAX_BODY];
    let headers = [("x-exavault-signature", "0".repeat(32))];
    // What one check costs here and now, on this thread.
    let signers = inbox::signers(&site.control);
    assert_eq!(signers.len(), 200);
    let as_text: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| ((*n).to_owned(), v.clone()))
        .collect();
    let started = std::time::Instant::now();
    let verdict = crate::service::inbox::check(&as_text, &body, &signers);
    let one_check = started.elapsed();
    assert_eq!(verdict, crate::service::inbox::Verdict::Invalid);
    // The runtime serves every web request on one thread, as the daemon's does: a ticker
    // on it notes the longest it waited for its turn while 50 senders post at once.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ticker = tokio::spawn({
        let stop = Arc::clone(&stop);
        async move {
            let mut longest = std::time::Duration::ZERO;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let asked = std::time::Instant::now();
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                longest = longest.max(asked.elapsed());
            }
            longest
        }
    });
    let posts = (0..50).map(|_| site.ask_request(inbox_post(&headers, body.clone())));
    let answers = futures_util::future::join_all(posts).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let longest = ticker.await.unwrap();
    println!("one check: {one_check:?}; the server's thread waited at most {longest:?}");
    assert!(
        longest < one_check / 2,
        "the server's thread was held {longest:?}; one check takes {one_check:?}"
    );
    let refused: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.status == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    let taken = answers
        .iter()
        .filter(|a| a.status == StatusCode::OK)
        .count();
    assert_eq!(taken + refused.len(), 50);
    assert!(!refused.is_empty(), "50 senders at once were all let in");
    assert!(
        refused[0].body.contains("send this one again in a moment"),
        "{}",
        refused[0].body
    );
    assert_eq!(site.kept.inbox.last(), taken as u64);
    // Once the checks are done, a post is let in again.
    let post = inbox_post(&headers, b"{}".to_vec());
    assert_eq!(site.ask_request(post).await.status, StatusCode::OK);
}
