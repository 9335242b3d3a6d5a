//! Running under systemd: readiness once the watches are in place, watchdog pings while the
//! pipeline is alive, and a clean stop on SIGTERM or SIGINT.

use std::time::Duration;

use sd_notify::NotifyState;
use tokio::signal::unix::{SignalKind, signal};

use crate::daemon::Daemon;

/// Tells the service manager (if any) that sharehook is ready.
pub fn ready() {
    if let Err(e) = sd_notify::notify(&[NotifyState::Ready]) {
        log::warn!("cannot tell systemd that sharehook is ready: {e}");
    }
}

pub fn stopping() {
    let _ = sd_notify::notify(&[NotifyState::Stopping]);
}

/// Waits for SIGTERM or SIGINT, pinging the watchdog (if systemd asked for one) while the
/// daemon's pipeline is alive. Returns the name of the signal.
pub async fn until_stopped(daemon: &Daemon) -> anyhow::Result<&'static str> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let watchdog = sd_notify::watchdog_enabled();
    // Ping at half the interval systemd gave; without a watchdog, look once a minute anyway.
    let period = watchdog.map_or(Duration::from_secs(60), |d| {
        (d / 2).max(Duration::from_millis(100))
    });
    let mut tick = tokio::time::interval(period);
    loop {
        tokio::select! {
            _ = term.recv() => return Ok("SIGTERM"),
            _ = int.recv() => return Ok("SIGINT"),
            _ = tick.tick() => {
                if !daemon.alive() {
                    log::error!("the event pipeline has stopped going round");
                } else if watchdog.is_some() {
                    let _ = sd_notify::notify(&[NotifyState::Watchdog]);
                }
            }
        }
    }
}
