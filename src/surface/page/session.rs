//! Signing in to the page: sessions (in memory, ended after `IDLE` without a request, or by
//! signing out, a restart, the user's removal or a new password), their cookie, the CSRF
//! token each one carries, and the login and logout forms.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use subtle::ConstantTimeEq;

use super::view::Flash;
use super::{PageError, PageResult, Posted, State, field, view};
use crate::service::access::{self, Identity, PasswordCheck};
use crate::surface::api::limit::{Refused, Standing};

/// The session cookie, and the cookie that carries the login form's CSRF token.
pub const COOKIE: &str = "sharehook_session";
const LOGIN_COOKIE: &str = "sharehook_login";

/// How long a session lasts without a request.
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// The most sessions kept; past it the one idle longest is ended.
pub const MAX_SESSIONS: usize = 1024;
/// The most sessions of one user; past it that user's own session idle longest is ended, so
/// that one account signing in again and again never ends another's sessions (it would take
/// `MAX_SESSIONS / MAX_PER_USER` accounts to fill the table).
pub const MAX_PER_USER: usize = 16;

/// A session's key: the SHA-256 of its cookie (the cookie itself is kept nowhere).
pub type Key = [u8; 32];

struct Session {
    /// The user, by id and password: not by name, which another user may take later.
    identity: Identity,
    csrf: String,
    last_seen: Instant,
    flash: Vec<Flash>,
}

/// A session found for a request.
pub struct Found {
    pub key: Key,
    pub identity: Identity,
    pub csrf: String,
}

