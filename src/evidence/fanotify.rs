//! Which process made each change, from the kernel's fanotify (root only): the file systems
//! holding the shares are marked whole (`FAN_MARK_FILESYSTEM`), each event names its folder
//! (a file handle, turned back into a path) and entry (`FAN_REPORT_DFID_NAME`), and the pid
//! that acted. The pid's user (its file-system uid, the one the kernel checks access with) and
//! program file say who and over what: `smbd` under /usr for an SMB session (`smb`),
//! `sshd`/`sftp-server` under /usr for an SFTP session (`sftp`), anything else a local process
//! (`local`). Kernel threads (the kernel's NFS server) name nobody. Those whose server's own log
//! is read are left to it (it knows the client's address too). Sharehook's own changes are
//! skipped.
//!
//! A pid gone before it is looked up names nobody; the change then goes to the next source.

use std::collections::HashMap;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use super::Act;

/// The size of the buffer events are read into.
const BUFFER: usize = 64 * 1024;

/// What a process's change says of who made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub uid: u32,
    pub protocol: &'static str,
}

/// An open fanotify group marking the file systems of some folders.
pub struct Fanotify {
    fd: OwnedFd,
    /// A folder on each marked file system (for turning handles back into paths).
    mounts: Vec<OwnedFd>,
    roots: Vec<PathBuf>,
    me: i32,
}

/// The changes reported: creations, writes, removals, renames, of files and folders.
const MASK: u64 = libc::FAN_CREATE
    | libc::FAN_DELETE
    | libc::FAN_RENAME
    | libc::FAN_CLOSE_WRITE
    | libc::FAN_ONDIR;

