//! The parts every page shares: the frame (head, navigation, messages), times, and the words
//! for a delivery's status. Everything shown is escaped by the templates; control
//! characters in names from the disk are escaped before that, and every page and live piece
//! is escaped once more as a whole (`safe`), so none reaches a browser raw.

use std::borrow::Cow;
use std::fmt::Write;

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::Visitor;
use super::assets;
use crate::core::payload::rfc3339;

/// A message for the next page a visitor sees.
#[derive(Clone, Debug)]
pub enum Flash {
    Done(String),
    Failed(String),
    /// A secret shown this once: what it is, and its value.
    Secret(String, String),
}

/// The navigation: path, label, admins only.
const NAV: [(&str, &str, bool); 5] = [
    ("/", "Overview", false),
    ("/webhooks", "Webhooks", false),
    ("/activity", "Activity", false),
    ("/inbox", "Inbox", false),
    ("/developer", "Developer", true),
];

fn head(title: &str) -> Markup {
    html! {
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        meta name="color-scheme" content="light dark";
        title { (title) " · sharehook" }
        link rel="icon" href=(assets::url("icon.svg"));
        link rel="stylesheet" href=(assets::url("style.css"));
        script src=(assets::url("app.js")) defer {}
    }
}

/// A page without the navigation (sign-in, errors).
pub fn bare(title: &str, body: Markup) -> Markup {
    safe(html! {
        (DOCTYPE)
        html lang="en" {
            head { (head(title)) }
            body.bare { main { (body) } }
        }
    })
}

/// A page of the signed-in site. `here` is the navigation entry to mark; `live` names what
/// the page's live updates carry (none: no updates).
pub fn frame(
    visitor: &Visitor,
    here: &str,
    title: &str,
    live: Option<&str>,
    body: Markup,
) -> Markup {
    let messages = visitor.messages();
    let account = &visitor.state.control.config.account_name;
    safe(html! {
        (DOCTYPE)
        html lang="en" {
            head { (head(title)) }
            body data-live=[live] {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" { span.logo aria-hidden="true" {} "sharehook" }
                    span.account title="Account name" { (account) }
                    nav aria-label="Pages" {
                        @for (path, label, admin_only) in NAV {
                            @if !admin_only || visitor.admin() {
                                a href=(path) aria-current=[(path == here).then_some("page")] { (label) }
                            }
                        }
                    }
                    form #logout method="post" action="/logout" {
                        (csrf(visitor))
                        span.who { (visitor.caller.user) " · " (visitor.caller.role) }
                        button.link type="submit" { "Sign out" }
                    }
                }
                main #main {
                    @for m in &messages { (flash(m)) }
                    (body)
                }
                footer { "sharehook " (env!("CARGO_PKG_VERSION")) }
            }
        }
    })
}

/// Rendered HTML with every control character (but the line breaks and tabs of the markup)
/// and every bidirectional control shown as its escape, as `event::escape_controls` writes
/// it: a name that reached a template unescaped (a user, a share, a header) cannot reorder
/// what the page shows around it (`evil\u{202e}txt.exe` read as `evilexe.txt`). The last
/// defence behind the templates' own escaping, as the logger is for the journal.
pub fn safe(markup: Markup) -> Markup {
    match safe_text(&markup.0) {
        Cow::Borrowed(_) => markup,
        Cow::Owned(text) => PreEscaped(text),
    }
}

/// `html` as `safe` leaves it.
pub fn safe_text(html: &str) -> Cow<'_, str> {
    let unsafe_char =
        |c: char| crate::core::event::needs_escape(c) && !matches!(c, '\n' | '\r' | '\t');
    if !html.chars().any(unsafe_char) {
        return Cow::Borrowed(html);
    }
    let mut out = String::with_capacity(html.len() + 16);
    for c in html.chars() {
        if !unsafe_char(c) {
            out.push(c);
        } else if u32::from(c) < 0x80 {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        } else {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
    }
    Cow::Owned(out)
}

/// `text` as one segment of a path or one value of a query: every byte but ASCII letters,
/// digits, `-`, `_` and `~` percent-encoded (`.` too, so that a segment is never `.` or `..`
/// to a browser). Every piece of data a template puts in a URL goes through here, so that
/// the router decodes exactly the text that was shown: a user named `%61dmin2` or `admin2#x`
/// is acted on, not `admin2`.
pub fn encode(text: &str) -> String {
    const KEPT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(text, KEPT).to_string()
}

/// The hidden CSRF field every form carries.
pub fn csrf(visitor: &Visitor) -> Markup {
    html! { input type="hidden" name="csrf" value=(visitor.csrf); }
}

/// A one-button form posting to `action`.
pub fn button(visitor: &Visitor, action: &str, class: &str, label: &str) -> Markup {
    html! {
        form class=(class) method="post" action=(action) {
            (csrf(visitor))
            button type="submit" { (label) }
        }
    }
}

