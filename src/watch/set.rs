//! The watched folders, as a tree of names: each folder is a node holding its name (in one
//! shared buffer), its parent and its watch descriptor. A path is its nodes' names joined, so
//! a folder's rename moves one node, whatever lies below it, and a hundred thousand watched
//! folders cost a few megabytes (a map of whole paths both ways cost about 250 bytes each).

use std::hash::BuildHasher;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use hashbrown::HashTable;
use inotify::{WatchMask, Watches};

use super::AddError;
use crate::tree::ShortPath;

/// No node: the parent of a top node, an empty list.
const NONE: u32 = u32::MAX;
/// Bytes of removed names past which the names are copied into a new buffer (when they are
/// also half of it); small in tests, so that the random test compacts often.
const COMPACT_AFTER: usize = if cfg!(test) { 64 } else { 4096 };

/// One folder, watched or on the way to one that is.
#[derive(Clone, Copy)]
struct Node {
    parent: u32,
    /// Its watch descriptor, or -1 when it has none (a folder above watched ones).
    wd: i32,
    /// Where its name is in `names` (a top node's name is its whole path).
    name_at: u32,
    name_len: u32,
    first_child: u32,
    next: u32,
    prev: u32,
}

/// The watched folders: watch descriptor to folder path and back.
pub struct WatchSet {
    watches: Watches,
    /// The inotify descriptor, for removing watches by number.
    fd: RawFd,
    folders: Folders,
}

/// The tree of folders with their watch descriptors, without the kernel.
struct Folders {
    nodes: Vec<Node>,
    /// Nodes no longer used, for reuse.
    free: Vec<u32>,
    /// Every node's name, one after another; `garbage` bytes of it belong to removed nodes.
    names: Vec<u8>,
    garbage: usize,
    /// The nodes, found by parent and name.
    by_name: HashTable<u32>,
    /// The nodes, found by watch descriptor.
    by_wd: hashbrown::HashMap<i32, u32, std::hash::RandomState>,
    hasher: std::hash::RandomState,
    /// Top nodes (folders watched with nothing watched above them).
    tops: Vec<u32>,
}

impl WatchSet {
    pub fn new(watches: Watches, fd: RawFd) -> WatchSet {
        WatchSet {
            watches,
            fd,
            folders: Folders::new(),
        }
    }

    /// Watches folder `dir` (a share root also reports its own removal). The kernel is asked
    /// even when a watch is known at `dir`: that watch may be of another folder that was there
    /// before (renamed, the rename not read yet); the kernel knows which folder is there now.
    pub fn add(&mut self, dir: &Path, root: bool) -> Result<(), AddError> {
        let wd = add_watch(&mut self.watches, dir, root)?;
        self.record(dir, wd);
        Ok(())
    }

    /// Folder `dir` is watched by descriptor `wd`, which `add_watch` gave (on another thread).
    pub fn record(&mut self, dir: &Path, wd: i32) {
        self.folders.insert(dir, wd);
    }

    /// A handle that adds watches to the same inotify instance from another thread; what it
    /// adds is known here once [`WatchSet::record`]ed.
    pub fn watches(&self) -> Watches {
        self.watches.clone()
    }

    /// Descriptor `wd`, added by `add_watch` but never recorded, is not wanted: the kernel
    /// drops it, unless it has become the watch of a folder this set knows.
    pub fn release(&mut self, wd: i32) {
        if self.folders.path(wd).is_none() {
            // SAFETY: a plain system call on the inotify descriptor this set was made with;
            // a watch the kernel dropped already gives EINVAL, which is fine.
            unsafe { libc::inotify_rm_watch(self.fd, wd) };
        }
    }

    pub fn contains(&self, dir: &Path) -> bool {
        self.folders.contains(dir)
    }

    /// The folder a descriptor watches.
    pub fn path(&self, wd: i32) -> Option<PathBuf> {
        self.folders.path(wd)
    }

    /// The kernel dropped descriptor `wd` (its folder was deleted, or the watch removed).
    pub fn forget(&mut self, wd: i32) {
        self.folders.forget(wd);
    }