#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<Key, Session>>,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Session>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens a session for `identity`; the answer is the cookie's value.
    pub fn open(&self, identity: Identity, now: Instant) -> Result<String, PageError> {
        let cookie = access::random_hex(32).map_err(PageError::internal)?;
        let csrf = access::random_hex(24).map_err(PageError::internal)?;
        let mut map = self.lock();
        map.retain(|_, s| now.duration_since(s.last_seen) < IDLE);
        let idlest = |map: &HashMap<Key, Session>, of_user: Option<u32>| {
            map.iter()
                .filter(|(_, s)| of_user.is_none_or(|u| s.identity.user == u))
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(k, _)| *k)
        };
        let own = map
            .values()
            .filter(|s| s.identity.user == identity.user)
            .count();
        if own >= MAX_PER_USER
            && let Some(oldest) = idlest(&map, Some(identity.user))
        {
            map.remove(&oldest);
        }
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = idlest(&map, None)
        {
            map.remove(&oldest);
        }
        map.insert(
            access::sha256(&cookie),
            Session {
                identity,
                csrf,
                last_seen: now,
                flash: Vec::new(),
            },
        );
        Ok(cookie)
    }

    /// The live session of `cookie`, marked as seen at `now`.
    pub fn find(&self, cookie: &str, now: Instant) -> Option<Found> {
        let key = access::sha256(cookie);
        let mut map = self.lock();
        let session = map.get_mut(&key)?;
        if now.duration_since(session.last_seen) >= IDLE {
            map.remove(&key);
            return None;
        }
        session.last_seen = now;
        Some(Found {
            key,
            identity: session.identity,
            csrf: session.csrf.clone(),
        })
    }

    /// Whether the session is still open (without counting this as a request).
    pub fn alive(&self, key: &Key, now: Instant) -> bool {
        self.lock()
            .get(key)
            .is_some_and(|s| now.duration_since(s.last_seen) < IDLE)
    }

    pub fn close(&self, key: &Key) {
        self.lock().remove(key);
    }

    /// Session `key` now stands for `identity` (its user changed its own password with it:
    /// it stays signed in, while the user's other sessions end).
    pub fn renew(&self, key: &Key, identity: Identity) {
        if let Some(s) = self.lock().get_mut(key) {
            s.identity = identity;
        }
    }

    pub fn flash(&self, key: &Key, flash: Flash) {
        if let Some(s) = self.lock().get_mut(key) {
            s.flash.push(flash);
        }
    }

    pub fn take_flash(&self, key: &Key) -> Vec<Flash> {
        self.lock()
            .get_mut(key)
            .map(|s| std::mem::take(&mut s.flash))
            .unwrap_or_default()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

/// Two tokens compared in constant time (an empty one never matches).
pub fn same(given: &str, expected: &str) -> bool {
    !given.is_empty() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

/// The value of cookie `name` in `headers`.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, Secure under HTTPS; `None` ends it.
fn set_cookie(name: &str, value: Option<&str>, path: &str, https: bool) -> HeaderValue {
    let mut text = match value {
        Some(v) => format!("{name}={v}; Path={path}; HttpOnly; SameSite=Strict"),
        None => format!("{name}=; Path={path}; HttpOnly; SameSite=Strict; Max-Age=0"),
    };
    if https {
        text.push_str("; Secure");
    }
    HeaderValue::from_str(&text).expect("cookie values are hex")
}

fn https(request_extensions: &http::Extensions) -> bool {
    request_extensions
        .get::<crate::surface::web::conn::Https>()
        .is_some_and(|h| h.0)
}

/// Where to go after signing in: a path on this site, never another site.
fn next_path(next: &str) -> String {
    // Browsers drop tabs and line breaks from a URL and read `\` as `/`: a path with any of
    // them could turn into `//elsewhere`.
    let plain = next
        .chars()
        .all(|c| !c.is_control() && !c.is_whitespace() && c != '\\');
    if plain && next.starts_with('/') && !next.starts_with("//") {
        // A header holds ASCII only: other characters go percent-encoded.
        percent_encoding::utf8_percent_encode(next, NOT_ASCII).to_string()
    } else {
        "/".to_owned()
    }
}

/// Bytes that are not ASCII (the only ones `next_path` encodes).
const NOT_ASCII: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS.add(b' ');

fn login_form(csrf: &str, next: &str, error: Option<&str>, user: &str) -> maud::Markup {
    view::bare(
        "Sign in",
        html! {
            div.login {
                h1 { "sharehook" }
                p.muted { "Sign in with a user of this box (" code { "sharehook user add" } ")." }
                @if let Some(e) = error { p.flash.error role="alert" { (e) } }
                form #login method="post" action="/login" {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="next" value=(next);
                    label for="username" { "User name" }
                    input #username name="username" autocomplete="username" required
                        autofocus value=(user);
                    label for="password" { "Password" }
                    input #password name="password" type="password"
                        autocomplete="current-password" required;
                    button.primary type="submit" { "Sign in" }
                }
            }
        },
    )
}

/// `GET /login`: the form, with a fresh token in a cookie of its own (there is no session to
/// hold it yet).
pub async fn login_page(AxumState(state): AxumState<State>, request: Request) -> PageResult {
    let query = crate::surface::api::Query(parse_query(request.uri().query()));
    let next = next_path(query.get("next").unwrap_or("/"));
    if let Some(c) = cookie(request.headers(), COOKIE)
        && state.kept.sessions.find(&c, Instant::now()).is_some()
    {
        return Ok(Redirect::to(&next).into_response());
    }
    let nonce = access::random_hex(24).map_err(PageError::internal)?;
    let mut response = login_form(&nonce, &next, None, "").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            LOGIN_COOKIE,
            Some(&nonce),
            "/login",
            https(request.extensions()),
        ),
    );
    Ok(response)
}

fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    q.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|pair| {
            let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((
                crate::surface::api::form_decode(n)?,
                crate::surface::api::form_decode(v)?,
            ))
        })
        .collect()
}

