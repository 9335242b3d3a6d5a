//! The tests of `resources`.

use std::io::Read;
use std::os::unix::fs::symlink;

use super::*;
use crate::config::Config;

struct Fixture {
    _dir: tempfile::TempDir,
    share: PathBuf,
    outside: PathBuf,
    resources: Resources,
    attributions: Arc<Attributions>,
    store: Arc<Store>,
}

/// A share `s` (with `access`) holding `a.txt`, `docs/b.txt`, `docs/deep/c.txt`, an
/// ignored `x.tmp`, and links: `out` and `docs/out` to a folder outside the share,
/// `secret` to a file outside it, `in` to `docs` and `a-link` to `a.txt`.
fn fixture(access: ResourceAccess) -> Fixture {
    fixture_with(access, ZipLimits::default())
}

fn fixture_with(access: ResourceAccess, limits: ZipLimits) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let share = dir.path().join("share");
    let outside = dir.path().join("outside");
    let state = dir.path().join("state");
    for d in [&share, &outside, &state] {
        std::fs::create_dir(d).unwrap();
    }
    let share = share.canonicalize().unwrap();
    std::fs::write(outside.join("passwd"), "root:x:0:0").unwrap();
    std::fs::write(share.join("a.txt"), "alpha").unwrap();
    std::fs::create_dir_all(share.join("docs/deep")).unwrap();
    std::fs::write(share.join("docs/b.txt"), "bravo!").unwrap();
    std::fs::write(share.join("docs/deep/c.txt"), "charlie").unwrap();
    std::fs::write(share.join("x.tmp"), "ignored").unwrap();
    symlink(&outside, share.join("out")).unwrap();
    symlink(&outside, share.join("docs/out")).unwrap();
    symlink(outside.join("passwd"), share.join("secret")).unwrap();
    symlink(share.join("docs"), share.join("in")).unwrap();
    symlink("a.txt", share.join("a-link")).unwrap();
    let mut config = Config::one_share("s", &share, &state, "http://127.0.0.1:9/");
    config.shares[0].resources = access;
    let store = Arc::new(Store::open(&state).unwrap());
    let attributions = Arc::new(Attributions::default());
    // A gate of its own: tests run side by side, each with its zips.
    let resources = Resources::new(&config, Arc::clone(&store), Arc::clone(&attributions))
        .with_zip_gate(ZipGate::new(limits));
    Fixture {
        _dir: dir,
        share,
        outside,
        resources,
        attributions,
        store,
    }
}

/// `n` bytes that deflate cannot shrink (xorshift), so a zip of them takes as much.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn in_use(r: &Resources) -> (usize, u64) {
    r.zips.in_use()
}

thread_local! {
    /// What a test does when `remove_tree` has emptied a folder, just before it removes
    /// it: a write landing in that moment, which no timing could aim at.
    static WHEN_EMPTIED: std::cell::RefCell<Option<Box<dyn Fn()>>> =
        std::cell::RefCell::new(None);
}

pub(super) fn emptied() {
    WHEN_EMPTIED.with(|w| {
        if let Some(f) = w.borrow().as_ref() {
            f();
        }
    });
}

/// Deletes `name` alone: the request's refusal, or the one entry's result.
fn delete_one(r: &Resources, caller: &Caller, name: &[u8]) -> Result<(), ResourceError> {
    r.delete(caller, &[name])?.remove(0).1
}

/// "ok", or the error's kind and text.
fn outcome<T>(r: Result<T, ResourceError>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => format!("{:?}: {e}", e.kind()),
    }
}

fn shares(names: &[&str]) -> Vec<Share> {
    names
        .iter()
        .map(|n| Share {
            name: (*n).into(),
            path: PathBuf::from(format!("/srv/{n}")),
            protocol: "smb".into(),
            watch: crate::config::WatchMode::Auto,
            resources: ResourceAccess::Read,
        })
        .collect()
}

