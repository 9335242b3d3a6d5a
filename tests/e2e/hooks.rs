//! Webhooks made through the API while the daemon runs: made, changed, given a new token and
//! deleted without a restart, each change applying to the next delivery, the webhooks of the
//! file going on beside them. The daemon runs in this process (the service layer is called
//! as the API calls it) and delivers to real receivers on loopback.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sharehook::config::{Config, WatchMode};
use sharehook::core::fault::{Fault, Kind};
use sharehook::core::retry::Schedule;
use sharehook::daemon::Daemon;
use sharehook::service::access::{Caller, Role};
use sharehook::service::hooks::{Origin, Spec};
use sharehook::store::Store;

use crate::support::*;

struct Place {
    _dir: tempfile::TempDir,
    share: PathBuf,
    state: PathBuf,
    config: Config,
}

/// A share with one configured webhook (id 1, every operation, v1) delivering to `url`.
fn nas(url: &str) -> Place {
    let dir = tempfile::tempdir().unwrap();
    let share = dir.path().join("share");
    std::fs::create_dir(&share).unwrap();
    let share = share.canonicalize().unwrap();
    let state = dir.path().join("state");
    let mut config = Config::one_share("acct", &share, &state, url);
    config.source = Some(dir.path().join("sharehook.toml"));
    config.shares[0].watch = WatchMode::Inotify;
    config.watch.settle = Duration::from_millis(100);
    config.delivery.schedule = Schedule::new(vec![Duration::ZERO, Duration::from_millis(200)]);
    config.delivery.rotation_grace = Duration::ZERO;
    Place {
        _dir: dir,
        share,
        state,
        config,
    }
}

fn spec(json: serde_json::Value) -> Spec {
    serde_json::from_value(json).unwrap()
}

/// Waits until `receiver` got a request whose body names `path`; returns it.
fn arrival(receiver: &Receiver, path: &str) -> Received {
    wait_for(&format!("a delivery of {path}"), || {
        receiver
            .received()
            .into_iter()
            .find(|r| String::from_utf8_lossy(&r.body).contains(path))
    })
}

fn got(receiver: &Receiver, path: &str) -> bool {
    receiver
        .received()
        .iter()
        .any(|r| String::from_utf8_lossy(&r.body).contains(path))
}

fn write(share: &Path, name: &str) {
    std::fs::write(share.join(name), name).unwrap();
}

