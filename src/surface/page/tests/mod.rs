//! The tests of `page`.

mod forms;
mod viewers;

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
async fn the_activity_list_filters_by_user_and_address() {
    let site = site();
    let entry = |user: &str, address: &str, path: &str, time: i64| {
        let mut e = crate::store::tests::log_entry(1, time as u64, 1, time);
        e.event.username = user.into();
        e.event.address = address.into();
        e.event.attribution = crate::core::event::Attribution::Audit;
        e.event.path = crate::core::event::SharePath::from_config(path);
        e
    };
    site.control
        .store
        .flush(
            &crate::store::Flush {
                webhook: 1,
                log: vec![
                    entry("alice", "198.18.1.2", "/by-alice.txt", 1),
                    entry("bob", "198.18.2.2", "/by-bob.txt", 2),
                ],
                ..crate::store::Flush::default()
            },
            3,
        )
        .unwrap();
    let (cookie, _) = site.sign_in("ann", "ann-password-1").await;
    for (query, shown, hidden) in [
        ("user=bob", "by-bob.txt", "by-alice.txt"),
        ("address=198.18.1.2", "by-alice.txt", "by-bob.txt"),
    ] {
        let page = site
            .ask(Method::GET, &format!("/activity?{query}"), &cookie, "")
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains(shown), "{query}: {}", page.body);
        assert!(!page.body.contains(hidden), "{query}");
    }
    // An attempt's details say who, from where, and how that was found.
    let page = site.ask(Method::GET, "/activity/2", &cookie, "").await;
    assert!(
        page.body.contains("bob from 198.18.2.2 (audit)"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn the_overview_names_the_people_active_lately_and_charts_their_events() {
    let site = site();
    let (cookie, _) = site.sign_in("ann", "ann-password-1").await;
    let page = site.ask(Method::GET, "/", &cookie, "").await;
    assert!(
        page.body
            .contains("Nobody was active in the last 24 hours.")
            && page.body.contains("No events in the last 24 hours"),
        "{}",
        page.body
    );
    let now = crate::deliver::now_ms();
    let entry = |id: u64, user: &str, address: &str| {
        let mut e = crate::store::tests::log_entry(1, id, 1, now);
        e.event.time_ms = now;
        e.event.username = user.into();
        e.event.address = address.into();
        e.event.protocol = Some("smb".into());
        e.event.attribution = crate::core::event::Attribution::Audit;
        e
    };
    site.control
        .store
        .flush(
            &crate::store::Flush {
                webhook: 1,
                log: vec![
                    entry(1, "alice", "198.18.1.2"),
                    entry(2, "mallory\u{202e}txt.exe\x1b[2J", "198.18.6.6\n"),
                ],
                ..crate::store::Flush::default()
            },
            now,
        )
        .unwrap();
    let page = site.ask(Method::GET, "/", &cookie, "").await;
    let people = &page.body[page.body.find("id=\"people-body\"").unwrap()..];
    assert!(
        people.contains("data-user=\"alice\"")
            && people.contains("<code class=\"address\">198.18.1.2</code>"),
        "{people}"
    );
    // Names and addresses are shown with their control characters escaped.
    assert!(
        people.contains("mallory\\u{202e}txt.exe\\x1b[2J") && people.contains("198.18.6.6\\x0a"),
        "{people}"
    );
    assert!(!people.contains('\u{202e}') && !people.contains('\x1b'));
    assert_eq!(
        people.matches("<rect class=\"bar op-upload\"").count(),
        1,
        "{people}"
    );
    assert!(people.contains("2 events in all (2 Upload)"), "{people}");
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

#[tokio::test]
async fn the_overview_says_whether_the_file_servers_logs_are_read() {
    let site = site_with(
        "\n[[webhook]]\nurl = \"http://127.0.0.1:9/hook\"\n\n[attribution]\nsamba_audit = \"/var/log/samba/audit\\u001b[2J.log\"\nsftp_log = \"journal\"\n",
    );
    let (cookie, _) = site.sign_in("ann", "ann-password-1").await;
    *site.control.stats.attribution.lock().unwrap() =
        vec![crate::core::stats::AttributionFigures {
            source: "samba".into(),
            log: "/var/log/samba/audit\u{1b}[2J.log".into(),
            records: 7,
            last_record_ms: Some(1_796_000_000_000),
            ..Default::default()
        }];
    let page = site.ask(Method::GET, "/", &cookie, "").await;
    let body = &page.body;
    assert!(
        body.contains("Samba&#39;s audit log <code>/var/log/samba/audit\\x1b[2J.log</code>: 7 records read, the last at")
            || body.contains("Samba's audit log <code>/var/log/samba/audit\\x1b[2J.log</code>: 7 records read, the last at"),
        "{body}"
    );
    assert!(
        body.contains("The SFTP log <code>journal</code>: 0 records read")
            && body.contains("no SFTP record seen since the daemon started"),
        "{body}"
    );
    assert!(!body.contains('\u{1b}'), "control characters are escaped");
}