/// `POST /login`: checks the password (rate-limited per address with the API's sign-ins) and
/// opens a session.
pub async fn login(AxumState(state): AxumState<State>, request: Request) -> PageResult {
    let (parts, body) = request.into_parts();
    let secure = https(&parts.extensions);
    let ip = super::peer_ip(&parts);
    let client = crate::surface::api::client_key(&parts);
    let fields = super::read_form(body).await?;
    let nonce = cookie(&parts.headers, LOGIN_COOKIE).unwrap_or_default();
    if !same(field(&fields, "csrf"), &nonce) {
        return Err(PageError::Csrf);
    }
    let next = next_path(field(&fields, "next"));
    let user = field(&fields, "username").to_owned();
    let password = fields
        .iter()
        .rev()
        .find(|(n, _)| n == "password")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let limiter = &state.kept.limiter;
    // A failure is reserved before the password is checked, so that tries sent at once cannot
    // all be checked before the first is counted.
    let reservation = limiter
        .reserve(client, &user, limiter.now())
        .map_err(|refused| {
            let why = match refused {
                Refused::Address(_) => "Too many wrong passwords came from your address.",
                Refused::Name(_) => "Too many wrong passwords were tried for this user name.",
                Refused::Pair(_) => {
                    "Too many wrong passwords were tried for this user name from your address."
                }
                Refused::SignIns(_) => "This user signed in too many times in a short while.",
            };
            PageError::Limited {
                why,
                seconds: refused.retry_after().as_secs() + 1,
            }
        })?;
    let store = Arc::clone(&state.control.store);
    let name = user.clone();
    // On a password thread: at most two argon2 checks run at once, whatever arrives.
    let checked = crate::service::passwords::pool()
        .run(move || access::password_check(&store, &name, &password))
        .await;
    let (caller, identity) = match checked {
        Err(busy) => {
            // No password was checked: nothing was learned, and nothing is counted (the queue
            // holds a flood back).
            limiter.cancel(reservation, limiter.now());
            return Err(PageError::Busy(busy.to_string()));
        }
        Ok(Err(e)) => {
            limiter.cancel(reservation, limiter.now());
            return Err(e.into());
        }
        Ok(Ok(PasswordCheck::Wrong { user_exists })) => {
            if let Standing::Limited { .. } = limiter.failed(reservation, limiter.now()) {
                log::warn!(
                    "page: {ip} made {} failed sign-ins in a row; it waits",
                    crate::surface::api::limit::LIMIT
                );
            }
            // A name that is no user's may be a password typed into the wrong field: it is
            // not written to the journal.
            if user_exists {
                log::info!(
                    "page: a sign-in as \"{}\" from {ip} failed: wrong password",
                    crate::core::event::escape_controls(&user)
                );
            } else {
                log::info!("page: a sign-in from {ip} failed: no user has the name given");
            }
            let mut response =
                login_form(&nonce, &next, Some("Wrong user name or password."), &user)
                    .into_response();
            *response.status_mut() = StatusCode::UNAUTHORIZED;
            return Ok(response);
        }
        Ok(Ok(PasswordCheck::Right(caller, identity))) => (caller, identity),
    };
    limiter.signed_in(reservation, limiter.now());
    let cookie_value = state.kept.sessions.open(identity, Instant::now())?;
    log::info!(
        "page: {} ({}) signed in from {ip}",
        crate::core::event::escape_controls(&caller.user),
        caller.role
    );
    let mut response = Redirect::to(&next).into_response();
    let h = response.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(COOKIE, Some(&cookie_value), "/", secure),
    );
    h.append(
        header::SET_COOKIE,
        set_cookie(LOGIN_COOKIE, None, "/login", secure),
    );
    Ok(response)
}

