//! Who owns a file: the owner's name in the system user database, or the numeric uid when the
//! database has no name for it. Names are cached for a few minutes.

use std::collections::HashMap;
use std::ffi::CStr;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

const KEEP: Duration = Duration::from_secs(300);

#[derive(Default)]
pub struct Owners {
    names: HashMap<u32, (String, Instant)>,
}

impl Owners {
    pub fn new() -> Owners {
        Owners::default()
    }

    /// The owner of `path` itself (not what a link points to), or `None` if it is gone.
    pub fn of_path(&mut self, path: &Path) -> Option<String> {
        let meta = std::fs::symlink_metadata(path).ok()?;
        Some(self.name(meta.uid()))
    }

    pub fn name(&mut self, uid: u32) -> String {
        let now = Instant::now();
        if let Some((name, at)) = self.names.get(&uid)
            && now.duration_since(*at) < KEEP
        {
            return name.clone();
        }
        let name = lookup(uid).unwrap_or_else(|| uid.to_string());
        self.names.insert(uid, (name.clone(), now));
        name
    }
}

fn lookup(uid: u32) -> Option<String> {
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
        if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
            return None;
        }
        // SAFETY: getpwuid_r succeeded, so pw_name is a NUL-terminated string inside `buf`.
        let name = unsafe { CStr::from_ptr(pwd.pw_name) };
        return Some(name.to_string_lossy().into_owned()).filter(|n| !n.is_empty());
    }
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
}
