//! The configuration: the TOML file as written (raw), then one checked `Config` that the rest
//! of the program trusts. Every error names the file, the line and the key at fault.

use std::collections::HashSet;
use std::fmt::{self, Write as _};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::core::event::{Event, Operation, SharePath};
use crate::core::ignore::Ignore;
use crate::core::netpolicy::{self, AddressPolicy};
use crate::core::retry::Schedule;
use crate::core::sign::{Secret, Token};

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
    pub log: LogSettings,
    pub watch: WatchSettings,
    pub web: WebSettings,
}

/// The management API's HTTP server (`[web]`).
#[derive(Clone, Debug, PartialEq)]
pub struct WebSettings {
    /// Where it listens; empty turns the server off.
    pub listen: Vec<std::net::SocketAddr>,
    /// False when `listen` was not given: the default address being taken by another program
    /// then leaves the server off with a warning instead of stopping the daemon.
    pub listen_given: bool,
    /// `Some(false)` serves plain HTTP off loopback (with a warning); `None` means HTTPS on
    /// any address that is not loopback.
    pub tls: Option<bool>,
    /// A PEM certificate chain and key; without them, a self-signed certificate is made once
    /// and kept in the state folder.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Serve Prometheus metrics at `/metrics`.
    pub metrics: bool,
    /// Names the box answers to beside IP addresses, `localhost` and its host name
    /// (lowercase; `"*"` answers to any).
    pub hosts: Vec<String>,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

impl Default for WebSettings {
    fn default() -> WebSettings {
        WebSettings {
            listen: vec![
                DEFAULT_LISTEN
                    .parse()
                    .expect("the default address is valid"),
            ],
            listen_given: false,
            tls: None,
            tls_cert: None,
            tls_key: None,
            metrics: false,
            hosts: Vec::new(),
        }
    }
}

impl WebSettings {
    /// Whether `other` listens as this does: what a reload cannot change without a restart
    /// (the names answered to and the metrics switch follow the router).
    pub fn same_sockets(&self, other: &WebSettings) -> bool {
        self.listen == other.listen
            && self.tls == other.tls
            && self.tls_cert == other.tls_cert
            && self.tls_key == other.tls_key
    }

    /// Whether `addr` is served over TLS.
    pub fn tls_on(&self, addr: &std::net::SocketAddr) -> bool {
        self.tls.unwrap_or(!addr.ip().is_loopback())
    }
}

/// How long the delivery log keeps its entries (`[log]`).
#[derive(Clone, Debug, PartialEq)]
pub struct LogSettings {
    pub max_entries: u64,
    pub max_age: Duration,
}

impl Default for LogSettings {
    fn default() -> LogSettings {
        LogSettings {
            max_entries: 100_000,
            max_age: Duration::from_secs(30 * 86_400),
        }
    }
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
    /// What the management API may do with the share's files (`resources`).
    pub resources: ResourceAccess,
}

/// What the management API may do with a share's files (`resources = ...`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceAccess {
    /// Nothing (the default): the API neither reads nor changes the share.
    Off,
    /// Info, list and download.
    Read,
    /// Read, and delete.
    ReadWrite,
}

impl ResourceAccess {
    pub fn name(self) -> &'static str {
        match self {
            ResourceAccess::Off => "off",
            ResourceAccess::Read => "read",
            ResourceAccess::ReadWrite => "read-write",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    V1,
    V2,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::V1 => "v1",
            Format::V2 => "v2",
        }
    }
}

/// Which signature headers a webhook's deliveries carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureMode {
    /// `X-Exavault-Signature` only.
    Exavault,
    /// The Standard Webhooks headers only.
    Standard,
    Both,
}

impl SignatureMode {
    pub fn name(self) -> &'static str {
        match self {
            SignatureMode::Exavault => "exavault",
            SignatureMode::Standard => "standard",
            SignatureMode::Both => "both",
        }
    }

    pub fn exavault(self) -> bool {
        self != SignatureMode::Standard
    }

    pub fn standard(self) -> bool {
        self != SignatureMode::Exavault
    }
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
    /// The Standard Webhooks signing secret.
    pub secret: Option<Secret>,
    pub signature: SignatureMode,
    /// Extra certificate authorities (PEM) for an HTTPS receiver with a private CA.
    pub ca_file: Option<PathBuf>,
}

