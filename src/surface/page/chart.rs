//! The overview's chart of events per hour: an inline SVG drawn on the server (no script, no
//! library), one stacked bar per hour coloured by operation, the hours along the bottom, a
//! scale on the left, and a legend in HTML beside it with each operation's total. The colours
//! come from the stylesheet (`.op-<trigger>`), so they follow light and dark, and the page's
//! policy allows no inline style anyway.
//!
//! Every SVG element is written with its end tag (`<rect ...></rect>`): inside HTML a `<rect>`
//! without one swallows what follows, and so the markup is also well-formed XML.

use maud::{Markup, html};

use crate::core::event::Operation;
use crate::service::recent::{HOUR_MS, Hour, Recent};

/// The drawing's size in its own units; the stylesheet scales it to the page's width.
const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 160.0;
/// Room for the scale on the left, the hours below, and a little above and to the right.
const LEFT: f64 = 44.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 32.0;
/// The share of an hour's width its bar takes.
const BAR: f64 = 0.72;

/// The hour of `ms` as the axis says it: `09` (UTC).
fn hour_label(ms: i64) -> String {
    format!("{:02}", ms.div_euclid(HOUR_MS).rem_euclid(24))
}

/// The smallest of 1, 2, 5, 10, 20, 50 ... at or above `n` (at least 1): the top of the scale,
/// so that its middle line is a round number too when it can be.
pub fn scale_top(n: u64) -> u64 {
    let mut step = 1u64;
    loop {
        for m in [1, 2, 5] {
            if step.saturating_mul(m) >= n {
                return step.saturating_mul(m).max(1);
            }
        }
        step = step.saturating_mul(10);
    }
}

/// A number of events in words: `1 event`, `3 events`.
fn events(n: u64) -> String {
    format!("{n} event{}", if n == 1 { "" } else { "s" })
}

/// What the chart shows, in one sentence for screen readers (its `aria-label`).
pub fn summary(r: &Recent) -> String {
    if r.events == 0 {
        return "Events per hour over the last 24 hours: none".to_owned();
    }
    let parts: Vec<String> = r
        .totals()
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(op, n)| format!("{n} {}", op.v1_name()))
        .collect();
    let busiest = r
        .hours
        .iter()
        .max_by_key(|h| (h.total(), h.start_ms))
        .expect("the window has hours");
    format!(
        "Events per hour over the last 24 hours: {} in all ({}); the busiest hour began at {}:00 UTC with {}",
        events(r.events),
        parts.join(", "),
        hour_label(busiest.start_ms),
        events(busiest.total()),
    )
}

/// The chart and its legend.
pub fn chart(r: &Recent) -> Markup {
    let top = scale_top(r.hours.iter().map(Hour::total).max().unwrap_or(0));
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let slot = plot_w / r.hours.len().max(1) as f64;
    let bar_w = slot * BAR;
    let base = TOP + plot_h;
    // The height of `n` events: proportional, the scale's top filling the plot.
    let height = |n: u64| n as f64 * plot_h / top as f64;
    let mut lines = vec![0, top / 2, top];
    lines.dedup();
    html! {
        figure.chart {
            svg #hours-chart role="img" viewBox=(format!("0 0 {WIDTH} {HEIGHT}"))
                xmlns="http://www.w3.org/2000/svg" aria-label=(summary(r)) {
                title { "Events per hour by operation, last 24 hours" }
                @for n in &lines {
                    @let y = base - height(*n);
                    line.grid x1=(LEFT) x2=(WIDTH - RIGHT) y1=(fixed(y)) y2=(fixed(y)) {}
                    text.scale x=(LEFT - 6.0) y=(fixed(y + 4.0)) text-anchor="end" { (n) }
                }
                @for (i, h) in r.hours.iter().enumerate() {
                    @let x = LEFT + i as f64 * slot + (slot - bar_w) / 2.0;
                    g.hour data-start=(h.start_ms) data-total=(h.total()) {
                        title { (hour_label(h.start_ms)) ":00 UTC: " (hour_words(h)) }
                        @for (op, n, y, bar) in stack(h, base, height) {
                            rect class=(format!("bar op-{}", op.trigger())) data-op=(op.trigger()) data-count=(n)
                                x=(fixed(x)) y=(fixed(y)) width=(fixed(bar_w)) height=(fixed(bar)) {}
                        }
                    }
                    @if i % 3 == 0 || i + 1 == r.hours.len() {
                        text.hour-label x=(fixed(x + bar_w / 2.0)) y=(fixed(base + 16.0)) text-anchor="middle" { (hour_label(h.start_ms)) }
                    }
                }
                line.axis x1=(LEFT) x2=(WIDTH - RIGHT) y1=(fixed(base)) y2=(fixed(base)) {}
                text.axis-title x=(fixed(LEFT + plot_w / 2.0)) y=(fixed(HEIGHT - 4.0)) text-anchor="middle" { "hour (UTC)" }
                @if r.events == 0 {
                    text.empty x=(fixed(LEFT + plot_w / 2.0)) y=(fixed(TOP + plot_h / 2.0)) text-anchor="middle" {
                        "No events in the last 24 hours"
                    }
                }
            }
            figcaption {
                ul.legend {
                    @for (op, n) in r.totals() {
                        li { span class=(format!("swatch op-{}", op.trigger())) aria-hidden="true" {} (op.v1_name()) " " span.muted { (n) } }
                    }
                }
            }
        }
    }
}

