//! The tests of `page`.

use super::*;
use axum::body::Body;
use axum::http::Method;

struct Site {
    router: Router,
    _dir: tempfile::TempDir,
    control: Arc<crate::service::activity::Control>,
    kept: Arc<Kept>,
}

struct Answer {
    status: StatusCode,
    location: String,
    cookies: Vec<String>,
    body: String,
}

fn site() -> Site {
    site_with("\n[[webhook]]\nurl = \"http://127.0.0.1:9/hook\"\n")
}

/// A site whose configuration file has `webhooks`.
fn site_with(webhooks: &str) -> Site {
    let dir = tempfile::tempdir().unwrap();
    let control = crate::service::activity::test_control(dir.path(), webhooks);
    let me = Caller::local();
    crate::service::access::user_add(&control.store, &me, "ann", Role::Admin, "ann-password-1")
        .unwrap();
    crate::service::access::user_add(&control.store, &me, "vic", Role::Viewer, "vic-password-1")
        .unwrap();
    // Sign-in failures are counted on a clock that stands still: ten slow password checks
    // must not refill the bucket before the eleventh.
    let kept = Arc::new(Kept {
        limiter: Arc::new(Limiter::stopped_at(std::time::Instant::now())),
        ..Kept::default()
    });
    let router = crate::surface::web::router(Arc::clone(&control), &kept);
    Site {
        router,
        _dir: dir,
        control,
        kept,
    }
}

impl Site {
    async fn ask(&self, method: Method, path: &str, cookie: &str, form: &str) -> Answer {
        let request = axum::http::Request::builder()
            .method(method)
            .uri(path)
            .header(header::COOKIE, cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form.to_owned()))
            .unwrap();
        self.ask_request(request).await
    }

    async fn ask_request(&self, request: axum::http::Request<Body>) -> Answer {
        let response = tower::ServiceExt::oneshot(self.router.clone(), request)
            .await
            .unwrap();
        let status = response.status();
        let header = |name| {
            response
                .headers()
                .get_all(name)
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        let location = header(header::LOCATION).join("");
        let cookies = header(header::SET_COOKIE);
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        Answer {
            status,
            location,
            cookies,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    /// Signs in; the answer is the session cookie and the CSRF token of its forms.
    async fn sign_in(&self, user: &str, password: &str) -> (String, String) {
        let form = self.ask(Method::GET, "/login", "", "").await;
        let nonce = csrf_of(&form.body);
        let login_cookie = format!("sharehook_login={nonce}");
        let done = self
            .ask(
                Method::POST,
                "/login",
                &login_cookie,
                &format!("csrf={nonce}&username={user}&password={password}&next=%2Fwebhooks"),
            )
            .await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
        assert_eq!(done.location, "/webhooks");
        let set = done
            .cookies
            .iter()
            .find(|c| c.starts_with("sharehook_session="))
            .expect("a session cookie");
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Strict"),
            "{set}"
        );
        let cookie = set.split(';').next().unwrap().to_owned();
        let page = self.ask(Method::GET, "/webhooks", &cookie, "").await;
        assert_eq!(page.status, StatusCode::OK);
        (cookie, csrf_of(&page.body))
    }
}

fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[at..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn pages_need_a_session_and_forms_need_its_token() {
    let site = site();
    let out = site.ask(Method::GET, "/activity?status=5xx", "", "").await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location, "/login?next=%2Factivity%3Fstatus%3D5xx");
    // A made-up cookie is no session.
    let out = site
        .ask(Method::GET, "/", "sharehook_session=0123", "")
        .await;
    assert_eq!(out.location, "/login?next=%2F");

    let (cookie, csrf) = site.sign_in("ann", "ann-password-1").await;
    for form in ["", "csrf=", "csrf=wrong"] {
        let out = site
            .ask(Method::POST, "/webhooks/1/test", &cookie, form)
            .await;
        assert_eq!(out.status, StatusCode::FORBIDDEN, "{form}");
        assert!(out.body.contains("expired or missing"), "{}", out.body);
    }
    // With the token the admin's form is taken (the new user shows on the page).
    let out = site
        .ask(
            Method::POST,
            "/developer/users",
            &cookie,
            &format!("csrf={csrf}&name=zoe&role=viewer&password=zoe-password-1"),
        )
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER, "{}", out.body);
    let page = site.ask(Method::GET, "/developer", &cookie, "").await;
    assert!(
        page.body.contains("User zoe (viewer) was added."),
        "{}",
        page.body
    );
    assert!(page.body.contains("data-user=\"zoe\""));

    // Signed out, the cookie opens nothing.
    let out = site
        .ask(Method::POST, "/logout", &cookie, &format!("csrf={csrf}"))
        .await;
    assert_eq!(out.location, "/login");
    let out = site.ask(Method::GET, "/webhooks", &cookie, "").await;
    assert_eq!(out.location, "/login?next=%2Fwebhooks");
}

