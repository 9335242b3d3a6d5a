//! What real clients do to a share, and the exact operations a receiver gets for it: Samba
//! driven by smbclient, rsync, scripted editor and browser save patterns, tree copies,
//! overflows, restarts, the watch limit and polled mounts.

use std::path::Path;

use crate::support::*;

const FAST: &str = "0, 0.5, 0.5, 0.5";

fn started(nas: &Nas, receiver: &Receiver) -> Daemon {
    nas.write_config(&receiver.url(), FAST);
    nas.start()
}

#[test]
fn smbclient_put_mkdir_rename_move_del_deltree() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    let daemon = started(&nas, &receiver);
    let share = nas.share();
    let smb = Smbd::start(&share);
    let local = tempfile::tempdir().unwrap();
    std::fs::write(local.path().join("hello.txt"), "hello over SMB").unwrap();
    let mut s = Scenarios::new(&receiver, &share);

    smb.client(local.path(), "put hello.txt a.txt");
    assert_eq!(s.next(), expect(&[("Upload", "/a.txt", "")]));
    smb.client(local.path(), "mkdir docs");
    assert_eq!(s.next(), expect(&[("Create Folder", "/docs", "")]));
    smb.client(local.path(), "rename a.txt b.txt");
    assert_eq!(s.next(), expect(&[("Rename", "/b.txt", "/a.txt")]));
    smb.client(local.path(), r"rename b.txt docs\b.txt");
    assert_eq!(s.next(), expect(&[("Move", "/docs/b.txt", "/b.txt")]));
    smb.client(local.path(), r"del docs\b.txt");
    assert_eq!(s.next(), expect(&[("Delete", "/docs/b.txt", "")]));
    smb.client(
        local.path(),
        r"mkdir tree; mkdir tree\sub; put hello.txt tree\sub\x.txt; put hello.txt tree\y.txt",
    );
    // Parents first; the two files, in different folders, may come in either order (when
    // the engine reads behind the disk, a scan of /tree finds y.txt before it goes into sub).
    let mut got = s.next();
    assert_eq!(got.len(), 4, "{got:?}");
    assert_eq!(
        got[..2],
        expect(&[
            ("Create Folder", "/tree", ""),
            ("Create Folder", "/tree/sub", ""),
        ])[..],
        "{got:?}"
    );
    got[2..].sort();
    assert_eq!(
        got[2..],
        expect(&[
            ("Upload", "/tree/sub/x.txt", ""),
            ("Upload", "/tree/y.txt", ""),
        ])[..]
    );
    smb.client(local.path(), "deltree tree");
    assert_eq!(s.next(), expect(&[("Delete", "/tree", "")]));
    assert!(daemon.stop().success());
}

#[test]
fn rsync_with_temp_and_rename_and_inplace_is_one_upload_each() {
    let rsync = need("rsync", "rsync");
    let receiver = Receiver::start();
    let nas = Nas::new();
    let daemon = started(&nas, &receiver);
    let share = nas.share();
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("report.pdf"), vec![7u8; 300_000]).unwrap();
    std::fs::write(src.path().join("inplace.bin"), vec![9u8; 300_000]).unwrap();
    let mut s = Scenarios::new(&receiver, &share);
    let run = |args: &[&str]| {
        let ok = std::process::Command::new(&rsync)
            .args(args)
            .current_dir(src.path())
            .status()
            .unwrap()
            .success();
        assert!(ok, "rsync {args:?}");
    };
    let dest = format!("{}/", share.display());
    run(&["report.pdf", &dest]);
    assert_eq!(s.next(), expect(&[("Upload", "/report.pdf", "")]));
    run(&["--inplace", "inplace.bin", &dest]);
    assert_eq!(s.next(), expect(&[("Upload", "/inplace.bin", "")]));
    // A changed file sent again: rsync rewrites it (temp + rename): one Upload.
    std::fs::write(src.path().join("report.pdf"), vec![8u8; 310_000]).unwrap();
    run(&["report.pdf", &dest]);
    assert_eq!(s.next(), expect(&[("Upload", "/report.pdf", "")]));
    assert!(daemon.stop().success());
}

