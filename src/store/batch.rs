//! A write transaction over the index and the queues: nothing of it is seen by readers, or
//! survives a crash, until `commit`.

use crate::core::event::SharePath;
use crate::tree::Entry;

use super::*;

/// A write transaction over the index and the queues. Nothing of it is seen by readers, or
/// survives a crash, until `commit`.
pub struct Batch<'s> {
    pub(super) tx: redb::WriteTransaction,
    pub(super) store: &'s Store,
    pub(super) next_event_id: Option<u64>,
    pub(super) limits: Limits,
    pub(super) dropped: Vec<(u32, u64)>,
    /// How many index entries each share gained (less what it lost) in this batch.
    pub(super) grown: figures::Growth,
}

impl Batch<'_> {
    pub fn entry(&self, share: &str, path: &SharePath) -> Result<Option<Entry>, StoreError> {
        let table = self.tx.open_table(INDEX).map_err(self.store.err())?;
        self.store.entry_in(&table, share, path)
    }

    pub fn put(&mut self, share: &str, path: &SharePath, entry: &Entry) -> Result<(), StoreError> {
        let mut table = self.tx.open_table(INDEX).map_err(self.store.err())?;
        let (dir, name) = split(path);
        let new = table
            .insert((share, dir.as_bytes(), name), encode(entry).as_slice())
            .map_err(self.store.err())?
            .is_none();
        if new {
            self.grown.add(share, 1);
        }
        Ok(())
    }

    /// Puts the entries of folder `folder` (a baseline's read of it), with one opening of
    /// the table and no allocation per entry; returns how many were new.
    pub fn put_children<'e>(
        &mut self,
        share: &str,
        folder: &SharePath,
        entries: impl IntoIterator<Item = (&'e [u8], &'e Entry)>,
    ) -> Result<u64, StoreError> {
        let mut table = self.tx.open_table(INDEX).map_err(self.store.err())?;
        let mut buf = [0u8; 64];
        let mut new = 0;
        for (name, entry) in entries {
            buf[0] = 1;
            let used = postcard::to_slice(entry, &mut buf[1..])
                .expect("an entry encodes in 63 bytes")
                .len();
            let was = table
                .insert((share, folder.as_bytes(), name), &buf[..=used])
                .map_err(self.store.err())?;
            new += u64::from(was.is_none());
        }
        self.grown.add(share, new as i64);
        Ok(new)
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
        let mut gone = 1;
        if removed.is_dir() {
            let mut folders = vec![path.clone()];
            while let Some(folder) = folders.pop() {
                for (name, entry) in store.folder_entries(&table, share, &folder)? {
                    table
                        .remove((share, folder.as_bytes(), name.as_slice()))
                        .map_err(|e| store.fail(e))?;
                    gone += 1;
                    if entry.is_dir() {
                        folders.push(folder.join(&name));
                    }
                }
            }
        }
        self.grown.add(share, -gone);
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
        self.grown.dropped(share);
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
    /// Sets where reading evidence log `name` stands, committed with the events it attributed
    /// (so that a restart neither reads a record twice nor skips one).
    pub fn set_evidence_position(
        &mut self,
        name: &str,
        (dev, ino, offset): (u64, u64, u64),
    ) -> Result<(), StoreError> {
        let mut meta = self.tx.open_table(META).map_err(self.store.err())?;
        for (part, value) in [("dev", dev), ("ino", ino), ("offset", offset)] {
            let key = format!("evidence.{name}.{part}");
            meta.insert(key.as_str(), value).map_err(self.store.err())?;
        }
        Ok(())
    }

    pub fn commit(self) -> Result<Vec<(u32, u64)>, StoreError> {
        let store = self.store;
        store
            .index_counts
            .commit(self.grown, || self.tx.commit().map_err(store.err()))?;
        Ok(self.dropped)
    }
}
