//! The configuration: the TOML file as written (raw), then one checked `Config` that the rest
//! of the program trusts. Every error names the file, the line and the key at fault.

use std::collections::HashSet;
use std::fmt::{self, Write as _};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::event::{Event, Operation, SharePath};
use crate::ignore::Ignore;
use crate::retry::Schedule;
use crate::sign::Token;

pub const DEFAULT_PATH: &str = "/etc/sharehook/sharehook.toml";
pub const DEFAULT_STATE_DIR: &str = "/var/lib/sharehook";

/// The checked configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The file it was read from (`None` for the built-in demo configuration).
    pub source: Option<PathBuf>,
    pub account_name: String,
    pub state_dir: PathBuf,
    pub shares: Vec<Share>,
    pub webhooks: Vec<Webhook>,
    pub delivery: Delivery,
    pub watch: WatchSettings,
}

/// How the shares are watched (`[watch]`).
#[derive(Clone, Debug, PartialEq)]
pub struct WatchSettings {
    /// The quiet period after a file's last change before its Upload is reported.
    pub settle: Duration,
    pub ignore: Ignore,
    /// How often every share is reconciled with the index; `None` turns it off.
    pub rescan_interval: Option<Duration>,
    /// How often a polled share (a network mount, or folders past the watch limit) is read.
    pub poll_interval: Duration,
}

impl Default for WatchSettings {
    fn default() -> WatchSettings {
        WatchSettings {
            settle: Duration::from_millis(1000),
            ignore: Ignore::new(true, &[]).expect("the default ignore list is valid"),
            rescan_interval: Some(Duration::from_secs(3600)),
            poll_interval: Duration::from_secs(30),
        }
    }
}

/// How one share learns of changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchMode {
    /// inotify on a local file system, polling on a network or FUSE mount.
    Auto,
    Inotify,
    Poll,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Share {
    pub name: String,
    /// Absolute and canonical: symbolic links in the configured path are resolved once here.
    pub path: PathBuf,
    pub protocol: String,
    pub watch: WatchMode,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    V1,
}

#[derive(Clone, Debug)]
pub struct Webhook {
    /// Identifies the webhook's token, queue and log in the state: `id` if given, else its
    /// position among the `[[webhook]]` tables, from 1.
    pub id: u32,
    pub url: String,
    pub share: String,
    pub folder: SharePath,
    pub format: Format,
    pub triggers: Vec<Operation>,
    pub token: Option<Token>,
}

#[derive(Clone, Debug, Default)]
pub struct Delivery {
    pub schedule: Schedule,
}

impl Webhook {
    /// What this webhook hears of `event`, or `None` when it is not for it. A Move or Rename
    /// that crosses the webhook's folder is, for this webhook, new content (moved in) or a
    /// Delete of the old path (moved out).
    pub fn route(&self, event: &Event) -> Option<Event> {
        if event.share != self.share {
            return None;
        }
        let inside_now = event.path.is_within(&self.folder);
        let inside_before = event.source.as_ref().map(|s| s.is_within(&self.folder));
        let mut routed = event.clone();
        match (inside_now, inside_before) {
            (true, None | Some(true)) => {}
            (true, Some(false)) => {
                routed.op = if event.is_dir {
                    Operation::CreateFolder
                } else {
                    Operation::Upload
                };
                routed.source = None;
            }
            (false, Some(true)) => {
                routed.op = Operation::Delete;
                routed.path = routed.source.take()?;
            }
            (false, _) => return None,
        }
        self.triggers.contains(&routed.op).then_some(routed)
    }
}

/// A configuration error: the file, the line (when the key is in the file), the key, and
/// what is wrong with it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ": line {line}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

