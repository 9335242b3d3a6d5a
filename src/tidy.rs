//! The house rules, kept by reading the source: every file opens with a `//!` line saying
//! what it owns, no file passes `MAX_LINES` lines, a module uses only its own layer and the
//! layers below it, and no modules use one another in a circle.
//!
//! The checker reads Rust well enough for this code base, not in general: comments, strings
//! and characters are blanked first; `crate::` and `super::` paths (grouped `{...}` ones too)
//! are what a module uses; code under `#[cfg(test)]` (a `mod tests { ... }`, or a file the
//! parent declares that way) is left out of the layers and the circles, as tests may reach
//! anywhere.

use std::collections::{BTreeMap, BTreeSet};

/// The longest a file may be.
pub const MAX_LINES: usize = 800;

/// One source file: its path under `src/` (`engine/ahead.rs`) and its text.
pub struct Source {
    pub path: String,
    pub text: String,
}

/// The module a file is (`engine::ahead`; `engine` for `engine/mod.rs`; `` for the roots).
fn module_of(path: &str) -> String {
    let stem = path.strip_suffix(".rs").unwrap_or(path);
    let stem = stem.strip_suffix("/mod").unwrap_or(stem);
    if stem == "lib" || stem == "main" {
        return String::new();
    }
    stem.replace('/', "::")
}

fn parent(module: &str) -> String {
    module
        .rsplit_once("::")
        .map_or(String::new(), |(p, _)| p.to_owned())
}

/// Whether `a` is `b` or holds it (`engine` holds `engine::ahead`).
fn holds(a: &str, b: &str) -> bool {
    a.is_empty() || a == b || b.strip_prefix(a).is_some_and(|rest| rest.starts_with("::"))
}