fn flash(m: &Flash) -> Markup {
    match m {
        Flash::Done(text) => html! { p.flash.done role="status" { (text) } },
        Flash::Failed(text) => html! { p.flash.error role="alert" { (text) } },
        Flash::Secret(what, value) => html! {
            div.flash.secret role="status" {
                p { (what) " Copy it now: it is not shown again." }
                div.copyline {
                    code.secret-value { (value) }
                    button.copy type="button" data-copy=(value) { "Copy" }
                }
            }
        },
    }
}

/// A time: UTC as written, the browser's zone once the script has run; UTC on hover.
pub fn time(ms: i64) -> Markup {
    let utc = rfc3339(ms);
    let shown = utc.replacen('T', " ", 1).replace('Z', " UTC");
    html! { time datetime=(utc) title=(shown) { (shown) } }
}

/// A time given as RFC 3339 text.
pub fn time_text(rfc: &str) -> Markup {
    let shown = rfc.replacen('T', " ", 1).replace('Z', " UTC");
    html! { time datetime=(rfc) title=(shown) { (shown) } }
}

/// A status in words, with a class for its colour: the colour is never the only sign.
pub fn status_badge(status: u32, transport: bool, message: &str) -> Markup {
    let (class, words) = if transport {
        ("bad", format!("no answer ({})", short(message, 60)))
    } else if (200..300).contains(&status) && !message.is_empty() {
        // A broker's acknowledgement, in its words.
        ("good", short(message, 60))
    } else if (200..300).contains(&status) {
        ("good", format!("{status} OK"))
    } else {
        ("bad", format!("{status} {}", reason(status)))
    };
    html! { span class=(format!("badge {class}")) { (words) } }
}

fn reason(status: u32) -> &'static str {
    http::StatusCode::from_u16(status as u16)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

/// `text` cut to `n` characters, with an ellipsis when cut.
pub fn short(text: &str, n: usize) -> String {
    if text.chars().count() <= n {
        text.to_owned()
    } else {
        let mut s: String = text.chars().take(n).collect();
        s.push('…');
        s
    }
}

/// Bytes as people read them.
pub fn bytes(n: u64) -> String {
    match n {
        0..1024 => format!("{n} B"),
        1024..1_048_576 => format!("{:.1} KiB", n as f64 / 1024.0),
        _ => format!("{:.1} MiB", n as f64 / 1_048_576.0),
    }
}

/// A body exactly as it was sent (its bytes are what a signature covers), control
/// characters and bytes that are not UTF-8 escaped.
pub fn body_text(body: &[u8]) -> String {
    crate::core::event::escape_controls(&crate::core::event::escape_bytes(body)).into_owned()
}

/// The start of `bytes` as `body_text` shows it, at most about `max` characters: the text,
/// and how many of the bytes it shows. Costs what it shows, not what `bytes` holds.
pub fn preview(bytes: &[u8], max: usize) -> (String, usize) {
    let mut out = String::with_capacity(max.min(bytes.len() * 4) + 8);
    let mut used = 0;
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if out.len() >= max {
                return (out, used);
            }
            if crate::core::event::needs_escape(c) {
                out.push_str(&crate::core::event::escape_controls(
                    c.encode_utf8(&mut [0; 4]),
                ));
            } else {
                out.push(c);
            }
            used += c.len_utf8();
        }
        for b in chunk.invalid() {
            if out.len() >= max {
                return (out, used);
            }
            let _ = write!(out, "\\x{b:02x}");
            used += 1;
        }
    }
    (out, used)
}

/// A path in a share as people read it: with the share's name when there are several, bytes
/// that are not UTF-8 as `\xNN`, control characters escaped.
pub fn path(several: bool, share: &str, bytes: &[u8]) -> String {
    crate::core::event::escape_controls(&crate::service::attempts::shown_path(
        several, share, bytes,
    ))
    .into_owned()
}

/// A URL as `visitor` may see it: whole for an admin, without its secrets for a viewer
/// (`redact::hide_secrets`, the same as the API's).
pub fn url(visitor: &Visitor, url: &str) -> String {
    if visitor.admin() {
        url.to_owned()
    } else {
        crate::core::redact::hide_secrets(url)
    }
}

/// Text that may quote a URL (an error), as `visitor` may see it.
pub fn text_with_urls(visitor: &Visitor, text: &str) -> String {
    if visitor.admin() {
        text.to_owned()
    } else {
        crate::core::redact::hide_secrets_in_text(text).into_owned()
    }
}

/// An empty table's line.
pub fn empty_row(columns: usize, text: &str) -> Markup {
    html! { tr.empty { td colspan=(columns) { (text) } } }
}
