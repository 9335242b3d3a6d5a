//! The SFTP server's messages read from the systemd journal instead of a file: `journalctl
//! --follow -o json`, kept running, for the messages tagged `internal-sftp` or `sftp-server`
//! (`sftp_log = "journal"`, or `"journal:DIR"` for the journal files in DIR).
//!
//! The journal records, beside what a program says of itself, what the kernel says of it: its
//! process id (`_PID`) and its program file (`_EXE`). A message is read only when its program
//! is an `sshd` or `sftp-server` installed under `/usr` (which only root can put there), so a
//! user on the box cannot write a line that passes for a session's; the process id is the
//! journal's own, not the one the message claims. Each message becomes a line of the shape
//! `sftp.rs` reads. Where reading stands is the last message's time and sequence number.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError};

use super::follow::Position;

/// The `dev` of a position in the journal (a file's is a device number, never this).
pub const JOURNAL: u64 = u64::MAX;
/// Messages waiting to be read; journalctl waits when there are this many.
const WAITING: usize = 65_536;

/// Where the SFTP messages are, as `sftp_log` says it: `journal` or `journal:DIR`.
pub fn parse(setting: &Path) -> Option<Option<PathBuf>> {
    let text = setting.to_str()?;
    match text.strip_prefix("journal") {
        Some("") => Some(None),
        Some(rest) => rest.strip_prefix(':').map(|dir| Some(PathBuf::from(dir))),
        None => None,
    }
}

/// journalctl, running, and where reading stands.
pub struct Journal {
    /// The program run (`journalctl`; another in tests).
    pub program: PathBuf,
    dir: Option<PathBuf>,
    child: Option<Child>,
    lines: Option<Receiver<String>>,
    /// The time (µs since the epoch) and sequence number of the last message read.
    pub position: Position,
    /// The uid each session's process runs as, from its `session opened` line (whose user
    /// the journal's `_UID` must be): a later line of that process must come from that uid.
    sessions: std::collections::HashMap<u32, u32>,
    /// When journalctl was last started: it is not started again sooner than `RESTART`.
    started: Option<std::time::Instant>,
}

/// The least time between two starts of journalctl.
const RESTART: std::time::Duration = std::time::Duration::from_secs(5);

impl Journal {
    pub fn new(dir: Option<PathBuf>, position: Position) -> Journal {
        // Never read before: from now on (not from when journalctl happens to start).
        let now_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        let position = if position.dev == JOURNAL {
            position
        } else {
            Position {
                dev: JOURNAL,
                ino: 0,
                offset: now_us,
            }
        };
        Journal {
            program: PathBuf::from("journalctl"),
            dir,
            child: None,
            lines: None,
            position,
            sessions: std::collections::HashMap::new(),
            started: None,
        }
    }

    /// What `journalctl` is run as, for messages.
    pub fn shown(&self) -> String {
        match &self.dir {
            Some(d) => format!("the journal in {}", d.display()),
            None => "the system journal".to_owned(),
        }
    }

    fn start(&mut self) -> std::io::Result<()> {
        let mut command = Command::new(&self.program);
        command.args(["-o", "json", "--follow", "--no-pager", "--all"]);
        if let Some(dir) = &self.dir {
            command.arg("--directory").arg(dir);
        }
        let us = self.position.offset;
        command.arg(format!("--since=@{}.{:06}", us / 1_000_000, us % 1_000_000));
        command.args([
            "SYSLOG_IDENTIFIER=internal-sftp",
            "SYSLOG_IDENTIFIER=sftp-server",
        ]);
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx): (SyncSender<String>, _) = std::sync::mpsc::sync_channel(WAITING);
        std::thread::Builder::new()
            .name("journal".into())
            .spawn(move || {
                for line in std::io::BufReader::new(stdout).lines() {
                    let Ok(line) = line else { return };
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            })?;
        self.child = Some(child);
        self.lines = Some(rx);
        Ok(())
    }