#[tokio::test]
async fn a_viewer_sees_no_admin_control_and_is_refused_admin_actions() {
    let site = site();
    let (cookie, csrf) = site.sign_in("vic", "vic-password-1").await;
    let page = site.ask(Method::GET, "/webhooks", &cookie, "").await;
    for control in [
        "new-webhook",
        "class=\"token\"",
        "regenerate",
        "/developer\"",
    ] {
        assert!(!page.body.contains(control), "a viewer sees {control}");
    }
    for path in [
        "/webhooks",
        "/webhooks/1/test",
        "/webhooks/1/delete",
        "/activity/resend-failed",
        "/developer/users",
    ] {
        let out = site
            .ask(Method::POST, path, &cookie, &format!("csrf={csrf}"))
            .await;
        assert_eq!(out.status, StatusCode::FORBIDDEN, "{path}");
        assert!(out.body.contains("not allowed for a viewer"), "{path}");
    }
    let out = site.ask(Method::GET, "/developer", &cookie, "").await;
    assert_eq!(out.status, StatusCode::FORBIDDEN);
    // The admin's page has them.
    let (cookie, _) = site.sign_in("ann", "ann-password-1").await;
    let page = site.ask(Method::GET, "/webhooks", &cookie, "").await;
    assert!(page.body.contains("class=\"token\""));
    assert!(page.body.contains("/developer\""));
}

#[tokio::test]
async fn wrong_passwords_are_refused_then_limited_and_a_removed_user_is_signed_out() {
    let site = site();
    let form = site.ask(Method::GET, "/login", "", "").await;
    let nonce = csrf_of(&form.body);
    let cookie = format!("sharehook_login={nonce}");
    // Without the login form's own token nothing is checked.
    let out = site
        .ask(
            Method::POST,
            "/login",
            "",
            "username=ann&password=ann-password-1",
        )
        .await;
    assert_eq!(out.status, StatusCode::FORBIDDEN);
    for _ in 0..crate::surface::api::limit::LIMIT {
        let out = site
            .ask(
                Method::POST,
                "/login",
                &cookie,
                &format!("csrf={nonce}&username=ann&password=nope"),
            )
            .await;
        assert_eq!(out.status, StatusCode::UNAUTHORIZED);
        assert!(out.body.contains("Wrong user name or password."));
    }
    let out = site
        .ask(
            Method::POST,
            "/login",
            &cookie,
            &format!("csrf={nonce}&username=ann&password=ann-password-1"),
        )
        .await;
    assert_eq!(out.status, StatusCode::TOO_MANY_REQUESTS, "{}", out.body);

    let site = self::site();
    let (cookie, _) = site.sign_in("vic", "vic-password-1").await;
    crate::service::access::user_remove(&site.control.store, &Caller::local(), "vic").unwrap();
    let out = site.ask(Method::GET, "/", &cookie, "").await;
    assert_eq!(out.location, "/login?next=%2F");
}

