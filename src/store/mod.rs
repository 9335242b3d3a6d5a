//! All persistent state, in one redb file: the index of every share (what receivers were
//! told), the per-webhook delivery queues, events set aside after their last attempt, each
//! webhook's secrets and health, and the delivery log. The only module that talks to redb;
//! everything else goes through `Store`. Queues, webhooks and the log are in `delivery`.
//!
//! When a write fails (a full disk, an I/O error), redb refuses every later operation on that
//! handle; the store then opens the file again at the next operation, so the daemon recovers
//! by itself once the cause is gone, from the last committed state.
//!
//! Invariants:
//! - an event is committed here before its first delivery attempt, and leaves its queue only
//!   when it was delivered (a 2xx answer) or set aside as failed (kept in `failed`);
//! - within one webhook's queue, events are delivered in event-id order, which is the order
//!   in which they were seen;
//! - the file is created `0600` inside a `0700` folder: it holds the verification tokens.

mod delivery;

use std::fs::{DirBuilder, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use redb::backends::FileBackend;
use redb::{Database, ReadableDatabase, ReadableTable, StorageBackend, TableDefinition};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::event::SharePath;
use crate::tree::Entry;

pub use delivery::{
    Disabled, Flush, Health, LOG_RESPONSE_BYTES, LogEntry, LogFilter, NewEvent, Pending, Pruned,
    SetAside, WebhookState,
};

pub const FILE_NAME: &str = "sharehook.redb";

/// The layout version of the records below; bumped (with a migration) when they change.
const FORMAT: u64 = 1;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// The index: (share, folder, name) -> `Entry`. Keyed by folder so that a folder's entries
/// are one contiguous range, read in name order.
type IndexKey<'a> = (&'a str, &'a [u8], &'a [u8]);
const INDEX: TableDefinition<IndexKey, &[u8]> = TableDefinition::new("index");
/// Per share: where it was and whether its baseline is taken.
const SHARES: TableDefinition<&str, &[u8]> = TableDefinition::new("shares");

/// The page cache redb may keep in memory: the index lives on disk, not in RAM.
const CACHE_BYTES: usize = 16 << 20;

/// What the state knows of a share.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShareRecord {
    /// The folder the index describes.
    pub path: Vec<u8>,
    /// Whether the index holds a whole baseline of the share (taken at its first start).
    pub baseline: bool,
}

/// How much the store keeps: per-webhook queue length and the delivery log. Until a caller
/// sets them (from the configuration: `Config::store_limits`), nothing is pruned or dropped.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    pub queue_limit: u64,
    pub log_max_entries: u64,
    pub log_max_age_ms: i64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            queue_limit: u64::MAX,
            log_max_entries: u64::MAX,
            log_max_age_ms: i64::MAX,
        }
    }
}

/// Makes the storage the database lives on (a fresh one for each reopening).
pub type Opener = Box<dyn Fn() -> std::io::Result<Box<dyn StorageBackend>> + Send + Sync>;

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
         and start again: a new state is made and each share's index is rebuilt from the disk, \
         but the undelivered events and the delivery log in the old file are lost"
    )]
    Damaged { path: PathBuf, detail: String },
    #[error("the state file {path} could not be read or written: {detail}")]
    Storage { path: PathBuf, detail: String },
}

/// The database, opened for writing (the daemon) or only for reading (`sharehook log` beside a
/// running daemon: redb lets one process write while others read).
enum Handle {
    Rw(Database),
    Ro(redb::ReadOnlyDatabase),
}

pub struct Store {
    db: RwLock<Arc<Handle>>,
    path: PathBuf,
    opener: Opener,
    /// Set when an operation failed in a way that leaves the handle unusable.
    broken: AtomicBool,
    limits: RwLock<Limits>,
    /// When the delivery log was last pruned by age (ms since the epoch).
    last_age_prune: Mutex<i64>,
}