/// `POST /logout`: ends the session.
pub async fn logout(posted: Posted) -> Response {
    let visitor = posted.visitor;
    visitor.state.kept.sessions.close(&visitor.session);
    log::info!(
        "page: {} signed out",
        crate::core::event::escape_controls(&visitor.caller.user)
    );
    let mut response = Redirect::to("/login").into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(COOKIE, None, "/", false));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(user: u32) -> Identity {
        Identity {
            user,
            password: [7; 16],
        }
    }

    #[test]
    fn a_session_ends_after_its_idle_time_and_a_request_keeps_it_open() {
        let sessions = Sessions::default();
        let t0 = Instant::now();
        let cookie = sessions.open(who(1), t0).unwrap();
        assert_eq!(sessions.find(&cookie, t0).unwrap().identity, who(1));
        let half = t0 + IDLE / 2;
        assert!(sessions.find(&cookie, half).is_some());
        // Counted from the last request, not from the sign-in.
        assert!(
            sessions
                .find(&cookie, half + IDLE - Duration::from_secs(1))
                .is_some()
        );
        assert!(sessions.find(&cookie, half + IDLE * 3).is_none());
        assert_eq!(sessions.len(), 0, "an expired session is forgotten");
        assert!(sessions.find("not-a-cookie", t0).is_none());
    }

    #[test]
    fn sessions_are_bounded_and_the_idlest_goes_first() {
        let sessions = Sessions::default();
        let t0 = Instant::now();
        let first = sessions.open(who(1), t0).unwrap();
        let second = sessions.open(who(2), t0 + Duration::from_secs(1)).unwrap();
        // Many users, a few sessions each, fill the table.
        for i in 0..MAX_SESSIONS {
            sessions
                .open(
                    who(10 + (i / 4) as u32),
                    t0 + Duration::from_secs(2 + i as u64 / 1000),
                )
                .unwrap();
        }
        assert!(sessions.len() <= MAX_SESSIONS);
        let now = t0 + Duration::from_secs(5);
        assert!(sessions.find(&first, now).is_none());
        assert!(sessions.find(&second, now).is_none());
    }

    #[test]
    fn one_user_signing_in_again_and_again_ends_only_its_own_oldest_sessions() {
        let sessions = Sessions::default();
        let t0 = Instant::now();
        let admin = sessions.open(who(1), t0).unwrap();
        // 1,030 sign-ins of one viewer, each later than the admin's last request.
        let mut viewer = Vec::new();
        for i in 0..1030u64 {
            let at = t0 + Duration::from_millis(1 + i);
            viewer.push(sessions.open(who(2), at).unwrap());
        }
        let now = t0 + Duration::from_secs(2);
        assert!(
            sessions.find(&admin, now).is_some(),
            "the admin was signed out"
        );
        assert_eq!(sessions.len(), 1 + MAX_PER_USER);
        // The viewer's newest are kept, its oldest went.
        for (i, cookie) in viewer.iter().enumerate() {
            let kept = i >= viewer.len() - MAX_PER_USER;
            assert_eq!(sessions.find(cookie, now).is_some(), kept, "sign-in {i}");
        }
        // Another identity of the same user (a new password) counts as the same user.
        let renewed = Identity {
            user: 2,
            password: [8; 16],
        };
        sessions.open(renewed, now).unwrap();
        assert_eq!(sessions.len(), 1 + MAX_PER_USER);
    }

    #[test]
    fn a_redirect_after_sign_in_stays_on_this_site() {
        for (given, want) in [
            ("/activity?status=5xx", "/activity?status=5xx"),
            ("//evil.example/", "/"),
            ("https://evil.example/", "/"),
            ("/\\evil.example", "/"),
            ("/\t/evil.example", "/"),
            ("/\n/evil.example", "/"),
            ("/ /evil.example", "/"),
            ("/activity?path=/Bücher", "/activity?path=/B%C3%BCcher"),
            ("", "/"),
        ] {
            assert_eq!(next_path(given), want, "{given}");
        }
    }

    #[test]
    fn cookies_are_read_from_any_cookie_header() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; sharehook_session=abc"),
        );
        h.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(cookie(&h, COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "b").as_deref(), Some("2"));
        assert_eq!(cookie(&h, "c"), None);
        assert!(!same("", ""));
        assert!(same("x1", "x1"));
        assert!(!same("x1", "x2"));
    }
}
