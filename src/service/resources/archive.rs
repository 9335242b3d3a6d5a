//! The zips of downloads: written to an unnamed file in the state folder, within the bounds
//! of the zips in progress (how many at once, in all and per user; how large one may grow;
//! how much room all take, and the room they leave on the state folder's disk). A zip's
//! `ZipLease` travels with its file to the download and is given back when both are dropped.

use std::ffi::CString;
use std::fs::{File, Metadata};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::ResourceError;
use crate::core::payload::rfc3339;

/// A zip being written to an unnamed file in the state folder, within its lease's bounds.
pub(super) struct Zip {
    writer: zip::ZipWriter<Counted>,
    state_dir: PathBuf,
}

impl Zip {
    pub(super) fn new(state_dir: &Path, lease: ZipLease) -> Result<Zip, ResourceError> {
        let file = unnamed_file(state_dir).map_err(|source| ResourceError::Io {
            what: format!("cannot make a zip in {}", state_dir.display()),
            source,
        })?;
        Ok(Zip {
            writer: zip::ZipWriter::new(Counted {
                file,
                pos: 0,
                high: 0,
                lease,
            }),
            state_dir: state_dir.to_owned(),
        })
    }

    fn options(meta: &Metadata) -> zip::write::SimpleFileOptions {
        let mut options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(meta.mode() & 0o777)
            .large_file(meta.len() >= u64::from(u32::MAX));
        if let Some(time) = zip_time(meta.mtime() * 1000) {
            options = options.last_modified_time(time);
        }
        options
    }

    fn broken(&self, e: io::Error) -> ResourceError {
        zip_broken(&self.state_dir, e)
    }

    fn zip_error(&self, e: zip::result::ZipError) -> ResourceError {
        match e {
            zip::result::ZipError::Io(e) => self.broken(e),
            other => self.broken(io::Error::other(other)),
        }
    }

    pub(super) fn folder(&mut self, name: &str, meta: &Metadata) -> Result<(), ResourceError> {
        let added = self
            .writer
            .add_directory(format!("{name}/"), Self::options(meta));
        added.map_err(|e| self.zip_error(e))
    }

    /// Adds `file` as `name`; a failure to read it is told by `unreadable`.
    pub(super) fn file(
        &mut self,
        name: &str,
        meta: &Metadata,
        file: &mut File,
        unreadable: impl Fn(io::Error) -> ResourceError,
    ) -> Result<(), ResourceError> {
        let started = self.writer.start_file(name, Self::options(meta));
        started.map_err(|e| self.zip_error(e))?;
        let mut buf = vec![0; 64 * 1024];
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(unreadable(e)),
            };
            if let Err(e) = self.writer.write_all(&buf[..n]) {
                return Err(self.broken(e));
            }
        }
    }

    pub(super) fn finish(self) -> Result<(File, u64, ZipLease), ResourceError> {
        let Zip { writer, state_dir } = self;
        let counted = writer.finish().map_err(|e| match e {
            zip::result::ZipError::Io(e) => zip_broken(&state_dir, e),
            other => zip_broken(&state_dir, io::Error::other(other)),
        })?;
        let Counted {
            mut file, lease, ..
        } = counted;
        let mut end = || {
            let size = file.seek(SeekFrom::End(0))?;
            file.seek(SeekFrom::Start(0))?;
            Ok(size)
        };
        let size = end().map_err(|e| zip_broken(&state_dir, e))?;
        Ok((file, size, lease))
    }
}

/// A failure to write a zip in `state_dir`: a bound it reached, or the state folder's doing
/// (full, read-only), not the share's.
fn zip_broken(state_dir: &Path, e: io::Error) -> ResourceError {
    if let Some(refusal) = e.get_ref().and_then(|i| i.downcast_ref::<ZipRefusal>()) {
        return ResourceError::Zip(refusal.clone());
    }
    if e.raw_os_error() == Some(libc::ENOSPC) {
        return ResourceError::Zip(ZipRefusal::NoRoom(format!(
            "the state folder {} is full: the zip cannot be made now",
            state_dir.display()
        )));
    }
    ResourceError::Io {
        what: format!("cannot write a zip in {}", state_dir.display()),
        source: e,
    }
}

