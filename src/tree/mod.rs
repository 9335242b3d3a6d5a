//! What the index knows of one entry, read from the disk without following symbolic links,
//! and the small file-system questions the watcher asks (a folder's entries in name order,
//! what kind of file system a share lives on). Every read of the disk goes through here, so
//! that paths longer than the kernel takes in one piece (PATH_MAX) are read like any other.
//!
//! Layer 2: uses `core` (see `lib.rs`).

pub mod owner;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs::Metadata;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    /// A socket, FIFO or device node. No longer made: such entries are neither indexed nor
    /// reported. The variant stays so that an index written by an earlier version still
    /// reads; a reconcile finds such an entry missing from the disk and reports its Delete
    /// (receivers were told of its Upload then).
    Other,
}

/// The size that marks a folder as never read (see `Entry::unread`).
const UNREAD: u64 = u64::MAX;

/// One entry as the index keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub kind: EntryKind,
    pub ino: u64,
    pub size: u64,
    /// Modification time in nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    pub uid: u32,
}

impl Entry {
    /// The entry for `meta`, if it is of a kind that is reported: a regular file, a folder or
    /// a symbolic link. FIFOs, sockets and device nodes are not content anyone uploaded.
    pub fn of(meta: &Metadata) -> Option<Entry> {
        let ft = meta.file_type();
        let kind = if ft.is_symlink() {
            EntryKind::Symlink
        } else if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_file() {
            EntryKind::File
        } else {
            debug_assert!(
                ft.is_fifo() || ft.is_socket() || ft.is_block_device() || ft.is_char_device()
            );
            return None;
        };
        Some(Entry {
            kind,
            ino: meta.ino(),
            size: if kind == EntryKind::Dir {
                0
            } else {
                meta.size()
            },
            mtime_ns: meta
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(meta.mtime_nsec()),
            uid: meta.uid(),
        })
    }

    /// The entry for what `fstatat` said, as `of` makes it.
    #[allow(clippy::useless_conversion)] // the types of the fields differ between targets
    fn of_stat(st: &libc::stat) -> Option<Entry> {
        let kind = match st.st_mode & libc::S_IFMT {
            libc::S_IFLNK => EntryKind::Symlink,
            libc::S_IFDIR => EntryKind::Dir,
            libc::S_IFREG => EntryKind::File,
            _ => return None,
        };
        Some(Entry {
            kind,
            ino: ino_of(st),
            size: if kind == EntryKind::Dir {
                0
            } else {
                u64::try_from(st.st_size).unwrap_or(0)
            },
            mtime_ns: i64::from(st.st_mtime)
                .saturating_mul(1_000_000_000)
                .saturating_add(i64::from(st.st_mtime_nsec)),
            uid: st.st_uid,
        })
    }

    /// The entry at `path`, never following a symbolic link; `None` when there is none (or
    /// it cannot be read: a caller that must tell the two apart uses `lstat`).
    pub fn read(path: &Path) -> Option<Entry> {
        lstat(path).ok().flatten()
    }

    pub fn is_dir(&self) -> bool {
        self.kind == EntryKind::Dir
    }

    /// This folder, marked in the index as never read: the first start could not read it,
    /// so once it can be, what it holds is indexed as a baseline, not reported as new. A
    /// folder's size is otherwise always 0 (and no comparison looks at it).
    pub fn unread(mut self) -> Entry {
        debug_assert!(self.is_dir());
        self.size = UNREAD;
        self
    }

    pub fn is_unread(&self) -> bool {
        self.is_dir() && self.size == UNREAD
    }

    /// Whether `other` is the same content at the same inode. A folder's time changes with
    /// every entry made in it, so folders compare by kind and inode only.
    pub fn same_as(&self, other: &Entry) -> bool {
        self.kind == other.kind
            && self.ino == other.ino
            && (self.is_dir() || (self.size == other.size && self.mtime_ns == other.mtime_ns))
    }
}