#[test]
fn names_resolve_inside_their_share_or_are_refused() {
    let one = shares(&["public"]);
    let two = shares(&["public", "scans"]);
    // (shares, text, expected "share path" or the start of the error)
    let cases: &[(&[Share], &[u8], &str)] = &[
        (&one, b"/a/b.txt", "public /a/b.txt"),
        (&one, b"a/b.txt", "public /a/b.txt"),
        (&one, b"//a/./b.txt/", "public /a/b.txt"),
        (&one, b"/", "public /"),
        (&one, b"", "public /"),
        // An absolute path is taken inside the share: it never names the disk's root.
        (&one, b"/etc/passwd", "public /etc/passwd"),
        (
            &one,
            b"/a/../../etc/passwd",
            "Invalid { field: \"resource\" }: \"/a/../../etc/passwd\" names a parent folder",
        ),
        // `%2e%2e` reaches here decoded.
        (
            &one,
            b"/..",
            "Invalid { field: \"resource\" }: \"/..\" names a parent folder",
        ),
        (
            &one,
            b"..",
            "Invalid { field: \"resource\" }: \"..\" names a parent folder",
        ),
        (
            &one,
            b"/a\0b",
            "Invalid { field: \"resource\" }: \"/a\\0b\" holds a NUL byte",
        ),
        (&one, b"/caf\xe9", "public /caf\\xe9"),
        (&two, b"/scans/2024/x.pdf", "scans /2024/x.pdf"),
        (&two, b"/scans", "scans /"),
        (&two, b"/other/x", "NotFound: no share is named \"other\""),
        (
            &two,
            b"/",
            "Invalid { field: \"resource\" }: with several shares a path starts with the share's name (/public/..., /scans/...)",
        ),
        (
            &two,
            b"/scans/../public/x",
            "Invalid { field: \"resource\" }: \"/scans/../public/x\" names a parent folder",
        ),
    ];
    for (shares, text, expected) in cases {
        let got = match locate(shares, text) {
            Ok((share, path)) => format!("{} {path}", share.name),
            Err(e) => format!("{:?}: {e}", e.kind()),
        };
        assert!(
            got.starts_with(expected),
            "{}: got {got}, expected {expected}",
            escape_bytes(text)
        );
    }
}

#[test]
fn links_are_never_followed_in_or_out_of_the_share() {
    let f = fixture(ResourceAccess::ReadWrite);
    let r = &f.resources;
    for name in [
        &b"/out/passwd"[..], // a link out, in the middle
        b"/secret",          // a link out, at the end
        b"/docs/out/passwd", // deeper
        b"/in/b.txt",        // a link inside the share, in the middle
        b"/a-link",          // and at the end
        b"/out",
    ] {
        let shown = escape_bytes(name);
        let info = outcome(r.info(name));
        assert!(info.starts_with("Invalid"), "info {shown}: {info}");
        let list = outcome(r.list(name, 0, 0, None));
        assert!(list.starts_with("Invalid"), "list {shown}: {list}");
        let download = outcome(r.download(&by("ann"), &[name]));
        assert!(
            download.starts_with("Invalid"),
            "download {shown}: {download}"
        );
        let delete = outcome(delete_one(r, &Caller::local(), name));
        assert!(delete.starts_with("Invalid"), "delete {shown}: {delete}");
    }
    // Nothing outside was touched, and the links are still there.
    assert!(f.outside.join("passwd").exists());
    for link in ["out", "secret", "in", "a-link", "docs/out"] {
        assert!(f.share.join(link).symlink_metadata().is_ok(), "{link}");
    }
    // A folder swapped for a link: the same refusal, never the link's target.
    std::fs::rename(f.share.join("docs"), f.share.join("docs.real")).unwrap();
    symlink(&f.outside, f.share.join("docs")).unwrap();
    let got = outcome(r.info(b"/docs/passwd"));
    assert!(got.starts_with("Invalid"), "{got}");
    // An absolute path is a path in the share, never the disk's.
    let abs = f.outside.join("passwd");
    for name in [abs.as_os_str().as_bytes(), b"/etc/passwd"] {
        let got = outcome(r.download(&by("ann"), &[name]));
        assert!(got.starts_with("NotFound"), "{got}");
    }
    assert_eq!(
        outcome(r.info(b"/nothing/here")).split(':').next(),
        Some("NotFound")
    );
    assert_eq!(
        outcome(r.info(b"/a.txt/below")).split(':').next(),
        Some("NotFound")
    );
}