#[test]
fn api_webhooks_take_effect_at_once_and_their_changes_at_the_next_delivery() {
    let file_hook = Receiver::start();
    let first = Receiver::start();
    let second = Receiver::start();
    let b = nas(&file_hook.url());
    std::fs::create_dir(b.share.join("in")).unwrap();
    let store = Arc::new(Store::open(&b.state).unwrap());
    let mut daemon = Daemon::start_with(&b.config, store).unwrap();
    let hooks = Arc::clone(&daemon.hooks);
    let root = Caller::local();

    // Made while the daemon runs: what is written next in its folder is delivered to it.
    let made = hooks
        .create(
            &root,
            spec(serde_json::json!({
                "endpointUrl": first.url(),
                "resource": "/in/",
                "responseVersion": "v2",
                "triggers": {"resources": {"upload": true, "download": false}},
            })),
        )
        .unwrap();
    assert!(made.id >= 1000, "{made:?}");
    assert_eq!(made.origin, Origin::Api);
    assert_eq!(made.resource, "/in");
    assert_eq!(made.created_by.as_deref(), Some("root"));
    let token = made.verification_token.clone().unwrap();
    write(&b.share.join("in"), "a.txt");
    write(&b.share, "outside.txt");
    let r = arrival(&first, "a.txt");
    assert_eq!(r.json()["event"], "resources.upload", "a v2 body");
    assert_eq!(r.json()["eventData"]["resources"][0]["path"], "/in/a.txt");
    assert_eq!(
        r.header("x-exavault-signature"),
        md5_signature(&token, &r.body)
    );
    arrival(&file_hook, "outside.txt");
    arrival(&file_hook, "a.txt");
    assert!(!got(&first, "outside.txt"), "only its folder goes to it");

    // A new URL: the next delivery goes there.
    let changed = hooks
        .update(
            &root,
            made.id,
            spec(serde_json::json!({"endpointUrl": second.url()})),
        )
        .unwrap();
    assert_eq!(changed.endpoint_url, second.url());
    assert_eq!(
        changed.response_version, "v2",
        "what the change does not name stays"
    );
    write(&b.share.join("in"), "b.txt");
    arrival(&second, "b.txt");
    assert!(!got(&first, "b.txt"));

    // A new token signs the next delivery; the old one, with no grace, signs nothing.
    let renewed = hooks.regenerate_token(&root, made.id).unwrap();
    let new_token = renewed.verification_token.clone().unwrap();
    assert_ne!(new_token, token);
    assert_eq!(hooks.token(made.id).unwrap().unwrap().expose(), new_token);
    write(&b.share.join("in"), "c.txt");
    let r = arrival(&second, "c.txt");
    assert_eq!(
        r.header("x-exavault-signature"),
        md5_signature(&new_token, &r.body)
    );
    assert_eq!(r.header("x-exavault-signature-previous"), "");

    // The webhook of the file is read-only here, and says where it is defined.
    for err in [
        hooks.update(&root, 1, Spec::default()).unwrap_err(),
        hooks.delete(&root, 1).unwrap_err(),
        hooks.regenerate_token(&root, 1).unwrap_err(),
    ] {
        assert_eq!(err.kind(), Kind::Forbidden);
        assert!(err.to_string().contains("sharehook.toml"), "{err}");
    }
    let viewer = Caller {
        user: "ann".into(),
        role: Role::Viewer,
        address: "127.0.0.1".into(),
    };
    let err = hooks.delete(&viewer, made.id).unwrap_err();
    assert_eq!(err.kind(), Kind::Forbidden);
    assert_eq!(
        hooks.enable(&viewer, 1).unwrap_err().kind(),
        Kind::Forbidden
    );
    // Enabling is for both kinds; neither was disabled.
    assert!(!hooks.enable(&root, 1).unwrap());
    assert!(!hooks.enable(&root, made.id).unwrap());
    let view = hooks.get(1).unwrap();
    assert_eq!(view.origin, Origin::File);
    assert!(view.file.as_ref().unwrap().ends_with("sharehook.toml"));
    assert_eq!(view.resource, "/");
    assert!(view.verification_token.is_some());
    assert!(view.for_viewer().verification_token.is_none());
    assert_eq!(
        hooks.delete(&root, 4242).unwrap_err().kind(),
        Kind::NotFound
    );
    let err = hooks
        .create(&root, spec(serde_json::json!({"endpointUrl": "ftp://x/"})))
        .unwrap_err();
    assert_eq!(err.kind(), Kind::invalid("endpointUrl"));
    let ids: Vec<u32> = hooks.list().unwrap().iter().map(|v| v.id).collect();
    assert_eq!(ids, [1, made.id]);

    // Deleted: nothing more goes to it; the webhook of the file goes on.
    hooks.delete(&root, made.id).unwrap();
    assert_eq!(hooks.get(made.id).unwrap_err().kind(), Kind::NotFound);
    write(&b.share.join("in"), "d.txt");
    arrival(&file_hook, "d.txt");
    std::thread::sleep(Duration::from_millis(1000));
    assert!(!got(&second, "d.txt"), "a deleted webhook gets nothing");
    assert!(daemon.stop(Duration::from_secs(10)));
}

