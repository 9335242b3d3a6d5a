//! How the shares and webhooks are doing, in one `Status`: from the running daemon's figures
//! (`core::stats::Stats`) and from the state (queued and failed counts, health, index sizes), or
//! from the state alone when no daemon runs. `sharehook status` prints it for people, or as
//! JSON; the API serves the same JSON.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::core::event::Operation;
use crate::core::payload::rfc3339;
use crate::core::redact::redact_url;
use crate::core::stats::{self, RESULTS, Stats};
use crate::store::Store;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Whether the daemon runs (false: what follows is what the state says).
    pub running: bool,
    pub daemon: DaemonStatus,
    /// The web server, when it runs.
    pub web: Option<WebStatus>,
    pub shares: Vec<ShareStatus>,
    pub webhooks: Vec<WebhookStatus>,
    /// How reading each file server's log goes, when the daemon runs with `[attribution]
    /// samba_audit` or `sftp_log`.
    pub attribution: Vec<AttributionStatus>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributionStatus {
    /// `samba` or `sftp`.
    pub source: String,
    pub log: String,
    pub records: u64,
    pub doubtful_lines: u64,
    pub waiting: u64,
    pub last_record_at: Option<String>,
    /// What is wrong, said for people: the log cannot be read, or no record came yet.
    pub problem: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonStatus {
    pub version: String,
    /// When the running daemon started (RFC 3339); none when it does not run.
    pub started_at: Option<String>,
    pub uptime_seconds: Option<u64>,
    /// Folders watched with inotify, over every share.
    pub watches: Option<u64>,
}

/// Where the web server listens; filled in by the server.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebStatus {
    /// Base URLs, e.g. `https://192.168.1.5:8080`.
    pub listen: Vec<String>,
    pub tls: bool,
    /// The SHA-256 fingerprint of the server's certificate.
    pub fingerprint: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShareStatus {
    pub name: String,
    pub path: String,
    /// `inotify` or `poll`; none when the daemon does not run.
    pub watch_mode: Option<String>,
    /// Why the share is polled.
    pub watch_reason: Option<String>,
    pub folders_watched: Option<u64>,
    pub index_entries: Option<u64>,
    pub last_event: Option<LastEventStatus>,
    /// Events reported since the daemon started, by operation (`upload`, `createFolder`...).
    pub events: BTreeMap<String, u64>,
    pub overflows: u64,
    /// Reconciles since the daemon started, by reason.
    pub rescans: BTreeMap<String, u64>,
    /// What keeps folders from being watched or read, in words.
    pub problems: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastEventStatus {
    pub time: String,
    /// The v1 operation name (`Upload`, `Create Folder`...).
    pub operation: String,
    pub path: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookStatus {
    pub id: u32,
    /// Credentials and query string hidden.
    pub url: String,
    pub share: String,
    pub folder: String,
    /// `v1` or `v2`.
    #[serde(default)]
    pub format: String,
    pub queued: u64,
    pub failed: u64,
    /// Events the queue limit dropped, ever.
    pub dropped: u64,
    pub disabled: bool,
    pub disabled_reason: Option<String>,
    pub disabled_since: Option<String>,
    /// The first failure since the last success.
    pub failing_since: Option<String>,
    /// Attempts since the daemon started, by result (`2xx`, `4xx`, `5xx`, `transport`).
    pub deliveries: BTreeMap<String, u64>,
    pub last_success: Option<String>,
    pub last_failure: Option<FailureStatus>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureStatus {
    pub time: String,
    /// The HTTP status, or with `statusKind` `transport` the curl-style error code.
    pub status: u32,
    pub status_kind: String,
    pub error: Option<String>,
}

/// What only the running daemon knows.
pub struct Running<'a> {
    pub stats: &'a Stats,
    pub started_ms: i64,
    pub web: Option<WebStatus>,
}

/// The status of `config`'s shares and webhooks, from `store` and, when the daemon runs, its
/// figures. Figures the state cannot give are left out rather than failing the whole.
pub fn collect(
    config: &Config,
    store: &Store,
    running: Option<Running<'_>>,
    now_ms: i64,
) -> Status {
    let stats = running.as_ref().map(|r| r.stats);
    let shares = config
        .shares
        .iter()
        .map(|share| {
            let figures = stats.map(|s| s.share(&share.name));
            let watching = figures.as_ref().map(|f| f.watching());
            let last_event = figures.as_ref().and_then(|f| f.last_event());
            let mut problems = Vec::new();
            if let Some(w) = &watching {
                describe_problem(
                    &mut problems,
                    &w.over_limit,
                    "past the inotify watch limit (fs.inotify.max_user_watches), read every poll interval instead",
                );
                describe_problem(
                    &mut problems,
                    &w.unreadable,
                    "cannot be read; their entries are kept as they were, and read again every poll interval",
                );
                describe_problem(
                    &mut problems,
                    &w.unwatchable,
                    "can be read but not watched, read every poll interval instead",
                );
            }
            ShareStatus {
                name: share.name.clone(),
                path: share.path.display().to_string(),
                watch_mode: watching.as_ref().map(|w| {
                    if w.polled.is_some() { "poll" } else { "inotify" }.to_owned()
                }),
                watch_reason: watching.as_ref().and_then(|w| w.polled.clone()),
                folders_watched: watching.as_ref().map(|w| w.folders_watched),
                index_entries: store.index_entries(&share.name).ok(),
                last_event: last_event.map(|e| LastEventStatus {
                    time: rfc3339(e.time_ms),
                    operation: e.operation.v1_name().to_owned(),
                    path: e.path,
                }),
                events: figures
                    .as_ref()
                    .map(|f| {
                        Operation::ALL
                            .iter()
                            .map(|op| (op.trigger().to_owned(), f.events(*op)))
                            .collect()
                    })
                    .unwrap_or_default(),
                overflows: figures.as_ref().map_or(0, |f| {
                    f.overflows.load(std::sync::atomic::Ordering::Relaxed)
                }),
                rescans: figures
                    .as_ref()
                    .map(|f| {
                        f.rescans()
                            .into_iter()
                            .map(|(k, v)| (k.to_owned(), v))
                            .collect()
                    })
                    .unwrap_or_default(),
                problems,
            }
        })
        .collect();

    // Every webhook, those made through the API too; the file's alone if the state cannot
    // be read.
    let all = crate::service::hooks::all_webhooks(config, store)
        .unwrap_or_else(|_| config.webhooks.clone());
    // The last outcomes: the daemon's, which it took from the log as it started; with no
    // daemon, from the log now.
    let offline;
    let outcomes = match stats {
        Some(stats) => stats,
        None => {
            offline = Stats::default();
            let ids: Vec<u32> = all.iter().map(|w| w.id).collect();
            crate::service::metrics::seed_from_log(&offline, store, &ids);
            &offline
        }
    };
    let webhooks = all
        .iter()
        .map(|hook| {
            let figures = stats.map(|s| s.webhook(hook.id));
            let (queued, dropped) = store.queue_counts(hook.id).unwrap_or((0, 0));
            let health = store.health(hook.id).unwrap_or_default();
            let outcome = outcomes.webhook(hook.id);
            let last_success = outcome.last_success_ms();
            let last_failure = outcome.last_failure().map(|f| FailureStatus {
                time: rfc3339(f.time_ms),
                status: f.status,
                status_kind: if f.transport { "transport" } else { "http" }.to_owned(),
                error: (!f.message.is_empty()).then_some(f.message),
            });
            WebhookStatus {
                id: hook.id,
                url: redact_url(&hook.url),
                share: hook.share.clone(),
                folder: hook.folder.to_string(),
                format: hook.format.name().to_owned(),
                queued,
                failed: store.failed_count(hook.id).unwrap_or(0),
                dropped,
                disabled: health.disabled.is_some(),
                disabled_reason: health.disabled.as_ref().map(|d| d.reason.clone()),
                disabled_since: health.disabled.as_ref().map(|d| rfc3339(d.since_ms)),
                failing_since: health.failing_since_ms.map(rfc3339),
                deliveries: figures
                    .as_ref()
                    .map(|f| {
                        RESULTS
                            .iter()
                            .zip(f.results())
                            .map(|(k, v)| ((*k).to_owned(), v))
                            .collect()
                    })
                    .unwrap_or_default(),
                last_success: last_success.map(rfc3339),
                last_failure,
            }
        })
        .collect();

    let (started_at, uptime_seconds, watches, web) = match running {
        Some(r) => (
            Some(rfc3339(r.started_ms)),
            Some(u64::try_from((now_ms - r.started_ms) / 1000).unwrap_or(0)),
            Some(r.stats.watches.load(std::sync::atomic::Ordering::Relaxed)),
            r.web,
        ),
        None => (None, None, None, None),
    };
    let attribution = stats.map_or_else(Vec::new, |s| {
        let figures = s
            .attribution
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        config
            .attribution
            .logs()
            .into_iter()
            .map(|(source, path)| {
                let f = figures
                    .iter()
                    .find(|f| f.source == source)
                    .cloned()
                    .unwrap_or_else(|| crate::core::stats::AttributionFigures {
                        source: source.to_owned(),
                        log: path.display().to_string(),
                        ..Default::default()
                    });
                let problem = f.trouble.clone().or_else(|| {
                    (f.records == 0).then(|| match source {
                        "samba" => "no audit record seen since the daemon started: is \
                                    full_audit configured (see sharehook setup samba)?"
                            .to_owned(),
                        _ => "no SFTP record seen since the daemon started: does the SFTP \
                              server log at INFO to this file (see sharehook setup sftp)?"
                            .to_owned(),
                    })
                });
                AttributionStatus {
                    source: f.source,
                    log: f.log,
                    records: f.records,
                    doubtful_lines: f.doubtful,
                    waiting: f.waiting,
                    last_record_at: f.last_record_ms.map(rfc3339),
                    problem,
                }
            })
            .collect()
    });
    Status {
        attribution,
        running: started_at.is_some(),
        daemon: DaemonStatus {
            version: crate::VERSION.to_owned(),
            started_at,
            uptime_seconds,
            watches,
        },
        web,
        shares,
        webhooks,
    }
}

fn describe_problem(out: &mut Vec<String>, p: &stats::Problem, what: &str) {
    if p.count == 0 {
        return;
    }
    let folders = if p.count == 1 { "folder" } else { "folders" };
    let example = match (&p.example, &p.error) {
        (Some(path), Some(e)) => format!(" (such as {path}: {e})"),
        (Some(path), None) => format!(" (such as {path})"),
        _ => String::new(),
    };
    out.push(format!("{} {folders}{example} {what}", p.count));
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::cli::status::to_text;
    use crate::config::Config;
    use crate::core::event::{Event, SharePath};
    use crate::core::outcome::Outcome;

    fn setup() -> (tempfile::TempDir, Config, Store) {
        let dir = tempfile::tempdir().unwrap();
        let share = dir.path().join("share");
        std::fs::create_dir(&share).unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir(&state).unwrap();
        let config = Config::one_share(
            "public",
            &share.canonicalize().unwrap(),
            &state,
            "http://user:hunter2pw@127.0.0.1:9/hook?key=topsecretkey",
        );
        let store = Store::open(&state).unwrap();
        (dir, config, store)
    }

    #[test]
    fn the_running_status_says_what_the_figures_and_the_state_say() {
        let (_dir, config, store) = setup();
        let stats = Stats::default();
        let share = stats.share("public");
        share.reported(&Event {
            id: 9,
            op: Operation::Upload,
            share: "public".into(),
            path: SharePath::from_config("/docs/a\u{1b}[2J.txt"),
            source: None,
            is_dir: false,
            username: "alice".into(),
            time_ms: 1_795_338_303_042,
            size: Some(3),
            protocol: None,
            address: String::new(),
            attribution: crate::core::event::Attribution::Owner,
        });
        share.set_watching(stats::Watching {
            folders_watched: 4,
            over_limit: stats::Problem {
                count: 2,
                example: Some("/srv/public/deep".into()),
                error: None,
            },
            ..Default::default()
        });
        stats.watches.store(4, Ordering::Relaxed);
        let hook = stats.webhook(1);
        let now = 1_795_338_400_000;
        hook.attempted(
            &Outcome::Answered {
                status: 200,
                size: 0,
                excerpt: Vec::new(),
                retry_after: None,
            },
            Some(now - 100),
            now - 50_000,
        );
        hook.attempted(
            &Outcome::Failed {
                code: 7,
                message: "connection refused".into(),
            },
            Some(now),
            now,
        );
        let running = Running {
            stats: &stats,
            started_ms: now - 3_600_000,
            web: None,
        };
        let status = collect(&config, &store, Some(running), now);
        let text = to_text(&status);
        for expected in [
            "running since 2026-11-22T08:06:40.000Z (up 60 min)",
            "share public  ",
            "watched with inotify: 4 folders watched",
            "index: 0 entries",
            "last event: 2026-11-22T09:05:03.042Z Upload /docs/a\\x1b[2J.txt",
            "problem: 2 folders (such as /srv/public/deep) past the inotify watch limit",
            "webhook 1  http://user:***@127.0.0.1:9/hook?…  (share public folder /)",
            "0 queued, 0 failed",
            "since start: 1 delivered, 0 refused (4xx), 0 failed (5xx), 1 unreachable",
            "last success: 2026-11-22T09:05:50.000Z",
            "last failure: 2026-11-22T09:06:40.000Z error 7: connection refused",
        ] {
            assert!(text.contains(expected), "{expected:?} not in:\n{text}");
        }
        // (Values no temporary folder's random name can hold by chance.)
        assert!(
            !text.contains("hunter2pw") && !text.contains("topsecretkey"),
            "{text}"
        );
        assert!(
            !text.contains('\u{1b}'),
            "no raw escape reaches the terminal"
        );
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["running"], true);
        assert_eq!(json["shares"][0]["watchMode"], "inotify");
        assert_eq!(json["shares"][0]["foldersWatched"], 4);
        assert_eq!(json["shares"][0]["events"]["upload"], 1);
        assert_eq!(
            json["shares"][0]["lastEvent"]["path"],
            "/docs/a\u{1b}[2J.txt"
        );
        assert_eq!(json["webhooks"][0]["deliveries"]["2xx"], 1);
        assert_eq!(
            json["webhooks"][0]["lastFailure"]["statusKind"],
            "transport"
        );
        assert_eq!(json["daemon"]["uptimeSeconds"], 3600);
        assert!(json["web"].is_null());
    }

    #[test]
    fn the_stopped_status_says_so_and_still_counts_from_the_state() {
        let (_dir, config, store) = setup();
        let status = collect(&config, &store, None, 0);
        let text = to_text(&status);
        assert!(text.contains("the daemon is not running"), "{text}");
        assert!(text.contains("0 queued, 0 failed"), "{text}");
        assert!(!text.contains("since start"), "{text}");
        assert!(!status.running);
        assert!(status.shares[0].watch_mode.is_none());
    }
}
