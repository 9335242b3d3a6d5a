//! OpenSSH's SFTP server log (`sftp-server` or `internal-sftp` with `-l INFO`), as syslog
//! writes it to a file: one line per message, `TIME HOST TAG[PID]: MESSAGE`, where the time is
//! either `Dec  7 14:00:00` (the traditional format) or RFC 3339.
//!
//! ```text
//! Dec  7 14:00:00 nas internal-sftp[4242]: session opened for local user carol from [198.18.3.2]
//! Dec  7 14:00:01 nas internal-sftp[4242]: open "/srv/s/a.txt" flags WRITE,CREATE,TRUNCATE mode 0666
//! Dec  7 14:00:01 nas internal-sftp[4242]: close "/srv/s/a.txt" bytes read 0 written 6
//! Dec  7 14:00:02 nas internal-sftp[4242]: rename old "/srv/s/a.txt" new "/srv/s/b.txt"
//! ```
//!
//! The process id is the session: its `session opened` line names the user and the client's
//! address, and each later line of that process is that session's. OpenSSH writes each message
//! through vis(3) (C style, octal): a `\` is written `\\`, a newline `\n`, a tab `\t`, and the
//! other control characters and every byte that is not ASCII as `\ooo`, so a name can neither
//! start a line nor hold a newline here, and each name is read back exactly (`caf\303\251` is
//! `café`). A `"` in a name is not escaped: each message is read from both ends, and a rename
//! whose names hold `" new "` attributes nothing.

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Component, Path, PathBuf};

use super::{Act, Record};

/// The tags OpenSSH's SFTP servers log under.
const TAGS: &[&str] = &["internal-sftp", "sftp-server"];
/// The most sessions kept at once (the oldest is forgotten past it).
const MAX_SESSIONS: usize = 4096;

/// Where `sharehook setup sftp` has syslog write the SFTP log unless told otherwise.
pub const DEFAULT_LOG: &str = "/var/log/sftp.log";

/// The lines that make OpenSSH's SFTP server log who did what, and rsyslog write it where
/// sharehook reads it: for sshd_config, for rsyslog, and for sharehook's configuration.
pub fn setup_lines(log: &Path, chroot: Option<&str>) -> String {
    let journal = super::journal::parse(log).is_some();
    let log = log.display();
    let writer = if journal {
        "in the journal, where"
    } else {
        "and rsyslog write it where"
    };
    let mut out = format!(
        "# sharehook setup sftp: the lines that make OpenSSH's SFTP server record each change and\n\
         # download with its session's user and client address, {writer}\n\
         # sharehook reads it. In sharehook's configuration:\n\
         #   [attribution]\n\
         #   sftp_log = \"{log}\"\n"
    );
    if let Some(c) = chroot {
        out += &format!("#   sftp_chroot = \"{c}\"\n");
    }
    out += "#\n\
            # In /etc/ssh/sshd_config (sessions opened after sshd reloads it are recorded; with\n\
            # the separate server, the line is Subsystem sftp /usr/lib/openssh/sftp-server -l INFO):\n\
            Subsystem sftp internal-sftp -l INFO\n";
    if let Some(c) = chroot {
        out += &format!("ChrootDirectory {c}\n");
        out += if journal {
            "# A chrooted session logs through a /dev/log inside its chroot: see below.\n"
        } else {
            "# A chrooted session logs through a /dev/log inside its chroot, which rsyslog makes\n\
             # below (with %u in the chroot, one input line per user's folder).\n"
        };
    }
    if journal {
        // The journal takes the SFTP server's messages as they are; a chrooted session needs
        // the journal's socket inside its chroot.
        if let Some(c) = chroot {
            out += &format!(
                "#\n# The journal's socket inside the chroot (as root; a systemd mount unit can\n\
                 # do it at boot):\n\
                 #   mkdir -p {c}/dev && touch {c}/dev/log\n\
                 #   mount --bind /run/systemd/journal/dev-log {c}/dev/log\n"
            );
        }
        return out;
    }
    out += "#\n# In /etc/rsyslog.d/sharehook-sftp.conf (then restart rsyslog):\n";
    if let Some(c) = chroot {
        out += &format!("input(type=\"imuxsock\" Socket=\"{c}/dev/log\" CreatePath=\"on\")\n");
    }
    out += &format!(
        "if $programname == \"internal-sftp\" or $programname == \"sftp-server\" then {{\n\
         \x20 action(type=\"omfile\" file=\"{log}\" template=\"RSYSLOG_TraditionalFileFormat\")\n\
         \x20 stop\n\
         }}\n"
    );
    out
}

