//! ward: an authoritative DNS server for mail reputation lists (DNSBL, RHSBL, address
//! lists), drop-in compatible with rbldnsd's data files.
//!
//! `unsafe` is denied everywhere but in the two modules that talk to the system
//! below the standard library: [`dns`]'s batched UDP calls and `memory`.
#![deny(unsafe_code)]

pub mod check;
pub mod cli;
mod clock;
pub mod config;
pub mod dns;
pub mod explain;
pub mod export;
#[cfg(feature = "fault-injection")]
#[doc(hidden)]
pub mod faults;
#[doc(hidden)]
pub mod fuzzing;
mod lifecycle;
pub mod load;
mod memory;
mod metrics;
mod panics;
mod privileges;
pub mod reload;
pub mod rrl;
mod serials;
mod serve;
mod stats;
pub mod store;
pub mod web;
pub mod zone;

pub use serve::{Ready, ServeError, ServeSettings, serve, serve_with};
