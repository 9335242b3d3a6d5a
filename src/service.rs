//! Running under systemd: readiness once the watches are in place, watchdog pings while the
//! pipeline is alive, and a clean stop on SIGTERM or SIGINT.

use std::time::Duration;

use sd_notify::NotifyState;
use tokio::signal::unix::{Signal, SignalKind, signal};

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
/// daemon's pipeline is alive. Returns the name of the signal.
pub async fn until_stopped(daemon: &Daemon, signals: &mut StopSignals) -> &'static str {
    let watchdog = sd_notify::watchdog_enabled();
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
                    log::error!("the event pipeline has stopped going round");
                } else if watchdog.is_some() {
                    let _ = sd_notify::notify(&[NotifyState::Watchdog]);
                }
            }
        }
    }
}