impl Store {
    /// Opens (or creates) the state in `dir`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let path = Self::prepare(dir)?;
        let file_path = path.clone();
        let opener: Opener = Box::new(move || {
            let file = OpenOptions::new().read(true).write(true).open(&file_path)?;
            let backend = FileBackend::new(file).map_err(|e| match e {
                redb::DatabaseError::Storage(redb::StorageError::Io(io)) => io,
                other => std::io::Error::other(other.to_string()),
            })?;
            Ok(Box::new(backend) as Box<dyn StorageBackend>)
        });
        Self::open_with(path, opener)
    }

    /// Opens the state on storage made by `opener` (tests use it to inject failures).
    pub fn open_with(path: PathBuf, opener: Opener) -> Result<Store, StoreError> {
        let db = Self::connect(&path, &opener)?;
        let store = Store {
            db: RwLock::new(Arc::new(Handle::Rw(db))),
            path,
            opener,
            broken: AtomicBool::new(false),
            limits: RwLock::new(Limits::default()),
            last_age_prune: Mutex::new(0),
        };
        store.init()?;
        Ok(store)
    }

    /// Opens the state in `dir` only to read it, beside a daemon that may be writing it.
    pub fn open_read_only(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.join(FILE_NAME);
        if !path.exists() {
            return Err(StoreError::Open {
                path,
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            });
        }
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .set_concurrency_mode(redb::ConcurrencyMode::SingleWriter)
            .open_read_only(&path)
            .map_err(|e| classify_open_error(&path, e))?;
        Ok(Store {
            db: RwLock::new(Arc::new(Handle::Ro(db))),
            opener: Box::new(|| Err(std::io::Error::other("opened read-only"))),
            path,
            broken: AtomicBool::new(false),
            limits: RwLock::new(Limits::default()),
            last_age_prune: Mutex::new(0),
        })
    }

    fn connect(path: &Path, opener: &Opener) -> Result<Database, StoreError> {
        let backend = opener().map_err(|e| classify_open_error(path, redb::Error::Io(e)))?;
        Database::builder()
            .set_cache_size(CACHE_BYTES)
            .set_concurrency_mode(redb::ConcurrencyMode::SingleWriter)
            .create_with_backend(Boxed(backend))
            .map_err(|e| classify_open_error(path, e))
    }

    pub fn set_limits(&self, limits: Limits) {
        *self.limits.write().unwrap_or_else(|p| p.into_inner()) = limits;
    }

    fn limits(&self) -> Limits {
        self.limits
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The database, opened again first if an earlier failure left it unusable.
    fn db(&self) -> Result<Arc<Handle>, StoreError> {
        if self.broken.load(Ordering::SeqCst) {
            let mut slot = self.db.write().unwrap_or_else(|p| p.into_inner());
            if self.broken.load(Ordering::SeqCst) {
                // Let go of the failed handle so that it releases the file's lock (it closes
                // once whoever is still using it is done).
                *slot = Arc::new(Handle::Rw(Self::dummy()?));
                *slot = Arc::new(Handle::Rw(Self::connect(&self.path, &self.opener)?));
                self.broken.store(false, Ordering::SeqCst);
                log::info!("the state file {} is open again", self.path.display());
            }
        }
        Ok(Arc::clone(
            &self.db.read().unwrap_or_else(|p| p.into_inner()),
        ))
    }

    /// An empty database in memory, held while the real one cannot be opened.
    fn dummy() -> Result<Database, StoreError> {
        Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(|e| StoreError::Storage {
                path: PathBuf::from("memory"),
                detail: e.to_string(),
            })
    }

    fn read(&self) -> Result<redb::ReadTransaction, StoreError> {
        match &*self.db()? {
            Handle::Rw(db) => db.begin_read().map_err(self.err()),
            Handle::Ro(db) => db.begin_read().map_err(self.err()),
        }
    }

    fn begin(&self) -> Result<redb::WriteTransaction, StoreError> {
        match &*self.db()? {
            Handle::Rw(db) => db.begin_write().map_err(self.err()),
            Handle::Ro(_) => Err(StoreError::Storage {
                path: self.path.clone(),
                detail: "it was opened only for reading".into(),
            }),
        }
    }

    /// Creates the state folder (0700) and the file (0600); returns the file's path.
    fn prepare(dir: &Path) -> Result<PathBuf, StoreError> {
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
        Ok(path)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn init(&self) -> Result<(), StoreError> {
        let tx = self.begin()?;
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
            tx.open_table(INDEX).map_err(self.err())?;
            tx.open_table(SHARES).map_err(self.err())?;
        }
        self.init_delivery(&tx)?;
        tx.commit().map_err(self.err())
    }

    /// Writes and commits a small record: whether the state can be written.
    pub fn probe(&self) -> Result<(), StoreError> {
        let tx = self.begin()?;
        {
            let mut meta = tx.open_table(META).map_err(self.err())?;
            let n = meta
                .get("probes")
                .map_err(self.err())?
                .map_or(0, |v| v.value());
            meta.insert("probes", n + 1).map_err(self.err())?;
        }
        tx.commit().map_err(self.err())
    }

    /// Starts a write transaction: index changes and new events, committed together.
    pub fn batch(&self) -> Result<Batch<'_>, StoreError> {
        Ok(Batch {
            tx: self.begin()?,
            store: self,
            next_event_id: None,
            limits: self.limits(),
            dropped: Vec::new(),
        })
    }

    /// The entries of `folder` in share `share`, in name order.
    pub fn children(
        &self,
        share: &str,
        folder: &SharePath,
    ) -> Result<Vec<(Vec<u8>, Entry)>, StoreError> {
        let tx = self.read()?;
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
        let tx = self.read()?;
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
        let tx = self.read()?;
        let table = tx.open_table(SHARES).map_err(self.err())?;
        match table.get(name).map_err(self.err())? {
            Some(v) => Ok(Some(self.decode("shares", v.value())?)),
            None => Ok(None),
        }
    }

    /// The names of every share the state has an index for.
    pub fn share_names(&self) -> Result<Vec<String>, StoreError> {
        let tx = self.read()?;
        let table = tx.open_table(SHARES).map_err(self.err())?;
        let range = table.range::<&str>(..).map_err(self.err())?;
        range
            .map(|item| Ok(item.map_err(self.err())?.0.value().to_owned()))
            .collect()
    }

    fn fail(&self, e: impl Into<redb::Error>) -> StoreError {
        self.err()(e)
    }

    fn err<E: Into<redb::Error>>(&self) -> impl Fn(E) -> StoreError + '_ {
        |e| {
            let e: redb::Error = e.into();
            if matches!(
                e,
                redb::Error::Io(_) | redb::Error::PreviousIo | redb::Error::DatabaseClosed
            ) {
                self.broken.store(true, Ordering::SeqCst);
            }
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
        self.decode_as(table, bytes, 1)
    }

    /// Decodes a record written with version byte `version`.
    fn decode_as<T: DeserializeOwned>(
        &self,
        table: &str,
        bytes: &[u8],
        version: u8,
    ) -> Result<T, StoreError> {
        match bytes.split_first() {
            Some((v, rest)) if *v == version => postcard::from_bytes(rest)
                .map_err(|e| self.damaged(format!("a record in table {table} is unreadable: {e}"))),
            _ => Err(self.damaged(format!("a record in table {table} has an unknown version"))),
        }
    }

    fn damaged(&self, detail: String) -> StoreError {
        StoreError::Damaged {
            path: self.path.clone(),
            detail,
        }
    }
}

