//! All persistent state, in one redb file: the index of every share (what receivers were
//! told), the per-webhook delivery queues, events set aside
//! after their last attempt, and each webhook's verification token. The only module that
//! talks to redb; everything else goes through `Store`.
//!
//! Invariants:
//! - an event is committed here before its first delivery attempt, and leaves its queue only
//!   when it was delivered (a 2xx answer) or set aside as failed (kept in `failed`);
//! - within one webhook's queue, events are delivered in event-id order, which is the order
//!   in which they were seen;
//! - the file is created `0600` inside a `0700` folder: it holds the verification tokens.

use std::fs::{DirBuilder, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use redb::backends::FileBackend;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::event::{Event, SharePath};
use crate::sign::Token;
use crate::tree::Entry;

pub const FILE_NAME: &str = "sharehook.redb";

/// The layout version of the records below; bumped (with a migration) when they change.
const FORMAT: u64 = 1;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const QUEUE: TableDefinition<(u32, u64), &[u8]> = TableDefinition::new("queue");
const FAILED: TableDefinition<(u32, u64), &[u8]> = TableDefinition::new("failed");
const WEBHOOKS: TableDefinition<u32, &[u8]> = TableDefinition::new("webhooks");
/// The index: (share, folder, name) -> `Entry`. Keyed by folder so that a folder's entries
/// are one contiguous range, read in name order.
type IndexKey<'a> = (&'a str, &'a [u8], &'a [u8]);
const INDEX: TableDefinition<IndexKey, &[u8]> = TableDefinition::new("index");
/// Per share: where it was and whether its baseline is taken.
const SHARES: TableDefinition<&str, &[u8]> = TableDefinition::new("shares");

/// The page cache redb may keep in memory: the index lives on disk, not in RAM.
const CACHE_BYTES: usize = 16 << 20;

/// An event waiting in a webhook's queue, with where its delivery stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub webhook: u32,
    pub event: Event,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due, in milliseconds since the Unix epoch.
    pub due_ms: i64,
    /// What the last attempt got: an HTTP status or a transport error.
    pub last_result: Option<String>,
}

/// An event whose every attempt failed, kept so it can be looked at and sent again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SetAside {
    pub webhook: u32,
    pub event: Event,
    pub attempts: u32,
    pub failed_ms: i64,
    pub last_result: String,
}

/// What the state knows of a share.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShareRecord {
    /// The folder the index describes.
    pub path: Vec<u8>,
    /// Whether the index holds a whole baseline of the share (taken at its first start).
    pub baseline: bool,
}

#[derive(Serialize, Deserialize)]
struct WebhookRecord {
    token: String,
    url: String,
}

/// One event to commit, and the webhooks it goes to (each with the event as that webhook
/// sees it, and when its first attempt is due).
pub struct NewEvent {
    pub event: Event,
    pub deliveries: Vec<(u32, Event, i64)>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the state folder {path}: {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the state file {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the state file {path} is in use by another sharehook process")]
    InUse { path: PathBuf },
    #[error(
        "the state file {path} is damaged ({detail}); move it aside (mv {path} {path}.broken) \
         and start again: a new one is made, and the undelivered events in the old one are lost"
    )]
    Damaged { path: PathBuf, detail: String },
    #[error("the state file {path} could not be read or written: {detail}")]
    Storage { path: PathBuf, detail: String },
}

pub struct Store {
    db: Database,
    path: PathBuf,
}

