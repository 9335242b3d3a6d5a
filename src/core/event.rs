//! The user-level file operation: what a person did on a share, as it travels to a receiver.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::fmt::{self, Write as _};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One of the five things a person can do to a share that a receiver hears about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Operation {
    Upload,
    Delete,
    Move,
    Rename,
    CreateFolder,
    /// A person read a file (over SMB or SFTP, as the file server's records show, or through
    /// the resources API): nothing changed on the disk.
    Download,
    /// A file copied on the server (SMB's server-side copy, as Samba's records show), with
    /// the path it was copied from. A webhook that does not ask for copies hears an Upload.
    Copy,
}

impl Operation {
    pub const ALL: [Operation; 7] = [
        Operation::Upload,
        Operation::Delete,
        Operation::Move,
        Operation::Rename,
        Operation::CreateFolder,
        Operation::Download,
        Operation::Copy,
    ];

    /// The operations a webhook hears when its triggers are not given: the changes. A
    /// Download is heard only by a webhook that asks for it; a Copy, by one that does not, as
    /// the Upload of the copy.
    pub const CHANGES: [Operation; 5] = [
        Operation::Upload,
        Operation::Delete,
        Operation::Move,
        Operation::Rename,
        Operation::CreateFolder,
    ];

    /// The `operation` string of an ExaVault v1 body.
    pub fn v1_name(self) -> &'static str {
        match self {
            Operation::Upload => "Upload",
            Operation::Delete => "Delete",
            Operation::Move => "Move",
            Operation::Rename => "Rename",
            Operation::CreateFolder => "Create Folder",
            Operation::Download => "Download",
            Operation::Copy => "Copy",
        }
    }

    /// The trigger name used in the configuration (`triggers = [...]`).
    pub fn trigger(self) -> &'static str {
        match self {
            Operation::Upload => "upload",
            Operation::Delete => "delete",
            Operation::Move => "move",
            Operation::Rename => "rename",
            Operation::CreateFolder => "createFolder",
            Operation::Download => "download",
            Operation::Copy => "copy",
        }
    }

    pub fn from_trigger(name: &str) -> Option<Operation> {
        Operation::ALL.into_iter().find(|op| op.trigger() == name)
    }

    /// The dotted event name of an ExaVault v2 body (`resources.upload`, ...).
    pub fn v2_name(self) -> &'static str {
        match self {
            Operation::Upload => "resources.upload",
            Operation::Delete => "resources.delete",
            Operation::Move => "resources.move",
            Operation::Rename => "resources.rename",
            Operation::CreateFolder => "resources.createFolder",
            Operation::Download => "resources.download",
            Operation::Copy => "resources.copy",
        }
    }

    /// Whether the operation carries a source path (the old path of a Move or Rename).
    pub fn has_source(self) -> bool {
        matches!(self, Operation::Move | Operation::Rename | Operation::Copy)
    }
}

/// A path inside a share, as raw bytes: it starts with `/` (the share root is `/`) and never
/// ends with `/` unless it is the root. File names on Linux are bytes, not text, so this keeps
/// them exactly; encoders decide how to show bytes that are not UTF-8.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SharePath(Vec<u8>);

impl SharePath {
    pub fn root() -> SharePath {
        SharePath(b"/".to_vec())
    }

    /// The path of `abs` inside the share rooted at `root`, or `None` when it lies outside.
    pub fn within(root: &Path, abs: &Path) -> Option<SharePath> {
        let rel = abs.strip_prefix(root).ok()?;
        let mut bytes = Vec::with_capacity(rel.as_os_str().len() + 1);
        for part in rel.components() {
            bytes.push(b'/');
            bytes.extend_from_slice(part.as_os_str().as_bytes());
        }
        if bytes.is_empty() {
            bytes.push(b'/');
        }
        Some(SharePath(bytes))
    }

