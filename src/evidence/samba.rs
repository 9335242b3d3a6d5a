//! Samba's `vfs_full_audit` records, as its debug log writes them with `full_audit:syslog =
//! false` and `log level = 0 full_audit:1@FILE`: a header line, then the message on the next
//! line, indented by two spaces.
//!
//! ```text
//! [2026/12/07 11:58:16.443819,  1] ../../source3/modules/vfs_full_audit.c:643(do_log)
//!   alice|198.18.0.2|mkdirat|ok|/srv/public/dir1
//! ```
//!
//! The message is the prefix (`full_audit:prefix`, by default `%u|%I`: the session's user and
//! the client's address), then the operation, `ok` (or `fail (reason)`), and its arguments.
//! File names reach the record as they are, `|` and newlines included, so a record is read
//! only when there is no doubt about it: its header is a real header, its message is the one
//! line that follows it, and its fields are exactly as many as its operation has. Anything
//! else attributes nothing.

use std::path::{Path, PathBuf};

use std::os::unix::ffi::OsStringExt;

pub use super::{Act, Record};

/// The operations `sharehook setup samba` asks Samba to record (the names of Samba 4.17 and
/// later; an unknown name makes Samba refuse the share).
pub const OPERATIONS: &[&str] = &[
    "openat",
    "create_file",
    "mkdirat",
    "renameat",
    "unlinkat",
    "pread_recv",
    "pread",
    "close",
    "offload_read_send",
    "offload_write_send",
];

/// Samba's own default `full_audit:prefix`: the session's user and the client's address.
pub const DEFAULT_PREFIX: &str = "%u|%I";

/// Where `sharehook setup samba` has Samba write its audit log unless told otherwise.
pub const DEFAULT_LOG: &str = "/var/log/samba/audit.log";

/// The `full_audit:prefix` `sharehook setup samba` prints: Samba's default fields, then
/// `secret` as a field of its own. File names reach the log as they are, newlines included;
/// a record whose prefix lacks the secret is not read, so people who can name files but
/// cannot read the configuration cannot write a record sharehook believes.
pub fn secret_prefix(secret: &str) -> String {
    format!("{DEFAULT_PREFIX}|{secret}")
}

/// The lines that make Samba record who did what where sharehook reads it: for `[global]`,
/// for each share watched, and for sharehook's configuration. `prefix` is the
/// `full_audit:prefix` (see `secret_prefix`).
pub fn setup_lines(log: &Path, prefix: &str) -> String {
    let log = log.display();
    format!(
        "# sharehook setup samba: the lines that make Samba 4.17 or later record each change\n\
         # made over SMB with its session's user and client address, where sharehook reads it.\n\
         # In sharehook's configuration:\n\
         #   [attribution]\n\
         #   samba_audit = \"{log}\"\n\
         #   samba_prefix = \"{prefix}\"\n\
         # The last field of the prefix is a secret made for this setup: a record without it is\n\
         # not believed, so a file name holding a newline and a made-up record attributes\n\
         # nothing. Keep it from the people who use the shares: smb.conf is often readable by\n\
         # everyone on the machine (chmod 640 /etc/samba/smb.conf, or put the share lines in an\n\
         # `include = ` file of mode 600), and the audit log should be mode 640.\n\
         # Samba applies a changed smb.conf to new connections. The log grows: rotate it (a new\n\
         # file at the same path, or cut short in place; sharehook follows both).\n\
         #\n\
         # In [global] (this sets the main log level to 0: raise the first number to keep more\n\
         # of Samba's own log; the full_audit class always goes to its own file):\n\
         [global]\n\
         \x20 log level = 0 full_audit:1@{log}\n\
         #\n\
         # In each share sharehook watches (if it has `vfs objects` already, add full_audit to\n\
         # them). These are Samba 4.17's operation names; an unknown one makes Samba refuse the\n\
         # share:\n\
         [your share]\n\
         \x20 vfs objects = full_audit\n\
         \x20 full_audit:prefix = {prefix}\n\
         \x20 full_audit:success = {ops}\n\
         \x20 full_audit:failure = none\n\
         \x20 full_audit:syslog = false\n",
        ops = OPERATIONS.join(" ")
    )
}

