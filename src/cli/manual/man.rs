//! The man page: its sections beyond the commands (files, signals, environment, exit codes)
//! and the page itself, in roff.

use super::*;

/// The files sharehook reads and writes (each row: the name, then a sentence).
pub const FILES: &[(&str, &str)] = &[
    (
        "/etc/sharehook/sharehook.toml",
        "The configuration (another with --config).",
    ),
    (
        "/var/lib/sharehook",
        "The state folder (state_dir), for sharehook's own user only.",
    ),
    (
        "/var/lib/sharehook/sharehook.redb",
        "The state: queues, tokens and secrets, failed events, the delivery log, the audit log, the users and keys, the index of the shares.",
    ),
    (
        "/var/lib/sharehook/control.sock",
        "The running daemon's control socket (0600): resend, enable and status go through it.",
    ),
    (
        "/var/lib/sharehook/web-cert.pem",
        "The self-signed certificate of the web server, made once when tls_cert is not given.",
    ),
    ("/var/lib/sharehook/web-key.pem", "Its key."),
];

/// The signals the daemon (`sharehook run`) acts on.
pub const SIGNALS: &[(&str, &str)] = &[
    (
        "SIGHUP",
        "Read the configuration again (systemctl reload sharehook): a file with a mistake is refused, logged, and the running configuration stays; moving state_dir or changing [web] needs a restart.",
    ),
    (
        "SIGTERM",
        "Stop cleanly: the current attempts end, queued events stay queued for the next start.",
    ),
    ("SIGINT", "The same as SIGTERM."),
];

/// The environment variables sharehook reads.
pub const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "SHAREHOOK_LOG",
        "How much is logged: error, warn, info (the default), debug or trace.",
    ),
    (
        "SHAREHOOK_TRACE",
        "A file (%p in it becomes the process id) to write a trace of the watch rules to; it holds file names.",
    ),
    (
        "SHAREHOOK_LOG_FILE",
        "1: each log line begins with its UTC time and level (the SysV and OpenRC scripts set it, as they send standard error to /var/log/sharehook.log).",
    ),
    (
        "JOURNAL_STREAM",
        "When set (or when standard error is not a terminal) each log line begins with a <N> priority that journald understands.",
    ),
    (
        "NOTIFY_SOCKET",
        "The notification socket of systemd: sharehook run says when it is ready, reloading and stopping.",
    ),
    (
        "WATCHDOG_USEC, WATCHDOG_PID",
        "The watchdog of systemd: sharehook run pings it while the engine is alive.",
    ),
    (
        "SHAREHOOK_BENCH_DAEMON",
        "For bench --tree: another sharehook binary to measure.",
    ),
];

/// The exit codes.
pub const EXIT_CODES: &[(&str, &str)] = &[
    (
        "0",
        "Done (verify: the signature matches; status: the daemon is running).",
    ),
    (
        "1",
        "Failed: a configuration with a mistake, a state that cannot be read, a signature that does not match (verify), a resend that did not get a 2xx answer.",
    ),
    ("2", "The command line was wrong."),
    ("3", "The daemon is not running (status only)."),
];

const DESCRIPTION: &[&str] = &[
    "sharehook watches the folders of a NAS (Samba, NFS or any local folder) and posts a signed webhook for each upload, delete, move, rename and new folder, in the bodies ExaVault sends. Each webhook has its own queue, retries on a schedule and keeps a delivery log; a web page and an ExaVault-compatible management API show and change what it does.",
    "It runs as a systemd service (sharehook run); the other commands read its state, or reach the running daemon through its control socket.",
];

const SEE_ALSO: &[(&str, &str)] = &[
    ("systemctl", "1"),
    ("journalctl", "1"),
    ("systemd.service", "5"),
    ("inotify", "7"),
];

