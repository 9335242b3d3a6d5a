//! `/`: the box at a glance. Each share (how it is watched, its index, its last event, its
//! problems in words), each webhook (its state in words, its queue, its last success and
//! failure), the people active in the last 24 hours with a chart of events per hour
//! (`chart`), and the latest events, kept up to date by the live feed.

use std::sync::Arc;

use maud::{Markup, html};

use super::view::{self, time, time_text};
use super::{PageResult, State, Visitor, blocking, render};
use crate::core::event::{Event, escape_controls};
use crate::service::recent::{ADDRESSES_SHOWN, PEOPLE_SHOWN, READ_CAP, Recent};
use crate::service::status::{ShareStatus, Status, WebhookStatus};

/// How many events the overview lists.
pub const EVENTS_SHOWN: usize = 25;

pub async fn page(visitor: Visitor) -> PageResult {
    let state: State = Arc::clone(&visitor.state);
    let control = Arc::clone(&state.control);
    let (status, recent) = blocking(move || Ok((control.status(), control.recent()?))).await?;
    let several = state.control.config.shares.len() > 1;
    let events = state.control.stats.feed.since(0);
    render(view::frame(
        &visitor,
        "/",
        "Overview",
        Some("overview"),
        html! {
            h1 { "Overview" }
            (summary(&status))
            section #shares aria-labelledby="shares-h" {
                h2 #shares-h { "Shares" }
                (shares_table(&status))
            }
            section #webhooks aria-labelledby="webhooks-h" {
                h2 #webhooks-h { "Webhooks" }
                (webhook_table(&status.webhooks))
            }
            section #people aria-labelledby="people-h" {
                h2 #people-h { "People, last 24 hours" }
                (evidence(&status))
                (people(&recent))
            }
            section #events aria-labelledby="events-h" {
                h2 #events-h { "Latest events " span.live-dot title="Updated as they happen" {} }
                table #events.cards {
                    thead { tr {
                        th { "Time" } th { "What" } th { "Path" } th { "By" }
                    } }
                    tbody {
                        @for (_, e) in events.iter().rev().take(EVENTS_SHOWN) { (event_row(e, several)) }
                        @if events.is_empty() {
                            (view::empty_row(4, "No file activity since sharehook started. Events appear here as they happen."))
                        }
                    }
                }
            }
        },
    ))
}

/// The users active in the last 24 hours and the chart of events per hour (the live feed
/// sends it again as it changes).
pub fn people(r: &Recent) -> Markup {
    html! {
        div #people-body {
            (super::chart::chart(r))
            table #people-table.cards {
                thead { tr {
                    th { "User" } th.num { "Events" } th { "Addresses" } th { "Protocols" } th { "Last seen" }
                } }
                tbody {
                    @for p in &r.people {
                        tr.person data-user=(escape_controls(&p.user)) {
                            td data-label="User" { strong { (escape_controls(&p.user)) } }
                            td.num data-label="Events" { (p.events) }
                            td data-label="Addresses" {
                                @for (i, a) in p.addresses.iter().enumerate() {
                                    @if i > 0 { " " }
                                    code.address { (escape_controls(a)) }
                                }
                                @if p.more_addresses > 0 { " " span.muted { "and " (p.more_addresses) " more" } }
                                @if p.addresses.is_empty() { span.muted { "not known" } }
                            }
                            td data-label="Protocols" { (escape_controls(&p.protocols.join(", "))) }
                            td data-label="Last seen" { (time(p.last_seen_ms)) }
                        }
                    }
                    @if r.people.is_empty() {
                        (view::empty_row(5, "Nobody was active in the last 24 hours."))
                    }
                }
            }
            @if r.more_people > 0 {
                p.muted { (r.more_people) " more users were active; the " (PEOPLE_SHOWN) " seen last are listed." }
            }
            @if !r.complete {
                p.flash.error role="status" {
                    "More than " (grouped(READ_CAP)) " delivery attempts were made in the last 24 hours: "
                    "these figures count the events of the newest " (grouped(READ_CAP)) " only."
                }
            }
            p.hint {
                "From the delivery log: each event once, however many webhooks and attempts it took "
                "(events no webhook took are not counted). Addresses are known for changes made over "
                "Samba with its audit log read, or through the API; at most " (ADDRESSES_SHOWN) " are listed per user."
            }
        }
    }
}