#[test]
fn editor_browser_and_finder_patterns_are_what_the_user_did() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    let daemon = started(&nas, &receiver);
    let share = nas.share();
    let mut s = Scenarios::new(&receiver, &share);

    sh(
        &share,
        "echo v1 > book.xlsx; echo v1 > doc.docx; echo v1 > notes.txt",
    );
    assert_eq!(
        s.next(),
        expect(&[
            ("Upload", "/book.xlsx", ""),
            ("Upload", "/doc.docx", ""),
            ("Upload", "/notes.txt", "")
        ])
    );
    // Excel: a temp file with a random name, the original deleted, the temp renamed onto it.
    sh(
        &share,
        "echo v2 > 5A3F9C1B; rm book.xlsx; mv 5A3F9C1B book.xlsx",
    );
    assert_eq!(s.next(), expect(&[("Upload", "/book.xlsx", "")]));
    // Word: owner file, temp written, original renamed to a backup, temp renamed into
    // place, backup and owner file deleted.
    sh(
        &share,
        "echo lock > '~$doc.docx'; echo v2 > '~WRD0001.tmp'; mv doc.docx '~WRL0002.tmp'; \
         mv '~WRD0001.tmp' doc.docx; rm '~WRL0002.tmp' '~$doc.docx'",
    );
    assert_eq!(s.next(), expect(&[("Upload", "/doc.docx", "")]));
    // vim: probe file 4913, swap file, original renamed to name~, new file written.
    sh(
        &share,
        "echo > .notes.txt.swp; : > 4913; rm 4913; mv notes.txt notes.txt~; echo v2 > notes.txt; \
         rm notes.txt~ .notes.txt.swp",
    );
    assert_eq!(s.next(), expect(&[("Upload", "/notes.txt", "")]));
    // Firefox: an empty placeholder, the data in name.part (slower than the quiet period),
    // then the part renamed over the placeholder.
    sh(
        &share,
        ": > movie.zip; echo a > movie.zip.part; sleep 0.4; echo b >> movie.zip.part; sleep 0.4; \
         mv movie.zip.part movie.zip",
    );
    assert_eq!(s.next(), expect(&[("Upload", "/movie.zip", "")]));
    // Chrome: 'Unconfirmed N.crdownload', renamed to name.crdownload, then to the name.
    sh(
        &share,
        "echo data > 'Unconfirmed 4821.crdownload'; mv 'Unconfirmed 4821.crdownload' setup.exe.crdownload; \
         mv setup.exe.crdownload setup.exe",
    );
    assert_eq!(s.next(), expect(&[("Upload", "/setup.exe", "")]));
    // Finder: AppleDouble companions and .DS_Store are not the user's files.
    sh(
        &share,
        "echo x > ._photo.jpg; echo x > .DS_Store; echo jpeg > photo.jpg; mkdir .TemporaryItems; echo t > .TemporaryItems/t",
    );
    assert_eq!(s.next(), expect(&[("Upload", "/photo.jpg", "")]));
    // A new folder named at once: one Create Folder, with the final name.
    sh(
        &share,
        "mkdir 'New folder'; sleep 0.5; mv 'New folder' Reports",
    );
    assert_eq!(s.next(), expect(&[("Create Folder", "/Reports", "")]));
    // Several writes and closes in the quiet period: one Upload. A touch or chmod: nothing.
    sh(
        &share,
        "echo a > log.txt; echo b >> log.txt; echo c >> log.txt",
    );
    assert_eq!(s.next(), expect(&[("Upload", "/log.txt", "")]));
    sh(&share, "touch log.txt; chmod 600 log.txt");
    assert_eq!(s.next(), expect(&[]));
    // Into the recycle bin: a Delete.
    sh(&share, "mkdir -p '#recycle'; mv photo.jpg '#recycle/'");
    assert_eq!(s.next(), expect(&[("Delete", "/photo.jpg", "")]));
    assert!(daemon.stop().success());
}

