//! What the query path needs from zone transfers. Transfers live a layer above it
//! (`xfr`, which uses this layer's wire format and TSIG) and are wired in by the app
//! through this trait, so that the query path never imports them: the TSIG keys a
//! signed query is checked against, whether an IXFR over UDP gets the zone's SOA,
//! and the TCP connection an AXFR or IXFR request arrives on.

use std::fmt::Debug;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use tokio::io::AsyncWrite;

use super::tsig::{Keyring, Verified};
use crate::store::{Snapshot, Store};

/// A connection a transfer is written to.
pub(crate) type TransferStream<'a> = &'a mut (dyn AsyncWrite + Unpin + Send);

/// Zone transfers as the query path sees them.
pub(crate) trait TransferService: Send + Sync + Debug {
    /// The keys signed messages are verified with.
    fn keys(&self) -> &Keyring;

    /// Whether `packet`, an IXFR over UDP, gets the zone's current SOA alone (the
    /// client may transfer the zone; RFC 1995 §2).
    fn answers_udp_ixfr(
        &self,
        packet: &[u8],
        verified: &Verified,
        peer: SocketAddr,
        snapshot: &Snapshot,
    ) -> bool;

    /// Whether `message` asks for a zone transfer, which [`TransferService::serve`]
    /// then answers.
    fn is_transfer(&self, message: &[u8]) -> bool;

    /// Answers a transfer request on `stream`, each write within `write_timeout`;
    /// resolves to whether the connection may go on.
    fn serve<'a>(
        &'a self,
        stream: TransferStream<'a>,
        message: &'a [u8],
        peer: SocketAddr,
        store: &'a Store,
        write_timeout: Duration,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>>;
}
