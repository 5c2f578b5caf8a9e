//! Sockets: per listen address, one `SO_REUSEPORT` UDP socket per worker thread running
//! the hot path, and a TCP listener served on the tokio runtime it is given. Shutdown
//! stops both.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio_util::sync::CancellationToken;

use super::batch::BatchAnswerer;
use super::fallback::DnsSettings;
use super::tcp::{self, TcpLimits, TcpShared, TcpStats};
use super::udp::Batch;
use crate::clock::unix_now;
use crate::store::Store;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Addresses to serve on, UDP and TCP each.
    pub listen: Vec<SocketAddr>,
    /// UDP worker threads per listen address.
    pub udp_workers: usize,
    pub settings: DnsSettings,
    pub tcp: TcpLimits,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 5353))],
            udp_workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            settings: DnsSettings::default(),
            tcp: TcpLimits::default(),
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
pub struct Running {
    stop: Arc<AtomicBool>,
    tcp_stop: CancellationToken,
    udp_threads: Vec<JoinHandle<()>>,
    /// Per UDP worker: queries lost to an internal error.
    udp_failures: Vec<Arc<AtomicU64>>,
    tcp: Arc<TcpShared>,
    /// The addresses actually bound (port 0 resolved).
    pub addrs: Vec<SocketAddr>,
}

/// A running server's counters: each written by one worker, summed when read.
#[derive(Clone)]
pub struct ServerStats {
    udp_failures: Vec<Arc<AtomicU64>>,
    tcp: Arc<TcpShared>,
}

impl ServerStats {
    /// Queries that got no answer because answering them hit an internal error.
    pub fn internal_errors(&self) -> u64 {
        self.udp_failures
            .iter()
            .map(|f| f.load(Ordering::Relaxed))
            .sum::<u64>()
            + self.tcp.stats.failures.load(Ordering::Relaxed)
    }

    /// TCP connections open now.
    pub fn tcp_connections(&self) -> usize {
        self.tcp.open_connections()
    }

    /// The TCP side's counters.
    pub fn tcp(&self) -> &TcpStats {
        &self.tcp.stats
    }
}

/// How long a UDP worker waits for packets before checking for shutdown.
const POLL: Duration = Duration::from_millis(200);

impl Running {
    /// Binds every listen address and starts serving; TCP runs on `runtime`.
    pub fn start(
        config: &ServerConfig,
        store: Arc<Store>,
        runtime: &tokio::runtime::Handle,
    ) -> Result<Running, ServerError> {
        crate::panics::install_hook();
        let stop = Arc::new(AtomicBool::new(false));
        let tcp_stop = CancellationToken::new();
        let tcp = Arc::new(TcpShared::new(
            store.clone(),
            config.settings.clone(),
            config.tcp,
        ));
        let mut running = Running {
            stop: stop.clone(),
            tcp_stop: tcp_stop.clone(),
            udp_threads: Vec::new(),
            udp_failures: Vec::new(),
            tcp: tcp.clone(),
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
                let failures = Arc::new(AtomicU64::new(0));
                let worker = UdpWorker {
                    socket,
                    store: store.clone(),
                    answerer: BatchAnswerer::new(config.settings.clone()),
                    stop: stop.clone(),
                    failures: failures.clone(),
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
                running.udp_failures.push(failures);
            }
        }
        Ok(running)
    }

    /// The server's counters, to read while it runs.
    pub fn stats(&self) -> ServerStats {
        ServerStats {
            udp_failures: self.udp_failures.clone(),
            tcp: self.tcp.clone(),
        }
    }

    /// Stops accepting queries, lets TCP connections finish the query they are in, and
    /// waits for the UDP workers.
    pub fn shutdown(mut self) {
        self.stop_all();
    }

    fn stop_all(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.tcp_stop.cancel();
        self.tcp.close_idle();
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
    answerer: BatchAnswerer,
    stop: Arc<AtomicBool>,
    /// Published copy of the answerer's failure count.
    failures: Arc<AtomicU64>,
}

impl UdpWorker {
    fn run(mut self) {
        let mut batch = Batch::default();
        while !self.stop.load(Ordering::Relaxed) {
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
            let snapshot = self.store.load();
            self.answerer
                .answer(&snapshot, &batch.datagrams(), unix_now());
            batch.send(&self.socket, self.answerer.replies(), self.answerer.ready());
            // Once per batch, and only this worker writes it: no shared atomic per query.
            self.failures
                .store(self.answerer.failures(), Ordering::Relaxed);
        }
    }
}