    /// Stops watching `dir` and every folder below it.
    pub fn remove_tree(&mut self, dir: &Path) {
        for wd in self.folders.remove_tree(dir) {
            // SAFETY: a plain system call on the inotify descriptor this set was made with;
            // a watch the kernel dropped already gives EINVAL, which is fine.
            unsafe { libc::inotify_rm_watch(self.fd, wd) };
        }
    }

    /// `from` and the folders below it were moved to `to`: their watches stay, under the new
    /// paths.
    pub fn move_tree(&mut self, from: &Path, to: &Path) {
        self.folders.move_tree(from, to);
    }

    /// How many watches the kernel holds for this set's inotify instance (for tests: each
    /// should be one this set knows).
    #[cfg(test)]
    pub fn kernel_watches(&self) -> usize {
        std::fs::read_to_string(format!("/proc/self/fdinfo/{}", self.fd))
            .expect("the inotify descriptor's fdinfo is readable")
            .lines()
            .filter(|l| l.starts_with("inotify wd:"))
            .count()
    }

    /// How many folders are watched.
    pub fn len(&self) -> usize {
        self.folders.len()
    }

    pub fn is_empty(&self) -> bool {
        self.folders.len() == 0
    }

    /// How many folders are watched at `dir` and below it.
    pub fn count_below(&self, dir: &Path) -> usize {
        self.folders.count_below(dir)
    }
}

/// Asks the kernel to watch folder `dir` (a share root also reports its own removal);
/// returns the descriptor, to be [`WatchSet::record`]ed.
pub fn add_watch(watches: &mut Watches, dir: &Path, root: bool) -> Result<i32, AddError> {
    let mut mask = WatchMask::CREATE
        | WatchMask::DELETE
        | WatchMask::MOVED_FROM
        | WatchMask::MOVED_TO
        | WatchMask::CLOSE_WRITE
        | WatchMask::MODIFY
        | WatchMask::DONT_FOLLOW
        | WatchMask::ONLYDIR
        | WatchMask::EXCL_UNLINK;
    if root {
        mask |= WatchMask::DELETE_SELF | WatchMask::MOVE_SELF;
    }
    // A long path is given as its folder's descriptor and its name: the last component
    // stays a real name, so DONT_FOLLOW still keeps a link from being watched.
    let short = ShortPath::new(dir).map_err(AddError::Io)?;
    let wd = watches.add(short.as_path(), mask).map_err(|e| {
        if e.raw_os_error() == Some(libc::ENOSPC) {
            AddError::Limit
        } else {
            AddError::Io(e)
        }
    })?;
    Ok(wd.get_watch_descriptor_id())
}

impl Folders {
    fn new() -> Folders {
        Folders {
            nodes: Vec::new(),
            free: Vec::new(),
            names: Vec::new(),
            garbage: 0,
            by_name: HashTable::new(),
            by_wd: hashbrown::HashMap::with_hasher(std::hash::RandomState::new()),
            hasher: std::hash::RandomState::new(),
            tops: Vec::new(),
        }
    }

    /// Folder `dir` is watched by descriptor `id` (which, if it watched another path, has
    /// moved with its folder; a descriptor known at `dir` before is of a folder gone from it).
    fn insert(&mut self, dir: &Path, id: i32) {
        // Watched again where it was (a rescan asks the kernel each time): nothing changes.
        if self
            .find(dir)
            .is_some_and(|n| self.nodes[n as usize].wd == id)
        {
            return;
        }
        // The same folder under another path (it was moved and the move not seen yet):
        // the kernel gives the same descriptor; the new path is the true one.
        if let Some(old) = self.by_wd.remove(&id) {
            self.nodes[old as usize].wd = -1;
            self.prune(old);
        }
        let node = self.make(dir);
        let before = self.nodes[node as usize].wd;
        if before >= 0 && before != id {
            // Another folder's watch was here; that folder is gone from this path.
            self.by_wd.remove(&before);
        }
        self.nodes[node as usize].wd = id;
        self.by_wd.insert(id, node);
    }

