//! The webhooks of the running daemon, from the configuration file and made through the
//! management API, each with its delivery worker; and the service that lists, makes, changes
//! and deletes them (the API and the command line call it; it knows nothing of HTTP).
//!
//! The engine routes every batch with the set as it is then (`Routes`, an `Arc` snapshot
//! swapped whole on each change), so a webhook made, changed or deleted takes effect at the
//! next batch without stopping anything else. A webhook never has two workers: a change stops
//! the old one (waiting for its attempt in flight) before the new one starts.
//!
//! Webhooks from the file are listed and can be enabled, but only the file changes them.

mod spec;

pub use spec::*;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::config::{Config, Format, Share, SignatureMode, Webhook};
use crate::core::event::{Operation, SharePath};
use crate::core::fault::{Fault, Kind};
use crate::core::redact::redact_url;
use crate::core::sign::Token;
use crate::deliver::{Mailbox, Request, Worker, now_ms};
pub use crate::engine::routes::Origin;
use crate::engine::routes::{Routes, Routing};
use crate::service::access::{self, Caller, Role};
use crate::store::{ApiWebhook, Store, StoreError};

/// One webhook with its running worker.
struct Live {
    origin: Origin,
    hook: Webhook,
    api: Option<ApiWebhook>,
    mailbox: Arc<Mailbox>,
    stop: Arc<AtomicBool>,
    worker: Option<crate::deliver::pool::Handle>,
}

impl Live {
    /// Stops the worker, waiting for the attempt it is making.
    fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.mailbox.bell.ring();
        if let Some(worker) = self.worker.take() {
            worker.wait();
        }
    }
}

/// The live webhooks of the running daemon (shared as `Arc<Hooks>`). A change waits for the
/// attempt the webhook's worker is making (at most the delivery timeouts), and `enable` for
/// the worker's answer: call them from a thread that may block (`spawn_blocking`), never
/// on an async runtime's own thread.
pub struct Hooks {
    config: Config,
    store: Arc<Store>,
    /// When this set was started: the `created` and `modified` times of the file's webhooks.
    started_ms: i64,
    /// Changes are made one at a time, under this lock.
    live: Mutex<BTreeMap<u32, Live>>,
    routes: Routes,
    /// Set once the daemon stops: nothing is changed after.
    stopped: AtomicBool,
    /// The figures each worker counts in (status, metrics).
    stats: Arc<crate::core::stats::Stats>,
    /// The threads that step every worker.
    pool: crate::deliver::pool::Pool,
    /// The HTTP clients made so far, by their settings: webhooks set up alike share one (its
    /// TLS setup and its idle connections).
    clients: Mutex<Vec<(String, crate::deliver::send::Client)>>,
}

/// A webhook as the API and the command line show it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct View {
    pub id: u32,
    pub origin: Origin,
    /// The configuration file, for a webhook defined there.
    pub file: Option<String>,
    pub endpoint_url: String,
    /// True while it is disabled (410 Gone, or failing for `disable_after`).
    pub failed: bool,
    pub disabled_reason: Option<String>,
    /// The token its deliveries are signed with (`None` once `for_viewer` took it out).
    pub verification_token: Option<String>,
    pub response_version: &'static str,
    pub triggers: Triggers,
    pub resource: String,
    pub share: String,
    /// Milliseconds since the Unix epoch; for a webhook from the file, when the daemon
    /// started with it.
    pub created_ms: i64,
    pub modified_ms: i64,
    /// Who made it through the API.
    pub created_by: Option<String>,
    /// `ok`, `failing` (since `failingSinceMs`) or `disabled`.
    pub health: &'static str,
    pub failing_since_ms: Option<i64>,
    /// Events waiting in its queue.
    pub queued: u64,
    /// Events set aside after their last attempt failed.
    pub failed_events: u64,
}

impl View {
    /// The view for someone who may not read secrets (a viewer): no token, and the URL
    /// without its credentials or secret-looking values (`redact::hide_secrets`).
    pub fn for_viewer(mut self) -> View {
        self.verification_token = None;
        self.endpoint_url = crate::core::redact::hide_secrets(&self.endpoint_url);
        self
    }
}

/// Why a webhook request was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("{field}: {detail}")]
    Invalid { field: String, detail: String },
    #[error("no webhook has id {0}")]
    NotFound(u32),
    #[error("webhook {id} is defined in the configuration file {file}: change it there")]
    FromFile { id: u32, file: String },
    #[error("{user} is a viewer: only an admin may change webhooks")]
    NotAdmin { user: String },
    #[error(transparent)]
    Store(StoreError),
    #[error("webhook {id}: {detail}")]
    Failed { id: u32, detail: String },
    #[error("sharehook is stopping or reloading; try again")]
    Stopping,
}

