//! DNS on the wire: the only part of ward that knows hickory. The hot path (UDP
//! standard queries) parses and encodes by hand; TCP and everything unusual goes
//! through hickory. Both ask [`answer::resolve`], so they cannot disagree.

pub mod answer;
pub mod handler;
pub mod query;
pub mod server;
pub mod udp;
pub mod wire;