    /// Parses a folder as written in the configuration (`/`, `/reports`, `reports/2024/`).
    pub fn from_config(text: &str) -> SharePath {
        let mut bytes = Vec::new();
        for part in text.split('/').filter(|p| !p.is_empty() && *p != ".") {
            bytes.push(b'/');
            bytes.extend_from_slice(part.as_bytes());
        }
        if bytes.is_empty() {
            bytes.push(b'/');
        }
        SharePath(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// This path as a file-system path under the share folder `root`.
    pub fn on(&self, root: &Path) -> PathBuf {
        root.join(OsStr::from_bytes(
            self.0.strip_prefix(b"/").unwrap_or(&self.0),
        ))
    }

    pub fn is_root(&self) -> bool {
        self.0 == b"/"
    }

    /// The folder holding this entry (the root for a top-level entry).
    pub fn parent(&self) -> SharePath {
        match self.0.iter().rposition(|&b| b == b'/') {
            Some(0) | None => SharePath::root(),
            Some(i) => SharePath(self.0[..i].to_vec()),
        }
    }

    /// The path of entry `name` inside this folder.
    pub fn join(&self, name: &[u8]) -> SharePath {
        let mut bytes = self.0.clone();
        if !self.is_root() {
            bytes.push(b'/');
        }
        bytes.extend_from_slice(name);
        SharePath(bytes)
    }

    /// The last part of the path (empty for the root).
    pub fn name(&self) -> &[u8] {
        match self.0.iter().rposition(|&b| b == b'/') {
            Some(i) => &self.0[i + 1..],
            None => &self.0,
        }
    }

    /// The same place below `to` that `self` has below `from` (for a moved folder's content).
    pub fn rebase(&self, from: &SharePath, to: &SharePath) -> Option<SharePath> {
        if self == from {
            return Some(to.clone());
        }
        let rest = self.0.strip_prefix(from.0.as_slice())?;
        if from.is_root() {
            return Some(to.join(rest));
        }
        let rest = rest.strip_prefix(b"/")?;
        Some(to.join(rest))
    }

    /// True when `self` is `folder` or lies below it.
    pub fn is_within(&self, folder: &SharePath) -> bool {
        if folder.is_root() || self.0 == folder.0 {
            return true;
        }
        self.0.starts_with(&folder.0) && self.0.get(folder.0.len()) == Some(&b'/')
    }
}

/// Shows the path for people (logs, the terminal): bytes that are not UTF-8 appear as `\xNN`
/// and control characters escaped (see `escape_controls`), so a line is always valid text,
/// never hides what the name was, and a name can neither start a line of its own in the
/// journal nor drive a terminal.
impl fmt::Display for SharePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            f.write_str(&escape_controls(chunk.valid()))?;
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

/// Bytes as text for programs (JSON, whose encoder escapes control characters itself): UTF-8
/// as is, every other byte as `\xNN`.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// `text` with every control character (C0, DEL, C1: what a terminal or the journal acts on)
/// and every bidirectional control (which reorders what follows it on screen, so that
/// `evil\u{202e}txt.exe` reads as `evilexe.txt`) escaped: `\x0a` for those below U+0080,
/// `\u{9b}` or `\u{202e}` above, so they cannot be taken for the `\xNN` of a byte that is not
/// UTF-8.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    escape_each_control(text, |out, n| {
        if n < 0x80 {
            let _ = write!(out, "\\x{n:02x}");
        } else {
            let _ = write!(out, "\\u{{{n:x}}}");
        }
    })
}

/// Whether `c` is shown escaped to people: a control character (C0, DEL, C1) or a
/// bidirectional control (U+061C, U+200E, U+200F, U+202A to U+202E, U+2066 to U+2069).
pub fn needs_escape(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

/// The characters that change the direction of the text around them.
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
    )
}

/// `json` (JSON text) with the control characters JSON leaves raw (DEL, C1 U+0080 to U+009F,
/// and the bidirectional controls) written as `\uXXXX` escapes: the same JSON value, safe to
/// print to a terminal. serde_json already escapes C0.
pub fn json_for_terminal(json: &str) -> Cow<'_, str> {
    escape_each_control(json, |out, n| {
        let _ = write!(out, "\\u{n:04x}");
    })
}

/// `text` with each character `needs_escape` picks replaced by what `escape` writes for its
/// code point.
fn escape_each_control(text: &str, escape: impl Fn(&mut String, u32)) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            escape(&mut out, u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// One operation on one share, as committed to the queue and delivered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Unique and increasing across the whole state; assigned when the event is queued.
    pub id: u64,
    pub op: Operation,
    pub share: String,
    pub path: SharePath,
    /// The old path of a Move or Rename.
    pub source: Option<SharePath>,
    pub is_dir: bool,
    /// The owner of the entry in the system user database (the numeric uid if it has none).
    pub username: String,
    /// When the change was seen, in milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// The size in bytes of an uploaded file, when known.
    pub size: Option<u64>,
    /// The protocol the change came by, when sharehook knows it (`api`: made through the
    /// management API; `smb` from Samba's audit); `None` for a change seen on the disk with no
    /// evidence of who made it, which carries the share's `protocol` label.
    pub protocol: Option<String>,
    /// The client's address, when the evidence names it; empty when unknown.
    pub address: String,
    /// How `username`, `protocol` and `address` were found.
    pub attribution: Attribution,
}

/// Who made a change, as the evidence says: the user, the protocol, the client's address
/// (empty when unknown), and what said so.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Who {
    pub user: String,
    pub protocol: String,
    pub address: String,
    pub how: Attribution,
}