    fn contains(&self, dir: &Path) -> bool {
        self.find(dir)
            .is_some_and(|n| self.nodes[n as usize].wd >= 0)
    }

    fn path(&self, wd: i32) -> Option<PathBuf> {
        self.by_wd.get(&wd).map(|&n| self.path_of(n))
    }

    fn forget(&mut self, wd: i32) {
        if let Some(node) = self.by_wd.remove(&wd) {
            self.nodes[node as usize].wd = -1;
            self.prune(node);
        }
    }

    /// Forgets `dir` and every folder below it; returns their descriptors.
    fn remove_tree(&mut self, dir: &Path) -> Vec<i32> {
        let parent = self.find(dir).map(|n| self.nodes[n as usize].parent);
        let mut wds = Vec::new();
        for n in self.subtree_at(dir) {
            let wd = self.nodes[n as usize].wd;
            if wd >= 0 {
                self.by_wd.remove(&wd);
                wds.push(wd);
            }
            self.drop_node(n);
        }
        if let Some(parent) = parent.filter(|&p| p != NONE) {
            self.prune(parent);
        }
        wds
    }

    fn move_tree(&mut self, from: &Path, to: &Path) {
        // No rename moves a folder into itself or onto a folder above it.
        if from.starts_with(to) || to.starts_with(from) {
            return;
        }
        let moving: Vec<u32> = match self.find(from) {
            Some(n) => vec![n],
            None => self
                .tops
                .iter()
                .copied()
                .filter(|&t| self.path_of(t).starts_with(from))
                .collect(),
        };
        if moving.is_empty() {
            return;
        }
        // A descriptor at `to` itself while none is at `from`: the kernel gave `from`'s
        // descriptor to `to` already (the folder was watched at its new path before its
        // rename was read). It stays, with the moved folder.
        let at_from = self.find(from).map_or(-1, |n| self.nodes[n as usize].wd);
        let carried = match self.find(to) {
            Some(n) if at_from < 0 => self.nodes[n as usize].wd,
            _ => -1,
        };
        // Whatever was known at `to` is not there any more: the moved folder took its place.
        let there: Vec<u32> = self
            .subtree_at(to)
            .into_iter()
            .filter(|&n| !moving.iter().any(|&m| self.is_below(n, m)))
            .collect();
        for n in there {
            let wd = self.nodes[n as usize].wd;
            if wd >= 0 {
                self.by_wd.remove(&wd);
            }
            self.drop_node(n);
        }
        for node in moving {
            let target = crate::tree::rebase(&self.path_of(node), from, to);
            let old_parent = self.nodes[node as usize].parent;
            self.unlink(node);
            self.unname(node);
            let (parent, name) = self.place(&target);
            self.set_name(node, name.as_bytes());
            self.link(node, parent);
            if parent == NONE {
                self.adopt(node, &target);
            }
            if old_parent != NONE {
                self.prune(old_parent);
            }
        }
        if carried >= 0 {
            let n = self.make(to);
            self.nodes[n as usize].wd = carried;
            self.by_wd.insert(carried, n);
        }
    }

    fn len(&self) -> usize {
        self.by_wd.len()
    }

    fn count_below(&self, dir: &Path) -> usize {
        let mut count = 0;
        for n in self.subtree_at(dir) {
            count += usize::from(self.nodes[n as usize].wd >= 0);
        }
        count
    }

    // ----- the tree -----

    fn name(&self, n: u32) -> &[u8] {
        let node = &self.nodes[n as usize];
        &self.names[node.name_at as usize..(node.name_at + node.name_len) as usize]
    }

    fn hash(&self, parent: u32, name: &[u8]) -> u64 {
        self.hasher.hash_one((parent, name))
    }

    /// The node of `parent` named `name`.
    fn child(&self, parent: u32, name: &[u8]) -> Option<u32> {
        let hash = self.hash(parent, name);
        self.by_name
            .find(hash, |&n| {
                self.nodes[n as usize].parent == parent && self.name(n) == name
            })
            .copied()
    }

