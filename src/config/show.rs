//! The effective configuration as TOML, for `sharehook check`: every default filled in and
//! secrets redacted.

use std::fmt::Write as _;

use super::*;

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
                q(&crate::core::redact::redact_url(&hook.url))
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
            if let Some(creds) = &hook.credentials {
                let _ = writeln!(out, "credentials_file = {}", q(&creds.to_string_lossy()));
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
        let a = &self.attribution;
        let _ = writeln!(out, "\n[attribution]");
        if let Some(path) = &a.samba_audit {
            let _ = writeln!(out, "samba_audit = {}", q(&path.to_string_lossy()));
        }
        // The prefix's secret field is not shown: this output is pasted into questions.
        let prefix: Vec<&str> = a
            .samba_prefix
            .split('|')
            .map(|f| {
                if !f.contains('%') && f.len() >= 8 {
                    "***"
                } else {
                    f
                }
            })
            .collect();
        let _ = writeln!(out, "samba_prefix = {}", q(&prefix.join("|")));
        if let Some(path) = &a.sftp_log {
            let _ = writeln!(out, "sftp_log = {}", q(&path.to_string_lossy()));
        }
        if let Some(chroot) = &a.sftp_chroot {
            let _ = writeln!(out, "sftp_chroot = {}", q(chroot));
        }
        let _ = writeln!(out, "fanotify = {}", a.fanotify);
        let _ = writeln!(out, "download_min_bytes = {}", a.download_min_bytes);
        let _ = writeln!(out, "download_window = {}", a.download_window.as_secs_f64());
        let users: Vec<String> = a.download_ignore_users.iter().map(|u| q(u)).collect();
        let _ = writeln!(out, "download_ignore_users = [{}]", users.join(", "));
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
pub(super) fn toml_string(s: &str) -> String {
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
