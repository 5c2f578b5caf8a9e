//! `ward rbldnsd`: rbldnsd's command line, served by ward as rbldnsd would serve it —
//! the zones and files named on it, where they are (no zones directory). The options
//! are read in `config::rbldnsd` and made into settings in `app::settings`; here is
//! what happens around serving: `-b` names resolved (before a chroot), `-r` and `-w`,
//! the user to become, the query log (`-l`) and the statistics file (`-s`).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, LineWriter, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use super::privileges::{self, PrivilegeError};
use super::serve::ServeError;
use super::settings::{rbldnsd_settings, rbldnsd_zones};
use crate::config::ConfigError;
use crate::config::args::RbldnsdArgs;
use crate::config::rbldnsd::{
    Family, HelpExit, OutputFile, RbldnsdArgError, RbldnsdOptions, USAGE,
};
use crate::dns::server::{ServerStats, ZoneTotals};
use crate::time::unix_now;
use crate::zone::name::Name;
use crate::zone::slot::zone_slot;

/// rbldnsd's own user: taken when started as root without `-u`, if it exists.
const RBLDNSD_USER: &str = "rbldns";

#[derive(Debug, thiserror::Error)]
pub enum RbldnsdError {
    #[error(transparent)]
    Args(#[from] RbldnsdArgError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("missing host part in bind address `{0}' (write 0.0.0.0{0} or ::{0})")]
    MissingHost(String),
    #[error(
        "bind address `{0}': Unix sockets (the rspamd fork's -b /path) are not supported; ward serves UDP and TCP on IP addresses"
    )]
    UnixSocket(String),
    #[error("bind address `{address}': {problem}")]
    Bind { address: String, problem: String },
    #[error("cannot chroot to {dir}: {source}")]
    Chroot { dir: PathBuf, source: io::Error },
    #[error("cannot change to the directory {dir}: {source}")]
    Workdir { dir: PathBuf, source: io::Error },
    #[error("cannot open {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Privileges(#[from] PrivilegeError),
    #[error(transparent)]
    Serve(#[from] ServeError),
}

/// `ward rbldnsd …`: serves until SIGTERM or SIGINT (exit 0), as rbldnsd does.
pub fn rbldnsd(args: &RbldnsdArgs) -> Result<ExitCode, RbldnsdError> {
    let options = RbldnsdOptions::parse(&args.args)?;
    if let Some(exit) = options.help {
        print!("{USAGE}");
        let _ = io::stdout().flush();
        return Ok(match exit {
            HelpExit::Asked => ExitCode::SUCCESS,
            HelpExit::NoArguments => ExitCode::FAILURE,
        });
    }
    let zones = rbldnsd_zones(&options)?;
    // Names are resolved, and the user looked up, before a chroot hides /etc.
    let listen = listen_addresses(&options.bind, options.family)?;
    let mut user = options.user.clone();
    let mut default_user = false;
    if user.is_none() && privileges::running_as_root() && privileges::user_exists(RBLDNSD_USER) {
        user = Some(RBLDNSD_USER.to_string());
        default_user = true;
    }
    if let Some(root) = &options.root {
        if let Some(spec) = &user {
            let (uid, gid) = privileges::resolve(spec)?;
            user = Some(format!("{uid}:{gid}"));
        }
        std::os::unix::fs::chroot(root).map_err(|source| RbldnsdError::Chroot {
            dir: root.clone(),
            source,
        })?;
        change_dir(Path::new("/"))?;
    }
    if let Some(dir) = &options.workdir {
        change_dir(dir)?;
    }
    let query_log = options.query_log.as_ref().map(open_query_log).transpose()?;
    init_logging(query_log.clone());
    if default_user {
        tracing::info!(
            "started as root without -u: running as {RBLDNSD_USER} once bound, as rbldnsd does"
        );
    }
    if !options.foreground {
        tracing::info!("ward stays in the foreground (as with -n); a service manager runs it");
    }
    if options.fork_on_reload {
        tracing::info!("-f: ward answers during every reload, without forking");
    }
    let names: Vec<Name> = options
        .zones
        .iter()
        .filter(|spec| !spec.zone.is_empty())
        .filter_map(|spec| Name::parse(&spec.zone).ok())
        .fold(Vec::new(), |mut names, name| {
            if !names.contains(&name) {
                names.push(name);
            }
            names
        });
    let stats = options
        .stats
        .clone()
        .map(|file| StatsWriter::new(file, &names, options.check.unwrap_or(60)));
    let settings = rbldnsd_settings(&options, zones, listen, user);
    let (stop_stats, stats_stopped) = std::sync::mpsc::channel::<()>();
    let mut stats_thread = None;
    let served = crate::app::serve::serve_with(settings, termination(), |ready| {
        if let Some(writer) = stats {
            let server = ready.stats.clone();
            stats_thread = Some(std::thread::spawn(move || {
                writer.run(&server, &stats_stopped);
            }));
        }
    });
    drop(stop_stats);
    if let Some(thread) = stats_thread {
        let _ = thread.join();
    }
    if let Some(log) = &query_log {
        log.flush();
    }
    served?;
    Ok(ExitCode::SUCCESS)
}