/// How deliveries are made (`[delivery]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    pub schedule: Schedule,
    /// How long a replaced token or secret keeps signing beside the new one.
    pub rotation_grace: Duration,
    /// How long a webhook may fail without a single success before it is disabled.
    pub disable_after: Duration,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub policy: AddressPolicy,
    /// The most events that wait in one webhook's queue; beyond it the oldest are dropped.
    pub queue_limit: u64,
}

impl Default for Delivery {
    fn default() -> Delivery {
        Delivery {
            schedule: Schedule::default(),
            rotation_grace: Duration::from_secs(86_400),
            disable_after: Duration::from_secs(5 * 86_400),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            policy: AddressPolicy::default(),
            queue_limit: 1_000_000,
        }
    }
}

impl Config {
    /// What the state keeps, as configured (`[delivery] queue_limit` and `[log]`).
    pub fn store_limits(&self) -> crate::store::Limits {
        crate::store::Limits {
            queue_limit: self.delivery.queue_limit,
            log_max_entries: self.log.max_entries,
            log_max_age_ms: crate::core::retry::millis(self.log.max_age),
        }
    }

    /// A configuration with one share and one webhook for all of it, every other setting at
    /// its default (the demo, the benchmark and tests start from it).
    pub fn one_share(account: &str, share: &Path, state_dir: &Path, url: &str) -> Config {
        Config {
            source: None,
            account_name: account.to_owned(),
            state_dir: state_dir.to_owned(),
            shares: vec![Share {
                name: account.to_owned(),
                path: share.to_owned(),
                protocol: "smb".into(),
                watch: WatchMode::Auto,
                resources: ResourceAccess::Off,
            }],
            webhooks: vec![Webhook {
                id: 1,
                url: url.to_owned(),
                share: account.to_owned(),
                folder: SharePath::root(),
                format: Format::V1,
                triggers: Operation::ALL.to_vec(),
                token: None,
                secret: None,
                signature: SignatureMode::Exavault,
                ca_file: None,
            }],
            delivery: Delivery::default(),
            log: LogSettings::default(),
            watch: WatchSettings::default(),
            web: WebSettings::default(),
        }
    }
}

impl Config {
    /// What is allowed but probably not meant, for `check` and the daemon's start to say:
    /// secrets anyone on the machine can read, nothing to send to, nothing to report.
    /// `api_shares`: the share of each webhook made through the API (kept in the state).
    pub fn warnings(&self, api_shares: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        let holds_secrets = self
            .webhooks
            .iter()
            .any(|w| w.token.is_some() || w.secret.is_some());
        if let Some(file) = self.source.as_deref().filter(|_| holds_secrets) {
            // The package installs it 0640, group sharehook: the group may read it.
            if let Some(mode) = world_readable(file) {
                out.push(format!(
                    "{} holds webhook tokens or secrets, and every user of this machine can read \
                     it (mode {mode:04o}): chmod 640 {}",
                    file.display(),
                    file.display()
                ));
            }
        }
        if let Some(key) = &self.web.tls_key
            && let Some(mode) = world_readable(key)
        {
            out.push(format!(
                "web.tls_key: {} is a private key, and every user of this machine can read it \
                 (mode {mode:04o}): chmod 600 {}",
                key.display(),
                key.display()
            ));
        }
        if self.webhooks.is_empty() && api_shares.is_empty() {
            out.push(
                "no [[webhook]] is configured (nor made through the API): changes are watched \
                 but nothing is sent; add a [[webhook]] with a url"
                    .to_owned(),
            );
        } else {
            for share in &self.shares {
                if !self.webhooks.iter().any(|w| w.share == share.name)
                    && !api_shares.contains(&share.name)
                {
                    out.push(format!(
                        "share \"{}\": no [[webhook]] watches it, so its changes are sent nowhere \
                         (add share = \"{}\" to a [[webhook]])",
                        share.name, share.name
                    ));
                }
            }
        }
        for pattern in self.watch.ignore.patterns() {
            if pattern.trim_end_matches('/').bytes().all(|b| b == b'*') {
                out.push(format!(
                    "watch.ignore: \"{pattern}\" matches every name: nothing in the shares will \
                     be reported"
                ));
            }
        }
        out
    }