#[test]
fn info_and_list_describe_files_and_folders() {
    let f = fixture(ResourceAccess::Read);
    let r = &f.resources;
    let a = r.info(b"/a.txt").unwrap();
    assert_eq!(
        (
            a.name.as_str(),
            a.path.as_str(),
            a.kind,
            a.size,
            a.file_count
        ),
        ("a.txt", "/a.txt", ResourceKind::File, Some(5), None)
    );
    assert_eq!(a.id, resource_id("s", b"/a.txt"));
    assert_eq!(a.hash, a.id);
    // The owner: the user these tests run as.
    assert_eq!(a.created_by, current_user());
    let json = serde_json::to_value(&a).unwrap();
    assert_eq!(json["type"], "file");
    assert!(json["updatedAt"].as_str().unwrap().ends_with('Z'), "{json}");
    assert!(json.get("createdMs").is_none(), "{json}");

    let docs = r.info(b"docs").unwrap();
    assert_eq!(
        (docs.kind, docs.size, docs.file_count),
        (ResourceKind::Dir, None, Some(2))
    );
    let root = r.info(b"/").unwrap();
    // a.txt and docs: the ignored name and the links are not counted.
    assert_eq!((root.name.as_str(), root.file_count), ("s", Some(2)));

    let (total, page) = r.list(b"/", 0, 0, None).unwrap();
    let names: Vec<&str> = page.iter().map(|x| x.name.as_str()).collect();
    assert_eq!((total, names), (2, vec!["a.txt", "docs"]));
    let (total, page) = r.list(b"/docs", 0, 0, Some("-name")).unwrap();
    let names: Vec<&str> = page.iter().map(|x| x.path.as_str()).collect();
    assert_eq!((total, names), (2, vec!["/docs/deep", "/docs/b.txt"]));
    let (total, page) = r.list(b"/docs", 1, 1, Some("-size,name")).unwrap();
    assert_eq!((total, page.len(), page[0].name.as_str()), (2, 1, "deep"));
    // A name that is not UTF-8 is listed escaped, and found by its bytes.
    std::fs::write(
        f.share.join(std::ffi::OsStr::from_bytes(b"docs/caf\xe9")),
        "x",
    )
    .unwrap();
    let (total, page) = r.list(b"/docs", 0, 0, None).unwrap();
    assert_eq!((total, page[1].path.as_str()), (3, "/docs/caf\\xe9"));
    assert_eq!(r.info(b"/docs/caf\xe9").unwrap().size, Some(1));
    let bad = outcome(r.list(b"/", 0, 0, Some("colour")));
    assert!(bad.starts_with("Invalid { field: \"sort\" }"), "{bad}");
    assert!(outcome(r.list(b"/a.txt", 0, 0, None)).starts_with("NotFound"));
}

#[test]
fn with_several_shares_a_path_starts_with_the_share() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let mut config = Config::one_share("x", dir.path(), &state, "http://127.0.0.1:9/");
    config.shares.clear();
    for (name, access) in [
        ("public", ResourceAccess::Read),
        ("scans", ResourceAccess::ReadWrite),
        ("private", ResourceAccess::Off),
    ] {
        let path = dir.path().join(name);
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("f.txt"), name).unwrap();
        let mut share = Config::one_share(name, &path, &state, "http://h/").shares[0].clone();
        share.resources = access;
        config.shares.push(share);
    }
    let store = Arc::new(Store::open(&state).unwrap());
    let r = Resources::new(&config, store, Arc::new(Attributions::default()));
    let (total, top) = r.list(b"/", 0, 0, None).unwrap();
    let paths: Vec<&str> = top.iter().map(|x| x.path.as_str()).collect();
    assert_eq!((total, paths), (2, vec!["/public", "/scans"]));
    let (_, inside) = r.list(b"/scans", 0, 0, None).unwrap();
    assert_eq!(inside[0].path, "/scans/f.txt");
    assert_eq!(inside[0].id, resource_id("scans", b"/f.txt"));
    assert_eq!(r.info(b"/public/f.txt").unwrap().share, "public");
    let off = outcome(r.info(b"/private/f.txt"));
    assert!(off.starts_with("Forbidden"), "{off}");
    let unknown = outcome(r.info(b"/nope/f.txt"));
    assert!(unknown.starts_with("NotFound"), "{unknown}");
}