impl From<StoreError> for HookError {
    /// Said in the log where it happens: the caller is told only that it failed.
    fn from(e: StoreError) -> HookError {
        log::error!("webhooks: {e}");
        HookError::Store(e)
    }
}

impl Fault for HookError {
    fn kind(&self) -> Kind {
        match self {
            HookError::Invalid { field, .. } => Kind::invalid(field.clone()),
            HookError::NotFound(_) => Kind::NotFound,
            HookError::FromFile { .. } | HookError::NotAdmin { .. } => Kind::Forbidden,
            HookError::Store(_) | HookError::Failed { .. } | HookError::Stopping => Kind::Internal,
        }
    }
}

fn invalid(field: &str, detail: impl Into<String>) -> HookError {
    HookError::Invalid {
        field: field.to_owned(),
        detail: detail.into(),
    }
}

impl Hooks {
    /// Starts a worker for every webhook of `config` and of the state. Refuses a configuration
    /// that gives a webhook an id that a webhook made through the API holds. On an error,
    /// whatever was started is stopped again.
    pub fn start(
        config: &Config,
        store: Arc<Store>,
        stats: Arc<crate::core::stats::Stats>,
    ) -> anyhow::Result<Arc<Hooks>> {
        let made = store.api_webhooks()?;
        for api in &made {
            if let Some(file) = config.webhooks.iter().find(|w| w.id == api.id) {
                anyhow::bail!(
                    "{}: webhook id {} ({}) is the id of a webhook made through the API ({}, by \
                     {}); give the [[webhook]] another id (those made through the API have ids \
                     from {})",
                    file_name(config),
                    file.id,
                    redact_url(&file.url),
                    redact_url(&api.url),
                    api.created_by,
                    crate::store::FIRST_API_WEBHOOK_ID
                );
            }
        }
        let hooks = Arc::new(Hooks {
            config: config.clone(),
            store,
            started_ms: now_ms(),
            live: Mutex::new(BTreeMap::new()),
            routes: Routes::default(),
            stopped: AtomicBool::new(false),
            stats,
            pool: crate::deliver::pool::Pool::new(crate::deliver::pool::THREADS),
            clients: Mutex::new(Vec::new()),
        });
        let started = {
            let mut live = hooks.lock();
            let mut result = Ok(());
            for hook in &config.webhooks {
                result = hooks.launch(&mut live, Origin::File, hook.clone(), None);
                if result.is_err() {
                    break;
                }
            }
            if result.is_ok() {
                for api in made {
                    if !config.shares.iter().any(|s| s.name == api.share) {
                        log::warn!(
                            "webhook {}: share \"{}\" is no longer configured; the webhook hears \
                             nothing until it is again",
                            api.id,
                            api.share
                        );
                    }
                    result = hooks.launch(&mut live, Origin::Api, to_webhook(&api), Some(api));
                    if result.is_err() {
                        break;
                    }
                }
            }
            hooks.publish(&live);
            result
        };
        if let Err(e) = started {
            while !hooks.stop(Duration::from_secs(5)) {}
            return Err(e);
        }
        Ok(hooks)
    }

    /// What the engine routes with.
    pub fn routes(&self) -> Routes {
        self.routes.clone()
    }

    /// The mailbox of webhook `id`'s worker, if it runs.
    pub fn mailbox(&self, id: u32) -> Option<Arc<Mailbox>> {
        self.routes.current().mailbox(id).cloned()
    }

    /// The ids of the live webhooks.
    pub fn ids(&self) -> Vec<u32> {
        self.routes.current().ids()
    }

    /// The token webhook `id` signs with now.
    pub fn token(&self, id: u32) -> Result<Option<Token>, HookError> {
        Ok(self.store.webhook_token(id)?)
    }

    /// Every live webhook, by id.
    pub fn list(&self) -> Result<Vec<View>, HookError> {
        let routing = self.routes.current();
        routing
            .webhooks
            .iter()
            .zip(&routing.made)
            .map(|(hook, (origin, api))| self.view(hook, *origin, api.as_ref()))
            .collect()
    }

    pub fn get(&self, id: u32) -> Result<View, HookError> {
        let routing = self.routes.current();
        let (hook, (origin, api)) = routing
            .webhooks
            .iter()
            .zip(&routing.made)
            .find(|(hook, _)| hook.id == id)
            .ok_or(HookError::NotFound(id))?;
        self.view(hook, *origin, api.as_ref())
    }

