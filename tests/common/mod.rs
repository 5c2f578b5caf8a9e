//! Test harness: a real ward on 127.0.0.1 port 0, started in-process from a zones
//! directory, and a small DNS client (hickory-proto messages over real sockets).

#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hickory_server::proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_server::proto::rr::{DNSClass, Name, RData, Record, RecordType};

use ward::ServeSettings;
use ward::dns::fallback::DnsSettings;
use ward::dns::server::{ServerConfig, ServerStats};
use ward::dns::tcp::TcpLimits;
use ward::load::{LoadOptions, Loader};
use ward::reload::{ReloadSettings, ReloadStats};
use ward::store::Store;

pub struct TestServer {
    pub addr: SocketAddr,
    /// The web listeners, when the settings ask for them.
    pub http: Option<SocketAddr>,
    pub admin: Option<SocketAddr>,
    pub store: Arc<Store>,
    pub dir: Option<tempfile::TempDir>,
    pub zones: PathBuf,
    stats: ServerStats,
    reloads: Arc<ReloadStats>,
    /// The metrics listener, when the settings turned it on.
    pub metrics: Option<SocketAddr>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// Writes `files` (path relative to the zones directory, contents) and serves them.
    pub fn with_files(files: &[(&str, &str)]) -> TestServer {
        Self::with_files_and(files, LoadOptions::default())
    }

    pub fn with_files_and(files: &[(&str, &str)], options: LoadOptions) -> TestServer {
        let (dir, zones) = write_zones(files);
        let mut server = Self::serve(&zones, options);
        server.dir = Some(dir);
        server
    }

    /// Serves an existing zones directory (strict: errors fail the test). Reloads
    /// only when asked ([`TestServer::reload`]).
    pub fn serve(zones: &Path, options: LoadOptions) -> TestServer {
        let reload = ReloadSettings {
            poll_interval: None,
            watch: false,
            ..ReloadSettings::default()
        };
        Self::start(settings(zones, options, reload))
    }

    /// Serves `files` and reloads them as `ward serve` does (SIGHUP aside).
    pub fn reloading(files: &[(&str, &str)], reload: ReloadSettings) -> TestServer {
        let (dir, zones) = write_zones(files);
        let mut server = Self::start(settings(&zones, LoadOptions::default(), reload));
        server.dir = Some(dir);
        server
    }

    /// Runs `ward::serve_with` on a thread of its own, as the binary does on its main
    /// thread, and waits until it serves.
    pub fn start(settings: ServeSettings) -> TestServer {
        let zones = settings.zones.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let shutdown = async move {
                let _ = stopped.await;
            };
            let result = ward::serve_with(settings, shutdown, |ready| {
                let _ = ready_tx.send(Ok(ready));
            });
            if let Err(error) = result {
                let _ = ready_tx.send(Err(error.to_string()));
            }
        });
        let ready = match ready_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Ok(ready)) => ready,
            Ok(Err(error)) => panic!("ward did not start: {error}"),
            Err(_) => panic!("ward did not start within a minute"),
        };
        TestServer {
            addr: ready.addrs[0],
            http: ready.http,
            admin: ready.admin,
            store: ready.store,
            dir: None,
            zones,
            stats: ready.stats,
            reloads: ready.reloads,
            metrics: ready.metrics,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn shipped() -> TestServer {
        let zones = Path::new(env!("CARGO_MANIFEST_DIR")).join("zones");
        Self::serve(&zones, LoadOptions::default())
    }

    pub fn udp(&self, name: &str, rtype: RecordType) -> Message {
        let request = query_message(name, rtype, true);
        self.exchange_udp(&request).expect("UDP reply")
    }

    pub fn tcp(&self, name: &str, rtype: RecordType) -> Message {
        let request = query_message(name, rtype, true);
        self.exchange_tcp(&request).expect("TCP reply")
    }

    pub fn exchange_udp(&self, request: &Message) -> Option<Message> {
        let bytes = self.raw_udp(&request.to_vec().unwrap())?;
        Some(Message::from_vec(&bytes).expect("reply parses"))
    }

    pub fn exchange_tcp(&self, request: &Message) -> Option<Message> {
        let bytes = self.raw_tcp(&request.to_vec().unwrap())?;
        Some(Message::from_vec(&bytes).expect("reply parses"))
    }

    /// Sends raw bytes over UDP; the reply, or `None` after a second of silence.
    pub fn raw_udp(&self, packet: &[u8]) -> Option<Vec<u8>> {
        raw_udp(self.addr, packet, Duration::from_secs(1))
    }

    /// Sends one length-prefixed message over a fresh TCP connection.
    pub fn raw_tcp(&self, packet: &[u8]) -> Option<Vec<u8>> {
        tcp_exchange(TcpStream::connect(self.addr).ok()?, packet)
    }

    /// Queries that got no answer because of an internal error (a panic).
    pub fn internal_errors(&self) -> u64 {
        self.stats.internal_errors()
    }

    /// Reload counters, per zone.
    pub fn reload_stats(&self) -> Arc<ReloadStats> {
        self.reloads.clone()
    }

    /// The running server's counters.
    pub fn stats(&self) -> &ServerStats {
        &self.stats
    }

    /// Reloads the zones directory into the running server, as a reload would.
    pub fn reload(&self, options: LoadOptions) {
        let loader = Loader {
            dir: self.zones.clone(),
            options,
            lenient: false,
        };
        let mut load = loader.load_all().expect("zones load");
        self.store.swap(load.take_snapshot());
    }
}

