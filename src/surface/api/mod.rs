//! The management API under `/api/v2`, shaped as ExaVault's so that its SDKs work unchanged.
//!
//! Handlers are thin: they read the request (`Query`, `JsonBody`, the caller from `Signed` or
//! `Admin`), call one function of a service module (`access`, `hooks`, `resources`, `status`,
//! `activity`), and shape its answer. Every failure is an `ApiError`, written in ExaVault's
//! error shape; no handler formats an error by hand. Handlers never touch redb or the engine.

mod account;
pub(crate) mod activity;
pub mod limit;
mod resources;
mod webhooks;

use std::net::IpAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State as AxumState};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::core::fault::{Fault, Kind};
use crate::service::access::{self, AuthError, Caller, Role};
use crate::store::StoreError;
use crate::surface::web::conn::Peer;

pub use limit::Limiter;

/// The largest request body read.
pub const MAX_BODY: usize = 1 << 20;

/// What the handlers work with; made again at each reload (the limiter is kept).
pub struct ApiState {
    /// The state, the live webhooks and their workers, the running configuration and figures:
    /// what the control socket serves from too.
    pub control: Arc<crate::service::activity::Control>,
    pub limiter: Arc<Limiter>,
}

pub type State = Arc<ApiState>;

/// The OpenAPI document of every route served (`/api/v2/openapi.json`, `/openapi.json`).
pub const OPENAPI: &str = include_str!("openapi.json");

/// Every route `router` serves, as the OpenAPI document names it (under `/api/v2` unless it
/// starts with `/metrics`); a unit test holds the router, this list and the document together.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/account"),
    ("GET", "/users"),
    ("GET", "/activity/webhooks"),
    ("GET", "/openapi.json"),
    ("GET", "/webhooks"),
    ("POST", "/webhooks"),
    ("GET", "/webhooks/{id}"),
    ("PATCH", "/webhooks/{id}"),
    ("DELETE", "/webhooks/{id}"),
    ("POST", "/webhooks/regenerate-token/{id}"),
    ("POST", "/webhooks/resend/{activityId}"),
    ("POST", "/webhooks/{id}/recover"),
    ("POST", "/webhooks/{id}/enable"),
    ("POST", "/webhooks/{id}/test"),
    ("GET", "/status"),
    ("GET", "/status/recent"),
    ("GET", "/metrics"),
    ("GET", "/resources/download"),
    ("GET", "/resources/list"),
    ("GET", "/resources/list/{id}"),
    ("GET", "/resources/{id}"),
    ("DELETE", "/resources/{id}"),
    ("GET", "/resources"),
    ("DELETE", "/resources"),
];

/// ExaVault's routes that sharehook does not serve, with what they did: each answers 404
/// with ExaVault's error shape saying so, whatever the credentials, before any of its path is
/// read (`/resources/preview` is not a file named `preview`). A path listed here answers so
/// to any method; `POST /resources` and `PATCH /resources/{id}` share their paths with
/// routes that are served.
pub const NOT_SERVED: &[(&str, &str, &str)] = &[
    ("POST", "/resources", "making folders"),
    ("PATCH", "/resources/{id}", "renaming files and folders"),
    ("POST", "/resources/upload", "uploading files"),
    ("POST", "/resources/copy", "copying files and folders"),
    ("POST", "/resources/move", "moving files and folders"),
    (
        "POST",
        "/resources/compress",
        "making zip files in the share",
    ),
    (
        "POST",
        "/resources/extract",
        "extracting zip files in the share",
    ),
    ("GET", "/resources/preview", "previews of files"),
    (
        "GET",
        "/activity/session",
        "a log of sessions (who signed in from where)",
    ),
];