    /// Makes a webhook and starts its worker: what happens on its folder from now on is
    /// delivered to it. Without `triggers`, it hears the five changes (not Download); with
    /// them, the ones set true. Without `resource`, the whole share (when there is one share).
    pub fn create(&self, caller: &Caller, spec: Spec) -> Result<View, HookError> {
        admin(caller)?;
        let url = spec
            .endpoint_url
            .as_deref()
            .ok_or_else(|| invalid("endpointUrl", "is required"))?;
        let now = now_ms();
        let mut record = ApiWebhook {
            id: 0,
            url: String::new(),
            share: String::new(),
            folder: SharePath::root(),
            format: Format::V1.name().to_owned(),
            triggers: if spec.triggers.is_some() {
                Vec::new()
            } else {
                Operation::CHANGES.to_vec()
            },
            signature: SignatureMode::Exavault.name().to_owned(),
            created_ms: now,
            modified_ms: now,
            created_by: caller.user.clone(),
        };
        let resource = spec.resource.as_deref().unwrap_or("/");
        apply(
            &self.config.shares,
            &mut record,
            &Spec {
                endpoint_url: Some(url.to_owned()),
                resource: Some(resource.to_owned()),
                ..spec
            },
        )?;
        let mut live = self.lock_for_change()?;
        let taken: Vec<u32> = self.config.webhooks.iter().map(|w| w.id).collect();
        record.id = self.store.add_api_webhook(&record, &taken)?;
        let id = record.id;
        if let Err(e) = self.launch(&mut live, Origin::Api, to_webhook(&record), Some(record)) {
            // Not kept: a webhook that is stored runs.
            if let Err(e) = self.store.remove_api_webhook(id) {
                log::error!("webhook {id} could not start and cannot be removed again: {e}");
            }
            return Err(failed(id, e));
        }
        self.publish(&live);
        drop(live);
        access::audit(
            &self.store,
            caller,
            &format!("created webhook {id}: {}", self.describe(id)),
        );
        self.get(id)
    }

    /// Changes an API webhook; its worker is replaced, so the next delivery follows the change.
    pub fn update(&self, caller: &Caller, id: u32, spec: Spec) -> Result<View, HookError> {
        admin(caller)?;
        let mut live = self.lock_for_change()?;
        let mut record = self.api_record(&live, id)?;
        apply(&self.config.shares, &mut record, &spec)?;
        record.modified_ms = now_ms();
        self.store.put_api_webhook(&record)?;
        self.replace(&mut live, id, to_webhook(&record), Some(record))?;
        self.publish(&live);
        drop(live);
        access::audit(
            &self.store,
            caller,
            &format!("changed webhook {id}: {}", self.describe(id)),
        );
        self.get(id)
    }

    /// Deletes an API webhook: nothing more is sent to it, nor queued for it after the batch
    /// the engine may be committing at that moment (routed with the set it read before). Its
    /// queued and failed events, token and log stay in the state, and its id is never given
    /// again.
    pub fn delete(&self, caller: &Caller, id: u32) -> Result<(), HookError> {
        admin(caller)?;
        let mut live = self.lock_for_change()?;
        self.api_record(&live, id)?;
        let what = self.describe(id);
        self.store.remove_api_webhook(id)?;
        let mut gone = live.remove(&id).expect("api_record found it");
        // Routed no more before its worker stops: the engine queues nothing new for it.
        self.publish(&live);
        gone.stop();
        drop(live);
        access::audit(
            &self.store,
            caller,
            &format!("deleted webhook {id}: {what}"),
        );
        Ok(())
    }

    /// Gives an API webhook a new token: its next delivery is signed with it, and the old one
    /// keeps signing beside it for `[delivery] rotation_grace`.
    pub fn regenerate_token(&self, caller: &Caller, id: u32) -> Result<View, HookError> {
        admin(caller)?;
        let mut live = self.lock_for_change()?;
        let record = self.api_record(&live, id)?;
        let grace = crate::core::retry::millis(self.config.delivery.rotation_grace);
        if self.store.rotate_token(id, grace, now_ms())?.is_none() {
            return Err(failed(id, "the state has no token for it"));
        }
        // The worker reads its keys when it starts.
        self.replace(&mut live, id, to_webhook(&record), Some(record))?;
        self.publish(&live);
        drop(live);
        access::audit(
            &self.store,
            caller,
            &format!("regenerated the token of webhook {id}"),
        );
        self.get(id)
    }

