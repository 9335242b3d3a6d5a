//! Log lines on stderr, one per event and per delivery attempt. Under systemd each line starts
//! with a `<N>` priority prefix that journald reads as the level; on a terminal it starts with
//! the level's name. Level from `SHAREHOOK_LOG` (error, warn, info, debug; default info).
//! Nothing here knows about secrets: callers never pass a token, a secret or a URL's
//! credentials to a log line (see `send::redact_url`).

use std::io::{IsTerminal, Write};

use log::{Level, LevelFilter, Log, Metadata, Record};

struct Logger {
    level: LevelFilter,
    journal: bool,
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
        let line = if self.journal {
            let prio = match record.level() {
                Level::Error => 3,
                Level::Warn => 4,
                Level::Info => 6,
                Level::Debug | Level::Trace => 7,
            };
            format!("<{prio}>{}\n", record.args())
        } else {
            let name = match record.level() {
                Level::Error => "error",
                Level::Warn => "warning",
                Level::Info => "info",
                Level::Debug | Level::Trace => "debug",
            };
            format!("{name}: {}\n", record.args())
        };
        // One write per line so lines from different threads never interleave.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
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
    let journal = std::env::var_os("JOURNAL_STREAM").is_some() || !std::io::stderr().is_terminal();
    if log::set_boxed_logger(Box::new(Logger { level, journal })).is_ok() {
        log::set_max_level(level);
    }
}
