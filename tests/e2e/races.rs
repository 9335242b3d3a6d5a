//! The engine late behind the disk: changes and renames that cross, folders renamed before
//! their creation is read, bursts and kernel queue overflows with folder renames. The daemon
//! is stopped with SIGSTOP while the disk changes, so that it reads kernel events long after
//! the disk moved on: deterministic, with no luck needed. What a receiver gets is replayed
//! and compared with the disk.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::*;

const FAST: &str = "0, 0.5, 0.5, 0.5";

/// What a receiver knows after replaying the operations it got, in order, and every
/// operation that made no sense when it came (a path inside a folder never announced, a move
/// or delete of something never announced).
#[derive(Default)]
struct Replay {
    /// Path → whether it is a folder.
    tree: BTreeMap<String, bool>,
    faults: Vec<String>,
}

impl Replay {
    fn of(got: &[(String, String, String)]) -> Replay {
        let mut r = Replay::default();
        for (i, op) in got.iter().enumerate() {
            r.apply(i, op);
        }
        r
    }

    fn below(&self, path: &str) -> Vec<String> {
        let prefix = format!("{path}/");
        let mut out: Vec<String> = self
            .tree
            .get_key_value(path)
            .map(|(k, _)| k.clone())
            .into_iter()
            .collect();
        out.extend(
            self.tree
                .range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&prefix))
                .map(|(k, _)| k.clone()),
        );
        out
    }

    fn check_parent(&mut self, i: usize, op: &str, path: &str) {
        let parent = Path::new(path).parent().unwrap().to_str().unwrap();
        if parent != "/" && self.tree.get(parent) != Some(&true) {
            self.faults.push(format!(
                "#{i} {op} {path}: its folder {parent} was never announced"
            ));
        }
    }

    fn apply(&mut self, i: usize, (op, path, source): &(String, String, String)) {
        match op.as_str() {
            "Upload" | "Create Folder" => {
                self.check_parent(i, op, path);
                for p in self.below(path) {
                    self.tree.remove(&p);
                }
                self.tree.insert(path.clone(), op == "Create Folder");
            }
            "Delete" => {
                let gone = self.below(path);
                if gone.is_empty() {
                    self.faults
                        .push(format!("#{i} Delete {path}: never announced"));
                }
                for p in gone {
                    self.tree.remove(&p);
                }
            }
            "Move" | "Rename" => {
                self.check_parent(i, op, path);
                let moved = self.below(source);
                if moved.is_empty() {
                    self.faults.push(format!(
                        "#{i} {op} {path} from {source}: source never announced"
                    ));
                }
                let kinds: Vec<(String, bool)> = moved
                    .iter()
                    .map(|p| (p.clone(), self.tree.remove(p).unwrap()))
                    .collect();
                for p in self.below(path) {
                    self.tree.remove(&p);
                }
                for (p, dir) in kinds {
                    self.tree
                        .insert(format!("{path}{}", &p[source.len()..]), dir);
                }
            }
            other => self.faults.push(format!("#{i} unknown operation {other}")),
        }
    }
}

/// Every entry below `root` (share paths, `/`-rooted) → whether it is a folder.
fn disk_tree(root: &Path) -> BTreeMap<String, bool> {
    let mut out = BTreeMap::new();
    let mut folders = vec![root.to_owned()];
    while let Some(dir) = folders.pop() {
        for item in std::fs::read_dir(&dir).unwrap() {
            let item = item.unwrap();
            let path = item.path();
            let is_dir = item.file_type().unwrap().is_dir();
            let rel = format!("/{}", path.strip_prefix(root).unwrap().to_str().unwrap());
            out.insert(rel, is_dir);
            if is_dir {
                folders.push(path);
            }
        }
    }
    out
}