/// A temp dir with a `zones` directory holding `files` (path, contents).
fn write_zones(files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let zones = dir.path().join("zones");
    std::fs::create_dir_all(&zones).unwrap();
    for (path, contents) in files {
        let path = zones.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
    (dir, zones)
}

/// What the tests serve with: loopback port 0, two UDP workers, short TCP idle time.
pub fn settings(zones: &Path, options: LoadOptions, reload: ReloadSettings) -> ServeSettings {
    ServeSettings {
        metrics: None,
        user: None,
        zones: zones.to_path_buf(),
        load: options,
        lenient: false,
        server: ServerConfig {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 0))],
            udp_workers: 2,
            settings: DnsSettings::default(),
            tcp: TcpLimits {
                max_connections: None,
                idle_timeout: Duration::from_secs(5),
            },
            ..ServerConfig::default()
        },
        reload,
        sighup: false,
        transfer: Default::default(),
        serials: None,
        web: None,
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub fn read_tcp_message(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).ok()?;
    let mut reply = vec![0; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut reply).ok()?;
    Some(reply)
}

pub fn raw_udp(addr: SocketAddr, packet: &[u8], wait: Duration) -> Option<Vec<u8>> {
    raw_udp_from("127.0.0.1", addr, packet, wait)
}

/// A query as a stub resolver sends it: RD off (we ask an authority), EDNS optional.
pub fn query_message(name: &str, rtype: RecordType, edns: bool) -> Message {
    query_for(Name::from_ascii(name).unwrap(), rtype, edns)
}

/// A query for a name with any bytes in its labels (`+`, `.` inside a label).
pub fn query_for(name: Name, rtype: RecordType, edns: bool) -> Message {
    let mut message = Message::new(rand_id(), MessageType::Query, OpCode::Query);
    message.add_query(Query::query(name, rtype));
    if edns {
        let mut e = Edns::new();
        e.set_max_payload(1232);
        message.set_edns(e);
    }
    message
}

pub fn query_class(name: &str, rtype: RecordType, class: DNSClass) -> Message {
    let mut message = query_message(name, rtype, false);
    let mut query = Query::query(Name::from_ascii(name).unwrap(), rtype);
    query.set_query_class(class);
    message.queries = vec![query];
    message
}

fn rand_id() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0x2a00);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

pub fn rcode(message: &Message) -> ResponseCode {
    message.metadata.response_code
}

/// The A records of the answer, as dotted strings, sorted.
pub fn a_records(message: &Message) -> Vec<String> {
    let mut out: Vec<String> = message
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0.to_string()),
            _ => None,
        })
        .collect();
    out.sort();
    out
}

/// The TXT records of the answer, each as its joined strings, sorted.
pub fn txt_records(message: &Message) -> Vec<String> {
    let mut out: Vec<String> = message
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::TXT(txt) => Some(
                txt.txt_data
                    .iter()
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect::<Vec<_>>()
                    .join(""),
            ),
            _ => None,
        })
        .collect();
    out.sort();
    out
}

pub fn authority_soa(message: &Message) -> Option<&Record> {
    message
        .authorities
        .iter()
        .find(|r| r.record_type() == RecordType::SOA)
}

/// The reverse-octet query name of an IPv4 address under `zone`.
pub fn ip4_name(ip: &str, zone: &str) -> String {
    let ip: std::net::Ipv4Addr = ip.parse().unwrap();
    let o = ip.octets();
    format!("{}.{}.{}.{}.{zone}.", o[3], o[2], o[1], o[0])
}

