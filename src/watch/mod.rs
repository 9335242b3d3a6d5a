//! The only module that talks to inotify: one watch per folder, chosen by the engine (so an
//! ignored folder costs none), and a reader thread that hands the kernel's events over as
//! they are, in order.
//!
//! The kernel is asked for creations, deletions, renames, data writes and close-after-write;
//! never for opens, reads or attribute changes, which on a busy share would flood the queue.
//!
//! Layer 2: uses `core` (see `lib.rs`).

use std::ffi::OsString;
use std::io;
use std::os::fd::AsRawFd;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use inotify::{EventMask, Inotify};

pub use inotify::EventMask as Mask;
pub use inotify::Watches;
pub use set::{WatchSet, add_watch};

mod set;

/// Kernel events waiting for the engine; when full, the reader waits (and the kernel's own
/// queue takes the overflow, which the engine then repairs with a rescan).
const CHANNEL: usize = 64 * 1024;

const USER_WATCHES: &str = "/proc/sys/fs/inotify/max_user_watches";
/// The same limit as seen inside a user namespace (containers), which may be lower.
const NS_WATCHES: &str = "/proc/sys/user/max_inotify_watches";

/// One event as the kernel gave it.
#[derive(Debug)]
pub enum Raw {
    Event {
        wd: i32,
        mask: EventMask,
        cookie: u32,
        name: Option<OsString>,
    },
    /// The kernel's queue overflowed: events were lost.
    Overflow,
}

/// The reader thread; dropping it stops the thread.
pub struct Reader {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts inotify: the set of watches (for the engine), the events, and the reader thread.
pub fn start() -> io::Result<(WatchSet, Receiver<Raw>, Reader)> {
    let inotify = Inotify::init()?;
    let set = WatchSet::new(inotify.watches(), inotify.as_raw_fd());
    let (tx, rx) = sync_channel(CHANNEL);
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let stop = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("inotify".into())
            .spawn(move || read(inotify, &tx, &stop))?
    };
    Ok((
        set,
        rx,
        Reader {
            stop,
            thread: Some(thread),
        },
    ))
}

fn read(mut inotify: Inotify, tx: &SyncSender<Raw>, stop: &AtomicBool) {
    let mut buffer = vec![0u8; 64 * 1024];
    let fd = inotify.as_raw_fd();
    while !stop.load(Ordering::SeqCst) {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, for the inotify descriptor this thread owns.
        let ready = unsafe { libc::poll(&mut pfd, 1, 250) };
        if ready <= 0 {
            continue;
        }
        let events = match inotify.read_events(&mut buffer) {
            Ok(events) => events,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => {
                log::error!("cannot read file-system events: {e}");
                std::thread::sleep(std::time::Duration::from_secs(1));
                continue;
            }
        };
        for event in events {
            let raw = if event.mask.contains(EventMask::Q_OVERFLOW) {
                Raw::Overflow
            } else {
                Raw::Event {
                    wd: event.wd.get_watch_descriptor_id(),
                    mask: event.mask,
                    cookie: event.cookie,
                    name: event.name.map(ToOwned::to_owned),
                }
            };
            if tx.send(raw).is_err() {
                return;
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AddError {
    /// `fs.inotify.max_user_watches` is reached.
    #[error("the inotify watch limit is reached")]
    Limit,
    #[error("{0}")]
    Io(io::Error),
}

/// The watch limit in effect: the lower of the system's and the user namespace's.
pub fn watch_limit() -> Option<u64> {
    [USER_WATCHES, NS_WATCHES]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok()?.trim().parse::<u64>().ok())
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn next(rx: &Receiver<Raw>) -> (i32, EventMask, Option<String>) {
        match rx.recv_timeout(Duration::from_secs(5)).expect("an event") {
            Raw::Event { wd, mask, name, .. } => {
                (wd, mask, name.map(|n| n.to_string_lossy().into_owned()))
            }
            Raw::Overflow => panic!("unexpected overflow"),
        }
    }

    #[test]
    fn a_moved_folder_keeps_its_watch_under_the_new_path() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        std::fs::create_dir(&a).unwrap();
        let (mut set, rx, _reader) = start().unwrap();
        set.add(dir.path(), true).unwrap();
        set.add(&a, false).unwrap();
        assert_eq!(set.len(), 2);
        let b = dir.path().join("b");
        std::fs::rename(&a, &b).unwrap();
        let (_, m1, n1) = next(&rx);
        let (_, m2, n2) = next(&rx);
        assert!(m1.contains(EventMask::MOVED_FROM) && n1.as_deref() == Some("a"));
        assert!(m2.contains(EventMask::MOVED_TO) && n2.as_deref() == Some("b"));
        set.move_tree(&a, &b);
        std::fs::write(b.join("x"), "1").unwrap();
        let (wd, m, n) = next(&rx);
        assert!(m.contains(EventMask::CREATE));
        assert_eq!(set.path(wd), Some(b.clone()));
        assert_eq!(n.as_deref(), Some("x"));
        set.remove_tree(&b);
        assert_eq!(set.len(), 1);
        assert!(!set.contains(&b));
    }
}