    /// What differs from `old`, for the log line of a reload: added, removed and changed
    /// shares and webhooks (with the settings that changed), and changed tables.
    pub fn changes_from(&self, old: &Config) -> Vec<String> {
        let mut out = Vec::new();
        if self.account_name != old.account_name {
            out.push("account_name changed".to_owned());
        }
        for share in &self.shares {
            match old.shares.iter().find(|s| s.name == share.name) {
                None => out.push(format!("share {} added", share.name)),
                Some(was) if was != share => {
                    let changed: Vec<&str> = [
                        ("path", was.path != share.path),
                        ("protocol", was.protocol != share.protocol),
                        ("watch", was.watch != share.watch),
                        ("resources", was.resources != share.resources),
                    ]
                    .into_iter()
                    .filter_map(|(what, differs)| differs.then_some(what))
                    .collect();
                    out.push(format!(
                        "share {} changed ({})",
                        share.name,
                        changed.join(", ")
                    ));
                }
                Some(_) => {}
            }
        }
        for was in &old.shares {
            if !self.shares.iter().any(|s| s.name == was.name) {
                out.push(format!("share {} removed", was.name));
            }
        }
        for hook in &self.webhooks {
            match old.webhooks.iter().find(|w| w.id == hook.id) {
                None => out.push(format!("webhook {} added", hook.id)),
                Some(was) => {
                    let changed = hook.changed_from(was);
                    if !changed.is_empty() {
                        out.push(format!(
                            "webhook {} changed ({})",
                            hook.id,
                            changed.join(", ")
                        ));
                    }
                }
            }
        }
        for was in &old.webhooks {
            if !self.webhooks.iter().any(|w| w.id == was.id) {
                out.push(format!("webhook {} removed", was.id));
            }
        }
        for (table, changed) in [
            ("[delivery]", self.delivery != old.delivery),
            ("[log]", self.log != old.log),
            ("[watch]", self.watch != old.watch),
            ("[web]", self.web != old.web),
        ] {
            if changed {
                out.push(format!("{table} changed"));
            }
        }
        out
    }
}