/// `text` with comments, string and character literals replaced by spaces (lines kept).
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let blank = |out: &mut Vec<u8>, bytes: &[u8]| {
        out.extend(bytes.iter().map(|&c| if c == b'\n' { b'\n' } else { b' ' }));
    };
    while i < b.len() {
        let rest = &b[i..];
        if rest.starts_with(b"//") {
            let end = rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len());
            blank(&mut out, &rest[..end]);
            i += end;
        } else if rest.starts_with(b"/*") {
            // Block comments nest.
            let (mut depth, mut j) = (0usize, 0);
            while j < rest.len() {
                if rest[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if rest[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, &rest[..j]);
            i += j;
        } else if let Some(len) = raw_string(rest) {
            blank(&mut out, &rest[..len]);
            i += len;
        } else if rest[0] == b'"' || rest.starts_with(b"b\"") {
            let start = usize::from(rest[0] == b'b');
            let mut j = start + 1;
            while j < rest.len() && rest[j] != b'"' {
                j += if rest[j] == b'\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(rest.len());
            blank(&mut out, &rest[..end]);
            i += end;
        } else if rest[0] == b'\'' {
            // A character ('x', '\n', '\u{1F600}') or a lifetime ('a, 'static).
            let close = if rest.get(1) == Some(&b'\\') {
                rest.iter().skip(2).position(|&c| c == b'\'').map(|p| p + 3)
            } else {
                let ch = std::str::from_utf8(&rest[1..rest.len().min(6)])
                    .ok()
                    .or_else(|| std::str::from_utf8(&rest[1..rest.len().min(5)]).ok())
                    .and_then(|s| s.chars().next());
                ch.map(char::len_utf8)
                    .filter(|&n| rest.get(1 + n) == Some(&b'\''))
                    .map(|n| n + 2)
            };
            let len = close.unwrap_or(1);
            blank(&mut out, &rest[..len]);
            i += len;
        } else {
            out.push(rest[0]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The length of a raw string (`r"..."`, `r#"..."#`, `br"..."`) starting `text`.
fn raw_string(text: &[u8]) -> Option<usize> {
    let after_b = usize::from(text.first() == Some(&b'b'));
    if text.get(after_b) != Some(&b'r') {
        return None;
    }
    let hashes = text[after_b + 1..]
        .iter()
        .take_while(|&&c| c == b'#')
        .count();
    let open = after_b + 1 + hashes;
    if text.get(open) != Some(&b'"') {
        return None;
    }
    let mut close = vec![b'"'];
    close.extend(std::iter::repeat_n(b'#', hashes));
    text[open + 1..]
        .windows(close.len())
        .position(|w| w == close.as_slice())
        .map(|p| open + 1 + p + close.len())
}

/// `code` without its `#[cfg(test)]` items, and the names of the modules declared
/// `#[cfg(test)] mod name;` (files that are tests whole).
fn without_tests(code: &str) -> (String, Vec<String>) {
    let mut out = String::with_capacity(code.len());
    let mut test_files = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "#[cfg(test)]".len()..];
        let item = after.trim_start();
        let skipped_ws = after.len() - item.len();
        // The item: up to its `;`, or its `{ ... }` whole.
        let end = match (item.find(';'), item.find('{')) {
            (Some(semi), brace) if brace.is_none_or(|b| semi < b) => {
                let decl = item[..semi].trim();
                if let Some(name) = decl
                    .strip_prefix("mod ")
                    .or_else(|| decl.strip_prefix("pub mod "))
                {
                    test_files.push(name.trim().to_owned());
                }
                semi + 1
            }
            (_, Some(brace)) => {
                let mut depth = 0usize;
                let mut end = item.len();
                for (i, c) in item[brace..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = brace + i + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                end
            }
            _ => item.len(),
        };
        // Keep the lines, so that what follows keeps its line numbers.
        let skipped = &rest[at..at + "#[cfg(test)]".len() + skipped_ws + end];
        out.extend(skipped.chars().filter(|&c| c == '\n'));
        rest = &rest[at + "#[cfg(test)]".len() + skipped_ws + end..];
    }
    out.push_str(rest);
    (out, test_files)
}

/// Every path a module's code names through `crate::` or `super::`, with its line, as the
/// segments after `crate` (a `super::` path is made absolute from `module`).
fn paths_used(code: &str, module: &str) -> Vec<(usize, Vec<String>)> {
    let mut found = Vec::new();
    for (n, line) in code.lines().enumerate() {
        let bytes = line.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let starts_word = i == 0
                || !(bytes[i - 1].is_ascii_alphanumeric()
                    || bytes[i - 1] == b'_'
                    || bytes[i - 1] == b':');
            let rest = &line[i..];
            let base = if !starts_word {
                None
            } else if rest.starts_with("crate::") {
                Some((Vec::new(), "crate::".len()))
            } else if rest.starts_with("super::") {
                // `super` is the parent of the module the file is, whether the file is
                // a/b.rs (module a::b, super a) or a/mod.rs (module a, super the root).
                let mut at = parent(module);
                let mut len = "super::".len();
                while line[i + len..].starts_with("super::") {
                    at = parent(&at);
                    len += "super::".len();
                }
                let base: Vec<String> = if at.is_empty() {
                    Vec::new()
                } else {
                    at.split("::").map(str::to_owned).collect()
                };
                Some((base, len))
            } else {
                None
            };
            let Some((base, len)) = base else {
                i += 1;
                continue;
            };
            let (paths, used) = tree(&line[i + len..]);
            for p in paths {
                let mut full = base.clone();
                full.extend(p);
                found.push((n + 1, full));
            }
            i += len + used.max(1);
        }
    }
    found
}

/// The paths of a use tree at the start of `text` (`a::b`, `a::{b, c::d}`), and how many
/// bytes it took.
fn tree(text: &str) -> (Vec<Vec<String>>, usize) {
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut prefix = Vec::new();
    loop {
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        if i < bytes.len() && bytes[i] == b'{' {
            let mut paths = Vec::new();
            i += 1;
            loop {
                let (inner, used) = tree(&text[i..]);
                i += used;
                for p in inner {
                    let mut full = prefix.clone();
                    full.extend(p);
                    paths.push(full);
                }
                while i < bytes.len() && (bytes[i] == b' ' || bytes[i] == b'\n') {
                    i += 1;
                }
                match bytes.get(i) {
                    Some(b',') => i += 1,
                    Some(b'}') => {
                        i += 1;
                        break;
                    }
                    _ => break,
                }
            }
            return (paths, i);
        }
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            i += 1;
        }
        if i == start {
            return (
                if prefix.is_empty() {
                    vec![]
                } else {
                    vec![prefix]
                },
                i,
            );
        }
        prefix.push(text[start..i].to_owned());
        if text[i..].starts_with("::") {
            i += 2;
        } else {
            return (vec![prefix], i);
        }
    }
}

/// The modules, files and rules checked together.
pub struct House<'a> {
    /// Each layer's top-level modules (the folders or files under `src/`), lowest first.
    pub layers: &'a [&'a [&'a str]],
}

impl House<'_> {
    fn rank(&self, module: &str) -> Option<usize> {
        let top = module.split("::").next().unwrap_or("");
        self.layers.iter().position(|l| l.contains(&top))
    }

    /// What breaks the rules, each naming the file, and the import where there is one.
    pub fn check(&self, files: &[Source]) -> Vec<String> {
        let mut problems = Vec::new();
        let modules: BTreeSet<String> = files.iter().map(|f| module_of(&f.path)).collect();
        // Files that are tests whole, as their parents declare them.
        let mut test_modules = BTreeSet::new();
        let mut code = BTreeMap::new();
        for f in files {
            let module = module_of(&f.path);
            let (kept, tests) = without_tests(&code_only(&f.text));
            for name in tests {
                let child = if module.is_empty() {
                    name
                } else {
                    format!("{module}::{name}")
                };
                test_modules.insert(child);
            }
            code.insert(f.path.clone(), kept);
        }
        let mut edges: BTreeMap<String, BTreeMap<String, (String, usize, String)>> =
            BTreeMap::new();
        for f in files {
            let lines = f.text.lines().count();
            if lines > MAX_LINES {
                problems.push(format!(
                    "src/{} has {lines} lines; a file has at most {MAX_LINES}: split it by job",
                    f.path
                ));
            }
            let first = f.text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            if !first.starts_with("//!") {
                problems.push(format!(
                    "src/{} does not open with a //! line saying what it owns",
                    f.path
                ));
            }
            let module = module_of(&f.path);
            if module.is_empty() || test_modules.iter().any(|t| holds(t, &module)) {
                continue;
            }
            let Some(rank) = self.rank(&module) else {
                problems.push(format!(
                    "src/{} is in no layer: add its folder to the layers of src/tidy.rs's test",
                    f.path
                ));
                continue;
            };
            for (line, path) in paths_used(&code[&f.path], &module) {
                // The module named: the longest prefix of the path that is a file.
                let target = (1..=path.len())
                    .rev()
                    .map(|n| path[..n].join("::"))
                    .find(|m| modules.contains(m));
                let Some(target) = target else { continue };
                if holds(&target, &module) || holds(&module, &target) {
                    continue;
                }
                let shown = format!("crate::{}", path.join("::"));
                if let Some(to) = self.rank(&target)
                    && to > rank
                {
                    problems.push(format!(
                        "src/{}:{line} uses {shown}, in a layer above its own ({} above {})",
                        f.path,
                        target.split("::").next().unwrap_or(""),
                        module.split("::").next().unwrap_or(""),
                    ));
                }
                edges
                    .entry(module.clone())
                    .or_default()
                    .entry(target)
                    .or_insert((f.path.clone(), line, shown));
            }
        }
        for circle in circles(&edges) {
            let steps: Vec<String> = circle
                .iter()
                .zip(circle.iter().cycle().skip(1))
                .map(|(a, b)| {
                    let (file, line, shown) = &edges[a][b];
                    format!("src/{file}:{line} uses {shown}")
                })
                .collect();
            problems.push(format!(
                "modules use one another in a circle: {}",
                steps.join(", then ")
            ));
        }
        problems
    }
}

/// The circles of a graph: one shortest circle through each group of modules that reach one
/// another (a strongly connected component of more than one).
fn circles(
    edges: &BTreeMap<String, BTreeMap<String, (String, usize, String)>>,
) -> Vec<Vec<String>> {
    let next = |m: &str| -> Vec<String> {
        edges
            .get(m)
            .map(|e| e.keys().cloned().collect())
            .unwrap_or_default()
    };
    let reach = |from: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_owned()];
        while let Some(m) = todo.pop() {
            for n in next(&m) {
                if seen.insert(n.clone()) {
                    todo.push(n);
                }
            }
        }
        seen
    };
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for start in edges.keys() {
        if done.contains(start) || !reach(start).contains(start) {
            continue;
        }
        // The shortest way back to `start`, breadth first.
        let mut back: BTreeMap<String, String> = BTreeMap::new();
        let mut front = vec![start.clone()];
        'search: while !front.is_empty() {
            let mut newer = Vec::new();
            for m in front {
                for n in next(&m) {
                    if n == *start {
                        let mut circle = vec![m.clone()];
                        while let Some(p) = back.get(circle.last().unwrap()) {
                            circle.push(p.clone());
                        }
                        circle.reverse();
                        done.extend(circle.iter().cloned());
                        let group = reach(start);
                        done.extend(group.into_iter().filter(|g| reach(g).contains(start)));
                        out.push(circle);
                        break 'search;
                    }
                    if !back.contains_key(&n) && n != *start {
                        back.insert(n.clone(), m.clone());
                        newer.push(n);
                    }
                }
            }
            front = newer;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, text: &str) -> Source {
        Source {
            path: path.to_owned(),
            text: text.to_owned(),
        }
    }

    const HOUSE: House<'static> = House {
        layers: &[&["core"], &["store"], &["service"]],
    };

    fn problems(files: &[Source]) -> Vec<String> {
        HOUSE.check(files)
    }

    #[test]
    fn a_house_that_keeps_the_rules_has_no_problem() {
        let files = [
            file(
                "lib.rs",
                "//! root\npub mod core;\npub mod store;\npub mod service;\n",
            ),
            file("core/mod.rs", "//! pure\npub mod event;\n"),
            file("core/event.rs", "//! events\npub struct Event;\n"),
            file(
                "store/mod.rs",
                "//! redb\nuse crate::core::event::Event;\nuse super::core;\n",
            ),
            file(
                "service/hooks.rs",
                "//! hooks\nuse crate::{core::event::Event, store};\nuse super::access;\n\
                 // use crate::nothing::here;\nconst A: &str = \"crate::service\";\n\
                 #[cfg(test)]\nmod tests {\n    use crate::zzz::Anything;\n}\n",
            ),
            file(
                "service/access.rs",
                "//! access\nfn f<'a>(x: &'a str) -> char { '\"' }\n",
            ),
            file("service/mod.rs", "//! service\nmod hooks;\nmod access;\n"),
        ];
        assert_eq!(problems(&files), Vec::<String>::new());
    }

    #[test]
    fn an_import_from_a_layer_above_is_named_with_its_file_and_line() {
        let files = [
            file("core/event.rs", "//! events\n\nuse crate::store::Store;\n"),
            file("store/mod.rs", "//! redb\n"),
            file(
                "store/queue.rs",
                "//! queues\nuse crate::{core::event, service::{hooks::Hooks, access}};\n",
            ),
            file("service/hooks.rs", "//! hooks\n"),
            file("service/access.rs", "//! access\n"),
        ];
        let got = problems(&files);
        assert!(
            got.contains(&"src/core/event.rs:3 uses crate::store::Store, in a layer above its own (store above core)".to_owned()),
            "{got:#?}"
        );
        assert!(
            got.iter()
                .any(|p| p.starts_with("src/store/queue.rs:2 uses crate::service::hooks::Hooks")),
            "{got:#?}"
        );
        assert!(
            got.iter()
                .any(|p| p.starts_with("src/store/queue.rs:2 uses crate::service::access")),
            "{got:#?}"
        );
        assert_eq!(got.len(), 3, "{got:#?}");
    }

    #[test]
    fn a_circle_between_siblings_is_named_with_each_import() {
        let files = [
            file("store/mod.rs", "//! redb\nmod a;\nmod b;\nmod c;\n"),
            file("store/a.rs", "//! a\nuse super::b::B;\n"),
            file("store/b.rs", "//! b\nfn f() { super::c::g(); }\n"),
            file("store/c.rs", "//! c\nuse crate::store::a::A;\n"),
        ];
        let got = problems(&files);
        assert_eq!(got.len(), 1, "{got:#?}");
        assert!(
            got[0].starts_with("modules use one another in a circle: "),
            "{got:#?}"
        );
        for step in [
            "src/store/a.rs:2 uses crate::store::b::B",
            "src/store/b.rs:2 uses crate::store::c::g",
            "src/store/c.rs:2 uses crate::store::a::A",
        ] {
            assert!(got[0].contains(step), "{step} in {got:#?}");
        }
    }

    #[test]
    fn a_file_without_its_header_too_long_or_in_no_layer_is_named() {
        let long = format!("//! long\n{}", "fn f() {}\n".repeat(MAX_LINES));
        let files = [
            file("store/mod.rs", "use crate::core::x;\n"),
            file("store/long.rs", &long),
            file("web/mod.rs", "//! web\n"),
        ];
        let got = problems(&files);
        assert!(
            got.contains(
                &"src/store/mod.rs does not open with a //! line saying what it owns".to_owned()
            ),
            "{got:#?}"
        );
        assert!(
            got.iter()
                .any(|p| p.starts_with("src/store/long.rs has 801 lines")),
            "{got:#?}"
        );
        assert!(
            got.iter()
                .any(|p| p.starts_with("src/web/mod.rs is in no layer")),
            "{got:#?}"
        );
    }

    #[test]
    fn tests_declared_as_files_are_left_out_of_the_layers() {
        let files = [
            file("store/mod.rs", "//! redb\n#[cfg(test)]\nmod tests;\n"),
            file(
                "store/tests.rs",
                "//! its tests\nuse crate::service::hooks;\n",
            ),
            file("service/hooks.rs", "//! hooks\n"),
        ];
        assert_eq!(problems(&files), Vec::<String>::new());
    }

    /// sharehook's own layers, lowest first: what each may use is its own and what is below.
    pub const LAYERS: &[&[&str]] = &[
        &["core"],
        &["config", "evidence", "tree", "store", "watch"],
        &["deliver"],
        &["engine"],
        &["service"],
        &["daemon"],
        &["surface"],
        &["bench"],
        &["cli"],
    ];

    fn sources(dir: &std::path::Path, root: &std::path::Path, out: &mut Vec<Source>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(Source {
                    path: path
                        .strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                    text: std::fs::read_to_string(&path).unwrap(),
                });
            }
        }
    }

    #[test]
    fn sharehook_keeps_the_house_rules() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&root, &root, &mut files);
        assert!(
            files.len() > 40,
            "read {} files under {}",
            files.len(),
            root.display()
        );
        let problems = House { layers: LAYERS }.check(&files);
        assert!(
            problems.is_empty(),
            "{} problems:\n{}",
            problems.len(),
            problems.join("\n")
        );
    }
}
