//! Who did it over SFTP: a real OpenSSH server whose SFTP sessions are locked in a chroot and
//! log at INFO, through a real rsyslog to a file or into a real systemd journal, set up with
//! the lines `sharehook setup sftp` prints; `sftp -b` as a third user from an address of its
//! own: put, get, rename, mkdir, rm, each with protocol `sftp`, the user and the address.

use std::time::Duration;

use crate::attribution::{EVERY_TRIGGER, row, who};
use crate::support::*;

/// A real OpenSSH server whose SFTP sessions are locked in a chroot and log at INFO, through a
/// real rsyslog to a file, or into a real systemd journal (a journald of the test's own, in a
/// mount namespace shared with sshd, whose journal files sharehook reads), set up with the
/// lines `sharehook setup sftp` prints. The chroot lies under /run (sshd wants every folder
/// above a chroot to be root's and writable by no one else, which /tmp is not); removed when
/// dropped.
struct Sftpd {
    dir: std::path::PathBuf,
    key: std::path::PathBuf,
    port: u16,
    children: Vec<std::process::Child>,
    /// What sharehook's `sftp_log` is.
    log: String,
}

/// The account the SFTP client signs in as: a system account every Debian has.
const SFTP_USER: &str = "sys";

impl Sftpd {
    fn start(network: &Netns, journal: bool) -> Sftpd {
        use std::process::{Command, Stdio};
        let sshd = need("sshd", "openssh-server");
        let keygen = need("ssh-keygen", "openssh-client");
        need("sftp", "openssh-client");
        let dir = std::path::PathBuf::from(format!(
            "/run/shk-sftp-{}-{}",
            std::process::id(),
            if journal { "journal" } else { "file" }
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let jail = dir.join("jail");
        std::fs::create_dir_all(jail.join("share")).unwrap();
        std::fs::create_dir_all(dir.join("work")).unwrap();
        let mode = |p: &std::path::Path, m: u32| {
            std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(m)).unwrap()
        };
        mode(&dir, 0o755);
        mode(&jail, 0o755);
        mode(&jail.join("share"), 0o777);
        for key in ["host", "user"] {
            let out = Command::new(&keygen)
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(dir.join(key))
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
        }
        std::fs::copy(dir.join("user.pub"), dir.join("authorized_keys")).unwrap();
        let log = if journal {
            format!("journal:{}", dir.join("journal").display())
        } else {
            dir.join("sftp.log").display().to_string()
        };
        let setup = sharehook()
            .args(["setup", "sftp", "--log", &log])
            .arg("--chroot")
            .arg(&jail)
            .output()
            .unwrap();
        assert!(setup.status.success(), "{setup:?}");
        let text = String::from_utf8(setup.stdout).unwrap();
        let (head, rsyslog) = text
            .split_once("# In /etc/rsyslog.d/sharehook-sftp.conf (then restart rsyslog):\n")
            .unwrap_or((&text, ""));
        assert_eq!(
            rsyslog.is_empty(),
            journal,
            "setup sftp prints rsyslog lines for a file only:\n{text}"
        );
        let sshd_lines = head
            .split_once("# In /etc/ssh/sshd_config")
            .expect("setup sftp prints sshd_config lines")
            .1;
        let lines = |t: &str| -> String {
            t.lines()
                .filter(|l| !l.starts_with('#') && !l.starts_with(' ') && !l.is_empty())
                .map(|l| format!("{l}\n"))
                .collect()
        };
        let port = Receiver::free_port();
        let d = dir.display();
        std::fs::write(
            dir.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress {}\nHostKey {d}/host\nPidFile {d}/sshd.pid\n\
                 AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\n\
                 PasswordAuthentication no\n{}",
                network.host,
                lines(sshd_lines)
            ),
        )
        .unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        let mut children = Vec::new();
        let sshd_command = format!(
            "exec {} -D -f {d}/sshd_config -E {d}/sshd.log",
            sshd.display()
        );
        if journal {
            // journald and sshd in a mount namespace of their own: the journal's sockets on a
            // private /run/systemd, its files in the test's folder (seen from outside, where
            // sharehook reads them), its /dev/log inside the chroot as setup sftp says.
            let journald = std::path::Path::new("/lib/systemd/systemd-journald");
            assert!(
                journald.exists(),
                "{} is needed by this test and is not installed: apt-get install systemd",
                journald.display()
            );
            need("journalctl", "systemd");
            need("unshare", "util-linux");
            std::fs::create_dir_all(dir.join("journal")).unwrap();
            std::fs::create_dir_all(jail.join("dev")).unwrap();
            std::fs::write(jail.join("dev/log"), "").unwrap();
            let script = format!(
                "set -e\nmkdir -p /run/systemd /run/log/journal\n\
                 mount -t tmpfs tmpfs /run/systemd\n\
                 mount --bind {d}/journal /run/log/journal\n\
                 {journald} & echo $! > {d}/journald.pid\n\
                 while [ ! -S /run/systemd/journal/dev-log ]; do sleep 0.05; done\n\
                 mount --bind /run/systemd/journal/dev-log {jail}/dev/log\n\
                 {sshd_command}\n",
                journald = journald.display(),
                jail = jail.display(),
            );
            children.push(
                Command::new("unshare")
                    .args(["-m", "--propagation", "private", "sh", "-c", &script])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap(),
            );
        } else {
            let rsyslogd = need("rsyslogd", "rsyslog");
            std::fs::write(
                dir.join("rsyslog.conf"),
                format!(
                    "global(workDirectory=\"{d}/work\")\nmodule(load=\"imuxsock\" SysSock.Use=\"off\")\n{}",
                    rsyslog
                ),
            )
            .unwrap();
            children.push(
                Command::new(rsyslogd)
                    .args(["-n", "-f"])
                    .arg(dir.join("rsyslog.conf"))
                    .arg("-i")
                    .arg(dir.join("rsyslog.pid"))
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap(),
            );
            wait_for("rsyslog's socket in the chroot", || {
                jail.join("dev/log").exists().then_some(())
            });
            children.push(
                Command::new("sh")
                    .args(["-c", &sshd_command])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap(),
            );
        }
        let host = network.host.clone();
        wait_for("sshd to listen", || {
            std::net::TcpStream::connect((host.as_str(), port)).ok()
        });
        Sftpd {
            key: dir.join("user"),
            dir,
            port,
            children,
            log,
        }
    }

