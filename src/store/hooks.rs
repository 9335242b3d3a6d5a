//! Webhooks made through the management API: their settings, by id, and the counter their
//! ids are given from. (Their tokens, queues, health and log are kept like any webhook's, in
//! `delivery`.)
//!
//! An id given here was never used by the state before (its queues, failed events, tokens and
//! log are keyed by id), nor by the configuration of the time: it comes from a counter that
//! starts at 1000 and past every id seen.

use redb::{ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::{META, Store, StoreError, encode_as};
use crate::core::event::{Operation, SharePath};

/// id -> `ApiWebhook`.
const API_WEBHOOKS: TableDefinition<u32, &[u8]> = TableDefinition::new("api_webhooks");

/// The version byte of `ApiWebhook`.
const API_WEBHOOK_RECORD: u8 = 1;

/// The lowest id given to a webhook made through the API: the configuration's own ids (their
/// positions among `[[webhook]]`, or small numbers written by hand) stay below it.
pub const FIRST_API_WEBHOOK_ID: u32 = 1000;

/// A webhook made through the API, as the state keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiWebhook {
    /// Given by `add_api_webhook`; whatever is passed in is replaced.
    pub id: u32,
    pub url: String,
    pub share: String,
    pub folder: SharePath,
    /// `v1` or `v2`.
    pub format: String,
    pub triggers: Vec<Operation>,
    /// `exavault`, `standard` or `both`.
    pub signature: String,
    pub created_ms: i64,
    pub modified_ms: i64,
    /// The user who made it.
    pub created_by: String,
}

impl Store {
    pub(super) fn init_hooks(&self, tx: &WriteTransaction) -> Result<(), StoreError> {
        tx.open_table(API_WEBHOOKS).map_err(self.err())?;
        Ok(())
    }

    /// Every webhook made through the API, by id.
    pub fn api_webhooks(&self) -> Result<Vec<ApiWebhook>, StoreError> {
        let tx = self.read()?;
        let table = match tx.open_table(API_WEBHOOKS) {
            Ok(table) => table,
            // A state from before them, read without being written.
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(self.fail(e)),
        };
        let mut out = Vec::new();
        for item in table.iter().map_err(self.err())? {
            let (_, value) = item.map_err(self.err())?;
            out.push(self.decode_as("api_webhooks", value.value(), API_WEBHOOK_RECORD)?);
        }
        Ok(out)
    }

    /// Stores `hook` under a new id, which it returns: past `FIRST_API_WEBHOOK_ID`, every id
    /// in `taken` (the configuration's), and every id the state has ever known.
    pub fn add_api_webhook(&self, hook: &ApiWebhook, taken: &[u32]) -> Result<u32, StoreError> {
        let tx = self.begin()?;
        let id = {
            let mut meta = tx.open_table(META).map_err(self.err())?;
            let mut table = tx.open_table(API_WEBHOOKS).map_err(self.err())?;
            let counter = meta
                .get("next_api_webhook_id")
                .map_err(self.err())?
                .map_or(0, |v| v.value());
            let last_api = table
                .last()
                .map_err(self.err())?
                .map_or(0, |(k, _)| k.value());
            let seen = [
                u64::from(FIRST_API_WEBHOOK_ID),
                counter,
                u64::from(last_api) + 1,
                u64::from(self.last_webhook_id_in(&tx)?) + 1,
                taken.iter().max().map_or(0, |m| u64::from(*m) + 1),
            ];
            let next = seen.into_iter().max().unwrap_or(0);
            let id = u32::try_from(next).map_err(|_| StoreError::Storage {
                path: self.path.clone(),
                detail: "no webhook id is left to give".into(),
            })?;
            let mut record = hook.clone();
            record.id = id;
            table
                .insert(id, encode_as(&record, API_WEBHOOK_RECORD).as_slice())
                .map_err(self.err())?;
            meta.insert("next_api_webhook_id", next + 1)
                .map_err(self.err())?;
            id
        };
        tx.commit().map_err(self.err())?;
        Ok(id)
    }

    /// Replaces the stored settings of API webhook `hook.id`; false when there is none.
    pub fn put_api_webhook(&self, hook: &ApiWebhook) -> Result<bool, StoreError> {
        let tx = self.begin()?;
        let known = {
            let mut table = tx.open_table(API_WEBHOOKS).map_err(self.err())?;
            let known = table.get(hook.id).map_err(self.err())?.is_some();
            if known {
                table
                    .insert(hook.id, encode_as(hook, API_WEBHOOK_RECORD).as_slice())
                    .map_err(self.err())?;
            }
            known
        };
        tx.commit().map_err(self.err())?;
        Ok(known)
    }