#[tokio::test]
async fn the_live_feed_sends_the_attempts_written_after_the_page_listed_its_rows() {
    let site = site();
    let (cookie, _) = site.sign_in("ann", "ann-password-1").await;
    let page = site.ask(Method::GET, "/activity", &cookie, "").await;
    let mark = "data-after=\"";
    let at = page
        .body
        .find(mark)
        .expect("the table says where the feed goes on")
        + mark.len();
    let after = page.body[at..].split('"').next().unwrap().to_owned();
    // An attempt written after the page was made, before its live stream opens.
    let mut entry = crate::store::tests::log_entry(1, 41, 1, 2);
    entry.event.path = crate::core::event::SharePath::from_config("/late.txt");
    let flush = crate::store::Flush {
        webhook: 1,
        log: vec![entry],
        ..crate::store::Flush::default()
    };
    let id = site.control.store.flush(&flush, 0).unwrap().log_ids[0];
    let request = axum::http::Request::builder()
        .uri(format!("/events?view=activity&after={after}"))
        .header(header::COOKIE, &cookie)
        .body(Body::empty())
        .unwrap();
    let response = tower::ServiceExt::oneshot(site.router.clone(), request)
        .await
        .unwrap();
    let mut body = response.into_body().into_data_stream();
    let mut got = String::new();
    let want = format!("data-entry=\"{id}\"");
    while !got.contains(&want) {
        use futures_util::StreamExt;
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), body.next())
            .await
            .unwrap_or_else(|_| panic!("the feed did not send entry {id}; it sent {got:?}"))
            .expect("the stream goes on")
            .unwrap();
        got.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(got.contains("event: attempt"), "{got}");
    assert!(got.contains("/late.txt"), "{got}");
}

/// Whether `html` holds a character a browser would act on or reorder text by (line breaks
/// and tabs of the markup aside).
fn raw_control(html: &str) -> Option<char> {
    html.chars()
        .find(|&c| crate::core::event::needs_escape(c) && !matches!(c, '\n' | '\r' | '\t'))
}

#[tokio::test]
async fn bidirectional_controls_in_names_never_reach_the_page_raw() {
    let site = site();
    // A file named to read as `evilexe.txt`, by an owner whose name reverses what follows.
    let mut entry = crate::store::tests::log_entry(1, 41, 1, 2);
    entry.event.path = crate::core::event::SharePath::from_config("/evil\u{202e}txt.exe");
    entry.event.username = "bob\u{2067}x".into();
    let flush = crate::store::Flush {
        webhook: 1,
        log: vec![entry],
        ..crate::store::Flush::default()
    };
    let id = site.control.store.flush(&flush, 0).unwrap().log_ids[0];
    // A user whose name holds one, kept from before names were checked.
    let mut change = site.control.store.access_change().unwrap();
    let mut odd = change.users().unwrap()[0].clone();
    odd.id = change.next_id(crate::store::IdOf::User).unwrap();
    odd.name = "ann\u{202e}nimda".into();
    change.put_user(&odd).unwrap();
    change.commit().unwrap();
    let (cookie, _) = site
        .sign_in(&view::encode(&odd.name), "ann-password-1")
        .await;
    for path in [
        "/activity".to_owned(),
        format!("/activity/{id}"),
        "/developer".to_owned(),
        "/inbox".to_owned(),
    ] {
        let out = site.ask(Method::GET, &path, &cookie, "").await;
        assert_eq!(out.status, StatusCode::OK, "{path}");
        assert_eq!(raw_control(&out.body), None, "{path}: {}", out.body);
        assert!(
            out.body.contains(r"ann\u{202e}nimda"),
            "{path}: the user is shown escaped: {}",
            out.body
        );
        if path.starts_with("/activity") {
            assert!(out.body.contains(r"/evil\u{202e}txt.exe"), "{}", out.body);
        }
        if path.starts_with("/activity/") {
            assert!(out.body.contains(r"bob\u{2067}x"), "{}", out.body);
        }
    }
}

