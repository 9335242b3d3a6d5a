//! The tests of `manual`.

use super::*;

const CLI: &str = include_str!("../args.rs");
const CONFIG_RS: &str = include_str!("../../config/read.rs");

/// The commands `cli::parse` matches: the quoted words of the arms of its
/// `match sub.as_deref()`.
fn parsed_commands() -> Vec<String> {
    let start = CLI
        .find("let command = match sub.as_deref() {")
        .expect("cli.rs matches the command word");
    let end = start + CLI[start..].find("Some(other) =>").expect("the last arm");
    let mut names = Vec::new();
    for line in CLI[start..end].lines().map(str::trim) {
        if !(line.starts_with("Some(") || line.starts_with("None | Some(")) {
            continue;
        }
        let pattern = line.split("=>").next().unwrap_or("");
        let pattern = pattern.split(" if ").next().unwrap_or("");
        for (i, quoted) in pattern.split('"').enumerate() {
            if i % 2 == 1 && !names.iter().any(|n| n == quoted) {
                names.push(quoted.to_owned());
            }
        }
    }
    assert!(names.len() > 10, "found too few commands: {names:?}");
    names
}

/// The options `cli::parse` matches: every `Long("...")` and `Short('.')`.
fn parsed_options() -> (Vec<String>, Vec<char>) {
    let longs = CLI
        .split("Long(\"")
        .skip(1)
        .map(|rest| format!("--{}", rest.split('"').next().unwrap_or("")))
        .collect();
    let shorts = CLI
        .split("Short('")
        .skip(1)
        .filter_map(|rest| rest.chars().next())
        .collect();
    (longs, shorts)
}

fn documented() -> impl Iterator<Item = &'static Opt> {
    COMMANDS.iter().flat_map(|c| c.options.iter()).chain(GLOBAL)
}

#[test]
fn every_command_parse_accepts_is_in_the_table_the_help_and_the_page() {
    let help = help();
    let page = man_page();
    for name in parsed_commands() {
        let cmd = COMMANDS
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("cli.rs accepts \"{name}\" but manual.rs has no Cmd for it"));
        let shown = if name == "help" {
            "sharehook --version | --help".to_owned()
        } else {
            format!("  sharehook {name} ")
        };
        assert!(
            help.contains(&shown) || help.contains(&format!("  sharehook {name}\n")),
            "--help does not show {name}:\n{help}"
        );
        assert!(page.contains(&format!(".SS \"{}\"", cmd.name)), "{name}");
        let first = cmd.usage[0].lines[0].split(' ').next().unwrap_or("");
        assert!(
            page.contains(&format!("\\fBsharehook {}\\fR", roff(first))),
            "the man page's synopsis lacks {name}"
        );
    }
    // And nothing is documented that parse does not take.
    let parsed = parsed_commands();
    for cmd in COMMANDS {
        assert!(
            parsed.iter().any(|p| p == cmd.name),
            "{} is not parsed",
            cmd.name
        );
    }
}

#[test]
fn every_option_parse_accepts_is_documented_and_the_other_way() {
    let (longs, shorts) = parsed_options();
    assert!(longs.len() > 20, "{longs:?}");
    for long in &longs {
        assert!(
            documented().any(|o| o.long == long),
            "cli.rs parses {long} but no command in manual.rs documents it"
        );
    }
    for short in &shorts {
        assert!(
            documented().any(|o| o.short == Some(*short)),
            "cli.rs parses -{short} but manual.rs does not document it"
        );
    }
    for opt in documented() {
        assert!(
            longs.iter().any(|l| l == opt.long),
            "{} is not parsed",
            opt.long
        );
        if let Some(short) = opt.short {
            assert!(shorts.contains(&short), "-{short} is not parsed");
        }
    }
}

