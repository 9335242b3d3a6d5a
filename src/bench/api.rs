//! `sharehook bench --api`: how many requests a second the management API answers on this
//! machine, and the memory its server adds. A temporary state gets a delivery log of
//! `entries` attempts and an admin's key and token; the API is served on loopback by the same
//! server and runtime the daemon uses; clients with kept-alive connections then ask, for a few
//! seconds each: a route that does no work (the baseline of the same run), the users, the
//! newest page of the log, and a filtered page (which reads the whole log).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::config::{Config, WebSettings};
use crate::core::event::{Event, Operation, SharePath};
use crate::service::access::{self, Caller, Role};
use crate::store::{Flush, LogEntry, Store};

/// Client threads: the machines this runs on have two cores.
const CLIENTS: usize = 2;

pub fn run(entries: usize, secs: f64) -> anyhow::Result<()> {
    let dir = tempfile_dir()?;
    let share = dir.join("share");
    std::fs::create_dir_all(&share)?;
    let state = dir.join("state");
    let result = bench(
        &share,
        &state,
        entries,
        Duration::from_secs_f64(secs.max(0.5)),
    );
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let base = std::env::temp_dir().join(format!("sharehook-apibench-{}", std::process::id()));
    std::fs::create_dir_all(&base).with_context(|| format!("cannot create {}", base.display()))?;
    Ok(base)
}

fn bench(
    share: &std::path::Path,
    state: &std::path::Path,
    entries: usize,
    each: Duration,
) -> anyhow::Result<()> {
    let mut config = Config::one_share("bench", share, state, "http://127.0.0.1:9/hook");
    config.web = WebSettings {
        listen: vec!["127.0.0.1:0".parse()?],
        listen_given: true,
        ..WebSettings::default()
    };
    let store = Arc::new(Store::open(state)?);
    println!("sharehook bench --api: a delivery log of {entries} attempts");
    let filled = Instant::now();
    fill_log(&store, entries)?;
    println!(
        "  log written in {:.1} s ({} entries)",
        filled.elapsed().as_secs_f64(),
        store.log_len()?
    );
    let me = Caller::local();
    access::user_add(&store, &me, "bench", Role::Admin, "bench-password")?;
    let key = access::apikey_add(&store, &me, &config.account_name, "bench", "")?.value;
    let token = access::token_add(&store, &me, &key, "bench")?.value;

    let stats: Arc<crate::core::stats::Stats> = Arc::default();
    let hooks =
        crate::service::hooks::Hooks::start(&config, Arc::clone(&store), Arc::clone(&stats))?;
    let rss_before = super::rss_kb("VmRSS:");
    let runtime = crate::daemon::runtime()?;
    let bound = runtime.block_on(crate::surface::web::bind(&config.web, state))?;
    let Some(base) = bound.info.urls.first().cloned() else {
        bail!("the server did not listen");
    };
    let control = crate::service::activity::Control::new(
        &config,
        Arc::clone(&store),
        Arc::clone(&hooks),
        stats,
        Arc::new(crate::service::resources::Resources::new(
            &config,
            Arc::clone(&store),
            Arc::default(),
        )),
        crate::deliver::now_ms(),
        bound.info.status(),
    );
    // What the daemon serves: the API with the page beside it, behind the check of names.
    let kept = Arc::new(crate::surface::page::Kept::default());
    let site = crate::surface::web::Site::new(crate::surface::web::router(control, &kept));
    let server = std::thread::Builder::new()
        .name("bench-server".into())
        .spawn(move || runtime.block_on(crate::surface::web::serve(bound, site)))?;
    let _ = server;

    let headers = [
        ("ev-api-key", key.as_str()),
        ("ev-access-token", token.as_str()),
    ];
    let routes = [
        (
            "baseline: an unknown route (404, no sign-in)",
            "/api/v2/no-such-route",
            false,
        ),
        ("GET /users", "/api/v2/users", true),
        (
            "GET /activity/webhooks (newest 100)",
            "/api/v2/activity/webhooks",
            true,
        ),
        (
            "GET /activity/webhooks?limit=10",
            "/api/v2/activity/webhooks?limit=10",
            true,
        ),
        (
            "GET /activity/webhooks?event=resources.delete&limit=10 (reads the whole log)",
            "/api/v2/activity/webhooks?event=resources.delete&limit=10",
            true,
        ),
    ];
    println!(
        "  {CLIENTS} clients, {:.1} s per route, kept-alive connections",
        each.as_secs_f64()
    );
    let mut baseline = None;
    for (name, path, signed) in routes {
        let url = format!("{base}{path}");
        let sign: &[(&str, &str)] = if signed { &headers } else { &[] };
        let rate = hammer(&url, sign, each)?;
        let base_rate = *baseline.get_or_insert(rate);
        println!(
            "  {rate:>9.0} req/s  ({:.2} of the baseline)  {name}",
            rate / base_rate
        );
    }
    let (rss_after, peak) = (super::rss_kb("VmRSS:"), super::rss_kb("VmHWM:"));
    if let (Some(before), Some(after), Some(peak)) = (rss_before, rss_after, peak) {
        println!(
            "  memory: {:.1} MiB resident before the server started, {:.1} MiB after the requests \
             (+{:.1} MiB: the server, its connections and the state's page cache), peak {:.1} MiB",
            before as f64 / 1024.0,
            after as f64 / 1024.0,
            after.saturating_sub(before) as f64 / 1024.0,
            peak as f64 / 1024.0
        );
    }
    hooks.stop(Duration::from_secs(5));
    Ok(())
}

