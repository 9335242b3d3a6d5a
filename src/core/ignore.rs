//! The ignore list: names that are never reported, because no person made them on purpose
//! (editor swap files, partial downloads, client metadata, recycle bins).
//!
//! A pattern matches one name (never a path): `*` is any run of bytes, `?` one byte, and the
//! match ignores ASCII case, as SMB clients do. A pattern ending in `/` matches folders only,
//! and an ignored folder hides everything below it. The `rsync-temp` rule matches the
//! temporary names rsync writes (`.name.XXXXXX`), which no glob can say exactly.

/// The default list, from what the usual clients leave behind.
pub const DEFAULTS: &[&str] = &[
    "~$*",
    ".~lock.*",
    "*.tmp",
    "*~",
    ".*.sw?",
    "4913",
    "#*#",
    ".#*",
    "*.part",
    "*.filepart",
    "*.crdownload",
    "*.download",
    "*.partial",
    RSYNC_TEMP,
    ".syncthing.*.tmp",
    ".fuse_hidden*",
    ".nfs*",
    "._*",
    ".DS_Store",
    ".TemporaryItems/",
    ".Trashes/",
    ".fseventsd/",
    ".apdisk",
    "Icon\r",
    "Thumbs.db",
    "desktop.ini",
    "$RECYCLE.BIN/",
    "System Volume Information/",
    "@eaDir/",
    "#recycle/",
    ".recycle/",
    "@SynoEAStream",
    "@SynoResource",
];

/// The name of the rule for rsync's temporary files in the list.
pub const RSYNC_TEMP: &str = "rsync-temp";

/// Suffixes of partial downloads: a file `name` with a sibling `name.part` is still arriving.
pub const PARTIAL_SUFFIXES: &[&str] =
    &[".part", ".crdownload", ".download", ".partial", ".filepart"];

#[derive(Clone, Debug, PartialEq)]
pub struct Ignore {
    rules: Vec<Rule>,
}

#[derive(Clone, Debug, PartialEq)]
struct Rule {
    text: String,
    glob: Vec<u8>,
    folders_only: bool,
    rsync_temp: bool,
    /// What any name the glob matches has, checked before the glob runs (most names fail
    /// here): its least length, and its first and last byte where the pattern fixes them.
    least: usize,
    first: Option<u8>,
    last: Option<u8>,
}

impl Rule {
    fn parse(text: &str) -> Result<Rule, String> {
        let (body, folders_only) = match text.strip_suffix('/') {
            Some(body) => (body, true),
            None => (text, false),
        };
        if body.is_empty() {
            return Err(format!("\"{text}\" is an empty pattern"));
        }
        if body.contains('/') {
            return Err(format!(
                "\"{text}\" has a / inside: a pattern matches one name, not a path"
            ));
        }
        let glob = body.as_bytes().to_ascii_lowercase();
        let fixed = |b: Option<&u8>| b.copied().filter(|b| *b != b'*' && *b != b'?');
        Ok(Rule {
            text: text.to_owned(),
            least: glob.iter().filter(|&&b| b != b'*').count(),
            first: fixed(glob.first()),
            last: fixed(glob.last()),
            glob,
            folders_only,
            rsync_temp: text == RSYNC_TEMP,
        })
    }

    fn matches(&self, name: &[u8], is_dir: bool) -> bool {
        if self.folders_only && !is_dir {
            return false;
        }
        if self.rsync_temp {
            return is_rsync_temp(name);
        }
        let fixed = |want: Option<u8>, got: Option<&u8>| {
            want.is_none_or(|w| got.is_some_and(|g| g.to_ascii_lowercase() == w))
        };
        name.len() >= self.least
            && fixed(self.first, name.first())
            && fixed(self.last, name.last())
            && glob(&self.glob, name)
    }
}

impl Ignore {
    /// The list in effect: the defaults (unless `defaults` is false), then `extra`. An entry
    /// `!pattern` takes a default entry out of the list.
    pub fn new(defaults: bool, extra: &[String]) -> Result<Ignore, String> {
        Ignore::with_position(defaults, extra).map_err(|(_, message)| message)
    }

    /// As `new`; an error also says which entry of `extra` is at fault (from 0).
    pub fn with_position(defaults: bool, extra: &[String]) -> Result<Ignore, (usize, String)> {
        let mut rules = Vec::new();
        if defaults {
            for text in DEFAULTS {
                rules.push(Rule::parse(text).expect("the default patterns are valid"));
            }
        }
        for (i, text) in extra.iter().enumerate() {
            match text.strip_prefix('!') {
                Some(removed) => {
                    let before = rules.len();
                    rules.retain(|r| r.text != removed);
                    if rules.len() == before {
                        return Err((
                            i,
                            format!(
                                "\"{text}\": \"{removed}\" is not in the list, so it cannot be taken out"
                            ),
                        ));
                    }
                }
                None => rules.push(Rule::parse(text).map_err(|m| (i, m))?),
            }
        }
        Ok(Ignore { rules })
    }

