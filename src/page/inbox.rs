//! `/inbox`: the built-in test receiver's page, and `POST /inbox/receive`, where it is sent
//! to. The receiving URL needs no sign-in (a webhook's delivery carries none); what it keeps is
//! bounded (`inbox::KEEP` requests of at most `inbox::MAX_BODY` bytes) and shown only to
//! signed-in users.

use std::sync::Arc;

use axum::extract::{Request, State as AxumState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::view::{self, time};
use super::{PageResult, Posted, State, Visitor, blocking, render, see};
use crate::inbox::{self, Signer, Verdict};

pub async fn page(visitor: Visitor) -> PageResult {
    let requests = visitor.state.kept.inbox.newest_first();
    let url = super::webhooks::inbox_url(&visitor);
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
                (inbox::KEEP) " are kept, in memory."
            }
            @if requests.is_empty() {
                p #empty-note { "Nothing received yet. Use " strong { "Send test" } " on the " a href="/webhooks" { "Webhooks" } " page." }
            }
            div #requests {
                @for r in &requests { (request_article(r, visitor.admin())) }
            }
        },
    ))
}

/// One request as the inbox lists it (the live feed sends the same markup). A viewer sees
/// the headers that carry credentials as `***` and URLs without their secrets.
pub fn request_article(r: &inbox::Request, admin: bool) -> Markup {
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
                        summary { "Headers (" (r.headers.len()) ")" }
                        table.headers {
                            tbody {
                                @for (n, v) in &r.headers {
                                    @let v = if admin { v.into() } else { crate::send::hide_secret_header(n, v) };
                                    tr { th scope="row" { (n) } td { code { (crate::event::escape_controls(&v)) } } }
                                }
                            }
                        }
                    }
                    pre.body { (view::body_text(&r.body)) }
                }
    }
}

/// `POST /inbox/clear`: forgets what the inbox holds.
pub async fn clear(posted: Posted) -> PageResult {
    let visitor = posted.admin()?.visitor;
    visitor.state.kept.inbox.clear();
    see("/inbox")
}

/// `POST /inbox/receive`: keeps the request and answers 200, as a receiver would.
pub async fn receive(AxumState(state): AxumState<State>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let from = crate::api::peer_ip(&parts).to_string();
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
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let control = Arc::clone(&state.control);
    let signers = blocking(move || {
        let routing = control.hooks.routes().current();
        let mut signers = Vec::new();
        for w in &routing.webhooks {
            signers.push(Signer {
                webhook: w.id,
                token: control.hooks.token(w.id).ok().flatten(),
                secret: w.secret.clone(),
            });
        }
        Ok(signers)
    })
    .await
    .unwrap_or_default();
    // A body kept only in part cannot be checked.
    let signature = if size > kept.len() {
        Verdict::Invalid
    } else {
        inbox::check(&headers, &kept, &signers)
    };
    let seq = state.kept.inbox.keep(inbox::Request {
        seq: 0,
        time_ms: crate::deliver::now_ms(),
        from,
        headers,
        body: kept,
        size,
        signature,
    });
    state.control.stats.feed.touch();
    (
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        format!("{{\"received\":{seq}}}"),
    )
        .into_response()
}