/// Requests per second `url` is answered at, by `CLIENTS` clients for `each`.
fn hammer(url: &str, headers: &[(&str, &str)], each: Duration) -> anyhow::Result<f64> {
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..CLIENTS {
            let (done, failed) = (Arc::clone(&done), Arc::clone(&failed));
            scope.spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                while started.elapsed() < each {
                    let mut request = agent.get(url);
                    for (name, value) in headers {
                        request = request.header(*name, *value);
                    }
                    match request.call() {
                        Ok(mut r) if r.status().as_u16() < 500 => {
                            let _ = r.body_mut().read_to_vec();
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {
                            failed.store(true, Ordering::Relaxed);
                            return;
                        }
                    }
                }
            });
        }
    });
    if failed.load(Ordering::Relaxed) {
        bail!("{url} failed during the run");
    }
    Ok(done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}

/// Writes `n` log entries like real ones (a v2 body of about 600 bytes each).
fn fill_log(store: &Store, n: usize) -> anyhow::Result<()> {
    let ops = Operation::ALL;
    let start = crate::deliver::now_ms() - n as i64 * 1000;
    let mut written = 0;
    while written < n {
        let chunk = (n - written).min(5_000);
        let log: Vec<LogEntry> = (written..written + chunk)
            .map(|i| {
                let op = ops[i % ops.len()];
                let path = format!("/projects/p{}/file-{i}.pdf", i % 97);
                let time_ms = start + i as i64 * 1000;
                LogEntry {
                    id: 0,
                    time_ms,
                    webhook: 1,
                    format: "v2".into(),
                    attempt: 1,
                    resend: false,
                    url: "http://127.0.0.1:9/hook".into(),
                    status: if i % 10 == 0 { 500 } else { 200 },
                    transport: false,
                    message: String::new(),
                    response_size: 2,
                    response: b"ok".to_vec(),
                    duration_ms: 3,
                    body: format!(
                        r#"{{"accountName":"bench","attemptId":"{i}-1","event":"{}","eventTimestamp":"2026-11-22T10:00:00.000Z","ipAddress":"","protocol":"smb","username":"alice","eventData":{{"resources":[{{"id":"0123456789abcdef0123456789abcdef","hash":"0123456789abcdef0123456789abcdef","name":"file-{i}.pdf","path":"{path}","type":"file","createdBy":"alice","createdAt":"2026-11-22T10:00:00.000Z","updatedAt":"2026-11-22T10:00:00.000Z","size":123456,"fileCount":null}}],"transferStatus":"success"}}}}"#,
                        op.v2_name()
                    )
                    .into_bytes(),
                    event: Event {
                        id: i as u64 + 1,
                        op,
                        share: "bench".into(),
                        path: SharePath::from_config(&path),
                        source: None,
                        is_dir: false,
                        username: "alice".into(),
                        time_ms,
                        size: Some(123_456),
                        protocol: None,
                        address: String::new(),
                        attribution: crate::core::event::Attribution::Owner,
                    },
                }
            })
            .collect();
        store.flush(
            &Flush {
                webhook: 1,
                log,
                ..Flush::default()
            },
            crate::deliver::now_ms(),
        )?;
        written += chunk;
    }
    Ok(())
}