/// A summary of how the replayed tree differs from the disk, empty when it does not.
fn differences(replay: &Replay, disk: &BTreeMap<String, bool>) -> String {
    let missing: Vec<&String> = disk
        .iter()
        .filter(|(p, d)| replay.tree.get(*p) != Some(*d))
        .map(|(p, _)| p)
        .collect();
    let extra: Vec<&String> = replay
        .tree
        .iter()
        .filter(|(p, d)| disk.get(*p) != Some(*d))
        .map(|(p, _)| p)
        .collect();
    if missing.is_empty() && extra.is_empty() && replay.faults.is_empty() {
        return String::new();
    }
    let first = |v: &[&String]| {
        v.iter()
            .take(12)
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!(
        "{} on disk but not announced ({}); {} announced but not on disk ({}); {} faults: {}",
        missing.len(),
        first(&missing),
        extra.len(),
        first(&extra),
        replay.faults.len(),
        replay
            .faults
            .iter()
            .take(12)
            .cloned()
            .collect::<Vec<_>>()
            .join("; ")
    )
}

/// Waits until the replay of what `receiver` got equals the disk below `share`, then for a
/// quiet second in which nothing more arrives, and checks again; panics with the differences
/// after `within`. Returns what was received.
fn replay_matches_disk(
    receiver: &Receiver,
    share: &Path,
    within: Duration,
) -> Vec<(String, String, String)> {
    let deadline = Instant::now() + scaled(within);
    let mut last = String::new();
    loop {
        let got = ops(&receiver.received());
        let diff = differences(&Replay::of(&got), &disk_tree(share));
        if diff.is_empty() {
            let count = got.len();
            std::thread::sleep(Duration::from_secs(1));
            let got = ops(&receiver.received());
            if got.len() == count {
                return got;
            }
            continue;
        }
        if diff != last {
            last = diff;
        }
        if Instant::now() >= deadline {
            // The events about the top folder of the first path at fault, to diagnose.
            let top = last
                .split(['(', ' ', '#'])
                .find_map(|w| w.strip_prefix('/'))
                .and_then(|p| p.split('/').next())
                .map(|t| format!("/{t}"))
                .unwrap_or_default();
            let about: Vec<&(String, String, String)> = got
                .iter()
                .filter(|(_, p, s)| !top.is_empty() && (p.starts_with(&top) || s.starts_with(&top)))
                .take(40)
                .collect();
            panic!(
                "after {within:?} the replayed events do not match the disk: {last}\n\
                 events about {top}: {about:?}"
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// No file was uploaded twice (each was written once).
fn assert_uploaded_once(got: &[(String, String, String)]) {
    let mut count: HashMap<&str, usize> = HashMap::new();
    for (op, path, _) in got {
        if op == "Upload" {
            *count.entry(path).or_default() += 1;
        }
    }
    let twice: Vec<&&str> = count
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(p, _)| p)
        .collect();
    assert!(twice.is_empty(), "uploaded more than once: {twice:?}");
}

#[test]
fn a_file_written_then_renamed_or_moved_is_renamed_then_uploaded() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config(&receiver.url(), FAST);
    let daemon = nas.start();
    let share = nas.share();
    let mut s = Scenarios::new(&receiver, &share);
    sh(&share, "echo v1 > a.txt; echo v1 > c.txt; mkdir sub");
    assert_eq!(s.next().len(), 3);

    // Log rotation: appended to, then renamed within the quiet period.
    sh(&share, "echo v2 >> a.txt; sleep 0.1; mv a.txt b.txt");
    assert_eq!(
        s.next(),
        expect(&[("Rename", "/b.txt", "/a.txt"), ("Upload", "/b.txt", "")])
    );
    sh(&share, "echo v2 >> c.txt; sleep 0.1; mv c.txt sub/c.txt");
    assert_eq!(
        s.next(),
        expect(&[
            ("Move", "/sub/c.txt", "/c.txt"),
            ("Upload", "/sub/c.txt", "")
        ])
    );
    // Renamed without a change: the rename only.
    sh(&share, "mv b.txt d.txt");
    assert_eq!(s.next(), expect(&[("Rename", "/d.txt", "/b.txt")]));
    assert!(daemon.stop().success());
}

#[test]
fn a_file_written_then_renamed_is_uploaded_after_a_restart_too() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    // A long quiet period: the daemon is stopped after the rename, before the Upload is due.
    nas.write_config_with(&receiver.url(), FAST, "", "settle_ms = 3000");
    let daemon = nas.start();
    let share = nas.share();
    sh(&share, "echo v1 > a.txt; echo v1 > c.txt; mkdir sub");
    wait_for("the first three events", || {
        (receiver.received().len() >= 3).then_some(())
    });

    sh(
        &share,
        "echo v2 >> a.txt; echo v2 >> c.txt; sleep 0.1; mv a.txt b.txt; mv c.txt sub/c.txt",
    );
    wait_for("the Rename and the Move", || {
        (receiver.received().len() >= 5).then_some(())
    });
    assert!(daemon.stop().success());
    let got = ops(&receiver.received());
    assert_eq!(
        got[3..],
        expect(&[
            ("Rename", "/b.txt", "/a.txt"),
            ("Move", "/sub/c.txt", "/c.txt")
        ])[..],
        "the Uploads were not due yet"
    );

    let daemon = nas.start();
    daemon.wait_log("changes made while sharehook was stopped", 1);
    let got = wait_for("the two Uploads after the restart", || {
        let got = ops(&receiver.received());
        (got.len() >= 7).then_some(got)
    });
    let mut uploads = got[5..].to_vec();
    uploads.sort();
    assert_eq!(
        uploads,
        expect(&[("Upload", "/b.txt", ""), ("Upload", "/sub/c.txt", "")])
    );
    assert!(daemon.stop().success());
}

#[test]
fn folders_renamed_before_the_engine_reads_them_are_reported_with_what_they_hold() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config(&receiver.url(), FAST);
    let daemon = nas.start();
    let share = nas.share();
    sh(&share, "mkdir known");
    replay_matches_disk(&receiver, &share, Duration::from_secs(20));

    daemon.signal(libc::SIGSTOP);
    // 20 folders of 20 files; half renamed, a quarter deleted (renamed ones among them); a
    // new tree moved into a known folder; a folder made, filled, renamed twice.
    sh(
        &share,
        "i=0; while [ $i -lt 20 ]; do mkdir d$i; j=0; while [ $j -lt 20 ]; do echo $i.$j > d$i/f$j; \
         j=$((j+1)); done; i=$((i+1)); done; \
         i=0; while [ $i -lt 20 ]; do mv d$i e$i; i=$((i+2)); done; \
         rm -rf d1 d5 e4 e8 d13; \
         mkdir -p n/s; echo n > n/f; echo s > n/s/g; mv n known/n; \
         mkdir t; echo t > t/f; mv t u; mv u v",
    );
    daemon.signal(libc::SIGCONT);
    let got = replay_matches_disk(&receiver, &share, Duration::from_secs(20));
    assert_uploaded_once(&got);
    assert!(
        !daemon.log().contains("overflowed"),
        "no overflow: {}",
        daemon.log()
    );
    assert!(!daemon.log().contains("safety rescan"));
    assert!(daemon.stop().success());
}

#[test]
fn an_overflow_during_folder_renames_reports_every_file_once_at_its_final_path() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config(&receiver.url(), FAST);
    let daemon = nas.start();
    let share = nas.share();
    sh(
        &share,
        "i=0; while [ $i -lt 30 ]; do mkdir -p d$i/s; i=$((i+1)); done",
    );
    replay_matches_disk(&receiver, &share, Duration::from_secs(30));

    daemon.signal(libc::SIGSTOP);
    // 6000 files in watched folders: about 18000 kernel events, more than the kernel's queue
    // (16384) holds. Then a third of the folders renamed, a new folder made under an old
    // name, a quarter deleted.
    sh(
        &share,
        "i=0; while [ $i -lt 30 ]; do j=0; while [ $j -lt 100 ]; do echo $j > d$i/f$j; \
         echo $j > d$i/s/g$j; j=$((j+1)); done; i=$((i+1)); done; \
         i=0; while [ $i -lt 30 ]; do mv d$i e$i; i=$((i+3)); done; \
         mkdir d0 d3; echo new > d0/new; \
         rm -rf d1 d4 e6 e9 d10 d13 e15 d20",
    );
    daemon.signal(libc::SIGCONT);
    daemon.wait_log(
        "the kernel's event queue overflowed (overflow 1 since start)",
        1,
    );
    let got = replay_matches_disk(&receiver, &share, Duration::from_secs(30));
    assert_uploaded_once(&got);
    // Every folder is watched at its true path: new files anywhere are reported at once.
    let before = got.len();
    sh(
        &share,
        "echo late > e0/late; echo late > e0/s/late; echo late > d0/late; echo late > d3/late; \
         echo late > d2/s/late; mkdir d3/x; echo late > d3/x/late",
    );
    let got = replay_matches_disk(&receiver, &share, Duration::from_secs(10));
    assert_eq!(got.len(), before + 7, "{:?}", &got[before..]);
    assert_uploaded_once(&got);
    assert!(daemon.stop().success());
}