/// Finds a user's home folder (where an SFTP session starts, and relative paths begin).
pub type Homes = Box<dyn Fn(&str) -> Option<PathBuf> + Send>;

/// Reads SFTP records from the bytes of the log, line by line.
pub struct Reader {
    lines: super::follow::Lines,
    /// The folder sessions are locked in (sshd's `ChrootDirectory`, `%u` for the user's name):
    /// the paths logged are inside it.
    chroot: Option<String>,
    /// Each session's user and address, by process id, and when it was opened (for
    /// forgetting the oldest).
    sessions: HashMap<u32, (String, String, u64)>,
    opened: u64,
    homes: Homes,
    pub records: u64,
    pub doubtful: u64,
}

impl Reader {
    pub fn new(homes: Homes, chroot: Option<String>) -> Reader {
        Reader {
            lines: super::follow::Lines::default(),
            chroot,
            sessions: HashMap::new(),
            opened: 0,
            homes,
            records: 0,
            doubtful: 0,
        }
    }

    pub fn feed(&mut self, bytes: &[u8], found: &mut dyn FnMut(Record)) {
        let mut lines = std::mem::take(&mut self.lines);
        lines.feed(bytes, &mut |line| self.line(line, found));
        self.lines = lines;
    }

    /// The line being written is given up (the log was rotated or cut short).
    pub fn reset(&mut self) {
        self.lines.reset();
    }

    fn line(&mut self, line: &[u8], found: &mut dyn FnMut(Record)) {
        let Some((pid, message)) = split_line(line) else {
            return;
        };
        if let Some(rest) = message.strip_prefix("session opened for local user ") {
            match session(rest) {
                Some((user, address)) => {
                    if self.sessions.len() >= MAX_SESSIONS
                        && let Some(oldest) = self
                            .sessions
                            .iter()
                            .min_by_key(|(_, s)| s.2)
                            .map(|(pid, _)| *pid)
                    {
                        self.sessions.remove(&oldest);
                    }
                    self.opened += 1;
                    self.sessions.insert(pid, (user, address, self.opened));
                }
                None => self.doubtful += 1,
            }
            return;
        }
        if message.starts_with("session closed for local user ") {
            self.sessions.remove(&pid);
            return;
        }
        let Some((user, address, _)) = self.sessions.get(&pid) else {
            // A session opened before reading began (or forgotten): who it is, is not known.
            return;
        };
        let root = self
            .chroot
            .as_ref()
            .map(|c| PathBuf::from(c.replace("%u", user)));
        // Where a session starts: its home folder (inside the chroot, if it is there; else
        // the chroot's top, as sshd does).
        let home = || {
            let home = (self.homes)(user)?;
            match &root {
                None => Some(home),
                Some(r) => {
                    let inside = r.join(home.strip_prefix("/").unwrap_or(&home));
                    Some(if inside.is_dir() { inside } else { r.clone() })
                }
            }
        };
        let act = match parse_message(message, &home, root.as_deref()) {
            Ok(Some(act)) => act,
            Ok(None) => return,
            Err(Doubt) => {
                self.doubtful += 1;
                return;
            }
        };
        self.records += 1;
        found(Record {
            user: user.clone(),
            address: address.clone(),
            act,
        });
    }
}

/// The process id and message of a line logged by an SFTP server, `None` for any other line.
fn split_line(line: &[u8]) -> Option<(u32, &str)> {
    let line = std::str::from_utf8(line).ok()?;
    let end = line.find("]: ")?;
    let head = &line[..end];
    let tag_at = head.rfind(' ')? + 1;
    let (tag, pid) = head[tag_at..].split_once('[')?;
    if !TAGS.contains(&tag) || pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((pid.parse().ok()?, &line[end + 3..]))
}

