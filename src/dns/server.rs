//! Sockets: per listen address, one `SO_REUSEPORT` UDP socket per worker thread running
//! the hot path, and a TCP listener served on the tokio runtime it is given. Shutdown
//! stops both.

use std::collections::BTreeMap;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use tokio_util::sync::CancellationToken;

use super::batch::{BatchAnswerer, Extras};
use super::fallback::DnsSettings;
use super::tarpit::Tarpit;
use super::tcp::{self, TcpLimits, TcpShared, TcpStats};
use super::udp::Batch;
use crate::dns::counters::QueryCounters;
use crate::dns::rrl::{Limiter, RrlSettings};
use crate::store::Store;
use crate::time::unix_now;

#[derive(Debug, Clone)]
pub(crate) struct ServerConfig {
    /// Addresses to serve on, UDP and TCP each.
    pub(crate) listen: Vec<SocketAddr>,
    /// UDP worker threads per listen address.
    pub(crate) udp_workers: usize,
    pub(crate) settings: DnsSettings,
    pub(crate) tcp: TcpLimits,
    /// Count every answer by zone, type and rcode (the metrics are on).
    pub(crate) count_answers: bool,
    /// Also count bytes in and out per zone (rbldnsd's `-s` statistics).
    pub(crate) count_zone_bytes: bool,
    /// Response rate limiting (off when its rate is 0).
    pub(crate) rrl: RrlSettings,
    /// Log one UDP query in this many (0: none).
    pub(crate) query_log_every: u32,
    /// On shutdown, how long queries in progress (TCP) may take to finish.
    pub(crate) grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 5353))],
            udp_workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            settings: DnsSettings::default(),
            tcp: TcpLimits::default(),
            count_answers: false,
            count_zone_bytes: false,
            rrl: RrlSettings::default(),
            query_log_every: 0,
            grace: Duration::from_secs(5),
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
    #[error("cannot start a UDP worker thread: {0}")]
    Thread(io::Error),
}

/// A running server. Dropping it without [`Running::shutdown`] leaves it running until
/// the process ends.
pub(crate) struct Running {
    stop: Arc<AtomicBool>,
    tcp_stop: CancellationToken,
    udp_threads: Vec<JoinHandle<()>>,
    /// Per UDP worker: what it counted.
    udp_counters: Vec<Arc<QueryCounters>>,
    /// Per UDP worker: loop iterations, for the watchdog.
    heartbeats: Vec<Arc<AtomicU64>>,
    tcp: Arc<TcpShared>,
    grace: Duration,
    /// The addresses actually bound (port 0 resolved).
    pub(crate) addrs: Vec<SocketAddr>,
}

/// A running server's counters: each written by one worker, summed when read.
#[derive(Clone)]
pub struct ServerStats {
    udp: Vec<Arc<QueryCounters>>,
    heartbeats: Vec<Arc<AtomicU64>>,
    tcp: Arc<TcpShared>,
}

impl ServerStats {
    /// Queries that got no answer because answering them hit an internal error.
    pub fn internal_errors(&self) -> u64 {
        self.udp
            .iter()
            .chain([&self.tcp.counters])
            .map(|c| c.internal_errors.load(Ordering::Relaxed))
            .sum()
    }

    /// Each UDP worker's loop count: one that stops moving is stuck.
    pub(crate) fn heartbeats(&self) -> Vec<u64> {
        self.heartbeats
            .iter()
            .map(|h| h.load(Ordering::Relaxed))
            .collect()
    }

    /// The UDP workers' counters, one table each.
    pub(crate) fn udp_counters(&self) -> &[Arc<QueryCounters>] {
        &self.udp
    }

    /// The counters of every TCP connection.
    pub(crate) fn tcp_counters(&self) -> &QueryCounters {
        &self.tcp.counters
    }

    /// TCP connections open now.
    pub(crate) fn tcp_connections(&self) -> usize {
        self.tcp.open_connections()
    }

    /// The TCP side's counters.
    pub(crate) fn tcp(&self) -> &TcpStats {
        &self.tcp.stats
    }

