//! Files deleted through the management API's service (`Resources::delete`) reach receivers
//! as Deletes by the API user, with protocol `api`, while a delete made on the disk keeps the
//! owner and the share's protocol; a file given out is a Download by the API user, once per
//! window. In process: the real daemon parts, a real share and a
//! real HTTP receiver.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use sharehook::config::{Config, Format, ResourceAccess, WatchMode};
use sharehook::daemon::Daemon;
use sharehook::service::access::{Caller, Role};
use sharehook::store::Store;

use crate::support::{Credentials, Nas, Receiver, api, patience, wait_for, whoami};

#[test]
fn a_delete_through_the_api_names_the_api_user_and_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let share = dir.path().join("share");
    let state = dir.path().join("state");
    std::fs::create_dir_all(share.join("docs/deep")).unwrap();
    std::fs::create_dir(&state).unwrap();
    for file in [
        "a.txt",
        "keep.txt",
        "get.txt",
        "docs/x.txt",
        "docs/deep/y.txt",
    ] {
        std::fs::write(share.join(file), file).unwrap();
    }
    let receiver = Receiver::start();
    let share = share.canonicalize().unwrap();
    let mut config = Config::one_share("nas", &share, &state, &receiver.url());
    config.shares[0].watch = WatchMode::Inotify;
    config.shares[0].protocol = "nfs".into();
    config.shares[0].resources = ResourceAccess::ReadWrite;
    config.watch.settle = Duration::from_millis(100);
    let mut v2 = config.webhooks[0].clone();
    v2.id = 2;
    v2.format = Format::V2;
    config.webhooks.push(v2.clone());
    // Downloads only: a webhook hears them when it asks.
    let mut reads = v2;
    reads.id = 3;
    reads.triggers = vec![sharehook::core::event::Operation::Download];
    config.webhooks.push(reads);
    let store = Arc::new(Store::open(&state).unwrap());
    let mut daemon = Daemon::start_with(&config, store).unwrap();

    let carol = Caller {
        user: "carol".into(),
        role: Role::Admin,
        address: "127.0.0.1".into(),
    };
    let results = daemon
        .resources
        .delete(&carol, &[b"/a.txt", b"/docs"])
        .unwrap();
    assert!(results.iter().all(|(_, r)| r.is_ok()), "{results:?}");
    std::fs::remove_file(share.join("keep.txt")).unwrap();
    // Read twice within the window: one Download.
    for _ in 0..2 {
        daemon.resources.download(&carol, &[b"/get.txt"]).unwrap();
    }

    // (format, operation, path, username, protocol) of each delivery.
    let seen = |n: usize| {
        let got = receiver.wait_for(n);
        let mut out: Vec<String> = got
            .iter()
            .map(|r| {
                let j = r.json();
                match j.get("eventData") {
                    Some(data) => format!(
                        "v2 {} {} {} {}",
                        j["event"].as_str().unwrap(),
                        data["resources"][0]["path"].as_str().unwrap(),
                        j["username"].as_str().unwrap(),
                        j["protocol"].as_str().unwrap()
                    ),
                    None => format!(
                        "v1 {} {} {} {}",
                        j["operation"].as_str().unwrap(),
                        j["path"].as_str().unwrap(),
                        j["username"].as_str().unwrap(),
                        j["protocol"].as_str().unwrap()
                    ),
                }
            })
            .collect();
        out.sort();
        out
    };
    let me = whoami();
    let expected = vec![
        "v1 Delete /a.txt carol api".to_owned(),
        "v1 Delete /docs carol api".to_owned(),
        format!("v1 Delete /keep.txt {me} nfs"),
        "v2 resources.delete /a.txt carol api".to_owned(),
        "v2 resources.delete /docs carol api".to_owned(),
        format!("v2 resources.delete /keep.txt {me} nfs"),
        "v2 resources.download /get.txt carol api".to_owned(),
    ];
    let got = wait_for("seven deliveries", || {
        let got = seen(7);
        (got.len() >= 7).then_some(got)
    });
    assert_eq!(got, expected);
    let download = receiver
        .received()
        .into_iter()
        .find(|r| r.json()["event"] == "resources.download")
        .unwrap()
        .json();
    assert_eq!(
        (&download["ipAddress"], &download["attribution"]),
        (&"127.0.0.1".into(), &"api".into())
    );
    // Nothing more comes: what was inside the deleted folder is not reported apart, and the
    // second read was within the window.
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(receiver.received().len(), 7, "{:#?}", seen(7));
    assert!(daemon.stop(Duration::from_secs(5)));
}