/// `USER from [ADDR]` of a `session opened` line.
fn session(rest: &str) -> Option<(String, String)> {
    let (user, address) = rest.rsplit_once(" from [")?;
    let address = address.strip_suffix(']')?;
    let plain = |s: &str| !s.is_empty() && !s.contains(|c: char| c.is_control() || c == ' ');
    (plain(user) && plain(address)).then(|| (user.to_owned(), address.to_owned()))
}

/// A line of an operation sharehook reads that cannot be read without doubt.
#[derive(Debug, PartialEq, Eq)]
pub struct Doubt;

/// Reads one message of a known session; `home` gives the folder relative names start in.
/// `Ok(None)`: a message that tells nothing sharehook reports (a read-only open, a close
/// after writing, any other message).
pub fn parse_message(
    message: &str,
    home: &dyn Fn() -> Option<PathBuf>,
    root: Option<&Path>,
) -> Result<Option<Act>, Doubt> {
    let path = |name: &str| resolve(name, home, root).ok_or(Doubt);
    if let Some(rest) = message.strip_prefix("open \"") {
        let (name, tail) = rest.rsplit_once("\" flags ").ok_or(Doubt)?;
        let (flags, mode) = tail.split_once(" mode 0").ok_or(Doubt)?;
        if !flags.bytes().all(|b| b.is_ascii_uppercase() || b == b',') || !octal(mode) {
            return Err(Doubt);
        }
        let writes = flags
            .split(',')
            .any(|f| matches!(f, "WRITE" | "CREATE" | "TRUNCATE" | "APPEND"));
        return if writes {
            Ok(Some(Act::Write(path(name)?)))
        } else {
            Ok(None)
        };
    }
    if let Some(rest) = message.strip_prefix("close \"") {
        let (name, tail) = rest.rsplit_once("\" bytes read ").ok_or(Doubt)?;
        let (read, written) = tail.split_once(" written ").ok_or(Doubt)?;
        let number = |t: &str| t.parse::<u64>().map_err(|_| Doubt);
        let (read, written) = (number(read)?, number(written)?);
        return if read > 0 && written == 0 {
            Ok(Some(Act::Fetched(path(name)?, read)))
        } else {
            Ok(None)
        };
    }
    for prefix in ["remove name \"", "rmdir name \""] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let name = rest.strip_suffix('"').ok_or(Doubt)?;
            return Ok(Some(Act::Remove(path(name)?)));
        }
    }
    if let Some(rest) = message.strip_prefix("mkdir name \"") {
        let (name, mode) = rest.rsplit_once("\" mode 0").ok_or(Doubt)?;
        if !octal(mode) {
            return Err(Doubt);
        }
        return Ok(Some(Act::Mkdir(path(name)?)));
    }
    let Some(rest) = message
        .strip_prefix("rename old \"")
        .or_else(|| message.strip_prefix("posix-rename old \""))
    else {
        return Ok(None);
    };
    let rest = rest.strip_suffix('"').ok_or(Doubt)?;
    // Each name may hold a `"`: where the two meet is known only if it is said once.
    if rest.matches("\" new \"").count() != 1 {
        return Err(Doubt);
    }
    let (from, to) = rest.split_once("\" new \"").ok_or(Doubt)?;
    Ok(Some(Act::Rename(path(from)?, path(to)?)))
}

fn octal(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| (b'0'..=b'7').contains(&b))
}

/// The bytes of a name as vis(3) wrote it (C style, octal): `\\`, `\n`, `\t`, `\r`, `\b`,
/// `\a`, `\v`, `\f` and `\ooo` read back; anything else after a `\`, or a NUL, is not a
/// name.
pub fn unvis(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        i += 1;
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let c = *bytes.get(i)?;
        i += 1;
        let byte = match c {
            b'\\' => b'\\',
            b'n' => b'\n',
            b't' => b'\t',
            b'r' => b'\r',
            b'b' => 8,
            b'a' => 7,
            b'v' => 11,
            b'f' => 12,
            b'0'..=b'3' => {
                let digits = bytes.get(i..i + 2)?;
                if !digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                    return None;
                }
                i += 2;
                (c - b'0') * 64 + (digits[0] - b'0') * 8 + (digits[1] - b'0')
            }
            _ => return None,
        };
        out.push(byte);
    }
    (!out.contains(&0)).then_some(out)
}

