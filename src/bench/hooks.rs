//! `sharehook bench --webhooks N`: the daemon's threads and memory with N webhooks, and how
//! long it takes to deliver a few files to all of them, next to the same daemon with one
//! webhook measured in the same run. Every webhook posts to one loopback receiver.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::bench::tree::Daemon;
use crate::bench::{loopback_receiver, tempdir};

/// Files written to the share in each run.
const FILES: usize = 5;

struct Measured {
    threads: u64,
    peak_kb: u64,
    /// From the first file written to the last delivery's arrival.
    secs: f64,
    deliveries: usize,
}

pub fn run(hooks: usize) -> anyhow::Result<()> {
    let hooks = hooks.max(1);
    println!("sharehook bench --webhooks {hooks}: {FILES} files, each delivered to every webhook");
    let base = std::env::temp_dir();
    let one = measure(&base, 1)?;
    let many = measure(&base, hooks)?;
    let mib = |kb: u64| format!("{:.1}MiB", kb as f64 / 1024.0);
    println!();
    println!(
        "{:<34} {:>12} {:>12}  target",
        "figure",
        "1 webhook",
        format!("{hooks} webhooks")
    );
    println!(
        "{:<34} {:>12} {:>12}  bounded, whatever the number of webhooks",
        "daemon threads", one.threads, many.threads
    );
    println!(
        "{:<34} {:>12} {:>12}  <= 64 MiB with 2,000: {}",
        "peak memory",
        mib(one.peak_kb),
        mib(many.peak_kb),
        if many.peak_kb <= 64 * 1024 {
            "met"
        } else {
            "NOT met"
        }
    );
    println!(
        "{:<34} {:>12} {:>12}",
        "deliveries", one.deliveries, many.deliveries
    );
    println!(
        "{:<34} {:>11.2}s {:>11.2}s",
        "until all arrived", one.secs, many.secs
    );
    println!(
        "{:<34} {:>12.0} {:>12.0}",
        "deliveries per second",
        one.deliveries as f64 / one.secs,
        many.deliveries as f64 / many.secs
    );
    Ok(())
}

fn measure(base: &Path, hooks: usize) -> anyhow::Result<Measured> {
    let work = tempdir(base)?;
    let result = measure_in(&work, hooks);
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn measure_in(work: &Path, hooks: usize) -> anyhow::Result<Measured> {
    let (url, seen) = loopback_receiver()?;
    let share = work.join("share");
    std::fs::create_dir_all(&share).with_context(|| format!("{}", share.display()))?;
    let mut config = format!(
        "account_name = \"bench\"\nstate_dir = \"{}\"\n\n\
         [[share]]\nname = \"bench\"\npath = \"{}\"\nprotocol = \"smb\"\nwatch = \"inotify\"\n\n\
         [delivery]\nretry_delays = [0, 1]\n\n\
         [web]\nlisten = []\n\n\
         [watch]\nsettle_ms = 0\n",
        work.join("state").display(),
        share.display()
    );
    for i in 1..=hooks {
        config.push_str(&format!("\n[[webhook]]\nid = {i}\nurl = \"{url}\"\n"));
    }
    let path = work.join("sharehook.toml");
    std::fs::write(&path, config)?;
    let mut daemon = Daemon::start(&path)?;
    daemon.wait_for("ready")?;
    let started = Instant::now();
    for f in 0..FILES {
        std::fs::write(share.join(format!("f{f}.dat")), b"sharehook bench\n")?;
    }
    let want = hooks * FILES;
    let deadline = Instant::now() + Duration::from_secs(600);
    let secs = loop {
        let got = seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .arrivals
            .len();
        if got >= want {
            break started.elapsed().as_secs_f64();
        }
        if Instant::now() > deadline {
            bail!("{got} of {want} deliveries arrived in 10 minutes");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let threads = daemon.threads().unwrap_or(0);
    let peak_kb = daemon.peak_kb().unwrap_or(0);
    daemon.stop()?;
    println!(
        "{hooks} webhook(s): {want} deliveries in {secs:.2} s; {threads} threads; peak {} KiB",
        peak_kb
    );
    Ok(Measured {
        threads,
        peak_kb,
        secs,
        deliveries: want,
    })
}