/// `/api/v2` path parameters are sent with nothing safe, as the SDKs send them.
fn param(path: &str) -> String {
    percent_encoding::utf8_percent_encode(path, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[test]
fn the_resources_routes_read_download_and_delete_inside_the_share_only() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config_with(&receiver.url(), "0", "resources = \"read-write\"\n", "");
    let share = nas.share();
    std::fs::create_dir_all(share.join("docs/sub")).unwrap();
    std::fs::write(share.join("docs/a.txt"), "alpha\n").unwrap();
    std::fs::write(share.join("docs/b.txt"), "bravo!\n").unwrap();
    std::fs::write(share.join("docs/sub/c.txt"), "charlie\n").unwrap();
    std::os::unix::fs::symlink("/etc", share.join("escape")).unwrap();
    // Bigger than a few of the chunks a download is read in.
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::create_dir(share.join("big")).unwrap();
    std::fs::write(share.join("big/data.bin"), &big).unwrap();
    std::os::unix::fs::symlink("a.txt", share.join("docs/link.txt")).unwrap();
    let daemon = nas.start();
    let base = format!("{}/api/v2", daemon.web_url());
    let admin = nas.credentials("alice", "admin");
    let viewer = nas.credentials("victor", "viewer");
    let get =
        |path: &str, who: &Credentials| api("GET", &format!("{base}{path}"), &who.headers(), None);

    // Info by path: a number as `id` (the SDKs read an integer), the v2 body's id as `hash`.
    let a = get(&format!("/resources/{}", param("/docs/a.txt")), &viewer);
    assert_eq!(a.status, 200, "{}", a.body);
    let data = &a.body["data"];
    assert_eq!(data["type"], "resource");
    assert!(data["id"].is_u64(), "{data}");
    assert_eq!(data["attributes"]["name"], "a.txt");
    assert_eq!(data["attributes"]["path"], "/docs/a.txt");
    assert_eq!(data["attributes"]["type"], "file");
    assert_eq!(data["attributes"]["size"], 6);
    assert_eq!(data["attributes"]["extension"], "txt");
    // The same resource by `id:N` and by `hash:X` (found in the index).
    let number = data["id"].as_u64().unwrap();
    let hash = data["attributes"]["hash"].as_str().unwrap().to_owned();
    for name in [format!("id:{number}"), format!("hash:{hash}")] {
        let b = get(&format!("/resources/{}", param(&name)), &viewer);
        assert_eq!(b.status, 200, "{name}: {}", b.body);
        assert_eq!(
            b.body["data"]["attributes"]["path"], "/docs/a.txt",
            "{name}"
        );
    }

    // A folder's entries, sorted, filtered and paged; links are left out.
    let l = get("/resources/list?resource=%2Fdocs&sort=-name", &viewer);
    assert_eq!(l.status, 200, "{}", l.body);
    let names: Vec<&str> = l.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["attributes"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sub", "b.txt", "a.txt"]);
    assert_eq!(l.body["data"][0]["attributes"]["type"], "dir");
    assert_eq!(l.body["data"][0]["attributes"]["fileCount"], 1);
    let l = get(
        "/resources/list?resource=%2Fdocs&type=file&limit=1&offset=1",
        &viewer,
    );
    assert_eq!(
        (
            l.body["totalResults"].as_u64(),
            l.body["returnedResults"].as_u64()
        ),
        (Some(2), Some(1)),
        "{}",
        l.body
    );
    assert_eq!(l.body["data"][0]["attributes"]["name"], "b.txt");

    // One file comes as it is, named for the SDK's download.
    let d = get(
        "/resources/download?resources%5B%5D=%2Fdocs%2Fa.txt",
        &viewer,
    );
    assert_eq!(d.status, 200);
    assert_eq!(d.raw, b"alpha\n");
    assert!(
        d.header("content-disposition")
            .unwrap()
            .ends_with("filename*=UTF-8''a.txt"),
        "{:?}",
        d.header("content-disposition")
    );
    let d = get(
        "/resources/download?resources%5B%5D=%2Fbig%2Fdata.bin",
        &viewer,
    );
    assert_eq!(d.status, 200);
    assert_eq!(d.header("content-length"), Some("300000"));
    assert!(
        d.raw == big,
        "the bytes as they are ({} received)",
        d.raw.len()
    );
    // A folder and a file come as one zip.
    let z = get(
        "/resources/download?resources%5B%5D=%2Fdocs%2Fsub&resources%5B%5D=%2Fdocs%2Fb.txt&downloadArchiveName=both",
        &viewer,
    );
    assert_eq!(z.status, 200);
    assert_eq!(z.header("content-type"), Some("application/zip"));
    assert!(
        z.header("content-disposition")
            .unwrap()
            .ends_with("''both.zip")
    );
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(z.raw.clone())).unwrap();
    let mut entries: Vec<(String, String)> = Vec::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut f, &mut text).unwrap();
        entries.push((f.name().unwrap().into_owned(), text));
    }
    entries.sort();
    assert_eq!(
        entries,
        [
            ("b.txt".to_owned(), "bravo!\n".to_owned()),
            ("sub/".to_owned(), String::new()),
            ("sub/c.txt".to_owned(), "charlie\n".to_owned()),
        ]
    );

    // Nothing outside the share: `..`, a link on the way, a link at the end; each named.
    for (name, field) in [
        ("/../../etc/passwd", "id"),
        ("/escape/passwd", "id"),
        ("/docs/link.txt", "id"),
    ] {
        let r = get(&format!("/resources/{}", param(name)), &admin);
        assert_eq!(r.status, 400, "{name}: {}", r.body);
        assert_eq!(r.error_code(), "ERROR_INVALID_PARAMETER", "{name}");
        let detail = r.body["errors"][0]["detail"].as_str().unwrap();
        assert!(detail.starts_with(field), "{name}: {detail}");
    }
    let r = get(
        "/resources/download?resources%5B%5D=%2Fescape%2Fpasswd",
        &admin,
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(!String::from_utf8_lossy(&r.raw).contains("root:"));
    let r = get(&format!("/resources/{}", param("/docs/none.txt")), &admin);
    assert_eq!(r.error_code(), "ERROR_RESOURCE_NOT_FOUND", "{}", r.body);

    // A viewer may not delete; an admin's delete reaches receivers as the admin's, over api.
    let del = |path: &str, who: &Credentials, body: Option<&str>| {
        api("DELETE", &format!("{base}{path}"), &who.headers(), body)
    };
    let r = del(
        &format!("/resources/{}", param("/docs/a.txt")),
        &viewer,
        None,
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.error_code(), "ERROR_INSUFFICIENT_PRIVILEGES");
    assert!(share.join("docs/a.txt").exists());
    let r = del(
        &format!("/resources/{}", param("/docs/a.txt")),
        &admin,
        Some("{}"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!share.join("docs/a.txt").exists());
    let r = del(
        "/resources",
        &admin,
        Some(r#"{"resources":["/docs/b.txt","/docs/none.txt","/escape"]}"#),
    );
    assert_eq!(r.status, 207, "{}", r.body);
    let statuses: Vec<u64> = r.body["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["responseStatus"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [200, 404, 400], "{}", r.body);
    assert!(
        std::fs::read_link(share.join("escape")).is_ok(),
        "the link itself is kept"
    );
    assert!(std::path::Path::new("/etc/passwd").exists());

    let got = wait_for("the two Deletes", || {
        let deletes: Vec<(String, String, String)> = receiver
            .received()
            .iter()
            .map(|r| r.json())
            .filter(|j| j["operation"] == "Delete")
            .map(|j| {
                (
                    j["path"].as_str().unwrap().to_owned(),
                    j["username"].as_str().unwrap().to_owned(),
                    j["protocol"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        (deletes.len() >= 2).then_some(deletes)
    });
    let mut got = got;
    got.sort();
    assert_eq!(
        got,
        [
            ("/docs/a.txt".into(), "alice".into(), "api".into()),
            ("/docs/b.txt".into(), "alice".into(), "api".into()),
        ]
    );
    let audit = String::from_utf8_lossy(&nas.cli(&["audit"]).stdout).into_owned();
    assert!(audit.contains("alice"), "{audit}");
    assert!(
        daemon.log().contains("/docs/a.txt"),
        "the journal names the delete"
    );
}

#[test]
fn a_share_without_the_resources_key_is_not_reachable_through_the_api() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config(&receiver.url(), "0");
    std::fs::write(nas.share().join("a.txt"), "a").unwrap();
    let daemon = nas.start();
    let base = format!("{}/api/v2", daemon.web_url());
    let admin = nas.credentials("alice", "admin");
    for (method, path) in [
        ("GET", "/resources/%2Fa.txt"),
        ("GET", "/resources/list?resource=%2F"),
        ("GET", "/resources/download?resources%5B%5D=%2Fa.txt"),
        ("DELETE", "/resources/%2Fa.txt"),
    ] {
        let r = api(method, &format!("{base}{path}"), &admin.headers(), None);
        assert_eq!(r.status, 403, "{method} {path}: {}", r.body);
        let detail = r.body["errors"][0]["detail"].as_str().unwrap();
        assert!(
            detail.contains("resources"),
            "names the key to set: {detail}"
        );
    }
    assert!(nas.share().join("a.txt").exists());
}

#[test]
fn bad_input_and_whole_refusals_get_exavault_s_json_errors_never_a_5xx() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config_with(&receiver.url(), "0", "resources = \"read-write\"\n", "");
    let share = nas.share();
    std::fs::create_dir_all(share.join("docs")).unwrap();
    std::fs::write(share.join("docs/a.txt"), "alpha\n").unwrap();
    let daemon = nas.start();
    let base = format!("{}/api/v2", daemon.web_url());
    let admin = nas.credentials("alice", "admin");
    let viewer = nas.credentials("victor", "viewer");
    let call = |method: &str, path: &str, who: &Credentials, body: Option<&str>| {
        let a = api(method, &format!("{base}{path}"), &who.headers(), body);
        assert!(
            a.header("content-type") == Some("application/json"),
            "{method} {path}: {} {:?} {}",
            a.status,
            a.header("content-type"),
            String::from_utf8_lossy(&a.raw)
        );
        assert_eq!(a.body["responseStatus"], a.status, "{method} {path}");
        a
    };

    // A name longer than a file system takes: 400 naming it (the disk said ENAMETOOLONG: 500).
    let long = "n".repeat(300);
    for (method, path, body) in [
        (
            "GET",
            format!("/resources/{}", param(&format!("/docs/{long}"))),
            None,
        ),
        (
            "GET",
            format!("/resources/list?resource=%2Fdocs%2F{long}%2Fdeeper"),
            None,
        ),
        (
            "DELETE",
            "/resources".to_owned(),
            Some(format!(r#"{{"resources":["/docs/a.txt","/docs/{long}"]}}"#)),
        ),
    ] {
        let a = call(method, &path, &admin, body.as_deref());
        assert_eq!(a.status, 400, "{method} {path}: {}", a.body);
        assert_eq!(a.error_code(), "ERROR_INVALID_PARAMETER");
        let detail = a.body["errors"][0]["detail"].as_str().unwrap();
        assert!(
            detail.contains(&long) && detail.contains("300 bytes"),
            "{detail}"
        );
    }
    assert!(
        share.join("docs/a.txt").exists(),
        "a refusal deletes nothing"
    );

    // A path parameter that is not UTF-8: ExaVault's JSON 400 naming it, on every webhook
    // route (axum answered in plain text); a file's name is bytes, so not found.
    for (method, path, name) in [
        ("GET", "/webhooks/%FF", "id"),
        ("PATCH", "/webhooks/%FF", "id"),
        ("DELETE", "/webhooks/%FF", "id"),
        ("POST", "/webhooks/regenerate-token/%FF", "id"),
        ("POST", "/webhooks/resend/%FF", "activityId"),
        ("POST", "/webhooks/%FF/recover", "id"),
        ("POST", "/webhooks/%FF/enable", "id"),
        ("POST", "/webhooks/%FF/test", "id"),
    ] {
        let a = call(method, path, &admin, Some("{}"));
        assert_eq!(a.status, 400, "{method} {path}: {}", a.body);
        assert_eq!(a.error_code(), "ERROR_INVALID_PARAMETER");
        let detail = a.body["errors"][0]["detail"].as_str().unwrap();
        assert!(detail.starts_with(&format!("{name}: ")), "{detail}");
    }
    for path in ["/resources/%FF", "/resources/list/%FF"] {
        let a = call("GET", path, &admin, None);
        assert_eq!(a.status, 404, "{path}: {}", a.body);
    }

    // A viewer's delete of several is refused whole, with its status, not a 207 of 403s.
    let a = call(
        "DELETE",
        "/resources",
        &viewer,
        Some(r#"{"resources":["/docs/a.txt","/docs/none.txt"]}"#),
    );
    assert_eq!(a.status, 403, "{}", a.body);
    assert_eq!(a.error_code(), "ERROR_INSUFFICIENT_PRIVILEGES");
    assert!(share.join("docs/a.txt").exists());
    // Nothing deletable: the first failure's status, every resource's error.
    let a = call(
        "DELETE",
        "/resources",
        &admin,
        Some(r#"{"resources":["/docs/none.txt","/docs/gone.txt"]}"#),
    );
    assert_eq!(a.status, 404, "{}", a.body);
    assert_eq!(
        a.body["errors"].as_array().map(Vec::len),
        Some(2),
        "{}",
        a.body
    );

    // ExaVault's routes not served: 404 saying so, never read as a file's name.
    std::fs::write(share.join("preview"), "a file named preview").unwrap();
    for (method, path) in [
        ("GET", "/resources/preview?resource=%2Fpreview&size=small"),
        ("POST", "/resources/upload?path=%2Fu.txt&fileSize=1"),
        ("PATCH", "/resources/%2Fpreview"),
        ("POST", "/resources"),
        ("GET", "/activity/session"),
    ] {
        let a = call(method, path, &admin, Some("{}"));
        assert_eq!(a.status, 404, "{method} {path}: {}", a.body);
        let detail = a.body["errors"][0]["detail"].as_str().unwrap();
        assert!(
            detail.contains("does not serve"),
            "{method} {path}: {detail}"
        );
    }
    assert!(!daemon.log().contains("api: "), "{}", daemon.log());
}

/// The unnamed files the daemon holds open in `state` (a download's zip has no name there).
fn zips_held(daemon: &crate::support::Daemon, state: &std::path::Path) -> usize {
    let fds = format!("/proc/{}/fd", daemon.child.id());
    let state = state.canonicalize().unwrap();
    std::fs::read_dir(fds)
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| {
            let t = target.to_string_lossy();
            target.starts_with(&state) && t.ends_with(" (deleted)")
        })
        .count()
}

/// Sends a download request on a connection of its own and reads only the answer's head:
/// the status, and the connection (to keep open, unread, or to close).
fn download_unread(web: &str, who: &Credentials, query: &str) -> (u16, String, TcpStream) {
    let address = web.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET /api/v2/resources/download?{query} HTTP/1.1\r\nHost: {address}\r\n\
         ev-api-key: {}\r\nev-access-token: {}\r\n\r\n",
        who.key, who.token
    )
    .unwrap();
    stream
        .set_read_timeout(Some(patience() + Duration::from_secs(60)))
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            stream.read(&mut byte).unwrap(),
            1,
            "the answer's head ended early"
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let status = head[9..12].parse().unwrap();
    (status, head, stream)
}

#[test]
fn unread_zip_downloads_are_bounded_and_their_zips_go_with_their_clients() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config_with(&receiver.url(), "0", "resources = \"read\"\n", "");
    let share = nas.share();
    std::fs::create_dir(share.join("big")).unwrap();
    // 10 MB that deflate cannot shrink, so each zip of the folder takes as much.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let noise: Vec<u8> = (0..10_000_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(share.join("big/noise.bin"), &noise).unwrap();
    let daemon = nas.start();
    let web = daemon.web_url();
    let state = nas.dir.path().join("state");
    let ann = nas.credentials("ann", "admin");
    let bob = nas.credentials("bob", "viewer");
    let folder = "resources%5B%5D=%2Fbig";

    // 40 zip downloads by one user, none read: two are made, the rest refused at once.
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..40 {
        let (status, head, stream) = download_unread(&web, &ann, folder);
        match status {
            200 => held.push(stream),
            429 => {
                assert!(head.contains("retry-after: 10"), "{head}");
                refused += 1;
            }
            other => panic!("{other}: {head}"),
        }
    }
    assert_eq!((held.len(), refused), (2, 38));
    // Another user has places of their own, up to the four sharehook makes at once.
    for _ in 0..2 {
        let (status, head, stream) = download_unread(&web, &bob, folder);
        assert_eq!(status, 200, "{head}");
        held.push(stream);
    }
    // A third user finds them all taken; the refusal is ExaVault's error shape, saying why.
    let carol = nas.credentials("carol", "viewer");
    let a = api(
        "GET",
        &format!("{web}/api/v2/resources/download?{folder}"),
        &carol.headers(),
        None,
    );
    assert_eq!(
        (a.status, a.error_code()),
        (429, "ERROR_RATE_LIMIT"),
        "{}",
        a.body
    );
    let detail = a.body["errors"][0]["detail"].as_str().unwrap();
    assert!(detail.contains("zip downloads are in progress"), "{detail}");
    // Four zips of about 10 MB in the state folder, not forty.
    assert_eq!(zips_held(&daemon, &state), 4);

    // The clients go: their zips go with them, and downloads work again.
    drop(held);
    wait_for("the zips of the closed downloads to be removed", || {
        (zips_held(&daemon, &state) == 0).then_some(())
    });
    let d = api(
        "GET",
        &format!("{web}/api/v2/resources/download?{folder}"),
        &ann.headers(),
        None,
    );
    assert_eq!(d.status, 200, "{}", String::from_utf8_lossy(&d.raw));
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(d.raw)).unwrap();
    let mut got = Vec::new();
    zip.by_name("big/noise.bin")
        .unwrap()
        .read_to_end(&mut got)
        .unwrap();
    assert!(got == noise, "the zip holds the file ({} bytes)", got.len());
    wait_for("the last zip to be removed", || {
        (zips_held(&daemon, &state) == 0).then_some(())
    });
}