    fn jail(&self) -> std::path::PathBuf {
        self.dir.join("jail")
    }

    /// Runs `sftp -b` with `commands` from `network`, as `SFTP_USER`.
    fn client(&self, network: &Netns, commands: &str) {
        let batch = self.dir.join("batch");
        std::fs::write(&batch, commands).unwrap();
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &network.name, "sftp", "-b"])
            .arg(&batch)
            .arg("-i")
            .arg(&self.key)
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "LogLevel=ERROR",
                "-P",
                &self.port.to_string(),
            ])
            .arg(format!("{SFTP_USER}@{}", network.host))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "sftp {commands:?}: {}\nsshd: {}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
        );
    }
}

impl Drop for Sftpd {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("journald.pid")) {
            let _ = std::process::Command::new("kill").arg(pid.trim()).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn sftp_sessions_name_their_user_and_address_for_each_change_and_download() {
    sessions_are_named(3, false);
}

#[test]
fn the_sftp_log_is_read_from_the_systemd_journal_too() {
    sessions_are_named(5, true);
}

/// Put, get, rename, mkdir and rm over SFTP from network namespace `n`, the log in a file or
/// in the journal: each reported with the user, the address and `sftp`.
fn sessions_are_named(n: u8, journal: bool) {
    let receiver = Receiver::start();
    let nas = Nas::new();
    let network = Netns::new(n);
    let sftp = Sftpd::start(&network, journal);
    let jail = sftp.jail();
    let share = jail.join("share");
    std::fs::write(
        nas.config_path(),
        format!(
            "account_name = \"testnas\"\nstate_dir = \"{state}\"\n\n[[share]]\nname = \"public\"\n\
             path = \"{share}\"\nprotocol = \"nfs\"\n\n[[webhook]]\nurl = \"{url}\"\n\
             token = \"{TOKEN}\"\nformat = \"v2\"\n{EVERY_TRIGGER}\n\n[attribution]\n\
             sftp_log = \"{log}\"\nsftp_chroot = \"{jail}\"\n\n[web]\nlisten = \"127.0.0.1:0\"\n\n\
             [watch]\nsettle_ms = 200\n",
            state = nas.dir.path().join("state").display(),
            share = share.display(),
            url = receiver.url(),
            log = sftp.log,
            jail = jail.display(),
        ),
    )
    .unwrap();
    let daemon = nas.start();
    let local = tempfile::tempdir().unwrap();
    let l = local.path().display();
    std::fs::write(local.path().join("up.txt"), "hello over SFTP").unwrap();
    let ip = network.client.as_str();
    let steps = [
        (
            format!("put {l}/up.txt /share/up.txt"),
            row(
                "resources.upload",
                "/up.txt",
                SFTP_USER,
                ip,
                "sftp",
                "sftp-log",
            ),
        ),
        (
            format!("get /share/up.txt {l}/down.txt"),
            row(
                "resources.download",
                "/up.txt",
                SFTP_USER,
                ip,
                "sftp",
                "sftp-log",
            ),
        ),
        (
            "rename /share/up.txt /share/r.txt".to_owned(),
            row(
                "resources.rename",
                "/r.txt",
                SFTP_USER,
                ip,
                "sftp",
                "sftp-log",
            ),
        ),
        (
            "mkdir /share/d".to_owned(),
            row(
                "resources.createFolder",
                "/d",
                SFTP_USER,
                ip,
                "sftp",
                "sftp-log",
            ),
        ),
        (
            "rm /share/r.txt".to_owned(),
            row(
                "resources.delete",
                "/r.txt",
                SFTP_USER,
                ip,
                "sftp",
                "sftp-log",
            ),
        ),
    ];
    for (n, (commands, expected)) in steps.iter().enumerate() {
        sftp.client(&network, commands);
        let got: Vec<_> = receiver.wait_for(n + 1).iter().map(who).collect();
        if got[n] != *expected {
            let status = nas.cli(&["status"]);
            let journal = std::process::Command::new("journalctl")
                .args(["-o", "json", "--no-pager", "--directory"])
                .arg(sftp.dir.join("journal"))
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            panic!(
                "after {commands}: got {:?}, expected {expected:?}\nstatus: {}\njournal: {journal}\ndaemon: {}\nsshd: {}",
                got[n],
                String::from_utf8_lossy(&status.stdout),
                daemon.log(),
                std::fs::read_to_string(sftp.dir.join("sshd.log")).unwrap_or_default()
            );
        }
    }
    assert_eq!(
        std::fs::read_to_string(local.path().join("down.txt")).unwrap(),
        "hello over SFTP"
    );
    // A listing is no download; the status says the log is read.
    sftp.client(&network, "ls -l /share");
    let out = nas.cli(&["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let a = &status["attribution"][0];
    assert_eq!(a["source"], "sftp", "{a}");
    assert!(a["records"].as_u64().unwrap() >= 5, "{a}");
    assert_eq!(a["problem"], serde_json::Value::Null, "{a}");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(receiver.received().len(), 5, "nothing more");
    assert!(daemon.stop().success());
}