#[tokio::test]
async fn a_session_stands_for_one_user_and_its_password() {
    let site = site();
    let store = &site.control.store;
    let me = Caller::local();
    let signed_out = |out: &Answer| out.location.starts_with("/login");
    // A new password (here as the command line sets it, through the control socket or
    // not) ends every session of the user.
    let (vic1, _) = site.sign_in("vic", "vic-password-1").await;
    let (vic2, _) = site.sign_in("vic", "vic-password-1").await;
    crate::service::access::user_set_password(store, &me, "vic", "vic-password-2").unwrap();
    for cookie in [&vic1, &vic2] {
        let out = site.ask(Method::GET, "/", cookie, "").await;
        assert!(signed_out(&out), "a session outlived a new password");
    }
    // A user removed and added again under its name, as an admin, is another user: the
    // old viewer's cookie does not become an admin's.
    let (vic3, _) = site.sign_in("vic", "vic-password-2").await;
    crate::service::access::user_remove(store, &me, "vic").unwrap();
    crate::service::access::user_add(store, &me, "vic", Role::Admin, "vic-password-2").unwrap();
    let out = site.ask(Method::GET, "/developer", &vic3, "").await;
    assert!(signed_out(&out), "{} {}", out.status, out.body);
    // A new role counts from the next request, and the session goes on.
    let (vic4, _) = site.sign_in("vic", "vic-password-2").await;
    assert_eq!(
        site.ask(Method::GET, "/developer", &vic4, "").await.status,
        StatusCode::OK
    );
    crate::service::access::user_set_role(store, &me, "vic", Role::Viewer).unwrap();
    let out = site.ask(Method::GET, "/developer", &vic4, "").await;
    assert_eq!(out.status, StatusCode::FORBIDDEN);
    // The session that sets its own new password on the page stays signed in; the
    // user's other sessions end.
    let (ann1, csrf1) = site.sign_in("ann", "ann-password-1").await;
    let (ann2, _) = site.sign_in("ann", "ann-password-1").await;
    let out = site
        .ask(
            Method::POST,
            "/developer/users/ann",
            &ann1,
            &format!("csrf={csrf1}&role=admin&password=ann-password-2"),
        )
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER, "{}", out.body);
    let page = site.ask(Method::GET, "/developer", &ann1, "").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.location);
    assert!(
        page.body.contains("User ann has a new password."),
        "{}",
        page.body
    );
    assert!(signed_out(&site.ask(Method::GET, "/", &ann2, "").await));
    site.sign_in("ann", "ann-password-2").await;
}

/// Opens `GET /events?view=…` with `cookie`: its answer's status and, while it lasts,
/// its stream.
async fn stream(site: &Site, cookie: &str, view: &str) -> (StatusCode, axum::body::BodyDataStream) {
    let request = axum::http::Request::builder()
        .uri(format!("/events?view={view}"))
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap();
    let response = tower::ServiceExt::oneshot(site.router.clone(), request)
        .await
        .unwrap();
    (response.status(), response.into_body().into_data_stream())
}

/// What `body` sends until it holds `want` (`None`: until it ends), within 10 s.
async fn read_until(body: &mut axum::body::BodyDataStream, want: Option<&str>) -> String {
    use futures_util::StreamExt;
    let mut got = String::new();
    loop {
        if want.is_some_and(|w| got.contains(w)) {
            return got;
        }
        let next = tokio::time::timeout(std::time::Duration::from_secs(10), body.next())
            .await
            .unwrap_or_else(|_| panic!("after 10 s the stream still waits for {want:?}: {got:?}"));
        match next {
            Some(chunk) => got.push_str(&String::from_utf8_lossy(&chunk.unwrap())),
            None if want.is_none() => return got,
            None => panic!("the stream ended before {want:?}: {got:?}"),
        }
    }
}

/// Posts `text` to the inbox, as a sender would (no session).
async fn deliver(site: &Site, text: &str) {
    let out = site
        .ask(Method::POST, crate::service::inbox::PATH, "", text)
        .await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.body);
}

#[tokio::test]
async fn a_live_stream_ends_as_soon_as_its_user_is_removed_or_given_a_new_password() {
    type Change = fn(&crate::store::Store);
    let changes: [(&str, Change); 2] = [
        ("a new password", |store| {
            let me = Caller::local();
            crate::service::access::user_set_password(store, &me, "vic", "vic-password-2").unwrap();
        }),
        ("its removal", |store| {
            crate::service::access::user_remove(store, &Caller::local(), "vic").unwrap();
        }),
    ];
    for (what, change) in changes {
        let site = site();
        let (cookie, _) = site.sign_in("vic", "vic-password-1").await;
        let (status, mut body) = stream(&site, &cookie, "inbox&after=0").await;
        assert_eq!(status, StatusCode::OK);
        // Another user's change leaves the stream as it is.
        let store = Arc::clone(&site.control.store);
        tokio::task::spawn_blocking(move || {
            crate::service::access::apikey_add(&store, &Caller::local(), "nas", "app", "").unwrap();
        })
        .await
        .unwrap();
        deliver(&site, "first").await;
        read_until(&mut body, Some("first")).await;
        let store = Arc::clone(&site.control.store);
        tokio::task::spawn_blocking(move || change(&store))
            .await
            .unwrap();
        // Ended at once: no further message or timer is waited for (the keep-alive comes
        // every 15 s; nothing more is posted).
        let rest = read_until(&mut body, None).await;
        assert!(!rest.contains("event: request"), "{what}: {rest}");
    }
}