/// The bars of hour `h`, stacked up from `base` in the order of `Operation::ALL`: each
/// operation with events, its count, the top of its bar and its height (`height` of it).
fn stack(h: &Hour, base: f64, height: impl Fn(u64) -> f64) -> Vec<(Operation, u64, f64, f64)> {
    let mut y = base;
    let mut out = Vec::new();
    for (op, n) in &h.counts {
        if *n > 0 {
            let bar = height(*n);
            y -= bar;
            out.push((*op, *n, y, bar));
        }
    }
    out
}

/// An hour's events in words: `3 events: 2 Upload, 1 Delete`.
fn hour_words(h: &Hour) -> String {
    let parts: Vec<String> = h
        .counts
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(op, n)| format!("{n} {}", op.v1_name()))
        .collect();
    if parts.is_empty() {
        "no events".to_owned()
    } else {
        format!("{}: {}", events(h.total()), parts.join(", "))
    }
}

/// A coordinate with two decimals at most, as SVG reads it.
fn fixed(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::recent::WINDOW_HOURS;

    /// A day whose hour `i` holds `counts[i]` events of each operation (in `Operation::ALL`
    /// order; missing ones none).
    fn day(counts: &[(usize, &[u64])]) -> Recent {
        let since_ms = 1_795_255_200_000; // 2026-11-21T10:00:00Z
        let hours: Vec<Hour> = (0..WINDOW_HOURS)
            .map(|i| Hour {
                start_ms: since_ms + i as i64 * HOUR_MS,
                counts: Operation::ALL
                    .iter()
                    .enumerate()
                    .map(|(k, op)| {
                        let n = counts
                            .iter()
                            .find(|(h, _)| *h == i)
                            .and_then(|(_, c)| c.get(k).copied())
                            .unwrap_or(0);
                        (*op, n)
                    })
                    .collect(),
            })
            .collect();
        let events = hours.iter().map(Hour::total).sum();
        Recent {
            since_ms,
            people: Vec::new(),
            more_people: 0,
            hours,
            events,
            complete: true,
        }
    }

    /// The `<svg>...</svg>` of the rendered chart.
    fn svg(r: &Recent) -> String {
        let html = chart(r).into_string();
        let start = html.find("<svg").expect("an svg");
        let end = html.find("</svg>").expect("its end") + "</svg>".len();
        html[start..end].to_owned()
    }

    /// Checks that `xml` is one well-formed element (tags balanced and nested, attributes
    /// quoted and not repeated, only XML's own entities) and returns each start tag: its name
    /// and attributes.
    fn well_formed(xml: &str) -> Vec<(String, Vec<(String, String)>)> {
        let mut open: Vec<String> = Vec::new();
        let mut tags = Vec::new();
        let mut rest = xml;
        let mut roots = 0;
        while let Some(lt) = rest.find('<') {
            check_text(&rest[..lt]);
            assert!(lt == 0 || !open.is_empty(), "text outside the root: {rest}");
            let gt = rest[lt..].find('>').expect("a tag ends") + lt;
            let tag = &rest[lt + 1..gt];
            rest = &rest[gt + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(open.pop().as_deref(), Some(name), "end tag </{name}>");
                continue;
            }
            let (body, empty) = match tag.strip_suffix('/') {
                Some(b) => (b, true),
                None => (tag, false),
            };
            let name_end = body.find(char::is_whitespace).unwrap_or(body.len());
            let name = &body[..name_end];
            assert!(
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()),
                "tag name {name:?}"
            );
            let attrs = attributes(&body[name_end..]);
            if open.is_empty() {
                roots += 1;
            }
            if !empty {
                open.push(name.to_owned());
            }
            tags.push((name.to_owned(), attrs));
        }
        check_text(rest);
        assert!(rest.trim().is_empty(), "text after the root: {rest}");
        assert!(open.is_empty(), "not closed: {open:?}");
        assert_eq!(roots, 1, "one root element");
        tags
    }

    /// `name="value"` pairs, each quoted, none twice.
    fn attributes(mut text: &str) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        loop {
            text = text.trim_start();
            if text.is_empty() {
                return out;
            }
            let eq = text.find('=').expect("an attribute has a value");
            let name = text[..eq].to_owned();
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':'),
                "attribute name {name:?}"
            );
            let after = text[eq + 1..]
                .strip_prefix('"')
                .unwrap_or_else(|| panic!("{name}'s value is not quoted"));
            let close = after.find('"').expect("a value ends");
            let value = &after[..close];
            check_text(value);
            assert!(!value.contains('<'), "{name}={value}");
            assert!(!out.iter().any(|(n, _)| *n == name), "{name} twice");
            out.push((name, value.to_owned()));
            text = &after[close + 1..];
        }
    }

    /// Every `&` starts one of XML's entities or a character reference.
    fn check_text(text: &str) {
        let mut rest = text;
        while let Some(at) = rest.find('&') {
            rest = &rest[at + 1..];
            let end = rest.find(';').expect("an entity ends");
            let name = &rest[..end];
            assert!(
                ["amp", "lt", "gt", "quot", "apos"].contains(&name)
                    || name
                        .strip_prefix('#')
                        .is_some_and(|n| n.parse::<u32>().is_ok()),
                "entity &{name};"
            );
        }
    }

    fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> &'a str {
        attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} in {attrs:?}"))
    }

    fn number(attrs: &[(String, String)], name: &str) -> f64 {
        attr(attrs, name).parse().unwrap()
    }

    #[test]
    fn bars_are_stacked_and_as_tall_as_their_counts() {
        // Hour 3: 4 uploads and 6 deletes (10, the scale's top); hour 23: one rename.
        let r = day(&[(3, &[4, 6]), (23, &[0, 0, 0, 1])]);
        let tags = well_formed(&svg(&r));
        assert_eq!(tags[0].0, "svg");
        assert_eq!(attr(&tags[0].1, "role"), "img");
        assert!(tags.iter().any(|(name, _)| name == "title"));
        let bars: Vec<&Vec<(String, String)>> = tags
            .iter()
            .filter(|(name, _)| name == "rect")
            .map(|(_, a)| a)
            .collect();
        assert_eq!(bars.len(), 3);
        // Height per event is the same for every bar, and the top of the scale fills the plot.
        let per_event: Vec<f64> = bars
            .iter()
            .map(|a| number(a, "height") / number(a, "data-count"))
            .collect();
        for p in &per_event {
            assert!((p - per_event[0]).abs() < 0.01, "{per_event:?}");
        }
        let plot = HEIGHT - TOP - BOTTOM;
        assert!((per_event[0] * 10.0 - plot).abs() < 0.05, "{per_event:?}");
        // Hour 3's delete sits on its upload; both stand on the axis.
        let (up, del) = (bars[0], bars[1]);
        assert_eq!(
            (attr(up, "data-op"), attr(del, "data-op")),
            ("upload", "delete")
        );
        let base = TOP + plot;
        assert!((number(up, "y") + number(up, "height") - base).abs() < 0.02);
        assert!((number(del, "y") + number(del, "height") - number(up, "y")).abs() < 0.02);
        assert_eq!(attr(up, "x"), attr(del, "x"));
        assert!(attr(up, "class").split(' ').any(|c| c == "op-upload"));
        // The last bar is the current hour's: further right than hour 3's.
        assert!(number(bars[2], "x") > number(up, "x"));
        let label = attr(&tags[0].1, "aria-label");
        assert!(
            label.contains("11 events in all (4 Upload, 6 Delete, 1 Rename)")
                && label.contains("busiest hour began at 13:00 UTC with 10 events"),
            "{label}"
        );
    }

    #[test]
    fn a_day_without_events_draws_an_empty_chart() {
        let r = day(&[]);
        let svg = svg(&r);
        let tags = well_formed(&svg);
        assert!(!tags.iter().any(|(name, _)| name == "rect"), "{svg}");
        assert!(svg.contains("No events in the last 24 hours"), "{svg}");
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        assert_eq!(
            attr(&tags[0].1, "aria-label"),
            "Events per hour over the last 24 hours: none"
        );
        // The hours are labelled all the same, the first at 10:00 UTC.
        let labels: Vec<&str> = svg
            .split("class=\"hour-label\"")
            .skip(1)
            .map(|s| s.split('>').nth(1).unwrap().split('<').next().unwrap())
            .collect();
        assert_eq!(labels.first(), Some(&"10"));
        assert_eq!(labels.last(), Some(&"09"));
    }

    #[test]
    fn the_scale_ends_at_a_round_number() {
        for (n, top) in [
            (0, 1),
            (1, 1),
            (2, 2),
            (3, 5),
            (7, 10),
            (11, 20),
            (51, 100),
            (5_001, 10_000),
        ] {
            assert_eq!(scale_top(n), top, "{n}");
        }
        assert!(scale_top(u64::MAX) == u64::MAX);
    }
}
