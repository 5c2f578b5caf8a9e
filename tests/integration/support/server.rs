//! A real ward on 127.0.0.1 port 0, started in-process the way `ward serve` starts:
//! its settings come from a command line and a `ward.toml`, read by the same library
//! function the binary uses, so no test works out a default of its own.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hickory_server::proto::op::Message;
use hickory_server::proto::rr::RecordType;
use ward::ReloadStats;
use ward::ServeSettings;
use ward::ServerStats;
use ward::Store;
use ward::settings::serve_settings_from;
use ward::{LoadOptions, Loader};

use super::client::{query_message, raw_udp, tcp_exchange};
use super::files::write_zones;

/// What every test server is started with, unless the test's own flags name the
/// option: loopback port 0, two UDP workers, a short TCP idle time, and no reloading
/// (tests reload by hand, [`TestServer::reload`]).
const DEFAULTS: &[(&str, Option<&str>)] = &[
    ("--listen", Some("127.0.0.1:0")),
    ("--threads", Some("2")),
    ("--tcp-idle-timeout", Some("5")),
    ("--no-watch", None),
    ("--poll-interval", Some("0")),
];

/// The defaults of a server that reloads as `ward serve` does: file events, a short
/// quiet time, polling every second.
const RELOADING: &[(&str, Option<&str>)] = &[
    ("--listen", Some("127.0.0.1:0")),
    ("--threads", Some("2")),
    ("--tcp-idle-timeout", Some("5")),
    ("--debounce", Some("100")),
    ("--poll-interval", Some("1")),
];

/// `ward serve`'s settings for serving `zones`: `flags` as on the command line (after
/// `serve`), `toml` as the text of `ward.toml`, and [`DEFAULTS`] for what they leave out.
pub fn serve_settings(zones: &Path, flags: &[&str], toml: &str) -> ServeSettings {
    settings_with(DEFAULTS, zones, flags, toml)
}

/// Like [`serve_settings`], reloading as `ward serve` does ([`RELOADING`]).
pub fn reloading_settings(zones: &Path, flags: &[&str], toml: &str) -> ServeSettings {
    settings_with(RELOADING, zones, flags, toml)
}

fn settings_with(
    defaults: &[(&str, Option<&str>)],
    zones: &Path,
    flags: &[&str],
    toml: &str,
) -> ServeSettings {
    let zones = zones.to_str().expect("a UTF-8 path");
    let mut args = vec!["serve", "--zones", zones];
    args.extend_from_slice(flags);
    for (flag, value) in defaults {
        if !flags.contains(flag) {
            args.push(flag);
            args.extend(value);
        }
    }
    let mut settings = serve_settings_from(&args, toml)
        .unwrap_or_else(|error| panic!("ward serve {}: {error}", args.join(" ")));
    // Tests share one process: a SIGHUP is not theirs to take.
    settings.sighup = false;
    settings
}

pub struct TestServer {
    pub addr: SocketAddr,
    /// The web listeners, when the settings ask for them.
    pub http: Option<SocketAddr>,
    pub admin: Option<SocketAddr>,
    pub store: Arc<Store>,
    pub dir: Option<tempfile::TempDir>,
    pub zones: PathBuf,
    load: LoadOptions,
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
        Self::with_files_and(files, &[], "")
    }

    /// Like [`TestServer::with_files`], with `ward serve` flags and a `ward.toml`.
    pub fn with_files_and(files: &[(&str, &str)], flags: &[&str], toml: &str) -> TestServer {
        let (dir, zones) = write_zones(files);
        let mut server = Self::start(serve_settings(&zones, flags, toml));
        server.dir = Some(dir);
        server
    }

    /// Serves an existing zones directory (strict: errors fail the test). Reloads
    /// only when asked ([`TestServer::reload`]).
    pub fn serve(zones: &Path, flags: &[&str], toml: &str) -> TestServer {
        Self::start(serve_settings(zones, flags, toml))
    }

    /// Serves `files` and reloads them as `ward serve` does (SIGHUP aside); `flags`
    /// change how.
    pub fn reloading(files: &[(&str, &str)], flags: &[&str]) -> TestServer {
        let (dir, zones) = write_zones(files);
        let mut server = Self::start(reloading_settings(&zones, flags, ""));
        server.dir = Some(dir);
        server
    }

    /// Runs `ward::serve_with` on a thread of its own, as the binary does on its main
    /// thread, and waits until it serves.
    pub fn start(settings: ServeSettings) -> TestServer {
        let zones = settings.zones.clone();
        let load = settings.load.clone();
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
            load,
            stats: ready.stats,
            reloads: ready.reloads,
            metrics: ready.metrics,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The zones shipped in the repository, as `cargo run --release` serves them.
    pub fn shipped() -> TestServer {
        let zones = Path::new(env!("CARGO_MANIFEST_DIR")).join("zones");
        Self::serve(&zones, &[], "")
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
        tcp_exchange(std::net::TcpStream::connect(self.addr).ok()?, packet)
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

    /// Reads the zones directory again and swaps it in, as a reload would.
    pub fn reload(&self) {
        let loader = Loader {
            dir: self.zones.clone(),
            options: self.load.clone(),
            lenient: false,
        };
        let mut load = loader.load_all().expect("zones load");
        self.store.swap(load.take_snapshot());
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
