//! DNS over TCP (RFC 7766): ward's own accept loop, with the limits a public server
//! needs. At most `max_connections` at once (when full, the connection idle longest is
//! closed to make room, as NSD and Knot do); every read and write has a deadline, so an
//! idle or slow client cannot hold a connection; accept errors such as running out of
//! descriptors back off instead of spinning. Pipelined queries are answered in order.
//! A listing's tarpit holds a reply back for at most the idle timeout.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::time::{Instant, timeout};
use tokio_util::sync::CancellationToken;

use super::answer::Hold;
use super::fallback::{DnsSettings, Transport, answer_message};
use crate::dns::counters::{QueryCounters, Writers, add};
use crate::store::Store;
use crate::time::unix_now;

/// Descriptors kept free for everything but TCP clients: reloads open zone files (one
/// per parse thread), the directory watch, logs.
const RESERVED_DESCRIPTORS: u64 = 64;
/// The most TCP connections the default allows, whatever the descriptor limit.
const MAX_DEFAULT_CONNECTIONS: u64 = 4096;

/// What a TCP client may take.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TcpLimits {
    /// Open connections at most; when full, the one idle longest is closed. `None`:
    /// derived from the descriptor limit when serving starts.
    pub(crate) max_connections: Option<usize>,
    /// A connection that sends no complete message for this long is closed; a reply
    /// the client does not read within it is abandoned.
    pub(crate) idle_timeout: Duration,
}

impl Default for TcpLimits {
    fn default() -> Self {
        TcpLimits {
            max_connections: None,
            idle_timeout: Duration::from_secs(10),
        }
    }
}

/// Half the descriptors left after a reserve for reloads (Knot's default is half the
/// limit), at least 16.
pub(crate) fn default_max_connections() -> usize {
    let (soft, _) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap_or((1024, 1024));
    let usable = soft.saturating_sub(RESERVED_DESCRIPTORS) / 2;
    usable.clamp(16, MAX_DEFAULT_CONNECTIONS) as usize
}

/// Counters of the TCP side, read by whoever reports them.
#[derive(Debug, Default)]
pub(crate) struct TcpStats {
    /// Connections closed to make room for a new one.
    pub(crate) evicted: AtomicU64,
    /// Connections refused because every open one was busy.
    pub(crate) refused: AtomicU64,
    /// `accept` failures for lack of resources (descriptors, memory).
    pub(crate) accept_errors: AtomicU64,
}

struct Connection {
    last_active: Instant,
    busy: bool,
    close: Arc<Notify>,
}

/// The open connections of every listener: the limit is for the whole server.
#[derive(Default)]
struct Registry {
    next_id: u64,
    open: HashMap<u64, Connection>,
}

/// What the TCP side shares between its listeners and connections.
pub(crate) struct TcpShared {
    store: Arc<Store>,
    settings: DnsSettings,
    /// What TCP answers count into (shared by every connection).
    pub(crate) counters: Arc<QueryCounters>,
    count_answers: bool,
    /// Also count bytes in and out per zone (rbldnsd's `-s` statistics).
    count_zone_bytes: bool,
    max_connections: usize,
    idle_timeout: Duration,
    registry: Mutex<Registry>,
    pub(crate) stats: TcpStats,
}

impl TcpShared {
    pub(crate) fn new(
        store: Arc<Store>,
        settings: DnsSettings,
        limits: TcpLimits,
        (count_answers, count_zone_bytes): (bool, bool),
    ) -> Self {
        let max_connections = limits
            .max_connections
            .unwrap_or_else(default_max_connections)
            .max(1);
        TcpShared {
            store,
            settings,
            counters: Arc::default(),
            count_answers,
            count_zone_bytes,
            max_connections,
            idle_timeout: limits.idle_timeout,
            registry: Mutex::new(Registry::default()),
            stats: TcpStats::default(),
        }
    }

    /// Open connections now.
    pub(crate) fn open_connections(&self) -> usize {
        self.registry.lock().map_or(0, |r| r.open.len())
    }

