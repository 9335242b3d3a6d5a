//! The set of webhooks the engine routes each batch with: an `Arc` snapshot, swapped whole
//! by the service layer's `hooks` on each change, so a webhook made, changed or deleted takes
//! effect at the next batch without stopping anything else.

use std::sync::{Arc, RwLock};

use serde::Serialize;

use crate::config::Webhook;
use crate::deliver::Mailbox;
use crate::store::ApiWebhook;

/// Where a webhook is defined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// A `[[webhook]]` table of the configuration file: changed only there.
    File,
    /// Made through the management API, kept in the state.
    Api,
}

/// The set of webhooks at one moment: what the engine routes a batch with, and whose bells it
/// rings. Never changed: a change publishes a new one.
#[derive(Default)]
pub struct Routing {
    pub webhooks: Vec<Webhook>,
    pub mailboxes: Vec<(u32, Arc<Mailbox>)>,
    /// Beside `webhooks`, in the same order: where each is defined (and, for the API's, its
    /// stored settings).
    pub made: Vec<(Origin, Option<ApiWebhook>)>,
}

impl Routing {
    pub fn mailbox(&self, id: u32) -> Option<&Arc<Mailbox>> {
        self.mailboxes
            .iter()
            .find(|(hook, _)| *hook == id)
            .map(|(_, m)| m)
    }

    pub fn ids(&self) -> Vec<u32> {
        self.webhooks.iter().map(|w| w.id).collect()
    }
}

/// The current `Routing`, shared by the engine and `Hooks`. Reading it takes a lock only for
/// the time it takes to clone an `Arc`.
#[derive(Clone, Default)]
pub struct Routes(Arc<RwLock<Arc<Routing>>>);

impl Routes {
    pub fn current(&self) -> Arc<Routing> {
        Arc::clone(&self.0.read().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn set(&self, routing: Routing) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(routing);
    }
}
