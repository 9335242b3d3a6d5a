//! Running under systemd: readiness once the watches are in place, watchdog pings while the
//! engine is alive, and a clean stop on SIGTERM or SIGINT.

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

/// Waits for SIGTERM or SIGINT, pinging the watchdog (if systemd asked for one) while the
/// daemon's engine is alive. Returns the name of the signal.
pub async fn until_stopped(daemon: &Daemon, signals: &mut StopSignals) -> &'static str {
    let watchdog = watchdog_interval();
    // Ping at half the interval systemd gave; without a watchdog, look once a minute anyway.
    let period = watchdog.map_or(Duration::from_secs(60), |d| {
        (d / 2).max(Duration::from_millis(100))
    });
    let mut tick = tokio::time::interval(period);
    loop {
        tokio::select! {
            _ = signals.term.recv() => return "SIGTERM",
            _ = signals.int.recv() => return "SIGINT",
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