    /// No pattern at all (for tests and the demo).
    pub fn none() -> Ignore {
        Ignore { rules: Vec::new() }
    }

    /// Whether the entry `name` (a folder if `is_dir`) is ignored.
    pub fn name(&self, name: &[u8], is_dir: bool) -> bool {
        self.rules.iter().any(|r| r.matches(name, is_dir))
    }

    /// Whether the share path `/a/b/c` is ignored: its own name, or any folder above it.
    pub fn path(&self, share_path: &[u8], is_dir: bool) -> bool {
        self.why(share_path, is_dir).is_some()
    }

    /// Why the share path `/a/b/c` is ignored, if it is: the pattern, and the name it matched
    /// (the path's own, or a folder's above it).
    pub fn why<'a>(&self, share_path: &'a [u8], is_dir: bool) -> Option<(&str, &'a [u8])> {
        let mut parts = share_path
            .split(|&b| b == b'/')
            .filter(|p| !p.is_empty())
            .peekable();
        while let Some(part) = parts.next() {
            let last = parts.peek().is_none();
            let is_dir = if last { is_dir } else { true };
            if let Some(rule) = self.rules.iter().find(|r| r.matches(part, is_dir)) {
                return Some((rule.text.as_str(), part));
            }
        }
        None
    }

    pub fn patterns(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.text.as_str())
    }
}

/// `.name.XXXXXX`: a dot, a name, a dot and six letters or digits (rsync's mkstemp suffix).
fn is_rsync_temp(name: &[u8]) -> bool {
    let n = name.len();
    n >= 9
        && name[0] == b'.'
        && name[n - 7] == b'.'
        && name[n - 6..].iter().all(u8::is_ascii_alphanumeric)
}

/// Glob match of a lower-case `pattern` against `name`, ignoring ASCII case.
fn glob(pattern: &[u8], name: &[u8]) -> bool {
    // The classic two-pointer match with one backtrack point: linear for the usual patterns.
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        let c = name[n].to_ascii_lowercase();
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&b'?') => {
                p += 1;
                n += 1;
            }
            Some(&pc) if pc == c => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    p = sp + 1;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

