//! Command-line arguments. Flags override `ward.toml`, which overrides defaults.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use ipnet::IpNet;

use crate::listings::requests::StateFilter;

#[derive(Debug, Parser)]
#[command(
    name = "ward",
    version,
    about = "Authoritative DNS server for mail reputation lists (DNSBL/RHSBL), rbldnsd compatible"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the zones directory (the default command).
    Serve(ServeArgs),
    /// Validate the zones directory: every error as file:line:column, exit 1 on errors.
    Check(CheckArgs),
    /// Show which zone, entry and file:line lists an IP, domain or address, and what
    /// a client receives.
    Lookup(LookupArgs),
    /// Ask a running ward a question; exit 0 when it answers (a health check).
    Probe(ProbeArgs),
    /// Write a zone as a BIND zone file (the records a secondary serves) or as rbldnsd
    /// data.
    Export(ExportArgs),
    /// Add a listing to zones/<zone>/api.zone, as the admin API does (offline, same lock).
    Add(AddArgs),
    /// Remove a listing from zones/<zone>/api.zone, as the admin API does.
    Remove(RemoveArgs),
    /// List, accept or reject removal requests (the state directory's database).
    Requests(RequestsArgs),
    /// Write the man pages (ward.8, ward-serve.8, …) into a directory, for packaging.
    #[command(hide = true)]
    Manpages(ManpagesArgs),
    /// A Postfix policy service (check_policy_service) that refuses senders and
    /// recipients listed in ward's address lists, with the listing's reason.
    Policy(PolicyArgs),
    /// Serve rbldnsd's command line as rbldnsd would: its options and
    /// zone:type:file specs, the files where they are (`ward rbldnsd -h` lists the
    /// options).
    #[command(disable_help_flag = true)]
    Rbldnsd(RbldnsdArgs),
}

/// rbldnsd's arguments, read by [`super::rbldnsd::RbldnsdOptions::parse`].
#[derive(Debug, Clone, Args)]
pub struct RbldnsdArgs {
    /// rbldnsd's options and zone specs.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    pub args: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ManpagesArgs {
    /// The directory to write them into (it must exist).
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct PolicyArgs {
    /// Where Postfix connects: `check_policy_service inet:ADDR:PORT`.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:10040")]
    pub listen: SocketAddr,
    /// The DNS server to ask (ward itself, or the resolver the mail server uses)
    /// [default: the system's resolver].
    #[arg(long, value_name = "ADDR:PORT")]
    pub server: Option<SocketAddr>,
    /// A zone listing email addresses to check the envelope sender against; repeat for
    /// more.
    #[arg(long = "sender-zone", value_name = "ZONE")]
    pub sender_zones: Vec<String>,
    /// A zone listing email addresses to check each recipient against; repeat for more.
    #[arg(long = "recipient-zone", value_name = "ZONE")]
    pub recipient_zones: Vec<String>,
    /// Seconds to wait for DNS; past it the mail passes.
    #[arg(long, value_name = "SECONDS", default_value_t = 2)]
    pub timeout: u64,
}

#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// The zone to export.
    #[arg(long, value_name = "ZONE")]
    pub zone: String,
    /// `bind` (a zone file) or `rbldnsd` (a combined dataset).
    #[arg(long, value_name = "FORMAT", default_value = "bind")]
    pub format: ExportFormat,
    /// Write here instead of to standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub zones: ZoneArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Bind,
    Rbldnsd,
}

#[derive(Debug, Clone, Args, Default)]
pub struct ZoneArgs {
    /// Zones directory [default: zones, or `zones` in ward.toml].
    #[arg(long, value_name = "DIR")]
    pub zones: Option<PathBuf>,
    /// Configuration file [default: ward.toml beside the zones directory, if any].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Load zones with bad lines, skipping those lines (rbldnsd's behaviour).
    #[arg(long)]
    pub lenient: bool,
    /// TTL for data that sets none [default: 2100, rbldnsd's].
    #[arg(long, value_name = "SECONDS")]
    pub default_ttl: Option<u32>,
    /// Do not add the RFC 5782 test points (127.0.0.2, `test`).
    #[arg(long)]
    pub no_test_points: bool,
    /// Accept CIDRs with host bits set, masking them (rbldnsd -e).
    #[arg(long)]
    pub accept_host_bits: bool,
}

