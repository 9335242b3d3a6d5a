//! Opening the state file: what is refused and why (a file that is not sharehook's, a newer
//! format), the meta a new state starts with, and a reader's repair of a file that was not
//! closed cleanly.

use redb::backends::FileBackend;
use redb::{Database, StorageBackend, TableError};
use std::fs::OpenOptions;
use std::path::Path;
use std::time::{Duration, Instant};

use super::*;

/// A boxed backend is a backend (so that `Opener` can make any kind).
#[derive(Debug)]
pub(super) struct Boxed(pub(super) Box<dyn StorageBackend>);

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

/// Only true corruption is "damaged": a file not closed cleanly needs a repair, a locked one
/// is in use, and an I/O error is the disk's or the permissions' doing, not the file's.
pub(super) fn classify_open_error(path: &Path, e: impl Into<redb::Error>) -> StoreError {
    let path = path.to_owned();
    match e.into() {
        redb::Error::DatabaseAlreadyOpen | redb::Error::LockProtocolMismatch => {
            StoreError::InUse { path }
        }
        redb::Error::Io(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
            StoreError::InUse { path }
        }
        redb::Error::Corrupted(detail) => StoreError::Damaged { path, detail },
        redb::Error::RepairAborted => StoreError::NeedsRepair {
            path,
            detail: "it was not closed cleanly".into(),
        },
        redb::Error::Io(source) => StoreError::Open { path, source },
        other => StoreError::Storage {
            path,
            detail: other.to_string(),
        },
    }
}

/// Opens the file at `path` for a `Store` that writes it.
pub(super) fn file_opener(path: &Path) -> Opener {
    let path = path.to_owned();
    Box::new(move || {
        let file = OpenOptions::new().read(true).write(true).open(&path)?;
        let backend = FileBackend::new(file).map_err(|e| match e {
            redb::DatabaseError::Storage(redb::StorageError::Io(io)) => io,
            other => std::io::Error::other(other.to_string()),
        })?;
        Ok(Box::new(backend) as Box<dyn StorageBackend>)
    })
}

/// Refuses what cannot be a state before redb sees it: an empty file, or one that is not redb.
pub(super) fn check_file(path: &Path) -> Result<(), StoreError> {
    use std::io::Read;
    let open_err = |source| StoreError::Open {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(open_err)?;
    let mut head = [0u8; REDB_MAGIC.len()];
    let mut got = 0;
    while got < head.len() {
        match file.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(open_err(e)),
        }
    }
    if got == 0 {
        return Err(StoreError::Empty {
            path: path.to_owned(),
        });
    }
    if got < head.len() || head != REDB_MAGIC {
        return Err(StoreError::Foreign {
            path: path.to_owned(),
            what: "it is not a redb database".into(),
        });
    }
    Ok(())
}

/// Refuses a redb file that sharehook did not make: one without its meta and format.
pub(super) fn check_meta(path: &Path, tx: &redb::ReadTransaction) -> Result<(), StoreError> {
    let foreign = |what: &str| StoreError::Foreign {
        path: path.to_owned(),
        what: what.to_owned(),
    };
    let meta = match tx.open_table(META) {
        Ok(meta) => meta,
        Err(TableError::TableDoesNotExist(_)) => {
            return Err(foreign(
                "it is a redb database without sharehook's format and identity",
            ));
        }
        Err(e) => return Err(classify_open_error(path, e)),
    };
    let format = meta
        .get("format")
        .map_err(|e| classify_open_error(path, e))?
        .map(|v| v.value());
    match format {
        None => Err(foreign(
            "it is a redb database without sharehook's format and identity",
        )),
        Some(layout) if layout > FORMAT => Err(StoreError::Newer {
            path: path.to_owned(),
            layout,
        }),
        Some(_) => Ok(()),
    }
}

pub(super) fn read_only(path: &Path) -> Result<redb::ReadOnlyDatabase, redb::DatabaseError> {
    Database::builder()
        .set_cache_size(CACHE_BYTES)
        .set_concurrency_mode(redb::ConcurrencyMode::SingleWriter)
        .open_read_only(path)
}

/// Opens `path` read-only. redb refuses that for a file that was not closed cleanly (after a
/// crash or a SIGKILL) unless its writer is alive: a live daemon repaired the file when it
/// started. So: with no daemon holding it, the file is opened for writing once, which
/// repairs it; with one holding it, the read is tried again while the daemon starts.
pub(super) fn read_only_repairing(path: &Path) -> Result<redb::ReadOnlyDatabase, StoreError> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match read_only(path) {
            Err(redb::DatabaseError::RepairAborted) => {}
            other => return other.map_err(|e| classify_open_error(path, e)),
        }
        let repaired = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .set_concurrency_mode(redb::ConcurrencyMode::SingleWriter)
            .open(path);
        match repaired {
            Ok(db) => {
                drop(db);
                log::info!(
                    "the state file {} was not closed cleanly; repaired it",
                    path.display()
                );
                continue;
            }
            // A daemon holds it: it repaired the file at its start (or is doing so now).
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {}
            // Not closed cleanly and damaged too: a start of the daemon would not help.
            Err(e @ redb::DatabaseError::Storage(redb::StorageError::Corrupted(_))) => {
                return Err(classify_open_error(path, e));
            }
            Err(e) => {
                return Err(StoreError::NeedsRepair {
                    path: path.to_owned(),
                    detail: format!("opening it to repair it: {e}"),
                });
            }
        }
        if Instant::now() >= deadline {
            return Err(StoreError::NeedsRepair {
                path: path.to_owned(),
                detail: "another sharehook process holds it and has not repaired it".into(),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The first event id of a state made at `now_us`: that time, so that ids grow across states
/// too (unless a state made more than one event per microsecond on average). With a clock
/// that is clearly not set, a random id in [2^52, 2^53 - 2^40) instead, far from any time id
/// of this century, with room for 2^40 events below 2^53.
pub(super) fn first_event_id(now_us: u64) -> u64 {
    if (CLOCK_SET_US..MAX_EVENT_ID - ID_ROOM).contains(&now_us) {
        return now_us;
    }
    let mut b = [0u8; 8];
    let r = match getrandom::fill(&mut b) {
        Ok(()) => u64::from_le_bytes(b),
        // No random numbers either: the time still differs from state to state.
        Err(_) => now_us,
    };
    let span = MAX_EVENT_ID - ID_ROOM - (1 << 52);
    (1 << 52) + r % span
}

/// 128 random bits, as two halves.
pub(super) fn new_identity() -> Result<[u64; 2], getrandom::Error> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b)?;
    let (hi, lo) = b.split_at(8);
    let half = |s: &[u8]| u64::from_be_bytes(s.try_into().expect("8 bytes"));
    Ok([half(hi), half(lo)])
}

pub(super) fn identity_hex(hi: u64, lo: u64) -> String {
    format!("{hi:016x}{lo:016x}")
}
