//! The configuration file as written (the `Raw*` structs, with where each value was), read
//! and checked into one `Config`: every error names the file, the line and the key at fault.

use super::checks::{check_url, overlap};
use super::errors::*;
use super::*;

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
    attribution: Option<RawAttribution>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAttribution {
    samba_audit: Option<Spanned<String>>,
    samba_prefix: Option<Spanned<String>>,
    sftp_log: Option<Spanned<String>>,
    sftp_chroot: Option<Spanned<String>>,
    fanotify: Option<bool>,
    download_min_bytes: Option<Spanned<i64>>,
    download_window: Option<Spanned<f64>>,
    download_ignore_users: Option<Vec<String>>,
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
    credentials_file: Option<Spanned<String>>,
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
        let attribution = match raw.attribution {
            None => AttributionSettings::default(),
            Some(a) => self.check_attribution(a)?,
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
            attribution,
        })
    }

    fn check_attribution(&self, raw: RawAttribution) -> Result<AttributionSettings, ConfigError> {
        let mut out = AttributionSettings::default();
        if let Some(path) = raw.samba_audit {
            let given = Path::new(path.get_ref());
            if !given.is_absolute() {
                let msg = "the absolute path of Samba's full_audit log file";
                return Err(self.err(Some(path.span()), "attribution.samba_audit", msg));
            }
            out.samba_audit = Some(given.to_owned());
        }
        if let Some(path) = raw.sftp_log {
            let given = Path::new(path.get_ref());
            let journal = crate::evidence::journal::parse(given);
            if !given.is_absolute()
                && !journal.is_some_and(|dir| dir.is_none_or(|d| d.is_absolute()))
            {
                let msg = "the absolute path of the file syslog writes the SFTP server's log to, \
                           or \"journal\" (the system journal), or \"journal:DIR\" (the journal \
                           files in folder DIR)";
                return Err(self.err(Some(path.span()), "attribution.sftp_log", msg));
            }
            out.sftp_log = Some(given.to_owned());
        }
        if let Some(chroot) = raw.sftp_chroot {
            if !chroot.get_ref().starts_with('/') {
                let msg = "the absolute path of sshd's ChrootDirectory for SFTP (%u: the user)";
                return Err(self.err(Some(chroot.span()), "attribution.sftp_chroot", msg));
            }
            out.sftp_chroot = Some(chroot.into_inner());
        }
        if let Some(on) = raw.fanotify {
            out.fanotify = on;
        }
        if let Some(n) = raw.download_min_bytes {
            out.download_min_bytes =
                self.count(&n, "attribution.download_min_bytes", 0, i64::MAX)?;
        }
        if let Some(secs) = raw.download_window {
            out.download_window =
                self.seconds(&secs, "attribution.download_window", 0.0, 604_800.0, "")?;
        }
        if let Some(users) = raw.download_ignore_users {
            out.download_ignore_users = users;
        }
        if let Some(prefix) = raw.samba_prefix {
            crate::evidence::samba::Prefix::parse(prefix.get_ref())
                .map_err(|m| self.err(Some(prefix.span()), "attribution.samba_prefix", m))?;
            out.samba_prefix = prefix.into_inner();
        }
        Ok(out)
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
            None => Operation::CHANGES.to_vec(),
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
                load_ca_file(&path).map_err(|m| self.err(Some(f.span()), key("ca_file"), m))?;
                Some(path)
            }
        };
        let credentials = match &raw.credentials_file {
            None => None,
            Some(f) => {
                let path = self.resolve(f.get_ref());
                let fault = |m: String| self.err(Some(f.span()), key("credentials_file"), m);
                if crate::core::endpoint::broker_of(url)
                    != Some(crate::core::endpoint::Broker::Nats)
                {
                    return Err(fault(
                        "is for a nats:// or tls:// webhook (a NATS .creds or NKey seed file)"
                            .to_owned(),
                    ));
                }
                std::fs::metadata(&path)
                    .map_err(|e| fault(format!("cannot read {}: {e}", path.display())))?;
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
            credentials,
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