/// The 32-nibble query name of an IPv6 address under `zone`.
pub fn ip6_name(ip: &str, zone: &str) -> String {
    let ip: std::net::Ipv6Addr = ip.parse().unwrap();
    let value = u128::from(ip);
    let nibbles: Vec<String> = (0..32)
        .map(|i| format!("{:x}", (value >> (4 * i)) & 0xf))
        .collect();
    format!("{}.{zone}.", nibbles.join("."))
}

/// Polls `check` until it holds, for at most `limit`: liveness, not speed.
#[track_caller]
pub fn eventually(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("{what}: not seen within {limit:?}");
}

/// Like [`raw_udp`], sent from another loopback address (all of 127.0.0.0/8 is local).
pub fn raw_udp_from(
    source: &str,
    addr: SocketAddr,
    packet: &[u8],
    wait: Duration,
) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind(format!("{source}:0")).unwrap();
    socket.set_read_timeout(Some(wait)).unwrap();
    socket.send_to(packet, addr).unwrap();
    let mut buf = vec![0; 65535];
    let (len, _) = socket.recv_from(&mut buf).ok()?;
    buf.truncate(len);
    Some(buf)
}

/// One TCP exchange from another loopback address.
pub fn raw_tcp_from(source: &str, addr: SocketAddr, packet: &[u8]) -> Option<Vec<u8>> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).ok()?;
    let local: SocketAddr = format!("{source}:0").parse().ok()?;
    socket.bind(&local.into()).ok()?;
    socket
        .connect_timeout(&addr.into(), Duration::from_secs(2))
        .ok()?;
    tcp_exchange(socket.into(), packet)
}

/// Sends one length-prefixed DNS message and reads the reply.
fn tcp_exchange(mut stream: TcpStream, packet: &[u8]) -> Option<Vec<u8>> {
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(packet);
    stream.write_all(&framed).ok()?;
    read_tcp_message(&mut stream)
}

/// A `ward` process (the binary cargo built), its stderr collected line by line.
pub struct WardProcess {
    pub child: std::process::Child,
    lines: Arc<std::sync::Mutex<Vec<String>>>,
}

impl WardProcess {
    /// Runs `ward <args>` in `dir` through `sh -c`, after `shell_prefix` (e.g.
    /// `ulimit -n 256;`).
    pub fn spawn(dir: &Path, shell_prefix: &str, args: &[&str]) -> WardProcess {
        Self::spawn_wrapped(dir, shell_prefix, "", args)
    }

    /// Like [`spawn`](Self::spawn), with ward started by `wrapper` (e.g. a `setpriv …`
    /// to run it as another user).
    pub fn spawn_wrapped(
        dir: &Path,
        shell_prefix: &str,
        wrapper: &str,
        args: &[&str],
    ) -> WardProcess {
        use std::io::{BufRead, BufReader};
        use std::process::{Command, Stdio};
        let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
        let script = format!(
            "{shell_prefix} exec {wrapper} '{}' {}",
            env!("CARGO_BIN_EXE_ward"),
            quoted.join(" ")
        );
        let mut child = Command::new("sh")
            .args(["-c", &script])
            .current_dir(dir)
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .expect("ward runs");
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        WardProcess { child, lines }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Waits until a log line contains `text`; that line.
    #[track_caller]
    pub fn wait_for(&self, text: &str, limit: Duration) -> String {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Some(line) = self.lines.lock().unwrap().iter().find(|l| l.contains(text)) {
                return line.clone();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("ward never logged {text:?}; it logged:\n{}", self.log());
    }

    /// The address it serves on (from its log).
    #[track_caller]
    pub fn addr(&self) -> SocketAddr {
        let line = self.wait_for("serving on UDP and TCP", Duration::from_secs(60));
        let at = line.find("addr=").expect("the address is logged");
        line[at + 5..].trim().parse().expect("an address")
    }

    /// Sends `signal` (a name such as `HUP`).
    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Its exit status, waiting at most `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// A value from `/proc/<pid>/status`, in kB (`VmRSS`, `VmHWM`, …).
    pub fn status_kb(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// Open descriptors.
    pub fn open_descriptors(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// User plus system CPU time so far, in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = after_name.split(' ').collect();
        // Fields 14 and 15 of stat(5), counted from the state (field 3).
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }
}

impl Drop for WardProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.1 GET on loopback: the status code and the body.
pub fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())?;
    Some((status, body))
}

/// The value of one sample in Prometheus text: the line `name{labels} value`, labels
/// given in the exporter's order.
pub fn sample(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse::<f64>().ok())?
        })
        .map_or(0, |v| v as u64)
}