    /// Per zone slot (UDP and TCP, when answers are counted): what rbldnsd's `-s`
    /// statistics line says of a zone.
    pub(crate) fn zone_totals(&self) -> BTreeMap<usize, ZoneTotals> {
        let mut totals: BTreeMap<usize, ZoneTotals> = BTreeMap::new();
        for table in self
            .udp
            .iter()
            .map(Arc::as_ref)
            .chain([self.tcp_counters()])
        {
            for (zone, _, rcode, _, count) in table.answers() {
                let total = totals.entry(zone).or_default();
                match rcode {
                    "NOERROR" => total.ok += count,
                    "NXDOMAIN" => total.nxdomain += count,
                    _ => total.other += count,
                }
            }
        }
        for (&zone, total) in &mut totals {
            for table in self
                .udp
                .iter()
                .map(Arc::as_ref)
                .chain([self.tcp_counters()])
            {
                let (bytes_in, bytes_out) = table.zone_bytes(zone);
                total.bytes_in += bytes_in;
                total.bytes_out += bytes_out;
            }
        }
        totals
    }
}

/// One zone's answers: NOERROR, NXDOMAIN, other codes, and the bytes in and out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ZoneTotals {
    pub(crate) ok: u64,
    pub(crate) nxdomain: u64,
    pub(crate) other: u64,
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
}

/// How long a UDP worker waits for packets before checking for shutdown.
const POLL: Duration = Duration::from_millis(200);

impl Running {
    /// Binds every listen address and starts serving; TCP runs on `runtime`.
    pub(crate) fn start(
        config: &ServerConfig,
        store: Arc<Store>,
        runtime: &tokio::runtime::Handle,
    ) -> Result<Running, ServerError> {
        let stop = Arc::new(AtomicBool::new(false));
        let tcp_stop = CancellationToken::new();
        let tcp = Arc::new(TcpShared::new(
            store.clone(),
            config.settings.clone(),
            config.tcp,
            (config.count_answers, config.count_zone_bytes),
        ));
        let extras = Extras {
            count_answers: config.count_answers,
            count_zone_bytes: config.count_zone_bytes,
            limiter: Limiter::new(&config.rrl).map(Arc::new),
            query_log_every: config.query_log_every,
        };
        let mut running = Running {
            stop: stop.clone(),
            tcp_stop: tcp_stop.clone(),
            udp_threads: Vec::new(),
            udp_counters: Vec::new(),
            heartbeats: Vec::new(),
            tcp: tcp.clone(),
            grace: config.grace,
            addrs: Vec::new(),
        };
        for &requested in &config.listen {
            let (udp_sockets, tcp_listener, addr) =
                bind_address(requested, config.udp_workers.max(1))?;
            running.addrs.push(addr);
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
            runtime.spawn(tcp::accept_loop(listener, tcp.clone(), tcp_stop.clone()));
            for socket in udp_sockets {
                let counters = Arc::new(QueryCounters::default());
                let heartbeat = Arc::new(AtomicU64::new(0));
                let tarpit =
                    Tarpit::start(&socket, runtime).map_err(|source| ServerError::Bind {
                        addr,
                        protocol: "UDP",
                        source,
                    })?;
                let worker = UdpWorker {
                    heartbeat: heartbeat.clone(),
                    socket,
                    store: store.clone(),
                    answerer: BatchAnswerer::with(
                        config.settings.clone(),
                        extras.clone(),
                        counters.clone(),
                    )
                    .with_tarpit(tarpit),
                    stop: stop.clone(),
                    grace: config.grace,
                };
                let n = running.udp_threads.len();
                let thread = std::thread::Builder::new()
                    .name(format!("ward-udp-{n}"))
                    .spawn(move || worker.run());
                match thread {
                    Ok(thread) => running.udp_threads.push(thread),
                    Err(error) => {
                        running.shutdown();
                        return Err(ServerError::Thread(error));
                    }
                }
                running.udp_counters.push(counters);
                running.heartbeats.push(heartbeat);
            }
        }
        Ok(running)
    }

    /// The server's counters, to read while it runs.
    pub(crate) fn stats(&self) -> ServerStats {
        ServerStats {
            udp: self.udp_counters.clone(),
            heartbeats: self.heartbeats.clone(),
            tcp: self.tcp.clone(),
        }
    }

    /// Stops taking queries and answers what was received: the UDP workers answer
    /// what is queued on their sockets, TCP connections finish the query they are in
    /// (for at most the grace period), the listeners close.
    pub(crate) fn shutdown(mut self) {
        self.stop_all();
    }

