//! ward: an authoritative DNS server for mail reputation lists (DNSBL, RHSBL, address
//! lists), drop-in compatible with rbldnsd's data files.

pub mod check;
pub mod cli;
pub mod config;
pub mod dns;
#[cfg(feature = "fault-injection")]
mod faults;
pub mod lookup;
mod panics;
pub mod reload;
pub mod store;
pub mod zone;
