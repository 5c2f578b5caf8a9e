//! The tarpit: replies a listing asks to hold back (the rspamd fork's `@ delay=2s`) go
//! out later, from the socket the query came in on, sent by a task on the runtime —
//! a UDP worker never sleeps, and never waits for them.
//!
//! Each worker holds at most [`HELD_PER_WORKER`] replies at once. Past that, a reply
//! that should be held is dropped and counted, as a tarpit drops what it cannot hold:
//! sending it at once would let a flood skip the delay (the fork sends it at once).
//! Replies still held when ward stops are not sent.

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use socket2::{SockAddr, SockRef};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Replies one UDP worker holds back at most.
pub(crate) const HELD_PER_WORKER: usize = 1024;

/// One worker's tarpit: where it hands the replies to hold back.
pub(crate) struct Tarpit {
    queue: mpsc::UnboundedSender<Held>,
    /// Replies handed over and not yet sent (or given up).
    held: Arc<AtomicUsize>,
}

struct Held {
    due: Instant,
    peer: SocketAddr,
    bytes: Vec<u8>,
}

// The earliest due first, in a max-heap.
impl Ord for Held {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        other.due.cmp(&self.due)
    }
}

impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        self.due == other.due
    }
}

impl Eq for Held {}

impl Tarpit {
    /// A tarpit sending through (a duplicate of) `socket`, its task on `runtime`.
    pub(crate) fn start(socket: &UdpSocket, runtime: &tokio::runtime::Handle) -> io::Result<Self> {
        let socket = socket.try_clone()?;
        let (queue, incoming) = mpsc::unbounded_channel();
        let held = Arc::new(AtomicUsize::new(0));
        runtime.spawn(release(socket, incoming, held.clone()));
        Ok(Tarpit { queue, held })
    }

    /// Sends `bytes` to `peer` in `seconds`. False when the tarpit is full (the reply
    /// is not sent at all).
    pub(crate) fn hold(&self, peer: SocketAddr, bytes: &[u8], seconds: u32) -> bool {
        if self.held.load(Ordering::Relaxed) >= HELD_PER_WORKER {
            return false;
        }
        self.held.fetch_add(1, Ordering::Relaxed);
        let held = Held {
            due: Instant::now() + Duration::from_secs(u64::from(seconds)),
            peer,
            bytes: bytes.to_vec(),
        };
        if self.queue.send(held).is_err() {
            self.held.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        true
    }
}

/// Sends each held reply when it is due, until the worker is gone.
async fn release(
    socket: UdpSocket,
    mut incoming: mpsc::UnboundedReceiver<Held>,
    held: Arc<AtomicUsize>,
) {
    let mut waiting: BinaryHeap<Held> = BinaryHeap::new();
    loop {
        let next = waiting.peek().map(|h| h.due);
        tokio::select! {
            received = incoming.recv() => match received {
                Some(reply) => waiting.push(reply),
                None => return,
            },
            () = sleep_until(next) => {}
        }
        let now = Instant::now();
        while waiting.peek().is_some_and(|h| h.due <= now) {
            let Some(reply) = waiting.pop() else { break };
            // Never block the runtime: a full socket buffer drops the reply, as it
            // would drop any UDP reply.
            let sent = SockRef::from(&socket).send_to_with_flags(
                &reply.bytes,
                &SockAddr::from(reply.peer),
                libc::MSG_DONTWAIT,
            );
            if let Err(error) = sent {
                tracing::debug!(%error, "dropping a held UDP reply");
            }
            held.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_replies_go_out_in_due_order_and_the_bound_holds() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let peer = client.local_addr().unwrap();
        let tarpit = Tarpit::start(&server, runtime.handle()).unwrap();
        assert!(tarpit.hold(peer, b"second", 1));
        assert!(tarpit.hold(peer, b"first", 0));
        // Full: past the bound nothing more is taken.
        tarpit.held.store(HELD_PER_WORKER, Ordering::Relaxed);
        assert!(!tarpit.hold(peer, b"never", 0));
        tarpit.held.store(2, Ordering::Relaxed);
        runtime.block_on(async { tokio::time::sleep(Duration::from_millis(1500)).await });
        let mut buf = [0u8; 16];
        let (n, from) = client.recv_from(&mut buf).unwrap();
        assert_eq!(
            (&buf[..n], from),
            (&b"first"[..], server.local_addr().unwrap())
        );
        let (n, _) = client.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"second");
        assert_eq!(tarpit.held.load(Ordering::Relaxed), 0);
    }
}
