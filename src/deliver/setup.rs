//! A configured webhook made ready for its worker: its keys and health from the state (with
//! what changed since the last start said in the journal), and its HTTP client.

use std::time::Duration;

use crate::config::{Config, Webhook};
use crate::core::redact::redact_url;
use crate::core::retry;
use crate::deliver::send::{Client, ClientSettings};
use crate::deliver::{Target, human, now_ms};
use crate::store::{Health, Store};

/// Webhook `hook` as its worker sees it, with its keys from the state, and how it is doing.
pub fn target(config: &Config, hook: &Webhook, store: &Store) -> anyhow::Result<(Target, Health)> {
    let now = now_ms();
    let state = store.webhook_setup(
        hook.id,
        &hook.url,
        hook.token.as_ref(),
        hook.secret.as_ref(),
        retry::millis(config.delivery.rotation_grace),
        now,
    )?;
    if let Some(old) = &state.moved_from {
        log::warn!(
            "webhook {}: its URL changed from {} to {}; its queued events go to the new one",
            hook.id,
            redact_url(old),
            redact_url(&hook.url)
        );
    }
    let grace = |what: &str, until: i64| {
        log::info!(
            "webhook {}: the replaced {what} keeps signing beside the new one for {}",
            hook.id,
            human(Duration::from_millis(
                u64::try_from(until - now).unwrap_or(0)
            ))
        );
    };
    if let Some((_, until)) = &state.keys.previous_token {
        grace("token", *until);
    }
    if let Some((_, until)) = &state.keys.previous_secret {
        grace("secret", *until);
    }
    let target = Target {
        id: hook.id,
        url: hook.url.clone(),
        shown_url: redact_url(&hook.url),
        format: hook.format,
        signature: hook.signature,
        keys: state.keys,
        account_name: config.account_name.clone(),
        protocols: config
            .shares
            .iter()
            .map(|s| (s.name.clone(), s.protocol.clone()))
            .collect(),
        schedule: config.delivery.schedule.clone(),
        disable_after: config.delivery.disable_after,
    };
    Ok((target, state.health))
}

/// How webhook `hook`'s HTTP client is set up.
pub fn client_settings(config: &Config, hook: &Webhook) -> ClientSettings {
    ClientSettings {
        connect_timeout: config.delivery.connect_timeout,
        request_timeout: config.delivery.request_timeout,
        policy: config.delivery.policy.clone(),
        ca_file: hook.ca_file.clone(),
        credentials: hook.credentials.clone(),
    }
}

/// The client for webhook `hook`: HTTP, or its own link to its broker.
pub fn client(config: &Config, hook: &Webhook) -> anyhow::Result<Client> {
    Client::for_url(
        &hook.url,
        hook.id,
        &config.account_name,
        &client_settings(config, hook),
    )
    .map_err(|m| anyhow::anyhow!("webhook {}: {m}", hook.id))
}
