//! Who did it: a real Samba server recording its sessions with `vfs_full_audit` (set up with
//! the lines `sharehook setup samba` prints), two users changing and reading one share, and
//! the receivers (v1 and v2) told each change and each download by the user who made it,
//! with the client's address, over `smb`; a change no record tells of is the file owner's, as
//! before.

use std::time::Duration;

use crate::support::*;

/// The fields of a v2 body that say who did it.
pub fn who(r: &Received) -> (String, String, String, String, String, String) {
    let v = r.json();
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
    let path = v["eventData"]["resources"][0]["path"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (
        s("event"),
        path,
        s("username"),
        s("ipAddress"),
        s("protocol"),
        s("attribution"),
    )
}

pub fn row(
    event: &str,
    path: &str,
    user: &str,
    ip: &str,
    protocol: &str,
    how: &str,
) -> (String, String, String, String, String, String) {
    (
        event.into(),
        path.into(),
        user.into(),
        ip.into(),
        protocol.into(),
        how.into(),
    )
}

/// What a v1 body says: operation, path, source path, user, protocol.
fn v1(r: &Received) -> String {
    let v = r.json();
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
    format!(
        "{} {} {} by {} over {}",
        s("operation"),
        s("path"),
        s("sourcepath"),
        s("username"),
        s("protocol")
    )
}

pub const EVERY_TRIGGER: &str =
    "triggers = [\"upload\", \"delete\", \"move\", \"rename\", \"createFolder\", \"download\"]";

#[test]
fn samba_sessions_name_their_users_and_address_and_other_changes_their_owner() {
    let receiver = Receiver::start();
    let old = Receiver::start();
    let nas = Nas::new();
    let share = nas.share();
    let audit = nas.dir.path().join("audit.log");
    let (alice, bob) = (("daemon", "alice-pw-123"), ("bin", "bob-pw-4567"));
    // Each from a machine of their own: a network namespace with its own address.
    let (alice_net, bob_net) = (Netns::new(1), Netns::new(2));
    let smb = Smbd::start_audited(&share, &audit, &[alice, bob], &[&alice_net, &bob_net]);
    let (a_ip, b_ip) = (alice_net.client.as_str(), bob_net.client.as_str());
    nas.write_config_text(&format!(
        "[[webhook]]\nurl = \"{}\"\ntoken = \"{TOKEN}\"\nformat = \"v2\"\n{EVERY_TRIGGER}\n\n\
         [[webhook]]\nurl = \"{}\"\ntoken = \"{TOKEN}\"\n{EVERY_TRIGGER}\n\n\
         [attribution]\nsamba_audit = \"{}\"\nsamba_prefix = \"{}\"\n",
        receiver.url(),
        old.url(),
        audit.display(),
        smb.audit_prefix
    ));
    let daemon = nas.start();
    let local = tempfile::tempdir().unwrap();
    std::fs::write(local.path().join("hello.txt"), "hello over SMB").unwrap();

    smb.client_from(
        Some(&alice_net),
        Some(alice),
        local.path(),
        "put hello.txt a.txt; mkdir docs",
    );
    let got: Vec<_> = receiver.wait_for(2).iter().map(who).collect();
    assert_eq!(
        got,
        vec![
            row("resources.upload", "/a.txt", "daemon", a_ip, "smb", "audit"),
            row(
                "resources.createFolder",
                "/docs",
                "daemon",
                a_ip,
                "smb",
                "audit"
            ),
        ]
    );
    // Bob renames, moves and deletes alice's file: he is named, not its owner.
    smb.client_from(
        Some(&bob_net),
        Some(bob),
        local.path(),
        r"rename a.txt b.txt; rename b.txt docs\b.txt",
    );
    let got: Vec<_> = receiver.wait_for(4).iter().map(who).collect();
    assert_eq!(
        got[2..],
        [
            row("resources.rename", "/b.txt", "bin", b_ip, "smb", "audit"),
            row("resources.move", "/docs/b.txt", "bin", b_ip, "smb", "audit")
        ]
    );
    smb.client_from(Some(&bob_net), Some(bob), local.path(), r"del docs\b.txt");
    let got: Vec<_> = receiver.wait_for(5).iter().map(who).collect();
    assert_eq!(
        got[4],
        row(
            "resources.delete",
            "/docs/b.txt",
            "bin",
            b_ip,
            "smb",
            "audit"
        )
    );
    // A change on the disk that no session made: the owner, the share's label, no address.
    std::fs::write(share.join("local.txt"), "made here").unwrap();
    let got: Vec<_> = receiver.wait_for(6).iter().map(who).collect();
    assert_eq!(
        got[5],
        row("resources.upload", "/local.txt", "root", "", "nfs", "owner")
    );
    // Bob downloads it; alice lists a folder and looks at the file's details: only bob's read
    // is a Download.
    smb.client_from(
        Some(&bob_net),
        Some(bob),
        local.path(),
        "get local.txt got.txt",
    );
    assert_eq!(
        std::fs::read_to_string(local.path().join("got.txt")).unwrap(),
        "made here"
    );
    smb.client_from(
        Some(&alice_net),
        Some(alice),
        local.path(),
        "ls; ls docs; allinfo local.txt",
    );
    let got: Vec<_> = receiver.wait_for(7).iter().map(who).collect();
    assert_eq!(
        got[6],
        row(
            "resources.download",
            "/local.txt",
            "bin",
            b_ip,
            "smb",
            "audit"
        )
    );
    // The same, in ExaVault's v1 bodies.
    let said: Vec<String> = old.wait_for(7).iter().map(v1).collect();
    assert_eq!(
        said,
        [
            "Upload /a.txt  by daemon over smb",
            "Create Folder /docs  by daemon over smb",
            "Rename /b.txt /a.txt by bin over smb",
            "Move /docs/b.txt /b.txt by bin over smb",
            "Delete /docs/b.txt  by bin over smb",
            "Upload /local.txt  by root over nfs",
            "Download /local.txt  by bin over smb",
        ]
    );
    // The log says who, too.
    let entries = nas.log_entries(&[]);
    let newest_smb = entries
        .iter()
        .find(|e| e["event"] == "resources.delete")
        .expect("the delete is logged");
    assert_eq!(
        (
            &newest_smb["username"],
            &newest_smb["ipAddress"],
            &newest_smb["attribution"]
        ),
        (&"bin".into(), &b_ip.into(), &"audit".into())
    );
    // The status says the records arrive.
    let out = nas.cli(&["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let a = &status["attribution"][0];
    assert_eq!(a["source"], "samba", "{a}");
    assert!(a["records"].as_u64().unwrap() >= 7, "{a}");
    assert_eq!(a["problem"], serde_json::Value::Null, "{a}");
    // Nothing more: the listing and the look at its details were no download. (A read is
    // reported within a second of its close.)
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(receiver.received().len(), 7, "nothing more");
    assert_eq!(old.received().len(), 7, "nothing more");
    assert!(daemon.stop().success());
}

#[test]
fn a_missing_audit_log_is_said_by_check_and_status_and_changes_go_out_with_their_owner() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    let audit = nas.dir.path().join("no-such-audit.log");
    nas.write_config_text(&format!(
        "[[webhook]]\nurl = \"{}\"\ntoken = \"{TOKEN}\"\nformat = \"v2\"\n\n[attribution]\nsamba_audit = \"{}\"\n",
        receiver.url(),
        audit.display()
    ));
    let out = nas.cli(&["check"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("attribution.samba_audit: cannot read") && said.contains("no-such-audit.log"),
        "{said}"
    );
    let daemon = nas.start();
    std::fs::write(nas.share().join("a.txt"), "x").unwrap();
    let got: Vec<_> = receiver.wait_for(1).iter().map(who).collect();
    assert_eq!(
        got[0],
        row("resources.upload", "/a.txt", "root", "", "nfs", "owner")
    );
    let out = nas.cli(&["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("no-such-audit.log") && text.contains("No such file"),
        "{text}"
    );
    assert!(daemon.stop().success());
}

#[test]
fn fanotify_names_a_local_process_s_user_for_what_no_server_recorded() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    let share = nas.share();
    let mut mode = std::fs::metadata(&share).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut mode, 0o777);
    std::fs::set_permissions(&share, mode).unwrap();
    // Root's file, deleted below by another user.
    std::fs::write(share.join("roots.txt"), "root's").unwrap();
    nas.write_config_text(&format!(
        "[[webhook]]\nurl = \"{}\"\ntoken = \"{TOKEN}\"\nformat = \"v2\"\n\n[attribution]\nfanotify = true\n",
        receiver.url(),
    ));
    let daemon = nas.start();
    let setpriv = need("setpriv", "util-linux");
    // A program running as `daemon` (uid 1) writes a file, makes a folder, and deletes root's
    // file, then lives on a while (as a file server does: a program gone before sharehook
    // looks at it names nobody).
    let mut program = std::process::Command::new(setpriv)
        .args(["--reuid=1", "--regid=1", "--clear-groups", "perl", "-e"])
        .arg(
            "open(F, '>', 'made.txt') or die; print F 'hi'; close(F); mkdir('dir') or die; \
             unlink('roots.txt') or die; sleep(30);",
        )
        .current_dir(&share)
        .spawn()
        .unwrap();
    let mut got: Vec<_> = receiver.wait_for(3).iter().map(who).collect();
    program.kill().unwrap();
    program.wait().unwrap();
    got.sort();
    if std::env::var_os("SHAREHOOK_RUNNER").is_some() {
        // Under qemu-user (the ARM legs) the emulator has no fanotify: the daemon says so,
        // once, and changes go out with their owners as without it.
        let log = daemon.log();
        assert!(
            log.contains("attribution: fanotify cannot be used: fanotify_init"),
            "{log}"
        );
        assert_eq!(
            got,
            vec![
                row(
                    "resources.createFolder",
                    "/dir",
                    "daemon",
                    "",
                    "nfs",
                    "owner"
                ),
                row("resources.delete", "/roots.txt", "root", "", "nfs", "owner"),
                row(
                    "resources.upload",
                    "/made.txt",
                    "daemon",
                    "",
                    "nfs",
                    "owner"
                ),
            ]
        );
        assert!(daemon.stop().success());
        return;
    }
    let process = |op: &str, path: &str| row(op, path, "daemon", "", "local", "process");
    assert_eq!(
        got,
        vec![
            process("resources.createFolder", "/dir"),
            process("resources.delete", "/roots.txt"),
            process("resources.upload", "/made.txt"),
        ]
    );
    // This test's own write (a program of root's, still running) is root's.
    std::fs::write(share.join("mine.txt"), "x").unwrap();
    let got: Vec<_> = receiver.wait_for(4).iter().map(who).collect();
    assert_eq!(
        got[3],
        row(
            "resources.upload",
            "/mine.txt",
            "root",
            "",
            "local",
            "process"
        )
    );
    assert!(daemon.stop().success());
}

#[test]
fn a_server_side_copy_is_a_copy_with_its_source_or_an_upload_to_who_does_not_ask() {
    let copies = Receiver::start();
    let uploads = Receiver::start();
    let nas = Nas::new();
    let share = nas.share();
    let audit = nas.dir.path().join("audit.log");
    let carol = ("daemon", "carol-pw-8910");
    let network = Netns::new(4);
    let smb = Smbd::start_audited(&share, &audit, &[carol], &[&network]);
    std::fs::write(share.join("report.pdf"), "the report").unwrap();
    nas.write_config_text(&format!(
        "[[webhook]]\nurl = \"{}\"\ntoken = \"{TOKEN}\"\nformat = \"v2\"\n\
         triggers = [\"upload\", \"copy\"]\n\n\
         [[webhook]]\nurl = \"{}\"\ntoken = \"{TOKEN}\"\n\n\
         [attribution]\nsamba_audit = \"{}\"\nsamba_prefix = \"{}\"\n",
        copies.url(),
        uploads.url(),
        audit.display(),
        smb.audit_prefix
    ));
    let daemon = nas.start();
    // smbprotocol's copyfile asks the server to copy (FSCTL_SRV_COPYCHUNK_WRITE), as Windows
    // Explorer does between folders of one share: the bytes never cross the network.
    let python = std::env::var("SHAREHOOK_PYTHON")
        .expect("SHAREHOOK_PYTHON: the tests' Python (tests/api/venv.sh) with smbprotocol");
    let script = format!(
        "import smbclient\n\
         smbclient.register_session('{host}', username='{user}', password='{pw}', port={port})\n\
         smbclient.copyfile(r'\\\\{host}\\public\\report.pdf', r'\\\\{host}\\public\\copy.pdf', port={port})\n",
        host = network.host,
        user = carol.0,
        pw = carol.1,
        port = smb.port
    );
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &network.name])
        .arg(&python)
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(out.status.success(), "smbprotocol copyfile: {out:?}");
    assert_eq!(
        std::fs::read(share.join("copy.pdf")).unwrap(),
        b"the report"
    );
    let got = copies.wait_for(1)[0].json();
    assert_eq!(
        (
            got["event"].as_str(),
            got["eventData"]["resources"][0]["path"].as_str(),
            got["eventData"]["resources"][0]["sourcePath"].as_str(),
            got["username"].as_str(),
            got["ipAddress"].as_str(),
            got["protocol"].as_str(),
        ),
        (
            Some("resources.copy"),
            Some("/copy.pdf"),
            Some("/report.pdf"),
            Some("daemon"),
            Some(network.client.as_str()),
            Some("smb")
        )
    );
    let said: Vec<String> = uploads.wait_for(1).iter().map(v1).collect();
    assert_eq!(said, ["Upload /copy.pdf  by daemon over smb"]);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!((copies.received().len(), uploads.received().len()), (1, 1));
    assert!(daemon.stop().success());
}