/// The API's routes, under `/api/v2`.
pub fn router(state: State) -> Router {
    let api = Router::new()
        .route("/openapi.json", get(openapi))
        .route("/account", get(account::account))
        .route("/users", get(account::users))
        .route("/activity/webhooks", get(activity::webhook_logs))
        .route("/webhooks", get(webhooks::list).post(webhooks::create))
        .route(
            "/webhooks/{id}",
            get(webhooks::get)
                .patch(webhooks::update)
                .delete(webhooks::delete),
        )
        .route(
            "/webhooks/regenerate-token/{id}",
            post(webhooks::regenerate_token),
        )
        .route("/webhooks/resend/{activityId}", post(webhooks::resend))
        .route("/webhooks/{id}/recover", post(webhooks::recover))
        .route("/webhooks/{id}/enable", post(webhooks::enable))
        .route("/webhooks/{id}/test", post(webhooks::test))
        .route("/status", get(status))
        .route("/status/recent", get(recent))
        .route("/resources/download", get(resources::download))
        .route("/resources/list", get(resources::list))
        .route("/resources/list/{id}", get(resources::list_contents))
        .route(
            "/resources/{id}",
            get(resources::info)
                .delete(resources::delete_one)
                .patch(not_served(NOT_SERVED[1])),
        )
        .route(
            "/resources",
            get(resources::info_by_query)
                .delete(resources::delete_many)
                .post(not_served(NOT_SERVED[0])),
        );
    let api = NOT_SERVED[2..]
        .iter()
        .fold(api, |api, &route| {
            api.route(route.1, any(not_served(route)))
        })
        .route_layer(axum::middleware::from_fn(path_params_are_text))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    Router::new()
        .nest("/api/v2", api)
        .route("/openapi.json", get(openapi))
        .route("/metrics", get(metrics))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn(refuse_large_bodies))
        .with_state(state)
}

/// `GET /api/v2/status`: what `sharehook status --json` says, for any signed-in user.
async fn status(AxumState(state): AxumState<State>, _: Signed) -> ApiResult {
    let control = Arc::clone(&state.control);
    let status = blocking(move || Ok(control.status())).await?;
    answer(
        StatusCode::OK,
        json!({ "responseStatus": 200, "data": status }),
    )
}

/// `GET /api/v2/status/recent`: who was active in the last 24 hours and the events of each
/// hour by operation, as the overview shows them, for any signed-in user.
async fn recent(AxumState(state): AxumState<State>, _: Signed) -> ApiResult {
    let control = Arc::clone(&state.control);
    let recent = blocking(move || Ok(control.recent()?)).await?;
    answer(
        StatusCode::OK,
        json!({ "responseStatus": 200, "data": crate::service::recent::to_json(&recent) }),
    )
}

/// `GET /metrics`: Prometheus text, with `[web] metrics = true` (no credentials, as
/// scrapers expect; it names shares and webhook ids, never URLs or users).
async fn metrics(AxumState(state): AxumState<State>) -> ApiResult {
    if !state.control.config.web.metrics {
        return Err(ApiError::not_found(
            "metrics are off: set [web] metrics = true to serve them",
        ));
    }
    let control = Arc::clone(&state.control);
    let text = blocking(move || Ok(control.metrics())).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// Needs no credentials: a client reads it to learn how to sign in.
async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "ERROR_RESOURCE_NOT_FOUND",
        "no such route",
    )
}

/// The handler of a route of `NOT_SERVED`.
fn not_served(
    (method, path, what): (&'static str, &'static str, &'static str),
) -> impl Fn() -> std::future::Ready<ApiError> + Clone + Send + Sync + 'static {
    move || {
        std::future::ready(ApiError::not_found(format!(
            "sharehook does not serve ExaVault's {method} {path} ({what}); it serves the \
             webhooks, their delivery log, and reading, downloading and deleting a share's \
             files (see the README, \"API\")"
        )))
    }
}

/// A path parameter that is not UTF-8 once percent-decoded is refused with ExaVault's error
/// naming it (axum's extractor would answer in plain text). The resources routes take bytes:
/// a file's name need not be UTF-8.
async fn path_params_are_text(
    matched: Option<axum::extract::MatchedPath>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    if let Some(matched) = matched
        && !matched.as_str().contains("/resources/")
    {
        // From the end: a nested router sees the path without its prefix.
        let pattern = matched.as_str().rsplit('/');
        for (part, raw) in pattern.zip(req.uri().path().rsplit('/')) {
            let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) else {
                continue;
            };
            if percent_encoding::percent_decode_str(raw)
                .decode_utf8()
                .is_err()
            {
                return ApiError::invalid(
                    name,
                    format!(
                        "{:?} is not UTF-8 once percent-decoded",
                        crate::core::event::escape_controls(raw)
                    ),
                )
                .into_response();
            }
        }
    }
    next.run(req).await
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "ERROR_METHOD_NOT_ALLOWED",
        "this route does not take that method",
    )
}

