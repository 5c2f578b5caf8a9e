//! DNS on the wire: the only part of ward that knows hickory. The hot path (UDP
//! standard queries, [`batch`]) parses and encodes by hand; TCP and everything unusual
//! goes through hickory-proto ([`fallback`]). Both ask [`answer::resolve`], so they
//! cannot disagree.

pub(crate) mod answer;
pub(crate) mod batch;
pub(crate) mod counters;
pub(crate) mod fallback;
pub(crate) mod query;
pub(crate) mod rrl;
pub(crate) mod server;
pub(crate) mod tcp;
pub(crate) mod transfers;
pub(crate) mod tsig;
mod udp;
pub(crate) mod wire;
