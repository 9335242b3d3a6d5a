//! `sharehook demo`: a first look with no configuration. Watches `./sharehook-demo/share` and
//! sends to a receiver inside the same process, which prints what it gets.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use crate::cli::receiver;
use crate::config::Config;
use crate::core::retry::Schedule;
use crate::daemon::Daemon;
use crate::daemon::systemd;

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
        let mut signals = systemd::StopSignals::install()?;
        let listener = bind_receiver(&state).await?;
        let url = format!("http://{}/webhook", listener.local_addr()?);
        let config = demo_config(&share_path, &state, &url);
        let mut daemon = Daemon::start(&config)?;
        let (_, token) = daemon.tokens[0].clone();
        let server = tokio::spawn(receiver::serve(listener, token));
        let (web, page) = match serve_page(&config, &daemon).await {
            Ok(served) => served,
            Err(e) => {
                daemon.stop(Duration::from_secs(5));
                return Err(e);
            }
        };
        print_instructions(&share, &url, page);
        let signal = systemd::until_stopped(&daemon, &mut signals).await;
        println!("\n{signal}: stopping");
        daemon.stop(Duration::from_secs(5));
        server.abort();
        web.abort();
        println!(
            "stopped; what was not delivered yet is kept in {}",
            state.display()
        );
        Ok(())
    })
}

/// Where the receiver's port is kept between starts.
const PORT_FILE: &str = "demo-receiver-port";

/// The receiver's listener on 127.0.0.1. The demo's webhook URL holds the receiver's port, and
/// the state remembers each webhook's URL: with a new port at every start, the daemon would
/// warn at every start after the first that the webhook's URL changed, and it would be right.
/// So the port is kept in the state folder and asked for again at the next start, and the URL
/// stays the same. Only when that port is taken (another program holds it now) does the
/// receiver get a new one, and then the warning is true and is shown.
async fn bind_receiver(state: &Path) -> anyhow::Result<tokio::net::TcpListener> {
    let file = state.join(PORT_FILE);
    let kept = std::fs::read_to_string(&file)
        .ok()
        .and_then(|text| text.trim().parse::<u16>().ok())
        .filter(|port| *port != 0);
    let listener = match kept {
        Some(port) => match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
            Ok(listener) => Some(listener),
            Err(e) => {
                log::debug!("the demo receiver's last port {port} cannot be used again: {e}");
                None
            }
        },
        None => None,
    };
    let listener = match listener {
        Some(listener) => listener,
        None => tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot open the demo receiver's port")?,
    };
    let port = listener.local_addr()?.port();
    if kept != Some(port)
        && let Err(e) = std::fs::write(&file, format!("{port}\n"))
    {
        log::warn!(
            "cannot keep the demo receiver's port in {}: {e}",
            file.display()
        );
    }
    Ok(listener)
}

/// Serves the page and the API on 127.0.0.1:8080 (another free port when that one is
/// taken), with a user `admin` whose password is made new at each start; answers the
/// server's task and, when it listens, its address and the password.
async fn serve_page(
    config: &Config,
    daemon: &Daemon,
) -> anyhow::Result<(tokio::task::JoinHandle<()>, Option<(String, String)>)> {
    let mut bound = crate::surface::web::bind(&config.web, &config.state_dir).await?;
    if bound.info.off.is_some() {
        let mut web = config.web.clone();
        web.listen = vec![std::net::SocketAddr::from(([127, 0, 0, 1], 0))];
        bound = crate::surface::web::bind(&web, &config.state_dir).await?;
    }
    let address = bound.info.urls.first().cloned();
    let me = crate::service::access::Caller::local();
    let password = crate::service::access::generate_password()?;
    let known = crate::service::access::user_role(&daemon.store, "admin")?.is_some();
    if known {
        crate::service::access::user_set_password(&daemon.store, &me, "admin", &password)?;
    } else {
        crate::service::access::user_add(
            &daemon.store,
            &me,
            "admin",
            crate::service::access::Role::Admin,
            &password,
        )?;
    }
    let control = crate::service::activity::Control::new(
        config,
        std::sync::Arc::clone(&daemon.store),
        std::sync::Arc::clone(&daemon.hooks),
        std::sync::Arc::clone(&daemon.stats),
        std::sync::Arc::clone(&daemon.resources),
        crate::deliver::now_ms(),
        bound.info.status(),
    );
    let kept = std::sync::Arc::default();
    let site = crate::surface::web::Site::new(crate::surface::web::router(control, &kept));
    let task = tokio::spawn(crate::surface::web::serve(bound, site));
    Ok((task, address.map(|a| (a, password))))
}

fn demo_config(share: &Path, state: &Path, url: &str) -> Config {
    let delays = [0.0, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 60.0];
    let mut config = Config::one_share("demo", share, state, url);
    config.delivery.schedule =
        Schedule::new(delays.iter().map(|s| Duration::from_secs_f64(*s)).collect());
    config
}

fn print_instructions(share: &Path, url: &str, page: Option<(String, String)>) {
    let s = PathBuf::from(share);
    let s = s.display();
    println!("sharehook demo: watching {s}");
    println!(
        "a receiver in this process listens on {url}; it checks each signature and prints each webhook"
    );
    println!();
    println!("in another terminal, in this folder, try:");
    let tries = [
        (format!("echo hello > {s}/hello.txt"), "Upload"),
        (format!("mkdir {s}/docs"), "Create Folder"),
        (format!("mv {s}/hello.txt {s}/hi.txt"), "Rename"),
        (format!("mv {s}/hi.txt {s}/docs/"), "Move"),
        (format!("rm {s}/docs/hi.txt"), "Delete"),
    ];
    let width = tries
        .iter()
        .map(|(c, _)| c.chars().count())
        .max()
        .unwrap_or(0);
    for (command, what) in &tries {
        println!("  {command:<width$}  # {what}");
    }
    println!();
    if let Some((address, password)) = page {
        println!("the web page: {address}/  (user admin, password {password})");
        println!();
    }
    println!("press Ctrl-C to stop");
}