/// Whether `line` is a header of Samba's debug log written by `vfs_full_audit`:
/// `[YYYY/MM/DD HH:MM:SS.ffffff,  N] .../vfs_full_audit.c:NNN(do_log)`.
pub fn is_header(line: &[u8]) -> bool {
    let Some(rest) = line.strip_prefix(b"[") else {
        return false;
    };
    // The time: digits and separators in fixed places.
    const SHAPE: &[u8] = b"dddd/dd/dd dd:dd:dd";
    if rest.len() < SHAPE.len() {
        return false;
    }
    let shaped = SHAPE.iter().zip(rest).all(|(s, c)| match s {
        b'd' => c.is_ascii_digit(),
        other => other == c,
    });
    shaped
        && rest.contains(&b']')
        && line.ends_with(b"(do_log)")
        && line
            .windows(b"vfs_full_audit.c:".len())
            .any(|w| w == b"vfs_full_audit.c:")
}

/// Reads one message line (without its two spaces of indent and its newline), given how many
/// fields the prefix has and which of them are the user and the address. `None` for what is
/// not a successful operation sharehook reads, or cannot be read without doubt.
pub fn parse_message(line: &[u8], prefix: &Prefix) -> Option<Record> {
    let line = line.strip_prefix(b"  ")?;
    let fields: Vec<&[u8]> = line.split(|&b| b == b'|').collect();
    let n = prefix.fields;
    if fields.len() < n + 2 {
        return None;
    }
    if prefix
        .literals
        .iter()
        .any(|(i, text)| fields[*i] != text.as_slice())
    {
        return None;
    }
    let text = |b: &[u8]| std::str::from_utf8(b).ok().map(str::to_owned);
    let user = text(fields[prefix.user])?;
    let address = match prefix.address {
        Some(i) => text(fields[i])?,
        None => String::new(),
    };
    if user.is_empty() || user.chars().any(char::is_control) || address.contains(char::is_control) {
        return None;
    }
    let (op, status, args) = (fields[n], fields[n + 1], &fields[n + 2..]);
    if status != b"ok" {
        return None;
    }
    let path = |b: &[u8]| -> Option<PathBuf> {
        (b.starts_with(b"/") && !b.contains(&0))
            .then(|| PathBuf::from(std::ffi::OsString::from_vec(b.to_vec())))
    };
    // Each operation has a fixed number of arguments: a name holding `|` makes more, and
    // such a record is not read.
    let act = match (op, args) {
        (b"openat", [b"w", p]) => Act::Write(path(p)?),
        (b"openat", _) => return None,
        (b"create_file", [_mask, kind, disposition, p]) => {
            let creates = matches!(
                *disposition,
                b"create" | b"overwrite" | b"overwrite_if" | b"supersede"
            );
            match (*kind, creates) {
                (b"file", true) => Act::Write(path(p)?),
                (b"file", false) if *disposition == b"open" => Act::Opened(path(p)?),
                (b"dir", true) if *disposition == b"create" => Act::Mkdir(path(p)?),
                _ => return None,
            }
        }
        (b"mkdirat", [p]) => Act::Mkdir(path(p)?),
        (b"unlinkat", [p]) => Act::Remove(path(p)?),
        (b"renameat", [from, to]) => Act::Rename(path(from)?, path(to)?),
        (b"pread_recv" | b"pread", [p]) => Act::Read(path(p)?),
        (b"close", [p]) => Act::Close(path(p)?),
        (b"offload_read_send", [b""]) => Act::CopyFrom,
        (b"offload_write_send", [b""]) => Act::CopyTo,
        _ => return None,
    };
    Some(Record { user, address, act })
}

/// Where the user and the address are in `full_audit:prefix`, and the fields that are fixed
/// text (a secret, say), which a record must hold as they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prefix {
    pub fields: usize,
    pub user: usize,
    pub address: Option<usize>,
    pub literals: Vec<(usize, Vec<u8>)>,
}

