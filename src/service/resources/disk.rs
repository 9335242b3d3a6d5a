//! The shares' folders as the API reaches them, without ever following a link: a folder
//! opened by its descriptor, what is in it, and a tree removed from the bottom up.

use super::*;

/// What is at a name in a folder, not following a link.
pub(super) enum Found {
    File(Metadata),
    Dir,
    Link,
    /// A FIFO, socket or device node.
    Special,
}

impl Found {
    /// What it is, in words, when it is neither a file nor a folder.
    pub(super) fn other(&self) -> Option<&'static str> {
        match self {
            Found::Link => Some("a symbolic link"),
            Found::Special => Some("a special file"),
            Found::File(_) | Found::Dir => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Child {
    File,
    Dir,
}

/// An open folder of a share, reached without following any symbolic link.
pub(super) struct Dir(File);

impl Dir {
    /// The share's root. Its path was made canonical when the configuration was read, so
    /// only a link put in its place since would be refused.
    pub(super) fn root(path: &Path) -> io::Result<Dir> {
        let c = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: `c` is a NUL-terminated string that lives across the call.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        owned(fd).map(|fd| Dir(File::from(fd)))
    }

    /// `name` in this folder, opened with `flags` and never through a link.
    pub(super) fn open(&self, name: &[u8], flags: libc::c_int) -> io::Result<OwnedFd> {
        let c = CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: the folder's descriptor is open while `self` lives; `c` is NUL-terminated.
        let fd = unsafe {
            libc::openat(
                self.0.as_raw_fd(),
                c.as_ptr(),
                flags | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        owned(fd)
    }

    pub(super) fn dir(&self, name: &[u8]) -> io::Result<Dir> {
        match self.open(name, libc::O_RDONLY | libc::O_DIRECTORY) {
            Ok(fd) => Ok(Dir(File::from(fd))),
            // With O_DIRECTORY the kernel calls a link "not a folder"; say what it is.
            Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => match self.kind(name) {
                Ok(Found::Link) => Err(io::Error::from_raw_os_error(libc::ELOOP)),
                _ => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// What `name` is. `O_PATH` opens a link itself, and needs no read permission.
    pub(super) fn kind(&self, name: &[u8]) -> io::Result<Found> {
        let meta = File::from(self.open(name, libc::O_PATH)?).metadata()?;
        let ft = meta.file_type();
        Ok(if ft.is_file() {
            Found::File(meta)
        } else if ft.is_dir() {
            Found::Dir
        } else if ft.is_symlink() {
            Found::Link
        } else {
            Found::Special
        })
    }

    /// The regular file `name`, opened to read. Non-blocking, so that a FIFO put in its place
    /// meanwhile cannot hang the request; it is refused as not a regular file.
    pub(super) fn file(&self, name: &[u8]) -> io::Result<File> {
        let file = File::from(self.open(name, libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY)?);
        if !file.metadata()?.is_file() {
            return Err(io::Error::from_raw_os_error(libc::ENOENT));
        }
        Ok(file)
    }

    pub(super) fn meta(&self) -> io::Result<Metadata> {
        self.0.metadata()
    }

    /// The names in this folder, sorted, with what the file system says each is (`None` when
    /// it does not say); symbolic links and special files are left out.
    pub(super) fn entries(&self) -> io::Result<Vec<(Vec<u8>, Option<Child>)>> {
        let mut out = Vec::new();
        for (name, d_type) in self.names()? {
            let kind = match d_type {
                libc::DT_REG => Some(Child::File),
                libc::DT_DIR => Some(Child::Dir),
                libc::DT_UNKNOWN => None,
                _ => continue,
            };
            out.push((name, kind));
        }
        Ok(out)
    }

    /// Every name in this folder, sorted, with its `d_type`.
    pub(super) fn names(&self) -> io::Result<Vec<(Vec<u8>, u8)>> {
        // A description of its own: reading moves an offset that is not to be shared.
        let raw = self
            .open(b".", libc::O_RDONLY | libc::O_DIRECTORY)?
            .into_raw_fd();
        // SAFETY: `raw` is an open folder descriptor; fdopendir takes it over on success (and
        // closedir closes it), and it is closed here on failure.
        let dir = unsafe { libc::fdopendir(raw) };
        if dir.is_null() {
            let e = io::Error::last_os_error();
            // SAFETY: fdopendir failed, so `raw` is still ours to close.
            unsafe { libc::close(raw) };
            return Err(e);
        }
        let mut out = Vec::new();
        let result = loop {
            // SAFETY: errno is this thread's; `dir` is open until the closedir below, and an
            // entry is copied out before the next readdir call.
            unsafe {
                *libc::__errno_location() = 0;
                let entry = libc::readdir(dir);
                if entry.is_null() {
                    let e = io::Error::last_os_error();
                    break if e.raw_os_error() == Some(0) {
                        Ok(())
                    } else {
                        Err(e)
                    };
                }
                let name = CStr::from_ptr((*entry).d_name.as_ptr()).to_bytes();
                if name != b"." && name != b".." {
                    out.push((name.to_vec(), (*entry).d_type));
                }
            }
        };
        // SAFETY: `dir` came from fdopendir and is closed once.
        unsafe { libc::closedir(dir) };
        result?;
        out.sort();
        Ok(out)
    }

    pub(super) fn unlink(&self, name: &[u8], dir: bool) -> io::Result<()> {
        let c = CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        let flags = if dir { libc::AT_REMOVEDIR } else { 0 };
        // SAFETY: the folder's descriptor is open while `self` lives; `c` is NUL-terminated.
        if unsafe { libc::unlinkat(self.0.as_raw_fd(), c.as_ptr(), flags) } == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

pub(super) fn owned(fd: libc::c_int) -> io::Result<OwnedFd> {
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by open/openat and is owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Removes the folder `name` of `parent` and everything in it, each folder opened without
/// following links (a link inside is removed itself, never followed).
pub(super) fn remove_tree(parent: &Dir, name: &[u8]) -> io::Result<()> {
    let dir = parent.dir(name)?;
    // Every entry, ignored names, links and special files included: it must end up empty.
    for (child, d_type) in dir.names()? {
        let result = match d_type {
            libc::DT_DIR => remove_tree(&dir, &child),
            _ => match dir.unlink(&child, false) {
                // The file system did not say what it was, and it is a folder.
                Err(e) if e.raw_os_error() == Some(libc::EISDIR) => remove_tree(&dir, &child),
                other => other,
            },
        };
        match result {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            other => other?,
        }
    }
    #[cfg(test)]
    tests::emptied();
    parent.unlink(name, true)
}
