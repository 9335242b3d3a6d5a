//! `/activity`: the webhook log with ExaVault's columns (date and time, endpoint URL, event,
//! status, attempt, response size, details), newest first, with filters, paging, a details
//! view, Resend on each row, and the failed events with Resend all. The filters are the
//! API's (`GET /activity/webhooks`), read by the same code.

use std::sync::Arc;

use axum::extract::Path;
use maud::{Markup, html};

use super::view::Flash;
use super::view::{self, csrf, time};
use super::{PageError, PageResult, Posted, Visitor, blocking, render, see};
use crate::core::event::{Operation, escape_controls};
use crate::service::attempts;
use crate::store::LogEntry;
use crate::surface::api::Query;

/// Entries on one page of the table.
pub const PAGE_SIZE: usize = 50;
/// Failed events listed (the count says how many there are in all).
pub const FAILED_SHOWN: usize = 100;

/// The filters the form has, as (form name, API name).
const FILTERS: [(&str, &str); 8] = [
    ("startDate", "startDate"),
    ("endDate", "endDate"),
    ("webhookId", "webhookId"),
    ("event", "event"),
    ("status", "statusCode"),
    ("path", "resourcePath"),
    ("user", "username"),
    ("address", "ipAddress"),
];

const STATUSES: [(&str, &str); 6] = [
    ("", "any status"),
    ("2xx", "2xx (delivered)"),
    ("4xx", "4xx"),
    ("5xx", "5xx"),
    ("transport", "no answer (transport)"),
    ("failed", "every failure"),
];

fn filter_value<'a>(query: &'a Query, name: &str) -> &'a str {
    query.get(name).unwrap_or("")
}

/// The query string of `query`'s filters with `offset`.
fn link(query: &Query, offset: usize) -> String {
    let mut parts: Vec<String> = FILTERS
        .iter()
        .filter_map(|(name, _)| {
            query
                .get(name)
                .map(|v| format!("{name}={}", super::view::encode(v)))
        })
        .collect();
    if offset > 0 {
        parts.push(format!("offset={offset}"));
    }
    if parts.is_empty() {
        "/activity".to_owned()
    } else {
        format!("/activity?{}", parts.join("&"))
    }
}

