//! The tests of `config`.

use super::show::toml_string;
use super::*;

/// Parses `body` (with `{share}` replaced by an existing folder) and returns the error text.
fn error_of(body: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let text = body.replace("{share}", &dir.path().to_string_lossy());
    match parse(&text, Path::new("/etc/sharehook/test.toml")) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn check_error(body: &str, expected: &str) {
    assert_eq!(error_of(body), expected);
}

const SHARE: &str = "[[share]]\nname = \"public\"\npath = \"{share}\"\n";

#[test]
fn the_host_name_is_the_kernel_s_without_reading_proc_sys() {
    // The unit hides /proc/sys (ProcSubset=pid); the default account name must not
    // fall back to "sharehook" there.
    let proc = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(host_name(), proc.trim());
}

#[test]
fn the_packaged_example_holds_no_setting_and_every_one_it_shows_is_valid() {
    let example = include_str!("../../systemd/sharehook.toml");
    let file = Path::new("/etc/sharehook/sharehook.toml");
    // As installed: every setting commented out, so no share (nothing starts).
    let err = parse(example, file).unwrap_err().to_string();
    assert!(err.contains("share"), "{err}");
    // With each `#key = value` and `#[table]` line taken in (the files it names that must
    // exist left out), it is a valid configuration with a share and a webhook.
    let dir = tempfile::tempdir().unwrap();
    let mut taken = 0;
    let text: String = example
        .lines()
        .filter_map(|line| {
            let setting = line
                .strip_prefix('#')
                .filter(|rest| rest.starts_with(|c: char| c.is_ascii_lowercase() || c == '['))?;
            taken += 1;
            // Files that must exist, and the token and secret, which are placeholders
            // that no one can take in as they are.
            let needs_file = [
                "ca_file",
                "tls_cert",
                "tls_key",
                "state_dir",
                "token",
                "secret",
            ]
            .iter()
            .any(|k| setting.starts_with(k));
            (!needs_file)
                .then(|| setting.replace("/srv/public", &dir.path().to_string_lossy()) + "\n")
        })
        .collect();
    assert!(taken >= 40, "only {taken} settings in the example");
    let config = parse(&text, file).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(config.shares.len(), 1);
    assert_eq!(config.webhooks.len(), 1);
}

#[test]
fn broken_files_name_the_file_the_line_and_the_key() {
    let f = "/etc/sharehook/test.toml";
    check_error(
        &format!("{SHARE}colour = \"blue\"\n"),
        &format!(
            "{f}: line 4: share[1].colour: unknown field `colour`, expected one of `name`, `path`, `protocol`, `watch`, `resources`"
        ),
    );
    check_error(
        "account_name = \"x\"\n[[share]]\nname = \"p\"\npath = \"/does/not/exist\"\n",
        &format!(
            "{f}: line 4: share[1].path: /does/not/exist cannot be used: No such file or directory (os error 2)"
        ),
    );
    check_error(
        &format!("{SHARE}[[webhook]]\nurl = \"ftp://example.net/x\"\n"),
        &format!(
            "{f}: line 5: webhook[1].url: \"ftp://example.net/x\" is not an http://, https://, nats://, tls://, mqtt:// or mqtts:// URL"
        ),
    );
    check_error(
        &format!(
            "{SHARE}[[webhook]]\nurl = \"http://h/\"\ntriggers = [\"upload\", \"compress\"]\n"
        ),
        &format!(
            "{f}: line 6: webhook[1].triggers: unknown trigger \"compress\" (known: upload, delete, move, rename, createFolder, download, copy)"
        ),
    );
    check_error(
        &format!("{SHARE}[[webhook]]\nurl = \"http://h/\"\nformat = \"v3\"\n"),
        &format!("{f}: line 6: webhook[1].format: unknown format \"v3\" (known: \"v1\", \"v2\")"),
    );
    check_error(
        &format!("{SHARE}[[webhook]]\nurl = \"http://h/\"\nshare = \"privat\"\n"),
        &format!("{f}: line 6: webhook[1].share: no share is named \"privat\" (shares: public)"),
    );
    check_error(
        &format!("{SHARE}[[webhook]]\nurl = \"http://h/\"\ntoken = \"abc\"\n"),
        &format!(
            "{f}: line 6: webhook[1].token: a verification token is 32 hex characters (0-9, a-f)"
        ),
    );
}

#[test]
fn delivery_settings_are_checked() {
    let f = "/etc/sharehook/test.toml";
    let hook = "[[webhook]]\nurl = \"http://h/\"\n";
    check_error(
        &format!("{SHARE}{hook}secret = \"whsec_AAAAAAAAAAAAAAAAAAAAAA==\"\n"),
        &format!(
            "{f}: line 6: webhook[1].secret: the secret's key is 16 bytes; at least 24 are needed"
        ),
    );
    check_error(
        &format!("{SHARE}{hook}signature = \"standard\"\n"),
        &format!(
            "{f}: line 6: webhook[1].signature: signature \"standard\" needs a secret = \"whsec_...\" to sign with"
        ),
    );
    check_error(
        &format!("{SHARE}{hook}ca_file = \"/nonexistent/ca.pem\"\n"),
        &format!(
            "{f}: line 6: webhook[1].ca_file: cannot read /nonexistent/ca.pem: No such file or directory (os error 2)"
        ),
    );
    check_error(
        &format!("{SHARE}[delivery]\ndeny_networks = [\"10.0.0.0/8\", \"lan\"]\n"),
        &format!(
            "{f}: line 5: delivery.deny_networks: \"lan\" is not a network (like 10.0.0.0/8 or fd00::/8)"
        ),
    );
    check_error(
        &format!("{SHARE}[delivery]\nqueue_limit = 0\n"),
        &format!("{f}: line 5: delivery.queue_limit: a whole number from 1 to 1000000000"),
    );
    check_error(
        &format!("{SHARE}[log]\nmax_age_days = -1\n"),
        &format!("{f}: line 5: log.max_age_days: a number of days from 0.0001 to 36500"),
    );
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{SHARE}{hook}format = \"v2\"\nsecret = \"whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"\n\
         [delivery]\nrotation_grace = 60\ndisable_after = 0\nrequest_timeout = 2.5\n\
         deny_networks = [\"10.0.0.0/8\"]\nallow_networks = [\"10.1.0.0/16\"]\nqueue_limit = 7\n\
         [log]\nmax_entries = 9\nmax_age_days = 0.5\n"
    )
    .replace("{share}", &dir.path().to_string_lossy());
    let c = parse(&text, Path::new("/x.toml")).unwrap();
    let w = &c.webhooks[0];
    assert_eq!((w.format, w.signature), (Format::V2, SignatureMode::Both));
    let d = &c.delivery;
    assert_eq!(d.rotation_grace, Duration::from_secs(60));
    assert_eq!(d.disable_after, Duration::ZERO);
    assert_eq!(d.request_timeout, Duration::from_millis(2500));
    assert_eq!(d.queue_limit, 7);
    assert_eq!(d.policy.deny.len(), netpolicy::DEFAULT_DENY.len() + 1);
    assert_eq!(d.policy.allow[0].to_string(), "10.1.0.0/16");
    assert_eq!(c.log.max_entries, 9);
    assert_eq!(c.log.max_age, Duration::from_secs(43_200));
    let shown = c.to_toml_redacted();
    assert!(!shown.contains("whsec_AAAA"), "{shown}");
    assert!(shown.contains("secret = \"<redacted>\""), "{shown}");
    assert!(
        shown.contains("deny_networks = [\"10.0.0.0/8\"]"),
        "{shown}"
    );
    assert!(shown.contains("format = \"v2\""), "{shown}");
}

#[test]
fn a_share_says_what_the_api_may_do_with_its_files() {
    let f = "/etc/sharehook/test.toml";
    check_error(
        &format!("{SHARE}resources = \"write\"\n"),
        &format!(
            "{f}: line 4: share[1].resources: unknown access \"write\" (known: off, read, read-write)"
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let with = |extra: &str| {
        let text = format!("{SHARE}{extra}").replace("{share}", &dir.path().to_string_lossy());
        parse(&text, Path::new("/x.toml")).unwrap()
    };
    let off = with("");
    assert_eq!(off.shares[0].resources, ResourceAccess::Off);
    assert!(off.to_toml_redacted().contains("resources = \"off\""));
    let read = with("resources = \"read\"\n");
    assert_eq!(read.shares[0].resources, ResourceAccess::Read);
    let rw = with("resources = \"read-write\"\n");
    assert_eq!(rw.shares[0].resources, ResourceAccess::ReadWrite);
    let shown = rw.to_toml_redacted();
    assert!(shown.contains("resources = \"read-write\""), "{shown}");
    // What `check` prints reads back as the same configuration.
    assert_eq!(
        parse(&shown, Path::new("/x.toml")).unwrap().shares,
        rw.shares
    );
    assert_eq!(rw.changes_from(&read), ["share public changed (resources)"]);
}

#[test]
fn type_and_syntax_errors_have_lines_too() {
    let e = error_of(&format!(
        "{SHARE}[delivery]\nretry_delays = [0, \"soon\"]\n"
    ));
    assert!(
        e.starts_with("/etc/sharehook/test.toml: line 5: delivery.retry_delays[2]: "),
        "{e}"
    );
    let e = error_of("[[share]\nname = 1\n");
    assert!(e.starts_with("/etc/sharehook/test.toml: line 1: "), "{e}");
    let e = error_of("[[share]]\nname = \"p\"\n");
    assert!(
        e.starts_with("/etc/sharehook/test.toml: line 1: share[1].path: missing field `path`"),
        "{e}"
    );
    check_error(
        "",
        "/etc/sharehook/test.toml: share: no [[share]] is configured: add one with a name and a path",
    );
}

#[test]
fn a_value_of_the_wrong_type_is_told_in_words() {
    let f = "/etc/sharehook/test.toml";
    let hook = "[[webhook]]\nurl = \"http://h/\"\n";
    let cases = [
        (
            format!("{SHARE}{hook}id = \"one\"\n"),
            "line 6: webhook[1].id: must be a whole number (got the text \"one\")",
        ),
        (
            format!("{SHARE}{hook}id = 1.5\n"),
            "line 6: webhook[1].id: must be a whole number (got the number 1.5)",
        ),
        (
            format!("{SHARE}{hook}triggers = \"upload\"\n"),
            "line 6: webhook[1].triggers: must be a list in brackets, such as [\"a\", \"b\"] (got the text \"upload\")",
        ),
        (
            format!("{SHARE}{hook}triggers = [\"upload\", 2]\n"),
            "line 6: webhook[1].triggers[2]: must be text in quotes (got the number 2)",
        ),
        (
            format!("{SHARE}{hook}url = 80\n").replace(hook, "[[webhook]]\n"),
            "line 5: webhook[1].url: must be text in quotes (got the number 80)",
        ),
        (
            format!("{SHARE}[web]\nmetrics = \"yes\"\n"),
            "line 5: web.metrics: must be true or false (got the text \"yes\")",
        ),
        (
            format!("{SHARE}[watch]\nignore_defaults = 0\n"),
            "line 5: watch.ignore_defaults: must be true or false (got the number 0)",
        ),
        (
            format!("{SHARE}[delivery]\nrequest_timeout = \"30s\"\n"),
            "line 5: delivery.request_timeout: must be a number (got the text \"30s\")",
        ),
        (
            format!("{SHARE}[web]\nlisten = 8080\n"),
            "line 5: web.listen: must be an address and port in quotes, such as \"127.0.0.1:8080\", or a list of them",
        ),
        (
            format!("state_dir = true\n{SHARE}"),
            "line 1: state_dir: must be text in quotes (got true)",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(error_of(&text), format!("{f}: {expected}"), "{text}");
    }
}

#[test]
fn a_key_after_a_table_it_does_not_belong_to_is_pointed_out() {
    let f = "/etc/sharehook/test.toml";
    check_error(
        &format!("{SHARE}[[webhook]]\nurl = \"http://h/\"\nstate_dir = \"/srv/state\"\n"),
        &format!(
            "{f}: line 6: webhook[1].state_dir: `state_dir` is a top-level key but comes after \
             [[webhook]]; TOML puts it in that table — move it above the first [table]"
        ),
    );
    check_error(
        &format!("{SHARE}account_name = \"nas\"\n"),
        &format!(
            "{f}: line 4: share[1].account_name: `account_name` is a top-level key but comes \
             after [[share]]; TOML puts it in that table — move it above the first [table]"
        ),
    );
    check_error(
        &format!("{SHARE}[delivery]\nsettle_ms = 500\n"),
        &format!(
            "{f}: line 5: delivery.settle_ms: `settle_ms` is a key of [watch], not of \
             [delivery]; TOML puts a key in the table above it — move it under [watch]"
        ),
    );
    check_error(
        &format!("retry_delays = [1]\n{SHARE}"),
        &format!(
            "{f}: line 1: retry_delays: `retry_delays` is a key of [delivery]: move it under [delivery]"
        ),
    );
    // A key no table has keeps serde's list of what is expected.
    let e = error_of(&format!("{SHARE}[delivery]\ncolour = 1\n"));
    assert!(e.contains("unknown field `colour`, expected one of"), "{e}");
}

#[test]
fn relative_paths_are_taken_from_the_config_files_folder() {
    let dir = tempfile::tempdir().unwrap();
    let text =
        format!("state_dir = \"state\"\n{SHARE}").replace("{share}", &dir.path().to_string_lossy());
    let c = parse(&text, Path::new("/etc/sharehook/x.toml")).unwrap();
    assert_eq!(c.state_dir, Path::new("/etc/sharehook/state"));
    // A file named relative to the working folder: the state is still an absolute path.
    let c = parse(&text, Path::new("x.toml")).unwrap();
    let here = std::env::current_dir().unwrap();
    assert_eq!(c.state_dir, here.join("state"));
    assert!(
        c.to_toml_redacted()
            .contains(&format!("state_dir = \"{}\"", here.join("state").display()))
    );
}

#[test]
fn warnings_name_what_is_probably_not_meant() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("a")).unwrap();
    let d = dir.path().join("a").display().to_string();
    let file = dir.path().join("sharehook.toml");
    let chmod = |p: &Path, mode: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    let load_with = |text: &str, mode: u32| {
        std::fs::write(&file, text.replace("{share}", &d)).unwrap();
        chmod(&file, mode);
        load(&file).unwrap().warnings(&[])
    };
    let token = "token = \"efb7e0030e6cef1b45d3d74a67881a2b\"\n";
    let hook = format!("[[webhook]]\nurl = \"http://u:pw@h/\"\n{token}");
    let secrets = format!("{SHARE}{hook}");
    let f = file.display();
    assert_eq!(
        load_with(&secrets, 0o644),
        [format!(
            "{f} holds webhook tokens or secrets, and every user of this machine can read it \
             (mode 0644): chmod 640 {f}"
        )]
    );
    assert_eq!(load_with(&secrets, 0o640), Vec::<String>::new());
    assert_eq!(
        load_with(&secrets.replace(token, ""), 0o644),
        Vec::<String>::new(),
        "no secret in the file"
    );
    let key = dir.path().join("key.pem");
    std::fs::write(&key, "x").unwrap();
    chmod(&key, 0o604);
    let web = "[web]\ntls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n";
    assert_eq!(
        load_with(&format!("{secrets}{web}"), 0o600),
        [format!(
            "web.tls_key: {} is a private key, and every user of this machine can read it \
             (mode 0604): chmod 600 {}",
            key.display(),
            key.display()
        )]
    );
    assert_eq!(
        load_with(SHARE, 0o644),
        [
            "no [[webhook]] is configured (nor made through the API): changes are watched \
          but nothing is sent; add a [[webhook]] with a url"
        ]
    );
    let api = ["public".to_owned()];
    assert_eq!(
        load(&file).unwrap().warnings(&api),
        Vec::<String>::new(),
        "a webhook made through the API sends"
    );
    std::fs::create_dir(dir.path().join("b")).unwrap();
    let two = format!(
        "{SHARE}[[share]]\nname = \"b\"\npath = \"b\"\n{hook}share = \"public\"\n[watch]\nignore = [\"*\"]\n"
    );
    assert_eq!(
        load_with(&two, 0o600),
        [
            "share \"b\": no [[webhook]] watches it, so its changes are sent nowhere (add \
             share = \"b\" to a [[webhook]])",
            "watch.ignore: \"*\" matches every name: nothing in the shares will be reported"
        ]
    );
}

#[test]
fn watch_settings_are_checked_and_read() {
    check_error(
        &format!("{SHARE}[watch]\nsettle_ms = -5\n"),
        "/etc/sharehook/test.toml: line 5: watch.settle_ms: a number of milliseconds from 0 to 3600000",
    );
    check_error(
        &format!("{SHARE}[watch]\nignore = [\"!nothing\"]\n"),
        "/etc/sharehook/test.toml: line 5: watch.ignore[1]: \"!nothing\": \"nothing\" is not in the list, so it cannot be taken out",
    );
    // The pattern at fault is named, with its own line.
    check_error(
        &format!("{SHARE}[watch]\nignore = [\n  \"*.bak\",\n  \"cache/old\",\n]\n"),
        "/etc/sharehook/test.toml: line 7: watch.ignore[2]: \"cache/old\" has a / inside: a pattern matches one name, not a path",
    );
    check_error(
        &format!("{SHARE}watch = \"fast\"\n"),
        "/etc/sharehook/test.toml: line 4: share[1].watch: unknown mode \"fast\" (known: auto, inotify, poll)",
    );
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{SHARE}watch = \"poll\"\n[watch]\nsettle_ms = 0\nrescan_interval = 0\npoll_interval = 2.5\n\
         ignore_defaults = false\nignore = [\"*.bak\"]\n"
    )
    .replace("{share}", &dir.path().to_string_lossy());
    let c = parse(&text, Path::new("/x.toml")).unwrap();
    assert_eq!(c.shares[0].watch, WatchMode::Poll);
    assert_eq!(c.watch.settle, Duration::ZERO);
    assert_eq!(c.watch.rescan_interval, None);
    assert_eq!(c.watch.poll_interval, Duration::from_millis(2500));
    assert_eq!(c.watch.ignore.patterns().collect::<Vec<_>>(), ["*.bak"]);
    // `check` prints it back so that it reads the same.
    let again = parse(
        &c.to_toml_redacted().replace("<redacted>", "x"),
        Path::new("/x.toml"),
    );
    let again = again.unwrap();
    assert_eq!(again.watch, c.watch);
    assert_eq!(again.shares[0].watch, WatchMode::Poll);
}

#[test]
fn web_settings_are_checked_and_read() {
    check_error(
        &format!("{SHARE}[web]\nlisten = \"localhost\"\n"),
        "/etc/sharehook/test.toml: line 5: web.listen: \"localhost\" is not an address and port such as \"127.0.0.1:8080\", \"0.0.0.0:8443\" or \"[::1]:8080\"",
    );
    check_error(
        &format!("{SHARE}[web]\ntls_cert = \"/etc/c.pem\"\n"),
        "/etc/sharehook/test.toml: web.tls_key: tls_cert and tls_key go together: give both (PEM files), or neither for a self-signed certificate",
    );
    check_error(
        &format!("{SHARE}[web]\nport = 1\n"),
        "/etc/sharehook/test.toml: line 5: web.port: unknown field `port`, expected one of `listen`, `tls`, `tls_cert`, `tls_key`, `metrics`, `hosts`",
    );
    let dir = tempfile::tempdir().unwrap();
    let share =
        |rest: &str| format!("{SHARE}{rest}").replace("{share}", &dir.path().to_string_lossy());
    let c = parse(&share(""), Path::new("/x.toml")).unwrap();
    assert_eq!(c.web.listen, ["127.0.0.1:8080".parse().unwrap()]);
    assert!(!c.web.listen_given);
    assert!(!c.web.tls_on(&c.web.listen[0]), "plain HTTP on loopback");
    let text = share(
        "[web]\nlisten = [\"0.0.0.0:8443\", \"[::1]:8080\"]\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\nmetrics = true\nhosts = [\"NAS.example.lan\", \"nas\"]\n",
    );
    let c = parse(&text, Path::new("/etc/sharehook/x.toml")).unwrap();
    assert_eq!(c.web.listen.len(), 2);
    assert!(c.web.tls_on(&c.web.listen[0]), "HTTPS off loopback");
    assert!(!c.web.tls_on(&c.web.listen[1]));
    assert_eq!(
        c.web.tls_cert.as_deref(),
        Some(Path::new("/etc/sharehook/c.pem"))
    );
    assert!(c.web.metrics);
    assert_eq!(c.web.hosts, ["nas.example.lan", "nas"]);
    let again = parse(&c.to_toml_redacted(), Path::new("/etc/sharehook/x.toml")).unwrap();
    assert_eq!(again.web.listen, c.web.listen);
    assert_eq!(again.web.hosts, c.web.hosts);
    let err = parse(
        &share("[web]\nhosts = [\"http://nas:8080/\"]\n"),
        Path::new("/x.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("web.hosts") && err.contains("is not a host name"),
        "{err}"
    );
    assert_eq!(again.web.tls_key, c.web.tls_key);
    let off = parse(
        &share("[web]\nlisten = []\ntls = false\n"),
        Path::new("/x.toml"),
    )
    .unwrap();
    assert!(off.web.listen.is_empty());
    assert_eq!(off.web.tls, Some(false));
}

#[test]
fn defaults_fill_what_is_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("{SHARE}[[webhook]]\nurl = \"http://10.0.0.5:9000/hook\"\n")
        .replace("{share}", &dir.path().to_string_lossy());
    let c = parse(&text, Path::new("/x.toml")).unwrap();
    assert_eq!(c.account_name, host_name());
    assert_eq!(c.state_dir, PathBuf::from(DEFAULT_STATE_DIR));
    assert_eq!(c.shares[0].protocol, "smb");
    let w = &c.webhooks[0];
    assert_eq!(
        (w.id, w.share.as_str(), w.format),
        (1, "public", Format::V1)
    );
    assert_eq!(w.folder, SharePath::root());
    // Downloads are heard only when asked for.
    assert_eq!(w.triggers, Operation::CHANGES);
    assert!(w.token.is_none());
    assert_eq!(c.delivery.schedule, Schedule::default());
}

#[test]
fn check_output_never_shows_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let token = "efb7e0030e6cef1b45d3d74a67881a2b";
    let text = format!(
        "{SHARE}[[webhook]]\nurl = \"http://h/\"\ntoken = \"{token}\"\n\n[attribution]\n\
         samba_audit = \"/var/log/samba/audit.log\"\nsamba_prefix = \"%u|%I|sh0123456789abcdef\"\n"
    )
    .replace("{share}", &dir.path().to_string_lossy());
    let shown = parse(&text, Path::new("/x.toml"))
        .unwrap()
        .to_toml_redacted();
    assert!(!shown.contains(token), "{shown}");
    assert!(shown.contains("token = \"<redacted>\""), "{shown}");
    // Nor the secret of Samba's audit prefix.
    assert!(!shown.contains("sh0123456789abcdef"), "{shown}");
    assert!(shown.contains("samba_prefix = \"%u|%I|***\""), "{shown}");
}