    /// Registers a new connection, closing the one idle longest when full. `None` when
    /// full and every open connection is in the middle of a query.
    fn admit(&self) -> Option<(u64, Arc<Notify>)> {
        let mut registry = self.registry.lock().ok()?;
        if registry.open.len() >= self.max_connections {
            let oldest = registry
                .open
                .iter()
                .filter(|(_, c)| !c.busy)
                .min_by_key(|(_, c)| c.last_active)
                .map(|(&id, _)| id);
            let Some(oldest) = oldest else {
                self.stats.refused.fetch_add(1, Ordering::Relaxed);
                return None;
            };
            if let Some(evicted) = registry.open.remove(&oldest) {
                evicted.close.notify_one();
                self.stats.evicted.fetch_add(1, Ordering::Relaxed);
            }
        }
        let id = registry.next_id;
        registry.next_id += 1;
        let close = Arc::new(Notify::new());
        registry.open.insert(
            id,
            Connection {
                last_active: Instant::now(),
                busy: false,
                close: close.clone(),
            },
        );
        Some((id, close))
    }

    /// Closes the connection idle longest (to free a descriptor). Whether there was one.
    fn evict_oldest_idle(&self) -> bool {
        let Ok(mut registry) = self.registry.lock() else {
            return false;
        };
        let oldest = registry
            .open
            .iter()
            .filter(|(_, c)| !c.busy)
            .min_by_key(|(_, c)| c.last_active)
            .map(|(&id, _)| id);
        match oldest.and_then(|id| registry.open.remove(&id)) {
            Some(evicted) => {
                evicted.close.notify_one();
                self.stats.evicted.fetch_add(1, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    fn set_busy(&self, id: u64, busy: bool) {
        if let Ok(mut registry) = self.registry.lock()
            && let Some(connection) = registry.open.get_mut(&id)
        {
            connection.busy = busy;
            connection.last_active = Instant::now();
        }
    }

    fn forget(&self, id: u64) {
        if let Ok(mut registry) = self.registry.lock() {
            registry.open.remove(&id);
        }
    }

    /// Asks every idle connection to close (shutdown); busy ones finish their query.
    pub(crate) fn close_idle(&self) {
        if let Ok(registry) = self.registry.lock() {
            for connection in registry.open.values().filter(|c| !c.busy) {
                connection.close.notify_one();
            }
        }
    }
}

/// Is this accept error about running out of something (descriptors, memory, buffers),
/// which retrying at once cannot fix?
fn is_resource_error(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Accepts connections on `listener` until `stop` is cancelled.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    shared: Arc<TcpShared>,
    stop: CancellationToken,
) {
    const FIRST_BACKOFF: Duration = Duration::from_millis(10);
    const MAX_BACKOFF: Duration = Duration::from_secs(1);
    let mut backoff = FIRST_BACKOFF;
    let mut last_warning: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = FIRST_BACKOFF;
                let Some((id, close)) = shared.admit() else {
                    drop(stream);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                let stop = stop.clone();
                tokio::spawn(async move {
                    serve_connection(stream, peer, &shared, id, &close, &stop).await;
                    shared.forget(id);
                });
            }
            Err(error) if is_resource_error(&error) => {
                shared.stats.accept_errors.fetch_add(1, Ordering::Relaxed);
                if last_warning.is_none_or(|at| at.elapsed() > Duration::from_secs(10)) {
                    last_warning = Some(Instant::now());
                    tracing::warn!(
                        %error,
                        open = shared.open_connections(),
                        "cannot accept TCP connections; closing the oldest idle one and backing off"
                    );
                }
                shared.evict_oldest_idle();
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            // The client gave up before we took it (ECONNABORTED and the like).
            Err(error) => tracing::debug!(%error, "TCP accept failed"),
        }
    }
}

/// Answers the messages of one connection until it closes, idles out, or is asked to
/// close (`close`: made room for another). On shutdown (`stop`) a connection waiting
/// for its next query closes at once, and one in the middle of a query finishes it.
async fn serve_connection<S: AsyncRead + AsyncWrite + Unpin + Send>(
    mut stream: S,
    peer: SocketAddr,
    shared: &TcpShared,
    id: u64,
    close: &Notify,
    stop: &CancellationToken,
) {
    let idle = shared.idle_timeout;
    let mut message = Vec::with_capacity(512);
    let mut framed = Vec::with_capacity(1024);
    while !stop.is_cancelled() {
        // The first byte of the next message: until it comes, the connection is idle.
        let mut length = [0u8; 2];
        tokio::select! {
            () = close.notified() => return,
            () = stop.cancelled() => return,
            first = timeout(idle, stream.read(&mut length[..1])) => match first {
                Ok(Ok(1)) => {}
                _ => return,
            },
        }
        shared.set_busy(id, true);
        if !matches!(
            timeout(idle, stream.read_exact(&mut length[1..])).await,
            Ok(Ok(_))
        ) {
            return;
        }
        let length = usize::from(u16::from_be_bytes(length));
        if length == 0 {
            return;
        }
        message.resize(length, 0);
        if !matches!(
            timeout(idle, stream.read_exact(&mut message)).await,
            Ok(Ok(_))
        ) {
            return;
        }
        if let Some(transfers) = &shared.settings.transfers
            && transfers.is_transfer(&message)
        {
            // Many messages, made off this task; the idle deadline bounds each write.
            if !transfers
                .serve(&mut stream, &message, peer, &shared.store, idle)
                .await
            {
                return;
            }
        } else if let Some((reply, hold)) = answer(shared, &message, peer) {
            // A tarpit holds the reply, never longer than the idle timeout: the client
            // may still read it, and a stop does not wait for it.
            if hold.0 > 0 {
                let wait = Duration::from_secs(u64::from(hold.0)).min(idle);
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(wait) => {}
                }
            }
            framed.clear();
            framed.extend_from_slice(&(reply.len() as u16).to_be_bytes());
            framed.extend_from_slice(&reply);
            if !matches!(timeout(idle, stream.write_all(&framed)).await, Ok(Ok(()))) {
                return;
            }
        }
        shared.set_busy(id, false);
    }
}

/// One message's reply and when to send it; a bug costs this message only.
fn answer(shared: &TcpShared, message: &[u8], peer: SocketAddr) -> Option<(Vec<u8>, Hold)> {
    let snapshot = shared.store.load();
    let answered = catch_unwind(AssertUnwindSafe(|| {
        answer_message(
            &snapshot,
            &shared.settings,
            message,
            peer,
            Transport::Tcp,
            unix_now(),
        )
    }));
    match answered {
        Ok(Some(reply)) => {
            if shared.count_answers {
                shared
                    .counters
                    .count(reply.outcome, reply.bytes.len(), false, Writers::Many);
                if shared.count_zone_bytes {
                    let bytes = (message.len(), reply.bytes.len());
                    let zone = reply.outcome.zone_slot;
                    shared.counters.count_zone_bytes(zone, bytes, Writers::Many);
                }
            }
            if reply.hold != Hold::NOW {
                add(&shared.counters.tarpit_held, 1, Writers::Many);
            }
            Some((reply.bytes, reply.hold))
        }
        Ok(None) => {
            add(&shared.counters.dropped, 1, Writers::Many);
            None
        }
        Err(_) => {
            add(&shared.counters.internal_errors, 1, Writers::Many);
            None
        }
    }
}

/// Feeds `input` to a connection as if a client had sent it, and returns what the
/// server wrote back: the TCP framing without a socket, for fuzzing.
#[cfg(feature = "fuzzing")]
pub(crate) async fn replay_stream(
    store: Arc<Store>,
    settings: DnsSettings,
    input: &[u8],
) -> Vec<u8> {
    let shared = TcpShared::new(
        store,
        settings,
        TcpLimits {
            max_connections: Some(1),
            idle_timeout: Duration::from_millis(50),
        },
        (true, false),
    );
    let Some((id, close)) = shared.admit() else {
        return Vec::new();
    };
    let (mut client, server) = tokio::io::duplex(1 << 20);
    let peer = SocketAddr::from(([127, 0, 0, 1], 53000));
    let stop = CancellationToken::new();
    let serving = serve_connection(server, peer, &shared, id, &close, &stop);
    let talking = async {
        let _ = client.write_all(input).await;
        let _ = client.shutdown().await;
        let mut out = Vec::new();
        let _ = client.read_to_end(&mut out).await;
        out
    };
    let ((), out) = tokio::join!(serving, talking);
    out
}