/// The absolute path of `name` as the client sent it (escapes read back): relative to the
/// home folder when it does not start with `/`, and inside `root` (the chroot) when there is
/// one. `None` when it cannot be known without doubt: an escape vis(3) does not write, a
/// `..`, or a relative name of a user with no home folder.
fn resolve(name: &str, home: &dyn Fn() -> Option<PathBuf>, root: Option<&Path>) -> Option<PathBuf> {
    let bytes = unvis(name)?;
    if bytes.is_empty() {
        return None;
    }
    let given = PathBuf::from(OsString::from_vec(bytes));
    let full = if given.is_absolute() {
        match root {
            Some(r) => r.join(given.strip_prefix("/").ok()?),
            None => given,
        }
    } else {
        home()?.join(given)
    };
    let mut out = PathBuf::new();
    for part in full.components() {
        match part {
            Component::RootDir => out.push("/"),
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

pub use crate::tree::owner::{home_of, uid_of};

#[cfg(test)]
mod tests {
    use super::*;

    fn read(lines: &[&str]) -> (Vec<Record>, u64) {
        let mut reader = Reader::new(
            Box::new(|u| Some(PathBuf::from(format!("/home/{u}")))),
            None,
        );
        let mut out = Vec::new();
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        reader.feed(text.as_bytes(), &mut |r| out.push(r));
        (out, reader.doubtful)
    }

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    const OPEN: &str = "Dec  7 14:00:00 nas internal-sftp[42]: session opened for local user carol from [198.18.3.2]";

    #[test]
    fn a_session_names_its_user_and_address_in_each_record() {
        let (got, doubtful) = read(&[
            OPEN,
            "Dec  7 14:00:01 nas internal-sftp[42]: open \"/srv/s/a.txt\" flags WRITE,CREATE,TRUNCATE mode 0666",
            "Dec  7 14:00:01 nas internal-sftp[42]: close \"/srv/s/a.txt\" bytes read 0 written 6",
            "Dec  7 14:00:01 nas internal-sftp[42]: open \"/srv/s/a.txt\" flags READ mode 0666",
            "Dec  7 14:00:01 nas internal-sftp[42]: close \"/srv/s/a.txt\" bytes read 6 written 0",
            "2026-12-07T14:00:02.123456+00:00 nas internal-sftp[42]: rename old \"/srv/s/a.txt\" new \"/srv/s/b.txt\"",
            "Dec  7 14:00:02 nas internal-sftp[42]: posix-rename old \"b.txt\" new \"c.txt\"",
            "Dec  7 14:00:03 nas internal-sftp[42]: mkdir name \"/srv/s/d\" mode 0777",
            "Dec  7 14:00:03 nas internal-sftp[42]: rmdir name \"/srv/s/d\"",
            "Dec  7 14:00:03 nas internal-sftp[42]: remove name \"/srv/s/./c.txt\"",
            "Dec  7 14:00:04 nas internal-sftp[42]: session closed for local user carol from [198.18.3.2]",
            // After the session closed, its process id names nobody.
            "Dec  7 14:00:05 nas internal-sftp[42]: remove name \"/srv/s/x\"",
            // Another program's line, and another session's, unknown.
            "Dec  7 14:00:05 nas sshd[41]: remove name \"/srv/s/y\"",
            "Dec  7 14:00:05 nas sftp-server[43]: remove name \"/srv/s/z\"",
        ]);
        let acts: Vec<Act> = got.iter().map(|r| r.act.clone()).collect();
        assert_eq!(
            acts,
            vec![
                Act::Write(p("/srv/s/a.txt")),
                Act::Fetched(p("/srv/s/a.txt"), 6),
                Act::Rename(p("/srv/s/a.txt"), p("/srv/s/b.txt")),
                Act::Rename(p("/home/carol/b.txt"), p("/home/carol/c.txt")),
                Act::Mkdir(p("/srv/s/d")),
                Act::Remove(p("/srv/s/d")),
                Act::Remove(p("/srv/s/c.txt")),
            ]
        );
        assert!(
            got.iter()
                .all(|r| r.user == "carol" && r.address == "198.18.3.2")
        );
        assert_eq!(doubtful, 0);
    }

    #[test]
    fn names_that_cannot_be_read_without_doubt_attribute_nothing() {
        let (got, doubtful) = read(&[
            OPEN,
            // A quote in a name: read from both ends, still one meaning.
            "Dec  7 14:00:01 nas internal-sftp[42]: open \"/srv/s/a\" flags READ mode 0666\" flags WRITE mode 0666",
            // A rename whose names may meet in two places.
            "Dec  7 14:00:01 nas internal-sftp[42]: rename old \"/srv/s/a\" new \"/srv/s/b\" new \"/srv/s/c\"",
            // Escapes read back: a newline, a backslash, bytes that are not ASCII.
            "Dec  7 14:00:01 nas internal-sftp[42]: remove name \"/srv/s/x\\nDec\"",
            "Dec  7 14:00:01 nas internal-sftp[42]: remove name \"/srv/s/a\\\\b\"",
            "Dec  7 14:00:01 nas internal-sftp[42]: remove name \"/srv/s/caf\\303\\251\"",
            // An escape vis(3) does not write, and a `..`: not known.
            "Dec  7 14:00:01 nas internal-sftp[42]: remove name \"/srv/s/x\\q\"",
            "Dec  7 14:00:01 nas internal-sftp[42]: remove name \"/srv/s/../etc/passwd\"",
            // A line forged into a name cannot start a line: it stays inside the message.
            "Dec  7 14:00:01 nas internal-sftp[42]: remove name \"/srv/s/q]: session opened for local user root from [1.2.3.4]\"",
        ]);
        let acts: Vec<Act> = got.iter().map(|r| r.act.clone()).collect();
        assert_eq!(
            acts,
            vec![
                Act::Write(p("/srv/s/a\" flags READ mode 0666")),
                Act::Remove(p("/srv/s/x\nDec")),
                Act::Remove(p("/srv/s/a\\b")),
                Act::Remove(p("/srv/s/café")),
                Act::Remove(p(
                    "/srv/s/q]: session opened for local user root from [1.2.3.4]"
                )),
            ]
        );
        assert!(got.iter().all(|r| r.user == "carol"));
        assert_eq!(doubtful, 3);
    }

    #[test]
    fn a_line_cut_by_the_end_of_what_was_written_is_read_when_it_ends() {
        let mut reader = Reader::new(Box::new(|_| None), None);
        let mut out = Vec::new();
        let text = format!(
            "{OPEN}\nDec  7 14:00:03 nas internal-sftp[42]: mkdir name \"/srv/s/d\" mode 0777\n"
        );
        let (a, b) = text.split_at(text.len() - 10);
        reader.feed(a.as_bytes(), &mut |r| out.push(r));
        assert!(out.is_empty());
        reader.feed(b.as_bytes(), &mut |r| out.push(r));
        assert_eq!(out.len(), 1);
        // A relative name of a user without a home folder: not known.
        let mut reader = Reader::new(Box::new(|_| None), None);
        let text =
            format!("{OPEN}\nDec  7 14:00:03 nas internal-sftp[42]: mkdir name \"d\" mode 0777\n");
        reader.feed(text.as_bytes(), &mut |r| out.push(r));
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn the_home_folder_comes_from_the_user_database() {
        assert_eq!(home_of("root"), Some(PathBuf::from("/root")));
        assert_eq!(home_of("no-such-user-here"), None);
    }
}

#[cfg(test)]
mod chroot_tests {
    use super::*;

    #[test]
    fn a_chrooted_session_s_paths_are_inside_its_chroot() {
        let jail = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(jail.path().join("carol/home/carol")).unwrap();
        let chroot = format!("{}/%u", jail.path().display());
        let mut reader = Reader::new(
            Box::new(|u| Some(PathBuf::from(format!("/home/{u}")))),
            Some(chroot),
        );
        let mut out = Vec::new();
        let text = "Dec  7 14:00:00 nas internal-sftp[7]: session opened for local user carol from [198.18.3.2]\n\
                    Dec  7 14:00:01 nas internal-sftp[7]: mkdir name \"/share/d\" mode 0777\n\
                    Dec  7 14:00:01 nas internal-sftp[7]: mkdir name \"e\" mode 0777\n";
        reader.feed(text.as_bytes(), &mut |r| out.push(r.act));
        assert_eq!(
            out,
            vec![
                Act::Mkdir(jail.path().join("carol/share/d")),
                Act::Mkdir(jail.path().join("carol/home/carol/e")),
            ]
        );
    }
}