#[test]
fn each_commands_options_are_in_its_usage_lines() {
    for cmd in COMMANDS {
        let usage: String = cmd
            .usage
            .iter()
            .flat_map(|u| u.lines.iter())
            .copied()
            .collect();
        // `user`, `apikey` and `token` take --config too; their lines are long enough.
        for opt in cmd.options.iter().filter(|o| o.long != "--config") {
            assert!(
                usage.contains(opt.long),
                "{} documents {} but its usage lines do not show it",
                cmd.name,
                opt.long
            );
        }
        // And each option its usage lines show is described.
        for word in usage.split([' ', '[', ']', '|']) {
            if word.starts_with("--") {
                assert!(
                    cmd.options.iter().any(|o| o.long == word),
                    "{}'s usage shows {word}, which it does not describe",
                    cmd.name
                );
            }
        }
    }
}

#[test]
fn help_keeps_its_layout() {
    let help = help();
    assert!(help.starts_with("sharehook: watches shared folders"));
    assert!(help.contains(
        "\n  sharehook run [--config PATH]     run the daemon (default config /etc/sharehook/sharehook.toml)\n"
    ));
    assert!(help.contains(
        "\n  sharehook log [--config PATH] [--webhook N] [--status S] [--event E] [--since T]\n                \
         [--limit N] [--json | --array]\n                                    the delivery log"
    ));
    assert!(help.contains("\n  sharehook bench --webhooks N      threads"));
    assert!(help.ends_with(
        "--version | --help\n\nThe log goes to standard error; SHAREHOOK_LOG=debug shows more.\n"
    ));
    for line in help.lines() {
        assert!(line.len() <= 100, "too long: {line}");
        assert_eq!(line.trim_end(), line, "trailing blanks: {line:?}");
    }
}

/// The `Raw*` structs of config/read.rs: name and fields (name, type).
fn raw_structs() -> Vec<(String, Vec<(String, String)>)> {
    let mut structs = Vec::new();
    for chunk in CONFIG_RS.split("\nstruct ").skip(1) {
        let name = chunk.split([' ', '{']).next().unwrap_or("").to_owned();
        if !name.starts_with("Raw") {
            continue;
        }
        let body = chunk.split_once('{').expect("a struct body").1;
        let body = body.split("\n}").next().expect("the struct's end");
        assert!(
            !["rename", "alias", "flatten"]
                .iter()
                .any(|a| body.contains(a)),
            "{name}: a serde attribute changes the keys; teach this test to read it"
        );
        let fields = body
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("//"))
            .map(|l| {
                let (field, ty) = l.split_once(':').expect("field: type");
                (field.trim().to_owned(), ty.trim().to_owned())
            })
            .collect();
        structs.push((name, fields));
    }
    structs
}

/// Every key config/read.rs accepts, as (section, key).
fn accepted_keys() -> Vec<(String, String)> {
    let structs = raw_structs();
    let fields = |name: &str| {
        structs
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("config.rs has no struct {name}"))
            .1
            .clone()
    };
    let mut keys = Vec::new();
    for (field, ty) in fields("RawConfig") {
        match ty.split("Raw").nth(1) {
            Some(rest) => {
                let table: String = rest
                    .chars()
                    .take_while(char::is_ascii_alphanumeric)
                    .collect();
                for (key, _) in fields(&format!("Raw{table}")) {
                    keys.push((field.clone(), key));
                }
            }
            None => keys.push((String::new(), field)),
        }
    }
    keys
}

