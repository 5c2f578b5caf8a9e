//! Sockets: per listen address, one `SO_REUSEPORT` UDP socket per worker thread running
//! the hot path, and a TCP listener served by hickory's `Server` on a small tokio
//! runtime. Shutdown stops both.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use smallvec::SmallVec;
use socket2::{Domain, Protocol, Socket, Type};

use super::answer;
use super::handler::{DnsSettings, WardHandler};
use super::query::{self, Parsed, Query};
use super::udp::{BATCH, Batch};
use super::wire;
use crate::store::{Store, unix_now};
use crate::zone::Prefetch;
use crate::zone::ip::Warm;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Addresses to serve on, UDP and TCP each.
    pub listen: Vec<SocketAddr>,
    /// UDP worker threads per listen address.
    pub udp_workers: usize,
    pub settings: DnsSettings,
    /// A TCP connection that sends nothing for this long is closed.
    pub tcp_idle_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 5353))],
            udp_workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            settings: DnsSettings::default(),
            tcp_idle_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr} ({protocol}): {source}")]
    Bind {
        addr: SocketAddr,
        protocol: &'static str,
        source: io::Error,
    },
    #[error("cannot start the TCP runtime: {0}")]
    Runtime(io::Error),
}

/// A running server. Dropping it without [`Running::shutdown`] leaves it running until
/// the process ends.
pub struct Running {
    runtime: Option<tokio::runtime::Runtime>,
    stop: Arc<AtomicBool>,
    udp_threads: Vec<JoinHandle<()>>,
    tcp: Option<hickory_server::Server<WardHandler>>,
    /// Per UDP worker: queries lost to an internal error.
    failures: Vec<Arc<AtomicU64>>,
    /// The addresses actually bound (port 0 resolved).
    pub addrs: Vec<SocketAddr>,
}

/// How long a UDP worker waits for packets before checking for shutdown.
const POLL: Duration = Duration::from_millis(200);

impl Running {
    pub fn start(config: &ServerConfig, store: Arc<Store>) -> Result<Running, ServerError> {
        crate::panics::install_hook();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("ward-tcp")
            .enable_all()
            .build()
            .map_err(ServerError::Runtime)?;
        let handler = WardHandler::new(store.clone(), config.settings.clone());
        let mut tcp = hickory_server::Server::new(handler.clone());
        let stop = Arc::new(AtomicBool::new(false));
        let mut addrs = Vec::new();
        let mut udp_threads = Vec::new();
        let mut failures = Vec::new();
        for &requested in &config.listen {
            let (udp_sockets, tcp_listener, addr) =
                bind_address(requested, config.udp_workers.max(1))?;
            addrs.push(addr);
            let listener = {
                let _guard = runtime.enter();
                tokio::net::TcpListener::from_std(tcp_listener).map_err(|source| {
                    ServerError::Bind {
                        addr,
                        protocol: "TCP",
                        source,
                    }
                })?
            };
            {
                let _guard = runtime.enter();
                tcp.register_listener(listener, config.tcp_idle_timeout, 64);
            }
            for (n, socket) in udp_sockets.into_iter().enumerate() {
                let worker = UdpWorker {
                    socket,
                    store: store.clone(),
                    handler: handler.clone(),
                    payload: config.settings.udp_payload,
                    stop: stop.clone(),
                    failures: Arc::new(AtomicU64::new(0)),
                };
                failures.push(worker.failures.clone());
                let thread = std::thread::Builder::new()
                    .name(format!("ward-udp-{n}"))
                    .spawn(move || worker.run())
                    .map_err(ServerError::Runtime)?;
                udp_threads.push(thread);
            }
        }
        Ok(Running {
            runtime: Some(runtime),
            stop,
            udp_threads,
            tcp: Some(tcp),
            failures,
            addrs,
        })
    }

    /// Queries that got no answer because answering them hit an internal error.
    pub fn internal_errors(&self) -> u64 {
        self.failures
            .iter()
            .map(|f| f.load(Ordering::Relaxed))
            .sum()
    }

    /// The runtime TCP runs on, for other background work (reloading).
    pub fn runtime(&self) -> Option<&tokio::runtime::Runtime> {
        self.runtime.as_ref()
    }