/// A write transaction over the index and the queues. Nothing of it is seen by readers, or
/// survives a crash, until `commit`.
pub struct Batch<'s> {
    tx: redb::WriteTransaction,
    store: &'s Store,
    next_event_id: Option<u64>,
    limits: Limits,
    dropped: Vec<(u32, u64)>,
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

    /// Commits; returns, per webhook, how many of its oldest events were dropped to keep its
    /// queue within the limit.
    pub fn commit(self) -> Result<Vec<(u32, u64)>, StoreError> {
        self.tx.commit().map_err(self.store.err())?;
        Ok(self.dropped)
    }
}

/// A boxed backend is a backend (so that `Opener` can make any kind).
#[derive(Debug)]
struct Boxed(Box<dyn StorageBackend>);

type Bound = std::ops::Bound<u64>;

impl StorageBackend for Boxed {
    fn len(&self) -> std::io::Result<u64> {
        self.0.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        self.0.read(offset, out)
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.0.set_len(len)
    }
    fn sync_data(&self) -> std::io::Result<()> {
        self.0.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.0.write(offset, data)
    }
    fn close(&self) -> std::io::Result<()> {
        self.0.close()
    }
    fn try_lock_range(&self, a: Bound, b: Bound) -> Result<bool, redb::BackendError> {
        self.0.try_lock_range(a, b)
    }
    fn try_lock_shared_range(&self, a: Bound, b: Bound) -> Result<bool, redb::BackendError> {
        self.0.try_lock_shared_range(a, b)
    }
    fn lock_range(&self, a: Bound, b: Bound) -> Result<(), redb::BackendError> {
        self.0.lock_range(a, b)
    }
    fn lock_shared_range(&self, a: Bound, b: Bound) -> Result<(), redb::BackendError> {
        self.0.lock_shared_range(a, b)
    }
    fn unlock_range(&self, a: Bound, b: Bound) -> Result<(), redb::BackendError> {
        self.0.unlock_range(a, b)
    }
    fn query_lock_range(&self, a: Bound, b: Bound) -> Result<bool, redb::BackendError> {
        self.0.query_lock_range(a, b)
    }
}