#[test]
fn overlapping_shares_are_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().canonicalize().unwrap();
    std::fs::create_dir_all(d.join("x/sub")).unwrap();
    std::fs::create_dir_all(d.join("xy")).unwrap();
    std::os::unix::fs::symlink(d.join("x"), d.join("link")).unwrap();
    let two = |a: &str, b: &str| {
        let text = format!(
            "[[share]]\nname = \"a\"\npath = \"{}/{a}\"\n\n[[share]]\nname = \"b\"\npath = \"{}/{b}\"\n",
            d.display(),
            d.display()
        );
        parse(&text, Path::new("/etc/sharehook/test.toml")).map(|_| ())
    };
    let f = "/etc/sharehook/test.toml: line 7: share[2].path";
    let x = d.join("x").display().to_string();
    let cases = [
        (
            "x",
            "x/../x",
            format!(
                "{f}: {x}/../x (which is {x}) is the same folder as share \"a\" ({x}): shares must not overlap"
            ),
        ),
        (
            "x",
            "link",
            format!(
                "{f}: {}/link (which is {x}) is the same folder as share \"a\" ({x}): shares must not overlap",
                d.display()
            ),
        ),
        (
            "x",
            "x/sub",
            format!(
                "{f}: {x}/sub lies inside share \"a\" ({x}): shares must not overlap (a webhook's folder picks part of a share)"
            ),
        ),
        (
            "link/sub",
            "x",
            format!(
                "{f}: {x} holds share \"a\" ({x}/sub): shares must not overlap (a webhook's folder picks part of a share)"
            ),
        ),
    ];
    for (a, b, expected) in cases {
        assert_eq!(
            two(a, b).map_err(|e| e.to_string()),
            Err(expected),
            "{a} and {b}"
        );
    }
    assert_eq!(two("x", "xy"), Ok(()), "siblings with a common prefix");
    assert_eq!(two("x/sub", "xy"), Ok(()));
}

