//! Where a request's path leads inside its share, what the caller may do there, and how a
//! failure on the disk is said.

use super::*;

/// The share and the path in it that a resource path names: with one share, a path inside it
/// (`/a/b.txt`, the leading `/` optional); with several, the share's name first
/// (`/public/a/b.txt`; `/public` is its root). Empty parts and `.` are skipped; `..` and NUL
/// are refused, so the path never leaves the share whatever the disk holds.
pub fn locate<'s>(
    shares: &'s [Share],
    text: &[u8],
) -> Result<(&'s Share, SharePath), ResourceError> {
    let shown = escape_bytes(text);
    if text.contains(&0) {
        return Err(ResourceError::invalid(format!(
            "{shown:?} holds a NUL byte"
        )));
    }
    let mut parts = Vec::new();
    for part in text.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                return Err(ResourceError::invalid(format!(
                    "{shown:?} names a parent folder (..); paths stay inside the share"
                )));
            }
            part if part.len() > NAME_MAX => {
                return Err(ResourceError::invalid(format!(
                    "in {shown:?}, the name {:?} is {} bytes long; a file or folder name has at \
                     most {NAME_MAX}",
                    escape_bytes(part),
                    part.len()
                )));
            }
            part => parts.push(part),
        }
    }
    let share = match shares {
        [] => return Err(ResourceError::NotFound("no share is configured".into())),
        [only] => only,
        several => {
            let Some((first, rest)) = parts.split_first() else {
                let names: Vec<&str> = several.iter().map(|s| s.name.as_str()).collect();
                return Err(ResourceError::invalid(format!(
                    "with several shares a path starts with the share's name (/{}/...)",
                    names.join("/..., /")
                )));
            };
            let share = several
                .iter()
                .find(|s| s.name.as_bytes() == *first)
                .ok_or_else(|| {
                    ResourceError::NotFound(format!("no share is named {:?}", escape_bytes(first)))
                })?;
            parts = rest.to_vec();
            share
        }
    };
    let mut path = SharePath::root();
    for part in parts {
        path = path.join(part);
    }
    Ok((share, path))
}

/// The longest file or folder name the file systems of Linux take, in bytes (`NAME_MAX`).
pub(super) const NAME_MAX: usize = 255;

/// Whether `text` is a resource's number as the API gives it (no more digits than 2^53 has).
pub(super) fn is_number(text: &[u8]) -> bool {
    (1..=16).contains(&text.len()) && text.iter().all(u8::is_ascii_digit)
}

/// Whether there is an entry at `path` in `share` (a link counts: it is there, and refused
/// as what it is when used).
pub(super) fn present(share: &Share, path: &SharePath) -> bool {
    path.is_root() || parent_of(share, path).is_ok_and(|(parent, name)| parent.kind(&name).is_ok())
}

/// Whether `text` names the top, above every share (`/`, or nothing).
pub(super) fn is_top(text: &[u8]) -> bool {
    text.split(|&b| b == b'/')
        .all(|p| p.is_empty() || p == b".")
}

pub(super) fn allow(share: &Share, need: ResourceAccess) -> Result<(), ResourceError> {
    match (share.resources, need) {
        (ResourceAccess::Off, _) => Err(ResourceError::Forbidden(format!(
            "share {} keeps its files from the API; set resources = \"read\" or \"read-write\" in its [[share]]",
            share.name
        ))),
        (ResourceAccess::Read, ResourceAccess::ReadWrite) => {
            Err(ResourceError::Forbidden(format!(
                "share {} lets the API only read its files (resources = \"read\"); set resources = \"read-write\" in its [[share]] to delete",
                share.name
            )))
        }
        _ => Ok(()),
    }
}

/// The name of `path` at the top of a zip (a share's root takes the share's name).
pub(super) fn top_name(share: &Share, path: &SharePath) -> String {
    if path.is_root() {
        share.name.clone()
    } else {
        escape_bytes(path.name())
    }
}

/// The folder holding `path` (not the root), opened from the share's root without following
/// a link, and the last name.
pub(super) fn parent_of(share: &Share, path: &SharePath) -> Result<(Dir, Vec<u8>), ResourceError> {
    let parent = open_folder(share, &path.parent())?;
    Ok((parent, path.name().to_vec()))
}

/// The folder at `path`, opened one component at a time from the share's root.
pub(super) fn open_folder(share: &Share, path: &SharePath) -> Result<Dir, ResourceError> {
    let mut dir = Dir::root(&share.path).map_err(|e| fail(share, &SharePath::root(), e))?;
    let mut at = SharePath::root();
    for part in path
        .as_bytes()
        .split(|&b| b == b'/')
        .filter(|p| !p.is_empty())
    {
        at = at.join(part);
        dir = dir.dir(part).map_err(|e| fail(share, &at, e))?;
    }
    Ok(dir)
}

/// What the disk's error `e` at `path` means for the caller.
pub(super) fn fail(share: &Share, path: &SharePath, e: io::Error) -> ResourceError {
    let at = format!("{path} in share {}", share.name);
    match e.raw_os_error() {
        Some(libc::ELOOP) => ResourceError::invalid(format!(
            "{at} is a symbolic link (or lies below one); the API does not follow links"
        )),
        Some(libc::ENOENT | libc::ENOTDIR) => ResourceError::NotFound(format!("there is no {at}")),
        // A name within NAME_MAX that this file system still finds too long.
        Some(libc::ENAMETOOLONG) => ResourceError::invalid(format!(
            "{at}: the name {:?} is too long for the file system",
            escape_bytes(path.name())
        )),
        Some(libc::EROFS) => ResourceError::Forbidden(format!(
            "{at}: the file system is read-only to sharehook; a read-write share needs \
             ReadWritePaths={} in the service unit (see the README, \"Files through the API\")",
            share.path.display()
        )),
        Some(libc::EACCES | libc::EPERM) => ResourceError::Forbidden(format!(
            "{at}: sharehook (user {}) may not do this: {e}",
            current_user()
        )),
        _ => ResourceError::Io {
            what: at,
            source: e,
        },
    }
}

pub(super) fn refused(share: &Share, path: &SharePath, found: &Found) -> ResourceError {
    ResourceError::invalid(format!(
        "{path} in share {} is {}; the API serves only files and folders (it follows no link)",
        share.name,
        found.other().unwrap_or("neither a file nor a folder")
    ))
}

pub(super) fn current_user() -> String {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    Owners::new().name(uid)
}

pub(super) fn gone(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR))
}
