//! `sharehook bench --nats URL` and `--mqtt URL`: delivery to a broker against a baseline in
//! the same run. (1) The baseline: the same client publishing to the same server one message at
//! a time, each waiting for its acknowledgement (async-nats's JetStream publish for NATS, the
//! MQTT publisher written here for MQTT). (2) sharehook: files written to a watched share, their
//! events published by a full daemon, timed from the first file's close until the broker has
//! acknowledged the last. For NATS a subscriber on the subjects checks that every event came,
//! once, in the order the files were written.
//!
//! Layer 8: uses the daemon and every layer below (see `lib.rs`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::core::endpoint::{Broker, BrokerUrl};
use crate::core::event::Operation;
use crate::daemon::Daemon;
use crate::deliver::broker::{Link, Message};
use crate::deliver::send::ClientSettings;

pub fn run(url: &str, files: usize) -> anyhow::Result<()> {
    let files = files.max(10);
    let shown = crate::core::redact::redact_url(url);
    let parsed = BrokerUrl::parse(url).map_err(|m| anyhow::anyhow!("{shown}: {m}"))?;
    println!(
        "sharehook bench: {files} events each way to {} at {shown}",
        parsed.broker.name()
    );
    let body = br#"{"accountname":"bench","username":"bench","operation":"Upload","protocol":"smb","path":"\/raw","sourcepath":"","attempt":1}"#;
    let subject = parsed.subject("bench", "bench", Operation::Upload);

    // (1) The baseline.
    let started = Instant::now();
    match parsed.broker {
        Broker::Nats => raw_nats(&parsed, &subject, body, files)?,
        Broker::Mqtt => raw_link(url, &subject, body, files)?,
    }
    let raw_secs = started.elapsed().as_secs_f64();
    let raw_rate = files as f64 / raw_secs;

    // (2) sharehook, with a subscriber watching the order for NATS.
    let order = match parsed.broker {
        Broker::Nats => Some(subscribe(&parsed, "bench")?),
        Broker::Mqtt => None,
    };
    let dir = super::tempdir(&std::env::temp_dir())?;
    let fast = std::path::Path::new("/dev/shm");
    let share_dir = super::tempdir(fast).unwrap_or_else(|_| dir.clone());
    let share = share_dir.join("share");
    std::fs::create_dir_all(&share)?;
    let config = super::bench_config(&share, &dir.join("state"), url);
    let level = log::max_level();
    log::set_max_level(log::LevelFilter::Warn);
    let mut daemon = Daemon::start(&config)?;
    let stats = daemon.stats.webhook(1);
    let started = Instant::now();
    let mut names = Vec::with_capacity(files);
    for i in 0..files {
        let name = format!("f{i:06}.dat");
        std::fs::write(share.join(&name), b"sharehook bench\n")?;
        names.push(format!("/{name}"));
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut first_ack = None;
    while stats.results()[0] < files as u64 {
        if first_ack.is_none() && stats.results()[0] > 0 {
            first_ack = Some(Instant::now());
        }
        if Instant::now() > deadline {
            bail!(
                "the broker acknowledged {} of {files} events within 300 s",
                stats.results()[0]
            );
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let sh_secs = started.elapsed().as_secs_f64();
    let flowing_secs = first_ack.map_or(sh_secs, |t| t.elapsed().as_secs_f64());
    daemon.stop(Duration::from_secs(10));
    log::set_max_level(level);
    let sh_rate = files as f64 / sh_secs;
    println!(
        "raw publish rate (same client, one at a time, each acknowledged): {raw_rate:8.0} /s  ({files} in {raw_secs:.2} s)"
    );
    println!(
        "sharehook delivered rate, first file's close to last acknowledgement: {sh_rate:8.0} /s  ({sh_secs:.2} s)"
    );
    let flowing_rate = (files - 1) as f64 / flowing_secs;
    println!(
        "sharehook delivered rate, while delivering (first acknowledgement to last): {flowing_rate:8.0} /s  ({flowing_secs:.2} s)"
    );
    let verdict = |r: f64| if r >= 0.8 { "met" } else { "NOT met" };
    let (r1, r2) = (sh_rate / raw_rate, flowing_rate / raw_rate);
    println!(
        "ratio to raw: end to end {r1:.2}, while delivering {r2:.2}  (target >= 0.80: {}, {})",
        verdict(r1),
        verdict(r2)
    );
    if let Some(order) = order {
        std::thread::sleep(Duration::from_millis(200));
        let seen = order.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let kept = seen == names;
        println!(
            "order: {} messages seen by a subscriber, {}",
            seen.len(),
            if kept {
                "each once, in the order the files were written"
            } else {
                "NOT in the order the files were written (or not each once)"
            }
        );
    } else {
        println!("order: not checked for MQTT (no subscriber here)");
    }
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&share_dir);
    Ok(())
}

fn settings() -> ClientSettings {
    ClientSettings {
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(30),
        policy: crate::core::netpolicy::AddressPolicy::default(),
        ca_file: None,
        credentials: None,
    }
}

/// async-nats's JetStream publish, one at a time, each awaiting its acknowledgement.
fn raw_nats(url: &BrokerUrl, subject: &str, body: &[u8], n: usize) -> anyhow::Result<()> {
    let servers = servers(url);
    let subject = subject.to_owned();
    let body = body.to_vec();
    crate::deliver::broker::runtime().block_on(async move {
        let client = async_nats::connect(servers)
            .await
            .context("cannot connect to the broker")?;
        let js = async_nats::jetstream::new(client);
        for i in 0..n {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(
                "Nats-Msg-Id",
                format!("raw-{}-{i}", std::process::id()).as_str(),
            );
            js.publish_with_headers(subject.clone(), headers, body.clone().into())
                .await
                .context("publish")?
                .await
                .context("the stream did not acknowledge")?;
        }
        Ok(())
    })
}

/// sharehook's own broker link, one message per batch.
fn raw_link(url: &str, subject: &str, body: &[u8], n: usize) -> anyhow::Result<()> {
    let link = Link::new(url, 0, "bench", &settings()).map_err(anyhow::Error::msg)?;
    for i in 0..n {
        let result = link
            .publish(vec![Message {
                subject: subject.to_owned(),
                id: format!("raw-{i}"),
                dedup: format!("raw-{i}"),
                headers: Vec::new(),
                body: body.to_vec(),
            }])
            .pop()
            .expect("one result");
        if !result.outcome.is_success() {
            bail!("the broker did not acknowledge: {}", result.outcome);
        }
    }
    Ok(())
}

/// A core NATS subscription on the subject the bench share's events go to; the `path` of each
/// message, in the order they come.
fn subscribe(url: &BrokerUrl, account: &str) -> anyhow::Result<Arc<Mutex<Vec<String>>>> {
    use futures_util::StreamExt;
    let servers = servers(url);
    let subject = url.subject(account, "bench", Operation::Upload);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let into = Arc::clone(&seen);
    let runtime = crate::deliver::broker::runtime();
    let mut subscription = runtime.block_on(async move {
        let client = async_nats::connect(servers)
            .await
            .context("cannot connect to the broker")?;
        let subscription = client.subscribe(subject).await.context("subscribe")?;
        client.flush().await.context("flush")?;
        anyhow::Ok(subscription)
    })?;
    runtime.spawn(async move {
        while let Some(message) = subscription.next().await {
            into.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(super::path_of(&message.payload));
        }
    });
    Ok(seen)
}

fn servers(url: &BrokerUrl) -> Vec<String> {
    let scheme = if url.tls { "tls" } else { "nats" };
    let auth = match (&url.user, &url.password) {
        (Some(u), Some(p)) => format!("{u}:{p}@"),
        (Some(t), None) => format!("{t}@"),
        _ => String::new(),
    };
    url.servers
        .iter()
        .map(|(h, p)| format!("{scheme}://{auth}{h}:{p}"))
        .collect()
}
