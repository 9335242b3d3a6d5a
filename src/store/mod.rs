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
//! - the file is created `0600` inside a `0700` folder: it holds the verification tokens;
//! - only a missing file is a first start: an existing file that is empty, not redb, or redb
//!   without sharehook's meta is refused and left as it is;
//! - each state has a random identity, and its event ids start where no earlier state's ids
//!   can be (the time it was made, in microseconds), so ids are unique across states;
//! - a reader never calls a file damaged because it was not closed cleanly: it has it repaired
//!   (by opening it for writing, or by the daemon that holds it) and reads it.
//!
//! Layer 2: uses `core` (see `lib.rs`).

mod access;
mod batch;
mod delivery;
mod figures;
mod hooks;
mod open;

use std::fs::{DirBuilder, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redb::{Database, ReadableDatabase, ReadableTable, StorageBackend, TableDefinition};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::core::event::SharePath;
use crate::tree::Entry;

pub use access::{
    AccessChange, AccessSnapshot, AuditRecord, IdOf, KeyRecord, TokenRecord, UserRecord,
};
pub use batch::Batch;
pub use delivery::{
    Disabled, Flush, Flushed, Health, LOG_RESPONSE_BYTES, LogEntry, LogFilter, LogStatus, NewEvent,
    Pending, Pruned, SetAside, WebhookState,
};
pub use hooks::{ApiWebhook, FIRST_API_WEBHOOK_ID};
use open::*;

pub const FILE_NAME: &str = "sharehook.redb";

/// The layout version of the records below; bumped (with a migration) when they change.
/// 2: the state has an identity and ids that start at its making time; `Pending` records are
/// version 2 (a sharehook reading layout 1 would misread them).
const FORMAT: u64 = 2;

/// The first bytes of every redb file.
const REDB_MAGIC: [u8; 9] = [b'r', b'e', b'd', b'b', 0x1A, 0x0A, 0xA9, 0x0D, 0x0A];

/// Event ids stay below this, so that JavaScript receivers read them exactly.
pub const MAX_EVENT_ID: u64 = 1 << 53;
/// 2024-01-01T00:00:00Z in microseconds: a clock before it is not set (a NAS before NTP).
const CLOCK_SET_US: u64 = 1_704_067_200_000_000;
/// Room kept below `MAX_EVENT_ID` for the ids of a state that starts at a random id.
const ID_ROOM: u64 = 1 << 40;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// The index: (share, folder, name) -> `Entry`. Keyed by folder so that a folder's entries
/// are one contiguous range, read in name order.
type IndexKey<'a> = (&'a str, &'a [u8], &'a [u8]);
const INDEX: TableDefinition<IndexKey, &[u8]> = TableDefinition::new("index");
/// Per share: where it was and whether its baseline is taken.
const SHARES: TableDefinition<&str, &[u8]> = TableDefinition::new("shares");

/// The page cache redb may keep in memory: the index lives on disk, not in RAM.
const CACHE_BYTES: usize = 8 << 20;

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
        "the state file {path} is empty (0 bytes): sharehook takes only a missing file for a \
         first start (an empty one would lose the changes made while it was stopped and replace \
         its generated tokens), and has left it as it is; restore the file from a backup, or, \
         to start with a new state, remove it (rm {path}) and start again"
    )]
    Empty { path: PathBuf },
    #[error(
        "the state file {path} is not a sharehook state ({what}); nothing in it was changed: \
         point state_dir at the folder of sharehook's state, or move the file aside \
         (mv {path} {path}.foreign) to start with a new state"
    )]
    Foreign { path: PathBuf, what: String },
    #[error(
        "the state file {path} has layout {layout}, written by a newer sharehook (this one reads \
         layouts up to {FORMAT}); run that version or a newer one"
    )]
    Newer { path: PathBuf, layout: u64 },
    #[error(
        "the state file {path} was not closed cleanly (sharehook stopped without closing it) and \
         could not be repaired from here ({detail}); start `sharehook run` once (systemctl start \
         sharehook) to repair it: nothing in it is lost"
    )]
    NeedsRepair { path: PathBuf, detail: String },
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
    /// Index entries per share, counted once and then kept by each commit (`figures`).
    index_counts: figures::IndexCounts,
    /// Counts the committed changes of users, keys and tokens, whoever made them (the API,
    /// the page, the command line through the control socket): what depends on a user's
    /// password or role (a page session, a live stream) wakes on it.
    access_changed: tokio::sync::watch::Sender<u64>,
}

