//! The files of a share through the management API (info, list, download, delete), reached
//! without ever leaving the share, and the attribution of the changes made that way.
//!
//! Every path is opened from the share's root one component at a time, each relative to the
//! folder opened before it and with `O_NOFOLLOW`: a symbolic link on the way or at the end is
//! refused, never followed, wherever it points (out of the share or inside it), and a folder
//! swapped for a link while a request runs cannot take it elsewhere. `..` never reaches the
//! disk: a name holding one is refused as it is read. Names are bytes, as on the disk.
//!
//! A resource is named by a path (with one share, inside it: `/a/b.txt`; with several, the
//! share's name first: `/public/a/b.txt`), by its number (the `id` the API and v2 webhooks
//! give it) alone or as `id:N`, or by `hash:X` (its hex `hash`). An id is found by walking
//! the share's index in the state, so it costs time in proportion to the entries indexed.

mod archive;
mod disk;
mod locate;
mod sort;

use disk::*;
use locate::*;
use sort::*;

use std::collections::HashSet;
use std::ffi::{CStr, CString};
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;

use crate::config::{Config, ResourceAccess, Share};
use crate::core::event::{Attribution, Who};
use crate::core::event::{Operation, SharePath, escape_bytes};
use crate::core::fault::{Fault, Kind};
use crate::core::ignore::Ignore;
use crate::core::payload::{resource_id, rfc3339};
use crate::engine::attributions::Attributions;
use crate::service::access::{self, Caller, Role};
use crate::store::{Store, StoreError};
use crate::tree::owner::Owners;

pub use archive::{STALL, ZipGate, ZipLease, ZipLimits, ZipRefusal};
use archive::{Zip, remove_leftover_zips};

/// The protocol label of a change made through the API.
pub const PROTOCOL: &str = "api";