    /// Starts sending again for a disabled webhook (from the file or the API); returns whether
    /// it was disabled.
    pub fn enable(&self, caller: &Caller, id: u32) -> Result<bool, HookError> {
        admin(caller)?;
        let mailbox = self.mailbox(id).ok_or(HookError::NotFound(id))?;
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        mailbox.send(Request::Enable { reply: tx });
        // Polled rather than awaited: callers may or may not be inside a runtime.
        let deadline = Instant::now() + Duration::from_secs(30);
        let was_disabled = loop {
            match rx.try_recv() {
                Ok(answer) => break answer,
                Err(tokio::sync::oneshot::error::TryRecvError::Empty)
                    if Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(_) => return Err(failed(id, "its worker did not answer in time")),
            }
        };
        access::audit(&self.store, caller, &format!("enabled webhook {id}"));
        Ok(was_disabled)
    }

    /// Stops every worker, letting each finish the attempt it is making (waiting at most
    /// `grace` in all); returns whether all have stopped. What has not is kept, so a later
    /// call waits for it again. Nothing is changed afterwards.
    pub fn stop(&self, grace: Duration) -> bool {
        self.stopped.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + grace;
        let mut live = self.lock();
        for hook in live.values() {
            hook.stop.store(true, Ordering::SeqCst);
            hook.mailbox.bell.ring();
        }
        let mut all = true;
        for hook in live.values_mut() {
            if let Some(worker) = hook.worker.take()
                && !worker.wait_until(deadline)
            {
                log::warn!(
                    "the delivery worker of webhook {} did not finish in time; its work is \
                     kept in the state and resumes at the next start",
                    hook.hook.id
                );
                hook.worker = Some(worker);
                all = false;
            }
        }
        all
    }

    // ----- inside -----