/// A file with no name in `dir`, gone once closed whatever happens: `O_TMPFILE`, or where the
/// file system does not have it, a file made and unlinked at once (its name starts with
/// `.download-` and the process id; one left by a crash between the two is removed by
/// `remove_leftover_zips` at the next start).
fn unnamed_file(dir: &Path) -> io::Result<File> {
    let unnamed = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE)
        .open(dir);
    match unnamed {
        Ok(file) => return Ok(file),
        // Not on this file system (EOPNOTSUPP), or not known to this kernel or emulator.
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL)
            ) => {}
        Err(e) => return Err(e),
    }
    made_and_unlinked(dir)
}

/// A file made under a name of its own in `dir`, and unlinked at once.
fn made_and_unlinked(dir: &Path) -> io::Result<File> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = dir.join(format!(
        ".download-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&name)?;
    std::fs::remove_file(&name)?;
    Ok(file)
}

/// Removes the named temporary zips a process that is gone left in `dir`.
pub(super) fn remove_leftover_zips(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mine = format!(".download-{}-", std::process::id());
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(".download-") && !name.starts_with(&mine) {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => log::info!(
                    "removed {}, a download's temporary zip left by an earlier run",
                    entry.path().display()
                ),
                Err(e) => log::warn!("cannot remove {}: {e}", entry.path().display()),
            }
        }
    }
}

/// The file a zip is written to, counting what it takes against its lease.
struct Counted {
    file: File,
    pos: u64,
    /// The end of what was written: the zip writer seeks back to fill in sizes.
    high: u64,
    lease: ZipLease,
}

impl Write for Counted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let end = self.pos + buf.len() as u64;
        if end > self.high {
            self.lease.grow(end - self.high).map_err(io::Error::other)?;
            self.high = end;
        }
        let n = self.file.write(buf)?;
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Seek for Counted {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.pos = self.file.seek(to)?;
        Ok(self.pos)
    }
}

// ----- the bounds of zips -----

/// How many zips downloads may have at once and how much room they may take. A zip lives in
/// the state folder from when it is begun until its download ends (sent, or the client gone
/// or reading nothing for `STALL`).
#[derive(Clone, Debug)]
pub struct ZipLimits {
    /// Zips being made or sent at once, in all.
    pub at_once: usize,
    /// ... and for one user.
    pub per_user: usize,
    /// The largest one zip may be.
    pub max_bytes: u64,
    /// The most all zips at once may take.
    pub total_bytes: u64,
    /// Room no zip takes on the state folder's file system: `keep_free` bytes, or
    /// `keep_free_percent` of the file system when that is less.
    pub keep_free: u64,
    pub keep_free_percent: u64,
}

impl Default for ZipLimits {
    fn default() -> ZipLimits {
        const GIB: u64 = 1 << 30;
        ZipLimits {
            at_once: 4,
            per_user: 2,
            max_bytes: 4 * GIB,
            total_bytes: 8 * GIB,
            keep_free: GIB,
            keep_free_percent: 10,
        }
    }
}

/// How long a download may wait for its client to read before it is ended (and its zip,
/// if it has one, removed).
pub const STALL: Duration = Duration::from_secs(120);

/// Why a zip is not made: over a bound.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ZipRefusal {
    /// This zip would be larger than `max_bytes`.
    #[error("{0}")]
    TooLarge(String),
    /// As many zips as allowed are being made or sent.
    #[error("{0}")]
    TooMany(String),
    /// The zips in progress, or the state folder, leave no room for it now.
    #[error("{0}")]
    NoRoom(String),
}

/// The zips in progress, in all and by user, and the bytes they take.
#[derive(Debug)]
pub struct ZipGate {
    limits: ZipLimits,
    counts: Mutex<(usize, std::collections::HashMap<String, usize>)>,
    total: AtomicU64,
}