pub async fn page(visitor: Visitor, super::PageQuery(query): super::PageQuery) -> PageResult {
    // The API's parameters, from the form's names; an end date without a time is the whole
    // day.
    let mut api = Vec::new();
    for (name, api_name) in FILTERS {
        if let Some(v) = query.get(name) {
            let v = if name == "endDate" && v.len() == 10 {
                format!("{v}T23:59:59.999Z")
            } else {
                v.to_owned()
            };
            api.push((api_name.to_owned(), v));
        }
    }
    let offset = query
        .get("offset")
        .and_then(|o| o.parse::<usize>().ok())
        .unwrap_or(0);
    api.push(("offset".into(), offset.to_string()));
    api.push(("limit".into(), PAGE_SIZE.to_string()));
    let filtered = api.len() > 2;
    let mut q = crate::surface::api::activity::log_query(&Query(api))
        .map_err(|e| PageError::Invalid(format!("A filter is not valid: {}", e.detail)))?;
    q.hide_secrets = !visitor.admin();
    let control = Arc::clone(&visitor.state.control);
    let several = control.config.shares.len() > 1;
    let webhook = q.webhook;
    let (after, log, failed, hooks) = blocking(move || {
        // Read before the list: the live feed sends what was written after it, and a row both
        // listed and sent is shown once.
        let after = control.store.newest_log_id()?;
        let log = attempts::query(&control.store, &q, several)?;
        let failed = control.store.failed_events(webhook)?;
        let hooks = control.hooks.ids();
        Ok((after, log, failed, hooks))
    })
    .await?;
    let admin = visitor.admin();
    let live = (offset == 0 && !filtered).then_some("activity");
    render(view::frame(
        &visitor,
        "/activity",
        "Activity",
        live,
        html! {
            h1 { "Activity" }
            form #filters.filters method="get" action="/activity" {
                div {
                    label for="startDate" { "From (UTC)" }
                    input #startDate name="startDate" type="datetime-local" value=(filter_value(&query, "startDate"));
                }
                div {
                    label for="endDate" { "To (UTC)" }
                    input #endDate name="endDate" type="datetime-local" value=(filter_value(&query, "endDate"));
                }
                div {
                    label for="webhookId" { "Webhook" }
                    select #webhookId name="webhookId" {
                        option value="" { "every webhook" }
                        @for id in &hooks {
                            option value=(id) selected[filter_value(&query, "webhookId") == id.to_string()] { "webhook " (id) }
                        }
                    }
                }
                div {
                    label for="event" { "Event" }
                    select #event name="event" {
                        option value="" { "every event" }
                        @for op in Operation::ALL {
                            option value=(op.v2_name()) selected[filter_value(&query, "event") == op.v2_name()] { (op.v2_name()) }
                        }
                    }
                }
                div {
                    label for="status" { "Status" }
                    select #status name="status" {
                        @for (value, label) in STATUSES {
                            option value=(value) selected[filter_value(&query, "status") == value] { (label) }
                        }
                    }
                }
                div {
                    label for="path" { "Path (* matches any text)" }
                    input #path name="path" type="search" placeholder="/reports/*.pdf" value=(filter_value(&query, "path"));
                }
                div {
                    label for="user" { "User" }
                    input #user name="user" type="search" value=(filter_value(&query, "user"));
                }
                div {
                    label for="address" { "Address" }
                    input #address name="address" type="search" placeholder="198.18.0.2" value=(filter_value(&query, "address"));
                }
                div.buttons {
                    button.primary type="submit" { "Filter" }
                    @if filtered { a.button href="/activity" { "Clear" } }
                }
            }
            p.muted {
                (log.total) " attempt" (if log.total == 1 { "" } else { "s" })
                @if filtered { (if log.total == 1 { " matches" } else { " match" }) } @else { " in the log" }
                @if live.is_some() { ". New attempts appear as they are made " span.live-dot {} }
            }
            table #activity.cards data-after=(after) {
                thead { tr {
                    th { "Date and time" } th { "Endpoint URL" } th { "Event" } th { "Status" }
                    th.num { "Attempt" } th.num { "Response size" } th { "Details" }
                } }
                tbody {
                    @for e in &log.entries { (attempt_row(&visitor, e, several)) }
                    @if log.entries.is_empty() { (view::empty_row(7, "No delivery attempt matches.")) }
                }
            }
            nav.paging aria-label="Pages of the log" {
                @if offset > 0 {
                    a #prev.button href=(link(&query, offset.saturating_sub(PAGE_SIZE))) { "← Newer" }
                }
                @if (offset + PAGE_SIZE) < log.total as usize {
                    a #next.button href=(link(&query, offset + PAGE_SIZE)) { "Older →" }
                }
            }
            section #failed aria-labelledby="failed-h" {
                h2 #failed-h { "Failed events" }
                @if failed.is_empty() {
                    p.muted { "No event is set aside: every event was delivered or is still being tried." }
                } @else {
                    p {
                        (failed.len()) " event" (if failed.len() == 1 { " was" } else { "s were" })
                        " set aside after every attempt failed. Resend puts them back in their queue, in order."
                    }
                    @if admin {
                        form #resend-all method="post" action="/activity/resend-failed" {
                            (csrf(&visitor))
                            @if let Some(id) = webhook { input type="hidden" name="webhookId" value=(id); }
                            button.primary type="submit" { "Resend all" }
                        }
                    }
                    table.cards {
                        thead { tr { th { "Failed at" } th { "Webhook" } th { "Event" } th { "Path" } th.num { "Attempts" } th { "Last result" } } }
                        tbody {
                            @for f in failed.iter().take(FAILED_SHOWN) {
                                tr.failed {
                                    td data-label="Failed at" { (time(f.failed_ms)) }
                                    td data-label="Webhook" { (f.webhook) }
                                    td data-label="Event" { (f.event.op.v2_name()) }
                                    td data-label="Path" { code { (view::path(several, &f.event.share, f.event.path.as_bytes())) } }
                                    td.num data-label="Attempts" { (f.attempts) }
                                    td data-label="Last result" { (escape_controls(&view::text_with_urls(&visitor, &f.last_result))) }
                                }
                            }
                        }
                    }
                }
            }
        },
    ))
}

/// One attempt as the table lists it (the live feed sends the same markup).
pub fn attempt_row(visitor: &Visitor, e: &LogEntry, several: bool) -> Markup {
    html! {
        tr.attempt data-attempt-id=(e.attempt_id()) data-entry=(e.id) data-time=(e.time_ms) {
            td data-label="Date and time" { (time(e.time_ms)) }
            td data-label="Endpoint URL" { code.url { (view::url(visitor, &e.url)) } }
            td data-label="Event" {
                (e.event.op.v2_name()) br;
                code.path { (view::path(several, &e.event.share, e.event.path.as_bytes())) }
            }
            td data-label="Status" { (view::status_badge(e.status, e.transport, &view::text_with_urls(visitor, &e.message))) }
            td.num data-label="Attempt" {
                (e.attempt)
                @if e.resend { " " span.badge.neutral { "resend" } }
            }
            td.num data-label="Response size" { (view::bytes(e.response_size)) }
            td.actions data-label="Details" {
                a.details href=(format!("/activity/{}", e.id)) { "Details" }
                @if visitor.admin() {
                    form.resend method="post" action="/activity/resend" {
                        (csrf(visitor))
                        input type="hidden" name="entry" value=(e.id);
                        button type="submit" { "Resend" }
                    }
                }
            }
        }
    }
}

