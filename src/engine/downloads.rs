//! Downloads: reads of files that people made, as the file servers' records tell of them (a
//! Samba session that read a file and closed it, an SFTP session that closed a file after
//! reading it) or as the API gave them out. Nothing changed on the disk, so nothing goes
//! through the index: a read becomes a Download event when the rules here agree, and is
//! queued with the next batch of changes.
//!
//! Not a download: a file the watch's ignore patterns leave out (`Thumbs.db`, `._*`,
//! `.DS_Store`...), a read by a user of `download_ignore_users` (backups, antivirus), a read
//! of less than the whole file and less than `download_min_bytes` (where the log says how
//! much was read), a file no longer there, and the same user reading the same file again
//! within `download_window`.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::Engine;
use crate::config::AttributionSettings;
use crate::core::event::{Event, Operation, SharePath, Who};
use crate::tree;

/// The most reads waiting to be reported; past it, the oldest are dropped.
const MAX_PENDING: usize = 20_000;
/// The most (file, user) pairs remembered for `download_window`; past it, the oldest go.
const MAX_REMEMBERED: usize = 50_000;
/// A read of a file whose change is still held (an Upload waiting for its quiet time) waits
/// for that change to be reported first, this long at most.
const WAIT_FOR_CHANGE: Duration = Duration::from_secs(60);

/// Where a read was made.
#[derive(Clone, Debug)]
pub(super) enum Place {
    /// An absolute path, as a file server's log gives it.
    Path(PathBuf),
    /// A share and a path in it, as the API gives it.
    Share(String, SharePath),
}

/// A read waiting to be reported.
#[derive(Clone, Debug)]
pub(super) struct Pending {
    pub place: Place,
    pub who: Who,
    /// How many bytes were read, when known.
    pub bytes: Option<u64>,
    /// When sharehook learnt of it.
    pub since: Instant,
}

/// The reads waiting, and who read what lately.
pub(super) struct Downloads {
    pub settings: AttributionSettings,
    pub pending: VecDeque<Pending>,
    /// When each user last downloaded each file: (share, path, user).
    recent: HashMap<(String, SharePath, String), Instant>,
    recent_order: VecDeque<(Instant, (String, SharePath, String))>,
}

impl Downloads {
    pub fn new(settings: AttributionSettings) -> Downloads {
        Downloads {
            settings,
            pending: VecDeque::new(),
            recent: HashMap::new(),
            recent_order: VecDeque::new(),
        }
    }

    pub fn push(&mut self, read: Pending) {
        if self.pending.len() >= MAX_PENDING {
            self.pending.pop_front();
        }
        self.pending.push_back(read);
    }

    /// Whether `user` downloaded `path` of `share` within the window; remembers this one.
    fn again(&mut self, share: &str, path: &SharePath, user: &str, now: Instant) -> bool {
        let window = self.settings.download_window;
        while self
            .recent_order
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) >= window)
            || self.recent_order.len() > MAX_REMEMBERED
        {
            let (t, key) = self.recent_order.pop_front().expect("not empty");
            if self.recent.get(&key) == Some(&t) {
                self.recent.remove(&key);
            }
        }
        let key = (share.to_owned(), path.clone(), user.to_owned());
        let again = self
            .recent
            .get(&key)
            .is_some_and(|t| now.duration_since(*t) < window);
        if !again {
            self.recent.insert(key.clone(), now);
            self.recent_order.push_back((now, key));
        }
        again
    }
}

impl Engine {
    /// Takes the reads the file servers' logs and the API told of since the last call.
    pub(super) fn collect_reads(&mut self) {
        let since = Instant::now();
        if let Some(evidence) = &self.evidence {
            evidence.catch_up();
            for read in evidence.reads() {
                self.downloads.push(Pending {
                    place: Place::Path(read.path),
                    who: read.who,
                    bytes: read.bytes,
                    since,
                });
            }
        }
        for (share, path, who) in self.attributions.take_downloads() {
            self.downloads.push(Pending {
                place: Place::Share(share, path),
                who,
                bytes: None,
                since,
            });
        }
    }

    /// Whether `read` waits: its file has a change held (written and not yet reported), which
    /// goes out first.
    pub(super) fn read_waits(&self, read: &Pending, now: Instant) -> bool {
        if now.duration_since(read.since) >= WAIT_FOR_CHANGE {
            return false;
        }
        let abs = match &read.place {
            Place::Path(abs) => abs.clone(),
            Place::Share(name, sp) => {
                match self.disk.shares.iter().find(|s| s.share.name == *name) {
                    Some(s) => sp.on(&s.share.path),
                    None => return false,
                }
            }
        };
        self.rules.holds.get(&abs).is_some() || self.rules.ready.iter().any(|c| c.path() == abs)
    }

    /// Whether a read is ready to be reported now.
    pub(super) fn reads_ready(&self, now: Instant) -> bool {
        self.downloads
            .pending
            .iter()
            .any(|r| !self.read_waits(r, now))
    }

    /// The Download event of `read`, when the rules say it is one.
    pub(super) fn download(&mut self, read: Pending, now_ms: i64) -> Option<Event> {
        let (si, sp) = match &read.place {
            Place::Path(abs) => self.disk.locate(abs)?,
            Place::Share(name, sp) => {
                let si = self
                    .disk
                    .shares
                    .iter()
                    .position(|s| s.share.name == *name)?;
                (si, sp.clone())
            }
        };
        let abs = sp.on(&self.disk.shares[si].share.path);
        let share = self.disk.shares[si].share.name.clone();
        let user = &read.who.user;
        if self.downloads.settings.download_ignore_users.contains(user) {
            why!(
                "share {share}: {sp}: read by {user}: not a download ([attribution] download_ignore_users)"
            );
            return None;
        }
        let entry = match tree::lstat(&abs) {
            Ok(Some(entry)) => entry,
            _ => {
                why!("share {share}: {sp}: read by {user}: not a download: it is gone");
                return None;
            }
        };
        let is_dir = entry.is_dir();
        if self.disk.settings.ignore.path(sp.as_bytes(), is_dir) {
            why!("share {share}: {sp}: read by {user}: not a download ([watch] ignore)");
            return None;
        }
        if is_dir && matches!(read.place, Place::Path(_)) {
            return None;
        }
        if let Some(bytes) = read.bytes
            && bytes < entry.size.min(self.downloads.settings.download_min_bytes)
        {
            why!(
                "share {share}: {sp}: read by {user}: not a download: {bytes} of {} bytes read \
                 ([attribution] download_min_bytes = {})",
                entry.size,
                self.downloads.settings.download_min_bytes
            );
            return None;
        }
        if self.downloads.again(&share, &sp, user, Instant::now()) {
            why!(
                "share {share}: {sp}: read by {user} again: not a download ([attribution] download_window)"
            );
            return None;
        }
        Some(Event {
            id: 0,
            op: Operation::Download,
            share,
            path: sp,
            source: None,
            is_dir,
            username: read.who.user,
            time_ms: now_ms,
            size: (!is_dir).then_some(entry.size),
            protocol: Some(read.who.protocol),
            address: read.who.address,
            attribution: read.who.how,
        })
    }
}