impl Store {
    /// Opens (or creates) the state in `dir`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| StoreError::Folder {
                path: dir.to_owned(),
                source,
            })?;
        let path = dir.join(FILE_NAME);
        let open_err = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(open_err)?;
        // An older or hand-made file may be readable by others; the tokens in it must not be.
        let mode = file.metadata().map_err(open_err)?.permissions().mode();
        if mode & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(open_err)?;
            log::warn!("{} was readable by others; made it 0600", path.display());
        }
        let backend = FileBackend::new(file).map_err(|e| classify_open_error(&path, e))?;
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create_with_backend(backend)
            .map_err(|e| classify_open_error(&path, e))?;
        let store = Store { db, path };
        store.init()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn init(&self) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(self.err())?;
        {
            let mut meta = tx.open_table(META).map_err(self.err())?;
            let format = meta.get("format").map_err(self.err())?.map(|v| v.value());
            match format {
                None => {
                    meta.insert("format", FORMAT).map_err(self.err())?;
                }
                Some(FORMAT) => {}
                Some(other) => {
                    return Err(StoreError::Damaged {
                        path: self.path.clone(),
                        detail: format!(
                            "it has layout {other}, this sharehook reads layout {FORMAT}"
                        ),
                    });
                }
            }
            tx.open_table(QUEUE).map_err(self.err())?;
            tx.open_table(FAILED).map_err(self.err())?;
            tx.open_table(WEBHOOKS).map_err(self.err())?;
            tx.open_table(INDEX).map_err(self.err())?;
            tx.open_table(SHARES).map_err(self.err())?;
        }
        tx.commit().map_err(self.err())
    }

    /// The token webhook `id` signs with: the configured one if given, else the one generated
    /// for it before, else a new one (kept from then on). Also returns the URL the state knew
    /// for this webhook when it differs from `url`.
    pub fn webhook_token(
        &self,
        id: u32,
        url: &str,
        configured: Option<&Token>,
    ) -> Result<(Token, Option<String>), StoreError> {
        let tx = self.db.begin_write().map_err(self.err())?;
        let result = {
            let mut table = tx.open_table(WEBHOOKS).map_err(self.err())?;
            let known: Option<WebhookRecord> = match table.get(id).map_err(self.err())? {
                Some(v) => Some(self.decode("webhooks", v.value())?),
                None => None,
            };
            let token = match (configured, &known) {
                (Some(token), _) => token.clone(),
                (None, Some(rec)) => Token::parse(&rec.token).map_err(|_| StoreError::Damaged {
                    path: self.path.clone(),
                    detail: format!("webhook {id}'s stored token is malformed"),
                })?,
                (None, None) => Token::generate().map_err(|e| StoreError::Storage {
                    path: self.path.clone(),
                    detail: format!("no random numbers for a new token: {e}"),
                })?,
            };
            let previous_url = known.map(|k| k.url).filter(|u| u != url);
            let record = WebhookRecord {
                token: token.expose().to_owned(),
                url: url.to_owned(),
            };
            table
                .insert(id, encode(&record).as_slice())
                .map_err(self.err())?;
            (token, previous_url)
        };
        tx.commit().map_err(self.err())?;
        Ok(result)
    }

    /// Commits a batch of events in one transaction, giving each its id; returns the ids.
    pub fn enqueue(&self, batch: &[NewEvent]) -> Result<Vec<u64>, StoreError> {
        let mut tx = self.batch()?;
        let ids = batch
            .iter()
            .map(|item| tx.enqueue(item))
            .collect::<Result<Vec<u64>, StoreError>>()?;
        tx.commit()?;
        Ok(ids)
    }

    /// Starts a write transaction: index changes and new events, committed together.
    pub fn batch(&self) -> Result<Batch<'_>, StoreError> {
        Ok(Batch {
            tx: self.db.begin_write().map_err(self.err())?,
            store: self,
            next_event_id: None,
        })
    }

    /// The entries of `folder` in share `share`, in name order.
    pub fn children(
        &self,
        share: &str,
        folder: &SharePath,
    ) -> Result<Vec<(Vec<u8>, Entry)>, StoreError> {
        let tx = self.db.begin_read().map_err(self.err())?;
        let table = tx.open_table(INDEX).map_err(self.err())?;
        self.folder_entries(&table, share, folder)
    }

    /// The entries of `folder` in `table` (the index), in name order. A folder's entries are
    /// one key range: from the folder to the folder followed by a NUL byte, the next possible
    /// folder (no path holds a NUL).
    fn folder_entries(
        &self,
        table: &impl ReadableTable<IndexKey<'static>, &'static [u8]>,
        share: &str,
        folder: &SharePath,
    ) -> Result<Vec<(Vec<u8>, Entry)>, StoreError> {
        let lo = folder.as_bytes();
        let mut hi = lo.to_vec();
        hi.push(0);
        let range = table
            .range((share, lo, &b""[..])..(share, hi.as_slice(), &b""[..]))
            .map_err(self.err())?;
        range
            .map(|item| {
                let (key, value) = item.map_err(self.err())?;
                Ok((key.value().2.to_vec(), self.decode("index", value.value())?))
            })
            .collect()
    }

    /// One entry of the index.
    pub fn entry(&self, share: &str, path: &SharePath) -> Result<Option<Entry>, StoreError> {
        let tx = self.db.begin_read().map_err(self.err())?;
        let table = tx.open_table(INDEX).map_err(self.err())?;
        self.entry_in(&table, share, path)
    }

    /// The entry at `path` in `table` (the index).
    fn entry_in(
        &self,
        table: &impl ReadableTable<IndexKey<'static>, &'static [u8]>,
        share: &str,
        path: &SharePath,
    ) -> Result<Option<Entry>, StoreError> {
        let (dir, name) = split(path);
        match table
            .get((share, dir.as_bytes(), name))
            .map_err(self.err())?
        {
            Some(v) => Ok(Some(self.decode("index", v.value())?)),
            None => Ok(None),
        }
    }

    /// What the state knows of share `name`.
    pub fn share(&self, name: &str) -> Result<Option<ShareRecord>, StoreError> {
        let tx = self.db.begin_read().map_err(self.err())?;
        let table = tx.open_table(SHARES).map_err(self.err())?;
        match table.get(name).map_err(self.err())? {
            Some(v) => Ok(Some(self.decode("shares", v.value())?)),
            None => Ok(None),
        }
    }

    /// The names of every share the state has an index for.
    pub fn share_names(&self) -> Result<Vec<String>, StoreError> {
        let tx = self.db.begin_read().map_err(self.err())?;
        let table = tx.open_table(SHARES).map_err(self.err())?;
        let range = table.range::<&str>(..).map_err(self.err())?;
        range
            .map(|item| Ok(item.map_err(self.err())?.0.value().to_owned()))
            .collect()
    }

    /// The oldest undelivered event of `webhook`.
    pub fn head(&self, webhook: u32) -> Result<Option<Pending>, StoreError> {
        let tx = self.db.begin_read().map_err(self.err())?;
        let queue = tx.open_table(QUEUE).map_err(self.err())?;
        let mut range = queue
            .range((webhook, 0)..=(webhook, u64::MAX))
            .map_err(self.err())?;
        match range.next() {
            None => Ok(None),
            Some(entry) => {
                let (_, value) = entry.map_err(self.err())?;
                Ok(Some(self.decode("queue", value.value())?))
            }
        }
    }

    /// Records a failed attempt of `pending` and when the next one is due.
    pub fn retry_later(&self, pending: &Pending) -> Result<(), StoreError> {
        self.write(|tx| {
            let mut queue = tx.open_table(QUEUE)?;
            queue.insert(
                (pending.webhook, pending.event.id),
                encode(pending).as_slice(),
            )?;
            Ok(())
        })
    }

    /// Removes a delivered event from its queue.
    pub fn delivered(&self, webhook: u32, event_id: u64) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.open_table(QUEUE)?.remove((webhook, event_id))?;
            Ok(())
        })
    }

    /// Moves an event whose attempts are used up from its queue to the failed events.
    pub fn set_aside(&self, failed: &SetAside) -> Result<(), StoreError> {
        self.write(|tx| {
            let key = (failed.webhook, failed.event.id);
            tx.open_table(QUEUE)?.remove(key)?;
            tx.open_table(FAILED)?
                .insert(key, encode(failed).as_slice())?;
            Ok(())
        })
    }

    /// How many events wait in `webhook`'s queue.
    pub fn pending_count(&self, webhook: u32) -> Result<u64, StoreError> {
        self.count(QUEUE, webhook)
    }

    /// How many of `webhook`'s events were set aside as failed.
    pub fn failed_count(&self, webhook: u32) -> Result<u64, StoreError> {
        self.count(FAILED, webhook)
    }

    /// The failed events of `webhook`, oldest first.
    pub fn failed(&self, webhook: u32) -> Result<Vec<SetAside>, StoreError> {
        let tx = self.db.begin_read().map_err(self.err())?;
        let table = tx.open_table(FAILED).map_err(self.err())?;
        let range = table
            .range((webhook, 0)..=(webhook, u64::MAX))
            .map_err(self.err())?;
        range
            .map(|entry| {
                let (_, value) = entry.map_err(self.err())?;
                self.decode("failed", value.value())
            })
            .collect()
    }

    /// The webhook ids that have queued events (also those no longer in the configuration).
    pub fn webhooks_with_pending(&self) -> Result<Vec<u32>, StoreError> {
        let tx = self.db.begin_read().map_err(self.err())?;
        let queue = tx.open_table(QUEUE).map_err(self.err())?;
        let mut ids = Vec::new();
        let mut from = 0u32;
        loop {
            let mut range = queue.range((from, 0)..).map_err(self.err())?;
            match range.next() {
                None => return Ok(ids),
                Some(entry) => {
                    let (key, _) = entry.map_err(self.err())?;
                    let id = key.value().0;
                    ids.push(id);
                    match id.checked_add(1) {
                        Some(n) => from = n,
                        None => return Ok(ids),
                    }
                }
            }
        }
    }

    fn count(
        &self,
        table: TableDefinition<(u32, u64), &[u8]>,
        webhook: u32,
    ) -> Result<u64, StoreError> {
        let tx = self.db.begin_read().map_err(self.err())?;
        let table = tx.open_table(table).map_err(self.err())?;
        if table.len().map_err(self.err())? == 0 {
            return Ok(0);
        }
        let range = table
            .range((webhook, 0)..=(webhook, u64::MAX))
            .map_err(self.err())?;
        Ok(range.count() as u64)
    }

    fn write(
        &self,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<(), redb::Error>,
    ) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(self.err())?;
        f(&tx).map_err(self.err())?;
        tx.commit().map_err(self.err())
    }

    fn fail(&self, e: impl Into<redb::Error>) -> StoreError {
        self.err()(e)
    }

    fn err<E: Into<redb::Error>>(&self) -> impl Fn(E) -> StoreError + '_ {
        |e| {
            let e: redb::Error = e.into();
            match e {
                redb::Error::Corrupted(detail) => StoreError::Damaged {
                    path: self.path.clone(),
                    detail,
                },
                other => StoreError::Storage {
                    path: self.path.clone(),
                    detail: other.to_string(),
                },
            }
        }
    }

    fn decode<T: DeserializeOwned>(&self, table: &str, bytes: &[u8]) -> Result<T, StoreError> {
        let damaged = |detail: String| StoreError::Damaged {
            path: self.path.clone(),
            detail,
        };
        match bytes.split_first() {
            Some((&1, rest)) => postcard::from_bytes(rest)
                .map_err(|e| damaged(format!("a record in table {table} is unreadable: {e}"))),
            _ => Err(damaged(format!(
                "a record in table {table} has an unknown version"
            ))),
        }
    }
}