impl Prefix {
    /// Reads a `full_audit:prefix` value such as `%u|%I` (Samba's default) or
    /// `%u|%I|%m|%P|%S` (OpenMediaVault's). It must name the user (`%u`), alone in a field.
    pub fn parse(text: &str) -> Result<Prefix, String> {
        let parts: Vec<&str> = text.split('|').collect();
        let user = parts.iter().position(|p| *p == "%u").ok_or_else(|| {
            format!("\"{text}\" does not name the user as a field of its own (%u)")
        })?;
        let address = parts.iter().position(|p| *p == "%I");
        let literals = parts
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.contains('%'))
            .map(|(i, p)| (i, p.as_bytes().to_vec()))
            .collect();
        Ok(Prefix {
            fields: parts.len(),
            user,
            address,
            literals,
        })
    }

    /// Whether the prefix holds fixed text (a secret) that a forged record would lack.
    pub fn has_secret(&self) -> bool {
        self.literals.iter().any(|(_, text)| text.len() >= 8)
    }
}

impl Default for Prefix {
    fn default() -> Prefix {
        Prefix::parse(DEFAULT_PREFIX).expect("Samba's default prefix names the user")
    }
}

/// Reads records from the bytes of the log, line by line: a record is a header followed by
/// exactly one message line, and then by another header or by the end of what was written so
/// far (`end_of_data`). Samba writes a message a line at a time: a line that comes after a
/// record was read, with no header before it, is part of a name holding a newline, and
/// attributes nothing. (What was read of that record names its own session, with its path cut
/// at the newline.)
#[derive(Default)]
pub struct Reader {
    prefix: Prefix,
    /// The bytes of a line not yet ended.
    lines: super::follow::Lines,
    state: State,
    /// Lines that were not part of a record read without doubt.
    pub doubtful: u64,
    /// Records read.
    pub records: u64,
}

#[derive(Default)]
enum State {
    /// Waiting for a header.
    #[default]
    Idle,
    /// A header was read: the next line is its message.
    Header,
    /// A message was read: it is a record if the next line is a header.
    Message(Option<Record>),
    /// Lines that belong to no record read without doubt, until the next header.
    Doubt,
}

impl Reader {
    pub fn new(prefix: Prefix) -> Reader {
        Reader {
            prefix,
            ..Reader::default()
        }
    }

    /// Reads `bytes` (what came next in the log), calling `found` for each record read
    /// without doubt.
    pub fn feed(&mut self, bytes: &[u8], found: &mut impl FnMut(Record)) {
        let mut lines = std::mem::take(&mut self.lines);
        lines.feed(bytes, &mut |line| self.line(line, found));
        self.lines = lines;
    }

    fn line(&mut self, line: &[u8], found: &mut impl FnMut(Record)) {
        let header = is_header(line);
        self.state = match (std::mem::take(&mut self.state), header) {
            (State::Message(record), true) => {
                if let Some(r) = record {
                    self.records += 1;
                    found(r);
                }
                State::Header
            }
            (_, true) => State::Header,
            (State::Header, false) => State::Message(parse_message(line, &self.prefix)),
            (State::Message(_) | State::Doubt, false) => {
                // A second line after a header: a name's newline, or something written in
                // the middle. Nothing of it is read, up to the next header.
                self.doubtful += 1;
                State::Doubt
            }
            (State::Idle, false) => {
                self.doubtful += 1;
                State::Idle
            }
        };
    }

    /// All that was written so far has been fed: a record whose message line ended is read
    /// now.
    pub fn end_of_data(&mut self, found: &mut impl FnMut(Record)) {
        if self.lines.pending() {
            return;
        }
        if !matches!(self.state, State::Message(_)) {
            return;
        }
        // Waiting for a header from now: a line that goes on from this message is doubtful.
        if let State::Message(Some(r)) = std::mem::take(&mut self.state) {
            self.records += 1;
            found(r);
        }
    }