    fn stop_all(&mut self) {
        let deadline = Instant::now() + self.grace;
        self.stop.store(true, Ordering::SeqCst);
        self.tcp_stop.cancel();
        self.tcp.close_idle();
        for thread in self.udp_threads.drain(..) {
            let _ = thread.join();
        }
        while self.tcp.open_connections() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let unfinished = self.tcp.open_connections();
        if unfinished > 0 {
            tracing::warn!(
                connections = unfinished,
                "TCP queries still unfinished after the grace period; closing them"
            );
        }
    }
}

/// Binds `workers` UDP sockets and one TCP listener on `requested`. Port 0 picks a
/// port free for both protocols.
fn bind_address(
    requested: SocketAddr,
    workers: usize,
) -> Result<(Vec<UdpSocket>, std::net::TcpListener, SocketAddr), ServerError> {
    if requested.port() != 0 {
        let sockets = udp_sockets(requested, workers)?;
        let listener = tcp_listener(requested).map_err(|source| ServerError::Bind {
            addr: requested,
            protocol: "TCP",
            source,
        })?;
        return Ok((sockets, listener, requested));
    }
    // Port 0: one port for UDP and TCP. TCP picks it (the kernel gives a port no TCP
    // socket uses); if a UDP socket has it, that listener is held while the next one
    // is tried, so the kernel cannot offer the same port again.
    //
    // The port is an ephemeral one, so the workers share one socket without
    // `SO_REUSEPORT`: Linux lets any socket of the same user that asks for port 0
    // with `SO_REUSEPORT` (dig does) be given a port already held with it, and such a
    // client, connected to that very port, receives its own query.
    let mut held = Vec::new();
    let mut last_error = None;
    for _ in 0..10 {
        let listener = tcp_listener(requested).map_err(|source| ServerError::Bind {
            addr: requested,
            protocol: "TCP",
            source,
        })?;
        let addr = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: requested,
            protocol: "TCP",
            source,
        })?;
        match shared_udp_socket(addr, workers) {
            Ok(sockets) => return Ok((sockets, listener, addr)),
            Err(error) => {
                last_error = Some(error);
                held.push(listener);
            }
        }
    }
    Err(last_error.unwrap_or_else(|| ServerError::Bind {
        addr: requested,
        protocol: "UDP",
        source: io::Error::other("no attempt made"),
    }))
}

/// One UDP socket a worker on `addr` (`SO_REUSEPORT`).
fn udp_sockets(addr: SocketAddr, workers: usize) -> Result<Vec<UdpSocket>, ServerError> {
    let error = |source| ServerError::Bind {
        addr,
        protocol: "UDP",
        source,
    };
    (0..workers.max(1))
        .map(|_| bound_udp_socket(addr, true).map_err(error))
        .collect()
}

/// One UDP socket on `addr` held by no one else, a handle to it for each worker.
fn shared_udp_socket(addr: SocketAddr, workers: usize) -> Result<Vec<UdpSocket>, ServerError> {
    let error = |source| ServerError::Bind {
        addr,
        protocol: "UDP",
        source,
    };
    let socket = bound_udp_socket(addr, false).map_err(error)?;
    let mut sockets = Vec::with_capacity(workers.max(1));
    for _ in 1..workers.max(1) {
        sockets.push(socket.try_clone().map_err(error)?);
    }
    sockets.push(socket);
    Ok(sockets)
}

fn bound_udp_socket(addr: SocketAddr, reuse_port: bool) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_port(reuse_port)?;
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
    answerer: BatchAnswerer,
    stop: Arc<AtomicBool>,
    /// How long stopping may take to answer what is queued.
    grace: Duration,
    /// Counts loop iterations (at least five a second: receives time out).
    heartbeat: Arc<AtomicU64>,
}

impl UdpWorker {
    fn run(mut self) {
        let mut batch = Batch::default();
        while !self.stop.load(Ordering::Relaxed) {
            let beats = self.heartbeat.load(Ordering::Relaxed);
            self.heartbeat
                .store(beats.wrapping_add(1), Ordering::Relaxed);
            if let Err(error) = batch.receive(&self.socket) {
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
            self.answer(&batch);
        }
        // Stopping: what was received is answered, however little time is left.
        let deadline = Instant::now() + self.grace;
        while Instant::now() < deadline && batch.receive_queued(&self.socket).is_ok_and(|n| n > 0) {
            self.answer(&batch);
        }
    }

    fn answer(&mut self, batch: &Batch) {
        let snapshot = self.store.load();
        self.answerer
            .answer(&snapshot, &batch.datagrams(), unix_now());
        batch.send(&self.socket, self.answerer.replies(), self.answerer.ready());
    }
}