#[test]
fn a_reload_names_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let other = tempfile::tempdir().unwrap();
    let b = other.path().display();
    let base =
        format!("{SHARE}[[webhook]]\nurl = \"http://h/\"\n[[webhook]]\nurl = \"http://i/\"\n")
            .replace("{share}", &d.to_string());
    let old = parse(&base, Path::new("/x.toml")).unwrap();
    assert_eq!(old.changes_from(&old), Vec::<String>::new());
    let text = format!(
        "{SHARE}[[share]]\nname = \"b\"\npath = \"{b}\"\n\
         [[webhook]]\nurl = \"http://h2/\"\nshare = \"public\"\ntoken = \"efb7e0030e6cef1b45d3d74a67881a2b\"\n\
         [[webhook]]\nid = 3\nurl = \"http://i/\"\nshare = \"b\"\n[watch]\nsettle_ms = 5\n"
    )
    .replace("{share}", &d.to_string());
    let new = parse(&text, Path::new("/x.toml")).unwrap();
    assert_eq!(
        new.changes_from(&old),
        [
            "share b added",
            "webhook 1 changed (url, token)",
            "webhook 3 added",
            "webhook 2 removed",
            "[watch] changed"
        ]
    );
}

#[test]
fn check_output_escapes_every_control_character_and_reads_back() {
    let text = "a\"b\\c\n\u{1b}[2J\u{7f}\u{9b}é\u{202e}\u{2066}";
    let shown = toml_string(text);
    assert_eq!(
        shown,
        r#""a\"b\\c\u000a\u001b[2J\u007f\u009bé\u202e\u2066""#
    );
    let back: toml::Table = toml::from_str(&format!("k = {shown}")).unwrap();
    assert_eq!(back["k"].as_str(), Some(text));
}