#[test]
fn every_configuration_key_is_documented_and_the_other_way() {
    let accepted = accepted_keys();
    assert!(accepted.len() > 30, "{accepted:?}");
    let page = man_page();
    for (section, key) in &accepted {
        assert!(
            KEYS.iter().any(|k| k.section == section && k.key == key),
            "config.rs accepts {section}.{key} but manual.rs KEYS does not document it"
        );
        assert!(
            SECTIONS.iter().any(|(s, _, _)| s == section),
            "no SECTIONS entry for [{section}]"
        );
        assert!(page.contains(&format!("\\fB{}\\fR = ", roff(key))), "{key}");
    }
    for key in KEYS {
        assert!(
            accepted
                .iter()
                .any(|(s, k)| s == key.section && k == key.key),
            "manual.rs documents {}.{}, which config.rs does not accept",
            key.section,
            key.key
        );
    }
    // In the CONFIGURATION section, under its table's header.
    let config = page
        .split(".SH CONFIGURATION")
        .nth(1)
        .and_then(|s| s.split(".SH FILES").next())
        .expect("a CONFIGURATION section");
    for (_, header, _) in SECTIONS {
        assert!(config.contains(&format!(".SS {}", roff_arg(header))));
    }
}

#[test]
fn the_man_page_has_its_sections() {
    let page = man_page();
    for section in [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "COMMANDS",
        "CONFIGURATION",
        "FILES",
        "SIGNALS",
        "ENVIRONMENT",
        "EXIT STATUS",
        "SEE ALSO",
    ] {
        assert!(page.contains(&format!("\n.SH {section}\n")), "{section}");
    }
    for line in page.lines() {
        assert!(!line.is_empty(), "a blank line");
        assert_eq!(line.trim(), line, "blanks around {line:?}");
        assert!(
            line.starts_with('.') || !line.starts_with('\''),
            "a text line read as a request: {line}"
        );
    }
    assert!(page.contains("\\fB\\-c\\fR, \\fB\\-\\-config\\fR \\fIPATH\\fR"));
    assert!(page.contains("SHAREHOOK_LOG"));
    assert!(page.contains("/var/lib/sharehook/sharehook.redb"));
}

#[test]
fn text_lines_are_wrapped_without_a_leading_control_character() {
    let long = format!("{} .dot 'quote", "word ".repeat(15));
    let lines = wrap(&long);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].len() <= 78);
    assert!(lines[1].starts_with("\\&.dot"), "{lines:?}");
    assert_eq!(wrap(&"x".repeat(90)), vec!["x".repeat(90)]);
    assert!(
        man_page()
            .lines()
            .all(|l| l.starts_with('.') || l.len() <= 78)
    );
}

#[test]
fn roff_specials_are_escaped() {
    assert_eq!(roff(".hidden"), "\\&.hidden");
    assert_eq!(roff("'quote"), "\\&'quote");
    assert_eq!(roff("a\\b --x"), "a\\eb \\-\\-x");
    assert_eq!(roff_arg("say \"hi\""), "\"say \\(dqhi\\(dq\"");
}

/// groff and mandoc read the page with every warning on, and say nothing; a missing tool
/// fails with the package to install (tests/all.sh installs both).
#[test]
fn the_man_page_renders_without_warnings() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let checks: [(&str, &[&str], &str); 2] = [
        ("groff", &["-man", "-Tutf8", "-ww", "-z"], "groff-base"),
        ("mandoc", &["-T", "lint", "-W", "warning"], "mandoc"),
    ];
    for (tool, args, package) in checks {
        let mut child = Command::new(tool)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{tool} is needed: apt-get install {package} ({e})"));
        child
            .stdin
            .take()
            .unwrap()
            .write_all(man_page().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success() && said.is_empty(), "{tool}: {said}");
    }
}

#[test]
fn completions_name_every_command_and_option() {
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let script = completion(shell);
        for cmd in COMMANDS {
            assert!(script.contains(cmd.name), "{shell:?}: {}", cmd.name);
            for opt in cmd.options {
                let word = match shell {
                    Shell::Fish => format!("-l {}", opt.long.trim_start_matches("--")),
                    _ => opt.long.to_owned(),
                };
                assert!(script.contains(&word), "{shell:?}: {}", opt.long);
            }
        }
    }
    assert_eq!("zsh".parse(), Ok(Shell::Zsh));
    assert!("tcsh".parse::<Shell>().is_err());
}
