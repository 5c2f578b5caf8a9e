//! Telling the service manager what ward is doing (systemd's `sd_notify`): READY once
//! the first load is served, RELOADING/READY around a SIGHUP reload, a STATUS line,
//! STOPPING, and the watchdog's keep-alive while the UDP workers are alive. Outside
//! systemd (no `NOTIFY_SOCKET`) every call is a no-op.

use std::time::Duration;

use sd_notify::NotifyState;

use crate::dns::server::ServerStats;
use crate::store::Store;

fn notify(states: &[NotifyState<'_>]) {
    if let Err(error) = sd_notify::notify(states) {
        tracing::debug!(%error, "sd_notify failed");
    }
}

/// What `systemctl status` shows: the zones and entries served.
fn status_line(store: &Store) -> String {
    let snapshot = store.load();
    let zones = snapshot.zones();
    let entries: usize = zones
        .iter()
        .flat_map(|z| &z.datasets)
        .map(|d| d.entries)
        .sum();
    format!("serving {} zones, {entries} entries", zones.len())
}

pub(crate) fn loading() {
    notify(&[NotifyState::Status("loading the zones")]);
}

pub(crate) fn ready(store: &Store) {
    let status = status_line(store);
    notify(&[NotifyState::Ready, NotifyState::Status(&status)]);
}

/// A SIGHUP reload starts (systemd ≥ 253 wants the monotonic time with it).
pub(crate) fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => notify(&[NotifyState::Reloading, now]),
        Err(_) => notify(&[NotifyState::Reloading]),
    }
}

pub(crate) fn stopping() {
    notify(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// Pings the watchdog at half its interval, while every UDP worker still loops; a
/// stuck worker stops the pings and lets systemd restart ward.
pub(crate) async fn watchdog(server: ServerStats) {
    let Some(interval) = sd_notify::watchdog_enabled() else {
        return;
    };
    let period = (interval / 2).max(Duration::from_millis(100));
    let mut last = server.heartbeats();
    loop {
        tokio::time::sleep(period).await;
        let now = server.heartbeats();
        let alive = now.iter().zip(&last).all(|(n, l)| n != l);
        if alive {
            notify(&[NotifyState::Watchdog]);
        } else {
            tracing::error!("a UDP worker has not looped for {period:?}; not pinging the watchdog");
        }
        last = now;
    }
}

/// Resolves on SIGTERM or SIGINT: how a service manager or a terminal stops
/// `ward serve`. Registered when first polled, which `serve` does before the first
/// load.
pub async fn termination() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        Err(error) => {
            tracing::warn!(%error, "cannot handle SIGTERM; only SIGINT stops ward");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
