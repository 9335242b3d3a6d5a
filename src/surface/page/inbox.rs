//! `/inbox`: the built-in test receiver's page, and `POST /inbox/receive`, where it is sent
//! to. The receiving URL needs no sign-in (a webhook's delivery carries none); what it keeps is
//! bounded (`inbox::KEEP` requests, a prefix of each one's headers and body), what a page
//! shows of them too (`SHOW_BODY`, `SHOW_VALUE`, `PAGE_BUDGET`), and it is shown only to
//! signed-in users.

use std::borrow::Cow;
use std::sync::Arc;

use axum::extract::{Request, State as AxumState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::view::{self, time};
use super::{PageResult, Posted, State, Visitor, render, see};
use crate::service::inbox::{self, Signer, Verdict};

/// The most of a page's requests shown in full, in bytes of HTML: past it the older requests
/// are listed in a line each, so the page costs little whatever was posted.
pub const PAGE_BUDGET: usize = 128 * 1024;
/// The most of a body shown (in characters, escapes included), and of a header's value.
pub const SHOW_BODY: usize = 2048;
pub const SHOW_VALUE: usize = 200;

pub async fn page(visitor: Visitor) -> PageResult {
    // Read first: the live feed sends what came after it, and one both listed and sent is
    // shown once.
    let after = visitor.state.kept.inbox.last();
    let requests = visitor.state.kept.inbox.newest_first();
    let url = super::webhooks::inbox_url(&visitor);
    let admin = visitor.admin();
    let mut used = 0;
    let shown: Vec<(&inbox::Request, Option<Markup>)> = requests
        .iter()
        .map(|r| {
            if used >= PAGE_BUDGET {
                return (&**r, None);
            }
            let article = request_article(r, admin);
            used += article.0.len();
            (&**r, Some(article))
        })
        .collect();
    render(view::frame(
        &visitor,
        "/inbox",
        "Inbox",
        Some("inbox"),
        html! {
            div.titlebar {
                h1 { "Inbox" }
                @if visitor.admin() && !requests.is_empty() {
                    (view::button(&visitor, "/inbox/clear", "clear", "Clear"))
                }
            }
            p {
                "A receiver built into this box. Point a webhook at "
                @match &url {
                    Some(u) => { code #inbox-url { (u) } " " button.copy type="button" data-copy=(u) { "Copy" } }
                    None => { "this server's " code { (inbox::PATH) } }
                }
                " and every request it gets is shown here, with its headers, its body, and whether "
                "its signature checks against a webhook's current token. The newest "
                (inbox::KEEP) " are kept, in memory, each with the first "
                (view::bytes(inbox::KEEP_BODY as u64)) " of its body."
            }
            @if requests.is_empty() {
                p #empty-note { "Nothing received yet. Use " strong { "Send test" } " on the " a href="/webhooks" { "Webhooks" } " page." }
            }
            div #requests data-after=(after) data-keep=(inbox::KEEP) {
                @for (r, article) in &shown {
                    @match article {
                        Some(a) => { (a) }
                        None => { (request_line(r)) }
                    }
                }
            }
        },
    ))
}

/// A request in one line, for those past the page's budget.
fn request_line(r: &inbox::Request) -> Markup {
    html! {
        article.request.short id=(format!("request-{}", r.seq)) {
            p {
                strong { "Request " (r.seq) } " · " (r.signature.word()) " · " (time(r.time_ms))
                " from " (r.from) " · " (view::bytes(r.size as u64))
                span.muted { " (not shown in full: the page shows the newest requests up to "
                    (view::bytes(PAGE_BUDGET as u64)) "; Clear makes room)" }
            }
        }
    }
}

/// "… N more bytes" after a part showing `shown` bytes of `size`.
fn more(shown: usize, size: usize) -> Option<String> {
    (size > shown).then(|| format!("… {} more bytes", size - shown))
}

/// One request as the inbox lists it (the live feed sends the same markup): a bounded part
/// of its headers and body. A viewer sees the headers that carry credentials as `***` and
/// URLs without their secrets.
pub fn request_article(r: &inbox::Request, admin: bool) -> Markup {
    let (body, body_shown) = view::preview(&r.body, SHOW_BODY);
    html! {
        article.request id=(format!("request-{}", r.seq)) {
            header {
                h2 { "Request " (r.seq) }
                @match &r.signature {
                    Verdict::Valid { webhook, scheme } => {
                        span.badge.good.signature { "valid" }
                        " " span.webhook data-webhook-id=(webhook) { "signed by webhook " (webhook) " (" (scheme) ")" }
                    }
                    Verdict::Invalid => {
                        span.badge.bad.signature { "invalid" }
                        " " span.webhook { "no webhook's current token or secret matches" }
                    }
                    Verdict::Unsigned => { span.badge.neutral.signature { "unsigned" } }
                }
            }
            p.muted { (time(r.time_ms)) " from " (r.from) " · " (view::bytes(r.size as u64))
                @if r.size > r.body.len() { " (the first " (view::bytes(r.body.len() as u64)) " kept)" } }
            details {
                summary { "Headers (" (r.header_count) ")" }
                table.headers {
                    tbody {
                        @for h in &r.headers {
                            @let value = if admin { Cow::Borrowed(h.value.as_str()) } else { crate::core::redact::hide_secret_header(&h.name, &h.value) };
                            // What is left of a value shown with its secrets hidden is not told.
                            @let hidden = matches!(value, Cow::Owned(_));
                            @let (value, value_shown) = view::preview(value.as_bytes(), SHOW_VALUE);
                            @let (name, _) = view::preview(h.name.as_bytes(), SHOW_VALUE);
                            tr {
                                th scope="row" { (name) }
                                td {
                                    code { (value) }
                                    @if let Some(m) = more(value_shown, h.size).filter(|_| !hidden) { " " span.muted { (m) } }
                                }
                            }
                        }
                    }
                }
                @if r.header_count > r.headers.len() {
                    p.muted { "… and " (r.header_count - r.headers.len()) " more headers" }
                }
            }
            pre.body { (body) }
            @if let Some(m) = more(body_shown, r.size) { p.muted.more { (m) } }
        }
    }
}

/// `POST /inbox/clear`: forgets what the inbox holds.
pub async fn clear(posted: Posted) -> PageResult {
    let visitor = posted.admin()?.visitor;
    visitor.state.kept.inbox.clear();
    see("/inbox")
}

/// The keys each webhook pointed at the inbox signs with now: its current token and secret.
/// Only those can have sent to it, and checking every webhook would let anyone make the box
/// hash each post as many times as it has webhooks.
pub fn signers(control: &crate::service::activity::Control) -> Vec<Signer> {
    let routing = control.hooks.routes().current();
    routing
        .webhooks
        .iter()
        .filter(|w| inbox::points_here(&w.url))
        .map(|w| Signer {
            webhook: w.id,
            token: control.hooks.token(w.id).ok().flatten(),
            secret: w.secret.clone(),
        })
        .collect()
}

/// `POST /inbox/receive`: keeps the request and answers 200, as a receiver would. A signed
/// one waits for its check (off this thread, bounded); when too many are waiting it is
/// refused with 503 and `Retry-After`, and nothing is kept.
pub async fn receive(AxumState(state): AxumState<State>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let from = crate::surface::api::peer_ip(&parts).to_string();
    let raw: Vec<(String, Vec<u8>)> = parts
        .headers
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
        .collect();
    let headers: Vec<(String, String)> = raw
        .iter()
        .map(|(n, v)| (n.clone(), String::from_utf8_lossy(v).into_owned()))
        .collect();
    // Read to the end (so the sender sees its answer, not a reset), keeping the first part;
    // within `BODY_TIMEOUT`.
    let read = async {
        use futures_util::StreamExt;
        let (mut kept, mut size) = (Vec::new(), 0usize);
        let mut body = body.into_data_stream();
        while let Some(chunk) = body.next().await {
            let Ok(chunk) = chunk else {
                return Err((StatusCode::BAD_REQUEST, "the body could not be read"));
            };
            size += chunk.len();
            if size > 16 * inbox::MAX_BODY {
                return Err((StatusCode::PAYLOAD_TOO_LARGE, "too large for the inbox"));
            }
            let room = inbox::MAX_BODY.saturating_sub(kept.len());
            kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
        Ok((kept, size))
    };
    let (kept, size) = match tokio::time::timeout(super::BODY_TIMEOUT, read).await {
        Ok(Ok(read)) => read,
        Ok(Err(refused)) => return refused.into_response(),
        Err(_) => {
            return (
                StatusCode::REQUEST_TIMEOUT,
                "the body did not arrive in time",
            )
                .into_response();
        }
    };
    // Taken once the body is here: a sender that trickles its body holds no turn meanwhile.
    let place = if inbox::signed(&headers) {
        match state.kept.inbox.checks.enter() {
            Some(place) => Some(place),
            None => {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(axum::http::header::RETRY_AFTER, "1")],
                    format!(
                        "the inbox is checking the signatures of {} requests already; send \
                         this one again in a moment",
                        inbox::WAITING
                    ),
                )
                    .into_response();
            }
        }
    } else {
        None
    };
    let (signature, kept) = match place {
        None => (Verdict::Unsigned, kept),
        // A body read only in part cannot be checked.
        Some(_) if size > kept.len() => (Verdict::Invalid, kept),
        Some(place) => {
            let control = Arc::clone(&state.control);
            let checked = place
                .run(move || {
                    let verdict = inbox::check(&headers, &kept, &signers(&control));
                    (verdict, kept)
                })
                .await;
            match checked {
                Ok(done) => done,
                Err(e) => {
                    log::error!("page: an inbox check stopped: {e}");
                    return (StatusCode::INTERNAL_SERVER_ERROR, "the check stopped")
                        .into_response();
                }
            }
        }
    };
    let seq = state
        .kept
        .inbox
        .keep(inbox::Request::kept(from, &raw, &kept, size, signature));
    state.control.stats.feed.touch();
    (
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        format!("{{\"received\":{seq}}}"),
    )
        .into_response()
}