fn event(op: Operation, path: &str, source: Option<&str>, is_dir: bool) -> Event {
    Event {
        id: 1,
        op,
        share: "public".into(),
        path: SharePath::from_config(path),
        source: source.map(SharePath::from_config),
        is_dir,
        username: "u".into(),
        time_ms: 0,
        size: None,
        protocol: None,
        address: String::new(),
        attribution: crate::core::event::Attribution::Owner,
    }
}

#[test]
fn routing_follows_share_folder_and_triggers() {
    let hook = Webhook {
        id: 1,
        url: "http://h/".into(),
        share: "public".into(),
        folder: SharePath::from_config("/in"),
        format: Format::V1,
        triggers: vec![
            Operation::Upload,
            Operation::Delete,
            Operation::Move,
            Operation::CreateFolder,
        ],
        token: None,
        secret: None,
        signature: SignatureMode::Exavault,
        ca_file: None,
        credentials: None,
    };
    let show = |e: Option<Event>| {
        e.map(|e| {
            format!(
                "{:?} {} {:?}",
                e.op,
                e.path,
                e.source.map(|s| s.to_string())
            )
        })
    };
    let r = |op, path, src, dir| show(hook.route(&event(op, path, src, dir)));
    assert_eq!(
        r(Operation::Upload, "/in/a", None, false).as_deref(),
        Some("Upload /in/a None")
    );
    assert_eq!(r(Operation::Upload, "/out/a", None, false), None);
    assert_eq!(r(Operation::Upload, "/inside", None, false), None);
    assert_eq!(
        r(Operation::Rename, "/in/b", Some("/in/a"), false),
        None,
        "rename not a trigger"
    );
    assert_eq!(
        r(Operation::Move, "/in/x/a", Some("/in/a"), false).as_deref(),
        Some("Move /in/x/a Some(\"/in/a\")")
    );
    assert_eq!(
        r(Operation::Move, "/in/a", Some("/out/a"), false).as_deref(),
        Some("Upload /in/a None")
    );
    assert_eq!(
        r(Operation::Move, "/in/d", Some("/out/d"), true).as_deref(),
        Some("CreateFolder /in/d None")
    );
    assert_eq!(
        r(Operation::Move, "/out/a", Some("/in/a"), false).as_deref(),
        Some("Delete /in/a None")
    );
    // A copy: an Upload to a webhook that does not ask for copies; a Copy to one that does,
    // when its source is in the folder too; nothing when it lands outside.
    assert_eq!(
        r(Operation::Copy, "/in/b", Some("/in/a"), false).as_deref(),
        Some("Upload /in/b None")
    );
    let mut copies = hook.clone();
    copies.triggers.push(Operation::Copy);
    let c = |path, src| show(copies.route(&event(Operation::Copy, path, src, false)));
    assert_eq!(
        c("/in/b", Some("/in/a")).as_deref(),
        Some("Copy /in/b Some(\"/in/a\")")
    );
    assert_eq!(
        c("/in/b", Some("/out/a")).as_deref(),
        Some("Upload /in/b None")
    );
    assert_eq!(c("/out/b", Some("/in/a")), None);
    let mut other = event(Operation::Upload, "/in/a", None, false);
    other.share = "private".into();
    assert!(hook.route(&other).is_none());
}