impl Store {
    /// Opens the state in `dir`; makes a new one only when there is no state file.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let path = Self::prepare(dir)?;
        // A reader repairing the file (after a crash) holds it for a moment: wait that out.
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            match Self::open_with(path.clone(), file_opener(&path)) {
                Err(StoreError::InUse { .. }) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                other => return other,
            }
        }
    }

    /// Opens the state on storage made by `opener` (tests use it to inject failures). Empty
    /// storage becomes a new state: the caller has made it for that.
    pub fn open_with(path: PathBuf, opener: Opener) -> Result<Store, StoreError> {
        let (db, fresh) = Self::connect(&path, &opener)?;
        if !fresh {
            // Checked before anything is written, so that a foreign file is left as it is.
            let tx = db.begin_read().map_err(|e| classify_open_error(&path, e))?;
            check_meta(&path, &tx)?;
        }
        let store = Store {
            db: RwLock::new(Arc::new(Handle::Rw(db))),
            path,
            opener,
            broken: AtomicBool::new(false),
            limits: RwLock::new(Limits::default()),
            last_age_prune: Mutex::new(0),
            index_counts: Default::default(),
            access_changed: tokio::sync::watch::Sender::new(0),
        };
        store.init(fresh)?;
        Ok(store)
    }

    /// Opens the state in `dir` only to read it, beside a daemon that may be writing it.
    pub fn open_read_only(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.join(FILE_NAME);
        check_file(&path)?;
        let db = read_only_repairing(&path)?;
        {
            let tx = db.begin_read().map_err(|e| classify_open_error(&path, e))?;
            check_meta(&path, &tx)?;
        }
        Ok(Store {
            db: RwLock::new(Arc::new(Handle::Ro(db))),
            opener: Box::new(|| Err(std::io::Error::other("opened read-only"))),
            path,
            broken: AtomicBool::new(false),
            limits: RwLock::new(Limits::default()),
            last_age_prune: Mutex::new(0),
            index_counts: Default::default(),
            access_changed: tokio::sync::watch::Sender::new(0),
        })
    }

    /// The database on `opener`'s storage, and whether that storage was empty (a new state).
    fn connect(path: &Path, opener: &Opener) -> Result<(Database, bool), StoreError> {
        let backend = opener().map_err(|e| classify_open_error(path, redb::Error::Io(e)))?;
        let fresh = backend
            .len()
            .map_err(|e| classify_open_error(path, redb::Error::Io(e)))?
            == 0;
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .set_concurrency_mode(redb::ConcurrencyMode::SingleWriter)
            .create_with_backend(Boxed(backend))
            .map_err(|e| classify_open_error(path, e))?;
        Ok((db, fresh))
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
                *slot = Arc::new(Handle::Rw(Self::connect(&self.path, &self.opener)?.0));
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

    /// Creates the state folder (0700) and, when there is no state file, a new state (0600);
    /// checks that an existing file is a sharehook state. Returns the file's path.
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
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Self::make_new(dir, &path)?;
                return Ok(path);
            }
            Err(e) => return Err(open_err(e)),
            Ok(_) => {}
        }
        check_file(&path)?;
        // Looked at read-only first, so that a foreign redb file is refused without a write.
        // One not closed cleanly cannot be read so; the check then waits for the open.
        match read_only(&path) {
            Ok(db) => {
                let tx = db.begin_read().map_err(|e| classify_open_error(&path, e))?;
                check_meta(&path, &tx)?;
            }
            Err(redb::DatabaseError::RepairAborted) => {}
            Err(e) => return Err(classify_open_error(&path, e)),
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
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

    /// Makes a new state at `path`: made complete under another name, then renamed, so that
    /// a crash meanwhile never leaves an empty or half-made file where the state belongs.
    fn make_new(dir: &Path, path: &Path) -> Result<(), StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        let new = dir.join(format!("{FILE_NAME}.new"));
        let _ = std::fs::remove_file(&new);
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&new)
            .map_err(open_err)?;
        drop(Self::open_with(new.clone(), file_opener(&new))?);
        std::fs::rename(&new, path).map_err(open_err)?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(open_err)?;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sets up the tables; a `fresh` state gets its format, identity and first event id.
    fn init(&self, fresh: bool) -> Result<(), StoreError> {
        let tx = self.begin()?;
        {
            let mut meta = tx.open_table(META).map_err(self.err())?;
            let format = meta.get("format").map_err(self.err())?.map(|v| v.value());
            match format {
                // A new state, or one of an earlier sharehook (layout 1): it gets an identity,
                // and its ids start past any an earlier state (moved aside before it) may
                // have sent.
                None if fresh => self.give_identity(&mut meta, false)?,
                Some(1) => self.give_identity(&mut meta, true)?,
                Some(FORMAT) => {}
                Some(other) if other > FORMAT => {
                    return Err(StoreError::Newer {
                        path: self.path.clone(),
                        layout: other,
                    });
                }
                _ => {
                    return Err(StoreError::Foreign {
                        path: self.path.clone(),
                        what: "it has no sharehook format".into(),
                    });
                }
            }
            tx.open_table(INDEX).map_err(self.err())?;
            tx.open_table(SHARES).map_err(self.err())?;
        }
        self.init_delivery(&tx)?;
        self.init_hooks(&tx)?;
        self.init_access(&tx)?;
        tx.commit().map_err(self.err())
    }

    /// Writes a new identity, this layout, and the next event id into `meta`; `earlier` when
    /// the state was made by an earlier sharehook (said in the log), not for a new state.
    fn give_identity(
        &self,
        meta: &mut redb::Table<&str, u64>,
        earlier: bool,
    ) -> Result<(), StoreError> {
        let [hi, lo] = new_identity().map_err(|e| StoreError::Storage {
            path: self.path.clone(),
            detail: format!("no random numbers for its identity: {e}"),
        })?;
        let next = meta
            .get("next_event_id")
            .map_err(self.err())?
            .map_or(1, |v| v.value())
            .max(first_event_id(now_us()));
        meta.insert("format", FORMAT).map_err(self.err())?;
        meta.insert("identity_hi", hi).map_err(self.err())?;
        meta.insert("identity_lo", lo).map_err(self.err())?;
        meta.insert("next_event_id", next).map_err(self.err())?;
        if earlier {
            log::info!(
                "the state file {} was made by an earlier sharehook: it now has \
                 identity {}, and its next event id is {next}",
                self.path.display(),
                identity_hex(hi, lo)
            );
        }
        Ok(())
    }

    /// The state's identity, 32 hex digits (made with the state, never changed).
    pub fn identity(&self) -> Result<String, StoreError> {
        let tx = self.read()?;
        let meta = tx.open_table(META).map_err(self.err())?;
        let get = |key: &str| -> Result<Option<u64>, StoreError> {
            Ok(meta.get(key).map_err(self.err())?.map(|v| v.value()))
        };
        match (get("identity_hi")?, get("identity_lo")?) {
            (Some(hi), Some(lo)) => Ok(identity_hex(hi, lo)),
            _ => Err(self.damaged("it has no identity".into())),
        }
    }

    /// Where reading evidence log `name` stood when the last batch was committed: (device,
    /// inode, offset), or zeros when it was never read.
    pub fn evidence_position(&self, name: &str) -> Result<(u64, u64, u64), StoreError> {
        let tx = self.read()?;
        let meta = tx.open_table(META).map_err(self.err())?;
        let get = |part: &str| -> Result<u64, StoreError> {
            let key = format!("evidence.{name}.{part}");
            Ok(meta
                .get(key.as_str())
                .map_err(self.err())?
                .map_or(0, |v| v.value()))
        };
        Ok((get("dev")?, get("ino")?, get("offset")?))
    }

    /// The id the next event will get.
    pub fn next_event_id(&self) -> Result<u64, StoreError> {
        let tx = self.read()?;
        let meta = tx.open_table(META).map_err(self.err())?;
        meta.get("next_event_id")
            .map_err(self.err())?
            .map(|v| v.value())
            .ok_or_else(|| self.damaged("it has no next event id".into()))
    }

    /// Takes the next event id for an event that is sent but not queued (a test delivery), so
    /// no queued event ever shares its id.
    pub fn reserve_event_id(&self) -> Result<u64, StoreError> {
        let tx = self.begin()?;
        let id = {
            let mut meta = tx.open_table(META).map_err(self.err())?;
            let id = meta
                .get("next_event_id")
                .map_err(self.err())?
                .map(|v| v.value())
                .ok_or_else(|| self.damaged("it has no next event id".into()))?;
            meta.insert("next_event_id", id + 1).map_err(self.err())?;
            id
        };
        tx.commit().map_err(self.err())?;
        Ok(id)
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
            grown: Default::default(),
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

type Bound = std::ops::Bound<u64>;

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

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

#[cfg(test)]
pub(crate) mod tests;
