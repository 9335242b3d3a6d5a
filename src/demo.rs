//! `sharehook demo`: a first look with no configuration. Watches `./sharehook-demo/share` and
//! sends to a receiver inside the same process, which prints what it gets.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use crate::config::Config;
use crate::daemon::Daemon;
use crate::retry::Schedule;
use crate::{receiver, service};

pub const DEFAULT_DIR: &str = "sharehook-demo";

pub fn run(dir: &Path) -> anyhow::Result<()> {
    let share = dir.join("share");
    let state = dir.join("state");
    for d in [&share, &state] {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    let share_path =
        std::fs::canonicalize(&share).with_context(|| format!("cannot use {}", share.display()))?;
    let runtime = crate::daemon::runtime()?;
    runtime.block_on(async {
        let mut signals = service::StopSignals::install()?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot open the demo receiver's port")?;
        let url = format!("http://{}/webhook", listener.local_addr()?);
        let config = demo_config(&share_path, &state, &url);
        let mut daemon = Daemon::start(&config)?;
        let (_, token) = daemon.tokens[0].clone();
        let server = tokio::spawn(receiver::serve(listener, token));
        print_instructions(&share, &url);
        let signal = service::until_stopped(&daemon, &mut signals).await;
        println!("\n{signal}: stopping");
        daemon.stop(Duration::from_secs(5));
        server.abort();
        println!(
            "stopped; what was not delivered yet is kept in {}",
            state.display()
        );
        Ok(())
    })
}

fn demo_config(share: &Path, state: &Path, url: &str) -> Config {
    let delays = [0.0, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 60.0];
    let mut config = Config::one_share("demo", share, state, url);
    config.delivery.schedule =
        Schedule::new(delays.iter().map(|s| Duration::from_secs_f64(*s)).collect());
    config
}

fn print_instructions(share: &Path, url: &str) {
    let s = PathBuf::from(share);
    let s = s.display();
    println!("sharehook demo: watching {s}");
    println!(
        "a receiver in this process listens on {url}; it checks each signature and prints each webhook"
    );
    println!();
    println!("in another terminal, in this folder, try:");
    println!("  echo hello > {s}/hello.txt             # Upload");
    println!("  mkdir {s}/docs                          # Create Folder");
    println!("  mv {s}/hello.txt {s}/hi.txt    # Rename");
    println!("  mv {s}/hi.txt {s}/docs/        # Move");
    println!("  rm {s}/docs/hi.txt                      # Delete");
    println!();
    println!("press Ctrl-C to stop");
}