impl Webhook {
    /// The names of the settings that differ from `old` (secrets named, never shown).
    fn changed_from(&self, old: &Webhook) -> Vec<&'static str> {
        [
            ("url", self.url != old.url),
            ("share", self.share != old.share),
            ("folder", self.folder != old.folder),
            ("format", self.format != old.format),
            ("triggers", self.triggers != old.triggers),
            ("token", self.token != old.token),
            ("secret", self.secret != old.secret),
            ("signature", self.signature != old.signature),
            ("ca_file", self.ca_file != old.ca_file),
        ]
        .into_iter()
        .filter_map(|(name, changed)| changed.then_some(name))
        .collect()
    }

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
    log: Option<RawLog>,
    watch: Option<RawWatch>,
    web: Option<RawWeb>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWeb {
    listen: Option<Spanned<OneOrMany>>,
    tls: Option<bool>,
    tls_cert: Option<Spanned<String>>,
    tls_key: Option<Spanned<String>>,
    metrics: Option<bool>,
    hosts: Option<Spanned<Vec<String>>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    max_entries: Option<Spanned<i64>>,
    max_age_days: Option<Spanned<f64>>,
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
    resources: Option<Spanned<String>>,
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
    secret: Option<Spanned<String>>,
    signature: Option<Spanned<String>>,
    ca_file: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDelivery {
    retry_delays: Option<Spanned<Vec<Spanned<f64>>>>,
    rotation_grace: Option<Spanned<f64>>,
    disable_after: Option<Spanned<f64>>,
    connect_timeout: Option<Spanned<f64>>,
    request_timeout: Option<Spanned<f64>>,
    deny_networks: Option<Spanned<Vec<Spanned<String>>>>,
    allow_networks: Option<Spanned<Vec<Spanned<String>>>>,
    queue_limit: Option<Spanned<i64>>,
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
        let mut message = e.message().trim().to_owned();
        // serde names a missing key only in its message; put it in the key as well.
        let key = match message
            .strip_prefix("missing field `")
            .and_then(|m| m.strip_suffix('`'))
        {
            Some(field) if key.is_empty() => field.to_owned(),
            Some(field) => format!("{key}.{field}"),
            None => key.to_owned(),
        };
        if let Some(better) = wrong_type(&message)
            .or_else(|| misplaced(&key, &message))
            .or_else(|| (key == "web.listen").then(|| LISTEN_FORM.to_owned()))
        {
            message = better;
        }
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
            let path_span = share.get_ref().path.span();
            let given = self.resolve(share.get_ref().path.get_ref());
            let share = self.check_share(i + 1, share.into_inner())?;
            if let Some(other) = shares.iter().find(|s| s.name == share.name) {
                let key = format!("share[{}].name", i + 1);
                return Err(self.err(
                    None,
                    key,
                    format!("two shares are named \"{}\"", other.name),
                ));
            }
            if let Some(message) = overlap(&given, &share, &shares) {
                return Err(self.err(Some(path_span), format!("share[{}].path", i + 1), message));
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
        let delivery = match raw.delivery {
            None => Delivery::default(),
            Some(d) => self.check_delivery(d)?,
        };
        let log = match raw.log {
            None => LogSettings::default(),
            Some(l) => self.check_log(l)?,
        };
        let watch = match raw.watch {
            None => WatchSettings::default(),
            Some(w) => self.check_watch(w)?,
        };
        let web = match raw.web {
            None => WebSettings::default(),
            Some(w) => self.check_web(w)?,
        };
        Ok(Config {
            source: Some(self.file.to_owned()),
            account_name,
            state_dir,
            shares,
            webhooks,
            delivery,
            log,
            watch,
            web,
        })
    }

    fn check_web(&self, raw: RawWeb) -> Result<WebSettings, ConfigError> {
        let mut out = WebSettings::default();
        if let Some(listen) = raw.listen {
            let span = listen.span();
            let texts = match listen.into_inner() {
                OneOrMany::One(text) => vec![text],
                OneOrMany::Many(list) => list,
            };
            out.listen.clear();
            for text in texts {
                let addr = text.trim().parse::<std::net::SocketAddr>().map_err(|_| {
                    let msg = format!(
                        "\"{text}\" is not an address and port such as \"127.0.0.1:8080\", \"0.0.0.0:8443\" or \"[::1]:8080\""
                    );
                    self.err(Some(span.clone()), "web.listen", msg)
                })?;
                if !out.listen.contains(&addr) {
                    out.listen.push(addr);
                }
            }
            out.listen_given = true;
        }
        out.tls = raw.tls;
        out.metrics = raw.metrics.unwrap_or(false);
        if let Some(hosts) = raw.hosts {
            let span = hosts.span();
            for name in hosts.into_inner() {
                let name = name.trim().to_ascii_lowercase();
                let plain = name == "*"
                    || (!name.is_empty()
                        && name
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'));
                if !plain {
                    return Err(self.err(
                        Some(span),
                        "web.hosts",
                        format!(
                            "\"{}\" is not a host name such as \"nas.example.lan\" (no scheme, port or path; IP addresses need no entry; \"*\" answers to any name)",
                            crate::core::event::escape_controls(&name)
                        ),
                    ));
                }
                if !out.hosts.contains(&name) {
                    out.hosts.push(name);
                }
            }
        }
        out.tls_cert = raw.tls_cert.map(|p| self.resolve(p.get_ref()));
        out.tls_key = raw.tls_key.map(|p| self.resolve(p.get_ref()));
        if out.tls_cert.is_some() != out.tls_key.is_some() {
            let key = if out.tls_cert.is_some() {
                "web.tls_key"
            } else {
                "web.tls_cert"
            };
            return Err(self.err(
                None,
                key,
                "tls_cert and tls_key go together: give both (PEM files), or neither for a self-signed certificate",
            ));
        }
        Ok(out)
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
        let resources = match raw.resources {
            None => ResourceAccess::Off,
            Some(r) => match r.get_ref().as_str() {
                "off" => ResourceAccess::Off,
                "read" => ResourceAccess::Read,
                "read-write" => ResourceAccess::ReadWrite,
                other => {
                    let msg = format!("unknown access \"{other}\" (known: off, read, read-write)");
                    return Err(self.err(Some(r.span()), key("resources"), msg));
                }
            },
        };
        Ok(Share {
            name: name.to_owned(),
            path,
            protocol,
            watch,
            resources,
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
        out.ignore = Ignore::with_position(raw.ignore_defaults.unwrap_or(true), &extra).map_err(
            |(i, m)| {
                let span = raw
                    .ignore
                    .as_ref()
                    .and_then(|list| list.get_ref().get(i))
                    .map(Spanned::span);
                self.err(span, format!("watch.ignore[{}]", i + 1), m)
            },
        )?;
        if let Some(secs) = raw.rescan_interval {
            let d = self.seconds(
                &secs,
                "watch.rescan_interval",
                0.0,
                31_536_000.0,
                " (0: off)",
            )?;
            out.rescan_interval = (!d.is_zero()).then_some(d);
        }
        if let Some(secs) = raw.poll_interval {
            out.poll_interval = self.seconds(&secs, "watch.poll_interval", 0.1, 86_400.0, "")?;
        }
        Ok(out)
    }

    /// A number of seconds from `lo` to `hi`.
    fn seconds(
        &self,
        v: &Spanned<f64>,
        key: &str,
        lo: f64,
        hi: f64,
        note: &str,
    ) -> Result<Duration, ConfigError> {
        let s = *v.get_ref();
        if !(lo..=hi).contains(&s) {
            let msg = format!("a number of seconds from {lo} to {hi}{note}");
            return Err(self.err(Some(v.span()), key, msg));
        }
        Ok(Duration::from_secs_f64(s))
    }

    /// A whole number from `lo` to `hi`.
    fn count(&self, v: &Spanned<i64>, key: &str, lo: i64, hi: i64) -> Result<u64, ConfigError> {
        let n = *v.get_ref();
        if !(lo..=hi).contains(&n) {
            let msg = format!("a whole number from {lo} to {hi}");
            return Err(self.err(Some(v.span()), key, msg));
        }
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn networks(
        &self,
        list: &Spanned<Vec<Spanned<String>>>,
        key: &str,
    ) -> Result<Vec<ipnet::IpNet>, ConfigError> {
        list.get_ref()
            .iter()
            .map(|n| {
                netpolicy::parse_net(n.get_ref()).map_err(|m| self.err(Some(n.span()), key, m))
            })
            .collect()
    }

    fn check_delivery(&self, raw: RawDelivery) -> Result<Delivery, ConfigError> {
        let mut out = Delivery::default();
        if let Some(delays) = raw.retry_delays {
            out.schedule = self.check_delays(delays)?;
        }
        // A year is far beyond any sensible setting; it also keeps the arithmetic finite.
        const YEAR: f64 = 31_536_000.0;
        if let Some(v) = raw.rotation_grace {
            out.rotation_grace = self.seconds(&v, "delivery.rotation_grace", 0.0, YEAR, "")?;
        }
        if let Some(v) = raw.disable_after {
            out.disable_after =
                self.seconds(&v, "delivery.disable_after", 0.0, YEAR, " (0: never)")?;
        }
        if let Some(v) = raw.connect_timeout {
            out.connect_timeout = self.seconds(&v, "delivery.connect_timeout", 0.1, 300.0, "")?;
        }
        if let Some(v) = raw.request_timeout {
            out.request_timeout = self.seconds(&v, "delivery.request_timeout", 0.1, 3600.0, "")?;
        }
        if let Some(list) = &raw.deny_networks {
            out.policy
                .deny
                .extend(self.networks(list, "delivery.deny_networks")?);
        }
        if let Some(list) = &raw.allow_networks {
            out.policy.allow = self.networks(list, "delivery.allow_networks")?;
        }
        if let Some(v) = raw.queue_limit {
            out.queue_limit = self.count(&v, "delivery.queue_limit", 1, 1_000_000_000)?;
        }
        Ok(out)
    }

    fn check_log(&self, raw: RawLog) -> Result<LogSettings, ConfigError> {
        let mut out = LogSettings::default();
        if let Some(v) = raw.max_entries {
            out.max_entries = self.count(&v, "log.max_entries", 1, 100_000_000)?;
        }
        if let Some(v) = raw.max_age_days {
            let days = *v.get_ref();
            if !(0.0001..=36_500.0).contains(&days) {
                let msg = "a number of days from 0.0001 to 36500";
                return Err(self.err(Some(v.span()), "log.max_age_days", msg));
            }
            out.max_age = Duration::from_secs_f64(days * 86_400.0);
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
                "v2" => Format::V2,
                other => {
                    let msg = format!("unknown format \"{other}\" (known: \"v1\", \"v2\")");
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
        let secret = match &raw.secret {
            None => None,
            Some(t) => Some(
                Secret::parse(t.get_ref())
                    .map_err(|e| self.err(Some(t.span()), key("secret"), e.to_string()))?,
            ),
        };
        let signature = match &raw.signature {
            None if secret.is_some() => SignatureMode::Both,
            None => SignatureMode::Exavault,
            Some(m) => {
                let mode = match m.get_ref().as_str() {
                    "exavault" => SignatureMode::Exavault,
                    "standard" => SignatureMode::Standard,
                    "both" => SignatureMode::Both,
                    other => {
                        let msg = format!(
                            "unknown signature \"{other}\" (known: \"exavault\", \"standard\", \"both\")"
                        );
                        return Err(self.err(Some(m.span()), key("signature"), msg));
                    }
                };
                if mode.standard() && secret.is_none() {
                    let msg = format!(
                        "signature \"{}\" needs a secret = \"whsec_...\" to sign with",
                        mode.name()
                    );
                    return Err(self.err(Some(m.span()), key("signature"), msg));
                }
                mode
            }
        };
        let ca_file = match &raw.ca_file {
            None => None,
            Some(f) => {
                let path = self.resolve(f.get_ref());
                crate::deliver::send::load_ca_file(&path)
                    .map_err(|m| self.err(Some(f.span()), key("ca_file"), m))?;
                Some(path)
            }
        };
        Ok(Webhook {
            id,
            url: url.to_owned(),
            share,
            folder,
            format,
            triggers,
            token,
            secret,
            signature,
            ca_file,
        })
    }

    fn check_delays(&self, delays: Spanned<Vec<Spanned<f64>>>) -> Result<Schedule, ConfigError> {
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
        Ok(Schedule::new(out))
    }

    /// A path from the file, taken from the file's folder when relative; always absolute (a
    /// file named by a relative `--config` is taken from the working folder), so that the
    /// daemon and every command find the same place wherever they run.
    fn resolve(&self, path: &str) -> PathBuf {
        let path = Path::new(path);
        let joined = match self.file.parent() {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path.to_owned(),
        };
        std::path::absolute(&joined).unwrap_or(joined)
    }
}

/// Why `share` (configured as `given`) may not sit beside `earlier`, if it may not: one folder
/// in two shares, or one share inside another, would report each change to one of them only
/// (the watch of a folder belongs to one share). Paths are compared canonical, so `..` and
/// symbolic links hide nothing.
fn overlap(given: &Path, share: &Share, earlier: &[Share]) -> Option<String> {
    let real = &share.path;
    let shown = if given == real.as_path() {
        given.display().to_string()
    } else {
        format!("{} (which is {})", given.display(), real.display())
    };
    const RULE: &str = "shares must not overlap";
    earlier.iter().find_map(|other| {
        let (name, path) = (&other.name, other.path.display());
        if *real == other.path {
            Some(format!(
                "{shown} is the same folder as share \"{name}\" ({path}): {RULE}"
            ))
        } else if real.starts_with(&other.path) {
            Some(format!(
                "{shown} lies inside share \"{name}\" ({path}): {RULE} (a webhook's folder picks part of a share)"
            ))
        } else if other.path.starts_with(real) {
            Some(format!(
                "{shown} holds share \"{name}\" ({path}): {RULE} (a webhook's folder picks part of a share)"
            ))
        } else {
            None
        }
    })
}

pub(crate) fn check_url(url: &str) -> Result<(), String> {
    // The URL as said back: a password in it is not shown.
    let shown = crate::deliver::send::mask_credentials(url);
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("\"{shown}\" is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(format!("\"{shown}\" is not an http:// or https:// URL")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("\"{shown}\" has no host"));
    }
    Ok(())
}

/// What `web.listen` takes, said when it is neither.
const LISTEN_FORM: &str =
    "must be an address and port in quotes, such as \"127.0.0.1:8080\", or a list of them";

/// serde's `invalid type: string "one", expected i64`, said for people: `must be a whole
/// number (got the text "one")`. `None` for any other message.
fn wrong_type(message: &str) -> Option<String> {
    let (got, expected) = message
        .strip_prefix("invalid type: ")?
        .rsplit_once(", expected ")?;
    let wanted = match expected {
        "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number",
        "f32" | "f64" => "a number",
        "a boolean" => "true or false",
        "a string" => "text in quotes",
        "a sequence" => "a list in brackets, such as [\"a\", \"b\"]",
        s if s.starts_with("struct ") => "a table",
        _ => return None,
    };
    let number = |prefix: &str| {
        got.strip_prefix(prefix)
            .and_then(|n| n.strip_prefix('`'))
            .and_then(|n| n.strip_suffix('`'))
            .map(|n| format!("the number {n}"))
    };
    let got = if let Some(text) = got.strip_prefix("string ") {
        format!("the text {text}")
    } else if let Some(n) = number("integer ").or_else(|| number("floating point ")) {
        n
    } else if let Some(b) = got
        .strip_prefix("boolean `")
        .and_then(|b| b.strip_suffix('`'))
    {
        b.to_owned()
    } else {
        match got {
            "sequence" => "a list".to_owned(),
            "map" => "a table".to_owned(),
            other => other.to_owned(),
        }
    };
    Some(format!("must be {wanted} (got {got})"))
}

/// The keys each table takes, for telling where a misplaced key belongs.
const TABLE_KEYS: &[(&str, &[&str])] = &[
    (
        "[[share]]",
        &["name", "path", "protocol", "watch", "resources"],
    ),
    (
        "[[webhook]]",
        &[
            "id",
            "url",
            "share",
            "folder",
            "format",
            "triggers",
            "token",
            "secret",
            "signature",
            "ca_file",
        ],
    ),
    (
        "[delivery]",
        &[
            "retry_delays",
            "rotation_grace",
            "disable_after",
            "connect_timeout",
            "request_timeout",
            "deny_networks",
            "allow_networks",
            "queue_limit",
        ],
    ),
    ("[log]", &["max_entries", "max_age_days"]),
    (
        "[watch]",
        &[
            "settle_ms",
            "ignore",
            "ignore_defaults",
            "rescan_interval",
            "poll_interval",
        ],
    ),
    (
        "[web]",
        &["listen", "tls", "tls_cert", "tls_key", "metrics", "hosts"],
    ),
];

/// The keys that go before every table.
const TOP_LEVEL_KEYS: &[&str] = &["account_name", "state_dir"];

/// For an unknown key at `key` that is a key of another table (or a top-level key written
/// after a table, which TOML then puts in that table), where it belongs.
fn misplaced(key: &str, message: &str) -> Option<String> {
    let field = message.strip_prefix("unknown field `")?.split_once('`')?.0;
    // The table it landed in: `webhook[1]` is a [[webhook]], `delivery` the [delivery].
    let table = key
        .strip_suffix(field)
        .map(|t| t.strip_suffix('.').unwrap_or(t))?;
    let header = match table.split_once('[') {
        _ if table.is_empty() => None,
        Some((name, _)) => Some(format!("[[{name}]]")),
        None => Some(format!("[{table}]")),
    };
    if TOP_LEVEL_KEYS.contains(&field) {
        let header = header?;
        return Some(format!(
            "`{field}` is a top-level key but comes after {header}; TOML puts it in that table \
             — move it above the first [table]"
        ));
    }
    let (home, _) = TABLE_KEYS.iter().find(|(_, keys)| keys.contains(&field))?;
    Some(match header {
        Some(header) => format!(
            "`{field}` is a key of {home}, not of {header}; TOML puts a key in the table above \
             it — move it under {home}"
        ),
        None => format!("`{field}` is a key of {home}: move it under {home}"),
    })
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

/// The permission bits of `path` when every user may read it (`None` when they may not, or
/// it cannot be looked at: reading it is then someone else's error to report).
fn world_readable(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o7777;
    (mode & 0o004 != 0).then_some(mode)
}

/// This machine's host name, the default account name. Asked of the kernel (`uname`), not
/// read from /proc/sys, which the unit's `ProcSubset=pid` hides.
pub fn host_name() -> String {
    // SAFETY: `uname` fills the zeroed struct it is given; its fields end in a NUL.
    let name = unsafe {
        let mut uts: libc::utsname = std::mem::zeroed();
        (libc::uname(&mut uts) == 0).then(|| {
            std::ffi::CStr::from_ptr(uts.nodename.as_ptr())
                .to_string_lossy()
                .into_owned()
        })
    };
    name.map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty() && s != "(none)")
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
            let _ = writeln!(out, "resources = {}", q(share.resources.name()));
        }
        for hook in &self.webhooks {
            let _ = writeln!(out, "\n[[webhook]]");
            let _ = writeln!(out, "id = {}", hook.id);
            // Credentials and query strings in a URL may be secrets too.
            let _ = writeln!(
                out,
                "url = {}",
                q(&crate::deliver::send::redact_url(&hook.url))
            );
            let _ = writeln!(out, "share = {}", q(&hook.share));
            let folder = crate::core::event::escape_bytes(hook.folder.as_bytes());
            let _ = writeln!(out, "folder = {}", q(&folder));
            let _ = writeln!(out, "format = {}", q(hook.format.name()));
            let triggers: Vec<String> = hook.triggers.iter().map(|t| q(t.trigger())).collect();
            let _ = writeln!(out, "triggers = [{}]", triggers.join(", "));
            match &hook.token {
                Some(_) => out.push_str("token = \"<redacted>\"\n"),
                None => out.push_str("# token: generated once and kept in state_dir\n"),
            }
            if hook.secret.is_some() {
                out.push_str("secret = \"<redacted>\"\n");
            }
            let _ = writeln!(out, "signature = {}", q(hook.signature.name()));
            if let Some(ca) = &hook.ca_file {
                let _ = writeln!(out, "ca_file = {}", q(&ca.to_string_lossy()));
            }
        }
        let delays: Vec<String> = self
            .delivery
            .schedule
            .delays()
            .iter()
            .map(|d| format!("{}", d.as_secs_f64()))
            .collect();
        let d = &self.delivery;
        let _ = writeln!(out, "\n[delivery]\nretry_delays = [{}]", delays.join(", "));
        let secs = |d: Duration| d.as_secs_f64();
        let _ = writeln!(out, "rotation_grace = {}", secs(d.rotation_grace));
        let _ = writeln!(out, "disable_after = {}", secs(d.disable_after));
        let _ = writeln!(out, "connect_timeout = {}", secs(d.connect_timeout));
        let _ = writeln!(out, "request_timeout = {}", secs(d.request_timeout));
        let nets = |list: &[ipnet::IpNet]| -> String {
            let items: Vec<String> = list.iter().map(|n| q(&n.to_string())).collect();
            items.join(", ")
        };
        // The built-in refusals are always in force; only what was added is printed.
        let defaults = netpolicy::default_deny();
        let added: Vec<ipnet::IpNet> = d
            .policy
            .deny
            .iter()
            .filter(|n| !defaults.contains(n))
            .copied()
            .collect();
        let _ = writeln!(
            out,
            "# always refused unless allowed: {}",
            netpolicy::DEFAULT_DENY.join(", ")
        );
        let _ = writeln!(out, "deny_networks = [{}]", nets(&added));
        let _ = writeln!(out, "allow_networks = [{}]", nets(&d.policy.allow));
        let _ = writeln!(out, "queue_limit = {}", d.queue_limit);
        let _ = writeln!(
            out,
            "\n[log]\nmax_entries = {}\nmax_age_days = {}",
            self.log.max_entries,
            self.log.max_age.as_secs_f64() / 86_400.0
        );
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
        let web = &self.web;
        let listen: Vec<String> = web.listen.iter().map(|a| q(&a.to_string())).collect();
        let _ = writeln!(out, "\n[web]\nlisten = [{}]", listen.join(", "));
        if let Some(tls) = web.tls {
            let _ = writeln!(out, "tls = {tls}");
        }
        for (key, path) in [("tls_cert", &web.tls_cert), ("tls_key", &web.tls_key)] {
            if let Some(path) = path {
                let _ = writeln!(out, "{key} = {}", q(&path.to_string_lossy()));
            }
        }
        let _ = writeln!(out, "metrics = {}", web.metrics);
        if !web.hosts.is_empty() {
            let hosts: Vec<String> = web.hosts.iter().map(|h| q(h)).collect();
            let _ = writeln!(out, "hosts = [{}]", hosts.join(", "));
        }
        out
    }
}

/// `s` as a TOML basic string (also a JSON string). Every control character is escaped, DEL
/// and C1 too (which JSON encoders leave raw), and the bidirectional controls, so `check`
/// never writes one to a terminal.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if crate::core::event::needs_escape(c) => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests;
