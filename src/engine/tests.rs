//! The engine's tests: scenarios of live events, walks and reloads on a real folder.

use super::holds::Held;
use super::rules::Change;
use super::*;
use crate::config::Share;
use crate::tree::Entry;

/// An engine watching `dir/share` (empty at first: the baseline), with no webhooks.
fn engine(dir: &Path) -> (Engine, PathBuf) {
    let share = dir.join("share");
    std::fs::create_dir(&share).unwrap();
    let share = share.canonicalize().unwrap();
    let store = Arc::new(Store::open(&dir.join("state")).unwrap());
    let mut engine = Engine::start(Setup {
        shares: vec![Share {
            name: "s".into(),
            path: share.clone(),
            protocol: "smb".into(),
            watch: WatchMode::Inotify,
            resources: crate::config::ResourceAccess::Off,
        }],
        routes: Routes::default(),
        schedule: Schedule::default(),
        watch: WatchSettings::default(),
        store,
        stop: Arc::new(AtomicBool::new(false)),
        heartbeat: Arc::new(AtomicI64::new(0)),
        stats: Arc::default(),
        attributions: Arc::new(Attributions::default()),
        evidence: None,
        attribution: Default::default(),
    })
    .unwrap();
    engine.walk_all().unwrap();
    (engine, share)
}

/// What the gate reports for `change`, committed.
fn gate(engine: &mut Engine, change: Change) -> Vec<String> {
    let store = Arc::clone(&engine.disk.store);
    let mut batch = store.batch().unwrap();
    let events = engine.gate(&mut batch, &change, 0).unwrap();
    batch.commit().unwrap();
    events
        .iter()
        .map(|e| match &e.source {
            Some(s) => format!("{} {} from {s}", e.op.v1_name(), e.path),
            None => format!("{} {}", e.op.v1_name(), e.path),
        })
        .collect()
}

/// Queues a reconcile of the whole share, not started.
fn queue_share_walk(e: &mut Engine) {
    e.walks.push_back(walk::Walk::new(
        0,
        SharePath::root(),
        walk::Why::Other,
        false,
    ));
}

fn upload(path: PathBuf) -> Change {
    Change::Upload { path, data: true }
}

#[test]
fn a_file_changed_then_moved_is_still_news_at_its_new_name() {
    let dir = tempfile::tempdir().unwrap();
    let (mut e, s) = engine(dir.path());
    std::fs::write(s.join("a"), "v1").unwrap();
    assert_eq!(gate(&mut e, upload(s.join("a"))), ["Upload /a"]);
    std::fs::write(s.join("a"), "v2, longer").unwrap();
    std::fs::rename(s.join("a"), s.join("b")).unwrap();
    let moved = Change::Moved {
        from: s.join("a"),
        to: s.join("b"),
    };
    assert_eq!(gate(&mut e, moved), ["Rename /b from /a"]);
    assert_eq!(gate(&mut e, upload(s.join("b"))), ["Upload /b"]);
    assert_eq!(gate(&mut e, upload(s.join("b"))), Vec::<String>::new());
}

#[test]
fn the_gate_announces_missing_folders_first_outermost_first() {
    let dir = tempfile::tempdir().unwrap();
    let (mut e, s) = engine(dir.path());
    std::fs::create_dir_all(s.join("x/y")).unwrap();
    std::fs::write(s.join("x/y/f"), "1").unwrap();
    assert_eq!(
        gate(&mut e, upload(s.join("x/y/f"))),
        ["Create Folder /x", "Create Folder /x/y", "Upload /x/y/f"]
    );
    std::fs::create_dir(s.join("x/z")).unwrap();
    let folder = Change::Folder {
        path: s.join("x/z"),
    };
    assert_eq!(gate(&mut e, folder), ["Create Folder /x/z"]);
}

