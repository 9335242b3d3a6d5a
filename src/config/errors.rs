//! How a mistake in the configuration is said: serde's messages in a person's words, the
//! table a misplaced key belongs in, the key and line at fault.

use std::fmt::Write as _;

/// What `web.listen` takes, said when it is neither.
pub(super) const LISTEN_FORM: &str =
    "must be an address and port in quotes, such as \"127.0.0.1:8080\", or a list of them";

/// serde's `invalid type: string "one", expected i64`, said for people: `must be a whole
/// number (got the text "one")`. `None` for any other message.
pub(super) fn wrong_type(message: &str) -> Option<String> {
    let (got, expected) = message
        .strip_prefix("invalid type: ")?
        .rsplit_once(", expected ")?;
    let wanted = match expected {
        "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number",
        "f32" | "f64" => "a number",
        "a boolean" => "true or false",
        "a string" => "text in quotes",
        "a sequence" => "a list in brackets, such as [\"a\", \"b\"]",
        s if s.starts_with("struct ") => "a table",
        _ => return None,
    };
    let number = |prefix: &str| {
        got.strip_prefix(prefix)
            .and_then(|n| n.strip_prefix('`'))
            .and_then(|n| n.strip_suffix('`'))
            .map(|n| format!("the number {n}"))
    };
    let got = if let Some(text) = got.strip_prefix("string ") {
        format!("the text {text}")
    } else if let Some(n) = number("integer ").or_else(|| number("floating point ")) {
        n
    } else if let Some(b) = got
        .strip_prefix("boolean `")
        .and_then(|b| b.strip_suffix('`'))
    {
        b.to_owned()
    } else {
        match got {
            "sequence" => "a list".to_owned(),
            "map" => "a table".to_owned(),
            other => other.to_owned(),
        }
    };
    Some(format!("must be {wanted} (got {got})"))
}

/// The keys each table takes, for telling where a misplaced key belongs.
const TABLE_KEYS: &[(&str, &[&str])] = &[
    (
        "[[share]]",
        &["name", "path", "protocol", "watch", "resources"],
    ),
    (
        "[[webhook]]",
        &[
            "id",
            "url",
            "share",
            "folder",
            "format",
            "triggers",
            "token",
            "secret",
            "signature",
            "ca_file",
            "credentials_file",
        ],
    ),
    (
        "[delivery]",
        &[
            "retry_delays",
            "rotation_grace",
            "disable_after",
            "connect_timeout",
            "request_timeout",
            "deny_networks",
            "allow_networks",
            "queue_limit",
        ],
    ),
    ("[log]", &["max_entries", "max_age_days"]),
    (
        "[attribution]",
        &[
            "samba_audit",
            "samba_prefix",
            "sftp_log",
            "sftp_chroot",
            "fanotify",
            "download_min_bytes",
            "download_window",
            "download_ignore_users",
        ],
    ),
    (
        "[watch]",
        &[
            "settle_ms",
            "ignore",
            "ignore_defaults",
            "rescan_interval",
            "poll_interval",
        ],
    ),
    (
        "[web]",
        &["listen", "tls", "tls_cert", "tls_key", "metrics", "hosts"],
    ),
];

/// The keys that go before every table.
const TOP_LEVEL_KEYS: &[&str] = &["account_name", "state_dir"];

/// For an unknown key at `key` that is a key of another table (or a top-level key written
/// after a table, which TOML then puts in that table), where it belongs.
pub(super) fn misplaced(key: &str, message: &str) -> Option<String> {
    let field = message.strip_prefix("unknown field `")?.split_once('`')?.0;
    // The table it landed in: `webhook[1]` is a [[webhook]], `delivery` the [delivery].
    let table = key
        .strip_suffix(field)
        .map(|t| t.strip_suffix('.').unwrap_or(t))?;
    let header = match table.split_once('[') {
        _ if table.is_empty() => None,
        Some((name, _)) => Some(format!("[[{name}]]")),
        None => Some(format!("[{table}]")),
    };
    if TOP_LEVEL_KEYS.contains(&field) {
        let header = header?;
        return Some(format!(
            "`{field}` is a top-level key but comes after {header}; TOML puts it in that table \
             — move it above the first [table]"
        ));
    }
    let (home, _) = TABLE_KEYS.iter().find(|(_, keys)| keys.contains(&field))?;
    Some(match header {
        Some(header) => format!(
            "`{field}` is a key of {home}, not of {header}; TOML puts a key in the table above \
             it — move it under {home}"
        ),
        None => format!("`{field}` is a key of {home}: move it under {home}"),
    })
}

pub(super) fn key_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => {
                let _ = write!(out, "[{}]", index + 1);
            }
            // `Spanned` wraps a value in a private one-key table; it is not the user's key.
            Segment::Map { key } if key.starts_with("$__serde_spanned") => {}
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    out
}

pub(super) fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}