#[tokio::test]
async fn live_streams_are_bounded_per_user() {
    let site = site();
    let (vic, _) = site.sign_in("vic", "vic-password-1").await;
    let mut open = Vec::new();
    for _ in 0..live::MAX_STREAMS_PER_USER {
        let (status, body) = stream(&site, &vic, "overview").await;
        assert_eq!(status, StatusCode::OK);
        open.push(body);
    }
    let (status, mut refused) = stream(&site, &vic, "overview").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let said = read_until(&mut refused, None).await;
    assert!(
        said.contains("you have 8 live pages open: close one"),
        "{said}"
    );
    // Another user still gets one.
    let (ann, _) = site.sign_in("ann", "ann-password-1").await;
    let (status, _ann_stream) = stream(&site, &ann, "overview").await;
    assert_eq!(status, StatusCode::OK);
    // A page closed gives its place back.
    drop(open.pop());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (status, body) = stream(&site, &vic, "overview").await;
        if status == StatusCode::OK {
            open.push(body);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the place was not given back"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

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

/// The secret a page shows once, and the page after it.
fn secret_of(html: &str) -> String {
    let mark = "class=\"secret-value\">";
    let at = html.find(mark).expect("a secret shown") + mark.len();
    html[at..].split('<').next().unwrap().to_owned()
}

#[tokio::test]
async fn the_developer_forms_manage_users_keys_and_tokens() {
    let site = site();
    let (cookie, csrf) = site.sign_in("ann", "ann-password-1").await;
    let post = |path: &'static str, form: String| {
        let cookie = cookie.clone();
        let site = &site;
        async move {
            let out = site.ask(Method::POST, path, &cookie, &form).await;
            assert_eq!(out.status, StatusCode::SEE_OTHER, "{path}: {}", out.body);
            site.ask(Method::GET, "/developer", &cookie, "").await.body
        }
    };
    // A user with a made-up password, shown once, that signs in.
    let page = post(
        "/developer/users",
        format!("csrf={csrf}&name=bob&role=viewer"),
    )
    .await;
    let password = secret_of(&page);
    let again = site.ask(Method::GET, "/developer", &cookie, "").await;
    assert!(!again.body.contains("secret-value"), "shown twice");
    site.sign_in("bob", &password).await;
    // Made an admin with a new password.
    let page = post(
        "/developer/users/bob",
        format!("csrf={csrf}&role=admin&password=bob-new-password"),
    )
    .await;
    assert!(
        page.contains("User bob is now admin and has a new password."),
        "{page}"
    );
    assert_eq!(
        crate::service::access::user_role(&site.control.store, "bob").unwrap(),
        Some(Role::Admin)
    );
    site.sign_in("bob", "bob-new-password").await;
    // A key, renamed; a token for it, regenerated, then deleted; the key deleted.
    let page = post(
        "/developer/keys",
        format!("csrf={csrf}&name=sync&description="),
    )
    .await;
    let key = secret_of(&page);
    assert!(key.starts_with("testnas-"), "{key}");
    let page = post(
        "/developer/keys/1",
        format!("csrf={csrf}&name=nightly&description=backup"),
    )
    .await;
    assert!(page.contains("API key nightly was saved."), "{page}");
    let page = post("/developer/tokens", format!("csrf={csrf}&key=1&user=bob")).await;
    let token = secret_of(&page);
    assert!(crate::service::access::authenticate(&site.control.store, &key, &token).is_ok());
    let page = post("/developer/tokens/1/regenerate", format!("csrf={csrf}")).await;
    let token2 = secret_of(&page);
    assert!(crate::service::access::authenticate(&site.control.store, &key, &token).is_err());
    assert!(crate::service::access::authenticate(&site.control.store, &key, &token2).is_ok());
    let page = post("/developer/tokens/1/remove", format!("csrf={csrf}")).await;
    assert!(page.contains("Access token 1 was deleted."), "{page}");
    assert!(crate::service::access::authenticate(&site.control.store, &key, &token2).is_err());
    let page = post("/developer/keys/1/remove", format!("csrf={csrf}")).await;
    assert!(page.contains("API key nightly was deleted"), "{page}");
    // The last admin cannot be removed: said on the page, nothing changed.
    post("/developer/users/bob/remove", format!("csrf={csrf}")).await;
    let page = post("/developer/users/ann/remove", format!("csrf={csrf}")).await;
    assert!(page.contains("is the last admin"), "{page}");
    assert_eq!(
        crate::service::access::user_role(&site.control.store, "ann").unwrap(),
        Some(Role::Admin)
    );
}

#[tokio::test]
async fn the_developer_forms_refuse_short_passwords_and_names_no_one_could_sign_in_with() {
    let site = site();
    let (cookie, csrf) = site.sign_in("ann", "ann-password-1").await;
    for (form, says) in [
        (
            "name=bob&role=viewer&password=short",
            "password: a password has at least 10 characters (this one has 5)",
        ),
        (
            "name=+&role=viewer",
            "name: a user name must not be only spaces",
        ),
        (
            "name=bob+&role=viewer",
            "name: a user name must not begin or end with a space",
        ),
        (
            "name=adm%E2%80%AEin&role=viewer",
            "name: a user name must not hold control or bidirectional control characters",
        ),
    ] {
        let out = site
            .ask(
                Method::POST,
                "/developer/users",
                &cookie,
                &format!("csrf={csrf}&{form}"),
            )
            .await;
        assert_eq!(out.status, StatusCode::SEE_OTHER, "{form}");
        let page = site.ask(Method::GET, "/developer", &cookie, "").await;
        assert!(page.body.contains(says), "{form}: {}", page.body);
    }
    let names: Vec<String> =
        crate::service::access::user_list(&site.control.store, &Caller::local())
            .unwrap()
            .into_iter()
            .map(|u| u.name)
            .collect();
    assert_eq!(names, ["ann", "vic"]);
    // A new password is checked the same way; one with spaces at its ends keeps them.
    let out = site
        .ask(
            Method::POST,
            "/developer/users/vic",
            &cookie,
            &format!("csrf={csrf}&role=viewer&password=123456789"),
        )
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let page = site.ask(Method::GET, "/developer", &cookie, "").await;
    assert!(
        page.body.contains("a password has at least 10 characters"),
        "{}",
        page.body
    );
    site.ask(
        Method::POST,
        "/developer/users/vic",
        &cookie,
        &format!("csrf={csrf}&role=viewer&password=+vic+spaced+"),
    )
    .await;
    assert!(
        crate::service::access::check_password(&site.control.store, "vic", " vic spaced ").is_ok()
    );
}

/// The address a browser posts form `which` (0: Save, 1: Remove) of user `name`'s row to:
/// the action as written, without the fragment a browser leaves out.
fn user_action(html: &str, name: &str, which: usize) -> String {
    let row = maud::html! { tr data-user=(name) {} }.into_string();
    let row = row.trim_start_matches("<tr ").trim_end_matches("></tr>");
    let at = html
        .find(row)
        .unwrap_or_else(|| panic!("no row for {name}: {html}"));
    let action = html[at..]
        .split("action=\"")
        .nth(which + 1)
        .and_then(|rest| rest.split('"').next())
        .unwrap();
    action.split('#').next().unwrap().to_owned()
}

#[tokio::test]
async fn each_user_form_acts_on_exactly_the_user_of_its_row() {
    let site = site();
    let (cookie, csrf) = site.sign_in("ann", "ann-password-1").await;
    for name in ["admin2", "%61dmin2", "admin2#x", "admin2?x", "a b&c"] {
        crate::service::access::user_add(
            &site.control.store,
            &Caller::local(),
            name,
            Role::Viewer,
            "a-long-password",
        )
        .unwrap();
    }
    let role = |name: &str| crate::service::access::user_role(&site.control.store, name).unwrap();
    // Save on the row of `%61dmin2`, which the router would read as `admin2` unencoded.
    let page = site.ask(Method::GET, "/developer", &cookie, "").await;
    for name in ["%61dmin2", "admin2?x", "a b&c"] {
        let save = user_action(&page.body, name, 0);
        let out = site
            .ask(
                Method::POST,
                &save,
                &cookie,
                &format!("csrf={csrf}&role=admin"),
            )
            .await;
        assert_eq!(out.status, StatusCode::SEE_OTHER, "{save}: {}", out.body);
        assert_eq!(
            role(name),
            Some(Role::Admin),
            "{name} made an admin by {save}"
        );
        assert_eq!(role("admin2"), Some(Role::Viewer), "{save} changed admin2");
    }
    // Remove on the row of `admin2#x`, whose `#x/remove` a browser would leave out.
    for name in ["admin2#x", "%61dmin2"] {
        let page = site.ask(Method::GET, "/developer", &cookie, "").await;
        let remove = user_action(&page.body, name, 1);
        let out = site
            .ask(Method::POST, &remove, &cookie, &format!("csrf={csrf}"))
            .await;
        assert_eq!(out.status, StatusCode::SEE_OTHER, "{remove}: {}", out.body);
        assert_eq!(role(name), None, "{name} is still there after {remove}");
        assert_eq!(
            role("admin2"),
            Some(Role::Viewer),
            "{remove} removed admin2"
        );
    }
}

#[tokio::test]
async fn a_webhook_made_edited_and_deleted_through_the_forms() {
    let site = site();
    let (cookie, csrf) = site.sign_in("ann", "ann-password-1").await;
    let out = site
        .ask(
            Method::POST,
            "/webhooks",
            &cookie,
            &format!(
                "csrf={csrf}&endpointUrl=http%3A%2F%2F127.0.0.1%3A9%2Fa&resource=%2F\
                 &responseVersion=v1&upload=true&delete=true&move=true&rename=true&createFolder=true"
            ),
        )
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER, "{}", out.body);
    let made = site.control.hooks.get(1000).unwrap();
    assert_eq!(made.response_version, "v1");
    assert!(made.triggers.resources.create_folder);
    let form = site
        .ask(Method::GET, "/webhooks/1000/edit", &cookie, "")
        .await;
    assert!(
        form.body.contains("value=\"http://127.0.0.1:9/a\""),
        "{}",
        form.body
    );
    // Unticked boxes are sent as nothing: those triggers go off.
    let out = site
        .ask(
            Method::POST,
            "/webhooks/1000",
            &cookie,
            &format!(
                "csrf={csrf}&endpointUrl=http%3A%2F%2F127.0.0.1%3A9%2Fb&resource=%2F\
                 &responseVersion=v2&upload=true"
            ),
        )
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER, "{}", out.body);
    let changed = site.control.hooks.get(1000).unwrap();
    assert_eq!(changed.endpoint_url, "http://127.0.0.1:9/b");
    assert_eq!(changed.response_version, "v2");
    let t = &changed.triggers.resources;
    assert!(t.upload && !t.delete && !t.moved && !t.rename && !t.create_folder);
    let out = site
        .ask(
            Method::POST,
            "/webhooks/1000/delete",
            &cookie,
            &format!("csrf={csrf}"),
        )
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(site.control.hooks.get(1000).is_err());
    let page = site.ask(Method::GET, "/webhooks", &cookie, "").await;
    assert!(
        page.body.contains("Webhook 1000 was deleted."),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn hostile_addresses_and_filters_get_a_page_saying_what_is_wrong() {
    let site = site();
    let (cookie, csrf) = site.sign_in("ann", "ann-password-1").await;
    for (path, status, says) in [
        (
            "/activity?startDate=yesterday",
            StatusCode::BAD_REQUEST,
            "startDate",
        ),
        (
            "/activity?status=6xx",
            StatusCode::BAD_REQUEST,
            "statusCode",
        ),
        (
            "/activity?webhookId=one",
            StatusCode::BAD_REQUEST,
            "webhookId",
        ),
        (
            "/activity?offset=99999999999999999999",
            StatusCode::OK,
            "attempts in the log",
        ),
        (
            "/activity?status=5xx&path=%2Fa*",
            StatusCode::OK,
            "0 attempts match",
        ),
        ("/activity/xyz", StatusCode::NOT_FOUND, "not an activity id"),
        (
            "/activity/424242",
            StatusCode::NOT_FOUND,
            "No delivery attempt has id 424242",
        ),
        (
            "/webhooks/abc/edit",
            StatusCode::NOT_FOUND,
            "not a webhook id",
        ),
        (
            "/webhooks/999/edit",
            StatusCode::NOT_FOUND,
            "no webhook has id 999",
        ),
        (
            "/webhooks/1/edit",
            StatusCode::BAD_REQUEST,
            "configuration file",
        ),
        (
            "/activity?path=%FF",
            StatusCode::BAD_REQUEST,
            "path: is not UTF-8",
        ),
    ] {
        let out = site.ask(Method::GET, path, &cookie, "").await;
        assert_eq!(out.status, status, "{path}: {}", out.body);
        assert!(out.body.contains(says), "{path}: {}", out.body);
    }
    // A refused webhook form comes back with what was typed and why.
    let out = site
        .ask(
            Method::POST,
            "/webhooks",
            &cookie,
            &format!(
                "csrf={csrf}&endpointUrl=ftp%3A%2F%2Fx&resource=%2F&responseVersion=v1&upload=true"
            ),
        )
        .await;
    assert_eq!(out.status, StatusCode::BAD_REQUEST);
    assert!(out.body.contains("value=\"ftp://x\""), "{}", out.body);
    assert!(out.body.contains("endpointUrl"), "{}", out.body);
    // A form too large, or not UTF-8, is refused, not half read.
    let big = format!("csrf={csrf}&name={}", "a".repeat(MAX_FORM));
    let out = site
        .ask(Method::POST, "/developer/keys", &cookie, &big)
        .await;
    assert_eq!(out.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_body_that_never_ends_is_given_up_after_the_body_timeout() {
    let site = site();
    let (cookie, _) = site.sign_in("ann", "ann-password-1").await;
    // The clock stands still and jumps to the next timer whenever the runtime is idle.
    tokio::time::pause();
    for (path, want) in [
        (crate::service::inbox::PATH, StatusCode::REQUEST_TIMEOUT),
        ("/developer/keys", StatusCode::BAD_REQUEST),
    ] {
        let never = futures_util::stream::pending::<Result<axum::body::Bytes, std::io::Error>>();
        let request = axum::http::Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::COOKIE, &cookie)
            .body(Body::from_stream(never))
            .unwrap();
        let started = tokio::time::Instant::now();
        let answer = tower::ServiceExt::oneshot(site.router.clone(), request);
        let response = tokio::time::timeout(BODY_TIMEOUT * 3, answer)
            .await
            .unwrap_or_else(|_| panic!("{path} still waits for the body"))
            .unwrap();
        assert_eq!(response.status(), want, "{path}");
        assert!(started.elapsed() >= BODY_TIMEOUT, "{path}");
    }
    assert!(site.control.stats.feed.last() == 0);
}

#[tokio::test]
async fn answers_carry_the_page_headers_and_unknown_paths_their_own_404() {
    let site = site();
    let out = site.ask(Method::GET, "/login", "", "").await;
    assert!(out.body.contains("name=\"username\"") && out.body.contains("name=\"password\""));
    let out = site.ask(Method::GET, "/no-such-page", "", "").await;
    assert_eq!(out.status, StatusCode::NOT_FOUND);
    assert!(out.body.contains("<h1>Not found</h1>"));
    let out = site.ask(Method::GET, "/api/v2/no-such-route", "", "").await;
    assert_eq!(out.status, StatusCode::NOT_FOUND);
    assert!(
        out.body.contains("ERROR_RESOURCE_NOT_FOUND"),
        "{}",
        out.body
    );
    let out = site
        .ask(Method::GET, "/assets/style.0000000000.css", "", "")
        .await;
    assert_eq!(out.status, StatusCode::NOT_FOUND);
    let out = site
        .ask(Method::GET, &assets::url("style.css"), "", "")
        .await;
    assert_eq!(out.status, StatusCode::OK);
    assert!(out.body.contains("prefers-color-scheme: dark"));
}