    /// The record waiting for the line after it, given up (the log was rotated or truncated:
    /// what follows it is not known).
    pub fn reset(&mut self) {
        self.lines.reset();
        self.state = State::Idle;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str =
        "[2026/12/07 11:58:16.443819,  1] ../../source3/modules/vfs_full_audit.c:643(do_log)";

    fn read(text: &str) -> (Vec<Record>, u64) {
        let mut reader = Reader::new(Prefix::default());
        let mut out = Vec::new();
        reader.feed(text.as_bytes(), &mut |r| out.push(r));
        (out, reader.doubtful)
    }

    fn log(messages: &[&str]) -> String {
        let mut text = String::new();
        for m in messages {
            text.push_str(HEADER);
            text.push('\n');
            text.push_str(m);
            text.push('\n');
        }
        text.push_str(HEADER);
        text.push('\n');
        text
    }

    fn rec(user: &str, address: &str, act: Act) -> Record {
        Record {
            user: user.into(),
            address: address.into(),
            act,
        }
    }

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    #[test]
    fn records_of_the_operations_sharehook_reads_are_read() {
        let (got, doubt) = read(&log(&[
            "  alice|198.18.0.2|openat|ok|r|/srv/s",
            "  alice|198.18.0.2|openat|ok|w|/srv/s/a.txt",
            "  alice|198.18.0.2|create_file|ok|0x80|dir|create|/srv/s/d",
            "  alice|198.18.0.2|create_file|ok|0x12019f|file|overwrite_if|/srv/s/b.txt",
            "  alice|198.18.0.2|create_file|ok|0x81|dir|open|/srv/s",
            "  bob|198.18.0.3|renameat|ok|/srv/s/a.txt|/srv/s/d/a.txt",
            "  bob|198.18.0.3|unlinkat|ok|/srv/s/d/a.txt",
            "  bob|198.18.0.3|mkdirat|ok|/srv/s/e",
            "  bob|198.18.0.3|pread_recv|ok|/srv/s/b.txt",
            "  bob|198.18.0.3|unlinkat|fail (No such file or directory)|/srv/s/x",
        ]));
        assert_eq!(doubt, 0);
        assert_eq!(
            got,
            vec![
                rec("alice", "198.18.0.2", Act::Write(p("/srv/s/a.txt"))),
                rec("alice", "198.18.0.2", Act::Mkdir(p("/srv/s/d"))),
                rec("alice", "198.18.0.2", Act::Write(p("/srv/s/b.txt"))),
                rec(
                    "bob",
                    "198.18.0.3",
                    Act::Rename(p("/srv/s/a.txt"), p("/srv/s/d/a.txt"))
                ),
                rec("bob", "198.18.0.3", Act::Remove(p("/srv/s/d/a.txt"))),
                rec("bob", "198.18.0.3", Act::Mkdir(p("/srv/s/e"))),
                rec("bob", "198.18.0.3", Act::Read(p("/srv/s/b.txt"))),
            ]
        );
    }

    #[test]
    fn a_record_is_read_once_its_line_ended_and_what_goes_on_from_it_is_not() {
        let mut reader = Reader::new(Prefix::default());
        let mut out = Vec::new();
        let text = format!("{HEADER}\n  alice|198.18.0.2|unlinkat|ok|/srv/s/a\n");
        // Split anywhere: nothing is read before the line has ended.
        for chunk in text.as_bytes()[..text.len() - 1].chunks(7) {
            reader.feed(chunk, &mut |r| out.push(r));
            reader.end_of_data(&mut |r| out.push(r));
        }
        assert!(out.is_empty());
        reader.feed(b"\n", &mut |r| out.push(r));
        reader.end_of_data(&mut |r| out.push(r));
        assert_eq!(out.len(), 1);
        // A line written after it (a name's newline, or a forged message) is not read.
        reader.feed(
            b"  bob|198.18.0.3|unlinkat|ok|/srv/s/report.pdf\n",
            &mut |r| out.push(r),
        );
        reader.end_of_data(&mut |r| out.push(r));
        reader.feed(format!("{HEADER}\n").as_bytes(), &mut |r| out.push(r));
        assert_eq!(out.len(), 1);
        assert_eq!(reader.doubtful, 1);
    }

    #[test]
    fn names_holding_bars_newlines_or_forged_records_attribute_nothing() {
        // A name with `|` makes more fields than the operation has.
        let (got, _) = read(&log(&["  mallory|198.18.0.9|unlinkat|ok|/srv/s/a|b"]));
        assert_eq!(got, vec![]);
        // ... and so does one with `|bob|` in a rename.
        let (got, _) = read(&log(&[
            "  mallory|198.18.0.9|renameat|ok|/srv/s/x|bob|/srv/s/y|/srv/s/z",
        ]));
        assert_eq!(got, vec![]);
        // A name with a newline and a forged message: the record spans two lines, and is
        // not read, nor is the forged line.
        let (got, doubt) = read(&log(&[
            "  mallory|198.18.0.9|unlinkat|ok|/srv/s/x\n  bob|198.18.0.3|unlinkat|ok|/srv/s/report.pdf",
        ]));
        assert_eq!(got, vec![]);
        assert_eq!(doubt, 1);
        // A line before any header, and one that is not a header at all.
        let (got, _) =
            read("  bob|198.18.0.3|unlinkat|ok|/srv/s/a\n[not a header]\n  bob|1|unlinkat|ok|/a\n");
        assert_eq!(got, vec![]);
        // Relative paths, control characters in the user: not read.
        let (got, _) = read(&log(&[
            "  bob|198.18.0.3|unlinkat|ok|srv/s/a",
            "  b\u{7}ob|198.18.0.3|unlinkat|ok|/srv/s/a",
        ]));
        assert_eq!(got, vec![]);
    }

    #[test]
    fn with_a_secret_in_the_prefix_a_name_holding_a_forged_header_and_record_names_no_one() {
        let prefix = Prefix::parse(&secret_prefix("sh0123456789abcdef")).unwrap();
        assert!(prefix.has_secret());
        assert!(!Prefix::default().has_secret());
        let read = |text: &str| {
            let mut reader = Reader::new(prefix.clone());
            let mut out = Vec::new();
            reader.feed(text.as_bytes(), &mut |r| out.push(r));
            reader.end_of_data(&mut |r| out.push(r));
            out
        };
        // Mallory names a file with a newline, a header of the right shape, and a record of
        // bob's: the lines read as two records. The first is mallory's own (its path cut at
        // the newline); the forged one lacks the secret and is not read.
        let name = format!("/srv/s/x\n{HEADER}\n  bob|198.18.0.3|renameat|ok|/srv/s/q|/srv/s/r");
        let text = format!(
            "{HEADER}\n  mallory|198.18.0.9|sh0123456789abcdef|unlinkat|ok|{name}\n{HEADER}\n"
        );
        let got = read(&text);
        assert_eq!(
            got,
            vec![rec("mallory", "198.18.0.9", Act::Remove(p("/srv/s/x")))]
        );
        // With the secret guessed wrong, or left out: nothing.
        for forged in [
            "  bob|198.18.0.3|sh0000000000000000|unlinkat|ok|/srv/s/a",
            "  bob|198.18.0.3|unlinkat|ok|/srv/s/a|b",
        ] {
            assert_eq!(read(&format!("{HEADER}\n{forged}\n{HEADER}\n")), vec![]);
        }
        // The real thing is read.
        let real = format!("{HEADER}\n  bob|198.18.0.3|sh0123456789abcdef|unlinkat|ok|/srv/s/a\n");
        assert_eq!(
            read(&real),
            vec![rec("bob", "198.18.0.3", Act::Remove(p("/srv/s/a")))]
        );
    }

    #[test]
    fn the_prefix_says_where_the_user_and_address_are() {
        let omv = Prefix::parse("%u|%I|%m|%P|%S").unwrap();
        assert_eq!((omv.fields, omv.user, omv.address), (5, 0, Some(1)));
        let mut reader = Reader::new(omv);
        let mut out = Vec::new();
        let text =
            format!("{HEADER}\n  ann|198.18.0.4|laptop|/srv/s|s|unlinkat|ok|/srv/s/a\n{HEADER}\n");
        reader.feed(text.as_bytes(), &mut |r| out.push(r));
        assert_eq!(
            out,
            vec![rec("ann", "198.18.0.4", Act::Remove(p("/srv/s/a")))]
        );
        assert!(Prefix::parse("%I|%m").is_err());
    }

    #[test]
    fn headers_are_recognised_by_their_shape() {
        assert!(is_header(HEADER.as_bytes()));
        assert!(!is_header(b"[2026/12/07] vfs_full_audit.c:1(do_log)"));
        assert!(!is_header(
            b"[2026/12/07 11:58:16.443819,  1] ../../source3/smbd/service.c:1(do_log)"
        ));
        assert!(!is_header(b"  alice|1|unlinkat|ok|/a"));
    }
}