/// The placeholder names file managers give a new folder before the user types one.
pub fn is_placeholder_folder(name: &[u8]) -> bool {
    const NAMES: &[&str] = &[
        "new folder",
        "untitled folder",
        "nouveau dossier",
        "neuer ordner",
        "nueva carpeta",
        "nuova cartella",
        "nieuwe map",
    ];
    let lower = name.to_ascii_lowercase();
    NAMES.iter().any(|base| {
        let Some(rest) = lower.strip_prefix(base.as_bytes()) else {
            return false;
        };
        // "New folder", "New folder (2)", "untitled folder 3".
        rest.is_empty()
            || rest
                .strip_prefix(b" ")
                .map(|r| {
                    r.strip_prefix(b"(")
                        .and_then(|r| r.strip_suffix(b")"))
                        .unwrap_or(r)
                })
                .is_some_and(|digits| !digits.is_empty() && digits.iter().all(u8::is_ascii_digit))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Ignore {
        Ignore::new(true, &[]).unwrap()
    }

    #[test]
    fn the_quick_checks_before_a_glob_never_change_its_answer() {
        // Names built from the bytes the default patterns fix, in both cases, so that many
        // come near a pattern; the rules must answer as the bare glob does.
        let seed = 0x1517_2026;
        println!("seed {seed:#x}");
        let mut rng = crate::testing::Rng(seed);
        let bytes = b"~$.tT#mMpP~s?wW_DdIi\rn4913aArRtT";
        let ig = Ignore::new(true, &["a?".into(), "*x*y".into(), "?".into()]).unwrap();
        let mut matched = 0;
        for _ in 0..200_000 {
            let len = rng.below(9) as usize;
            let name: Vec<u8> = (0..len)
                .map(|_| bytes[rng.below(bytes.len() as u64) as usize])
                .collect();
            for rule in ig.rules.iter().filter(|r| !r.rsync_temp) {
                let want = !(rule.folders_only) && glob(&rule.glob, &name);
                assert_eq!(
                    rule.matches(&name, false),
                    want,
                    "{} on {name:?}",
                    rule.text
                );
                matched += usize::from(want);
            }
        }
        assert!(matched > 1000, "only {matched} names matched a pattern");
    }

    #[test]
    fn the_default_list_catches_what_clients_leave_behind() {
        let ig = defaults();
        for name in [
            "~$report.docx",
            ".~lock.budget.ods#",
            "~WRD0001.tmp",
            "notes.txt~",
            ".notes.txt.swp",
            ".notes.txt.swx",
            "4913",
            "#draft#",
            ".#draft",
            "movie.mkv.part",
            "a.filepart",
            "setup.exe.crdownload",
            "x.download",
            "y.partial",
            ".report.pdf.AbC123",
            ".syncthing.a.txt.tmp",
            ".fuse_hidden0000000a00000001",
            ".nfs000000000123",
            "._photo.jpg",
            ".DS_Store",
            ".apdisk",
            "Icon\r",
            "thumbs.db",
            "Desktop.ini",
            "@SynoEAStream",
        ] {
            assert!(
                ig.name(name.as_bytes(), false),
                "{name:?} should be ignored"
            );
        }
        for name in [
            "report.docx",
            "4914",
            "partial.txt",
            ".profile",
            ".report.pdf.AbC12",
            "Icon",
            "A1B2C3D4",
            "New folder",
        ] {
            assert!(!ig.name(name.as_bytes(), false), "{name:?} should be kept");
        }
    }

    #[test]
    fn folder_patterns_match_folders_only_and_hide_their_subtree() {
        let ig = defaults();
        assert!(ig.name(b"#recycle", true));
        assert!(!ig.name(b"#recycle", false));
        assert!(ig.name(b"$RECYCLE.BIN", true));
        assert!(ig.path(b"/#recycle/deep/file.txt", false));
        assert!(ig.path(b"/a/@eaDir/x.jpg", false));
        assert!(ig.path(b"/a/.Trashes", true));
        assert!(!ig.path(b"/a/.Trashes", false));
        assert!(!ig.path(b"/a/b/c.txt", false));
        assert!(!ig.path(b"/", true));
        assert_eq!(
            ig.why(b"/a/@eaDir/x.jpg", false),
            Some(("@eaDir/", &b"@eaDir"[..]))
        );
        assert_eq!(
            ig.why(b"/docs/~$x.docx", false),
            Some(("~$*", &b"~$x.docx"[..]))
        );
        assert_eq!(ig.why(b"/docs/x.docx", false), None);
    }

    #[test]
    fn users_add_and_take_out_patterns() {
        let ig = Ignore::new(true, &["*.bak".into(), "cache/".into(), "!*.tmp".into()]).unwrap();
        assert!(ig.name(b"x.BAK", false));
        assert!(ig.name(b"cache", true));
        assert!(!ig.name(b"~WRD0001.tmp", false));
        let none = Ignore::new(false, &["*.bak".into()]).unwrap();
        assert!(!none.name(b".DS_Store", false));
        assert!(none.name(b"a.bak", false));
        assert!(Ignore::new(true, &["!*.nothing".into()]).is_err());
        assert!(Ignore::new(true, &["a/b".into()]).is_err());
        assert!(Ignore::new(true, &["/".into()]).is_err());
        let at = |list: &[&str]| {
            let list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
            Ignore::with_position(true, &list).err().map(|(i, _)| i)
        };
        assert_eq!(at(&["*.bak", "a/b"]), Some(1));
        assert_eq!(at(&["*.bak", "!*.tmp", "!*.tmp"]), Some(2));
        assert_eq!(at(&["*.bak"]), None);
    }

    #[test]
    fn globs() {
        assert!(glob(b"*", b""));
        assert!(glob(b"a*b*c", b"aXXbYYc"));
        assert!(!glob(b"a*b*c", b"aXXbYY"));
        assert!(glob(b"*.tmp", b"x.tmp.tmp"));
        assert!(glob(b"?", b"Z"));
        assert!(!glob(b"?", b""));
        assert!(glob(b"*~", "é~".as_bytes()));
    }

    #[test]
    fn placeholder_folders() {
        for name in [
            "New folder",
            "New folder (2)",
            "untitled folder",
            "untitled folder 3",
        ] {
            assert!(is_placeholder_folder(name.as_bytes()), "{name}");
        }
        for name in [
            "New folders",
            "untitled folder x",
            "Reports",
            "New folder ()",
        ] {
            assert!(!is_placeholder_folder(name.as_bytes()), "{name}");
        }
    }
}
