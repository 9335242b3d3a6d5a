//! Publishing to brokers, against real ones started here: a three-node JetStream cluster of
//! Debian's nats-server (its stream leader killed and restarted, sharehook killed with SIGKILL
//! and restarted, while 5,000 events go out: each in the stream once, in event order), two
//! boxes into one stream read by a durable consumer, a broker that refuses (no stream, a wrong
//! password) until the cause is fixed, Debian's mosquitto with persistence across a restart,
//! and ExaVault's Python SDK making a nats:// webhook and reading its log. The stream is
//! created from what `sharehook setup nats` prints; the consumers are nats-py and paho-mqtt.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

fn python() -> PathBuf {
    venv_python(&["nats", "paho.mqtt.client", "exavault"])
}

/// nats-py helpers, run as `python HELPER COMMAND ARGS...`.
const NATS_PY: &str = r#"
import asyncio, json, sys, time
import nats

async def connect(url):
    return await nats.connect(servers=url.split(","), connect_timeout=2, max_reconnect_attempts=5)

async def main():
    cmd, url = sys.argv[1], sys.argv[2]
    nc = await connect(url)
    if cmd == "create":
        definition = open(sys.argv[3], "rb").read()
        name = json.loads(definition)["name"]
        deadline = time.monotonic() + float(sys.argv[4])
        while True:
            try:
                r = await nc.request("$JS.API.STREAM.CREATE." + name, definition, timeout=5)
                answer = json.loads(r.data)
                if "error" not in answer:
                    print("created", name); break
                if answer["error"].get("err_code") == 10058:  # already exists
                    print("exists", name); break
                why = answer["error"]
            except Exception as e:
                why = repr(e)
            if time.monotonic() > deadline:
                print("cannot create:", why); sys.exit(1)
            await asyncio.sleep(0.5)
    elif cmd == "leader":
        r = await nc.request("$JS.API.STREAM.INFO." + sys.argv[3], b"", timeout=5)
        print(json.loads(r.data)["cluster"].get("leader", ""))
    elif cmd == "dump":
        # Every message of the stream, in stream order, through a durable pull consumer.
        js = nc.jetstream()
        stream, durable, want = sys.argv[3], sys.argv[4], int(sys.argv[5])
        sub = await js.pull_subscribe("", durable=durable, stream=stream)
        got = []
        deadline = time.monotonic() + 120
        while len(got) < want and time.monotonic() < deadline:
            try:
                msgs = await sub.fetch(500, timeout=2)
            except Exception:
                continue
            for m in msgs:
                body = json.loads(m.data)
                got.append({"subject": m.subject, "id": m.headers.get("Nats-Msg-Id"),
                            "seq": m.metadata.sequence.stream, "path": body.get("path"),
                            "account": body.get("accountname"), "webhook_id": m.headers.get("webhook-id")})
                await m.ack()
        info = json.loads((await nc.request("$JS.API.STREAM.INFO." + stream, b"", timeout=5)).data)
        print(json.dumps({"messages": info["state"]["messages"], "got": got}))
    await nc.close()

asyncio.run(main())
"#;

fn helper(dir: &Path) -> PathBuf {
    let path = dir.join("nats_helper.py");
    std::fs::write(&path, NATS_PY).unwrap();
    path
}

fn nats_py(dir: &Path, args: &[&str]) -> String {
    let r = run_script(
        &python(),
        &[helper(dir).to_str().unwrap()]
            .into_iter()
            .chain(args.iter().copied())
            .collect::<Vec<_>>(),
        &[],
        dir,
        scaled(Duration::from_secs(180)),
    );
    assert!(r.ok, "nats-py {args:?} failed:\n{}", r.output);
    r.output
}

/// nats-server processes on loopback ports, as one cluster when more than one.
struct Nats {
    dir: PathBuf,
    ports: Vec<(u16, u16)>,
    children: Vec<Option<Child>>,
    extra: String,
}

impl Nats {
    fn start(dir: &Path, n: usize, extra: &str) -> Nats {
        need("nats-server", "nats-server");
        let ports = (0..n)
            .map(|_| (Receiver::free_port(), Receiver::free_port()))
            .collect();
        let mut nats = Nats {
            dir: dir.to_owned(),
            ports,
            children: (0..n).map(|_| None).collect(),
            extra: extra.to_owned(),
        };
        for i in 0..n {
            nats.restart(i);
        }
        nats
    }

