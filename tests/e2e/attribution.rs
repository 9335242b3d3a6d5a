//! Who did it: a real Samba server recording its sessions with `vfs_full_audit` (set up with
//! the lines `sharehook setup samba` prints), two users changing one share, and the receiver
//! told each change by the user who made it, with the client's address, over `smb`; a change
//! no record tells of is the file owner's, as before.

use std::time::Duration;

use crate::support::*;

/// The fields of a v2 body that say who did it.
fn who(r: &Received) -> (String, String, String, String, String, String) {
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

fn row(
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

#[test]
fn samba_sessions_name_their_users_and_address_and_other_changes_their_owner() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    let share = nas.share();
    let audit = nas.dir.path().join("audit.log");
    let (alice, bob) = (("daemon", "alice-pw-123"), ("bin", "bob-pw-4567"));
    // Each from a machine of their own: a network namespace with its own address.
    let (alice_net, bob_net) = (Netns::new(1), Netns::new(2));
    let smb = Smbd::start_audited(&share, &audit, &[alice, bob], &[&alice_net, &bob_net]);
    let (a_ip, b_ip) = (alice_net.client.as_str(), bob_net.client.as_str());
    nas.write_config_text(&format!(
        "[[webhook]]\nurl = \"{}\"\ntoken = \"{TOKEN}\"\nformat = \"v2\"\n\n[attribution]\nsamba_audit = \"{}\"\n",
        receiver.url(),
        audit.display()
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
    // Bob renames and deletes alice's file: he is named, not its owner.
    smb.client_from(
        Some(&bob_net),
        Some(bob),
        local.path(),
        r"rename a.txt docs\b.txt",
    );
    let got: Vec<_> = receiver.wait_for(3).iter().map(who).collect();
    assert_eq!(
        got[2],
        row("resources.move", "/docs/b.txt", "bin", b_ip, "smb", "audit")
    );
    smb.client_from(Some(&bob_net), Some(bob), local.path(), r"del docs\b.txt");
    let got: Vec<_> = receiver.wait_for(4).iter().map(who).collect();
    assert_eq!(
        got[3],
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
    let got: Vec<_> = receiver.wait_for(5).iter().map(who).collect();
    assert_eq!(
        got[4],
        row("resources.upload", "/local.txt", "root", "", "nfs", "owner")
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
    let a = &status["attribution"];
    assert!(a["records"].as_u64().unwrap() >= 5, "{a}");
    assert_eq!(a["problem"], serde_json::Value::Null, "{a}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(receiver.received().len(), 5, "nothing more");
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
