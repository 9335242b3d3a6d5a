//! Starts and stops the running parts in order: the store, one delivery worker per webhook,
//! and the engine, which sets up the watches and reconciles each share before `start` returns.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::config::Config;
use crate::deliver::{Bell, Target, Worker, now_ms};
use crate::engine::{Engine, Setup};
use crate::send::{Client, ClientSettings, redact_url};
use crate::sign::Token;
use crate::store::Store;

pub struct Daemon {
    engine: Option<JoinHandle<()>>,
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
                client: Client::new(&ClientSettings {
                    connect_timeout: config.delivery.connect_timeout,
                    request_timeout: config.delivery.request_timeout,
                    policy: config.delivery.policy.clone(),
                    ca_file: hook.ca_file.clone(),
                })
                .map_err(|m| anyhow::anyhow!("webhook {}: {m}", hook.id))?,
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
        let mut daemon = Daemon {
            engine: None,
            workers,
            bells: bells.iter().map(|(_, b)| Arc::clone(b)).collect(),
            stop: Arc::clone(&stop),
            heartbeat: Arc::clone(&heartbeat),
            tokens,
        };
        let engine = Engine::start(Setup {
            shares: config.shares.clone(),
            webhooks: config.webhooks.clone(),
            schedule: config.delivery.schedule.clone(),
            watch: config.watch.clone(),
            store,
            bells,
            stop,
            heartbeat,
        });
        let engine = match engine {
            Ok(engine) => engine,
            Err(e) => {
                daemon.stop(Duration::from_secs(1));
                return Err(e);
            }
        };
        let handle = std::thread::Builder::new()
            .name("engine".into())
            .spawn(move || engine.run())
            .context("cannot start the engine thread")?;
        daemon.engine = Some(handle);
        Ok(daemon)
    }

    /// True while the engine goes round (it does at least twice a second).
    pub fn alive(&self) -> bool {
        now_ms() - self.heartbeat.load(Ordering::Relaxed) < 30_000
    }

    /// Stops watching (what is held but not yet reported is found again by the next start's
    /// reconcile), lets each worker finish the attempt it is making (waiting at most `grace`
    /// in all), then returns.
    pub fn stop(&mut self, grace: Duration) {
        let deadline = Instant::now() + grace;
        self.stop.store(true, Ordering::SeqCst);
        if let Some(engine) = self.engine.take() {
            join_until(engine, deadline, "the engine");
        }
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