    /// The HTTP client for `hook`: one made before with the same settings, or a new one.
    /// (A CA file is read again for each webhook that names it, so a changed file counts.)
    fn client(&self, hook: &Webhook) -> anyhow::Result<crate::deliver::send::Client> {
        let settings = crate::deliver::setup::client_settings(&self.config, hook);
        // A broker's link is the webhook's own connection.
        if settings.ca_file.is_some() || crate::core::endpoint::broker_of(&hook.url).is_some() {
            return crate::deliver::setup::client(&self.config, hook);
        }
        let key = format!("{settings:?}");
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, client)) = clients.iter().find(|(k, _)| *k == key) {
            return Ok(client.clone());
        }
        let client = crate::deliver::setup::client(&self.config, hook)?;
        clients.push((key, client.clone()));
        Ok(client)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u32, Live>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_for_change(&self) -> Result<std::sync::MutexGuard<'_, BTreeMap<u32, Live>>, HookError> {
        let live = self.lock();
        if self.stopped.load(Ordering::SeqCst) {
            return Err(HookError::Stopping);
        }
        Ok(live)
    }

    /// The stored settings of API webhook `id`; refused for one from the file.
    fn api_record(&self, live: &BTreeMap<u32, Live>, id: u32) -> Result<ApiWebhook, HookError> {
        let hook = live.get(&id).ok_or(HookError::NotFound(id))?;
        match (&hook.origin, &hook.api) {
            (Origin::Api, Some(api)) => Ok(api.clone()),
            _ => Err(HookError::FromFile {
                id,
                file: file_name(&self.config),
            }),
        }
    }

    /// Starts a worker for `hook` and adds it to `live` (published by the caller).
    fn launch(
        &self,
        live: &mut BTreeMap<u32, Live>,
        origin: Origin,
        hook: Webhook,
        api: Option<ApiWebhook>,
    ) -> anyhow::Result<()> {
        let (target, health) = crate::deliver::setup::target(&self.config, &hook, &self.store)?;
        let client = self.client(&hook)?;
        let (queued, dropped) = self.store.queue_counts(hook.id)?;
        let triggers: Vec<&str> = hook.triggers.iter().map(|t| t.trigger()).collect();
        log::info!(
            "webhook {}{}: {} ({}, signed {}) for share {} folder {} on {}; {queued} queued, {} failed{}",
            hook.id,
            if origin == Origin::Api {
                " (made through the API)"
            } else {
                ""
            },
            redact_url(&hook.url),
            hook.format.name(),
            hook.signature.name(),
            hook.share,
            hook.folder,
            triggers.join(", "),
            self.store.failed_count(hook.id)?,
            if dropped > 0 {
                format!(", {dropped} dropped by the queue limit so far")
            } else {
                String::new()
            }
        );
        // A replaced worker's mailbox goes on: the engine may ring it, and a request may be
        // waiting in it, while the new worker starts.
        let mailbox = live
            .get(&hook.id)
            .map(|old| Arc::clone(&old.mailbox))
            .unwrap_or_default();
        let stop = Arc::new(AtomicBool::new(false));
        let worker = Worker {
            client,
            target,
            store: Arc::clone(&self.store),
            mailbox: Arc::clone(&mailbox),
            stop: Arc::clone(&stop),
            health,
            stats: self.stats.webhook(hook.id),
        };
        let worker = Some(worker.start(&self.pool));
        live.insert(
            hook.id,
            Live {
                origin,
                hook,
                api,
                mailbox,
                stop,
                worker,
            },
        );
        Ok(())
    }

    /// Stops webhook `id`'s worker, then starts one for `hook`: never two at once.
    fn replace(
        &self,
        live: &mut BTreeMap<u32, Live>,
        id: u32,
        hook: Webhook,
        api: Option<ApiWebhook>,
    ) -> Result<(), HookError> {
        let origin = match live.get_mut(&id) {
            Some(old) => {
                old.stop();
                old.origin
            }
            None => return Err(HookError::NotFound(id)),
        };
        // Should the new one not start, the stopped one stays listed: it is in the state.
        self.launch(live, origin, hook, api).map_err(|e| {
            log::error!("webhook {id}: cannot start its worker again: {e:#}");
            failed(id, e)
        })
    }

    fn publish(&self, live: &BTreeMap<u32, Live>) {
        let mut routing = Routing::default();
        for hook in live.values() {
            routing.webhooks.push(hook.hook.clone());
            routing
                .mailboxes
                .push((hook.hook.id, Arc::clone(&hook.mailbox)));
            routing.made.push((hook.origin, hook.api.clone()));
        }
        self.routes.set(routing);
    }

    /// What webhook `id` is, for the record of a change.
    fn describe(&self, id: u32) -> String {
        let routing = self.routes.current();
        match routing.webhooks.iter().find(|w| w.id == id) {
            Some(hook) => {
                let triggers: Vec<&str> = hook.triggers.iter().map(|t| t.trigger()).collect();
                format!(
                    "{} ({}) for {} on {}",
                    redact_url(&hook.url),
                    hook.format.name(),
                    resource_string(&self.config.shares, &hook.share, &hook.folder),
                    if triggers.is_empty() {
                        "no trigger".to_owned()
                    } else {
                        triggers.join(", ")
                    }
                )
            }
            None => String::new(),
        }
    }

    fn view(
        &self,
        hook: &Webhook,
        origin: Origin,
        api: Option<&ApiWebhook>,
    ) -> Result<View, HookError> {
        let id = hook.id;
        let health = self.store.health(id)?;
        let (state, disabled_reason) = match (&health.disabled, health.failing_since_ms) {
            (Some(d), _) => ("disabled", Some(d.reason.clone())),
            (None, Some(_)) => ("failing", None),
            (None, None) => ("ok", None),
        };
        Ok(View {
            id,
            origin,
            file: (origin == Origin::File).then(|| file_name(&self.config)),
            endpoint_url: hook.url.clone(),
            failed: health.disabled.is_some(),
            disabled_reason,
            verification_token: self.store.webhook_token(id)?.map(|t| t.expose().to_owned()),
            response_version: hook.format.name(),
            triggers: Triggers::of(&hook.triggers),
            resource: resource_string(&self.config.shares, &hook.share, &hook.folder),
            share: hook.share.clone(),
            created_ms: api.map_or(self.started_ms, |a| a.created_ms),
            modified_ms: api.map_or(self.started_ms, |a| a.modified_ms),
            created_by: api.map(|a| a.created_by.clone()),
            health: state,
            failing_since_ms: health.failing_since_ms,
            queued: self.store.pending_count(id)?,
            failed_events: self.store.failed_count(id)?,
        })
    }
}

fn admin(caller: &Caller) -> Result<(), HookError> {
    match caller.role {
        Role::Admin => Ok(()),
        Role::Viewer => Err(HookError::NotAdmin {
            user: caller.user.clone(),
        }),
    }
}

fn failed(id: u32, detail: impl std::fmt::Display) -> HookError {
    HookError::Failed {
        id,
        detail: format!("{detail:#}"),
    }
}

fn file_name(config: &Config) -> String {
    config.source.as_ref().map_or_else(
        || "(the built-in configuration)".to_owned(),
        |p| p.display().to_string(),
    )
}

#[cfg(test)]
mod tests;
