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

pub mod app;
pub mod config;
pub mod dns;
#[cfg(feature = "fault-injection")]
#[doc(hidden)]
pub mod faults;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod listings;
pub mod load;
pub mod memory;
pub mod records;
pub mod reload;
pub mod report;
pub mod store;
pub mod time;
pub mod web;
pub mod xfr;
pub mod zone;

#[cfg(test)]
mod tests;

pub use app::serve::{Ready, ServeError, ServeSettings, serve, serve_with};