impl ZipGate {
    pub fn new(limits: ZipLimits) -> Arc<ZipGate> {
        Arc::new(ZipGate {
            limits,
            counts: Mutex::new((0, std::collections::HashMap::new())),
            total: AtomicU64::new(0),
        })
    }

    /// The zips in progress and the bytes their files take.
    pub fn in_use(&self) -> (usize, u64) {
        let all = self.counts.lock().unwrap_or_else(|p| p.into_inner()).0;
        (all, self.total.load(Ordering::SeqCst))
    }

    /// The daemon's one gate, kept across reloads (which make `Resources` again while
    /// downloads go on).
    pub(super) fn shared() -> Arc<ZipGate> {
        static GATE: std::sync::OnceLock<Arc<ZipGate>> = std::sync::OnceLock::new();
        Arc::clone(GATE.get_or_init(|| ZipGate::new(ZipLimits::default())))
    }

    /// A place for one more zip of `user`'s, whose file is in `state_dir`.
    pub fn admit(
        self: &Arc<ZipGate>,
        user: &str,
        state_dir: &Path,
    ) -> Result<ZipLease, ZipRefusal> {
        let limits = &self.limits;
        {
            let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
            let (all, by_user) = &mut *counts;
            let theirs = by_user.get(user).copied().unwrap_or(0);
            if theirs >= limits.per_user {
                return Err(ZipRefusal::TooMany(format!(
                    "user {} has {theirs} zip downloads in progress, the most one user may have \
                     at once; try again when one is done (a single file is sent without a zip)",
                    crate::core::event::escape_controls(user)
                )));
            }
            if *all >= limits.at_once {
                return Err(ZipRefusal::TooMany(format!(
                    "{all} zip downloads are in progress, the most sharehook makes at once; \
                     try again when one is done (a single file is sent without a zip)"
                )));
            }
            *all += 1;
            *by_user.entry(user.to_owned()).or_default() += 1;
        }
        let mut lease = ZipLease {
            gate: Some(Arc::clone(self)),
            user: user.to_owned(),
            state_dir: state_dir.to_owned(),
            bytes: 0,
        };
        lease.check_room()?;
        Ok(lease)
    }
}

/// One zip's place among those in progress, given back when it is dropped (with its file).
#[derive(Debug)]
pub struct ZipLease {
    gate: Option<Arc<ZipGate>>,
    user: String,
    state_dir: PathBuf,
    /// What this zip's file takes.
    bytes: u64,
}

/// How often (in bytes written) a zip looks at the room left on the state folder's disk.
const ROOM_CHECK: u64 = 8 << 20;

impl ZipLease {
    /// Counts `n` more bytes of the zip's file, or refuses them.
    fn grow(&mut self, n: u64) -> Result<(), ZipRefusal> {
        let Some(gate) = &self.gate else {
            return Ok(());
        };
        let limits = &gate.limits;
        let mine = self.bytes + n;
        if mine > limits.max_bytes {
            return Err(ZipRefusal::TooLarge(format!(
                "the zip would be larger than {}, the most one download's zip may be; download \
                 fewer files or smaller folders at once (a single file is sent without a zip)",
                bytes_text(limits.max_bytes)
            )));
        }
        let total = gate.total.fetch_add(n, Ordering::SeqCst) + n;
        if total > limits.total_bytes {
            gate.total.fetch_sub(n, Ordering::SeqCst);
            return Err(ZipRefusal::NoRoom(format!(
                "the zips of the downloads in progress take {}, the most they may at once; try \
                 again when one is done",
                bytes_text(limits.total_bytes)
            )));
        }
        self.bytes = mine;
        if (mine - n) / ROOM_CHECK != mine / ROOM_CHECK {
            self.check_room()?;
        }
        Ok(())
    }