/// The inodes the daemon's inotify instance watches, as the kernel lists them.
fn watched_inodes(daemon: &Daemon) -> Vec<u64> {
    let pid = daemon.child.id();
    let mut out = Vec::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
    {
        let is_inotify =
            std::fs::read_link(fd.path()).is_ok_and(|l| l.to_string_lossy().contains("inotify"));
        if !is_inotify {
            continue;
        }
        let info = std::fs::read_to_string(format!(
            "/proc/{pid}/fdinfo/{}",
            fd.file_name().to_string_lossy()
        ))
        .unwrap_or_default();
        let watches = info.lines().filter(|l| l.starts_with("inotify "));
        for field in watches.flat_map(str::split_whitespace) {
            if let Some(hex) = field.strip_prefix("ino:") {
                out.push(u64::from_str_radix(hex, 16).unwrap());
            }
        }
    }
    out
}

/// Waits until the daemon watches folder `dir` (it has read the folder's creation).
fn wait_watched(daemon: &Daemon, dir: &Path) {
    use std::os::unix::fs::MetadataExt;
    let ino = std::fs::metadata(dir).unwrap().ino();
    wait_for(&format!("a watch on {}", dir.display()), || {
        watched_inodes(daemon).contains(&ino).then_some(())
    });
}

#[test]
fn nothing_is_announced_inside_a_folder_the_receiver_was_not_told_about() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    // A long quiet period: the new folders' Create Folder is still held when they move.
    nas.write_config_with(&receiver.url(), FAST, "", "settle_ms = 2000");
    let daemon = nas.start();
    let share = nas.share();
    sh(&share, "mkdir k t; echo f > k/f");
    replay_matches_disk(&receiver, &share, Duration::from_secs(20));

    // A known folder moved into a new one, which is then renamed; and a new folder, with a
    // folder made inside it, moved into a known one. The engine reads it all afterwards.
    sh(&share, "mkdir n u");
    wait_watched(&daemon, &share.join("n"));
    wait_watched(&daemon, &share.join("u"));
    daemon.signal(libc::SIGSTOP);
    sh(
        &share,
        "mv k n/k; mv n m; mkdir u/v; echo w > u/v/w; mv u t/u",
    );
    daemon.signal(libc::SIGCONT);
    replay_matches_disk(&receiver, &share, Duration::from_secs(20));
    // Everything is watched where it is now.
    sh(&share, "echo late > m/k/late; echo late > t/u/v/late");
    replay_matches_disk(&receiver, &share, Duration::from_secs(20));
    assert!(daemon.stop().success());
}