// The file as written. Every key is listed; anything else is refused.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    account_name: Option<Spanned<String>>,
    state_dir: Option<Spanned<String>>,
    #[serde(default)]
    share: Vec<Spanned<RawShare>>,
    #[serde(default)]
    webhook: Vec<Spanned<RawWebhook>>,
    delivery: Option<RawDelivery>,
    watch: Option<RawWatch>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWatch {
    settle_ms: Option<Spanned<i64>>,
    ignore: Option<Spanned<Vec<Spanned<String>>>>,
    ignore_defaults: Option<bool>,
    rescan_interval: Option<Spanned<f64>>,
    poll_interval: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawShare {
    name: Spanned<String>,
    path: Spanned<String>,
    protocol: Option<Spanned<String>>,
    watch: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    id: Option<Spanned<i64>>,
    url: Spanned<String>,
    share: Option<Spanned<String>>,
    folder: Option<Spanned<String>>,
    format: Option<Spanned<String>>,
    triggers: Option<Spanned<Vec<Spanned<String>>>>,
    token: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDelivery {
    retry_delays: Option<Spanned<Vec<Spanned<f64>>>>,
}

/// Reads and checks the configuration file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.to_owned(),
        line: None,
        key: String::new(),
        message: format!("cannot read the configuration file: {e}"),
    })?;
    parse(&text, path)
}

/// Checks configuration `text` that came from `file` (named in errors; relative share paths
/// are taken from the file's folder).
pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
    let ctx = Ctx { text, file };
    let raw: RawConfig = {
        let de = toml::Deserializer::parse(text).map_err(|e| ctx.toml_error(&e, ""))?;
        serde_path_to_error::deserialize(de)
            .map_err(|e| ctx.toml_error(e.inner(), &key_path(e.path())))?
    };
    ctx.check(raw)
}

struct Ctx<'a> {
    text: &'a str,
    file: &'a Path,
}