/// The entry at `path`, never following a symbolic link: `Ok(None)` when nothing (of a kind
/// that is reported) is there, an error when it cannot be told (no permission, no descriptor
/// left, an I/O error).
pub fn lstat(path: &Path) -> io::Result<Option<Entry>> {
    let short = match ShortPath::new(path) {
        Ok(short) => short,
        Err(e) if gone(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    match std::fs::symlink_metadata(short.as_path()) {
        Ok(meta) => Ok(Entry::of(&meta)),
        Err(e) if gone(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether something sharehook never reports (a FIFO, a socket, a device node) is at `path`.
pub fn is_unreported_kind(path: &Path) -> bool {
    ShortPath::new(path)
        .ok()
        .and_then(|short| std::fs::symlink_metadata(short.as_path()).ok())
        .is_some_and(|meta| Entry::of(&meta).is_none())
}

/// Whether an error says the path is not there (or one of its folders is not a folder).
fn gone(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR)
}

/// The entries of folder `dir`, sorted by name bytes, without FIFOs, sockets and devices.
/// Entries that vanish while being read are left out. Any error but the folder's absence
/// (`NotFound`) means its entries are unknown, never that it has none.
pub fn read_dir_sorted(dir: &Path) -> io::Result<Vec<(Vec<u8>, Entry)>> {
    read_folder(dir, true).map(|(_, entries)| entries.to_vec())
}

/// A folder's entries, sorted by name, with their names in one buffer: reading a folder
/// costs two allocations, not one per entry.
#[derive(Debug, Default)]
pub struct Entries {
    names: Vec<u8>,
    /// Where each name is in `names`, and its entry.
    items: Vec<(u32, u32, Entry)>,
}

impl Entries {
    fn push(&mut self, name: &[u8], entry: Entry) {
        let at = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.extend_from_slice(name);
        // A name is at most 255 bytes.
        self.items.push((at, name.len() as u32, entry));
    }

    fn name(names: &[u8], at: u32, len: u32) -> &[u8] {
        &names[at as usize..(at + len) as usize]
    }

    fn sort(&mut self) {
        let names = &self.names;
        self.items
            .sort_unstable_by(|a, b| Self::name(names, a.0, a.1).cmp(Self::name(names, b.0, b.1)));
    }

    /// Each name and its entry, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &Entry)> {
        self.items
            .iter()
            .map(|(at, len, e)| (Self::name(&self.names, *at, *len), e))
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Keeps the entries `keep` says yes to.
    pub fn retain(&mut self, mut keep: impl FnMut(&[u8], &Entry) -> bool) {
        let names = &self.names;
        self.items
            .retain(|(at, len, e)| keep(Self::name(names, *at, *len), e));
    }

    /// Each name with its entry, as owned pairs.
    pub fn to_vec(&self) -> Vec<(Vec<u8>, Entry)> {
        self.iter().map(|(n, e)| (n.to_vec(), *e)).collect()
    }
}

/// The inode of folder `dir` and its entries, as `read_dir_sorted` gives them. With `follow`
/// false, a symbolic link at `dir` is not followed (`ELOOP`): a walk reads the folder its
/// parent listed, not what a link put there since points to.
pub fn read_folder(dir: &Path, follow: bool) -> io::Result<(u64, Entries)> {
    let short = ShortPath::new(dir)?;
    let c = CString::new(short.as_path().as_os_str().as_bytes()).map_err(io::Error::other)?;
    let mut flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
    if !follow {
        flags |= libc::O_NOFOLLOW;
    }
    // SAFETY: a NUL-terminated path; the descriptor returned is new and owned by nobody else.
    let fd = unsafe { libc::open(c.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let folder = Folder::open(fd)?;
    let ino = ino_of(&folder.stat(None)?);
    let mut out = Entries::default();
    let mut name = Vec::with_capacity(256);
    while let Some(next) = folder.next()? {
        if next == b"." || next == b".." {
            continue;
        }
        // Looked at relative to the open folder (fstatat, not following links): one name to
        // look up instead of the whole path.
        name.clear();
        name.extend_from_slice(next);
        name.push(0);
        match folder.stat(Some(&name)) {
            Ok(st) => {
                if let Some(entry) = Entry::of_stat(&st) {
                    out.push(&name[..name.len() - 1], entry);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    out.sort();
    Ok((ino, out))
}

/// The inode number `fstatat` gave (its type differs between targets).
#[allow(clippy::useless_conversion)]
fn ino_of(st: &libc::stat) -> u64 {
    u64::from(st.st_ino)
}

/// An open folder, read entry by entry (`readdir` on its descriptor).
struct Folder(std::ptr::NonNull<libc::DIR>);

impl Folder {
    /// Takes descriptor `fd`, open on a folder (closed with the `Folder`, or now on failure).
    fn open(fd: libc::c_int) -> io::Result<Folder> {
        // SAFETY: `fd` is an open descriptor nobody else owns; on success the stream owns it.
        match std::ptr::NonNull::new(unsafe { libc::fdopendir(fd) }) {
            Some(dir) => Ok(Folder(dir)),
            None => {
                let e = io::Error::last_os_error();
                // SAFETY: the stream was not made, so the descriptor is still ours to close.
                unsafe { libc::close(fd) };
                Err(e)
            }
        }
    }

    /// The next name, or `None` at the end.
    fn next(&self) -> io::Result<Option<&[u8]>> {
        // SAFETY: errno is this thread's; readdir on a stream this value owns. The entry it
        // returns lives until the next readdir on the stream, which needs `&self` again only
        // after the caller is done with the name (it copies it first).
        unsafe {
            *libc::__errno_location() = 0;
            let entry = libc::readdir(self.0.as_ptr());
            if entry.is_null() {
                let errno = *libc::__errno_location();
                return if errno == 0 {
                    Ok(None)
                } else {
                    Err(io::Error::from_raw_os_error(errno))
                };
            }
            let name = std::ffi::CStr::from_ptr((*entry).d_name.as_ptr());
            Ok(Some(name.to_bytes()))
        }
    }

    /// The folder itself (`None`), or the entry `name` (NUL-terminated) in it, never
    /// following a link.
    fn stat(&self, name: Option<&[u8]>) -> io::Result<libc::stat> {
        debug_assert!(name.is_none_or(|n| n.last() == Some(&0)));
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: the stream's descriptor is open while it is; the name is NUL-terminated;
        // `st` is written in full on success.
        let done = unsafe {
            let fd = libc::dirfd(self.0.as_ptr());
            match name {
                None => libc::fstat(fd, st.as_mut_ptr()),
                Some(name) => libc::fstatat(
                    fd,
                    name.as_ptr().cast(),
                    st.as_mut_ptr(),
                    libc::AT_SYMLINK_NOFOLLOW,
                ),
            }
        };
        if done != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the call succeeded, so the kernel filled it.
        Ok(unsafe { st.assume_init() })
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        // SAFETY: the stream is open and owned by this value alone.
        unsafe { libc::closedir(self.0.as_ptr()) };
    }
}

/// Paths at least this long are reached through a descriptor of their folder. Below it, the
/// path and any name inside it (at most 255 bytes) fit in PATH_MAX.
const SHORT: usize = libc::PATH_MAX as usize - 256;

/// A path the kernel takes for `path`: `path` itself when it is short, else
/// `/proc/self/fd/N/NAME`, where N is a descriptor of its folder, opened one component at a
/// time from a short ancestor. Valid while it lives (it holds the descriptor).
pub struct ShortPath<'a> {
    path: Cow<'a, Path>,
    _folder: Option<OwnedFd>,
}

impl<'a> ShortPath<'a> {
    pub fn new(path: &'a Path) -> io::Result<ShortPath<'a>> {
        // The usual case costs no copy: this runs for every entry read.
        let direct = || ShortPath {
            path: Cow::Borrowed(path),
            _folder: None,
        };
        if path.as_os_str().len() < SHORT {
            return Ok(direct());
        }
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Ok(direct());
        };
        let folder = open_folder(parent)?;
        let path = PathBuf::from(format!("/proc/self/fd/{}", folder.as_raw_fd())).join(name);
        Ok(ShortPath {
            path: Cow::Owned(path),
            _folder: Some(folder),
        })
    }

    pub fn as_path(&self) -> &Path {
        &self.path
    }
}

/// Opens folder `dir` (of any length) as an `O_PATH` descriptor: its longest short ancestor as
/// it is, then each component below, never following a symbolic link there (the engine never
/// descends into links, so a link on the way means the folder was replaced meanwhile).
fn open_folder(dir: &Path) -> io::Result<OwnedFd> {
    let start = dir
        .ancestors()
        .find(|a| a.as_os_str().len() < SHORT)
        .unwrap_or(Path::new("/"));
    let open = |at: Option<&OwnedFd>, name: &std::ffi::OsStr, follow: bool| {
        let c = CString::new(name.as_bytes()).map_err(io::Error::other)?;
        let mut flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC;
        if !follow {
            flags |= libc::O_NOFOLLOW;
        }
        let at = at.map_or(libc::AT_FDCWD, AsRawFd::as_raw_fd);
        // SAFETY: a NUL-terminated name and a descriptor that is open (or AT_FDCWD); the
        // descriptor returned is new and owned by nobody else.
        let fd = unsafe { libc::openat(at, c.as_ptr(), flags) };
        if fd < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        }
    };
    let mut folder = open(None, start.as_os_str(), true)?;
    let rest = dir
        .strip_prefix(start)
        .expect("an ancestor is a prefix of its path");
    for component in rest.components() {
        let Component::Normal(name) = component else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a normalized path", dir.display()),
            ));
        };
        folder = open(Some(&folder), name, false)?;
    }
    Ok(folder)
}

/// The keys of `map` that are `dir` or lie below it. Paths (and `PathKey`s) order by
/// component, so a folder's subtree follows it without a gap.
pub fn keys_below<K, V>(map: &BTreeMap<K, V>, dir: &Path) -> Vec<K>
where
    K: Ord + Clone + AsRef<Path> + From<PathBuf>,
{
    map.range(K::from(dir.to_owned())..)
        .map(|(p, _)| p)
        .take_while(|p| p.as_ref().starts_with(dir))
        .cloned()
        .collect()
}

/// A path as a map key that compares as bytes, with `/` before every other byte: for the
/// normalized absolute paths sharehook builds (no `.`, `..`, `//` or trailing `/`) that is
/// the same order as `Path`'s, component by component, at a fraction of the cost (`Path`
/// parses both sides into components on every comparison; a burst makes millions).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PathKey(pub PathBuf);

impl Ord for PathKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let (a, b) = (
            self.0.as_os_str().as_bytes(),
            other.0.as_os_str().as_bytes(),
        );
        let rank = |c: u8| if c == b'/' { 0 } else { u16::from(c) + 1 };
        match a.iter().zip(b).position(|(x, y)| x != y) {
            Some(i) => rank(a[i]).cmp(&rank(b[i])),
            None => a.len().cmp(&b.len()),
        }
    }
}

impl PartialOrd for PathKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl AsRef<Path> for PathKey {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl From<PathBuf> for PathKey {
    fn from(p: PathBuf) -> PathKey {
        PathKey(p)
    }
}

/// `path`, which is `from` or lies below it, at the same place below `to`.
pub fn rebase(path: &Path, from: &Path, to: &Path) -> PathBuf {
    let rest = path
        .strip_prefix(from)
        .expect("a path below the folder it is rebased from");
    if rest.as_os_str().is_empty() {
        to.to_owned()
    } else {
        to.join(rest)
    }
}

/// Whether folder `dir` has no entries (a folder that cannot be read counts as not empty).
pub fn is_empty_dir(dir: &Path) -> bool {
    ShortPath::new(dir)
        .and_then(|short| std::fs::read_dir(short.as_path()))
        .is_ok_and(|mut entries| entries.next().is_none())
}

/// The kind of file system `path` lives on, when it is one whose changes inotify cannot see
/// (changes made by other hosts of a network file system, or inside a FUSE daemon).
pub fn remote_fs(path: &Path) -> Option<&'static str> {
    let c = CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statfs writes into the zeroed struct it is given; the path is NUL-terminated.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    remote_fs_name(st.f_type as u64)
}

/// The names of the file-system magic numbers (from linux/magic.h) that need polling.
fn remote_fs_name(magic: u64) -> Option<&'static str> {
    Some(match magic {
        0x6969 => "nfs",
        0x517B => "smbfs",
        0xFF53_4D42 => "cifs",
        0xFE53_4D42 => "smb2",
        0x6573_5546 => "fuse",
        0x0102_1997 => "9p",
        0x00C3_6400 => "ceph",
        0x5346_414F => "afs",
        0x7375_7245 => "coda",
        0x0BD0_0BD0 => "lustre",
        0x4750_4653 => "gpfs",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_keys_order_like_paths() {
        let names = [
            "/a",
            "/a/b",
            "/a b",
            "/a-b",
            "/a/b/c",
            "/a/bc",
            "/ab",
            "/a.b",
            "/a/.x",
            "/b",
            "/a/b c",
            "/a/b/c/d",
            "/a\u{e9}",
            "/",
            "/a/\u{1f600}",
            "/z/a",
            "/a0",
        ];
        let mut by_path: Vec<PathBuf> = names.iter().map(PathBuf::from).collect();
        let mut by_key: Vec<PathKey> = names.iter().map(|n| PathKey(PathBuf::from(n))).collect();
        by_path.sort();
        by_key.sort();
        let by_key: Vec<PathBuf> = by_key.into_iter().map(|k| k.0).collect();
        assert_eq!(by_key, by_path);
        let map: BTreeMap<PathKey, ()> = names.iter().map(|n| (PathKey(n.into()), ())).collect();
        let below: Vec<PathBuf> = keys_below(&map, Path::new("/a/b"))
            .into_iter()
            .map(|k| k.0)
            .collect();
        assert_eq!(below, ["/a/b", "/a/b/c", "/a/b/c/d"].map(PathBuf::from));
    }

    #[test]
    fn network_and_fuse_file_systems_are_named_and_local_ones_are_not() {
        assert_eq!(remote_fs_name(0x6969), Some("nfs"));
        assert_eq!(remote_fs_name(0xFF53_4D42), Some("cifs"));
        assert_eq!(remote_fs_name(0x6573_5546), Some("fuse"));
        assert_eq!(remote_fs_name(0xEF53), None, "ext4");
        assert_eq!(remote_fs_name(0x0102_1994), None, "tmpfs");
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(remote_fs(dir.path()), None);
    }

    #[test]
    fn entries_are_read_without_following_links() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("b"), "12345").unwrap();
        std::fs::create_dir(d.join("a")).unwrap();
        std::os::unix::fs::symlink("/etc", d.join("c")).unwrap();
        let got = read_dir_sorted(d).unwrap();
        let kinds: Vec<(&[u8], EntryKind)> =
            got.iter().map(|(n, e)| (n.as_slice(), e.kind)).collect();
        assert_eq!(
            kinds,
            [
                (&b"a"[..], EntryKind::Dir),
                (b"b", EntryKind::File),
                (b"c", EntryKind::Symlink)
            ]
        );
        assert_eq!(got[1].1.size, 5);
        assert!(!is_empty_dir(d));
        assert!(is_empty_dir(&d.join("a")));
    }

    #[test]
    fn fifos_sockets_and_devices_are_no_entries() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("file"), "1").unwrap();
        let fifo = CString::new(d.join("fifo").as_os_str().as_bytes()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        let _socket = std::os::unix::net::UnixListener::bind(d.join("sock")).unwrap();
        let names: Vec<Vec<u8>> = read_dir_sorted(d)
            .unwrap()
            .into_iter()
            .map(|e| e.0)
            .collect();
        assert_eq!(names, [b"file".to_vec()]);
        assert_eq!(lstat(&d.join("fifo")).unwrap(), None);
        assert_eq!(lstat(&d.join("sock")).unwrap(), None);
        assert_eq!(lstat(&d.join("none")).unwrap(), None);
        assert_eq!(lstat(&d.join("file/below")).unwrap(), None);
        assert!(lstat(&d.join("file")).unwrap().is_some());
    }

    #[test]
    fn paths_longer_than_path_max_are_read_through_their_folder() {
        let dir = tempfile::tempdir().unwrap();
        let name = "n".repeat(250);
        // Made one level at a time: no single path given to the kernel is long.
        let script = format!(
            "for i in $(seq 1 20); do mkdir ${{i}}{name} && cd -P ${{i}}{name}; done; \
             echo hello > file; mkdir empty; ln -s /etc link"
        );
        let ok = std::process::Command::new("sh")
            .args(["-ec", &script])
            .current_dir(dir.path())
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let mut deep = dir.path().to_owned();
        for i in 1..=20 {
            deep.push(format!("{i}{name}"));
        }
        assert!(deep.as_os_str().len() > libc::PATH_MAX as usize);
        assert!(std::fs::read_dir(&deep).is_err(), "too long for the kernel");
        let got = read_dir_sorted(&deep).unwrap();
        let kinds: Vec<(&[u8], EntryKind)> =
            got.iter().map(|(n, e)| (n.as_slice(), e.kind)).collect();
        assert_eq!(
            kinds,
            [
                (&b"empty"[..], EntryKind::Dir),
                (b"file", EntryKind::File),
                (b"link", EntryKind::Symlink)
            ]
        );
        assert_eq!(lstat(&deep.join("file")).unwrap().unwrap().size, 6);
        assert_eq!(lstat(&deep.join("gone")).unwrap(), None);
        assert!(is_empty_dir(&deep.join("empty")));
        assert!(!is_empty_dir(&deep));
        // A link on the way is not followed: the folder is not there.
        assert_eq!(lstat(&deep.join("link/passwd")).unwrap(), None);
        let ok = std::process::Command::new("rm")
            .arg("-rf")
            .arg(dir.path().join(format!("1{name}")))
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }
}