#[test]
fn a_move_into_a_folder_gone_since_announces_that_folder_and_its_rename_follows() {
    let dir = tempfile::tempdir().unwrap();
    let (mut e, s) = engine(dir.path());
    std::fs::create_dir(s.join("k")).unwrap();
    let folder = |p: &str| Change::Folder { path: s.join(p) };
    assert_eq!(gate(&mut e, folder("k")), ["Create Folder /k"]);
    // Read late: n was made, k moved into it, n renamed to m, all before the gate ran.
    std::fs::create_dir(s.join("n")).unwrap();
    std::fs::rename(s.join("k"), s.join("n/k")).unwrap();
    std::fs::rename(s.join("n"), s.join("m")).unwrap();
    assert_eq!(gate(&mut e, folder("n")), Vec::<String>::new());
    let into = Change::Moved {
        from: s.join("k"),
        to: s.join("n/k"),
    };
    assert_eq!(
        gate(&mut e, into),
        ["Create Folder /n", "Move /n/k from /k"]
    );
    let renamed = Change::Moved {
        from: s.join("n"),
        to: s.join("m"),
    };
    assert_eq!(gate(&mut e, renamed), ["Rename /m from /n"]);
    // A stale change inside the gone folder, with nothing known moved: dropped.
    assert_eq!(gate(&mut e, upload(s.join("n/z"))), Vec::<String>::new());
    // The index is a tree again, and true: m holds k, by the disk's inode.
    let m = e
        .disk
        .store
        .entry("s", &SharePath::from_config("/m"))
        .unwrap();
    assert_eq!(m, Entry::read(&s.join("m")));
    assert!(
        e.disk
            .store
            .entry("s", &SharePath::from_config("/m/k"))
            .unwrap()
            .is_some()
    );
}

/// The Upload held at `path`, if any, and whether it was found gone.
fn upload_held(e: &Engine, path: &Path) -> Option<bool> {
    e.rules
        .holds
        .get(path)
        .filter(|h| h.what == Held::Upload)
        .map(|h| h.gone.is_some())
}

#[test]
fn an_upload_whose_file_was_renamed_before_its_commit_is_held_again_and_follows() {
    let dir = tempfile::tempdir().unwrap();
    let (mut e, s) = engine(dir.path());
    std::fs::write(s.join("a"), "v1").unwrap();
    assert_eq!(gate(&mut e, upload(s.join("a"))), ["Upload /a"]);
    // Written, its Upload released, then renamed before the commit ran.
    std::fs::write(s.join("a"), "v2, longer").unwrap();
    std::fs::rename(s.join("a"), s.join("b")).unwrap();
    assert_eq!(gate(&mut e, upload(s.join("a"))), Vec::<String>::new());
    assert_eq!(
        upload_held(&e, &s.join("a")),
        Some(true),
        "held as found gone"
    );
    // The rename, read now, carries it; once released it is news at the new name.
    e.rules
        .renamed(s.join("a"), s.join("b"), false, Instant::now(), &mut e.disk);
    assert_eq!(upload_held(&e, &s.join("a")), None);
    assert_eq!(upload_held(&e, &s.join("b")), Some(false));
    let ready = std::mem::take(&mut e.rules.ready);
    assert_eq!(ready.len(), 1, "{ready:?}");
    assert_eq!(gate(&mut e, ready[0].clone()), ["Rename /b from /a"]);
    assert_eq!(gate(&mut e, upload(s.join("b"))), ["Upload /b"]);
}

#[test]
fn an_upload_released_but_not_committed_follows_a_rename_read_before_the_commit() {
    let dir = tempfile::tempdir().unwrap();
    let (mut e, s) = engine(dir.path());
    std::fs::create_dir(s.join("d")).unwrap();
    std::fs::write(s.join("d/a"), "v1").unwrap();
    assert_eq!(
        gate(&mut e, upload(s.join("d/a"))),
        ["Create Folder /d", "Upload /d/a"]
    );
    std::fs::write(s.join("d/a"), "v2, longer").unwrap();
    e.rules.ready.push(upload(s.join("d/a")));
    std::fs::rename(s.join("d"), s.join("e")).unwrap();
    e.rules
        .renamed(s.join("d"), s.join("e"), true, Instant::now(), &mut e.disk);
    let ready = std::mem::take(&mut e.rules.ready);
    assert_eq!(
        ready,
        [Change::Moved {
            from: s.join("d"),
            to: s.join("e")
        }],
        "the Upload left the commit for a hold at the new name"
    );
    assert_eq!(upload_held(&e, &s.join("e/a")), Some(false));
    assert_eq!(gate(&mut e, ready[0].clone()), ["Rename /e from /d"]);
    assert_eq!(gate(&mut e, upload(s.join("e/a"))), ["Upload /e/a"]);
}

