//! Log lines on stderr, one per event and per delivery attempt. Under systemd each line starts
//! with a `<N>` priority prefix that journald reads as the level; on a terminal it starts with
//! the level's name. Level from `SHAREHOOK_LOG` (error, warn, info, debug; default info).
//! `SHAREHOOK_LOG_FILE=1` (set by the SysV and OpenRC scripts, which send standard error to a
//! file) begins each line with its UTC time and its level's name instead.
//! Control characters never reach the journal or a terminal: every line is escaped here.
//! Nothing here knows about secrets: callers never pass a token, a secret or a URL's
//! credentials to a log line (see `redact::redact_url`).

use std::io::{IsTerminal, Write};

use log::{Level, LevelFilter, Log, Metadata, Record};

use crate::core::event::escape_controls;

struct Logger {
    level: LevelFilter,
    form: Form,
}

/// How a line begins.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Form {
    /// `<6>`: journald's priority prefix.
    Journal,
    /// `info: `, for a terminal.
    Named,
    /// `2026-11-23T09:15:01.123Z info: `, for a log file.
    Timed,
}

impl Log for Logger {
    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        // Libraries speak only of problems; our own lines go down to the chosen level.
        let own = meta.target().starts_with("sharehook");
        meta.level()
            <= if own {
                self.level
            } else {
                self.level.min(LevelFilter::Warn)
            }
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let mut line = line(
            self.form == Form::Journal,
            record.level(),
            &record.args().to_string(),
        );
        if self.form == Form::Timed {
            line.insert(0, ' ');
            line.insert_str(0, &crate::core::payload::rfc3339(crate::deliver::now_ms()));
        }
        // One write per line so lines from different threads never interleave.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

/// One whole log line, newline included. Control characters in `message` are escaped whatever
/// put them there (a file name, a server's answer, an error from a library): a newline would
/// start a line of its own, which journald reads with whatever `<N>` priority it begins with,
/// and an escape sequence would drive the terminal of whoever reads the log.
fn line(journal: bool, level: Level, message: &str) -> String {
    let message = escape_controls(message);
    if journal {
        let prio = match level {
            Level::Error => 3,
            Level::Warn => 4,
            Level::Info => 6,
            Level::Debug | Level::Trace => 7,
        };
        format!("<{prio}>{message}\n")
    } else {
        let name = match level {
            Level::Error => "error",
            Level::Warn => "warning",
            Level::Info => "info",
            Level::Debug | Level::Trace => "debug",
        };
        format!("{name}: {message}\n")
    }
}

/// Installs the logger once; later calls do nothing.
pub fn init() {
    let level = match std::env::var("SHAREHOOK_LOG").as_deref() {
        Ok("error") => LevelFilter::Error,
        Ok("warn") => LevelFilter::Warn,
        Ok("debug") => LevelFilter::Debug,
        Ok("trace") => LevelFilter::Trace,
        _ => LevelFilter::Info,
    };
    let form = if std::env::var_os("SHAREHOOK_LOG_FILE").is_some_and(|v| v == "1") {
        Form::Timed
    } else if std::env::var_os("JOURNAL_STREAM").is_some() || !std::io::stderr().is_terminal() {
        Form::Journal
    } else {
        Form::Named
    };
    if log::set_boxed_logger(Box::new(Logger { level, form })).is_ok() {
        log::set_max_level(level);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_one_line_whatever_it_holds() {
        assert_eq!(
            line(
                true,
                Level::Info,
                "event 1: Upload /a\n<0>event 999: Delete /x"
            ),
            "<6>event 1: Upload /a\\x0a<0>event 999: Delete /x\n"
        );
        assert_eq!(
            line(false, Level::Warn, "bad \u{1b}[2J\u{9b}0m\r"),
            "warning: bad \\x1b[2J\\u{9b}0m\\x0d\n"
        );
        assert_eq!(line(true, Level::Error, "plain"), "<3>plain\n");
        assert_eq!(
            line(true, Level::Info, "Upload /evil\u{202e}txt.exe"),
            "<6>Upload /evil\\u{202e}txt.exe\n"
        );
    }
}