#[test]
fn a_folder_or_several_files_download_as_a_zip_and_one_file_as_it_is() {
    let f = fixture(ResourceAccess::Read);
    let r = &f.resources;
    let mut one = r.download(&by("ann"), &[b"/docs/b.txt"]).unwrap();
    let mut text = String::new();
    one.file.read_to_string(&mut text).unwrap();
    assert_eq!(
        (one.zip, one.name.as_slice(), one.size, text.as_str()),
        (false, &b"b.txt"[..], 6, "bravo!")
    );

    let read_zip = |d: Download| {
        assert!(d.zip);
        let mut archive = zip::ZipArchive::new(d.file).unwrap();
        let mut out = Vec::new();
        for i in 0..archive.len() {
            let mut entry = archive.by_index(i).unwrap();
            let mut content = String::new();
            entry.read_to_string(&mut content).unwrap();
            out.push(format!("{}={content}", entry.name().unwrap()));
        }
        out.sort();
        out
    };
    let folder = r.download(&by("ann"), &[b"/docs"]).unwrap();
    assert_eq!(folder.name, b"docs.zip");
    assert_eq!(
        read_zip(folder),
        [
            "docs/=",
            "docs/b.txt=bravo!",
            "docs/deep/=",
            "docs/deep/c.txt=charlie"
        ]
    );
    let several = r
        .download(&by("ann"), &[b"/a.txt", b"/docs/deep", b"/docs/deep/c.txt"])
        .unwrap();
    assert_eq!(several.name, b"a.txt.zip");
    assert_eq!(
        read_zip(several),
        [
            "a.txt=alpha",
            "c.txt=charlie",
            "deep/=",
            "deep/c.txt=charlie"
        ]
    );
    // The whole share: links inside and ignored names are left out.
    let all = read_zip(r.download(&by("ann"), &[b"/"]).unwrap());
    assert!(all.contains(&"s/a.txt=alpha".to_owned()), "{all:?}");
    assert!(
        !all.iter()
            .any(|e| e.contains("passwd") || e.contains("x.tmp") || e.contains("link")),
        "{all:?}"
    );
    // Nothing is left behind in the state folder.
    let state = f.share.parent().unwrap().join("state");
    let left: Vec<_> = std::fs::read_dir(&state)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".download"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(outcome(r.download(&by("ann"), &[])).starts_with("Invalid { field: \"resources\" }"));
}