impl Fanotify {
    /// Marks the file system of each of `roots`. Fails (saying why) without root, or on a
    /// kernel or file system that cannot report folder handles and names.
    pub fn open(roots: &[PathBuf]) -> Result<Fanotify, String> {
        // SAFETY: plain system call; the result is checked.
        let fd = unsafe {
            libc::fanotify_init(
                libc::FAN_CLASS_NOTIF | libc::FAN_REPORT_DFID_NAME | libc::FAN_CLOEXEC,
                (libc::O_RDONLY | libc::O_LARGEFILE) as u32,
            )
        };
        if fd < 0 {
            let e = std::io::Error::last_os_error();
            return Err(format!(
                "fanotify_init: {e} (fanotify needs root, and Linux 5.17 or later)"
            ));
        }
        // SAFETY: fd was just opened and is owned here alone.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut mounts = Vec::new();
        for root in roots {
            let c = CString::new(root.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
            // SAFETY: c is a valid NUL-terminated path; the result is checked.
            let rc = unsafe {
                libc::fanotify_mark(
                    fd.as_raw_fd(),
                    libc::FAN_MARK_ADD | libc::FAN_MARK_FILESYSTEM,
                    MASK,
                    libc::AT_FDCWD,
                    c.as_ptr(),
                )
            };
            if rc < 0 {
                let e = std::io::Error::last_os_error();
                return Err(format!(
                    "fanotify_mark {}: {e} (its file system must report file handles)",
                    root.display()
                ));
            }
            // SAFETY: as above.
            let m = unsafe {
                libc::open(
                    c.as_ptr(),
                    libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
                )
            };
            if m < 0 {
                return Err(format!(
                    "open {}: {}",
                    root.display(),
                    std::io::Error::last_os_error()
                ));
            }
            // SAFETY: m was just opened and is owned here alone.
            mounts.push(unsafe { OwnedFd::from_raw_fd(m) });
        }
        Ok(Fanotify {
            fd,
            mounts,
            roots: roots.to_vec(),
            // SAFETY: getpid cannot fail.
            me: unsafe { libc::getpid() },
        })
    }

    /// Waits up to `timeout_ms` for events; gives each change under a root with who made it.
    pub fn read(&self, timeout_ms: i32, found: &mut dyn FnMut(Actor, Act)) -> std::io::Result<()> {
        let mut poll = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut poll, 1, timeout_ms) };
        if n <= 0 {
            return Ok(());
        }
        let mut buf = vec![0u8; BUFFER];
        // SAFETY: buf is valid for BUFFER bytes.
        let len = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), BUFFER) };
        if len < 0 {
            let e = std::io::Error::last_os_error();
            return match e.kind() {
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted => Ok(()),
                _ => Err(e),
            };
        }
        let mut actors: HashMap<i32, Option<Actor>> = HashMap::new();
        let mut at = 0usize;
        let len = len as usize;
        while at + 24 <= len {
            let event_len =
                u32::from_ne_bytes(buf[at..at + 4].try_into().expect("4 bytes")) as usize;
            if event_len < 24 || at + event_len > len {
                break;
            }
            let event = &buf[at..at + event_len];
            at += event_len;
            let meta_len = u16::from_ne_bytes([event[6], event[7]]) as usize;
            let mask = u64::from_ne_bytes(event[8..16].try_into().expect("8 bytes"));
            let fd = i32::from_ne_bytes(event[16..20].try_into().expect("4 bytes"));
            let pid = i32::from_ne_bytes(event[20..24].try_into().expect("4 bytes"));
            if fd >= 0 {
                // SAFETY: the kernel gave this descriptor to this process.
                unsafe { libc::close(fd) };
            }
            if pid == self.me || mask & libc::FAN_Q_OVERFLOW != 0 {
                continue;
            }
            let (mut here, mut old, mut new) = (None, None, None);
            let mut off = meta_len;
            while off + 4 <= event.len() {
                let kind = event[off];
                let rec_len = u16::from_ne_bytes([event[off + 2], event[off + 3]]) as usize;
                if rec_len < 4 || off + rec_len > event.len() {
                    break;
                }
                let record = &event[off..off + rec_len];
                off += rec_len;
                let slot = match kind {
                    libc::FAN_EVENT_INFO_TYPE_DFID_NAME => &mut here,
                    libc::FAN_EVENT_INFO_TYPE_OLD_DFID_NAME => &mut old,
                    libc::FAN_EVENT_INFO_TYPE_NEW_DFID_NAME => &mut new,
                    _ => continue,
                };
                *slot = self.path_of(record);
            }
            let mut acts = Vec::new();
            if mask & libc::FAN_RENAME != 0
                && let (Some(from), Some(to)) = (old.clone(), new.clone())
            {
                acts.push(Act::Rename(from, to));
            }
            if let Some(path) = here {
                if mask & libc::FAN_CREATE != 0 {
                    acts.push(if mask & libc::FAN_ONDIR != 0 {
                        Act::Mkdir(path.clone())
                    } else {
                        Act::Write(path.clone())
                    });
                }
                if mask & libc::FAN_CLOSE_WRITE != 0 {
                    acts.push(Act::Write(path.clone()));
                }
                if mask & libc::FAN_DELETE != 0 {
                    acts.push(Act::Remove(path));
                }
            }
            acts.retain(|a| self.under_a_root(a));
            if acts.is_empty() {
                continue;
            }
            let actor = actors.entry(pid).or_insert_with(|| actor_of(pid)).clone();
            if let Some(actor) = actor {
                for act in acts {
                    found(actor.clone(), act);
                }
            }
        }
        Ok(())
    }

    fn under_a_root(&self, act: &Act) -> bool {
        let path = match act {
            Act::Write(p) | Act::Mkdir(p) | Act::Remove(p) | Act::Rename(_, p) => p,
            _ => return false,
        };
        self.roots.iter().any(|r| path.starts_with(r) && path != r)
    }

    /// The path of a folder handle and name record: fsid (8 bytes), the handle (its length,
    /// its type, its bytes), then the entry's name, NUL-terminated.
    fn path_of(&self, record: &[u8]) -> Option<PathBuf> {
        let handle = record.get(12..)?;
        let bytes = u32::from_ne_bytes(handle.get(0..4)?.try_into().ok()?) as usize;
        let whole = handle.get(..8 + bytes)?;
        let name = &handle[8 + bytes..];
        let name = &name[..name.iter().position(|&b| b == 0)?];
        // A file_handle, aligned as the kernel wants it.
        let mut aligned = vec![0u32; whole.len().div_ceil(4)];
        // SAFETY: aligned holds at least whole.len() bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(
                whole.as_ptr(),
                aligned.as_mut_ptr().cast::<u8>(),
                whole.len(),
            )
        };
        let folder = self.mounts.iter().find_map(|m| {
            // SAFETY: aligned is a whole file_handle; the result is checked.
            let fd = unsafe {
                libc::open_by_handle_at(m.as_raw_fd(), aligned.as_mut_ptr().cast(), libc::O_PATH)
            };
            if fd < 0 {
                return None;
            }
            // SAFETY: fd was just opened and is owned here alone.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()
        })?;
        if name == b"." || name.is_empty() {
            return Some(folder);
        }
        Some(folder.join(std::ffi::OsString::from_vec(name.to_vec())))
    }
}