/// A write transaction over the index and the queues. Nothing of it is seen by readers, or
/// survives a crash, until `commit`.
pub struct Batch<'s> {
    tx: redb::WriteTransaction,
    store: &'s Store,
    next_event_id: Option<u64>,
}

impl Batch<'_> {
    pub fn entry(&self, share: &str, path: &SharePath) -> Result<Option<Entry>, StoreError> {
        let table = self.tx.open_table(INDEX).map_err(self.store.err())?;
        self.store.entry_in(&table, share, path)
    }

    pub fn put(&mut self, share: &str, path: &SharePath, entry: &Entry) -> Result<(), StoreError> {
        let mut table = self.tx.open_table(INDEX).map_err(self.store.err())?;
        let (dir, name) = split(path);
        table
            .insert((share, dir.as_bytes(), name), encode(entry).as_slice())
            .map_err(self.store.err())?;
        Ok(())
    }

    /// Removes `path` and, for a folder, everything below it; returns what `path` was.
    pub fn remove_tree(
        &mut self,
        share: &str,
        path: &SharePath,
    ) -> Result<Option<Entry>, StoreError> {
        let store = self.store;
        let mut table = self.tx.open_table(INDEX).map_err(|e| store.fail(e))?;
        let (dir, name) = split(path);
        let removed = match table
            .remove((share, dir.as_bytes(), name))
            .map_err(|e| store.fail(e))?
        {
            Some(v) => self.store.decode::<Entry>("index", v.value())?,
            None => return Ok(None),
        };
        if removed.is_dir() {
            let mut folders = vec![path.clone()];
            while let Some(folder) = folders.pop() {
                for (name, entry) in store.folder_entries(&table, share, &folder)? {
                    table
                        .remove((share, folder.as_bytes(), name.as_slice()))
                        .map_err(|e| store.fail(e))?;
                    if entry.is_dir() {
                        folders.push(folder.join(&name));
                    }
                }
            }
        }
        Ok(Some(removed))
    }

    /// Moves `from` (and, for a folder, everything below it) to `to`, replacing what was
    /// there. Returns false when the index has no `from`.
    pub fn move_tree(
        &mut self,
        share: &str,
        from: &SharePath,
        to: &SharePath,
    ) -> Result<bool, StoreError> {
        let Some(moved) = self.entry(share, from)? else {
            return Ok(false);
        };
        self.remove_tree(share, to)?;
        let store = self.store;
        let mut table = self.tx.open_table(INDEX).map_err(|e| store.fail(e))?;
        let (dir, name) = split(from);
        table
            .remove((share, dir.as_bytes(), name))
            .map_err(|e| store.fail(e))?;
        let (dir, name) = split(to);
        table
            .insert((share, dir.as_bytes(), name), encode(&moved).as_slice())
            .map_err(|e| store.fail(e))?;
        if moved.is_dir() {
            let mut folders = vec![from.clone()];
            while let Some(folder) = folders.pop() {
                let target = folder
                    .rebase(from, to)
                    .expect("every folder visited lies below the moved one");
                for (name, entry) in store.folder_entries(&table, share, &folder)? {
                    table
                        .remove((share, folder.as_bytes(), name.as_slice()))
                        .map_err(|e| store.fail(e))?;
                    table
                        .insert(
                            (share, target.as_bytes(), name.as_slice()),
                            encode(&entry).as_slice(),
                        )
                        .map_err(|e| store.fail(e))?;
                    if entry.is_dir() {
                        folders.push(folder.join(&name));
                    }
                }
            }
        }
        Ok(true)
    }

    /// Forgets everything the index has of `share`, and the share itself.
    pub fn drop_share(&mut self, share: &str) -> Result<(), StoreError> {
        let store = self.store;
        {
            let mut table = self.tx.open_table(INDEX).map_err(|e| store.fail(e))?;
            let mut next = share.to_owned();
            next.push('\0');
            table
                .retain_in(
                    (share, &b""[..], &b""[..])..(next.as_str(), &b""[..], &b""[..]),
                    |_, _| false,
                )
                .map_err(|e| store.fail(e))?;
        }
        self.tx
            .open_table(SHARES)
            .map_err(|e| store.fail(e))?
            .remove(share)
            .map_err(|e| store.fail(e))?;
        Ok(())
    }

    pub fn set_share(&mut self, name: &str, record: &ShareRecord) -> Result<(), StoreError> {
        self.tx
            .open_table(SHARES)
            .map_err(self.store.err())?
            .insert(name, encode(record).as_slice())
            .map_err(self.store.err())?;
        Ok(())
    }

    /// Adds `item` to the queues of its webhooks; returns the id it was given.
    pub fn enqueue(&mut self, item: &NewEvent) -> Result<u64, StoreError> {
        let store = self.store;
        let mut meta = self.tx.open_table(META).map_err(|e| store.fail(e))?;
        let id = match self.next_event_id {
            Some(id) => id,
            None => meta
                .get("next_event_id")
                .map_err(|e| store.fail(e))?
                .map_or(1, |v| v.value()),
        };
        self.next_event_id = Some(id + 1);
        meta.insert("next_event_id", id + 1)
            .map_err(|e| store.fail(e))?;
        let mut queue = self.tx.open_table(QUEUE).map_err(|e| store.fail(e))?;
        for (webhook, event, due_ms) in &item.deliveries {
            let mut event = event.clone();
            event.id = id;
            let pending = Pending {
                webhook: *webhook,
                event,
                attempts: 0,
                due_ms: *due_ms,
                last_result: None,
            };
            queue
                .insert((*webhook, id), encode(&pending).as_slice())
                .map_err(|e| store.fail(e))?;
        }
        Ok(id)
    }

    pub fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().map_err(self.store.err())
    }
}