/// `sharehook manual`: the man page, in roff with the man(7) macros.
pub fn man_page() -> String {
    let mut out = String::new();
    let mut line = |text: &str| {
        if text.starts_with('.') {
            out.push_str(text);
            out.push('\n');
        } else {
            for wrapped in wrap(text) {
                out.push_str(&wrapped);
                out.push('\n');
            }
        }
    };
    line(".\\\" The output of sharehook manual: the same tables as sharehook --help.");
    line(&format!(
        // The date as it is: mandoc reads YYYY-MM-DD, not its hyphens escaped.
        ".TH SHAREHOOK 1 \"{}\" {} \"User Commands\"",
        env!("SHAREHOOK_DATE"),
        roff_arg(&format!("sharehook {}", env!("CARGO_PKG_VERSION")))
    ));
    // Paths, options and URLs are not hyphenated, and lines are not stretched.
    line(".nh");
    line(".ad l");
    line(".SH NAME");
    line(&format!("sharehook \\- {}", roff(ABOUT)));
    line(".SH SYNOPSIS");
    let mut first = true;
    for cmd in COMMANDS {
        for usage in cmd.usage {
            for text in usage_lines(usage) {
                if !first {
                    line(".br");
                }
                first = false;
                line(&text);
            }
        }
    }
    line(".SH DESCRIPTION");
    for (i, paragraph) in DESCRIPTION.iter().enumerate() {
        if i > 0 {
            line(".PP");
        }
        line(&roff(paragraph));
    }
    line(".SH COMMANDS");
    for cmd in COMMANDS {
        line(&format!(".SS {}", roff_arg(cmd.name)));
        for (n, usage) in cmd.usage.iter().enumerate() {
            // A paragraph begins with each heading already.
            if n > 0 {
                line(".PP");
            }
            for (i, text) in usage_lines(usage).iter().enumerate() {
                if i > 0 {
                    line(".br");
                }
                line(text);
            }
            if !usage.what.is_empty() {
                line(".RS");
                line(&roff(&usage.what.join(" ")));
                line(".RE");
            }
        }
        if !cmd.options.is_empty() {
            line(".PP");
            line("Options:");
            line(".RS");
            for opt in cmd.options {
                line(".TP");
                line(&option_tag(opt));
                line(&roff(opt.what));
            }
            line(".RE");
        }
    }
    line(".SH CONFIGURATION");
    line(&roff(
        "The configuration is a TOML file: /etc/sharehook/sharehook.toml, or the file --config names. \
         Any mistake (an unknown key, a value out of range, a share path that does not exist) stops \
         sharehook run and sharehook check with one line naming the file, the line and the key, and \
         exit status 1; sharehook check prints the configuration in effect, every default filled in \
         and secrets hidden. Times are in seconds and may be fractions unless the key says otherwise.",
    ));
    for (section, header, what) in SECTIONS {
        line(&format!(".SS {}", roff_arg(header)));
        line(&roff(what));
        for key in KEYS.iter().filter(|k| k.section == *section) {
            line(".TP");
            line(&format!(
                "\\fB{}\\fR = \\fI{}\\fR",
                roff(key.key),
                roff(key.kind)
            ));
            let default = match key.default {
                Some(default) => format!("default: {default}"),
                None => "required".to_owned(),
            };
            line(&roff(&format!("{} ({default})", capital(key.what))));
        }
    }
    let table = |out: &mut dyn FnMut(&str), title: &str, rows: &[(&str, &str)], bold: bool| {
        out(&format!(".SH {title}"));
        for (name, what) in rows {
            out(".TP");
            let font = if bold { "B" } else { "I" };
            out(&format!("\\f{font}{}\\fR", roff(name)));
            out(&roff(what));
        }
    };
    table(&mut line, "FILES", FILES, false);
    table(&mut line, "SIGNALS", SIGNALS, true);
    table(&mut line, "ENVIRONMENT", ENVIRONMENT, true);
    table(&mut line, "EXIT STATUS", EXIT_CODES, true);
    line(".SH SEE ALSO");
    for (i, (page, section)) in SEE_ALSO.iter().enumerate() {
        let comma = if i + 1 < SEE_ALSO.len() { "," } else { "" };
        line(&format!(".BR {} ({section}){comma}", roff(page)));
    }
    out
}