#[test]
fn a_new_folder_released_but_not_committed_follows_a_rename_of_a_folder_above() {
    let dir = tempfile::tempdir().unwrap();
    let (mut e, s) = engine(dir.path());
    std::fs::create_dir(s.join("d")).unwrap();
    let folder = |p: &Path| Change::Folder { path: p.to_owned() };
    assert_eq!(gate(&mut e, folder(&s.join("d"))), ["Create Folder /d"]);
    std::fs::create_dir(s.join("d/new")).unwrap();
    e.rules.ready.push(folder(&s.join("d/new")));
    std::fs::rename(s.join("d"), s.join("e")).unwrap();
    e.rules
        .renamed(s.join("d"), s.join("e"), true, Instant::now(), &mut e.disk);
    let ready = std::mem::take(&mut e.rules.ready);
    assert_eq!(
        ready.len(),
        1,
        "only the Rename is left to commit: {ready:?}"
    );
    assert!(matches!(
        e.rules.holds.held(&s.join("e/new")),
        Some(Held::Folder { .. })
    ));
    assert_eq!(gate(&mut e, ready[0].clone()), ["Rename /e from /d"]);
    assert_eq!(
        gate(&mut e, folder(&s.join("e/new"))),
        ["Create Folder /e/new"]
    );
}

#[test]
fn a_new_folder_gone_at_its_commit_is_looked_for_where_a_rename_above_took_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut e, s) = engine(dir.path());
    std::fs::create_dir(s.join("d")).unwrap();
    let folder = |p: &Path| Change::Folder { path: p.to_owned() };
    assert_eq!(gate(&mut e, folder(&s.join("d"))), ["Create Folder /d"]);
    // Made, released, and its folder renamed before the commit ran.
    std::fs::create_dir(s.join("d/new")).unwrap();
    std::fs::rename(s.join("d"), s.join("e")).unwrap();
    assert_eq!(gate(&mut e, folder(&s.join("d/new"))), Vec::<String>::new());
    e.rules
        .renamed(s.join("d"), s.join("e"), true, Instant::now(), &mut e.disk);
    assert!(
        e.rules.rescan_folders.contains(&s.join("e")),
        "the folder it was in is read again at its new place: {:?}",
        e.rules.rescan_folders
    );
}

#[test]
fn a_folder_never_read_keeps_its_mark_when_its_rename_outruns_the_bookkeeping() {
    let dir = tempfile::tempdir().unwrap();
    let (mut e, s) = engine(dir.path());
    std::fs::create_dir(s.join("one")).unwrap();
    let folder = |p: &Path| Change::Folder { path: p.to_owned() };
    assert_eq!(gate(&mut e, folder(&s.join("one"))), ["Create Folder /one"]);
    // As the first start leaves a folder it could not read: marked in the index, its
    // entries unknown. The retry that ran between the rename and its kernel event found
    // the old path gone and forgot it, so only the index still says so.
    let (si, one) = e.disk.share_of(&s.join("one")).unwrap();
    let store = Arc::clone(&e.disk.store);
    let mut batch = store.batch().unwrap();
    let marked = batch.entry("s", &one).unwrap().unwrap().unread();
    batch.put("s", &one, &marked).unwrap();
    batch.commit().unwrap();
    std::fs::create_dir(s.join("one/inner")).unwrap();
    std::fs::write(s.join("one/s.dat"), "s").unwrap();
    std::fs::write(s.join("one/inner/t.dat"), "t").unwrap();
    std::fs::rename(s.join("one"), s.join("renamed")).unwrap();
    let moved = Change::Moved {
        from: s.join("one"),
        to: s.join("renamed"),
    };
    assert_eq!(gate(&mut e, moved), ["Rename /renamed from /one"]);
    let (_, renamed) = e.disk.share_of(&s.join("renamed")).unwrap();
    e.reconcile(si, &renamed).unwrap();
    assert!(e.rules.ready.is_empty(), "{:?}", e.rules.ready);
    assert_eq!(e.rules.holds.len(), 0, "nothing held either");
    let known = store.children("s", &renamed).unwrap();
    assert_eq!(known.len(), 2, "indexed silently: {known:?}");
    assert!(!store.entry("s", &renamed).unwrap().unwrap().is_unread());
    // What is new in it from now on is news.
    std::fs::write(s.join("renamed/new.dat"), "n").unwrap();
    assert_eq!(
        gate(&mut e, upload(s.join("renamed/new.dat"))),
        ["Upload /renamed/new.dat"]
    );
}