#[test]
fn moves_in_and_out_of_the_share_and_folder_moves() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    let daemon = started(&nas, &receiver);
    let share = nas.share();
    let outside = tempfile::tempdir().unwrap();
    sh(
        outside.path(),
        "mkdir -p album/2024; echo 1 > album/a.jpg; echo 2 > album/2024/b.jpg",
    );
    let mut s = Scenarios::new(&receiver, &share);
    // In from outside: the folder, then everything in it.
    sh(&share, &format!("mv {}/album .", outside.path().display()));
    assert_eq!(
        sorted(s.next()),
        sorted(expect(&[
            ("Create Folder", "/album", ""),
            ("Create Folder", "/album/2024", ""),
            ("Upload", "/album/2024/b.jpg", ""),
            ("Upload", "/album/a.jpg", ""),
        ]))
    );
    // A folder move is one event; what is inside moved with it and is still watched.
    sh(&share, "mkdir photos");
    assert_eq!(s.next(), expect(&[("Create Folder", "/photos", "")]));
    sh(&share, "mv album photos/");
    assert_eq!(s.next(), expect(&[("Move", "/photos/album", "/album")]));
    sh(&share, "echo 3 > photos/album/2024/c.jpg");
    assert_eq!(
        s.next(),
        expect(&[("Upload", "/photos/album/2024/c.jpg", "")])
    );
    // Out of the share: a Delete.
    sh(
        &share,
        &format!("mv photos/album {}/", outside.path().display()),
    );
    assert_eq!(s.next(), expect(&[("Delete", "/photos/album", "")]));
    assert!(daemon.stop().success());
}

fn sorted(mut v: Vec<(String, String, String)>) -> Vec<(String, String, String)> {
    v.sort();
    v
}

/// Every path's folder was reported before it.
fn assert_parents_first(got: &[(String, String, String)]) {
    for (i, (_, path, _)) in got.iter().enumerate() {
        let parent = Path::new(path).parent().unwrap().to_str().unwrap();
        if parent != "/" {
            let at = got
                .iter()
                .position(|(op, p, _)| op == "Create Folder" && p == parent);
            assert!(
                at.is_some_and(|at| at < i),
                "{parent} not before {path}: {got:?}"
            );
        }
    }
}

#[test]
fn copied_and_extracted_trees_are_each_entry_once_parents_first_and_rm_rf_is_one_delete() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    let daemon = started(&nas, &receiver);
    let share = nas.share();
    let src = tempfile::tempdir().unwrap();
    sh(
        src.path(),
        "mkdir -p t/a/b/c t/d; for f in t/1 t/a/2 t/a/b/3 t/a/b/c/4 t/a/b/c/5 t/d/6; do echo $f > $f; done; \
         tar cf t.tar t",
    );
    let tree = |top: &str| {
        let mut v = vec![("Create Folder".to_owned(), format!("/{top}"), String::new())];
        for d in ["a", "a/b", "a/b/c", "d"] {
            v.push(("Create Folder".into(), format!("/{top}/{d}"), String::new()));
        }
        for f in ["1", "a/2", "a/b/3", "a/b/c/4", "a/b/c/5", "d/6"] {
            v.push(("Upload".into(), format!("/{top}/{f}"), String::new()));
        }
        sorted(v)
    };
    let mut s = Scenarios::new(&receiver, &share);
    sh(&share, &format!("cp -r {}/t copied", src.path().display()));
    let got = s.next();
    assert_eq!(sorted(got.clone()), tree("copied"));
    assert_parents_first(&got);

    sh(
        &share,
        &format!("mkdir x && tar xf {}/t.tar -C x", src.path().display()),
    );
    let got = s.next();
    let mut want = tree("x/t");
    want.push(("Create Folder".into(), "/x".into(), String::new()));
    assert_eq!(sorted(got.clone()), sorted(want));
    assert_parents_first(&got);

    sh(&share, "rm -rf copied x");
    assert_eq!(
        sorted(s.next()),
        expect(&[("Delete", "/copied", ""), ("Delete", "/x", "")])
    );
    assert!(daemon.stop().success());
}