/// `GET /activity/{id}`: one attempt, with the body sent and the answer.
pub async fn details(visitor: Visitor, Path(id): Path<String>) -> PageResult {
    let id: u64 = id
        .parse()
        .map_err(|_| PageError::NotFound(format!("\"{id}\" is not an activity id")))?;
    let store = Arc::clone(&visitor.state.control.store);
    let entry = blocking(move || Ok(store.log_entries(&[id])?))
        .await?
        .pop()
        .ok_or_else(|| PageError::NotFound(format!("No delivery attempt has id {id}.")))?;
    let several = visitor.state.control.config.shares.len() > 1;
    let e = &entry;
    render(view::frame(
        &visitor,
        "/activity",
        &format!("Attempt {}", e.attempt_id()),
        None,
        html! {
            p { a href="/activity" { "← Activity" } }
            h1 { "Attempt " (e.attempt) " of event " (e.event.id) }
            dl.facts {
                dt { "Date and time" } dd { (time(e.time_ms)) }
                dt { "Webhook" } dd { (e.webhook) " (" (e.format) ")" }
                dt { "Endpoint URL" } dd { code { (view::url(&visitor, &e.url)) } }
                dt { "Event" } dd { (e.event.op.v2_name()) }
                dt { "Path" } dd { code { (view::path(several, &e.event.share, e.event.path.as_bytes())) } }
                @if let Some(s) = &e.event.source {
                    dt { "From" } dd { code { (view::path(several, &e.event.share, s.as_bytes())) } }
                }
                dt { "By" } dd {
                    (escape_controls(&e.event.username))
                    @if !e.event.address.is_empty() { " from " (escape_controls(&e.event.address)) }
                    " (" (e.event.attribution.as_str()) ")"
                }
                dt { "Status" } dd { (view::status_badge(e.status, e.transport, &view::text_with_urls(&visitor, &e.message))) }
                @if e.transport { dt { "Error" } dd { (escape_controls(&view::text_with_urls(&visitor, &e.message))) } }
                dt { "Took" } dd { (e.duration_ms) " ms" }
                dt { "Response size" } dd { (view::bytes(e.response_size)) }
                dt { "Resend" } dd { (if e.resend { "yes" } else { "no" }) }
            }
            @if visitor.admin() {
                form.resend method="post" action="/activity/resend" {
                    (csrf(&visitor))
                    input type="hidden" name="entry" value=(e.id);
                    button.primary type="submit" { "Resend" }
                }
            }
            h2 { "Body sent" }
            pre #body { (view::body_text(&e.body)) }
            h2 { "Response" }
            @if e.response.is_empty() {
                p.muted { "The receiver's answer had no body." }
            }
            pre #response { (escape_controls(&String::from_utf8_lossy(&e.response))) }
        },
    ))
}

/// `POST /activity/resend`: sends the event of entry `entry` to its webhook again, now.
pub async fn resend(posted: Posted) -> PageResult {
    let posted = posted.admin()?;
    let entry: u64 = posted
        .get("entry")
        .parse()
        .map_err(|_| PageError::Invalid("The form names no attempt to resend.".into()))?;
    let visitor = posted.visitor;
    let logged =
        crate::service::activity::resend_entry(&visitor.state.control, &visitor.caller, entry)
            .await
            .map_err(super::worker_error)?;
    let words = if let Some(answer) = logged.broker_answer() {
        format!("acknowledged: {}", escape_controls(answer))
    } else if logged.success() {
        format!("answered {}", logged.status)
    } else if logged.transport {
        format!("no answer: {}", escape_controls(&logged.message))
    } else {
        format!("answered {}", logged.status)
    };
    visitor.tell(if logged.success() {
        Flash::Done(format!(
            "Event {} was sent again as attempt {}: {words}.",
            logged.event.id, logged.attempt
        ))
    } else {
        Flash::Failed(format!(
            "Event {} was sent again as attempt {}: {words}.",
            logged.event.id, logged.attempt
        ))
    });
    see("/activity")
}

/// `POST /activity/resend-failed`: puts the failed events (of one webhook, or all) back into
/// their queues.
pub async fn resend_failed(posted: Posted) -> PageResult {
    let posted = posted.admin()?;
    let webhook = match posted.get("webhookId") {
        "" => None,
        id => Some(
            id.parse::<u32>()
                .map_err(|_| PageError::Invalid(format!("\"{id}\" is not a webhook id")))?,
        ),
    };
    let visitor = posted.visitor;
    let control = Arc::clone(&visitor.state.control);
    let caller = visitor.caller.clone();
    let n = blocking(move || {
        crate::service::activity::recover_as(&control, &caller, webhook, None)
            .map_err(super::worker_error)
    })
    .await?;
    visitor.tell(Flash::Done(format!(
        "{n} failed event{} put back in {} queue to be sent again in order.",
        if n == 1 { " was" } else { "s were" },
        if webhook.is_some() { "its" } else { "their" }
    )));
    see("/activity")
}