    /// The top node holding `path`, and the names of what is left of the path below it.
    /// (Paths here are clean and absolute, so bytes and slashes do what components would,
    /// at a fraction of the cost: a walk of a share records every folder of it.)
    fn top_of<'p>(
        &self,
        path: &'p Path,
    ) -> Option<(u32, impl Iterator<Item = &'p [u8]> + use<'p>)> {
        let bytes = path.as_os_str().as_bytes();
        self.tops
            .iter()
            .filter_map(|&t| {
                let top = self.name(t);
                let rest = bytes.strip_prefix(top)?;
                let below = rest.is_empty() || rest[0] == b'/' || top.ends_with(b"/");
                below.then_some((t, rest, top.len()))
            })
            .max_by_key(|&(_, _, len)| len)
            .map(|(t, rest, _)| (t, rest.split(|&b| b == b'/').filter(|p| !p.is_empty())))
    }

    fn find(&self, path: &Path) -> Option<u32> {
        let (mut node, rest) = self.top_of(path)?;
        for name in rest {
            node = self.child(node, name)?;
        }
        Some(node)
    }

    /// The parent node `path` goes under (made as needed), and its last name; a path with
    /// nothing known above it becomes a top.
    fn place<'p>(&mut self, path: &'p Path) -> (u32, &'p std::ffi::OsStr) {
        let name = path.file_name().unwrap_or(path.as_os_str());
        match self.top_of(path) {
            Some((top, rest)) => {
                let mut parts = rest.peekable();
                if parts.peek().is_none() {
                    return (NONE, path.as_os_str());
                }
                let mut node = top;
                while let Some(bytes) = parts.next() {
                    if parts.peek().is_none() {
                        break;
                    }
                    node = match self.child(node, bytes) {
                        Some(n) => n,
                        None => {
                            let n = self.new_node(bytes);
                            self.link(n, node);
                            n
                        }
                    };
                }
                (node, name)
            }
            _ => (NONE, path.as_os_str()),
        }
    }

    /// The node of `path`, made (with the nodes above it) if there is none.
    fn make(&mut self, path: &Path) -> u32 {
        if let Some(n) = self.find(path) {
            return n;
        }
        let (parent, name) = self.place(path);
        let n = self.new_node(name.as_bytes());
        self.link(n, parent);
        if parent == NONE {
            self.adopt(n, path);
        }
        n
    }

    /// Top nodes below the new top `n` (at `path`) go under it.
    fn adopt(&mut self, n: u32, path: &Path) {
        let below: Vec<(u32, PathBuf)> = self
            .tops
            .iter()
            .filter(|&&t| t != n)
            .map(|&t| (t, self.path_of(t)))
            .filter(|(_, p)| p.starts_with(path))
            .collect();
        for (t, p) in below {
            self.unlink(t);
            self.unname(t);
            let (parent, name) = self.place(&p);
            self.set_name(t, name.as_bytes());
            self.link(t, parent);
        }
    }

    fn new_node(&mut self, name: &[u8]) -> u32 {
        let node = Node {
            parent: NONE,
            wd: -1,
            name_at: 0,
            name_len: 0,
            first_child: NONE,
            next: NONE,
            prev: NONE,
        };
        let n = match self.free.pop() {
            Some(n) => {
                self.nodes[n as usize] = node;
                n
            }
            None => {
                self.nodes.push(node);
                u32::try_from(self.nodes.len() - 1).expect("fewer than 4 billion folders")
            }
        };
        self.set_name(n, name);
        n
    }

    fn set_name(&mut self, n: u32, name: &[u8]) {
        if self.garbage > COMPACT_AFTER && self.garbage > self.names.len() / 2 {
            self.compact();
        }
        let at = u32::try_from(self.names.len()).expect("names fit in 4 GiB");
        self.names.extend_from_slice(name);
        let node = &mut self.nodes[n as usize];
        node.name_at = at;
        node.name_len = name.len() as u32;
    }

    /// Copies the names of the nodes in use into a new buffer.
    fn compact(&mut self) {
        let mut names = Vec::with_capacity(self.names.len() - self.garbage);
        let free: std::collections::HashSet<u32> = self.free.iter().copied().collect();
        for (i, node) in self.nodes.iter_mut().enumerate() {
            if free.contains(&(i as u32)) {
                continue;
            }
            let at = names.len() as u32;
            names.extend_from_slice(
                &self.names[node.name_at as usize..(node.name_at + node.name_len) as usize],
            );
            node.name_at = at;
        }
        self.names = names;
        self.garbage = 0;
    }

    /// Puts node `n` under `parent` (a top when `parent` is NONE), findable by name.
    fn link(&mut self, n: u32, parent: u32) {
        self.nodes[n as usize].parent = parent;
        if parent == NONE {
            self.tops.push(n);
        } else {
            let first = self.nodes[parent as usize].first_child;
            self.nodes[n as usize].next = first;
            self.nodes[n as usize].prev = NONE;
            if first != NONE {
                self.nodes[first as usize].prev = n;
            }
            self.nodes[parent as usize].first_child = n;
        }
        let hash = self.hash(parent, self.name(n));
        let (nodes, names, hasher) = (&self.nodes, &self.names, &self.hasher);
        self.by_name.insert_unique(hash, n, |&m| {
            let node = &nodes[m as usize];
            let name = &names[node.name_at as usize..(node.name_at + node.name_len) as usize];
            hasher.hash_one((node.parent, name))
        });
    }

    /// Takes node `n` out of its parent's children (or the tops).
    fn unlink(&mut self, n: u32) {
        let Node {
            parent, next, prev, ..
        } = self.nodes[n as usize];
        if parent == NONE {
            self.tops.retain(|&t| t != n);
        } else if prev == NONE {
            self.nodes[parent as usize].first_child = next;
        } else {
            self.nodes[prev as usize].next = next;
        }
        if next != NONE {
            self.nodes[next as usize].prev = prev;
        }
        self.nodes[n as usize].next = NONE;
        self.nodes[n as usize].prev = NONE;
    }

    /// Takes node `n` out of the names index (its name is garbage from now on).
    fn unname(&mut self, n: u32) {
        let parent = self.nodes[n as usize].parent;
        let hash = self.hash(parent, self.name(n));
        if let Ok(entry) = self.by_name.find_entry(hash, |&m| m == n) {
            entry.remove();
        }
        self.garbage += self.nodes[n as usize].name_len as usize;
    }

    fn drop_node(&mut self, n: u32) {
        self.unlink(n);
        self.unname(n);
        self.nodes[n as usize].wd = -1;
        self.free.push(n);
    }

    /// Drops node `n` and the nodes above it while they have no watch and no children.
    fn prune(&mut self, mut n: u32) {
        while n != NONE {
            let node = self.nodes[n as usize];
            if node.wd >= 0 || node.first_child != NONE {
                return;
            }
            self.drop_node(n);
            n = node.parent;
        }
    }

    /// Node `n` and every node below it, deepest last.
    fn subtree(&self, n: u32) -> Vec<u32> {
        let mut out = vec![n];
        let mut i = 0;
        while i < out.len() {
            let mut c = self.nodes[out[i] as usize].first_child;
            while c != NONE {
                out.push(c);
                c = self.nodes[c as usize].next;
            }
            i += 1;
        }
        out
    }

    /// The nodes at `dir` and below: the subtree of its node, or, when `dir` has none, of
    /// every top inside it.
    fn subtree_at(&self, dir: &Path) -> Vec<u32> {
        match self.find(dir) {
            Some(n) => self.subtree(n),
            None => self
                .tops
                .iter()
                .filter(|&&t| Path::new(std::ffi::OsStr::from_bytes(self.name(t))).starts_with(dir))
                .flat_map(|&t| self.subtree(t))
                .collect(),
        }
    }

    fn is_below(&self, mut n: u32, above: u32) -> bool {
        while n != NONE {
            if n == above {
                return true;
            }
            n = self.nodes[n as usize].parent;
        }
        false
    }

    fn path_of(&self, n: u32) -> PathBuf {
        let mut parts = Vec::new();
        let mut at = n;
        while at != NONE {
            parts.push(at);
            at = self.nodes[at as usize].parent;
        }
        let mut path = PathBuf::new();
        for &p in parts.iter().rev() {
            path.push(std::ffi::OsStr::from_bytes(self.name(p)));
        }
        path
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use super::Folders;
    use crate::testing::Rng;

    /// What the tree must answer: each descriptor's path, nothing more.
    #[derive(Default)]
    struct Model(BTreeMap<i32, PathBuf>);

    impl Model {
        fn insert(&mut self, dir: &Path, id: i32) {
            self.0.retain(|_, p| p != dir);
            self.0.insert(id, dir.to_owned());
        }

        fn remove_tree(&mut self, dir: &Path) -> Vec<i32> {
            let gone: Vec<i32> = self
                .0
                .iter()
                .filter(|(_, p)| p.starts_with(dir))
                .map(|(id, _)| *id)
                .collect();
            self.0.retain(|_, p| !p.starts_with(dir));
            gone
        }

        fn move_tree(&mut self, from: &Path, to: &Path) {
            if !self.0.values().any(|p| p.starts_with(from)) || from == to {
                return;
            }
            // A descriptor at `to` itself stays when none is at `from`.
            let keep_to = !self.0.values().any(|p| p == from);
            self.0
                .retain(|_, p| p.starts_with(from) || !p.starts_with(to) || (keep_to && p == to));
            for p in self.0.values_mut() {
                if p.starts_with(from) {
                    *p = crate::tree::rebase(p, from, to);
                }
            }
        }
    }

    #[test]
    fn the_folder_tree_answers_as_a_map_of_paths_under_random_work() {
        let names = ["a", "b", "c", "New folder", "d\u{e9}j\u{e0}"];
        let roots = [Path::new("/srv/one"), Path::new("/srv/two")];
        for seed in 0..200u64 {
            let mut rng = Rng(seed);
            let mut tree = Folders::new();
            let mut model = Model::default();
            let mut next_id = 1;
            let path = |rng: &mut Rng| {
                let mut p = roots[rng.below(2) as usize].to_path_buf();
                for _ in 0..rng.below(4) {
                    p.push(rng.pick(&names));
                }
                p
            };
            for step in 0..300 {
                let what = match rng.below(10) {
                    0..=3 => {
                        let p = path(&mut rng);
                        let id = if rng.below(4) == 0 && next_id > 1 {
                            // A descriptor the kernel gave before: its folder moved here.
                            1 + rng.below(next_id as u64 - 1) as i32
                        } else {
                            next_id += 1;
                            next_id - 1
                        };
                        tree.insert(&p, id);
                        model.insert(&p, id);
                        format!("insert {} {id}", p.display())
                    }
                    4 => {
                        let id = 1 + rng.below(next_id as u64) as i32;
                        tree.forget(id);
                        model.0.remove(&id);
                        format!("forget {id}")
                    }
                    5 | 6 => {
                        let p = path(&mut rng);
                        let mut got = tree.remove_tree(&p);
                        let mut want = model.remove_tree(&p);
                        got.sort_unstable();
                        want.sort_unstable();
                        assert_eq!(got, want, "seed {seed} step {step}: remove {}", p.display());
                        format!("remove {}", p.display())
                    }
                    _ => {
                        let (from, to) = (path(&mut rng), path(&mut rng));
                        if to.starts_with(&from) || from.starts_with(&to) {
                            continue; // no rename does this
                        }
                        tree.move_tree(&from, &to);
                        model.move_tree(&from, &to);
                        format!("move {} {}", from.display(), to.display())
                    }
                };
                let context = format!("seed {seed} step {step} ({what})");
                assert_eq!(tree.len(), model.0.len(), "{context}");
                for (id, p) in &model.0 {
                    assert_eq!(tree.path(*id).as_ref(), Some(p), "{context}: {id}");
                    assert!(tree.contains(p), "{context}: {}", p.display());
                }
                for root in roots {
                    let below = model.0.values().filter(|p| p.starts_with(root)).count();
                    assert_eq!(tree.count_below(root), below, "{context}");
                }
            }
        }
    }
}
