//! ward: an authoritative DNS server for mail reputation lists (DNSBL, RHSBL, address
//! lists), drop-in compatible with rbldnsd's data files.

pub mod zone;
pub mod store;
pub mod dns;
pub mod check;
pub mod cli;
pub mod config;
pub mod lookup;