    /// The messages that came since the last call, as lines `sftp.rs` reads (each ending in a
    /// newline). An error when journalctl cannot be run or has stopped (it is run again at
    /// the next call).
    pub fn read(&mut self) -> std::io::Result<Vec<u8>> {
        if self.lines.is_none() {
            if self.started.is_some_and(|t| t.elapsed() < RESTART) {
                return Ok(Vec::new());
            }
            self.started = Some(std::time::Instant::now());
            self.start()?;
        }
        let mut out = Vec::new();
        loop {
            let next = self.lines.as_ref().expect("started").try_recv();
            match next {
                Ok(line) => {
                    if let Some((text, at)) = message_line(&line, &mut self.sessions)
                        && (at.0, at.1) > (self.position.offset, self.position.ino)
                    {
                        out.extend_from_slice(text.as_bytes());
                        out.push(b'\n');
                        self.position = Position {
                            dev: JOURNAL,
                            ino: at.1,
                            offset: at.0,
                        };
                    }
                }
                Err(TryRecvError::Empty) => return Ok(out),
                Err(TryRecvError::Disconnected) => {
                    self.stop();
                    return if out.is_empty() {
                        Err(std::io::Error::other(
                            "journalctl stopped (is the journal there, and may this user read it?)",
                        ))
                    } else {
                        Ok(out)
                    };
                }
            }
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.lines = None;
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One journal entry (journalctl's JSON) as a line of the SFTP log, with its time and
/// sequence number; `None` for an entry not written by an SFTP server installed under /usr, or
/// not by the user its session signed in as. `sessions`: each session's process id and uid.
///
/// A session's server runs as the user who signed in (sshd drops to that user before the SFTP
/// server starts), and the journal records the uid of whoever wrote each message (`_UID`): a
/// `session opened for local user U` line is believed only from U's uid, and the lines after it
/// only from the same uid. Someone else running an sshd or sftp-server binary can then only
/// speak for themselves.
pub fn message_line(
    json: &str,
    sessions: &mut std::collections::HashMap<u32, u32>,
) -> Option<(String, (u64, u64))> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let field = |k: &str| v.get(k).and_then(serde_json::Value::as_str);
    let exe = Path::new(field("_EXE")?);
    let name = exe.file_name()?.to_str()?;
    if !exe.starts_with("/usr/") || !matches!(name, "sshd" | "sftp-server") {
        return None;
    }
    let pid: u32 = field("_PID")?.parse().ok()?;
    let uid: u32 = field("_UID")?.parse().ok()?;
    let tag = field("SYSLOG_IDENTIFIER")?;
    if !matches!(tag, "internal-sftp" | "sftp-server") {
        return None;
    }
    // A message that is not text comes as an array of bytes: not read.
    let message = field("MESSAGE")?;
    if message.contains('\n') {
        return None;
    }
    if let Some(rest) = message.strip_prefix("session opened for local user ") {
        let user = rest.rsplit_once(" from [")?.0;
        if crate::tree::owner::uid_of(user)? != uid {
            return None;
        }
        if sessions.len() >= 4096 && !sessions.contains_key(&pid) {
            sessions.clear();
        }
        sessions.insert(pid, uid);
    } else if sessions.get(&pid) != Some(&uid) {
        return None;
    }
    if message.starts_with("session closed for local user ") {
        sessions.remove(&pid);
    }
    let at = field("__REALTIME_TIMESTAMP")?.parse().ok()?;
    let seq = field("__SEQNUM").and_then(|s| s.parse().ok()).unwrap_or(0);
    Some((format!("journal - {tag}[{pid}]: {message}"), (at, seq)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(exe: &str, pid: &str, tag: &str, message: &str) -> String {
        entry_as(exe, pid, "0", tag, message)
    }

    fn entry_as(exe: &str, pid: &str, uid: &str, tag: &str, message: &str) -> String {
        serde_json::json!({
            "_EXE": exe, "_PID": pid, "_UID": uid, "SYSLOG_IDENTIFIER": tag, "SYSLOG_PID": "1",
            "MESSAGE": message, "__REALTIME_TIMESTAMP": "1796657721042788", "__SEQNUM": "346",
        })
        .to_string()
    }

    #[test]
    fn only_an_sftp_server_installed_under_usr_is_read_as_the_user_it_signed_in() {
        let mut sessions = std::collections::HashMap::new();
        let mut read = |json: String| message_line(&json, &mut sessions);
        // root (uid 0) signs in: believed.
        let opened = "session opened for local user root from [198.18.0.2]";
        assert!(read(entry("/usr/sbin/sshd", "4242", "internal-sftp", opened)).is_some());
        let removed = "remove name \"/srv/s/a\"";
        let (line, at) = read(entry("/usr/sbin/sshd", "4242", "internal-sftp", removed)).unwrap();
        assert_eq!(
            line,
            "journal - internal-sftp[4242]: remove name \"/srv/s/a\""
        );
        assert_eq!(at, (1_796_657_721_042_788, 346));
        // A session claimed by another uid than its user's (eve running sshd herself, with a
        // preloaded library that writes what she likes): not believed, nor what follows.
        let forged = "session opened for local user root from [203.0.113.7]";
        let sshd = "/usr/sbin/sshd";
        assert_eq!(
            read(entry_as(sshd, "77", "1000", "internal-sftp", forged)),
            None
        );
        assert_eq!(
            read(entry_as(sshd, "77", "1000", "internal-sftp", removed)),
            None
        );
        // A line of a known session's process from another uid (the pid used again): not read.
        assert_eq!(
            read(entry_as(sshd, "4242", "1000", "internal-sftp", removed)),
            None
        );
        // A user's own program, or one that is not an SFTP server, tagged as one: not read.
        for exe in ["/home/eve/sshd", "/tmp/sftp-server", "/usr/bin/logger"] {
            assert_eq!(
                read(entry(exe, "4242", "internal-sftp", "x")),
                None,
                "{exe}"
            );
        }
        assert_eq!(read(entry(sshd, "4242", "sshd", "x")), None);
        assert_eq!(read("not json".into()), None);
    }

    #[test]
    fn journalctl_s_entries_become_records_of_their_sessions() {
        use super::super::{Evidence, Source};
        let dir = tempfile::tempdir().unwrap();
        let program = dir.path().join("journalctl");
        let lines: Vec<String> = [
            "session opened for local user sys from [198.18.3.2]",
            "mkdir name \"/srv/s/d\" mode 0777",
        ]
        .iter()
        .enumerate()
        .map(|(i, m)| {
            serde_json::json!({
                "_EXE": "/usr/sbin/sshd", "_PID": "42", "_UID": "3", "SYSLOG_IDENTIFIER": "internal-sftp",
                "MESSAGE": m, "__REALTIME_TIMESTAMP": format!("{}", u64::MAX / 2 + i as u64),
            })
            .to_string()
        })
        .collect();
        std::fs::write(
            &program,
            format!(
                "#!/bin/sh\ncat <<'EOF'\n{}\nEOF\nsleep 30\n",
                lines.join("\n")
            ),
        )
        .unwrap();
        std::fs::set_permissions(
            &program,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let e = Evidence::new(vec![(
            Source::Sftp(None),
            PathBuf::from("journal"),
            Position::default(),
        )]);
        e.set_journal_program(&program);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut who = None;
        while who.is_none() && std::time::Instant::now() < deadline {
            e.catch_up();
            who = e.take(
                Path::new("/srv/s"),
                crate::core::event::Operation::CreateFolder,
                &crate::core::event::SharePath::from_config("/d"),
                None,
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let who = who.expect("the journal's record attributes the folder");
        assert_eq!(
            (who.user.as_str(), who.address.as_str()),
            ("sys", "198.18.3.2")
        );
        assert_eq!(e.catch_up()[0].1.offset, u64::MAX / 2 + 1);
    }

    #[test]
    fn the_setting_says_which_journal() {
        assert_eq!(parse(Path::new("journal")), Some(None));
        assert_eq!(
            parse(Path::new("journal:/var/log/other")),
            Some(Some(PathBuf::from("/var/log/other")))
        );
        assert_eq!(parse(Path::new("/var/log/sftp.log")), None);
        assert_eq!(parse(Path::new("journalx")), None);
    }
}