#[derive(Debug, Clone, Args, Default)]
pub struct ServeArgs {
    #[command(flatten)]
    pub zone: ZoneArgs,
    /// Address to serve on, UDP and TCP; repeat for several (IPv4 and IPv6)
    /// [default: 127.0.0.1:5353].
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Vec<SocketAddr>,
    /// UDP worker threads per address [default: one per core].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// EDNS UDP payload size ward advertises and sends up to [default: 1232].
    #[arg(long, value_name = "BYTES")]
    pub udp_payload: Option<u16>,
    /// Seconds between checks for changed files, for filesystems without change
    /// events (NFS, some container mounts); 0 turns it off [default: 2].
    #[arg(long, value_name = "SECONDS")]
    pub poll_interval: Option<u64>,
    /// Milliseconds files must be quiet before they are reloaded [default: 200].
    #[arg(long, value_name = "MS")]
    pub debounce: Option<u64>,
    /// Do not watch the zones directory for file events (polling and SIGHUP still
    /// reload).
    #[arg(long)]
    pub no_watch: bool,
    /// Open TCP connections at most; when full, the one idle longest is closed
    /// [default: half the descriptor limit after a reserve, at most 4096].
    #[arg(long, value_name = "N")]
    pub tcp_max_connections: Option<usize>,
    /// Seconds a TCP connection may stay idle (or take to send one query) [default: 10].
    #[arg(long, value_name = "SECONDS")]
    pub tcp_idle_timeout: Option<u64>,
    /// Log filter, e.g. `info` or `ward=debug` [default: info].
    #[arg(long, value_name = "FILTER")]
    pub log: Option<String>,
    /// Log format: `text`, or `json` (one object a line, for log shippers).
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Log one UDP query in this many (a sample, for debugging) [default: none].
    #[arg(long, value_name = "RATE")]
    pub query_log: Option<u32>,
    /// Serve Prometheus metrics (`/metrics`), `/healthz` and `/readyz` on this address
    /// [default: off].
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics: Option<SocketAddr>,
    /// After binding, run as this user (start as root to bind port 53).
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Seconds a stop waits for queries in progress [default: 5].
    #[arg(long, value_name = "SECONDS")]
    pub grace: Option<u64>,
    /// Response rate limiting: responses a second per client network and kind of
    /// response; 0 is off [default: off; more settings in ward.toml `[rrl]`].
    #[arg(long, value_name = "N")]
    pub rrl_rate: Option<u32>,
    /// Every Nth rate-limited response goes out empty with TC set [default: 2].
    #[arg(long, value_name = "N")]
    pub rrl_slip: Option<u32>,
    /// Only count and log what rate limiting would drop.
    #[arg(long)]
    pub rrl_log_only: bool,
    /// Serve the lookup page, bounce explainer and removal requests on this address
    /// (a bare port means 127.0.0.1) [default: off].
    #[arg(long, value_name = "ADDR:PORT", value_parser = listen_addr)]
    pub http: Option<SocketAddr>,
    /// Serve the admin API on this address (a bare port means 127.0.0.1); needs
    /// --admin-token-file [default: off].
    #[arg(long, value_name = "ADDR:PORT", value_parser = listen_addr)]
    pub admin: Option<SocketAddr>,
    /// File holding the admin API's bearer token (first line).
    #[arg(long, value_name = "FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// A reverse proxy (network) in front of --http/--admin whose X-Forwarded-For
    /// names the client; repeat for more [default: none].
    #[arg(long = "trusted-proxy", value_name = "NET")]
    pub trusted_proxies: Vec<IpNet>,
    #[command(flatten)]
    pub state: StateArgs,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct ProbeArgs {
    /// The name to ask [default: the RFC 5782 test point of the first zone in the
    /// zones directory].
    pub name: Option<String>,
    /// The server to ask.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:5353")]
    pub server: SocketAddr,
    /// Query type.
    #[arg(long, value_name = "TYPE", default_value = "A")]
    pub qtype: String,
    /// Seconds to wait for the answer.
    #[arg(long, value_name = "SECONDS", default_value_t = 2)]
    pub timeout: u64,
    #[command(flatten)]
    pub zone: ZoneArgs,
}

/// `ADDR:PORT`, or a bare port on 127.0.0.1: the web listeners stay on loopback unless
/// told otherwise.
fn listen_addr(text: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.parse()
        .map_err(|_| format!("expected ADDR:PORT (e.g. 127.0.0.1:8080) or a port, not `{text}`"))
}

#[derive(Debug, Clone, Args, Default)]
pub struct StateArgs {
    /// Directory for removal requests (SQLite) and the audit log [default: `state`
    /// beside the zones directory].
    #[arg(long = "state", value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct AddArgs {
    /// The zone (a directory under the zones directory).
    pub zone: String,
    /// What to list: an IP, CIDR or range, a domain, *.domain, local@domain or a digest.
    pub key: String,
    /// A reason name from reasons.conf.
    pub reason: String,
    /// When the listing stops answering (RFC 3339, or a date).
    #[arg(long, value_name = "TIME")]
    pub expires: Option<String>,
    /// A ticket number to keep with the entry.
    #[arg(long)]
    pub ticket: Option<String>,
    /// Who adds it [default: cli:$USER].
    #[arg(long)]
    pub by: Option<String>,
    /// List it even though it lists 127.0.0.1, ::1 or a whole address family.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub zone_args: ZoneArgs,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, Clone, Args)]
pub struct RemoveArgs {
    /// The zone (a directory under the zones directory).
    pub zone: String,
    /// The key as listed (the same IP, CIDR, name or address).
    pub key: String,
    /// Who removes it [default: cli:$USER].
    #[arg(long)]
    pub by: Option<String>,
    #[command(flatten)]
    pub zone_args: ZoneArgs,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, Clone, Args)]
pub struct RequestsArgs {
    #[command(subcommand)]
    pub action: Option<RequestsAction>,
    #[command(flatten)]
    pub zone_args: ZoneArgs,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, Clone, Subcommand)]