#[test]
fn a_walk_follows_a_folder_renamed_between_its_slices() {
    let dir = tempfile::tempdir().unwrap();
    let (mut e, s) = engine(dir.path());
    std::fs::create_dir(s.join("d")).unwrap();
    std::fs::write(s.join("d/f"), "1").unwrap();
    let folder = Change::Folder { path: s.join("d") };
    assert_eq!(gate(&mut e, folder), ["Create Folder /d"]);
    assert_eq!(gate(&mut e, upload(s.join("d/f"))), ["Upload /d/f"]);
    // Made while nobody looked: only the walk can find it.
    std::fs::write(s.join("d/g"), "2").unwrap();
    queue_share_walk(&mut e);
    // The top is taken, where `d` is as the index has it.
    take_folders(&mut e, 1);
    std::fs::rename(s.join("d"), s.join("e")).unwrap();
    e.rules
        .renamed(s.join("d"), s.join("e"), true, Instant::now(), &mut e.disk);
    e.walk_all().unwrap();
    assert_eq!(
        e.rules.holds.held(&s.join("e/g")),
        Some(Held::Upload),
        "the walk read the folder where it is now"
    );
    assert!(e.rules.holds.held(&s.join("d/g")).is_none());
}

#[test]
fn differences_found_before_a_live_event_handled_them_are_not_reported_again() {
    let dir = tempfile::tempdir().unwrap();
    let (mut e, s) = engine(dir.path());
    std::fs::create_dir(s.join("d")).unwrap();
    std::fs::write(s.join("d/f"), "1").unwrap();
    let folder = Change::Folder { path: s.join("d") };
    assert_eq!(gate(&mut e, folder), ["Create Folder /d"]);
    assert_eq!(gate(&mut e, upload(s.join("d/f"))), ["Upload /d/f"]);
    // A folder below, so that the walk is not over once it has read /d.
    std::fs::create_dir(s.join("d/z")).unwrap();
    let folder = Change::Folder {
        path: s.join("d/z"),
    };
    assert_eq!(gate(&mut e, folder), ["Create Folder /d/z"]);
    std::fs::remove_file(s.join("d/f")).unwrap();
    queue_share_walk(&mut e);
    // The top, then /d; /d/z is left to read.
    take_folders(&mut e, 2);
    // The walk found /d/f gone; before it ends, the file is made again and reported live.
    std::fs::write(s.join("d/f"), "again").unwrap();
    assert_eq!(gate(&mut e, upload(s.join("d/f"))), ["Upload /d/f"]);
    e.walk_all().unwrap();
    assert!(
        !e.rules
            .ready
            .iter()
            .any(|c| matches!(c, Change::Delete { .. })),
        "{:?}",
        e.rules.ready
    );
    assert!(e.rules.holds.held(&s.join("d/f")).is_none());
}

#[test]
fn a_folder_deleted_while_stopped_and_replaced_by_a_file_during_the_walk_is_deleted_then_new() {
    let dir = tempfile::tempdir().unwrap();
    let (mut e, s) = engine(dir.path());
    for d in ["d", "z"] {
        std::fs::create_dir(s.join(d)).unwrap();
        let folder = Change::Folder { path: s.join(d) };
        assert_eq!(gate(&mut e, folder), [format!("Create Folder /{d}")]);
    }
    std::fs::remove_dir(s.join("d")).unwrap();
    queue_share_walk(&mut e);
    // The top is read without /d (found gone); /z is left to read.
    take_folders(&mut e, 1);
    // A file now (a folder made again could get the old inode back, and be the same).
    std::fs::write(s.join("d"), "a file now").unwrap();
    e.walk_all().unwrap();
    assert!(
        e.rules
            .ready
            .contains(&Change::Delete { path: s.join("d") }),
        "{:?}",
        e.rules.ready
    );
    assert_eq!(e.rules.holds.held(&s.join("d")), Some(Held::Upload));
}

/// Steps the front walk, in slices with no time, until it has taken `n` more folders (a slice
/// with no time takes at most one; one read ahead may not be there yet).
fn take_folders(e: &mut Engine, n: u64) {
    let target = e.walks.front().expect("a walk is queued").taken + n;
    let deadline = Instant::now() + Duration::from_secs(10);
    while e.walks.front().expect("the walk goes on").taken < target {
        assert!(e.step_walks(Duration::ZERO).unwrap(), "the walk goes on");
        assert!(Instant::now() < deadline, "the walk takes no folder");
    }
}