    /// Stops accepting queries and waits for the workers.
    pub fn shutdown(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let (Some(runtime), Some(mut tcp)) = (self.runtime.take(), self.tcp.take()) {
            let _ = runtime.block_on(async {
                tokio::time::timeout(Duration::from_secs(2), tcp.shutdown_gracefully()).await
            });
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
        for thread in self.udp_threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Binds `workers` UDP sockets and one TCP listener on `requested`. Port 0 picks a
/// port free for both protocols.
fn bind_address(
    requested: SocketAddr,
    workers: usize,
) -> Result<(Vec<UdpSocket>, std::net::TcpListener, SocketAddr), ServerError> {
    let mut last_error = None;
    let attempts = if requested.port() == 0 { 10 } else { 1 };
    for _ in 0..attempts {
        match try_bind(requested, workers) {
            Ok(bound) => return Ok(bound),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| ServerError::Bind {
        addr: requested,
        protocol: "UDP",
        source: io::Error::other("no attempt made"),
    }))
}

fn try_bind(
    requested: SocketAddr,
    workers: usize,
) -> Result<(Vec<UdpSocket>, std::net::TcpListener, SocketAddr), ServerError> {
    let udp_error = |addr, source| ServerError::Bind {
        addr,
        protocol: "UDP",
        source,
    };
    let first = udp_socket(requested).map_err(|e| udp_error(requested, e))?;
    let addr = first.local_addr().map_err(|e| udp_error(requested, e))?;
    let mut sockets = vec![first];
    for _ in 1..workers {
        sockets.push(udp_socket(addr).map_err(|e| udp_error(addr, e))?);
    }
    let listener = tcp_listener(addr).map_err(|source| ServerError::Bind {
        addr,
        protocol: "TCP",
        source,
    })?;
    Ok((sockets, listener, addr))
}

fn udp_socket(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_port(true)?;
    // Bursts should queue rather than drop; the kernel caps this at rmem_max.
    let _ = socket.set_recv_buffer_size(4 << 20);
    socket.set_read_timeout(Some(POLL))?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

fn tcp_listener(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

struct UdpWorker {
    socket: UdpSocket,
    store: Arc<Store>,
    handler: WardHandler,
    payload: u16,
    stop: Arc<AtomicBool>,
    /// Queries that hit an internal error (a panic) and got no answer.
    failures: Arc<AtomicU64>,
}

impl UdpWorker {
    fn run(self) {
        let mut batch = Batch::default();
        let mut replies: Vec<Vec<u8>> = (0..BATCH).map(|_| Vec::with_capacity(1500)).collect();
        let mut queries: Vec<Query> = (0..BATCH).map(|_| Query::default()).collect();
        let mut scratch = Vec::with_capacity(1024);
        let mut ready: Vec<usize> = Vec::with_capacity(BATCH);
        while !self.stop.load(Ordering::Relaxed) {
            match batch.receive(&self.socket) {
                Ok(_) => {}
                Err(error) => {
                    if !matches!(
                        error.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) {
                        tracing::warn!(%error, "UDP receive failed");
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    continue;
                }
            }
            ready.clear();
            self.answer_batch(&batch, &mut replies, &mut queries, &mut scratch, &mut ready);
            batch.send(&self.socket, &replies, &ready);
        }
    }

    /// Answers one batch. A bug costs the one query that triggers it — it gets no
    /// answer and is counted — never the other queries of its batch, nor the worker.
    fn answer_batch(
        &self,
        batch: &Batch,
        replies: &mut [Vec<u8>],
        queries: &mut [Query],
        scratch: &mut Vec<u8>,
        ready: &mut Vec<usize>,
    ) {
        let snapshot = self.store.load();
        let now = unix_now();
        let count = batch.len().min(queries.len());
        // Parse the whole batch first and start fetching the index entries its lookups
        // will read: their cache misses then overlap instead of following one another.
        let mut parsed = [Parsed::Drop; BATCH];
        let mut plans: SmallVec<[Prefetch<'_>; BATCH]> = SmallVec::new();
        for (i, query) in queries.iter_mut().enumerate().take(count) {
            let Some(packet) = batch.packet(i) else {
                continue;
            };
            let step = catch_unwind(AssertUnwindSafe(|| {
                let kind = query::parse(packet, query);
                let qname = query.question.name.view();
                let plan = match snapshot.find_zone(qname) {
                    Some((zone, relative_labels)) if kind == Parsed::Query => {
                        let plan = zone.prefetch_targets(qname.prefix(relative_labels));
                        plan.warm(Warm::Bucket);
                        Some(plan)
                    }
                    _ => None,
                };
                (kind, plan)
            }));
            match step {
                Ok((kind, plan)) => {
                    parsed[i] = kind;
                    plans.extend(plan);
                }
                Err(_) => self.count_failure(),
            }
        }
        for plan in &plans {
            plan.warm(Warm::Entries);
        }
        for (i, reply) in replies.iter_mut().enumerate().take(count) {
            let (Some(packet), Some(peer)) = (batch.packet(i), batch.peer(i)) else {
                continue;
            };
            let query = &queries[i];
            let answered = catch_unwind(AssertUnwindSafe(|| match parsed[i] {
                Parsed::Query => {
                    let answer = answer::resolve(&snapshot, &query.question, peer.ip(), now);
                    if answer.drop {
                        return false;
                    }
                    let limit = wire::udp_limit(query, self.payload);
                    wire::encode(packet, query, &answer, limit, self.payload, reply, scratch);
                    true
                }
                Parsed::Drop => false,
                Parsed::Fallback => match self.handler.answer_udp_fallback(packet, peer) {
                    Some(bytes) => {
                        *reply = bytes;
                        true
                    }
                    None => false,
                },
            }));
            match answered {
                Ok(true) => ready.push(i),
                Ok(false) => {}
                Err(_) => self.count_failure(),
            }
        }
    }

    /// One more query lost to an internal error. The panic hook has logged it.
    fn count_failure(&self) {
        // Only this worker writes its counter: no read-modify-write race to lock.
        let failures = self.failures.load(Ordering::Relaxed);
        self.failures.store(failures + 1, Ordering::Relaxed);
    }
}
