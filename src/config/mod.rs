//! The configuration: the TOML file as written (raw), then one checked `Config` that the rest
//! of the program trusts. Every error names the file, the line and the key at fault.
//!
//! Layer 2: uses `core` (see `lib.rs`).

use std::collections::HashSet;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

mod checks;
mod errors;
mod read;
mod show;

pub use checks::check_url;
pub use read::{load, parse};

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
    pub attribution: AttributionSettings,
}

/// Where the file servers' records of who did what are read, and what counts as a download
/// (`[attribution]`).
#[derive(Clone, Debug, PartialEq)]
pub struct AttributionSettings {
    /// Samba's `vfs_full_audit` log file.
    pub samba_audit: Option<PathBuf>,
    /// Its `full_audit:prefix` (Samba's default `%u|%I`).
    pub samba_prefix: String,
    /// The file syslog writes OpenSSH's SFTP server log to.
    pub sftp_log: Option<PathBuf>,
    /// sshd's `ChrootDirectory` for SFTP sessions (`%u`: the user's name): the log's paths are
    /// inside it.
    pub sftp_chroot: Option<String>,
    /// Name the process (its user, local or NFS) of changes no server's log tells of, with
    /// the kernel's fanotify (root only).
    pub fanotify: bool,
    /// A read of a file counts as a download when it read the whole file or at least this
    /// many bytes (where the log says how many: SFTP's does, Samba's does not).
    pub download_min_bytes: u64,
    /// The same user reading the same file again within this time is one download.
    pub download_window: Duration,
    /// Users whose reads are never downloads (backups, antivirus, indexers).
    pub download_ignore_users: Vec<String>,
}

/// The default of `download_min_bytes`: 1 MiB.
pub const DOWNLOAD_MIN_BYTES: u64 = 1 << 20;
/// The default of `download_window`: 10 minutes.
pub const DOWNLOAD_WINDOW: Duration = Duration::from_secs(600);

impl Default for AttributionSettings {
    fn default() -> AttributionSettings {
        AttributionSettings {
            samba_audit: None,
            samba_prefix: crate::evidence::samba::DEFAULT_PREFIX.to_owned(),
            sftp_log: None,
            sftp_chroot: None,
            fanotify: false,
            download_min_bytes: DOWNLOAD_MIN_BYTES,
            download_window: DOWNLOAD_WINDOW,
            download_ignore_users: Vec::new(),
        }
    }
}

impl AttributionSettings {
    /// The logs read, each by its source's name (`samba`, `sftp`).
    pub fn logs(&self) -> Vec<(&'static str, PathBuf)> {
        [("samba", &self.samba_audit), ("sftp", &self.sftp_log)]
            .into_iter()
            .filter_map(|(name, path)| Some((name, path.clone()?)))
            .collect()
    }
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
    /// A NATS `.creds` or NKey seed file, for a `nats://` or `tls://` webhook.
    pub credentials: Option<PathBuf>,
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
                triggers: Operation::CHANGES.to_vec(),
                token: None,
                secret: None,
                signature: SignatureMode::Exavault,
                ca_file: None,
                credentials: None,
            }],
            delivery: Delivery::default(),
            log: LogSettings::default(),
            watch: WatchSettings::default(),
            web: WebSettings::default(),
            attribution: AttributionSettings::default(),
        }
    }
}

impl Config {
    /// What is allowed but probably not meant, for `check` and the daemon's start to say:
    /// secrets anyone on the machine can read, nothing to send to, nothing to report.
    /// `api_shares`: the share of each webhook made through the API (kept in the state).
    pub fn warnings(&self, api_shares: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        if self.attribution.samba_audit.is_some()
            && !crate::evidence::samba::Prefix::parse(&self.attribution.samba_prefix)
                .is_ok_and(|p| p.has_secret())
        {
            out.push(
                "attribution.samba_prefix has no secret field: a file name holding a newline can \
                 make a line that reads as another session's record (sharehook setup samba \
                 prints a prefix with one)"
                    .to_owned(),
            );
        }
        // SAFETY: geteuid cannot fail.
        if self.attribution.fanotify && unsafe { libc::geteuid() } != 0 {
            out.push(
                "attribution.fanotify: fanotify needs root; sharehook runs as another user, so \
                 changes no server's log tells of are reported with their files' owners"
                    .to_owned(),
            );
        }
        for (source, log) in self.attribution.logs() {
            if crate::evidence::journal::parse(&log).is_some() {
                continue;
            }
            if let Err(e) = std::fs::File::open(&log) {
                let key = if source == "samba" {
                    "samba_audit"
                } else {
                    "sftp_log"
                };
                out.push(format!(
                    "attribution.{key}: cannot read {}: {e}; changes are reported with their \
                     files' owners until it can be (see sharehook setup {source})",
                    crate::core::event::escape_controls(&log.to_string_lossy())
                ));
            }
        }
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
            ("[attribution]", self.attribution != old.attribution),
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
            ("credentials_file", self.credentials != old.credentials),
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
        if event.op == Operation::Copy {
            // A copy is news where it lands; one from outside the folder, or to a webhook
            // that does not ask for copies, is the Upload of the copy.
            if !inside_now {
                return None;
            }
            if inside_before == Some(false) || !self.triggers.contains(&Operation::Copy) {
                routed.op = Operation::Upload;
                routed.source = None;
            }
            return self.triggers.contains(&routed.op).then_some(routed);
        }
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

/// The certificates of a PEM file of certificate authorities; an error names the file.
pub fn load_ca_file(path: &Path) -> Result<Vec<ureq::tls::Certificate<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => return Err(format!("{} is not valid PEM: {e}", path.display())),
        }
    }
    if certs.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests;