#[test]
fn delete_removes_files_and_trees_only_where_the_share_allows_it() {
    let f = fixture(ResourceAccess::ReadWrite);
    let r = &f.resources;
    // A name that cannot be deleted refuses the whole request, before anything is.
    for bad in [&b"/"[..], b"/a/../b", b"id:nope"] {
        let whole = outcome(r.delete(&Caller::local(), &[b"/a.txt", bad]));
        assert!(
            whole.starts_with("Invalid { field: \"resources\" }"),
            "{}: {whole}",
            escape_bytes(bad)
        );
    }
    assert!(f.share.join("a.txt").exists());
    // What is found only at each entry is that entry's result.
    let results = r
        .delete(
            &Caller::local(),
            &[b"/a.txt", b"/docs", b"/nothing", b"id:42"],
        )
        .unwrap();
    let got: Vec<String> = results
        .into_iter()
        .map(|(id, res)| format!("{id} {}", outcome(res)))
        .collect();
    assert_eq!(got[0], "/a.txt ok");
    assert_eq!(got[1], "/docs ok");
    assert!(got[2].starts_with("/nothing NotFound"), "{got:?}");
    assert!(got[3].starts_with("id:42 NotFound"), "{got:?}");
    assert!(!f.share.join("a.txt").exists());
    assert!(f.share.join("docs").symlink_metadata().is_err());
    // The link inside the deleted folder went with it; its target did not.
    assert!(f.outside.join("passwd").exists());

    let viewer = Caller {
        user: "vera".into(),
        role: Role::Viewer,
        address: "10.0.0.9".into(),
    };
    let got = outcome(r.delete(&viewer, &[b"/x.tmp", b"/nothing"]));
    assert!(got.starts_with("Forbidden"), "{got}");
    assert!(f.share.join("x.tmp").exists());

    let read = fixture(ResourceAccess::Read);
    let got = outcome(read.resources.delete(&Caller::local(), &[b"/a.txt"]));
    assert!(
        got.starts_with("Forbidden") && got.contains("resources = \"read-write\""),
        "{got}"
    );
    assert!(read.share.join("a.txt").exists());
    assert_eq!(outcome(read.resources.info(b"/a.txt")), "ok");

    let off = fixture(ResourceAccess::Off);
    for got in [
        outcome(off.resources.info(b"/a.txt")),
        outcome(off.resources.list(b"/", 0, 0, None)),
        outcome(off.resources.download(&by("ann"), &[b"/a.txt"])),
        outcome(off.resources.delete(&Caller::local(), &[b"/a.txt"])),
    ] {
        assert!(
            got.starts_with("Forbidden") && got.contains("resources = \"read\""),
            "{got}"
        );
    }
    assert!(off.share.join("a.txt").exists());
}

#[test]
fn ids_and_hashes_from_webhooks_find_their_resource() {
    let f = fixture(ResourceAccess::ReadWrite);
    let entry = |path: &str| crate::tree::Entry::read(&f.share.join(path)).unwrap();
    let mut batch = f.store.batch().unwrap();
    for path in ["/a.txt", "/docs", "/docs/deep", "/docs/deep/c.txt"] {
        batch
            .put(
                "s",
                &SharePath::from_config(path),
                &entry(path.trim_start_matches('/')),
            )
            .unwrap();
    }
    batch.commit().unwrap();
    let id = resource_id("s", b"/docs/deep/c.txt");
    let by_id = f.resources.info(format!("id:{id}").as_bytes()).unwrap();
    assert_eq!(by_id.path, "/docs/deep/c.txt");
    let by_hash = f
        .resources
        .info(format!("hash:{}", id.to_uppercase()).as_bytes())
        .unwrap();
    assert_eq!(by_hash.path, "/docs/deep/c.txt");
    let unknown = outcome(
        f.resources
            .info(format!("id:{}", "0".repeat(32)).as_bytes()),
    );
    assert!(unknown.starts_with("NotFound"), "{unknown}");
    // The number the API gives a resource finds it too; a number no resource has is not
    // found, and what is neither a number nor 32 hex characters is refused.
    let number = crate::core::payload::resource_number("s", b"/docs/deep/c.txt");
    let by_number = f.resources.info(format!("id:{number}").as_bytes()).unwrap();
    assert_eq!(by_number.path, "/docs/deep/c.txt");
    assert_eq!(by_number.number, number);
    let unknown = outcome(f.resources.info(b"id:42"));
    assert!(unknown.starts_with("NotFound"), "{unknown}");
    for bad in [&b"id:4x2"[..], b"id:", b"id:12345678901234567", b"hash:abc"] {
        let bad = outcome(f.resources.info(bad));
        assert!(bad.starts_with("Invalid { field: \"id\" }"), "{bad}");
    }
    let deleted = delete_one(
        &f.resources,
        &Caller::local(),
        format!("hash:{}", resource_id("s", b"/a.txt")).as_bytes(),
    );
    assert!(deleted.is_ok(), "{deleted:?}");
    assert!(!f.share.join("a.txt").exists());
    // The delete said who made it, for the engine to report.
    assert_eq!(
        f.attributions
            .take("s", Operation::Delete, &SharePath::from_config("/a.txt")),
        Some(Who {
            user: "root".into(),
            protocol: "api".into(),
            address: "local".into(),
            how: Attribution::Api,
        })
    );
}