    /// Refuses to go on when the state folder's file system is down to the room kept free.
    fn check_room(&mut self) -> Result<(), ZipRefusal> {
        let Some(gate) = &self.gate else {
            return Ok(());
        };
        let Some((size, free)) = disk_space(&self.state_dir) else {
            return Ok(());
        };
        let limits = &gate.limits;
        let keep = limits
            .keep_free
            .min(size / 100 * limits.keep_free_percent.min(100));
        if free <= keep {
            return Err(ZipRefusal::NoRoom(format!(
                "the state folder {} has {} free, and zips leave {} of its disk free; try again \
                 when there is more room",
                self.state_dir.display(),
                bytes_text(free),
                bytes_text(keep)
            )));
        }
        Ok(())
    }
}

impl Drop for ZipLease {
    fn drop(&mut self) {
        let Some(gate) = self.gate.take() else {
            return;
        };
        gate.total.fetch_sub(self.bytes, Ordering::SeqCst);
        let mut counts = gate.counts.lock().unwrap_or_else(|p| p.into_inner());
        let (all, by_user) = &mut *counts;
        *all = all.saturating_sub(1);
        if let Some(n) = by_user.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                by_user.remove(&self.user);
            }
        }
    }
}

/// The size of the file system holding `dir`, and the room an unprivileged writer has on it.
fn disk_space(dir: &Path) -> Option<(u64, u64)> {
    let c = CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: `c` is a NUL-terminated path and `st` is written by the call before it is read.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    let unit = st.f_frsize as u64;
    Some((st.f_blocks as u64 * unit, st.f_bavail as u64 * unit))
}

/// `n` bytes for people: `4 GiB`, `512 MiB`, `300 KiB`, `12 bytes`.
pub(super) fn bytes_text(n: u64) -> String {
    for (unit, name) in [(1u64 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")] {
        if n >= unit {
            let whole = n / unit;
            let tenths = n % unit * 10 / unit;
            return if tenths == 0 {
                format!("{whole} {name}")
            } else {
                format!("{whole}.{tenths} {name}")
            };
        }
    }
    format!("{n} bytes")
}

/// A zip's local time (it has no zone; UTC here) of milliseconds since the epoch.
fn zip_time(ms: i64) -> Option<zip::DateTime> {
    let t = rfc3339(ms);
    let n = |r: std::ops::Range<usize>| t.get(r)?.parse::<u16>().ok();
    let byte = |r| n(r).and_then(|v| u8::try_from(v).ok());
    zip::DateTime::from_date_and_time(
        n(0..4)?,
        byte(5..7)?,
        byte(8..10)?,
        byte(11..13)?,
        byte(14..16)?,
        byte(17..19)?,
    )
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_for_people() {
        for (n, text) in [
            (12, "12 bytes"),
            (100 << 10, "100 KiB"),
            (3 << 29, "1.5 GiB"),
            (4 << 30, "4 GiB"),
        ] {
            assert_eq!(bytes_text(n), text);
        }
    }

    #[test]
    fn a_zip_s_file_has_no_name_in_the_state_folder_either_way() {
        let dir = tempfile::tempdir().unwrap();
        for mut file in [
            unnamed_file(dir.path()).unwrap(),
            made_and_unlinked(dir.path()).unwrap(),
        ] {
            file.write_all(b"zip").unwrap();
            file.seek(SeekFrom::Start(0)).unwrap();
            let mut back = String::new();
            file.read_to_string(&mut back).unwrap();
            assert_eq!(back, "zip");
            assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        }
    }

    #[test]
    fn a_lease_counts_what_its_zip_takes_and_gives_it_back_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let gate = ZipGate::new(ZipLimits {
            max_bytes: 1000,
            total_bytes: 1500,
            ..ZipLimits::default()
        });
        let mut one = gate.admit("ann", dir.path()).unwrap();
        one.grow(900).unwrap();
        assert!(matches!(one.grow(200), Err(ZipRefusal::TooLarge(_))));
        let mut two = gate.admit("bob", dir.path()).unwrap();
        assert!(matches!(two.grow(700), Err(ZipRefusal::NoRoom(_))));
        two.grow(600).unwrap();
        assert_eq!(gate.in_use(), (2, 1500));
        drop(one);
        assert_eq!(gate.in_use(), (1, 600));
        drop(two);
        assert_eq!(gate.in_use(), (0, 0));
    }
}
