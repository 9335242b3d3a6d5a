//! What `sharehook --help`, `sharehook manual` and `sharehook completion` say, from one set of
//! tables: the commands (their usage lines as `--help` shows them, and their options), the
//! configuration keys, the files, the signals, the environment and the exit codes. The tests
//! below read `cli.rs` and `config.rs` and fail when an option, a command or a key is not here.

use std::fmt::Write as _;

/// One command (`run`, `log`, `user`, ...).
pub struct Cmd {
    /// The word after `sharehook`.
    pub name: &'static str,
    /// One line, for completion menus.
    pub summary: &'static str,
    /// Its blocks in `--help`, in order.
    pub usage: &'static [Usage],
    pub options: &'static [Opt],
    /// The words that may follow it (`user add`, `completion bash`).
    pub words: &'static [&'static str],
    /// Whether it takes a file name as an operand (`verify FILE`).
    pub file_operand: bool,
}

/// One block of `--help`: usage lines, then what they do.
pub struct Usage {
    /// Each line after `sharehook `; a line that begins with a space continues the one before
    /// it (and is shown that much further in than the command's first word).
    pub lines: &'static [&'static str],
    /// Shown from column 36: on the last usage line when it is short enough, else below it.
    pub what: &'static [&'static str],
}

/// One option.
pub struct Opt {
    /// `--config`.
    pub long: &'static str,
    pub short: Option<char>,
    /// The name of its value (`PATH`); `None` for a flag.
    pub value: Option<&'static str>,
    pub complete: Complete,
    pub what: &'static str,
}

/// What a shell offers for an option's value.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Complete {
    Nothing,
    File,
    Dir,
    Words(&'static [&'static str]),
}

/// The first line of `--help` and the man page's NAME.
pub const ABOUT: &str = "watches shared folders and posts signed, ExaVault-compatible webhooks";

/// The last line of `--help`.
const FOOTER: &str = "The log goes to standard error; SHAREHOOK_LOG=debug shows more.";

/// Where the description of a usage block starts in `--help`.
const COLUMN: usize = 36;

const CONFIG: Opt = Opt {
    long: "--config",
    short: Some('c'),
    value: Some("PATH"),
    complete: Complete::File,
    what: "the configuration file (default /etc/sharehook/sharehook.toml)",
};
const WEBHOOK: Opt = Opt {
    long: "--webhook",
    short: None,
    value: Some("N"),
    complete: Complete::Nothing,
    what: "only webhook N (its id)",
};
const JSON: Opt = Opt {
    long: "--json",
    short: None,
    value: None,
    complete: Complete::Nothing,
    what: "print JSON, one object per line",
};
const ARRAY: Opt = Opt {
    long: "--array",
    short: None,
    value: None,
    complete: Complete::Nothing,
    what: "print one JSON array",
};
const SINCE: Opt = Opt {
    long: "--since",
    short: None,
    value: Some("T"),
    complete: Complete::Nothing,
    what: "only since T: a date (2026-11-22, 2026-11-22T10:00:00Z) or a time ago (30m, 2h, 7d)",
};
const DIR: Opt = Opt {
    long: "--dir",
    short: None,
    value: Some("PATH"),
    complete: Complete::Dir,
    what: "the folder to work in",
};

/// The options every command takes.
pub const GLOBAL: &[Opt] = &[
    Opt {
        long: "--help",
        short: Some('h'),
        value: None,
        complete: Complete::Nothing,
        what: "print the commands and their options, and exit",
    },
    Opt {
        long: "--version",
        short: Some('V'),
        value: None,
        complete: Complete::Nothing,
        what: "print the version and the git commit it was built from, and exit",
    },
];

