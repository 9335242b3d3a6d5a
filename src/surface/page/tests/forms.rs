//! The forms: users, keys and tokens, webhooks, hostile input, and the headers and 404s
//! every answer carries.

use super::*;

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