/// SIGTERM or SIGINT, as for `ward serve`. rbldnsd's SIGUSR1 (log the statistics) and
/// SIGUSR2 (log and reset them) would end a process that does not take them: they are
/// taken, said to be unsupported, and ignored.
async fn termination() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut usr1), Ok(mut usr2)) = (
        signal(SignalKind::user_defined1()),
        signal(SignalKind::user_defined2()),
    ) else {
        return super::lifecycle::termination().await;
    };
    let mut stop = std::pin::pin!(super::lifecycle::termination());
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = usr1.recv() => tracing::info!("SIGUSR1 (rbldnsd: log the statistics): ward writes them to -s's file; ignored"),
            _ = usr2.recv() => tracing::info!("SIGUSR2 (rbldnsd: log and reset the statistics): ward writes them to -s's file; ignored"),
        }
    }
}

fn change_dir(dir: &Path) -> Result<(), RbldnsdError> {
    std::env::set_current_dir(dir).map_err(|source| RbldnsdError::Workdir {
        dir: dir.to_path_buf(),
        source,
    })
}

/// The addresses `-b` names: `address[/port]`, the address a literal or a host name
/// (every address it resolves to, duplicates once), the port a number or a service
/// name (53 when absent). `localhost` is 127.0.0.1 and ::1 whatever /etc/hosts says
/// (RFC 6761 §6.3: the name stands for the loopback addresses).
pub(crate) fn listen_addresses(
    binds: &[String],
    family: Option<Family>,
) -> Result<Vec<SocketAddr>, RbldnsdError> {
    let mut out: Vec<SocketAddr> = Vec::new();
    for bind in binds {
        if bind.starts_with('/') || bind.starts_with('.') {
            let port_only = bind[1..].bytes().all(|c| c.is_ascii_digit()) && bind.len() > 1;
            return Err(if bind.starts_with('/') && port_only {
                RbldnsdError::MissingHost(bind.clone())
            } else {
                RbldnsdError::UnixSocket(bind.clone())
            });
        }
        let (host, service) = bind.split_once('/').unwrap_or((bind, ""));
        let problem = |problem: String| RbldnsdError::Bind {
            address: bind.clone(),
            problem,
        };
        let port = port_of(service).ok_or_else(|| {
            problem(format!(
                "`{service}` is neither a port number nor a UDP service in /etc/services"
            ))
        })?;
        let found: Vec<SocketAddr> = if host.trim_end_matches('.').eq_ignore_ascii_case("localhost")
        {
            vec![
                SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
                SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port),
            ]
        } else if let Ok(ip) = host.parse::<IpAddr>() {
            vec![SocketAddr::new(ip, port)]
        } else {
            (host, port)
                .to_socket_addrs()
                .map_err(|error| problem(error.to_string()))?
                .collect()
        };
        let wanted: Vec<SocketAddr> = found
            .into_iter()
            .filter(|addr| match family {
                Some(Family::V4) => addr.is_ipv4(),
                Some(Family::V6) => addr.is_ipv6(),
                None => true,
            })
            .collect();
        if wanted.is_empty() {
            return Err(problem("no available protocols".to_string()));
        }
        // An address given twice is bound once.
        for addr in wanted {
            if !out.contains(&addr) {
                out.push(addr);
            }
        }
    }
    Ok(out)
}

