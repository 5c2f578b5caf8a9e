//! ward: an authoritative DNS server for mail reputation lists (DNSBL, RHSBL, address
//! lists), drop-in compatible with rbldnsd's data files.
//!
//! `ARCHITECTURE.md` is the map: the layers, and the life of a query, a reload and a
//! transfer. Each folder's `mod.rs` says its one job and what it may use; arrows point
//! down this list only (`tests/architecture.rs` fails on a circle or an upward import):
//!
//! - [`app`]: the process — `ward serve`'s wiring, signals, privileges, the commands
//! - [`config`]: `ward.toml` and the command line's arguments
//! - [`web`]: HTTP — the lookup page, the bounce explainer, the admin API
//! - [`listings`]: editing `api.zone`, removal requests, the audit log
//! - [`external`]: other lists, asked through a resolver (the lookup page's second half)
//! - [`report`]: `ward check`, `ward lookup` (a value explained)
//! - [`xfr`]: AXFR, IXFR and its journal, NOTIFY
//! - [`dns`]: the query path — wire format, UDP workers, TCP, answers, TSIG, RRL
//! - [`reload`]: file events, SIGHUP, polling → load → swap
//! - [`load`]: the zones directory → a [`Snapshot`]
//! - [`records`]: a zone as standard DNS records (transfers, export, check)
//! - [`store`]: the served snapshot behind an `ArcSwap`
//! - [`zone`]: the pure data model and the file formats' parsers
//! - leaves any layer may use: [`time`], [`memory`], `faults` (tests only)
//!
//! `unsafe` is denied everywhere but in the two modules that talk to the system
//! below the standard library: the query path's batched UDP calls and [`memory`].
#![deny(unsafe_code)]

mod app;
pub mod config;
mod dns;
pub(crate) mod external;
#[cfg(feature = "fault-injection")]
#[doc(hidden)]
pub mod faults;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod listings;
mod load;
mod memory;
mod parallel;
mod records;
mod reload;
mod report;
mod store;
mod time;
mod web;
mod xfr;
mod zone;

#[cfg(test)]
mod tests;

// What the binary and the tests use: `ward serve` as a call, the settings it is made
// from (one function for flags and ward.toml), the other commands, and what a running
// server reports.
pub use app::lifecycle::termination;
pub use app::serve::{Ready, ServeError, ServeSettings, serve, serve_with};
pub use app::{commands, rbldnsd, settings};
pub use dns::server::ServerStats;
pub use listings::requests::{RequestStore, StateFilter};
pub use load::{LoadOptions, Loader};
pub use reload::ReloadStats;
pub use store::{Snapshot, Store};
pub use web::{Budget, ListenLimits, WebSettings};
pub use zone::email::normalise;

/// The query path's pieces, for the hot-path benchmark (`bench/criterion`): not an
/// interface, and free to change with the code it measures.
#[doc(hidden)]
pub mod hot_path {
    pub use crate::dns::answer::resolve;
    pub use crate::dns::batch::{BATCH, BatchAnswerer, Datagram};
    pub use crate::dns::fallback::DnsSettings;
    pub use crate::dns::query::{Parsed, Query, parse};
    pub use crate::dns::wire::encode;
    pub use crate::zone::DatasetKind;
    pub use crate::zone::parse::{ParseOptions, parse_bytes};

    /// The lookup of the first IPv4 index of `zone`, for the index benchmark.
    pub fn ip4_lookup<'s>(
        snapshot: &'s crate::Snapshot,
        zone: &str,
    ) -> Option<impl Fn(u32) -> bool + 's> {
        let zone = snapshot
            .zones()
            .iter()
            .find(|z| z.name.to_string() == zone)?;
        let index = &zone.datasets.first()?.ip4;
        Some(move |address| index.get(address).is_some())
    }
}
