//! Files deleted through the management API's service (`Resources::delete`) reach receivers
//! as Deletes by the API user, with protocol `api`, while a delete made on the disk keeps the
//! owner and the share's protocol. In process: the real daemon parts, a real share and a
//! real HTTP receiver.

use std::sync::Arc;
use std::time::Duration;

use sharehook::access::{Caller, Role};
use sharehook::config::{Config, Format, ResourceAccess, WatchMode};
use sharehook::daemon::Daemon;
use sharehook::store::Store;

use crate::support::{Receiver, wait_for, whoami};

#[test]
fn a_delete_through_the_api_names_the_api_user_and_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let share = dir.path().join("share");
    let state = dir.path().join("state");
    std::fs::create_dir_all(share.join("docs/deep")).unwrap();
    std::fs::create_dir(&state).unwrap();
    for file in ["a.txt", "keep.txt", "docs/x.txt", "docs/deep/y.txt"] {
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
    config.webhooks.push(v2);
    let store = Arc::new(Store::open(&state).unwrap());
    let mut daemon = Daemon::start_with(&config, store).unwrap();

    let carol = Caller {
        user: "carol".into(),
        role: Role::Admin,
        address: "127.0.0.1".into(),
    };
    let results = daemon.resources.delete(&carol, &[b"/a.txt", b"/docs"]);
    assert!(results.iter().all(|(_, r)| r.is_ok()), "{results:?}");
    std::fs::remove_file(share.join("keep.txt")).unwrap();

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
    ];
    let got = wait_for("six deliveries", || {
        let got = seen(6);
        (got.len() >= 6).then_some(got)
    });
    assert_eq!(got, expected);
    // Nothing more comes: what was inside the deleted folder is not reported apart.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(receiver.received().len(), 6, "{:#?}", seen(6));
    assert!(daemon.stop(Duration::from_secs(5)));
}