fn ann() -> Who {
    Who {
        user: "ann".into(),
        protocol: "api".into(),
        address: "198.18.0.5".into(),
        how: Attribution::Api,
    }
}

#[test]
fn an_attribution_covers_its_path_and_below_once_and_expires() {
    let a = Attributions::default();
    let p = SharePath::from_config;
    let hour = Duration::from_secs(3600);
    a.record("s", &p("/docs"), Operation::Delete, ann(), hour);
    assert_eq!(a.take("s", Operation::Upload, &p("/docs")), None);
    assert_eq!(a.take("t", Operation::Delete, &p("/docs")), None);
    assert_eq!(a.take("s", Operation::Delete, &p("/docsx")), None);
    // Below the folder: read, not used up.
    assert!(a.take("s", Operation::Delete, &p("/docs/x")).is_some());
    assert!(a.take("s", Operation::Delete, &p("/docs")).is_some());
    assert_eq!(a.take("s", Operation::Delete, &p("/docs")), None);
    let id = a.record("s", &p("/f"), Operation::Delete, ann(), hour);
    a.withdraw(id);
    assert_eq!(a.take("s", Operation::Delete, &p("/f")), None);
    a.record("s", &p("/g"), Operation::Delete, ann(), Duration::ZERO);
    assert_eq!(a.take("s", Operation::Delete, &p("/g")), None);
}

#[test]
fn a_folder_written_to_while_it_is_deleted_is_a_conflict_that_keeps_what_was_added() {
    let f = fixture(ResourceAccess::ReadWrite);
    let docs = f.share.join("docs");
    let added = docs.join("added-meanwhile.txt");
    let (folder, writer) = (docs.clone(), added.clone());
    WHEN_EMPTIED.with(|w| {
        *w.borrow_mut() = Some(Box::new(move || {
            // docs/deep is emptied first, while docs still holds it: only docs, once.
            let empty = std::fs::read_dir(&folder).unwrap().next().is_none();
            if empty && !writer.exists() {
                std::fs::write(&writer, "new").unwrap();
            }
        }))
    });
    let got = delete_one(&f.resources, &Caller::local(), b"/docs");
    WHEN_EMPTIED.with(|w| *w.borrow_mut() = None);
    let got = outcome(got);
    assert!(
        got.starts_with("Conflict: /docs in share s changed while it was being deleted"),
        "{got}"
    );
    // What docs held is gone; what was written meanwhile is kept, in docs.
    assert_eq!(std::fs::read_to_string(&added).unwrap(), "new");
    assert!(!docs.join("b.txt").exists() && !docs.join("deep").exists());
    // Deleting it again takes the rest.
    assert_eq!(
        outcome(delete_one(&f.resources, &Caller::local(), b"/docs")),
        "ok"
    );
    assert!(!docs.exists());
}

#[test]
fn a_conflict_is_answered_409() {
    let e = ResourceError::Conflict("changed".into());
    let api = crate::surface::api::ApiError::from_fault(&e);
    assert_eq!((api.status.as_u16(), api.code), (409, "ERROR_CONFLICT"));
}

