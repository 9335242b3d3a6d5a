//! Running under systemd: readiness once the watches are in place, watchdog pings while the
//! engine is alive, a clean stop on SIGTERM or SIGINT, and SIGHUP as a request to reload.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::daemon::Daemon;

/// Tells the service manager (if any) that sharehook is ready.
pub fn ready() {
    if let Err(e) = notify("READY=1") {
        log::warn!("cannot tell systemd that sharehook is ready: {e}");
    }
}

pub fn stopping() {
    let _ = notify("STOPPING=1");
}

/// Tells the service manager a reload has begun; `ready` says it is over.
pub fn reloading() {
    // systemd wants the time the reload began, to order it against `systemctl reload`.
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which lives on this stack frame.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    let usec = now.tv_sec * 1_000_000 + now.tv_nsec / 1000;
    let _ = notify(&format!("RELOADING=1\nMONOTONIC_USEC={usec}"));
}

/// Sends `state` to the service manager's socket (`NOTIFY_SOCKET`), if there is one. Never
/// waits: a manager that does not read its socket must not stall the daemon (a ping that
/// finds the socket full is dropped; the next one follows).
fn notify(state: &str) -> std::io::Result<()> {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(());
    };
    let bytes = path.as_encoded_bytes();
    let addr = match bytes.strip_prefix(b"@") {
        Some(name) => SocketAddr::from_abstract_name(name)?,
        None => SocketAddr::from_pathname(&path)?,
    };
    let socket = UnixDatagram::unbound()?;
    socket.set_nonblocking(true)?;
    socket.send_to_addr(state.as_bytes(), &addr)?;
    Ok(())
}

/// The watchdog interval systemd asked for (`WATCHDOG_USEC`, for this process).
fn watchdog_interval() -> Option<Duration> {
    if let Some(pid) = std::env::var_os("WATCHDOG_PID")
        && pid.to_str()?.parse::<u32>().ok()? != std::process::id()
    {
        return None;
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec))
}

/// The stop signals, caught from the moment this is made: make it before anything starts, so
/// a SIGTERM that arrives right after READY=1 (or during startup) is a clean stop, never the
/// default action that kills the process.
pub struct StopSignals {
    term: Signal,
    int: Signal,
}

impl StopSignals {
    /// Must be called inside the tokio runtime.
    pub fn install() -> std::io::Result<StopSignals> {
        Ok(StopSignals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }
}

/// SIGHUP, caught from the moment this is made (as `StopSignals`): its default action ends
/// the process, which systemd counts as a clean exit and does not restart.
pub struct ReloadSignal(Signal);

impl ReloadSignal {
    /// Must be called inside the tokio runtime.
    pub fn install() -> std::io::Result<ReloadSignal> {
        Ok(ReloadSignal(signal(SignalKind::hangup())?))
    }
}

/// Why the daemon's wait ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Wake {
    /// SIGTERM or SIGINT (the signal's name).
    Stop(&'static str),
    /// SIGHUP.
    Reload,
}

/// Waits for SIGTERM or SIGINT, pinging the watchdog (if systemd asked for one) while the
/// daemon's engine is alive. Returns the name of the signal.
pub async fn until_stopped(daemon: &Daemon, signals: &mut StopSignals) -> &'static str {
    match wait(daemon, signals, None).await {
        Wake::Stop(name) => name,
        Wake::Reload => unreachable!("no SIGHUP is awaited"),
    }
}

/// Like `until_stopped`, and returns on SIGHUP too.
pub async fn until_stopped_or_reload(
    daemon: &Daemon,
    signals: &mut StopSignals,
    reload: &mut ReloadSignal,
) -> Wake {
    wait(daemon, signals, Some(reload)).await
}

async fn wait(
    daemon: &Daemon,
    signals: &mut StopSignals,
    mut reload: Option<&mut ReloadSignal>,
) -> Wake {
    let watchdog = watchdog_interval();
    // Ping at half the interval systemd gave; without a watchdog, look once a minute anyway.
    let period = watchdog.map_or(Duration::from_secs(60), |d| {
        (d / 2).max(Duration::from_millis(100))
    });
    let mut tick = tokio::time::interval(period);
    loop {
        let hup = async {
            match reload.as_mut() {
                Some(r) => r.0.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = signals.term.recv() => return Wake::Stop("SIGTERM"),
            _ = signals.int.recv() => return Wake::Stop("SIGINT"),
            _ = hup => return Wake::Reload,
            _ = tick.tick() => {
                if !daemon.alive() {
                    log::error!("the engine has stopped going round");
                } else if watchdog.is_some() {
                    let _ = notify("WATCHDOG=1");
                }
            }
        }
    }
}

/// Awaits `work` (a reload: the engine is stopped meanwhile), pinging the watchdog meanwhile
/// so that systemd does not take the pause for a hang.
pub async fn with_watchdog<F: std::future::Future>(work: F) -> F::Output {
    let Some(interval) = watchdog_interval() else {
        return work.await;
    };
    let mut tick = tokio::time::interval((interval / 2).max(Duration::from_millis(100)));
    tokio::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = tick.tick() => {
                let _ = notify("WATCHDOG=1");
            }
        }
    }
}