/// How reading each file server's log goes: records read and the last one's time, or what is
/// wrong (the log cannot be read, or nothing came since the start).
fn evidence(s: &Status) -> Markup {
    html! {
        @if !s.attribution.is_empty() {
            ul #evidence.plain {
                @for a in &s.attribution {
                    li.evidence data-source=(a.source) {
                        @if a.problem.is_some() { span.badge.warn { "no records" } } @else { span.badge.good { "reading" } }
                        " "
                        (if a.source == "samba" { "Samba's audit log " } else { "The SFTP log " })
                        code { (escape_controls(&a.log)) }
                        ": " (a.records) " records read"
                        @if let Some(at) = &a.last_record_at { ", the last at " (escape_controls(at)) }
                        @if let Some(p) = &a.problem { br; span.muted { (escape_controls(p)) } }
                    }
                }
            }
        }
    }
}

/// `20000` as people read it: `20,000`.
fn grouped(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One line of what is going on, in words.
fn summary(s: &Status) -> Markup {
    let disabled = s.webhooks.iter().filter(|w| w.disabled).count();
    let failing = s
        .webhooks
        .iter()
        .filter(|w| !w.disabled && w.failing_since.is_some())
        .count();
    let problems: usize = s.shares.iter().map(|sh| sh.problems.len()).sum();
    let (class, words) = if disabled > 0 {
        (
            "bad",
            format!(
                "{disabled} webhook{} disabled",
                if disabled == 1 { " is" } else { "s are" }
            ),
        )
    } else if failing > 0 {
        (
            "warn",
            format!(
                "{failing} webhook{} retrying",
                if failing == 1 { " is" } else { "s are" }
            ),
        )
    } else if problems > 0 {
        ("warn", "Some folders cannot be watched".to_owned())
    } else {
        ("good", "All is well".to_owned())
    };
    html! {
        p.summary {
            span class=(format!("badge {class}")) { (words) }
            " Watching " (s.shares.len()) " share" (if s.shares.len() == 1 { "" } else { "s" })
            @if let Some(w) = s.daemon.watches { " (" (w) " folder" (if w == 1 { "" } else { "s" }) ")" }
            ", " (s.webhooks.len()) " webhook" (if s.webhooks.len() == 1 { "" } else { "s" })
            @if let Some(t) = &s.daemon.started_at { ". Running since " (time_text(t)) "." }
        }
    }
}

/// The shares' table and their problems in words (the live feed sends it again as it
/// changes).
pub fn shares_table(status: &Status) -> Markup {
    html! {
        div #share-rows {
                table.cards {
                    thead { tr {
                        th { "Share" } th { "Folder on the box" } th { "Watching" }
                        th.num { "Folders watched" } th.num { "Entries indexed" } th { "Last event" }
                    } }
                    tbody {
                        @for s in &status.shares { (share_row(s)) }
                    }
                }
                @for s in &status.shares {
                    @for p in &s.problems {
                        p.flash.error role="alert" { strong { (s.name) ": " } (escape_controls(p)) }
                    }
                }
                    }
    }
}

