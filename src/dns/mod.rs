//! DNS on the wire: the only part of ward that knows hickory. The hot path (UDP
//! standard queries, [`batch`]) parses and encodes by hand; TCP and everything unusual
//! goes through hickory-proto ([`fallback`]). Both ask [`answer::resolve`], so they
//! cannot disagree.

pub mod answer;
pub mod batch;
pub(crate) mod counters;
pub mod fallback;
pub mod query;
pub mod rrl;
pub mod server;
pub mod tcp;
pub mod transfers;
pub mod tsig;
mod udp;
pub mod wire;
