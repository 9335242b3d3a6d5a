//! The delivery log as the API and the page read it: filters (time, endpoint, event, status,
//! path with `*`, user, webhook), sorting on any column, paging with an exact total. Reads
//! the store, never writes it.

use std::cmp::Ordering;

use crate::core::event::escape_bytes;
use crate::store::{LogEntry, Store, StoreError};

/// Which attempts a caller asked for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogQuery {
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub endpoint: Option<Pattern>,
    /// A dotted event name (`resources.upload`).
    pub event: Option<String>,
    pub status: Option<StatusFilter>,
    /// Matched against the path as it is shown (see `shown_path`).
    pub resource: Option<Pattern>,
    pub username: Option<String>,
    /// The client's address, as the event carries it.
    pub address: Option<String>,
    pub webhook: Option<u32>,
    pub offset: usize,
    /// At most this many entries (0: none, only the total).
    pub limit: usize,
    /// Sort keys in order, each ascending unless `true`; empty is newest first.
    pub sort: Vec<(SortKey, bool)>,
    /// `endpoint` matches the URL as a viewer sees it (`redact::hide_secrets`): a pattern must
    /// not find out, a character at a time, the password it is not shown.
    pub hide_secrets: bool,
}

/// An HTTP status, a class of them, or what failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusFilter {
    Code(u32),
    /// `2xx`, `4xx`, `5xx`: the first digit.
    Class(u32),
    /// No HTTP answer at all (the status is a curl-style code).
    Transport,
    /// Anything but a 2xx answer.
    Failed,
}

impl StatusFilter {
    /// `404`, `2xx`, `4xx`, `5xx`, `transport`, `failed`.
    pub fn parse(text: &str) -> Option<StatusFilter> {
        let t = text.trim().to_ascii_lowercase();
        match t.as_str() {
            "transport" => Some(StatusFilter::Transport),
            "failed" => Some(StatusFilter::Failed),
            _ => {
                if let Some(d) = t.strip_suffix("xx")
                    && let Ok(class @ 1..=5) = d.parse::<u32>()
                {
                    return Some(StatusFilter::Class(class));
                }
                t.parse::<u32>()
                    .ok()
                    .filter(|c| *c < 1000)
                    .map(StatusFilter::Code)
            }
        }
    }

    fn matches(self, e: &LogEntry) -> bool {
        match self {
            StatusFilter::Code(c) => e.status == c,
            StatusFilter::Class(c) => !e.transport && e.status / 100 == c,
            StatusFilter::Transport => e.transport,
            StatusFilter::Failed => !e.success(),
        }
    }
}

/// A column the log can be sorted on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    Date,
    EndpointUrl,
    Event,
    Status,
    ResourcePath,
    Username,
    Webhook,
}

impl SortKey {
    pub const NAMES: [(&'static str, SortKey); 7] = [
        ("date", SortKey::Date),
        ("endpointUrl", SortKey::EndpointUrl),
        ("event", SortKey::Event),
        ("statusCode", SortKey::Status),
        ("resourcePath", SortKey::ResourcePath),
        ("username", SortKey::Username),
        ("webhookId", SortKey::Webhook),
    ];

    /// `-date,event` → [(Date, descending), (Event, ascending)]; `Err` names the bad key.
    pub fn parse_list(text: &str) -> Result<Vec<(SortKey, bool)>, String> {
        let mut out = Vec::new();
        for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            let (name, desc) = match word.strip_prefix('-') {
                Some(name) => (name, true),
                None => (word.strip_prefix('+').unwrap_or(word), false),
            };
            let key = SortKey::NAMES
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, k)| *k)
                .ok_or_else(|| name.to_owned())?;
            out.push((key, desc));
        }
        Ok(out)
    }
}

/// A text match where `*` stands for any run of characters (none included); the rest must
/// match exactly.
///
/// The pattern is cut at its stars once, when it is made (runs of stars are one), and a text
/// is matched by finding each piece after the one before, leftmost first: a piece that fits
/// further left never leaves less room for the pieces after it, so nothing is ever tried
/// again. A match costs a few passes over the text, whatever the pattern; a filter of
/// thousands of stars costs no more than one.
#[derive(Clone, Debug, PartialEq)]
pub struct Pattern {
    /// The pieces between stars, without the empty ones; `first` and `last` are anchored.
    first: String,
    middle: Vec<String>,
    /// `None` when the pattern has no star: the text must equal `first`.
    last: Option<String>,
}