impl Ctx<'_> {
    fn err(
        &self,
        span: Option<Range<usize>>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            file: self.file.to_owned(),
            line: span.map(|s| line_of(self.text, s.start)),
            key: key.into(),
            message: message.into(),
        }
    }

    fn toml_error(&self, e: &toml::de::Error, key: &str) -> ConfigError {
        let message = e.message().trim().to_owned();
        // serde names a missing key only in its message; put it in the key as well.
        let key = match message
            .strip_prefix("missing field `")
            .and_then(|m| m.strip_suffix('`'))
        {
            Some(field) if key.is_empty() => field.to_owned(),
            Some(field) => format!("{key}.{field}"),
            None => key.to_owned(),
        };
        self.err(e.span(), key, message)
    }

    fn check(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let account_name = match raw.account_name {
            Some(name) if name.get_ref().trim().is_empty() => {
                return Err(self.err(Some(name.span()), "account_name", "must not be empty"));
            }
            Some(name) => name.into_inner(),
            None => host_name(),
        };
        let state_dir = match raw.state_dir {
            Some(dir) if dir.get_ref().is_empty() => {
                return Err(self.err(Some(dir.span()), "state_dir", "must not be empty"));
            }
            Some(dir) => self.resolve(dir.get_ref()),
            None => PathBuf::from(DEFAULT_STATE_DIR),
        };
        if raw.share.is_empty() {
            return Err(self.err(
                None,
                "share",
                "no [[share]] is configured: add one with a name and a path",
            ));
        }
        let mut shares: Vec<Share> = Vec::new();
        for (i, share) in raw.share.into_iter().enumerate() {
            let share = self.check_share(i + 1, share.into_inner())?;
            if let Some(other) = shares.iter().find(|s| s.name == share.name) {
                let key = format!("share[{}].name", i + 1);
                return Err(self.err(
                    None,
                    key,
                    format!("two shares are named \"{}\"", other.name),
                ));
            }
            shares.push(share);
        }
        let mut webhooks: Vec<Webhook> = Vec::new();
        let mut ids = HashSet::new();
        for (i, hook) in raw.webhook.into_iter().enumerate() {
            let span = hook.span();
            let hook = self.check_webhook(i + 1, hook.into_inner(), &shares)?;
            if !ids.insert(hook.id) {
                let key = format!("webhook[{}].id", i + 1);
                return Err(self.err(Some(span), key, format!("two webhooks have id {}", hook.id)));
            }
            webhooks.push(hook);
        }
        let delivery = match raw.delivery.and_then(|d| d.retry_delays) {
            None => Delivery::default(),
            Some(delays) => self.check_delays(delays)?,
        };
        let watch = match raw.watch {
            None => WatchSettings::default(),
            Some(w) => self.check_watch(w)?,
        };
        Ok(Config {
            source: Some(self.file.to_owned()),
            account_name,
            state_dir,
            shares,
            webhooks,
            delivery,
            watch,
        })
    }

    fn check_share(&self, n: usize, raw: RawShare) -> Result<Share, ConfigError> {
        let key = |k: &str| format!("share[{n}].{k}");
        let name = raw.name.get_ref().trim();
        if name.is_empty() {
            return Err(self.err(Some(raw.name.span()), key("name"), "must not be empty"));
        }
        let given = self.resolve(raw.path.get_ref());
        let path = match std::fs::canonicalize(&given) {
            Ok(path) if path.is_dir() => path,
            Ok(_) => {
                let msg = format!("{} is not a folder", given.display());
                return Err(self.err(Some(raw.path.span()), key("path"), msg));
            }
            Err(e) => {
                let msg = format!("{} cannot be used: {e}", given.display());
                return Err(self.err(Some(raw.path.span()), key("path"), msg));
            }
        };
        let protocol = match raw.protocol {
            Some(p) if p.get_ref().trim().is_empty() => {
                return Err(self.err(Some(p.span()), key("protocol"), "must not be empty"));
            }
            Some(p) => p.into_inner(),
            None => "smb".to_owned(),
        };
        let watch = match raw.watch {
            None => WatchMode::Auto,
            Some(w) => match w.get_ref().as_str() {
                "auto" => WatchMode::Auto,
                "inotify" => WatchMode::Inotify,
                "poll" => WatchMode::Poll,
                other => {
                    let msg = format!("unknown mode \"{other}\" (known: auto, inotify, poll)");
                    return Err(self.err(Some(w.span()), key("watch"), msg));
                }
            },
        };
        Ok(Share {
            name: name.to_owned(),
            path,
            protocol,
            watch,
        })
    }

    fn check_watch(&self, raw: RawWatch) -> Result<WatchSettings, ConfigError> {
        let mut out = WatchSettings::default();
        if let Some(ms) = raw.settle_ms {
            // An hour of quiet is already far more than any client needs.
            if !(0..=3_600_000).contains(ms.get_ref()) {
                let msg = "a number of milliseconds from 0 to 3600000";
                return Err(self.err(Some(ms.span()), "watch.settle_ms", msg));
            }
            out.settle = Duration::from_millis(u64::try_from(*ms.get_ref()).unwrap_or(0));
        }
        let extra: Vec<String> = raw
            .ignore
            .as_ref()
            .map(|list| list.get_ref().iter().map(|p| p.get_ref().clone()).collect())
            .unwrap_or_default();
        out.ignore = Ignore::new(raw.ignore_defaults.unwrap_or(true), &extra)
            .map_err(|m| self.err(raw.ignore.as_ref().map(Spanned::span), "watch.ignore", m))?;
        if let Some(secs) = raw.rescan_interval {
            let s = *secs.get_ref();
            if !(0.0..=31_536_000.0).contains(&s) {
                let msg = "a number of seconds from 0 (off) to 31536000";
                return Err(self.err(Some(secs.span()), "watch.rescan_interval", msg));
            }
            out.rescan_interval = (s > 0.0).then(|| Duration::from_secs_f64(s));
        }
        if let Some(secs) = raw.poll_interval {
            let s = *secs.get_ref();
            if !(0.1..=86_400.0).contains(&s) {
                let msg = "a number of seconds from 0.1 to 86400";
                return Err(self.err(Some(secs.span()), "watch.poll_interval", msg));
            }
            out.poll_interval = Duration::from_secs_f64(s);
        }
        Ok(out)
    }

    fn check_webhook(
        &self,
        n: usize,
        raw: RawWebhook,
        shares: &[Share],
    ) -> Result<Webhook, ConfigError> {
        let key = |k: &str| format!("webhook[{n}].{k}");
        let id = match raw.id {
            None => u32::try_from(n).expect("fewer than 4 billion webhooks"),
            Some(id) => u32::try_from(*id.get_ref())
                .ok()
                .filter(|id| *id > 0)
                .ok_or_else(|| {
                    self.err(Some(id.span()), key("id"), "must be a whole number from 1")
                })?,
        };
        let url = raw.url.get_ref().trim();
        check_url(url).map_err(|m| self.err(Some(raw.url.span()), key("url"), m))?;
        let share = match raw.share {
            Some(name) => {
                if !shares.iter().any(|s| s.name == *name.get_ref()) {
                    let known: Vec<&str> = shares.iter().map(|s| s.name.as_str()).collect();
                    let msg = format!(
                        "no share is named \"{}\" (shares: {})",
                        name.get_ref(),
                        known.join(", ")
                    );
                    return Err(self.err(Some(name.span()), key("share"), msg));
                }
                name.into_inner()
            }
            None if shares.len() == 1 => shares[0].name.clone(),
            None => {
                let msg = "say which share this webhook watches: there is more than one";
                return Err(self.err(Some(raw.url.span()), key("share"), msg));
            }
        };
        let folder = match raw.folder {
            None => SharePath::root(),
            Some(folder) => {
                let text = folder.get_ref();
                if text.split('/').any(|part| part == "..") {
                    return Err(self.err(
                        Some(folder.span()),
                        key("folder"),
                        "must not contain \"..\"",
                    ));
                }
                SharePath::from_config(text)
            }
        };
        let format = match raw.format {
            None => Format::V1,
            Some(f) => match f.get_ref().as_str() {
                "v1" => Format::V1,
                "v2" => {
                    let msg =
                        "format \"v2\" is not available in this version of sharehook; use \"v1\"";
                    return Err(self.err(Some(f.span()), key("format"), msg));
                }
                other => {
                    let msg = format!("unknown format \"{other}\" (known: \"v1\")");
                    return Err(self.err(Some(f.span()), key("format"), msg));
                }
            },
        };
        let triggers = match raw.triggers {
            None => Operation::ALL.to_vec(),
            Some(list) => {
                let mut ops = Vec::new();
                for name in list.get_ref() {
                    let op = Operation::from_trigger(name.get_ref()).ok_or_else(|| {
                        let known: Vec<&str> = Operation::ALL.iter().map(|o| o.trigger()).collect();
                        let msg = format!(
                            "unknown trigger \"{}\" (known: {})",
                            name.get_ref(),
                            known.join(", ")
                        );
                        self.err(Some(name.span()), key("triggers"), msg)
                    })?;
                    if !ops.contains(&op) {
                        ops.push(op);
                    }
                }
                if ops.is_empty() {
                    return Err(self.err(
                        Some(list.span()),
                        key("triggers"),
                        "must name at least one trigger",
                    ));
                }
                ops
            }
        };
        let token = match raw.token {
            None => None,
            Some(t) => Some(
                Token::parse(t.get_ref())
                    .map_err(|e| self.err(Some(t.span()), key("token"), e.to_string()))?,
            ),
        };
        Ok(Webhook {
            id,
            url: url.to_owned(),
            share,
            folder,
            format,
            triggers,
            token,
        })
    }

    fn check_delays(&self, delays: Spanned<Vec<Spanned<f64>>>) -> Result<Delivery, ConfigError> {
        const KEY: &str = "delivery.retry_delays";
        if delays.get_ref().is_empty() {
            return Err(self.err(
                Some(delays.span()),
                KEY,
                "must list at least one delay (the first attempt's)",
            ));
        }
        let mut out = Vec::new();
        for d in delays.get_ref() {
            // A week is far beyond any sensible gap; it also keeps the arithmetic finite.
            if !(0.0..=604_800.0).contains(d.get_ref()) {
                return Err(self.err(
                    Some(d.span()),
                    KEY,
                    "each delay is a number of seconds from 0 to 604800",
                ));
            }
            out.push(Duration::from_secs_f64(*d.get_ref()));
        }
        Ok(Delivery {
            schedule: Schedule::new(out),
        })
    }

    /// A path from the file, taken from the file's folder when relative.
    fn resolve(&self, path: &str) -> PathBuf {
        let path = Path::new(path);
        match self.file.parent() {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path.to_owned(),
        }
    }
}