#[test]
fn a_name_too_long_is_refused_naming_it_before_the_disk_is_asked() {
    let f = fixture(ResourceAccess::ReadWrite);
    let long = "n".repeat(256);
    let name = format!("/docs/{long}/x.txt");
    for got in [
        outcome(f.resources.info(name.as_bytes())),
        outcome(f.resources.list(name.as_bytes(), 0, 0, None)),
        outcome(f.resources.download(&by("ann"), &[name.as_bytes()])),
        outcome(f.resources.delete(&Caller::local(), &[name.as_bytes()])),
    ] {
        assert!(
            got.starts_with("Invalid") && got.contains(&long) && got.contains("256 bytes"),
            "{got}"
        );
    }
    // 255 bytes is a name: not there, so not found.
    let fits = format!("/docs/{}", "n".repeat(255));
    assert!(outcome(f.resources.info(fits.as_bytes())).starts_with("NotFound"));
}

#[test]
fn a_bare_number_is_the_id_the_api_gives_unless_the_share_has_that_name() {
    let f = fixture(ResourceAccess::ReadWrite);
    let entry = |path: &str| crate::tree::Entry::read(&f.share.join(path)).unwrap();
    let mut batch = f.store.batch().unwrap();
    for path in ["/a.txt", "/docs", "/docs/b.txt"] {
        batch
            .put("s", &SharePath::from_config(path), &entry(&path[1..]))
            .unwrap();
    }
    batch.commit().unwrap();
    let number = crate::core::payload::resource_number("s", b"/docs/b.txt");
    let found = f.resources.info(number.to_string().as_bytes()).unwrap();
    assert_eq!((found.path.as_str(), found.number), ("/docs/b.txt", number));
    // A number no resource has is not found, saying both what was looked for.
    let got = outcome(f.resources.info(b"42"));
    assert!(
        got.starts_with("NotFound") && got.contains("id 42") && got.contains("/42"),
        "{got}"
    );
    // A file or folder by that name at the top is what it names.
    std::fs::write(f.share.join("2024"), "year").unwrap();
    assert_eq!(f.resources.info(b"2024").unwrap().path, "/2024");
    // Deleting by the number deletes the resource it is the id of.
    let deleted = delete_one(
        &f.resources,
        &Caller::local(),
        number.to_string().as_bytes(),
    );
    assert!(deleted.is_ok(), "{deleted:?}");
    assert!(!f.share.join("docs/b.txt").exists());
}

#[test]
fn zips_at_once_are_bounded_in_all_and_per_user_and_given_back_when_their_download_ends() {
    let limits = ZipLimits {
        at_once: 3,
        per_user: 2,
        ..ZipLimits::default()
    };
    let f = fixture_with(ResourceAccess::Read, limits);
    let r = &f.resources;
    let a1 = r.download(&by("ann"), &[b"/docs"]).unwrap();
    let a2 = r.download(&by("ann"), &[b"/a.txt", b"/docs"]).unwrap();
    let got = outcome(r.download(&by("ann"), &[b"/docs"]));
    assert!(
        got.starts_with("Conflict") && got.contains("user ann has 2 zip downloads"),
        "{got}"
    );
    // One file is sent as it is: no zip, no bound.
    assert!(!r.download(&by("ann"), &[b"/a.txt"]).unwrap().zip);
    let b1 = r.download(&by("bob"), &[b"/docs"]).unwrap();
    let got = outcome(r.download(&by("bob"), &[b"/docs"]));
    assert!(got.contains("3 zip downloads are in progress"), "{got}");
    assert_eq!(in_use(r).0, 3);
    // A download's end (its file and lease dropped) gives its place back.
    drop(a1);
    let a3 = r.download(&by("ann"), &[b"/docs"]).unwrap();
    drop((a2, a3, b1));
    assert_eq!(in_use(r), (0, 0));
}

#[test]
fn a_zip_past_its_bound_is_refused_413_and_takes_nothing_after() {
    let limits = ZipLimits {
        max_bytes: 100 << 10,
        ..ZipLimits::default()
    };
    let f = fixture_with(ResourceAccess::Read, limits);
    std::fs::create_dir(f.share.join("big")).unwrap();
    std::fs::write(f.share.join("big/noise.bin"), noise(300 << 10, 7)).unwrap();
    let e = f.resources.download(&by("ann"), &[b"/big"]).unwrap_err();
    assert!(
        matches!(&e, ResourceError::Zip(ZipRefusal::TooLarge(d)) if d.contains("100 KiB")),
        "{e:?}"
    );
    assert_eq!(in_use(&f.resources), (0, 0));
    // What fits is made.
    assert!(f.resources.download(&by("ann"), &[b"/docs"]).unwrap().zip);
}