    /// Forgets API webhook `id`'s settings; false when there is none. Its queue, failed events,
    /// token and log stay, and its id is never given again.
    pub fn remove_api_webhook(&self, id: u32) -> Result<bool, StoreError> {
        let tx = self.begin()?;
        let removed = tx
            .open_table(API_WEBHOOKS)
            .map_err(self.err())?
            .remove(id)
            .map_err(self.err())?
            .is_some();
        tx.commit().map_err(self.err())?;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewEvent;

    fn hook(url: &str) -> ApiWebhook {
        ApiWebhook {
            id: 0,
            url: url.into(),
            share: "s".into(),
            folder: SharePath::from_config("/in"),
            format: "v2".into(),
            triggers: vec![Operation::Upload],
            signature: "exavault".into(),
            created_ms: 1,
            modified_ms: 1,
            created_by: "root".into(),
        }
    }

    #[test]
    fn ids_start_at_1000_and_pass_every_id_the_state_and_the_configuration_know() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(
            store.add_api_webhook(&hook("http://a/"), &[1, 2]).unwrap(),
            1000
        );
        assert_eq!(
            store.add_api_webhook(&hook("http://b/"), &[1, 2]).unwrap(),
            1001
        );
        // A configured id above them is never given.
        assert_eq!(
            store.add_api_webhook(&hook("http://c/"), &[1500]).unwrap(),
            1501
        );
        // Nor one the state used for a queue (a configured webhook since removed)...
        let event = crate::core::event::Event {
            id: 0,
            op: Operation::Upload,
            share: "s".into(),
            path: SharePath::from_config("/x"),
            source: None,
            is_dir: false,
            username: "u".into(),
            time_ms: 0,
            size: None,
            protocol: None,
            address: String::new(),
            attribution: crate::core::event::Attribution::Owner,
        };
        store
            .enqueue(&[NewEvent {
                deliveries: vec![(2000, event.clone(), 0)],
                event,
            }])
            .unwrap();
        assert_eq!(
            store.add_api_webhook(&hook("http://d/"), &[]).unwrap(),
            2001
        );
        // ...or for a token.
        store
            .webhook_setup(3000, "http://e/", None, None, 0, 0)
            .unwrap();
        assert_eq!(
            store.add_api_webhook(&hook("http://e/"), &[]).unwrap(),
            3001
        );
        // A removed webhook's id is not given again, even when it was the highest.
        assert!(store.remove_api_webhook(3001).unwrap());
        assert!(!store.remove_api_webhook(3001).unwrap());
        assert_eq!(
            store.add_api_webhook(&hook("http://f/"), &[]).unwrap(),
            3002
        );
        let ids: Vec<u32> = store.api_webhooks().unwrap().iter().map(|h| h.id).collect();
        assert_eq!(ids, [1000, 1001, 1501, 2001, 3002]);
    }

    #[test]
    fn settings_are_replaced_and_kept_across_a_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let id = store.add_api_webhook(&hook("http://a/"), &[]).unwrap();
        let mut changed = hook("http://b/");
        changed.id = id;
        assert!(store.put_api_webhook(&changed).unwrap());
        changed.id = id + 1;
        assert!(!store.put_api_webhook(&changed).unwrap());
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        let all = store.api_webhooks().unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].id, id);
        assert_eq!(all[0].url, "http://b/");
    }

    #[test]
    fn a_rotated_token_signs_at_once_and_the_old_one_only_for_the_grace() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(store.rotate_token(7, 1000, 0).unwrap().is_none());
        assert!(store.webhook_token(7).unwrap().is_none());
        let first = store
            .webhook_setup(7, "http://a/", None, None, 1000, 0)
            .unwrap()
            .keys
            .token;
        assert_eq!(store.webhook_token(7).unwrap().as_ref(), Some(&first));
        let new = store.rotate_token(7, 1000, 100).unwrap().unwrap();
        assert_ne!(new, first);
        assert_eq!(store.webhook_token(7).unwrap().as_ref(), Some(&new));
        // The worker set up again signs with the new token, the old one beside it...
        let keys = store
            .webhook_setup(7, "http://a/", None, None, 1000, 500)
            .unwrap()
            .keys;
        assert_eq!(keys.token, new);
        assert_eq!(keys.previous_token, Some((first.clone(), 1100)));
        // ...until the grace ends.
        let keys = store
            .webhook_setup(7, "http://a/", None, None, 1000, 1200)
            .unwrap()
            .keys;
        assert_eq!(keys.token, new);
        assert_eq!(keys.previous_token, None);
        // With no grace, the old token stops at once.
        let newer = store.rotate_token(7, 0, 2000).unwrap().unwrap();
        let keys = store
            .webhook_setup(7, "http://a/", None, None, 0, 2000)
            .unwrap()
            .keys;
        assert_eq!(keys.token, newer);
        assert_eq!(keys.previous_token, None);
    }
}
