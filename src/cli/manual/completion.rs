//! `sharehook completion SHELL`: the completion scripts for bash, zsh and fish, from the
//! same tables as `--help`.

use std::fmt::Write as _;

use super::*;

/// `sharehook completion SHELL`.
pub fn completion(shell: Shell) -> String {
    match shell {
        Shell::Bash => bash(),
        Shell::Zsh => zsh(),
        Shell::Fish => fish(),
    }
}

pub(super) fn bash() -> String {
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
pub(super) fn zsh_text(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('[', "\\[")
        .replace(']', "\\]")
        .replace(':', "\\:")
        .replace('\'', "'\\''")
}

pub(super) fn zsh_option(opt: &Opt) -> Vec<String> {
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

pub(super) fn zsh() -> String {
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
pub(super) fn fish_quote(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

pub(super) fn fish_option(condition: &str, opt: &Opt) -> String {
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

pub(super) fn fish() -> String {
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