/// The longest pattern a filter takes, in bytes.
pub const PATTERN_MAX: usize = 1024;

impl Pattern {
    pub fn new(text: &str) -> Pattern {
        let mut pieces = text.split('*');
        let first = pieces.next().unwrap_or("").to_owned();
        let mut rest: Vec<String> = pieces.map(str::to_owned).collect();
        let last = rest.pop();
        rest.retain(|p| !p.is_empty());
        Pattern {
            first,
            middle: rest,
            last,
        }
    }

    pub fn matches(&self, text: &str) -> bool {
        let Some(last) = &self.last else {
            return self.first == text;
        };
        let Some(mut rest) = text.strip_prefix(self.first.as_str()) else {
            return false;
        };
        for piece in &self.middle {
            match rest.find(piece.as_str()) {
                Some(at) => rest = &rest[at + piece.len()..],
                None => return false,
            }
        }
        rest.ends_with(last.as_str())
    }
}

/// How an event's path is shown: share-relative with one share (as ExaVault showed it); with
/// several, `/<share>` first, so that a path names its share.
pub fn shown_path(several_shares: bool, share: &str, path: &[u8]) -> String {
    let path = escape_bytes(path);
    if several_shares {
        if path == "/" {
            format!("/{share}")
        } else {
            format!("/{share}{path}")
        }
    } else {
        path
    }
}

/// One page of the log and how many entries matched in all.
#[derive(Debug, Default)]
pub struct LogPage {
    pub total: u64,
    pub entries: Vec<LogEntry>,
}

impl LogQuery {
    fn matches(&self, e: &LogEntry, several_shares: bool) -> bool {
        self.until_ms.is_none_or(|t| e.time_ms <= t)
            && self.since_ms.is_none_or(|t| e.time_ms >= t)
            && self.webhook.is_none_or(|w| e.webhook == w)
            && self.status.is_none_or(|s| s.matches(e))
            && self
                .event
                .as_deref()
                .is_none_or(|n| e.event.op.v2_name() == n)
            && self
                .username
                .as_deref()
                .is_none_or(|u| e.event.username == u)
            && self.address.as_deref().is_none_or(|a| e.event.address == a)
            && self.endpoint.as_ref().is_none_or(|p| {
                if self.hide_secrets {
                    p.matches(&crate::core::redact::hide_secrets(&e.url))
                } else {
                    p.matches(&e.url)
                }
            })
            && self.resource.as_ref().is_none_or(|p| {
                p.matches(&shown_path(
                    several_shares,
                    &e.event.share,
                    e.event.path.as_bytes(),
                ))
            })
    }

    fn unfiltered(&self) -> bool {
        LogQuery {
            offset: self.offset,
            limit: self.limit,
            sort: self.sort.clone(),
            hide_secrets: self.hide_secrets,
            ..LogQuery::default()
        } == *self
    }

    /// Newest first, the order the log is read in.
    fn newest_first(&self) -> bool {
        matches!(self.sort.as_slice(), [] | [(SortKey::Date, true)])
    }
}

