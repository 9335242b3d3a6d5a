//! Starts and stops the running parts in order: the store, one delivery worker per webhook,
//! the pipeline, and last the watches (so nothing is seen before it can be queued).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc::sync_channel;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::config::Config;
use crate::deliver::{Bell, Target, Worker, now_ms};
use crate::owner::Owners;
use crate::pipeline::Pipeline;
use crate::send::{Client, redact_url};
use crate::sign::Token;
use crate::store::Store;
use crate::watch::{self, Watcher};

/// Hints waiting between the watcher and the pipeline; when full, the watcher waits.
const HINT_QUEUE: usize = 16 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Daemon {
    watcher: Option<Watcher>,
    pipeline: Option<JoinHandle<()>>,
    workers: Vec<JoinHandle<()>>,
    bells: Vec<Arc<Bell>>,
    stop: Arc<AtomicBool>,
    heartbeat: Arc<AtomicI64>,
    /// Each webhook's verification token, by webhook id (the demo's receiver checks them).
    pub tokens: Vec<(u32, Token)>,
}

impl Daemon {
    /// Starts everything; when it returns, every share is watched.
    pub fn start(config: &Config) -> anyhow::Result<Daemon> {
        let store = Arc::new(Store::open(&config.state_dir)?);
        let stop = Arc::new(AtomicBool::new(false));
        let protocols: HashMap<String, String> = config
            .shares
            .iter()
            .map(|s| (s.name.clone(), s.protocol.clone()))
            .collect();

        let mut tokens = Vec::new();
        let mut bells = Vec::new();
        let mut workers = Vec::new();
        for hook in &config.webhooks {
            let (token, moved) = store.webhook_token(hook.id, &hook.url, hook.token.as_ref())?;
            if let Some(old) = moved {
                log::warn!(
                    "webhook {}: its URL changed from {} to {}; its queued events go to the new one",
                    hook.id,
                    redact_url(&old),
                    redact_url(&hook.url)
                );
            }
            let triggers: Vec<&str> = hook.triggers.iter().map(|t| t.trigger()).collect();
            log::info!(
                "webhook {}: {} for share {} folder {} on {}; {} queued, {} failed",
                hook.id,
                redact_url(&hook.url),
                hook.share,
                hook.folder,
                triggers.join(", "),
                store.pending_count(hook.id)?,
                store.failed_count(hook.id)?
            );
            let bell = Arc::new(Bell::default());
            let worker = Worker {
                target: Target {
                    id: hook.id,
                    url: hook.url.clone(),
                    token: token.clone(),
                    account_name: config.account_name.clone(),
                    protocols: protocols.clone(),
                    schedule: config.delivery.schedule.clone(),
                },
                store: Arc::clone(&store),
                client: Client::new(CONNECT_TIMEOUT, REQUEST_TIMEOUT),
                bell: Arc::clone(&bell),
                stop: Arc::clone(&stop),
            };
            workers.push(worker.spawn());
            bells.push((hook.id, bell));
            tokens.push((hook.id, token));
        }
        for id in store.webhooks_with_pending()? {
            if !config.webhooks.iter().any(|w| w.id == id) {
                log::warn!(
                    "webhook {id} is no longer configured; its {} queued events are kept in the state",
                    store.pending_count(id)?
                );
            }
        }

        let heartbeat = Arc::new(AtomicI64::new(now_ms()));
        let (tx, rx) = sync_channel(HINT_QUEUE);
        let pipeline = Pipeline {
            shares: config.shares.clone(),
            webhooks: config.webhooks.clone(),
            schedule: config.delivery.schedule.clone(),
            store,
            bells: bells.clone(),
            stop: Arc::clone(&stop),
            heartbeat: Arc::clone(&heartbeat),
            owners: Owners::new(),
        };
        let pipeline = std::thread::Builder::new()
            .name("pipeline".into())
            .spawn(move || pipeline.run(rx))
            .context("cannot start the pipeline thread")?;

        let roots: Vec<_> = config.shares.iter().map(|s| s.path.clone()).collect();
        let mut daemon = Daemon {
            watcher: None,
            pipeline: Some(pipeline),
            workers,
            bells: bells.into_iter().map(|(_, b)| b).collect(),
            stop,
            heartbeat,
            tokens,
        };
        match watch::start(&roots, tx) {
            Ok(watcher) => daemon.watcher = Some(watcher),
            Err(e) => {
                daemon.stop(Duration::from_secs(1));
                return Err(e.into());
            }
        }
        for share in &config.shares {
            log::info!(
                "watching share {} at {} (protocol {})",
                share.name,
                share.path.display(),
                share.protocol
            );
        }
        Ok(daemon)
    }

    /// True while the pipeline goes round (it does at least once a second).
    pub fn alive(&self) -> bool {
        now_ms() - self.heartbeat.load(Ordering::Relaxed) < 30_000
    }

    /// Stops watching, commits what the pipeline holds, lets each worker finish the attempt
    /// it is making (waiting at most `grace` in all), then returns.
    pub fn stop(&mut self, grace: Duration) {
        let deadline = Instant::now() + grace;
        // Dropping the watcher closes the hint channel; the pipeline then flushes and ends.
        self.watcher = None;
        if let Some(pipeline) = self.pipeline.take() {
            join_until(pipeline, deadline, "the pipeline");
        }
        self.stop.store(true, Ordering::SeqCst);
        for bell in &self.bells {
            bell.ring();
        }
        for worker in self.workers.drain(..) {
            join_until(worker, deadline, "a delivery worker");
        }
    }
}

fn join_until(handle: JoinHandle<()>, deadline: Instant, what: &str) {
    while !handle.is_finished() {
        if Instant::now() >= deadline {
            log::warn!(
                "{what} did not finish in time; its work is kept in the state and resumes at the next start"
            );
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if handle.join().is_err() {
        log::error!("{what} ended with a panic");
    }
}