#[test]
fn a_kernel_queue_overflow_loses_nothing_and_repeats_nothing() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    let daemon = started(&nas, &receiver);
    let share = nas.share();
    // Stopped, the daemon reads nothing: 6000 files make about 18000 kernel events, more
    // than the kernel's queue (16384) holds.
    daemon.signal(libc::SIGSTOP);
    sh(
        &share,
        "i=0; while [ $i -lt 6000 ]; do echo x > f$i; i=$((i+1)); done",
    );
    daemon.signal(libc::SIGCONT);
    daemon.wait_log(
        "the kernel's event queue overflowed (overflow 1 since start)",
        1,
    );
    let mut s = Scenarios::new(&receiver, &share);
    let got = s.next();
    let mut paths: Vec<String> = got
        .iter()
        .map(|(op, p, _)| {
            assert_eq!(op, "Upload", "{p}");
            p.clone()
        })
        .collect();
    paths.sort();
    let mut want: Vec<String> = (0..6000).map(|i| format!("/f{i}")).collect();
    want.sort();
    assert_eq!(paths.len(), want.len(), "each file exactly once");
    assert_eq!(paths, want);
    assert!(daemon.stop().success());
}

#[test]
fn changes_made_while_stopped_are_reported_at_start_and_the_first_start_reports_nothing() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    let share = nas.share();
    sh(
        &share,
        "echo a > a; echo b > b; echo k > keep; mkdir -p dir/sub; echo c > dir/sub/c; echo s > same",
    );
    let daemon = started(&nas, &receiver);
    daemon.wait_log("first start: 7 entries indexed", 1);
    let mut s = Scenarios::new(&receiver, &share);
    assert_eq!(s.next(), expect(&[]), "the baseline reports nothing");
    assert!(daemon.stop().success());

    sh(
        &share,
        "echo new > new.txt; rm a; mv b b2; mv dir moved; echo more >> keep; mkdir -p moved/sub/deeper; \
         echo d > moved/sub/deeper/d; touch -d 2001-01-01 same; rm end-1",
    );
    let daemon = nas.start();
    daemon.wait_log("changes made while sharehook was stopped", 1);
    let got = s.next();
    let got_sorted = sorted(got.clone());
    assert_eq!(
        got_sorted,
        sorted(expect(&[
            ("Upload", "/new.txt", ""),
            ("Delete", "/a", ""),
            ("Rename", "/b2", "/b"),
            ("Rename", "/moved", "/dir"),
            ("Upload", "/keep", ""),
            ("Create Folder", "/moved/sub/deeper", ""),
            ("Upload", "/moved/sub/deeper/d", ""),
            ("Delete", "/end-1", ""),
            // A file whose time changed while nobody watched may have been rewritten: the
            // index cannot tell without reading it, so it is reported.
            ("Upload", "/same", ""),
        ]))
    );
    let moved_at = got.iter().position(|o| o.1 == "/moved").unwrap();
    let inside_at = got.iter().position(|o| o.1 == "/moved/sub/deeper").unwrap();
    assert!(moved_at < inside_at, "{got:?}");
    assert!(daemon.stop().success());
}

#[test]
fn past_the_watch_limit_the_error_is_clear_and_rescans_report_the_unwatched_folders() {
    need("unshare", "util-linux");
    let receiver = Receiver::start();
    let nas = Nas::new();
    let share = nas.share();
    // Ignored folders (a recycle bin, Synology's @eaDir) cost no watch: 7 folders need 7.
    sh(&share, "mkdir -p a/a1 b/b1 c/c1 '#recycle/x/y' @eaDir/z");
    nas.write_config_with(&receiver.url(), FAST, "", "poll_interval = 0.5");
    // A user namespace of its own, where at most 3 watches may be added: the root and two
    // folders get one, four folders do not.
    let daemon = nas.start_with_watch_limit(3);
    daemon.wait_log("fs.inotify.max_user_watches (3) is reached: 3 folders are watched and 4 are not, so 7 watches are needed", 1);
    let mut s = Scenarios::new(&receiver, &share);
    sh(
        &share,
        "echo 1 > c/c1/deep.txt; echo 2 > a/a1/x.txt; mkdir b/b1/new",
    );
    assert_eq!(
        sorted(s.next()),
        sorted(expect(&[
            ("Upload", "/c/c1/deep.txt", ""),
            ("Upload", "/a/a1/x.txt", ""),
            ("Create Folder", "/b/b1/new", ""),
        ]))
    );
    assert!(daemon.stop().success());
}