/// Every command, in the order of `--help`.
pub const COMMANDS: &[Cmd] = &[
    Cmd {
        name: "run",
        summary: "run the daemon",
        usage: &[Usage {
            lines: &["run [--config PATH]"],
            what: &["run the daemon (default config /etc/sharehook/sharehook.toml)"],
        }],
        options: &[CONFIG],
        words: &[],
        file_operand: false,
    },
    Cmd {
        name: "check",
        summary: "check the configuration and print it, secrets hidden",
        usage: &[Usage {
            lines: &["check [--config PATH]"],
            what: &["check the configuration and print it, secrets hidden"],
        }],
        options: &[CONFIG],
        words: &[],
        file_operand: false,
    },
    Cmd {
        name: "demo",
        summary: "try it with no configuration",
        usage: &[Usage {
            lines: &["demo [--dir PATH]"],
            what: &["try it with no configuration (in ./sharehook-demo)"],
        }],
        options: &[Opt {
            what: "the demo's folder (default ./sharehook-demo)",
            ..DIR
        }],
        words: &[],
        file_operand: false,
    },
    Cmd {
        name: "log",
        summary: "the delivery log, newest first across webhooks",
        usage: &[Usage {
            lines: &[
                "log [--config PATH] [--webhook N] [--status S] [--event E] [--since T]",
                "    [--limit N] [--json | --array]",
            ],
            what: &[
                "the delivery log, newest first across webhooks (T: 2026-11-22,",
                "30m, 2h, 7d; E: an event id or name; S: a status such as 404,",
                "a class such as 5xx, transport (no HTTP answer) or failed (the",
                "attempts of events set aside as failed, whose lines end in",
                "\"(failed)\"); a webhook N that does not exist is an error",
                "(exit status 2); --json: one object per line, --array: one",
                "JSON array, not both)",
            ],
        }],
        options: &[
            CONFIG,
            WEBHOOK,
            Opt {
                long: "--status",
                short: None,
                value: Some("S"),
                complete: Complete::Words(&["2xx", "4xx", "5xx", "transport", "failed"]),
                what: "only attempts that ended with status S: an HTTP status (404) or a transport error's code, a class (2xx, 4xx, 5xx), transport (no HTTP answer: connection refused, timeout, TLS) or failed (the attempts of the events set aside as failed now)",
            },
            Opt {
                long: "--event",
                short: None,
                value: Some("E"),
                complete: Complete::Words(&["upload", "delete", "move", "rename", "createFolder"]),
                what: "only event E: an event id, or an event name (upload, delete, move, rename, createFolder, or resources.upload and so on)",
            },
            SINCE,
            Opt {
                long: "--limit",
                short: None,
                value: Some("N"),
                complete: Complete::Nothing,
                what: "at most N entries (default 100; 0: all)",
            },
            JSON,
            ARRAY,
        ],
        words: &[],
        file_operand: false,
    },
    Cmd {
        name: "failed",
        summary: "the events set aside after their last attempt failed",
        usage: &[Usage {
            lines: &["failed [--config PATH] [--webhook N] [--json | --array]"],
            what: &[
                "the events set aside after their last attempt failed (a",
                "webhook N that does not exist is an error, exit status 2)",
            ],
        }],
        options: &[CONFIG, WEBHOOK, JSON, ARRAY],
        words: &[],
        file_operand: false,
    },
    Cmd {
        name: "resend",
        summary: "send a delivery again, or put the failed events back into their queues",
        usage: &[
            Usage {
                lines: &["resend [--config PATH] [--webhook N] ATTEMPT_ID"],
                what: &["send a logged or failed delivery again, as a new attempt"],
            },
            Usage {
                lines: &["resend --failed [--config PATH] [--webhook N] [--since T]"],
                what: &["put the failed events back into their queues"],
            },
        ],
        options: &[
            CONFIG,
            WEBHOOK,
            Opt {
                long: "--failed",
                short: None,
                value: None,
                complete: Complete::Nothing,
                what: "every failed event instead of one attempt",
            },
            Opt {
                what: "with --failed: only the events that failed since T (a date or a time ago)",
                ..SINCE
            },
        ],
        words: &[],
        file_operand: false,
    },
    Cmd {
        name: "enable",
        summary: "send again to a webhook that was disabled",
        usage: &[Usage {
            lines: &["enable [--config PATH] WEBHOOK_ID"],
            what: &["send again to a webhook that was disabled"],
        }],
        options: &[CONFIG],
        words: &[],
        file_operand: false,
    },
    Cmd {
        name: "user",
        summary: "users of the management API",
        usage: &[Usage {
            lines: &[
                "user add NAME --role admin|viewer [--password-stdin] | user list [--json]",
                "user passwd NAME [--password-stdin] | user rm NAME",
            ],
            what: &[
                "users of the management API (without --password-stdin a",
                "password is made and printed on the last line)",
            ],
        }],
        options: &[
            CONFIG,
            Opt {
                long: "--role",
                short: None,
                value: Some("ROLE"),
                complete: Complete::Words(&["admin", "viewer"]),
                what: "the new user's role: admin or viewer",
            },
            Opt {
                long: "--password-stdin",
                short: None,
                value: None,
                complete: Complete::Nothing,
                what: "read the password from the first line of standard input",
            },
            JSON,
        ],
        words: &["add", "list", "passwd", "rm"],
        file_operand: false,
    },
    Cmd {
        name: "apikey",
        summary: "API keys of the management API",
        usage: &[Usage {
            lines: &["apikey add NAME [--description TEXT] | apikey list [--json] | apikey rm KEY"],
            what: &[
                "API keys (KEY: its id or value; a new key's value is printed",
                "on the last line, once)",
            ],
        }],
        options: &[
            CONFIG,
            Opt {
                long: "--description",
                short: None,
                value: Some("TEXT"),
                complete: Complete::Nothing,
                what: "what the new key is for",
            },
            JSON,
        ],
        words: &["add", "list", "rm"],
        file_operand: false,
    },
    Cmd {
        name: "token",
        summary: "access tokens of the management API",
        usage: &[Usage {
            lines: &[
                "token add --key KEY --user NAME | token list [--json]",
                "token regenerate ID | token rm ID",
            ],
            what: &["access tokens (a new value is printed on the last line, once)"],
        }],
        options: &[
            CONFIG,
            Opt {
                long: "--key",
                short: None,
                value: Some("KEY"),
                complete: Complete::Nothing,
                what: "the API key the token is made for (its id or value)",
            },
            Opt {
                long: "--user",
                short: None,
                value: Some("NAME"),
                complete: Complete::Nothing,
                what: "the user the token acts as",
            },
            JSON,
        ],
        words: &["add", "list", "regenerate", "rm"],
        file_operand: false,
    },
    Cmd {
        name: "audit",
        summary: "the changes made to users, keys, tokens and webhooks",
        usage: &[Usage {
            lines: &["audit [--config PATH] [--limit N] [--json | --array]"],
            what: &[
                "the changes made to users, keys, tokens and webhooks, newest",
                "first (--limit defaults to 100; 0: all)",
            ],
        }],
        options: &[
            CONFIG,
            Opt {
                long: "--limit",
                short: None,
                value: Some("N"),
                complete: Complete::Nothing,
                what: "at most N changes (default 100; 0: all)",
            },
            JSON,
            ARRAY,
        ],
        words: &[],
        file_operand: false,
    },
    Cmd {
        name: "status",
        summary: "how the shares and webhooks are doing",
        usage: &[Usage {
            lines: &["status [--config PATH] [--json]"],
            what: &[
                "how the shares and webhooks are doing (exit status 3:",
                "the daemon is not running; the state's counts are shown)",
            ],
        }],
        options: &[
            CONFIG,
            Opt {
                what: "print one JSON object (the shape of the API's GET /api/v2/status)",
                ..JSON
            },
        ],
        words: &[],
        file_operand: false,
    },
    Cmd {
        name: "bench",
        summary: "measure delivery, the management API or the engine on this machine",
        usage: &[
            Usage {
                lines: &["bench [--files N]"],
                what: &["measure delivery speed against a loopback receiver"],
            },
            Usage {
                lines: &["bench --api [--entries N] [--seconds S]"],
                what: &["measure the management API on a log of N entries"],
            },
            Usage {
                lines: &["bench --webhooks N"],
                what: &["threads and memory with N webhooks, beside 1 in the same run"],
            },
            Usage {
                lines: &["bench --tree FOLDERS,FILES [--dir PATH]"],
                what: &[
                    "measure start, catch-up, rescan, memory and live latency",
                    "on a tree built on a disk (in /var/tmp unless --dir)",
                ],
            },
        ],
        options: &[
            Opt {
                long: "--files",
                short: None,
                value: Some("N"),
                complete: Complete::Nothing,
                what: "deliver N files (default 5000)",
            },
            Opt {
                long: "--api",
                short: None,
                value: None,
                complete: Complete::Nothing,
                what: "measure the management API",
            },
            Opt {
                long: "--entries",
                short: None,
                value: Some("N"),
                complete: Complete::Nothing,
                what: "with --api: the delivery log's size (default 100000)",
            },
            Opt {
                long: "--seconds",
                short: None,
                value: Some("S"),
                complete: Complete::Nothing,
                what: "with --api: how long each measurement runs (default 3)",
            },
            Opt {
                long: "--webhooks",
                short: None,
                value: Some("N"),
                complete: Complete::Nothing,
                what: "measure the daemon with N webhooks",
            },
            Opt {
                long: "--tree",
                short: None,
                value: Some("FOLDERS,FILES"),
                complete: Complete::Nothing,
                what: "measure the engine on a tree of FOLDERS folders of FILES files each",
            },
            Opt {
                what: "with --tree: where the tree is built (default: in /var/tmp)",
                ..DIR
            },
        ],
        words: &[],
        file_operand: false,
    },
    Cmd {
        name: "verify",
        summary: "check a received body against its signature",
        usage: &[
            Usage {
                lines: &["verify --token TOKEN --signature SIG [FILE|-]"],
                what: &["check a received ExaVault body (FILE, or standard input)"],
            },
            Usage {
                lines: &[
                    "verify --secret whsec_... --id ID --timestamp T --signature 'v1,...' [FILE|-]",
                ],
                what: &[
                    "check a received Standard Webhooks body: ID and T are its",
                    "webhook-id and webhook-timestamp headers, the signature its",
                    "webhook-signature header (any one of its v1, entries may",
                    "match); T is not compared with the clock (both forms: exit",
                    "status 0 it matches, 1 it does not, 2 an error)",
                ],
            },
        ],
        options: &[
            Opt {
                long: "--token",
                short: None,
                value: Some("TOKEN"),
                complete: Complete::Nothing,
                what: "the webhook's verification token (32 hex characters)",
            },
            Opt {
                long: "--signature",
                short: None,
                value: Some("SIG"),
                complete: Complete::Nothing,
                what: "the X-Exavault-Signature the body came with, or the webhook-signature header (with --secret)",
            },
            Opt {
                long: "--secret",
                short: None,
                value: Some("SECRET"),
                complete: Complete::Nothing,
                what: "the webhook's Standard Webhooks secret (whsec_ and base64)",
            },
            Opt {
                long: "--id",
                short: None,
                value: Some("ID"),
                complete: Complete::Nothing,
                what: "the webhook-id header the body came with (with --secret)",
            },
            Opt {
                long: "--timestamp",
                short: None,
                value: Some("T"),
                complete: Complete::Nothing,
                what: "the webhook-timestamp header, seconds since 1970 (with --secret); not compared with the clock",
            },
        ],
        words: &[],
        file_operand: true,
    },
    Cmd {
        name: "manual",
        summary: "print this manual page, in roff",
        usage: &[Usage {
            lines: &["manual"],
            what: &["the manual page, in roff (sharehook manual | man -l -)"],
        }],
        options: &[],
        words: &[],
        file_operand: false,
    },
    Cmd {
        name: "completion",
        summary: "print a completion script for bash, zsh or fish",
        usage: &[Usage {
            lines: &["completion bash|zsh|fish"],
            what: &["a completion script for the shell"],
        }],
        options: &[],
        words: &["bash", "zsh", "fish"],
        file_operand: false,
    },
    Cmd {
        name: "help",
        summary: "print the commands and their options",
        usage: &[Usage {
            lines: &["--version | --help"],
            what: &[],
        }],
        options: GLOBAL,
        words: &[],
        file_operand: false,
    },
];