/// A port: a number, a UDP service name from /etc/services, or 53 (`domain`) when
/// none is given.
fn port_of(service: &str) -> Option<u16> {
    if service.is_empty() {
        return Some(53);
    }
    if let Ok(port) = service.parse::<u16>() {
        return Some(port);
    }
    let services = std::fs::read_to_string("/etc/services").ok()?;
    services.lines().find_map(|line| {
        let line = line.split('#').next().unwrap_or_default();
        let mut words = line.split_whitespace();
        let name = words.next()?;
        let (port, protocol) = words.next()?.split_once('/')?;
        let aliases: Vec<&str> = words.collect();
        ((name == service || aliases.contains(&service)) && protocol == "udp")
            .then(|| port.parse().ok())
            .flatten()
    })
}

/// The query log (`-l`): one line per query in rbldnsd's form, `time client qname
/// TYPE CLASS: RCODE/answers/bytes`. The label that may name an access key is shown
/// as `[key]`, never the key (rbldnsd appends the key; ward keeps keys secret).
#[derive(Clone)]
struct QueryLog {
    out: Arc<Mutex<Box<dyn Write + Send>>>,
}

impl QueryLog {
    fn flush(&self) {
        if let Ok(mut out) = self.out.lock() {
            let _ = out.flush();
        }
    }
}

fn open_query_log(file: &OutputFile) -> Result<QueryLog, RbldnsdError> {
    let out: Box<dyn Write + Send> = if file.path == Path::new("-") {
        if file.plus {
            Box::new(LineWriter::new(io::stdout()))
        } else {
            Box::new(BufWriter::new(io::stdout()))
        }
    } else {
        let opened = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&file.path)
            .map_err(|source| RbldnsdError::Open {
                path: file.path.clone(),
                source,
            })?;
        if file.plus {
            Box::new(LineWriter::new(opened))
        } else {
            Box::new(BufWriter::new(opened))
        }
    };
    Ok(QueryLog {
        out: Arc::new(Mutex::new(out)),
    })
}

/// The fields of one `ward::query` event.
#[derive(Default)]
struct QueryFields {
    client: String,
    qname: String,
    qtype: u64,
    qclass: u64,
    rcode: u64,
    answers: u64,
    bytes: u64,
}

impl Visit for QueryFields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "qtype" => self.qtype = value,
            "qclass" => self.qclass = value,
            "rcode" => self.rcode = value,
            "answers" => self.answers = value,
            "bytes" => self.bytes = value,
            _ => {}
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.record_u64(field, u64::try_from(value).unwrap_or_default());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "qname" => self.qname = value.trim_end_matches('.').to_string(),
            "client" => self.client = value.to_string(),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "client" {
            self.client = format!("{value:?}");
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for QueryLog {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() != "ward::query" {
            return;
        }
        let mut fields = QueryFields::default();
        event.record(&mut fields);
        let line = format!(
            "{} {} {} {} {}: {}/{}/{}\n",
            unix_now(),
            fields.client,
            fields.qname,
            type_name(fields.qtype),
            class_name(fields.qclass),
            rcode_name(fields.rcode),
            fields.answers,
            fields.bytes
        );
        if let Ok(mut out) = self.out.lock() {
            let _ = out.write_all(line.as_bytes());
        }
    }
}

fn type_name(qtype: u64) -> String {
    match qtype {
        1 => "A".into(),
        2 => "NS".into(),
        5 => "CNAME".into(),
        6 => "SOA".into(),
        12 => "PTR".into(),
        15 => "MX".into(),
        16 => "TXT".into(),
        28 => "AAAA".into(),
        33 => "SRV".into(),
        251 => "IXFR".into(),
        252 => "AXFR".into(),
        255 => "ANY".into(),
        other => format!("TYPE{other}"),
    }
}