pub enum RequestsAction {
    /// List requests (the default: open ones).
    List {
        /// Which requests to list.
        #[arg(long, value_enum, default_value = "open")]
        show: StateFilter,
    },
    /// Accept a request: its listing is removed from the zone's api.zone.
    Accept {
        /// The request's number, as `ward requests` lists it.
        id: i64,
        /// The answer the requester sees.
        #[arg(long)]
        answer: Option<String>,
        /// Who decides [default: cli:$USER].
        #[arg(long)]
        by: Option<String>,
    },
    /// List the listings fail2ban made (the API's entries by=fail2ban).
    Fail2ban,
    /// List the listings their owners removed themselves from the lookup page.
    SelfRemovals,
    /// Reject a request, with an answer the requester sees.
    Reject {
        /// The request's number, as `ward requests` lists it.
        id: i64,
        /// The answer the requester sees (why the listing stays).
        #[arg(long)]
        answer: String,
        /// Who decides [default: cli:$USER].
        #[arg(long)]
        by: Option<String>,
    },
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub zone: ZoneArgs,
}

#[derive(Debug, Clone, Args)]
pub struct LookupArgs {
    /// An IPv4/IPv6 address, a domain, an email address, or a query name.
    pub query: String,
    /// Also ask the public lists of ward.toml's `[external."…"]` (through `[resolver]`).
    #[arg(long)]
    pub external: bool,
    #[command(flatten)]
    pub zone: ZoneArgs,
}