/// One configuration key.
pub struct Key {
    /// Its table: "" for the top level, else `share`, `webhook`, `delivery`, ...
    pub section: &'static str,
    pub key: &'static str,
    pub kind: &'static str,
    /// Its value when left out (`None`: it must be given).
    pub default: Option<&'static str>,
    pub what: &'static str,
}

/// The configuration's tables: name, header, what it is.
pub const SECTIONS: &[(&str, &str, &str)] = &[
    ("", "Top level", "Keys before any table."),
    (
        "share",
        "[[share]]",
        "One table per shared folder to watch; at least one. Shares must not overlap.",
    ),
    (
        "webhook",
        "[[webhook]]",
        "One table per receiver. A webhook hears about the changes in one share (or one folder of it).",
    ),
    (
        "delivery",
        "[delivery]",
        "How webhooks are sent and retried.",
    ),
    (
        "log",
        "[log]",
        "How long the delivery log keeps its entries.",
    ),
    ("watch", "[watch]", "How the shares are watched."),
    (
        "web",
        "[web]",
        "The web page and the management API's HTTP server.",
    ),
];

/// Every configuration key, by table.
pub const KEYS: &[Key] = &[
    Key {
        section: "",
        key: "account_name",
        kind: "string",
        default: Some("the host name"),
        what: "the accountname in payloads",
    },
    Key {
        section: "",
        key: "state_dir",
        kind: "path",
        default: Some("/var/lib/sharehook"),
        what: "where the state lives: queues, tokens and secrets, the delivery log, the index of the shares, the control socket",
    },
    Key {
        section: "share",
        key: "name",
        kind: "string",
        default: None,
        what: "the share's name, as payloads and webhooks name it",
    },
    Key {
        section: "share",
        key: "path",
        kind: "path",
        default: None,
        what: "the shared folder; a relative path is taken from the configuration file's folder",
    },
    Key {
        section: "share",
        key: "protocol",
        kind: "string",
        default: Some("\"smb\""),
        what: "the protocol label in payloads",
    },
    Key {
        section: "share",
        key: "watch",
        kind: "\"auto\", \"inotify\" or \"poll\"",
        default: Some("\"auto\""),
        what: "how changes are found: auto is inotify on a local file system and polling on an NFS, CIFS or FUSE mount",
    },
    Key {
        section: "share",
        key: "resources",
        kind: "\"off\", \"read\" or \"read-write\"",
        default: Some("\"off\""),
        what: "what the management API may do with the share's files",
    },
    Key {
        section: "webhook",
        key: "url",
        kind: "string",
        default: None,
        what: "where to post: an http:// or https:// URL",
    },
    Key {
        section: "webhook",
        key: "share",
        kind: "string",
        default: Some("the only share"),
        what: "the share it hears about; needed when there is more than one",
    },
    Key {
        section: "webhook",
        key: "folder",
        kind: "string",
        default: Some("\"/\""),
        what: "this folder of the share and everything in it",
    },
    Key {
        section: "webhook",
        key: "format",
        kind: "\"v1\" or \"v2\"",
        default: Some("\"v1\""),
        what: "ExaVault's flat (v1) or nested (v2) body",
    },
    Key {
        section: "webhook",
        key: "triggers",
        kind: "list of strings",
        default: Some("all five"),
        what: "the events to send: upload, delete, move, rename, createFolder",
    },
    Key {
        section: "webhook",
        key: "token",
        kind: "32 hex characters",
        default: Some("made once and kept in state_dir"),
        what: "the verification token of the X-Exavault-Signature header",
    },
    Key {
        section: "webhook",
        key: "secret",
        kind: "whsec_ and base64",
        default: Some("none"),
        what: "a Standard Webhooks secret (at least 24 bytes)",
    },
    Key {
        section: "webhook",
        key: "signature",
        kind: "\"exavault\", \"standard\" or \"both\"",
        default: Some("\"both\" with a secret, else \"exavault\""),
        what: "which signatures are sent",
    },
    Key {
        section: "webhook",
        key: "ca_file",
        kind: "path",
        default: Some("the public roots"),
        what: "trust only the CAs in this PEM file for this webhook's HTTPS",
    },
    Key {
        section: "webhook",
        key: "id",
        kind: "whole number from 1",
        default: Some("the webhook's position among the [[webhook]] tables"),
        what: "what the webhook is known by: its token, queue and failed events belong to its id",
    },
    Key {
        section: "delivery",
        key: "retry_delays",
        kind: "list of seconds",
        default: Some("[0, 5, 300, 1800, 7200, 18000, 36000, 36000]"),
        what: "the delays before attempt 1, 2, ...; each moved by up to 20% at random",
    },
    Key {
        section: "delivery",
        key: "rotation_grace",
        kind: "seconds",
        default: Some("86400"),
        what: "how long a replaced token or secret keeps signing beside the new one",
    },
    Key {
        section: "delivery",
        key: "disable_after",
        kind: "seconds",
        default: Some("432000 (5 days)"),
        what: "failing this long without one success disables a webhook; 0: never",
    },
    Key {
        section: "delivery",
        key: "connect_timeout",
        kind: "seconds",
        default: Some("5"),
        what: "the time allowed to connect",
    },
    Key {
        section: "delivery",
        key: "request_timeout",
        kind: "seconds",
        default: Some("30"),
        what: "the time allowed for the whole request",
    },
    Key {
        section: "delivery",
        key: "deny_networks",
        kind: "list of CIDR ranges",
        default: Some("[]"),
        what: "ranges never delivered to, beside the built-in ones (link-local and the cloud metadata addresses)",
    },
    Key {
        section: "delivery",
        key: "allow_networks",
        kind: "list of CIDR ranges",
        default: Some("[]"),
        what: "ranges let through even when denied",
    },
    Key {
        section: "delivery",
        key: "queue_limit",
        kind: "whole number",
        default: Some("1000000"),
        what: "the most events waiting for one webhook; beyond it the oldest are dropped",
    },
    Key {
        section: "log",
        key: "max_entries",
        kind: "whole number",
        default: Some("100000"),
        what: "the delivery log entries kept (one per attempt)",
    },
    Key {
        section: "log",
        key: "max_age_days",
        kind: "days",
        default: Some("30"),
        what: "entries older than this are removed",
    },
    Key {
        section: "watch",
        key: "settle_ms",
        kind: "milliseconds",
        default: Some("1000"),
        what: "the quiet time after a file's last change before its Upload is sent",
    },
    Key {
        section: "watch",
        key: "ignore",
        kind: "list of patterns",
        default: Some("[]"),
        what: "names never reported, added to the default list; \"!pattern\" takes a default out",
    },
    Key {
        section: "watch",
        key: "ignore_defaults",
        kind: "boolean",
        default: Some("true"),
        what: "false: only the patterns in ignore",
    },
    Key {
        section: "watch",
        key: "rescan_interval",
        kind: "seconds",
        default: Some("3600"),
        what: "the time between safety reconciles of every share with its index; 0 turns them off",
    },
    Key {
        section: "watch",
        key: "poll_interval",
        kind: "seconds",
        default: Some("30"),
        what: "the time between reads of a polled share or of a folder that cannot be watched",
    },
    Key {
        section: "web",
        key: "listen",
        kind: "address or list of addresses",
        default: Some("\"127.0.0.1:8080\""),
        what: "where the web page and the API listen; [] turns the server off",
    },
    Key {
        section: "web",
        key: "tls",
        kind: "boolean",
        default: Some("HTTPS on every address that is not loopback"),
        what: "true: HTTPS on every address; false: plain HTTP on every address (with a warning off loopback)",
    },
    Key {
        section: "web",
        key: "tls_cert",
        kind: "path",
        default: Some("a self-signed certificate made once in state_dir"),
        what: "a PEM certificate chain; goes with tls_key",
    },
    Key {
        section: "web",
        key: "tls_key",
        kind: "path",
        default: Some("the self-signed certificate's key"),
        what: "the PEM key of tls_cert",
    },
    Key {
        section: "web",
        key: "metrics",
        kind: "boolean",
        default: Some("false"),
        what: "serve Prometheus metrics at /metrics",
    },
    Key {
        section: "web",
        key: "hosts",
        kind: "list of names",
        default: Some(
            "none: IP addresses, localhost and this machine's host name (and that name under .local) only",
        ),
        what: "other names the box answers to (requests naming another are refused with 421, against DNS rebinding); [\"*\"] answers to any",
    },
];

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

