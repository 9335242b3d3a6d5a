//! Who owns a file: the owner's name in the system user database, or the numeric uid when the
//! database has no name for it. Answers are cached for a few minutes; a lookup that failed
//! (no descriptor left to read the database, say) is not an answer and is not cached.

use std::collections::HashMap;
use std::ffi::CStr;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::tree;

const KEEP: Duration = Duration::from_secs(300);

/// What the user database says of a uid: its name, `None` when it has no such user, or the
/// error that kept it from saying.
type Lookup = fn(u32) -> Result<Option<String>, std::io::Error>;

pub struct Owners {
    names: HashMap<u32, (String, Instant)>,
    lookup: Lookup,
}

impl Default for Owners {
    fn default() -> Owners {
        Owners {
            names: HashMap::new(),
            lookup,
        }
    }
}

impl Owners {
    pub fn new() -> Owners {
        Owners::default()
    }

    /// The owner of `path` itself (not what a link points to), or `None` if it is gone.
    pub fn of_path(&mut self, path: &Path) -> Option<String> {
        let entry = tree::lstat(path).ok().flatten()?;
        Some(self.name(entry.uid))
    }

    pub fn name(&mut self, uid: u32) -> String {
        let now = Instant::now();
        if let Some((name, at)) = self.names.get(&uid)
            && now.duration_since(*at) < KEEP
        {
            return name.clone();
        }
        match (self.lookup)(uid) {
            Ok(name) => {
                let name = name.unwrap_or_else(|| uid.to_string());
                self.names.insert(uid, (name.clone(), now));
                name
            }
            Err(e) => {
                log::debug!("cannot look up the name of uid {uid}: {e}");
                uid.to_string()
            }
        }
    }
}

/// The user name of `uid` in the system user database.
pub fn user_name(uid: u32) -> Result<Option<String>, std::io::Error> {
    lookup(uid)
}

fn lookup(uid: u32) -> Result<Option<String>, std::io::Error> {
    let mut buf = vec![0u8; 4096];
    loop {
        // SAFETY: `pwd` and `buf` outlive the call and `buf.len()` is its true size; on success
        // `result` points at `pwd`, whose strings point into `buf`, read before `buf` changes.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = unsafe {
            libc::getpwuid_r(
                uid,
                &mut pwd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        // POSIX says "no such user" is success with no result; some systems say it with
        // ENOENT or ESRCH instead. Anything else is a failure to look, not an answer.
        if rc == libc::ENOENT || rc == libc::ESRCH {
            return Ok(None);
        }
        if rc != 0 {
            return Err(std::io::Error::from_raw_os_error(rc));
        }
        if result.is_null() || pwd.pw_name.is_null() {
            return Ok(None);
        }
        // SAFETY: getpwuid_r succeeded, so pw_name is a NUL-terminated string inside `buf`.
        let name = unsafe { CStr::from_ptr(pwd.pw_name) };
        return Ok(Some(name.to_string_lossy().into_owned()).filter(|n| !n.is_empty()));
    }
}

/// The uid of `user` in the system user database.
pub fn uid_of(user: &str) -> Option<u32> {
    passwd(user).map(|(uid, _)| uid)
}

/// The home folder of `user` in the system user database.
pub fn home_of(user: &str) -> Option<std::path::PathBuf> {
    passwd(user).and_then(|(_, home)| home)
}

/// `user`'s uid and home folder.
fn passwd(user: &str) -> Option<(u32, Option<std::path::PathBuf>)> {
    let name = std::ffi::CString::new(user).ok()?;
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: an all-zero passwd is a valid value for getpwnam_r to fill.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut out: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call, and buf outlives the use of pw's fields.
    let rc = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            &mut pw,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut out,
        )
    };
    if rc != 0 || out.is_null() {
        return None;
    }
    if pw.pw_dir.is_null() {
        return Some((pw.pw_uid, None));
    }
    // SAFETY: pw_dir points into buf, a NUL-terminated string written by getpwnam_r.
    let dir = unsafe { std::ffi::CStr::from_ptr(pw.pw_dir) };
    let dir = std::path::Path::new(
        <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(dir.to_bytes()),
    );
    Some((pw.pw_uid, dir.is_absolute().then(|| dir.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_named_and_unknown_uids_are_numbers() {
        let mut owners = Owners::new();
        assert_eq!(owners.name(0), "root");
        assert_eq!(owners.name(3_999_999_999), "3999999999");
        assert_eq!(owners.of_path(Path::new("/nonexistent/x")), None);
    }

    #[test]
    fn a_failed_lookup_is_not_cached() {
        static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        fn flaky(uid: u32) -> Result<Option<String>, std::io::Error> {
            match CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
                0 => Err(std::io::Error::from_raw_os_error(libc::EMFILE)),
                _ if uid == 1000 => Ok(Some("alice".to_owned())),
                _ => Ok(None),
            }
        }
        let mut owners = Owners {
            names: HashMap::new(),
            lookup: flaky,
        };
        assert_eq!(owners.name(1000), "1000", "the number, this once");
        assert_eq!(owners.name(1000), "alice", "looked up again");
        assert_eq!(owners.name(1001), "1001", "no such user");
        let calls = CALLS.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(owners.name(1001), "1001");
        assert_eq!(owners.name(1000), "alice");
        assert_eq!(
            CALLS.load(std::sync::atomic::Ordering::SeqCst),
            calls,
            "answers are cached"
        );
    }
}