/// The index key parts of `path`: its folder and its name.
fn split(path: &SharePath) -> (SharePath, &[u8]) {
    (path.parent(), path.name())
}

/// A record as stored: a version byte, then postcard.
fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    encode_as(value, 1)
}

fn encode_as<T: Serialize>(value: &T, version: u8) -> Vec<u8> {
    let mut out = vec![version];
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
    use crate::event::{Event, Operation, SharePath};
    use crate::sign::{Secret, Token};

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
            store
                .flush(
                    &Flush {
                        webhook: 2,
                        delivered: vec![1],
                        ..Flush::default()
                    },
                    0,
                )
                .unwrap();
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
        let retry = Flush {
            webhook: 1,
            retry: Some(head.clone()),
            ..Flush::default()
        };
        store.flush(&retry, 0).unwrap();
        assert_eq!(store.head(1).unwrap().unwrap(), head);
        let set_aside = Flush {
            webhook: 1,
            set_aside: Some(SetAside {
                webhook: 1,
                event: head.event.clone(),
                attempts: 1,
                failed_ms: 7,
                last_result: "500".into(),
            }),
            ..Flush::default()
        };
        store.flush(&set_aside, 0).unwrap();
        assert_eq!(store.pending_count(1).unwrap(), 1);
        assert_eq!(store.head(1).unwrap().unwrap().event.id, 3);
        assert_eq!(store.failed_count(1).unwrap(), 1);
        assert_eq!(store.failed(1).unwrap()[0].last_result, "500");
        assert_eq!(
            store.enqueue(&[new_event("/d", &[3])]).unwrap(),
            [4],
            "ids keep increasing"
        );
    }

    fn log_entry(webhook: u32, event_id: u64, attempt: u32, time_ms: i64) -> LogEntry {
        let mut e = event("/x");
        e.id = event_id;
        LogEntry {
            id: 0,
            time_ms,
            webhook,
            format: "v1".into(),
            attempt,
            resend: false,
            url: "http://h/".into(),
            status: 500,
            transport: false,
            message: String::new(),
            response_size: 0,
            response: Vec::new(),
            duration_ms: 1,
            event: e,
            body: b"{}".to_vec(),
        }
    }

    #[test]
    fn the_queue_limit_drops_the_oldest_and_counts_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.set_limits(Limits {
            queue_limit: 3,
            ..Limits::default()
        });
        let mut batch = store.batch().unwrap();
        for name in ["/1", "/2", "/3", "/4", "/5"] {
            batch.enqueue(&new_event(name, &[1, 2])).unwrap();
        }
        assert_eq!(batch.commit().unwrap(), [(1, 2), (2, 2)]);
        assert_eq!(store.queue_counts(1).unwrap(), (3, 2));
        let paths: Vec<String> = store
            .front(1, 10)
            .unwrap()
            .iter()
            .map(|p| p.event.path.to_string())
            .collect();
        assert_eq!(paths, ["/3", "/4", "/5"]);
    }

    #[test]
    fn the_log_keeps_what_retention_allows_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.set_limits(Limits {
            log_max_entries: 10,
            log_max_age_ms: 1_000_000,
            ..Limits::default()
        });
        let now = 10_000_000;
        let flush = |entries: Vec<LogEntry>, now| {
            store
                .flush(
                    &Flush {
                        webhook: 1,
                        log: entries,
                        ..Flush::default()
                    },
                    now,
                )
                .unwrap()
        };
        // Two entries far older than the maximum age, then ten recent ones.
        let mut entries = vec![log_entry(1, 1, 1, 0), log_entry(1, 1, 2, 10)];
        entries.extend((0..10).map(|i| log_entry(1, 2 + i, 1, now - 100 + i as i64)));
        let pruned = flush(entries, now);
        // Past 10 it goes down to 9 (90%), dropping the three oldest; the age rule then has
        // nothing left to remove.
        assert_eq!(
            pruned,
            Pruned {
                by_count: 3,
                by_age: 0
            }
        );
        assert_eq!(store.log_len().unwrap(), 9);
        let newest = store
            .log(&LogFilter {
                limit: 2,
                ..LogFilter::default()
            })
            .unwrap();
        assert_eq!(
            newest.iter().map(LogEntry::attempt_id).collect::<Vec<_>>(),
            ["11-1", "10-1"]
        );
        // Much later, everything is older than the maximum age.
        let pruned = flush(vec![log_entry(2, 50, 1, now + 5_000_000)], now + 5_000_000);
        assert_eq!(pruned.by_age, 9);
        let all = store.log(&LogFilter::default()).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(store.last_attempt(2, 50).unwrap(), 1);
        assert_eq!(store.last_attempt(1, 50).unwrap(), 0);
    }

    #[test]
    fn tokens_are_generated_once_and_the_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let setup = |id, url, token: Option<&Token>, secret: Option<&Secret>, now| {
            store
                .webhook_setup(id, url, token, secret, 1_000, now)
                .unwrap()
        };
        let first = setup(1, "http://a/", None, None, 0);
        assert_eq!(first.moved_from, None);
        let again = setup(1, "http://b/", None, None, 0);
        assert_eq!(first.keys.token, again.keys.token);
        assert_eq!(again.moved_from.as_deref(), Some("http://a/"));
        let given = Token::parse("efb7e0030e6cef1b45d3d74a67881a2b").unwrap();
        assert_eq!(
            setup(2, "http://c/", Some(&given), None, 0).keys.token,
            given
        );
        // A replaced token or secret keeps signing for the grace period, then stops.
        let other = Token::parse("00000000000000000000000000000000").unwrap();
        let s1 = Secret::parse("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").unwrap();
        let s2 = Secret::parse("whsec_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB").unwrap();
        setup(2, "http://c/", Some(&given), Some(&s1), 100);
        let rotated = setup(2, "http://c/", Some(&other), Some(&s2), 200);
        assert_eq!(rotated.keys.token, other);
        assert_eq!(rotated.keys.previous_token, Some((given.clone(), 1_200)));
        assert_eq!(rotated.keys.secret, Some(s2.clone()));
        assert_eq!(rotated.keys.previous_secret, Some((s1, 1_200)));
        let later = setup(2, "http://c/", Some(&other), Some(&s2), 1_300);
        assert_eq!(later.keys.previous_token, None);
        assert_eq!(later.keys.previous_secret, None);
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
            err.contains(&junk.path().join(FILE_NAME).display().to_string())
                && err.contains("is damaged")
                && err.contains("move it aside")
                && err.contains("index is rebuilt from the disk")
                && err.contains("undelivered events and the delivery log in the old file are lost"),
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
