//! The web page: server-rendered HTML (maud templates) for people, on the same listener as
//! the API and built on the same service modules, so the page and scripts see the same
//! things. Every action is a plain form (CSRF token, session cookie); a little hand-written
//! JavaScript adds live updates, local times and copy buttons.
//!
//! Handlers are thin like the API's: read the form, call one service function, answer a page
//! or a redirect. Every failure is a `PageError`, rendered by one `IntoResponse`.

mod activity;
mod assets;
mod chart;
mod developer;
mod inbox;
mod live;
mod overview;
mod session;
mod view;
mod webhooks;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};

use crate::core::fault::{Fault, Kind};
use crate::service::access::{Caller, Role};
use crate::service::inbox::Inbox;
use crate::surface::api::Limiter;

pub use live::Streams;
pub use session::Sessions;

/// What outlives a reload: sign-in failures (shared with the API), sessions, live streams,
/// the inbox, the figures of who was active lately that live pages share.
#[derive(Default)]
pub struct Kept {
    pub limiter: Arc<Limiter>,
    pub sessions: Arc<Sessions>,
    pub streams: Arc<Streams>,
    pub inbox: Arc<Inbox>,
    pub recent: Arc<live::RecentCache>,
}

/// What the page's handlers work with; made again at each reload.
pub struct PageState {
    pub control: Arc<crate::service::activity::Control>,
    pub kept: Arc<Kept>,
}

pub type State = Arc<PageState>;

/// The largest form read.
const MAX_FORM: usize = 64 * 1024;
/// How long a request may take to send its body (a form, or a delivery to the inbox): a
/// client that trickles one must not hold a connection slot for long.
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The page's routes. Paths not served answer the page's 404, except under `/api/`, where
/// the API's JSON 404 is answered.
pub fn router(state: State) -> Router {
    Router::new()
        .route("/", get(overview::page))
        .route("/login", get(session::login_page).post(session::login))
        .route("/logout", post(session::logout))
        .route("/events", get(live::events))
        .route("/webhooks", get(webhooks::page).post(webhooks::create))
        .route("/webhooks/new", get(webhooks::new_form))
        .route("/webhooks/{id}/edit", get(webhooks::edit_form))
        .route("/webhooks/{id}", post(webhooks::update))
        .route("/webhooks/{id}/delete", post(webhooks::delete))
        .route(
            "/webhooks/{id}/regenerate-token",
            post(webhooks::regenerate),
        )
        .route("/webhooks/{id}/enable", post(webhooks::enable))
        .route("/webhooks/{id}/test", post(webhooks::test))
        .route("/activity", get(activity::page))
        .route("/activity/resend", post(activity::resend))
        .route("/activity/resend-failed", post(activity::resend_failed))
        .route("/activity/{id}", get(activity::details))
        .route("/developer", get(developer::page))
        .route("/developer/users", post(developer::user_add))
        .route("/developer/users/{name}", post(developer::user_change))
        .route(
            "/developer/users/{name}/remove",
            post(developer::user_remove),
        )
        .route("/developer/keys", post(developer::key_add))
        .route("/developer/keys/{id}", post(developer::key_edit))
        .route("/developer/keys/{id}/remove", post(developer::key_remove))
        .route("/developer/tokens", post(developer::token_add))
        .route(
            "/developer/tokens/{id}/regenerate",
            post(developer::token_regenerate),
        )
        .route(
            "/developer/tokens/{id}/remove",
            post(developer::token_remove),
        )
        .route("/inbox", get(inbox::page))
        .route("/inbox/clear", post(inbox::clear))
        .route(crate::service::inbox::PATH, post(inbox::receive))
        .route("/assets/{name}", get(assets::serve))
        .route("/favicon.ico", get(assets::favicon))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(headers))
        .with_state(state)
}