/// The page of the log `q` asks for.
pub fn query(store: &Store, q: &LogQuery, several_shares: bool) -> Result<LogPage, StoreError> {
    let end = q.offset.saturating_add(q.limit);
    if q.newest_first() {
        // Read newest first, keep the page, count the rest; with no filter the count is the
        // table's length, so reading stops at the page's end.
        let unfiltered = q.unfiltered();
        let mut page = LogPage::default();
        let mut n = 0usize;
        store.log_visit_by_time(q.since_ms, q.webhook, |e| {
            if q.matches(&e, several_shares) {
                if (q.offset..end).contains(&n) {
                    page.entries.push(e);
                }
                n += 1;
            }
            !(unfiltered && n >= end)
        })?;
        page.total = if unfiltered {
            store.log_len()?
        } else {
            n as u64
        };
        return Ok(page);
    }
    // Another order: the sort keys of every match, then the page's entries by id.
    let mut keyed: Vec<(Vec<KeyPart>, u64)> = Vec::new();
    store.log_visit_by_time(q.since_ms, q.webhook, |e| {
        if q.matches(&e, several_shares) {
            let key = q
                .sort
                .iter()
                .map(|(k, _)| key_part(*k, &e, several_shares, q.hide_secrets))
                .collect();
            keyed.push((key, e.id));
        }
        true
    })?;
    // Ties keep the newest first: the sort is stable, and the log was read newest first.
    keyed.sort_by(|a, b| {
        for (i, (_, desc)) in q.sort.iter().enumerate() {
            let o = a.0[i].cmp(&b.0[i]);
            let o = if *desc { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
    let ids: Vec<u64> = keyed
        .iter()
        .skip(q.offset)
        .take(q.limit)
        .map(|(_, id)| *id)
        .collect();
    Ok(LogPage {
        total: keyed.len() as u64,
        entries: store.log_entries(&ids)?,
    })
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum KeyPart {
    Number(i64),
    Text(String),
}

/// An entry's sort key; a viewer's URLs sort as the viewer sees them (`hide_secrets`), so
/// that the order cannot tell what was hidden.
fn key_part(k: SortKey, e: &LogEntry, several_shares: bool, hide_secrets: bool) -> KeyPart {
    match k {
        SortKey::Date => KeyPart::Number(e.time_ms),
        SortKey::EndpointUrl if hide_secrets => {
            KeyPart::Text(crate::core::redact::hide_secrets(&e.url))
        }
        SortKey::EndpointUrl => KeyPart::Text(e.url.clone()),
        SortKey::Event => KeyPart::Text(e.event.op.v2_name().to_owned()),
        SortKey::Status => KeyPart::Number(i64::from(e.status)),
        SortKey::ResourcePath => KeyPart::Text(shown_path(
            several_shares,
            &e.event.share,
            e.event.path.as_bytes(),
        )),
        SortKey::Username => KeyPart::Text(e.event.username.clone()),
        SortKey::Webhook => KeyPart::Number(i64::from(e.webhook)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_with_stars() {
        for (pattern, text, expected) in [
            ("/a/b.txt", "/a/b.txt", true),
            ("/a/b.txt", "/a/b.txtx", false),
            ("/a/*", "/a/b/c.txt", true),
            ("/a/*", "/ab", false),
            ("*.pdf", "/x/y.pdf", true),
            ("*.pdf", "/x/y.pdf.txt", false),
            ("/r*/*.txt", "/reports/q1.txt", true),
            ("/r*/*.txt", "/reports/q1.doc", false),
            ("*", "", true),
            ("a*a", "a", false),
            ("a*a", "aa", true),
            ("*b*", "abc", true),
        ] {
            assert_eq!(
                Pattern::new(pattern).matches(text),
                expected,
                "{pattern} ~ {text}"
            );
        }
    }

    /// The definition, by dynamic programming over (pattern, text) positions: slow, plain.
    fn reference(pattern: &[u8], text: &[u8]) -> bool {
        let mut row = vec![false; text.len() + 1];
        row[0] = true;
        for &p in pattern {
            let mut next = vec![false; text.len() + 1];
            if p == b'*' {
                let mut any = false;
                for j in 0..=text.len() {
                    any |= row[j];
                    next[j] = any;
                }
            } else {
                for j in 1..=text.len() {
                    next[j] = row[j - 1] && text[j - 1] == p;
                }
            }
            row = next;
        }
        row[text.len()]
    }

    #[test]
    fn patterns_match_as_their_definition_on_random_texts() {
        let seed = crate::testing::seed();
        let mut rng = Rng(seed);
        let word = |rng: &mut Rng, alphabet: &[u8], most: u64| -> String {
            (0..rng.below(most + 1))
                .map(|_| char::from(alphabet[rng.below(alphabet.len() as u64) as usize]))
                .collect()
        };
        for n in 0..20_000 {
            let pattern = word(&mut rng, b"ab*", 8);
            let text = word(&mut rng, b"ab", 10);
            assert_eq!(
                Pattern::new(&pattern).matches(&text),
                reference(pattern.as_bytes(), text.as_bytes()),
                "seed {seed}, case {n}: {pattern:?} ~ {text:?}"
            );
        }
    }

    #[test]
    fn a_pattern_of_many_stars_costs_what_one_does() {
        // Made once per filter, not per entry; runs of stars are one. Cut at every star per
        // entry, as it was, these 180,000 stars over 20,000 entries took about four minutes.
        let stars = "*".repeat(60_000);
        let pattern = Pattern::new(&format!("{stars}/docs/{stars}.pdf{stars}"));
        assert_eq!(pattern.middle, ["/docs/", ".pdf"]);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let hits = (0..20_000)
                .filter(|n| pattern.matches(&format!("/share/docs/report-{n}.pdf")))
                .count();
            let _ = tx.send(hits);
        });
        let hits = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("20,000 matches of a pattern of 180,000 stars end within a minute");
        assert_eq!(hits, 20_000);
    }

    #[test]
    fn status_filters_read_codes_classes_and_words() {
        for (text, expected) in [
            ("404", Some(StatusFilter::Code(404))),
            ("2xx", Some(StatusFilter::Class(2))),
            ("5XX", Some(StatusFilter::Class(5))),
            ("transport", Some(StatusFilter::Transport)),
            ("failed", Some(StatusFilter::Failed)),
            ("9xx", None),
            ("ok", None),
            ("-1", None),
            ("1000", None),
        ] {
            assert_eq!(StatusFilter::parse(text), expected, "{text}");
        }
    }

    #[test]
    fn sort_lists_read_names_and_directions() {
        assert_eq!(
            SortKey::parse_list("-date,event"),
            Ok(vec![(SortKey::Date, true), (SortKey::Event, false)])
        );
        assert_eq!(
            SortKey::parse_list("statusCode, -resourcePath"),
            Ok(vec![
                (SortKey::Status, false),
                (SortKey::ResourcePath, true)
            ])
        );
        assert_eq!(SortKey::parse_list(""), Ok(vec![]));
        assert_eq!(SortKey::parse_list("-colour"), Err("colour".to_owned()));
    }

    #[test]
    fn paths_name_their_share_when_there_are_several() {
        assert_eq!(shown_path(false, "public", b"/a/b.txt"), "/a/b.txt");
        assert_eq!(shown_path(true, "public", b"/a/b.txt"), "/public/a/b.txt");
        assert_eq!(shown_path(true, "public", b"/"), "/public");
        assert_eq!(shown_path(false, "public", b"/a\xff"), "/a\\xff");
    }

    use crate::testing::Rng;

    fn random_entry(rng: &mut Rng, time_ms: i64) -> LogEntry {
        use crate::core::event::{Event, Operation, SharePath};
        let op = Operation::ALL[rng.below(Operation::ALL.len() as u64) as usize];
        let (status, transport) = match rng.below(5) {
            0 => (7, true),
            1 => (404, false),
            2 => (503, false),
            _ => (200 + rng.below(2) as u32 * 4, false),
        };
        let path = format!(
            "/{}/{}",
            rng.pick(&["docs", "reports", "a b"]),
            rng.pick(&["x.pdf", "y.txt", "z.pdf"])
        );
        LogEntry {
            id: 0,
            time_ms,
            webhook: 1 + rng.below(3) as u32,
            format: "v2".into(),
            attempt: 1,
            resend: false,
            url: rng
                .pick(&["http://a/hook", "http://b/hook", "https://c/x"])
                .into(),
            status,
            transport,
            message: String::new(),
            response_size: 0,
            response: Vec::new(),
            duration_ms: 1,
            event: Event {
                id: rng.next() >> 12,
                op,
                share: rng.pick(&["public", "media"]).into(),
                path: SharePath::from_config(&path),
                source: None,
                is_dir: false,
                username: rng.pick(&["alice", "bob"]).into(),
                time_ms,
                size: None,
                protocol: None,
                address: String::new(),
                attribution: crate::core::event::Attribution::Owner,
            },
            body: b"{}".to_vec(),
        }
    }

    fn random_query(rng: &mut Rng) -> LogQuery {
        let mut q = LogQuery {
            offset: rng.below(30) as usize,
            limit: 1 + rng.below(40) as usize,
            ..LogQuery::default()
        };
        if rng.below(3) == 0 {
            q.since_ms = Some(1_000 + rng.below(200) as i64);
        }
        if rng.below(3) == 0 {
            q.until_ms = Some(1_000 + rng.below(200) as i64);
        }
        if rng.below(3) == 0 {
            q.webhook = Some(1 + rng.below(3) as u32);
        }
        if rng.below(3) == 0 {
            let s = rng.pick(&["200", "2xx", "4xx", "5xx", "transport", "failed", "7"]);
            q.status = StatusFilter::parse(s);
        }
        if rng.below(3) == 0 {
            q.event = Some(rng.pick(&["resources.upload", "resources.delete"]).into());
        }
        if rng.below(3) == 0 {
            q.username = Some(rng.pick(&["alice", "bob", "carol"]).into());
        }
        if rng.below(3) == 0 {
            q.endpoint = Some(Pattern::new(rng.pick(&["http://a/hook", "http*", "*/x"])));
        }
        if rng.below(3) == 0 {
            q.resource = Some(Pattern::new(rng.pick(&[
                "*.pdf",
                "/public/docs/*",
                "/media*",
            ])));
        }
        let sorts = [
            "",
            "-date",
            "-date,event",
            "date",
            "event,-date",
            "-statusCode",
            "resourcePath,username",
            "webhookId,-endpointUrl",
        ];
        q.sort = SortKey::parse_list(rng.pick(&sorts)).unwrap();
        q
    }

    /// What `query` must give: every entry filtered and sorted in memory.
    fn model(all: &[LogEntry], q: &LogQuery) -> (u64, Vec<u64>) {
        let mut m: Vec<&LogEntry> = all.iter().filter(|e| q.matches(e, true)).collect();
        m.sort_by(|a, b| {
            for (k, desc) in &q.sort {
                let o = key_part(*k, a, true, q.hide_secrets).cmp(&key_part(
                    *k,
                    b,
                    true,
                    q.hide_secrets,
                ));
                let o = if *desc { o.reverse() } else { o };
                if o != Ordering::Equal {
                    return o;
                }
            }
            (b.time_ms, b.id).cmp(&(a.time_ms, a.id))
        });
        let ids = m
            .iter()
            .skip(q.offset)
            .take(q.limit)
            .map(|e| e.id)
            .collect();
        (m.len() as u64, ids)
    }

    #[test]
    fn a_viewer_s_urls_sort_as_the_viewer_sees_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // By their passwords these sort y before x; as a viewer sees them, x before y.
        let mut log = Vec::new();
        for (n, url) in ["http://u:b@h/x", "http://u:a@h/y"].iter().enumerate() {
            let mut e = crate::store::tests::log_entry(1, 10 + n as u64, 1, 1_000 + n as i64);
            e.url = (*url).to_owned();
            log.push(e);
        }
        let flush = crate::store::Flush {
            webhook: 1,
            log,
            ..crate::store::Flush::default()
        };
        store.flush(&flush, 0).unwrap();
        let order = |hide_secrets: bool| -> Vec<String> {
            let q = LogQuery {
                limit: 10,
                sort: SortKey::parse_list("endpointUrl").unwrap(),
                hide_secrets,
                ..LogQuery::default()
            };
            query(&store, &q, false)
                .unwrap()
                .entries
                .into_iter()
                .map(|e| e.url)
                .collect()
        };
        assert_eq!(order(false), ["http://u:a@h/y", "http://u:b@h/x"]);
        assert_eq!(order(true), ["http://u:b@h/x", "http://u:a@h/y"]);
    }

    #[test]
    fn pages_match_a_model_of_the_whole_log() {
        let seed = crate::testing::seed();
        let mut rng = Rng(seed);
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // Times are not in the order entries are written: a slow receiver's attempt is
        // written after later attempts to other webhooks.
        let mut entries = Vec::new();
        for _ in 0..200 {
            let t = 1_000 + rng.below(200) as i64;
            entries.push(random_entry(&mut rng, t));
        }
        let flush = crate::store::Flush {
            webhook: 1,
            log: entries.clone(),
            ..crate::store::Flush::default()
        };
        let ids = store.flush(&flush, 0).unwrap().log_ids;
        for (e, id) in entries.iter_mut().zip(ids) {
            e.id = id;
        }
        for n in 0..300 {
            let q = random_query(&mut rng);
            let page = query(&store, &q, true).unwrap();
            let got: Vec<u64> = page.entries.iter().map(|e| e.id).collect();
            assert_eq!(
                (page.total, got),
                model(&entries, &q),
                "seed {seed}, query {n}: {q:?}"
            );
        }
    }
}