/// Why a resource request failed.
#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    /// The name given is wrong; `field` is the request parameter that held it.
    #[error("{detail}")]
    Invalid { field: &'static str, detail: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    /// The disk changed under the request (a folder written to while it was being deleted).
    #[error("{0}")]
    Conflict(String),
    /// A download's zip is over one of its bounds (`ZipLimits`).
    #[error("{0}")]
    Zip(ZipRefusal),
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Fault for ResourceError {
    fn kind(&self) -> Kind {
        match self {
            ResourceError::Invalid { field, .. } => Kind::invalid(*field),
            ResourceError::NotFound(_) => Kind::NotFound,
            ResourceError::Forbidden(_) => Kind::Forbidden,
            ResourceError::Conflict(_) => Kind::Conflict,
            ResourceError::Zip(ZipRefusal::TooLarge(_)) => Kind::invalid("resources"),
            ResourceError::Zip(_) => Kind::Conflict,
            ResourceError::Io { .. } | ResourceError::Store(_) => Kind::Internal,
        }
    }
}

impl ResourceError {
    fn invalid(detail: impl Into<String>) -> ResourceError {
        ResourceError::Invalid {
            field: "resource",
            detail: detail.into(),
        }
    }

    /// The same error, blaming request parameter `field` when the name was at fault.
    pub fn in_field(self, field: &'static str) -> ResourceError {
        match self {
            ResourceError::Invalid { detail, .. } => ResourceError::Invalid { field, detail },
            other => other,
        }
    }
}

/// A file or folder of a share, with the fields of a resource in a v2 webhook body.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    /// The number the API gives as the resource's `id` (ExaVault's SDKs read an integer).
    pub number: u64,
    /// The hex identifier, a v2 body's `hash` (MD5 of share and path); `number` is its first
    /// 13 digits.
    pub id: String,
    pub hash: String,
    pub name: String,
    /// The name the API takes back (with several shares, the share's name first); bytes that
    /// are not UTF-8 appear as `\xNN`.
    pub path: String,
    #[serde(rename = "type")]
    pub kind: ResourceKind,
    /// A file's size in bytes; `None` for a folder.
    pub size: Option<u64>,
    /// The owner in the system user database (the numeric uid when it has no name).
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
    /// What a folder holds (files and folders, not counting ignored names); `None` for a file.
    pub file_count: Option<u64>,
    pub share: String,
    #[serde(skip)]
    created_ms: i64,
    #[serde(skip)]
    updated_ms: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResourceKind {
    File,
    Dir,
}

/// What a download sends: one file as it is, or a zip of several or of a folder (made in an
/// unnamed file in the state folder, gone once closed).
#[derive(Debug)]
pub struct Download {
    pub file: File,
    /// The name to offer the client (`<name>.zip` for an archive).
    pub name: Vec<u8>,
    pub size: u64,
    pub zip: bool,
    /// A zip's place among those in progress: kept with the file until the download ends.
    pub lease: Option<ZipLease>,
}

/// One resource of a delete: its name as given (escaped), and whether it was deleted.
pub type Deleted = (String, Result<(), ResourceError>);

/// What `id:` or `hash:` asks for.
enum Wanted {
    Hex(String),
    Number(u64),
}

/// The files of the shares, as the API reaches them.
pub struct Resources {
    shares: Vec<Share>,
    ignore: Ignore,
    store: Arc<Store>,
    attributions: Arc<Attributions>,
    state_dir: PathBuf,
    /// How long an attribution waits for the engine's event: its settle time, its delete
    /// window, and room for an engine behind a burst.
    hold: Duration,
    owners: Mutex<Owners>,
    zips: Arc<ZipGate>,
}

impl Resources {
    pub fn new(config: &Config, store: Arc<Store>, attributions: Arc<Attributions>) -> Resources {
        let settle = config.watch.settle;
        remove_leftover_zips(&config.state_dir);
        Resources {
            shares: config.shares.clone(),
            ignore: config.watch.ignore.clone(),
            store,
            attributions,
            state_dir: config.state_dir.clone(),
            hold: settle + settle.max(crate::engine::PAIR_WINDOW) + Duration::from_secs(10),
            owners: Mutex::new(Owners::new()),
            zips: ZipGate::shared(),
        }
    }

    /// The same, with zips bounded by `gate` instead of the daemon's one.
    pub fn with_zip_gate(mut self, gate: Arc<ZipGate>) -> Resources {
        self.zips = gate;
        self
    }

    /// The folders a webhook may watch, as its `resource` is written, breadth first from each
    /// share's top, at most `limit` (the index is read, not the disk). Names that are not
    /// UTF-8 cannot be written as a resource and are left out.
    pub fn folders(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for share in &self.shares {
            let mut next = std::collections::VecDeque::from([SharePath::root()]);
            while let Some(folder) = next.pop_front() {
                if out.len() >= limit {
                    return Ok(out);
                }
                out.push(crate::service::hooks::resource_string(
                    &self.shares,
                    &share.name,
                    &folder,
                ));
                for (name, entry) in self.store.children(&share.name, &folder)? {
                    if entry.kind == crate::tree::EntryKind::Dir
                        && std::str::from_utf8(&name).is_ok()
                    {
                        next.push_back(folder.join(&name));
                    }
                }
            }
        }
        Ok(out)
    }

    /// What `id` names (a path, `id:X` or `hash:X`).
    pub fn info(&self, id: &[u8]) -> Result<Resource, ResourceError> {
        self.info_of(id).map_err(|e| e.in_field("id"))
    }

    fn info_of(&self, id: &[u8]) -> Result<Resource, ResourceError> {
        let (share, path) = self.resolve(id, ResourceAccess::Read)?;
        if path.is_root() {
            let dir = Dir::root(&share.path).map_err(|e| fail(share, &path, e))?;
            return self.folder(share, &path, &dir);
        }
        let (parent, name) = parent_of(share, &path)?;
        match parent.kind(&name).map_err(|e| fail(share, &path, e))? {
            Found::File(meta) => Ok(self.resource(share, &path, &meta, None)),
            Found::Dir => {
                let dir = parent.dir(&name).map_err(|e| fail(share, &path, e))?;
                self.folder(share, &path, &dir)
            }
            other => Err(refused(share, &path, &other)),
        }
    }

    /// The entries of the folder `folder` (ignored names and symbolic links left out; with
    /// several shares, `/` holds the shares the API may read), sorted
    /// by `sort` (comma-separated keys `name`, `size`, `type`, `createdAt`, `updatedAt`,
    /// each descending with a leading `-`; by name when `None`), from `offset`, at most
    /// `limit` (0: all); and how many there are in all.
    pub fn list(
        &self,
        folder: &[u8],
        offset: usize,
        limit: usize,
        sort: Option<&str>,
    ) -> Result<(usize, Vec<Resource>), ResourceError> {
        let order = parse_sort(sort.unwrap_or("name"))?;
        let mut out = if self.shares.len() > 1 && is_top(folder) {
            self.share_roots()?
        } else {
            self.entries_of(folder)?
        };
        out.sort_by(|a, b| compare(&order, a, b));
        let total = out.len();
        let page = out
            .into_iter()
            .skip(offset)
            .take(if limit == 0 { usize::MAX } else { limit })
            .collect();
        Ok((total, page))
    }

    /// With several shares, the top holds each share the API may read, as a folder.
    fn share_roots(&self) -> Result<Vec<Resource>, ResourceError> {
        let root = SharePath::root();
        let mut out = Vec::new();
        for share in self
            .shares
            .iter()
            .filter(|s| s.resources != ResourceAccess::Off)
        {
            let dir = Dir::root(&share.path).map_err(|e| fail(share, &root, e))?;
            out.push(self.folder(share, &root, &dir)?);
        }
        Ok(out)
    }

    fn entries_of(&self, folder: &[u8]) -> Result<Vec<Resource>, ResourceError> {
        let (share, path) = self
            .resolve(folder, ResourceAccess::Read)
            .map_err(|e| e.in_field("resource"))?;
        let dir = open_folder(share, &path)?;
        let mut out = Vec::new();
        for (name, kind) in self.children(share, &path, &dir)? {
            let child = path.join(&name);
            let found = match kind {
                Child::File => dir.kind(&name),
                Child::Dir => Ok(Found::Dir),
            };
            // An entry gone since the folder was read is no longer there to list.
            let resource = match found {
                Ok(Found::File(meta)) => self.resource(share, &child, &meta, None),
                Ok(Found::Dir) => match dir.dir(&name) {
                    Ok(sub) => self.folder(share, &child, &sub)?,
                    Err(e) if gone(&e) => continue,
                    Err(e) => return Err(fail(share, &child, e)),
                },
                Ok(Found::Link | Found::Special) => continue,
                Err(e) if gone(&e) => continue,
                Err(e) => return Err(fail(share, &child, e)),
            };
            out.push(resource);
        }
        Ok(out)
    }

    /// One file as it is, or several (or a folder, whole) as a zip for `caller`, within the
    /// bounds of zips: folders are walked without following links, and links, ignored names
    /// and special files are left out. Each resource given out is a Download by the caller
    /// (one per resource named: a folder is one Download).
    pub fn download(&self, caller: &Caller, ids: &[&[u8]]) -> Result<Download, ResourceError> {
        let mut given = Vec::new();
        let got = self
            .download_of(&caller.user, ids, &mut given)
            .map_err(|e| e.in_field("resources"))?;
        for (share, path) in given {
            self.attributions.downloaded(
                &share,
                &path,
                Who {
                    user: caller.user.clone(),
                    protocol: PROTOCOL.to_owned(),
                    address: caller.address.clone(),
                    how: Attribution::Api,
                },
            );
        }
        Ok(got)
    }

    fn download_of(
        &self,
        user: &str,
        ids: &[&[u8]],
        given: &mut Vec<(String, SharePath)>,
    ) -> Result<Download, ResourceError> {
        if ids.is_empty() {
            return Err(ResourceError::invalid(
                "name at least one resource to download",
            ));
        }
        let mut items = Vec::with_capacity(ids.len());
        for id in ids {
            items.push(self.resolve(id, ResourceAccess::Read)?);
        }
        given.extend(items.iter().map(|(s, p)| (s.name.clone(), p.clone())));
        if let [(share, path)] = items.as_slice()
            && !path.is_root()
        {
            let (parent, name) = parent_of(share, path)?;
            match parent.kind(&name).map_err(|e| fail(share, path, e))? {
                Found::File(_) => {
                    let file = parent.file(&name).map_err(|e| fail(share, path, e))?;
                    let size = file.metadata().map_err(|e| fail(share, path, e))?.len();
                    return Ok(Download {
                        file,
                        name,
                        size,
                        zip: false,
                        lease: None,
                    });
                }
                Found::Dir => {}
                other => return Err(refused(share, path, &other)),
            }
        }
        let first = top_name(items[0].0, &items[0].1);
        let lease = self
            .zips
            .admit(user, &self.state_dir)
            .map_err(ResourceError::Zip)?;
        let mut zip = Zip::new(&self.state_dir, lease)?;
        let mut taken = HashSet::new();
        for (share, path) in &items {
            let mut name = top_name(share, path);
            let mut n = 1;
            while !taken.insert(name.clone()) {
                n += 1;
                name = format!("{} ({n})", top_name(share, path));
            }
            if path.is_root() {
                let dir = Dir::root(&share.path).map_err(|e| fail(share, path, e))?;
                self.zip_folder(&mut zip, share, path, &dir, &name)?;
                continue;
            }
            let (parent, last) = parent_of(share, path)?;
            match parent.kind(&last).map_err(|e| fail(share, path, e))? {
                Found::File(meta) => {
                    let mut file = parent.file(&last).map_err(|e| fail(share, path, e))?;
                    zip.file(&name, &meta, &mut file, |e| fail(share, path, e))?;
                }
                Found::Dir => {
                    let dir = parent.dir(&last).map_err(|e| fail(share, path, e))?;
                    self.zip_folder(&mut zip, share, path, &dir, &name)?;
                }
                other => return Err(refused(share, path, &other)),
            }
        }
        let (file, size, lease) = zip.finish()?;
        Ok(Download {
            file,
            name: format!("{first}.zip").into_bytes(),
            size,
            zip: true,
            lease: Some(lease),
        })
    }

    fn zip_folder(
        &self,
        zip: &mut Zip,
        share: &Share,
        path: &SharePath,
        dir: &Dir,
        name: &str,
    ) -> Result<(), ResourceError> {
        let meta = dir.meta().map_err(|e| fail(share, path, e))?;
        zip.folder(name, &meta)?;
        for (child_name, kind) in self.children(share, path, dir)? {
            let child = path.join(&child_name);
            let inner = format!("{name}/{}", escape_bytes(&child_name));
            match kind {
                Child::Dir => match dir.dir(&child_name) {
                    Ok(sub) => self.zip_folder(zip, share, &child, &sub, &inner)?,
                    Err(e) if gone(&e) => {}
                    Err(e) => return Err(fail(share, &child, e)),
                },
                Child::File => {
                    let opened = dir.kind(&child_name).and_then(|found| match found {
                        Found::File(meta) => dir.file(&child_name).map(|f| Some((meta, f))),
                        _ => Ok(None),
                    });
                    match opened {
                        Ok(Some((meta, mut file))) => {
                            zip.file(&inner, &meta, &mut file, |e| fail(share, &child, e))?
                        }
                        Ok(None) => {}
                        Err(e) if gone(&e) => {}
                        Err(e) => return Err(fail(share, &child, e)),
                    }
                }
            }
        }
        Ok(())
    }

    /// Deletes each of `ids` (a folder with everything in it), as `caller`; one result per id,
    /// in order. Allowed only on a share with `resources = "read-write"`. Receivers hear of
    /// each as a Delete by the caller, with protocol `api`.
    ///
    /// What refuses the request as a whole is checked before anything is deleted, and is the
    /// `Err`: a caller who is not an admin, a name that cannot be (`..`, a share's root, a
    /// name too long), a share that does not allow deleting. What is found only at each
    /// entry (not there, a link, the disk's refusal) is that entry's result.
    pub fn delete(&self, caller: &Caller, ids: &[&[u8]]) -> Result<Vec<Deleted>, ResourceError> {
        if caller.role != Role::Admin {
            return Err(ResourceError::Forbidden(format!(
                "user {} may only read; deleting needs an admin",
                crate::core::event::escape_controls(&caller.user)
            )));
        }
        let mut targets = Vec::with_capacity(ids.len());
        for id in ids {
            let target = match self.resolve(id, ResourceAccess::ReadWrite) {
                Ok((share, path)) if path.is_root() => Err(ResourceError::invalid(format!(
                    "the root of share {} cannot be deleted",
                    share.name
                ))),
                Err(e @ ResourceError::NotFound(_)) => Ok(Err(e)),
                Ok(found) => Ok(Ok(found)),
                Err(e) => Err(e),
            };
            targets.push(target.map_err(|e| e.in_field("resources"))?);
        }
        Ok(ids
            .iter()
            .zip(targets)
            .map(|(id, target)| {
                let done = target.and_then(|(share, path)| self.delete_one(caller, share, &path));
                (escape_bytes(id), done)
            })
            .collect())
    }

    fn delete_one(
        &self,
        caller: &Caller,
        share: &Share,
        path: &SharePath,
    ) -> Result<(), ResourceError> {
        let (parent, name) = parent_of(share, path)?;
        let is_dir = match parent.kind(&name).map_err(|e| fail(share, path, e))? {
            Found::File(_) => false,
            Found::Dir => true,
            other => return Err(refused(share, path, &other)),
        };
        // Recorded first: the engine may report the change as soon as it is made.
        let attribution = self.attributions.record(
            &share.name,
            path,
            Operation::Delete,
            Who {
                user: caller.user.clone(),
                protocol: PROTOCOL.to_owned(),
                address: caller.address.clone(),
                how: Attribution::Api,
            },
            self.hold,
        );
        let done = if is_dir {
            remove_tree(&parent, &name)
        } else {
            parent.unlink(&name, false)
        };
        if let Err(e) = done {
            // Nothing was deleted, so no Delete is coming to take it. (A folder removed in
            // part keeps it: what was removed is reported below it.)
            if !is_dir {
                self.attributions.withdraw(attribution);
            }
            // POSIX lets rmdir say EEXIST for a folder that is not empty.
            if is_dir && matches!(e.raw_os_error(), Some(libc::ENOTEMPTY | libc::EEXIST)) {
                access::audit(
                    &self.store,
                    caller,
                    &format!(
                        "deleted what {path} in share {} held; it changed meanwhile and stays",
                        share.name
                    ),
                );
                return Err(ResourceError::Conflict(format!(
                    "{path} in share {} changed while it was being deleted: something was \
                     written in it meanwhile; what it held before is deleted, what was added \
                     is kept (delete it again to remove that too)",
                    share.name
                )));
            }
            return Err(fail(share, path, e));
        }
        access::audit(
            &self.store,
            caller,
            &format!("deleted {} in share {}", path, share.name),
        );
        Ok(())
    }

    // ----- naming -----

    /// The share and path `text` names, on a share allowing `need`.
    fn resolve(
        &self,
        text: &[u8],
        need: ResourceAccess,
    ) -> Result<(&Share, SharePath), ResourceError> {
        let (share, path) = match text
            .strip_prefix(b"id:")
            .or_else(|| text.strip_prefix(b"hash:"))
        {
            Some(id) => self.find_id(id)?,
            // A bare number is the id the API gives (ExaVault's SDKs send it as it is), unless
            // the share holds a file or folder by that name at its top.
            None if is_number(text) => match locate(&self.shares, text) {
                Ok((share, path)) if present(share, &path) => (share, path),
                _ => self.find_id(text).map_err(|e| match e {
                    ResourceError::NotFound(detail) => ResourceError::NotFound(format!(
                        "{detail}, and there is no file or folder named /{}",
                        escape_bytes(text)
                    )),
                    other => other,
                })?,
            },
            None => locate(&self.shares, text)?,
        };
        allow(share, need)?;
        Ok((share, path))
    }

    /// The entry whose v2 `id` is `id`, found by walking the index of every share the API may
    /// read (what receivers were told is what the index holds).
    fn find_id(&self, id: &[u8]) -> Result<(&Share, SharePath), ResourceError> {
        let text = std::str::from_utf8(id).unwrap_or("");
        // The hex `id`/`hash` of a v2 body, or the number the API gives as a resource's `id`.
        let wanted = if text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            Wanted::Hex(text.to_ascii_lowercase())
        } else if let Some(n) = (!text.is_empty() && text.len() <= 16)
            .then(|| text.parse::<u64>().ok())
            .flatten()
        {
            Wanted::Number(n)
        } else {
            return Err(ResourceError::invalid(
                "an id is a resource's number, or the 32 hex characters of its id or hash",
            ));
        };
        let matches = |share: &str, path: &[u8]| match &wanted {
            Wanted::Hex(hex) => resource_id(share, path) == *hex,
            Wanted::Number(n) => crate::core::payload::resource_number(share, path) == *n,
        };
        for share in self
            .shares
            .iter()
            .filter(|s| s.resources != ResourceAccess::Off)
        {
            if matches(&share.name, b"/") {
                return Ok((share, SharePath::root()));
            }
            let mut folders = vec![SharePath::root()];
            while let Some(folder) = folders.pop() {
                for (name, entry) in self.store.children(&share.name, &folder)? {
                    let path = folder.join(&name);
                    if matches(&share.name, path.as_bytes()) {
                        return Ok((share, path));
                    }
                    if entry.is_dir() {
                        folders.push(path);
                    }
                }
            }
        }
        Err(ResourceError::NotFound(format!(
            "no resource has the id {}",
            crate::core::event::escape_controls(text)
        )))
    }

    // ----- reading -----

    /// The files and folders in `dir` (at `path`), by name, ignored names left out.
    fn children(
        &self,
        share: &Share,
        path: &SharePath,
        dir: &Dir,
    ) -> Result<Vec<(Vec<u8>, Child)>, ResourceError> {
        let mut out = Vec::new();
        for (name, kind) in dir.entries().map_err(|e| fail(share, path, e))? {
            let kind = match kind {
                Some(kind) => kind,
                // The file system did not say: ask, without following.
                None => match dir.kind(&name) {
                    Ok(Found::File(_)) => Child::File,
                    Ok(Found::Dir) => Child::Dir,
                    Ok(Found::Link | Found::Special) => continue,
                    Err(e) if gone(&e) => continue,
                    Err(e) => return Err(fail(share, &path.join(&name), e)),
                },
            };
            if !self.ignore.name(&name, kind == Child::Dir) {
                out.push((name, kind));
            }
        }
        Ok(out)
    }

    fn folder(
        &self,
        share: &Share,
        path: &SharePath,
        dir: &Dir,
    ) -> Result<Resource, ResourceError> {
        let meta = dir.meta().map_err(|e| fail(share, path, e))?;
        let count = self.children(share, path, dir)?.len() as u64;
        Ok(self.resource(share, path, &meta, Some(count)))
    }

    fn resource(
        &self,
        share: &Share,
        path: &SharePath,
        meta: &Metadata,
        file_count: Option<u64>,
    ) -> Resource {
        let updated_ms = meta.mtime() * 1000 + meta.mtime_nsec() / 1_000_000;
        // The birth time where the file system keeps one, else the last change.
        let created_ms = meta
            .created()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .and_then(|d| i64::try_from(d.as_millis()).ok())
            .unwrap_or(updated_ms);
        let id = resource_id(&share.name, path.as_bytes());
        let owner = self
            .owners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .name(meta.uid());
        Resource {
            number: crate::core::payload::resource_number(&share.name, path.as_bytes()),
            hash: id.clone(),
            id,
            name: if path.is_root() {
                share.name.clone()
            } else {
                escape_bytes(path.name())
            },
            path: self.api_path(share, path),
            kind: if file_count.is_some() {
                ResourceKind::Dir
            } else {
                ResourceKind::File
            },
            size: file_count.is_none().then_some(meta.len()),
            created_by: owner,
            created_at: rfc3339(created_ms),
            updated_at: rfc3339(updated_ms),
            file_count,
            share: share.name.clone(),
            created_ms,
            updated_ms,
        }
    }

    /// `path` of `share` as the API names it.
    fn api_path(&self, share: &Share, path: &SharePath) -> String {
        let inside = escape_bytes(path.as_bytes());
        match self.shares.len() {
            1 => inside,
            _ if path.is_root() => format!("/{}", share.name),
            _ => format!("/{}{inside}", share.name),
        }
    }
}

#[cfg(test)]
mod tests;