fn class_name(qclass: u64) -> String {
    match qclass {
        1 => "IN".into(),
        3 => "CH".into(),
        255 => "ANY".into(),
        other => format!("CLASS{other}"),
    }
}

fn rcode_name(rcode: u64) -> String {
    match rcode {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        16 => "BADVERS".into(),
        other => format!("RCODE{other}"),
    }
}

/// Logs to standard error, as `ward serve` does; the query log, when `-l` asks for
/// one, gets the `ward::query` events instead.
fn init_logging(query_log: Option<QueryLog>) {
    let filter = || {
        EnvFilter::try_from_default_env().unwrap_or_else(|_| {
            EnvFilter::new(format!("info,{},notify=warn", crate::dns::QUIET_LIBRARIES))
        })
    };
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(io::stderr)
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
        .with_filter(filter().add_directive("ward::query=off".parse().unwrap_or_default()));
    let queries = query_log.map(|log| {
        log.with_filter(
            tracing_subscriber::filter::Targets::new()
                .with_target("ward::query", tracing::Level::INFO),
        )
    });
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(queries)
        .try_init();
}

/// The statistics file (`-s`): every check period, a line `time zone:queries:ok:
/// nxdomain:bytes-in:bytes-out … *:…` for every zone of the command line and all of
/// them (`*`), counted since the start, or since the previous line with `+`.
struct StatsWriter {
    file: OutputFile,
    zones: Vec<(String, usize)>,
    period: Duration,
    previous: BTreeMap<usize, ZoneTotals>,
}

impl StatsWriter {
    fn new(file: OutputFile, zones: &[Name], check: u32) -> Self {
        StatsWriter {
            file,
            zones: zones
                .iter()
                .map(|name| (name.to_string(), usize::from(zone_slot(name))))
                .collect(),
            period: Duration::from_secs(u64::from(check.max(1))),
            previous: BTreeMap::new(),
        }
    }

    /// Writes a line every period until `stopped` is dropped, and a last one then.
    fn run(mut self, server: &ServerStats, stopped: &std::sync::mpsc::Receiver<()>) {
        loop {
            let stop = !matches!(
                stopped.recv_timeout(self.period),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout)
            );
            self.write(server);
            if stop {
                return;
            }
        }
    }

    fn write(&mut self, server: &ServerStats) {
        let now = server.zone_totals();
        let since = |slot: usize| {
            let current = now.get(&slot).copied().unwrap_or_default();
            let before = if self.file.plus {
                self.previous.get(&slot).copied().unwrap_or_default()
            } else {
                ZoneTotals::default()
            };
            ZoneTotals {
                ok: current.ok - before.ok.min(current.ok),
                nxdomain: current.nxdomain - before.nxdomain.min(current.nxdomain),
                other: current.other - before.other.min(current.other),
                bytes_in: current.bytes_in - before.bytes_in.min(current.bytes_in),
                bytes_out: current.bytes_out - before.bytes_out.min(current.bytes_out),
            }
        };
        let field = |t: ZoneTotals| {
            format!(
                ":{}:{}:{}:{}:{}",
                t.ok + t.nxdomain + t.other,
                t.ok,
                t.nxdomain,
                t.bytes_in,
                t.bytes_out
            )
        };
        let mut line = unix_now().to_string();
        for (name, slot) in &self.zones {
            line.push_str(&format!(" {name}{}", field(since(*slot))));
        }
        let mut all = ZoneTotals::default();
        for &slot in now.keys() {
            let t = since(slot);
            all.ok += t.ok;
            all.nxdomain += t.nxdomain;
            all.other += t.other;
            all.bytes_in += t.bytes_in;
            all.bytes_out += t.bytes_out;
        }
        line.push_str(&format!(" *{}\n", field(all)));
        if self.file.plus {
            self.previous = now;
        }
        let written = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.file.path)
            .and_then(|mut file: File| file.write_all(line.as_bytes()));
        if let Err(error) = written {
            tracing::warn!(path = %self.file.path.display(), %error, "cannot write the statistics line");
        }
    }
}