/// Headers every page answer carries: what the browser may load (only this server's own
/// files, no inline script), no framing, no sniffing, no referrer off the box.
async fn headers(request: Request, next: axum::middleware::Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

async fn not_found(request: Request) -> Response {
    if request.uri().path().starts_with("/api/") {
        return crate::surface::api::ApiError::not_found("no such route").into_response();
    }
    PageError::NotFound("There is no page at this address.".into()).into_response()
}

// ----- errors -----

/// Why a request was not done, as the person sees it.
#[derive(Debug)]
pub enum PageError {
    /// No session: sign in first, then come back to `next`.
    SignIn {
        next: String,
    },
    /// A viewer asked for an admin's action.
    NotAdmin,
    /// The form's CSRF token is missing or not this session's.
    Csrf,
    NotFound(String),
    Invalid(String),
    /// Too many failed sign-ins from this address or for this user name, or too many
    /// sign-ins as one user: what was refused, and for how long.
    Limited {
        why: &'static str,
        seconds: u64,
    },
    /// Too much of this is being done at once; nothing was done.
    Busy(String),
    /// sharehook failed; logged in full, shown in general terms.
    Internal,
}

impl PageError {
    pub fn internal(what: impl std::fmt::Display) -> PageError {
        log::error!(
            "page: {}",
            crate::core::event::escape_controls(&what.to_string())
        );
        PageError::Internal
    }

    /// The error for a service module's failure, by its kind.
    pub fn from_fault(e: &(impl Fault + ?Sized)) -> PageError {
        match e.kind() {
            Kind::Invalid { .. } | Kind::Conflict => PageError::Invalid(e.to_string()),
            Kind::NotFound => PageError::NotFound(e.to_string()),
            Kind::Forbidden => PageError::Invalid(e.to_string()),
            Kind::Busy => PageError::Busy(e.to_string()),
            Kind::Internal => PageError::internal(e),
        }
    }
}

impl From<crate::store::StoreError> for PageError {
    fn from(e: crate::store::StoreError) -> PageError {
        PageError::internal(e)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, detail): (StatusCode, &str, String) = match self {
            PageError::SignIn { next } => {
                let to = format!("/login?next={}", view::encode(&next));
                return Redirect::to(&to).into_response();
            }
            PageError::NotAdmin => (
                StatusCode::FORBIDDEN,
                "This is not allowed for a viewer",
                "Your user has the viewer role: it can see everything here but change nothing. \
                 Ask an admin to do this, or to make your user an admin."
                    .into(),
            ),
            PageError::Csrf => (
                StatusCode::FORBIDDEN,
                "The form's token is expired or missing",
                "Nothing was changed. This happens when a form was opened before you signed in \
                 again, or was sent from somewhere else. Go back, reload the page, and try again."
                    .into(),
            ),
            PageError::NotFound(what) => (StatusCode::NOT_FOUND, "Not found", what),
            PageError::Invalid(what) => (StatusCode::BAD_REQUEST, "That did not work", what),
            PageError::Limited { why, seconds } => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many sign-ins",
                format!("{why} Try again in {seconds} seconds."),
            ),
            PageError::Busy(what) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "sharehook is busy",
                format!("{what}. Nothing was changed."),
            ),
            PageError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "sharehook could not do this",
                "Something failed inside sharehook; its journal says what (journalctl -u sharehook)."
                    .into(),
            ),
        };
        let body = view::bare(
            title,
            html! {
                h1 { (title) }
                p { (detail) }
                p { a href="/" { "Back to the overview" } }
            },
        );
        (status, body).into_response()
    }
}

pub type PageResult = Result<Response, PageError>;

/// Runs a blocking service call off the server's thread.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, PageError> + Send + 'static,
) -> Result<T, PageError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| PageError::internal(format!("a request's work stopped: {e}")))?
}

/// A rendered page as an answer.
pub fn render(markup: Markup) -> PageResult {
    Ok(markup.into_response())
}

/// After a form: back to `to` (303, so a reload does not send the form again).
pub fn see(to: &str) -> PageResult {
    Ok(Redirect::to(to).into_response())
}

// ----- who is asking -----

/// A signed-in person: the user as the state knows it now (a new name or role counts from
/// the next request; a removal or a new password ends the session), and the session's CSRF
/// token.
pub struct Visitor {
    pub caller: Caller,
    /// Who the session stands for: checked against the state at each request.
    pub identity: crate::service::access::Identity,
    pub csrf: String,
    /// The session's key (a hash of the cookie), to leave a message for the next page.
    pub session: session::Key,
    pub state: State,
}

impl Visitor {
    pub fn admin(&self) -> bool {
        self.caller.role == Role::Admin
    }

    /// `Err(NotAdmin)` unless the visitor is an admin.
    pub fn must_be_admin(&self) -> Result<(), PageError> {
        if self.admin() {
            Ok(())
        } else {
            Err(PageError::NotAdmin)
        }
    }

    /// Leaves `text` for the next page this visitor sees.
    pub fn tell(&self, flash: view::Flash) {
        self.state.kept.sessions.flash(&self.session, flash);
    }

    /// The messages left for this page, taken.
    pub fn messages(&self) -> Vec<view::Flash> {
        self.state.kept.sessions.take_flash(&self.session)
    }
}