#[test]
fn a_live_burst_of_folders_renamed_and_deleted_while_filled_loses_nothing() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config_with(&receiver.url(), FAST, "", "settle_ms = 500");
    let daemon = nas.start();
    let share = nas.share();
    // 50 folders of 200 files, written with no pause; then half renamed (some while others
    // are still being filled), a quarter deleted, as the engine reads behind.
    sh(
        &share,
        "i=0; while [ $i -lt 50 ]; do mkdir d$i; j=0; while [ $j -lt 200 ]; do echo $j > d$i/f$j; \
         j=$((j+1)); done; if [ $((i % 4)) = 1 ]; then mv d$((i-1)) e$((i-1)); fi; i=$((i+1)); done; \
         i=0; while [ $i -lt 50 ]; do [ -d d$i ] && mv d$i e$i; i=$((i+4)); done; \
         i=2; while [ $i -lt 50 ]; do mv d$i e$i; i=$((i+4)); done; \
         i=3; while [ $i -lt 50 ]; do rm -rf d$i; i=$((i+4)); done; \
         i=0; while [ $i -lt 50 ]; do rm -rf e$i; i=$((i+8)); done",
    );
    let got = replay_matches_disk(&receiver, &share, Duration::from_secs(30));
    assert_uploaded_once(&got);
    assert!(!daemon.log().contains("safety rescan"));
    assert!(daemon.stop().success());
}