/// The index key parts of `path`: its folder and its name.
fn split(path: &SharePath) -> (SharePath, &[u8]) {
    (path.parent(), path.name())
}

/// A record as stored: a version byte, then postcard.
fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = vec![1u8];
    out.extend(postcard::to_stdvec(value).expect("records are plain data and always encode"));
    out
}

fn classify_open_error(path: &Path, e: impl Into<redb::Error>) -> StoreError {
    match e.into() {
        redb::Error::DatabaseAlreadyOpen => StoreError::InUse {
            path: path.to_owned(),
        },
        redb::Error::Corrupted(detail) => StoreError::Damaged {
            path: path.to_owned(),
            detail,
        },
        redb::Error::Io(e) if e.kind() == std::io::ErrorKind::WouldBlock => StoreError::InUse {
            path: path.to_owned(),
        },
        other => StoreError::Damaged {
            path: path.to_owned(),
            detail: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Operation, SharePath};

    fn event(path: &str) -> Event {
        Event {
            id: 0,
            op: Operation::Upload,
            share: "s".into(),
            path: SharePath::from_config(path),
            source: None,
            is_dir: false,
            username: "u".into(),
            time_ms: 5,
            size: Some(3),
        }
    }

    fn new_event(path: &str, webhooks: &[u32]) -> NewEvent {
        let e = event(path);
        NewEvent {
            deliveries: webhooks.iter().map(|w| (*w, e.clone(), 0)).collect(),
            event: e,
        }
    }

    #[test]
    fn queues_are_per_webhook_ordered_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let ids = store
                .enqueue(&[
                    new_event("/a", &[1, 2]),
                    new_event("/b", &[2]),
                    new_event("/c", &[1]),
                ])
                .unwrap();
            assert_eq!(ids, [1, 2, 3]);
            assert_eq!(store.pending_count(1).unwrap(), 2);
            assert_eq!(store.pending_count(2).unwrap(), 2);
            assert_eq!(store.webhooks_with_pending().unwrap(), [1, 2]);
            store.delivered(2, 1).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let head = store.head(2).unwrap().unwrap();
        assert_eq!(
            (head.event.id, head.event.path.to_string()),
            (2, "/b".into())
        );
        let mut head = store.head(1).unwrap().unwrap();
        assert_eq!(head.event.id, 1);
        head.attempts = 1;
        head.due_ms = 99;
        store.retry_later(&head).unwrap();
        assert_eq!(store.head(1).unwrap().unwrap(), head);
        store
            .set_aside(&SetAside {
                webhook: 1,
                event: head.event.clone(),
                attempts: 1,
                failed_ms: 7,
                last_result: "500".into(),
            })
            .unwrap();
        assert_eq!(store.head(1).unwrap().unwrap().event.id, 3);
        assert_eq!(store.failed_count(1).unwrap(), 1);
        assert_eq!(store.failed(1).unwrap()[0].last_result, "500");
        assert_eq!(
            store.enqueue(&[new_event("/d", &[3])]).unwrap(),
            [4],
            "ids keep increasing"
        );
    }

    #[test]
    fn tokens_are_generated_once_and_the_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (t1, moved) = store.webhook_token(1, "http://a/", None).unwrap();
        assert_eq!(moved, None);
        let (t2, moved) = store.webhook_token(1, "http://b/", None).unwrap();
        assert_eq!(t1, t2);
        assert_eq!(moved.as_deref(), Some("http://a/"));
        let given = Token::parse("efb7e0030e6cef1b45d3d74a67881a2b").unwrap();
        assert_eq!(
            store.webhook_token(2, "http://c/", Some(&given)).unwrap().0,
            given
        );
        let mode = std::fs::metadata(store.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_second_process_is_refused_and_garbage_is_named_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open(dir.path()).unwrap();
        let err = Store::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains("in use by another sharehook process"), "{err}");

        let junk = tempfile::tempdir().unwrap();
        std::fs::write(junk.path().join(FILE_NAME), vec![0x5a; 8192]).unwrap();
        let err = Store::open(junk.path()).err().unwrap().to_string();
        assert!(
            err.contains("is damaged") && err.contains("move it aside"),
            "{err}"
        );
    }

    fn entry(kind: crate::tree::EntryKind, ino: u64) -> Entry {
        Entry {
            kind,
            ino,
            size: 1,
            mtime_ns: 2,
            uid: 0,
        }
    }

    #[test]
    fn the_index_moves_and_removes_whole_subtrees() {
        use crate::tree::EntryKind::{Dir, File};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let p = SharePath::from_config;
        let mut b = store.batch().unwrap();
        for (path, e) in [
            ("/a", entry(Dir, 1)),
            ("/a/x", entry(File, 2)),
            ("/a/sub", entry(Dir, 3)),
            ("/a/sub/y", entry(File, 4)),
            ("/a b", entry(File, 5)),
            ("/z", entry(File, 6)),
        ] {
            b.put("s", &p(path), &e).unwrap();
        }
        b.put("other", &p("/a/x"), &entry(File, 9)).unwrap();
        b.commit().unwrap();
        let names = |folder: &str| -> Vec<String> {
            store
                .children("s", &p(folder))
                .unwrap()
                .into_iter()
                .map(|(n, _)| String::from_utf8(n).unwrap())
                .collect()
        };
        assert_eq!(names("/"), ["a", "a b", "z"]);
        assert_eq!(names("/a"), ["sub", "x"]);

        let mut b = store.batch().unwrap();
        assert!(b.move_tree("s", &p("/a"), &p("/m/n")).unwrap());
        b.commit().unwrap();
        assert_eq!(names("/"), ["a b", "z"]);
        assert_eq!(names("/m/n/sub"), ["y"]);
        assert_eq!(store.entry("s", &p("/m/n/x")).unwrap().unwrap().ino, 2);
        assert!(store.entry("s", &p("/a/x")).unwrap().is_none());

        let mut b = store.batch().unwrap();
        assert_eq!(b.remove_tree("s", &p("/m/n")).unwrap().unwrap().ino, 1);
        assert!(b.remove_tree("s", &p("/nothing")).unwrap().is_none());
        b.commit().unwrap();
        assert!(names("/m/n").is_empty() && names("/m/n/sub").is_empty());
        assert_eq!(names("/"), ["a b", "z"]);
        assert_eq!(store.entry("other", &p("/a/x")).unwrap().unwrap().ino, 9);

        let mut b = store.batch().unwrap();
        b.drop_share("s").unwrap();
        b.commit().unwrap();
        assert!(names("/").is_empty());
        assert_eq!(store.entry("other", &p("/a/x")).unwrap().unwrap().ino, 9);
    }
}
