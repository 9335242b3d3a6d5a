//! `sharehook status` as text for people: the daemon, each share and each webhook, one
//! line each with what is wrong said after it.

use crate::core::event::escape_controls;
use crate::deliver::human;
use crate::service::status::*;
use std::fmt::Write as _;
use std::time::Duration;

/// The status for people, control characters escaped.
pub fn to_text(s: &Status) -> String {
    let mut o = String::new();
    let d = &s.daemon;
    match (&d.started_at, d.uptime_seconds) {
        (Some(at), Some(up)) => {
            let up = if up == 0 {
                "less than a second".to_owned()
            } else {
                human(Duration::from_secs(up))
            };
            let _ = writeln!(o, "sharehook {}: running since {at} (up {up})", d.version);
        }
        _ => {
            let _ = writeln!(
                o,
                "sharehook {}: the daemon is not running; what follows is what the state says",
                d.version
            );
        }
    }
    if let Some(w) = &s.web {
        let _ = write!(o, "web: {}", escape_controls(&w.listen.join(", ")));
        if let Some(f) = &w.fingerprint {
            let _ = write!(o, " (certificate SHA-256 {f})");
        }
        o.push('\n');
    }
    for a in &s.attribution {
        let what = if a.source == "samba" {
            "Samba's audit log"
        } else {
            "the SFTP log"
        };
        let _ = write!(
            o,
            "attribution: {what} {}: {} records read",
            escape_controls(&a.log),
            a.records
        );
        if let Some(at) = &a.last_record_at {
            let _ = write!(o, ", the last at {at}");
        }
        if let Some(p) = &a.problem {
            let _ = write!(o, "\n  {}", escape_controls(p));
        }
        o.push('\n');
    }
    for share in &s.shares {
        let _ = writeln!(o, "\nshare {}  {}", share.name, share.path);
        match (share.watch_mode.as_deref(), &share.watch_reason) {
            (Some("poll"), Some(why)) => {
                let _ = writeln!(o, "  polled: {why}");
            }
            (Some(_), _) => {
                let _ = writeln!(
                    o,
                    "  watched with inotify: {} folders watched",
                    share.folders_watched.unwrap_or(0)
                );
            }
            (None, _) => {}
        }
        if let Some(n) = share.index_entries {
            let _ = writeln!(
                o,
                "  index: {n} {}",
                if n == 1 { "entry" } else { "entries" }
            );
        }
        if let Some(e) = &share.last_event {
            let _ = writeln!(o, "  last event: {} {} {}", e.time, e.operation, e.path);
        }
        if share.watch_mode.is_some() {
            let total: u64 = share.events.values().sum();
            let _ = write!(o, "  events since start: {total}");
            if share.overflows > 0 {
                let _ = write!(
                    o,
                    ", {} overflows of the kernel's queue (each followed by a rescan)",
                    share.overflows
                );
            }
            o.push('\n');
        }
        for p in &share.problems {
            let _ = writeln!(o, "  problem: {p}");
        }
    }
    for hook in &s.webhooks {
        let _ = writeln!(
            o,
            "\nwebhook {}  {}  (share {} folder {})",
            hook.id, hook.url, hook.share, hook.folder
        );
        let _ = write!(o, "  {} queued, {} failed", hook.queued, hook.failed);
        if hook.dropped > 0 {
            let _ = write!(o, ", {} dropped by the queue limit", hook.dropped);
        }
        o.push('\n');
        if s.running {
            let n = |k: &str| hook.deliveries.get(k).copied().unwrap_or(0);
            let _ = writeln!(
                o,
                "  since start: {} delivered, {} refused (4xx), {} failed (5xx), {} unreachable",
                n("2xx"),
                n("4xx"),
                n("5xx"),
                n("transport")
            );
        }
        if let Some(t) = &hook.last_success {
            let _ = writeln!(o, "  last success: {t}");
        }
        if let Some(f) = &hook.last_failure {
            let what = match (f.status_kind.as_str(), &f.error) {
                ("transport", Some(e)) => format!("error {}: {e}", f.status),
                ("transport", None) => format!("error {}", f.status),
                _ => format!("HTTP {}", f.status),
            };
            let _ = writeln!(o, "  last failure: {} {what}", f.time);
        }
        if let Some(since) = &hook.failing_since {
            let _ = writeln!(o, "  failing since {since}");
        }
        if hook.disabled {
            let _ = writeln!(
                o,
                "  DISABLED since {}: {} (sharehook enable {} sends again)",
                hook.disabled_since.as_deref().unwrap_or("?"),
                hook.disabled_reason.as_deref().unwrap_or("?"),
                hook.id
            );
        }
    }
    let mut out = String::with_capacity(o.len());
    for line in o.lines() {
        out.push_str(&escape_controls(line));
        out.push('\n');
    }
    out
}