// ----- errors -----

/// A failed request, as ExaVault wrote one:
/// `{"responseStatus":401,"errors":[{"code":"ERROR_INVALID_CREDENTIALS","detail":"..."}]}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    /// Extra headers (`Retry-After`, `X-RateLimit-*`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            detail: detail.into(),
            headers: Vec::new(),
        }
    }

    /// 400 naming the parameter at fault.
    pub fn invalid(field: &str, detail: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "ERROR_INVALID_PARAMETER",
            format!("{field}: {detail}"),
        )
    }

    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "ERROR_RESOURCE_NOT_FOUND", detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "ERROR_INSUFFICIENT_PRIVILEGES",
            detail,
        )
    }

    /// A failure of sharehook itself: logged in full, answered in general terms.
    pub fn internal(what: impl std::fmt::Display) -> ApiError {
        log::error!("api: {what}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ERROR_INTERNAL",
            "sharehook could not do this; its log says why",
        )
    }

    /// Too much of this at once: 503 with a `Retry-After`, nothing done.
    pub fn busy(detail: impl Into<String>) -> ApiError {
        let mut error = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ERROR_SERVICE_UNAVAILABLE",
            detail,
        );
        error
            .headers
            .push((header::RETRY_AFTER, HeaderValue::from_static("1")));
        error
    }

    /// The answer for a service module's error, by its kind.
    pub fn from_fault(e: &(impl Fault + ?Sized)) -> ApiError {
        let detail = e.to_string();
        match e.kind() {
            Kind::Invalid { field } => {
                // The detail usually names the field already.
                if detail.starts_with(&field) {
                    ApiError::new(StatusCode::BAD_REQUEST, "ERROR_INVALID_PARAMETER", detail)
                } else {
                    ApiError::invalid(&field, detail)
                }
            }
            Kind::NotFound => ApiError::not_found(detail),
            Kind::Forbidden => ApiError::forbidden(detail),
            Kind::Conflict => ApiError::new(StatusCode::CONFLICT, "ERROR_CONFLICT", detail),
            Kind::Busy => ApiError::busy(detail),
            Kind::Internal => ApiError::internal(detail),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        ApiError::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "responseStatus": self.status.as_u16(),
            "errors": [{ "code": self.code, "detail": self.detail }],
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        response.headers_mut().extend(self.headers);
        response
    }
}

pub type ApiResult = Result<Response, ApiError>;

/// A 2xx answer with its JSON body (every 2xx carries one: the SDKs fail on an empty body).
pub fn answer(status: StatusCode, body: Value) -> ApiResult {
    Ok((status, axum::Json(body)).into_response())
}

/// Runs a blocking service call (they read and write the state) off the server's thread.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("a request's work stopped: {e}")))?
}

// ----- who is calling -----

/// A caller whose API key and access token checked out (any role).
pub struct Signed(pub Caller);

/// A caller with the admin role.
pub struct Admin(pub Caller);

