//! Zone transfers to standard secondaries (Knot, NSD, BIND): AXFR (RFC 5936) and
//! IXFR (RFC 1995) over TCP from a bounded journal of differences, and NOTIFY (RFC
//! 1996) on every serial change. Every message is TSIG-signed when the request was,
//! and at most 16 KiB (what Knot and NSD send).
//!
//! The records come from `records`. The query path (`dns`) hands transfer requests
//! here through its [`TransferService`] trait and never imports this module; TSIG
//! lives in `dns` because the query path answers signed SOA queries too. Uses
//! `dns`, `records`, `store`, `zone`.

mod differ;
#[cfg(test)]
mod equivalence;
pub(crate) mod journal;
mod message;
mod notify;
mod request;
mod serve;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ipnet::IpNet;
use tokio::sync::Semaphore;

use crate::dns::transfers::{TransferService, TransferStream};
use crate::dns::tsig::{Keyring, TsigKey, Verified};
use crate::store::{Snapshot, Store};
use crate::zone::Zone;
use crate::zone::name::Name;
use journal::{Delta, Journal, JournalLimits, diff};

pub(crate) use differ::on_change;

/// Transfers served at once; more wait their turn.
const CONCURRENT: usize = 8;

/// Who may transfer one zone, and whom to notify.
#[derive(Debug, Clone, Default)]
pub(crate) struct ZoneTransfer {
    pub(crate) allow: Vec<IpNet>,
    /// The key requests must be signed with.
    pub(crate) key: Option<Name>,
    pub(crate) notify: Vec<SocketAddr>,
}

/// Transfer settings: per zone, the keys, the journal's limits.
#[derive(Debug, Clone, Default)]
pub(crate) struct TransferConfig {
    pub(crate) zones: HashMap<Name, ZoneTransfer>,
    pub(crate) keys: Keyring,
    pub(crate) journal: JournalLimits,
}

impl TransferConfig {
    pub(crate) fn is_empty(&self) -> bool {
        self.zones.is_empty()
    }

    fn key(&self, name: &Name) -> Option<&TsigKey> {
        self.keys.get(name)
    }
}

/// Transfer counters, for the metrics.
#[derive(Debug, Default)]
pub(crate) struct TransferStats {
    pub(crate) axfr: AtomicU64,
    pub(crate) ixfr: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) notify_acknowledged: AtomicU64,
    pub(crate) notify_failed: AtomicU64,
}

/// The transfer side of a running server: settings, journals, counters.
pub(crate) struct Transfers {
    pub(crate) config: TransferConfig,
    journals: Mutex<HashMap<Name, Journal>>,
    /// Per zone, a number that grows with every change: NOTIFY retries of an older
    /// change stop once there is a newer one.
    notify_generations: Mutex<HashMap<Name, u64>>,
    slots: Semaphore,
    pub(crate) stats: TransferStats,
}

impl std::fmt::Debug for Transfers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transfers")
            .field("zones", &self.config.zones.len())
            .finish_non_exhaustive()
    }
}

impl Transfers {
    pub(crate) fn new(config: TransferConfig) -> Self {
        Transfers {
            config,
            journals: Mutex::new(HashMap::new()),
            notify_generations: Mutex::new(HashMap::new()),
            slots: Semaphore::new(CONCURRENT),
            stats: TransferStats::default(),
        }
    }

    /// A zone changed from `old` to `new` (a reload, an expiry): keep the difference
    /// for IXFR. Off the query path; linear in the zone's size.
    pub(crate) fn record_change(&self, old: &Zone, new: &Zone) {
        if !self.config.zones.contains_key(&new.name) || old.soa.serial == new.soa.serial {
            return;
        }
        #[cfg(feature = "fault-injection")]
        crate::faults::difference(new.name.labels().next());
        let delta = diff(old, new);
        tracing::info!(
            zone = %new.name,
            from = delta.from,
            to = delta.to,
            removed = delta.removed.len(),
            added = delta.added.len(),
            made_from = %if delta.from_changes { "changes" } else { "all_records" },
            "journal: difference kept for IXFR"
        );
        if let Ok(mut journals) = self.journals.lock() {
            journals
                .entry(new.name.clone())
                .or_default()
                .push(delta, self.config.journal);
        }
    }

    /// The secondaries to notify of `zone`'s changes, and the key to sign with.
    pub(crate) fn notify_targets(&self, zone: &Name) -> Option<(Vec<SocketAddr>, Option<TsigKey>)> {
        let settings = self.config.zones.get(zone)?;
        if settings.notify.is_empty() {
            return None;
        }
        let key = settings
            .key
            .as_ref()
            .and_then(|k| self.config.key(k))
            .cloned();
        Some((settings.notify.clone(), key))
    }

    pub(crate) fn next_notify_generation(&self, zone: &Name) -> u64 {
        let Ok(mut generations) = self.notify_generations.lock() else {
            return 0;
        };
        let generation = generations.entry(zone.clone()).or_default();
        *generation += 1;
        *generation
    }

    pub(crate) fn notify_generation(&self, zone: &Name) -> u64 {
        self.notify_generations
            .lock()
            .ok()
            .and_then(|g| g.get(zone).copied())
            .unwrap_or(0)
    }

    fn since(&self, zone: &Name, serial: u32, current: u32) -> Option<Vec<Delta>> {
        self.journals.lock().ok()?.get(zone)?.since(serial, current)
    }
}

/// Notifies the secondaries of every zone being served (at start).
pub(crate) fn notify_loaded(transfers: &Arc<Transfers>, snapshot: &Snapshot) {
    for zone in snapshot.zones() {
        notify::notify_all(transfers, &zone.name, &zone.soa);
    }
}

impl TransferService for Arc<Transfers> {
    fn keys(&self) -> &Keyring {
        &self.config.keys
    }

    fn answers_udp_ixfr(
        &self,
        packet: &[u8],
        verified: &Verified,
        peer: SocketAddr,
        snapshot: &Snapshot,
    ) -> bool {
        serve::answers_udp_ixfr(packet, verified, peer, snapshot, self)
    }

    fn is_transfer(&self, message: &[u8]) -> bool {
        request::read_request(message).is_some()
    }

    fn serve<'a>(
        &'a self,
        stream: TransferStream<'a>,
        message: &'a [u8],
        peer: SocketAddr,
        store: &'a Store,
        write_timeout: Duration,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>> {
        Box::pin(serve::serve(
            stream,
            message,
            peer,
            store,
            self,
            write_timeout,
        ))
    }
}