fn share_row(s: &ShareStatus) -> Markup {
    let mode = match (s.watch_mode.as_deref(), &s.watch_reason) {
        (Some("poll"), Some(why)) => format!("read at intervals ({})", escape_controls(why)),
        (Some("poll"), None) => "read at intervals".to_owned(),
        (Some(m), _) => format!("live ({m})"),
        (None, _) => "not running".to_owned(),
    };
    html! {
        tr.share {
            td data-label="Share" { strong { (s.name) } }
            td data-label="Folder" { code { (escape_controls(&s.path)) } }
            td data-label="Watching" {
                (mode)
                @if !s.problems.is_empty() { " " span.badge.warn { (s.problems.len()) " problem" (if s.problems.len() == 1 { "" } else { "s" }) } }
            }
            td.num data-label="Folders watched" { (s.folders_watched.map(|n| n.to_string()).unwrap_or_else(|| "–".into())) }
            td.num data-label="Entries indexed" { (s.index_entries.map(|n| n.to_string()).unwrap_or_else(|| "–".into())) }
            td data-label="Last event" {
                @match &s.last_event {
                    Some(e) => { (e.operation) " " code { (escape_controls(&e.path)) } " " (time_text(&e.time)) }
                    None => { "none since the start" }
                }
            }
        }
    }
}

/// A webhook's state in words: delivering, retrying since …, disabled.
pub fn state_words(w: &WebhookStatus) -> Markup {
    if w.disabled {
        html! {
            span.badge.bad { "disabled" }
            @if let Some(r) = &w.disabled_reason { " " (escape_controls(r)) }
            @if let Some(t) = &w.disabled_since { " since " (time_text(t)) }
        }
    } else if let Some(t) = &w.failing_since {
        html! { span.badge.warn { "retrying" } " since " (time_text(t)) }
    } else {
        html! { span.badge.good { "delivering" } }
    }
}

pub fn webhook_table(hooks: &[WebhookStatus]) -> Markup {
    html! {
        table.cards {
            thead { tr {
                th { "#" } th { "Endpoint" } th { "Format" } th { "State" } th.num { "Queued" } th.num { "Failed" }
                th { "Last success" } th { "Last failure" }
            } }
            tbody #webhook-rows {
                @for w in hooks {
                    tr.webhook data-webhook-id=(w.id) {
                        td data-label="#" { (w.id) }
                        td data-label="Endpoint" { code.url { (w.url) } br; span.muted { (w.share) ":" (w.folder) } }
                        td data-label="Format" { (w.format) }
                        td data-label="State" { (state_words(w)) }
                        td.num data-label="Queued" { (w.queued) }
                        td.num data-label="Failed" {
                            @if w.failed > 0 { a href=(format!("/activity?webhookId={}#failed", w.id)) { (w.failed) } } @else { "0" }
                        }
                        td data-label="Last success" {
                            @match &w.last_success { Some(t) => { (time_text(t)) } None => { "–" } }
                        }
                        td data-label="Last failure" {
                            @match &w.last_failure {
                                Some(f) => {
                                    (view::status_badge(f.status, f.status_kind == "transport", f.error.as_deref().unwrap_or("")))
                                    " " (time_text(&f.time))
                                }
                                None => { "–" }
                            }
                        }
                    }
                }
                @if hooks.is_empty() {
                    tr.empty { td colspan="8" { "No webhook yet. " a href="/webhooks/new" { "Add one" } " to be told of every change." } }
                }
            }
        }
    }
}

/// One event as the overview lists it (the live feed sends the same markup).
pub fn event_row(e: &Event, several: bool) -> Markup {
    let path = view::path(several, &e.share, e.path.as_bytes());
    let source = e
        .source
        .as_ref()
        .map(|s| view::path(several, &e.share, s.as_bytes()));
    html! {
        tr.event {
            td data-label="Time" { (time(e.time_ms)) }
            td data-label="What" { span.op { (e.op.v1_name()) } }
            td data-label="Path" {
                @if let Some(s) = &source { code { (s) } " → " }
                code { (path) }
                @if let Some(n) = e.size { " " span.muted { (view::bytes(n)) } }
            }
            td data-label="By" { (escape_controls(&e.username)) }
        }
    }
}