#[test]
fn the_room_zips_take_at_once_is_bounded_507() {
    let limits = ZipLimits {
        total_bytes: 250 << 10,
        ..ZipLimits::default()
    };
    let f = fixture_with(ResourceAccess::Read, limits);
    for dir in ["one", "two"] {
        std::fs::create_dir(f.share.join(dir)).unwrap();
        std::fs::write(f.share.join(dir).join("noise.bin"), noise(150 << 10, 3)).unwrap();
    }
    let one = f.resources.download(&by("ann"), &[b"/one"]).unwrap();
    assert!(one.size > 150 << 10);
    assert_eq!(in_use(&f.resources).1, one.size);
    let e = f.resources.download(&by("bob"), &[b"/two"]).unwrap_err();
    assert!(
        matches!(&e, ResourceError::Zip(ZipRefusal::NoRoom(d)) if d.contains("250 KiB")),
        "{e:?}"
    );
    assert_eq!(in_use(&f.resources), (1, one.size));
    drop(one);
    let two = f.resources.download(&by("bob"), &[b"/two"]).unwrap();
    assert_eq!(in_use(&f.resources), (1, two.size));
}

#[test]
fn a_zip_leaves_the_state_folder_s_disk_its_room() {
    let limits = ZipLimits {
        keep_free: u64::MAX,
        keep_free_percent: 100,
        ..ZipLimits::default()
    };
    let f = fixture_with(ResourceAccess::Read, limits);
    let e = f.resources.download(&by("ann"), &[b"/docs"]).unwrap_err();
    assert!(
        matches!(&e, ResourceError::Zip(ZipRefusal::NoRoom(d)) if d.contains("free")),
        "{e:?}"
    );
    assert_eq!(in_use(&f.resources), (0, 0));
}

#[test]
fn temporary_zips_left_by_an_earlier_run_are_removed_at_start() {
    let f = fixture(ResourceAccess::Read);
    let state = f.share.parent().unwrap().join("state");
    let old = state.join(".download-4194304-7");
    let mine = state.join(format!(".download-{}-0", std::process::id()));
    std::fs::write(&old, "a zip of a process gone").unwrap();
    std::fs::write(&mine, "a zip being made").unwrap();
    let config = Config::one_share("s", &f.share, &state, "http://127.0.0.1:9/");
    let _again = Resources::new(&config, Arc::clone(&f.store), Arc::clone(&f.attributions));
    assert!(!old.exists());
    assert!(mine.exists());
}

/// An admin of the API, signed in from a test address.
fn by(user: &str) -> Caller {
    Caller {
        user: user.into(),
        role: Role::Admin,
        address: "198.18.0.5".into(),
    }
}

#[test]
fn each_resource_given_out_is_a_download_by_its_caller() {
    let f = fixture(ResourceAccess::ReadWrite);
    f.resources.download(&by("ann"), &[b"/a.txt"]).unwrap();
    f.resources
        .download(&by("ann"), &[b"/docs", b"/a.txt"])
        .unwrap();
    assert!(f.resources.download(&by("ann"), &[b"/nothing"]).is_err());
    let got: Vec<String> = f
        .attributions
        .take_downloads()
        .into_iter()
        .map(|(share, path, who)| {
            format!(
                "{share}:{path} {}@{} {}",
                who.user, who.address, who.protocol
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            "s:/a.txt ann@198.18.0.5 api",
            "s:/docs ann@198.18.0.5 api",
            "s:/a.txt ann@198.18.0.5 api"
        ]
    );
    assert!(f.attributions.take_downloads().is_empty());
}