#[test]
fn a_fuse_mounted_share_is_polled() {
    let bindfs = need("bindfs", "bindfs");
    let fusermount = ["fusermount3", "fusermount"]
        .iter()
        .find_map(|f| find_program(f))
        .unwrap_or_else(|| panic!("fusermount is needed: apt-get install fuse3"));
    let receiver = Receiver::start();
    let nas = Nas::new();
    let backing = tempfile::tempdir().unwrap();
    let ok = std::process::Command::new(bindfs)
        .arg(backing.path())
        .arg(nas.share())
        .status()
        .unwrap()
        .success();
    assert!(ok, "bindfs could not mount (is /dev/fuse there?)");
    struct Unmount(std::path::PathBuf, std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new(&self.0)
                .arg("-u")
                .arg(&self.1)
                .status();
        }
    }
    let _unmount = Unmount(fusermount, nas.share());
    nas.write_config_with(&receiver.url(), FAST, "", "poll_interval = 0.5");
    let daemon = nas.start();
    daemon.wait_log("it is a fuse mount, whose changes inotify cannot see", 1);
    // Written beside the mount, as another host writes to an NFS export: only polling sees it.
    let mut s = Scenarios::new(&receiver, backing.path());
    sh(backing.path(), "mkdir docs; echo hi > docs/a.txt");
    assert_eq!(
        s.next(),
        expect(&[
            ("Create Folder", "/docs", ""),
            ("Upload", "/docs/a.txt", "")
        ])
    );
    sh(backing.path(), "mv docs/a.txt docs/b.txt");
    assert_eq!(
        s.next(),
        expect(&[("Rename", "/docs/b.txt", "/docs/a.txt")])
    );
    assert!(daemon.stop().success());
}

#[test]
fn odd_names_and_symbolic_links() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    let daemon = started(&nas, &receiver);
    let share = nas.share();
    let outside = tempfile::tempdir().unwrap();
    let mut s = Scenarios::new(&receiver, &share);
    sh(&share, "printf 'x' > \"$(printf 'caf\\351.txt')\"");
    assert_eq!(s.next(), expect(&[("Upload", "/caf\u{fffd}.txt", "")]));
    assert!(
        daemon.log().contains(r"Upload /caf\xe9.txt"),
        "{}",
        daemon.log()
    );
    sh(&share, &format!("ln -s {} link", outside.path().display()));
    assert_eq!(s.next(), expect(&[("Upload", "/link", "")]));
    // Not followed out of the share: nothing for what happens at the link's target.
    sh(outside.path(), "echo no > not-in-the-share.txt");
    assert_eq!(s.next(), expect(&[]));
    assert!(daemon.stop().success());
}

#[test]
fn the_safety_rescan_reports_what_the_kernel_never_said() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config_with(&receiver.url(), FAST, "", "rescan_interval = 1");
    let daemon = nas.start();
    let share = nas.share();
    let mut s = Scenarios::new(&receiver, &share);
    sh(&share, "echo a > a.txt");
    assert_eq!(s.next(), expect(&[("Upload", "/a.txt", "")]));
    // A hard link is made without any file being written and closed: the kernel says only
    // "created", which is no Upload. The periodic reconcile finds the new entry.
    sh(&share, "ln a.txt b.txt");
    daemon.wait_log("safety rescan of every share", 2);
    assert_eq!(s.next(), expect(&[("Upload", "/b.txt", "")]));
    assert!(daemon.stop().success());
}