impl FromRequestParts<State> for Visitor {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Visitor, PageError> {
        let next = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".into());
        let sign_in = || PageError::SignIn {
            next: if parts.method == http::Method::GET {
                next.clone()
            } else {
                "/".into()
            },
        };
        let cookie = session::cookie(&parts.headers, session::COOKIE).ok_or_else(sign_in)?;
        let found = state
            .kept
            .sessions
            .find(&cookie, Instant::now())
            .ok_or_else(sign_in)?;
        let store = Arc::clone(&state.control.store);
        let identity = found.identity;
        let now =
            blocking(move || Ok(crate::service::access::signed_in(&store, &identity)?)).await?;
        let Some(mut caller) = now else {
            // The user was removed, or its password changed: the session ends with it.
            state.kept.sessions.close(&found.key);
            return Err(sign_in());
        };
        caller.address = peer_ip(parts).to_string();
        Ok(Visitor {
            caller,
            identity,
            csrf: found.csrf,
            session: found.key,
            state: Arc::clone(state),
        })
    }
}

fn peer_ip(parts: &Parts) -> IpAddr {
    crate::surface::api::peer_ip(parts)
}

/// The query string's pairs, read as the API reads them; a value that is not UTF-8 is a page
/// saying so, not the API's JSON.
pub struct PageQuery(pub crate::surface::api::Query);

impl<S: Send + Sync> FromRequestParts<S> for PageQuery {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<PageQuery, PageError> {
        crate::surface::api::Query::from_request_parts(parts, state)
            .await
            .map(PageQuery)
            .map_err(|e| PageError::Invalid(format!("The address is not valid: {}", e.detail)))
    }
}

/// A form sent by a signed-in visitor whose CSRF token checked out.
pub struct Posted {
    pub visitor: Visitor,
    pub fields: Vec<(String, String)>,
}

impl Posted {
    /// The last value of `name`, trimmed; empty when absent.
    pub fn get(&self, name: &str) -> &str {
        field(&self.fields, name)
    }

    /// The last value of `name` as it was typed, untrimmed (a password's spaces are part of
    /// it, as the sign-in form keeps them); empty when absent.
    pub fn raw(&self, name: &str) -> &str {
        self.fields
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Whether checkbox `name` was ticked.
    pub fn ticked(&self, name: &str) -> bool {
        self.fields.iter().any(|(n, _)| n == name)
    }

    /// Like `Posted`, and the visitor must be an admin.
    pub fn admin(self) -> Result<Posted, PageError> {
        self.visitor.must_be_admin()?;
        Ok(self)
    }
}

pub fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.trim())
        .unwrap_or("")
}

impl FromRequest<State> for Posted {
    type Rejection = PageError;

    async fn from_request(request: Request, state: &State) -> Result<Posted, PageError> {
        let (mut parts, body) = request.into_parts();
        let visitor = Visitor::from_request_parts(&mut parts, state).await?;
        let fields = read_form(body).await?;
        let given = field(&fields, "csrf");
        if !session::same(given, &visitor.csrf) {
            log::warn!(
                "page: a form from {} for {} had {} CSRF token; refused",
                visitor.caller.address,
                crate::core::event::escape_controls(parts.uri.path()),
                if given.is_empty() { "no" } else { "a wrong" }
            );
            return Err(PageError::Csrf);
        }
        Ok(Posted { visitor, fields })
    }
}

/// The pairs of an `application/x-www-form-urlencoded` body.
pub async fn read_form(body: axum::body::Body) -> Result<Vec<(String, String)>, PageError> {
    let bytes = tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, MAX_FORM))
        .await
        .map_err(|_| {
            PageError::Invalid(format!(
                "the form did not arrive within {} s",
                BODY_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|_| PageError::Invalid(format!("the form is larger than {MAX_FORM} bytes")))?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| PageError::Invalid("the form is not UTF-8".into()))?;
    let mut fields = Vec::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (Some(name), Some(value)) = (
            crate::surface::api::form_decode(name),
            crate::surface::api::form_decode(value),
        ) else {
            return Err(PageError::Invalid("a form field is not UTF-8".into()));
        };
        fields.push((name, value));
    }
    Ok(fields)
}

/// An action the activity service did not do, as the page says it.
pub fn worker_error(e: crate::service::activity::ActivityError) -> PageError {
    match e {
        crate::service::activity::ActivityError::NotFound(detail) => PageError::NotFound(detail),
        other => PageError::internal(other.to_string()),
    }
}

#[cfg(test)]
mod tests;
