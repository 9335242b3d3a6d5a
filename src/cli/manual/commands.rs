//! The commands and their options, in the order of `--help`.

use super::{Cmd, Complete, Opt, Usage};

/// The first line of `--help` and the man page's NAME.
pub const ABOUT: &str = "watches shared folders and posts signed, ExaVault-compatible webhooks";

/// The last line of `--help`.
pub(super) const FOOTER: &str = "The log goes to standard error; SHAREHOOK_LOG=debug shows more.";

/// Where the description of a usage block starts in `--help`.
pub(super) const COLUMN: usize = 36;

pub(super) const CONFIG: Opt = Opt {
    long: "--config",
    short: Some('c'),
    value: Some("PATH"),
    complete: Complete::File,
    what: "the configuration file (default /etc/sharehook/sharehook.toml)",
};
pub(super) const WEBHOOK: Opt = Opt {
    long: "--webhook",
    short: None,
    value: Some("N"),
    complete: Complete::Nothing,
    what: "only webhook N (its id)",
};
pub(super) const JSON: Opt = Opt {
    long: "--json",
    short: None,
    value: None,
    complete: Complete::Nothing,
    what: "print JSON, one object per line",
};
pub(super) const ARRAY: Opt = Opt {
    long: "--array",
    short: None,
    value: None,
    complete: Complete::Nothing,
    what: "print one JSON array",
};
pub(super) const SINCE: Opt = Opt {
    long: "--since",
    short: None,
    value: Some("T"),
    complete: Complete::Nothing,
    what: "only since T: a date (2026-11-22, 2026-11-22T10:00:00Z) or a time ago (30m, 2h, 7d)",
};
pub(super) const DIR: Opt = Opt {
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
                lines: &["bench --attribution [--entries N]"],
                what: &["read a Samba audit log of N records, beside wc -l"],
            },
            Usage {
                lines: &["bench --nats URL | --mqtt URL [--files N]"],
                what: &[
                    "measure delivery to a broker beside a raw loop of publishes,",
                    "each awaiting its acknowledgement, to the same broker",
                ],
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
                long: "--attribution",
                short: None,
                value: None,
                complete: Complete::Nothing,
                what: "measure reading Samba's audit log",
            },
            Opt {
                long: "--nats",
                short: None,
                value: Some("URL"),
                complete: Complete::Nothing,
                what: "measure delivery to this nats:// URL's stream (which must exist)",
            },
            Opt {
                long: "--mqtt",
                short: None,
                value: Some("URL"),
                complete: Complete::Nothing,
                what: "measure delivery to this mqtt:// URL's broker",
            },
            Opt {
                long: "--entries",
                short: None,
                value: Some("N"),
                complete: Complete::Nothing,
                what: "with --api: the delivery log's size; with --attribution: the audit log's records (default 100000)",
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
        name: "setup",
        summary: "print what another program needs to work with sharehook",
        usage: &[
            Usage {
                lines: &["setup nats [--stream NAME] [--subject S]... [--replicas N]"],
                what: &[
                    "the JetStream stream definition (JSON, as `nats stream add",
                    "--config` takes it) that nats:// webhooks publish into",
                ],
            },
            Usage {
                lines: &["setup samba [--audit-log PATH]"],
                what: &[
                    "the smb.conf lines that make Samba record who made each",
                    "change and from where, in the log [attribution] samba_audit",
                    "names",
                ],
            },
            Usage {
                lines: &["setup sftp [--log PATH] [--chroot DIR]"],
                what: &[
                    "the sshd_config and rsyslog lines that make OpenSSH's SFTP",
                    "server record who made each change and download, in the log",
                    "[attribution] sftp_log names",
                ],
            },
        ],
        options: &[
            Opt {
                long: "--stream",
                short: None,
                value: Some("NAME"),
                complete: Complete::Nothing,
                what: "setup nats: the stream's name (default FILES)",
            },
            Opt {
                long: "--subject",
                short: None,
                value: Some("S"),
                complete: Complete::Nothing,
                what: "setup nats: a subject the stream takes, wildcards allowed; again for more (default files.>)",
            },
            Opt {
                long: "--replicas",
                short: None,
                value: Some("N"),
                complete: Complete::Nothing,
                what: "setup nats: how many servers keep each message (default 3; 1 for a single server)",
            },
            Opt {
                long: "--audit-log",
                short: None,
                value: Some("PATH"),
                complete: Complete::File,
                what: "where Samba writes the audit log (default /var/log/samba/audit.log)",
            },
            Opt {
                long: "--log",
                short: None,
                value: Some("PATH"),
                complete: Complete::File,
                what: "where rsyslog writes the SFTP log (default /var/log/sftp.log)",
            },
            Opt {
                long: "--chroot",
                short: None,
                value: Some("DIR"),
                complete: Complete::File,
                what: "sshd's ChrootDirectory for SFTP sessions, if they are locked in one",
            },
        ],
        words: &["nats", "samba", "sftp"],
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
