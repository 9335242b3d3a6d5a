//! What the index knows of one entry, read from the disk without following symbolic links,
//! and the small file-system questions the watcher asks (a folder's entries in name order,
//! what kind of file system a share lives on).

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs::Metadata;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    /// A socket, FIFO or device node: kept in the index, reported like a file.
    Other,
}

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
    pub fn of(meta: &Metadata) -> Entry {
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
            EntryKind::Other
        };
        Entry {
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
        }
    }

    /// The entry at `path`, never following a symbolic link; `None` when there is none.
    pub fn read(path: &Path) -> Option<Entry> {
        std::fs::symlink_metadata(path).ok().map(|m| Entry::of(&m))
    }

    pub fn is_dir(&self) -> bool {
        self.kind == EntryKind::Dir
    }

    /// Whether `other` is the same content at the same inode. A folder's time changes with
    /// every entry made in it, so folders compare by kind and inode only.
    pub fn same_as(&self, other: &Entry) -> bool {
        self.kind == other.kind
            && self.ino == other.ino
            && (self.is_dir() || (self.size == other.size && self.mtime_ns == other.mtime_ns))
    }
}

/// The entries of folder `dir`, sorted by name bytes. Entries that vanish while being read
/// are left out.
pub fn read_dir_sorted(dir: &Path) -> io::Result<Vec<(Vec<u8>, Entry)>> {
    let mut out = Vec::new();
    for item in std::fs::read_dir(dir)? {
        let item = match item {
            Ok(item) => item,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let name = item.file_name();
        match std::fs::symlink_metadata(dir.join(&name)) {
            Ok(meta) => out.push((name.as_bytes().to_vec(), Entry::of(&meta))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
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
    std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_none())
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
}