impl FromRequestParts<State> for Signed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Signed, ApiError> {
        let ip = peer_ip(parts);
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .trim()
                .to_owned()
        };
        let (key, token) = (header("ev-api-key"), header("ev-access-token"));
        // Checked whatever the address's standing: a token is 256 random bits, so checking
        // costs little and guessing is hopeless, and a right one is let in even from an
        // address a guesser has spent (127.0.0.1 is every SSH-tunnelled admin's).
        let store = Arc::clone(&state.control.store);
        let checked =
            tokio::task::spawn_blocking(move || access::authenticate(&store, &key, &token))
                .await
                .map_err(|e| ApiError::internal(format!("a sign-in check stopped: {e}")))?;
        match checked {
            Ok(mut caller) => {
                caller.address = ip.to_string();
                Ok(Signed(caller))
            }
            Err(AuthError::Invalid) => {
                let mut error = ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "ERROR_INVALID_CREDENTIALS",
                    "the API key or the access token (headers ev-api-key and ev-access-token) is missing or not valid",
                );
                match state
                    .limiter
                    .api_failed(client_key(parts), state.limiter.now())
                {
                    Ok(limit::Standing::Allowed { remaining }) => {
                        rate_headers(&mut error.headers, remaining);
                    }
                    Ok(limit::Standing::Limited { retry_after }) => {
                        log::warn!(
                            "api: {ip} made {} failed sign-ins in a row; it waits {}s",
                            limit::LIMIT,
                            retry_after.as_secs() + 1
                        );
                        rate_headers(&mut error.headers, 0);
                    }
                    Err(retry_after) => return Err(limited(retry_after)),
                }
                Err(error)
            }
            Err(e) => Err(ApiError::internal(e)),
        }
    }
}

impl FromRequestParts<State> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Admin, ApiError> {
        let Signed(caller) = Signed::from_request_parts(parts, state).await?;
        if caller.role != Role::Admin {
            return Err(ApiError::forbidden(format!(
                "user {} is a viewer; this needs an admin",
                caller.user
            )));
        }
        Ok(Admin(caller))
    }
}

pub(crate) fn peer_ip(parts: &Parts) -> IpAddr {
    parts
        .extensions
        .get::<Peer>()
        .map(|p| p.0.ip())
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
}

/// What the request's client is counted as for failed sign-ins (`web::conn::client_key`): its
/// address where the server did not say.
pub(crate) fn client_key(parts: &Parts) -> IpAddr {
    parts
        .extensions
        .get::<crate::surface::web::conn::Client>()
        .map_or_else(|| peer_ip(parts), |c| c.0)
}

fn rate_headers(headers: &mut Vec<(HeaderName, HeaderValue)>, remaining: u32) {
    headers.push((
        HeaderName::from_static("x-ratelimit-limit"),
        HeaderValue::from(limit::LIMIT),
    ));
    headers.push((
        HeaderName::from_static("x-ratelimit-remaining"),
        HeaderValue::from(remaining),
    ));
}

fn limited(retry_after: std::time::Duration) -> ApiError {
    let secs = retry_after.as_secs() + 1;
    let mut error = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "ERROR_RATE_LIMIT",
        format!("too many failed sign-ins from this address; try again in {secs} s"),
    );
    rate_headers(&mut error.headers, 0);
    error
        .headers
        .push((header::RETRY_AFTER, HeaderValue::from(secs)));
    error.headers.push((
        HeaderName::from_static("x-ratelimit-reset"),
        HeaderValue::from(secs),
    ));
    error
}

// ----- reading requests -----

/// The query string's pairs, form-decoded (`+` is a space), in order; `name[]` repeats are
/// kept as they come.
pub struct Query(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Query, ApiError> {
        let mut pairs = Vec::new();
        for pair in parts.uri.query().unwrap_or("").split('&') {
            if pair.is_empty() {
                continue;
            }
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = form_decode(name)
                .ok_or_else(|| ApiError::invalid("query", "a parameter name is not UTF-8"))?;
            let value = form_decode(value)
                .ok_or_else(|| ApiError::invalid(&name, "is not UTF-8 once percent-decoded"))?;
            pairs.push((name, value));
        }
        Ok(Query(pairs))
    }
}

impl Query {
    /// The last value given for `name` (`None` when absent or empty).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Every value of `name` (and of `name[]`).
    pub fn all(&self, name: &str) -> Vec<&str> {
        let bracketed = format!("{name}[]");
        self.0
            .iter()
            .filter(|(n, _)| *n == name || *n == bracketed)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A whole number from `lo` to `hi`, or `default` when absent.
    pub fn number(&self, name: &str, lo: u64, hi: u64, default: u64) -> Result<u64, ApiError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => match v.trim().parse::<u64>() {
                Ok(n) if (lo..=hi).contains(&n) => Ok(n),
                _ => Err(ApiError::invalid(
                    name,
                    format!("must be a whole number from {lo} to {hi}"),
                )),
            },
        }
    }
}

