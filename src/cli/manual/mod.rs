//! What `sharehook --help`, `sharehook manual` and `sharehook completion` say, from one set of
//! tables: the commands (their usage lines as `--help` shows them, and their options), the
//! configuration keys, the files, the signals, the environment and the exit codes. The tests
//! read `cli/args.rs` and `config/read.rs` and fail when an option, a command or a key is not here.

mod commands;
mod completion;
mod keys;
mod man;

pub use commands::*;
pub use completion::completion;
pub use keys::*;
pub use man::*;

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

#[cfg(test)]
mod tests;