#[test]
fn a_folder_renamed_and_made_again_under_its_old_name_is_watched_at_both_paths() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config(&receiver.url(), FAST);
    let daemon = nas.start();
    let share = nas.share();
    // "New folder" made, renamed, made again, before the engine reads the first creation:
    // by then the name holds the second folder.
    daemon.signal(libc::SIGSTOP);
    sh(
        &share,
        "mkdir p; mv p q; mkdir p; echo a > q/a; echo b > p/b; mkdir q/s p/s",
    );
    daemon.signal(libc::SIGCONT);
    replay_matches_disk(&receiver, &share, Duration::from_secs(20));
    sh(
        &share,
        "echo late > q/late; echo late > p/late; echo late > q/s/late; echo late > p/s/late",
    );
    let got = replay_matches_disk(&receiver, &share, Duration::from_secs(20));
    assert_uploaded_once(&got);
    assert!(daemon.stop().success());
}

#[test]
fn folders_renamed_while_stopped_then_renamed_again_at_start_are_followed() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config(&receiver.url(), FAST);
    let daemon = nas.start();
    let share = nas.share();
    sh(&share, "mkdir -p a/s/t/u; echo 1 > a/s/t/u/f");
    replay_matches_disk(&receiver, &share, Duration::from_secs(20));
    assert!(daemon.stop().success());

    // Renamed at every depth while stopped: the start's reconcile finds one level at a time,
    // and the top is renamed again meanwhile.
    sh(
        &share,
        "mv a b; mv b/s b/s2; mv b/s2/t b/s2/t2; mv b/s2/t2/u b/s2/t2/u2",
    );
    let daemon = nas.start();
    sh(&share, "mv b c");
    replay_matches_disk(&receiver, &share, Duration::from_secs(20));
    sh(
        &share,
        "echo late > c/late; echo late > c/s2/late; echo late > c/s2/t2/late; \
         echo late > c/s2/t2/u2/late",
    );
    let got = replay_matches_disk(&receiver, &share, Duration::from_secs(20));
    assert_uploaded_once(&got);
    assert!(daemon.stop().success());
}

#[test]
fn a_change_whose_quiet_period_ends_as_it_is_renamed_is_announced_at_the_new_name() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config_with(&receiver.url(), FAST, "", "settle_ms = 1000");
    let daemon = nas.start();
    let share = nas.share();
    sh(&share, "mkdir d; echo v1 > d/a; echo v1 > b");
    replay_matches_disk(&receiver, &share, Duration::from_secs(20));

    // The writes are read (no state shows a held Upload: a short pause), then the engine
    // stops past their quiet period while the file and the folder of the other are renamed:
    // when it resumes, the Uploads are due at paths that are gone, the renames not read yet.
    sh(&share, "echo v2 >> d/a; echo v2 >> b");
    std::thread::sleep(Duration::from_millis(200));
    daemon.signal(libc::SIGSTOP);
    std::thread::sleep(Duration::from_millis(1500));
    sh(&share, "mv d e; mv b c");
    daemon.signal(libc::SIGCONT);
    let got = replay_matches_disk(&receiver, &share, Duration::from_secs(20));
    let mut last: Vec<_> = got[got.len() - 4..].to_vec();
    last.sort();
    assert_eq!(
        last,
        expect(&[
            ("Rename", "/c", "/b"),
            ("Rename", "/e", "/d"),
            ("Upload", "/c", ""),
            ("Upload", "/e/a", ""),
        ])
    );
    assert!(daemon.stop().success());
}

#[test]
fn a_folder_moved_where_nothing_watched_yet_then_its_old_parent_renamed_is_deleted_there() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config(&receiver.url(), FAST);
    let daemon = nas.start();
    let share = nas.share();
    sh(&share, "mkdir -p a/b; echo f > a/b/f");
    replay_matches_disk(&receiver, &share, Duration::from_secs(20));

    // The move's second half lands in a folder not watched yet (the engine is stopped), so
    // only its first half is read: once unpaired it is the Delete of the old path, which by
    // then is inside the renamed parent.
    daemon.signal(libc::SIGSTOP);
    sh(&share, "mkdir n; mv a/b n/b; mv a c");
    daemon.signal(libc::SIGCONT);
    replay_matches_disk(&receiver, &share, Duration::from_secs(20));
    assert!(daemon.stop().success());
}