/// Who process `pid` is: its file-system uid, and the protocol its program serves, known by the
/// program's file (`/proc/PID/exe`: a program cannot rename what it runs from, as it can its
/// `comm`). `None` when it is gone, or a kernel thread: the kernel's NFS server acts with the
/// client's credentials only for the moment of each call, so what /proc shows of an `nfsd`
/// thread later is not who the client said it was (its change keeps the file's owner, which
/// for a file it made is the uid the client asserted).
pub fn actor_of(pid: i32) -> Option<Actor> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the program's name (which may hold spaces and parentheses): the
    // seventh is the flags.
    let flags: u64 = stat
        .rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(6)?
        .parse()
        .ok()?;
    const PF_KTHREAD: u64 = 0x0020_0000;
    if flags & PF_KTHREAD != 0 {
        return None;
    }
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    // Uid: real, effective, saved, file system.
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()?;
    Some(Actor {
        uid,
        protocol: protocol_of(&exe),
    })
}

/// The protocol the program at `exe` serves: a file server installed under /usr (which only
/// root can put there), or a local program.
pub fn protocol_of(exe: &Path) -> &'static str {
    let name = exe.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if !exe.starts_with("/usr/") {
        return "local";
    }
    match name {
        "smbd" => "smb",
        "sshd" | "sftp-server" => "sftp",
        _ => "local",
    }
}

/// Whether `path` lies on a file system fanotify can report names on (a test for `check`).
pub fn usable(path: &Path) -> Result<(), String> {
    Fanotify::open(&[path.to_owned()]).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_say_their_protocol_by_the_file_they_run() {
        let p = |s: &str| protocol_of(Path::new(s));
        assert_eq!(p("/usr/sbin/smbd"), "smb");
        assert_eq!(p("/usr/sbin/sshd"), "sftp");
        assert_eq!(p("/usr/lib/openssh/sftp-server"), "sftp");
        assert_eq!(p("/usr/bin/cp"), "local");
        // A copy of a server's program outside /usr is a local program.
        assert_eq!(p("/home/eve/smbd"), "local");
        assert_eq!(p("/tmp/sshd"), "local");
    }

    #[test]
    fn a_program_that_calls_itself_a_server_is_still_a_local_program() {
        // perl renames its comm to `smbd`; what it runs from stays /usr/bin/perl.
        let mut child = std::process::Command::new("perl")
            .args(["-e", "$0 = 'smbd'; sleep 30"])
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        let comm = std::fs::read_to_string(format!("/proc/{}/comm", child.id())).unwrap();
        let actor = actor_of(child.id() as i32);
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(comm.trim(), "smbd", "perl named itself");
        assert_eq!(actor.unwrap().protocol, "local");
        // A kernel thread (kthreadd, pid 2) names nobody.
        assert_eq!(actor_of(2), None);
    }

    #[test]
    fn this_process_is_its_own_actor() {
        // SAFETY: getpid cannot fail.
        let me = actor_of(unsafe { libc::getpid() }).unwrap();
        // SAFETY: as above.
        assert_eq!(me.uid, unsafe { libc::geteuid() });
        assert_eq!(me.protocol, "local");
        assert_eq!(actor_of(i32::MAX), None);
    }
}

#[cfg(test)]
mod root_tests {
    use super::*;

    #[test]
    fn changes_under_a_root_are_told_with_their_process() {
        // SAFETY: geteuid cannot fail.
        assert_eq!(
            unsafe { libc::geteuid() },
            0,
            "fanotify needs root: run the tests as root"
        );
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let fan = Fanotify::open(std::slice::from_ref(&root)).unwrap();
        // One program that lives on after its changes (a pid gone before it is looked up names
        // nobody).
        let mut child = std::process::Command::new("perl")
            .arg("-e")
            .arg(
                "open(F, '>', 'a') or die; print F 'x'; close(F); mkdir('d') or die; \
                 rename('a', 'b') or die; unlink('b') or die; sleep(30);",
            )
            .current_dir(&root)
            .spawn()
            .unwrap();
        let mut got = Vec::new();
        // Other tests change files on the same file system meanwhile: read until this
        // program's five changes are in.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while got.len() < 5 && std::time::Instant::now() < deadline {
            fan.read(200, &mut |actor, act| got.push((actor.protocol, act)))
                .unwrap();
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(got.iter().all(|(protocol, _)| *protocol == "local"));
        let acts: Vec<Act> = got.into_iter().map(|(_, a)| a).collect();
        assert_eq!(
            acts,
            vec![
                Act::Write(root.join("a")),
                Act::Write(root.join("a")),
                Act::Mkdir(root.join("d")),
                Act::Rename(root.join("a"), root.join("b")),
                Act::Remove(root.join("b")),
            ]
        );
    }
}