fn check_url(url: &str) -> Result<(), String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("\"{url}\" is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(format!("\"{url}\" is not an http:// or https:// URL")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("\"{url}\" has no host"));
    }
    Ok(())
}

fn key_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => {
                let _ = write!(out, "[{}]", index + 1);
            }
            // `Spanned` wraps a value in a private one-key table; it is not the user's key.
            Segment::Map { key } if key.starts_with("$__serde_spanned") => {}
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    out
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// This machine's host name, the default account name.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "sharehook".to_owned())
}

impl Config {
    /// The effective configuration as TOML, every default filled in and secrets redacted.
    pub fn to_toml_redacted(&self) -> String {
        let q = |s: &str| toml_string(s);
        let mut out = String::new();
        let _ = writeln!(out, "account_name = {}", q(&self.account_name));
        let _ = writeln!(out, "state_dir = {}", q(&self.state_dir.to_string_lossy()));
        for share in &self.shares {
            let _ = writeln!(out, "\n[[share]]");
            let _ = writeln!(out, "name = {}", q(&share.name));
            let _ = writeln!(out, "path = {}", q(&share.path.to_string_lossy()));
            let _ = writeln!(out, "protocol = {}", q(&share.protocol));
            let mode = match share.watch {
                WatchMode::Auto => "auto",
                WatchMode::Inotify => "inotify",
                WatchMode::Poll => "poll",
            };
            let _ = writeln!(out, "watch = {}", q(mode));
        }
        for hook in &self.webhooks {
            let _ = writeln!(out, "\n[[webhook]]");
            let _ = writeln!(out, "id = {}", hook.id);
            // Credentials and query strings in a URL may be secrets too.
            let _ = writeln!(out, "url = {}", q(&crate::send::redact_url(&hook.url)));
            let _ = writeln!(out, "share = {}", q(&hook.share));
            let _ = writeln!(out, "folder = {}", q(&hook.folder.to_string()));
            let _ = writeln!(out, "format = \"v1\"");
            let triggers: Vec<String> = hook.triggers.iter().map(|t| q(t.trigger())).collect();
            let _ = writeln!(out, "triggers = [{}]", triggers.join(", "));
            match &hook.token {
                Some(_) => out.push_str("token = \"<redacted>\"\n"),
                None => out.push_str("# token: generated once and kept in state_dir\n"),
            }
        }
        let delays: Vec<String> = self
            .delivery
            .schedule
            .delays()
            .iter()
            .map(|d| format!("{}", d.as_secs_f64()))
            .collect();
        let _ = writeln!(out, "\n[delivery]\nretry_delays = [{}]", delays.join(", "));
        let w = &self.watch;
        let _ = writeln!(out, "\n[watch]\nsettle_ms = {}", w.settle.as_millis());
        let _ = writeln!(
            out,
            "rescan_interval = {}",
            w.rescan_interval.map_or(0.0, |d| d.as_secs_f64())
        );
        let _ = writeln!(out, "poll_interval = {}", w.poll_interval.as_secs_f64());
        // The whole list in effect, so `ignore_defaults` is not needed to read it back.
        let patterns: Vec<String> = w.ignore.patterns().map(q).collect();
        let _ = writeln!(
            out,
            "ignore_defaults = false\nignore = [{}]",
            patterns.join(", ")
        );
        out
    }
}