    fn restart(&mut self, i: usize) {
        let path = self.write_conf(i);
        let port = self.ports[i].0;
        let log = std::fs::File::create(self.dir.join(format!("n{i}.log"))).unwrap();
        let child = Command::new("nats-server")
            .arg("-c")
            .arg(&path)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start nats-server");
        self.children[i] = Some(child);
        wait_for("nats-server to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
    }

    fn write_conf(&self, i: usize) -> PathBuf {
        let (port, cluster) = self.ports[i];
        let store = self.dir.join(format!("n{i}"));
        let mut conf = format!(
            "server_name: n{i}\nlisten: 127.0.0.1:{port}\njetstream {{ store_dir: \"{}\" }}\n{}\n",
            store.display(),
            self.extra
        );
        if self.ports.len() > 1 {
            let routes: Vec<String> = self
                .ports
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, (_, c))| format!("nats://127.0.0.1:{c}"))
                .collect();
            conf.push_str(&format!(
                "cluster {{ name: shk, listen: 127.0.0.1:{cluster}, routes: [{}] }}\n",
                routes.join(", ")
            ));
        }
        let path = self.dir.join(format!("n{i}.conf"));
        std::fs::write(&path, conf).unwrap();
        path
    }

    /// Writes server `i`'s configuration again and has it read it (SIGHUP).
    fn reload(&mut self, i: usize) {
        let child = self.children[i].take();
        self.write_conf(i);
        if let Some(c) = &child {
            unsafe { libc::kill(c.id() as i32, libc::SIGHUP) };
        }
        self.children[i] = child;
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.children[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self) -> String {
        self.ports
            .iter()
            .map(|(p, _)| format!("127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn py_url(&self) -> String {
        self.ports
            .iter()
            .map(|(p, _)| format!("nats://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Creates the stream `sharehook setup nats` describes.
    fn create_stream(&self, replicas: u32) {
        self.create_stream_as(&self.py_url(), replicas);
    }

    /// The same, signed in through `url` (which carries a user and password).
    fn create_stream_as(&self, url: &str, replicas: u32) {
        let out = sharehook()
            .args(["setup", "nats", "--replicas", &replicas.to_string()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let file = self.dir.join("stream.json");
        std::fs::write(&file, &out.stdout).unwrap();
        let said = nats_py(&self.dir, &["create", url, file.to_str().unwrap(), "60"]);
        assert!(
            said.contains("created FILES") || said.contains("exists FILES"),
            "{said}"
        );
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        for i in 0..self.children.len() {
            self.kill(i);
        }
    }
}

fn nats_config(nas: &Nas, account: &str, url: &str, extra_hook: &str) {
    nas.write_config_text(&format!(
        "[[webhook]]\nurl = \"{url}\"\ntoken = \"{TOKEN}\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n{extra_hook}\n\
         [delivery]\nretry_delays = [0.5, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\nrequest_timeout = 3\nconnect_timeout = 2\n"
    ));
    let text = std::fs::read_to_string(nas.config_path()).unwrap().replace(
        "account_name = \"testnas\"",
        &format!("account_name = \"{account}\""),
    );
    std::fs::write(nas.config_path(), text).unwrap();
}

/// The stream's messages, read by a durable consumer.
fn dump(dir: &Path, url: &str, durable: &str, want: usize) -> (u64, Vec<serde_json::Value>) {
    let out = nats_py(dir, &["dump", url, "FILES", durable, &want.to_string()]);
    let line = out
        .lines()
        .rfind(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no dump: {out}"));
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    (
        v["messages"].as_u64().unwrap(),
        v["got"].as_array().unwrap().clone(),
    )
}

fn write_wave(share: &Path, from: usize, to: usize) {
    for i in from..to {
        std::fs::write(share.join(format!("f{i:05}.txt")), b"x").unwrap();
    }
}

/// Waits until the daemon's log shows `n` acknowledgements in all.
fn wait_acks(nas: &Nas, n: usize, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let got = nas
            .log_entries(&["--status", "2xx", "--limit", "100000"])
            .len();
        if got >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{got} of {n} events acknowledged by the stream"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn a_three_node_cluster_holds_each_of_5000_events_once_in_order_through_a_leader_kill_and_a_sigkill()
 {
    let nas = Nas::new();
    let mut cluster = Nats::start(nas.dir.path(), 3, "");
    cluster.create_stream(3);
    let url = format!(
        "nats://{}/files.{{account}}.{{share}}.{{event}}",
        cluster.url()
    );
    nats_config(&nas, "box1", &url, "");
    let share = nas.share();
    let total = 5000;
    let mut daemon = nas.start();

    write_wave(&share, 0, 1000);
    // The leader dies while events go out, and comes back later.
    let leader = nats_py(nas.dir.path(), &["leader", &cluster.py_url(), "FILES"]);
    let leader = leader
        .trim()
        .trim_start_matches('n')
        .parse::<usize>()
        .unwrap_or(0);
    std::thread::sleep(Duration::from_millis(300));
    cluster.kill(leader);
    write_wave(&share, 1000, 2000);
    std::thread::sleep(Duration::from_secs(3));
    cluster.restart(leader);
    write_wave(&share, 2000, 3000);
    // sharehook dies mid-flight; what is written while it is down is found at the restart.
    std::thread::sleep(Duration::from_millis(200));
    daemon.kill9();
    write_wave(&share, 3000, 4000);
    daemon = nas.start();
    write_wave(&share, 4000, total);
    wait_acks(&nas, total, scaled(Duration::from_secs(300)));
    let entries = nas.log_entries(&["--limit", "100000"]);
    let duplicates = entries
        .iter()
        .filter(|e| e.to_string().contains("duplicate"))
        .count();
    let mut failures: std::collections::BTreeMap<String, usize> = Default::default();
    for e in entries.iter().filter(|e| e["statusKind"] == "transport") {
        *failures
            .entry(e["error"].as_str().unwrap_or("").to_owned())
            .or_default() += 1;
    }
    drop(daemon);

    let (messages, got) = dump(nas.dir.path(), &cluster.py_url(), "check", total);
    let ids: Vec<u64> = got
        .iter()
        .map(|m| m["webhook_id"].as_str().unwrap().parse().unwrap())
        .collect();
    let distinct: std::collections::BTreeSet<u64> = ids.iter().copied().collect();
    let paths: std::collections::BTreeSet<&str> =
        got.iter().map(|m| m["path"].as_str().unwrap()).collect();
    eprintln!(
        "cluster: {total} events, leader n{leader} killed and restarted, sharehook killed once; \
         the stream holds {messages}; {duplicates} repeats dropped by the stream's duplicate window; \
         failed attempts: {failures:?}"
    );
    assert_eq!(messages, total as u64, "the stream holds each event once");
    assert_eq!(distinct.len(), total, "no event twice");
    assert_eq!(paths.len(), total, "every file once");
    for m in &got {
        assert_eq!(
            m["id"].as_str().unwrap(),
            format!("box1-1-{}", m["webhook_id"].as_str().unwrap()),
            "Nats-Msg-Id is the box, the webhook and the webhook-id: {m}"
        );
        assert_eq!(m["subject"], "files.box1.public.upload");
    }
    // In event order (one subject here): ids rise with the stream's sequence.
    let out_of_order = ids.windows(2).filter(|w| w[0] > w[1]).count();
    assert_eq!(out_of_order, 0, "events out of order in the stream");
}

#[test]
fn two_boxes_publish_into_one_stream_and_a_durable_consumer_reads_both() {
    let dir = tempfile::tempdir().unwrap();
    let nats = Nats::start(dir.path(), 1, "");
    nats.create_stream(1);
    let url = format!(
        "nats://{}/files.{{account}}.{{share}}.{{event}}",
        nats.url()
    );
    let boxes: Vec<Nas> = (0..2).map(|_| Nas::new()).collect();
    let daemons: Vec<Daemon> = boxes
        .iter()
        .enumerate()
        .map(|(i, nas)| {
            nats_config(nas, &format!("shop{}", i + 1), &url, "");
            nas.start()
        })
        .collect();
    for (i, nas) in boxes.iter().enumerate() {
        write_wave(&nas.share(), i * 10, i * 10 + 10);
    }
    for nas in &boxes {
        wait_acks(nas, 10, patience());
    }
    drop(daemons);
    let (messages, got) = dump(dir.path(), &nats.py_url(), "fleet", 20);
    assert_eq!(messages, 20);
    for shop in ["shop1", "shop2"] {
        let of: Vec<&serde_json::Value> = got.iter().filter(|m| m["account"] == shop).collect();
        assert_eq!(of.len(), 10, "{shop}: {got:?}");
        assert!(
            of.iter()
                .all(|m| m["subject"] == format!("files.{shop}.public.upload").as_str())
        );
    }
}

#[test]
fn a_refusing_broker_is_named_in_the_log_and_the_status_and_events_go_once_it_is_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let auth = "authorization { users = [ { user: box, password: right } ] }";
    let nats = Nats::start(dir.path(), 1, auth);
    let nas = Nas::new();
    // A wrong password first.
    let url = |pass: &str| {
        format!(
            "nats://box:{pass}@{}/files.{{account}}.{{event}}",
            nats.url()
        )
    };
    nats_config(&nas, "box1", &url("wrong"), "");
    let daemon = nas.start();
    write_wave(&nas.share(), 0, 3);
    daemon.wait_log("the broker refused to sign in", 1);
    let log = daemon.log();
    assert!(!log.contains("wrong@"), "the password is not logged: {log}");
    let status = String::from_utf8(nas.cli(&["status"]).stdout).unwrap();
    assert!(status.contains("refused to sign in"), "{status}");
    let page = overview_page(&nas, &daemon);
    assert!(page.contains("the broker refused to sign in"), "{page}");
    drop(daemon);

    // The right password, but no stream yet.
    nats_config(&nas, "box1", &url("right"), "");
    let daemon = nas.start();
    daemon.wait_log("no stream takes the subject \"files.box1.upload\"", 1);
    assert!(nas.log_entries(&["--status", "2xx"]).is_empty());
    // The stream is made: everything kept goes, once.
    let py = nats.py_url().replace("nats://", "nats://box:right@");
    nats.create_stream_as(&py, 1);
    wait_acks(&nas, 3, patience());
    // A resend of a delivered event reaches the stream within its duplicate window: the
    // stream drops it by its Nats-Msg-Id, and the log says so.
    let delivered = nas.log_entries(&["--status", "2xx"]);
    let attempt = delivered[0]["attemptId"].as_str().unwrap().to_owned();
    let out = nas.cli(&["resend", &attempt]);
    assert!(out.status.success(), "{out:?}");
    let answer = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(answer.contains("duplicate"), "{answer}");
    drop(daemon);
    let (messages, _) = dump(dir.path(), &py, "fixed", 3);
    assert_eq!(messages, 3, "the resend is not stored twice");
}

/// The page's overview as an admin sees it (the user made here on the first call).
fn overview_page(nas: &Nas, daemon: &Daemon) -> String {
    let out = nas.cli(&["user", "add", "ana", "--role", "admin"]);
    assert!(out.status.success(), "{out:?}");
    let password = String::from_utf8(out.stdout).unwrap();
    let password = password.lines().last().unwrap().trim().to_owned();
    let base = daemon.web_url();
    let signed_in = page_sign_in(&base, "ana", &password);
    let cookie = signed_in.session.expect("signed in to the page");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    agent
        .get(format!("{base}/"))
        .header("cookie", &cookie)
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap()
}

/// Debian's mosquitto with persistence, on a loopback port.
struct Mosquitto {
    child: Option<Child>,
    conf: PathBuf,
    port: u16,
}

impl Mosquitto {
    fn start(dir: &Path) -> Mosquitto {
        let program = need("mosquitto", "mosquitto");
        let port = Receiver::free_port();
        let conf = dir.join("mosquitto.conf");
        std::fs::create_dir_all(dir.join("mq")).unwrap();
        std::fs::write(
            &conf,
            format!(
                // As root, mosquitto would change to its own user, which may not write the test's folder.
                "listener {port} 127.0.0.1\nallow_anonymous true\nuser root\npersistence true\npersistence_location {}/\nautosave_interval 1\n",
                dir.join("mq").display()
            ),
        )
        .unwrap();
        let mut m = Mosquitto {
            child: None,
            conf,
            port,
        };
        m.restart(&program);
        m
    }

    fn restart(&mut self, program: &Path) {
        let child = Command::new(program)
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let port = self.port;
        wait_for("mosquitto to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SIGTERM: mosquitto saves its persistence file on the way out.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let _ = c.wait();
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A paho-mqtt subscriber with a persistent session (QoS 1, clean session off) that prints each
/// message's webhook-id user property and path, until it has `want` or time runs out.
const PAHO: &str = r#"
import json, sys, time
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
port, topic, want, seconds, out = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
seen = []
def on_message(c, u, m):
    props = dict(getattr(m.properties, "UserProperty", []) or [])
    seen.append({"id": props.get("webhook-id"), "path": json.loads(m.payload)["path"]})
    with open(out, "w") as f:
        json.dump(seen, f)
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="reader", protocol=mqtt.MQTTv5)
c.on_message = on_message
subscribed = []
c.on_subscribe = lambda *args: subscribed.append(True)
props = mqtt.Properties(PacketTypes.CONNECT)
props.SessionExpiryInterval = 3600
c.connect("127.0.0.1", port, clean_start=False, properties=props)
c.subscribe(topic, qos=1)
c.loop_start()
deadline = time.monotonic() + seconds
while not subscribed and time.monotonic() < deadline + 10:
    time.sleep(0.05)
while len(seen) < want and time.monotonic() < deadline:
    time.sleep(0.1)
c.loop_stop()
c.disconnect()
print("got", len(seen))
"#;

#[test]
fn mosquitto_with_persistence_gets_every_event_with_its_webhook_id_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let program = need("mosquitto", "mosquitto");
    let mut broker = Mosquitto::start(dir.path());
    let script = dir.path().join("mqtt_reader.py");
    std::fs::write(&script, PAHO).unwrap();
    let out = dir.path().join("seen.json");
    // The reader: a persistent session that waits for `want` messages at most `secs` s.
    let port = broker.port.to_string();
    let read = |want: &str, secs: &str| {
        let r = run_script(
            &python(),
            &[
                script.to_str().unwrap(),
                &port,
                "nas/#",
                want,
                secs,
                out.to_str().unwrap(),
            ],
            &[],
            dir.path(),
            scaled(Duration::from_secs(90)),
        );
        assert!(r.ok, "{}", r.output);
    };
    // Its session is made first (so the broker keeps its messages), then it leaves.
    read("0", "1");
    let nas = Nas::new();
    nas.write_config_text(&format!(
        "[[webhook]]\nurl = \"mqtt://127.0.0.1:{}/nas/{{account}}/{{share}}/{{event}}\"\ntoken = \"{TOKEN}\"\n\
         secret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n\n[delivery]\nretry_delays = [0.5, 1, 1, 1, 1, 1, 1, 1, 1, 1]\nrequest_timeout = 3\n",
        broker.port
    ));
    let daemon = nas.start();
    write_wave(&nas.share(), 0, 20);
    wait_acks(&nas, 20, patience());
    // The broker restarts; what is written while it is down waits, then goes.
    broker.stop();
    write_wave(&nas.share(), 20, 40);
    std::thread::sleep(Duration::from_secs(2));
    broker.restart(&program);
    wait_acks(&nas, 40, patience());
    drop(daemon);
    // The reader comes back to its session: the broker kept all 40 for it, across its restart.
    read("40", "30");
    let seen: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap_or("[]".into())).unwrap();
    let ids: std::collections::BTreeSet<String> = seen
        .iter()
        .map(|m| m["id"].as_str().unwrap_or("").to_owned())
        .collect();
    let paths: std::collections::BTreeSet<String> = seen
        .iter()
        .map(|m| m["path"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(paths.len(), 40, "every event reached the reader: {seen:?}");
    assert!(
        ids.iter().all(|id| !id.is_empty()),
        "each has its webhook-id"
    );
    assert_eq!(ids.len(), 40);
}

#[test]
fn exavaults_python_sdk_makes_a_nats_webhook_and_reads_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let nats = Nats::start(dir.path(), 1, "");
    nats.create_stream(1);
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config(&receiver.url(), "0");
    let daemon = nas.start();
    let line = |args: &[&str]| {
        let out = nas.cli(args);
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .last()
            .unwrap()
            .trim()
            .to_owned()
    };
    line(&["user", "add", "ana", "--role", "admin"]);
    let key = line(&["apikey", "add", "sdk"]);
    let token = line(&["token", "add", "--key", &key, "--user", "ana"]);
    let endpoint = format!(
        "nats://{}/files.{{account}}.{{share}}.{{event}}",
        nats.url()
    );
    let script = dir.path().join("sdk_nats.py");
    std::fs::write(
        &script,
        r#"
import os, sys, time
import exavault
config = exavault.Configuration()
config.host = os.environ["API"]
client = exavault.ApiClient(config)
key, token, endpoint = os.environ["KEY"], os.environ["TOKEN"], os.environ["ENDPOINT"]
hooks = exavault.WebhooksApi(client)
T, R = exavault.WebhookTriggers, exavault.WebhookTriggersResources
made = hooks.add_webhook(key, token, body=exavault.AddWebhookRequestBody(
    endpoint_url=endpoint, triggers=T(resources=R(upload=True)), resource="/", response_version="v2"))
assert made.data[0].attributes.endpoint_url == endpoint, made
print("made", made.data[0].id)
open(os.path.join(os.environ["SHARE"], "via-nats.txt"), "w").write("x")
activity = exavault.ActivityApi(client)
deadline = time.monotonic() + 60
while True:
    page = activity.get_webhook_logs(key, token, endpoint_url=endpoint)
    if page.total_results >= 1:
        break
    assert time.monotonic() < deadline, "no log entry"
    time.sleep(0.3)
a = page.data[0].attributes
a = a if isinstance(a, dict) else a.to_dict()
print("log", a)
assert "stream FILES seq" in str(a), a
print("OK")
"#,
    )
    .unwrap();
    let api = format!("{}/api/v2", daemon.web_url());
    let share = nas.share();
    let r = run_script(
        &python(),
        &[script.to_str().unwrap()],
        &[
            ("API", &api),
            ("KEY", &key),
            ("TOKEN", &token),
            ("ENDPOINT", &endpoint),
            ("SHARE", share.to_str().unwrap()),
        ],
        dir.path(),
        scaled(Duration::from_secs(180)),
    );
    assert!(
        r.ok && r.output.contains("OK"),
        "{}\n--- daemon:\n{}",
        r.output,
        daemon.log()
    );
    let (messages, got) = dump(dir.path(), &nats.py_url(), "sdk", 1);
    assert_eq!(messages, 1);
    assert_eq!(got[0]["subject"], "files.testnas.public.upload");
}

#[test]
fn a_subject_the_account_may_not_publish_to_is_named_and_its_events_go_once_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let allow = |subjects: &str| {
        format!(
            "authorization {{ users = [ {{ user: box, password: pw, permissions: {{ publish: {{ allow: [{subjects}, \"$JS.API.>\"] }} }} }} ] }}"
        )
    };
    let mut nats = Nats::start(dir.path(), 1, &allow("\"files.box1.upload\""));
    let py = nats.py_url().replace("nats://", "nats://box:pw@");
    nats.create_stream_as(&py, 1);
    let nas = Nas::new();
    let url = format!("nats://box:pw@{}/files.{{account}}.{{event}}", nats.url());
    nats_config(&nas, "box1", &url, "");
    let daemon = nas.start();
    // A folder's Create Folder may not be published; the Upload behind it waits its turn.
    std::fs::create_dir(nas.share().join("docs")).unwrap();
    std::thread::sleep(Duration::from_millis(400));
    write_wave(&nas.share(), 0, 1);
    daemon.wait_log(
        "Permissions Violation for Publish to \"files.box1.createFolder\"",
        1,
    );
    assert!(nas.log_entries(&["--status", "2xx"]).is_empty());
    let status = String::from_utf8(nas.cli(&["status"]).stdout).unwrap();
    assert!(status.contains("Permissions Violation"), "{status}");
    let page = overview_page(&nas, &daemon);
    assert!(page.contains("Permissions Violation"), "{page}");
    // Allowed now (the server reads its configuration again): both go, in order, once.
    nats.extra = allow("\"files.>\"");
    nats.reload(0);
    wait_acks(&nas, 2, patience());
    let log = daemon.log();
    drop(daemon);
    let (messages, got) = dump(dir.path(), &py, "allowed", 2);
    assert_eq!(messages, 2);
    // Order is kept per subject. When the Upload was published in the same batch as the
    // refused Create Folder (the broker drops a refused message and takes the next), it is
    // stored first, and the log says it overtook the Create Folder.
    let subjects: Vec<&str> = got.iter().map(|m| m["subject"].as_str().unwrap()).collect();
    match subjects[..] {
        ["files.box1.createFolder", "files.box1.upload"] => {}
        ["files.box1.upload", "files.box1.createFolder"] => {
            assert!(
                log.contains("was taken by the broker ahead of event"),
                "{log}"
            )
        }
        _ => panic!("{subjects:?}"),
    }
}

#[test]
fn tls_brokers_with_a_private_ca_deliver_with_its_ca_file_and_are_refused_without() {
    let dir = tempfile::tempdir().unwrap();
    crate::webhooks::private_ca(dir.path());
    let (ca, cert, key) = (
        dir.path().join("ca.pem"),
        dir.path().join("server.pem"),
        dir.path().join("server.key"),
    );
    let nats = Nats::start(
        dir.path(),
        1,
        &format!(
            "tls {{ cert_file: \"{}\", key_file: \"{}\" }}",
            cert.display(),
            key.display()
        ),
    );
    let program = need("mosquitto", "mosquitto");
    let mqtt_port = Receiver::free_port();
    let conf = dir.path().join("mosquitto-tls.conf");
    std::fs::write(
        &conf,
        format!(
            "listener {mqtt_port} 127.0.0.1\nallow_anonymous true\nuser root\ncafile {}\ncertfile {}\nkeyfile {}\n",
            ca.display(),
            cert.display(),
            key.display()
        ),
    )
    .unwrap();
    let mut mosquitto = Command::new(program)
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("mosquitto over TLS to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", mqtt_port)).ok()
    });
    let nas = Nas::new();
    let hook = |id: u32, url: &str, ca_line: &str| {
        format!("[[webhook]]\nid = {id}\nurl = \"{url}\"\ntoken = \"{TOKEN}\"\n{ca_line}\n")
    };
    let ca_line = format!("ca_file = \"{}\"", ca.display());
    let nats_url = format!("tls://{}/files.{{account}}.{{event}}", nats.url());
    let mqtt_url = format!("mqtts://127.0.0.1:{mqtt_port}/nas/{{event}}");
    nas.write_config_text(&format!(
        "{}{}{}{}\n[delivery]\nretry_delays = [0.5, 60]\nrequest_timeout = 3\n",
        hook(1, &nats_url, &ca_line),
        hook(2, &nats_url, ""),
        hook(3, &mqtt_url, &ca_line),
        hook(4, &mqtt_url, ""),
    ));
    let daemon = nas.start();
    write_wave(&nas.share(), 0, 1);
    let last = |id: &str| {
        wait_for(&format!("webhook {id}'s first attempt"), || {
            nas.log_entries(&["--webhook", id]).into_iter().next()
        })
    };
    // Without the CA: the certificate is refused, by the NATS client and the MQTT one.
    for id in ["2", "4"] {
        let refused = last(id);
        assert_eq!(refused["status"], 60, "{refused}");
        assert!(
            refused["error"].as_str().unwrap().contains("certificate"),
            "{refused}"
        );
    }
    // With it: JetStream has no stream yet (it answered over TLS), MQTT took the message.
    let nats_said = last("1");
    assert_eq!(nats_said["status"], 78, "{nats_said}");
    let mqtt_said = last("3");
    assert_eq!(
        mqtt_said["response"], "PUBACK (no subscribers)",
        "{mqtt_said}"
    );
    drop(daemon);
    let _ = mosquitto.kill();
    let _ = mosquitto.wait();
}

#[test]
fn a_nats_user_nkey_in_a_credentials_file_signs_in() {
    let dir = tempfile::tempdir().unwrap();
    let user = nkeys::KeyPair::new_user();
    let nats = Nats::start(
        dir.path(),
        1,
        &format!(
            "authorization {{ users = [ {{ nkey: {} }} ] }}",
            user.public_key()
        ),
    );
    let seed_file = dir.path().join("box1.nk");
    std::fs::write(&seed_file, format!("{}\n", user.seed().unwrap())).unwrap();
    let nas = Nas::new();
    let url = format!("nats://{}/files.{{account}}.{{event}}", nats.url());
    nats_config(
        &nas,
        "box1",
        &url,
        &format!("credentials_file = \"{}\"", seed_file.display()),
    );
    let daemon = nas.start();
    write_wave(&nas.share(), 0, 1);
    // Signed in: the server's answer is about the stream, which is not there yet.
    daemon.wait_log("no stream takes the subject \"files.box1.upload\"", 1);
    let log = daemon.log();
    assert!(!log.contains("refused to sign in"), "{log}");
    assert!(
        !log.contains(&user.seed().unwrap()),
        "the seed is never logged"
    );
    // Without the key, the same server refuses.
    drop(daemon);
    nats_config(&nas, "box1", &url, "");
    let daemon = nas.start();
    daemon.wait_log("the broker refused to sign in", 1);
}