/// Percent-decoding of a form value; `None` when the bytes are not UTF-8.
pub fn form_decode(s: &str) -> Option<String> {
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "ERROR_INVALID_PARAMETER",
        format!("the request body is larger than {MAX_BODY} bytes"),
    )
}

/// How much of a body past `MAX_BODY` is read and thrown away before the 413, and for how long.
const DRAIN_BYTES: u64 = 16 << 20;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// A body declared larger than `MAX_BODY` is refused with 413 before any handler runs. What
/// the client is still sending is read and dropped first (up to `DRAIN_BYTES`, within
/// `DRAIN_TIME`): a client that writes its whole body before reading then gets the 413, not a
/// connection reset by unread data. The connection is closed after.
async fn refuse_large_bodies(req: Request, next: axum::middleware::Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_none_or(|n| n <= MAX_BODY as u64) {
        return next.run(req).await;
    }
    let mut body = req.into_body();
    let drain = async {
        let mut read = 0u64;
        while read < DRAIN_BYTES {
            match http_body_util::BodyExt::frame(&mut body).await {
                Some(Ok(frame)) => {
                    read += frame.data_ref().map_or(0, |d| d.len() as u64);
                }
                _ => break,
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, drain).await;
    let mut response = too_large().into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A request body as bytes (at most `MAX_BODY`).
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<RawBody, ApiError> {
        Bytes::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    too_large()
                } else {
                    ApiError::invalid("body", e.body_text())
                }
            })
    }
}

pub use crate::core::payload::resource_number;

/// A JSON body read into `T`; an error names the field at fault. An empty body is `{}` (the
/// SDKs send one on DELETE, and sometimes none).
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<JsonBody<T>, ApiError> {
        let RawBody(bytes) = RawBody::from_request(req, state).await?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        let mut de = serde_json::Deserializer::from_slice(text);
        let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let field = e.path().to_string();
            let field = if field == "." {
                "body".to_owned()
            } else {
                field
            };
            ApiError::invalid(&field, e.into_inner())
        })?;
        de.end()
            .map_err(|e| ApiError::invalid("body", format!("not one JSON value: {e}")))?;
        Ok(JsonBody(value))
    }
}

/// A time given to a filter: RFC 3339 / ISO 8601, with or without a zone (without: UTC), or
/// a date alone. Milliseconds since the epoch.
pub fn parse_time(field: &str, text: &str) -> Result<i64, ApiError> {
    parse_iso8601(text.trim()).ok_or_else(|| {
        ApiError::invalid(
            field,
            format!("\"{text}\" is not a date and time such as 2026-11-22T10:00:00Z"),
        )
    })
}

fn parse_iso8601(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = t.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let (mut h, mut mi, mut s, mut ms) = (0, 0, 0, 0);
    let mut rest = &t[10..];
    if let Some(time) = rest.strip_prefix(['T', 't', ' ']) {
        let tb = time.as_bytes();
        if tb.len() < 5 || tb[2] != b':' {
            return None;
        }
        h = time.get(0..2)?.parse().ok()?;
        mi = time.get(3..5)?.parse().ok()?;
        rest = &time[5..];
        if let Some(sec) = rest.strip_prefix(':') {
            s = sec.get(0..2)?.parse().ok()?;
            rest = &sec[2..];
            if let Some(frac) = rest.strip_prefix(['.', ',']) {
                let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
                if digits == 0 {
                    return None;
                }
                let first3 = format!("{:0<3}", &frac[..digits.min(3)]);
                ms = first3.parse().ok()?;
                rest = &frac[digits..];
            }
        }
        if h > 23 || mi > 59 || s > 60 {
            return None;
        }
    }
    let offset_min: i64 = match rest {
        "" | "Z" | "z" => 0,
        zone => {
            let sign = match zone.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let z = zone[1..].replace(':', "");
            if z.len() != 4 || !z.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            sign * (z[0..2].parse::<i64>().ok()? * 60 + z[2..4].parse::<i64>().ok()?)
        }
    };
    let days = days_from_civil(y, mo, d);
    Some((((days * 24 + h) * 60 + mi - offset_min) * 60 + s) * 1000 + ms)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests;