/// The kernel's events so far, up to a marker folder made and removed at the share's top: the
/// kernel queues events in order, so whatever came before the marker's removal is in. (Waiting
/// for a quiet moment instead misses events when the reader thread is slow.)
fn events_so_far(e: &Engine, s: &Path) -> Vec<crate::watch::Raw> {
    std::fs::create_dir(s.join(".marker")).unwrap();
    std::fs::remove_dir(s.join(".marker")).unwrap();
    let rx = &e.disk.kernel.as_ref().unwrap().rx;
    let mut out = Vec::new();
    loop {
        let raw = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the marker's events");
        if let crate::watch::Raw::Event {
            mask,
            name: Some(name),
            ..
        } = &raw
            && name == ".marker"
        {
            if mask.contains(crate::watch::Mask::DELETE) {
                return out;
            }
            continue;
        }
        out.push(raw);
    }
}

#[test]
fn a_file_made_in_a_folder_read_ahead_before_the_walk_takes_it_is_found_by_its_events() {
    let dir = tempfile::tempdir().unwrap();
    let (mut e, s) = engine(dir.path());
    std::fs::create_dir(s.join("d")).unwrap();
    let folder = Change::Folder { path: s.join("d") };
    assert_eq!(gate(&mut e, folder), ["Create Folder /d"]);
    // As if /d was there before the start: not watched, its making not told.
    events_so_far(&e, &s);
    queue_share_walk(&mut e);
    take_folders(&mut e, 1);
    // The threads have watched and read /d; the walk has not taken it yet.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !e.walks.front().expect("the walk goes on").read_ahead() {
        assert!(Instant::now() < deadline, "the folders are not read ahead");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::fs::write(s.join("d/new"), "made after /d was read").unwrap();
    // Its events come from a watch the engine does not know yet.
    assert!(!e.disk.kernel.as_ref().unwrap().set.contains(&s.join("d")));
    let mut events = 0;
    for raw in events_so_far(&e, &s) {
        e.on_raw(raw, Instant::now());
        events += 1;
    }
    assert!(events > 0, "the kernel told of /d/new");
    assert!(e.rules.holds.held(&s.join("d/new")).is_none());
    e.walk_all().unwrap();
    assert_eq!(
        e.rules.holds.held(&s.join("d/new")),
        Some(Held::Upload),
        "what /d's read missed, its kept events told"
    );
}

#[test]
fn a_pause_during_a_walk_read_ahead_leaves_no_watch_the_engine_does_not_know() {
    let dir = tempfile::tempdir().unwrap();
    let (mut e, s) = engine(dir.path());
    for d in ["a", "a/b", "c"] {
        std::fs::create_dir(s.join(d)).unwrap();
        let folder = Change::Folder { path: s.join(d) };
        assert_eq!(gate(&mut e, folder), [format!("Create Folder /{d}")]);
    }
    events_so_far(&e, &s);
    queue_share_walk(&mut e);
    take_folders(&mut e, 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !e.walks.front().expect("the walk goes on").read_ahead() {
        assert!(Instant::now() < deadline, "the folders are not read ahead");
        std::thread::sleep(Duration::from_millis(5));
    }
    let set = &e.disk.kernel.as_ref().unwrap().set;
    assert_eq!(
        set.kernel_watches(),
        4,
        "the top and the three folders read ahead"
    );
    assert_eq!(set.len(), 1, "only the top is taken");
    e.pause();
    assert!(
        e.walks.is_empty(),
        "a walk other than the start's gives way"
    );
    let set = &e.disk.kernel.as_ref().unwrap().set;
    assert_eq!(set.kernel_watches(), set.len());
}

#[test]
fn paths_in_debug_lines_are_escaped() {
    use std::os::unix::ffi::OsStrExt;
    let path = Path::new(std::ffi::OsStr::from_bytes(b"/srv/a\nb\x1b[2J\xff.txt"));
    assert_eq!(super::shown(path), "/srv/a\\x0ab\\x1b[2J\\xff.txt");
    assert_eq!(
        super::kind_of(crate::watch::Mask::MOVED_TO | crate::watch::Mask::ISDIR),
        "move in"
    );
}