fn toml_string(s: &str) -> String {
    // serde_json's string escaping is also valid TOML basic-string escaping.
    serde_json::to_string(s).expect("a string always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `body` (with `{share}` replaced by an existing folder) and returns the error text.
    fn error_of(body: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let text = body.replace("{share}", &dir.path().to_string_lossy());
        match parse(&text, Path::new("/etc/sharehook/test.toml")) {
            Ok(_) => panic!("expected an error for:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    fn check_error(body: &str, expected: &str) {
        assert_eq!(error_of(body), expected);
    }

    const SHARE: &str = "[[share]]\nname = \"public\"\npath = \"{share}\"\n";

    #[test]
    fn broken_files_name_the_file_the_line_and_the_key() {
        let f = "/etc/sharehook/test.toml";
        check_error(
            &format!("{SHARE}colour = \"blue\"\n"),
            &format!(
                "{f}: line 4: share[1].colour: unknown field `colour`, expected one of `name`, `path`, `protocol`, `watch`"
            ),
        );
        check_error(
            "account_name = \"x\"\n[[share]]\nname = \"p\"\npath = \"/does/not/exist\"\n",
            &format!(
                "{f}: line 4: share[1].path: /does/not/exist cannot be used: No such file or directory (os error 2)"
            ),
        );
        check_error(
            &format!("{SHARE}[[webhook]]\nurl = \"ftp://example.net/x\"\n"),
            &format!(
                "{f}: line 5: webhook[1].url: \"ftp://example.net/x\" is not an http:// or https:// URL"
            ),
        );
        check_error(
            &format!(
                "{SHARE}[[webhook]]\nurl = \"http://h/\"\ntriggers = [\"upload\", \"download\"]\n"
            ),
            &format!(
                "{f}: line 6: webhook[1].triggers: unknown trigger \"download\" (known: upload, delete, move, rename, createFolder)"
            ),
        );
        check_error(
            &format!("{SHARE}[[webhook]]\nurl = \"http://h/\"\nformat = \"v3\"\n"),
            &format!("{f}: line 6: webhook[1].format: unknown format \"v3\" (known: \"v1\")"),
        );
        check_error(
            &format!("{SHARE}[[webhook]]\nurl = \"http://h/\"\nshare = \"privat\"\n"),
            &format!(
                "{f}: line 6: webhook[1].share: no share is named \"privat\" (shares: public)"
            ),
        );
        check_error(
            &format!("{SHARE}[[webhook]]\nurl = \"http://h/\"\ntoken = \"abc\"\n"),
            &format!(
                "{f}: line 6: webhook[1].token: a verification token is 32 hex characters (0-9, a-f)"
            ),
        );
    }

    #[test]
    fn type_and_syntax_errors_have_lines_too() {
        let e = error_of(&format!(
            "{SHARE}[delivery]\nretry_delays = [0, \"soon\"]\n"
        ));
        assert!(
            e.starts_with("/etc/sharehook/test.toml: line 5: delivery.retry_delays[2]: "),
            "{e}"
        );
        let e = error_of("[[share]\nname = 1\n");
        assert!(e.starts_with("/etc/sharehook/test.toml: line 1: "), "{e}");
        let e = error_of("[[share]]\nname = \"p\"\n");
        assert!(
            e.starts_with("/etc/sharehook/test.toml: line 1: share[1].path: missing field `path`"),
            "{e}"
        );
        check_error(
            "",
            "/etc/sharehook/test.toml: share: no [[share]] is configured: add one with a name and a path",
        );
    }

    #[test]
    fn watch_settings_are_checked_and_read() {
        check_error(
            &format!("{SHARE}[watch]\nsettle_ms = -5\n"),
            "/etc/sharehook/test.toml: line 5: watch.settle_ms: a number of milliseconds from 0 to 3600000",
        );
        check_error(
            &format!("{SHARE}[watch]\nignore = [\"!nothing\"]\n"),
            "/etc/sharehook/test.toml: line 5: watch.ignore: \"!nothing\": \"nothing\" is not in the list, so it cannot be taken out",
        );
        check_error(
            &format!("{SHARE}watch = \"fast\"\n"),
            "/etc/sharehook/test.toml: line 4: share[1].watch: unknown mode \"fast\" (known: auto, inotify, poll)",
        );
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "{SHARE}watch = \"poll\"\n[watch]\nsettle_ms = 0\nrescan_interval = 0\npoll_interval = 2.5\n\
             ignore_defaults = false\nignore = [\"*.bak\"]\n"
        )
        .replace("{share}", &dir.path().to_string_lossy());
        let c = parse(&text, Path::new("/x.toml")).unwrap();
        assert_eq!(c.shares[0].watch, WatchMode::Poll);
        assert_eq!(c.watch.settle, Duration::ZERO);
        assert_eq!(c.watch.rescan_interval, None);
        assert_eq!(c.watch.poll_interval, Duration::from_millis(2500));
        assert_eq!(c.watch.ignore.patterns().collect::<Vec<_>>(), ["*.bak"]);
        // `check` prints it back so that it reads the same.
        let again = parse(
            &c.to_toml_redacted().replace("<redacted>", "x"),
            Path::new("/x.toml"),
        );
        let again = again.unwrap();
        assert_eq!(again.watch, c.watch);
        assert_eq!(again.shares[0].watch, WatchMode::Poll);
    }

    #[test]
    fn defaults_fill_what_is_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!("{SHARE}[[webhook]]\nurl = \"http://10.0.0.5:9000/hook\"\n")
            .replace("{share}", &dir.path().to_string_lossy());
        let c = parse(&text, Path::new("/x.toml")).unwrap();
        assert_eq!(c.account_name, host_name());
        assert_eq!(c.state_dir, PathBuf::from(DEFAULT_STATE_DIR));
        assert_eq!(c.shares[0].protocol, "smb");
        let w = &c.webhooks[0];
        assert_eq!(
            (w.id, w.share.as_str(), w.format),
            (1, "public", Format::V1)
        );
        assert_eq!(w.folder, SharePath::root());
        assert_eq!(w.triggers, Operation::ALL);
        assert!(w.token.is_none());
        assert_eq!(c.delivery.schedule, Schedule::default());
    }

    #[test]
    fn check_output_never_shows_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let token = "efb7e0030e6cef1b45d3d74a67881a2b";
        let text = format!("{SHARE}[[webhook]]\nurl = \"http://h/\"\ntoken = \"{token}\"\n")
            .replace("{share}", &dir.path().to_string_lossy());
        let shown = parse(&text, Path::new("/x.toml"))
            .unwrap()
            .to_toml_redacted();
        assert!(!shown.contains(token), "{shown}");
        assert!(shown.contains("token = \"<redacted>\""), "{shown}");
    }

    fn event(op: Operation, path: &str, source: Option<&str>, is_dir: bool) -> Event {
        Event {
            id: 1,
            op,
            share: "public".into(),
            path: SharePath::from_config(path),
            source: source.map(SharePath::from_config),
            is_dir,
            username: "u".into(),
            time_ms: 0,
            size: None,
        }
    }

    #[test]
    fn routing_follows_share_folder_and_triggers() {
        let hook = Webhook {
            id: 1,
            url: "http://h/".into(),
            share: "public".into(),
            folder: SharePath::from_config("/in"),
            format: Format::V1,
            triggers: vec![
                Operation::Upload,
                Operation::Delete,
                Operation::Move,
                Operation::CreateFolder,
            ],
            token: None,
        };
        let show = |e: Option<Event>| {
            e.map(|e| {
                format!(
                    "{:?} {} {:?}",
                    e.op,
                    e.path,
                    e.source.map(|s| s.to_string())
                )
            })
        };
        let r = |op, path, src, dir| show(hook.route(&event(op, path, src, dir)));
        assert_eq!(
            r(Operation::Upload, "/in/a", None, false).as_deref(),
            Some("Upload /in/a None")
        );
        assert_eq!(r(Operation::Upload, "/out/a", None, false), None);
        assert_eq!(r(Operation::Upload, "/inside", None, false), None);
        assert_eq!(
            r(Operation::Rename, "/in/b", Some("/in/a"), false),
            None,
            "rename not a trigger"
        );
        assert_eq!(
            r(Operation::Move, "/in/x/a", Some("/in/a"), false).as_deref(),
            Some("Move /in/x/a Some(\"/in/a\")")
        );
        assert_eq!(
            r(Operation::Move, "/in/a", Some("/out/a"), false).as_deref(),
            Some("Upload /in/a None")
        );
        assert_eq!(
            r(Operation::Move, "/in/d", Some("/out/d"), true).as_deref(),
            Some("CreateFolder /in/d None")
        );
        assert_eq!(
            r(Operation::Move, "/out/a", Some("/in/a"), false).as_deref(),
            Some("Delete /in/a None")
        );
        let mut other = event(Operation::Upload, "/in/a", None, false);
        other.share = "private".into();
        assert!(hook.route(&other).is_none());
    }
}