#[test]
fn api_webhooks_outlive_a_restart_and_their_ids_are_never_taken_by_the_file() {
    let file_hook = Receiver::start();
    let api_hook = Receiver::start();
    let b = nas(&file_hook.url());
    let store = Arc::new(Store::open(&b.state).unwrap());
    let mut daemon = Daemon::start_with(&b.config, Arc::clone(&store)).unwrap();
    let made = daemon
        .hooks
        .create(
            &Caller::local(),
            spec(serde_json::json!({"endpointUrl": api_hook.url()})),
        )
        .unwrap();
    assert!(daemon.stop(Duration::from_secs(10)));

    // Started again (as a reload does): it is there, and delivers.
    let mut daemon = Daemon::start_with(&b.config, Arc::clone(&store)).unwrap();
    let view = daemon.hooks.get(made.id).unwrap();
    assert_eq!(view.endpoint_url, api_hook.url());
    assert_eq!(view.verification_token, made.verification_token);
    write(&b.share, "after.txt");
    arrival(&api_hook, "after.txt");
    assert!(daemon.stop(Duration::from_secs(10)));

    // A configuration naming its id is refused, naming both.
    let mut clash = b.config.clone();
    clash.webhooks[0].id = made.id;
    let err = match Daemon::start_with(&clash, Arc::clone(&store)) {
        Ok(_) => panic!("a configuration reusing an API webhook's id started"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("sharehook.toml"), "{err}");
    assert!(err.contains(&format!("webhook id {}", made.id)), "{err}");
    assert!(err.contains(&file_hook.url()), "{err}");
    assert!(err.contains(&api_hook.url()), "{err}");
    // And the state is left as it was: the running configuration starts again on it.
    let mut daemon = Daemon::start_with(&b.config, store).unwrap();
    assert_eq!(daemon.hooks.ids(), [1, made.id]);
    assert!(daemon.stop(Duration::from_secs(10)));
}

/// An API webhook put in the state of `nas` (as the API makes one); returns its id.
fn api_webhook_in_state(nas: &Nas, url: &str) -> u32 {
    let store = Store::open(&nas.dir.path().join("state")).unwrap();
    let hook = sharehook::store::ApiWebhook {
        id: 0,
        url: url.to_owned(),
        share: "public".into(),
        folder: sharehook::core::event::SharePath::root(),
        format: "v1".into(),
        triggers: sharehook::core::event::Operation::ALL.to_vec(),
        signature: "exavault".into(),
        created_ms: 0,
        modified_ms: 0,
        created_by: "root".into(),
    };
    store.add_api_webhook(&hook, &[1]).unwrap()
}

#[test]
fn the_daemon_runs_api_webhooks_and_its_commands_act_on_them() {
    let file_hook = Receiver::start();
    let api_hook = Receiver::start();
    let nas = Nas::new();
    nas.write_config(&file_hook.url(), "0");
    let id = api_webhook_in_state(&nas, &api_hook.url());
    assert_eq!(id, 1000);

    let daemon = nas.start();
    write(&nas.share(), "report.pdf");
    arrival(&api_hook, "report.pdf");
    arrival(&file_hook, "report.pdf");
    // The control socket finds its worker: enable and resend go through it.
    let out = nas.cli(&["enable", &id.to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let entry = nas
        .log_entries(&[])
        .into_iter()
        .find(|e| e["webhookId"] == id)
        .expect("a log entry of the API webhook");
    let attempt = entry["attemptId"].as_str().unwrap().to_owned();
    let out = nas.cli(&["resend", &attempt, "--webhook", &id.to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for("the resend", || {
        (api_hook
            .received()
            .iter()
            .filter(|r| String::from_utf8_lossy(&r.body).contains("report.pdf"))
            .count()
            == 2)
            .then_some(())
    });
    let out = nas.cli(&["resend", "--failed", "--webhook", &id.to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A reload of the file keeps it running.
    daemon.signal(libc::SIGHUP);
    daemon.wait_log("configuration reloaded", 1);
    write(&nas.share(), "after-reload.txt");
    arrival(&api_hook, "after-reload.txt");
    assert!(daemon.stop().success());

    // With no daemon, the commands act on the state.
    let out = nas.cli(&["enable", &id.to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = nas.cli(&["resend", &attempt, "--webhook", &id.to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = nas.cli(&["enable", "1001"]);
    assert!(!out.status.success());

    // A file naming the API webhook's id is refused at start, naming both webhooks.
    let text = std::fs::read_to_string(nas.config_path()).unwrap();
    let clash = text.replace("[[webhook]]\n", &format!("[[webhook]]\nid = {id}\n"));
    std::fs::write(nas.config_path(), clash).unwrap();
    let out = nas.run_briefly(&["run"]);
    assert!(!out.status.success(), "a clashing id started");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("webhook id {id}")), "{err}");
    assert!(
        err.contains(&file_hook.url()) && err.contains(&api_hook.url()),
        "{err}"
    );
    assert!(err.contains("sharehook.toml"), "{err}");
}
