//! The query path: DNS on the wire, and the only part of ward that knows hickory.
//! The hot path (UDP standard queries, [`batch`] over [`udp`]'s batched calls) parses
//! and encodes by hand; TCP ([`tcp`]) and everything unusual goes through
//! hickory-proto ([`fallback`]). Both ask [`answer::resolve`], so they cannot
//! disagree. Also here: TSIG ([`tsig`], the query path verifies signed SOA queries),
//! response rate limiting ([`rrl`]), the per-worker [`counters`], the sockets
//! ([`server`]), and the timers of replies a tarpit holds back ([`tarpit`]). Zone transfers are handed over through [`transfers`].
//!
//! Uses `store` (the snapshot a query reads) and `zone`; never reload, load or
//! anything above.

/// Log directives that keep the DNS libraries' own logs to warnings (hickory logs
/// every query at INFO), for whoever sets up logging.
pub(crate) const QUIET_LIBRARIES: &str = "hickory_server=warn,hickory_proto=warn";

pub(crate) mod answer;
pub(crate) mod batch;
pub(crate) mod counters;
pub(crate) mod fallback;
pub(crate) mod query;
pub(crate) mod resolver;
pub(crate) mod rrl;
pub(crate) mod server;
mod tarpit;
pub(crate) mod tcp;
pub(crate) mod transfers;
pub(crate) mod tsig;
mod udp;
pub(crate) mod wire;