/// How the user, protocol and address of an event were found (the v2 body's `attribution`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Attribution {
    /// Nothing says who made it: the user is the file's owner, the protocol the share's label.
    #[default]
    Owner,
    /// Made through sharehook's management API, by its signed-in user.
    Api,
    /// Samba's `vfs_full_audit` record of the session that made it.
    Audit,
    /// OpenSSH's `sftp-server` log of the session that made it.
    SftpLog,
    /// The kernel's fanotify: the process that made it (its user and program).
    Process,
}

impl Attribution {
    pub fn as_str(self) -> &'static str {
        match self {
            Attribution::Owner => "owner",
            Attribution::Api => "api",
            Attribution::Audit => "audit",
            Attribution::SftpLog => "sftp-log",
            Attribution::Process => "process",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_within(root: &str, abs: &str, expected: Option<&str>) {
        let got = SharePath::within(Path::new(root), Path::new(abs));
        assert_eq!(
            got.as_ref().map(|p| p.to_string()),
            expected.map(str::to_owned),
            "{abs} in {root}"
        );
    }

    #[test]
    fn paths_are_relative_to_the_share_root() {
        check_within("/srv/public", "/srv/public/a.txt", Some("/a.txt"));
        check_within("/srv/public", "/srv/public/x/y z", Some("/x/y z"));
        check_within("/srv/public", "/srv/public", Some("/"));
        check_within("/srv/public", "/srv/publicity/a", None);
        check_within("/srv/public", "/srv/other/a", None);
        let p = SharePath::within(Path::new("/srv/public"), Path::new("/srv/public/x/y")).unwrap();
        assert_eq!(p.on(Path::new("/srv/public")), Path::new("/srv/public/x/y"));
        assert_eq!(
            SharePath::root().on(Path::new("/srv/public")),
            Path::new("/srv/public")
        );
    }

    #[test]
    fn folders_contain_themselves_and_their_subtree_only() {
        let p = |s: &str| SharePath::from_config(s);
        assert!(p("/a/b").is_within(&p("/")));
        assert!(p("/a/b").is_within(&p("/a")));
        assert!(p("/a/b").is_within(&p("a/b/")));
        assert!(p("/a").is_within(&p("/a")));
        assert!(!p("/ab").is_within(&p("/a")));
        assert!(!p("/a").is_within(&p("/a/b")));
        assert_eq!(p("/a/b").parent(), p("/a"));
        assert_eq!(p("/a").parent(), SharePath::root());
    }

    #[test]
    fn non_utf8_names_display_with_hex_escapes() {
        let p = SharePath(b"/caf\xe9.txt".to_vec());
        assert_eq!(p.to_string(), "/caf\\xe9.txt");
    }

    #[test]
    fn control_characters_display_escaped() {
        let p = SharePath(b"/a\n<0>b\x1b[2J\x7f\xc2\x9b\xc2\x85\t\xff\xc3\xa9".to_vec());
        assert_eq!(
            p.to_string(),
            "/a\\x0a<0>b\\x1b[2J\\x7f\\u{9b}\\u{85}\\x09\\xff\u{e9}"
        );
        assert_eq!(escape_controls("plain é"), Cow::Borrowed("plain é"));
        // Bidirectional controls, which make `evil<RLO>txt.exe` read as `evilexe.txt`.
        let p = SharePath(
            "/evil\u{202e}txt.exe\u{61c}\u{200e}\u{200f}\u{202a}\u{2066}\u{2069}\u{2067}"
                .as_bytes()
                .to_vec(),
        );
        assert_eq!(
            p.to_string(),
            "/evil\\u{202e}txt.exe\\u{61c}\\u{200e}\\u{200f}\\u{202a}\\u{2066}\\u{2069}\\u{2067}"
        );
        // Letters of right-to-left scripts are text, not controls.
        assert_eq!(escape_controls("שלום"), Cow::Borrowed("שלום"));
        // Programs get the exact name; their encoder escapes it.
        assert_eq!(escape_bytes(b"a\nb"), "a\nb");
    }

    #[test]
    fn triggers_round_trip() {
        for op in Operation::ALL {
            assert_eq!(Operation::from_trigger(op.trigger()), Some(op));
        }
        assert_eq!(Operation::from_trigger("Upload"), None);
    }

    #[test]
    fn json_for_a_terminal_escapes_del_and_c1_and_reads_back_the_same() {
        let value = serde_json::json!({ "path": "/a\u{7f}b\u{9b}31mc\nd\u{e9}\u{202e}" });
        let text = value.to_string();
        assert!(text.contains('\u{9b}'), "serde_json leaves C1 raw: {text}");
        let safe = json_for_terminal(&text);
        assert!(!safe.chars().any(char::is_control), "{safe}");
        assert!(
            safe.contains("\\u007f") && safe.contains("\\u009b") && safe.contains("\\u202e"),
            "{safe}"
        );
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, value);
    }
}