/// The shells `sharehook completion` writes for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

impl std::str::FromStr for Shell {
    type Err = String;

    fn from_str(s: &str) -> Result<Shell, String> {
        match s {
            "bash" => Ok(Shell::Bash),
            "zsh" => Ok(Shell::Zsh),
            "fish" => Ok(Shell::Fish),
            other => Err(format!(
                "completion is for bash, zsh or fish, not \"{other}\""
            )),
        }
    }
}

/// `sharehook --help`.
pub fn help() -> String {
    let mut out = format!("sharehook: {ABOUT}\n\nusage:\n");
    let indent = "  ".len() + "sharehook ".len();
    for cmd in COMMANDS {
        for usage in cmd.usage {
            let mut last = String::new();
            for (i, line) in usage.lines.iter().enumerate() {
                if i > 0 {
                    out.push_str(&last);
                    out.push('\n');
                }
                last = if line.starts_with(' ') {
                    format!("{:indent$}{line}", "")
                } else {
                    format!("  sharehook {line}")
                };
            }
            let mut what = usage.what.iter();
            if last.len() + 2 <= COLUMN
                && let Some(first) = what.next()
            {
                last = format!("{last:COLUMN$}{first}");
            }
            out.push_str(&last);
            out.push('\n');
            for line in what {
                let _ = writeln!(out, "{:COLUMN$}{line}", "");
            }
        }
    }
    let _ = write!(out, "\n{FOOTER}\n");
    out
}

