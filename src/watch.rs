//! The only module that talks to `notify`: recursive inotify watches on the shares, asking the
//! kernel only for what the classifier needs, turned into `Hint`s on a bounded channel.
//!
//! The kernel is asked for creations, deletions, renames and close-after-write; never for
//! opens, reads or attribute changes, which on a busy share would flood the queue.

use std::path::{Path, PathBuf};
use std::sync::mpsc::SyncSender;

use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RemoveKind, RenameMode};
use notify::{Config, EventKind, EventKindMask, INotifyWatcher, RecursiveMode, Watcher as _};

use crate::classify::{Hint, Kind};

const MAX_WATCHES_SYSCTL: &str = "/proc/sys/fs/inotify/max_user_watches";

/// Holds the watches; dropping it stops them and closes the channel.
pub struct Watcher {
    _inner: INotifyWatcher,
}

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("cannot start watching: {0}")]
    Start(notify::Error),
    #[error("cannot watch {path}: {message}")]
    Path { path: PathBuf, message: String },
}

/// Starts recursive watches on `roots`; hints go to `tx` in the order the kernel gave them.
/// Returns once every watch that can be added is in place.
pub fn start(roots: &[PathBuf], tx: SyncSender<Hint>) -> Result<Watcher, WatchError> {
    let mask = EventKindMask::CREATE
        | EventKindMask::REMOVE
        | EventKindMask::MODIFY_NAME
        | EventKindMask::ACCESS_CLOSE;
    let handler = move |result: notify::Result<notify::Event>| match result {
        Ok(event) => {
            for hint in hints(event) {
                // The pipeline reads until it stops; a send fails only during shutdown.
                if tx.send(hint).is_err() {
                    return;
                }
            }
        }
        Err(e) => report(&e),
    };
    let mut inner = INotifyWatcher::new(handler, Config::default().with_event_kinds(mask))
        .map_err(WatchError::Start)?;
    for root in roots {
        inner
            .watch(root, RecursiveMode::Recursive)
            .map_err(|e| WatchError::Path {
                path: root.clone(),
                message: describe(&e),
            })?;
    }
    Ok(Watcher { _inner: inner })
}

/// The hints one notify event stands for.
fn hints(event: notify::Event) -> Vec<Hint> {
    if event.need_rescan() {
        log::warn!(
            "the kernel's event queue overflowed: changes made in that moment were not reported \
             (raise fs.inotify.max_queued_events)"
        );
        return Vec::new();
    }
    let tracker = event.tracker();
    let mut paths = event.paths.into_iter();
    let Some(path) = paths.next() else {
        return Vec::new();
    };
    let hint = match event.kind {
        EventKind::Create(CreateKind::Folder) => Hint::Created {
            path,
            kind: Kind::Dir,
        },
        EventKind::Create(_) => {
            let kind = kind_of(&path);
            Hint::Created { path, kind }
        }
        EventKind::Remove(RemoveKind::Folder) => Hint::Removed { path, dir: true },
        EventKind::Remove(_) => Hint::Removed { path, dir: false },
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => Hint::Written { path },
        // A tracker is the kernel's rename cookie. A From without one is a watched root that
        // moved itself (IN_MOVE_SELF), which its parent's events do not cover.
        EventKind::Modify(ModifyKind::Name(RenameMode::From)) => match tracker {
            Some(cookie) => Hint::MovedFrom {
                path,
                cookie: cookie as u32,
            },
            None => {
                log::error!(
                    "the shared folder {} was moved away; restart sharehook",
                    path.display()
                );
                return Vec::new();
            }
        },
        EventKind::Modify(ModifyKind::Name(RenameMode::To)) => match tracker {
            Some(cookie) => {
                let kind = kind_of(&path);
                Hint::MovedTo {
                    path,
                    cookie: cookie as u32,
                    kind,
                }
            }
            None => return Vec::new(),
        },
        // notify's own pairing of From and To; the classifier pairs by cookie itself.
        _ => return Vec::new(),
    };
    vec![hint]
}

fn kind_of(path: &Path) -> Kind {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Kind::Symlink,
        Ok(m) if m.is_dir() => Kind::Dir,
        Ok(_) => Kind::File,
        Err(_) => Kind::Gone,
    }
}

fn report(e: &notify::Error) {
    log::error!("{}", describe(e));
}

fn describe(e: &notify::Error) -> String {
    let paths: Vec<String> = e.paths.iter().map(|p| p.display().to_string()).collect();
    let at = if paths.is_empty() {
        String::new()
    } else {
        format!(" ({})", paths.join(", "))
    };
    match &e.kind {
        notify::ErrorKind::MaxFilesWatch => {
            let current = std::fs::read_to_string(MAX_WATCHES_SYSCTL)
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|_| "unknown".to_owned());
            format!(
                "the inotify watch limit fs.inotify.max_user_watches ({current}) is reached{at}: \
                 each watched folder needs one; raise it with the sysctl drop-in in systemd/"
            )
        }
        notify::ErrorKind::PathNotFound => format!("a watched path does not exist{at}"),
        notify::ErrorKind::Io(io) => format!("{io}{at}"),
        other => format!("{other:?}{at}"),
    }
}
