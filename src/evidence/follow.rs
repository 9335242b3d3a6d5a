//! A log file followed as it grows: read from where reading stood, through rotation (another
//! file at the path) and truncation (the file cut short, or rewritten in place), in pieces of
//! bounded size. Where reading stands (`Position`) is the caller's to keep across restarts.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

/// The most read from the log at one time (the rest is read at once after it).
pub const READ_MAX: usize = 8 << 20;
/// How many of the last bytes read are kept to tell a file rewritten in place.
const TAIL: usize = 64;

/// Where reading a log stands: the file (device and inode) and the offset reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Position {
    pub dev: u64,
    pub ino: u64,
    pub offset: u64,
}

impl Position {
    /// A log never read before: from its end (what it already holds happened before sharehook
    /// read it, and is not news).
    pub const END: Position = Position {
        dev: 0,
        ino: 0,
        offset: u64::MAX,
    };
}

/// One log file and where reading it stands.
pub struct Follow {
    pub path: PathBuf,
    pub position: Position,
    /// The last bytes read (at most `TAIL`): a file cut short and written again past where
    /// reading stood no longer holds them there.
    tail: Vec<u8>,
}

/// What happened to the file since it was last read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    /// Another file is at the path now.
    Replaced,
    /// The file was cut short (or rewritten in place).
    CutShort,
}

/// What `Follow::read_more` tells as it reads.
pub enum Step<'a> {
    /// The file is read from its start again: its reader gives up what it held for a line
    /// to come.
    Restarted(Restart),
    /// A piece read, and whether it is the last one for now.
    Piece(&'a [u8], bool),
}

impl Follow {
    pub fn new(path: PathBuf, position: Position) -> Follow {
        Follow {
            path,
            position,
            tail: Vec::new(),
        }
    }

    /// Reads what the file gained, telling `step` of each piece read (and first, when the file
    /// is read from its start again).
    pub fn read_more(&mut self, step: &mut dyn FnMut(Step<'_>)) -> std::io::Result<()> {
        let mut file = match File::open(&self.path) {
            Ok(file) => file,
            Err(e) => {
                // Not there yet: all it will hold is news.
                if self.position == Position::END && e.kind() == std::io::ErrorKind::NotFound {
                    self.position = Position::default();
                }
                return Err(e);
            }
        };
        let meta = file.metadata()?;
        if self.position == Position::END {
            self.position = Position {
                dev: meta.dev(),
                ino: meta.ino(),
                offset: meta.len(),
            };
        }
        let same = meta.dev() == self.position.dev && meta.ino() == self.position.ino;
        let rewritten =
            same && meta.len() >= self.position.offset && !self.tail_still_there(&mut file)?;
        if !same || meta.len() < self.position.offset || rewritten {
            if self.position != Position::default() {
                step(Step::Restarted(if same {
                    Restart::CutShort
                } else {
                    Restart::Replaced
                }));
            }
            self.tail.clear();
            self.position = Position {
                dev: meta.dev(),
                ino: meta.ino(),
                offset: 0,
            };
        }
        file.seek(SeekFrom::Start(self.position.offset))?;
        // In pieces of at most READ_MAX, so that a log that grew much while nothing was read
        // is read in bounded memory.
        let mut buf = Vec::new();
        loop {
            buf.clear();
            (&mut file).take(READ_MAX as u64).read_to_end(&mut buf)?;
            self.position.offset += buf.len() as u64;
            let keep_from = buf.len().saturating_sub(TAIL);
            if buf.len() >= TAIL {
                self.tail.clear();
            }
            self.tail.extend_from_slice(&buf[keep_from..]);
            let excess = self.tail.len().saturating_sub(TAIL);
            self.tail.drain(..excess);
            let done = buf.len() < READ_MAX;
            step(Step::Piece(&buf, done));
            if done {
                return Ok(());
            }
        }
    }

    /// Whether the bytes before where reading stands are still the last ones read (unknown
    /// after a restart: taken as yes).
    fn tail_still_there(&self, file: &mut File) -> std::io::Result<bool> {
        if self.tail.is_empty() {
            return Ok(true);
        }
        let start = self.position.offset - self.tail.len() as u64;
        file.seek(SeekFrom::Start(start))?;
        let mut now = vec![0; self.tail.len()];
        file.read_exact(&mut now)?;
        Ok(now == self.tail)
    }
}

/// The longest line kept: a longer one is no record (paths are at most a few KiB), and its
/// bytes are not kept.
pub const LINE_MAX: usize = 64 * 1024;

/// What a line too long to keep is given as: no record's shape.
pub const TOO_LONG: &[u8] = b"\x00too long";

/// Cuts what a log gained into lines, keeping a line not yet ended for the next piece.
#[derive(Default)]
pub struct Lines {
    partial: Vec<u8>,
}

impl Lines {
    /// Gives `line` each line that `bytes` ends (without its newline; `TOO_LONG` for one
    /// longer than `LINE_MAX`).
    pub fn feed(&mut self, bytes: &[u8], line: &mut dyn FnMut(&[u8])) {
        let mut rest = bytes;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            let piece = &rest[..end];
            rest = &rest[end + 1..];
            if self.partial.is_empty() {
                line(piece);
            } else {
                let mut whole = std::mem::take(&mut self.partial);
                if whole.len() + piece.len() <= LINE_MAX {
                    whole.extend_from_slice(piece);
                    line(&whole);
                } else {
                    line(TOO_LONG);
                }
            }
        }
        if self.partial.len() + rest.len() <= LINE_MAX {
            self.partial.extend_from_slice(rest);
        } else {
            // Kept as a marker only: the line is too long to be a record.
            self.partial = b"\x00".to_vec();
        }
    }

    /// Whether a line is begun and not ended.
    pub fn pending(&self) -> bool {
        !self.partial.is_empty()
    }

    /// The line begun is given up (the log was rotated or cut short).
    pub fn reset(&mut self) {
        self.partial.clear();
    }
}