/// `usage: sharehook ...`: the usage lines of command `name`, joined by ` | `, for a message
/// about a command line it does not take.
pub fn usage(name: &str) -> String {
    let lines: Vec<String> = COMMANDS
        .iter()
        .filter(|c| c.name == name)
        .flat_map(|c| c.usage.iter())
        .flat_map(|u| joined(u.lines))
        .collect();
    format!("usage: sharehook {}", lines.join(" | "))
}

/// Usage lines with each continuation joined to the line before it.
fn joined(usage: &[&str]) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for line in usage {
        match lines.last_mut() {
            Some(last) if line.starts_with(' ') => {
                last.push(' ');
                last.push_str(line.trim());
            }
            _ => lines.push(line.to_string()),
        }
    }
    lines
}

/// Text for a roff text line: backslashes, hyphens (as minus signs, so options can be copied)
/// and a leading control character escaped.
fn roff(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with(['.', '\'']) {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

/// A quoted macro argument.
fn roff_arg(text: &str) -> String {
    format!("\"{}\"", roff(text).replace('"', "\\(dq"))
}

/// A usage block's lines, each whole (continuations joined), `sharehook` and the first word in
/// bold.
fn usage_lines(usage: &Usage) -> Vec<String> {
    joined(usage.lines)
        .iter()
        .map(|line| {
            let (first, rest) = line.split_once(' ').unwrap_or((line, ""));
            let rest = if rest.is_empty() {
                String::new()
            } else {
                format!(" {}", roff(rest))
            };
            format!("\\fBsharehook {}\\fR{rest}", roff(first))
        })
        .collect()
}

fn option_tag(opt: &Opt) -> String {
    let mut tag = String::new();
    if let Some(short) = opt.short {
        let _ = write!(tag, "\\fB\\-{short}\\fR, ");
    }
    let _ = write!(tag, "\\fB{}\\fR", roff(opt.long));
    if let Some(value) = opt.value {
        let _ = write!(tag, " \\fI{}\\fR", roff(value));
    }
    tag
}

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

/// A roff text line broken at spaces into lines of at most 78 bytes (a word longer than that
/// keeps its own line), none beginning with a control character.
fn wrap(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        if !current.is_empty() && current.len() + 1 + word.len() > 78 {
            lines.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
        .into_iter()
        .map(|l| {
            if l.starts_with(['.', '\'']) {
                format!("\\&{l}")
            } else {
                l
            }
        })
        .collect()
}

/// `text` with its first letter a capital, ending with a full stop.
fn capital(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    };
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// Every option, each once (commands share some).
fn all_options() -> Vec<&'static Opt> {
    let mut all: Vec<&'static Opt> = Vec::new();
    for opt in COMMANDS.iter().flat_map(|c| c.options.iter()) {
        if !all.iter().any(|o| o.long == opt.long) {
            all.push(opt);
        }
    }
    all
}

/// The words an option is known by (`-c`, `--config`).
fn spellings(opt: &Opt) -> Vec<String> {
    let mut words: Vec<String> = opt.short.map(|c| format!("-{c}")).into_iter().collect();
    words.push(opt.long.to_owned());
    words
}

/// `sharehook completion SHELL`.
pub fn completion(shell: Shell) -> String {
    match shell {
        Shell::Bash => bash(),
        Shell::Zsh => zsh(),
        Shell::Fish => fish(),
    }
}

fn bash() -> String {
    let names: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
    let global: Vec<String> = GLOBAL.iter().chain([&CONFIG]).flat_map(spellings).collect();
    let with_value: Vec<String> = all_options()
        .into_iter()
        .filter(|o| o.value.is_some())
        .flat_map(spellings)
        .collect();
    let mut out = String::new();
    out.push_str("# bash completion for sharehook (the output of sharehook completion bash)\n");
    out.push_str("_sharehook() {\n");
    // `cmd`: the command word; `n`: how many words (not options or their values) follow it.
    out.push_str("    local cur=\"${COMP_WORDS[COMP_CWORD]}\" prev=\"\" cmd=\"\" n=0 i\n");
    out.push_str("    ((COMP_CWORD > 0)) && prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n");
    out.push_str("    COMPREPLY=()\n");
    out.push_str("    for ((i = 1; i < COMP_CWORD; i++)); do\n");
    out.push_str("        case \"${COMP_WORDS[i]}\" in\n");
    let _ = writeln!(out, "            {}) ((i++)) ;;", with_value.join("|"));
    out.push_str("            -*) ;;\n");
    out.push_str("            *) [[ -z $cmd ]] && cmd=\"${COMP_WORDS[i]}\" || n=$((n + 1)) ;;\n");
    out.push_str("        esac\n");
    out.push_str("    done\n");
    // The value of the option before the cursor.
    out.push_str("    case \"$prev\" in\n");
    for opt in all_options().into_iter().filter(|o| o.value.is_some()) {
        let action = match opt.complete {
            Complete::File => "COMPREPLY=($(compgen -f -- \"$cur\"))".to_owned(),
            Complete::Dir => "COMPREPLY=($(compgen -d -- \"$cur\"))".to_owned(),
            Complete::Words(words) => {
                format!(
                    "COMPREPLY=($(compgen -W '{}' -- \"$cur\"))",
                    words.join(" ")
                )
            }
            Complete::Nothing => ":".to_owned(),
        };
        let _ = writeln!(
            out,
            "        {}) {action}; return ;;",
            spellings(opt).join("|")
        );
    }
    out.push_str("    esac\n");
    out.push_str("    local opts words=\"\" files=\"\"\n");
    out.push_str("    case \"$cmd\" in\n");
    let _ = writeln!(
        out,
        "        \"\") opts='{}'; words='{}' ;;",
        global.join(" "),
        names.join(" ")
    );
    for cmd in COMMANDS {
        let opts: Vec<String> = cmd.options.iter().flat_map(spellings).collect();
        let _ = writeln!(
            out,
            "        {}) opts='{}'; words='{}'; files={} ;;",
            cmd.name,
            opts.join(" "),
            cmd.words.join(" "),
            if cmd.file_operand { "1" } else { "\"\"" }
        );
    }
    out.push_str("        *) return ;;\n");
    out.push_str("    esac\n");
    out.push_str("    if [[ $cur == -* ]]; then\n");
    out.push_str("        COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n");
    out.push_str("    elif ((n > 0)); then\n");
    out.push_str("        return\n");
    out.push_str("    elif [[ -n $files ]]; then\n");
    out.push_str("        COMPREPLY=($(compgen -f -- \"$cur\"))\n");
    out.push_str("    else\n");
    out.push_str("        COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n");
    out.push_str("    fi\n");
    out.push_str("}\n");
    out.push_str("complete -o filenames -F _sharehook sharehook\n");
    out
}

/// Text inside a zsh `_arguments` spec in single quotes.
fn zsh_text(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('[', "\\[")
        .replace(']', "\\]")
        .replace(':', "\\:")
        .replace('\'', "'\\''")
}

fn zsh_option(opt: &Opt) -> Vec<String> {
    let value = match (opt.value, opt.complete) {
        (None, _) => String::new(),
        (Some(v), Complete::File) => format!(":{}:_files", zsh_text(v)),
        (Some(v), Complete::Dir) => format!(":{}:_files -/", zsh_text(v)),
        (Some(v), Complete::Words(words)) => format!(":{}:({})", zsh_text(v), words.join(" ")),
        (Some(v), Complete::Nothing) => format!(":{}: ", zsh_text(v)),
    };
    spellings(opt)
        .iter()
        .map(|word| format!("'{word}[{}]{value}'", zsh_text(opt.what)))
        .collect()
}

fn zsh() -> String {
    let mut out = String::new();
    out.push_str("#compdef sharehook\n");
    out.push_str("# zsh completion for sharehook (the output of sharehook completion zsh)\n");
    out.push_str("_sharehook() {\n");
    out.push_str("    local curcontext=\"$curcontext\" state line\n");
    out.push_str("    typeset -A opt_args\n");
    out.push_str("    local -a commands\n");
    out.push_str("    commands=(\n");
    for cmd in COMMANDS {
        let _ = writeln!(
            out,
            "        '{}:{}'",
            cmd.name,
            zsh_text(cmd.summary)
                .replace("\\[", "[")
                .replace("\\]", "]")
        );
    }
    out.push_str("    )\n");
    out.push_str("    _arguments -C \\\n");
    for opt in GLOBAL.iter().chain([&CONFIG]) {
        for spec in zsh_option(opt) {
            let _ = writeln!(out, "        {spec} \\");
        }
    }
    out.push_str("        '1: :->command' \\\n");
    out.push_str("        '*:: :->args'\n");
    out.push_str("    case $state in\n");
    out.push_str("    command)\n");
    out.push_str("        _describe -t commands 'sharehook command' commands\n");
    out.push_str("        ;;\n");
    out.push_str("    args)\n");
    out.push_str("        case $line[1] in\n");
    for cmd in COMMANDS {
        let _ = writeln!(out, "        {})", cmd.name);
        out.push_str("            _arguments");
        for opt in cmd.options {
            for spec in zsh_option(opt) {
                let _ = write!(out, " \\\n                {spec}");
            }
        }
        if !cmd.words.is_empty() {
            let _ = write!(
                out,
                " \\\n                '1:word:({})'",
                cmd.words.join(" ")
            );
        }
        if cmd.file_operand {
            out.push_str(" \\\n                '1:file:_files'");
        }
        out.push_str("\n            ;;\n");
    }
    out.push_str("        esac\n");
    out.push_str("        ;;\n");
    out.push_str("    esac\n");
    out.push_str("}\n");
    out.push_str("if [[ $zsh_eval_context[-1] == loadautofunc ]]; then\n");
    out.push_str("    _sharehook \"$@\"\n");
    out.push_str("else\n");
    out.push_str("    compdef _sharehook sharehook\n");
    out.push_str("fi\n");
    out
}

/// A fish single-quoted string.
fn fish_quote(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn fish_option(condition: &str, opt: &Opt) -> String {
    let mut line = format!("complete -c sharehook -n {}", fish_quote(condition));
    if let Some(short) = opt.short {
        let _ = write!(line, " -s {short}");
    }
    let _ = write!(line, " -l {}", opt.long.trim_start_matches("--"));
    match (opt.value, opt.complete) {
        (None, _) => {}
        (Some(_), Complete::File) => line.push_str(" -r -F"),
        (Some(_), Complete::Dir) => line.push_str(" -x -a '(__fish_complete_directories)'"),
        (Some(_), Complete::Words(words)) => {
            let _ = write!(line, " -x -a {}", fish_quote(&words.join(" ")));
        }
        (Some(_), Complete::Nothing) => line.push_str(" -x"),
    }
    let _ = write!(line, " -d {}", fish_quote(opt.what));
    line
}

fn fish() -> String {
    let mut out = String::new();
    out.push_str("# fish completion for sharehook (the output of sharehook completion fish)\n");
    out.push_str("complete -c sharehook -f\n");
    let top = "__fish_use_subcommand";
    for cmd in COMMANDS {
        let _ = writeln!(
            out,
            "complete -c sharehook -n {top} -a {} -d {}",
            cmd.name,
            fish_quote(cmd.summary)
        );
    }
    for opt in GLOBAL.iter().chain([&CONFIG]) {
        let _ = writeln!(out, "{}", fish_option(top, opt));
    }
    for cmd in COMMANDS {
        let seen = format!("__fish_seen_subcommand_from {}", cmd.name);
        for opt in cmd.options {
            let _ = writeln!(out, "{}", fish_option(&seen, opt));
        }
        if !cmd.words.is_empty() {
            let words = cmd.words.join(" ");
            let condition = format!("{seen}; and not __fish_seen_subcommand_from {words}");
            let _ = writeln!(
                out,
                "complete -c sharehook -n {} -a {}",
                fish_quote(&condition),
                fish_quote(&words)
            );
        }
        if cmd.file_operand {
            let _ = writeln!(out, "complete -c sharehook -n {} -F", fish_quote(&seen));
        }
    }
    out
}

#[cfg(test)]
mod tests;
